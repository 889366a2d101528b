/* libbpf's "BTF-defined map-in-map" example: declarative slots.
 * outer_arr has inner_map2 at slot 0, a hole at slot 1, inner_map1 at slot 2;
 * outer_hash has keys 0 and 4. The program writes `input` through outer_arr
 * slot 0 and `input + 1` through outer_hash key 0. */
#include "common.h"

struct inner_map {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, int);
	__type(value, int);
} inner_map1 SEC(".maps"), inner_map2 SEC(".maps");

struct outer_arr {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 3);
	__uint(key_size, sizeof(int));
	__uint(value_size, sizeof(int));
	__array(values, struct inner_map);
} outer_arr SEC(".maps") = {
	.values = { [0] = &inner_map2, [2] = &inner_map1 },
};

struct outer_hash {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 5);
	__type(key, int);
	__array(values, struct inner_map);
} outer_hash SEC(".maps") = {
	.values = { [0] = &inner_map2, [4] = &inner_map1 },
};

int input = 0;

SEC("xdp")
int write_through(struct xdp_md *ctx)
{
	struct inner_map *inner;
	int key = 0, val;

	inner = bpf_map_lookup_elem(&outer_arr, &key);
	if (!inner)
		return 1;
	val = input;
	bpf_map_update_elem(inner, &key, &val, 0);

	inner = bpf_map_lookup_elem(&outer_hash, &key);
	if (!inner)
		return 1;
	val = input + 1;
	bpf_map_update_elem(inner, &key, &val, 0);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
