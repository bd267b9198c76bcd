/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Control socket protocol (control/protocol.h) and configuration parser,
 * table-driven.  The protocol as written down there:
 *
 *   Request:  {"v": 1, "cmd": NAME, "args": {...}, "id": ANY}
 *   Reply:    {"v": 1, "ok": true, "id": ANY, "result": {...}}
 *             {"v": 1, "ok": false, "id": ANY,
 *              "error": {"code": CODE, "message": TEXT}}
 *     codes  bad_json, bad_request, bad_version, unknown_command,
 *            bad_args, permission_denied, failed, busy, line_too_long,
 *            rate_limited, too_many_clients, idle_timeout
 *     A message never holds a raw PAN or account number: every digit run
 *     that could be one is masked (rg_mask_text), quoted input included.
 *
 * Each case below is one request line and the code the parser must give.
 * Also: error texts of the parser and of the configuration masked (a
 * named regression: the parser quoted an unterminated PAN), the settings
 * between them (metrics beyond the loopback, client slots), and the event
 * line shapes (dataplane, lookup).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ident.h"
#include "control/ctl.h"
#include "control/protocol.h"

static int nb_fail;

#define CHECK(c, ...)                                                   \
	do {                                                            \
		if (!(c)) {                                             \
			nb_fail++;                                      \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                   \
			fputc('\n', stderr);                            \
		}                                                       \
	} while (0)

struct req_case {
	const char *line;
	int want; /* 0 or enum ctl_err */
	const char *cmd;
};

static const struct req_case req_cases[] = {
	{ "{\"v\": 1, \"cmd\": \"status\"}", 0, "status" },
	{ "{\"cmd\": \"status\"}", 0, "status" },                      /* v absent = 1 */
	{ "{\"cmd\": \"add\", \"args\": {\"list\": \"txn_fraud\"}, \"id\": [1]}", 0, "add" },
	{ "{\"cmd\": \"policy-set\", \"args\": {}}", 0, "policy-set" },
	{ "{\"cmd\": \"ledger_head\"}", 0, "ledger_head" },
	{ "{\"cmd\": \"abcdefghijklmnopqrstuvwxyzabcdef\"}", 0, "abcdefghijklmnopqrstuvwxyzabcdef" }, /* 32 */
	{ "{\"cmd\": \"abcdefghijklmnopqrstuvwxyzabcdefg\"}", CTL_ERR_BAD_REQUEST, NULL },             /* 33 */
	{ "{\"cmd\": \"\"}", CTL_ERR_BAD_REQUEST, NULL },
	{ "{\"cmd\": \"Status\"}", CTL_ERR_BAD_REQUEST, NULL },
	{ "{\"cmd\": \"st atus\"}", CTL_ERR_BAD_REQUEST, NULL },
	{ "{\"cmd\": 5}", CTL_ERR_BAD_REQUEST, NULL },
	{ "{}", CTL_ERR_BAD_REQUEST, NULL },
	{ "[]", CTL_ERR_BAD_REQUEST, NULL },
	{ "\"status\"", CTL_ERR_BAD_JSON, NULL },
	{ "{\"cmd\": \"status\", \"args\": []}", CTL_ERR_BAD_REQUEST, NULL },
	{ "{\"cmd\": \"status\", \"args\": null}", CTL_ERR_BAD_REQUEST, NULL },
	{ "{\"v\": 2, \"cmd\": \"status\"}", CTL_ERR_BAD_VERSION, NULL },
	{ "{\"v\": 0, \"cmd\": \"status\"}", CTL_ERR_BAD_VERSION, NULL },
	{ "{\"v\": \"1\", \"cmd\": \"status\"}", CTL_ERR_BAD_VERSION, NULL },
	{ "{\"cmd\": \"status\", \"cmd\": \"add\"}", CTL_ERR_BAD_JSON, NULL }, /* duplicate key */
	{ "", CTL_ERR_BAD_JSON, NULL },
	{ "{", CTL_ERR_BAD_JSON, NULL },
	{ "{\"cmd\": \"status\"} trailing", CTL_ERR_BAD_JSON, NULL },
	{ "not json", CTL_ERR_BAD_JSON, NULL },
};

static void test_requests(void)
{
	for (size_t i = 0; i < sizeof(req_cases) / sizeof(req_cases[0]); i++) {
		const struct req_case *c = &req_cases[i];
		struct ctl_request r;
		char why[256];
		int rc = ctl_request_parse(c->line, strlen(c->line), &r, why, sizeof(why));

		CHECK(rc == c->want, "case %zu '%s': got %d want %d (%s)", i, c->line, rc, c->want,
		      rc ? why : "");
		if (rc == 0 && c->cmd) {
			CHECK(strcmp(r.cmd, c->cmd) == 0, "case %zu: cmd %s", i, r.cmd);
			CHECK(json_is_object(r.args), "case %zu: args not an object", i);
		}
		ctl_request_free(&r);
	}
}

