/* .kconfig externs the loader answers: LINUX_KERNEL_VERSION and CONFIG_*. */
#include "common.h"

extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern _Bool CONFIG_BPF_SYSCALL __kconfig;

SEC("socket")
int kver(void *ctx)
{
	return CONFIG_BPF_SYSCALL ? (LINUX_KERNEL_VERSION >> 16) : -1;
}

char LICENSE[] SEC("license") = "GPL";
