/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Identifiers: kind names, the single normalisation of each kind, masking
 * for people, and extraction of identifiers from a decoded ISO 8583 message
 * as the dialect's ident[] sources direct (whole DE, track 2, track 1, ASCII
 * TLV, BER-TLV).
 *
 * Normalisation is shared by every component, so its output for a given
 * input must never change: fingerprints in every member's ledger depend on
 * it.  Extraction runs once per message on the fast path: it works in stack
 * buffers, never allocates, and reports malformed fields as an anomaly
 * rather than an error.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/ident.h"

static const char *const kind_names[RG_KIND_MAX] = {
	[RG_KIND_PAN] = "PAN",
	[RG_KIND_ACCOUNT] = "ACCOUNT",
	[RG_KIND_MERCHANT] = "MERCHANT",
	[RG_KIND_TERMINAL] = "TERMINAL",
	[RG_KIND_ACQUIRER] = "ACQUIRER",
	[RG_KIND_PHONE] = "PHONE",
	[RG_KIND_DEVICE] = "DEVICE",
};

/* Bounds of each kind's normalised length. */
#define PAN_MIN 12
#define PAN_MAX 19
#define ACCOUNT_MAX 34
#define ACQUIRER_MAX 11
#define PHONE_MIN 7
#define PHONE_MAX 15

_Static_assert(RG_IDENT_MAX_LEN <= 255, "struct rg_ident.len is a byte");
_Static_assert(RG_KIND_MAX <= 256, "kinds are hashed as one byte");

const char *rg_kind_name(unsigned kind)
{
	if (kind >= RG_KIND_MAX)
		return NULL;
	return kind_names[kind];
}

enum rg_kind rg_kind_from_name(const char *name)
{
	unsigned k;

	if (name == NULL)
		return RG_KIND_NONE;
	for (k = RG_KIND_NONE + 1; k < RG_KIND_MAX; k++)
		if (strcasecmp(name, kind_names[k]) == 0)
			return (enum rg_kind)k;
	return RG_KIND_NONE;
}

static inline bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static inline bool is_print(char c)
{
	return c >= 0x20 && c <= 0x7e;
}

bool rg_luhn_ok(const char *digits, size_t len)
{
	unsigned sum = 0;
	bool dbl = false;
	size_t i;

	if (len == 0)
		return false;
	for (i = len; i-- > 0;) {
		unsigned d;

		if (!is_digit(digits[i]))
			return false;
		d = (unsigned)(digits[i] - '0');
		if (dbl) {
			d *= 2;
			if (d > 9)
				d -= 9;
		}
		sum += d;
		dbl = !dbl;
	}
	return sum % 10 == 0;
}

/*
 * Eight characters at a time: identifiers are mostly clean digits or text,
 * so the common case is settled by a few word compares and one copy; the
 * byte loops only run when a separator or a bad character is present.
 */
