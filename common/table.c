/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The fingerprint table (docs/table.md has the layout, the concurrency
 * argument, crash repair and growth; this comment is the short version).
 *
 * One shared file: [reader registry | header + stash | Bloom filter |
 * buckets].  A bucket is one 64-byte line: three 16-byte fingerprints,
 * three 4-byte values and a 32-bit meta word (valid bits 0-2, a sequence
 * number in bits 3-31 bumped by every write to the bucket).  A key lives in
 * one of two buckets chosen by bits of the fingerprint itself, or in the
 * small stash in the header when no cuckoo path exists.
 *
 * Invariants the readers rely on (single writer, lock-free readers):
 *  - a slot's bytes are written only while its valid bit is clear, and the
 *    valid bit is set last (release); readers load meta (acquire), compare,
 *    and re-check meta before trusting a hit (seqlock per bucket);
 *  - a move copies the entry to its free destination and publishes it,
 *    bumps the header's change counter, then clears the source: a key is
 *    always in at least one bucket, and a reader that missed re-reads the
 *    counter and retries if it moved;
 *  - Bloom bits are set before an entry is published and cleared (when
 *    the writer's private 2-bit counter reaches 0) after it is cleared;
 *  - after a generation switch, writes are mirrored into the old file
 *    until its readers have moved (rg_table_reclaim).
 *
 * The fast path (lookup, lookup_bulk) is in this translation unit, never
 * allocates, never takes a lock and makes no indirect calls.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#if defined(__AVX512F__) || defined(__BMI2__)
#include <immintrin.h>
#endif

#include "common/table.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the table file format is little-endian; add byte swaps for this target"
#endif

#define RG_TABLE_MAGIC "RGTABLE1"
#define RG_TABLE_REG_MAGIC "RGTBLREG"
#define RG_TABLE_VERSION 2 /* 2: filter bits of a key in one half of the words */
#define RG_TABLE_SLOTS 3	       /* entries per bucket */
#define RG_TABLE_LINE 64	       /* bytes */
#define RG_TABLE_FILTER_K 8	       /* Bloom bits per key, one per 64-bit word of the block */
#define RG_TABLE_STASH_BUCKETS 16      /* 48 stash entries */
#define RG_TABLE_META_VALID 0x7u       /* meta bits 0-2: slot valid */
#define RG_TABLE_META_SEQ 0x8u	       /* meta bits 3-31: write sequence */
#define RG_TABLE_MAX_BUCKETS (1ull << 32) /* fastrange on 32 bits of the fp */
#define RG_TABLE_HUGETLBFS_MAGIC 0x958458f6
#ifndef RG_TABLE_BALANCE
#define RG_TABLE_BALANCE 0 /* 1: new keys go to the emptier candidate, not the first */
#endif
#ifndef RG_TABLE_APPLY_AHEAD
#define RG_TABLE_APPLY_AHEAD 16 /* batch_apply: ops prefetched ahead */
#endif
#define RG_TABLE_SWITCH_BACKOFF 1024   /* quiescent calls between switch retries */

#define RG_LIKELY(x) __builtin_expect(!!(x), 1)
#define RG_UNLIKELY(x) __builtin_expect(!!(x), 0)

enum rg_table_flag {
	RG_TABLE_F_HUGETLB = 1u << 0,
};

/* Writer operation in progress (crash marker). */
enum rg_table_wop {
	RG_TABLE_WOP_NONE = 0,
	RG_TABLE_WOP_WRITE = 1,
	RG_TABLE_WOP_BATCH = 2,
	RG_TABLE_WOP_REPAIR = 3,
};

struct rg_table_bucket {
	uint64_t fp[RG_TABLE_SLOTS][2]; /* little-endian words of the fingerprint */
	uint32_t val[RG_TABLE_SLOTS];	/* rg_table_val_pack() */
	uint32_t meta;			/* valid bits 0-2, sequence 3-31 */
} __attribute__((aligned(RG_TABLE_LINE)));

_Static_assert(sizeof(struct rg_table_bucket) == RG_TABLE_LINE, "bucket is one cache line");

/* First line of the file, in the reader-writable registry region. */
struct rg_table_reg_head {
	char magic[8];	    /* RG_TABLE_REG_MAGIC */
	uint32_t version;
	uint32_t pad;
	uint64_t map_align; /* bytes: region alignment (huge page or page size) */
	uint64_t off_hdr;   /* bytes: where the header starts = registry size */
	uint64_t pad2[4];
} __attribute__((aligned(RG_TABLE_LINE)));

struct rg_table_reg_slot {
	uint32_t pid;	       /* 0 = free */
	uint32_t pad;
	uint64_t generation;   /* generation this reader has mapped */
	uint64_t nb_quiescent; /* quiescent states reported */
	uint64_t pad2[5];
} __attribute__((aligned(RG_TABLE_LINE)));

struct rg_table_reg {
	struct rg_table_reg_head head;
	struct rg_table_reg_slot slot[RG_TABLE_READERS_MAX];
};

struct rg_table_hdr {
	/* line 0-1: immutable after creation */
	char magic[8]; /* RG_TABLE_MAGIC, written last at creation */
	uint32_t version;
	uint32_t hdr_bytes;
	uint32_t slots_per_bucket;
	uint32_t bucket_bytes;
	uint32_t filter_bits_per_slot;
	uint32_t filter_k;
	uint32_t stash_buckets;
	uint32_t flags;	      /* enum rg_table_flag */
	uint32_t load_pct;
	uint32_t bfs_max_nodes;
	uint64_t generation;
	uint64_t nb_buckets;
	uint64_t nb_blocks;   /* 64-byte filter blocks */
	uint64_t capacity;
	uint64_t map_align;
	uint64_t off_hdr;
	uint64_t off_filter;
	uint64_t off_buckets;
	uint64_t file_bytes;

	/* read by readers, written rarely by the writer */
	struct {
		uint64_t superseded; /* generation that replaced this file, 0 = current */
		uint64_t ledger_pos;
		uint32_t batch;	     /* batch in progress */
		uint32_t key_epoch[2]; /* current, previous */
		uint32_t nb_stash;   /* valid stash entries */
	} __attribute__((aligned(RG_TABLE_LINE))) r;

	/* the change counter alone on its line: one bump per move */
	struct {
		uint64_t chg;
	} __attribute__((aligned(RG_TABLE_LINE))) c;

	/* writer's line: readers touch it only for stats */
	struct {
		uint32_t pid;	/* writer process, 0 = none attached */
		uint32_t op;	/* enum rg_table_wop: crash marker */
		uint64_t count;
		uint64_t nb_displacements;
		uint64_t nb_failed_inserts;
		uint64_t nb_repairs;
	} __attribute__((aligned(RG_TABLE_LINE))) w;

	struct rg_table_bucket stash[RG_TABLE_STASH_BUCKETS];
};

struct rg_bfs_node {
	uint64_t bucket;
	int32_t parent; /* node index, -1 for the two roots */
	uint32_t slot;	/* slot in the parent's bucket whose key moves here */
};

/* A mapped generation. */
struct rg_table_map {
	uint8_t *base;	      /* whole file: RW for the writer, RO for readers */
	size_t bytes;
	struct rg_table_reg *reg; /* RW view of the registry */
	size_t reg_bytes;     /* reader's separate RW mapping; 0 = part of base */
	struct rg_table_hdr *hdr;
	int fd;		      /* writer: holds the flock; readers: -1 */
};

struct rg_table {
	/* fast path first */
	const uint64_t *filter;
	struct rg_table_bucket *buckets;
	struct rg_table_hdr *hdr;
	uint64_t nb_buckets;
	uint64_t nb_blocks;
	uint32_t hit_ewma;	/* recent bulk hit fraction, 0..RG_TABLE_HIT_EWMA_ONE */
	bool hit_mode;		/* bulk lookups skip the filter (lookup_adapt) */

	struct rg_table_map m;
	uint64_t generation;
	bool writer;
	int reg_slot;		/* reader: registry slot, -1 = unregistered */
	uint64_t nb_quiescent;
	unsigned switch_backoff;
	char *path;		/* data file (symlinks resolved) */

	/* writer private */
	uint8_t *cnt;		/* 2-bit delete counters, one per filter bit */
	size_t cnt_bytes;	/* mapped for cnt */
	bool cnt_valid;		/* cnt matches the contents and is maintained */
	uint64_t *full;		/* bit per bucket: all slots valid (cuckoo search) */
	bool full_valid;	/* full matches the buckets and is maintained */
	struct rg_bfs_node *bfs;
	unsigned bfs_max;
	bool in_batch;
	bool quiet;
	bool auto_grow;
	struct rg_table_map old; /* previous generation awaiting readers */
	uint64_t old_generation;
};

/* ---- bits of the fingerprint ------------------------------------------ */

static inline void fp_words(const struct rg_fp *fp, uint64_t *w0, uint64_t *w1)
{
	memcpy(w0, fp->b, 8);
	memcpy(w1, fp->b + 8, 8);
}

/* Uniform x in [0, 2^32) to [0, n), n <= 2^32, without division. */
static inline uint64_t fastrange32(uint64_t x, uint64_t n)
{
	return ((x & 0xffffffffu) * n) >> 32;
}

/* Candidate buckets: low and high 32 bits of word 0; never equal. */
static inline void fp_buckets(uint64_t w0, uint64_t nb, uint64_t *b1, uint64_t *b2)
{
	uint64_t x = fastrange32(w0, nb), y = fastrange32(w0 >> 32, nb);

	if (RG_UNLIKELY(x == y))
		y = x + 1 == nb ? 0 : x + 1;
	*b1 = x;
	*b2 = y;
}

static inline uint64_t fp_block(uint64_t w1, uint64_t nb_blocks)
{
	return fastrange32(w1, nb_blocks);
}

/*
 * The bit picked in each of the block's eight words, one per byte (byte i:
 * bit 0-63 of word i), from 41 bits independent of the block index: the
 * high half of word 1 and bits 48-56 of word 0.  All eight bits lie in the
 * same half of their words (the "half", bit 5 of every position), so the
 * writer's delete counters of one key fit in one line (cnt_index).
 */
#define RG_TABLE_FILTER_HALF 0x2020202020202020ull

static inline uint64_t fp_filter_bits(uint64_t w0, uint64_t w1)
{
	uint64_t src = (w1 >> 32) | (w0 >> 48) << 32;
	uint64_t half = (src >> 40 & 1) * RG_TABLE_FILTER_HALF;

#ifdef __BMI2__
	return _pdep_u64(src, 0x1f1f1f1f1f1f1f1full) | half;
#else
	uint64_t pos = 0;

	for (unsigned i = 0; i < RG_TABLE_FILTER_K; i++)
		pos |= (src >> (5 * i) & 31) << (8 * i);
	return pos | half;
#endif
}

static inline bool filter_test(const uint64_t *blk, uint64_t f)
{
#ifdef __AVX512F__
	__m512i pos = _mm512_cvtepu8_epi64(_mm_cvtsi64_si128((long long)f));
	__m512i bits = _mm512_sllv_epi64(_mm512_set1_epi64(1), pos);
	__m512i w = _mm512_load_si512((const void *)blk);

	return _mm512_testn_epi64_mask(w, bits) == 0;
#else
	uint64_t acc = ~0ull;

	for (unsigned i = 0; i < RG_TABLE_FILTER_K; i++)
		acc &= __atomic_load_n(&blk[i], __ATOMIC_RELAXED) >> (f >> (8 * i) & 63);
	return acc & 1;
#endif
}

/* ---- reader side of a bucket ------------------------------------------ */

/* Slot of (w0, w1) among the valid slots of b, or -1. */
static inline int bucket_match(const struct rg_table_bucket *b, uint32_t valid, uint64_t w0,
			       uint64_t w1)
{
#ifdef __AVX512F__
	/* One compare of the whole line, no branch per slot: lanes 2s and
	 * 2s + 1 hold slot s's fingerprint words (lanes 6-7: values, meta). */
	const __m512i key = _mm512_set_epi64(0, 0, (long long)w1, (long long)w0, (long long)w1,
					     (long long)w0, (long long)w1, (long long)w0);
	unsigned eq = _mm512_cmpeq_epi64_mask(_mm512_load_si512((const void *)b), key);
	unsigned both = eq & eq >> 1;
	unsigned m = ((both & 1) | (both >> 1 & 2) | (both >> 2 & 4)) & valid;

	return m ? __builtin_ctz(m) : -1;
#else
	for (int s = 0; s < RG_TABLE_SLOTS; s++) {
		if ((valid >> s & 1) && __atomic_load_n(&b->fp[s][0], __ATOMIC_RELAXED) == w0 &&
		    __atomic_load_n(&b->fp[s][1], __ATOMIC_RELAXED) == w1)
			return s;
	}
	return -1;
#endif
}

/*
 * Seqlock read of one bucket.  A miss needs no re-check: a key present
 * throughout is never being rewritten (only free slots are written); a hit
 * is trusted only if meta did not change while fp and value were read.
 */
static inline bool bucket_lookup(const struct rg_table_bucket *b, uint64_t w0, uint64_t w1,
				 uint32_t *val)
{
	for (;;) {
		uint32_t m1 = __atomic_load_n(&b->meta, __ATOMIC_ACQUIRE);
		int s = bucket_match(b, m1 & RG_TABLE_META_VALID, w0, w1);
		uint32_t v;

		if (s < 0)
			return false;
		v = __atomic_load_n(&b->val[s], __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (RG_LIKELY(__atomic_load_n(&b->meta, __ATOMIC_RELAXED) == m1)) {
			*val = v;
			return true;
		}
	}
}

static inline bool stash_lookup(const struct rg_table_hdr *h, uint64_t w0, uint64_t w1,
				uint32_t *val)
{
	if (RG_LIKELY(__atomic_load_n(&h->r.nb_stash, __ATOMIC_ACQUIRE) == 0))
		return false;
	for (unsigned i = 0; i < RG_TABLE_STASH_BUCKETS; i++) {
		if (bucket_lookup(&h->stash[i], w0, w1, val))
			return true;
	}
	return false;
}

/* The buckets and stash, retried while the change counter moves. */
static inline bool lookup_slow(const struct rg_table *t, uint64_t w0, uint64_t w1, uint64_t b1,
			       uint64_t b2, uint32_t *val)
{
	for (;;) {
		uint64_t c1 = __atomic_load_n(&t->hdr->c.chg, __ATOMIC_ACQUIRE);

		if (bucket_lookup(&t->buckets[b1], w0, w1, val) ||
		    bucket_lookup(&t->buckets[b2], w0, w1, val) || stash_lookup(t->hdr, w0, w1, val))
			return true;
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&t->hdr->c.chg, __ATOMIC_RELAXED) == c1)
			return false;
	}
}

