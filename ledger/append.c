/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Growing the logs (docs/ledger.md, "Rights", "Pull"): the checks every
 * block passes, local or taken from another member, the writes that follow
 * from it, checkpoints, and what is kept as evidence.
 *
 * Blocks and checkpoints are checked and staged in a transaction (struct
 * ledger_txn): their writes go to one WriteBatch, and what a later block
 * of the same transaction must see (heads, membership, state changes,
 * block headers, checkpoints) is kept beside it, since the database does
 * not hold it yet.  ledger_append and ledger_apply_block stage one block
 * and commit it; ledger_pull stages a whole bundle and commits it in one
 * synced write, or nothing.  Evidence (a fork, a provably bad checkpoint)
 * is written at once, on its own: it is kept even though what carried it
 * is refused.
 *
 * Invariant: a block, its entries, nodes, state changes and the new head
 * are in the same WriteBatch; a checkpoint of the own log is signed only
 * after the batch holding its blocks returned.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rocksdb/c.h>

#include "common/ident.h"
#include "ledger/internal.h"
#include "ledger/ledger.h"
#include "ledger/store.h"

/* A state change staged by an earlier block of the transaction. */
struct txn_state {
	uint8_t key[LEDGER_STATE_KEY];
	uint8_t used, del, kind;
	uint64_t pos;
};

struct ledger_txn {
	struct ledger *l;
	rocksdb_writebatch_t *wb;
	bool multi;			/* blocks after the first see the ones before */
	struct ledger_consortium *cons; /* membership as staged; NULL: l->cons */
	struct { unsigned m; struct ledger_head h; } *heads; /* staged heads */
	unsigned nb_heads, cap_heads;
	/* multi only: state changes (open addressing), block headers and
	 * checkpoints staged so far */
	struct txn_state *state;
	uint64_t state_mask, nb_state;
	struct { unsigned m; struct ledger_block b; } *blocks;
	size_t nb_blocks, cap_blocks;
	struct ledger_checkpoint *cps;
	size_t nb_cps, cap_cps;
};

/* Array p of n items of size sz with room for one more (capacity *cap):
 * p itself, moved, or NULL (p unchanged) when memory runs out. */
static void *grow(void *p, size_t n, size_t *cap, size_t sz)
{
	size_t c = *cap ? 2 * *cap : 16;
	void *np;

	if (n < *cap)
		return p;
	np = realloc(p, c * sz);
	if (np != NULL)
		*cap = c;
	return np;
}

struct ledger_txn *ledger_txn_begin(struct ledger *l, bool multi)
{
	struct ledger_txn *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->l = l;
	t->multi = multi;
	t->wb = rocksdb_writebatch_create();
	if (t->wb == NULL) {
		free(t);
		return NULL;
	}
	return t;
}

void ledger_txn_free(struct ledger_txn *t)
{
	if (t == NULL)
		return;
	rocksdb_writebatch_destroy(t->wb);
	free(t->cons);
	free(t->heads);
	free(t->state);
	free(t->blocks);
	free(t->cps);
	free(t);
}

const struct ledger_consortium *ledger_txn_cons(const struct ledger_txn *t)
{
	return t->cons != NULL ? t->cons : &t->l->cons;
}

int ledger_txn_head(struct ledger_txn *t, unsigned m, struct ledger_head *h)
{
	for (unsigned i = 0; i < t->nb_heads; i++)
		if (t->heads[i].m == m) {
			*h = t->heads[i].h;
			return 0;
		}
	if (m >= t->l->cons.nb_members && m < ledger_txn_cons(t)->nb_members) {
		ledger_head_empty(t->l, h); /* a member this transaction adds */
		return 0;
	}
	return ledger_head_get(t->l, m, h);
}

static int txn_set_head(struct ledger_txn *t, unsigned m, const struct ledger_head *h)
{
	size_t cap = t->cap_heads;
	unsigned i;

	for (i = 0; i < t->nb_heads && t->heads[i].m != m; i++)
		;
	if (i == t->nb_heads) {
		void *np = grow(t->heads, t->nb_heads, &cap, sizeof(*t->heads));

		if (np == NULL)
			return -ENOMEM;
		t->heads = np;
		t->cap_heads = (unsigned)cap;
		t->nb_heads++;
	}
	t->heads[i].m = m;
	t->heads[i].h = *h;
	return 0;
}

static uint64_t state_slot(const struct ledger_txn *t, const uint8_t *key)
{
	uint64_t h;

	memcpy(&h, key, sizeof(h)); /* a fingerprint: uniform already */
	return (h ^ key[RG_FP_BYTES] ^ ledger_get64(key + RG_FP_BYTES + 1)) & t->state_mask;
}

