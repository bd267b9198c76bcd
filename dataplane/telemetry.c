/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DPDK telemetry commands (dpdk-telemetry.py, or the telemetry socket):
 *   /riskgate/stats      every counter summed over the lcores
 *   /riskgate/lcores     main counters per lcore
 *   /riskgate/anomalies  anomaly counters summed, by reason
 *   /riskgate/table      table file, generation, entries, ledger position
 * They run on DPDK's telemetry thread and only read the segment.
 */
#include <stdio.h>

#include <rte_telemetry.h>

#include "dataplane/dp.h"

static struct dp_ctx *tel_ctx;

static uint64_t tel_load(const struct dp_lcore *lc, unsigned ctr)
{
	return __atomic_load_n(&lc->c[ctr], __ATOMIC_RELAXED);
}

static int tel_stats(const char *cmd, const char *params, struct rte_tel_data *d)
{
	(void)cmd;
	(void)params;
	rte_tel_data_start_dict(d);
	for (unsigned i = 0; i < RG_CTR_ANOM_BASE; i++)
		rte_tel_data_add_dict_u64(d, rg_ctr_name(i), rg_segment_sum(tel_ctx->seg, i));
	return 0;
}

static int tel_anomalies(const char *cmd, const char *params, struct rte_tel_data *d)
{
	(void)cmd;
	(void)params;
	rte_tel_data_start_dict(d);
	for (unsigned a = 1; a < RG_ANOM_MAX; a++)
		rte_tel_data_add_dict_u64(d, rg_anomaly_name(a),
					  rg_segment_sum(tel_ctx->seg, RG_CTR_ANOM_BASE + a));
	return 0;
}

static int tel_lcores(const char *cmd, const char *params, struct rte_tel_data *d)
{
	static const unsigned shown[] = {
		RG_CTR_RX_PKTS, RG_CTR_TX_PKTS, RG_CTR_TX_DROPS, RG_CTR_MESSAGES,
		RG_CTR_LOOKUPS, RG_CTR_HITS, RG_CTR_EVENTS, RG_CTR_EVENTS_DROPPED,
		RG_CTR_FLOWS_ACTIVE, RG_CTR_POLLS,
	};

	(void)cmd;
	(void)params;
	rte_tel_data_start_dict(d);
	for (unsigned w = 0; w < tel_ctx->nb_lcores; w++) {
		const struct dp_lcore *lc = tel_ctx->lc[w];
		struct rte_tel_data *o = rte_tel_data_alloc();
		char name[32];

		if (o == NULL)
			return -1;
		rte_tel_data_start_dict(o);
		for (unsigned i = 0; i < RTE_DIM(shown); i++)
			rte_tel_data_add_dict_u64(o, rg_ctr_name(shown[i]), tel_load(lc, shown[i]));
		snprintf(name, sizeof(name), "lcore_%u", lc->lcore_id);
		rte_tel_data_add_dict_container(d, name, o, 0);
	}
	return 0;
}

static int tel_table(const char *cmd, const char *params, struct rte_tel_data *d)
{
	const struct dp_lcore *lc = tel_ctx->lc[0];

	(void)cmd;
	(void)params;
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_string(d, "path", tel_ctx->cfg->table_path);
	rte_tel_data_add_dict_u64(d, "generation", tel_load(lc, RG_CTR_TABLE_GENERATION));
	rte_tel_data_add_dict_u64(d, "count", tel_load(lc, RG_CTR_TABLE_COUNT));
	rte_tel_data_add_dict_u64(d, "ledger_pos", tel_load(lc, RG_CTR_TABLE_LEDGER_POS));
	rte_tel_data_add_dict_u64(d, "switches", rg_segment_sum(tel_ctx->seg, RG_CTR_TABLE_SWITCHES));
	rte_tel_data_add_dict_u64(d, "lookups", rg_segment_sum(tel_ctx->seg, RG_CTR_LOOKUPS));
	rte_tel_data_add_dict_u64(d, "table_hits", rg_segment_sum(tel_ctx->seg, RG_CTR_TABLE_HITS));
	return 0;
}

int dp_telemetry_register(struct dp_ctx *x)
{
	int r = 0;

	tel_ctx = x;
	r |= rte_telemetry_register_cmd("/riskgate/stats", tel_stats,
					"Every riskgate-dp counter, summed over lcores");
	r |= rte_telemetry_register_cmd("/riskgate/lcores", tel_lcores,
					"Main riskgate-dp counters per lcore");
	r |= rte_telemetry_register_cmd("/riskgate/anomalies", tel_anomalies,
					"Screening anomalies by reason");
	r |= rte_telemetry_register_cmd("/riskgate/table", tel_table,
					"Fingerprint table in use");
	return r ? -1 : 0;
}