int rg_table_lookup(const struct rg_table *t, const struct rg_fp *fp, struct rg_table_val *v)
{
	uint64_t w0, w1, b1, b2;
	uint32_t val;

	fp_words(fp, &w0, &w1);
	if (!filter_test(t->filter + fp_block(w1, t->nb_blocks) * 8, fp_filter_bits(w0, w1)))
		return -ENOENT;
	fp_buckets(w0, t->nb_buckets, &b1, &b2);
	if (!lookup_slow(t, w0, w1, b1, b2, &val))
		return -ENOENT;
	if (v)
		*v = rg_table_val_unpack(val);
	return 0;
}

/*
 * Bulk lookup mode of a handle.  Screening (most keys absent): test the
 * filter line first and read buckets only for its positives, so a miss
 * costs one line.  Hit-heavy: skip the filter and fetch the first bucket at
 * once, so a hit costs one bucket line and no dependent filter line.  The
 * mode follows the hit rate of the recent bursts with hysteresis.
 */
#define RG_TABLE_HIT_EWMA_ONE 256u   /* hit_ewma of a run of all-hit bursts */
#define RG_TABLE_HIT_MODE_ON 160u    /* enter hit mode above 62.5% hits */
#define RG_TABLE_HIT_MODE_OFF 96u    /* leave it below 37.5% */

static inline void lookup_adapt(const struct rg_table *t, unsigned nb_hits, unsigned n)
{
	/* A handle belongs to one thread; the state is only a hint, so a
	 * relaxed update through the const handle is all it needs. */
	struct rg_table *mt = (struct rg_table *)(uintptr_t)t;
	uint32_t e = __atomic_load_n(&mt->hit_ewma, __ATOMIC_RELAXED);
	bool on = __atomic_load_n(&mt->hit_mode, __ATOMIC_RELAXED);

	if (RG_UNLIKELY(n == 0))
		return;
	e = e - (e >> 2) + nb_hits * (RG_TABLE_HIT_EWMA_ONE / 4) / n;
	__atomic_store_n(&mt->hit_ewma, e, __ATOMIC_RELAXED);
	if (on ? e < RG_TABLE_HIT_MODE_OFF : e >= RG_TABLE_HIT_MODE_ON)
		__atomic_store_n(&mt->hit_mode, !on, __ATOMIC_RELAXED);
}

/*
 * Stages over the burst so that every line is in flight before it is
 * needed: the filter blocks (screening mode only), the first bucket of
 * every candidate, the compares, then the second bucket of the keys not
 * found in their first.  ptrs == NULL means the contiguous array arr.
 * Skipping the filter changes nothing for correctness: it only proves
 * absence, and a hit is still confirmed by the bucket's seqlock.
 */
static inline __attribute__((always_inline)) uint64_t
lookup_bulk(const struct rg_table *t, const struct rg_fp *arr, const struct rg_fp *const *ptrs,
	    unsigned n, struct rg_table_val *vals)
{
	uint64_t w0[RG_TABLE_BULK_MAX], w1[RG_TABLE_BULK_MAX];
	const struct rg_table_bucket *bk1[RG_TABLE_BULK_MAX];
	uint64_t pos = 0, hit = 0, miss, c1;
	uint32_t val;

	if (RG_UNLIKELY(n > RG_TABLE_BULK_MAX))
		return 0;
	if (__atomic_load_n(&t->hit_mode, __ATOMIC_RELAXED)) {
		for (unsigned i = 0; i < n; i++) {
			fp_words(ptrs ? ptrs[i] : &arr[i], &w0[i], &w1[i]);
			bk1[i] = &t->buckets[fastrange32(w0[i], t->nb_buckets)];
			__builtin_prefetch(bk1[i], 0, 3);
		}
		pos = n == 64 ? ~0ull : (1ull << n) - 1;
	} else {
		const uint64_t *blk[RG_TABLE_BULK_MAX];

		for (unsigned i = 0; i < n; i++) {
			fp_words(ptrs ? ptrs[i] : &arr[i], &w0[i], &w1[i]);
			blk[i] = t->filter + fp_block(w1[i], t->nb_blocks) * 8;
			__builtin_prefetch(blk[i], 0, 3);
		}
		for (unsigned i = 0; i < n; i++) {
			if (!filter_test(blk[i], fp_filter_bits(w0[i], w1[i])))
				continue;
			pos |= 1ull << i;
			bk1[i] = &t->buckets[fastrange32(w0[i], t->nb_buckets)];
			__builtin_prefetch(bk1[i], 0, 3);
		}
		if (!pos) {
			lookup_adapt(t, 0, n);
			return 0;
		}
	}
	c1 = __atomic_load_n(&t->hdr->c.chg, __ATOMIC_ACQUIRE);
	miss = 0;
	/* Most keys sit in their first bucket (inserts prefer it): fetch the
	 * second only for the keys that are not there. */
	for (uint64_t p = pos; p; p &= p - 1) {
		unsigned i = (unsigned)__builtin_ctzll(p);

		if (bucket_lookup(bk1[i], w0[i], w1[i], &val)) {
			hit |= 1ull << i;
			vals[i] = rg_table_val_unpack(val);
		} else {
			uint64_t b1, b2;

			miss |= 1ull << i;
			fp_buckets(w0[i], t->nb_buckets, &b1, &b2);
			bk1[i] = &t->buckets[b2];
			__builtin_prefetch(bk1[i], 0, 3);
		}
	}
	pos = miss;
	miss = 0;
	for (uint64_t p = pos; p; p &= p - 1) {
		unsigned i = (unsigned)__builtin_ctzll(p);

		if (bucket_lookup(bk1[i], w0[i], w1[i], &val)) {
			hit |= 1ull << i;
			vals[i] = rg_table_val_unpack(val);
		} else {
			miss |= 1ull << i;
		}
	}
	if (RG_LIKELY(!miss))
		goto out;
	for (uint64_t p = miss; p; p &= p - 1) {
		unsigned i = (unsigned)__builtin_ctzll(p);

		if (stash_lookup(t->hdr, w0[i], w1[i], &val)) {
			hit |= 1ull << i;
			miss &= ~(1ull << i);
			vals[i] = rg_table_val_unpack(val);
		}
	}
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (RG_LIKELY(__atomic_load_n(&t->hdr->c.chg, __ATOMIC_RELAXED) == c1))
		goto out;
	/* The writer moved entries meanwhile: redo the misses one by one. */
	for (uint64_t p = miss; p; p &= p - 1) {
		unsigned i = (unsigned)__builtin_ctzll(p);
		uint64_t b1, b2;

		fp_buckets(w0[i], t->nb_buckets, &b1, &b2);
		if (lookup_slow(t, w0[i], w1[i], b1, b2, &val)) {
			hit |= 1ull << i;
			vals[i] = rg_table_val_unpack(val);
		}
	}
out:
	lookup_adapt(t, (unsigned)__builtin_popcountll(hit), n);
	return hit;
}

uint64_t rg_table_lookup_bulk(const struct rg_table *t, const struct rg_fp *const *fps,
			      unsigned n, struct rg_table_val *vals)
{
	return lookup_bulk(t, NULL, fps, n, vals);
}

uint64_t rg_table_lookup_burst(const struct rg_table *t, const struct rg_fp *fps, unsigned n,
			       struct rg_table_val *vals)
{
	return lookup_bulk(t, fps, NULL, n, vals);
}

