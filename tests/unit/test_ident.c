/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for common/ident.c: kind names, Luhn, the normalisation of
 * every kind at every boundary, masking, and extraction from decoded
 * messages: hand-built messages (offsets set directly) for each locator
 * (whole, track 2, track 1, ASCII TLV, BER-TLV), duplicates, anomalies and
 * the output cap; then real wire messages in ascii87 and bcd87 form decoded
 * by rg_iso_decode, and the built-in dialects when they load.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/ident.h"
#include "check.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static void test_kinds(void)
{
	static const struct {
		unsigned kind;
		const char *name;
	} cases[] = {
		{ RG_KIND_PAN, "PAN" },
		{ RG_KIND_ACCOUNT, "ACCOUNT" },
		{ RG_KIND_MERCHANT, "MERCHANT" },
		{ RG_KIND_TERMINAL, "TERMINAL" },
		{ RG_KIND_ACQUIRER, "ACQUIRER" },
		{ RG_KIND_PHONE, "PHONE" },
		{ RG_KIND_DEVICE, "DEVICE" },
	};
	unsigned i;

	/* Codes are hashed into every fingerprint: pin them. */
	CHECK_EQ(RG_KIND_PAN, 1, "PAN code");
	CHECK_EQ(RG_KIND_ACCOUNT, 2, "ACCOUNT code");
	CHECK_EQ(RG_KIND_MERCHANT, 3, "MERCHANT code");
	CHECK_EQ(RG_KIND_TERMINAL, 4, "TERMINAL code");
	CHECK_EQ(RG_KIND_ACQUIRER, 5, "ACQUIRER code");
	CHECK_EQ(RG_KIND_PHONE, 6, "PHONE code");
	CHECK_EQ(RG_KIND_DEVICE, 7, "DEVICE code");

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *n = rg_kind_name(cases[i].kind);

		CHECK(n != NULL && strcmp(n, cases[i].name) == 0, "name of %u", cases[i].kind);
		CHECK_EQ(rg_kind_from_name(cases[i].name), cases[i].kind, "%s", cases[i].name);
	}
	CHECK(rg_kind_name(RG_KIND_NONE) == NULL, "NONE has no name");
	CHECK(rg_kind_name(RG_KIND_MAX) == NULL, "MAX has no name");
	CHECK(rg_kind_name(1000) == NULL, "1000 has no name");
	CHECK_EQ(rg_kind_from_name("pan"), RG_KIND_PAN, "lower case");
	CHECK_EQ(rg_kind_from_name("Phone"), RG_KIND_PHONE, "mixed case");
	CHECK_EQ(rg_kind_from_name("CARD"), RG_KIND_NONE, "unknown");
	CHECK_EQ(rg_kind_from_name(""), RG_KIND_NONE, "empty");
	CHECK_EQ(rg_kind_from_name("PAN "), RG_KIND_NONE, "trailing space");
	CHECK_EQ(rg_kind_from_name(NULL), RG_KIND_NONE, "NULL");
}

static void test_luhn(void)
{
	static const struct {
		const char *s;
		bool ok;
	} cases[] = {
		{ "4761739001010119", true },  /* Visa test card */
		{ "4111111111111111", true },
		{ "5555555555554444", true },
		{ "378282246310005", true },   /* 15-digit Amex */
		{ "6011111111111117", true },
		{ "79927398713", true },       /* the classic example */
		{ "0", true },
		{ "00", true },
		{ "18", true },
		{ "4761739001010118", false },
		{ "4761739001010110", false },
		{ "4111111111111112", false },
		{ "79927398710", false },
		{ "1", false },
		{ "", false },
		{ "4761 7390 0101 0119", false }, /* spaces are not digits */
		{ "476173900101011A", false },
		{ "4761739001010119\n", false },
		{ "4761739001010119000", false },  /* 19 digits */
		{ "6304000000000000000", true },   /* 19-digit Maestro */
		{ "6759649826438453", true },
	};
	unsigned i;

	for (i = 0; i < ARRAY_SIZE(cases); i++)
		CHECK_EQ(rg_luhn_ok(cases[i].s, strlen(cases[i].s)), cases[i].ok, "luhn \"%s\"",
			 cases[i].s);
	CHECK(rg_luhn_ok("47617390010101190", 16), "only len bytes are read");
}

struct norm_case {
	unsigned kind;
	const char *in;
	const char *out; /* NULL: -EINVAL */
};