static void test_line_bounds(void)
{
	char *big = malloc(CTL_LINE_MAX + 2);
	struct ctl_request r;
	char why[256];
	size_t n;
	int rc;

	/* a valid request padded with spaces to CTL_LINE_MAX - 1 bytes: accepted */
	n = CTL_LINE_MAX - 1;
	memset(big, ' ', n);
	memcpy(big, "{\"cmd\": \"status\"}", 17);
	rc = ctl_request_parse(big, n, &r, why, sizeof(why));
	CHECK(rc == 0, "line of max-1 bytes refused: %s", why);
	ctl_request_free(&r);
	/* CTL_LINE_MAX bytes (the newline would make it max+1): refused */
	memset(big, ' ', CTL_LINE_MAX);
	memcpy(big, "{\"cmd\": \"status\"}", 17);
	rc = ctl_request_parse(big, CTL_LINE_MAX, &r, why, sizeof(why));
	CHECK(rc == CTL_ERR_LINE_TOO_LONG, "line of max bytes: %d", rc);
	ctl_request_free(&r);
	free(big);
}

static void test_replies(void)
{
	json_t *id = json_integer(7), *o;
	char *out;
	size_t len;

	CHECK(ctl_reply_ok(id, json_pack("{s:i}", "x", 1), &out, &len) == 0, "reply ok");
	CHECK(len > 0 && out[len - 1] == '\n' && strchr(out, '\n') == out + len - 1, "one line");
	o = json_loads(out, 0, NULL);
	CHECK(o && json_integer_value(json_object_get(o, "v")) == CTL_PROTOCOL_VERSION &&
	      json_is_true(json_object_get(o, "ok")) &&
	      json_integer_value(json_object_get(o, "id")) == 7 &&
	      json_integer_value(json_object_get(json_object_get(o, "result"), "x")) == 1,
	      "ok shape: %s", out);
	json_decref(o);
	free(out);
	for (int e = 1; e < CTL_ERR_MAX; e++) {
		CHECK(ctl_reply_err(NULL, (enum ctl_err)e, "why\n\"quoted\"", &out, &len) == 0, "err");
		o = json_loads(out, 0, NULL);
		CHECK(o && json_is_false(json_object_get(o, "ok")) &&
		      strcmp(json_string_value(json_object_get(json_object_get(o, "error"), "code")),
			     ctl_err_code((enum ctl_err)e)) == 0 &&
		      strchr(out, '\n') == out + len - 1, "error %d shape: %s", e, out);
		json_decref(o);
		free(out);
	}
	CHECK(strcmp(ctl_err_code(CTL_ERR_LINE_TOO_LONG), "line_too_long") == 0, "code names");
	CHECK(strcmp(ctl_err_code(CTL_ERR_PERMISSION_DENIED), "permission_denied") == 0, "code names");
	CHECK(strcmp(ctl_err_code(CTL_ERR_RATE_LIMITED), "rate_limited") == 0 &&
	      strcmp(ctl_err_code(CTL_ERR_TOO_MANY_CLIENTS), "too_many_clients") == 0 &&
	      strcmp(ctl_err_code(CTL_ERR_IDLE_TIMEOUT), "idle_timeout") == 0, "code names");
	out = ctl_request_line("status", NULL, &len);
	{
		struct ctl_request r;
		char why[128];

		CHECK(out && ctl_request_parse(out, len - 1, &r, why, sizeof(why)) == 0 &&
		      strcmp(r.cmd, "status") == 0, "client line parses: %s", out ? out : "");
		ctl_request_free(&r);
	}
	free(out);
	json_decref(id);
}

struct cfg_case {
	const char *text;
	bool ok;
	const char *err_has; /* substring of the error */
};

