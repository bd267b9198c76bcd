/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The riskgated loop: one epoll set holding the control socket and its
 * clients, a 1 ms timerfd, a signalfd and the metrics server's epoll fd.
 *
 * Each tick drains at most CTL_DRAIN_BUDGET events per ring.  Once a
 * second: the segment is (re)attached and its policy checked against the
 * one in force, expiries are applied (at most CTL_EXPIRE_BUDGET), the
 * staleness alarm is evaluated, rates are computed and an old table
 * generation is reclaimed.  Ledger writes happen in request handlers and
 * reach the table before the reply (control/sync.c).  An import is the
 * exception: it runs as a job, one bounded step per loop turn after the
 * ready descriptors are served, each appended block reaching the table
 * before the next step (control/server.c).  Hit receipts are queued by
 * the events tap and written from the tick once their batch is due
 * (control/receipts.c).
 *
 * Start-up creates what it needs that is missing (the table, the segment,
 * the socket and its directory, the event file and its directories) and
 * records each path it made; a start that fails removes those again, and
 * nothing that was there before it began.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "control/daemon.h"
#include "control/sync_net.h"

#define EP_LISTEN ((void *)1)
#define EP_TIMER ((void *)2)
#define EP_SIGNAL ((void *)3)
#define EP_MHD ((void *)4)
#define EP_SYNCSRV ((void *)5)
#define CTL_MADE_MAX 16 /* paths one start may create */

/* What this start created, in order (removed in reverse if it fails). */
struct ctl_made {
	unsigned nb;
	struct {
		char path[CTL_PATH_MAX];
		bool dir;
	} e[CTL_MADE_MAX];
};

uint64_t ctl_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t ctl_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void ctl_daemon_made(struct ctl_daemon *d, const char *path, bool dir)
{
	struct ctl_made *m = d->made;

	if (m == NULL)
		return;
	if (m->nb == CTL_MADE_MAX) {
		ctl_log(CTL_LOG_WARN, "%s: created, but not kept for removal should the start fail",
			path);
		return;
	}
	snprintf(m->e[m->nb].path, sizeof(m->e[m->nb].path), "%s", path);
	m->e[m->nb].dir = dir;
	m->nb++;
}

/* Undo a failed start: what it made, newest first.  A directory goes only
 * if empty, so nothing put there by others goes with it. */
static void made_remove(struct ctl_made *m)
{
	while (m->nb > 0) {
		const char *p = m->e[--m->nb].path;
		int rc = m->e[m->nb].dir ? rmdir(p) : unlink(p);

		if (rc != 0 && errno != ENOENT)
			ctl_log(CTL_LOG_WARN, "%s: created by this start, not removed: %s", p,
				strerror(errno));
		else if (rc == 0)
			ctl_log(CTL_LOG_INFO, "%s: removed (created by this start)", p);
	}
}

int ctl_daemon_mkdirs(struct ctl_daemon *d, const char *file, mode_t mode, char *err, size_t cap)
{
	char dir[CTL_PATH_MAX];
	size_t len;

	snprintf(dir, sizeof(dir), "%s", file);
	len = strlen(dir);
	while (len > 0 && dir[len - 1] != '/')
		len--;
	while (len > 1 && dir[len - 1] == '/')
		len--;
	dir[len] = '\0';
	/* each missing component from the top down: mkdir -p, each one recorded */
	for (size_t i = 1; i <= len; i++) {
		struct stat st;

		if (i < len && dir[i] != '/')
			continue;
		dir[i] = '\0';
		if (stat(dir, &st) != 0) {
			if (mkdir(dir, mode) != 0 && errno != EEXIST) {
				int e = errno;

				snprintf(err, cap, "cannot create directory %s: %s", dir, strerror(e));
				return -e;
			}
			ctl_daemon_made(d, dir, true);
		}
		if (i < len)
			dir[i] = '/';
	}
	return 0;
}

/* The event file, and the directories it needs (0750: hit lines are for
 * the daemon's group) when the start creates them. */
