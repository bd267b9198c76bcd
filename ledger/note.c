/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Signed notes (C2SP signed-note), checkpoints (C2SP tlog-checkpoint) and
 * witness cosignatures (C2SP tlog-cosignature, cosignature/v1).  Formats in
 * docs/sync.md.
 *
 * A note is UTF-8 text ending in a newline, a blank line, then one or more
 * signature lines "— <key name> <base64(key id || signature)>".  A key id is
 * the first 4 bytes of SHA-256(name || "\n" || algorithm byte || public
 * key): 0x01 for Ed25519 note signatures, 0x04 for cosignature/v1.
 *
 * A checkpoint is the note "<origin>\n<size>\n<base64 root>\n" signed by its
 * log's key, whose name is the origin.  A checkpoint has one text per (origin,
 * size, root): the parser refuses leading zeros, non-canonical base64 and
 * extension lines, so the stored note, its text and what it commits to are
 * the same thing.
 *
 * Input comes from peers: every parser is bounded (LEDGER_NOTE_MAX bytes,
 * LEDGER_NOTE_SIGS_MAX signature lines) and says what was wrong.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "ledger/internal.h"
#include "ledger/ledger.h"

static const char em_dash[] = "\xe2\x80\x94 "; /* U+2014 and a space */
#define EM_DASH_LEN 4

void ledger_note_keyid(const char *name, uint8_t alg, const uint8_t pk[LEDGER_PK_BYTES],
		       uint8_t out[LEDGER_KEYID_BYTES])
{
	crypto_hash_sha256_state st;
	uint8_t h[32];
	const uint8_t nl = '\n';

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)name, strlen(name));
	crypto_hash_sha256_update(&st, &nl, 1);
	crypto_hash_sha256_update(&st, &alg, 1);
	crypto_hash_sha256_update(&st, pk, LEDGER_PK_BYTES);
	crypto_hash_sha256_final(&st, h);
	memcpy(out, h, LEDGER_KEYID_BYTES);
}

int ledger_note_vkey(char *out, size_t cap, const char *name, uint8_t alg,
		     const uint8_t pk[LEDGER_PK_BYTES])
{
	uint8_t id[LEDGER_KEYID_BYTES], raw[1 + LEDGER_PK_BYTES];
	char b64[64];
	int n;

	ledger_note_keyid(name, alg, pk, id);
	raw[0] = alg;
	memcpy(raw + 1, pk, LEDGER_PK_BYTES);
	sodium_bin2base64(b64, sizeof(b64), raw, sizeof(raw), sodium_base64_VARIANT_ORIGINAL);
	n = snprintf(out, cap, "%s+%02x%02x%02x%02x+%s", name, id[0], id[1], id[2], id[3], b64);
	return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}

/* Whether s[0..len) is valid UTF-8 without control characters other than
 * newline (the signed-note text rule), and, for names, without spaces or
 * '+'. */
