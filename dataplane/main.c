/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * riskgate-dp [EAL args] -- --config FILE
 * riskgate-dp [EAL args] -- --replay IN.pcap [--out OUT.pcap] [--events FILE]
 *             [--loop N] [--table FILE --key FILE --port P --dialect D --framing F]
 *
 * Start-up: options, configuration, key file and table are checked before
 * DPDK starts, so a bad setting gives one clear line and exit status 2.
 * Then EAL, the segment, the mbuf pool, per-lcore state, ports, telemetry,
 * and the workers run until SIGINT/SIGTERM (or the end of the replay).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#include "dataplane/dp.h"

#define DP_EAL_ARGS_MAX 64

static void dp_usage(FILE *out)
{
	fprintf(out,
		"usage: riskgate-dp [EAL args] -- --config FILE\n"
		"       riskgate-dp [EAL args] -- --replay IN.pcap [--out OUT.pcap] [--events FILE]\n"
		"                   [--loop N] [--config FILE] [--table FILE] [--key FILE]\n"
		"                   [--port P] [--dialect D] [--framing F] [--max-msg N]\n"
		"                   [--flows N]\n"
		"Replay needs no configuration file: without EAL args it runs on one lcore\n"
		"without huge pages (--no-huge -m 512 --no-pci).\n");
}

static void dp_signal(int sig)
{
	(void)sig;
	dp_quit = 1;
}

static uint64_t dp_realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct dp_opts {
	const char *config, *replay, *out, *events, *table, *key, *dialect, *framing;
	unsigned long loops, port, max_msg, flows;
};

