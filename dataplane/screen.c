/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Screening: each framed message is decoded and its identifiers extracted
 * into the lcore's burst staging; once per burst (or when the staging
 * fills) fingerprints are computed for all of them at once and looked up in
 * the table in bulk, up to RG_TABLE_BULK_MAX per call.  A hit counts for a
 * list only when the identifier's kind is mapped to that list by the
 * mapping of the message's service, the table value has the list's bit and
 * the policy's action for the list is not off.  The mapping is resolved per
 * service into per-lcore tables at each policy change, so a message costs
 * array lookups by service index, whatever the number of services.
 * Fast path: no allocation, no logging; malformed messages are counted.
 */
#include <string.h>

#include <rte_branch_prediction.h>
#include <rte_cycles.h>

#include "dataplane/dp.h"

/* MTI bytes on the wire of a dialect. */
static inline unsigned dp_mti_bytes(const struct rg_dialect *d)
{
	return d->mti_enc == RG_ISO_E_BCD ? 2 : 4;
}

/* Version 0-2 (1987, 1993, 2003) or 9 (private), class 1-9. */
static inline bool dp_mti_digits_ok(unsigned v, unsigned cls, unsigned fn, unsigned org)
{
	return (v <= 2 || v == 9) && cls >= 1 && cls <= 9 && fn <= 9 && org <= 9;
}

bool dp_frame_plausible(const struct dp_service *svc, const uint8_t *p, uint32_t len)
{
	const struct rg_framing *f = &svc->framing;
	unsigned lb = rg_framing_len_bytes(f), mb = dp_mti_bytes(svc->dialect);
	uint32_t body;
	const uint8_t *m;

	if (len < lb)
		return false;
	switch (f->len_kind) {
	case RG_FRAME_LEN2:
		body = (uint32_t)p[0] << 8 | p[1];
		break;
	case RG_FRAME_LEN2_INCL:
		body = (uint32_t)p[0] << 8 | p[1];
		if (body < 2)
			return false;
		body -= 2;
		break;
	case RG_FRAME_ASCII4:
		for (unsigned i = 0; i < 4; i++)
			if (p[i] < '0' || p[i] > '9')
				return false;
		body = (uint32_t)(p[0] - '0') * 1000 + (uint32_t)(p[1] - '0') * 100 +
		       (uint32_t)(p[2] - '0') * 10 + (uint32_t)(p[3] - '0');
		break;
	case RG_FRAME_BCD2:
		if ((p[0] >> 4) > 9 || (p[0] & 15) > 9 || (p[1] >> 4) > 9 || (p[1] & 15) > 9)
			return false;
		body = (uint32_t)(p[0] >> 4) * 1000 + (uint32_t)(p[0] & 15) * 100 +
		       (uint32_t)(p[1] >> 4) * 10 + (p[1] & 15);
		break;
	default:
		return false;
	}
	if (body == 0)
		return true; /* a keep-alive */
	if (body < f->hdr_bytes + mb || body > f->max_msg_bytes)
		return false;
	if (len < lb + f->hdr_bytes + mb)
		return false;
	m = p + lb + f->hdr_bytes;
	switch (svc->dialect->mti_enc) {
	case RG_ISO_E_BCD:
		return dp_mti_digits_ok(m[0] >> 4, m[0] & 15, m[1] >> 4, m[1] & 15);
	case RG_ISO_E_EBCDIC:
		return dp_mti_digits_ok((unsigned)m[0] - 0xf0, (unsigned)m[1] - 0xf0,
					(unsigned)m[2] - 0xf0, (unsigned)m[3] - 0xf0);
	default:
		return dp_mti_digits_ok((unsigned)m[0] - '0', (unsigned)m[1] - '0',
					(unsigned)m[2] - '0', (unsigned)m[3] - '0');
	}
}

/* Keep the wire bytes of a small field for the event text. */
static inline void dp_keep_field(const struct rg_iso_msg *m, unsigned de, uint8_t *out,
				 size_t cap, uint8_t *len, uint16_t *units)
{
	*len = 0;
	if (!rg_iso_has(m, de) || m->v[de].len > cap)
		return;
	memcpy(out, m->buf + m->v[de].off, m->v[de].len);
	*len = (uint8_t)m->v[de].len;
	*units = m->v[de].units;
}

/* DEs the event of a hit carries (dp_keep_field below). */
#define DP_EVENT_LAST_DE 37

void dp_screen_plan(struct dp_lcore *lc)
{
	const struct dp_config *cfg = lc->x->cfg;

	memset(lc->svc_kind_lists, 0, sizeof(lc->svc_kind_lists));
	memset(lc->screen_kinds, 0, sizeof(lc->screen_kinds));
	for (unsigned s = 0; s < cfg->nb_services && s < DP_SERVICES_MAX; s++) {
		const struct rg_dialect *d = cfg->svc[s].dialect;
		unsigned last = DP_EVENT_LAST_DE;
		uint32_t kinds = 0;

		for (unsigned k = RG_KIND_NONE + 1; k < RG_KIND_MAX; k++) {
			lc->svc_kind_lists[s][k] = cfg->svc[s].kind_lists[k] & lc->active_lists;
			if (lc->svc_kind_lists[s][k])
				kinds |= 1u << k;
		}
		lc->screen_kinds[s] = kinds;
		for (unsigned i = 0; d != NULL && i < d->nb_ident && i < RG_DIALECT_MAX_IDENT; i++)
			if ((kinds >> d->ident[i].kind & 1) && d->ident[i].de > last)
				last = d->ident[i].de;
		lc->svc_last_de[s] = (uint8_t)last;
	}
}