static int events_prepare(struct ctl_daemon *d, bool *made_file, char *err, size_t cap)
{
	const char *p = d->cfg.events_path;
	struct stat st;
	char why[CTL_ERR_MAX];
	int rc;

	*made_file = false;
	if (p[0] == '\0' || strcmp(p, "-") == 0)
		return 0;
	rc = ctl_daemon_mkdirs(d, p, 0750, why, sizeof(why));
	if (rc != 0) {
		snprintf(err, cap, "events %s: %s (set events = \"...\" or --events)", p, why);
		return rc;
	}
	*made_file = lstat(p, &st) != 0 && errno == ENOENT;
	return 0;
}

uint64_t ctl_ledger_pos(struct ctl_daemon *d)
{
	const struct ledger_consortium *c = ledger_consortium(d->l);
	uint64_t pos = 0;

	for (unsigned m = 0; m < c->nb_members; m++) {
		struct ledger_head h;

		if (ledger_head_get(d->l, m, &h) == 0)
			pos += h.size;
	}
	return pos;
}

void ctl_daemon_effective_policy(const struct ctl_daemon *d, struct rg_seg_policy *p)
{
	*p = d->policy;
	if (d->stale && d->cfg.stale_fallback)
		for (unsigned l = 0; l < RG_LIST_MAX; l++)
			if (p->list_action[l] == RG_ACTION_DECLINE)
				p->list_action[l] = RG_ACTION_MONITOR;
}

void ctl_daemon_push_policy(struct ctl_daemon *d)
{
	struct rg_seg_policy want, have;
	struct rg_seg_policy *shared;

	if (d->seg == NULL)
		return;
	ctl_daemon_effective_policy(d, &want);
	shared = rg_segment_policy(d->seg);
	if (rg_seg_policy_read(shared, &have) && have.version != 0 &&
	    memcmp(have.list_action, want.list_action, sizeof(want.list_action)) == 0 &&
	    have.fail_mode == want.fail_mode &&
	    have.exempt_mti_classes == want.exempt_mti_classes)
		return;
	rg_seg_policy_write(shared, &want);
	d->nb_policy_writes++;
}

/* Attach the segment, or reattach when the dataplane replaced the file;
 * create it when absent so the policy is in place before the dataplane. */
static void segment_check(struct ctl_daemon *d)
{
	char err[CTL_ERR_MAX];
	struct stat st;

	if (d->seg != NULL) {
		if (stat(d->cfg.segment_path, &st) == 0 && st.st_dev == d->seg_dev &&
		    st.st_ino == d->seg_ino)
			goto out_push;
		ctl_log(CTL_LOG_INFO, "segment %s: replaced, reattaching", d->cfg.segment_path);
		rg_segment_close(d->seg);
		d->seg = NULL;
	}
	d->seg = rg_segment_attach(d->cfg.segment_path, err, sizeof(err));
	if (d->seg == NULL && errno == ENOENT) {
		struct rg_seg_policy p;
		struct rg_segment_opts o = {
			.path = d->cfg.segment_path,
			.nb_lcores = d->cfg.segment_lcores,
			.table_path = d->cfg.table_path,
			.policy = &p,
			.quiet = true,
			.control_plane = true,
		};

		ctl_daemon_effective_policy(d, &p);
		d->seg = rg_segment_create(&o, err, sizeof(err));
		if (d->seg != NULL) {
			ctl_log(CTL_LOG_INFO, "segment %s: created for %u lcore slots",
				d->cfg.segment_path, d->cfg.segment_lcores);
			ctl_daemon_made(d, d->cfg.segment_path, false);
		}
	}
	if (d->seg == NULL) {
		if (d->nb_seg_attaches == 0 && d->ticks % 60000 == 0)
			ctl_log(CTL_LOG_WARN, "%s", err);
		return;
	}
	if (stat(d->cfg.segment_path, &st) == 0) {
		d->seg_dev = st.st_dev;
		d->seg_ino = st.st_ino;
	}
	d->nb_seg_attaches++;
	if (rg_segment_header(d->seg)->dp_pid == 0)
		ctl_log(CTL_LOG_INFO, "segment %s: attached (no dataplane yet)",
			d->cfg.segment_path);
	else
		ctl_log(CTL_LOG_INFO, "segment %s: attached (dataplane pid %llu, generation %llu)",
			d->cfg.segment_path, (unsigned long long)rg_segment_header(d->seg)->dp_pid,
			(unsigned long long)rg_segment_header(d->seg)->generation);
out_push:
	ctl_daemon_push_policy(d);
}

