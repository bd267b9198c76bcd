/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Hit events: built on the fast path into the lcore's ring in the shared
 * segment (common/event.h), and rendered as JSON lines by the consumer
 * side used in replay (--events).  A full ring drops the event and counts
 * it.  Identifiers leave the lcore masked; fingerprints as 8-byte prefixes.
 */
#include <arpa/inet.h>
#include <string.h>
#include <time.h>

#include <rte_cycles.h>

#include "dataplane/dp.h"

/* Text of a kept field (DE 11, DE 37) of message m through the codec. */
static void dp_field_text(const struct dp_lcore *lc, const struct dp_msg *m, unsigned de,
			  char *out, size_t cap)
{
	const struct rg_dialect *d = lc->x->cfg->svc[m->svc].dialect;
	struct rg_iso_msg *iso = (struct rg_iso_msg *)&lc->iso;
	const uint8_t *raw = de == 11 ? m->stan : m->rrn;
	uint8_t len = de == 11 ? m->stan_len : m->rrn_len;
	uint16_t units = de == 11 ? m->stan_units : m->rrn_units;
	int r;

	out[0] = '\0';
	if (len == 0)
		return;
	/* the decode scratch is free between messages: borrow it */
	iso->buf = raw;
	iso->len = len;
	iso->bitmap[0] = 1ull << (63 - (de - 1));
	iso->bitmap[1] = 0;
	iso->v[de].off = 0;
	iso->v[de].len = len;
	iso->v[de].units = units;
	r = rg_iso_field_text(d, iso, de, out, cap);
	if (r < 0)
		out[0] = '\0';
}

void dp_event_emit(struct dp_lcore *lc, const struct dp_msg *m, const struct rg_ident *id,
		   const struct rg_fp *fp, struct rg_table_val v, uint16_t lists,
		   uint8_t action, uint64_t ledger_pos)
{
	struct rg_event ev;
	unsigned alen = m->key.family == 4 ? 4 : 16;

	memset(&ev, 0, sizeof(ev));
	ev.time_ns = dp_now_ns(lc, rte_rdtsc());
	ev.ledger_pos = ledger_pos;
	ev.lcore = (uint16_t)lc->lcore_id;
	ev.kind = RG_EVENT_HIT;
	ev.family = m->key.family;
	ev.dir = m->request ? RG_EVENT_DIR_REQUEST : RG_EVENT_DIR_RESPONSE;
	ev.ident_kind = id->kind;
	ev.de = id->de;
	ev.action = action;
	ev.mti = m->mti;
	ev.lists = lists;
	ev.contributor = v.contributor;
	ev.action_hint = v.action;
	ev.sport = m->key.port[m->dir];
	ev.dport = m->key.port[1 - m->dir];
	memcpy(ev.saddr, m->key.addr[m->dir], alen);
	memcpy(ev.daddr, m->key.addr[1 - m->dir], alen);
	memcpy(ev.fp, fp->b, RG_EVENT_FP_PREFIX);
	dp_field_text(lc, m, 11, ev.stan, sizeof(ev.stan));
	dp_field_text(lc, m, 37, ev.rrn, sizeof(ev.rrn));
	if (rg_ident_mask(id->kind, id->value, id->len, ev.masked, sizeof(ev.masked)) < 0)
		memset(ev.masked, '*', id->len < sizeof(ev.masked) ? id->len : 0);
	dp_flow_count_hits(lc, m, (unsigned)__builtin_popcount(lists));
	if (rg_event_ring_push(lc->ring, &ev))
		lc->c[RG_CTR_EVENTS]++;
	else
		lc->c[RG_CTR_EVENTS_DROPPED]++;
}

static void dp_json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(out, "\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)
			fprintf(out, "\\u%04x", ch);
		else
			fputc(ch, out);
	}
	fputc('"', out);
}

static void dp_addr(const uint8_t *a, unsigned family, uint16_t port, char *out, size_t cap)
{
	char t[INET6_ADDRSTRLEN];

	if (family == 4) {
		inet_ntop(AF_INET, a, t, sizeof(t));
		snprintf(out, cap, "%s:%u", t, port);
	} else {
		inet_ntop(AF_INET6, a, t, sizeof(t));
		snprintf(out, cap, "[%s]:%u", t, port);
	}
}

void dp_event_write_json(FILE *out, const struct rg_event *ev, const struct dp_ctx *x)
{
	char src[64], dst[64], ts[48], date[32], mti[5], fp[2 * RG_EVENT_FP_PREFIX + 1];
	time_t sec = (time_t)(ev->time_ns / 1000000000ull);
	struct tm tm;

	(void)x;
	gmtime_r(&sec, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts, sizeof(ts), "%s.%09lluZ", date,
		 (unsigned long long)(ev->time_ns % 1000000000ull));
	dp_addr(ev->saddr, ev->family, ev->sport, src, sizeof(src));
	dp_addr(ev->daddr, ev->family, ev->dport, dst, sizeof(dst));
	rg_iso_mti_text(ev->mti, mti);
	for (unsigned i = 0; i < RG_EVENT_FP_PREFIX; i++)
		snprintf(fp + 2 * i, 3, "%02x", ev->fp[i]);
	for (uint16_t l = ev->lists; l; l &= (uint16_t)(l - 1)) {
		unsigned b = (unsigned)__builtin_ctz(l);
		const char *name = rg_list_std_name(b);
		const char *kind = rg_kind_name(ev->ident_kind);
		char lname[32];

		if (name == NULL) {
			snprintf(lname, sizeof(lname), "list_%u", b);
			name = lname;
		}
		fprintf(out, "{\"ts\": \"%s\", \"lcore\": %u, \"list\": \"%s\", \"kind\": \"%s\", "
			"\"de\": %u, \"masked\": ", ts, ev->lcore, name, kind ? kind : "UNKNOWN",
			ev->de);
		dp_json_str(out, ev->masked);
		fprintf(out, ", \"fp\": \"%s\", \"mti\": \"%s\", \"stan\": ", fp, mti);
		dp_json_str(out, ev->stan);
		fputs(", \"rrn\": ", out);
		dp_json_str(out, ev->rrn);
		fprintf(out, ", \"flow\": \"%s>%s\", \"dir\": \"%s\", \"action\": \"%s\", "
			"\"contributor\": %u, \"ledger_pos\": %llu}\n", src, dst,
			rg_event_dir_name(ev->dir), rg_action_name(ev->action), ev->contributor,
			(unsigned long long)ev->ledger_pos);
	}
}

void dp_event_drain(struct dp_lcore *lc)
{
	struct rg_event ev;

	while (rg_event_ring_pop(lc->ring, &ev))
		dp_event_write_json(lc->events_out, &ev, lc->x);
}
