/* Events from programs: XDP programs (run here through BPF_PROG_TEST_RUN)
 * number every packet they see and report it as a struct event: `to_ring`
 * into the ring buffer `ring`, `to_perf` into the perf buffer `perf`, `sort`
 * into one of the two ring buffers held by the outer map `by_parity` (slot
 * seq % 2). What did not fit is counted in `ring_full` and `perf_failed`. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct event {
	__u64 seq;   /* numbered from 0 */
	__u32 len;   /* the packet's length */
	__u32 cpu;   /* the CPU the program ran on */
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);   /* bytes: a power of two, a multiple of the page size */
} ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
	/* no max_entries: one slot per possible CPU */
} perf SEC(".maps");

struct parity_ring {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct parity_ring);   /* slots filled from user space */
} by_parity SEC(".maps");

__u64 seq, ring_full, perf_failed;
struct event last;   /* a global of the type puts struct event in the BTF */

static __always_inline struct event next_event(struct xdp_md *ctx)
{
	struct event e = {
		.seq = __sync_fetch_and_add(&seq, 1),
		.len = ctx->data_end - ctx->data,
		.cpu = bpf_get_smp_processor_id(),
	};
	return e;
}

SEC("xdp")
int to_ring(struct xdp_md *ctx)
{
	struct event e = next_event(ctx);

	last = e;
	if (bpf_ringbuf_output(&ring, &e, sizeof(e), 0))
		__sync_fetch_and_add(&ring_full, 1);
	return XDP_PASS;
}

SEC("xdp")
int to_perf(struct xdp_md *ctx)
{
	struct event e = next_event(ctx);

	/* BPF_F_CURRENT_CPU: the slot of the CPU this runs on */
	if (bpf_perf_event_output(ctx, &perf, BPF_F_CURRENT_CPU, &e, sizeof(e)))
		__sync_fetch_and_add(&perf_failed, 1);
	return XDP_PASS;
}

SEC("xdp")
int sort(struct xdp_md *ctx)
{
	struct event e = next_event(ctx);
	__u32 slot = e.seq % 2;
	void *ring = bpf_map_lookup_elem(&by_parity, &slot);

	if (ring && bpf_ringbuf_output(ring, &e, sizeof(e), 0))
		__sync_fetch_and_add(&ring_full, 1);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
