/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Ledger directories for the unit tests that run the ledger library on
 * disk (real RocksDB) in a scratch directory: the directory itself, member
 * directories sharing one genesis and one fingerprint key, opening one of
 * them, an ADD entry of a card, a verify that must pass.  Each test binary
 * is one translation unit, hence static inline.  A failed step is a CHECK
 * (check.h): the test goes on and fails at the end.
 */
#ifndef RG_TEST_LEDGER_FIXTURE_H
#define RG_TEST_LEDGER_FIXTURE_H

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/ident.h"
#include "ledger/ledger.h"
#include "check.h"

/* A new directory /tmp/NAME.XXXXXX, its path into base: 0, or -1. */
static inline int fixture_tmpdir(char *base, size_t cap, const char *name)
{
	snprintf(base, cap, "/tmp/%s.XXXXXX", name);
	return mkdtemp(base) != NULL ? 0 : -1;
}

/* base and everything below it removed: 0, or -1. */
static inline int fixture_rmdir(const char *base)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
	return system(cmd) == 0 ? 0 : -1;
}

/* The file from copied to to, created with mode. */
static inline void fixture_copy(const char *from, const char *to, mode_t mode)
{
	char buf[65536];
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, mode);
	ssize_t n;

	while ((n = read(in, buf, sizeof(buf))) > 0)
		CHECK(write(out, buf, (size_t)n) == n, "copy write");
	close(in);
	close(out);
}

/*
 * Directories base/NAME for names[0..nb_dirs).  The first nb_ids get a
 * member identity named "bank-NAME"; the first nb_members of those are the
 * members of the genesis (consortium "test").  Every directory gets the
 * genesis.json and one fingerprint key (epoch 1) made in the first.
 */
static inline void fixture_consortium(const char *base, const char *const *names, unsigned nb_dirs,
				      unsigned nb_ids, unsigned nb_members)
{
	struct ledger_member *mem = calloc(nb_members, sizeof(*mem));
	char dir[PATH_MAX], key[PATH_MAX], gen[PATH_MAX], p[PATH_MAX], name[64], err[256];

	CHECK(mem != NULL && nb_members <= nb_ids && nb_ids <= nb_dirs, "consortium fixture");
	if (mem == NULL)
		return;
	for (unsigned i = 0; i < nb_dirs; i++) {
		snprintf(dir, sizeof(dir), "%s/%s", base, names[i]);
		CHECK(mkdir(dir, 0700) == 0, "mkdir %s", dir);
		if (i >= nb_ids)
			continue;
		snprintf(name, sizeof(name), "bank-%s", names[i]);
		CHECK_EQ(ledger_identity_generate(dir, name, err, sizeof(err)), 0, "identity: %s",
			 err);
		if (i < nb_members)
			CHECK_EQ(ledger_pub_load(dir, &mem[i], err, sizeof(err)), 0, "pub: %s",
				 err);
	}
	snprintf(key, sizeof(key), "%s/%s/fp.key", base, names[0]);
	CHECK_EQ(rg_fp_key_generate(key, 1, err, sizeof(err)), 0, "fp key: %s", err);
	snprintf(gen, sizeof(gen), "%s/%s/genesis.json", base, names[0]);
	CHECK_EQ(ledger_genesis_write(gen, "test", mem, nb_members, err, sizeof(err)), 0,
		 "genesis: %s", err);
	for (unsigned i = 1; i < nb_dirs; i++) {
		snprintf(p, sizeof(p), "%s/%s/fp.key", base, names[i]);
		fixture_copy(key, p, 0600);
		snprintf(p, sizeof(p), "%s/%s/genesis.json", base, names[i]);
		fixture_copy(gen, p, 0644);
	}
	free(mem);
}

/* ledger_open of base/NAME with flags; NULL (and a failed CHECK) if it
 * does not open. */
static inline struct ledger *fixture_open(const char *base, const char *name, unsigned flags)
{
	char dir[PATH_MAX], err[256];
	struct ledger *l;

	snprintf(dir, sizeof(dir), "%s/%s", base, name);
	l = ledger_open(dir, flags, err, sizeof(err));
	CHECK(l != NULL, "open %s: %s", name, err);
	return l;
}

/* An ADD of pan on list bit list under l's fingerprint key (epoch 1), made
 * now: severity medium, action 1, no expiry (the caller may change them). */
static inline void fixture_pan_add(struct ledger *l, struct ledger_entry *e, unsigned list,
				   const char *pan)
{
	memset(e, 0, sizeof(*e));
	e->op = LEDGER_OP_ADD;
	e->list = (uint8_t)list;
	e->kind = RG_KIND_PAN;
	e->severity = LEDGER_SEV_MEDIUM;
	e->action = 1;
	e->key_epoch = 1;
	e->time_ms = ledger_now_ms();
	rg_fp_compute(ledger_fp_key(l), RG_KIND_PAN, pan, strlen(pan), &e->fp);
}

/* ledger_verify of l passes; when names the moment in the failure. */
static inline void fixture_verify(struct ledger *l, const char *when)
{
	char report[512] = "";
	uint64_t n;

	CHECK_EQ(ledger_verify(l, report, sizeof(report), &n), 0, "verify %s: %s", when, report);
}

#endif
