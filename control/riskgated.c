/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * riskgated: the control plane daemon (docs/operations.md).
 *
 *   riskgated --config FILE
 *   riskgated --ledger DIR [--socket PATH] [--segment PATH] [--table PATH]
 *             [--events PATH] [--metrics ADDR:PORT [--metrics-public]]
 *             [--admin-group G] [--lookup-group G] [--socket-group G]
 *
 * Exit status: 0 after SIGTERM/SIGINT, 1 on a start-up failure (what it
 * created is removed again), 2 on a usage or configuration error.  Error
 * texts are masked (rg_mask_text): a misplaced PAN never reaches stderr.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <sodium.h>

#include "common/ident.h"
#include "control/ctl.h"

static void usage(void)
{
	fprintf(stderr,
		"usage: riskgated --config FILE\n"
		"       riskgated --ledger DIR [--socket PATH] [--segment PATH] [--table PATH]\n"
		"                 [--events PATH|-] [--metrics ADDR:PORT|\"\"] [--metrics-public]\n"
		"                 [--admin-group G] [--lookup-group G] [--socket-group G]\n");
	exit(2);
}

static void set(char *dst, size_t cap, const char *v)
{
	if (strlen(v) >= cap) {
		fprintf(stderr, "riskgated: an argument of %zu bytes is too long (at most %zu)\n",
			strlen(v), cap - 1);
		exit(2);
	}
	snprintf(dst, cap, "%s", v);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "ledger", required_argument, NULL, 'l' },
		{ "socket", required_argument, NULL, 's' },
		{ "segment", required_argument, NULL, 'g' },
		{ "table", required_argument, NULL, 't' },
		{ "events", required_argument, NULL, 'e' },
		{ "metrics", required_argument, NULL, 'm' },
		{ "metrics-public", no_argument, NULL, 'P' },
		{ "admin-group", required_argument, NULL, 'a' },
		{ "lookup-group", required_argument, NULL, 'L' },
		{ "socket-group", required_argument, NULL, 'G' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl_config cfg;
	struct ctl_daemon *d;
	const char *config = NULL;
	char err[CTL_ERR_MAX];
	struct {
		const char *ledger, *socket, *segment, *table, *events, *metrics, *admin, *sgroup;
		const char *lgroup;
		bool metrics_public;
	} ov = { 0 };
	int o, rc;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'c': config = optarg; break;
		case 'l': ov.ledger = optarg; break;
		case 's': ov.socket = optarg; break;
		case 'g': ov.segment = optarg; break;
		case 't': ov.table = optarg; break;
		case 'e': ov.events = optarg; break;
		case 'm': ov.metrics = optarg; break;
		case 'P': ov.metrics_public = true; break;
		case 'a': ov.admin = optarg; break;
		case 'L': ov.lgroup = optarg; break;
		case 'G': ov.sgroup = optarg; break;
		case 'V': printf("riskgated %s\n", CTL_VERSION); return 0;
		default: usage();
		}
	}
	if (optind != argc || (config == NULL && ov.ledger == NULL))
		usage();
	if (sodium_init() < 0) {
		fprintf(stderr, "riskgated: libsodium failed to initialise\n");
		return 1;
	}
	ctl_config_defaults(&cfg);
	if (config != NULL && ctl_config_load(config, &cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "riskgated: %s\n", err); /* masked by the parser */
		return 2;
	}
	if (ov.ledger) set(cfg.ledger_dir, sizeof(cfg.ledger_dir), ov.ledger);
	if (ov.socket) set(cfg.socket_path, sizeof(cfg.socket_path), ov.socket);
	if (ov.segment) set(cfg.segment_path, sizeof(cfg.segment_path), ov.segment);
	if (ov.table) set(cfg.table_path, sizeof(cfg.table_path), ov.table);
	if (ov.events) set(cfg.events_path, sizeof(cfg.events_path), ov.events);
	if (ov.metrics) set(cfg.metrics_listen, sizeof(cfg.metrics_listen), ov.metrics);
	if (ov.admin) set(cfg.admin_group, sizeof(cfg.admin_group), ov.admin);
	if (ov.sgroup) set(cfg.socket_group, sizeof(cfg.socket_group), ov.sgroup);
	if (ov.lgroup) set(cfg.lookup_group, sizeof(cfg.lookup_group), ov.lgroup);
	if (ov.metrics_public) cfg.metrics_public = true;
	if (ctl_config_check(&cfg, NULL, err, sizeof(err)) != 0) {
		rg_mask_text(err);
		fprintf(stderr, "riskgated: %s\n", err);
		return 2;
	}
	d = ctl_daemon_open(&cfg, config, err, sizeof(err));
	if (d == NULL) {
		/* it may quote a setting's value, and the setting may hold a PAN */
		rg_mask_text(err);
		fprintf(stderr, "riskgated: %s\n", err);
		return 1;
	}
	rc = ctl_daemon_run(d);
	ctl_daemon_close(d);
	ctl_log(CTL_LOG_INFO, "stopped");
	return rc == 0 ? 0 : 1;
}
