/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * In-order reassembly of one direction of a TCP connection, judged the way
 * its receiver judges it.
 *
 * Segments arrive with their sequence numbers in any order, duplicated or
 * overlapping; the stream hands in-order bytes to a callback exactly once.
 * Out-of-order data is held in a caller-provided ring of cap bytes that
 * starts at the next expected sequence number; data beyond it is dropped
 * and counted, never buffered elsewhere.  Held or retransmitted bytes that
 * overlap bytes already held are compared: a difference is the "overlap"
 * anomaly and the first copy wins.
 *
 * Delivered bytes stay in the same ring (as "kept" bytes just before
 * next_seq) until the receiver acknowledges them or out-of-order data needs
 * their room, so that a retransmission of bytes already screened is
 * compared with what was screened: a difference is the "retrans_changed"
 * anomaly (the receiver may take the new bytes when the first copy was lost
 * on its side of the appliance: an evasion attempt); a retransmission of
 * unacknowledged bytes that are no longer kept is "retrans_unchecked".
 *
 * The receiver's acknowledgements and windows (rg_stream_ack, from the
 * segments of the other direction) decide what the stream accepts:
 *   - a segment that starts at or beyond the right edge of the receiver's
 *     window is dropped and counted ("out_of_window"); one that crosses it
 *     is cut there.  The edge never moves back.
 *   - missing bytes are skipped only on evidence the receiver would accept:
 *     the receiver acknowledges beyond next_seq bytes the sender is known to
 *     have sent (the acknowledgement is not beyond the furthest byte seen
 *     from the sender).  Then the stream skips to the acknowledged byte,
 *     delivering what it holds on the way.  A single stray segment, however
 *     far ahead, never moves the stream.
 *   - a direction whose receiver has never been seen acknowledging (a
 *     one-sided capture, asymmetric routing) has no window to judge by:
 *     there, data beyond the hold window first bridges the hole to the held
 *     bytes, and with nothing held the stream restarts only at the second of
 *     two contiguous segments beyond the window (the sender carrying on),
 *     never at one.
 * Every skip calls the sink's gap callback before the bytes after it are
 * delivered, so the caller resets its framer at the right moment.
 *
 * A SYN with the isn already recorded is a retransmission and changes
 * nothing; any other SYN (re)starts the stream at isn + 1 and empties the
 * ring (a new connection reusing the tuple).  An unsynced stream ignores
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

/* skipped bytes from next_seq on will never be delivered: called before any
 * byte after them is; the caller resets its framer.  Same rules as above. */
typedef void (*rg_stream_gap_fn)(void *ctx, uint32_t skipped);

/* Where a stream's output goes; borrowed for the duration of each call. */
struct rg_stream_sink {
	rg_stream_deliver_fn deliver;
	rg_stream_gap_fn gap; /* may be NULL */
	void *ctx;
};

struct rg_stream_stats {
	uint64_t nb_segments;
	uint64_t nb_bytes_delivered;
	uint64_t nb_retransmitted; /* segments entirely before next_seq */
	uint64_t nb_out_of_order;  /* segments held for later */
	uint64_t nb_overlap_mismatch;
	uint64_t nb_hold_full;     /* segments (partly) dropped beyond the hold window */
	uint64_t nb_gaps;          /* times the stream skipped missing bytes */
	uint64_t nb_out_of_window; /* segments (partly) beyond the receiver's window */
	uint64_t nb_retrans_changed;   /* retransmissions differing from delivered bytes */
	uint64_t nb_retrans_unchecked; /* retransmissions of unacked bytes not kept */
	uint64_t nb_acks_ahead;    /* acknowledgements beyond anything seen sent: ignored */
};

#define RG_STREAM_WS_UNKNOWN (-2) /* the sender's SYN was not seen */
#define RG_STREAM_WS_NONE (-1)    /* its SYN carried no window scale option */
#define RG_STREAM_WS_MAX 14       /* RFC 7323: larger shifts count as 14 */

