/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * riskgate-dp internals: configuration, per-lcore state and the stages of
 * the fast path (docs/dataplane.md).
 *
 * One worker lcore owns one queue of every port of every pair and all state
 * it touches: its flow table, hold windows, framer buffers, burst staging,
 * table reader handle, counters block and event ring.  Nothing on the fast
 * path is shared between workers, allocated, logged or waited for.
 */
#ifndef RG_DP_H
#define RG_DP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_mbuf.h>

#include "common/event.h"
#include "common/fp.h"
#include "common/frame.h"
#include "common/ident.h"
#include "common/iso8583.h"
#include "common/lists.h"
#include "common/segment.h"
#include "common/stream.h"
#include "common/table.h"
#include "dataplane/flowtab.h"

#define DP_BURST_MAX 64      /* packets per rx burst */
#define DP_MSGS_MAX 256      /* messages staged before a screening flush */
#define DP_IDS_MAX 1024      /* identifiers staged before a screening flush */
#define DP_SERVICES_MAX 16
#define DP_PAIRS_MAX 8
#define DP_WORKERS_MAX 16
#define DP_RXQ_MAX (2 * DP_PAIRS_MAX)
#define DP_NAME_MAX 128
#define DP_PATH_MAX 256
#define DP_NONE UINT32_MAX
#define DP_LINEAR_MAX 9728   /* largest multi-segment frame copied whole to be screened */

/* ---- configuration (config.c) ------------------------------------------ */

struct dp_service {
	uint16_t port;                 /* TCP port of the card switch side */
	struct rg_framing framing;
	struct rg_dialect *dialect;    /* owned */
	char dialect_name[DP_NAME_MAX];
	char framing_name[RG_FRAME_SPEC_MAX];
	uint16_t kind_lists[RG_KIND_MAX]; /* kind -> mask of lists it feeds on this port */
	bool own_mapping;                 /* its own mapping group, else the top-level one */
};

struct dp_pair {
	char name[2][DP_NAME_MAX];     /* port id as text, PCI address or vdev name */
	uint16_t port[2];              /* resolved DPDK port ids (port.c) */
};

struct dp_config {
	unsigned nb_pairs;
	struct dp_pair pair[DP_PAIRS_MAX];
	unsigned nb_workers;
	unsigned worker_lcore[DP_WORKERS_MAX]; /* DPDK lcore ids; empty = the main lcore */
	unsigned nb_services;
	struct dp_service svc[DP_SERVICES_MAX];
	uint16_t kind_lists[RG_KIND_MAX];  /* top-level mapping, for services without their own */
	uint8_t list_action[RG_LIST_MAX];  /* enum rg_action */
	uint8_t fail_mode;                 /* enum rg_fail_mode */
	uint16_t exempt_mti_classes;
	char table_path[DP_PATH_MAX];
	char segment_path[DP_PATH_MAX];    /* "" = private memory */
	char key_path[DP_PATH_MAX];
	uint32_t nb_flows;                 /* flow table entries per worker */
	uint32_t hold_bytes;               /* out-of-order window per held direction */
	uint32_t nb_hold;                  /* hold windows per worker */
	uint32_t nb_framer_bufs;           /* framer buffers per worker */
	uint32_t flow_idle_sec;
	uint32_t burst;                    /* rx burst, 1..DP_BURST_MAX */
	uint32_t ring_size;                /* events per lcore ring */
	uint32_t nb_mbufs;                 /* mbufs in the pool */
	uint16_t rx_desc, tx_desc;
	bool segment_no_hugetlb;
};

/* Built-in defaults (also what replay runs with). */
void dp_config_defaults(struct dp_config *c);
/*
 * Read a libconfig file over the defaults.  Returns 0, or -EINVAL/-errno
 * with err = "FILE:LINE: what" (or "FILE: what").  Loads dialects.  On
 * success every service's kind_lists holds the mapping it screens with:
 * its own mapping group, or else the top-level one.
 */
int dp_config_load(struct dp_config *c, const char *path, char *err, size_t err_cap);
/* The same over an open stream (borrowed until return; not closed); path
 * names it in errors. */
int dp_config_load_stream(struct dp_config *c, FILE *fp, const char *path, char *err,
			  size_t err_cap);
/* Add one service (replay's --port/--dialect/--framing), screened with the
 * top-level mapping as c holds it now.  0 or -EINVAL. */
