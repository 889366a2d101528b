/* A minimal TCP congestion control for the struct_ops tests (issue 19 item
 * 7): the kernel's struct tcp_congestion_ops declared by hand, only the
 * members used (struct_ops members are matched to the kernel's by name), and
 * three programs that keep the congestion window at 10 segments. */
#ifndef BPFNEST_TCP_CC_H
#define BPFNEST_TCP_CC_H
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct sock;

struct tcp_congestion_ops {
	__u32 (*ssthresh)(struct sock *sk);
	void (*cong_avoid)(struct sock *sk, __u32 ack, __u32 acked);
	__u32 (*undo_cwnd)(struct sock *sk);
	char name[16];
};

SEC("struct_ops/bn_ssthresh")
__u32 BPF_PROG(bn_ssthresh, struct sock *sk)
{
	return 10;
}

SEC("struct_ops/bn_cong_avoid")
void BPF_PROG(bn_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
}

SEC("struct_ops/bn_undo_cwnd")
__u32 BPF_PROG(bn_undo_cwnd, struct sock *sk)
{
	return 10;
}

char LICENSE[] SEC("license") = "GPL";
#endif
