/* USDT (tests/test_usdt.py): one program on libbpf's <bpf/usdt.bpf.h> records,
 * for every probe hit, the pid, bpf_usdt_cookie(), bpf_usdt_arg_cnt() and
 * every bpf_usdt_arg() value into the array `records` (slot = hit number,
 * `hits` counts them; later hits than the array holds are only counted). A
 * second program with the same body lets two links on one probe be told apart
 * from the tests' point of view only by their cookies. */
#define __TARGET_ARCH_x86 /* struct pt_regs as x86_64 has it */
#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

#define MAX_RECORDS 64

struct record {
	__u32 pid;
	__s32 arg_cnt;
	__u64 cookie;
	__s64 args[BPF_USDT_MAX_ARG_CNT];
	__s32 errs[BPF_USDT_MAX_ARG_CNT];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_RECORDS);
	__type(key, __u32);
	__type(value, struct record);
} records SEC(".maps");

__u32 hits = 0;

static __always_inline int record(struct pt_regs *ctx)
{
	__u32 slot = hits++; /* the tests fire probes from one thread at a time */
	struct record *r;
	long v;

	if (slot >= MAX_RECORDS)
		return 0;
	r = bpf_map_lookup_elem(&records, &slot);
	if (!r)
		return 0;
	r->pid = bpf_get_current_pid_tgid() >> 32;
	r->arg_cnt = bpf_usdt_arg_cnt(ctx);
	r->cookie = bpf_usdt_cookie(ctx);
#pragma unroll
	for (int i = 0; i < BPF_USDT_MAX_ARG_CNT; i++) {
		r->errs[i] = bpf_usdt_arg(ctx, i, &v);
		r->args[i] = v;
	}
	return 0;
}

SEC("usdt")
int rec(struct pt_regs *ctx)
{
	return record(ctx);
}

SEC("usdt")
int rec2(struct pt_regs *ctx)
{
	return record(ctx);
}

char LICENSE[] SEC("license") = "GPL";
