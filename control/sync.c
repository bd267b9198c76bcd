/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Ledger -> table.  The table is a pure function of the ledger state
 * (DESIGN §5): for each fingerprint, the lists that still hold it.  The
 * daemon keeps a mirror of the state in memory, one record per (fp, list,
 * contributor) held, chained per fingerprint under an open-addressing index
 * (linear probing, backward-shift deletion), so a new block costs one
 * index probe per entry and one table write per changed fingerprint, with
 * no point read of RocksDB (whose vector memtables sort on every Get).
 *
 * Value of a fingerprint, the same rule as ledger_table_build: lists = OR
 * of the list bits held and not expired; action = largest action hint;
 * contributor = member index of the record giving that action (lowest
 * index on a tie).
 *
 * Table ledger position = sum of the members' log sizes applied; it is
 * committed after every batch (rg_table_batch_commit).  Expiries wait in a
 * min-heap on (expiry, fingerprint) and are applied by the loop's timer.
 *
 * Loop thread only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "control/ctl.h"

#define SYNC_NIL UINT32_MAX

struct sync_rec {
	struct rg_fp fp;
	uint64_t pos;
	uint64_t expiry_s;
	uint32_t next; /* next record of the same fp, or SYNC_NIL; free list link */
	uint16_t member;
	uint8_t list;
	uint8_t action;
};

struct sync_exp {
	uint64_t expiry_s;
	struct rg_fp fp;
};

struct ctl_sync {
	struct ledger *l;
	struct rg_table *t;
	/* records */
	struct sync_rec *rec;
	uint32_t nb_rec, cap_rec, free_head;
	/* index: slot -> head record + 1 (0 empty) */
	uint32_t *idx;
	uint64_t idx_mask;
	uint64_t nb_fps;
	/* expiry heap */
	struct sync_exp *heap;
	uint64_t nb_heap, cap_heap;
	/* pending table ops */
	struct rg_table_op *ops;
	uint64_t nb_ops, cap_ops;
	uint64_t applied[LEDGER_MEMBERS_MAX];
	struct ctl_sync_stats st;
};

static uint64_t now_real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t fp_hash(const struct rg_fp *fp)
{
	uint64_t w;

	/* fingerprints are keyed hashes already: any 8 bytes are uniform */
	memcpy(&w, fp->b + 8, sizeof(w));
	return w;
}

static int idx_resize(struct ctl_sync *s, uint64_t nb_slots)
{
	uint32_t *n = calloc(nb_slots, sizeof(*n));
	uint64_t mask = nb_slots - 1;

	if (n == NULL)
		return -ENOMEM;
	for (uint64_t i = 0; s->idx != NULL && i <= s->idx_mask; i++) {
		uint32_t h = s->idx[i];
		uint64_t j;

		if (h == 0)
			continue;
		j = fp_hash(&s->rec[h - 1].fp) & mask;
		while (n[j] != 0)
			j = (j + 1) & mask;
		n[j] = h;
	}
	free(s->idx);
	s->idx = n;
	s->idx_mask = mask;
	return 0;
}

/* Slot of fp in the index, or the empty slot where it would go. */
static uint64_t idx_slot(const struct ctl_sync *s, const struct rg_fp *fp, bool *found)
{
	uint64_t j = fp_hash(fp) & s->idx_mask;

	for (;;) {
		uint32_t h = s->idx[j];

		if (h == 0) {
			*found = false;
			return j;
		}
		if (memcmp(s->rec[h - 1].fp.b, fp->b, RG_FP_BYTES) == 0) {
			*found = true;
			return j;
		}
		j = (j + 1) & s->idx_mask;
	}
}

static void idx_remove(struct ctl_sync *s, uint64_t j)
{
	uint64_t k = j;

	s->idx[j] = 0;
	for (;;) {
		uint64_t home;

		k = (k + 1) & s->idx_mask;
		if (s->idx[k] == 0)
			break;
		home = fp_hash(&s->rec[s->idx[k] - 1].fp) & s->idx_mask;
		/* move k back to j when its home is not in (j, k] */
		if ((k > j && (home <= j || home > k)) || (k < j && (home <= j && home > k))) {
			s->idx[j] = s->idx[k];
			s->idx[k] = 0;
			j = k;
		}
	}
}

