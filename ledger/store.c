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
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

void ledger_rocks_options(rocksdb_options_t *o)
{
	rocksdb_options_set_create_if_missing(o, 1);
	rocksdb_options_set_compression(o, rocksdb_no_compression);
	rocksdb_options_set_wal_recovery_mode(o, rocksdb_point_in_time_recovery);
	/* Every open starts a new info log (LOG, the old one renamed
	 * LOG.old.<time>) and dumps the options into it; RocksDB keeps 1000 of
	 * them.  Here: LOG and at most one old one, each at most 1 MB. */
	rocksdb_options_set_keep_log_file_num(o, 2);
	rocksdb_options_set_max_log_file_size(o, 1u << 20);
}

int ledger_rocks_lock(const char *dir, char *err, size_t cap)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	char path[PATH_MAX + 8];
	int fd, rc;

	snprintf(path, sizeof(path), "%s/LOCK", dir);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		if (rc == -ENOENT)
			ledger_err(err, cap, "%s: no database here yet", dir);
		else
			ledger_err(err, cap, "%s: %s", path, strerror(errno));
		return rc;
	}
	if (fcntl(fd, F_SETLK, &fl) != 0) {
		rc = -errno;
		ledger_err(err, cap, "%s: the database is open in another process (%s)", path,
			   strerror(errno));
		close(fd);
		return rc;
	}
	return fd;
}

/* Files of dir whose names end in ".log": RocksDB's WAL files. */
static unsigned wal_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	unsigned n = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		n += len > 4 && strcmp(de->d_name + len - 4, ".log") == 0;
	}
	closedir(d);
	return n;
}

void ledger_rocks_drop_wals(rocksdb_t *db, rocksdb_column_family_handle_t *cf, const char *dir)
{
	static const char mark[] = "wal-mark";
	rocksdb_writeoptions_t *wo;
	rocksdb_flushoptions_t *fo;
	char *errptr = NULL;

	if (wal_files(dir) <= 1)
		return;
	wo = rocksdb_writeoptions_create();
	fo = rocksdb_flushoptions_create();
	rocksdb_flushoptions_set_wait(fo, 1);
	if (cf != NULL)
		rocksdb_put_cf(db, wo, cf, mark, sizeof(mark) - 1, "", 0, &errptr);
	else
		rocksdb_put(db, wo, mark, sizeof(mark) - 1, "", 0, &errptr);
	if (errptr == NULL && cf != NULL)
		rocksdb_flush_cf(db, fo, cf, &errptr);
	else if (errptr == NULL)
		rocksdb_flush(db, fo, &errptr);
	free(errptr); /* the WAL files stay until the next flush: nothing is lost */
	rocksdb_flushoptions_destroy(fo);
	rocksdb_writeoptions_destroy(wo);
}

/* A table file this small came from the flush of a short session (one
 * add, one pull): level compaction moves such files down whole when their
 * keys do not overlap (appended positions, scattered fingerprints), so
 * they never merge and every run would leave some behind.  More than
 * TIDY_MAX_SMALL of them in one column family are compacted into one. */
#define TIDY_SMALL_BYTES (4u << 20)
#define TIDY_MAX_SMALL 4u

static int key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	return c != 0 ? c : (alen > blen) - (alen < blen);
}

