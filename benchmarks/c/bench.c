/*
 * The workloads of shared/BENCH.md in C, with libbpf's low-level API only
 * (bpf_map_create, bpf_map_lookup_elem, bpf_map_update_elem,
 * bpf_map_delete_elem, bpf_map_get_next_key, bpf_map_get_fd_by_id, close,
 * bpf_map_update_batch where the workload is one batch, bpf_map_lookup_batch
 * for dump_hash_columns), written the
 * straightforward way a C user would: one syscall per element; the event
 * workloads use libbpf's ring_buffer__consume and perf_buffer__consume, with
 * a filler program loaded from raw instructions.
 *
 * Build:  gcc -O2 -Wall -Wextra -o bench benchmarks/c/bench.c -lbpf
 * Run:    bench [--only NAME ...] [--scale F] [--object PATH]   (needs root)
 *         (object_load loads PATH: the object benchmarks/run.py generates)
 *
 * Prints one JSON object on stdout:
 *   {"WORKLOAD": {"ops_per_s": F, "ns_per_op": F, "n": N}, ...}
 * churn adds "leaked_fds" and "leaked_maps", update_batch_1m "rss_growth_mb"
 * (growth of the peak RSS during the call). Only the measured loop is timed
 * (CLOCK_MONOTONIC); setup and teardown are not. --scale multiplies every n.
 * Keys are u32, values u64. Any failing call prints a message on stderr and
 * exits with status 1.
 */
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------ */

/* Exit with a message. err is a libbpf return value (-errno) or 0 for "see errno". */
static void die(const char *what, int err)
{
	fprintf(stderr, "bench: %s: %s\n", what, strerror(err ? -err : errno));
	exit(1);
}

/* Fail unless a libbpf call returned >= 0; returns ret (an fd for creators). */
static int check(int ret, const char *what)
{
	if (ret < 0)
		die(what, ret);
	return ret;
}

static void close_fd(int fd)
{
	if (close(fd) < 0)
		die("close", 0);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		die("clock_gettime", 0);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A map of u32 keys and u64 values. */
static int create_u32_u64(enum bpf_map_type type, const char *name, uint32_t max_entries)
{
	return check(bpf_map_create(type, name, sizeof(uint32_t), sizeof(uint64_t),
				    max_entries, NULL), "bpf_map_create");
}

/*
 * A map-in-map (values are u32 fds on update, u32 map ids on lookup) whose
 * inner maps look like the template `inner_fd`. The caller closes the
 * template right after; the outer map keeps what it needs of it.
 */
static int create_outer(enum bpf_map_type type, const char *name, uint32_t max_entries,
			int inner_fd)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .inner_map_fd = (uint32_t)inner_fd);

	return check(bpf_map_create(type, name, sizeof(uint32_t), sizeof(uint32_t),
				    max_entries, &opts), "bpf_map_create (outer)");
}

/* Put keys 0..count-1 with value base+key into a u32 -> u64 map. */
static void fill_u32_u64(int fd, uint32_t count, uint64_t base)
{
	for (uint32_t key = 0; key < count; key++) {
		uint64_t value = base + key;

		check(bpf_map_update_elem(fd, &key, &value, BPF_ANY), "bpf_map_update_elem");
	}
}

/* Number of open fds of this process (the directory's own fd included, same every time). */
static long fd_count(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *entry;
	long count = 0;

	if (!dir)
		die("opendir /proc/self/fd", 0);
	while ((entry = readdir(dir)) != NULL)
		if (entry->d_name[0] != '.')
			count++;
	closedir(dir);
	return count;
}

/* The ids of all maps in the system, ascending; *count gets their number. */
static uint32_t *map_ids(size_t *count)
{
	uint32_t *ids = NULL, id = 0;
	size_t n = 0, cap = 0;
	int err;

	while ((err = bpf_map_get_next_id(id, &id)) == 0) {
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			ids = realloc(ids, cap * sizeof(*ids));
			if (!ids)
				die("realloc", 0);
		}
		ids[n++] = id;
	}
	if (err != -ENOENT)
		die("bpf_map_get_next_id", err);
	*count = n;
	return ids;
}

