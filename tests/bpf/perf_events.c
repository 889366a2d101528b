/* Perf buffer producer (issue 15): an XDP program run through
 * BPF_PROG_TEST_RUN sends numbered samples with bpf_perf_event_output on the
 * current CPU: {u64 seq; u8 fill[size - 8]}, size = 8 + seq % config[0]
 * (config[0] = 0: 8 bytes), fill bytes = seq. stats[0] is the next number,
 * stats[1] the samples the kernel refused. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
	__uint(max_entries, 64);
} samples SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} config SEC(".maps");

SEC("xdp")
int send(struct xdp_md *ctx)
{
	__u8 buf[256];
	__u32 zero = 0, one = 1;
	__u64 *next = bpf_map_lookup_elem(&stats, &zero);
	__u64 *mod = bpf_map_lookup_elem(&config, &zero);
	__u64 seq, size = 8, *bad;
	int i;

	if (!next || !mod)
		return XDP_PASS;
	seq = __sync_fetch_and_add(next, 1);
	*(__u64 *)buf = seq;
	for (i = 8; i < 256; i++)
		buf[i] = (__u8)seq;
	if (*mod)
		size = 8 + seq % *mod;
	if (size > 256)
		size = 256;
	if (bpf_perf_event_output(ctx, &samples, BPF_F_CURRENT_CPU, buf, size)) {
		bad = bpf_map_lookup_elem(&stats, &one);
		if (bad)
			__sync_fetch_and_add(bad, 1);
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