void ledger_rocks_tidy(rocksdb_t *db, rocksdb_column_family_handle_t *const *cf,
		       const char *const *names, unsigned n)
{
	const rocksdb_livefiles_t *lf = rocksdb_livefiles(db);
	rocksdb_compactoptions_t *co;

	if (lf == NULL)
		return;
	co = rocksdb_compactoptions_create();
	rocksdb_compactoptions_set_bottommost_level_compaction(co, 2 /* kForce: merge them */);
	for (unsigned c = 0; c < n; c++) {
		const char *lo = NULL, *hi = NULL;
		size_t lo_len = 0, hi_len = 0;
		unsigned nb = 0;

		for (int i = 0; i < rocksdb_livefiles_count(lf); i++) {
			const char *k;
			size_t klen;

			if (strcmp(rocksdb_livefiles_column_family_name(lf, i), names[c]) != 0 ||
			    rocksdb_livefiles_size(lf, i) >= TIDY_SMALL_BYTES)
				continue;
			k = rocksdb_livefiles_smallestkey(lf, i, &klen);
			if (lo == NULL || key_cmp(k, klen, lo, lo_len) < 0)
				lo = k, lo_len = klen;
			k = rocksdb_livefiles_largestkey(lf, i, &klen);
			if (hi == NULL || key_cmp(k, klen, hi, hi_len) > 0)
				hi = k, hi_len = klen;
			nb++;
		}
		if (nb <= TIDY_MAX_SMALL)
			continue;
		if (cf != NULL)
			rocksdb_compact_range_cf_opt(db, cf[c], co, lo, lo_len, hi, hi_len);
		else
			rocksdb_compact_range_opt(db, co, lo, lo_len, hi, hi_len);
	}
	rocksdb_compactoptions_destroy(co);
	rocksdb_livefiles_destroy(lf);
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

void ledger_head_empty(const struct ledger *l, struct ledger_head *h)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->last_block, l->cons.id, LEDGER_HASH_BYTES);
	ledger_empty_root(h->root);
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
		ledger_head_empty(l, h);
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
	rc = ledger_checkpoint_decode(val, vlen, c, NULL);
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
			rc = ledger_checkpoint_decode(v, vlen, c, NULL);
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
	if (l->read_only)
		return 0; /* a database nothing was written to yet */
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
	l->lock_fd = -1;
	l->read_only = flags & LEDGER_OPEN_READ_ONLY;
	snprintf(l->dir, sizeof(l->dir), "%s", dir);
	if (l->read_only && (flags & LEDGER_OPEN_WRITE)) {
		ledger_err(err, cap, "a ledger opened read only cannot be written");
		rc = -EINVAL;
		goto out_free;
	}
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
	ledger_rocks_options(l->opts);
	rocksdb_options_set_create_missing_column_families(l->opts, 1);
	rocksdb_options_set_write_buffer_size(l->opts, 64u << 20);
	rocksdb_options_set_max_background_jobs(l->opts, 2);
	rocksdb_options_set_allow_concurrent_memtable_write(l->opts, 0); /* vector memtables */
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
	if (l->read_only) {
		/* no WAL, no flush, no new MANIFEST or OPTIONS file: a reader
		 * leaves the directory as it found it */
		rc = ledger_rocks_lock(path, err, cap);
		if (rc < 0)
			goto out_opts;
		l->lock_fd = rc;
		l->db = rocksdb_open_for_read_only_column_families(
			l->opts, path, LEDGER_CF_MAX, cf_names, cf_opts, l->cf, 0, &errptr);
	} else {
		l->db = rocksdb_open_column_families(l->opts, path, LEDGER_CF_MAX, cf_names,
						     cf_opts, l->cf, &errptr);
	}
	rc = ledger_rocks_err(errptr, err, cap, path);
	if (rc != 0)
		goto out_opts;
	l->wsync = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(l->wsync, 1);
	l->ro = rocksdb_readoptions_create();
	rocksdb_readoptions_set_verify_checksums(l->ro, 1);

	/* What the WAL replay put back into the memtables goes to tables now,
	 * so point reads never sort a vector memtable (see above).  (A reader
	 * keeps it in memory: after a crash its reads are slower.) */
	l->dirty = !l->read_only;
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
		if (l->self < 0 && (flags & LEDGER_OPEN_JOIN) == 0) {
			char name[LEDGER_NAME_MAX + 8];

			ledger_mask_copy(l->ident->name, strlen(l->ident->name), name, sizeof(name));
			ledger_err(err, cap, "%s: member '%s' is not in the consortium's membership",
				   dir, name);
			rc = -EPERM;
			goto out_db;
		}
		rc = l->self >= 0 ? ledger_checkpoint_now(l, err, cap) : 0;
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
	if (l->lock_fd >= 0)
		close(l->lock_fd);
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
	 * spares the next open a replay of the whole WAL, and makes the WAL
	 * obsolete (deleted), so a run leaves no WAL behind. */
	ledger_flush(l);
	if (l->db != NULL && !l->read_only) {
		char path[PATH_MAX + 4];

		snprintf(path, sizeof(path), "%s/db", l->dir);
		ledger_rocks_drop_wals(l->db, l->cf[LEDGER_CF_DEFAULT], path);
		ledger_rocks_tidy(l->db, l->cf, cf_names, LEDGER_CF_MAX);
	}
	for (unsigned i = 0; i < LEDGER_CF_MAX; i++)
		if (l->cf[i] != NULL)
			rocksdb_column_family_handle_destroy(l->cf[i]);
	if (l->db != NULL)
		rocksdb_close(l->db);
	if (l->lock_fd >= 0)
		close(l->lock_fd); /* after the close: RocksDB reads nothing more */
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

void ledger_node_key(uint8_t key[17], const uint8_t id[LEDGER_ID_BYTES], unsigned level,
		     uint64_t index)
{
	memcpy(key, id, LEDGER_ID_BYTES);
	key[8] = (uint8_t)level;
	ledger_put64(key + 9, index);
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