int dp_config_add_service(struct dp_config *c, uint16_t port, const char *dialect,
			  const char *framing, uint32_t max_msg, char *err, size_t err_cap);
/* Apply defaults that depend on other settings; check consistency. */
int dp_config_finish(struct dp_config *c, char *err, size_t err_cap);
void dp_config_free(struct dp_config *c);

/* ---- flows (flow.c) ---------------------------------------------------- */

/* Both ends of a connection, lower (addr, port) first: both directions of a
 * connection give the same key.  40 bytes, hashed whole. */
struct dp_flow_key {
	uint8_t addr[2][16];
	uint16_t port[2];
	uint8_t family;      /* 4 or 6 */
	uint8_t pad_[3];
};

struct dp_dir {
	struct rg_stream st;
	struct rg_framer fr;
	uint32_t hold_slot;  /* index in the hold pool, or DP_NONE */
	uint32_t fbuf_slot;  /* index in the framer buffer pool, or DP_NONE */
	uint8_t syn;         /* ISN seen */
	uint8_t fin;
	uint8_t resync;      /* waiting for a plausible message start */
	uint8_t request;     /* destination is the service port */
};

struct dp_flow {
	struct dp_flow_key key;
	uint8_t in_use;
	uint8_t closed;      /* FIN both ways or RST: buffers released; a SYN reopens */
	uint8_t svc;
	uint8_t data;        /* payload seen (either way) since it opened */
	uint32_t hits;       /* (identifier, list) hits since it opened */
	uint64_t msgs;       /* messages framed since it opened */
	uint64_t bytes;      /* payload bytes since it opened */
	uint64_t open_tsc;
	struct dp_dir dir[2]; /* [i]: from key end i to end 1 - i */
};

/* ---- packets (parse.c) ------------------------------------------------- */

#define DP_TCP_FIN 0x01
#define DP_TCP_SYN 0x02
#define DP_TCP_RST 0x04
#define DP_TCP_ACK 0x10

/* What the parser found in one frame; valid for the burst. */
struct dp_pkt {
	struct dp_flow_key key;
	const uint8_t *payload;
	uint32_t plen;
	uint32_t seq;
	uint32_t ack;        /* valid with DP_TCP_ACK */
	uint16_t win;        /* window field as sent (unscaled) */
	int8_t wscale;       /* SYN: window scale option, or RG_STREAM_WS_NONE */
	uint8_t flags;       /* TCP flags */
	uint8_t dir;         /* direction within the flow: the sender is key end dir */
	uint8_t svc;         /* service index */
	uint8_t screen;      /* 1: a TCP segment of a service port */
};

struct dp_ctx;

/* Parse one frame; returns 1 and fills *p for a service-port TCP segment,
 * else 0 after counting the reason in c[]. */
int dp_parse(const struct dp_ctx *x, const uint8_t *data, uint32_t len, struct dp_pkt *p,
	     uint64_t *c);

/* ---- per-lcore state --------------------------------------------------- */

struct dp_rxq {
	uint16_t rx_port, rx_queue;
	uint16_t tx_port, tx_queue;
	uint8_t mem;         /* rx from the replay preload instead of the port */
};

/* A message waiting for its identifiers' lookups. */
struct dp_msg {
	struct dp_flow_key key;
	uint32_t flow;       /* index in flows[] when staged (check key before use) */
	uint16_t mti;
	uint8_t dir;         /* key end that sent it */
	uint8_t request;
	uint8_t svc;
	uint8_t stan_len, rrn_len;
	uint16_t stan_units, rrn_units;
	uint8_t stan[16];    /* DE 11 and DE 37 as on the wire */
	uint8_t rrn[24];
};

struct dp_replay_src;

/*
 * Stage profiling, compiled into riskgate-dp-prof only (-DDP_PROF=1): TSC
 * spans per stage summed over the run, and per-packet latency in two
 * histograms: from the rx burst's return to the tx burst's return
 * (forwarding) and to the end of the burst's screening.  The ordinary
 * build has none of it: the macros below expand to nothing.
 */
