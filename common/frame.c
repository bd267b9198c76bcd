/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Message framing on a TCP byte stream: spec strings, length headers and the
 * incremental framer.
 *
 * The framer keeps at most one partial frame, in the caller's buffer.  A
 * frame that lies wholly inside the current piece is returned in place; the
 * copy path is taken only for a frame split across pieces, and its size is
 * bounded by the length check made before any byte of the body is copied.
 * Invariants: have <= need <= cap whenever need != 0; have < length-header
 * bytes whenever need == 0; stream_off is the absolute stream offset of in[0]
 * (bytes fed since init, never rewound).  Fast path: no allocation, no I/O.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/frame.h"

struct frame_kind {
	const char *name;
	uint8_t kind;
	uint8_t len_bytes;
};

static const struct frame_kind frame_kinds[] = {
	{ "len2", RG_FRAME_LEN2, 2 },
	{ "len2i", RG_FRAME_LEN2_INCL, 2 },
	{ "ascii4", RG_FRAME_ASCII4, 4 },
	{ "bcd2", RG_FRAME_BCD2, 2 },
};

#define FRAME_NB_KINDS (sizeof(frame_kinds) / sizeof(frame_kinds[0]))
#define FRAME_TPDU_BYTES 5

_Static_assert(RG_FRAME_MAX_HDR <= UINT8_MAX, "hdr_bytes is a uint8_t");

static void frame_err(char *err, size_t err_cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void frame_err(char *err, size_t err_cap, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || err_cap == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, err_cap, fmt, ap);
	va_end(ap);
}

/* Parse the "+..." suffix (without its '+'); returns header bytes or -1. */
static int frame_parse_hdr(const char *spec, const char *suf, uint8_t *tpdu,
			   char *err, size_t err_cap)
{
	const char *p;
	unsigned n = 0;

	if (strchr(suf, '+') != NULL) {
		frame_err(err, err_cap,
			  "framing '%s': only one +tpdu or +hdrN may follow the length kind",
			  spec);
		return -1;
	}
	if (strcmp(suf, "tpdu") == 0) {
		*tpdu = 1;
		return FRAME_TPDU_BYTES;
	}
	if (strncmp(suf, "hdr", 3) != 0) {
		frame_err(err, err_cap,
			  "framing '%s': unknown header '+%s' (expected +tpdu or +hdrN, N 1..%d)",
			  spec, suf, RG_FRAME_MAX_HDR);
		return -1;
	}
	p = suf + 3;
	if (*p == '\0') {
		frame_err(err, err_cap,
			  "framing '%s': '+hdr' needs a byte count N, 1..%d (e.g. +hdr6)",
			  spec, RG_FRAME_MAX_HDR);
		return -1;
	}
	for (const char *q = p; *q != '\0'; q++) {
		if (*q < '0' || *q > '9') {
			frame_err(err, err_cap,
				  "framing '%s': header length '%s' is not a decimal number",
				  spec, p);
			return -1;
		}
		if (n <= RG_FRAME_MAX_HDR)
			n = n * 10 + (unsigned)(*q - '0');
	}
	if (p[0] == '0' || n < 1 || n > RG_FRAME_MAX_HDR) {
		frame_err(err, err_cap,
			  "framing '%s': header length '%s' must be 1..%d without leading zeros",
			  spec, p, RG_FRAME_MAX_HDR);
		return -1;
	}
	*tpdu = 0;
	return (int)n;
}

int rg_framing_parse(const char *spec, struct rg_framing *f, char *err, size_t err_cap)
{
	char kind[RG_FRAME_SPEC_MAX + 1];
	const struct frame_kind *k = NULL;
	const char *plus;
	size_t spec_len, kind_len;
	uint8_t tpdu = 0;
	int hdr = 0;

	if (err != NULL && err_cap > 0)
		err[0] = '\0';
	if (spec == NULL)
		spec = "len2";
	spec_len = strnlen(spec, RG_FRAME_SPEC_MAX + 1);
	if (spec_len == 0) {
		frame_err(err, err_cap,
			  "framing spec is empty (expected len2, len2i, ascii4 or bcd2, optionally +tpdu or +hdrN)");
		return -EINVAL;
	}
	if (spec_len > RG_FRAME_SPEC_MAX) {
		frame_err(err, err_cap,
			  "framing '%.*s...' is longer than %d characters",
			  16, spec, RG_FRAME_SPEC_MAX);
		return -EINVAL;
	}

	plus = strchr(spec, '+');
	kind_len = plus != NULL ? (size_t)(plus - spec) : spec_len;
	memcpy(kind, spec, kind_len);
	kind[kind_len] = '\0';
	for (size_t i = 0; i < FRAME_NB_KINDS; i++) {
		if (strcmp(kind, frame_kinds[i].name) == 0) {
			k = &frame_kinds[i];
			break;
		}
	}
	if (k == NULL) {
		frame_err(err, err_cap,
			  "framing '%s': unknown length kind '%s' (expected len2, len2i, ascii4 or bcd2)",
			  spec, kind);
		return -EINVAL;
	}
	if (plus != NULL) {
		hdr = frame_parse_hdr(spec, plus + 1, &tpdu, err, err_cap);
		if (hdr < 0)
			return -EINVAL;
	}

	f->len_kind = k->kind;
	f->hdr_bytes = (uint8_t)hdr;
	f->tpdu = tpdu;
	f->max_msg_bytes = RG_FRAME_DEFAULT_MAX;
	return 0;
}