void dp_screen_msg(struct dp_lcore *lc, const struct rg_frame *f)
{
	unsigned si = lc->cur_flow->svc;
	const struct dp_service *svc = &lc->x->cfg->svc[si];
	const uint16_t *kind_lists = lc->svc_kind_lists[si];
	struct rg_iso_msg *m = &lc->iso;
	enum rg_anomaly a, xa = RG_ANOM_NONE;
	struct dp_msg *msg;
	unsigned n, cls, kept = 0, first;

	lc->c[RG_CTR_MESSAGES]++;
	if (unlikely(lc->nb_msgs == DP_MSGS_MAX || lc->nb_ids + RG_IDENT_MAX > DP_IDS_MAX))
		dp_screen_flush(lc);
	a = rg_iso_decode_until(svc->dialect, f->msg, f->msg_len, 0, lc->svc_last_de[si], m);
	if (unlikely(a != RG_ANOM_NONE)) {
		lc->c[RG_CTR_ANOM_BASE + a]++;
		if (a == RG_ANOM_BAD_MTI || (a == RG_ANOM_TRUNCATED && m->end == 0))
			return;
	}
	cls = (m->mti / 100) % 10;
	lc->c[RG_CTR_MSG_CLASS_BASE + cls]++;
	if (unlikely(lc->policy.exempt_mti_classes & (1u << cls))) {
		lc->c[RG_CTR_EXEMPT_MESSAGES]++;
		return;
	}
	first = lc->nb_ids;
	n = rg_ident_extract_mask(svc->dialect, m, lc->screen_kinds[si], &lc->ids[first],
				  RG_IDENT_MAX, &xa);
	if (unlikely(xa != RG_ANOM_NONE))
		lc->c[RG_CTR_ANOM_BASE + xa]++;
	if (n == 0)
		return;
	/* only identifiers that feed a list in force are looked up */
	for (unsigned i = 0; i < n; i++) {
		const struct rg_ident *id = &lc->ids[first + i];

		lc->c[RG_CTR_IDENT_BASE + id->kind]++;
		if (kind_lists[id->kind]) {
			if (kept != i)
				lc->ids[first + kept] = *id;
			lc->id_msg[first + kept] = (uint16_t)lc->nb_msgs;
			kept++;
		}
	}
	if (kept == 0)
		return;
	lc->nb_ids += kept;
	msg = &lc->msgs[lc->nb_msgs++];
	msg->key = lc->cur_flow->key;
	msg->flow = (uint32_t)(lc->cur_flow - lc->flows);
	msg->mti = m->mti;
	msg->dir = lc->cur_end;
	msg->request = lc->cur_dir->request;
	msg->svc = (uint8_t)si;
	dp_keep_field(m, 11, msg->stan, sizeof(msg->stan), &msg->stan_len, &msg->stan_units);
	dp_keep_field(m, 37, msg->rrn, sizeof(msg->rrn), &msg->rrn_len, &msg->rrn_units);
}

static void dp_screen_hit(struct dp_lcore *lc, unsigned i, uint64_t ledger_pos)
{
	const struct rg_ident *id = &lc->ids[i];
	const struct dp_msg *msg = &lc->msgs[lc->id_msg[i]];
	struct rg_table_val v = lc->vals[i];
	uint16_t lists = v.lists & lc->svc_kind_lists[msg->svc][id->kind];
	uint8_t action = RG_ACTION_OFF;

	lc->c[RG_CTR_TABLE_HITS]++;
	if (lists == 0)
		return;
	for (uint16_t l = lists; l; l &= (uint16_t)(l - 1)) {
		unsigned b = (unsigned)__builtin_ctz(l);

		lc->c[RG_CTR_HITS]++;
		lc->c[RG_CTR_HITS_LIST_BASE + b]++;
		if (lc->policy.list_action[b] > action)
			action = lc->policy.list_action[b];
	}
	if (action == RG_ACTION_DECLINE) {
		/* enforcement is not there yet: report, forward, and say so */
		lc->c[RG_CTR_DECLINE_AS_MONITOR]++;
		action = RG_ACTION_MONITOR;
	}
	dp_event_emit(lc, msg, id, &lc->fps[i], v, lists, action, ledger_pos);
}

void dp_screen_flush(struct dp_lcore *lc)
{
	unsigned n = lc->nb_ids;
	uint64_t ledger_pos = 0;
	bool have_pos = false;

	if (n == 0) {
		lc->nb_msgs = 0;
		return;
	}
	DP_PROF_T0(t0);
	rg_fp_compute_burst(lc->x->key, lc->ids, n, lc->fps);
	DP_PROF_ADD(lc, DP_STAGE_FP, t0);
	for (unsigned off = 0; off < n; off += RG_TABLE_BULK_MAX) {
		unsigned k = n - off < RG_TABLE_BULK_MAX ? n - off : RG_TABLE_BULK_MAX;
		DP_PROF_T0(t1);
		uint64_t hit = rg_table_lookup_burst(lc->table, lc->fps + off, k, lc->vals + off);

		DP_PROF_ADD(lc, DP_STAGE_LOOKUP, t1);
		DP_PROF_T0(t2);
		lc->c[RG_CTR_LOOKUPS] += k;
		while (hit) {
			unsigned b = (unsigned)__builtin_ctzll(hit);

			hit &= hit - 1;
			if (!have_pos) {
				ledger_pos = rg_table_ledger_pos(lc->table, NULL);
				have_pos = true;
			}
			dp_screen_hit(lc, off + b, ledger_pos);
		}
		DP_PROF_ADD(lc, DP_STAGE_EVENTS, t2);
	}
	lc->nb_ids = 0;
	lc->nb_msgs = 0;
}
