/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the dialect loader (common/dialect.c): the built-ins and
 * their resolved specs, inheritance through base files, and one error
 * message per kind of mistake, each with its file and line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "common/ident.h"
#include "common/iso8583.h"

static char tmpdir[64];

static void write_file(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	if (f == NULL) {
		perror(path);
		abort();
	}
	fputs(text, f);
	fclose(f);
}

struct spec_case {
	const char *dialect;
	unsigned de;
	uint8_t type, enc, prefix_digits, prefix_enc, pad, in_bytes;
	uint16_t len;
};

#define N RG_ISO_T_N
#define AN RG_ISO_T_AN
#define B RG_ISO_T_B
#define Z RG_ISO_T_Z
#define XN RG_ISO_T_XN
#define ASC RG_ISO_E_ASCII
#define BCD RG_ISO_E_BCD
#define EBC RG_ISO_E_EBCDIC
#define RAW RG_ISO_E_RAW
#define HEX RG_ISO_E_HEX
#define BIN RG_ISO_E_BINARY

static const struct spec_case specs[] = {
	{ "ascii87", 1, RG_ISO_T_NONE, 0, 0, 0, 0, 0, 0 },
	{ "ascii87", 2, N, ASC, 2, ASC, 0, 0, 19 },
	{ "ascii87", 3, N, ASC, 0, 0, 0, 0, 6 },
	{ "ascii87", 28, XN, ASC, 0, 0, 0, 0, 9 },
	{ "ascii87", 32, N, ASC, 2, ASC, 0, 0, 11 },
	{ "ascii87", 35, Z, ASC, 2, ASC, 0, 0, 37 },
	{ "ascii87", 41, AN, ASC, 0, 0, 0, 0, 8 },
	{ "ascii87", 45, AN, ASC, 2, ASC, 0, 0, 76 },
	{ "ascii87", 48, AN, ASC, 3, ASC, 0, 0, 999 },
	{ "ascii87", 52, B, HEX, 0, 0, 0, 0, 8 },
	{ "ascii87", 55, B, HEX, 3, ASC, 0, 0, 255 },
	{ "ascii87", 64, B, HEX, 0, 0, 0, 0, 8 },
	{ "ascii87", 65, B, HEX, 0, 0, 0, 0, 8 },
	{ "ascii87", 90, N, ASC, 0, 0, 0, 0, 42 },
	{ "ascii87", 96, B, HEX, 0, 0, 0, 0, 8 },
	{ "ascii87", 97, XN, ASC, 0, 0, 0, 0, 17 },
	{ "ascii87", 102, AN, ASC, 2, ASC, 0, 0, 28 },
	{ "ascii87", 127, AN, ASC, 3, ASC, 0, 0, 999 },
	{ "ascii87", 128, B, HEX, 0, 0, 0, 0, 8 },
	{ "ascii87-bin", 2, N, ASC, 2, ASC, 0, 0, 19 },
	{ "ascii87-bin", 52, B, RAW, 0, 0, 0, 0, 8 },
	{ "ascii87-bin", 55, B, RAW, 3, ASC, 0, 0, 255 },
	{ "bcd87", 2, N, BCD, 2, BCD, RG_ISO_PAD_LEFT, 0, 19 },
	{ "bcd87", 22, N, BCD, 0, 0, RG_ISO_PAD_LEFT, 0, 3 },
	{ "bcd87", 28, XN, BCD, 0, 0, RG_ISO_PAD_LEFT, 0, 9 },
	{ "bcd87", 35, Z, BCD, 2, BCD, RG_ISO_PAD_RIGHT_F, 0, 37 },
	{ "bcd87", 41, AN, ASC, 0, 0, 0, 0, 8 },
	{ "bcd87", 48, AN, ASC, 3, BCD, 0, 0, 999 },
	{ "bcd87", 52, B, RAW, 0, 0, 0, 0, 8 },
	{ "bcd87", 55, B, RAW, 3, BCD, 0, 0, 255 },
	{ "ebcdic87", 2, N, EBC, 2, EBC, 0, 0, 19 },
	{ "ebcdic87", 35, Z, EBC, 2, EBC, 0, 0, 37 },
	{ "ebcdic87", 41, AN, EBC, 0, 0, 0, 0, 8 },
	{ "ebcdic87", 52, B, RAW, 0, 0, 0, 0, 8 },
};

static const struct {
	const char *name;
	uint8_t mti, bitmap;
} tops[] = {
	{ "ascii87", ASC, HEX }, { "ascii87-bin", ASC, RAW }, { "bcd87", BCD, RAW }, { "ebcdic87", EBC, RAW },
};

