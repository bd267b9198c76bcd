/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ISO 8583 decoder, field renderer and encoder, driven by a struct
 * rg_dialect (common/dialect.c builds those from dialect files).
 *
 * The decoder is on the fast path: one call per message, no allocation, a
 * bounds-checked cursor (every read is preceded by a check of the bytes
 * left), and only the entries of present DEs are written.  The renderer and
 * the encoder are exact inverses for every dialect: what rg_iso_field_text()
 * renders, rg_iso_builder_set() accepts and rg_iso_encode() puts back on the
 * wire byte for byte.
 */
#include <errno.h>
#include <string.h>

#include "common/iso8583.h"

/* Code page 037 <-> ISO 8859-1; written out from the code page chart. */
const uint8_t rg_ebcdic_to_ascii[256] = {
	0x00, 0x01, 0x02, 0x03, 0x9C, 0x09, 0x86, 0x7F, 0x97, 0x8D, 0x8E, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F,
	0x10, 0x11, 0x12, 0x13, 0x9D, 0x85, 0x08, 0x87, 0x18, 0x19, 0x92, 0x8F, 0x1C, 0x1D, 0x1E, 0x1F,
	0x80, 0x81, 0x82, 0x83, 0x84, 0x0A, 0x17, 0x1B, 0x88, 0x89, 0x8A, 0x8B, 0x8C, 0x05, 0x06, 0x07,
	0x90, 0x91, 0x16, 0x93, 0x94, 0x95, 0x96, 0x04, 0x98, 0x99, 0x9A, 0x9B, 0x14, 0x15, 0x9E, 0x1A,
	0x20, 0xA0, 0xE2, 0xE4, 0xE0, 0xE1, 0xE3, 0xE5, 0xE7, 0xF1, 0xA2, 0x2E, 0x3C, 0x28, 0x2B, 0x7C,
	0x26, 0xE9, 0xEA, 0xEB, 0xE8, 0xED, 0xEE, 0xEF, 0xEC, 0xDF, 0x21, 0x24, 0x2A, 0x29, 0x3B, 0xAC,
	0x2D, 0x2F, 0xC2, 0xC4, 0xC0, 0xC1, 0xC3, 0xC5, 0xC7, 0xD1, 0xA6, 0x2C, 0x25, 0x5F, 0x3E, 0x3F,
	0xF8, 0xC9, 0xCA, 0xCB, 0xC8, 0xCD, 0xCE, 0xCF, 0xCC, 0x60, 0x3A, 0x23, 0x40, 0x27, 0x3D, 0x22,
	0xD8, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0xAB, 0xBB, 0xF0, 0xFD, 0xFE, 0xB1,
	0xB0, 0x6A, 0x6B, 0x6C, 0x6D, 0x6E, 0x6F, 0x70, 0x71, 0x72, 0xAA, 0xBA, 0xE6, 0xB8, 0xC6, 0xA4,
	0xB5, 0x7E, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0xA1, 0xBF, 0xD0, 0xDD, 0xDE, 0xAE,
	0x5E, 0xA3, 0xA5, 0xB7, 0xA9, 0xA7, 0xB6, 0xBC, 0xBD, 0xBE, 0x5B, 0x5D, 0xAF, 0xA8, 0xB4, 0xD7,
	0x7B, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0xAD, 0xF4, 0xF6, 0xF2, 0xF3, 0xF5,
	0x7D, 0x4A, 0x4B, 0x4C, 0x4D, 0x4E, 0x4F, 0x50, 0x51, 0x52, 0xB9, 0xFB, 0xFC, 0xF9, 0xFA, 0xFF,
	0x5C, 0xF7, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0xB2, 0xD4, 0xD6, 0xD2, 0xD3, 0xD5,
	0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0xB3, 0xDB, 0xDC, 0xD9, 0xDA, 0x9F,
};

