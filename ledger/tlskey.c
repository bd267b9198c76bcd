/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A member's TLS key: DIR/tls.key (Ed25519, PKCS#8 PEM, mode 0600) and
 * DIR/tls.crt (a self-signed X.509 v3 certificate for it), and the pin by
 * which peers know it.  Daemons sync over HTTPS with mutual TLS 1.3 and
 * pin the key their peer's membership lists; there is no CA, so the
 * certificate only carries the key (its names and dates are for the TLS
 * libraries, which want a certificate).
 *
 * The key is separate from the ledger key (member.key): that one signs what
 * lasts forever, this one authenticates connections and may be replaced.
 * Both files are created with O_EXCL | O_NOFOLLOW.  tls.key is refused
 * unless it is a regular file that only its owner may access, as member.key
 * is.  The private key is only in OpenSSL's objects, which wipe it when
 * freed, in its secure-heap BIO and in a stack buffer, both wiped on every
 * path.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "ledger/internal.h"
#include "ledger/ledger.h"

#define TLS_FILE_MAX 4096
#define TLS_CERT_DAYS 7305 /* 20 years */
#define TLS_SERIAL_BYTES 16

/* SubjectPublicKeyInfo of an Ed25519 key, before the 32 key bytes
 * (RFC 8410): SEQUENCE { SEQUENCE { OID 1.3.101.112 }, BIT STRING }. */
static const uint8_t ed25519_spki_prefix[] = {
	0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
};

void ledger_tls_pin(const uint8_t pk[LEDGER_PK_BYTES], char out[LEDGER_TLS_PIN_MAX])
{
	uint8_t spki[sizeof(ed25519_spki_prefix) + LEDGER_PK_BYTES], h[LEDGER_HASH_BYTES];

	_Static_assert(8 + 44 + 1 <= LEDGER_TLS_PIN_MAX, "pin fits");
	memcpy(spki, ed25519_spki_prefix, sizeof(ed25519_spki_prefix));
	memcpy(spki + sizeof(ed25519_spki_prefix), pk, LEDGER_PK_BYTES);
	ledger_sha256(spki, sizeof(spki), h);
	memcpy(out, "sha256//", 8);
	sodium_bin2base64(out + 8, LEDGER_TLS_PIN_MAX - 8, h, sizeof(h),
			  sodium_base64_VARIANT_ORIGINAL);
}

/* The first OpenSSL error, for a message. */
static const char *ossl_why(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

	return r != NULL ? r : "OpenSSL error";
}

static int add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ext == NULL)
		return -EINVAL;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok == 1 ? 0 : -EINVAL;
}

/* A random positive serial, never zero (RFC 5280 4.1.2.2: at most 20 bytes). */
static int set_serial(X509 *x)
{
	uint8_t b[TLS_SERIAL_BYTES];
	BIGNUM *bn;
	int rc = -EINVAL;

	randombytes_buf(b, sizeof(b));
	b[0] = (uint8_t)((b[0] & 0x7f) | 0x40);
	bn = BN_bin2bn(b, sizeof(b), NULL);
	if (bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL)
		rc = 0;
	BN_free(bn);
	return rc;
}

