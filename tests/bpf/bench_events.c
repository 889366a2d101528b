/* Event throughput producers for benchmarks/run.py (ringbuf_read,
 * perfbuf_read; issue 15): each XDP run through BPF_PROG_TEST_RUN writes one
 * 64-byte record into the 16 MiB ring buffer `ring` (fill_ring) or one
 * 64-byte sample into the perf buffer `perf` on the current CPU (fill_perf). */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
	__uint(max_entries, 64);
} perf SEC(".maps");

SEC("xdp")
int fill_ring(struct xdp_md *ctx)
{
	__u64 rec[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

	bpf_ringbuf_output(&ring, rec, sizeof(rec), 0);
	return XDP_PASS;
}

SEC("xdp")
int fill_perf(struct xdp_md *ctx)
{
	__u64 rec[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

	bpf_perf_event_output(ctx, &perf, BPF_F_CURRENT_CPU, rec, sizeof(rec));
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
