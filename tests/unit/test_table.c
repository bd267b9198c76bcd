/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the fingerprint table (common/table.c, docs/table.md):
 * value encoding and layout sizes against hand-computed numbers, every API
 * boundary (duplicate insert, absent delete, value limits, bulk sizes, a
 * full table and its stash), a differential run against a naive reference
 * under random operations, batches and ledger position, delete counters
 * built at the first delete (after create, reopen and grow), growth with a
 * reader switching generations, a writer killed with SIGKILL many times,
 * and a short multi-process run of a reader against a churning writer.
 *
 * Files go to /dev/shm (no huge pages needed); every file is removed.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/table.h"
#include "check.h"

static char g_path[256];

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Key i of a key set: 16 pseudo-random bytes, like a real fingerprint. */
static struct rg_fp key(uint64_t set, uint64_t i)
{
	uint64_t s = set * 0x100000001b3ull + i * 0x9e3779b97f4a7c15ull, a, b;
	struct rg_fp f;

	a = splitmix(&s);
	b = splitmix(&s);
	memcpy(f.b, &a, 8);
	memcpy(f.b + 8, &b, 8);
	return f;
}

static struct rg_table_val val_of(uint64_t i)
{
	struct rg_table_val v = {
		.lists = (uint16_t)(i * 7),
		.action = (uint8_t)(i % 16),
		.contributor = (uint16_t)(i % 4096),
	};

	return v;
}

static bool val_eq(struct rg_table_val a, struct rg_table_val b)
{
	return a.lists == b.lists && a.action == b.action && a.contributor == b.contributor;
}

static struct rg_table *create_bfs(uint64_t capacity, unsigned load_pct, unsigned bfs)
{
	struct rg_table_opts o = {
		.replace = true, .quiet = true, .load_pct = load_pct, .bfs_max_nodes = bfs};
	struct rg_table *t = rg_table_create(g_path, capacity, &o);

	CHECK(t != NULL, "create %s capacity %llu: %s", g_path, (unsigned long long)capacity,
	      strerror(errno));
	return t;
}

static struct rg_table *create(uint64_t capacity, unsigned load_pct)
{
	return create_bfs(capacity, load_pct, 0);
}

static void test_val_pack(void)
{
	static const struct {
		struct rg_table_val v;
		uint32_t packed;
	} cases[] = {
		{{0, 0, 0}, 0x00000000},
		{{0xffff, 0, 0}, 0x0000ffff},
		{{0, 15, 0}, 0x000f0000},
		{{0, 0, 4095}, 0xfff00000},
		{{0xbeef, 0xa, 0x123}, 0x123abeef},
		{{1, 1, 1}, 0x00110001},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_EQ(rg_table_val_pack(cases[i].v), cases[i].packed, "case %zu", i);
		CHECK(val_eq(rg_table_val_unpack(cases[i].packed), cases[i].v), "unpack case %zu", i);
	}
}

