/* More declared slots than max_entries: a HASH_OF_MAPS of max_entries 1 with
 * .values = {[0] = &a, [7] = &a} (the kernel would refuse the second with
 * E2BIG at load): a ParseError. */
#include "common.h"

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} a SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct inner);
} bad SEC(".maps") = {
	.values = { [0] = &a, [7] = &a },
};

char LICENSE[] SEC("license") = "GPL";
