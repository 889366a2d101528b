/* BTF parser fixture: its .BTF holds every kind (INT of several sizes and
 * signedness, char, _Bool, PTR, ARRAY, STRUCT with bitfields and a nested
 * anonymous union, UNION, ENUM, a 64-bit ENUM, FWD, TYPEDEF, VOLATILE, CONST,
 * RESTRICT, FUNC, FUNC_PROTO, VAR, DATASEC, FLOAT, DECL_TAG, TYPE_TAG) and its
 * .BTF.ext func_info/line_info for a program and a static subprogram.
 * tests/test_btf.py asserts on literal line numbers: edit with care. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct undeclared;                       /* FWD (struct) */
union undeclared_u;                      /* FWD (union) */

typedef unsigned int u32_t;              /* TYPEDEF */

enum color { RED, GREEN = 5, BLUE = -1 };
enum big { SMALL = 1, B = 0x100000000ULL };

struct packet {
	unsigned char tag;                   /* bits 0..7 */
	unsigned int flags : 3;              /* bitfield */
	unsigned int kind : 5;               /* bitfield */
	signed char delta;
	union {                              /* nested anonymous union */
		unsigned int word;
		unsigned short half[2];
	};
	long long when;
	struct undeclared *opaque;           /* pointer to FWD */
	union undeclared_u *opaque_u;
	enum color color;
	enum big big;
	float ratio;
	double precise;
	_Bool ok;
	char name[6];
	u32_t id __attribute__((btf_decl_tag("key")));        /* DECL_TAG on member 14 */
	short s;
	unsigned long ul;
	const volatile int *cv;
	int __attribute__((btf_type_tag("user"))) *tagged;  /* PTR -> TYPE_TAG -> int */
} __attribute__((btf_decl_tag("pkt")));                  /* DECL_TAG */

union either {
	int i;
	long l;
};

struct packet pkt_data = { .tag = 1 };        /* .data, offset 0 */
int counter = 3;                              /* .data, offset 104 */
union either bss_either;                      /* .bss */
const volatile int ro_value = 42;             /* .rodata */
int extra_var SEC(".data.extra") = 9;         /* .data.extra */

static __attribute__((noinline)) int
add_fields(struct packet *restrict p, int scale __attribute__((btf_decl_tag("arg"))))
{
	return p->tag * scale + p->flags;
}

SEC("xdp")
int prog(struct xdp_md *ctx)
{
	int r = add_fields(&pkt_data, ro_value);
	bss_either.i = r + counter;
	return r + extra_var;
}

char LICENSE[] SEC("license") = "GPL";