static void drain_events(struct ctl_daemon *d)
{
	const struct rg_seg_header *h;
	struct rg_event e;
	bool any = false;

	if (d->seg == NULL)
		return;
	h = rg_segment_header(d->seg);
	for (unsigned i = 0; i < h->nb_lcores && i < RG_SEG_LCORES_MAX; i++) {
		struct rg_event_ring *r = rg_segment_ring(d->seg, i);

		for (unsigned n = 0; n < CTL_DRAIN_BUDGET && rg_event_ring_pop(r, &e); n++) {
			ctl_events_put(d->ev, &e, NULL, ledger_consortium(d->l), ctl_server_follow_line,
				       d);
			any = true;
		}
	}
	if (any)
		ctl_events_flush(d->ev);
}

static void staleness_check(struct ctl_daemon *d, uint64_t now_ns)
{
	struct ctl_sync_stats st;
	uint64_t last, age_s = 0;
	bool stale;
	char detail[160];

	if (d->cfg.stale_after_sec == 0) {
		stale = false;
		detail[0] = '\0';
	} else if (ctl_syncnet_staleness(d->syncnet, now_ns, &age_s, detail, sizeof(detail)) ==
		   0) {
		/* with peers: stale means behind what they hold, or cut off */
		stale = age_s >= d->cfg.stale_after_sec;
	} else {
		ctl_sync_stats(d->sync, &st);
		last = ctl_receipts_list_advance_ns(d->receipts, st.last_advance_ns);
		last = last > d->last_pull_ns ? last : d->last_pull_ns;
		age_s = now_ns > last ? (now_ns - last) / 1000000000ull : 0;
		stale = age_s >= d->cfg.stale_after_sec;
		snprintf(detail, sizeof(detail), "table not advanced for %llu s (limit %u s)",
			 (unsigned long long)age_s, d->cfg.stale_after_sec);
	}
	if (stale == d->stale)
		return;
	d->stale = stale;
	ctl_log(stale ? CTL_LOG_WARN : CTL_LOG_INFO, "staleness alarm %s: %s",
		stale ? "raised" : "cleared", detail);
	ctl_events_alarm(d->ev, "table_stale", stale, detail, ctl_server_follow_line, d);
	ctl_events_flush(d->ev);
	ctl_daemon_push_policy(d);
}

void ctl_daemon_fork(struct ctl_daemon *d, unsigned member, const char *detail)
{
	const struct ledger_consortium *cs = ledger_consortium(d->l);
	char what[LEDGER_ERR_MAX + 96];

	if (member >= cs->nb_members || d->frozen[member])
		return;
	d->fork_kept[member] = true;
	d->frozen[member] = true;
	d->nb_forks++;
	snprintf(what, sizeof(what), "member %s signed a fork: its log is frozen here (%s)",
		 cs->members[member].name, detail);
	rg_mask_text(what);
	ctl_log(CTL_LOG_ERR, "FORK: %s", what);
	ctl_events_alarm(d->ev, "fork", true, what, ctl_server_follow_line, d);
	ctl_events_flush(d->ev);
}

/* At start: logs whose evidence shows a fork stay frozen. */
static int freeze_forked(void *arg, const struct ledger_evidence *ev)
{
	struct ctl_daemon *d = arg;

	if (ev->member >= 0 && ev->problem != LEDGER_EVIDENCE_BEYOND && !d->frozen[ev->member]) {
		d->frozen[ev->member] = true;
		d->fork_kept[ev->member] = ev->problem == LEDGER_EVIDENCE_FORK;
		d->nb_forks++;
		ctl_log(CTL_LOG_WARN, "log of %s frozen: fork evidence kept (riskgate-ctl forks)",
			ledger_consortium(d->l)->members[ev->member].name);
	}
	return 0;
}

