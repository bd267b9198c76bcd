/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Hit receipts in the daemon (control/receipts.c) over a real ledger, the
 * sync mirror and a table file, fed hit lines as the events tap would:
 *   - the configuration keys: values, bounds, errors with file and line;
 *   - shared: a line becomes a HIT entry per ADD behind it (two
 *     contributors of one card: two receipts), one block per batch, the
 *     table's ledger position moves past it, the staleness clock does not;
 *   - a line for an unlisted card, for a list the card is not on, for an
 *     expired or a revoked entry: unresolved, no receipt; an expiry far
 *     enough ahead to overflow in nanoseconds is in force;
 *   - an ADD made after the state view was opened still resolves;
 *   - the rate bound drops lines (counted), the queue flushes when full;
 *   - local: the log does not grow, the store counts them; off: nothing;
 *   - a policy change flushes what was queued under the old one; close
 *     flushes too;
 *   - `receipts` and `receipt-open` replies.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "common/ident.h"
#include "control/receipts.h"
#include "check.h"
#include "ledger_fixture.h"

static char base[128];
static char table_path[128];

static const char *const pans[] = { "4761739001010119", "4000000000000002", "5500000000000004",
				    "4111111111111111", "6011000990139424" };

struct cfg_case {
	const char *text;
	bool ok;
	const char *err_has;
};

static const struct cfg_case cfg_cases[] = {
	{ "receipts = \"shared\";", true, NULL },
	{ "receipts = \"local\";\nreceipts_batch_ms = 10;", true, NULL },
	{ "receipts = \"off\";", true, NULL },
	{ "\nreceipts = \"sometimes\";", false, "cfg:2: receipts: must be \"off\", \"local\" or \"shared\"" },
	{ "receipts = 1;", false, "receipts: must be" },
	{ "receipts_batch_ms = 9;", false, "cfg:1: receipts_batch_ms: 9 is out of range 10..60000" },
	{ "receipts_batch_ms = 60001;", false, "out of range" },
	{ "receipts_max_per_s = 0;", false, "receipts_max_per_s: 0 is out of range" },
	{ "receipts_max_per_s = 1000000;", true, NULL },
	{ "receipts_batch_max = 65536;", true, NULL },
	{ "receipts_batch_max = 65537;", false, "receipts_batch_max: 65537 is out of range 1..65536" },
	{ "receipts_batch_max = \"x\";", false, "must be an integer" },
};

static void test_config(void)
{
	struct ctl_config c;
	char err[512];

	ctl_config_defaults(&c);
	CHECK(c.receipts == CTL_RECEIPTS_OFF && c.receipts_batch_ms == 5000 &&
	      c.receipts_max_per_s == 1000 && c.receipts_batch_max == 4096, "defaults");
	for (size_t i = 0; i < sizeof(cfg_cases) / sizeof(cfg_cases[0]); i++) {
		int rc;

		ctl_config_defaults(&c);
		err[0] = '\0';
		rc = ctl_config_parse(cfg_cases[i].text, "cfg", &c, err, sizeof(err));
		CHECK((rc == 0) == cfg_cases[i].ok, "config case %zu: rc %d (%s)", i, rc, err);
		if (!cfg_cases[i].ok) {
			CHECK(strstr(err, cfg_cases[i].err_has) != NULL, "config case %zu: '%s'", i, err);
			CHECK(c.receipts == CTL_RECEIPTS_OFF && c.receipts_batch_ms == 5000,
			      "config case %zu: changed on error", i);
		}
	}
	ctl_config_defaults(&c);
	CHECK(ctl_config_parse("receipts = \"local\";\nreceipts_max_per_s = 7;", "cfg", &c, err,
			       sizeof(err)) == 0 && c.receipts == CTL_RECEIPTS_LOCAL &&
	      c.receipts_max_per_s == 7, "parsed values");
}

static struct rg_fp fp_of(struct ledger *l, const char *pan)
{
	struct rg_fp fp;

	rg_fp_compute(ledger_fp_key(l), RG_KIND_PAN, pan, strlen(pan), &fp);
	return fp;
}

