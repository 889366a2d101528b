/* Programs the verifier rejects: a BPF program may only look up in an outer
 * map (update and delete on it: EINVAL, the log names the helper). */
#include "common.h"

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} spare SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct inner);
} outer SEC(".maps");

SEC("xdp")
int update_outer(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u32 fd = 0;

	bpf_map_update_elem(&outer, &key, &fd, 0);
	return XDP_PASS;
}

SEC("xdp")
int delete_outer(struct xdp_md *ctx)
{
	__u32 key = 0;

	bpf_map_delete_elem(&outer, &key);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