void rg_framing_name(const struct rg_framing *f, char *out, size_t cap)
{
	const char *kind = f->len_kind < FRAME_NB_KINDS ?
		frame_kinds[f->len_kind].name : "unknown";

	if (cap == 0)
		return;
	if (f->tpdu)
		snprintf(out, cap, "%s+tpdu", kind);
	else if (f->hdr_bytes != 0)
		snprintf(out, cap, "%s+hdr%u", kind, (unsigned)f->hdr_bytes);
	else
		snprintf(out, cap, "%s", kind);
}

unsigned rg_framing_len_bytes(const struct rg_framing *f)
{
	return f->len_kind == RG_FRAME_ASCII4 ? 4 : 2;
}

int rg_framing_put_len(const struct rg_framing *f, uint32_t msg_len, uint8_t *out)
{
	uint32_t v = msg_len;

	switch (f->len_kind) {
	case RG_FRAME_LEN2_INCL:
		if (msg_len > UINT16_MAX - 2)
			return -ERANGE;
		v += 2;
		/* fall through */
	case RG_FRAME_LEN2:
		if (v > UINT16_MAX)
			return -ERANGE;
		out[0] = (uint8_t)(v >> 8);
		out[1] = (uint8_t)v;
		return 2;
	case RG_FRAME_ASCII4:
		if (v > 9999)
			return -ERANGE;
		out[0] = (uint8_t)('0' + v / 1000);
		out[1] = (uint8_t)('0' + v / 100 % 10);
		out[2] = (uint8_t)('0' + v / 10 % 10);
		out[3] = (uint8_t)('0' + v % 10);
		return 4;
	case RG_FRAME_BCD2:
		if (v > 9999)
			return -ERANGE;
		out[0] = (uint8_t)((v / 1000) << 4 | (v / 100 % 10));
		out[1] = (uint8_t)((v / 10 % 10) << 4 | (v % 10));
		return 2;
	default:
		return -EINVAL;
	}
}

int rg_framer_init(struct rg_framer *fr, const struct rg_framing *spec,
		   uint8_t *buf, uint32_t cap)
{
	if (spec->len_kind >= FRAME_NB_KINDS || spec->hdr_bytes > RG_FRAME_MAX_HDR)
		return -EINVAL;
	if (buf == NULL || (uint64_t)cap < (uint64_t)spec->max_msg_bytes + 4)
		return -EINVAL;
	memset(fr, 0, sizeof(*fr));
	fr->spec = *spec;
	fr->buf = buf;
	fr->cap = cap;
	return 0;
}

void rg_framer_feed(struct rg_framer *fr, const uint8_t *data, uint32_t len)
{
	/* A piece not used up is dropped, but still counts as fed. */
	fr->stream_off += fr->in_len;
	fr->in = data;
	fr->in_len = len;
}

void rg_framer_reset(struct rg_framer *fr)
{
	fr->stream_off += fr->in_len;
	fr->in = NULL;
	fr->in_len = 0;
	fr->have = 0;
	fr->need = 0;
	fr->lost = false;
}

static inline void frame_consume(struct rg_framer *fr, uint32_t n)
{
	fr->in += n;
	fr->in_len -= n;
	fr->stream_off += n;
}

/*
 * Decode a complete length header into the body length (fixed header + ISO
 * message).  Returns RG_ANOM_NONE or the anomaly of a malformed header.
 */
static inline enum rg_anomaly frame_decode(const struct rg_framing *f,
					   const uint8_t *p, uint32_t *body)
{
	uint32_t v;

	switch (f->len_kind) {
	case RG_FRAME_LEN2:
		*body = (uint32_t)p[0] << 8 | p[1];
		return RG_ANOM_NONE;
	case RG_FRAME_LEN2_INCL:
		v = (uint32_t)p[0] << 8 | p[1];
		/* it counts its own two bytes: 0 and 1 cannot be right */
		if (v < 2)
			return RG_ANOM_FRAME_TOO_SHORT;
		*body = v - 2;
		return RG_ANOM_NONE;
	case RG_FRAME_ASCII4: {
		uint32_t d0 = (uint32_t)p[0] - '0', d1 = (uint32_t)p[1] - '0';
		uint32_t d2 = (uint32_t)p[2] - '0', d3 = (uint32_t)p[3] - '0';

		if (d0 > 9 || d1 > 9 || d2 > 9 || d3 > 9)
			return RG_ANOM_FRAME_BAD_HEADER;
		*body = d0 * 1000 + d1 * 100 + d2 * 10 + d3;
		return RG_ANOM_NONE;
	}
	case RG_FRAME_BCD2: {
		uint32_t n0 = p[0] >> 4, n1 = p[0] & 0xf, n2 = p[1] >> 4, n3 = p[1] & 0xf;

		if (n0 > 9 || n1 > 9 || n2 > 9 || n3 > 9)
			return RG_ANOM_FRAME_BAD_HEADER;
		*body = n0 * 1000 + n1 * 100 + n2 * 10 + n3;
		return RG_ANOM_NONE;
	}
	default:
		return RG_ANOM_FRAME_BAD_HEADER;
	}
}