static int txn_state_put(struct ledger_txn *t, const uint8_t *key, uint64_t pos, uint8_t kind,
			 bool del)
{
	uint64_t i;

	if (t->state == NULL || 2 * (t->nb_state + 1) > t->state_mask + 1) {
		struct ledger_txn old = *t;
		uint64_t cap = t->state ? 2 * (t->state_mask + 1) : 1024;

		t->state = calloc(cap, sizeof(*t->state));
		if (t->state == NULL) {
			t->state = old.state;
			return -ENOMEM;
		}
		t->state_mask = cap - 1;
		t->nb_state = 0;
		for (uint64_t j = 0; old.state != NULL && j <= old.state_mask; j++)
			if (old.state[j].used)
				txn_state_put(t, old.state[j].key, old.state[j].pos,
					      old.state[j].kind, old.state[j].del);
		free(old.state);
	}
	for (i = state_slot(t, key); t->state[i].used; i = (i + 1) & t->state_mask)
		if (memcmp(t->state[i].key, key, LEDGER_STATE_KEY) == 0)
			break;
	if (!t->state[i].used) {
		memcpy(t->state[i].key, key, LEDGER_STATE_KEY);
		t->state[i].used = 1;
		t->nb_state++;
	}
	t->state[i].pos = pos;
	t->state[i].kind = kind;
	t->state[i].del = del;
	return 0;
}

/* A state record as staged: 0 with *pos and *kind (held), -ENOENT
 * (revoked), 1 (not staged: the database knows). */
static int txn_state_get(const struct ledger_txn *t, const uint8_t *key, uint64_t *pos,
			 unsigned *kind)
{
	if (t->state == NULL)
		return 1;
	for (uint64_t i = state_slot(t, key); t->state[i].used; i = (i + 1) & t->state_mask) {
		if (memcmp(t->state[i].key, key, LEDGER_STATE_KEY) != 0)
			continue;
		if (t->state[i].del)
			return -ENOENT;
		*pos = t->state[i].pos;
		*kind = t->state[i].kind;
		return 0;
	}
	return 1;
}

/* Block height of member m, from the database or staged. */
static int txn_block_get(struct ledger_txn *t, unsigned m, uint64_t height,
			 struct ledger_block *b)
{
	struct ledger_head held;

	if (m < t->l->cons.nb_members) {
		int rc = ledger_head_get(t->l, m, &held);

		if (rc != 0)
			return rc;
		if (height < held.nb_blocks)
			return ledger_block_get(t->l, m, height, b);
	}
	for (size_t i = 0; i < t->nb_blocks; i++)
		if (t->blocks[i].m == m && t->blocks[i].b.height == height) {
			*b = t->blocks[i].b;
			return 0;
		}
	return -ENOENT;
}

/* The checkpoint of member m at size, from the database or staged. */
static int txn_checkpoint_get(struct ledger_txn *t, unsigned m, uint64_t size,
			      struct ledger_checkpoint *c)
{
	const struct ledger_consortium *cons = ledger_txn_cons(t);

	for (size_t i = 0; i < t->nb_cps; i++)
		if (t->cps[i].size == size && ledger_checkpoint_member(cons, &t->cps[i]) == (int)m) {
			*c = t->cps[i];
			return 0;
		}
	return m < t->l->cons.nb_members ? ledger_checkpoint_get(t->l, m, size, c) : -ENOENT;
}

int ledger_txn_commit(struct ledger_txn *t, char *err, size_t cap)
{
	struct ledger *l = t->l;
	int rc = ledger_db_write(l, t->wb, err, cap);

	if (rc != 0)
		return rc;
	if (t->cons != NULL) {
		l->cons = *t->cons;
		if (l->self < 0 && l->ident != NULL) {
			/* a membership change may have admitted this member */
			uint8_t id[LEDGER_ID_BYTES];

			ledger_member_id(l->ident->pk, id);
			l->self = ledger_member_find(&l->cons, id);
		}
	}
	for (unsigned i = 0; i < t->nb_heads; i++) {
		l->heads[t->heads[i].m] = t->heads[i].h;
		l->head_loaded[t->heads[i].m] = true;
	}
	return 0;
}

/* ---- blocks ---- */

struct node_sink {
	rocksdb_writebatch_t *wb;
	struct ledger *l;
	const uint8_t *id;
};

static void node_store(void *arg, unsigned level, uint64_t index,
		       const uint8_t h[LEDGER_HASH_BYTES])
{
	struct node_sink *s = arg;
	uint8_t key[17];

	if (level % LEDGER_NODE_STRIDE != 0)
		return;
	ledger_node_key(key, s->id, level, index);
	rocksdb_writebatch_put_cf(s->wb, s->l->cf[LEDGER_CF_NODES], (const char *)key,
				  sizeof(key), (const char *)h, LEDGER_HASH_BYTES);
}

/* State of (fp, list) of member id as seen just before entry i of the
 * block: earlier entries of the block win over earlier blocks of the
 * transaction, which win over the database, read through *sit (created on
 * first use; one sort of the vector memtable per block).  Returns 0 with
 * *pos and *kind of the holding ADD, or -ENOENT. */
