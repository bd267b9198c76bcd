/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * riskgate-ledger tls-key [--show]: a member's TLS key (docs/ledger.md,
 * "TLS key").  Without --show it gives a directory made before TLS keys its
 * tls.key and tls.crt and lists the key in member.pub; with --show it
 * checks that tls.key, tls.crt and member.pub agree.  Either way it prints
 * {"tls_key", "tls_pin"}: the key and the pin peers give curl.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/cli.h"
#include "ledger/ledger.h"

void ledger_cli_tls_set(json_t *o, const struct ledger_member *m)
{
	char pin[LEDGER_TLS_PIN_MAX];

	if (!m->has_tls) {
		json_object_set_new(o, "tls_key", json_null());
		json_object_set_new(o, "tls_pin", json_null());
		return;
	}
	ledger_tls_pin(m->tls_pk, pin);
	json_object_set_new(o, "tls_key", ledger_cli_hexj(m->tls_pk, LEDGER_PK_BYTES));
	json_object_set_new(o, "tls_pin", json_string(pin));
}

/* The files agree with member.pub: 0, or 1 with the reason on stderr. */
static int show(const char *dir, struct ledger_member *m)
{
	uint8_t pk[LEDGER_PK_BYTES];
	char err[LEDGER_ERR_MAX];

	if (ledger_tls_load_pub(dir, pk, err, sizeof(err)) != 0 ||
	    ledger_pub_load(dir, m, err, sizeof(err)) != 0) {
		fprintf(stderr, "riskgate-ledger: %s\n", err);
		return 1;
	}
	if (!m->has_tls) {
		fprintf(stderr,
			"riskgate-ledger: %s/member.pub lists no TLS key: remove %s/tls.key and "
			"%s/tls.crt, then run tls-key again\n",
			dir, dir, dir);
		return 1;
	}
	if (memcmp(m->tls_pk, pk, LEDGER_PK_BYTES) != 0) {
		fprintf(stderr,
			"riskgate-ledger: %s/member.pub lists another TLS key than %s/tls.crt\n",
			dir, dir);
		return 1;
	}
	return 0;
}

int ledger_cmd_tls_key(struct ledger_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "show", no_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	struct ledger_member m = { 0 };
	char err[LEDGER_ERR_MAX];
	bool want_show = false;
	json_t *o;
	int opt;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 's': want_show = true; break;
		default: ledger_cli_usage_exit("tls-key");
		}
	}
	if (optind != argc || c->dir == NULL)
		ledger_cli_usage_exit("tls-key");
	if (want_show) {
		if (show(c->dir, &m) != 0)
			return 1;
	} else {
		if (ledger_identity_add_tls(c->dir, m.tls_pk, err, sizeof(err)) != 0) {
			fprintf(stderr, "riskgate-ledger: %s\n", err);
			return 1;
		}
		m.has_tls = true;
		fprintf(stderr,
			"riskgate-ledger: %s: TLS key made and listed in member.pub; the "
			"consortium learns it from a genesis made from member.pub or a "
			"membership change that adds this member\n",
			c->dir);
	}
	o = json_object();
	ledger_cli_tls_set(o, &m);
	ledger_cli_print_json(o);
	return 0;
}
