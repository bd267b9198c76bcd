/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Flows and streams of one worker lcore: the flow table, TCP state, the
 * hold-window and framer-buffer pools, and the glue from rg_stream to
 * rg_framer to the screening stage.
 *
 * The flow table (dataplane/flowtab.h) maps canonical 5-tuples (both
 * directions give one key) to indexes of a preallocated flow array; a full
 * table means the flow is not followed (its packets are still forwarded).  A
 * direction holds a ring only while out-of-order bytes wait in it or
 * delivered bytes wait for the receiver's acknowledgement (dp_ring_want),
 * and a framer buffer only while a message spans segments; both come from
 * fixed per-lcore pools, so memory is bounded at start-up.  Every segment's
 * acknowledgement is handed to the other direction's stream, which judges
 * what it accepts and when missing bytes are gone by it (common/stream.h).
 *
 * Resync rule (docs/dataplane.md): a direction whose start was not seen,
 * that skipped a gap, lost framing or lost a split message for want of a
 * buffer, discards in-order runs until one starts with a plausible frame
 * (dp_frame_plausible: a length header within bounds followed by a valid
 * MTI), then frames from there.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>

#include "dataplane/dp.h"

#define DP_AGE_STEP 16   /* flow slots examined per poll (two lines of flow_last[]) */
#define DP_EVICT_SCAN 64 /* flow slots examined for an eviction */

/* ---- pools ------------------------------------------------------------- */

static inline void dp_hold_attach(struct dp_lcore *lc, struct dp_dir *d)
{
	const struct dp_config *cfg = lc->x->cfg;
	uint32_t slot;
	uint8_t *mem;

	if (lc->nb_hold_free == 0) {
		lc->c[RG_CTR_HOLD_POOL_EMPTY]++;
		return;
	}
	slot = lc->hold_free[--lc->nb_hold_free];
	mem = lc->hold_mem + (size_t)slot * (cfg->hold_bytes + cfg->hold_bytes / 8);
	/* an empty window may start at any slot; the map of a free window is clear */
	d->st.hold = mem;
	d->st.hold_map = mem + cfg->hold_bytes;
	d->st.cap = cfg->hold_bytes;
	d->st.head = 0;
	d->hold_slot = slot;
}

static inline void dp_hold_detach(struct dp_lcore *lc, struct dp_dir *d)
{
	if (d->hold_slot == DP_NONE)
		return;
	if (d->st.held)
		memset(d->st.hold_map, 0, lc->x->cfg->hold_bytes / 8);
	lc->hold_free[lc->nb_hold_free++] = d->hold_slot;
	d->hold_slot = DP_NONE;
	d->st.hold = NULL;
	d->st.hold_map = NULL;
	d->st.cap = 0;
	d->st.head = 0;
	d->st.held = 0;
	d->st.kept = 0;
}

static inline void dp_fbuf_put(struct dp_lcore *lc, struct dp_dir *d)
{
	if (d->fbuf_slot != DP_NONE) {
		lc->fbuf_free[lc->nb_fbuf_free++] = d->fbuf_slot;
		d->fbuf_slot = DP_NONE;
	}
	d->fr.buf = lc->scratch;
}

/* ---- stream to framer to screening ------------------------------------- */

