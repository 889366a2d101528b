/* A map whose value type holds more values than its bytes: an array of
 * 100000 empty structs before a counter (4 bytes in all). The dump decoder
 * refuses to walk it ("type holds too many values"), so dumps fall back to
 * hex, as bpftool does for a map without BTF. */
#include "common.h"

struct empty {};

struct many {
	struct empty none[100000];
	__u32 count;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct many);
} many SEC(".maps");

SEC("xdp")
int bump(struct xdp_md *ctx)
{
	__u32 key = 1;
	struct many *v = bpf_map_lookup_elem(&many, &key);

	if (v)
		v->count += 1;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
