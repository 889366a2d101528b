/* tc (tcx links and legacy cls_bpf direct-action): count IPv4 UDP packets to
 * port 9999 on a real interface. count_pass counts in slot 0 and lets them
 * through (TC_ACT_OK), count_drop counts in slot 1 and drops them (TC_ACT_SHOT). */
#include "udp_count.h"
#include <linux/pkt_cls.h>

SEC("tc")
int count_pass(struct __sk_buff *skb)
{
	if (eth_udp_to_port((void *)(long)skb->data, (void *)(long)skb->data_end))
		count(0);
	return TC_ACT_OK;
}

SEC("tc")
int count_drop(struct __sk_buff *skb)
{
	if (!eth_udp_to_port((void *)(long)skb->data, (void *)(long)skb->data_end))
		return TC_ACT_OK;
	count(1);
	return TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
