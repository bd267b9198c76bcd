/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for common/fp.c: the inlined SipHash-2-4-128 against the
 * reference vectors (literal, from the SipHash authors' vectors_sip128) and
 * against libsodium's crypto_shorthash_siphashx24 on the reference inputs and
 * on random keys and inputs of every length 0..200; the fingerprint layout
 * (kind byte || value); hex rendering; and key files: format, permissions,
 * symlinks, directories, generation.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "common/fp.h"
#include "common/ident.h"
#include "check.h"

_Static_assert(crypto_shorthash_siphashx24_BYTES == RG_FP_BYTES, "128-bit output");
_Static_assert(crypto_shorthash_siphashx24_KEYBYTES == RG_FP_KEY_BYTES, "128-bit key");

static void from_hex(const char *hex, uint8_t *out, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned v;

		sscanf(hex + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
}

static void ref_key(struct rg_fp_key *k, uint8_t raw[16])
{
	for (unsigned i = 0; i < 16; i++)
		raw[i] = (uint8_t)i;
	rg_fp_key_set(k, raw, 1);
}

/* Rows of vectors_sip128 (key 00..0f, message 00..len-1), SipHash reference. */
static const struct {
	unsigned len;
	const char *hex;
} sip128_vectors[] = {
	{ 0, "a3817f04ba25a8e66df67214c7550293" },
	{ 1, "da87c1d86b99af44347659119b22fc45" },
	{ 2, "8177228da4a45dc7fca38bdef60affe4" },
	{ 7, "a1f1ebbed8dbc153c0b84aa61ff08239" },
	{ 8, "3b62a9ba6258f5610f83e264f31497b4" },
	{ 15, "5493e99933b0a8117e08ec0f97cfc3d9" },
	{ 16, "6ee2a4ca67b054bbfd3315bf85230577" },
	{ 63, "5150d1772f50834a503e069a973fbd7c" },
};

static void test_reference_vectors(void)
{
	struct rg_fp_key k;
	uint8_t raw[16], msg[64], want[16], got[16], lib[16];
	unsigned i;

	ref_key(&k, raw);
	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)i;

	CHECK_EQ(k.k0, 0x0706050403020100ULL, "k0 is the little-endian first half");
	CHECK_EQ(k.k1, 0x0f0e0d0c0b0a0908ULL, "k1 is the little-endian second half");
	CHECK_EQ(k.epoch, 1, "epoch kept");

	for (i = 0; i < sizeof(sip128_vectors) / sizeof(sip128_vectors[0]); i++) {
		from_hex(sip128_vectors[i].hex, want, 16);
		rg_siphash128(&k, msg, sip128_vectors[i].len, got);
		CHECK(memcmp(got, want, 16) == 0, "vectors_sip128 len %u", sip128_vectors[i].len);
		crypto_shorthash_siphashx24(lib, msg, sip128_vectors[i].len, raw);
		CHECK(memcmp(lib, want, 16) == 0, "libsodium agrees on len %u",
		      sip128_vectors[i].len);
	}

	/* The whole reference table, through libsodium. */
	for (i = 0; i < 64; i++) {
		rg_siphash128(&k, msg, i, got);
		crypto_shorthash_siphashx24(lib, msg, i, raw);
		CHECK(memcmp(got, lib, 16) == 0, "reference input len %u", i);
	}
}

static void test_random_vs_libsodium(void)
{
	uint8_t raw[16], msg[201], got[16], lib[16];
	struct rg_fp_key k;
	unsigned len, rep, bad = 0;

	for (len = 0; len <= 200; len++) {
		for (rep = 0; rep < 20; rep++) {
			randombytes_buf(raw, sizeof(raw));
			randombytes_buf(msg, len + 1);
			rg_fp_key_set(&k, raw, 7);
			/* Unaligned start: the loads must not assume alignment. */
			rg_siphash128(&k, msg + (rep & 1), len, got);
			crypto_shorthash_siphashx24(lib, msg + (rep & 1), len, raw);
			if (memcmp(got, lib, 16) != 0)
				bad++;
		}
	}
	CHECK_EQ(bad, 0, "random keys and inputs of lengths 0..200 match libsodium");
}

static void test_fp_layout(void)
{
	uint8_t raw[16], buf[1 + 100], lib[16];
	char value[100];
	struct rg_fp_key k;
	struct rg_fp fp;
	unsigned kind, len, bad = 0;

	randombytes_buf(raw, sizeof(raw));
	rg_fp_key_set(&k, raw, 3);
	for (kind = 0; kind < 256; kind += 17) {
		for (len = 0; len < sizeof(value); len++) {
			randombytes_buf(value, len);
			buf[0] = (uint8_t)kind;
			memcpy(buf + 1, value, len);
			rg_fp_compute(&k, kind, value, len, &fp);
			crypto_shorthash_siphashx24(lib, buf, len + 1, raw);
			if (memcmp(fp.b, lib, 16) != 0) {
				bad++;
				fprintf(stderr, "fp mismatch kind %u len %u\n", kind, len);
			}
		}
	}
	CHECK_EQ(bad, 0, "fingerprint is SipHash-2-4-128 of kind byte || value");

	/* Pinned fingerprint: PAN 4761739001010119 under key 00..0f.  Every
	 * member's table depends on this value never changing. */
	uint8_t want[16];
	char hex[33];

	ref_key(&k, raw);
	rg_fp_compute(&k, RG_KIND_PAN, "4761739001010119", 16, &fp);
	buf[0] = RG_KIND_PAN;
	memcpy(buf + 1, "4761739001010119", 16);
	crypto_shorthash_siphashx24(want, buf, 17, raw);
	CHECK(memcmp(fp.b, want, 16) == 0, "pinned PAN fingerprint vs libsodium");
	rg_fp_hex(&fp, 16, hex);
	CHECK(strcmp(hex, "5bcd64abe7b0c5695fe72c78ca952081") == 0,
	      "pinned PAN fingerprint %s", hex);
	/* Different kind, same bytes: different fingerprint. */
	struct rg_fp fp2;

	rg_fp_compute(&k, RG_KIND_ACCOUNT, "4761739001010119", 16, &fp2);
	CHECK(memcmp(fp.b, fp2.b, 16) != 0, "kind is part of the fingerprint");
}

/* The burst form equals one rg_fp_compute per identifier, for every burst
 * size around the vector width and every identifier length. */
static void test_burst(void)
{
	static struct rg_ident ids[40];
	struct rg_fp got[41], want;
	struct rg_fp_key k;
	uint8_t raw[16];
	unsigned n, i, rep, bad = 0;

	for (rep = 0; rep < 50; rep++) {
		randombytes_buf(raw, sizeof(raw));
		rg_fp_key_set(&k, raw, 1);
		for (i = 0; i < 40; i++) {
			ids[i].kind = (uint8_t)(1 + randombytes_uniform(7));
			ids[i].len = (uint8_t)randombytes_uniform(RG_IDENT_MAX_LEN + 1);
			if (rep == 0)
				ids[i].len = (uint8_t)(i * 64 / 39); /* 0..64 all present */
			randombytes_buf(ids[i].value, sizeof(ids[i].value));
		}
		for (n = 0; n <= 40; n++) {
			memset(got, 0x5a, sizeof(got));
			rg_fp_compute_burst(&k, ids, n, got);
			for (i = 0; i < n; i++) {
				rg_fp_compute(&k, ids[i].kind, ids[i].value, ids[i].len, &want);
				if (memcmp(got[i].b, want.b, 16) != 0)
					bad++;
			}
			if (got[n].b[0] != 0x5a || got[n].b[15] != 0x5a)
				bad++;
		}
	}
	CHECK_EQ(bad, 0, "burst fingerprints equal single ones, bursts of 0..40");

	/* Pinned value through the burst path (the second lane). */
	{
		struct rg_ident two[2] = { { RG_KIND_MERCHANT, 42, 4, "M001" },
					   { RG_KIND_PAN, 2, 16, "4761739001010119" } };
		char hex[33];

		for (i = 0; i < 16; i++)
			raw[i] = (uint8_t)i;
		rg_fp_key_set(&k, raw, 1);
		rg_fp_compute_burst(&k, two, 2, got);
		rg_fp_hex(&got[1], 16, hex);
		CHECK(strcmp(hex, "5bcd64abe7b0c5695fe72c78ca952081") == 0, "burst pinned %s", hex);
	}
}

static void test_hex(void)
{
	struct rg_fp fp;
	char out[40];
	unsigned i;

	for (i = 0; i < 16; i++)
		fp.b[i] = (uint8_t)(0xf0 + i);
	fp.b[0] = 0x0a;
	fp.b[1] = 0xb0;

	static const struct {
		unsigned n;
		const char *want;
	} cases[] = {
		{ 0, "" },
		{ 1, "0a" },
		{ 4, "0ab0f2f3" },
		{ 16, "0ab0f2f3f4f5f6f7f8f9fafbfcfdfeff" },
		{ 17, "0ab0f2f3f4f5f6f7f8f9fafbfcfdfeff" }, /* clamped */
		{ 1000, "0ab0f2f3f4f5f6f7f8f9fafbfcfdfeff" },
	};
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(out, 'x', sizeof(out));
		rg_fp_hex(&fp, cases[i].n, out);
		CHECK(strcmp(out, cases[i].want) == 0, "hex n=%u: %s", cases[i].n, out);
	}
}

