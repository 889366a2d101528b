/* CO-RE against the running kernel (tests/test_core_kernel.py): a field the
 * kernel lacks, read without a bpf_core_field_exists guard. The relocation
 * poisons the instruction and the verifier refuses it: the error must name
 * the program, the instruction and struct task_struct___mine.no_such_field. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_struct___mine {
	int pid;
	int no_such_field;
} __attribute__((preserve_access_index));

SEC("raw_tp/sys_enter")
int unguarded(void *ctx)
{
	struct task_struct___mine *m = (void *)bpf_get_current_task();

	return BPF_CORE_READ(m, no_such_field);
}

char LICENSE[] SEC("license") = "GPL";
