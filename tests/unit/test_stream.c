/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for common/stream.c: TCP reassembly of one direction.
 *
 * Scripts of SYN/segment/FIN/skip operations, each run at several initial
 * sequence numbers so that every script also crosses 2^32; then a
 * differential test against a byte-at-a-time reference model on random
 * segmentations, with shuffling, duplicates and altered retransmissions.
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

/* ---- scripts ---- */

enum { OP_END = 0, OP_SYN, OP_SEG, OP_FIN, OP_SKIP };

struct op {
	int kind;
	int32_t rel;      /* SEG/FIN: seq - (isn + 1); SYN: isn - base isn */
	const char *data; /* SEG payload */
	int expect;       /* SEG: anomaly returned; SKIP: bytes skipped */
};

struct script {
	const char *name;
	uint32_t cap;
	struct op ops[10];
	const char *want;  /* every byte delivered, in order */
	int32_t next_rel;  /* next_seq - (isn + 1) at the end */
	uint32_t held;
	bool fin;
	uint32_t retx, ooo, mismatch, hold_full, gaps;
};

#define SYN(r) { OP_SYN, (r), NULL, 0 }
#define SEG(r, d, e) { OP_SEG, (r), (d), (e) }
#define FIN(r) { OP_FIN, (r), NULL, 0 }
#define SKIP(n) { OP_SKIP, 0, NULL, (n) }
#define NONE RG_ANOM_NONE
#define OVERLAP RG_ANOM_STREAM_OVERLAP
#define FULL RG_ANOM_STREAM_HOLD_FULL
#define NO_SYN RG_ANOM_STREAM_NO_SYN

