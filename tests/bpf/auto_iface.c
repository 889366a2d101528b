/* bpfnest load --attach --iface: an xdp program (slot 0) and a tcx/ingress
 * program (slot 1) on one interface, both counting IPv4 UDP packets to port
 * 9999 and letting them through. */
#include "udp_count.h"
#include <linux/pkt_cls.h>

SEC("xdp")
int xdp_seen(struct xdp_md *ctx)
{
	if (eth_udp_to_port((void *)(long)ctx->data, (void *)(long)ctx->data_end))
		count(0);
	return XDP_PASS;
}

SEC("tcx/ingress")
int tcx_seen(struct __sk_buff *skb)
{
	if (eth_udp_to_port((void *)(long)skb->data, (void *)(long)skb->data_end))
		count(1);
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
