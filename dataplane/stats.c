/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Per-lcore bookkeeping between bursts: the policy copy in force (from the
 * segment's sequence-locked block) and the table gauges.  Counters
 * themselves are plain u64 stores into the lcore's block of the segment,
 * made where things happen; readers sum the blocks (rg_segment_sum).
 */
#include <string.h>

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
	dp_screen_plan(lc);
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

#ifdef DP_PROF
static double dp_lat_pct(const uint64_t *h, uint64_t total, double q, double ns_per_tsc)
{
	uint64_t want = (uint64_t)((double)total * q), acc = 0;

	for (unsigned b = 0; b < DP_LAT_BUCKETS; b++) {
		acc += h[b];
		if (acc > want)
			return (double)(((uint64_t)b << DP_LAT_SHIFT) + (1u << (DP_LAT_SHIFT - 1))) *
			       ns_per_tsc;
	}
	return (double)((uint64_t)DP_LAT_BUCKETS << DP_LAT_SHIFT) * ns_per_tsc;
}
#endif

void dp_prof_report(const struct dp_ctx *x, FILE *out)
{
#ifdef DP_PROF
	static const char *const names[DP_STAGE_MAX] = {
		"parse", "flow", "decode", "fingerprint", "lookup", "events", "tx",
	};
	static uint64_t lat[DP_LAT_BUCKETS], lat_screen[DP_LAT_BUCKETS];
	uint64_t tsc[DP_STAGE_MAX] = { 0 }, pkts = 0;
	double ns_per_tsc = 1e9 / (double)rte_get_tsc_hz();

	memset(lat, 0, sizeof(lat));
	memset(lat_screen, 0, sizeof(lat_screen));
	for (unsigned w = 0; w < x->nb_lcores; w++) {
		const struct dp_prof *p = &x->lc[w]->prof;

		for (unsigned s = 0; s < DP_STAGE_MAX; s++)
			tsc[s] += p->tsc[s];
		for (unsigned b = 0; b < DP_LAT_BUCKETS; b++)
			lat[b] += p->lat[b];
		for (unsigned b = 0; b < DP_LAT_BUCKETS; b++)
			lat_screen[b] += p->lat_screen[b];
		pkts += p->nb_pkts;
	}
	fprintf(out, "{\"prof_packets\": %llu, \"stage_ns_per_pkt\": {", (unsigned long long)pkts);
	for (unsigned s = 0; s < DP_STAGE_MAX; s++)
		fprintf(out, "%s\"%s\": %.1f", s ? ", " : "", names[s],
			pkts ? (double)tsc[s] * ns_per_tsc / (double)pkts : 0.0);
	fprintf(out, "}, \"latency_ns\": {\"p50\": %.0f, \"p99\": %.0f, \"p99.9\": %.0f",
		dp_lat_pct(lat, pkts, 0.5, ns_per_tsc), dp_lat_pct(lat, pkts, 0.99, ns_per_tsc),
		dp_lat_pct(lat, pkts, 0.999, ns_per_tsc));
	fprintf(out, "}, \"screen_latency_ns\": {\"p50\": %.0f, \"p99\": %.0f, \"p99.9\": %.0f}}\n",
		dp_lat_pct(lat_screen, pkts, 0.5, ns_per_tsc),
		dp_lat_pct(lat_screen, pkts, 0.99, ns_per_tsc),
		dp_lat_pct(lat_screen, pkts, 0.999, ns_per_tsc));
	fflush(out);
#else
	(void)x;
	(void)out;
#endif
}