static void test_layout(void)
{
	/* nb_slots = ceil(capacity * 100 / load), buckets = ceil(slots / 3)
	 * (at least 2), blocks = ceil(buckets * 3 * bits / 512): by hand. */
	static const struct {
		uint64_t capacity;
		unsigned load_pct, bits;
		int err;
		uint64_t nb_buckets, nb_blocks;
	} cases[] = {
		{3000, 0, 0, 0, 1076, 76},
		{1, 95, 12, 0, 2, 1},
		{100000, 95, 8, 0, 35088, 1645},
		{100000, 50, 32, 0, 66667, 12501},
		{0, 0, 0, EINVAL, 0, 0},
		{1000, 49, 12, EINVAL, 0, 0},
		{1000, 99, 12, EINVAL, 0, 0},
		{1000, 90, 3, EINVAL, 0, 0},
		{1000, 90, 33, EINVAL, 0, 0},
		{1ull << 40, 90, 12, EINVAL, 0, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rg_table_opts o = {.replace = true,
					  .quiet = true,
					  .load_pct = cases[i].load_pct,
					  .filter_bits_per_slot = cases[i].bits};
		struct rg_table *t = rg_table_create(g_path, cases[i].capacity, &o);
		struct rg_table_stats s;

		if (cases[i].err) {
			CHECK(t == NULL && errno == cases[i].err, "case %zu: want errno %d, got %d",
			      i, cases[i].err, t ? 0 : errno);
			rg_table_close(t);
			continue;
		}
		CHECK(t != NULL, "case %zu: %s", i, strerror(errno));
		if (!t)
			continue;
		rg_table_stats(t, &s);
		CHECK_EQ(s.nb_buckets, cases[i].nb_buckets, "case %zu", i);
		CHECK_EQ(s.nb_slots, cases[i].nb_buckets * 3, "case %zu", i);
		CHECK_EQ(s.nb_filter_blocks, cases[i].nb_blocks, "case %zu", i);
		CHECK_EQ(s.capacity, cases[i].capacity, "case %zu", i);
		CHECK_EQ(s.count, 0, "case %zu", i);
		CHECK_EQ(s.generation, 1, "case %zu", i);
		CHECK(!s.hugetlb, "case %zu: /dev/shm is not hugetlbfs", i);
		CHECK(s.writer, "case %zu", i);
		rg_table_close(t);
		unlink(g_path);
	}
}

static void test_boundaries(void)
{
	struct rg_table *t = create(1000, 0), *r, *t2;
	struct rg_fp a = key(1, 1), b = key(1, 2), c = key(1, 3);
	struct rg_table_val v, big_action = {0, 16, 0}, big_contrib = {0, 0, 4096};
	struct rg_table_val max = {0xffff, 15, 4095};
	struct rg_table_opts o = {.quiet = true};
	struct rg_table_stats s;

	if (!t)
		return;
	/* table: op, key, expected return */
	CHECK_EQ(rg_table_delete(t, &a), -ENOENT, "delete from empty");
	CHECK_EQ(rg_table_update(t, &a, val_of(1)), -ENOENT, "update absent");
	CHECK_EQ(rg_table_lookup(t, &a, &v), -ENOENT, "lookup in empty");
	CHECK_EQ(rg_table_insert(t, &a, val_of(1)), 0, "insert");
	CHECK_EQ(rg_table_insert(t, &a, val_of(2)), -EEXIST, "duplicate insert");
	CHECK_EQ(rg_table_lookup(t, &a, &v), 0, "lookup");
	CHECK(val_eq(v, val_of(1)), "duplicate insert must not change the value");
	CHECK_EQ(rg_table_update(t, &a, val_of(3)), 0, "update present");
	CHECK_EQ(rg_table_lookup(t, &a, &v), 0, "lookup");
	CHECK(val_eq(v, val_of(3)), "updated value");
	CHECK_EQ(rg_table_upsert(t, &b, val_of(4)), 0, "upsert absent");
	CHECK_EQ(rg_table_upsert(t, &b, val_of(5)), 0, "upsert present");
	CHECK_EQ(rg_table_lookup(t, &b, &v), 0, "lookup");
	CHECK(val_eq(v, val_of(5)), "upserted value");
	CHECK_EQ(rg_table_insert(t, &c, big_action), -EINVAL, "action 16");
	CHECK_EQ(rg_table_insert(t, &c, big_contrib), -EINVAL, "contributor 4096");
	CHECK_EQ(rg_table_insert(t, &c, max), 0, "largest value");
	CHECK_EQ(rg_table_lookup(t, &c, &v), 0, "lookup");
	CHECK(val_eq(v, max), "largest value round trip");
	CHECK_EQ(rg_table_lookup(t, &c, NULL), 0, "lookup without value");
	CHECK_EQ(rg_table_delete(t, &a), 0, "delete");
	CHECK_EQ(rg_table_delete(t, &a), -ENOENT, "delete twice");
	CHECK_EQ(rg_table_lookup(t, &a, &v), -ENOENT, "deleted key");
	rg_table_stats(t, &s);
	CHECK_EQ(s.count, 2, "count");

	/* Bulk sizes 0, 1, 63, 64 and 65 (refused). */
	{
		static const unsigned sizes[] = {0, 1, 63, 64, 65};
		struct rg_fp keys[65];
		const struct rg_fp *ptrs[65];
		struct rg_table_val vals[65];

		for (unsigned i = 0; i < 65; i++) {
			keys[i] = key(2, i);
			ptrs[i] = &keys[i];
			if (i % 2 == 0)
				CHECK_EQ(rg_table_insert(t, &keys[i], val_of(i)), 0, "insert %u", i);
		}
		for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
			unsigned n = sizes[k];
			uint64_t want = 0;

			for (unsigned i = 0; i < n && n <= 64; i += 2)
				want |= 1ull << i;
			memset(vals, 0xee, sizeof(vals));
			CHECK_EQ(rg_table_lookup_bulk(t, ptrs, n, vals), want, "bulk n=%u", n);
			for (unsigned i = 0; i < n && n <= 64; i += 2)
				CHECK(val_eq(vals[i], val_of(i)), "bulk n=%u value %u", n, i);
			for (unsigned i = 1; i < n && n <= 64; i += 2)
				CHECK_EQ(vals[i].lists, 0xeeee, "bulk n=%u: miss %u untouched", n, i);
			CHECK_EQ(rg_table_lookup_burst(t, keys, n, vals), want, "burst n=%u", n);
		}
		/* The bulk lookup switches to its hit-heavy mode (filter
		 * skipped) after bursts of hits and back after bursts of
		 * misses: every phase must give the same answers.  Phases:
		 * all hits, all misses, all hits, mixed. */
		for (unsigned phase = 0; phase < 4; phase++) {
			for (unsigned round = 0; round < 12; round++) {
				const struct rg_fp *sel[32];
				uint64_t want = 0;

				for (unsigned i = 0; i < 32; i++) {
					unsigned k = phase == 1 ? 2 * i + 1
						   : phase == 3 ? (i + round) % 64
								: 2 * i;

					sel[i] = ptrs[k];
					if (k % 2 == 0)
						want |= 1ull << i;
				}
				memset(vals, 0xee, sizeof(vals));
				CHECK_EQ(rg_table_lookup_bulk(t, sel, 32, vals), want,
					 "mode phase %u round %u", phase, round);
				for (unsigned i = 0; i < 32; i++) {
					if (want >> i & 1)
						CHECK(val_eq(vals[i], val_of(phase == 3 ? (i + round) % 64
											 : 2 * i)),
						      "mode phase %u value %u", phase, i);
				}
			}
		}
	}

	/* Handles: second writer, readers cannot write, bad files. */
	errno = 0;
	t2 = rg_table_open_writer(g_path);
	CHECK(t2 == NULL && errno == EBUSY, "second writer: errno %d", errno);
	rg_table_close(t2);
	errno = 0;
	CHECK(rg_table_create(g_path, 10, &o) == NULL && errno == EEXIST, "create over a table");
	r = rg_table_open_reader(g_path);
	CHECK(r != NULL, "reader: %s", strerror(errno));
	if (r) {
		CHECK_EQ(rg_table_insert(r, &a, val_of(1)), -EPERM, "insert via reader");
		CHECK_EQ(rg_table_delete(r, &b), -EPERM, "delete via reader");
		CHECK_EQ(rg_table_grow(r, 0), -EPERM, "grow via reader");
		CHECK_EQ(rg_table_batch_begin(r), -EPERM, "batch via reader");
		CHECK_EQ(rg_table_lookup(r, &b, &v), 0, "reader sees b");
		CHECK_EQ(rg_table_lookup(r, &a, &v), -ENOENT, "reader does not see a");
		rg_table_stats(r, &s);
		CHECK_EQ(s.nb_readers, 1, "registered readers");
		CHECK(!s.writer, "reader stats");
		rg_table_close(r);
	}
	rg_table_close(t);
	t2 = rg_table_open_writer(g_path);
	CHECK(t2 != NULL, "reopen writer: %s", strerror(errno));
	if (t2) {
		rg_table_stats(t2, &s);
		CHECK_EQ(s.count, 2 + 33, "count after reopen");
		CHECK_EQ(s.nb_repairs, 0, "clean close needs no repair");
		CHECK_EQ(rg_table_lookup(t2, &b, &v), 0, "b survives reopen");
		CHECK(val_eq(v, val_of(5)), "b's value survives");
		rg_table_close(t2);
	}
	unlink(g_path);

	{
		FILE *f = fopen(g_path, "w");

		if (f) {
			fputs("not a table, but long enough to be mapped and checked........", f);
			fclose(f);
		}
		errno = 0;
		CHECK(rg_table_open_reader(g_path) == NULL && errno == EINVAL, "garbage file");
		errno = 0;
		CHECK(rg_table_open_writer(g_path) == NULL && errno == EINVAL, "garbage file w");
		unlink(g_path);
		errno = 0;
		CHECK(rg_table_open_reader(g_path) == NULL && errno == ENOENT, "no file");
	}
}

