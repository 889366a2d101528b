/* kprobes, uprobes and uretprobes through Program.attach_kprobe/attach_uprobe
 * (tests/test_links_probes.py). Each program counts the hits of one process
 * (its tgid in config[0]; 0 counts every process):
 *   counts[0] uprobe entries, counts[1] uretprobe returns, counts[2] the sum of
 *   the return values the uretprobe saw, counts[3] kprobe hits,
 *   counts[4] kretprobe hits.
 * config[1] is the index, in 8-byte words of struct pt_regs, of the register
 * that holds a function's return value (set by the test for its machine). */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 5);
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

static __always_inline int mine(void)
{
	__u64 want = setting(0);

	return !want || (bpf_get_current_pid_tgid() >> 32) == want;
}

static __always_inline void add(__u32 slot, __u64 value)
{
	__u64 *n = bpf_map_lookup_elem(&counts, &slot);

	if (n)
		__sync_fetch_and_add(n, value);
}

SEC("uprobe")
int on_entry(void *ctx)
{
	if (mine())
		add(0, 1);
	return 0;
}

SEC("uretprobe")
int on_return(void *ctx)
{
	__u64 rc = 0;
	__u64 at = setting(1); /* x86_64: ax (10); arm64: x0 (0); riscv64: a0 (10) */

	if (!mine() || at >= 32)
		return 0;
	bpf_probe_read_kernel(&rc, sizeof(rc), (__u64 *)ctx + at);
	add(1, 1);
	add(2, (__u32)rc);
	return 0;
}

SEC("kprobe/do_sys_openat2")
int on_kprobe(void *ctx)
{
	if (mine())
		add(3, 1);
	return 0;
}

SEC("kretprobe/do_sys_openat2")
int on_kretprobe(void *ctx)
{
	if (mine())
		add(4, 1);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
