/* A program built on libbpf's <bpf/usdt.bpf.h> (issue 19 items 4 and 5): it
 * needs the LINUX_HAS_BPF_COOKIE kconfig extern answered, and its
 * bpf_usdt_arg() is a global function of hidden visibility that must be
 * static in the BTF the kernel sees (checked as a global function, the
 * verifier refuses it: R3 invalid mem access 'mem_or_null'). */
#define __TARGET_ARCH_x86 /* struct pt_regs as x86_64 has it (the build machine) */
#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

__u64 sum = 0;

SEC("usdt")
int BPF_USDT(probe, long a, long b)
{
	sum += a + b;
	return 0;
}

/* A global function of default visibility stays global. */
__attribute__((noinline)) int visible(int x)
{
	return x + 1;
}

SEC("socket")
int uses_visible(void *ctx)
{
	return visible(41);
}

char LICENSE[] SEC("license") = "GPL";