static const struct norm_case norm_cases[] = {
	/* PAN: digits after dropping ' ' and '-'; 12..19 */
	{ RG_KIND_PAN, "4761739001010119", "4761739001010119" },
	{ RG_KIND_PAN, "4761 7390 0101 0119", "4761739001010119" },
	{ RG_KIND_PAN, "4761-7390-0101-0119", "4761739001010119" },
	{ RG_KIND_PAN, " 4761739001010119 ", "4761739001010119" },
	{ RG_KIND_PAN, "4761739001010118", "4761739001010118" }, /* Luhn not checked */
	{ RG_KIND_PAN, "12345678901", NULL },                  /* 11 */
	{ RG_KIND_PAN, "123456789012", "123456789012" },       /* 12 */
	{ RG_KIND_PAN, "1234567890123456789", "1234567890123456789" }, /* 19 */
	{ RG_KIND_PAN, "12345678901234567890", NULL },         /* 20 */
	{ RG_KIND_PAN, "1234 5678 9012 3456 789", "1234567890123456789" },
	{ RG_KIND_PAN, "1234-5678-9012-3456-7890", NULL },
	{ RG_KIND_PAN, "1234 5678 901", NULL },
	{ RG_KIND_PAN, "476173900101011A", NULL },
	{ RG_KIND_PAN, "4761739001010119=2512", NULL },
	{ RG_KIND_PAN, "4761.7390.0101.0119", NULL },
	{ RG_KIND_PAN, "4761\t739001010119", NULL },
	{ RG_KIND_PAN, "", NULL },
	{ RG_KIND_PAN, "    ", NULL },
	{ RG_KIND_PAN, "------------", NULL },
	/* ACCOUNT: trim, drop inner ' ' and '-', upper-case; 1..34 printable */
	{ RG_KIND_ACCOUNT, "DE89370400440532013000", "DE89370400440532013000" },
	{ RG_KIND_ACCOUNT, "de89 3704 0044 0532 0130 00", "DE89370400440532013000" },
	{ RG_KIND_ACCOUNT, "  0012-3456-789  ", "00123456789" },
	{ RG_KIND_ACCOUNT, "a", "A" },
	{ RG_KIND_ACCOUNT, "acc/01.x", "ACC/01.X" },
	{ RG_KIND_ACCOUNT, "1234567890123456789012345678901234", "1234567890123456789012345678901234" },
	{ RG_KIND_ACCOUNT, "12345678901234567890123456789012345", NULL }, /* 35 */
	{ RG_KIND_ACCOUNT, "1234 5678 9012 3456 7890 1234 5678 9012 34",
	  "1234567890123456789012345678901234" },
	{ RG_KIND_ACCOUNT, "", NULL },
	{ RG_KIND_ACCOUNT, "   ", NULL },
	{ RG_KIND_ACCOUNT, "-", NULL },
	{ RG_KIND_ACCOUNT, "AB\tCD", NULL },
	{ RG_KIND_ACCOUNT, "AB\x80" "CD", NULL },
	/* MERCHANT / TERMINAL / DEVICE: trim pad spaces; 1..64 printable */
	{ RG_KIND_MERCHANT, "MERCHANT0001   ", "MERCHANT0001" },
	{ RG_KIND_MERCHANT, "   MERCHANT 0001   ", "MERCHANT 0001" },
	{ RG_KIND_MERCHANT, "m", "m" },
	{ RG_KIND_MERCHANT, "               ", NULL },
	{ RG_KIND_MERCHANT, "", NULL },
	{ RG_KIND_MERCHANT, "MERCH\n", NULL },
	{ RG_KIND_TERMINAL, "TERM0001", "TERM0001" },
	{ RG_KIND_TERMINAL, "T1      ", "T1" },
	{ RG_KIND_TERMINAL, "term-01", "term-01" },
	{ RG_KIND_TERMINAL, "T\x01", NULL },
	{ RG_KIND_DEVICE, "IMEI 356938035643809", "IMEI 356938035643809" },
	{ RG_KIND_DEVICE, "0123456789012345678901234567890123456789012345678901234567890123",
	  "0123456789012345678901234567890123456789012345678901234567890123" }, /* 64 */
	{ RG_KIND_DEVICE, "01234567890123456789012345678901234567890123456789012345678901234",
	  NULL }, /* 65 */
	{ RG_KIND_DEVICE, "  0123456789012345678901234567890123456789012345678901234567890123  ",
	  "0123456789012345678901234567890123456789012345678901234567890123" },
	{ RG_KIND_DEVICE, "dev\x7f", NULL },
	/* ACQUIRER: digits only, 1..11 */
	{ RG_KIND_ACQUIRER, "123456", "123456" },
	{ RG_KIND_ACQUIRER, "1", "1" },
	{ RG_KIND_ACQUIRER, "00000000001", "00000000001" },
	{ RG_KIND_ACQUIRER, "123456789012", NULL },
	{ RG_KIND_ACQUIRER, "", NULL },
	{ RG_KIND_ACQUIRER, "12 34", NULL },
	{ RG_KIND_ACQUIRER, "A12", NULL },
	/* PHONE: drop ' ', '-', '(', ')', '.'; drop one leading '+' or "00"; 7..15 */
	{ RG_KIND_PHONE, "+4915123456", "4915123456" },
	{ RG_KIND_PHONE, "004915123456", "4915123456" },
	{ RG_KIND_PHONE, "4915123456", "4915123456" },
	{ RG_KIND_PHONE, "+49 (151) 234-56.78", "4915123456" "78" },
	{ RG_KIND_PHONE, "(+49) 151 23456", "4915123456" },
	{ RG_KIND_PHONE, "+86 138 0013 8000", "8613800138000" },
	{ RG_KIND_PHONE, "1234567", "1234567" },         /* 7 */
	{ RG_KIND_PHONE, "123456", NULL },               /* 6 */
	{ RG_KIND_PHONE, "+123456", NULL },
	{ RG_KIND_PHONE, "00123456", NULL },             /* 6 after 00 */
	{ RG_KIND_PHONE, "001234567", "1234567" },
	{ RG_KIND_PHONE, "123456789012345", "123456789012345" },  /* 15 */
	{ RG_KIND_PHONE, "1234567890123456", NULL },               /* 16 */
	{ RG_KIND_PHONE, "+123456789012345", "123456789012345" },
	{ RG_KIND_PHONE, "+1234567890123456", NULL },
	{ RG_KIND_PHONE, "00123456789012345", "123456789012345" },
	{ RG_KIND_PHONE, "001234567890123456", NULL },
	{ RG_KIND_PHONE, "+0049151234567", NULL },          /* two prefixes */
	{ RG_KIND_PHONE, "000049151234567", NULL },
	{ RG_KIND_PHONE, "+049151234567", "049151234567" },
	{ RG_KIND_PHONE, "0151 2345678", "01512345678" },     /* national 0 kept */
	{ RG_KIND_PHONE, "++4915123456", NULL },
	{ RG_KIND_PHONE, "49+15123456", NULL },
	{ RG_KIND_PHONE, "4915123456+", NULL },
	{ RG_KIND_PHONE, "+49 151 CALLME", NULL },
	{ RG_KIND_PHONE, "+49/151/23456", NULL },
	{ RG_KIND_PHONE, "", NULL },
	{ RG_KIND_PHONE, "+", NULL },
	{ RG_KIND_PHONE, "00", NULL },
	/* unknown kinds */
	{ RG_KIND_NONE, "4761739001010119", NULL },
	{ RG_KIND_MAX, "4761739001010119", NULL },
	{ 200, "x", NULL },
};

static void test_normalise(void)
{
	char out[RG_IDENT_MAX_LEN + 8];
	unsigned i;

	for (i = 0; i < ARRAY_SIZE(norm_cases); i++) {
		const struct norm_case *c = &norm_cases[i];
		int rc;

		memset(out, '#', sizeof(out));
		rc = rg_ident_normalise(c->kind, c->in, strlen(c->in), out);
		if (c->out == NULL) {
			CHECK_EQ(rc, -EINVAL, "kind %u \"%s\" refused", c->kind, c->in);
		} else {
			CHECK_EQ(rc, (int)strlen(c->out), "kind %u \"%s\" length", c->kind, c->in);
			CHECK(rc == (int)strlen(c->out) && memcmp(out, c->out, strlen(c->out)) == 0,
			      "kind %u \"%s\" -> \"%.*s\"", c->kind, c->in, rc > 0 ? rc : 0, out);
		}
		/* Never writes beyond RG_IDENT_MAX_LEN. */
		CHECK(out[RG_IDENT_MAX_LEN] == '#', "kind %u \"%s\" stays in out", c->kind, c->in);
	}

	/* Only len bytes are read. */
	CHECK_EQ(rg_ident_normalise(RG_KIND_PAN, "4761739001010119XYZ", 16, out), 16, "len bound");
	/* Long input of separators only, well over RG_IDENT_MAX_LEN. */
	{
		char in[300];

		memset(in, ' ', sizeof(in));
		memcpy(in + 150, "4761739001010119", 16);
		CHECK_EQ(rg_ident_normalise(RG_KIND_PAN, in, sizeof(in), out), 16, "padded PAN");
		CHECK_EQ(rg_ident_normalise(RG_KIND_MERCHANT, in, sizeof(in), out), 16, "padded MID");
		memset(in, '5', sizeof(in));
		CHECK_EQ(rg_ident_normalise(RG_KIND_PAN, in, sizeof(in), out), -EINVAL, "300 digits");
		CHECK_EQ(rg_ident_normalise(RG_KIND_PHONE, in, sizeof(in), out), -EINVAL, "300 digits");
		CHECK_EQ(rg_ident_normalise(RG_KIND_ACCOUNT, in, sizeof(in), out), -EINVAL, "300 chars");
		CHECK_EQ(rg_ident_normalise(RG_KIND_DEVICE, in, sizeof(in), out), -EINVAL, "300 chars");
	}
}

