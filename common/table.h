/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The fingerprint table the fast path screens against (docs/table.md).
 *
 * A bucketised cuckoo hash table keyed by the 128-bit fingerprint, living in
 * a file on hugetlbfs (or, as a loudly reported fallback, ordinary shared
 * memory) that one writer process maps read-write and any number of reader
 * threads in other processes map read-only.  Each bucket is one 64-byte
 * line holding three whole fingerprints and their 4-byte values; a
 * split-block Bloom filter in front answers almost every miss from one
 * cache-resident line.
 *
 * Workload: lookups outnumber writes by orders of magnitude; one writer
 * (the control plane), lock-free readers (dataplane lcores) that never
 * block, never miss a key present throughout their lookup and never report
 * a key whose delete has returned.
 *
 * Threads: a writer handle (rg_table_create, rg_table_open_writer) belongs
 * to one thread at a time; only one writer handle may exist per table
 * (flock).  A reader handle (rg_table_open_reader) belongs to ONE thread:
 * open one per lcore.  rg_table_lookup* may be called on either kind.
 */
#ifndef RG_TABLE_H
#define RG_TABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/fp.h"

#define RG_TABLE_BULK_MAX 64	      /* fingerprints per rg_table_lookup_bulk */
#define RG_TABLE_LISTS_MAX 16	      /* bits in rg_table_val.lists */
#define RG_TABLE_ACTION_MAX 15	      /* largest rg_table_val.action */
#define RG_TABLE_CONTRIBUTOR_MAX 4095 /* largest rg_table_val.contributor */
#define RG_TABLE_READERS_MAX 64	      /* registered reader handles per table */
#define RG_TABLE_DEFAULT_DIR "/dev/hugepages"
#define RG_TABLE_FALLBACK_DIR "/dev/shm"

/*
 * The value stored with a fingerprint, 4 bytes in the table.  Expiry is not
 * stored: the control plane deletes or updates entries when they expire
 * (the table is a pure function of the ledger at a ledger position).
 */
struct rg_table_val {
	uint16_t lists;	      /* bit i: listed on list i */
	uint8_t action;	      /* action hint, 0..RG_TABLE_ACTION_MAX */
	uint16_t contributor; /* member index, 0..RG_TABLE_CONTRIBUTOR_MAX */
};

/* Stored encoding of a value: lists in bits 0-15, action in 16-19,
 * contributor in 20-31. */
static inline uint32_t rg_table_val_pack(struct rg_table_val v)
{
	return (uint32_t)v.lists | (uint32_t)(v.action & 0xf) << 16 |
	       (uint32_t)(v.contributor & 0xfff) << 20;
}

static inline struct rg_table_val rg_table_val_unpack(uint32_t w)
{
	struct rg_table_val v = {
		.lists = (uint16_t)w,
		.action = (uint8_t)((w >> 16) & 0xf),
		.contributor = (uint16_t)(w >> 20),
	};

	return v;
}

/* Creation options; a zeroed struct (or NULL) means the defaults. */
struct rg_table_opts {
	unsigned load_pct;	       /* capacity is this % of the slots; 0 = 93, 50..98 */
	unsigned filter_bits_per_slot; /* Bloom bits per slot; 0 = 12, 4..32 */
	unsigned bfs_max_nodes;	       /* cuckoo path search bound; 0 = 2048 */
	bool replace;		       /* unlink an existing file at path first */
	bool no_hugetlb;	       /* do not even try hugetlbfs */
	bool auto_grow;		       /* insert on a full table doubles it (rg_table_grow) */
	bool quiet;		       /* do not print the fallback warning on stderr */
	const char *fallback_dir;      /* NULL = RG_TABLE_FALLBACK_DIR */
};

/*
 * Create a new table file at path for capacity entries (the table is sized
 * so that capacity entries fill load_pct of its slots; more may fit) and
 * return its writer handle.  If path's directory is a hugetlbfs mount the
 * file lives in huge pages; if it is not, the file is an ordinary shared
 * file where asked; if hugetlbfs has too few free huge pages, the data goes
 * to fallback_dir and path becomes a symlink to it.  Either fallback shows
 * in rg_table_stats (hugetlb = false) and is printed once on stderr.
 * path is borrowed until return.  Returns NULL with errno set: EEXIST (path
 * exists and !replace), EINVAL (bad capacity/opts), ENOMEM, or open/mmap
 * errors.  Control plane only.
 */
