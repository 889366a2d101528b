/* Names that cannot be pin file names, as a crafted object can carry them
 * (__asm__ labels): a map named by an absolute path and a program with '/'
 * in its name. Built WITHOUT -g by tests/test_pins.py: the kernel refuses such
 * names in BTF, so only an object without BTF reaches the pinning step. */
#include "common.h"

struct bpf_map_def escape_map __asm__("/sys/fs/bpf/bpfnest-test-escape") SEC("maps") = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = 4,
	.value_size = 4,
	.max_entries = 1,
};

SEC("xdp") int escape_prog(struct xdp_md *ctx) __asm__("escape/prog");
SEC("xdp") int escape_prog(struct xdp_md *ctx)
{
	__u32 k = 0;

	return bpf_map_lookup_elem(&escape_map, &k) ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
