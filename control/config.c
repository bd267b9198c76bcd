/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The riskgated configuration file (docs/operations.md): libconfig, every
 * setting validated, unknown settings refused, errors as "FILE:LINE:
 * setting: problem".  A file that fails leaves the running configuration
 * as it was (reload parses into a copy).  Error texts quote the file's
 * names and values: they are masked (rg_mask_text) before anyone sees
 * them, as a value may be a PAN put in the wrong place.
 */
#include <errno.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ident.h"
#include "control/ctl.h"

struct cf {
	const char *name;
	char *err;
	size_t cap;
};

static void __attribute__((format(printf, 3, 4)))
cf_error(struct cf *f, const config_setting_t *s, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	int line = s ? (int)config_setting_source_line(s) : 0;
	const char *what = s && config_setting_name(s) ? config_setting_name(s) : "setting";

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(f->err, f->cap, "%s:%d: %s: %s", f->name, line, what, msg);
	else
		snprintf(f->err, f->cap, "%s: %s: %s", f->name, what, msg);
}

void ctl_config_defaults(struct ctl_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->ledger_dir, sizeof(c->ledger_dir), "/var/lib/riskgate/ledger");
	snprintf(c->socket_path, sizeof(c->socket_path), "/run/riskgate/ctl.sock");
	snprintf(c->admin_group, sizeof(c->admin_group), "riskgate-admin");
	snprintf(c->lookup_group, sizeof(c->lookup_group), "riskgate-lookup");
	c->clients_max = 256;
	c->clients_admin_reserved = 16;
	c->clients_per_uid = 32;
	c->client_idle_sec = 60;
	c->lookup_rate_per_min = 60;
	c->lookup_burst = 10;
	snprintf(c->segment_path, sizeof(c->segment_path), "%s", RG_SEG_DEFAULT_PATH);
	c->segment_lcores = 1;
	snprintf(c->table_path, sizeof(c->table_path), "%s/riskgate.table", RG_TABLE_DEFAULT_DIR);
	c->table_capacity = 1u << 20;
	snprintf(c->events_path, sizeof(c->events_path), "/var/log/riskgate/hits.jsonl");
	c->events_max_bytes = 64ull << 20;
	c->events_keep = 4;
	snprintf(c->metrics_listen, sizeof(c->metrics_listen), "127.0.0.1:9464");
	c->sync_poll_ms = 1000;
	c->stale_after_sec = 300;
	c->hits_kept = 1024;
	c->log_level = CTL_LOG_INFO;
	for (unsigned l = 0; l < RG_LIST_NB_STD; l++)
		c->policy.list_action[l] = RG_ACTION_MONITOR;
	c->policy.fail_mode = RG_FAIL_OPEN;
	/* reversals and network management are never acted on unless told */
	c->policy.exempt_mti_classes = 1u << 4 | 1u << 8;
	c->receipts = CTL_RECEIPTS_OFF;
	c->receipts_batch_ms = 5000;
	c->receipts_max_per_s = 1000;
	c->receipts_batch_max = 4096;
}

static int get_str(struct cf *f, config_setting_t *s, char *out, size_t cap)
{
	const char *v = config_setting_get_string(s);

	if (v == NULL) {
		cf_error(f, s, "must be a string");
		return -EINVAL;
	}
	if (strlen(v) >= cap) {
		cf_error(f, s, "longer than %zu bytes", cap - 1);
		return -EINVAL;
	}
	snprintf(out, cap, "%s", v);
	return 0;
}

/* A bound of a range for an error text: a long one grouped by thousands
 * ("4,294,967,296"), so that the masking of the text leaves it whole. */
static const char *bound_text(uint64_t v, char out[32])
{
	char plain[24];
	size_t n, o = 0;

	n = (size_t)snprintf(plain, sizeof(plain), "%llu", (unsigned long long)v);
	if (n < RG_MASK_RUN_MIN)
		return memcpy(out, plain, n + 1);
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && (n - i) % 3 == 0)
			out[o++] = ',';
		out[o++] = plain[i];
	}
	out[o] = '\0';
	return out;
}

static int get_uint(struct cf *f, config_setting_t *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	long long v;

	if (config_setting_type(s) != CONFIG_TYPE_INT && config_setting_type(s) != CONFIG_TYPE_INT64) {
		cf_error(f, s, "must be an integer");
		return -EINVAL;
	}
	v = config_setting_get_int64(s);
	if (v < (long long)lo || (uint64_t)v > hi) {
		char a[32], b[32];

		cf_error(f, s, "%lld is out of range %s..%s", v, bound_text(lo, a), bound_text(hi, b));
		return -EINVAL;
	}
	*out = (uint64_t)v;
	return 0;
}

