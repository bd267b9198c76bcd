/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * riskgated, the control plane (docs/operations.md): one process, one
 * thread, one epoll loop.  It holds the member's ledger, keeps the shared
 * fingerprint table equal to the ledger state, writes the policy into the
 * shared segment, drains the dataplane's hit-event rings, and serves the
 * control socket (control/protocol.h) and the metrics endpoint.
 *
 * Everything here belongs to the loop thread; each tick does bounded work.
 */
#ifndef CTL_H
#define CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <netinet/in.h>
#include <sys/types.h>

#include <jansson.h>

#include "common/event.h"
#include "common/lists.h"
#include "common/segment.h"
#include "common/table.h"
#include "control/protocol.h"
#include "ledger/ledger.h"

#define CTL_PATH_MAX 256
#define CTL_CLIENTS_MAX 1024 /* bound of the clients_max setting */
#define CTL_ERR_MAX 512
#define CTL_VERSION "0.1.0"

/* ---- logging ---- */

enum ctl_log_level {
	CTL_LOG_ERR = 0,
	CTL_LOG_WARN = 1,
	CTL_LOG_REMOTE = 2, /* a peer (socket client) sent garbage */
	CTL_LOG_INFO = 3,
	CTL_LOG_DEBUG = 4,
};

void ctl_log_set_level(enum ctl_log_level lvl);
void ctl_log(enum ctl_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- configuration (control/config.c) ---- */

#define CTL_PEERS_MAX 64
#define CTL_URL_MAX 256

/* A peer to fetch from: a member (by name; its TLS key comes from the
 * ledger's membership) at a base URL "https://HOST:PORT". */
struct ctl_peer_addr {
	char member[33];
	char url[CTL_URL_MAX];
};

struct ctl_config {
	char ledger_dir[CTL_PATH_MAX];
	char socket_path[CTL_PATH_MAX];
	char socket_group[64];   /* "" = the daemon's group */
	char admin_group[64];    /* default "riskgate-admin" */
	char lookup_group[64];   /* may also `lookup`; default "riskgate-lookup", "" = none */
	unsigned clients_max;    /* control connections at once, 16..CTL_CLIENTS_MAX */
	unsigned clients_admin_reserved; /* of those, kept for root and the admin group */
	unsigned clients_per_uid; /* connections of one uid at once (root excepted) */
	unsigned client_idle_sec; /* close a peer outside the admin group after this
				   * long without a request; 0 = never */
	unsigned lookup_rate_per_min; /* lookups per uid per minute (root excepted); 0 = no bound */
	unsigned lookup_burst;	  /* lookups a uid may make at once, 1..10000 */
	char segment_path[CTL_PATH_MAX];
	unsigned segment_lcores; /* lcore slots when riskgated creates the segment */
	char table_path[CTL_PATH_MAX];
	uint64_t table_capacity; /* initial capacity of a new table */
	char events_path[CTL_PATH_MAX]; /* "-" stdout, "" none */
	uint64_t events_max_bytes;      /* rotate when larger; 0 = never */
	unsigned events_keep;           /* rotated files kept (.1 .. .N) */
	char metrics_listen[64];        /* "ADDR:PORT", "" = off */
	char sync_listen[64];           /* sync service "ADDR:PORT" (TLS), "" = off */
	struct ctl_peer_addr peers[CTL_PEERS_MAX];
	unsigned nb_peers;
	unsigned sync_poll_ms;          /* checkpoint polling period per peer, 50..600000 */
	bool metrics_public;            /* metrics_listen may be beyond the loopback */
	unsigned stale_after_sec;       /* staleness alarm after this (0 = off) */
	bool stale_fallback;            /* on alarm, lists at decline act as monitor */
	unsigned hits_kept;             /* recent hit events kept for `hits` */
	enum ctl_log_level log_level;
	struct rg_seg_policy policy;    /* version unused */
	unsigned receipts;              /* enum ctl_receipts_mode */
	unsigned receipts_batch_ms;     /* flush the queue when its oldest line is this old */
	unsigned receipts_max_per_s;    /* hit lines taken for receipts per second */
	unsigned receipts_batch_max;    /* queue bound, hit lines (1..LEDGER_BLOCK_MAX) */
};

/* Hit receipts policy (control/receipts.h). */
enum ctl_receipts_mode {
	CTL_RECEIPTS_OFF = 0,
	CTL_RECEIPTS_LOCAL = 1,	 /* kept in the receipts store of the appliance only */
	CTL_RECEIPTS_SHARED = 2, /* HIT entries in the own signed log */
};
const char *ctl_receipts_mode_name(unsigned mode);

void ctl_config_defaults(struct ctl_config *c);
/* Parse FILE over the defaults in *c.  0 or -errno with err "FILE:LINE:
 * setting: problem" (masked: rg_mask_text).  c is untouched on error. */
int ctl_config_load(const char *path, struct ctl_config *c, char *err, size_t cap);
/* Same from text (tests and the fuzz target); name is used in messages. */
int ctl_config_parse(const char *text, const char *name, struct ctl_config *c, char *err,
		     size_t cap);
/* The rules between settings (a metrics address beyond the loopback
 * without metrics_public, client slots), for a configuration put together
 * from a file and the command line.  0, or -EINVAL with *key (may be NULL)
 * naming the setting at fault and err "setting: problem". */
int ctl_config_check(const struct ctl_config *c, const char **key, char *err, size_t cap);

/* ---- the metrics endpoint's address (control/metrics.c) ---- */

/* "ADDR:PORT" (IPv4 dotted quad, port 0..65535) into *sa.  0 or -EINVAL. */
int ctl_metrics_addr(const char *listen, struct sockaddr_in *sa);
/* Whether sa is in 127.0.0.0/8: the metrics stay on this host. */
bool ctl_metrics_loopback(const struct sockaddr_in *sa);

/* ---- ledger -> table (control/sync.c) ---- */

struct ctl_sync;

struct ctl_sync_stats {
	uint64_t nb_records;     /* (fp, list, member) held */
	uint64_t nb_fps;         /* fingerprints with at least one record */
	uint64_t nb_applied_ops; /* table writes since start */
	uint64_t nb_batches;
	uint64_t nb_expired;     /* expiries applied */
	uint64_t nb_resyncs;     /* full passes over the ledger state */
	uint64_t nb_grows;
	uint64_t ledger_pos;     /* sum of the members' log sizes applied */
	uint64_t last_advance_ns;/* CLOCK_REALTIME of the last committed batch */
	bool rebuilt;            /* the table was rebuilt at start */
	bool created;            /* the table file was created at start (it was absent) */
	bool reattached;         /* the table was reattached without rebuild */
};

/*
 * Open the sync: load the mirror of the ledger state, then attach the
 * table at path (reattach when its ledger position matches the ledger,
 * rebuild into a new generation when not, create when absent).  ledger
 * and the table handle stay owned by the sync... the ledger is borrowed
 * (outlives the sync).  Returns NULL with errno and err set; a table file
 * it created is removed again then.
 */
struct ctl_sync *ctl_sync_open(struct ledger *l, const char *table_path, uint64_t capacity,
			       char *err, size_t cap);
void ctl_sync_close(struct ctl_sync *s);

/* Apply entries just appended to member's log (decoded, in order, starting
 * at position first_pos) and commit the table at the new ledger position.
 * 0 or -errno. */
int ctl_sync_apply(struct ctl_sync *s, unsigned member, uint64_t first_pos,
		   const struct ledger_entry *e, unsigned n);
/* A full pass: mirror rebuilt from the ledger state, the table brought to
 * it by a diff (after imports and pulls).  0 or -errno. */
int ctl_sync_resync(struct ctl_sync *s);
/* Expiries due at now_s, at most budget fingerprints.  Returns the number
 * applied or -errno. */
int ctl_sync_expire(struct ctl_sync *s, uint64_t now_s, unsigned budget);
/* Release an old table generation once the readers left it. */
void ctl_sync_reclaim(struct ctl_sync *s);

void ctl_sync_stats(const struct ctl_sync *s, struct ctl_sync_stats *st);
struct rg_table *ctl_sync_table(const struct ctl_sync *s);

/* Records held for fp, at most max into the arrays; returns how many exist. */
struct ctl_sync_rec {
	unsigned list, member, action;
	uint64_t pos, expiry_s;
};
unsigned ctl_sync_find(const struct ctl_sync *s, const struct rg_fp *fp,
		       struct ctl_sync_rec *out, unsigned max);
/* The record member holds for fp on list, however many records fp has;
 * false if none. */
bool ctl_sync_find_own(const struct ctl_sync *s, const struct rg_fp *fp, unsigned list,
		       unsigned member, struct ctl_sync_rec *out);
/* The table value the mirror gives fp at now_s (lists 0 = not listed). */
struct rg_table_val ctl_sync_value(const struct ctl_sync *s, const struct rg_fp *fp,
				   uint64_t now_s);

/* ---- hit events (control/events.c) ---- */

struct ctl_events;

struct ctl_events_stats {
	uint64_t nb_events;       /* events drained */
	uint64_t nb_lookup_events; /* events of lookups that hit (source "lookup") */
	uint64_t nb_lines;        /* JSON lines written (one per list) */
	uint64_t nb_write_errors; /* lines lost to a failing file system */
	uint64_t nb_rotations;
	uint64_t nb_follow_dropped; /* lines a slow follower missed */
	uint64_t bytes_file;      /* size of the current file */
};

struct ctl_events *ctl_events_open(const char *path, uint64_t max_bytes, unsigned keep,
				   unsigned kept_lines, char *err, size_t cap);
void ctl_events_close(struct ctl_events *ev);
/* Where an event comes from when not from the dataplane: a `lookup` over
 * the control socket that hit, by uid (user).  The strings are borrowed. */
struct ctl_event_src {
	const char *name; /* "lookup" */
	unsigned uid;
	const char *user;
};

/* Render one event into JSON lines (one per list bit), write them and keep
 * them for `hits`; src is NULL for a dataplane event; cons names the
 * contributor.  sink (may be NULL) is told of each line, and so is the
 * tap (hit receipts), whatever the source. */
typedef void (*ctl_events_sink)(void *arg, const char *line, size_t len);
void ctl_events_put(struct ctl_events *ev, const struct rg_event *e,
		    const struct ctl_event_src *src, const struct ledger_consortium *cons,
		    ctl_events_sink sink, void *arg);
/* Write an event of the daemon itself (staleness alarm): {"ts", "alarm", ...}. */
void ctl_events_alarm(struct ctl_events *ev, const char *alarm, bool raised, const char *detail,
		      ctl_events_sink sink, void *arg);
void ctl_events_flush(struct ctl_events *ev);
/* Told of each hit line as it is written (the event, the list bit of the
 * line, the line without newline); one tap, fn NULL removes it. */
typedef void (*ctl_events_tap)(void *arg, const struct rg_event *e, unsigned list,
			       const char *line, size_t len);
void ctl_events_set_tap(struct ctl_events *ev, ctl_events_tap fn, void *arg);
/* Up to n recent lines, oldest first, as a JSON array of objects: the
 * newest ones whose text fits in max_bytes (0 = no bound), so that a reply
 * stays within a protocol line.  *truncated (may be NULL) tells whether
 * the byte bound left out lines that n asked for. */
json_t *ctl_events_recent(const struct ctl_events *ev, unsigned n, size_t max_bytes,
			  bool *truncated);
void ctl_events_stats(const struct ctl_events *ev, struct ctl_events_stats *st);
/* Hits per contributing member index (array of LEDGER_MEMBERS_MAX). */
const uint64_t *ctl_events_by_member(const struct ctl_events *ev);
/* Render one event's line for list bit (src as for ctl_events_put; used
 * by tests); returns length. */
int ctl_event_format(const struct rg_event *e, const struct ctl_event_src *src, unsigned list,
		     const struct ledger_consortium *cons, char *out, size_t cap);

/* ---- the daemon (control/daemon.c, control/server.c) ---- */

struct ctl_daemon;

/* Start: open everything named in cfg (copied).  NULL with err set. */
struct ctl_daemon *ctl_daemon_open(const struct ctl_config *cfg, const char *config_path,
				   char *err, size_t cap);
/* Run the loop until ctl_daemon_stop (signal-safe flag).  0 or -errno. */
int ctl_daemon_run(struct ctl_daemon *d);
void ctl_daemon_stop(struct ctl_daemon *d);
void ctl_daemon_close(struct ctl_daemon *d);

#endif
