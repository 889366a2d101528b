/* USDT on CPython's python:function__entry (tests/test_usdt.py): counts the
 * calls by function name (the probe's second argument, a C string in the
 * traced process) in `calls`; `auto_entry` is the same program in a
 * usdt/PATH:PROVIDER:NAME section for Program.attach(), and adds the link's
 * cookie to `cookie_sum`. */
#define __TARGET_ARCH_x86 /* struct pt_regs as x86_64 has it */
#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

struct name {
	char s[48];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct name);
	__type(value, __u64);
} calls SEC(".maps");

__u64 cookie_sum = 0;

static __always_inline int count(const char *func)
{
	struct name key = {};
	__u64 one = 1, *n;

	bpf_probe_read_user_str(key.s, sizeof(key.s), func);
	n = bpf_map_lookup_elem(&calls, &key);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&calls, &key, &one, BPF_NOEXIST);
	return 0;
}

SEC("usdt")
int BPF_USDT(entry, const char *file, const char *func, int line)
{
	return count(func);
}

SEC("usdt//usr/bin/python3.11:python:function__entry")
int BPF_USDT(auto_entry, const char *file, const char *func, int line)
{
	cookie_sum += bpf_usdt_cookie(ctx);
	return count(func);
}

char LICENSE[] SEC("license") = "GPL";
