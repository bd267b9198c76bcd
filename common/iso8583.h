/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ISO 8583 codec: dialects, a zero-copy decoder and an encoder.
 *
 * A dialect is data (docs/dialects.md): how the MTI, the bitmaps and each
 * data element are encoded.  The decoder walks a message once and records,
 * for every present DE, where its value lies in the caller's buffer; it never
 * allocates and never reads outside [buf, buf + len).  Decoding runs on the
 * fast path (one call per message, millions per second) and in offline tools;
 * loading a dialect happens at start-up only.
 */
#ifndef RG_ISO8583_H
#define RG_ISO8583_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/anomaly.h"

#define RG_ISO_MAX_DE 128      /* DE 1 is the secondary bitmap; DE 65 is data */
#define RG_ISO_MAX_FIELD 999   /* largest LLL value, in units */
#define RG_DIALECT_NAME_MAX 32
#define RG_DIALECT_MAX_IDENT 16

/* What a field holds (ISO notation: n, an, ans, b, z, x+n). */
enum rg_iso_type {
	RG_ISO_T_NONE = 0, /* DE not defined by the dialect */
	RG_ISO_T_N,        /* numeric digits */
	RG_ISO_T_AN,       /* text: an, ans, a, ns, anp ... (not validated) */
	RG_ISO_T_B,        /* binary; fixed length given in bytes (b64 -> 8) */
	RG_ISO_T_Z,        /* track 2/3 data: digits, '=' or 'D' separator */
	RG_ISO_T_XN,       /* 'C'/'D' sign followed by digits (x+n8 = 9 units) */
};

/* How characters of one field are put on the wire. */
enum rg_iso_enc {
	RG_ISO_E_ASCII = 0, /* one byte per digit or character */
	RG_ISO_E_BCD,       /* packed, two digits per byte (numeric and z only) */
	RG_ISO_E_EBCDIC,    /* EBCDIC 037, one byte per character */
	RG_ISO_E_RAW,       /* binary fields: raw bytes */
	RG_ISO_E_HEX,       /* binary fields: two ASCII hex characters per byte */
	RG_ISO_E_BINARY,    /* length prefixes only: one or two raw bytes, big-endian */
};

/* Where the pad nibble of an odd-length packed-BCD value goes. */
enum rg_iso_pad {
	RG_ISO_PAD_LEFT = 0, /* 0 nibble first (jPOS pad="true", Wireshark) */
	RG_ISO_PAD_RIGHT,    /* 0 nibble last */
	RG_ISO_PAD_RIGHT_F,  /* F nibble last (common for track 2) */
};

struct rg_iso_field_spec {
	uint8_t type;          /* enum rg_iso_type */
	uint8_t enc;           /* enum rg_iso_enc of the value */
	uint8_t prefix_digits; /* 0 fixed, 2 LLVAR, 3 LLLVAR */
	uint8_t prefix_enc;    /* enum rg_iso_enc of the prefix: ASCII, BCD, EBCDIC, BINARY */
	uint8_t pad;           /* enum rg_iso_pad, BCD values only */
	uint8_t prefix_in_bytes; /* 1: a BCD value's prefix counts bytes, not digits */
	uint16_t len;          /* fixed length, or maximum for LL/LLL; in units:
	                        * digits (n, z, x+n with sign), characters, bytes (b) */
};

/* Where one identifier is taken from (see common/ident.h). */
struct rg_ident_source {
	uint8_t kind;      /* enum rg_kind */
	uint8_t de;        /* data element 2..128 */
	uint8_t how;       /* enum rg_ident_how (common/ident.h) */
	uint8_t skip;      /* bytes to skip at the start of the field (e.g. MC TCC) */
	uint8_t tag_width; /* ASCII TLV: characters in a tag */
	uint8_t len_width; /* ASCII TLV: digits in a length */
	uint8_t tag_len;   /* bytes in tag[] */
	uint8_t tag[4];    /* ASCII TLV tag characters, or BER tag bytes (1-3) */
};

/*
 * How the decoder walks one DE, derived from its rg_iso_field_spec by
 * rg_dialect_prepare() so that the per-field loop is one table load and one
 * switch.  Not part of the dialect file format.
 */
