/* Program.attach() refuses a section with no hook of its own: a tracepoint
 * program that could attach, and a socket filter that attach() cannot. */
#include "common.h"

SEC("tp/syscalls/sys_enter_getpgid")
int tp_fine(void *ctx)
{
	return 0;
}

SEC("socket")
int sock_filter(struct __sk_buff *skb)
{
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
