/* `bpfnest gen`: maps and globals of every kind of type the generated module
 * declares (struct, union, enum, nested, arrays, char arrays, bitfields,
 * per-CPU values, an outer map with an inner map), and names Python cannot
 * take as they are (a field named `class`, a map named `lambda`, `.bss`), and
 * fields that shadow the names of classes and builtins. */
#include "common.h"

enum proto { PROTO_TCP = 6, PROTO_UDP = 17 };

struct addr {
	__u32 ip;
	__u16 port;
	__u8 proto;
	__u8 pad;
};

union word {
	__u32 u;
	__s16 halves[2];
};

struct flow {
	struct addr src;
	struct addr dst;
	union word tag;
	__u8 class;
	__u8 low : 3, high : 5;
	char label[8];
	__u64 counts[2];
	enum proto kind;
	struct addr addr;  /* a field named like a class: annotated through an alias */
};

typedef struct {
	__u64 packets;
	__u64 bytes;
	char note[8];  /* after a field named `bytes`: annotated `_builtins.bytes` */
} counter_t;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, struct addr);
	__type(value, struct flow);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, counter_t);
} lambda SEC(".maps");

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct addr);
} backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, struct addr);
	__array(values, struct inner);
} services SEC(".maps");

__u64 hits = 0;
struct addr last_seen = {};
const volatile __u32 limit = 10;
enum proto default_proto = PROTO_TCP;

SEC("xdp")
int count(struct xdp_md *ctx)
{
	struct addr key = { .ip = 1, .port = 2, .proto = PROTO_TCP };
	struct flow *f = bpf_map_lookup_elem(&flows, &key);
	__u32 zero = 0;
	counter_t *c = bpf_map_lookup_elem(&lambda, &zero);

	if (c)
		c->packets++;
	if (f && hits < limit)
		last_seen = f->src;
	hits++;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
