/* Two maps whose pin names collide: the global data map ".bss" and a map
 * named "_bss" (bpffs refuses dots, so ".bss" is pinned as "_bss" too). */
#include "common.h"

__u32 hits;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} _bss SEC(".maps");

SEC("xdp")
int count(struct xdp_md *ctx)
{
	__u32 k = 0;

	hits++;
	return bpf_map_lookup_elem(&_bss, &k) ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
