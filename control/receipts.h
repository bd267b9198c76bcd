/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Hit receipts in riskgated (docs/operations.md, "Hit receipts"): every
 * hit line the daemon writes (one per event and list) may become receipts
 * for the ADD entries behind it, as salted commitments of the line
 * (ledger/receipt.c).  Policy `receipts`: off, local (kept in the receipts
 * store only) or shared (HIT entries in the own signed log).
 *
 * The work is bounded: a hit line is taken only while the rate bound
 * (receipts_max_per_s, a token bucket with one second of burst) allows,
 * else it is dropped and counted; the queue holds at most
 * receipts_batch_max lines (fixed memory); it is flushed when its oldest
 * line is receipts_batch_ms old or when it is full.  A flush resolves each
 * line's fingerprint prefix, list and kind to the ADDs in force behind it
 * (a read view of the ledger state for prefix -> fingerprint, the
 * daemon's mirror of the state, as `lookup` uses, for the records) and
 * writes one block (shared) or one store batch (local).
 *
 * Loop thread only.
 */
#ifndef CTL_RECEIPTS_H
#define CTL_RECEIPTS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "control/ctl.h"

struct ctl_receipts;

struct ctl_receipts_stats {
	uint64_t nb_recorded;   /* receipts recorded since start */
	uint64_t nb_dropped;    /* hit lines left without a receipt: rate bound, full
				 * queue, or a batch that failed */
	uint64_t nb_unresolved; /* hit lines with no ADD in force behind them */
	uint64_t nb_batches;    /* batches written */
	uint64_t nb_errors;     /* batches that failed */
	uint64_t nb_queued;     /* hit lines waiting for the next batch */
	uint64_t nb_view_refreshes; /* read views of the state opened */
};

/* Receipts for the daemon over ledger l (written by it) and its mirror
 * sync, both borrowed (they outlive it), under cfg's policy.  The store is
 * opened when the policy is on or when it exists already; shared batches
 * a crash cut are finished here.  NULL with err set. */
struct ctl_receipts *ctl_receipts_open(struct ledger *l, struct ctl_sync *sync,
				       const struct ctl_config *cfg, char *err, size_t cap);
/* Flush what is queued, then release.  Before the ledger and sync close. */
void ctl_receipts_close(struct ctl_receipts *rc);
/* Apply a reloaded configuration: what is queued is flushed under the old
 * policy first.  0, or -errno with err set and the running policy kept. */
int ctl_receipts_configure(struct ctl_receipts *rc, const struct ctl_config *cfg, char *err,
			   size_t cap);

/* The events tap (ctl_events_tap): one hit line of event e for list bit
 * list.  Never blocks: queues, drops or, with the queue full, flushes. */
void ctl_receipts_line(void *arg, const struct rg_event *e, unsigned list, const char *line,
		       size_t len);
/* Loop timer: refill the rate bound, flush when the batch is due. */
void ctl_receipts_tick(struct ctl_receipts *rc);
/* Write what is queued now.  Returns receipts recorded or -errno. */
int ctl_receipts_flush(struct ctl_receipts *rc);

void ctl_receipts_stats(const struct ctl_receipts *rc, struct ctl_receipts_stats *st);
/* The staleness alarm's time of the table's last advance: the table moves
 * past each shared batch too, which says nothing about the lists. */
uint64_t ctl_receipts_list_advance_ns(const struct ctl_receipts *rc, uint64_t last_advance_ns);

/* `receipts`: policy, counters, recorded receipts by contributing member
 * and list (the caller owns the object). */
json_t *ctl_receipts_json(struct ctl_receipts *rc);
/* `receipt-open` {n | pos}: an opening and its check (ledger_receipt_json).
 * 0 or an enum ctl_err with why set. */
int ctl_receipts_open_json(struct ctl_receipts *rc, json_t *args, json_t **result, char *why,
			   size_t cap);

#endif
