/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * riskgated internals shared by the loop (daemon.c), the control socket
 * (server.c) and the metrics endpoint (metrics.c).  Loop thread only.
 */
#ifndef CTL_DAEMON_H
#define CTL_DAEMON_H

#include <signal.h>
#include <sys/types.h>

#include "control/ctl.h"
#include "control/receipts.h"

#define CTL_OUT_MAX (4u << 20)     /* reply bytes queued per client before it is dropped */
#define CTL_OUT_PAUSE (256u << 10) /* stop reading a client's requests above this */
#define CTL_FOLLOW_MAX (1u << 20)  /* event bytes queued per follower before lines drop */
#define CTL_TICK_NS 1000000ull     /* loop timer: 1 ms */
#define CTL_DRAIN_BUDGET 4096      /* events per ring per tick */
#define CTL_EXPIRE_BUDGET 65536    /* expiries per second */
#define CTL_IMPORT_STEP_LINES 4096 /* import lines read per loop turn (and one block at most) */

struct MHD_Daemon;
struct ctl_import_job;
struct ctl_syncsrv;
struct ctl_syncnet;

/* What a peer may run (control/protocol.h, "Rights"); each right holds
 * the ones below it. */
enum ctl_right {
	CTL_RIGHT_READ = 0,
	CTL_RIGHT_LOOKUP = 1,
	CTL_RIGHT_ADMIN = 2,
};

enum ctl_refusal {
	CTL_ADMITTED = 0,
	CTL_REFUSED_FULL,    /* no slot left for this peer */
	CTL_REFUSED_PER_UID, /* its uid holds clients_per_uid connections */
};

struct ctl_client {
	int fd;
	/* credentials the kernel fixed at connect (control/peers.c) */
	pid_t pid;	/* for logs only, never for rights */
	uid_t uid;
	gid_t gid;
	gid_t *groups;	/* supplementary groups (SO_PEERGROUPS), owned */
	unsigned nb_groups;
	char user[33];	/* name of uid, looked up when first needed ("" until then) */
	uint64_t active_ns; /* CLOCK_MONOTONIC of the connect or of the last request */
	bool follow;	/* hits --follow: event lines are pushed */
	bool closing;	/* close once the output is flushed */
	bool paused;	/* EPOLLIN off until the output drains */
	bool waiting;	/* a reply is deferred (an import runs): no request is read
			 * until it is sent, so replies stay in request order */
	json_t *later_id; /* id of the request whose reply is deferred (owned) */
	char *in;	/* CTL_LINE_MAX bytes */
	size_t in_len;
	char *out;
	size_t out_len, out_off, out_cap;
	struct ctl_client *next;
};

struct ctl_rates {
	uint64_t t_ns;
	uint64_t rx_pkts, messages, lookups, hits, events;
};

