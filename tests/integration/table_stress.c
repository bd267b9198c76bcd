/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Multi-process stress and crash test of the fingerprint table
 * (common/table.c, docs/table.md), with real processes on one table file
 * in /dev/hugepages (or /dev/shm when hugetlbfs is missing or full).
 *
 * Key sets, all derived from fixed seeds so every process knows them:
 *   stable   inserted before the readers start, never deleted: a reader
 *            must find every one, with its exact value;
 *   deleted  inserted before the readers start, then deleted one by one by
 *            the writer, which publishes in the control page how many of
 *            them have been deleted and returned: a reader loads that
 *            count before a lookup and must find none of those keys;
 *   churn    inserted, updated and deleted at random by the writer to keep
 *            the table at about 95% of its slots, so that cuckoo moves,
 *            stash use and full-table refusals happen all the time.
 * Every value encodes a checksum of its fingerprint and version, so a
 * reader that ever returned a torn or foreign value would notice.
 *
 * Phase 1 (--churn-sec, default 20): one writer churns with single ops,
 * checks the duplicate-insert and absent-delete returns, and grows the
 * table twice under load (generation switch with the readers attached).
 * Phase 2 (--kills, default 30): writers that churn in batches are killed
 * with SIGKILL at random moments; each next one reopens the table (crash
 * repair) and goes on.  Readers check throughout.  Finally a writer
 * reopens once more and checks the contents: no duplicate, count right,
 * every stable key present, every returned-deleted key absent.
 *
 * Exits 1 on any violation.  Children die with the parent (PDEATHSIG) and
 * every path removes the table files.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/table.h"

#define ST_NB_STABLE 100000u
#define ST_NB_DELETED 40000u
#define ST_NB_CHURN 320000u
#define ST_CAPACITY 200000u
#define ST_FILL 0.955		/* churn target: this share of the slots */
#define ST_READERS_MAX 8
#define ST_BURST 32
#define ST_BATCH 256
#define ST_GROWS_MAX 6
#define ST_HUGETLBFS_MAGIC 0x958458f6

enum st_set {
	ST_STABLE = 1,
	ST_DELETED = 2,
	ST_CHURN = 3,
};

struct st_reader_stats {
	uint64_t nb_lookups;
	uint64_t nb_missing_stable; /* stable key not found */
	uint64_t nb_wrong_value;    /* stable key found with another value */
	uint64_t nb_deleted_found;  /* returned-deleted key found */
	uint64_t nb_torn;	    /* a value whose checksum does not match its key */
	uint64_t nb_switches;	    /* generation switches followed */
	uint64_t nb_errors;	    /* failed calls */
} __attribute__((aligned(64)));

/* The control page, shared by every process of the test. */
struct st_ctl {
	uint32_t stop_readers;
	uint32_t stop_writer;
	uint32_t writer_ready;	 /* incarnation number of the writer that has opened */
	uint32_t pad;
	uint64_t nb_deleted;	 /* deleted keys [0, n) are deleted and returned */
	uint64_t nb_grows;
	uint64_t nb_batches;
	uint64_t nb_ops, nb_inserts, nb_deletes, nb_updates, nb_full;
	uint64_t nb_writer_errors; /* wrong return codes seen by a writer */
	uint64_t nb_final_errors;  /* contents check at the end */
	struct st_reader_stats rd[ST_READERS_MAX];
};

static struct st_ctl *g_ctl;
static char g_path[256];
static char g_unlink[4][320]; /* every name the table's files may have */
static pid_t g_kids[ST_READERS_MAX + 2];
static unsigned g_nb_readers = 3;
static volatile sig_atomic_t g_signalled;

/* ---- keys and values ----------------------------------------------------- */

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static struct rg_fp key_of(enum st_set set, uint64_t i)
{
	uint64_t s = (uint64_t)set << 40 | i, a = mix64(s * 0x9e3779b97f4a7c15ull + 1),
		 b = mix64(a ^ 0x5bd1e9955bd1e995ull);
	struct rg_fp k;

	memcpy(k.b, &a, 8);
	memcpy(k.b + 8, &b, 8);
	return k;
}

/* Version ver (0..4095) of the value of k: the version sits in the
 * contributor field, the rest is a checksum of key and version. */