const uint8_t rg_ascii_to_ebcdic[256] = {
	0x00, 0x01, 0x02, 0x03, 0x37, 0x2D, 0x2E, 0x2F, 0x16, 0x05, 0x25, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F,
	0x10, 0x11, 0x12, 0x13, 0x3C, 0x3D, 0x32, 0x26, 0x18, 0x19, 0x3F, 0x27, 0x1C, 0x1D, 0x1E, 0x1F,
	0x40, 0x5A, 0x7F, 0x7B, 0x5B, 0x6C, 0x50, 0x7D, 0x4D, 0x5D, 0x5C, 0x4E, 0x6B, 0x60, 0x4B, 0x61,
	0xF0, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0x7A, 0x5E, 0x4C, 0x7E, 0x6E, 0x6F,
	0x7C, 0xC1, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xD1, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6,
	0xD7, 0xD8, 0xD9, 0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xBA, 0xE0, 0xBB, 0xB0, 0x6D,
	0x79, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96,
	0x97, 0x98, 0x99, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9, 0xC0, 0x4F, 0xD0, 0xA1, 0x07,
	0x20, 0x21, 0x22, 0x23, 0x24, 0x15, 0x06, 0x17, 0x28, 0x29, 0x2A, 0x2B, 0x2C, 0x09, 0x0A, 0x1B,
	0x30, 0x31, 0x1A, 0x33, 0x34, 0x35, 0x36, 0x08, 0x38, 0x39, 0x3A, 0x3B, 0x04, 0x14, 0x3E, 0xFF,
	0x41, 0xAA, 0x4A, 0xB1, 0x9F, 0xB2, 0x6A, 0xB5, 0xBD, 0xB4, 0x9A, 0x8A, 0x5F, 0xCA, 0xAF, 0xBC,
	0x90, 0x8F, 0xEA, 0xFA, 0xBE, 0xA0, 0xB6, 0xB3, 0x9D, 0xDA, 0x9B, 0x8B, 0xB7, 0xB8, 0xB9, 0xAB,
	0x64, 0x65, 0x62, 0x66, 0x63, 0x67, 0x9E, 0x68, 0x74, 0x71, 0x72, 0x73, 0x78, 0x75, 0x76, 0x77,
	0xAC, 0x69, 0xED, 0xEE, 0xEB, 0xEF, 0xEC, 0xBF, 0x80, 0xFD, 0xFE, 0xFB, 0xFC, 0xAD, 0xAE, 0x59,
	0x44, 0x45, 0x42, 0x46, 0x43, 0x47, 0x9C, 0x48, 0x54, 0x51, 0x52, 0x53, 0x58, 0x55, 0x56, 0x57,
	0x8C, 0x49, 0xCD, 0xCE, 0xCB, 0xCF, 0xCC, 0xE1, 0x70, 0xDD, 0xDE, 0xDB, 0xDC, 0x8D, 0x8E, 0xDF,
};

static const char hex_upper[16] = "0123456789ABCDEF";

/* Value of an ASCII hex character (either case), or -1. */
static inline int hex_val(uint8_t c)
{
	if ((uint8_t)(c - '0') < 10)
		return c - '0';
	c |= 0x20;
	if ((uint8_t)(c - 'a') < 6)
		return c - 'a' + 10;
	return -1;
}

static inline bool is_digit(uint8_t c)
{
	return (uint8_t)(c - '0') < 10;
}

static inline bool is_ebcdic_digit(uint8_t c)
{
	return c >= 0xF0 && c <= 0xF9;
}

/* Bytes a value of units units occupies on the wire. */
static inline uint32_t wire_bytes(const struct rg_iso_field_spec *f, uint32_t units)
{
	switch (f->enc) {
	case RG_ISO_E_BCD:
		return (units + 1) / 2;
	case RG_ISO_E_HEX:
		return units * 2;
	default:
		return units;
	}
}

/* Decoding stopped at DE de (0: MTI or bitmap): only earlier DEs stay. */
static enum rg_anomaly stop(struct rg_iso_msg *m, enum rg_anomaly a, unsigned de,
			    uint32_t pos)
{
	m->anomaly = a;
	m->anomaly_de = de;
	m->end = pos;
	if (de < 2) {
		m->bitmap[0] = 0;
		m->bitmap[1] = 0;
	} else {
		unsigned idx = (de - 1) % 64;
		/* bits of DE de and later in its word; wraps to all ones at idx 0 */
		uint64_t later = (2ULL << (63 - idx)) - 1;
		m->bitmap[(de - 1) / 64] &= ~later;
		if (de <= 64)
			m->bitmap[1] = 0;
	}
	return a;
}

static void soft(struct rg_iso_msg *m, enum rg_anomaly a, unsigned de)
{
	if (m->anomaly == RG_ANOM_NONE) {
		m->anomaly = a;
		m->anomaly_de = de;
	}
}

/* 0x20 | value of each ASCII hex character (either case); 0 for any other
 * byte, so ANDing the entries of a string tells whether all were hex. */
#define HX(v) (0x20 | (v))
static const uint8_t hex_tab[256] = {
	['0'] = HX(0), ['1'] = HX(1), ['2'] = HX(2), ['3'] = HX(3), ['4'] = HX(4),
	['5'] = HX(5), ['6'] = HX(6), ['7'] = HX(7), ['8'] = HX(8), ['9'] = HX(9),
	['A'] = HX(10), ['B'] = HX(11), ['C'] = HX(12), ['D'] = HX(13), ['E'] = HX(14),
	['F'] = HX(15), ['a'] = HX(10), ['b'] = HX(11), ['c'] = HX(12), ['d'] = HX(13),
	['e'] = HX(14), ['f'] = HX(15),
};
#undef HX

