/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Inside of struct ledger, shared by the ledger's files (store.c owns it),
 * and the RocksDB calls every file makes the same way: RocksDB's errptr
 * is converted to -EIO here, once, for the ledger's database and the
 * receipts store alike.
 */
#ifndef LEDGER_STORE_H
#define LEDGER_STORE_H

#include <limits.h>
#include <stdbool.h>

#include <rocksdb/c.h>

#include "ledger/ledger.h"

enum ledger_cf {
	LEDGER_CF_DEFAULT = 0,
	LEDGER_CF_ENTRIES,
	LEDGER_CF_NODES,
	LEDGER_CF_BLOCKS,
	LEDGER_CF_CHECKPOINTS,
	LEDGER_CF_STATE,
	LEDGER_CF_HEADS,
	LEDGER_CF_PEERS,
	LEDGER_CF_MAX
};

#define LEDGER_STATE_KEY (RG_FP_BYTES + 1 + LEDGER_ID_BYTES) /* fp | list | member id */
#define LEDGER_STATE_VAL 19 /* pos u64 | expiry u64 | action u8 | severity u8 | kind u8 */
#define LEDGER_NODE_STRIDE 4 /* subtree hashes stored at levels 4, 8, 12, ... */

struct ledger {
	char dir[PATH_MAX];
	rocksdb_t *db;
	rocksdb_options_t *opts;
	rocksdb_options_t *vec_opts; /* vector memtable: entries, state */
	rocksdb_block_based_table_options_t *bopts;
	rocksdb_column_family_handle_t *cf[LEDGER_CF_MAX];
	rocksdb_writeoptions_t *wsync;
	rocksdb_readoptions_t *ro;
	struct ledger_consortium cons;
	struct ledger_identity *ident; /* NULL unless opened for writing */
	struct rg_fp_key *fpk;	       /* NULL with LEDGER_OPEN_NO_FP */
	int self;		       /* own member index, -1 if unknown */
	bool dirty;		       /* written since open: flush memtables on close */
	bool read_only;		       /* LEDGER_OPEN_READ_ONLY */
	int lock_fd;		       /* read-only: holds db/LOCK (-1 otherwise) */
	unsigned long fail_write_at;   /* test hook: fail this block write (0 = never) */
	unsigned long nb_writes;
	bool head_loaded[LEDGER_MEMBERS_MAX];
	struct ledger_head heads[LEDGER_MEMBERS_MAX];
	struct ledger_hook hook; /* told of what is written (ledger_set_hook) */
};

/* What both RocksDB databases (the ledger's, the receipts store) set the
 * same way (docs/ledger.md, "Files"): created if missing, no compression,
 * WAL recovery to the last whole batch, and a bounded info log. */
void ledger_rocks_options(rocksdb_options_t *o);
/* RocksDB's read-only mode takes no lock: lock DIR/LOCK the way RocksDB
 * does (fcntl, the whole file), so that one process at a time still has a
 * directory.  The fd holding the lock, or -errno with err set. */
int ledger_rocks_lock(const char *dir, char *err, size_t cap);
/* A writer's close, after its flush: RocksDB keeps every WAL file newer
 * than its last flush, and each session starts one, so sessions that wrote
 * nothing (a pull of what is held, a refused add) would pile them up.
 * When dir (the database directory) holds more than one, a marker key
 * ("wal-mark", empty; in cf, or the default family when NULL) is written
 * and flushed, which lets RocksDB delete them. */
void ledger_rocks_drop_wals(rocksdb_t *db, rocksdb_column_family_handle_t *cf, const char *dir);
/* A writer's last step before rocksdb_close, after its flush: in each
 * column family names[0..n) (handles cf; NULL for a database without
 * families, n = 1, "default"), merge the small table files short sessions
 * left once there are more than a few (docs/ledger.md, "Files"), so their
 * number stays bounded however many runs there are.  Compacts in the
 * calling thread; a failure is not reported (the files stay, nothing is
 * lost). */
void ledger_rocks_tidy(rocksdb_t *db, rocksdb_column_family_handle_t *const *cf,
		       const char *const *names, unsigned n);

/* errptr as left by a RocksDB call: 0 when NULL; else -EIO with "what:
 * message" in err (err may be NULL, then what is not used), errptr freed. */
