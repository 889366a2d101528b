/* HASH_OF_MAPS with an 8-byte key and declared slots: the slot index is
 * encoded in the map's key size (libbpf refuses this: libbpf issue 653). */
#include "common.h"

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, int);
	__type(value, int);
} a SEC(".maps"), b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 8);
	__type(key, __u64);
	__array(values, struct inner);
} wide_keys SEC(".maps") = {
	.values = { [1] = &a, [3] = &b },
};

SEC("xdp")
int probe(struct xdp_md *ctx)
{
	__u64 k = 3;
	return bpf_map_lookup_elem(&wide_keys, &k) ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
