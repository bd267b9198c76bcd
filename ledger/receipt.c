/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Hit receipts (docs/ledger.md, "Hit receipts"): sealing (salt, commitment,
 * canonical HIT entry), the batch append to the own log, the receipts
 * store that keeps the openings, the auditor's check of one receipt, the
 * count of HIT entries over the logs held, and a read view of the state
 * for resolving a hit event's fingerprint prefix to the ADDs behind it.
 *
 * The receipts store is a RocksDB database of its own in DIR/receipts,
 * default column family only:
 *   'R' | seq u64                     -> record (below)
 *   'B' | first seq u64               -> first pos u64 | n u32 (a shared batch not yet marked)
 *   'H' | first pos u64               -> first seq u64 | n u32 (a marked shared batch)
 *   'C' | member id | list u8 | mode  -> recorded receipts u64
 * A shared batch is n receipts with consecutive numbers at consecutive
 * positions of the own log (one block), so it is indexed as one range.
 * Record: version u8 = 1 | mode u8 | hit_pos u64 | salt 16 | entry_len u16 |
 * entry | detail_len u16 | detail.
 *
 * It is not a column family of the ledger's database: the ledger holds
 * what is signed and shared (verify checks every byte of it, bundles carry
 * it), the store holds what never leaves the appliance (salts and details)
 * and what a member may prune or keep for its own audit.
 *
 * Order of a shared batch: openings written as pending (synced), then the
 * block (ledger_append: synced batch, then checkpoint), then the mark (to
 * the WAL, not synced: the log holds what it records).  A crash between
 * the first two leaves openings for entries the log lacks (appended again
 * by ledger_receipts_recover); between the last two, openings of entries
 * the log holds (marked by it).  So no HIT entry of the log ever lacks its
 * opening.
 *
 * Threads: like struct ledger, one thread at a time.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/sha.h>
#include <rocksdb/c.h>
#include <sodium.h>

#include "common/ident.h"
#include "ledger/internal.h"
#include "ledger/ledger.h"
#include "ledger/store.h"

#define RCPT_REC_FIXED 30 /* record without entry and detail */
#define RCPT_REC_MAX (RCPT_REC_FIXED + LEDGER_RECEIPT_ENTRY_BYTES + LEDGER_DETAIL_MAX)
#define RCPT_COUNT_KEY (1 + LEDGER_ID_BYTES + 2)
/* The ledger's entries memtable is a vector: every point read copies and
 * sorts it (40 ms at 65536 entries on the test VM, 350 ms at 400000).
 * Shared receipts keep it growing, so after this many the memtable is
 * handed to RocksDB's background flush (an immutable vector memtable is
 * sorted once; waiting for the flush itself would cost 40-130 ms there). */
#define RCPT_FLUSH_AT 16384

struct ledger_receipts {
	rocksdb_t *db;		/* NULL: read only and no store yet (empty) */
	int lock_fd;		/* read only: holds LOCK (-1 otherwise) */
	bool dirty;		/* written since open: flush on close */
	char path[PATH_MAX + 16]; /* DIR/receipts */
	rocksdb_options_t *opts;
	rocksdb_writeoptions_t *wsync;
	rocksdb_writeoptions_t *wmark;	/* marks: WAL, not synced (the log has them) */
	rocksdb_readoptions_t *ro;
	struct ledger_receipts_stats st;
	uint64_t nb_unflushed;	/* receipts appended since the entries memtable was switched */
	/* recorded receipts by member index, list bit and mode - 1 */
	uint64_t (*counts)[LEDGER_LISTS_MAX][2];
};

struct ledger_state_view {
	struct ledger *l;
	rocksdb_iterator_t *it;
};

/* Entry reads go through one iterator per call: a point read would copy
 * and sort the entries memtable each time (see RCPT_FLUSH_AT). */
static rocksdb_iterator_t *entries_iter(struct ledger *l)
{
	return rocksdb_create_iterator_cf(l->db, l->ro, l->cf[LEDGER_CF_ENTRIES]);
}

/* Entry at pos of member's log through it: 0 or -ENOENT. */
static int entry_seek(struct ledger *l, rocksdb_iterator_t *it, unsigned member, uint64_t pos,
		      uint8_t *buf, size_t *len)
{
	uint8_t key[16];
	size_t klen, vlen;
	const char *k, *v;

	if (member >= ledger_consortium(l)->nb_members)
		return -ENOENT;
	ledger_key_member_u64(key, ledger_consortium(l)->members[member].id, pos);
	rocksdb_iter_seek(it, (const char *)key, sizeof(key));
	if (!rocksdb_iter_valid(it))
		return -ENOENT;
	k = rocksdb_iter_key(it, &klen);
	if (klen != sizeof(key) || memcmp(k, key, sizeof(key)) != 0)
		return -ENOENT;
	v = rocksdb_iter_value(it, &vlen);
	if (vlen < LEDGER_HASH_BYTES + 1 || vlen - LEDGER_HASH_BYTES > LEDGER_ENTRY_MAX)
		return -EBADMSG;
	*len = vlen - LEDGER_HASH_BYTES;
	memcpy(buf, v, *len);
	return 0;
}

void ledger_receipt_commitment(const uint8_t salt[LEDGER_SALT_BYTES], const void *detail,
			       size_t len, uint8_t out[LEDGER_HASH_BYTES])
{
	SHA256_CTX c;

	SHA256_Init(&c);
	SHA256_Update(&c, salt, LEDGER_SALT_BYTES);
	SHA256_Update(&c, detail, len);
	SHA256_Final(out, &c);
}

int ledger_receipt_ref(struct ledger *l, unsigned member, uint64_t pos,
		       struct ledger_receipt *r, char *err, size_t cap)
{
	const struct ledger_consortium *cs = ledger_consortium(l);
	uint8_t buf[LEDGER_ENTRY_MAX];
	struct ledger_entry *e;
	const char *why;
	size_t len;
	int rc = -ENOENT;

