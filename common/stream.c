/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * In-order reassembly of one direction of a TCP connection (rules in
 * common/stream.h).
 *
 * The ring has cap bytes; slot head holds sequence number next_seq and slot
 * (head + k) % cap holds next_seq + k, for -kept <= k < cap - kept.
 * Invariants: bit i of hold_map is set iff slot i holds a byte not yet
 * delivered; held is the number of set bits; every held byte lies in
 * [next_seq, next_seq - kept + cap); the kept bytes [next_seq - kept,
 * next_seq) were delivered and are exactly what was delivered; the slot of
 * next_seq itself is never held (it would have been delivered).  Room for
 * held data always wins over kept bytes: holding at offset off shrinks kept
 * to at most cap - off - len.  With a ring, every delivered byte is copied
 * into it (once); out-of-order data is written where it belongs.  No
 * allocation, no I/O.
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

/* Slot of next_seq - back, 0 < back <= cap. */
static inline uint32_t ring_slot_back(const struct rg_stream *s, uint32_t back)
{
	return s->head >= back ? s->head - back : s->head + s->cap - back;
}

static inline bool seq_after(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) > 0;
}

static inline void stream_fin_check(struct rg_stream *s)
{
	if (s->fin_seen && s->synced && (int32_t)(s->next_seq - s->fin_seq) >= 0)
		s->fin = true;
}

/* Copy n bytes that are about to be delivered from next_seq on (and are not
 * in the ring yet) into their slots.  Only the last cap of them fit. */
static void stream_keep(struct rg_stream *s, const uint8_t *data, uint32_t n)
{
	uint32_t skip = n > s->cap ? n - s->cap : 0;
	uint32_t i = skip == 0 ? s->head : ring_slot(s, skip % s->cap);
	uint32_t left = n - skip, first = s->cap - i < left ? s->cap - i : left;

	memcpy(s->hold + i, data + skip, first);
	memcpy(s->hold, data + skip + first, left - first);
}

/* Hand n in-order bytes to the callback and move next_seq past them; in_ring:
 * they are held bytes, already in their slots. */
static inline void stream_deliver(struct rg_stream *s, const uint8_t *data, uint32_t n,
				  bool in_ring, const struct rg_stream_sink *k)
{
	if (s->cap != 0 && !in_ring)
		stream_keep(s, data, n);
	k->deliver(k->ctx, data, n);
	s->stats.nb_bytes_delivered += n;
	s->next_seq += n;
	if (s->cap != 0) {
		/* a delivery longer than the ring is rare: divide only then */
		s->head = ring_slot(s, n < s->cap ? n : n % s->cap);
		s->kept = n >= s->cap - s->kept ? s->cap : s->kept + n;
	}
}

/* Deliver the held bytes that are now contiguous with next_seq. */
static void stream_drain(struct rg_stream *s, const struct rg_stream_sink *k)
{
	while (s->held != 0 && map_test(s, s->head)) {
		uint32_t i = s->head;
		uint32_t n = map_run(s, i, s->cap - i, true);

		map_fill(s, i, n, false);
		s->held -= n;
		stream_deliver(s, s->hold + i, n, true, k);
	}
}

/* Length of the run of unheld slots from head on, at most max (<= cap),
 * across the ring's end. */
static uint32_t stream_unheld_run(const struct rg_stream *s, uint32_t max)
{
	uint32_t i = s->head, first = s->cap - i < max ? s->cap - i : max;
	uint32_t run = map_run(s, i, first, false);

	if (run == first && run < max)
		run += map_run(s, 0, max - run, false);
	return run;
}

/* Give up on the next n bytes (none of them held): tell the sink, move on. */
static void stream_skip(struct rg_stream *s, uint32_t n, const struct rg_stream_sink *k)
{
	if (k->gap != NULL)
		k->gap(k->ctx, n);
	s->next_seq += n;
	s->kept = 0; /* what is kept is no longer just before next_seq */
	if (s->cap != 0)
		s->head = s->held ? ring_slot(s, n) : 0;
}

