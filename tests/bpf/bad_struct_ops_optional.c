/* SEC("?.struct_ops") (a struct_ops map not created by default, libbpf 1.4+):
 * refused with a clear error rather than dropped. */
#include "tcp_cc.h"

SEC("?.struct_ops")
struct tcp_congestion_ops maybe_cc = {
	.ssthresh = (void *)bn_ssthresh,
	.cong_avoid = (void *)bn_cong_avoid,
	.undo_cwnd = (void *)bn_undo_cwnd,
	.name = "bpfnest_maybe",
};