/* How many maps exist now that were not in `before` (sorted ascending). */
static long new_maps(const uint32_t *before, size_t n_before)
{
	size_t n_now, i, j = 0;
	uint32_t *now = map_ids(&n_now);
	long count = 0;

	for (i = 0; i < n_now; i++) {
		while (j < n_before && before[j] < now[i])
			j++;
		if (j == n_before || before[j] != now[i])
			count++;
	}
	free(now);
	return count;
}

/* ---- results ------------------------------------------------------------ */

struct result {
	long n;
	uint64_t elapsed_ns;
	int has_leaks; /* churn only */
	long leaked_fds;
	long leaked_maps;
	int has_rss; /* update_batch_1m only */
	double rss_growth_mb;
};

/* ---- workloads ---------------------------------------------------------- */

/* n lookups of key i % 1024 in ARRAY fd (filled k -> k), timed; closes fd. */
static void lookup_1024(int fd, long n, struct result *r)
{
	uint64_t start, value;

	fill_u32_u64(fd, 1024, 0);
	start = now_ns();
	for (long i = 0; i < n; i++) {
		uint32_t key = (uint32_t)(i % 1024);

		check(bpf_map_lookup_elem(fd, &key, &value), "bpf_map_lookup_elem");
	}
	r->elapsed_ns = now_ns() - start;
	close_fd(fd);
}

/* ARRAY of 1024 entries; one op = lookup key i % 1024. */
static void array_lookup(long n, struct result *r)
{
	lookup_1024(create_u32_u64(BPF_MAP_TYPE_ARRAY, "b_array", 1024), n, r);
}

/* HASH with max_entries 65536; one op = update key i % 65536 to i (BPF_ANY). */
static void hash_update(long n, struct result *r)
{
	int fd = create_u32_u64(BPF_MAP_TYPE_HASH, "b_hash", 65536);
	uint64_t start;

	start = now_ns();
	for (long i = 0; i < n; i++) {
		uint32_t key = (uint32_t)(i % 65536);
		uint64_t value = (uint64_t)i;

		check(bpf_map_update_elem(fd, &key, &value, BPF_ANY), "bpf_map_update_elem");
	}
	r->elapsed_ns = now_ns() - start;
	close_fd(fd);
}

/*
 * ARRAY_OF_MAPS with `slots` slots, each an inner HASH (max `entries`) of
 * `entries` entries, key k -> slot * entries + k. One op starts from the
 * outer map: look up the inner map's id in slot i % slots, open it by id,
 * look up key i % keys, close the fd (a user without a cache).
 */
static void outer_inner(long n, struct result *r, uint32_t slots, uint32_t entries,
			uint32_t keys)
{
	int template = create_u32_u64(BPF_MAP_TYPE_HASH, "b_inner", entries);
	int outer = create_outer(BPF_MAP_TYPE_ARRAY_OF_MAPS, "b_outer", slots, template);
	uint64_t start;

	close_fd(template);
	for (uint32_t slot = 0; slot < slots; slot++) {
		int inner = create_u32_u64(BPF_MAP_TYPE_HASH, "b_inner", entries);
		uint32_t value = (uint32_t)inner;

		fill_u32_u64(inner, entries, (uint64_t)slot * entries);
		check(bpf_map_update_elem(outer, &slot, &value, BPF_ANY),
		      "bpf_map_update_elem (outer)");
		close_fd(inner); /* the outer map holds it now */
	}

	start = now_ns();
	for (long i = 0; i < n; i++) {
		uint32_t slot = (uint32_t)(i % slots), key = (uint32_t)(i % keys), id;
		uint64_t value;
		int inner;

		check(bpf_map_lookup_elem(outer, &slot, &id), "bpf_map_lookup_elem (outer)");
		inner = check(bpf_map_get_fd_by_id(id), "bpf_map_get_fd_by_id");
		check(bpf_map_lookup_elem(inner, &key, &value), "bpf_map_lookup_elem (inner)");
		close_fd(inner);
		if (value != (uint64_t)slot * entries + key) {
			fprintf(stderr, "bench: outer_inner_lookup: wrong value %llu\n",
				(unsigned long long)value);
			exit(1);
		}
	}
	r->elapsed_ns = now_ns() - start;
	close_fd(outer);
}

