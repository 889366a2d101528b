/* Shared by the attach tests' counters (xdp_count.c, tc_count.c,
 * cgroup_count.c): the counts map, count(slot), and the test for an IPv4 UDP
 * packet to port 9999 behind an Ethernet header. */
#ifndef BPFNEST_TEST_UDP_COUNT_H
#define BPFNEST_TEST_UDP_COUNT_H
#include "common.h"
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>

#define PORT 9999

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

static __always_inline int eth_udp_to_port(void *data, void *data_end)
{
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);

	if ((void *)(udp + 1) > data_end)
		return 0;
	if (eth->h_proto != bpf_htons(ETH_P_IP) || ip->protocol != IPPROTO_UDP || ip->ihl != 5)
		return 0;
	return udp->dest == bpf_htons(PORT);
}
#endif
