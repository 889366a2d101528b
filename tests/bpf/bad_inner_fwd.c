/* clang 14 emits an inner map's value struct as a BTF forward declaration
 * when only __array(values, ...) uses it: the parser says so and how to fix
 * it (the type is declared, not defined), naming the outer map. */
#include "common.h"

struct backend {
	__u32 ip;
	__u16 port;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 8);
	__type(key, __u32);
	__array(values, struct {
		__uint(type, BPF_MAP_TYPE_ARRAY);
		__uint(max_entries, 4);
		__type(key, __u32);
		__type(value, struct backend);
	});
} vips SEC(".maps");

char LICENSE[] SEC("license") = "GPL";
