/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Message framing on a TCP byte stream.
 *
 * A framing spec says how each message is delimited: a length header (2-byte
 * big-endian binary excluding or including itself, 4 ASCII digits, 2-byte
 * packed BCD), then an optional 5-byte TPDU or fixed-length header, then the
 * ISO 8583 message.  A zero length is a keep-alive.
 *
 * The framer is fed in-order stream bytes in pieces of any size and yields
 * whole messages.  A message that lies inside one piece is returned in place
 * (zero copy); only a message split across pieces is copied into the framer's
 * buffer, which the caller provides and which bounds memory: a length header
 * above max_msg_bytes is an anomaly, never an allocation.  Fast path: no
 * allocation, no I/O, no logging.
 */
#ifndef RG_FRAME_H
#define RG_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/anomaly.h"

enum rg_frame_len {
	RG_FRAME_LEN2 = 0,  /* "len2": 2-byte BE binary, excludes itself (default) */
	RG_FRAME_LEN2_INCL, /* "len2i": 2-byte BE binary, includes itself */
	RG_FRAME_ASCII4,    /* "ascii4": 4 ASCII decimal digits, excludes itself */
	RG_FRAME_BCD2,      /* "bcd2": 2-byte packed BCD (0000-9999), excludes itself */
};

#define RG_FRAME_DEFAULT_MAX 8192 /* bytes; the default max_msg_bytes */
#define RG_FRAME_MAX_HDR 64       /* longest fixed header after the length */
#define RG_FRAME_SPEC_MAX 48      /* longest spec string */

struct rg_framing {
	uint8_t len_kind;       /* enum rg_frame_len */
	uint8_t hdr_bytes;      /* bytes between length header and MTI: 0, 5 (TPDU) or N */
	uint8_t tpdu;           /* 1 when hdr_bytes is a TPDU (shown as such) */
	uint32_t max_msg_bytes; /* largest accepted length value, header included */
};

/*
 * Parse a spec: "len2", "len2i", "ascii4", "bcd2", optionally followed by
 * "+tpdu" (5-byte TPDU) or "+hdrN" (N-byte fixed header, 1..64).  max_msg_bytes
 * is set to RG_FRAME_DEFAULT_MAX.  Returns 0, or -EINVAL with a message in
 * err[0..err_cap).
 */
int rg_framing_parse(const char *spec, struct rg_framing *f, char *err, size_t err_cap);

/* Write the canonical spec string of f into out (RG_FRAME_SPEC_MAX bytes). */
void rg_framing_name(const struct rg_framing *f, char *out, size_t cap);

/* Bytes of the length header alone (2 or 4). */
unsigned rg_framing_len_bytes(const struct rg_framing *f);

/*
 * Write the length header for a message of msg_len bytes (the fixed header
 * included in msg_len is the caller's: msg_len counts header + ISO message).
 * Returns header bytes written, or -ERANGE if msg_len cannot be expressed.
 */
int rg_framing_put_len(const struct rg_framing *f, uint32_t msg_len, uint8_t *out);

enum rg_frame_ret {
	RG_FRAME_NEED_MORE = 0, /* the current piece is used up */
	RG_FRAME_MSG,           /* *out holds a message */
	RG_FRAME_KEEPALIVE,     /* a zero-length frame was consumed */
	RG_FRAME_ERROR,         /* framing lost; *out.anomaly says why */
};

struct rg_frame {
	const uint8_t *hdr; /* the TPDU/fixed header, hdr_len bytes (NULL if none) */
	uint32_t hdr_len;
	const uint8_t *msg; /* the ISO 8583 message, without length or header */
	uint32_t msg_len;
	uint64_t stream_off; /* stream offset of the first length byte */
	uint8_t anomaly;    /* enum rg_anomaly, RG_FRAME_ERROR only */
};

struct rg_framer {
	struct rg_framing spec;
	uint8_t *buf;       /* borrowed; holds a partial frame; cap >= max_msg_bytes + 4 */
	uint32_t cap;
	uint32_t have;      /* bytes of the partial frame in buf */
	uint32_t need;      /* total bytes of the partial frame once its length is known, else 0 */
	bool lost;          /* after an error: input is discarded until rg_framer_reset */
	const uint8_t *in;  /* the current piece, set by rg_framer_feed */
	uint32_t in_len;
	uint64_t stream_off; /* stream offset of in[0] */
};

/* Prepare a framer with a borrowed buffer (see cap above).  Returns 0 or
 * -EINVAL if cap is too small for spec->max_msg_bytes. */
int rg_framer_init(struct rg_framer *fr, const struct rg_framing *spec,
		   uint8_t *buf, uint32_t cap);

/* Hand the framer the next in-order piece of the stream (borrowed until
 * rg_framer_next returns RG_FRAME_NEED_MORE).  The previous piece must have
 * been used up. */
void rg_framer_feed(struct rg_framer *fr, const uint8_t *data, uint32_t len);

/*
 * Take the next event from the current piece.  A returned message points
 * into the piece or into the framer's buffer and stays valid until the next
 * call.  After RG_FRAME_ERROR every later call returns RG_FRAME_NEED_MORE and
 * discards input until rg_framer_reset().
 */
enum rg_frame_ret rg_framer_next(struct rg_framer *fr, struct rg_frame *out);

/* Forget any partial frame and the lost state; the next byte fed is taken
 * as the start of a length header (used after a stream gap). */
void rg_framer_reset(struct rg_framer *fr);

#endif
