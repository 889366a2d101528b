/* A declared slot its map cannot hold: a HASH_OF_MAPS with 1-byte keys and
 * .values = {[300] = &m} (the key 300 does not fit a byte): a ParseError. */
#include "common.h"

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} m SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u8);
	__array(values, struct inner);
} bad SEC(".maps") = {
	.values = { [300] = &m },
};

char LICENSE[] SEC("license") = "GPL";