	if (member >= cs->nb_members) {
		ledger_err(err, cap, "member index %u is not a member", member);
		return -ENOENT;
	}
	e = malloc(sizeof(*e));
	if (e == NULL) {
		ledger_err(err, cap, "out of memory");
		return -ENOMEM;
	}
	if (ledger_entry_get(l, member, pos, buf, &len, NULL) == 0 &&
	    ledger_entry_decode(buf, len, e, &why) == 0 && e->op == LEDGER_OP_ADD) {
		r->member = member;
		r->pos = pos;
		r->list = e->list;
		r->kind = e->kind;
		r->fp = e->fp;
		r->key_epoch = e->key_epoch;
		rc = 0;
	} else {
		ledger_err(err, cap, "no ADD held at %s position %llu", cs->members[member].name,
			   (unsigned long long)pos);
	}
	free(e);
	return rc;
}

int ledger_receipts_seal(struct ledger *l, struct ledger_receipt *r, unsigned n, char *err,
			 size_t cap)
{
	const struct ledger_consortium *cs = ledger_consortium(l);
	struct ledger_entry *e = calloc(1, sizeof(*e));
	uint64_t now_ms = ledger_now_ms();
	int rc = 0;

	if (e == NULL) {
		ledger_err(err, cap, "out of memory");
		return -ENOMEM;
	}
	for (unsigned i = 0; i < n && rc == 0; i++) {
		if (r[i].member >= cs->nb_members || r[i].detail_len > LEDGER_DETAIL_MAX ||
		    (r[i].detail == NULL && r[i].detail_len != 0)) {
			ledger_err(err, cap, "receipt %u: %s", i,
				   r[i].member >= cs->nb_members ? "refers to a non-member"
								 : "detail longer than 4096 bytes");
			rc = -EINVAL;
			break;
		}
		randombytes_buf(r[i].salt, LEDGER_SALT_BYTES);
		memset(e, 0, offsetof(struct ledger_entry, payload));
		e->op = LEDGER_OP_HIT;
		e->list = r[i].list;
		e->kind = r[i].kind;
		e->fp = r[i].fp;
		e->key_epoch = r[i].key_epoch;
		e->time_ms = r[i].time_ms != 0 ? r[i].time_ms : now_ms;
		memcpy(e->ref_member, cs->members[r[i].member].id, LEDGER_ID_BYTES);
		e->ref_pos = r[i].pos;
		e->payload_len = LEDGER_HASH_BYTES;
		ledger_receipt_commitment(r[i].salt, r[i].detail ? r[i].detail : "", r[i].detail_len,
					  e->payload);
		if (ledger_entry_encode(e, r[i].entry) != LEDGER_RECEIPT_ENTRY_BYTES) {
			ledger_err(err, cap, "receipt %u: list, kind or reference out of range", i);
			rc = -EINVAL;
		}
	}
	free(e);
	return rc;
}

/* ---- the store ---- */

static void key_u64(uint8_t key[9], char tag, uint64_t v)
{
	key[0] = (uint8_t)tag;
	ledger_put64(key + 1, v);
}

static void count_key(uint8_t key[RCPT_COUNT_KEY], const uint8_t id[LEDGER_ID_BYTES],
		      unsigned list, unsigned mode)
{
	key[0] = 'C';
	memcpy(key + 1, id, LEDGER_ID_BYTES);
	key[1 + LEDGER_ID_BYTES] = (uint8_t)list;
	key[2 + LEDGER_ID_BYTES] = (uint8_t)mode;
}

static size_t record_encode(const struct ledger_receipt *r, unsigned mode, uint64_t hit_pos,
			    uint8_t *out)
{
	uint8_t *p = out;

	p[0] = 1;
	p[1] = (uint8_t)mode;
	ledger_put64(p + 2, hit_pos);
	memcpy(p + 10, r->salt, LEDGER_SALT_BYTES);
	ledger_put16(p + 26, LEDGER_RECEIPT_ENTRY_BYTES);
	p += 28;
	memcpy(p, r->entry, LEDGER_RECEIPT_ENTRY_BYTES);
	p += LEDGER_RECEIPT_ENTRY_BYTES;
	ledger_put16(p, (uint16_t)r->detail_len);
	p += 2;
	if (r->detail_len > 0)
		memcpy(p, r->detail, r->detail_len);
	p += r->detail_len;
	return (size_t)(p - out);
}

int ledger_receipt_record_decode(const uint8_t *in, size_t len, struct ledger_receipt_opening *o)
{
	size_t elen, dlen;

	if (len < RCPT_REC_FIXED || in[0] != 1 ||
	    (in[1] != LEDGER_RECEIPT_SHARED && in[1] != LEDGER_RECEIPT_LOCAL))
		return -EBADMSG;
	o->mode = in[1];
	o->hit_pos = ledger_get64(in + 2);
	memcpy(o->salt, in + 10, LEDGER_SALT_BYTES);
	elen = ledger_get16(in + 26);
	if (elen != LEDGER_RECEIPT_ENTRY_BYTES || 28 + elen + 2 > len)
		return -EBADMSG;
	memcpy(o->entry, in + 28, elen);
	o->entry_len = elen;
	dlen = ledger_get16(in + 28 + elen);
	if (dlen > LEDGER_DETAIL_MAX || 30 + elen + dlen != len)
		return -EBADMSG;
	memcpy(o->detail, in + 30 + elen, dlen);
	o->detail[dlen] = '\0';
	o->detail_len = dlen;
	return 0;
}

int ledger_receipt_range_decode(const uint8_t *in, size_t len, uint64_t *val, unsigned *n)
{
	if (len != 12 || ledger_get32(in + 8) == 0 || ledger_get32(in + 8) > LEDGER_BLOCK_MAX)
		return -EBADMSG;
	*val = ledger_get64(in);
	*n = ledger_get32(in + 8);
	return 0;
}

static int store_write(struct ledger_receipts *s, rocksdb_writebatch_t *wb, bool sync, char *err,
		       size_t cap)
{
	char *errptr = NULL;

	if (s->db == NULL) {
		ledger_err(err, cap, "receipts store opened read only");
		return -EROFS;
	}
	s->dirty = true;
	rocksdb_write(s->db, sync ? s->wsync : s->wmark, wb, &errptr);
	return ledger_rocks_err(errptr, err, cap, "receipts store");
}