static bool text_ok(const uint8_t *s, size_t len, bool name)
{
	size_t i = 0;

	while (i < len) {
		uint8_t c = s[i];
		uint32_t cp;
		unsigned n;

		if (c < 0x80) {
			if ((c < 0x20 && c != '\n') || c == 0x7f)
				return false;
			if (name && (c == ' ' || c == '+' || c == '\n'))
				return false;
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3, cp = c & 0x07;
		else
			return false;
		if (len - i <= n)
			return false;
		for (unsigned k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		/* C1 controls and Unicode spaces are not allowed in names */
		if (cp >= 0x80 && cp < 0xa0)
			return false;
		if (name && (cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) ||
			     cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f ||
			     cp == 0x3000))
			return false;
		i += n + 1;
	}
	return true;
}

/* Strict standard base64 (with padding) of s[0..len) into out (cap bytes):
 * decoded length, or -1 when not canonical (re-encoding must give the same
 * text, so one value has one spelling). */
static long b64_decode(const char *s, size_t len, uint8_t *out, size_t cap)
{
	char again[LEDGER_NOTE_MAX];
	size_t n;

	if (len == 0 || len % 4 != 0 || len >= sizeof(again))
		return -1;
	if (sodium_base642bin(out, cap, s, len, NULL, &n, NULL, sodium_base64_VARIANT_ORIGINAL) !=
	    0)
		return -1;
	sodium_bin2base64(again, sizeof(again), out, n, sodium_base64_VARIANT_ORIGINAL);
	if (strlen(again) != len || memcmp(again, s, len) != 0)
		return -1;
	return (long)n;
}

int ledger_note_parse(const char *in, size_t len, struct ledger_note *n, const char **why)
{
	const char *end = in + len, *p, *sep = NULL;

	memset(n, 0, sizeof(*n));
	if (len > LEDGER_NOTE_MAX) {
		*why = "note longer than 8192 bytes";
		return -EMSGSIZE;
	}
	if (len < 2 || in[len - 1] != '\n') {
		*why = "note does not end with a newline";
		return -EBADMSG;
	}
	if (memchr(in, '\0', len) != NULL || !text_ok((const uint8_t *)in, len, false)) {
		*why = "note is not UTF-8 text without control characters";
		return -EBADMSG;
	}
	/* the text ends at the last blank line: signatures hold no newline pair */
	for (p = end - 1; p > in; p--) {
		if (p[0] == '\n' && p[-1] == '\n') {
			sep = p;
			break;
		}
	}
	if (sep == NULL || sep == in + 1) {
		*why = "note has no text and blank line before its signatures";
		return -EBADMSG;
	}
	n->text = in;
	n->text_len = (size_t)(sep - in);
	for (p = sep + 1; p < end;) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *name, *sp;
		struct ledger_note_sig *s;
		uint8_t raw[LEDGER_KEYID_BYTES + LEDGER_NOTE_SIG_MAX];
		long rawlen;

		if (eol - p < EM_DASH_LEN || memcmp(p, em_dash, EM_DASH_LEN) != 0) {
			*why = "signature line does not start with an em dash and a space";
			return -EBADMSG;
		}
		name = p + EM_DASH_LEN;
		sp = memchr(name, ' ', (size_t)(eol - name));
		if (sp == NULL || sp == name) {
			*why = "signature line has no key name and signature";
			return -EBADMSG;
		}
		if ((size_t)(sp - name) > LEDGER_KEY_NAME_MAX ||
		    !text_ok((const uint8_t *)name, (size_t)(sp - name), true)) {
			*why = "signature line has a bad key name";
			return -EBADMSG;
		}
		if (n->nb_sigs == LEDGER_NOTE_SIGS_MAX) {
			*why = "note has more than 32 signature lines";
			return -E2BIG;
		}
		rawlen = b64_decode(sp + 1, (size_t)(eol - sp - 1), raw, sizeof(raw));
		if (rawlen < LEDGER_KEYID_BYTES + 1) {
			*why = "signature line has a bad base64 signature";
			return -EBADMSG;
		}
		s = &n->sigs[n->nb_sigs++];
		memcpy(s->name, name, (size_t)(sp - name));
		s->name[sp - name] = '\0';
		memcpy(s->keyid, raw, LEDGER_KEYID_BYTES);
		s->sig_len = (size_t)rawlen - LEDGER_KEYID_BYTES;
		memcpy(s->sig, raw + LEDGER_KEYID_BYTES, s->sig_len);
		p = eol + 1;
	}
	if (n->nb_sigs == 0) {
		*why = "note has no signature";
		return -EBADMSG;
	}
	return 0;
}

int ledger_note_sig_line(char *out, size_t cap, const char *name,
			 const uint8_t keyid[LEDGER_KEYID_BYTES], const uint8_t *sig,
			 size_t sig_len)
{
	uint8_t raw[LEDGER_KEYID_BYTES + LEDGER_NOTE_SIG_MAX];
	char b64[sodium_base64_ENCODED_LEN(sizeof(raw), sodium_base64_VARIANT_ORIGINAL)];
	int n;

	if (sig_len > LEDGER_NOTE_SIG_MAX)
		return -EINVAL;
	memcpy(raw, keyid, LEDGER_KEYID_BYTES);
	memcpy(raw + LEDGER_KEYID_BYTES, sig, sig_len);
	sodium_bin2base64(b64, sizeof(b64), raw, LEDGER_KEYID_BYTES + sig_len,
			  sodium_base64_VARIANT_ORIGINAL);
	n = snprintf(out, cap, "%s%s %s\n", em_dash, name, b64);
	return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}

/* ---- checkpoints ---- */