/* A tiny table filled until -ENOSPC: 11 buckets (33 slots) + 48 stash. */
static void test_full(void)
{
	struct rg_table *t = create(30, 95);
	struct rg_table_stats s;
	struct rg_table_val v;
	uint64_t n = 0;
	int ret = 0;

	if (!t)
		return;
	rg_table_stats(t, &s);
	CHECK_EQ(s.nb_slots, 33, "slots");
	for (n = 0; n < 1000; n++) {
		struct rg_fp k = key(3, n);

		ret = rg_table_insert(t, &k, val_of(n));
		if (ret)
			break;
	}
	CHECK_EQ(ret, -ENOSPC, "full table");
	rg_table_stats(t, &s);
	CHECK(n >= 33 && n <= 33 + 48, "entries before full: %llu", (unsigned long long)n);
	CHECK(n > 33 * 95 / 100, "load before the first failure: %llu", (unsigned long long)n);
	CHECK_EQ(s.count, n, "count");
	CHECK_EQ(s.nb_failed_inserts, 1, "failed inserts");
	CHECK(s.nb_stash > 0, "stash used");
	for (uint64_t i = 0; i < n; i++) {
		struct rg_fp k = key(3, i);

		CHECK(rg_table_lookup(t, &k, &v) == 0 && val_eq(v, val_of(i)), "key %llu",
		      (unsigned long long)i);
	}
	{
		struct rg_fp k = key(3, n);

		CHECK_EQ(rg_table_lookup(t, &k, &v), -ENOENT, "refused key absent");
		CHECK_EQ(rg_table_insert(t, &k, val_of(n)), -ENOSPC, "still full");
		k = key(3, 0);
		CHECK_EQ(rg_table_delete(t, &k), 0, "delete one");
		k = key(3, n);
		CHECK_EQ(rg_table_insert(t, &k, val_of(n)), 0, "room again");
		k = key(3, 0);
		CHECK_EQ(rg_table_lookup(t, &k, &v), -ENOENT, "deleted stays deleted");
	}
	/* Empty it again: every key found and deleted once, stash drained. */
	for (uint64_t i = 1; i <= n; i++) {
		struct rg_fp k = key(3, i);

		CHECK_EQ(rg_table_delete(t, &k), 0, "drain %llu", (unsigned long long)i);
	}
	rg_table_stats(t, &s);
	CHECK_EQ(s.count, 0, "empty");
	CHECK_EQ(s.nb_stash, 0, "stash empty");
	rg_table_close(t);
	unlink(g_path);
}

/* ---- differential test against a naive reference ------------------------ */

struct ref {
	struct rg_fp *k;
	struct rg_table_val *v;
	uint8_t *used; /* 0 free, 1 used, 2 deleted (tombstone) */
	uint64_t cap, count;
};

static uint64_t ref_slot(const struct ref *r, const struct rg_fp *k, bool for_insert)
{
	uint64_t h, i, tomb = UINT64_MAX;

	memcpy(&h, k->b + 3, 8);
	for (i = h % r->cap;; i = (i + 1) % r->cap) {
		if (r->used[i] == 0)
			return for_insert && tomb != UINT64_MAX ? tomb : i;
		if (r->used[i] == 2) {
			if (tomb == UINT64_MAX)
				tomb = i;
			continue;
		}
		if (!memcmp(r->k[i].b, k->b, 16))
			return i;
	}
}

static bool ref_get(const struct ref *r, const struct rg_fp *k, struct rg_table_val *v)
{
	uint64_t i = ref_slot(r, k, false);

	if (r->used[i] != 1)
		return false;
	if (v)
		*v = r->v[i];
	return true;
}

static void ref_put(struct ref *r, const struct rg_fp *k, struct rg_table_val v)
{
	uint64_t i = ref_slot(r, k, false);

	if (r->used[i] != 1) {
		i = ref_slot(r, k, true);
		r->count++;
	}
	r->used[i] = 1;
	r->k[i] = *k;
	r->v[i] = v;
}

