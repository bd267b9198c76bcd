/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for common/frame.c: spec strings, length headers and the framer.
 *
 * Streams are built here with the test's own length encoder (checked against
 * literal wire bytes first), then fed whole, cut at every offset into two
 * pieces, byte by byte and in pseudo-random pieces; every run must yield the
 * same events, at the same absolute stream offsets, with the same bytes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/frame.h"
#include "check.h"

/* ---- spec strings ---- */

struct parse_case {
	const char *spec;
	int rc;
	uint8_t len_kind;
	uint8_t hdr_bytes;
	uint8_t tpdu;
	const char *name;    /* canonical name, valid specs */
	const char *err_has; /* expected in the error message, invalid specs */
};

static const struct parse_case parse_cases[] = {
	{ "len2", 0, RG_FRAME_LEN2, 0, 0, "len2", NULL },
	{ "len2i", 0, RG_FRAME_LEN2_INCL, 0, 0, "len2i", NULL },
	{ "ascii4", 0, RG_FRAME_ASCII4, 0, 0, "ascii4", NULL },
	{ "bcd2", 0, RG_FRAME_BCD2, 0, 0, "bcd2", NULL },
	{ "len2+tpdu", 0, RG_FRAME_LEN2, 5, 1, "len2+tpdu", NULL },
	{ "len2i+tpdu", 0, RG_FRAME_LEN2_INCL, 5, 1, "len2i+tpdu", NULL },
	{ "ascii4+tpdu", 0, RG_FRAME_ASCII4, 5, 1, "ascii4+tpdu", NULL },
	{ "bcd2+tpdu", 0, RG_FRAME_BCD2, 5, 1, "bcd2+tpdu", NULL },
	{ "len2+hdr1", 0, RG_FRAME_LEN2, 1, 0, "len2+hdr1", NULL },
	{ "len2+hdr5", 0, RG_FRAME_LEN2, 5, 0, "len2+hdr5", NULL },
	{ "ascii4+hdr12", 0, RG_FRAME_ASCII4, 12, 0, "ascii4+hdr12", NULL },
	{ "bcd2+hdr64", 0, RG_FRAME_BCD2, 64, 0, "bcd2+hdr64", NULL },
	{ NULL, 0, RG_FRAME_LEN2, 0, 0, "len2", NULL },
	{ "", -EINVAL, 0, 0, 0, NULL, "empty" },
	{ "len3", -EINVAL, 0, 0, 0, NULL, "unknown length kind 'len3'" },
	{ "LEN2", -EINVAL, 0, 0, 0, NULL, "unknown length kind 'LEN2'" },
	{ " len2", -EINVAL, 0, 0, 0, NULL, "unknown length kind ' len2'" },
	{ "len2 ", -EINVAL, 0, 0, 0, NULL, "unknown length kind 'len2 '" },
	{ "+tpdu", -EINVAL, 0, 0, 0, NULL, "unknown length kind ''" },
	{ "len2+", -EINVAL, 0, 0, 0, NULL, "unknown header '+'" },
	{ "len2+tpd", -EINVAL, 0, 0, 0, NULL, "unknown header '+tpd'" },
	{ "len2+tpdux", -EINVAL, 0, 0, 0, NULL, "unknown header '+tpdux'" },
	{ "len2+TPDU", -EINVAL, 0, 0, 0, NULL, "unknown header '+TPDU'" },
	{ "len2+hdr", -EINVAL, 0, 0, 0, NULL, "needs a byte count" },
	{ "len2+hdr0", -EINVAL, 0, 0, 0, NULL, "header length '0' must be 1..64" },
	{ "len2+hdr65", -EINVAL, 0, 0, 0, NULL, "header length '65' must be 1..64" },
	{ "len2+hdr05", -EINVAL, 0, 0, 0, NULL, "header length '05'" },
	{ "len2+hdr999999999999", -EINVAL, 0, 0, 0, NULL, "must be 1..64" },
	{ "len2+hdrx", -EINVAL, 0, 0, 0, NULL, "header length 'x' is not a decimal number" },
	{ "len2+hdr-1", -EINVAL, 0, 0, 0, NULL, "header length '-1' is not a decimal number" },
	{ "len2+tpdu+hdr3", -EINVAL, 0, 0, 0, NULL, "only one +tpdu or +hdrN" },
	{ "len2++", -EINVAL, 0, 0, 0, NULL, "only one +tpdu or +hdrN" },
	{ "len2+hdr3+tpdu", -EINVAL, 0, 0, 0, NULL, "only one +tpdu or +hdrN" },
	{ "len2+hdr3+hdr3", -EINVAL, 0, 0, 0, NULL, "only one +tpdu or +hdrN" },
	{ "ascii4+hdr3xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", -EINVAL, 0, 0, 0, NULL, "longer than 48" },
};