/* Eight ASCII hex characters (either case) at p as a 32-bit value, the
 * first character most significant; false if any is not hex.  Word-wide:
 * per byte, c must be in '0'..'9' or c | 0x20 in 'a'..'f' (only 'A'..'F'
 * and 'a'..'f' land there); no byte sum crosses into the next byte once
 * bytes above 0x7f are ruled out. */
static inline bool hex8(const uint8_t *p, uint32_t *out)
{
	const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
	uint64_t c, x, dig, let, v;

	memcpy(&c, p, 8);
	x = c | 0x20 * ones;
	dig = (c + (0x80 - '0') * ones) & ~(c + (0x7f - '9') * ones);
	let = (x + (0x80 - 'a') * ones) & ~(x + (0x7f - 'f') * ones);
	if ((c & highs) != 0 || ((dig | let) & highs) != highs)
		return false;
	/* nibble values: low 4 bits, plus 9 for a letter (bit 6 set) */
	v = (x & 0x0f * ones) + ((x >> 6) & ones) * 9;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	v = (v | v >> 4) & 0x00ff00ff00ff00ffULL;
	v = (v | v >> 8) & 0x0000ffff0000ffffULL;
	v = (v | v >> 16) & 0xffffffffULL;
	*out = (uint32_t)v;
	return true;
}

/* 64-bit bitmap from 8 raw bytes or 16 hex characters; -1 on a bad char.
 * Branch-free over the characters: a bitmap is read for every message. */
static inline int read_bitmap(unsigned enc, const uint8_t *p, uint64_t *out)
{
	uint64_t v = 0;
	unsigned all = 0x20;

	if (enc == RG_ISO_E_RAW) {
		memcpy(&v, p, 8);
		*out = __builtin_bswap64(v);
		return 0;
	}
	if (enc == RG_ISO_E_EBCDIC) {
		for (unsigned i = 0; i < 16; i++) {
			unsigned h = hex_tab[rg_ebcdic_to_ascii[p[i]]];
			all &= h;
			v = v << 4 | (h & 0xF);
		}
	} else {
		uint32_t hi, lo;

		if (!hex8(p, &hi) || !hex8(p + 8, &lo))
			return -1;
		*out = (uint64_t)hi << 32 | lo;
		return 0;
	}
	if (all == 0)
		return -1;
	*out = v;
	return 0;
}

static int read_mti(unsigned enc, const uint8_t *p, uint32_t left, uint16_t *mti)
{
	unsigned v = 0;

	if (enc == RG_ISO_E_BCD) {
		if (left < 2)
			return RG_ANOM_TRUNCATED;
		for (unsigned i = 0; i < 2; i++) {
			unsigned hi = p[i] >> 4, lo = p[i] & 0xF;
			if (hi > 9 || lo > 9)
				return RG_ANOM_BAD_MTI;
			v = v * 100 + hi * 10 + lo;
		}
	} else {
		if (left < 4)
			return RG_ANOM_TRUNCATED;
		for (unsigned i = 0; i < 4; i++) {
			uint8_t c = p[i];
			if (enc == RG_ISO_E_EBCDIC) {
				if (!is_ebcdic_digit(c))
					return RG_ANOM_BAD_MTI;
				c = (uint8_t)(c - 0xF0 + '0');
			} else if (!is_digit(c)) {
				return RG_ANOM_BAD_MTI;
			}
			v = v * 10 + (unsigned)(c - '0');
		}
	}
	*mti = (uint16_t)v;
	return RG_ANOM_NONE;
}

static inline uint32_t mti_bytes(unsigned enc)
{
	return enc == RG_ISO_E_BCD ? 2 : 4;
}

static inline uint32_t bitmap_bytes(unsigned enc)
{
	return enc == RG_ISO_E_RAW ? 8 : 16;
}

static inline uint32_t prefix_bytes(const struct rg_iso_field_spec *f)
{
	switch (f->prefix_enc) {
	case RG_ISO_E_BCD:
	case RG_ISO_E_BINARY:
		return f->prefix_digits == 2 ? 1 : 2;
	default:
		return f->prefix_digits;
	}
}

/* Length prefix value of a variable field (op->pfx_bytes readable at p);
 * -1 if the prefix is not a number. */
