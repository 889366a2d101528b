/* Shared by the test programs: the uapi and libbpf's helper declarations
 * (headers only: bpfnest itself never links libbpf). */
#ifndef BPFNEST_TEST_COMMON_H
#define BPFNEST_TEST_COMMON_H
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* The legacy map definition that libbpf 1.x removed from bpf_helpers.h. */
struct bpf_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};
#endif