static void test_parse(void)
{
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *c = &parse_cases[i];
		struct rg_framing f = { .len_kind = 99, .max_msg_bytes = 7 };
		char err[160] = "untouched";
		char name[RG_FRAME_SPEC_MAX];
		int rc = rg_framing_parse(c->spec, &f, err, sizeof(err));
		const char *sp = c->spec ? c->spec : "(null)";

		CHECK_EQ(rc, c->rc, "spec '%s'", sp);
		if (c->rc != 0) {
			CHECK(strstr(err, c->err_has) != NULL,
			      "spec '%s': error '%s' lacks '%s'", sp, err, c->err_has);
			CHECK_EQ(f.len_kind, 99, "spec '%s': f written on error", sp);
			continue;
		}
		CHECK_EQ(err[0], '\0', "spec '%s': error '%s' on success", sp, err);
		CHECK_EQ(f.len_kind, c->len_kind, "spec '%s'", sp);
		CHECK_EQ(f.hdr_bytes, c->hdr_bytes, "spec '%s'", sp);
		CHECK_EQ(f.tpdu, c->tpdu, "spec '%s'", sp);
		CHECK_EQ(f.max_msg_bytes, RG_FRAME_DEFAULT_MAX, "spec '%s'", sp);
		CHECK_EQ(rg_framing_len_bytes(&f), c->len_kind == RG_FRAME_ASCII4 ? 4 : 2,
			 "spec '%s'", sp);
		rg_framing_name(&f, name, sizeof(name));
		CHECK(strcmp(name, c->name) == 0, "spec '%s': name '%s'", sp, name);
	}

	/* a long erroneous spec must not overrun a small error buffer */
	{
		struct rg_framing f;
		char err[8];

		memset(err, 'z', sizeof(err));
		CHECK_EQ(rg_framing_parse("nope+hdr1", &f, err, 4), -EINVAL, "small err");
		CHECK_EQ(err[3], '\0', "small err terminated");
		CHECK_EQ(err[4], 'z', "small err overrun");
		CHECK_EQ(rg_framing_parse("nope", &f, NULL, 0), -EINVAL, "NULL err");
	}
}

/* ---- length headers ---- */

struct put_case {
	uint8_t kind;
	uint32_t msg_len;
	int rc;
	const char *wire;
};

static const struct put_case put_cases[] = {
	{ RG_FRAME_LEN2, 0, 2, "\x00\x00" },
	{ RG_FRAME_LEN2, 207, 2, "\x00\xcf" },
	{ RG_FRAME_LEN2, 256, 2, "\x01\x00" },
	{ RG_FRAME_LEN2, 65535, 2, "\xff\xff" },
	{ RG_FRAME_LEN2, 65536, -ERANGE, NULL },
	{ RG_FRAME_LEN2, UINT32_MAX, -ERANGE, NULL },
	{ RG_FRAME_LEN2_INCL, 0, 2, "\x00\x02" },
	{ RG_FRAME_LEN2_INCL, 207, 2, "\x00\xd1" },
	{ RG_FRAME_LEN2_INCL, 65533, 2, "\xff\xff" },
	{ RG_FRAME_LEN2_INCL, 65534, -ERANGE, NULL },
	{ RG_FRAME_LEN2_INCL, UINT32_MAX, -ERANGE, NULL },
	{ RG_FRAME_ASCII4, 0, 4, "0000" },
	{ RG_FRAME_ASCII4, 207, 4, "0207" },
	{ RG_FRAME_ASCII4, 1030, 4, "1030" },
	{ RG_FRAME_ASCII4, 9999, 4, "9999" },
	{ RG_FRAME_ASCII4, 10000, -ERANGE, NULL },
	{ RG_FRAME_BCD2, 0, 2, "\x00\x00" },
	{ RG_FRAME_BCD2, 207, 2, "\x02\x07" },
	{ RG_FRAME_BCD2, 1030, 2, "\x10\x30" },
	{ RG_FRAME_BCD2, 9999, 2, "\x99\x99" },
	{ RG_FRAME_BCD2, 10000, -ERANGE, NULL },
};