/* ---- layout -------------------------------------------------------------- */

struct rg_table_layout {
	uint64_t capacity;
	uint64_t nb_buckets;
	uint64_t nb_blocks;
	uint64_t map_align;
	uint64_t off_hdr;
	uint64_t off_filter;
	uint64_t off_buckets;
	uint64_t file_bytes;
	unsigned load_pct;
	unsigned bits_per_slot;
	unsigned bfs_max;
};

static uint64_t align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) / a * a;
}

static int layout_size(struct rg_table_layout *l, uint64_t capacity, unsigned load_pct,
		       unsigned bits_per_slot)
{
	uint64_t nb_slots;

	if (capacity == 0 || load_pct < 50 || load_pct > 98 || bits_per_slot < 4 ||
	    bits_per_slot > 32)
		return -EINVAL;
	if (capacity > (RG_TABLE_MAX_BUCKETS - 1) * RG_TABLE_SLOTS / 100 * load_pct)
		return -EINVAL;
	nb_slots = (capacity * 100 + load_pct - 1) / load_pct;
	l->capacity = capacity;
	l->load_pct = load_pct;
	l->bits_per_slot = bits_per_slot;
	l->nb_buckets = (nb_slots + RG_TABLE_SLOTS - 1) / RG_TABLE_SLOTS;
	if (l->nb_buckets < 2)
		l->nb_buckets = 2;
	l->nb_blocks = (l->nb_buckets * RG_TABLE_SLOTS * bits_per_slot + 511) / 512;
	if (l->nb_blocks > UINT32_MAX)
		return -EINVAL;
	return 0;
}

static void layout_place(struct rg_table_layout *l, uint64_t map_align)
{
	l->map_align = map_align;
	l->off_hdr = align_up(sizeof(struct rg_table_reg), map_align);
	l->off_filter = align_up(l->off_hdr + sizeof(struct rg_table_hdr), 4096);
	l->off_buckets = align_up(l->off_filter + l->nb_blocks * RG_TABLE_LINE, 4096);
	l->file_bytes = align_up(l->off_buckets + l->nb_buckets * RG_TABLE_LINE, map_align);
}

static uint64_t fd_map_align(int fd, bool *huge)
{
	struct statfs sfs;

	if (fstatfs(fd, &sfs) == 0 && (uint32_t)sfs.f_type == RG_TABLE_HUGETLBFS_MAGIC) {
		*huge = true;
		return (uint64_t)sfs.f_bsize;
	}
	*huge = false;
	return (uint64_t)sysconf(_SC_PAGESIZE);
}

/* Point the fast-path fields of t at mapping m. */
static void table_bind(struct rg_table *t)
{
	struct rg_table_hdr *h = t->m.hdr;

	t->hdr = h;
	t->filter = (const uint64_t *)(t->m.base + h->off_filter);
	t->buckets = (struct rg_table_bucket *)(t->m.base + h->off_buckets);
	t->nb_buckets = h->nb_buckets;
	t->nb_blocks = h->nb_blocks;
	t->generation = h->generation;
}

static void map_release(struct rg_table_map *m)
{
	if (m->reg_bytes && m->reg)
		munmap(m->reg, m->reg_bytes);
	if (m->base)
		munmap(m->base, m->bytes);
	if (m->fd >= 0)
		close(m->fd);
	memset(m, 0, sizeof(*m));
	m->fd = -1;
}

/* Validate the mapped file's self-description against its size. */
static int map_check(const uint8_t *base, size_t bytes, uint64_t map_align)
{
	const struct rg_table_reg_head *rh = (const void *)base;
	const struct rg_table_hdr *h;

	if (bytes < sizeof(struct rg_table_reg) || memcmp(rh->magic, RG_TABLE_REG_MAGIC, 8))
		return -EINVAL;
	if (rh->version != RG_TABLE_VERSION)
		return -EPROTO;
	if (rh->map_align != map_align || rh->off_hdr + sizeof(*h) > bytes)
		return -EINVAL;
	h = (const void *)(base + rh->off_hdr);
	if (memcmp(h->magic, RG_TABLE_MAGIC, 8))
		return -EINVAL;
	if (h->version != RG_TABLE_VERSION)
		return -EPROTO;
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (h->file_bytes != bytes || h->slots_per_bucket != RG_TABLE_SLOTS ||
	    h->bucket_bytes != RG_TABLE_LINE || h->filter_k != RG_TABLE_FILTER_K ||
	    h->stash_buckets != RG_TABLE_STASH_BUCKETS || h->hdr_bytes != sizeof(*h) ||
	    h->nb_buckets < 2 || h->nb_buckets > RG_TABLE_MAX_BUCKETS || h->nb_blocks == 0 ||
	    h->off_filter + h->nb_blocks * RG_TABLE_LINE > h->off_buckets ||
	    h->off_buckets + h->nb_buckets * RG_TABLE_LINE > bytes)
		return -EINVAL;
	return 0;
}

/* Map an existing file: whole file RW (writer) or RO plus an RW registry
 * view (reader).  fd is taken over by m on success. */
static int map_file(struct rg_table_map *m, int fd, bool writer)
{
	struct stat st;
	bool huge;
	uint64_t align = fd_map_align(fd, &huge);
	int ret;

	memset(m, 0, sizeof(*m));
	m->fd = -1;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size < sizeof(struct rg_table_reg))
		return -EINVAL;
	m->bytes = (size_t)st.st_size;
	m->base = mmap(NULL, m->bytes, writer ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED,
		       fd, 0);
	if (m->base == MAP_FAILED) {
		m->base = NULL;
		return -errno;
	}
	ret = map_check(m->base, m->bytes, align);
	if (ret < 0)
		goto out_unmap;
	m->hdr = (struct rg_table_hdr *)(m->base + ((struct rg_table_reg_head *)m->base)->off_hdr);
	if (writer) {
		m->reg = (struct rg_table_reg *)m->base;
	} else {
		m->reg_bytes = m->hdr->off_hdr;
		m->reg = mmap(NULL, m->reg_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (m->reg == MAP_FAILED) {
			/* Read-only access: an unregistered reader still works. */
			m->reg = NULL;
			m->reg_bytes = 0;
		}
	}
	m->fd = fd;
	return 0;
out_unmap:
	munmap(m->base, m->bytes);
	m->base = NULL;
	return ret;
}

/* ---- writer: slots, filter, counters ----------------------------------- */

