/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The ledger directory and its RocksDB database (docs/ledger.md,
 * "Storage").  Column families:
 *   entries      member id | pos            -> entry bytes | leaf hash
 *   nodes        member id | level | index  -> subtree hash (levels 4, 8, ...)
 *   blocks       member id | height         -> block header (signed)
 *   checkpoints  member id | size           -> checkpoint (signed)
 *   state        fp | list | member id      -> pos | expiry | action | severity
 *   heads        member id                  -> size, blocks, last block, root, frontier
 *   peers        "fork" | member id | ...   -> evidence of a fork
 *   default      "consortium", "self", "mship" | seq -> membership changes
 *
 * Invariant: a block, its entries, nodes, state changes and the new head
 * are written by one synced WriteBatch (WAL on); the checkpoint covering
 * it is written after that batch returned.  RocksDB's WAL recovery gives
 * back a prefix of whole batches, so a reopened ledger holds exactly the
 * blocks whose batches were acknowledged.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <rocksdb/c.h>
#include <sodium.h>

#include "common/ident.h"
#include "ledger/internal.h"
#include "ledger/ledger.h"
#include "ledger/store.h"

static const char *const cf_names[LEDGER_CF_MAX] = {
	[LEDGER_CF_DEFAULT] = "default",     [LEDGER_CF_ENTRIES] = "entries",
	[LEDGER_CF_NODES] = "nodes",	     [LEDGER_CF_BLOCKS] = "blocks",
	[LEDGER_CF_CHECKPOINTS] = "checkpoints", [LEDGER_CF_STATE] = "state",
	[LEDGER_CF_HEADS] = "heads",	     [LEDGER_CF_PEERS] = "peers",
};

const struct ledger_consortium *ledger_consortium(const struct ledger *l)
{
	return &l->cons;
}

int ledger_self(const struct ledger *l)
{
	return l->self;
}

const struct rg_fp_key *ledger_fp_key(const struct ledger *l)
{
	return l->fpk;
}

int ledger_rocks_err(char *errptr, char *err, size_t cap, const char *what)
{
	if (errptr == NULL)
		return 0;
	if (err != NULL)
		ledger_err(err, cap, "%s: %s", what, errptr);
	free(errptr);
	return -EIO;
}

int ledger_rocks_get(rocksdb_t *db, const rocksdb_readoptions_t *ro,
		     rocksdb_column_family_handle_t *cf, const void *key, size_t klen, char **val,
		     size_t *vlen)
{
	char *errptr = NULL;
	int rc;

	if (cf != NULL)
		*val = rocksdb_get_cf(db, ro, cf, key, klen, vlen, &errptr);
	else
		*val = rocksdb_get(db, ro, key, klen, vlen, &errptr);
	rc = ledger_rocks_err(errptr, NULL, 0, NULL);
	if (rc != 0)
		return rc;
	return *val == NULL ? -ENOENT : 0;
}

int ledger_iter_status(const rocksdb_iterator_t *it)
{
	char *errptr = NULL;

	rocksdb_iter_get_error(it, &errptr);
	return ledger_rocks_err(errptr, NULL, 0, NULL);
}

int ledger_db_get(struct ledger *l, unsigned cf, const void *key, size_t klen, char **val,
		  size_t *vlen)
{
	return ledger_rocks_get(l->db, l->ro, l->cf[cf], key, klen, val, vlen);
}

int ledger_db_write(struct ledger *l, rocksdb_writebatch_t *wb, char *err, size_t cap)
{
	char *errptr = NULL;

	/* fault injection for the tests: RISKGATE_LEDGER_FAIL_WRITE=N fails
	 * the Nth block write of this process as a disk error would */
	if (l->fail_write_at != 0 && ++l->nb_writes == l->fail_write_at) {
		ledger_err(err, cap, "rocksdb write: injected failure (write %lu)", l->nb_writes);
		return -EIO;
	}
	l->dirty = true;
	rocksdb_write(l->db, l->wsync, wb, &errptr);
	return ledger_rocks_err(errptr, err, cap, "rocksdb write");
}

static void head_encode(const struct ledger_head *h, uint8_t *out, size_t *len)
{
	ledger_put64(out, h->size);
	ledger_put64(out + 8, h->nb_blocks);
	memcpy(out + 16, h->last_block, 32);
	memcpy(out + 48, h->root, 32);
	out[80] = (uint8_t)h->frontier.nb;
	memcpy(out + 81, h->frontier.h, (size_t)h->frontier.nb * 32);
	*len = 81 + (size_t)h->frontier.nb * 32;
}