static void test_put_len(void)
{
	for (size_t i = 0; i < sizeof(put_cases) / sizeof(put_cases[0]); i++) {
		const struct put_case *c = &put_cases[i];
		struct rg_framing f = { .len_kind = c->kind, .max_msg_bytes = 9999 };
		uint8_t out[8] = { 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee };
		int rc = rg_framing_put_len(&f, c->msg_len, out);

		CHECK_EQ(rc, c->rc, "put kind %u len %u", c->kind, c->msg_len);
		if (c->rc < 0) {
			CHECK_EQ(out[0], 0xee, "written on -ERANGE");
			continue;
		}
		CHECK(memcmp(out, c->wire, (size_t)c->rc) == 0, "put kind %u len %u wire",
		      c->kind, c->msg_len);
		CHECK_EQ(out[c->rc], 0xee, "put kind %u len %u overrun", c->kind, c->msg_len);
	}
}

/* ---- framer driving ---- */

#define MAX_EVENTS 64
#define STREAM_MAX 24000

struct event {
	int ret;
	uint64_t off;
	uint32_t hdr_len;
	uint32_t msg_len;
	uint8_t anomaly;
	bool in_piece;   /* msg pointed into the piece fed (zero copy) */
	uint32_t sum;    /* checksum of hdr and msg bytes */
};

struct run {
	struct event ev[MAX_EVENTS];
	unsigned nb;
	unsigned nb_zero_copy;
};

static uint32_t sum_bytes(uint32_t h, const uint8_t *p, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		h = h * 31 + p[i] + 1;
	return h;
}

static void record(struct run *r, enum rg_frame_ret ret, const struct rg_frame *fm,
		   const uint8_t *piece, uint32_t piece_len)
{
	struct event *e;

	if (r->nb == MAX_EVENTS)
		return;
	e = &r->ev[r->nb++];
	memset(e, 0, sizeof(*e));
	e->ret = ret;
	e->off = fm->stream_off;
	if (ret == RG_FRAME_ERROR)
		e->anomaly = fm->anomaly;
	if (ret != RG_FRAME_MSG)
		return;
	e->hdr_len = fm->hdr_len;
	e->msg_len = fm->msg_len;
	e->sum = sum_bytes(sum_bytes(0, fm->hdr, fm->hdr_len), fm->msg, fm->msg_len);
	e->in_piece = fm->msg >= piece && fm->msg + fm->msg_len <= piece + piece_len;
	if (e->in_piece)
		r->nb_zero_copy++;
}

/* Feed s[0..len) as pieces ending at cuts[] (ascending, last == len). */
static void drive(struct rg_framer *fr, const uint8_t *s, const uint32_t *cuts,
		  unsigned nb_cuts, struct run *r)
{
	uint32_t start = 0;
	struct rg_frame fm;
	enum rg_frame_ret ret;

	memset(r, 0, sizeof(*r));
	for (unsigned c = 0; c < nb_cuts; c++) {
		rg_framer_feed(fr, s + start, cuts[c] - start);
		while ((ret = rg_framer_next(fr, &fm)) != RG_FRAME_NEED_MORE)
			record(r, ret, &fm, s + start, cuts[c] - start);
		CHECK_EQ(fr->in_len, 0, "piece not used up");
		start = cuts[c];
	}
}

