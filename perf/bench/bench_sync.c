/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * riskgate-bench sync: member sync between riskgated daemons (docs/sync.md),
 * each a process of its own on a ledger of its own, talking HTTPS with
 * mutual TLS 1.3 on loopback, as members do in production.
 *
 *   catch_up    bank-a holds a log of --entries entries (10^6 by default),
 *               imported with riskgate-ledger import; bank-b's daemon starts
 *               with bank-a as its only peer.  The figure is the entries
 *               divided by the time from bank-b's start until its `peers`
 *               reply says it holds them all: verified entries per second
 *               (every block through ledger_apply_block, then the table;
 *               target >= 300k).  Peer, same run: riskgate-ledger pull of a
 *               bundle of the same log into a fresh member's ledger (the
 *               same checks, offline, no table).
 *   bytes_per_entry
 *               what that catch-up sent: bank-a's serving.bytes_out (HTTP
 *               bodies: block headers, entry bundles, checkpoints) per
 *               entry, against the bundle file's bytes per entry.  Run as
 *               root, the suite has a network namespace of its own and also
 *               gives the IP bytes that crossed its loopback both ways
 *               (TLS records, HTTP headers, TCP/IP headers and ACKs
 *               included: IpExt OutOctets of /proc/net/netstat).
 *   propagation_relay, propagation_direct
 *               three daemons.  relay: bank-c's only peer is bank-b,
 *               bank-b's are bank-a and bank-c, bank-a's is bank-b, so
 *               bank-a's blocks reach bank-c through bank-b's feed.
 *               direct: bank-c's only peer is bank-a.  Per sample an `add`
 *               is written to bank-a's control socket (one connection kept
 *               open) and the clock stops when the fingerprint is in
 *               bank-c's table, read through a reader handle of the table
 *               file (common/table.h) polled about every 0.1 ms: what bank-c's
 *               dataplane would screen with.  p50/p90/p99/max in ms
 *               (target p99 <= 50); the add's own reply (durable at bank-a)
 *               is given beside it.
 *   cpu_per_1k_entries_s
 *               bank-a takes an import of 5 000 entries through its
 *               control socket once a second for 20 s; bank-b follows it
 *               (push feed) and its CPU time (utime + stime of
 *               /proc/PID/stat, all threads) over the time until it holds
 *               the last one gives percent of a core per 1 000 entries/s.
 *
 * Progress goes to stderr.  Every daemon, file and directory the suite
 * makes (work directory under --workdir, tables and segments in /dev/shm)
 * is removed on every exit path, also after SIGINT or SIGTERM; a daemon
 * outlives a killed suite by no more than its SIGTERM (PR_SET_PDEATHSIG).
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <jansson.h>

#include "bench.h"
#include "common/fp.h"
#include "common/ident.h"
#include "common/table.h"

#define BS_ENTRIES_DEFAULT 1000000ull
#define BS_SAMPLES 200		/* propagation samples per topology */
#define BS_SAMPLE_TIMEOUT_NS 5000000000ull
#define BS_FEED_IMPORTS 20	/* sustained sync: imports at bank-a ... */
#define BS_FEED_ENTRIES 5000	/* ... of this many entries, one a second */
#define BS_REPLY_MAX 65536	/* bytes of one reply line (CTL_LINE_MAX) */
#define BS_DIR_MAX 80		/* the work directory: socket paths must fit */
#define BS_PATH_MAX 128

enum { BS_A, BS_B, BS_C, BS_P, BS_MEMBERS };

static const char *const bs_names[BS_MEMBERS] = { "bank-a", "bank-b", "bank-c", "bank-p" };

struct bs_member {
	char ledger[BS_PATH_MAX], sock[BS_PATH_MAX], conf[BS_PATH_MAX], log[BS_PATH_MAX];
	char table[BS_PATH_MAX], seg[BS_PATH_MAX];
	unsigned port; /* its sync_listen */
	pid_t pid;
	int fd;	       /* a control connection, -1 none */
};

struct bs_run {
	const struct bench_opts *o;
	char dir[BS_DIR_MAX];
	char riskgated[PATH_MAX], ledger_tool[PATH_MAX];
	char admin_group[64];
	char tool_log[BS_PATH_MAX];
	struct bs_member m[BS_MEMBERS];
	bool netns;	  /* a network namespace of its own: IP counters are ours */
	uint64_t nb_entries;
};

static volatile sig_atomic_t bs_interrupted;

static void bs_on_signal(int sig)
{
	(void)sig;
	bs_interrupted = 1;
}

/* ---- processes and counters ---- */

