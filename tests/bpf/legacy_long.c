/* Legacy map definitions of the longer form (7 fields: inner_map_idx and
 * numa_node after map_flags, as iproute2 and old libbpf wrote them). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct bpf_map_def_long {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
	unsigned int inner_map_idx;
	unsigned int numa_node;
};

struct bpf_map_def_long SEC("maps") long_hash = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = 8,
	.value_size = 16,
	.max_entries = 32,
	.map_flags = BPF_F_NO_PREALLOC,
};

struct bpf_map_def_long SEC("maps") long_array = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = 4,
	.value_size = 4,
	.max_entries = 2,
};

SEC("socket")
int touch(void *ctx)
{
	__u32 k = 0;
	__u32 *v = bpf_map_lookup_elem(&long_array, &k);
	return v ? *v : 0;
}

char LICENSE[] SEC("license") = "GPL";