/* The certificate for pkey: see the file header. */
static X509 *make_cert(EVP_PKEY *pkey, const char *name)
{
	char san[8 + LEDGER_NAME_MAX + 1];
	time_t from = time(NULL) - 3600;
	X509_NAME *subj;
	X509 *x;

	x = X509_new();
	if (x == NULL)
		return NULL;
	subj = X509_get_subject_name(x);
	/* name passed ledger_name_check: [A-Za-z0-9_.-] only, so it cannot
	 * smuggle another item into the extension strings below */
	snprintf(san, sizeof(san), "DNS:%s", name);
	if (X509_set_version(x, X509_VERSION_3) != 1 || set_serial(x) != 0 ||
	    X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &from) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), TLS_CERT_DAYS, 0, &from) == NULL ||
	    X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_ASC, (const unsigned char *)name, -1,
				       -1, 0) != 1 ||
	    X509_set_issuer_name(x, subj) != 1 || X509_set_pubkey(x, pkey) != 1 ||
	    add_ext(x, NID_basic_constraints, "critical,CA:FALSE") != 0 ||
	    add_ext(x, NID_key_usage, "critical,digitalSignature") != 0 ||
	    add_ext(x, NID_ext_key_usage, "serverAuth,clientAuth") != 0 ||
	    add_ext(x, NID_subject_alt_name, san) != 0 ||
	    add_ext(x, NID_subject_key_identifier, "hash") != 0 ||
	    X509_sign(x, pkey, NULL) <= 0) { /* Ed25519 signs without a digest */
		X509_free(x);
		return NULL;
	}
	return x;
}

/* What a memory BIO holds into path (ledger_file_create). */
static int bio_to_file(BIO *b, const char *path, mode_t mode, char *err, size_t cap)
{
	char *data;
	long n = BIO_get_mem_data(b, &data);

	if (n <= 0) {
		ledger_err(err, cap, "%s: %s", path, ossl_why());
		return -EINVAL;
	}
	return ledger_file_create(path, data, (size_t)n, mode, err, cap);
}

static void bio_wipe_free(BIO *b)
{
	char *data;
	long n;

	if (b == NULL)
		return;
	n = BIO_get_mem_data(b, &data);
	if (n > 0)
		OPENSSL_cleanse(data, (size_t)n);
	BIO_free(b);
}

int ledger_tls_generate(const char *dir, const char *name, uint8_t pk[LEDGER_PK_BYTES], char *err,
			size_t cap)
{
	char key_path[PATH_MAX], crt_path[PATH_MAX];
	BIO *kb = NULL, *cb = NULL;
	size_t pk_len = LEDGER_PK_BYTES;
	EVP_PKEY *pkey;
	struct stat st;
	X509 *x = NULL;
	int rc = -EINVAL;

	if (ledger_name_check(name) != NULL) {
		ledger_err(err, cap, "member %s", ledger_name_check(name));
		return -EINVAL;
	}
	snprintf(key_path, sizeof(key_path), "%s/tls.key", dir);
	snprintf(crt_path, sizeof(crt_path), "%s/tls.crt", dir);
	/* O_EXCL refuses too; this says so before making a key. */
	if (lstat(key_path, &st) == 0 || lstat(crt_path, &st) == 0) {
		ledger_err(err, cap, "%s: a TLS key is already there (%s, %s)", dir, key_path,
			   crt_path);
		return -EEXIST;
	}
	ERR_clear_error();
	pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (pkey == NULL) {
		ledger_err(err, cap, "tls key: %s", ossl_why());
		return -ENOMEM;
	}
	if (EVP_PKEY_get_raw_public_key(pkey, pk, &pk_len) != 1 || pk_len != LEDGER_PK_BYTES) {
		ledger_err(err, cap, "tls key: %s", ossl_why());
		goto out_free_key;
	}
	x = make_cert(pkey, name);
	if (x == NULL) {
		ledger_err(err, cap, "%s: cannot make the certificate: %s", crt_path, ossl_why());
		goto out_free_key;
	}
	/* The secure-heap BIO wipes what it held when it grows or is freed. */
	kb = BIO_new(BIO_s_secmem());
	cb = BIO_new(BIO_s_mem());
	if (kb == NULL || cb == NULL ||
	    PEM_write_bio_PrivateKey(kb, pkey, NULL, NULL, 0, NULL, NULL) != 1 ||
	    PEM_write_bio_X509(cb, x) != 1) {
		ledger_err(err, cap, "tls key: %s", ossl_why());
		rc = -ENOMEM;
		goto out_free_bios;
	}
	rc = bio_to_file(kb, key_path, 0600, err, cap);
	if (rc != 0)
		goto out_free_bios;
	rc = bio_to_file(cb, crt_path, 0644, err, cap);
	if (rc != 0)
		unlink(key_path);
out_free_bios:
	bio_wipe_free(kb);
	BIO_free(cb);
	X509_free(x);
out_free_key:
	EVP_PKEY_free(pkey); /* wipes the private key */
	if (rc != 0)
		sodium_memzero(pk, LEDGER_PK_BYTES);
	return rc;
}

