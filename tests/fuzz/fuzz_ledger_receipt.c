/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target for what the receipts store reads back from DIR/receipts
 * (ledger/receipt.c): a receipt record ('R') through
 * ledger_receipt_record_decode, a batch range ('B', 'H') through
 * ledger_receipt_range_decode, and a decoded opening through the
 * auditor's check (ledger_receipt_check) and its JSON (ledger_receipt_json)
 * against a real ledger.
 *
 * At start the target makes a one-member ledger in a temporary directory
 * (removed at exit) holding an ADD, a shared receipt for it (a HIT at
 * position 1) and a local one, and keeps their records.  Input: byte 0 is
 * flags; the rest is the record.  Flag 1: the record is one of those two
 * (flag 8 picks the local one) with the rest of the input XORed onto it,
 * so near-valid records are explored; flag 2: the first 12 bytes are also
 * decoded as a range; flag 4: the opening is marked pending.
 *
 * Invariants, checked with abort(): a record that decodes re-encodes, by
 * the layout docs/ledger.md gives, to exactly its bytes (so decoding is
 * strict), with a 93-byte entry and at most 4096 bytes of detail; a range
 * that decodes is 12 bytes with 1 to 65536 receipts; the check returns 0,
 * -EBADMSG, -EAGAIN or -ENOENT and says why unless 0, and 0 only when the
 * entry is a HIT whose payload is SHA-256(salt || detail); the JSON says
 * "verified" exactly when the check passed, carries "problem" otherwise,
 * and the detail as a string or as hex, never both.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "common/ident.h"
#include "ledger/ledger.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REC_MAX (30 + LEDGER_RECEIPT_ENTRY_BYTES + LEDGER_DETAIL_MAX)

static char dir[64];
static struct ledger *led;
static struct ledger_receipts *store;
static uint8_t base_rec[2][REC_MAX];
static size_t base_len[2];

static void die(const char *what, const char *err)
{
	fprintf(stderr, "fuzz_ledger_receipt: %s: %s\n", what, err);
	abort();
}

/* The record layout of docs/ledger.md, "The receipts store". */
static size_t record_encode(const struct ledger_receipt_opening *o, uint8_t *out)
{
	out[0] = 1;
	out[1] = o->mode;
	for (int i = 0; i < 8; i++)
		out[2 + i] = (uint8_t)(o->hit_pos >> (56 - 8 * i));
	memcpy(out + 10, o->salt, LEDGER_SALT_BYTES);
	out[26] = (uint8_t)(o->entry_len >> 8);
	out[27] = (uint8_t)o->entry_len;
	memcpy(out + 28, o->entry, o->entry_len);
	out[28 + o->entry_len] = (uint8_t)(o->detail_len >> 8);
	out[29 + o->entry_len] = (uint8_t)o->detail_len;
	memcpy(out + 30 + o->entry_len, o->detail, o->detail_len);
	return 30 + o->entry_len + o->detail_len;
}

static void cleanup(void)
{
	char cmd[128];

	ledger_receipts_close(store);
	ledger_close(led);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_ledger_receipt: could not remove %s\n", dir);
}

/* The ledger, an ADD at position 0, a shared receipt at 1, a local one. */
static void setup(void)
{
	static struct ledger_entry e;
	struct ledger_member me;
	struct ledger_receipt r[2];
	static struct ledger_receipt_opening o;
	char path[128], err[LEDGER_ERR_MAX];
	uint8_t buf[LEDGER_ENTRY_MAX];
	const uint8_t *p = buf;
	uint16_t len;
	int n;

	if (sodium_init() < 0)
		die("sodium_init", "failed");
	snprintf(dir, sizeof(dir), "/tmp/fuzz_ledger_receipt.XXXXXX");
	if (mkdtemp(dir) == NULL)
		die("mkdtemp", dir);
	if (ledger_identity_generate(dir, "fz", err, sizeof(err)) != 0 ||
	    ledger_pub_load(dir, &me, err, sizeof(err)) != 0)
		die("identity", err);
	snprintf(path, sizeof(path), "%s/fp.key", dir);
	if (rg_fp_key_generate(path, 1, err, sizeof(err)) != 0)
		die("fp key", err);
	snprintf(path, sizeof(path), "%s/genesis.json", dir);
	if (ledger_genesis_write(path, "fuzz", &me, 1, err, sizeof(err)) != 0)
		die("genesis", err);
	led = ledger_open(dir, LEDGER_OPEN_WRITE, err, sizeof(err));
	if (led == NULL)
		die("open", err);
	atexit(cleanup);
	e.op = LEDGER_OP_ADD;
	e.list = 2;
	e.kind = RG_KIND_MERCHANT;
	e.key_epoch = 1;
	e.time_ms = ledger_now_ms();
	rg_fp_compute(ledger_fp_key(led), RG_KIND_MERCHANT, "shop-1", 6, &e.fp);
	n = ledger_entry_encode(&e, buf);
	len = (uint16_t)n;
	if (n < 0 || ledger_append(led, &p, &len, 1, NULL, err, sizeof(err)) != 0)
		die("append", err);
	store = ledger_receipts_open(led, err, sizeof(err));
	if (store == NULL)
		die("receipts store", err);
	memset(r, 0, sizeof(r));
	for (int i = 0; i < 2; i++) {
		if (ledger_receipt_ref(led, 0, 0, &r[i], err, sizeof(err)) != 0)
			die("ref", err);
		r[i].detail = i == 0 ? "stan 000123 rrn 612345678901" : "local";
		r[i].detail_len = strlen(r[i].detail);
	}
	if (ledger_receipts_append(led, store, &r[0], 1, NULL, err, sizeof(err)) != 0 ||
	    ledger_receipts_keep(led, store, &r[1], 1, err, sizeof(err)) != 0)
		die("receipts", err);
	for (int i = 0; i < 2; i++) {
		if (ledger_receipt_get(store, r[i].seq, &o) != 0)
			die("get", "a receipt just kept");
		base_len[i] = record_encode(&o, base_rec[i]);
	}
}

