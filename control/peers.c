/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Who is on the control socket, and what each peer may do.
 *
 * A peer's credentials are the kernel's, fixed when it connected:
 * SO_PEERCRED (pid, uid, gid) and SO_PEERGROUPS (supplementary groups).
 * Nothing is read from /proc/<pid>: the process behind a pid at accept, or
 * later, need not be the one that connected (it may have exited and the
 * pid been reused, or changed its groups).  Rights are worked out from
 * those credentials at each request, so a reload that renames the admin
 * or the lookup group applies to connections already open.
 *
 * Slots: clients_max connections at once, of which the last
 * clients_admin_reserved only root and the admin group may take; every
 * uid but root holds at most clients_per_uid.  Lookups: a token bucket per
 * uid (root excepted: it can read the ledger and the key anyway),
 * lookup_rate_per_min tokens a minute, at most lookup_burst, kept across
 * that uid's connections so that reconnecting earns nothing.
 *
 * Loop thread only.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/ident.h"
#include "control/daemon.h"

#define CTL_PEER_GROUPS_FIRST 64    /* groups asked for before the kernel says how many */
#define CTL_LOOKUP_BUCKETS_MAX 4096 /* uids with a lookup bucket; the stalest goes */

struct ctl_lookup_bucket {
	uid_t uid;
	double tokens;
	uint64_t refill_ns; /* CLOCK_MONOTONIC of the last refill */
	bool limited;	    /* its last lookup was refused (logged once per spell) */
};

int ctl_peer_read(int fd, struct ctl_client *c)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	gid_t *g;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return -errno;
	c->pid = cr.pid;
	c->uid = cr.uid;
	c->gid = cr.gid;
	len = CTL_PEER_GROUPS_FIRST * sizeof(gid_t);
	for (;;) {
		g = malloc(len ? len : sizeof(gid_t));
		if (g == NULL)
			return -ENOMEM;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) == 0)
			break;
		free(g);
		/* too small: len now says how much the groups take */
		if (errno != ERANGE)
			return -errno;
	}
	c->groups = g;
	c->nb_groups = (unsigned)(len / sizeof(gid_t));
	return 0;
}

static bool peer_in_group(const struct ctl_client *c, gid_t want)
{
	if (c->gid == want)
		return true;
	for (unsigned i = 0; i < c->nb_groups; i++)
		if (c->groups[i] == want)
			return true;
	return false;
}

enum ctl_right ctl_peer_right(const struct ctl_daemon *d, const struct ctl_client *c)
{
	if (c->uid == 0 || (d->admin_gid_ok && peer_in_group(c, d->admin_gid)))
		return CTL_RIGHT_ADMIN;
	if (d->lookup_gid_ok && peer_in_group(c, d->lookup_gid))
		return CTL_RIGHT_LOOKUP;
	return CTL_RIGHT_READ;
}

static void resolve_group(const char *what, const char *name, gid_t *gid, bool *ok)
{
	struct group *g = name[0] ? getgrnam(name) : NULL;
	char shown[64];

	*ok = g != NULL;
	*gid = g ? g->gr_gid : 0;
	if (g != NULL || !name[0])
		return;
	/* a setting's value, quoted: masked like every config error */
	snprintf(shown, sizeof(shown), "%s", name);
	rg_mask_text(shown);
	ctl_log(CTL_LOG_WARN, "%s group %s does not exist: %s", what, shown,
		strcmp(what, "admin") == 0 ? "only root may run admin commands"
					   : "only root and the admin group may look up");
}

void ctl_peers_groups(struct ctl_daemon *d)
{
	resolve_group("admin", d->cfg.admin_group, &d->admin_gid, &d->admin_gid_ok);
	resolve_group("lookup", d->cfg.lookup_group, &d->lookup_gid, &d->lookup_gid_ok);
}

