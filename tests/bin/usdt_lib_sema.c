/* Part of libusdt.so (tests/bin/usdt_lib.c): libusdt:gated behind a semaphore. */
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>

unsigned short libusdt_gated_semaphore __attribute__((section(".probes")));

__attribute__((noinline)) unsigned short fire_lib_gated(long x)
{
	unsigned short seen = libusdt_gated_semaphore;

	if (seen)
		STAP_PROBE1(libusdt, gated, x);
	return seen;
}