static int get_unsigned(struct cf *f, config_setting_t *s, unsigned lo, unsigned hi, unsigned *out)
{
	uint64_t u;
	int rc = get_uint(f, s, lo, hi, &u);

	if (rc == 0)
		*out = (unsigned)u;
	return rc;
}

static int get_bool(struct cf *f, config_setting_t *s, bool *out)
{
	if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
		cf_error(f, s, "must be true or false");
		return -EINVAL;
	}
	*out = config_setting_get_bool(s);
	return 0;
}

static int get_lists(struct cf *f, config_setting_t *s, struct rg_seg_policy *p)
{
	if (!config_setting_is_group(s)) {
		cf_error(f, s, "must be a group { list = \"action\"; ... }");
		return -EINVAL;
	}
	for (int i = 0; i < config_setting_length(s); i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *v = config_setting_get_string(e);
		int id = rg_list_std_id(config_setting_name(e));
		int a = v ? rg_action_from_name(v) : -1;

		if (id < 0 && strncmp(config_setting_name(e), "list_", 5) == 0) {
			id = atoi(config_setting_name(e) + 5);
			if (id < RG_LIST_NB_STD || id >= RG_LIST_MAX)
				id = -1;
		}
		if (id < 0) {
			cf_error(f, e, "unknown list");
			return -EINVAL;
		}
		if (a < 0) {
			cf_error(f, e, "action must be \"off\", \"monitor\" or \"decline\"");
			return -EINVAL;
		}
		p->list_action[id] = (uint8_t)a;
	}
	return 0;
}

static int get_classes(struct cf *f, config_setting_t *s, uint16_t *out)
{
	uint16_t m = 0;

	if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
		cf_error(f, s, "must be an array of MTI class digits");
		return -EINVAL;
	}
	for (int i = 0; i < config_setting_length(s); i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);

		if (config_setting_type(e) != CONFIG_TYPE_INT ||
		    config_setting_get_int(e) < 0 || config_setting_get_int(e) > 9) {
			cf_error(f, s, "element %d is not an MTI class digit 0..9", i);
			return -EINVAL;
		}
		m |= (uint16_t)(1u << config_setting_get_int(e));
	}
	*out = m;
	return 0;
}

static int get_level(struct cf *f, config_setting_t *s, enum ctl_log_level *out)
{
	static const char *const names[] = { "err", "warn", "remote", "info", "debug" };
	const char *v = config_setting_get_string(s);

	for (unsigned i = 0; v && i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(v, names[i]) == 0) {
			*out = (enum ctl_log_level)i;
			return 0;
		}
	}
	cf_error(f, s, "must be one of err, warn, remote, info, debug");
	return -EINVAL;
}

static int get_peers(struct cf *f, config_setting_t *s, struct ctl_config *c)
{
	if (!config_setting_is_list(s)) {
		cf_error(f, s, "must be a list ( { member = \"NAME\"; url = \"https://HOST:PORT\"; }"
			 ", ... )");
		return -EINVAL;
	}
	if (config_setting_length(s) > CTL_PEERS_MAX) {
		cf_error(f, s, "at most %d peers", CTL_PEERS_MAX);
		return -EINVAL;
	}
	c->nb_peers = 0;
	for (int i = 0; i < config_setting_length(s); i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		struct ctl_peer_addr *p = &c->peers[c->nb_peers];
		const char *m = NULL, *u = NULL;

		if (!config_setting_is_group(e) || !config_setting_lookup_string(e, "member", &m) ||
		    !config_setting_lookup_string(e, "url", &u)) {
			cf_error(f, e, "peer %d: needs member = \"NAME\" and url = \"https://HOST:PORT\"",
				 i);
			return -EINVAL;
		}
		if (strlen(m) == 0 || strlen(m) >= sizeof(p->member) || ledger_name_check(m) != NULL) {
			cf_error(f, e, "peer %d: member is not a member name", i);
			return -EINVAL;
		}
		if (strncmp(u, "https://", 8) != 0 || strlen(u) >= sizeof(p->url) ||
		    strchr(u + 8, '/') != NULL || strpbrk(u, " \t\r\n") != NULL) {
			cf_error(f, e, "peer %d: url must be \"https://HOST:PORT\" (no path)", i);
			return -EINVAL;
		}
		for (unsigned k = 0; k < c->nb_peers; k++)
			if (strcmp(c->peers[k].member, m) == 0 && strcmp(c->peers[k].url, u) == 0) {
				cf_error(f, e, "peer %d: listed twice", i);
				return -EINVAL;
			}
		snprintf(p->member, sizeof(p->member), "%s", m);
		snprintf(p->url, sizeof(p->url), "%s", u);
		c->nb_peers++;
	}
	return 0;
}

