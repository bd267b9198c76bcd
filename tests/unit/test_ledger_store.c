/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The ledger directory end to end through the library (ledger/store.c,
 * bundle.c, state.c, verify.c), in temporary directories:
 *   - append, heads, checkpoints, derived state, verify;
 *   - rights: only the contributor revokes, no double revoke, undefined
 *     list bits refused, each with its reason;
 *   - blocks taken from others: non-member, bad signature, broken chain,
 *     missing blocks, forks (evidence kept), rights inside a signed block,
 *     an entry whose reason holds a card number;
 *   - bundles: write, pull, pull again (all held);
 *   - expiry: the table leaves out what has expired at build time;
 *   - membership: a change needs a majority of co-signatures;
 *   - key files: a member key that group may read is refused.
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
#include "common/table.h"
#include "ledger/ledger.h"
#include "check.h"
#include "ledger_fixture.h"

static char base[128];

static void path_of(char *out, const char *dir, const char *file)
{
	snprintf(out, PATH_MAX, "%s/%s/%s", base, dir, file);
}

static int enc(const struct ledger_entry *e, uint8_t *buf)
{
	int n = ledger_entry_encode(e, buf);

	CHECK(n > 0, "encode");
	return n;
}

static struct ledger_entry *add_entry(struct ledger *l, unsigned list, const char *pan,
				      uint64_t expiry_s)
{
	static struct ledger_entry e;

	fixture_pan_add(l, &e, list, pan);
	e.severity = LEDGER_SEV_HIGH;
	e.action = 2;
	e.expiry_s = expiry_s;
	return &e;
}

static int append1(struct ledger *l, const struct ledger_entry *e, char *err)
{
	uint8_t buf[LEDGER_ENTRY_MAX];
	const uint8_t *p = buf;
	uint16_t len = (uint16_t)enc(e, buf);

	err[0] = '\0';
	return ledger_append(l, &p, &len, 1, NULL, err, 256);
}

/* A height-0 block of member id over entries, signed with sk. */
static void make_block0(struct ledger_block *b, const struct ledger_consortium *c,
			const uint8_t *id, const uint8_t *sk, uint8_t (*ebuf)[LEDGER_ENTRY_MAX],
			const uint8_t **ptrs, uint16_t *lens, unsigned n)
{
	struct ledger_frontier f = { 0 };

	memset(b, 0, sizeof(*b));
	memcpy(b->member, id, 8);
	b->nb_entries = n;
	memcpy(b->prev, c->id, 32);
	for (unsigned i = 0; i < n; i++) {
		uint8_t leaf[32];

		ptrs[i] = ebuf[i];
		ledger_leaf_hash(ebuf[i], lens[i], leaf);
		ledger_frontier_push(&f, leaf, NULL, NULL);
	}
	ledger_frontier_root(&f, b->entries_root);
	memcpy(b->tree_root, b->entries_root, 32);
	b->time_ms = ledger_now_ms();
	ledger_block_sign(b, sk);
}

