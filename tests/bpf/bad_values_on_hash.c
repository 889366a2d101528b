/* Rejected: `values` of maps on a HASH, which is neither outer nor PROG_ARRAY. */
#include "common.h"
struct inner { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, int); __type(value, int); } in1 SEC(".maps");
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2);
	__type(key, int);
	__uint(value_size, 4);
	__array(values, struct inner);
} bad SEC(".maps");
char LICENSE[] SEC("license") = "GPL";