/* 64 slots, inner HASH of 1024 entries; read key i % 1024 of slot i % 64. */
static void outer_inner_lookup(long n, struct result *r)
{
	outer_inner(n, r, 64, 1024, 1024);
}

/* 1000 slots, inner HASH of 64 entries; read key 0 of slot i % 1000. */
static void outer_inner_lookup_1000(long n, struct result *r)
{
	outer_inner(n, r, 1000, 64, 1);
}

/* HASH of n entries; read every entry with get_next_key + lookup. n = entries read. */
static void dump_hash(long n, struct result *r)
{
	int fd = create_u32_u64(BPF_MAP_TYPE_HASH, "b_dump", (uint32_t)n);
	uint32_t key, next;
	uint64_t start, value, sum = 0;
	long count = 0;
	int err;

	fill_u32_u64(fd, (uint32_t)n, 0);
	start = now_ns();
	err = bpf_map_get_next_key(fd, NULL, &key);
	while (err == 0) {
		check(bpf_map_lookup_elem(fd, &key, &value), "bpf_map_lookup_elem");
		sum += value;
		count++;
		err = bpf_map_get_next_key(fd, &key, &next);
		key = next;
	}
	r->elapsed_ns = now_ns() - start;
	if (err != -ENOENT)
		die("bpf_map_get_next_key", err);
	/* Every entry seen exactly once: values are 0..n-1. */
	if (count != n || sum != (uint64_t)n * (uint64_t)(n - 1) / 2) {
		fprintf(stderr, "bench: dump_hash read %ld entries, expected %ld\n", count, n);
		exit(1);
	}
	close_fd(fd);
}

/* Peak resident set size of this process so far, in bytes. */
static double max_rss(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		die("getrusage", 0);
	return (double)ru.ru_maxrss * 1024.0;
}

/*
 * HASH with max_entries n; one bpf_map_update_batch of n u32 -> u64 (k -> k)
 * from arrays filled beforehand. Reports the growth of the peak RSS during
 * the call (the arrays are touched before the baseline).
 */
static void update_batch_1m(long n, struct result *r)
{
	int fd = create_u32_u64(BPF_MAP_TYPE_HASH, "b_batch", (uint32_t)n);
	uint32_t *keys = malloc((size_t)n * sizeof(*keys));
	uint64_t *values = malloc((size_t)n * sizeof(*values));
	uint32_t count = (uint32_t)n, key = (uint32_t)(n - 1);
	uint64_t start, value;
	double base;

	if (!keys || !values)
		die("malloc", 0);
	for (long i = 0; i < n; i++) {
		keys[i] = (uint32_t)i;
		values[i] = (uint64_t)i;
	}
	base = max_rss();
	start = now_ns();
	check(bpf_map_update_batch(fd, keys, values, &count, NULL), "bpf_map_update_batch");
	r->elapsed_ns = now_ns() - start;
	r->rss_growth_mb = (max_rss() - base) / (1024.0 * 1024.0);
	r->has_rss = 1;
	check(bpf_map_lookup_elem(fd, &key, &value), "bpf_map_lookup_elem");
	if (count != (uint32_t)n || value != (uint64_t)(n - 1)) {
		fprintf(stderr, "bench: update_batch_1m: %u of %ld applied\n", count, n);
		exit(1);
	}
	free(keys);
	free(values);
	close_fd(fd);
}

/*
 * ARRAY_OF_MAPS with 16 slots, inner template HASH (max 1024). One op =
 * create a new inner HASH, fill 1024 entries, put it in slot i % 16, close
 * the user's fd. Each outer update waits for an RCU grace period.
 */
static void swap_inner(long n, struct result *r)
{
	int template = create_u32_u64(BPF_MAP_TYPE_HASH, "b_swap", 1024);
	int outer = create_outer(BPF_MAP_TYPE_ARRAY_OF_MAPS, "b_outer", 16, template);
	uint64_t start;

	close_fd(template);
	start = now_ns();
	for (long i = 0; i < n; i++) {
		int inner = create_u32_u64(BPF_MAP_TYPE_HASH, "b_swap", 1024);
		uint32_t slot = (uint32_t)(i % 16), value = (uint32_t)inner;

		fill_u32_u64(inner, 1024, 0);
		check(bpf_map_update_elem(outer, &slot, &value, BPF_ANY),
		      "bpf_map_update_elem (outer)");
		close_fd(inner);
	}
	r->elapsed_ns = now_ns() - start;
	close_fd(outer);
}

