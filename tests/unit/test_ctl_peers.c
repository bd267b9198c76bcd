/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Peers of the control socket (control/peers.c), the rules of
 * control/protocol.h quoted:
 *
 *   Rights: the peer's credentials as the kernel fixed them at connect
 *   (SO_PEERCRED uid and gid, SO_PEERGROUPS) decide: root and members of
 *   the admin group may run every command; members of the lookup group
 *   may also run "lookup"; other peers get the read-only ones.  Lookups
 *   are limited per uid by a token bucket (root excepted).
 *
 *   - credentials: a peer that changes its groups between its connect and
 *     the accept is judged by the groups of the connect (as root only:
 *     the child must change its groups);
 *   - rights, table-driven: root, the admin group as primary or
 *     supplementary group, the lookup group, neither; a missing admin
 *     group (gid 0 then) gives nothing to root's group;
 *   - slots: clients_max, the slots kept for the admin group, the bound
 *     per uid (root excepted), at each boundary;
 *   - lookups: the burst, the refusal after it with the wait, a bucket
 *     per uid, root and a rate of 0 unbounded.
 */
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "control/daemon.h"
#include "check.h"

#define G_ADMIN 4242
#define G_LOOKUP 4343
#define G_OTHER 4444

static void daemon_init(struct ctl_daemon *d)
{
	memset(d, 0, sizeof(*d));
	ctl_config_defaults(&d->cfg);
	d->admin_gid = G_ADMIN;
	d->admin_gid_ok = true;
	d->lookup_gid = G_LOOKUP;
	d->lookup_gid_ok = true;
}

/* Connect from a child that had group G_ADMIN at connect and drops it,
 * for G_OTHER, before the parent accepts. */
static void test_read_at_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ctl_client c;
	int lfd, fd, pipefd[2], status;
	char go;
	pid_t pid;

	if (geteuid() != 0) {
		printf("note: not root: the groups-at-connect case is left out\n");
		return;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/test_ctl_peers.%d.sock", (int)getpid());
	unlink(sa.sun_path);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(lfd >= 0 && bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	      listen(lfd, 4) == 0 && pipe(pipefd) == 0, "listen: %s", strerror(errno));
	pid = fork();
	if (pid == 0) {
		gid_t before[] = { G_ADMIN }, after[] = { G_OTHER };
		int s = socket(AF_UNIX, SOCK_STREAM, 0);

		if (setgroups(1, before) != 0 || setgid(G_OTHER) != 0 ||
		    connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0 || setgroups(1, after) != 0)
			_exit(1);
		go = 'x';
		if (write(pipefd[1], &go, 1) != 1)
			_exit(1);
		pause(); /* keep the connection until killed */
		_exit(0);
	}
	CHECK(read(pipefd[0], &go, 1) == 1, "the child connected and changed its groups");
	fd = accept(lfd, NULL, NULL);
	memset(&c, 0, sizeof(c));
	CHECK_EQ(ctl_peer_read(fd, &c), 0, "peer read");
	CHECK_EQ(c.pid, pid, "pid");
	CHECK_EQ(c.uid, 0, "uid");
	CHECK_EQ(c.gid, G_OTHER, "gid at connect");
	CHECK(c.nb_groups == 1 && c.groups[0] == G_ADMIN,
	      "the groups of the connect: %u groups, first %u", c.nb_groups,
	      c.nb_groups ? (unsigned)c.groups[0] : 0);
	free(c.groups);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	close(fd);
	close(lfd);
	close(pipefd[0]);
	close(pipefd[1]);
	unlink(sa.sun_path);
}

struct right_case {
	uid_t uid;
	gid_t gid;
	gid_t groups[2];
	unsigned nb_groups;
	bool admin_ok;
	enum ctl_right want;
};

static const struct right_case right_cases[] = {
	{ 0, 0, { 0 }, 0, true, CTL_RIGHT_ADMIN },		   /* root */
	{ 1000, G_ADMIN, { 0 }, 0, true, CTL_RIGHT_ADMIN },	   /* primary group */
	{ 1000, 100, { G_OTHER, G_ADMIN }, 2, true, CTL_RIGHT_ADMIN },
	{ 1000, 100, { G_LOOKUP, G_ADMIN }, 2, true, CTL_RIGHT_ADMIN },
	{ 1000, 100, { G_LOOKUP }, 1, true, CTL_RIGHT_LOOKUP },
	{ 1000, G_LOOKUP, { 0 }, 0, true, CTL_RIGHT_LOOKUP },
	{ 1000, 100, { G_OTHER }, 1, true, CTL_RIGHT_READ },
	{ 1000, 100, { 0 }, 0, true, CTL_RIGHT_READ },
	/* no admin group: gid 0 is root's group, not the admin group */
	{ 1000, 0, { 0 }, 1, false, CTL_RIGHT_READ },
	{ 1000, G_ADMIN, { 0 }, 0, false, CTL_RIGHT_READ },
	{ 0, 100, { 0 }, 0, false, CTL_RIGHT_ADMIN },
};

static void test_rights(void)
{
	struct ctl_daemon d;

	daemon_init(&d);
	for (size_t i = 0; i < sizeof(right_cases) / sizeof(right_cases[0]); i++) {
		const struct right_case *r = &right_cases[i];
		struct ctl_client c = { .uid = r->uid, .gid = r->gid, .nb_groups = r->nb_groups,
					.groups = (gid_t *)r->groups };

		d.admin_gid_ok = r->admin_ok;
		d.admin_gid = r->admin_ok ? G_ADMIN : 0;
		CHECK_EQ(ctl_peer_right(&d, &c), r->want, "right case %zu", i);
	}
}

