/* The legacy form: `struct bpf_map_def` in SEC("maps"). It has no way to say
 * what the inner maps of `outer` look like: user space gives the inner map
 * before load. The program returns inner[0] of outer[1], or 0. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct bpf_map_def {   /* libbpf 1.x removed it from bpf_helpers.h */
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct bpf_map_def SEC("maps") outer = {
	.type = BPF_MAP_TYPE_HASH_OF_MAPS,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u32),
	.max_entries = 8,
};

SEC("xdp")
int read_legacy(struct xdp_md *ctx)
{
	__u32 key = 1, zero = 0;
	__u32 *inner, *val;

	inner = bpf_map_lookup_elem(&outer, &key);
	if (!inner)
		return 0;
	val = bpf_map_lookup_elem(inner, &zero);
	return val ? *val : 0;
}

char LICENSE[] SEC("license") = "GPL";