/* ---- key files ---------------------------------------------------------- */

static char tmpdir[64];

static void path_of(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", tmpdir, name);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0) {
		perror(path);
		exit(2);
	}
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		perror(path);
	fchmod(fd, mode);
	close(fd);
}

#define KEY_HEX "000102030405060708090a0b0c0d0e0f"
#define KEY_LINE "key " KEY_HEX "\n"

static const struct {
	const char *name;
	const char *text;
	mode_t mode;
	int ok;             /* 1 loads */
	uint32_t epoch;     /* when ok */
	int err_no;         /* errno when not ok */
	const char *err;    /* substring of the message when not ok */
} key_cases[] = {
	{ "good", "riskgate-fp-key 1\nepoch 1\n" KEY_LINE, 0600, 1, 1, 0, NULL },
	{ "good-any-order", "riskgate-fp-key 1\n" KEY_LINE "epoch 42\n", 0600, 1, 42, 0, NULL },
	{ "good-comments", "riskgate-fp-key 1\n# consortium key\n\n  \nepoch 4294967295\n"
	  "# rotated 2026-11\n" KEY_LINE "\n", 0600, 1, 4294967295u, 0, NULL },
	{ "good-no-final-newline", "riskgate-fp-key 1\nepoch 9\nkey " KEY_HEX, 0600, 1, 9, 0, NULL },
	{ "good-crlf", "riskgate-fp-key 1\r\nepoch 2\r\n" "key " KEY_HEX "\r\n", 0600, 1, 2, 0, NULL },
	{ "good-upper-hex", "riskgate-fp-key 1\nepoch 3\nkey 000102030405060708090A0B0C0D0E0F\n",
	  0400, 1, 3, 0, NULL },
	{ "mode-0644", "riskgate-fp-key 1\nepoch 1\n" KEY_LINE, 0644, 0, 0, EACCES,
	  "permissions 0644 are too open (group/other may access the key); chmod 600 " },
	{ "mode-0640", "riskgate-fp-key 1\nepoch 1\n" KEY_LINE, 0640, 0, 0, EACCES,
	  "permissions 0640 are too open" },
	{ "mode-0604", "riskgate-fp-key 1\nepoch 1\n" KEY_LINE, 0604, 0, 0, EACCES,
	  "permissions 0604 are too open" },
	{ "mode-0601", "riskgate-fp-key 1\nepoch 1\n" KEY_LINE, 0601, 0, 0, EACCES,
	  "permissions 0601 are too open" },
	{ "empty", "", 0600, 0, 0, EINVAL, "empty key file" },
	{ "bad-magic", "riskgate-fp-key 2\nepoch 1\n" KEY_LINE, 0600, 0, 0, EINVAL, ":1: not a key file" },
	{ "magic-not-first", "# hi\nriskgate-fp-key 1\nepoch 1\n" KEY_LINE, 0600, 0, 0, EINVAL, ":1:" },
	{ "missing-epoch", "riskgate-fp-key 1\n" KEY_LINE, 0600, 0, 0, EINVAL, "missing \"epoch\"" },
	{ "missing-key", "riskgate-fp-key 1\nepoch 1\n", 0600, 0, 0, EINVAL, "missing \"key\"" },
	{ "dup-epoch", "riskgate-fp-key 1\nepoch 1\n" KEY_LINE "epoch 2\n", 0600, 0, 0, EINVAL,
	  ":4: duplicate \"epoch\"" },
	{ "dup-key", "riskgate-fp-key 1\n" KEY_LINE "epoch 1\n" KEY_LINE, 0600, 0, 0, EINVAL,
	  ":4: duplicate \"key\"" },
	{ "bad-hex", "riskgate-fp-key 1\nepoch 1\nkey 000102030405060708090a0b0c0d0e0g\n", 0600,
	  0, 0, EINVAL, ":3: key must be exactly 32 hex digits" },
	{ "short-key", "riskgate-fp-key 1\nepoch 1\nkey 000102030405060708090a0b0c0d0e\n", 0600,
	  0, 0, EINVAL, ":3: key must be exactly 32 hex digits" },
	{ "long-key", "riskgate-fp-key 1\nepoch 1\nkey 000102030405060708090a0b0c0d0e0f00\n", 0600,
	  0, 0, EINVAL, ":3: key must be exactly 32 hex digits" },
	{ "key-with-colons", "riskgate-fp-key 1\nepoch 1\nkey 00:01:02:03:04:05:06:07:08:09\n", 0600,
	  0, 0, EINVAL, ":3: key must be" },
	{ "key-no-value", "riskgate-fp-key 1\nepoch 1\nkey\n", 0600, 0, 0, EINVAL, ":3: key must be" },
	{ "epoch-zero", "riskgate-fp-key 1\nepoch 0\n" KEY_LINE, 0600, 0, 0, EINVAL, ":2: epoch must be" },
	{ "epoch-2^32", "riskgate-fp-key 1\nepoch 4294967296\n" KEY_LINE, 0600, 0, 0, EINVAL,
	  ":2: epoch must be" },
	{ "epoch-neg", "riskgate-fp-key 1\nepoch -1\n" KEY_LINE, 0600, 0, 0, EINVAL, ":2: epoch must be" },
	{ "epoch-hex", "riskgate-fp-key 1\nepoch 0x10\n" KEY_LINE, 0600, 0, 0, EINVAL, ":2: epoch must be" },
	{ "epoch-trailing", "riskgate-fp-key 1\nepoch 12 13\n" KEY_LINE, 0600, 0, 0, EINVAL,
	  ":2: epoch must be" },
	{ "unknown-line", "riskgate-fp-key 1\nepoch 1\n" KEY_LINE "owner bank-a\n", 0600, 0, 0, EINVAL,
	  ":4: unexpected line" },
	{ "keyword-case", "riskgate-fp-key 1\nEPOCH 1\n" KEY_LINE, 0600, 0, 0, EINVAL, ":2: unexpected line" },
};