/*
 * HASH_OF_MAPS with max_entries 1024, inner template ARRAY (u32 -> u32, 8
 * entries). One op = create an inner map, insert it at key i % 1024, close
 * it, delete the key. Afterwards, with everything closed, check that the
 * process's fd count and the system's maps are back where they started.
 */
static void churn(long n, struct result *r)
{
	long fds_before = fd_count();
	size_t n_before;
	uint32_t *maps_before = map_ids(&n_before);
	int template = check(bpf_map_create(BPF_MAP_TYPE_ARRAY, "b_churn", sizeof(uint32_t),
					    sizeof(uint32_t), 8, NULL), "bpf_map_create");
	int outer = create_outer(BPF_MAP_TYPE_HASH_OF_MAPS, "b_outer", 1024, template);
	uint64_t start, deadline;

	close_fd(template);
	start = now_ns();
	for (long i = 0; i < n; i++) {
		int inner = check(bpf_map_create(BPF_MAP_TYPE_ARRAY, "b_churn", sizeof(uint32_t),
						 sizeof(uint32_t), 8, NULL), "bpf_map_create");
		uint32_t key = (uint32_t)(i % 1024), value = (uint32_t)inner;

		check(bpf_map_update_elem(outer, &key, &value, BPF_ANY),
		      "bpf_map_update_elem (outer)");
		close_fd(inner);
		check(bpf_map_delete_elem(outer, &key), "bpf_map_delete_elem (outer)");
	}
	r->elapsed_ns = now_ns() - start;
	close_fd(outer);

	/* Inner maps are freed from a kernel workqueue: give them up to 2 s. */
	deadline = now_ns() + 2000000000ull;
	while ((r->leaked_maps = new_maps(maps_before, n_before)) > 0 && now_ns() < deadline)
		usleep(10000);
	r->leaked_fds = fd_count() - fds_before;
	r->has_leaks = 1;
	free(maps_before);
}

/* ---- events (issue 15): ringbuf_read, perfbuf_read ----------------------- */

/*
 * An XDP program that writes one 64-byte record per run into map_fd: with
 * bpf_ringbuf_output into a RINGBUF, or with bpf_perf_event_output (current
 * CPU) into a PERF_EVENT_ARRAY. Raw instructions: no object file needed.
 */
