/* Ring buffer producers (issue 15): XDP programs run through BPF_PROG_TEST_RUN
 * write numbered records into `events` with bpf_ringbuf_output (sizes 8..15,
 * so lengths are rounded up to 8) or reserve + submit, discarding every third
 * (emit_reserve); a raw tracepoint on sys_enter writes one record per getpgid
 * call of the process in config[0] (the syscall number is config[1]).
 * stats[0] is the next sequence number, stats[1] the records the ring had no
 * room for. A record is {u64 seq; u8 fill[size - 8]} with fill bytes = seq. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16384);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} config SEC(".maps");

static __always_inline __u64 *slot(void *map, __u32 key)
{
	return bpf_map_lookup_elem(map, &key);
}

static __always_inline void dropped(void)
{
	__u64 *n = slot(&stats, 1);

	if (n)
		__sync_fetch_and_add(n, 1);
}

/* Reserve 16 bytes, number it, and submit it (or discard it when `discard`
 * says so for its number). */
static __always_inline void reserve_one(int discard_every)
{
	__u64 *next = slot(&stats, 0);
	__u64 *rec, seq;

	if (!next)
		return;
	rec = bpf_ringbuf_reserve(&events, 16, 0);
	if (!rec) {
		dropped();
		return;
	}
	seq = __sync_fetch_and_add(next, 1);
	rec[0] = seq;
	rec[1] = ~seq;
	if (discard_every && seq % discard_every == 0)
		bpf_ringbuf_discard(rec, 0);
	else
		bpf_ringbuf_submit(rec, 0);
}

SEC("xdp")
int emit_output(struct xdp_md *ctx)
{
	__u8 buf[16];
	__u64 *next = slot(&stats, 0);
	__u64 seq, size;
	int i;

	if (!next)
		return XDP_PASS;
	seq = __sync_fetch_and_add(next, 1);
	*(__u64 *)buf = seq;
	for (i = 8; i < 16; i++)
		buf[i] = (__u8)seq;
	size = 8 + (seq & 7);
	if (bpf_ringbuf_output(&events, buf, size, 0))
		dropped();
	return XDP_PASS;
}

SEC("xdp")
int emit_reserve(struct xdp_md *ctx)
{
	reserve_one(3);
	return XDP_PASS;
}

SEC("raw_tp/sys_enter")
int emit_getpgid(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 *pid = slot(&config, 0), *nr = slot(&config, 1);

	if (!pid || !nr || ctx->args[1] != *nr || (bpf_get_current_pid_tgid() >> 32) != *pid)
		return 0;
	reserve_one(0);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
