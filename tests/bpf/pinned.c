/* Maps pinned by name (LIBBPF_PIN_BY_NAME), an outer one among them. */
#include "common.h"

struct inner {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u32);
} pinned_inner SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pinned_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct inner);
} pinned_outer SEC(".maps") = {
	.values = { [2] = &pinned_inner },
};

SEC("xdp")
int count(struct xdp_md *ctx)
{
	__u32 k = 0;
	__u64 one = 1;
	bpf_map_update_elem(&pinned_stats, &k, &one, 0);
	return bpf_map_lookup_elem(&pinned_outer, &k) ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