static inline uint64_t load8(const char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

static inline void store8(char *p, uint64_t v)
{
	memcpy(p, &v, sizeof(v));
}

/* Copy len <= RG_IDENT_MAX_LEN bytes without a library call: identifiers
 * are short and copied once each, where a call costs more than the copy.
 * Reads and writes stay within [0, len) (overlapping words at the end). */
static inline void copy_ident(char *out, const char *in, size_t len)
{
	size_t i = 0;

	if (len >= 8) {
		for (; i + 8 <= len; i += 8)
			store8(out + i, load8(in + i));
		if (i < len)
			store8(out + len - 8, load8(in + len - 8));
		return;
	}
	for (; i < len; i++)
		out[i] = in[i];
}

/* All eight bytes are '0'..'9': high nibble 3, low nibble at most 9 (adding
 * 6 to a low nibble above 9 carries into the high nibble). */
static inline bool digits8(uint64_t x)
{
	return (x & 0xf0f0f0f0f0f0f0f0ULL) == 0x3030303030303030ULL &&
	       ((x + 0x06 * ONES) & 0xf0f0f0f0f0f0f0f0ULL) == 0x3030303030303030ULL;
}

/* All eight bytes are 0x20..0x7e. */
static inline bool print8(uint64_t x)
{
	uint64_t below = (x - 0x20 * ONES) & ~x & HIGHS; /* some byte < 0x20 */
	uint64_t above = ((x & ~HIGHS) + 0x01 * ONES) | x; /* some byte >= 0x7f */

	return (below | (above & HIGHS)) == 0;
}

/* in[0..len) all digits, for 8 <= len <= 24 (overlapping words). */
static inline bool all_digits_8_24(const char *in, size_t len)
{
	return digits8(load8(in)) && digits8(load8(in + len - 8)) &&
	       (len <= 16 || digits8(load8(in + 8)));
}

static bool all_print(const char *in, size_t len)
{
	size_t i = 0;

	if (len >= 8) {
		for (; i + 8 <= len; i += 8)
			if (!print8(load8(in + i)))
				return false;
		return i == len || print8(load8(in + len - 8));
	}
	for (; i < len; i++)
		if (!is_print(in[i]))
			return false;
	return true;
}

static int norm_pan(const char *in, size_t len, char *out)
{
	size_t i, n = 0;

	if (len >= PAN_MIN && len <= PAN_MAX && all_digits_8_24(in, len)) {
		copy_ident(out, in, len);
		return (int)len;
	}

	for (i = 0; i < len; i++) {
		char c = in[i];

		if (c == ' ' || c == '-')
			continue;
		if (!is_digit(c) || n == PAN_MAX)
			return -EINVAL;
		out[n++] = c;
	}
	return n >= PAN_MIN ? (int)n : -EINVAL;
}

static int norm_account(const char *in, size_t len, char *out)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		char c = in[i];

		if (c == ' ' || c == '-')
			continue;
		if (!is_print(c) || n == ACCOUNT_MAX)
			return -EINVAL;
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		out[n++] = c;
	}
	return n > 0 ? (int)n : -EINVAL;
}

/* MERCHANT, TERMINAL, DEVICE: pad spaces go, inner spaces stay. */
static int norm_trimmed(const char *in, size_t len, char *out)
{

	while (len > 0 && in[0] == ' ') {
		in++;
		len--;
	}
	while (len > 0 && in[len - 1] == ' ')
		len--;
	if (len == 0 || len > RG_IDENT_MAX_LEN || !all_print(in, len))
		return -EINVAL;
	copy_ident(out, in, len);
	return (int)len;
}

static int norm_acquirer(const char *in, size_t len, char *out)
{
	size_t i;

	if (len == 0 || len > ACQUIRER_MAX)
		return -EINVAL;
	if (len >= 8) {
		if (!all_digits_8_24(in, len))
			return -EINVAL;
	} else {
		for (i = 0; i < len; i++)
			if (!is_digit(in[i]))
				return -EINVAL;
	}
	copy_ident(out, in, len);
	return (int)len;
}

static int norm_phone(const char *in, size_t len, char *out)
{
	bool plus = false;
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		char c = in[i];

		if (c == ' ' || c == '-' || c == '(' || c == ')' || c == '.')
			continue;
		if (c == '+' && !plus && n == 0) {
			plus = true;
			continue;
		}
		/* PHONE_MAX digits plus an international "00" prefix. */
		if (!is_digit(c) || n == PHONE_MAX + 2)
			return -EINVAL;
		out[n++] = c;
	}
	if (!plus && n >= 2 && out[0] == '0' && out[1] == '0') {
		memmove(out, out + 2, n - 2);
		n -= 2;
	}
	/* A second international prefix is bogus, and accepting it would make
	 * the normal form change when normalised again. */
	if (n >= 2 && out[0] == '0' && out[1] == '0')
		return -EINVAL;
	return n >= PHONE_MIN && n <= PHONE_MAX ? (int)n : -EINVAL;
}

