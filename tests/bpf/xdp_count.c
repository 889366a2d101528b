/* XDP on a real interface: count IPv4 UDP packets to port 9999. count_pass
 * counts in slot 0 and passes them, count_drop counts in slot 1 and drops them
 * (so swapping one for the other shows in the counters and in the traffic). */
#include "udp_count.h"

SEC("xdp")
int count_pass(struct xdp_md *ctx)
{
	if (eth_udp_to_port((void *)(long)ctx->data, (void *)(long)ctx->data_end))
		count(0);
	return XDP_PASS;
}

SEC("xdp")
int count_drop(struct xdp_md *ctx)
{
	if (!eth_udp_to_port((void *)(long)ctx->data, (void *)(long)ctx->data_end))
		return XDP_PASS;
	count(1);
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
