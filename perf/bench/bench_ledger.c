/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * riskgate-bench ledger: the ledger's throughput on one core.
 *
 * Cases (one JSON line each):
 *   sha256.node        ns per RFC 9162 node hash (65 bytes): OpenSSL's
 *                      libcrypto (SHA extensions) against libsodium
 *   ingest.durable     riskgate-ledger import of a CSV of raw identifiers:
 *                      parse, normalise, fingerprint, encode, sign a block,
 *                      one synced WriteBatch per block, then a signed
 *                      checkpoint (target >= 200k entries/s)
 *   verify.full        full audit of the log (target >= 500k entries/s)
 *   proof.inclusion    bytes of an inclusion path at the log's size
 *                      (10^6 entries by default; target <= 640) and
 *                      microseconds to build one from the stored nodes
 *   proof.consistency  bytes of a consistency proof, same log
 *   pull.apply         bundle of the whole log taken in by a second member
 *                      (signature, chain, rights, roots: what sync does)
 *   table.build        fingerprints per second written to a table file
 *
 * The log holds 10 x --messages entries (default 10^6).  Durable cases run
 * once (each writes the whole log); the others report the median of up to
 * --rounds runs.  Wall-clock rates are the values; CPU-time rates (this
 * process, RocksDB's threads included) are given as "cpu_entries_per_s".
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/sha.h>
#include <sodium.h>

#include "bench.h"
#include "common/fp.h"
#include "common/ident.h"
#include "ledger/ledger.h"

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void bench_sha(const struct bench_opts *o)
{
	enum { N = 200000 };
	double ossl[64], sod[64];
	unsigned rounds = o->nb_rounds < 64 ? o->nb_rounds : 64;
	uint8_t in[65] = { 1 }, out[32];

	for (unsigned r = 0; r < rounds; r++) {
		uint64_t t0 = bench_now_ns();

		for (unsigned i = 0; i < N; i++) {
			SHA256_CTX c;

			SHA256_Init(&c);
			SHA256_Update(&c, in, sizeof(in));
			SHA256_Final(out, &c);
			in[1] = out[0];
		}
		ossl[r] = (double)(bench_now_ns() - t0) / N;
		t0 = bench_now_ns();
		for (unsigned i = 0; i < N; i++) {
			crypto_hash_sha256(out, in, sizeof(in));
			in[1] = out[0];
		}
		sod[r] = (double)(bench_now_ns() - t0) / N;
	}
	double a = bench_median(ossl, rounds), b = bench_median(sod, rounds);

	bench_result("ledger", "sha256.node", "ns", a, "libsodium", b, b / a, "");
}

int bench_write_list(const char *path, uint64_t first, uint64_t n, uint64_t seed)
{
	FILE *f = fopen(path, "w");
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;

	if (f == NULL)
		return -errno;
	fputs("list,kind,value,severity,expiry,reason\n", f);
	for (uint64_t i = first; i < first + n; i++) {
		static const char *const sev[] = { "high", "medium", "low" };
		char pan[24];
		unsigned sum = 0;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		switch (i % 4) {
		case 0:
			/* 15 digits: a BIN, the index (unique), then the Luhn digit */
			snprintf(pan, sizeof(pan), "476173%09llu",
				 (unsigned long long)(i % 1000000000ull));
			for (int k = 14, dbl = 1; k >= 0; k--, dbl ^= 1) {
				unsigned d = (unsigned)(pan[k] - '0') * (dbl ? 2 : 1);

				sum += d > 9 ? d - 9 : d;
			}
			fprintf(f, "txn_fraud,PAN,%s%u,%s,,confirmed_fraud\n", pan, (10 - sum % 10) % 10,
				sev[x % 3]);
			break;
		case 1:
			fprintf(f, "high_risk_account,ACCOUNT,DE89 3704 %010llu,%s,2099-12-31,mule\n",
				(unsigned long long)i, sev[x % 3]);
			break;
		case 2:
			fprintf(f, "marketing_cheat,MERCHANT,MRC%012llu,%s,,promo_abuse\n",
				(unsigned long long)i, sev[x % 3]);
			break;
		default:
			fprintf(f, "telecom_fraud,PHONE,+49 151 %09llu,%s,,sim_swap\n",
				(unsigned long long)(i % 1000000000ull), sev[x % 3]);
			break;
		}
	}
	if (fclose(f) != 0)
		return -EIO;
	return 0;
}

/* A consortium of two members in base/a and base/b sharing one fp key. */
static int make_members(const char *base, char *err, size_t cap)
{
	struct ledger_member mem[2];
	char a[PATH_MAX + 8], b[PATH_MAX + 8], p[PATH_MAX + 64], q[PATH_MAX + 64];
	int rc;

	snprintf(a, sizeof(a), "%s/a", base);
	snprintf(b, sizeof(b), "%s/b", base);
	if (mkdir(a, 0700) != 0 || mkdir(b, 0700) != 0)
		return -errno;
	rc = ledger_identity_generate(a, "bench-a", err, cap);
	if (rc == 0)
		rc = ledger_identity_generate(b, "bench-b", err, cap);
	snprintf(p, sizeof(p), "%s/fp.key", a);
	if (rc == 0)
		rc = rg_fp_key_generate(p, 1, err, cap);
	if (rc == 0)
		rc = ledger_pub_load(a, &mem[0], err, cap);
	if (rc == 0)
		rc = ledger_pub_load(b, &mem[1], err, cap);
	snprintf(p, sizeof(p), "%s/genesis.json", a);
	snprintf(q, sizeof(q), "%s/genesis.json", b);
	if (rc == 0)
		rc = ledger_genesis_write(p, "bench", mem, 2, err, cap);
	if (rc == 0)
		rc = ledger_genesis_write(q, "bench", mem, 2, err, cap);
	if (rc == 0) {
		/* b fingerprints with a's key: copy it */
		struct rg_fp_key *k;

		snprintf(p, sizeof(p), "%s/fp.key", a);
		k = rg_fp_key_load(p, err, cap);
		if (k == NULL)
			return -errno;
		rg_fp_key_free(k);
		snprintf(q, sizeof(q), "%s/fp.key", b);
		if (link(p, q) != 0)
			rc = -errno;
	}
	return rc;
}

static int node_none(void *arg, unsigned level, uint64_t index, uint8_t out[32])
{
	(void)arg;
	(void)level;
	(void)index;
	memset(out, 0, 32);
	return 0;
}

int bench_ledger(const struct bench_opts *o)
{
	char base[PATH_MAX], dir[PATH_MAX + 8], dir_b[PATH_MAX + 8], list[PATH_MAX + 16];
	char bundle[PATH_MAX + 16], table[PATH_MAX + 16], err[LEDGER_ERR_MAX], extra[256];
	uint64_t n = (uint64_t)o->nb_msgs * 10, t0, nb;
	unsigned rounds = o->nb_rounds < 3 ? o->nb_rounds : 3;
	struct ledger_import_opts io = { 0 };
	struct ledger_import_stats st;
	struct ledger_pull_stats ps;
	struct ledger_table_stats ts;
	struct ledger_head h;
	struct ledger *l = NULL, *lb = NULL;
	double c0, secs[3];
	int rc = 1;

	if (sodium_init() < 0)
		return 1;
	bench_sha(o);

	snprintf(base, sizeof(base), "%s/riskgate-bench-ledger.XXXXXX", o->workdir);
	if (mkdtemp(base) == NULL) {
		fprintf(stderr, "bench ledger: %s: %s\n", base, strerror(errno));
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s/a", base);
	snprintf(dir_b, sizeof(dir_b), "%s/b", base);
	snprintf(list, sizeof(list), "%s/list.csv", base);
	snprintf(bundle, sizeof(bundle), "%s/a.bundle", base);
	snprintf(table, sizeof(table), "%s/table", base);
	fprintf(stderr, "bench ledger: writing %llu raw identifiers\n", (unsigned long long)n);
	if (make_members(base, err, sizeof(err)) != 0 || bench_write_list(list, 0, n, o->seed) != 0) {
		fprintf(stderr, "bench ledger: setup: %s\n", err);
		goto out;
	}

	/* durable ingest, once: the whole log */
	l = ledger_open(dir, LEDGER_OPEN_WRITE, err, sizeof(err));
	if (l == NULL) {
		fprintf(stderr, "bench ledger: %s\n", err);
		goto out;
	}
	io.block_size = LEDGER_BLOCK_DEFAULT;
	c0 = cpu_s();
	t0 = bench_now_ns();
	if (ledger_import(l, list, &io, &st, err, sizeof(err)) != 0 || st.nb_bad != 0) {
		fprintf(stderr, "bench ledger: import: %s (%llu bad)\n", err,
			(unsigned long long)st.nb_bad);
		goto out;
	}
	{
		double s = (double)(bench_now_ns() - t0) / 1e9, c = cpu_s() - c0;

		snprintf(extra, sizeof(extra),
			 ", \"entries\": %llu, \"block\": %u, \"blocks\": %llu, \"seconds\": %.3f, "
			 "\"cpu_entries_per_s\": %.0f, \"target\": 200000",
			 (unsigned long long)st.nb_imported, io.block_size,
			 (unsigned long long)st.nb_blocks, s, (double)st.nb_imported / c);
		bench_result("ledger", "ingest.durable", "entries/s", (double)st.nb_imported / s, NULL,
			     0, 0, extra);
	}
	ledger_close(l); /* flushes the memtables, as the tool does */
	l = ledger_open(dir, 0, err, sizeof(err));
	if (l == NULL) {
		fprintf(stderr, "bench ledger: %s\n", err);
		goto out;
	}

	/* full verify */
	for (unsigned r = 0; r < rounds; r++) {
		t0 = bench_now_ns();
		if (ledger_verify(l, err, sizeof(err), &nb) != 0) {
			fprintf(stderr, "bench ledger: verify: %s\n", err);
			goto out;
		}
		secs[r] = (double)(bench_now_ns() - t0) / 1e9;
	}
	{
		double s = bench_median(secs, rounds);

		snprintf(extra, sizeof(extra), ", \"entries\": %llu, \"seconds\": %.3f, \"target\": 500000",
			 (unsigned long long)nb, s);
		bench_result("ledger", "verify.full", "entries/s", (double)nb / s, NULL, 0, 0, extra);
	}

	/* proofs at the log's size */
	if (ledger_head_get(l, (unsigned)ledger_self(l), &h) != 0)
		goto out;
	{
		struct ledger_node_ctx ctx = { l, (unsigned)ledger_self(l) };
		uint8_t path[LEDGER_PROOF_MAX][32];
		unsigned np, max_np = 0, max_cp = 0;
		uint64_t x = o->seed | 1;
		double us;

		t0 = bench_now_ns();
		for (unsigned i = 0; i < 1000; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			if (ledger_inclusion_proof(ledger_node_get, &ctx, x % h.size, h.size, path, &np) != 0)
				goto out;
			if (np > max_np)
				max_np = np;
		}
		us = (double)(bench_now_ns() - t0) / 1000 / 1000;
		snprintf(extra, sizeof(extra),
			 ", \"tree_size\": %llu, \"hashes\": %u, \"us_per_proof\": %.1f, \"target\": 640",
			 (unsigned long long)h.size, max_np, us);
		bench_result("ledger", "proof.inclusion", "bytes", (double)max_np * 32, NULL, 0, 0,
			     extra);
		for (uint64_t m = 1; m < h.size; m = m * 3 + 1) {
			if (ledger_consistency_proof(node_none, NULL, m, h.size, path, &np) != 0)
				goto out;
			if (np > max_cp)
				max_cp = np;
		}
		snprintf(extra, sizeof(extra), ", \"tree_size\": %llu, \"hashes\": %u",
			 (unsigned long long)h.size, max_cp);
		bench_result("ledger", "proof.consistency", "bytes", (double)max_cp * 32, NULL, 0, 0,
			     extra);
	}

	/* a second member takes the whole log from a bundle */
	{
		unsigned self = (unsigned)ledger_self(l);
		uint64_t nb_blocks;

		if (ledger_bundle_write(l, bundle, &self, 1, 0, &nb_blocks, err, sizeof(err)) != 0) {
			fprintf(stderr, "bench ledger: bundle: %s\n", err);
			goto out;
		}
		lb = ledger_open(dir_b, LEDGER_OPEN_NO_FP, err, sizeof(err));
		if (lb == NULL) {
			fprintf(stderr, "bench ledger: %s\n", err);
			goto out;
		}
		c0 = cpu_s();
		t0 = bench_now_ns();
		if (ledger_pull(lb, bundle, &ps, err, sizeof(err)) != 0) {
			fprintf(stderr, "bench ledger: pull: %s\n", err);
			goto out;
		}
		double s = (double)(bench_now_ns() - t0) / 1e9, c = cpu_s() - c0;

		snprintf(extra, sizeof(extra),
			 ", \"entries\": %llu, \"blocks\": %llu, \"seconds\": %.3f, "
			 "\"cpu_entries_per_s\": %.0f",
			 (unsigned long long)ps.nb_entries_new, (unsigned long long)ps.nb_blocks_new, s,
			 (double)ps.nb_entries_new / c);
		bench_result("ledger", "pull.apply", "entries/s", (double)ps.nb_entries_new / s, NULL,
			     0, 0, extra);
	}

	/* table build */
	for (unsigned r = 0; r < rounds; r++) {
		t0 = bench_now_ns();
		if (ledger_table_build(l, table, ledger_now_ms() / 1000, &ts, err, sizeof(err)) != 0) {
			fprintf(stderr, "bench ledger: table: %s\n", err);
			goto out;
		}
		secs[r] = (double)(bench_now_ns() - t0) / 1e9;
	}
	{
		double s = bench_median(secs, rounds);

		snprintf(extra, sizeof(extra),
			 ", \"fingerprints\": %llu, \"file_bytes\": %llu, \"hugetlb\": %s, "
			 "\"seconds\": %.3f",
			 (unsigned long long)ts.nb_fps, (unsigned long long)ts.file_bytes,
			 ts.hugetlb ? "true" : "false", s);
		bench_result("ledger", "table.build", "fingerprints/s", (double)ts.nb_fps / s, NULL, 0,
			     0, extra);
	}
	rc = 0;
out:
	ledger_close(lb);
	ledger_close(l);
	rm_rf(base);
	return rc;
}
