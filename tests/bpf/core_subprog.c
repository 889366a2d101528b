/* CO-RE records in a subprogram (tests/test_core.py): read_pair() in .text
 * has two relocations and is appended to two programs of different lengths,
 * so its records must be rebased to a different place in each. */
#include "common.h"
#include <bpf/bpf_core_read.h>

struct pair {
	unsigned int lo;
	unsigned int hi;
} __attribute__((preserve_access_index));

__u64 seen;

static __attribute__((noinline)) int read_pair(struct pair *p)
{
	return p->lo + p->hi;
}

SEC("xdp")
int first(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;

	if (data + sizeof(struct pair) > (void *)(long)ctx->data_end)
		return XDP_ABORTED;
	return read_pair(data) ? XDP_PASS : XDP_DROP;
}

SEC("xdp")
int second(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;

	seen += 1;
	seen *= 3;
	if (data + sizeof(struct pair) > (void *)(long)ctx->data_end)
		return XDP_ABORTED;
	return read_pair(data) ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
