/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Minimal table-driven test support for the unit-test binaries.
 *
 * CHECK() records a failure with file, line and a printf-style explanation
 * and carries on, so one run reports every broken case of a table; the
 * binary's exit status is CHECK_DONE(): 0 when nothing failed, 1 otherwise
 * (what meson test expects).
 */
#ifndef RG_TEST_CHECK_H
#define RG_TEST_CHECK_H

#include <stdio.h>

static unsigned check_nb_run;
static unsigned check_nb_failed;

#define CHECK(cond, ...)                                                      \
	do {                                                                  \
		check_nb_run++;                                               \
		if (!(cond)) {                                                \
			check_nb_failed++;                                    \
			fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, \
				__LINE__, #cond);                             \
			fprintf(stderr, __VA_ARGS__);                         \
			fputc('\n', stderr);                                  \
		}                                                             \
	} while (0)

/* Equality of two integers, printing both on failure. */
#define CHECK_EQ(a, b, ...)                                                   \
	do {                                                                  \
		long long check_a_ = (long long)(a), check_b_ = (long long)(b); \
		check_nb_run++;                                               \
		if (check_a_ != check_b_) {                                   \
			check_nb_failed++;                                    \
			fprintf(stderr, "%s:%d: %s == %s: got %lld, want %lld: ", \
				__FILE__, __LINE__, #a, #b, check_a_, check_b_); \
			fprintf(stderr, __VA_ARGS__);                         \
			fputc('\n', stderr);                                  \
		}                                                             \
	} while (0)

#define CHECK_DONE()                                                          \
	(printf("%u checks, %u failed\n", check_nb_run, check_nb_failed),     \
	 check_nb_failed ? 1 : 0)

#endif