static inline void slot_publish(struct rg_table_bucket *b, unsigned s, uint64_t w0, uint64_t w1,
				uint32_t val)
{
	uint32_t m = b->meta;

	/* The slot's previous clear must be visible before its new bytes. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n(&b->fp[s][0], w0, __ATOMIC_RELAXED);
	__atomic_store_n(&b->fp[s][1], w1, __ATOMIC_RELAXED);
	__atomic_store_n(&b->val[s], val, __ATOMIC_RELAXED);
	__atomic_store_n(&b->meta, (m | 1u << s) + RG_TABLE_META_SEQ, __ATOMIC_RELEASE);
}

static inline void slot_clear(struct rg_table_bucket *b, unsigned s)
{
	uint32_t m = b->meta;

	__atomic_store_n(&b->meta, (m & ~(1u << s)) + RG_TABLE_META_SEQ, __ATOMIC_RELEASE);
}

static inline int bucket_free_slot(const struct rg_table_bucket *b)
{
	uint32_t v = b->meta & RG_TABLE_META_VALID;

	return v == RG_TABLE_META_VALID ? -1 : __builtin_ctz(~v);
}

static inline void chg_bump(struct rg_table *t)
{
	__atomic_store_n(&t->hdr->c.chg, t->hdr->c.chg + 1, __ATOMIC_RELEASE);
}

static inline void wstat_add(uint64_t *p, int64_t d)
{
	__atomic_store_n(p, *p + (uint64_t)d, __ATOMIC_RELAXED);
}

static inline void op_begin(struct rg_table *t)
{
	if (!t->in_batch)
		__atomic_store_n(&t->hdr->w.op, RG_TABLE_WOP_WRITE, __ATOMIC_RELAXED);
	atomic_signal_fence(memory_order_seq_cst);
}

static inline void op_end(struct rg_table *t)
{
	atomic_signal_fence(memory_order_seq_cst);
	if (!t->in_batch)
		__atomic_store_n(&t->hdr->w.op, RG_TABLE_WOP_NONE, __ATOMIC_RELEASE);
}

/*
 * Delete counters: 2 bits per filter bit, 3 = sticky (cleared only by the
 * next cnt_build, after a repair or in a new writer or generation).  A
 * block's 512 counters are 128 bytes, two lines: line h holds the counters
 * of the bits 32h..32h+31 of all eight words, so the eight counters of one
 * key (same half) share one line, and a write touches the filter line, one
 * counter line and one or two buckets.  At full load about 2.5% of the set
 * bits have 3 or more keys: those bits outlive their keys' deletes until
 * the next build, which costs a little filter precision, never
 * correctness.  A table being loaded keeps no counters (cnt_valid false)
 * until its first delete.
 */
#define RG_TABLE_CNT_MAX 3u
#define RG_TABLE_CNT_BLOCK_BYTES (512 * 2 / 8)

/* Counter number of bit p of word i of block blk. */
static inline uint64_t cnt_index(uint64_t blk, unsigned i, unsigned p)
{
	return blk * 512 + (p >> 5) * 256 + i * 32 + (p & 31);
}

/* The counter line of the key with filter bits f in block blk. */
static inline const uint8_t *cnt_line(const struct rg_table *t, uint64_t blk, uint64_t f)
{
	return t->cnt + blk * RG_TABLE_CNT_BLOCK_BYTES + (f >> 5 & 1) * RG_TABLE_LINE;
}

static inline unsigned cnt_get(const uint8_t *cnt, uint64_t bit)
{
	return (cnt[bit >> 2] >> ((bit & 3) * 2)) & RG_TABLE_CNT_MAX;
}

static inline void cnt_set(uint8_t *cnt, uint64_t bit, unsigned v)
{
	unsigned sh = (unsigned)(bit & 3) * 2;

	cnt[bit >> 2] = (uint8_t)((cnt[bit >> 2] & ~(RG_TABLE_CNT_MAX << sh)) | v << sh);
}

static inline void filter_add(struct rg_table *t, uint64_t w0, uint64_t w1)
{
	uint64_t blk = fp_block(w1, t->nb_blocks), f = fp_filter_bits(w0, w1);
	uint64_t *words = (uint64_t *)t->filter + blk * 8;

	if (!t->cnt_valid) {
		/* No counters yet (cnt_build): only the filter line.  Every
		 * word is stored, set or not: a branch per bit would be
		 * mispredicted half the time. */
		for (unsigned i = 0; i < RG_TABLE_FILTER_K; i++)
			__atomic_store_n(&words[i], words[i] | 1ull << (f >> (8 * i) & 63),
					 __ATOMIC_RELAXED);
		return;
	}
	for (unsigned i = 0; i < RG_TABLE_FILTER_K; i++) {
		unsigned p = f >> (8 * i) & 63;
		uint64_t bit = cnt_index(blk, i, p);
		unsigned v = cnt_get(t->cnt, bit);

		if (v == RG_TABLE_CNT_MAX)
			continue;
		cnt_set(t->cnt, bit, v + 1);
		if (v == 0)
			__atomic_store_n(&words[i], words[i] | 1ull << p, __ATOMIC_RELEASE);
	}
}

static inline void filter_remove(struct rg_table *t, uint64_t w0, uint64_t w1)
{
	uint64_t blk = fp_block(w1, t->nb_blocks), f = fp_filter_bits(w0, w1);
	uint64_t *words = (uint64_t *)t->filter + blk * 8;

	for (unsigned i = 0; i < RG_TABLE_FILTER_K; i++) {
		unsigned p = f >> (8 * i) & 63;
		uint64_t bit = cnt_index(blk, i, p);
		unsigned v = cnt_get(t->cnt, bit);

		if (v == RG_TABLE_CNT_MAX || v == 0)
			continue;
		cnt_set(t->cnt, bit, v - 1);
		if (v == 1)
			__atomic_store_n(&words[i], words[i] & ~(1ull << p), __ATOMIC_RELEASE);
	}
}

static inline void filter_prefetch(const struct rg_table *t, uint64_t w0, uint64_t w1)
{
	uint64_t blk = fp_block(w1, t->nb_blocks);

	__builtin_prefetch(t->filter + blk * 8, 1, 3);
	if (t->cnt_valid)
		__builtin_prefetch(cnt_line(t, blk, fp_filter_bits(w0, w1)), 1, 3);
}

/* 32 2-bit counters (one 64-bit word of a counter line) to the mask of
 * the nonzero ones. */
static inline uint64_t cnt_nonzero(uint64_t x)
{
	x = (x | x >> 1) & 0x5555555555555555ull;
	x = (x | x >> 1) & 0x3333333333333333ull;
	x = (x | x >> 2) & 0x0f0f0f0f0f0f0f0full;
	x = (x | x >> 4) & 0x00ff00ff00ff00ffull;
	x = (x | x >> 8) & 0x0000ffff0000ffffull;
	return (x | x >> 16) & 0xffffffffull;
}

/*
 * Build the delete counters from the contents, then store each filter word
 * that differs from what they say, and recount count and nb_stash.  A
 * word is stored once, already complete, so a bit of a present key is never
 * cleared, not even for a moment: readers may run throughout.  Runs when a
 * writer repairs after a crash and at the first delete after create, grow
 * or a clean attach (until then inserts set filter bits without counting
 * them).
 * The buckets are scanned in order; the counter lines of one chunk of
 * buckets are prefetched while the previous chunk is counted.
 */
static void cnt_build(struct rg_table *t)
{
	enum { CHUNK = 16, KEYS = CHUNK * RG_TABLE_SLOTS };
	uint64_t nb_all = t->nb_buckets + RG_TABLE_STASH_BUCKETS;
	uint64_t count = 0, nb_stash = 0;
	uint64_t blk[2][KEYS], f[2][KEYS];
	unsigned n[2] = {0, 0};
	uint64_t *words = (uint64_t *)t->filter;

	memset(t->cnt, 0, t->nb_blocks * RG_TABLE_CNT_BLOCK_BYTES);
	memset(t->full, 0, (t->nb_buckets + 63) / 64 * 8);
	for (uint64_t c = 0, k = 0; c < nb_all + CHUNK; c += CHUNK, k ^= 1) {
		unsigned m = 0;

		for (uint64_t bi = c; bi < c + CHUNK && bi < nb_all; bi++) {
			bool in_stash = bi >= t->nb_buckets;
			const struct rg_table_bucket *b =
				in_stash ? &t->hdr->stash[bi - t->nb_buckets] : &t->buckets[bi];

			if (bi + 2 * CHUNK < t->nb_buckets)
				__builtin_prefetch(&t->buckets[bi + 2 * CHUNK], 0, 0);
			if (!in_stash && (b->meta & RG_TABLE_META_VALID) == RG_TABLE_META_VALID)
				t->full[bi >> 6] |= 1ull << (bi & 63);
			for (unsigned s = 0; s < RG_TABLE_SLOTS; s++) {
				if (!(b->meta >> s & 1))
					continue;
				blk[k][m] = fp_block(b->fp[s][1], t->nb_blocks);
				f[k][m] = fp_filter_bits(b->fp[s][0], b->fp[s][1]);
				__builtin_prefetch(cnt_line(t, blk[k][m], f[k][m]), 1, 3);
				nb_stash += in_stash;
				m++;
			}
		}
		n[k] = m;
		count += m;
		/* The previous chunk, whose lines had this one's time to arrive. */
		for (unsigned j = 0; j < n[k ^ 1]; j++) {
			for (unsigned i = 0; i < RG_TABLE_FILTER_K; i++) {
				uint64_t bit =
					cnt_index(blk[k ^ 1][j], i, f[k ^ 1][j] >> (8 * i) & 63);
				unsigned v = cnt_get(t->cnt, bit);

				if (v < RG_TABLE_CNT_MAX)
					cnt_set(t->cnt, bit, v + 1);
			}
		}
		n[k ^ 1] = 0;
	}
	for (uint64_t wi = 0; wi < t->nb_blocks * 8; wi++) {
		const uint8_t *line = t->cnt + wi / 8 * RG_TABLE_CNT_BLOCK_BYTES + wi % 8 * 8;
		uint64_t lo, hi, w;

		memcpy(&lo, line, 8);
		memcpy(&hi, line + RG_TABLE_LINE, 8);
		w = cnt_nonzero(lo) | cnt_nonzero(hi) << 32;
		if (words[wi] != w)
			__atomic_store_n(&words[wi], w, __ATOMIC_RELEASE);
	}
	__atomic_store_n(&t->hdr->w.count, count, __ATOMIC_RELAXED);
	__atomic_store_n(&t->hdr->r.nb_stash, (uint32_t)nb_stash, __ATOMIC_RELEASE);
	t->cnt_valid = true;
	t->full_valid = true;
}

/*
 * The writer's bitmap of full buckets: the cuckoo search tests it instead
 * of reading a line per candidate.  It covers the main buckets only (not
 * the stash, not an old generation) and is kept exact by every write to
 * them (full_note); full_valid is false after a writer attaches until the
 * first search or delete builds it.
 */
static inline bool full_get(const struct rg_table *t, uint64_t bi)
{
	return t->full[bi >> 6] >> (bi & 63) & 1;
}

/* After one slot of b was filled (filled) or cleared: the bitmap word is
 * touched only when b became full or stopped being full, because a random
 * word of it is seldom in cache while a table is loaded. */
static inline void full_note(struct rg_table *t, const struct rg_table_bucket *b, bool filled)
{
	uint64_t off = (uintptr_t)b - (uintptr_t)t->buckets, bi = off / RG_TABLE_LINE;
	unsigned nb_valid = (unsigned)__builtin_popcount(b->meta & RG_TABLE_META_VALID);

	if (!t->full_valid || off >= t->nb_buckets * RG_TABLE_LINE)
		return;
	if (filled && nb_valid == RG_TABLE_SLOTS)
		t->full[bi >> 6] |= 1ull << (bi & 63);
	else if (!filled && nb_valid == RG_TABLE_SLOTS - 1)
		t->full[bi >> 6] &= ~(1ull << (bi & 63));
}

static void full_build(struct rg_table *t)
{
	memset(t->full, 0, (t->nb_buckets + 63) / 64 * 8);
	for (uint64_t bi = 0; bi < t->nb_buckets; bi++) {
		if ((t->buckets[bi].meta & RG_TABLE_META_VALID) == RG_TABLE_META_VALID)
			t->full[bi >> 6] |= 1ull << (bi & 63);
	}
	t->full_valid = true;
}

struct rg_loc {
	struct rg_table_bucket *b;
	unsigned s;
	bool stash;
};

static bool bucket_find_w(struct rg_table_bucket *b, uint64_t w0, uint64_t w1, struct rg_loc *l)
{
	int s = bucket_match(b, b->meta & RG_TABLE_META_VALID, w0, w1);

	if (s < 0)
		return false;
	l->b = b;
	l->s = (unsigned)s;
	l->stash = false;
	return true;
}

static bool find_w(struct rg_table *t, uint64_t w0, uint64_t w1, uint64_t b1, uint64_t b2,
		   struct rg_loc *l)
{
	if (bucket_find_w(&t->buckets[b1], w0, w1, l) || bucket_find_w(&t->buckets[b2], w0, w1, l))
		return true;
	if (t->hdr->r.nb_stash) {
		for (unsigned i = 0; i < RG_TABLE_STASH_BUCKETS; i++) {
			if (bucket_find_w(&t->hdr->stash[i], w0, w1, l)) {
				l->stash = true;
				return true;
			}
		}
	}
	return false;
}

static void move_entry(struct rg_table *t, struct rg_table_bucket *src, unsigned s,
		       struct rg_table_bucket *dst, unsigned d)
{
	slot_publish(dst, d, src->fp[s][0], src->fp[s][1], src->val[s]);
	chg_bump(t);
	slot_clear(src, s);
	full_note(t, dst, true);
	full_note(t, src, false);
	wstat_add(&t->hdr->w.nb_displacements, 1);
}

static uint64_t alt_bucket(const struct rg_table *t, uint64_t w0, uint64_t here)
{
	uint64_t b1, b2;

	fp_buckets(w0, t->nb_buckets, &b1, &b2);
	return here == b1 ? b2 : b1;
}

static bool bfs_on_path(const struct rg_bfs_node *nodes, int i, uint64_t bucket)
{
	for (; i >= 0; i = nodes[i].parent) {
		if (nodes[i].bucket == bucket)
			return true;
	}
	return false;
}

/* The alternate buckets of the three keys of node bucket bi (full). */
static inline void bfs_alts(const struct rg_table *t, uint64_t bi, uint64_t alts[RG_TABLE_SLOTS])
{
	const struct rg_table_bucket *b = &t->buckets[bi];

	for (unsigned s = 0; s < RG_TABLE_SLOTS; s++)
		alts[s] = alt_bucket(t, b->fp[s][0], bi);
}

/*
 * Breadth-first search for a cuckoo path from b1 or b2 (both full) to a
 * bucket with a free slot, bounded by bfs_max nodes; then the moves, last
 * one first, so that every moved key is published at its destination
 * before it leaves its source.  Returns the freed root bucket and slot.
 *
 * The search waits on memory, not on compute.  Whether a bucket is full
 * comes from the writer's bitmap (t->full, mostly cached), so a line is
 * read only to expand a node (its three keys) or to move into it; a
 * queued node's line is prefetched when it is queued, a whole level ahead
 * of its expansion.
 */
static bool cuckoo_make_room(struct rg_table *t, uint64_t b1, uint64_t b2,
			     struct rg_table_bucket **root, unsigned *root_slot)
{
	struct rg_bfs_node *nodes = t->bfs;
	unsigned head = 0, tail = 2;

	if (RG_UNLIKELY(!t->full_valid))
		full_build(t);
	nodes[0] = (struct rg_bfs_node){.bucket = b1, .parent = -1};
	nodes[1] = (struct rg_bfs_node){.bucket = b2, .parent = -1};
	while (head < tail) {
		int i = (int)head++;
		struct rg_table_bucket *b = &t->buckets[nodes[i].bucket];
		uint64_t alts[RG_TABLE_SLOTS];

		bfs_alts(t, nodes[i].bucket, alts);
		for (unsigned s = 0; s < RG_TABLE_SLOTS; s++) {
			uint64_t alt = alts[s];
			struct rg_table_bucket *ab = &t->buckets[alt];
			int f;

			if (bfs_on_path(nodes, i, alt))
				continue;
			f = full_get(t, alt) ? -1 : bucket_free_slot(ab);
			if (f < 0) {
				if (tail < t->bfs_max) {
					nodes[tail++] = (struct rg_bfs_node){
						.bucket = alt, .parent = i, .slot = s};
					__builtin_prefetch(ab, 1, 3);
				}
				continue;
			}
			move_entry(t, b, s, ab, (unsigned)f);
			while (nodes[i].parent >= 0) {
				struct rg_table_bucket *pb = &t->buckets[nodes[nodes[i].parent].bucket];
				unsigned ps = nodes[i].slot;

				move_entry(t, pb, ps, b, s);
				s = ps;
				i = nodes[i].parent;
				b = pb;
			}
			*root = b;
			*root_slot = s;
			return true;
		}
	}
	return false;
}

/*
 * The previous generation stays mapped by readers that have not yet passed
 * a quiescent state.  Until every reader has moved (rg_table_reclaim), each
 * write is mirrored there too, so that a delete that returned is not
 * reported even by a reader still on the old file, and an update is seen
 * there.  An insert is mirrored when one of the key's old buckets has a
 * free slot (no moves there: the old file only has to serve until its
 * readers move).  The old filter only gains bits, which is always safe.
 */
enum rg_mirror_kind {
	RG_MIRROR_INSERT,
	RG_MIRROR_UPDATE,
	RG_MIRROR_DELETE,
};

static void old_mirror(struct rg_table *t, uint64_t w0, uint64_t w1, enum rg_mirror_kind kind,
		       uint32_t val)
{
	struct rg_table_hdr *oh = t->old.hdr;
	struct rg_table_bucket *ob = (struct rg_table_bucket *)(t->old.base + oh->off_buckets);
	uint64_t b1, b2;
	struct rg_loc l;
	bool found;

	fp_buckets(w0, oh->nb_buckets, &b1, &b2);
	found = bucket_find_w(&ob[b1], w0, w1, &l) || bucket_find_w(&ob[b2], w0, w1, &l);
	for (unsigned i = 0; !found && oh->r.nb_stash && i < RG_TABLE_STASH_BUCKETS; i++) {
		found = bucket_find_w(&oh->stash[i], w0, w1, &l);
		l.stash = found;
	}
	if (kind == RG_MIRROR_DELETE && found) {
		slot_clear(l.b, l.s);
		if (l.stash)
			__atomic_store_n(&oh->r.nb_stash, oh->r.nb_stash - 1, __ATOMIC_RELEASE);
	} else if (found) {
		__atomic_store_n(&l.b->val[l.s], val, __ATOMIC_RELEASE);
	} else if (kind != RG_MIRROR_DELETE) {
		uint64_t *words = (uint64_t *)(t->old.base + oh->off_filter) +
				  fp_block(w1, oh->nb_blocks) * 8;
		uint64_t f = fp_filter_bits(w0, w1);
		struct rg_table_bucket *b = &ob[b1];
		int s = bucket_free_slot(b);

		bool stash = false;

		if (s < 0) {
			b = &ob[b2];
			s = bucket_free_slot(b);
		}
		/* Both old buckets full: the old stash, which its readers
		 * search whenever nb_stash is not 0. */
		for (unsigned i = 0; s < 0 && i < RG_TABLE_STASH_BUCKETS; i++) {
			b = &oh->stash[i];
			s = bucket_free_slot(b);
			stash = true;
		}
		if (s < 0)
			return;
		for (unsigned i = 0; i < RG_TABLE_FILTER_K; i++)
			__atomic_store_n(&words[i], words[i] | 1ull << (f >> (8 * i) & 63),
					 __ATOMIC_RELEASE);
		if (stash)
			__atomic_store_n(&oh->r.nb_stash, oh->r.nb_stash + 1, __ATOMIC_RELEASE);
		slot_publish(b, (unsigned)s, w0, w1, val);
	}
}

/* Place a new key (known absent).  0 or -ENOSPC. */
static int insert_new(struct rg_table *t, uint64_t w0, uint64_t w1, uint64_t b1, uint64_t b2,
		      uint32_t val)
{
	struct rg_table_bucket *b = &t->buckets[b1];
	unsigned s;
	int f;

	filter_add(t, w0, w1);
	f = bucket_free_slot(b);
	if (f < 0 || (RG_TABLE_BALANCE && __builtin_popcount(b->meta & RG_TABLE_META_VALID) >
		      __builtin_popcount(t->buckets[b2].meta & RG_TABLE_META_VALID))) {
		b = &t->buckets[b2];
		f = bucket_free_slot(b);
	}
	if (f >= 0) {
		s = (unsigned)f;
	} else if (!cuckoo_make_room(t, b1, b2, &b, &s)) {
		for (unsigned i = 0; i < RG_TABLE_STASH_BUCKETS; i++) {
			f = bucket_free_slot(&t->hdr->stash[i]);
			if (f >= 0) {
				__atomic_store_n(&t->hdr->r.nb_stash, t->hdr->r.nb_stash + 1,
						 __ATOMIC_RELEASE);
				slot_publish(&t->hdr->stash[i], (unsigned)f, w0, w1, val);
				wstat_add(&t->hdr->w.count, 1);
				return 0;
			}
		}
		/* Without counters the bits stay: stale, harmless, gone at
		 * the next cnt_build. */
		if (t->cnt_valid)
			filter_remove(t, w0, w1);
		wstat_add(&t->hdr->w.nb_failed_inserts, 1);
		return -ENOSPC;
	}
	slot_publish(b, s, w0, w1, val);
	full_note(t, b, true);
	wstat_add(&t->hdr->w.count, 1);
	return 0;
}

/* Move stash entries back into buckets that have room. */
static void stash_rehome(struct rg_table *t)
{
	for (unsigned i = 0; i < RG_TABLE_STASH_BUCKETS && t->hdr->r.nb_stash; i++) {
		struct rg_table_bucket *sb = &t->hdr->stash[i];

		for (unsigned s = 0; s < RG_TABLE_SLOTS; s++) {
			uint64_t b1, b2;
			struct rg_table_bucket *d;
			int f;

			if (!(sb->meta >> s & 1))
				continue;
			fp_buckets(sb->fp[s][0], t->nb_buckets, &b1, &b2);
			d = &t->buckets[b1];
			f = bucket_free_slot(d);
			if (f < 0) {
				d = &t->buckets[b2];
				f = bucket_free_slot(d);
			}
			if (f < 0)
				continue;
			move_entry(t, sb, s, d, (unsigned)f);
			__atomic_store_n(&t->hdr->r.nb_stash, t->hdr->r.nb_stash - 1,
					 __ATOMIC_RELEASE);
		}
	}
}

static int check_val(struct rg_table_val v)
{
	return v.action > RG_TABLE_ACTION_MAX || v.contributor > RG_TABLE_CONTRIBUTOR_MAX ? -EINVAL
											   : 0;
}

enum rg_write_mode {
	RG_W_INSERT,
	RG_W_UPDATE,
	RG_W_UPSERT,
};

static int write_one(struct rg_table *t, const struct rg_fp *fp, struct rg_table_val v,
		     enum rg_write_mode mode)
{
	uint64_t w0, w1, b1, b2;
	struct rg_loc l;
	int ret;

	if (!t->writer)
		return -EPERM;
	if (check_val(v) < 0)
		return -EINVAL;
	fp_words(fp, &w0, &w1);
	fp_buckets(w0, t->nb_buckets, &b1, &b2);
	/* A filter negative proves absence: a new key's second bucket is
	 * then read only when its first is full. */
	if (filter_test(t->filter + fp_block(w1, t->nb_blocks) * 8, fp_filter_bits(w0, w1)) &&
	    find_w(t, w0, w1, b1, b2, &l)) {
		if (mode == RG_W_INSERT)
			return -EEXIST;
		/* In place: readers see the old or the new value, both whole. */
		__atomic_store_n(&l.b->val[l.s], rg_table_val_pack(v), __ATOMIC_RELEASE);
		if (RG_UNLIKELY(t->old.base != NULL))
			old_mirror(t, w0, w1, RG_MIRROR_UPDATE, rg_table_val_pack(v));
		return 0;
	}
	if (mode == RG_W_UPDATE)
		return -ENOENT;
	op_begin(t);
	ret = insert_new(t, w0, w1, b1, b2, rg_table_val_pack(v));
	if (ret == 0 && RG_UNLIKELY(t->old.base != NULL))
		old_mirror(t, w0, w1, RG_MIRROR_INSERT, rg_table_val_pack(v));
	op_end(t);
	if (ret == -ENOSPC && t->auto_grow && !t->in_batch && rg_table_grow(t, 0) == 0)
		return write_one(t, fp, v, mode);
	return ret;
}

int rg_table_insert(struct rg_table *t, const struct rg_fp *fp, struct rg_table_val v)
{
	return write_one(t, fp, v, RG_W_INSERT);
}

int rg_table_update(struct rg_table *t, const struct rg_fp *fp, struct rg_table_val v)
{
	return write_one(t, fp, v, RG_W_UPDATE);
}

int rg_table_upsert(struct rg_table *t, const struct rg_fp *fp, struct rg_table_val v)
{
	return write_one(t, fp, v, RG_W_UPSERT);
}

int rg_table_delete(struct rg_table *t, const struct rg_fp *fp)
{
	uint64_t w0, w1, b1, b2;
	struct rg_loc l;

	if (!t->writer)
		return -EPERM;
	fp_words(fp, &w0, &w1);
	fp_buckets(w0, t->nb_buckets, &b1, &b2);
	if (!find_w(t, w0, w1, b1, b2, &l))
		return -ENOENT;
	/* The first delete since create or attach counts the contents (the
	 * key itself included) before it lowers anything. */
	if (RG_UNLIKELY(!t->cnt_valid))
		cnt_build(t);
	op_begin(t);
	slot_clear(l.b, l.s);
	full_note(t, l.b, false);
	if (l.stash)
		__atomic_store_n(&t->hdr->r.nb_stash, t->hdr->r.nb_stash - 1, __ATOMIC_RELEASE);
	filter_remove(t, w0, w1);
	wstat_add(&t->hdr->w.count, -1);
	if (!l.stash && t->hdr->r.nb_stash)
		stash_rehome(t);
	if (RG_UNLIKELY(t->old.base != NULL))
		old_mirror(t, w0, w1, RG_MIRROR_DELETE, 0);
	op_end(t);
	return 0;
}

/* ---- batches -------------------------------------------------------------- */

int rg_table_batch_begin(struct rg_table *t)
{
	if (!t->writer)
		return -EPERM;
	if (t->in_batch)
		return -EBUSY;
	__atomic_store_n(&t->hdr->w.op, RG_TABLE_WOP_BATCH, __ATOMIC_RELAXED);
	__atomic_store_n(&t->hdr->r.batch, 1, __ATOMIC_RELEASE);
	t->in_batch = true;
	return 0;
}

/*
 * Prefetch for op i in two steps: AHEAD ops before it the filter line, its
 * counter line and the first bucket; AHEAD / 2 ops before it, with those
 * lines arrived, the second bucket, but only if the op will read it (the
 * filter says the key may be present, or the first bucket is full).
 */
static inline void apply_prefetch1(const struct rg_table *t, const struct rg_table_op *op)
{
	uint64_t w0, w1;

	fp_words(&op->fp, &w0, &w1);
	filter_prefetch(t, w0, w1);
	__builtin_prefetch(&t->buckets[fastrange32(w0, t->nb_buckets)], 1, 3);
}

static inline bool apply_full(const struct rg_table *t, uint64_t bi)
{
	return t->full_valid ? full_get(t, bi) : bucket_free_slot(&t->buckets[bi]) < 0;
}

static inline void apply_prefetch2(const struct rg_table *t, const struct rg_table_op *op)
{
	uint64_t w0, w1, b1, b2;

	fp_words(&op->fp, &w0, &w1);
	fp_buckets(w0, t->nb_buckets, &b1, &b2);
	if (bucket_free_slot(&t->buckets[b1]) < 0 ||
	    filter_test(t->filter + fp_block(w1, t->nb_blocks) * 8, fp_filter_bits(w0, w1)))
		__builtin_prefetch(&t->buckets[b2], 1, 3);
}

/* A new key whose buckets are both full will search a cuckoo path: the
 * buckets of the first level that can take one of the six keys there. */
static inline void apply_prefetch3(const struct rg_table *t, const struct rg_table_op *op)
{
	uint64_t w0, w1, b[2], alts[RG_TABLE_SLOTS];

	fp_words(&op->fp, &w0, &w1);
	fp_buckets(w0, t->nb_buckets, &b[0], &b[1]);
	if (bucket_free_slot(&t->buckets[b[0]]) >= 0 || !apply_full(t, b[1]) ||
	    filter_test(t->filter + fp_block(w1, t->nb_blocks) * 8, fp_filter_bits(w0, w1)))
		return;
	for (unsigned r = 0; r < 2; r++) {
		bfs_alts(t, b[r], alts);
		for (unsigned s = 0; s < RG_TABLE_SLOTS; s++) {
			if (!t->full_valid || !full_get(t, alts[s]))
				__builtin_prefetch(&t->buckets[alts[s]], 1, 3);
		}
	}
}

long rg_table_batch_apply(struct rg_table *t, const struct rg_table_op *ops, unsigned long n)
{
	enum {
		AHEAD = RG_TABLE_APPLY_AHEAD,
		AHEAD2 = RG_TABLE_APPLY_AHEAD / 2,
		AHEAD3 = RG_TABLE_APPLY_AHEAD / 4,
	};

	if (!t->writer)
		return -EPERM;
	for (unsigned long i = 0; i < n && i < AHEAD; i++)
		apply_prefetch1(t, &ops[i]);
	for (unsigned long i = 0; i < n && i < AHEAD2; i++)
		apply_prefetch2(t, &ops[i]);
	for (unsigned long i = 0; i < n && i < AHEAD3; i++)
		apply_prefetch3(t, &ops[i]);
	for (unsigned long i = 0; i < n; i++) {
		int ret;

		if (i + AHEAD < n)
			apply_prefetch1(t, &ops[i + AHEAD]);
		if (i + AHEAD2 < n)
			apply_prefetch2(t, &ops[i + AHEAD2]);
		if (i + AHEAD3 < n)
			apply_prefetch3(t, &ops[i + AHEAD3]);
		switch (ops[i].kind) {
		case RG_TABLE_OP_UPSERT:
			ret = rg_table_upsert(t, &ops[i].fp, ops[i].val);
			break;
		case RG_TABLE_OP_DELETE:
			ret = rg_table_delete(t, &ops[i].fp);
			if (ret == -ENOENT)
				ret = 0;
			break;
		default:
			ret = -EINVAL;
			break;
		}
		if (ret < 0)
			return ret;
	}
	return (long)n;
}

int rg_table_batch_commit(struct rg_table *t, uint64_t ledger_pos)
{
	if (!t->writer)
		return -EPERM;
	if (!t->in_batch)
		return -EINVAL;
	__atomic_store_n(&t->hdr->r.ledger_pos, ledger_pos, __ATOMIC_RELEASE);
	__atomic_store_n(&t->hdr->r.batch, 0, __ATOMIC_RELEASE);
	t->in_batch = false;
	__atomic_store_n(&t->hdr->w.op, RG_TABLE_WOP_NONE, __ATOMIC_RELEASE);
	return 0;
}

uint64_t rg_table_ledger_pos(const struct rg_table *t, bool *in_batch)
{
	uint64_t pos = __atomic_load_n(&t->hdr->r.ledger_pos, __ATOMIC_ACQUIRE);

	if (in_batch)
		*in_batch = __atomic_load_n(&t->hdr->r.batch, __ATOMIC_ACQUIRE) != 0;
	return pos;
}

int rg_table_set_key_epochs(struct rg_table *t, uint32_t current, uint32_t previous)
{
	if (!t->writer)
		return -EPERM;
	__atomic_store_n(&t->hdr->r.key_epoch[1], previous, __ATOMIC_RELEASE);
	__atomic_store_n(&t->hdr->r.key_epoch[0], current, __ATOMIC_RELEASE);
	return 0;
}

void rg_table_key_epochs(const struct rg_table *t, uint32_t *current, uint32_t *previous)
{
	if (current)
		*current = __atomic_load_n(&t->hdr->r.key_epoch[0], __ATOMIC_ACQUIRE);
	if (previous)
		*previous = __atomic_load_n(&t->hdr->r.key_epoch[1], __ATOMIC_ACQUIRE);
}

/* ---- iteration and stats ------------------------------------------------- */

int rg_table_iterate(const struct rg_table *t, uint64_t *cursor, struct rg_fp *fp,
		     struct rg_table_val *v)
{
	uint64_t nb_main = t->nb_buckets * RG_TABLE_SLOTS;
	uint64_t end = nb_main + RG_TABLE_STASH_BUCKETS * RG_TABLE_SLOTS;

	for (uint64_t c = *cursor; c < end; c++) {
		const struct rg_table_bucket *b;
		unsigned s = (unsigned)(c % RG_TABLE_SLOTS);
		uint64_t w[2];
		uint32_t m1, val;

		b = c < nb_main ? &t->buckets[c / RG_TABLE_SLOTS]
				: &t->hdr->stash[(c - nb_main) / RG_TABLE_SLOTS];
		do {
			m1 = __atomic_load_n(&b->meta, __ATOMIC_ACQUIRE);
			w[0] = __atomic_load_n(&b->fp[s][0], __ATOMIC_RELAXED);
			w[1] = __atomic_load_n(&b->fp[s][1], __ATOMIC_RELAXED);
			val = __atomic_load_n(&b->val[s], __ATOMIC_RELAXED);
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
		} while (__atomic_load_n(&b->meta, __ATOMIC_RELAXED) != m1);
		if (!(m1 >> s & 1))
			continue;
		memcpy(fp->b, w, sizeof(w));
		if (v)
			*v = rg_table_val_unpack(val);
		*cursor = c + 1;
		return 0;
	}
	*cursor = end;
	return -ENOENT;
}

static bool pid_alive(uint32_t pid)
{
	return pid && (kill((pid_t)pid, 0) == 0 || errno != ESRCH);
}

void rg_table_stats(const struct rg_table *t, struct rg_table_stats *s)
{
	const struct rg_table_hdr *h = t->hdr;

	memset(s, 0, sizeof(*s));
	s->count = __atomic_load_n(&h->w.count, __ATOMIC_RELAXED);
	s->capacity = h->capacity;
	s->nb_buckets = h->nb_buckets;
	s->nb_slots = h->nb_buckets * RG_TABLE_SLOTS;
	s->nb_filter_blocks = h->nb_blocks;
	s->nb_stash = __atomic_load_n(&h->r.nb_stash, __ATOMIC_RELAXED);
	s->file_bytes = h->file_bytes;
	if (t->writer)
		s->private_bytes = t->cnt_bytes + t->bfs_max * sizeof(*t->bfs) +
				   (t->nb_buckets + 63) / 64 * sizeof(*t->full);
	s->generation = h->generation;
	s->ledger_pos = __atomic_load_n(&h->r.ledger_pos, __ATOMIC_ACQUIRE);
	s->nb_displacements = __atomic_load_n(&h->w.nb_displacements, __ATOMIC_RELAXED);
	s->nb_failed_inserts = __atomic_load_n(&h->w.nb_failed_inserts, __ATOMIC_RELAXED);
	s->nb_repairs = __atomic_load_n(&h->w.nb_repairs, __ATOMIC_RELAXED);
	s->change_counter = __atomic_load_n(&h->c.chg, __ATOMIC_RELAXED);
	s->load = (double)s->count / (double)s->nb_slots;
	s->hugetlb = (h->flags & RG_TABLE_F_HUGETLB) != 0;
	s->writer = t->writer;
	s->batch_in_progress = __atomic_load_n(&h->r.batch, __ATOMIC_RELAXED) != 0;
	s->old_generation_pending = t->old.base != NULL;
	if (t->m.reg) {
		for (unsigned i = 0; i < RG_TABLE_READERS_MAX; i++) {
			if (pid_alive(__atomic_load_n(&t->m.reg->slot[i].pid, __ATOMIC_ACQUIRE)))
				s->nb_readers++;
		}
	}
}

const char *rg_table_path(const struct rg_table *t)
{
	return t->path;
}

/* ---- files ------------------------------------------------------------------ */

/* path with its symlink (one level, as created by the fallback) resolved. */
static char *resolve_path(const char *path)
{
	char *r = realpath(path, NULL);

	if (!r && errno == ENOENT) {
		/* A dangling fallback symlink is still ENOENT to the caller. */
		errno = ENOENT;
	}
	return r;
}

static char *path_with_suffix(const char *path, const char *suffix)
{
	size_t n = strlen(path) + strlen(suffix) + 1;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s%s", path, suffix);
	return p;
}

/*
 * Create and initialise a table file at path (O_EXCL) with layout l sized
 * already; fills m (RW, flock held).  The magic is written last: a file
 * without it is not a table.  -errno on failure (the file is removed).
 */
static int file_build(struct rg_table_map *m, const char *path, struct rg_table_layout *l,
		      uint64_t generation, bool no_hugetlb, bool *huge)
{
	struct rg_table_reg_head *rh;
	struct rg_table_hdr *h;
	uint64_t align;
	int fd, ret, flags = MAP_SHARED;

	memset(m, 0, sizeof(*m));
	m->fd = -1;
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0660);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		ret = -errno;
		goto out_unlink;
	}
	align = fd_map_align(fd, huge);
	if (*huge && no_hugetlb) {
		ret = -ENOMEM;
		goto out_unlink;
	}
	layout_place(l, align);
	if (ftruncate(fd, (off_t)l->file_bytes) < 0) {
		ret = -errno;
		goto out_unlink;
	}
	if (*huge) {
		flags |= MAP_POPULATE;
	} else {
		ret = posix_fallocate(fd, 0, (off_t)l->file_bytes);
		if (ret) {
			ret = -ret;
			goto out_unlink;
		}
	}
	m->base = mmap(NULL, l->file_bytes, PROT_READ | PROT_WRITE, flags, fd, 0);
	if (m->base == MAP_FAILED) {
		m->base = NULL;
		ret = -errno;
		goto out_unlink;
	}
	m->bytes = l->file_bytes;
	m->reg = (struct rg_table_reg *)m->base;
	m->hdr = (struct rg_table_hdr *)(m->base + l->off_hdr);
	m->fd = fd;
	rh = &m->reg->head;
	rh->version = RG_TABLE_VERSION;
	rh->map_align = align;
	rh->off_hdr = l->off_hdr;
	h = m->hdr;
	h->version = RG_TABLE_VERSION;
	h->hdr_bytes = sizeof(*h);
	h->slots_per_bucket = RG_TABLE_SLOTS;
	h->bucket_bytes = RG_TABLE_LINE;
	h->filter_bits_per_slot = l->bits_per_slot;
	h->filter_k = RG_TABLE_FILTER_K;
	h->stash_buckets = RG_TABLE_STASH_BUCKETS;
	h->flags = *huge ? RG_TABLE_F_HUGETLB : 0;
	h->load_pct = l->load_pct;
	h->bfs_max_nodes = l->bfs_max;
	h->generation = generation;
	h->nb_buckets = l->nb_buckets;
	h->nb_blocks = l->nb_blocks;
	h->capacity = l->capacity;
	h->map_align = align;
	h->off_hdr = l->off_hdr;
	h->off_filter = l->off_filter;
	h->off_buckets = l->off_buckets;
	h->file_bytes = l->file_bytes;
	h->w.pid = (uint32_t)getpid();
	memcpy(rh->magic, RG_TABLE_REG_MAGIC, 8);
	return 0;