static struct rg_table_val val_of(const struct rg_fp *k, unsigned ver)
{
	uint64_t w0, w1, h;
	struct rg_table_val v;

	memcpy(&w0, k->b, 8);
	memcpy(&w1, k->b + 8, 8);
	h = mix64(w0 ^ (w1 << 1 | w1 >> 63) ^ (uint64_t)ver * 0xff51afd7ed558ccdull);
	v.lists = (uint16_t)h;
	v.action = (uint8_t)((h >> 16) & 0xf);
	v.contributor = (uint16_t)(ver & 0xfff);
	return v;
}

static bool val_ok(const struct rg_fp *k, struct rg_table_val v)
{
	return rg_table_val_pack(val_of(k, v.contributor)) == rg_table_val_pack(v);
}

static uint64_t rnd(uint64_t *s)
{
	return mix64(*s += 0x9e3779b97f4a7c15ull);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !g_signalled)
		;
}

/* ---- files and processes --------------------------------------------------- */

static bool dir_is_hugetlbfs(const char *dir)
{
	struct statfs sfs;

	return statfs(dir, &sfs) == 0 && (uint32_t)sfs.f_type == ST_HUGETLBFS_MAGIC &&
	       access(dir, W_OK) == 0;
}

static void names_init(const char *dir)
{
	const char *fb = RG_TABLE_FALLBACK_DIR;

	snprintf(g_path, sizeof(g_path), "%s/rg-table-stress.%d", dir, (int)getpid());
	snprintf(g_unlink[0], sizeof(g_unlink[0]), "%s", g_path);
	snprintf(g_unlink[1], sizeof(g_unlink[1]), "%s.next", g_path);
	/* the data file when hugetlbfs had no room: fallback dir + same name */
	snprintf(g_unlink[2], sizeof(g_unlink[2]), "%s%s", fb, strrchr(g_path, '/'));
	snprintf(g_unlink[3], sizeof(g_unlink[3]), "%s%s.next", fb, strrchr(g_path, '/'));
}

/* Async-signal-safe: kill and reap every child, remove every file. */
static void cleanup(void)
{
	for (unsigned i = 0; i < sizeof(g_kids) / sizeof(g_kids[0]); i++) {
		if (g_kids[i] > 0) {
			kill(g_kids[i], SIGKILL);
			waitpid(g_kids[i], NULL, 0);
			g_kids[i] = 0;
		}
	}
	for (unsigned i = 0; i < sizeof(g_unlink) / sizeof(g_unlink[0]); i++) {
		if (g_unlink[i][0])
			unlink(g_unlink[i]);
	}
}

static void on_signal(int sig)
{
	g_signalled = 1;
	cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Fork a child that runs fn(arg) and _exits with its status. */
static pid_t spawn(unsigned kid, int (*fn)(unsigned), unsigned arg)
{
	pid_t pid = fork();

	if (pid == 0) {
		int ret;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() == 1)
			_exit(3);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGALRM, SIG_DFL);
		ret = fn(arg);
		_exit(ret ? 1 : 0);
	}
	if (pid > 0)
		g_kids[kid] = pid;
	return pid;
}

