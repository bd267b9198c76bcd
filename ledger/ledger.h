/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The consortium ledger (docs/ledger.md): one signed, append-only log per
 * member, each an RFC 9162 Merkle tree over its entries, kept in RocksDB.
 *
 * A log grows by blocks.  A block (header signed by its member, chained to
 * the previous block by hash) and everything derived from it (tree nodes,
 * state, the log's head) go to disk in one synced WriteBatch; only then is
 * the signed checkpoint (member, size, root, time) written that covers it.
 * So a crash never loses an acknowledged block and never leaves half of
 * one.  Every block, local or pulled from a bundle, goes through the same
 * checks: membership, signature, chain, canonical entries, rights.
 *
 * Threads: a struct ledger belongs to one thread at a time.  One process
 * at a time may open a directory (RocksDB's LOCK file).
 */
#ifndef LEDGER_H
#define LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/fp.h"

#define LEDGER_HASH_BYTES 32
#define LEDGER_ID_BYTES 8 /* member id: first 8 bytes of SHA-256(public key) */
#define LEDGER_PK_BYTES 32
#define LEDGER_SK_BYTES 64
#define LEDGER_SIG_BYTES 64
#define LEDGER_NAME_MAX 32	 /* member and list names, bytes */
#define LEDGER_REASON_MAX 32	 /* reason code, bytes */
#define LEDGER_PAYLOAD_MAX 2048	 /* entry payload, bytes */
#define LEDGER_ENTRY_FIXED 61	 /* entry bytes without reason and payload */
#define LEDGER_ENTRY_MAX (LEDGER_ENTRY_FIXED + LEDGER_REASON_MAX + LEDGER_PAYLOAD_MAX)
#define LEDGER_LISTS_MAX 16
#define LEDGER_MEMBERS_MAX 256
#define LEDGER_BLOCK_MAX 65536	 /* entries per block */
#define LEDGER_BLOCK_DEFAULT 4096
#define LEDGER_BLOCK_BYTES 201	 /* block header with its signature */
#define LEDGER_BLOCK_SIGNED 137	 /* bytes the block signature covers */
#define LEDGER_CHECKPOINT_BYTES 157
#define LEDGER_CHECKPOINT_SIGNED 93
#define LEDGER_PROOF_MAX 64	 /* hashes in a proof */
#define LEDGER_ERR_MAX 256

enum ledger_op {
	LEDGER_OP_ADD = 1,
	LEDGER_OP_REVOKE = 2,
	LEDGER_OP_HIT = 3,	 /* hit receipt: salted commitment in the payload */
	LEDGER_OP_KEY_EPOCH = 4, /* this member now fingerprints under an epoch */
	LEDGER_OP_MEMBERSHIP = 5,/* a membership change co-signed by a majority */
	LEDGER_OP_MAX
};

enum ledger_severity {
	LEDGER_SEV_LOW = 0,	/* action hint 0: record only */
	LEDGER_SEV_MEDIUM = 1,	/* action hint 1: monitor */
	LEDGER_SEV_HIGH = 2,	/* action hint 2: decline */
};

/* One entry, decoded.  The canonical bytes (ledger_entry_encode) are what
 * is hashed, signed over and stored; this struct is never serialised. */
struct ledger_entry {
	uint8_t op;	   /* enum ledger_op */
	uint8_t list;	   /* list bit, 0..LEDGER_LISTS_MAX-1 (0 when unused) */
	uint8_t kind;	   /* enum rg_kind (0 when unused) */
	uint8_t severity;  /* enum ledger_severity */
	uint8_t action;	   /* action hint, 0..15 */
	struct rg_fp fp;   /* fingerprint (zero when unused) */
	uint32_t key_epoch;/* epoch of the key fp was computed under */
	uint64_t expiry_s; /* unix seconds, 0 = never */
	uint64_t time_ms;  /* unix milliseconds when made */
	uint8_t ref_member[LEDGER_ID_BYTES]; /* REVOKE, HIT: whose entry */
	uint64_t ref_pos;  /* REVOKE, HIT: its position in that log */
	uint8_t reason_len;
	char reason[LEDGER_REASON_MAX]; /* [A-Za-z0-9_.-], not NUL-terminated */
	uint16_t payload_len;
	uint8_t payload[LEDGER_PAYLOAD_MAX];
};

const char *ledger_op_name(unsigned op);
int ledger_op_from_name(const char *name); /* op or -EINVAL */
const char *ledger_severity_name(unsigned sev);
int ledger_severity_from_name(const char *name); /* severity or -EINVAL */
/* The documented action hint of a severity (low 0, medium 1, high 2). */
unsigned ledger_severity_action(unsigned sev);

/* Canonical encoding into out (LEDGER_ENTRY_MAX bytes).  Returns the length
 * or -EINVAL if a field is out of range. */
int ledger_entry_encode(const struct ledger_entry *e, uint8_t *out);
/* Strict decoding: any byte sequence that is not exactly the encoding of
 * some entry is refused, so decode then encode gives the input back.
 * Returns 0 or -EBADMSG with why (static string) set. */
int ledger_entry_decode(const uint8_t *in, size_t len, struct ledger_entry *e, const char **why);

/* ---- hashing (RFC 9162) ---- */

void ledger_sha256(const void *in, size_t len, uint8_t out[LEDGER_HASH_BYTES]);
void ledger_leaf_hash(const uint8_t *entry, size_t len, uint8_t out[LEDGER_HASH_BYTES]);
void ledger_node_hash(const uint8_t l[LEDGER_HASH_BYTES], const uint8_t r[LEDGER_HASH_BYTES],
		      uint8_t out[LEDGER_HASH_BYTES]);
/* Hash of the empty tree, SHA-256 of nothing. */
void ledger_empty_root(uint8_t out[LEDGER_HASH_BYTES]);

/* The right edge of a growing tree: one perfect subtree per set bit of
 * size, largest first.  Appending is O(1) amortised; root is O(log n). */
struct ledger_frontier {
	uint64_t size;
	unsigned nb;
	uint8_t h[64][LEDGER_HASH_BYTES];
};

/* Append a leaf hash.  cb (may be NULL) is told of every perfect subtree
 * completed (level >= 1, index at that level, hash) */
void ledger_frontier_push(struct ledger_frontier *f, const uint8_t leaf[LEDGER_HASH_BYTES],
			  void (*cb)(void *arg, unsigned level, uint64_t index,
				     const uint8_t h[LEDGER_HASH_BYTES]),
			  void *arg);
void ledger_frontier_root(const struct ledger_frontier *f, uint8_t out[LEDGER_HASH_BYTES]);
/* Root of leaves[0..n) (test and block helper; n may be 0). */
void ledger_merkle_root(const uint8_t (*leaves)[LEDGER_HASH_BYTES], uint64_t n,
			uint8_t out[LEDGER_HASH_BYTES]);

/* Source of subtree hashes for building proofs: hash of the perfect
 * subtree at level (2^level leaves) and index.  Returns 0 or -errno. */
typedef int (*ledger_node_fn)(void *arg, unsigned level, uint64_t index,
			      uint8_t out[LEDGER_HASH_BYTES]);

/* RFC 9162 2.1.3.1 inclusion proof of leaf m in a tree of n, into
 * path[0..*nb).  Returns 0, -EINVAL (m >= n) or the node source's error. */
int ledger_inclusion_proof(ledger_node_fn fn, void *arg, uint64_t m, uint64_t n,
			   uint8_t (*path)[LEDGER_HASH_BYTES], unsigned *nb);
/* RFC 9162 2.1.4.1 consistency proof between sizes m and n (0 < m <= n). */
int ledger_consistency_proof(ledger_node_fn fn, void *arg, uint64_t m, uint64_t n,
			     uint8_t (*path)[LEDGER_HASH_BYTES], unsigned *nb);
/* RFC 9162 2.1.3.2 and 2.1.4.2 verification: true only if the proof holds. */
bool ledger_inclusion_verify(uint64_t m, uint64_t n, const uint8_t leaf[LEDGER_HASH_BYTES],
			     const uint8_t (*path)[LEDGER_HASH_BYTES], unsigned nb,
			     const uint8_t root[LEDGER_HASH_BYTES]);
bool ledger_consistency_verify(uint64_t m, uint64_t n, const uint8_t r1[LEDGER_HASH_BYTES],
			       const uint8_t r2[LEDGER_HASH_BYTES],
			       const uint8_t (*path)[LEDGER_HASH_BYTES], unsigned nb);

/* ---- blocks and checkpoints ---- */

struct ledger_block {
	uint8_t member[LEDGER_ID_BYTES];
	uint64_t height;    /* 0 for the first block of a log */
	uint64_t first_pos; /* position of its first entry in the log */
	uint32_t nb_entries;/* 1..LEDGER_BLOCK_MAX */
	uint8_t prev[LEDGER_HASH_BYTES]; /* hash of the previous block; consortium id at 0 */
	uint8_t entries_root[LEDGER_HASH_BYTES]; /* RFC 9162 root of the block's entries */
	uint8_t tree_root[LEDGER_HASH_BYTES];	  /* root of the log after the block */
	uint64_t time_ms;
	uint8_t sig[LEDGER_SIG_BYTES];
};

struct ledger_checkpoint {
	uint8_t member[LEDGER_ID_BYTES];
	uint8_t consortium[LEDGER_HASH_BYTES];
	uint64_t size;
	uint8_t root[LEDGER_HASH_BYTES];
	uint64_t time_ms;
	uint8_t sig[LEDGER_SIG_BYTES];
};

void ledger_block_encode(const struct ledger_block *b, uint8_t out[LEDGER_BLOCK_BYTES]);
int ledger_block_decode(const uint8_t *in, size_t len, struct ledger_block *b);
void ledger_block_hash(const struct ledger_block *b, uint8_t out[LEDGER_HASH_BYTES]);
void ledger_checkpoint_encode(const struct ledger_checkpoint *c,
			      uint8_t out[LEDGER_CHECKPOINT_BYTES]);
int ledger_checkpoint_decode(const uint8_t *in, size_t len, struct ledger_checkpoint *c);
/* Sign with a 64-byte Ed25519 secret key; verify: true only on a valid
 * signature (any non-zero result of libsodium is a rejection). */
void ledger_block_sign(struct ledger_block *b, const uint8_t *sk);
bool ledger_block_sig_ok(const struct ledger_block *b, const uint8_t pk[LEDGER_PK_BYTES]);
void ledger_checkpoint_sign(struct ledger_checkpoint *c, const uint8_t *sk);
bool ledger_checkpoint_sig_ok(const struct ledger_checkpoint *c,
			      const uint8_t pk[LEDGER_PK_BYTES]);

/* ---- members, genesis, membership ---- */

struct ledger_member {
	char name[LEDGER_NAME_MAX + 1];
	uint8_t id[LEDGER_ID_BYTES];
	uint8_t pk[LEDGER_PK_BYTES];
	bool active; /* false once removed; its index is never reused */
};

struct ledger_list_def {
	char name[LEDGER_NAME_MAX + 1]; /* "" = bit unused */
	bool luhn;			 /* PANs on this list must pass Luhn */
};

/* The consortium: the genesis file plus membership changes applied. */
struct ledger_consortium {
	char name[LEDGER_NAME_MAX + 1];
	uint8_t id[LEDGER_HASH_BYTES]; /* SHA-256 of the genesis file bytes */
	struct ledger_list_def lists[LEDGER_LISTS_MAX];
	unsigned nb_members;
	uint32_t membership_seq; /* membership changes applied */
	struct ledger_member members[LEDGER_MEMBERS_MAX];
};

void ledger_member_id(const uint8_t pk[LEDGER_PK_BYTES], uint8_t id[LEDGER_ID_BYTES]);
/* Index of member id in c, or -ENOENT. */
int ledger_member_find(const struct ledger_consortium *c, const uint8_t id[LEDGER_ID_BYTES]);
int ledger_member_find_name(const struct ledger_consortium *c, const char *name);
/* List bit of name, or -ENOENT. */
int ledger_list_find(const struct ledger_consortium *c, const char *name);

/* Parse a genesis file (JSON, docs/ledger.md).  Returns 0 or -errno with
 * err set. */
int ledger_genesis_parse(const char *text, size_t len, struct ledger_consortium *c, char *err,
			 size_t cap);
int ledger_genesis_load(const char *path, struct ledger_consortium *c, char *err, size_t cap);
/* Write a genesis file for members[0..n) with the four standard lists. */
int ledger_genesis_write(const char *path, const char *consortium,
			 const struct ledger_member *members, unsigned n, char *err, size_t cap);

/* Identity files: member.key (secret, 0600, refused when looser) and
 * member.pub.  The secret key is returned in sodium_malloc memory: release
 * it with ledger_identity_free (wipes). */
struct ledger_identity {
	char name[LEDGER_NAME_MAX + 1];
	uint8_t pk[LEDGER_PK_BYTES];
	uint8_t sk[LEDGER_SK_BYTES];
};
int ledger_identity_generate(const char *dir, const char *name, char *err, size_t cap);
struct ledger_identity *ledger_identity_load(const char *dir, char *err, size_t cap);
void ledger_identity_free(struct ledger_identity *id);
int ledger_pub_load(const char *dir, struct ledger_member *m, char *err, size_t cap);

/*
 * Membership change (payload of a MEMBERSHIP entry):
 *   0 action u8 (1 add, 2 remove) | 1 seq u32 (changes before it + 1) |
 *   5 name_len u8 | name | pk 32 | nb_sigs u8 | nb_sigs x (signer index u16, sig 64)
 * Each signature is over "RGMEMBER" || consortium id || bytes 0..pk end.
 * It takes effect when more than half of the active members at seq-1 signed.
 */
struct ledger_membership_change {
	uint8_t action; /* 1 add, 2 remove */
	uint32_t seq;
	char name[LEDGER_NAME_MAX + 1];
	uint8_t pk[LEDGER_PK_BYTES];
	unsigned nb_sigs;
	uint16_t signer[LEDGER_MEMBERS_MAX];
	uint8_t sig[16][LEDGER_SIG_BYTES];
};
#define LEDGER_MEMBERSHIP_SIGS_MAX 16
int ledger_membership_encode(const struct ledger_membership_change *m, uint8_t *out, size_t cap);
int ledger_membership_decode(const uint8_t *in, size_t len, struct ledger_membership_change *m);
/* Add the signature of signer (index in c) with sk. 0 or -errno. */
int ledger_membership_sign(const struct ledger_consortium *c,
			   struct ledger_membership_change *m, unsigned signer, const uint8_t *sk);
/* 0 if m may be applied to c now, else -EPERM/-EINVAL with why set. */
int ledger_membership_check(const struct ledger_consortium *c,
			    const struct ledger_membership_change *m, const char **why);
int ledger_membership_apply(struct ledger_consortium *c, const struct ledger_membership_change *m);

/* ---- the ledger directory ---- */

struct ledger;

enum ledger_open_flags {
	LEDGER_OPEN_WRITE = 1,	 /* load member.key: may append to the own log */
	LEDGER_OPEN_NO_FP = 2,	 /* do not load fp.key */
};

/* Open the ledger in dir (creating the database on first use).  Returns
 * NULL with errno set and err filled. */
struct ledger *ledger_open(const char *dir, unsigned flags, char *err, size_t cap);
void ledger_close(struct ledger *l);

const struct ledger_consortium *ledger_consortium(const struct ledger *l);
/* Index of the own member in the consortium (-1 when not a member). */
int ledger_self(const struct ledger *l);
const struct rg_fp_key *ledger_fp_key(const struct ledger *l);

/* What is held of one member's log. */
struct ledger_head {
	uint64_t size;	    /* entries */
	uint64_t nb_blocks;
	uint8_t last_block[LEDGER_HASH_BYTES]; /* hash of the last block (consortium id if none) */
	uint8_t root[LEDGER_HASH_BYTES];
	struct ledger_frontier frontier;
};
int ledger_head_get(struct ledger *l, unsigned member, struct ledger_head *h);
/* Latest checkpoint of member (size 0 and -ENOENT when none). */
int ledger_checkpoint_latest(struct ledger *l, unsigned member, struct ledger_checkpoint *c);
int ledger_checkpoint_get(struct ledger *l, unsigned member, uint64_t size,
			  struct ledger_checkpoint *c);

/* Entry at pos of member's log: canonical bytes into buf (LEDGER_ENTRY_MAX),
 * length into *len, stored leaf hash into leaf (may be NULL).  0, -ENOENT. */
int ledger_entry_get(struct ledger *l, unsigned member, uint64_t pos, uint8_t *buf,
		     size_t *len, uint8_t leaf[LEDGER_HASH_BYTES]);
int ledger_block_get(struct ledger *l, unsigned member, uint64_t height, struct ledger_block *b);

/* State of (fp, list) as contributed by member: 0 with *pos and *expiry set if
 * held (added, not revoked), -ENOENT otherwise. */
int ledger_state_get(struct ledger *l, const struct rg_fp *fp, unsigned list, unsigned member,
		     uint64_t *pos, uint64_t *expiry_s);

/* Append entries[0..n) (canonical bytes, lens[i] each) to the own log as
 * one block: checks, one synced WriteBatch, then a signed checkpoint.
 * Returns 0 or -errno with err set (why the first refused entry was
 * refused, with its index).  *blk (may be NULL) receives the block. */
int ledger_append(struct ledger *l, const uint8_t *const *entries, const uint16_t *lens,
		  unsigned n, struct ledger_block *blk, char *err, size_t cap);

/* Take in one block of member's log (from a bundle): the same checks as
 * ledger_append plus membership, signature and chain.  Returns 0, 1 when
 * the block was already held (identical), or -errno: -EPERM (refused, err
 * says why), -EEXIST (a different block at that height: a fork; the
 * evidence is kept), -EAGAIN (blocks missing before it). */
int ledger_apply_block(struct ledger *l, const struct ledger_block *b,
		       const uint8_t *const *entries, const uint16_t *lens, char *err, size_t cap);
/* Store a checkpoint of another member (signature and root checked).
 * 0, 1 already held, -EPERM refused, -EEXIST fork (evidence kept), -EAGAIN
 * (not a size we hold). */
int ledger_store_checkpoint(struct ledger *l, const struct ledger_checkpoint *c, char *err,
			    size_t cap);
/* Sign and store a checkpoint of the own log at its current size if the
 * latest one is older (after a crash between block and checkpoint). */
int ledger_checkpoint_now(struct ledger *l, char *err, size_t cap);

/* Node source for proofs over member's stored tree (arg = ctx). */
struct ledger_node_ctx {
	struct ledger *l;
	unsigned member;
};
int ledger_node_get(void *arg, unsigned level, uint64_t index, uint8_t out[LEDGER_HASH_BYTES]);

/* Full audit of every log held (docs/ledger.md).  Returns 0 when clean,
 * -EBADMSG with report set (naming the member and first bad position) when
 * not, other -errno on I/O errors.  *nb_entries gets the entries checked. */
int ledger_verify(struct ledger *l, char *report, size_t cap, uint64_t *nb_entries);

/* Iterate the derived state: cb per (fp, list, member) held; stops on a
 * non-zero return, which is returned. */
typedef int (*ledger_state_fn)(void *arg, const struct rg_fp *fp, unsigned list,
			       unsigned member, uint64_t pos, uint64_t expiry_s, unsigned action,
			       unsigned kind);
int ledger_state_iterate(struct ledger *l, ledger_state_fn cb, void *arg);

/* Build the shared table file from the state at now_s (entries expired at
 * now_s left out).  Returns entries written or -errno with err. */
struct ledger_table_stats {
	uint64_t nb_fps;     /* fingerprints in the table */
	uint64_t nb_state;   /* (fp, list, member) held */
	uint64_t nb_expired; /* left out as expired */
	uint64_t file_bytes;
	bool hugetlb;
};
int ledger_table_build(struct ledger *l, const char *path, uint64_t now_s,
		       struct ledger_table_stats *st, char *err, size_t cap);

/* ---- import ---- */

struct ledger_import_opts {
	bool strict;	       /* any bad line: import nothing */
	unsigned block_size;   /* entries per block, 0 = LEDGER_BLOCK_DEFAULT */
	uint64_t now_s;	       /* 0 = the clock */
	/* Told after each committed block (acknowledged: durable and covered
	 * by a checkpoint). */
	void (*on_block)(void *arg, const struct ledger_block *b, uint64_t bytes_done);
	/* Told of each bad line (never holding a raw PAN). */
	void (*on_bad)(void *arg, uint64_t line, const char *why);
	void *arg;
};

struct ledger_import_stats {
	uint64_t nb_lines;
	uint64_t nb_imported;
	uint64_t nb_bad;
	uint64_t nb_blocks;
};

/* One parsed import line, normalised. */
struct ledger_import_row {
	int list;
	unsigned kind;
	char value[64];	/* normalised identifier (never stored) */
	unsigned value_len;
	int severity;
	uint64_t expiry_s;
	char reason[LEDGER_REASON_MAX];
	unsigned reason_len;
};

/* Column layout of a CSV file, from its header line. */
struct ledger_csv_cols {
	int list, kind, value, severity, expiry, reason; /* column index or -1 */
	unsigned nb;
};
int ledger_csv_header(const char *line, size_t len, struct ledger_csv_cols *cols, char *why,
		      size_t cap);
/* Parse one CSV or JSONL line (no newline) into row.  Returns 0, 1 for a
 * blank line, or -EINVAL with why set (raw values masked). */
int ledger_csv_line(const struct ledger_consortium *c, const struct ledger_csv_cols *cols,
		    const char *line, size_t len, uint64_t now_s, struct ledger_import_row *row,
		    char *why, size_t cap);
int ledger_jsonl_line(const struct ledger_consortium *c, const char *line, size_t len,
		      uint64_t now_s, struct ledger_import_row *row, char *why, size_t cap);
/* Parse an expiry: "" (never), unix seconds, YYYY-MM-DD (end of that day,
 * UTC) or YYYY-MM-DDTHH:MM:SSZ.  0 or -EINVAL. */
int ledger_parse_time(const char *s, size_t len, uint64_t *out_s);

/* Import path (CSV with header, or JSONL; told apart by the first byte). */
int ledger_import(struct ledger *l, const char *path, const struct ledger_import_opts *o,
		  struct ledger_import_stats *st, char *err, size_t cap);

/* ---- bundles ---- */

/*
 * Bundle file: "RGBUNDL1" | consortium id 32 | records | end record.
 * Record: type u8 | length u32 | body.  Types: 1 block (header, then per
 * entry u16 length and bytes), 2 checkpoint, 0xff end (body: SHA-256 of
 * every byte before the end record).
 */
struct ledger_bundle_cb {
	int (*block)(void *arg, const struct ledger_block *b, const uint8_t *const *entries,
		     const uint16_t *lens);
	int (*checkpoint)(void *arg, const struct ledger_checkpoint *c);
	void *arg;
};
/* Parse buf: framing, hashes, block and entry encodings (no signature or
 * membership check: that is the callbacks' job).  Returns 0, -EBADMSG with
 * why set, or a callback's non-zero return. */
int ledger_bundle_parse(const uint8_t *buf, size_t len, uint8_t consortium[LEDGER_HASH_BYTES],
			const struct ledger_bundle_cb *cb, char *why, size_t cap);
/* Write member's blocks holding positions >= since, and its checkpoints. */
int ledger_bundle_write(struct ledger *l, const char *path, const unsigned *members,
			unsigned nb_members, uint64_t since, uint64_t *nb_blocks, char *err,
			size_t cap);
struct ledger_pull_stats {
	uint64_t nb_blocks_new;
	uint64_t nb_blocks_held;
	uint64_t nb_entries_new;
	uint64_t nb_checkpoints_new;
};
int ledger_pull(struct ledger *l, const char *path, struct ledger_pull_stats *st, char *err,
		size_t cap);

/* ---- helpers ---- */

void ledger_hex(const uint8_t *in, size_t len, char *out); /* 2*len+1 */
int ledger_unhex(const char *in, size_t len, uint8_t *out, size_t out_len); /* 0/-EINVAL */
uint64_t ledger_now_ms(void);
/* "2026-11-29T09:30:00.123Z" into out (32 bytes). */
void ledger_time_str(uint64_t ms, char *out, size_t cap);

#endif
