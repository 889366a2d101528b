/* The differential check of tests/test_usdt.py: libbpf's own USDT attach
 * (bpf_program__attach_usdt, libbpf-dev) of program PROG of object OBJ to
 * PROVIDER:NAME of BINARY with COOKIE; prints every non-zero slot of the
 * object's __bpf_usdt_specs map as "SLOT HEX", for the test to compare with
 * what bpfnest writes for the same attach. Exit 0, or 2..5 on a failed step.
 * usage: usdt_libbpf OBJ PROG BINARY PROVIDER NAME COOKIE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct bpf_link *link;
	struct bpf_map *specs;
	unsigned char value[4096];
	__u32 i, n, size;
	int fd;

	if (argc != 7)
		return 2;
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj))
		return 3;
	prog = bpf_object__find_program_by_name(obj, argv[2]);
	if (!prog)
		return 4;
	LIBBPF_OPTS(bpf_usdt_opts, opts, .usdt_cookie = strtoull(argv[6], NULL, 0));
	link = bpf_program__attach_usdt(prog, -1, argv[3], argv[4], argv[5], &opts);
	if (!link)
		return 5;
	specs = bpf_object__find_map_by_name(obj, "__bpf_usdt_specs");
	fd = bpf_map__fd(specs);
	n = bpf_map__max_entries(specs);
	size = bpf_map__value_size(specs);
	for (i = 0; i < n && size <= sizeof(value); i++) {
		int nonzero = 0;

		if (bpf_map_lookup_elem(fd, &i, value))
			continue;
		for (__u32 j = 0; j < size; j++)
			nonzero |= value[j];
		if (!nonzero)
			continue;
		printf("%u ", i);
		for (__u32 j = 0; j < size; j++)
			printf("%02x", value[j]);
		printf("\n");
	}
	bpf_link__destroy(link);
	bpf_object__close(obj);
	return 0;
}
