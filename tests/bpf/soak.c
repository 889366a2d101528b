/* The soak test's reader (tests/test_soak.py): a program that keeps reading
 * through two outer maps while user space replaces and drops their inner maps.
 *
 * Every inner map is an ARRAY of SOAK_ENTRIES `struct gen_value`, all filled
 * by user space before the map is put in: entry i holds {gen, SOAK_MAGIC,
 * ~gen, i} for the map's generation `gen` (never 0). A map read while freed,
 * or put in half filled, shows up as an entry that breaks this rule.
 *
 * The program reads `slot[0]` (ARRAY_OF_MAPS, swapped by user space) and
 * `churn[key]` (HASH_OF_MAPS, filled and emptied by batches), with `key`
 * taken from the packet. It writes what it saw into the packet (struct
 * report: test_run returns it as data_out), counts every outcome in `stats`
 * (so test_run with repeat > 1 is checked on every run, not only the last),
 * and returns SOAK_OK, or SOAK_BAD when an entry broke the rule. */
#include "common.h"

#define SOAK_MAGIC 0x50a1c0deu
#define SOAK_ENTRIES 4
#define SOAK_OK 2 /* XDP_PASS */
#define SOAK_BAD 0xbad

/* Outcome of one read through an outer map (report.*_state). */
#define SEEN_NONE 0	/* no inner map at the key */
#define SEEN_GOOD 1	/* every entry follows the rule, one generation */
#define SEEN_BAD 2	/* an entry broke the rule, or an element was missing */

/* Indexes of `stats` (u64 counters). */
enum {
	STAT_RUNS,
	STAT_SLOT_NONE,
	STAT_SLOT_GOOD,
	STAT_SLOT_BAD,
	STAT_CHURN_NONE,
	STAT_CHURN_GOOD,
	STAT_CHURN_BAD,
	STAT_MAX,
};

struct gen_value {
	__u32 gen;
	__u32 magic;
	__u32 not_gen;
	__u32 index;
};

/* The packet: churn_key is input, the rest output. 80 bytes. */
struct report {
	__u32 churn_key;
	__u32 slot_state;
	__u32 churn_state;
	__u32 churn_gen;
	struct gen_value slot_seen[SOAK_ENTRIES];
};

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SOAK_ENTRIES);
	__type(key, __u32);
	/* A size, not a type: the struct would reach BTF only as a FWD (no
	 * global uses it), and a FWD has no size. */
	__uint(value_size, sizeof(struct gen_value));
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct inner);
} slot SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 128);
	__type(key, __u32);
	__array(values, struct inner);
} churn SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline void count(__u32 stat)
{
	__u64 *n = bpf_map_lookup_elem(&stats, &stat);

	if (n)
		__sync_fetch_and_add(n, 1);
}

/* Read every entry of `inner` into `seen` (when not NULL); return SEEN_GOOD
 * with *gen set, or SEEN_BAD. */
static __always_inline __u32 check_inner(void *inner, struct gen_value *seen, __u32 *gen)
{
	__u32 i, first = 0, state = SEEN_GOOD;

#pragma unroll
	for (i = 0; i < SOAK_ENTRIES; i++) {
		__u32 key = i;
		struct gen_value *v = bpf_map_lookup_elem(inner, &key);

		if (!v)
			return SEEN_BAD;
		if (seen)
			seen[i] = *v;
		if (i == 0)
			first = v->gen;
		if (v->gen == 0 || v->gen != first || v->magic != SOAK_MAGIC ||
		    v->not_gen != ~v->gen || v->index != i)
			state = SEEN_BAD;
	}
	*gen = first;
	return state;
}

SEC("xdp")
int soak_read(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct report *out = data;
	__u32 zero = 0, gen = 0, key;
	void *inner;

	if ((void *)(out + 1) > data_end)
		return SOAK_BAD;
	count(STAT_RUNS);

	inner = bpf_map_lookup_elem(&slot, &zero);
	if (!inner) {
		out->slot_state = SEEN_NONE;
		__builtin_memset(out->slot_seen, 0, sizeof(out->slot_seen));
		count(STAT_SLOT_NONE);
	} else {
		out->slot_state = check_inner(inner, out->slot_seen, &gen);
		count(out->slot_state == SEEN_GOOD ? STAT_SLOT_GOOD : STAT_SLOT_BAD);
	}

	key = out->churn_key;
	gen = 0;
	inner = bpf_map_lookup_elem(&churn, &key);
	if (!inner) {
		out->churn_state = SEEN_NONE;
		count(STAT_CHURN_NONE);
	} else {
		out->churn_state = check_inner(inner, NULL, &gen);
		count(out->churn_state == SEEN_GOOD ? STAT_CHURN_GOOD : STAT_CHURN_BAD);
	}
	out->churn_gen = gen;

	if (out->slot_state == SEEN_BAD || out->churn_state == SEEN_BAD)
		return SOAK_BAD;
	return SOAK_OK;
}

char LICENSE[] SEC("license") = "GPL";
