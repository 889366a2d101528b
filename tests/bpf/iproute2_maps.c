/* iproute2's struct bpf_elf_map (include/bpf_elf.h): map_outer's inner_id
 * names map_inner's id (its template), and map_inner's inner_idx 0 declares
 * it at slot 0 of map_outer; pinning PIN_GLOBAL_NS pins at
 * <pin root>/tc/globals/NAME, PIN_OBJECT_NS at <pin root>/tc/<SHA-1>/NAME.
 * The program counts in obj_counter and returns map_inner[0] via map_outer[0]. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define PIN_NONE	0
#define PIN_OBJECT_NS	1
#define PIN_GLOBAL_NS	2
#define NO_PREPOPULATE	-1

struct bpf_elf_map {
	__u32 type;
	__u32 size_key;
	__u32 size_value;
	__u32 max_elem;
	__u32 flags;
	__u32 id;
	__u32 pinning;
	__u32 inner_id;
	__u32 inner_idx;
};

struct bpf_elf_map SEC("maps") map_inner = {
	.type = BPF_MAP_TYPE_ARRAY,
	.size_key = sizeof(__u32),
	.size_value = sizeof(__u32),
	.max_elem = 1,
	.id = 7,
	.inner_idx = 0,
	.pinning = PIN_GLOBAL_NS,
};

struct bpf_elf_map SEC("maps") map_outer = {
	.type = BPF_MAP_TYPE_ARRAY_OF_MAPS,
	.size_key = sizeof(__u32),
	.size_value = sizeof(__u32),
	.max_elem = 2,
	.inner_id = 7,
	.pinning = PIN_GLOBAL_NS,
};

struct bpf_elf_map SEC("maps") obj_counter = {
	.type = BPF_MAP_TYPE_ARRAY,
	.size_key = sizeof(__u32),
	.size_value = sizeof(__u64),
	.max_elem = 1,
	.pinning = PIN_OBJECT_NS,
	.inner_idx = NO_PREPOPULATE,
};

SEC("classifier")
int read_inner(struct __sk_buff *skb)
{
	__u32 zero = 0;
	__u32 *inner, *val;
	__u64 *count;

	count = bpf_map_lookup_elem(&obj_counter, &zero);
	if (count)
		__sync_fetch_and_add(count, 1);
	inner = bpf_map_lookup_elem(&map_outer, &zero);
	if (!inner)
		return 0;
	val = bpf_map_lookup_elem(inner, &zero);
	return val ? *val : 0;
}

char LICENSE[] SEC("license") = "GPL";