static const struct script scripts[] = {
	{ "in order", 64, { SYN(0), SEG(0, "abc", NONE), SEG(3, "def", NONE), SEG(6, "", NONE) },
	  "abcdef", 6, 0, false, 0, 0, 0, 0, 0 },
	{ "retransmission", 64,
	  { SYN(0), SEG(0, "abc", NONE), SEG(0, "abc", NONE), SEG(1, "bc", NONE),
	    SEG(-5, "zzzzz", NONE), SEG(2, "cdef", NONE) },
	  "abcdef", 6, 0, false, 3, 0, 0, 0, 0 },
	{ "partial overlap, old part not compared", 64,
	  { SYN(0), SEG(0, "abc", NONE), SEG(0, "XYZdef", NONE), SEG(-3, "PQRSTUVWXg", NONE) },
	  "abcdefg", 7, 0, false, 0, 0, 0, 0, 0 },
	{ "out of order then filled", 64,
	  { SYN(0), SEG(3, "def", NONE), SEG(0, "abc", NONE) },
	  "abcdef", 6, 0, false, 0, 1, 0, 0, 0 },
	{ "several holes", 64,
	  { SYN(0), SEG(6, "gh", NONE), SEG(2, "cd", NONE), SEG(8, "ij", NONE), SEG(0, "ab", NONE),
	    SEG(12, "m", NONE), SEG(4, "ef", NONE) },
	  "abcdefghij", 10, 1, false, 0, 4, 0, 0, 0 },
	{ "window exactly full", 16,
	  { SYN(0), SEG(1, "bcdefghijklmnop", NONE), SEG(0, "a", NONE) },
	  "abcdefghijklmnop", 16, 0, false, 0, 1, 0, 0, 0 },
	{ "window one byte over", 16,
	  { SYN(0), SEG(1, "bcdefghijklmnopq", FULL), SEG(0, "a", NONE), SEG(16, "q", NONE) },
	  "abcdefghijklmnopq", 17, 0, false, 0, 1, 0, 1, 0 },
	{ "last slot held, first beyond dropped", 16,
	  { SYN(0), SEG(15, "p", NONE), SEG(16, "q", FULL), SEG(0, "abcdefghijklmno", NONE) },
	  "abcdefghijklmnop", 16, 0, false, 0, 1, 0, 1, 0 },
	{ "no window", 0,
	  { SYN(0), SEG(1, "b", FULL), SEG(0, "a", NONE), SEG(1, "bc", NONE), SKIP(0) },
	  "abc", 3, 0, false, 0, 0, 0, 1, 0 },
	{ "held vs new mismatch, first copy wins", 64,
	  { SYN(0), SEG(3, "def", NONE), SEG(3, "dXf", OVERLAP), SEG(4, "eY", OVERLAP),
	    SEG(4, "efg", NONE), SEG(0, "abc", NONE) },
	  "abcdefg", 7, 0, false, 0, 4, 2, 0, 0 },
	{ "new vs held mismatch, held copy delivered", 64,
	  { SYN(0), SEG(2, "cd", NONE), SEG(0, "abXd", OVERLAP), SEG(4, "e", NONE) },
	  "abcde", 5, 0, false, 0, 1, 1, 0, 0 },
	{ "ring wrap, in-order over held run past the window", 8,
	  { SYN(0), SEG(2, "c", NONE), SEG(5, "f", NONE), SEG(0, "ab", NONE),
	    SEG(6, "ghijk", NONE), SEG(3, "deFGhijkLMNOPQ", OVERLAP) },
	  "abcdefghijkLMNOPQ", 17, 0, false, 0, 3, 1, 0, 0 },
	{ "hold across the ring end", 8,
	  { SYN(0), SEG(3, "d", NONE), SEG(0, "abc", NONE) /* nothing held after: head 0 */,
	    SEG(6, "g", NONE), SEG(4, "e", NONE) /* 4 is next: delivered */,
	    SEG(7, "hijklmn", FULL) /* window is [5, 13), slots 3..7, 0 */,
	    SEG(5, "f", NONE) },
	  "abcdefghijklm", 13, 0, false, 0, 3, 0, 1, 0 },
	{ "no SYN", 64,
	  { SEG(0, "abc", NO_SYN), SEG(3, "def", NONE), SEG(-2, "x", NONE), SEG(8, "i", NONE),
	    SEG(6, "gh", NONE) },
	  "abcdefghi", 9, 0, false, 1, 1, 0, 0, 0 },
	{ "no SYN told once", 8,
	  { SEG(0, "", NONE), SEG(0, "a", NO_SYN), SEG(2, "cdefghijk", FULL) },
	  "a", 1, 7, false, 0, 1, 0, 1, 0 },
	{ "SYN retransmitted", 64,
	  { SYN(0), SEG(0, "abc", NONE), SYN(0), SEG(3, "def", NONE), SYN(0) },
	  "abcdef", 6, 0, false, 0, 0, 0, 0, 0 },
	{ "new SYN after data: new connection", 64,
	  { SYN(0), SEG(0, "abc", NONE), SEG(10, "zz", NONE), FIN(12), SYN(1000),
	    SEG(1000, "xyz", NONE) },
	  "abcxyz", 1003, 0, false, 0, 1, 0, 0, 0 },
	{ "FIN after in-order data", 64,
	  { SYN(0), SEG(0, "abc", NONE), FIN(3) },
	  "abc", 3, 0, true, 0, 0, 0, 0, 0 },
	{ "FIN waits for a hole", 64,
	  { SYN(0), SEG(3, "def", NONE), FIN(6), SEG(0, "ab", NONE) },
	  "ab", 2, 3, false, 0, 1, 0, 0, 0 },
	{ "FIN reached when the hole fills", 64,
	  { SYN(0), SEG(3, "def", NONE), FIN(6), SEG(0, "abc", NONE) },
	  "abcdef", 6, 0, true, 0, 1, 0, 0, 0 },
	{ "skip gap", 64,
	  { SYN(0), SKIP(0), SEG(0, "ab", NONE), SEG(4, "efgh", NONE), SEG(10, "kl", NONE),
	    SKIP(2), SKIP(2), SKIP(0), SEG(8, "ij", NONE) },
	  "abefghkl", 12, 0, false, 1, 2, 0, 0, 2 },
	{ "skip gap twice in a small ring, FIN reached", 8,
	  { SYN(0), SEG(7, "h", NONE), SEG(0, "abcdef", NONE), SEG(11, "lm", NONE), FIN(13),
	    SKIP(1), SKIP(3) },
	  "abcdefhlm", 13, 0, true, 0, 2, 0, 0, 2 },
	{ "skip gap scanning across the ring end", 8,
	  { SYN(0), SEG(3, "d", NONE), SEG(0, "ab", NONE), SEG(9, "j", NONE), SEG(2, "c", NONE),
	    FIN(10), SKIP(5), SKIP(0) },
	  "abcdj", 10, 0, true, 0, 2, 0, 0, 1 },
};

static const uint32_t isns[] = { 1000, 0xfffffff0u, 0xffffffffu, 0x7ffffff8u, 0xfffffffau };

