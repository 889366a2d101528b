/* A .kconfig extern far larger than any config value (3.75 GiB): the parser
 * refuses it before anything allocates its size. */
#include "common.h"

extern char CONFIG_X[0xF0000000] __kconfig;

SEC("socket")
int huge(void *ctx)
{
	return CONFIG_X[0];
}

char LICENSE[] SEC("license") = "GPL";