/* The test's own length encoder: body = fixed header + message bytes. */
static uint32_t enc_len(uint8_t kind, uint32_t body, uint8_t *out)
{
	switch (kind) {
	case RG_FRAME_LEN2:
		out[0] = (uint8_t)(body >> 8);
		out[1] = (uint8_t)body;
		return 2;
	case RG_FRAME_LEN2_INCL:
		out[0] = (uint8_t)((body + 2) >> 8);
		out[1] = (uint8_t)(body + 2);
		return 2;
	case RG_FRAME_ASCII4:
		for (int i = 3; i >= 0; i--, body /= 10)
			out[i] = (uint8_t)('0' + body % 10);
		return 4;
	default:
		out[0] = (uint8_t)((body / 1000) << 4 | (body / 100) % 10);
		out[1] = (uint8_t)(((body / 10) % 10) << 4 | body % 10);
		return 2;
	}
}

struct stream_build {
	uint8_t s[STREAM_MAX];
	uint32_t len;
	struct event want[MAX_EVENTS];
	unsigned nb;
};

/* Append a frame of body bytes (0 = keep-alive) and its expected event. */
static void add_frame(struct stream_build *b, const struct rg_framing *f, uint32_t body,
		      uint8_t seed)
{
	struct event *e = &b->want[b->nb++];
	uint32_t lb = enc_len(f->len_kind, body, b->s + b->len);

	memset(e, 0, sizeof(*e));
	e->off = b->len;
	b->len += lb;
	for (uint32_t i = 0; i < body; i++)
		b->s[b->len + i] = (uint8_t)(seed + i * 7);
	if (body == 0) {
		e->ret = RG_FRAME_KEEPALIVE;
		return;
	}
	e->ret = RG_FRAME_MSG;
	e->hdr_len = f->hdr_bytes;
	e->msg_len = body - f->hdr_bytes;
	e->sum = sum_bytes(0, b->s + b->len, body);
	b->len += body;
}

static bool same_events(const struct run *r, const struct event *want, unsigned nb,
			const char *what, const char *spec, uint32_t cut)
{
	bool ok = r->nb == nb;

	CHECK_EQ(r->nb, nb, "%s %s cut %u: event count", spec, what, cut);
	for (unsigned i = 0; ok && i < nb; i++) {
		const struct event *g = &r->ev[i], *w = &want[i];

		if (g->ret != w->ret || g->off != w->off || g->anomaly != w->anomaly ||
		    g->hdr_len != w->hdr_len || g->msg_len != w->msg_len || g->sum != w->sum) {
			CHECK(0, "%s %s cut %u: event %u: got ret %d off %llu anom %u hdr %u msg %u, "
			      "want ret %d off %llu anom %u hdr %u msg %u%s", spec, what, cut, i,
			      g->ret, (unsigned long long)g->off, g->anomaly, g->hdr_len, g->msg_len,
			      w->ret, (unsigned long long)w->off, w->anomaly, w->hdr_len, w->msg_len,
			      g->sum != w->sum ? " (bytes differ)" : "");
			ok = false;
		}
	}
	return ok;
}

static uint32_t rnd_state = 12345;

static uint32_t rnd(void)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return rnd_state >> 8;
}

