/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * riskgate-bench SUITE [options]: micro and macro benchmarks.  Prints one
 * JSON object per result line on stdout; progress and notes go to stderr.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

struct bench_suite {
	const char *name;
	int (*run)(const struct bench_opts *o);
	const char *help;
};

static const struct bench_suite suites[] = {
	{ "parse", bench_parse,
	  "decode + extract + fingerprint on one core (ascii87, bcd87); "
	  "fingerprint inlined vs libsodium; whole-capture dissection vs tshark" },
	{ "table", bench_table,
	  "fingerprint table vs DPDK rte_hash, same keys and huge pages: bulk lookups "
	  "(miss- and hit-heavy), inserts/s, bytes per entry, load at first failure "
	  "(--keys 1M,10M)" },
	{ "ledger", bench_ledger,
	  "ledger on one core: durable ingest (import, sign, synced batch per block), full "
	  "verify, proof sizes at 10 x --messages entries, pull, table build; SHA-256 "
	  "OpenSSL vs libsodium" },
	{ "dp", bench_dp,
	  "riskgate-dp vs dpdk-testpmd io forwarding, same pcap(infinite_rx)->null vdevs and "
	  "capture, 10M-entry table: pkts/s, msgs/s, ratio, ns per stage, rx->tx latency "
	  "(needs huge pages)" },
	{ "ctl", bench_ctl,
	  "control plane: ledger->table apply and revoke rates, stats requests/s with 10 "
	  "clients, ctl add -> dataplane hit latency (needs huge pages)" },
	{ "sync", bench_sync,
	  "member sync between riskgated daemons over mutual TLS: catch-up of --entries "
	  "(1M) vs riskgate-ledger pull, bytes per entry vs a bundle, add -> remote table "
	  "latency direct and relayed, CPU per 1k entries/s of sustained sync" },
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

double bench_median(double *v, unsigned n)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void bench_result(const char *bench, const char *case_name, const char *unit, double value,
		  const char *peer, double peer_value, double ratio, const char *extra)
{
	printf("{\"bench\": \"%s\", \"case\": \"%s\", \"unit\": \"%s\", \"value\": %.3f",
	       bench, case_name, unit, value);
	if (peer != NULL)
		printf(", \"peer\": \"%s\", \"peer_value\": %.3f, \"ratio\": %.3f", peer,
		       peer_value, ratio);
	printf("%s}\n", extra != NULL ? extra : "");
	fflush(stdout);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: riskgate-bench SUITE [--messages N] [--rounds N] [--seed S]\n"
		   "                      [--tshark PATH | --no-tshark] [--workdir DIR]\n"
		   "                      [--keys N[,N...]] [--entries N]\n"
		   "suites:\n");
	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		fprintf(f, "  %-8s %s\n", suites[i].name, suites[i].help);
}

int main(int argc, char **argv)
{
	struct bench_opts o = {
		.nb_msgs = 100000,
		.nb_rounds = 7,
		.seed = 1,
		.tshark = "tshark",
		.workdir = "/tmp",
	};
	static const struct option longopts[] = {
		{ "messages", required_argument, NULL, 'm' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "seed", required_argument, NULL, 's' },
		{ "tshark", required_argument, NULL, 't' },
		{ "no-tshark", no_argument, NULL, 'T' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "keys", required_argument, NULL, 'k' },
		{ "entries", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	char *end;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			o.nb_msgs = (unsigned)strtoul(optarg, &end, 10);
			if (*end != '\0' || o.nb_msgs < 100 || o.nb_msgs > 10000000) {
				fprintf(stderr, "riskgate-bench: --messages %s: want 100..10000000\n",
					optarg);
				return 2;
			}
			break;
		case 'r':
			o.nb_rounds = (unsigned)strtoul(optarg, &end, 10);
			if (*end != '\0' || o.nb_rounds < 1 || o.nb_rounds > 1000) {
				fprintf(stderr, "riskgate-bench: --rounds %s: want 1..1000\n", optarg);
				return 2;
			}
			break;
		case 's':
			o.seed = strtoull(optarg, &end, 0);
			if (*end != '\0') {
				fprintf(stderr, "riskgate-bench: --seed %s: not a number\n", optarg);
				return 2;
			}
			break;
		case 't':
			o.tshark = optarg;
			break;
		case 'T':
			o.tshark = NULL;
			break;
		case 'w':
			o.workdir = optarg;
			break;
		case 'k':
			o.keys = optarg;
			break;
		case 'e':
			o.nb_entries = strtoull(optarg, &end, 10);
			if (*end != '\0' || o.nb_entries < 1000 || o.nb_entries > 100000000) {
				fprintf(stderr, "riskgate-bench: --entries %s: want 1000..100000000\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		if (strcmp(argv[optind], suites[i].name) == 0)
			return suites[i].run(&o) == 0 ? 0 : 1;
	fprintf(stderr, "riskgate-bench: unknown suite '%s'\n", argv[optind]);
	usage(stderr);
	return 2;
}
