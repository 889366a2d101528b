/* __ksym externs (issue 16): typed ones resolved through the kernel's BTF
 * (per-cpu VARs bpf_prog_active and runqueues: ld_imm64 with
 * BPF_PSEUDO_BTF_ID), an untyped one from /proc/kallsyms (the function
 * bpf_prog_put: its address in the two imm halves), weak ones the kernel
 * lacks (0), and kfunc calls (BPF_PSEUDO_KFUNC_CALL: the open-coded number
 * iterator of the common kfunc set), one weak kfunc guarded by its address. */
#include "common.h"

struct rq { int opaque; }; /* only its address is used: any struct is compatible */
struct bpf_iter_num { unsigned long long opaque[1]; } __attribute__((aligned(8)));

extern const int bpf_prog_active __ksym;
extern const struct rq runqueues __ksym;
extern const int bpfnest_no_such_var __ksym __weak;
extern const void bpf_prog_put __ksym;
extern const void bpfnest_no_such_symbol __ksym __weak;

extern int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end) __ksym;
extern int *bpf_iter_num_next(struct bpf_iter_num *it) __ksym;
extern void bpf_iter_num_destroy(struct bpf_iter_num *it) __ksym;
extern void bpfnest_no_such_kfunc(void) __ksym __weak;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 8);
} out SEC(".maps");

static void put(__u32 k, __u64 v)
{
	bpf_map_update_elem(&out, &k, &v, 0);
}

SEC("tracepoint/syscalls/sys_enter_getpgid")
int typed(void *ctx)
{
	const int *active = bpf_this_cpu_ptr(&bpf_prog_active);
	const struct rq *rq0 = bpf_per_cpu_ptr(&runqueues, 0);

	put(0, *active); /* 1: a tracepoint program runs with bpf_prog_active raised */
	put(1, rq0 != 0);
	put(2, &bpfnest_no_such_var == 0);
	return 0;
}

SEC("socket")
int untyped(void *ctx)
{
	put(3, (__u64)&bpf_prog_put);
	put(4, (__u64)&bpfnest_no_such_symbol);
	return 0;
}

SEC("socket")
int kfuncs(void *ctx)
{
	struct bpf_iter_num it;
	int *v, sum = 0;

	bpf_iter_num_new(&it, 0, 10);
	while ((v = bpf_iter_num_next(&it)))
		sum += *v;
	bpf_iter_num_destroy(&it);
	if (bpfnest_no_such_kfunc)
		bpfnest_no_such_kfunc();
	put(5, sum);
	put(6, !!bpfnest_no_such_kfunc);
	return sum;
}

char LICENSE[] SEC("license") = "GPL";
