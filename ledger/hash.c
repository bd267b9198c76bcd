/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * SHA-256 for the Merkle trees (RFC 9162: leaf = H(0x00 || entry), node =
 * H(0x01 || left || right)) and hex/time helpers.
 *
 * OpenSSL's libcrypto is used, not libsodium: on this CPU it runs the SHA
 * extensions and hashes a 65-byte node about 4x faster (riskgate-bench
 * ledger, case sha256.node; docs/ledger.md).  Its low-level SHA256_* calls
 * are deprecated in OpenSSL 3 but avoid the EVP fetch on every small hash.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/sha.h>

#include "ledger/ledger.h"

/* Never the one-shot SHA256(): in OpenSSL 3 it fetches the digest through
 * EVP under a lock on every call, which costs more than the hash. */
void ledger_sha256(const void *in, size_t len, uint8_t out[LEDGER_HASH_BYTES])
{
	SHA256_CTX c;

	SHA256_Init(&c);
	SHA256_Update(&c, in, len);
	SHA256_Final(out, &c);
}

void ledger_leaf_hash(const uint8_t *entry, size_t len, uint8_t out[LEDGER_HASH_BYTES])
{
	SHA256_CTX c;
	static const uint8_t zero = 0x00;

	SHA256_Init(&c);
	SHA256_Update(&c, &zero, 1);
	SHA256_Update(&c, entry, len);
	SHA256_Final(out, &c);
}

void ledger_node_hash(const uint8_t l[LEDGER_HASH_BYTES], const uint8_t r[LEDGER_HASH_BYTES],
		      uint8_t out[LEDGER_HASH_BYTES])
{
	uint8_t buf[1 + 2 * LEDGER_HASH_BYTES];

	buf[0] = 0x01;
	memcpy(buf + 1, l, LEDGER_HASH_BYTES);
	memcpy(buf + 1 + LEDGER_HASH_BYTES, r, LEDGER_HASH_BYTES);
	ledger_sha256(buf, sizeof(buf), out);
}

void ledger_empty_root(uint8_t out[LEDGER_HASH_BYTES])
{
	ledger_sha256("", 0, out);
}

void ledger_hex(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * len] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int ledger_unhex(const char *in, size_t len, uint8_t *out, size_t out_len)
{
	if (len != 2 * out_len)
		return -EINVAL;
	for (size_t i = 0; i < out_len; i++) {
		int hi = hexval(in[2 * i]), lo = hexval(in[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

uint64_t ledger_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void ledger_time_str(uint64_t ms, char *out, size_t cap)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&s, &tm);
	snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (unsigned)(ms % 1000));
}
