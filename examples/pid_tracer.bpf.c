/* A per-process tracer on a tracepoint: per-pid inner maps in a HASH_OF_MAPS.
 *
 * `count_getpgid` runs on the tracepoint syscalls/sys_enter_getpgid, at every
 * getpgid(2) call of every process. It looks up the calling process in
 * `by_pid`; a traced process has its own `calls` map there, where the
 * program counts the call under the argument it was given (getpgid(0) asks
 * for the caller's own group). Processes without a map are not traced and
 * only counted in `untraced`. User space decides who is traced by adding and
 * removing inner maps. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* The tracepoint's record, as events/syscalls/sys_enter_getpgid/format
 * describes it: 8 bytes of common fields, the syscall number, the argument. */
struct sys_enter_getpgid {
	__u64 common;
	__s32 syscall_nr;
	__u32 pad;
	__u64 pid;          /* getpgid's argument */
};

struct calls {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);     /* getpgid's argument */
	__type(value, __u64);   /* calls with it */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 64);    /* processes traced at once */
	__type(key, __u32);         /* pid (the tgid) */
	__array(values, struct calls);
} by_pid SEC(".maps");

__u64 untraced = 0;

SEC("tracepoint/syscalls/sys_enter_getpgid")
int count_getpgid(struct sys_enter_getpgid *ctx)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	__u32 arg = ctx->pid;
	__u64 zero = 0, *n;
	void *calls;

	calls = bpf_map_lookup_elem(&by_pid, &pid);   /* this process's own map */
	if (!calls) {
		__sync_fetch_and_add(&untraced, 1);
		return 0;
	}
	n = bpf_map_lookup_elem(calls, &arg);
	if (!n) {
		/* First call with this argument: add a zero (NOEXIST: if another
		 * thread of the process got there first, keep its entry), then
		 * count in whichever entry is there. */
		bpf_map_update_elem(calls, &arg, &zero, BPF_NOEXIST);
		n = bpf_map_lookup_elem(calls, &arg);
	}
	if (n)
		__sync_fetch_and_add(n, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