int rg_ident_normalise(unsigned kind, const char *in, size_t len, char *out)
{
	switch (kind) {
	case RG_KIND_PAN:
		return norm_pan(in, len, out);
	case RG_KIND_ACCOUNT:
		return norm_account(in, len, out);
	case RG_KIND_MERCHANT:
	case RG_KIND_TERMINAL:
	case RG_KIND_DEVICE:
		return norm_trimmed(in, len, out);
	case RG_KIND_ACQUIRER:
		return norm_acquirer(in, len, out);
	case RG_KIND_PHONE:
		return norm_phone(in, len, out);
	default:
		return -EINVAL;
	}
}

/* Digits i.. of a run of n kept in clear by the one masking rule. */
static inline bool mask_keeps(size_t i, size_t n)
{
	if (n < RG_MASK_RUN_MIN)
		return true;
	if (i + 4 >= n)
		return true;
	return n >= PAN_MIN && i < 6;
}

/* An IBAN: two letters (country), two check digits, at least 11 more. */
static bool iban_shaped(const char *v, size_t len)
{
	return len >= 15 && v[0] >= 'A' && v[0] <= 'Z' && v[1] >= 'A' && v[1] <= 'Z' &&
	       is_digit(v[2]) && is_digit(v[3]);
}

int rg_ident_mask(unsigned kind, const char *value, size_t len, char *out, size_t cap)
{
	size_t i;

	if (cap == 0 || len > cap - 1 || len > INT32_MAX)
		return -ENOSPC;
	if (kind == RG_KIND_PAN && len < PAN_MIN) {
		memset(out, '*', len);
	} else if (kind == RG_KIND_PAN) {
		memcpy(out, value, 6);
		for (i = 6; i < len - 4; i++)
			out[i] = '*';
		memcpy(out + len - 4, value + len - 4, 4);
	} else if (kind == RG_KIND_ACCOUNT && len < RG_MASK_RUN_MIN) {
		memset(out, '*', len);
	} else if (kind == RG_KIND_ACCOUNT) {
		size_t head = iban_shaped(value, len) ? 4 : len >= PAN_MIN ? 6 : 0;

		for (i = 0; i < len; i++)
			out[i] = i < head || i + 4 >= len ? value[i] : '*';
	} else {
		memcpy(out, value, len);
	}
	out[len] = '\0';
	return (int)len;
}

/*
 * The digit runs of text: digits joined by single ' ' or '-' (the
 * separators PAN and ACCOUNT normalisation drop).  An ISO 8601 date
 * (YYYY-MM-DD, nothing joined either side) is not a run.  Calls fn for each
 * run of at least RG_MASK_RUN_MIN digits with its byte span and digit count;
 * returns the longest run's digit count (dates and short runs included).
 */
static size_t digit_runs(const char *s, size_t len,
			 void (*fn)(void *ctx, size_t start, size_t end, size_t nb), void *ctx)
{
	size_t i = 0, longest = 0;

	while (i < len) {
		size_t start, end, nb = 0, groups = 0, glen[3] = { 0, 0, 0 };
		bool dashes = true;

		if (!is_digit(s[i])) {
			i++;
			continue;
		}
		start = i;
		for (;;) {
			size_t g = 0;

			while (i < len && is_digit(s[i])) {
				g++;
				i++;
			}
			if (groups < 3)
				glen[groups] = g;
			groups++;
			nb += g;
			if (i + 1 < len && (s[i] == ' ' || s[i] == '-') && is_digit(s[i + 1])) {
				dashes &= s[i] == '-';
				i++;
				continue;
			}
			break;
		}
		end = i;
		if (groups == 3 && dashes && glen[0] == 4 && glen[1] == 2 && glen[2] == 2)
			continue; /* a date */
		if (nb > longest)
			longest = nb;
		if (nb >= RG_MASK_RUN_MIN && fn != NULL)
			fn(ctx, start, end, nb);
	}
	return longest;
}

static void mask_run(void *ctx, size_t start, size_t end, size_t nb)
{
	char *s = ctx;
	size_t k = 0;

	for (size_t i = start; i < end; i++) {
		if (!is_digit(s[i]))
			continue;
		if (!mask_keeps(k, nb))
			s[i] = '*';
		k++;
	}
}

