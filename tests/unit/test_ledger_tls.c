/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A member's TLS key (ledger/tlskey.c, and its place in member.pub,
 * ledger/member.c), checked with OpenSSL as an outsider reads the files:
 *   - the pin is curl's: SHA-256 of the DER SubjectPublicKeyInfo that
 *     OpenSSL's i2d_PUBKEY writes, base64, for the RFC 8032 test key and a
 *     generated one;
 *   - tls.key is a PKCS#8 Ed25519 key, mode 0600, and tls.crt a v3
 *     certificate for it with the member name, CA:FALSE, digitalSignature,
 *     serverAuth + clientAuth, from an hour ago for 20 years;
 *   - refusals: files already there, a key file that group or others may
 *     read or that is a link, a key that is not the certificate's;
 *   - member.pub's tls line: optional, checked, added to an old directory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "ledger/ledger.h"
#include "check.h"
#include "ledger_fixture.h"

static char base[128];

/* RFC 8032 section 7.1, test 1: the public key. */
static const char rfc8032_pk[] =
	"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

/* The pin of pk from OpenSSL's own DER encoder (i2d_PUBKEY), not the fixed
 * prefix ledger_tls_pin uses. */
static void pin_by_openssl(const uint8_t pk[32], char *out, size_t cap)
{
	EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pk, 32);
	unsigned char *der = NULL, h[SHA256_DIGEST_LENGTH], b64[48];
	int n = k != NULL ? i2d_PUBKEY(k, &der) : -1;

	CHECK(n > 0, "i2d_PUBKEY");
	if (n > 0) {
		SHA256(der, (size_t)n, h);
		EVP_EncodeBlock(b64, h, sizeof(h));
		snprintf(out, cap, "sha256//%s", b64);
	}
	OPENSSL_free(der);
	EVP_PKEY_free(k);
}

static void test_pin(void)
{
	uint8_t pk[32];
	char pin[LEDGER_TLS_PIN_MAX], want[LEDGER_TLS_PIN_MAX];

	CHECK_EQ(ledger_unhex(rfc8032_pk, 64, pk, 32), 0, "test key");
	ledger_tls_pin(pk, pin);
	pin_by_openssl(pk, want, sizeof(want));
	CHECK(strcmp(pin, want) == 0, "pin %s, OpenSSL %s", pin, want);
	/* the same, worked out once with `openssl pkey -pubin -outform der |
	 * openssl dgst -sha256 -binary | base64`: a regression value */
	CHECK(strcmp(pin, "sha256//BuP9j9opu2CrWVV95h7bCuzbIxE0vjDnW0Vfjht5L6k=") == 0, "pin %s",
	      pin);
	CHECK_EQ(strlen(pin), 52, "pin length");
	for (unsigned i = 0; i < 100; i++) {
		randombytes_buf(pk, sizeof(pk));
		ledger_tls_pin(pk, pin);
		pin_by_openssl(pk, want, sizeof(want));
		CHECK(strcmp(pin, want) == 0, "random key %u: pin %s, OpenSSL %s", i, pin, want);
	}
}

static X509 *read_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x = f != NULL ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;

	if (f != NULL)
		fclose(f);
	return x;
}

