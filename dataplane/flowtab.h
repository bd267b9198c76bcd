/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The flow table of one worker lcore: canonical flow keys to indexes of
 * the lcore's flow array.
 *
 * Buckets are one cache line: eight 32-bit signatures and the eight flow
 * indexes they stand for.  A key hashes (CRC32-C over its five words) to
 * two buckets and sits in either; nothing is ever moved, so there is no
 * insertion chain and no tombstone: a delete clears its slot.  There are
 * at least twice as many slots as flows, so a key whose two buckets are
 * both full is vanishingly rare; it is refused like a full table.  A
 * lookup reads at most two lines of buckets and one flow key; signature
 * 0 marks a free slot.
 *
 * Owned by one lcore: no locking, no atomics.  Flow indexes come from a
 * free stack, so a flow keeps its index for its life.
 */
#ifndef RG_DP_FLOWTAB_H
#define RG_DP_FLOWTAB_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <rte_common.h>
#include <rte_hash_crc.h>
#include <rte_prefetch.h>

#define DP_FTAB_WAYS 8

struct dp_ftab_bkt {
	uint32_t sig[DP_FTAB_WAYS]; /* 0: free */
	uint32_t idx[DP_FTAB_WAYS];
} __rte_cache_aligned;

struct dp_ftab {
	struct dp_ftab_bkt *bkt;
	uint32_t mask;     /* buckets - 1 */
	uint32_t cap;      /* flows */
	uint32_t *free;    /* stack of free flow indexes */
	uint32_t nb_free;
};

/* Where a key may be: its signature and its two buckets. */
struct dp_ftab_pos {
	uint32_t sig;
	uint32_t b[2];
};

/* Five 8-byte words of a 40-byte key. */
static inline uint32_t dp_ftab_crc(const void *key)
{
	uint64_t w[5];
	uint32_t h = 0x52475250;

	memcpy(w, key, sizeof(w));
	for (unsigned i = 0; i < 5; i++)
		h = rte_hash_crc_8byte(w[i], h);
	return h;
}

static inline struct dp_ftab_pos dp_ftab_pos(const struct dp_ftab *t, const void *key)
{
	uint32_t h = dp_ftab_crc(key);
	uint32_t alt = (h * 0x9e3779b1u) >> 7;
	struct dp_ftab_pos p;

	p.sig = h | 1;
	p.b[0] = h & t->mask;
	p.b[1] = (p.b[0] ^ (alt | 1)) & t->mask;
	if (t->mask == 0)
		p.b[1] = 0;
	return p;
}

static inline void dp_ftab_prefetch(const struct dp_ftab *t, const struct dp_ftab_pos *p)
{
	rte_prefetch0(&t->bkt[p->b[0]]);
	rte_prefetch0(&t->bkt[p->b[1]]);
}

/* Slots of bucket b whose signature is sig, as a bit mask. */
static inline unsigned dp_ftab_match(const struct dp_ftab_bkt *b, uint32_t sig)
{
	unsigned m = 0;

	for (unsigned i = 0; i < DP_FTAB_WAYS; i++)
		m |= (unsigned)(b->sig[i] == sig) << i;
	return m;
}

/*
 * The flow index of key, or UINT32_MAX.  same(flow index, key, arg) says
 * whether that flow's key equals key (the table keeps no keys itself).
 */
static inline uint32_t dp_ftab_find(const struct dp_ftab *t, const struct dp_ftab_pos *p,
				    bool (*same)(uint32_t idx, const void *key, void *arg),
				    const void *key, void *arg)
{
	for (unsigned k = 0; k < 2; k++) {
		const struct dp_ftab_bkt *b = &t->bkt[p->b[k]];

		for (unsigned m = dp_ftab_match(b, p->sig); m; m &= m - 1) {
			unsigned s = (unsigned)__builtin_ctz(m);

			if (same(b->idx[s], key, arg))
				return b->idx[s];
		}
	}
	return UINT32_MAX;
}

/* Take a flow index for a key known to be absent; UINT32_MAX when the
 * table or both of the key's buckets are full. */
uint32_t dp_ftab_add(struct dp_ftab *t, const struct dp_ftab_pos *p);
/* Give back flow index idx, found at p. */
void dp_ftab_del(struct dp_ftab *t, const struct dp_ftab_pos *p, uint32_t idx);

/* Room for nb_flows flows on a NUMA socket; 0 or -ENOMEM. */
int dp_ftab_init(struct dp_ftab *t, uint32_t nb_flows, int socket);
void dp_ftab_free(struct dp_ftab *t);

#endif
