/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control socket (protocol: control/protocol.h): a Unix stream socket,
 * mode 0660, non-blocking clients with bounded input and output buffers,
 * and the command table { name, handler, help, right }.  Rights and slots
 * come from the credentials the kernel fixed at connect (control/peers.c):
 * root and the admin group may run everything, the lookup group also
 * `lookup`, other peers the read-only commands.
 *
 * Raw identifiers reach `add`, `revoke` and `lookup` over the socket; they
 * are normalised, fingerprinted and wiped, and only ever echoed masked.
 * Every error text is masked (rg_mask_text) before it is sent or logged:
 * a handler may quote what the peer sent.  A lookup that hits is an event
 * of the same pipeline as the dataplane's hits (file, `hits`, followers,
 * receipts), with source "lookup" and the peer's uid.
 *
 * `import` is the one command whose reply comes later (CTL_REPLY_LATER):
 * it starts a job of the loop (control/import.c).  Its client reads no
 * further request until the reply is sent, so replies stay in request
 * order.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <sodium.h>

#include "common/ident.h"
#include "control/daemon.h"
#include "control/sync_net.h"

/* bytes of a hits reply line kept for the envelope and an echoed id */
#define CTL_HITS_ENVELOPE 1024

struct ctl_cmd {
	const char *name;
	ctl_cmd_fn fn;
	const char *help;
	enum ctl_right right; /* the least right that may run it */
};

static const char *const ctl_right_names[] = {
	[CTL_RIGHT_READ] = "read",
	[CTL_RIGHT_LOOKUP] = "lookup",
	[CTL_RIGHT_ADMIN] = "admin",
};

/* ---- helpers ---- */