/* tls.crt as ledger/tlskey.c describes it (RFC 5280 fields), for key pk. */
static void check_cert(const char *path, const char *name, const uint8_t pk[32])
{
	X509 *x = read_cert(path);
	uint8_t got[32];
	size_t len = sizeof(got);
	char cn[64] = "";
	time_t now = time(NULL), t;
	GENERAL_NAMES *san;
	const ASN1_INTEGER *serial;
	int day, sec;

	CHECK(x != NULL, "%s: a PEM certificate", path);
	if (x == NULL)
		return;
	CHECK_EQ(X509_get_version(x), X509_VERSION_3, "v3");
	CHECK_EQ(EVP_PKEY_get_id(X509_get0_pubkey(x)), EVP_PKEY_ED25519, "Ed25519 key");
	CHECK(EVP_PKEY_get_raw_public_key(X509_get0_pubkey(x), got, &len) == 1 && len == 32 &&
	      memcmp(got, pk, 32) == 0, "the certificate's key is the key returned");
	CHECK_EQ(X509_verify(x, X509_get0_pubkey(x)), 1, "self-signed");
	X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
	CHECK(strcmp(cn, name) == 0, "CN %s", cn);
	CHECK_EQ(X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)), 0,
		 "issuer = subject");
	serial = X509_get0_serialNumber(x);
	CHECK(ASN1_STRING_length(serial) >= 8 && serial->type == V_ASN1_INTEGER,
	      "a random positive serial");
	/* start an hour back (clock skew between members), 20 years long */
	t = now - 3600;
	CHECK(ASN1_TIME_cmp_time_t(X509_get0_notBefore(x), t - 60) > 0 &&
	      ASN1_TIME_cmp_time_t(X509_get0_notBefore(x), t + 60) < 0, "notBefore now - 1 h");
	CHECK(ASN1_TIME_diff(&day, &sec, X509_get0_notBefore(x), X509_get0_notAfter(x)) == 1 &&
	      day == 7305 && sec == 0, "20 years: %d days %d s", day, sec);
	CHECK((X509_get_extension_flags(x) & EXFLAG_CA) == 0 &&
	      (X509_get_extension_flags(x) & EXFLAG_BCONS) != 0, "CA:FALSE");
	CHECK(X509_get_key_usage(x) == KU_DIGITAL_SIGNATURE, "keyUsage digitalSignature only");
	CHECK(X509_get_extended_key_usage(x) == (XKU_SSL_SERVER | XKU_SSL_CLIENT),
	      "serverAuth and clientAuth: %x", X509_get_extended_key_usage(x));
	CHECK_EQ(X509_check_host(x, name, 0, 0, NULL), 1, "SAN DNS:%s", name);
	san = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	CHECK(san != NULL && sk_GENERAL_NAME_num(san) == 1, "one subjectAltName");
	GENERAL_NAMES_free(san);
	X509_free(x);
}

static void check_mode(const char *path, mode_t want)
{
	struct stat st;

	CHECK(lstat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == want,
	      "%s mode %o", path, (unsigned)(st.st_mode & 07777));
}

