/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * RFC 9162 Merkle trees (ledger/merkle.c) against an independent, naive
 * transcription of the RFC's recursive definitions kept in this file:
 * roots of the empty tree and of 1..N leaves, inclusion proofs for every
 * leaf and consistency proofs for every pair of sizes of trees up to 40
 * leaves, each proof verified and its every single-bit corruption
 * rejected; plus the published Certificate Transparency test vectors.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/ledger.h"
#include "check.h"

#define N_MAX 40

static uint8_t leaves[N_MAX][32];

/* MTH(D[a:b]) straight from RFC 9162 2.1.1. */
static void naive_mth(uint64_t a, uint64_t b, uint8_t out[32])
{
	uint8_t l[32], r[32];
	uint64_t n = b - a, k = 1;

	if (n == 0) {
		ledger_sha256("", 0, out);
		return;
	}
	if (n == 1) {
		memcpy(out, leaves[a], 32);
		return;
	}
	while (k * 2 < n)
		k *= 2;
	naive_mth(a, a + k, l);
	naive_mth(a + k, b, r);
	ledger_node_hash(l, r, out);
}

/* PATH(m, D[a:b]) of RFC 9162 2.1.3.1. */
static void naive_path(uint64_t m, uint64_t a, uint64_t b, uint8_t (*p)[32], unsigned *nb)
{
	uint64_t n = b - a, k = 1;

	if (n <= 1)
		return;
	while (k * 2 < n)
		k *= 2;
	if (m < k) {
		naive_path(m, a, a + k, p, nb);
		naive_mth(a + k, b, p[(*nb)++]);
	} else {
		naive_path(m - k, a + k, b, p, nb);
		naive_mth(a, a + k, p[(*nb)++]);
	}
}

/* SUBPROOF(m, D[a:b], whole) of RFC 9162 2.1.4.1. */
static void naive_sub(uint64_t m, uint64_t a, uint64_t b, bool whole, uint8_t (*p)[32],
		      unsigned *nb)
{
	uint64_t n = b - a, k = 1;

	if (m == n) {
		if (!whole)
			naive_mth(a, b, p[(*nb)++]);
		return;
	}
	while (k * 2 < n)
		k *= 2;
	if (m <= k) {
		naive_sub(m, a, a + k, whole, p, nb);
		naive_mth(a + k, b, p[(*nb)++]);
	} else {
		naive_sub(m - k, a + k, b, false, p, nb);
		naive_mth(a, a + k, p[(*nb)++]);
	}
}

/* Node source for the library: perfect subtrees from the naive MTH. */
static int node_fn(void *arg, unsigned level, uint64_t index, uint8_t out[32])
{
	(void)arg;
	naive_mth(index << level, (index + 1) << level, out);
	return 0;
}

static void fill_leaves(void)
{
	for (unsigned i = 0; i < N_MAX; i++) {
		uint8_t entry[8] = { 'l', 'e', 'a', 'f', (uint8_t)i, (uint8_t)(i * 7), 0, 1 };

		ledger_leaf_hash(entry, sizeof(entry), leaves[i]);
	}
}

static void test_roots(void)
{
	uint8_t a[32], b[32];

	ledger_empty_root(a);
	ledger_merkle_root(NULL, 0, b);
	CHECK(memcmp(a, b, 32) == 0, "empty root");
	{
		static const uint8_t want[32] = { 0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14,
						  0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
						  0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c,
						  0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55 };

		CHECK(memcmp(a, want, 32) == 0, "empty root is SHA-256 of nothing");
	}
	for (uint64_t n = 1; n <= N_MAX; n++) {
		struct ledger_frontier f = { 0 };

		for (uint64_t i = 0; i < n; i++)
			ledger_frontier_push(&f, leaves[i], NULL, NULL);
		ledger_frontier_root(&f, a);
		naive_mth(0, n, b);
		CHECK(memcmp(a, b, 32) == 0, "root of %llu leaves", (unsigned long long)n);
		ledger_merkle_root((const uint8_t(*)[32])leaves, n, a);
		CHECK(memcmp(a, b, 32) == 0, "merkle_root of %llu leaves", (unsigned long long)n);
	}
}

/* Completed-subtree callback: every reported node equals the naive MTH. */
static unsigned nb_cb_bad, nb_cb;

static void cb_check(void *arg, unsigned level, uint64_t index, const uint8_t h[32])
{
	uint8_t want[32];

	(void)arg;
	naive_mth(index << level, (index + 1) << level, want);
	nb_cb++;
	nb_cb_bad += memcmp(want, h, 32) != 0;
}

static void test_frontier_nodes(void)
{
	struct ledger_frontier f = { 0 };

	for (unsigned i = 0; i < 32; i++)
		ledger_frontier_push(&f, leaves[i], cb_check, NULL);
	CHECK_EQ(nb_cb, 31, "a tree of 32 leaves completes 31 inner nodes");
	CHECK_EQ(nb_cb_bad, 0, "completed nodes equal the naive MTH");
}

