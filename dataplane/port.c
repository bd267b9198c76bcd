/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Ports and the worker loop.  Every configured pair (A, B) is a bump in the
 * wire: what arrives on A leaves on B unchanged and the other way round,
 * whatever it is.  Each worker owns queue q of every port (q = its worker
 * index); with several workers the NICs spread flows with a symmetric RSS
 * key, so both directions of a connection reach the same worker.
 *
 * The loop has one shape: rx burst, parse all (prefetching ahead), follow
 * flows and stage messages, one screening flush (fingerprints, bulk lookup,
 * events), tx to the peer port, then between bursts the table's quiescent
 * state, the policy check and a bounded aging step.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include "dataplane/dp.h"

#define DP_PREFETCH_AHEAD 4

volatile int dp_quit;

/*
 * 0x6d5a repeated: a Toeplitz key under which (a, b) and (b, a) hash alike,
 * at any length (its 16-bit period divides the distance between source and
 * destination fields).  Given at the length the device takes
 * (dev_info.hash_key_size: 40 bytes on most NICs, 52 on i40e and ice):
 * ethdev refuses a key of another length.  Static: ethdev keeps the pointer.
 */
static uint8_t dp_rss_key[UINT8_MAX];

static int dp_port_resolve(const char *name, uint16_t *port, char *err, size_t err_cap)
{
	char *end;
	unsigned long v = strtoul(name, &end, 10);

	if (*name && *end == '\0') {
		if (v >= RTE_MAX_ETHPORTS || !rte_eth_dev_is_valid_port((uint16_t)v)) {
			snprintf(err, err_cap, "port %s: no such DPDK port (%u ports probed)",
				 name, rte_eth_dev_count_avail());
			return -ENODEV;
		}
		*port = (uint16_t)v;
		return 0;
	}
	if (rte_eth_dev_get_port_by_name(name, port) != 0) {
		snprintf(err, err_cap, "port %s: no such device (give it to EAL with -a or --vdev)",
			 name);
		return -ENODEV;
	}
	return 0;
}

static int dp_port_start(struct dp_ctx *x, uint16_t port, unsigned nb_q, char *err,
			 size_t err_cap)
{
	const struct dp_config *cfg = x->cfg;
	struct rte_eth_conf conf;
	struct rte_eth_dev_info info;
	uint16_t rxd = cfg->rx_desc, txd = cfg->tx_desc;
	int r;

	memset(&conf, 0, sizeof(conf));
	r = rte_eth_dev_info_get(port, &info);
	if (r != 0) {
		snprintf(err, err_cap, "port %u: info: %s", port, rte_strerror(-r));
		return r;
	}
	if (nb_q > info.max_rx_queues || nb_q > info.max_tx_queues) {
		snprintf(err, err_cap, "port %u: %u workers need %u queues, the device has %u rx / "
			 "%u tx", port, nb_q, nb_q, info.max_rx_queues, info.max_tx_queues);
		return -EINVAL;
	}
	/* net_af_packet opens one packet socket per queue pair (qpairs=) at
	 * probe time and the kernel spreads flows over all of them, however
	 * many queues are configured: frames of a queue no worker polls would
	 * never be forwarded */
	if (strcmp(info.driver_name, "net_af_packet") == 0 && nb_q != info.max_rx_queues) {
		snprintf(err, err_cap, "port %u: net_af_packet has %u queue pairs for %u worker(s) "
			 "(give the vdev qpairs=%u)", port, info.max_rx_queues, nb_q, nb_q);
		return -EINVAL;
	}
	if (nb_q > 1) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		/* no key size: the device hashes its own way (net_af_packet: the
		 * kernel's symmetric flow hash, PACKET_FANOUT_HASH) */
		if (info.hash_key_size > 0) {
			for (unsigned i = 0; i < info.hash_key_size; i++)
				dp_rss_key[i] = i & 1 ? 0x5a : 0x6d;
			conf.rx_adv_conf.rss_conf.rss_key = dp_rss_key;
			conf.rx_adv_conf.rss_conf.rss_key_len = info.hash_key_size;
		}
		conf.rx_adv_conf.rss_conf.rss_hf =
			(RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP) & info.flow_type_rss_offloads;
	}
	r = rte_eth_dev_configure(port, (uint16_t)nb_q, (uint16_t)nb_q, &conf);
	if (r != 0) {
		snprintf(err, err_cap, "port %u: configure: %s", port, rte_strerror(-r));
		return r;
	}
	rte_eth_dev_adjust_nb_rx_tx_desc(port, &rxd, &txd);
	for (unsigned q = 0; q < nb_q; q++) {
		r = rte_eth_rx_queue_setup(port, (uint16_t)q, rxd, rte_eth_dev_socket_id(port),
					   NULL, x->pool);
		if (r == 0)
			r = rte_eth_tx_queue_setup(port, (uint16_t)q, txd,
						   rte_eth_dev_socket_id(port), NULL);
		if (r != 0) {
			snprintf(err, err_cap, "port %u: queue %u: %s", port, q, rte_strerror(-r));
			return r;
		}
	}
	r = rte_eth_dev_start(port);
	if (r != 0) {
		snprintf(err, err_cap, "port %u: start: %s", port, rte_strerror(-r));
		return r;
	}
	/* a bump in the wire passes every frame, whatever its address */
	rte_eth_promiscuous_enable(port);
	return 0;
}

