/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for common/stream.c: TCP reassembly of one direction.
 *
 * Scripts of SYN/segment/ACK/FIN/skip operations, each run at several
 * initial sequence numbers so that every script also crosses 2^32; then a
 * differential test against a byte-at-a-time reference model on random
 * segmentations, with shuffling, duplicates and altered retransmissions,
 * with and without a receiver in sight.
 */
#include <stdlib.h>
#include <string.h>

#include "common/stream.h"
#include "check.h"

#define OUT_MAX 70000

struct sink {
	uint8_t out[OUT_MAX];
	uint32_t len;
	unsigned nb_calls;
	uint32_t skipped;  /* bytes the gap callback gave up on */
	unsigned nb_gap_calls;
	bool overflow;
};

static void sink_deliver(void *ctx, const uint8_t *data, uint32_t len)
{
	struct sink *k = ctx;

	k->nb_calls++;
	if (len == 0 || k->len + len > OUT_MAX) {
		k->overflow = true; /* empty runs are a bug too */
		return;
	}
	memcpy(k->out + k->len, data, len);
	k->len += len;
}

static void sink_gap(void *ctx, uint32_t skipped)
{
	struct sink *k = ctx;

	if (skipped == 0)
		k->overflow = true; /* an empty gap is a bug */
	k->skipped += skipped;
	k->nb_gap_calls++;
}

/* ---- scripts ---- */

enum { OP_END = 0, OP_SYN, OP_SEG, OP_FIN, OP_SKIP, OP_ACK };

struct op {
	int kind;
	int32_t rel;      /* SEG/FIN/ACK: seq - (isn + 1); SYN: isn - base isn */
	const char *data; /* SEG payload */
	int expect;       /* SEG: anomaly returned; SKIP: bytes skipped; ACK: window */
};

struct script {
	const char *name;
	uint32_t cap;
	struct op ops[12];
	const char *want;  /* every byte delivered, in order */
	int32_t next_rel;  /* next_seq - (isn + 1) at the end */
	uint32_t held;
	bool fin;
	uint32_t retx, ooo, mismatch, hold_full, gaps;
	uint32_t changed, unchecked, out_of_window, acks_ahead, skipped;
};

#define SYN(r) { OP_SYN, (r), NULL, 0 }
#define SEG(r, d, e) { OP_SEG, (r), (d), (e) }
#define FIN(r) { OP_FIN, (r), NULL, 0 }
#define SKIP(n) { OP_SKIP, 0, NULL, (n) }
#define ACK(r, w) { OP_ACK, (r), NULL, (w) }
#define NONE RG_ANOM_NONE
#define OVERLAP RG_ANOM_STREAM_OVERLAP
#define FULL RG_ANOM_STREAM_HOLD_FULL
#define NO_SYN RG_ANOM_STREAM_NO_SYN
#define WINDOW RG_ANOM_STREAM_OUT_OF_WINDOW
#define CHANGED RG_ANOM_STREAM_RETRANS_CHANGED
#define UNCHECKED RG_ANOM_STREAM_RETRANS_UNCHECKED