/* rg_stream delivery: in-order bytes of lc->cur_dir. */
static void dp_deliver(void *ctx, const uint8_t *data, uint32_t len)
{
	struct dp_lcore *lc = ctx;
	struct dp_dir *d = lc->cur_dir;
	const struct dp_service *svc = &lc->x->cfg->svc[lc->cur_flow->svc];
	struct rg_frame f;
	enum rg_frame_ret r;
	DP_PROF_T0(t0);

	if (unlikely(d->resync)) {
		if (!dp_frame_plausible(svc, data, len)) {
			lc->c[RG_CTR_RESYNC_SKIPPED_BYTES] += len;
			return;
		}
		rg_framer_reset(&d->fr);
		d->resync = 0;
		lc->c[RG_CTR_RESYNCS]++;
	}
	if (d->fbuf_slot == DP_NONE && lc->nb_fbuf_free) {
		d->fbuf_slot = lc->fbuf_free[--lc->nb_fbuf_free];
		d->fr.buf = lc->fbuf_mem + (size_t)d->fbuf_slot * lc->fbuf_bytes;
	}
	rg_framer_feed(&d->fr, data, len);
	while ((r = rg_framer_next(&d->fr, &f)) != RG_FRAME_NEED_MORE) {
		if (likely(r == RG_FRAME_MSG)) {
			lc->cur_flow->msgs++;
			dp_screen_msg(lc, &f);
		} else if (r == RG_FRAME_KEEPALIVE) {
			lc->c[RG_CTR_KEEPALIVES]++;
		} else {
			lc->c[RG_CTR_ANOM_BASE + f.anomaly]++;
			d->resync = 1;
			break;
		}
	}
	if (d->fr.have == 0) {
		dp_fbuf_put(lc, d);
	} else if (d->fbuf_slot == DP_NONE) {
		/* the partial frame sits in the scratch buffer, which the next
		 * direction overwrites: give it up */
		lc->c[RG_CTR_FRAMER_POOL_EMPTY]++;
		rg_framer_reset(&d->fr);
		d->resync = 1;
	}
	/* framing and decoding run inside the flow stage: move their time */
	DP_PROF_MOVE(lc, DP_STAGE_DECODE, DP_STAGE_FLOW, t0);
}

/* rg_stream gap: the bytes before the next ones delivered are gone. */
static void dp_stream_gap(void *ctx, uint32_t skipped)
{
	struct dp_lcore *lc = ctx;
	struct dp_dir *d = lc->cur_dir;

	(void)skipped;
	lc->c[RG_CTR_ANOM_BASE + RG_ANOM_STREAM_GAP]++;
	d->resync = 1;
	rg_framer_reset(&d->fr);
	dp_fbuf_put(lc, d);
}

static inline void dp_count(struct dp_lcore *lc, enum rg_anomaly a)
{
	if (a != RG_ANOM_NONE)
		lc->c[RG_CTR_ANOM_BASE + a]++;
}

/*
 * A direction borrows a ring from the pool while it holds out-of-order
 * bytes, and, once its receiver is in sight, while delivered bytes await
 * the receiver's acknowledgement (they are kept to compare
 * retransmissions).  Keeping never takes the last eighth of the pool: that
 * stays for out-of-order data, which screening needs more.
 */
static inline void dp_ring_want(struct dp_lcore *lc, struct dp_dir *d, uint32_t seq,
				uint32_t len)
{
	int32_t off = (int32_t)(seq - d->st.next_seq);

	if (d->hold_slot != DP_NONE || !d->st.synced)
		return;
	if (off > 0)
		dp_hold_attach(lc, d);
	else if (d->st.ack_seen && off + (int32_t)len > 0 &&
		 lc->nb_hold_free > lc->x->cfg->nb_hold / 8)
		dp_hold_attach(lc, d);
}

static inline void dp_ring_release(struct dp_lcore *lc, struct dp_dir *d)
{
	if (d->hold_slot != DP_NONE && rg_stream_ring_idle(&d->st))
		dp_hold_detach(lc, d);
}

static void dp_dir_segment(struct dp_lcore *lc, struct dp_dir *d, uint32_t seq,
			   const uint8_t *data, uint32_t len)
{
	if (!d->st.synced && !d->syn)
		d->resync = 1; /* its start was not seen */
	dp_ring_want(lc, d, seq, len);
	dp_count(lc, rg_stream_segment(&d->st, seq, data, len, &lc->sink));
	dp_ring_release(lc, d);
}

/* No more bytes in this direction: bridge what is held; a partial frame is
 * a truncated message. */
static void dp_dir_end(struct dp_lcore *lc, struct dp_dir *d)
{
	rg_stream_skip_gap(&d->st, &lc->sink);
	if (d->fr.have != 0 && !d->fr.lost)
		lc->c[RG_CTR_ANOM_BASE + RG_ANOM_TRUNCATED]++;
	rg_framer_reset(&d->fr);
	dp_hold_detach(lc, d);
	dp_fbuf_put(lc, d);
}

static void dp_dir_open(struct dp_lcore *lc, struct dp_flow *fl, unsigned end)
{
	const struct dp_service *svc = &lc->x->cfg->svc[fl->svc];
	struct dp_dir *d = &fl->dir[end];

	memset(d, 0, sizeof(*d));
	rg_stream_init(&d->st, NULL, NULL, 0);
	rg_framer_init(&d->fr, &svc->framing, lc->scratch, lc->fbuf_bytes);
	d->hold_slot = DP_NONE;
	d->fbuf_slot = DP_NONE;
	d->request = fl->key.port[1 - end] == svc->port;
}

