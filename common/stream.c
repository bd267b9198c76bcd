/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * In-order reassembly of one direction of a TCP connection.
 *
 * The window is a ring of cap bytes whose slot head holds sequence number
 * next_seq; slot (head + k) % cap holds next_seq + k.  Invariants: bit i of
 * hold_map is set iff slot i holds a byte not yet delivered; held is the
 * number of set bits; every held byte lies in [next_seq, next_seq + cap);
 * the slot of next_seq itself is never held (it would have been delivered).
 * In-order data with nothing held is delivered straight from the segment;
 * the ring is touched only by out-of-order data.  No allocation, no I/O.
 */
#include <string.h>

#include "common/stream.h"

static inline bool map_test(const struct rg_stream *s, uint32_t i)
{
	return s->hold_map[i >> 3] & (1u << (i & 7));
}

/*
 * Length of the run of slots from i on whose bits all equal set, at most
 * max (i + max <= cap).  Whole map bytes are skipped at once.
 */
static uint32_t map_run(const struct rg_stream *s, uint32_t i, uint32_t max, bool set)
{
	const uint8_t full = set ? 0xff : 0x00;
	uint32_t n = 0;

	while (n < max) {
		uint32_t j = i + n;

		if ((j & 7) == 0 && max - n >= 64) {
			uint64_t w;

			memcpy(&w, s->hold_map + (j >> 3), sizeof(w));
			if (w == (set ? UINT64_MAX : 0)) {
				n += 64;
				continue;
			}
		}
		if ((j & 7) == 0 && max - n >= 8 && s->hold_map[j >> 3] == full) {
			n += 8;
			continue;
		}
		if (map_test(s, j) != set)
			break;
		n++;
	}
	return n;
}

/* Set or clear the bits of slots [i, i + n), i + n <= cap. */
static void map_fill(struct rg_stream *s, uint32_t i, uint32_t n, bool set)
{
	uint32_t end = i + n;

	while (i < end) {
		if ((i & 7) == 0 && end - i >= 8) {
			uint32_t nb = (end - i) >> 3;

			memset(s->hold_map + (i >> 3), set ? 0xff : 0x00, nb);
			i += nb << 3;
			continue;
		}
		if (set)
			s->hold_map[i >> 3] |= (uint8_t)(1u << (i & 7));
		else
			s->hold_map[i >> 3] &= (uint8_t)~(1u << (i & 7));
		i++;
	}
}

/* Slot of next_seq + off, off < cap. */
static inline uint32_t ring_slot(const struct rg_stream *s, uint32_t off)
{
	uint32_t i = s->head + off;

	return i >= s->cap ? i - s->cap : i;
}

static inline void stream_fin_check(struct rg_stream *s)
{
	if (s->fin_seen && s->synced && (int32_t)(s->next_seq - s->fin_seq) >= 0)
		s->fin = true;
}

/* Hand n in-order bytes to the callback and move next_seq past them. */
static inline void stream_deliver(struct rg_stream *s, const uint8_t *data, uint32_t n,
				  rg_stream_deliver_fn deliver, void *ctx)
{
	deliver(ctx, data, n);
	s->stats.nb_bytes_delivered += n;
	s->next_seq += n;
	if (s->held == 0) {
		/* an empty ring may start anywhere */
		s->head = 0;
	} else {
		s->head += n;
		if (s->head >= s->cap)
			s->head -= s->cap;
	}
}

/* Deliver the held bytes that are now contiguous with next_seq. */
static void stream_drain(struct rg_stream *s, rg_stream_deliver_fn deliver, void *ctx)
{
	while (s->held != 0 && map_test(s, s->head)) {
		uint32_t i = s->head;
		uint32_t n = map_run(s, i, s->cap - i, true);

		map_fill(s, i, n, false);
		s->held -= n;
		stream_deliver(s, s->hold + i, n, deliver, ctx);
	}
}

void rg_stream_init(struct rg_stream *s, uint8_t *hold, uint8_t *hold_map, uint32_t cap)
{
	memset(s, 0, sizeof(*s));
	if (hold == NULL || hold_map == NULL)
		cap = 0;
	s->hold = hold;
	s->hold_map = hold_map;
	s->cap = cap & ~7u;
	if (s->cap != 0)
		memset(hold_map, 0, s->cap / 8);
}

static void stream_restart(struct rg_stream *s, uint32_t next_seq)
{
	if (s->held != 0)
		memset(s->hold_map, 0, s->cap / 8);
	s->held = 0;
	s->head = 0;
	s->next_seq = next_seq;
	s->synced = true;
	s->fin = false;
	s->fin_seen = false;
}

void rg_stream_syn(struct rg_stream *s, uint32_t isn)
{
	if (s->syn_seen && s->isn == isn)
		return;
	stream_restart(s, isn + 1);
	s->isn = isn;
	s->syn_seen = true;
}

void rg_stream_fin(struct rg_stream *s, uint32_t seq)
{
	s->fin_seq = seq;
	s->fin_seen = true;
	stream_fin_check(s);
}