/* The member index and list of a sealed receipt's entry (its ref). */
static int receipt_ref_of(const struct ledger_consortium *cs, const uint8_t *entry,
			  unsigned *member, unsigned *list)
{
	int m = ledger_member_find(cs, entry + 42);

	if (m < 0)
		return -ENOENT;
	*member = (unsigned)m;
	*list = entry[2] < LEDGER_LISTS_MAX ? entry[2] : 0;
	return 0;
}

/* Count one more recorded receipt of entry's (member, list) in mode into
 * pending, which starts from the running totals (0: untouched). */
static void count_add(struct ledger_receipts *s, const struct ledger_consortium *cs,
		      uint64_t (*pending)[LEDGER_LISTS_MAX][2], const uint8_t *entry, unsigned mode)
{
	unsigned m, list;

	if (receipt_ref_of(cs, entry, &m, &list) != 0)
		return;
	if (pending[m][list][mode - 1] == 0)
		pending[m][list][mode - 1] = s->counts[m][list][mode - 1];
	pending[m][list][mode - 1]++;
}

/* One put per count that changed: a batch holding thousands of puts of
 * one key would cost a memtable insert each. */
static void count_put(const struct ledger_consortium *cs, rocksdb_writebatch_t *wb,
		      uint64_t (*pending)[LEDGER_LISTS_MAX][2])
{
	uint8_t key[RCPT_COUNT_KEY], val[8];

	for (unsigned m = 0; m < cs->nb_members && m < LEDGER_MEMBERS_MAX; m++)
		for (unsigned l = 0; l < LEDGER_LISTS_MAX; l++)
			for (unsigned k = 0; k < 2; k++) {
				if (pending[m][l][k] == 0)
					continue;
				count_key(key, cs->members[m].id, l, k + 1);
				ledger_put64(val, pending[m][l][k]);
				rocksdb_writebatch_put(wb, (const char *)key, sizeof(key),
						       (const char *)val, sizeof(val));
			}
}

/* Totals into the in-memory counts once their batch is written. */
static void count_commit(struct ledger_receipts *s, uint64_t (*pending)[LEDGER_LISTS_MAX][2])
{
	for (unsigned m = 0; m < LEDGER_MEMBERS_MAX; m++)
		for (unsigned l = 0; l < LEDGER_LISTS_MAX; l++)
			for (unsigned k = 0; k < 2; k++)
				if (pending[m][l][k] != 0)
					s->counts[m][l][k] = pending[m][l][k];
}

static int store_load(struct ledger_receipts *s, const struct ledger_consortium *cs)
{
	rocksdb_iterator_t *it;
	uint8_t key[9];
	int rc = 0;

	if (s->db == NULL)
		return 0;
	it = rocksdb_create_iterator(s->db, s->ro);
	/* the next number follows the last record */
	key_u64(key, 'R', UINT64_MAX);
	rocksdb_iter_seek_for_prev(it, (const char *)key, sizeof(key));
	if (rocksdb_iter_valid(it)) {
		size_t klen;
		const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &klen);

		if (klen == 9 && k[0] == 'R')
			s->st.nb_receipts = ledger_get64(k + 1) + 1;
	}
	key[0] = 'B';
	rocksdb_iter_seek(it, (const char *)key, 1);
	for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		size_t klen, vlen;
		const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &klen);
		const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vlen);
		uint64_t pos;
		unsigned n;

		if (klen < 1 || k[0] != 'B')
			break;
		if (ledger_receipt_range_decode(v, vlen, &pos, &n) == 0)
			s->st.nb_pending += n; /* a corrupt one: recovery reports it */
	}
	key[0] = 'C';
	rocksdb_iter_seek(it, (const char *)key, 1);
	for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		size_t klen, vlen;
		const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &klen);
		const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vlen);
		int m;

		if (klen < 1 || k[0] != 'C')
			break;
		if (klen != RCPT_COUNT_KEY || vlen != 8 || k[1 + LEDGER_ID_BYTES] >= LEDGER_LISTS_MAX ||
		    (k[2 + LEDGER_ID_BYTES] != LEDGER_RECEIPT_SHARED &&
		     k[2 + LEDGER_ID_BYTES] != LEDGER_RECEIPT_LOCAL)) {
			rc = -EBADMSG;
			break;
		}
		m = ledger_member_find(cs, k + 1);
		if (m < 0)
			continue;
		s->counts[m][k[1 + LEDGER_ID_BYTES]][k[2 + LEDGER_ID_BYTES] - 1] = ledger_get64(v);
		if (k[2 + LEDGER_ID_BYTES] == LEDGER_RECEIPT_SHARED)
			s->st.nb_shared += ledger_get64(v);
		else
			s->st.nb_local += ledger_get64(v);
	}
	if (ledger_iter_status(it) != 0)
		rc = -EIO;
	rocksdb_iter_destroy(it);
	return rc;
}

struct ledger_receipts *ledger_receipts_open(struct ledger *l, char *err, size_t cap)
{
	struct ledger_receipts *s = calloc(1, sizeof(*s));
	char path[PATH_MAX + 16], *errptr = NULL;
	int rc;