static void ref_del(struct ref *r, const struct rg_fp *k)
{
	uint64_t i = ref_slot(r, k, false);

	if (r->used[i] == 1) {
		r->used[i] = 2;
		r->count--;
	}
}

static void full_compare(struct rg_table *t, const struct ref *r, const char *when)
{
	struct rg_table_stats s;
	struct rg_table_val v;
	struct rg_fp k;
	uint64_t cursor = 0, seen = 0, bad = 0;

	rg_table_stats(t, &s);
	CHECK_EQ(s.count, r->count, "%s: count", when);
	while (rg_table_iterate(t, &cursor, &k, &v) == 0) {
		struct rg_table_val rv;

		seen++;
		if (!ref_get(r, &k, &rv) || !val_eq(rv, v))
			bad++;
	}
	CHECK_EQ(seen, r->count, "%s: iterated entries", when);
	CHECK_EQ(bad, 0, "%s: iterated entries not in the reference", when);
}

static void test_differential(void)
{
	enum { POOL = 76000, CAPACITY = 40000, NB_OPS = 2000000 };
	struct ref r = {.cap = 1 << 18};
	/* A short path search keeps the many refusals of a full table cheap. */
	struct rg_table *t = create_bfs(CAPACITY, 95, 128);
	uint64_t seed = 12345, nb_fail = 0, nb_enospc = 0;
	struct rg_fp *pool = malloc(sizeof(*pool) * POOL);

	r.k = calloc(r.cap, sizeof(*r.k));
	r.v = calloc(r.cap, sizeof(*r.v));
	r.used = calloc(r.cap, 1);
	if (!t || !pool || !r.k || !r.v || !r.used) {
		CHECK(0, "setup");
		goto out;
	}
	for (uint64_t i = 0; i < POOL; i++)
		pool[i] = key(4, i);
	for (uint64_t op = 0; op < NB_OPS; op++) {
		uint64_t x = splitmix(&seed);
		/* Bias towards the pool's low end so the table sits near full. */
		const struct rg_fp *k = &pool[(x >> 8) % (op & 1 ? POOL : POOL * 3 / 4)];
		struct rg_table_val v = val_of(x >> 40), got, want = {0};
		bool present = ref_get(&r, k, &want);
		int ret, exp;

		switch (x % 8) {
		case 0:
		case 1:
			ret = rg_table_insert(t, k, v);
			exp = present ? -EEXIST : 0;
			if (ret == -ENOSPC && !present) {
				nb_enospc++;
				break;
			}
			nb_fail += ret != exp;
			if (ret == 0)
				ref_put(&r, k, v);
			break;
		case 2:
			ret = rg_table_upsert(t, k, v);
			if (ret == -ENOSPC && !present) {
				nb_enospc++;
				break;
			}
			nb_fail += ret != 0;
			if (ret == 0)
				ref_put(&r, k, v);
			break;
		case 3:
			ret = rg_table_update(t, k, v);
			nb_fail += ret != (present ? 0 : -ENOENT);
			if (ret == 0)
				ref_put(&r, k, v);
			break;
		case 4:
		case 5:
			ret = rg_table_delete(t, k);
			nb_fail += ret != (present ? 0 : -ENOENT);
			ref_del(&r, k);
			break;
		case 6:
			ret = rg_table_lookup(t, k, &got);
			nb_fail += ret != (present ? 0 : -ENOENT) || (present && !val_eq(got, want));
			break;
		default: {
			const struct rg_fp *ptrs[32];
			struct rg_table_val vals[32];
			uint64_t want_mask = 0, m;

			for (unsigned i = 0; i < 32; i++) {
				ptrs[i] = &pool[(x + i * 7919) % POOL];
				if (ref_get(&r, ptrs[i], NULL))
					want_mask |= 1ull << i;
			}
			m = rg_table_lookup_bulk(t, ptrs, 32, vals);
			nb_fail += m != want_mask;
			for (unsigned i = 0; i < 32; i++) {
				if (m >> i & 1) {
					ref_get(&r, ptrs[i], &want);
					nb_fail += !val_eq(vals[i], want);
				}
			}
			break;
		}
		}
		if (nb_fail) {
			CHECK(0, "op %llu (kind %llu) differs from the reference",
			      (unsigned long long)op, (unsigned long long)(x % 8));
			break;
		}
		if (op % 500000 == 499999)
			full_compare(t, &r, "differential");
	}
	full_compare(t, &r, "differential end");
	{
		struct rg_table_stats s;

		rg_table_stats(t, &s);
		CHECK(s.nb_displacements > 0, "the run must exercise cuckoo moves");
		CHECK(s.load > 0.9, "the run must reach high load: %.3f", s.load);
		printf("differential: %d ops, load %.3f, %llu moves, %llu full-table refusals\n",
		       NB_OPS, s.load, (unsigned long long)s.nb_displacements,
		       (unsigned long long)nb_enospc);
	}
	/* Reopening rebuilds the filter from the contents: same answers. */
	rg_table_close(t);
	t = rg_table_open_writer(g_path);
	CHECK(t != NULL, "reopen: %s", strerror(errno));
	if (t)
		full_compare(t, &r, "after reopen");
	for (uint64_t i = 0; t && i < POOL; i++) {
		bool present = ref_get(&r, &pool[i], NULL);

		if ((rg_table_lookup(t, &pool[i], NULL) == 0) != present) {
			CHECK(0, "pool key %llu after reopen", (unsigned long long)i);
			break;
		}
	}
out:
	rg_table_close(t);
	unlink(g_path);
	free(pool);
	free(r.k);
	free(r.v);
	free(r.used);
}

