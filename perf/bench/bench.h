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

/* Send sig, wait up to 10 s, then SIGKILL; the wait status (0 for pid <= 0). */
int bench_stop(pid_t pid, int sig);

/* path and everything below it removed, links not followed (what is
 * missing is no error). */
void bench_rmtree(const char *path);

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

#endif
