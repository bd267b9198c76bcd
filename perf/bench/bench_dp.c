/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * riskgate-bench dp: the dataplane against pure forwarding, in one run, on
 * the same set-up and the same capture.
 *
 * Set-up: a net_pcap vdev with infinite_rx=1 replaying a generated capture
 * (256 flows, several messages per segment, ~360-byte frames) into a
 * net_null vdev that receives nothing (no-rx=1), one forwarding lcore
 * (lcore 1), memory in huge pages (--in-memory).  First dpdk-testpmd in io
 * mode (packets/s from its periodic port statistics), then riskgate-dp
 * screening against a table of 10M random entries plus the capture's list
 * entries (packets/s from the segment's counters over a window after a
 * warm-up), then riskgate-dp-prof (the same fast path with TSC stage
 * counters) for ns per packet per stage and the per-packet latency from
 * rx to tx.  Each process runs a few seconds; the whole suite stays under
 * two minutes, most of it building the table.
 *
 * Needs huge pages (the table takes ~300 MB): RG_HUGEPAGES=1024
 * scripts/hugepages.sh.  Everything it creates (work directory, table
 * file, child processes) is removed on every exit path.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "common/fp.h"
#include "common/ident.h"
#include "common/lists.h"
#include "common/segment.h"
#include "common/table.h"
#include "perf/gen/gen.h"

#define BD_TABLE_KEYS 10000000ull
#define BD_TESTPMD_SECS 6
#define BD_WARMUP_SECS 2
#define BD_WINDOW_SECS 4
#define BD_PORT 5000

struct bd_run {
	char dir[PATH_MAX];
	char cap[PATH_MAX + 16], lists[PATH_MAX + 16], key[PATH_MAX + 16];
	char conf[PATH_MAX + 16], seg[PATH_MAX + 16], log[PATH_MAX + 16];
	char table[PATH_MAX];
	char dp[PATH_MAX], dp_prof[PATH_MAX];
	uint64_t nb_packets, nb_messages;
};

static void bd_sleep(double s)
{
	bench_sleep_ns((uint64_t)(s * 1e9));
}

/* riskgate-dp and its profiling build, next to this binary in the build
 * tree or installed beside it. */
static int bd_find_dp(struct bd_run *r)
{
	int rc = bench_find_tool("dataplane", "riskgate-dp", r->dp, sizeof(r->dp));

	if (rc == 0)
		rc = bench_find_tool("dataplane", "riskgate-dp-prof", r->dp_prof,
				     sizeof(r->dp_prof));
	return rc;
}

static uint64_t bd_rnd_state;