static void test_mask(void)
{
	static const struct {
		unsigned kind;
		const char *in;
		const char *out;
	} cases[] = {
		{ RG_KIND_PAN, "4761739001010119", "476173******0119" },
		{ RG_KIND_PAN, "123456789012", "123456**9012" },
		{ RG_KIND_PAN, "1234567890123", "123456***0123" },
		{ RG_KIND_PAN, "1234567890123456789", "123456*********6789" },
		{ RG_KIND_PAN, "12345678901", "***********" },
		{ RG_KIND_PAN, "1234", "****" },
		{ RG_KIND_PAN, "", "" },
		{ RG_KIND_MERCHANT, "MERCHANT0001", "MERCHANT0001" },
		{ RG_KIND_PHONE, "4915123456", "4915123456" },
		{ RG_KIND_ACQUIRER, "123456", "123456" },
		/* accounts are as sensitive as PANs (issue: shown unmasked) */
		{ RG_KIND_ACCOUNT, "DE89370400440532013000", "DE89**************3000" },
		{ RG_KIND_ACCOUNT, "GB29NWBK60161331926819", "GB29**************6819" },
		{ RG_KIND_ACCOUNT, "123456789012", "123456**9012" },
		{ RG_KIND_ACCOUNT, "ACCT00012345678", "ACCT00*****5678" },
		{ RG_KIND_ACCOUNT, "12345678901", "*******8901" },
		{ RG_KIND_ACCOUNT, "12345678", "****5678" },
		{ RG_KIND_ACCOUNT, "1234567", "*******" },
		{ RG_KIND_ACCOUNT, "", "" },
	};
	char out[64];
	unsigned i;
	int rc;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		memset(out, '#', sizeof(out));
		rc = rg_ident_mask(cases[i].kind, cases[i].in, strlen(cases[i].in), out, sizeof(out));
		CHECK_EQ(rc, (int)strlen(cases[i].out), "mask \"%s\" length", cases[i].in);
		CHECK(strcmp(out, cases[i].out) == 0, "mask \"%s\" -> \"%s\"", cases[i].in, out);
	}
	/* Capacity: exactly len + 1 fits; len does not. */
	rc = rg_ident_mask(RG_KIND_PAN, "4761739001010119", 16, out, 17);
	CHECK(rc == 16 && strcmp(out, "476173******0119") == 0, "cap 17");
	memset(out, '#', sizeof(out));
	rc = rg_ident_mask(RG_KIND_PAN, "4761739001010119", 16, out, 16);
	CHECK_EQ(rc, -ENOSPC, "cap 16");
	CHECK(out[0] == '#', "nothing written without room");
	CHECK_EQ(rg_ident_mask(RG_KIND_PAN, "", 0, out, 0), -ENOSPC, "cap 0");
}

/* The text rule: every run that could be a PAN or an account, wherever it
 * sits in error text that quotes input. */
static void test_mask_text(void)
{
	static const struct {
		const char *in;
		const char *out;
		size_t run;
	} cases[] = {
		{ "not JSON: premature end of input near '\"4532015112830366}}'",
		  "not JSON: premature end of input near '\"453201******0366}}'", 16 },
		{ "4532 0151 1283 0366", "4532 01** **** 0366", 16 },
		{ "4532-0151-1283-0366x", "4532-01**-****-0366x", 16 },
		{ "a4532015112830366b", "a453201******0366b", 16 },
		{ "DE89370400440532013000", "DE893704**********3000", 20 },
		{ "acct 12345678 ok", "acct ****5678 ok", 8 },
		{ "1234567 is short", "1234567 is short", 7 },
		{ "expiry 2026-12-08 passed", "expiry 2026-12-08 passed", 0 },
		{ "2026-12-08 1234", "2026-12-** 1234", 12 },
		{ "12  34567890", "12  ****7890", 8 },
		{ "12 345678 - 9", "** **5678 - 9", 8 },
		{ "1234567890123456789012345", "123456***************2345", 25 },
		{ "two 11112222333 and 44445555666677", "two *******2333 and 444455****6677",
		  14 },
		{ "", "", 0 },
		{ "-", "-", 0 },
		{ "9-", "9-", 1 },
	};

	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		char buf[128];

		snprintf(buf, sizeof(buf), "%s", cases[i].in);
		rg_mask_text(buf);
		CHECK(strcmp(buf, cases[i].out) == 0, "mask text \"%s\" -> \"%s\"", cases[i].in,
		      buf);
		CHECK_EQ(rg_digit_run_max(cases[i].in, strlen(cases[i].in)), cases[i].run,
			 "longest run of \"%s\"", cases[i].in);
	}
	rg_mask_text(NULL);
}

/* ---- extraction over hand-built messages -------------------------------- */

struct hand_msg {
	struct rg_iso_msg m;
	uint8_t buf[4096];
	uint32_t used;
};

static void set_spec(struct rg_dialect *d, unsigned de, unsigned type, unsigned enc,
		     unsigned prefix_digits, unsigned len)
{
	d->de[de].type = (uint8_t)type;
	d->de[de].enc = (uint8_t)enc;
	d->de[de].prefix_digits = (uint8_t)prefix_digits;
	d->de[de].prefix_enc = RG_ISO_E_ASCII;
	d->de[de].len = (uint16_t)len;
}

/* ascii87-like specs for the DEs these tests use. */
static void ascii_specs(struct rg_dialect *d)
{
	memset(d, 0, sizeof(*d));
	strcpy(d->name, "test-ascii");
	d->mti_enc = RG_ISO_E_ASCII;
	d->bitmap_enc = RG_ISO_E_HEX;
	set_spec(d, 2, RG_ISO_T_N, RG_ISO_E_ASCII, 2, 19);
	set_spec(d, 3, RG_ISO_T_N, RG_ISO_E_ASCII, 0, 6);
	set_spec(d, 11, RG_ISO_T_N, RG_ISO_E_ASCII, 0, 6);
	set_spec(d, 32, RG_ISO_T_N, RG_ISO_E_ASCII, 2, 11);
	set_spec(d, 34, RG_ISO_T_AN, RG_ISO_E_ASCII, 2, 28);
	set_spec(d, 35, RG_ISO_T_Z, RG_ISO_E_ASCII, 2, 37);
	set_spec(d, 41, RG_ISO_T_AN, RG_ISO_E_ASCII, 0, 8);
	set_spec(d, 42, RG_ISO_T_AN, RG_ISO_E_ASCII, 0, 15);
	set_spec(d, 45, RG_ISO_T_AN, RG_ISO_E_ASCII, 2, 76);
	set_spec(d, 48, RG_ISO_T_AN, RG_ISO_E_ASCII, 3, 999);
	set_spec(d, 55, RG_ISO_T_B, RG_ISO_E_RAW, 3, 255);
	set_spec(d, 62, RG_ISO_T_AN, RG_ISO_E_ASCII, 3, 999);
	set_spec(d, 102, RG_ISO_T_AN, RG_ISO_E_ASCII, 2, 28);
}