static int load_filler(int map_fd, int perf)
{
	struct bpf_insn insns[24];
	int i = 0;

	if (perf)
		insns[i++] = (struct bpf_insn){ .code = BPF_ALU64 | BPF_MOV | BPF_X,
						.dst_reg = BPF_REG_6, .src_reg = BPF_REG_1 };
	for (int k = 0; k < 8; k++)
		insns[i++] = (struct bpf_insn){ .code = BPF_ST | BPF_MEM | BPF_DW,
						.dst_reg = BPF_REG_10, .off = (short)(-64 + 8 * k),
						.imm = k + 1 };
	if (perf)
		insns[i++] = (struct bpf_insn){ .code = BPF_ALU64 | BPF_MOV | BPF_X,
						.dst_reg = BPF_REG_1, .src_reg = BPF_REG_6 };
	/* map: ld_imm64 with the map's fd */
	insns[i++] = (struct bpf_insn){ .code = BPF_LD | BPF_DW | BPF_IMM,
					.dst_reg = perf ? BPF_REG_2 : BPF_REG_1,
					.src_reg = BPF_PSEUDO_MAP_FD, .imm = map_fd };
	insns[i++] = (struct bpf_insn){ 0 };
	if (perf) {
		/* r3 = BPF_F_CURRENT_CPU (0xffffffff: a 32-bit move zero-extends) */
		insns[i++] = (struct bpf_insn){ .code = BPF_ALU | BPF_MOV | BPF_K,
						.dst_reg = BPF_REG_3, .imm = -1 };
		insns[i++] = (struct bpf_insn){ .code = BPF_ALU64 | BPF_MOV | BPF_X,
						.dst_reg = BPF_REG_4, .src_reg = BPF_REG_10 };
		insns[i++] = (struct bpf_insn){ .code = BPF_ALU64 | BPF_ADD | BPF_K,
						.dst_reg = BPF_REG_4, .imm = -64 };
		insns[i++] = (struct bpf_insn){ .code = BPF_ALU64 | BPF_MOV | BPF_K,
						.dst_reg = BPF_REG_5, .imm = 64 };
	} else {
		insns[i++] = (struct bpf_insn){ .code = BPF_ALU64 | BPF_MOV | BPF_X,
						.dst_reg = BPF_REG_2, .src_reg = BPF_REG_10 };
		insns[i++] = (struct bpf_insn){ .code = BPF_ALU64 | BPF_ADD | BPF_K,
						.dst_reg = BPF_REG_2, .imm = -64 };
		insns[i++] = (struct bpf_insn){ .code = BPF_ALU64 | BPF_MOV | BPF_K,
						.dst_reg = BPF_REG_3, .imm = 64 };
		insns[i++] = (struct bpf_insn){ .code = BPF_ALU64 | BPF_MOV | BPF_K,
						.dst_reg = BPF_REG_4, .imm = 0 };
	}
	insns[i++] = (struct bpf_insn){ .code = BPF_JMP | BPF_CALL,
					.imm = perf ? BPF_FUNC_perf_event_output
						    : BPF_FUNC_ringbuf_output };
	insns[i++] = (struct bpf_insn){ .code = BPF_ALU64 | BPF_MOV | BPF_K,
					.dst_reg = BPF_REG_0, .imm = XDP_PASS };
	insns[i++] = (struct bpf_insn){ .code = BPF_JMP | BPF_EXIT };
	return check(bpf_prog_load(BPF_PROG_TYPE_XDP, "b_fill", "GPL", insns, (size_t)i, NULL),
		     "bpf_prog_load (filler)");
}

/* Run the filler n times (BPF_PROG_TEST_RUN with repeat). */
static void fill(int prog_fd, long n)
{
	char packet[64] = { 0 };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = packet, .data_size_in = sizeof(packet),
		    .repeat = (unsigned int)n);

	check(bpf_prog_test_run_opts(prog_fd, &opts), "bpf_prog_test_run_opts");
}

static int count_ring_record(void *ctx, void *data, size_t size)
{
	(void)data;
	(void)size;
	++*(long *)ctx;
	return 0;
}

/* RINGBUF of 16 MiB pre-filled with 64-byte records; one op = consume one
 * record (ring_buffer__consume, a callback that counts). */
static void ringbuf_read(long n, struct result *r)
{
	int map = check(bpf_map_create(BPF_MAP_TYPE_RINGBUF, "b_ring", 0, 0, 16 << 20, NULL),
			"bpf_map_create (ringbuf)");
	int prog = load_filler(map, 0);
	long got = 0;
	struct ring_buffer *rb;
	uint64_t start;

	if (n > (16 << 20) / 72)
		n = (16 << 20) / 72; /* what the ring holds: 64 + an 8-byte header */
	rb = ring_buffer__new(map, count_ring_record, &got, NULL);
	if (!rb)
		die("ring_buffer__new", 0);
	fill(prog, n);
	start = now_ns();
	check(ring_buffer__consume(rb), "ring_buffer__consume");
	r->elapsed_ns = now_ns() - start;
	r->n = got ? got : 1;
	ring_buffer__free(rb);
	close_fd(prog);
	close_fd(map);
}

static void count_perf_record(void *ctx, int cpu, void *data, __u32 size)
{
	(void)cpu;
	(void)data;
	(void)size;
	++*(long *)ctx;
}

/* PERF_EVENT_ARRAY with 8 MiB per CPU pre-filled with 64-byte samples; one op
 * = consume one sample (perf_buffer__consume, a callback that counts). */
