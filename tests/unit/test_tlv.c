/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for common/tlv.c: the ASCII TLV reader (fixed-width tags and
 * decimal lengths, as in DE 48 private data) and the BER-TLV reader (EMV
 * DE 55: one- to three-byte tags, short and long-form lengths, 00/FF
 * padding, constructed elements skipped whole).  Tables cover the element at
 * the start, middle and end, absence, zero-length values, and a valid string
 * cut at every offset (never a crash or a read past the end; only -EBADMSG
 * or -ENOENT, or a hit lying wholly inside the cut).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/ident.h"
#include "check.h"

struct ascii_case {
	const char *name;
	const char *buf;
	unsigned tag_width, len_width;
	const char *tag;
	int rc;
	const char *val; /* expected value when rc == 0 */
};

static const struct ascii_case ascii_cases[] = {
	{ "start", "PH011+4915123456KN003abc", 2, 3, "PH", 0, "+4915123456" },
	{ "end", "KN003abcPH011+4915123456", 2, 3, "PH", 0, "+4915123456" },
	{ "middle", "AA001xPH0051234599002zz", 2, 3, "PH", 0, "12345" },
	{ "first-of-two", "PH0011PH0012", 2, 3, "PH", 0, "1" },
	{ "absent", "AA001xBB002yy", 2, 3, "PH", -ENOENT, NULL },
	{ "empty-buffer", "", 2, 3, "PH", -ENOENT, NULL },
	{ "zero-length", "AA000PH000BB001z", 2, 3, "PH", 0, "" },
	{ "zero-length-last", "AA001xPH000", 2, 3, "PH", 0, "" },
	{ "len-width-2", "0105123450202129905abcde", 2, 2, "99", 0, "abcde" },
	{ "tag-width-3", "T01003abcT02002xy", 3, 3, "T02", 0, "xy" },
	{ "tag-width-1", "A2xyB3abc", 1, 1, "B", 0, "abc" },
	{ "tag-width-4", "TAG1001xTAG2003abc", 4, 3, "TAG2", 0, "abc" },
	{ "tag-in-value-not-matched", "AA005PH001PH003abc", 2, 3, "PH", 0, "abc" },
	{ "value-past-end", "AA010abc", 2, 3, "PH", -EBADMSG, NULL },
	{ "value-past-end-at-tag", "PH010abc", 2, 3, "PH", -EBADMSG, NULL },
	{ "non-digit-length", "AA0x1aPH001z", 2, 3, "PH", -EBADMSG, NULL },
	{ "space-in-length", "AA 01aPH001z", 2, 3, "PH", -EBADMSG, NULL },
	{ "short-header", "AA001xPH01", 2, 3, "PH", -EBADMSG, NULL },
	{ "short-header-tag-only", "AA001xP", 2, 3, "PH", -EBADMSG, NULL },
	{ "found-before-broken", "PH001zAA9", 2, 3, "PH", 0, "z" },
	{ "tag-width-0", "PH001z", 0, 3, "PH", -EINVAL, NULL },
	{ "tag-width-5", "PH001z", 5, 3, "PH", -EINVAL, NULL },
	{ "len-width-0", "PH001z", 2, 0, "PH", -EINVAL, NULL },
	{ "len-width-10", "PH001z", 2, 10, "PH", -EINVAL, NULL },
	{ "max-len-999", NULL, 2, 3, "ZZ", 0, NULL }, /* built below */
};

static void check_ascii(const struct ascii_case *c, const uint8_t *buf, size_t len)
{
	const uint8_t *val = NULL;
	size_t val_len = 12345;
	int rc;

	rc = rg_tlv_ascii_find(buf, len, c->tag_width, c->len_width, (const uint8_t *)c->tag,
			       &val, &val_len);
	CHECK_EQ(rc, c->rc, "ascii %s", c->name);
	if (rc == 0 && c->val != NULL) {
		CHECK_EQ(val_len, strlen(c->val), "ascii %s length", c->name);
		CHECK(val_len == strlen(c->val) && memcmp(val, c->val, val_len) == 0,
		      "ascii %s value", c->name);
	}
	if (rc == 0)
		CHECK(val >= buf && val + val_len <= buf + len, "ascii %s inside buf", c->name);
}