static void test_builtins(void)
{
	const char *const *names = rg_dialect_builtin_names();
	const char *want[] = { "ascii87", "ascii87-bin", "bcd87", "ebcdic87" };
	char err[256];
	unsigned n = 0;

	for (; names[n]; n++) {
		bool found = false;
		for (unsigned i = 0; i < 4; i++)
			found |= strcmp(names[n], want[i]) == 0;
		CHECK(found, "unexpected built-in %s", names[n]);
	}
	CHECK_EQ(n, 4, "number of built-ins");

	for (size_t i = 0; i < sizeof(tops) / sizeof(tops[0]); i++) {
		struct rg_dialect *d = rg_dialect_load(tops[i].name, err, sizeof(err));
		CHECK(d != NULL, "%s: %s", tops[i].name, err);
		if (d == NULL)
			continue;
		CHECK(strcmp(d->name, tops[i].name) == 0, "name %s", d->name);
		CHECK_EQ(d->mti_enc, tops[i].mti, "%s mti", tops[i].name);
		CHECK_EQ(d->bitmap_enc, tops[i].bitmap, "%s bitmap", tops[i].name);
		unsigned defined = 0;
		for (unsigned de = 2; de <= RG_ISO_MAX_DE; de++)
			defined += d->de[de].type != RG_ISO_T_NONE;
		CHECK_EQ(defined, 127, "%s defines every DE 2..128", tops[i].name);

		/* identifiers: inherited by every built-in from ascii87 */
		static const struct { uint8_t kind, de, how; } ids[] = {
			{ RG_KIND_PAN, 2, RG_IDENT_WHOLE }, { RG_KIND_PAN, 35, RG_IDENT_TRACK2 },
			{ RG_KIND_PAN, 45, RG_IDENT_TRACK1 }, { RG_KIND_ACCOUNT, 102, RG_IDENT_WHOLE },
			{ RG_KIND_ACCOUNT, 103, RG_IDENT_WHOLE }, { RG_KIND_MERCHANT, 42, RG_IDENT_WHOLE },
			{ RG_KIND_TERMINAL, 41, RG_IDENT_WHOLE }, { RG_KIND_ACQUIRER, 32, RG_IDENT_WHOLE },
			{ RG_KIND_PHONE, 48, RG_IDENT_TLV_ASCII }, { RG_KIND_DEVICE, 48, RG_IDENT_TLV_ASCII },
		};
		CHECK_EQ(d->nb_ident, 10, "%s identifiers", tops[i].name);
		for (unsigned j = 0; j < 10 && j < d->nb_ident; j++) {
			CHECK_EQ(d->ident[j].kind, ids[j].kind, "%s ident %u", tops[i].name, j);
			CHECK_EQ(d->ident[j].de, ids[j].de, "%s ident %u", tops[i].name, j);
			CHECK_EQ(d->ident[j].how, ids[j].how, "%s ident %u", tops[i].name, j);
		}
		CHECK(d->ident[8].tag_len == 2 && memcmp(d->ident[8].tag, "PH", 2) == 0 &&
		      d->ident[8].tag_width == 2 && d->ident[8].len_width == 3, "%s PHONE tlv", tops[i].name);
		CHECK(d->ident[9].tag_len == 2 && memcmp(d->ident[9].tag, "DV", 2) == 0, "%s DEVICE tlv",
		      tops[i].name);
		free(d);
	}

	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		const struct spec_case *c = &specs[i];
		struct rg_dialect *d = rg_dialect_load(c->dialect, err, sizeof(err));
		if (d == NULL)
			continue;
		const struct rg_iso_field_spec *f = &d->de[c->de];
		CHECK_EQ(f->type, c->type, "%s DE %u type", c->dialect, c->de);
		CHECK_EQ(f->len, c->len, "%s DE %u len", c->dialect, c->de);
		CHECK_EQ(f->prefix_digits, c->prefix_digits, "%s DE %u prefix", c->dialect, c->de);
		if (c->type != RG_ISO_T_NONE)
			CHECK_EQ(f->enc, c->enc, "%s DE %u enc", c->dialect, c->de);
		if (c->prefix_digits)
			CHECK_EQ(f->prefix_enc, c->prefix_enc, "%s DE %u prefix enc", c->dialect, c->de);
		if (c->enc == BCD)
			CHECK_EQ(f->pad, c->pad, "%s DE %u pad", c->dialect, c->de);
		CHECK_EQ(f->prefix_in_bytes, c->in_bytes, "%s DE %u counts", c->dialect, c->de);
		free(d);
	}
}