struct ctl_daemon {
	struct ctl_config cfg;
	char config_path[CTL_PATH_MAX]; /* "" when started without --config */
	int ep;
	int listen_fd;
	int timer_fd;
	int signal_fd;
	int mhd_fd;
	struct MHD_Daemon *mhd;
	struct ctl_syncsrv *syncsrv; /* the sync service, NULL when off (syncsrv.c) */
	struct ctl_syncnet *syncnet; /* fetching from peers, NULL when none (syncpeer.c) */
	struct ledger *l;
	struct ctl_sync *sync;
	struct ctl_events *ev;
	struct ctl_receipts *receipts; /* hit receipts (control/receipts.c) */
	struct rg_segment *seg;
	dev_t seg_dev;
	ino_t seg_ino;
	gid_t admin_gid, lookup_gid;
	bool admin_gid_ok, lookup_gid_ok;
	struct ctl_lookup_bucket *buckets; /* lookup token buckets by uid (peers.c) */
	unsigned nb_buckets, cap_buckets;
	struct ctl_made *made;	/* what this start created, NULL once started (daemon.c) */
	bool stale;
	bool stop;
	struct rg_seg_policy policy; /* configured, changed by policy-set */
	struct ctl_client *clients;
	unsigned nb_clients;
	struct ctl_import_job *import;	/* the running import, NULL if none (server.c) */
	uint64_t start_ns;
	uint64_t ticks;
	uint64_t last_pull_ns;
	struct ctl_rates prev, rate; /* per-second counters: previous snapshot, rates */
	/* counters */
	uint64_t nb_requests, nb_request_errors, nb_denied, nb_clients_refused;
	uint64_t nb_refused_full, nb_refused_per_uid, nb_closed_idle;
	uint64_t nb_clients_dropped, nb_follow_dropped, nb_policy_writes;
	uint64_t nb_seg_attaches, nb_sync_errors;
	uint64_t nb_lookups, nb_lookup_hits, nb_lookups_denied, nb_lookups_limited;
	uint64_t refusal_log_ns, nb_refusals_quiet; /* refusals logged once a second */
	/* member sync: logs frozen by a fork (their evidence kept), until an
	 * operator clears them (fork-clear) */
	bool frozen[LEDGER_MEMBERS_MAX];
	bool fork_kept[LEDGER_MEMBERS_MAX]; /* fork evidence of that member is held */
	uint64_t nb_forks, nb_forks_told;   /* detected here; learnt from peers */
	/* witnessing (witness.c): peers' cosignatures of the own latest
	 * checkpoint, and counters */
	uint64_t cosig_size[LEDGER_MEMBERS_MAX];
	char cosig_line[LEDGER_MEMBERS_MAX][200];
	uint64_t nb_witness_requests, nb_witness_cosigned, nb_witness_conflicts;
	uint64_t nb_witness_inconsistent;
};

/* server.c */
int ctl_server_open(struct ctl_daemon *d, char *err, size_t cap);
void ctl_server_close(struct ctl_daemon *d);
void ctl_server_accept(struct ctl_daemon *d);
void ctl_server_event(struct ctl_daemon *d, struct ctl_client *c, uint32_t events);
void ctl_server_follow_line(void *arg, const char *line, size_t len);
/* Once a second: close the peers outside the admin group that sent no
 * request for client_idle_sec (followers and deferred replies excepted). */
void ctl_server_idle(struct ctl_daemon *d);
/* Handle one request line as peer c would (c may be a stack client for
 * tests); the reply is appended to c's output.  */
void ctl_server_request(struct ctl_daemon *d, struct ctl_client *c, const char *line, size_t len);
/* The table brought to the ledger by a full pass (after a pull, or an
 * import block that missed it).  0, or CTL_ERR_FAILED with why set. */
int ctl_server_resync(struct ctl_daemon *d, char *why, size_t cap);
/* Whether this member is not in the membership yet (a joining daemon),
 * with why saying so: such a member appends nothing. */
bool ctl_joining(struct ctl_daemon *d, char *why, size_t cap);
/* Queue n bytes of output for c.  0 or -ENOMEM. */
int ctl_client_append(struct ctl_client *c, const char *s, size_t n);
/* Write what is queued; false when the client is gone (freed). */
bool ctl_client_flush(struct ctl_daemon *d, struct ctl_client *c);
/* The deferred reply (out may be NULL): queued, then the requests c sent
 * meanwhile are run.  May free c. */
void ctl_client_reply_later(struct ctl_daemon *d, struct ctl_client *c, const char *out,
			    size_t out_len);

/* A command handler: 0 with *result set, an enum ctl_err with why set, or
 * CTL_REPLY_LATER: the reply comes later, the request's id is kept in the
 * client, which reads no more requests until ctl_client_reply_later. */
typedef int (*ctl_cmd_fn)(struct ctl_daemon *d, struct ctl_client *c, json_t *args,
			  json_t **result, char *why, size_t cap);