static const char *arg_str(json_t *args, const char *key)
{
	json_t *v = json_object_get(args, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static const char *list_name(const struct ledger_consortium *c, unsigned bit, char *buf,
			     size_t cap)
{
	if (bit < LEDGER_LISTS_MAX && c->lists[bit].name[0])
		return c->lists[bit].name;
	if (rg_list_std_name(bit))
		return rg_list_std_name(bit);
	snprintf(buf, cap, "list_%u", bit);
	return buf;
}

static int find_list(const struct ledger_consortium *c, const char *name)
{
	int l = name ? ledger_list_find(c, name) : -1;

	if (l < 0 && name)
		l = rg_list_std_id(name);
	return l;
}

/* b[0..n), n at most LEDGER_SIG_BYTES (hashes and signatures) */
static json_t *hex_json(const uint8_t *b, size_t n)
{
	char h[2 * LEDGER_SIG_BYTES + 1];

	if (n > LEDGER_SIG_BYTES)
		return json_null();
	ledger_hex(b, n, h);
	return json_string(h);
}

/*
 * Fingerprint of KIND VALUE from args; the masked echo into masked.
 * The normalised value lives on the stack and is wiped.
 */
static int args_fp(struct ctl_daemon *d, json_t *args, unsigned *kind_out, struct rg_fp *fp,
		   char *masked, size_t mcap, char *why, size_t cap)
{
	const char *ks = arg_str(args, "kind"), *value = arg_str(args, "value");
	char norm[RG_IDENT_MAX_LEN];
	unsigned kind;
	int n;

	if (ks == NULL || value == NULL) {
		snprintf(why, cap, "needs \"kind\" and \"value\"");
		return CTL_ERR_BAD_ARGS;
	}
	kind = (unsigned)rg_kind_from_name(ks);
	if (kind == RG_KIND_NONE) {
		snprintf(why, cap, "unknown kind '%.32s'", ks);
		return CTL_ERR_BAD_ARGS;
	}
	n = rg_ident_normalise(kind, value, strnlen(value, 256), norm);
	if (n < 0) {
		snprintf(why, cap, "not a valid %s", rg_kind_name(kind));
		return CTL_ERR_BAD_ARGS;
	}
	if (rg_ident_mask(kind, norm, (size_t)n, masked, mcap) < 0)
		snprintf(masked, mcap, "(masked)");
	rg_fp_compute(ledger_fp_key(d->l), kind, norm, (size_t)n, fp);
	if (kind_out)
		*kind_out = kind;
	sodium_memzero(norm, sizeof(norm));
	return 0;
}

/* Append e (one entry) to the own log, then the table; reply fields. */
static int append_apply(struct ctl_daemon *d, struct ledger_entry *e, json_t **result, char *why,
			size_t cap)
{
	uint8_t buf[LEDGER_ENTRY_MAX];
	const uint8_t *p = buf;
	struct ledger_block b;
	uint16_t len;
	int n, rc;

	n = ledger_entry_encode(e, buf);
	if (n < 0) {
		snprintf(why, cap, "entry out of range");
		return CTL_ERR_BAD_ARGS;
	}
	len = (uint16_t)n;
	if (ledger_append(d->l, &p, &len, 1, &b, why, cap) != 0)
		return CTL_ERR_FAILED;
	rc = ctl_sync_apply(d->sync, (unsigned)ledger_self(d->l), b.first_pos, e, 1);
	if (rc != 0) {
		d->nb_sync_errors++;
		ctl_log(CTL_LOG_ERR, "table %s: apply: %s", d->cfg.table_path, strerror(-rc));
		snprintf(why, cap, "appended at %llu but the table update failed: %s",
			 (unsigned long long)b.first_pos, strerror(-rc));
		return CTL_ERR_FAILED;
	}
	*result = json_pack("{s:s, s:I, s:I, s:o, s:I}", "op", ledger_op_name(e->op), "pos",
			    (json_int_t)b.first_pos, "size", (json_int_t)(b.first_pos + 1), "root",
			    hex_json(b.tree_root, LEDGER_HASH_BYTES), "table_ledger_pos",
			    (json_int_t)rg_table_ledger_pos(ctl_sync_table(d->sync), NULL));
	return 0;
}

/* ---- commands ---- */

static int cmd_version(struct ctl_daemon *d, struct ctl_client *c, json_t *args, json_t **result,
		       char *why, size_t cap)
{
	(void)d, (void)c, (void)args, (void)why, (void)cap;
	*result = json_pack("{s:s, s:i}", "version", CTL_VERSION, "protocol", CTL_PROTOCOL_VERSION);
	return 0;
}

static json_t *table_json(struct ctl_daemon *d)
{
	struct rg_table_stats ts;
	struct ctl_sync_stats ss;
	uint64_t now = ctl_now_ns(), lpos = ctl_ledger_pos(d);

	rg_table_stats(ctl_sync_table(d->sync), &ts);
	ctl_sync_stats(d->sync, &ss);
	return json_pack("{s:s, s:I, s:I, s:I, s:f, s:I, s:I, s:I, s:b, s:b, s:I, s:I, s:I, s:I, "
			 "s:I, s:I, s:b, s:b, s:I, s:b}",
			 "path", rg_table_path(ctl_sync_table(d->sync)), "count",
			 (json_int_t)ts.count, "capacity", (json_int_t)ts.capacity, "slots",
			 (json_int_t)ts.nb_slots, "load", ts.load, "generation",
			 (json_int_t)ts.generation, "ledger_pos", (json_int_t)ts.ledger_pos,
			 "ledger_head_pos", (json_int_t)lpos, "in_sync", ts.ledger_pos == lpos,
			 "hugetlb", ts.hugetlb, "file_bytes", (json_int_t)ts.file_bytes, "readers",
			 (json_int_t)ts.nb_readers, "batches", (json_int_t)ss.nb_batches,
			 "ops_applied", (json_int_t)ss.nb_applied_ops, "expired",
			 (json_int_t)ss.nb_expired, "staleness_sec",
			 (json_int_t)(now > ss.last_advance_ns ? (now - ss.last_advance_ns) / 1000000000ull : 0),
			 "stale", d->stale, "reattached", ss.reattached, "grows",
			 (json_int_t)ss.nb_grows, "rebuilt", ss.rebuilt);
}

static json_t *segment_json(struct ctl_daemon *d)
{
	const struct rg_seg_header *h;
	struct rg_seg_policy p;

	if (d->seg == NULL)
		return json_pack("{s:s, s:b}", "path", d->cfg.segment_path, "attached", 0);
	h = rg_segment_header(d->seg);
	memset(&p, 0, sizeof(p));
	rg_seg_policy_read(rg_segment_policy(d->seg), &p);
	return json_pack("{s:s, s:b, s:I, s:I, s:i, s:b, s:I, s:b}", "path", d->cfg.segment_path,
			 "attached", 1, "dp_pid", (json_int_t)h->dp_pid, "generation",
			 (json_int_t)h->generation, "lcores", (int)h->nb_lcores, "hugetlb",
			 h->hugetlb != 0, "policy_version", (json_int_t)p.version,
			 "dataplane_alive", h->dp_pid != 0 && kill((pid_t)h->dp_pid, 0) == 0);
}

static json_t *metrics_status_json(const struct ctl_daemon *d)
{
	return json_pack("{s:s, s:b, s:b}", "listen", d->cfg.metrics_listen, "serving",
			 d->mhd != NULL, "public", ctl_metrics_beyond_host(d));
}

/* What an operator should know of the configuration in force. */
static json_t *warnings_json(const struct ctl_daemon *d)
{
	json_t *a = json_array();
	char w[160];

	if (ctl_metrics_beyond_host(d)) {
		snprintf(w, sizeof(w), "metrics are served beyond this host on %s (metrics_public)",
			 d->cfg.metrics_listen);
		json_array_append_new(a, json_string(w));
	}
	if (d->cfg.admin_group[0] && !d->admin_gid_ok) {
		snprintf(w, sizeof(w), "admin group %.64s does not exist: only root may run admin "
			 "commands", d->cfg.admin_group);
		rg_mask_text(w);
		json_array_append_new(a, json_string(w));
	}
	return a;
}

static int cmd_status(struct ctl_daemon *d, struct ctl_client *c, json_t *args, json_t **result,
		      char *why, size_t cap)
{
	const struct ledger_consortium *cs = ledger_consortium(d->l);
	struct ctl_events_stats es;

	(void)c, (void)args, (void)why, (void)cap;
	ctl_events_stats(d->ev, &es);
	*result = json_pack("{s:s, s:i, s:I, s:s, s:s, s:I, s:o, s:o, s:b, s:I, s:i, s:s}",
			    "version", CTL_VERSION, "pid", (int)getpid(), "uptime_sec",
			    (json_int_t)((ctl_now_ns() - d->start_ns) / 1000000000ull), "member",
			    ledger_self(d->l) >= 0 ? cs->members[ledger_self(d->l)].name
						   : "(joining)",
			    "consortium", cs->name,
			    "ledger_pos", (json_int_t)ctl_ledger_pos(d), "table", table_json(d),
			    "segment", segment_json(d), "stale", d->stale, "events",
			    (json_int_t)es.nb_events, "clients", (int)d->nb_clients, "config",
			    d->config_path[0] ? d->config_path : "(built-in defaults)");
	json_object_set_new(*result, "import", ctl_import_status_json(d));
	json_object_set_new(*result, "metrics", metrics_status_json(d));
	json_object_set_new(*result, "warnings", warnings_json(d));
	return 0;
}

static int cmd_stats(struct ctl_daemon *d, struct ctl_client *c, json_t *args, json_t **result,
		     char *why, size_t cap)
{
	const struct ledger_consortium *cs = ledger_consortium(d->l);
	const uint64_t *bym = ctl_events_by_member(d->ev);
	json_t *tot = json_object(), *lc = json_array(), *bm = json_object();
	struct ctl_events_stats es;

	(void)c, (void)args, (void)why, (void)cap;
	if (d->seg != NULL) {
		const struct rg_seg_header *h = rg_segment_header(d->seg);

		for (unsigned k = 0; k < RG_CTR_MAX && k < h->nb_counters; k++)
			json_object_set_new(tot, rg_ctr_name(k),
					    json_integer((json_int_t)rg_segment_sum(d->seg, k)));
		for (unsigned i = 0; i < h->nb_lcores; i++) {
			const struct rg_seg_stats *s = rg_segment_stats(d->seg, i);

			json_array_append_new(lc, json_pack(
				"{s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:I}", "slot", (int)i,
				"lcore", (int)h->lcore_id[i], "rx_pkts",
				(json_int_t)s->c[RG_CTR_RX_PKTS], "tx_pkts",
				(json_int_t)s->c[RG_CTR_TX_PKTS], "messages",
				(json_int_t)s->c[RG_CTR_MESSAGES], "lookups",
				(json_int_t)s->c[RG_CTR_LOOKUPS], "hits", (json_int_t)s->c[RG_CTR_HITS],
				"events_dropped", (json_int_t)s->c[RG_CTR_EVENTS_DROPPED]));
		}
	}
	for (unsigned m = 0; m < cs->nb_members; m++)
		json_object_set_new(bm, cs->members[m].name, json_integer((json_int_t)bym[m]));
	ctl_events_stats(d->ev, &es);
	*result = json_pack(
		"{s:o, s:o, s:{s:I, s:I, s:I, s:I, s:I}, s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I}, "
		"s:{s:I, s:I, s:I, s:I, s:I}, s:b, s:b}",
		"total", tot, "lcores", lc, "rates", "rx_pkts_per_s", (json_int_t)d->rate.rx_pkts,
		"messages_per_s", (json_int_t)d->rate.messages, "lookups_per_s",
		(json_int_t)d->rate.lookups, "hits_per_s", (json_int_t)d->rate.hits, "events_per_s",
		(json_int_t)d->rate.events, "hits_by_member", bm, "events", "drained",
		(json_int_t)es.nb_events, "lines", (json_int_t)es.nb_lines, "write_errors",
		(json_int_t)es.nb_write_errors, "rotations", (json_int_t)es.nb_rotations,
		"follow_dropped", (json_int_t)d->nb_follow_dropped, "file_bytes",
		(json_int_t)es.bytes_file, "control", "requests", (json_int_t)d->nb_requests,
		"request_errors", (json_int_t)d->nb_request_errors, "denied",
		(json_int_t)d->nb_denied, "clients_refused", (json_int_t)d->nb_clients_refused,
		"clients_dropped", (json_int_t)d->nb_clients_dropped, "stale", d->stale,
		"segment_attached", d->seg != NULL);
	json_object_update_new(json_object_get(*result, "control"), json_pack(
		"{s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "clients", (int)d->nb_clients,
		"clients_refused_full", (json_int_t)d->nb_refused_full, "clients_refused_per_uid",
		(json_int_t)d->nb_refused_per_uid, "clients_closed_idle",
		(json_int_t)d->nb_closed_idle, "lookups", (json_int_t)d->nb_lookups, "lookup_hits",
		(json_int_t)d->nb_lookup_hits, "lookups_denied", (json_int_t)d->nb_lookups_denied,
		"lookups_rate_limited", (json_int_t)d->nb_lookups_limited));
	json_object_set_new(json_object_get(*result, "events"), "lookup_events",
			    json_integer((json_int_t)es.nb_lookup_events));
	return 0;
}

static int cmd_lists(struct ctl_daemon *d, struct ctl_client *c, json_t *args, json_t **result,
		     char *why, size_t cap)
{
	const struct ledger_consortium *cs = ledger_consortium(d->l);
	struct rg_seg_policy eff;
	json_t *a = json_array();
	char nb[32];

	(void)c, (void)args, (void)why, (void)cap;
	ctl_daemon_effective_policy(d, &eff);
	for (unsigned l = 0; l < LEDGER_LISTS_MAX; l++) {
		if (!cs->lists[l].name[0])
			continue;
		json_array_append_new(a, json_pack(
			"{s:i, s:s, s:b, s:s, s:s, s:I}", "bit", (int)l, "name",
			list_name(cs, l, nb, sizeof(nb)), "luhn", cs->lists[l].luhn, "action",
			rg_action_name(d->policy.list_action[l]), "in_force",
			rg_action_name(eff.list_action[l]), "hits",
			(json_int_t)(d->seg ? rg_segment_sum(d->seg, RG_CTR_HITS_LIST_BASE + l) : 0)));
	}
	*result = json_pack("{s:o}", "lists", a);
	return 0;
}

static json_t *policy_json(struct ctl_daemon *d)
{
	const struct ledger_consortium *cs = ledger_consortium(d->l);
	struct rg_seg_policy eff, seg;
	json_t *lists = json_object(), *ex = json_array();
	char nb[32];

	ctl_daemon_effective_policy(d, &eff);
	for (unsigned l = 0; l < LEDGER_LISTS_MAX; l++)
		if (cs->lists[l].name[0] || l < RG_LIST_NB_STD)
			json_object_set_new(lists, list_name(cs, l, nb, sizeof(nb)),
					    json_string(rg_action_name(eff.list_action[l])));
	for (unsigned k = 0; k < RG_SEG_MTI_CLASSES; k++)
		if (eff.exempt_mti_classes >> k & 1)
			json_array_append_new(ex, json_integer(k));
	memset(&seg, 0, sizeof(seg));
	if (d->seg)
		rg_seg_policy_read(rg_segment_policy(d->seg), &seg);
	return json_pack("{s:o, s:s, s:o, s:b, s:I}", "lists", lists, "fail_mode",
			 eff.fail_mode == RG_FAIL_CLOSED ? "closed" : "open", "exempt_mti_classes",
			 ex, "stale_fallback_active", d->stale && d->cfg.stale_fallback,
			 "segment_version", (json_int_t)seg.version);
}

static int cmd_policy_show(struct ctl_daemon *d, struct ctl_client *c, json_t *args,
			   json_t **result, char *why, size_t cap)
{
	(void)c, (void)args, (void)why, (void)cap;
	*result = policy_json(d);
	return 0;
}

static int cmd_policy_set(struct ctl_daemon *d, struct ctl_client *c, json_t *args,
			  json_t **result, char *why, size_t cap)
{
	const char *list = arg_str(args, "list"), *action = arg_str(args, "action");
	int l = find_list(ledger_consortium(d->l), list);
	int a = action ? rg_action_from_name(action) : -1;

	(void)c;
	if (l < 0 || l >= RG_LIST_MAX) {
		snprintf(why, cap, "unknown list '%.40s'", list ? list : "");
		return CTL_ERR_BAD_ARGS;
	}
	if (a < 0) {
		snprintf(why, cap, "action must be off, monitor or decline");
		return CTL_ERR_BAD_ARGS;
	}
	d->policy.list_action[l] = (uint8_t)a;
	ctl_daemon_push_policy(d);
	ctl_log(CTL_LOG_INFO, "policy: list %s set to %s by uid %u", list, action, (unsigned)c->uid);
	*result = policy_json(d);
	return 0;
}

static int cmd_fail_mode(struct ctl_daemon *d, struct ctl_client *c, json_t *args,
			 json_t **result, char *why, size_t cap)
{
	const char *m = arg_str(args, "mode");

	(void)c;
	if (m == NULL || (strcmp(m, "open") != 0 && strcmp(m, "closed") != 0)) {
		snprintf(why, cap, "mode must be open or closed");
		return CTL_ERR_BAD_ARGS;
	}
	d->policy.fail_mode = strcmp(m, "closed") == 0 ? RG_FAIL_CLOSED : RG_FAIL_OPEN;
	ctl_daemon_push_policy(d);
	*result = policy_json(d);
	return 0;
}

static int cmd_exempt(struct ctl_daemon *d, struct ctl_client *c, json_t *args, json_t **result,
		      char *why, size_t cap)
{
	json_t *cl = json_object_get(args, "class");
	const char *on = arg_str(args, "state");

	(void)c;
	if (!json_is_integer(cl) || json_integer_value(cl) < 0 || json_integer_value(cl) > 9 ||
	    on == NULL || (strcmp(on, "on") != 0 && strcmp(on, "off") != 0)) {
		snprintf(why, cap, "needs \"class\" 0..9 and \"state\" on|off");
		return CTL_ERR_BAD_ARGS;
	}
	if (strcmp(on, "on") == 0)
		d->policy.exempt_mti_classes |= (uint16_t)(1u << json_integer_value(cl));
	else
		d->policy.exempt_mti_classes &= (uint16_t)~(1u << json_integer_value(cl));
	ctl_daemon_push_policy(d);
	*result = policy_json(d);
	return 0;
}

static int cmd_table(struct ctl_daemon *d, struct ctl_client *c, json_t *args, json_t **result,
		     char *why, size_t cap)
{
	(void)c, (void)args, (void)why, (void)cap;
	*result = table_json(d);
	return 0;
}

/* A lookup that hit, as an event of the dataplane's pipeline: the event
 * file, `hits`, followers and hit receipts (control/events.c). */
static void lookup_event(struct ctl_daemon *d, struct ctl_client *c, unsigned kind,
			 const struct rg_fp *fp, const char *masked, struct rg_table_val v)
{
	struct ctl_event_src src = { .name = "lookup", .uid = (unsigned)c->uid };
	struct rg_seg_policy eff;
	struct rg_event e;

	memset(&e, 0, sizeof(e));
	ctl_daemon_effective_policy(d, &eff);
	e.time_ns = ctl_now_ns();
	e.ledger_pos = rg_table_ledger_pos(ctl_sync_table(d->sync), NULL);
	e.kind = RG_EVENT_HIT;
	e.ident_kind = (uint8_t)kind;
	e.lists = v.lists;
	e.contributor = v.contributor;
	e.action_hint = v.action;
	for (unsigned l = 0; l < RG_LIST_MAX; l++)
		if (v.lists >> l & 1 && eff.list_action[l] > e.action)
			e.action = eff.list_action[l];
	memcpy(e.fp, fp->b, RG_EVENT_FP_PREFIX);
	snprintf(e.masked, sizeof(e.masked), "%s", masked);
	src.user = ctl_peer_user(c);
	ctl_events_put(d->ev, &e, &src, ledger_consortium(d->l), ctl_server_follow_line, d);
	ctl_events_flush(d->ev);
}

static int cmd_lookup(struct ctl_daemon *d, struct ctl_client *c, json_t *args, json_t **result,
		      char *why, size_t cap)
{
	const struct ledger_consortium *cs = ledger_consortium(d->l);
	struct ctl_sync_rec recs[64];
	char masked[RG_EVENT_MASKED_MAX], fph[2 * RG_FP_BYTES + 1], nb[32];
	struct rg_table_val v = { 0 };
	json_t *lists, *contrib;
	struct rg_fp fp;
	unsigned kind, n;
	bool in_table;
	double wait_s;
	int rc;

	/* a token first: a malformed value costs one too */
	if (!ctl_lookup_take(d, c->uid, &wait_s)) {
		d->nb_lookups_limited++;
		snprintf(why, cap, "lookups are limited to %u a minute per uid, %u at once "
			 "(lookup_rate_per_min, lookup_burst): the next in %.1f s",
			 d->cfg.lookup_rate_per_min, d->cfg.lookup_burst, wait_s);
		return CTL_ERR_RATE_LIMITED;
	}
	rc = args_fp(d, args, &kind, &fp, masked, sizeof(masked), why, cap);
	if (rc != 0)
		return rc;
	d->nb_lookups++;
	lists = json_array();
	contrib = json_array();
	in_table = rg_table_lookup(ctl_sync_table(d->sync), &fp, &v) == 0;
	if (in_table && v.lists != 0) {
		d->nb_lookup_hits++;
		lookup_event(d, c, kind, &fp, masked, v);
	}
	for (unsigned l = 0; l < RG_LIST_MAX; l++)
		if (v.lists >> l & 1)
			json_array_append_new(lists, json_string(list_name(cs, l, nb, sizeof(nb))));
	n = ctl_sync_find(d->sync, &fp, recs, 64);
	for (unsigned i = 0; i < n && i < 64; i++)
		json_array_append_new(contrib, json_pack(
			"{s:s, s:s, s:I, s:I, s:i}", "member",
			recs[i].member < cs->nb_members ? cs->members[recs[i].member].name : "?",
			"list", list_name(cs, recs[i].list, nb, sizeof(nb)), "pos",
			(json_int_t)recs[i].pos, "expiry", (json_int_t)recs[i].expiry_s, "action",
			(int)recs[i].action));
	rg_fp_hex(&fp, 8, fph);
	*result = json_pack("{s:s, s:s, s:s, s:b, s:o, s:i, s:s, s:o}", "kind", rg_kind_name(kind),
			    "masked", masked, "fp", fph, "in_table", in_table, "lists", lists,
			    "action", (int)v.action, "contributor",
			    in_table && v.contributor < cs->nb_members ? cs->members[v.contributor].name
								       : "",
			    "entries", contrib);
	return 0;
}

/*
 * What add and revoke both take from args: the list (*l), and a zeroed
 * entry (*e, the caller frees it) holding the fingerprint of the kind and
 * value, with the kind and the masked value.  0, or the error code with
 * nothing left allocated.
 */
static int entry_args(struct ctl_daemon *d, json_t *args, int *l, struct ledger_entry **e,
		      unsigned *kind, char *masked, size_t masked_cap, char *why, size_t cap)
{
	const char *list = arg_str(args, "list"), *reason = arg_str(args, "reason");
	int rc;

	*e = NULL;
	if (reason != NULL && ledger_reason_check(reason, strlen(reason)) != NULL) {
		snprintf(why, cap, "%s", ledger_reason_check(reason, strlen(reason)));
		return CTL_ERR_BAD_ARGS;
	}
	*l = list ? ledger_list_find(ledger_consortium(d->l), list) : -1;
	if (*l < 0) {
		snprintf(why, cap, "unknown list '%.40s'", list ? list : "");
		return CTL_ERR_BAD_ARGS;
	}
	*e = calloc(1, sizeof(**e));
	if (*e == NULL)
		return CTL_ERR_FAILED;
	rc = args_fp(d, args, kind, &(*e)->fp, masked, masked_cap, why, cap);
	if (rc != 0) {
		free(*e);
		*e = NULL;
	}
	return rc;
}

bool ctl_joining(struct ctl_daemon *d, char *why, size_t cap)
{
	if (ledger_self(d->l) >= 0)
		return false;
	snprintf(why, cap, "this member is not in the membership yet (joining): it appends "
		 "nothing until a membership change taken in lists it");
	return true;
}

static int cmd_add(struct ctl_daemon *d, struct ctl_client *c, json_t *args, json_t **result,
		   char *why, size_t cap)
{
	const struct ledger_consortium *cs = ledger_consortium(d->l);
	const char *list = arg_str(args, "list"), *sev = arg_str(args, "severity");
	const char *exp = arg_str(args, "expiry"), *reason = arg_str(args, "reason");
	char masked[RG_EVENT_MASKED_MAX];
	struct ledger_entry *e;
	struct ctl_sync_rec own;
	unsigned kind;
	int l, s, rc;

	if (ctl_joining(d, why, cap))
		return CTL_ERR_FAILED;
	rc = entry_args(d, args, &l, &e, &kind, masked, sizeof(masked), why, cap);
	if (rc != 0)
		return rc;
	if (kind == RG_KIND_PAN && cs->lists[l].luhn) {
		/* re-normalise only to check Luhn; wiped at once */
		char norm[RG_IDENT_MAX_LEN];
		const char *value = arg_str(args, "value");
		int nn = rg_ident_normalise(kind, value, strnlen(value, 256), norm);
		bool ok = nn > 0 && rg_luhn_ok(norm, (size_t)nn);

		sodium_memzero(norm, sizeof(norm));
		if (!ok) {
			snprintf(why, cap, "PAN %s fails the Luhn check list %s requires", masked,
				 list);
			rc = CTL_ERR_BAD_ARGS;
			goto out_free;
		}
	}
	s = ledger_severity_from_name(sev ? sev : "medium");
	if (s < 0) {
		snprintf(why, cap, "severity must be low, medium or high");
		rc = CTL_ERR_BAD_ARGS;
		goto out_free;
	}
	if (ledger_parse_time(exp ? exp : "", exp ? strlen(exp) : 0, &e->expiry_s) != 0) {
		snprintf(why, cap, "bad expiry");
		rc = CTL_ERR_BAD_ARGS;
		goto out_free;
	}
	if (reason && strlen(reason) > LEDGER_REASON_MAX) {
		snprintf(why, cap, "reason longer than %d", LEDGER_REASON_MAX);
		rc = CTL_ERR_BAD_ARGS;
		goto out_free;
	}
	if (ctl_sync_find_own(d->sync, &e->fp, (unsigned)l, (unsigned)ledger_self(d->l), &own)) {
		snprintf(why, cap, "%s is already listed on %s by this member (position %llu)",
			 masked, list, (unsigned long long)own.pos);
		rc = CTL_ERR_FAILED;
		goto out_free;
	}
	e->op = LEDGER_OP_ADD;
	e->list = (uint8_t)l;
	e->kind = (uint8_t)kind;
	e->severity = (uint8_t)s;
	e->action = (uint8_t)ledger_severity_action((unsigned)s);
	e->key_epoch = ledger_fp_key(d->l)->epoch;
	e->time_ms = ledger_now_ms();
	if (reason) {
		e->reason_len = (uint8_t)strlen(reason);
		memcpy(e->reason, reason, e->reason_len);
	}
	rc = append_apply(d, e, result, why, cap);
	if (rc == 0) {
		json_object_set_new(*result, "masked", json_string(masked));
		ctl_log(CTL_LOG_INFO, "add: %s %s %s at position %llu by uid %u", list,
			rg_kind_name(kind), masked,
			(unsigned long long)json_integer_value(json_object_get(*result, "pos")),
			(unsigned)c->uid);
	}
out_free:
	free(e);
	return rc;
}

static int cmd_revoke(struct ctl_daemon *d, struct ctl_client *c, json_t *args, json_t **result,
		      char *why, size_t cap)
{
	const struct ledger_consortium *cs = ledger_consortium(d->l);
	const char *list = arg_str(args, "list"), *reason = arg_str(args, "reason");
	unsigned self = (unsigned)ledger_self(d->l);
	char masked[RG_EVENT_MASKED_MAX];
	struct ctl_sync_rec own;
	struct ledger_entry *e;
	unsigned kind;
	int l, rc;

	if (ctl_joining(d, why, cap))
		return CTL_ERR_FAILED;
	rc = entry_args(d, args, &l, &e, &kind, masked, sizeof(masked), why, cap);
	if (rc != 0)
		return rc;
	if (ctl_sync_find_own(d->sync, &e->fp, (unsigned)l, self, &own)) {
		e->ref_pos = own.pos;
	} else {
		snprintf(why, cap, "%s holds no entry for %s on %s (only the contributor may revoke)",
			 cs->members[self].name, masked, list);
		rc = CTL_ERR_FAILED;
		goto out_free;
	}
	if (reason && strlen(reason) > LEDGER_REASON_MAX) {
		snprintf(why, cap, "reason longer than %d", LEDGER_REASON_MAX);
		rc = CTL_ERR_BAD_ARGS;
		goto out_free;
	}
	e->op = LEDGER_OP_REVOKE;
	e->list = (uint8_t)l;
	e->kind = (uint8_t)kind;
	e->key_epoch = ledger_fp_key(d->l)->epoch;
	e->time_ms = ledger_now_ms();
	memcpy(e->ref_member, cs->members[self].id, LEDGER_ID_BYTES);
	if (reason) {
		e->reason_len = (uint8_t)strlen(reason);
		memcpy(e->reason, reason, e->reason_len);
	}
	rc = append_apply(d, e, result, why, cap);
	if (rc == 0) {
		json_object_set_new(*result, "masked", json_string(masked));
		ctl_log(CTL_LOG_INFO, "revoke: %s %s %s by uid %u", list, rg_kind_name(kind), masked,
			(unsigned)c->uid);
	}
out_free:
	free(e);
	return rc;
}

int ctl_server_resync(struct ctl_daemon *d, char *why, size_t cap)
{
	int rc = ctl_sync_resync(d->sync);

	if (rc != 0) {
		d->nb_sync_errors++;
		ctl_log(CTL_LOG_ERR, "table %s: resync: %s", d->cfg.table_path, strerror(-rc));
		snprintf(why, cap, "ledger updated but the table resync failed: %s", strerror(-rc));
		return CTL_ERR_FAILED;
	}
	return 0;
}

static int cmd_pull(struct ctl_daemon *d, struct ctl_client *c, json_t *args, json_t **result,
		    char *why, size_t cap)
{
	const char *path = arg_str(args, "path");
	struct ledger_pull_stats st = { 0 };
	int rc;

	(void)c;
	if (path == NULL || path[0] != '/') {
		snprintf(why, cap, "needs \"path\", absolute");
		return CTL_ERR_BAD_ARGS;
	}
	rc = ledger_pull(d->l, path, &st, why, cap);
	if (st.nb_blocks_new > 0 || st.nb_checkpoints_new > 0)
		d->last_pull_ns = ctl_now_ns();
	if (st.nb_blocks_new > 0 && ctl_server_resync(d, why, cap) != 0)
		return CTL_ERR_FAILED;
	if (rc != 0)
		return CTL_ERR_FAILED;
	*result = json_pack("{s:I, s:I, s:I, s:I}", "blocks_new", (json_int_t)st.nb_blocks_new,
			    "blocks_held", (json_int_t)st.nb_blocks_held, "entries_new",
			    (json_int_t)st.nb_entries_new, "table_ledger_pos",
			    (json_int_t)rg_table_ledger_pos(ctl_sync_table(d->sync), NULL));
	return 0;
}

static int cmd_hits(struct ctl_daemon *d, struct ctl_client *c, json_t *args, json_t **result,
		    char *why, size_t cap)
{
	json_t *n = json_object_get(args, "n"), *hits;
	json_int_t nb = json_is_integer(n) ? json_integer_value(n) : 20;
	bool truncated;

	(void)why, (void)cap;
	if (nb < 0)
		nb = 0;
	if (nb > 100000)
		nb = 100000;
	/* the reply is one protocol line: the newest events that fit, with
	 * room for the envelope and the echoed id */
	hits = ctl_events_recent(d->ev, (unsigned)nb, CTL_LINE_MAX - CTL_HITS_ENVELOPE, &truncated);
	*result = json_pack("{s:o, s:b}", "hits", hits, "truncated", truncated);
	if (json_is_true(json_object_get(args, "follow")))
		c->follow = true;
	return 0;
}

/* "ADDR:PORT" of end e of a flow record. */
static void flow_end_text(const struct rg_seg_flow *f, unsigned e, char *out, size_t cap)
{
	char a[INET6_ADDRSTRLEN];

	if (f->family == 4)
		inet_ntop(AF_INET, f->addr[e], a, sizeof(a));
	else
		inet_ntop(AF_INET6, f->addr[e], a, sizeof(a));
	snprintf(out, cap, f->family == 4 ? "%s:%u" : "[%s]:%u", a, (unsigned)f->port[e]);
}

static int flow_by_msgs(const void *a, const void *b)
{
	const struct rg_seg_flow *x = a, *y = b;

	return x->msgs < y->msgs ? 1 : x->msgs > y->msgs ? -1 : 0;
}

static int cmd_flows(struct ctl_daemon *d, struct ctl_client *c, json_t *args, json_t **result,
		     char *why, size_t cap)
{
	json_t *n = json_object_get(args, "top"), *a;
	json_int_t top = json_is_integer(n) ? json_integer_value(n) : 10;
	const struct rg_seg_header *h;
	struct rg_seg_flow *all;
	uint64_t now = ctl_now_ns(), oldest = 0;
	unsigned nb = 0, lcores;

	(void)c;
	if (n != NULL && (!json_is_integer(n) || top < 1 || top > 100000)) {
		snprintf(why, cap, "top: expected an integer 1..100000");
		return CTL_ERR_BAD_ARGS;
	}
	if (d->seg == NULL) {
		snprintf(why, cap, "no dataplane segment attached (%s)", d->cfg.segment_path);
		return CTL_ERR_FAILED;
	}
	h = rg_segment_header(d->seg);
	lcores = h->nb_lcores;
	all = calloc((size_t)lcores * RG_SEG_TOP_FLOWS, sizeof(*all));
	if (all == NULL) {
		snprintf(why, cap, "out of memory");
		return CTL_ERR_FAILED;
	}
	for (unsigned i = 0; i < lcores; i++) {
		struct rg_seg_top t;
		bool ok = false;

		/* a publish takes microseconds: a few tries always get one */
		for (int tries = 0; tries < 100 && !ok; tries++)
			ok = rg_seg_top_read(&rg_segment_stats(d->seg, i)->top, &t);
		if (!ok || t.sweep_ns == 0)
			continue;
		memcpy(all + nb, t.flow, t.nb * sizeof(*all));
		nb += t.nb;
		if (oldest == 0 || t.sweep_ns < oldest)
			oldest = t.sweep_ns;
	}
	qsort(all, nb, sizeof(*all), flow_by_msgs);
	a = json_array();
	for (unsigned i = 0; i < nb && i < (unsigned)top; i++) {
		const struct rg_seg_flow *f = &all[i];
		unsigned se = f->server != 0; /* shared memory: an index only once checked */
		char cli[64], srv[64];

		flow_end_text(f, 1u - se, cli, sizeof(cli));
		flow_end_text(f, se, srv, sizeof(srv));
		json_array_append_new(a, json_pack(
			"{s:s, s:s, s:I, s:I, s:I, s:f, s:f, s:b}", "client", cli, "server", srv,
			"msgs", (json_int_t)f->msgs, "bytes", (json_int_t)f->bytes, "hits",
			(json_int_t)f->hits, "age_sec",
			now > f->open_ns ? (double)(now - f->open_ns) / 1e9 : 0.0, "idle_sec",
			now > f->last_ns ? (double)(now - f->last_ns) / 1e9 : 0.0, "closed",
			f->closed != 0));
	}
	*result = json_pack("{s:o, s:i, s:f}", "flows", a, "lcores", (int)lcores, "as_of_sec",
			    oldest && now > oldest ? (double)(now - oldest) / 1e9 : 0.0);
	free(all);
	return 0;
}

static int cmd_ledger_head(struct ctl_daemon *d, struct ctl_client *c, json_t *args,
			   json_t **result, char *why, size_t cap)
{
	const struct ledger_consortium *cs = ledger_consortium(d->l);
	json_t *a = json_array();

	(void)c, (void)args, (void)why, (void)cap;
	for (unsigned m = 0; m < cs->nb_members; m++) {
		struct ledger_head h;
		struct ledger_checkpoint cp;
		struct ledger_block last;
		char t[32] = "", note[LEDGER_CHECKPOINT_MAX] = "";

		if (ledger_head_get(d->l, m, &h) != 0)
			memset(&h, 0, sizeof(h));
		memset(&cp, 0, sizeof(cp));
		if (h.nb_blocks > 0 && ledger_block_get(d->l, m, h.nb_blocks - 1, &last) == 0)
			ledger_time_str(last.time_ms, t, sizeof(t));
		if (ledger_checkpoint_latest(d->l, m, &cp) == 0 &&
		    ledger_checkpoint_encode(&cp, note, sizeof(note)) < 0)
			note[0] = '\0';
		json_array_append_new(a, json_pack(
			"{s:s, s:i, s:b, s:I, s:I, s:o, s:s, s:I, s:s}", "member", cs->members[m].name,
			"index", (int)m, "self", (int)m == ledger_self(d->l), "size",
			(json_int_t)h.size, "blocks", (json_int_t)h.nb_blocks, "root",
			hex_json(h.root, LEDGER_HASH_BYTES), "checkpoint", note, "checkpoint_size",
			(json_int_t)cp.size, "time", t));
	}
	*result = json_pack("{s:o, s:I}", "heads", a, "ledger_pos", (json_int_t)ctl_ledger_pos(d));
	return 0;
}

static int cmd_ledger_verify(struct ctl_daemon *d, struct ctl_client *c, json_t *args,
			     json_t **result, char *why, size_t cap)
{
	char report[1024] = "";
	uint64_t n = 0, t0 = ctl_now_ns();
	int rc;

	(void)c, (void)args;
	rc = ledger_verify(d->l, report, sizeof(report), &n);
	if (rc != 0) {
		snprintf(why, cap, "%s", report[0] ? report : strerror(-rc));
		return CTL_ERR_FAILED;
	}
	*result = json_pack("{s:b, s:I, s:f}", "ok", 1, "entries", (json_int_t)n, "seconds",
			    (double)(ctl_now_ns() - t0) / 1e9);
	return 0;
}

static int cmd_reload(struct ctl_daemon *d, struct ctl_client *c, json_t *args, json_t **result,
		      char *why, size_t cap)
{
	struct ctl_config n = d->cfg;
	json_t *restart;

	(void)args;
	if (!d->config_path[0]) {
		snprintf(why, cap, "riskgated runs on built-in defaults (no --config): nothing to reload");
		return CTL_ERR_FAILED;
	}
	ctl_config_defaults(&n);
	if (ctl_config_load(d->config_path, &n, why, cap) != 0)
		return CTL_ERR_FAILED;
	restart = ctl_daemon_apply_config(d, &n);
	ctl_log(CTL_LOG_INFO, "configuration %s reloaded by uid %u", d->config_path,
		(unsigned)c->uid);
	*result = json_pack("{s:s, s:o}", "config", d->config_path, "needs_restart", restart);
	return 0;
}

static int cmd_receipts(struct ctl_daemon *d, struct ctl_client *c, json_t *args,
			json_t **result, char *why, size_t cap)
{
	(void)c, (void)args, (void)why, (void)cap;
	*result = ctl_receipts_json(d->receipts);
	return 0;
}

static int cmd_receipt_open(struct ctl_daemon *d, struct ctl_client *c, json_t *args,
			    json_t **result, char *why, size_t cap)
{
	(void)c;
	return ctl_receipts_open_json(d->receipts, args, result, why, cap);
}

static int cmd_help(struct ctl_daemon *d, struct ctl_client *c, json_t *args, json_t **result,
		    char *why, size_t cap);

struct forks_ctx {
	struct ctl_daemon *d;
	json_t *a;
};

static json_t *evidence_object(unsigned object, const uint8_t *p, size_t len)
{
	char hex[2 * LEDGER_BLOCK_BYTES + 1];

	if (object == LEDGER_EVIDENCE_CHECKPOINT)
		return json_stringn((const char *)p, len);
	if (len != LEDGER_BLOCK_BYTES)
		return json_null();
	ledger_hex(p, len, hex);
	return json_string(hex);
}

static int fork_line(void *arg, const struct ledger_evidence *ev)
{
	struct forks_ctx *x = arg;
	const struct ledger_consortium *cs = ledger_consortium(x->d->l);
	json_t *signed_objs = json_array();

	json_array_append_new(signed_objs, evidence_object(ev->object, ev->a, ev->alen));
	if (ev->problem == LEDGER_EVIDENCE_FORK)
		json_array_append_new(signed_objs, evidence_object(ev->object, ev->b, ev->blen));
	json_array_append_new(x->a, json_pack(
		"{s:o, s:s, s:s, s:I, s:b, s:o}", "member",
		ev->member >= 0 ? json_string(cs->members[ev->member].name) : json_null(),
		"problem", ledger_evidence_name(ev->problem), "object",
		ev->object == LEDGER_EVIDENCE_BLOCK ? "block" : "checkpoint", "at",
		(json_int_t)ev->at, "frozen", ev->member >= 0 && x->d->frozen[ev->member],
		"signed", signed_objs));
	return 0;
}

static int cmd_forks(struct ctl_daemon *d, struct ctl_client *c, json_t *args, json_t **result,
		     char *why, size_t cap)
{
	struct forks_ctx x = { d, json_array() };
	json_t *frozen = json_array();
	int rc;

	(void)c, (void)args;
	rc = ledger_evidence_iterate(d->l, fork_line, &x);
	if (rc != 0) {
		json_decref(x.a);
		json_decref(frozen);
		snprintf(why, cap, "evidence unreadable: %s", strerror(-rc));
		return CTL_ERR_FAILED;
	}
	for (unsigned m = 0; m < ledger_consortium(d->l)->nb_members; m++)
		if (d->frozen[m])
			json_array_append_new(frozen,
					      json_string(ledger_consortium(d->l)->members[m].name));
	*result = json_pack("{s:o, s:o, s:I}", "evidence", x.a, "frozen", frozen, "forks_seen",
			    (json_int_t)d->nb_forks);
	return 0;
}

static int cmd_fork_clear(struct ctl_daemon *d, struct ctl_client *c, json_t *args,
			  json_t **result, char *why, size_t cap)
{
	const char *name = json_string_value(json_object_get(args, "member"));
	int m = name != NULL ? ledger_member_find_name(ledger_consortium(d->l), name) : -1;

	if (m < 0) {
		snprintf(why, cap, "member: not a member of the consortium");
		return CTL_ERR_BAD_ARGS;
	}
	if (!d->frozen[m]) {
		snprintf(why, cap, "the log of %s is not frozen", name);
		return CTL_ERR_BAD_ARGS;
	}
	d->frozen[m] = false;
	ctl_log(CTL_LOG_WARN, "fork-clear: the log of %s advances again, by uid %u (its evidence "
		"stays)", name, (unsigned)c->uid);
	ctl_events_alarm(d->ev, "fork", false, name, ctl_server_follow_line, d);
	ctl_events_flush(d->ev);
	*result = json_pack("{s:s, s:b}", "member", name, "frozen", 0);
	return 0;
}

static int cmd_peers(struct ctl_daemon *d, struct ctl_client *c, json_t *args, json_t **result,
		     char *why, size_t cap)
{
	(void)c, (void)args, (void)why, (void)cap;
	*result = json_pack("{s:s, s:o, s:o}", "listen", d->cfg.sync_listen, "serving",
			    ctl_syncsrv_stats(d->syncsrv), "peers",
			    ctl_syncnet_peers_json(d->syncnet));
	return 0;
}

static const struct ctl_cmd ctl_cmds[] = {
	{ "version", cmd_version, "daemon and protocol versions", CTL_RIGHT_READ },
	{ "help", cmd_help, "the commands and the right each needs (read, lookup, admin)", CTL_RIGHT_READ },
	{ "status", cmd_status, "daemon, ledger, table and segment in one object", CTL_RIGHT_READ },
	{ "stats", cmd_stats, "dataplane counters (total, per lcore, rates), events, hits by member", CTL_RIGHT_READ },
	{ "lists", cmd_lists, "lists of the consortium with their actions and hits", CTL_RIGHT_READ },
	{ "policy-show", cmd_policy_show, "the policy in force", CTL_RIGHT_READ },
	{ "policy-set", cmd_policy_set, "{list, action}: set a list's action (off|monitor|decline)", CTL_RIGHT_ADMIN },
	{ "fail-mode", cmd_fail_mode, "{mode}: open|closed", CTL_RIGHT_ADMIN },
	{ "exempt", cmd_exempt, "{class, state}: MTI class 0..9 exempt from screening on|off", CTL_RIGHT_ADMIN },
	{ "table", cmd_table, "table size, load, generation, ledger position, staleness", CTL_RIGHT_READ },
	{ "lookup", cmd_lookup, "{kind, value}: masked echo, fingerprint prefix, lists, contributors; rate-limited, a hit is an event", CTL_RIGHT_LOOKUP },
	{ "add", cmd_add, "{list, kind, value[, severity, expiry, reason]}: signed ADD", CTL_RIGHT_ADMIN },
	{ "revoke", cmd_revoke, "{list, kind, value[, reason]}: signed REVOKE of the own entry", CTL_RIGHT_ADMIN },
	{ "import", ctl_cmd_import, "{path[, strict, progress]}: import a CSV or JSONL list file, as a job", CTL_RIGHT_ADMIN },
	{ "pull", cmd_pull, "{path}: take in another member's bundle", CTL_RIGHT_ADMIN },
	{ "hits", cmd_hits, "{n, follow}: recent hit events; follow streams new ones", CTL_RIGHT_READ },
	{ "flows", cmd_flows, "{top}: busiest flows by messages, all lcores, as of their last sweep", CTL_RIGHT_READ },
	{ "ledger-head", cmd_ledger_head, "every member's log head and checkpoint", CTL_RIGHT_READ },
	{ "ledger-verify", cmd_ledger_verify, "full audit of the ledger", CTL_RIGHT_ADMIN },
	{ "reload", cmd_reload, "re-read the configuration file (validated first)", CTL_RIGHT_ADMIN },
	{ "receipts", cmd_receipts, "hit receipts: policy, counters, receipts by contributing member and list", CTL_RIGHT_READ },
	{ "forks", cmd_forks, "fork evidence kept (both signed objects) and the logs frozen by it", CTL_RIGHT_READ },
	{ "fork-clear", cmd_fork_clear, "{member}: let a frozen log advance again (its evidence stays)", CTL_RIGHT_ADMIN },
	{ "peers", cmd_peers, "member sync: what is served, and per peer and log: connected, lag, bytes, last error", CTL_RIGHT_READ },
	{ "receipt-open", cmd_receipt_open, "{n | pos}: a kept receipt's salt and detail, its commitment checked", CTL_RIGHT_READ },
};

static int cmd_help(struct ctl_daemon *d, struct ctl_client *c, json_t *args, json_t **result,
		    char *why, size_t cap)
{
	json_t *a = json_array();

	(void)d, (void)c, (void)args, (void)why, (void)cap;
	for (size_t i = 0; i < sizeof(ctl_cmds) / sizeof(ctl_cmds[0]); i++)
		json_array_append_new(a, json_pack("{s:s, s:s, s:b, s:s}", "name", ctl_cmds[i].name,
						   "help", ctl_cmds[i].help, "admin",
						   ctl_cmds[i].right == CTL_RIGHT_ADMIN, "right",
						   ctl_right_names[ctl_cmds[i].right]));
	*result = json_pack("{s:o}", "commands", a);
	return 0;
}

/* ---- clients ---- */

int ctl_client_append(struct ctl_client *c, const char *s, size_t n)
{
	if (c->out_len + n > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		char *p;

		while (cap < c->out_len + n)
			cap *= 2;
		p = realloc(c->out, cap);
		if (p == NULL)
			return -ENOMEM;
		c->out = p;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, s, n);
	c->out_len += n;
	return 0;
}

static void client_update(struct ctl_daemon *d, struct ctl_client *c)
{
	struct epoll_event e = { .data.ptr = c };
	size_t pending = c->out_len - c->out_off;

	c->paused = pending > CTL_OUT_PAUSE;
	if (!c->paused && !c->closing && !c->waiting)
		e.events |= EPOLLIN;
	if (pending > 0)
		e.events |= EPOLLOUT;
	epoll_ctl(d->ep, EPOLL_CTL_MOD, c->fd, &e);
}

static void client_free(struct ctl_daemon *d, struct ctl_client *c)
{
	struct ctl_client **pp;

	for (pp = &d->clients; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	ctl_import_client_gone(d, c);
	epoll_ctl(d->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	json_decref(c->later_id);
	free(c->groups);
	free(c->in);
	free(c->out);
	free(c);
	d->nb_clients--;
}

bool ctl_client_flush(struct ctl_daemon *d, struct ctl_client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			client_free(d, c);
			return false;
		}
		c->out_off += (size_t)n;
	}
	if (c->out_off == c->out_len) {
		c->out_off = c->out_len = 0;
		if (c->closing && !c->waiting) {
			client_free(d, c);
			return false;
		}
	} else if (c->out_off > (64u << 10)) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	client_update(d, c);
	return true;
}

/* Queue an error line without id, close once it is out (control/protocol.h,
 * "Closing").  May free c. */
static void client_close_with(struct ctl_daemon *d, struct ctl_client *c, enum ctl_err e,
			      const char *why)
{
	char *out;
	size_t out_len;

	if (ctl_reply_err(NULL, e, why, &out, &out_len) == 0) {
		ctl_client_append(c, out, out_len);
		free(out);
	}
	c->closing = true;
	ctl_client_flush(d, c);
}

void ctl_server_request(struct ctl_daemon *d, struct ctl_client *c, const char *line, size_t len)
{
	struct ctl_request req;
	char why[CTL_ERR_MAX] = "";
	json_t *result = NULL;
	char *out = NULL;
	size_t out_len = 0;
	const struct ctl_cmd *cmd = NULL;
	int rc;

	d->nb_requests++;
	c->active_ns = ctl_mono_ns();
	rc = ctl_request_parse(line, len, &req, why, sizeof(why));
	if (rc == 0) {
		for (size_t i = 0; i < sizeof(ctl_cmds) / sizeof(ctl_cmds[0]); i++)
			if (strcmp(ctl_cmds[i].name, req.cmd) == 0)
				cmd = &ctl_cmds[i];
		if (cmd == NULL) {
			snprintf(why, sizeof(why), "unknown command '%s' (try help)", req.cmd);
			rc = CTL_ERR_UNKNOWN_COMMAND;
		} else if (ctl_peer_right(d, c) < cmd->right) {
			if (cmd->right == CTL_RIGHT_LOOKUP)
				snprintf(why, sizeof(why), "%s needs root, the %s group or the %s "
					 "group", cmd->name, d->cfg.admin_group, d->cfg.lookup_group);
			else
				snprintf(why, sizeof(why), "%s needs root or the %s group", cmd->name,
					 d->cfg.admin_group);
			d->nb_denied++;
			d->nb_lookups_denied += cmd->right == CTL_RIGHT_LOOKUP;
			ctl_log(CTL_LOG_WARN, "control: uid %u refused %s (no %s right)",
				(unsigned)c->uid, cmd->name, ctl_right_names[cmd->right]);
			rc = CTL_ERR_PERMISSION_DENIED;
		} else {
			rc = cmd->fn(d, c, req.args, &result, why, sizeof(why));
			if (rc == CTL_REPLY_LATER) {
				c->later_id = req.id;
				req.id = NULL;
				c->waiting = true;
				ctl_request_free(&req);
				return;
			}
		}
	} else {
		ctl_log(CTL_LOG_REMOTE, "control: uid %u sent a bad request: %s", (unsigned)c->uid,
			why);
	}
	/* handlers quote what the peer sent: never a raw PAN back or to a log */
	rg_mask_text(why);
	if (rc == 0)
		rc = ctl_reply_ok(req.id, result, &out, &out_len) == 0 ? 0 : CTL_ERR_FAILED;
	else
		json_decref(result);
	if (rc != 0) {
		d->nb_request_errors++;
		if (ctl_reply_err(req.id, (enum ctl_err)rc, why, &out, &out_len) != 0)
			out = NULL;
	}
	if (out != NULL && ctl_client_append(c, out, out_len) != 0)
		c->closing = true;
	free(out);
	ctl_request_free(&req);
}

void ctl_server_follow_line(void *arg, const char *line, size_t len)
{
	struct ctl_daemon *d = arg;

	for (struct ctl_client *c = d->clients, *next; c != NULL; c = next) {
		next = c->next;
		if (!c->follow || c->closing)
			continue;
		if (c->out_len - c->out_off + len + 16 > CTL_FOLLOW_MAX) {
			d->nb_follow_dropped++;
			continue;
		}
		if (ctl_client_append(c, "{\"event\": ", 10) != 0 || ctl_client_append(c, line, len) != 0 ||
		    ctl_client_append(c, "}\n", 2) != 0) {
			d->nb_follow_dropped++;
			continue;
		}
		/* never flush here: c may be the client whose request is running */
		client_update(d, c);
	}
}

/* Run the complete request lines c has sent, until one defers its reply. */
static void client_lines(struct ctl_daemon *d, struct ctl_client *c)
{
	char *nl;

	while (!c->waiting && (nl = memchr(c->in, '\n', c->in_len)) != NULL) {
		size_t len = (size_t)(nl - c->in);

		ctl_server_request(d, c, c->in, len);
		memmove(c->in, nl + 1, c->in_len - len - 1);
		c->in_len -= len + 1;
		if (c->out_len - c->out_off > CTL_OUT_MAX) {
			d->nb_clients_dropped++;
			c->closing = true;
			c->out_off = c->out_len = 0;
			break;
		}
	}
}

void ctl_client_reply_later(struct ctl_daemon *d, struct ctl_client *c, const char *out,
			    size_t out_len)
{
	if (out != NULL && ctl_client_append(c, out, out_len) != 0)
		c->closing = true;
	json_decref(c->later_id);
	c->later_id = NULL;
	c->waiting = false;
	client_lines(d, c);
	ctl_client_flush(d, c);
}

static void client_read(struct ctl_daemon *d, struct ctl_client *c)
{
	for (;;) {
		ssize_t n;

		if (c->paused || c->closing || c->waiting)
			break;
		n = recv(c->fd, c->in + c->in_len, CTL_LINE_MAX - c->in_len, MSG_DONTWAIT);
		if (n == 0) {
			/* the peer closed: answer what it sent, then go */
			c->closing = true;
			break;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				c->closing = true;
			break;
		}
		c->in_len += (size_t)n;
		client_lines(d, c);
		if (c->in_len == CTL_LINE_MAX && !c->waiting) {
			ctl_log(CTL_LOG_REMOTE, "control: uid %u sent a line over %d bytes, closing",
				(unsigned)c->uid, CTL_LINE_MAX);
			d->nb_request_errors++;
			c->in_len = 0;
			client_close_with(d, c, CTL_ERR_LINE_TOO_LONG, "request line too long");
			return;
		}
	}
	ctl_client_flush(d, c);
}

void ctl_server_event(struct ctl_daemon *d, struct ctl_client *c, uint32_t events)
{
	if (events & (EPOLLERR | EPOLLHUP)) {
		if (!(events & EPOLLIN)) {
			client_free(d, c);
			return;
		}
	}
	if (events & EPOLLOUT) {
		if (!ctl_client_flush(d, c))
			return;
	}
	if (events & EPOLLIN)
		client_read(d, c);
}

/* One error line, then the connection is closed (control/protocol.h,
 * "Closing"); a peer that sent a request meanwhile reads it as the reply. */
static void send_closing_line(int fd, enum ctl_err e, const char *why)
{
	char *out;
	size_t out_len;

	if (ctl_reply_err(NULL, e, why, &out, &out_len) != 0)
		return;
	/* a fresh socket's buffer takes one line: a short write loses only the line */
	if (send(fd, out, out_len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		ctl_log(CTL_LOG_DEBUG, "control: closing line: %s", strerror(errno));
	free(out);
}

/* A connection turned away: counted, told why, logged at most once a
 * second so that a flood of them cannot flood the log. */
static void refuse(struct ctl_daemon *d, int fd, const struct ctl_client *c,
		   enum ctl_refusal r, const char *why)
{
	uint64_t now = ctl_mono_ns();

	d->nb_clients_refused++;
	d->nb_refused_full += r == CTL_REFUSED_FULL;
	d->nb_refused_per_uid += r == CTL_REFUSED_PER_UID;
	send_closing_line(fd, CTL_ERR_TOO_MANY_CLIENTS, why);
	close(fd);
	if (now - d->refusal_log_ns < 1000000000ull) {
		d->nb_refusals_quiet++;
		return;
	}
	ctl_log(CTL_LOG_WARN, "control: connection of uid %u (pid %d) refused: %s; %llu more "
		"refused since the last such line", (unsigned)c->uid, (int)c->pid, why,
		(unsigned long long)d->nb_refusals_quiet);
	d->refusal_log_ns = now;
	d->nb_refusals_quiet = 0;
}

void ctl_server_accept(struct ctl_daemon *d)
{
	for (int i = 0; i < 64; i++) {
		struct ctl_client *c;
		struct epoll_event e;
		enum ctl_refusal r;
		char why[CTL_ERR_MAX];
		int fd = accept4(d->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		c = calloc(1, sizeof(*c));
		if (c == NULL || ctl_peer_read(fd, c) != 0) {
			if (c != NULL)
				free(c->groups);
			free(c);
			close(fd);
			d->nb_clients_refused++;
			continue;
		}
		r = ctl_peer_admit(d, c, why, sizeof(why));
		if (r != CTL_ADMITTED) {
			refuse(d, fd, c, r, why);
			free(c->groups);
			free(c);
			continue;
		}
		c->in = malloc(CTL_LINE_MAX);
		if (c->in == NULL) {
			free(c->groups);
			free(c);
			close(fd);
			d->nb_clients_refused++;
			continue;
		}
		c->fd = fd;
		c->active_ns = ctl_mono_ns();
		e.events = EPOLLIN;
		e.data.ptr = c;
		if (epoll_ctl(d->ep, EPOLL_CTL_ADD, fd, &e) < 0) {
			free(c->groups);
			free(c->in);
			free(c);
			close(fd);
			continue;
		}
		c->next = d->clients;
		d->clients = c;
		d->nb_clients++;
	}
}

void ctl_server_idle(struct ctl_daemon *d)
{
	uint64_t now = ctl_mono_ns(), idle_ns = (uint64_t)d->cfg.client_idle_sec * 1000000000ull;
	char why[128];

	if (idle_ns == 0)
		return;
	snprintf(why, sizeof(why), "closed after %u s without a request (client_idle_sec)",
		 d->cfg.client_idle_sec);
	for (struct ctl_client *c = d->clients, *next; c != NULL; c = next) {
		next = c->next;
		if (c->follow || c->waiting || c->closing || now - c->active_ns < idle_ns ||
		    ctl_peer_right(d, c) == CTL_RIGHT_ADMIN)
			continue;
		d->nb_closed_idle++;
		ctl_log(CTL_LOG_DEBUG, "control: uid %u (pid %d) idle, closing", (unsigned)c->uid,
			(int)c->pid);
		client_close_with(d, c, CTL_ERR_IDLE_TIMEOUT, why);
	}
}

int ctl_server_open(struct ctl_daemon *d, char *err, size_t cap)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct group *g = NULL;
	char why[CTL_ERR_MAX];
	int fd, rc;

	ctl_peers_groups(d);
	if (strlen(d->cfg.socket_path) >= sizeof(sa.sun_path)) {
		snprintf(err, cap, "socket %s: path too long", d->cfg.socket_path);
		return -ENAMETOOLONG;
	}
	if (d->cfg.socket_group[0]) {
		g = getgrnam(d->cfg.socket_group);
		if (g == NULL) {
			snprintf(err, cap, "socket group %s does not exist", d->cfg.socket_group);
			return -ENOENT;
		}
	}
	rc = ctl_daemon_mkdirs(d, d->cfg.socket_path, 0755, why, sizeof(why));
	if (rc != 0) {
		snprintf(err, cap, "socket %s: %s", d->cfg.socket_path, why);
		return rc;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", d->cfg.socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, cap, "socket: %s", strerror(errno));
		return -errno;
	}
	/* a socket file left by a killed daemon: nobody listens on it */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(fd);
		snprintf(err, cap, "socket %s: another riskgated is serving it", d->cfg.socket_path);
		return -EADDRINUSE;
	}
	close(fd);
	unlink(d->cfg.socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, cap, "socket: %s", strerror(errno));
		return -errno;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto out_close_fd;
	ctl_daemon_made(d, d->cfg.socket_path, false);
	if (chmod(d->cfg.socket_path, 0660) < 0 ||
	    (g != NULL && chown(d->cfg.socket_path, (uid_t)-1, g->gr_gid) < 0) ||
	    listen(fd, 128) < 0)
		goto out_close_fd;
	d->listen_fd = fd;
	return 0;

out_close_fd:
	rc = -errno;
	snprintf(err, cap, "socket %s: %s", d->cfg.socket_path, strerror(-rc));
	close(fd);
	return rc;
}

void ctl_server_close(struct ctl_daemon *d)
{
	ctl_import_stop(d);
	while (d->clients != NULL)
		client_free(d, d->clients);
	if (d->listen_fd >= 0) {
		close(d->listen_fd);
		unlink(d->cfg.socket_path);
		d->listen_fd = -1;
	}
}