static void test_base_files(void)
{
	char err[256], path[256];
	struct rg_dialect *d;

	write_file("parent.cfg",
		   "name = \"parent\";\n"
		   "base = \"ascii87\";\n"
		   "numeric = \"bcd\";\n"
		   "bitmap = \"binary\";\n"
		   "fields = {\n"
		   "\tde48 = { format = \"ans...999\"; text = \"ebcdic\"; };\n"
		   "\tde60 = \"none\";\n"
		   "\tde62 = \"b...255\";\n"
		   "};\n");
	write_file("child.cfg",
		   "# starts from a file next to it\n"
		   "base = \"parent.cfg\";\n"
		   "prefix = \"binary\";\n"
		   "prefix_counts = \"bytes\";\n"
		   "bcd_pad = \"right-f\";\n"
		   "fields = {\n"
		   "\tde2 = { prefix_counts = \"digits\"; };\n"
		   "\tde3 = { format = \"n6\"; numeric = \"ascii\"; };\n"
		   "};\n"
		   "identifiers = (\n"
		   "\t{ kind = \"pan\"; de = 2; skip = 1; },\n"
		   "\t{ kind = \"DEVICE\"; de = 55; how = \"ber\"; tag = \"df8116\"; },\n"
		   "\t{ kind = \"PHONE\"; de = 48; how = \"tlv\"; tag = \"P01\"; len_width = 2; }\n"
		   ");\n");
	snprintf(path, sizeof(path), "%s/child.cfg", tmpdir);
	d = rg_dialect_load(path, err, sizeof(err));
	CHECK(d != NULL, "child: %s", err);
	if (d == NULL)
		return;
	CHECK(strcmp(d->name, "child") == 0, "name from the file name: %s", d->name);
	CHECK_EQ(d->bitmap_enc, RAW, "bitmap from parent");
	CHECK_EQ(d->mti_enc, ASC, "mti from ascii87");
	CHECK_EQ(d->de[4].enc, BCD, "numeric from parent reaches inherited DE 4");
	CHECK_EQ(d->de[4].pad, RG_ISO_PAD_RIGHT_F, "pad from child");
	CHECK_EQ(d->de[3].enc, ASC, "per-field override");
	CHECK_EQ(d->de[2].prefix_enc, BIN, "prefix from child");
	CHECK_EQ(d->de[2].prefix_in_bytes, 0, "per-field prefix_counts");
	CHECK_EQ(d->de[32].prefix_in_bytes, 1, "dialect prefix_counts");
	CHECK_EQ(d->de[48].enc, EBC, "text override inherited");
	CHECK_EQ(d->de[60].type, RG_ISO_T_NONE, "removed field");
	CHECK(d->de[62].type == B && d->de[62].len == 255 && d->de[62].prefix_digits == 3, "replaced field");
	CHECK_EQ(d->de[41].enc, ASC, "text untouched");
	CHECK_EQ(d->nb_ident, 3, "identifiers replaced");
	CHECK(d->ident[0].kind == RG_KIND_PAN && d->ident[0].skip == 1, "ident 0");
	CHECK(d->ident[1].how == RG_IDENT_TLV_BER && d->ident[1].tag_len == 3 &&
	      d->ident[1].tag[0] == 0xDF && d->ident[1].tag[1] == 0x81 && d->ident[1].tag[2] == 0x16, "BER tag");
	CHECK(d->ident[2].tag_width == 3 && d->ident[2].len_width == 2 && d->ident[2].tag_len == 3, "tlv widths");
	free(d);

	/* a parent loaded by itself keeps the base's identifiers */
	snprintf(path, sizeof(path), "%s/parent.cfg", tmpdir);
	d = rg_dialect_load(path, err, sizeof(err));
	CHECK(d != NULL && d->nb_ident == 10 && strcmp(d->name, "parent") == 0, "parent: %s", err);
	free(d);
}

struct err_case {
	const char *name;
	const char *text;
	const char *want; /* the whole message, origin "t.cfg" */
};