int dp_ports_setup(struct dp_ctx *x, char *err, size_t err_cap)
{
	struct dp_config *cfg = x->cfg;
	uint16_t started[2 * DP_PAIRS_MAX];
	unsigned nb_started = 0;
	int r;

	for (unsigned i = 0; i < cfg->nb_pairs; i++)
		for (unsigned e = 0; e < 2; e++) {
			r = dp_port_resolve(cfg->pair[i].name[e], &cfg->pair[i].port[e], err, err_cap);
			if (r)
				return r;
		}
	for (unsigned i = 0; i < cfg->nb_pairs; i++) {
		for (unsigned e = 0; e < 2; e++) {
			uint16_t p = cfg->pair[i].port[e];
			bool dup = false;

			for (unsigned k = 0; k < nb_started; k++)
				dup |= started[k] == p;
			if (dup) {
				snprintf(err, err_cap, "port %s is in two pairs", cfg->pair[i].name[e]);
				return -EINVAL;
			}
			r = dp_port_start(x, p, x->nb_lcores, err, err_cap);
			if (r)
				return r;
			started[nb_started++] = p;
		}
	}
	for (unsigned w = 0; w < x->nb_lcores; w++) {
		struct dp_lcore *lc = x->lc[w];

		for (unsigned i = 0; i < cfg->nb_pairs; i++)
			for (unsigned e = 0; e < 2; e++) {
				struct dp_rxq *q = &lc->rxq[lc->nb_rxq++];

				q->rx_port = cfg->pair[i].port[e];
				q->tx_port = cfg->pair[i].port[1 - e];
				q->rx_queue = q->tx_queue = (uint16_t)w;
			}
	}
	return 0;
}

void dp_ports_close(struct dp_ctx *x)
{
	uint16_t p;

	RTE_ETH_FOREACH_DEV(p) {
		rte_eth_dev_stop(p);
		rte_eth_dev_close(p);
	}
	(void)x;
}

static inline unsigned dp_rx(struct dp_lcore *lc, const struct dp_rxq *q,
			     struct rte_mbuf **pkts, unsigned max)
{
	if (unlikely(q->mem))
		return dp_replay_rx(lc, pkts, max);
	return rte_eth_rx_burst(q->rx_port, q->rx_queue, pkts, (uint16_t)max);
}

/* L2-L4 parse of one burst into lc->pkt[]; counts. */
static void dp_parse_burst(struct dp_lcore *lc, struct rte_mbuf **pkts, unsigned n)
{
	const struct dp_ctx *x = lc->x;
	uint64_t *c = lc->c;
	uint64_t bytes = 0;
	DP_PROF_T0(t0);

	for (unsigned i = 0; i < n && i < DP_PREFETCH_AHEAD; i++)
		rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void *));
	for (unsigned i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];

		if (i + DP_PREFETCH_AHEAD < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + DP_PREFETCH_AHEAD], void *));
		bytes += m->pkt_len;
		if (unlikely(m->nb_segs != 1)) {
			/* a jumbo frame in chained mbufs: screened from a copy that
			 * lives until the end of the burst, like the frame itself */
			if (m->pkt_len > DP_LINEAR_MAX) {
				lc->pkt[i].screen = 0;
				c[RG_CTR_SKIP_SEGMENTED]++;
				continue;
			}
			dp_parse(x, rte_pktmbuf_read(m, 0, m->pkt_len,
						     lc->linear + (size_t)i * DP_LINEAR_MAX),
				 m->pkt_len, &lc->pkt[i], c);
			c[RG_CTR_MULTISEG_COPIED]++;
			continue;
		}
		dp_parse(x, rte_pktmbuf_mtod(m, const uint8_t *), m->data_len, &lc->pkt[i], c);
	}
	c[RG_CTR_RX_PKTS] += n;
	c[RG_CTR_RX_BYTES] += bytes;
	c[RG_CTR_BURSTS]++;
	DP_PROF_ADD(lc, DP_STAGE_PARSE, t0);
}

