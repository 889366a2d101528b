/* Declarative map-in-map: an ARRAY_OF_MAPS whose slots are filled at load.
 * Slot 0 holds `v4`, slot 1 is empty, slot 2 holds `v6`. The program reads
 * `table` (a global) to pick a slot and returns the value at key 0 of the
 * inner map there, or 255 when the slot is empty. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct route_table {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} v4 SEC(".maps"), v6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 3);
	__type(key, __u32);
	__array(values, struct route_table);   /* the inner map template */
} routes SEC(".maps") = {
	.values = { [0] = &v4, [2] = &v6 },     /* declared slots */
};

__u32 table = 0;   /* .bss/.data: set from user space before or after load */

SEC("xdp")
int pick_route(struct xdp_md *ctx)
{
	__u32 key = 0, slot = table;
	void *inner = bpf_map_lookup_elem(&routes, &slot);
	__u32 *next_hop;

	if (!inner)
		return 255;
	next_hop = bpf_map_lookup_elem(inner, &key);
	return next_hop ? *next_hop : 254;
}

char LICENSE[] SEC("license") = "GPL";
