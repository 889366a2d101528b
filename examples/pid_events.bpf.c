/* Per-process events through per-process ring buffers.
 *
 * `by_pid` is a HASH_OF_MAPS from a process id (tgid) to that process's own
 * ring buffer. `on_syscall`, a raw tracepoint program for sys_enter, looks up
 * the ring of the process that is making the syscall and writes an event
 * there: pid, thread id, syscall number and command name. A process with no
 * ring is not traced (counted in `untraced`); a full ring is counted in
 * `full`. User space adds and removes processes by adding and removing
 * rings, and drains all the rings with one poller. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct event {
	__u32 pid;        /* tgid: the process */
	__u32 tid;        /* the thread */
	__u64 nr;         /* the syscall number: args[1] of sys_enter */
	char comm[16];    /* the thread's command name */
};

struct pid_ring {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16384);   /* bytes, per process */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 64);      /* processes traced at once */
	__type(key, __u32);           /* pid */
	__array(values, struct pid_ring);
} by_pid SEC(".maps");

__u64 untraced, full;

SEC("raw_tp/sys_enter")
int on_syscall(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32;
	void *ring = bpf_map_lookup_elem(&by_pid, &pid);
	struct event *e;

	if (!ring) {
		__sync_fetch_and_add(&untraced, 1);
		return 0;
	}
	e = bpf_ringbuf_reserve(ring, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&full, 1);
		return 0;
	}
	e->pid = pid;
	e->tid = (__u32)id;
	e->nr = ctx->args[1];
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