static void add_source(struct rg_dialect *d, unsigned kind, unsigned de, unsigned how)
{
	struct rg_ident_source *s = &d->ident[d->nb_ident++];

	memset(s, 0, sizeof(*s));
	s->kind = (uint8_t)kind;
	s->de = (uint8_t)de;
	s->how = (uint8_t)how;
}

static void add_tlv_source(struct rg_dialect *d, unsigned kind, unsigned de, unsigned how,
			   unsigned skip, unsigned tag_width, unsigned len_width,
			   const char *tag, unsigned tag_len)
{
	struct rg_ident_source *s = &d->ident[d->nb_ident];

	add_source(d, kind, de, how);
	s->skip = (uint8_t)skip;
	s->tag_width = (uint8_t)tag_width;
	s->len_width = (uint8_t)len_width;
	s->tag_len = (uint8_t)tag_len;
	memcpy(s->tag, tag, tag_len);
}

static void msg_init(struct hand_msg *h)
{
	memset(h, 0, sizeof(*h));
	h->m.buf = h->buf;
}

/* Put a value (wire bytes, as the decoder would have found them) for DE de. */
static void msg_put(struct hand_msg *h, unsigned de, const void *val, size_t len)
{
	memcpy(h->buf + h->used, val, len);
	h->m.v[de].off = (uint16_t)h->used;
	h->m.v[de].len = (uint16_t)len;
	h->m.v[de].units = (uint16_t)len;
	h->m.bitmap[(de - 1) / 64] |= 1ULL << (63 - (de - 1) % 64);
	h->used += (uint32_t)len;
	h->m.len = h->used;
	h->m.end = (uint16_t)h->used;
}

static void msg_puts(struct hand_msg *h, unsigned de, const char *text)
{
	msg_put(h, de, text, strlen(text));
}

struct want_ident {
	unsigned kind;
	unsigned de;
	const char *value;
};

static void check_idents(const char *name, const struct rg_ident *got, unsigned n,
			 const struct want_ident *want, unsigned nb_want)
{
	unsigned i;

	CHECK_EQ(n, nb_want, "%s: number of identifiers", name);
	for (i = 0; i < n && i < nb_want; i++) {
		CHECK_EQ(got[i].kind, want[i].kind, "%s: [%u] kind", name, i);
		CHECK_EQ(got[i].de, want[i].de, "%s: [%u] de", name, i);
		CHECK(got[i].len == strlen(want[i].value) &&
		      memcmp(got[i].value, want[i].value, got[i].len) == 0,
		      "%s: [%u] value \"%.*s\", want \"%s\"", name, i, (int)got[i].len,
		      got[i].value, want[i].value);
	}
}

static const uint8_t emv55[] = {
	0x9f, 0x02, 0x06, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
	0x00, 0x00,                                     /* padding */
	0x70, 0x04, 0x9f, 0x1e, 0x01, 0x41,             /* constructed, skipped */
	0x9f, 0x1e, 0x08, 'I', 'F', 'D', '0', '0', '0', '4', '2',
	0xdf, 0x81, 0x16, 0x02, 0x12, 0x34,
};