struct rg_table *rg_table_create(const char *path, uint64_t capacity,
				 const struct rg_table_opts *o);

/*
 * Attach as the writer to an existing table file (following a symlink and a
 * generation switch left half done by a crashed writer).  If the previous
 * writer died inside an operation, repairs the table first (duplicate
 * entries from an interrupted move, count, stash count) and rebuilds the
 * Bloom filter and its private delete counters.  After a clean close the
 * attach does no pass over the table: the counters are built at the first
 * delete (docs/table.md).  Readers may stay attached throughout.  Returns
 * NULL with errno set: EBUSY (another writer holds it), EINVAL/EPROTO (not
 * a table / unknown version), open errors.
 */
struct rg_table *rg_table_open_writer(const char *path);

/*
 * Attach a reader: maps the table read-only and registers a reader slot
 * (for the generation switch).  The handle belongs to the calling thread.
 * Returns NULL with errno set: ENOENT, EINVAL/EPROTO, ENOSPC (all
 * RG_TABLE_READERS_MAX slots taken by live readers).
 */
struct rg_table *rg_table_open_reader(const char *path);

/* Release a handle (writer: clears its pid; reader: frees its slot).  A
 * writer close also releases an old generation still waiting for readers
 * (the kernel keeps its pages until the last reader unmaps). */
void rg_table_close(struct rg_table *t);

/*
 * Writer operations.  fp is borrowed until return.  Each returns 0 or:
 * -EEXIST (insert of a present key), -ENOENT (update/delete of an absent
 * key), -EINVAL (value out of range), -ENOSPC (no cuckoo path and the stash
 * is full: the table needs rg_table_grow), -EPERM (reader handle).
 * upsert inserts or updates and returns 0.  After a delete returns, no
 * reader reports the key.  Writer thread only.
 */
int rg_table_insert(struct rg_table *t, const struct rg_fp *fp, struct rg_table_val v);
int rg_table_update(struct rg_table *t, const struct rg_fp *fp, struct rg_table_val v);
int rg_table_upsert(struct rg_table *t, const struct rg_fp *fp, struct rg_table_val v);
int rg_table_delete(struct rg_table *t, const struct rg_fp *fp);

/*
 * Single lookup.  Returns 0 with *v set (v may be NULL), or -ENOENT.
 * Fast path, lock-free reader, never blocks; any handle's owning thread.
 */
int rg_table_lookup(const struct rg_table *t, const struct rg_fp *fp, struct rg_table_val *v);

/*
 * Bulk lookup of n <= RG_TABLE_BULK_MAX fingerprints, in stages over the
 * burst with every line prefetched before it is needed.  The handle adapts
 * to the hit rate of its recent bursts: mostly misses, the filter line
 * first and buckets only for its positives; mostly hits, the first bucket
 * at once without the filter (docs/table.md).  This hint lives in the
 * handle, one more reason a handle must not be shared between threads.
 * fps[i] are borrowed until return.  Returns the hit mask (bit i: fps[i] found, vals[i]
 * set; vals[i] of a miss is left untouched); n > RG_TABLE_BULK_MAX returns
 * 0 and looks nothing up.  Fast path, lock-free reader.
 */
uint64_t rg_table_lookup_bulk(const struct rg_table *t, const struct rg_fp *const *fps,
			      unsigned n, struct rg_table_val *vals);

/* Same over a contiguous array of n fingerprints. */
uint64_t rg_table_lookup_burst(const struct rg_table *t, const struct rg_fp *fps, unsigned n,
			       struct rg_table_val *vals);

/*
 * Reader quiescent state: call between bursts, never inside a lookup.
 * Cheap (one store, one load) unless the writer switched to a new
 * generation: then the handle remaps to it and releases the old mapping.
 * Returns 0, 1 when it switched, or -errno if the switch failed (the handle
 * keeps working on the old generation and retries next time).  Owning
 * reader thread only.
 */
int rg_table_reader_quiescent(struct rg_table *t);

/*
 * Iterate: *cursor = 0 to start.  Returns 0 with the next entry in *fp and
 * *v, or -ENOENT at the end.  On the writer handle it sees every entry
 * exactly once (absent writes between calls); on a reader handle an entry
 * being moved concurrently may be seen twice or missed.
 */