static void dp_flow_open(struct dp_lcore *lc, struct dp_flow *fl)
{
	dp_dir_open(lc, fl, 0);
	dp_dir_open(lc, fl, 1);
	fl->closed = 0;
	fl->data = 0;
	fl->hits = 0;
	fl->msgs = 0;
	fl->bytes = 0;
	fl->open_tsc = rte_rdtsc();
	lc->c[RG_CTR_FLOWS_CREATED]++;
	lc->c[RG_CTR_FLOWS_ACTIVE]++;
}

static void dp_flow_close(struct dp_lcore *lc, struct dp_flow *fl)
{
	if (fl->closed)
		return;
	for (unsigned i = 0; i < 2; i++) {
		lc->cur_dir = &fl->dir[i];
		lc->cur_end = (uint8_t)i;
		dp_dir_end(lc, &fl->dir[i]);
	}
	fl->closed = 1;
	lc->c[RG_CTR_FLOWS_CLOSED]++;
	lc->c[RG_CTR_FLOWS_ACTIVE]--;
}

static void dp_flow_remove(struct dp_lcore *lc, struct dp_flow *fl)
{
	struct dp_ftab_pos fp = dp_ftab_pos(&lc->ftab, &fl->key);

	lc->cur_flow = fl;
	dp_flow_close(lc, fl);
	dp_ftab_del(&lc->ftab, &fp, (uint32_t)(fl - lc->flows));
	fl->in_use = 0;
	lc->flow_last[fl - lc->flows] = 0;
}

/* ---- one segment ------------------------------------------------------- */

static void dp_tcp(struct dp_lcore *lc, struct dp_flow *fl, const struct dp_pkt *p)
{
	struct dp_dir *d = &fl->dir[p->dir];
	uint32_t seq = p->seq;

	lc->cur_flow = fl;
	lc->cur_dir = d;
	lc->cur_end = p->dir;
	if (fl->closed) {
		if ((p->flags & (DP_TCP_SYN | DP_TCP_ACK | DP_TCP_RST)) != DP_TCP_SYN) {
			if (p->plen)
				lc->c[RG_CTR_SKIP_AFTER_CLOSE]++;
			return;
		}
		dp_flow_open(lc, fl); /* same 5-tuple, new connection */
	}
	if (p->flags & DP_TCP_RST) {
		dp_flow_close(lc, fl);
		return;
	}
	if (p->flags & DP_TCP_SYN) {
		if (!d->syn) {
			rg_stream_syn(&d->st, seq);
			rg_stream_wscale(&d->st, p->wscale);
			d->syn = 1;
		}
		seq++; /* payload on a SYN (TFO) starts after it */
	}
	if (p->flags & DP_TCP_ACK) {
		/* it speaks for the other direction, which the callbacks follow */
		struct dp_dir *o = &fl->dir[1 - p->dir];

		lc->cur_dir = o;
		lc->cur_end = (uint8_t)(1 - p->dir);
		rg_stream_ack(&o->st, &d->st, p->ack, p->win, p->flags & DP_TCP_SYN, &lc->sink);
		dp_ring_release(lc, o);
		lc->cur_dir = d;
		lc->cur_end = p->dir;
	}
	fl->data |= p->plen != 0;
	fl->bytes += p->plen;
	if (p->plen && !d->fin)
		dp_dir_segment(lc, d, seq, p->payload, p->plen);
	else if (p->plen)
		lc->c[RG_CTR_SKIP_AFTER_CLOSE]++;
	if ((p->flags & DP_TCP_FIN) && !d->fin) {
		rg_stream_fin(&d->st, seq + p->plen);
		d->fin = 1;
		dp_dir_end(lc, d);
		if (fl->dir[1 - p->dir].fin)
			dp_flow_close(lc, fl);
	}
}

/* A flow whose loss costs no screening: closed (kept only to account for
 * late segments) or half-open (no payload yet, e.g. one SYN of a flood). */
static inline bool dp_flow_cheap(const struct dp_flow *fl)
{
	return fl->in_use && (fl->closed || !fl->data);
}

