/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The Prometheus text endpoint (GET /metrics), served by libmicrohttpd in
 * external-epoll mode: its epoll fd sits in the daemon's loop and MHD_run
 * is called from the loop thread, so the handler reads the daemon's state
 * without locks.  Loopback by default (`metrics` in the configuration).
 * Names: riskgate_ prefix, _total for counters, base units.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "control/daemon.h"
#include "control/sync_net.h"

struct mbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void __attribute__((format(printf, 2, 3))) mput(struct mbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		{
			size_t cap = b->cap * 2 + (size_t)n;
			char *q = realloc(b->p, cap);

			if (q == NULL) {
				b->oom = true;
				return;
			}
			b->p = q;
			b->cap = cap;
		}
	}
}

static void metric(struct mbuf *b, const char *name, const char *type, const char *help,
		   double v)
{
	mput(b, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, v);
}

/* Member sync: forks, witnessing, and per peer (from the peers view). */
static void sync_metrics(struct mbuf *b, struct ctl_daemon *d)
{
	json_t *peers = ctl_syncnet_peers_json(d->syncnet), *p;
	unsigned nb_frozen = 0;
	size_t i;

	for (unsigned m = 0; m < ledger_consortium(d->l)->nb_members; m++)
		nb_frozen += d->frozen[m];
	metric(b, "riskgate_sync_forks_total", "counter", "forks detected (evidence kept)",
	       (double)d->nb_forks);
	metric(b, "riskgate_sync_frozen_logs", "gauge", "logs frozen by a fork", nb_frozen);
	metric(b, "riskgate_witness_cosigned_total", "counter",
	       "checkpoints cosigned for add-checkpoint", (double)d->nb_witness_cosigned);
	metric(b, "riskgate_witness_inconsistent_total", "counter",
	       "add-checkpoint refused as inconsistent", (double)d->nb_witness_inconsistent);
	if (json_array_size(peers) > 0) {
		static const struct {
			const char *name, *type, *help, *key;
		} per_peer[] = {
			{ "riskgate_sync_peer_connected", "gauge", "peer answered last time",
			  "connected" },
			{ "riskgate_sync_peer_errors_total", "counter", "errors counted against a peer",
			  "errors" },
			{ "riskgate_sync_peer_entries_total", "counter", "entries taken from a peer",
			  "entries_in" },
			{ "riskgate_sync_peer_bytes_total", "counter", "bytes received from a peer",
			  "bytes_in" },
		};

		for (size_t k = 0; k < sizeof(per_peer) / sizeof(per_peer[0]); k++) {
			mput(b, "# HELP %s %s\n# TYPE %s %s\n", per_peer[k].name, per_peer[k].help,
			     per_peer[k].name, per_peer[k].type);
			json_array_foreach(peers, i, p) {
				json_t *v = json_object_get(p, per_peer[k].key);

				mput(b, "%s{peer=\"%s\"} %lld\n", per_peer[k].name,
				     json_string_value(json_object_get(p, "member")),
				     json_is_boolean(v) ? (long long)json_is_true(v)
							: (long long)json_integer_value(v));
			}
		}
		mput(b, "# HELP riskgate_sync_lag_entries entries a peer holds of a log beyond this "
			"member\n# TYPE riskgate_sync_lag_entries gauge\n");
		json_array_foreach(peers, i, p) {
			json_t *lg;
			size_t k;

			json_array_foreach(json_object_get(p, "logs"), k, lg)
				mput(b, "riskgate_sync_lag_entries{peer=\"%s\",log=\"%s\"} %lld\n",
				     json_string_value(json_object_get(p, "member")),
				     json_string_value(json_object_get(lg, "member")),
				     (long long)json_integer_value(json_object_get(lg,
										   "lag_entries")));
		}
	}
	json_decref(peers);
}

bool ctl_metrics_beyond_host(const struct ctl_daemon *d)
{
	struct sockaddr_in sa;

	return d->cfg.metrics_listen[0] && ctl_metrics_addr(d->cfg.metrics_listen, &sa) == 0 &&
	       !ctl_metrics_loopback(&sa);
}

