/* Names that clash once the test renames them in the object's bytes (clang
 * refuses two symbols of one name): BTF maps dupa/dupb, programs proga/progb,
 * and a legacy map xrodata that becomes ".rodata", the name of the constants'
 * section. Unrenamed, everything here is well-formed and get_answer returns 42. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} dupa SEC(".maps"), dupb SEC(".maps");

struct bpf_map_def SEC("maps") xrodata = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u32),
	.max_entries = 1,
};

const volatile int answer = 42;

SEC("socket")
int proga(void *ctx)
{
	__u32 zero = 0;
	__u32 *a = bpf_map_lookup_elem(&dupa, &zero);
	__u32 *b = bpf_map_lookup_elem(&dupb, &zero);
	__u32 *c = bpf_map_lookup_elem(&xrodata, &zero);
	return (a ? *a : 0) + (b ? *b : 0) + (c ? *c : 0);
}

SEC("socket")
int progb(void *ctx)
{
	return answer;
}

char LICENSE[] SEC("license") = "GPL";
