/* Rejected: an inner map definition that asks to be pinned. */
#include "common.h"
struct inner { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, int); __type(value, int); __uint(pinning, LIBBPF_PIN_BY_NAME); };
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, int);
	__array(values, struct inner);
} bad SEC(".maps");
char LICENSE[] SEC("license") = "GPL";