enum dp_stage {
	DP_STAGE_PARSE = 0,  /* L2-L4 parse, counters, prefetch */
	DP_STAGE_FLOW,       /* flow lookup, TCP state, stream reassembly */
	DP_STAGE_DECODE,     /* framing, ISO 8583 decode, identifier extraction */
	DP_STAGE_FP,         /* fingerprints */
	DP_STAGE_LOOKUP,     /* table bulk lookups */
	DP_STAGE_EVENTS,     /* hit accounting and events */
	DP_STAGE_TX,         /* tx burst */
	DP_STAGE_MAX
};
#define DP_LAT_SHIFT 4       /* histogram bucket: 16 TSC cycles */
#define DP_LAT_BUCKETS 16384 /* up to 262144 cycles (~110 us at 2.3 GHz); then the last */

struct dp_prof {
	uint64_t tsc[DP_STAGE_MAX];
	uint64_t nb_pkts;
	uint64_t lat[DP_LAT_BUCKETS];        /* rx to tx */
	uint64_t lat_screen[DP_LAT_BUCKETS]; /* rx to screened */
};

#ifdef DP_PROF
#define DP_PROF_T0(v) uint64_t v = rte_rdtsc()
#define DP_PROF_ADD(lc, stage, t0) ((lc)->prof.tsc[stage] += rte_rdtsc() - (t0))
#define DP_PROF_MOVE(lc, to, from, t0) do {				\
		uint64_t d_ = rte_rdtsc() - (t0);				\
		(lc)->prof.tsc[to] += d_;					\
		(lc)->prof.tsc[from] -= d_;					\
	} while (0)
#else
#define DP_PROF_T0(v) do { } while (0)
#define DP_PROF_ADD(lc, stage, t0) do { } while (0)
#define DP_PROF_MOVE(lc, to, from, t0) do { } while (0)
#endif

struct dp_lcore {
	unsigned slot;                  /* index in the segment */
	unsigned lcore_id;
	const struct dp_ctx *x;
	uint64_t *c;                    /* counters block in the segment */
	struct rg_event_ring *ring;
	struct rg_table *table;         /* this lcore's reader handle */
	struct dp_ftab ftab;            /* flow key -> index in flows[] */
	struct dp_flow *flows;
	uint64_t *flow_last;            /* tsc of each flow's last packet; 0 = free */
	uint32_t nb_flows;
	uint32_t age_cursor;
	uint32_t evict_cursor;          /* where the next eviction scan starts */
	struct rg_seg_top *top;         /* this lcore's top flows in the segment */
	struct rg_seg_flow top_next[RG_SEG_TOP_FLOWS]; /* being gathered by the sweep */
	unsigned nb_top_next;
	unsigned top_min;               /* least busy of a full top_next[] */
	uint64_t idle_tsc;
	uint64_t next_table_tsc;        /* next table gauge refresh */
	uint8_t *hold_mem;              /* nb_hold x (hold_bytes + hold_bytes / 8) */
	uint32_t *hold_free;
	uint32_t nb_hold_free;
	uint8_t *fbuf_mem;              /* nb_framer_bufs x fbuf_bytes */
	uint32_t *fbuf_free;
	uint32_t nb_fbuf_free;
	uint32_t fbuf_bytes;
	uint8_t *scratch;               /* framer buffer for one call, fbuf_bytes */
	uint8_t *linear;                /* DP_BURST_MAX x DP_LINEAR_MAX: multi-segment
					 * frames of the burst, copied whole */
	struct rg_seg_policy policy;    /* copy in force */
	uint16_t active_lists;          /* lists whose action is not off */
	/* per service index: its mapping & active_lists (dp_screen_plan) */
	uint16_t svc_kind_lists[DP_SERVICES_MAX][RG_KIND_MAX];
	uint32_t screen_kinds[DP_SERVICES_MAX]; /* bit k: kind k feeds an active list */
	uint8_t svc_last_de[DP_SERVICES_MAX]; /* last DE screening reads */
	unsigned nb_rxq;
	struct dp_rxq rxq[DP_RXQ_MAX];
	/* the packet being followed (for the stream callback) */
	struct dp_flow *cur_flow;
	struct dp_dir *cur_dir;
	uint8_t cur_end;
	/* burst staging */
	unsigned nb_msgs, nb_ids;
	struct dp_pkt pkt[DP_BURST_MAX];
	struct dp_msg msgs[DP_MSGS_MAX];
	uint16_t id_msg[DP_IDS_MAX];
	struct rg_ident ids[DP_IDS_MAX];
	struct rg_fp fps[DP_IDS_MAX];
	struct rg_table_val vals[DP_IDS_MAX];
	struct rg_iso_msg iso;          /* decode scratch */
	struct rg_stream_sink sink;     /* dp_deliver and dp_stream_gap, ctx this lcore */
	/* replay */
	struct dp_replay_src *src;
	FILE *events_out;               /* replay --events: drained after each poll */
	uint64_t first_rx_tsc, last_rx_tsc;
	uint64_t tsc_hz;
	uint64_t start_tsc, start_ns;   /* for event timestamps */
#ifdef DP_PROF
	struct dp_prof prof;
#endif
} __rte_cache_aligned;