static int rec_alloc(struct ctl_sync *s, uint32_t *out)
{
	if (s->free_head != SYNC_NIL) {
		*out = s->free_head;
		s->free_head = s->rec[*out].next;
		return 0;
	}
	if (s->nb_rec == s->cap_rec) {
		uint32_t cap = s->cap_rec ? 2 * s->cap_rec : 4096;
		struct sync_rec *n;

		if (cap < s->cap_rec || cap >= SYNC_NIL)
			return -ENOSPC;
		n = realloc(s->rec, (size_t)cap * sizeof(*n));
		if (n == NULL)
			return -ENOMEM;
		s->rec = n;
		s->cap_rec = cap;
	}
	*out = s->nb_rec++;
	return 0;
}

static void heap_up(struct sync_exp *h, uint64_t i)
{
	while (i > 0) {
		uint64_t p = (i - 1) / 2;
		struct sync_exp t;

		if (h[p].expiry_s <= h[i].expiry_s)
			break;
		t = h[p];
		h[p] = h[i];
		h[i] = t;
		i = p;
	}
}

static void heap_down(struct sync_exp *h, uint64_t n, uint64_t i)
{
	for (;;) {
		uint64_t l = 2 * i + 1, m = i;
		struct sync_exp t;

		if (l < n && h[l].expiry_s < h[m].expiry_s)
			m = l;
		if (l + 1 < n && h[l + 1].expiry_s < h[m].expiry_s)
			m = l + 1;
		if (m == i)
			break;
		t = h[m];
		h[m] = h[i];
		h[i] = t;
		i = m;
	}
}

static int heap_push(struct ctl_sync *s, uint64_t expiry_s, const struct rg_fp *fp)
{
	if (s->nb_heap == s->cap_heap) {
		uint64_t cap = s->cap_heap ? 2 * s->cap_heap : 1024;
		struct sync_exp *n = realloc(s->heap, cap * sizeof(*n));

		if (n == NULL)
			return -ENOMEM;
		s->heap = n;
		s->cap_heap = cap;
	}
	s->heap[s->nb_heap].expiry_s = expiry_s;
	s->heap[s->nb_heap].fp = *fp;
	heap_up(s->heap, s->nb_heap++);
	return 0;
}

/* Set (fp, list, member) to the given record values, adding it if absent. */
static int mirror_set(struct ctl_sync *s, const struct rg_fp *fp, unsigned list, unsigned member,
		      uint64_t pos, uint64_t expiry_s, unsigned action)
{
	bool found;
	uint64_t j;
	uint32_t r;
	int rc;

	if ((s->nb_fps + 1) * 2 > s->idx_mask + 1) {
		rc = idx_resize(s, 2 * (s->idx_mask + 1));
		if (rc != 0)
			return rc;
	}
	j = idx_slot(s, fp, &found);
	if (found) {
		for (r = s->idx[j] - 1; r != SYNC_NIL; r = s->rec[r].next) {
			if (s->rec[r].list == list && s->rec[r].member == member) {
				s->rec[r].pos = pos;
				s->rec[r].expiry_s = expiry_s;
				s->rec[r].action = (uint8_t)action;
				goto out_expiry;
			}
		}
	}
	rc = rec_alloc(s, &r);
	if (rc != 0)
		return rc;
	s->rec[r].fp = *fp;
	s->rec[r].pos = pos;
	s->rec[r].expiry_s = expiry_s;
	s->rec[r].member = (uint16_t)member;
	s->rec[r].list = (uint8_t)list;
	s->rec[r].action = (uint8_t)(action > RG_TABLE_ACTION_MAX ? RG_TABLE_ACTION_MAX : action);
	s->rec[r].next = found ? s->idx[j] - 1 : SYNC_NIL;
	s->idx[j] = r + 1;
	if (!found)
		s->nb_fps++;
	s->st.nb_records++;
out_expiry:
	if (expiry_s != 0)
		return heap_push(s, expiry_s, fp);
	return 0;
}

static void mirror_del(struct ctl_sync *s, const struct rg_fp *fp, unsigned list, unsigned member)
{
	bool found;
	uint64_t j = idx_slot(s, fp, &found);
	uint32_t r, prev = SYNC_NIL;

	if (!found)
		return;
	for (r = s->idx[j] - 1; r != SYNC_NIL; prev = r, r = s->rec[r].next) {
		if (s->rec[r].list != list || s->rec[r].member != member)
			continue;
		if (prev != SYNC_NIL)
			s->rec[prev].next = s->rec[r].next;
		else if (s->rec[r].next != SYNC_NIL)
			s->idx[j] = s->rec[r].next + 1;
		else {
			idx_remove(s, j);
			s->nb_fps--;
		}
		s->rec[r].next = s->free_head;
		s->free_head = r;
		s->st.nb_records--;
		return;
	}
}