static inline int read_prefix_op(const struct rg_iso_op *op, const uint8_t *p, uint32_t *out)
{
	uint32_t v = 0, bad = 0;

	switch (op->kind) {
	case RG_ISO_OP_PFX_ASCII:
		for (unsigned i = 0; i < op->pfx_bytes; i++) {
			uint32_t dgt = (uint32_t)p[i] - '0';
			bad |= dgt > 9;
			v = v * 10 + dgt;
		}
		break;
	case RG_ISO_OP_PFX_EBCDIC:
		for (unsigned i = 0; i < op->pfx_bytes; i++) {
			uint32_t dgt = (uint32_t)p[i] - 0xF0;
			bad |= dgt > 9;
			v = v * 10 + dgt;
		}
		break;
	case RG_ISO_OP_PFX_BCD:
		for (unsigned i = 0; i < op->pfx_bytes; i++) {
			uint32_t hi = p[i] >> 4, lo = p[i] & 0xF;
			bad |= (hi > 9) | (lo > 9);
			v = v * 100 + hi * 10 + lo;
		}
		break;
	default:
		for (unsigned i = 0; i < op->pfx_bytes; i++)
			v = v << 8 | p[i];
		break;
	}
	*out = v;
	return bad ? -1 : 0;
}

void rg_dialect_prepare(struct rg_dialect *d)
{
	memset(d->op, 0, sizeof(d->op));
	d->ident_last_de = 0;
	for (unsigned i = 0; i < d->nb_ident && i < RG_DIALECT_MAX_IDENT; i++)
		if (d->ident[i].de > d->ident_last_de)
			d->ident_last_de = d->ident[i].de;
	for (unsigned de = 2; de <= RG_ISO_MAX_DE; de++) {
		const struct rg_iso_field_spec *f = &d->de[de];
		struct rg_iso_op *op = &d->op[de];

		if (f->type == RG_ISO_T_NONE)
			continue;
		if (f->prefix_digits == 0) {
			op->kind = RG_ISO_OP_FIXED;
			op->units = f->len;
			op->fixed_bytes = (uint16_t)wire_bytes(f, f->len);
			continue;
		}
		switch (f->prefix_enc) {
		case RG_ISO_E_BCD:
			op->kind = RG_ISO_OP_PFX_BCD;
			break;
		case RG_ISO_E_BINARY:
			op->kind = RG_ISO_OP_PFX_BIN;
			break;
		case RG_ISO_E_EBCDIC:
			op->kind = RG_ISO_OP_PFX_EBCDIC;
			break;
		default:
			op->kind = RG_ISO_OP_PFX_ASCII;
			break;
		}
		op->pfx_bytes = (uint8_t)prefix_bytes(f);
		op->units = f->len;
		if (f->enc == RG_ISO_E_BCD && f->prefix_in_bytes) {
			op->scale = RG_ISO_SCALE_BCD_BYTES;
			op->units = (uint16_t)((f->len + 1u) / 2);
		} else if (f->enc == RG_ISO_E_BCD) {
			op->scale = RG_ISO_SCALE_BCD;
		} else if (f->enc == RG_ISO_E_HEX) {
			op->scale = RG_ISO_SCALE_HEX;
		} else {
			op->scale = RG_ISO_SCALE_1;
		}
	}
}

/* Is c (ASCII) allowed at position i of a value of type type? */
static inline bool char_ok(unsigned type, unsigned i, uint8_t c)
{
	switch (type) {
	case RG_ISO_T_N:
		return is_digit(c);
	case RG_ISO_T_Z:
		return is_digit(c) || c == '=' || c == 'D';
	case RG_ISO_T_XN:
		return i == 0 ? (c == 'C' || c == 'D') : is_digit(c);
	default:
		return true;
	}
}

/* Same for a BCD nibble (the track-2 separator and x+n sign are nibbles). */
static inline bool nibble_ok(unsigned type, unsigned i, unsigned nib)
{
	switch (type) {
	case RG_ISO_T_Z:
		return nib <= 9 || nib == 0xD;
	case RG_ISO_T_XN:
		return i == 0 ? (nib == 0xC || nib == 0xD) : nib <= 9;
	default:
		return nib <= 9;
	}
}

/* Nibble positions [first, first + count) of a BCD value hold its digits. */
static void bcd_span(const struct rg_iso_field_spec *f, const struct rg_iso_value *v,
		     const uint8_t *p, unsigned *first, unsigned *count)
{
	unsigned total = 2u * v->len, units = v->units;

	if (units > total)
		units = total;
	if (f->prefix_in_bytes && f->prefix_digits && f->pad == RG_ISO_PAD_RIGHT_F &&
	    total && (p[v->len - 1] & 0xF) == 0xF)
		units = total - 1;
	*count = units;
	*first = (units < total && f->pad == RG_ISO_PAD_LEFT) ? total - units : 0;
}

static inline unsigned nibble_at(const uint8_t *p, unsigned i)
{
	return i & 1 ? p[i / 2] & 0xF : p[i / 2] >> 4;
}

