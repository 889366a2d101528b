/* The smallest program: XDP_PASS, with the data it gets echoed back. */
#include "common.h"

SEC("xdp")
int pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