static void test_inclusion(void)
{
	uint8_t got[LEDGER_PROOF_MAX][32], want[LEDGER_PROOF_MAX][32], root[32];

	for (uint64_t n = 1; n <= N_MAX; n++) {
		naive_mth(0, n, root);
		for (uint64_t m = 0; m < n; m++) {
			unsigned nb = 0, nw = 0;
			int rc = ledger_inclusion_proof(node_fn, NULL, m, n, got, &nb);

			naive_path(m, 0, n, want, &nw);
			CHECK_EQ(rc, 0, "proof m=%llu n=%llu", (unsigned long long)m,
				 (unsigned long long)n);
			CHECK(nb == nw && memcmp(got, want, (size_t)nb * 32) == 0,
			      "path m=%llu n=%llu equals the naive PATH", (unsigned long long)m,
			      (unsigned long long)n);
			CHECK(ledger_inclusion_verify(m, n, leaves[m], (const uint8_t(*)[32])got, nb,
						      root),
			      "verify m=%llu n=%llu", (unsigned long long)m, (unsigned long long)n);
			/* wrong leaf, wrong index, shortened or corrupted path (the size is
			 * bound by the signed checkpoint, not by the path) */
			CHECK(!ledger_inclusion_verify(m, n, leaves[(m + 1) % N_MAX],
						       (const uint8_t(*)[32])got, nb, root),
			      "wrong leaf accepted m=%llu n=%llu", (unsigned long long)m,
			      (unsigned long long)n);
			if (n > 1)
				CHECK(!ledger_inclusion_verify((m + 1) % n, n, leaves[m],
							       (const uint8_t(*)[32])got, nb, root),
				      "wrong index accepted m=%llu n=%llu", (unsigned long long)m,
				      (unsigned long long)n);
			if (nb > 0) {
				CHECK(!ledger_inclusion_verify(m, n, leaves[m], (const uint8_t(*)[32])got,
							       nb - 1, root),
				      "short path accepted");
				for (unsigned i = 0; i < nb; i++) {
					got[i][i % 32] ^= 1;
					CHECK(!ledger_inclusion_verify(m, n, leaves[m],
								       (const uint8_t(*)[32])got, nb, root),
					      "flipped path[%u] accepted", i);
					got[i][i % 32] ^= 1;
				}
			}
		}
		CHECK_EQ(ledger_inclusion_proof(node_fn, NULL, n, n, got, &(unsigned){ 0 }), -EINVAL,
			 "m == n refused");
	}
}

static void test_consistency(void)
{
	uint8_t got[LEDGER_PROOF_MAX][32], want[LEDGER_PROOF_MAX][32], r1[32], r2[32];

	for (uint64_t n = 1; n <= N_MAX; n++) {
		naive_mth(0, n, r2);
		for (uint64_t m = 1; m <= n; m++) {
			unsigned nb = 0, nw = 0;
			int rc = ledger_consistency_proof(node_fn, NULL, m, n, got, &nb);

			naive_mth(0, m, r1);
			naive_sub(m, 0, n, true, want, &nw);
			CHECK_EQ(rc, 0, "consistency m=%llu n=%llu", (unsigned long long)m,
				 (unsigned long long)n);
			CHECK(nb == nw && memcmp(got, want, (size_t)nb * 32) == 0,
			      "proof m=%llu n=%llu equals the naive PROOF", (unsigned long long)m,
			      (unsigned long long)n);
			CHECK(ledger_consistency_verify(m, n, r1, r2, (const uint8_t(*)[32])got, nb),
			      "verify m=%llu n=%llu", (unsigned long long)m, (unsigned long long)n);
			if (m < n) {
				uint8_t other[32];

				naive_mth(0, m - 1 ? m - 1 : 2, other);
				CHECK(!ledger_consistency_verify(m, n, other, r2,
								 (const uint8_t(*)[32])got, nb),
				      "wrong first root accepted m=%llu n=%llu",
				      (unsigned long long)m, (unsigned long long)n);
				CHECK(!ledger_consistency_verify(m, n, r1, r1,
								 (const uint8_t(*)[32])got, nb) ||
					      memcmp(r1, r2, 32) == 0,
				      "wrong second root accepted");
				for (unsigned i = 0; i < nb; i++) {
					got[i][(i * 5) % 32] ^= 0x80;
					CHECK(!ledger_consistency_verify(m, n, r1, r2,
									 (const uint8_t(*)[32])got,
									 nb),
					      "flipped proof[%u] accepted m=%llu n=%llu", i,
					      (unsigned long long)m, (unsigned long long)n);
					got[i][(i * 5) % 32] ^= 0x80;
				}
				CHECK(!ledger_consistency_verify(m, n, r1, r2, NULL, 0),
				      "empty proof accepted for m < n");
			}
		}
	}
	CHECK(!ledger_consistency_verify(0, 4, r1, r2, NULL, 0), "m = 0 refused");
}

static void unhex(const char *s, uint8_t *out)
{
	CHECK_EQ(ledger_unhex(s, strlen(s), out, strlen(s) / 2), 0, "hex %s", s);
}

/* The Certificate Transparency reference vectors: 8 leaf inputs and the
 * roots of their first 1..8. */
static void test_ct_vectors(void)
{
	static const char *const inputs[8] = {
		"", "00", "10", "2021", "3031", "40414243", "5051525354555657",
		"606162636465666768696a6b6c6d6e6f",
	};
	static const char *const roots[8] = {
		"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
		"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
		"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
		"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
		"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
		"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
		"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
		"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
	};
	struct ledger_frontier f = { 0 };

	for (unsigned i = 0; i < 8; i++) {
		uint8_t in[16], leaf[32], root[32], want[32];

		unhex(inputs[i], in);
		ledger_leaf_hash(in, strlen(inputs[i]) / 2, leaf);
		ledger_frontier_push(&f, leaf, NULL, NULL);
		ledger_frontier_root(&f, root);
		unhex(roots[i], want);
		CHECK(memcmp(root, want, 32) == 0, "CT vector root of %u leaves", i + 1);
	}
}

int main(void)
{
	fill_leaves();
	test_roots();
	test_frontier_nodes();
	test_inclusion();
	test_consistency();
	test_ct_vectors();
	return CHECK_DONE();
}
