/* Tracing hooks: count the calls of one process (its tgid in config[0]; 0
 * counts every process) on a tracepoint (syscalls/sys_enter_getpgid, slot 0),
 * a raw tracepoint (sys_enter for the syscall number in config[1], slot 1) and
 * an uprobe (slot 2). */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
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

SEC("tracepoint/syscalls/sys_enter_getpgid")
int tp_getpgid(void *ctx)
{
	count(0);
	return 0;
}

SEC("raw_tp/sys_enter")
int raw_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	if (ctx->args[1] == setting(1))
		count(1);
	return 0;
}

SEC("uprobe")
int uprobe_hit(void *ctx)
{
	count(2);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