static const struct err_case errs[] = {
	{ "unknown key", "name = \"x\";\nfoo = 1;\n",
	  "t.cfg:2: unknown key \"foo\" (expected name, base, mti, bitmap, numeric, text, binary, prefix, bcd_pad, prefix_counts, fields or identifiers)" },
	{ "bad format", "name = \"x\";\nfields = {\n  de2 = \"n..19\";\n  de35 = \"z.37\";\n};\n",
	  "t.cfg:4: fields.de35: bad format \"z.37\" (expected e.g. n..19, ans...999, b8)" },
	{ "LL above 99", "fields = { de2 = \"n..100\"; };",
	  "t.cfg:1: fields.de2: bad format \"n..100\" (expected e.g. n..19, ans...999, b8)" },
	{ "length 0", "fields = { de2 = \"n0\"; };",
	  "t.cfg:1: fields.de2: bad format \"n0\" (expected e.g. n..19, ans...999, b8)" },
	{ "length 1000", "fields = { de2 = \"ans...1000\"; };",
	  "t.cfg:1: fields.de2: bad format \"ans...1000\" (expected e.g. n..19, ans...999, b8)" },
	{ "x+n999 is 1000 units", "fields = { de2 = \"x+n999\"; };",
	  "t.cfg:1: fields.de2: bad format \"x+n999\" (expected e.g. n..19, ans...999, b8)" },
	{ "unknown type", "fields = { de2 = \"q5\"; };",
	  "t.cfg:1: fields.de2: bad format \"q5\" (expected e.g. n..19, ans...999, b8)" },
	{ "one dot", "fields = { de2 = \"n.5\"; };",
	  "t.cfg:1: fields.de2: bad format \"n.5\" (expected e.g. n..19, ans...999, b8)" },
	{ "group format", "fields = {\n de2 = { format = \"nn5\"; };\n};",
	  "t.cfg:2: fields.de2.format: bad format \"nn5\" (expected e.g. n..19, ans...999, b8)" },
	{ "de1", "fields = {\n de1 = \"b8\";\n};",
	  "t.cfg:2: fields: de1 is the secondary bitmap and cannot be defined" },
	{ "de129", "fields = { de129 = \"n1\"; };",
	  "t.cfg:1: fields: \"de129\": data element out of range 2..128" },
	{ "de0", "fields = { de0 = \"n1\"; };",
	  "t.cfg:1: fields: \"de0\": data element out of range 2..128" },
	{ "not a DE", "fields = { pan = \"n..19\"; };",
	  "t.cfg:1: fields: unknown key \"pan\" (expected de2 .. de128)" },
	{ "group unknown key", "fields = {\n de2 = {\n  format = \"n..19\";\n  colour = \"red\";\n };\n};",
	  "t.cfg:4: fields.de2: unknown key \"colour\" (expected format, numeric, text, binary, prefix, pad or prefix_counts)" },
	{ "pad on text", "fields = { de41 = { format = \"ans8\"; pad = \"left\"; }; };",
	  "t.cfg:1: fields.de41.pad: does not apply to this field's format" },
	{ "prefix on fixed", "fields = { de41 = { format = \"ans8\"; prefix = \"bcd\"; }; };",
	  "t.cfg:1: fields.de41.prefix: does not apply to this field's format" },
	{ "group without format or base", "fields = { de41 = { text = \"ascii\"; }; };",
	  "t.cfg:1: fields.de41: no format given and the base does not define DE 41" },
	{ "bad mti", "mti = \"utf8\";", "t.cfg:1: mti: bad value \"utf8\" (expected ascii, bcd or ebcdic)" },
	{ "bad bitmap", "\nbitmap = \"base64\";",
	  "t.cfg:2: bitmap: bad value \"base64\" (expected binary, hex or ebcdic)" },
	{ "bad prefix", "prefix = 2;", "t.cfg:1: prefix: expected a string (ascii, bcd, binary or ebcdic)" },
	{ "bad pad", "bcd_pad = \"middle\";", "t.cfg:1: bcd_pad: bad value \"middle\" (expected left, right or right-f)" },
	{ "bad counts", "prefix_counts = \"nibbles\";",
	  "t.cfg:1: prefix_counts: bad value \"nibbles\" (expected digits or bytes)" },
	{ "bad text", "text = \"bcd\";", "t.cfg:1: text: bad value \"bcd\" (expected ascii or ebcdic)" },
	{ "bad binary", "binary = \"base64\";", "t.cfg:1: binary: bad value \"base64\" (expected raw or hex)" },
	{ "long name", "name = \"0123456789012345678901234567890123\";",
	  "t.cfg:1: name: expected a string of 1 to 31 characters" },
	{ "bad kind", "fields = { de2 = \"n..19\"; };\nidentifiers = (\n  { kind = \"SHOE\"; de = 2; }\n);",
	  "t.cfg:3: identifiers[0].kind: unknown kind \"SHOE\"" },
	{ "ident de range", "base = \"ascii87\";\nidentifiers = (\n  { kind = \"PAN\"; de = 2; },\n  { kind = \"PAN\";\n    de = 129; }\n);",
	  "t.cfg:5: identifiers[1].de: 129 out of range 2..128" },
	{ "ident de undefined", "fields = { de2 = \"n..19\"; };\nidentifiers = (\n  { kind = \"PAN\"; de = 3; }\n);",
	  "t.cfg:3: identifiers[0].de: DE 3 is not defined by this dialect" },
	{ "ident unknown key", "base = \"ascii87\";\nidentifiers = ( { kind = \"PAN\"; de = 2; offset = 3; } );",
	  "t.cfg:2: identifiers[0]: unknown key \"offset\" (expected kind, de, how, tag, tag_width, len_width or skip)" },
	{ "ident bad how", "base = \"ascii87\";\nidentifiers = ( { kind = \"PAN\"; de = 2; how = \"regex\"; } );",
	  "t.cfg:2: identifiers[0].how: bad value \"regex\" (expected whole, track2, track1, tlv or ber)" },
	{ "ident missing de", "base = \"ascii87\";\nidentifiers = ( { kind = \"PAN\"; } );",
	  "t.cfg:2: identifiers[0]: needs both kind and de" },
	{ "ber tag not hex", "base = \"ascii87\";\nidentifiers = ( { kind = \"DEVICE\"; de = 55; how = \"ber\";\n tag = \"XYZ1\"; } );",
	  "t.cfg:3: identifiers[0]: bad BER tag \"XYZ1\" (expected 1 to 3 bytes in hex, e.g. 5A or DF8116)" },
	{ "ber tag incomplete", "base = \"ascii87\";\nidentifiers = ( { kind = \"DEVICE\"; de = 55; how = \"ber\"; tag = \"DF81\"; } );",
	  "t.cfg:2: identifiers[0]: bad BER tag \"DF81\" (expected 1 to 3 bytes in hex, e.g. 5A or DF8116)" },
	{ "ber tag too long", "base = \"ascii87\";\nidentifiers = ( { kind = \"DEVICE\"; de = 55; how = \"ber\"; tag = \"5A01\"; } );",
	  "t.cfg:2: identifiers[0]: bad BER tag \"5A01\" (expected 1 to 3 bytes in hex, e.g. 5A or DF8116)" },
	{ "tlv without tag", "base = \"ascii87\";\nidentifiers = ( { kind = \"PHONE\"; de = 48; how = \"tlv\"; } );",
	  "t.cfg:2: identifiers[0]: how = \"tlv\" needs tag = \"...\" of 1 to 4 characters" },
	{ "tlv width mismatch", "base = \"ascii87\";\nidentifiers = ( { kind = \"PHONE\"; de = 48; how = \"tlv\"; tag = \"PH\"; tag_width = 3; } );",
	  "t.cfg:2: identifiers[0].tag_width: 3 does not match the tag \"PH\"" },
	{ "tag on whole", "base = \"ascii87\";\nidentifiers = ( { kind = \"PAN\"; de = 2; tag = \"PH\"; } );",
	  "t.cfg:2: identifiers[0]: tag applies only to how = \"tlv\" or \"ber\"" },
	{ "too many identifiers", "base = \"ascii87\";\nidentifiers = (\n"
	  "{kind=\"PAN\";de=2;},{kind=\"PAN\";de=2;},{kind=\"PAN\";de=2;},{kind=\"PAN\";de=2;},"
	  "{kind=\"PAN\";de=2;},{kind=\"PAN\";de=2;},{kind=\"PAN\";de=2;},{kind=\"PAN\";de=2;},"
	  "{kind=\"PAN\";de=2;},{kind=\"PAN\";de=2;},{kind=\"PAN\";de=2;},{kind=\"PAN\";de=2;},"
	  "{kind=\"PAN\";de=2;},{kind=\"PAN\";de=2;},{kind=\"PAN\";de=2;},{kind=\"PAN\";de=2;},"
	  "{kind=\"PAN\";de=2;});",
	  "t.cfg:2: identifiers: 17 entries, at most 16 allowed" },
	{ "removing an identifier's DE", "base = \"ascii87\";\nfields = { de35 = \"none\"; };",
	  "t.cfg: identifiers[1].de: inherited identifier reads DE 35, which this dialect removes" },
	{ "syntax", "name = \"x\";\nmti = ;\n", "t.cfg:2: syntax error: syntax error" },
	{ "unknown built-in base", "base = \"ascii99\";", NULL },
	{ "include", "@include \"/etc/passwd\"\n", "t.cfg: @include is not supported in dialect files" },
};

