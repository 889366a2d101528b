/* Declarative map-in-map, in the style of libbpf's selftest
 * (tools/testing/selftests/bpf/progs/test_btf_map_in_map.c): the outer maps
 * name their inner map type with __array(values, ...) and fill slots with
 * .values = { [i] = &map }; the loader puts the maps in at load time.
 *
 *   outer_arr  (ARRAY_OF_MAPS): slot 0 -> inner_map1, slot 1 empty, slot 2 -> inner_map2
 *   outer_hash (HASH_OF_MAPS):  key 0 -> inner_map2, key 4 -> inner_map1
 *
 * Both programs return the value at key 0 of the inner map found under
 * `key` (a global), or NO_SLOT when there is no inner map there. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define NO_SLOT 255

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
	__array(values, struct inner_map);      /* the template */
} outer_arr SEC(".maps") = {
	.values = { [0] = &inner_map1, [2] = &inner_map2 },
};

struct outer_hash {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 5);
	__type(key, int);                        /* value: an inner map, implied */
	__array(values, struct inner_map);
} outer_hash SEC(".maps") = {
	.values = { [0] = &inner_map2, [4] = &inner_map1 },   /* keys 0 and 4 */
};

int key = 0;   /* .bss: which slot (outer_arr) or key (outer_hash) to read */

static __always_inline int read_through(void *outer)
{
	int zero = 0, k = key;
	int *val;
	void *inner = bpf_map_lookup_elem(outer, &k);

	if (!inner)
		return NO_SLOT;
	val = bpf_map_lookup_elem(inner, &zero);
	return val ? *val : NO_SLOT;
}

SEC("xdp")
int read_arr(struct xdp_md *ctx)
{
	return read_through(&outer_arr);
}

SEC("xdp")
int read_hash(struct xdp_md *ctx)
{
	return read_through(&outer_hash);
}

char LICENSE[] SEC("license") = "GPL";
