/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Canonical entry encoding (docs/ledger.md, "Entry").  Every field has one
 * fixed width, big-endian; the two variable parts carry their length.  The
 * decoder refuses anything the encoder would not have written (unknown op,
 * out-of-range field, fields an op does not use left non-zero, trailing
 * bytes), so an entry's bytes, and so its leaf hash, are unique.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "common/ident.h"
#include "ledger/internal.h"
#include "ledger/ledger.h"

static const char *const op_names[LEDGER_OP_MAX] = {
	[LEDGER_OP_ADD] = "ADD",
	[LEDGER_OP_REVOKE] = "REVOKE",
	[LEDGER_OP_HIT] = "HIT",
	[LEDGER_OP_KEY_EPOCH] = "KEY-EPOCH",
	[LEDGER_OP_MEMBERSHIP] = "MEMBERSHIP",
};

static const char *const sev_names[] = { "low", "medium", "high" };

const char *ledger_op_name(unsigned op)
{
	return op > 0 && op < LEDGER_OP_MAX ? op_names[op] : NULL;
}

int ledger_op_from_name(const char *name)
{
	for (unsigned op = 1; op < LEDGER_OP_MAX; op++)
		if (strcasecmp(name, op_names[op]) == 0)
			return (int)op;
	return -EINVAL;
}

const char *ledger_severity_name(unsigned sev)
{
	return sev <= LEDGER_SEV_HIGH ? sev_names[sev] : NULL;
}

int ledger_severity_from_name(const char *name)
{
	for (unsigned s = 0; s <= LEDGER_SEV_HIGH; s++)
		if (strcasecmp(name, sev_names[s]) == 0)
			return (int)s;
	return -EINVAL;
}

unsigned ledger_severity_action(unsigned sev)
{
	return sev <= LEDGER_SEV_HIGH ? sev : 0;
}

static bool is_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i] != 0)
			return false;
	return true;
}

/* Field rules per op, shared by encode and decode.  NULL when e is valid. */
static const char *entry_check(const struct ledger_entry *e)
{
	const char *w;

	if (e->op == 0 || e->op >= LEDGER_OP_MAX)
		return "unknown op";
	if (e->list >= LEDGER_LISTS_MAX)
		return "list bit out of range";
	if (e->severity > LEDGER_SEV_HIGH)
		return "severity out of range";
	if (e->action > 15)
		return "action hint out of range";
	w = ledger_reason_check(e->reason, e->reason_len);
	if (w != NULL)
		return w;
	if (e->payload_len > LEDGER_PAYLOAD_MAX)
		return "payload too long";
	switch (e->op) {
	case LEDGER_OP_ADD:
	case LEDGER_OP_REVOKE:
	case LEDGER_OP_HIT:
		if (e->kind == RG_KIND_NONE || e->kind >= RG_KIND_MAX)
			return "unknown identifier kind";
		if (e->op == LEDGER_OP_ADD) {
			if (!is_zero(e->ref_member, LEDGER_ID_BYTES) || e->ref_pos != 0)
				return "ADD with a reference";
			if (e->payload_len != 0)
				return "ADD with a payload";
		} else {
			if (is_zero(e->ref_member, LEDGER_ID_BYTES))
				return "reference without a member";
			if (e->expiry_s != 0)
				return "expiry on an entry that is not an ADD";
			if (e->op == LEDGER_OP_REVOKE && e->payload_len != 0)
				return "REVOKE with a payload";
			if (e->op == LEDGER_OP_HIT && e->payload_len != LEDGER_HASH_BYTES)
				return "HIT payload is not a 32-byte commitment";
		}
		break;
	case LEDGER_OP_KEY_EPOCH:
	case LEDGER_OP_MEMBERSHIP:
		if (e->list != 0 || e->kind != 0 || !is_zero(&e->fp, sizeof(e->fp)) ||
		    e->expiry_s != 0 || e->severity != 0 || e->action != 0 ||
		    !is_zero(e->ref_member, LEDGER_ID_BYTES) || e->ref_pos != 0)
			return "field set that the op does not use";
		if (e->op == LEDGER_OP_KEY_EPOCH && e->payload_len != 4)
			return "KEY-EPOCH payload is not a 4-byte epoch";
		if (e->op == LEDGER_OP_MEMBERSHIP && e->payload_len == 0)
			return "MEMBERSHIP without a change";
		break;
	}
	return NULL;
}

int ledger_entry_encode(const struct ledger_entry *e, uint8_t *out)
{
	uint8_t *p = out;

	if (entry_check(e) != NULL)
		return -EINVAL;
	p[0] = 1; /* version */
	p[1] = e->op;
	p[2] = e->list;
	p[3] = e->kind;
	memcpy(p + 4, e->fp.b, RG_FP_BYTES);
	p[20] = e->severity;
	p[21] = e->action;
	ledger_put32(p + 22, e->key_epoch);
	ledger_put64(p + 26, e->expiry_s);
	ledger_put64(p + 34, e->time_ms);
	memcpy(p + 42, e->ref_member, LEDGER_ID_BYTES);
	ledger_put64(p + 50, e->ref_pos);
	p[58] = e->reason_len;
	p += 59;
	memcpy(p, e->reason, e->reason_len);
	p += e->reason_len;
	ledger_put16(p, e->payload_len);
	p += 2;
	memcpy(p, e->payload, e->payload_len);
	p += e->payload_len;
	return (int)(p - out);
}

int ledger_entry_decode(const uint8_t *in, size_t len, struct ledger_entry *e, const char **why)
{
	const char *w;
	size_t off;

	if (len < LEDGER_ENTRY_FIXED) {
		w = "entry shorter than its fixed part";
		goto bad;
	}
	if (in[0] != 1) {
		w = "unknown entry version";
		goto bad;
	}
	memset(e, 0, offsetof(struct ledger_entry, payload));
	e->op = in[1];
	e->list = in[2];
	e->kind = in[3];
	memcpy(e->fp.b, in + 4, RG_FP_BYTES);
	e->severity = in[20];
	e->action = in[21];
	e->key_epoch = ledger_get32(in + 22);
	e->expiry_s = ledger_get64(in + 26);
	e->time_ms = ledger_get64(in + 34);
	memcpy(e->ref_member, in + 42, LEDGER_ID_BYTES);
	e->ref_pos = ledger_get64(in + 50);
	e->reason_len = in[58];
	if (e->reason_len > LEDGER_REASON_MAX) {
		w = "reason too long";
		goto bad;
	}
	off = 59 + (size_t)e->reason_len;
	if (off + 2 > len) {
		w = "entry cut inside its reason";
		goto bad;
	}
	memcpy(e->reason, in + 59, e->reason_len);
	e->payload_len = ledger_get16(in + off);
	off += 2;
	if (e->payload_len > LEDGER_PAYLOAD_MAX) {
		w = "payload too long";
		goto bad;
	}
	if (off + e->payload_len != len) {
		w = off + e->payload_len > len ? "entry cut inside its payload"
					       : "trailing bytes after the entry";
		goto bad;
	}
	memcpy(e->payload, in + off, e->payload_len);
	w = entry_check(e);
	if (w != NULL)
		goto bad;
	return 0;
bad:
	if (why != NULL)
		*why = w;
	return -EBADMSG;
}
