/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target for the framer (common/frame.c).
 *
 * Input: byte 0 picks the framing (bits 0-1 length kind, bits 2-3 none /
 * +tpdu / +hdr3 / +hdr64, bit 4 max_msg_bytes 64 or 8192), bytes 1-2 seed
 * the piece sizes, the rest is the stream.  The stream is framed twice:
 * whole, and cut into pieces each copied to a buffer of its exact size (so
 * an over-read is caught by the sanitizer).  Every message must lie inside
 * its piece or the framer's buffer, and both runs must agree on every event
 * up to the first error; after an error the split run resets and goes on.
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_EV 4096

struct fz_event {
	uint8_t ret;
	uint8_t anomaly;
	uint32_t msg_len;
	uint64_t off;
	uint32_t sum;
};

struct fz_log {
	struct fz_event ev[MAX_EV];
	unsigned nb;
	bool stop; /* first error recorded */
};

static uint8_t buf_small[64 + 4];
static uint8_t buf_large[RG_FRAME_DEFAULT_MAX + 4];
static struct fz_log log_whole, log_split;
static volatile uint32_t sink;

static bool inside(const uint8_t *p, uint32_t n, const uint8_t *lo, size_t lo_len)
{
	return p >= lo && n <= lo_len && (size_t)(p - lo) <= lo_len - n;
}

static void check_event(const struct rg_framer *fr, enum rg_frame_ret ret,
			const struct rg_frame *fm, const uint8_t *piece, uint32_t piece_len,
			struct fz_log *lg, uint64_t fed)
{
	uint32_t sum = 0;

	assert(fm->stream_off < fed);
	if (ret == RG_FRAME_MSG) {
		assert(fm->hdr_len == fr->spec.hdr_bytes);
		assert((fm->hdr == NULL) == (fm->hdr_len == 0));
		assert(fm->msg_len + fm->hdr_len <= fr->spec.max_msg_bytes);
		assert(inside(fm->msg, fm->msg_len, piece, piece_len) ||
		       inside(fm->msg, fm->msg_len, fr->buf, fr->cap));
		if (fm->hdr != NULL) {
			assert(inside(fm->hdr, fm->hdr_len, piece, piece_len) ||
			       inside(fm->hdr, fm->hdr_len, fr->buf, fr->cap));
			assert(fm->hdr + fm->hdr_len == fm->msg);
		}
		for (uint32_t i = 0; i < fm->hdr_len; i++)
			sum = sum * 31 + fm->hdr[i];
		for (uint32_t i = 0; i < fm->msg_len; i++)
			sum = sum * 31 + fm->msg[i];
		sink += sum;
	} else if (ret == RG_FRAME_ERROR) {
		assert(fm->anomaly == RG_ANOM_FRAME_TOO_LONG ||
		       fm->anomaly == RG_ANOM_FRAME_TOO_SHORT ||
		       fm->anomaly == RG_ANOM_FRAME_BAD_HEADER);
	} else {
		assert(ret == RG_FRAME_KEEPALIVE);
	}
	if (lg->stop || lg->nb == MAX_EV)
		return;
	lg->ev[lg->nb++] = (struct fz_event){
		.ret = (uint8_t)ret,
		.anomaly = ret == RG_FRAME_ERROR ? fm->anomaly : 0,
		.msg_len = ret == RG_FRAME_MSG ? fm->msg_len : 0,
		.off = fm->stream_off,
		.sum = sum,
	};
	if (ret == RG_FRAME_ERROR)
		lg->stop = true;
}

/* Feed one piece and take every event out of it. */
static void feed_piece(struct rg_framer *fr, const uint8_t *piece, uint32_t len,
		       struct fz_log *lg, uint64_t *fed)
{
	struct rg_frame fm;
	enum rg_frame_ret ret;
	uint64_t last_off = 0;
	bool any = false;

	rg_framer_feed(fr, piece, len);
	*fed += len;
	while ((ret = rg_framer_next(fr, &fm)) != RG_FRAME_NEED_MORE) {
		check_event(fr, ret, &fm, piece, len, lg, *fed);
		assert(!any || fm.stream_off > last_off);
		any = true;
		last_off = fm.stream_off;
		if (ret == RG_FRAME_ERROR) {
			assert(rg_framer_next(fr, &fm) == RG_FRAME_NEED_MORE);
			rg_framer_reset(fr);
		}
	}
	assert(fr->in_len == 0);
	assert(fr->stream_off == *fed);
	assert(fr->have <= fr->cap);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const kinds[] = { "len2", "len2i", "ascii4", "bcd2" };
	static const char *const hdrs[] = { "", "+tpdu", "+hdr3", "+hdr64" };
	char spec[RG_FRAME_SPEC_MAX], name[RG_FRAME_SPEC_MAX], err[128];
	struct rg_framing f;
	struct rg_framer fr;
	uint8_t *buf;
	uint32_t cap, rnd, len;
	uint64_t fed;
	size_t at;

	if (size < 3 || size > (1u << 20))
		return 0;
	snprintf(spec, sizeof(spec), "%s%s", kinds[data[0] & 3], hdrs[(data[0] >> 2) & 3]);
	if (rg_framing_parse(spec, &f, err, sizeof(err)) != 0)
		abort();
	rg_framing_name(&f, name, sizeof(name));
	assert(strcmp(name, spec) == 0);
	if (data[0] & 0x10) {
		f.max_msg_bytes = 64;
		buf = buf_small;
		cap = sizeof(buf_small);
	} else {
		buf = buf_large;
		cap = sizeof(buf_large);
	}
	rnd = (uint32_t)data[1] << 8 | data[2];
	data += 3;
	size -= 3;

	/* whole */
	memset(&log_whole, 0, sizeof(log_whole));
	fed = 0;
	if (rg_framer_init(&fr, &f, buf, cap) != 0)
		abort();
	feed_piece(&fr, data, (uint32_t)size, &log_whole, &fed);

	/* pieces of input-derived sizes, each in its own exact allocation */
	memset(&log_split, 0, sizeof(log_split));
	fed = 0;
	rg_framer_init(&fr, &f, buf, cap);
	for (at = 0; at < size; at += len) {
		uint8_t *piece;

		rnd = rnd * 1103515245u + 12345u;
		len = (rnd >> 16) % ((rnd & 0x100) ? 7u : 300u);
		if (len > size - at)
			len = (uint32_t)(size - at);
		piece = malloc(len ? len : 1);
		if (piece == NULL)
			return 0;
		memcpy(piece, data + at, len);
		feed_piece(&fr, piece, len, &log_split, &fed);
		free(piece);
	}

	/* the split run agrees with the whole run up to the first error */
	for (unsigned i = 0; i < log_whole.nb && i < log_split.nb; i++) {
		const struct fz_event *a = &log_whole.ev[i], *b = &log_split.ev[i];

		assert(a->ret == b->ret && a->anomaly == b->anomaly && a->off == b->off &&
		       a->msg_len == b->msg_len && a->sum == b->sum);
	}
	if (log_whole.nb < MAX_EV && log_split.nb < MAX_EV)
		assert(log_whole.nb == log_split.nb);
	return 0;
}
