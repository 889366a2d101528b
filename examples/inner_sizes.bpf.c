/* Inner array maps of different sizes, with BPF_F_INNER_MAP.
 *
 * For ARRAY inner maps the kernel normally demands the template's
 * max_entries: the verifier inlines array lookups with the template's size
 * baked in. When the template and every inner map carry BPF_F_INNER_MAP
 * (kernel 5.10+), the lookup stays a helper call that checks the index
 * against the actual inner map's size at run time, so sizes may differ.
 *
 * As in libbpf's selftest (outer_arr_dyn), the template is an anonymous
 * struct, so the slots need a (void *) cast. by_size holds `small` (4
 * entries) at slot 0 and `medium` (16) at slot 1; user space adds more. The
 * program returns inner[entry] of by_size[slot] (both globals), NO_SLOT for
 * an empty slot, OUT_OF_RANGE for an entry beyond that inner map's size. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define NO_SLOT 0xffff
#define OUT_OF_RANGE 0xfffe

struct small_array {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_INNER_MAP);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} small SEC(".maps");

struct medium_array {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_INNER_MAP);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u32);
} medium SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct {       /* the template: any max_entries will do */
		__uint(type, BPF_MAP_TYPE_ARRAY);
		__uint(map_flags, BPF_F_INNER_MAP);
		__uint(max_entries, 1);
		__type(key, __u32);
		__type(value, __u32);
	});
} by_size SEC(".maps") = {
	.values = { [0] = (void *)&small, [1] = (void *)&medium },
};

__u32 slot = 0, entry = 0;   /* .bss: what to read */

SEC("xdp")
int read_sized(struct xdp_md *ctx)
{
	__u32 s = slot, i = entry;
	__u32 *val;
	void *inner = bpf_map_lookup_elem(&by_size, &s);

	if (!inner)
		return NO_SLOT;
	val = bpf_map_lookup_elem(inner, &i);   /* NULL beyond this inner map's size */
	return val ? *val : OUT_OF_RANGE;
}

char LICENSE[] SEC("license") = "GPL";
