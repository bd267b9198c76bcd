/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * RFC 9162 Merkle trees: the growing right edge of a log (frontier),
 * roots, inclusion and consistency proofs and their verification, written
 * from the RFC's definitions (sections 2.1.1 to 2.1.4).
 *
 * Proof generation asks a node source for hashes of perfect subtrees only
 * (2^level leaves starting at index * 2^level): every range the RFC's
 * recursion splits off starts at a multiple of its largest power of two.
 */
#include <errno.h>
#include <string.h>

#include "ledger/ledger.h"

void ledger_frontier_push(struct ledger_frontier *f, const uint8_t leaf[LEDGER_HASH_BYTES],
			  void (*cb)(void *arg, unsigned level, uint64_t index,
				     const uint8_t h[LEDGER_HASH_BYTES]),
			  void *arg)
{
	uint8_t cur[LEDGER_HASH_BYTES];
	uint64_t s = f->size;
	unsigned level = 0;

	memcpy(cur, leaf, LEDGER_HASH_BYTES);
	while (s & 1) {
		ledger_node_hash(f->h[f->nb - 1], cur, cur);
		f->nb--;
		level++;
		s >>= 1;
		if (cb != NULL)
			cb(arg, level, f->size >> level, cur);
	}
	memcpy(f->h[f->nb++], cur, LEDGER_HASH_BYTES);
	f->size++;
}

void ledger_frontier_root(const struct ledger_frontier *f, uint8_t out[LEDGER_HASH_BYTES])
{
	uint8_t acc[LEDGER_HASH_BYTES];

	if (f->nb == 0) {
		ledger_empty_root(out);
		return;
	}
	memcpy(acc, f->h[f->nb - 1], LEDGER_HASH_BYTES);
	for (unsigned i = f->nb - 1; i-- > 0;)
		ledger_node_hash(f->h[i], acc, acc);
	memcpy(out, acc, LEDGER_HASH_BYTES);
}

/* Largest power of two strictly less than n (n >= 2). */
static uint64_t split_point(uint64_t n)
{
	uint64_t k = 1;

	while (k << 1 < n)
		k <<= 1;
	return k;
}

void ledger_merkle_root(const uint8_t (*leaves)[LEDGER_HASH_BYTES], uint64_t n,
			uint8_t out[LEDGER_HASH_BYTES])
{
	struct ledger_frontier f;

	f.size = 0;
	f.nb = 0;
	for (uint64_t i = 0; i < n; i++)
		ledger_frontier_push(&f, leaves[i], NULL, NULL);
	ledger_frontier_root(&f, out);
}

static unsigned log2_exact(uint64_t n)
{
	return (unsigned)__builtin_ctzll(n);
}

/* MTH(D[a:b]) from perfect subtrees; a is aligned as the recursion makes it. */
static int range_hash(ledger_node_fn fn, void *arg, uint64_t a, uint64_t b,
		      uint8_t out[LEDGER_HASH_BYTES])
{
	uint64_t n = b - a, k;
	uint8_t l[LEDGER_HASH_BYTES], r[LEDGER_HASH_BYTES];
	int rc;

	if ((n & (n - 1)) == 0 && a % n == 0)
		return fn(arg, log2_exact(n), a >> log2_exact(n), out);
	k = split_point(n);
	rc = range_hash(fn, arg, a, a + k, l);
	if (rc == 0)
		rc = range_hash(fn, arg, a + k, b, r);
	if (rc != 0)
		return rc;
	ledger_node_hash(l, r, out);
	return 0;
}

static int path_rec(ledger_node_fn fn, void *arg, uint64_t m, uint64_t a, uint64_t b,
		    uint8_t (*path)[LEDGER_HASH_BYTES], unsigned *nb)
{
	uint64_t n = b - a, k;
	int rc;

	if (n <= 1)
		return 0;
	if (*nb >= LEDGER_PROOF_MAX)
		return -E2BIG;
	k = split_point(n);
	if (m < k) {
		rc = path_rec(fn, arg, m, a, a + k, path, nb);
		if (rc == 0)
			rc = range_hash(fn, arg, a + k, b, path[(*nb)++]);
	} else {
		rc = path_rec(fn, arg, m - k, a + k, b, path, nb);
		if (rc == 0)
			rc = range_hash(fn, arg, a, a + k, path[(*nb)++]);
	}
	return rc;
}

