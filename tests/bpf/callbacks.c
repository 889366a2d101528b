/* Programs that pass a function as a callback (issue 19 item 1): clang leaves
 * the ld_imm64 of a function's address with src_reg 0 and a relocation
 * against .text; the loader marks it BPF_PSEUDO_FUNC and points it at the
 * function appended to the program. Run through BPF_PROG_TEST_RUN:
 *   loop:  out[0] = sum of 0..9 by bpf_loop (45); out[1] = the same doubled
 *          by a subprogram the callback calls (90)
 *   each:  out[2] = sum of the values of `vals` by bpf_for_each_map_elem
 *   timer: arms a timer whose callback adds 1 to out[3] */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} vals SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} out SEC(".maps");

struct elem {
	struct bpf_timer t;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct elem);
} timers SEC(".maps");

static void put(__u32 k, __u64 v)
{
	bpf_map_update_elem(&out, &k, &v, BPF_ANY);
}

static long add_index(__u32 i, void *ctx)
{
	*(__u64 *)ctx += i;
	return 0;
}

static __attribute__((noinline)) __u64 twice(__u64 x)
{
	return x * 2;
}

static long add_twice(__u32 i, void *ctx)
{
	*(__u64 *)ctx += twice(i);
	return 0;
}

static long add_value(void *map, __u32 *key, __u64 *value, void *ctx)
{
	*(__u64 *)ctx += *value;
	return 0;
}

static int fired(void *map, __u32 *key, struct elem *e)
{
	__u32 k = 3;
	__u64 *n = bpf_map_lookup_elem(&out, &k);

	if (n)
		__sync_fetch_and_add(n, 1);
	return 0;
}

SEC("xdp")
int loop(struct xdp_md *ctx)
{
	__u64 sum = 0;

	bpf_loop(10, add_index, &sum, 0);
	put(0, sum);
	sum = 0;
	bpf_loop(10, add_twice, &sum, 0);
	put(1, sum);
	return XDP_PASS;
}

SEC("xdp")
int each(struct xdp_md *ctx)
{
	__u64 sum = 0;

	bpf_for_each_map_elem(&vals, add_value, &sum, 0);
	put(2, sum);
	return XDP_PASS;
}

SEC("xdp")
int timer(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct elem *e = bpf_map_lookup_elem(&timers, &zero);

	if (!e)
		return XDP_ABORTED;
	bpf_timer_init(&e->t, &timers, 1 /* CLOCK_MONOTONIC */);
	bpf_timer_set_callback(&e->t, fired);
	bpf_timer_start(&e->t, 0, 0);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
