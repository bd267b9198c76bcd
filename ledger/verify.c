/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Full audit of every log held (docs/ledger.md, "Verify"): recompute each
 * log from its entries and check, in log order, every entry's encoding,
 * stored leaf hash and rights, every block's signature, chain and roots,
 * every stored tree node, the head record, every checkpoint's signature and
 * root, consistency between successive checkpoints, the membership changes
 * and finally the derived state.  Stops at the first fault and names it.
 *
 * One sequential pass over the entries column family; derived state is
 * rebuilt in an open-addressing hash map (about 48 bytes per record).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/ident.h"
#include "ledger/internal.h"
#include "ledger/ledger.h"
#include "ledger/store.h"

struct slot {
	uint8_t key[LEDGER_STATE_KEY];
	uint8_t used, live, kind, action, severity;
	uint64_t pos, expiry_s;
};

struct smap {
	struct slot *s;
	uint64_t mask, nb, nb_live;
};

static uint64_t smap_hash(const uint8_t *key)
{
	uint64_t h;

	/* fp bytes are uniform: the list and member only perturb the probe */
	memcpy(&h, key, 8);
	h ^= (uint64_t)key[RG_FP_BYTES] * 0x9e3779b97f4a7c15ull;
	h ^= (uint64_t)key[RG_FP_BYTES + 1] << 17;
	return h;
}

static int smap_grow(struct smap *m, uint64_t want)
{
	uint64_t cap = m->s ? 2 * (m->mask + 1) : 1 << 16;

	while (cap < 2 * want)
		cap *= 2;
	struct slot *ns = calloc(cap, sizeof(*ns));

	if (ns == NULL)
		return -ENOMEM;
	for (uint64_t i = 0; m->s && i <= m->mask; i++) {
		uint64_t h;

		if (!m->s[i].used)
			continue;
		h = smap_hash(m->s[i].key);
		for (h &= cap - 1; ns[h].used; h = (h + 1) & (cap - 1))
			;
		ns[h] = m->s[i];
	}
	free(m->s);
	m->s = ns;
	m->mask = cap - 1;
	return 0;
}

/* Slot of key, created (unused->used, not live) if absent; NULL on ENOMEM. */
static struct slot *smap_slot(struct smap *m, const uint8_t *key)
{
	uint64_t h;

	if (m->s == NULL || 2 * (m->nb + 1) > m->mask + 1)
		if (smap_grow(m, 0) != 0)
			return NULL;
	h = smap_hash(key);
	for (h &= m->mask; m->s[h].used; h = (h + 1) & m->mask)
		if (memcmp(m->s[h].key, key, LEDGER_STATE_KEY) == 0)
			return &m->s[h];
	memcpy(m->s[h].key, key, LEDGER_STATE_KEY);
	m->s[h].used = 1;
	m->nb++;
	return &m->s[h];
}

struct vctx {
	struct ledger *l;
	unsigned m;
	char *report;
	size_t cap;
	bool bad;
	uint64_t first_pos; /* of the block being checked */
};

static void node_check(void *arg, unsigned level, uint64_t index,
		       const uint8_t h[LEDGER_HASH_BYTES])
{
	struct vctx *v = arg;
	uint8_t key[17];
	char *val;
	size_t vlen;

	if (v->bad || level % LEDGER_NODE_STRIDE != 0)
		return;
	ledger_node_key(key, v->l->cons.members[v->m].id, level, index);
	if (ledger_db_get(v->l, LEDGER_CF_NODES, key, sizeof(key), &val, &vlen) != 0) {
		ledger_err(v->report, v->cap,
			   "member %s: position %llu: tree node level %u index %llu is missing",
			   v->l->cons.members[v->m].name, (unsigned long long)(index << level),
			   level, (unsigned long long)index);
		v->bad = true;
		return;
	}
	if (vlen != LEDGER_HASH_BYTES || memcmp(val, h, LEDGER_HASH_BYTES) != 0) {
		ledger_err(v->report, v->cap,
			   "member %s: position %llu: stored tree node level %u index %llu "
			   "(positions %llu..%llu) differs from the entries",
			   v->l->cons.members[v->m].name, (unsigned long long)(index << level),
			   level, (unsigned long long)index, (unsigned long long)(index << level),
			   (unsigned long long)(((index + 1) << level) - 1));
		v->bad = true;
	}
	free(val);
}

struct boundary {
	uint64_t size;
	uint8_t root[LEDGER_HASH_BYTES];
};

