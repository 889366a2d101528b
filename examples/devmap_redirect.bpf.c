/* The kernel documentation's array of devmaps (Documentation/bpf/map_of_maps.rst):
 * an XDP program redirects through the DEVMAP it finds in a slot of
 * outer_map. Slot 0 holds the high-priority devmap, slot 1 the low-priority
 * one; user space picks the slot with the global `priority`.
 *
 * bpf_redirect_map() returns XDP_REDIRECT when the devmap has a device at
 * key 0, and its fallback (the flags argument, here XDP_PASS) when not. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct inner_map {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 10);
	__type(key, __u32);
	__type(value, __u32);   /* an ifindex */
} inner_map1 SEC(".maps"), inner_map2 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner_map);   /* the template: a DEVMAP like inner_map1 */
} outer_map SEC(".maps") = {
	.values = { &inner_map1, &inner_map2 },   /* slots 0 and 1, filled at load */
};

__u32 priority = 0;   /* .bss: which slot of outer_map to use */

SEC("xdp")
int redirect_by_priority(struct xdp_md *ctx)
{
	struct bpf_map *devmap;
	__u32 index = priority;

	devmap = bpf_map_lookup_elem(&outer_map, &index);
	if (!devmap)
		return XDP_PASS;
	return bpf_redirect_map(devmap, 0, XDP_PASS);
}

char LICENSE[] SEC("license") = "GPL";
