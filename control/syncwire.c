/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the push feed carries (docs/sync.md, "Push feed"): server-sent
 * event framing and the block event, written by the serving side and read
 * by the fetching side.  Pure functions over bytes: the fuzz target
 * tests/fuzz/fuzz_sync_wire.c drives the readers.
 *
 *   event  = *(field "\n") "\n"
 *   field  = "event: " type | "data: " text | "id: " size | ":" comment
 *   block  = base64(header (201) | nb_entries x (len u16 | entry))
 *
 * A reader takes at most CTL_SSE_EVENT_MAX bytes per event.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "control/sync_net.h"
#include "ledger/ledger.h"

/* "id: <size>\nevent: block\ndata: <base64(header | (len u16, entry)*)>\n\n" */
char *ctl_block_event_encode(const struct ledger_block *b, const uint8_t *const *entries,
			     const uint16_t *lens, size_t *out_len)
{
	size_t raw_len = LEDGER_BLOCK_BYTES, b64_len, off;
	uint8_t *raw;
	char *ev;
	int n;

	for (uint32_t i = 0; i < b->nb_entries; i++)
		raw_len += 2 + (size_t)lens[i];
	raw = malloc(raw_len);
	b64_len = sodium_base64_ENCODED_LEN(raw_len, sodium_base64_VARIANT_ORIGINAL);
	ev = malloc(b64_len + 96);
	if (raw == NULL || ev == NULL) {
		free(raw);
		free(ev);
		return NULL;
	}
	ledger_block_encode(b, raw);
	off = LEDGER_BLOCK_BYTES;
	for (uint32_t i = 0; i < b->nb_entries; i++) {
		raw[off] = (uint8_t)(lens[i] >> 8);
		raw[off + 1] = (uint8_t)lens[i];
		memcpy(raw + off + 2, entries[i], lens[i]);
		off += 2 + (size_t)lens[i];
	}
	n = snprintf(ev, 96, "id: %llu\nevent: block\ndata: ",
		     (unsigned long long)(b->first_pos + b->nb_entries));
	sodium_bin2base64(ev + n, b64_len, raw, raw_len, sodium_base64_VARIANT_ORIGINAL);
	free(raw);
	off = (size_t)n + strlen(ev + n);
	memcpy(ev + off, "\n\n", 2);
	*out_len = off + 2;
	return ev;
}

int ctl_sse_next(const char *buf, size_t len, struct ctl_sse_event *ev, char *data,
		 size_t cap, size_t *used)
{
	const char *end = NULL, *p;

	*used = 0;
	for (size_t i = 1; i < len; i++)
		if (buf[i] == '\n' && buf[i - 1] == '\n') {
			end = buf + i;
			break;
		}
	if (end == NULL)
		return len > CTL_SSE_EVENT_MAX ? -EMSGSIZE : 0;
	if ((size_t)(end - buf) > CTL_SSE_EVENT_MAX)
		return -EMSGSIZE;
	memset(ev, 0, sizeof(*ev));
	snprintf(ev->type, sizeof(ev->type), "message");
	ev->data = data;
	for (p = buf; p < end;) {
		const char *eol = memchr(p, '\n', (size_t)(end - p + 1));
		size_t ll = (size_t)(eol - p);

		if (ll >= 6 && memcmp(p, "event:", 6) == 0) {
			size_t o = 6 + (ll > 6 && p[6] == ' ');

			if (ll - o >= sizeof(ev->type))
				return -EBADMSG;
			memcpy(ev->type, p + o, ll - o);
			ev->type[ll - o] = '\0';
		} else if (ll >= 5 && memcmp(p, "data:", 5) == 0) {
			size_t o = 5 + (ll > 5 && p[5] == ' ');

			if (ev->nb_data_lines > 0) {
				if (ev->len + 1 >= cap)
					return -EMSGSIZE;
				data[ev->len++] = '\n';
			}
			if (ev->len + (ll - o) >= cap)
				return -EMSGSIZE;
			memcpy(data + ev->len, p + o, ll - o);
			ev->len += ll - o;
			ev->nb_data_lines++;
		}
		/* "id:", comments and unknown fields carry nothing read here */
		p = eol + 1;
	}
	data[ev->len] = '\0';
	*used = (size_t)(end - buf) + 1;
	return 1;
}

int ctl_block_event_decode(const char *b64, size_t len, uint8_t *raw, size_t cap,
			   struct ledger_block *b, const uint8_t **ptrs, uint16_t *lens,
			   const char **why)
{
	size_t rawlen;

	if (sodium_base642bin(raw, cap, b64, len, NULL, &rawlen, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0) {
		*why = "block event is not base64 (or larger than allowed)";
		return -EBADMSG;
	}
	if (rawlen < LEDGER_BLOCK_BYTES || ledger_block_decode(raw, LEDGER_BLOCK_BYTES, b) != 0) {
		*why = "block event does not start with a block header";
		return -EBADMSG;
	}
	return ledger_entry_bundle_parse(raw + LEDGER_BLOCK_BYTES, rawlen - LEDGER_BLOCK_BYTES,
					 b->nb_entries, ptrs, lens, why);
}

size_t ctl_block_event_cap(size_t b64_len)
{
	return b64_len / 4 * 3 + 3;
}
