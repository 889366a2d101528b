/* Per-tenant XDP policy in a HASH_OF_MAPS, replaced under live traffic.
 *
 * A tenant is known by its IPv4 source address. `tenants` maps that address
 * to the tenant's own policy table (UDP destination port -> XDP verdict).
 * `tenant_policy` runs on the edge's ingress device: it finds the tenant's
 * table, looks up the destination port, and returns the rule's verdict; no
 * rule means drop. It counts each tenant's passed and dropped datagrams in
 * `stats`, which user space creates for each tenant it adds. Traffic that
 * is not IPv4 UDP, or comes from an address with no table, is not the
 * policy's business: pass. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct policy {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u16);     /* UDP destination port, host order */
	__type(value, __u32);   /* XDP verdict */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 256);
	__type(key, __u32);     /* the tenant's IPv4 source address, network order */
	__array(values, struct policy);
} tenants SEC(".maps");

struct tally {
	__u64 passed;
	__u64 dropped;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);     /* as in tenants */
	__type(value, struct tally);
} stats SEC(".maps");

SEC("xdp")
int tenant_policy(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);   /* no IP options: checked below */
	__u32 tenant, verdict = XDP_DROP, *rule;
	struct tally *tally;
	void *policy;
	__u16 port;

	if ((void *)(udp + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP) ||
	    ip->ihl != 5 || ip->protocol != IPPROTO_UDP)
		return XDP_PASS;
	tenant = ip->saddr;
	policy = bpf_map_lookup_elem(&tenants, &tenant);   /* this tenant's table */
	if (!policy)
		return XDP_PASS;
	port = bpf_ntohs(udp->dest);
	rule = bpf_map_lookup_elem(policy, &port);
	if (rule)
		verdict = *rule;
	tally = bpf_map_lookup_elem(&stats, &tenant);
	if (tally) {
		if (verdict == XDP_PASS)
			__sync_fetch_and_add(&tally->passed, 1);
		else
			__sync_fetch_and_add(&tally->dropped, 1);
	}
	return verdict;
}

char LICENSE[] SEC("license") = "GPL";
