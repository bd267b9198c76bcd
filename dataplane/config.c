/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The riskgate-dp configuration file (docs/dataplane.md), read with
 * libconfig like dialect files, validated setting by setting; every error
 * names the file, the line and the setting.  Start-up only.
 */
#include <errno.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/dp.h"

struct cf {
	const char *path;
	char *err;
	size_t cap;
};

static void __attribute__((format(printf, 4, 5)))
cf_error(struct cf *f, const config_setting_t *s, const char *where, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	int line = s ? (int)config_setting_source_line(s) : 0;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(f->err, f->cap, "%s:%d: %s: %s", f->path, line, where, msg);
	else
		snprintf(f->err, f->cap, "%s: %s: %s", f->path, where, msg);
}

void dp_config_defaults(struct dp_config *c)
{
	memset(c, 0, sizeof(*c));
	c->kind_lists[RG_KIND_PAN] = 1u << RG_LIST_TXN_FRAUD | 1u << RG_LIST_HIGH_RISK_ACCOUNT;
	c->kind_lists[RG_KIND_ACCOUNT] = 1u << RG_LIST_HIGH_RISK_ACCOUNT;
	c->kind_lists[RG_KIND_MERCHANT] = 1u << RG_LIST_MARKETING_CHEAT;
	c->kind_lists[RG_KIND_TERMINAL] = 1u << RG_LIST_MARKETING_CHEAT;
	c->kind_lists[RG_KIND_PHONE] = 1u << RG_LIST_TELECOM_FRAUD;
	for (unsigned l = 0; l < RG_LIST_NB_STD; l++)
		c->list_action[l] = RG_ACTION_MONITOR;
	c->fail_mode = RG_FAIL_OPEN;
	snprintf(c->table_path, sizeof(c->table_path), "%s/riskgate.table", RG_TABLE_DEFAULT_DIR);
	snprintf(c->segment_path, sizeof(c->segment_path), "%s", RG_SEG_DEFAULT_PATH);
	snprintf(c->key_path, sizeof(c->key_path), "/etc/riskgate/fp.key");
	c->nb_flows = 65536;
	c->hold_bytes = 16384;
	c->flow_idle_sec = 300;
	c->burst = 32;
	c->ring_size = 4096;
	c->rx_desc = 1024;
	c->tx_desc = 1024;
}

int dp_config_add_service(struct dp_config *c, uint16_t port, const char *dialect,
			  const char *framing, uint32_t max_msg, char *err, size_t err_cap)
{
	struct dp_service *s;

	if (c->nb_services == DP_SERVICES_MAX) {
		snprintf(err, err_cap, "more than %d services", DP_SERVICES_MAX);
		return -EINVAL;
	}
	if (port == 0) {
		snprintf(err, err_cap, "service port 0");
		return -EINVAL;
	}
	for (unsigned i = 0; i < c->nb_services; i++)
		if (c->svc[i].port == port) {
			snprintf(err, err_cap, "service port %u given twice", port);
			return -EINVAL;
		}
	s = &c->svc[c->nb_services];
	memset(s, 0, sizeof(*s));
	memcpy(s->kind_lists, c->kind_lists, sizeof(s->kind_lists));
	if (rg_framing_parse(framing, &s->framing, err, err_cap) < 0)
		return -EINVAL;
	if (max_msg) {
		if (max_msg < 16 || max_msg > 65535) {
			snprintf(err, err_cap, "max_msg %u out of range 16..65535", max_msg);
			return -EINVAL;
		}
		s->framing.max_msg_bytes = max_msg;
	}
	s->dialect = rg_dialect_load(dialect, err, err_cap);
	if (s->dialect == NULL)
		return -EINVAL;
	s->port = port;
	snprintf(s->dialect_name, sizeof(s->dialect_name), "%s", dialect);
	rg_framing_name(&s->framing, s->framing_name, sizeof(s->framing_name));
	c->nb_services++;
	return 0;
}

static int cf_list_id(const char *name)
{
	return rg_list_std_id(name);
}

