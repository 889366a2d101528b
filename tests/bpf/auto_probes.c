/* Program.attach() by section name for the probe and BTF hooks: kprobe/FUNC,
 * kretprobe/FUNC, ksyscall/NAME, kretsyscall/NAME (this machine: no kprobes, so the clear
 * NotSupportedError), uprobe/PATH:FUNC and uretprobe/PATH:FUNC on libc's
 * getpid (slots 0 and 1), tp_btf/sys_enter (slot 2, the syscall number in
 * config[1]) and iter/task (one line per task). */
#define COUNT_SLOTS 5
#include "tgid_count.h"
#include <bpf/bpf_tracing.h>

SEC("kprobe/do_sys_openat2")
int kp(void *ctx)
{
	count(3);
	return 0;
}

SEC("kretprobe/do_sys_openat2")
int krp(void *ctx)
{
	count(3);
	return 0;
}

SEC("ksyscall/getpgid")
int ksys(void *ctx)
{
	count(4);
	return 0;
}

SEC("kretsyscall/getpgid")
int kretsys(void *ctx)
{
	count(4);
	return 0;
}

SEC("uprobe/libc.so.6:getpid")
int up(void *ctx)
{
	count(0);
	return 0;
}

SEC("uretprobe/libc.so.6:getpid")
int urp(void *ctx)
{
	count(1);
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(btf_enter, void *regs, long id)
{
	if (id == setting(1))
		count(2);
	return 0;
}

#include "iter_ctx.h"

SEC("iter/task")
int tasks(struct bpf_iter__task *ctx)
{
	static const char line[] = "task\n";

	if (ctx->task)
		bpf_seq_write(ctx->meta->seq, line, sizeof(line) - 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
