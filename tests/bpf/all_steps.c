/* Every step of a Collection load in one object, for failure injection:
 * BTF (func_info of a subprogram), global data (.data, .rodata frozen), three
 * maps pinned by name (one will already be pinned and is reused), an inner
 * map, an outer map and a PROG_ARRAY with declared slots, two programs. */
#include "common.h"

int hits = 1;                    /* .data */
const volatile int weight = 5;   /* .rodata */

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} steps_inner SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} steps_reused SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} steps_new SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} steps_new2 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner);
} steps_outer SEC(".maps") = {
	.values = { [1] = &steps_inner },
};

SEC("xdp")
int steps_target(struct xdp_md *ctx)
{
	return 9;
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__uint(key_size, sizeof(__u32));
	__array(values, int (void *));
} steps_jumps SEC(".maps") = {
	.values = { [0] = (void *)&steps_target },
};

static __attribute__((noinline)) int weigh(int x)
{
	return x * weight + hits;
}

SEC("xdp")
int steps_entry(struct xdp_md *ctx)
{
	__u32 k = 1, z = 0;
	__u64 *seen = bpf_map_lookup_elem(&steps_reused, &z);
	void *inner = bpf_map_lookup_elem(&steps_outer, &k);

	if (seen)
		bpf_map_update_elem(&steps_new, &z, seen, 0);
	if (bpf_map_lookup_elem(&steps_new2, &z))
		hits++;
	if (!inner)
		return 1;
	bpf_tail_call(ctx, &steps_jumps, 0);
	return weigh(2);
}

char LICENSE[] SEC("license") = "GPL";