void rg_mask_text(char *s)
{
	if (s != NULL)
		digit_runs(s, strlen(s), mask_run, s);
}

size_t rg_digit_run_max(const char *s, size_t len)
{
	return digit_runs(s, len, NULL, NULL);
}

void rg_mask_errorf(FILE *out, const char *prog, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	rg_mask_text(text);
	fprintf(out, "%s: %s\n", prog, text);
}

/* ---- extraction --------------------------------------------------------- */

/* Text of one DE: binary values render as hex, two characters per byte. */
#define FIELD_TEXT_CAP (2 * RG_ISO_MAX_FIELD + 1)

static inline int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Hex text back to bytes, in place (out may equal in). */
static int unhex(const char *in, size_t len, uint8_t *out)
{
	size_t i;

	if (len % 2 != 0)
		return -EINVAL;
	for (i = 0; i < len / 2; i++) {
		int hi = hex_val(in[2 * i]), lo = hex_val(in[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return (int)(len / 2);
}

/* Bytes of x equal to c get their high bit set; the lowest flagged byte is
 * always a true match (borrows only spill upward from a match). */
static inline uint64_t match8(uint64_t x, uint8_t c)
{
	uint64_t y = x ^ (c * ONES);

	return (y - ONES) & ~y & HIGHS;
}

/* Track 2: [';'] PAN ('=' | 'D') YYMM service code discretionary. */
static bool locate_track2(const char *t, size_t n, const char **val, size_t *val_len)
{
	size_t i, start = 0;

	if (n > 0 && t[0] == ';')
		start = 1;
	for (i = start; i + 8 <= n; i += 8) {
		uint64_t x = load8(t + i);
		uint64_t hit = match8(x, '=') | match8(x, 'D') | match8(x, 'd');

		if (hit != 0) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			i += (size_t)__builtin_ctzll(hit) / 8;
#else
			i += (size_t)__builtin_clzll(hit) / 8;
#endif
			*val = t + start;
			*val_len = i - start;
			return true;
		}
	}
	for (; i < n; i++) {
		if (t[i] == '=' || t[i] == 'D' || t[i] == 'd') {
			*val = t + start;
			*val_len = i - start;
			return true;
		}
	}
	return false;
}

/* Track 1 format B: ['%'] 'B' PAN '^' NAME '^' YYMM ... */
static bool locate_track1(const char *t, size_t n, const char **val, size_t *val_len)
{
	size_t i, start = 0;

	if (n > 0 && t[0] == '%')
		start = 1;
	if (start >= n || t[start] != 'B')
		return false;
	start++;
	for (i = start; i < n; i++) {
		if (t[i] == '^') {
			*val = t + start;
			*val_len = i - start;
			return true;
		}
	}
	return false;
}

static inline void note(enum rg_anomaly *anomaly, enum rg_anomaly a)
{
	if (*anomaly == RG_ANOM_NONE)
		*anomaly = a;
}

static bool is_duplicate(const struct rg_ident *out, unsigned n, const struct rg_ident *id)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		size_t j = 0;

		if (out[i].kind != id->kind || out[i].len != id->len)
			continue;
		for (; j + 8 <= id->len; j += 8)
			if (load8(out[i].value + j) != load8(id->value + j))
				break;
		if (j + 8 <= id->len)
			continue;
		for (; j < id->len; j++)
			if (out[i].value[j] != id->value[j])
				break;
		if (j == id->len)
			return true;
	}
	return false;
}

unsigned rg_ident_extract(const struct rg_dialect *d, const struct rg_iso_msg *m,
			  struct rg_ident *out, unsigned max, enum rg_anomaly *anomaly)
{
	return rg_ident_extract_mask(d, m, UINT32_MAX, out, max, anomaly);
}

unsigned rg_ident_extract_mask(const struct rg_dialect *d, const struct rg_iso_msg *m,
			       uint32_t kind_mask, struct rg_ident *out, unsigned max,
			       enum rg_anomaly *anomaly)
{
	enum rg_anomaly dummy = RG_ANOM_NONE;
	char text[FIELD_TEXT_CAP];
	unsigned i, n = 0;
	unsigned nb = d->nb_ident;