/* Shared, read-only after start-up. */
struct dp_ctx {
	struct dp_config *cfg;
	struct rg_segment *seg;
	const struct rg_fp_key *key;    /* sodium_malloc memory, borrowed */
	uint64_t svc_port_bits[65536 / 64]; /* bit p: port p is a service port */
	uint8_t svc_of_port[65536];     /* service index of a port */
	unsigned nb_lcores;
	struct dp_lcore *lc[DP_WORKERS_MAX];
	struct rte_mempool *pool;
	bool replay;
};

extern volatile int dp_quit;

/* flow.c */
int dp_lcore_init(struct dp_lcore *lc, const struct dp_ctx *x, unsigned slot,
		  char *err, size_t err_cap);
void dp_lcore_free(struct dp_lcore *lc);
/* Follow the screened packets of one burst (parsed into lc->pkt). */
void dp_flow_burst(struct dp_lcore *lc, struct rte_mbuf **pkts, unsigned n);
/* Age out idle flows, a bounded number of slots per call. */
void dp_flow_age(struct dp_lcore *lc, uint64_t now_tsc);
/* End of replay: every open direction gives up on missing bytes. */
void dp_flow_finish(struct dp_lcore *lc);
/* Add n hits to the flow message m came from, if that flow is still there
 * (its slot may have been reused since m was staged). */
void dp_flow_count_hits(struct dp_lcore *lc, const struct dp_msg *m, unsigned n);

/* screen.c */
/* Derive svc_kind_lists, screen_kinds and svc_last_de of every service from
 * its mapping and active_lists (at start-up and after a policy change). */
void dp_screen_plan(struct dp_lcore *lc);
/* A framed message of the current direction: decode, extract, stage. */
void dp_screen_msg(struct dp_lcore *lc, const struct rg_frame *f);
/* Fingerprints, bulk lookups and events for everything staged. */
void dp_screen_flush(struct dp_lcore *lc);
/* Whether data[0..len) starts like a frame of service svc (resync rule). */
bool dp_frame_plausible(const struct dp_service *svc, const uint8_t *data, uint32_t len);

/* event.c */
void dp_event_emit(struct dp_lcore *lc, const struct dp_msg *m, const struct rg_ident *id,
		   const struct rg_fp *fp, struct rg_table_val v, uint16_t lists,
		   uint8_t action, uint64_t ledger_pos);
/* One JSON line per (event, list) into out (replay). */
void dp_event_write_json(FILE *out, const struct rg_event *ev, const struct dp_ctx *x);
/* Drain lc's ring into its events file. */
void dp_event_drain(struct dp_lcore *lc);

/* stats.c */
void dp_policy_refresh(struct dp_lcore *lc);
void dp_stats_table(struct dp_lcore *lc, uint64_t now_tsc);

/* port.c */
int dp_ports_setup(struct dp_ctx *x, char *err, size_t err_cap);
void dp_ports_close(struct dp_ctx *x);
/* The main loop of one worker. */
int dp_lcore_loop(void *arg);

/* Print the stage profile of every lcore as one JSON line (riskgate-dp-prof;
 * nothing in the ordinary build). */
void dp_prof_report(const struct dp_ctx *x, FILE *out);

/* telemetry.c */
int dp_telemetry_register(struct dp_ctx *x);

/* replay.c */
struct dp_replay_opts {
	const char *in, *out, *events;
	unsigned long loops;
};
bool dp_replay_done(struct dp_lcore *lc);
unsigned dp_replay_rx(struct dp_lcore *lc, struct rte_mbuf **pkts, unsigned max);
/* Build the EAL vdev args for a replay. */
int dp_replay_run(struct dp_ctx *x, const struct dp_replay_opts *o, char *err, size_t err_cap);

static inline uint64_t dp_now_ns(const struct dp_lcore *lc, uint64_t tsc)
{
	return lc->start_ns + (uint64_t)((double)(tsc - lc->start_tsc) * 1e9 / (double)lc->tsc_hz);
}

#endif
