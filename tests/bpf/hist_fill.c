/* Histograms filled through test_run (tests/test_hist.py, tests/test_top.py):
 * the packet carries a __u64 value at byte 14 and a __u32 tag at byte 22;
 * fill() adds the value's log2 slot (libbpf-tools' log2l: slot 0 holds 0 and
 * 1) to an ARRAY of __u64 slots, a PERCPU_ARRAY of __u64 slots, and the
 * struct hist of the tag in a HASH (runqlat's per-key layout), and the
 * value itself, capped at 9, to a linear ARRAY. */
#include "common.h"
#include <linux/pkt_cls.h>

#define MAX_SLOTS 26

struct hist {
	__u32 slots[MAX_SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} log2_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} log2_percpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 10);
	__type(key, __u32);
	__type(value, __u32);
} linear_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, struct hist);
} hists SEC(".maps");

/* Not a histogram: a HASH of plain counters (map hist refuses it). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} not_hist SEC(".maps");

static __always_inline __u64 log2(__u32 v)
{
	__u32 shift, r;

	r = (v > 0xFFFF) << 4;
	v >>= r;
	shift = (v > 0xFF) << 3;
	v >>= shift;
	r |= shift;
	shift = (v > 0xF) << 2;
	v >>= shift;
	r |= shift;
	shift = (v > 0x3) << 1;
	v >>= shift;
	r |= shift;
	r |= (v >> 1);
	return r;
}

static __always_inline __u64 log2l(__u64 v)
{
	__u32 hi = v >> 32;

	return hi ? log2(hi) + 32 : log2(v);
}

static struct hist zero;

SEC("tc")
int fill(struct __sk_buff *skb)
{
	__u64 value;
	__u32 tag, slot, lin;
	struct hist *h;
	__u64 *c;

	if (bpf_skb_load_bytes(skb, 14, &value, sizeof(value)) ||
	    bpf_skb_load_bytes(skb, 22, &tag, sizeof(tag)))
		return TC_ACT_OK;
	slot = log2l(value);
	c = bpf_map_lookup_elem(&log2_slots, &slot);
	if (c)
		__sync_fetch_and_add(c, 1);
	c = bpf_map_lookup_elem(&log2_percpu, &slot);
	if (c)
		*c += 1;
	lin = value > 9 ? 9 : value;
	__u32 *l = bpf_map_lookup_elem(&linear_slots, &lin);
	if (l)
		__sync_fetch_and_add(l, 1);
	h = bpf_map_lookup_elem(&hists, &tag);
	if (!h) {
		bpf_map_update_elem(&hists, &tag, &zero, BPF_NOEXIST);
		h = bpf_map_lookup_elem(&hists, &tag);
		if (!h)
			return TC_ACT_OK;
	}
	if (slot >= MAX_SLOTS)
		slot = MAX_SLOTS - 1;
	__sync_fetch_and_add(&h->slots[slot], 1);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
