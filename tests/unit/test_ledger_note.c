/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Signed notes, checkpoints and cosignatures (ledger/note.c):
 *   - known answers made by independent code: a checkpoint signed by Go's
 *     golang.org/x/mod/sumdb/note (Ed25519 is deterministic, so ours must
 *     give the same bytes), and a cosignature/v1 line made with Python's
 *     cryptography package;
 *   - round trip, and any changed byte of the text or signature breaks it;
 *   - the parser's refusals: every truncation, no newline at the end, no
 *     blank line, bad em dash, bad base64, control characters, invalid
 *     UTF-8, too many signatures, leading zeros, extension lines,
 *     non-canonical base64 roots;
 *   - a note with cosignatures still decodes as its origin's checkpoint.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ledger/ledger.h"
#include "check.h"

/* Made with Go 1.19 and golang.org/x/mod (Debian golang-golang-x-mod-dev):
 * note.Sign over "riskgate/demo/bank-a\n1077\n<root>\n" with the key whose
 * Ed25519 seed is bytes 0..31, root bytes 0xa0..0xbf. */
static const char go_vkey[] = "riskgate/demo/bank-a+bcde7d16+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4";
static const char go_note[] =
	"riskgate/demo/bank-a\n1077\noKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9vr8=\n\n"
	"\xe2\x80\x94 riskgate/demo/bank-a vN59FnDCeoGmRroSuQrc96LLEZRczzxdx4V9JszaNmzEpUn+XkLiSqdFe8WV"
	"xRPzSR8YeRlXHxjevpvE0mv9S9ICPQE=\n";
/* Made with Python's cryptography (Ed25519), by the tlog-cosignature
 * spec: witness riskgate/demo/bank-b, seed bytes 32..63, time 1800000000,
 * over go_note's text. */
static const char py_cosig[] =
	"\xe2\x80\x94 riskgate/demo/bank-b gH3ysQAAAABrSdIAWTmL6aK/lrF7s2lZch8FxoF2sUDGxo5M7zzKX/XU0M"
	"wgbnGfhB9YsmAFtvGhWFuAh7TvIPCSlFfhX6k7BYMKCQ==\n";

static void seed_key(uint8_t first, uint8_t pk[32], uint8_t sk[64])
{
	uint8_t seed[32];

	for (unsigned i = 0; i < 32; i++)
		seed[i] = (uint8_t)(first + i);
	crypto_sign_seed_keypair(pk, sk, seed);
}

