/* The map-in-map CRUD walk-through with legacy SEC("maps") definitions:
 * outer_hash is a HASH_OF_MAPS with no inner definition (the user gives one
 * before load); the program returns inner[0] of outer_hash[key 1], 0 if none. */
#include "common.h"

struct bpf_map_def SEC("maps") outer_hash = {
	.type = BPF_MAP_TYPE_HASH_OF_MAPS,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u32),
	.max_entries = 8,
};

struct bpf_map_def SEC("maps") counters = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 4,
	.map_flags = 0,
};

SEC("xdp")
int read_legacy(struct xdp_md *ctx)
{
	__u32 key = 1, zero = 0;
	__u32 *inner, *val;
	__u64 *count;

	count = bpf_map_lookup_elem(&counters, &zero);
	if (count)
		__sync_fetch_and_add(count, 1);
	inner = bpf_map_lookup_elem(&outer_hash, &key);
	if (!inner)
		return 0;
	val = bpf_map_lookup_elem(inner, &zero);
	return val ? *val : 0;
}

char LICENSE[] SEC("license") = "GPL";