static int apply_setting(struct cf *f, config_setting_t *s, struct ctl_config *c)
{
	const char *n = config_setting_name(s);

	if (strcmp(n, "ledger") == 0)
		return get_str(f, s, c->ledger_dir, sizeof(c->ledger_dir));
	if (strcmp(n, "socket") == 0)
		return get_str(f, s, c->socket_path, sizeof(c->socket_path));
	if (strcmp(n, "socket_group") == 0)
		return get_str(f, s, c->socket_group, sizeof(c->socket_group));
	if (strcmp(n, "admin_group") == 0)
		return get_str(f, s, c->admin_group, sizeof(c->admin_group));
	if (strcmp(n, "lookup_group") == 0)
		return get_str(f, s, c->lookup_group, sizeof(c->lookup_group));
	if (strcmp(n, "clients_max") == 0)
		return get_unsigned(f, s, 16, CTL_CLIENTS_MAX, &c->clients_max);
	if (strcmp(n, "clients_admin_reserved") == 0)
		return get_unsigned(f, s, 0, CTL_CLIENTS_MAX - 1, &c->clients_admin_reserved);
	if (strcmp(n, "clients_per_uid") == 0)
		return get_unsigned(f, s, 1, CTL_CLIENTS_MAX, &c->clients_per_uid);
	if (strcmp(n, "client_idle_sec") == 0)
		return get_unsigned(f, s, 0, 86400, &c->client_idle_sec);
	if (strcmp(n, "lookup_rate_per_min") == 0)
		return get_unsigned(f, s, 0, 6000000, &c->lookup_rate_per_min);
	if (strcmp(n, "lookup_burst") == 0)
		return get_unsigned(f, s, 1, 10000, &c->lookup_burst);
	if (strcmp(n, "metrics_public") == 0)
		return get_bool(f, s, &c->metrics_public);
	if (strcmp(n, "segment") == 0)
		return get_str(f, s, c->segment_path, sizeof(c->segment_path));
	if (strcmp(n, "table") == 0)
		return get_str(f, s, c->table_path, sizeof(c->table_path));
	if (strcmp(n, "events") == 0)
		return get_str(f, s, c->events_path, sizeof(c->events_path));
	if (strcmp(n, "sync_listen") == 0)
		return get_str(f, s, c->sync_listen, sizeof(c->sync_listen));
	if (strcmp(n, "peers") == 0)
		return get_peers(f, s, c);
	if (strcmp(n, "sync_poll_ms") == 0)
		return get_unsigned(f, s, 50, 600000, &c->sync_poll_ms);
	if (strcmp(n, "metrics") == 0) /* the address is checked with metrics_public */
		return get_str(f, s, c->metrics_listen, sizeof(c->metrics_listen));
	if (strcmp(n, "segment_lcores") == 0)
		return get_unsigned(f, s, 1, RG_SEG_LCORES_MAX, &c->segment_lcores);
	if (strcmp(n, "table_capacity") == 0)
		return get_uint(f, s, 1024, 1ull << 32, &c->table_capacity);
	if (strcmp(n, "events_max_bytes") == 0)
		return get_uint(f, s, 0, 1ull << 40, &c->events_max_bytes);
	if (strcmp(n, "events_keep") == 0)
		return get_unsigned(f, s, 0, 100, &c->events_keep);
	if (strcmp(n, "stale_after_sec") == 0)
		return get_unsigned(f, s, 0, 86400 * 30, &c->stale_after_sec);
	if (strcmp(n, "stale_fallback") == 0)
		return get_bool(f, s, &c->stale_fallback);
	if (strcmp(n, "hits_kept") == 0)
		return get_unsigned(f, s, 16, 1u << 20, &c->hits_kept);
	if (strcmp(n, "log_level") == 0)
		return get_level(f, s, &c->log_level);
	if (strcmp(n, "lists") == 0)
		return get_lists(f, s, &c->policy);
	if (strcmp(n, "fail_mode") == 0) {
		const char *v = config_setting_get_string(s);

		if (v && strcmp(v, "open") == 0)
			c->policy.fail_mode = RG_FAIL_OPEN;
		else if (v && strcmp(v, "closed") == 0)
			c->policy.fail_mode = RG_FAIL_CLOSED;
		else {
			cf_error(f, s, "must be \"open\" or \"closed\"");
			return -EINVAL;
		}
		return 0;
	}
	if (strcmp(n, "exempt_mti_classes") == 0)
		return get_classes(f, s, &c->policy.exempt_mti_classes);
	if (strcmp(n, "receipts") == 0) {
		const char *v = config_setting_get_string(s);

		for (unsigned m = CTL_RECEIPTS_OFF; v && m <= CTL_RECEIPTS_SHARED; m++) {
			if (strcmp(v, ctl_receipts_mode_name(m)) == 0) {
				c->receipts = m;
				return 0;
			}
		}
		cf_error(f, s, "must be \"off\", \"local\" or \"shared\"");
		return -EINVAL;
	}
	if (strcmp(n, "receipts_batch_ms") == 0)
		return get_unsigned(f, s, 10, 60000, &c->receipts_batch_ms);
	if (strcmp(n, "receipts_max_per_s") == 0)
		return get_unsigned(f, s, 1, 1000000, &c->receipts_max_per_s);
	if (strcmp(n, "receipts_batch_max") == 0)
		return get_unsigned(f, s, 1, LEDGER_BLOCK_MAX, &c->receipts_batch_max);
	cf_error(f, s, "unknown setting");
	return -EINVAL;
}