static int head_decode(const uint8_t *in, size_t len, struct ledger_head *h)
{
	if (len < 81)
		return -EBADMSG;
	h->size = ledger_get64(in);
	h->nb_blocks = ledger_get64(in + 8);
	memcpy(h->last_block, in + 16, 32);
	memcpy(h->root, in + 48, 32);
	h->frontier.nb = in[80];
	h->frontier.size = h->size;
	if (h->frontier.nb != (unsigned)__builtin_popcountll(h->size) ||
	    len != 81 + (size_t)h->frontier.nb * 32)
		return -EBADMSG;
	memcpy(h->frontier.h, in + 81, (size_t)h->frontier.nb * 32);
	return 0;
}

void ledger_head_put(rocksdb_writebatch_t *wb, struct ledger *l, unsigned m,
		     const struct ledger_head *h)
{
	uint8_t buf[81 + 64 * 32];
	size_t len;

	head_encode(h, buf, &len);
	rocksdb_writebatch_put_cf(wb, l->cf[LEDGER_CF_HEADS], (const char *)l->cons.members[m].id,
				  LEDGER_ID_BYTES, (const char *)buf, len);
}

int ledger_head_get(struct ledger *l, unsigned member, struct ledger_head *h)
{
	char *val;
	size_t vlen;
	int rc;

	if (member >= l->cons.nb_members)
		return -ENOENT;
	if (l->head_loaded[member]) {
		*h = l->heads[member];
		return 0;
	}
	rc = ledger_db_get(l, LEDGER_CF_HEADS, l->cons.members[member].id, LEDGER_ID_BYTES, &val,
			   &vlen);
	if (rc == -ENOENT) {
		memset(h, 0, sizeof(*h));
		memcpy(h->last_block, l->cons.id, LEDGER_HASH_BYTES);
		ledger_empty_root(h->root);
	} else if (rc == 0) {
		rc = head_decode((const uint8_t *)val, vlen, h);
		free(val);
		if (rc != 0)
			return rc;
	} else {
		return rc;
	}
	l->heads[member] = *h;
	l->head_loaded[member] = true;
	return 0;
}

void ledger_key_member_u64(uint8_t *key, const uint8_t id[LEDGER_ID_BYTES], uint64_t v)
{
	memcpy(key, id, LEDGER_ID_BYTES);
	ledger_put64(key + LEDGER_ID_BYTES, v);
}

/* The value under (member's id, n) in column family cf: the caller frees
 * *val.  -ENOENT for an unknown member or an absent key. */
static int get_member_u64(struct ledger *l, unsigned cf, unsigned member, uint64_t n, char **val,
			  size_t *vlen)
{
	uint8_t key[16];

	if (member >= l->cons.nb_members)
		return -ENOENT;
	ledger_key_member_u64(key, l->cons.members[member].id, n);
	return ledger_db_get(l, cf, key, sizeof(key), val, vlen);
}

int ledger_entry_get(struct ledger *l, unsigned member, uint64_t pos, uint8_t *buf,
		     size_t *len, uint8_t leaf[LEDGER_HASH_BYTES])
{
	char *val;
	size_t vlen;
	int rc;

	rc = get_member_u64(l, LEDGER_CF_ENTRIES, member, pos, &val, &vlen);
	if (rc != 0)
		return rc;
	if (vlen < LEDGER_HASH_BYTES + 1 || vlen - LEDGER_HASH_BYTES > LEDGER_ENTRY_MAX) {
		free(val);
		return -EBADMSG;
	}
	*len = vlen - LEDGER_HASH_BYTES;
	memcpy(buf, val, *len);
	if (leaf != NULL)
		memcpy(leaf, val + *len, LEDGER_HASH_BYTES);
	free(val);
	return 0;
}

int ledger_block_get(struct ledger *l, unsigned member, uint64_t height, struct ledger_block *b)
{
	char *val;
	size_t vlen;
	int rc;

	rc = get_member_u64(l, LEDGER_CF_BLOCKS, member, height, &val, &vlen);
	if (rc != 0)
		return rc;
	rc = ledger_block_decode((const uint8_t *)val, vlen, b);
	free(val);
	return rc;
}

int ledger_checkpoint_get(struct ledger *l, unsigned member, uint64_t size,
			  struct ledger_checkpoint *c)
{
	char *val;
	size_t vlen;
	int rc;

	rc = get_member_u64(l, LEDGER_CF_CHECKPOINTS, member, size, &val, &vlen);
	if (rc != 0)
		return rc;
	rc = ledger_checkpoint_decode((const uint8_t *)val, vlen, c);
	free(val);
	return rc;
}

