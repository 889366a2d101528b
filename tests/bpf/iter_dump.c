/* BPF iterators read through Link.read(): iter/task prints "tgid pid" per
 * task (dump_task_pid: "pid P"), iter/bpf_map "id" per map (the fields' byte
 * offsets in task_struct and bpf_map come from the kernel's BTF, in
 * config[0..2]: no CO-RE, no vmlinux.h), and iter/bpf_map_elem prints
 * "key value" for each element of the map the link is made for
 * (attach_iter(map=...)). */
#include "common.h"
#include <bpf/bpf_tracing.h>

#include "iter_ctx.h"

/* The other contexts these programs take (include/linux/bpf.h and the iterators' sources). */

struct bpf_iter__bpf_map {
	struct bpf_iter_meta *meta;
	struct bpf_map *map;
};

struct bpf_iter__bpf_map_elem {
	struct bpf_iter_meta *meta;
	struct bpf_map *map;
	void *key;
	void *value;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} config SEC(".maps");

/* What iter/bpf_map_elem walks in the tests. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} elems SEC(".maps");

/* A byte offset from config: bounded, so the verifier allows it on a pointer. */
static __always_inline __u64 offset(__u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(&config, &slot);

	return v ? *v & 0xffff : 0;
}

SEC("iter/task")
int dump_task(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	int tgid = 0, pid = 0;

	if (!task)
		return 0;
	bpf_probe_read_kernel(&tgid, sizeof(tgid), (void *)task + offset(0));
	bpf_probe_read_kernel(&pid, sizeof(pid), (void *)task + offset(1));
	BPF_SEQ_PRINTF(seq, "%d %d\n", tgid, pid);
	return 0;
}

/* The same target, another output ("pid N"): what Link.update swaps in. */
SEC("iter/task")
int dump_task_pid(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	int pid = 0;

	if (!task)
		return 0;
	bpf_probe_read_kernel(&pid, sizeof(pid), (void *)task + offset(1));
	BPF_SEQ_PRINTF(seq, "pid %d\n", pid);
	return 0;
}

SEC("iter/bpf_map")
int dump_map(struct bpf_iter__bpf_map *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct bpf_map *map = ctx->map;
	__u32 id = 0;

	if (!map)
		return 0;
	bpf_probe_read_kernel(&id, sizeof(id), (void *)map + offset(2));
	BPF_SEQ_PRINTF(seq, "%u\n", id);
	return 0;
}

SEC("iter/bpf_map_elem")
int dump_elem(struct bpf_iter__bpf_map_elem *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	__u32 *key = ctx->key;
	__u64 *value = ctx->value;

	if (!key || !value)
		return 0;
	BPF_SEQ_PRINTF(seq, "%u %llu\n", *key, *value);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