static int reap(unsigned kid)
{
	int status = 0;

	if (g_kids[kid] <= 0)
		return -1;
	waitpid(g_kids[kid], &status, 0);
	g_kids[kid] = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---- readers --------------------------------------------------------------------- */

static void report(const char *what, const struct rg_fp *k, uint64_t n)
{
	if (n < 5)
		fprintf(stderr, "table_stress: reader %d: %s (key %02x%02x%02x%02x...)\n",
			(int)getpid(), what, k->b[0], k->b[1], k->b[2], k->b[3]);
}

static int reader_main(unsigned idx)
{
	struct st_reader_stats *rs = &g_ctl->rd[idx];
	struct rg_table *t = rg_table_open_reader(g_path);
	uint64_t seed = 0x1234567ull + idx;
	struct rg_fp keys[ST_BURST];
	const struct rg_fp *ptrs[ST_BURST];
	struct rg_table_val vals[ST_BURST];

	if (!t) {
		fprintf(stderr, "table_stress: reader open %s: %s\n", g_path, strerror(errno));
		rs->nb_errors++;
		return 1;
	}
	for (unsigned i = 0; i < ST_BURST; i++)
		ptrs[i] = &keys[i];
	while (!__atomic_load_n(&g_ctl->stop_readers, __ATOMIC_ACQUIRE)) {
		uint64_t hit, nb_del;
		int ret = rg_table_reader_quiescent(t);

		if (ret > 0)
			rs->nb_switches++;
		else if (ret < 0)
			rs->nb_errors++;

		/* stable keys: all found, exact values */
		for (unsigned i = 0; i < ST_BURST; i++)
			keys[i] = key_of(ST_STABLE, rnd(&seed) % ST_NB_STABLE);
		hit = rg_table_lookup_bulk(t, ptrs, ST_BURST, vals);
		for (unsigned i = 0; i < ST_BURST; i++) {
			if (!(hit >> i & 1)) {
				report("stable key missing", &keys[i], rs->nb_missing_stable++);
			} else if (rg_table_val_pack(vals[i]) !=
				   rg_table_val_pack(val_of(&keys[i], 0))) {
				report("stable key with a wrong value", &keys[i],
				       rs->nb_wrong_value++);
				if (!val_ok(&keys[i], vals[i]))
					rs->nb_torn++;
			}
		}

		/* returned-deleted keys: never found (the count is loaded before
		 * the lookups start) */
		nb_del = __atomic_load_n(&g_ctl->nb_deleted, __ATOMIC_ACQUIRE);
		if (nb_del) {
			for (unsigned i = 0; i < ST_BURST; i++)
				keys[i] = key_of(ST_DELETED, rnd(&seed) % nb_del);
			hit = rg_table_lookup_bulk(t, ptrs, ST_BURST, vals);
			for (uint64_t h = hit; h; h &= h - 1) {
				unsigned i = (unsigned)__builtin_ctzll(h);

				report("deleted key found", &keys[i], rs->nb_deleted_found++);
			}
			/* the single lookup too */
			if (rg_table_lookup(t, &keys[0], NULL) == 0)
				report("deleted key found (single)", &keys[0],
				       rs->nb_deleted_found++);
		}

		/* churn keys: whatever is found must be whole */
		for (unsigned i = 0; i < ST_BURST; i++)
			keys[i] = key_of(ST_CHURN, rnd(&seed) % ST_NB_CHURN);
		hit = rg_table_lookup_bulk(t, ptrs, ST_BURST, vals);
		for (uint64_t h = hit; h; h &= h - 1) {
			unsigned i = (unsigned)__builtin_ctzll(h);

			if (!val_ok(&keys[i], vals[i]))
				report("torn value", &keys[i], rs->nb_torn++);
		}
		__atomic_store_n(&rs->nb_lookups, rs->nb_lookups + 3 * ST_BURST + (nb_del != 0),
				 __ATOMIC_RELAXED);
	}
	rg_table_close(t);
	return 0;
}

/* ---- writers ----------------------------------------------------------------------- */

static uint64_t churn_target(const struct rg_table *t)
{
	struct rg_table_stats st;

	rg_table_stats(t, &st);
	return (uint64_t)((double)st.nb_slots * ST_FILL);
}

static void writer_error(const char *what, int ret)
{
	fprintf(stderr, "table_stress: writer %d: %s: %s\n", (int)getpid(), what,
		strerror(ret < 0 ? -ret : ret));
	__atomic_fetch_add(&g_ctl->nb_writer_errors, 1, __ATOMIC_RELAXED);
}

/* Grow by a quarter if the old generation is gone; returns true if grown. */
static bool try_grow(struct rg_table *t)
{
	struct rg_table_stats st;
	int ret;

	rg_table_stats(t, &st);
	ret = rg_table_grow(t, st.capacity + st.capacity / 4);
	if (ret == -EBUSY)
		return false;
	if (ret < 0) {
		writer_error("grow", ret);
		return false;
	}
	__atomic_fetch_add(&g_ctl->nb_grows, 1, __ATOMIC_RELAXED);
	return true;
}

/* Phase 1: single ops for churn_s seconds, two grows on the way. */
static int churn_main(unsigned churn_ms)
{
	struct rg_table *t = rg_table_open_writer(g_path);
	uint8_t *present = calloc(ST_NB_CHURN, 1);
	double t0 = now_s(), dur = churn_ms / 1000.0, el = 0;
	uint64_t seed = 0xc0ffeeull, target, nb_del = 0, count;
	unsigned grows = 0;
	struct rg_table_stats st;
	int ret = 1;

	if (!t || !present) {
		fprintf(stderr, "table_stress: churn writer open: %s\n", strerror(errno));
		goto out_free;
	}
	__atomic_store_n(&g_ctl->writer_ready, 1, __ATOMIC_RELEASE);
	target = churn_target(t);
	rg_table_stats(t, &st);
	count = st.count;
	for (uint64_t op = 0; el < dur && !__atomic_load_n(&g_ctl->stop_writer, __ATOMIC_ACQUIRE);
	     op++) {
		uint64_t x = rnd(&seed), i = x % ST_NB_CHURN;
		struct rg_fp k = key_of(ST_CHURN, i);

		if ((op & 1023) == 0) {
			el = now_s() - t0;
			rg_table_reclaim(t);
			/* half the deleted set, spread over the first 90% of the
			 * phase; the crash phase deletes the rest */
			while (nb_del < ST_NB_DELETED / 2 &&
			       nb_del < ST_NB_DELETED / 2 * el / (0.9 * dur)) {
				struct rg_fp d = key_of(ST_DELETED, nb_del);

				ret = rg_table_delete(t, &d);
				if (ret < 0)
					writer_error("delete of a deleted-set key", ret);
				if (rg_table_delete(t, &d) != -ENOENT)
					writer_error("second delete not ENOENT", EPROTO);
				__atomic_store_n(&g_ctl->nb_deleted, ++nb_del, __ATOMIC_RELEASE);
				count--;
			}
			if (grows < 2 && el > dur * (grows + 1) / 3 && try_grow(t)) {
				grows++;
				target = churn_target(t);
			}
		}
		if (present[i]) {
			if (x >> 32 & 1) {
				ret = rg_table_update(t, &k, val_of(&k, 1 + (unsigned)(x >> 40) % 4095));
				if (ret < 0)
					writer_error("update", ret);
				g_ctl->nb_updates++;
			} else if (count > target * 99 / 100 || (x >> 33 & 3) == 0) {
				ret = rg_table_delete(t, &k);
				if (ret < 0)
					writer_error("delete", ret);
				present[i] = 0;
				count--;
				g_ctl->nb_deletes++;
			} else {
				ret = rg_table_insert(t, &k, val_of(&k, 0));
				if (ret != -EEXIST)
					writer_error("duplicate insert not EEXIST", ret ? ret : EPROTO);
			}
		} else if (count < target) {
			ret = rg_table_insert(t, &k, val_of(&k, (unsigned)(x >> 40) % 4096));
			if (ret == 0) {
				present[i] = 1;
				count++;
				g_ctl->nb_inserts++;
			} else if (ret == -ENOSPC) {
				g_ctl->nb_full++;
			} else {
				writer_error("insert", ret);
			}
		} else {
			ret = rg_table_delete(t, &k);
			if (ret != -ENOENT)
				writer_error("absent delete not ENOENT", ret ? ret : EPROTO);
		}
		g_ctl->nb_ops++;
	}
	rg_table_stats(t, &st);
	if (st.count != count)
		writer_error("count differs from the writer's own", EPROTO);
	ret = grows == 2 ? 0 : 1;
	if (grows != 2)
		fprintf(stderr, "table_stress: churn: %u grows of 2\n", grows);
out_free:
	free(present);
	if (t)
		rg_table_close(t);
	return ret;
}

/* Phase 2: batches until killed.  incarnation tells the parent when the
 * writer has attached (repair done). */
static int batch_main(unsigned incarnation)
{
	struct rg_table *t = rg_table_open_writer(g_path);
	struct rg_table_op *ops = calloc(ST_BATCH, sizeof(*ops));
	uint64_t seed = 0xba7c4ull * incarnation, target, pos;
	struct rg_table_stats st;

	if (!t || !ops) {
		fprintf(stderr, "table_stress: writer %u open: %s\n", incarnation, strerror(errno));
		free(ops);
		if (t)
			rg_table_close(t);
		return 1;
	}
	target = churn_target(t);
	pos = rg_table_ledger_pos(t, NULL);
	__atomic_store_n(&g_ctl->writer_ready, incarnation, __ATOMIC_RELEASE);
	for (;;) {
		uint64_t nb_del = __atomic_load_n(&g_ctl->nb_deleted, __ATOMIC_RELAXED);
		unsigned m = 0;
		long ret;

		rg_table_reclaim(t);
		if ((rnd(&seed) & 255) == 0 && g_ctl->nb_grows < ST_GROWS_MAX && try_grow(t))
			target = churn_target(t);
		rg_table_stats(t, &st);
		if (rg_table_batch_begin(t) < 0) {
			writer_error("batch_begin", EPROTO);
			break;
		}
		/* deletes first, in their own call, so that they are all
		 * applied when the count is published */
		for (; m < 8 && nb_del + m < ST_NB_DELETED; m++) {
			ops[m].fp = key_of(ST_DELETED, nb_del + m);
			ops[m].kind = RG_TABLE_OP_DELETE;
		}
		if (m) {
			ret = rg_table_batch_apply(t, ops, m);
			if (ret != (long)m) {
				writer_error("batch delete", (int)ret);
				break;
			}
			__atomic_store_n(&g_ctl->nb_deleted, nb_del + m, __ATOMIC_RELEASE);
		}
		for (m = 0; m < ST_BATCH; m++) {
			uint64_t x = rnd(&seed);

			ops[m].fp = key_of(ST_CHURN, x % ST_NB_CHURN);
			ops[m].kind = st.count < target && (x >> 32) % 8 ? RG_TABLE_OP_UPSERT
									: RG_TABLE_OP_DELETE;
			ops[m].val = val_of(&ops[m].fp, (unsigned)(x >> 40) % 4096);
		}
		ret = rg_table_batch_apply(t, ops, ST_BATCH);
		if (ret == -ENOSPC)
			__atomic_fetch_add(&g_ctl->nb_full, 1, __ATOMIC_RELAXED);
		else if (ret != ST_BATCH)
			writer_error("batch apply", (int)ret);
		if (rg_table_batch_commit(t, ++pos) < 0) {
			writer_error("batch commit", EPROTO);
			break;
		}
		__atomic_fetch_add(&g_ctl->nb_batches, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&g_ctl->nb_ops, ST_BATCH, __ATOMIC_RELAXED);
	}
	free(ops);
	rg_table_close(t);
	return 1;
}

static int cmp_fp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct rg_fp));
}