static int cf_uint(struct cf *f, const config_setting_t *s, const char *k, unsigned long lo,
		   unsigned long hi, uint32_t *out)
{
	long long v;

	if (config_setting_type(s) != CONFIG_TYPE_INT && config_setting_type(s) != CONFIG_TYPE_INT64) {
		cf_error(f, s, k, "expected an integer");
		return -EINVAL;
	}
	v = config_setting_get_int64(s);
	if (v < (long long)lo || v > (long long)hi) {
		cf_error(f, s, k, "%lld out of range %lu..%lu", v, lo, hi);
		return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

static int cf_string(struct cf *f, const config_setting_t *s, const char *k, char *out,
		     size_t cap)
{
	const char *v = config_setting_get_string(s);

	if (v == NULL) {
		cf_error(f, s, k, "expected a string");
		return -EINVAL;
	}
	if (strlen(v) >= cap || strlen(v) == 0) {
		cf_error(f, s, k, "expected 1 to %zu characters", cap - 1);
		return -EINVAL;
	}
	snprintf(out, cap, "%s", v);
	return 0;
}

/* A port given as a number (DPDK port id) or a string (device name). */
static int cf_port(struct cf *f, const config_setting_t *s, const char *k, char *out, size_t cap)
{
	if (s == NULL) {
		cf_error(f, NULL, k, "missing");
		return -EINVAL;
	}
	if (config_setting_type(s) == CONFIG_TYPE_INT) {
		int v = config_setting_get_int(s);

		if (v < 0 || v >= 1024) {
			cf_error(f, s, k, "port id %d out of range", v);
			return -EINVAL;
		}
		snprintf(out, cap, "%d", v);
		return 0;
	}
	return cf_string(f, s, k, out, cap);
}

static int cf_ports(struct cf *f, const config_setting_t *s, struct dp_config *c)
{
	int n = config_setting_length(s);

	if (!config_setting_is_list(s) || n < 1 || n > DP_PAIRS_MAX) {
		cf_error(f, s, "ports", "expected a list of 1 to %d pairs ( { a = ...; b = ...; } )",
			 DP_PAIRS_MAX);
		return -EINVAL;
	}
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		char where[32];

		snprintf(where, sizeof(where), "ports[%d]", i);
		if (!config_setting_is_group(e) || config_setting_length(e) != 2) {
			cf_error(f, e, where, "expected { a = PORT; b = PORT; }");
			return -EINVAL;
		}
		snprintf(where, sizeof(where), "ports[%d].a", i);
		if (cf_port(f, config_setting_get_member(e, "a"), where, c->pair[i].name[0],
			    DP_NAME_MAX))
			return -EINVAL;
		snprintf(where, sizeof(where), "ports[%d].b", i);
		if (cf_port(f, config_setting_get_member(e, "b"), where, c->pair[i].name[1],
			    DP_NAME_MAX))
			return -EINVAL;
		if (strcmp(c->pair[i].name[0], c->pair[i].name[1]) == 0) {
			cf_error(f, e, where, "a port cannot be its own peer");
			return -EINVAL;
		}
	}
	c->nb_pairs = (unsigned)n;
	return 0;
}

static int cf_lcores(struct cf *f, const config_setting_t *s, struct dp_config *c)
{
	int n = config_setting_length(s);

	if (!config_setting_is_array(s) || n < 1 || n > DP_WORKERS_MAX) {
		cf_error(f, s, "lcores", "expected an array of 1 to %d lcore ids", DP_WORKERS_MAX);
		return -EINVAL;
	}
	for (int i = 0; i < n; i++) {
		uint32_t v;

		if (cf_uint(f, config_setting_get_elem(s, (unsigned)i), "lcores", 0, 1023, &v))
			return -EINVAL;
		for (int j = 0; j < i; j++)
			if (c->worker_lcore[j] == v) {
				cf_error(f, s, "lcores", "lcore %u given twice", v);
				return -EINVAL;
			}
		c->worker_lcore[i] = v;
	}
	c->nb_workers = (unsigned)n;
	return 0;
}

/*
 * A mapping group { KIND = [ "list", ... ]; ... } at name ("mapping" or
 * "services[i].mapping") into kind_lists[RG_KIND_MAX]: each kind named gets
 * exactly the lists given, the others keep what the caller put there.
 */
static int cf_mapping(struct cf *f, const config_setting_t *s, const char *name,
		      uint16_t *kind_lists)
{
	if (!config_setting_is_group(s)) {
		cf_error(f, s, name, "expected { KIND = [ \"list\", ... ]; ... }");
		return -EINVAL;
	}
	for (int i = 0; i < config_setting_length(s); i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *k = config_setting_name(e);
		enum rg_kind kind = rg_kind_from_name(k);
		uint16_t mask = 0;
		char where[96];

		snprintf(where, sizeof(where), "%s.%s", name, k);
		if (kind == RG_KIND_NONE) {
			cf_error(f, e, where, "unknown identifier kind (PAN, ACCOUNT, MERCHANT, "
				 "TERMINAL, ACQUIRER, PHONE, DEVICE)");
			return -EINVAL;
		}
		if (!config_setting_is_array(e) && !config_setting_is_list(e)) {
			cf_error(f, e, where, "expected an array of list names ([] for none)");
			return -EINVAL;
		}
		for (int j = 0; j < config_setting_length(e); j++) {
			const config_setting_t *le = config_setting_get_elem(e, (unsigned)j);
			const char *v = config_setting_get_string(le);
			int id = v ? cf_list_id(v) : -1;

			/* an array may span lines: point at the element when it has one */
			if (config_setting_source_line(le) == 0)
				le = e;
			if (v == NULL) {
				cf_error(f, le, where, "element %d is not a list name", j);
				return -EINVAL;
			}
			if (id < 0) {
				cf_error(f, le, where, "unknown list \"%.40s\" (txn_fraud, "
					 "high_risk_account, marketing_cheat, telecom_fraud)", v);
				return -EINVAL;
			}
			mask |= (uint16_t)(1u << id);
		}
		kind_lists[kind] = mask;
	}
	return 0;
}

static int cf_services(struct cf *f, const config_setting_t *s, struct dp_config *c)
{
	int n = config_setting_length(s);

	if (!config_setting_is_list(s) || n < 1 || n > DP_SERVICES_MAX) {
		cf_error(f, s, "services", "expected a list of 1 to %d services", DP_SERVICES_MAX);
		return -EINVAL;
	}
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *dialect = "ascii87", *framing = "len2";
		uint32_t port = 0, max_msg = 0;
		uint16_t kind_lists[RG_KIND_MAX] = { 0 }; /* kinds it does not name feed nothing */
		bool own_mapping = false;
		char where[48], msg[384];

		snprintf(where, sizeof(where), "services[%d]", i);
		if (!config_setting_is_group(e)) {
			cf_error(f, e, where, "expected { port = N; dialect = \"...\"; framing = \"...\"; }");
			return -EINVAL;
		}
		for (int j = 0; j < config_setting_length(e); j++) {
			const config_setting_t *m = config_setting_get_elem(e, (unsigned)j);
			const char *k = config_setting_name(m);

			snprintf(where, sizeof(where), "services[%d].%s", i, k);
			if (strcmp(k, "port") == 0) {
				if (cf_uint(f, m, where, 1, 65535, &port))
					return -EINVAL;
			} else if (strcmp(k, "max_msg") == 0) {
				if (cf_uint(f, m, where, 16, 65535, &max_msg))
					return -EINVAL;
			} else if (strcmp(k, "dialect") == 0 || strcmp(k, "framing") == 0) {
				const char *v = config_setting_get_string(m);

				if (v == NULL) {
					cf_error(f, m, where, "expected a string");
					return -EINVAL;
				}
				if (k[0] == 'd')
					dialect = v;
				else
					framing = v;
			} else if (strcmp(k, "mapping") == 0) {
				if (cf_mapping(f, m, where, kind_lists))
					return -EINVAL;
				own_mapping = true;
			} else {
				cf_error(f, m, where, "unknown setting (port, dialect, framing, max_msg, "
					 "mapping)");
				return -EINVAL;
			}
		}
		snprintf(where, sizeof(where), "services[%d]", i);
		if (port == 0) {
			cf_error(f, e, where, "port missing");
			return -EINVAL;
		}
		if (dp_config_add_service(c, (uint16_t)port, dialect, framing, max_msg, msg,
					  sizeof(msg))) {
			cf_error(f, e, where, "%s", msg);
			return -EINVAL;
		}
		if (own_mapping) {
			struct dp_service *sv = &c->svc[c->nb_services - 1];

			memcpy(sv->kind_lists, kind_lists, sizeof(sv->kind_lists));
			sv->own_mapping = true;
		}
	}
	return 0;
}

