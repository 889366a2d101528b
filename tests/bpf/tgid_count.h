/* Counters of one process's events, shared by the tracing test programs:
 * count(slot) adds one to counts[slot] (u64) when the current process's tgid
 * is config[0] (0: every process); setting(slot) reads config[slot] (config[1]
 * is a syscall number). Define COUNT_SLOTS (the number of counters) first. */
#ifndef BPFNEST_TEST_TGID_COUNT_H
#define BPFNEST_TEST_TGID_COUNT_H
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, COUNT_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} config SEC(".maps");

static __always_inline __u64 setting(__u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(&config, &slot);

	return v ? *v : 0;
}

static __always_inline void count(__u32 slot)
{
	__u64 want = setting(0);
	__u64 *n;

	if (want && (bpf_get_current_pid_tgid() >> 32) != want)
		return;
	n = bpf_map_lookup_elem(&counts, &slot);
	if (n)
		__sync_fetch_and_add(n, 1);
}
#endif
