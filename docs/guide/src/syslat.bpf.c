/* System call latency per process, in the layout of libbpf-tools' runqlat:
 * raw_tp/sys_enter notes when a thread entered a system call, raw_tp/sys_exit
 * adds the time it took (log2 of microseconds) to the struct hist of its
 * process. Only processes listed in `traced` are counted. Print it with
 * `bpfnest map hist ID --unit usecs`. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define MAX_SLOTS 26

struct hist {
	__u32 slots[MAX_SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);	/* tgid: the process id */
	__type(value, __u8);
} traced SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);	/* pid_tgid: one thread */
	__type(value, __u64);	/* when it entered, ns */
} start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);	/* tgid */
	__type(value, struct hist);
} latency SEC(".maps");

static struct hist zero;

static __always_inline __u32 log2l(__u64 v)
{
	__u32 r = 0;

	while (v > 1 && r < 63) {	/* bounded: the verifier sees 63 rounds at most */
		v >>= 1;
		r++;
	}
	return r;
}

SEC("raw_tp/sys_enter")
int on_enter(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	__u64 now;

	if (!bpf_map_lookup_elem(&traced, &tgid))
		return 0;
	now = bpf_ktime_get_ns();
	bpf_map_update_elem(&start, &id, &now, BPF_ANY);
	return 0;
}

SEC("raw_tp/sys_exit")
int on_exit(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, slot;
	__u64 *entered;
	struct hist *h;

	entered = bpf_map_lookup_elem(&start, &id);
	if (!entered)
		return 0;
	slot = log2l((bpf_ktime_get_ns() - *entered) / 1000);
	bpf_map_delete_elem(&start, &id);
	if (slot >= MAX_SLOTS)
		slot = MAX_SLOTS - 1;
	h = bpf_map_lookup_elem(&latency, &tgid);
	if (!h) {
		bpf_map_update_elem(&latency, &tgid, &zero, BPF_NOEXIST);
		h = bpf_map_lookup_elem(&latency, &tgid);
		if (!h)
			return 0;
	}
	__sync_fetch_and_add(&h->slots[slot], 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