static int dp_parse_opts(int argc, char **argv, struct dp_opts *o)
{
	static const struct option lo[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "replay", required_argument, NULL, 'r' },
		{ "out", required_argument, NULL, 'o' },
		{ "events", required_argument, NULL, 'e' },
		{ "loop", required_argument, NULL, 'l' },
		{ "table", required_argument, NULL, 't' },
		{ "key", required_argument, NULL, 'k' },
		{ "port", required_argument, NULL, 'p' },
		{ "dialect", required_argument, NULL, 'd' },
		{ "framing", required_argument, NULL, 'f' },
		{ "max-msg", required_argument, NULL, 'm' },
		{ "flows", required_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	memset(o, 0, sizeof(*o));
	o->loops = 1;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		char *end = NULL;
		unsigned long v = 0;

		if (ch == 'l' || ch == 'p' || ch == 'm' || ch == 'F') {
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || *end || !*optarg) {
				unsigned li = ch == 'l' ? 4 : ch == 'p' ? 7 : ch == 'm' ? 10 : 11;

				rg_mask_errorf(stderr, "riskgate-dp", "--%s: not a number: %s",
					       lo[li].name, optarg);
				return -EINVAL;
			}
		}
		switch (ch) {
		case 'c': o->config = optarg; break;
		case 'r': o->replay = optarg; break;
		case 'o': o->out = optarg; break;
		case 'e': o->events = optarg; break;
		case 't': o->table = optarg; break;
		case 'k': o->key = optarg; break;
		case 'd': o->dialect = optarg; break;
		case 'f': o->framing = optarg; break;
		case 'l':
			if (v == 0) {
				rg_mask_errorf(stderr, "riskgate-dp", "--loop must be at least 1");
				return -EINVAL;
			}
			o->loops = v;
			break;
		case 'p':
			if (v == 0 || v > 65535) {
				rg_mask_errorf(stderr, "riskgate-dp",
					       "--port %lu out of range 1..65535", v);
				return -EINVAL;
			}
			o->port = v;
			break;
		case 'm': o->max_msg = v; break;
		case 'F':
			if (v < 64 || v > (1ul << 24)) {
				rg_mask_errorf(stderr, "riskgate-dp",
					       "--flows %lu out of range 64..16777216", v);
				return -EINVAL;
			}
			o->flows = v;
			break;
		case 'h':
			dp_usage(stdout);
			exit(0);
		default:
			dp_usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		rg_mask_errorf(stderr, "riskgate-dp", "unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	if (!o->config && !o->replay) {
		dp_usage(stderr);
		return -EINVAL;
	}
	if (!o->replay && (o->out || o->events || o->loops != 1)) {
		rg_mask_errorf(stderr, "riskgate-dp", "--out, --events and --loop need --replay");
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct dp_config cfg;
	static struct dp_ctx x;
	char err[512], prefix[64], vdev_in[512], vdev_out[512];
	char *eal_argv[DP_EAL_ARGS_MAX];
	int eal_argc = 0, dd = -1, r, rc = 1;
	struct rg_fp_key *key = NULL;
	struct rg_table *probe;
	struct dp_opts o;
	bool replay;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			dd = i;
			break;
		}
	if (dp_parse_opts(dd < 0 ? argc : argc - dd, dd < 0 ? argv : argv + dd, &o) < 0)
		return 2;
	replay = o.replay != NULL;

	/* configuration, key and table before anything starts */
	dp_config_defaults(&cfg);
	if (replay) {
		cfg.nb_flows = 16384;
		cfg.segment_path[0] = '\0';
		snprintf(cfg.key_path, sizeof(cfg.key_path), "fp.key");
		snprintf(cfg.table_path, sizeof(cfg.table_path), "riskgate.table");
	}
	if (o.config && dp_config_load(&cfg, o.config, err, sizeof(err)) < 0) {
		rg_mask_errorf(stderr, "riskgate-dp", "%s", err);
		return 2;
	}
	if (replay) {
		cfg.segment_path[0] = '\0'; /* replay counts privately */
		if (o.port || o.dialect || o.framing || cfg.nb_services == 0) {
			dp_config_free(&cfg);
			if (dp_config_add_service(&cfg, (uint16_t)(o.port ? o.port : 5000),
						  o.dialect ? o.dialect : "ascii87",
						  o.framing ? o.framing : "len2",
						  (uint32_t)o.max_msg, err, sizeof(err)) < 0) {
				rg_mask_errorf(stderr, "riskgate-dp", "%s", err);
				return 2;
			}
		}
		if (o.flows)
			cfg.nb_flows = (uint32_t)o.flows;
	}
	if (o.table)
		snprintf(cfg.table_path, sizeof(cfg.table_path), "%s", o.table);
	if (o.key)
		snprintf(cfg.key_path, sizeof(cfg.key_path), "%s", o.key);
	if (dp_config_finish(&cfg, err, sizeof(err)) < 0) {
		rg_mask_errorf(stderr, "riskgate-dp", "%s", err);
		goto out_config;
	}
	key = rg_fp_key_load(cfg.key_path, err, sizeof(err));
	if (key == NULL) {
		rg_mask_errorf(stderr, "riskgate-dp", "key file: %s", err);
		rc = 2;
		goto out_config;
	}
	probe = rg_table_open_reader(cfg.table_path);
	if (probe == NULL) {
		rg_mask_errorf(stderr, "riskgate-dp", "table %s: %s", cfg.table_path,
			       strerror(errno));
		rc = 2;
		goto out_key;
	}
	rg_table_close(probe);

	/* EAL: the user's arguments, or for a replay defaults that run anywhere */
	eal_argv[eal_argc++] = argv[0];
	if (dd > 1) {
		for (int i = 1; i < dd && eal_argc < DP_EAL_ARGS_MAX - 8; i++)
			eal_argv[eal_argc++] = argv[i];
	} else if (replay) {
		snprintf(prefix, sizeof(prefix), "--file-prefix=rgdp%d", (int)getpid());
		eal_argv[eal_argc++] = "-l";
		eal_argv[eal_argc++] = "0";
		eal_argv[eal_argc++] = "--no-huge";
		eal_argv[eal_argc++] = "-m";
		eal_argv[eal_argc++] = "512";
		eal_argv[eal_argc++] = "--no-pci";
		eal_argv[eal_argc++] = "--no-shconf";
		eal_argv[eal_argc++] = "--no-telemetry";
		eal_argv[eal_argc++] = prefix;
		eal_argv[eal_argc++] = "--log-level=lib.*:warning";
	}
	if (replay) {
		if (o.loops > 1)
			snprintf(vdev_in, sizeof(vdev_in), "--vdev=net_null_rgin");
		else
			snprintf(vdev_in, sizeof(vdev_in), "--vdev=net_pcap_rgin,rx_pcap=%s", o.replay);
		if (o.out)
			snprintf(vdev_out, sizeof(vdev_out), "--vdev=net_pcap_rgout,tx_pcap=%s", o.out);
		else
			snprintf(vdev_out, sizeof(vdev_out), "--vdev=net_null_rgout");
		eal_argv[eal_argc++] = vdev_in;
		eal_argv[eal_argc++] = vdev_out;
		cfg.nb_pairs = 1;
		snprintf(cfg.pair[0].name[0], DP_NAME_MAX, "%s", o.loops > 1 ? "net_null_rgin" :
			 "net_pcap_rgin");
		snprintf(cfg.pair[0].name[1], DP_NAME_MAX, "%s", o.out ? "net_pcap_rgout" :
			 "net_null_rgout");
		if (access(o.replay, R_OK) != 0) {
			rg_mask_errorf(stderr, "riskgate-dp", "%s: %s", o.replay, strerror(errno));
			rc = 2;
			goto out_key;
		}
	} else if (cfg.nb_pairs == 0) {
		rg_mask_errorf(stderr, "riskgate-dp", "%s: ports: missing", o.config);
		rc = 2;
		goto out_key;
	}
	eal_argv[eal_argc] = NULL;

	r = rte_eal_init(eal_argc, eal_argv);
	if (r < 0) {
		rg_mask_errorf(stderr, "riskgate-dp", "EAL: %s", rte_strerror(rte_errno));
		rc = 2;
		goto out_key;
	}

	/* workers: the configured lcores, or the main lcore alone */
	x.cfg = &cfg;
	x.key = key;
	x.replay = replay;
	if (replay || cfg.nb_workers == 0) {
		cfg.nb_workers = 1;
		cfg.worker_lcore[0] = rte_get_main_lcore();
	}
	for (unsigned w = 0; w < cfg.nb_workers; w++)
		if (!rte_lcore_is_enabled(cfg.worker_lcore[w])) {
			rg_mask_errorf(stderr, "riskgate-dp",
				       "%s: lcore %u is not enabled in EAL (-l)",
				       o.config ? o.config : "lcores", cfg.worker_lcore[w]);
			rc = 2;
			goto out_eal;
		}
	x.nb_lcores = cfg.nb_workers;
	for (unsigned i = 0; i < cfg.nb_services; i++) {
		uint16_t p = cfg.svc[i].port;

		x.svc_port_bits[p >> 6] |= 1ull << (p & 63);
		x.svc_of_port[p] = (uint8_t)i;
	}
	{
		struct rg_seg_policy pol = { 0 };
		struct rg_segment_opts so = {
			.path = cfg.segment_path[0] ? cfg.segment_path : NULL,
			.nb_lcores = x.nb_lcores,
			.ring_size = replay && o.events ? 1u << 16 : cfg.ring_size,
			.table_path = cfg.table_path,
			.policy = &pol,
			.no_hugetlb = cfg.segment_no_hugetlb,
		};

		memcpy(pol.list_action, cfg.list_action, sizeof(pol.list_action));
		pol.fail_mode = cfg.fail_mode;
		pol.exempt_mti_classes = cfg.exempt_mti_classes;
		x.seg = rg_segment_create(&so, err, sizeof(err));
		if (x.seg == NULL) {
			rg_mask_errorf(stderr, "riskgate-dp", "%s", err);
			rc = 2;
			goto out_eal;
		}
	}
	x.pool = rte_pktmbuf_pool_create("dp_mbufs", cfg.nb_mbufs, 256, 0,
					 RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	if (x.pool == NULL) {
		rg_mask_errorf(stderr, "riskgate-dp", "mbuf pool of %u: %s", cfg.nb_mbufs,
			rte_strerror(rte_errno));
		goto out_seg;
	}
	for (unsigned w = 0; w < x.nb_lcores; w++) {
		struct dp_lcore *lc = rte_zmalloc("dp_lcore", sizeof(*lc), RTE_CACHE_LINE_SIZE);

		if (lc == NULL) {
			rg_mask_errorf(stderr, "riskgate-dp", "no memory for lcore state");
			goto out_lcores;
		}
		x.lc[w] = lc;
		if (dp_lcore_init(lc, &x, w, err, sizeof(err)) < 0) {
			rg_mask_errorf(stderr, "riskgate-dp", "%s", err);
			goto out_lcores;
		}
		lc->lcore_id = cfg.worker_lcore[w];
		rg_segment_header(x.seg)->lcore_id[w] = (uint16_t)lc->lcore_id;
		/* handed to its worker before it starts, used by it alone */
		lc->table = rg_table_open_reader(cfg.table_path);
		if (lc->table == NULL) {
			rg_mask_errorf(stderr, "riskgate-dp", "table %s: %s", cfg.table_path,
				strerror(errno));
			rc = 2;
			goto out_lcores;
		}
		lc->start_tsc = rte_rdtsc();
		lc->start_ns = dp_realtime_ns();
	}
	if (dp_ports_setup(&x, err, sizeof(err)) < 0) {
		rg_mask_errorf(stderr, "riskgate-dp", "%s", err);
		rc = 2;
		goto out_ports;
	}
	if (dp_telemetry_register(&x) < 0)
		rg_mask_errorf(stderr, "riskgate-dp", "telemetry commands not registered");
	signal(SIGINT, dp_signal);
	signal(SIGTERM, dp_signal);

	if (replay) {
		struct dp_replay_opts ro = {
			.in = o.replay, .out = o.out, .events = o.events, .loops = o.loops,
		};

		if (dp_replay_run(&x, &ro, err, sizeof(err)) < 0) {
			rg_mask_errorf(stderr, "riskgate-dp", "%s", err);
			goto out_ports;
		}
		rc = 0;
		goto out_lcores;
	}

	for (unsigned w = 0; w < x.nb_lcores; w++)
		if (x.lc[w]->lcore_id != rte_get_main_lcore())
			rte_eal_remote_launch(dp_lcore_loop, x.lc[w], x.lc[w]->lcore_id);
	fprintf(stderr, "riskgate-dp: %u pair(s), %u worker(s), %u service port(s), table %s\n",
		cfg.nb_pairs, x.nb_lcores, cfg.nb_services, cfg.table_path);
	for (unsigned w = 0; w < x.nb_lcores; w++)
		if (x.lc[w]->lcore_id == rte_get_main_lcore())
			dp_lcore_loop(x.lc[w]);
	while (!dp_quit)
		rte_delay_ms(50);
	rte_eal_mp_wait_lcore();
	dp_prof_report(&x, stdout);
	rc = 0;

out_ports:
	dp_ports_close(&x);
out_lcores:
	for (unsigned w = 0; w < x.nb_lcores; w++) {
		if (x.lc[w] == NULL)
			continue;
		if (x.lc[w]->table)
			rg_table_close(x.lc[w]->table);
		dp_lcore_free(x.lc[w]);
		rte_free(x.lc[w]);
	}
	rte_mempool_free(x.pool);
out_seg:
	rg_segment_close(x.seg);
out_eal:
	rte_eal_cleanup();
	if (replay && dd <= 1) {
		char dir[128];

		snprintf(dir, sizeof(dir), "/var/run/dpdk/rgdp%d", (int)getpid());
		rmdir(dir);
	}
out_key:
	rg_fp_key_free(key);
out_config:
	dp_config_free(&cfg);
	return rc;
}
