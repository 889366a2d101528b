/* Ring buffers as inner maps (issue 15): an ARRAY_OF_MAPS holding two
 * RINGBUFs; an XDP program run through BPF_PROG_TEST_RUN writes record n
 * (an u64, n counting from 0 in stats[0]) into the ring at slot n % 2. */
#include "common.h"

struct ring {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} ring0 SEC(".maps"), ring1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct ring);
} rings SEC(".maps") = {
	.values = { [0] = &ring0, [1] = &ring1 },
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

SEC("xdp")
int spread(struct xdp_md *ctx)
{
	__u32 zero = 0, at;
	__u64 *next = bpf_map_lookup_elem(&stats, &zero), seq;
	void *ring;

	if (!next)
		return XDP_PASS;
	seq = __sync_fetch_and_add(next, 1);
	at = seq % 2;
	ring = bpf_map_lookup_elem(&rings, &at);
	if (ring)
		bpf_ringbuf_output(ring, &seq, sizeof(seq), 0);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
