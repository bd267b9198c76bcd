/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Traffic generator: ISO 8583 conversations between acquirer hosts
 * (10.1.x.y) and a card switch (10.2.0.1:PORT) over real-looking TCP, the
 * list files that screen them and the ground truth of expected hits.
 *
 * Three parts:
 *  - a message source: cards, merchants, terminals, phones and accounts
 *    drawn from disjoint classes (traffic-only, listed-and-in-traffic,
 *    decoy), so a value written as a decoy can never occur in the traffic
 *    and the ground truth is exact by construction;
 *  - a TCP conversation model: handshakes, interleaved request/response
 *    batches per flow cut into segments (whole, coalesced, split, tiny),
 *    optional reordering, retransmission and keep-alives, teardown;
 *  - the ground truth: for every message, the identifiers the dialect's
 *    extraction order would yield (taken from the text we encoded, not from
 *    decoding it again), looked up in the listed set.
 *
 * Everything random comes from one xoshiro256** stream seeded by splitmix64,
 * consumed in a fixed order: same configuration, same bytes.
 */
#include "perf/gen/gen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/frame.h"
#include "common/ident.h"
#include "common/iso8583.h"
#include "perf/gen/pcapw.h"

#define GEN_EPOCH_US 1793610000000000ULL /* 2026-11-02 09:00:00 UTC */
#define GEN_MSS 1460
#define GEN_MAX_PENDING 8   /* outstanding requests per flow */
#define TXN_ARENA 1024      /* text bytes per message */
#define MSG_CAP 4096        /* encoded message bytes */
#define NB_BINS 256
#define NB_MERCHANTS 512
#define NB_LISTS 4

/* ------------------------------------------------------------------ */
/* PRNG: splitmix64 to seed, xoshiro256** to draw */