static int state_before(struct ledger_txn *t, const uint8_t *id, const uint8_t *const *entries,
			unsigned i, uint64_t first_pos, const struct ledger_entry *e,
			rocksdb_iterator_t **sit, uint64_t *pos, unsigned *kind)
{
	struct ledger *l = t->l;
	uint8_t key[LEDGER_STATE_KEY];
	int rc;

	while (i-- > 0) {
		const uint8_t *p = entries[i];

		if (p[2] != e->list || memcmp(p + 4, e->fp.b, RG_FP_BYTES) != 0)
			continue;
		if (p[1] == LEDGER_OP_ADD) {
			*pos = first_pos + i;
			*kind = p[3];
			return 0;
		}
		if (p[1] == LEDGER_OP_REVOKE)
			return -ENOENT;
	}
	ledger_state_key(key, &e->fp, e->list, id);
	rc = txn_state_get(t, key, pos, kind);
	if (rc != 1)
		return rc;
	if (*sit == NULL)
		*sit = rocksdb_create_iterator_cf(l->db, l->ro, l->cf[LEDGER_CF_STATE]);
	return ledger_state_seek(*sit, key, pos, NULL, kind);
}

const char *ledger_add_fault(const struct ledger_consortium *cons, const struct ledger_entry *e)
{
	if (cons->lists[e->list].name[0] == '\0')
		return "ADD to a list bit the consortium has not defined";
	if (e->expiry_s != 0 && e->expiry_s * 1000 <= e->time_ms)
		return "ADD that expires before it was made";
	return NULL;
}

/* The rules every entry of member m's log obeys (docs/ledger.md, "Rights").
 * NULL if e at pos may be appended; otherwise why not (into buf). */
static const char *entry_rules(struct ledger_txn *t, unsigned m, const uint8_t *const *entries,
			       unsigned i, uint64_t first_pos, const struct ledger_entry *e,
			       struct ledger_consortium *cons, rocksdb_iterator_t **sit, char *buf,
			       size_t cap)
{
	uint64_t pos = first_pos + i, held;
	unsigned kind;

	switch (e->op) {
	case LEDGER_OP_ADD:
		return ledger_add_fault(cons, e);
	case LEDGER_OP_REVOKE:
		if (memcmp(e->ref_member, cons->members[m].id, LEDGER_ID_BYTES) != 0) {
			int owner = ledger_member_find(cons, e->ref_member);

			snprintf(buf, cap,
				 "REVOKE of an entry contributed by %s: only its contributor may "
				 "revoke it",
				 owner >= 0 ? cons->members[owner].name : "an unknown member");
			return buf;
		}
		if (e->ref_pos >= pos)
			return "REVOKE of a position not before it";
		if (state_before(t, cons->members[m].id, entries, i, first_pos, e, sit, &held,
				 &kind) != 0 ||
		    held != e->ref_pos) {
			snprintf(buf, cap,
				 "REVOKE of position %llu, which is not an ADD of this list and "
				 "fingerprint still in force",
				 (unsigned long long)e->ref_pos);
			return buf;
		}
		if (kind != e->kind)
			return "REVOKE whose kind differs from the ADD it revokes";
		return NULL;
	case LEDGER_OP_HIT:
		if (ledger_member_find(cons, e->ref_member) < 0)
			return "HIT receipt for an entry of a non-member";
		return NULL;
	case LEDGER_OP_KEY_EPOCH:
		if (ledger_get32(e->payload) == 0)
			return "KEY-EPOCH to epoch 0";
		return NULL;
	case LEDGER_OP_MEMBERSHIP: {
		struct ledger_membership_change mc;
		const char *why = NULL;

		if (ledger_membership_decode(e->payload, e->payload_len, &mc) != 0)
			return "MEMBERSHIP payload is malformed";
		if (ledger_membership_check(cons, &mc, &why) != 0)
			return why;
		ledger_membership_apply(cons, &mc);
		return NULL;
	}
	}
	return "unknown op";
}

struct state_op {
	uint8_t key[LEDGER_STATE_KEY];
	uint8_t del;
	uint8_t val[LEDGER_STATE_VAL];
	uint32_t idx; /* entry in the block: ops on one key keep their order */
};