out_unlink:
	if (m->base)
		munmap(m->base, l->file_bytes);
	m->base = NULL;
	unlink(path);
	close(fd);
	return ret;
}

static void file_seal(struct rg_table_map *m)
{
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memcpy(m->hdr->magic, RG_TABLE_MAGIC, 8);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static struct rg_table *table_alloc(const char *path)
{
	struct rg_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->m.fd = -1;
	t->old.fd = -1;
	t->reg_slot = -1;
	t->path = strdup(path);
	if (!t->path) {
		free(t);
		return NULL;
	}
	return t;
}

/*
 * The delete counters are touched at random like the buckets: back them
 * with huge pages when the system has some (TLB misses otherwise dominate
 * inserts), transparent huge pages or small pages when not.
 */
static uint8_t *cnt_alloc(uint64_t bytes, size_t *mapped)
{
	size_t huge = 2u << 20, n = (size_t)align_up(bytes, huge);
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB,
		       -1, 0);

	if (p == MAP_FAILED) {
		p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return NULL;
		madvise(p, n, MADV_HUGEPAGE);
	}
	*mapped = n;
	return p;
}

static void cnt_free(struct rg_table *t)
{
	if (t->cnt)
		munmap(t->cnt, t->cnt_bytes);
	t->cnt = NULL;
	t->cnt_bytes = 0;
}

