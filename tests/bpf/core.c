/* A CO-RE relocation (preserve_access_index) of a type the kernel lacks,
 * unguarded: the instruction is poisoned, and the load must fail naming the
 * program, the instruction and struct task_like.tgid. */
#include "common.h"

struct task_like {
	int pid;
	int tgid;
} __attribute__((preserve_access_index));

SEC("socket")
int uses_core(void *ctx)
{
	struct task_like *t = (void *)0;
	return __builtin_preserve_access_index(&t->tgid) ? 1 : 0;
}

char LICENSE[] SEC("license") = "GPL";