static int state_op_cmp(const void *a, const void *b)
{
	const struct state_op *x = a, *y = b;
	int c = memcmp(x->key, y->key, LEDGER_STATE_KEY);

	return c != 0 ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/* Check one block of member m and stage its writes in t.  local: the block
 * is ours and is completed and signed here; otherwise b is checked against
 * what the entries give.  On an error t holds part of the block: the
 * caller drops t. */
static int block_stage(struct ledger_txn *t, unsigned m, struct ledger_block *b,
		       const uint8_t *const *entries, const uint16_t *lens, bool local, char *err,
		       size_t cap)
{
	struct ledger *l = t->l;
	struct ledger_consortium *cons = (struct ledger_consortium *)ledger_txn_cons(t);
	struct ledger_member *mem = &cons->members[m];
	struct ledger_frontier bf = { 0 };
	struct ledger_head h;
	struct ledger_entry *e;
	struct node_sink sink;
	uint8_t leaf[LEDGER_HASH_BYTES], key[LEDGER_STATE_KEY > 17 ? LEDGER_STATE_KEY : 17];
	uint8_t val[LEDGER_ENTRY_MAX + LEDGER_HASH_BYTES], hdr[LEDGER_BLOCK_BYTES];
	char why_buf[160];
	uint32_t n = b->nb_entries, nb_sops = 0;
	struct state_op *sops = NULL;
	rocksdb_iterator_t *sit = NULL;
	int rc;

	rc = ledger_txn_head(t, m, &h);
	if (rc != 0) {
		ledger_err(err, cap, "member %s: cannot read its head (%s)", mem->name,
			   strerror(-rc));
		return rc;
	}
	if (n == 0 || n > LEDGER_BLOCK_MAX) {
		ledger_err(err, cap, "block of %u entries (1..%u)", n, LEDGER_BLOCK_MAX);
		return -EINVAL;
	}
	if (local) {
		memcpy(b->member, mem->id, LEDGER_ID_BYTES);
		b->height = h.nb_blocks;
		b->first_pos = h.size;
		memcpy(b->prev, h.last_block, LEDGER_HASH_BYTES);
		if (b->time_ms == 0)
			b->time_ms = ledger_now_ms();
	} else {
		if (b->height != h.nb_blocks || b->first_pos != h.size ||
		    memcmp(b->prev, h.last_block, LEDGER_HASH_BYTES) != 0) {
			ledger_err(err, cap,
				   "member %s block %llu: breaks the chain (held: %llu blocks, "
				   "%llu entries)",
				   mem->name, (unsigned long long)b->height,
				   (unsigned long long)h.nb_blocks, (unsigned long long)h.size);
			return -EPERM;
		}
		if (!ledger_block_sig_ok(b, mem->pk)) {
			ledger_err(err, cap, "member %s block %llu: bad signature", mem->name,
				   (unsigned long long)b->height);
			return -EPERM;
		}
	}
	if (!mem->active) {
		ledger_err(err, cap, "member %s has been removed: its log is closed", mem->name);
		return -EPERM;
	}
	e = malloc(sizeof(*e));
	sops = malloc(n * sizeof(*sops));
	if (e == NULL || sops == NULL) {
		rc = -ENOMEM;
		ledger_err(err, cap, "out of memory");
		goto out_release;
	}
	sink.wb = t->wb;
	sink.l = l;
	sink.id = mem->id;
	for (uint32_t i = 0; i < n; i++) {
		const char *why = NULL;
		uint64_t pos = b->first_pos + i;

		if (lens[i] > LEDGER_ENTRY_MAX ||
		    ledger_entry_decode(entries[i], lens[i], e, &why) != 0) {
			ledger_err(err, cap, "member %s position %llu: %s", mem->name,
				   (unsigned long long)pos, why != NULL ? why : "entry too long");
			rc = -EPERM;
			goto out_release;
		}
		if (e->op == LEDGER_OP_MEMBERSHIP && t->cons == NULL) {
			/* the membership as this transaction changes it */
			t->cons = malloc(sizeof(*t->cons));
			if (t->cons == NULL) {
				rc = -ENOMEM;
				ledger_err(err, cap, "out of memory");
				goto out_release;
			}
			*t->cons = l->cons;
			cons = t->cons;
		}
		why = entry_rules(t, m, entries, i, b->first_pos, e, cons, &sit, why_buf,
				  sizeof(why_buf));
		if (why != NULL) {
			ledger_err(err, cap, "member %s position %llu (entry %u of the block): %s",
				   mem->name, (unsigned long long)pos, i, why);
			rc = -EPERM;
			goto out_release;
		}
		ledger_leaf_hash(entries[i], lens[i], leaf);
		ledger_frontier_push(&bf, leaf, NULL, NULL);
		ledger_frontier_push(&h.frontier, leaf, node_store, &sink);

		ledger_key_member_u64(key, mem->id, pos);
		memcpy(val, entries[i], lens[i]);
		memcpy(val + lens[i], leaf, LEDGER_HASH_BYTES);
		rocksdb_writebatch_put_cf(t->wb, l->cf[LEDGER_CF_ENTRIES], (const char *)key, 16,
					  (const char *)val, lens[i] + LEDGER_HASH_BYTES);
		if (e->op == LEDGER_OP_ADD || e->op == LEDGER_OP_REVOKE) {
			struct state_op *so = &sops[nb_sops++];

			ledger_state_key(so->key, &e->fp, e->list, mem->id);
			so->del = e->op == LEDGER_OP_REVOKE;
			so->idx = i;
			ledger_put64(so->val, pos);
			ledger_put64(so->val + 8, e->expiry_s);
			so->val[16] = e->action;
			so->val[17] = e->severity;
			so->val[18] = e->kind;
		} else if (e->op == LEDGER_OP_MEMBERSHIP) {
			uint8_t mk[9] = { 'm', 's', 'h', 'i', 'p' };

			ledger_put32(mk + 5, cons->membership_seq);
			rocksdb_writebatch_put_cf(t->wb, l->cf[LEDGER_CF_DEFAULT], (const char *)mk,
						  sizeof(mk), (const char *)e->payload,
						  e->payload_len);
		}
	}
	ledger_frontier_root(&h.frontier, h.root);
	if (local) {
		ledger_frontier_root(&bf, b->entries_root);
		memcpy(b->tree_root, h.root, LEDGER_HASH_BYTES);
		ledger_block_sign(b, l->ident->sk);
	} else {
		uint8_t er[LEDGER_HASH_BYTES];

		ledger_frontier_root(&bf, er);
		if (memcmp(er, b->entries_root, LEDGER_HASH_BYTES) != 0 ||
		    memcmp(h.root, b->tree_root, LEDGER_HASH_BYTES) != 0) {
			ledger_err(err, cap,
				   "member %s block %llu: entries do not match the signed roots",
				   mem->name, (unsigned long long)b->height);
			rc = -EPERM;
			goto out_release;
		}
	}
	/* State records in key order: the memtable's skiplist then inserts
	 * each next to the one before instead of searching from its top. */
	qsort(sops, nb_sops, sizeof(*sops), state_op_cmp);
	for (uint32_t i = 0; i < nb_sops; i++) {
		if (sops[i].del)
			rocksdb_writebatch_delete_cf(t->wb, l->cf[LEDGER_CF_STATE],
						     (const char *)sops[i].key, LEDGER_STATE_KEY);
		else
			rocksdb_writebatch_put_cf(t->wb, l->cf[LEDGER_CF_STATE],
						  (const char *)sops[i].key, LEDGER_STATE_KEY,
						  (const char *)sops[i].val, LEDGER_STATE_VAL);
		if (t->multi && rc == 0)
			rc = txn_state_put(t, sops[i].key, ledger_get64(sops[i].val),
					   sops[i].val[18], sops[i].del);
	}
	ledger_block_encode(b, hdr);
	ledger_key_member_u64(key, mem->id, b->height);
	rocksdb_writebatch_put_cf(t->wb, l->cf[LEDGER_CF_BLOCKS], (const char *)key, 16,
				  (const char *)hdr, sizeof(hdr));
	h.size += n;
	h.nb_blocks++;
	ledger_sha256(hdr, sizeof(hdr), h.last_block);
	ledger_head_put(t->wb, l, m, &h);
	if (rc == 0)
		rc = txn_set_head(t, m, &h);
	if (rc == 0 && t->multi) {
		void *np = grow(t->blocks, t->nb_blocks, &t->cap_blocks, sizeof(*t->blocks));

		if (np == NULL) {
			rc = -ENOMEM;
		} else {
			t->blocks = np;
			t->blocks[t->nb_blocks].m = m;
			t->blocks[t->nb_blocks++].b = *b;
		}
	}
	if (rc != 0)
		ledger_err(err, cap, "out of memory");
out_release:
	if (sit != NULL)
		rocksdb_iter_destroy(sit);
	free(sops);
	free(e);
	return rc;
}

int ledger_checkpoint_now(struct ledger *l, char *err, size_t cap)
{
	struct ledger_checkpoint c, last;
	struct ledger_head h;
	uint8_t key[16];
	char buf[LEDGER_CHECKPOINT_MAX], *errptr = NULL;
	int rc, len;

	if (l->ident == NULL || l->self < 0)
		return -EPERM;
	rc = ledger_head_get(l, (unsigned)l->self, &h);
	if (rc != 0)
		return rc;
	if (h.size == 0)
		return 0;
	rc = ledger_checkpoint_latest(l, (unsigned)l->self, &last);
	if (rc == 0 && last.size == h.size)
		return 0;
	memset(&c, 0, sizeof(c));
	rc = ledger_origin(&l->cons, (unsigned)l->self, c.origin, sizeof(c.origin));
	if (rc != 0)
		return rc;
	c.size = h.size;
	memcpy(c.root, h.root, LEDGER_HASH_BYTES);
	ledger_checkpoint_sign(&c, l->ident->sk);
	len = ledger_checkpoint_encode(&c, buf, sizeof(buf));
	if (len < 0)
		return len;
	ledger_key_member_u64(key, l->cons.members[l->self].id, c.size);
	rocksdb_put_cf(l->db, l->wsync, l->cf[LEDGER_CF_CHECKPOINTS], (const char *)key,
		       sizeof(key), buf, (size_t)len, &errptr);
	rc = ledger_rocks_err(errptr, err, cap, "rocksdb put checkpoint");
	if (rc == 0 && l->hook.checkpoint != NULL)
		l->hook.checkpoint(l->hook.arg, (unsigned)l->self, &c);
	return rc;
}

int ledger_append(struct ledger *l, const uint8_t *const *entries, const uint16_t *lens,
		  unsigned n, struct ledger_block *blk, char *err, size_t cap)
{
	struct ledger_txn *t;
	struct ledger_block b;
	int rc;

	if (l->ident == NULL || l->self < 0) {
		ledger_err(err, cap, "ledger opened without the member key: cannot append");
		return -EPERM;
	}
	t = ledger_txn_begin(l, false);
	if (t == NULL) {
		ledger_err(err, cap, "out of memory");
		return -ENOMEM;
	}
	memset(&b, 0, sizeof(b));
	b.nb_entries = n;
	rc = block_stage(t, (unsigned)l->self, &b, entries, lens, true, err, cap);
	if (rc == 0)
		rc = ledger_txn_commit(t, err, cap);
	ledger_txn_free(t);
	if (rc != 0)
		return rc;
	if (l->hook.block != NULL)
		l->hook.block(l->hook.arg, (unsigned)l->self, &b, entries, lens);
	/* The block is durable: only now is a checkpoint covering it signed. */
	rc = ledger_checkpoint_now(l, err, cap);
	if (rc == 0 && blk != NULL)
		*blk = b;
	return rc;
}

void ledger_set_hook(struct ledger *l, const struct ledger_hook *h)
{
	if (h != NULL)
		l->hook = *h;
	else
		memset(&l->hook, 0, sizeof(l->hook));
}

/* ---- evidence ---- */

static const char *const problem_names[] = {
	[LEDGER_EVIDENCE_FORK] = "fork",
	[LEDGER_EVIDENCE_EMPTY_ROOT] = "empty_root",
	[LEDGER_EVIDENCE_BEYOND] = "beyond",
	[LEDGER_EVIDENCE_ROOT] = "root",
};

const char *ledger_evidence_name(unsigned problem)
{
	return problem > 0 && problem < LEDGER_EVIDENCE_MAX ? problem_names[problem] : NULL;
}

/* Evidence into the peers column family, at once and synced (docs/ledger.md,
 * "Evidence"): "fork" (heads), "forb" (blocks) or "badc" | id | at ->
 * problem u8 | object u8 |
 * len u16 | a | len u16 | b (b: the second signed object of a fork, or the
 * log's root at that size, or nothing). */
static void keep_evidence(struct ledger *l, unsigned problem, unsigned object,
			  const uint8_t id[LEDGER_ID_BYTES], uint64_t at, const void *a, size_t alen,
			  const void *b, size_t blen)
{
	uint8_t key[4 + 16], val[6 + 2 * LEDGER_NOTE_MAX];
	char *errptr = NULL;

	if (alen > LEDGER_NOTE_MAX || blen > LEDGER_NOTE_MAX)
		return;
	/* forks of blocks (by height) and of heads (by size) apart: one height
	 * and one size can both be forked */
	memcpy(key, problem != LEDGER_EVIDENCE_FORK	  ? "badc"
		    : object == LEDGER_EVIDENCE_BLOCK ? "forb"
						      : "fork",
	       4);
	ledger_key_member_u64(key + 4, id, at);
	val[0] = (uint8_t)problem;
	val[1] = (uint8_t)object;
	ledger_put16(val + 2, (uint16_t)alen);
	memcpy(val + 4, a, alen);
	ledger_put16(val + 4 + alen, (uint16_t)blen);
	if (blen != 0)
		memcpy(val + 6 + alen, b, blen);
	rocksdb_put_cf(l->db, l->wsync, l->cf[LEDGER_CF_PEERS], (const char *)key, sizeof(key),
		       (const char *)val, 6 + alen + blen, &errptr);
	free(errptr); /* evidence is kept at best; the refusal stands either way */
}

void ledger_keep_bad_checkpoint(struct ledger *l, const struct ledger_checkpoint *c,
				unsigned problem, const uint8_t *root)
{
	char buf[LEDGER_CHECKPOINT_MAX];
	int len = ledger_checkpoint_encode(c, buf, sizeof(buf));
	int m = ledger_checkpoint_member(&l->cons, c);

	if (len < 0 || m < 0)
		return;
	keep_evidence(l, problem, LEDGER_EVIDENCE_CHECKPOINT, l->cons.members[m].id, c->size, buf,
		      (size_t)len, root, root != NULL ? LEDGER_HASH_BYTES : 0);
}

void ledger_keep_fork(struct ledger *l, unsigned member, uint64_t at, unsigned object,
		      const void *a, size_t alen, const void *b, size_t blen)
{
	if (member < l->cons.nb_members)
		keep_evidence(l, LEDGER_EVIDENCE_FORK, object, l->cons.members[member].id, at, a,
			      alen, b, blen);
}

int ledger_evidence_iterate(struct ledger *l, ledger_evidence_fn cb, void *arg)
{
	rocksdb_iterator_t *it = rocksdb_create_iterator_cf(l->db, l->ro, l->cf[LEDGER_CF_PEERS]);
	int rc = 0;

	for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		size_t klen, vlen;
		const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &klen);
		const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vlen);
		struct ledger_evidence ev = { 0 };

		if (klen != 4 + 16 || (memcmp(k, "fork", 4) != 0 && memcmp(k, "forb", 4) != 0 &&
					memcmp(k, "badc", 4) != 0))
			continue;
		if (vlen < 6 || ledger_evidence_name(v[0]) == NULL ||
		    (v[1] != LEDGER_EVIDENCE_BLOCK && v[1] != LEDGER_EVIDENCE_CHECKPOINT))
			continue;
		ev.problem = v[0];
		ev.object = v[1];
		ev.alen = ledger_get16(v + 2);
		if (4 + ev.alen + 2 > vlen)
			continue;
		ev.a = v + 4;
		ev.blen = ledger_get16(v + 4 + ev.alen);
		if (6 + ev.alen + ev.blen != vlen)
			continue;
		ev.b = v + 6 + ev.alen;
		ev.member = ledger_member_find(&l->cons, k + 4);
		memcpy(ev.member_id, k + 4, LEDGER_ID_BYTES);
		ev.at = ledger_get64(k + 4 + LEDGER_ID_BYTES);
		rc = cb(arg, &ev);
		if (rc != 0)
			break;
	}
	if (rc == 0)
		rc = ledger_iter_status(it);
	rocksdb_iter_destroy(it);
	return rc;
}

