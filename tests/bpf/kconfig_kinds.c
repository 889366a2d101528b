/* .kconfig externs of every type libbpf supports (issue 16): bool, tristate
 * (enum libbpf_tristate), char ('y'/'n'/'m' as a character), integers of 1,
 * 2, 4 and 8 bytes, a char array (a string option), the LINUX_ virtual
 * ones, and __weak ones the kernel lacks (0). The program copies each into
 * map "out" for the test to compare with /proc/config.gz. */
#include "common.h"

extern _Bool CONFIG_BPF_SYSCALL __kconfig;
extern enum libbpf_tristate CONFIG_BPF_JIT __kconfig;
extern char CONFIG_BPF_LSM __kconfig;
extern unsigned char CONFIG_NR_CPUS_RANGE_BEGIN __kconfig;
extern unsigned short CONFIG_HZ __kconfig;
extern int CONFIG_NR_CPUS __kconfig;
extern unsigned long long CONFIG_NR_CPUS_RANGE_END __kconfig;
extern char CONFIG_LOCALVERSION[16] __kconfig;
extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern _Bool LINUX_HAS_BPF_COOKIE __kconfig;
extern _Bool CONFIG_BPFNEST_NO_SUCH_OPTION __kconfig __weak;
extern int CONFIG_BPFNEST_NO_SUCH_NUMBER __kconfig __weak;
extern enum libbpf_tristate CONFIG_BPFNEST_NO_SUCH_TRISTATE __kconfig __weak;
extern int LINUX_BPFNEST_UNKNOWN __kconfig __weak;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 16);
} out SEC(".maps");

static void put(__u32 k, __u64 v)
{
	bpf_map_update_elem(&out, &k, &v, 0);
}

SEC("socket")
int kinds(void *ctx)
{
	__u64 text = 0;

	put(0, CONFIG_BPF_SYSCALL);
	put(1, CONFIG_BPF_JIT);
	put(2, CONFIG_BPF_LSM);
	put(3, CONFIG_NR_CPUS_RANGE_BEGIN);
	put(4, CONFIG_HZ);
	put(5, CONFIG_NR_CPUS);
	put(6, CONFIG_NR_CPUS_RANGE_END);
	__builtin_memcpy(&text, CONFIG_LOCALVERSION, 8);
	put(7, text);
	__builtin_memcpy(&text, CONFIG_LOCALVERSION + 8, 8);
	put(8, text);
	put(9, LINUX_KERNEL_VERSION);
	put(10, LINUX_HAS_BPF_COOKIE);
	put(11, CONFIG_BPFNEST_NO_SUCH_OPTION);
	put(12, CONFIG_BPFNEST_NO_SUCH_NUMBER);
	put(13, CONFIG_BPFNEST_NO_SUCH_TRISTATE);
	put(14, LINUX_BPFNEST_UNKNOWN);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