	if (anomaly == NULL)
		anomaly = &dummy;
	*anomaly = RG_ANOM_NONE;
	if (nb > RG_DIALECT_MAX_IDENT)
		nb = RG_DIALECT_MAX_IDENT;

	for (i = 0; i < nb && n < max; i++) {
		const struct rg_ident_source *src = &d->ident[i];
		const struct rg_iso_field_spec *f;
		const char *t, *val = NULL;
		size_t val_len = 0, tlen;
		int len, rc;

		if (src->kind == RG_KIND_NONE || src->kind >= RG_KIND_MAX ||
		    !(kind_mask >> src->kind & 1) || !rg_iso_has(m, src->de))
			continue;
		f = &d->de[src->de];
		if (f->enc == RG_ISO_E_ASCII) {
			/* The text of an ASCII field is its wire bytes: no copy. */
			const struct rg_iso_value *v = &m->v[src->de];

			if ((uint32_t)v->off + v->len > m->len) {
				note(anomaly, RG_ANOM_IDENT_INVALID);
				continue;
			}
			t = (const char *)m->buf + v->off;
			tlen = v->len;
		} else {
			len = rg_iso_field_text(d, m, src->de, text, sizeof(text));
			if (len < 0) {
				note(anomaly, RG_ANOM_IDENT_INVALID);
				continue;
			}
			t = text;
			tlen = (size_t)len;
			/* Binary values come back as hex text; BER needs the bytes. */
			if (src->how == RG_IDENT_TLV_BER && f->type == RG_ISO_T_B &&
			    (f->enc == RG_ISO_E_RAW || f->enc == RG_ISO_E_HEX)) {
				rc = unhex(text, tlen, (uint8_t *)text);
				if (rc < 0) {
					note(anomaly, RG_ANOM_IDENT_INVALID);
					continue;
				}
				tlen = (size_t)rc;
			}
		}
		if (src->skip > tlen) {
			note(anomaly, RG_ANOM_IDENT_INVALID);
			continue;
		}

		switch (src->how) {
		case RG_IDENT_WHOLE:
			val = t + src->skip;
			val_len = tlen - src->skip;
			break;
		case RG_IDENT_TRACK2:
			if (!locate_track2(t + src->skip, tlen - src->skip, &val, &val_len)) {
				note(anomaly, RG_ANOM_IDENT_INVALID);
				continue;
			}
			break;
		case RG_IDENT_TRACK1:
			if (!locate_track1(t + src->skip, tlen - src->skip, &val, &val_len)) {
				note(anomaly, RG_ANOM_IDENT_INVALID);
				continue;
			}
			break;
		case RG_IDENT_TLV_ASCII:
		case RG_IDENT_TLV_BER: {
			const uint8_t *v = NULL;

			if (src->how == RG_IDENT_TLV_ASCII)
				rc = rg_tlv_ascii_find((const uint8_t *)t + src->skip,
						       tlen - src->skip, src->tag_width,
						       src->len_width, src->tag, &v, &val_len);
			else
				rc = rg_tlv_ber_find((const uint8_t *)t + src->skip,
						     tlen - src->skip, src->tag, src->tag_len,
						     &v, &val_len);
			if (rc == -ENOENT || rc == -EINVAL)
				continue; /* absent, or a source the dialect got wrong */
			if (rc < 0) {
				note(anomaly, RG_ANOM_TLV_MALFORMED);
				continue;
			}
			val = (const char *)v;
			break;
		}
		default:
			continue;
		}

		struct rg_ident *id = &out[n];

		rc = rg_ident_normalise(src->kind, val, val_len, id->value);
		if (rc < 0) {
			note(anomaly, RG_ANOM_IDENT_INVALID);
			continue;
		}
		id->kind = src->kind;
		id->de = src->de;
		id->len = (uint8_t)rc;
		if (!is_duplicate(out, n, id))
			n++;
	}
	return n;
}
