/* The kernel's iterator contexts that the test programs use (from
 * include/linux/bpf.h and the iterators' sources), declared by hand: no
 * vmlinux.h. */
#ifndef BPFNEST_TEST_ITER_CTX_H
#define BPFNEST_TEST_ITER_CTX_H

struct seq_file;
struct task_struct;
struct bpf_map;

struct bpf_iter_meta {
	struct seq_file *seq;
	__u64 session_id;
	__u64 seq_num;
};

struct bpf_iter__task {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
};
#endif