static void test_key_files(void)
{
	char path[256], err[512];
	unsigned i;

	for (i = 0; i < sizeof(key_cases) / sizeof(key_cases[0]); i++) {
		struct rg_fp_key *k;

		path_of(path, sizeof(path), key_cases[i].name);
		write_file(path, key_cases[i].text, key_cases[i].mode);
		errno = 0;
		memset(err, 0, sizeof(err));
		k = rg_fp_key_load(path, err, sizeof(err));
		if (key_cases[i].ok) {
			CHECK(k != NULL, "%s: should load: %s", key_cases[i].name, err);
			if (k != NULL) {
				CHECK_EQ(k->epoch, key_cases[i].epoch, "%s", key_cases[i].name);
				CHECK_EQ(k->k0, 0x0706050403020100ULL, "%s", key_cases[i].name);
				CHECK_EQ(k->k1, 0x0f0e0d0c0b0a0908ULL, "%s", key_cases[i].name);
			}
		} else {
			CHECK(k == NULL, "%s: should be refused", key_cases[i].name);
			CHECK_EQ(errno, key_cases[i].err_no, "%s errno", key_cases[i].name);
			CHECK(strstr(err, key_cases[i].err) != NULL, "%s: message \"%s\"",
			      key_cases[i].name, err);
			CHECK(strncmp(err, path, strlen(path)) == 0, "%s: names path: \"%s\"",
			      key_cases[i].name, err);
			CHECK(strstr(err, KEY_HEX) == NULL && strstr(err, "0a0b0c0d") == NULL,
			      "%s: message never shows key bytes", key_cases[i].name);
		}
		rg_fp_key_free(k);
	}

	/* The permission message names the path twice (chmod hint). */
	{
		char want[600];

		path_of(path, sizeof(path), "mode-0644");
		rg_fp_key_load(path, err, sizeof(err));
		snprintf(want, sizeof(want),
			 "%s: permissions 0644 are too open (group/other may access the key); chmod 600 %s",
			 path, path);
		CHECK(strcmp(err, want) == 0, "exact permission message: %s", err);
	}
}