void rg_stream_init(struct rg_stream *s, uint8_t *hold, uint8_t *hold_map, uint32_t cap)
{
	memset(s, 0, sizeof(*s));
	if (hold == NULL || hold_map == NULL)
		cap = 0;
	s->hold = hold;
	s->hold_map = hold_map;
	s->cap = cap & ~7u;
	s->wscale = RG_STREAM_WS_UNKNOWN;
	if (s->cap != 0)
		memset(hold_map, 0, s->cap / 8);
}

static void stream_restart(struct rg_stream *s, uint32_t next_seq)
{
	if (s->held != 0)
		memset(s->hold_map, 0, s->cap / 8);
	s->held = 0;
	s->head = 0;
	s->kept = 0;
	s->next_seq = next_seq;
	s->snd_max = next_seq;
	s->synced = true;
	s->fin = false;
	s->fin_seen = false;
	s->ack_seen = false;
	s->cand = false;
}

void rg_stream_syn(struct rg_stream *s, uint32_t isn)
{
	if (s->syn_seen && s->isn == isn)
		return;
	stream_restart(s, isn + 1);
	s->isn = isn;
	s->syn_seen = true;
}

void rg_stream_wscale(struct rg_stream *s, int shift)
{
	if (shift < 0)
		s->wscale = RG_STREAM_WS_NONE;
	else
		s->wscale = (int8_t)(shift > RG_STREAM_WS_MAX ? RG_STREAM_WS_MAX : shift);
}

void rg_stream_fin(struct rg_stream *s, uint32_t seq)
{
	s->fin_seq = seq;
	s->fin_seen = true;
	/* the FIN takes a sequence number: its acknowledgement is not ahead */
	if (s->synced && seq_after(seq + 1, s->snd_max))
		s->snd_max = seq + 1;
	stream_fin_check(s);
}

/*
 * Store data for next_seq + off (0 < off < cap, off + len <= cap) into the
 * ring, keeping bytes already held.  Returns true on a mismatch.
 */
static bool stream_hold(struct rg_stream *s, uint32_t off, const uint8_t *data, uint32_t len)
{
	bool mismatch = false;

	if (s->kept > s->cap - off - len)
		s->kept = s->cap - off - len;
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
			    const struct rg_stream_sink *k)
{
	bool mismatch = false;

	while (len != 0) {
		uint32_t i, lim, n;

		if (s->held == 0) {
			stream_deliver(s, data, len, false, k);
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
			stream_deliver(s, s->hold + i, n, true, k);
		} else {
			n = map_run(s, i, lim, false);
			stream_deliver(s, data, n, false, k);
		}
		data += n;
		len -= n;
	}
	stream_drain(s, k);
	return mismatch;
}

static inline void stream_note(enum rg_anomaly *ret, enum rg_anomaly a)
{
	if (*ret == RG_ANOM_NONE)
		*ret = a;
}

/*
 * The first n bytes of a segment at seq lie before next_seq (were
 * delivered).  Compare what is kept of them; count what is not kept but
 * not acknowledged either.
 */
static void stream_old(struct rg_stream *s, uint32_t seq, const uint8_t *data, uint32_t n,
		       enum rg_anomaly *ret)
{
	uint32_t back = s->next_seq - seq; /* >= n, and up to 2^31 */
	uint32_t lost = back > s->kept ? back - s->kept : 0;

	if (lost > n)
		lost = n;
	if (lost != 0 && s->ack_seen && seq_after(seq + lost, s->ack)) {
		s->stats.nb_retrans_unchecked++;
		stream_note(ret, RG_ANOM_STREAM_RETRANS_UNCHECKED);
	}
	if (lost < n) {
		uint32_t i = ring_slot_back(s, back - lost), len = n - lost;
		uint32_t first = s->cap - i < len ? s->cap - i : len;

		data += lost;
		if (memcmp(s->hold + i, data, first) != 0 ||
		    memcmp(s->hold, data + first, len - first) != 0) {
			s->stats.nb_retrans_changed++;
			stream_note(ret, RG_ANOM_STREAM_RETRANS_CHANGED);
		}
	}
}

