/* Optional programs (issue 19 item 2): `maybe` is in SEC("?xdp") and is not
 * loaded unless its autoload is switched on; `always` is; `untyped` is in a
 * section that names no program type and loads once its type is set. The map
 * `only_maybe` is used by `maybe` alone and is created all the same. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} only_maybe SEC(".maps");

SEC("?xdp")
int maybe(struct xdp_md *ctx)
{
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&only_maybe, &k);

	if (v)
		*v += 1;
	return XDP_DROP;
}

SEC("xdp")
int always(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("?no_such_type")
int untyped(struct xdp_md *ctx)
{
	return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";