static enum rg_anomaly validate(const struct rg_iso_field_spec *f,
				const struct rg_iso_value *v, const uint8_t *p)
{
	unsigned type = f->type;

	if (type != RG_ISO_T_N && type != RG_ISO_T_Z && type != RG_ISO_T_XN) {
		if (f->enc == RG_ISO_E_HEX)
			for (unsigned i = 0; i < v->len; i++)
				if (hex_val(p[i]) < 0)
					return RG_ANOM_NON_NUMERIC;
		return RG_ANOM_NONE;
	}
	switch (f->enc) {
	case RG_ISO_E_BCD: {
		unsigned first, count, total = 2u * v->len;
		unsigned pad = f->pad == RG_ISO_PAD_RIGHT_F ? 0xF : 0;
		bcd_span(f, v, p, &first, &count);
		for (unsigned i = 0; i < count; i++)
			if (!nibble_ok(type, i, nibble_at(p, first + i)))
				return RG_ANOM_BAD_BCD;
		for (unsigned i = 0; i < total; i++) {
			if (i >= first && i < first + count)
				continue;
			if (nibble_at(p, i) != pad)
				return RG_ANOM_BAD_BCD;
		}
		return RG_ANOM_NONE;
	}
	case RG_ISO_E_EBCDIC:
		for (unsigned i = 0; i < v->len; i++)
			if (!char_ok(type, i, rg_ebcdic_to_ascii[p[i]]))
				return RG_ANOM_NON_NUMERIC;
		return RG_ANOM_NONE;
	default:
		for (unsigned i = 0; i < v->len; i++)
			if (!char_ok(type, i, p[i]))
				return RG_ANOM_NON_NUMERIC;
		return RG_ANOM_NONE;
	}
}

/*
 * Variable-length DE at cur (left bytes readable): units and wire bytes of
 * its value, the prefix skipped.  Returns 0 or the anomaly.
 */
static inline int var_field(struct rg_iso_op op, const uint8_t *cur, size_t left,
			    uint32_t *units, uint32_t *n)
{
	uint32_t pv;

	if (left < op.pfx_bytes)
		return RG_ANOM_TRUNCATED;
	if (read_prefix_op(&op, cur, &pv) != 0)
		return RG_ANOM_BAD_LENGTH_PREFIX;
	if (pv > op.units)
		return RG_ANOM_LENGTH_OVER_MAX;
	switch (op.scale) {
	case RG_ISO_SCALE_1:
		*units = *n = pv;
		break;
	case RG_ISO_SCALE_HEX:
		*units = pv;
		*n = 2 * pv;
		break;
	case RG_ISO_SCALE_BCD:
		*units = pv;
		*n = (pv + 1) / 2;
		break;
	default:
		*units = 2 * pv;
		*n = pv;
		break;
	}
	return RG_ANOM_NONE;
}

/*
 * The field walk over both bitmap words, from *pos.  Kept apart so the
 * compiler builds one copy without validation (the fast path) in which the
 * cursor, its end and the bitmap word stay in registers: per fixed DE it is
 * one op load, one branch and three stores.
 */
static inline __attribute__((always_inline)) int
walk_fields(const struct rg_dialect *d, struct rg_iso_msg *m, const uint8_t *buf, uint32_t lim,
	    uint32_t *pos, const uint64_t keep[2], const bool check)
{
	const uint8_t *cur = buf + *pos, *const end = buf + lim;

	for (unsigned w = 0; w < 2; w++) {
		uint64_t bits = m->bitmap[w] & keep[w] & (w == 0 ? ~(1ULL << 63) : ~0ULL);
		const unsigned base = w * 64 + 1;

		while (bits) {
			const unsigned idx = (unsigned)__builtin_clzll(bits);
			const unsigned de = base + idx;
			const struct rg_iso_op op = d->op[de];
			struct rg_iso_value *v = &m->v[de];
			uint32_t units, n;

			bits ^= 1ULL << (63 - idx);
			if (__builtin_expect(op.kind == RG_ISO_OP_FIXED, 1)) {
				units = op.units;
				n = op.fixed_bytes;
			} else if (op.kind == RG_ISO_OP_NONE) {
				return stop(m, RG_ANOM_UNDEFINED_FIELD, de, (uint32_t)(cur - buf));
			} else {
				int rc = var_field(op, cur, (size_t)(end - cur), &units, &n);
				if (rc != RG_ANOM_NONE)
					return stop(m, rc, de, (uint32_t)(cur - buf));
				cur += op.pfx_bytes;
			}
			if ((size_t)(end - cur) < n)
				return stop(m, RG_ANOM_TRUNCATED, de, (uint32_t)(cur - buf));
			v->off = (uint16_t)(cur - buf);
			v->len = (uint16_t)n;
			v->units = (uint16_t)units;
			if (check) {
				enum rg_anomaly a = validate(&d->de[de], v, cur);
				if (a != RG_ANOM_NONE)
					soft(m, a, de);
			}
			cur += n;
		}
	}
	*pos = (uint32_t)(cur - buf);
	return RG_ANOM_NONE;
}