static void test_extract_hand(void)
{
	struct rg_dialect d;
	struct hand_msg h;
	struct rg_ident out[RG_IDENT_MAX];
	enum rg_anomaly a;
	unsigned n;

	ascii_specs(&d);
	add_source(&d, RG_KIND_PAN, 2, RG_IDENT_WHOLE);
	add_source(&d, RG_KIND_PAN, 35, RG_IDENT_TRACK2);
	add_source(&d, RG_KIND_PAN, 45, RG_IDENT_TRACK1);
	add_source(&d, RG_KIND_ACQUIRER, 32, RG_IDENT_WHOLE);
	add_source(&d, RG_KIND_TERMINAL, 41, RG_IDENT_WHOLE);
	add_source(&d, RG_KIND_MERCHANT, 42, RG_IDENT_WHOLE);
	add_tlv_source(&d, RG_KIND_PHONE, 48, RG_IDENT_TLV_ASCII, 0, 2, 3, "PH", 2);
	add_tlv_source(&d, RG_KIND_DEVICE, 55, RG_IDENT_TLV_BER, 0, 0, 0, "\x9f\x1e", 2);
	add_source(&d, RG_KIND_ACCOUNT, 102, RG_IDENT_WHOLE);

	/* DE 2 and DE 35 carry the same PAN: one identifier, from DE 2. */
	msg_init(&h);
	msg_puts(&h, 2, "4761739001010119");
	msg_puts(&h, 35, "4761739001010119=25121011234567890");
	msg_puts(&h, 32, "123456");
	msg_puts(&h, 41, "TERM0001");
	msg_puts(&h, 42, "MERCHANT0001   ");
	a = RG_ANOM_MAX;
	n = rg_ident_extract(&d, &h.m, out, RG_IDENT_MAX, &a);
	{
		static const struct want_ident want[] = {
			{ RG_KIND_PAN, 2, "4761739001010119" },
			{ RG_KIND_ACQUIRER, 32, "123456" },
			{ RG_KIND_TERMINAL, 41, "TERM0001" },
			{ RG_KIND_MERCHANT, 42, "MERCHANT0001" },
		};
		check_idents("same PAN twice", out, n, want, ARRAY_SIZE(want));
	}
	CHECK_EQ(a, RG_ANOM_NONE, "same PAN twice: no anomaly");

	/* Different PANs in DE 2 and DE 35 ('D' separator): both kept. */
	msg_init(&h);
	msg_puts(&h, 2, "4761739001010119");
	msg_puts(&h, 35, "4111111111111111D2512101");
	n = rg_ident_extract(&d, &h.m, out, RG_IDENT_MAX, &a);
	{
		static const struct want_ident want[] = {
			{ RG_KIND_PAN, 2, "4761739001010119" },
			{ RG_KIND_PAN, 35, "4111111111111111" },
		};
		check_idents("two PANs", out, n, want, ARRAY_SIZE(want));
	}
	CHECK_EQ(a, RG_ANOM_NONE, "two PANs: no anomaly");

	/* Track 1 only; track 2 only. */
	msg_init(&h);
	msg_puts(&h, 45, "B4761739001010119^DOE/JOHN^25121010000000000000");
	n = rg_ident_extract(&d, &h.m, out, RG_IDENT_MAX, &a);
	{
		static const struct want_ident want[] = {
			{ RG_KIND_PAN, 45, "4761739001010119" },
		};
		check_idents("track 1", out, n, want, ARRAY_SIZE(want));
	}
	CHECK_EQ(a, RG_ANOM_NONE, "track 1: no anomaly");

	msg_init(&h);
	msg_puts(&h, 45, "%B4761 7390 0101 0119^DOE/JOHN^2512101?");
	n = rg_ident_extract(&d, &h.m, out, RG_IDENT_MAX, &a);
	CHECK(n == 1 && out[0].len == 16 && memcmp(out[0].value, "4761739001010119", 16) == 0,
	      "track 1 with sentinel and spaced PAN");

	msg_init(&h);
	msg_puts(&h, 45, "A4761739001010119^DOE/JOHN^2512101");
	n = rg_ident_extract(&d, &h.m, out, RG_IDENT_MAX, &a);
	CHECK_EQ(n, 0, "track 1 format A: nothing");
	CHECK_EQ(a, RG_ANOM_IDENT_INVALID, "track 1 format A: ident_invalid");

	msg_init(&h);
	msg_puts(&h, 45, "B4761739001010119");
	n = rg_ident_extract(&d, &h.m, out, RG_IDENT_MAX, &a);
	CHECK(n == 0 && a == RG_ANOM_IDENT_INVALID, "track 1 without '^'");

	msg_init(&h);
	msg_puts(&h, 35, "4761739001010119");
	n = rg_ident_extract(&d, &h.m, out, RG_IDENT_MAX, &a);
	CHECK(n == 0 && a == RG_ANOM_IDENT_INVALID, "track 2 without separator");

	msg_init(&h);
	msg_puts(&h, 35, "=2512101");
	n = rg_ident_extract(&d, &h.m, out, RG_IDENT_MAX, &a);
	CHECK(n == 0 && a == RG_ANOM_IDENT_INVALID, "track 2 with empty PAN");

	/* ASCII TLV phone in DE 48 (len_width 3). */
	msg_init(&h);
	msg_puts(&h, 48, "AB003xyzPH012+49151234567CD001q");
	n = rg_ident_extract(&d, &h.m, out, RG_IDENT_MAX, &a);
	{
		static const struct want_ident want[] = {
			{ RG_KIND_PHONE, 48, "49151234567" },
		};
		check_idents("TLV phone", out, n, want, ARRAY_SIZE(want));
	}
	CHECK_EQ(a, RG_ANOM_NONE, "TLV phone: no anomaly");

	/* Tag absent: not an anomaly. */
	msg_init(&h);
	msg_puts(&h, 48, "AB003xyzCD001q");
	n = rg_ident_extract(&d, &h.m, out, RG_IDENT_MAX, &a);
	CHECK(n == 0 && a == RG_ANOM_NONE, "TLV tag absent: n %u anomaly %d", n, a);

	/* Broken TLV: tlv_malformed. */
	msg_init(&h);
	msg_puts(&h, 48, "AB0x3xyzPH012+49151234567");
	n = rg_ident_extract(&d, &h.m, out, RG_IDENT_MAX, &a);
	CHECK(n == 0 && a == RG_ANOM_TLV_MALFORMED, "TLV broken: anomaly %d", a);

	/* Phone present but not a phone number: ident_invalid. */
	msg_init(&h);
	msg_puts(&h, 48, "PH006123456");
	n = rg_ident_extract(&d, &h.m, out, RG_IDENT_MAX, &a);
	CHECK(n == 0 && a == RG_ANOM_IDENT_INVALID, "TLV phone too short");

	/* BER-TLV in binary DE 55: device id from 9F1E (not the one inside 70). */
	msg_init(&h);
	msg_put(&h, 55, emv55, sizeof(emv55));
	n = rg_ident_extract(&d, &h.m, out, RG_IDENT_MAX, &a);
	{
		static const struct want_ident want[] = {
			{ RG_KIND_DEVICE, 55, "IFD00042" },
		};
		check_idents("BER device", out, n, want, ARRAY_SIZE(want));
	}
	CHECK_EQ(a, RG_ANOM_NONE, "BER device: no anomaly");

	msg_init(&h);
	msg_put(&h, 55, emv55, 20); /* cut inside 9F1E */
	n = rg_ident_extract(&d, &h.m, out, RG_IDENT_MAX, &a);
	CHECK(n == 0 && a == RG_ANOM_TLV_MALFORMED, "BER cut: anomaly %d", a);

	/* Invalid PAN in DE 2: anomaly, and the rest is still extracted. */
	msg_init(&h);
	msg_puts(&h, 2, "47617390010A0119");
	msg_puts(&h, 41, "TERM0001");
	n = rg_ident_extract(&d, &h.m, out, RG_IDENT_MAX, &a);
	{
		static const struct want_ident want[] = {
			{ RG_KIND_TERMINAL, 41, "TERM0001" },
		};
		check_idents("invalid PAN", out, n, want, ARRAY_SIZE(want));
	}
	CHECK_EQ(a, RG_ANOM_IDENT_INVALID, "invalid PAN: ident_invalid");

	/* Short PAN (11 digits) and blank merchant: both invalid, first reported. */
	msg_init(&h);
	msg_puts(&h, 2, "47617390010");
	msg_puts(&h, 42, "               ");
	msg_puts(&h, 48, "AB0x3");
	n = rg_ident_extract(&d, &h.m, out, RG_IDENT_MAX, &a);
	CHECK(n == 0 && a == RG_ANOM_IDENT_INVALID, "first anomaly wins: %d", a);

	/* Everything at once, account included, then the cap. */
	msg_init(&h);
	msg_puts(&h, 2, "4761739001010119");
	msg_puts(&h, 35, "4111111111111111=2512101");
	msg_puts(&h, 45, "B5555555555554444^DOE/JOHN^2512101");
	msg_puts(&h, 32, "00123456789");
	msg_puts(&h, 41, "TERM0001");
	msg_puts(&h, 42, "MERCHANT0001   ");
	msg_puts(&h, 48, "PH012+49151234567");
	msg_put(&h, 55, emv55, sizeof(emv55));
	msg_puts(&h, 102, "de89 3704 0044 0532 0130 00");
	n = rg_ident_extract(&d, &h.m, out, RG_IDENT_MAX, &a);
	{
		static const struct want_ident want[] = {
			{ RG_KIND_PAN, 2, "4761739001010119" },
			{ RG_KIND_PAN, 35, "4111111111111111" },
			{ RG_KIND_PAN, 45, "5555555555554444" },
			{ RG_KIND_ACQUIRER, 32, "00123456789" },
			{ RG_KIND_TERMINAL, 41, "TERM0001" },
			{ RG_KIND_MERCHANT, 42, "MERCHANT0001" },
			{ RG_KIND_PHONE, 48, "49151234567" },
			{ RG_KIND_DEVICE, 55, "IFD00042" },
			{ RG_KIND_ACCOUNT, 102, "DE89370400440532013000" },
		};
		check_idents("all sources", out, n, want, ARRAY_SIZE(want));
	}
	CHECK_EQ(a, RG_ANOM_NONE, "all sources: no anomaly");

	for (unsigned max = 0; max <= 9; max++) {
		struct rg_ident capped[RG_IDENT_MAX + 1];

		memset(capped, 0xa5, sizeof(capped));
		n = rg_ident_extract(&d, &h.m, capped, max, NULL);
		CHECK_EQ(n, max, "cap %u", max);
		CHECK(capped[max].kind == 0xa5, "cap %u: nothing written past max", max);
		if (max >= 3)
			CHECK(capped[2].de == 45, "cap %u: order kept", max);
	}

	/* Absent DEs: nothing, no anomaly. */
	msg_init(&h);
	msg_puts(&h, 3, "000000");
	n = rg_ident_extract(&d, &h.m, out, RG_IDENT_MAX, &a);
	CHECK(n == 0 && a == RG_ANOM_NONE, "no identifier DEs");
}

