/* samples/bpf's struct bpf_map_def with inner_map_idx: the outer map's
 * template is the definition at that index (in offset order) of section
 * "maps". The program returns inner[0] of outer[key 1], 0 if none. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct bpf_map_def_samples {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
	unsigned int inner_map_idx;
	unsigned int numa_node;
};

struct bpf_map_def_samples SEC("maps") counters = {	/* index 0 */
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 4,
};

struct bpf_map_def_samples SEC("maps") inner_def = {	/* index 1 */
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u32),
	.max_entries = 1,
};

struct bpf_map_def_samples SEC("maps") outer = {
	.type = BPF_MAP_TYPE_HASH_OF_MAPS,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u32),
	.max_entries = 8,
	.inner_map_idx = 1,
};

SEC("xdp")
int read_outer(struct xdp_md *ctx)
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
