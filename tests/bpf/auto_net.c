/* Program.attach() by section name on an interface: IPv4 UDP packets to port
 * 9999 counted by xdp (slot 0), tcx/ingress (1), tc/ingress (2), tcx/egress
 * (3), tc/egress (4) and a bare tc program given its direction (5); the tc
 * programs say TC_ACT_UNSPEC (TCX_NEXT) so that every one of a chain runs, and
 * the packets go through. */
#include "common.h"
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>

#define PORT 9999

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 6);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

static __always_inline void count_if_udp(void *data, void *data_end, __u32 slot)
{
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);
	__u64 *n;

	if ((void *)(udp + 1) > data_end)
		return;
	if (eth->h_proto != bpf_htons(ETH_P_IP) || ip->protocol != IPPROTO_UDP || ip->ihl != 5)
		return;
	if (udp->dest != bpf_htons(PORT))
		return;
	n = bpf_map_lookup_elem(&counts, &slot);
	if (n)
		__sync_fetch_and_add(n, 1);
}

#define TC_COUNTER(sec, fn, slot)                                                  \
	SEC(sec)                                                                   \
	int fn(struct __sk_buff *skb)                                              \
	{                                                                          \
		count_if_udp((void *)(long)skb->data, (void *)(long)skb->data_end, slot); \
		return TC_ACT_UNSPEC; /* tcx: on to the next program */     \
	}

SEC("xdp")
int xdp_in(struct xdp_md *ctx)
{
	count_if_udp((void *)(long)ctx->data, (void *)(long)ctx->data_end, 0);
	return XDP_PASS;
}

TC_COUNTER("tcx/ingress", tcx_in, 1)
TC_COUNTER("tc/ingress", tc_in, 2)
TC_COUNTER("tcx/egress", tcx_out, 3)
TC_COUNTER("tc/egress", tc_out, 4)
TC_COUNTER("tc", tc_bare, 5)

char LICENSE[] SEC("license") = "Dual MIT/GPL";