static void test_batch(void)
{
	struct rg_table *t = create(1000, 0), *r;
	struct rg_table_op ops[100];
	uint32_t cur, prev;
	bool in_batch;

	if (!t)
		return;
	r = rg_table_open_reader(g_path);
	CHECK(r != NULL, "reader");
	if (!r)
		goto out;
	for (unsigned i = 0; i < 100; i++) {
		ops[i].fp = key(5, i % 60);
		ops[i].val = val_of(i);
		ops[i].kind = i < 80 ? RG_TABLE_OP_UPSERT : RG_TABLE_OP_DELETE;
	}
	CHECK_EQ(rg_table_ledger_pos(r, &in_batch), 0, "fresh ledger pos");
	CHECK(!in_batch, "no batch yet");
	CHECK_EQ(rg_table_batch_commit(t, 5), -EINVAL, "commit without begin");
	CHECK_EQ(rg_table_batch_begin(t), 0, "begin");
	CHECK_EQ(rg_table_batch_begin(t), -EBUSY, "nested begin");
	CHECK_EQ(rg_table_batch_apply(t, ops, 100), 100, "apply");
	CHECK_EQ(rg_table_ledger_pos(r, &in_batch), 0, "position before commit");
	CHECK(in_batch, "batch visible as in progress");
	CHECK_EQ(rg_table_grow(t, 0), -EBUSY, "grow inside a batch");
	CHECK_EQ(rg_table_batch_commit(t, 4242), 0, "commit");
	CHECK_EQ(rg_table_ledger_pos(r, &in_batch), 4242, "committed position");
	CHECK(!in_batch, "batch done");
	/* ops 0..79 upsert keys 0..59 (0..19 twice, last with ops 60..79);
	 * ops 80..99 delete keys 20..39. */
	for (unsigned i = 0; i < 60; i++) {
		struct rg_fp k = key(5, i);
		struct rg_table_val v;
		bool want = !(i >= 20 && i < 40);
		int ret = rg_table_lookup(r, &k, &v);

		CHECK_EQ(ret == 0, want, "key %u after batch", i);
		if (ret == 0)
			CHECK(val_eq(v, val_of(i < 20 ? i + 60 : i)), "value of %u", i);
	}
	{
		struct rg_table_op bad = {.fp = key(5, 99), .kind = 9};

		CHECK_EQ(rg_table_batch_begin(t), 0, "begin");
		CHECK_EQ(rg_table_batch_apply(t, &bad, 1), -EINVAL, "unknown op kind");
		CHECK_EQ(rg_table_batch_commit(t, 4243), 0, "commit");
	}
	CHECK_EQ(rg_table_set_key_epochs(t, 7, 6), 0, "epochs");
	CHECK_EQ(rg_table_set_key_epochs(r, 1, 1), -EPERM, "epochs via reader");
	rg_table_key_epochs(r, &cur, &prev);
	CHECK(cur == 7 && prev == 6, "epochs %u %u", cur, prev);
	rg_table_close(r);
out:
	rg_table_close(t);
	unlink(g_path);
}

/* Set bits of the file's Bloom filter, read from the file (docs/table.md,
 * file format: off_hdr at byte 24 of the registry head; nb_blocks and
 * off_filter at bytes 64 and 96 of the header).  -1 on a read error. */
static long filter_bits_set(void)
{
	FILE *f = fopen(g_path, "rb");
	uint64_t off_hdr, nb_blocks, off_filter, w;
	long n = -1;

	if (!f)
		return -1;
	if (fseek(f, 24, SEEK_SET) || fread(&off_hdr, 8, 1, f) != 1 ||
	    fseek(f, (long)off_hdr + 64, SEEK_SET) || fread(&nb_blocks, 8, 1, f) != 1 ||
	    fseek(f, (long)off_hdr + 96, SEEK_SET) || fread(&off_filter, 8, 1, f) != 1 ||
	    fseek(f, (long)off_filter, SEEK_SET))
		goto out_close;
	n = 0;
	for (uint64_t i = 0; i < nb_blocks * 8; i++) {
		if (fread(&w, 8, 1, f) != 1) {
			n = -1;
			break;
		}
		n += __builtin_popcountll(w);
	}
out_close:
	fclose(f);
	return n;
}

/* Keys set.[from, to) present with their values (want) or absent. */
static void expect_keys(struct rg_table *t, uint64_t set, uint64_t from, uint64_t to, bool want,
			const char *when)
{
	for (uint64_t i = from; i < to; i++) {
		struct rg_fp k = key(set, i);
		struct rg_table_val v;
		int ret = rg_table_lookup(t, &k, &v);

		if ((ret == 0) != want || (ret == 0 && !val_eq(v, val_of(i)))) {
			CHECK(0, "%s: key %llu %s", when, (unsigned long long)i,
			      want ? "missing or wrong" : "still found");
			return;
		}
	}
}

/*
 * A table loaded without deletes keeps no delete counters; the first
 * delete counts the contents (cnt_build).  Regression cases: the count
 * must include every key (else a delete would clear a bit another present
 * key needs), after create, after a clean reopen and after a grow, and
 * deleting every key must leave an empty filter.
 */