enum rg_iso_op_kind {
	RG_ISO_OP_NONE = 0,  /* DE undefined */
	RG_ISO_OP_FIXED,     /* fixed_bytes on the wire */
	RG_ISO_OP_PFX_ASCII, /* prefix of pfx_bytes ASCII digits */
	RG_ISO_OP_PFX_EBCDIC,/* prefix of pfx_bytes EBCDIC digits */
	RG_ISO_OP_PFX_BCD,   /* prefix of pfx_bytes packed-BCD bytes */
	RG_ISO_OP_PFX_BIN,   /* prefix of pfx_bytes big-endian binary bytes */
};

enum rg_iso_scale {
	RG_ISO_SCALE_1 = 0, /* one byte per unit */
	RG_ISO_SCALE_HEX,   /* two bytes per unit (binary as hex text) */
	RG_ISO_SCALE_BCD,   /* (units + 1) / 2 bytes */
	RG_ISO_SCALE_BCD_BYTES, /* the prefix counts bytes; units = 2 * bytes */
};

struct rg_iso_op {
	uint8_t kind;         /* enum rg_iso_op_kind */
	uint8_t scale;        /* enum rg_iso_scale, variable fields */
	uint8_t pfx_bytes;    /* bytes of the length prefix */
	uint8_t pad_;
	uint16_t units;       /* fixed: units of the value; variable: maximum prefix value */
	uint16_t fixed_bytes; /* fixed: bytes on the wire */
};

struct rg_dialect {
	char name[RG_DIALECT_NAME_MAX];
	uint8_t mti_enc;    /* ASCII, BCD or EBCDIC */
	uint8_t bitmap_enc; /* RAW (8 bytes), HEX (16 ASCII chars), or EBCDIC (16 EBCDIC hex chars) */
	struct rg_iso_field_spec de[RG_ISO_MAX_DE + 1]; /* index = DE number; [0] unused */
	uint8_t nb_ident;
	struct rg_ident_source ident[RG_DIALECT_MAX_IDENT];
	struct rg_iso_op op[RG_ISO_MAX_DE + 1]; /* derived: rg_dialect_prepare() */
	uint8_t ident_last_de; /* derived: largest DE of ident[], 0 if none */
};

/*
 * Derive d->op[] from d->de[].  The dialect loader calls it; code that
 * fills a struct rg_dialect by hand must call it before decoding with it.
 */
void rg_dialect_prepare(struct rg_dialect *d);

/* A decoded message: offsets into the caller's buffer, valid while it is. */
struct rg_iso_value {
	uint16_t off;   /* byte offset of the value (after any length prefix) in buf */
	uint16_t len;   /* bytes the value occupies on the wire */
	uint16_t units; /* digits, characters or bytes the value holds */
};

struct rg_iso_msg {
	const uint8_t *buf; /* borrowed: the message, without framing */
	uint32_t len;
	uint16_t mti;       /* 0..9999, e.g. 100 for "0100" */
	uint64_t bitmap[2]; /* bit 63 of [0] is DE 1, bit 0 of [1] is DE 128 */
	uint16_t end;       /* offset just past the last decoded byte */
	uint8_t anomaly;    /* enum rg_anomaly of the first problem, or RG_ANOM_NONE */
	uint8_t anomaly_de; /* DE where it was found; 0 for MTI or bitmap */
	struct rg_iso_value v[RG_ISO_MAX_DE + 1]; /* only present DEs are set */
};

/* Decode options. */
#define RG_ISO_VALIDATE 0x1 /* check every numeric value's digits (slower; the
                             * dissector uses it, the fast path does not) */

/*
 * Decode buf[0..len) with dialect d into *m.  Returns RG_ANOM_NONE, or the
 * reason decoding stopped: DEs decoded before the failure stay usable (test
 * with rg_iso_has()).  Non-numeric digits found under RG_ISO_VALIDATE and
 * trailing bytes do not stop decoding; they are reported in m->anomaly and
 * the return value.  Thread-safe; fast path.
 */
enum rg_anomaly rg_iso_decode(const struct rg_dialect *d, const uint8_t *buf,
			      uint32_t len, unsigned flags, struct rg_iso_msg *m);

static inline bool rg_iso_has(const struct rg_iso_msg *m, unsigned de)
{
	if (de < 1 || de > RG_ISO_MAX_DE)
		return false;
	return (m->bitmap[(de - 1) / 64] >> (63 - (de - 1) % 64)) & 1;
}

