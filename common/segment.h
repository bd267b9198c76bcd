/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The shared segment between the dataplane and the control plane: one file
 * (hugetlbfs, default /dev/hugepages/riskgate.seg; /dev/shm as a loudly
 * reported fallback) holding the dataplane's identity, the policy the
 * control plane sets, per-lcore counters and per-lcore hit-event rings.
 * The fingerprint table is a file of its own (common/table.h); the header
 * names it.
 *
 * Layout (all offsets from the start of the file, every block 64-byte
 * aligned; a reader checks magic, version and the sizes in the header before
 * using anything):
 *
 *   0                 struct rg_seg_header   identity and layout
 *   policy_off        struct rg_seg_policy   written by the control plane
 *   stats_off         nb_lcores x struct rg_seg_stats
 *                                            one block per lcore slot,
 *                                            nb_counters u64 each
 *   rings_off         nb_lcores x ring       struct rg_event_ring header +
 *                                            ring_size x struct rg_event
 *                                            (common/event.h), ring_bytes each
 *
 * Writers:
 *   - header: the dataplane at start-up (rg_segment_create); then read-only.
 *     generation grows by one on every dataplane start, so a reader notices a
 *     restart (and a stats reset) by generation and dp_pid.
 *   - policy: the control plane only, under a sequence lock: make version
 *     odd (release), write the fields, make it even (release).  The
 *     dataplane copies the block when version changed and is even, and
 *     retries when it changed under the copy.  A dataplane start keeps the
 *     policy of an existing compatible file whose version is non-zero (the
 *     control plane set it) and otherwise writes its configured one.
 *   - stats block i: lcore slot i only (plain u64 stores, no atomics beyond
 *     what the CPU gives aligned 64-bit stores); readers sum the slots.
 *     Counters are indexed by enum rg_ctr; anomalies by RG_CTR_ANOM_BASE +
 *     enum rg_anomaly.  Gauges (RG_CTR_FLOWS_ACTIVE, RG_CTR_TABLE_*) hold a
 *     current value rather than a count.
 *   - ring i: produced by lcore slot i, consumed by one consumer (the
 *     control plane); see common/event.h.
 *
 * Counters grow only by appending before RG_CTR_MAX (a version bump is
 * needed to change anything else); nb_counters in the header tells a reader
 * how many the writer knows.
 */
#ifndef RG_SEGMENT_H
#define RG_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/anomaly.h"
#include "common/event.h"
#include "common/lists.h"

#define RG_SEG_MAGIC 0x4745534b53495252ull /* "RRISKSEG" little-endian */
#define RG_SEG_VERSION 2
#define RG_SEG_DEFAULT_PATH "/dev/hugepages/riskgate.seg"
#define RG_SEG_FALLBACK_DIR "/dev/shm"
#define RG_SEG_LCORES_MAX 64
#define RG_SEG_PATH_MAX 256
#define RG_SEG_MTI_CLASSES 10