static inline void dp_tx(struct dp_lcore *lc, const struct dp_rxq *q, struct rte_mbuf **pkts,
			 unsigned n)
{
	uint64_t bytes = 0;
	unsigned sent;
	DP_PROF_T0(t0);

	for (unsigned i = 0; i < n; i++)
		bytes += pkts[i]->pkt_len;
	sent = rte_eth_tx_burst(q->tx_port, q->tx_queue, pkts, (uint16_t)n);
	if (unlikely(sent < n)) {
		for (unsigned i = sent; i < n; i++)
			bytes -= pkts[i]->pkt_len;
		lc->c[RG_CTR_TX_DROPS] += n - sent;
		rte_pktmbuf_free_bulk(pkts + sent, n - sent);
	}
	lc->c[RG_CTR_TX_PKTS] += sent;
	lc->c[RG_CTR_TX_BYTES] += bytes;
	DP_PROF_ADD(lc, DP_STAGE_TX, t0);
}

#ifdef DP_PROF
static inline void dp_prof_lat(uint64_t *hist, uint64_t from, uint64_t to, unsigned n)
{
	uint64_t b = (to - from) >> DP_LAT_SHIFT;

	hist[b < DP_LAT_BUCKETS ? b : DP_LAT_BUCKETS - 1] += n;
}
#endif

/*
 * One burst in monitor mode: parse, forward, then follow and screen.
 * Forwarding never waits for screening: the frames go out as soon as they
 * are parsed, and the screened ones (TCP payload on a service port) stay
 * referenced (refcount + 1) until their bytes have been framed, decoded
 * and looked up, then are released.  Nothing refers to packet memory after
 * dp_screen_flush: partial frames and held out-of-order bytes are copies.
 * Enforcement (declining a message) will need the screening before the
 * forwarding for the flows it acts on.
 */
static void dp_burst(struct dp_lcore *lc, const struct dp_rxq *q, struct rte_mbuf **pkts,
		     unsigned n)
{
	struct rte_mbuf *held[DP_BURST_MAX];
	unsigned nb_held = 0;
#ifdef DP_PROF
	uint64_t rx_tsc = rte_rdtsc();
#endif

	dp_parse_burst(lc, pkts, n);
	for (unsigned i = 0; i < n; i++)
		if (lc->pkt[i].screen && lc->pkt[i].plen) {
			/* every segment: the tx side frees a chain segment by segment */
			rte_pktmbuf_refcnt_update(pkts[i], 1);
			held[nb_held++] = pkts[i];
		}
	dp_tx(lc, q, pkts, n);
#ifdef DP_PROF
	dp_prof_lat(lc->prof.lat, rx_tsc, rte_rdtsc(), n);
	lc->prof.nb_pkts += n;
#endif
	dp_flow_burst(lc, pkts, n);
	dp_screen_flush(lc);
	if (nb_held)
		rte_pktmbuf_free_bulk(held, nb_held);
#ifdef DP_PROF
	dp_prof_lat(lc->prof.lat_screen, rx_tsc, rte_rdtsc(), n);
#endif
}

int dp_lcore_loop(void *arg)
{
	struct dp_lcore *lc = arg;
	const unsigned burst = lc->x->cfg->burst;
	struct rte_mbuf *pkts[DP_BURST_MAX];

	lc->lcore_id = rte_lcore_id();
	dp_policy_refresh(lc);
	while (!dp_quit) {
		uint64_t now;

		for (unsigned i = 0; i < lc->nb_rxq; i++) {
			const struct dp_rxq *q = &lc->rxq[i];
			unsigned n = dp_rx(lc, q, pkts, burst);

			if (n == 0)
				continue;
			dp_burst(lc, q, pkts, n);
		}
		lc->c[RG_CTR_POLLS]++;
		if (unlikely(rg_table_reader_quiescent(lc->table) == 1))
			lc->c[RG_CTR_TABLE_SWITCHES]++;
		dp_policy_refresh(lc);
		now = rte_rdtsc();
		dp_flow_age(lc, now);
		dp_stats_table(lc, now);
		if (unlikely(lc->events_out != NULL))
			dp_event_drain(lc);
		if (unlikely(lc->src != NULL) && dp_replay_done(lc))
			break;
	}
	return 0;
}
