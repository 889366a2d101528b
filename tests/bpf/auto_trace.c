/* Program.attach() by section name, tracing hooks that need no target: the
 * same getpgid calls of one process (its tgid in config[0]) counted through
 * tp/ (slot 0), tracepoint/ (slot 1), raw_tp/ (slot 2) and raw_tracepoint/
 * (slot 3, the syscall number in config[1]). */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
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

	if (!want || (bpf_get_current_pid_tgid() >> 32) != want)
		return;
	n = bpf_map_lookup_elem(&counts, &slot);
	if (n)
		__sync_fetch_and_add(n, 1);
}

SEC("tp/syscalls/sys_enter_getpgid")
int tp_short(void *ctx)
{
	count(0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getpgid")
int tp_long(void *ctx)
{
	count(1);
	return 0;
}

SEC("raw_tp/sys_enter")
int raw_short(struct bpf_raw_tracepoint_args *ctx)
{
	if (ctx->args[1] == setting(1))
		count(2);
	return 0;
}

SEC("raw_tracepoint/sys_enter")
int raw_long(struct bpf_raw_tracepoint_args *ctx)
{
	if (ctx->args[1] == setting(1))
		count(3);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
