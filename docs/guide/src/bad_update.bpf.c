/* A program the verifier rejects: it tries to update an outer map. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct inner);
} outer SEC(".maps");

SEC("xdp")
int update_outer(struct xdp_md *ctx)
{
	__u32 key = 0, fd = 0;

	bpf_map_update_elem(&outer, &key, &fd, 0);   /* refused: only lookups */
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
