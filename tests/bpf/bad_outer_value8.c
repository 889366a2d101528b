/* Rejected: an outer map with value_size 8 (the kernel's value is a u32 id/fd). */
#include "common.h"
struct inner { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, int); __type(value, int); };
struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, int);
	__uint(value_size, 8);
	__array(values, struct inner);
} bad SEC(".maps");
char LICENSE[] SEC("license") = "GPL";
