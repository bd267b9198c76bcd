/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the ISO 8583 codec (common/iso8583.c) over every built-in
 * dialect: known-answer decodes of hand-written wire bytes, encode/decode
 * round trips, LLVAR/LLLVAR boundaries (0, max, max + 1), bitmap bits 1 and
 * 65, truncation at every offset, and each decoder anomaly.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/anomaly.h"
#include "common/iso8583.h"

#define NB_DIALECTS 4
static const char *const dialect_names[NB_DIALECTS] = { "ascii87", "ascii87-bin", "bcd87", "ebcdic87" };
static struct rg_dialect *dialects[NB_DIALECTS];

static struct rg_dialect *load(const char *name)
{
	char err[256];
	struct rg_dialect *d = rg_dialect_load(name, err, sizeof(err));

	CHECK(d != NULL, "load %s: %s", name, err);
	return d;
}

static struct rg_dialect *parse(const char *text)
{
	char err[256];
	struct rg_dialect *d = rg_dialect_parse(text, "test", err, sizeof(err));

	CHECK(d != NULL, "parse: %s", err);
	return d;
}

/* Bytes of a hex string (spaces ignored); returns the length. */
static size_t unhex(const char *s, uint8_t *out)
{
	size_t n = 0;
	int hi = -1;

	for (; *s; s++) {
		int v;
		if (*s == ' ')
			continue;
		if (*s >= '0' && *s <= '9')
			v = *s - '0';
		else if (*s >= 'A' && *s <= 'F')
			v = *s - 'A' + 10;
		else if (*s >= 'a' && *s <= 'f')
			v = *s - 'a' + 10;
		else
			abort();
		if (hi < 0) {
			hi = v;
		} else {
			out[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	return n;
}

struct fexp {
	unsigned de;
	const char *text;
};

/* Known answers: wire bytes written out by hand, expected decode. */
struct kat {
	const char *name;
	const char *dialect;
	const char *ascii; /* wire as characters, or */
	const char *hex;   /* wire as hex bytes */
	unsigned flags;
	enum rg_anomaly want;
	unsigned want_de;
	uint16_t mti;
	struct fexp f[16]; /* fields that must decode to these texts */
	unsigned absent[4]; /* DEs that must not be present */
};

static const struct kat kats[] = {
	{ "ascii 0100", "ascii87",
	  "0100" "7020000020801000" "164761739001010119" "000000" "000000001000" "000123"
	  "314761739001010119=22122011758928" "TERM0001" "0123456789abcdef",
	  NULL, RG_ISO_VALIDATE, RG_ANOM_NONE, 0, 100,
	  { { 2, "4761739001010119" }, { 3, "000000" }, { 4, "000000001000" }, { 11, "000123" },
	    { 35, "4761739001010119=22122011758928" }, { 41, "TERM0001" },
	    { 52, "0123456789ABCDEF" } },
	  { 1, 5, 65 } },
	{ "ascii lower-case hex bitmap", "ascii87",
	  "0800" "8a20000000000000" "0400000000000000" "000000000100" "0000000000" "000000" "301",
	  NULL, RG_ISO_VALIDATE, RG_ANOM_NONE, 0, 800,
	  { { 1, "0400000000000000" }, { 5, "000000000100" }, { 7, "0000000000" }, { 11, "000000" },
	    { 70, "301" } },
	  { 2 } },
	{ "ascii secondary bitmap, DE 102 and 128", "ascii87",
	  "0200" "A000000000000000" "0000000004000001" "000000" "08" "12345678" "0011223344556677",
	  NULL, RG_ISO_VALIDATE, RG_ANOM_NONE, 0, 200,
	  { { 1, "0000000004000001" }, { 3, "000000" }, { 102, "12345678" }, { 128, "0011223344556677" } },
	  { 2, 65 } },
	{ "ascii bit 65 is a data field", "ascii87",
	  "0100" "8000000000000000" "8000000000000000" "A1B2C3D4E5F60718",
	  NULL, RG_ISO_VALIDATE, RG_ANOM_NONE, 0, 100,
	  { { 65, "A1B2C3D4E5F60718" } }, { 2 } },
	{ "ascii x+n and LLVAR 0", "ascii87",
	  "0100" "0000001180000000" "C00000150" "00" "0512345",
	  NULL, RG_ISO_VALIDATE, RG_ANOM_NONE, 0, 100,
	  { { 28, "C00000150" }, { 32, "" }, { 33, "12345" } }, { 0 } },
	{ "ascii-bin 0100 with raw bitmap and PIN block", "ascii87-bin", NULL,
	  "30313030 7000000000001000 3136 34373631373339303031303130313139 303030303030"
	  "303030303030303031303030 0123456789ABCDEF",
	  RG_ISO_VALIDATE, RG_ANOM_NONE, 0, 100,
	  { { 2, "4761739001010119" }, { 3, "000000" }, { 4, "000000001000" },
	    { 52, "0123456789ABCDEF" } }, { 0 } },
	{ "bcd 0100 byte by byte", "bcd87", NULL,
	  "0100 7020040020801000"
	  "16 4761739001010119"                   /* DE 2, LL counts digits */
	  "000000 000000001000 000123"            /* DE 3, 4, 11 */
	  "0051"                                  /* DE 22 n3, left pad */
	  "31 4761739001010119D22122011758928F"   /* DE 35, D separator, F pad */
	  "5445524D30303031"                      /* DE 41 in ASCII */
	  "0123456789ABCDEF",                     /* DE 52 raw */
	  RG_ISO_VALIDATE, RG_ANOM_NONE, 0, 100,
	  { { 2, "4761739001010119" }, { 3, "000000" }, { 4, "000000001000" }, { 11, "000123" },
	    { 22, "051" }, { 35, "4761739001010119D22122011758928" }, { 41, "TERM0001" },
	    { 52, "0123456789ABCDEF" } }, { 0 } },
	{ "bcd odd PAN, LLL text, secondary", "bcd87", NULL,
	  "0200 C000000000010000 0000000004000000"
	  "19 0476173900101011 9123"              /* DE 2: 19 digits, 0 nibble first */
	  "0005 4142434445"                       /* DE 48 LLL = 2 BCD bytes, ASCII text */
	  "10 31323334353637383930",              /* DE 102 */
	  RG_ISO_VALIDATE, RG_ANOM_NONE, 0, 200,
	  { { 2, "4761739001010119123" }, { 48, "ABCDE" }, { 102, "1234567890" } }, { 3 } },
	{ "bcd x+n sign nibble", "bcd87", NULL,
	  "0100 0000001000000000 0D00000150",
	  RG_ISO_VALIDATE, RG_ANOM_NONE, 0, 100, { { 28, "D00000150" } }, { 0 } },
	{ "ebcdic 0100", "ebcdic87", NULL,
	  "F0F1F0F0 6000000020800000"
	  "F1F6 F4F7F6F1F7F3F9F0F0F1F0F1F0F1F1F9" /* DE 2 */
	  "F0F0F0F0F0F0"                          /* DE 3 */
	  "F3F1 F4F7F6F1F7F3F9F0F0F1F0F1F0F1F1F9 7E F2F2F1F2F2F0F1F1F7F5F8F9F2F8" /* DE 35 */
	  "E3C5D9D4F0F0F0F1",                     /* DE 41 */
	  RG_ISO_VALIDATE, RG_ANOM_NONE, 0, 100,
	  { { 2, "4761739001010119" }, { 3, "000000" }, { 35, "4761739001010119=22122011758928" },
	    { 41, "TERM0001" } }, { 0 } },

	/* length prefixes above the maximum (max + 1 built by hand) */
	{ "ascii LL 20 > 19", "ascii87", "0100" "4000000000000000" "20" "47617390010101191234",
	  NULL, 0, RG_ANOM_LENGTH_OVER_MAX, 2, 100, { { 0, NULL } }, { 2 } },
	{ "ascii LLL 1000 impossible, 256 > 255 bytes", "ascii87",
	  "0100" "0000000000000200" "256", NULL, 0, RG_ANOM_LENGTH_OVER_MAX, 55, 100, { { 0, NULL } }, { 55 } },
	{ "bcd LL 20 > 19", "bcd87", NULL, "0100 4000000000000000 20 47617390010101191234",
	  0, RG_ANOM_LENGTH_OVER_MAX, 2, 100, { { 0, NULL } }, { 2 } },
	{ "ebcdic LL 20 > 19", "ebcdic87", NULL, "F0F1F0F0 4000000000000000 F2F0",
	  0, RG_ANOM_LENGTH_OVER_MAX, 2, 100, { { 0, NULL } }, { 2 } },
	{ "ascii-bin LL 12 > 11", "ascii87-bin", NULL, "30313030 0000000080000000 3132",
	  0, RG_ANOM_LENGTH_OVER_MAX, 33, 100, { { 0, NULL } }, { 33 } },

	/* malformed starts */
	{ "ascii bad MTI", "ascii87", "01A0" "0000000000000000", NULL, 0, RG_ANOM_BAD_MTI, 0, 0, { { 0, NULL } }, { 0 } },
	{ "bcd bad MTI", "bcd87", NULL, "0A00 0000000000000000", 0, RG_ANOM_BAD_MTI, 0, 0, { { 0, NULL } }, { 0 } },
	{ "ebcdic bad MTI", "ebcdic87", NULL, "F0F1F0C1 0000000000000000", 0, RG_ANOM_BAD_MTI, 0, 0, { { 0, NULL } }, { 0 } },
	{ "ascii non-hex primary bitmap", "ascii87", "0100" "70G0000000000000", NULL, 0,
	  RG_ANOM_BAD_BITMAP, 0, 100, { { 0, NULL } }, { 2 } },
	{ "ascii non-hex secondary bitmap", "ascii87", "0100" "C000000000000000" "000000000000000Z", NULL, 0,
	  RG_ANOM_BAD_BITMAP, 1, 100, { { 0, NULL } }, { 1, 2 } },
	{ "ascii empty", "ascii87", "", NULL, 0, RG_ANOM_TRUNCATED, 0, 0, { { 0, NULL } }, { 0 } },

	/* length prefixes that are not numbers */
	{ "ascii non-digit LL", "ascii87", "0100" "4000000000000000" "1A4761739001", NULL, 0,
	  RG_ANOM_BAD_LENGTH_PREFIX, 2, 100, { { 0, NULL } }, { 2 } },
	{ "bcd non-BCD LL", "bcd87", NULL, "0100 4000000000000000 1A 47617390", 0,
	  RG_ANOM_BAD_LENGTH_PREFIX, 2, 100, { { 0, NULL } }, { 2 } },
	{ "ebcdic non-digit LL", "ebcdic87", NULL, "F0F1F0F0 4000000000000000 F1C1", 0,
	  RG_ANOM_BAD_LENGTH_PREFIX, 2, 100, { { 0, NULL } }, { 2 } },

	/* non-numeric data: reported only when validating, decoding goes on */
	{ "ascii n with letter, not validating", "ascii87", "0100" "2020000000000000" "00A000" "000123",
	  NULL, 0, RG_ANOM_NONE, 0, 100, { { 3, "00A000" }, { 11, "000123" } }, { 0 } },
	{ "ascii n with letter, validating", "ascii87", "0100" "2020000000000000" "00A000" "000123",
	  NULL, RG_ISO_VALIDATE, RG_ANOM_NON_NUMERIC, 3, 100, { { 3, "00A000" }, { 11, "000123" } }, { 0 } },
	{ "ascii z with bad separator", "ascii87", "0100" "0000000020000000" "05" "12X34",
	  NULL, RG_ISO_VALIDATE, RG_ANOM_NON_NUMERIC, 35, 100, { { 35, "12X34" } }, { 0 } },
	{ "ascii x+n without sign", "ascii87", "0100" "0000001000000000" "100000150",
	  NULL, RG_ISO_VALIDATE, RG_ANOM_NON_NUMERIC, 28, 100, { { 28, "100000150" } }, { 0 } },
	{ "bcd nibble A, validating", "bcd87", NULL, "0100 2020000000000000 000A00 000123",
	  RG_ISO_VALIDATE, RG_ANOM_BAD_BCD, 3, 100, { { 3, "000A00" }, { 11, "000123" } }, { 0 } },
	{ "bcd nibble A, not validating", "bcd87", NULL, "0100 2020000000000000 000A00 000123",
	  0, RG_ANOM_NONE, 0, 100, { { 3, "000A00" }, { 11, "000123" } }, { 0 } },
	{ "bcd left pad nibble not 0", "bcd87", NULL, "0100 0000040000000000 1051",
	  RG_ISO_VALIDATE, RG_ANOM_BAD_BCD, 22, 100, { { 22, "051" } }, { 0 } },
	{ "bcd track 2 pad not F", "bcd87", NULL, "0100 0000000020000000 03 1D20",
	  RG_ISO_VALIDATE, RG_ANOM_BAD_BCD, 35, 100, { { 35, "1D2" } }, { 0 } },
	{ "ebcdic n with letter", "ebcdic87", NULL, "F0F1F0F0 2000000000000000 F0F0C1F0F0F0",
	  RG_ISO_VALIDATE, RG_ANOM_NON_NUMERIC, 3, 100, { { 3, "00A000" } }, { 0 } },
	{ "ascii hex field with non-hex", "ascii87", "0100" "0000000000001000" "0123456789ABCDEG",
	  NULL, RG_ISO_VALIDATE, RG_ANOM_NON_NUMERIC, 52, 100, { { 52, "0123456789ABCDEG" } }, { 0 } },

	/* trailing bytes: decoded fields stay, anomaly reported */
	{ "ascii trailing", "ascii87", "0100" "2000000000000000" "000000" "XY", NULL, 0,
	  RG_ANOM_TRAILING_BYTES, 0, 100, { { 3, "000000" } }, { 0 } },
	{ "bcd trailing", "bcd87", NULL, "0100 2000000000000000 000000 00", 0,
	  RG_ANOM_TRAILING_BYTES, 0, 100, { { 3, "000000" } }, { 0 } },
	{ "non-numeric wins over trailing", "ascii87", "0100" "2000000000000000" "0000X0" "XY", NULL,
	  RG_ISO_VALIDATE, RG_ANOM_NON_NUMERIC, 3, 100, { { 3, "0000X0" } }, { 0 } },
	{ "truncation wins over non-numeric", "ascii87", "0100" "2020000000000000" "0000X0" "0001",
	  NULL, RG_ISO_VALIDATE, RG_ANOM_TRUNCATED, 11, 100, { { 3, "0000X0" } }, { 11 } },
};

static void test_kats(void)
{
	for (size_t i = 0; i < sizeof(kats) / sizeof(kats[0]); i++) {
		const struct kat *k = &kats[i];
		struct rg_dialect *d = NULL;
		uint8_t wire[1024];
		size_t len;
		struct rg_iso_msg m;
		char text[2048];

		for (unsigned j = 0; j < NB_DIALECTS; j++)
			if (strcmp(dialect_names[j], k->dialect) == 0)
				d = dialects[j];
		if (d == NULL)
			continue;
		if (k->ascii) {
			len = strlen(k->ascii);
			memcpy(wire, k->ascii, len);
		} else {
			len = unhex(k->hex, wire);
		}
		enum rg_anomaly a = rg_iso_decode(d, wire, (uint32_t)len, k->flags, &m);
		CHECK_EQ(a, k->want, "%s: got %s", k->name, rg_anomaly_name(a));
		CHECK_EQ(m.anomaly, k->want, "%s", k->name);
		if (k->want != RG_ANOM_NONE)
			CHECK_EQ(m.anomaly_de, k->want_de, "%s", k->name);
		if (k->want != RG_ANOM_BAD_MTI && !(k->want == RG_ANOM_TRUNCATED && k->want_de == 0))
			CHECK_EQ(m.mti, k->mti, "%s", k->name);
		if (k->want == RG_ANOM_NONE)
			CHECK_EQ(m.end, len, "%s: end", k->name);
		for (unsigned j = 0; j < 16 && k->f[j].de; j++) {
			int n = rg_iso_field_text(d, &m, k->f[j].de, text, sizeof(text));
			CHECK(n >= 0 && strcmp(text, k->f[j].text) == 0, "%s: DE %u: got \"%s\" (%d), want \"%s\"",
			      k->name, k->f[j].de, n >= 0 ? text : "", n, k->f[j].text);
			CHECK_EQ(n, strlen(k->f[j].text), "%s: DE %u length", k->name, k->f[j].de);
		}
		for (unsigned j = 0; j < 4 && k->absent[j]; j++) {
			CHECK(!rg_iso_has(&m, k->absent[j]), "%s: DE %u should be absent", k->name, k->absent[j]);
			CHECK_EQ(rg_iso_field_text(d, &m, k->absent[j], text, sizeof(text)), -1,
				 "%s: DE %u", k->name, k->absent[j]);
		}
	}
}

/* Messages for round trips; every dialect must reproduce every text. */
static char s_lll999[1000], s_b255[511], s_b256[513], s_lll1000[1001];

struct rt_msg {
	const char *name;
	uint16_t mti;
	struct fexp f[24];
};

static const struct rt_msg rt_msgs[] = {
	{ "typical 0100", 100, {
	  { 2, "4761739001010119" }, { 3, "003000" }, { 4, "000000012345" }, { 7, "0521143015" },
	  { 11, "000123" }, { 12, "143015" }, { 13, "0521" }, { 14, "2212" }, { 18, "5999" },
	  { 22, "051" }, { 25, "00" }, { 32, "12345" }, { 35, "4761739001010119D22122011758928" },
	  { 37, "123456789012" }, { 41, "TERM0001" }, { 42, "MERCHANT0000001" },
	  { 43, "ACME STORE             SPRINGFIELD  USUS" }, { 48, "PH01512345678901234DV004ABCD" },
	  { 49, "840" }, { 52, "0123456789ABCDEF" }, { 55, "9F2608A1B2C3D4E5F607188202" } } },
	{ "secondary: 102, 103, 128", 200, {
	  { 3, "000000" }, { 4, "000000000100" }, { 11, "999999" }, { 28, "D00000150" },
	  { 90, "010000012305211430150000001234500000000000" }, { 97, "C0000000000001234" },
	  { 102, "ACCT-0001 2345" }, { 103, "9876543210987654321098765432" },
	  { 128, "FEDCBA9876543210" } } },
	{ "bit 65 and LLVAR at 0", 800, {
	  { 7, "0101000000" }, { 11, "000001" }, { 32, "" }, { 33, "1" }, { 65, "0000000000000000" },
	  { 70, "301" } } },
	{ "LLVAR and LLLVAR at max", 100, {
	  { 2, "1234567890123456789" }, { 32, "12345678901" }, { 45, "B4761739001010119^DOE/JOHN^2212" },
	  { 48, s_lll999 }, { 55, s_b255 }, { 102, "1234567890123456789012345678" } } },
	{ "odd digits everywhere", 210, {
	  { 2, "476173900101011" }, { 22, "901" }, { 23, "001" }, { 27, "5" }, { 33, "123" },
	  { 35, "476173900101011D2212201" }, { 66, "1" }, { 99, "12345678901" } } },
};

static void fill(char *s, size_t n, const char *alphabet)
{
	size_t k = strlen(alphabet);

	for (size_t i = 0; i < n; i++)
		s[i] = alphabet[i % k];
	s[n] = '\0';
}

static int encode_msg(const struct rg_dialect *d, const struct rt_msg *r, uint8_t *out, size_t cap,
		      unsigned *bad_de)
{
	struct rg_iso_builder b;

	rg_iso_builder_init(&b, r->mti);
	for (unsigned j = 0; j < 24 && r->f[j].text; j++)
		rg_iso_builder_set(&b, r->f[j].de, r->f[j].text);
	return rg_iso_encode(d, &b, out, cap, bad_de);
}

static void test_round_trip(void)
{
	static uint8_t wire[8192];
	char text[2048];

	for (unsigned i = 0; i < NB_DIALECTS; i++) {
		const struct rg_dialect *d = dialects[i];
		if (d == NULL)
			continue;
		for (size_t r = 0; r < sizeof(rt_msgs) / sizeof(rt_msgs[0]); r++) {
			const struct rt_msg *msg = &rt_msgs[r];
			struct rg_iso_msg m;
			unsigned bad = 0;
			bool secondary = false;
			int len = encode_msg(d, msg, wire, sizeof(wire), &bad);

			CHECK(len > 0, "%s/%s: encode %d at DE %u", d->name, msg->name, len, bad);
			if (len <= 0)
				continue;
			enum rg_anomaly a = rg_iso_decode(d, wire, (uint32_t)len, RG_ISO_VALIDATE, &m);
			CHECK_EQ(a, RG_ANOM_NONE, "%s/%s: %s at DE %u", d->name, msg->name,
				 rg_anomaly_name(a), m.anomaly_de);
			CHECK_EQ(m.mti, msg->mti, "%s/%s", d->name, msg->name);
			CHECK_EQ(m.end, len, "%s/%s", d->name, msg->name);
			for (unsigned j = 0; j < 24 && msg->f[j].text; j++) {
				unsigned de = msg->f[j].de;
				int n = rg_iso_field_text(d, &m, de, text, sizeof(text));
				CHECK(n >= 0 && strcmp(text, msg->f[j].text) == 0,
				      "%s/%s: DE %u: got \"%.60s\", want \"%.60s\"", d->name, msg->name,
				      de, n >= 0 ? text : "(absent)", msg->f[j].text);
				if (de > 64)
					secondary = true;
			}
			CHECK_EQ(rg_iso_has(&m, 1), secondary, "%s/%s: bit 1", d->name, msg->name);
			/* count of present DEs equals count given */
			unsigned nb = 0, want = 0;
			for (unsigned de = 2; de <= RG_ISO_MAX_DE; de++)
				nb += rg_iso_has(&m, de);
			for (unsigned j = 0; j < 24 && msg->f[j].text; j++)
				want++;
			CHECK_EQ(nb, want, "%s/%s: present DEs", d->name, msg->name);

			/* re-encoding the rendered texts gives the same bytes */
			struct rg_iso_builder b;
			static char texts[RG_ISO_MAX_DE + 1][2048];
			static uint8_t again[8192];
			rg_iso_builder_init(&b, m.mti);
			for (unsigned de = 2; de <= RG_ISO_MAX_DE; de++) {
				if (!rg_iso_has(&m, de))
					continue;
				rg_iso_field_text(d, &m, de, texts[de], sizeof(texts[de]));
				rg_iso_builder_set(&b, de, texts[de]);
			}
			int len2 = rg_iso_encode(d, &b, again, sizeof(again), NULL);
			CHECK(len2 == len && memcmp(again, wire, (size_t)len) == 0,
			      "%s/%s: re-encode differs", d->name, msg->name);

			/* every strict prefix is truncated, never accepted */
			for (int cut = 0; cut < len; cut++) {
				uint8_t *copy = malloc((size_t)cut + 1);
				memcpy(copy, wire, (size_t)cut);
				a = rg_iso_decode(d, copy, (uint32_t)cut, RG_ISO_VALIDATE, &m);
				CHECK_EQ(a, RG_ANOM_TRUNCATED, "%s/%s cut at %d: %s", d->name, msg->name,
					 cut, rg_anomaly_name(a));
				CHECK(m.end <= cut, "%s/%s cut at %d: end %u", d->name, msg->name, cut, m.end);
				for (unsigned de = 1; de <= RG_ISO_MAX_DE; de++)
					if (rg_iso_has(&m, de))
						CHECK(m.v[de].off + m.v[de].len <= cut, "%s cut %d DE %u",
						      d->name, cut, de);
				free(copy);
			}
		}
	}
}

/* Exact wire bytes of a few encodings (pad modes, prefixes, bitmaps). */
struct wire_case {
	const char *name;
	const char *dialect_text; /* parsed with rg_dialect_parse */
	uint16_t mti;
	struct fexp f[4];
	const char *hex;          /* expected wire, or NULL when -EINVAL expected */
	unsigned bad_de;
	const char *render[4];    /* what field text gives back, per f[] (NULL: same) */
};

static const struct wire_case wire_cases[] = {
	{ "bcd left pad", "base = \"bcd87\";", 100, { { 2, "123" } },
	  "0100 4000000000000000 03 0123", 0, { NULL } },
	{ "bcd right pad", "base = \"bcd87\"; bcd_pad = \"right\";", 100, { { 2, "123" } },
	  "0100 4000000000000000 03 1230", 0, { NULL } },
	{ "bcd right-f pad", "base = \"bcd87\"; bcd_pad = \"right-f\";", 100, { { 22, "051" } },
	  "0100 0000040000000000 051F", 0, { NULL } },
	{ "bcd track 2 '=' becomes D", "base = \"bcd87\";", 100,
	  { { 35, "4761=2212" } }, "0100 0000000020000000 09 4761D2212F", 0, { "4761D2212" } },
	{ "bcd prefix counts bytes", "base = \"bcd87\"; prefix_counts = \"bytes\"; bcd_pad = \"right-f\";",
	  100, { { 2, "12345" } }, "0100 4000000000000000 03 12345F", 0, { NULL } },
	{ "bcd binary prefix", "base = \"bcd87\"; fields = { de55 = { format = \"b...255\"; prefix = \"binary\"; }; };",
	  100, { { 55, "9F2701" } }, "0100 0000000000000200 0003 9F2701", 0, { NULL } },
	{ "bcd LLL BCD prefix", "base = \"bcd87\";", 100, { { 48, "ABC" } },
	  "0100 0000000000010000 0003 414243", 0, { NULL } },
	{ "ascii hex b lower-case in, upper out", "base = \"ascii87\";", 100, { { 52, "0123456789abcdef" } },
	  "30313030 30303030303030303030303031303030 30313233343536373839414243444546", 0,
	  { "0123456789ABCDEF" } },
	{ "ascii DE 65 sets bit 1", "base = \"ascii87\";", 100, { { 65, "0102030405060708" } },
	  "30313030 38303030303030303030303030303030 38303030303030303030303030303030"
	  "30313032303330343035303630373038", 0, { NULL } },
	{ "ebcdic text", "base = \"ebcdic87\";", 100, { { 41, "ab 1=" } , { 0, NULL } }, NULL, 41, { NULL } },
	{ "ebcdic text 8", "base = \"ebcdic87\";", 100, { { 41, "ab 1=xyz" } },
	  "F0F1F0F0 0000000000800000 8182 40 F1 7E A7A8A9", 0, { NULL } },
	/* encoder rejections */
	{ "LLVAR max + 1", "base = \"ascii87\";", 100, { { 2, "12345678901234567890" } }, NULL, 2, { NULL } },
	{ "fixed too short", "base = \"bcd87\";", 100, { { 3, "00000" } }, NULL, 3, { NULL } },
	{ "fixed too long", "base = \"ascii87\";", 100, { { 3, "0000000" } }, NULL, 3, { NULL } },
	{ "non-digit in n", "base = \"ascii87\";", 100, { { 4, "00000000000A" } }, NULL, 4, { NULL } },
	{ "bad hex in b", "base = \"ascii87-bin\";", 100, { { 52, "0123456789ABCDEG" } }, NULL, 52, { NULL } },
	{ "odd hex in b", "base = \"bcd87\";", 100, { { 55, "012" } }, NULL, 55, { NULL } },
	{ "x+n without sign", "base = \"ascii87\";", 100, { { 28, "000000150" } }, NULL, 28, { NULL } },
	{ "z with letter", "base = \"bcd87\";", 100, { { 35, "4761X2212" } }, NULL, 35, { NULL } },
	{ "undefined DE", "base = \"ascii87\"; fields = { de60 = \"none\"; };", 100,
	  { { 3, "000000" }, { 60, "X" } }, NULL, 60, { NULL } },
};

static void test_wire(void)
{
	for (size_t i = 0; i < sizeof(wire_cases) / sizeof(wire_cases[0]); i++) {
		const struct wire_case *w = &wire_cases[i];
		struct rg_dialect *d = parse(w->dialect_text);
		struct rg_iso_builder b;
		uint8_t out[512], want[512];
		unsigned bad = 999;
		struct rg_iso_msg m;
		char text[256];
		int len;

		if (d == NULL)
			continue;
		rg_iso_builder_init(&b, w->mti);
		for (unsigned j = 0; j < 4 && w->f[j].de; j++)
			rg_iso_builder_set(&b, w->f[j].de, w->f[j].text);
		len = rg_iso_encode(d, &b, out, sizeof(out), &bad);
		if (w->hex == NULL) {
			CHECK_EQ(len, -EINVAL, "%s", w->name);
			CHECK_EQ(bad, w->bad_de, "%s", w->name);
			free(d);
			continue;
		}
		size_t wl = unhex(w->hex, want);
		CHECK(len == (int)wl && memcmp(out, want, wl) == 0, "%s: encoding differs (len %d, want %zu)",
		      w->name, len, wl);
		CHECK_EQ(rg_iso_decode(d, want, (uint32_t)wl, RG_ISO_VALIDATE, &m), RG_ANOM_NONE, "%s", w->name);
		for (unsigned j = 0; j < 4 && w->f[j].de; j++) {
			const char *exp = w->render[j] ? w->render[j] : w->f[j].text;
			rg_iso_field_text(d, &m, w->f[j].de, text, sizeof(text));
			CHECK(strcmp(text, exp) == 0, "%s: DE %u renders \"%s\", want \"%s\"", w->name,
			      w->f[j].de, text, exp);
		}
		/* too small an output buffer, at every size */
		for (size_t cap = 0; cap < wl; cap++)
			CHECK_EQ(rg_iso_encode(d, &b, out, cap, NULL), -ENOSPC, "%s cap %zu", w->name, cap);
		free(d);
	}
}

static void test_boundaries(void)
{
	static uint8_t wire[8192];

	for (unsigned i = 0; i < NB_DIALECTS; i++) {
		const struct rg_dialect *d = dialects[i];
		struct rg_iso_builder b;
		unsigned bad = 0;

		if (d == NULL)
			continue;
		/* LLL max + 1: 1000 characters cannot even be written */
		rg_iso_builder_init(&b, 100);
		rg_iso_builder_set(&b, 48, s_lll1000);
		CHECK_EQ(rg_iso_encode(d, &b, wire, sizeof(wire), &bad), -EINVAL, "%s LLL 1000", d->name);
		CHECK_EQ(bad, 48, "%s", d->name);
		/* b...255 with 256 bytes */
		rg_iso_builder_init(&b, 100);
		rg_iso_builder_set(&b, 55, s_b256);
		CHECK_EQ(rg_iso_encode(d, &b, wire, sizeof(wire), &bad), -EINVAL, "%s b 256", d->name);
		CHECK_EQ(bad, 55, "%s", d->name);
		/* MTI above 9999 */
		rg_iso_builder_init(&b, 10000);
		CHECK_EQ(rg_iso_encode(d, &b, wire, sizeof(wire), &bad), -EINVAL, "%s MTI", d->name);
		/* no field at all: MTI and a zero bitmap */
		rg_iso_builder_init(&b, 800);
		int len = rg_iso_encode(d, &b, wire, sizeof(wire), &bad);
		CHECK_EQ(len, d->mti_enc == RG_ISO_E_BCD ? 10 : d->bitmap_enc == RG_ISO_E_RAW ? 12 : 20,
			 "%s empty", d->name);
	}
}

static void test_undefined_field(void)
{
	struct rg_dialect *d = parse("base = \"ascii87\"; fields = { de60 = \"none\"; };");
	const char *w = "0200" "A000000000000010" "0000000004000000" "000000" "X" "08" "12345678";
	struct rg_iso_msg m;
	char text[64];

	if (d == NULL)
		return;
	CHECK_EQ(rg_iso_decode(d, (const uint8_t *)w, (uint32_t)strlen(w), 0, &m),
		 RG_ANOM_UNDEFINED_FIELD, "undefined DE 60");
	CHECK_EQ(m.anomaly_de, 60, "undefined DE 60");
	CHECK(rg_iso_has(&m, 3), "DE 3 before the stop stays");
	CHECK(rg_iso_has(&m, 1), "DE 1 stays");
	CHECK(!rg_iso_has(&m, 60) && !rg_iso_has(&m, 102), "DE 60 and later are not present");
	CHECK_EQ(rg_iso_field_text(d, &m, 3, text, sizeof(text)), 6, "DE 3");
	CHECK_EQ(m.end, 4 + 32 + 6, "end after DE 3");
	/* the same in the built-in, where DE 60 exists, decodes fine */
	free(d);

	/* field text buffer too small */
	d = dialects[0];
	if (d == NULL)
		return;
	w = "0100" "2000000000000000" "123456";
	rg_iso_decode(d, (const uint8_t *)w, (uint32_t)strlen(w), 0, &m);
	CHECK_EQ(rg_iso_field_text(d, &m, 3, text, 6), -ENOSPC, "cap 6 for 6 chars");
	CHECK_EQ(rg_iso_field_text(d, &m, 3, text, 7), 6, "cap 7 for 6 chars");
	CHECK_EQ(rg_iso_field_text(d, &m, 0, text, 7), -1, "DE 0");
	CHECK_EQ(rg_iso_field_text(d, &m, 129, text, 7), -1, "DE 129");
}

static void test_misc(void)
{
	char mti[5];
	static const struct { uint16_t v; const char *s; } mtis[] = {
		{ 0, "0000" }, { 100, "0100" }, { 810, "0810" }, { 1200, "1200" }, { 9999, "9999" },
	};

	for (size_t i = 0; i < sizeof(mtis) / sizeof(mtis[0]); i++) {
		rg_iso_mti_text(mtis[i].v, mti);
		CHECK(strcmp(mti, mtis[i].s) == 0, "mti %u -> %s", mtis[i].v, mti);
	}

	static const struct { uint8_t ascii, ebcdic; } cp037[] = {
		{ ' ', 0x40 }, { '0', 0xF0 }, { '9', 0xF9 }, { 'A', 0xC1 }, { 'I', 0xC9 }, { 'J', 0xD1 },
		{ 'S', 0xE2 }, { 'Z', 0xE9 }, { 'a', 0x81 }, { 'z', 0xA9 }, { '=', 0x7E }, { '.', 0x4B },
		{ '^', 0xB0 }, { '/', 0x61 }, { '[', 0xBA }, { ']', 0xBB }, { '|', 0x4F }, { '!', 0x5A },
	};
	for (size_t i = 0; i < sizeof(cp037) / sizeof(cp037[0]); i++) {
		CHECK_EQ(rg_ascii_to_ebcdic[cp037[i].ascii], cp037[i].ebcdic, "'%c'", cp037[i].ascii);
		CHECK_EQ(rg_ebcdic_to_ascii[cp037[i].ebcdic], cp037[i].ascii, "'%c'", cp037[i].ascii);
	}
	for (unsigned c = 0; c < 256; c++)
		CHECK_EQ(rg_ebcdic_to_ascii[rg_ascii_to_ebcdic[c]], c, "cp037 bijection");

	static const struct { enum rg_anomaly a; const char *name; } names[] = {
		{ RG_ANOM_NONE, "none" }, { RG_ANOM_TRUNCATED, "truncated" }, { RG_ANOM_BAD_MTI, "bad_mti" },
		{ RG_ANOM_BAD_BITMAP, "bad_bitmap" }, { RG_ANOM_UNDEFINED_FIELD, "undefined_field" },
		{ RG_ANOM_BAD_LENGTH_PREFIX, "bad_length_prefix" },
		{ RG_ANOM_LENGTH_OVER_MAX, "length_over_max" }, { RG_ANOM_NON_NUMERIC, "non_numeric" },
		{ RG_ANOM_BAD_BCD, "bad_bcd" }, { RG_ANOM_TRAILING_BYTES, "trailing_bytes" },
		{ RG_ANOM_FRAME_TOO_LONG, "frame_too_long" }, { RG_ANOM_FRAME_BAD_HEADER, "frame_bad_header" },
		{ RG_ANOM_FRAME_TOO_SHORT, "frame_too_short" }, { RG_ANOM_STREAM_GAP, "stream_gap" },
		{ RG_ANOM_STREAM_OVERLAP, "stream_overlap" }, { RG_ANOM_STREAM_HOLD_FULL, "stream_hold_full" },
		{ RG_ANOM_STREAM_NO_SYN, "stream_no_syn" }, { RG_ANOM_IDENT_INVALID, "ident_invalid" },
		{ RG_ANOM_TLV_MALFORMED, "tlv_malformed" }, { RG_ANOM_MAX, "unknown" },
		{ (enum rg_anomaly)200, "unknown" },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		CHECK(strcmp(rg_anomaly_name(names[i].a), names[i].name) == 0, "anomaly %d: %s",
		      names[i].a, rg_anomaly_name(names[i].a));
}

/* A problem that stops the full decoder (as opposed to a soft report). */
static bool hard_stop(enum rg_anomaly a)
{
	return a != RG_ANOM_NONE && a != RG_ANOM_NON_NUMERIC && a != RG_ANOM_BAD_BCD &&
	       a != RG_ANOM_TRAILING_BYTES;
}

/* rg_iso_decode_until(last) against rg_iso_decode on buf[0..n). */
static void until_vs_full(const struct rg_dialect *d, const char *what, const uint8_t *buf,
			  uint32_t n, unsigned flags, unsigned last)
{
	static struct rg_iso_msg f, u;
	enum rg_anomaly af = rg_iso_decode(d, buf, n, flags, &f);
	enum rg_anomaly au = rg_iso_decode_until(d, buf, n, flags, last, &u);
	unsigned upto = last < RG_ISO_MAX_DE ? last : RG_ISO_MAX_DE;
	unsigned fails = check_nb_failed;

	CHECK_EQ(au, u.anomaly, "%s/%s last %u: return and m->anomaly", d->name, what, last);
	CHECK_EQ(u.mti, f.mti, "%s/%s last %u: mti", d->name, what, last);
	if (last >= RG_ISO_MAX_DE) {
		CHECK(au == af && u.anomaly_de == f.anomaly_de && u.end == f.end &&
		      u.bitmap[0] == f.bitmap[0] && u.bitmap[1] == f.bitmap[1],
		      "%s/%s last %u: not the full decode", d->name, what, last);
	} else if (hard_stop(af) && (f.anomaly_de <= last || f.anomaly_de <= 1)) {
		CHECK(au == af && u.anomaly_de == f.anomaly_de && u.end == f.end,
		      "%s/%s last %u: %s at DE %u, want %s at DE %u", d->name, what, last,
		      rg_anomaly_name(au), u.anomaly_de, rg_anomaly_name(af), f.anomaly_de);
	} else if (!hard_stop(af) && !((f.bitmap[0] & ((2ULL << (63 - (last % 64))) - 1) &
					 (last < 64 ? ~0ULL : 0)) | (last < 64 ? f.bitmap[1] :
					 f.bitmap[1] & ((2ULL << (127 - last)) - 1)))) {
		/* no DE past last: the whole message was walked */
		CHECK(au == af && u.anomaly_de == f.anomaly_de && u.end == f.end,
		      "%s/%s last %u: %s at DE %u end %u, want %s at DE %u end %u", d->name, what,
		      last, rg_anomaly_name(au), u.anomaly_de, u.end, rg_anomaly_name(af),
		      f.anomaly_de, f.end);
	} else {
		/* nothing stops before last: at most a soft report there */
		CHECK(au == RG_ANOM_NONE || (!hard_stop(au) && au != RG_ANOM_TRAILING_BYTES &&
					     u.anomaly_de <= last),
		      "%s/%s last %u: %s at DE %u (full: %s at DE %u)", d->name, what, last,
		      rg_anomaly_name(au), u.anomaly_de, rg_anomaly_name(af), f.anomaly_de);
		CHECK(u.end <= f.end || hard_stop(af), "%s/%s last %u: end %u > %u", d->name,
		      what, last, u.end, f.end);
	}
	for (unsigned de = 1; de <= upto; de++) {
		CHECK_EQ(rg_iso_has(&u, de), rg_iso_has(&f, de), "%s/%s last %u: DE %u", d->name,
			 what, last, de);
		if (de > 1 && rg_iso_has(&u, de) && rg_iso_has(&f, de))
			CHECK(u.v[de].off == f.v[de].off && u.v[de].len == f.v[de].len &&
			      u.v[de].units == f.v[de].units, "%s/%s last %u: DE %u value",
			      d->name, what, last, de);
	}
	for (unsigned de = upto + 1 > 2 ? upto + 1 : 2; de <= RG_ISO_MAX_DE; de++)
		CHECK(!rg_iso_has(&u, de), "%s/%s last %u: DE %u past the last", d->name, what,
		      last, de);
	for (unsigned de = 2; de <= RG_ISO_MAX_DE; de++)
		if (rg_iso_has(&u, de))
			CHECK(u.v[de].off + u.v[de].len <= u.end && u.end <= n,
			      "%s/%s last %u: DE %u beyond end", d->name, what, last, de);
	if (check_nb_failed != fails)
		fprintf(stderr, "  (%s/%s, %u bytes, flags %u, last %u)\n", d->name, what, n,
			flags, last);
}

/* The early-stopping decoder agrees with the full one on every built-in
 * dialect, on whole, truncated, corrupted and over-long messages. */
static void test_decode_until(void)
{
	static uint8_t wire[8192], copy[8192];
	static const unsigned lasts[] = { 0, 1, 2, 3, 11, 32, 35, 37, 41, 42, 48, 63, 64,
					  65, 66, 90, 102, 103, 104, 127, 128, 200 };

	for (unsigned i = 0; i < NB_DIALECTS; i++) {
		const struct rg_dialect *d = dialects[i];
		if (d == NULL)
			continue;
		CHECK_EQ(d->ident_last_de, 103, "%s: last identifier DE", d->name);
		for (size_t r = 0; r < sizeof(rt_msgs) / sizeof(rt_msgs[0]); r++) {
			const struct rt_msg *msg = &rt_msgs[r];
			int len = encode_msg(d, msg, wire, sizeof(wire) - 4, NULL);

			CHECK(len > 0, "%s/%s: encode", d->name, msg->name);
			if (len <= 0)
				continue;
			for (size_t l = 0; l < sizeof(lasts) / sizeof(lasts[0]); l++) {
				for (unsigned fl = 0; fl <= RG_ISO_VALIDATE; fl += RG_ISO_VALIDATE) {
					until_vs_full(d, msg->name, wire, (uint32_t)len, fl, lasts[l]);
					memcpy(copy, wire, (size_t)len);
					memcpy(copy + len, "0000", 4);
					until_vs_full(d, "trailing", copy, (uint32_t)len + 3, fl,
						      lasts[l]);
				}
				for (int cut = 0; cut < len; cut++) {
					/* exact size: ASan sees any read past the cut */
					uint8_t *c = malloc((size_t)cut + 1);

					memcpy(c, wire, (size_t)cut);
					until_vs_full(d, "cut", c, (uint32_t)cut, 0, lasts[l]);
					free(c);
				}
				for (int at = 0; at < len; at += 3) {
					memcpy(copy, wire, (size_t)len);
					copy[at] = (uint8_t)(at & 1 ? 0xFF : 'X');
					until_vs_full(d, "corrupt", copy, (uint32_t)len,
						      RG_ISO_VALIDATE, lasts[l]);
				}
			}
		}
	}
}

/* Decoding must not depend on what the message struct held before. */
static void test_dirty_msg(void)
{
	const struct rg_dialect *d = dialects[0];
	const char *w = "0100" "2000000000000000" "123456";
	struct rg_iso_msg m;

	if (d == NULL)
		return;
	memset(&m, 0xA5, sizeof(m));
	CHECK_EQ(rg_iso_decode(d, (const uint8_t *)w, (uint32_t)strlen(w), RG_ISO_VALIDATE, &m),
		 RG_ANOM_NONE, "dirty");
	CHECK(!rg_iso_has(&m, 1) && rg_iso_has(&m, 3) && !rg_iso_has(&m, 2), "dirty bitmap");
}

int main(void)
{
	fill(s_lll999, 999, "ABCDEFGHIJ 0123456789");
	fill(s_lll1000, 1000, "X");
	fill(s_b255, 510, "0123456789ABCDEF");
	fill(s_b256, 512, "0123456789ABCDEF");
	for (unsigned i = 0; i < NB_DIALECTS; i++)
		dialects[i] = load(dialect_names[i]);
	test_kats();
	test_round_trip();
	test_wire();
	test_boundaries();
	test_undefined_field();
	test_misc();
	test_dirty_msg();
	test_decode_until();
	for (unsigned i = 0; i < NB_DIALECTS; i++)
		free(dialects[i]);
	return CHECK_DONE();
}
