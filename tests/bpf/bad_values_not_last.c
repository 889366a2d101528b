/* Rejected: `values` is not the last field of the outer map's definition. */
#include "common.h"
struct inner { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, int); __type(value, int); } in1 SEC(".maps");
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	struct inner *values[1];  /* __array() cannot be written before another field */
	__uint(max_entries, 2);
	__type(key, int);
} bad SEC(".maps");
char LICENSE[] SEC("license") = "GPL";
