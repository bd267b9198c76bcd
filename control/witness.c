/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Witnessing (docs/sync.md, "Witnessing"): every member is a C2SP
 * tlog-witness for the other members' logs.
 *
 *   POST /add-checkpoint            "old <size>\n" proof lines "\n" note
 *     200  cosignature/v1 line(s)
 *     400  malformed, or a checkpoint older than old
 *     403  not signed by its member's ledger key
 *     404  not the log of another member of the consortium
 *     409  old is not the size last cosigned (body: that size, text/x.tlog.size)
 *     422  not consistent: the proof fails, or the log held here differs
 *
 * What a witness cosigned last for add-checkpoint is kept in the ledger
 * (ledger_witness_put, synced) before the cosignature leaves, so it never
 * cosigns two inconsistent checkpoints, across restarts.  Every checkpoint
 * a member holds of another log counts as witnessed too, with no write of
 * its own: the ledger stores only checkpoints whose root is the log it
 * holds at that size, which it took in block by block; the witness state
 * is the larger of the two (witnessed()).  A checkpoint that contradicts the log
 * held is a fork: the ledger keeps both signed objects as evidence and the
 * daemon freezes that log (ctl_daemon_fork).
 *
 * The checkpoint served at /<origin>/checkpoint is this member's view:
 * the latest checkpoint held, with this member's cosignature when it
 * witnessed that size, and, for the own log, the cosignatures peers sent
 * back (ctl_witness_collect).
 *
 * Loop thread only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "control/daemon.h"
#include "control/sync_net.h"

#define WITNESS_PROOF_MAX 63

static unsigned reply_text(char *out, size_t cap, size_t *out_len, unsigned status,
			   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static unsigned reply_text(char *out, size_t cap, size_t *out_len, unsigned status,
			   const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, cap - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > cap - 2)
		n = (int)cap - 2;
	out[n++] = '\n';
	out[n] = '\0';
	*out_len = (size_t)n;
	return status;
}

static uint64_t now_s(void)
{
	return (uint64_t)time(NULL);
}

/* What this member has witnessed of member's log: the larger of what it
 * cosigned for add-checkpoint and the latest checkpoint it holds (held only
 * when consistent with the log held, which it took in block by block).
 * Size 0 when neither exists.  0 or -EIO. */
static int witnessed(struct ledger *l, unsigned member, struct ledger_checkpoint *w)
{
	struct ledger_checkpoint h;
	int rc = ledger_witness_get(l, member, w);

	if (rc != 0 && rc != -ENOENT)
		return -EIO;
	if (ledger_checkpoint_latest(l, member, &h) == 0 && h.size > w->size)
		*w = h;
	return 0;
}

