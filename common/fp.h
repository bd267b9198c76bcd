/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fingerprints: keyed SipHash-2-4 with 128-bit output (the function of
 * libsodium's crypto_shorthash_siphashx24) over kind byte || normalised
 * identifier, under the consortium's fingerprint key of one key epoch.
 *
 * The hash is inlined here for the fast path; tests prove it equal to
 * libsodium on vectors and random inputs.  A fingerprint reveals nothing
 * without the key, but identifiers have low entropy: anyone holding the key
 * can brute-force PANs from fingerprints (docs/fingerprints.md).
 */
#ifndef RG_FP_H
#define RG_FP_H

#include <stddef.h>
#include <stdint.h>

#define RG_FP_BYTES 16
#define RG_FP_KEY_BYTES 16

struct rg_fp {
	uint8_t b[RG_FP_BYTES];
};

/* The key as loaded: k0/k1 are the two little-endian halves SipHash uses.
 * Lives in sodium_malloc memory (see rg_fp_key_load) or on the stack. */
struct rg_fp_key {
	uint64_t k0;
	uint64_t k1;
	uint32_t epoch; /* key epoch id from the key file */
};

/* Set k from 16 raw key bytes. */
void rg_fp_key_set(struct rg_fp_key *k, const uint8_t raw[RG_FP_KEY_BYTES], uint32_t epoch);

/* SipHash-2-4-128 of in[0..len) under k, written to out. Fast path. */
void rg_siphash128(const struct rg_fp_key *k, const uint8_t *in, size_t len, uint8_t out[16]);

/* Fingerprint of a normalised identifier. Fast path. */
void rg_fp_compute(const struct rg_fp_key *k, unsigned kind, const char *value,
		   size_t len, struct rg_fp *out);

struct rg_ident;

/*
 * Fingerprints of ids[0..n) into out[0..n): the same values as n calls of
 * rg_fp_compute (values longer than RG_IDENT_MAX_LEN are cut to it), computed
 * eight at a time in vector lanes where the build has AVX-512.  For a
 * burst's identifiers.  Fast path.
 */
void rg_fp_compute_burst(const struct rg_fp_key *k, const struct rg_ident *ids, unsigned n,
			 struct rg_fp *out);

/*
 * Key files (docs/fingerprints.md): text, "riskgate-fp-key 1" on the first
 * line, then "epoch N" and "key <32 hex digits>".  rg_fp_key_load refuses a
 * file that is not a regular file, that group or others may read or write,
 * or that is malformed; err names the path and the reason.  The key is
 * returned in sodium_malloc memory: release it with rg_fp_key_free (wipes).
 * Returns NULL with errno set on failure.
 */
struct rg_fp_key *rg_fp_key_load(const char *path, char *err, size_t err_cap);
void rg_fp_key_free(struct rg_fp_key *k);

/* Create a new random key file (mode 0600, O_EXCL: never overwrites).
 * Returns 0 or -errno with err set. */
int rg_fp_key_generate(const char *path, uint32_t epoch, char *err, size_t err_cap);

/* First n bytes of fp as lower-case hex (2n chars + NUL) into out. */
void rg_fp_hex(const struct rg_fp *fp, unsigned n, char *out);

#endif