int ctl_config_parse(const char *text, const char *name, struct ctl_config *c, char *err,
		     size_t cap)
{
	struct cf f = { .name = name, .err = err, .cap = cap };
	struct ctl_config n = *c;
	config_setting_t *root;
	config_t cfg;
	int rc = 0;

	config_init(&cfg);
	if (config_read_string(&cfg, text) != CONFIG_TRUE) {
		snprintf(err, cap, "%s:%d: syntax error: %s", name, config_error_line(&cfg),
			 config_error_text(&cfg) ? config_error_text(&cfg) : "?");
		config_destroy(&cfg);
		rg_mask_text(err);
		return -EINVAL;
	}
	root = config_root_setting(&cfg);
	for (int i = 0; i < config_setting_length(root) && rc == 0; i++)
		rc = apply_setting(&f, config_setting_get_elem(root, (unsigned)i), &n);
	if (rc == 0) {
		const char *key = NULL;
		char msg[256];

		rc = ctl_config_check(&n, &key, msg, sizeof(msg));
		if (rc != 0) {
			config_setting_t *s = key ? config_setting_get_member(root, key) : NULL;

			if (s != NULL && config_setting_source_line(s) > 0)
				snprintf(err, cap, "%s:%u: %s", name, config_setting_source_line(s),
					 msg);
			else
				snprintf(err, cap, "%s: %s", name, msg);
		}
	}
	config_destroy(&cfg);
	if (rc == 0)
		*c = n;
	else
		rg_mask_text(err);
	return rc;
}

int ctl_config_check(const struct ctl_config *c, const char **key, char *err, size_t cap)
{
	struct sockaddr_in sa;

	if (c->sync_listen[0] && ctl_metrics_addr(c->sync_listen, &sa) != 0) {
		if (key != NULL)
			*key = "sync_listen";
		snprintf(err, cap, "sync_listen: \"%s\" is not an IPv4 \"ADDR:PORT\"",
			 c->sync_listen);
		return -EINVAL;
	}
	if (c->metrics_listen[0] && ctl_metrics_addr(c->metrics_listen, &sa) != 0) {
		if (key)
			*key = "metrics";
		snprintf(err, cap, "metrics: \"%s\" is not an IPv4 \"ADDR:PORT\"",
			 c->metrics_listen);
		return -EINVAL;
	}
	if (c->metrics_listen[0] && !ctl_metrics_loopback(&sa) && !c->metrics_public) {
		if (key)
			*key = "metrics";
		snprintf(err, cap, "metrics: %s is not a loopback address: serving the metrics "
			 "beyond this host needs metrics_public = true (--metrics-public)",
			 c->metrics_listen);
		return -EINVAL;
	}
	if (c->clients_admin_reserved >= c->clients_max) {
		if (key)
			*key = "clients_admin_reserved";
		snprintf(err, cap, "clients_admin_reserved: %u of clients_max %u leaves no slot "
			 "for other peers", c->clients_admin_reserved, c->clients_max);
		return -EINVAL;
	}
	return 0;
}

int ctl_config_load(const char *path, struct ctl_config *c, char *err, size_t cap)
{
	FILE *fp = fopen(path, "re");
	char *text;
	long len;
	int rc;

	if (fp == NULL) {
		rc = -errno;
		snprintf(err, cap, "%s: %s", path, strerror(errno));
		return rc;
	}
	if (fseek(fp, 0, SEEK_END) != 0 || (len = ftell(fp)) < 0 || len > (1 << 20) ||
	    fseek(fp, 0, SEEK_SET) != 0) {
		fclose(fp);
		snprintf(err, cap, "%s: not a readable file of at most 1 MiB", path);
		return -EINVAL;
	}
	text = malloc((size_t)len + 1);
	if (text == NULL) {
		fclose(fp);
		snprintf(err, cap, "%s: %s", path, strerror(ENOMEM));
		return -ENOMEM;
	}
	if (fread(text, 1, (size_t)len, fp) != (size_t)len) {
		free(text);
		fclose(fp);
		snprintf(err, cap, "%s: read error", path);
		return -EIO;
	}
	text[len] = '\0';
	fclose(fp);
	rc = ctl_config_parse(text, path, c, err, cap);
	free(text);
	return rc;
}
