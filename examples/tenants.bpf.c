/* Per-tenant firewall tables in a HASH_OF_MAPS keyed by tenant id.
 *
 * Each tenant's traffic arrives tagged with its 802.1Q VLAN id, which is the
 * tenant id. `tenants` maps a tenant id to that tenant's own table of rules
 * (UDP destination port -> XDP verdict). The program parses
 * Ethernet / VLAN / IPv4 / UDP, finds the tenant's table, and returns the
 * rule's verdict; no table (unknown tenant) or no rule for the port: drop.
 * Packets that are not VLAN-tagged IPv4 UDP are not the firewall's business:
 * pass. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct vlan_hdr {   /* the 4 bytes after the MAC addresses of a tagged frame */
	__be16 tci;     /* priority (3 bits), DEI (1), VLAN id (12) */
	__be16 proto;   /* the ethertype of what follows */
};

struct rules {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);       /* tenants' tables may differ: HASH sizes need not match */
	__type(key, __u16);            /* UDP destination port, host order */
	__type(value, __u32);          /* XDP verdict */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 1024);
	__type(key, __u32);            /* tenant id */
	__array(values, struct rules);
} tenants SEC(".maps");

SEC("xdp")
int tenant_firewall(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct vlan_hdr *vlan = (void *)(eth + 1);
	struct iphdr *ip = (void *)(vlan + 1);
	struct udphdr *udp = (void *)(ip + 1);   /* no IP options: checked below */
	__u32 tenant, *verdict;
	__u16 port;
	void *table;

	if ((void *)(udp + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_8021Q) || vlan->proto != bpf_htons(ETH_P_IP) ||
	    ip->ihl != 5 || ip->protocol != IPPROTO_UDP)
		return XDP_PASS;

	tenant = bpf_ntohs(vlan->tci) & 0x0fff;
	table = bpf_map_lookup_elem(&tenants, &tenant);   /* this tenant's table */
	if (!table)
		return XDP_DROP;
	port = bpf_ntohs(udp->dest);
	verdict = bpf_map_lookup_elem(table, &port);
	return verdict ? *verdict : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
