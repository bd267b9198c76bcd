/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Derived state and the table built from it.
 *
 * The state column family holds one record per (fingerprint, list,
 * contributor) still in force: added and not revoked by its contributor.
 * It is written in the same batch as the block that changes it, so it is
 * always the function of the logs held (verify recomputes it).  Keys sort
 * by fingerprint, so one pass groups every list and contributor of a
 * fingerprint into one table value.
 *
 * Table value of a fingerprint (docs/ledger.md, "Table"): lists = OR of
 * the list bits held and not expired; action = the largest action hint
 * among them; contributor = the member index of the record giving that
 * action (the lowest index on a tie).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/table.h"
#include "ledger/internal.h"
#include "ledger/ledger.h"
#include "ledger/store.h"

int ledger_state_iterate(struct ledger *l, ledger_state_fn cb, void *arg)
{
	rocksdb_iterator_t *it = rocksdb_create_iterator_cf(l->db, l->ro, l->cf[LEDGER_CF_STATE]);
	int rc = 0;

	for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		size_t klen, vlen;
		const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &klen);
		const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vlen);
		struct rg_fp fp;
		int m;

		if (klen != LEDGER_STATE_KEY || vlen != LEDGER_STATE_VAL) {
			rc = -EBADMSG;
			break;
		}
		m = ledger_member_find(&l->cons, k + RG_FP_BYTES + 1);
		if (m < 0) {
			rc = -EBADMSG;
			break;
		}
		memcpy(fp.b, k, RG_FP_BYTES);
		rc = cb(arg, &fp, k[RG_FP_BYTES], (unsigned)m, ledger_get64(v), ledger_get64(v + 8),
			v[16], v[18]);
		if (rc != 0)
			break;
	}
	if (rc == 0)
		rc = ledger_iter_status(it);
	rocksdb_iter_destroy(it);
	return rc;
}

struct build {
	uint64_t now_s;
	struct rg_table_op *ops;
	uint64_t nb_ops, cap_ops;
	struct ledger_table_stats *st;
	bool have;
	struct rg_fp fp;
	struct rg_table_val val;
};

static int flush_fp(struct build *b)
{
	if (!b->have || b->val.lists == 0) {
		b->have = false;
		return 0;
	}
	if (b->nb_ops == b->cap_ops) {
		uint64_t cap = b->cap_ops ? 2 * b->cap_ops : 65536;
		struct rg_table_op *n = realloc(b->ops, cap * sizeof(*n));

		if (n == NULL)
			return -ENOMEM;
		b->ops = n;
		b->cap_ops = cap;
	}
	b->ops[b->nb_ops].fp = b->fp;
	b->ops[b->nb_ops].val = b->val;
	b->ops[b->nb_ops].kind = RG_TABLE_OP_UPSERT;
	b->nb_ops++;
	b->have = false;
	return 0;
}

static int build_cb(void *arg, const struct rg_fp *fp, unsigned list, unsigned member,
		    uint64_t pos, uint64_t expiry_s, unsigned action, unsigned kind)
{
	(void)kind;
	struct build *b = arg;
	int rc;

	(void)pos;
	b->st->nb_state++;
	if (!b->have || memcmp(b->fp.b, fp->b, RG_FP_BYTES) != 0) {
		rc = flush_fp(b);
		if (rc != 0)
			return rc;
		b->have = true;
		b->fp = *fp;
		memset(&b->val, 0, sizeof(b->val));
	}
	if (expiry_s != 0 && expiry_s <= b->now_s) {
		b->st->nb_expired++;
		return 0;
	}
	if (action > RG_TABLE_ACTION_MAX)
		action = RG_TABLE_ACTION_MAX;
	if (b->val.lists == 0 || action > b->val.action ||
	    (action == b->val.action && member < b->val.contributor)) {
		b->val.action = (uint8_t)action;
		b->val.contributor = (uint16_t)member;
	}
	b->val.lists |= (uint16_t)(1u << list);
	return 0;
}

int ledger_table_build(struct ledger *l, const char *path, uint64_t now_s,
		       struct ledger_table_stats *st, char *err, size_t cap)
{
	struct rg_table_opts topts = { .replace = true, .quiet = true };
	struct rg_table_stats ts;
	struct build b = { .now_s = now_s, .st = st };
	struct rg_table *t;
	uint64_t pos = 0;
	long applied;
	int rc;

	memset(st, 0, sizeof(*st));
	rc = ledger_state_iterate(l, build_cb, &b);
	if (rc == 0)
		rc = flush_fp(&b);
	if (rc != 0) {
		ledger_err(err, cap, "reading the derived state: %s", strerror(-rc));
		goto out_free_ops;
	}
	t = rg_table_create(path, b.nb_ops < 1024 ? 1024 : b.nb_ops, &topts);
	if (t == NULL) {
		rc = -errno;
		ledger_err(err, cap, "%s: cannot create the table: %s", path, strerror(errno));
		goto out_free_ops;
	}
	for (unsigned m = 0; m < l->cons.nb_members; m++) {
		struct ledger_head h;

		if (ledger_head_get(l, m, &h) == 0)
			pos += h.size;
	}
	rc = rg_table_batch_begin(t);
	if (rc == 0) {
		applied = rg_table_batch_apply(t, b.ops, b.nb_ops);
		rc = applied < 0 ? (int)applied : 0;
	}
	if (rc == 0)
		rc = rg_table_batch_commit(t, pos);
	if (rc == 0 && l->fpk != NULL)
		rc = rg_table_set_key_epochs(t, l->fpk->epoch, 0);
	if (rc != 0) {
		ledger_err(err, cap, "%s: filling the table: %s", path, strerror(-rc));
	} else {
		rg_table_stats(t, &ts);
		st->nb_fps = ts.count;
		st->file_bytes = ts.file_bytes;
		st->hugetlb = ts.hugetlb;
	}
	rg_table_close(t);
out_free_ops:
	free(b.ops);
	return rc;
}
