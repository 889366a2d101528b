/* Rejected: an outer map whose inner definition is itself an outer map. */
#include "common.h"
struct leaf { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, int); __type(value, int); };
struct middle { __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS); __uint(max_entries, 1); __type(key, int); __array(values, struct leaf); };
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, int);
	__array(values, struct middle);
} bad SEC(".maps");
char LICENSE[] SEC("license") = "GPL";