/* CPU seconds (user + system, all threads) pid has used, or -1. */
static double bs_cpu_s(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* the command name may hold anything: the fields start after its ')' */
	p = strrchr(buf, ')');
	if (p == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* A network namespace of this process's own with its loopback up: the
 * suite's traffic is then all that crosses it.  Root only; 0 or -errno. */
static int bs_netns(void)
{
	struct ifreq ifr;
	int fd, rc = 0;

	if (unshare(CLONE_NEWNET) != 0)
		return -errno;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0)
		rc = -errno;
	ifr.ifr_flags |= IFF_UP;
	if (rc == 0 && ioctl(fd, SIOCSIFFLAGS, &ifr) != 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* IP bytes sent in this network namespace (IpExt OutOctets), or -1. */
static long long bs_ip_octets(void)
{
	char names[4096], vals[4096];
	long long v = -1;
	FILE *f = fopen("/proc/self/net/netstat", "r");

	if (f == NULL)
		return -1;
	while (fgets(names, sizeof(names), f) && fgets(vals, sizeof(vals), f)) {
		char *sn, *sv, *n, *x;

		if (strncmp(names, "IpExt:", 6) != 0)
			continue;
		n = strtok_r(names, " \n", &sn);
		x = strtok_r(vals, " \n", &sv);
		while (n != NULL && x != NULL) {
			if (strcmp(n, "OutOctets") == 0) {
				v = atoll(x);
				break;
			}
			n = strtok_r(NULL, " \n", &sn);
			x = strtok_r(NULL, " \n", &sv);
		}
		break;
	}
	fclose(f);
	return v;
}

/* A TCP port of 127.0.0.1 free now, or 0. */
static unsigned bs_free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	unsigned port = 0;

	if (fd < 0)
		return 0;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* The last lines of a log on stderr, indented. */
static void bs_log_tail(const char *path)
{
	char line[512], last[16][512];
	unsigned nb = 0;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f))
		snprintf(last[nb++ % 16], sizeof(last[0]), "%s", line);
	fclose(f);
	for (unsigned i = nb > 16 ? nb - 16 : 0; i < nb; i++)
		fprintf(stderr, "  %s", last[i % 16]);
}

/* riskgate-ledger ARGS... (NULL-terminated), its output into the tool log;
 * 0 when it exits 0. */
static int bs_ledger(struct bs_run *r, ...)
{
	char *argv[16] = { r->ledger_tool };
	unsigned n = 1;
	va_list ap;
	int rc;

	va_start(ap, r);
	while (n < 15 && (argv[n] = va_arg(ap, char *)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	rc = bench_run(argv, r->tool_log, &bs_interrupted);
	if (rc != 0 && !bs_interrupted) {

		fprintf(stderr, "bench sync: riskgate-ledger");
		for (unsigned i = 1; i < n; i++)
			fprintf(stderr, " %s", argv[i]);
		fprintf(stderr, ": exit %d\n", rc);
		bs_log_tail(r->tool_log);
	}
	return rc == 0 ? 0 : -1;
}

/* ---- members and their daemons ---- */

static void bs_paths(struct bs_run *r, const char *sub)
{
	for (unsigned i = 0; i < BS_MEMBERS; i++) {
		struct bs_member *m = &r->m[i];

		snprintf(m->ledger, sizeof(m->ledger), "%s/%s/%s", r->dir, sub, bs_names[i]);
		snprintf(m->sock, sizeof(m->sock), "%s/%s-%c.sock", r->dir, sub, 'a' + i);
		snprintf(m->conf, sizeof(m->conf), "%s/%s-%c.cfg", r->dir, sub, 'a' + i);
		snprintf(m->log, sizeof(m->log), "%s/%s-%c.log", r->dir, sub, 'a' + i);
		snprintf(m->table, sizeof(m->table), "/dev/shm/rgbs-%d-%s-%c.table", (int)getpid(),
			 sub, 'a' + i);
		snprintf(m->seg, sizeof(m->seg), "/dev/shm/rgbs-%d-%s-%c.seg", (int)getpid(), sub,
			 'a' + i);
		m->port = 0;
		m->pid = 0;
		m->fd = -1;
	}
}

/* Ledgers of members [0, n) under sub: one fingerprint key, one genesis. */
static int bs_consortium(struct bs_run *r, const char *sub, unsigned n)
{
	char dir[BS_PATH_MAX], key[BS_PATH_MAX + 8], genesis[BS_PATH_MAX + 16];
	char *d[BS_MEMBERS];

	snprintf(dir, sizeof(dir), "%s/%s", r->dir, sub);
	if (mkdir(dir, 0700) != 0) {
		fprintf(stderr, "bench sync: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	bs_paths(r, sub);
	snprintf(key, sizeof(key), "%s/fp.key", r->m[0].ledger);
	for (unsigned i = 0; i < n; i++) {
		int rc = i == 0 ? bs_ledger(r, "--dir", r->m[i].ledger, "init", "--member",
					    bs_names[i], NULL)
				: bs_ledger(r, "--dir", r->m[i].ledger, "init", "--member",
					    bs_names[i], "--fp-key", key, NULL);

		if (rc != 0)
			return -1;
		d[i] = r->m[i].ledger;
	}
	snprintf(genesis, sizeof(genesis), "%s/genesis.json", dir);
	return bs_ledger(r, "genesis", "--out", genesis, "--consortium", "bench", "--install",
			 d[0], n > 1 ? d[1] : NULL, n > 2 ? d[2] : NULL, n > 3 ? d[3] : NULL, NULL);
}

/* m's configuration: serving on its port when it has one, fetching from
 * peers[0..nb). */
static int bs_configure(struct bs_run *r, unsigned i, const unsigned *peers, unsigned nb,
			uint64_t capacity)
{
	struct bs_member *m = &r->m[i];
	char text[4096], listen[32] = "";
	int off;

	if (m->port != 0)
		snprintf(listen, sizeof(listen), "127.0.0.1:%u", m->port);
	off = snprintf(text, sizeof(text),
		       "ledger = \"%s\";\nsocket = \"%s\";\nsegment = \"%s\";\ntable = \"%s\";\n"
		       "table_capacity = %llu;\nevents = \"\";\nmetrics = \"\";\n"
		       "stale_after_sec = 0;\nlog_level = \"warn\";\nsocket_group = \"\";\n"
		       "admin_group = \"%s\";\nsync_listen = \"%s\";\n",
		       m->ledger, m->sock, m->seg, m->table, (unsigned long long)capacity,
		       r->admin_group, listen);
	if (nb > 0) {
		off += snprintf(text + off, sizeof(text) - (size_t)off, "peers = (");
		for (unsigned k = 0; k < nb; k++)
			off += snprintf(text + off, sizeof(text) - (size_t)off,
					"%s { member = \"%s\"; url = \"https://127.0.0.1:%u\"; }",
					k ? "," : "", bs_names[peers[k]], r->m[peers[k]].port);
		snprintf(text + off, sizeof(text) - (size_t)off, " );\n");
	}
	return bench_write_file(m->conf, text);
}

static void bs_stop(struct bs_member *m)
{
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
	bench_stop(m->pid, SIGTERM);
	m->pid = 0;
}

/* Start m's daemon and keep a control connection to it: 0, or -1 with its
 * log on stderr. */
static int bs_start(struct bs_member *m, const char *riskgated)
{
	char *argv[] = { (char *)riskgated, "--config", m->conf, NULL };
	uint64_t t0 = bench_now_ns();

	m->pid = bench_spawn(argv, m->log);
	while (m->pid > 0 && !bs_interrupted && bench_now_ns() - t0 < 60000000000ull) {
		int status;

		m->fd = bench_ctl_connect(m->sock);
		if (m->fd >= 0)
			return 0;
		if (waitpid(m->pid, &status, WNOHANG) == m->pid) {
			m->pid = 0;
			break;
		}
		bench_sleep_ns(2000000ull);
	}
	fprintf(stderr, "bench sync: riskgated --config %s did not come up\n", m->conf);
	bs_log_tail(m->log);
	bs_stop(m);
	return -1;
}

/* One request on m's connection: the reply's result (the caller's), or
 * NULL. */
static json_t *bs_request(struct bs_member *m, const char *req)
{
	char *buf = malloc(BS_REPLY_MAX);
	json_t *root = NULL, *res = NULL;

	if (buf == NULL)
		return NULL;
	if (bench_ctl_call(m->fd, req, buf, BS_REPLY_MAX) == 0)
		root = json_loads(buf, 0, NULL);
	else
		fprintf(stderr, "bench sync: %.*s: %s", (int)strcspn(req, "\n"), req, buf);
	res = json_incref(json_object_get(root, "result"));
	json_decref(root);
	free(buf);
	return res;
}

/* What a daemon's `peers` reply says. */
struct bs_peers {
	uint64_t held;	    /* bank-a's log at m, as its first peer reports it */
	uint64_t bytes_out; /* served: HTTP bodies */
	uint64_t feed_bytes; /* served: push feed events */
	uint64_t feeds_open;
	uint64_t bytes_in;  /* from its first peer */
};

/* m's `peers` into *p: 0 or -1. */
static int bs_peers(struct bs_member *m, struct bs_peers *p)
{
	json_t *res = bs_request(m, "{\"cmd\": \"peers\"}\n"), *peer, *log, *srv;
	size_t i;

	memset(p, 0, sizeof(*p));
	if (res == NULL)
		return -1;
	srv = json_object_get(res, "serving");
	p->bytes_out = (uint64_t)json_integer_value(json_object_get(srv, "bytes_out"));
	p->feed_bytes = (uint64_t)json_integer_value(json_object_get(srv, "feed_bytes"));
	p->feeds_open = (uint64_t)json_integer_value(json_object_get(srv, "feeds_open"));
	peer = json_array_get(json_object_get(res, "peers"), 0);
	p->bytes_in = (uint64_t)json_integer_value(json_object_get(peer, "bytes_in"));
	json_array_foreach(json_object_get(peer, "logs"), i, log) {
		if (strcmp(json_string_value(json_object_get(log, "member")) ?: "", "bank-a") == 0)
			p->held = (uint64_t)json_integer_value(json_object_get(log, "held"));
	}
	json_decref(res);
	return 0;
}

/* bank-a's log root as m holds it (64 hex digits) into out. 0 or -1. */
static int bs_root(struct bs_member *m, char out[65])
{
	json_t *res = bs_request(m, "{\"cmd\": \"ledger-head\"}\n"), *h;
	size_t i;
	int rc = -1;

	json_array_foreach(json_object_get(res, "heads"), i, h) {
		if (strcmp(json_string_value(json_object_get(h, "member")) ?: "", "bank-a") == 0) {
			snprintf(out, 65, "%s", json_string_value(json_object_get(h, "root")) ?: "");
			rc = 0;
		}
	}
	json_decref(res);
	return rc;
}

/* Until m holds want entries of bank-a's log (its `peers` every 10 ms),
 * at most timeout_ns: the time it did (0 if it did not); *first_ns when
 * it held the first of the entries beyond from. */
static uint64_t bs_wait_held(struct bs_member *m, uint64_t from, uint64_t want,
			     uint64_t timeout_ns, uint64_t *first_ns)
{
	uint64_t t0 = bench_now_ns(), last = 0;

	while (!bs_interrupted && bench_now_ns() - t0 < timeout_ns) {
		struct bs_peers p;
		uint64_t now;

		if (bs_peers(m, &p) != 0)
			return 0;
		now = bench_now_ns();
		if (first_ns != NULL && *first_ns == 0 && p.held > from)
			*first_ns = now;
		if (p.held >= want)
			return now;
		if (p.held / 100000 != last / 100000)
			fprintf(stderr, "bench sync:   %llu of %llu entries\n",
				(unsigned long long)p.held, (unsigned long long)want);
		last = p.held;
		bench_sleep_ns(10000000ull);
	}
	return 0;
}

/* ---- catch-up and bytes per entry ---- */

static int bs_catch_up(struct bs_run *r)
{
	struct bs_member *a = &r->m[BS_A], *b = &r->m[BS_B], *p = &r->m[BS_P];
	char list[BS_PATH_MAX], bundle[BS_PATH_MAX], extra[768], ra[65] = "", rb[65] = "";
	const unsigned peer_a = BS_A;
	uint64_t n = r->nb_entries, cap = n + n / 4 + 65536, t0, t1, first = 0, done;
	long long ip0 = -1, ip1 = -1;
	struct bs_peers pa, pb;
	double pull_s, import_s;
	struct stat st;

	if (bs_consortium(r, "cu", 4) != 0)
		return -1;
	snprintf(list, sizeof(list), "%s/cu/list.csv", r->dir);
	snprintf(bundle, sizeof(bundle), "%s/cu/a.bundle", r->dir);
	fprintf(stderr, "bench sync: catch-up: writing %llu identifiers, importing them at bank-a\n",
		(unsigned long long)n);
	if (bench_write_list(list, 0, n, r->o->seed) != 0)
		return -1;
	t0 = bench_now_ns();
	if (bs_ledger(r, "--dir", a->ledger, "import", list, "--no-progress", NULL) != 0)
		return -1;
	import_s = (double)(bench_now_ns() - t0) / 1e9;
	unlink(list);
	if (bs_ledger(r, "--dir", a->ledger, "bundle", "--out", bundle, NULL) != 0 ||
	    stat(bundle, &st) != 0)
		return -1;
	fprintf(stderr, "bench sync: catch-up: riskgate-ledger pull of the bundle (%.1f MB) "
		"into bank-p\n", (double)st.st_size / 1e6);
	t0 = bench_now_ns();
	if (bs_ledger(r, "--dir", p->ledger, "pull", bundle, NULL) != 0)
		return -1;
	pull_s = (double)(bench_now_ns() - t0) / 1e9;
	unlink(bundle);

	a->port = bs_free_port();
	if (a->port == 0 || bs_configure(r, BS_A, NULL, 0, cap) != 0 ||
	    bs_configure(r, BS_B, &peer_a, 1, cap) != 0)
		return -1;
	fprintf(stderr, "bench sync: catch-up: bank-a's daemon up, then bank-b's with bank-a "
		"as its peer\n");
	if (bs_start(a, r->riskgated) != 0)
		return -1;
	if (r->netns)
		ip0 = bs_ip_octets();
	t0 = bench_now_ns();
	if (bs_start(b, r->riskgated) != 0)
		return -1;
	done = bs_wait_held(b, 0, n, 600000000000ull, &first);
	if (r->netns)
		ip1 = bs_ip_octets();
	if (done == 0) {
		if (!bs_interrupted)
			fprintf(stderr, "bench sync: catch-up: bank-b did not catch up (see %s)\n",
				b->log);
		return -1;
	}
	t1 = done;
	if (bs_peers(a, &pa) != 0 || bs_peers(b, &pb) != 0 || bs_root(a, ra) != 0 ||
	    bs_root(b, rb) != 0)
		return -1;
	if (strcmp(ra, rb) != 0) {
		fprintf(stderr, "bench sync: catch-up: bank-b's root %s is not bank-a's %s\n", rb,
			ra);
		return -1;
	}
	{
		double s = (double)(t1 - t0) / 1e9, rate = (double)n / s, peer = (double)n / pull_s;

		snprintf(extra, sizeof(extra),
			 ", \"entries\": %llu, \"seconds\": %.3f, \"first_entries_after_ms\": %.0f, "
			 "\"after_first_entries_per_s\": %.0f, \"pull_seconds\": %.3f, "
			 "\"import_entries_per_s\": %.0f, \"target\": 300000, \"measured\": "
			 "\"bank-b's start until its peers reply holds every entry; polled every 10 ms\"",
			 (unsigned long long)n, s, (double)(first - t0) / 1e6,
			 t1 > first ? (double)n * 1e9 / (double)(t1 - first) : 0, pull_s,
			 (double)n / import_s);
		bench_result("sync", "catch_up", "entries_per_s", rate, "riskgate-ledger pull", peer,
			     rate / peer, extra);
	}
	{
		double per = (double)pa.bytes_out / (double)n, bun = (double)st.st_size / (double)n;
		int off = snprintf(extra, sizeof(extra),
				   ", \"entries\": %llu, \"bytes_out\": %llu, \"bytes_in\": %llu, "
				   "\"bundle_bytes\": %lld",
				   (unsigned long long)n, (unsigned long long)pa.bytes_out,
				   (unsigned long long)pb.bytes_in, (long long)st.st_size);

		if (ip0 >= 0 && ip1 >= ip0)
			snprintf(extra + off, sizeof(extra) - (size_t)off,
				 ", \"wire_bytes_per_entry\": %.2f, \"wire_bytes\": %lld, "
				 "\"measured\": \"value: bank-a's serving.bytes_out (HTTP bodies); "
				 "wire: IP bytes on the loopback of the suite's own network "
				 "namespace, both ways, TLS, HTTP, TCP/IP headers and ACKs "
				 "included\"",
				 (double)(ip1 - ip0) / (double)n, ip1 - ip0);
		else
			snprintf(extra + off, sizeof(extra) - (size_t)off,
				 ", \"measured\": \"bank-a's serving.bytes_out (HTTP bodies); "
				 "no TLS, HTTP or TCP overhead (run as root for wire bytes)\"");
		bench_result("sync", "bytes_per_entry", "bytes", per, "bundle file", bun, bun / per,
			     extra);
	}
	bs_stop(b);
	bs_stop(a);
	return 0;
}

/* ---- propagation ---- */

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

/* One add at bank-a until bank-c's table t holds it: *lat (0 if it did not
 * within the timeout) and *rep, the add's reply, in ns.  0 or -1 (the add
 * failed or the connection broke). */
static int bs_sample(struct bs_member *a, struct rg_table *t, const struct rg_fp_key *key,
		     const char *value, uint64_t *lat, uint64_t *rep)
{
	char req[256], reply[BS_REPLY_MAX], norm[RG_IDENT_MAX_LEN];
	int nl = rg_ident_normalise(RG_KIND_MERCHANT, value, strlen(value), norm);
	uint64_t t0, t_hit = 0, t_rep = 0;
	struct rg_fp fp;
	size_t len = 0;

	if (nl < 0)
		return -1;
	rg_fp_compute(key, RG_KIND_MERCHANT, norm, (size_t)nl, &fp);
	snprintf(req, sizeof(req),
		 "{\"cmd\": \"add\", \"args\": {\"list\": \"marketing_cheat\", \"kind\": "
		 "\"MERCHANT\", \"value\": \"%s\"}}\n", value);
	t0 = bench_now_ns();
	if (bench_write_all(a->fd, req, strlen(req)) != 0) {
		ssize_t got = recv(a->fd, reply, sizeof(reply) - 1, MSG_DONTWAIT);

		reply[got > 0 ? got : 0] = '\0';
		fprintf(stderr, "bench sync: add %s: the daemon closed the connection%s%s", value,
			got > 0 ? ": " : "\n", reply);
		return -1;
	}
	while (t_hit == 0 || t_rep == 0) {
		uint64_t now = bench_now_ns();

		if (now - t0 > BS_SAMPLE_TIMEOUT_NS || bs_interrupted)
			break;
		rg_table_reader_quiescent(t);
		if (t_hit == 0 && rg_table_lookup(t, &fp, NULL) == 0)
			t_hit = now;
		if (t_rep == 0) {
			int got = bench_ctl_reply_poll(a->fd, reply, sizeof(reply), &len);

			if (got < 0) {
				fprintf(stderr, "bench sync: add %s: connection lost\n", value);
				return -1;
			}
			if (got > 0) {
				if (!bench_ctl_reply_ok(reply)) {
					fprintf(stderr, "bench sync: add: %s", reply);
					return -1;
				}
				t_rep = now;
			}
		}
		if (t_hit == 0 || t_rep == 0)
			bench_sleep_ns(20000);
	}
	if (t_rep == 0) {
		if (!bs_interrupted)
			fprintf(stderr, "bench sync: add %s: no reply within %.0f s\n", value,
				(double)BS_SAMPLE_TIMEOUT_NS / 1e9);
		return -1;
	}
	*lat = t_hit ? t_hit - t0 : 0;
	*rep = t_rep - t0;
	return 0;
}

/* The three daemons in one topology: peers[i] of member i, up to 2 each. */
struct bs_topology {
	const char *name;
	unsigned nb_peers[3];
	unsigned peers[3][2];
};

static int bs_propagation(struct bs_run *r, const struct bs_topology *tp, unsigned round)
{
	struct bs_member *a = &r->m[BS_A], *c = &r->m[BS_C];
	uint64_t lat[BS_SAMPLES], rep[BS_SAMPLES], l0, r0;
	char key_path[BS_PATH_MAX + 8], err[256], value[64], extra[512];
	struct rg_fp_key *key;
	struct rg_table *t;
	unsigned n = 0, missed = 0;
	int rc = -1;

	for (unsigned i = 0; i < 3; i++)
		if (bs_configure(r, i, tp->peers[i], tp->nb_peers[i], 65536) != 0)
			return -1;
	fprintf(stderr, "bench sync: propagation %s: %u adds at bank-a, each until it is in "
		"bank-c's table\n", tp->name, BS_SAMPLES);
	for (unsigned i = 0; i < 3; i++)
		if (bs_start(&r->m[i], r->riskgated) != 0)
			return -1;
	snprintf(key_path, sizeof(key_path), "%s/fp.key", c->ledger);
	key = rg_fp_key_load(key_path, err, sizeof(err));
	if (key == NULL) {
		fprintf(stderr, "bench sync: %s\n", err);
		return -1;
	}
	t = rg_table_open_reader(c->table);
	if (t == NULL) {
		fprintf(stderr, "bench sync: %s: %s\n", c->table, strerror(errno));
		goto out_free_key;
	}
	/* the first add also waits for the peers' first polls and feeds */
	snprintf(value, sizeof(value), "SYNCWARM%u", round);
	if (bs_sample(a, t, key, value, &l0, &r0) != 0 || l0 == 0) {
		fprintf(stderr, "bench sync: propagation %s: the first add did not reach bank-c "
			"(see %s)\n", tp->name, c->log);
		goto out_close_table;
	}
	bench_sleep_ns(500000000ull);
	for (unsigned i = 0; i < BS_SAMPLES && !bs_interrupted; i++) {
		snprintf(value, sizeof(value), "SYNC%u-%05u", round, i);
		if (bs_sample(a, t, key, value, &lat[n], &rep[n]) != 0) {
			fprintf(stderr, "bench sync: propagation %s: add %u failed (see %s)\n",
				tp->name, i, a->log);
			goto out_close_table;
		}
		if (lat[n] == 0)
			missed++;
		else
			n++;
		/* the next add after this one has settled everywhere */
		bench_sleep_ns(5000000ull + (uint64_t)(i % 7) * 1000000ull);
	}
	if (n == 0 || bs_interrupted)
		goto out_close_table;
	qsort(lat, n, sizeof(lat[0]), cmp_u64);
	qsort(rep, n, sizeof(rep[0]), cmp_u64);
	snprintf(extra, sizeof(extra),
		 ", \"p50\": %.3f, \"p90\": %.3f, \"p99\": %.3f, \"max\": %.3f, "
		 "\"add_reply_p50\": %.3f, \"add_reply_p99\": %.3f, \"samples\": %u, "
		 "\"missed\": %u, \"target_p99\": 50, \"measured\": \"add written to bank-a's "
		 "control socket -> fingerprint in bank-c's table (reader handle polled about "
		 "every 0.1 ms)\"",
		 (double)lat[n / 2] / 1e6, (double)lat[n * 90 / 100] / 1e6,
		 (double)lat[n * 99 / 100] / 1e6, (double)lat[n - 1] / 1e6,
		 (double)rep[n / 2] / 1e6, (double)rep[n * 99 / 100] / 1e6, n, missed);
	{
		char case_name[64];

		snprintf(case_name, sizeof(case_name), "propagation_%s", tp->name);
		bench_result("sync", case_name, "ms", (double)lat[n * 99 / 100] / 1e6, NULL, 0, 0,
			     extra);
	}
	rc = 0;
out_close_table:
	rg_table_close(t);
out_free_key:
	rg_fp_key_free(key);
	return rc;
}

/* ---- CPU of sustained sync ---- */

/* bank-a (running) takes BS_FEED_IMPORTS imports through its control
 * socket, one a second; bank-b (running, bank-a its peer) follows. */
static int bs_sustained(struct bs_run *r)
{
	struct bs_member *a = &r->m[BS_A], *b = &r->m[BS_B];
	char file[BS_PATH_MAX], req[BS_PATH_MAX + 96], extra[768];
	uint64_t base, want, t0, t1;
	double ca0, cb0, ca1, cb1, idle_pct;
	long long ip0 = -1, ip1 = -1;
	struct bs_peers pa0, pa1, pb;
	unsigned k;

	for (k = 0; k < BS_FEED_IMPORTS; k++) {
		snprintf(file, sizeof(file), "%s/feed-%u.csv", r->dir, k);
		if (bench_write_list(file, (uint64_t)k * BS_FEED_ENTRIES, BS_FEED_ENTRIES,
				     r->o->seed) != 0)
			return -1;
	}
	/* bank-b's feed of bank-a's log is open once bank-a serves a feed */
	for (k = 0; k < 500 && !bs_interrupted; k++) {
		if (bs_peers(a, &pa0) != 0)
			return -1;
		if (pa0.feeds_open > 0)
			break;
		bench_sleep_ns(10000000ull);
	}
	if (bs_peers(b, &pb) != 0 || pa0.feeds_open == 0) {
		fprintf(stderr, "bench sync: sustained: bank-b opened no feed at bank-a\n");
		return -1;
	}
	base = pb.held;
	want = base + (uint64_t)BS_FEED_IMPORTS * BS_FEED_ENTRIES;
	fprintf(stderr, "bench sync: sustained: bank-b idle for 2 s, then %u imports of %u "
		"entries at bank-a, one a second\n", BS_FEED_IMPORTS, BS_FEED_ENTRIES);
	cb0 = bs_cpu_s(b->pid);
	bench_sleep_ns(2000000000ull);
	idle_pct = (bs_cpu_s(b->pid) - cb0) / 2.0 * 100;
	if (r->netns)
		ip0 = bs_ip_octets();
	ca0 = bs_cpu_s(a->pid);
	cb0 = bs_cpu_s(b->pid);
	t0 = bench_now_ns();
	for (k = 0; k < BS_FEED_IMPORTS && !bs_interrupted; k++) {
		uint64_t at = t0 + (uint64_t)k * 1000000000ull, now = bench_now_ns();
		json_t *res;

		if (now < at)
			bench_sleep_ns(at - now);
		snprintf(file, sizeof(file), "%s/feed-%u.csv", r->dir, k);
		snprintf(req, sizeof(req), "{\"cmd\": \"import\", \"args\": {\"path\": \"%s\"}}\n",
			 file);
		res = bs_request(a, req);
		if (res == NULL ||
		    json_integer_value(json_object_get(res, "imported")) != BS_FEED_ENTRIES) {
			fprintf(stderr, "bench sync: sustained: import %s failed\n", file);
			json_decref(res);
			return -1;
		}
		json_decref(res);
	}
	t1 = bs_wait_held(b, base, want, 60000000000ull, NULL);
	if (t1 == 0) {
		if (!bs_interrupted)
			fprintf(stderr, "bench sync: sustained: bank-b did not follow (see %s)\n",
				b->log);
		return -1;
	}
	ca1 = bs_cpu_s(a->pid);
	cb1 = bs_cpu_s(b->pid);
	if (r->netns)
		ip1 = bs_ip_octets();
	if (bs_peers(a, &pa1) != 0)
		return -1;
	{
		double s = (double)(t1 - t0) / 1e9, n = (double)(want - base), rate = n / s;
		double pct = (cb1 - cb0) / s * 100;
		int off = snprintf(extra, sizeof(extra),
				   ", \"entries\": %.0f, \"seconds\": %.3f, \"entries_per_s\": %.0f, "
				   "\"cpu_pct\": %.2f, \"idle_cpu_pct\": %.2f, "
				   "\"serving_cpu_pct\": %.2f, \"feed_bytes_per_entry\": %.2f",
				   n, s, rate, pct, idle_pct, (ca1 - ca0) / s * 100,
				   (double)(pa1.feed_bytes + pa1.bytes_out - pa0.feed_bytes -
					    pa0.bytes_out) / n);

		if (ip0 >= 0 && ip1 >= ip0)
			off += snprintf(extra + off, sizeof(extra) - (size_t)off,
					", \"wire_bytes_per_entry\": %.2f",
					(double)(ip1 - ip0) / n);
		snprintf(extra + off, sizeof(extra) - (size_t)off,
			 ", \"measured\": \"bank-b's utime + stime (/proc/PID/stat) from the first "
			 "import at bank-a until bank-b holds the last entry; serving_cpu_pct is "
			 "bank-a's, imports included\"");
		bench_result("sync", "cpu_per_1k_entries_s", "cpu_pct", pct / (rate / 1000), NULL,
			     0, 0, extra);
	}
	return 0;
}

/* ---- the suite ---- */

/* Stop every daemon of the current consortium and remove its table and
 * segment. */
static void bs_release(struct bs_run *r)
{
	for (unsigned i = 0; i < BS_MEMBERS; i++) {
		struct bs_member *m = &r->m[i];
		char next[BS_PATH_MAX + 8];

		bs_stop(m);
		if (m->table[0] == '\0')
			continue;
		snprintf(next, sizeof(next), "%s.next", m->table);
		unlink(next);
		unlink(m->table);
		unlink(m->seg);
	}
}

/* Sync ports for bank-a, bank-b and bank-c, distinct.  0 or -1. */
static int bs_ports(struct bs_run *r)
{
	for (unsigned i = 0; i < 3; i++) {
		unsigned tries = 0;

		do
			r->m[i].port = bs_free_port();
		while (r->m[i].port != 0 && ++tries < 100 &&
		       ((i > 0 && r->m[i].port == r->m[0].port) ||
			(i > 1 && r->m[i].port == r->m[1].port)));
		if (r->m[i].port == 0)
			return -1;
	}
	return 0;
}

static int bs_all(struct bs_run *r)
{
	static const struct bs_topology relay = {
		"relay", { 1, 2, 1 }, { { BS_B }, { BS_A, BS_C }, { BS_B } },
	};
	static const struct bs_topology direct = {
		"direct", { 1, 1, 1 }, { { BS_B }, { BS_A }, { BS_A } },
	};
	int rc = bs_catch_up(r);

	bs_release(r);
	if (rc != 0 || bs_interrupted || bs_consortium(r, "pr", 3) != 0 || bs_ports(r) != 0)
		return -1;
	rc = bs_propagation(r, &relay, 0);
	bs_release(r);
	if (rc != 0 || bs_interrupted)
		return -1;
	/* direct, then the sustained feed on bank-a and bank-b of that run */
	rc = bs_propagation(r, &direct, 1);
	bs_stop(&r->m[BS_C]);
	if (rc == 0 && !bs_interrupted)
		rc = bs_sustained(r);
	return rc == 0 && !bs_interrupted ? 0 : -1;
}

int bench_sync(const struct bench_opts *o)
{
	struct sigaction sa = { .sa_handler = bs_on_signal }, old[3];
	static const int sigs[3] = { SIGINT, SIGTERM, SIGHUP };
	struct group *g = getgrgid(getgid());
	void (*old_pipe)(int);
	struct bs_run r;
	int rc;

	memset(&r, 0, sizeof(r));
	r.o = o;
	r.nb_entries = o->nb_entries ? o->nb_entries : BS_ENTRIES_DEFAULT;
	for (unsigned i = 0; i < BS_MEMBERS; i++)
		r.m[i].fd = -1;
	if (bench_find_tool("control", "riskgated", r.riskgated, sizeof(r.riskgated)) != 0 ||
	    bench_find_tool("ledger", "riskgate-ledger", r.ledger_tool, sizeof(r.ledger_tool)) != 0) {
		fprintf(stderr, "bench sync: riskgated and riskgate-ledger not found next to "
			"riskgate-bench: skipped\n");
		return 0;
	}
	snprintf(r.admin_group, sizeof(r.admin_group), "%s", g != NULL ? g->gr_name : "");
	if (geteuid() != 0) {
		fprintf(stderr, "bench sync: not root: no network namespace of its own, so no wire "
			"bytes (HTTP bodies only)\n");
	} else if ((rc = bs_netns()) != 0) {
		fprintf(stderr, "bench sync: network namespace: %s\n", strerror(-rc));
		return 1;
	} else {
		r.netns = true;
		fprintf(stderr, "bench sync: running in a network namespace of its own (its "
			"loopback carries the sync traffic alone)\n");
	}
	if ((size_t)snprintf(r.dir, sizeof(r.dir), "%s/rgbs-%d", o->workdir ? o->workdir : "/tmp",
			     (int)getpid()) >= sizeof(r.dir)) {
		fprintf(stderr, "bench sync: --workdir too long for a socket path\n");
		return 1;
	}
	if (mkdir(r.dir, 0700) != 0) {
		fprintf(stderr, "bench sync: %s: %s\n", r.dir, strerror(errno));
		return 1;
	}
	snprintf(r.tool_log, sizeof(r.tool_log), "%s/tool.log", r.dir);
	sigemptyset(&sa.sa_mask);
	for (unsigned i = 0; i < 3; i++)
		sigaction(sigs[i], &sa, &old[i]);
	/* a daemon that closes a control connection is an error to report */
	old_pipe = signal(SIGPIPE, SIG_IGN);
	rc = bs_all(&r);
	for (unsigned i = 0; rc != 0 && !bs_interrupted && i < BS_MEMBERS; i++) {
		int status;

		if (r.m[i].pid <= 0)
			continue;
		if (waitpid(r.m[i].pid, &status, WNOHANG) == r.m[i].pid) {
			fprintf(stderr, "bench sync: %s's riskgated ended: %s %d\n", bs_names[i],
				WIFSIGNALED(status) ? "signal" : "exit status",
				WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
			r.m[i].pid = 0;
		}
		fprintf(stderr, "bench sync: %s's riskgated (%s):\n", bs_names[i], r.m[i].log);
		bs_log_tail(r.m[i].log);
	}
	bs_release(&r);
	bench_rmtree(r.dir);
	signal(SIGPIPE, old_pipe);
	for (unsigned i = 0; i < 3; i++)
		sigaction(sigs[i], &old[i], NULL);
	if (bs_interrupted)
		fprintf(stderr, "bench sync: interrupted; daemons stopped, %s removed\n", r.dir);
	return rc;
}
