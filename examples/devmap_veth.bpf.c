/* The kernel documentation's array of devmaps on real devices.
 *
 * `forward` runs on the router's ingress veth. It finds a DEVMAP in slot
 * `priority` of outer_map and redirects every frame to the device at key 0
 * of that devmap (XDP_PASS when the slot or the key is empty). User space
 * decides where traffic goes by swapping the devmap in the slot.
 *
 * `arrive_a` and `arrive_b` run on the far ends of the two egress veths:
 * each counts the UDP datagrams to port 9999 that reach it, in its own
 * slot of `arrivals`, and drops them (nobody listens there). */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct ports {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);   /* an ifindex, in the router's namespace */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct ports);   /* the template: every inner map is a DEVMAP like this */
} outer_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} arrivals SEC(".maps");   /* [0]: at receiver a, [1]: at receiver b */

__u32 priority = 0;   /* .bss: which slot of outer_map to use */
__u64 passed = 0;     /* frames the router kept (no devmap or no device) */

SEC("xdp")
int forward(struct xdp_md *ctx)
{
	__u32 index = priority;
	void *devmap = bpf_map_lookup_elem(&outer_map, &index);
	long verdict;

	if (!devmap) {
		__sync_fetch_and_add(&passed, 1);
		return XDP_PASS;
	}
	verdict = bpf_redirect_map(devmap, 0, XDP_PASS);
	if (verdict == XDP_PASS)
		__sync_fetch_and_add(&passed, 1);
	return verdict;
}

static __always_inline int arrive(struct xdp_md *ctx, __u32 slot)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);
	__u64 *n;

	if ((void *)(udp + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP) ||
	    ip->ihl != 5 || ip->protocol != IPPROTO_UDP || udp->dest != bpf_htons(9999))
		return XDP_PASS;   /* not ours (IPv6 router solicitations and the like) */
	n = bpf_map_lookup_elem(&arrivals, &slot);
	if (n)
		__sync_fetch_and_add(n, 1);
	return XDP_DROP;
}

SEC("xdp")
int arrive_a(struct xdp_md *ctx)
{
	return arrive(ctx, 0);
}

SEC("xdp")
int arrive_b(struct xdp_md *ctx)
{
	return arrive(ctx, 1);
}

char LICENSE[] SEC("license") = "GPL";
