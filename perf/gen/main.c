/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * riskgate-gen: command line over the generator library (perf/gen/gen.h).
 * Parses options, runs the generator and prints a one-line JSON summary.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "perf/gen/gen.h"

static void usage(FILE *fp)
{
	fputs("usage: riskgate-gen --out CAP.pcap [options]\n"
	      "\n"
	      "Write a capture of realistic ISO 8583 traffic, the list files that\n"
	      "screen it and the ground truth of expected hits.\n"
	      "\n"
	      "  -o, --out FILE          capture to write (required)\n"
	      "  -l, --lists FILE        list CSV to write\n"
	      "                          (list,kind,value,severity,expiry,reason)\n"
	      "  -t, --truth FILE        ground truth JSONL of expected hits\n"
	      "  -d, --dialect D         built-in dialect or dialect file (ascii87)\n"
	      "  -f, --framing F         len2, len2i, ascii4, bcd2, +tpdu, +hdrN (len2)\n"
	      "  -p, --port P            switch TCP port (5000)\n"
	      "  -F, --flows N           TCP connections (64)\n"
	      "  -n, --messages N        requests in total (2000)\n"
	      "  -s, --seed S            random seed; same arguments, same bytes (1)\n"
	      "  -r, --hit-rate R        share of requests with a listed identifier (0.02)\n"
	      "  -L, --list-size N       decoy entries per list (1000)\n"
	      "  -S, --segmentation M    whole|coalesce|split|tiny|mixed (mixed)\n"
	      "      --retransmit R      share of data segments sent twice (0)\n"
	      "      --reorder R         share of data segments swapped with the next (0)\n"
	      "  -6, --ipv6              IPv6 instead of IPv4\n"
	      "      --vlan ID           802.1Q tag on every frame\n"
	      "  -m, --members N         split the lists round-robin into\n"
	      "                          LISTS-1.csv..LISTS-N.csv (1)\n"
	      "  -k, --keepalive R       share of message gaps with a keep-alive frame (0)\n"
	      "  -h, --help              this text\n"
	      "\n"
	      "Prints {\"packets\":..,\"flows\":..,\"messages\":..,\"requests\":..,\"hits\":..,\n"
	      "\"bytes\":..,\"out\":\"..\"} on success.  See docs/gen.md.\n", fp);
}

enum {
	OPT_RETRANSMIT = 256,
	OPT_REORDER,
	OPT_VLAN,
};

static const struct option long_opts[] = {
	{ "out", required_argument, NULL, 'o' },
	{ "lists", required_argument, NULL, 'l' },
	{ "truth", required_argument, NULL, 't' },
	{ "dialect", required_argument, NULL, 'd' },
	{ "framing", required_argument, NULL, 'f' },
	{ "port", required_argument, NULL, 'p' },
	{ "flows", required_argument, NULL, 'F' },
	{ "messages", required_argument, NULL, 'n' },
	{ "seed", required_argument, NULL, 's' },
	{ "hit-rate", required_argument, NULL, 'r' },
	{ "list-size", required_argument, NULL, 'L' },
	{ "segmentation", required_argument, NULL, 'S' },
	{ "retransmit", required_argument, NULL, OPT_RETRANSMIT },
	{ "reorder", required_argument, NULL, OPT_REORDER },
	{ "ipv6", no_argument, NULL, '6' },
	{ "vlan", required_argument, NULL, OPT_VLAN },
	{ "members", required_argument, NULL, 'm' },
	{ "keepalive", required_argument, NULL, 'k' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int parse_u64(const char *opt, const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi) {
		fprintf(stderr, "riskgate-gen: --%s: expected an integer %" PRIu64 "..%" PRIu64
			", got '%s'\n", opt, lo, hi, s);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int parse_rate(const char *opt, const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0 && v <= 1)) {
		fprintf(stderr, "riskgate-gen: --%s: expected a fraction 0..1, got '%s'\n", opt, s);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	struct gen_cfg cfg;
	struct gen_stats st;
	char err[512];
	uint64_t v;
	int c, ret = 0;

	gen_cfg_default(&cfg);
	while ((c = getopt_long(argc, argv, "o:l:t:d:f:p:F:n:s:r:L:S:6m:k:h", long_opts,
				NULL)) != -1) {
		switch (c) {
		case 'o':
			cfg.out = optarg;
			break;
		case 'l':
			cfg.lists = optarg;
			break;
		case 't':
			cfg.truth = optarg;
			break;
		case 'd':
			cfg.dialect = optarg;
			break;
		case 'f':
			cfg.framing = optarg;
			break;
		case 'p':
			ret = parse_u64("port", optarg, 1, 65535, &v);
			cfg.port = (uint16_t)v;
			break;
		case 'F':
			ret = parse_u64("flows", optarg, 1, GEN_MAX_FLOWS, &v);
			cfg.nb_flows = (unsigned)v;
			break;
		case 'n':
			ret = parse_u64("messages", optarg, 0, UINT64_C(1) << 40, &v);
			cfg.nb_messages = v;
			break;
		case 's':
			ret = parse_u64("seed", optarg, 0, UINT64_MAX, &v);
			cfg.seed = v;
			break;
		case 'r':
			ret = parse_rate("hit-rate", optarg, &cfg.hit_rate);
			break;
		case 'L':
			ret = parse_u64("list-size", optarg, 0, 10000000, &v);
			cfg.list_size = (unsigned)v;
			break;
		case 'S':
			ret = gen_seg_from_name(optarg);
			if (ret < 0) {
				fprintf(stderr, "riskgate-gen: --segmentation: unknown mode '%s'"
					" (whole, coalesce, split, tiny, mixed)\n", optarg);
			} else {
				cfg.seg = (uint8_t)ret;
				ret = 0;
			}
			break;
		case OPT_RETRANSMIT:
			ret = parse_rate("retransmit", optarg, &cfg.retransmit);
			break;
		case OPT_REORDER:
			ret = parse_rate("reorder", optarg, &cfg.reorder);
			break;
		case '6':
			cfg.ipv6 = true;
			break;
		case OPT_VLAN:
			ret = parse_u64("vlan", optarg, 1, 4094, &v);
			cfg.vlan = (uint16_t)v;
			break;
		case 'm':
			ret = parse_u64("members", optarg, 1, GEN_MAX_MEMBERS, &v);
			cfg.nb_members = (unsigned)v;
			break;
		case 'k':
			ret = parse_rate("keepalive", optarg, &cfg.keepalive);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (ret)
			return 2;
	}
	if (optind < argc) {
		fprintf(stderr, "riskgate-gen: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (!cfg.out) {
		fprintf(stderr, "riskgate-gen: --out is required\n");
		usage(stderr);
		return 2;
	}

	ret = gen_run_stats(&cfg, &st, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "riskgate-gen: %s\n", err);
		return 1;
	}
	printf("{\"packets\":%" PRIu64 ",\"flows\":%" PRIu64 ",\"messages\":%" PRIu64
	       ",\"requests\":%" PRIu64 ",\"hits\":%" PRIu64 ",\"bytes\":%" PRIu64
	       ",\"keepalives\":%" PRIu64 ",\"list_entries\":%" PRIu64 ",\"out\":\"",
	       st.nb_packets, st.nb_flows, st.nb_messages, st.nb_requests, st.nb_hits,
	       st.nb_bytes, st.nb_keepalives, st.nb_list_entries);
	for (const char *p = cfg.out; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if ((unsigned char)*p < 0x20)
			printf("\\u%04x", (unsigned char)*p);
		else
			putchar(*p);
	}
	puts("\"}");
	return 0;
}
