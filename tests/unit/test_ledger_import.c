/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The resumable import (ledger/import.c), through the library in a
 * temporary one-member ledger:
 *   - a step reads at most max_lines lines and appends at most one block;
 *     the totals only grow, bytes end at the file size;
 *   - each block reaches on_block and on_entries with its entries;
 *   - other appends between steps are fine and the log verifies;
 *   - strict: the first pass appends nothing; one bad line means nothing
 *     is imported and the line is named; a file changed during the check
 *     pass, or after it, stops the import at a block boundary (-ESTALE);
 *   - opts->held replaces the state lookup: what it holds is refused;
 *   - a FIFO, a directory and an empty file are refused with their path;
 *   - an error is sticky: every later step returns it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "common/ident.h"
#include "ledger/ledger.h"
#include "check.h"
#include "ledger_fixture.h"

static char base[128];

struct seen {
	uint64_t nb_blocks, nb_entries, nb_bad, last_bad_line, next_pos;
	bool entries_ok;
};

static void on_block(void *arg, const struct ledger_block *b, uint64_t bytes_done)
{
	struct seen *s = arg;

	(void)bytes_done;
	s->nb_blocks++;
	if (b->first_pos != s->next_pos)
		s->entries_ok = false;
	s->next_pos = b->first_pos + b->nb_entries;
}

static void on_entries(void *arg, const struct ledger_block *b, const uint8_t *const *entries,
		       const uint16_t *lens)
{
	struct seen *s = arg;
	struct ledger_entry e;
	const char *why;

	for (uint32_t i = 0; i < b->nb_entries; i++)
		if (ledger_entry_decode(entries[i], lens[i], &e, &why) != 0 ||
		    e.op != LEDGER_OP_ADD)
			s->entries_ok = false;
	s->nb_entries += b->nb_entries;
}

static void on_bad(void *arg, uint64_t line, const char *why)
{
	struct seen *s = arg;

	(void)why;
	s->nb_bad++;
	s->last_bad_line = line;
}

/* n ACCOUNT lines tagged tag; line bad_at (1-based file line, 0 = none)
 * names an unknown list. */
static void write_list(const char *path, const char *tag, unsigned n, unsigned bad_at)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL, "create %s", path);
	if (f == NULL)
		return;
	fputs("list,kind,value,severity,expiry,reason\n", f);
	for (unsigned i = 0; i < n; i++)
		fprintf(f, "%s,ACCOUNT,%s%08u,high,,mule\n",
			i + 2 == bad_at ? "xxx_fraud" : "txn_fraud", tag, i);
	fclose(f);
}

static uint64_t own_size(struct ledger *l)
{
	struct ledger_head h;

	if (ledger_head_get(l, (unsigned)ledger_self(l), &h) != 0)
		return UINT64_MAX;
	return h.size;
}

