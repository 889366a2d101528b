/* CO-RE engine unit test (tests/test_core.py): an XDP program reads the
 * fields of a struct laid over the packet, and stores relocated constants
 * (offsets, sizes, existence, enum values) into out[]. Relocated against
 * hand-made targets (core_target_*.c) where fields moved, changed size,
 * disappeared or carry flavors. */
#include "common.h"
#include <bpf/bpf_core_read.h>

struct inner {
	int x;
	int y;
} __attribute__((preserve_access_index));

struct thing {
	unsigned int a;
	unsigned short b;
	unsigned long long c;
	unsigned int bf1 : 3;
	unsigned int bf2 : 5;
	int sbf : 4;
	struct inner in;
	union {
		unsigned int u1;
		unsigned long long u2;
	};
	unsigned int arr[4];
	unsigned int gone;
} __attribute__((preserve_access_index));

enum color { RED = 0, GREEN = 1, BLUE = 2 };

__u64 out[24];

SEC("xdp")
int read_thing(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct thing *t = data;

	if (data + 256 > end)
		return XDP_ABORTED;
	out[0] = t->a;
	out[1] = t->b;
	out[2] = t->c;
	out[3] = BPF_CORE_READ_BITFIELD(t, bf1);
	out[4] = BPF_CORE_READ_BITFIELD(t, bf2);
	out[5] = BPF_CORE_READ_BITFIELD(t, sbf);
	out[6] = t->in.y;
	out[7] = t->u1;
	out[8] = t->arr[2];
	out[9] = bpf_core_field_offset(t->c);
	out[10] = bpf_core_field_size(t->c);
	out[11] = bpf_core_field_exists(t->gone);
	if (bpf_core_field_exists(t->gone))
		out[12] = t->gone;
	else
		out[12] = 0xdead;
	out[13] = bpf_core_type_size(struct thing);
	out[14] = bpf_core_enum_value_exists(enum color, GREEN);
	out[15] = bpf_core_enum_value(enum color, BLUE);
	out[16] = bpf_core_type_exists(struct inner);
	out[17] = bpf_core_field_offset(t->arr[2]);
	out[18] = bpf_core_field_offset(t->u2);
	out[19] = bpf_core_field_exists(t->in.x);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
