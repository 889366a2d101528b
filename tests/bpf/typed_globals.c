/* Typed global variables (Collection.variables, CollectionSpec.variables):
 * a struct in .rodata set before load, a struct in .bss and a signed int in
 * .data read and written through mmap while the program runs. */
#include "common.h"

struct config {
	__u32 limit;
	__u16 port;
	char name[8];
};

struct counters {
	__u64 hits;
	__u64 runs;
};

const volatile struct config cfg = { .limit = 10, .port = 80, .name = "web" };
struct counters stats;            /* .bss */
__s32 offset = -5;                /* .data */

SEC("xdp")
int run(struct xdp_md *ctx)
{
	stats.hits += cfg.limit + offset;
	stats.runs += 1;
	return cfg.port;
}

char LICENSE[] SEC("license") = "GPL";
