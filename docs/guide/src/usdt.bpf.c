/* The guide's USDT programs (docs/guide/usdt.md), on CPython's probes.
 * on_entry: SEC("usdt"), attached with Program.attach_usdt; counts calls by
 * function name, and remembers the cookie of the link that fired.
 * on_return: its section names the probe, for Program.attach(). */
#define __TARGET_ARCH_x86 /* struct pt_regs of x86_64 */
#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

struct func {
	char name[32];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct func);
	__type(value, __u64);
} calls SEC(".maps");

__u64 last_cookie = 0;
__u64 returns = 0;
__s64 last_line = 0;

SEC("usdt")
int BPF_USDT(on_entry, const char *file, const char *func, int line)
{
	struct func key = {};
	__u64 one = 1, *n;

	bpf_probe_read_user_str(key.name, sizeof(key.name), func);
	n = bpf_map_lookup_elem(&calls, &key);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&calls, &key, &one, BPF_NOEXIST);
	last_cookie = bpf_usdt_cookie(ctx);
	last_line = line;
	return 0;
}

SEC("usdt//usr/bin/python3.11:python:function__return")
int on_return(struct pt_regs *ctx)
{
	__sync_fetch_and_add(&returns, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
