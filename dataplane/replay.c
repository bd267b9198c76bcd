/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Replay: the worker loop over a capture.  Either the capture is read by a
 * net_pcap vdev (one pass), or, for --loop N, it is preloaded into mbufs
 * once and handed to the loop burst by burst from memory, N times (each
 * mbuf's reference count is raised before it is handed out, so the tx
 * side's free leaves it for the next round).  Forwarded frames go to a
 * net_pcap vdev (--out) or a net_null vdev.  Everything else is the
 * ordinary fast path.
 */
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "dataplane/dp.h"

struct dp_replay_src {
	struct rte_mbuf **pkts; /* preloaded capture, or NULL (pcap vdev) */
	unsigned long nb;       /* packets in the capture */
	unsigned long pos;
	unsigned long loops_left;
	bool done;
	uint64_t last_rx;       /* RX_PKTS at the last progress check */
	uint64_t last_progress_tsc;
	struct rte_mempool *pool;
};

/* Count the packets of a capture and its largest record. */
static int dp_pcap_scan(const char *path, unsigned long *nb, uint32_t *max_len, char *err,
			size_t err_cap)
{
	char perr[PCAP_ERRBUF_SIZE] = "";
	struct pcap_pkthdr *h;
	const uint8_t *data;
	pcap_t *pc;
	int r;

	pc = pcap_open_offline(path, perr);
	if (pc == NULL) {
		snprintf(err, err_cap, "%s: %s", path, perr);
		return -EINVAL;
	}
	if (pcap_datalink(pc) != DLT_EN10MB) {
		snprintf(err, err_cap, "%s: link type %d is not Ethernet", path, pcap_datalink(pc));
		pcap_close(pc);
		return -EINVAL;
	}
	*nb = 0;
	*max_len = 0;
	while ((r = pcap_next_ex(pc, &h, &data)) == 1) {
		(*nb)++;
		if (h->caplen > *max_len)
			*max_len = h->caplen;
	}
	pcap_close(pc);
	(void)data;
	return 0;
}

static int dp_preload(struct dp_replay_src *s, const char *path, uint32_t max_len, char *err,
		      size_t err_cap)
{
	char perr[PCAP_ERRBUF_SIZE] = "";
	struct pcap_pkthdr *h;
	const uint8_t *data;
	unsigned long i = 0;
	pcap_t *pc;
	uint32_t room = RTE_ALIGN_CEIL(max_len, 64);

	if (room < 64)
		room = 64;
	s->pool = rte_pktmbuf_pool_create("dp_replay", (unsigned)s->nb + 1, 0, 0,
					  (uint16_t)(room + RTE_PKTMBUF_HEADROOM),
					  (int)rte_socket_id());
	s->pkts = calloc(s->nb ? s->nb : 1, sizeof(*s->pkts));
	if (s->pool == NULL || s->pkts == NULL) {
		snprintf(err, err_cap, "%s: no memory to preload %lu packets (%s); give EAL more "
			 "(-m) or replay without --loop", path, s->nb, rte_strerror(rte_errno));
		return -ENOMEM;
	}
	pc = pcap_open_offline(path, perr);
	if (pc == NULL) {
		snprintf(err, err_cap, "%s: %s", path, perr);
		return -EINVAL;
	}
	while (i < s->nb && pcap_next_ex(pc, &h, &data) == 1) {
		struct rte_mbuf *m = rte_pktmbuf_alloc(s->pool);
		char *p;

		if (m == NULL || (p = rte_pktmbuf_append(m, (uint16_t)h->caplen)) == NULL) {
			rte_pktmbuf_free(m);
			pcap_close(pc);
			snprintf(err, err_cap, "%s: preload failed at packet %lu", path, i + 1);
			return -ENOMEM;
		}
		memcpy(p, data, h->caplen);
		s->pkts[i++] = m;
	}
	pcap_close(pc);
	s->nb = i;
	return 0;
}

static void dp_replay_src_free(struct dp_replay_src *s)
{
	if (s->pkts) {
		for (unsigned long i = 0; i < s->nb; i++)
			rte_pktmbuf_free(s->pkts[i]);
		free(s->pkts);
	}
	rte_mempool_free(s->pool);
}

unsigned dp_replay_rx(struct dp_lcore *lc, struct rte_mbuf **pkts, unsigned max)
{
	struct dp_replay_src *s = lc->src;
	unsigned n;

	if (s->done || s->nb == 0) {
		s->done = true;
		return 0;
	}
	n = s->nb - s->pos < max ? (unsigned)(s->nb - s->pos) : max;
	for (unsigned i = 0; i < n; i++) {
		pkts[i] = s->pkts[s->pos + i];
		rte_mbuf_refcnt_update(pkts[i], 1);
	}
	s->pos += n;
	if (s->pos == s->nb) {
		s->pos = 0;
		if (--s->loops_left == 0)
			s->done = true;
	}
	return n;
}

bool dp_replay_done(struct dp_lcore *lc)
{
	struct dp_replay_src *s = lc->src;
	uint64_t rx, now;

	if (s->pkts)
		return s->done;
	/* pcap vdev: done when every packet came in, or nothing did for 2 s */
	rx = lc->c[RG_CTR_RX_PKTS];
	if (rx >= s->nb)
		return true;
	now = rte_rdtsc();
	if (rx != s->last_rx || s->last_progress_tsc == 0) {
		s->last_rx = rx;
		s->last_progress_tsc = now;
		return false;
	}
	return now - s->last_progress_tsc > 2 * lc->tsc_hz;
}

static void dp_json_counter(FILE *out, const char *name, uint64_t v, bool *first)
{
	fprintf(out, "%s\"%s\": %llu", *first ? "" : ", ", name, (unsigned long long)v);
	*first = false;
}

static void dp_replay_summary(const struct dp_ctx *x, const struct dp_replay_opts *o,
			      double secs)
{
	const struct rg_segment *seg = x->seg;
	uint64_t pk = rg_segment_sum(seg, RG_CTR_RX_PKTS);
	uint64_t msgs = rg_segment_sum(seg, RG_CTR_MESSAGES);
	bool first;

	printf("{\"packets\": %llu, \"messages\": %llu, \"hits\": %llu",
	       (unsigned long long)pk, (unsigned long long)msgs,
	       (unsigned long long)rg_segment_sum(seg, RG_CTR_HITS));
	printf(", \"hits_by_list\": {");
	first = true;
	for (unsigned l = 0; l < RG_LIST_MAX; l++) {
		uint64_t v = rg_segment_sum(seg, RG_CTR_HITS_LIST_BASE + l);
		const char *n = rg_list_std_name(l);

		if (n || v)
			dp_json_counter(stdout, n ? n : rg_ctr_name(RG_CTR_HITS_LIST_BASE + l), v,
					&first);
	}
	printf("}, \"anomalies\": {");
	first = true;
	for (unsigned a = 1; a < RG_ANOM_MAX; a++) {
		uint64_t v = rg_segment_sum(seg, RG_CTR_ANOM_BASE + a);

		if (v)
			dp_json_counter(stdout, rg_anomaly_name(a), v, &first);
	}
	printf("}, \"mpps\": %.4f, \"msgs_per_s\": %.1f, \"ns_per_msg\": %.1f, "
	       "\"ns_per_pkt\": %.1f, \"seconds\": %.6f, \"loops\": %lu",
	       secs > 0 ? (double)pk / secs / 1e6 : 0.0, secs > 0 ? (double)msgs / secs : 0.0,
	       msgs ? secs * 1e9 / (double)msgs : 0.0, pk ? secs * 1e9 / (double)pk : 0.0,
	       secs, o->loops);
	printf(", \"counters\": {");
	first = true;
	for (unsigned i = 0; i < RG_CTR_ANOM_BASE; i++) {
		uint64_t v = rg_segment_sum(seg, i);

		if (v && i != RG_CTR_POLLS)
			dp_json_counter(stdout, rg_ctr_name(i), v, &first);
	}
	printf("}}\n");
	fflush(stdout);
}

int dp_replay_run(struct dp_ctx *x, const struct dp_replay_opts *o, char *err, size_t err_cap)
{
	struct dp_lcore *lc = x->lc[0];
	struct dp_replay_src src;
	uint32_t max_len = 0;
	uint64_t t0, t1;
	FILE *ev = NULL;
	int r;

	memset(&src, 0, sizeof(src));
	r = dp_pcap_scan(o->in, &src.nb, &max_len, err, err_cap);
	if (r)
		return r;
	src.loops_left = o->loops ? o->loops : 1;
	if (o->loops > 1) {
		r = dp_preload(&src, o->in, max_len, err, err_cap);
		if (r)
			goto out_free;
	}
	if (o->events) {
		ev = fopen(o->events, "w");
		if (ev == NULL) {
			r = -errno;
			snprintf(err, err_cap, "%s: %s", o->events, strerror(errno));
			goto out_free;
		}
		lc->events_out = ev;
	}
	/* one direction: the capture in, forwarded frames out */
	lc->nb_rxq = 1;
	lc->rxq[0].mem = src.pkts != NULL;
	lc->src = &src;
	t0 = rte_rdtsc();
	dp_lcore_loop(lc);
	dp_flow_finish(lc);
	t1 = rte_rdtsc();
	if (ev)
		dp_event_drain(lc);
	dp_ports_close(x);
	dp_replay_summary(x, o, (double)(t1 - t0) / (double)rte_get_tsc_hz());
	dp_prof_report(x, stdout);
	r = 0;
	if (ev && fclose(ev) != 0) {
		r = -errno;
		snprintf(err, err_cap, "%s: %s", o->events, strerror(errno));
	}
	ev = NULL;
	lc->events_out = NULL;
out_free:
	if (ev)
		fclose(ev);
	lc->src = NULL;
	dp_replay_src_free(&src);
	return r;
}
