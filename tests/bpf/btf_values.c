/* A map whose key and value carry BTF, for decoded dumps: a struct value with
 * a bitfield, a char array and an enum. */
#include "common.h"

enum color { RED = 1, GREEN = 2 };

struct value {
	__u32 count;
	__u16 low : 4, high : 12;
	char label[6];
	enum color color;
	__s64 delta;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, struct value);
} stats SEC(".maps");

SEC("xdp")
int fill(struct xdp_md *ctx)
{
	__u32 key = 7;
	struct value v = { .count = 3, .low = 5, .high = 1000, .label = "hi", .color = GREEN,
			   .delta = -2 };

	bpf_map_update_elem(&stats, &key, &v, 0);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
