/* Part of tests/bin/usdt_target.c: probe bpfnest:gated behind a semaphore
 * (a separate file: with _SDT_HAS_SEMAPHORES every probe of a file has one).
 * It fires only while the semaphore is non-zero, i.e. while a tracer (the
 * uprobe's ref_ctr_offset) is attached. Returns the semaphore's value. */
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>

unsigned short bpfnest_gated_semaphore __attribute__((section(".probes")));

__attribute__((noinline)) unsigned short fire_gated(long x)
{
	unsigned short seen = bpfnest_gated_semaphore;

	if (seen)
		STAP_PROBE2(bpfnest, gated, x, seen);
	return seen;
}