/* Bitmap words whose bits are DEs 1..last (DE 1 is bit 63 of word 0). */
static inline void keep_words(unsigned last, uint64_t keep[2])
{
	keep[0] = last >= 64 ? ~0ULL : last == 0 ? 0 : ~0ULL << (64 - last);
	keep[1] = last <= 64 ? 0 : last >= 128 ? ~0ULL : ~0ULL << (128 - last);
}

/* Both entry points; rg_iso_decode's copy has last_de folded away. */
static inline __attribute__((always_inline)) enum rg_anomaly
decode(const struct rg_dialect *d, const uint8_t *buf, uint32_t len, unsigned flags,
       unsigned last_de, struct rg_iso_msg *m)
{
	uint32_t lim = len > UINT16_MAX ? UINT16_MAX : len;
	uint32_t pos = 0, n;
	uint64_t keep[2];
	int rc;

	m->buf = buf;
	m->len = len;
	m->mti = 0;
	m->bitmap[0] = 0;
	m->bitmap[1] = 0;
	m->end = 0;
	m->anomaly = RG_ANOM_NONE;
	m->anomaly_de = 0;

	rc = read_mti(d->mti_enc, buf, lim, &m->mti);
	if (rc != RG_ANOM_NONE)
		return stop(m, rc, 0, 0);
	pos = mti_bytes(d->mti_enc);

	n = bitmap_bytes(d->bitmap_enc);
	if (lim - pos < n)
		return stop(m, RG_ANOM_TRUNCATED, 0, pos);
	if (read_bitmap(d->bitmap_enc, buf + pos, &m->bitmap[0]) != 0)
		return stop(m, RG_ANOM_BAD_BITMAP, 0, pos);
	pos += n;
	if (m->bitmap[0] >> 63) {
		if (lim - pos < n)
			return stop(m, RG_ANOM_TRUNCATED, 1, pos);
		if (read_bitmap(d->bitmap_enc, buf + pos, &m->bitmap[1]) != 0)
			return stop(m, RG_ANOM_BAD_BITMAP, 1, pos);
		m->v[1].off = (uint16_t)pos;
		m->v[1].len = (uint16_t)n;
		m->v[1].units = 8;
		pos += n;
	}

	keep_words(last_de, keep);
	if (flags & RG_ISO_VALIDATE)
		rc = walk_fields(d, m, buf, lim, &pos, keep, true);
	else
		rc = walk_fields(d, m, buf, lim, &pos, keep, false);
	if (rc != RG_ANOM_NONE)
		return (enum rg_anomaly)rc;
	m->end = (uint16_t)pos;
	if (((m->bitmap[0] & ~keep[0]) | (m->bitmap[1] & ~keep[1])) != 0) {
		/* stopped after last_de: later DEs were not walked */
		m->bitmap[0] &= keep[0] | 1ULL << 63;
		m->bitmap[1] &= keep[1];
		return m->anomaly;
	}
	if (pos < len)
		soft(m, RG_ANOM_TRAILING_BYTES, 0);
	return m->anomaly;
}

enum rg_anomaly rg_iso_decode(const struct rg_dialect *d, const uint8_t *buf,
			      uint32_t len, unsigned flags, struct rg_iso_msg *m)
{
	return decode(d, buf, len, flags, RG_ISO_MAX_DE, m);
}

enum rg_anomaly rg_iso_decode_until(const struct rg_dialect *d, const uint8_t *buf,
				    uint32_t len, unsigned flags, unsigned last_de,
				    struct rg_iso_msg *m)
{
	return decode(d, buf, len, flags, last_de, m);
}

void rg_iso_mti_text(uint16_t mti, char out[5])
{
	unsigned v = mti % 10000;

	for (int i = 3; i >= 0; i--) {
		out[i] = (char)('0' + v % 10);
		v /= 10;
	}
	out[4] = '\0';
}

