/* A SEC(".struct_ops") variable (issue 19 item 7): a TCP congestion control
 * "bpfnest_cc" registered by the map update itself (libbpf 1.1 loads and
 * registers this object too: the load requests are compared). */
#include "tcp_cc.h"

SEC(".struct_ops")
struct tcp_congestion_ops bn_cc = {
	.ssthresh = (void *)bn_ssthresh,
	.cong_avoid = (void *)bn_cong_avoid,
	.undo_cwnd = (void *)bn_undo_cwnd,
	.name = "bpfnest_cc",
};
