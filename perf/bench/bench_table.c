/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * riskgate-bench table: the fingerprint table (common/table.c) against
 * DPDK's rte_hash, in one process, on the same huge-page memory and the
 * same keys.
 *
 * For each key count N (--keys, default 1M,10M; 100M on demand) it builds
 * rte_hash (16-byte keys, RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF, entries
 * N / 0.95) and our table (capacity N, default load, in a hugetlbfs file),
 * inserts the same N random keys in both, then looks up two streams in
 * bursts of 32 through the pointer-array bulk calls of both
 * (rg_table_lookup_bulk, rte_hash_lookup_bulk_data):
 *   miss_heavy.N  99.9% absent keys (the screening case)
 *   hit_heavy.N   every key present
 * and prints, per case, ns and TSC cycles per lookup (median of --rounds
 * passes) and the p99.9 of the time of one burst; then inserts/s, the
 * time of the first delete (it builds the delete counters), bytes
 * per entry (ours: shared file plus the writer's private memory; rte_hash:
 * rte_malloc heap growth) and, in a second table of ours sized for N, the
 * load at the first failed insert.  Ratios are oriented so that > 1 means
 * riskgate is better.
 *
 * Needs huge pages for both tables; it says how many when they are short.
 * EAL runs with a file prefix of its own (rgbtb<pid>) whose runtime
 * directory is removed at the end.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_malloc.h>

#include "bench.h"
#include "common/table.h"

#define TB_BURST 32
#define TB_STREAM (1u << 21)	 /* lookups per timed pass */
#define TB_MISS_PER_MILLE 999	 /* absent keys per 1000 in the miss-heavy stream */
#define TB_RTE_LOAD 0.95	 /* rte_hash entries = keys / this */
#define TB_CHUNK 65536u		 /* ops per rg_table_batch_apply call */
#define TB_DIR "/dev/hugepages"
#define TB_KEYS_MAX 200000000ull

/* Estimated huge-page need per key: rte_hash ~ 64 B, ours ~ 32 B, plus slack. */
#define TB_HUGE_PER_KEY 100ull
#define TB_HUGE_FIXED (96ull << 20)

struct tb_rng {
	uint64_t s;
};

