/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The per-lcore flow table (dataplane/flowtab.h): slot allocation and
 * set-up.  Lookups are inline in the header.
 */
#include <errno.h>

#include <rte_malloc.h>

#include "dataplane/flowtab.h"

uint32_t dp_ftab_add(struct dp_ftab *t, const struct dp_ftab_pos *p)
{
	struct dp_ftab_bkt *best = NULL;
	unsigned best_free = 0, slot = 0;
	uint32_t idx;

	if (t->nb_free == 0)
		return UINT32_MAX;
	/* the emptier of the two buckets, so both fill evenly */
	for (unsigned k = 0; k < 2; k++) {
		struct dp_ftab_bkt *b = &t->bkt[p->b[k]];
		unsigned m = dp_ftab_match(b, 0), nb = (unsigned)__builtin_popcount(m);

		if (nb > best_free) {
			best = b;
			best_free = nb;
			slot = (unsigned)__builtin_ctz(m);
		}
	}
	if (best == NULL)
		return UINT32_MAX;
	idx = t->free[--t->nb_free];
	best->sig[slot] = p->sig;
	best->idx[slot] = idx;
	return idx;
}

void dp_ftab_del(struct dp_ftab *t, const struct dp_ftab_pos *p, uint32_t idx)
{
	for (unsigned k = 0; k < 2; k++) {
		struct dp_ftab_bkt *b = &t->bkt[p->b[k]];

		for (unsigned m = dp_ftab_match(b, p->sig); m; m &= m - 1) {
			unsigned s = (unsigned)__builtin_ctz(m);

			if (b->idx[s] == idx) {
				b->sig[s] = 0;
				t->free[t->nb_free++] = idx;
				return;
			}
		}
	}
}

int dp_ftab_init(struct dp_ftab *t, uint32_t nb_flows, int socket)
{
	/* two slots per flow at least */
	uint64_t want = ((uint64_t)nb_flows * 2 + DP_FTAB_WAYS - 1) / DP_FTAB_WAYS;
	uint32_t nb_bkt = rte_align32pow2((uint32_t)(want ? want : 1));

	t->bkt = rte_zmalloc_socket("dp_ftab", (size_t)nb_bkt * sizeof(*t->bkt),
				    RTE_CACHE_LINE_SIZE, socket);
	t->free = rte_malloc_socket("dp_ftab_free", (size_t)nb_flows * sizeof(uint32_t), 0,
				    socket);
	if (t->bkt == NULL || t->free == NULL) {
		dp_ftab_free(t);
		return -ENOMEM;
	}
	t->mask = nb_bkt - 1;
	t->cap = nb_flows;
	/* lowest indexes first: a lightly used table touches few flow lines */
	for (uint32_t i = 0; i < nb_flows; i++)
		t->free[i] = nb_flows - 1 - i;
	t->nb_free = nb_flows;
	return 0;
}

void dp_ftab_free(struct dp_ftab *t)
{
	rte_free(t->bkt);
	rte_free(t->free);
	t->bkt = NULL;
	t->free = NULL;
	t->nb_free = 0;
}