static void rates_update(struct ctl_daemon *d, uint64_t now_ns)
{
	struct ctl_rates cur = { .t_ns = now_ns };
	double dt;

	if (d->seg != NULL) {
		cur.rx_pkts = rg_segment_sum(d->seg, RG_CTR_RX_PKTS);
		cur.messages = rg_segment_sum(d->seg, RG_CTR_MESSAGES);
		cur.lookups = rg_segment_sum(d->seg, RG_CTR_LOOKUPS);
		cur.hits = rg_segment_sum(d->seg, RG_CTR_HITS);
		cur.events = rg_segment_sum(d->seg, RG_CTR_EVENTS);
	}
	dt = d->prev.t_ns ? (double)(now_ns - d->prev.t_ns) / 1e9 : 0;
	if (dt > 0) {
#define RATE(f) d->rate.f = cur.f >= d->prev.f ? (uint64_t)((double)(cur.f - d->prev.f) / dt) : 0
		RATE(rx_pkts);
		RATE(messages);
		RATE(lookups);
		RATE(hits);
		RATE(events);
#undef RATE
	}
	d->prev = cur;
}

static void every_second(struct ctl_daemon *d)
{
	uint64_t now = ctl_now_ns();
	int rc;

	segment_check(d);
	rc = ctl_sync_expire(d->sync, now / 1000000000ull, CTL_EXPIRE_BUDGET);
	if (rc < 0) {
		d->nb_sync_errors++;
		ctl_log(CTL_LOG_ERR, "table %s: expiry: %s", d->cfg.table_path, strerror(-rc));
	} else if (rc > 0) {
		ctl_log(CTL_LOG_DEBUG, "table: %d expiries applied", rc);
	}
	staleness_check(d, now);
	rates_update(d, now);
	ctl_server_idle(d);
	ctl_sync_reclaim(d->sync);
	ctl_metrics_run(d);
}

/* The ledger's hook: what is written goes out on the push feeds. */
static void on_ledger_block(void *arg, unsigned member, const struct ledger_block *b,
			    const uint8_t *const *entries, const uint16_t *lens)
{
	struct ctl_daemon *d = arg;

	ctl_syncsrv_block(d->syncsrv, member, b, entries, lens);
}

static void on_ledger_checkpoint(void *arg, unsigned member, const struct ledger_checkpoint *c)
{
	struct ctl_daemon *d = arg;

	ctl_syncsrv_checkpoint(d->syncsrv, member, c);
	if ((int)member == ledger_self(d->l))
		ctl_syncnet_witness(d->syncnet, c); /* after the push: never delays it */
}

static int ep_add(int ep, int fd, uint32_t events, void *ptr)
{
	struct epoll_event e = { .events = events, .data.ptr = ptr };

	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) < 0 ? -errno : 0;
}