static const struct cfg_case cfg_cases[] = {
	{ "ledger = \"/l\";\nsocket = \"/s\";\n", true, NULL },
	{ "lists = { txn_fraud = \"decline\"; telecom_fraud = \"off\"; };", true, NULL },
	{ "exempt_mti_classes = [ 4, 8 ];", true, NULL },
	{ "exempt_mti_classes = [ 10 ];", false, "cfg:1: exempt_mti_classes" },
	{ "lists = { nope = \"monitor\"; };", false, "unknown list" },
	{ "lists = { txn_fraud = \"block\"; };", false, "action must be" },
	{ "\n\nbogus = 1;", false, "cfg:3: bogus: unknown setting" },
	{ "table_capacity = 10;", false, "10 is out of range 1024..4,294,967,296" },
	{ "table_capacity = 4532015112830366L;", false, "453201******0366 is out of range" },
	{ "segment_lcores = 65;", false, "out of range" },
	{ "stale_after_sec = \"x\";", false, "must be an integer" },
	{ "metrics = \"localhost\";", false, "ADDR:PORT" },
	{ "fail_mode = \"closed\";", true, NULL },
	{ "fail_mode = \"half\";", false, "open" },
	{ "log_level = \"debug\";", true, NULL },
	{ "ledger = ", false, "syntax error" },
	{ "metrics = \"127.0.0.1:9464\";", true, NULL },
	{ "metrics = \"127.9.9.9:1\";", true, NULL },
	{ "metrics = \"\";", true, NULL },
	{ "\nmetrics = \"0.0.0.0:9464\";", false, "cfg:2: metrics: 0.0.0.0:9464 is not a loopback "
	  "address: serving the metrics beyond this host needs metrics_public = true" },
	{ "metrics = \"10.1.2.3:9464\";", false, "--metrics-public" },
	{ "metrics = \"0.0.0.0:9464\";\nmetrics_public = true;", true, NULL },
	{ "metrics_public = true;\nmetrics = \"0.0.0.0:9464\";", true, NULL },
	{ "metrics_public = 1;", false, "metrics_public: must be true or false" },
	{ "metrics = \"127.0.0.1:65536\";", false, "is not an IPv4" },
	{ "metrics = \"127.0.0.1:\";", false, "is not an IPv4" },
	{ "metrics = \"127.0.0.1:80x\";", false, "is not an IPv4" },
	{ "clients_max = 16;\nclients_admin_reserved = 15;", true, NULL },
	{ "clients_max = 16;\n\nclients_admin_reserved = 16;", false,
	  "cfg:3: clients_admin_reserved: 16 of clients_max 16 leaves no slot" },
	{ "clients_max = 15;", false, "clients_max: 15 is out of range 16..1024" },
	{ "clients_max = 1025;", false, "out of range" },
	{ "clients_per_uid = 0;", false, "clients_per_uid: 0 is out of range 1..1024" },
	{ "client_idle_sec = 0;\nclient_idle_sec = 86400;", false, "duplicate setting" },
	{ "client_idle_sec = 86401;", false, "out of range" },
	{ "lookup_group = \"\";\nlookup_rate_per_min = 0;\nlookup_burst = 1;", true, NULL },
	{ "lookup_burst = 0;", false, "lookup_burst: 0 is out of range 1..10000" },
	{ "lookup_rate_per_min = \"fast\";", false, "must be an integer" },
	/* a PAN in the wrong place is masked in the error, as every error text */
	{ "x4532015112830366 = 1;", false, "cfg:1: x453201******0366: unknown setting" },
	{ "metrics = \"4532015112830366:1\";", false, "\"453201******0366:1\" is not an IPv4" },
	{ "lists = { list_4532015112830366 = \"off\"; };", false,
	  "list_453201******0366: unknown list" },
};

static void test_config(void)
{
	for (size_t i = 0; i < sizeof(cfg_cases) / sizeof(cfg_cases[0]); i++) {
		struct ctl_config c;
		char err[512] = "";
		int rc;

		ctl_config_defaults(&c);
		c.stale_after_sec = 77;
		rc = ctl_config_parse(cfg_cases[i].text, "cfg", &c, err, sizeof(err));
		CHECK((rc == 0) == cfg_cases[i].ok, "config case %zu: rc %d (%s)", i, rc, err);
		if (!cfg_cases[i].ok) {
			CHECK(strstr(err, cfg_cases[i].err_has) != NULL, "config case %zu: '%s'", i, err);
			CHECK(c.stale_after_sec == 77, "config case %zu: changed on error", i);
			CHECK(rg_digit_run_max(err, strlen(err)) < RG_MASK_RUN_MIN,
			      "config case %zu: a digit run in '%s'", i, err);
		}
	}
	{
		struct ctl_config c;
		char err[256];

		ctl_config_defaults(&c);
		CHECK(c.policy.exempt_mti_classes == (1u << 4 | 1u << 8), "default exemptions");
		CHECK(ctl_config_parse("lists = { txn_fraud = \"decline\"; };", "cfg", &c, err,
				       sizeof(err)) == 0 &&
		      c.policy.list_action[RG_LIST_TXN_FRAUD] == RG_ACTION_DECLINE &&
		      c.policy.list_action[RG_LIST_TELECOM_FRAUD] == RG_ACTION_MONITOR, "lists");
	}
}