static void test_steps(struct ledger *l)
{
	struct seen s = { .entries_ok = true };
	struct ledger_import_opts o = { .block_size = 1000, .on_block = on_block,
					.on_entries = on_entries, .on_bad = on_bad, .arg = &s };
	struct ledger_import_stats st, prev = { 0 };
	struct ledger_import *im;
	char path[PATH_MAX], err[LEDGER_ERR_MAX];
	uint64_t size0 = own_size(l), nb_steps = 0;
	struct stat sb;
	int rc;

	snprintf(path, sizeof(path), "%s/steps.csv", base);
	write_list(path, "S", 10000, 0);
	stat(path, &sb);
	s.next_pos = size0;
	im = ledger_import_open(l, path, &o, err, sizeof(err));
	CHECK(im != NULL, "open: %s", err);
	if (im == NULL)
		return;
	while ((rc = ledger_import_step(im, 300, &st, err, sizeof(err))) > 0) {
		nb_steps++;
		CHECK(st.nb_lines - prev.nb_lines <= 300, "step read %llu lines",
		      (unsigned long long)(st.nb_lines - prev.nb_lines));
		CHECK(st.nb_blocks - prev.nb_blocks <= 1, "step appended %llu blocks",
		      (unsigned long long)(st.nb_blocks - prev.nb_blocks));
		CHECK(st.bytes_read >= prev.bytes_read && st.nb_imported >= prev.nb_imported,
		      "totals went back");
		CHECK_EQ(st.total_bytes, sb.st_size, "total bytes");
		CHECK(!st.checking, "checking without strict");
		CHECK_EQ(own_size(l), size0 + st.nb_imported, "only whole blocks are in the log");
		prev = st;
		/* another writer between steps */
		if (nb_steps == 7) {
			struct ledger_entry e = { .op = LEDGER_OP_ADD, .list = 1,
						  .kind = RG_KIND_ACCOUNT, .severity = 1,
						  .action = 1, .key_epoch = 1 };
			uint8_t buf[LEDGER_ENTRY_MAX];
			const uint8_t *p = buf;
			uint16_t len;

			e.time_ms = ledger_now_ms();
			rg_fp_compute(ledger_fp_key(l), RG_KIND_ACCOUNT, "OTHER1", 6, &e.fp);
			len = (uint16_t)ledger_entry_encode(&e, buf);
			CHECK_EQ(ledger_append(l, &p, &len, 1, NULL, err, sizeof(err)), 0,
				 "append between steps: %s", err);
			size0++;
			s.next_pos++;
		}
	}
	CHECK_EQ(rc, 0, "import: %s", err);
	CHECK_EQ(st.nb_imported, 10000, "imported");
	CHECK_EQ(st.nb_blocks, 10, "blocks");
	CHECK_EQ(st.nb_lines, 10001, "lines");
	CHECK_EQ(st.bytes_read, sb.st_size, "bytes read at the end");
	CHECK(nb_steps >= 10000 / 300, "only %llu steps", (unsigned long long)nb_steps);
	CHECK(s.nb_blocks == 10 && s.nb_entries == 10000 && s.entries_ok, "callbacks: %llu %llu",
	      (unsigned long long)s.nb_blocks, (unsigned long long)s.nb_entries);
	CHECK_EQ(ledger_import_step(im, 300, &st, err, sizeof(err)), 0, "step after the end");
	ledger_import_close(im);
	fixture_verify(l, "after stepped import");

	/* the same file again: every line is already held, nothing appended */
	size0 = own_size(l);
	memset(&s, 0, sizeof(s));
	CHECK_EQ(ledger_import(l, path, &o, &st, err, sizeof(err)), 0, "re-run: %s", err);
	CHECK(st.nb_bad == 10000 && st.nb_imported == 0 && own_size(l) == size0,
	      "re-run: bad %llu imported %llu", (unsigned long long)st.nb_bad,
	      (unsigned long long)st.nb_imported);
}