struct rg_table_val ctl_sync_value(const struct ctl_sync *s, const struct rg_fp *fp,
				   uint64_t now_s)
{
	struct rg_table_val v = { 0 };
	bool found;
	uint64_t j = idx_slot(s, fp, &found);

	if (!found)
		return v;
	for (uint32_t r = s->idx[j] - 1; r != SYNC_NIL; r = s->rec[r].next) {
		const struct sync_rec *x = &s->rec[r];

		if (x->expiry_s != 0 && x->expiry_s <= now_s)
			continue;
		if (v.lists == 0 || x->action > v.action ||
		    (x->action == v.action && x->member < v.contributor)) {
			v.action = x->action;
			v.contributor = x->member;
		}
		v.lists |= (uint16_t)(1u << x->list);
	}
	return v;
}

unsigned ctl_sync_find(const struct ctl_sync *s, const struct rg_fp *fp,
		       struct ctl_sync_rec *out, unsigned max)
{
	bool found;
	uint64_t j = idx_slot(s, fp, &found);
	unsigned n = 0;

	if (!found)
		return 0;
	for (uint32_t r = s->idx[j] - 1; r != SYNC_NIL; r = s->rec[r].next, n++) {
		if (n < max) {
			out[n].list = s->rec[r].list;
			out[n].member = s->rec[r].member;
			out[n].action = s->rec[r].action;
			out[n].pos = s->rec[r].pos;
			out[n].expiry_s = s->rec[r].expiry_s;
		}
	}
	return n;
}

bool ctl_sync_find_own(const struct ctl_sync *s, const struct rg_fp *fp, unsigned list,
		       unsigned member, struct ctl_sync_rec *out)
{
	bool found;
	uint64_t j = idx_slot(s, fp, &found);

	if (!found)
		return false;
	for (uint32_t r = s->idx[j] - 1; r != SYNC_NIL; r = s->rec[r].next) {
		if (s->rec[r].list != list || s->rec[r].member != member)
			continue;
		out->list = s->rec[r].list;
		out->member = s->rec[r].member;
		out->action = s->rec[r].action;
		out->pos = s->rec[r].pos;
		out->expiry_s = s->rec[r].expiry_s;
		return true;
	}
	return false;
}

static int op_push(struct ctl_sync *s, const struct rg_fp *fp, struct rg_table_val v)
{
	struct rg_table_op *op;

	if (s->nb_ops == s->cap_ops) {
		uint64_t cap = s->cap_ops ? 2 * s->cap_ops : 1024;
		struct rg_table_op *n = realloc(s->ops, cap * sizeof(*n));

		if (n == NULL)
			return -ENOMEM;
		s->ops = n;
		s->cap_ops = cap;
	}
	op = &s->ops[s->nb_ops++];
	op->fp = *fp;
	op->val = v;
	op->kind = v.lists != 0 ? RG_TABLE_OP_UPSERT : RG_TABLE_OP_DELETE;
	return 0;
}

static uint64_t ledger_pos_now(struct ctl_sync *s)
{
	const struct ledger_consortium *c = ledger_consortium(s->l);
	uint64_t pos = 0;

	for (unsigned m = 0; m < c->nb_members; m++)
		pos += s->applied[m];
	return pos;
}

/* Apply the pending ops as one batch committed at the current position,
 * growing the table when it runs out of room. */
static int ops_commit(struct ctl_sync *s)
{
	struct rg_table_stats ts;
	long n;
	int rc;

	rg_table_stats(s->t, &ts);
	if (ts.count + s->nb_ops > ts.capacity) {
		rc = rg_table_grow(s->t, 2 * (ts.count + s->nb_ops));
		if (rc == 0)
			s->st.nb_grows++;
		else if (rc != -EBUSY)
			ctl_log(CTL_LOG_WARN, "table %s: grow: %s", rg_table_path(s->t), strerror(-rc));
	}
	for (int attempt = 0;; attempt++) {
		rc = rg_table_batch_begin(s->t);
		if (rc != 0)
			return rc;
		n = rg_table_batch_apply(s->t, s->ops, s->nb_ops);
		if (n >= 0)
			break;
		/* keep the old position: a replay from it reaches the same state */
		rg_table_batch_commit(s->t, rg_table_ledger_pos(s->t, NULL));
		if (n != -ENOSPC || attempt > 0)
			return (int)n;
		rg_table_stats(s->t, &ts);
		rc = rg_table_grow(s->t, 2 * (ts.count + s->nb_ops));
		if (rc != 0)
			return rc;
		s->st.nb_grows++;
	}
	rc = rg_table_batch_commit(s->t, ledger_pos_now(s));
	if (rc != 0)
		return rc;
	s->st.nb_applied_ops += s->nb_ops;
	s->st.nb_batches++;
	s->st.last_advance_ns = now_real_ns();
	s->nb_ops = 0;
	return 0;
}