int ledger_origin(const struct ledger_consortium *c, unsigned member, char *out, size_t cap)
{
	int n;

	if (member >= c->nb_members)
		return -ENOENT;
	n = snprintf(out, cap, "%s%s/%s", LEDGER_ORIGIN_PREFIX, c->name, c->members[member].name);
	return n < 0 || (size_t)n >= cap ? -ENOSPC : 0;
}

int ledger_origin_member(const struct ledger_consortium *c, const char *origin)
{
	size_t pl = strlen(LEDGER_ORIGIN_PREFIX), cl = strlen(c->name);

	if (strncmp(origin, LEDGER_ORIGIN_PREFIX, pl) != 0 ||
	    strncmp(origin + pl, c->name, cl) != 0 || origin[pl + cl] != '/')
		return -ENOENT;
	return ledger_member_find_name(c, origin + pl + cl + 1);
}

int ledger_checkpoint_body(const struct ledger_checkpoint *c, char *out, size_t cap)
{
	char b64[sodium_base64_ENCODED_LEN(LEDGER_HASH_BYTES, sodium_base64_VARIANT_ORIGINAL)];
	int n;

	sodium_bin2base64(b64, sizeof(b64), c->root, LEDGER_HASH_BYTES,
			  sodium_base64_VARIANT_ORIGINAL);
	n = snprintf(out, cap, "%s\n%llu\n%s\n", c->origin, (unsigned long long)c->size, b64);
	return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}

int ledger_checkpoint_encode(const struct ledger_checkpoint *c, char *out, size_t cap)
{
	int n = ledger_checkpoint_body(c, out, cap), m;

	if (n < 0 || (size_t)n + 1 >= cap)
		return -ENOSPC;
	out[n++] = '\n';
	m = ledger_note_sig_line(out + n, cap - (size_t)n, c->origin, c->keyid, c->sig,
				 LEDGER_SIG_BYTES);
	return m < 0 ? m : n + m;
}

int ledger_checkpoint_parse_body(const char *text, size_t len, struct ledger_checkpoint *c,
				 const char **why)
{
	const char *p = text, *end = text + len, *eol;
	uint64_t size = 0;

	memset(c, 0, sizeof(*c));
	eol = memchr(p, '\n', len);
	if (eol == NULL || eol == p || (size_t)(eol - p) > LEDGER_ORIGIN_MAX ||
	    memchr(p, ' ', (size_t)(eol - p)) != NULL || memchr(p, '+', (size_t)(eol - p)) != NULL) {
		*why = "checkpoint origin line is empty, too long or holds a space or '+'";
		return -EBADMSG;
	}
	memcpy(c->origin, p, (size_t)(eol - p));
	p = eol + 1;
	eol = memchr(p, '\n', (size_t)(end - p));
	if (eol == NULL || eol == p || eol - p > 19 || (p[0] == '0' && eol - p > 1)) {
		*why = "checkpoint size line is not a decimal number without leading zeros";
		return -EBADMSG;
	}
	for (const char *q = p; q < eol; q++) {
		if (*q < '0' || *q > '9') {
			*why = "checkpoint size line is not a decimal number without leading zeros";
			return -EBADMSG;
		}
		size = size * 10 + (uint64_t)(*q - '0');
	}
	if (size > INT64_MAX) {
		*why = "checkpoint size is beyond 2^63-1";
		return -EBADMSG;
	}
	c->size = size;
	p = eol + 1;
	eol = memchr(p, '\n', (size_t)(end - p));
	if (eol == NULL || b64_decode(p, (size_t)(eol - p), c->root, LEDGER_HASH_BYTES) !=
				   LEDGER_HASH_BYTES) {
		*why = "checkpoint root line is not the canonical base64 of 32 bytes";
		return -EBADMSG;
	}
	if (eol + 1 != end) {
		*why = "checkpoint has lines after its root (no extension lines are defined)";
		return -EBADMSG;
	}
	return 0;
}

