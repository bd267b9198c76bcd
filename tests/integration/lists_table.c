/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Test fixture: fingerprint tables from riskgate-gen list files, and table
 * churn for the dataplane tests.
 *
 *   lists_table genkey KEYFILE
 *   lists_table build --key KEYFILE --out TABLE [--capacity N] LISTS.csv...
 *       each CSV row list,kind,value[,...] is normalised, fingerprinted and
 *       upserted with its list bit (OR-ed over rows); the i-th CSV file is
 *       contributor i + 1
 *   lists_table churn --table TABLE --seconds S [--grow-at S] [--seed N]
 *       as the table's writer: insert and delete random (unrelated) keys for
 *       S seconds, growing the table (generation switch) at --grow-at
 *
 * Prints one JSON line.  Never prints a value from a list file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/fp.h"
#include "common/ident.h"
#include "common/lists.h"
#include "common/table.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rnd_state;

static uint64_t rnd(void)
{
	uint64_t z = (rnd_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\r' || e[-1] == '\n' || e[-1] == '\t'))
		*--e = '\0';
	return s;
}

static int load_csv(struct rg_table *t, const struct rg_fp_key *key, const char *path,
		    unsigned contributor, unsigned long *rows)
{
	char line[4096];
	unsigned lineno = 0;
	FILE *fp = fopen(path, "r");

	if (fp == NULL) {
		fprintf(stderr, "lists_table: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), fp)) {
		char *f[3], *s = line, norm[RG_IDENT_MAX_LEN];
		struct rg_table_val v = { 0 };
		struct rg_fp fpr;
		int list, kind, n;

		lineno++;
		for (int i = 0; i < 3; i++) {
			f[i] = s;
			s = s ? strchr(s, ',') : NULL;
			if (s)
				*s++ = '\0';
		}
		if (lineno == 1 || f[2] == NULL)
			continue; /* header, or a short line */
		list = rg_list_std_id(trim(f[0]));
		kind = rg_kind_from_name(trim(f[1]));
		if (list < 0 || kind == RG_KIND_NONE) {
			fprintf(stderr, "lists_table: %s:%u: unknown list or kind\n", path, lineno);
			fclose(fp);
			return -1;
		}
		f[2] = trim(f[2]);
		n = rg_ident_normalise((unsigned)kind, f[2], strlen(f[2]), norm);
		if (n <= 0) {
			fprintf(stderr, "lists_table: %s:%u: value is not a valid %s\n", path, lineno,
				rg_kind_name((unsigned)kind));
			fclose(fp);
			return -1;
		}
		rg_fp_compute(key, (unsigned)kind, norm, (size_t)n, &fpr);
		if (rg_table_lookup(t, &fpr, &v) != 0)
			memset(&v, 0, sizeof(v));
		v.lists |= (uint16_t)(1u << list);
		v.contributor = (uint16_t)contributor;
		v.action = 1;
		if (rg_table_upsert(t, &fpr, v) != 0) {
			fprintf(stderr, "lists_table: %s:%u: table insert failed\n", path, lineno);
			fclose(fp);
			return -1;
		}
		(*rows)++;
	}
	fclose(fp);
	return 0;
}

static int cmd_build(int argc, char **argv)
{
	const char *keyp = NULL, *out = NULL;
	unsigned long cap = 100000, rows = 0;
	struct rg_table_opts o = { .replace = true, .quiet = true, .auto_grow = true };
	struct rg_table_stats st;
	struct rg_fp_key *key;
	struct rg_table *t;
	char err[256];
	int i, rc = 1;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--key") == 0 && i + 1 < argc)
			keyp = argv[++i];
		else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
			out = argv[++i];
		else if (strcmp(argv[i], "--capacity") == 0 && i + 1 < argc)
			cap = strtoul(argv[++i], NULL, 10);
		else
			break;
	}
	if (!keyp || !out || i == argc) {
		fprintf(stderr, "usage: lists_table build --key K --out T [--capacity N] CSV...\n");
		return 2;
	}
	key = rg_fp_key_load(keyp, err, sizeof(err));
	if (key == NULL) {
		fprintf(stderr, "lists_table: %s\n", err);
		return 1;
	}
	t = rg_table_create(out, cap, &o);
	if (t == NULL) {
		fprintf(stderr, "lists_table: %s: %s\n", out, strerror(errno));
		goto out_key;
	}
	for (int j = i; j < argc; j++)
		if (load_csv(t, key, argv[j], (unsigned)(j - i + 1), &rows) < 0)
			goto out_table;
	rg_table_set_key_epochs(t, key->epoch, 0);
	rg_table_stats(t, &st);
	printf("{\"rows\": %lu, \"entries\": %llu, \"capacity\": %llu}\n", rows,
	       (unsigned long long)st.count, (unsigned long long)st.capacity);
	rc = 0;
out_table:
	rg_table_close(t);
out_key:
	rg_fp_key_free(key);
	return rc;
}

#define CHURN_KEYS 4096

static int cmd_churn(int argc, char **argv)
{
	const char *path = NULL;
	double secs = 5, grow_at = -1, t0;
	unsigned long ins = 0, del = 0, grows = 0, grow_fail = 0;
	static struct rg_fp keys[CHURN_KEYS];
	static uint8_t present[CHURN_KEYS];
	struct rg_table *t;
	bool grown = false;

	rnd_state = 1;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--table") == 0 && i + 1 < argc)
			path = argv[++i];
		else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
			secs = atof(argv[++i]);
		else if (strcmp(argv[i], "--grow-at") == 0 && i + 1 < argc)
			grow_at = atof(argv[++i]);
		else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			rnd_state = strtoull(argv[++i], NULL, 10);
		else {
			fprintf(stderr, "usage: lists_table churn --table T --seconds S "
				"[--grow-at S] [--seed N]\n");
			return 2;
		}
	}
	if (path == NULL)
		return 2;
	t = rg_table_open_writer(path);
	if (t == NULL) {
		fprintf(stderr, "lists_table: %s: %s\n", path, strerror(errno));
		return 1;
	}
	for (unsigned i = 0; i < CHURN_KEYS; i++)
		for (unsigned b = 0; b < RG_FP_BYTES; b += 8) {
			uint64_t r = rnd();

			memcpy(keys[i].b + b, &r, 8);
		}
	t0 = now_s();
	while (now_s() - t0 < secs) {
		for (unsigned k = 0; k < 256; k++) {
			unsigned i = (unsigned)(rnd() % CHURN_KEYS);
			struct rg_table_val v = { .lists = (uint16_t)(rnd() & 0xf), .action = 1,
						  .contributor = 99 };

			if (present[i]) {
				if (rg_table_delete(t, &keys[i]) == 0)
					del++;
				present[i] = 0;
			} else if (rg_table_upsert(t, &keys[i], v) == 0) {
				ins++;
				present[i] = 1;
			}
		}
		if (!grown && grow_at >= 0 && now_s() - t0 >= grow_at) {
			if (rg_table_grow(t, 0) == 0)
				grows++;
			else
				grow_fail++;
			grown = true;
		}
		rg_table_reclaim(t);
		usleep(1000);
	}
	/* leave the table as it was: unrelated keys out again */
	for (unsigned i = 0; i < CHURN_KEYS; i++)
		if (present[i] && rg_table_delete(t, &keys[i]) == 0)
			del++;
	for (int i = 0; i < 200 && rg_table_reclaim(t) == -EAGAIN; i++)
		usleep(10000);
	printf("{\"inserted\": %lu, \"deleted\": %lu, \"grows\": %lu, \"grow_failed\": %lu}\n", ins,
	       del, grows, grow_fail);
	rg_table_close(t);
	return 0;
}

int main(int argc, char **argv)
{
	char err[256];

	if (argc >= 3 && strcmp(argv[1], "genkey") == 0) {
		if (rg_fp_key_generate(argv[2], 1, err, sizeof(err)) < 0) {
			fprintf(stderr, "lists_table: %s\n", err);
			return 1;
		}
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "build") == 0)
		return cmd_build(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "churn") == 0)
		return cmd_churn(argc - 2, argv + 2);
	fprintf(stderr, "usage: lists_table genkey K | build ... | churn ...\n");
	return 2;
}