/* Run one stream through every way of cutting it. */
static void check_all_cuts(const struct rg_framing *f, const struct stream_build *b,
			   const char *spec)
{
	static uint8_t buf[RG_FRAME_DEFAULT_MAX + 8];
	static uint32_t cuts[STREAM_MAX];
	struct rg_framer fr;
	struct run r;
	uint32_t n;

	CHECK_EQ(rg_framer_init(&fr, f, buf, f->max_msg_bytes + 4), 0, "%s init", spec);

	/* whole: every message is zero copy */
	cuts[0] = b->len;
	rg_framer_reset(&fr);
	drive(&fr, b->s, cuts, 1, &r);
	same_events(&r, b->want, b->nb, "whole", spec, b->len);
	CHECK_EQ(fr.stream_off, b->len, "%s whole: stream_off", spec);
	for (unsigned i = 0; i < r.nb; i++)
		CHECK(r.ev[i].ret != RG_FRAME_MSG || r.ev[i].in_piece,
		      "%s whole: message %u copied", spec, i);

	/* two pieces, cut at every offset; stream_off goes on across inits */
	for (uint32_t cut = 0; cut <= b->len; cut++) {
		rg_framer_init(&fr, f, buf, f->max_msg_bytes + 4);
		cuts[0] = cut;
		cuts[1] = b->len;
		drive(&fr, b->s, cuts, 2, &r);
		if (!same_events(&r, b->want, b->nb, "2 pieces", spec, cut))
			break;
	}

	/* byte by byte */
	rg_framer_init(&fr, f, buf, f->max_msg_bytes + 4);
	for (n = 0; n < b->len; n++)
		cuts[n] = n + 1;
	drive(&fr, b->s, cuts, n, &r);
	same_events(&r, b->want, b->nb, "1-byte pieces", spec, 1);

	/* random pieces, empty ones included */
	for (int round = 0; round < 200; round++) {
		uint32_t at = 0;

		rg_framer_init(&fr, f, buf, f->max_msg_bytes + 4);
		for (n = 0; at < b->len; n++) {
			uint32_t step = rnd() % (round % 2 ? 9 : 400);

			at = at + step > b->len ? b->len : at + step;
			cuts[n] = at;
		}
		drive(&fr, b->s, cuts, n, &r);
		if (!same_events(&r, b->want, b->nb, "random pieces", spec, (uint32_t)round))
			break;
	}
}

static const char *const framing_specs[] = {
	"len2", "len2i", "ascii4", "bcd2", "len2+tpdu", "len2i+hdr1",
	"ascii4+tpdu", "ascii4+hdr3", "bcd2+tpdu", "bcd2+hdr64",
};

static void test_streams(void)
{
	static struct stream_build b;

	for (size_t i = 0; i < sizeof(framing_specs) / sizeof(framing_specs[0]); i++) {
		struct rg_framing f;
		uint32_t h;

		CHECK_EQ(rg_framing_parse(framing_specs[i], &f, NULL, 0), 0, "%s", framing_specs[i]);
		f.max_msg_bytes = 300;
		h = f.hdr_bytes;
		memset(&b, 0, sizeof(b));
		/* keep-alives first, between, doubled and last; smallest and largest bodies */
		add_frame(&b, &f, 0, 1);
		add_frame(&b, &f, h + 1, 2);
		add_frame(&b, &f, h + 10, 3);
		add_frame(&b, &f, 0, 4);
		if (h != 0)
			add_frame(&b, &f, h, 5); /* header only, empty message */
		add_frame(&b, &f, h + 200, 6);
		add_frame(&b, &f, 0, 7);
		add_frame(&b, &f, 0, 8);
		add_frame(&b, &f, 300, 9); /* exactly max_msg_bytes */
		add_frame(&b, &f, h + 37, 10);
		add_frame(&b, &f, 0, 11);
		check_all_cuts(&f, &b, framing_specs[i]);
	}

	/* default maximum, exactly: 8192 accepted */
	{
		struct rg_framing f;

		rg_framing_parse("len2", &f, NULL, 0);
		memset(&b, 0, sizeof(b));
		add_frame(&b, &f, 100, 1);
		add_frame(&b, &f, RG_FRAME_DEFAULT_MAX, 2);
		add_frame(&b, &f, 0, 3);
		add_frame(&b, &f, RG_FRAME_DEFAULT_MAX, 4);
		check_all_cuts(&f, &b, "len2 max 8192");
	}
}

/* ---- errors, the lost state and reset ---- */

struct err_case {
	const char *spec;
	uint32_t max;
	const char *in;
	uint32_t in_len;
	unsigned nb;
	struct event want[4]; /* the last one is the error */
};