	if (s == NULL || (s->counts = calloc(LEDGER_MEMBERS_MAX, sizeof(*s->counts))) == NULL) {
		free(s);
		ledger_err(err, cap, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	s->lock_fd = -1;
	snprintf(path, sizeof(path), "%s/receipts", l->dir);
	snprintf(s->path, sizeof(s->path), "%s", path);
	s->opts = rocksdb_options_create();
	ledger_rocks_options(s->opts);
	rocksdb_options_set_write_buffer_size(s->opts, 4u << 20);
	if (l->read_only) {
		struct stat st;

		/* a store never written is an empty one: nothing to open */
		if (stat(path, &st) != 0 && errno == ENOENT)
			goto out_ready;
		rc = ledger_rocks_lock(path, err, cap);
		if (rc < 0) {
			rc = -rc;
			goto out_opts;
		}
		s->lock_fd = rc;
		s->db = rocksdb_open_for_read_only(s->opts, path, 0, &errptr);
	} else {
		/* openings are the member's own: nobody else reads the directory */
		if (mkdir(path, 0700) != 0 && errno != EEXIST) {
			rc = errno;
			ledger_err(err, cap, "%s: %s", path, strerror(rc));
			goto out_opts;
		}
		s->db = rocksdb_open(s->opts, path, &errptr);
	}
	rc = -ledger_rocks_err(errptr, err, cap, path);
	if (rc != 0)
		goto out_opts;
out_ready:
	s->wsync = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(s->wsync, 1);
	s->wmark = rocksdb_writeoptions_create();
	s->ro = rocksdb_readoptions_create();
	rocksdb_readoptions_set_verify_checksums(s->ro, 1);
	rc = -store_load(s, ledger_consortium(l));
	if (rc != 0) {
		ledger_err(err, cap, "%s: the store is corrupt or unreadable", path);
		ledger_receipts_close(s);
		errno = rc;
		return NULL;
	}
	return s;

out_opts:
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	rocksdb_options_destroy(s->opts);
	free(s->counts);
	free(s);
	errno = rc;
	return NULL;
}

void ledger_receipts_close(struct ledger_receipts *s)
{
	if (s == NULL)
		return;
	if (s->db != NULL && s->lock_fd < 0) {
		/* as ledger_close: no WAL left behind, small table files merged */
		if (s->dirty) {
			rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
			char *errptr = NULL;

			rocksdb_flushoptions_set_wait(fo, 1);
			rocksdb_flush(s->db, fo, &errptr);
			free(errptr); /* a failed flush loses nothing: the WAL has it */
			rocksdb_flushoptions_destroy(fo);
		}
		ledger_rocks_drop_wals(s->db, NULL, s->path);
		ledger_rocks_tidy(s->db, NULL, (const char *const[]){ "default" }, 1);
	}
	if (s->db != NULL)
		rocksdb_close(s->db);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	if (s->wsync != NULL)
		rocksdb_writeoptions_destroy(s->wsync);
	if (s->wmark != NULL)
		rocksdb_writeoptions_destroy(s->wmark);
	if (s->ro != NULL)
		rocksdb_readoptions_destroy(s->ro);
	rocksdb_options_destroy(s->opts);
	free(s->counts);
	free(s);
}

void ledger_receipts_stats(const struct ledger_receipts *s, struct ledger_receipts_stats *st)
{
	*st = s->st;
}

uint64_t ledger_receipts_count(const struct ledger_receipts *s, unsigned member, unsigned list,
			       enum ledger_receipt_mode mode)
{
	if (member >= LEDGER_MEMBERS_MAX || list >= LEDGER_LISTS_MAX ||
	    (mode != LEDGER_RECEIPT_SHARED && mode != LEDGER_RECEIPT_LOCAL))
		return 0;
	return s->counts[member][list][mode - 1];
}

/* A shared batch's range: first receipt number, first log position, n. */
static void range_put(rocksdb_writebatch_t *wb, char tag, uint64_t key_v, uint64_t val_v,
		      unsigned n)
{
	uint8_t key[9], val[12];

	key_u64(key, tag, key_v);
	ledger_put64(val, val_v);
	ledger_put32(val + 8, n);
	rocksdb_writebatch_put(wb, (const char *)key, sizeof(key), (const char *)val, sizeof(val));
}

/* The range of tag holding v ('B': receipt numbers, 'H': log positions):
 * 0 with its first key value, the value and n; -ENOENT; -EIO. */
static int range_find(struct ledger_receipts *s, char tag, uint64_t v, uint64_t *first,
		      uint64_t *val_v, unsigned *n)
{
	rocksdb_iterator_t *it;
	uint8_t key[9];
	int rc = -ENOENT;

	if (s->db == NULL)
		return -ENOENT;
	it = rocksdb_create_iterator(s->db, s->ro);
	key_u64(key, tag, v);
	rocksdb_iter_seek_for_prev(it, (const char *)key, sizeof(key));
	if (rocksdb_iter_valid(it)) {
		size_t klen, vlen;
		const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &klen);
		const uint8_t *val = (const uint8_t *)rocksdb_iter_value(it, &vlen);

		if (klen == 9 && k[0] == (uint8_t)tag) {
			*first = ledger_get64(k + 1);
			if (ledger_receipt_range_decode(val, vlen, val_v, n) != 0)
				rc = -EBADMSG;
			else if (v - *first < *n)
				rc = 0;
		}
	} else if (ledger_iter_status(it) != 0) {
		rc = -EIO;
	}
	rocksdb_iter_destroy(it);
	return rc;
}

/* Records of r[0..n) into wb under their numbers, in ascending key order
 * (the memtable then inserts each next to the one before). */
static int put_records(rocksdb_writebatch_t *wb, const struct ledger_receipt *r, unsigned n,
		       unsigned mode)
{
	uint8_t *rec = malloc(RCPT_REC_MAX), key[9];

	if (rec == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		size_t len = record_encode(&r[i], mode, r[i].hit_pos, rec);

		key_u64(key, 'R', r[i].seq);
		rocksdb_writebatch_put(wb, (const char *)key, sizeof(key), (const char *)rec, len);
	}
	free(rec);
	return 0;
}

/* Mark the shared batch of n receipts numbered from seq, at positions from
 * pos of the own log, recorded: its position range and counts in, its
 * pending range out, in one write. */
static int mark_recorded(struct ledger_receipts *s, const struct ledger_consortium *cs,
			 uint64_t seq, uint64_t pos, const uint8_t *const *entries, unsigned n,
			 char *err, size_t cap)
{
	uint64_t (*pending)[LEDGER_LISTS_MAX][2] = calloc(LEDGER_MEMBERS_MAX, sizeof(*pending));
	rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
	uint8_t key[9];
	int rc;

	if (pending == NULL || wb == NULL) {
		ledger_err(err, cap, "out of memory");
		rc = -ENOMEM;
		goto out_release;
	}
	key_u64(key, 'B', seq);
	rocksdb_writebatch_delete(wb, (const char *)key, sizeof(key));
	range_put(wb, 'H', pos, seq, n);
	for (unsigned i = 0; i < n; i++)
		count_add(s, cs, pending, entries[i], LEDGER_RECEIPT_SHARED);
	count_put(cs, wb, pending);
	rc = store_write(s, wb, false, err, cap);
	if (rc == 0) {
		count_commit(s, pending);
		s->st.nb_pending -= s->st.nb_pending >= n ? n : s->st.nb_pending;
		s->st.nb_shared += n;
	} else {
		s->st.nb_mark_errors++;
	}
out_release:
	if (wb != NULL)
		rocksdb_writebatch_destroy(wb);
	free(pending);
	return rc;
}

/* Append sealed receipts r[0..n) as one block, openings first (with s).
 * again: a pending batch appended anew (its numbers are kept). */
static int append_sealed(struct ledger *l, struct ledger_receipts *s, struct ledger_receipt *r,
			 unsigned n, bool again, struct ledger_block *blk, char *err, size_t cap)
{
	const uint8_t **entries = calloc(n, sizeof(*entries));
	uint16_t *lens = calloc(n, sizeof(*lens));
	rocksdb_writebatch_t *wb = NULL;
	struct ledger_head h;
	struct ledger_block b;
	uint64_t seq0;
	int rc;

	if (entries == NULL || lens == NULL) {
		ledger_err(err, cap, "out of memory");
		rc = -ENOMEM;
		goto out_free;
	}
	rc = ledger_head_get(l, (unsigned)l->self, &h);
	if (rc != 0) {
		ledger_err(err, cap, "own head: %s", strerror(-rc));
		goto out_free;
	}
	seq0 = s != NULL && !again ? s->st.nb_receipts : r[0].seq;
	for (unsigned i = 0; i < n; i++) {
		entries[i] = r[i].entry;
		lens[i] = LEDGER_RECEIPT_ENTRY_BYTES;
		r[i].hit_pos = h.size + i;
		r[i].seq = seq0 + i;
	}
	if (s != NULL) {
		/* the openings before the entries: no HIT in the log without one */
		wb = rocksdb_writebatch_create();
		rc = wb == NULL ? -ENOMEM : put_records(wb, r, n, LEDGER_RECEIPT_SHARED);
		if (rc == 0) {
			range_put(wb, 'B', seq0, h.size, n);
			rc = store_write(s, wb, true, err, cap);
		}
		if (rc != 0)
			goto out_free;
		if (!again) {
			s->st.nb_receipts += n;
			s->st.nb_pending += n;
		}
	}
	rc = ledger_append(l, entries, lens, n, &b, err, cap);
	if (rc != 0) {
		struct ledger_head after;

		/* a failed checkpoint comes after a durable block: the receipts are
		 * in the log (the next append or open signs the checkpoint) */
		if (ledger_head_get(l, (unsigned)l->self, &after) == 0 &&
		    after.size == h.size + n &&
		    ledger_block_get(l, (unsigned)l->self, after.nb_blocks - 1, &b) == 0 &&
		    b.first_pos == h.size) {
			rc = 0;
			goto out_mark;
		}
		/* a pending batch appended again stays pending: its openings
		 * are the only copy, and the next recovery tries again */
		if (s != NULL && !again) {
			uint8_t key[9];

			/* nothing of the block is in the log: its openings go too
			 * (if this write fails, recovery appends them later) */
			rocksdb_writebatch_clear(wb);
			key_u64(key, 'B', seq0);
			rocksdb_writebatch_delete(wb, (const char *)key, sizeof(key));
			for (unsigned i = 0; i < n; i++) {
				key_u64(key, 'R', seq0 + i);
				rocksdb_writebatch_delete(wb, (const char *)key, sizeof(key));
			}
			if (store_write(s, wb, true, NULL, 0) == 0)
				s->st.nb_pending -= s->st.nb_pending >= n ? n : s->st.nb_pending;
		}
		goto out_free;
	}
out_mark:
	if (blk != NULL)
		*blk = b;
	/* a failed mark is counted and finished by the next recovery: the
	 * block is in the log either way */
	if (s != NULL) {
		mark_recorded(s, ledger_consortium(l), seq0, h.size, entries, n, NULL, 0);
		s->nb_unflushed += n;
		if (s->nb_unflushed >= RCPT_FLUSH_AT) {
			ledger_cf_flush(l, 1u << LEDGER_CF_ENTRIES, false);
			s->nb_unflushed = 0;
		}
	}
out_free:
	if (wb != NULL)
		rocksdb_writebatch_destroy(wb);
	free(entries);
	free(lens);
	return rc;
}

int ledger_receipts_append(struct ledger *l, struct ledger_receipts *s, struct ledger_receipt *r,
			   unsigned n, struct ledger_block *blk, char *err, size_t cap)
{
	int rc;

	if (n == 0 || n > LEDGER_BLOCK_MAX) {
		ledger_err(err, cap, "a batch holds 1..%u receipts, not %u", LEDGER_BLOCK_MAX, n);
		return -EINVAL;
	}
	if (l->ident == NULL || l->self < 0) {
		ledger_err(err, cap, "ledger opened without the member key: cannot append");
		return -EPERM;
	}
	rc = ledger_receipts_seal(l, r, n, err, cap);
	if (rc == 0)
		rc = append_sealed(l, s, r, n, false, blk, err, cap);
	return rc;
}

int ledger_receipts_keep(struct ledger *l, struct ledger_receipts *s, struct ledger_receipt *r,
			 unsigned n, char *err, size_t cap)
{
	const struct ledger_consortium *cs = ledger_consortium(l);
	uint64_t (*pending)[LEDGER_LISTS_MAX][2] = NULL;
	rocksdb_writebatch_t *wb = NULL;
	int rc;

	if (n == 0 || n > LEDGER_BLOCK_MAX) {
		ledger_err(err, cap, "a batch holds 1..%u receipts, not %u", LEDGER_BLOCK_MAX, n);
		return -EINVAL;
	}
	rc = ledger_receipts_seal(l, r, n, err, cap);
	if (rc != 0)
		return rc;
	pending = calloc(LEDGER_MEMBERS_MAX, sizeof(*pending));
	wb = rocksdb_writebatch_create();
	if (pending == NULL || wb == NULL) {
		ledger_err(err, cap, "out of memory");
		rc = -ENOMEM;
		goto out_release;
	}
	for (unsigned i = 0; i < n; i++) {
		r[i].seq = s->st.nb_receipts + i;
		r[i].hit_pos = 0;
		count_add(s, cs, pending, r[i].entry, LEDGER_RECEIPT_LOCAL);
	}
	count_put(cs, wb, pending);
	rc = put_records(wb, r, n, LEDGER_RECEIPT_LOCAL);
	if (rc == 0)
		rc = store_write(s, wb, true, err, cap);
	if (rc == 0) {
		count_commit(s, pending);
		s->st.nb_receipts += n;
		s->st.nb_local += n;
	}
out_release:
	if (wb != NULL)
		rocksdb_writebatch_destroy(wb);
	free(pending);
	return rc;
}

/* Finish one pending batch: n receipts from seq, meant for positions from
 * pos of the own log. */
static int recover_batch(struct ledger *l, struct ledger_receipts *s, uint64_t seq, uint64_t pos,
			 unsigned n, uint64_t *nb_marked, uint64_t *nb_appended, char *err,
			 size_t cap)
{
	struct ledger_receipt_opening *o = malloc(sizeof(*o));
	struct ledger_receipt *r = calloc(n, sizeof(*r));
	const uint8_t **entries = calloc(n, sizeof(*entries));
	rocksdb_iterator_t *it = entries_iter(l);
	bool in_log = true;
	int rc = 0;

	if (o == NULL || r == NULL || entries == NULL) {
		ledger_err(err, cap, "out of memory");
		rc = -ENOMEM;
		goto out_free;
	}
	for (unsigned i = 0; i < n; i++) {
		uint8_t buf[LEDGER_ENTRY_MAX];
		size_t len;
		char *d;

		rc = ledger_receipt_get(s, seq + i, o);
		if (rc != 0) {
			ledger_err(err, cap, "pending receipt %llu: record unreadable (%s)",
				   (unsigned long long)(seq + i), strerror(-rc));
			goto out_free;
		}
		if (entry_seek(l, it, (unsigned)l->self, pos + i, buf, &len) != 0 ||
		    len != o->entry_len || memcmp(buf, o->entry, len) != 0)
			in_log = false;
		d = malloc(o->detail_len + 1);
		if (d == NULL) {
			rc = -ENOMEM;
			ledger_err(err, cap, "out of memory");
			goto out_free;
		}
		memcpy(d, o->detail, o->detail_len + 1);
		r[i].seq = seq + i;
		memcpy(r[i].salt, o->salt, LEDGER_SALT_BYTES);
		memcpy(r[i].entry, o->entry, LEDGER_RECEIPT_ENTRY_BYTES);
		r[i].detail = d;
		r[i].detail_len = o->detail_len;
		entries[i] = r[i].entry;
	}
	if (in_log) {
		rc = mark_recorded(s, ledger_consortium(l), seq, pos, entries, n, err, cap);
		if (rc == 0)
			*nb_marked += n;
	} else {
		/* a block is whole or absent: none of it is in the log, so the
		 * same entries and openings go in now, at new positions */
		rc = append_sealed(l, s, r, n, true, NULL, err, cap);
		if (rc == 0)
			*nb_appended += n;
	}
out_free:
	for (unsigned i = 0; r != NULL && i < n; i++)
		free((char *)r[i].detail);
	rocksdb_iter_destroy(it);
	free(entries);
	free(r);
	free(o);
	return rc;
}

int ledger_receipts_recover(struct ledger *l, struct ledger_receipts *s, uint64_t *nb_marked,
			    uint64_t *nb_appended, char *err, size_t cap)
{
	struct { uint64_t seq, pos; unsigned n; } *b = NULL;
	uint64_t marked = 0, appended = 0;
	size_t nb = 0, cap_b = 0;
	rocksdb_iterator_t *it;
	uint8_t key[9] = { 'B' };
	int rc = 0;

	if (s->db == NULL) /* read only, no store: nothing pending */
		goto out_counts;
	/* the pending batches: those a crash cut, so few */
	it = rocksdb_create_iterator(s->db, s->ro);
	for (rocksdb_iter_seek(it, (const char *)key, 1); rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		size_t klen, vlen;
		const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &klen);
		const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vlen);
		uint64_t pos;
		unsigned n;

