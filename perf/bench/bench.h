/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * riskgate-bench: shared helpers of the benchmark suites.
 *
 * Every result is one JSON object on its own line:
 *   {"bench": SUITE, "case": CASE, "unit": UNIT, "value": X, ...}
 * with "peer", "peer_value" and "ratio" (oriented so that larger is better
 * for riskgate) where a peer ran in the same process or run.
 */
#ifndef RG_BENCH_H
#define RG_BENCH_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct bench_opts {
	unsigned nb_msgs;    /* messages in each corpus */
	unsigned nb_rounds;  /* timed rounds; the median is reported */
	uint64_t seed;
	const char *tshark;  /* path of tshark, or NULL to skip that peer */
	const char *workdir; /* where temporary captures go */
	const char *keys;    /* table: key counts, "1M,10M"; NULL = default */
	uint64_t nb_entries; /* sync: entries of the caught-up log; 0 = default */
};

static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Sleep ns nanoseconds, resuming after signals (perf/bench/proc.c). */
void bench_sleep_ns(uint64_t ns);

/* The project binary name, from the build tree (../../subdir/name next to
 * this binary) or installed beside it, into out.  0 or -ENOENT. */
int bench_find_tool(const char *subdir, const char *name, char *out, size_t cap);

/* Start argv[0] (a path) with stdout and stderr into log and stdin from
 * /dev/null; the child's pid, or -1. */
pid_t bench_spawn(char *const argv[], const char *log);

/* bench_spawn, then wait: the exit status, or -1 (not started, killed).
 * Once *stop (stop may be NULL) is set, as a signal handler does, the
 * child is stopped (bench_stop, SIGTERM) and -1 returned. */
int bench_run(char *const argv[], const char *log, volatile sig_atomic_t *stop);

/* Send sig, wait up to 10 s, then SIGKILL; the wait status (0 for pid <= 0). */
int bench_stop(pid_t pid, int sig);

/* path and everything below it removed, links not followed (what is
 * missing is no error). */
void bench_rmtree(const char *path);

/* text written to path (created or truncated).  0 or -errno. */
int bench_write_file(const char *path, const char *text);

/* riskgated's control socket (perf/bench/ctl_client.c).  connect: the
 * fd, or -errno.  write_all: 0 or -1.  call: write one request line, read
 * its reply line into buf (blocking); 0 when the reply is ok, else -1.
 * reply_poll: read what has come without blocking into buf[*len..cap); 1
 * once a whole line is in, 0 not yet, -1 on a closed connection, an error
 * or a full buffer.  reply_ok: whether a reply line says "ok": true. */
int bench_ctl_connect(const char *path);
int bench_write_all(int fd, const char *s, size_t n);
int bench_ctl_call(int fd, const char *req, char *buf, size_t cap);
int bench_ctl_reply_poll(int fd, char *buf, size_t cap, size_t *len);
bool bench_ctl_reply_ok(const char *line);

/* A list file (CSV, riskgate-ledger import's format) of n raw identifiers
 * numbered first .. first+n-1 (distinct numbers, distinct identifiers) of
 * the four generated kinds: Luhn-valid PANs, accounts, merchants, phones,
 * with severities and some expiries (perf/bench/bench_ledger.c).  0 or
 * -errno. */
int bench_write_list(const char *path, uint64_t first, uint64_t n, uint64_t seed);

/* Median of v[0..n) (reorders v). */
double bench_median(double *v, unsigned n);

/* Print one result line.  peer may be NULL. extra is a preformatted
 * ", \"key\": value" list or "" */
void bench_result(const char *bench, const char *case_name, const char *unit, double value,
		  const char *peer, double peer_value, double ratio, const char *extra);

int bench_parse(const struct bench_opts *o);
int bench_table(const struct bench_opts *o);
int bench_ledger(const struct bench_opts *o);
int bench_dp(const struct bench_opts *o);
int bench_ctl(const struct bench_opts *o);
int bench_sync(const struct bench_opts *o);

#endif
