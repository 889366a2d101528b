/* A struct_ops member pointing to a program that is not a struct_ops
 * program (an XDP one): the reader refuses it, naming both (as libbpf). */
#include "tcp_cc.h"

SEC("xdp")
int not_ops(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC(".struct_ops")
struct tcp_congestion_ops bad_cc = {
	.ssthresh = (void *)not_ops,
	.cong_avoid = (void *)bn_cong_avoid,
	.undo_cwnd = (void *)bn_undo_cwnd,
	.name = "bpfnest_bad",
};