static void perfbuf_read(long n, struct result *r)
{
	int ncpus = check(libbpf_num_possible_cpus(), "libbpf_num_possible_cpus");
	int map = check(bpf_map_create(BPF_MAP_TYPE_PERF_EVENT_ARRAY, "b_perf", 4, 4,
				       (unsigned int)ncpus, NULL),
			"bpf_map_create (perf)");
	int prog = load_filler(map, 1);
	long got = 0;
	struct perf_buffer *pb;
	uint64_t start;

	if (n > 100000)
		n = 100000; /* 80 bytes a sample: the 8 MiB rings hold them all */
	pb = perf_buffer__new(map, 2048, count_perf_record, NULL, &got, NULL);
	if (!pb)
		die("perf_buffer__new", 0);
	fill(prog, n);
	start = now_ns();
	check(perf_buffer__consume(pb), "perf_buffer__consume");
	r->elapsed_ns = now_ns() - start;
	r->n = got ? got : 1;
	perf_buffer__free(pb);
	close_fd(prog);
	close_fd(map);
}

/* ---- object_load -------------------------------------------------------- */

static const char *object_path; /* --object: the object benchmarks/run.py generated */

/* bpf_object__open_file + bpf_object__load + bpf_object__close, in-process. */
static void object_load(long n, struct result *r)
{
	uint64_t start = 0;

	if (!object_path) {
		fprintf(stderr, "bench: object_load needs --object PATH\n");
		exit(1);
	}
	libbpf_set_print(NULL);
	for (long i = -1; i < n; i++) { /* i = -1: one warm run, not timed */
		struct bpf_object *obj;
		int err;

		if (i == 0)
			start = now_ns();
		obj = bpf_object__open_file(object_path, NULL);
		err = libbpf_get_error(obj);
		if (err)
			die("bpf_object__open_file", (int)err);
		err = bpf_object__load(obj);
		if (err)
			die("bpf_object__load", err);
		bpf_object__close(obj);
	}
	r->elapsed_ns = now_ns() - start;
}

/* ARRAY of 1024 u64 created with BPF_F_MMAPABLE; one op = lookup key i % 1024
 * (the syscall a C user makes; bpfnest's mmap_read reads the same memory mapped). */
static void mmap_read(long n, struct result *r)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_MMAPABLE);
	int fd = check(bpf_map_create(BPF_MAP_TYPE_ARRAY, "b_mmap", sizeof(uint32_t),
				      sizeof(uint64_t), 1024, &opts), "bpf_map_create (mmapable)");

	lookup_1024(fd, n, r);
}

/* ---- bulk data (issue 21): dump_hash_columns, update_columns ------------- */

/*
 * The dump_hash map (HASH of n entries k -> k) read with bpf_map_lookup_batch,
 * 1024 elements a call into buffers allocated once. n = entries read.
 */
static void dump_hash_columns(long n, struct result *r)
{
	int fd = create_u32_u64(BPF_MAP_TYPE_HASH, "b_dump", (uint32_t)n);
	uint32_t keys[1024], batch = 0;
	uint64_t values[1024], start, sum = 0;
	long count = 0;
	int err, first = 1;

	fill_u32_u64(fd, (uint32_t)n, 0);
	start = now_ns();
	do {
		uint32_t got = 1024;

		err = bpf_map_lookup_batch(fd, first ? NULL : &batch, &batch, keys, values, &got,
					   NULL);
		if (err && err != -ENOENT)
			die("bpf_map_lookup_batch", err);
		for (uint32_t i = 0; i < got; i++)
			sum += values[i];
		count += got;
		first = 0;
	} while (!err);
	r->elapsed_ns = now_ns() - start;
	if (count != n || sum != (uint64_t)n * (uint64_t)(n - 1) / 2) {
		fprintf(stderr, "bench: dump_hash_columns read %ld entries, expected %ld\n", count, n);
		exit(1);
	}
	close_fd(fd);
}

/* HASH with max_entries 2^20; one bpf_map_update_batch of n u32 -> u64 (k -> k). */
static void update_columns(long n, struct result *r)
{
	int fd = create_u32_u64(BPF_MAP_TYPE_HASH, "b_cols", 1u << 20);
	uint32_t *keys = malloc((size_t)n * sizeof(*keys));
	uint64_t *values = malloc((size_t)n * sizeof(*values));
	uint32_t count = (uint32_t)n;
	uint64_t start;

	if (!keys || !values)
		die("malloc", 0);
	for (long i = 0; i < n; i++) {
		keys[i] = (uint32_t)i;
		values[i] = (uint64_t)i;
	}
	start = now_ns();
	check(bpf_map_update_batch(fd, keys, values, &count, NULL), "bpf_map_update_batch");
	r->elapsed_ns = now_ns() - start;
	if (count != (uint32_t)n) {
		fprintf(stderr, "bench: update_columns: %u of %ld applied\n", count, n);
		exit(1);
	}
	free(keys);
	free(values);
	close_fd(fd);
}