static void test_errors(void)
{
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		char err[512] = "";
		struct rg_dialect *d = rg_dialect_parse(errs[i].text, "t.cfg", err, sizeof(err));

		CHECK(d == NULL, "%s: accepted", errs[i].name);
		free(d);
		if (errs[i].want)
			CHECK(strcmp(err, errs[i].want) == 0, "%s:\n  got  %s\n  want %s", errs[i].name,
			      err, errs[i].want);
		else
			CHECK(strncmp(err, "t.cfg:1: base: ", 15) == 0, "%s: %s", errs[i].name, err);
	}
}

static void test_base_errors(void)
{
	char err[512], path[256];
	struct rg_dialect *d;

	write_file("a.cfg", "base = \"b.cfg\";\n");
	write_file("b.cfg", "\n\nbase = \"a.cfg\";\n");
	snprintf(path, sizeof(path), "%s/a.cfg", tmpdir);
	d = rg_dialect_load(path, err, sizeof(err));
	CHECK(d == NULL && errno == ELOOP, "loop accepted");
	CHECK(strstr(err, "b.cfg:3: base: base loop") != NULL, "loop: %s", err);
	free(d);

	write_file("self.cfg", "base = \"self.cfg\";\n");
	snprintf(path, sizeof(path), "%s/self.cfg", tmpdir);
	d = rg_dialect_load(path, err, sizeof(err));
	CHECK(d == NULL && strstr(err, "self.cfg:1: base: base loop") != NULL, "self loop: %s", err);
	free(d);

	/* d4 <- d3 <- d2 <- d1 <- d0 <- ascii87 is four bases above d4: fine;
	 * d5 needs five */
	write_file("d0.cfg", "base = \"ascii87\";\n");
	write_file("d1.cfg", "base = \"d0.cfg\";\n");
	write_file("d2.cfg", "base = \"d1.cfg\";\n");
	write_file("d3.cfg", "base = \"d2.cfg\";\n");
	write_file("d4.cfg", "base = \"d3.cfg\";\n");
	write_file("d5.cfg", "base = \"d4.cfg\";\n");
	snprintf(path, sizeof(path), "%s/d3.cfg", tmpdir);
	d = rg_dialect_load(path, err, sizeof(err));
	CHECK(d != NULL && d->de[2].type == N, "4 levels: %s", err);
	free(d);
	snprintf(path, sizeof(path), "%s/d4.cfg", tmpdir);
	d = rg_dialect_load(path, err, sizeof(err));
	CHECK(d == NULL && strstr(err, "base: bases nested deeper than 4 levels") != NULL, "5 levels: %s", err);
	free(d);

	write_file("missing.cfg", "name = \"m\";\nbase = \"nothere.cfg\";\n");
	snprintf(path, sizeof(path), "%s/missing.cfg", tmpdir);
	d = rg_dialect_load(path, err, sizeof(err));
	CHECK(d == NULL && strstr(err, "missing.cfg:2: base: ") != NULL && strstr(err, "No such file") != NULL,
	      "missing base: %s", err);
	free(d);

	/* errors in a base file name the base file */
	write_file("badbase.cfg", "fields = {\n de2 = \"n.19\";\n};\n");
	write_file("usesbad.cfg", "base = \"badbase.cfg\";\n");
	snprintf(path, sizeof(path), "%s/usesbad.cfg", tmpdir);
	d = rg_dialect_load(path, err, sizeof(err));
	CHECK(d == NULL && strstr(err, "badbase.cfg:2: fields.de2: bad format") != NULL, "base error: %s", err);
	free(d);

	d = rg_dialect_load("no-such-dialect", err, sizeof(err));
	CHECK(d == NULL && errno == ENOENT, "missing dialect");
	CHECK(strstr(err, "no-such-dialect") != NULL, "missing dialect message: %s", err);
	free(d);

	d = rg_dialect_load(tmpdir, err, sizeof(err));
	CHECK(d == NULL, "a directory is not a dialect");
	free(d);
}

int main(void)
{
	char cmd[128];

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_dialect.XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_builtins();
	test_base_files();
	test_errors();
	test_base_errors();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	return CHECK_DONE();
}
