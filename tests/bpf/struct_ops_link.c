/* Two SEC(".struct_ops.link") variables (issue 19 item 7): maps with
 * BPF_F_LINK, registered through a BPF link; the link is swapped from one to
 * the other (the same programs serve both; the kernel swaps a congestion
 * control only for one of the same name). libbpf 1.1 predates this section. */
#include "tcp_cc.h"

SEC(".struct_ops.link")
struct tcp_congestion_ops bn_link_a = {
	.ssthresh = (void *)bn_ssthresh,
	.cong_avoid = (void *)bn_cong_avoid,
	.undo_cwnd = (void *)bn_undo_cwnd,
	.name = "bpfnest_lk",
};

SEC(".struct_ops.link")
struct tcp_congestion_ops bn_link_b = {
	.ssthresh = (void *)bn_ssthresh,
	.cong_avoid = (void *)bn_cong_avoid,
	.undo_cwnd = (void *)bn_undo_cwnd,
	.name = "bpfnest_lk",
};
