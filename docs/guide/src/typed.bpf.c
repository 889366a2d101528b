/* Typed data: an XDP program (run here through BPF_PROG_TEST_RUN) that
 * counts packets per flow in `flows` (a struct key, a struct value with an
 * enum and bitfields) and drops the flows user space marked DENY; `totals`
 * is an F_MMAPABLE array user space reads without a syscall; `dropped`
 * (.bss) counts the drops and `deny` (.rodata) is set before load. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

enum verdict { ALLOW = 1, DENY = 2 };

struct flow {
	__u32 saddr, daddr;
	__u16 sport, dport;
	__u8 proto;        /* then 3 bytes of padding: the key is 16 bytes */
};

struct stats {
	__u64 packets;
	__u64 bytes;
	enum verdict verdict;
	__u32 seen : 1, priority : 3;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct flow);
	__type(value, struct stats);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);          /* [0] packets, [1] bytes */
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
} totals SEC(".maps");

const volatile enum verdict deny = DENY;   /* .rodata: set before load, frozen at load */
__u64 dropped;                              /* .bss */

SEC("xdp")
int count(struct xdp_md *ctx)
{
	struct flow f = { .saddr = 0x0100000a, .daddr = 0x0200000a, .sport = 4242,
			  .dport = 80, .proto = 6 };   /* a real program parses the packet */
	__u64 len = ctx->data_end - ctx->data;
	__u32 k0 = 0, k1 = 1;
	__u64 *packets = bpf_map_lookup_elem(&totals, &k0);
	__u64 *bytes = bpf_map_lookup_elem(&totals, &k1);
	struct stats *s = bpf_map_lookup_elem(&flows, &f);

	if (packets && bytes) {
		__sync_fetch_and_add(packets, 1);
		__sync_fetch_and_add(bytes, len);
	}
	if (!s) {
		struct stats fresh = { .packets = 1, .bytes = len, .verdict = ALLOW, .seen = 1 };

		bpf_map_update_elem(&flows, &f, &fresh, BPF_NOEXIST);
		return XDP_PASS;
	}
	__sync_fetch_and_add(&s->packets, 1);
	__sync_fetch_and_add(&s->bytes, len);
	if (s->verdict != deny)
		return XDP_PASS;
	__sync_fetch_and_add(&dropped, 1);
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
