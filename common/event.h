/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Hit events: what the dataplane reports for every identifier found on a
 * list whose action is not "off", and the single-producer single-consumer
 * ring that carries them through the shared segment (common/segment.h).
 *
 * One ring per dataplane lcore: the lcore is the only producer, the control
 * plane (or the replay tool) the only consumer.  A full ring drops the new
 * event and the producer counts it; the producer never waits.  Records are
 * fixed-size and hold no raw PAN: identifiers are masked (rg_ident_mask) and
 * fingerprints cut to an 8-byte prefix.
 */
#ifndef RG_EVENT_H
#define RG_EVENT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common/ident.h"

#define RG_EVENT_MASKED_MAX (RG_IDENT_MAX_LEN + 1) /* masked text + NUL */
#define RG_EVENT_FP_PREFIX 8

enum rg_event_kind {
	RG_EVENT_HIT = 1, /* an identifier found on one or more lists */
};

enum rg_event_dir {
	RG_EVENT_DIR_REQUEST = 0,  /* towards the service port (acquirer to switch) */
	RG_EVENT_DIR_RESPONSE = 1, /* from the service port */
};

/* Policy actions (common/segment.h); an event carries the strongest one of
 * its lists. */
enum rg_action {
	RG_ACTION_OFF = 0,
	RG_ACTION_MONITOR = 1,
	RG_ACTION_DECLINE = 2, /* accepted in policy; enforced in a later release */
	RG_ACTION_MAX
};

/* 256 bytes, naturally aligned; the layout is part of the segment format. */
struct rg_event {
	uint64_t time_ns;     /* CLOCK_REALTIME of the lookup, ns */
	uint64_t ledger_pos;  /* table's ledger position at the lookup */
	uint16_t lcore;       /* producing lcore id */
	uint8_t kind;         /* enum rg_event_kind */
	uint8_t family;       /* 4 or 6 */
	uint8_t dir;          /* enum rg_event_dir */
	uint8_t ident_kind;   /* enum rg_kind */
	uint8_t de;           /* data element the identifier came from */
	uint8_t action;       /* enum rg_action: strongest of the hit lists */
	uint16_t mti;         /* 0..9999 */
	uint16_t lists;       /* bit i: list i hit and not "off" */
	uint16_t contributor; /* member index from the table value */
	uint8_t action_hint;  /* table value's action hint */
	uint8_t pad0_;
	uint16_t sport;       /* source port of this direction, host order */
	uint16_t dport;       /* destination port, host order */
	uint32_t pad1_;
	uint8_t saddr[16];    /* IPv4 in the first 4 bytes */
	uint8_t daddr[16];
	uint8_t fp[RG_EVENT_FP_PREFIX]; /* fingerprint prefix */
	char stan[8];         /* DE 11 as text, NUL-terminated ("" if absent) */
	char rrn[16];         /* DE 37 as text, NUL-terminated ("" if absent) */
	char masked[RG_EVENT_MASKED_MAX]; /* masked identifier, NUL-terminated */
	uint8_t pad2_[256 - 104 - RG_EVENT_MASKED_MAX];
};

_Static_assert(sizeof(struct rg_event) == 256, "rg_event is part of the segment format");

/*
 * The ring.  prod and cons are free-running 64-bit counters (never wrap in
 * practice); slot i is rec[i & mask].  prod is written by the producer only
 * (release, after the record), cons by the consumer only (release, after
 * reading the record).  Each sits alone on its cache line.
 */
struct rg_event_ring {
	uint64_t prod;
	uint64_t cons_cache;  /* producer's private copy of cons */
	uint8_t pad0_[48];
	uint64_t cons;
	uint8_t pad1_[56];
	uint32_t size;        /* records, a power of two */
	uint32_t mask;        /* size - 1 */
	uint8_t pad2_[56];
	struct rg_event rec[]; /* size records */
};

_Static_assert(sizeof(struct rg_event_ring) == 192, "ring header is 3 cache lines");

/* Producer: copy *ev into the ring.  Returns false (nothing written) when
 * full.  Single producer; never blocks. */
static inline bool rg_event_ring_push(struct rg_event_ring *r, const struct rg_event *ev)
{
	uint64_t p = r->prod;

	if (p - r->cons_cache >= r->size) {
		r->cons_cache = __atomic_load_n(&r->cons, __ATOMIC_ACQUIRE);
		if (p - r->cons_cache >= r->size)
			return false;
	}
	memcpy(&r->rec[p & r->mask], ev, sizeof(*ev));
	__atomic_store_n(&r->prod, p + 1, __ATOMIC_RELEASE);
	return true;
}

/* Consumer: take the oldest event into *ev.  Returns false when empty.
 * Single consumer. */
static inline bool rg_event_ring_pop(struct rg_event_ring *r, struct rg_event *ev)
{
	uint64_t c = r->cons;

	if (__atomic_load_n(&r->prod, __ATOMIC_ACQUIRE) == c)
		return false;
	memcpy(ev, &r->rec[c & r->mask], sizeof(*ev));
	__atomic_store_n(&r->cons, c + 1, __ATOMIC_RELEASE);
	return true;
}

/* Events waiting (any thread; a snapshot). */
static inline uint64_t rg_event_ring_count(const struct rg_event_ring *r)
{
	return __atomic_load_n(&r->prod, __ATOMIC_ACQUIRE) -
	       __atomic_load_n(&r->cons, __ATOMIC_ACQUIRE);
}

/* "request" / "response"; "monitor" ... */
const char *rg_event_dir_name(unsigned dir);
const char *rg_action_name(unsigned action);
/* Action from its name ("off", "monitor", "decline"); -1 if unknown. */
int rg_action_from_name(const char *name);

#endif