static void table_free(struct rg_table *t)
{
	map_release(&t->m);
	map_release(&t->old);
	cnt_free(t);
	free(t->bfs);
	free(t->full);
	free(t->path);
	free(t);
}

/* Writer-private state sized for the bound mapping. */
static int writer_alloc(struct rg_table *t)
{
	cnt_free(t);
	free(t->bfs);
	free(t->full);
	t->bfs_max = t->hdr->bfs_max_nodes ? t->hdr->bfs_max_nodes : 2048;
	if (t->bfs_max < 8)
		t->bfs_max = 8;
	t->cnt = cnt_alloc(t->nb_blocks * RG_TABLE_CNT_BLOCK_BYTES, &t->cnt_bytes);
	t->cnt_valid = false;
	t->bfs = calloc(t->bfs_max, sizeof(*t->bfs));
	t->full = calloc((t->nb_buckets + 63) / 64, sizeof(*t->full));
	/* For a new file (empty) the caller marks the zeroed bitmap exact;
	 * an attached one's is built when first needed. */
	t->full_valid = false;
	if (!t->cnt || !t->bfs || !t->full)
		return -ENOMEM;
	return 0;
}

struct rg_table *rg_table_create(const char *path, uint64_t capacity, const struct rg_table_opts *o)
{
	static const struct rg_table_opts defaults;
	struct rg_table_layout l;
	struct rg_table *t = NULL;
	char *fb = NULL;
	struct stat st;
	bool huge = false;
	int ret;

