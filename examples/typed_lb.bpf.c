/* An XDP load balancer with typed maps, driven from a module `bpfnest gen` makes.
 *
 * vips is a HASH_OF_MAPS keyed by `struct vip` (address, port, protocol).
 * Each value is an ARRAY of `struct backend`, created with BPF_F_INNER_MAP so
 * that one VIP may have 2 backends and another 4 (the lookup checks the
 * index against the inner map's own size at run time). For a UDP or TCP
 * packet to a VIP the program picks a backend by the source port, rewrites
 * the destination address and port (fixing the IPv4 checksum), counts the
 * packet in `stats` (a PERCPU_HASH keyed by the VIP, `struct vip_stats`) and
 * returns XDP_TX; with no backend there, it uses `fallback` (set before load)
 * or drops. Other packets pass. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct vip {
	__u32 addr;  /* network byte order, as in the packet */
	__u16 port;  /* network byte order */
	__u8 proto;  /* IPPROTO_UDP, IPPROTO_TCP */
	__u8 pad;
};

struct backend {
	__u32 addr;  /* network byte order */
	__u16 port;  /* network byte order */
	__u16 weight;
};

struct vip_stats {
	__u64 packets;
	__u64 bytes;
	__u32 last_backend;  /* the index picked for the last packet */
	__u32 misses;        /* packets whose picked slot had no backend */
};

struct backend_array {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_INNER_MAP);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct backend);
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 64);
	__type(key, struct vip);
	__array(values, struct backend_array);
} vips SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 64);
	__type(key, struct vip);
	__type(value, struct vip_stats);
} stats SEC(".maps");

/* Where a VIP's packet goes when its array has no backend at the picked
 * index nor at index 0; set before load (.rodata); addr 0: drop instead. */
const volatile struct backend fallback = {};

/* Packets that went to no VIP. */
__u64 passed = 0;

static __always_inline __u16 csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

SEC("xdp")
int balance(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	struct udphdr *l4 = data + sizeof(*eth) + sizeof(*ip);  /* ports: same place in TCP */

	if ((void *)(l4 + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5)
		goto pass;
	if (ip->protocol != IPPROTO_UDP && ip->protocol != IPPROTO_TCP)
		goto pass;

	struct vip key = { .addr = ip->daddr, .port = l4->dest, .proto = ip->protocol };
	void *backends = bpf_map_lookup_elem(&vips, &key);
	if (!backends)
		goto pass;

	__u32 index = bpf_ntohs(l4->source) & 3;
	struct backend *b = bpf_map_lookup_elem(backends, &index);
	struct vip_stats *s = bpf_map_lookup_elem(&stats, &key);
	if (!s) {
		struct vip_stats zero = {};
		bpf_map_update_elem(&stats, &key, &zero, BPF_NOEXIST);
		s = bpf_map_lookup_elem(&stats, &key);
		if (!s)
			goto pass;
	}
	if (!b || !b->addr) {  /* beyond this VIP's array, or an empty slot: slot 0 */
		s->misses++;
		index = 0;
		b = bpf_map_lookup_elem(backends, &index);
		if (!b || !b->addr)
			b = (struct backend *)&fallback;
		if (!b->addr)
			return XDP_DROP;
	}
	s->packets++;
	s->bytes += end - data;
	s->last_backend = index;

	ip->daddr = b->addr;
	l4->dest = b->port;
	if (ip->protocol == IPPROTO_UDP)
		l4->check = 0;  /* UDP: no checksum; a TCP balancer would update it */
	ip->check = 0;
	__u32 sum = 0;
	__u16 *words = (__u16 *)ip;
#pragma unroll
	for (int i = 0; i < 10; i++)
		sum += words[i];
	ip->check = csum_fold(sum);
	return XDP_TX;
pass:
	__sync_fetch_and_add(&passed, 1);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