static void test_known_answers(void)
{
	struct ledger_checkpoint c = { 0 }, d;
	uint8_t pk[32], sk[64], wpk[32], wsk[64];
	char buf[LEDGER_NOTE_MAX], vkey[256];
	struct ledger_note n;
	const char *why = "";
	uint64_t t = 0;
	int len;

	seed_key(0, pk, sk);
	seed_key(32, wpk, wsk);
	snprintf(c.origin, sizeof(c.origin), "riskgate/demo/bank-a");
	c.size = 1077;
	for (unsigned i = 0; i < 32; i++)
		c.root[i] = (uint8_t)(0xa0 + i);
	ledger_checkpoint_sign(&c, sk);
	len = ledger_checkpoint_encode(&c, buf, sizeof(buf));
	CHECK(len == (int)strlen(go_note) && memcmp(buf, go_note, (size_t)len) == 0,
	      "our checkpoint note differs from Go's:\n%.*s", len > 0 ? len : 0, buf);
	CHECK(ledger_note_vkey(vkey, sizeof(vkey), c.origin, LEDGER_NOTE_ALG_ED25519, pk) > 0 &&
		      strcmp(vkey, go_vkey) == 0,
	      "verifier key %s, Go says %s", vkey, go_vkey);
	CHECK_EQ(ledger_checkpoint_decode(go_note, strlen(go_note), &d, &why), 0, "%s", why);
	CHECK(ledger_checkpoint_sig_ok(&d, pk), "Go's note does not verify");
	CHECK(!ledger_checkpoint_sig_ok(&d, wpk), "Go's note verifies under another key");
	CHECK(d.size == 1077 && memcmp(d.root, c.root, 32) == 0, "decoded size and root");

	/* the cosignature: ours is the same bytes, and Python's verifies */
	len = ledger_cosign("riskgate/demo/bank-b", wsk, 1800000000, go_note,
			    (size_t)(strstr(go_note, "\n\n") - go_note) + 1, buf, sizeof(buf));
	CHECK(len == (int)strlen(py_cosig) && memcmp(buf, py_cosig, (size_t)len) == 0,
	      "our cosignature differs from Python's: %s", buf);
	snprintf(buf, sizeof(buf), "%s%s", go_note, py_cosig);
	CHECK_EQ(ledger_note_parse(buf, strlen(buf), &n, &why), 0, "%s", why);
	CHECK_EQ(n.nb_sigs, 2, "two signature lines");
	CHECK(n.nb_sigs == 2 && ledger_cosig_ok(&n.sigs[1], wpk, n.text, n.text_len, &t) &&
		      t == 1800000000,
	      "Python's cosignature does not verify");
	CHECK(n.nb_sigs == 2 && !ledger_cosig_ok(&n.sigs[1], pk, n.text, n.text_len, NULL),
	      "cosignature verifies under another key");
	CHECK(n.nb_sigs == 2 && !ledger_cosig_ok(&n.sigs[0], wpk, n.text, n.text_len, NULL),
	      "a note signature taken for a cosignature");
	/* a cosigned note still decodes as its origin's checkpoint */
	CHECK_EQ(ledger_checkpoint_decode(buf, strlen(buf), &d, &why), 0, "%s", why);
	CHECK(ledger_checkpoint_sig_ok(&d, pk), "cosigned note's own signature");
}

static void test_round_trip_and_flips(void)
{
	struct ledger_checkpoint c = { 0 }, d;
	uint8_t pk[32], sk[64];
	char buf[LEDGER_CHECKPOINT_MAX];
	const char *why;
	int len;

	crypto_sign_keypair(pk, sk);
	memset(&c, 0, sizeof(c)); /* padding too: the round trip compares whole structs */
	snprintf(c.origin, sizeof(c.origin), "riskgate/consortium-x/bank_c.9");
	for (uint64_t size = 0; size < 1ull << 62; size = size * 3 + 1) {
		c.size = size;
		randombytes_buf(c.root, 32);
		ledger_checkpoint_sign(&c, sk);
		len = ledger_checkpoint_encode(&c, buf, sizeof(buf));
		CHECK(len > 0 && len < LEDGER_CHECKPOINT_MAX, "encode size %llu",
		      (unsigned long long)size);
		CHECK(ledger_checkpoint_decode(buf, (size_t)len, &d, &why) == 0 &&
			      memcmp(&c, &d, sizeof(c)) == 0 && ledger_checkpoint_sig_ok(&d, pk),
		      "round trip of size %llu", (unsigned long long)size);
	}
	len = ledger_checkpoint_encode(&c, buf, sizeof(buf));
	/* every byte flipped: refused, or decodes to something that does not verify */
	for (int i = 0; i < len; i++) {
		for (unsigned bit = 0; bit < 8; bit++) {
			buf[i] ^= (char)(1u << bit);
			CHECK(ledger_checkpoint_decode(buf, (size_t)len, &d, &why) != 0 ||
				      !ledger_checkpoint_sig_ok(&d, pk),
			      "byte %d bit %u flipped still verifies", i, bit);
			buf[i] ^= (char)(1u << bit);
		}
	}
	/* every truncation and every extension by one byte is refused */
	for (int i = 0; i < len; i++)
		CHECK(ledger_checkpoint_decode(buf, (size_t)i, &d, &why) != 0 ||
			      !ledger_checkpoint_sig_ok(&d, pk),
		      "truncated at %d accepted", i);
}