static void test_files(void)
{
	char dir[192], dir2[192], key[256], crt[256], p[256], err[LEDGER_ERR_MAX], text[256];
	uint8_t pk[32], pk2[32], got[32];
	FILE *f;

	snprintf(dir, sizeof(dir), "%s/one", base);
	snprintf(dir2, sizeof(dir2), "%s/two", base);
	snprintf(key, sizeof(key), "%s/tls.key", dir);
	snprintf(crt, sizeof(crt), "%s/tls.crt", dir);
	CHECK(mkdir(dir, 0700) == 0 && mkdir(dir2, 0700) == 0, "dirs");
	CHECK_EQ(ledger_tls_generate(dir, "bank-one", pk, err, sizeof(err)), 0, "generate: %s",
		 err);
	check_mode(key, 0600);
	check_mode(crt, 0644);
	f = fopen(key, "r");
	CHECK(f != NULL && fgets(text, sizeof(text), f) != NULL &&
	      strcmp(text, "-----BEGIN PRIVATE KEY-----\n") == 0, "PKCS#8 PEM");
	if (f != NULL)
		fclose(f);
	check_cert(crt, "bank-one", pk);
	CHECK_EQ(ledger_tls_load_pub(dir, got, err, sizeof(err)), 0, "load: %s", err);
	CHECK(memcmp(got, pk, 32) == 0, "load gives the generated key");

	/* never over a key that is there */
	err[0] = '\0';
	CHECK_EQ(ledger_tls_generate(dir, "bank-one", pk2, err, sizeof(err)), -EEXIST, "again");
	CHECK(strstr(err, "already there") != NULL, "again: %s", err);
	CHECK_EQ(ledger_tls_load_pub(dir, got, err, sizeof(err)), 0, "untouched: %s", err);
	CHECK(memcmp(got, pk, 32) == 0, "the first key stays");
	CHECK_EQ(ledger_tls_generate(dir2, "4111111111111111", pk2, err, sizeof(err)), -EINVAL,
		 "a digit-run name");
	CHECK(strstr(err, "1111") == NULL, "name not quoted: %s", err);

	/* mode: as member.key, group or other access refused with the fix */
	for (mode_t m = 0640; m <= 0644; m += 4) {
		chmod(key, m);
		err[0] = '\0';
		CHECK_EQ(ledger_tls_load_pub(dir, got, err, sizeof(err)), -EPERM, "mode %o", m);
		snprintf(text, sizeof(text), "permissions %04o are too open", (unsigned)m);
		CHECK(strstr(err, text) != NULL && strstr(err, "chmod 600") != NULL, "%s", err);
	}
	chmod(key, 0400);
	CHECK_EQ(ledger_tls_load_pub(dir, got, err, sizeof(err)), 0, "0400: %s", err);
	chmod(key, 0600);

	/* another member's key with this certificate */
	CHECK_EQ(ledger_tls_generate(dir2, "bank-two", pk2, err, sizeof(err)), 0, "two: %s", err);
	snprintf(p, sizeof(p), "%s/tls.key", dir2);
	snprintf(text, sizeof(text), "%s/tls.key.mine", dir);
	CHECK(rename(key, text) == 0, "keep the key aside");
	fixture_copy(p, key, 0600);
	err[0] = '\0';
	CHECK_EQ(ledger_tls_load_pub(dir, got, err, sizeof(err)), -EKEYREJECTED, "wrong key");
	CHECK(strstr(err, "does not hold the key of") != NULL, "wrong key: %s", err);

	/* a link is not followed */
	unlink(key);
	CHECK(symlink(text, key) == 0, "symlink");
	CHECK(ledger_tls_load_pub(dir, got, err, sizeof(err)) == -ELOOP, "link followed");
	unlink(key);
	CHECK(rename(text, key) == 0, "key back");
	CHECK_EQ(ledger_tls_load_pub(dir, got, err, sizeof(err)), 0, "restored: %s", err);

	/* the certificate of another key, or no certificate */
	snprintf(p, sizeof(p), "%s/tls.crt", dir2);
	unlink(crt);
	fixture_copy(p, crt, 0644);
	CHECK_EQ(ledger_tls_load_pub(dir, got, err, sizeof(err)), -EKEYREJECTED, "other cert");
	unlink(crt);
	CHECK_EQ(ledger_tls_load_pub(dir, got, err, sizeof(err)), -ENOENT, "no cert");
	CHECK(strstr(err, "tls.crt") != NULL, "no cert: %s", err);
}

/* member.pub of dir without its tls line, and with line added (not NULL). */
static void pub_replace_tls(const char *dir, const char *line)
{
	char path[PATH_MAX], text[1024], out[1024];
	FILE *f;
	size_t n, o = 0;
	char *p, *save = NULL;

	snprintf(path, sizeof(path), "%s/member.pub", dir);
	f = fopen(path, "r");
	n = f != NULL ? fread(text, 1, sizeof(text) - 1, f) : 0;
	if (f != NULL)
		fclose(f);
	text[n] = '\0';
	for (p = strtok_r(text, "\n", &save); p != NULL; p = strtok_r(NULL, "\n", &save))
		if (strncmp(p, "tls ", 4) != 0)
			o += (size_t)snprintf(out + o, sizeof(out) - o, "%s\n", p);
	if (line != NULL)
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s\n", line);
	f = fopen(path, "w");
	CHECK(f != NULL && fwrite(out, 1, o, f) == o, "write %s", path);
	if (f != NULL)
		fclose(f);
}