int ledger_inclusion_proof(ledger_node_fn fn, void *arg, uint64_t m, uint64_t n,
			   uint8_t (*path)[LEDGER_HASH_BYTES], unsigned *nb)
{
	*nb = 0;
	if (m >= n)
		return -EINVAL;
	return path_rec(fn, arg, m, 0, n, path, nb);
}

static int subproof(ledger_node_fn fn, void *arg, uint64_t m, uint64_t a, uint64_t b, bool whole,
		    uint8_t (*path)[LEDGER_HASH_BYTES], unsigned *nb)
{
	uint64_t n = b - a, k;
	int rc;

	if (*nb >= LEDGER_PROOF_MAX)
		return -E2BIG;
	if (m == n)
		return whole ? 0 : range_hash(fn, arg, a, b, path[(*nb)++]);
	k = split_point(n);
	if (m <= k) {
		rc = subproof(fn, arg, m, a, a + k, whole, path, nb);
		if (rc == 0)
			rc = range_hash(fn, arg, a + k, b, path[(*nb)++]);
	} else {
		rc = subproof(fn, arg, m - k, a + k, b, false, path, nb);
		if (rc == 0)
			rc = range_hash(fn, arg, a, a + k, path[(*nb)++]);
	}
	return rc;
}

int ledger_consistency_proof(ledger_node_fn fn, void *arg, uint64_t m, uint64_t n,
			     uint8_t (*path)[LEDGER_HASH_BYTES], unsigned *nb)
{
	*nb = 0;
	if (m == 0 || m > n)
		return -EINVAL;
	return subproof(fn, arg, m, 0, n, true, path, nb);
}

bool ledger_inclusion_verify(uint64_t m, uint64_t n, const uint8_t leaf[LEDGER_HASH_BYTES],
			     const uint8_t (*path)[LEDGER_HASH_BYTES], unsigned nb,
			     const uint8_t root[LEDGER_HASH_BYTES])
{
	uint64_t fn = m, sn;
	uint8_t r[LEDGER_HASH_BYTES];

	if (m >= n)
		return false;
	sn = n - 1;
	memcpy(r, leaf, LEDGER_HASH_BYTES);
	for (unsigned i = 0; i < nb; i++) {
		if (sn == 0)
			return false;
		if ((fn & 1) || fn == sn) {
			ledger_node_hash(path[i], r, r);
			if (!(fn & 1))
				while (!(fn & 1) && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
		} else {
			ledger_node_hash(r, path[i], r);
		}
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && memcmp(r, root, LEDGER_HASH_BYTES) == 0;
}

bool ledger_consistency_verify(uint64_t m, uint64_t n, const uint8_t r1[LEDGER_HASH_BYTES],
			       const uint8_t r2[LEDGER_HASH_BYTES],
			       const uint8_t (*path)[LEDGER_HASH_BYTES], unsigned nb)
{
	uint8_t fr[LEDGER_HASH_BYTES], sr[LEDGER_HASH_BYTES];
	uint64_t fn, sn;
	unsigned i = 0;

	if (m == 0 || m > n)
		return false;
	if (m == n)
		return nb == 0 && memcmp(r1, r2, LEDGER_HASH_BYTES) == 0;
	if (nb == 0)
		return false;
	fn = m - 1;
	sn = n - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	/* A power-of-two first tree is its own first proof element. */
	if ((m & (m - 1)) == 0) {
		memcpy(fr, r1, LEDGER_HASH_BYTES);
	} else {
		memcpy(fr, path[0], LEDGER_HASH_BYTES);
		i = 1;
	}
	memcpy(sr, fr, LEDGER_HASH_BYTES);
	for (; i < nb; i++) {
		if (sn == 0)
			return false;
		if ((fn & 1) || fn == sn) {
			ledger_node_hash(path[i], fr, fr);
			ledger_node_hash(path[i], sr, sr);
			if (!(fn & 1))
				while (!(fn & 1) && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
		} else {
			ledger_node_hash(sr, path[i], sr);
		}
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && memcmp(fr, r1, LEDGER_HASH_BYTES) == 0 &&
	       memcmp(sr, r2, LEDGER_HASH_BYTES) == 0;
}
