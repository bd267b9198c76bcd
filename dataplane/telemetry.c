/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DPDK telemetry commands (dpdk-telemetry.py, or the telemetry socket):
 *   /riskgate/stats      every counter summed over the lcores
 *   /riskgate/lcores     main counters per lcore
 *   /riskgate/anomalies  anomaly counters summed, by reason
 *   /riskgate/table      table file, generation, entries, ledger position
 *   /riskgate/config     the configuration in force: ports, workers, one
 *                        service_PORT entry per service with the identifier
 *                        mapping it screens with, and the policy (actions
 *                        per list) read from the segment
 * They run on DPDK's telemetry thread and only read the segment and the
 * configuration (read-only after start-up).
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

/* Name of list l: a standard list's, else "list_N". */
static const char *tel_list_name(unsigned l, char *buf, size_t cap)
{
	const char *n = rg_list_std_name(l);

	if (n != NULL)
		return n;
	snprintf(buf, cap, "list_%u", l);
	return buf;
}

/* One service as a flat dict (DPDK 22.11 telemetry nests containers one
 * level deep): port, dialect, framing, where its mapping comes from, and
 * KIND: "list,list" for each kind that feeds a list. */
static struct rte_tel_data *tel_service(const struct dp_service *sv)
{
	struct rte_tel_data *o = rte_tel_data_alloc();

	if (o == NULL)
		return NULL;
	rte_tel_data_start_dict(o);
	rte_tel_data_add_dict_int(o, "port", sv->port);
	rte_tel_data_add_dict_string(o, "dialect", sv->dialect_name);
	rte_tel_data_add_dict_string(o, "framing", sv->framing_name);
	rte_tel_data_add_dict_string(o, "mapping_from", sv->own_mapping ? "service" : "top-level");
	for (unsigned k = RG_KIND_NONE + 1; k < RG_KIND_MAX; k++) {
		char lists[RG_LIST_MAX * 24] = "", buf[16];
		size_t off = 0;

		if (sv->kind_lists[k] == 0)
			continue;
		for (unsigned l = 0; l < RG_LIST_MAX; l++)
			if (sv->kind_lists[k] >> l & 1)
				off += (size_t)snprintf(lists + off, sizeof(lists) - off, "%s%s",
							off ? "," : "",
							tel_list_name(l, buf, sizeof(buf)));
		rte_tel_data_add_dict_string(o, rg_kind_name(k), lists);
	}
	return o;
}

static int tel_config(const char *cmd, const char *params, struct rte_tel_data *d)
{
	const struct dp_config *cfg = tel_ctx->cfg;
	struct rte_tel_data *pairs = rte_tel_data_alloc(), *lcores = rte_tel_data_alloc();
	struct rte_tel_data *pol = rte_tel_data_alloc();
	struct rg_seg_policy p;
	bool have_policy = false;
	char buf[2 * DP_NAME_MAX + 8];

	(void)cmd;
	(void)params;
	if (pairs == NULL || lcores == NULL || pol == NULL)
		goto fail;
	rte_tel_data_start_dict(d);
	rte_tel_data_start_array(pairs, RTE_TEL_STRING_VAL);
	for (unsigned i = 0; i < cfg->nb_pairs; i++) {
		snprintf(buf, sizeof(buf), "%s <-> %s", cfg->pair[i].name[0], cfg->pair[i].name[1]);
		rte_tel_data_add_array_string(pairs, buf);
	}
	rte_tel_data_start_array(lcores, RTE_TEL_INT_VAL);
	for (unsigned w = 0; w < tel_ctx->nb_lcores; w++)
		rte_tel_data_add_array_int(lcores, (int)tel_ctx->lc[w]->lcore_id);
	rte_tel_data_add_dict_container(d, "pairs", pairs, 0);
	rte_tel_data_add_dict_container(d, "lcores", lcores, 0);
	pairs = lcores = NULL;
	for (unsigned i = 0; i < cfg->nb_services; i++) {
		struct rte_tel_data *o = tel_service(&cfg->svc[i]);

		if (o == NULL)
			goto fail;
		snprintf(buf, sizeof(buf), "service_%u", (unsigned)cfg->svc[i].port);
		rte_tel_data_add_dict_container(d, buf, o, 0);
	}
	/* the policy in force is the segment's (the control plane may have
	 * changed it since start-up); a write in progress: try a few times */
	for (int i = 0; i < 100 && !have_policy; i++)
		have_policy = rg_seg_policy_read(rg_segment_policy(tel_ctx->seg), &p);
	rte_tel_data_start_dict(pol);
	for (unsigned l = 0; have_policy && l < RG_LIST_NB_STD; l++)
		rte_tel_data_add_dict_string(pol, tel_list_name(l, buf, sizeof(buf)),
					     rg_action_name(p.list_action[l]));
	rte_tel_data_add_dict_container(d, "policy", pol, 0);
	if (have_policy) {
		rte_tel_data_add_dict_u64(d, "policy_version", p.version);
		rte_tel_data_add_dict_int(d, "exempt_mti_classes", p.exempt_mti_classes);
	}
	rte_tel_data_add_dict_u64(d, "flows", cfg->nb_flows);
	rte_tel_data_add_dict_u64(d, "burst", cfg->burst);
	rte_tel_data_add_dict_string(d, "table", cfg->table_path);
	rte_tel_data_add_dict_string(d, "segment", cfg->segment_path);
	return 0;
fail:
	rte_tel_data_free(pairs);
	rte_tel_data_free(lcores);
	rte_tel_data_free(pol);
	return -1;
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
	r |= rte_telemetry_register_cmd("/riskgate/config", tel_config,
					"Configuration in force: ports, workers, services and their "
					"identifier mapping, policy");
	return r ? -1 : 0;
}