struct rng {
	uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed)
{
	unsigned i;

	for (i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl64(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t res = rotl64(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl64(s[3], 45);
	return res;
}

/* Uniform in [0, n); n > 0. */
static uint32_t rng_below(struct rng *r, uint32_t n)
{
	return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

static bool rng_chance(struct rng *r, double p)
{
	return (double)(rng_next(r) >> 11) * 0x1p-53 < p;
}

static void rng_digits(struct rng *r, char *out, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		out[i] = (char)('0' + rng_below(r, 10));
}

/* ------------------------------------------------------------------ */
/* small formatting helpers */

static void put_num(char *out, uint64_t v, unsigned width)
{
	while (width--) {
		out[width] = (char)('0' + v % 10);
		v /= 10;
	}
}

/* Luhn check digit for payload digits p[0..n). */
static char luhn_digit(const char *p, unsigned n)
{
	unsigned sum = 0, i;
	bool dbl = true;

	for (i = n; i-- > 0; dbl = !dbl) {
		unsigned v = (unsigned)(p[i] - '0');

		if (dbl) {
			v *= 2;
			if (v > 9)
				v -= 9;
		}
		sum += v;
	}
	return (char)('0' + (10 - sum % 10) % 10);
}

/* Copy a NUL-terminated string, cut to fit cap (> 0). */
static void copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void set_err(char *err, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (!err || !cap)
		return;
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------ */
/* one message as field texts */

struct txn {
	uint16_t mti;
	uint16_t used;                      /* arena bytes used; 0 is never an offset */
	uint16_t off[RG_ISO_MAX_DE + 1];    /* 0: DE absent */
	char arena[TXN_ARENA];
};

static void txn_init(struct txn *t, uint16_t mti)
{
	t->mti = mti;
	t->used = 1;
	memset(t->off, 0, sizeof(t->off));
}

static const char *txn_get(const struct txn *t, unsigned de)
{
	return t->off[de] ? t->arena + t->off[de] : NULL;
}

/*
 * Store text as DE de when the dialect defines it, fitted to the dialect's
 * length: fixed fields padded (numeric: leading zeros, others: trailing
 * spaces) or cut, variable ones cut to their maximum.
 */
static void txn_set(struct txn *t, const struct rg_dialect *d, unsigned de,
		    const char *text, size_t len)
{
	const struct rg_iso_field_spec *fs = &d->de[de];
	size_t want = len;
	char *dst;

	if (de < 2 || de > RG_ISO_MAX_DE || fs->type == RG_ISO_T_NONE)
		return;
	if (fs->prefix_digits == 0)
		want = fs->type == RG_ISO_T_B ? 2u * fs->len : fs->len;
	else if (fs->type == RG_ISO_T_B && len > 2u * fs->len)
		want = 2u * fs->len;
	else if (fs->type != RG_ISO_T_B && len > fs->len)
		want = fs->len;
	if ((size_t)t->used + want + 1 > TXN_ARENA)
		return;
	dst = t->arena + t->used;
	if (want <= len) {
		memcpy(dst, text, want);
	} else if (fs->type == RG_ISO_T_N) {
		memset(dst, '0', want - len);
		memcpy(dst + want - len, text, len);
	} else {
		memcpy(dst, text, len);
		memset(dst + len, fs->type == RG_ISO_T_B ? '0' : ' ', want - len);
	}
	dst[want] = '\0';
	t->off[de] = t->used;
	t->used = (uint16_t)(t->used + want + 1);
}

static void txn_sets(struct txn *t, const struct rg_dialect *d, unsigned de, const char *s)
{
	txn_set(t, d, de, s, strlen(s));
}

static void txn_copy(struct txn *t, const struct rg_dialect *d, const struct txn *from,
		     unsigned de)
{
	const char *s = txn_get(from, de);

	if (s)
		txn_sets(t, d, de, s);
}

static int txn_encode(const struct rg_dialect *d, const struct txn *t, uint8_t *out,
		      size_t cap, unsigned *bad_de)
{
	struct rg_iso_builder b;
	unsigned de;

	rg_iso_builder_init(&b, t->mti);
	for (de = 2; de <= RG_ISO_MAX_DE; de++)
		if (t->off[de])
			rg_iso_builder_set(&b, de, t->arena + t->off[de]);
	return rg_iso_encode(d, &b, out, cap, bad_de);
}

/* ------------------------------------------------------------------ */
/* identifier classes and the listed set */

enum id_class {
	CLS_TRAFFIC = 0, /* appears in traffic, never listed */
	CLS_LISTED,      /* listed and appears in traffic */
	CLS_DECOY,       /* listed, never in traffic */
};

/* The digit or letter that marks a value's class at its class position. */
static char class_digit(struct rng *r, enum id_class cls)
{
	switch (cls) {
	case CLS_LISTED:
		return '7';
	case CLS_DECOY:
		return (char)('8' + rng_below(r, 2));
	default:
		return (char)('0' + rng_below(r, 7));
	}
}

enum gen_list {
	L_TXN_FRAUD = 0,
	L_HIGH_RISK_ACCOUNT,
	L_MARKETING_CHEAT,
	L_TELECOM_FRAUD,
};

static const char *const list_names[NB_LISTS] = {
	"txn_fraud", "high_risk_account", "marketing_cheat", "telecom_fraud",
};

struct listed {
	uint8_t kind;
	uint8_t lists;  /* bit per enum gen_list */
	uint8_t len;
	char norm[RG_IDENT_MAX_LEN + 1];
};

struct bin {
	char digits[7];
	uint8_t pan_len;
};

struct merchant {
	char mid[16];       /* DE 42 value, 15 chars */
	char tid[4][9];     /* its terminals */
	uint8_t nb_tid;
	char name_loc[41];  /* DE 43 */
	char mcc[5];
	char currency[4];
	char phone_cc[4];   /* country calling code of its customers */
};

/* Where phone and device identifiers go (taken from the dialect). */
struct tlv_slot {
	uint8_t de;
	uint8_t tag_width;
	uint8_t len_width;
	char tag[5];
};

struct gen_src {
	const struct rg_dialect *d;
	struct rng rng;
	uint64_t now_us;
	double hit_rate;
	bool closed;                    /* hits only reuse the listed identifiers */
	bool extractable[RG_KIND_MAX];  /* a dialect source reads this kind from a DE we fill */
	char track2_sep;
	struct tlv_slot phone, device;
	struct bin bins[NB_BINS];
	struct merchant merchants[NB_MERCHANTS];
	/* listed identifiers that occur in traffic, with an index by value */
	struct listed *listed;
	size_t nb_listed, cap_listed;
	uint32_t *index;                /* slot -> listed index + 1, 0 empty */
	size_t index_cap;               /* power of two */
	size_t by_kind_cap[RG_KIND_MAX];
	size_t by_kind_nb[RG_KIND_MAX];
	uint32_t *by_kind[RG_KIND_MAX]; /* listed indices of each kind, for reuse */
};

static uint64_t ident_hash(unsigned kind, const char *v, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ kind;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (uint8_t)v[i];
		h *= 0x100000001b3ULL;
	}
	return h ^ (h >> 29);
}

static const struct listed *listed_find(const struct gen_src *s, unsigned kind,
					const char *v, size_t len)
{
	size_t mask = s->index_cap - 1, i;

	if (!s->index_cap)
		return NULL;
	for (i = ident_hash(kind, v, len) & mask; s->index[i]; i = (i + 1) & mask) {
		const struct listed *l = &s->listed[s->index[i] - 1];

		if (l->kind == kind && l->len == len && memcmp(l->norm, v, len) == 0)
			return l;
	}
	return NULL;
}

static int index_insert(struct gen_src *s, uint32_t idx)
{
	const struct listed *l = &s->listed[idx];
	size_t mask, i;

	if ((s->nb_listed + 1) * 2 > s->index_cap) {
		size_t cap = s->index_cap ? s->index_cap * 2 : 1024, j;
		uint32_t *old = s->index, *n = calloc(cap, sizeof(*n));

		if (!n)
			return -ENOMEM;
		for (j = 0; j < s->index_cap; j++) {
			const struct listed *o;
			size_t k;

			if (!old[j])
				continue;
			o = &s->listed[old[j] - 1];
			for (k = ident_hash(o->kind, o->norm, o->len) & (cap - 1); n[k];
			     k = (k + 1) & (cap - 1))
				;
			n[k] = old[j];
		}
		free(old);
		s->index = n;
		s->index_cap = cap;
	}
	mask = s->index_cap - 1;
	for (i = ident_hash(l->kind, l->norm, l->len) & mask; s->index[i]; i = (i + 1) & mask)
		;
	s->index[i] = idx + 1;
	return 0;
}

/* Record a new listed identifier (norm is already normalised). */
static int listed_add(struct gen_src *s, unsigned kind, const char *norm, uint8_t lists)
{
	struct listed *l;
	size_t len = strlen(norm);
	int ret;

	if (len > RG_IDENT_MAX_LEN)
		return -EINVAL;
	if (s->nb_listed == s->cap_listed) {
		size_t cap = s->cap_listed ? s->cap_listed * 2 : 256;
		struct listed *n = realloc(s->listed, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		s->listed = n;
		s->cap_listed = cap;
	}
	if (s->by_kind_nb[kind] == s->by_kind_cap[kind]) {
		size_t cap = s->by_kind_cap[kind] ? s->by_kind_cap[kind] * 2 : 64;
		uint32_t *n = realloc(s->by_kind[kind], cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		s->by_kind[kind] = n;
		s->by_kind_cap[kind] = cap;
	}
	l = &s->listed[s->nb_listed];
	l->kind = (uint8_t)kind;
	l->lists = lists;
	l->len = (uint8_t)len;
	memcpy(l->norm, norm, len + 1);
	ret = index_insert(s, (uint32_t)s->nb_listed);
	if (ret)
		return ret;
	s->by_kind[kind][s->by_kind_nb[kind]++] = (uint32_t)s->nb_listed;
	s->nb_listed++;
	return 0;
}

/* ------------------------------------------------------------------ */
/* identifier generators */

static void gen_pan(struct gen_src *s, enum id_class cls, char *out)
{
	const struct bin *b = &s->bins[rng_below(&s->rng, NB_BINS)];
	unsigned n = b->pan_len;

	memcpy(out, b->digits, 6);
	out[6] = class_digit(&s->rng, cls);
	rng_digits(&s->rng, out + 7, n - 8);
	out[n - 1] = luhn_digit(out, n - 1);
	out[n] = '\0';
}

static const char *const phone_cc[] = { "49", "44", "33", "1", "86", "91", "39", "34" };

/* E.164 digits without '+': country code, then the class digit, then digits. */
static void gen_phone(struct gen_src *s, enum id_class cls, const char *cc, char *out)
{
	size_t cl = strlen(cc);
	unsigned nat = 10;

	if (strcmp(cc, "86") == 0)
		nat = 11;
	else if (strcmp(cc, "33") == 0)
		nat = 9;
	memcpy(out, cc, cl);
	out[cl] = (char)('1' + rng_below(&s->rng, 8));  /* no leading 0 */
	out[cl + 1] = class_digit(&s->rng, cls);
	rng_digits(&s->rng, out + cl + 2, nat - 2);
	out[cl + nat] = '\0';
}

static const char *const iban_cc[] = { "DE", "FR", "GB", "NL", "ES", "IT", "BE", "AT" };

static void gen_account(struct gen_src *s, enum id_class cls, char *out)
{
	memcpy(out, iban_cc[rng_below(&s->rng, 8)], 2);
	rng_digits(&s->rng, out + 2, 2);
	out[4] = class_digit(&s->rng, cls);
	rng_digits(&s->rng, out + 5, 17);
	out[22] = '\0';
}

static void gen_mid(struct gen_src *s, enum id_class cls, char *out)
{
	static const char *const pre[] = { "MRC", "SHP", "RTL", "ECM", "FUE" };

	memcpy(out, pre[rng_below(&s->rng, 5)], 3);
	out[3] = class_digit(&s->rng, cls);
	rng_digits(&s->rng, out + 4, 8);
	out[12] = '\0';  /* 12 significant chars; DE 42 pads to 15 */
}

static void gen_tid(struct gen_src *s, enum id_class cls, char *out)
{
	static const char *const pre[] = { "PS", "AT", "EC", "TM", "KS" };

	memcpy(out, pre[rng_below(&s->rng, 5)], 2);
	out[2] = class_digit(&s->rng, cls);
	rng_digits(&s->rng, out + 3, 5);
	out[8] = '\0';
}

static void gen_device(struct gen_src *s, char *out)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned i;

	for (i = 0; i < 16; i++)
		out[i] = hex[rng_below(&s->rng, 16)];
	out[16] = '\0';
}

/* ------------------------------------------------------------------ */
/* the message source */

static const char *const names[] = {
	"CORNER GROCERY", "CAFE ROMA", "CITY FUEL", "BOOKS AND MORE", "NORTH PHARMACY",
	"TECH STORE", "HOTEL CENTRAL", "METRO TRANSIT", "PIZZA NAPOLI", "FASHION HOUSE",
	"GARDEN CENTER", "AIRPORT DUTY FREE", "TAXI SERVICE", "ONLINE MARKET", "MOBILE TOPUP",
	"SUPERMARKT", "BAKERY", "ELECTRONICS", "SPORTS OUTLET", "PET SUPPLIES",
};

static const struct {
	const char *city, *state, *country, *currency, *cc;
} places[] = {
	{ "BERLIN", "BE", "DE", "978", "49" },
	{ "MUNICH", "BY", "DE", "978", "49" },
	{ "LONDON", "LN", "GB", "826", "44" },
	{ "PARIS", "IF", "FR", "978", "33" },
	{ "NEW YORK", "NY", "US", "840", "1" },
	{ "SAN FRANCISCO", "CA", "US", "840", "1" },
	{ "SHANGHAI", "SH", "CN", "156", "86" },
	{ "MUMBAI", "MH", "IN", "356", "91" },
	{ "MILAN", "LO", "IT", "978", "39" },
	{ "MADRID", "MD", "ES", "978", "34" },
};

#define NB_PLACES (sizeof(places) / sizeof(places[0]))

static const char *const holders[] = {
	"MUELLER/ANNA", "SMITH/JOHN", "DUPONT/MARIE", "ROSSI/LUCA", "GARCIA/ELENA",
	"WANG/LEI", "PATEL/RAVI", "JOHNSON/MARY A", "SCHMIDT/KLAUS", "BROWN/EMMA",
};

static const char *const mccs[] = {
	"5411", "5812", "5541", "5999", "4111", "5311", "5732", "5912", "7011",
	"4814", "5814", "5651", "4121", "5942", "5691",
};

static void make_bins(struct gen_src *s)
{
	unsigned i;

	for (i = 0; i < NB_BINS; i++) {
		struct bin *b = &s->bins[i];
		unsigned p = rng_below(&s->rng, 100);

		if (p < 45) {           /* Visa */
			b->digits[0] = '4';
			rng_digits(&s->rng, b->digits + 1, 5);
			b->pan_len = rng_chance(&s->rng, 0.08) ? 19 : 16;
		} else if (p < 60) {    /* Mastercard 51-55 */
			b->digits[0] = '5';
			b->digits[1] = (char)('1' + rng_below(&s->rng, 5));
			rng_digits(&s->rng, b->digits + 2, 4);
			b->pan_len = 16;
		} else if (p < 72) {    /* Mastercard 2221-2720 */
			put_num(b->digits, 2221 + rng_below(&s->rng, 500), 4);
			rng_digits(&s->rng, b->digits + 4, 2);
			b->pan_len = 16;
		} else if (p < 80) {    /* Amex */
			b->digits[0] = '3';
			b->digits[1] = rng_chance(&s->rng, 0.5) ? '4' : '7';
			rng_digits(&s->rng, b->digits + 2, 4);
			b->pan_len = 15;
		} else if (p < 92) {    /* UnionPay */
			b->digits[0] = '6';
			b->digits[1] = '2';
			rng_digits(&s->rng, b->digits + 2, 4);
			b->pan_len = rng_chance(&s->rng, 0.6) ? 19 : 16;
		} else if (p < 97) {    /* Discover */
			memcpy(b->digits, "6011", 4);
			rng_digits(&s->rng, b->digits + 4, 2);
			b->pan_len = 16;
		} else {                /* JCB */
			put_num(b->digits, 3528 + rng_below(&s->rng, 62), 4);
			rng_digits(&s->rng, b->digits + 4, 2);
			b->pan_len = 16;
		}
		b->digits[6] = '\0';
	}
}

static void make_merchant(struct gen_src *s, struct merchant *m, enum id_class cls)
{
	unsigned p = rng_below(&s->rng, NB_PLACES);
	unsigned i;

	gen_mid(s, cls, m->mid);
	m->nb_tid = (uint8_t)(1 + rng_below(&s->rng, 4));
	for (i = 0; i < m->nb_tid; i++)
		gen_tid(s, cls, m->tid[i]);
	snprintf(m->name_loc, sizeof(m->name_loc), "%-23.23s%-13.13s%-2.2s%-2.2s",
		 names[rng_below(&s->rng, sizeof(names) / sizeof(names[0]))],
		 places[p].city, places[p].state, places[p].country);
	memcpy(m->mcc, mccs[rng_below(&s->rng, sizeof(mccs) / sizeof(mccs[0]))], 5);
	memcpy(m->currency, places[p].currency, 4);
	snprintf(m->phone_cc, sizeof(m->phone_cc), "%s", places[p].cc);
}

static bool tlv_slot_from(const struct rg_ident_source *src, struct tlv_slot *t)
{
	if (src->how != RG_IDENT_TLV_ASCII || src->tag_len == 0 || src->tag_len > 4 ||
	    src->tag_width != src->tag_len || src->len_width < 1 || src->len_width > 3)
		return false;
	t->de = src->de;
	t->tag_width = src->tag_width;
	t->len_width = src->len_width;
	memcpy(t->tag, src->tag, src->tag_len);
	t->tag[src->tag_len] = '\0';
	return true;
}

static void src_init(struct gen_src *s, const struct rg_dialect *d, uint64_t seed,
		     double hit_rate)
{
	bool have_phone = false, have_dev = false;
	unsigned i;

	memset(s, 0, sizeof(*s));
	s->d = d;
	rng_seed(&s->rng, seed);
	s->now_us = GEN_EPOCH_US;
	s->hit_rate = hit_rate;
	s->track2_sep = d->de[35].enc == RG_ISO_E_BCD ? 'D' : '=';

	for (i = 0; i < d->nb_ident && i < RG_DIALECT_MAX_IDENT; i++) {
		const struct rg_ident_source *src = &d->ident[i];

		if (src->kind == RG_KIND_PHONE && !have_phone)
			have_phone = tlv_slot_from(src, &s->phone);
		if (src->kind == RG_KIND_DEVICE && !have_dev)
			have_dev = tlv_slot_from(src, &s->device);
	}
	if (!have_phone)
		s->phone = (struct tlv_slot){ .de = 48, .tag_width = 2, .len_width = 3,
					      .tag = "PH" };
	if (!have_dev)
		s->device = (struct tlv_slot){ .de = 48, .tag_width = 2, .len_width = 3,
					       .tag = "DV" };
	if (s->device.de != s->phone.de)
		s->device = (struct tlv_slot){ .de = s->phone.de, .tag_width = s->phone.tag_width,
					       .len_width = s->phone.len_width, .tag = "DV" };

	/* A kind can carry a hit only when a source reads it from a DE we fill
	 * in requests, the way we fill it. */
	for (i = 0; i < d->nb_ident && i < RG_DIALECT_MAX_IDENT; i++) {
		const struct rg_ident_source *src = &d->ident[i];
		bool ok = false;

		if (src->skip)
			continue;
		switch (src->kind) {
		case RG_KIND_PAN:
			ok = (src->de == 2 && src->how == RG_IDENT_WHOLE) ||
			     (src->de == 35 && src->how == RG_IDENT_TRACK2);
			break;
		case RG_KIND_ACCOUNT:
			ok = src->de == 102 && src->how == RG_IDENT_WHOLE;
			break;
		case RG_KIND_MERCHANT:
			ok = src->de == 42 && src->how == RG_IDENT_WHOLE;
			break;
		case RG_KIND_TERMINAL:
			ok = src->de == 41 && src->how == RG_IDENT_WHOLE;
			break;
		case RG_KIND_PHONE:
			ok = have_phone && src->de == s->phone.de;
			break;
		default:
			break;
		}
		if (ok && d->de[src->de].type != RG_ISO_T_NONE)
			s->extractable[src->kind] = true;
	}

	make_bins(s);
	for (i = 0; i < NB_MERCHANTS; i++)
		make_merchant(s, &s->merchants[i], CLS_TRAFFIC);
}

static void src_fini(struct gen_src *s)
{
	unsigned k;

	free(s->listed);
	free(s->index);
	for (k = 0; k < RG_KIND_MAX; k++)
		free(s->by_kind[k]);
}

/* A new listed identifier of kind, recorded in s. */
static int listed_new(struct gen_src *s, unsigned kind, const char *phone_cc_str,
		      const struct listed **out)
{
	char v[RG_IDENT_MAX_LEN + 1];
	uint8_t lists;
	int ret;

	switch (kind) {
	case RG_KIND_PAN: {
		unsigned p = rng_below(&s->rng, 100);

		gen_pan(s, CLS_LISTED, v);
		lists = p < 60 ? 1u << L_TXN_FRAUD :
			p < 85 ? 1u << L_HIGH_RISK_ACCOUNT :
			(1u << L_TXN_FRAUD) | (1u << L_HIGH_RISK_ACCOUNT);
		break;
	}
	case RG_KIND_ACCOUNT:
		gen_account(s, CLS_LISTED, v);
		lists = 1u << L_HIGH_RISK_ACCOUNT;
		break;
	case RG_KIND_MERCHANT:
		gen_mid(s, CLS_LISTED, v);
		lists = 1u << L_MARKETING_CHEAT;
		break;
	case RG_KIND_TERMINAL:
		gen_tid(s, CLS_LISTED, v);
		lists = 1u << L_MARKETING_CHEAT;
		break;
	case RG_KIND_PHONE:
		gen_phone(s, CLS_LISTED, phone_cc_str, v);
		lists = 1u << L_TELECOM_FRAUD;
		break;
	default:
		return -EINVAL;
	}
	ret = listed_add(s, kind, v, lists);
	if (ret)
		return ret;
	*out = &s->listed[s->nb_listed - 1];
	return 0;
}

/*
 * A listed identifier of kind for a hit request: a repeat offender or new.
 * A closed population (the live simulators') only ever repeats.
 */
static int pick_listed(struct gen_src *s, unsigned kind, const char *phone_cc_str,
		       const struct listed **out)
{
	if (s->by_kind_nb[kind] && (s->closed || rng_chance(&s->rng, 0.3))) {
		*out = &s->listed[s->by_kind[kind][rng_below(&s->rng,
							     (uint32_t)s->by_kind_nb[kind])]];
		return 0;
	}
	if (s->closed)
		return -ENOENT;
	return listed_new(s, kind, phone_cc_str, out);
}

/* Per-connection context a request needs. */
struct req_ctx {
	uint32_t stan;
	const char *acq_id;
};

static void put_times(struct gen_src *s, struct txn *t)
{
	time_t sec = (time_t)(s->now_us / 1000000);
	struct tm tm;
	char b[16];

	gmtime_r(&sec, &tm);
	put_num(b, (uint64_t)tm.tm_mon + 1, 2);
	put_num(b + 2, (uint64_t)tm.tm_mday, 2);
	put_num(b + 4, (uint64_t)tm.tm_hour, 2);
	put_num(b + 6, (uint64_t)tm.tm_min, 2);
	put_num(b + 8, (uint64_t)tm.tm_sec, 2);
	txn_set(t, s->d, 7, b, 10);
	/* local time: one hour ahead, good enough for a field nobody screens */
	put_num(b + 10, (uint64_t)(tm.tm_hour + 1) % 24, 2);
	memcpy(b + 12, b + 6, 4);
	txn_set(t, s->d, 12, b + 10, 6);
	txn_set(t, s->d, 13, b, 4);
}

static void put_tlv(char *out, size_t *pos, const struct tlv_slot *slot, const char *v)
{
	size_t l = strlen(v);

	memcpy(out + *pos, slot->tag, slot->tag_width);
	*pos += slot->tag_width;
	put_num(out + *pos, l, slot->len_width);
	*pos += slot->len_width;
	memcpy(out + *pos, v, l);
	*pos += l;
}

static const uint16_t fin_mtis[] = { 100, 200, 400, 420 };

/*
 * Build one request.  hit: carry at least one listed identifier of a kind
 * the dialect extracts.
 */
static int build_request(struct gen_src *s, const struct req_ctx *rc, struct txn *t)
{
	const struct rg_dialect *d = s->d;
	struct rng *r = &s->rng;
	bool hit = s->hit_rate > 0 && rng_chance(r, s->hit_rate);
	const struct listed *want[RG_KIND_MAX] = { NULL };
	const struct merchant *m;
	char b[128], pan[24], acct[32], mid[16], tid[9], phone[24];
	unsigned p = rng_below(r, 1000), mti, pos_mode, i;
	const char *entry;
	uint64_t amount;
	size_t n;
	int ret;

	if (!hit && p >= 940) {
		/* network management: echo test, sign-on, key change */
		static const char *const codes[] = { "301", "301", "301", "001", "161" };

		txn_init(t, 800);
		put_times(s, t);
		put_num(b, rc->stan, 6);
		txn_set(t, d, 11, b, 6);
		txn_sets(t, d, 70, codes[rng_below(r, 5)]);
		return 0;
	}
	mti = p < 620 ? 100 : p < 880 ? 200 : p < 920 ? 400 : 420;
	if (hit && (mti == 400 || mti == 420) && rng_chance(r, 0.7))
		mti = fin_mtis[rng_below(r, 2)];

	if (hit) {
		unsigned kinds[6], nb = 0, want_n = rng_chance(r, 0.15) ? 2 : 1;
		static const unsigned order[] = { RG_KIND_PAN, RG_KIND_PAN, RG_KIND_ACCOUNT,
						  RG_KIND_MERCHANT, RG_KIND_TERMINAL,
						  RG_KIND_PHONE };

		for (i = 0; i < sizeof(order) / sizeof(order[0]); i++)
			if (s->extractable[order[i]] &&
			    (!s->closed || s->by_kind_nb[order[i]]))
				kinds[nb++] = order[i];
		for (i = 0; nb && i < want_n; i++) {
			unsigned k = kinds[rng_below(r, nb)];

			if (!want[k]) {
				ret = pick_listed(s, k, places[rng_below(r, NB_PLACES)].cc, &want[k]);
				if (ret)
					return ret;
			}
		}
	}

	txn_init(t, (uint16_t)mti);
	m = &s->merchants[rng_below(r, NB_MERCHANTS)];
	if (want[RG_KIND_PAN])
		copy_str(pan, sizeof(pan), want[RG_KIND_PAN]->norm);
	else
		gen_pan(s, CLS_TRAFFIC, pan);

	if (mti == 200 && strcmp(m->mcc, "6011") != 0 && rng_chance(r, 0.08))
		txn_sets(t, d, 3, "200000");            /* refund */
	else if (mti == 200 && rng_chance(r, 0.1))
		txn_sets(t, d, 3, "010000");            /* cash */
	else
		txn_sets(t, d, 3, "000000");

	p = rng_below(r, 100);
	amount = p < 60 ? 100 + rng_below(r, 4900) :
		 p < 90 ? 5000 + rng_below(r, 45000) : 50000 + rng_below(r, 450000);
	put_num(b, amount, 12);
	txn_set(t, d, 4, b, 12);
	put_times(s, t);
	put_num(b, rc->stan, 6);
	txn_set(t, d, 11, b, 6);

	p = rng_below(r, 100);
	pos_mode = p < 40 ? 51 : p < 70 ? 71 : p < 80 ? 901 : p < 88 ? 10 : 812;
	/* card-present requests often leave the PAN to track 2 alone */
	if (!((pos_mode == 51 || pos_mode == 71 || pos_mode == 901) && rng_chance(r, 0.15)))
		txn_sets(t, d, 2, pan);
	put_num(b, pos_mode, 3);
	entry = b + 40;
	memcpy(b + 40, b, 3);
	b[43] = '\0';

	{
		char exp[5];

		put_num(exp, 26 + rng_below(r, 6), 2);
		put_num(exp + 2, 1 + rng_below(r, 12), 2);
		exp[4] = '\0';
		if (pos_mode == 10 || pos_mode == 812 || rng_chance(r, 0.3))
			txn_set(t, d, 14, exp, 4);
		txn_sets(t, d, 18, m->mcc);
		txn_sets(t, d, 22, entry);
		txn_sets(t, d, 25, pos_mode == 812 ? "59" : pos_mode == 10 ? "08" : "00");
		txn_sets(t, d, 32, rc->acq_id);
		if (pos_mode == 51 || pos_mode == 71 || pos_mode == 901) {
			static const char *const svc[] = { "101", "201", "221", "121" };
			unsigned dl;

			n = strlen(pan);
			memcpy(b, pan, n);
			b[n++] = s->track2_sep;
			memcpy(b + n, exp, 4);
			n += 4;
			memcpy(b + n, svc[rng_below(r, 4)], 3);
			n += 3;
			dl = 8 + rng_below(r, 6);
			if (n + dl > 37)
				dl = 37 - (unsigned)n;
			rng_digits(r, b + n, dl);
			n += dl;
			txn_set(t, d, 35, b, n);
			/* magnetic-stripe fallback sometimes sends track 1 as well */
			if (pos_mode == 901 && rng_chance(r, 0.3)) {
				const char *h = holders[rng_below(r, sizeof(holders) /
							      sizeof(holders[0]))];
				char t1[80];
				size_t hl = strlen(h), pl = strlen(pan);

				n = 0;
				t1[n++] = 'B';
				memcpy(t1 + n, pan, pl);
				n += pl;
				t1[n++] = '^';
				memcpy(t1 + n, h, hl);
				n += hl;
				t1[n++] = '^';
				memcpy(t1 + n, exp, 4);
				n += 4;
				memcpy(t1 + n, "101", 3);
				n += 3;
				rng_digits(r, t1 + n, 12);
				n += 12;
				txn_set(t, d, 45, t1, n);
			}
		}
	}

	{
		time_t sec = (time_t)(s->now_us / 1000000);
		struct tm tm;

		gmtime_r(&sec, &tm);
		put_num(b, (uint64_t)tm.tm_year % 10, 1);
		put_num(b + 1, (uint64_t)tm.tm_yday + 1, 3);
		put_num(b + 4, (uint64_t)tm.tm_hour, 2);
		put_num(b + 6, rc->stan, 6);
		txn_set(t, d, 37, b, 12);
	}

	if (want[RG_KIND_TERMINAL])
		copy_str(tid, sizeof(tid), want[RG_KIND_TERMINAL]->norm);
	else
		copy_str(tid, sizeof(tid), m->tid[rng_below(r, m->nb_tid)]);
	txn_sets(t, d, 41, tid);
	if (want[RG_KIND_MERCHANT])
		copy_str(mid, sizeof(mid), want[RG_KIND_MERCHANT]->norm);
	else
		copy_str(mid, sizeof(mid), m->mid);
	txn_sets(t, d, 42, mid);    /* padded with spaces to 15 */
	txn_set(t, d, 43, m->name_loc, 40);

	/* private TLV: channel, then phone and device on remote and some POS */
	if (want[RG_KIND_PHONE] || pos_mode == 812 || pos_mode == 10 || rng_chance(r, 0.25)) {
		char tlv[160], dev[17];
		size_t pos = 0;
		const struct tlv_slot ch = { .de = s->phone.de, .tag_width = s->phone.tag_width,
					     .len_width = s->phone.len_width, .tag = "CH" };
		bool channel = s->phone.tag_width == 2 && strcmp(s->phone.tag, "CH") &&
			       strcmp(s->device.tag, "CH");

		if (channel)
			put_tlv(tlv, &pos, &ch, pos_mode == 812 ? "ECOM" : "POS");
		if (want[RG_KIND_PHONE]) {
			phone[0] = '+';
			copy_str(phone + 1, sizeof(phone) - 1, want[RG_KIND_PHONE]->norm);
		} else {
			phone[0] = '+';
			gen_phone(s, CLS_TRAFFIC, m->phone_cc, phone + 1);
		}
		put_tlv(tlv, &pos, &s->phone, phone);
		if (pos_mode == 812 || rng_chance(r, 0.3)) {
			gen_device(s, dev);
			put_tlv(tlv, &pos, &s->device, dev);
		}
		txn_set(t, d, s->phone.de, tlv, pos);
	}
	txn_sets(t, d, 49, m->currency);

	if ((pos_mode == 51 || pos_mode == 71) && rng_chance(r, 0.6)) {
		static const char hex[] = "0123456789ABCDEF";

		for (i = 0; i < 16; i++)
			b[i] = hex[rng_below(r, 16)];
		txn_set(t, d, 52, b, 16);
	}
	if (mti == 400 || mti == 420) {
		/* original data elements: MTI, STAN, date-time, acquirer, forwarder */
		memcpy(b, "0100", 4);
		put_num(b + 4, rc->stan > 1 ? rc->stan - 1 : 999999, 6);
		memcpy(b + 10, txn_get(t, 7) ? txn_get(t, 7) : "0000000000", 10);
		memset(b + 20, '0', 22);
		txn_set(t, d, 90, b, 42);
	}
	if (want[RG_KIND_ACCOUNT] || (mti == 200 && rng_chance(r, 0.3)) || rng_chance(r, 0.1)) {
		if (want[RG_KIND_ACCOUNT])
			copy_str(acct, sizeof(acct), want[RG_KIND_ACCOUNT]->norm);
		else
			gen_account(s, CLS_TRAFFIC, acct);
		txn_sets(t, d, 102, acct);
	}
	if (rng_chance(r, 0.25)) {
		static const char hex[] = "0123456789ABCDEF";
		bool secondary = txn_get(t, 102) || txn_get(t, 90) || rng_chance(r, 0.6);

		for (i = 0; i < 16; i++)
			b[i] = hex[rng_below(r, 16)];
		txn_set(t, d, secondary ? 128 : 64, b, 16);
	}
	return 0;
}

/* Build the response to request q. */
static void build_response(struct gen_src *s, const struct txn *q, struct txn *t)
{
	static const unsigned echo[] = { 2, 3, 4, 7, 11, 12, 13, 32, 37, 41, 42, 49, 90, 102 };
	const struct rg_dialect *d = s->d;
	struct rng *r = &s->rng;
	unsigned i, p;

	txn_init(t, (uint16_t)(q->mti + 10));
	if (q->mti == 800) {
		txn_copy(t, d, q, 7);
		txn_copy(t, d, q, 11);
		txn_sets(t, d, 39, "00");
		txn_copy(t, d, q, 70);
		return;
	}
	for (i = 0; i < sizeof(echo) / sizeof(echo[0]); i++)
		txn_copy(t, d, q, echo[i]);
	p = rng_below(r, 100);
	if (q->mti == 100 || q->mti == 200) {
		const char *rc = p < 92 ? "00" : p < 96 ? "05" : p < 99 ? "51" : "55";

		if (rc[0] == '0' && rc[1] == '0') {
			static const char an[] = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ";
			char code[7];

			for (i = 0; i < 6; i++)
				code[i] = an[rng_below(r, sizeof(an) - 1)];
			code[6] = '\0';
			txn_sets(t, d, 38, code);
		}
		txn_sets(t, d, 39, rc);
	} else {
		txn_sets(t, d, 39, "00");
	}
	if (txn_get(q, 64) || txn_get(q, 128)) {
		static const char hex[] = "0123456789ABCDEF";
		char mac[16];

		for (i = 0; i < 16; i++)
			mac[i] = hex[rng_below(r, 16)];
		txn_set(t, d, txn_get(q, 128) ? 128 : 64, mac, 16);
	}
}

/* ------------------------------------------------------------------ */
/* ground truth */

/* The value a source reads from the text we put in a DE, or len 0. */
static size_t source_value(const struct rg_ident_source *src, const char *text,
			   const char **val)
{
	size_t len = strlen(text), i;

	if (src->skip >= len)
		return 0;
	text += src->skip;
	len -= src->skip;
	switch (src->how) {
	case RG_IDENT_WHOLE:
		*val = text;
		return len;
	case RG_IDENT_TRACK2:
		for (i = 0; i < len && text[i] != '=' && text[i] != 'D'; i++)
			;
		*val = text;
		return i;
	case RG_IDENT_TRACK1: {
		const char *caret;

		if (len < 2 || text[0] != 'B')
			return 0;
		caret = memchr(text + 1, '^', len - 1);
		if (!caret)
			return 0;
		*val = text + 1;
		return (size_t)(caret - text - 1);
	}
	case RG_IDENT_TLV_ASCII: {
		const uint8_t *v;
		size_t vl;

		if (rg_tlv_ascii_find((const uint8_t *)text, len, src->tag_width,
				      src->len_width, src->tag, &v, &vl) != 0)
			return 0;
		*val = (const char *)v;
		return vl;
	}
	default:
		return 0;
	}
}

struct truth_hit {
	uint8_t kind;
	uint8_t de;
	uint8_t lists;
	uint8_t len;
	char norm[RG_IDENT_MAX_LEN];
};

/* Hits of message t in dialect order, one per listed identifier. */
static unsigned truth_hits(const struct gen_src *s, const struct txn *t,
			   struct truth_hit *out, unsigned max)
{
	const struct rg_dialect *d = s->d;
	struct { uint8_t kind, len; char v[RG_IDENT_MAX_LEN]; } seen[RG_IDENT_MAX];
	unsigned nb_seen = 0, nb = 0, i, j;

	for (i = 0; i < d->nb_ident && i < RG_DIALECT_MAX_IDENT; i++) {
		const struct rg_ident_source *src = &d->ident[i];
		const char *text = src->de <= RG_ISO_MAX_DE ? txn_get(t, src->de) : NULL;
		const char *raw = NULL;
		char norm[RG_IDENT_MAX_LEN];
		const struct listed *l;
		size_t rl;
		int nl;
		bool dup = false;

		if (!text)
			continue;
		rl = source_value(src, text, &raw);
		if (!rl)
			continue;
		nl = rg_ident_normalise(src->kind, raw, rl, norm);
		if (nl <= 0)
			continue;
		for (j = 0; j < nb_seen && !dup; j++)
			dup = seen[j].kind == src->kind && seen[j].len == nl &&
			      memcmp(seen[j].v, norm, (size_t)nl) == 0;
		if (dup || nb_seen == RG_IDENT_MAX)
			continue;
		seen[nb_seen].kind = src->kind;
		seen[nb_seen].len = (uint8_t)nl;
		memcpy(seen[nb_seen].v, norm, (size_t)nl);
		nb_seen++;
		l = listed_find(s, src->kind, norm, (size_t)nl);
		if (!l || nb == max)
			continue;
		out[nb].kind = src->kind;
		out[nb].de = src->de;
		out[nb].lists = l->lists;
		out[nb].len = (uint8_t)nl;
		memcpy(out[nb].norm, norm, (size_t)nl);
		nb++;
	}
	return nb;
}

/* ------------------------------------------------------------------ */
/* corpus for benchmarks */

int gen_corpus(const struct rg_dialect *d, unsigned nb_msgs, uint64_t seed,
	       uint8_t **bufs, uint16_t *lens)
{
	struct gen_src *s;
	struct txn *q, *t;
	struct req_ctx rc = { .stan = 1, .acq_id = "400123" };
	uint8_t *enc;
	bool have_q = false;
	unsigned i;
	int ret = 0;

	s = malloc(sizeof(*s));
	q = malloc(sizeof(*q));
	t = malloc(sizeof(*t));
	enc = malloc(MSG_CAP);
	if (!s || !q || !t || !enc) {
		ret = -ENOMEM;
		goto out_free;
	}
	src_init(s, d, seed, 0);
	for (i = 0; i < nb_msgs; i++) {
		struct txn *m;
		int n;

		s->now_us += 200 + rng_below(&s->rng, 2000);
		if (have_q && rng_chance(&s->rng, 0.25)) {
			build_response(s, q, t);
			m = t;
			have_q = false;
		} else {
			rc.stan = rc.stan % 999999 + 1;
			ret = build_request(s, &rc, q);
			if (ret)
				break;
			m = q;
			have_q = true;
		}
		n = txn_encode(d, m, enc, MSG_CAP, NULL);
		if (n < 0) {
			ret = n;
			break;
		}
		bufs[i] = malloc((size_t)n);
		if (!bufs[i]) {
			ret = -ENOMEM;
			break;
		}
		memcpy(bufs[i], enc, (size_t)n);
		lens[i] = (uint16_t)n;
	}
	if (ret) {
		while (i-- > 0)
			free(bufs[i]);
	}
	src_fini(s);
out_free:
	free(enc);
	free(t);
	free(q);
	free(s);
	return ret;
}

/* ------------------------------------------------------------------ */
/* TCP conversation */

struct flow {
	struct pcapw_conn conn;
	uint32_t next_seq[2];   /* next sequence number each side sends */
	uint16_t ip_id[2];
	uint32_t stan;
	char acq_id[12];
	char name[2][128];      /* "src:port>dst:port" of each side's direction:
	                         * [0] client to switch, [1] switch to client */
	uint8_t nii[2];         /* TPDU: the terminal-side NII (BCD) */
	unsigned nb_pending;
	struct txn *pending;    /* GEN_MAX_PENDING requests awaiting responses */
};

struct delayed {
	unsigned flow;
	unsigned countdown;     /* packets to wait */
	uint16_t len;
	uint8_t frame[PCAPW_MAX_FRAME];
};

struct gen_ctx {
	const struct gen_cfg *cfg;
	struct rg_dialect *d;
	struct rg_framing fr;
	struct gen_src src;
	struct pcapw w;
	FILE *truth;
	struct flow *flows;
	struct gen_stats st;
	/* per-batch scratch */
	uint8_t *stream;        /* concatenated frames of one batch */
	size_t stream_cap;
	uint32_t ends[GEN_MAX_PENDING * 2 + 2];
	uint32_t *cuts;
	size_t cuts_cap;
	uint8_t (*frames)[PCAPW_MAX_FRAME];
	uint16_t *frame_len;
	size_t frames_cap;
	struct delayed *delayed;
	unsigned nb_delayed, cap_delayed;
	uint8_t enc[MSG_CAP];
	char err[256];
};

static int emit_raw(struct gen_ctx *g, const uint8_t *frame, uint32_t len, uint64_t gap_us)
{
	g->src.now_us += gap_us;
	return pcapw_write(&g->w, g->src.now_us, frame, len);
}

/* Write frame, then any duplicates that fall due. */
static int emit(struct gen_ctx *g, const uint8_t *frame, uint32_t len, uint64_t gap_us)
{
	unsigned i;
	int ret;

	ret = emit_raw(g, frame, len, gap_us);
	if (ret)
		return ret;
	for (i = 0; i < g->nb_delayed;) {
		struct delayed *dl = &g->delayed[i];

		if (--dl->countdown) {
			i++;
			continue;
		}
		ret = emit_raw(g, dl->frame, dl->len, 20 + rng_below(&g->src.rng, 200));
		if (ret)
			return ret;
		g->delayed[i] = g->delayed[--g->nb_delayed];
	}
	return 0;
}

/* Write every pending duplicate of flow f (all flows if f < 0) now. */
static int flush_delayed(struct gen_ctx *g, int f)
{
	unsigned i;
	int ret;

	for (i = 0; i < g->nb_delayed;) {
		struct delayed *dl = &g->delayed[i];

		if (f >= 0 && dl->flow != (unsigned)f) {
			i++;
			continue;
		}
		ret = emit_raw(g, dl->frame, dl->len, 20 + rng_below(&g->src.rng, 200));
		if (ret)
			return ret;
		/* keep order stable: later duplicates stay later */
		memmove(&g->delayed[i], &g->delayed[i + 1],
			(g->nb_delayed - i - 1) * sizeof(g->delayed[0]));
		g->nb_delayed--;
	}
	return 0;
}

static int schedule_dup(struct gen_ctx *g, unsigned f, const uint8_t *frame, uint16_t len)
{
	struct delayed *dl;

	if (g->nb_delayed == g->cap_delayed) {
		unsigned cap = g->cap_delayed ? g->cap_delayed * 2 : 16;
		struct delayed *n = realloc(g->delayed, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		g->delayed = n;
		g->cap_delayed = cap;
	}
	dl = &g->delayed[g->nb_delayed++];
	dl->flow = f;
	dl->countdown = 1 + rng_below(&g->src.rng, 4);
	dl->len = len;
	memcpy(dl->frame, frame, len);
	return 0;
}

/* Send a segment without payload (SYN, ACK, FIN) right away. */
static int send_ctl(struct gen_ctx *g, unsigned f, unsigned side, uint8_t flags,
		    uint64_t gap_us)
{
	struct flow *fl = &g->flows[f];
	uint8_t frame[PCAPW_MAX_FRAME];
	struct pcapw_seg sg = {
		.side = side,
		.seq = fl->next_seq[side],
		.ack = (flags & PCAPW_TCP_ACK) ? fl->next_seq[side ^ 1] : 0,
		.flags = flags,
		.win = (flags & PCAPW_TCP_SYN) ? 64240 : (side ? 509 : 502),
		.ip_id = fl->ip_id[side]++,
		.syn_opts = (flags & PCAPW_TCP_SYN) != 0,
	};
	int n = pcapw_tcp_frame(&fl->conn, &sg, frame, sizeof(frame));

	if (n < 0)
		return n;
	if (flags & (PCAPW_TCP_SYN | PCAPW_TCP_FIN))
		fl->next_seq[side]++;
	return emit(g, frame, (uint32_t)n, gap_us);
}

static void flow_init(struct gen_ctx *g, unsigned i)
{
	const struct gen_cfg *cfg = g->cfg;
	struct flow *fl = &g->flows[i];
	struct rng *r = &g->src.rng;
	unsigned nb_hosts = cfg->nb_flows / 4 ? cfg->nb_flows / 4 : 1;
	unsigned host = i % nb_hosts;
	uint8_t hx = (uint8_t)(host / 250), hy = (uint8_t)(host % 250 + 2);
	uint16_t cport = (uint16_t)(32768 + (i / nb_hosts) * 97 + rng_below(r, 90) +
				    (host * 131) % 20000);
	char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];

	memset(&fl->conn, 0, sizeof(fl->conn));
	fl->conn.ipv6 = cfg->ipv6;
	fl->conn.vlan = cfg->vlan;
	memcpy(fl->conn.mac[0], (uint8_t[6]){ 0x02, 0x00, 0x0a, 0x01, hx, hy }, 6);
	memcpy(fl->conn.mac[1], (uint8_t[6]){ 0x02, 0x00, 0x0a, 0x02, 0x00, 0x01 }, 6);
	if (cfg->ipv6) {
		static const uint8_t c6[16] = { 0xfd, 0x00, 0, 0, 0, 0, 0, 1 };
		static const uint8_t s6[16] = { 0xfd, 0x00, 0, 0, 0, 0, 0, 2,
						0, 0, 0, 0, 0, 0, 0, 1 };

		memcpy(fl->conn.ip[0], c6, 16);
		fl->conn.ip[0][14] = hx;
		fl->conn.ip[0][15] = hy;
		memcpy(fl->conn.ip[1], s6, 16);
		inet_ntop(AF_INET6, fl->conn.ip[0], a, sizeof(a));
		inet_ntop(AF_INET6, fl->conn.ip[1], b, sizeof(b));
		snprintf(fl->name[0], sizeof(fl->name[0]), "[%s]:%u>[%s]:%u", a, cport, b,
			 cfg->port);
		snprintf(fl->name[1], sizeof(fl->name[1]), "[%s]:%u>[%s]:%u", b, cfg->port, a,
			 cport);
	} else {
		memcpy(fl->conn.ip[0], (uint8_t[4]){ 10, 1, hx, hy }, 4);
		memcpy(fl->conn.ip[1], (uint8_t[4]){ 10, 2, 0, 1 }, 4);
		snprintf(fl->name[0], sizeof(fl->name[0]), "10.1.%u.%u:%u>10.2.0.1:%u",
			 hx, hy, cport, cfg->port);
		snprintf(fl->name[1], sizeof(fl->name[1]), "10.2.0.1:%u>10.1.%u.%u:%u",
			 cfg->port, hx, hy, cport);
	}
	fl->conn.port[0] = cport;
	fl->conn.port[1] = cfg->port;
	fl->next_seq[0] = (uint32_t)rng_next(r);
	fl->next_seq[1] = (uint32_t)rng_next(r);
	fl->ip_id[0] = (uint16_t)rng_next(r);
	fl->ip_id[1] = (uint16_t)rng_next(r);
	fl->stan = 1 + rng_below(r, 400000);
	snprintf(fl->acq_id, sizeof(fl->acq_id), "4%05u", 10000 + host % 90000);
	fl->nii[0] = (uint8_t)(host / 100 % 100 / 10 << 4 | host / 100 % 10);
	fl->nii[1] = (uint8_t)(host % 100 / 10 << 4 | host % 10);
	fl->nb_pending = 0;
}

/* Append one framed message (or a keep-alive when t is NULL) to the batch. */
static int frame_append(struct gen_ctx *g, unsigned f, unsigned side, const struct txn *t,
			size_t *pos)
{
	const struct rg_framing *fr = &g->fr;
	struct flow *fl = &g->flows[f];
	unsigned hdr = t ? fr->hdr_bytes : 0;
	unsigned bad_de = 0;
	int n = 0, l;

	if (t) {
		n = txn_encode(g->d, t, g->enc, sizeof(g->enc), &bad_de);
		if (n < 0) {
			set_err(g->err, sizeof(g->err),
				"cannot encode MTI %04u in dialect %s: DE %u: %s",
				t->mti, g->d->name, bad_de, strerror(-n));
			return n;
		}
	}
	if (*pos + 8 + hdr + (size_t)n > g->stream_cap) {
		set_err(g->err, sizeof(g->err), "batch too large");
		return -E2BIG;
	}
	l = rg_framing_put_len(fr, hdr + (uint32_t)n, g->stream + *pos);
	if (l < 0) {
		set_err(g->err, sizeof(g->err), "message of %d bytes does not fit the framing", n);
		return l;
	}
	*pos += (size_t)l;
	if (hdr) {
		uint8_t *h = g->stream + *pos;

		if (fr->tpdu && hdr == 5) {
			/* 60, destination NII, source NII; responses swap them */
			h[0] = 0x60;
			h[1] = side ? fl->nii[0] : 0x00;
			h[2] = side ? fl->nii[1] : 0x01;
			h[3] = side ? 0x00 : fl->nii[0];
			h[4] = side ? 0x01 : fl->nii[1];
		} else {
			unsigned i;

			for (i = 0; i < hdr; i++)
				h[i] = i < 3 ? (uint8_t)"ISO"[i] : (uint8_t)('0' + i % 10);
		}
		*pos += hdr;
	}
	memcpy(g->stream + *pos, g->enc, (size_t)n);
	*pos += (size_t)n;
	return 0;
}

static int grow_cuts(struct gen_ctx *g, size_t need)
{
	if (need <= g->cuts_cap)
		return 0;
	free(g->cuts);
	free(g->frames);
	free(g->frame_len);
	g->cuts = malloc(need * sizeof(*g->cuts));
	g->frames = malloc(need * sizeof(*g->frames));
	g->frame_len = malloc(need * sizeof(*g->frame_len));
	if (!g->cuts || !g->frames || !g->frame_len)
		return -ENOMEM;
	g->cuts_cap = need;
	return 0;
}

/*
 * Cut stream[0..total) whose frames end at ends[0..nb_ends) into segments;
 * returns the number of segments, cut ends in g->cuts.
 */
static unsigned cut_segments(struct gen_ctx *g, unsigned nb_ends, uint32_t total)
{
	struct rng *r = &g->src.rng;
	uint32_t pos = 0;
	unsigned mi = 0, nb = 0;

	while (pos < total) {
		unsigned mode = g->cfg->seg;
		uint32_t start = mi ? g->ends[mi - 1] : 0, end;

		if (mode == GEN_SEG_MIXED) {
			unsigned p = rng_below(r, 100);

			mode = p < 40 ? GEN_SEG_WHOLE : p < 60 ? GEN_SEG_COALESCE :
			       p < 85 ? GEN_SEG_SPLIT : GEN_SEG_TINY;
		}
		switch (mode) {
		case GEN_SEG_COALESCE: {
			unsigned last = mi + 1 + rng_below(r, 4);

			end = g->ends[last < nb_ends ? last : nb_ends - 1];
			break;
		}
		case GEN_SEG_SPLIT: {
			uint32_t rem = g->ends[mi] - pos;

			if (rem >= 2 && (pos == start || rng_chance(r, 0.4)))
				end = pos + 1 + rng_below(r, rem - 1);
			else
				end = g->ends[mi];
			break;
		}
		case GEN_SEG_TINY:
			end = pos + 1 + rng_below(r, 8);
			break;
		default:
			end = g->ends[mi];
			break;
		}
		if (end > total)
			end = total;
		if (end - pos > GEN_MSS)
			end = pos + GEN_MSS;
		g->cuts[nb++] = end;
		pos = end;
		while (mi + 1 < nb_ends && g->ends[mi] <= pos)
			mi++;
	}
	return nb;
}

static int write_truth(struct gen_ctx *g, const struct flow *fl, unsigned side,
		       const struct txn *t)
{
	struct truth_hit hits[RG_IDENT_MAX];
	unsigned nb, i, l;
	char mti[5];
	const char *stan;

	nb = truth_hits(&g->src, t, hits, RG_IDENT_MAX);
	if (!nb)
		return 0;
	rg_iso_mti_text(t->mti, mti);
	stan = txn_get(t, 11) ? txn_get(t, 11) : "";
	for (i = 0; i < nb; i++) {
		char masked[RG_IDENT_MAX_LEN * 2 + 1];

		if (rg_ident_mask(hits[i].kind, hits[i].norm, hits[i].len, masked,
				  sizeof(masked)) < 0)
			return -EINVAL;
		for (l = 0; l < NB_LISTS; l++) {
			if (!(hits[i].lists & (1u << l)))
				continue;
			g->st.nb_hits++;
			if (g->truth)
				fprintf(g->truth,
					"{\"flow\": \"%s\", \"dir\": \"%s\", \"mti\": \"%s\", "
					"\"stan\": \"%s\", \"list\": \"%s\", \"kind\": \"%s\", "
					"\"de\": %u, \"masked\": \"%s\"}\n",
					fl->name[side], side ? "response" : "request", mti, stan,
					list_names[l], rg_kind_name(hits[i].kind), hits[i].de,
					masked);
		}
	}
	return 0;
}

/*
 * Send msgs[0..nb) from side of flow f as one burst of segments, with the
 * configured cutting, keep-alives, reordering and duplicates.
 */
static int send_batch(struct gen_ctx *g, unsigned f, unsigned side,
		      struct txn *const *msgs, unsigned nb)
{
	const struct gen_cfg *cfg = g->cfg;
	struct flow *fl = &g->flows[f];
	struct rng *r = &g->src.rng;
	unsigned nb_ends = 0, nb_segs, i;
	size_t pos = 0;
	uint32_t seg_start;
	int ret;

	for (i = 0; i < nb; i++) {
		if (cfg->keepalive > 0 && rng_chance(r, cfg->keepalive)) {
			ret = frame_append(g, f, side, NULL, &pos);
			if (ret)
				return ret;
			g->ends[nb_ends++] = (uint32_t)pos;
			g->st.nb_keepalives++;
		}
		ret = frame_append(g, f, side, msgs[i], &pos);
		if (ret)
			return ret;
		g->ends[nb_ends++] = (uint32_t)pos;
		ret = write_truth(g, fl, side, msgs[i]);
		if (ret)
			return ret;
		g->st.nb_messages++;
		if (!side)
			g->st.nb_requests++;
	}
	ret = grow_cuts(g, pos + 1);
	if (ret)
		return ret;
	nb_segs = cut_segments(g, nb_ends, (uint32_t)pos);

	seg_start = 0;
	for (i = 0; i < nb_segs; i++) {
		struct pcapw_seg sg = {
			.side = side,
			.seq = fl->next_seq[side] + seg_start,
			.ack = fl->next_seq[side ^ 1],
			.flags = PCAPW_TCP_PSH | PCAPW_TCP_ACK,
			.win = side ? 509 : 502,
			.ip_id = fl->ip_id[side]++,
			.payload = g->stream + seg_start,
			.len = (uint16_t)(g->cuts[i] - seg_start),
		};
		int n = pcapw_tcp_frame(&fl->conn, &sg, g->frames[i], PCAPW_MAX_FRAME);

		if (n < 0)
			return n;
		g->frame_len[i] = (uint16_t)n;
		seg_start = g->cuts[i];
	}
	fl->next_seq[side] += (uint32_t)pos;

	if (cfg->reorder > 0) {
		for (i = 0; i + 1 < nb_segs; i++) {
			uint8_t tmp[PCAPW_MAX_FRAME];
			uint16_t tl;

			if (!rng_chance(r, cfg->reorder))
				continue;
			memcpy(tmp, g->frames[i], g->frame_len[i]);
			tl = g->frame_len[i];
			memcpy(g->frames[i], g->frames[i + 1], g->frame_len[i + 1]);
			g->frame_len[i] = g->frame_len[i + 1];
			memcpy(g->frames[i + 1], tmp, tl);
			g->frame_len[i + 1] = tl;
			i++;
		}
	}
	for (i = 0; i < nb_segs; i++) {
		ret = emit(g, g->frames[i], g->frame_len[i],
			   i ? 2 + rng_below(r, 30) : 80 + rng_below(r, 1500));
		if (ret)
			return ret;
		if (cfg->retransmit > 0 && rng_chance(r, cfg->retransmit)) {
			ret = schedule_dup(g, f, g->frames[i], g->frame_len[i]);
			if (ret)
				return ret;
		}
	}
	/* delayed ACK from the receiver, now and then */
	if (rng_chance(r, side ? 0.5 : 0.2))
		return send_ctl(g, f, side ^ 1, PCAPW_TCP_ACK, 30 + rng_below(r, 200));
	return 0;
}

static int batch_limit(unsigned seg)
{
	switch (seg) {
	case GEN_SEG_COALESCE:
		return 5;
	case GEN_SEG_MIXED:
		return 4;
	default:
		return 3;
	}
}

static int flow_requests(struct gen_ctx *g, unsigned f, uint64_t *remaining)
{
	struct flow *fl = &g->flows[f];
	struct txn *msgs[GEN_MAX_PENDING];
	unsigned room = GEN_MAX_PENDING - fl->nb_pending, n, i;
	int ret;

	n = 1 + rng_below(&g->src.rng, (uint32_t)batch_limit(g->cfg->seg));
	if (n > room)
		n = room;
	if (n > *remaining)
		n = (unsigned)*remaining;
	for (i = 0; i < n; i++) {
		struct req_ctx rc = { .stan = fl->stan, .acq_id = fl->acq_id };
		struct txn *t = &fl->pending[fl->nb_pending + i];

		fl->stan = fl->stan % 999999 + 1;
		ret = build_request(&g->src, &rc, t);
		if (ret)
			return ret;
		msgs[i] = t;
	}
	ret = send_batch(g, f, 0, msgs, n);
	if (ret)
		return ret;
	fl->nb_pending += n;
	*remaining -= n;
	return 0;
}

static int flow_responses(struct gen_ctx *g, unsigned f, unsigned n)
{
	struct flow *fl = &g->flows[f];
	struct txn rsp[GEN_MAX_PENDING], *msgs[GEN_MAX_PENDING];
	unsigned i;
	int ret;

	for (i = 0; i < n; i++) {
		build_response(&g->src, &fl->pending[i], &rsp[i]);
		msgs[i] = &rsp[i];
	}
	ret = send_batch(g, f, 1, msgs, n);
	if (ret)
		return ret;
	memmove(&fl->pending[0], &fl->pending[n], (fl->nb_pending - n) * sizeof(struct txn));
	fl->nb_pending -= n;
	return 0;
}

static int conversation(struct gen_ctx *g)
{
	const struct gen_cfg *cfg = g->cfg;
	struct rng *r = &g->src.rng;
	uint64_t remaining = cfg->nb_messages;
	unsigned f;
	int ret;

	for (f = 0; f < cfg->nb_flows; f++) {
		ret = send_ctl(g, f, 0, PCAPW_TCP_SYN, 200 + rng_below(r, 3000));
		if (!ret)
			ret = send_ctl(g, f, 1, PCAPW_TCP_SYN | PCAPW_TCP_ACK,
				       150 + rng_below(r, 300));
		if (!ret)
			ret = send_ctl(g, f, 0, PCAPW_TCP_ACK, 150 + rng_below(r, 300));
		if (ret)
			return ret;
	}
	while (remaining) {
		struct flow *fl;

		f = rng_below(r, cfg->nb_flows);
		fl = &g->flows[f];
		if (fl->nb_pending &&
		    (fl->nb_pending == GEN_MAX_PENDING || rng_chance(r, 0.5)))
			ret = flow_responses(g, f, 1 + rng_below(r, fl->nb_pending));
		else
			ret = flow_requests(g, f, &remaining);
		if (ret)
			return ret;
	}
	for (f = 0; f < cfg->nb_flows; f++) {
		while (g->flows[f].nb_pending) {
			ret = flow_responses(g, f, 1 + rng_below(r, g->flows[f].nb_pending));
			if (ret)
				return ret;
		}
	}
	for (f = 0; f < cfg->nb_flows; f++) {
		ret = flush_delayed(g, (int)f);
		if (!ret)
			ret = send_ctl(g, f, 0, PCAPW_TCP_FIN | PCAPW_TCP_ACK,
				       500 + rng_below(r, 3000));
		if (!ret)
			ret = send_ctl(g, f, 1, PCAPW_TCP_FIN | PCAPW_TCP_ACK,
				       100 + rng_below(r, 300));
		if (!ret)
			ret = send_ctl(g, f, 0, PCAPW_TCP_ACK, 100 + rng_below(r, 300));
		if (ret)
			return ret;
	}
	return flush_delayed(g, -1);
}

/* ------------------------------------------------------------------ */
/* list files */

struct list_row {
	uint8_t list;
	uint8_t kind;
	char value[48]; /* as written: one of the raw forms of norm */
	char norm[RG_IDENT_MAX_LEN + 1]; /* normalised: what makes two rows one entry */
};

/* Write norm in one of the raw forms the kind's normalisation accepts. */
static void format_value(struct rng *r, unsigned kind, const char *norm, char *out, size_t cap)
{
	size_t len = strlen(norm), i, o = 0;
	unsigned p = rng_below(r, 100);

	switch (kind) {
	case RG_KIND_PAN:
		if (p < 60)
			break;
		for (i = 0; i < len && o + 2 < cap; i++) {
			if (i && i % 4 == 0)
				out[o++] = p < 80 ? ' ' : '-';
			out[o++] = norm[i];
		}
		out[o] = '\0';
		return;
	case RG_KIND_PHONE:
		if (p < 40)
			snprintf(out, cap, "+%s", norm);
		else if (p < 65)
			snprintf(out, cap, "00%s", norm);
		else if (p < 85 && len > 6)
			snprintf(out, cap, "+%.2s %.3s %s", norm, norm + 2, norm + 5);
		else
			break;
		return;
	case RG_KIND_ACCOUNT:
		if (p < 50)
			break;
		for (i = 0; i < len && o + 2 < cap; i++) {
			if (i && i % 4 == 0)
				out[o++] = ' ';
			out[o++] = p < 75 ? norm[i] : (char)(norm[i] >= 'A' && norm[i] <= 'Z' ?
							     norm[i] - 'A' + 'a' : norm[i]);
		}
		out[o] = '\0';
		return;
	default:
		break;
	}
	snprintf(out, cap, "%s", norm);
}

static int decoy_value(struct gen_src *s, unsigned kind, char *out)
{
	switch (kind) {
	case RG_KIND_PAN:
		gen_pan(s, CLS_DECOY, out);
		return 0;
	case RG_KIND_ACCOUNT:
		gen_account(s, CLS_DECOY, out);
		return 0;
	case RG_KIND_MERCHANT:
		gen_mid(s, CLS_DECOY, out);
		return 0;
	case RG_KIND_TERMINAL:
		gen_tid(s, CLS_DECOY, out);
		return 0;
	case RG_KIND_PHONE:
		gen_phone(s, CLS_DECOY, phone_cc[rng_below(&s->rng, 8)], out);
		return 0;
	default:
		return -EINVAL;
	}
}

/*
 * Set of the list rows written so far, so that no (list, kind, value)
 * appears twice: short identifier spaces (terminal ids) repeat by chance
 * within tens of thousands of decoys.  Open addressing over row indexes.
 */
struct row_set {
	uint32_t *slot; /* row index + 1; 0 = empty */
	size_t mask;
};

static uint64_t row_hash(const struct list_row *r)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ ((uint64_t)r->list << 8 | r->kind);

	for (const char *c = r->norm; *c != '\0'; c++)
		h = (h ^ (uint8_t)*c) * 0x100000001b3ULL;
	return h;
}

/* Add rows[i] unless an equal row is there; false if it was a duplicate. */
static bool row_set_add(struct row_set *set, const struct list_row *rows, size_t i)
{
	size_t at = row_hash(&rows[i]) & set->mask;

	while (set->slot[at] != 0) {
		const struct list_row *o = &rows[set->slot[at] - 1];

		if (o->list == rows[i].list && o->kind == rows[i].kind &&
		    strcmp(o->norm, rows[i].norm) == 0)
			return false;
		at = (at + 1) & set->mask;
	}
	set->slot[at] = (uint32_t)(i + 1);
	return true;
}

static void member_path(const char *base, unsigned i, char *out, size_t cap)
{
	size_t bl = strlen(base);

	if (bl > 4 && strcmp(base + bl - 4, ".csv") == 0)
		snprintf(out, cap, "%.*s-%u.csv", (int)(bl - 4), base, i);
	else
		snprintf(out, cap, "%s-%u", base, i);
}

/*
 * Write the listed identifiers of s and list_size decoys per list to path
 * (or, with members > 1, round-robin to its member files).  *nb_rows gets
 * the entries written.
 */
static int write_lists_src(struct gen_src *s, const char *lists, unsigned list_size,
			   unsigned nb_members, uint64_t *nb_rows_out, char *err,
			   size_t err_cap)
{
	static const char *const sev[] = { "high", "high", "medium", "low" };
	static const char *const reason[NB_LISTS][2] = {
		{ "confirmed_fraud", "counterfeit" },
		{ "mule_account", "chargeback_abuse" },
		{ "promo_abuse", "fake_transactions" },
		{ "sim_swap", "vishing" },
	};
	unsigned members = nb_members ? nb_members : 1;
	FILE *out[GEN_MAX_MEMBERS] = { NULL };
	size_t nb_rows = 0, cap, i;
	struct list_row *rows;
	struct row_set set;
	unsigned l, m;
	int ret = 0;

	cap = (size_t)list_size * NB_LISTS + s->nb_listed * 2 + 1;
	rows = calloc(cap, sizeof(*rows));
	if (!rows)
		return -ENOMEM;
	set.mask = 1;
	while (set.mask < 2 * cap)
		set.mask <<= 1;
	set.slot = calloc(set.mask, sizeof(*set.slot));
	set.mask--;
	if (!set.slot) {
		free(rows);
		return -ENOMEM;
	}
	for (i = 0; i < s->nb_listed; i++) {
		const struct listed *e = &s->listed[i];

		for (l = 0; l < NB_LISTS; l++) {
			if (!(e->lists & (1u << l)))
				continue;
			rows[nb_rows].list = (uint8_t)l;
			rows[nb_rows].kind = e->kind;
			format_value(&s->rng, e->kind, e->norm, rows[nb_rows].value,
				     sizeof(rows[0].value));
			snprintf(rows[nb_rows].norm, sizeof(rows[0].norm), "%s", e->norm);
			if (row_set_add(&set, rows, nb_rows))
				nb_rows++;
		}
	}
	for (l = 0; l < NB_LISTS; l++) {
		for (i = 0; i < list_size; i++) {
			static const unsigned kinds[NB_LISTS][2] = {
				{ RG_KIND_PAN, RG_KIND_PAN },
				{ RG_KIND_ACCOUNT, RG_KIND_PAN },
				{ RG_KIND_MERCHANT, RG_KIND_TERMINAL },
				{ RG_KIND_PHONE, RG_KIND_PHONE },
			};
			unsigned k = kinds[l][i & 1];
			char v[RG_IDENT_MAX_LEN + 1];

			/* a repeated decoy is drawn again (a few tries at most) */
			for (unsigned tries = 0; tries < 16; tries++) {
				ret = decoy_value(s, k, v);
				if (ret)
					goto out_free;
				rows[nb_rows].list = (uint8_t)l;
				rows[nb_rows].kind = (uint8_t)k;
				format_value(&s->rng, k, v, rows[nb_rows].value,
					     sizeof(rows[0].value));
				snprintf(rows[nb_rows].norm, sizeof(rows[0].norm), "%s", v);
				if (row_set_add(&set, rows, nb_rows)) {
					nb_rows++;
					break;
				}
			}
		}
	}
	for (i = nb_rows; i > 1; i--) {
		size_t j = rng_below(&s->rng, (uint32_t)i);
		struct list_row tmp = rows[i - 1];

		rows[i - 1] = rows[j];
		rows[j] = tmp;
	}

	for (m = 0; m < members; m++) {
		char path[4096];

		if (members > 1)
			member_path(lists, m + 1, path, sizeof(path));
		else
			snprintf(path, sizeof(path), "%s", lists);
		out[m] = fopen(path, "w");
		if (!out[m]) {
			ret = -errno;
			set_err(err, err_cap, "%s: %s", path, strerror(errno));
			goto out_close;
		}
		fputs("list,kind,value,severity,expiry,reason\n", out[m]);
	}
	for (i = 0; i < nb_rows; i++) {
		const struct list_row *row = &rows[i];
		unsigned p = rng_below(&s->rng, 100);

		fprintf(out[i % members], "%s,%s,%s,%s,%s,%s\n", list_names[row->list],
			rg_kind_name(row->kind), row->value, sev[rng_below(&s->rng, 4)],
			p < 50 ? "" : p < 80 ? "2028-12-31" : "2029-06-30",
			reason[row->list][rng_below(&s->rng, 2)]);
	}
	*nb_rows_out = nb_rows;

out_close:
	for (m = 0; m < members; m++) {
		if (out[m] && fclose(out[m]) != 0 && !ret) {
			ret = -errno;
			set_err(err, err_cap, "writing lists: %s", strerror(errno));
		}
	}
out_free:
	free(set.slot);
	free(rows);
	return ret;
}

static int write_lists(struct gen_ctx *g)
{
	const struct gen_cfg *cfg = g->cfg;

	return write_lists_src(&g->src, cfg->lists, cfg->list_size, cfg->nb_members,
			       &g->st.nb_list_entries, g->err, sizeof(g->err));
}

/* ------------------------------------------------------------------ */
/* entry points */

static const char *const seg_names[GEN_SEG_MAX] = {
	"whole", "coalesce", "split", "tiny", "mixed",
};

int gen_seg_from_name(const char *name)
{
	unsigned i;

	for (i = 0; i < GEN_SEG_MAX; i++)
		if (strcmp(name, seg_names[i]) == 0)
			return (int)i;
	return -EINVAL;
}

const char *gen_seg_name(unsigned seg)
{
	return seg < GEN_SEG_MAX ? seg_names[seg] : "unknown";
}

void gen_cfg_default(struct gen_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->dialect = "ascii87";
	cfg->framing = "len2";
	cfg->port = 5000;
	cfg->nb_flows = 64;
	cfg->nb_messages = 2000;
	cfg->seed = 1;
	cfg->hit_rate = 0.02;
	cfg->list_size = 1000;
	cfg->seg = GEN_SEG_MIXED;
	cfg->nb_members = 1;
}

static int check_cfg(const struct gen_cfg *cfg, char *err, size_t cap)
{
	if (!cfg->out) {
		set_err(err, cap, "no output capture named");
		return -EINVAL;
	}
	if (cfg->nb_flows < 1 || cfg->nb_flows > GEN_MAX_FLOWS) {
		set_err(err, cap, "flows must be 1..%u", GEN_MAX_FLOWS);
		return -EINVAL;
	}
	if (!(cfg->hit_rate >= 0 && cfg->hit_rate <= 1) ||
	    !(cfg->retransmit >= 0 && cfg->retransmit <= 1) ||
	    !(cfg->reorder >= 0 && cfg->reorder <= 1) ||
	    !(cfg->keepalive >= 0 && cfg->keepalive <= 1)) {
		set_err(err, cap, "rates must be between 0 and 1");
		return -EINVAL;
	}
	if (cfg->seg >= GEN_SEG_MAX) {
		set_err(err, cap, "unknown segmentation mode");
		return -EINVAL;
	}
	if (cfg->vlan > 4094) {
		set_err(err, cap, "VLAN id must be 1..4094");
		return -EINVAL;
	}
	if (cfg->nb_members > GEN_MAX_MEMBERS) {
		set_err(err, cap, "members must be 1..%u", GEN_MAX_MEMBERS);
		return -EINVAL;
	}
	if (cfg->nb_members > 1 && !cfg->lists) {
		set_err(err, cap, "members need a list file name");
		return -EINVAL;
	}
	if (cfg->port == 0) {
		set_err(err, cap, "port must be 1..65535");
		return -EINVAL;
	}
	return 0;
}

int gen_run_stats(const struct gen_cfg *cfg, struct gen_stats *stats, char *err,
		  size_t err_cap)
{
	struct gen_ctx *g;
	unsigned f;
	int ret;

	ret = check_cfg(cfg, err, err_cap);
	if (ret)
		return ret;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->cfg = cfg;
	g->d = rg_dialect_load(cfg->dialect, g->err, sizeof(g->err));
	if (!g->d) {
		ret = errno ? -errno : -EINVAL;
		goto out_free;
	}
	ret = rg_framing_parse(cfg->framing, &g->fr, g->err, sizeof(g->err));
	if (ret)
		goto out_dialect;
	src_init(&g->src, g->d, cfg->seed, cfg->hit_rate);

	g->stream_cap = (size_t)GEN_MAX_PENDING * 2 * (MSG_CAP + 80);
	g->stream = malloc(g->stream_cap);
	g->flows = calloc(cfg->nb_flows, sizeof(*g->flows));
	if (!g->stream || !g->flows) {
		ret = -ENOMEM;
		goto out_src;
	}
	for (f = 0; f < cfg->nb_flows; f++) {
		g->flows[f].pending = malloc(GEN_MAX_PENDING * sizeof(struct txn));
		if (!g->flows[f].pending) {
			ret = -ENOMEM;
			goto out_src;
		}
		flow_init(g, f);
	}
	g->st.nb_flows = cfg->nb_flows;

	if (cfg->truth) {
		g->truth = fopen(cfg->truth, "w");
		if (!g->truth) {
			ret = -errno;
			set_err(g->err, sizeof(g->err), "%s: %s", cfg->truth, strerror(errno));
			goto out_src;
		}
	}
	ret = pcapw_open(&g->w, cfg->out);
	if (ret) {
		set_err(g->err, sizeof(g->err), "%s: %s", cfg->out, strerror(-ret));
		goto out_truth;
	}
	ret = conversation(g);
	if (ret && !g->err[0])
		set_err(g->err, sizeof(g->err), "writing %s: %s", cfg->out, strerror(-ret));
	{
		int cr = pcapw_close(&g->w);

		if (cr && !ret) {
			ret = cr;
			set_err(g->err, sizeof(g->err), "writing %s: %s", cfg->out, strerror(-cr));
		}
	}
	g->st.nb_packets = g->w.nb_packets;
	g->st.nb_bytes = g->w.nb_bytes;
	if (!ret && cfg->lists)
		ret = write_lists(g);

out_truth:
	if (g->truth && fclose(g->truth) != 0 && !ret) {
		ret = -errno;
		set_err(g->err, sizeof(g->err), "%s: %s", cfg->truth, strerror(errno));
	}
out_src:
	if (g->flows)
		for (f = 0; f < cfg->nb_flows; f++)
			free(g->flows[f].pending);
	free(g->flows);
	free(g->stream);
	free(g->cuts);
	free(g->frames);
	free(g->frame_len);
	free(g->delayed);
	src_fini(&g->src);
out_dialect:
	free(g->d);
out_free:
	if (ret)
		set_err(err, err_cap, "%s", g->err[0] ? g->err : strerror(-ret));
	else if (stats)
		*stats = g->st;
	free(g);
	return ret;
}

int gen_run(const struct gen_cfg *cfg, char *err, size_t err_cap)
{
	return gen_run_stats(cfg, NULL, err, err_cap);
}

/* ------------------------------------------------------------------ */
/* a closed population for live simulators */

struct gen_pop {
	struct gen_src src;
	struct txn last;        /* the request built last, for its ground truth */
	uint64_t seed;
};

struct gen_pop *gen_pop_new(const struct rg_dialect *d, uint64_t seed, double hit_rate,
			    unsigned nb_listed)
{
	static const unsigned kinds[] = { RG_KIND_PAN, RG_KIND_ACCOUNT, RG_KIND_MERCHANT,
					  RG_KIND_TERMINAL, RG_KIND_PHONE };
	struct gen_pop *p;
	unsigned k, i;
	int ret = 0;

	if (!(hit_rate >= 0 && hit_rate <= 1) || nb_listed == 0) {
		errno = EINVAL;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		errno = ENOMEM;
		return NULL;
	}
	p->seed = seed;
	src_init(&p->src, d, seed, hit_rate);
	/* Cards dominate the listed pool, as they do in real lists. */
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]) && !ret; k++) {
		unsigned n = kinds[k] == RG_KIND_PAN ? nb_listed :
			     (nb_listed + 3) / 4;

		if (!p->src.extractable[kinds[k]])
			continue;
		for (i = 0; i < n && !ret; i++) {
			const struct listed *l;

			ret = listed_new(&p->src, kinds[k],
					 places[rng_below(&p->src.rng, NB_PLACES)].cc, &l);
		}
	}
	if (ret) {
		src_fini(&p->src);
		free(p);
		errno = -ret;
		return NULL;
	}
	p->src.closed = true;
	txn_init(&p->last, 0);
	return p;
}

void gen_pop_free(struct gen_pop *p)
{
	if (!p)
		return;
	src_fini(&p->src);
	free(p);
}

int gen_pop_write_lists(struct gen_pop *p, const char *path, unsigned list_size,
			unsigned nb_members, uint64_t *nb_entries, char *err, size_t err_cap)
{
	struct rng saved = p->src.rng;
	uint64_t nb = 0;
	int ret;

	if (nb_members > GEN_MAX_MEMBERS) {
		set_err(err, err_cap, "members must be 1..%u", GEN_MAX_MEMBERS);
		return -EINVAL;
	}
	/* A stream of its own: the requests that follow do not depend on
	 * whether (or how large) a list file was written. */
	rng_seed(&p->src.rng, p->seed ^ 0x6c69737473ULL);
	ret = write_lists_src(&p->src, path, list_size, nb_members, &nb, err, err_cap);
	p->src.rng = saved;
	if (!ret && nb_entries)
		*nb_entries = nb;
	return ret;
}

int gen_pop_request(struct gen_pop *p, uint32_t stan, const char *acq_id, uint64_t now_us,
		    uint8_t *out, size_t cap, struct gen_req *info)
{
	struct truth_hit hits[RG_IDENT_MAX];
	struct req_ctx rc = { .stan = stan, .acq_id = acq_id };
	unsigned nb, i;
	int ret;

	p->src.now_us = now_us;
	ret = build_request(&p->src, &rc, &p->last);
	if (ret)
		return ret;
	ret = txn_encode(p->src.d, &p->last, out, cap, NULL);
	if (ret < 0)
		return ret;
	if (info) {
		nb = truth_hits(&p->src, &p->last, hits, RG_IDENT_MAX);
		info->mti = p->last.mti;
		info->nb_hits = (uint8_t)nb;
		info->lists = 0;
		memset(info->list_hits, 0, sizeof(info->list_hits));
		for (i = 0; i < nb; i++) {
			unsigned l;

			info->lists |= hits[i].lists;
			for (l = 0; l < NB_LISTS; l++)
				if (hits[i].lists & (1u << l))
					info->list_hits[l]++;
		}
	}
	return ret;
}

int gen_pop_truth(const struct gen_pop *p, FILE *out, const char *flow)
{
	struct truth_hit hits[RG_IDENT_MAX];
	const struct txn *t = &p->last;
	unsigned nb, i, l;
	int lines = 0;
	char mti[5];
	const char *stan;

	nb = truth_hits(&p->src, t, hits, RG_IDENT_MAX);
	rg_iso_mti_text(t->mti, mti);
	stan = txn_get(t, 11) ? txn_get(t, 11) : "";
	for (i = 0; i < nb; i++) {
		char masked[RG_IDENT_MAX_LEN * 2 + 1];

		if (rg_ident_mask(hits[i].kind, hits[i].norm, hits[i].len, masked,
				  sizeof(masked)) < 0)
			return -EINVAL;
		for (l = 0; l < NB_LISTS; l++) {
			if (!(hits[i].lists & (1u << l)))
				continue;
			if (fprintf(out, "{\"flow\": \"%s\", \"dir\": \"request\", \"mti\": \"%s\", "
				    "\"stan\": \"%s\", \"list\": \"%s\", \"kind\": \"%s\", "
				    "\"de\": %u, \"masked\": \"%s\"}\n",
				    flow, mti, stan, list_names[l], rg_kind_name(hits[i].kind),
				    hits[i].de, masked) < 0)
				return -EIO;
			lines++;
		}
	}
	return lines;
}