/*
 * Store data for next_seq + off (0 < off < cap, off + len <= cap) into the
 * ring, keeping bytes already held.  Returns true on a mismatch.
 */
static bool stream_hold(struct rg_stream *s, uint32_t off, const uint8_t *data, uint32_t len)
{
	bool mismatch = false;

	while (len != 0) {
		uint32_t i = ring_slot(s, off);
		uint32_t lim = s->cap - i < len ? s->cap - i : len;
		uint32_t n;

		if (map_test(s, i)) {
			n = map_run(s, i, lim, true);
			if (memcmp(s->hold + i, data, n) != 0)
				mismatch = true;
		} else {
			n = map_run(s, i, lim, false);
			memcpy(s->hold + i, data, n);
			map_fill(s, i, n, true);
			s->held += n;
		}
		off += n;
		data += n;
		len -= n;
	}
	return mismatch;
}

/*
 * Deliver a segment that starts exactly at next_seq.  Where bytes are held
 * for the same range, the held copy is delivered (first copy wins).
 * Returns true on a mismatch between the two.
 */
static bool stream_in_order(struct rg_stream *s, const uint8_t *data, uint32_t len,
			    rg_stream_deliver_fn deliver, void *ctx)
{
	bool mismatch = false;

	while (len != 0) {
		uint32_t i, lim, n;

		if (s->held == 0) {
			stream_deliver(s, data, len, deliver, ctx);
			break;
		}
		i = s->head;
		lim = s->cap - i < len ? s->cap - i : len;
		if (map_test(s, i)) {
			n = map_run(s, i, lim, true);
			if (memcmp(s->hold + i, data, n) != 0)
				mismatch = true;
			map_fill(s, i, n, false);
			s->held -= n;
			stream_deliver(s, s->hold + i, n, deliver, ctx);
		} else {
			n = map_run(s, i, lim, false);
			stream_deliver(s, data, n, deliver, ctx);
		}
		data += n;
		len -= n;
	}
	stream_drain(s, deliver, ctx);
	return mismatch;
}

static inline void stream_note(enum rg_anomaly *ret, enum rg_anomaly a)
{
	if (*ret == RG_ANOM_NONE)
		*ret = a;
}

enum rg_anomaly rg_stream_segment(struct rg_stream *s, uint32_t seq,
				  const uint8_t *data, uint32_t len,
				  rg_stream_deliver_fn deliver, void *ctx)
{
	enum rg_anomaly ret = RG_ANOM_NONE;
	int32_t off;

	s->stats.nb_segments++;
	if (len == 0)
		return RG_ANOM_NONE;
	if (!s->synced) {
		s->next_seq = seq;
		s->synced = true;
		s->head = 0;
		if (!s->no_syn_told) {
			s->no_syn_told = true;
			ret = RG_ANOM_STREAM_NO_SYN;
		}
	}

	off = (int32_t)(seq - s->next_seq);
	if (off < 0) {
		uint32_t old = s->next_seq - seq;

		if (len <= old) {
			s->stats.nb_retransmitted++;
			return ret;
		}
		data += old;
		len -= old;
		off = 0;
	}

	if (off == 0) {
		if (stream_in_order(s, data, len, deliver, ctx)) {
			s->stats.nb_overlap_mismatch++;
			stream_note(&ret, RG_ANOM_STREAM_OVERLAP);
		}
		stream_fin_check(s);
		return ret;
	}

	/* Beyond next_seq: hold what fits in the window. */
	if ((uint32_t)off >= s->cap) {
		s->stats.nb_hold_full++;
		stream_note(&ret, RG_ANOM_STREAM_HOLD_FULL);
		return ret;
	}
	s->stats.nb_out_of_order++;
	if (len > s->cap - (uint32_t)off) {
		len = s->cap - (uint32_t)off;
		s->stats.nb_hold_full++;
		if (stream_hold(s, (uint32_t)off, data, len)) {
			s->stats.nb_overlap_mismatch++;
			stream_note(&ret, RG_ANOM_STREAM_OVERLAP);
		}
		stream_note(&ret, RG_ANOM_STREAM_HOLD_FULL);
		return ret;
	}
	if (stream_hold(s, (uint32_t)off, data, len)) {
		s->stats.nb_overlap_mismatch++;
		stream_note(&ret, RG_ANOM_STREAM_OVERLAP);
	}
	return ret;
}

uint32_t rg_stream_skip_gap(struct rg_stream *s, rg_stream_deliver_fn deliver, void *ctx)
{
	uint32_t skipped, i;

	if (s->held == 0)
		return 0;
	/* the first held byte: scan to the ring's end, then from slot 0 */
	i = s->head;
	skipped = map_run(s, i, s->cap - i, false);
	if (skipped == s->cap - i)
		skipped += map_run(s, 0, i, false);

	s->next_seq += skipped;
	s->head = ring_slot(s, skipped);
	s->stats.nb_gaps++;
	stream_drain(s, deliver, ctx);
	stream_fin_check(s);
	return skipped;
}