int ledger_checkpoint_latest(struct ledger *l, unsigned member, struct ledger_checkpoint *c)
{
	uint8_t key[16];
	rocksdb_iterator_t *it;
	int rc = -ENOENT;

	memset(c, 0, sizeof(*c));
	if (member >= l->cons.nb_members)
		return -ENOENT;
	ledger_key_member_u64(key, l->cons.members[member].id, UINT64_MAX);
	it = rocksdb_create_iterator_cf(l->db, l->ro, l->cf[LEDGER_CF_CHECKPOINTS]);
	rocksdb_iter_seek_for_prev(it, (const char *)key, sizeof(key));
	if (rocksdb_iter_valid(it)) {
		size_t klen, vlen;
		const char *k = rocksdb_iter_key(it, &klen);
		const char *v = rocksdb_iter_value(it, &vlen);

		if (klen == 16 && memcmp(k, key, LEDGER_ID_BYTES) == 0)
			rc = ledger_checkpoint_decode((const uint8_t *)v, vlen, c);
	}
	rocksdb_iter_destroy(it);
	return rc;
}

int ledger_state_get(struct ledger *l, const struct rg_fp *fp, unsigned list, unsigned member,
		     uint64_t *pos, uint64_t *expiry_s)
{
	uint8_t key[LEDGER_STATE_KEY];
	char *val;
	size_t vlen;
	int rc;

	if (member >= l->cons.nb_members)
		return -ENOENT;
	ledger_state_key(key, fp, list, l->cons.members[member].id);
	rc = ledger_db_get(l, LEDGER_CF_STATE, key, sizeof(key), &val, &vlen);
	if (rc != 0)
		return rc;
	if (vlen != LEDGER_STATE_VAL) {
		free(val);
		return -EBADMSG;
	}
	if (pos != NULL)
		*pos = ledger_get64((const uint8_t *)val);
	if (expiry_s != NULL)
		*expiry_s = ledger_get64((const uint8_t *)val + 8);
	free(val);
	return 0;
}

int ledger_state_seek(rocksdb_iterator_t *it, const uint8_t key[LEDGER_STATE_KEY], uint64_t *pos,
		      uint64_t *expiry_s, unsigned *kind)
{
	size_t klen, vlen;
	const uint8_t *k, *v;

	rocksdb_iter_seek(it, (const char *)key, LEDGER_STATE_KEY);
	if (!rocksdb_iter_valid(it))
		return -ENOENT;
	k = (const uint8_t *)rocksdb_iter_key(it, &klen);
	if (klen != LEDGER_STATE_KEY || memcmp(k, key, LEDGER_STATE_KEY) != 0)
		return -ENOENT;
	v = (const uint8_t *)rocksdb_iter_value(it, &vlen);
	if (vlen != LEDGER_STATE_VAL)
		return -EBADMSG;
	if (pos != NULL)
		*pos = ledger_get64(v);
	if (expiry_s != NULL)
		*expiry_s = ledger_get64(v + 8);
	if (kind != NULL)
		*kind = v[18];
	return 0;
}

void ledger_state_key(uint8_t *key, const struct rg_fp *fp, unsigned list,
		      const uint8_t id[LEDGER_ID_BYTES])
{
	memcpy(key, fp->b, RG_FP_BYTES);
	key[RG_FP_BYTES] = (uint8_t)list;
	memcpy(key + RG_FP_BYTES + 1, id, LEDGER_ID_BYTES);
}

static int load_membership(struct ledger *l, char *err, size_t cap)
{
	uint8_t key[9] = { 'm', 's', 'h', 'i', 'p' };

	for (uint32_t seq = 1;; seq++) {
		struct ledger_membership_change m;
		char *val;
		size_t vlen;
		int rc;

		ledger_put32(key + 5, seq);
		rc = ledger_db_get(l, LEDGER_CF_DEFAULT, key, sizeof(key), &val, &vlen);
		if (rc == -ENOENT)
			return 0;
		if (rc != 0)
			return rc;
		rc = ledger_membership_decode((const uint8_t *)val, vlen, &m);
		free(val);
		if (rc != 0 || m.seq != seq) {
			ledger_err(err, cap, "membership change %u: stored record is corrupt", seq);
			return -EBADMSG;
		}
		ledger_membership_apply(&l->cons, &m);
	}
}

static int any_head(struct ledger *l)
{
	rocksdb_iterator_t *it = rocksdb_create_iterator_cf(l->db, l->ro, l->cf[LEDGER_CF_HEADS]);
	int found;

	rocksdb_iter_seek_to_first(it);
	found = rocksdb_iter_valid(it);
	rocksdb_iter_destroy(it);
	return found;
}