char *ctl_metrics_text(struct ctl_daemon *d, size_t *len)
{
	struct mbuf b = { .cap = 16384 };
	const struct ledger_consortium *cs = ledger_consortium(d->l);
	struct rg_table_stats ts;
	struct ctl_sync_stats ss;
	struct ctl_events_stats es;
	const uint64_t *bym = ctl_events_by_member(d->ev);
	uint64_t now = ctl_now_ns();

	b.p = malloc(b.cap);
	if (b.p == NULL)
		return NULL;
	b.p[0] = '\0';
	rg_table_stats(ctl_sync_table(d->sync), &ts);
	ctl_sync_stats(d->sync, &ss);
	ctl_events_stats(d->ev, &es);
	metric(&b, "riskgate_up", "gauge", "riskgated is serving", 1);
	metric(&b, "riskgate_segment_attached", "gauge", "the shared segment is attached",
	       d->seg != NULL);
	if (d->seg != NULL) {
		const struct rg_seg_header *h = rg_segment_header(d->seg);

		mput(&b, "# HELP riskgate_dp_counter_total dataplane counters summed over lcores "
			 "(docs/dataplane.md)\n# TYPE riskgate_dp_counter_total counter\n");
		for (unsigned k = 0; k < RG_CTR_MAX && k < h->nb_counters; k++) {
			if (k == RG_CTR_FLOWS_ACTIVE || (k >= RG_CTR_TABLE_GENERATION &&
							 k <= RG_CTR_POLICY_VERSION))
				continue;
			mput(&b, "riskgate_dp_counter_total{name=\"%s\"} %llu\n", rg_ctr_name(k),
			     (unsigned long long)rg_segment_sum(d->seg, k));
		}
		metric(&b, "riskgate_dp_flows_active", "gauge", "flows followed now",
		       (double)rg_segment_sum(d->seg, RG_CTR_FLOWS_ACTIVE));
		metric(&b, "riskgate_dp_generation", "gauge", "dataplane starts on this segment",
		       (double)h->generation);
		mput(&b, "# HELP riskgate_dp_hits_total hits by list\n"
			 "# TYPE riskgate_dp_hits_total counter\n");
		for (unsigned l = 0; l < LEDGER_LISTS_MAX; l++)
			if (cs->lists[l].name[0])
				mput(&b, "riskgate_dp_hits_total{list=\"%s\"} %llu\n",
				     cs->lists[l].name,
				     (unsigned long long)rg_segment_sum(d->seg,
									RG_CTR_HITS_LIST_BASE + l));
	}
	metric(&b, "riskgate_table_entries", "gauge", "fingerprints in the table", (double)ts.count);
	metric(&b, "riskgate_table_capacity", "gauge", "entries the table was sized for",
	       (double)ts.capacity);
	metric(&b, "riskgate_table_load_ratio", "gauge", "entries per slot", ts.load);
	metric(&b, "riskgate_table_generation", "gauge", "table generation", (double)ts.generation);
	metric(&b, "riskgate_table_ledger_position", "gauge", "ledger position the table reflects",
	       (double)ts.ledger_pos);
	metric(&b, "riskgate_ledger_position", "gauge", "entries in all logs held",
	       (double)ctl_ledger_pos(d));
	metric(&b, "riskgate_table_batches_total", "counter", "table batches committed",
	       (double)ss.nb_batches);
	metric(&b, "riskgate_table_writes_total", "counter", "table writes applied",
	       (double)ss.nb_applied_ops);
	metric(&b, "riskgate_table_expiries_total", "counter", "entries expired",
	       (double)ss.nb_expired);
	metric(&b, "riskgate_table_staleness_seconds", "gauge", "time since the table last advanced",
	       now > ss.last_advance_ns ? (double)(now - ss.last_advance_ns) / 1e9 : 0);
	metric(&b, "riskgate_table_stale", "gauge", "staleness alarm raised", d->stale);
	sync_metrics(&b, d);
	metric(&b, "riskgate_events_total", "counter", "hit events drained", (double)es.nb_events);
	metric(&b, "riskgate_event_lines_total", "counter", "hit event lines written",
	       (double)es.nb_lines);
	metric(&b, "riskgate_event_write_errors_total", "counter", "event lines lost to write errors",
	       (double)es.nb_write_errors);
	metric(&b, "riskgate_event_rotations_total", "counter", "event file rotations",
	       (double)es.nb_rotations);
	mput(&b, "# HELP riskgate_hits_by_contributor_total hit events by contributing member\n"
		 "# TYPE riskgate_hits_by_contributor_total counter\n");
	for (unsigned m = 0; m < cs->nb_members; m++)
		mput(&b, "riskgate_hits_by_contributor_total{member=\"%s\"} %llu\n",
		     cs->members[m].name, (unsigned long long)bym[m]);
	{
		struct ctl_receipts_stats rs;

		ctl_receipts_stats(d->receipts, &rs);
		metric(&b, "riskgate_receipts_recorded_total", "counter",
		       "hit receipts recorded (ledger or receipts store)", (double)rs.nb_recorded);
		metric(&b, "riskgate_receipts_dropped_total", "counter",
		       "hit lines left without a receipt (rate bound, full queue, failed batch)",
		       (double)rs.nb_dropped);
		metric(&b, "riskgate_receipts_unresolved_total", "counter",
		       "hit lines with no ADD in force behind them", (double)rs.nb_unresolved);
		metric(&b, "riskgate_receipts_batches_total", "counter", "receipt batches written",
		       (double)rs.nb_batches);
		metric(&b, "riskgate_receipts_errors_total", "counter", "receipt batches that failed",
		       (double)rs.nb_errors);
		metric(&b, "riskgate_receipts_queued", "gauge", "hit lines waiting for their batch",
		       (double)rs.nb_queued);
	}
	metric(&b, "riskgate_control_requests_total", "counter", "control socket requests",
	       (double)d->nb_requests);
	metric(&b, "riskgate_control_request_errors_total", "counter", "requests answered with an error",
	       (double)d->nb_request_errors);
	metric(&b, "riskgate_control_denied_total", "counter", "admin commands refused",
	       (double)d->nb_denied);
	metric(&b, "riskgate_control_clients", "gauge", "connected control clients",
	       (double)d->nb_clients);
	mput(&b, "# HELP riskgate_control_clients_refused_total connections turned away at accept\n"
		 "# TYPE riskgate_control_clients_refused_total counter\n"
		 "riskgate_control_clients_refused_total{reason=\"full\"} %llu\n"
		 "riskgate_control_clients_refused_total{reason=\"per_uid\"} %llu\n"
		 "riskgate_control_clients_refused_total{reason=\"error\"} %llu\n",
	     (unsigned long long)d->nb_refused_full, (unsigned long long)d->nb_refused_per_uid,
	     (unsigned long long)(d->nb_clients_refused - d->nb_refused_full -
				  d->nb_refused_per_uid));
	mput(&b, "# HELP riskgate_control_clients_closed_total connections the daemon closed\n"
		 "# TYPE riskgate_control_clients_closed_total counter\n"
		 "riskgate_control_clients_closed_total{reason=\"idle\"} %llu\n"
		 "riskgate_control_clients_closed_total{reason=\"slow_reader\"} %llu\n",
	     (unsigned long long)d->nb_closed_idle, (unsigned long long)d->nb_clients_dropped);
	mput(&b, "# HELP riskgate_lookups_total lookups answered over the control socket\n"
		 "# TYPE riskgate_lookups_total counter\n"
		 "riskgate_lookups_total{result=\"hit\"} %llu\n"
		 "riskgate_lookups_total{result=\"miss\"} %llu\n",
	     (unsigned long long)d->nb_lookup_hits,
	     (unsigned long long)(d->nb_lookups - d->nb_lookup_hits));
	mput(&b, "# HELP riskgate_lookups_refused_total lookups refused\n"
		 "# TYPE riskgate_lookups_refused_total counter\n"
		 "riskgate_lookups_refused_total{reason=\"denied\"} %llu\n"
		 "riskgate_lookups_refused_total{reason=\"rate\"} %llu\n",
	     (unsigned long long)d->nb_lookups_denied, (unsigned long long)d->nb_lookups_limited);
	metric(&b, "riskgate_lookup_events_total", "counter",
	       "events of lookups that hit (source lookup)", (double)es.nb_lookup_events);
	metric(&b, "riskgate_metrics_public", "gauge",
	       "this endpoint is served beyond the loopback (metrics_public)",
	       d->mhd != NULL && ctl_metrics_beyond_host(d));
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}