json_t *ctl_daemon_apply_config(struct ctl_daemon *d, const struct ctl_config *n)
{
	json_t *restart = json_array();
	char err[CTL_ERR_MAX];
	bool receipts_kept = false;

#define NEEDS_RESTART(f, name)                                        \
	do {                                                          \
		if (strcmp(d->cfg.f, n->f) != 0)                      \
			json_array_append_new(restart, json_string(name)); \
	} while (0)
	NEEDS_RESTART(ledger_dir, "ledger");
	NEEDS_RESTART(socket_path, "socket");
	NEEDS_RESTART(socket_group, "socket_group");
	NEEDS_RESTART(table_path, "table");
	NEEDS_RESTART(metrics_listen, "metrics");
	NEEDS_RESTART(sync_listen, "sync_listen");
#undef NEEDS_RESTART
	{
		bool same = d->cfg.nb_peers == n->nb_peers;

		for (unsigned i = 0; same && i < n->nb_peers; i++)
			same = strcmp(d->cfg.peers[i].member, n->peers[i].member) == 0 &&
			       strcmp(d->cfg.peers[i].url, n->peers[i].url) == 0;
		if (!same)
			json_array_append_new(restart, json_string("peers"));
	}
	if (d->cfg.metrics_public != n->metrics_public)
		json_array_append_new(restart, json_string("metrics_public"));
	if (strcmp(d->cfg.events_path, n->events_path) != 0 ||
	    d->cfg.events_max_bytes != n->events_max_bytes || d->cfg.events_keep != n->events_keep ||
	    d->cfg.hits_kept != n->hits_kept) {
		struct ctl_events *ev = NULL;

		if (n->events_path[0] && strcmp(n->events_path, "-") != 0 &&
		    ctl_daemon_mkdirs(d, n->events_path, 0750, err, sizeof(err)) != 0)
			ctl_log(CTL_LOG_ERR, "reload: events %s: %s", n->events_path, err);
		else
			ev = ctl_events_open(n->events_path, n->events_max_bytes, n->events_keep,
					     n->hits_kept, err, sizeof(err));

		if (ev != NULL) {
			ctl_events_close(d->ev);
			d->ev = ev;
			ctl_events_set_tap(d->ev, ctl_receipts_line, d->receipts);
		} else {
			ctl_log(CTL_LOG_ERR, "reload: %s (events file kept)", err);
			json_array_append_new(restart, json_string("events"));
		}
	}
	if (strcmp(d->cfg.segment_path, n->segment_path) != 0 && d->seg != NULL) {
		rg_segment_close(d->seg);
		d->seg = NULL;
	}
	if (ctl_receipts_configure(d->receipts, n, err, sizeof(err)) != 0) {
		ctl_log(CTL_LOG_ERR, "reload: %s (receipts policy kept)", err);
		json_array_append_new(restart, json_string("receipts"));
		receipts_kept = true;
	}
	{
		/* the untouched settings keep their running values */
		struct ctl_config keep = d->cfg;

		d->cfg = *n;
		memcpy(d->cfg.ledger_dir, keep.ledger_dir, sizeof(keep.ledger_dir));
		memcpy(d->cfg.socket_path, keep.socket_path, sizeof(keep.socket_path));
		memcpy(d->cfg.socket_group, keep.socket_group, sizeof(keep.socket_group));
		memcpy(d->cfg.table_path, keep.table_path, sizeof(keep.table_path));
		memcpy(d->cfg.metrics_listen, keep.metrics_listen, sizeof(keep.metrics_listen));
		memcpy(d->cfg.sync_listen, keep.sync_listen, sizeof(keep.sync_listen));
		memcpy(d->cfg.peers, keep.peers, sizeof(keep.peers));
		d->cfg.nb_peers = keep.nb_peers;
		d->cfg.metrics_public = keep.metrics_public;
		if (receipts_kept) {
			d->cfg.receipts = keep.receipts;
			d->cfg.receipts_batch_ms = keep.receipts_batch_ms;
			d->cfg.receipts_max_per_s = keep.receipts_max_per_s;
			d->cfg.receipts_batch_max = keep.receipts_batch_max;
		}
	}
	d->policy = n->policy;
	ctl_log_set_level(n->log_level);
	ctl_peers_groups(d);
	segment_check(d);
	return restart;
}

