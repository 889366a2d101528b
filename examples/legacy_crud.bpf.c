/* Map-in-map with the legacy map definition: `struct bpf_map_def` in
 * SEC("maps"), as older BPF code and the kernel's samples/bpf wrote it.
 * The legacy form has no field for the inner map: user space must say what
 * the inner maps of `outer` look like before loading.
 *
 * The program reads a u32 key from the first 4 bytes of the packet and
 * returns the value at index 0 of the inner map at outer[key], or NOT_FOUND
 * when outer has no such key. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define NOT_FOUND 0xffff

struct bpf_map_def {   /* libbpf 1.x removed it from bpf_helpers.h: define it here */
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct bpf_map_def SEC("maps") outer = {
	.type = BPF_MAP_TYPE_HASH_OF_MAPS,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u32),   /* an outer map's value: an inner map (fd in, id out) */
	.max_entries = 16,
};

SEC("xdp")
int read_outer(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 key, zero = 0;
	__u32 *val;
	void *inner;

	if (data + sizeof(key) > data_end)
		return NOT_FOUND;
	key = *(__u32 *)data;
	inner = bpf_map_lookup_elem(&outer, &key);
	if (!inner)
		return NOT_FOUND;
	val = bpf_map_lookup_elem(inner, &zero);
	return val ? *val : NOT_FOUND;
}

char LICENSE[] SEC("license") = "GPL";
