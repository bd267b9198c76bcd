/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Text and the ledger (docs/ledger.md, "Text in the ledger"): the rules
 * for the free text an entry or a genesis may carry (reasons; member, list
 * and consortium names), and the masked copy of untrusted input that a
 * message may quote.
 *
 * A signed entry travels to every member and can never be removed, so a
 * card or account number must not get into one by way of its text: text
 * holding a run of RG_MASK_RUN_MIN or more digits (the rule of
 * rg_mask_text, common/ident.h) is refused wherever it would enter.  The
 * refusals quote nothing of the text.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "common/ident.h"
#include "ledger/ledger.h"

#define DIGIT_RUN_WHY "holds a run of 8 or more digits, which could be a card or account " \
		      "number: use a code, not the number"

_Static_assert(RG_MASK_RUN_MIN == 8, "DIGIT_RUN_WHY names the run length");

enum text_fault { TEXT_OK, TEXT_CHAR, TEXT_DIGIT_RUN };

/* What is wrong with s[0..len) as a code or a name, length aside. */
static enum text_fault text_fault(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.'))
			return TEXT_CHAR;
	}
	return rg_digit_run_max(s, len) >= RG_MASK_RUN_MIN ? TEXT_DIGIT_RUN : TEXT_OK;
}

const char *ledger_reason_check(const char *reason, size_t len)
{
	static const char *const why[] = {
		[TEXT_OK] = NULL,
		[TEXT_CHAR] = "reason holds a character outside [A-Za-z0-9_.-]",
		[TEXT_DIGIT_RUN] = "reason " DIGIT_RUN_WHY,
	};

	if (len > LEDGER_REASON_MAX)
		return "reason longer than 32 characters";
	return why[text_fault(reason, len)];
}

const char *ledger_name_check(const char *name)
{
	static const char *const why[] = {
		[TEXT_OK] = NULL,
		[TEXT_CHAR] = "name holds a character outside [A-Za-z0-9_.-]",
		[TEXT_DIGIT_RUN] = "name " DIGIT_RUN_WHY,
	};
	size_t n = strnlen(name, LEDGER_NAME_MAX + 1);

	if (n == 0 || n > LEDGER_NAME_MAX)
		return "name is not 1 to 32 characters";
	return why[text_fault(name, n)];
}

_Static_assert(LEDGER_REASON_MAX == 32 && LEDGER_NAME_MAX == 32, "the refusals name the limits");

void ledger_mask_copy(const char *in, size_t len, char *out, size_t cap)
{
	size_t n;

	if (cap == 0)
		return;
	n = len < cap - 1 ? len : cap - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = isprint((unsigned char)in[i]) ? in[i] : '?';
	out[n] = '\0';
	rg_mask_text(out);
}

void ledger_mask_value(unsigned kind, const char *in, size_t len, char *out, size_t cap)
{
	unsigned digits = 0;

	for (size_t i = 0; i < len; i++)
		digits += isdigit((unsigned char)in[i]) != 0;
	if (len > 64)
		len = 64;
	if (digits >= 12)
		kind = RG_KIND_PAN;
	if (kind != RG_KIND_PAN && kind != RG_KIND_ACCOUNT) {
		ledger_mask_copy(in, len, out, cap);
		return;
	}
	if (rg_ident_mask(kind, in, len, out, cap) < 0)
		snprintf(out, cap, "(%zu bytes)", len);
	ledger_mask_copy(out, strlen(out), out, cap);
}
