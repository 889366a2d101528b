/* Global data and subprograms: .data, .rodata (frozen), .bss and a named
 * .data.extra section become array maps; static noinline subprograms in
 * .text are called from two programs. */
#include "common.h"

int counter = 7;                       /* .data */
const volatile int factor = 3;         /* .rodata */
int zeroed;                            /* .bss */
int extra SEC(".data.extra") = 40;    /* .data.extra */

static __attribute__((noinline)) int scale(int x)
{
	return x * factor;
}

static __attribute__((noinline)) int bump(int by)
{
	counter += by;
	zeroed += 1;
	return counter;
}

SEC("xdp")
int use_globals(struct xdp_md *ctx)
{
	return scale(bump(1)) + extra;  /* (counter+1)*factor + extra */
}

SEC("socket")
int use_scale(void *ctx)
{
	return scale(2);
}

char LICENSE[] SEC("license") = "GPL";
