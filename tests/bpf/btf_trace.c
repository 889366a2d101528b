/* BTF-targeted tracing programs: each section names a kernel type that
 * loading looks up in /sys/kernel/btf/vmlinux (attach_btf_id). tp_btf/sys_enter
 * counts this process's calls of the syscall in config[1] (slot 0); fentry,
 * fexit and fmod_ret on getpgid's syscall function count into slots 1..3,
 * lsm/file_open into slot 4 (these load only where the kernel allows them).
 * No vmlinux.h: the programs take their arguments as BPF_PROG's u64 array. */
#define COUNT_SLOTS 5
#include "tgid_count.h"
#include <bpf/bpf_tracing.h>

SEC("tp_btf/sys_enter")
int BPF_PROG(tp_btf_sys_enter, void *regs, long id)
{
	if (id == (long)setting(1))
		count(0);
	return 0;
}

SEC("fentry/__x64_sys_getpgid")
int BPF_PROG(fentry_getpgid)
{
	count(1);
	return 0;
}

SEC("fexit/__x64_sys_getpgid")
int BPF_PROG(fexit_getpgid)
{
	count(2);
	return 0;
}

SEC("fmod_ret/__x64_sys_getpgid")
int BPF_PROG(fmod_ret_getpgid)
{
	count(3);
	return 0; /* 0: the function runs and its result stands */
}

SEC("lsm/file_open")
int BPF_PROG(lsm_file_open, void *file)
{
	count(4);
	return 0; /* 0: allowed */
}

char LICENSE[] SEC("license") = "GPL";
