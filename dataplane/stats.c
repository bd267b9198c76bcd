/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Per-lcore bookkeeping between bursts: the policy copy in force (from the
 * segment's sequence-locked block) and the table gauges.  Counters
 * themselves are plain u64 stores into the lcore's block of the segment,
 * made where things happen; readers sum the blocks (rg_segment_sum).
 */
#include <rte_cycles.h>

#include "dataplane/dp.h"

void dp_policy_refresh(struct dp_lcore *lc)
{
	const struct rg_seg_policy *shared = rg_segment_policy(lc->x->seg);
	struct rg_seg_policy p;
	uint16_t active = 0;

	if (__atomic_load_n(&shared->version, __ATOMIC_RELAXED) == lc->policy.version)
		return;
	if (!rg_seg_policy_read(shared, &p))
		return; /* a write in progress: next poll */
	/* a message staged under the old policy is screened under it */
	dp_screen_flush(lc);
	for (unsigned l = 0; l < RG_LIST_MAX; l++)
		if (p.list_action[l] != RG_ACTION_OFF && p.list_action[l] < RG_ACTION_MAX)
			active |= (uint16_t)(1u << l);
	lc->policy = p;
	lc->active_lists = active;
	lc->c[RG_CTR_POLICY_VERSION] = p.version;
}

void dp_stats_table(struct dp_lcore *lc, uint64_t now_tsc)
{
	struct rg_table_stats s;

	if (now_tsc < lc->next_table_tsc)
		return;
	lc->next_table_tsc = now_tsc + lc->tsc_hz;
	rg_table_stats(lc->table, &s);
	lc->c[RG_CTR_TABLE_GENERATION] = s.generation;
	lc->c[RG_CTR_TABLE_COUNT] = s.count;
	lc->c[RG_CTR_TABLE_LEDGER_POS] = s.ledger_pos;
}
