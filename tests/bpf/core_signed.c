/* CO-RE of a signed field whose size changed (tests/test_core.py): against
 * core_target_signed.c, where `v` is a long long, the 4-byte load cannot
 * simply grow (sign extension would be wrong), so libbpf (and bpfnest)
 * poison it, and the load fails saying so. `u` is unsigned: its load
 * changes size. */
#include "common.h"

struct sthing {
	unsigned int u;
	int v;
} __attribute__((preserve_access_index));

SEC("xdp")
int read_signed(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	struct sthing *t = data;

	if (data + 64 > (void *)(long)ctx->data_end)
		return 0;
	return t->u + t->v;
}

char LICENSE[] SEC("license") = "GPL";