struct ctl_daemon *ctl_daemon_open(const struct ctl_config *cfg, const char *config_path,
				   char *err, size_t cap)
{
	struct ctl_daemon *d = calloc(1, sizeof(*d));
	struct ctl_made *made = calloc(1, sizeof(*made));
	struct ctl_sync_stats sst;
	bool events_made;
	struct itimerspec its = {
		.it_interval = { .tv_nsec = CTL_TICK_NS },
		.it_value = { .tv_nsec = CTL_TICK_NS },
	};
	sigset_t ss;
	int rc;

	if (d == NULL || made == NULL) {
		free(d);
		free(made);
		snprintf(err, cap, "%s", strerror(ENOMEM));
		return NULL;
	}
	d->made = made;
	d->cfg = *cfg;
	d->policy = cfg->policy;
	d->listen_fd = d->timer_fd = d->signal_fd = d->mhd_fd = d->ep = -1;
	d->start_ns = ctl_now_ns();
	if (config_path != NULL)
		snprintf(d->config_path, sizeof(d->config_path), "%s", config_path);
	ctl_log_set_level(cfg->log_level);
	/* Blocked before the ledger opens: RocksDB's threads inherit the mask,
	 * so a SIGTERM reaches the signalfd, not a thread that dies of it. */
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGHUP);
	sigprocmask(SIG_BLOCK, &ss, NULL);

	/* with peers, a member not in the membership yet may start: it joins
	 * once the change that admits it arrives */
	d->l = ledger_open(cfg->ledger_dir,
			   LEDGER_OPEN_WRITE | (cfg->nb_peers > 0 ? LEDGER_OPEN_JOIN : 0), err, cap);
	if (d->l == NULL)
		goto out_free;
	if (ledger_self(d->l) < 0 && cfg->nb_peers == 0) {
		snprintf(err, cap, "ledger %s: this member is not in the consortium's membership",
			 cfg->ledger_dir);
		goto out_close_ledger;
	}
	if (ledger_self(d->l) < 0)
		ctl_log(CTL_LOG_WARN, "ledger %s: this member is not in the membership yet: "
			"joining (it appends nothing until a membership change lists it)",
			cfg->ledger_dir);
	d->sync = ctl_sync_open(d->l, cfg->table_path, cfg->table_capacity, err, cap);
	if (d->sync == NULL)
		goto out_close_ledger;
	ctl_sync_stats(d->sync, &sst);
	if (sst.created) {
		/* a fallback makes table_path a link to the data file elsewhere */
		const char *data = rg_table_path(ctl_sync_table(d->sync));

		if (strcmp(data, cfg->table_path) != 0)
			ctl_daemon_made(d, data, false);
		ctl_daemon_made(d, cfg->table_path, false);
	}
	if (events_prepare(d, &events_made, err, cap) != 0)
		goto out_close_sync;
	d->ev = ctl_events_open(cfg->events_path, cfg->events_max_bytes, cfg->events_keep,
				cfg->hits_kept, err, cap);
	if (d->ev == NULL)
		goto out_close_sync;
	if (events_made)
		ctl_daemon_made(d, cfg->events_path, false);
	d->receipts = ctl_receipts_open(d->l, d->sync, cfg, err, cap);
	if (d->receipts == NULL)
		goto out_close_events;
	ctl_events_set_tap(d->ev, ctl_receipts_line, d->receipts);
	d->ep = epoll_create1(EPOLL_CLOEXEC);
	d->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	signal(SIGPIPE, SIG_IGN);
	d->signal_fd = signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->ep < 0 || d->timer_fd < 0 || d->signal_fd < 0 ||
	    timerfd_settime(d->timer_fd, 0, &its, NULL) < 0 ||
	    ep_add(d->ep, d->timer_fd, EPOLLIN, EP_TIMER) < 0 ||
	    ep_add(d->ep, d->signal_fd, EPOLLIN, EP_SIGNAL) < 0) {
		snprintf(err, cap, "event loop: %s", strerror(errno));
		goto out_close_fds;
	}
	rc = ctl_server_open(d, err, cap);
	if (rc != 0)
		goto out_close_fds;
	if (ep_add(d->ep, d->listen_fd, EPOLLIN, EP_LISTEN) < 0) {
		snprintf(err, cap, "event loop: %s", strerror(errno));
		goto out_close_server;
	}
	rc = ctl_metrics_open(d, err, cap);
	if (rc != 0)
		goto out_close_server;
	if (d->mhd_fd >= 0 && ep_add(d->ep, d->mhd_fd, EPOLLIN, EP_MHD) < 0) {
		snprintf(err, cap, "event loop: %s", strerror(errno));
		goto out_close_metrics;
	}
	ledger_evidence_iterate(d->l, freeze_forked, d);
	rc = ctl_syncsrv_open(d, err, cap);
	if (rc != 0)
		goto out_close_metrics;
	if (d->syncsrv != NULL &&
	    ep_add(d->ep, ctl_syncsrv_fd(d->syncsrv), EPOLLIN, EP_SYNCSRV) < 0) {
		snprintf(err, cap, "event loop: %s", strerror(errno));
		goto out_close_syncsrv;
	}
	rc = ctl_syncnet_open(d, err, cap);
	if (rc != 0)
		goto out_close_syncsrv;
	if (d->syncsrv != NULL || d->syncnet != NULL) {
		struct ledger_hook hook = { on_ledger_block, on_ledger_checkpoint, d };

		ledger_set_hook(d->l, &hook);
	}
	segment_check(d);
	/* started: from now on nothing is undone */
	free(d->made);
	d->made = NULL;
	return d;