int ledger_rocks_err(char *errptr, char *err, size_t cap, const char *what);
/* Point read of key from db into a malloc'd *val (the caller frees it):
 * 0, -ENOENT when absent, -EIO.  cf NULL reads the default column family
 * of a database opened without column families. */
int ledger_rocks_get(rocksdb_t *db, const rocksdb_readoptions_t *ro,
		     rocksdb_column_family_handle_t *cf, const void *key, size_t klen, char **val,
		     size_t *vlen);
/* Whether the iteration of it stopped at its end (0) or on an error
 * (-EIO): rocksdb_iter_valid() is false either way. */
int ledger_iter_status(const rocksdb_iterator_t *it);
/* ledger_rocks_get on one of l's column families (enum ledger_cf). */
int ledger_db_get(struct ledger *l, unsigned cf, const void *key, size_t klen, char **val,
		  size_t *vlen);
int ledger_db_write(struct ledger *l, rocksdb_writebatch_t *wb, char *err, size_t cap);
void ledger_head_put(rocksdb_writebatch_t *wb, struct ledger *l, unsigned m,
		     const struct ledger_head *h);
void ledger_key_member_u64(uint8_t *key, const uint8_t id[LEDGER_ID_BYTES], uint64_t v);
void ledger_state_key(uint8_t *key, const struct rg_fp *fp, unsigned list,
		      const uint8_t id[LEDGER_ID_BYTES]);
/* Point lookup of a state key through an iterator (see ledger_open). */
int ledger_state_seek(rocksdb_iterator_t *it, const uint8_t key[LEDGER_STATE_KEY], uint64_t *pos,
		      uint64_t *expiry_s, unsigned *kind);
/* Flush every memtable if anything was written since the last flush. */
void ledger_flush(struct ledger *l);
/* Flush the memtables of the column families in cf_mask (bit 1 << enum
 * ledger_cf); wait false hands them to RocksDB's background flush.  A
 * flush that fails loses nothing (the WAL has it), so none is reported. */
void ledger_cf_flush(struct ledger *l, unsigned cf_mask, bool wait);
void ledger_node_key(uint8_t key[17], const uint8_t id[LEDGER_ID_BYTES], unsigned level,
		     uint64_t index);
/* The head of a log that holds nothing yet. */
void ledger_head_empty(const struct ledger *l, struct ledger_head *h);

/* The rule an ADD entry obeys whatever the state (docs/ledger.md,
 * "Rights"): NULL, or why it may not be appended.  Appending and
 * verifying both check it. */
const char *ledger_add_fault(const struct ledger_consortium *cons, const struct ledger_entry *e);

/*
 * A transaction (ledger/append.c): blocks and checkpoints checked and
 * staged into one WriteBatch, each seeing the ones staged before it;
 * ledger_txn_commit writes it (synced), ledger_txn_free drops what was not
 * written.  multi: more than one block will be staged (keeps what later
 * blocks must see).  Evidence is written at once, outside the batch.
 */
struct ledger_txn;
struct ledger_txn *ledger_txn_begin(struct ledger *l, bool multi); /* NULL: no memory */
void ledger_txn_free(struct ledger_txn *t);
int ledger_txn_commit(struct ledger_txn *t, char *err, size_t cap);
const struct ledger_consortium *ledger_txn_cons(const struct ledger_txn *t);
int ledger_txn_head(struct ledger_txn *t, unsigned m, struct ledger_head *h);
/* ledger_apply_block's checks and returns, staged. */
int ledger_txn_block(struct ledger_txn *t, const struct ledger_block *b,
		     const uint8_t *const *entries, const uint16_t *lens, char *err, size_t cap);
/* ledger_store_checkpoint's checks and returns, staged; *problem names
 * the evidence kept with -EEXIST (0 otherwise). */
int ledger_txn_checkpoint(struct ledger_txn *t, const struct ledger_checkpoint *c,
			  unsigned *problem, char *err, size_t cap);
/* Keep c as evidence of problem (root: the log's root at its size, or
 * NULL). */
void ledger_keep_bad_checkpoint(struct ledger *l, const struct ledger_checkpoint *c,
				unsigned problem, const uint8_t *root);

#endif