static uint64_t tb_next(struct tb_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void tb_key(struct tb_rng *r, struct rg_fp *k)
{
	uint64_t a = tb_next(r), b = tb_next(r);

	memcpy(k->b, &a, 8);
	memcpy(k->b + 8, &b, 8);
}

static struct rg_table_val tb_val(uint64_t i)
{
	struct rg_table_val v = {
		.lists = (uint16_t)(1u << (i % 16)),
		.action = (uint8_t)(i % 4),
		.contributor = (uint16_t)(i % 4096),
	};

	return v;
}

/* One size's state: keys, streams, both tables. */
struct tb_run {
	uint64_t nb_keys;
	struct rg_fp *keys;	   /* present keys */
	struct rg_fp *miss_keys;   /* miss-heavy stream */
	struct rg_fp *hit_keys;	   /* hit-heavy stream */
	const void **ptrs;	   /* TB_STREAM pointers into one of the streams */
	uint64_t *lat_tsc;	   /* per-burst times of one pass */
	struct rg_table *t;
	struct rte_hash *h;
	char path[128];
	double tsc_hz;
};

struct tb_side {
	double ns, cycles, p999_ns;
	uint64_t hits;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static uint64_t huge_free_bytes(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	uint64_t nb_free = 0, page_kb = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long v;

		if (sscanf(line, "HugePages_Free: %llu", &v) == 1)
			nb_free = v;
		else if (sscanf(line, "Hugepagesize: %llu kB", &v) == 1)
			page_kb = v;
	}
	fclose(f);
	return nb_free * page_kb * 1024;
}

/* "1M,10M,100M" -> counts; returns how many, or -EINVAL. */
static int parse_keys(const char *s, uint64_t *out, int max)
{
	int n = 0;

	while (*s) {
		char *end;
		unsigned long long v = strtoull(s, &end, 10);

		if (end == s)
			return -EINVAL;
		if (*end == 'k' || *end == 'K')
			v *= 1000, end++;
		else if (*end == 'm' || *end == 'M')
			v *= 1000000, end++;
		if ((*end && *end != ',') || v < 1000 || v > TB_KEYS_MAX || n == max)
			return -EINVAL;
		out[n++] = v;
		s = *end ? end + 1 : end;
	}
	return n ? n : -EINVAL;
}

static void size_name(uint64_t n, char *buf, size_t len)
{
	if (n % 1000000 == 0)
		snprintf(buf, len, "%lluM", (unsigned long long)(n / 1000000));
	else if (n % 1000 == 0)
		snprintf(buf, len, "%lluK", (unsigned long long)(n / 1000));
	else
		snprintf(buf, len, "%llu", (unsigned long long)n);
}

/* ---- lookups -------------------------------------------------------------- */

static uint64_t ours_pass(const struct tb_run *r, uint64_t *lat)
{
	const struct rg_fp *const *p = (const struct rg_fp *const *)r->ptrs;
	struct rg_table_val vals[TB_BURST];
	uint64_t hits = 0;

	for (unsigned i = 0; i < TB_STREAM; i += TB_BURST) {
		uint64_t t0 = lat ? rte_rdtsc() : 0;

		hits += (uint64_t)__builtin_popcountll(rg_table_lookup_bulk(r->t, p + i, TB_BURST,
									    vals));
		if (lat)
			lat[i / TB_BURST] = rte_rdtsc() - t0;
	}
	return hits;
}

static uint64_t rte_pass(const struct tb_run *r, uint64_t *lat)
{
	void *data[TB_BURST];
	uint64_t hits = 0, mask;

	for (unsigned i = 0; i < TB_STREAM; i += TB_BURST) {
		uint64_t t0 = lat ? rte_rdtsc() : 0;
		int ret = rte_hash_lookup_bulk_data(r->h, r->ptrs + i, TB_BURST, &mask, data);

		if (lat)
			lat[i / TB_BURST] = rte_rdtsc() - t0;
		if (ret > 0)
			hits += (uint64_t)ret;
	}
	return hits;
}

/* Median time per lookup over nb_rounds passes, then one pass timing each
 * burst for the p99.9. */
static void measure(const struct tb_run *r, bool ours, unsigned nb_rounds, struct tb_side *out)
{
	double ns[1000], cyc[1000];
	unsigned nb_bursts = TB_STREAM / TB_BURST;

	/* warm-up pass */
	out->hits = ours ? ours_pass(r, NULL) : rte_pass(r, NULL);
	for (unsigned k = 0; k < nb_rounds; k++) {
		uint64_t t0 = bench_now_ns(), c0 = rte_rdtsc(), c1, t1;

		if (ours)
			ours_pass(r, NULL);
		else
			rte_pass(r, NULL);
		c1 = rte_rdtsc();
		t1 = bench_now_ns();
		ns[k] = (double)(t1 - t0) / TB_STREAM;
		cyc[k] = (double)(c1 - c0) / TB_STREAM;
	}
	out->ns = bench_median(ns, nb_rounds);
	out->cycles = bench_median(cyc, nb_rounds);
	if (ours)
		ours_pass(r, r->lat_tsc);
	else
		rte_pass(r, r->lat_tsc);
	qsort(r->lat_tsc, nb_bursts, sizeof(uint64_t), cmp_u64);
	out->p999_ns = (double)r->lat_tsc[(uint64_t)nb_bursts * 999 / 1000] * 1e9 / r->tsc_hz;
}

static void lookup_case(struct tb_run *r, const char *kind, const char *size,
			const struct rg_fp *stream, unsigned nb_rounds)
{
	struct tb_side a, b;
	char name[64], extra[512];

	for (unsigned i = 0; i < TB_STREAM; i++)
		r->ptrs[i] = &stream[i];
	measure(r, true, nb_rounds, &a);
	measure(r, false, nb_rounds, &b);
	if (a.hits != b.hits)
		fprintf(stderr, "bench table: %s.%s: ours found %llu, rte_hash %llu\n", kind, size,
			(unsigned long long)a.hits, (unsigned long long)b.hits);
	snprintf(name, sizeof(name), "%s.%s", kind, size);
	snprintf(extra, sizeof(extra),
		 ", \"cycles\": %.2f, \"peer_cycles\": %.2f, \"p999_burst_ns\": %.0f"
		 ", \"peer_p999_burst_ns\": %.0f, \"hit_pct\": %.3f, \"burst\": %d",
		 a.cycles, b.cycles, a.p999_ns, b.p999_ns, 100.0 * (double)a.hits / TB_STREAM,
		 TB_BURST);
	bench_result("table", name, "ns/lookup", a.ns, "rte_hash", b.ns, b.ns / a.ns, extra);
}

/* ---- building ----------------------------------------------------------------- */

/* Insert keys[0..n) with batch_apply in chunks; returns seconds spent in
 * the table (key to op conversion excluded), or < 0 on failure. */
static double ours_fill(struct rg_table *t, const struct rg_fp *keys, uint64_t n,
			struct rg_table_op *ops)
{
	double sec = 0;

	if (rg_table_batch_begin(t) < 0)
		return -1;
	for (uint64_t i = 0; i < n; i += TB_CHUNK) {
		unsigned long m = n - i < TB_CHUNK ? (unsigned long)(n - i) : TB_CHUNK;
		uint64_t t0;
		long ret;

		for (unsigned long j = 0; j < m; j++) {
			ops[j].fp = keys[i + j];
			ops[j].val = tb_val(i + j);
			ops[j].kind = RG_TABLE_OP_UPSERT;
		}
		t0 = bench_now_ns();
		ret = rg_table_batch_apply(t, ops, m);
		sec += (double)(bench_now_ns() - t0) * 1e-9;
		if (ret != (long)m) {
			fprintf(stderr, "bench table: insert batch at key %llu: %s\n",
				(unsigned long long)i, strerror(ret < 0 ? (int)-ret : EIO));
			return -1;
		}
	}
	if (rg_table_batch_commit(t, n) < 0)
		return -1;
	return sec;
}

static double rte_fill(struct rte_hash *h, const struct rg_fp *keys, uint64_t n)
{
	uint64_t t0 = bench_now_ns();

	for (uint64_t i = 0; i < n; i++) {
		int ret = rte_hash_add_key_data(h, &keys[i], (void *)(uintptr_t)(i + 1));

		if (ret < 0) {
			fprintf(stderr, "bench table: rte_hash insert %llu of %llu: %s\n",
				(unsigned long long)i, (unsigned long long)n, strerror(-ret));
			return -1;
		}
	}
	return (double)(bench_now_ns() - t0) * 1e-9;
}

/* A second table of ours sized for n keys, filled past n until the first
 * failed insert: the load reached there. */
static int load_at_failure(struct tb_run *r, double *load)
{
	struct rg_table_opts o = {.replace = true, .quiet = true};
	struct rg_table_stats st;
	struct tb_rng rng = {.s = 0xfeedf00dull};
	struct rg_table *t = rg_table_create(r->path, r->nb_keys, &o);
	int ret = 0;

	if (!t)
		return -errno;
	for (uint64_t i = 0;; i++) {
		struct rg_fp k;

		tb_key(&rng, &k);
		ret = rg_table_insert(t, &k, tb_val(i));
		if (ret == -ENOSPC)
			break;
		if (ret < 0 && ret != -EEXIST)
			goto out_close;
	}
	ret = 0;
	rg_table_stats(t, &st);
	*load = st.load;
out_close:
	rg_table_close(t);
	unlink(r->path);
	return ret;
}

/* ---- one size ------------------------------------------------------------------ */

static void run_free(struct tb_run *r)
{
	if (r->t) {
		rg_table_close(r->t);
		unlink(r->path);
	}
	if (r->h)
		rte_hash_free(r->h);
	free(r->keys);
	free(r->miss_keys);
	free(r->hit_keys);
	free(r->ptrs);
	free(r->lat_tsc);
	memset(r, 0, sizeof(*r));
}

static int run_size(uint64_t n, const struct bench_opts *o, double tsc_hz)
{
	struct tb_run r = {.nb_keys = n, .tsc_hz = tsc_hz};
	struct rte_hash_parameters hp = {
		.name = "bench_table",
		.key_len = sizeof(struct rg_fp),
		.socket_id = 0,
		.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF,
	};
	struct rg_table_opts to = {.replace = true, .quiet = true};
	struct rte_malloc_socket_stats m0, m1;
	struct rg_table_stats st;
	struct tb_rng rng = {.s = o->seed};
	struct rg_table_op *ops = NULL;
	uint64_t need = n * TB_HUGE_PER_KEY + TB_HUGE_FIXED, have = huge_free_bytes();
	double ours_s, rte_s, load = 0, rte_slots, ours_b, rte_b;
	char size[32], name[64], extra[512];
	int ret = -ENOMEM;

	size_name(n, size, sizeof(size));
	if (have < need) {
		fprintf(stderr,
			"bench table: %s keys need about %llu MiB of free 2 MiB huge pages "
			"(rte_hash ~64 B/key, ours ~32 B/key), %llu MiB are free.\n"
			"  as root: RG_HUGEPAGES=%llu scripts/hugepages.sh  "
			"(or echo N > /proc/sys/vm/nr_hugepages); skipping %s\n",
			size, (unsigned long long)(need >> 20), (unsigned long long)(have >> 20),
			(unsigned long long)((need >> 21) + 64), size);
		return -ENOMEM;
	}
	snprintf(r.path, sizeof(r.path), TB_DIR "/rg-bench-table.%d", (int)getpid());
	r.keys = malloc(n * sizeof(*r.keys));
	r.miss_keys = malloc(TB_STREAM * sizeof(*r.miss_keys));
	r.hit_keys = malloc(TB_STREAM * sizeof(*r.hit_keys));
	r.ptrs = malloc(TB_STREAM * sizeof(*r.ptrs));
	r.lat_tsc = malloc(TB_STREAM / TB_BURST * sizeof(*r.lat_tsc));
	ops = malloc(TB_CHUNK * sizeof(*ops));
	if (!r.keys || !r.miss_keys || !r.hit_keys || !r.ptrs || !r.lat_tsc || !ops)
		goto out_free;
	for (uint64_t i = 0; i < n; i++)
		tb_key(&rng, &r.keys[i]);
	for (unsigned i = 0; i < TB_STREAM; i++) {
		uint64_t x = tb_next(&rng);

		if (x % 1000 < TB_MISS_PER_MILLE)
			tb_key(&rng, &r.miss_keys[i]);
		else
			r.miss_keys[i] = r.keys[(x >> 16) % n];
		r.hit_keys[i] = r.keys[tb_next(&rng) % n];
	}

	fprintf(stderr, "bench table: %s keys: filling rte_hash\n", size);
	hp.entries = (uint32_t)((double)n / TB_RTE_LOAD);
	rte_malloc_get_socket_stats(0, &m0);
	r.h = rte_hash_create(&hp);
	if (!r.h) {
		fprintf(stderr, "bench table: rte_hash_create(%u entries): %s\n", hp.entries,
			rte_strerror(rte_errno));
		ret = -rte_errno;
		goto out_free;
	}
	rte_s = rte_fill(r.h, r.keys, n);
	rte_malloc_get_socket_stats(0, &m1);
	if (rte_s < 0)
		goto out_free;
	rte_b = (double)(m1.heap_allocsz_bytes - m0.heap_allocsz_bytes) / (double)n;
	rte_slots = (double)rte_align32pow2(hp.entries);

	fprintf(stderr, "bench table: %s keys: filling the table at %s\n", size, r.path);
	unlink(r.path);
	r.t = rg_table_create(r.path, n, &to);
	if (!r.t) {
		ret = -errno;
		fprintf(stderr, "bench table: create %s: %s\n", r.path, strerror(errno));
		goto out_free;
	}
	rg_table_stats(r.t, &st);
	if (!st.hugetlb)
		fprintf(stderr, "bench table: WARNING: %s is not in huge pages\n", r.path);
	ours_s = ours_fill(r.t, r.keys, n, ops);
	if (ours_s < 0)
		goto out_free;
	rg_table_stats(r.t, &st);

	snprintf(name, sizeof(name), "insert.%s", size);
	snprintf(extra, sizeof(extra), ", \"load\": %.4f, \"displacements\": %llu, \"stash\": %llu",
		 st.load, (unsigned long long)st.nb_displacements, (unsigned long long)st.nb_stash);
	bench_result("table", name, "inserts/s", (double)n / ours_s, "rte_hash",
		     (double)n / rte_s, rte_s / ours_s, extra);

	lookup_case(&r, "miss_heavy", size, r.miss_keys, o->nb_rounds);
	lookup_case(&r, "hit_heavy", size, r.hit_keys, o->nb_rounds);

	/* A loaded table has no delete counters yet: the first delete builds
	 * them from the contents (one pass), the second is an ordinary one. */
	{
		uint64_t t0 = bench_now_ns(), t1, t2;
		int d1 = rg_table_delete(r.t, &r.keys[0]);

		t1 = bench_now_ns();
		if (d1 == 0)
			d1 = rg_table_delete(r.t, &r.keys[1]);
		t2 = bench_now_ns();
		if (d1 < 0 || rg_table_upsert(r.t, &r.keys[0], tb_val(0)) < 0 ||
		    rg_table_upsert(r.t, &r.keys[1], tb_val(1)) < 0) {
			fprintf(stderr, "bench table: delete/re-insert: %s\n", strerror(-d1));
			goto out_free;
		}
		snprintf(name, sizeof(name), "first_delete.%s", size);
		snprintf(extra, sizeof(extra), ", \"second_delete_us\": %.2f",
			 (double)(t2 - t1) * 1e-3);
		bench_result("table", name, "ms", (double)(t1 - t0) * 1e-6, NULL, 0, 0, extra);
	}

	ours_b = (double)(st.file_bytes + st.private_bytes) / (double)n;
	snprintf(name, sizeof(name), "bytes_per_entry.%s", size);
	snprintf(extra, sizeof(extra),
		 ", \"shared_bytes_per_entry\": %.2f, \"private_bytes_per_entry\": %.2f"
		 ", \"hugetlb\": %s",
		 (double)st.file_bytes / (double)n, (double)st.private_bytes / (double)n,
		 st.hugetlb ? "true" : "false");
	bench_result("table", name, "B/entry", ours_b, "rte_hash", rte_b, rte_b / ours_b, extra);

	rg_table_close(r.t);
	r.t = NULL;
	unlink(r.path);
	rte_hash_free(r.h);
	r.h = NULL;

	fprintf(stderr, "bench table: %s keys: filling a table to its first failed insert\n",
		size);
	ret = load_at_failure(&r, &load);
	if (ret < 0) {
		fprintf(stderr, "bench table: load test: %s\n", strerror(-ret));
		goto out_free;
	}
	snprintf(name, sizeof(name), "load_at_first_failure.%s", size);
	snprintf(extra, sizeof(extra), ", \"peer_slot_load_at_keys\": %.4f",
		 (double)n / rte_slots);
	bench_result("table", name, "load", load, NULL, 0, 0, extra);
	ret = 0;
out_free:
	free(ops);
	run_free(&r);
	return ret;
}

/* EAL's runtime directory (made even with --in-memory, named after the
 * file prefix), removed when the run ends however it ends. */
static void eal_runtime_remove(void)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s", rte_eal_get_runtime_dir());
	if (dir[0] != '\0' && strstr(dir, "/rgbtb") != NULL)
		bench_rmtree(dir);
}