out_close_syncsrv:
	ledger_set_hook(d->l, NULL);
	ctl_syncsrv_close(d->syncsrv);
	d->syncsrv = NULL;
out_close_metrics:
	ctl_metrics_close(d);
out_close_server:
	ctl_server_close(d);
out_close_fds:
	if (d->signal_fd >= 0)
		close(d->signal_fd);
	if (d->timer_fd >= 0)
		close(d->timer_fd);
	if (d->ep >= 0)
		close(d->ep);
	ctl_receipts_close(d->receipts);
out_close_events:
	ctl_events_close(d->ev);
out_close_sync:
	ctl_sync_close(d->sync);
out_close_ledger:
	ledger_close(d->l);
out_free:
	made_remove(d->made);
	ctl_peers_close(d);
	free(d->made);
	free(d);
	return NULL;
}

static void handle_signal(struct ctl_daemon *d)
{
	struct signalfd_siginfo si;

	while (read(d->signal_fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP && d->config_path[0]) {
			struct ctl_config n = d->cfg;
			char err[CTL_ERR_MAX];

			if (ctl_config_load(d->config_path, &n, err, sizeof(err)) != 0) {
				ctl_log(CTL_LOG_ERR, "reload refused, running configuration kept: %s",
					err);
				continue;
			}
			json_decref(ctl_daemon_apply_config(d, &n));
			ctl_log(CTL_LOG_INFO, "configuration %s reloaded", d->config_path);
		} else if (si.ssi_signo != SIGHUP) {
			d->stop = true;
		}
	}
}

int ctl_daemon_run(struct ctl_daemon *d)
{
	struct epoll_event evs[64];

	ctl_log(CTL_LOG_INFO, "serving %s (ledger %s, table %s, segment %s)", d->cfg.socket_path,
		d->cfg.ledger_dir, d->cfg.table_path, d->cfg.segment_path);
	while (!d->stop) {
		/* a running import is stepped once per turn: do not sleep then */
		int n = epoll_wait(d->ep, evs, 64, d->import != NULL ? 0 : 1000);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			ctl_log(CTL_LOG_ERR, "epoll_wait: %s", strerror(errno));
			return -errno;
		}
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;

			if (p == EP_TIMER) {
				uint64_t exp;

				if (read(d->timer_fd, &exp, sizeof(exp)) != sizeof(exp))
					continue;
				drain_events(d);
				ctl_receipts_tick(d->receipts);
				ctl_syncsrv_tick(d->syncsrv, ctl_now_ns());
				ctl_syncnet_tick(d->syncnet, ctl_now_ns());
				if (d->ticks / 1000 != (d->ticks + exp) / 1000)
					every_second(d);
				d->ticks += exp;
			} else if (p == EP_SIGNAL) {
				handle_signal(d);
			} else if (p == EP_LISTEN) {
				ctl_server_accept(d);
			} else if (p == EP_MHD) {
				ctl_metrics_run(d);
			} else if (p == EP_SYNCSRV) {
				ctl_syncsrv_run(d->syncsrv, ctl_now_ns());
			} else if (ctl_syncnet_owns(d->syncnet, p)) {
				ctl_syncnet_event(d->syncnet, p, evs[i].events);
			} else {
				ctl_server_event(d, p, evs[i].events);
			}
		}
		if (d->import != NULL)
			ctl_import_step(d);
	}
	return 0;
}

void ctl_daemon_stop(struct ctl_daemon *d)
{
	d->stop = true;
}

void ctl_daemon_close(struct ctl_daemon *d)
{
	if (d == NULL)
		return;
	drain_events(d);
	/* the queued hit lines become receipts before the ledger closes */
	ctl_events_set_tap(d->ev, NULL, NULL);
	ctl_receipts_close(d->receipts);
	ctl_syncnet_close(d);
	ledger_set_hook(d->l, NULL);
	ctl_syncsrv_close(d->syncsrv);
	ctl_metrics_close(d);
	ctl_server_close(d);
	close(d->signal_fd);
	close(d->timer_fd);
	close(d->ep);
	ctl_events_close(d->ev);
	rg_segment_close(d->seg);
	ctl_sync_close(d->sync);
	ledger_close(d->l);
	ctl_peers_close(d);
	free(d);
}
