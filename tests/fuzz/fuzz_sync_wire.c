/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target for what a sync peer sends besides notes (which
 * fuzz_ledger_note covers): the push feed's event framing and block
 * events (control/syncwire.c), entry bundles, block header groups and tile
 * paths (ledger/tile.c).
 *
 * Input: byte 0 picks the parser, the rest is its input.  Invariants,
 * checked with abort(): a refusal says why; an event consumes bytes inside
 * the input and its data is NUL-terminated within the buffer; a parsed
 * bundle's entries lie inside the input, in order, exactly covering it; a
 * decoded block event re-encodes to the same block and entries; a parsed
 * tile path is written back to the same text.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control/sync_net.h"
#include "ledger/ledger.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t *ptrs[LEDGER_BLOCK_MAX];
static uint16_t lens[LEDGER_BLOCK_MAX];

static void sse(const char *in, size_t len)
{
	char *buf = malloc(len + 2);
	size_t off = 0;

	if (buf == NULL)
		return;
	for (;;) {
		struct ctl_sse_event ev;
		size_t used = 0;
		int rc = ctl_sse_next(in + off, len - off, &ev, buf, len + 2, &used);

		if (rc <= 0)
			break;
		if (used == 0 || used > len - off || ev.len >= len + 2 || ev.data[ev.len] != '\0')
			abort();
		off += used;
	}
	free(buf);
}

static bool same_block(const struct ledger_block *a, const struct ledger_block *b)
{
	uint8_t x[LEDGER_BLOCK_BYTES], y[LEDGER_BLOCK_BYTES];

	ledger_block_encode(a, x);
	ledger_block_encode(b, y);
	return memcmp(x, y, sizeof(x)) == 0;
}

static void block_event(const char *in, size_t len)
{
	size_t cap = ctl_block_event_cap(len), elen;
	uint8_t *raw = malloc(cap);
	struct ledger_block b, d;
	const char *why = NULL;
	char *ev;

	if (raw == NULL)
		return;
	if (ctl_block_event_decode(in, len, raw, cap, &b, ptrs, lens, &why) != 0) {
		if (why == NULL)
			abort();
		free(raw);
		return;
	}
	ev = ctl_block_event_encode(&b, ptrs, lens, &elen);
	if (ev != NULL) {
		const char *data = strstr(ev, "data: ");
		size_t dlen = data ? (size_t)(ev + elen - 2 - (data + 6)) : 0;
		uint8_t *raw2 = malloc(ctl_block_event_cap(dlen));
		const uint8_t **p2 = malloc(LEDGER_BLOCK_MAX * sizeof(*p2));
		uint16_t *l2 = malloc(LEDGER_BLOCK_MAX * sizeof(*l2));

		if (data == NULL || raw2 == NULL || p2 == NULL || l2 == NULL ||
		    ctl_block_event_decode(data + 6, dlen, raw2, ctl_block_event_cap(dlen), &d, p2,
					   l2, &why) != 0 ||
		    !same_block(&b, &d))
			abort();
		for (uint32_t i = 0; i < b.nb_entries; i++)
			if (l2[i] != lens[i] || memcmp(p2[i], ptrs[i], lens[i]) != 0)
				abort();
		free(raw2);
		free(p2);
		free(l2);
		free(ev);
	}
	free(raw);
}

static void bundle(const uint8_t *in, size_t len, unsigned width)
{
	const char *why = NULL;
	size_t off = 0;

	if (ledger_entry_bundle_parse(in, len, width, ptrs, lens, &why) != 0) {
		if (why == NULL)
			abort();
		return;
	}
	for (unsigned i = 0; i < width; i++) {
		if (ptrs[i] != in + off + 2 || lens[i] == 0)
			abort();
		off += 2 + (size_t)lens[i];
	}
	if (off != len)
		abort();
}

static void tile_path(const char *in, size_t len)
{
	struct ledger_tile_ref t;
	const char *why = NULL;
	char out[LEDGER_TILE_PATH_MAX];
	int n;

	if (ledger_tile_parse(in, len, &t, &why) != 0) {
		if (why == NULL)
			abort();
		return;
	}
	n = ledger_tile_path(&t, out, sizeof(out));
	if (n < 0 || (size_t)n != len || memcmp(out, in, len) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] & 3) {
	case 0:
		sse((const char *)data + 1, size - 1);
		break;
	case 1:
		block_event((const char *)data + 1, size - 1);
		break;
	case 2:
		if (size >= 2)
			bundle(data + 2, size - 2, (unsigned)data[1] + 1);
		break;
	default:
		tile_path((const char *)data + 1, size - 1);
		break;
	}
	return 0;
}