int bench_table(const struct bench_opts *o)
{
	/* a file prefix of its own: never "rte", the default of every other
	 * DPDK process on the machine, and nothing left under /var/run/dpdk */
	char prefix[48];
	char *argv[] = {
		"riskgate-bench", "--in-memory", "-l", "0", "--no-telemetry", "--no-pci",
		"--log-level=lib.eal:error", prefix, NULL,
	};
	int argc = (int)(sizeof(argv) / sizeof(argv[0])) - 1;
	uint64_t sizes[8];
	double hz;
	int nb, ret = 0;

	nb = parse_keys(o->keys ? o->keys : "1M,10M", sizes, 8);
	if (nb < 0) {
		fprintf(stderr, "bench table: --keys %s: want a list like 1M,10M (1K..200M)\n",
			o->keys);
		return -EINVAL;
	}
	snprintf(prefix, sizeof(prefix), "--file-prefix=rgbtb%d", (int)getpid());
	if (rte_eal_init(argc, argv) < 0) {
		ret = -rte_errno;
		fprintf(stderr, "bench table: rte_eal_init: %s (huge pages: as root, "
				"RG_HUGEPAGES=1536 scripts/hugepages.sh)\n",
			rte_strerror(rte_errno));
		eal_runtime_remove();
		return ret;
	}
	hz = (double)rte_get_tsc_hz();
	bench_result("table", "tsc", "Hz", hz, NULL, 0, 0, "");
	for (int i = 0; i < nb; i++) {
		int r = run_size(sizes[i], o, hz);

		if (r < 0)
			ret = r;
	}
	rte_eal_cleanup();
	eal_runtime_remove();
	return ret;
}