static void test_ascii(void)
{
	unsigned i;

	for (i = 0; i < sizeof(ascii_cases) / sizeof(ascii_cases[0]); i++) {
		const struct ascii_case *c = &ascii_cases[i];

		if (c->buf == NULL)
			continue;
		/* Exact-size heap copy so a read past the end trips ASan. */
		size_t len = strlen(c->buf);
		uint8_t *buf = malloc(len + 1);

		memcpy(buf, c->buf, len);
		check_ascii(c, buf, len);
		free(buf);
	}

	/* A 999-byte value after a 3-digit length, followed by another element. */
	{
		size_t len = 5 + 999 + 6;
		uint8_t *buf = malloc(len);
		const uint8_t *val;
		size_t val_len;

		memcpy(buf, "AA999", 5);
		memset(buf + 5, 'x', 999);
		memcpy(buf + 5 + 999, "ZZ001q", 6);
		CHECK_EQ(rg_tlv_ascii_find(buf, len, 2, 3, (const uint8_t *)"AA", &val, &val_len), 0,
			 "999 value");
		CHECK_EQ(val_len, 999, "999 length");
		CHECK_EQ(rg_tlv_ascii_find(buf, len, 2, 3, (const uint8_t *)"ZZ", &val, &val_len), 0,
			 "after 999 value");
		CHECK(val_len == 1 && val[0] == 'q', "after 999 value is q");
		free(buf);
	}
}

/* Every prefix of a valid string: only -ENOENT, -EBADMSG, or a hit inside. */
static void test_ascii_truncation(void)
{
	static const char full[] = "AA003abcPH011+4915123456BB000CC002zz";
	size_t cut, len = strlen(full);
	unsigned bad = 0;

	for (cut = 0; cut <= len; cut++) {
		uint8_t *buf = malloc(cut + 1);
		const uint8_t *val = NULL;
		size_t val_len = 0;
		int rc;

		memcpy(buf, full, cut);
		rc = rg_tlv_ascii_find(buf, cut, 2, 3, (const uint8_t *)"CC", &val, &val_len);
		if (cut == len) {
			CHECK_EQ(rc, 0, "whole string finds CC");
		} else if (cut == 0 || cut == 8 || cut == 24 || cut == 29) {
			/* Cut on an element boundary: CC simply is not there. */
			CHECK_EQ(rc, -ENOENT, "cut at boundary %zu", cut);
		} else {
			CHECK_EQ(rc, -EBADMSG, "cut inside element at %zu", cut);
		}
		rc = rg_tlv_ascii_find(buf, cut, 2, 3, (const uint8_t *)"PH", &val, &val_len);
		if (rc == 0 && (val < buf || val + val_len > buf + cut))
			bad++;
		if (rc == 0)
			CHECK(cut >= 24, "PH found only once whole (cut %zu)", cut);
		else
			CHECK(rc == -EBADMSG || rc == -ENOENT, "PH cut %zu rc %d", cut, rc);
		free(buf);
	}
	CHECK_EQ(bad, 0, "hits stay inside the cut buffer");
}

struct ber_case {
	const char *name;
	uint8_t buf[64];
	size_t len;
	uint8_t tag[3];
	unsigned tag_len;
	int rc;
	size_t val_off; /* expected offset of the value in buf */
	size_t val_len;
};

