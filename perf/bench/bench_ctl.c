/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * riskgate-bench ctl: the control plane.
 *
 *   apply   ledger -> table: ADD entries through the daemon's mirror
 *           (control/sync.c) into a fresh table, committed in batches of
 *           4096 as blocks would be, in entries per second (target >= 1M);
 *   revoke  the same entries revoked.
 *
 * The ledger is a fresh one-member directory under workdir; the table is an
 * ordinary shared file in /dev/shm so the figure does not depend on huge
 * pages being free.  `riskgate-ctl add` -> hit latency and socket request
 * rates need the daemon and the dataplane running: see docs/operations.md.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "bench.h"
#include "control/ctl.h"

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(p);
}

int bench_ctl(const struct bench_opts *o)
{
	char dir[512], path[600], table[128], err[512];
	struct ledger_member me;
	struct ctl_sync *s;
	struct ledger *l;
	struct ledger_entry *e;
	const unsigned batch = 4096;
	unsigned n = o->nb_msgs >= 100000 ? o->nb_msgs : 1000000;
	uint64_t t0, t1;
	int rc = 1;

	if (sodium_init() < 0)
		return 1;
	snprintf(dir, sizeof(dir), "%s/bench-ctl-%d", o->workdir ? o->workdir : "/tmp", getpid());
	snprintf(table, sizeof(table), "/dev/shm/bench-ctl-%d.table", getpid());
	if (mkdir(dir, 0700) != 0 || ledger_identity_generate(dir, "bench", err, sizeof(err)) != 0)
		goto out_rm;
	snprintf(path, sizeof(path), "%s/fp.key", dir);
	if (rg_fp_key_generate(path, 1, err, sizeof(err)) != 0 ||
	    ledger_pub_load(dir, &me, err, sizeof(err)) != 0)
		goto out_rm;
	snprintf(path, sizeof(path), "%s/genesis.json", dir);
	if (ledger_genesis_write(path, "bench", &me, 1, err, sizeof(err)) != 0)
		goto out_rm;
	l = ledger_open(dir, LEDGER_OPEN_WRITE, err, sizeof(err));
	if (l == NULL)
		goto out_rm;
	ctl_log_set_level(CTL_LOG_WARN);
	s = ctl_sync_open(l, table, 1024, err, sizeof(err));
	e = calloc(n, sizeof(*e));
	if (s == NULL || e == NULL) {
		fprintf(stderr, "bench ctl: %s\n", s == NULL ? err : strerror(ENOMEM));
		free(e);
		ctl_sync_close(s);
		ledger_close(l);
		goto out_rm;
	}
	for (unsigned i = 0; i < n; i++) {
		uint64_t seed[2] = { o->seed, i };

		crypto_generichash(e[i].fp.b, RG_FP_BYTES, (const unsigned char *)seed, sizeof(seed),
				   NULL, 0);
		e[i].op = LEDGER_OP_ADD;
		e[i].list = (uint8_t)(i % 4);
		e[i].kind = 1;
		e[i].action = 1;
	}
	t0 = bench_now_ns();
	for (unsigned i = 0; i < n; i += batch)
		if (ctl_sync_apply(s, 0, i, e + i, n - i < batch ? n - i : batch) != 0)
			goto out_free;
	t1 = bench_now_ns();
	{
		char extra[96];
		struct rg_table_stats ts;

		rg_table_stats(ctl_sync_table(s), &ts);
		snprintf(extra, sizeof(extra), ", \"entries\": %u, \"table_count\": %llu, \"batch\": %u",
			 n, (unsigned long long)ts.count, batch);
		bench_result("ctl", "apply", "entries_per_s", (double)n * 1e9 / (double)(t1 - t0),
			     NULL, 0, 0, extra);
	}
	for (unsigned i = 0; i < n; i++)
		e[i].op = LEDGER_OP_REVOKE;
	t0 = bench_now_ns();
	for (unsigned i = 0; i < n; i += batch)
		if (ctl_sync_apply(s, 0, n + i, e + i, n - i < batch ? n - i : batch) != 0)
			goto out_free;
	t1 = bench_now_ns();
	bench_result("ctl", "revoke", "entries_per_s", (double)n * 1e9 / (double)(t1 - t0), NULL, 0,
		     0, "");
	rc = 0;
out_free:
	free(e);
	ctl_sync_close(s);
	ledger_close(l);
out_rm:
	unlink(table);
	nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	if (rc != 0)
		fprintf(stderr, "bench ctl: failed: %s\n", err);
	return rc;
}
