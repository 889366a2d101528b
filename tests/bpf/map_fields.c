/* Every __uint() field of a BTF map definition: map_flags, numa_node,
 * map_extra (a BLOOM_FILTER's number of hashes), key_size/value_size. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_BLOOM_FILTER);
	__uint(max_entries, 64);
	__uint(value_size, 4);
	__uint(map_extra, 5);
} bloom SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(numa_node, 0);
	__uint(key_size, 8);
	__type(value, __u64);
} sized SEC(".maps");

SEC("socket")
int check(void *ctx)
{
	__u32 v = 1;
	return bpf_map_peek_elem(&bloom, &v) == 0;
}

char LICENSE[] SEC("license") = "GPL";
