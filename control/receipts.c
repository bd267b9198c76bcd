/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Hit receipts in riskgated (control/receipts.h, docs/operations.md).
 *
 * A hit line carries the first RG_EVENT_FP_PREFIX bytes of the
 * fingerprint, its list and kind.  The full fingerprint comes from a read
 * view of the ledger state (one RocksDB iterator, ledger_state_view); the
 * records in force for it come from the sync mirror (ctl_sync_find, the
 * index `lookup` reads), so a revoke or an expiry is seen at once even
 * through an older view.  Opening a view costs a sort of the unflushed
 * state records, so a view is kept until a line's prefix is missing from
 * it and the state has changed since it was opened, and is then reopened
 * at most once per flush and no more than 5% of the time (the cost of the
 * last opening sets the pause before the next).  Lines missed while
 * reopening waits stay queued for up to CTL_RC_TRIES flushes.
 *
 * Shared batches advance the own log, so the table is moved past them
 * (ctl_sync_apply with one HIT entry standing for the block: HIT entries
 * change no state); the staleness alarm does not count that advance.
 *
 * Loop thread only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/event.h"
#include "control/receipts.h"

#define CTL_RC_LINE_MAX 1024	      /* bytes of a hit line (events.c writes no longer) */
#define CTL_RC_RECS_MAX 64	      /* records of one fingerprint considered */
#define CTL_RC_FPS_MAX 4	      /* fingerprints sharing one prefix considered */
#define CTL_RC_TRIES 3		      /* flushes a missed line waits for a new view */
#define CTL_RC_VIEW_DUTY 20	      /* reopen no sooner than 20x the last opening's cost */

/* One hit line waiting for its batch. */
struct rc_line {
	uint8_t fp[RG_EVENT_FP_PREFIX];
	uint8_t kind, list;
	uint8_t tries;      /* flushes that found its prefix missing */
	bool miss;          /* this flush: prefix not in the view */
	uint16_t len;
	uint64_t time_ns;   /* CLOCK_REALTIME of the lookup (the event's) */
	uint64_t queued_ns; /* CLOCK_MONOTONIC when queued */
	char line[CTL_RC_LINE_MAX];
};

struct ctl_receipts {
	struct ledger *l;		/* borrowed */
	struct ctl_sync *sync;		/* borrowed */
	struct ledger_receipts *store;	/* NULL until receipts are first on */
	unsigned mode;			/* enum ctl_receipts_mode */
	unsigned batch_ms, max_per_s, batch_max;
	/* the queue: batch_max lines, allocated while on */
	struct rc_line *q;
	unsigned nb_q;
	uint64_t due_ns;		/* next flush (monotonic), 0 while the queue is empty */
	/* receipts of one flush */
	struct ledger_receipt *r;
	unsigned nb_r, cap_r;
	/* rate bound */
	double tokens;
	uint64_t last_refill_ns;
	/* read view of the state and the sync state it saw */
	struct ledger_state_view *view;
	uint64_t view_ops, view_resyncs;
	uint64_t view_next_ns;		/* no new view before (monotonic) */
	bool flushing;
	/* staleness: the table advance a shared batch made, and the one before */
	uint64_t adv_own_ns, adv_prior_ns;
	struct ctl_receipts_stats st;
};

static const struct ledger_entry hit_standin = { .op = LEDGER_OP_HIT };