static uint64_t bd_rnd(void)
{
	uint64_t z = (bd_rnd_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* The list CSV (list,kind,value,...) into the table, as riskgate-ledger would. */
static long bd_load_lists(struct rg_table *t, const struct rg_fp_key *key, const char *path)
{
	char line[1024];
	long rows = 0;
	FILE *fp = fopen(path, "r");

	if (fp == NULL)
		return -errno;
	while (fgets(line, sizeof(line), fp)) {
		char *list = strtok(line, ","), *kind = strtok(NULL, ","), *val = strtok(NULL, ",\r\n");
		char norm[RG_IDENT_MAX_LEN];
		struct rg_table_val v = { 0 };
		struct rg_fp fpr;
		int l, k, n;

		if (list == NULL || kind == NULL || val == NULL)
			continue;
		l = rg_list_std_id(list);
		k = rg_kind_from_name(kind);
		if (l < 0 || k == RG_KIND_NONE)
			continue; /* the header */
		n = rg_ident_normalise((unsigned)k, val, strlen(val), norm);
		if (n <= 0)
			continue;
		rg_fp_compute(key, (unsigned)k, norm, (size_t)n, &fpr);
		if (rg_table_lookup(t, &fpr, &v) != 0)
			memset(&v, 0, sizeof(v));
		v.lists |= (uint16_t)(1u << l);
		v.contributor = 1;
		v.action = 1;
		if (rg_table_upsert(t, &fpr, v) != 0)
			break;
		rows++;
	}
	fclose(fp);
	return rows;
}

static int bd_build_table(struct bd_run *r, const struct bench_opts *o)
{
	struct rg_table_opts to = { .replace = true, .quiet = true };
	struct rg_table_stats st;
	struct rg_fp_key *key;
	struct rg_table *t;
	char err[256];
	uint64_t t0 = bench_now_ns(), fails = 0;
	long rows;

	if (rg_fp_key_generate(r->key, 1, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench dp: key: %s\n", err);
		return -1;
	}
	key = rg_fp_key_load(r->key, err, sizeof(err));
	if (key == NULL) {
		fprintf(stderr, "bench dp: key: %s\n", err);
		return -1;
	}
	t = rg_table_create(r->table, BD_TABLE_KEYS + 100000, &to);
	if (t == NULL) {
		fprintf(stderr, "bench dp: table %s: %s\n", r->table, strerror(errno));
		rg_fp_key_free(key);
		return -1;
	}
	bd_rnd_state = o->seed;
	for (uint64_t i = 0; i < BD_TABLE_KEYS; i++) {
		struct rg_fp fp;
		struct rg_table_val v = { .lists = (uint16_t)(1u << (bd_rnd() & 3)), .action = 1 };
		uint64_t a = bd_rnd(), b = bd_rnd();

		memcpy(fp.b, &a, 8);
		memcpy(fp.b + 8, &b, 8);
		fails += rg_table_insert(t, &fp, v) != 0;
	}
	rows = bd_load_lists(t, key, r->lists);
	rg_table_stats(t, &st);
	fprintf(stderr, "bench dp: table %s: %llu entries (%ld list rows, %llu inserts refused), "
		"%s, built in %.1f s\n", r->table, (unsigned long long)st.count, rows,
		(unsigned long long)fails, st.hugetlb ? "huge pages" : "NOT in huge pages",
		(double)(bench_now_ns() - t0) / 1e9);
	rg_table_close(t);
	rg_fp_key_free(key);
	return rows > 0 ? 0 : -1;
}

/* Start argv with stdout and stderr into log; returns the pid or -1. */
/* testpmd io forwarding: median of port 1's Tx-pps over the later samples. */
static double bd_testpmd(struct bd_run *r)
{
	char vdev0[PATH_MAX + 64], prefix[64];
	char *argv[] = {
		"/usr/bin/dpdk-testpmd", "-l", "0,1", "--in-memory", "--no-pci", prefix,
		"--log-level=lib.*:warning", vdev0, "--vdev=net_null0,no-rx=1", "--",
		"--forward-mode=io", "--nb-cores=1", "--rxq=1", "--txq=1", "--burst=32",
		"--total-num-mbufs=65536", "--stats-period=1", "--auto-start", NULL,
	};
	double v[64];
	unsigned nv = 0, port = 0;
	char line[512];
	FILE *f;
	pid_t pid;

	snprintf(prefix, sizeof(prefix), "--file-prefix=rgbdtp%d", (int)getpid());
	snprintf(vdev0, sizeof(vdev0), "--vdev=net_pcap0,rx_pcap=%s,infinite_rx=1", r->cap);
	snprintf(r->log, sizeof(r->log), "%s/testpmd.log", r->dir);
	if (access(argv[0], X_OK) != 0) {
		fprintf(stderr, "bench dp: %s not found (package dpdk): no peer\n", argv[0]);
		return 0;
	}
	pid = bench_spawn(argv, r->log);
	if (pid < 0)
		return 0;
	bd_sleep(BD_TESTPMD_SECS);
	bench_stop(pid, SIGINT);
	f = fopen(r->log, "r");
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char *p;

		if ((p = strstr(line, "NIC statistics for port ")) != NULL)
			port = (unsigned)atoi(p + strlen("NIC statistics for port "));
		if (port == 1 && (p = strstr(line, "Tx-pps:")) != NULL && nv < 64)
			v[nv++] = strtod(p + 7, NULL);
	}
	fclose(f);
	if (nv < 3) {
		fprintf(stderr, "bench dp: testpmd gave %u samples (see %s)\n", nv, r->log);
		return 0;
	}
	/* the first samples include start-up */
	return bench_median(v + 2, nv - 2);
}

static int bd_write_conf(struct bd_run *r)
{
	FILE *f = fopen(r->conf, "w");

	if (f == NULL)
		return -errno;
	fprintf(f, "ports = ( { a = \"net_pcap0\"; b = \"net_null0\"; } );\n"
		   "services = ( { port = %u; dialect = \"ascii87\"; framing = \"len2\"; } );\n"
		   "table = \"%s\";\nsegment = \"%s\";\nsegment_hugetlb = false;\nkey = \"%s\";\n"
		   "mbufs = 65535;\nflows = 16384;\n", BD_PORT, r->table, r->seg, r->key);
	return fclose(f) == 0 ? 0 : -errno;
}

struct bd_dp_result {
	double pps, msgs_per_s;
	char prof[2048]; /* the prof JSON line, or "" */
};

/* One riskgate-dp run: rates from the segment counters over the window. */
static int bd_dp(struct bd_run *r, const char *exe, struct bd_dp_result *res)
{
	char vdev0[PATH_MAX + 64], prefix[64], err[256], line[2048];
	char *argv[] = {
		(char *)exe, "-l", "1", "--in-memory", "--no-pci", prefix,
		"--log-level=lib.*:warning", vdev0, "--vdev=net_null0,no-rx=1", "--", "--config",
		r->conf, NULL,
	};
	struct rg_segment *seg = NULL;
	uint64_t p0, m0, p1, m1, t0, t1;
	FILE *f;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	snprintf(prefix, sizeof(prefix), "--file-prefix=rgbddp%d", (int)getpid());
	snprintf(vdev0, sizeof(vdev0), "--vdev=net_pcap0,rx_pcap=%s,infinite_rx=1", r->cap);
	snprintf(r->log, sizeof(r->log), "%s/dp.log", r->dir);
	unlink(r->seg);
	pid = bench_spawn(argv, r->log);
	if (pid < 0)
		return -1;
	for (int i = 0; i < 100 && seg == NULL; i++) {
		bd_sleep(0.1);
		if (access(r->seg, R_OK) == 0)
			seg = rg_segment_attach(r->seg, err, sizeof(err));
	}
	if (seg == NULL) {
		fprintf(stderr, "bench dp: %s did not start (see %s)\n", exe, r->log);
		bench_stop(pid, SIGKILL);
		return -1;
	}
	bd_sleep(BD_WARMUP_SECS);
	t0 = bench_now_ns();
	p0 = rg_segment_sum(seg, RG_CTR_RX_PKTS);
	m0 = rg_segment_sum(seg, RG_CTR_MESSAGES);
	bd_sleep(BD_WINDOW_SECS);
	t1 = bench_now_ns();
	p1 = rg_segment_sum(seg, RG_CTR_RX_PKTS);
	m1 = rg_segment_sum(seg, RG_CTR_MESSAGES);
	rg_segment_close(seg);
	bench_stop(pid, SIGTERM);
	unlink(r->seg);
	res->pps = (double)(p1 - p0) * 1e9 / (double)(t1 - t0);
	res->msgs_per_s = (double)(m1 - m0) * 1e9 / (double)(t1 - t0);
	f = fopen(r->log, "r");
	if (f != NULL) {
		while (fgets(line, sizeof(line), f))
			if (strncmp(line, "{\"prof_packets\"", 15) == 0)
				snprintf(res->prof, sizeof(res->prof), "%s", line);
		fclose(f);
	}
	res->prof[strcspn(res->prof, "\n")] = '\0';
	return p1 > p0 ? 0 : -1;
}

static void bd_cleanup(struct bd_run *r)
{
	const char *files[] = { r->cap, r->lists, r->key, r->conf, r->seg, r->log };
	char tp[PATH_MAX + 32];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		unlink(files[i]);
	snprintf(tp, sizeof(tp), "%s/testpmd.log", r->dir);
	unlink(tp);
	snprintf(tp, sizeof(tp), "%s/dp.log", r->dir);
	unlink(tp);
	unlink(r->table);
	rmdir(r->dir);
	/* EAL leaves its (empty, --in-memory) runtime directory behind */
	const char *run = getuid() == 0 ? "/var/run" : getenv("XDG_RUNTIME_DIR");
	if (run == NULL)
		run = "/tmp";
	snprintf(tp, sizeof(tp), "%s/dpdk/rgbdtp%d", run, (int)getpid());
	rmdir(tp);
	snprintf(tp, sizeof(tp), "%s/dpdk/rgbddp%d", run, (int)getpid());
	rmdir(tp);
}

/* Pull "key": number out of a flat JSON line. */
static double bd_json_num(const char *s, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	p = strstr(s, pat);
	return p ? strtod(p + strlen(pat), NULL) : 0;
}

int bench_dp(const struct bench_opts *o)
{
	static const char *const stages[] = {
		"parse", "flow", "decode", "fingerprint", "lookup", "events", "tx",
	};
	struct bd_run r;
	struct gen_cfg g;
	struct gen_stats gs;
	struct bd_dp_result dp, prof;
	char err[256], extra[1024];
	double tp_pps, per_pkt;
	size_t off;
	int rc = -1;

	memset(&r, 0, sizeof(r));
	if (bd_find_dp(&r) < 0) {
		fprintf(stderr, "bench dp: riskgate-dp and riskgate-dp-prof not found next to "
			"riskgate-bench\n");
		return -1;
	}
	if (access("/dev/hugepages", W_OK) != 0) {
		fprintf(stderr, "bench dp: /dev/hugepages is not writable: run "
			"RG_HUGEPAGES=1024 scripts/hugepages.sh as root\n");
		return -1;
	}
	snprintf(r.dir, sizeof(r.dir), "%s/rgbench-dp.%d", o->workdir, (int)getpid());
	if (mkdir(r.dir, 0700) != 0) {
		fprintf(stderr, "bench dp: %s: %s\n", r.dir, strerror(errno));
		return -1;
	}
	snprintf(r.cap, sizeof(r.cap), "%s/cap.pcap", r.dir);
	snprintf(r.lists, sizeof(r.lists), "%s/lists.csv", r.dir);
	snprintf(r.key, sizeof(r.key), "%s/fp.key", r.dir);
	snprintf(r.conf, sizeof(r.conf), "%s/dp.conf", r.dir);
	snprintf(r.seg, sizeof(r.seg), "%s/dp.seg", r.dir);
	snprintf(r.table, sizeof(r.table), "/dev/hugepages/rgbench-dp.%d.table", (int)getpid());

	gen_cfg_default(&g);
	g.out = r.cap;
	g.lists = r.lists;
	g.nb_flows = 256;
	g.nb_messages = o->nb_msgs < 20000 ? o->nb_msgs : 20000;
	g.seed = o->seed;
	g.seg = GEN_SEG_COALESCE;
	if (gen_run_stats(&g, &gs, err, sizeof(err)) != 0) {
		fprintf(stderr, "bench dp: capture: %s\n", err);
		goto out_clean;
	}
	r.nb_packets = gs.nb_packets;
	r.nb_messages = gs.nb_messages;
	fprintf(stderr, "bench dp: capture of %llu packets, %llu messages, %.0f bytes/frame\n",
		(unsigned long long)gs.nb_packets, (unsigned long long)gs.nb_messages,
		(double)(gs.nb_bytes - 24 - 16 * gs.nb_packets) / (double)gs.nb_packets);
	if (bd_build_table(&r, o) < 0 || bd_write_conf(&r) < 0)
		goto out_clean;

	tp_pps = bd_testpmd(&r);
	if (bd_dp(&r, r.dp, &dp) < 0 || bd_dp(&r, r.dp_prof, &prof) < 0) {
		fprintf(stderr, "bench dp: riskgate-dp run failed\n");
		goto out_clean;
	}
	snprintf(extra, sizeof(extra), ", \"msgs_per_s\": %.0f, \"ns_per_pkt\": %.1f",
		 tp_pps * (double)r.nb_messages / (double)r.nb_packets, tp_pps > 0 ? 1e9 / tp_pps : 0);
	bench_result("dp", "testpmd_io", "pkts_per_s", tp_pps, NULL, 0, 0, extra);
	snprintf(extra, sizeof(extra), ", \"msgs_per_s\": %.0f, \"ns_per_pkt\": %.1f, "
		 "\"ns_per_msg\": %.1f, \"table_entries\": %llu", dp.msgs_per_s, 1e9 / dp.pps,
		 dp.msgs_per_s > 0 ? 1e9 / dp.msgs_per_s : 0, BD_TABLE_KEYS);
	bench_result("dp", "riskgate_screen", "pkts_per_s", dp.pps,
		     tp_pps > 0 ? "testpmd_io" : NULL, tp_pps, tp_pps > 0 ? dp.pps / tp_pps : 0,
		     extra);
	if (prof.prof[0]) {
		const char *sp = strstr(prof.prof, "\"stage_ns_per_pkt\"");
		const char *lat = strstr(prof.prof, "\"latency_ns\"");
		const char *slat = strstr(prof.prof, "\"screen_latency_ns\"");

		per_pkt = 0;
		off = 0;
		for (size_t i = 0; i < sizeof(stages) / sizeof(stages[0]); i++) {
			double v = sp ? bd_json_num(sp, stages[i]) : 0;

			per_pkt += v;
			off += (size_t)snprintf(extra + off, sizeof(extra) - off, ", \"%s\": %.1f",
						stages[i], v);
		}
		snprintf(extra + off, sizeof(extra) - off, ", \"prof_pkts_per_s\": %.0f",
			 prof.pps);
		bench_result("dp", "stage_ns_per_pkt", "ns", per_pkt, NULL, 0, 0, extra);
		snprintf(extra, sizeof(extra), ", \"p50\": %.0f, \"p99\": %.0f, \"burst\": 32",
			 lat ? bd_json_num(lat, "p50") : 0, lat ? bd_json_num(lat, "p99") : 0);
		bench_result("dp", "latency_p99.9", "ns", lat ? bd_json_num(lat, "p99.9") : 0, NULL,
			     0, 0, extra);
		snprintf(extra, sizeof(extra), ", \"p50\": %.0f, \"p99\": %.0f, \"burst\": 32",
			 slat ? bd_json_num(slat, "p50") : 0, slat ? bd_json_num(slat, "p99") : 0);
		bench_result("dp", "screen_latency_p99.9", "ns",
			     slat ? bd_json_num(slat, "p99.9") : 0, NULL, 0, 0, extra);
	}
	rc = 0;
out_clean:
	bd_cleanup(&r);
	return rc;
}