#define CTL_REPLY_LATER (-1)

/* import.c */
/* The `import` command: starts the job, CTL_REPLY_LATER. */
int ctl_cmd_import(struct ctl_daemon *d, struct ctl_client *c, json_t *args, json_t **result,
		   char *why, size_t cap);
/* Loop hook: one bounded step of the running import (at most
 * CTL_IMPORT_STEP_LINES lines and one block), its progress line, and its
 * reply when it ends.  Call once per loop turn while d->import is set. */
void ctl_import_step(struct ctl_daemon *d);
/* The `status` view of the running import, or null. */
json_t *ctl_import_status_json(struct ctl_daemon *d);
/* c is going: the running import forgets its requester (it goes on). */
void ctl_import_client_gone(struct ctl_daemon *d, struct ctl_client *c);
/* riskgated stops: the running import ends after its step, its
 * requester gets an error reply. */
void ctl_import_stop(struct ctl_daemon *d);

/* peers.c */
/* The credentials fd's peer had at connect into c (pid, uid, gid,
 * groups).  0 or -errno. */
int ctl_peer_read(int fd, struct ctl_client *c);
enum ctl_right ctl_peer_right(const struct ctl_daemon *d, const struct ctl_client *c);
/* Resolve the admin and lookup group names (start and reload). */
void ctl_peers_groups(struct ctl_daemon *d);
/* Whether c, not yet counted in d->nb_clients, may take a slot; why says
 * why not. */
enum ctl_refusal ctl_peer_admit(const struct ctl_daemon *d, const struct ctl_client *c,
				char *why, size_t cap);
/* c's user name (c->user, looked up once). */
const char *ctl_peer_user(struct ctl_client *c);
/* A token of uid's lookup bucket: true, or false with *wait_s until the
 * next one. */
bool ctl_lookup_take(struct ctl_daemon *d, uid_t uid, double *wait_s);
void ctl_peers_close(struct ctl_daemon *d);

/* daemon.c */
/* The policy in force: configured, with the staleness fallback applied. */
void ctl_daemon_effective_policy(const struct ctl_daemon *d, struct rg_seg_policy *p);
/* Write the effective policy into the segment now (if attached). */
void ctl_daemon_push_policy(struct ctl_daemon *d);
uint64_t ctl_now_ns(void);
uint64_t ctl_mono_ns(void);
uint64_t ctl_ledger_pos(struct ctl_daemon *d);
/* During start-up: path was created by this start (a directory if dir),
 * to be removed should the start fail.  No-op once started. */
void ctl_daemon_made(struct ctl_daemon *d, const char *path, bool dir);
/* The missing directories above file, created with mode (and recorded
 * by ctl_daemon_made).  0, or -errno with err "cannot create directory
 * D: reason". */
int ctl_daemon_mkdirs(struct ctl_daemon *d, const char *file, mode_t mode, char *err, size_t cap);
/* Apply a (re)loaded configuration; returns a JSON note of what needs a restart. */
json_t *ctl_daemon_apply_config(struct ctl_daemon *d, const struct ctl_config *n);

/* A member signed two things that contradict each other (evidence kept by
 * the ledger): its log stops advancing here, the fork alarm is raised
 * (event, log, metric, riskgate-ctl forks).  Idempotent per member. */
void ctl_daemon_fork(struct ctl_daemon *d, unsigned member, const char *detail);

/* metrics.c */
int ctl_metrics_open(struct ctl_daemon *d, char *err, size_t cap);
void ctl_metrics_close(struct ctl_daemon *d);
void ctl_metrics_run(struct ctl_daemon *d);
/* Whether the configured endpoint is beyond the loopback (metrics_public). */
bool ctl_metrics_beyond_host(const struct ctl_daemon *d);
/* The Prometheus text (malloc'd); also used by tests. */
char *ctl_metrics_text(struct ctl_daemon *d, size_t *len);

#endif