/* ---- main --------------------------------------------------------------- */

static const struct workload {
	const char *name;
	void (*run)(long n, struct result *r);
	long n;
} workloads[] = {
	{ "array_lookup", array_lookup, 200000 },
	{ "hash_update", hash_update, 200000 },
	{ "outer_inner_lookup", outer_inner_lookup, 50000 },
	{ "outer_inner_lookup_1000", outer_inner_lookup_1000, 20000 },
	{ "dump_hash", dump_hash, 100000 },
	{ "update_batch_1m", update_batch_1m, 1000000 },
	{ "swap_inner", swap_inner, 500 },
	{ "churn", churn, 1000 },
	{ "ringbuf_read", ringbuf_read, 200000 },
	{ "perfbuf_read", perfbuf_read, 100000 },
	{ "object_load", object_load, 20 },
	{ "mmap_read", mmap_read, 1000000 },
	{ "dump_hash_columns", dump_hash_columns, 100000 },
	{ "update_columns", update_columns, 1000000 },
	/* The floors of a pure-Python library: in C, the same loops as these. */
	{ "array_lookup_floor", array_lookup, 200000 },
	{ "hash_update_floor", hash_update, 200000 },
};
#define N_WORKLOADS (sizeof(workloads) / sizeof(workloads[0]))

static void usage(void)
{
	fprintf(stderr, "usage: bench [--only NAME ...] [--scale F] [--object PATH]\n");
	exit(1);
}

int main(int argc, char **argv)
{
	int selected[N_WORKLOADS] = { 0 }, any_only = 0, first = 1;
	struct result results[N_WORKLOADS] = { 0 };
	double scale = 1.0;

	for (int a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--only") == 0 && a + 1 < argc) {
			const char *name = argv[++a];
			int found = 0;

			any_only = 1;
			for (size_t w = 0; w < N_WORKLOADS; w++)
				if (strcmp(workloads[w].name, name) == 0)
					selected[w] = found = 1;
			/*
			 * A workload the C side does not have (benchmarks/run.py
			 * also asks for its own extras, such as items_rss) is
			 * skipped with a note rather than failing the whole run.
			 */
			if (!found)
				fprintf(stderr, "bench: no C workload '%s', skipped\n", name);
		} else if (strcmp(argv[a], "--object") == 0 && a + 1 < argc) {
			object_path = argv[++a];
		} else if (strcmp(argv[a], "--scale") == 0 && a + 1 < argc) {
			char *end;

			scale = strtod(argv[++a], &end);
			if (*end != '\0' || !(scale > 0))
				usage();
		} else {
			usage();
		}
	}

	/* Run everything first so that a failure leaves stdout empty. */
	for (size_t w = 0; w < N_WORKLOADS; w++) {
		if (any_only && !selected[w])
			continue;
		results[w].n = (long)(workloads[w].n * scale);
		if (results[w].n < 1)
			results[w].n = 1;
		workloads[w].run(results[w].n, &results[w]);
	}

	printf("{");
	for (size_t w = 0; w < N_WORKLOADS; w++) {
		const struct result *r = &results[w];
		double ns_per_op;

		if (any_only && !selected[w])
			continue;
		ns_per_op = (double)(r->elapsed_ns ? r->elapsed_ns : 1) / (double)r->n;
		printf("%s\"%s\": {\"ops_per_s\": %.3f, \"ns_per_op\": %.3f, \"n\": %ld",
		       first ? "" : ", ", workloads[w].name, 1e9 / ns_per_op, ns_per_op, r->n);
		if (r->has_leaks)
			printf(", \"leaked_fds\": %ld, \"leaked_maps\": %ld", r->leaked_fds,
			       r->leaked_maps);
		if (r->has_rss)
			printf(", \"rss_growth_mb\": %.3f", r->rss_growth_mb);
		printf("}");
		first = 0;
	}
	printf("}\n");
	return 0;
}
