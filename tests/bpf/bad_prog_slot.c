/* A PROG_ARRAY slot past max_entries: .values = {[2] = &tail} with
 * max_entries 2 (the kernel would refuse it at load with E2BIG): a ParseError. */
#include "common.h"

SEC("socket")
int tail(void *ctx)
{
	return 1;
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, int (void *));
} bad SEC(".maps") = {
	.values = { [2] = (void *)&tail },
};

char LICENSE[] SEC("license") = "GPL";