/* Final writer: repair, then the contents against the key sets. */
static int final_main(unsigned unused)
{
	struct rg_table *t = rg_table_open_writer(g_path);
	struct rg_table_stats st;
	struct rg_fp *all;
	struct rg_table_val v;
	uint64_t cur = 0, n = 0, errs = 0, nb_del = g_ctl->nb_deleted;

	(void)unused;
	if (!t) {
		fprintf(stderr, "table_stress: final open: %s\n", strerror(errno));
		return 1;
	}
	rg_table_stats(t, &st);
	all = malloc((st.count + 1) * sizeof(*all));
	if (!all) {
		rg_table_close(t);
		return 1;
	}
	while (n <= st.count && rg_table_iterate(t, &cur, &all[n], &v) == 0) {
		if (!val_ok(&all[n], v))
			errs++;
		n++;
	}
	if (n != st.count) {
		fprintf(stderr, "table_stress: final: iterated %llu, count %llu\n",
			(unsigned long long)n, (unsigned long long)st.count);
		errs++;
	}
	qsort(all, n, sizeof(*all), cmp_fp);
	for (uint64_t i = 1; i < n; i++) {
		if (!memcmp(&all[i - 1], &all[i], sizeof(*all))) {
			fprintf(stderr, "table_stress: final: duplicate entry\n");
			errs++;
		}
	}
	for (uint64_t i = 0; i < ST_NB_STABLE; i++) {
		struct rg_fp k = key_of(ST_STABLE, i);

		if (rg_table_lookup(t, &k, &v) < 0 ||
		    rg_table_val_pack(v) != rg_table_val_pack(val_of(&k, 0)))
			errs++;
	}
	for (uint64_t i = 0; i < nb_del; i++) {
		struct rg_fp k = key_of(ST_DELETED, i);

		if (rg_table_lookup(t, &k, NULL) == 0)
			errs++;
	}
	printf("table_stress: final: %llu entries, load %.3f, generation %llu, %llu repairs, "
	       "%llu moves, %llu stash, %s, %llu errors\n",
	       (unsigned long long)st.count, st.load, (unsigned long long)st.generation,
	       (unsigned long long)st.nb_repairs, (unsigned long long)st.nb_displacements,
	       (unsigned long long)st.nb_stash, st.hugetlb ? "hugetlbfs" : "FALLBACK shm",
	       (unsigned long long)errs);
	fflush(stdout);
	g_ctl->nb_final_errors = errs;
	free(all);
	rg_table_close(t);
	return errs ? 1 : 0;
}