static const struct boundary *find_boundary(const struct boundary *b, uint64_t n, uint64_t size)
{
	uint64_t lo = 0, hi = n;

	while (lo < hi) {
		uint64_t mid = (lo + hi) / 2;

		if (b[mid].size < size)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && b[lo].size == size ? &b[lo] : NULL;
}

/* Rules of docs/ledger.md ("Rights") against the state rebuilt so far. */
static const char *rules(const struct ledger_consortium *cons,
			 const struct ledger_consortium *mship_final, unsigned m,
			 const struct ledger_entry *e, uint64_t pos, struct smap *map,
			 struct ledger *l, char *buf, size_t cap)
{
	uint8_t key[LEDGER_STATE_KEY];
	struct slot *s;

	switch (e->op) {
	case LEDGER_OP_ADD:
		return ledger_add_fault(cons, e);
	case LEDGER_OP_REVOKE:
		if (memcmp(e->ref_member, cons->members[m].id, LEDGER_ID_BYTES) != 0)
			return "REVOKE of an entry of another member (only its contributor may)";
		ledger_state_key(key, &e->fp, e->list, cons->members[m].id);
		s = smap_slot(map, key);
		if (s == NULL)
			return "out of memory";
		if (!s->live || s->pos != e->ref_pos || e->ref_pos >= pos || s->kind != e->kind) {
			snprintf(buf, cap, "REVOKE of position %llu, which is not a matching ADD "
				 "in force", (unsigned long long)e->ref_pos);
			return buf;
		}
		return NULL;
	case LEDGER_OP_HIT:
		return ledger_member_find(mship_final, e->ref_member) < 0
			       ? "HIT receipt for an entry of a non-member"
			       : NULL;
	case LEDGER_OP_KEY_EPOCH:
		return ledger_get32(e->payload) == 0 ? "KEY-EPOCH to epoch 0" : NULL;
	case LEDGER_OP_MEMBERSHIP: {
		struct ledger_membership_change mc;
		uint8_t mk[9] = { 'm', 's', 'h', 'i', 'p' };
		char *val;
		size_t vlen;
		bool same;

		if (ledger_membership_decode(e->payload, e->payload_len, &mc) != 0)
			return "MEMBERSHIP payload is malformed";
		ledger_put32(mk + 5, mc.seq);
		if (ledger_db_get(l, LEDGER_CF_DEFAULT, mk, sizeof(mk), &val, &vlen) != 0)
			return "MEMBERSHIP change not recorded in the membership";
		same = vlen == e->payload_len && memcmp(val, e->payload, vlen) == 0;
		free(val);
		return same ? NULL : "MEMBERSHIP change differs from the recorded one";
	}
	}
	return "unknown op";
}

static int verify_member(struct ledger *l, unsigned m, const struct ledger_consortium *genesis,
			 struct smap *map, char *report, size_t cap, uint64_t *nb_entries)
{
	const struct ledger_member *mem = &l->cons.members[m];
	struct vctx v = { .l = l, .m = m, .report = report, .cap = cap };
	struct ledger_frontier f = { 0 };
	struct ledger_head h, stored;
	struct ledger_entry *e = malloc(sizeof(*e));
	struct boundary *bounds = NULL;
	uint64_t nb_bounds = 0, cap_bounds = 0, size = 0, height = 0;
	uint8_t prev[LEDGER_HASH_BYTES], key[16];
	rocksdb_iterator_t *ib, *ie;
	char why_buf[160];
	int rc = -EBADMSG;

	if (e == NULL)
		return -ENOMEM;
	memcpy(prev, l->cons.id, LEDGER_HASH_BYTES);
	ledger_key_member_u64(key, mem->id, 0);
	ib = rocksdb_create_iterator_cf(l->db, l->ro, l->cf[LEDGER_CF_BLOCKS]);
	ie = rocksdb_create_iterator_cf(l->db, l->ro, l->cf[LEDGER_CF_ENTRIES]);
	rocksdb_iter_seek(ib, (const char *)key, sizeof(key));
	rocksdb_iter_seek(ie, (const char *)key, sizeof(key));
	for (; rocksdb_iter_valid(ib); rocksdb_iter_next(ib), height++) {
		size_t klen, vlen;
		const uint8_t *k = (const uint8_t *)rocksdb_iter_key(ib, &klen);
		const uint8_t *val = (const uint8_t *)rocksdb_iter_value(ib, &vlen);
		struct ledger_frontier bf = { 0 };
		struct ledger_block b;
		uint8_t er[LEDGER_HASH_BYTES];

		if (klen != 16 || memcmp(k, mem->id, LEDGER_ID_BYTES) != 0)
			break;
		if (ledger_get64(k + 8) != height || ledger_block_decode(val, vlen, &b) != 0 ||
		    memcmp(b.member, mem->id, LEDGER_ID_BYTES) != 0 || b.height != height) {
			ledger_err(report, cap, "member %s: position %llu: block %llu is malformed",
				   mem->name, (unsigned long long)size, (unsigned long long)height);
			goto out;
		}
		if (b.first_pos != size || memcmp(b.prev, prev, LEDGER_HASH_BYTES) != 0) {
			ledger_err(report, cap,
				   "member %s: position %llu: block %llu breaks the chain",
				   mem->name, (unsigned long long)size, (unsigned long long)height);
			goto out;
		}
		if (!ledger_block_sig_ok(&b, mem->pk)) {
			ledger_err(report, cap,
				   "member %s: position %llu: block %llu (positions %llu..%llu) has "
				   "a bad signature",
				   mem->name, (unsigned long long)size, (unsigned long long)height,
				   (unsigned long long)size,
				   (unsigned long long)(size + b.nb_entries - 1));
			goto out;
		}
		v.first_pos = size;
		for (uint32_t i = 0; i < b.nb_entries; i++) {
			uint64_t pos = size + i;
			const uint8_t *ek, *ev;
			uint8_t leaf[LEDGER_HASH_BYTES], skey[LEDGER_STATE_KEY];
			const char *why = NULL;
			size_t eklen, evlen;

			if (!rocksdb_iter_valid(ie) ||
			    (ek = (const uint8_t *)rocksdb_iter_key(ie, &eklen), eklen != 16) ||
			    memcmp(ek, mem->id, LEDGER_ID_BYTES) != 0 || ledger_get64(ek + 8) != pos) {
				ledger_err(report, cap, "member %s: position %llu: entry is missing",
					   mem->name, (unsigned long long)pos);
				goto out;
			}
			ev = (const uint8_t *)rocksdb_iter_value(ie, &evlen);
			if (evlen <= LEDGER_HASH_BYTES ||
			    ledger_entry_decode(ev, evlen - LEDGER_HASH_BYTES, e, &why) != 0) {
				ledger_err(report, cap, "member %s: position %llu: entry is malformed (%s)",
					   mem->name, (unsigned long long)pos,
					   why != NULL ? why : "too short");
				goto out;
			}
			ledger_leaf_hash(ev, evlen - LEDGER_HASH_BYTES, leaf);
			if (memcmp(leaf, ev + evlen - LEDGER_HASH_BYTES, LEDGER_HASH_BYTES) != 0) {
				ledger_err(report, cap,
					   "member %s: position %llu: entry bytes do not match their "
					   "stored leaf hash (entry or leaf changed)",
					   mem->name, (unsigned long long)pos);
				goto out;
			}
			why = rules(genesis, &l->cons, m, e, pos, map, l, why_buf, sizeof(why_buf));
			if (why != NULL) {
				ledger_err(report, cap, "member %s: position %llu: %s", mem->name,
					   (unsigned long long)pos, why);
				goto out;
			}
			if (e->op == LEDGER_OP_ADD || e->op == LEDGER_OP_REVOKE) {
				struct slot *s;

				ledger_state_key(skey, &e->fp, e->list, mem->id);
				s = smap_slot(map, skey);
				if (s == NULL) {
					rc = -ENOMEM;
					goto out;
				}
				if (e->op == LEDGER_OP_ADD) {
					map->nb_live += !s->live;
					s->live = 1;
					s->pos = pos;
					s->expiry_s = e->expiry_s;
					s->kind = e->kind;
					s->action = e->action;
					s->severity = e->severity;
				} else {
					s->live = 0;
					map->nb_live--;
				}
			}
			ledger_frontier_push(&bf, leaf, NULL, NULL);
			ledger_frontier_push(&f, leaf, node_check, &v);
			if (v.bad)
				goto out;
			rocksdb_iter_next(ie);
		}
		ledger_frontier_root(&bf, er);
		if (memcmp(er, b.entries_root, LEDGER_HASH_BYTES) != 0) {
			ledger_err(report, cap,
				   "member %s: position %llu: block %llu's signed entries root does "
				   "not match its entries",
				   mem->name, (unsigned long long)size, (unsigned long long)height);
			goto out;
		}
		size += b.nb_entries;
		if (nb_bounds == cap_bounds) {
			struct boundary *nb;

			cap_bounds = cap_bounds ? 2 * cap_bounds : 256;
			nb = realloc(bounds, cap_bounds * sizeof(*nb));
			if (nb == NULL) {
				rc = -ENOMEM;
				goto out;
			}
			bounds = nb;
		}
		bounds[nb_bounds].size = size;
		ledger_frontier_root(&f, bounds[nb_bounds].root);
		if (memcmp(bounds[nb_bounds].root, b.tree_root, LEDGER_HASH_BYTES) != 0) {
			ledger_err(report, cap,
				   "member %s: position %llu: block %llu's signed tree root does not "
				   "match the log",
				   mem->name, (unsigned long long)(size - 1),
				   (unsigned long long)height);
			goto out;
		}
		nb_bounds++;
		ledger_block_hash(&b, prev);
	}
	if (rocksdb_iter_valid(ie)) {
		size_t eklen;
		const uint8_t *ek = (const uint8_t *)rocksdb_iter_key(ie, &eklen);

		if (eklen == 16 && memcmp(ek, mem->id, LEDGER_ID_BYTES) == 0) {
			ledger_err(report, cap,
				   "member %s: position %llu: entry not covered by any block",
				   mem->name, (unsigned long long)ledger_get64(ek + 8));
			goto out;
		}
	}
	*nb_entries += size;

	/* The head record must be what the log gives. */
	l->head_loaded[m] = false;
	if (ledger_head_get(l, m, &stored) != 0) {
		ledger_err(report, cap, "member %s: head record is malformed", mem->name);
		goto out;
	}
	memset(&h, 0, sizeof(h));
	h.size = size;
	ledger_frontier_root(&f, h.root);
	if (stored.size != size || stored.nb_blocks != height ||
	    memcmp(stored.last_block, prev, LEDGER_HASH_BYTES) != 0 ||
	    memcmp(stored.root, h.root, LEDGER_HASH_BYTES) != 0 || stored.frontier.nb != f.nb ||
	    memcmp(stored.frontier.h, f.h, (size_t)f.nb * LEDGER_HASH_BYTES) != 0) {
		ledger_err(report, cap,
			   "member %s: position %llu: head record differs from the log (%llu "
			   "entries, %llu blocks)",
			   mem->name, (unsigned long long)size, (unsigned long long)size,
			   (unsigned long long)height);
		goto out;
	}

	/* Checkpoints: signed, at block boundaries, roots of the log, and each
	 * consistent with the one before (checked with a proof over the stored
	 * nodes, as an auditor would). */
	{
		struct ledger_checkpoint c, before = { 0 };
		struct ledger_node_ctx nctx = { l, m };
		rocksdb_iterator_t *ic;

		ic = rocksdb_create_iterator_cf(l->db, l->ro, l->cf[LEDGER_CF_CHECKPOINTS]);
		ledger_key_member_u64(key, mem->id, 0);
		for (rocksdb_iter_seek(ic, (const char *)key, sizeof(key)); rocksdb_iter_valid(ic);
		     rocksdb_iter_next(ic)) {
			size_t klen, vlen;
			const uint8_t *k = (const uint8_t *)rocksdb_iter_key(ic, &klen);
			const uint8_t *val = (const uint8_t *)rocksdb_iter_value(ic, &vlen);
			const struct boundary *bd;
			uint8_t path[LEDGER_PROOF_MAX][LEDGER_HASH_BYTES];
			unsigned nb;

			if (klen != 16 || memcmp(k, mem->id, LEDGER_ID_BYTES) != 0)
				break;
			if (ledger_checkpoint_decode((const char *)val, vlen, &c, NULL) != 0 ||
			    ledger_get64(k + 8) != c.size ||
			    ledger_checkpoint_member(&l->cons, &c) != (int)m ||
			    !ledger_checkpoint_sig_ok(&c, mem->pk)) {
				ledger_err(report, cap,
					   "member %s: position %llu: checkpoint at size %llu is "
					   "malformed or its signature is bad",
					   mem->name, (unsigned long long)(ledger_get64(k + 8) - 1),
					   (unsigned long long)ledger_get64(k + 8));
				rocksdb_iter_destroy(ic);
				goto out;
			}
			bd = find_boundary(bounds, nb_bounds, c.size);
			if (bd == NULL || memcmp(bd->root, c.root, LEDGER_HASH_BYTES) != 0) {
				ledger_err(report, cap,
					   "member %s: position %llu: checkpoint at size %llu does not "
					   "match the log",
					   mem->name, (unsigned long long)(c.size - 1),
					   (unsigned long long)c.size);
				rocksdb_iter_destroy(ic);
				goto out;
			}
			if (before.size != 0 &&
			    (ledger_consistency_proof(ledger_node_get, &nctx, before.size, c.size,
						      path, &nb) != 0 ||
			     !ledger_consistency_verify(before.size, c.size, before.root, c.root,
							(const uint8_t(*)[32])path, nb))) {
				ledger_err(report, cap,
					   "member %s: position %llu: checkpoints at sizes %llu and "
					   "%llu are not consistent",
					   mem->name, (unsigned long long)before.size,
					   (unsigned long long)before.size, (unsigned long long)c.size);
				rocksdb_iter_destroy(ic);
				goto out;
			}
			before = c;
		}
		rocksdb_iter_destroy(ic);
	}
	rc = 0;
out:
	rocksdb_iter_destroy(ib);
	rocksdb_iter_destroy(ie);
	free(bounds);
	free(e);
	return rc;
}

struct state_cmp {
	struct smap *map;
	uint64_t nb;
	char *report;
	size_t cap;
	struct ledger *l;
};

static int state_cmp_cb(void *arg, const struct rg_fp *fp, unsigned list, unsigned member,
			uint64_t pos, uint64_t expiry_s, unsigned action, unsigned kind)
{
	struct state_cmp *sc = arg;
	uint8_t key[LEDGER_STATE_KEY];
	struct slot *s;
	char hex[9];

	ledger_state_key(key, fp, list, sc->l->cons.members[member].id);
	s = smap_slot(sc->map, key);
	if (s == NULL)
		return -ENOMEM;
	if (!s->live || s->pos != pos || s->expiry_s != expiry_s || s->action != action ||
	    s->kind != kind) {
		rg_fp_hex(fp, 4, hex);
		/* name the log's position when the log holds this record */
		ledger_err(sc->report, sc->cap,
			   "member %s: position %llu: derived state for fingerprint %s... list %u "
			   "differs from the log",
			   sc->l->cons.members[member].name,
			   (unsigned long long)(s->live ? s->pos : pos), hex, list);
		return -EBADMSG;
	}
	sc->nb++;
	return 0;
}

int ledger_verify(struct ledger *l, char *report, size_t cap, uint64_t *nb_entries)
{
	struct ledger_consortium *genesis = malloc(sizeof(*genesis));
	struct smap map = { 0 };
	struct state_cmp sc;
	char path[PATH_MAX + 16];
	int rc;

	*nb_entries = 0;
	if (cap > 0)
		report[0] = '\0';
	if (genesis == NULL)
		return -ENOMEM;
	/* Membership: every stored change must be co-signed by a majority of
	 * the membership before it. */
	snprintf(path, sizeof(path), "%s/genesis.json", l->dir);
	rc = ledger_genesis_load(path, genesis, report, cap);
	if (rc != 0)
		goto out;
	for (uint32_t seq = 1; seq <= l->cons.membership_seq; seq++) {
		struct ledger_membership_change mc;
		uint8_t mk[9] = { 'm', 's', 'h', 'i', 'p' };
		const char *why = "stored change is malformed";
		char *val;
		size_t vlen;

		ledger_put32(mk + 5, seq);
		rc = ledger_db_get(l, LEDGER_CF_DEFAULT, mk, sizeof(mk), &val, &vlen);
		if (rc == 0) {
			rc = ledger_membership_decode((const uint8_t *)val, vlen, &mc);
			free(val);
		}
		if (rc == 0)
			rc = ledger_membership_check(genesis, &mc, &why);
		if (rc != 0) {
			ledger_err(report, cap, "membership change %u: %s", seq, why);
			rc = -EBADMSG;
			goto out;
		}
		ledger_membership_apply(genesis, &mc);
	}
	{
		uint64_t total = 0;
		struct ledger_head h;

		for (unsigned m = 0; m < l->cons.nb_members; m++)
			if (ledger_head_get(l, m, &h) == 0)
				total += h.size;
		rc = smap_grow(&map, total);
		if (rc != 0)
			goto out;
	}
	/* Rights are checked against the final membership for lists (lists do
	 * not change after genesis). */
	for (unsigned m = 0; m < l->cons.nb_members; m++) {
		rc = verify_member(l, m, &l->cons, &map, report, cap, nb_entries);
		if (rc != 0)
			goto out;
	}
	sc.map = &map;
	sc.nb = 0;
	sc.report = report;
	sc.cap = cap;
	sc.l = l;
	rc = ledger_state_iterate(l, state_cmp_cb, &sc);
	if (rc == -EBADMSG && report[0] == '\0')
		ledger_err(report, cap, "derived state: a record is malformed");
	if (rc == 0 && sc.nb != map.nb_live) {
		ledger_err(report, cap,
			   "derived state holds %llu records, the logs give %llu",
			   (unsigned long long)sc.nb, (unsigned long long)map.nb_live);
		rc = -EBADMSG;
	}
out:
	free(map.s);
	free(genesis);
	return rc;
}
