/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * riskgate-bench ctl: the control plane.
 *
 *   apply       ledger -> table: ADD entries through the daemon's mirror
 *               (control/sync.c) into a fresh table, committed in batches
 *               of 4096 as blocks would be, in entries per second (target
 *               >= 1M);
 *   revoke      the same entries revoked;
 *   stats_10_clients
 *               control socket requests per second for `stats`: ten
 *               connections to a running riskgated, each with one request
 *               outstanding (send, read the reply, send again), driven from
 *               one poll loop for a fixed window;
 *   add_to_hit  `add` -> dataplane hit latency, p99 in ms (target <= 10):
 *               riskgated and riskgate-dp share the segment and the table
 *               (the dataplane replays a generated capture in a loop,
 *               net_pcap infinite_rx -> net_null, as the dp suite does);
 *               the clock starts when the add request is written to the
 *               socket and stops when the dataplane's table-hit counter
 *               (RG_CTR_TABLE_HITS, summed over the segment) moves; the
 *               card is then revoked and the counter left to settle before
 *               the next round.  Only this card is ever in the table.
 *
 * The apply ledger is a fresh one-member directory under workdir; its table
 * is an ordinary shared file in /dev/shm so the figure does not depend on
 * huge pages being free.  The live cases need riskgated and riskgate-dp
 * next to riskgate-bench (build tree or install) and a writable
 * /dev/hugepages; they are skipped, with a note on stderr, otherwise.
 * Everything they create (work directory, table and segment files, child
 * processes) is removed on every exit path.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "bench.h"
#include "common/segment.h"
#include "control/ctl.h"
#include "perf/gen/gen.h"

#define BC_CLIENTS 10         /* concurrent control socket clients */
#define BC_STATS_SECS 3.0     /* stats window */
#define BC_LAT_ROUNDS 200     /* add -> hit samples */
#define BC_LAT_TIMEOUT_NS 2000000000ull
#define BC_REPLY_MAX 65536    /* bytes of one reply line (CTL_LINE_MAX) */