struct admit_case {
	unsigned nb_open;      /* clients connected, uid 2000 each */
	unsigned nb_same;      /* of which uid 1000 */
	uid_t uid;
	gid_t gid;
	enum ctl_refusal want;
};

/* clients_max 20, 4 kept for the admin group, 3 per uid */
static const struct admit_case admit_cases[] = {
	{ 0, 0, 1000, 100, CTL_ADMITTED },
	{ 15, 0, 1000, 100, CTL_ADMITTED },
	{ 16, 0, 1000, 100, CTL_REFUSED_FULL },	  /* the kept slots start */
	{ 16, 0, 1000, G_ADMIN, CTL_ADMITTED },
	{ 19, 0, 1000, G_ADMIN, CTL_ADMITTED },
	{ 20, 0, 1000, G_ADMIN, CTL_REFUSED_FULL },
	{ 20, 0, 0, 0, CTL_REFUSED_FULL },	  /* root too: no slot at all */
	{ 19, 0, 0, 0, CTL_ADMITTED },
	{ 5, 2, 1000, 100, CTL_ADMITTED },
	{ 5, 3, 1000, 100, CTL_REFUSED_PER_UID },
	{ 5, 3, 1000, G_ADMIN, CTL_REFUSED_PER_UID }, /* the admin group has a uid too */
	{ 5, 5, 0, 0, CTL_ADMITTED },		      /* root has none */
};

static void test_admit(void)
{
	struct ctl_client *all = calloc(32, sizeof(*all));
	struct ctl_daemon d;
	char why[256];

	daemon_init(&d);
	d.cfg.clients_max = 20;
	d.cfg.clients_admin_reserved = 4;
	d.cfg.clients_per_uid = 3;
	snprintf(d.cfg.admin_group, sizeof(d.cfg.admin_group), "admins");
	for (size_t i = 0; all != NULL && i < sizeof(admit_cases) / sizeof(admit_cases[0]); i++) {
		const struct admit_case *a = &admit_cases[i];
		struct ctl_client c = { .uid = a->uid, .gid = a->gid };
		enum ctl_refusal r;

		d.clients = NULL;
		for (unsigned k = 0; k < a->nb_open; k++) {
			all[k].uid = k < a->nb_same ? a->uid : 2000;
			all[k].next = d.clients;
			d.clients = &all[k];
		}
		d.nb_clients = a->nb_open;
		why[0] = '\0';
		r = ctl_peer_admit(&d, &c, why, sizeof(why));
		CHECK_EQ(r, a->want, "admit case %zu: %s", i, why);
		CHECK((r == CTL_ADMITTED) == (why[0] == '\0'), "admit case %zu: why '%s'", i, why);
		if (r == CTL_REFUSED_FULL && a->nb_open < 20)
			CHECK(strstr(why, "kept for root and the admins group") != NULL,
			      "admit case %zu: '%s'", i, why);
	}
	free(all);
}

static void test_lookup_bucket(void)
{
	struct ctl_daemon d;
	double wait_s;

	daemon_init(&d);
	d.cfg.lookup_rate_per_min = 1;
	d.cfg.lookup_burst = 3;
	for (int i = 0; i < 3; i++)
		CHECK(ctl_lookup_take(&d, 1000, &wait_s), "lookup %d of the burst", i + 1);
	CHECK(!ctl_lookup_take(&d, 1000, &wait_s) && wait_s > 50 && wait_s <= 60,
	      "the fourth refused, next in %.1f s", wait_s);
	CHECK(!ctl_lookup_take(&d, 1000, &wait_s), "and the fifth");
	CHECK(ctl_lookup_take(&d, 1001, &wait_s), "another uid has a bucket of its own");
	for (int i = 0; i < 100; i++)
		CHECK(ctl_lookup_take(&d, 0, &wait_s), "root is not limited");
	d.cfg.lookup_rate_per_min = 0;
	for (int i = 0; i < 100; i++)
		CHECK(ctl_lookup_take(&d, 1000, &wait_s), "a rate of 0 is no bound");
	d.cfg.lookup_rate_per_min = 1;
	d.cfg.lookup_burst = 1;
	CHECK(!ctl_lookup_take(&d, 1000, &wait_s), "still empty after the bound came back");
	/* many uids: the buckets stay bounded, the stalest goes */
	for (uid_t u = 10000; u < 10000 + 5000; u++)
		ctl_lookup_take(&d, u, &wait_s);
	CHECK(d.nb_buckets <= 4096, "%u buckets", d.nb_buckets);
	ctl_peers_close(&d);
}

static void test_user(void)
{
	struct ctl_client c = { .uid = 0 };

	CHECK(strcmp(ctl_peer_user(&c), "root") == 0, "uid 0 is %s", c.user);
	memset(&c, 0, sizeof(c));
	c.uid = 4000000000u;
	CHECK(strcmp(ctl_peer_user(&c), "uid_4000000000") == 0, "an unknown uid: %s", c.user);
}

int main(void)
{
	test_read_at_connect();
	test_rights();
	test_admit();
	test_lookup_bucket();
	test_user();
	return CHECK_DONE();
}
