/* An XDP guard that asks user space for decisions through a ring buffer.
 *
 * `guard` counts the IPv4 packets of each source address in `counts` and
 * drops those of sources listed in `blocked`. When a source reaches the
 * threshold in `config` (key 0), it writes an alert {saddr, packets} into
 * the ring buffer `alerts`, once (at the packet that reaches it); what to do
 * about it is user space's decision: the service blocks the source by adding
 * it to `blocked`, and may lower the threshold or forgive a source (delete it
 * from `blocked` and `counts`) at any time. Anything that is not IPv4 passes. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct alert {
	__u32 saddr;     /* network byte order, as in the packet */
	__u32 packets;   /* the count that reached the threshold */
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} alerts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);      /* source address */
	__type(value, __u64);    /* packets seen */
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);      /* source address */
	__type(value, __u32);    /* 1: blocked (written by user space) */
} blocked SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);    /* [0]: the alert threshold, in packets */
} config SEC(".maps");

SEC("xdp")
int guard(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	__u32 zero = 0, saddr, *threshold;
	__u64 one = 1, *count, n = 1;
	struct alert *a;

	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	saddr = ip->saddr;
	if (bpf_map_lookup_elem(&blocked, &saddr))
		return XDP_DROP;
	count = bpf_map_lookup_elem(&counts, &saddr);
	if (count)
		n = __sync_fetch_and_add(count, 1) + 1;
	else
		bpf_map_update_elem(&counts, &saddr, &one, BPF_NOEXIST);
	threshold = bpf_map_lookup_elem(&config, &zero);
	if (threshold && n == *threshold) {
		a = bpf_ringbuf_reserve(&alerts, sizeof(*a), 0);
		if (a) {
			a->saddr = saddr;
			a->packets = n;
			bpf_ringbuf_submit(a, 0);
		}
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
