/* A TCP congestion control as a struct_ops map (the loading guide). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct sock;

struct tcp_congestion_ops { /* only the members used: matched by name */
	__u32 (*ssthresh)(struct sock *sk);
	void (*cong_avoid)(struct sock *sk, __u32 ack, __u32 acked);
	__u32 (*undo_cwnd)(struct sock *sk);
	char name[16];
};

SEC("struct_ops/guide_ssthresh")
__u32 BPF_PROG(guide_ssthresh, struct sock *sk)
{
	return 10;
}

SEC("struct_ops/guide_cong_avoid")
void BPF_PROG(guide_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
}

SEC("struct_ops/guide_undo_cwnd")
__u32 BPF_PROG(guide_undo_cwnd, struct sock *sk)
{
	return 10;
}

SEC(".struct_ops")
struct tcp_congestion_ops guide_cc = {
	.ssthresh = (void *)guide_ssthresh,
	.cong_avoid = (void *)guide_cong_avoid,
	.undo_cwnd = (void *)guide_undo_cwnd,
	.name = "bpfnest_guide",
};

char LICENSE[] SEC("license") = "GPL";