static void run_script(const struct script *sc, uint32_t isn)
{
	static struct sink k;
	uint8_t hold[64], map[8];
	struct rg_stream s;
	uint32_t base = isn + 1;

	memset(&k, 0, sizeof(k));
	memset(hold, 0xcc, sizeof(hold));
	memset(map, 0, sizeof(map));
	rg_stream_init(&s, sc->cap ? hold : NULL, sc->cap ? map : NULL, sc->cap);
	for (const struct op *o = sc->ops; o->kind != OP_END; o++) {
		int got;

		switch (o->kind) {
		case OP_SYN:
			rg_stream_syn(&s, isn + (uint32_t)o->rel);
			break;
		case OP_SEG:
			got = rg_stream_segment(&s, base + (uint32_t)o->rel,
						(const uint8_t *)o->data,
						(uint32_t)strlen(o->data), sink_deliver, &k);
			CHECK_EQ(got, o->expect, "%s isn %#x: op %d", sc->name, isn,
				 (int)(o - sc->ops));
			break;
		case OP_FIN:
			rg_stream_fin(&s, base + (uint32_t)o->rel);
			break;
		case OP_SKIP:
			got = (int)rg_stream_skip_gap(&s, sink_deliver, &k);
			CHECK_EQ(got, o->expect, "%s isn %#x: op %d", sc->name, isn,
				 (int)(o - sc->ops));
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

	rg_stream_init(&s, hold, map, 16);
	CHECK_EQ(map[0], 0, "map cleared");
	CHECK_EQ(map[1], 0, "map cleared");
	CHECK(!s.synced && !s.fin && s.held == 0 && s.cap == 16, "fresh stream");
	CHECK(!rg_stream_waiting(&s), "fresh stream not waiting");
	/* a FIN before sync does not finish the stream */
	rg_stream_fin(&s, 6);
	CHECK(!s.fin, "FIN unsynced");
	memset(&k, 0, sizeof(k));
	CHECK_EQ(rg_stream_segment(&s, 2, (const uint8_t *)"abc", 3, sink_deliver, &k),
		 RG_ANOM_STREAM_NO_SYN, "first data");
	CHECK(!s.fin, "FIN not reached");
	CHECK_EQ(rg_stream_segment(&s, 5, (const uint8_t *)"d", 1, sink_deliver, &k),
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
	uint8_t byte[REF_N + 256];
	bool held[REF_N + 256];
	uint32_t nb_held;
	uint8_t out[OUT_MAX];
	uint32_t out_len;
	uint64_t mismatch, hold_full, retx;
};

static void ref_drain(struct ref *r)
{
	while (r->held[r->next]) {
		r->held[r->next] = false;
		r->nb_held--;
		r->out[r->out_len++] = r->byte[r->next++];
	}
}

/* Byte at a time, straight from the rules in stream.h. */
static void ref_segment(struct ref *r, uint32_t off, const uint8_t *d, uint32_t len)
{
	bool mm = false, full = false;

	if (len == 0)
		return;
	if (off + len <= r->next) {
		r->retx++;
		return;
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
			r->out[r->out_len++] = r->byte[at];
			r->next = at + 1;
		}
		ref_drain(r);
	} else {
		for (uint32_t i = 0; i < len; i++) {
			uint32_t at = off + i;

			if (at - r->next >= r->cap) {
				full = true;
				break;
			}
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

static uint32_t ref_skip(struct ref *r)
{
	uint32_t at = r->next;

	if (r->nb_held == 0)
		return 0;
	while (!r->held[at])
		at++;
	at -= r->next;
	r->next += at;
	ref_drain(r);
	return at;
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
		       unsigned round)
{
	unsigned nb = 0;
	uint32_t at = 0, skipped = 0;
	struct rg_stream s;
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
	memset(&sk, 0, sizeof(sk));
	rg_stream_init(&s, cap ? hold_big : NULL, cap ? map_big : NULL, cap);
	rg_stream_syn(&s, isn);

	for (unsigned i = 0; i < nb; i++) {
		uint8_t d[160];
		const struct seg *g = &segs[i];

		memcpy(d, orig + g->off, g->len);
		if (g->alter)
			d[rnd() % g->len] ^= 0x5a;
		rg_stream_segment(&s, isn + 1 + g->off, d, g->len, sink_deliver, &sk);
		ref_segment(&ref, g->off, d, g->len);
		if (s.held != ref.nb_held || sk.len != ref.out_len) {
			CHECK(0, "round %u cap %u: after segment %u held %u/%u out %u/%u", round,
			      cap, i, s.held, ref.nb_held, sk.len, ref.out_len);
			return false;
		}
	}
	while (rg_stream_waiting(&s)) {
		uint32_t a = rg_stream_skip_gap(&s, sink_deliver, &sk);
		uint32_t b = ref_skip(&ref);

		CHECK_EQ(a, b, "round %u cap %u: bytes skipped", round, cap);
		skipped += a;
		if (a == 0 || a != b)
			break;
	}
	ok &= sk.len == ref.out_len && memcmp(sk.out, ref.out, sk.len) == 0;
	CHECK(ok, "round %u cap %u: delivered bytes differ from the reference", round, cap);
	CHECK_EQ(s.held, 0, "round %u: held after skipping", round);
	CHECK_EQ(s.next_seq, isn + 1 + ref.next, "round %u: next_seq", round);
	CHECK_EQ(s.stats.nb_bytes_delivered + skipped, ref.next,
		 "round %u: delivered + skipped accounts for the stream", round);
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

		random_run(2048, 8, 0, isn, round);
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

		if (!random_run(cap, 1 + round % 12, alter_pct, isn, round))
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

int main(void)
{
	test_scripts();
	test_init();
	test_random();
	return CHECK_DONE();
}
