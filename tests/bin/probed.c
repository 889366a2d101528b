/* The target of the uprobe tests (tests/test_links_probes.py), compiled by gcc
 * in the test run. bpfnest_probe_me(i) returns i + 1 and is never inlined.
 * With an argument N it is called N times (i = 0..N-1) and the program exits;
 * without one, each line "N" read from stdin calls it N times, then "done N"
 * is printed and flushed, until end of input. */
#include <stdio.h>
#include <stdlib.h>

__attribute__((noinline)) int bpfnest_probe_me(int x)
{
	__asm__ volatile("");
	return x + 1;
}

static long run(int n)
{
	long acc = 0;

	for (int i = 0; i < n; i++)
		acc += bpfnest_probe_me(i);
	return acc;
}

int main(int argc, char **argv)
{
	char line[64];
	long acc = 0;

	if (argc > 1)
		return run(atoi(argv[1])) == -1;
	while (fgets(line, sizeof(line), stdin)) {
		int n = atoi(line);

		acc += run(n);
		printf("done %d\n", n);
		fflush(stdout);
	}
	return acc == -1;
}