/* Classify a decoded body length; RG_ANOM_NONE means a message or keep-alive. */
static inline enum rg_anomaly frame_check(const struct rg_framing *f, uint32_t body)
{
	if (body == 0)
		return RG_ANOM_NONE;
	if (body < f->hdr_bytes)
		return RG_ANOM_FRAME_TOO_SHORT;
	if (body > f->max_msg_bytes)
		return RG_ANOM_FRAME_TOO_LONG;
	return RG_ANOM_NONE;
}

static inline enum rg_frame_ret frame_error(struct rg_framer *fr, struct rg_frame *out,
					    enum rg_anomaly a, uint64_t off)
{
	fr->lost = true;
	fr->have = 0;
	fr->need = 0;
	memset(out, 0, sizeof(*out));
	out->stream_off = off;
	out->anomaly = (uint8_t)a;
	return RG_FRAME_ERROR;
}

/* Fill *out from a complete frame whose body (after the length) is at p. */
static inline void frame_msg(const struct rg_framing *f, struct rg_frame *out,
			     const uint8_t *p, uint32_t body, uint64_t off)
{
	out->hdr = f->hdr_bytes != 0 ? p : NULL;
	out->hdr_len = f->hdr_bytes;
	out->msg = p + f->hdr_bytes;
	out->msg_len = body - f->hdr_bytes;
	out->stream_off = off;
	out->anomaly = RG_ANOM_NONE;
}

static inline enum rg_frame_ret frame_keepalive(struct rg_frame *out, uint64_t off)
{
	memset(out, 0, sizeof(*out));
	out->stream_off = off;
	return RG_FRAME_KEEPALIVE;
}

/* Continue a frame started in an earlier piece. */
static enum rg_frame_ret frame_next_partial(struct rg_framer *fr, struct rg_frame *out)
{
	const uint32_t lb = rg_framing_len_bytes(&fr->spec);
	uint32_t n, body;
	enum rg_anomaly a;

	if (fr->need == 0) {
		n = lb - fr->have;
		if (n > fr->in_len)
			n = fr->in_len;
		memcpy(fr->buf + fr->have, fr->in, n);
		fr->have += n;
		frame_consume(fr, n);
		if (fr->have < lb)
			return RG_FRAME_NEED_MORE;

		a = frame_decode(&fr->spec, fr->buf, &body);
		if (a == RG_ANOM_NONE)
			a = frame_check(&fr->spec, body);
		if (a != RG_ANOM_NONE)
			return frame_error(fr, out, a, fr->stream_off - lb);
		if (body == 0) {
			fr->have = 0;
			return frame_keepalive(out, fr->stream_off - lb);
		}
		fr->need = lb + body;
	}

	n = fr->need - fr->have;
	if (n > fr->in_len)
		n = fr->in_len;
	memcpy(fr->buf + fr->have, fr->in, n);
	fr->have += n;
	frame_consume(fr, n);
	if (fr->have < fr->need)
		return RG_FRAME_NEED_MORE;

	frame_msg(&fr->spec, out, fr->buf + lb, fr->need - lb,
		  fr->stream_off - fr->need);
	fr->have = 0;
	fr->need = 0;
	return RG_FRAME_MSG;
}

enum rg_frame_ret rg_framer_next(struct rg_framer *fr, struct rg_frame *out)
{
	const uint32_t lb = rg_framing_len_bytes(&fr->spec);
	uint32_t body;
	enum rg_anomaly a;

	if (fr->lost) {
		fr->stream_off += fr->in_len;
		fr->in = NULL;
		fr->in_len = 0;
		return RG_FRAME_NEED_MORE;
	}
	if (fr->in_len == 0)
		return RG_FRAME_NEED_MORE;
	if (fr->have != 0)
		return frame_next_partial(fr, out);

	/* Common case: the length header is inside the piece. */
	if (fr->in_len >= lb) {
		a = frame_decode(&fr->spec, fr->in, &body);
		if (a == RG_ANOM_NONE)
			a = frame_check(&fr->spec, body);
		if (a != RG_ANOM_NONE)
			return frame_error(fr, out, a, fr->stream_off);
		if (body == 0) {
			frame_consume(fr, lb);
			return frame_keepalive(out, fr->stream_off - lb);
		}
		if (fr->in_len - lb >= body) {
			frame_msg(&fr->spec, out, fr->in + lb, body, fr->stream_off);
			frame_consume(fr, lb + body);
			return RG_FRAME_MSG;
		}
		fr->need = lb + body;
	}

	/* The frame goes on in a later piece: keep what there is. */
	memcpy(fr->buf, fr->in, fr->in_len);
	fr->have = fr->in_len;
	frame_consume(fr, fr->in_len);
	return RG_FRAME_NEED_MORE;
}
