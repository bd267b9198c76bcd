/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * riskgate-dissect: decode the ISO 8583 messages of a pcap/pcapng capture
 * to JSON lines, or summarise them.  Only option parsing lives here; the
 * work is in pcapflow.c (packets, flows) and dissect.c (messages).
 *
 * Exit status: 0 done; 1 the capture was cut short (everything before the
 * damage was still printed); 2 bad usage or an input that cannot be used.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fp.h"
#include "common/frame.h"
#include "common/iso8583.h"
#include "tools/dissect/dissect.h"
#include "tools/dissect/pcapflow.h"

#define PROG "riskgate-dissect"
#define ERR_MAX 512

static void usage(FILE *out)
{
	const char *const *names = rg_dialect_builtin_names();

	fprintf(out,
		"usage: " PROG " [options] IN.pcap\n"
		"Decode ISO 8583 carried over TCP in a pcap or pcapng capture; one JSON\n"
		"object per message on standard output.\n"
		"\n"
		"  --dialect D     dialect name or dialect file (default ascii87)\n"
		"  --framing F     len2, len2i, ascii4 or bcd2, optionally +tpdu or +hdrN\n"
		"                  (default len2)\n"
		"  --port P        service port; repeat for more (default 5000)\n"
		"  --max-msg N     largest message accepted by the framer, bytes\n"
		"                  (default %d)\n"
		"  --show-pan      print PANs and tracks unmasked\n"
		"  --list FILE     CSV list,kind,value[,severity,expiry,reason]: report hits\n"
		"  --key FILE      fingerprint key file: add \"fp\" to each identifier\n"
		"  --summary       print totals instead of messages (a table)\n"
		"  --json          with --summary: one JSON object\n"
		"  -h, --help      this text\n"
		"\n"
		"built-in dialects:",
		RG_FRAME_DEFAULT_MAX);
	for (; names && *names; names++)
		fprintf(out, " %s", *names);
	fprintf(out, "\nsee docs/dissect.md for the JSON shape and anomaly names\n");
}

static int parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *v)
{
	char *end;

	errno = 0;
	*v = strtoul(s, &end, 10);
	if (errno || end == s || *end != '\0' || s[0] == '-' || *v < min || *v > max)
		return -EINVAL;
	return 0;
}

enum {
	OPT_DIALECT = 256,
	OPT_FRAMING,
	OPT_PORT,
	OPT_MAX_MSG,
	OPT_SHOW_PAN,
	OPT_LIST,
	OPT_KEY,
	OPT_SUMMARY,
	OPT_JSON,
};

static const struct option long_opts[] = {
	{ "dialect", required_argument, NULL, OPT_DIALECT },
	{ "framing", required_argument, NULL, OPT_FRAMING },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "max-msg", required_argument, NULL, OPT_MAX_MSG },
	{ "show-pan", no_argument, NULL, OPT_SHOW_PAN },
	{ "list", required_argument, NULL, OPT_LIST },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "summary", no_argument, NULL, OPT_SUMMARY },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int main(int argc, char **argv)
{
	const char *dialect_name = "ascii87", *framing_spec = "len2";
	const char *list_path = NULL, *key_path = NULL;
	unsigned long max_msg = 0, v;
	bool show_pan = false, summary = false, json = false;
	struct pcapflow_config cfg = { 0 };
	struct pcapflow_counters counters = { 0 };
	struct dissect_lists *lists = NULL;
	struct rg_fp_key *key = NULL;
	struct rg_dialect *dialect;
	struct dissect_opts dopts;
	struct dissect *ds;
	char err[ERR_MAX];
	int c, r, status = 2;

	while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
		switch (c) {
		case OPT_DIALECT:
			dialect_name = optarg;
			break;
		case OPT_FRAMING:
			framing_spec = optarg;
			break;
		case OPT_PORT:
			if (parse_uint(optarg, 1, 65535, &v) < 0) {
				rg_mask_errorf(stderr, PROG,
					       "--port %s: not a port number (1-65535)", optarg);
				return 2;
			}
			if (cfg.nb_ports == PCAPFLOW_MAX_PORTS) {
				rg_mask_errorf(stderr, PROG, "at most %d --port options",
					PCAPFLOW_MAX_PORTS);
				return 2;
			}
			cfg.ports[cfg.nb_ports++] = (uint16_t)v;
			break;
		case OPT_MAX_MSG:
			if (parse_uint(optarg, 16, 65535, &max_msg) < 0) {
				rg_mask_errorf(stderr, PROG,
					       "--max-msg %s: want a byte count 16-65535", optarg);
				return 2;
			}
			break;
		case OPT_SHOW_PAN:
			show_pan = true;
			break;
		case OPT_LIST:
			list_path = optarg;
			break;
		case OPT_KEY:
			key_path = optarg;
			break;
		case OPT_SUMMARY:
			summary = true;
			break;
		case OPT_JSON:
			json = true;
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
		rg_mask_errorf(stderr, PROG, "%s", optind >= argc ? "no capture file given" :
			"one capture file only");
		usage(stderr);
		return 2;
	}
	if (json && !summary) {
		rg_mask_errorf(stderr, PROG,
			       "--json goes with --summary (messages are always JSON)");
		return 2;
	}
	if (cfg.nb_ports == 0)
		cfg.ports[cfg.nb_ports++] = 5000;

	if (rg_framing_parse(framing_spec, &cfg.framing, err, sizeof(err)) < 0) {
		rg_mask_errorf(stderr, PROG, "bad --framing \"%s\": %s", framing_spec, err);
		return 2;
	}
	if (max_msg)
		cfg.framing.max_msg_bytes = (uint32_t)max_msg;

	err[0] = '\0';
	dialect = rg_dialect_load(dialect_name, err, sizeof(err));
	if (dialect == NULL) {
		rg_mask_errorf(stderr, PROG, "unknown dialect \"%s\": %s", dialect_name,
			err[0] ? err : strerror(errno));
		return 2;
	}
	if (list_path) {
		lists = dissect_lists_load(list_path, err, sizeof(err));
		if (lists == NULL) {
			rg_mask_errorf(stderr, PROG, "--list %s", err);
			goto out_free_dialect;
		}
	}
	if (key_path) {
		key = rg_fp_key_load(key_path, err, sizeof(err));
		if (key == NULL) {
			rg_mask_errorf(stderr, PROG, "--key %s", err);
			goto out_free_lists;
		}
	}

	dopts = (struct dissect_opts){
		.dialect = dialect,
		.key = key,
		.lists = lists,
		.show_pan = show_pan,
		.summary = summary,
		.out = stdout,
	};
	ds = dissect_create(&dopts);
	if (ds == NULL) {
		rg_mask_errorf(stderr, PROG, "%s", strerror(errno));
		goto out_free_key;
	}
	cfg.event = dissect_event;
	cfg.event_ctx = ds;

	r = pcapflow_read_file(argv[optind], &cfg, &counters, err, sizeof(err));
	if (r == 0 || r == -EIO) {
		if (summary)
			dissect_summary(ds, &counters, json, stdout);
		status = 0;
		if (r == -EIO) {
			rg_mask_errorf(stderr, PROG, "%s", err);
			status = 1;
		}
	} else {
		rg_mask_errorf(stderr, PROG, "cannot read %s", err);
	}
	if (fflush(stdout) != 0) {
		perror(PROG ": stdout");
		status = 2;
	}

	dissect_destroy(ds);
out_free_key:
	if (key)
		rg_fp_key_free(key);
out_free_lists:
	dissect_lists_free(lists);
out_free_dialect:
	free(dialect);
	return status;
}