static void test_lazy_counters(void)
{
	struct rg_table *t = create(1000, 0);
	long nb_loaded;

	if (!t)
		return;
	/* Dense: 900 keys in 26 blocks share many bits. */
	for (uint64_t i = 0; i < 900; i++) {
		struct rg_fp k = key(11, i);

		CHECK_EQ(rg_table_insert(t, &k, val_of(i)), 0, "insert %llu",
			 (unsigned long long)i);
	}
	nb_loaded = filter_bits_set();
	CHECK(nb_loaded > 0, "filter set");
	for (uint64_t i = 0; i < 450; i++) {
		struct rg_fp k = key(11, i);

		CHECK_EQ(rg_table_delete(t, &k), 0, "delete %llu", (unsigned long long)i);
	}
	expect_keys(t, 11, 0, 450, false, "fresh table, after the first deletes");
	expect_keys(t, 11, 450, 900, true, "fresh table, after the first deletes");
	for (uint64_t i = 450; i < 900; i++) {
		struct rg_fp k = key(11, i);

		CHECK_EQ(rg_table_delete(t, &k), 0, "delete %llu", (unsigned long long)i);
	}
	/* Bits with sticky counters (3+ keys, common this dense) stay. */
	CHECK(filter_bits_set() < nb_loaded / 2, "filter after deleting all: %ld of %ld bits",
	      filter_bits_set(), nb_loaded);

	/* Sparse: 30 keys, no bit shared by three; deleting all empties it. */
	rg_table_close(t);
	t = create(1000, 0);
	if (!t)
		return;
	for (uint64_t i = 0; i < 30; i++) {
		struct rg_fp k = key(12, i);

		CHECK_EQ(rg_table_upsert(t, &k, val_of(i + 1)), 0, "upsert");
		CHECK_EQ(rg_table_upsert(t, &k, val_of(i)), 0, "upsert again (update)");
	}
	expect_keys(t, 12, 0, 30, true, "sparse, loaded");
	for (uint64_t i = 0; i < 30; i++) {
		struct rg_fp k = key(12, i);

		CHECK_EQ(rg_table_delete(t, &k), 0, "delete sparse %llu", (unsigned long long)i);
	}
	CHECK_EQ(filter_bits_set(), 0, "sparse filter empty after deleting all");

	/* A clean reopen keeps no counters either. */
	for (uint64_t i = 0; i < 900; i++) {
		struct rg_fp k = key(13, i);

		CHECK_EQ(rg_table_insert(t, &k, val_of(i)), 0, "insert 13.%llu",
			 (unsigned long long)i);
	}
	rg_table_close(t);
	t = rg_table_open_writer(g_path);
	CHECK(t != NULL, "reopen: %s", strerror(errno));
	if (!t)
		goto out;
	for (uint64_t i = 0; i < 900; i += 2) {
		struct rg_fp k = key(13, i);

		CHECK_EQ(rg_table_delete(t, &k), 0, "delete after reopen %llu",
			 (unsigned long long)i);
	}
	for (uint64_t i = 0; i < 900; i++) {
		struct rg_fp k = key(13, i);
		int ret = rg_table_lookup(t, &k, NULL);

		if ((ret == 0) != (i % 2 == 1)) {
			CHECK(0, "after reopen and deletes: key %llu", (unsigned long long)i);
			break;
		}
	}

	/* A grown generation starts without counters. */
	CHECK_EQ(rg_table_grow(t, 4000), 0, "grow");
	for (uint64_t i = 900; i < 3000; i++) {
		struct rg_fp k = key(13, i);

		CHECK_EQ(rg_table_insert(t, &k, val_of(i)), 0, "insert after grow");
	}
	for (uint64_t i = 1; i < 3000; i += 4) {
		struct rg_fp k = key(13, i);

		CHECK_EQ(rg_table_delete(t, &k), 0, "delete after grow %llu",
			 (unsigned long long)i);
	}
	for (uint64_t i = 0; i < 3000; i++) {
		struct rg_fp k = key(13, i);
		bool want = i >= 900 ? i % 4 != 1 : i % 4 == 3;
		int ret = rg_table_lookup(t, &k, NULL);

		if ((ret == 0) != want) {
			CHECK(0, "after grow and deletes: key %llu", (unsigned long long)i);
			break;
		}
	}
	CHECK_EQ(rg_table_reclaim(t), 0, "reclaim");
out:
	rg_table_close(t);
	unlink(g_path);
}

