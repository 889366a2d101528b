/* USDT with a __bpf_usdt_specs map of 2 slots (BPF_USDT_MAX_SPEC_CNT): the
 * tests fill it, see the next attach refused with E2BIG (nothing attached),
 * and reuse the slots once a link is closed. Counts hits and sums cookies. */
#define __TARGET_ARCH_x86 /* struct pt_regs as x86_64 has it */
#define BPF_USDT_MAX_SPEC_CNT 2
#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

__u64 hits = 0;
__u64 cookies = 0;

SEC("usdt")
int small(struct pt_regs *ctx)
{
	hits++;
	cookies += bpf_usdt_cookie(ctx);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