#define IN(s) s, sizeof(s) - 1
#define EV_KA(o) { .ret = RG_FRAME_KEEPALIVE, .off = (o) }
#define EV_ERR(o, a) { .ret = RG_FRAME_ERROR, .off = (o), .anomaly = (a) }

static const struct err_case err_cases[] = {
	/* above the maximum, after a keep-alive and a message */
	{ "len2", 300, IN("\x00\x00\x00\x01X\x01\x2d"), 3,
	  { EV_KA(0), { .ret = RG_FRAME_MSG, .off = 2, .msg_len = 1, .sum = 'X' + 1 },
	    EV_ERR(5, RG_ANOM_FRAME_TOO_LONG) } },
	{ "len2", RG_FRAME_DEFAULT_MAX, IN("\x20\x01"), 1, { EV_ERR(0, RG_ANOM_FRAME_TOO_LONG) } },
	{ "len2", RG_FRAME_DEFAULT_MAX, IN("\xff\xff"), 1, { EV_ERR(0, RG_ANOM_FRAME_TOO_LONG) } },
	{ "len2i", 300, IN("\x01\x2f"), 1, { EV_ERR(0, RG_ANOM_FRAME_TOO_LONG) } },
	{ "ascii4", 300, IN("00000301"), 2, { EV_KA(0), EV_ERR(4, RG_ANOM_FRAME_TOO_LONG) } },
	{ "bcd2", 300, IN("\x00\x00\x03\x01"), 2, { EV_KA(0), EV_ERR(2, RG_ANOM_FRAME_TOO_LONG) } },
	{ "bcd2", 300, IN("\x99\x99"), 1, { EV_ERR(0, RG_ANOM_FRAME_TOO_LONG) } },
	/* shorter than the fixed header */
	{ "len2+tpdu", 300, IN("\x00\x00\x00\x04TPDU"), 2,
	  { EV_KA(0), EV_ERR(2, RG_ANOM_FRAME_TOO_SHORT) } },
	{ "len2+tpdu", 300, IN("\x00\x01T"), 1, { EV_ERR(0, RG_ANOM_FRAME_TOO_SHORT) } },
	{ "len2i+tpdu", 300, IN("\x00\x06TPDU"), 1, { EV_ERR(0, RG_ANOM_FRAME_TOO_SHORT) } },
	{ "ascii4+tpdu", 300, IN("0004TPDU"), 1, { EV_ERR(0, RG_ANOM_FRAME_TOO_SHORT) } },
	{ "bcd2+hdr64", 300, IN("\x00\x63"), 1, { EV_ERR(0, RG_ANOM_FRAME_TOO_SHORT) } },
	/* len2i counts itself: 2 is the keep-alive, 0 and 1 are impossible */
	{ "len2i", 300, IN("\x00\x02\x00\x01"), 2, { EV_KA(0), EV_ERR(2, RG_ANOM_FRAME_TOO_SHORT) } },
	{ "len2i", 300, IN("\x00\x00"), 1, { EV_ERR(0, RG_ANOM_FRAME_TOO_SHORT) } },
	/* not a number */
	{ "ascii4", 300, IN("02A7"), 1, { EV_ERR(0, RG_ANOM_FRAME_BAD_HEADER) } },
	{ "ascii4", 300, IN("0000 207"), 2, { EV_KA(0), EV_ERR(4, RG_ANOM_FRAME_BAD_HEADER) } },
	{ "ascii4", 300, IN("000/"), 1, { EV_ERR(0, RG_ANOM_FRAME_BAD_HEADER) } },
	{ "ascii4", 300, IN("000:"), 1, { EV_ERR(0, RG_ANOM_FRAME_BAD_HEADER) } },
	{ "ascii4", 300, IN("\x00\x00\x00\x05"), 1, { EV_ERR(0, RG_ANOM_FRAME_BAD_HEADER) } },
	{ "bcd2", 300, IN("\x0a\x07"), 1, { EV_ERR(0, RG_ANOM_FRAME_BAD_HEADER) } },
	{ "bcd2", 300, IN("\x02\x7f"), 1, { EV_ERR(0, RG_ANOM_FRAME_BAD_HEADER) } },
	{ "bcd2", 300, IN("\x00\x00\xa0\x00"), 2, { EV_KA(0), EV_ERR(2, RG_ANOM_FRAME_BAD_HEADER) } },
	{ "bcd2", 300, IN("\x00\xf0"), 1, { EV_ERR(0, RG_ANOM_FRAME_BAD_HEADER) } },
};

