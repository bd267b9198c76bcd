/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target for the import line parsers (ledger/import.c).
 *
 * Input: byte 0 picks CSV (even) or JSONL (odd); the rest is split into
 * lines.  For CSV the first line is the header (when it is refused, the
 * standard header is used so the lines still get parsed).  Invariants,
 * checked with abort(): a parsed row has a known list and kind and a
 * normalised value that normalises to itself; an error message never holds
 * a run of digits that could be a PAN or an account (rg_digit_run_max below
 * RG_MASK_RUN_MIN: every such run is masked); a parsed row's reason obeys
 * ledger_reason_check.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/ident.h"
#include "ledger/ledger.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char genesis[] =
	"{\"format\": \"riskgate-genesis\", \"version\": 1, \"consortium\": \"fuzz\", "
	"\"lists\": [{\"bit\": 0, \"name\": \"txn_fraud\", \"luhn\": true}, "
	"{\"bit\": 1, \"name\": \"high_risk_account\", \"luhn\": true}, "
	"{\"bit\": 2, \"name\": \"marketing_cheat\"}, {\"bit\": 3, \"name\": \"telecom_fraud\"}], "
	"\"members\": [{\"name\": \"m\", \"id\": \"66687aadf862bd77\", \"public_key\": "
	"\"0000000000000000000000000000000000000000000000000000000000000000\"}]}";

static void check_why(const char *why)
{
	/* every run that could be a PAN or an account is masked */
	if (rg_digit_run_max(why, strlen(why)) >= RG_MASK_RUN_MIN)
		abort();
}

static void check_row(const struct ledger_consortium *c, const struct ledger_import_row *row)
{
	char again[RG_IDENT_MAX_LEN];
	int n;

	if (row->list < 0 || row->list >= LEDGER_LISTS_MAX || c->lists[row->list].name[0] == '\0')
		abort();
	if (row->kind == RG_KIND_NONE || row->kind >= RG_KIND_MAX)
		abort();
	if (row->severity < 0 || row->severity > LEDGER_SEV_HIGH || row->reason_len > 32 ||
	    ledger_reason_check(row->reason, row->reason_len) != NULL)
		abort();
	n = rg_ident_normalise(row->kind, row->value, row->value_len, again);
	if (n != (int)row->value_len || memcmp(again, row->value, row->value_len) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ledger_consortium c;
	static bool ready;
	struct ledger_csv_cols cols;
	struct ledger_import_row row;
	const char *p, *end;
	bool jsonl, first = true;
	char why[LEDGER_ERR_MAX];

	if (!ready) {
		if (ledger_genesis_parse(genesis, sizeof(genesis) - 1, &c, why, sizeof(why)) != 0)
			abort();
		ready = true;
	}
	if (size < 1)
		return 0;
	jsonl = data[0] & 1;
	p = (const char *)data + 1;
	end = (const char *)data + size;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		int rc;

		why[0] = '\0';
		if (!jsonl && first) {
			first = false;
			if (ledger_csv_header(p, len, &cols, why, sizeof(why)) != 0) {
				static const char std[] = "list,kind,value,severity,expiry,reason";

				check_why(why);
				if (ledger_csv_header(std, sizeof(std) - 1, &cols, why, sizeof(why)) != 0)
					abort();
			}
		} else {
			rc = jsonl ? ledger_jsonl_line(&c, p, len, 1700000000, &row, why, sizeof(why))
				   : ledger_csv_line(&c, &cols, p, len, 1700000000, &row, why,
						     sizeof(why));
			if (rc == 0)
				check_row(&c, &row);
			else if (rc != 1 && why[0] == '\0')
				abort(); /* every refusal says why */
			check_why(why);
		}
		p += len + 1;
	}
	return 0;
}