/* ---- orchestration ----------------------------------------------------------------- */

static int populate(void)
{
	struct rg_table_opts o = {.quiet = false};
	struct rg_table *t = rg_table_create(g_path, ST_CAPACITY, &o);
	int ret = 0;

	if (!t) {
		fprintf(stderr, "table_stress: create %s: %s\n", g_path, strerror(errno));
		return -errno;
	}
	for (uint64_t i = 0; i < ST_NB_STABLE && !ret; i++) {
		struct rg_fp k = key_of(ST_STABLE, i);

		ret = rg_table_insert(t, &k, val_of(&k, 0));
	}
	for (uint64_t i = 0; i < ST_NB_DELETED && !ret; i++) {
		struct rg_fp k = key_of(ST_DELETED, i);

		ret = rg_table_insert(t, &k, val_of(&k, 0));
	}
	if (ret)
		fprintf(stderr, "table_stress: populate: %s\n", strerror(-ret));
	rg_table_close(t);
	return ret;
}

static bool wait_ready(unsigned incarnation, unsigned kid)
{
	for (unsigned i = 0; i < 20000; i++) {
		if (__atomic_load_n(&g_ctl->writer_ready, __ATOMIC_ACQUIRE) == incarnation)
			return true;
		if (waitpid(g_kids[kid], NULL, WNOHANG) == g_kids[kid]) {
			g_kids[kid] = 0;
			return false;
		}
		sleep_ms(1);
	}
	return false;
}