static int check_consortium(struct ledger *l, char *err, size_t cap)
{
	static const char key[] = "consortium";
	char *val = NULL, *errptr = NULL;
	size_t vlen;
	int rc;

	rc = ledger_db_get(l, LEDGER_CF_DEFAULT, key, sizeof(key) - 1, &val, &vlen);
	if (rc == 0 && vlen == LEDGER_HASH_BYTES && memcmp(val, l->cons.id, vlen) == 0) {
		free(val);
		return 0;
	}
	free(val);
	if (rc == 0 && any_head(l)) {
		ledger_err(err, cap,
			   "%s/genesis.json is not the genesis this ledger was started with",
			   l->dir);
		return -EINVAL;
	}
	if (rc != 0 && rc != -ENOENT)
		return rc;
	rocksdb_put_cf(l->db, l->wsync, l->cf[LEDGER_CF_DEFAULT], key, sizeof(key) - 1,
		       (const char *)l->cons.id, LEDGER_HASH_BYTES, &errptr);
	return ledger_rocks_err(errptr, err, cap, "rocksdb put");
}

struct ledger *ledger_open(const char *dir, unsigned flags, char *err, size_t cap)
{
	const rocksdb_options_t *cf_opts[LEDGER_CF_MAX];
	char path[PATH_MAX], *errptr = NULL;
	struct ledger *l;
	int rc = -ENOMEM;

