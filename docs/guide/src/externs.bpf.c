/* extern declarations the loader answers: kernel config values (.kconfig)
 * and kernel symbols (__ksym). The program returns HZ plus the sum of 0..9
 * computed by a kernel function (the number iterator kfuncs). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct bpf_iter_num { unsigned long long opaque[1]; } __attribute__((aligned(8)));

extern unsigned int CONFIG_HZ __kconfig;                   /* an int option */
extern enum libbpf_tristate CONFIG_BPF_JIT __kconfig;      /* y, n or m */
extern _Bool CONFIG_NOT_IN_THIS_KERNEL __kconfig __weak;   /* 0: the kernel lacks it */
extern const void bpf_prog_put __ksym;                     /* untyped: its address */
extern int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end) __ksym;
extern int *bpf_iter_num_next(struct bpf_iter_num *it) __ksym;
extern void bpf_iter_num_destroy(struct bpf_iter_num *it) __ksym;

unsigned long long jit, absent, prog_put;

SEC("socket")
int externs(void *ctx)
{
	struct bpf_iter_num it;
	int *v, sum = 0;

	jit = CONFIG_BPF_JIT;
	absent = CONFIG_NOT_IN_THIS_KERNEL;
	prog_put = (unsigned long long)&bpf_prog_put;
	bpf_iter_num_new(&it, 0, 10);
	while ((v = bpf_iter_num_next(&it)))
		sum += *v;
	bpf_iter_num_destroy(&it);
	return CONFIG_HZ + sum;
}

char LICENSE[] SEC("license") = "GPL";
