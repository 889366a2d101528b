/* Event maps declared as cilium/ebpf accepts them (issue 19 item 6): a
 * RINGBUF and a USER_RINGBUF with a __type(value) and a PERF_EVENT_ARRAY with
 * __type(key)/__type(value) and no max_entries. The types document the
 * record; the kernel takes none (ring buffers) or 4-byte ones (perf). */
#include "common.h"

struct event {
	__u64 seq;
	__u32 tag;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
	__type(value, struct event);
} ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_USER_RINGBUF);
	__uint(max_entries, 4096);
	__type(key, int);
	__type(value, struct event);
} requests SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__type(key, int);
	__type(value, struct event);
} perf SEC(".maps");

SEC("xdp")
int report(struct xdp_md *ctx)
{
	struct event e = { 7, 9 };

	bpf_ringbuf_output(&ring, &e, sizeof(e), 0);
	bpf_perf_event_output(ctx, &perf, BPF_F_CURRENT_CPU, &e, sizeof(e));
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