/* A one-member ledger directory (identity, fingerprint key, genesis) at dir. */
static int bc_ledger_init(const char *dir, char *err, size_t cap)
{
	char path[PATH_MAX + 32];
	struct ledger_member me;

	if (mkdir(dir, 0700) != 0) {
		snprintf(err, cap, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (ledger_identity_generate(dir, "bench", err, cap) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/fp.key", dir);
	if (rg_fp_key_generate(path, 1, err, cap) != 0 || ledger_pub_load(dir, &me, err, cap) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/genesis.json", dir);
	return ledger_genesis_write(path, "bench", &me, 1, err, cap) != 0 ? -1 : 0;
}

static int bc_apply(const struct bench_opts *o)
{
	char dir[512], table[128], err[512] = "";
	struct ctl_sync *s;
	struct ledger *l;
	struct ledger_entry *e;
	const unsigned batch = 4096;
	unsigned n = o->nb_msgs >= 100000 ? o->nb_msgs : 1000000;
	uint64_t t0, t1;
	int rc = 1;

	if (sodium_init() < 0)
		return 1;
	snprintf(dir, sizeof(dir), "%s/bench-ctl-%d", o->workdir ? o->workdir : "/tmp", getpid());
	snprintf(table, sizeof(table), "/dev/shm/bench-ctl-%d.table", getpid());
	if (bc_ledger_init(dir, err, sizeof(err)) != 0)
		goto out_rm;
	l = ledger_open(dir, LEDGER_OPEN_WRITE, err, sizeof(err));
	if (l == NULL)
		goto out_rm;
	ctl_log_set_level(CTL_LOG_WARN);
	s = ctl_sync_open(l, table, 1024, err, sizeof(err));
	e = calloc(n, sizeof(*e));
	if (s == NULL || e == NULL) {
		fprintf(stderr, "bench ctl: %s\n", s == NULL ? err : strerror(ENOMEM));
		free(e);
		ctl_sync_close(s);
		ledger_close(l);
		goto out_rm;
	}
	for (unsigned i = 0; i < n; i++) {
		uint64_t seed[2] = { o->seed, i };

		crypto_generichash(e[i].fp.b, RG_FP_BYTES, (const unsigned char *)seed, sizeof(seed),
				   NULL, 0);
		e[i].op = LEDGER_OP_ADD;
		e[i].list = (uint8_t)(i % 4);
		e[i].kind = 1;
		e[i].action = 1;
	}
	t0 = bench_now_ns();
	for (unsigned i = 0; i < n; i += batch)
		if (ctl_sync_apply(s, 0, i, e + i, n - i < batch ? n - i : batch) != 0)
			goto out_free;
	t1 = bench_now_ns();
	{
		char extra[96];
		struct rg_table_stats ts;

		rg_table_stats(ctl_sync_table(s), &ts);
		snprintf(extra, sizeof(extra), ", \"entries\": %u, \"table_count\": %llu, \"batch\": %u",
			 n, (unsigned long long)ts.count, batch);
		bench_result("ctl", "apply", "entries_per_s", (double)n * 1e9 / (double)(t1 - t0),
			     NULL, 0, 0, extra);
	}
	for (unsigned i = 0; i < n; i++)
		e[i].op = LEDGER_OP_REVOKE;
	t0 = bench_now_ns();
	for (unsigned i = 0; i < n; i += batch)
		if (ctl_sync_apply(s, 0, n + i, e + i, n - i < batch ? n - i : batch) != 0)
			goto out_free;
	t1 = bench_now_ns();
	bench_result("ctl", "revoke", "entries_per_s", (double)n * 1e9 / (double)(t1 - t0), NULL, 0,
		     0, "");
	rc = 0;
out_free:
	free(e);
	ctl_sync_close(s);
	ledger_close(l);
out_rm:
	unlink(table);
	bench_rmtree(dir);
	if (rc != 0)
		fprintf(stderr, "bench ctl: failed: %s\n", err);
	return rc;
}

/* ---- live cases: riskgated + riskgate-dp ---- */

/* Paths of the live run: short, as the daemon's configuration wants them
 * (CTL_PATH_MAX) and a Unix socket address needs. */
#define BC_DIR_MAX 96
#define BC_PATH_MAX 128

struct bc_live {
	char dir[BC_DIR_MAX];
	char ledger[BC_PATH_MAX], sock[BC_PATH_MAX], cap[BC_PATH_MAX];
	char lists[BC_PATH_MAX], dconf[BC_PATH_MAX], pconf[BC_PATH_MAX];
	char dlog[BC_PATH_MAX], plog[BC_PATH_MAX];
	char table[BC_PATH_MAX], seg[BC_PATH_MAX];
	char riskgated[PATH_MAX], dp[PATH_MAX];
	char list[64], kind[16], value[128]; /* the card added and revoked */
	pid_t daemon_pid, dp_pid;
	uint64_t nb_packets;
};

/* riskgated and riskgate-dp next to this binary: build tree, then install. */
static int bc_find_bins(struct bc_live *r)
{
	int rc = bench_find_tool("control", "riskgated", r->riskgated, sizeof(r->riskgated));

	if (rc == 0)
		rc = bench_find_tool("dataplane", "riskgate-dp", r->dp, sizeof(r->dp));
	return rc;
}

/* The capture and its list file; the first listed PAN becomes the card. */
static int bc_capture(struct bc_live *r, const struct bench_opts *o, char *err, size_t cap)
{
	struct gen_cfg g;
	struct gen_stats gs;
	char line[512];
	FILE *f;

	gen_cfg_default(&g);
	g.out = r->cap;
	g.lists = r->lists;
	g.nb_flows = 16;
	g.nb_messages = 400; /* a short loop: the card comes round often */
	g.seed = o->seed;
	g.hit_rate = 0.25;
	g.list_size = 0;
	g.seg = GEN_SEG_WHOLE;
	if (gen_run_stats(&g, &gs, err, cap) != 0)
		return -1;
	r->nb_packets = gs.nb_packets;
	f = fopen(r->lists, "r");
	if (f == NULL) {
		snprintf(err, cap, "%s: %s", r->lists, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char *list = strtok(line, ","), *kind = strtok(NULL, ","), *val = strtok(NULL, ",\r\n");

		if (list && kind && val && strcmp(kind, "PAN") == 0 &&
		    strcmp(list, "txn_fraud") == 0) {
			snprintf(r->list, sizeof(r->list), "%s", list);
			snprintf(r->kind, sizeof(r->kind), "%s", kind);
			snprintf(r->value, sizeof(r->value), "%s", val);
			break;
		}
	}
	fclose(f);
	if (r->value[0] == '\0') {
		snprintf(err, cap, "%s: no txn_fraud PAN", r->lists);
		return -1;
	}
	return 0;
}

/* riskgated, then riskgate-dp on the same segment and table, then traffic. */
static int bc_start(struct bc_live *r, char *err, size_t cap)
{
	char text[8 * BC_PATH_MAX], prefix[64], vdev[BC_PATH_MAX + 64], buf[512];
	char *dargv[] = { r->riskgated, "--config", r->dconf, NULL };
	char *pargv[] = {
		r->dp, "-l", "1", "--in-memory", "--no-pci", prefix, "--log-level=lib.*:warning",
		vdev, "--vdev=net_null0,no-rx=1", "--", "--config", r->pconf, NULL,
	};
	struct rg_segment *seg = NULL;
	uint64_t m0 = 0;
	int fd = -1;

	snprintf(text, sizeof(text),
		 "ledger = \"%s\";\nsocket = \"%s\";\nsegment = \"%s\";\ntable = \"%s\";\n"
		 "table_capacity = 4096;\nevents = \"\";\nmetrics = \"\";\nstale_after_sec = 0;\n"
		 "log_level = \"warn\";\nlists = { txn_fraud = \"monitor\"; };\n",
		 r->ledger, r->sock, r->seg, r->table);
	if (bench_write_file(r->dconf, text) != 0)
		goto out_err;
	snprintf(text, sizeof(text),
		 "ports = ( { a = \"net_pcap0\"; b = \"net_null0\"; } );\n"
		 "services = ( { port = 5000; dialect = \"ascii87\"; framing = \"len2\"; } );\n"
		 "table = \"%s\";\nsegment = \"%s\";\nkey = \"%s/fp.key\";\n", r->table, r->seg,
		 r->ledger);
	if (bench_write_file(r->pconf, text) != 0)
		goto out_err;
	r->daemon_pid = bench_spawn(dargv, r->dlog);
	if (r->daemon_pid < 0)
		goto out_err;
	for (int i = 0; i < 100 && fd < 0; i++) {
		bench_sleep_ns(100000000ull);
		fd = bench_ctl_connect(r->sock);
	}
	if (fd < 0) {
		snprintf(err, cap, "riskgated did not come up (see %s)", r->dlog);
		return -1;
	}
	close(fd);
	snprintf(prefix, sizeof(prefix), "--file-prefix=rgbcdp%d", (int)getpid());
	snprintf(vdev, sizeof(vdev), "--vdev=net_pcap0,rx_pcap=%s,infinite_rx=1", r->cap);
	r->dp_pid = bench_spawn(pargv, r->plog);
	if (r->dp_pid < 0)
		goto out_err;
	/* the dataplane takes the segment over; wait for its counters to move */
	for (int i = 0; i < 200; i++) {
		bench_sleep_ns(50000000ull);
		if (seg == NULL) {
			seg = rg_segment_attach(r->seg, buf, sizeof(buf));
			if (seg != NULL && rg_segment_header(seg)->dp_pid != (uint64_t)r->dp_pid) {
				rg_segment_close(seg);
				seg = NULL;
			}
			if (seg != NULL)
				m0 = rg_segment_sum(seg, RG_CTR_MESSAGES);
			continue;
		}
		if (rg_segment_sum(seg, RG_CTR_MESSAGES) > m0 + 1000)
			break;
	}
	if (seg == NULL || rg_segment_sum(seg, RG_CTR_MESSAGES) <= m0 + 1000) {
		snprintf(err, cap, "riskgate-dp did not start screening (see %s)", r->plog);
		rg_segment_close(seg);
		return -1;
	}
	rg_segment_close(seg);
	/* riskgated checks the segment once a second: let it reattach and push its policy */
	bench_sleep_ns(1500000000ull);
	return 0;
out_err:
	snprintf(err, cap, "start: %s", strerror(errno));
	return -1;
}

/* stats from BC_CLIENTS connections, one request in flight on each. */
static int bc_stats_rate(struct bc_live *r)
{
	static const char req[] = "{\"cmd\": \"stats\"}\n";
	struct pollfd pfd[BC_CLIENTS];
	char *buf[BC_CLIENTS] = { NULL };
	size_t len[BC_CLIENTS] = { 0 };
	uint64_t nb_replies = 0, nb_errors = 0, t0, t1 = 0, end;
	int rc = -1;

	for (unsigned i = 0; i < BC_CLIENTS; i++)
		pfd[i].fd = -1;
	for (unsigned i = 0; i < BC_CLIENTS; i++) {
		pfd[i].fd = bench_ctl_connect(r->sock);
		pfd[i].events = POLLIN;
		buf[i] = malloc(BC_REPLY_MAX);
		if (pfd[i].fd < 0 || buf[i] == NULL)
			goto out_close;
	}
	t0 = bench_now_ns();
	end = t0 + (uint64_t)(BC_STATS_SECS * 1e9);
	for (unsigned i = 0; i < BC_CLIENTS; i++)
		if (bench_write_all(pfd[i].fd, req, sizeof(req) - 1) != 0)
			goto out_close;
	while ((t1 = bench_now_ns()) < end) {
		int n = poll(pfd, BC_CLIENTS, 100);

		if (n < 0 && errno != EINTR)
			goto out_close;
		for (unsigned i = 0; i < BC_CLIENTS && n > 0; i++) {
			ssize_t got;
			char *nl;

			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			got = read(pfd[i].fd, buf[i] + len[i], BC_REPLY_MAX - len[i]);
			if (got <= 0)
				goto out_close;
			len[i] += (size_t)got;
			while ((nl = memchr(buf[i], '\n', len[i])) != NULL) {
				size_t line = (size_t)(nl - buf[i]) + 1;

				if (memmem(buf[i], line, "\"ok\":true", 9) != NULL ||
				    memmem(buf[i], line, "\"ok\": true", 10) != NULL)
					nb_replies++;
				else
					nb_errors++;
				memmove(buf[i], buf[i] + line, len[i] - line);
				len[i] -= line;
				if (bench_write_all(pfd[i].fd, req, sizeof(req) - 1) != 0)
					goto out_close;
			}
			if (len[i] == BC_REPLY_MAX)
				goto out_close;
		}
	}
	{
		char extra[160];

		snprintf(extra, sizeof(extra),
			 ", \"clients\": %u, \"replies\": %llu, \"errors\": %llu, \"secs\": %.1f",
			 BC_CLIENTS, (unsigned long long)nb_replies, (unsigned long long)nb_errors,
			 (double)(t1 - t0) / 1e9);
		bench_result("ctl", "stats_10_clients", "requests_per_s",
			     (double)nb_replies * 1e9 / (double)(t1 - t0), NULL, 0, 0, extra);
	}
	rc = nb_errors == 0 && nb_replies > 0 ? 0 : -1;
out_close:
	for (unsigned i = 0; i < BC_CLIENTS; i++) {
		if (pfd[i].fd >= 0)
			close(pfd[i].fd);
		free(buf[i]);
	}
	if (rc != 0)
		fprintf(stderr, "bench ctl: stats clients failed (see %s)\n", r->dlog);
	return rc;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Wait until the table-hit counter stops moving (a revoke reached the
 * dataplane); at most a second. */
static void bc_settle(const struct rg_segment *seg)
{
	uint64_t h = rg_segment_sum(seg, RG_CTR_TABLE_HITS);

	for (int i = 0; i < 100; i++) {
		uint64_t h2;

		bench_sleep_ns(10000000ull);
		h2 = rg_segment_sum(seg, RG_CTR_TABLE_HITS);
		if (h2 == h)
			return;
		h = h2;
	}
}

/* add -> first dataplane table hit, BC_LAT_ROUNDS times. */
static int bc_add_latency(struct bc_live *r)
{
	char add[512], revoke[512], reply[BC_REPLY_MAX], err[256], extra[320];
	uint64_t lat[BC_LAT_ROUNDS], rep[BC_LAT_ROUNDS], p0, p1, tp0, tp1;
	struct rg_segment *seg;
	unsigned n = 0, missed = 0;
	int fd, rc = -1;

	seg = rg_segment_attach(r->seg, err, sizeof(err));
	if (seg == NULL) {
		fprintf(stderr, "bench ctl: %s\n", err);
		return -1;
	}
	fd = bench_ctl_connect(r->sock);
	if (fd < 0)
		goto out_seg;
	snprintf(add, sizeof(add),
		 "{\"cmd\": \"add\", \"args\": {\"list\": \"%s\", \"kind\": \"%s\", \"value\": \"%s\"}}\n",
		 r->list, r->kind, r->value);
	snprintf(revoke, sizeof(revoke),
		 "{\"cmd\": \"revoke\", \"args\": {\"list\": \"%s\", \"kind\": \"%s\", \"value\": \"%s\"}}\n",
		 r->list, r->kind, r->value);
	bc_settle(seg);
	p0 = rg_segment_sum(seg, RG_CTR_RX_PKTS);
	tp0 = bench_now_ns();
	for (unsigned i = 0; i < BC_LAT_ROUNDS; i++) {
		uint64_t h0 = rg_segment_sum(seg, RG_CTR_TABLE_HITS);
		uint64_t t0 = bench_now_ns(), t_hit = 0, t_rep = 0;
		size_t len = 0;

		if (bench_write_all(fd, add, strlen(add)) != 0)
			goto out_close;
		/* the reply and the hit race: watch both */
		while (t_hit == 0 || t_rep == 0) {
			uint64_t now = bench_now_ns();

			if (now - t0 > BC_LAT_TIMEOUT_NS)
				break;
			if (t_hit == 0 && rg_segment_sum(seg, RG_CTR_TABLE_HITS) != h0)
				t_hit = now;
			if (t_rep == 0) {
				int got = bench_ctl_reply_poll(fd, reply, sizeof(reply), &len);

				if (got < 0)
					goto out_close;
				if (got > 0) {
					t_rep = now;
					if (!bench_ctl_reply_ok(reply)) {
						fprintf(stderr, "bench ctl: add: %s", reply);
						goto out_close;
					}
				}
			}
			if (t_hit == 0 || t_rep == 0)
				bench_sleep_ns(20000);
		}
		if (t_rep == 0)
			goto out_close;
		if (t_hit == 0)
			missed++;
		else
			lat[n] = t_hit - t0, rep[n++] = t_rep - t0;
		if (bench_ctl_call(fd, revoke, reply, sizeof(reply)) != 0) {
			fprintf(stderr, "bench ctl: revoke: %s", reply);
			goto out_close;
		}
		bc_settle(seg);
	}
	p1 = rg_segment_sum(seg, RG_CTR_RX_PKTS);
	tp1 = bench_now_ns();
	if (n == 0)
		goto out_close;
	qsort(lat, n, sizeof(lat[0]), cmp_u64);
	qsort(rep, n, sizeof(rep[0]), cmp_u64);
	{
		double pps = (double)(p1 - p0) * 1e9 / (double)(tp1 - tp0);

		snprintf(extra, sizeof(extra),
			 ", \"p50\": %.3f, \"p99\": %.3f, \"max\": %.3f, \"reply_p50\": %.3f, "
			 "\"reply_p99\": %.3f, \"samples\": %u, \"missed\": %u, "
			 "\"capture_pkts\": %llu, \"dp_pkts_per_s\": %.0f, "
			 "\"measured\": \"dataplane table-hit counter, looping capture\"",
			 (double)lat[n / 2] / 1e6, (double)lat[(n * 99) / 100] / 1e6,
			 (double)lat[n - 1] / 1e6, (double)rep[n / 2] / 1e6,
			 (double)rep[(n * 99) / 100] / 1e6, n, missed,
			 (unsigned long long)r->nb_packets, pps);
	}
	bench_result("ctl", "add_to_hit", "ms", (double)lat[(n * 99) / 100] / 1e6, NULL, 0, 0,
		     extra);
	rc = 0;
out_close:
	close(fd);
out_seg:
	rg_segment_close(seg);
	if (rc != 0)
		fprintf(stderr, "bench ctl: add -> hit failed (see %s, %s)\n", r->dlog, r->plog);
	return rc;
}

static int bc_live(const struct bench_opts *o)
{
	struct bc_live r;
	char err[512] = "";
	int rc = -1;

	memset(&r, 0, sizeof(r));
	if (bc_find_bins(&r) != 0) {
		fprintf(stderr, "bench ctl: riskgated and riskgate-dp not found next to "
			"riskgate-bench: live cases skipped\n");
		return 0;
	}
	if (access("/dev/hugepages", W_OK) != 0) {
		fprintf(stderr, "bench ctl: /dev/hugepages is not writable (RG_HUGEPAGES=1024 "
			"scripts/hugepages.sh as root): live cases skipped\n");
		return 0;
	}
	if ((size_t)snprintf(r.dir, sizeof(r.dir), "%s/bench-ctl-live-%d",
			     o->workdir ? o->workdir : "/tmp", (int)getpid()) >= sizeof(r.dir)) {
		fprintf(stderr, "bench ctl: --workdir too long for a socket path\n");
		return -1;
	}
	if (mkdir(r.dir, 0700) != 0) {
		fprintf(stderr, "bench ctl: %s: %s\n", r.dir, strerror(errno));
		return -1;
	}
	snprintf(r.ledger, sizeof(r.ledger), "%s/ledger", r.dir);
	snprintf(r.sock, sizeof(r.sock), "%s/ctl.sock", r.dir);
	snprintf(r.cap, sizeof(r.cap), "%s/cap.pcap", r.dir);
	snprintf(r.lists, sizeof(r.lists), "%s/lists.csv", r.dir);
	snprintf(r.dconf, sizeof(r.dconf), "%s/riskgated.cfg", r.dir);
	snprintf(r.pconf, sizeof(r.pconf), "%s/dp.cfg", r.dir);
	snprintf(r.dlog, sizeof(r.dlog), "%s/riskgated.log", r.dir);
	snprintf(r.plog, sizeof(r.plog), "%s/dp.log", r.dir);
	snprintf(r.table, sizeof(r.table), "/dev/hugepages/bench-ctl-%d.table", (int)getpid());
	snprintf(r.seg, sizeof(r.seg), "/dev/hugepages/bench-ctl-%d.seg", (int)getpid());
	if (bc_ledger_init(r.ledger, err, sizeof(err)) != 0 ||
	    bc_capture(&r, o, err, sizeof(err)) != 0 || bc_start(&r, err, sizeof(err)) != 0) {
		fprintf(stderr, "bench ctl: %s\n", err);
		goto out_stop;
	}
	if (bc_stats_rate(&r) != 0 || bc_add_latency(&r) != 0)
		goto out_stop;
	rc = 0;
out_stop:
	bench_stop(r.dp_pid, SIGTERM);
	bench_stop(r.daemon_pid, SIGTERM);
	if (rc != 0 && r.dlog[0]) {
		char line[512];
		FILE *f = fopen(r.dlog, "r");

		while (f != NULL && fgets(line, sizeof(line), f))
			fprintf(stderr, "riskgated: %s", line);
		if (f != NULL)
			fclose(f);
	}
	unlink(r.table);
	unlink(r.seg);
	{
		char next[BC_PATH_MAX + 8];

		snprintf(next, sizeof(next), "%s.next", r.table);
		unlink(next);
	}
	bench_rmtree(r.dir);
	{
		/* EAL's runtime directory, left even by --in-memory */
		char run[64];

		snprintf(run, sizeof(run), "/var/run/dpdk/rgbcdp%d", (int)getpid());
		bench_rmtree(run);
	}
	return rc;
}

int bench_ctl(const struct bench_opts *o)
{
	int rc = bc_apply(o);

	if (bc_live(o) != 0)
		rc = 1;
	return rc;
}
