/* A PERF_EVENT_ARRAY declared without max_entries (the libbpf idiom): the
 * loader sizes it to the number of possible CPUs. The program returns the
 * negated result of an output on the current CPU's slot: ENOENT (2) while no
 * perf event is set there, E2BIG (7) if the slot were past max_entries. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

SEC("xdp")
int emit(struct xdp_md *ctx)
{
	__u64 sample = 1;

	return -bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &sample, sizeof(sample));
}

char LICENSE[] SEC("license") = "GPL";
