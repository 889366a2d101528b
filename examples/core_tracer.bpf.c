/* The per-process tracer of pid_tracer.bpf.c, written for any kernel (CO-RE).
 *
 * `count_getpgid` runs on the tracepoint syscalls/sys_enter_getpgid, at
 * every getpgid(2) call of every process. Instead of hand-written structs
 * and helpers that hide the kernel's layout, it reads the kernel's own
 * types from vmlinux.h (generated from the running kernel's BTF by
 * `bpftool btf dump file /sys/kernel/btf/vmlinux format c`): the calling
 * task's tgid, its parent's tgid, its comm and its state, each through
 * BPF_CORE_READ. clang records which field every such read means; the
 * loader rewrites the offsets for the kernel the program runs on.
 *
 * A traced process has its own `procs` map in `by_pid` (a HASH_OF_MAPS
 * keyed by pid, filled from user space); the program counts the calls and
 * notes what it read there. Processes without a map are not traced. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

/* A task's state was `long state` until Linux 5.14 and is `unsigned int
 * __state` since: one vmlinux.h has only one of them. Two local flavors of
 * task_struct (the part after ___ is ignored when matching the kernel's
 * types) name each, and bpf_core_field_exists picks the one the running
 * kernel has. */
struct task_struct___new {
	unsigned int __state;
} __attribute__((preserve_access_index));

struct task_struct___old {
	long state;
} __attribute__((preserve_access_index));

struct proc {
	__u64 calls;        /* getpgid calls */
	__u64 own;          /* of which getpgid(0): the caller's own group */
	__u32 tgid;         /* task->tgid: the process id */
	__u32 parent;       /* task->real_parent->tgid */
	__u32 state;        /* task->__state or task->state */
	__u32 state_field;  /* which: 1 __state, 2 state */
	char comm[16];      /* task->comm */
};

/* A process's map: one struct proc. Sizes, not __type(): clang 14 would
 * emit a value type used only here as a bare declaration. */
struct procs {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct proc));
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 64);    /* processes traced at once */
	__type(key, __u32);         /* pid (the tgid) */
	__array(values, struct procs);
} by_pid SEC(".maps");

/* The record of every syscalls/sys_enter_* tracepoint, from vmlinux.h:
 * struct trace_event_raw_sys_enter { struct trace_entry ent; long id;
 * unsigned long args[6]; }. */
SEC("tracepoint/syscalls/sys_enter_getpgid")
int count_getpgid(struct trace_event_raw_sys_enter *ctx)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	__u32 tgid = BPF_CORE_READ(task, tgid);
	__u32 zero = 0;
	struct proc *p;
	void *procs;

	procs = bpf_map_lookup_elem(&by_pid, &tgid);   /* this process's own map */
	if (!procs)
		return 0;
	p = bpf_map_lookup_elem(procs, &zero);
	if (!p)
		return 0;
	__sync_fetch_and_add(&p->calls, 1);
	if (ctx->args[0] == 0)          /* getpgid's argument */
		__sync_fetch_and_add(&p->own, 1);

	p->tgid = tgid;
	/* Two loads: task->real_parent, then that task's tgid. */
	p->parent = BPF_CORE_READ(task, real_parent, tgid);
	BPF_CORE_READ_STR_INTO(&p->comm, task, comm);
	if (bpf_core_field_exists(((struct task_struct___new *)task)->__state)) {
		p->state = BPF_CORE_READ((struct task_struct___new *)task, __state);
		p->state_field = 1;
	} else {
		/* On 5.14 and later no task_struct.state: this read's relocation
		 * has no answer, the loader poisons it, and the verifier drops
		 * the branch, dead since the test above is the constant 1. */
		p->state = BPF_CORE_READ((struct task_struct___old *)task, state);
		p->state_field = 2;
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
