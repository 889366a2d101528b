/* Tracing hooks: count the calls of one process (its tgid in config[0]; 0
 * counts every process) on a tracepoint (syscalls/sys_enter_getpgid, slot 0),
 * a raw tracepoint (sys_enter for the syscall number in config[1], slot 1) and
 * an uprobe (slot 2). */
#define COUNT_SLOTS 3
#include "tgid_count.h"

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
