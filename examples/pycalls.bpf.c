/* Count a Python process's function calls by name, through CPython's USDT
 * probe python:function__entry (examples/pycalls.py).
 *
 * The probe's arguments: the code's file name, the function's name (C
 * strings in the traced process) and the line number. BPF_USDT and
 * bpf_usdt_arg come from libbpf's <bpf/usdt.bpf.h>, unchanged: bpfnest fills
 * the __bpf_usdt_specs map it reads when the program is attached. */
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

/* function name -> calls */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct func);
	__type(value, __u64);
} calls SEC(".maps");

SEC("usdt")
int BPF_USDT(on_entry, const char *file, const char *func, int line)
{
	struct func key = {};
	__u64 one = 1, *n;

	bpf_probe_read_user_str(key.name, sizeof(key.name), func);
	n = bpf_map_lookup_elem(&calls, &key);
	if (n)
		__sync_fetch_and_add(n, 1);
	else if (bpf_map_update_elem(&calls, &key, &one, BPF_NOEXIST))
		/* another CPU inserted it first: count on that one */
		if ((n = bpf_map_lookup_elem(&calls, &key)))
			__sync_fetch_and_add(n, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