const char *ctl_receipts_mode_name(unsigned mode)
{
	switch (mode) {
	case CTL_RECEIPTS_OFF: return "off";
	case CTL_RECEIPTS_LOCAL: return "local";
	case CTL_RECEIPTS_SHARED: return "shared";
	}
	return "?";
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int store_ensure(struct ctl_receipts *rc, char *err, size_t cap)
{
	uint64_t nb_marked = 0, nb_again = 0;
	char why[LEDGER_ERR_MAX];

	if (rc->store != NULL)
		return 0;
	rc->store = ledger_receipts_open(rc->l, err, cap);
	if (rc->store == NULL)
		return -errno;
	if (ledger_receipts_recover(rc->l, rc->store, &nb_marked, &nb_again, why,
				    sizeof(why)) != 0) {
		ctl_log(CTL_LOG_ERR, "receipts: pending batch not finished: %s", why);
	} else if (nb_marked + nb_again > 0) {
		struct ledger_head h;

		ctl_log(CTL_LOG_INFO, "receipts: %llu pending receipts finished (%llu appended again)",
			(unsigned long long)(nb_marked + nb_again), (unsigned long long)nb_again);
		/* the table moves past what was appended again */
		if (nb_again > 0 && ledger_head_get(rc->l, (unsigned)ledger_self(rc->l), &h) == 0 &&
		    h.size > 0)
			ctl_sync_apply(rc->sync, (unsigned)ledger_self(rc->l), h.size - 1,
				       &hit_standin, 1);
	}
	return 0;
}

/* The queue for batch_max lines (on) or none (off); the queue is empty. */
static int queue_size(struct ctl_receipts *rc, unsigned mode, unsigned batch_max)
{
	struct rc_line *q = NULL;

	if (mode != CTL_RECEIPTS_OFF) {
		if (rc->q != NULL && rc->batch_max == batch_max)
			return 0;
		q = malloc((size_t)batch_max * sizeof(*q));
		if (q == NULL)
			return -ENOMEM;
	}
	free(rc->q);
	rc->q = q;
	return 0;
}

struct ctl_receipts *ctl_receipts_open(struct ledger *l, struct ctl_sync *sync,
				       const struct ctl_config *cfg, char *err, size_t cap)
{
	struct ctl_receipts *rc = calloc(1, sizeof(*rc));
	char path[CTL_PATH_MAX + 16];
	int r;

	if (rc == NULL) {
		snprintf(err, cap, "receipts: %s", strerror(ENOMEM));
		return NULL;
	}
	rc->l = l;
	rc->sync = sync;
	/* an existing store is opened even when off: its counts and openings
	 * stay readable, and a batch a crash cut is finished */
	snprintf(path, sizeof(path), "%s/receipts", cfg->ledger_dir);
	if (cfg->receipts != CTL_RECEIPTS_OFF || access(path, F_OK) == 0) {
		r = store_ensure(rc, err, cap);
		if (r != 0)
			goto out_free;
	}
	r = ctl_receipts_configure(rc, cfg, err, cap);
	if (r != 0)
		goto out_close;
	return rc;

out_close:
	ledger_receipts_close(rc->store);
out_free:
	free(rc);
	errno = -r;
	return NULL;
}

void ctl_receipts_close(struct ctl_receipts *rc)
{
	if (rc == NULL)
		return;
	ctl_receipts_flush(rc);
	ledger_state_view_close(rc->view);
	ledger_receipts_close(rc->store);
	free(rc->q);
	free(rc->r);
	free(rc);
}

int ctl_receipts_configure(struct ctl_receipts *rc, const struct ctl_config *cfg, char *err,
			   size_t cap)
{
	int r;

	if (cfg->receipts != CTL_RECEIPTS_OFF) {
		r = store_ensure(rc, err, cap);
		if (r != 0)
			return r;
	}
	/* what is queued was taken under the running policy; a line kept for
	 * another try does not wait across a change of it */
	if (rc->nb_q > 0 && (cfg->receipts != rc->mode || cfg->receipts_batch_max != rc->batch_max)) {
		ctl_receipts_flush(rc);
		rc->st.nb_unresolved += rc->nb_q;
		rc->nb_q = 0;
		rc->due_ns = 0;
	}
	r = queue_size(rc, cfg->receipts, cfg->receipts_batch_max);
	if (r != 0) {
		snprintf(err, cap, "receipts: queue of %u lines: %s", cfg->receipts_batch_max,
			 strerror(-r));
		return r;
	}
	if (rc->mode != cfg->receipts)
		ctl_log(CTL_LOG_INFO, "receipts: %s (batch %u ms, at most %u per s, %u per batch)",
			ctl_receipts_mode_name(cfg->receipts), cfg->receipts_batch_ms,
			cfg->receipts_max_per_s, cfg->receipts_batch_max);
	if (rc->mode == CTL_RECEIPTS_OFF || rc->max_per_s != cfg->receipts_max_per_s)
		rc->tokens = cfg->receipts_max_per_s;
	rc->mode = cfg->receipts;
	rc->batch_ms = cfg->receipts_batch_ms;
	rc->max_per_s = cfg->receipts_max_per_s;
	rc->batch_max = cfg->receipts_batch_max;
	rc->last_refill_ns = mono_ns();
	return 0;
}

void ctl_receipts_line(void *arg, const struct rg_event *e, unsigned list, const char *line,
		       size_t len)
{
	struct ctl_receipts *rc = arg;
	struct rc_line *q;

	if (rc == NULL || rc->mode == CTL_RECEIPTS_OFF || rc->q == NULL)
		return;
	if (rc->tokens < 1.0 || len >= CTL_RC_LINE_MAX || rc->flushing) {
		rc->st.nb_dropped++;
		return;
	}
	if (rc->nb_q == rc->batch_max)
		ctl_receipts_flush(rc);
	if (rc->nb_q == rc->batch_max) {
		rc->st.nb_dropped++;
		return;
	}
	rc->tokens -= 1.0;
	q = &rc->q[rc->nb_q++];
	memcpy(q->fp, e->fp, RG_EVENT_FP_PREFIX);
	q->kind = e->ident_kind;
	q->list = (uint8_t)list;
	q->tries = 0;
	q->miss = false;
	q->time_ns = e->time_ns;
	q->queued_ns = mono_ns();
	q->len = (uint16_t)len;
	memcpy(q->line, line, len);
	q->line[len] = '\0';
	if (rc->due_ns == 0)
		rc->due_ns = q->queued_ns + (uint64_t)rc->batch_ms * 1000000ull;
}

void ctl_receipts_tick(struct ctl_receipts *rc)
{
	uint64_t now;

	if (rc == NULL || rc->mode == CTL_RECEIPTS_OFF)
		return;
	now = mono_ns();
	rc->tokens += (double)(now - rc->last_refill_ns) / 1e9 * rc->max_per_s;
	if (rc->tokens > rc->max_per_s)
		rc->tokens = rc->max_per_s;
	rc->last_refill_ns = now;
	if (rc->nb_q > 0 && rc->due_ns != 0 && now >= rc->due_ns)
		ctl_receipts_flush(rc);
}

/* ---- resolving lines to the ADDs behind them ---- */

struct fp_match {
	unsigned kind;
	unsigned nb;
	struct rg_fp fp[CTL_RC_FPS_MAX];
};

static int match_cb(void *arg, const struct rg_fp *fp, unsigned list, unsigned member,
		    uint64_t pos, uint64_t expiry_s, unsigned action, unsigned kind)
{
	struct fp_match *m = arg;

	(void)list, (void)member, (void)pos, (void)expiry_s, (void)action;
	if (kind != m->kind)
		return 0;
	/* a fingerprint has a record per (list, contributor): once is enough */
	for (unsigned i = 0; i < m->nb; i++)
		if (memcmp(m->fp[i].b, fp->b, RG_FP_BYTES) == 0)
			return 0;
	if (m->nb < CTL_RC_FPS_MAX)
		m->fp[m->nb++] = *fp;
	return 0;
}

static int receipt_push(struct ctl_receipts *rc, const struct rc_line *q, const struct rg_fp *fp,
			const struct ctl_sync_rec *rec)
{
	struct ledger_receipt *r;

	if (rc->nb_r == rc->cap_r) {
		unsigned cap = rc->cap_r ? 2 * rc->cap_r : 1024;
		struct ledger_receipt *n = realloc(rc->r, (size_t)cap * sizeof(*n));

		if (n == NULL)
			return -ENOMEM;
		rc->r = n;
		rc->cap_r = cap;
	}
	r = &rc->r[rc->nb_r++];
	memset(r, 0, sizeof(*r));
	r->member = rec->member;
	r->pos = rec->pos;
	r->list = q->list;
	r->kind = q->kind;
	r->fp = *fp;
	/* the table, and so every fingerprint a hit can come from, is built
	 * under the epoch of fp.key */
	r->key_epoch = ledger_fp_key(rc->l) != NULL ? ledger_fp_key(rc->l)->epoch : 0;
	r->time_ms = q->time_ns / 1000000ull;
	r->detail = q->line;
	r->detail_len = q->len;
	return 0;
}

/* Receipts for line q into rc->r.  Returns how many, or -ENOENT when its
 * prefix is not in the view at all (the view may be older than the ADD). */
static int resolve(struct ctl_receipts *rc, const struct rc_line *q)
{
	struct ctl_sync_rec recs[CTL_RC_RECS_MAX];
	struct fp_match m = { .kind = q->kind };
	int n = 0, r;

	r = ledger_state_view_find(rc->view, q->fp, RG_EVENT_FP_PREFIX, match_cb, &m);
	if (r != 0)
		return r;
	if (m.nb == 0)
		return -ENOENT;
	for (unsigned f = 0; f < m.nb; f++) {
		unsigned nb = ctl_sync_find(rc->sync, &m.fp[f], recs, CTL_RC_RECS_MAX);

		for (unsigned i = 0; i < nb && i < CTL_RC_RECS_MAX; i++) {
			/* in seconds: an expiry from a signed entry may be any u64 */
			if (recs[i].list != q->list ||
			    (recs[i].expiry_s != 0 && recs[i].expiry_s <= q->time_ns / 1000000000ull))
				continue;
			r = receipt_push(rc, q, &m.fp[f], &recs[i]);
			if (r != 0)
				return r;
			n++;
		}
	}
	return n;
}

/* A new view when the state changed since the one held and the duty
 * bound allows.  True when a new view is in place. */
static bool view_refresh(struct ctl_receipts *rc, bool first)
{
	struct ctl_sync_stats ss;
	uint64_t t0 = mono_ns(), cost;

	ctl_sync_stats(rc->sync, &ss);
	if (rc->view != NULL && ss.nb_applied_ops == rc->view_ops &&
	    ss.nb_resyncs == rc->view_resyncs)
		return false;
	if (!first && t0 < rc->view_next_ns)
		return false;
	ledger_state_view_close(rc->view);
	rc->view = ledger_state_view_open(rc->l);
	cost = mono_ns() - t0;
	rc->view_ops = ss.nb_applied_ops;
	rc->view_resyncs = ss.nb_resyncs;
	rc->view_next_ns = t0 + cost + CTL_RC_VIEW_DUTY * cost;
	rc->st.nb_view_refreshes++;
	if (cost > 50000000ull)
		ctl_log(CTL_LOG_INFO, "receipts: state view opened in %llu ms",
			(unsigned long long)(cost / 1000000ull));
	return rc->view != NULL;
}

/* Write rc->r[0..nb_r) under the running policy; returns 0 or -errno. */
static int write_receipts(struct ctl_receipts *rc)
{
	char err[LEDGER_ERR_MAX];
	unsigned self = (unsigned)ledger_self(rc->l);

	if (ledger_self(rc->l) < 0)
		return -EPERM; /* joining: no own log to write HIT entries in yet */

	for (unsigned i = 0; i < rc->nb_r; i += LEDGER_BLOCK_MAX) {
		unsigned n = rc->nb_r - i < LEDGER_BLOCK_MAX ? rc->nb_r - i : LEDGER_BLOCK_MAX;
		struct ctl_sync_stats ss;
		struct ledger_block b;
		int r;

		if (rc->mode == CTL_RECEIPTS_SHARED)
			r = ledger_receipts_append(rc->l, rc->store, rc->r + i, n, &b, err,
						   sizeof(err));
		else
			r = ledger_receipts_keep(rc->l, rc->store, rc->r + i, n, err, sizeof(err));
		if (r != 0) {
			rc->st.nb_errors++;
			ctl_log(CTL_LOG_ERR, "receipts: batch of %u not recorded: %s", n, err);
			return r;
		}
		rc->st.nb_recorded += n;
		rc->st.nb_batches++;
		if (rc->mode != CTL_RECEIPTS_SHARED)
			continue;
		ctl_sync_stats(rc->sync, &ss);
		if (ss.last_advance_ns != rc->adv_own_ns)
			rc->adv_prior_ns = ss.last_advance_ns;
		/* HIT entries change no state: one stands for the block, so the
		 * table's ledger position moves past it */
		r = ctl_sync_apply(rc->sync, self, b.first_pos + n - 1, &hit_standin, 1);
		if (r != 0)
			ctl_log(CTL_LOG_ERR, "receipts: table position not advanced: %s",
				strerror(-r));
		ctl_sync_stats(rc->sync, &ss);
		rc->adv_own_ns = ss.last_advance_ns;
	}
	return 0;
}

/* Resolve the lines marked missing (all of them when all), counting the
 * ones that give no receipt; returns the lines still missing. */
static unsigned resolve_lines(struct ctl_receipts *rc, bool all, uint64_t *nb_resolved)
{
	unsigned nb_miss = 0;

	for (unsigned i = 0; i < rc->nb_q; i++) {
		struct rc_line *q = &rc->q[i];
		int r;

		if (!all && !q->miss)
			continue;
		r = resolve(rc, q);
		q->miss = r == -ENOENT;
		if (q->miss)
			nb_miss++;
		else if (r == 0)
			rc->st.nb_unresolved++;
		else if (r > 0)
			(*nb_resolved)++;
		else
			rc->st.nb_dropped++;
	}
	return nb_miss;
}

int ctl_receipts_flush(struct ctl_receipts *rc)
{
	uint64_t nb_resolved = 0;
	unsigned nb_miss, nb_keep = 0;
	struct ctl_sync_stats ss;
	bool fresh, changed;
	int r, recorded;

	if (rc->nb_q == 0 || rc->flushing)
		return 0;
	if (rc->mode == CTL_RECEIPTS_OFF || rc->store == NULL) {
		rc->nb_q = 0;
		rc->due_ns = 0;
		return 0;
	}
	rc->flushing = true;
	rc->nb_r = 0;
	fresh = rc->view == NULL && view_refresh(rc, true);
	if (rc->view == NULL) {
		/* no view of the state: the lines cannot be resolved */
		rc->st.nb_dropped += rc->nb_q;
		rc->st.nb_errors++;
		ctl_log(CTL_LOG_ERR, "receipts: cannot read the ledger state; %u lines dropped",
			rc->nb_q);
		rc->nb_q = 0;
		rc->due_ns = 0;
		rc->flushing = false;
		return -EIO;
	}
	nb_miss = resolve_lines(rc, true, &nb_resolved);
	if (nb_miss > 0 && !fresh && view_refresh(rc, false)) {
		nb_miss = resolve_lines(rc, false, &nb_resolved);
		fresh = true;
	}
	/* a miss is tried again later only when a newer view had to wait */
	ctl_sync_stats(rc->sync, &ss);
	changed = ss.nb_applied_ops != rc->view_ops || ss.nb_resyncs != rc->view_resyncs;
	for (unsigned i = 0; nb_miss > 0 && i < rc->nb_q; i++) {
		struct rc_line *q = &rc->q[i];

		if (!q->miss)
			continue;
		if (!fresh && changed && ++q->tries < CTL_RC_TRIES)
			continue;
		q->miss = false;
		rc->st.nb_unresolved++;
	}
	recorded = (int)rc->nb_r;
	r = rc->nb_r > 0 ? write_receipts(rc) : 0;
	if (r != 0) {
		rc->st.nb_dropped += nb_resolved;
		recorded = r;
	}
	/* the receipts' details pointed into the queue until now: only now
	 * may the lines kept for another try move to its front */
	rc->nb_r = 0;
	for (unsigned i = 0; i < rc->nb_q; i++) {
		if (!rc->q[i].miss)
			continue;
		if (nb_keep != i)
			rc->q[nb_keep] = rc->q[i];
		nb_keep++;
	}
	rc->nb_q = nb_keep;
	rc->due_ns = nb_keep > 0 ? mono_ns() + (uint64_t)rc->batch_ms * 1000000ull : 0;
	rc->flushing = false;
	return recorded;
}

void ctl_receipts_stats(const struct ctl_receipts *rc, struct ctl_receipts_stats *st)
{
	*st = rc->st;
	st->nb_queued = rc->nb_q;
}

uint64_t ctl_receipts_list_advance_ns(const struct ctl_receipts *rc, uint64_t last_advance_ns)
{
	if (rc != NULL && rc->adv_own_ns != 0 && last_advance_ns == rc->adv_own_ns)
		return rc->adv_prior_ns;
	return last_advance_ns;
}

json_t *ctl_receipts_json(struct ctl_receipts *rc)
{
	const struct ledger_consortium *cs = ledger_consortium(rc->l);
	struct ledger_receipts_stats ls = { 0 };
	json_t *by = json_array(), *o;

	if (rc->store != NULL) {
		ledger_receipts_stats(rc->store, &ls);
		for (unsigned m = 0; m < cs->nb_members; m++) {
			for (unsigned l = 0; l < LEDGER_LISTS_MAX; l++) {
				uint64_t sh = ledger_receipts_count(rc->store, m, l,
								    LEDGER_RECEIPT_SHARED);
				uint64_t lo = ledger_receipts_count(rc->store, m, l,
								    LEDGER_RECEIPT_LOCAL);
				char nb[16];

				if (sh + lo == 0)
					continue;
				snprintf(nb, sizeof(nb), "list_%u", l);
				json_array_append_new(by, json_pack(
					"{s:s, s:s, s:I, s:I, s:I}", "member", cs->members[m].name,
					"list", cs->lists[l].name[0] ? cs->lists[l].name : nb, "hits",
					(json_int_t)(sh + lo), "shared", (json_int_t)sh, "local",
					(json_int_t)lo));
			}
		}
	}
	o = json_pack("{s:s, s:i, s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:I, s:I, "
		      "s:I, s:I, s:o}",
		      "mode", ctl_receipts_mode_name(rc->mode), "batch_ms", (int)rc->batch_ms,
		      "max_per_s", (int)rc->max_per_s, "batch_max", (int)rc->batch_max,
		      "recorded", (json_int_t)rc->st.nb_recorded, "dropped",
		      (json_int_t)rc->st.nb_dropped, "unresolved", (json_int_t)rc->st.nb_unresolved,
		      "queued", (json_int_t)rc->nb_q, "pending", (json_int_t)ls.nb_pending,
		      "batches", (json_int_t)rc->st.nb_batches, "errors",
		      (json_int_t)rc->st.nb_errors, "store", rc->store != NULL, "kept",
		      (json_int_t)ls.nb_receipts, "kept_shared", (json_int_t)ls.nb_shared,
		      "kept_local", (json_int_t)ls.nb_local, "mark_errors",
		      (json_int_t)ls.nb_mark_errors, "by_member", by);
	return o;
}

int ctl_receipts_open_json(struct ctl_receipts *rc, json_t *args, json_t **result, char *why,
			   size_t cap)
{
	json_t *n = json_object_get(args, "n"), *pos = json_object_get(args, "pos");
	struct ledger_receipt_opening *o;
	json_int_t v;
	int r;

	if (json_is_integer(n) == json_is_integer(pos) ||
	    (v = json_integer_value(json_is_integer(n) ? n : pos)) < 0) {
		snprintf(why, cap, "needs one of \"n\" (receipt number) or \"pos\" (HIT position), "
			 "a non-negative integer");
		return CTL_ERR_BAD_ARGS;
	}
	if (rc->store == NULL) {
		snprintf(why, cap, "no receipts store: receipts have never been on");
		return CTL_ERR_FAILED;
	}
	o = malloc(sizeof(*o));
	if (o == NULL) {
		snprintf(why, cap, "%s", strerror(ENOMEM));
		return CTL_ERR_FAILED;
	}
	r = json_is_integer(n) ? ledger_receipt_get(rc->store, (uint64_t)v, o)
			       : ledger_receipt_get_pos(rc->store, (uint64_t)v, o);
	if (r != 0) {
		snprintf(why, cap, "%s %lld: %s",
			 json_is_integer(n) ? "receipt" : "no receipt for the HIT at position",
			 (long long)v, r == -ENOENT ? "not in the receipts store" : strerror(-r));
		free(o);
		return CTL_ERR_FAILED;
	}
	*result = ledger_receipt_json(rc->l, o);
	free(o);
	if (*result == NULL) {
		snprintf(why, cap, "%s", strerror(ENOMEM));
		return CTL_ERR_FAILED;
	}
	return 0;
}
