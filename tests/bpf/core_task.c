/* CO-RE against the running kernel (tests/test_core_kernel.py), built with
 * a vmlinux.h generated in the test run: a raw_tp program reads the current
 * task_struct through BPF_CORE_READ (pid, tgid, comm, real_parent->tgid), a
 * bitfield, bpf_core_field_exists (a field that exists, and a flavored
 * struct's field that does not, guarded), bpf_core_type_size and
 * bpf_core_enum_value. Also the differential test's object (libbpf's
 * relocations are the oracle). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_struct___mine {
	int pid;
	int no_such_field;
} __attribute__((preserve_access_index));

struct result {
	__u32 pid;
	__u32 tgid;
	__u32 parent_tgid;
	__u32 has_pid;
	__u32 has_missing;
	__u32 missing;
	__u64 task_size;
	__u64 map_type_array;
	__u64 map_type_ringbuf;
	__u64 in_execve;
	__u64 lshift;
	__u64 rshift;
	__u64 prio_off;
	char comm[16];
};

struct result res;
__u32 want_tgid;

SEC("raw_tp/sys_enter")
int read_task(void *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	struct task_struct___mine *m = (void *)t;

	if (BPF_CORE_READ(t, tgid) != want_tgid)
		return 0;
	res.pid = BPF_CORE_READ(t, pid);
	res.tgid = BPF_CORE_READ(t, tgid);
	res.parent_tgid = BPF_CORE_READ(t, real_parent, tgid);
	BPF_CORE_READ_STR_INTO(&res.comm, t, comm);
	res.has_pid = bpf_core_field_exists(t->pid);
	res.has_missing = bpf_core_field_exists(m->no_such_field);
	if (bpf_core_field_exists(m->no_such_field))
		res.missing = BPF_CORE_READ(m, no_such_field);
	else
		res.missing = 0xdead;
	res.task_size = bpf_core_type_size(struct task_struct);
	res.map_type_array = bpf_core_enum_value(enum bpf_map_type, BPF_MAP_TYPE_ARRAY);
	res.map_type_ringbuf = bpf_core_enum_value(enum bpf_map_type, BPF_MAP_TYPE_RINGBUF);
	res.in_execve = BPF_CORE_READ_BITFIELD_PROBED(t, in_execve);
	res.lshift = __builtin_preserve_field_info(t->in_execve, BPF_FIELD_LSHIFT_U64);
	res.rshift = __builtin_preserve_field_info(t->in_execve, BPF_FIELD_RSHIFT_U64);
	res.prio_off = bpf_core_field_offset(t->prio);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