/* The last byte the receiver acknowledged, plus one (a FIN takes a sequence
 * number but is no byte). */
static inline uint32_t stream_acked_end(const struct rg_stream *s)
{
	return s->fin_seen && seq_after(s->ack, s->fin_seq) ? s->fin_seq : s->ack;
}

/* The receiver acknowledged bytes the stream never saw, which the sender is
 * known to have sent. */
static inline bool stream_gap_evident(const struct rg_stream *s)
{
	return s->synced && s->ack_seen && seq_after(stream_acked_end(s), s->next_seq) &&
	       !seq_after(s->ack, s->snd_max);
}

/* Skip to the acknowledged byte, delivering what is held on the way. */
static void stream_skip_to_ack(struct rg_stream *s, const struct rg_stream_sink *k)
{
	uint32_t end = stream_acked_end(s);
	bool counted = false;

	while (seq_after(end, s->next_seq)) {
		uint32_t n = end - s->next_seq;

		if (s->held != 0 && map_test(s, s->head)) {
			stream_drain(s, k);
			continue;
		}
		if (s->held != 0) /* up to the first held byte, if it comes first */
			n = stream_unheld_run(s, n < s->cap ? n : s->cap);
		if (!counted) {
			s->stats.nb_gaps++;
			counted = true;
		}
		stream_skip(s, n, k);
		stream_drain(s, k);
	}
}

/* A segment at seq lies beyond the ring of a stream whose receiver was never
 * seen.  Returns true when the stream moved so that the segment is worth
 * another try. */
static bool stream_beyond_unwatched(struct rg_stream *s, uint32_t seq, uint32_t len,
				    const struct rg_stream_sink *k)
{
	if (s->held != 0) {
		rg_stream_skip_gap(s, k);
		return true;
	}
	if (s->cand && s->cand_end == seq) {
		s->cand = false;
		s->stats.nb_gaps++;
		stream_skip(s, seq - s->next_seq, k);
		return true;
	}
	s->cand = true;
	s->cand_end = seq + len;
	return false;
}

enum rg_anomaly rg_stream_segment(struct rg_stream *s, uint32_t seq, const uint8_t *data,
				  uint32_t len, const struct rg_stream_sink *k)
{
	enum rg_anomaly ret = RG_ANOM_NONE;
	unsigned tries = 0;
	int32_t off;

	s->stats.nb_segments++;
	if (len == 0)
		return RG_ANOM_NONE;
	if (s->ack_seen && !seq_after(s->wnd_end, seq)) {
		s->stats.nb_out_of_window++;
		return RG_ANOM_STREAM_OUT_OF_WINDOW;
	}
	if (s->ack_seen && seq_after(seq + len, s->wnd_end)) {
		len = s->wnd_end - seq;
		s->stats.nb_out_of_window++;
		ret = RG_ANOM_STREAM_OUT_OF_WINDOW;
	}
	if (!s->synced) {
		s->next_seq = seq;
		s->snd_max = seq;
		s->synced = true;
		s->head = 0;
		s->kept = 0;
		if (!s->no_syn_told) {
			s->no_syn_told = true;
			stream_note(&ret, RG_ANOM_STREAM_NO_SYN);
		}
	}
	if (seq_after(seq + len, s->snd_max))
		s->snd_max = seq + len;

again:
	off = (int32_t)(seq - s->next_seq);
	if (off < 0) {
		uint32_t old = s->next_seq - seq;

		stream_old(s, seq, data, len < old ? len : old, &ret);
		if (len <= old) {
			s->stats.nb_retransmitted++;
			goto out;
		}
		seq += old;
		data += old;
		len -= old;
		off = 0;
	}

	if (off == 0) {
		if (stream_in_order(s, data, len, k)) {
			s->stats.nb_overlap_mismatch++;
			stream_note(&ret, RG_ANOM_STREAM_OVERLAP);
		}
		goto out;
	}

	/* Beyond next_seq: hold what fits in the ring. */
	if ((uint32_t)off >= s->cap) {
		if (tries == 0) {
			s->stats.nb_hold_full++;
			stream_note(&ret, RG_ANOM_STREAM_HOLD_FULL);
		}
		/* at most a bridge, then a restart: each leaves nothing held */
		if (!s->ack_seen && tries++ < 2 && stream_beyond_unwatched(s, seq, len, k))
			goto again;
		goto out;
	}
	s->stats.nb_out_of_order++;
	if (len > s->cap - (uint32_t)off) {
		len = s->cap - (uint32_t)off;
		s->stats.nb_hold_full++;
		stream_note(&ret, RG_ANOM_STREAM_HOLD_FULL);
	}
	if (stream_hold(s, (uint32_t)off, data, len)) {
		s->stats.nb_overlap_mismatch++;
		stream_note(&ret, RG_ANOM_STREAM_OVERLAP);
	}
out:
	if (stream_gap_evident(s))
		stream_skip_to_ack(s, k);
	stream_fin_check(s);
	return ret;
}