/* Per-lcore counters.  Names: rg_ctr_name(). */
enum rg_ctr {
	/* ports */
	RG_CTR_RX_PKTS = 0,
	RG_CTR_RX_BYTES,
	RG_CTR_TX_PKTS,
	RG_CTR_TX_BYTES,
	RG_CTR_TX_DROPS,         /* the peer port's queue was full */
	RG_CTR_POLLS,            /* loop iterations */
	RG_CTR_BURSTS,           /* non-empty rx bursts */
	/* not screened (still forwarded), by reason */
	RG_CTR_SKIP_NOT_IP,
	RG_CTR_SKIP_L2_MALFORMED,
	RG_CTR_SKIP_IP_MALFORMED,
	RG_CTR_SKIP_IP_FRAGMENT,
	RG_CTR_SKIP_IPV6_EXT,
	RG_CTR_SKIP_NOT_TCP,
	RG_CTR_SKIP_TCP_MALFORMED,
	RG_CTR_SKIP_OTHER_PORT,
	RG_CTR_SKIP_NO_FLOW,     /* control segment of an unknown flow */
	RG_CTR_SKIP_AFTER_CLOSE, /* data after FIN/RST */
	RG_CTR_SKIP_FLOW_TABLE_FULL,
	RG_CTR_SKIP_SEGMENTED,   /* multi-segment mbuf (not screened) */
	/* flows */
	RG_CTR_TCP_SEGMENTS,     /* segments to or from a service port */
	RG_CTR_FLOWS_CREATED,
	RG_CTR_FLOWS_CLOSED,     /* FIN both ways or RST */
	RG_CTR_FLOWS_AGED,       /* idle timeout */
	RG_CTR_FLOWS_ACTIVE,     /* gauge */
	RG_CTR_HOLD_POOL_EMPTY,  /* out-of-order data without a free hold window */
	RG_CTR_FRAMER_POOL_EMPTY,/* split message without a free framer buffer */
	RG_CTR_RESYNCS,          /* a direction found a message start again */
	RG_CTR_RESYNC_SKIPPED_BYTES,
	/* messages */
	RG_CTR_MESSAGES,
	RG_CTR_KEEPALIVES,
	RG_CTR_MSG_CLASS_BASE,   /* + MTI class digit (0..9): 1 auth, 2 financial, ... */
	RG_CTR_IDENT_BASE = RG_CTR_MSG_CLASS_BASE + RG_SEG_MTI_CLASSES, /* + enum rg_kind */
	RG_CTR_LOOKUPS = RG_CTR_IDENT_BASE + RG_KIND_MAX,
	RG_CTR_TABLE_HITS,       /* fingerprints found in the table */
	RG_CTR_HITS,             /* (identifier, list) hits with an action other than off */
	RG_CTR_HITS_LIST_BASE,   /* + list id */
	RG_CTR_EVENTS = RG_CTR_HITS_LIST_BASE + RG_LIST_MAX,
	RG_CTR_EVENTS_DROPPED,   /* ring full */
	RG_CTR_DECLINE_AS_MONITOR, /* decline not enforced yet: reported as monitor */
	RG_CTR_EXEMPT_MESSAGES,  /* messages of an MTI class the policy exempts */
	/* table */
	RG_CTR_TABLE_SWITCHES,   /* generation switches followed */
	RG_CTR_TABLE_GENERATION, /* gauge */
	RG_CTR_TABLE_COUNT,      /* gauge, refreshed about once a second */
	RG_CTR_TABLE_LEDGER_POS, /* gauge */
	RG_CTR_POLICY_VERSION,   /* gauge: policy version in force */
	RG_CTR_FLOWS_EVICTED,    /* closed or half-open flows removed to make room */
	RG_CTR_MULTISEG_COPIED,  /* multi-segment frames copied whole to be screened */
	/* anomalies */
	RG_CTR_ANOM_BASE,        /* + enum rg_anomaly */
	RG_CTR_MAX = RG_CTR_ANOM_BASE + RG_ANOM_MAX
};

/* Stable lowercase name ("rx_pkts", "hits_txn_fraud", "anomaly_stream_gap",
 * "msg_class_1", "ident_pan" ...); "unknown" out of range.  List counters
 * past the standard lists are "hits_list_N". */
const char *rg_ctr_name(unsigned ctr);

enum rg_fail_mode {
	RG_FAIL_OPEN = 0,   /* on any screening trouble: forward (the only mode today) */
	RG_FAIL_CLOSED = 1, /* reserved for enforcement */
};

struct rg_seg_header {
	uint64_t magic;        /* RG_SEG_MAGIC */
	uint32_t version;      /* RG_SEG_VERSION */
	uint32_t header_bytes; /* sizeof(struct rg_seg_header) */
	uint32_t policy_bytes; /* sizeof(struct rg_seg_policy) */
	uint32_t event_bytes;  /* sizeof(struct rg_event) */
	uint32_t nb_counters;  /* RG_CTR_MAX of the writer */
	uint32_t stats_bytes;  /* bytes per lcore stats block */
	uint32_t nb_lcores;    /* lcore slots (stats blocks and rings) */
	uint32_t ring_size;    /* records per ring, a power of two */
	uint64_t ring_bytes;   /* bytes per ring, header included, 64-aligned */
	uint64_t policy_off;
	uint64_t stats_off;
	uint64_t rings_off;
	uint64_t total_bytes;  /* file size */
	uint64_t dp_pid;       /* dataplane process id; 0 until a dataplane started on it */
	uint64_t start_ns;     /* CLOCK_REALTIME of the dataplane start */
	uint64_t generation;   /* dataplane starts on this file */
	uint16_t lcore_id[RG_SEG_LCORES_MAX]; /* DPDK lcore id of each slot */
	char table_path[RG_SEG_PATH_MAX];     /* table file the dataplane reads */
	uint8_t hugetlb;       /* 0: the segment is ordinary shared memory FALLBACK */
	uint8_t pad_[23];
};

struct rg_seg_policy {
	uint64_t version;              /* sequence lock; even = stable; 0 = never set */
	uint8_t list_action[RG_LIST_MAX]; /* enum rg_action per list id */
	uint8_t fail_mode;             /* enum rg_fail_mode */
	uint8_t pad0_[5];
	uint16_t exempt_mti_classes;   /* bit c: messages of MTI class c are not screened */
	uint8_t pad1_[32];
};

_Static_assert(sizeof(struct rg_seg_policy) == 64, "policy is one cache line");
_Static_assert(sizeof(struct rg_seg_header) % 64 == 0, "header is whole cache lines");