static void test_errors(void)
{
	static uint8_t buf[RG_FRAME_DEFAULT_MAX + 8];
	/* a frame that would be valid under every framing here, never seen */
	static const uint8_t tail[] = "0000\x00\x00\x00\x00";

	for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
		const struct err_case *c = &err_cases[i];
		uint8_t s[64];
		uint32_t len = c->in_len + (uint32_t)sizeof(tail) - 1, cuts[64], n;
		struct rg_framing f;
		struct rg_framer fr;
		struct rg_frame fm;
		struct run r;

		memcpy(s, c->in, c->in_len);
		memcpy(s + c->in_len, tail, sizeof(tail) - 1);
		CHECK_EQ(rg_framing_parse(c->spec, &f, NULL, 0), 0, "%s", c->spec);
		f.max_msg_bytes = c->max;

		for (uint32_t cut = 0; cut <= len; cut++) {
			rg_framer_init(&fr, &f, buf, sizeof(buf));
			cuts[0] = cut;
			cuts[1] = len;
			drive(&fr, s, cuts, 2, &r);
			same_events(&r, c->want, c->nb, "error", c->spec, cut);
			CHECK(fr.lost, "%s cut %u: not lost", c->spec, cut);
			CHECK_EQ(fr.stream_off, len, "%s cut %u: stream_off", c->spec, cut);
		}
		rg_framer_init(&fr, &f, buf, sizeof(buf));
		for (n = 0; n < len; n++)
			cuts[n] = n + 1;
		drive(&fr, s, cuts, n, &r);
		same_events(&r, c->want, c->nb, "error 1-byte", c->spec, 1);

		/* lost: more input is swallowed and counted */
		rg_framer_feed(&fr, tail, 4);
		CHECK_EQ(rg_framer_next(&fr, &fm), RG_FRAME_NEED_MORE, "%s lost", c->spec);
		CHECK_EQ(fr.in_len, 0, "%s lost: piece not used up", c->spec);

		/* reset: the next byte fed starts a length header; offsets go on */
		rg_framer_reset(&fr);
		{
			uint8_t fresh[80];
			uint32_t lb = enc_len(f.len_kind, f.hdr_bytes + 3u, fresh);

			memset(fresh + lb, 'M', f.hdr_bytes + 3u);
			rg_framer_feed(&fr, fresh, lb + f.hdr_bytes + 3u);
			CHECK_EQ(rg_framer_next(&fr, &fm), RG_FRAME_MSG, "%s after reset", c->spec);
			CHECK_EQ(fm.stream_off, len + 4, "%s after reset: stream_off", c->spec);
			CHECK_EQ(fm.msg_len, 3, "%s after reset: msg_len", c->spec);
			CHECK_EQ(fm.hdr_len, f.hdr_bytes, "%s after reset: hdr_len", c->spec);
			CHECK_EQ(rg_framer_next(&fr, &fm), RG_FRAME_NEED_MORE, "%s after reset", c->spec);
		}
	}
}