static void test_extract_skip_and_dupes(void)
{
	struct rg_dialect d;
	struct hand_msg h;
	struct rg_ident out[RG_IDENT_MAX];
	enum rg_anomaly a;
	unsigned n;

	/* Mastercard-style DE 48: one TCC character before the subelements,
	 * 2-char tags and 2-digit lengths; two phone tags, same number. */
	ascii_specs(&d);
	add_tlv_source(&d, RG_KIND_PHONE, 48, RG_IDENT_TLV_ASCII, 1, 2, 2, "PH", 2);
	add_tlv_source(&d, RG_KIND_PHONE, 48, RG_IDENT_TLV_ASCII, 1, 2, 2, "MO", 2);
	add_tlv_source(&d, RG_KIND_PHONE, 62, RG_IDENT_TLV_ASCII, 0, 2, 3, "PH", 2);
	msg_init(&h);
	msg_puts(&h, 48, "R2204ABCDPH11+4915123456MO1300 4915123456");
	msg_puts(&h, 62, "PH0100151234567");
	n = rg_ident_extract(&d, &h.m, out, RG_IDENT_MAX, &a);
	{
		static const struct want_ident want[] = {
			{ RG_KIND_PHONE, 48, "4915123456" },
			{ RG_KIND_PHONE, 62, "0151234567" },
		};
		check_idents("skip TCC, duplicate phone", out, n, want, ARRAY_SIZE(want));
	}
	CHECK_EQ(a, RG_ANOM_NONE, "skip: no anomaly");

	/* skip longer than the field: invalid. */
	d.ident[0].skip = 200;
	n = rg_ident_extract(&d, &h.m, out, RG_IDENT_MAX, &a);
	CHECK_EQ(a, RG_ANOM_IDENT_INVALID, "skip past the end");

	/* Same value, different kinds: both kept. */
	ascii_specs(&d);
	add_source(&d, RG_KIND_TERMINAL, 41, RG_IDENT_WHOLE);
	add_source(&d, RG_KIND_DEVICE, 41, RG_IDENT_WHOLE);
	add_source(&d, RG_KIND_TERMINAL, 41, RG_IDENT_WHOLE);
	msg_init(&h);
	msg_puts(&h, 41, "T0000001");
	n = rg_ident_extract(&d, &h.m, out, RG_IDENT_MAX, &a);
	{
		static const struct want_ident want[] = {
			{ RG_KIND_TERMINAL, 41, "T0000001" },
			{ RG_KIND_DEVICE, 41, "T0000001" },
		};
		check_idents("kind is part of identity", out, n, want, ARRAY_SIZE(want));
	}

	/* Sources the dialect got wrong are ignored, not fatal. */
	ascii_specs(&d);
	add_source(&d, RG_KIND_NONE, 41, RG_IDENT_WHOLE);
	add_source(&d, 99, 41, RG_IDENT_WHOLE);
	add_source(&d, RG_KIND_TERMINAL, 41, 42);
	add_tlv_source(&d, RG_KIND_PHONE, 48, RG_IDENT_TLV_ASCII, 0, 0, 3, "PH", 2);
	add_tlv_source(&d, RG_KIND_TERMINAL, 41, RG_IDENT_WHOLE, 0, 0, 0, "", 0);
	msg_init(&h);
	msg_puts(&h, 41, "T0000001");
	msg_puts(&h, 48, "PH0101234567890");
	n = rg_ident_extract(&d, &h.m, out, RG_IDENT_MAX, &a);
	CHECK(n == 1 && out[0].kind == RG_KIND_TERMINAL, "bad sources skipped (n %u)", n);
	CHECK_EQ(a, RG_ANOM_NONE, "bad sources: no anomaly");
}

/* ---- extraction through rg_iso_decode ----------------------------------- */

/*
 * ascii87 wire form: MTI "0100", hex bitmap 6020000120C90000 (DEs 2, 3, 11,
 * 32, 35, 41, 42, 45, 48), LL/LLL prefixes as ASCII digits.
 */
static const char ascii_msg[] =
	"0100" "6020000120C90000"
	"16" "4761739001010119"                     /* 2 */
	"000000"                                    /* 3 */
	"000123"                                    /* 11 */
	"06" "123456"                               /* 32 */
	"24" "4761739001010119=2512101"             /* 35 */
	"TERM0001"                                  /* 41 */
	"MERCHANT0001   "                           /* 42 */
	"34" "B4761739001010119^DOE/JOHN^2512101"   /* 45 */
	"018" "RPH012+49151234567";                 /* 48, TCC 'R' then TLV */

/*
 * bcd87 wire form: BCD MTI, binary bitmap (DEs 2, 3, 11, 32, 35, 41, 42),
 * BCD LL prefixes counting digits, odd track 2 padded with F on the right.
 */
static const uint8_t bcd_msg[] = {
	0x01, 0x00,
	0x60, 0x20, 0x00, 0x01, 0x20, 0xc0, 0x00, 0x00,
	0x16, 0x47, 0x61, 0x73, 0x90, 0x01, 0x01, 0x01, 0x19,       /* 2 */
	0x00, 0x00, 0x00,                                           /* 3 */
	0x00, 0x01, 0x23,                                           /* 11 */
	0x06, 0x12, 0x34, 0x56,                                     /* 32 */
	0x23, 0x41, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,       /* 35: 23 nibbles */
	0xd2, 0x51, 0x21, 0x0f,
	'T', 'E', 'R', 'M', '0', '0', '0', '1',                     /* 41 */
	'M', 'E', 'R', 'C', 'H', 'A', 'N', 'T', '0', '0', '0', '1', ' ', ' ', ' ', /* 42 */
};

