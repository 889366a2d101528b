/* Typed data (bpfnest.btf.values): structs whose layout the Python codec must
 * match byte for byte: padding, packed, over-aligned, unions, anonymous
 * members, bitfields (signed too), arrays of arrays, enums of 1 and 8 bytes,
 * bool, pointers, __int128, floats. `layout` holds what clang computes
 * (sizeof/offsetof); `fill` writes known values into `all_out` and `check`
 * compares `all_in` with the same values, so values round-trip through the
 * kernel in both directions, bitfields included. */
#include "common.h"
#include <stdbool.h>
#include <stddef.h>

enum small { S_A = -1, S_B = 7 } __attribute__((packed));
enum big64 { B_LOW = 1, B_HIGH = 0x100000000ULL };

struct inner {
	__u16 x;
	__u8 y;
};

struct all {
	__u8 u8;
	__s8 s8;
	__u16 u16;
	__s16 s16;
	__u32 u32;
	__s32 s32;
	__u64 u64;
	__s64 s64;
	bool flag;
	enum small sm;
	enum big64 b64;
	char name[6];
	__u8 mac[6];
	struct inner in[2];
	__u32 grid[2][3];
	void *ptr;
	union {
		__u32 word;
		__u8 bytes[4];
	};
	struct {
		__u16 lo, hi;
	} pair;
	__u32 f1 : 3, f2 : 13;
	__s32 f3 : 5;
	__u8 tail;
};

struct __attribute__((packed)) packed {
	__u8 a;
	__u32 b;
	__u16 c;
};

struct aligned16 {
	__u8 a;
	__u64 b __attribute__((aligned(16)));
};

union variant {
	__u64 q;
	struct inner in;
	__u8 raw[12];
};

struct anon_bits {
	__u32 a;
	struct {
		__u32 lo : 4, hi : 28;
	};
};

struct wide {
	unsigned __int128 big;
	__s64 after;
	float f;
	double d;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct all);
} all_in SEC(".maps"), all_out SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, struct packed);
	__type(value, union variant);
} packed_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, struct aligned16);
	__type(value, struct wide);
} wide_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct anon_bits);
} anon_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct aligned16);
} mapped SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, enum small);
	__type(value, bool);
} by_enum SEC(".maps");

typedef struct {
	__u32 addr;
	__u16 port;
} endpoint_t;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4);
	__type(key, endpoint_t);
	__type(value, __s64);
} endpoints SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct inner);
} per_cpu SEC(".maps");

/* clang's own layout: sizeof and offsetof, in the order the test reads them. */
__u32 layout[] = {
	sizeof(struct all), offsetof(struct all, u8), offsetof(struct all, s8),
	offsetof(struct all, u16), offsetof(struct all, s16), offsetof(struct all, u32),
	offsetof(struct all, s32), offsetof(struct all, u64), offsetof(struct all, s64),
	offsetof(struct all, flag), offsetof(struct all, sm), offsetof(struct all, b64),
	offsetof(struct all, name), offsetof(struct all, mac), offsetof(struct all, in),
	offsetof(struct all, grid), offsetof(struct all, ptr), offsetof(struct all, word),
	offsetof(struct all, pair), offsetof(struct all, tail),
	sizeof(struct packed), offsetof(struct packed, a), offsetof(struct packed, b),
	offsetof(struct packed, c),
	sizeof(struct aligned16), offsetof(struct aligned16, a), offsetof(struct aligned16, b),
	sizeof(union variant), sizeof(struct inner),
	sizeof(struct wide), offsetof(struct wide, big), offsetof(struct wide, after),
	offsetof(struct wide, f), offsetof(struct wide, d),
};

static void expected(struct all *v)
{
	v->u8 = 0xfe;
	v->s8 = -3;
	v->u16 = 0xbeef;
	v->s16 = -1234;
	v->u32 = 0xdeadbeef;
	v->s32 = -123456;
	v->u64 = 0x1122334455667788ULL;
	v->s64 = -5;
	v->flag = true;
	v->sm = S_A;
	v->b64 = B_HIGH;
	__builtin_memcpy(v->name, "bpf", 4);
	for (int i = 0; i < 6; i++)
		v->mac[i] = i + 1;
	v->in[0].x = 0x1234;
	v->in[0].y = 9;
	v->in[1].x = 7;
	v->in[1].y = 255;
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < 3; j++)
			v->grid[i][j] = 3 * i + j + 1;
	v->ptr = (void *)0x1000;
	v->word = 0x01020304;
	v->pair.lo = 10;
	v->pair.hi = 20;
	v->f1 = 5;
	v->f2 = 4000;
	v->f3 = -7;
	v->tail = 0x42;
}

SEC("xdp")
int fill(struct xdp_md *ctx)
{
	__u32 key = 0;
	struct all *v = bpf_map_lookup_elem(&all_out, &key);
	struct inner *p = bpf_map_lookup_elem(&per_cpu, &key);

	if (!v || !p)
		return 1;
	__builtin_memset(v, 0, sizeof(*v));
	expected(v);
	p->x = 0xabcd;
	p->y = 3;
	return 0;
}

/* 0 when all_in[0] holds exactly what expected() writes, else a mask of the fields that differ. */
SEC("xdp")
int check(struct xdp_md *ctx)
{
	__u32 key = 0;
	struct all *got = bpf_map_lookup_elem(&all_in, &key);
	struct all want;
	__u32 bad = 0;

	if (!got)
		return -1;
	__builtin_memset(&want, 0, sizeof(want));
	expected(&want);
	bad |= (got->u8 != want.u8) << 0;
	bad |= (got->s8 != want.s8) << 1;
	bad |= (got->u16 != want.u16 || got->s16 != want.s16) << 2;
	bad |= (got->u32 != want.u32 || got->s32 != want.s32) << 3;
	bad |= (got->u64 != want.u64 || got->s64 != want.s64) << 4;
	bad |= (got->flag != want.flag || got->sm != want.sm || got->b64 != want.b64) << 5;
	bad |= (__builtin_memcmp(got->name, want.name, 4) != 0) << 6;
	bad |= (got->mac[0] != 1 || got->mac[5] != 6) << 7;
	bad |= (got->in[0].x != want.in[0].x || got->in[1].y != want.in[1].y) << 8;
	bad |= (got->grid[0][0] != 1 || got->grid[1][2] != 6) << 9;
	bad |= (got->ptr != want.ptr || got->word != want.word) << 10;
	bad |= (got->pair.lo != want.pair.lo || got->pair.hi != want.pair.hi) << 11;
	bad |= (got->f1 != want.f1) << 12;
	bad |= (got->f2 != want.f2) << 13;
	bad |= (got->f3 != want.f3) << 14;
	bad |= (got->tail != want.tail) << 15;
	return bad;
}

char LICENSE[] SEC("license") = "GPL";
