/* A .kconfig extern of a type no config value has (a struct): refused when
 * the object is read, naming the extern and the types that are allowed. */
#include "common.h"

struct opts { int a; };
extern struct opts CONFIG_BPF_SYSCALL __kconfig;

SEC("socket")
int bad(void *ctx)
{
	return CONFIG_BPF_SYSCALL.a;
}

char LICENSE[] SEC("license") = "GPL";