static void usage(void)
{
	fprintf(stderr, "usage: table_stress [--churn-sec S] [--kills N] [--readers N] "
			"[--dir DIR]\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"churn-sec", required_argument, NULL, 'c'},
		{"kills", required_argument, NULL, 'k'},
		{"readers", required_argument, NULL, 'r'},
		{"dir", required_argument, NULL, 'd'},
		{NULL, 0, NULL, 0},
	};
	const char *dir = NULL;
	double churn_s = 20, t0;
	unsigned nb_kills = 30, mid_batch = 0, writer_kid = ST_READERS_MAX;
	uint64_t seed = (uint64_t)time(NULL), lookups = 0, viol = 0, missing = 0, wrong = 0,
		 deleted = 0, torn = 0, sw = 0, rerr = 0;
	int c, ret = 1;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'c':
			churn_s = atof(optarg);
			break;
		case 'k':
			nb_kills = (unsigned)atoi(optarg);
			break;
		case 'r':
			g_nb_readers = (unsigned)atoi(optarg);
			break;
		case 'd':
			dir = optarg;
			break;
		default:
			usage();
			return 2;
		}
	}
	if (churn_s < 1 || churn_s > 3600 || g_nb_readers < 1 || g_nb_readers > ST_READERS_MAX) {
		usage();
		return 2;
	}
	if (!dir)
		dir = dir_is_hugetlbfs(RG_TABLE_DEFAULT_DIR) ? RG_TABLE_DEFAULT_DIR
							     : RG_TABLE_FALLBACK_DIR;
	g_ctl = mmap(NULL, sizeof(*g_ctl), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
		     0);
	if (g_ctl == MAP_FAILED) {
		perror("table_stress: mmap");
		return 1;
	}
	names_init(dir);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGALRM, on_signal);
	/* a hung child must not hang the test: churn + kills + slack */
	alarm((unsigned)(churn_s + nb_kills * 2 + 120));
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("table_stress: %s, %u readers, churn %.0f s, %u kills, seed %llu\n", g_path,
	       g_nb_readers, churn_s, nb_kills, (unsigned long long)seed);

	if (populate() < 0)
		goto out_cleanup;
	for (unsigned i = 0; i < g_nb_readers; i++) {
		if (spawn(i, reader_main, i) < 0) {
			perror("table_stress: fork");
			goto out_cleanup;
		}
	}

	/* Phase 1 */
	t0 = now_s();
	if (spawn(writer_kid, churn_main, (unsigned)(churn_s * 1000)) < 0)
		goto out_cleanup;
	if (reap(writer_kid) != 0) {
		fprintf(stderr, "table_stress: churn writer failed\n");
		goto out_stop;
	}
	printf("table_stress: churn: %.1f s, %llu ops (%llu inserts, %llu deletes, %llu updates, "
	       "%llu full-table refusals), %llu grows, %llu deleted-set keys returned\n",
	       now_s() - t0, (unsigned long long)g_ctl->nb_ops,
	       (unsigned long long)g_ctl->nb_inserts, (unsigned long long)g_ctl->nb_deletes,
	       (unsigned long long)g_ctl->nb_updates, (unsigned long long)g_ctl->nb_full,
	       (unsigned long long)g_ctl->nb_grows, (unsigned long long)g_ctl->nb_deleted);

	/* Phase 2 */
	t0 = now_s();
	for (unsigned k = 1; k <= nb_kills && !g_signalled; k++) {
		bool in_batch = false;

		if (spawn(writer_kid, batch_main, k + 1) < 0)
			goto out_stop;
		struct rg_table *probe;

		if (k % 5 == 0) {
			/* now and then while it attaches and repairs */
			sleep_ms((unsigned)(rnd(&seed) % 30));
		} else if (!wait_ready(k + 1, writer_kid)) {
			fprintf(stderr, "table_stress: writer %u did not attach\n", k + 1);
			goto out_stop;
		} else {
			sleep_ms(20 + (unsigned)(rnd(&seed) % 280));
		}
		kill(g_kids[writer_kid], SIGKILL);
		reap(writer_kid);
		probe = rg_table_open_reader(g_path);
		if (probe) {
			rg_table_ledger_pos(probe, &in_batch);
			mid_batch += in_batch;
			rg_table_close(probe);
		}
	}
	printf("table_stress: crash: %.1f s, %u kills (%u mid-batch), %llu batches, %llu grows "
	       "in all, %llu deleted-set keys returned\n",
	       now_s() - t0, nb_kills, mid_batch, (unsigned long long)g_ctl->nb_batches,
	       (unsigned long long)g_ctl->nb_grows, (unsigned long long)g_ctl->nb_deleted);

	/* readers go on checking while the last writer repairs and checks */
	if (spawn(writer_kid, final_main, 0) < 0)
		goto out_stop;
	ret = reap(writer_kid) == 0 ? 0 : 1;
