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

#include <stdint.h>
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