/* ---- taking in what others signed ---- */

int ledger_txn_block(struct ledger_txn *t, const struct ledger_block *b,
		     const uint8_t *const *entries, const uint16_t *lens, char *err, size_t cap)
{
	const struct ledger_consortium *cons = ledger_txn_cons(t);
	struct ledger_block copy = *b, held;
	struct ledger_head h;
	int m, rc;

	m = ledger_member_find(cons, b->member);
	if (m < 0) {
		char hex[2 * LEDGER_ID_BYTES + 1];

		ledger_hex(b->member, LEDGER_ID_BYTES, hex);
		ledger_err(err, cap, "block from %s: not a member of the consortium", hex);
		return -EPERM;
	}
	rc = ledger_txn_head(t, (unsigned)m, &h);
	if (rc != 0)
		return rc;
	if (b->height < h.nb_blocks) {
		uint8_t x[LEDGER_BLOCK_BYTES], y[LEDGER_BLOCK_BYTES];

		rc = txn_block_get(t, (unsigned)m, b->height, &held);
		if (rc != 0)
			return rc;
		ledger_block_encode(&held, x);
		ledger_block_encode(b, y);
		if (memcmp(x, y, sizeof(x)) == 0)
			return 1;
		if (!ledger_block_sig_ok(b, cons->members[m].pk)) {
			ledger_err(err, cap, "member %s block %llu: bad signature",
				   cons->members[m].name, (unsigned long long)b->height);
			return -EPERM;
		}
		keep_evidence(t->l, LEDGER_EVIDENCE_FORK, LEDGER_EVIDENCE_BLOCK, b->member, b->height, x,
			      sizeof(x), y, sizeof(y));
		ledger_err(err, cap,
			   "FORK: member %s signed two different blocks at height %llu (evidence "
			   "kept)",
			   cons->members[m].name, (unsigned long long)b->height);
		return -EEXIST;
	}
	if (b->height > h.nb_blocks) {
		ledger_err(err, cap, "member %s block %llu: blocks from %llu are missing",
			   cons->members[m].name, (unsigned long long)b->height,
			   (unsigned long long)h.nb_blocks);
		return -EAGAIN;
	}
	return block_stage(t, (unsigned)m, &copy, entries, lens, false, err, cap);
}