static const struct ber_case ber_cases[] = {
	{ "start", { 0x9f, 0x02, 0x06, 0, 0, 0, 0, 0x10, 0x00, 0x5a, 0x02, 0x12, 0x34 }, 13,
	  { 0x9f, 0x02 }, 2, 0, 3, 6 },
	{ "end", { 0x9f, 0x02, 0x06, 0, 0, 0, 0, 0x10, 0x00, 0x5a, 0x02, 0x12, 0x34 }, 13,
	  { 0x5a }, 1, 0, 11, 2 },
	{ "middle", { 0x82, 0x02, 0x19, 0x80, 0x95, 0x05, 1, 2, 3, 4, 5, 0x9a, 0x03, 0x26, 0x11, 0x29 },
	  16, { 0x95 }, 1, 0, 6, 5 },
	{ "absent", { 0x82, 0x02, 0x19, 0x80, 0x95, 0x01, 0x00 }, 7, { 0x5a }, 1, -ENOENT, 0, 0 },
	{ "empty", { 0 }, 0, { 0x5a }, 1, -ENOENT, 0, 0 },
	{ "zero-length", { 0x82, 0x00, 0x5a, 0x00, 0x95, 0x01, 0x07 }, 7, { 0x5a }, 1, 0, 4, 0 },
	{ "three-byte-tag", { 0x9f, 0x02, 0x01, 0x00, 0xdf, 0x81, 0x16, 0x02, 0xab, 0xcd }, 10,
	  { 0xdf, 0x81, 0x16 }, 3, 0, 8, 2 },
	{ "three-byte-tag-not-prefix", { 0xdf, 0x81, 0x16, 0x01, 0xaa, 0x5a, 0x01, 0xbb }, 8,
	  { 0xdf, 0x81 }, 2, -ENOENT, 0, 0 },
	{ "one-byte-not-two", { 0x9f, 0x5a, 0x01, 0x01, 0x5a, 0x01, 0x02 }, 7, { 0x5a }, 1, 0, 6, 1 },
	{ "four-byte-tag", { 0xdf, 0x81, 0x81, 0x01, 0x01, 0x00, 0x5a, 0x01, 0x02 }, 9, { 0x5a }, 1,
	  -EBADMSG, 0, 0 },
	{ "tag-cut", { 0x5a, 0x01, 0x02, 0x9f }, 4, { 0x95 }, 1, -EBADMSG, 0, 0 },
	{ "tag-cut-second", { 0x5a, 0x01, 0x02, 0xdf, 0x81 }, 5, { 0x95 }, 1, -EBADMSG, 0, 0 },
	{ "no-length", { 0x5a, 0x01, 0x02, 0x95 }, 4, { 0x9a }, 1, -EBADMSG, 0, 0 },
	{ "long-81", { 0x5a, 0x81, 0x03, 1, 2, 3, 0x95, 0x01, 9 }, 9, { 0x95 }, 1, 0, 8, 1 },
	{ "long-81-hit", { 0x5a, 0x81, 0x03, 1, 2, 3 }, 6, { 0x5a }, 1, 0, 3, 3 },
	{ "long-82", { 0x5a, 0x82, 0x00, 0x02, 1, 2, 0x95, 0x01, 9 }, 9, { 0x95 }, 1, 0, 8, 1 },
	{ "long-82-hit", { 0x5a, 0x82, 0x00, 0x02, 1, 2 }, 6, { 0x5a }, 1, 0, 4, 2 },
	{ "long-81-cut", { 0x5a, 0x81 }, 2, { 0x95 }, 1, -EBADMSG, 0, 0 },
	{ "long-82-cut", { 0x5a, 0x82, 0x00 }, 3, { 0x95 }, 1, -EBADMSG, 0, 0 },
	{ "long-83", { 0x5a, 0x83, 0x00, 0x00, 0x01, 0x01 }, 6, { 0x95 }, 1, -EBADMSG, 0, 0 },
	{ "indefinite", { 0x70, 0x80, 0x5a, 0x01, 0x01, 0x00, 0x00 }, 7, { 0x5a }, 1, -EBADMSG, 0, 0 },
	{ "value-past-end", { 0x5a, 0x05, 1, 2, 3 }, 5, { 0x5a }, 1, -EBADMSG, 0, 0 },
	{ "value-past-end-82", { 0x5a, 0x82, 0xff, 0xff, 1, 2, 3 }, 7, { 0x5a }, 1, -EBADMSG, 0, 0 },
	{ "padding-00", { 0x00, 0x00, 0x5a, 0x01, 0x07 }, 5, { 0x5a }, 1, 0, 4, 1 },
	{ "padding-ff", { 0x95, 0x01, 0x01, 0xff, 0xff, 0x00, 0x5a, 0x01, 0x07 }, 9, { 0x5a }, 1, 0, 8, 1 },
	{ "padding-only", { 0x00, 0xff, 0x00 }, 3, { 0x5a }, 1, -ENOENT, 0, 0 },
	{ "padding-trailing", { 0x5a, 0x01, 0x07, 0x00, 0x00 }, 5, { 0x95 }, 1, -ENOENT, 0, 0 },
	/* 70 (constructed) holds 5A; the reader must not descend and find it. */
	{ "constructed-skipped", { 0x70, 0x03, 0x5a, 0x01, 0x01, 0x95, 0x01, 0x02 }, 8, { 0x5a }, 1,
	  -ENOENT, 0, 0 },
	{ "constructed-then-hit", { 0x70, 0x03, 0x5a, 0x01, 0x01, 0x5a, 0x01, 0x02 }, 8, { 0x5a }, 1,
	  0, 7, 1 },
	{ "constructed-itself", { 0x70, 0x03, 0x5a, 0x01, 0x01 }, 5, { 0x70 }, 1, 0, 2, 3 },
	{ "constructed-bf0c", { 0xbf, 0x0c, 0x03, 0x5a, 0x01, 0x01, 0x95, 0x01, 0x02 }, 9, { 0x95 }, 1,
	  0, 8, 1 },
	{ "tag-len-0", { 0x5a, 0x01, 0x01 }, 3, { 0x5a }, 0, -EINVAL, 0, 0 },
	{ "tag-len-4", { 0x5a, 0x01, 0x01 }, 3, { 0x5a }, 4, -EINVAL, 0, 0 },
};