unsigned ctl_witness_add(struct ctl_daemon *d, const char *body, size_t len, char *out,
			 size_t cap, size_t *out_len, const char **ctype)
{
	struct ledger *l = d->l;
	const struct ledger_consortium *cs = ledger_consortium(l);
	uint8_t proof[WITNESS_PROOF_MAX][LEDGER_HASH_BYTES], empty[LEDGER_HASH_BYTES];
	struct ledger_checkpoint cp, held;
	const char *p = body, *end = body + len, *eol, *why = "";
	char err[LEDGER_ERR_MAX], text[LEDGER_CHECKPOINT_MAX];
	uint64_t old = 0;
	unsigned nb = 0;
	int m, rc, n, tl;

	*ctype = "text/plain; charset=utf-8";
	d->nb_witness_requests++;
	/* "old <size>\n" */
	eol = memchr(p, '\n', len);
	if (eol == NULL || eol - p < 5 || memcmp(p, "old ", 4) != 0 || (p[4] == '0' && eol - p > 5))
		return reply_text(out, cap, out_len, 400, "first line must be \"old <size>\"");
	for (const char *q = p + 4; q < eol; q++) {
		if (*q < '0' || *q > '9' || old > (UINT64_MAX - 9) / 10)
			return reply_text(out, cap, out_len, 400, "old is not a size");
		old = old * 10 + (uint64_t)(*q - '0');
	}
	/* proof lines, then an empty line */
	for (p = eol + 1;; p = eol + 1) {
		size_t hl;

		eol = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
		if (eol == NULL)
			return reply_text(out, cap, out_len, 400,
					  "no empty line between the proof and the checkpoint");
		if (eol == p)
			break;
		if (nb == WITNESS_PROOF_MAX ||
		    sodium_base642bin(proof[nb], LEDGER_HASH_BYTES, p, (size_t)(eol - p), NULL, &hl,
				      NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
		    hl != LEDGER_HASH_BYTES)
			return reply_text(out, cap, out_len, 400,
					  "proof line %u is not the base64 of a 32-byte hash", nb + 1);
		nb++;
	}
	p = eol + 1;
	if (ledger_checkpoint_decode(p, (size_t)(end - p), &cp, &why) != 0)
		return reply_text(out, cap, out_len, 400, "checkpoint: %s", why);
	m = ledger_checkpoint_member(cs, &cp);
	if (m < 0 || m == ledger_self(l))
		return reply_text(out, cap, out_len, 404,
				  "%s is not the log of another member of this consortium",
				  cp.origin);
	if (!ledger_checkpoint_sig_ok(&cp, cs->members[m].pk))
		return reply_text(out, cap, out_len, 403,
				  "checkpoint not signed by %s's ledger key", cs->members[m].name);
	if (witnessed(l, (unsigned)m, &held) != 0)
		return reply_text(out, cap, out_len, 500, "witness state unreadable");
	if (old != held.size) {
		*ctype = "text/x.tlog.size";
		d->nb_witness_conflicts++;
		n = snprintf(out, cap, "%llu\n", (unsigned long long)held.size);
		*out_len = (size_t)n;
		return 409;
	}
	if (cp.size < old)
		return reply_text(out, cap, out_len, 400, "checkpoint of size %llu is older than %llu",
				  (unsigned long long)cp.size, (unsigned long long)old);
	ledger_empty_root(empty);
	if (old == cp.size && memcmp(held.root, cp.root, LEDGER_HASH_BYTES) != 0 && old > 0) {
		char a[LEDGER_CHECKPOINT_MAX], b[LEDGER_CHECKPOINT_MAX];
		int al = ledger_checkpoint_encode(&held, a, sizeof(a));
		int bl = ledger_checkpoint_encode(&cp, b, sizeof(b));

		if (al > 0 && bl > 0)
			ledger_keep_fork(l, (unsigned)m, cp.size, LEDGER_EVIDENCE_CHECKPOINT, a,
					 (size_t)al, b, (size_t)bl);
		ctl_daemon_fork(d, (unsigned)m, "two checkpoints of one size submitted for witnessing");
		d->nb_witness_inconsistent++;
		return reply_text(out, cap, out_len, 422, "FORK: a second root for size %llu",
				  (unsigned long long)cp.size);
	}
	if (old > 0 && old < cp.size &&
	    !ledger_consistency_verify(old, cp.size, held.root, cp.root,
				       (const uint8_t(*)[LEDGER_HASH_BYTES])proof, nb)) {
		d->nb_witness_inconsistent++;
		return reply_text(out, cap, out_len, 422,
				  "the proof does not show size %llu extending size %llu",
				  (unsigned long long)cp.size, (unsigned long long)old);
	}
	/* and against the log held here, when it reaches that far */
	rc = ledger_store_checkpoint(l, &cp, err, sizeof(err));
	if (rc == -EEXIST) {
		ctl_daemon_fork(d, (unsigned)m, err);
		d->nb_witness_inconsistent++;
		return reply_text(out, cap, out_len, 422, "%s", err);
	}
	if (rc < 0 && rc != -EAGAIN)
		return reply_text(out, cap, out_len, 422, "%s", err);
	if (cp.size > held.size) {
		rc = ledger_witness_put(l, (unsigned)m, &cp, err, sizeof(err));
		if (rc != 0)
			return reply_text(out, cap, out_len, 500, "witness state not saved");
	}
	/* the decoder takes only the canonical text: the note's is the body */
	tl = ledger_checkpoint_body(&cp, text, sizeof(text));
	n = tl > 0 ? ledger_cosign_own(l, now_s(), text, (size_t)tl, out, cap) : -1;
	if (n < 0)
		return reply_text(out, cap, out_len, 500, "cannot cosign");
	*out_len = (size_t)n;
	d->nb_witness_cosigned++;
	return 200;
}

int ctl_witness_view(struct ctl_daemon *d, unsigned member, char *out, size_t cap)
{
	struct ledger *l = d->l;
	struct ledger_checkpoint cp;
	char text[LEDGER_CHECKPOINT_MAX];
	int len, n, tl;

	if (ledger_checkpoint_latest(l, member, &cp) != 0)
		return -ENOENT;
	len = ledger_checkpoint_encode(&cp, out, cap);
	if (len < 0)
		return len;
	if ((int)member == ledger_self(l)) {
		for (unsigned p = 0; p < ledger_consortium(l)->nb_members; p++) {
			size_t cl = strlen(d->cosig_line[p]);

			if (d->cosig_size[p] == cp.size && cl > 0 && (size_t)len + cl < cap) {
				memcpy(out + len, d->cosig_line[p], cl);
				len += (int)cl;
			}
		}
		out[len] = '\0';
		return len;
	}
	/* a checkpoint held of another log is witnessed (see the file header) */
	tl = ledger_checkpoint_body(&cp, text, sizeof(text));
	n = tl > 0 ? ledger_cosign_own(l, now_s(), text, (size_t)tl, out + len, cap - (size_t)len)
		   : -1;
	if (n > 0)
		len += n;
	out[len] = '\0';
	return len;
}

bool ctl_witness_collect(struct ctl_daemon *d, unsigned peer, const struct ledger_checkpoint *c,
			 const char *reply, size_t len)
{
	const struct ledger_consortium *cs = ledger_consortium(d->l);
	char origin[LEDGER_ORIGIN_MAX + 1], text[LEDGER_CHECKPOINT_MAX];
	const char *p = reply, *end = reply + len;
	int tl = ledger_checkpoint_body(c, text, sizeof(text));

	if (tl < 0 || peer >= cs->nb_members ||
	    ledger_origin(cs, peer, origin, sizeof(origin)) != 0)
		return false;
	/* each line a cosignature; the one by the peer's key under its origin */
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		char note[LEDGER_CHECKPOINT_MAX + 256];
		struct ledger_note n;
		const char *why;
		size_t ll;
		int nl;

		if (eol == NULL)
			return false;
		ll = (size_t)(eol - p) + 1;
		nl = snprintf(note, sizeof(note), "%s\n%.*s", text, (int)ll, p);
		if (nl > 0 && (size_t)nl < sizeof(note) &&
		    ledger_note_parse(note, (size_t)nl, &n, &why) == 0 && n.nb_sigs == 1 &&
		    strcmp(n.sigs[0].name, origin) == 0 &&
		    ledger_cosig_ok(&n.sigs[0], cs->members[peer].pk, n.text, n.text_len, NULL) &&
		    ll < sizeof(d->cosig_line[peer])) {
			memcpy(d->cosig_line[peer], p, ll);
			d->cosig_line[peer][ll] = '\0';
			d->cosig_size[peer] = c->size;
			return true;
		}
		p = eol + 1;
	}
	return false;
}