struct bad_case {
	const char *name;
	const char *note;
};

#define SIG "\xe2\x80\x94 o AAAAAAAA\n"
#define ROOT "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="

static void test_refusals(void)
{
	static const struct bad_case cases[] = {
		{ "empty", "" },
		{ "no final newline", "o\n1\n" ROOT "\n\n\xe2\x80\x94 o AAAAAAAA" },
		{ "no blank line", "o\n1\n" ROOT "\n" SIG },
		{ "no signature", "o\n1\n" ROOT "\n\n" },
		{ "hyphen for em dash", "o\n1\n" ROOT "\n\n- o AAAAAAAA\n" },
		{ "no space after dash", "o\n1\n" ROOT "\n\n\xe2\x80\x94o AAAAAAAA\n" },
		{ "no key name", "o\n1\n" ROOT "\n\n\xe2\x80\x94  AAAAAAAA\n" },
		{ "bad base64", "o\n1\n" ROOT "\n\n\xe2\x80\x94 o AA*AAAAA\n" },
		{ "base64 without padding", "o\n1\n" ROOT "\n\n\xe2\x80\x94 o AAAAAAA\n" },
		{ "signature shorter than a key id", "o\n1\n" ROOT "\n\n\xe2\x80\x94 o AAAA\n" },
		{ "tab in text", "o\t\n1\n" ROOT "\n\n" SIG },
		{ "NUL in text", "o\n1\0\n" ROOT "\n\n" SIG },
		{ "DEL in text", "o\x7f\n1\n" ROOT "\n\n" SIG },
		{ "invalid UTF-8", "o\xc3\x28\n1\n" ROOT "\n\n" SIG },
		{ "overlong UTF-8", "o\xc0\xaf\n1\n" ROOT "\n\n" SIG },
		{ "UTF-16 surrogate", "o\xed\xa0\x80\n1\n" ROOT "\n\n" SIG },
		{ "C1 control", "o\xc2\x85\n1\n" ROOT "\n\n" SIG },
		{ "empty text", "\n\n" SIG },
	};
	static const struct bad_case cps[] = {
		{ "leading zero size", "o\n01\n" ROOT "\n\n" SIG },
		{ "negative size", "o\n-1\n" ROOT "\n\n" SIG },
		{ "size beyond 2^63-1", "o\n9223372036854775808\n" ROOT "\n\n" SIG },
		{ "size with a space", "o\n 1\n" ROOT "\n\n" SIG },
		{ "empty origin", "\n1\n" ROOT "\n\n" SIG },
		{ "origin with a space", "o x\n1\n" ROOT "\n\n" SIG },
		{ "short root", "o\n1\nAAAA\n\n" SIG },
		{ "root base64 not canonical", "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV=\n\n" SIG },
		{ "extension line", "o\n1\n" ROOT "\nextra\n\n" SIG },
		{ "no signature by the origin", "o\n1\n" ROOT "\n\n\xe2\x80\x94 p AAAAAAAAAAAAAAAAAAAA"
		  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n" },
	};
	struct ledger_note n;
	struct ledger_checkpoint c;
	const char *why;
	char big[LEDGER_NOTE_MAX + 64];
	size_t off;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].note);

		if (strcmp(cases[i].name, "NUL in text") == 0)
			len = sizeof("o\n1\0\n" ROOT "\n\n" SIG) - 1;
		why = NULL;
		CHECK(ledger_note_parse(cases[i].note, len, &n, &why) != 0 && why != NULL,
		      "note accepted: %s", cases[i].name);
	}
	for (size_t i = 0; i < sizeof(cps) / sizeof(cps[0]); i++) {
		why = NULL;
		CHECK(ledger_checkpoint_decode(cps[i].note, strlen(cps[i].note), &c, &why) != 0 &&
			      why != NULL,
		      "checkpoint accepted: %s", cps[i].name);
	}
	/* the well-formed neighbour of those cases is accepted */
	why = "";
	CHECK_EQ(ledger_note_parse("o\n1\n" ROOT "\n\n" SIG, strlen("o\n1\n" ROOT "\n\n" SIG), &n,
				   &why), 0, "%s", why);
	/* 32 signature lines pass, 33 do not; nor does a note past 8192 bytes */
	off = (size_t)snprintf(big, sizeof(big), "o\n1\n" ROOT "\n\n");
	for (unsigned i = 0; i < 33; i++) {
		memcpy(big + off, SIG, sizeof(SIG) - 1);
		off += sizeof(SIG) - 1;
		why = NULL;
		CHECK((ledger_note_parse(big, off, &n, &why) == 0) == (i < 32),
		      "%u signature lines: %s", i + 1, why ? why : "accepted");
	}
	memset(big, 'a', sizeof(big));
	big[0] = 'o';
	big[1] = '\n';
	memcpy(big + LEDGER_NOTE_MAX + 1 - sizeof(SIG), "\n" SIG, sizeof(SIG));
	CHECK(ledger_note_parse(big, LEDGER_NOTE_MAX + 1, &n, &why) == -EMSGSIZE,
	      "note of 8193 bytes accepted");
}