int ctl_sync_apply(struct ctl_sync *s, unsigned member, uint64_t first_pos,
		   const struct ledger_entry *e, unsigned n)
{
	uint64_t now_s = (uint64_t)time(NULL);
	int rc;

	if (member >= LEDGER_MEMBERS_MAX)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		if (e[i].op == LEDGER_OP_ADD)
			rc = mirror_set(s, &e[i].fp, e[i].list, member, first_pos + i,
					e[i].expiry_s, e[i].action);
		else if (e[i].op == LEDGER_OP_REVOKE)
			rc = (mirror_del(s, &e[i].fp, e[i].list, member), 0);
		else
			continue;
		if (rc == 0)
			rc = op_push(s, &e[i].fp, ctl_sync_value(s, &e[i].fp, now_s));
		if (rc != 0)
			return rc;
	}
	if (first_pos + n > s->applied[member])
		s->applied[member] = first_pos + n;
	return ops_commit(s);
}

int ctl_sync_expire(struct ctl_sync *s, uint64_t now_s, unsigned budget)
{
	unsigned done = 0;
	int rc;

	while (s->nb_heap > 0 && s->heap[0].expiry_s <= now_s && done < budget) {
		struct rg_fp fp = s->heap[0].fp;

		s->heap[0] = s->heap[--s->nb_heap];
		heap_down(s->heap, s->nb_heap, 0);
		rc = op_push(s, &fp, ctl_sync_value(s, &fp, now_s));
		if (rc != 0)
			return rc;
		done++;
	}
	if (done == 0)
		return 0;
	rc = ops_commit(s);
	if (rc != 0)
		return rc;
	s->st.nb_expired += done;
	return (int)done;
}

static int load_cb(void *arg, const struct rg_fp *fp, unsigned list, unsigned member,
		   uint64_t pos, uint64_t expiry_s, unsigned action, unsigned kind)
{
	(void)kind;
	return mirror_set(arg, fp, list, member, pos, expiry_s, action);
}

static void mirror_clear(struct ctl_sync *s)
{
	memset(s->idx, 0, (s->idx_mask + 1) * sizeof(*s->idx));
	s->nb_rec = 0;
	s->free_head = SYNC_NIL;
	s->nb_fps = 0;
	s->nb_heap = 0;
	s->st.nb_records = 0;
}

static int mirror_load(struct ctl_sync *s)
{
	const struct ledger_consortium *c = ledger_consortium(s->l);
	int rc;

	mirror_clear(s);
	rc = ledger_state_iterate(s->l, load_cb, s);
	if (rc != 0)
		return rc;
	for (unsigned m = 0; m < c->nb_members; m++) {
		struct ledger_head h;

		s->applied[m] = ledger_head_get(s->l, m, &h) == 0 ? h.size : 0;
	}
	return 0;
}

/* Ops that bring the table to the mirror: deletes of what the mirror does
 * not hold, upserts of every value that differs. */