/*
 * The table refused a new flow: remove one cheap flow to make room.  With
 * every flow slot in use, the next DP_EVICT_SCAN slots from a cursor are
 * looked at; with slots free but the key's two buckets full, the flows in
 * those buckets.  Bounded work; false when nothing cheap was found (flows
 * carrying messages are never evicted, they age out).
 */
static bool dp_flow_evict(struct dp_lcore *lc, const struct dp_ftab_pos *fp)
{
	struct dp_flow *victim = NULL;

	if (lc->ftab.nb_free == 0) {
		for (unsigned i = 0; i < DP_EVICT_SCAN && victim == NULL; i++) {
			uint32_t k = lc->evict_cursor;

			if (++lc->evict_cursor == lc->nb_flows)
				lc->evict_cursor = 0;
			if (dp_flow_cheap(&lc->flows[k]))
				victim = &lc->flows[k];
		}
	} else {
		for (unsigned b = 0; b < 2 && victim == NULL; b++)
			for (unsigned s = 0; s < DP_FTAB_WAYS && victim == NULL; s++) {
				const struct dp_ftab_bkt *bk = &lc->ftab.bkt[fp->b[b]];

				if (bk->sig[s] != 0 && dp_flow_cheap(&lc->flows[bk->idx[s]]))
					victim = &lc->flows[bk->idx[s]];
			}
	}
	if (victim == NULL)
		return false;
	dp_flow_remove(lc, victim);
	lc->c[RG_CTR_FLOWS_EVICTED]++;
	return true;
}

static struct dp_flow *dp_flow_create(struct dp_lcore *lc, const struct dp_pkt *p,
				      const struct dp_ftab_pos *fp)
{
	uint32_t idx = dp_ftab_add(&lc->ftab, fp);
	struct dp_flow *fl;

	if (idx == UINT32_MAX && dp_flow_evict(lc, fp))
		idx = dp_ftab_add(&lc->ftab, fp);
	if (idx == UINT32_MAX) {
		lc->c[RG_CTR_SKIP_FLOW_TABLE_FULL]++;
		return NULL;
	}
	fl = &lc->flows[idx];
	memset(fl, 0, offsetof(struct dp_flow, dir));
	fl->key = p->key;
	fl->svc = p->svc;
	fl->in_use = 1;
	dp_flow_open(lc, fl);
	return fl;
}