static const struct script scripts[] = {
	{ "in order", 64, { SYN(0), SEG(0, "abc", NONE), SEG(3, "def", NONE), SEG(6, "", NONE) },
	  "abcdef", 6, 0, false, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "retransmission", 64,
	  { SYN(0), SEG(0, "abc", NONE), SEG(0, "abc", NONE), SEG(1, "bc", NONE),
	    SEG(-5, "zzzzz", NONE), SEG(2, "cdef", NONE) },
	  "abcdef", 6, 0, false, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "partial overlap, delivered part compared with what is kept", 64,
	  { SYN(0), SEG(0, "abc", NONE), SEG(0, "XYZdef", CHANGED), SEG(-3, "PQRSTUVWXg", CHANGED),
	    SEG(1, "bcd", NONE) },
	  "abcdefg", 7, 0, false, 1, 0, 0, 0, 0, 2, 0, 0, 0, 0 },
	{ "out of order then filled", 64,
	  { SYN(0), SEG(3, "def", NONE), SEG(0, "abc", NONE) },
	  "abcdef", 6, 0, false, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "several holes", 64,
	  { SYN(0), SEG(6, "gh", NONE), SEG(2, "cd", NONE), SEG(8, "ij", NONE), SEG(0, "ab", NONE),
	    SEG(12, "m", NONE), SEG(4, "ef", NONE) },
	  "abcdefghij", 10, 1, false, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "window exactly full", 16,
	  { SYN(0), SEG(1, "bcdefghijklmnop", NONE), SEG(0, "a", NONE) },
	  "abcdefghijklmnop", 16, 0, false, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "window one byte over", 16,
	  { SYN(0), SEG(1, "bcdefghijklmnopq", FULL), SEG(0, "a", NONE), SEG(16, "q", NONE) },
	  "abcdefghijklmnopq", 17, 0, false, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0 },
	{ "last slot held, first beyond dropped", 16,
	  { SYN(0), ACK(0, 1000), SEG(15, "p", NONE), SEG(16, "q", FULL),
	    SEG(0, "abcdefghijklmno", NONE) },
	  "abcdefghijklmnop", 16, 0, false, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0 },
	{ "no window", 0,
	  { SYN(0), SEG(1, "b", FULL), SEG(0, "a", NONE), SEG(1, "bc", NONE), SKIP(0) },
	  "abc", 3, 0, false, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0 },
	{ "held vs new mismatch, first copy wins", 64,
	  { SYN(0), SEG(3, "def", NONE), SEG(3, "dXf", OVERLAP), SEG(4, "eY", OVERLAP),
	    SEG(4, "efg", NONE), SEG(0, "abc", NONE) },
	  "abcdefg", 7, 0, false, 0, 4, 2, 0, 0, 0, 0, 0, 0, 0 },
	{ "new vs held mismatch, held copy delivered", 64,
	  { SYN(0), SEG(2, "cd", NONE), SEG(0, "abXd", OVERLAP), SEG(4, "e", NONE) },
	  "abcde", 5, 0, false, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0 },
	{ "ring wrap, in-order over held run past the window", 8,
	  { SYN(0), SEG(2, "c", NONE), SEG(5, "f", NONE), SEG(0, "ab", NONE),
	    SEG(6, "ghijk", NONE), SEG(3, "deFGhijkLMNOPQ", OVERLAP) },
	  "abcdefghijkLMNOPQ", 17, 0, false, 0, 3, 1, 0, 0, 0, 0, 0, 0, 0 },
	{ "hold across the ring end", 8,
	  { SYN(0), SEG(3, "d", NONE), SEG(0, "abc", NONE) /* nothing held after: head 0 */,
	    SEG(6, "g", NONE), SEG(4, "e", NONE) /* 4 is next: delivered */,
	    SEG(7, "hijklmn", FULL) /* window is [5, 13), slots 3..7, 0 */,
	    SEG(5, "f", NONE) },
	  "abcdefghijklm", 13, 0, false, 0, 3, 0, 1, 0, 0, 0, 0, 0, 0 },
	{ "no SYN", 64,
	  { SEG(0, "abc", NO_SYN), SEG(3, "def", NONE), SEG(-2, "x", NONE), SEG(8, "i", NONE),
	    SEG(6, "gh", NONE) },
	  "abcdefghi", 9, 0, false, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "no SYN told once", 8,
	  { SEG(0, "", NONE), SEG(0, "a", NO_SYN), SEG(2, "cdefghijk", FULL) },
	  "a", 1, 7, false, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0 },
	{ "SYN retransmitted", 64,
	  { SYN(0), SEG(0, "abc", NONE), SYN(0), SEG(3, "def", NONE), SYN(0) },
	  "abcdef", 6, 0, false, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "new SYN after data: new connection", 64,
	  { SYN(0), SEG(0, "abc", NONE), SEG(10, "zz", NONE), FIN(12), SYN(1000),
	    SEG(1000, "xyz", NONE) },
	  "abcxyz", 1003, 0, false, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "FIN after in-order data", 64,
	  { SYN(0), SEG(0, "abc", NONE), FIN(3) },
	  "abc", 3, 0, true, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "FIN waits for a hole", 64,
	  { SYN(0), SEG(3, "def", NONE), FIN(6), SEG(0, "ab", NONE) },
	  "ab", 2, 3, false, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "FIN reached when the hole fills", 64,
	  { SYN(0), SEG(3, "def", NONE), FIN(6), SEG(0, "abc", NONE) },
	  "abcdef", 6, 0, true, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "skip gap", 64,
	  { SYN(0), SKIP(0), SEG(0, "ab", NONE), SEG(4, "efgh", NONE), SEG(10, "kl", NONE),
	    SKIP(2), SKIP(2), SKIP(0), SEG(8, "ij", NONE) },
	  "abefghkl", 12, 0, false, 1, 2, 0, 0, 2, 0, 0, 0, 0, 0 },
	{ "skip gap twice in a small ring, FIN reached", 8,
	  { SYN(0), SEG(7, "h", NONE), SEG(0, "abcdef", NONE), SEG(11, "lm", NONE), FIN(13),
	    SKIP(1), SKIP(3) },
	  "abcdefhlm", 13, 0, true, 0, 2, 0, 0, 2, 0, 0, 0, 0, 0 },
	{ "skip gap scanning across the ring end", 8,
	  { SYN(0), SEG(3, "d", NONE), SEG(0, "ab", NONE), SEG(9, "j", NONE), SEG(2, "c", NONE),
	    FIN(10), SKIP(5), SKIP(0) },
	  "abcdj", 10, 0, true, 0, 2, 0, 0, 1, 0, 0, 0, 0, 0 },
	/* judged by the receiver: one stray segment far ahead moves nothing */
	{ "stray segment beyond the ring, in the window", 16,
	  { SYN(0), ACK(0, 60000), SEG(0, "ab", NONE), SEG(20000, "zzzz", FULL),
	    SEG(2, "cd", NONE), SEG(4, "ef", NONE) },
	  "abcdef", 6, 0, false, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0 },
	{ "beyond the receiver's window: dropped, or cut at its edge", 64,
	  { SYN(0), ACK(0, 8), SEG(8, "x", WINDOW), SEG(6, "ghij", WINDOW), SEG(0, "abcdef", NONE),
	    ACK(8, 2), SEG(10, "k", WINDOW), SEG(8, "ijk", WINDOW), ACK(8, 30) /* edge stays */,
	    SEG(10, "kl", NONE) },
	  "abcdefghijkl", 12, 0, false, 0, 1, 0, 0, 0, 0, 0, 4, 0, 0 },
	{ "zero window: a probe is not data", 64,
	  { SYN(0), ACK(0, 0), SEG(0, "a", WINDOW), ACK(0, 4), SEG(0, "abcd", NONE) },
	  "abcd", 4, 0, false, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0 },
	{ "gap skipped when the receiver acknowledges past it", 64,
	  { SYN(0), ACK(0, 1000), SEG(0, "ab", NONE), SEG(5, "fg", NONE), SEG(9, "j", NONE),
	    ACK(2, 1000), ACK(7, 1000), SEG(7, "hi", NONE), SEG(2, "cde", NONE) },
	  "abfghij", 10, 0, false, 1, 2, 0, 0, 1, 0, 0, 0, 0, 3 },
	{ "acknowledgement past the held data: skip all of it", 64,
	  { SYN(0), ACK(0, 1000), SEG(0, "ab", NONE), SEG(5, "fg", NONE), SEG(20, "u", NONE),
	    ACK(21, 1000) },
	  "abfgu", 21, 0, false, 0, 2, 0, 0, 1, 0, 0, 0, 0, 16 },
	{ "acknowledgement of bytes never seen sent is ignored", 64,
	  { SYN(0), ACK(0, 1000), SEG(0, "ab", NONE), ACK(10, 1000), SEG(2, "cd", NONE),
	    SEG(8, "ij", NONE), ACK(10, 1000), SEG(10, "k", NONE) },
	  "abcdijk", 11, 0, false, 0, 1, 0, 0, 1, 0, 0, 0, 1, 4 },
	{ "FIN acknowledged: no gap", 64,
	  { SYN(0), ACK(0, 1000), SEG(0, "ab", NONE), FIN(2), ACK(3, 1000) },
	  "ab", 2, 0, true, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "retransmission of screened bytes changed", 64,
	  { SYN(0), ACK(0, 1000), SEG(0, "abcd", NONE), SEG(0, "abXd", CHANGED),
	    SEG(2, "cdef", NONE), SEG(4, "eFx", CHANGED) },
	  "abcdefx", 7, 0, false, 1, 0, 0, 0, 0, 2, 0, 0, 0, 0 },
	{ "retransmission of acknowledged bytes is not compared", 64,
	  { SYN(0), ACK(0, 1000), SEG(0, "abcd", NONE), ACK(3, 1000), SEG(0, "XYZd", NONE),
	    SEG(0, "XYZD", CHANGED) },
	  "abcd", 4, 0, false, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0 },
	{ "retransmission of unacknowledged bytes no longer kept", 8,
	  { SYN(0), ACK(0, 1000), SEG(0, "abcdef", NONE), SEG(8, "ij", NONE),
	    SEG(0, "ab", UNCHECKED),
	    SEG(1, "Bc", UNCHECKED), SEG(2, "cX", CHANGED) },
	  "abcdef", 6, 2, false, 3, 1, 0, 0, 0, 1, 2, 0, 0, 0 },
	{ "a new SYN forgets the receiver", 64,
	  { SYN(0), ACK(0, 4), SEG(0, "abcd", NONE), SYN(100), SEG(100, "efghijkl", NONE) },
	  "abcdefghijkl", 108, 0, false, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	/* regression: a segment exactly 2^31 behind was compared with slots
	 * outside the ring */
	{ "retransmission 2^31 behind", 64,
	  { SYN(0), SEG(INT32_MIN, "xy", NONE), SEG(0, "abcd", NONE),
	    SEG(4 + INT32_MIN, "xy", NONE), SEG(4, "e", NONE) },
	  "abcde", 5, 0, false, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	/* no receiver in sight */
	{ "unwatched: one stray segment beyond the ring moves nothing", 16,
	  { SYN(0), SEG(0, "ab", NONE), SEG(100, "zz", FULL), SEG(2, "cd", NONE),
	    SEG(200, "yy", FULL), SEG(4, "ef", NONE) },
	  "abcdef", 6, 0, false, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0 },
	{ "unwatched: the sender carrying on beyond the ring restarts it", 16,
	  { SYN(0), SEG(0, "ab", NONE), SEG(100, "zz", FULL), SEG(102, "yy", FULL),
	    SEG(104, "x", NONE) },
	  "abyyx", 105, 0, false, 0, 0, 0, 2, 1, 0, 0, 0, 0, 100 },
	{ "unwatched: beyond the ring bridges to held data", 8,
	  { SYN(0), SEG(0, "ab", NONE), SEG(4, "ef", NONE), SEG(20, "u", FULL), SEG(6, "g", NONE) },
	  "abefg", 7, 0, false, 0, 1, 0, 1, 1, 0, 0, 0, 0, 2 },
};

static const uint32_t isns[] = { 1000, 0xfffffff0u, 0xffffffffu, 0x7ffffff8u, 0xfffffffau };

static void run_script(const struct script *sc, uint32_t isn)
{
	static struct sink k;
	const struct rg_stream_sink ks = { sink_deliver, sink_gap, &k };
	uint8_t hold[64], map[8];
	struct rg_stream s, rev;
	uint32_t base = isn + 1;
	bool restarted = false;

	memset(&k, 0, sizeof(k));
	memset(hold, 0xcc, sizeof(hold));
	memset(map, 0, sizeof(map));
	rg_stream_init(&s, sc->cap ? hold : NULL, sc->cap ? map : NULL, sc->cap);
	rg_stream_init(&rev, NULL, NULL, 0);
	/* windows are given unscaled */
	rg_stream_wscale(&s, -1);
	rg_stream_wscale(&rev, -1);
	for (const struct op *o = sc->ops; o->kind != OP_END; o++) {
		int got;

		switch (o->kind) {
		case OP_SYN:
			rg_stream_syn(&s, isn + (uint32_t)o->rel);
			restarted |= o->rel != 0;
			break;
		case OP_SEG:
			got = rg_stream_segment(&s, base + (uint32_t)o->rel,
						(const uint8_t *)o->data,
						(uint32_t)strlen(o->data), &ks);
			CHECK_EQ(got, o->expect, "%s isn %#x: op %d", sc->name, isn,
				 (int)(o - sc->ops));
			break;
		case OP_FIN:
			rg_stream_fin(&s, base + (uint32_t)o->rel);
			break;
		case OP_SKIP:
			got = (int)rg_stream_skip_gap(&s, &ks);
			CHECK_EQ(got, o->expect, "%s isn %#x: op %d", sc->name, isn,
				 (int)(o - sc->ops));
			break;
		case OP_ACK:
			rg_stream_ack(&s, &rev, base + (uint32_t)o->rel, (uint16_t)o->expect, false,
				      &ks);
			break;
		}
	}
	CHECK(!k.overflow, "%s isn %#x: empty or huge delivery", sc->name, isn);
	CHECK(k.len == strlen(sc->want) && memcmp(k.out, sc->want, k.len) == 0,
	      "%s isn %#x: delivered '%.*s', want '%s'", sc->name, isn, (int)k.len,
	      (const char *)k.out, sc->want);
	CHECK_EQ(s.stats.nb_bytes_delivered, strlen(sc->want), "%s isn %#x", sc->name, isn);
	CHECK_EQ(s.next_seq, base + (uint32_t)sc->next_rel, "%s isn %#x: next_seq", sc->name, isn);
	CHECK_EQ(s.held, sc->held, "%s isn %#x: held", sc->name, isn);
	CHECK_EQ(rg_stream_waiting(&s), sc->held != 0, "%s isn %#x: waiting", sc->name, isn);
	CHECK_EQ(s.fin, sc->fin, "%s isn %#x: fin", sc->name, isn);
	CHECK_EQ(s.synced, true, "%s isn %#x: synced", sc->name, isn);
	CHECK_EQ(s.stats.nb_retransmitted, sc->retx, "%s isn %#x: retransmitted", sc->name, isn);
	CHECK_EQ(s.stats.nb_out_of_order, sc->ooo, "%s isn %#x: out of order", sc->name, isn);
	CHECK_EQ(s.stats.nb_overlap_mismatch, sc->mismatch, "%s isn %#x: mismatch", sc->name, isn);
	CHECK_EQ(s.stats.nb_hold_full, sc->hold_full, "%s isn %#x: hold full", sc->name, isn);
	CHECK_EQ(s.stats.nb_gaps, sc->gaps, "%s isn %#x: gaps", sc->name, isn);
	CHECK_EQ(s.stats.nb_retrans_changed, sc->changed, "%s isn %#x: changed", sc->name, isn);
	CHECK_EQ(s.stats.nb_retrans_unchecked, sc->unchecked, "%s isn %#x: unchecked", sc->name,
		 isn);
	CHECK_EQ(s.stats.nb_out_of_window, sc->out_of_window, "%s isn %#x: out of window",
		 sc->name, isn);
	CHECK_EQ(s.stats.nb_acks_ahead, sc->acks_ahead, "%s isn %#x: acks ahead", sc->name, isn);
	if (sc->skipped != 0)
		CHECK_EQ(k.skipped, sc->skipped, "%s isn %#x: bytes skipped", sc->name, isn);
	if (sc->ops[0].kind == OP_SYN && !restarted)
		CHECK_EQ(s.stats.nb_bytes_delivered + k.skipped, (uint64_t)sc->next_rel,
			 "%s isn %#x: delivered + skipped accounts for the stream", sc->name, isn);
	CHECK_EQ(k.nb_gap_calls == 0, k.skipped == 0, "%s isn %#x: gap calls", sc->name, isn);
	CHECK(s.kept <= s.cap, "%s isn %#x: kept within the ring", sc->name, isn);
	{
		unsigned bits = 0;

		for (uint32_t i = 0; i < sc->cap; i++)
			bits += (map[i / 8] >> (i % 8)) & 1;
		CHECK_EQ(bits, s.held, "%s isn %#x: map bits vs held", sc->name, isn);
	}
}

static void test_scripts(void)
{
	for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++)
		for (size_t j = 0; j < sizeof(isns) / sizeof(isns[0]); j++)
			run_script(&scripts[i], isns[j]);
}

/* Initialisation edge cases. */
static void test_init(void)
{
	uint8_t hold[16], map[2] = { 0xff, 0xff };
	struct rg_stream s;
	static struct sink k;
	const struct rg_stream_sink ks = { sink_deliver, NULL, &k };

	rg_stream_init(&s, hold, map, 16);
	CHECK_EQ(map[0], 0, "map cleared");
	CHECK_EQ(map[1], 0, "map cleared");
	CHECK(!s.synced && !s.fin && s.held == 0 && s.cap == 16, "fresh stream");
	CHECK(!rg_stream_waiting(&s), "fresh stream not waiting");
	/* a FIN before sync does not finish the stream */
	rg_stream_fin(&s, 6);
	CHECK(!s.fin, "FIN unsynced");
	memset(&k, 0, sizeof(k));
	CHECK_EQ(rg_stream_segment(&s, 2, (const uint8_t *)"abc", 3, &ks),
		 RG_ANOM_STREAM_NO_SYN, "first data");
	CHECK(!s.fin, "FIN not reached");
	CHECK_EQ(rg_stream_segment(&s, 5, (const uint8_t *)"d", 1, &ks),
		 RG_ANOM_NONE, "up to FIN");
	CHECK(s.fin, "FIN reached");
	CHECK_EQ(s.stats.nb_segments, 2, "segments");
	/* delivered straight from the segment when nothing is held */
	CHECK_EQ(k.nb_calls, 2, "one call per in-order segment");
}

/* ---- differential test against a reference model ---- */

#define REF_N 6000

struct ref {
	uint32_t next, cap;
	uint32_t floor;      /* first delivered byte still kept */
	bool watched;        /* a receiver is in sight (no skipping beyond the ring) */
	bool cand;           /* unwatched: cand_end is the end of the last stray */
	uint32_t cand_end;
	uint8_t byte[REF_N + 256];
	bool held[REF_N + 256];
	uint32_t nb_held;
	uint8_t out[OUT_MAX];
	uint32_t out_len;
	uint32_t skipped;
	uint32_t ack, snd_max; /* the receiver's acknowledgement; end of what was seen sent */
	bool ack_seen;
	uint64_t mismatch, hold_full, retx, changed, gaps, unchecked, acks_ahead;
};

/* Byte at was delivered or held: what is kept must leave it room. */
static void ref_room(struct ref *r, uint32_t at)
{
	if (at + 1 > r->floor + r->cap)
		r->floor = at + 1 - r->cap;
}

static void ref_out(struct ref *r, uint32_t at)
{
	r->out[r->out_len++] = r->byte[at];
	r->next = at + 1;
	ref_room(r, at);
}

static void ref_drain(struct ref *r)
{
	while (r->held[r->next]) {
		r->held[r->next] = false;
		r->nb_held--;
		ref_out(r, r->next);
	}
}

static uint32_t ref_skip(struct ref *r)
{
	uint32_t at = r->next;

	if (r->nb_held == 0)
		return 0;
	while (!r->held[at])
		at++;
	at -= r->next;
	r->next += at;
	r->floor = r->next;
	r->skipped += at;
	r->gaps++;
	ref_drain(r);
	return at;
}

/* The receiver has bytes the stream never saw: skip to its acknowledgement,
 * delivering what is held on the way. */
static void ref_evident(struct ref *r)
{
	if (!r->ack_seen || r->ack <= r->next || r->ack > r->snd_max)
		return;
	r->gaps++;
	while (r->next < r->ack) {
		uint32_t n = 0;

		if (r->held[r->next]) {
			ref_drain(r);
			continue;
		}
		while (r->next + n < r->ack && !r->held[r->next + n])
			n++;
		r->skipped += n;
		r->next += n;
		r->floor = r->next;
		ref_drain(r);
	}
}

static void ref_ack(struct ref *r, uint32_t ack)
{
	if (r->ack_seen && ack < r->ack)
		return;
	if (ack > r->snd_max) {
		r->acks_ahead++;
		return;
	}
	r->ack = ack;
	r->ack_seen = true;
	if (ack >= r->next)
		r->floor = r->next;
	else if (ack > r->floor)
		r->floor = ack;
	ref_evident(r);
}

/* Byte at a time, straight from the rules in stream.h. */
static void ref_segment_body(struct ref *r, uint32_t off, const uint8_t *d, uint32_t len)
{
	bool mm = false, full = false, changed = false, unchecked = false;
	unsigned tries = 0;

	for (uint32_t i = 0; i < len && off + i < r->next; i++) {
		if (off + i >= r->floor && r->byte[off + i] != d[i])
			changed = true;
		if (off + i < r->floor && r->ack_seen && off + i >= r->ack)
			unchecked = true;
	}
	r->changed += changed;
	r->unchecked += unchecked;
	if (off + len <= r->next) {
		r->retx++;
		return;
	}
	while (off > r->next && off - r->next >= r->cap) {
		if (tries == 0)
			r->hold_full++;
		if (r->watched || tries++ >= 2)
			return;
		if (r->nb_held) {
			ref_skip(r);
		} else if (r->cand && r->cand_end == off) {
			r->cand = false;
			r->gaps++;
			r->skipped += off - r->next;
			r->next = off;
			r->floor = off;
		} else {
			r->cand = true;
			r->cand_end = off + len;
			return;
		}
	}
	if (off <= r->next) {
		for (uint32_t i = r->next - off; i < len; i++) {
			uint32_t at = off + i;

			if (r->held[at]) {
				mm |= r->byte[at] != d[i];
				r->held[at] = false;
				r->nb_held--;
			} else {
				r->byte[at] = d[i];
			}
			ref_out(r, at);
		}
		ref_drain(r);
	} else {
		for (uint32_t i = 0; i < len; i++) {
			uint32_t at = off + i;

			if (at - r->next >= r->cap) {
				full = true;
				break;
			}
			ref_room(r, at);
			if (r->held[at]) {
				mm |= r->byte[at] != d[i];
			} else {
				r->held[at] = true;
				r->byte[at] = d[i];
				r->nb_held++;
			}
		}
	}
	r->mismatch += mm;
	r->hold_full += full;
}

static void ref_segment(struct ref *r, uint32_t off, const uint8_t *d, uint32_t len)
{
	if (len == 0)
		return;
	if (off + len > r->snd_max)
		r->snd_max = off + len;
	ref_segment_body(r, off, d, len);
	ref_evident(r);
}

static uint32_t rs = 99;

static uint32_t rnd(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 17;
	rs ^= rs << 5;
	return rs;
}

struct seg {
	uint32_t off, len, key;
	bool alter;
};

static int seg_by_key(const void *a, const void *b)
{
	const struct seg *x = a, *y = b;

	return x->key < y->key ? -1 : x->key > y->key;
}

static uint8_t orig[REF_N];
static struct seg segs[4 * REF_N];
static struct ref ref;
static struct sink sk;
static uint8_t hold_big[8192], map_big[1024];

/*
 * One random run: cut orig into segments (some overlapping), duplicate
 * some, alter some duplicates, shuffle within dist positions, feed all,
 * then skip every remaining gap.  Returns true if delivery was exact.
 */
static bool random_run(uint32_t cap, unsigned dist, unsigned alter_pct, uint32_t isn,
		       unsigned round, bool watched, unsigned loss_pct)
{
	static bool got[REF_N];  /* bytes the receiver has */
	uint32_t r_ack = 0;       /* its acknowledgement */
	const struct rg_stream_sink ks = { sink_deliver, sink_gap, &sk };
	unsigned nb = 0;
	uint32_t at = 0, skipped = 0;
	struct rg_stream s, rev;
	bool ok = true;

	for (uint32_t i = 0; i < REF_N; i++)
		orig[i] = (uint8_t)rnd();
	while (at < REF_N) {
		uint32_t len = 1 + rnd() % 100;
		uint32_t back = rnd() % 4 == 0 ? rnd() % 30 : 0;

		if (back > at)
			back = at;
		if (at + len > REF_N)
			len = REF_N - at;
		segs[nb++] = (struct seg){ at - back, len + back, 0, false };
		if (rnd() % 5 == 0) /* a duplicate, maybe altered */
			segs[nb++] = (struct seg){ at - back, len + back, 0, rnd() % 100 < alter_pct };
		at += len;
	}
	for (unsigned i = 0; i < nb; i++)
		segs[i].key = i * 16 + rnd() % (16 * dist + 1);
	qsort(segs, nb, sizeof(segs[0]), seg_by_key);

	memset(&ref, 0, sizeof(ref));
	ref.cap = cap;
	ref.watched = watched;
	memset(&sk, 0, sizeof(sk));
	rg_stream_init(&s, cap ? hold_big : NULL, cap ? map_big : NULL, cap);
	rg_stream_init(&rev, NULL, NULL, 0);
	rg_stream_syn(&s, isn);
	rg_stream_wscale(&s, 7);
	rg_stream_wscale(&rev, 7);
	memset(got, 0, sizeof(got));
	if (watched) /* a window wide enough for all: nothing out of it */
		rg_stream_ack(&s, &rev, isn + 1, 65535, false, &ks);
	ref.ack_seen = watched;

	for (unsigned i = 0; i < nb; i++) {
		uint8_t d[160];
		const struct seg *g = &segs[i];

		memcpy(d, orig + g->off, g->len);
		if (g->alter)
			d[rnd() % g->len] ^= 0x5a;
		/* lost before the appliance: only the receiver has it */
		if (loss_pct == 0 || rnd() % 100 >= loss_pct) {
			rg_stream_segment(&s, isn + 1 + g->off, d, g->len, &ks);
			ref_segment(&ref, g->off, d, g->len);
		}
		if (loss_pct != 0) {
			for (uint32_t j = 0; j < g->len; j++)
				got[g->off + j] = true;
			while (r_ack < REF_N && got[r_ack])
				r_ack++;
			/* acknowledgements are delayed: retransmissions meet kept bytes */
			if (rnd() % 4 == 0) {
				rg_stream_ack(&s, &rev, isn + 1 + r_ack, 65535, false, &ks);
				ref_ack(&ref, r_ack);
			}
		}
		if (s.held != ref.nb_held || sk.len != ref.out_len ||
		    s.next_seq - s.kept != isn + 1 + ref.floor) {
			CHECK(0, "round %u cap %u%s: after segment %u held %u/%u out %u/%u "
			      "floor %u/%u", round, cap, watched ? "" : " unwatched", i, s.held,
			      ref.nb_held, sk.len, ref.out_len, s.next_seq - s.kept - isn - 1,
			      ref.floor);
			return false;
		}
	}
	while (rg_stream_waiting(&s)) {
		uint32_t a = rg_stream_skip_gap(&s, &ks);
		uint32_t b = ref_skip(&ref);

		CHECK_EQ(a, b, "round %u cap %u: bytes skipped", round, cap);
		skipped += a;
		if (a == 0 || a != b)
			break;
	}
	(void)skipped;
	ok &= sk.len == ref.out_len && memcmp(sk.out, ref.out, sk.len) == 0;
	CHECK(ok, "round %u cap %u: delivered bytes differ from the reference", round, cap);
	CHECK_EQ(s.held, 0, "round %u: held after skipping", round);
	CHECK_EQ(s.next_seq, isn + 1 + ref.next, "round %u: next_seq", round);
	CHECK_EQ(s.stats.nb_bytes_delivered + sk.skipped, ref.next,
		 "round %u: delivered + skipped accounts for the stream", round);
	CHECK_EQ(sk.skipped, ref.skipped, "round %u: skipped", round);
	CHECK_EQ(s.stats.nb_gaps, ref.gaps, "round %u: gaps", round);
	CHECK_EQ(s.stats.nb_retrans_changed, ref.changed, "round %u: retransmissions changed",
		 round);
	CHECK_EQ(s.stats.nb_retrans_unchecked, ref.unchecked, "round %u: unchecked", round);
	CHECK_EQ(s.stats.nb_acks_ahead, ref.acks_ahead, "round %u: acknowledgements ahead", round);
	CHECK_EQ(s.stats.nb_overlap_mismatch, ref.mismatch, "round %u: mismatches", round);
	CHECK_EQ(s.stats.nb_hold_full, ref.hold_full, "round %u: hold full", round);
	CHECK_EQ(s.stats.nb_retransmitted, ref.retx, "round %u: retransmitted", round);
	return ok;
}

static void test_random(void)
{
	/* window large enough for the shuffle distance: exactly the original */
	for (unsigned round = 0; round < 40; round++) {
		uint32_t isn = round % 2 ? 0xffffffffu - rnd() % 3000 : rnd();

		random_run(2048, 8, 0, isn, round, round % 2, 0);
		CHECK(sk.len == REF_N && memcmp(sk.out, orig, REF_N) == 0,
		      "round %u: big window must deliver the original exactly", round);
		CHECK_EQ(ref.hold_full, 0, "round %u: big window never full", round);
	}
	/* small or no window, altered duplicates: compare with the model */
	for (unsigned round = 0; round < 200; round++) {
		static const uint32_t caps[] = { 0, 8, 64, 256, 8192 };
		uint32_t cap = caps[round % 5];
		uint32_t isn = round % 3 ? 0xfffff000u + rnd() % 0x2000 : rnd();

		unsigned alter_pct = round % 2 ? 30 : 0;

		if (!random_run(cap, 1 + round % 12, alter_pct, isn, round, round % 4 < 2, 0))
			break;
		/* what was delivered is the original in order, minus skipped gaps */
		if (alter_pct == 0) {
			uint32_t j = 0;

			for (uint32_t i = 0; i < REF_N && j < sk.len; i++)
				if (orig[i] == sk.out[j])
					j++;
			CHECK_EQ(j, sk.len, "round %u: not a subsequence", round);
		}
	}
}

/* The receiver acknowledging what it has, some segments lost before the
 * appliance (the receiver has them): the stream skips exactly what the
 * model skips, when it does. */
static void test_random_acked(void)
{
	for (unsigned round = 0; round < 120; round++) {
		static const uint32_t caps[] = { 0, 8, 64, 256, 8192 };
		uint32_t isn = round % 3 ? 0xfffff000u + rnd() % 0x2000 : rnd();

		if (!random_run(caps[round % 5], 1 + round % 12, round % 2 ? 30 : 0, isn, round,
				true, 1 + round % 10))
			break;
		CHECK(sk.skipped != 0 || round % 10 < 3, "round %u: nothing lost was skipped",
		      round);
	}
}

int main(void)
{
	test_scripts();
	test_init();
	test_random();
	test_random_acked();
	return CHECK_DONE();
}
