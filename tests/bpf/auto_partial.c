/* Program.attach() all or nothing (bpfnest load --attach): the first program
 * attaches (tp/syscalls/sys_enter_getpgid), the second names a tracepoint
 * that does not exist, so attaching it fails in the kernel (ENOENT). */
#include "common.h"

SEC("tp/syscalls/sys_enter_getpgid")
int tp_fine(void *ctx)
{
	return 0;
}

SEC("tp/syscalls/sys_enter_bpfnest_none")
int tp_missing(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