	if (sodium_init() < 0) {
		ledger_err(err, cap, "sodium_init failed");
		errno = EIO;
		return NULL;
	}
	l = calloc(1, sizeof(*l));
	if (l == NULL) {
		ledger_err(err, cap, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	l->self = -1;
	snprintf(l->dir, sizeof(l->dir), "%s", dir);
	if (getenv("RISKGATE_LEDGER_FAIL_WRITE") != NULL)
		l->fail_write_at = strtoul(getenv("RISKGATE_LEDGER_FAIL_WRITE"), NULL, 10);
	snprintf(path, sizeof(path), "%s/genesis.json", dir);
	rc = ledger_genesis_load(path, &l->cons, err, cap);
	if (rc != 0)
		goto out_free;
	if (flags & LEDGER_OPEN_WRITE) {
		l->ident = ledger_identity_load(dir, err, cap);
		if (l->ident == NULL) {
			rc = -errno;
			goto out_free;
		}
	}
	if (!(flags & LEDGER_OPEN_NO_FP)) {
		snprintf(path, sizeof(path), "%s/fp.key", dir);
		l->fpk = rg_fp_key_load(path, err, cap);
		if (l->fpk == NULL) {
			rc = -errno;
			goto out_ident;
		}
	}

	l->opts = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(l->opts, 1);
	rocksdb_options_set_create_missing_column_families(l->opts, 1);
	rocksdb_options_set_write_buffer_size(l->opts, 64u << 20);
	rocksdb_options_set_max_background_jobs(l->opts, 2);
	rocksdb_options_set_compression(l->opts, rocksdb_no_compression);
	rocksdb_options_set_allow_concurrent_memtable_write(l->opts, 0); /* vector memtables */
	rocksdb_options_set_wal_recovery_mode(l->opts, rocksdb_point_in_time_recovery);
	l->bopts = rocksdb_block_based_options_create();
	rocksdb_block_based_options_set_filter_policy(l->bopts,
						      rocksdb_filterpolicy_create_bloom(10));
	rocksdb_options_set_block_based_table_factory(l->opts, l->bopts);
	/* entries and state take one insert per entry: a vector memtable
	 * appends in O(1) and sorts once when it is flushed, where a skiplist
	 * spends half of an import searching.  Their point reads would sort the
	 * memtable every time, so the write paths read them only through an
	 * iterator (one sort) or after the flush ledger_open does. */
	l->vec_opts = rocksdb_options_create_copy(l->opts);
	rocksdb_options_set_memtable_vector_rep(l->vec_opts);
	for (unsigned i = 0; i < LEDGER_CF_MAX; i++)
		cf_opts[i] = i == LEDGER_CF_STATE || i == LEDGER_CF_ENTRIES ? l->vec_opts : l->opts;
	snprintf(path, sizeof(path), "%s/db", dir);
	l->db = rocksdb_open_column_families(l->opts, path, LEDGER_CF_MAX, cf_names, cf_opts,
					     l->cf, &errptr);
	rc = ledger_rocks_err(errptr, err, cap, path);
	if (rc != 0)
		goto out_opts;
	l->wsync = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(l->wsync, 1);
	l->ro = rocksdb_readoptions_create();
	rocksdb_readoptions_set_verify_checksums(l->ro, 1);

	/* What the WAL replay put back into the memtables goes to tables now,
	 * so point reads never sort a vector memtable (see above). */
	l->dirty = true;
	ledger_flush(l);
	rc = check_consortium(l, err, cap);
	if (rc == 0)
		rc = load_membership(l, err, cap);
	if (rc != 0)
		goto out_db;
	if (l->ident != NULL) {
		uint8_t id[LEDGER_ID_BYTES];

		ledger_member_id(l->ident->pk, id);
		l->self = ledger_member_find(&l->cons, id);
		if (l->self < 0) {
			char name[LEDGER_NAME_MAX + 8];

			ledger_mask_copy(l->ident->name, strlen(l->ident->name), name, sizeof(name));
			ledger_err(err, cap, "%s: member '%s' is not in the consortium's membership",
				   dir, name);
			rc = -EPERM;
			goto out_db;
		}
		rc = ledger_checkpoint_now(l, err, cap);
		if (rc != 0)
			goto out_db;
	} else {
		struct ledger_member me;

		if (ledger_pub_load(dir, &me, NULL, 0) == 0) {
			int idx = ledger_member_find(&l->cons, me.id);

			l->self = idx >= 0 ? idx : -1;
		}
	}
	return l;
out_db:
	ledger_close(l);
	errno = -rc;
	return NULL;
out_opts:
	rocksdb_options_destroy(l->vec_opts);
	rocksdb_options_destroy(l->opts);
	rocksdb_block_based_options_destroy(l->bopts);
	rg_fp_key_free(l->fpk);
out_ident:
	ledger_identity_free(l->ident);
out_free:
	free(l);
	errno = -rc;
	return NULL;
}

void ledger_cf_flush(struct ledger *l, unsigned cf_mask, bool wait)
{
	rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();

	rocksdb_flushoptions_set_wait(fo, wait);
	for (unsigned i = 0; i < LEDGER_CF_MAX; i++) {
		char *errptr = NULL;

		if (!(cf_mask >> i & 1))
			continue;
		rocksdb_flush_cf(l->db, fo, l->cf[i], &errptr);
		free(errptr); /* a failed flush loses nothing: the WAL has it */
	}
	rocksdb_flushoptions_destroy(fo);
}

void ledger_flush(struct ledger *l)
{
	if (!l->dirty || l->db == NULL)
		return;
	ledger_cf_flush(l, (1u << LEDGER_CF_MAX) - 1, true);
	l->dirty = false;
}

void ledger_close(struct ledger *l)
{
	if (l == NULL)
		return;
	/* Everything is durable in the WAL already; flushing the memtables
	 * spares the next open a replay of the whole WAL. */
	ledger_flush(l);
	for (unsigned i = 0; i < LEDGER_CF_MAX; i++)
		if (l->cf[i] != NULL)
			rocksdb_column_family_handle_destroy(l->cf[i]);
	if (l->db != NULL)
		rocksdb_close(l->db);
	if (l->wsync != NULL)
		rocksdb_writeoptions_destroy(l->wsync);
	if (l->ro != NULL)
		rocksdb_readoptions_destroy(l->ro);
	rocksdb_options_destroy(l->vec_opts);
	rocksdb_options_destroy(l->opts);
	rocksdb_block_based_options_destroy(l->bopts);
	rg_fp_key_free(l->fpk);
	ledger_identity_free(l->ident);
	free(l);
}

/* ---- appending blocks ---- */

struct node_sink {
	rocksdb_writebatch_t *wb;
	struct ledger *l;
	const uint8_t *id;
};

void ledger_node_key(uint8_t key[17], const uint8_t id[LEDGER_ID_BYTES], unsigned level,
		     uint64_t index)
{
	memcpy(key, id, LEDGER_ID_BYTES);
	key[8] = (uint8_t)level;
	ledger_put64(key + 9, index);
}

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

/* State of (fp, list) of member m as seen just before entry i of the
 * block: earlier entries of the block win over the database, read through
 * *sit (created on first use; one sort of the vector memtable per block).
 * Returns 0 with *pos and *kind of the holding ADD, or -ENOENT. */
static int state_before(struct ledger *l, unsigned m, const uint8_t *const *entries,
			unsigned i, uint64_t first_pos, const struct ledger_entry *e,
			rocksdb_iterator_t **sit, uint64_t *pos, unsigned *kind)
{
	uint8_t key[LEDGER_STATE_KEY];

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
	if (*sit == NULL)
		*sit = rocksdb_create_iterator_cf(l->db, l->ro, l->cf[LEDGER_CF_STATE]);
	ledger_state_key(key, &e->fp, e->list, l->cons.members[m].id);
	return ledger_state_seek(*sit, key, pos, NULL, kind);
}

/* The rules every entry of member m's log obeys (docs/ledger.md, "Rights").
 * NULL if e at pos may be appended; otherwise why not (into buf). */
static const char *entry_rules(struct ledger *l, unsigned m, const uint8_t *const *entries,
			       const uint16_t *lens, unsigned i, uint64_t first_pos,
			       const struct ledger_entry *e, struct ledger_consortium *cons,
			       rocksdb_iterator_t **sit, char *buf, size_t cap)
{
	uint64_t pos = first_pos + i, held;
	unsigned kind;

	switch (e->op) {
	case LEDGER_OP_ADD:
		if (cons->lists[e->list].name[0] == '\0')
			return "ADD to a list bit the consortium has not defined";
		if (e->expiry_s != 0 && e->expiry_s * 1000 <= e->time_ms)
			return "ADD that expires before it was made";
		return NULL;
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
		if (state_before(l, m, entries, i, first_pos, e, sit, &held, &kind) != 0 ||
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
	(void)lens;
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

/* Check and write one block of member m.  local: the block is ours and is
 * completed and signed here; otherwise b is checked against what the
 * entries give. */
static int block_commit(struct ledger *l, unsigned m, struct ledger_block *b,
			const uint8_t *const *entries, const uint16_t *lens, bool local, char *err,
			size_t cap)
{
	struct ledger_member *mem = &l->cons.members[m];
	struct ledger_consortium *cons = &l->cons, *work = NULL;
	struct ledger_frontier bf = { 0 };
	struct ledger_head h;
	struct ledger_entry *e;
	struct node_sink sink;
	rocksdb_writebatch_t *wb;
	uint8_t leaf[LEDGER_HASH_BYTES], key[LEDGER_STATE_KEY > 17 ? LEDGER_STATE_KEY : 17];
	uint8_t val[LEDGER_ENTRY_MAX + LEDGER_HASH_BYTES], hdr[LEDGER_BLOCK_BYTES];
	char why_buf[160];
	uint32_t n = b->nb_entries;
	uint32_t nb_mship = 0, nb_sops = 0;
	struct state_op *sops = NULL;
	rocksdb_iterator_t *sit = NULL;
	int rc;

	rc = ledger_head_get(l, m, &h);
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
	wb = rocksdb_writebatch_create();
	if (e == NULL || sops == NULL || wb == NULL) {
		rc = -ENOMEM;
		ledger_err(err, cap, "out of memory");
		goto out_release;
	}
	sink.wb = wb;
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
		if (e->op == LEDGER_OP_MEMBERSHIP && work == NULL) {
			work = malloc(sizeof(*work));
			if (work == NULL) {
				rc = -ENOMEM;
				goto out_release;
			}
			*work = *cons;
		}
		why = entry_rules(l, m, entries, lens, i, b->first_pos, e, work ? work : cons, &sit,
				  why_buf, sizeof(why_buf));
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
		rocksdb_writebatch_put_cf(wb, l->cf[LEDGER_CF_ENTRIES], (const char *)key, 16,
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

			ledger_put32(mk + 5, work->membership_seq);
			rocksdb_writebatch_put_cf(wb, l->cf[LEDGER_CF_DEFAULT], (const char *)mk,
						  sizeof(mk), (const char *)e->payload,
						  e->payload_len);
			nb_mship++;
		}
	}
	/* State records in key order: the memtable's skiplist then inserts
	 * each next to the one before instead of searching from its top. */
	qsort(sops, nb_sops, sizeof(*sops), state_op_cmp);
	for (uint32_t i = 0; i < nb_sops; i++) {
		if (sops[i].del)
			rocksdb_writebatch_delete_cf(wb, l->cf[LEDGER_CF_STATE], (const char *)sops[i].key,
						     LEDGER_STATE_KEY);
		else
			rocksdb_writebatch_put_cf(wb, l->cf[LEDGER_CF_STATE], (const char *)sops[i].key,
						  LEDGER_STATE_KEY, (const char *)sops[i].val,
						  LEDGER_STATE_VAL);
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
	ledger_block_encode(b, hdr);
	ledger_key_member_u64(key, mem->id, b->height);
	rocksdb_writebatch_put_cf(wb, l->cf[LEDGER_CF_BLOCKS], (const char *)key, 16,
				  (const char *)hdr, sizeof(hdr));
	h.size += n;
	h.nb_blocks++;
	ledger_sha256(hdr, sizeof(hdr), h.last_block);
	ledger_head_put(wb, l, m, &h);
	rc = ledger_db_write(l, wb, err, cap);
	if (rc != 0)
		goto out_release;
	l->heads[m] = h;
	l->head_loaded[m] = true;
	if (work != NULL)
		*cons = *work;
	(void)nb_mship;
out_release:
	if (wb != NULL)
		rocksdb_writebatch_destroy(wb);
	if (sit != NULL)
		rocksdb_iter_destroy(sit);
	free(work);
	free(sops);
	free(e);
	return rc;
}

int ledger_checkpoint_now(struct ledger *l, char *err, size_t cap)
{
	struct ledger_checkpoint c, last;
	struct ledger_head h;
	uint8_t key[16], buf[LEDGER_CHECKPOINT_BYTES];
	char *errptr = NULL;
	int rc;

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
	memcpy(c.member, l->cons.members[l->self].id, LEDGER_ID_BYTES);
	memcpy(c.consortium, l->cons.id, LEDGER_HASH_BYTES);
	c.size = h.size;
	memcpy(c.root, h.root, LEDGER_HASH_BYTES);
	c.time_ms = ledger_now_ms();
	ledger_checkpoint_sign(&c, l->ident->sk);
	ledger_checkpoint_encode(&c, buf);
	ledger_key_member_u64(key, c.member, c.size);
	rocksdb_put_cf(l->db, l->wsync, l->cf[LEDGER_CF_CHECKPOINTS], (const char *)key,
		       sizeof(key), (const char *)buf, sizeof(buf), &errptr);
	return ledger_rocks_err(errptr, err, cap, "rocksdb put checkpoint");
}

int ledger_append(struct ledger *l, const uint8_t *const *entries, const uint16_t *lens,
		  unsigned n, struct ledger_block *blk, char *err, size_t cap)
{
	struct ledger_block b;
	int rc;

	if (l->ident == NULL || l->self < 0) {
		ledger_err(err, cap, "ledger opened without the member key: cannot append");
		return -EPERM;
	}
	memset(&b, 0, sizeof(b));
	b.nb_entries = n;
	rc = block_commit(l, (unsigned)l->self, &b, entries, lens, true, err, cap);
	if (rc != 0)
		return rc;
	/* The block is durable: only now is a checkpoint covering it signed. */
	rc = ledger_checkpoint_now(l, err, cap);
	if (rc == 0 && blk != NULL)
		*blk = b;
	return rc;
}

static void keep_fork(struct ledger *l, const uint8_t id[LEDGER_ID_BYTES], uint64_t at,
		      const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	uint8_t key[4 + 16], val[2 * 256];
	char *errptr = NULL;

	memcpy(key, "fork", 4);
	ledger_key_member_u64(key + 4, id, at);
	memcpy(val, a, alen);
	memcpy(val + alen, b, blen);
	rocksdb_put_cf(l->db, l->wsync, l->cf[LEDGER_CF_PEERS], (const char *)key, sizeof(key),
		       (const char *)val, alen + blen, &errptr);
	free(errptr);
}

int ledger_apply_block(struct ledger *l, const struct ledger_block *b,
		       const uint8_t *const *entries, const uint16_t *lens, char *err, size_t cap)
{
	struct ledger_block copy = *b, held;
	struct ledger_head h;
	int m, rc;

	m = ledger_member_find(&l->cons, b->member);
	if (m < 0) {
		char hex[2 * LEDGER_ID_BYTES + 1];

		ledger_hex(b->member, LEDGER_ID_BYTES, hex);
		ledger_err(err, cap, "block from %s: not a member of the consortium", hex);
		return -EPERM;
	}
	rc = ledger_head_get(l, (unsigned)m, &h);
	if (rc != 0)
		return rc;
	if (b->height < h.nb_blocks) {
		uint8_t x[LEDGER_BLOCK_BYTES], y[LEDGER_BLOCK_BYTES];

		rc = ledger_block_get(l, (unsigned)m, b->height, &held);
		if (rc != 0)
			return rc;
		ledger_block_encode(&held, x);
		ledger_block_encode(b, y);
		if (memcmp(x, y, sizeof(x)) == 0)
			return 1;
		if (!ledger_block_sig_ok(b, l->cons.members[m].pk)) {
			ledger_err(err, cap, "member %s block %llu: bad signature",
				   l->cons.members[m].name, (unsigned long long)b->height);
			return -EPERM;
		}
		keep_fork(l, b->member, b->height, x, sizeof(x), y, sizeof(y));
		ledger_err(err, cap,
			   "FORK: member %s signed two different blocks at height %llu (evidence "
			   "kept)",
			   l->cons.members[m].name, (unsigned long long)b->height);
		return -EEXIST;
	}
	if (b->height > h.nb_blocks) {
		ledger_err(err, cap, "member %s block %llu: blocks from %llu are missing",
			   l->cons.members[m].name, (unsigned long long)b->height,
			   (unsigned long long)h.nb_blocks);
		return -EAGAIN;
	}
	return block_commit(l, (unsigned)m, &copy, entries, lens, false, err, cap);
}

int ledger_store_checkpoint(struct ledger *l, const struct ledger_checkpoint *c, char *err,
			    size_t cap)
{
	struct ledger_checkpoint held;
	struct ledger_head h;
	uint8_t key[16], buf[LEDGER_CHECKPOINT_BYTES];
	char *errptr = NULL;
	int m, rc;

	m = ledger_member_find(&l->cons, c->member);
	if (m < 0) {
		ledger_err(err, cap, "checkpoint from a non-member");
		return -EPERM;
	}
	if (memcmp(c->consortium, l->cons.id, LEDGER_HASH_BYTES) != 0 ||
	    !ledger_checkpoint_sig_ok(c, l->cons.members[m].pk)) {
		ledger_err(err, cap, "member %s checkpoint at size %llu: bad signature",
			   l->cons.members[m].name, (unsigned long long)c->size);
		return -EPERM;
	}
	rc = ledger_head_get(l, (unsigned)m, &h);
	if (rc != 0)
		return rc;
	if (c->size > h.size || c->size == 0)
		return -EAGAIN;
	rc = ledger_checkpoint_get(l, (unsigned)m, c->size, &held);
	if (rc == 0) {
		uint8_t x[LEDGER_CHECKPOINT_BYTES];

		ledger_checkpoint_encode(&held, x);
		ledger_checkpoint_encode(c, buf);
		if (memcmp(x, buf, sizeof(x)) == 0)
			return 1;
		if (memcmp(held.root, c->root, LEDGER_HASH_BYTES) == 0)
			return 1; /* same head, signed twice: no fork */
		keep_fork(l, c->member, c->size, x, sizeof(x), buf, sizeof(buf));
		ledger_err(err, cap,
			   "FORK: member %s signed two different heads for size %llu (evidence "
			   "kept)",
			   l->cons.members[m].name, (unsigned long long)c->size);
		return -EEXIST;
	}
	/* The root must be the one of the log we hold at that size: the signed
	 * tree root of the block ending there (found by bisection). */
	{
		uint64_t lo = 0, hi = h.nb_blocks;
		struct ledger_block blk;
		bool found = false;

		while (lo < hi) {
			uint64_t mid = lo + (hi - lo) / 2;

			rc = ledger_block_get(l, (unsigned)m, mid, &blk);
			if (rc != 0)
				return rc;
			if (blk.first_pos + blk.nb_entries < c->size)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < h.nb_blocks) {
			rc = ledger_block_get(l, (unsigned)m, lo, &blk);
			if (rc != 0)
				return rc;
			found = blk.first_pos + blk.nb_entries == c->size;
		}
		if (!found || memcmp(blk.tree_root, c->root, LEDGER_HASH_BYTES) != 0) {
			ledger_checkpoint_encode(c, buf);
			keep_fork(l, c->member, c->size, buf, sizeof(buf),
				  found ? blk.tree_root : c->root, LEDGER_HASH_BYTES);
			ledger_err(err, cap,
				   "FORK: member %s signed a head for size %llu that is not its log "
				   "(evidence kept)",
				   l->cons.members[m].name, (unsigned long long)c->size);
			return -EEXIST;
		}
	}
	ledger_checkpoint_encode(c, buf);
	ledger_key_member_u64(key, c->member, c->size);
	rocksdb_put_cf(l->db, l->wsync, l->cf[LEDGER_CF_CHECKPOINTS], (const char *)key,
		       sizeof(key), (const char *)buf, sizeof(buf), &errptr);
	return ledger_rocks_err(errptr, err, cap, "rocksdb put checkpoint");
}

int ledger_node_get(void *arg, unsigned level, uint64_t index, uint8_t out[LEDGER_HASH_BYTES])
{
	struct ledger_node_ctx *ctx = arg;
	struct ledger *l = ctx->l;
	uint8_t l_h[LEDGER_HASH_BYTES], r_h[LEDGER_HASH_BYTES];
	int rc;

	if (level == 0) {
		uint8_t buf[LEDGER_ENTRY_MAX];
		size_t len;

		rc = ledger_entry_get(l, ctx->member, index, buf, &len, NULL);
		if (rc == 0)
			ledger_leaf_hash(buf, len, out);
		return rc;
	}
	if (level % LEDGER_NODE_STRIDE == 0) {
		uint8_t key[17];
		char *val;
		size_t vlen;

		ledger_node_key(key, l->cons.members[ctx->member].id, level, index);
		rc = ledger_db_get(l, LEDGER_CF_NODES, key, sizeof(key), &val, &vlen);
		if (rc != 0)
			return rc;
		if (vlen != LEDGER_HASH_BYTES) {
			free(val);
			return -EBADMSG;
		}
		memcpy(out, val, LEDGER_HASH_BYTES);
		free(val);
		return 0;
	}
	rc = ledger_node_get(arg, level - 1, 2 * index, l_h);
	if (rc == 0)
		rc = ledger_node_get(arg, level - 1, 2 * index + 1, r_h);
	if (rc == 0)
		ledger_node_hash(l_h, r_h, out);
	return rc;
}
