/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target for the riskgate-dp configuration parser (dataplane/config.c).
 *
 * Input: the text of a configuration file, read from memory through
 * dp_config_load_stream.  A file is either refused with an error that
 * names it, or accepted; then every service screens with a mapping of
 * standard lists (its own or the top-level one), and when dp_config_finish
 * accepts it too, every value is within its documented range.  Dialects loaded on the way are freed.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "dataplane/dp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
#include "lsan_libconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dp_config c;
	char err[512];
	FILE *fp;
	int r;

	if (size == 0)
		return 0;
	fp = fmemopen((void *)(uintptr_t)data, size, "r");
	if (fp == NULL)
		return 0;
	dp_config_defaults(&c);
	err[0] = '\0';
	r = dp_config_load_stream(&c, fp, "fuzz.conf", err, sizeof(err));
	fclose(fp);
	if (r < 0) {
		assert(strncmp(err, "fuzz.conf", 9) == 0);
	} else {
		assert(c.nb_pairs <= DP_PAIRS_MAX && c.nb_services <= DP_SERVICES_MAX);
		assert(c.nb_workers <= DP_WORKERS_MAX);
		for (unsigned i = 0; i < c.nb_services; i++) {
			assert(c.svc[i].dialect != NULL && c.svc[i].port != 0);
			/* a service without a mapping of its own screens with the top-level one */
			assert(c.svc[i].own_mapping ||
			       memcmp(c.svc[i].kind_lists, c.kind_lists, sizeof(c.kind_lists)) == 0);
			for (unsigned k = 0; k < RG_KIND_MAX; k++)
				assert(c.svc[i].kind_lists[k] < 1u << RG_LIST_NB_STD);
		}
		if (dp_config_finish(&c, err, sizeof(err)) == 0) {
			assert(c.burst >= 1 && c.burst <= DP_BURST_MAX);
			assert(c.nb_flows >= 1 && c.hold_bytes % 64 == 0);
		}
	}
	dp_config_free(&c);
	return 0;
}
