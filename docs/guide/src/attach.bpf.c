/* One program per kind of hook, each counting into a global (read with
 * Collection.get_global): what this process does, found by its tgid, and
 * the frames the page sends (EtherType 0x88b5, "local experimental"). */
#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define ETH_P_GUIDE 0x88b5

const volatile __u32 target_pid = 0; /* this process, set before load */
const volatile __u64 getpgid_nr = 121; /* __NR_getpgid (x86_64) */

__u64 xdp_frames = 0, xdp_dropped = 0, tc_frames = 0, egress_packets = 0;
__u64 getpgid_calls = 0, getpid_calls = 0;

static bool ours(void)
{
	return bpf_get_current_pid_tgid() >> 32 == target_pid;
}

static bool guide_frame(struct xdp_md *ctx)
{
	struct ethhdr *eth = (void *)(long)ctx->data;

	return (void *)(eth + 1) <= (void *)(long)ctx->data_end &&
	       eth->h_proto == bpf_htons(ETH_P_GUIDE);
}

SEC("xdp")
int count_xdp(struct xdp_md *ctx)
{
	if (guide_frame(ctx))
		__sync_fetch_and_add(&xdp_frames, 1);
	return XDP_PASS;
}

SEC("xdp")
int drop_all(struct xdp_md *ctx)
{
	if (guide_frame(ctx))
		__sync_fetch_and_add(&xdp_dropped, 1);
	return XDP_DROP;
}

SEC("tc")
int count_tc(struct __sk_buff *skb)
{
	if (skb->protocol == bpf_htons(ETH_P_GUIDE))
		__sync_fetch_and_add(&tc_frames, 1);
	return TC_ACT_OK;
}

SEC("cgroup_skb/egress")
int count_egress(struct __sk_buff *skb)
{
	__sync_fetch_and_add(&egress_packets, 1);
	return 1; /* let it through */
}

SEC("tp_btf/sys_enter")
int BPF_PROG(on_sys_enter, void *regs, long id)
{
	if (ours() && id == getpgid_nr)
		__sync_fetch_and_add(&getpgid_calls, 1);
	return 0;
}

SEC("uprobe/libc.so.6:getpid")
int on_getpid(void *ctx)
{
	if (ours())
		__sync_fetch_and_add(&getpid_calls, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