static void check_opening(struct ledger_receipt_opening *o, bool pending)
{
	static struct ledger_entry e;
	char why[LEDGER_ERR_MAX] = "", *text;
	uint8_t c[LEDGER_HASH_BYTES], buf[LEDGER_SALT_BYTES + LEDGER_DETAIL_MAX];
	json_t *j, *problem;
	bool has_detail, has_hex;
	int rc;

	o->seq = 7;
	o->pending = pending && o->mode == LEDGER_RECEIPT_SHARED;
	rc = ledger_receipt_check(led, o, &e, why, sizeof(why));
	if (rc != 0 && rc != -EBADMSG && rc != -EAGAIN && rc != -ENOENT)
		abort();
	if ((rc != 0) != (why[0] != '\0'))
		abort();
	if (rc == 0) {
		memcpy(buf, o->salt, LEDGER_SALT_BYTES);
		memcpy(buf + LEDGER_SALT_BYTES, o->detail, o->detail_len);
		ledger_sha256(buf, LEDGER_SALT_BYTES + o->detail_len, c);
		if (e.op != LEDGER_OP_HIT || memcmp(c, e.payload, LEDGER_HASH_BYTES) != 0)
			abort();
	}
	j = ledger_receipt_json(led, o);
	if (j == NULL || !json_is_object(j))
		abort();
	problem = json_object_get(j, "problem");
	if (json_is_true(json_object_get(j, "verified")) != (rc == 0) ||
	    (problem != NULL) != (rc != 0) || (problem != NULL && !json_is_string(problem)))
		abort();
	has_detail = json_object_get(j, "detail") != NULL;
	has_hex = json_object_get(j, "detail_hex") != NULL;
	if (has_detail == has_hex)
		abort();
	text = json_dumps(j, JSON_COMPACT);
	if (text == NULL)
		abort();
	free(text);
	json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ledger_receipt_opening o;
	static uint8_t rec[REC_MAX + 64], again[REC_MAX];
	size_t len;
	uint8_t flags;

	if (led == NULL)
		setup();
	if (size < 1)
		return 0;
	flags = data[0];
	data++;
	size--;
	if (flags & 1) {
		const uint8_t *b = base_rec[(flags >> 3) & 1];
		size_t blen = base_len[(flags >> 3) & 1];

		len = size > blen ? size : blen;
		if (len > sizeof(rec))
			return 0;
		memset(rec, 0, len);
		memcpy(rec, b, blen);
		for (size_t i = 0; i < size; i++)
			rec[i] ^= data[i];
	} else {
		len = size < sizeof(rec) ? size : sizeof(rec);
		memcpy(rec, data, len);
	}
	if (flags & 2) {
		uint64_t v;
		unsigned n;

		if (ledger_receipt_range_decode(data, size < 12 ? size : 12, &v, &n) == 0 &&
		    (size < 12 || n == 0 || n > LEDGER_BLOCK_MAX))
			abort();
	}
	if (ledger_receipt_record_decode(rec, len, &o) != 0)
		return 0;
	if (o.entry_len != LEDGER_RECEIPT_ENTRY_BYTES || o.detail_len > LEDGER_DETAIL_MAX ||
	    o.detail[o.detail_len] != '\0' ||
	    (o.mode != LEDGER_RECEIPT_SHARED && o.mode != LEDGER_RECEIPT_LOCAL))
		abort();
	if (record_encode(&o, again) != len || memcmp(again, rec, len) != 0)
		abort();
	check_opening(&o, flags & 4);
	return 0;
}
