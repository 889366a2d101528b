/* libbpf's own .kconfig externs (issue 19 item 4), answered by the loader
 * from probes of the running kernel: the program returns
 * LINUX_HAS_BPF_COOKIE * 2 + LINUX_HAS_SYSCALL_WRAPPER. */
#include "common.h"

extern _Bool LINUX_HAS_BPF_COOKIE __kconfig;
extern _Bool LINUX_HAS_SYSCALL_WRAPPER __kconfig;

SEC("socket")
int answers(void *ctx)
{
	return LINUX_HAS_BPF_COOKIE * 2 + LINUX_HAS_SYSCALL_WRAPPER;
}

char LICENSE[] SEC("license") = "GPL";