static int cf_lists(struct cf *f, const config_setting_t *s, struct dp_config *c)
{
	if (!config_setting_is_group(s)) {
		cf_error(f, s, "lists", "expected { LIST = \"off\" | \"monitor\" | \"decline\"; ... }");
		return -EINVAL;
	}
	for (int i = 0; i < config_setting_length(s); i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *k = config_setting_name(e), *v = config_setting_get_string(e);
		int id = cf_list_id(k), a;
		char where[64];

		snprintf(where, sizeof(where), "lists.%s", k);
		if (id < 0) {
			cf_error(f, e, where, "unknown list (txn_fraud, high_risk_account, "
				 "marketing_cheat, telecom_fraud)");
			return -EINVAL;
		}
		a = v ? rg_action_from_name(v) : -1;
		if (a < 0) {
			cf_error(f, e, where, "expected \"off\", \"monitor\" or \"decline\"");
			return -EINVAL;
		}
		c->list_action[id] = (uint8_t)a;
	}
	return 0;
}

int dp_config_load(struct dp_config *c, const char *path, char *err, size_t err_cap)
{
	FILE *fp;
	int rc;

	fp = fopen(path, "r");
	if (fp == NULL) {
		rc = -errno;
		snprintf(err, err_cap, "%s: %s", path, strerror(errno));
		return rc;
	}
	rc = dp_config_load_stream(c, fp, path, err, err_cap);
	fclose(fp);
	return rc;
}