static void test_ber(void)
{
	unsigned i;

	for (i = 0; i < sizeof(ber_cases) / sizeof(ber_cases[0]); i++) {
		const struct ber_case *c = &ber_cases[i];
		uint8_t *buf = malloc(c->len + 1);
		const uint8_t *val = NULL;
		size_t val_len = 999;
		int rc;

		memcpy(buf, c->buf, c->len);
		rc = rg_tlv_ber_find(buf, c->len, c->tag, c->tag_len, &val, &val_len);
		CHECK_EQ(rc, c->rc, "ber %s", c->name);
		if (rc == 0 && c->rc == 0) {
			CHECK_EQ(val - buf, c->val_off, "ber %s value offset", c->name);
			CHECK_EQ(val_len, c->val_len, "ber %s value length", c->name);
		}
		free(buf);
	}

	/* A 300-byte value with a two-byte length, then a tag after it. */
	{
		uint8_t *buf = malloc(308);
		const uint8_t *val;
		size_t val_len;

		memcpy(buf, "\x9f\x10\x82\x01\x2c", 5);
		memset(buf + 5, 0x5a, 300);
		memcpy(buf + 305, "\x5a\x01\x42", 3);
		CHECK_EQ(rg_tlv_ber_find(buf, 308, (const uint8_t *)"\x5a", 1, &val, &val_len), 0,
			 "tag after 300-byte value");
		CHECK(val_len == 1 && val == buf + 307 && val[0] == 0x42, "value 42 at 307");
		CHECK_EQ(rg_tlv_ber_find(buf, 308, (const uint8_t *)"\x9f\x10", 2, &val, &val_len), 0,
			 "9F10");
		CHECK(val_len == 300 && val == buf + 5, "9F10 300 bytes at 5");
		free(buf);
	}
}

static void test_ber_truncation(void)
{
	static const uint8_t full[] = {
		0x9f, 0x02, 0x06, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, /* 0..8 */
		0x00, 0xff,                                          /* 9..10 padding */
		0x70, 0x04, 0x5a, 0x02, 0x12, 0x34,                  /* 11..16 */
		0xdf, 0x81, 0x16, 0x81, 0x02, 0xab, 0xcd,            /* 17..23 */
		0x5a, 0x82, 0x00, 0x03, 0x47, 0x61, 0x73,            /* 24..30 */
	};
	size_t cut, len = sizeof(full);

	for (cut = 0; cut <= len; cut++) {
		uint8_t *buf = malloc(cut + 1);
		const uint8_t *val = NULL;
		size_t val_len = 0;
		int rc;

		memcpy(buf, full, cut);
		rc = rg_tlv_ber_find(buf, cut, (const uint8_t *)"\x5a", 1, &val, &val_len);
		if (cut == len)
			CHECK(rc == 0 && val == buf + 28 && val_len == 3, "whole finds 5A");
		else if (cut == 0 || cut == 9 || cut == 10 || cut == 11 || cut == 17 || cut == 24)
			CHECK_EQ(rc, -ENOENT, "cut at boundary %zu", cut);
		else
			CHECK_EQ(rc, -EBADMSG, "cut inside element at %zu", cut);

		rc = rg_tlv_ber_find(buf, cut, (const uint8_t *)"\xdf\x81\x16", 3, &val, &val_len);
		if (cut >= 24)
			CHECK(rc == 0 && val == buf + 22 && val_len == 2, "DF8116 at cut %zu", cut);
		else
			CHECK(rc == -ENOENT || rc == -EBADMSG, "DF8116 cut %zu rc %d", cut, rc);
		free(buf);
	}
}

int main(void)
{
	test_ascii();
	test_ascii_truncation();
	test_ber();
	test_ber_truncation();
	return CHECK_DONE();
}
