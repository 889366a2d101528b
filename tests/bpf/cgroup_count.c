/* cgroup_skb/egress on a cgroup2 directory: count IPv4 UDP packets to port
 * 9999 sent by sockets of that cgroup (the skb starts at the IP header).
 * count_pass counts in slot 0 and lets them out, count_drop counts in slot 1
 * and drops them. */
#include "udp_count.h"

static __always_inline int ip_udp_to_port(struct __sk_buff *skb)
{
	struct iphdr ip;
	struct udphdr udp;

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return 0;
	if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)) || ip.protocol != IPPROTO_UDP)
		return 0;
	if (bpf_skb_load_bytes(skb, ip.ihl * 4, &udp, sizeof(udp)))
		return 0;
	return udp.dest == bpf_htons(PORT);
}

SEC("cgroup_skb/egress")
int count_pass(struct __sk_buff *skb)
{
	if (ip_udp_to_port(skb))
		count(0);
	return 1;
}

SEC("cgroup_skb/egress")
int count_drop(struct __sk_buff *skb)
{
	if (!ip_udp_to_port(skb))
		return 1;
	count(1);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
