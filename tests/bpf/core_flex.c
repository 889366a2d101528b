/* CO-RE through a flexible array member (tests/test_core.py): data[5]
 * indexes past the array's zero length, which only a flexible array (the
 * last member) allows. The XDP program returns the byte it read. */
#include "common.h"

struct msg {
	unsigned int len;
	unsigned char data[];
} __attribute__((preserve_access_index));

SEC("xdp")
int read_flex(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	struct msg *m = data;

	if (data + 64 > (void *)(long)ctx->data_end)
		return 0;
	return m->data[5];
}

char LICENSE[] SEC("license") = "GPL";