	if (!o)
		o = &defaults;
	ret = layout_size(&l, capacity, o->load_pct ? o->load_pct : 93,
			  o->filter_bits_per_slot ? o->filter_bits_per_slot : 12);
	if (ret < 0)
		goto out_err;
	l.bfs_max = o->bfs_max_nodes ? o->bfs_max_nodes : 2048;
	if (lstat(path, &st) == 0) {
		if (!o->replace) {
			ret = -EEXIST;
			goto out_err;
		}
		if (S_ISLNK(st.st_mode)) {
			char *target = realpath(path, NULL);

			if (target)
				unlink(target);
			free(target);
		}
		unlink(path);
	}
	t = table_alloc(path);
	if (!t) {
		ret = -ENOMEM;
		goto out_err;
	}
	ret = file_build(&t->m, path, &l, 1, o->no_hugetlb, &huge);
	if (ret == -ENOMEM || ret == -ENOSPC || (ret == 0 && !huge && !o->quiet)) {
		if (ret == 0) {
			fprintf(stderr, "table: %s is not on hugetlbfs: FALLBACK to ordinary "
					"shared memory\n", path);
		} else {
			/* hugetlbfs without enough free pages: data in fallback_dir. */
			const char *dir = o->fallback_dir ? o->fallback_dir : RG_TABLE_FALLBACK_DIR;
			const char *base = strrchr(path, '/');

			base = base ? base + 1 : path;
			fb = malloc(strlen(dir) + strlen(base) + 2);
			if (!fb) {
				ret = -ENOMEM;
				goto out_free;
			}
			sprintf(fb, "%s/%s", dir, base);
			unlink(fb);
			ret = file_build(&t->m, fb, &l, 1, true, &huge);
			if (ret < 0)
				goto out_free;
			if (symlink(fb, path) < 0) {
				ret = -errno;
				map_release(&t->m);
				unlink(fb);
				goto out_free;
			}
			if (!o->quiet)
				fprintf(stderr, "table: no huge pages for %s: FALLBACK to ordinary "
						"shared memory in %s\n", path, fb);
			free(t->path);
			t->path = fb;
			fb = NULL;
		}
	}
	if (ret < 0)
		goto out_free;
	table_bind(t);
	t->writer = true;
	t->quiet = o->quiet;
	t->auto_grow = o->auto_grow;
	ret = writer_alloc(t);
	if (ret < 0)
		goto out_unlink;
	t->full_valid = true;
	file_seal(&t->m);
	return t;
out_unlink:
	unlink(t->path);
	if (strcmp(t->path, path))
		unlink(path);
out_free:
	free(fb);
	table_free(t);
out_err:
	errno = -ret;
	return NULL;
}

/* ---- repair ----------------------------------------------------------------- */

/*
 * Remove the second copy left by a move interrupted between publishing the
 * destination and clearing the source, and anything not in one of its own
 * buckets.  Safe with readers attached: a removed copy has a twin that
 * stays, and the change counter is bumped before each removal.
 */
static uint64_t repair_duplicates(struct rg_table *t)
{
	uint64_t fixed = 0;
	struct rg_loc l;

	for (uint64_t bi = 0; bi < t->nb_buckets; bi++) {
		struct rg_table_bucket *b = &t->buckets[bi];

		for (unsigned s = 0; s < RG_TABLE_SLOTS; s++) {
			uint64_t b1, b2, other;

			if (!(b->meta >> s & 1))
				continue;
			fp_buckets(b->fp[s][0], t->nb_buckets, &b1, &b2);
			if (bi != b1 && bi != b2) {
				chg_bump(t);
				slot_clear(b, s);
				fixed++;
				continue;
			}
			other = bi == b1 ? b2 : b1;
			if (bucket_find_w(&t->buckets[other], b->fp[s][0], b->fp[s][1], &l)) {
				chg_bump(t);
				slot_clear(b, s);
				fixed++;
			}
		}
	}
	for (unsigned i = 0; i < RG_TABLE_STASH_BUCKETS; i++) {
		struct rg_table_bucket *b = &t->hdr->stash[i];

		for (unsigned s = 0; s < RG_TABLE_SLOTS; s++) {
			uint64_t b1, b2;
			bool dup = false;

			if (!(b->meta >> s & 1))
				continue;
			fp_buckets(b->fp[s][0], t->nb_buckets, &b1, &b2);
			dup = bucket_find_w(&t->buckets[b1], b->fp[s][0], b->fp[s][1], &l) ||
			      bucket_find_w(&t->buckets[b2], b->fp[s][0], b->fp[s][1], &l);
			for (unsigned j = 0; !dup && j < i; j++)
				dup = bucket_find_w(&t->hdr->stash[j], b->fp[s][0], b->fp[s][1], &l);
			if (dup) {
				chg_bump(t);
				slot_clear(b, s);
				fixed++;
			}
		}
	}
	return fixed;
}

/*
 * Finish or undo a generation switch a crashed writer left half done:
 * superseded set means the next file was complete; roll forward by
 * renaming it in place.  Returns 1 when the caller must reopen path.
 */
static int finish_switch(struct rg_table *t)
{
	char *next = path_with_suffix(t->path, ".next");
	uint64_t sup = __atomic_load_n(&t->hdr->r.superseded, __ATOMIC_ACQUIRE);
	int ret = 0;

	if (!next)
		return -ENOMEM;
	if (sup) {
		struct rg_table_map nm;
		int fd = open(next, O_RDWR | O_CLOEXEC);

		if (fd >= 0 && map_file(&nm, fd, true) == 0) {
			bool ok = nm.hdr->generation == sup;

			map_release(&nm);
			if (ok && rename(next, t->path) == 0) {
				free(next);
				return 1;
			}
		} else if (fd >= 0) {
			close(fd);
		}
		/* No complete successor: this file stays current. */
		__atomic_store_n(&t->hdr->r.superseded, 0, __ATOMIC_SEQ_CST);
	}
	if (unlink(next) < 0 && errno != ENOENT)
		ret = -errno;
	free(next);
	return ret;
}

