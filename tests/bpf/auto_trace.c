/* Program.attach() by section name, tracing hooks that need no target: the
 * same getpgid calls of one process (its tgid in config[0]) counted through
 * tp/ (slot 0), tracepoint/ (slot 1), raw_tp/ (slot 2) and raw_tracepoint/
 * (slot 3, the syscall number in config[1]). */
#define COUNT_SLOTS 4
#include "tgid_count.h"

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