/*
 * Regression: the parser answered and logged
 *   not JSON: premature end of input near '"4532015112830366}}'
 * for an unterminated value.  Every error text of the parser is masked;
 * each case is a line and a text its error must hold.
 */
struct mask_case {
	const char *line;
	int want;
	const char *why_has;
};

static const struct mask_case mask_cases[] = {
	{ "{\"v\":1,\"cmd\":\"lookup\",\"args\":{\"kind\":\"PAN\",\"value\":\"4532015112830366}}",
	  CTL_ERR_BAD_JSON, "near '\"453201******0366}}'" },
	{ "{\"v\":1,\"cmd\":\"lookup\",\"args\":{\"kind\":\"PAN\",\"value\":\"4532015112830366\\q\"}}",
	  CTL_ERR_BAD_JSON, "invalid escape near '\"453201******0366\\q" },
	{ "[\"DE12345678901234", CTL_ERR_BAD_JSON, "near '\"DE123456****1234'" },
	{ "{\"v\":1,\"cmd\":\"lookup\",\"args\":{\"kind\":\"4532015112830366\",\"value\":1",
	  CTL_ERR_BAD_JSON, "not JSON" },
	{ "{\"v\":1,\"cmd\":\"lookup4532015112830366\"}", CTL_ERR_BAD_REQUEST, "command name" },
	{ "{\"v\":4532015112830366,\"cmd\":\"lookup\"}", CTL_ERR_BAD_VERSION, "version 1 only" },
	{ "4532015112830366", CTL_ERR_BAD_JSON, "not JSON" },
};

static void test_error_masking(void)
{
	for (size_t i = 0; i < sizeof(mask_cases) / sizeof(mask_cases[0]); i++) {
		const struct mask_case *m = &mask_cases[i];
		struct ctl_request r;
		char why[256] = "";
		int rc = ctl_request_parse(m->line, strlen(m->line), &r, why, sizeof(why));

		CHECK(rc == m->want, "mask case %zu: code %d, want %d (%s)", i, rc, m->want, why);
		CHECK(strstr(why, m->why_has) != NULL, "mask case %zu: '%s' lacks '%s'", i, why,
		      m->why_has);
		CHECK(rg_digit_run_max(why, strlen(why)) < RG_MASK_RUN_MIN,
		      "mask case %zu: a digit run in '%s'", i, why);
		ctl_request_free(&r);
	}
}