		if (klen != 9 || k[0] != 'B')
			break;
		if (ledger_receipt_range_decode(v, vlen, &pos, &n) != 0) {
			rc = -EBADMSG;
			ledger_err(err, cap, "pending batch %llu: corrupt record",
				   (unsigned long long)ledger_get64(k + 1));
			break;
		}
		if (nb == cap_b) {
			size_t c = cap_b ? 2 * cap_b : 16;
			void *p = realloc(b, c * sizeof(*b));

			if (p == NULL) {
				rc = -ENOMEM;
				ledger_err(err, cap, "out of memory");
				break;
			}
			b = p;
			cap_b = c;
		}
		b[nb].seq = ledger_get64(k + 1);
		b[nb].pos = pos;
		b[nb].n = n;
		nb++;
	}
	/* a read error is not the end of the pending batches */
	if (rc == 0 && ledger_iter_status(it) != 0) {
		rc = -EIO;
		ledger_err(err, cap, "receipts store: pending batches unreadable");
	}
	rocksdb_iter_destroy(it);
	if (rc == 0 && nb > 0 && (l->ident == NULL || l->self < 0)) {
		ledger_err(err, cap, "%zu pending receipt batches need the ledger open for writing",
			   nb);
		rc = -EPERM;
	}
	for (size_t i = 0; rc == 0 && i < nb; i++)
		rc = recover_batch(l, s, b[i].seq, b[i].pos, b[i].n, &marked, &appended, err, cap);
	free(b);
