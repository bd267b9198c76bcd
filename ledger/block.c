/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Block headers: canonical encoding and Ed25519 signature (libsodium).
 * Layout in docs/ledger.md.
 *
 * A block header commits to its entries (entries_root), to the whole log
 * after it (tree_root) and to the previous block (prev), and is signed by
 * its member.  Checkpoints, the signed tree heads an auditor checks proofs
 * against, are signed notes (ledger/note.c).
 */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "ledger/internal.h"
#include "ledger/ledger.h"

static const uint8_t block_magic[4] = { 'R', 'G', 'B', 'K' };

void ledger_block_encode(const struct ledger_block *b, uint8_t out[LEDGER_BLOCK_BYTES])
{
	memcpy(out, block_magic, 4);
	out[4] = 1;
	memcpy(out + 5, b->member, LEDGER_ID_BYTES);
	ledger_put64(out + 13, b->height);
	ledger_put64(out + 21, b->first_pos);
	ledger_put32(out + 29, b->nb_entries);
	memcpy(out + 33, b->prev, 32);
	memcpy(out + 65, b->entries_root, 32);
	memcpy(out + 97, b->tree_root, 32);
	ledger_put64(out + 129, b->time_ms);
	memcpy(out + LEDGER_BLOCK_SIGNED, b->sig, LEDGER_SIG_BYTES);
}

int ledger_block_decode(const uint8_t *in, size_t len, struct ledger_block *b)
{
	if (len != LEDGER_BLOCK_BYTES || memcmp(in, block_magic, 4) != 0 || in[4] != 1)
		return -EBADMSG;
	memcpy(b->member, in + 5, LEDGER_ID_BYTES);
	b->height = ledger_get64(in + 13);
	b->first_pos = ledger_get64(in + 21);
	b->nb_entries = ledger_get32(in + 29);
	memcpy(b->prev, in + 33, 32);
	memcpy(b->entries_root, in + 65, 32);
	memcpy(b->tree_root, in + 97, 32);
	b->time_ms = ledger_get64(in + 129);
	memcpy(b->sig, in + LEDGER_BLOCK_SIGNED, LEDGER_SIG_BYTES);
	if (b->nb_entries == 0 || b->nb_entries > LEDGER_BLOCK_MAX ||
	    b->first_pos > UINT64_MAX - b->nb_entries)
		return -EBADMSG;
	return 0;
}

void ledger_block_hash(const struct ledger_block *b, uint8_t out[LEDGER_HASH_BYTES])
{
	uint8_t buf[LEDGER_BLOCK_BYTES];

	ledger_block_encode(b, buf);
	ledger_sha256(buf, sizeof(buf), out);
}

void ledger_block_sign(struct ledger_block *b, const uint8_t *sk)
{
	uint8_t buf[LEDGER_BLOCK_BYTES];

	ledger_block_encode(b, buf);
	crypto_sign_detached(b->sig, NULL, buf, LEDGER_BLOCK_SIGNED, sk);
}

bool ledger_block_sig_ok(const struct ledger_block *b, const uint8_t pk[LEDGER_PK_BYTES])
{
	uint8_t buf[LEDGER_BLOCK_BYTES];

	ledger_block_encode(b, buf);
	return crypto_sign_verify_detached(b->sig, buf, LEDGER_BLOCK_SIGNED, pk) == 0;
}