static void test_all(void)
{
	static uint8_t ebuf[8][LEDGER_ENTRY_MAX];
	const uint8_t *ptrs[8];
	uint16_t lens[8];
	char err[256], report[512], p[PATH_MAX], dir[PATH_MAX];
	struct ledger *a, *b, *r;
	struct ledger_identity *ida, *idc;
	struct ledger_head h;
	struct ledger_checkpoint cp;
	struct ledger_block blk, b0;
	struct ledger_entry *e, rev;
	struct ledger_pull_stats ps;
	struct ledger_table_stats ts;
	uint64_t pos, n, nb_blocks, now_s = ledger_now_ms() / 1000;
	int ia, ib;

	a = fixture_open(base, "a", LEDGER_OPEN_WRITE);
	b = fixture_open(base, "b", LEDGER_OPEN_WRITE);
	if (a == NULL || b == NULL)
		return;
	ia = ledger_self(a);
	ib = ledger_self(b);
	CHECK(ia == 0 && ib == 1, "member indices %d %d", ia, ib);

	/* a: a block of 3, then single entries */
	{
		static const char *const pans[] = { "4761739001010119", "4000000000000002",
						    "5500000000000004" };
		for (unsigned i = 0; i < 3; i++)
			lens[i] = (uint16_t)enc(add_entry(a, 0, pans[i], 0), ebuf[i]), ptrs[i] = ebuf[i];
		CHECK_EQ(ledger_append(a, ptrs, lens, 3, &blk, err, sizeof(err)), 0, "append: %s", err);
		CHECK(blk.height == 0 && blk.first_pos == 0 && blk.nb_entries == 3, "block 0");
	}
	CHECK_EQ(ledger_head_get(a, (unsigned)ia, &h), 0, "head");
	CHECK(h.size == 3 && h.nb_blocks == 1, "head size %llu", (unsigned long long)h.size);
	CHECK_EQ(ledger_checkpoint_latest(a, (unsigned)ia, &cp), 0, "checkpoint");
	CHECK(cp.size == 3 && memcmp(cp.root, h.root, 32) == 0, "checkpoint covers the block");
	e = add_entry(a, 0, "4761739001010119", 0);
	CHECK_EQ(ledger_state_get(a, &e->fp, 0, (unsigned)ia, &pos, NULL), 0, "state held");
	CHECK_EQ(pos, 0, "state pos");

	/* expiring entry on list 1 */
	e = add_entry(a, 1, "4761739001010119", now_s + 100);
	CHECK_EQ(append1(a, e, err), 0, "expiring add: %s", err);
	/* undefined list bit */
	e = add_entry(a, 9, "4761739001010119", 0);
	CHECK_EQ(append1(a, e, err), -EPERM, "undefined list accepted");
	CHECK(strstr(err, "list bit") != NULL, "reason: %s", err);

	/* revoke position 1 (own), then again */
	memset(&rev, 0, sizeof(rev));
	rev.op = LEDGER_OP_REVOKE;
	rev.list = 0;
	rev.kind = RG_KIND_PAN;
	rev.time_ms = ledger_now_ms();
	rg_fp_compute(ledger_fp_key(a), RG_KIND_PAN, "4000000000000002", 16, &rev.fp);
	memcpy(rev.ref_member, ledger_consortium(a)->members[ia].id, 8);
	rev.ref_pos = 1;
	CHECK_EQ(append1(a, &rev, err), 0, "own revoke: %s", err);
	CHECK_EQ(ledger_state_get(a, &rev.fp, 0, (unsigned)ia, NULL, NULL), -ENOENT,
		 "revoked state gone");
	CHECK_EQ(append1(a, &rev, err), -EPERM, "double revoke accepted");
	CHECK(strstr(err, "in force") != NULL, "double revoke reason: %s", err);
	rev.ref_pos = 0; /* position 0 holds another fingerprint */
	CHECK_EQ(append1(a, &rev, err), -EPERM, "revoke of a mismatching ADD accepted");

	/* b adds, a tries to revoke b's entry */
	e = add_entry(b, 0, "4111111111111111", 0);
	CHECK_EQ(append1(b, e, err), 0, "b add: %s", err);
	rev.fp = e->fp;
	memcpy(rev.ref_member, ledger_consortium(a)->members[ib].id, 8);
	rev.ref_pos = 0;
	CHECK_EQ(append1(a, &rev, err), -EPERM, "revoke of another member's entry accepted");
	CHECK(strstr(err, "only its contributor") != NULL && strstr(err, "bank-b") != NULL,
	      "rights reason: %s", err);

	CHECK_EQ(ledger_verify(a, report, sizeof(report), &n), 0, "verify a: %s", report);
	CHECK_EQ(n, 5, "a holds its 5 entries");

	/* bundles: a's log into b, twice */
	path_of(p, "a", "a.bundle");
	{
		unsigned m = (unsigned)ia;

		CHECK_EQ(ledger_bundle_write(a, p, &m, 1, 0, &nb_blocks, err, sizeof(err)), 0,
			 "bundle: %s", err);
	}
	CHECK_EQ(nb_blocks, 3, "a has 3 blocks");
	CHECK_EQ(ledger_pull(b, p, &ps, err, sizeof(err)), 0, "pull: %s", err);
	CHECK(ps.nb_blocks_new == 3 && ps.nb_entries_new == 5 && ps.nb_checkpoints_new == 3,
	      "pull stats %llu %llu %llu", (unsigned long long)ps.nb_blocks_new,
	      (unsigned long long)ps.nb_entries_new, (unsigned long long)ps.nb_checkpoints_new);
	CHECK_EQ(ledger_pull(b, p, &ps, err, sizeof(err)), 0, "pull again: %s", err);
	CHECK(ps.nb_blocks_new == 0 && ps.nb_blocks_held == 3, "pull again holds all");
	CHECK_EQ(ledger_verify(b, report, sizeof(report), &n), 0, "verify b: %s", report);
	CHECK_EQ(n, 6, "b holds 6 entries");
	/* a damaged bundle is refused whole */
	{
		char q[PATH_MAX];
		FILE *f;
		long sz;

		path_of(q, "a", "cut.bundle");
		fixture_copy(p, q, 0644);
		f = fopen(q, "r+");
		fseek(f, 0, SEEK_END);
		sz = ftell(f);
		CHECK(ftruncate(fileno(f), sz - 10) == 0, "truncate");
		fclose(f);
		CHECK_EQ(ledger_pull(b, q, &ps, err, sizeof(err)), -EBADMSG, "cut bundle accepted");
	}

	/* table: expiry at build time */
	path_of(p, "b", "t1.tbl");
	CHECK_EQ(ledger_table_build(b, p, now_s, &ts, err, sizeof(err)), 0, "table: %s", err);
	CHECK(ts.nb_state == 4 && ts.nb_expired == 0 && ts.nb_fps == 3,
	      "table now: state %llu expired %llu fps %llu", (unsigned long long)ts.nb_state,
	      (unsigned long long)ts.nb_expired, (unsigned long long)ts.nb_fps);
	{
		struct rg_table *t = rg_table_open_reader(p);
		struct rg_table_val v;

		e = add_entry(b, 0, "4761739001010119", 0);
		CHECK(t != NULL && rg_table_lookup(t, &e->fp, &v) == 0, "listed PAN in table");
		CHECK(v.lists == 3 && v.action == 2 && v.contributor == 0, "value lists %u", v.lists);
		e = add_entry(b, 0, "4000000000000002", 0);
		CHECK(rg_table_lookup(t, &e->fp, &v) == -ENOENT, "revoked PAN not in table");
		e = add_entry(b, 0, "4111111111111111", 0);
		CHECK(rg_table_lookup(t, &e->fp, &v) == 0 && v.contributor == 1, "b's PAN");
		rg_table_close(t);
	}
	CHECK_EQ(ledger_table_build(b, p, now_s + 200, &ts, err, sizeof(err)), 0, "table later");
	CHECK(ts.nb_expired == 1 && ts.nb_fps == 3, "expired left out");
	{
		struct rg_table *t = rg_table_open_reader(p);
		struct rg_table_val v;

		e = add_entry(b, 0, "4761739001010119", 0);
		CHECK(t != NULL && rg_table_lookup(t, &e->fp, &v) == 0 && v.lists == 1,
		      "only list 0 left after expiry");
		rg_table_close(t);
	}

	/* taking blocks: receiver r holds nothing yet */
	r = fixture_open(base, "r", LEDGER_OPEN_NO_FP);
	snprintf(dir, sizeof(dir), "%s/a", base);
	ida = ledger_identity_load(dir, err, sizeof(err));
	snprintf(dir, sizeof(dir), "%s/c", base);
	idc = ledger_identity_load(dir, err, sizeof(err));
	CHECK(r != NULL && ida != NULL && idc != NULL, "receiver and identities");
	if (r != NULL && ida != NULL && idc != NULL) {
		const struct ledger_consortium *cs = ledger_consortium(r);
		uint8_t cid[8];

		lens[0] = (uint16_t)enc(add_entry(a, 0, "4761739001010119", 0), ebuf[0]);
		/* non-member */
		ledger_member_id(idc->pk, cid);
		make_block0(&b0, cs, cid, idc->sk, ebuf, ptrs, lens, 1);
		CHECK_EQ(ledger_apply_block(r, &b0, ptrs, lens, err, sizeof(err)), -EPERM,
			 "non-member block accepted");
		CHECK(strstr(err, "not a member") != NULL, "non-member reason: %s", err);
		/* bad signature */
		make_block0(&b0, cs, cs->members[0].id, ida->sk, ebuf, ptrs, lens, 1);
		b0.sig[5] ^= 1;
		CHECK_EQ(ledger_apply_block(r, &b0, ptrs, lens, err, sizeof(err)), -EPERM,
			 "bad signature accepted");
		CHECK(strstr(err, "bad signature") != NULL, "signature reason: %s", err);
		/* entries not matching the signed roots */
		make_block0(&b0, cs, cs->members[0].id, ida->sk, ebuf, ptrs, lens, 1);
		ebuf[0][30] ^= 1;
		CHECK_EQ(ledger_apply_block(r, &b0, ptrs, lens, err, sizeof(err)), -EPERM,
			 "changed entry accepted");
		ebuf[0][30] ^= 1;
		/* a's signed block whose ADD carries a card number as its reason
		 * (the bytes an encoder without the digit-run rule wrote): refused
		 * whole, and the refusal does not quote the reason */
		{
			struct ledger_entry *pe = add_entry(a, 0, "4761739001010119", 0);
			struct ledger_head rh;

			memcpy(pe->reason, "abcdefghijklmnop", 16);
			pe->reason_len = 16;
			lens[2] = (uint16_t)enc(pe, ebuf[2]);
			memcpy(ebuf[2] + 59, "5500000000000004", 16);
			make_block0(&b0, cs, cs->members[0].id, ida->sk, ebuf + 2, ptrs, lens + 2, 1);
			err[0] = '\0';
			CHECK_EQ(ledger_apply_block(r, &b0, ptrs, lens + 2, err, sizeof(err)), -EPERM,
				 "a peer's entry with a card number as reason accepted");
			CHECK(strstr(err, "position 0") != NULL &&
			      strstr(err, "run of 8 or more digits") != NULL &&
			      strstr(err, "00000000") == NULL && strstr(err, "5500") == NULL,
			      "peer reason refusal: %s", err);
			CHECK(ledger_head_get(r, 0, &rh) == 0 && rh.size == 0, "nothing of it kept");
		}
		/* a REVOKE of b's entry inside a block a signed */
		memcpy(rev.ref_member, cs->members[1].id, 8);
		lens[1] = (uint16_t)enc(&rev, ebuf[1]);
		make_block0(&b0, cs, cs->members[0].id, ida->sk, ebuf, ptrs, lens, 2);
		CHECK_EQ(ledger_apply_block(r, &b0, ptrs, lens, err, sizeof(err)), -EPERM,
			 "foreign revoke in a signed block accepted");
		CHECK(strstr(err, "only its contributor") != NULL, "reason: %s", err);
		/* a valid block, then a different one at the same height: fork */
		make_block0(&b0, cs, cs->members[0].id, ida->sk, ebuf, ptrs, lens, 1);
		CHECK_EQ(ledger_apply_block(r, &b0, ptrs, lens, err, sizeof(err)), 0, "block 0: %s",
			 err);
		CHECK_EQ(ledger_apply_block(r, &b0, ptrs, lens, err, sizeof(err)), 1, "held");
		b0.time_ms++;
		ledger_block_sign(&b0, ida->sk);
		CHECK_EQ(ledger_apply_block(r, &b0, ptrs, lens, err, sizeof(err)), -EEXIST,
			 "fork not detected");
		CHECK(strstr(err, "FORK") != NULL, "fork reason: %s", err);
		/* a gap */
		b0.height = 5;
		ledger_block_sign(&b0, ida->sk);
		CHECK_EQ(ledger_apply_block(r, &b0, ptrs, lens, err, sizeof(err)), -EAGAIN, "gap");
		/* broken chain at height 1 */
		b0.height = 1;
		b0.first_pos = 1;
		ledger_block_sign(&b0, ida->sk);
		CHECK_EQ(ledger_apply_block(r, &b0, ptrs, lens, err, sizeof(err)), -EPERM,
			 "broken chain accepted");
		CHECK(strstr(err, "chain") != NULL, "chain reason: %s", err);
		CHECK_EQ(ledger_verify(r, report, sizeof(report), &n), 0, "verify r: %s", report);
	}

	/* membership: c joins with a and b co-signing (2 of 2) */
	if (ida != NULL && idc != NULL) {
		struct ledger_membership_change mc = { 0 };
		struct ledger_entry me = { 0 };
		struct ledger_identity *idb;
		struct ledger_member pubc;

		snprintf(dir, sizeof(dir), "%s/c", base);
		CHECK_EQ(ledger_pub_load(dir, &pubc, err, sizeof(err)), 0, "c pub: %s", err);
		snprintf(dir, sizeof(dir), "%s/b", base);
		idb = ledger_identity_load(dir, err, sizeof(err));
		mc.action = 1;
		mc.seq = 1;
		snprintf(mc.name, sizeof(mc.name), "bank-c");
		memcpy(mc.pk, idc->pk, 32);
		memcpy(mc.tls_pk, pubc.tls_pk, 32);
		ledger_membership_sign(ledger_consortium(a), &mc, 0, ida->sk);
		me.op = LEDGER_OP_MEMBERSHIP;
		me.time_ms = ledger_now_ms();
		me.payload_len = (uint16_t)ledger_membership_encode(&mc, me.payload, LEDGER_PAYLOAD_MAX);
		CHECK_EQ(append1(a, &me, err), -EPERM, "1 of 2 co-signatures accepted");
		CHECK(strstr(err, "majority") != NULL, "majority reason: %s", err);
		ledger_membership_sign(ledger_consortium(a), &mc, 1, idb->sk);
		me.payload_len = (uint16_t)ledger_membership_encode(&mc, me.payload, LEDGER_PAYLOAD_MAX);
		CHECK_EQ(append1(a, &me, err), 0, "2 of 2 refused: %s", err);
		CHECK_EQ(ledger_consortium(a)->nb_members, 3, "c is a member");
		CHECK(ledger_consortium(a)->members[2].has_tls &&
		      memcmp(ledger_consortium(a)->members[2].tls_pk, pubc.tls_pk, 32) == 0,
		      "c's TLS key listed");
		ledger_identity_free(idb);
		CHECK_EQ(ledger_verify(a, report, sizeof(report), &n), 0, "verify a: %s", report);
	}
	ledger_identity_free(ida);
	ledger_identity_free(idc);
	ledger_close(r);
	ledger_close(a);
	ledger_close(b);

	/* reopen: membership change survives */
	a = fixture_open(base, "a", LEDGER_OPEN_WRITE);
	if (a != NULL) {
		CHECK_EQ(ledger_consortium(a)->nb_members, 3, "membership after reopen");
		CHECK(ledger_consortium(a)->members[2].has_tls, "c's TLS key after reopen");
		CHECK_EQ(ledger_verify(a, report, sizeof(report), &n), 0, "verify: %s", report);
		ledger_close(a);
	}

	/* a member key that group may read is refused */
	path_of(p, "b", "member.key");
	chmod(p, 0640);
	snprintf(dir, sizeof(dir), "%s/b", base);
	CHECK(ledger_open(dir, LEDGER_OPEN_WRITE, err, sizeof(err)) == NULL && errno == EPERM,
	      "loose key accepted");
	CHECK(strstr(err, "too open") != NULL, "loose key reason: %s", err);
	chmod(p, 0600);
	/* a genesis replaced under a ledger with entries is refused */
	path_of(p, "b", "genesis.json");
	{
		FILE *f = fopen(p, "a");

		fputs(" ", f);
		fclose(f);
	}
	CHECK(ledger_open(dir, 0, err, sizeof(err)) == NULL, "changed genesis accepted");
	CHECK(strstr(err, "genesis") != NULL, "genesis reason: %s", err);
}

int main(void)
{
	static const char *const names[] = { "a", "b", "c", "r", "r2" };
	int rc;

	if (sodium_init() < 0)
		return 1;
	if (fixture_tmpdir(base, sizeof(base), "test_ledger_store") != 0)
		return 1;
	/* members a and b in the genesis, c outside it; every dir gets fp.key
	 * and genesis.json; r and r2 are receivers with no identity */
	fixture_consortium(base, names, 5, 3, 2);
	test_all();
	rc = CHECK_DONE();
	if (fixture_rmdir(base) != 0)
		return 1;
	return rc;
}