int ledger_apply_block(struct ledger *l, const struct ledger_block *b,
		       const uint8_t *const *entries, const uint16_t *lens, char *err, size_t cap)
{
	struct ledger_txn *t = ledger_txn_begin(l, false);
	int rc;

	if (t == NULL) {
		ledger_err(err, cap, "out of memory");
		return -ENOMEM;
	}
	rc = ledger_txn_block(t, b, entries, lens, err, cap);
	if (rc == 0)
		rc = ledger_txn_commit(t, err, cap);
	ledger_txn_free(t);
	if (rc == 0 && l->hook.block != NULL)
		l->hook.block(l->hook.arg, (unsigned)ledger_member_find(&l->cons, b->member), b,
			      entries, lens);
	return rc;
}

int ledger_apply_blocks(struct ledger *l, const struct ledger_block *b, unsigned nb,
			const uint8_t *const *entries, const uint16_t *lens, unsigned *nb_held,
			unsigned *nb_new, char *err, size_t cap)
{
	struct ledger_txn *t = ledger_txn_begin(l, true);
	unsigned held = 0, staged = 0;
	size_t off = 0;
	int rc = 0, crc;

	*nb_held = *nb_new = 0;
	if (t == NULL) {
		ledger_err(err, cap, "out of memory");
		return -ENOMEM;
	}
	for (unsigned i = 0; i < nb; i++) {
		rc = ledger_txn_block(t, &b[i], entries + off, lens + off, err, cap);
		if (rc < 0)
			break;
		if (rc == 1 && staged == 0)
			held++;
		else if (rc == 0)
			staged++;
		rc = 0;
		off += b[i].nb_entries;
	}
	/* the blocks before a refused one are whole and checked: they stay */
	crc = staged > 0 ? ledger_txn_commit(t, rc == 0 ? err : NULL, cap) : 0;
	ledger_txn_free(t);
	if (crc != 0)
		return crc;
	*nb_held = held;
	*nb_new = staged;
	if (l->hook.block != NULL) {
		off = 0;
		for (unsigned i = 0; i < held + staged; i++) {
			if (i >= held)
				l->hook.block(l->hook.arg,
					      (unsigned)ledger_member_find(&l->cons, b[i].member),
					      &b[i], entries + off, lens + off);
			off += b[i].nb_entries;
		}
	}
	return rc;
}

