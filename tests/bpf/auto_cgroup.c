/* Program.attach() by section name on a cgroup: cgroup_skb/egress counts the
 * packets sent by the cgroup's sockets (slot 0), cgroup/sock_create the sockets
 * it creates (slot 1); both allow them. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

static __always_inline void count(__u32 slot)
{
	__u64 *n = bpf_map_lookup_elem(&counts, &slot);

	if (n)
		__sync_fetch_and_add(n, 1);
}

SEC("cgroup_skb/egress")
int skb_out(struct __sk_buff *skb)
{
	count(0);
	return 1;
}

SEC("cgroup/sock_create")
int sock_made(struct bpf_sock *sk)
{
	count(1);
	return 1;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
