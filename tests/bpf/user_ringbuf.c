/* User ring buffer consumer (issue 15): an XDP program run through
 * BPF_PROG_TEST_RUN drains `requests` with bpf_user_ringbuf_drain (6.1); the
 * callback stores each sample's first 8 bytes in got[n] (n = got[0] + 1,
 * got[0] the count so far; up to 63 samples). */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_USER_RINGBUF);
	__uint(max_entries, 4096);
} requests SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} got SEC(".maps");

static long take(struct bpf_dynptr *sample, void *ctx)
{
	__u32 zero = 0, at;
	__u64 value = 0, *count, *slot;

	if (bpf_dynptr_read(&value, sizeof(value), sample, 0, 0))
		return 1;
	count = bpf_map_lookup_elem(&got, &zero);
	if (!count)
		return 1;
	at = (__u32)(*count + 1);
	slot = bpf_map_lookup_elem(&got, &at);
	if (!slot)
		return 1;
	*slot = value;
	*count += 1;
	return 0;
}

SEC("xdp")
int drain(struct xdp_md *ctx)
{
	bpf_user_ringbuf_drain(&requests, take, NULL, 0);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
