/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What this member, as a witness (C2SP tlog-witness), last cosigned of each
 * other member's log: the checkpoint note, kept in the column family
 * `peers` under "wtns" | member id | 0, written synced and whole (one
 * put), so a witness never cosigns a size below one it cosigned before,
 * across restarts.  docs/sync.md, "Witnessing".
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rocksdb/c.h>

#include "ledger/internal.h"
#include "ledger/ledger.h"
#include "ledger/store.h"

static void witness_key(const struct ledger *l, unsigned m, uint8_t key[20])
{
	memcpy(key, "wtns", 4);
	ledger_key_member_u64(key + 4, l->cons.members[m].id, 0);
}

int ledger_witness_get(struct ledger *l, unsigned member, struct ledger_checkpoint *c)
{
	uint8_t key[20];
	char *val;
	size_t vlen;
	int rc;

	memset(c, 0, sizeof(*c));
	if (member >= l->cons.nb_members)
		return -ENOENT;
	witness_key(l, member, key);
	rc = ledger_db_get(l, LEDGER_CF_PEERS, key, sizeof(key), &val, &vlen);
	if (rc != 0)
		return rc;
	rc = ledger_checkpoint_decode(val, vlen, c, NULL);
	free(val);
	return rc == 0 ? 0 : -EBADMSG;
}

int ledger_witness_put(struct ledger *l, unsigned member, const struct ledger_checkpoint *c,
		       char *err, size_t cap)
{
	char note[LEDGER_CHECKPOINT_MAX], *errptr = NULL;
	uint8_t key[20];
	int len;

	if (member >= l->cons.nb_members)
		return -ENOENT;
	len = ledger_checkpoint_encode(c, note, sizeof(note));
	if (len < 0)
		return len;
	witness_key(l, member, key);
	rocksdb_put_cf(l->db, l->wsync, l->cf[LEDGER_CF_PEERS], (const char *)key, sizeof(key),
		       note, (size_t)len, &errptr);
	return ledger_rocks_err(errptr, err, cap, "rocksdb put witness state");
}

void ledger_memtables_release(struct ledger *l)
{
	ledger_cf_flush(l, 1u << LEDGER_CF_ENTRIES | 1u << LEDGER_CF_STATE, false);
}

int ledger_cosign_own(struct ledger *l, uint64_t time_s, const char *text, size_t text_len,
		      char *line, size_t cap)
{
	char origin[LEDGER_ORIGIN_MAX + 1];
	int rc;

	if (l->ident == NULL || l->self < 0)
		return -EPERM;
	rc = ledger_origin(&l->cons, (unsigned)l->self, origin, sizeof(origin));
	if (rc != 0)
		return rc;
	return ledger_cosign(origin, l->ident->sk, time_s, text, text_len, line, cap);
}

int ledger_fork_check(const struct ledger_consortium *cs, unsigned object, const void *a,
		      size_t alen, const void *b, size_t blen, unsigned *member, uint64_t *at,
		      const char **why)
{
	int m;

	if (object == LEDGER_EVIDENCE_CHECKPOINT) {
		struct ledger_checkpoint x, y;

		if (ledger_checkpoint_decode(a, alen, &x, why) != 0 ||
		    ledger_checkpoint_decode(b, blen, &y, why) != 0)
			return -EBADMSG;
		m = ledger_checkpoint_member(cs, &x);
		if (m < 0 || strcmp(x.origin, y.origin) != 0) {
			*why = "checkpoints of two logs, or of no member's log";
			return -EBADMSG;
		}
		if (x.size != y.size || memcmp(x.root, y.root, LEDGER_HASH_BYTES) == 0) {
			*why = "checkpoints of different sizes, or of the same root";
			return -EBADMSG;
		}
		if (!ledger_checkpoint_sig_ok(&x, cs->members[m].pk) ||
		    !ledger_checkpoint_sig_ok(&y, cs->members[m].pk)) {
			*why = "a checkpoint not signed by its member";
			return -EBADMSG;
		}
		*member = (unsigned)m;
		*at = x.size;
		return 0;
	}
	if (object == LEDGER_EVIDENCE_BLOCK) {
		struct ledger_block x, y;

		if (alen != LEDGER_BLOCK_BYTES || blen != LEDGER_BLOCK_BYTES ||
		    ledger_block_decode(a, alen, &x) != 0 || ledger_block_decode(b, blen, &y) != 0) {
			*why = "not two block headers";
			return -EBADMSG;
		}
		m = ledger_member_find(cs, x.member);
		if (m < 0 || memcmp(x.member, y.member, LEDGER_ID_BYTES) != 0 ||
		    x.height != y.height || memcmp(a, b, LEDGER_BLOCK_BYTES) == 0) {
			*why = "not two different blocks of one member at one height";
			return -EBADMSG;
		}
		if (!ledger_block_sig_ok(&x, cs->members[m].pk) ||
		    !ledger_block_sig_ok(&y, cs->members[m].pk)) {
			*why = "a block not signed by its member";
			return -EBADMSG;
		}
		*member = (unsigned)m;
		*at = x.height;
		return 0;
	}
	*why = "unknown kind of signed object";
	return -EBADMSG;
}
