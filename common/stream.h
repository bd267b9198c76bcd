/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * In-order reassembly of one direction of a TCP connection.
 *
 * Segments arrive with their sequence numbers in any order, duplicated or
 * overlapping; the stream hands in-order bytes to a callback exactly once.
 * Out-of-order data is held in a caller-provided window of cap bytes that
 * starts at the next expected sequence number; data beyond the window is
 * dropped and counted, never buffered elsewhere.  Held or retransmitted bytes
 * that overlap bytes already held are compared: a difference is the
 * "overlap" anomaly (a classic evasion attempt) and the first copy wins.
 * Data already delivered cannot be compared (it is gone) and is skipped.
 *
 * First copy wins everywhere: when an in-order segment covers bytes that are
 * already held, the held bytes were seen first, so they are the ones
 * delivered for that range (a difference still counts as an overlap
 * mismatch); the segment's own bytes are delivered in place only where
 * nothing was held.  nb_overlap_mismatch counts segments with at least one
 * differing byte, not bytes.
 *
 * A SYN with the isn already recorded is a retransmission and changes
 * nothing; any other SYN (re)starts the stream at isn + 1 and empties the
 * window (a new connection reusing the tuple).  An unsynced stream ignores
 * empty segments rather than taking its start from them.
 *
 * Sequence arithmetic is modulo 2^32.  No allocation, no I/O: the dataplane
 * and the offline dissector run this same code.
 */
#ifndef RG_STREAM_H
#define RG_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "common/anomaly.h"

/* Called with each run of in-order bytes (len > 0); data is borrowed until
 * return.  During the call the stream's next_seq is the sequence number of
 * data[0]; the callback must not call back into the same stream. */
typedef void (*rg_stream_deliver_fn)(void *ctx, const uint8_t *data, uint32_t len);

struct rg_stream_stats {
	uint64_t nb_segments;
	uint64_t nb_bytes_delivered;
	uint64_t nb_retransmitted; /* segments entirely before next_seq */
	uint64_t nb_out_of_order;  /* segments held for later */
	uint64_t nb_overlap_mismatch;
	uint64_t nb_hold_full;     /* segments (partly) dropped beyond the window */
	uint64_t nb_gaps;          /* times rg_stream_skip_gap() jumped */
};

struct rg_stream {
	uint32_t next_seq;  /* sequence number of the next byte to deliver */
	bool synced;        /* next_seq is known (SYN seen or first data taken) */
	bool fin;           /* FIN seen and everything before it delivered */
	uint8_t *hold;      /* borrowed window, may be NULL (no out-of-order holding) */
	uint8_t *hold_map;  /* borrowed, cap/8 bytes: bit i set when hold byte i is filled */
	uint32_t cap;       /* window bytes, a multiple of 8 */
	uint32_t head;      /* index in hold[] of next_seq (ring) */
	uint32_t held;      /* bytes currently held */
	struct rg_stream_stats stats;
	uint32_t isn;       /* sequence number of the last SYN, valid if syn_seen */
	uint32_t fin_seq;   /* sequence number of the FIN, valid if fin_seen */
	bool syn_seen;
	bool fin_seen;      /* FIN recorded; fin follows once next_seq reaches it */
	bool no_syn_told;   /* RG_ANOM_STREAM_NO_SYN already returned */
};

/* hold and hold_map may be NULL (cap 0).  cap must be a multiple of 8 (it is
 * rounded down otherwise). */
void rg_stream_init(struct rg_stream *s, uint8_t *hold, uint8_t *hold_map, uint32_t cap);

/* A SYN (or SYN-ACK) with sequence number isn: data starts at isn + 1. */
void rg_stream_syn(struct rg_stream *s, uint32_t isn);

/*
 * One segment's payload at sequence number seq.  An unsynced stream takes
 * seq as its start and returns RG_ANOM_STREAM_NO_SYN once (the data is still
 * delivered).  Returns the first anomaly met in this segment (overlap
 * mismatch, hold full) or RG_ANOM_NONE; delivery continues regardless.
 */
enum rg_anomaly rg_stream_segment(struct rg_stream *s, uint32_t seq,
				  const uint8_t *data, uint32_t len,
				  rg_stream_deliver_fn deliver, void *ctx);

/* FIN at sequence number seq (after its payload). */
void rg_stream_fin(struct rg_stream *s, uint32_t seq);

/* Bytes are missing before held data: give up on them, deliver what is held
 * from the first held byte on, and count a gap.  Returns the number of bytes
 * skipped (0 if nothing is held).  The caller resets its framer first. */
uint32_t rg_stream_skip_gap(struct rg_stream *s, rg_stream_deliver_fn deliver, void *ctx);

/* True when bytes are held waiting for a missing range. */
static inline bool rg_stream_waiting(const struct rg_stream *s)
{
	return s->held != 0;
}

#endif
