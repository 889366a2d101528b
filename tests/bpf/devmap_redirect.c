/* The kernel document's array of devmaps: an XDP program redirects through
 * the devmap it finds in slot 0 of outer_map (XDP_PASS when the devmap has no
 * device at key 0, XDP_REDIRECT when it has one). */
#include "common.h"

struct inner_map {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 10);
	__type(key, __u32);
	__type(value, __u32);
} inner_map1 SEC(".maps"), inner_map2 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner_map);
} outer_map SEC(".maps") = {
	.values = { &inner_map1, &inner_map2 },
};

SEC("xdp")
int redirect_by_priority(struct xdp_md *ctx)
{
	struct bpf_map *devmap;
	int index = 0;

	devmap = bpf_map_lookup_elem(&outer_map, &index);
	if (!devmap)
		return XDP_PASS;
	return bpf_redirect_map(devmap, 0, XDP_PASS);
}

char LICENSE[] SEC("license") = "GPL";