int rg_table_iterate(const struct rg_table *t, uint64_t *cursor, struct rg_fp *fp,
		     struct rg_table_val *v);

/*
 * Batches (DESIGN §5: the table is a function of the ledger).  begin marks
 * the header "batch in progress"; the ops then applied are ordinary writes
 * (readers see each as it lands); commit stores ledger_pos (release) after
 * every write of the batch is visible and clears the mark.  A writer killed
 * mid-batch leaves the previous ledger position, so replaying the ledger
 * from rg_table_ledger_pos() with upsert/delete-if-present semantics brings
 * the table to the committed state.  Writer thread only; 0 or -errno.
 */
enum rg_table_op_kind {
	RG_TABLE_OP_UPSERT = 1,
	RG_TABLE_OP_DELETE = 2, /* absent keys are not an error */
};

struct rg_table_op {
	struct rg_fp fp;
	struct rg_table_val val; /* ignored for DELETE */
	uint8_t kind;		 /* enum rg_table_op_kind */
};

int rg_table_batch_begin(struct rg_table *t);
/* Apply ops[0..n) in order with bucket prefetching (the fast way to load).
 * Returns the number applied (n on success) or -errno of the first op that
 * failed (-ENOSPC, -EINVAL); ops before it stay applied. */
long rg_table_batch_apply(struct rg_table *t, const struct rg_table_op *ops, unsigned long n);
int rg_table_batch_commit(struct rg_table *t, uint64_t ledger_pos);

/* Ledger position the contents reflect (acquire).  *in_batch (may be NULL)
 * tells whether a batch after that position is being applied.  Any handle. */
uint64_t rg_table_ledger_pos(const struct rg_table *t, bool *in_batch);

/* Key epoch ids the table's fingerprints were computed under (two during a
 * rotation; 0 = none).  set: writer only, 0 or -EPERM. */
int rg_table_set_key_epochs(struct rg_table *t, uint32_t current, uint32_t previous);
void rg_table_key_epochs(const struct rg_table *t, uint32_t *current, uint32_t *previous);

/*
 * Growth: build generation N+1 for new_capacity entries (0 = twice the
 * larger of capacity and count) in a
 * new file, copy every entry, publish the switch, and atomically rename it
 * over the table's path.  Readers move over at their next quiescent state;
 * the old mapping is released once every live registered reader has moved
 * (rg_table_reclaim).  Returns 0, -EBUSY (the previous old generation still
 * has readers), -ENOSPC (new_capacity too small), -EPERM, or -errno.
 */
int rg_table_grow(struct rg_table *t, uint64_t new_capacity);

/* Release the old generation if no live reader still uses it.  Returns 0
 * (nothing pending or released now) or -EAGAIN.  Writer thread only. */
int rg_table_reclaim(struct rg_table *t);

struct rg_table_stats {
	uint64_t count;		 /* entries, stash included */
	uint64_t capacity;	 /* entries the table was sized for */
	uint64_t nb_slots;	 /* nb_buckets * 3 */
	uint64_t nb_buckets;
	uint64_t nb_filter_blocks; /* 64-byte Bloom blocks */
	uint64_t nb_stash;	 /* entries in the stash */
	uint64_t file_bytes;	 /* whole shared file */
	uint64_t private_bytes;	 /* writer: its private memory (delete counters, search) */
	uint64_t generation;
	uint64_t ledger_pos;
	uint64_t nb_displacements; /* entries moved along cuckoo paths (lifetime) */
	uint64_t nb_failed_inserts; /* -ENOSPC returned (lifetime) */
	uint64_t nb_repairs;	 /* crash repairs run on this file */
	uint64_t change_counter; /* increments once per move */
	double load;		 /* count / nb_slots */
	unsigned nb_readers;	 /* registered reader slots with a live pid */
	bool hugetlb;		 /* false: ordinary shared memory FALLBACK */
	bool writer;		 /* this handle is the writer */
	bool batch_in_progress;
	bool old_generation_pending; /* writer: waiting for readers to move */
};

/* Fill *s.  Any handle; counters read without locking. */
void rg_table_stats(const struct rg_table *t, struct rg_table_stats *s);

/* Path of the data file actually mapped (after symlink resolution). */
const char *rg_table_path(const struct rg_table *t);

#endif