out_counts:
	if (nb_marked != NULL)
		*nb_marked = marked;
	if (nb_appended != NULL)
		*nb_appended = appended;
	return rc;
}

int ledger_receipt_get(struct ledger_receipts *s, uint64_t seq, struct ledger_receipt_opening *o)
{
	uint64_t first, pos;
	uint8_t key[9];
	unsigned n;
	char *val;
	size_t vlen;
	int rc;

	if (s->db == NULL)
		return -ENOENT;
	key_u64(key, 'R', seq);
	rc = ledger_rocks_get(s->db, s->ro, NULL, key, sizeof(key), &val, &vlen);
	if (rc != 0)
		return rc;
	rc = ledger_receipt_record_decode((const uint8_t *)val, vlen, o);
	free(val);
	if (rc != 0)
		return rc;
	o->seq = seq;
	o->pending = false;
	if (o->mode == LEDGER_RECEIPT_SHARED) {
		rc = range_find(s, 'B', seq, &first, &pos, &n);
		if (rc != 0 && rc != -ENOENT)
			return rc;
		o->pending = rc == 0;
	}
	return 0;
}

int ledger_receipt_get_pos(struct ledger_receipts *s, uint64_t hit_pos,
			   struct ledger_receipt_opening *o)
{
	uint64_t first, seq;
	unsigned n;
	int rc;