/*
 * The busiest flows of one lcore (by messages since the flow opened), as
 * of its last sweep over its flow table: the dataplane rebuilds the list
 * while aging flows (a few slots per poll) and publishes it under a
 * sequence lock when the sweep wraps; readers merge the lcores' lists.
 */
#define RG_SEG_TOP_FLOWS 32

struct rg_seg_flow {
	uint8_t addr[2][16];   /* IPv4 in the first 4 bytes (family 4) */
	uint16_t port[2];
	uint8_t family;        /* 4 or 6 */
	uint8_t svc;           /* service index of the dataplane's config */
	uint8_t closed;        /* FIN both ways or RST */
	uint8_t server;        /* the end (0 or 1) on the service port */
	uint64_t msgs;         /* messages framed, both directions */
	uint64_t bytes;        /* TCP payload bytes, both directions */
	uint64_t hits;         /* (identifier, list) hits reported */
	uint64_t open_ns;      /* CLOCK_REALTIME when the dataplane took the flow up */
	uint64_t last_ns;      /* ... of its last segment */
};

struct rg_seg_top {
	uint64_t version;      /* sequence lock; even = stable */
	uint64_t sweep_ns;     /* CLOCK_REALTIME when the list was published */
	uint32_t nb;           /* entries in flow[] */
	uint32_t pad_[11];
	struct rg_seg_flow flow[RG_SEG_TOP_FLOWS];
};

_Static_assert(sizeof(struct rg_seg_flow) == 80, "flow record layout");
_Static_assert(sizeof(struct rg_seg_top) % 64 == 0, "top flows are whole cache lines");

struct rg_seg_stats {
	uint64_t c[RG_CTR_MAX];
	struct rg_seg_top top __attribute__((aligned(64)));
} __attribute__((aligned(64)));

struct rg_segment;

struct rg_segment_opts {
	const char *path;       /* NULL: anonymous private memory (replay, tests) */
	unsigned nb_lcores;     /* 1..RG_SEG_LCORES_MAX */
	unsigned ring_size;     /* events per ring; rounded up to a power of two; 0 = 4096 */
	const char *table_path; /* recorded in the header (may be NULL) */
	const struct rg_seg_policy *policy; /* written unless the file keeps one */
	bool no_hugetlb;        /* do not try hugetlbfs */
	bool quiet;             /* no fallback warning on stderr */
	bool control_plane;     /* created by the control plane ahead of the
				 * dataplane: dp_pid stays 0 until one starts */
};

/*
 * Dataplane: create (or take over) the segment.  An existing file with the
 * same version and layout keeps its policy block (when its version is not
 * 0); everything else is reset.  A file on hugetlbfs that cannot get its
 * huge pages is replaced by a symlink to a file in /dev/shm, reported on
 * stderr unless quiet and in the header.  Returns NULL with errno set and
 * err naming the path and the reason.  Start-up only.
 */
struct rg_segment *rg_segment_create(const struct rg_segment_opts *o, char *err, size_t err_cap);

/*
 * Any other process (control plane, tools, tests): map an existing segment
 * read-write after checking magic, version and layout.  Returns NULL with
 * errno set (ENOENT, EPROTO: other version or layout) and err set.
 */
struct rg_segment *rg_segment_attach(const char *path, char *err, size_t err_cap);

/* Unmap (the file stays). */
void rg_segment_close(struct rg_segment *s);

struct rg_seg_header *rg_segment_header(const struct rg_segment *s);
struct rg_seg_policy *rg_segment_policy(const struct rg_segment *s);
/* Stats block / ring of lcore slot i (< nb_lcores). */
struct rg_seg_stats *rg_segment_stats(const struct rg_segment *s, unsigned i);
struct rg_event_ring *rg_segment_ring(const struct rg_segment *s, unsigned i);

/* Sum of counter ctr over every slot (a snapshot; gauges are summed too). */
uint64_t rg_segment_sum(const struct rg_segment *s, unsigned ctr);

/*
 * Policy sequence lock.  rg_seg_policy_write: the control plane (one
 * writer) installs *p (its version field is ignored).  rg_seg_policy_read:
 * copies a consistent policy into *out; returns false if a write was in
 * progress (try again later).
 */
void rg_seg_policy_write(struct rg_seg_policy *shared, const struct rg_seg_policy *p);
bool rg_seg_policy_read(const struct rg_seg_policy *shared, struct rg_seg_policy *out);

/* Top flows sequence lock: the owning lcore publishes, anyone reads (false:
 * a publish was in progress, try again). */
void rg_seg_top_publish(struct rg_seg_top *shared, const struct rg_seg_flow *f, unsigned nb,
			uint64_t now_ns);
bool rg_seg_top_read(const struct rg_seg_top *shared, struct rg_seg_top *out);

#endif