static void test_key_special_files(void)
{
	char path[256], link_path[256], err[512];
	struct rg_fp_key *k;

	path_of(path, sizeof(path), "good");
	path_of(link_path, sizeof(link_path), "link");
	unlink(link_path);
	CHECK(symlink(path, link_path) == 0, "symlink: %s", strerror(errno));
	errno = 0;
	k = rg_fp_key_load(link_path, err, sizeof(err));
	CHECK(k == NULL, "symlink refused");
	CHECK_EQ(errno, ELOOP, "symlink errno");
	CHECK(strstr(err, "symbolic link") != NULL, "symlink message: %s", err);
	rg_fp_key_free(k);

	path_of(path, sizeof(path), "dir");
	mkdir(path, 0700);
	errno = 0;
	k = rg_fp_key_load(path, err, sizeof(err));
	CHECK(k == NULL, "directory refused");
	CHECK_EQ(errno, EISDIR, "directory errno");
	CHECK(strstr(err, "not a regular file") != NULL, "directory message: %s", err);
	rg_fp_key_free(k);
	rmdir(path);

	path_of(path, sizeof(path), "absent");
	errno = 0;
	k = rg_fp_key_load(path, err, sizeof(err));
	CHECK(k == NULL, "missing file refused");
	CHECK_EQ(errno, ENOENT, "missing errno");
	CHECK(strstr(err, path) != NULL, "missing names path: %s", err);

	errno = 0;
	k = rg_fp_key_load("/dev/null", err, sizeof(err));
	CHECK(k == NULL, "character device refused");
	CHECK(strstr(err, "not a regular file") != NULL, "device message: %s", err);

	/* Over the size limit, padded with comments. */
	{
		char big[6000];
		size_t n = (size_t)snprintf(big, sizeof(big), "riskgate-fp-key 1\nepoch 1\n" KEY_LINE);

		while (n + 2 < sizeof(big)) {
			big[n++] = '#';
			big[n++] = '\n';
		}
		big[n] = '\0';
		path_of(path, sizeof(path), "big");
		write_file(path, big, 0600);
		errno = 0;
		k = rg_fp_key_load(path, err, sizeof(err));
		CHECK(k == NULL, "oversized file refused");
		CHECK_EQ(errno, EFBIG, "oversized errno");
		unlink(path);
	}
}