/* The root of member m's log at size, from the block ending there (found
 * by bisection over the blocks held and staged): 0, or -ENOENT when no
 * block ends at size. */
static int root_at(struct ledger_txn *t, unsigned m, uint64_t nb_blocks, uint64_t size,
		   uint8_t root[LEDGER_HASH_BYTES])
{
	uint64_t lo = 0, hi = nb_blocks;
	struct ledger_block blk;
	int rc;

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		rc = txn_block_get(t, m, mid, &blk);
		if (rc != 0)
			return rc;
		if (blk.first_pos + blk.nb_entries < size)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == nb_blocks)
		return -ENOENT;
	rc = txn_block_get(t, m, lo, &blk);
	if (rc != 0)
		return rc;
	if (blk.first_pos + blk.nb_entries != size)
		return -ENOENT;
	memcpy(root, blk.tree_root, LEDGER_HASH_BYTES);
	return 0;
}

int ledger_txn_checkpoint(struct ledger_txn *t, const struct ledger_checkpoint *c,
			  unsigned *problem, char *err, size_t cap)
{
	const struct ledger_consortium *cons = ledger_txn_cons(t);
	struct ledger_checkpoint held;
	struct ledger_head h;
	uint8_t key[16], root[LEDGER_HASH_BYTES];
	char buf[LEDGER_CHECKPOINT_MAX];
	const char *name;
	int m, rc, len;

	*problem = 0;
	m = ledger_checkpoint_member(cons, c);
	if (m < 0) {
		ledger_err(err, cap, "checkpoint of an origin that is no member's log of this "
			   "consortium");
		return -EPERM;
	}
	name = cons->members[m].name;
	if (!ledger_checkpoint_sig_ok(c, cons->members[m].pk)) {
		ledger_err(err, cap, "member %s checkpoint at size %llu: bad signature", name,
			   (unsigned long long)c->size);
		return -EPERM;
	}
	if (c->size == 0) {
		ledger_empty_root(root);
		if (memcmp(root, c->root, LEDGER_HASH_BYTES) == 0)
			return 1; /* true of every log, and says nothing */
		*problem = LEDGER_EVIDENCE_EMPTY_ROOT;
		ledger_keep_bad_checkpoint(t->l, c, *problem, NULL);
		ledger_err(err, cap,
			   "member %s signed a head of size 0 whose root is not the empty tree's "
			   "(evidence kept)", name);
		return -EEXIST;
	}
	rc = ledger_txn_head(t, (unsigned)m, &h);
	if (rc != 0)
		return rc;
	if (c->size > h.size) {
		ledger_err(err, cap, "member %s checkpoint at size %llu: beyond the %llu entries "
			   "held", name, (unsigned long long)c->size, (unsigned long long)h.size);
		return -EAGAIN;
	}
	len = ledger_checkpoint_encode(c, buf, sizeof(buf));
	if (len < 0)
		return len;
	rc = txn_checkpoint_get(t, (unsigned)m, c->size, &held);
	if (rc == 0) {
		char x[LEDGER_CHECKPOINT_MAX];
		int xlen;

		if (memcmp(held.root, c->root, LEDGER_HASH_BYTES) == 0)
			return 1; /* the same head, maybe signed twice: no fork */
		xlen = ledger_checkpoint_encode(&held, x, sizeof(x));
		if (xlen < 0)
			return xlen;
		*problem = LEDGER_EVIDENCE_FORK;
		keep_evidence(t->l, *problem, LEDGER_EVIDENCE_CHECKPOINT, cons->members[m].id,
			      c->size, x, (size_t)xlen, buf, (size_t)len);
		ledger_err(err, cap,
			   "FORK: member %s signed two different heads for size %llu (evidence "
			   "kept)", name, (unsigned long long)c->size);
		return -EEXIST;
	}
	/* The root must be the one of the log held at that size: the signed
	 * tree root of the block ending there. */
	rc = root_at(t, (unsigned)m, h.nb_blocks, c->size, root);
	if (rc != 0 && rc != -ENOENT)
		return rc;
	if (rc == -ENOENT || memcmp(root, c->root, LEDGER_HASH_BYTES) != 0) {
		*problem = LEDGER_EVIDENCE_ROOT;
		ledger_keep_bad_checkpoint(t->l, c, *problem, rc == 0 ? root : NULL);
		ledger_err(err, cap,
			   "member %s signed a head for size %llu that is not its log (evidence "
			   "kept)", name, (unsigned long long)c->size);
		return -EEXIST;
	}
	if (t->multi) {
		void *np = grow(t->cps, t->nb_cps, &t->cap_cps, sizeof(*t->cps));

		if (np == NULL)
			return -ENOMEM;
		t->cps = np;
		t->cps[t->nb_cps++] = *c;
	}
	ledger_key_member_u64(key, cons->members[m].id, c->size);
	rocksdb_writebatch_put_cf(t->wb, t->l->cf[LEDGER_CF_CHECKPOINTS], (const char *)key,
				  sizeof(key), buf, (size_t)len);
	return 0;
}

int ledger_store_checkpoint(struct ledger *l, const struct ledger_checkpoint *c, char *err,
			    size_t cap)
{
	struct ledger_txn *t = ledger_txn_begin(l, false);
	unsigned problem;
	int rc;

	if (t == NULL) {
		ledger_err(err, cap, "out of memory");
		return -ENOMEM;
	}
	rc = ledger_txn_checkpoint(t, c, &problem, err, cap);
	if (rc == 0)
		rc = ledger_txn_commit(t, err, cap);
	ledger_txn_free(t);
	if (rc == 0 && l->hook.checkpoint != NULL)
		l->hook.checkpoint(l->hook.arg, (unsigned)ledger_checkpoint_member(&l->cons, c), c);
	return rc;
}