static void test_event_format(void)
{
	struct rg_event e;
	char line[1024];
	json_t *o;

	memset(&e, 0, sizeof(e));
	e.time_ns = 1700000000123456789ull;
	e.ledger_pos = 42;
	e.family = 4;
	e.ident_kind = RG_KIND_PAN;
	e.action = RG_ACTION_MONITOR;
	e.mti = 100;
	e.lists = 1;
	e.contributor = 3;
	e.sport = 40000;
	e.dport = 5000;
	e.saddr[0] = 10, e.saddr[3] = 1;
	e.daddr[0] = 10, e.daddr[3] = 2;
	memcpy(e.fp, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	strcpy(e.stan, "000123");
	strcpy(e.rrn, "630609041198");
	strcpy(e.masked, "476173******0119");
	CHECK(ctl_event_format(&e, NULL, 0, NULL, line, sizeof(line)) > 0, "format");
	o = json_loads(line, 0, NULL);
	CHECK(o != NULL, "event line is JSON: %s", line);
	CHECK(o && !strcmp(json_string_value(json_object_get(o, "source")), "dataplane") &&
	      !strcmp(json_string_value(json_object_get(o, "list")), "txn_fraud") &&
	      !strcmp(json_string_value(json_object_get(o, "kind")), "PAN") &&
	      !strcmp(json_string_value(json_object_get(o, "masked")), "476173******0119") &&
	      !strcmp(json_string_value(json_object_get(o, "fp")), "0102030405060708") &&
	      !strcmp(json_string_value(json_object_get(o, "mti")), "0100") &&
	      !strcmp(json_string_value(json_object_get(o, "flow")), "10.0.0.1:40000>10.0.0.2:5000") &&
	      !strcmp(json_string_value(json_object_get(o, "action")), "monitor") &&
	      !strcmp(json_string_value(json_object_get(o, "contributor")), "member_3") &&
	      json_integer_value(json_object_get(o, "ledger_pos")) == 42 &&
	      !strcmp(json_string_value(json_object_get(o, "ts")), "2023-11-14T22:13:20.123456789Z"),
	      "event shape: %s", line);
	json_decref(o);
	/* a lookup that hit: who, no flow or message fields */
	{
		struct ctl_event_src src = { .name = "lookup", .uid = 65534, .user = "no\"body" };

		CHECK(ctl_event_format(&e, &src, 0, NULL, line, sizeof(line)) > 0, "format");
		o = json_loads(line, 0, NULL);
		CHECK(o && !strcmp(json_string_value(json_object_get(o, "source")), "lookup") &&
		      json_integer_value(json_object_get(o, "uid")) == 65534 &&
		      !strcmp(json_string_value(json_object_get(o, "user")), "no\"body") &&
		      !strcmp(json_string_value(json_object_get(o, "masked")), "476173******0119") &&
		      !strcmp(json_string_value(json_object_get(o, "fp")), "0102030405060708") &&
		      !strcmp(json_string_value(json_object_get(o, "list")), "txn_fraud") &&
		      json_integer_value(json_object_get(o, "ledger_pos")) == 42 &&
		      json_object_get(o, "flow") == NULL && json_object_get(o, "stan") == NULL,
		      "lookup event shape: %s", line);
		json_decref(o);
	}
	/* an unterminated masked field from shared memory stays inside its bounds */
	memset(e.masked, 'A', sizeof(e.masked));
	memset(e.stan, '"', sizeof(e.stan));
	CHECK(ctl_event_format(&e, NULL, 0, NULL, line, sizeof(line)) > 0, "format");
	o = json_loads(line, 0, NULL);
	CHECK(o != NULL, "hostile record still gives JSON: %s", line);
	json_decref(o);
}

/* Regression: `hits -n 1000` once answered with a line longer than
 * CTL_LINE_MAX, which riskgate-ctl took for a closed connection.  The recent
 * lines come back newest first up to the byte bound, then oldest first. */
static void test_events_recent_bound(void)
{
	struct ctl_events *ev;
	struct rg_event e;
	char err[256], line[1024];
	size_t one;
	bool trunc = true;
	json_t *a;

	ev = ctl_events_open("", 0, 0, 1000, err, sizeof(err));
	CHECK(ev != NULL, "events open: %s", err);
	if (ev == NULL)
		return;
	memset(&e, 0, sizeof(e));
	e.ident_kind = RG_KIND_PAN;
	e.action = RG_ACTION_MONITOR;
	e.lists = 1;
	strcpy(e.masked, "476173******0119");
	for (unsigned i = 0; i < 1000; i++) {
		e.ledger_pos = i;
		ctl_events_put(ev, &e, NULL, NULL, NULL, NULL);
	}
	one = (size_t)ctl_event_format(&e, NULL, 0, NULL, line, sizeof(line)) + 1;
	a = ctl_events_recent(ev, 1000, 0, &trunc);
	CHECK(json_array_size(a) == 1000 && !trunc, "unbounded: %zu", json_array_size(a));
	json_decref(a);
	a = ctl_events_recent(ev, 20, CTL_LINE_MAX, &trunc);
	CHECK(json_array_size(a) == 20 && !trunc, "n below the bound: %zu", json_array_size(a));
	json_decref(a);
	a = ctl_events_recent(ev, 1000, 10 * one, &trunc);
	CHECK(json_array_size(a) == 10 && trunc, "bound of ten lines: %zu", json_array_size(a));
	CHECK(json_integer_value(json_object_get(json_array_get(a, 0), "ledger_pos")) == 990 &&
	      json_integer_value(json_object_get(json_array_get(a, 9), "ledger_pos")) == 999,
	      "the newest ten, oldest first");
	json_decref(a);
	a = ctl_events_recent(ev, 1000, 10 * one - 1, &trunc);
	CHECK(json_array_size(a) == 9 && trunc, "one byte short of ten: %zu", json_array_size(a));
	json_decref(a);
	a = ctl_events_recent(ev, 1000, CTL_LINE_MAX - 1024, &trunc);
	{
		char *s = json_dumps(a, JSON_COMPACT);

		CHECK(s != NULL && strlen(s) < CTL_LINE_MAX - 1024 && trunc,
		      "1000 hits fit one protocol line: %zu bytes", s ? strlen(s) : 0);
		free(s);
	}
	json_decref(a);
	ctl_events_close(ev);
}

int main(void)
{
	test_requests();
	test_error_masking();
	test_line_bounds();
	test_replies();
	test_config();
	test_event_format();
	test_events_recent_bound();
	if (nb_fail) {
		fprintf(stderr, "%d failure(s)\n", nb_fail);
		return 1;
	}
	printf("ok\n");
	return 0;
}