static void test_strict(struct ledger *l)
{
	struct seen s = { .entries_ok = true };
	struct ledger_import_opts o = { .strict = true, .block_size = 500, .on_block = on_block,
					.on_bad = on_bad, .arg = &s };
	struct ledger_import_stats st;
	struct ledger_import *im;
	char path[PATH_MAX], err[LEDGER_ERR_MAX];
	uint64_t size0 = own_size(l);
	int rc;

	/* one bad line: nothing */
	snprintf(path, sizeof(path), "%s/strict-bad.csv", base);
	write_list(path, "B", 3000, 2700);
	rc = ledger_import(l, path, &o, &st, err, sizeof(err));
	CHECK_EQ(rc, -EINVAL, "strict with a bad line");
	CHECK(strstr(err, "1 bad line") != NULL && strstr(err, "nothing imported") != NULL,
	      "strict message: %s", err);
	CHECK(s.nb_bad == 1 && s.last_bad_line == 2700, "bad line named: %llu",
	      (unsigned long long)s.last_bad_line);
	CHECK(own_size(l) == size0 && st.nb_imported == 0 && s.nb_blocks == 0,
	      "strict imported something");

	/* good file: the first pass appends nothing, then everything */
	snprintf(path, sizeof(path), "%s/strict-good.csv", base);
	write_list(path, "G", 3000, 0);
	memset(&s, 0, sizeof(s));
	s.entries_ok = true;
	s.next_pos = size0;
	im = ledger_import_open(l, path, &o, err, sizeof(err));
	CHECK(im != NULL, "open: %s", err);
	if (im == NULL)
		return;
	while ((rc = ledger_import_step(im, 1000, &st, err, sizeof(err))) > 0 && st.checking)
		CHECK(own_size(l) == size0 && st.nb_blocks == 0, "check pass appended");
	while (rc > 0)
		rc = ledger_import_step(im, 1000, &st, err, sizeof(err));
	CHECK_EQ(rc, 0, "strict good: %s", err);
	CHECK(st.nb_imported == 3000 && st.nb_blocks == 6 && st.nb_lines == 3001 &&
	      own_size(l) == size0 + 3000, "strict good: %llu in %llu blocks",
	      (unsigned long long)st.nb_imported, (unsigned long long)st.nb_blocks);
	ledger_import_close(im);

	/* changed while it was checked: nothing */
	snprintf(path, sizeof(path), "%s/strict-grow.csv", base);
	write_list(path, "C", 3000, 0);
	size0 = own_size(l);
	im = ledger_import_open(l, path, &o, err, sizeof(err));
	CHECK(im != NULL, "open: %s", err);
	if (im == NULL)
		return;
	rc = ledger_import_step(im, 1000, &st, err, sizeof(err));
	{
		FILE *f = fopen(path, "a");

		fputs("txn_fraud,ACCOUNT,LATE0001,high,,mule\n", f);
		fclose(f);
	}
	while (rc > 0)
		rc = ledger_import_step(im, 1000, &st, err, sizeof(err));
	CHECK_EQ(rc, -ESTALE, "file grown during the check: %s", err);
	CHECK(strstr(err, "changed") != NULL && own_size(l) == size0, "grown: %s", err);
	CHECK_EQ(ledger_import_step(im, 1000, &st, err, sizeof(err)), -ESTALE, "sticky error");
	ledger_import_close(im);

	/* changed after the check: stops at a block boundary */
	snprintf(path, sizeof(path), "%s/strict-edit.csv", base);
	write_list(path, "E", 3000, 0);
	size0 = own_size(l);
	im = ledger_import_open(l, path, &o, err, sizeof(err));
	CHECK(im != NULL, "open: %s", err);
	if (im == NULL)
		return;
	while ((rc = ledger_import_step(im, 1000, &st, err, sizeof(err))) > 0 && st.checking)
		;
	while (rc > 0 && st.nb_blocks < 1)
		rc = ledger_import_step(im, 1000, &st, err, sizeof(err));
	{
		/* line 2801 in place, same length: an unknown list */
		int fd = open(path, O_WRONLY);
		off_t off = (off_t)strlen("list,kind,value,severity,expiry,reason\n") +
			    2799 * (off_t)strlen("txn_fraud,ACCOUNT,E00000000,high,,mule\n");

		CHECK(fd >= 0 && pwrite(fd, "xxx", 3, off) == 3, "edit in place");
		close(fd);
	}
	while (rc > 0)
		rc = ledger_import_step(im, 1000, &st, err, sizeof(err));
	CHECK_EQ(rc, -ESTALE, "file edited after the check: %s", err);
	CHECK(strstr(err, "line 2801") != NULL && strstr(err, "changed") != NULL, "edited: %s",
	      err);
	CHECK(own_size(l) == size0 + st.nb_imported && st.nb_imported % 500 == 0 &&
	      st.nb_imported >= 500 && st.nb_imported < 3000, "whole blocks before the change: %llu",
	      (unsigned long long)st.nb_imported);
	ledger_import_close(im);
	fixture_verify(l, "after strict imports");
}

struct held_arg {
	struct rg_fp fp, fp_expired;
	unsigned nb_asked;
	char why[LEDGER_ERR_MAX];
};

static int held(void *arg, const struct rg_fp *fp, unsigned list, uint64_t *pos,
		uint64_t *expiry_s)
{
	struct held_arg *h = arg;

	h->nb_asked++;
	if (list == 0 && memcmp(fp, &h->fp, sizeof(*fp)) == 0) {
		*pos = 42;
		*expiry_s = 0;
		return 0;
	}
	if (list == 0 && memcmp(fp, &h->fp_expired, sizeof(*fp)) == 0) {
		*pos = 43;
		*expiry_s = 1000; /* long gone: not held any more */
		return 0;
	}
	return -ENOENT;
}

static void held_bad(void *arg, uint64_t line, const char *why)
{
	struct held_arg *h = arg;

	snprintf(h->why, sizeof(h->why), "line %llu: %s", (unsigned long long)line, why);
}

/* opts->held stands in for the state: what it says is held is refused */
static void test_held(struct ledger *l)
{
	struct held_arg h = { 0 };
	struct ledger_import_opts o = { .held = held, .on_bad = held_bad, .arg = &h };
	struct ledger_import_stats st;
	char path[PATH_MAX], err[LEDGER_ERR_MAX];

	snprintf(path, sizeof(path), "%s/held.csv", base);
	write_list(path, "H", 10, 0);
	rg_fp_compute(ledger_fp_key(l), RG_KIND_ACCOUNT, "H00000003", 9, &h.fp);
	rg_fp_compute(ledger_fp_key(l), RG_KIND_ACCOUNT, "H00000004", 9, &h.fp_expired);
	CHECK_EQ(ledger_import(l, path, &o, &st, err, sizeof(err)), 0, "held import: %s", err);
	CHECK(st.nb_bad == 1 && st.nb_imported == 9 && h.nb_asked == 10, "held: bad %llu asked %u",
	      (unsigned long long)st.nb_bad, h.nb_asked);
	CHECK(strstr(h.why, "line 5: already listed by this member at position 42") != NULL,
	      "held reason: %s", h.why);
}