struct rg_table *rg_table_open_writer(const char *path)
{
	struct rg_table *t = NULL;
	char *data;
	int fd, ret;

	for (;;) {
		data = resolve_path(path);
		if (!data) {
			ret = -errno;
			goto out_err;
		}
		t = table_alloc(data);
		free(data);
		if (!t) {
			ret = -ENOMEM;
			goto out_err;
		}
		fd = open(t->path, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			ret = -errno;
			goto out_free;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			ret = errno == EWOULDBLOCK ? -EBUSY : -errno;
			close(fd);
			goto out_free;
		}
		ret = map_file(&t->m, fd, true);
		if (ret < 0) {
			close(fd);
			goto out_free;
		}
		table_bind(t);
		t->writer = true;
		t->quiet = true;
		ret = finish_switch(t);
		if (ret < 0)
			goto out_free;
		if (ret == 0)
			break;
		table_free(t);
		t = NULL;
	}
	ret = writer_alloc(t);
	if (ret < 0)
		goto out_free;
	__atomic_store_n(&t->hdr->w.pid, (uint32_t)getpid(), __ATOMIC_RELAXED);
	/* After a clean close the contents, count and filter are consistent
	 * and the counters wait for the first delete (cnt_build).  After a
	 * crash: duplicates, stale bits and counts are repaired now. */
	if (t->hdr->w.op != RG_TABLE_WOP_NONE) {
		__atomic_store_n(&t->hdr->w.op, RG_TABLE_WOP_REPAIR, __ATOMIC_RELAXED);
		repair_duplicates(t);
		wstat_add(&t->hdr->w.nb_repairs, 1);
		cnt_build(t);
	}
	if (t->hdr->r.batch)
		__atomic_store_n(&t->hdr->r.batch, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&t->hdr->w.op, RG_TABLE_WOP_NONE, __ATOMIC_RELEASE);
	return t;
out_free:
	table_free(t);
out_err:
	errno = -ret;
	return NULL;
}

/* ---- readers and generations ------------------------------------------------ */

static int reg_claim(struct rg_table_reg *reg, uint64_t generation)
{
	uint32_t me = (uint32_t)getpid();

	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < RG_TABLE_READERS_MAX; i++) {
			struct rg_table_reg_slot *s = &reg->slot[i];
			uint32_t cur = __atomic_load_n(&s->pid, __ATOMIC_ACQUIRE);

			/* First pass: free slots; second: slots of dead readers. */
			if (pass == 0 ? cur != 0 : (cur == 0 || pid_alive(cur)))
				continue;
			if (!__atomic_compare_exchange_n(&s->pid, &cur, me, false, __ATOMIC_SEQ_CST,
							 __ATOMIC_RELAXED))
				continue;
			__atomic_store_n(&s->generation, generation, __ATOMIC_RELEASE);
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			return i;
		}
	}
	return -ENOSPC;
}

static void reg_release(struct rg_table_reg *reg, int slot)
{
	if (reg && slot >= 0)
		__atomic_store_n(&reg->slot[slot].pid, 0, __ATOMIC_SEQ_CST);
}

/* Map path for a reader; 0 or -errno. */
static int reader_map(const char *path, struct rg_table_map *m, int *slot)
{
	int fd = open(path, O_RDWR | O_CLOEXEC), ret;

	if (fd < 0 && (errno == EACCES || errno == EROFS))
		fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = map_file(m, fd, false);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	/* The mappings stay valid without the descriptor. */
	close(m->fd);
	m->fd = -1;
	*slot = -1;
	if (m->reg) {
		ret = reg_claim(m->reg, m->hdr->generation);
		if (ret < 0) {
			map_release(m);
			return ret;
		}
		*slot = ret;
	}
	return 0;
}

static int reader_switch(struct rg_table *t)
{
	struct rg_table_map nm;
	int slot, ret;

	ret = reader_map(t->path, &nm, &slot);
	if (ret < 0)
		return ret;
	if (nm.hdr->generation <= t->generation) {
		/* Switch published but the rename not yet done. */
		reg_release(nm.reg, slot);
		map_release(&nm);
		return 0;
	}
	reg_release(t->m.reg, t->reg_slot);
	map_release(&t->m);
	t->m = nm;
	t->reg_slot = slot;
	table_bind(t);
	return 1;
}

struct rg_table *rg_table_open_reader(const char *path)
{
	struct rg_table *t;
	char *data = resolve_path(path);
	int ret;

	if (!data)
		return NULL;
	t = table_alloc(data);
	free(data);
	if (!t) {
		errno = ENOMEM;
		return NULL;
	}
	ret = reader_map(t->path, &t->m, &t->reg_slot);
	if (ret < 0) {
		table_free(t);
		errno = -ret;
		return NULL;
	}
	table_bind(t);
	/* Registered first, then the check: the writer either sees the slot
	 * or this reader sees the switch. */
	if (__atomic_load_n(&t->hdr->r.superseded, __ATOMIC_SEQ_CST))
		reader_switch(t);
	return t;
}

int rg_table_reader_quiescent(struct rg_table *t)
{
	int ret;

	if (t->reg_slot >= 0)
		__atomic_store_n(&t->m.reg->slot[t->reg_slot].nb_quiescent, ++t->nb_quiescent,
				 __ATOMIC_RELEASE);
	if (RG_LIKELY(!__atomic_load_n(&t->hdr->r.superseded, __ATOMIC_ACQUIRE)) || t->writer)
		return 0;
	if (t->switch_backoff) {
		t->switch_backoff--;
		return 0;
	}
	ret = reader_switch(t);
	if (ret <= 0)
		t->switch_backoff = RG_TABLE_SWITCH_BACKOFF;
	return ret;
}

int rg_table_reclaim(struct rg_table *t)
{
	struct rg_table_reg *reg = t->old.reg;

	if (!t->old.base)
		return 0;
	for (unsigned i = 0; i < RG_TABLE_READERS_MAX; i++) {
		uint32_t pid = __atomic_load_n(&reg->slot[i].pid, __ATOMIC_SEQ_CST);

		if (!pid)
			continue;
		if (pid_alive(pid))
			return -EAGAIN;
		/* A dead reader's slot: free it for the next one. */
		__atomic_compare_exchange_n(&reg->slot[i].pid, &pid, 0, false, __ATOMIC_SEQ_CST,
					    __ATOMIC_RELAXED);
	}
	map_release(&t->old);
	return 0;
}

int rg_table_grow(struct rg_table *t, uint64_t new_capacity)
{
	struct rg_table_layout l;
	struct rg_table *n;
	struct rg_table_hdr *oh = t->hdr;
	char *next;
	bool huge;
	int ret;

	if (!t->writer)
		return -EPERM;
	if (t->in_batch)
		return -EBUSY;
	if (rg_table_reclaim(t) < 0)
		return -EBUSY;
	if (!new_capacity)
		new_capacity = 2 * (oh->capacity > oh->w.count ? oh->capacity : oh->w.count);
	if (new_capacity < oh->w.count)
		return -ENOSPC;
	ret = layout_size(&l, new_capacity, oh->load_pct, oh->filter_bits_per_slot);
	if (ret < 0)
		return ret;
	l.bfs_max = oh->bfs_max_nodes;
	next = path_with_suffix(t->path, ".next");
	n = next ? table_alloc(next) : NULL;
	if (!n) {
		free(next);
		return -ENOMEM;
	}
	unlink(next);
	ret = file_build(&n->m, next, &l, oh->generation + 1,
			 !(oh->flags & RG_TABLE_F_HUGETLB), &huge);
	if (ret < 0)
		goto out_free;
	table_bind(n);
	n->writer = true;
	ret = writer_alloc(n);
	if (ret < 0)
		goto out_unlink;
	n->full_valid = true;
	n->hdr->r.ledger_pos = oh->r.ledger_pos;
	n->hdr->r.key_epoch[0] = oh->r.key_epoch[0];
	n->hdr->r.key_epoch[1] = oh->r.key_epoch[1];
	n->hdr->w.nb_displacements = oh->w.nb_displacements;
	n->hdr->w.nb_failed_inserts = oh->w.nb_failed_inserts;
	n->hdr->w.nb_repairs = oh->w.nb_repairs;
	for (uint64_t bi = 0; bi < t->nb_buckets + RG_TABLE_STASH_BUCKETS; bi++) {
		struct rg_table_bucket *b = bi < t->nb_buckets
						    ? &t->buckets[bi]
						    : &oh->stash[bi - t->nb_buckets];

		if (bi + 4 < t->nb_buckets)
			__builtin_prefetch(&t->buckets[bi + 4], 0, 0);
		for (unsigned s = 0; s < RG_TABLE_SLOTS; s++) {
			uint64_t b1, b2;

			if (!(b->meta >> s & 1))
				continue;
			fp_buckets(b->fp[s][0], n->nb_buckets, &b1, &b2);
			ret = insert_new(n, b->fp[s][0], b->fp[s][1], b1, b2, b->val[s]);
			if (ret < 0)
				goto out_unlink;
		}
	}
	n->hdr->w.op = RG_TABLE_WOP_NONE;
	file_seal(&n->m);
	/* Publish, then rename: a crash in between is rolled forward by the
	 * next writer (finish_switch). */
	__atomic_store_n(&oh->r.superseded, n->hdr->generation, __ATOMIC_SEQ_CST);
	if (rename(next, t->path) < 0) {
		ret = -errno;
		__atomic_store_n(&oh->r.superseded, 0, __ATOMIC_SEQ_CST);
		goto out_unlink;
	}
	free(next);
	/* The old generation waits for its readers; its flock goes now. */
	t->old = t->m;
	close(t->old.fd);
	t->old.fd = -1;
	t->old_generation = t->generation;
	t->m = n->m;
	cnt_free(t);
	free(t->bfs);
	free(t->full);
	t->cnt = n->cnt;
	t->cnt_bytes = n->cnt_bytes;
	t->cnt_valid = n->cnt_valid;
	t->full = n->full;
	t->full_valid = n->full_valid;
	t->bfs = n->bfs;
	t->bfs_max = n->bfs_max;
	free(n->path);
	free(n);
	table_bind(t);
	__atomic_store_n(&t->hdr->w.pid, (uint32_t)getpid(), __ATOMIC_RELAXED);
	rg_table_reclaim(t);
	return 0;
out_unlink:
	unlink(next);
out_free:
	free(next);
	table_free(n);
	return ret;
}

void rg_table_close(struct rg_table *t)
{
	if (!t)
		return;
	if (t->writer) {
		if (t->in_batch) {
			/* Uncommitted: leave the ledger position as it was. */
			__atomic_store_n(&t->hdr->r.batch, 0, __ATOMIC_RELEASE);
			__atomic_store_n(&t->hdr->w.op, RG_TABLE_WOP_NONE, __ATOMIC_RELEASE);
		}
		__atomic_store_n(&t->hdr->w.pid, 0, __ATOMIC_RELEASE);
	} else {
		reg_release(t->m.reg, t->reg_slot);
	}
	table_free(t);
}
