/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * riskgate-ledger's command files (main.c, cli_tiles.c, cli_keys.c) share
 * these: the options common to every command, output helpers and the
 * handlers the dispatch table in main.c names.  Only the tool links them.
 */
#ifndef LEDGER_CLI_H
#define LEDGER_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#define EXIT_USAGE 2
#define EXIT_BAD_LINES 3
#define EXIT_EVIDENCE 4
/* Commands that only read open the ledger read only: they leave nothing
 * behind in the directory (docs/ledger.md, "Files"). */
#define OPEN_READER (LEDGER_OPEN_READ_ONLY | LEDGER_OPEN_NO_FP)

struct ledger;
struct ledger_member;

struct ledger_cli {
	const char *dir;
	bool json;
};

/* One JSON object on a line of stdout; takes ownership of o. */
void ledger_cli_print_json(json_t *o);
json_t *ledger_cli_hexj(const uint8_t *b, size_t n);
bool ledger_cli_parse_u64(const char *s, uint64_t *out);
/* The ledger of --dir, or exit 1 with the reason on stderr. */
struct ledger *ledger_cli_open(struct ledger_cli *c, unsigned flags);
/* Index of member name (NULL: the own member), or -1 with a message. */
int ledger_cli_member_arg(struct ledger *l, const char *name);
/* Print cmd's usage line and exit EXIT_USAGE. */
void ledger_cli_usage_exit(const char *cmd) __attribute__((noreturn));

/* cli_tiles.c */
int ledger_cmd_tiles(struct ledger_cli *c, int argc, char **argv);

/* cli_keys.c */
int ledger_cmd_tls_key(struct ledger_cli *c, int argc, char **argv);
/* Set "tls_key" (hex) and "tls_pin" of m in o, null both when m has none. */
void ledger_cli_tls_set(json_t *o, const struct ledger_member *m);

#endif