static void test_refused(struct ledger *l)
{
	struct ledger_import_opts o = { 0 };
	struct ledger_import_stats st;
	char path[PATH_MAX], err[LEDGER_ERR_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/fifo", base);
	CHECK(mkfifo(path, 0600) == 0, "mkfifo");
	CHECK(ledger_import_open(l, path, &o, err, sizeof(err)) == NULL && errno == EINVAL,
	      "FIFO accepted");
	CHECK(strstr(err, "not a regular file") != NULL && strstr(err, path) != NULL, "fifo: %s",
	      err);
	CHECK(ledger_import_open(l, base, &o, err, sizeof(err)) == NULL, "directory accepted");
	snprintf(path, sizeof(path), "%s/missing.csv", base);
	CHECK(ledger_import_open(l, path, &o, err, sizeof(err)) == NULL && errno == ENOENT,
	      "missing file accepted");
	snprintf(path, sizeof(path), "%s/empty.csv", base);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	close(fd);
	CHECK_EQ(ledger_import(l, path, &o, &st, err, sizeof(err)), -EINVAL, "empty file");
	CHECK(strstr(err, "empty file") != NULL, "empty: %s", err);
	o.block_size = LEDGER_BLOCK_MAX + 1;
	CHECK(ledger_import_open(l, path, &o, err, sizeof(err)) == NULL && errno == EINVAL,
	      "block size out of range");
}

/* A line of 1 MB without a line end between good lines: refused as one bad
 * line, the lines around it imported; a header of 9000 bytes refuses the
 * file (regression: the reader used to hold a whole line in memory). */
static void test_long_lines(struct ledger *l)
{
	struct seen s = { .entries_ok = true };
	struct ledger_import_opts o = { .on_bad = on_bad, .arg = &s };
	struct ledger_import_stats st;
	char path[PATH_MAX], err[LEDGER_ERR_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/long.csv", base);
	f = fopen(path, "w");
	CHECK(f != NULL, "create %s", path);
	if (f == NULL)
		return;
	fputs("list,kind,value\ntxn_fraud,ACCOUNT,LONGA0001\n", f);
	for (unsigned i = 0; i < 1024 * 1024; i++)
		fputc('x', f);
	fputs("\ntxn_fraud,ACCOUNT,LONGA0002\n", f);
	fclose(f);
	CHECK_EQ(ledger_import(l, path, &o, &st, err, sizeof(err)), 0, "long line: %s", err);
	CHECK_EQ(st.nb_imported, 2, "the lines around the long one");
	CHECK_EQ(st.nb_bad, 1, "the long line is one bad line");
	CHECK_EQ(s.last_bad_line, 3, "reported at its line");
	CHECK_EQ(st.nb_lines, 4, "lines counted");

	f = fopen(path, "w");
	if (f == NULL)
		return;
	for (unsigned i = 0; i < 9000; i++)
		fputc('l', f);
	fputs("\ntxn_fraud,ACCOUNT,LONGA0003\n", f);
	fclose(f);
	CHECK_EQ(ledger_import(l, path, &o, &st, err, sizeof(err)), -EINVAL, "long header");
	CHECK(strstr(err, "line 1: header line longer than") != NULL, "long header: %s", err);
}

int main(void)
{
	static const char *const names[] = { "a" };
	struct ledger *l;
	int rc;

	if (sodium_init() < 0)
		return 1;
	if (fixture_tmpdir(base, sizeof(base), "test_ledger_import") != 0)
		return 1;
	fixture_consortium(base, names, 1, 1, 1);
	l = fixture_open(base, "a", LEDGER_OPEN_WRITE);
	if (l != NULL) {
		test_steps(l);
		test_strict(l);
		test_held(l);
		test_refused(l);
		test_long_lines(l);
		ledger_close(l);
	}
	rc = CHECK_DONE();
	if (fixture_rmdir(base) != 0)
		return 1;
	return rc;
}
