/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target for the member parsers (ledger/member.c) that take what
 * other members wrote: the membership change of a MEMBERSHIP entry in a
 * pulled log (ledger_membership_decode) and the genesis file
 * (ledger_genesis_parse).
 *
 * Input: byte 0 picks the parser (even: membership change, odd: genesis);
 * the rest is its input.  Invariants, checked with abort(): a change that
 * decodes re-encodes to exactly its bytes (so decoding is strict), and a
 * remove carries no TLS key; a genesis that parses says nothing in err,
 * has 1 to LEDGER_MEMBERS_MAX members, each TLS key it lists is not zero,
 * not its member's ledger key and no other member's; one that does not
 * parse says why.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ledger/ledger.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void change(const uint8_t *in, size_t len)
{
	static struct ledger_membership_change m;
	static uint8_t out[LEDGER_PAYLOAD_MAX];
	int n;

	if (ledger_membership_decode(in, len, &m) != 0)
		return;
	if (m.action == 2 && !sodium_is_zero(m.tls_pk, LEDGER_PK_BYTES))
		abort();
	n = ledger_membership_encode(&m, out, sizeof(out));
	if (n < 0 || (size_t)n != len || memcmp(out, in, len) != 0)
		abort();
}

static void genesis(const uint8_t *in, size_t len)
{
	static struct ledger_consortium c;
	char err[LEDGER_ERR_MAX] = "";

	if (ledger_genesis_parse((const char *)in, len, &c, err, sizeof(err)) != 0) {
		if (err[0] == '\0')
			abort();
		return;
	}
	if (c.nb_members == 0 || c.nb_members > LEDGER_MEMBERS_MAX)
		abort();
	for (unsigned i = 0; i < c.nb_members; i++) {
		const struct ledger_member *m = &c.members[i];

		if (!m->has_tls)
			continue;
		if (sodium_is_zero(m->tls_pk, LEDGER_PK_BYTES) ||
		    memcmp(m->tls_pk, m->pk, LEDGER_PK_BYTES) == 0 ||
		    ledger_member_find_tls(&c, m->tls_pk) != (int)i)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 1)
		genesis(data + 1, size - 1);
	else
		change(data + 1, size - 1);
	return 0;
}