static void std_sources(struct rg_dialect *d)
{
	d->nb_ident = 0;
	add_source(d, RG_KIND_PAN, 2, RG_IDENT_WHOLE);
	add_source(d, RG_KIND_PAN, 35, RG_IDENT_TRACK2);
	add_source(d, RG_KIND_PAN, 45, RG_IDENT_TRACK1);
	add_source(d, RG_KIND_ACQUIRER, 32, RG_IDENT_WHOLE);
	add_source(d, RG_KIND_TERMINAL, 41, RG_IDENT_WHOLE);
	add_source(d, RG_KIND_MERCHANT, 42, RG_IDENT_WHOLE);
	add_tlv_source(d, RG_KIND_PHONE, 48, RG_IDENT_TLV_ASCII, 1, 2, 3, "PH", 2);
}

static void test_extract_decoded(void)
{
	struct rg_dialect d;
	struct rg_iso_msg m;
	struct rg_ident out[RG_IDENT_MAX];
	enum rg_anomaly a, dec;
	unsigned n;

	ascii_specs(&d);
	std_sources(&d);
	rg_dialect_prepare(&d);
	dec = rg_iso_decode(&d, (const uint8_t *)ascii_msg, (uint32_t)strlen(ascii_msg), 0, &m);
	CHECK_EQ(dec, RG_ANOM_NONE, "ascii message decodes");
	n = rg_ident_extract(&d, &m, out, RG_IDENT_MAX, &a);
	{
		static const struct want_ident want[] = {
			{ RG_KIND_PAN, 2, "4761739001010119" },
			{ RG_KIND_ACQUIRER, 32, "123456" },
			{ RG_KIND_TERMINAL, 41, "TERM0001" },
			{ RG_KIND_MERCHANT, 42, "MERCHANT0001" },
			{ RG_KIND_PHONE, 48, "49151234567" },
		};
		check_idents("decoded ascii", out, n, want, ARRAY_SIZE(want));
	}
	CHECK_EQ(a, RG_ANOM_NONE, "decoded ascii: no anomaly");

	/* bcd87 specs for the same DEs. */
	memset(&d, 0, sizeof(d));
	strcpy(d.name, "test-bcd");
	d.mti_enc = RG_ISO_E_BCD;
	d.bitmap_enc = RG_ISO_E_RAW;
	set_spec(&d, 2, RG_ISO_T_N, RG_ISO_E_BCD, 2, 19);
	set_spec(&d, 3, RG_ISO_T_N, RG_ISO_E_BCD, 0, 6);
	set_spec(&d, 11, RG_ISO_T_N, RG_ISO_E_BCD, 0, 6);
	set_spec(&d, 32, RG_ISO_T_N, RG_ISO_E_BCD, 2, 11);
	set_spec(&d, 35, RG_ISO_T_Z, RG_ISO_E_BCD, 2, 37);
	set_spec(&d, 41, RG_ISO_T_AN, RG_ISO_E_ASCII, 0, 8);
	set_spec(&d, 42, RG_ISO_T_AN, RG_ISO_E_ASCII, 0, 15);
	d.de[2].prefix_enc = d.de[32].prefix_enc = d.de[35].prefix_enc = RG_ISO_E_BCD;
	d.de[35].pad = RG_ISO_PAD_RIGHT_F;
	std_sources(&d);
	rg_dialect_prepare(&d);
	dec = rg_iso_decode(&d, bcd_msg, sizeof(bcd_msg), 0, &m);
	CHECK_EQ(dec, RG_ANOM_NONE, "bcd message decodes");
	n = rg_ident_extract(&d, &m, out, RG_IDENT_MAX, &a);
	{
		static const struct want_ident want[] = {
			{ RG_KIND_PAN, 2, "4761739001010119" },
			{ RG_KIND_PAN, 35, "4111111111111111" },
			{ RG_KIND_ACQUIRER, 32, "123456" },
			{ RG_KIND_TERMINAL, 41, "TERM0001" },
			{ RG_KIND_MERCHANT, 42, "MERCHANT0001" },
		};
		check_idents("decoded bcd", out, n, want, ARRAY_SIZE(want));
	}
	CHECK_EQ(a, RG_ANOM_NONE, "decoded bcd: no anomaly");
}

/* DE 48 without a TCC, as the built-in dialects read it. */
static const char ascii87_msg[] =
	"0100" "6020000120C90000"
	"16" "4761739001010119"                     /* 2 */
	"000000"                                    /* 3 */
	"000123"                                    /* 11 */
	"06" "123456"                               /* 32 */
	"24" "5555555555554444=2512101"             /* 35 */
	"TERM0001"                                  /* 41 */
	"MERCHANT0001   "                           /* 42 */
	"34" "B4761739001010119^DOE/JOHN^2512101"   /* 45 */
	"030" "PH012+49151234567DV008IMEI0001";     /* 48 */

/* Code page 037 for the characters used below. */
static uint8_t ebcdic(char c)
{
	if (c >= '0' && c <= '9')
		return (uint8_t)(0xf0 + (c - '0'));
	if (c >= 'A' && c <= 'I')
		return (uint8_t)(0xc1 + (c - 'A'));
	if (c >= 'J' && c <= 'R')
		return (uint8_t)(0xd1 + (c - 'J'));
	if (c >= 'S' && c <= 'Z')
		return (uint8_t)(0xe2 + (c - 'S'));
	switch (c) {
	case ' ': return 0x40;
	case '=': return 0x7e;
	case '^': return 0xb0;
	case '/': return 0x61;
	case '+': return 0x4e;
	default: return 0x6f; /* '?' */
	}
}