int ledger_checkpoint_decode(const char *in, size_t len, struct ledger_checkpoint *c,
			     const char **why)
{
	struct ledger_note n;
	const char *w = NULL;
	unsigned own = 0;
	int rc;

	if (why == NULL)
		why = &w;
	rc = ledger_note_parse(in, len, &n, why);
	if (rc != 0)
		return rc;
	rc = ledger_checkpoint_parse_body(n.text, n.text_len, c, why);
	if (rc != 0)
		return rc;
	for (unsigned i = 0; i < n.nb_sigs; i++) {
		if (strcmp(n.sigs[i].name, c->origin) != 0 || n.sigs[i].sig_len != LEDGER_SIG_BYTES)
			continue; /* a cosignature, or a key this reader does not know */
		if (own++ != 0) {
			*why = "checkpoint holds two signatures by its origin's key";
			return -EBADMSG;
		}
		memcpy(c->keyid, n.sigs[i].keyid, LEDGER_KEYID_BYTES);
		memcpy(c->sig, n.sigs[i].sig, LEDGER_SIG_BYTES);
	}
	if (own == 0) {
		*why = "checkpoint is not signed by a key named as its origin";
		return -EBADMSG;
	}
	return 0;
}

void ledger_checkpoint_sign(struct ledger_checkpoint *c, const uint8_t *sk)
{
	char body[LEDGER_CHECKPOINT_MAX];
	int n = ledger_checkpoint_body(c, body, sizeof(body));

	ledger_note_keyid(c->origin, LEDGER_NOTE_ALG_ED25519, sk + 32, c->keyid);
	crypto_sign_detached(c->sig, NULL, (const uint8_t *)body, n > 0 ? (size_t)n : 0, sk);
}

bool ledger_checkpoint_sig_ok(const struct ledger_checkpoint *c,
			      const uint8_t pk[LEDGER_PK_BYTES])
{
	char body[LEDGER_CHECKPOINT_MAX];
	uint8_t id[LEDGER_KEYID_BYTES];
	int n = ledger_checkpoint_body(c, body, sizeof(body));

	ledger_note_keyid(c->origin, LEDGER_NOTE_ALG_ED25519, pk, id);
	return n > 0 && memcmp(id, c->keyid, LEDGER_KEYID_BYTES) == 0 &&
	       crypto_sign_verify_detached(c->sig, (const uint8_t *)body, (size_t)n, pk) == 0;
}

int ledger_checkpoint_member(const struct ledger_consortium *cons,
			     const struct ledger_checkpoint *c)
{
	return ledger_origin_member(cons, c->origin);
}

/* ---- cosignatures (cosignature/v1) ---- */

/* "cosignature/v1\ntime <t>\n" || checkpoint text */
static size_t cosig_message(uint8_t *out, size_t cap, uint64_t time_s, const char *text,
			    size_t text_len)
{
	int n = snprintf((char *)out, cap, "cosignature/v1\ntime %llu\n",
			 (unsigned long long)time_s);

	if (n < 0 || (size_t)n + text_len > cap)
		return 0;
	memcpy(out + n, text, text_len);
	return (size_t)n + text_len;
}

int ledger_cosign(const char *name, const uint8_t *sk, uint64_t time_s, const char *text,
		  size_t text_len, char *line, size_t cap)
{
	uint8_t msg[LEDGER_NOTE_MAX + 64], sig[8 + LEDGER_SIG_BYTES], id[LEDGER_KEYID_BYTES];
	size_t mlen = cosig_message(msg, sizeof(msg), time_s, text, text_len);

	if (mlen == 0)
		return -EMSGSIZE;
	ledger_put64(sig, time_s);
	crypto_sign_detached(sig + 8, NULL, msg, mlen, sk);
	ledger_note_keyid(name, LEDGER_NOTE_ALG_COSIG, sk + 32, id);
	return ledger_note_sig_line(line, cap, name, id, sig, sizeof(sig));
}

bool ledger_cosig_ok(const struct ledger_note_sig *s, const uint8_t pk[LEDGER_PK_BYTES],
		     const char *text, size_t text_len, uint64_t *time_s)
{
	uint8_t msg[LEDGER_NOTE_MAX + 64], id[LEDGER_KEYID_BYTES];
	size_t mlen;
	uint64_t t;

	if (s->sig_len != 8 + LEDGER_SIG_BYTES)
		return false;
	ledger_note_keyid(s->name, LEDGER_NOTE_ALG_COSIG, pk, id);
	if (memcmp(id, s->keyid, LEDGER_KEYID_BYTES) != 0)
		return false;
	t = ledger_get64(s->sig);
	mlen = cosig_message(msg, sizeof(msg), t, text, text_len);
	if (mlen == 0 || crypto_sign_verify_detached(s->sig + 8, msg, mlen, pk) != 0)
		return false;
	if (time_s != NULL)
		*time_s = t;
	return true;
}