static void test_grow(void)
{
	struct rg_table *t = create(300, 0), *r;
	struct rg_table_stats s;
	struct rg_table_val v;
	uint64_t gen_before;

	if (!t)
		return;
	/* The all-zero fingerprint is a key like any other. */
	CHECK_EQ(rg_table_insert(t, &(struct rg_fp){{0}}, val_of(0)), 0, "zero key");
	for (unsigned i = 0; i < 300; i++) {
		struct rg_fp k = key(6, i);

		rg_table_insert(t, &k, val_of(i));
	}
	rg_table_set_key_epochs(t, 3, 2);
	rg_table_batch_begin(t);
	rg_table_batch_commit(t, 77);
	r = rg_table_open_reader(g_path);
	CHECK(r != NULL, "reader");
	if (!r)
		goto out;
	rg_table_stats(r, &s);
	gen_before = s.generation;
	CHECK_EQ(rg_table_grow(t, 100), -ENOSPC, "grow smaller than the contents");
	CHECK_EQ(rg_table_grow(t, 0), 0, "grow");
	rg_table_stats(t, &s);
	CHECK_EQ(s.generation, gen_before + 1, "writer generation");
	CHECK_EQ(s.capacity, 602, "twice the count (301 > capacity 300)");
	CHECK_EQ(s.count, 301, "entries copied");
	CHECK_EQ(s.ledger_pos, 77, "ledger position copied");
	CHECK(s.old_generation_pending, "old generation waits for the reader");
	CHECK_EQ(rg_table_reclaim(t), -EAGAIN, "reader not yet quiescent");
	CHECK_EQ(rg_table_grow(t, 0), -EBUSY, "second grow while the first waits");
	/* The reader still screens against the old generation, complete. */
	for (unsigned i = 0; i < 300; i++) {
		struct rg_fp k = key(6, i);

		CHECK(rg_table_lookup(r, &k, &v) == 0 && val_eq(v, val_of(i)), "old gen key %u", i);
	}
	{
		struct rg_fp k = key(6, 1000);

		struct rg_fp d = key(6, 7);

		CHECK_EQ(rg_table_insert(t, &k, val_of(1000)), 0, "insert into the new gen");
		/* Regression: writes after the switch are mirrored into the old
		 * generation while readers remain there, else a reader that
		 * has not yet moved would report a key whose delete returned. */
		CHECK_EQ(rg_table_lookup(r, &k, NULL), 0, "insert mirrored to the old gen");
		CHECK_EQ(rg_table_update(t, &d, val_of(2000)), 0, "update in the new gen");
		CHECK(rg_table_lookup(r, &d, &v) == 0 && val_eq(v, val_of(2000)),
		      "update mirrored to the old gen");
		CHECK_EQ(rg_table_delete(t, &d), 0, "delete in the new gen");
		CHECK_EQ(rg_table_lookup(r, &d, NULL), -ENOENT, "delete mirrored to the old gen");
		CHECK_EQ(rg_table_insert(t, &d, val_of(7)), 0, "reinsert");
		CHECK_EQ(rg_table_reader_quiescent(r), 1, "reader switches");
		CHECK_EQ(rg_table_reader_quiescent(r), 0, "once");
		CHECK_EQ(rg_table_lookup(r, &k, NULL), 0, "new gen key");
		CHECK_EQ(rg_table_lookup(r, &(struct rg_fp){{0}}, NULL), 0, "zero key copied");
	}
	rg_table_stats(r, &s);
	CHECK_EQ(s.generation, gen_before + 1, "reader generation");
	CHECK_EQ(s.nb_readers, 1, "reader registered in the new file");
	for (unsigned i = 0; i < 300; i++) {
		struct rg_fp k = key(6, i);

		CHECK(rg_table_lookup(r, &k, &v) == 0 && val_eq(v, val_of(i)), "new gen key %u", i);
	}
	{
		uint32_t cur, prev;

		rg_table_key_epochs(r, &cur, &prev);
		CHECK(cur == 3 && prev == 2, "epochs copied");
	}
	CHECK_EQ(rg_table_reclaim(t), 0, "old generation released");
	rg_table_stats(t, &s);
	CHECK(!s.old_generation_pending, "nothing pending");
	rg_table_close(r);

	/* A reader attaching after the switch maps the new generation. */
	r = rg_table_open_reader(g_path);
	CHECK(r != NULL, "late reader");
	if (r) {
		rg_table_stats(r, &s);
		CHECK_EQ(s.generation, gen_before + 1, "late reader generation");
		rg_table_close(r);
	}
	rg_table_close(t);
	unlink(g_path);

	/* auto_grow: a full table doubles instead of refusing. */
	{
		struct rg_table_opts o = {.replace = true, .quiet = true, .auto_grow = true};

		t = rg_table_create(g_path, 50, &o);
		CHECK(t != NULL, "create auto_grow");
		for (unsigned i = 0; t && i < 1000; i++) {
			struct rg_fp k = key(7, i);

			int ret = rg_table_insert(t, &k, val_of(i));

			if (ret) {
				CHECK(0, "auto_grow insert %u: %d", i, ret);
				break;
			}
			rg_table_reclaim(t);
		}
		if (t) {
			rg_table_stats(t, &s);
			CHECK_EQ(s.count, 1000, "auto_grow count");
			CHECK(s.generation >= 3, "grew several times: %llu",
			      (unsigned long long)s.generation);
		}
		rg_table_close(t);
		unlink(g_path);
	}
	return;
out:
	rg_table_close(t);
	unlink(g_path);
}

/* ---- processes ------------------------------------------------------------- */

static void sleep_us(long us)
{
	struct timespec ts = {us / 1000000, (us % 1000000) * 1000};

	nanosleep(&ts, NULL);
}

/* Writer churn at high load: deletes and inserts of volatile keys, so
 * entries move along cuckoo paths all the time. */
static void churn(struct rg_table *t, uint64_t seed, uint64_t nb_volatile, volatile int *stop)
{
	while (!stop || !*stop) {
		uint64_t i = splitmix(&seed) % nb_volatile;
		struct rg_fp k = key(9, i);

		if (rg_table_delete(t, &k) == -ENOENT)
			rg_table_insert(t, &k, val_of(i));
		if (!stop && (seed & 0xff) == 0) {
			rg_table_batch_begin(t);
			for (unsigned j = 0; j < 64; j++) {
				k = key(9, (i + j) % nb_volatile);
				rg_table_upsert(t, &k, val_of(i));
			}
			rg_table_batch_commit(t, seed);
		}
	}
}

