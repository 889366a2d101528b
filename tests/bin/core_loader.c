/* libbpf as the oracle of the CO-RE differential test (tests/test_core_kernel.py),
 * compiled by gcc in the test run: core_loader OBJ PIN_DIR [TARGET_BTF]
 * opens OBJ (relocating against TARGET_BTF, an ELF or raw BTF file, instead
 * of the running kernel's BTF when given), loads it and pins every program
 * at PIN_DIR/<name>. Exit status 0 on success; libbpf's messages on stderr. */
#include <stdio.h>
#include <bpf/libbpf.h>

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	char path[4096];

	if (argc < 3)
		return 2;
	LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = argc > 3 ? argv[3] : NULL);
	obj = bpf_object__open_file(argv[1], &opts);
	if (!obj)
		return 1;
	if (bpf_object__load(obj))
		return 1;
	bpf_object__for_each_program(prog, obj) {
		snprintf(path, sizeof(path), "%s/%s", argv[2], bpf_program__name(prog));
		if (bpf_program__pin(prog, path))
			return 1;
	}
	bpf_object__close(obj);
	return 0;
}
