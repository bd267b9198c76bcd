/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target for TCP reassembly (common/stream.c) feeding a framer.
 *
 * Input: byte 0 picks the hold window (0, 8, 64 or 256 bytes), the
 * framing (bits 2-3) and whether both SYNs carried window scale 0 (bit 4;
 * else the scale is unknown), bytes 1-4 the initial sequence number, then a
 * script of operations, each introduced by one byte whose low two bits say:
 *   0  segment: seq offset (2 bytes, signed, from isn + 1), length (1 byte,
 *      0..127), payload (taken from the input; short at the end)
 *   1  SYN: isn + (bits 2-3 of the op byte), so mostly a retransmission
 *   2  FIN: seq offset (2 bytes, signed)
 *   3  bit 2 clear: skip_gap; set: the receiver's ACK, seq offset (2 bytes,
 *      signed) and window (1 byte, times 4)
 * Invariants: bytes delivered never exceed bytes offered; each run starts
 * where the last one ended or where the last gap callback said the skipped
 * bytes end, so no byte is delivered twice or out of order; held equals the
 * bits set in the map; held and kept bytes fit the ring; the kept bytes are
 * exactly the last bytes delivered.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "common/frame.h"
#include "common/stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz_ctx {
	struct rg_stream *s;
	struct rg_framer fr;
	uint64_t offered;
	uint64_t delivered;
	uint32_t last_end; /* sequence number after the last delivered or skipped byte */
	bool have_last;
	uint8_t past[65536]; /* delivered bytes by sequence number mod 2^16 */
};

static uint8_t hold[256], map[256 / 8];
static uint8_t fbuf[RG_FRAME_DEFAULT_MAX + 4];
static volatile uint32_t sink;

static void fz_deliver(void *ctx, const uint8_t *data, uint32_t len)
{
	struct fz_ctx *c = ctx;
	uint32_t seq = c->s->next_seq;
	struct rg_frame fm;
	enum rg_frame_ret ret;

	assert(len > 0);
	assert(!c->have_last || seq == c->last_end);
	c->have_last = true;
	c->last_end = seq + len;
	c->delivered += len;
	assert(c->delivered <= c->offered);
	for (uint32_t i = 0; i < len; i++)
		c->past[(uint16_t)(seq + i)] = data[i];

	rg_framer_feed(&c->fr, data, len);
	while ((ret = rg_framer_next(&c->fr, &fm)) != RG_FRAME_NEED_MORE) {
		if (ret == RG_FRAME_MSG) {
			uint32_t sum = 0;

			for (uint32_t i = 0; i < fm.msg_len; i++)
				sum += fm.msg[i];
			sink += sum;
		} else if (ret == RG_FRAME_ERROR) {
			rg_framer_reset(&c->fr);
		}
	}
}

static void fz_gap(void *ctx, uint32_t skipped)
{
	struct fz_ctx *c = ctx;
	uint32_t seq = c->s->next_seq;

	assert(skipped > 0);
	assert(!c->have_last || seq == c->last_end);
	c->have_last = true;
	c->last_end = seq + skipped;
	rg_framer_reset(&c->fr);
}

static void check_ring(const struct rg_stream *s, const struct fz_ctx *c)
{
	uint32_t bits = 0;

	for (uint32_t i = 0; i < s->cap; i++)
		bits += (s->hold_map[i / 8] >> (i % 8)) & 1;
	assert(bits == s->held);
	assert(s->kept <= s->cap && s->held <= s->cap - s->kept);
	assert(s->cap == 0 || s->head < s->cap);
	for (uint32_t k = 1; k <= s->kept; k++) {
		uint32_t slot = s->head >= k ? s->head - k : s->head + s->cap - k;

		assert(!(s->hold_map[slot / 8] >> (slot % 8) & 1));
		assert(s->hold[slot] == c->past[(uint16_t)(s->next_seq - k)]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t caps[] = { 0, 8, 64, 256 };
	static const char *const specs[] = { "len2", "ascii4+tpdu", "bcd2", "len2i+hdr3" };
	struct rg_framing f;
	struct rg_stream s, rev;
	static struct fz_ctx c;
	const struct rg_stream_sink k = { fz_deliver, fz_gap, &c };
	uint32_t cap, isn;
	size_t at;

	if (size < 5)
		return 0;
	memset(&c, 0, sizeof(c));
	c.s = &s;
	rg_framing_parse(specs[(data[0] >> 2) & 3], &f, NULL, 0);
	f.max_msg_bytes = 512;
	rg_framer_init(&c.fr, &f, fbuf, sizeof(fbuf));
	cap = caps[data[0] & 3];
	rg_stream_init(&s, cap ? hold : NULL, cap ? map : NULL, cap);
	rg_stream_init(&rev, NULL, NULL, 0);
	if (data[0] & 0x10) {
		rg_stream_wscale(&s, 0);
		rg_stream_wscale(&rev, 0);
	}
	isn = (uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 8 | data[4];

	for (at = 5; at < size;) {
		uint8_t op = data[at++];
		int16_t rel;
		uint32_t len;

		switch (op & 3) {
		case 0:
			if (size - at < 3)
				return 0;
			rel = (int16_t)((uint16_t)data[at] << 8 | data[at + 1]);
			len = data[at + 2] & 0x7f;
			at += 3;
			if (len > size - at)
				len = (uint32_t)(size - at);
			c.offered += len;
			rg_stream_segment(&s, isn + 1 + (uint32_t)(int32_t)rel, data + at, len, &k);
			at += len;
			break;
		case 1:
			rg_stream_syn(&s, isn + ((op >> 2) & 3));
			/* a new connection starts its own sequence of runs */
			c.have_last = c.have_last && s.next_seq == c.last_end;
			break;
		case 2:
			if (size - at < 2)
				return 0;
			rel = (int16_t)((uint16_t)data[at] << 8 | data[at + 1]);
			at += 2;
			rg_stream_fin(&s, isn + 1 + (uint32_t)(int32_t)rel);
			break;
		default: {
			uint32_t before = s.next_seq, skipped;
			bool waiting = rg_stream_waiting(&s);

			if (op & 4) {
				if (size - at < 3)
					return 0;
				rel = (int16_t)((uint16_t)data[at] << 8 | data[at + 1]);
				rg_stream_ack(&s, &rev, isn + 1 + (uint32_t)(int32_t)rel,
					      (uint16_t)(data[at + 2] * 4), false, &k);
				at += 3;
				break;
			}
			skipped = rg_stream_skip_gap(&s, &k);
			assert(waiting ? skipped > 0 : skipped == 0);
			assert(!waiting || s.next_seq != before);
			break;
		}
		}
		check_ring(&s, &c);
		assert(c.delivered == s.stats.nb_bytes_delivered);
		assert(!c.have_last || s.next_seq == c.last_end);
	}
	return 0;
}