/* Flow keys are compared once per packet: five words, no library call. */
static inline bool dp_key_eq(const struct dp_flow_key *a, const struct dp_flow_key *b)
{
	uint64_t x[5], y[5], d = 0;

	_Static_assert(sizeof(*a) == sizeof(x), "a flow key is five words");
	memcpy(x, a, sizeof(x));
	memcpy(y, b, sizeof(y));
	for (unsigned i = 0; i < 5; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

static bool dp_flow_same(uint32_t idx, const void *key, void *arg)
{
	const struct dp_lcore *lc = arg;

	return dp_key_eq(&lc->flows[idx].key, key);
}

void dp_flow_burst(struct dp_lcore *lc, struct rte_mbuf **pkts, unsigned n)
{
	struct dp_ftab_pos fp[DP_BURST_MAX];
	unsigned idx[DP_BURST_MAX], nb = 0;
	uint64_t now = rte_rdtsc();
	DP_PROF_T0(t0);

	(void)pkts;
	for (unsigned i = 0; i < n; i++)
		if (lc->pkt[i].screen) {
			fp[nb] = dp_ftab_pos(&lc->ftab, &lc->pkt[i].key);
			dp_ftab_prefetch(&lc->ftab, &fp[nb]);
			idx[nb++] = i;
		}
	/* looked up one by one after the prefetches: a flow created by an
	 * earlier packet of the burst is found by the later ones */
	for (unsigned j = 0; j < nb; j++) {
		const struct dp_pkt *p = &lc->pkt[idx[j]];
		uint32_t f = dp_ftab_find(&lc->ftab, &fp[j], dp_flow_same, &p->key, lc);
		struct dp_flow *fl;

		if (f != UINT32_MAX) {
			fl = &lc->flows[f];
		} else {
			if (!(p->flags & DP_TCP_SYN) && p->plen == 0) {
				lc->c[RG_CTR_SKIP_NO_FLOW]++;
				continue;
			}
			fl = dp_flow_create(lc, p, &fp[j]);
			if (fl == NULL)
				continue;
		}
		lc->flow_last[fl - lc->flows] = now;
		dp_tcp(lc, fl, p);
	}
	DP_PROF_ADD(lc, DP_STAGE_FLOW, t0);
}

/* Index of the entry with the fewest messages in the full top_next[]. */
static unsigned dp_top_min(const struct dp_lcore *lc)
{
	unsigned min = 0;

	for (unsigned i = 1; i < RG_SEG_TOP_FLOWS; i++)
		if (lc->top_next[i].msgs < lc->top_next[min].msgs)
			min = i;
	return min;
}

/* The sweep met flow fl: keep it if it is among the busiest so far.  Once
 * the list is full, a flow not busier than its least busy entry costs one
 * compare. */
static void dp_top_consider(struct dp_lcore *lc, const struct dp_flow *fl)
{
	struct rg_seg_flow *t;

	if (fl->msgs == 0)
		return;
	if (lc->nb_top_next < RG_SEG_TOP_FLOWS) {
		t = &lc->top_next[lc->nb_top_next++];
	} else {
		if (lc->top_next[lc->top_min].msgs >= fl->msgs)
			return;
		t = &lc->top_next[lc->top_min];
	}
	memset(t, 0, sizeof(*t));
	memcpy(t->addr, fl->key.addr, sizeof(t->addr));
	t->port[0] = fl->key.port[0];
	t->port[1] = fl->key.port[1];
	t->family = fl->key.family;
	t->svc = fl->svc;
	t->closed = fl->closed;
	t->server = fl->dir[0].request ? 1 : 0;
	t->msgs = fl->msgs;
	t->bytes = fl->bytes;
	t->hits = fl->hits;
	t->open_ns = dp_now_ns(lc, fl->open_tsc);
	t->last_ns = dp_now_ns(lc, lc->flow_last[fl - lc->flows]);
	if (lc->nb_top_next == RG_SEG_TOP_FLOWS)
		lc->top_min = dp_top_min(lc);
}

/*
 * A bounded step of the sweep over the flow table: idle flows are removed,
 * the others considered for the top flows list, which is published when
 * the sweep wraps.
 */
void dp_flow_age(struct dp_lcore *lc, uint64_t now_tsc)
{
	for (unsigned i = 0; i < DP_AGE_STEP; i++) {
		uint32_t k = lc->age_cursor;
		struct dp_flow *fl;

		if (++lc->age_cursor == lc->nb_flows) {
			lc->age_cursor = 0;
			if (lc->top != NULL)
				rg_seg_top_publish(lc->top, lc->top_next, lc->nb_top_next,
						   dp_now_ns(lc, now_tsc));
			lc->nb_top_next = 0;
		}
		/* flow_last[] is 0 for free slots: the scan reads 8 bytes a slot */
		if (lc->flow_last[k] == 0)
			continue;
		fl = &lc->flows[k];
		if (now_tsc - lc->flow_last[k] <= lc->idle_tsc) {
			if (fl->in_use)
				dp_top_consider(lc, fl);
			continue;
		}
		if (fl->in_use) {
			if (!fl->closed)
				lc->c[RG_CTR_FLOWS_AGED]++;
			dp_flow_remove(lc, fl);
		}
	}
}

void dp_flow_count_hits(struct dp_lcore *lc, const struct dp_msg *m, unsigned n)
{
	struct dp_flow *fl = &lc->flows[m->flow];

	if (fl->in_use && dp_key_eq(&fl->key, &m->key))
		fl->hits += n;
}

void dp_flow_finish(struct dp_lcore *lc)
{
	for (uint32_t i = 0; i < lc->nb_flows; i++)
		if (lc->flows[i].in_use)
			dp_flow_remove(lc, &lc->flows[i]);
	dp_screen_flush(lc);
}

/* ---- set-up ------------------------------------------------------------ */

int dp_lcore_init(struct dp_lcore *lc, const struct dp_ctx *x, unsigned slot,
		  char *err, size_t err_cap)
{
	const struct dp_config *cfg = x->cfg;
	int socket = rte_socket_id();
	uint32_t max_body = 0;
	size_t hold_each = (size_t)cfg->hold_bytes + cfg->hold_bytes / 8;

	_Static_assert(sizeof(struct dp_flow_key) == 40, "flow key is hashed whole");
	lc->slot = slot;
	lc->x = x;
	lc->c = rg_segment_stats(x->seg, slot)->c;
	lc->ring = rg_segment_ring(x->seg, slot);
	lc->top = &rg_segment_stats(x->seg, slot)->top;
	lc->tsc_hz = rte_get_tsc_hz();
	lc->idle_tsc = (uint64_t)cfg->flow_idle_sec * lc->tsc_hz;
	for (unsigned i = 0; i < cfg->nb_services; i++) {
		uint32_t b = cfg->svc[i].framing.max_msg_bytes + cfg->svc[i].framing.hdr_bytes;

		if (b > max_body)
			max_body = b;
	}
	lc->fbuf_bytes = RTE_ALIGN_CEIL(max_body + 4, 64);
	if (dp_ftab_init(&lc->ftab, cfg->nb_flows, socket) != 0) {
		snprintf(err, err_cap, "lcore %u: no memory for a flow table of %u entries "
			 "(lower flows, or give DPDK more memory)", slot, cfg->nb_flows);
		return -ENOMEM;
	}
	lc->nb_flows = cfg->nb_flows;
	lc->flows = rte_zmalloc_socket("dp_flows", (size_t)cfg->nb_flows * sizeof(*lc->flows),
				       RTE_CACHE_LINE_SIZE, socket);
	lc->flow_last = rte_zmalloc_socket("dp_flow_last",
					   (size_t)cfg->nb_flows * sizeof(uint64_t),
					   RTE_CACHE_LINE_SIZE, socket);
	lc->hold_mem = rte_zmalloc_socket("dp_hold", hold_each * cfg->nb_hold,
					  RTE_CACHE_LINE_SIZE, socket);
	lc->hold_free = rte_malloc_socket("dp_hold_free", cfg->nb_hold * sizeof(uint32_t),
					  0, socket);
	lc->fbuf_mem = rte_malloc_socket("dp_fbuf",
					 (size_t)lc->fbuf_bytes * (cfg->nb_framer_bufs + 1),
					 RTE_CACHE_LINE_SIZE, socket);
	lc->fbuf_free = rte_malloc_socket("dp_fbuf_free",
					  cfg->nb_framer_bufs * sizeof(uint32_t), 0, socket);
	lc->linear = rte_malloc_socket("dp_linear", (size_t)DP_BURST_MAX * DP_LINEAR_MAX,
				       RTE_CACHE_LINE_SIZE, socket);
	if (!lc->flows || !lc->flow_last || !lc->hold_mem || !lc->hold_free || !lc->fbuf_mem ||
	    !lc->fbuf_free || !lc->linear) {
		snprintf(err, err_cap, "lcore %u: no memory for %u flows, %u hold windows of "
			 "%u bytes and %u framer buffers (lower flows, hold_windows or "
			 "framer_buffers, or give DPDK more memory)", slot, cfg->nb_flows,
			 cfg->nb_hold, cfg->hold_bytes, cfg->nb_framer_bufs);
		dp_lcore_free(lc);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < cfg->nb_hold; i++)
		lc->hold_free[i] = cfg->nb_hold - 1 - i;
	lc->nb_hold_free = cfg->nb_hold;
	for (uint32_t i = 0; i < cfg->nb_framer_bufs; i++)
		lc->fbuf_free[i] = cfg->nb_framer_bufs - 1 - i;
	lc->nb_fbuf_free = cfg->nb_framer_bufs;
	lc->scratch = lc->fbuf_mem + (size_t)lc->fbuf_bytes * cfg->nb_framer_bufs;
	lc->sink = (struct rg_stream_sink){ dp_deliver, dp_stream_gap, lc };
	dp_screen_plan(lc); /* again at each policy change */
	return 0;
}

void dp_lcore_free(struct dp_lcore *lc)
{
	dp_ftab_free(&lc->ftab);
	rte_free(lc->flows);
	rte_free(lc->flow_last);
	rte_free(lc->hold_mem);
	rte_free(lc->hold_free);
	rte_free(lc->fbuf_mem);
	rte_free(lc->fbuf_free);
	rte_free(lc->linear);
	lc->flows = NULL;
	lc->flow_last = NULL;
	lc->hold_mem = NULL;
	lc->hold_free = NULL;
	lc->fbuf_mem = NULL;
	lc->fbuf_free = NULL;
	lc->linear = NULL;
}
