/* Programs for any kernel (docs/guide/core.md): read the current task's
 * pid, tgid, parent and comm through BPF_CORE_READ, with vmlinux.h made from
 * the running kernel's BTF. The offsets in the object are those of the
 * kernel it was built on; bpfnest rewrites them at load for the kernel it
 * runs on. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

/* A field some kernels have and others do not: a local flavor of
 * task_struct declares what the program may use. */
struct task_struct___maybe {
	int no_such_field;
} __attribute__((preserve_access_index));

struct seen {
	__u32 pid;
	__u32 tgid;
	__u32 parent;
	__u32 has_field;
	char comm[16];
};

struct seen seen;
__u32 want_tgid;

SEC("raw_tp/sys_enter")
int whoami(void *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();

	if (BPF_CORE_READ(t, tgid) != want_tgid)
		return 0;
	seen.pid = BPF_CORE_READ(t, pid);
	seen.tgid = BPF_CORE_READ(t, tgid);
	seen.parent = BPF_CORE_READ(t, real_parent, tgid);
	BPF_CORE_READ_STR_INTO(&seen.comm, t, comm);
	seen.has_field = bpf_core_field_exists(((struct task_struct___maybe *)t)->no_such_field);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
