/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Traffic generator library: realistic ISO 8583 conversations between
 * acquirer hosts and a card switch, written as a pcap capture together with
 * the risk-list files that screen them and the ground truth of the hits a
 * correct screener must report.
 *
 * Output is a pure function of the configuration (seed included): the same
 * arguments give the same bytes.  The generator is an offline tool and the
 * benchmark's corpus builder; it allocates freely and is single-threaded.
 * File formats are described in docs/gen.md.
 */
#ifndef GEN_H
#define GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/iso8583.h"

/* How message bytes are cut into TCP segments. */
enum gen_seg {
	GEN_SEG_WHOLE = 0, /* one message per segment */
	GEN_SEG_COALESCE,  /* several messages per segment */
	GEN_SEG_SPLIT,     /* each message over 2-3 segments */
	GEN_SEG_TINY,      /* 1..8 byte segments */
	GEN_SEG_MIXED,     /* a random choice of the above for every segment */
	GEN_SEG_MAX
};

#define GEN_MAX_FLOWS 4096
#define GEN_MAX_MEMBERS 64

struct gen_cfg {
	const char *out;       /* capture path (required by gen_run) */
	const char *lists;     /* list CSV path, or NULL for none */
	const char *truth;     /* ground-truth JSONL path, or NULL for none */
	const char *dialect;   /* built-in name or dialect file ("ascii87") */
	const char *framing;   /* rg_framing_parse spec ("len2") */
	uint16_t port;         /* switch TCP port (5000) */
	unsigned nb_flows;     /* TCP connections, 1..GEN_MAX_FLOWS (64) */
	uint64_t nb_messages;  /* requests in total (2000) */
	uint64_t seed;         /* PRNG seed (1) */
	double hit_rate;       /* share of requests carrying a listed identifier, 0..1 (0.02) */
	unsigned list_size;    /* decoy entries per list (1000) */
	uint8_t seg;           /* enum gen_seg (GEN_SEG_MIXED) */
	double retransmit;     /* share of data segments sent twice, 0..1 (0) */
	double reorder;        /* share of data segments swapped with the next one, 0..1 (0) */
	bool ipv6;             /* IPv6 instead of IPv4 */
	uint16_t vlan;         /* 802.1Q VLAN id 1..4094, 0 for untagged */
	unsigned nb_members;   /* >1: lists split round-robin into LISTS-i.csv (1) */
	double keepalive;      /* share of gaps between messages with a keep-alive, 0..1 (0) */
};

/* What gen_run wrote. */
struct gen_stats {
	uint64_t nb_packets;
	uint64_t nb_flows;
	uint64_t nb_messages;  /* ISO 8583 messages, requests and responses */
	uint64_t nb_requests;
	uint64_t nb_hits;      /* ground-truth lines */
	uint64_t nb_bytes;     /* bytes of the capture file */
	uint64_t nb_keepalives;
	uint64_t nb_list_entries;
};

/* Fill cfg with the defaults shown above (out, lists and truth NULL). */
void gen_cfg_default(struct gen_cfg *cfg);

/* Segmentation mode from its name ("whole", ...); -EINVAL if unknown. */
int gen_seg_from_name(const char *name);
const char *gen_seg_name(unsigned seg);

/*
 * Generate the capture, and the list and truth files when named.  Returns 0,
 * or -errno with a message in err[0..err_cap).  stats (may be NULL) receives
 * the counts.
 */
int gen_run_stats(const struct gen_cfg *cfg, struct gen_stats *stats,
		  char *err, size_t err_cap);
int gen_run(const struct gen_cfg *cfg, char *err, size_t err_cap);

/*
 * Build nb_msgs encoded ISO 8583 messages (no framing) for benchmarks: a
 * realistic request/response mix in dialect d.  bufs[i] is malloc'd (the
 * caller frees each) and lens[i] its length.  Returns 0 or -errno (on error
 * nothing is left allocated).
 */
int gen_corpus(const struct rg_dialect *d, unsigned nb_msgs, uint64_t seed,
	       uint8_t **bufs, uint16_t *lens);

/*
 * A closed card population for the live simulators (riskgate-acq): the
 * same merchants, BINs and request mix as the captures, and a fixed pool of
 * listed identifiers made up front, so that the list file can be written
 * (and a table built from it) before any request is sent.  Hit requests
 * only ever reuse that pool.  The population (and so the list file) is a
 * pure function of the dialect and the seed; single-threaded.
 */
struct gen_pop;

/* What one request carries, from the ground truth. */
struct gen_req {
	uint16_t mti;     /* e.g. 100 */
	uint8_t nb_hits;  /* listed identifiers the dialect extracts from it */
	uint8_t lists;    /* union of their lists: bit i = standard list i
	                   * (txn_fraud, high_risk_account, marketing_cheat,
	                   * telecom_fraud) */
	uint8_t list_hits[4]; /* (identifier, list) hits per standard list: the
	                       * ground-truth lines of the request */
};

/*
 * New population for dialect d (borrowed for the population's lifetime):
 * nb_listed listed cards, and a quarter as many listed accounts, merchants,
 * terminals and phones where the dialect extracts them; hit_rate (0..1) is
 * the share of requests carrying at least one of them.  Returns NULL with
 * errno set (EINVAL, ENOMEM).
 */
struct gen_pop *gen_pop_new(const struct rg_dialect *d, uint64_t seed, double hit_rate,
			    unsigned nb_listed);
void gen_pop_free(struct gen_pop *p);

/*
 * Write the population's list file (as riskgate-gen --lists, with
 * list_size decoys per list; nb_members > 1 splits it into PATH-i.csv).
 * Does not change the requests that follow.  Returns 0 or -errno with a
 * message in err; *nb_entries (may be NULL) gets the entries written.
 */
int gen_pop_write_lists(struct gen_pop *p, const char *path, unsigned list_size,
			unsigned nb_members, uint64_t *nb_entries, char *err, size_t err_cap);

/*
 * Build one request (no framing) into out[0..cap): STAN stan (1..999999),
 * acquirer id acq_id (DE 32, digits), date-time fields from now_us (µs since
 * the epoch).  info (may be NULL) gets its MTI and ground truth.  Returns
 * the message length or -errno.
 */
int gen_pop_request(struct gen_pop *p, uint32_t stan, const char *acq_id, uint64_t now_us,
		    uint8_t *out, size_t cap, struct gen_req *info);

/*
 * Write the ground-truth lines of the request built last (riskgate-gen's
 * truth format, flow named flow, "dir": "request").  Returns the lines
 * written or -errno.
 */
int gen_pop_truth(const struct gen_pop *p, FILE *out, const char *flow);

#endif