int rg_iso_field_text(const struct rg_dialect *d, const struct rg_iso_msg *m,
		      unsigned de, char *out, size_t cap)
{
	const struct rg_iso_field_spec *f;
	const struct rg_iso_value *v;
	const uint8_t *p;
	size_t n;

	if (!rg_iso_has(m, de))
		return -1;
	if (de == 1) {
		if (cap < 17)
			return -ENOSPC;
		for (unsigned i = 0; i < 16; i++)
			out[i] = hex_upper[(m->bitmap[1] >> (60 - 4 * i)) & 0xF];
		out[16] = '\0';
		return 16;
	}
	f = &d->de[de];
	v = &m->v[de];
	p = m->buf + v->off;

	switch (f->enc) {
	case RG_ISO_E_BCD: {
		unsigned first, count, i = 0;
		bcd_span(f, v, p, &first, &count);
		if (cap <= count)
			return -ENOSPC;
		if (first & 1) {
			out[i++] = hex_upper[p[first / 2] & 0xF];
		}
		/* whole bytes, two characters at a time (identifiers are BCD here) */
		for (; i + 1 < count; i += 2) {
			uint8_t b = p[(first + i) / 2];
			out[i] = hex_upper[b >> 4];
			out[i + 1] = hex_upper[b & 0xF];
		}
		if (i < count)
			out[i] = hex_upper[nibble_at(p, first + i)];
		out[count] = '\0';
		return (int)count;
	}
	case RG_ISO_E_RAW:
		n = 2u * v->len;
		if (cap <= n)
			return -ENOSPC;
		for (unsigned i = 0; i < v->len; i++) {
			out[2 * i] = hex_upper[p[i] >> 4];
			out[2 * i + 1] = hex_upper[p[i] & 0xF];
		}
		break;
	case RG_ISO_E_HEX:
		n = v->len;
		if (cap <= n)
			return -ENOSPC;
		for (unsigned i = 0; i < n; i++) {
			uint8_t c = p[i];
			out[i] = (char)(c >= 'a' && c <= 'f' ? c - 0x20 : c);
		}
		break;
	case RG_ISO_E_EBCDIC:
		n = v->len;
		if (cap <= n)
			return -ENOSPC;
		for (unsigned i = 0; i < n; i++)
			out[i] = (char)rg_ebcdic_to_ascii[p[i]];
		break;
	default:
		n = v->len;
		if (cap <= n)
			return -ENOSPC;
		memcpy(out, p, n);
		break;
	}
	out[n] = '\0';
	return (int)n;
}

void rg_iso_builder_init(struct rg_iso_builder *b, uint16_t mti)
{
	memset(b, 0, sizeof(*b));
	b->mti = mti;
}

void rg_iso_builder_set(struct rg_iso_builder *b, unsigned de, const char *text)
{
	size_t n;

	if (de < 1 || de > RG_ISO_MAX_DE)
		return;
	b->text[de] = text;
	n = text ? strlen(text) : 0;
	b->text_len[de] = (uint16_t)(n > UINT16_MAX ? UINT16_MAX : n);
}

/* Output cursor of the encoder. */
struct wcur {
	uint8_t *p;
	size_t len, cap;
};

static inline bool room(const struct wcur *w, size_t n)
{
	return w->cap - w->len >= n;
}

static int put_digits(struct wcur *w, unsigned enc, unsigned v, unsigned nd)
{
	if (enc == RG_ISO_E_BCD) {
		unsigned nb = (nd + 1) / 2;
		if (!room(w, nb))
			return -ENOSPC;
		for (int i = (int)nb - 1; i >= 0; i--) {
			w->p[w->len + (unsigned)i] = (uint8_t)((v / 10 % 10) << 4 | v % 10);
			v /= 100;
		}
		w->len += nb;
		return 0;
	}
	if (enc == RG_ISO_E_BINARY) {
		unsigned nb = nd == 2 ? 1 : 2;
		if (!room(w, nb))
			return -ENOSPC;
		if (nb == 2)
			w->p[w->len++] = (uint8_t)(v >> 8);
		w->p[w->len++] = (uint8_t)v;
		return 0;
	}
	if (!room(w, nd))
		return -ENOSPC;
	for (int i = (int)nd - 1; i >= 0; i--) {
		uint8_t c = (uint8_t)('0' + v % 10);
		w->p[w->len + (unsigned)i] = enc == RG_ISO_E_EBCDIC ? rg_ascii_to_ebcdic[c] : c;
		v /= 10;
	}
	w->len += nd;
	return 0;
}

/* BCD nibble for an ASCII character of a numeric value (already checked). */
static inline unsigned char_nibble(uint8_t c)
{
	if (is_digit(c))
		return (unsigned)(c - '0');
	if (c == '=')
		return 0xD;
	return (unsigned)hex_val(c);
}