int dp_config_load_stream(struct dp_config *c, FILE *fp, const char *path, char *err,
			  size_t err_cap)
{
	struct cf f = { .path = path, .err = err, .cap = err_cap };
	const config_setting_t *root;
	config_t cfg;
	int rc = 0;

	config_init(&cfg);
	config_set_options(&cfg, 0);
	if (config_read(&cfg, fp) != CONFIG_TRUE) {
		snprintf(err, err_cap, "%s:%d: syntax error: %s", path, config_error_line(&cfg),
			 config_error_text(&cfg) ? config_error_text(&cfg) : "?");
		rc = -EINVAL;
		goto out_destroy;
	}
	root = config_root_setting(&cfg);
	for (int i = 0; i < config_setting_length(root) && rc == 0; i++) {
		const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
		const char *k = config_setting_name(s);
		uint32_t v;

		if (strcmp(k, "ports") == 0) {
			rc = cf_ports(&f, s, c);
		} else if (strcmp(k, "lcores") == 0) {
			rc = cf_lcores(&f, s, c);
		} else if (strcmp(k, "services") == 0) {
			rc = cf_services(&f, s, c);
		} else if (strcmp(k, "lists") == 0) {
			rc = cf_lists(&f, s, c);
		} else if (strcmp(k, "mapping") == 0) {
			rc = cf_mapping(&f, s, k, c->kind_lists);
		} else if (strcmp(k, "table") == 0) {
			rc = cf_string(&f, s, k, c->table_path, sizeof(c->table_path));
		} else if (strcmp(k, "segment") == 0) {
			rc = cf_string(&f, s, k, c->segment_path, sizeof(c->segment_path));
		} else if (strcmp(k, "key") == 0) {
			rc = cf_string(&f, s, k, c->key_path, sizeof(c->key_path));
		} else if (strcmp(k, "segment_hugetlb") == 0) {
			if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
				cf_error(&f, s, k, "expected true or false");
				rc = -EINVAL;
			} else {
				c->segment_no_hugetlb = !config_setting_get_bool(s);
			}
		} else if (strcmp(k, "fail_mode") == 0) {
			const char *m = config_setting_get_string(s);

			if (m == NULL || strcmp(m, "open") != 0) {
				cf_error(&f, s, k, "only \"open\" is supported (forward on any trouble)");
				rc = -EINVAL;
			}
		} else if (strcmp(k, "exempt_mti_classes") == 0) {
			if (!config_setting_is_array(s)) {
				cf_error(&f, s, k, "expected an array of MTI class digits 0..9");
				rc = -EINVAL;
			}
			for (int j = 0; rc == 0 && j < config_setting_length(s); j++) {
				rc = cf_uint(&f, config_setting_get_elem(s, (unsigned)j), k, 0, 9, &v);
				if (rc == 0)
					c->exempt_mti_classes |= (uint16_t)(1u << v);
			}
		} else if (strcmp(k, "flows") == 0) {
			rc = cf_uint(&f, s, k, 64, 1u << 24, &c->nb_flows);
		} else if (strcmp(k, "hold_bytes") == 0) {
			rc = cf_uint(&f, s, k, 0, 1u << 20, &c->hold_bytes);
			if (rc == 0 && c->hold_bytes % 64) {
				cf_error(&f, s, k, "must be a multiple of 64");
				rc = -EINVAL;
			}
		} else if (strcmp(k, "hold_windows") == 0) {
			rc = cf_uint(&f, s, k, 0, 1u << 20, &c->nb_hold);
		} else if (strcmp(k, "framer_buffers") == 0) {
			rc = cf_uint(&f, s, k, 0, 1u << 20, &c->nb_framer_bufs);
		} else if (strcmp(k, "flow_idle_sec") == 0) {
			rc = cf_uint(&f, s, k, 1, 86400, &c->flow_idle_sec);
		} else if (strcmp(k, "burst") == 0) {
			rc = cf_uint(&f, s, k, 1, DP_BURST_MAX, &c->burst);
		} else if (strcmp(k, "event_ring") == 0) {
			rc = cf_uint(&f, s, k, 16, 1u << 22, &c->ring_size);
		} else if (strcmp(k, "mbufs") == 0) {
			rc = cf_uint(&f, s, k, 1024, 1u << 24, &c->nb_mbufs);
		} else if (strcmp(k, "rx_desc") == 0 || strcmp(k, "tx_desc") == 0) {
			rc = cf_uint(&f, s, k, 64, 16384, &v);
			if (k[0] == 'r')
				c->rx_desc = (uint16_t)v;
			else
				c->tx_desc = (uint16_t)v;
		} else {
			cf_error(&f, s, k, "unknown setting");
			rc = -EINVAL;
		}
	}
	if (rc == 0 && c->nb_pairs == 0) {
		snprintf(err, err_cap, "%s: ports: missing (at least one pair)", path);
		rc = -EINVAL;
	}
	if (rc == 0 && c->nb_services == 0) {
		snprintf(err, err_cap, "%s: services: missing (at least one)", path);
		rc = -EINVAL;
	}
	/* the top-level mapping may come after the services that inherit it */
	for (unsigned i = 0; rc == 0 && i < c->nb_services; i++)
		if (!c->svc[i].own_mapping)
			memcpy(c->svc[i].kind_lists, c->kind_lists, sizeof(c->kind_lists));
out_destroy:
	config_destroy(&cfg);
	return rc;
}

int dp_config_finish(struct dp_config *c, char *err, size_t err_cap)
{
	if (c->nb_services == 0) {
		snprintf(err, err_cap, "no service port configured");
		return -EINVAL;
	}
	if (c->nb_hold == 0)
		c->nb_hold = c->nb_flows / 16 < 64 ? 64 : c->nb_flows / 16;
	if (c->nb_framer_bufs == 0)
		c->nb_framer_bufs = c->nb_flows / 8 < 256 ? 256 : c->nb_flows / 8;
	if (c->nb_mbufs == 0)
		c->nb_mbufs = 16383;
	return 0;
}

void dp_config_free(struct dp_config *c)
{
	for (unsigned i = 0; i < c->nb_services; i++) {
		free(c->svc[i].dialect);
		c->svc[i].dialect = NULL;
	}
	c->nb_services = 0;
}