/*
 * Render DE de of m as text into out (NUL-terminated): digits and characters
 * as ASCII (BCD unpacked, EBCDIC translated, track-2 separator as '='/'D' as
 * sent), binary values as upper-case hex.  Returns the text length, or -1 if
 * the DE is absent, or -ENOSPC if cap is too small.
 */
int rg_iso_field_text(const struct rg_dialect *d, const struct rg_iso_msg *m,
		      unsigned de, char *out, size_t cap);

/* "0100" style rendering of an MTI; out must hold 5 bytes. */
void rg_iso_mti_text(uint16_t mti, char out[5]);

/*
 * Encoder.  Fields are given as text, exactly as rg_iso_field_text renders
 * them (binary values as hex); the encoder applies the dialect's encodings,
 * prefixes and padding and sets the bitmaps (a secondary bitmap when any DE
 * above 64 is present).
 */
struct rg_iso_builder {
	uint16_t mti;
	const char *text[RG_ISO_MAX_DE + 1]; /* borrowed; NULL = absent; [1] ignored */
	uint16_t text_len[RG_ISO_MAX_DE + 1];
};

void rg_iso_builder_init(struct rg_iso_builder *b, uint16_t mti);
/* Set DE de to a NUL-terminated text (borrowed until rg_iso_encode returns). */
void rg_iso_builder_set(struct rg_iso_builder *b, unsigned de, const char *text);

/*
 * Encode into out[0..cap).  Returns the message length, -ENOSPC if cap is
 * too small, -EINVAL if a value does not fit its field (wrong length for a
 * fixed field, too long for a variable one, non-digit in a numeric field,
 * bad hex) or names a DE the dialect does not define; *bad_de (if not NULL)
 * names the offending DE.
 */
int rg_iso_encode(const struct rg_dialect *d, const struct rg_iso_builder *b,
		  uint8_t *out, size_t cap, unsigned *bad_de);

/*
 * Dialects (common/dialect.c).  Built-ins: "ascii87" (default),
 * "ascii87-bin", "bcd87", "ebcdic87".  A name that is not built in is read as
 * a path to a dialect file.  On failure returns NULL with errno set and a
 * message naming the file, line and problem in err[0..err_cap).
 * The returned dialect is owned by the caller: free() it.
 */
struct rg_dialect *rg_dialect_load(const char *name_or_path, char *err, size_t err_cap);
/* Parse a dialect from a string (used for the built-ins and by the fuzzer);
 * origin names it in error messages. */
struct rg_dialect *rg_dialect_parse(const char *text, const char *origin,
				    char *err, size_t err_cap);
/* NULL-terminated list of built-in dialect names. */
const char *const *rg_dialect_builtin_names(void);

/*
 * Additions to the contract above.
 *
 * Decoding details: a problem that stops decoding (truncated, bad MTI or
 * bitmap, undefined field, bad or too large length prefix) replaces any
 * earlier non-numeric report in m->anomaly, so the return value and
 * m->anomaly always agree.  When decoding stops at DE k, the bitmap bits of
 * DE k and of every later DE are cleared, so rg_iso_has() is true exactly
 * for the DEs whose m->v[] entry is valid.  Offsets are 16-bit: a message
 * longer than 65535 bytes is decoded as if it ended there (what follows is
 * reported as trailing bytes).  In a packed-BCD value the track-2 separator
 * is the nibble D and an x+n sign is the nibble C or D.
 */

/*
 * rg_iso_decode, stopping after DE last_de: later DEs are not walked, their
 * bitmap bits are cleared (rg_iso_has() is false for them, also in DE 1's
 * word) and trailing bytes are not looked for.  For the MTI, the bitmaps and
 * DEs 2..last_de the result is that of rg_iso_decode: the same values, and
 * the same anomaly if one is met there (a problem only in a later DE is not
 * seen).  m->end is the offset just past the last walked DE.  last_de >= 128
 * is rg_iso_decode.  Screening passes the last DE it reads (see
 * ident_last_de below).  Thread-safe; fast path.
 */
enum rg_anomaly rg_iso_decode_until(const struct rg_dialect *d, const uint8_t *buf,
				    uint32_t len, unsigned flags, unsigned last_de,
				    struct rg_iso_msg *m);

/* Code page 037 translation tables (a bijection on the 256 byte values). */
extern const uint8_t rg_ebcdic_to_ascii[256];
extern const uint8_t rg_ascii_to_ebcdic[256];

#endif