static int diff_ops(struct ctl_sync *s)
{
	uint64_t now_s = (uint64_t)time(NULL), cursor = 0;
	struct rg_table_val tv, mv;
	struct rg_fp fp;
	int rc;

	while (rg_table_iterate(s->t, &cursor, &fp, &tv) == 0) {
		mv = ctl_sync_value(s, &fp, now_s);
		if (mv.lists == 0) {
			rc = op_push(s, &fp, mv);
			if (rc != 0)
				return rc;
		}
	}
	for (uint64_t i = 0; i <= s->idx_mask; i++) {
		if (s->idx[i] == 0)
			continue;
		fp = s->rec[s->idx[i] - 1].fp;
		mv = ctl_sync_value(s, &fp, now_s);
		if (mv.lists == 0)
			continue;
		if (rg_table_lookup(s->t, &fp, &tv) == 0 && tv.lists == mv.lists &&
		    tv.action == mv.action && tv.contributor == mv.contributor)
			continue;
		rc = op_push(s, &fp, mv);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int ctl_sync_resync(struct ctl_sync *s)
{
	int rc = mirror_load(s);

	if (rc == 0)
		rc = diff_ops(s);
	if (rc == 0)
		rc = ops_commit(s);
	if (rc == 0)
		s->st.nb_resyncs++;
	s->nb_ops = 0;
	return rc;
}

struct ctl_sync *ctl_sync_open(struct ledger *l, const char *table_path, uint64_t capacity,
			       char *err, size_t cap)
{
	struct ctl_sync *s = calloc(1, sizeof(*s));
	struct rg_table_opts topts = { .quiet = true };
	uint64_t pos;
	bool in_batch = false;
	int rc;

	if (s == NULL) {
		snprintf(err, cap, "sync: %s", strerror(ENOMEM));
		return NULL;
	}
	s->l = l;
	s->free_head = SYNC_NIL;
	rc = idx_resize(s, 1024);
	if (rc == 0)
		rc = mirror_load(s);
	if (rc != 0) {
		snprintf(err, cap, "ledger state: %s", strerror(-rc));
		goto out_free;
	}
	pos = ledger_pos_now(s);
	s->t = rg_table_open_writer(table_path);
	if (s->t != NULL) {
		uint64_t tpos = rg_table_ledger_pos(s->t, &in_batch);

		if (tpos == pos && !in_batch) {
			s->st.reattached = true;
			ctl_log(CTL_LOG_INFO, "table %s: reattached at ledger position %llu",
				table_path, (unsigned long long)pos);
		} else {
			struct rg_table_stats ts;

			rg_table_stats(s->t, &ts);
			ctl_log(CTL_LOG_INFO, "table %s: at ledger position %llu, ledger at %llu: "
				"rebuilding into generation %llu", table_path,
				(unsigned long long)tpos, (unsigned long long)pos,
				(unsigned long long)ts.generation + 1);
			rc = rg_table_grow(s->t, 2 * (s->nb_fps > capacity ? s->nb_fps : capacity));
			if (rc == 0)
				rc = diff_ops(s);
			if (rc == 0)
				rc = ops_commit(s);
			if (rc != 0) {
				snprintf(err, cap, "table %s: rebuild: %s", table_path,
					 strerror(-rc));
				goto out_close;
			}
			s->st.rebuilt = true;
		}
	} else if (errno == ENOENT) {
		s->t = rg_table_create(table_path, s->nb_fps * 2 > capacity ? s->nb_fps * 2 : capacity,
				       &topts);
		if (s->t == NULL) {
			snprintf(err, cap, "table %s: cannot create: %s", table_path,
				 strerror(errno));
			goto out_free;
		}
		ctl_log(CTL_LOG_INFO, "table %s: created", table_path);
		s->st.created = true;
		rc = diff_ops(s);
		if (rc == 0)
			rc = ops_commit(s);
		if (rc != 0) {
			snprintf(err, cap, "table %s: fill: %s", table_path, strerror(-rc));
			goto out_close;
		}
		s->st.rebuilt = true;
	} else {
		snprintf(err, cap, "table %s: cannot attach as writer: %s", table_path,
			 strerror(errno));
		goto out_free;
	}
	if (s->st.last_advance_ns == 0)
		s->st.last_advance_ns = now_real_ns();
	return s;

out_close:
	if (s->st.created) {
		/* the data file too when a fallback made table_path a link to it */
		if (strcmp(rg_table_path(s->t), table_path) != 0)
			unlink(rg_table_path(s->t));
		unlink(table_path);
	}
	rg_table_close(s->t);
out_free:
	free(s->idx);
	free(s->rec);
	free(s->heap);
	free(s->ops);
	free(s);
	errno = rc < 0 ? -rc : EIO;
	return NULL;
}

void ctl_sync_close(struct ctl_sync *s)
{
	if (s == NULL)
		return;
	rg_table_close(s->t);
	free(s->idx);
	free(s->rec);
	free(s->heap);
	free(s->ops);
	free(s);
}

void ctl_sync_reclaim(struct ctl_sync *s)
{
	rg_table_reclaim(s->t);
}

void ctl_sync_stats(const struct ctl_sync *s, struct ctl_sync_stats *st)
{
	*st = s->st;
	st->nb_fps = s->nb_fps;
	st->ledger_pos = rg_table_ledger_pos(s->t, NULL);
}

struct rg_table *ctl_sync_table(const struct ctl_sync *s)
{
	return s->t;
}