out_stop:
	__atomic_store_n(&g_ctl->stop_readers, 1, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < g_nb_readers; i++) {
		if (reap(i) != 0)
			ret = 1;
	}
	for (unsigned i = 0; i < g_nb_readers; i++) {
		const struct st_reader_stats *rs = &g_ctl->rd[i];

		lookups += rs->nb_lookups;
		missing += rs->nb_missing_stable;
		wrong += rs->nb_wrong_value;
		deleted += rs->nb_deleted_found;
		torn += rs->nb_torn;
		sw += rs->nb_switches;
		rerr += rs->nb_errors;
	}
	viol = missing + wrong + deleted + torn + rerr + g_ctl->nb_writer_errors +
	       g_ctl->nb_final_errors;
	printf("table_stress: readers: %llu lookups, %llu generation switches; violations %llu "
	       "(stable missing %llu, wrong value %llu, deleted found %llu, torn %llu, reader "
	       "errors %llu, writer errors %llu, final check %llu)\n",
	       (unsigned long long)lookups, (unsigned long long)sw, (unsigned long long)viol,
	       (unsigned long long)missing, (unsigned long long)wrong, (unsigned long long)deleted,
	       (unsigned long long)torn, (unsigned long long)rerr,
	       (unsigned long long)g_ctl->nb_writer_errors,
	       (unsigned long long)g_ctl->nb_final_errors);
	if (viol)
		ret = 1;
out_cleanup:
	cleanup();
	printf("table_stress: %s\n", ret ? "FAILED" : "ok");
	return ret;
}