void rg_stream_ack(struct rg_stream *s, const struct rg_stream *rev, uint32_t ack, uint16_t win,
		   bool syn, const struct rg_stream_sink *k)
{
	uint32_t wnd = win;
	int shift;

	if (s->ack_seen && seq_after(s->ack, ack))
		return; /* an older acknowledgement, reordered */
	if (s->synced && seq_after(ack, s->snd_max)) {
		/* acknowledges bytes never seen sent: a sender would refuse it
		 * (RFC 5961); the next one, once data is seen, counts */
		s->stats.nb_acks_ahead++;
		return;
	}
	if (!syn) {
		if (s->wscale >= 0 && rev->wscale >= 0)
			shift = rev->wscale;
		else if (s->wscale == RG_STREAM_WS_NONE || rev->wscale == RG_STREAM_WS_NONE)
			shift = 0;
		else
			shift = RG_STREAM_WS_MAX; /* a SYN was not seen: assume the widest */
		wnd <<= shift;
	}
	if (!s->ack_seen || seq_after(ack + wnd, s->wnd_end))
		s->wnd_end = ack + wnd;
	s->ack = ack;
	s->ack_seen = true;
	if (!s->synced)
		return;
	if (!seq_after(s->next_seq, ack))
		s->kept = 0;
	else if (s->next_seq - ack < s->kept)
		s->kept = s->next_seq - ack;
	if (stream_gap_evident(s)) {
		stream_skip_to_ack(s, k);
		stream_fin_check(s);
	}
}

uint32_t rg_stream_skip_gap(struct rg_stream *s, const struct rg_stream_sink *k)
{
	uint32_t skipped;

	if (s->held == 0)
		return 0;
	skipped = stream_unheld_run(s, s->cap); /* up to the first held byte */

	s->stats.nb_gaps++;
	stream_skip(s, skipped, k);
	stream_drain(s, k);
	stream_fin_check(s);
	return skipped;
}

int rg_tcp_opt_wscale(const uint8_t *opt, uint32_t len)
{
	uint32_t i = 0;

	while (i < len) {
		if (opt[i] == 0)
			break;
		if (opt[i] == 1) {
			i++;
			continue;
		}
		if (i + 1 >= len || opt[i + 1] < 2 || opt[i + 1] > len - i)
			break;
		if (opt[i] == 3 && opt[i + 1] == 3)
			return opt[i + 2] > RG_STREAM_WS_MAX ? RG_STREAM_WS_MAX : opt[i + 2];
		i += opt[i + 1];
	}
	return RG_STREAM_WS_NONE;
}