struct rg_stream {
	uint32_t next_seq;  /* sequence number of the next byte to deliver */
	bool synced;        /* next_seq is known (SYN seen or first data taken) */
	bool fin;           /* FIN seen and everything before it delivered */
	uint8_t *hold;      /* borrowed ring, may be NULL (nothing held or kept) */
	uint8_t *hold_map;  /* borrowed, cap/8 bytes: bit i set when slot i is held */
	uint32_t cap;       /* ring bytes, a multiple of 8 */
	uint32_t head;      /* index in hold[] of next_seq (ring) */
	uint32_t held;      /* bytes held, waiting for a missing range */
	uint32_t kept;      /* delivered bytes kept just before next_seq, <= cap */
	struct rg_stream_stats stats;
	uint32_t isn;       /* sequence number of the last SYN, valid if syn_seen */
	uint32_t fin_seq;   /* sequence number of the FIN, valid if fin_seen */
	uint32_t ack;       /* the receiver's latest acknowledgement, valid if ack_seen */
	uint32_t wnd_end;   /* right edge of the receiver's window, valid if ack_seen */
	uint32_t snd_max;   /* end of the furthest byte seen sent (synced streams) */
	uint32_t cand_end;  /* no receiver seen: end of the last segment beyond the ring */
	int8_t wscale;      /* window scale the sender's SYN announced, or RG_STREAM_WS_* */
	bool syn_seen;
	bool fin_seen;      /* FIN recorded; fin follows once next_seq reaches it */
	bool no_syn_told;   /* RG_ANOM_STREAM_NO_SYN already returned */
	bool ack_seen;      /* the receiver has acknowledged something */
	bool cand;          /* cand_end is valid */
};

/* hold and hold_map may be NULL (cap 0).  cap must be a multiple of 8 (it is
 * rounded down otherwise).  The ring may be swapped later (the dataplane
 * lends rings from a pool) while held == 0 and kept == 0. */
void rg_stream_init(struct rg_stream *s, uint8_t *hold, uint8_t *hold_map, uint32_t cap);

/* A SYN (or SYN-ACK) with sequence number isn: data starts at isn + 1. */
void rg_stream_syn(struct rg_stream *s, uint32_t isn);

/* The window scale option of this direction's SYN: a shift, or
 * RG_STREAM_WS_NONE when the SYN had none.  Scaling is in force only when
 * both SYNs carried the option (RFC 7323). */
void rg_stream_wscale(struct rg_stream *s, int shift);

/*
 * The receiver of s sent a segment acknowledging ack with window win (its
 * raw 16-bit field; syn: the segment is a SYN, whose window is never
 * scaled).  rev is the receiver's own direction (for its window scale).
 * Records the acknowledgement and the window's right edge, releases kept
 * bytes now acknowledged, and when the receiver evidently holds bytes the
 * stream never saw, skips them (gap callback, then delivery of what is held
 * up to the acknowledged byte).
 */
void rg_stream_ack(struct rg_stream *s, const struct rg_stream *rev, uint32_t ack, uint16_t win,
		   bool syn, const struct rg_stream_sink *k);

/*
 * One segment's payload at sequence number seq.  An unsynced stream takes
 * seq as its start and returns RG_ANOM_STREAM_NO_SYN once (the data is still
 * delivered).  Returns the first anomaly met in this segment (out of window,
 * retransmission changed or unchecked, overlap mismatch, hold full) or
 * RG_ANOM_NONE; delivery continues regardless.
 */
enum rg_anomaly rg_stream_segment(struct rg_stream *s, uint32_t seq, const uint8_t *data,
				  uint32_t len, const struct rg_stream_sink *k);

/* FIN at sequence number seq (after its payload). */
void rg_stream_fin(struct rg_stream *s, uint32_t seq);

/* No more bytes will come (the direction ended): give up on the missing
 * bytes before held data, deliver what is held from the first held byte on,
 * and count a gap.  Returns the number of bytes skipped (0 if nothing is
 * held). */
uint32_t rg_stream_skip_gap(struct rg_stream *s, const struct rg_stream_sink *k);

/* True when bytes are held waiting for a missing range. */
static inline bool rg_stream_waiting(const struct rg_stream *s)
{
	return s->held != 0;
}

/* True when the ring holds nothing the stream needs (it may be lent back). */
static inline bool rg_stream_ring_idle(const struct rg_stream *s)
{
	return s->held == 0 && s->kept == 0;
}

/* The window scale option in a TCP option list opt[0..len): the shift
 * (capped at RG_STREAM_WS_MAX), or RG_STREAM_WS_NONE when absent or the
 * list is broken. */
int rg_tcp_opt_wscale(const uint8_t *opt, uint32_t len);

#endif