enum ctl_refusal ctl_peer_admit(const struct ctl_daemon *d, const struct ctl_client *c,
				char *why, size_t cap)
{
	unsigned open_slots = d->cfg.clients_max - d->cfg.clients_admin_reserved, same = 0;

	if (d->nb_clients >= d->cfg.clients_max) {
		snprintf(why, cap, "all %u connections are in use", d->cfg.clients_max);
		return CTL_REFUSED_FULL;
	}
	if (d->nb_clients >= open_slots && ctl_peer_right(d, c) != CTL_RIGHT_ADMIN) {
		snprintf(why, cap, "%u connections are in use; the %u left are kept for root and "
			 "the %s group", d->nb_clients, d->cfg.clients_max - d->nb_clients,
			 d->cfg.admin_group);
		return CTL_REFUSED_FULL;
	}
	if (c->uid == 0)
		return CTL_ADMITTED;
	for (const struct ctl_client *o = d->clients; o != NULL; o = o->next)
		same += o->uid == c->uid;
	if (same >= d->cfg.clients_per_uid) {
		snprintf(why, cap, "uid %u holds %u connections already (clients_per_uid)",
			 (unsigned)c->uid, same);
		return CTL_REFUSED_PER_UID;
	}
	return CTL_ADMITTED;
}

const char *ctl_peer_user(struct ctl_client *c)
{
	if (c->user[0] == '\0') {
		struct passwd pw, *res = NULL;
		char buf[1024];

		if (getpwuid_r(c->uid, &pw, buf, sizeof(buf), &res) == 0 && res != NULL)
			snprintf(c->user, sizeof(c->user), "%s", res->pw_name);
		else
			snprintf(c->user, sizeof(c->user), "uid_%u", (unsigned)c->uid);
	}
	return c->user;
}

static struct ctl_lookup_bucket *bucket_of(struct ctl_daemon *d, uid_t uid, uint64_t now)
{
	struct ctl_lookup_bucket *b = NULL;

	for (unsigned i = 0; i < d->nb_buckets; i++)
		if (d->buckets[i].uid == uid)
			return &d->buckets[i];
	if (d->nb_buckets == d->cap_buckets && d->cap_buckets < CTL_LOOKUP_BUCKETS_MAX) {
		unsigned cap = d->cap_buckets ? 2 * d->cap_buckets : 16;
		struct ctl_lookup_bucket *p = realloc(d->buckets, cap * sizeof(*p));

		if (p != NULL) {
			d->buckets = p;
			d->cap_buckets = cap;
		}
	}
	if (d->nb_buckets < d->cap_buckets) {
		b = &d->buckets[d->nb_buckets++];
	} else if (d->nb_buckets > 0) {
		b = &d->buckets[0];
		for (unsigned i = 1; i < d->nb_buckets; i++)
			if (d->buckets[i].refill_ns < b->refill_ns)
				b = &d->buckets[i];
	} else {
		return NULL;
	}
	b->uid = uid;
	b->tokens = d->cfg.lookup_burst;
	b->refill_ns = now;
	b->limited = false;
	return b;
}

bool ctl_lookup_take(struct ctl_daemon *d, uid_t uid, double *wait_s)
{
	uint64_t now = ctl_mono_ns();
	double per_s = d->cfg.lookup_rate_per_min / 60.0;
	struct ctl_lookup_bucket *b;

	*wait_s = 0;
	if (uid == 0 || d->cfg.lookup_rate_per_min == 0)
		return true;
	b = bucket_of(d, uid, now);
	if (b == NULL) /* no memory for a bucket: refuse rather than go unbounded */
		return false;
	b->tokens += (double)(now - b->refill_ns) / 1e9 * per_s;
	if (b->tokens > d->cfg.lookup_burst) /* also after a reload lowered the burst */
		b->tokens = d->cfg.lookup_burst;
	b->refill_ns = now;
	if (b->tokens >= 1.0) {
		b->tokens -= 1.0;
		b->limited = false;
		return true;
	}
	*wait_s = (1.0 - b->tokens) / per_s;
	if (!b->limited)
		ctl_log(CTL_LOG_WARN, "control: uid %u is over the lookup rate (%u a minute, "
			"burst %u): lookups refused", (unsigned)uid, d->cfg.lookup_rate_per_min,
			d->cfg.lookup_burst);
	b->limited = true;
	return false;
}

void ctl_peers_close(struct ctl_daemon *d)
{
	free(d->buckets);
	d->buckets = NULL;
	d->nb_buckets = d->cap_buckets = 0;
}