static void test_kill_writer(void)
{
	enum { STABLE = 2000, VOLATILE = 3000, ROUNDS = 25 };
	struct rg_table *t = create(4500, 95);
	struct rg_table_stats s;
	uint64_t seed = 777;

	if (!t)
		return;
	for (unsigned i = 0; i < STABLE; i++) {
		struct rg_fp k = key(8, i);

		CHECK_EQ(rg_table_insert(t, &k, val_of(i)), 0, "stable %u", i);
	}
	rg_table_close(t);
	for (unsigned round = 0; round < ROUNDS; round++) {
		pid_t pid = fork();

		if (pid == 0) {
			struct rg_table *w = rg_table_open_writer(g_path);

			if (!w)
				_exit(2);
			churn(w, round * 1000003ull + 1, VOLATILE, NULL);
			_exit(0);
		}
		sleep_us(20000 + (long)(splitmix(&seed) % 30000));
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		t = rg_table_open_writer(g_path);
		CHECK(t != NULL, "round %u: reopen after kill: %s", round, strerror(errno));
		if (!t)
			return;
		{
			uint64_t cursor = 0, n = 0, dup = 0;
			struct rg_fp k;
			struct rg_table_val v;

			/* No entry twice: iterate and look each one up in the reference
			 * set of all keys this test could have written. */
			static uint8_t seen[STABLE + VOLATILE];

			memset(seen, 0, sizeof(seen));
			while (rg_table_iterate(t, &cursor, &k, &v) == 0) {
				unsigned idx = UINT32_MAX;

				for (unsigned i = 0; i < STABLE && idx == UINT32_MAX; i++)
					if (!memcmp(key(8, i).b, k.b, 16))
						idx = i;
				for (unsigned i = 0; i < VOLATILE && idx == UINT32_MAX; i++)
					if (!memcmp(key(9, i).b, k.b, 16))
						idx = STABLE + i;
				n++;
				if (idx == UINT32_MAX || seen[idx]++)
					dup++;
			}
			rg_table_stats(t, &s);
			CHECK_EQ(dup, 0, "round %u: duplicate or foreign entries", round);
			CHECK_EQ(s.count, n, "round %u: count", round);
		}
		for (unsigned i = 0; i < STABLE; i++) {
			struct rg_fp k = key(8, i);
			struct rg_table_val v;

			if (rg_table_lookup(t, &k, &v) != 0 || !val_eq(v, val_of(i))) {
				CHECK(0, "round %u: stable key %u lost", round, i);
				break;
			}
		}
		rg_table_close(t);
	}
	t = rg_table_open_writer(g_path);
	if (t) {
		rg_table_stats(t, &s);
		CHECK(s.nb_repairs > 0, "some kills must land inside an operation");
		printf("kill -9: %d rounds, %llu repairs\n", ROUNDS,
		       (unsigned long long)s.nb_repairs);
		rg_table_close(t);
	}
	unlink(g_path);
}

/*
 * A reader process against a churning writer: stable keys are always
 * found, and a doomed key deleted before the reader read the shared
 * progress counter is never found.
 */
static void test_concurrent(void)
{
	enum { STABLE = 3000, VOLATILE = 2600, DOOMED = 2000 };
	struct shared {
		volatile int stop;
		uint64_t nb_deleted; /* doomed keys 0..n-1 are deleted */
	} *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct rg_table *t = create(7600, 95);
	int status = 0;
	pid_t pid;

	if (!t || sh == MAP_FAILED) {
		CHECK(0, "setup");
		rg_table_close(t);
		return;
	}
	sh->stop = 0;
	sh->nb_deleted = 0;
	for (unsigned i = 0; i < STABLE; i++) {
		struct rg_fp k = key(8, i);

		rg_table_insert(t, &k, val_of(i));
	}
	for (unsigned i = 0; i < DOOMED; i++) {
		struct rg_fp k = key(10, i);

		rg_table_insert(t, &k, val_of(i));
	}
	pid = fork();
	if (pid == 0) {
		struct rg_table *r = rg_table_open_reader(g_path);
		uint64_t seed = 5, bad = 0, rounds = 0;

		if (!r)
			_exit(2);
		while (!__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE)) {
			const struct rg_fp *ptrs[32];
			struct rg_fp keys[32];
			struct rg_table_val vals[32];
			uint64_t m, done = __atomic_load_n(&sh->nb_deleted, __ATOMIC_ACQUIRE);

			for (unsigned i = 0; i < 32; i++) {
				keys[i] = key(8, splitmix(&seed) % STABLE);
				ptrs[i] = &keys[i];
			}
			m = rg_table_lookup_bulk(r, ptrs, 32, vals);
			bad += m != UINT32_MAX;
			if (done) {
				struct rg_fp k = key(10, splitmix(&seed) % done);

				bad += rg_table_lookup(r, &k, NULL) == 0;
			}
			rg_table_reader_quiescent(r);
			rounds++;
		}
		rg_table_close(r);
		_exit(bad ? 1 : rounds ? 0 : 3);
	}
	{
		struct timespec t0, t1;
		uint64_t seed = 99;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		do {
			for (unsigned j = 0; j < 2000; j++) {
				uint64_t i = splitmix(&seed) % VOLATILE;
				struct rg_fp k = key(9, i);

				if (rg_table_delete(t, &k) == -ENOENT)
					rg_table_insert(t, &k, val_of(i));
			}
			if (sh->nb_deleted < DOOMED) {
				struct rg_fp k = key(10, sh->nb_deleted);

				rg_table_delete(t, &k);
				__atomic_store_n(&sh->nb_deleted, sh->nb_deleted + 1,
						 __ATOMIC_RELEASE);
			}
			clock_gettime(CLOCK_MONOTONIC, &t1);
		} while ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 1500);
	}
	__atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "reader saw a stable key missing or a deleted key (status %d)", status);
	{
		struct rg_table_stats s;

		rg_table_stats(t, &s);
		CHECK(s.nb_displacements > 1000, "churn must move entries: %llu",
		      (unsigned long long)s.nb_displacements);
	}
	rg_table_close(t);
	unlink(g_path);
	munmap(sh, sizeof(*sh));
}

int main(void)
{
	snprintf(g_path, sizeof(g_path), "/dev/shm/rg_test_table.%d", (int)getpid());
	test_val_pack();
	test_layout();
	test_boundaries();
	test_full();
	test_differential();
	test_batch();
	test_lazy_counters();
	test_grow();
	test_kill_writer();
	test_concurrent();
	unlink(g_path);
	return CHECK_DONE();
}