static void test_origins(void)
{
	char text[4096], err[256], origin[LEDGER_ORIGIN_MAX + 1];
	struct ledger_consortium *cs = calloc(1, sizeof(*cs));
	uint8_t pk[32], sk[64];
	size_t off;

	crypto_sign_keypair(pk, sk);
	off = (size_t)snprintf(text, sizeof(text),
			       "{\"format\": \"riskgate-genesis\", \"version\": 1, \"consortium\": "
			       "\"demo\", \"lists\": [{\"bit\": 0, \"name\": \"txn_fraud\"}], "
			       "\"members\": [");
	for (unsigned m = 0; m < 2; m++) {
		uint8_t id[8], p2[32];
		char hx[65], ih[17];

		memcpy(p2, pk, 32);
		p2[0] ^= (uint8_t)m;
		ledger_member_id(p2, id);
		for (unsigned i = 0; i < 32; i++)
			sprintf(hx + 2 * i, "%02x", p2[i]);
		for (unsigned i = 0; i < 8; i++)
			sprintf(ih + 2 * i, "%02x", id[i]);
		off += (size_t)snprintf(text + off, sizeof(text) - off,
					"%s{\"name\": \"bank-%c\", \"id\": \"%s\", \"public_key\": "
					"\"%s\"}", m ? ", " : "", 'a' + m, ih, hx);
	}
	snprintf(text + off, sizeof(text) - off, "]}");
	CHECK_EQ(ledger_genesis_parse(text, strlen(text), cs, err, sizeof(err)), 0, "%s", err);
	CHECK(ledger_origin(cs, 1, origin, sizeof(origin)) == 0 &&
		      strcmp(origin, "riskgate/demo/bank-b") == 0,
	      "origin %s", origin);
	CHECK_EQ(ledger_origin_member(cs, "riskgate/demo/bank-b"), 1, "bank-b");
	CHECK_EQ(ledger_origin_member(cs, "riskgate/demo/bank-a"), 0, "bank-a");
	CHECK(ledger_origin_member(cs, "riskgate/demo/bank-c") < 0, "no bank-c");
	CHECK(ledger_origin_member(cs, "riskgate/demox/bank-a") < 0, "other consortium");
	CHECK(ledger_origin_member(cs, "riskgate/dem/bank-a") < 0, "consortium prefix");
	CHECK(ledger_origin_member(cs, "example.com/demo/bank-a") < 0, "other prefix");
	CHECK(ledger_origin(cs, 2, origin, sizeof(origin)) == -ENOENT, "member 2");
	free(cs);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	test_known_answers();
	test_round_trip_and_flips();
	test_refusals();
	test_origins();
	return CHECK_DONE();
}
