/* An atomic configuration swap. The configuration is a whole inner map: the
 * weights of 8 load-balancer backends, one per index. `active` holds the
 * current one in its only slot; user space builds the next configuration in
 * a new map and swaps the slot.
 *
 * Every value carries the version of its configuration in its top 16 bits
 * (the weight is in the low 16), so the program can tell a consistent
 * configuration from a mix of two: it returns the version, TORN for a mix,
 * NO_CONFIG when the slot is empty. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define BACKENDS 8
#define NO_CONFIG 1000
#define TORN 1001

struct config {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BACKENDS);
	__type(key, __u32);
	__type(value, __u32);   /* version << 16 | weight */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct config);   /* no slots declared: user space fills slot 0 */
} active SEC(".maps");

SEC("xdp")
int read_config(struct xdp_md *ctx)
{
	__u32 zero = 0, version = 0;
	void *config = bpf_map_lookup_elem(&active, &zero);   /* one lookup: one config */

	if (!config)
		return NO_CONFIG;
	for (__u32 i = 0; i < BACKENDS; i++) {
		__u32 *value = bpf_map_lookup_elem(config, &i);

		if (!value)
			return NO_CONFIG;
		if (i == 0)
			version = *value >> 16;
		else if (*value >> 16 != version)
			return TORN;
	}
	return version;
}

char LICENSE[] SEC("license") = "GPL";