	rc = range_find(s, 'H', hit_pos, &first, &seq, &n);
	if (rc != 0)
		return rc;
	rc = ledger_receipt_get(s, seq + (hit_pos - first), o);
	if (rc == 0 && (o->mode != LEDGER_RECEIPT_SHARED || o->hit_pos != hit_pos))
		rc = -EBADMSG;
	return rc;
}

int ledger_receipt_check(struct ledger *l, const struct ledger_receipt_opening *o,
			 struct ledger_entry *out, char *why, size_t cap)
{
	const struct ledger_consortium *cs = ledger_consortium(l);
	struct ledger_entry *e = malloc(sizeof(*e)), *a = malloc(sizeof(*a));
	uint8_t c[LEDGER_HASH_BYTES], buf[LEDGER_ENTRY_MAX];
	rocksdb_iterator_t *it = entries_iter(l);
	const char *w = NULL;
	size_t len;
	int ref, rc = -EBADMSG;

	if (e == NULL || a == NULL) {
		ledger_err(why, cap, "out of memory");
		rc = -ENOMEM;
		goto out_free;
	}
	if (ledger_entry_decode(o->entry, o->entry_len, e, &w) != 0 || e->op != LEDGER_OP_HIT) {
		ledger_err(why, cap, "receipt %llu: the kept entry is not a canonical HIT entry%s%s",
			   (unsigned long long)o->seq, w ? ": " : "", w ? w : "");
		goto out_free;
	}
	if (out != NULL)
		*out = *e;
	ledger_receipt_commitment(o->salt, o->detail, o->detail_len, c);
	if (sodium_memcmp(c, e->payload, LEDGER_HASH_BYTES) != 0) {
		ledger_err(why, cap, "receipt %llu: SHA-256(salt || detail) is not the commitment "
			   "of its entry", (unsigned long long)o->seq);
		goto out_free;
	}
	if (o->mode == LEDGER_RECEIPT_SHARED) {
		if (o->pending) {
			ledger_err(why, cap, "receipt %llu: pending, not yet in the log",
				   (unsigned long long)o->seq);
			rc = -EAGAIN;
			goto out_free;
		}
		if (ledger_self(l) < 0 ||
		    entry_seek(l, it, (unsigned)ledger_self(l), o->hit_pos, buf, &len) != 0) {
			ledger_err(why, cap, "receipt %llu: position %llu is not in the own log",
				   (unsigned long long)o->seq, (unsigned long long)o->hit_pos);
			goto out_free;
		}
		if (len != o->entry_len || memcmp(buf, o->entry, len) != 0) {
			ledger_err(why, cap, "receipt %llu: the own log holds a different entry at "
				   "position %llu", (unsigned long long)o->seq,
				   (unsigned long long)o->hit_pos);
			goto out_free;
		}
	}
	ref = ledger_member_find(cs, e->ref_member);
	if (ref < 0) {
		ledger_err(why, cap, "receipt %llu: refers to a non-member", (unsigned long long)o->seq);
		goto out_free;
	}
	if (entry_seek(l, it, (unsigned)ref, e->ref_pos, buf, &len) != 0) {
		ledger_err(why, cap, "receipt %llu: position %llu of %s is not held here",
			   (unsigned long long)o->seq, (unsigned long long)e->ref_pos,
			   cs->members[ref].name);
		rc = -ENOENT;
		goto out_free;
	}
	if (ledger_entry_decode(buf, len, a, &w) != 0 || a->op != LEDGER_OP_ADD ||
	    a->list != e->list || a->kind != e->kind ||
	    memcmp(a->fp.b, e->fp.b, RG_FP_BYTES) != 0) {
		ledger_err(why, cap, "receipt %llu: position %llu of %s is not an ADD of the same "
			   "list, kind and fingerprint", (unsigned long long)o->seq,
			   (unsigned long long)e->ref_pos, cs->members[ref].name);
		goto out_free;
	}
	rc = 0;
out_free:
	rocksdb_iter_destroy(it);
	free(e);
	free(a);
	return rc;
}

static json_t *hex_json(const uint8_t *b, size_t n)
{
	char h[2 * LEDGER_RECEIPT_ENTRY_BYTES + 1];

	ledger_hex(b, n, h);
	return json_string(h);
}

struct json_t *ledger_receipt_json(struct ledger *l, const struct ledger_receipt_opening *o)
{
	const struct ledger_consortium *cs = ledger_consortium(l);
	struct ledger_entry *e = calloc(1, sizeof(*e));
	char why[LEDGER_ERR_MAX] = "", t[40] = "";
	int rc, ref, self = ledger_self(l);
	json_t *j = json_object(), *detail;