static int encode_field(const struct rg_iso_field_spec *f, const uint8_t *t,
			uint32_t tl, struct wcur *w)
{
	uint32_t units, nbytes, pv;
	int rc;

	if (f->type == RG_ISO_T_B) {
		if (tl % 2)
			return -EINVAL;
		for (uint32_t i = 0; i < tl; i++)
			if (hex_val(t[i]) < 0)
				return -EINVAL;
		units = tl / 2;
	} else {
		units = tl;
		for (uint32_t i = 0; i < tl; i++)
			if (!char_ok(f->type, i, t[i]))
				return -EINVAL;
	}
	if (f->prefix_digits == 0 ? units != f->len : units > f->len)
		return -EINVAL;
	nbytes = wire_bytes(f, units);

	if (f->prefix_digits) {
		pv = units;
		if (f->prefix_in_bytes && f->enc == RG_ISO_E_BCD)
			pv = nbytes;
		rc = put_digits(w, f->prefix_enc, pv, f->prefix_digits);
		if (rc)
			return rc;
	}
	if (!room(w, nbytes))
		return -ENOSPC;

	uint8_t *o = w->p + w->len;
	switch (f->enc) {
	case RG_ISO_E_BCD: {
		unsigned total = 2 * nbytes, first = 0;
		unsigned pad = f->pad == RG_ISO_PAD_RIGHT_F ? 0xF : 0;
		if (units < total && f->pad == RG_ISO_PAD_LEFT)
			first = total - units;
		memset(o, 0, nbytes);
		for (unsigned i = 0; i < total; i++) {
			unsigned nib = (i >= first && i < first + units) ?
				char_nibble(t[i - first]) : pad;
			o[i / 2] |= (uint8_t)(i & 1 ? nib : nib << 4);
		}
		break;
	}
	case RG_ISO_E_RAW:
		for (uint32_t i = 0; i < nbytes; i++)
			o[i] = (uint8_t)(hex_val(t[2 * i]) << 4 | hex_val(t[2 * i + 1]));
		break;
	case RG_ISO_E_HEX:
		for (uint32_t i = 0; i < nbytes; i++) {
			uint8_t c = t[i];
			o[i] = c >= 'a' && c <= 'f' ? (uint8_t)(c - 0x20) : c;
		}
		break;
	case RG_ISO_E_EBCDIC:
		for (uint32_t i = 0; i < nbytes; i++)
			o[i] = rg_ascii_to_ebcdic[t[i]];
		break;
	default:
		memcpy(o, t, nbytes);
		break;
	}
	w->len += nbytes;
	return 0;
}

static int put_bitmap(struct wcur *w, unsigned enc, uint64_t bm)
{
	if (enc == RG_ISO_E_RAW) {
		if (!room(w, 8))
			return -ENOSPC;
		for (unsigned i = 0; i < 8; i++)
			w->p[w->len++] = (uint8_t)(bm >> (56 - 8 * i));
		return 0;
	}
	if (!room(w, 16))
		return -ENOSPC;
	for (unsigned i = 0; i < 16; i++) {
		uint8_t c = (uint8_t)hex_upper[(bm >> (60 - 4 * i)) & 0xF];
		w->p[w->len++] = enc == RG_ISO_E_EBCDIC ? rg_ascii_to_ebcdic[c] : c;
	}
	return 0;
}

int rg_iso_encode(const struct rg_dialect *d, const struct rg_iso_builder *b,
		  uint8_t *out, size_t cap, unsigned *bad_de)
{
	struct wcur w = { out, 0, cap };
	uint64_t bm[2] = { 0, 0 };
	unsigned de = 0;
	int rc;

	if (b->mti > 9999) {
		rc = -EINVAL;
		goto out_bad;
	}
	for (de = 2; de <= RG_ISO_MAX_DE; de++) {
		if (b->text[de] == NULL)
			continue;
		if (d->de[de].type == RG_ISO_T_NONE) {
			rc = -EINVAL;
			goto out_bad;
		}
		bm[(de - 1) / 64] |= 1ULL << (63 - (de - 1) % 64);
	}
	if (bm[1])
		bm[0] |= 1ULL << 63;

	de = 0;
	rc = put_digits(&w, d->mti_enc == RG_ISO_E_BCD ? RG_ISO_E_BCD : d->mti_enc,
			b->mti, 4);
	if (rc)
		goto out_bad;
	rc = put_bitmap(&w, d->bitmap_enc, bm[0]);
	if (rc == 0 && bm[1])
		rc = put_bitmap(&w, d->bitmap_enc, bm[1]);
	if (rc)
		goto out_bad;

	for (de = 2; de <= RG_ISO_MAX_DE; de++) {
		if (b->text[de] == NULL)
			continue;
		rc = encode_field(&d->de[de], (const uint8_t *)b->text[de],
				  b->text_len[de], &w);
		if (rc)
			goto out_bad;
	}
	if (w.len > UINT16_MAX) {
		de = 0;
		rc = -EINVAL;
		goto out_bad;
	}
	return (int)w.len;

out_bad:
	if (bad_de)
		*bad_de = de;
	return rc;
}