/* Never ask for a passphrase (a terminal prompt): tls.key has none. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* The raw public key of the certificate in path, checked to be Ed25519
 * and self-signed.  0 or -errno. */
static int cert_pub(const char *path, uint8_t pk[LEDGER_PK_BYTES], char *err, size_t cap)
{
	char text[TLS_FILE_MAX];
	size_t len, pk_len = LEDGER_PK_BYTES;
	EVP_PKEY *pub;
	BIO *b;
	X509 *x;
	int rc;

	rc = ledger_file_read(path, text, sizeof(text), &len, NULL, err, cap);
	if (rc != 0)
		return rc;
	b = BIO_new_mem_buf(text, (int)len);
	x = b != NULL ? PEM_read_bio_X509(b, NULL, no_passphrase, NULL) : NULL;
	BIO_free(b);
	if (x == NULL) {
		ledger_err(err, cap, "%s: not a PEM certificate: %s", path, ossl_why());
		return -EINVAL;
	}
	rc = -EINVAL;
	pub = X509_get0_pubkey(x);
	if (pub == NULL || EVP_PKEY_get_id(pub) != EVP_PKEY_ED25519)
		ledger_err(err, cap, "%s: the certificate's key is not Ed25519", path);
	else if (EVP_PKEY_get_raw_public_key(pub, pk, &pk_len) != 1 ||
		 pk_len != LEDGER_PK_BYTES || X509_verify(x, pub) != 1)
		ledger_err(err, cap, "%s: not a certificate self-signed by its key", path);
	else
		rc = 0;
	X509_free(x);
	return rc;
}

int ledger_tls_load_pub(const char *dir, uint8_t pk[LEDGER_PK_BYTES], char *err, size_t cap)
{
	char key_path[PATH_MAX], crt_path[PATH_MAX], text[TLS_FILE_MAX];
	uint8_t key_pk[LEDGER_PK_BYTES];
	size_t len, pk_len = LEDGER_PK_BYTES;
	EVP_PKEY *pkey = NULL;
	mode_t mode;
	BIO *b;
	int rc;

	snprintf(key_path, sizeof(key_path), "%s/tls.key", dir);
	snprintf(crt_path, sizeof(crt_path), "%s/tls.crt", dir);
	ERR_clear_error();
	rc = cert_pub(crt_path, pk, err, cap);
	if (rc != 0)
		return rc;
	rc = ledger_file_read(key_path, text, sizeof(text), &len, &mode, err, cap);
	if (rc == 0)
		rc = ledger_secret_mode_check(key_path, mode, err, cap);
	if (rc != 0)
		goto out_wipe;
	b = BIO_new_mem_buf(text, (int)len);
	if (b != NULL)
		pkey = PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL);
	BIO_free(b);
	if (pkey == NULL || EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519 ||
	    EVP_PKEY_get_raw_public_key(pkey, key_pk, &pk_len) != 1) {
		ledger_err(err, cap, "%s: not an Ed25519 private key (PKCS#8 PEM)", key_path);
		rc = -EINVAL;
		goto out_free;
	}
	if (sodium_memcmp(key_pk, pk, LEDGER_PK_BYTES) != 0) {
		ledger_err(err, cap, "%s does not hold the key of %s", key_path, crt_path);
		rc = -EKEYREJECTED;
	}
out_free:
	EVP_PKEY_free(pkey);
out_wipe:
	sodium_memzero(text, sizeof(text));
	if (rc != 0)
		sodium_memzero(pk, LEDGER_PK_BYTES);
	return rc;
}
