/* CO-RE against the running kernel (tests/test_core_kernel.py), with a
 * vmlinux.h generated in the test run: a tp_btf program reads the current
 * task through a flavored local struct whose `flags` is wider than the
 * kernel's (the load shrinks to 4 bytes) and whose comm is an array, and
 * records type ids (local, kernel), type and enumerator existence with
 * flavored names, an enum value, and offsets in struct sk_buff (one inside
 * an anonymous union). Also a differential test object (libbpf the oracle). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_struct___wide {
	unsigned long long flags;
	int pid;
	char comm[16];
} __attribute__((preserve_access_index));

struct no_such_type___x {
	int a;
};

enum bpf_map_type___mine {
	BPF_MAP_TYPE_HASH___mine = 1,
	BPF_MAP_TYPE_NO_SUCH___mine = 1000,
};

struct kinds {
	__u64 flags;
	__u64 pid;
	__u64 comm3;
	__u64 local_id;
	__u64 kernel_id;
	__u64 task_exists;
	__u64 missing_exists;
	__u64 hash_exists;
	__u64 missing_enum_exists;
	__u64 hash_value;
	__u64 len_off;
	__u64 tstamp_off;
	__u64 comm_size;
	__u64 calls;
};

struct kinds out;
__u32 want_tid;

SEC("tp_btf/sys_enter")
int kinds(unsigned long long *ctx)
{
	struct task_struct___wide *t = (void *)bpf_get_current_task_btf();

	if ((__u32)bpf_get_current_pid_tgid() != want_tid) /* this thread only */
		return 0;
	out.flags = t->flags;
	out.pid = t->pid;
	out.comm3 = t->comm[3];
	out.local_id = bpf_core_type_id_local(struct task_struct___wide);
	out.kernel_id = bpf_core_type_id_kernel(struct task_struct___wide);
	out.task_exists = bpf_core_type_exists(struct task_struct___wide);
	out.missing_exists = bpf_core_type_exists(struct no_such_type___x);
	out.hash_exists = bpf_core_enum_value_exists(enum bpf_map_type___mine, BPF_MAP_TYPE_HASH___mine);
	out.missing_enum_exists =
		bpf_core_enum_value_exists(enum bpf_map_type___mine, BPF_MAP_TYPE_NO_SUCH___mine);
	out.hash_value = bpf_core_enum_value(enum bpf_map_type___mine, BPF_MAP_TYPE_HASH___mine);
	out.len_off = bpf_core_field_offset(struct sk_buff, len);
	out.tstamp_off = bpf_core_field_offset(struct sk_buff, tstamp);
	out.comm_size = bpf_core_field_size(t->comm);
	out.calls++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
