/* Two ways to count this process's getpgid() calls: an fentry program (the
 * cheapest hook, where the kernel allows it) and a raw tracepoint twin. Both
 * are optional ("?"): user space switches on the one the kernel takes. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

const volatile __u32 target_pid = 0; /* set before load */
__u64 calls = 0;

static void count(void)
{
	if (bpf_get_current_pid_tgid() >> 32 == target_pid)
		__sync_fetch_and_add(&calls, 1);
}

SEC("?fentry/__x64_sys_getpgid")
int by_fentry(void *ctx)
{
	count();
	return 0;
}

struct raw_args {
	unsigned long long regs, id; /* sys_enter(struct pt_regs *regs, long id) */
};

SEC("?raw_tp/sys_enter")
int by_raw_tp(struct raw_args *ctx)
{
	if (ctx->id == 121) /* __NR_getpgid on x86_64 */
		count();
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