static void test_key_generate(void)
{
	char path[256], err[512];
	struct rg_fp_key *k, *k2;
	struct stat st;
	int rc;

	path_of(path, sizeof(path), "generated");
	unlink(path);
	rc = rg_fp_key_generate(path, 5, err, sizeof(err));
	CHECK_EQ(rc, 0, "generate: %s", err);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "generated mode 0600");

	k = rg_fp_key_load(path, err, sizeof(err));
	CHECK(k != NULL, "load generated: %s", err);
	if (k != NULL)
		CHECK_EQ(k->epoch, 5, "generated epoch");

	rc = rg_fp_key_generate(path, 6, err, sizeof(err));
	CHECK_EQ(rc, -EEXIST, "generate never overwrites");
	CHECK(strstr(err, path) != NULL, "overwrite message names path: %s", err);
	k2 = rg_fp_key_load(path, err, sizeof(err));
	CHECK(k2 != NULL && k != NULL && k2->k0 == k->k0 && k2->k1 == k->k1 && k2->epoch == 5,
	      "existing key untouched");
	rg_fp_key_free(k2);

	/* Two generated keys differ. */
	char path2[256];

	path_of(path2, sizeof(path2), "generated2");
	unlink(path2);
	CHECK_EQ(rg_fp_key_generate(path2, 5, err, sizeof(err)), 0, "second generate");
	k2 = rg_fp_key_load(path2, err, sizeof(err));
	CHECK(k2 != NULL && k != NULL && (k2->k0 != k->k0 || k2->k1 != k->k1),
	      "generated keys are random");
	rg_fp_key_free(k2);
	rg_fp_key_free(k);
	unlink(path2);

	/* Generate through a dangling symlink must not create its target. */
	char link_path[256], target[256];

	path_of(link_path, sizeof(link_path), "gen-link");
	path_of(target, sizeof(target), "gen-target");
	unlink(link_path);
	unlink(target);
	CHECK(symlink(target, link_path) == 0, "symlink");
	rc = rg_fp_key_generate(link_path, 1, err, sizeof(err));
	CHECK(rc < 0, "generate refuses a symlink");
	CHECK(access(target, F_OK) != 0, "symlink target not created");
	unlink(link_path);

	rc = rg_fp_key_generate(path2, 0, err, sizeof(err));
	CHECK_EQ(rc, -EINVAL, "epoch 0 refused");
	CHECK(access(path2, F_OK) != 0, "no file for a refused epoch");

	path_of(path2, sizeof(path2), "no-such-dir/fp.key");
	rc = rg_fp_key_generate(path2, 1, err, sizeof(err));
	CHECK_EQ(rc, -ENOENT, "missing directory");
	unlink(path);
}

static void cleanup(void)
{
	char path[256];
	unsigned i;

	for (i = 0; i < sizeof(key_cases) / sizeof(key_cases[0]); i++) {
		path_of(path, sizeof(path), key_cases[i].name);
		unlink(path);
	}
	path_of(path, sizeof(path), "link");
	unlink(path);
	rmdir(tmpdir);
}

int main(void)
{
	if (sodium_init() < 0) {
		fprintf(stderr, "sodium_init failed\n");
		return 1;
	}
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/rg-test-fp-XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}

	test_reference_vectors();
	test_random_vs_libsodium();
	test_fp_layout();
	test_burst();
	test_hex();
	test_key_files();
	test_key_special_files();
	test_key_generate();
	cleanup();
	return CHECK_DONE();
}