/* Append one entry to l's own log and, with sync, to the table. */
static uint64_t append_entry(struct ledger *l, struct ctl_sync *sync, struct ledger_entry *e)
{
	uint8_t buf[LEDGER_ENTRY_MAX];
	const uint8_t *p = buf;
	uint16_t len = (uint16_t)ledger_entry_encode(e, buf);
	struct ledger_block b;
	char err[256];

	CHECK_EQ(ledger_append(l, &p, &len, 1, &b, err, sizeof(err)), 0, "append: %s", err);
	if (sync != NULL)
		CHECK_EQ(ctl_sync_apply(sync, (unsigned)ledger_self(l), b.first_pos, e, 1), 0,
			 "sync apply");
	return b.first_pos;
}

static uint64_t add(struct ledger *l, struct ctl_sync *sync, const char *pan, unsigned list,
		    uint64_t expiry_s)
{
	struct ledger_entry e;

	fixture_pan_add(l, &e, list, pan);
	e.expiry_s = expiry_s;
	return append_entry(l, sync, &e);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A hit line of pan on list, at time t_ns (0 = now), as the tap gets it. */
static void feed(struct ctl_receipts *rc, struct ledger *l, const char *pan, unsigned list,
		 uint64_t t_ns)
{
	struct rg_event e;
	struct rg_fp fp = fp_of(l, pan);
	char line[256];
	int n;

	memset(&e, 0, sizeof(e));
	e.time_ns = t_ns ? t_ns : now_ns();
	e.ident_kind = RG_KIND_PAN;
	e.lists = (uint16_t)(1u << list);
	memcpy(e.fp, fp.b, RG_EVENT_FP_PREFIX);
	n = snprintf(line, sizeof(line), "{\"list\": %u, \"masked\": \"%.6s******%s\", \"stan\": \"000123\"}",
		     list, pan, pan + strlen(pan) - 4);
	ctl_receipts_line(rc, &e, list, line, (size_t)n);
}

static uint64_t own_size(struct ledger *l)
{
	struct ledger_head h;

	CHECK_EQ(ledger_head_get(l, (unsigned)ledger_self(l), &h), 0, "head");
	return h.size;
}

static struct ctl_receipts_stats rstats(struct ctl_receipts *rc)
{
	struct ctl_receipts_stats st;

	ctl_receipts_stats(rc, &st);
	return st;
}

/* Decoded entry at pos of member's log. */
static struct ledger_entry entry_at(struct ledger *l, unsigned m, uint64_t pos)
{
	uint8_t buf[LEDGER_ENTRY_MAX];
	struct ledger_entry e;
	const char *why;
	size_t len;

	memset(&e, 0, sizeof(e));
	CHECK_EQ(ledger_entry_get(l, m, pos, buf, &len, NULL), 0, "entry %u/%llu", m,
		 (unsigned long long)pos);
	CHECK_EQ(ledger_entry_decode(buf, len, &e, &why), 0, "decode");
	return e;
}

static void test_daemon(void)
{
	struct ctl_config cfg;
	struct ledger *a, *b;
	struct ctl_sync *sync;
	struct ctl_receipts *rc;
	struct ctl_sync_stats ss;
	char err[512], bundle[PATH_MAX];
	uint64_t pos_a0, pos_b0, size0, revoked_pos;
	struct ledger_pull_stats ps;
	unsigned mb = 1;
	uint64_t nb;
	json_t *j, *args;

	b = fixture_open(base, "b", LEDGER_OPEN_WRITE);
	a = fixture_open(base, "a", LEDGER_OPEN_WRITE);
	if (a == NULL || b == NULL)
		return;
	/* a lists pans 0..3 on txn_fraud (bit 0), pan 0 also on bit 1, pan 3
	 * expiring in a second; b lists pan 0 on txn_fraud too */
	pos_a0 = add(a, NULL, pans[0], 0, 0);
	add(a, NULL, pans[0], 1, 0);
	add(a, NULL, pans[1], 0, 0);
	revoked_pos = add(a, NULL, pans[2], 0, 0);
	add(a, NULL, pans[3], 0, ledger_now_ms() / 1000 + 2);
	pos_b0 = add(b, NULL, pans[0], 0, 0);
	snprintf(bundle, sizeof(bundle), "%s/b.bundle", base);
	CHECK_EQ(ledger_bundle_write(b, bundle, &mb, 1, 0, &nb, err, sizeof(err)), 0, "bundle");
	CHECK_EQ(ledger_pull(a, bundle, &ps, err, sizeof(err)), 0, "pull: %s", err);
	ledger_close(b);

	sync = ctl_sync_open(a, table_path, 1024, err, sizeof(err));
	CHECK(sync != NULL, "sync: %s", err);
	if (sync == NULL)
		goto out_ledger;
	ctl_config_defaults(&cfg);
	snprintf(cfg.ledger_dir, sizeof(cfg.ledger_dir), "%s/a", base);
	cfg.receipts = CTL_RECEIPTS_SHARED;
	cfg.receipts_batch_ms = 10;
	cfg.receipts_max_per_s = 100;
	cfg.receipts_batch_max = 16;
	rc = ctl_receipts_open(a, sync, &cfg, err, sizeof(err));
	CHECK(rc != NULL, "receipts: %s", err);
	if (rc == NULL)
		goto out_sync;

	/* shared: pan 0 on txn_fraud is held by a and b: two receipts */
	size0 = own_size(a);
	feed(rc, a, pans[0], 0, 0);
	feed(rc, a, pans[1], 0, 0);
	CHECK_EQ(rstats(rc).nb_queued, 2, "queued");
	CHECK_EQ(ctl_receipts_flush(rc), 3, "two lines, three ADDs behind them");
	CHECK_EQ(own_size(a), size0 + 3, "one block of three HIT entries");
	{
		bool seen_a = false, seen_b = false;

		for (uint64_t p = size0; p < size0 + 3; p++) {
			struct ledger_entry e = entry_at(a, 0, p);
			int ref = ledger_member_find(ledger_consortium(a), e.ref_member);

			CHECK(e.op == LEDGER_OP_HIT && e.list == 0, "HIT on txn_fraud");
			if (ref == 0 && e.ref_pos == pos_a0)
				seen_a = true;
			if (ref == 1 && e.ref_pos == pos_b0)
				seen_b = true;
		}
		CHECK(seen_a && seen_b, "receipts for both contributors of the card");
	}
	ctl_sync_stats(sync, &ss);
	CHECK_EQ(rg_table_ledger_pos(ctl_sync_table(sync), NULL), own_size(a) + 1,
		 "the table's ledger position moved past the receipts");
	CHECK(ctl_receipts_list_advance_ns(rc, ss.last_advance_ns) < ss.last_advance_ns,
	      "the staleness clock does not count the receipts' advance");

	/* lines without an ADD in force behind them */
	{
		struct ledger_entry rev;
		uint64_t unres0 = rstats(rc).nb_unresolved;

		memset(&rev, 0, sizeof(rev));
		rev.op = LEDGER_OP_REVOKE;
		rev.list = 0;
		rev.kind = RG_KIND_PAN;
		rev.fp = fp_of(a, pans[2]);
		rev.time_ms = ledger_now_ms();
		memcpy(rev.ref_member, ledger_consortium(a)->members[0].id, LEDGER_ID_BYTES);
		rev.ref_pos = revoked_pos;
		append_entry(a, sync, &rev);
		size0 = own_size(a);
		feed(rc, a, "6011000990139424", 0, 0);   /* not listed */
		feed(rc, a, pans[1], 1, 0);               /* listed, not on bit 1 */
		feed(rc, a, pans[2], 0, 0);               /* revoked since the view */
		feed(rc, a, pans[3], 0, now_ns() + 60ull * 1000000000ull); /* expired then */
		CHECK_EQ(ctl_receipts_flush(rc), 0, "no receipt");
		CHECK_EQ(rstats(rc).nb_unresolved, unres0 + 4, "four lines unresolved");
		CHECK_EQ(own_size(a), size0, "nothing appended");
	}
	/* an ADD made after the view was opened */
	{
		uint64_t p = add(a, sync, pans[4], 0, 0);

		size0 = own_size(a);
		feed(rc, a, pans[4], 0, 0);
		CHECK_EQ(ctl_receipts_flush(rc), 1, "the new ADD resolves through a new view");
		CHECK_EQ(entry_at(a, 0, size0).ref_pos, p, "and is the one referred to");
	}
	/* regression: an expiry whose nanoseconds overflow u64 (year 2554) is
	 * in force, as the table has it, not taken for expired */
	{
		uint64_t p = add(a, sync, "4012888888881881", 0, 18446744074ull);

		usleep(200000); /* past the pause before the next view */
		size0 = own_size(a);
		feed(rc, a, "4012888888881881", 0, 0);
		CHECK_EQ(ctl_receipts_flush(rc), 1, "a far expiry is in force");
		CHECK_EQ(entry_at(a, 0, size0).ref_pos, p, "and is the one referred to");
	}
	/* rate bound and a full queue */
	{
		struct ctl_receipts_stats s0 = rstats(rc), s1;
		struct ledger_head h0, h1;
		unsigned taken;

		ledger_head_get(a, 0, &h0);
		for (unsigned i = 0; i < 150; i++)
			feed(rc, a, pans[1], 0, 0);
		s1 = rstats(rc);
		taken = (unsigned)(s1.nb_recorded - s0.nb_recorded + s1.nb_queued);
		CHECK(s1.nb_dropped - s0.nb_dropped + taken == 150,
		      "every line is taken or dropped (%llu dropped, %u taken)",
		      (unsigned long long)(s1.nb_dropped - s0.nb_dropped), taken);
		CHECK(taken <= 100 && s1.nb_dropped - s0.nb_dropped >= 50 - 2,
		      "the bound of 100 per second holds (%u taken)", taken);
		ledger_head_get(a, 0, &h1);
		CHECK(h1.nb_blocks - h0.nb_blocks >= 5 && s1.nb_queued < 16,
		      "a full queue (16 lines) was flushed as it filled (%llu blocks)",
		      (unsigned long long)(h1.nb_blocks - h0.nb_blocks));
		ctl_receipts_flush(rc);
	}
	/* local, then off; a policy change flushes first */
	{
		struct ctl_receipts_stats s0;
		uint64_t local0;

		sleep(1); /* the bucket refills */
		ctl_receipts_tick(rc);
		size0 = own_size(a);
		feed(rc, a, pans[1], 0, 0);
		cfg.receipts = CTL_RECEIPTS_LOCAL;
		CHECK_EQ(ctl_receipts_configure(rc, &cfg, err, sizeof(err)), 0, "to local: %s", err);
		CHECK_EQ(own_size(a), size0 + 1, "the line queued under shared went to the log");
		j = ctl_receipts_json(rc);
		local0 = (uint64_t)json_integer_value(json_object_get(j, "kept_local"));
		json_decref(j);
		feed(rc, a, pans[0], 0, 0);
		feed(rc, a, pans[1], 0, 0);
		CHECK_EQ(ctl_receipts_flush(rc), 3, "local receipts");
		CHECK_EQ(own_size(a), size0 + 1, "local: the log does not grow");
		j = ctl_receipts_json(rc);
		CHECK_EQ(json_integer_value(json_object_get(j, "kept_local")), local0 + 3, "kept local");
		CHECK(!strcmp(json_string_value(json_object_get(j, "mode")), "local"), "mode");
		json_decref(j);
		cfg.receipts = CTL_RECEIPTS_OFF;
		CHECK_EQ(ctl_receipts_configure(rc, &cfg, err, sizeof(err)), 0, "to off");
		s0 = rstats(rc);
		feed(rc, a, pans[0], 0, 0);
		CHECK(rstats(rc).nb_queued == 0 && rstats(rc).nb_dropped == s0.nb_dropped,
		      "off: lines are not taken");
	}
	/* the replies */
	{
		json_t *by, *res = NULL;
		size_t i;
		bool found = false;

		j = ctl_receipts_json(rc);
		by = json_object_get(j, "by_member");
		json_array_foreach(by, i, res)
			if (!strcmp(json_string_value(json_object_get(res, "member")), "bank-b") &&
			    json_integer_value(json_object_get(res, "shared")) == 1 &&
			    json_integer_value(json_object_get(res, "local")) == 1)
				found = true;
		CHECK(found, "by_member: bank-b's card, one shared and one local receipt");
		json_decref(j);
		res = NULL;
		args = json_pack("{s:i}", "n", 0);
		CHECK_EQ(ctl_receipts_open_json(rc, args, &res, err, sizeof(err)), 0, "open 0: %s", err);
		CHECK(json_is_true(json_object_get(res, "verified")) &&
		      strstr(json_string_value(json_object_get(res, "detail")), "476173******0119"),
		      "receipt 0 opens and verifies");
		json_decref(res);
		json_decref(args);
		args = json_pack("{s:I}", "pos", (json_int_t)own_size(a) - 1);
		CHECK_EQ(ctl_receipts_open_json(rc, args, &res, err, sizeof(err)), 0, "open by pos: %s",
			 err);
		json_decref(res);
		json_decref(args);
		args = json_pack("{s:i, s:i}", "n", 0, "pos", 1);
		CHECK_EQ(ctl_receipts_open_json(rc, args, &res, err, sizeof(err)), CTL_ERR_BAD_ARGS,
			 "n and pos");
		json_decref(args);
		args = json_pack("{s:i}", "n", 1000000);
		CHECK_EQ(ctl_receipts_open_json(rc, args, &res, err, sizeof(err)), CTL_ERR_FAILED,
			 "no such receipt");
		CHECK(strstr(err, "not in the receipts store") != NULL, "why: %s", err);
		json_decref(args);
	}
	/* close flushes what is queued */
	cfg.receipts = CTL_RECEIPTS_SHARED;
	CHECK_EQ(ctl_receipts_configure(rc, &cfg, err, sizeof(err)), 0, "to shared");
	size0 = own_size(a);
	feed(rc, a, pans[1], 0, 0);
	ctl_receipts_close(rc);
	CHECK_EQ(own_size(a), size0 + 1, "close flushed the queue");
	{
		char report[512] = "";

		CHECK_EQ(ledger_verify(a, report, sizeof(report), &nb), 0, "verify: %s", report);
	}
out_sync:
	ctl_sync_close(sync);
out_ledger:
	ledger_close(a);
}

/* One fingerprint held by 17 members on the 4 standard lists: 68 records,
 * more than a caller's fixed array.  ctl_sync_find_own finds each member's
 * own record wherever it is in the chain (regression: add, revoke and the
 * import's already-listed check looked at the first 64 records only). */
static void test_find_own(void)
{
	static const char *const names[] = {
		"m00", "m01", "m02", "m03", "m04", "m05", "m06", "m07", "m08",
		"m09", "m10", "m11", "m12", "m13", "m14", "m15", "m16",
	};
	const unsigned nb_m = sizeof(names) / sizeof(names[0]), nb_l = RG_LIST_NB_STD;
	char many[PATH_MAX], tpath[PATH_MAX], err[256];
	const char *pan = "4111111111111111";
	struct ctl_sync_rec r, recs[1];
	struct ctl_sync *sync;
	struct ledger_entry e;
	struct ledger *l;
	struct rg_fp fp;

	snprintf(many, sizeof(many), "%s/many", base);
	CHECK(mkdir(many, 0700) == 0, "mkdir %s", many);
	fixture_consortium(many, names, nb_m, nb_m, nb_m);
	l = fixture_open(many, "m00", LEDGER_OPEN_WRITE);
	if (l == NULL)
		return;
	snprintf(tpath, sizeof(tpath), "%s.many", table_path);
	sync = ctl_sync_open(l, tpath, 1024, err, sizeof(err));
	CHECK(sync != NULL, "sync: %s", err);
	if (sync != NULL) {
		fp = fp_of(l, pan);
		for (unsigned m = 0; m < nb_m; m++)
			for (unsigned li = 0; li < nb_l; li++) {
				fixture_pan_add(l, &e, li, pan);
				CHECK_EQ(ctl_sync_apply(sync, m, 1000 * m + li, &e, 1), 0,
					 "apply member %u list %u", m, li);
			}
		CHECK_EQ(ctl_sync_find(sync, &fp, recs, 1), nb_m * nb_l, "records held");
		for (unsigned m = 0; m < nb_m; m++)
			for (unsigned li = 0; li < nb_l; li++)
				CHECK(ctl_sync_find_own(sync, &fp, li, m, &r) && r.member == m &&
				      r.list == li && r.pos == 1000 * m + li,
				      "own record of member %u on list %u", m, li);
		CHECK(!ctl_sync_find_own(sync, &fp, 0, nb_m, &r), "no record of a member not there");
		ctl_sync_close(sync);
	}
	unlink(tpath);
	ledger_close(l);
}

int main(void)
{
	static const char *const names[] = { "a", "b" };
	int rc;

	if (sodium_init() < 0)
		return 1;
	ctl_log_set_level(CTL_LOG_WARN);
	if (fixture_tmpdir(base, sizeof(base), "test_ctl_receipts") != 0)
		return 1;
	snprintf(table_path, sizeof(table_path), "/dev/shm/test_ctl_receipts.%d.table", getpid());
	test_config();
	/* members a and b; test_daemon pulls b's log into a's ledger */
	fixture_consortium(base, names, 2, 2, 2);
	test_daemon();
	test_find_own();
	rc = CHECK_DONE();
	unlink(table_path);
	if (fixture_rmdir(base) != 0)
		return 1;
	return rc;
}