/* Reset in the middle of a piece drops the rest of that piece. */
static void test_reset_mid_piece(void)
{
	static uint8_t buf[64];
	static const uint8_t s[] = "\x00\x03" "abc" "\x00\x30" "\x00\x01" "z";
	struct rg_framing f;
	struct rg_framer fr;
	struct rg_frame fm;

	rg_framing_parse("len2", &f, NULL, 0);
	f.max_msg_bytes = 40;
	CHECK_EQ(rg_framer_init(&fr, &f, buf, 43), -EINVAL, "cap max+3");
	CHECK_EQ(rg_framer_init(&fr, &f, NULL, 44), -EINVAL, "NULL buf");
	CHECK_EQ(rg_framer_init(&fr, &f, buf, 44), 0, "cap max+4");

	rg_framer_feed(&fr, s, sizeof(s) - 1);
	CHECK_EQ(rg_framer_next(&fr, &fm), RG_FRAME_MSG, "first");
	CHECK(fm.msg == s + 2 && fm.msg_len == 3 && fm.hdr == NULL && fm.hdr_len == 0,
	      "first in place");
	CHECK_EQ(rg_framer_next(&fr, &fm), RG_FRAME_ERROR, "0x30 > 40? no: 48 > 40");
	CHECK_EQ(fm.anomaly, RG_ANOM_FRAME_TOO_LONG, "anomaly");
	CHECK_EQ(fm.stream_off, 5, "error offset");
	rg_framer_reset(&fr);
	CHECK_EQ(fr.stream_off, sizeof(s) - 1, "reset counts the dropped rest");
	CHECK_EQ(rg_framer_next(&fr, &fm), RG_FRAME_NEED_MORE, "rest dropped");

	/* a partial frame is forgotten by reset */
	rg_framer_feed(&fr, s, 4);
	CHECK_EQ(rg_framer_next(&fr, &fm), RG_FRAME_NEED_MORE, "partial");
	CHECK_EQ(fr.have, 4, "partial kept");
	rg_framer_reset(&fr);
	CHECK_EQ(fr.have, 0, "partial forgotten");
	rg_framer_feed(&fr, s + 5, 2);
	CHECK_EQ(rg_framer_next(&fr, &fm), RG_FRAME_ERROR, "header after reset");
	CHECK_EQ(fm.stream_off, sizeof(s) - 1 + 4, "offset after reset");

	/* an unused piece dropped by the next feed still counts */
	rg_framer_init(&fr, &f, buf, 44);
	rg_framer_feed(&fr, s, 5);
	rg_framer_feed(&fr, s, 5);
	CHECK_EQ(rg_framer_next(&fr, &fm), RG_FRAME_MSG, "second feed");
	CHECK_EQ(fm.stream_off, 5, "second feed offset");
}

/* A fixed header is returned apart from the message; split frames are copied. */
static void test_header_split(void)
{
	static uint8_t buf[RG_FRAME_DEFAULT_MAX + 4];
	static const uint8_t s[] = "0012" "\x60\x00\x01\x00\x02" "0800abc";
	struct rg_framing f;
	struct rg_framer fr;
	struct rg_frame fm;

	rg_framing_parse("ascii4+tpdu", &f, NULL, 0);
	rg_framer_init(&fr, &f, buf, sizeof(buf));
	rg_framer_feed(&fr, s, sizeof(s) - 1);
	CHECK_EQ(rg_framer_next(&fr, &fm), RG_FRAME_MSG, "tpdu whole");
	CHECK(fm.hdr == s + 4 && fm.hdr_len == 5, "tpdu in place");
	CHECK(fm.msg == s + 9 && fm.msg_len == 7, "msg in place");
	CHECK_EQ(fm.stream_off, 0, "offset");

	rg_framer_feed(&fr, s, 3);
	CHECK_EQ(rg_framer_next(&fr, &fm), RG_FRAME_NEED_MORE, "split length");
	rg_framer_feed(&fr, s + 3, sizeof(s) - 4);
	CHECK_EQ(rg_framer_next(&fr, &fm), RG_FRAME_MSG, "split");
	CHECK(fm.hdr == buf + 4 && fm.msg == buf + 9, "split frame in the buffer");
	CHECK(memcmp(fm.hdr, "\x60\x00\x01\x00\x02", 5) == 0, "tpdu bytes");
	CHECK(memcmp(fm.msg, "0800abc", 7) == 0, "msg bytes");
	CHECK_EQ(fm.stream_off, sizeof(s) - 1, "split offset");
}

int main(void)
{
	test_parse();
	test_put_len();
	test_streams();
	test_errors();
	test_reset_mid_piece();
	test_header_split();
	return CHECK_DONE();
}
