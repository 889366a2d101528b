/* libusdt.so of tests/bin/usdt_target.c: probe libusdt:plain (no semaphore)
 * with a constant, a register and memory arguments; fire_lib() also fires
 * libusdt:gated (usdt_lib_sema.c) and returns that semaphore's value. */
#include <stdint.h>
#include <sys/sdt.h>

struct vals {
	int8_t s8;
	uint8_t u8;
	int16_t s16;
	uint16_t u16;
	int32_t s32;
	uint32_t u32;
	int64_t s64;
	uint64_t u64;
};

unsigned short fire_lib_gated(long x);

__attribute__((noinline)) unsigned short fire_lib(long x, volatile struct vals *v)
{
	STAP_PROBE4(libusdt, plain, (int16_t)-7, x, v->s32, v->u64);
	return fire_lib_gated(x);
}
