/* .kconfig externs too narrow for their value: LINUX_KERNEL_VERSION in one
 * byte (it needs 3 here: KERNEL_VERSION(6, 18, x) is 0x0612xx). Loading says
 * which extern and how many bytes it needs. */
#include "common.h"

extern char LINUX_KERNEL_VERSION __kconfig;

SEC("socket")
int narrow(void *ctx)
{
	return LINUX_KERNEL_VERSION;
}

char LICENSE[] SEC("license") = "GPL";