static void test_member_pub(void)
{
	char dir[192], p[256], err[LEDGER_ERR_MAX], line[128], hex[65];
	struct ledger_member m, m2;
	uint8_t pk[32], tls[32];

	snprintf(dir, sizeof(dir), "%s/m", base);
	CHECK(mkdir(dir, 0700) == 0, "dir");
	CHECK_EQ(ledger_identity_generate(dir, "bank-m", err, sizeof(err)), 0, "identity: %s",
		 err);
	CHECK_EQ(ledger_pub_load(dir, &m, err, sizeof(err)), 0, "pub: %s", err);
	CHECK(m.has_tls, "init lists the TLS key");
	CHECK_EQ(ledger_tls_load_pub(dir, pk, err, sizeof(err)), 0, "tls: %s", err);
	CHECK(memcmp(pk, m.tls_pk, 32) == 0, "member.pub lists the key of tls.crt");
	CHECK(memcmp(m.pk, m.tls_pk, 32) != 0, "TLS key separate from the ledger key");
	CHECK_EQ(ledger_identity_add_tls(dir, tls, err, sizeof(err)), -EEXIST, "second key");

	/* bad tls lines */
	ledger_hex(m.pk, 32, hex);
	snprintf(line, sizeof(line), "tls %s", hex);
	{
		static const struct {
			const char *line; /* NULL: m's ledger key */
			const char *why;
		} bad[] = {
			{ "tls zz", "want 64 hex digits" },
			{ "tls 00", "want 64 hex digits" },
			{ "tls 0000000000000000000000000000000000000000000000000000000000000000",
			  "is all zero" },
			{ NULL, "equals the ledger public key" },
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			pub_replace_tls(dir, bad[i].line != NULL ? bad[i].line : line);
			err[0] = '\0';
			CHECK_EQ(ledger_pub_load(dir, &m2, err, sizeof(err)), -EINVAL, "bad %zu",
				 i);
			CHECK(strstr(err, bad[i].why) != NULL, "bad %zu: %s", i, err);
		}
	}

	/* a directory made before TLS keys: no tls line, no tls files */
	pub_replace_tls(dir, NULL);
	CHECK_EQ(ledger_pub_load(dir, &m2, err, sizeof(err)), 0, "old member.pub: %s", err);
	CHECK(!m2.has_tls && sodium_is_zero(m2.tls_pk, 32), "old member.pub: no TLS key");
	CHECK_EQ(ledger_identity_add_tls(dir, tls, err, sizeof(err)), -EEXIST,
		 "tls files there, member.pub without the line");
	snprintf(p, sizeof(p), "%s/tls.key", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/tls.crt", dir);
	unlink(p);
	CHECK_EQ(ledger_identity_add_tls(dir, tls, err, sizeof(err)), 0, "add: %s", err);
	CHECK_EQ(ledger_pub_load(dir, &m2, err, sizeof(err)), 0, "pub after add: %s", err);
	CHECK(m2.has_tls && memcmp(m2.tls_pk, tls, 32) == 0, "member.pub lists the new key");
	CHECK(memcmp(m2.pk, m.pk, 32) == 0 && strcmp(m2.name, m.name) == 0, "rest unchanged");
	CHECK(memcmp(tls, m.tls_pk, 32) != 0, "a new key");
	CHECK_EQ(ledger_tls_load_pub(dir, pk, err, sizeof(err)), 0, "tls after add: %s", err);
	CHECK(memcmp(pk, tls, 32) == 0, "files and member.pub agree");
	snprintf(p, sizeof(p), "%s/member.pub.new", dir);
	CHECK(access(p, F_OK) != 0, "no temporary file left");
	snprintf(p, sizeof(p), "%s/tls.crt", dir);
	check_cert(p, "bank-m", tls);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	test_pin();
	if (fixture_tmpdir(base, sizeof(base), "rg-ledger-tls") != 0)
		return 1;
	test_files();
	test_member_pub();
	if (fixture_rmdir(base) != 0)
		return 1;
	return CHECK_DONE();
}
