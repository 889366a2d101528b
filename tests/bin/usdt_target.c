/* The target of the USDT tests (tests/test_usdt.py), compiled by gcc in the
 * test run with <sys/sdt.h> (systemtap-sdt-dev), together with usdt_sema.c and
 * linked against libusdt.so (usdt_lib.c, usdt_lib_sema.c).
 *
 * Provider "bpfnest", one probe per kind of argument, each with the same eight
 * values (sizes 1, 2, 4 and 8; signed and unsigned):
 *   consts  constants (N@$V; the 8-byte ones land in registers)
 *   regs    registers (N@%reg) and the stack (N@OFF(%rsp)): a function's arguments
 *   mem     memory through a register (N@(%rdi), N@OFF(%rdi))
 *   multi   two sites: 1@$1 and -4@%reg (its argument is 2)
 *   rip     a global variable (-4@counter(%rip)): an argument libbpf does not parse
 *   gated   (usdt_sema.c) behind a semaphore
 * Each line "go" read from stdin fires every probe once (and the library's),
 * then prints "done S L" (S, L: the executable's and the library's semaphore
 * values) and flushes; end of input exits. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/sdt.h>

#define VALUES -5, 250, -3000, 65000, -100000, 4000000000u, -5000000000LL, 18000000000000000000ull

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

int counter = 7;

unsigned short fire_gated(long x);
unsigned short fire_lib(long x, volatile struct vals *v);

__attribute__((noinline)) void fire_mem(volatile struct vals *v)
{
	STAP_PROBE8(bpfnest, mem, v->s8, v->u8, v->s16, v->u16, v->s32, v->u32, v->s64, v->u64);
}

__attribute__((noinline)) void fire_regs(int8_t a, uint8_t b, int16_t c, uint16_t d, int32_t e,
					 uint32_t f, int64_t g, uint64_t h)
{
	STAP_PROBE8(bpfnest, regs, a, b, c, d, e, f, g, h);
}

__attribute__((noinline)) void fire_multi(int x)
{
	STAP_PROBE1(bpfnest, multi, 1);
	STAP_PROBE1(bpfnest, multi, x);
}

static void fire(void)
{
	volatile struct vals v = {VALUES};
	unsigned short sema, lib;

	STAP_PROBE8(bpfnest, consts, (int8_t)-5, (uint8_t)250, (int16_t)-3000, (uint16_t)65000,
		    (int32_t)-100000, (uint32_t)4000000000u, (int64_t)-5000000000LL,
		    (uint64_t)18000000000000000000ull);
	fire_regs(VALUES);
	fire_mem(&v);
	fire_multi(2);
	STAP_PROBE1(bpfnest, rip, counter);
	sema = fire_gated(42);
	lib = fire_lib(43, &v);
	printf("done %u %u\n", sema, lib);
	fflush(stdout);
}

int main(void)
{
	char line[64];

	while (fgets(line, sizeof(line), stdin))
		if (strncmp(line, "go", 2) == 0)
			fire();
	return 0;
}
