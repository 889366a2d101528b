/* An atomic config swap: the program returns config[0] of the inner map in
 * slot 0 of `configs`; user space replaces the inner map and the result
 * changes (old or new, never half). */
#include "common.h"

struct config {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct config);
} configs SEC(".maps");

SEC("xdp")
int read_config(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u32 *val;
	void *inner = bpf_map_lookup_elem(&configs, &zero);

	if (!inner)
		return 1000;
	val = bpf_map_lookup_elem(inner, &zero);
	return val ? *val : 1001;
}

char LICENSE[] SEC("license") = "GPL";