static void test_extract_builtin(void)
{
	static const struct want_ident want_ascii[] = {
		{ RG_KIND_PAN, 2, "4761739001010119" },
		{ RG_KIND_PAN, 35, "5555555555554444" },
		{ RG_KIND_MERCHANT, 42, "MERCHANT0001" },
		{ RG_KIND_TERMINAL, 41, "TERM0001" },
		{ RG_KIND_ACQUIRER, 32, "123456" },
		{ RG_KIND_PHONE, 48, "49151234567" },
		{ RG_KIND_DEVICE, 48, "IMEI0001" },
	};
	static const struct want_ident want_bcd[] = {
		{ RG_KIND_PAN, 2, "4761739001010119" },
		{ RG_KIND_PAN, 35, "4111111111111111" },
		{ RG_KIND_MERCHANT, 42, "MERCHANT0001" },
		{ RG_KIND_TERMINAL, 41, "TERM0001" },
		{ RG_KIND_ACQUIRER, 32, "123456" },
	};
	struct rg_ident out[RG_IDENT_MAX];
	struct rg_iso_msg m;
	struct rg_dialect *d;
	enum rg_anomaly a;
	char err[256];
	unsigned n;

	d = rg_dialect_load("ascii87", err, sizeof(err));
	CHECK(d != NULL, "load ascii87: %s", err);
	if (d != NULL) {
		CHECK_EQ(rg_iso_decode(d, (const uint8_t *)ascii87_msg,
				       (uint32_t)strlen(ascii87_msg), 0, &m),
			 RG_ANOM_NONE, "ascii87 message decodes");
		n = rg_ident_extract(d, &m, out, RG_IDENT_MAX, &a);
		check_idents("ascii87", out, n, want_ascii, ARRAY_SIZE(want_ascii));
		CHECK_EQ(a, RG_ANOM_NONE, "ascii87: no anomaly");
		free(d);
	}

	d = rg_dialect_load("bcd87", err, sizeof(err));
	CHECK(d != NULL, "load bcd87: %s", err);
	if (d != NULL) {
		CHECK_EQ(rg_iso_decode(d, bcd_msg, sizeof(bcd_msg), 0, &m), RG_ANOM_NONE,
			 "bcd87 message decodes");
		n = rg_ident_extract(d, &m, out, RG_IDENT_MAX, &a);
		check_idents("bcd87", out, n, want_bcd, ARRAY_SIZE(want_bcd));
		CHECK_EQ(a, RG_ANOM_NONE, "bcd87: no anomaly");
		free(d);
	}

	/* ebcdic87: the ascii87 message with an 8-byte bitmap, in code page 037
	 * (DEs 2, 3, 11, 32, 35, 41, 42, 45). */
	d = rg_dialect_load("ebcdic87", err, sizeof(err));
	CHECK(d != NULL, "load ebcdic87: %s", err);
	if (d != NULL) {
		static const char fields[] =
			"16" "4761739001010119" "000000" "000123" "06" "123456"
			"24" "5555555555554444=2512101" "TERM0001" "MERCHANT0001   "
			"34" "B4761739001010119^DOE/JOHN^2512101";
		static const uint8_t bitmap[8] = { 0x60, 0x20, 0x00, 0x01, 0x20, 0xc8, 0x00, 0x00 };
		uint8_t wire[256];
		size_t i, len = 0;

		for (i = 0; i < 4; i++)
			wire[len++] = ebcdic("0100"[i]);
		memcpy(wire + len, bitmap, sizeof(bitmap));
		len += sizeof(bitmap);
		for (i = 0; fields[i] != '\0'; i++)
			wire[len++] = ebcdic(fields[i]);
		CHECK_EQ(rg_iso_decode(d, wire, (uint32_t)len, 0, &m), RG_ANOM_NONE,
			 "ebcdic87 message decodes");
		n = rg_ident_extract(d, &m, out, RG_IDENT_MAX, &a);
		check_idents("ebcdic87", out, n, want_ascii, 5);
		CHECK_EQ(a, RG_ANOM_NONE, "ebcdic87: no anomaly");
		free(d);
	}
}

static bool same_idents(const struct rg_ident *a, const struct rg_ident *b, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (a[i].kind != b[i].kind || a[i].de != b[i].de || a[i].len != b[i].len ||
		    memcmp(a[i].value, b[i].value, a[i].len) != 0)
			return false;
	return true;
}

/* rg_ident_extract_mask is rg_ident_extract with the unmasked kinds left
 * out, anomalies included; decoding only up to the dialect's last
 * identifier DE changes nothing. */
static void test_extract_mask(void)
{
	struct rg_dialect d;
	struct rg_iso_msg m, mu;
	struct rg_ident all[RG_IDENT_MAX], got[RG_IDENT_MAX];
	enum rg_anomaly a_all, a;
	unsigned n_all, n;

	ascii_specs(&d);
	std_sources(&d);
	add_source(&d, RG_KIND_PAN, 11, RG_IDENT_WHOLE);  /* too short: invalid */
	add_source(&d, RG_KIND_DEVICE, 41, RG_IDENT_WHOLE);
	rg_dialect_prepare(&d);
	CHECK_EQ(d.ident_last_de, 48, "last identifier DE");
	CHECK_EQ(rg_iso_decode(&d, (const uint8_t *)ascii_msg, (uint32_t)strlen(ascii_msg), 0, &m),
		 RG_ANOM_NONE, "decodes");
	n_all = rg_ident_extract(&d, &m, all, RG_IDENT_MAX, &a_all);
	CHECK_EQ(a_all, RG_ANOM_IDENT_INVALID, "PAN from DE 11");
	CHECK_EQ(n_all, 6, "identifiers");
	for (uint32_t mask = 0; mask < 1u << RG_KIND_MAX; mask++) {
		unsigned k = 0;

		n = rg_ident_extract_mask(&d, &m, mask, got, RG_IDENT_MAX, &a);
		for (unsigned i = 0; i < n_all; i++) {
			if (!(mask >> all[i].kind & 1))
				continue;
			CHECK(k < n && got[k].kind == all[i].kind && got[k].de == all[i].de &&
			      got[k].len == all[i].len &&
			      memcmp(got[k].value, all[i].value, all[i].len) == 0,
			      "mask %#x: entry %u", mask, k);
			k++;
		}
		CHECK_EQ(n, k, "mask %#x: count", mask);
		CHECK_EQ(a, mask >> RG_KIND_PAN & 1 ? RG_ANOM_IDENT_INVALID : RG_ANOM_NONE,
			 "mask %#x: anomaly", mask);
		/* the same with a NULL anomaly pointer and kinds above RG_KIND_MAX set */
		CHECK_EQ(rg_ident_extract_mask(&d, &m, mask | ~((1u << RG_KIND_MAX) - 1), got,
					       RG_IDENT_MAX, NULL), n, "mask %#x: high bits", mask);
	}
	/* all kinds = rg_ident_extract */
	n = rg_ident_extract_mask(&d, &m, UINT32_MAX, got, RG_IDENT_MAX, &a);
	CHECK(n == n_all && a == a_all && same_idents(got, all, n), "all kinds");

	/* decoding up to the last identifier DE yields the same identifiers */
	rg_iso_decode_until(&d, (const uint8_t *)ascii_msg, (uint32_t)strlen(ascii_msg), 0,
			    d.ident_last_de, &mu);
	n = rg_ident_extract(&d, &mu, got, RG_IDENT_MAX, &a);
	CHECK(n == n_all && a == a_all && same_idents(got, all, n), "decode_until(%u)",
	      d.ident_last_de);
	/* built-ins: last identifier DE */
	for (const char *const *nm = rg_dialect_builtin_names(); *nm; nm++) {
		char err[256];
		struct rg_dialect *b = rg_dialect_load(*nm, err, sizeof(err));

		CHECK(b != NULL, "%s: %s", *nm, err);
		if (b == NULL)
			continue;
		unsigned want = 0;
		for (unsigned i = 0; i < b->nb_ident; i++)
			if (b->ident[i].de > want)
				want = b->ident[i].de;
		CHECK_EQ(b->ident_last_de, want, "%s: last identifier DE", *nm);
		free(b);
	}
}

int main(void)
{
	test_kinds();
	test_luhn();
	test_normalise();
	test_mask();
	test_mask_text();
	test_extract_hand();
	test_extract_skip_and_dupes();
	test_extract_decoded();
	test_extract_builtin();
	test_extract_mask();
	return CHECK_DONE();
}