static enum MHD_Result metrics_handler(void *cls, struct MHD_Connection *conn, const char *url,
				       const char *method, const char *version,
				       const char *upload_data, size_t *upload_data_size,
				       void **con_cls)
{
	struct ctl_daemon *d = cls;
	struct MHD_Response *r;
	enum MHD_Result ret;
	unsigned status = MHD_HTTP_OK;
	char *text = NULL;
	size_t len = 0;

	(void)version, (void)upload_data, (void)upload_data_size, (void)con_cls;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		status = MHD_HTTP_METHOD_NOT_ALLOWED;
	} else if (strcmp(url, "/metrics") != 0) {
		status = MHD_HTTP_NOT_FOUND;
	} else {
		text = ctl_metrics_text(d, &len);
		if (text == NULL)
			status = MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	if (text == NULL) {
		static const char nf[] = "see /metrics\n";

		r = MHD_create_response_from_buffer(sizeof(nf) - 1, (void *)nf,
						    MHD_RESPMEM_PERSISTENT);
	} else {
		r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	}
	if (r == NULL) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

int ctl_metrics_addr(const char *listen, struct sockaddr_in *sa)
{
	char host[64], *colon, *end;
	long port;

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	if (strlen(listen) >= sizeof(host))
		return -EINVAL;
	snprintf(host, sizeof(host), "%s", listen);
	colon = strrchr(host, ':');
	if (colon == NULL || colon[1] == '\0')
		return -EINVAL;
	*colon = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || port < 0 || port > 65535 ||
	    inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		return -EINVAL;
	sa->sin_port = htons((uint16_t)port);
	return 0;
}

bool ctl_metrics_loopback(const struct sockaddr_in *sa)
{
	return (ntohl(sa->sin_addr.s_addr) >> 24) == 127;
}

int ctl_metrics_open(struct ctl_daemon *d, char *err, size_t cap)
{
	struct sockaddr_in sa;
	const union MHD_DaemonInfo *info;

	d->mhd_fd = -1;
	if (!d->cfg.metrics_listen[0])
		return 0;
	/* checked with the configuration, but this is where the port opens */
	if (ctl_config_check(&d->cfg, NULL, err, cap) != 0 ||
	    ctl_metrics_addr(d->cfg.metrics_listen, &sa) != 0)
		return -EINVAL;
	if (!ctl_metrics_loopback(&sa))
		ctl_log(CTL_LOG_WARN, "metrics %s: served beyond this host (metrics_public): "
			"anyone who can reach the port reads the counters", d->cfg.metrics_listen);
	d->mhd = MHD_start_daemon(MHD_USE_EPOLL, ntohs(sa.sin_port), NULL, NULL, metrics_handler, d,
				  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
	if (d->mhd == NULL) {
		snprintf(err, cap, "metrics %s: cannot listen (address in use or not local?)",
			 d->cfg.metrics_listen);
		return -EADDRNOTAVAIL;
	}
	info = MHD_get_daemon_info(d->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (info == NULL) {
		MHD_stop_daemon(d->mhd);
		d->mhd = NULL;
		snprintf(err, cap, "metrics: libmicrohttpd without epoll");
		return -ENOTSUP;
	}
	d->mhd_fd = info->epoll_fd;
	return 0;
}

void ctl_metrics_run(struct ctl_daemon *d)
{
	if (d->mhd != NULL)
		MHD_run(d->mhd);
}

void ctl_metrics_close(struct ctl_daemon *d)
{
	if (d->mhd != NULL)
		MHD_stop_daemon(d->mhd);
	d->mhd = NULL;
	d->mhd_fd = -1;
}