	if (e == NULL || j == NULL) {
		free(e);
		json_decref(j);
		return NULL;
	}
	rc = ledger_receipt_check(l, o, e, why, sizeof(why));
	ref = ledger_member_find(cs, e->ref_member);
	ledger_time_str(e->time_ms, t, sizeof(t));
	json_object_set_new(j, "receipt", json_integer((json_int_t)o->seq));
	json_object_set_new(j, "mode",
			    json_string(o->mode == LEDGER_RECEIPT_SHARED ? "shared" : "local"));
	json_object_set_new(j, "pending", json_boolean(o->pending));
	json_object_set_new(j, "pos", o->mode == LEDGER_RECEIPT_SHARED
					      ? json_integer((json_int_t)o->hit_pos)
					      : json_null());
	json_object_set_new(j, "member", json_string(self >= 0 ? cs->members[self].name : "?"));
	json_object_set_new(j, "ref_member",
			    ref >= 0 ? json_string(cs->members[ref].name) : json_null());
	json_object_set_new(j, "ref_pos", json_integer((json_int_t)e->ref_pos));
	json_object_set_new(j, "list", e->list < LEDGER_LISTS_MAX && cs->lists[e->list].name[0]
					       ? json_string(cs->lists[e->list].name)
					       : json_null());
	json_object_set_new(j, "kind", rg_kind_name(e->kind) ? json_string(rg_kind_name(e->kind))
							     : json_null());
	json_object_set_new(j, "fp", hex_json(e->fp.b, RG_FP_BYTES));
	json_object_set_new(j, "time", json_string(t));
	json_object_set_new(j, "salt", hex_json(o->salt, LEDGER_SALT_BYTES));
	/* a detail given by hand need not be UTF-8: then it is shown as hex */
	detail = json_stringn(o->detail, o->detail_len);
	if (detail != NULL) {
		json_object_set_new(j, "detail", detail);
	} else {
		char *h = malloc(2 * o->detail_len + 1);

		if (h != NULL) {
			ledger_hex((const uint8_t *)o->detail, o->detail_len, h);
			json_object_set_new(j, "detail_hex", json_string(h));
			free(h);
		}
	}
	json_object_set_new(j, "commitment", hex_json(e->payload, LEDGER_HASH_BYTES));
	json_object_set_new(j, "entry", hex_json(o->entry, o->entry_len));
	json_object_set_new(j, "verified", json_boolean(rc == 0));
	if (rc != 0)
		json_object_set_new(j, "problem", json_string(why));
	free(e);
	return j;
}

/* ---- HIT entries over the logs held ---- */

int ledger_hits_iterate(struct ledger *l, ledger_hit_fn cb, void *arg)
{
	const struct ledger_consortium *cs = ledger_consortium(l);
	rocksdb_iterator_t *it = entries_iter(l), *ir = entries_iter(l);
	struct ledger_entry *e = malloc(sizeof(*e)), *a = malloc(sizeof(*a));
	int rc = 0;

	if (e == NULL || a == NULL) {
		rc = -ENOMEM;
		goto out_free;
	}
	for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		size_t klen, vlen, len;
		const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &klen);
		const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vlen);
		uint8_t buf[LEDGER_ENTRY_MAX];
		const char *why;
		bool ok = false;
		int m, ref;

		/* only HIT entries are decoded: the op is byte 1 */
		if (klen != 16 || vlen < LEDGER_HASH_BYTES + 2 || v[1] != LEDGER_OP_HIT)
			continue;
		m = ledger_member_find(cs, k);
		if (m < 0 || ledger_entry_decode(v, vlen - LEDGER_HASH_BYTES, e, &why) != 0)
			continue;
		ref = ledger_member_find(cs, e->ref_member);
		if (ref >= 0 && entry_seek(l, ir, (unsigned)ref, e->ref_pos, buf, &len) == 0 &&
		    ledger_entry_decode(buf, len, a, &why) == 0)
			ok = a->op == LEDGER_OP_ADD && a->list == e->list && a->kind == e->kind &&
			     memcmp(a->fp.b, e->fp.b, RG_FP_BYTES) == 0;
		rc = cb(arg, (unsigned)m, ledger_get64(k + LEDGER_ID_BYTES), e, ref, ok);
		if (rc != 0)
			break;
	}
	if (rc == 0)
		rc = ledger_iter_status(it);
out_free:
	rocksdb_iter_destroy(it);
	rocksdb_iter_destroy(ir);
	free(e);
	free(a);
	return rc;
}

/* ---- state by fingerprint prefix ---- */

struct ledger_state_view *ledger_state_view_open(struct ledger *l)
{
	struct ledger_state_view *v = calloc(1, sizeof(*v));

	if (v == NULL)
		return NULL;
	v->l = l;
	v->it = rocksdb_create_iterator_cf(l->db, l->ro, l->cf[LEDGER_CF_STATE]);
	if (v->it == NULL) {
		free(v);
		errno = EIO;
		return NULL;
	}
	return v;
}

void ledger_state_view_close(struct ledger_state_view *v)
{
	if (v == NULL)
		return;
	rocksdb_iter_destroy(v->it);
	free(v);
}

int ledger_state_view_find(struct ledger_state_view *v, const uint8_t *prefix, size_t len,
			   ledger_state_fn cb, void *arg)
{
	const struct ledger_consortium *cs = ledger_consortium(v->l);
	int rc = 0;

	if (len == 0 || len > RG_FP_BYTES)
		return -EINVAL;
	for (rocksdb_iter_seek(v->it, (const char *)prefix, len); rocksdb_iter_valid(v->it);
	     rocksdb_iter_next(v->it)) {
		size_t klen, vlen;
		const uint8_t *k = (const uint8_t *)rocksdb_iter_key(v->it, &klen);
		const uint8_t *val = (const uint8_t *)rocksdb_iter_value(v->it, &vlen);
		struct rg_fp fp;
		int m;

		if (klen != LEDGER_STATE_KEY || memcmp(k, prefix, len) != 0)
			break;
		if (vlen != LEDGER_STATE_VAL)
			return -EIO;
		m = ledger_member_find(cs, k + RG_FP_BYTES + 1);
		if (m < 0)
			continue;
		memcpy(fp.b, k, RG_FP_BYTES);
		rc = cb(arg, &fp, k[RG_FP_BYTES], (unsigned)m, ledger_get64(val),
			ledger_get64(val + 8), val[16], val[18]);
		if (rc != 0)
			return rc;
	}
	return ledger_iter_status(v->it);
}
