/* Ring buffers declared with sizes the kernel does not take as they are
 * (10000 bytes; 3 pages): the loader rounds them up to a power-of-2 number of
 * pages, as libbpf does. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 10000);
} odd SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_USER_RINGBUF);
	__uint(max_entries, 3 * 4096);
} three_pages SEC(".maps");

SEC("xdp")
int report(struct xdp_md *ctx)
{
	__u64 seq = 42;

	bpf_ringbuf_output(&odd, &seq, sizeof(seq), 0);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
