/* A declared slot whose inner map does not match the template: the inner
 * definition says value int, `wide` has an 8-byte value. Loading must fail
 * naming outer, slot 1 and wide. */
#include "common.h"

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, int);
	__type(value, int);
} narrow SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, int);
	__type(value, __u64);
} wide SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, int);
	__array(values, struct inner);
} outer SEC(".maps") = {
	.values = { [0] = &narrow, [1] = (void *)&wide },
};

SEC("xdp")
int noop(struct xdp_md *ctx)
{
	int k = 0;
	return bpf_map_lookup_elem(&outer, &k) ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
