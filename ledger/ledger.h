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
#define LEDGER_KEYID_BYTES 4	 /* signed-note key id */
#define LEDGER_ORIGIN_PREFIX "riskgate/" /* origin = prefix consortium "/" member */
#define LEDGER_ORIGIN_MAX 80	 /* "riskgate/" + 32 + "/" + 32 */
#define LEDGER_CHECKPOINT_MAX 512 /* a checkpoint note with its own signature line */
#define LEDGER_NOTE_MAX 8192	 /* any note read from a peer, signatures included */
#define LEDGER_NOTE_SIGS_MAX 32	 /* signature lines in a note */
#define LEDGER_NOTE_SIG_MAX 72	 /* signature bytes after the key id (cosignature: 8 + 64) */
#define LEDGER_KEY_NAME_MAX 96
#define LEDGER_NOTE_ALG_ED25519 0x01 /* signed-note Ed25519 signature */
#define LEDGER_NOTE_ALG_COSIG 0x04   /* tlog-cosignature cosignature/v1 */
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

/* ---- text bound for the ledger (docs/ledger.md, "Text in the ledger") ---- */

/*
 * Whether reason[0..len) may be an entry's reason: NULL, or why not.  At
 * most LEDGER_REASON_MAX characters of [A-Za-z0-9_.-] and no run of
 * RG_MASK_RUN_MIN or more digits (common/ident.h: rg_digit_run_max), which
 * could be a card or account number.  Every path to an entry applies it:
 * the entry encoder and decoder (so pulled entries too), import, add,
 * revoke, riskgated.  The answer is a static string that quotes nothing of
 * the text, the same on every path.  Any thread.
 */
const char *ledger_reason_check(const char *reason, size_t len);
/* The same for a member, list or consortium name (NUL-terminated): 1 to
 * LEDGER_NAME_MAX of [A-Za-z0-9_.-], no such digit run.  NULL or why not
 * (static, quotes nothing). */
const char *ledger_name_check(const char *name);

/*
 * For messages that quote untrusted input (an import field, an argument,
 * a parser's error text): a copy of in[0..len) into out (NUL-terminated,
 * at most cap - 1 bytes), bytes outside printable ASCII as '?', every
 * digit run masked by rg_mask_text.  ledger_mask_value is the same for a
 * value that should be an identifier of kind: PAN and ACCOUNT values, and
 * anything holding 12 or more digits, get rg_ident_mask's whole-value rule
 * first (first 6 and last 4 only), so digits that separators split into
 * short runs do not show either.  Any thread.
 */
void ledger_mask_copy(const char *in, size_t len, char *out, size_t cap);
void ledger_mask_value(unsigned kind, const char *in, size_t len, char *out, size_t cap);

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

/* A checkpoint (C2SP tlog-checkpoint): the signed note
 * "<origin>\n<size>\n<base64 root>\n" + blank line + "— <origin> <sig>",
 * signed with the member's ledger key under the key name <origin>
 * (docs/sync.md).  origin = "riskgate/<consortium>/<member>". */
struct ledger_checkpoint {
	char origin[LEDGER_ORIGIN_MAX + 1];
	uint64_t size;
	uint8_t root[LEDGER_HASH_BYTES];
	uint8_t keyid[LEDGER_KEYID_BYTES]; /* SHA-256(origin "\n" 0x01 pk)[:4] */
	uint8_t sig[LEDGER_SIG_BYTES];	    /* Ed25519 over the note text */
};

void ledger_block_encode(const struct ledger_block *b, uint8_t out[LEDGER_BLOCK_BYTES]);
int ledger_block_decode(const uint8_t *in, size_t len, struct ledger_block *b);
void ledger_block_hash(const struct ledger_block *b, uint8_t out[LEDGER_HASH_BYTES]);
/* Sign with a 64-byte Ed25519 secret key; verify: true only on a valid
 * signature (any non-zero result of libsodium is a rejection). */
void ledger_block_sign(struct ledger_block *b, const uint8_t *sk);
bool ledger_block_sig_ok(const struct ledger_block *b, const uint8_t pk[LEDGER_PK_BYTES]);

/* ---- signed notes, checkpoints, cosignatures (ledger/note.c) ---- */

struct ledger_consortium;

struct ledger_note_sig {
	char name[LEDGER_KEY_NAME_MAX + 1];
	uint8_t keyid[LEDGER_KEYID_BYTES];
	uint8_t sig[LEDGER_NOTE_SIG_MAX]; /* after the key id: 64 (Ed25519), 72 (cosignature) */
	size_t sig_len;
};

struct ledger_note {
	const char *text; /* borrowed from the parsed input: up to and with the
			   * newline before the blank line */
	size_t text_len;
	unsigned nb_sigs;
	struct ledger_note_sig sigs[LEDGER_NOTE_SIGS_MAX];
};

/* Parse a signed note (at most LEDGER_NOTE_MAX bytes).  0, or -EBADMSG,
 * -EMSGSIZE, -E2BIG with *why (static text) saying what was wrong.
 * Verifies nothing. */
int ledger_note_parse(const char *in, size_t len, struct ledger_note *n, const char **why);
/* Key id: SHA-256(name "\n" alg pk)[:4]. */
void ledger_note_keyid(const char *name, uint8_t alg, const uint8_t pk[LEDGER_PK_BYTES],
		       uint8_t out[LEDGER_KEYID_BYTES]);
/* The verifier key text "<name>+<hex id>+<base64(alg pk)>" (Go's note
 * package reads it).  Length, or -ENOSPC. */
int ledger_note_vkey(char *out, size_t cap, const char *name, uint8_t alg,
		     const uint8_t pk[LEDGER_PK_BYTES]);
/* One signature line, newline included.  Length, or -ENOSPC/-EINVAL. */
int ledger_note_sig_line(char *out, size_t cap, const char *name,
			 const uint8_t keyid[LEDGER_KEYID_BYTES], const uint8_t *sig,
			 size_t sig_len);

/* origin of member's log: "riskgate/<consortium>/<member>".  0, -ENOENT,
 * -ENOSPC. */
int ledger_origin(const struct ledger_consortium *c, unsigned member, char *out, size_t cap);
/* The member whose origin this is, or -ENOENT. */
int ledger_origin_member(const struct ledger_consortium *c, const char *origin);
/* The note text (three lines).  Length, or -ENOSPC. */
int ledger_checkpoint_body(const struct ledger_checkpoint *c, char *out, size_t cap);
/* The note: text, blank line, the origin's signature line.  Length
 * (< LEDGER_CHECKPOINT_MAX with cap that large), or -ENOSPC. */
int ledger_checkpoint_encode(const struct ledger_checkpoint *c, char *out, size_t cap);
/* Parse the three lines of a checkpoint text (exact: no leading zeros,
 * canonical base64, no extension lines).  0 or -EBADMSG with *why. */
int ledger_checkpoint_parse_body(const char *text, size_t len, struct ledger_checkpoint *c,
				 const char **why);
/* Parse a checkpoint note: its text, and the one signature line named as
 * its origin with 64 signature bytes; other lines (cosignatures) are
 * skipped.  Checks no signature.  0 or -errno with *why (why may be NULL). */
int ledger_checkpoint_decode(const char *in, size_t len, struct ledger_checkpoint *c,
			     const char **why);
/* Sign with a 64-byte Ed25519 secret key (seed || public key); c->origin,
 * size and root set.  Verify: key id and signature; true only when valid. */
void ledger_checkpoint_sign(struct ledger_checkpoint *c, const uint8_t *sk);
bool ledger_checkpoint_sig_ok(const struct ledger_checkpoint *c,
			      const uint8_t pk[LEDGER_PK_BYTES]);
/* Member index of c's origin in cons, or -ENOENT. */
int ledger_checkpoint_member(const struct ledger_consortium *cons,
			     const struct ledger_checkpoint *c);
/* A cosignature/v1 line by witness name (key sk) at time_s over the
 * checkpoint text.  Length, or -errno. */
int ledger_cosign(const char *name, const uint8_t *sk, uint64_t time_s, const char *text,
		  size_t text_len, char *line, size_t cap);
/* Whether s is a valid cosignature/v1 by pk over text; *time_s (may be
 * NULL) gets its time. */
bool ledger_cosig_ok(const struct ledger_note_sig *s, const uint8_t pk[LEDGER_PK_BYTES],
		     const char *text, size_t text_len, uint64_t *time_s);

/* ---- tiles (ledger/tile.c; C2SP tlog-tiles, docs/sync.md) ---- */

#define LEDGER_TILE_HEIGHT 8
#define LEDGER_TILE_WIDTH 256				  /* hashes or entries in a full tile */
#define LEDGER_TILE_LEVELS 8				  /* levels 0..7: trees up to 2^64 */
#define LEDGER_TILE_BYTES (LEDGER_TILE_WIDTH * LEDGER_HASH_BYTES) /* a full hash tile */
#define LEDGER_BUNDLE_BYTES_MAX (LEDGER_TILE_WIDTH * (2 + LEDGER_ENTRY_MAX)) /* an entry bundle */
#define LEDGER_TILE_PATH_MAX 64

struct ledger_tile_ref {
	int level;	/* 0..7 hash tiles, -1 the entry bundle */
	uint64_t index; /* N */
	unsigned width; /* 1..256; 256 = full */
};

/* "tile/<L>/<N>[.p/<W>]" or "tile/entries/<N>[.p/<W>]".  Length or
 * -ENOSPC. */
int ledger_tile_path(const struct ledger_tile_ref *t, char *out, size_t cap);
/* Parse such a path (exactly the canonical spelling).  0, -ENOENT (not a
 * tile path), -EINVAL (a malformed one), with *why. */
int ledger_tile_parse(const char *path, size_t len, struct ledger_tile_ref *t, const char **why);
/* The "<N>[.p/<W>]" part alone (also used for block headers).  Length,
 * or -ENOSPC; 0, or -EINVAL with *why. */
int ledger_tile_index_path(uint64_t index, unsigned width, char *out, size_t cap);
int ledger_tile_index_parse(const char *in, size_t len, uint64_t *index, unsigned *width,
			    const char **why);
/* Hashes (or entries) a tree of size holds in tile (level, index): 0..256. */
unsigned ledger_tile_width(int level, uint64_t index, uint64_t size);

struct ledger;
/* Read tile t of member's log, which holds size entries (a tile beyond
 * it is -ENOENT): hashes (32 x width) or the entry bundle into out (cap
 * bytes; LEDGER_TILE_BYTES or LEDGER_BUNDLE_BYTES_MAX suffice), *len set.
 * 0, -ENOENT, -EINVAL, -ENOSPC, -EIO (the store lacks what the head
 * promises), -EBADMSG. */
int ledger_tile_read(struct ledger *l, unsigned member, const struct ledger_tile_ref *t,
		     uint64_t size, uint8_t *out, size_t cap, size_t *len);
/* Split an entry bundle of width entries (from a peer): ptrs[i], lens[i]
 * point into in.  0, or -EBADMSG with *why.  Entries are not decoded. */
int ledger_entry_bundle_parse(const uint8_t *in, size_t len, unsigned width,
			      const uint8_t **ptrs, uint16_t *lens, const char **why);
/* The signed headers of member's blocks index*256 .. index*256+width-1
 * (LEDGER_BLOCK_BYTES each) of a log of nb_blocks blocks: what a peer
 * needs besides the entry bundles to take the blocks in.  Same returns. */
int ledger_blocks_read(struct ledger *l, unsigned member, uint64_t index, unsigned width,
		       uint64_t nb_blocks, uint8_t *out, size_t cap, size_t *len);

/* ---- members, genesis, membership ---- */

struct ledger_member {
	char name[LEDGER_NAME_MAX + 1];
	uint8_t id[LEDGER_ID_BYTES];
	uint8_t pk[LEDGER_PK_BYTES];	 /* ledger key: signs blocks, checkpoints */
	uint8_t tls_pk[LEDGER_PK_BYTES]; /* TLS key (Ed25519): pinned by peers */
	bool has_tls;			 /* false: tls_pk unknown (all zero) */
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
/* Index of the member whose TLS key is tls_pk, or -ENOENT. */
int ledger_member_find_tls(const struct ledger_consortium *c,
			   const uint8_t tls_pk[LEDGER_PK_BYTES]);
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

/* Identity files: member.key (secret, 0600, refused when looser),
 * member.pub (name, public key and, when there is one, the TLS key) and
 * tls.key/tls.crt (ledger_tls_generate).  The secret key is returned in
 * sodium_malloc memory: release it with ledger_identity_free (wipes).
 * ledger_identity_generate makes all four files: 0 or -errno (-EEXIST when
 * one exists), with nothing left behind on failure. */
struct ledger_identity {
	char name[LEDGER_NAME_MAX + 1];
	uint8_t pk[LEDGER_PK_BYTES];
	uint8_t sk[LEDGER_SK_BYTES];
};
int ledger_identity_generate(const char *dir, const char *name, char *err, size_t cap);
struct ledger_identity *ledger_identity_load(const char *dir, char *err, size_t cap);
void ledger_identity_free(struct ledger_identity *id);
/* member.pub of dir into m (active, has_tls when it lists a TLS key). */
int ledger_pub_load(const char *dir, struct ledger_member *m, char *err, size_t cap);
/* For a directory made before TLS keys: create tls.key and tls.crt and add
 * the key to member.pub (replaced by rename).  0 with tls_pk set, -EEXIST
 * when member.pub already lists a TLS key or tls.key exists, or -errno;
 * err set on failure, nothing left behind. */
int ledger_identity_add_tls(const char *dir, uint8_t tls_pk[LEDGER_PK_BYTES], char *err,
			    size_t cap);

/*
 * TLS keys (ledger/tlskey.c).  Members' daemons talk HTTPS with mutual TLS
 * 1.3, and a peer is known by the TLS key its membership lists (pinned, no
 * CA).  That key is separate from the ledger key: the ledger key signs what
 * lasts forever, the TLS key only authenticates connections.
 *
 *   DIR/tls.key  Ed25519 private key, PKCS#8 PEM, mode 0600 (refused looser)
 *   DIR/tls.crt  self-signed X.509 v3 certificate for it: CN and DNS SAN
 *                the member name, CA:FALSE, digitalSignature,
 *                serverAuth + clientAuth, valid from 1 h ago for 20 years
 */
#define LEDGER_TLS_PIN_MAX 64 /* "sha256//" + 44 base64 characters + NUL */
/* Create DIR/tls.key and DIR/tls.crt for member name.  0 with pk (the raw
 * public key) set; -EEXIST when either exists; -errno otherwise, err set
 * and nothing left behind.  The private key is wiped on every path. */
int ledger_tls_generate(const char *dir, const char *name, uint8_t pk[LEDGER_PK_BYTES], char *err,
			size_t cap);
/* The raw public key of DIR/tls.crt, after checking that it is Ed25519 and
 * self-signed, and that DIR/tls.key (a regular file that only its owner may
 * access) holds its private key.  0, or -errno with err set (-EPERM: mode
 * too open; -EKEYREJECTED: key and certificate do not match). */
int ledger_tls_load_pub(const char *dir, uint8_t pk[LEDGER_PK_BYTES], char *err, size_t cap);
/* The pin of TLS key pk in curl's CURLOPT_PINNEDPUBLICKEY form:
 *   "sha256//" base64(SHA-256(SubjectPublicKeyInfo DER))
 * where the SPKI DER of an Ed25519 key is 302a300506032b6570032100 || pk
 * (RFC 8410).  out is NUL-terminated, 52 characters. */
void ledger_tls_pin(const uint8_t pk[LEDGER_PK_BYTES], char out[LEDGER_TLS_PIN_MAX]);

/*
 * Membership change (payload of a MEMBERSHIP entry):
 *   0 action u8 (1 add, 2 remove) | 1 seq u32 (changes before it + 1) |
 *   5 name_len u8 | name | pk 32 | tls_pk 32 | nb_sigs u8 |
 *   nb_sigs x (signer index u16, sig 64)
 * tls_pk is all zero for a remove (the codec refuses anything else); an add
 * must carry one that is not zero, differs from pk and from every member's
 * TLS key (ledger_membership_check).  Each signature is over
 * "RGMEMBER" || consortium id || bytes 0..tls_pk end.  It takes effect when
 * more than half of the active members at seq-1 signed.
 */
struct ledger_membership_change {
	uint8_t action; /* 1 add, 2 remove */
	uint32_t seq;
	char name[LEDGER_NAME_MAX + 1];
	uint8_t pk[LEDGER_PK_BYTES];
	uint8_t tls_pk[LEDGER_PK_BYTES]; /* add: the new member's TLS key */
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
	LEDGER_OPEN_READ_ONLY = 4, /* read only: writes nothing to the directory
				    * (no WAL, no table file, no flush); not with
				    * LEDGER_OPEN_WRITE */
	LEDGER_OPEN_JOIN = 8,	   /* with LEDGER_OPEN_WRITE: the key may not be a
				    * member yet (ledger_self -1); it becomes one
				    * when a membership change taken in lists it */
};

/* Open the ledger in dir (creating the database on first use, unless read
 * only).  Returns NULL with errno set and err filled. */
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

/* Told after a block of any log is durable (ledger_append, ledger_apply_block;
 * not the blocks of a pull, which the caller follows by a full pass) with
 * its entries (borrowed until return), and after a checkpoint is stored
 * (the own ones after their block; another member's by
 * ledger_store_checkpoint).  Callbacks may read the ledger, not write. */
struct ledger_hook {
	void (*block)(void *arg, unsigned member, const struct ledger_block *b,
		      const uint8_t *const *entries, const uint16_t *lens);
	void (*checkpoint)(void *arg, unsigned member, const struct ledger_checkpoint *c);
	void *arg;
};
void ledger_set_hook(struct ledger *l, const struct ledger_hook *h);

/* Take in one block of member's log (from a bundle): the same checks as
 * ledger_append plus membership, signature and chain.  Returns 0, 1 when
 * the block was already held (identical), or -errno: -EPERM (refused, err
 * says why), -EEXIST (a different block at that height: a fork; the
 * evidence is kept), -EAGAIN (blocks missing before it). */
int ledger_apply_block(struct ledger *l, const struct ledger_block *b,
		       const uint8_t *const *entries, const uint16_t *lens, char *err, size_t cap);
/* Take in nb consecutive blocks of one log (their entries one after the
 * other in entries/lens) in one synced write: each block checked as by
 * ledger_apply_block, seeing the ones before it.  *nb_held blocks at the
 * start were held already; the next *nb_new are new and written.  0, or
 * the first refusal's -errno with err (the blocks before it are written:
 * each is whole and checked).  The hook is told of each new block. */
int ledger_apply_blocks(struct ledger *l, const struct ledger_block *b, unsigned nb,
			const uint8_t *const *entries, const uint16_t *lens, unsigned *nb_held,
			unsigned *nb_new, char *err, size_t cap);
/* Store a checkpoint of another member (signature and root checked).
 * 0, 1 already held (or size 0 with the empty tree's root), -EPERM
 * refused, -EEXIST provably bad (a fork, a root that is not the log's at
 * that size, size 0 with another root: evidence kept), -EAGAIN (beyond
 * the entries held). */
int ledger_store_checkpoint(struct ledger *l, const struct ledger_checkpoint *c, char *err,
			    size_t cap);

/* What evidence records (docs/ledger.md, "Evidence"). */
enum ledger_evidence_problem {
	LEDGER_EVIDENCE_FORK = 1,	/* two different signed blocks or heads at one height or size */
	LEDGER_EVIDENCE_EMPTY_ROOT = 2, /* a head of size 0 whose root is not the empty tree's */
	LEDGER_EVIDENCE_BEYOND = 3,	/* a head beyond the log that came with it */
	LEDGER_EVIDENCE_ROOT = 4,	/* a head whose root is not the log's at that size */
	LEDGER_EVIDENCE_MAX
};
/* Keep two signed objects of member's log that contradict each other
 * (object: enum ledger_evidence_object; at: the size or height) as fork
 * evidence, synced.  Best effort. */
void ledger_keep_fork(struct ledger *l, unsigned member, uint64_t at, unsigned object,
		      const void *a, size_t alen, const void *b, size_t blen);
/* Whether a and b, received from anyone, prove a fork on their own: two
 * checkpoint notes of one member's log (its origin, its key) for one size
 * with different roots, or two different block headers of one member at
 * one height, each signed by that member.  0 with *member and *at set, or
 * -EBADMSG with *why. */
int ledger_fork_check(const struct ledger_consortium *cs, unsigned object, const void *a,
		      size_t alen, const void *b, size_t blen, unsigned *member, uint64_t *at,
		      const char **why);
/* "fork", "empty_root", "beyond", "root"; NULL for another value. */
const char *ledger_evidence_name(unsigned problem);

enum ledger_evidence_object {
	LEDGER_EVIDENCE_BLOCK = 1,	/* block headers (LEDGER_BLOCK_BYTES each) */
	LEDGER_EVIDENCE_CHECKPOINT = 2, /* checkpoint notes */
};

struct ledger_evidence {
	unsigned problem;		     /* enum ledger_evidence_problem */
	unsigned object;		     /* enum ledger_evidence_object */
	int member;			     /* index, -1 if not a member */
	uint8_t member_id[LEDGER_ID_BYTES];
	uint64_t at;			     /* block height (fork of blocks) or tree size */
	const uint8_t *a, *b;		     /* borrowed until the callback returns */
	size_t alen, blen;		     /* fork: a and b the two signed objects; otherwise a
					      * the checkpoint, b the log's root at that size
					      * when known (blen 0 when not) */
};
typedef int (*ledger_evidence_fn)(void *arg, const struct ledger_evidence *ev);
/* Every evidence record kept, in key order; a non-zero return of cb stops
 * and is returned.  0, cb's return or -EIO. */
int ledger_evidence_iterate(struct ledger *l, ledger_evidence_fn cb, void *arg);
/* Witness state (ledger/witness.c): the checkpoint of member's log this
 * member last cosigned.  get: 0, -ENOENT (none yet), -EBADMSG.  put: one
 * synced write; 0 or -errno with err. */
int ledger_witness_get(struct ledger *l, unsigned member, struct ledger_checkpoint *c);
int ledger_witness_put(struct ledger *l, unsigned member, const struct ledger_checkpoint *c,
		       char *err, size_t cap);
/* A cosignature/v1 line over a checkpoint text by this member, as a
 * witness under its own origin's name, with its ledger key (which never
 * leaves the library).  Length, or -EPERM (opened without the key), or
 * -errno. */
int ledger_cosign_own(struct ledger *l, uint64_t time_s, const char *text, size_t text_len,
		      char *line, size_t cap);
/* Hand the entries and state memtables to RocksDB's background flush:
 * a reader of what was taken in (tiles, entry bundles, iterators) then no
 * longer sorts the unflushed entries on every open.  After a burst of
 * appends (an import, a sync catch-up).  Does not wait. */
void ledger_memtables_release(struct ledger *l);
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
	/* Told after on_block with the block's b->nb_entries entries
	 * (canonical bytes, borrowed until return), e.g. to mirror them. */
	void (*on_entries)(void *arg, const struct ledger_block *b,
			   const uint8_t *const *entries, const uint16_t *lens);
	/* Optional: whether this member holds (fp, list) now, 0 with *pos and
	 * *expiry_s set or -ENOENT, from a mirror of the state the caller
	 * keeps.  Without it the state is read through a RocksDB iterator made
	 * at open, whose first seek sorts the vector memtable: a pause of up
	 * to a few hundred ms that a caller serving others should not take. */
	int (*held)(void *arg, const struct rg_fp *fp, unsigned list, uint64_t *pos,
		    uint64_t *expiry_s);
	void *arg;
};

struct ledger_import_stats {
	uint64_t nb_lines;    /* lines read (this pass, see checking) */
	uint64_t nb_imported; /* entries appended, in whole blocks */
	uint64_t nb_bad;
	uint64_t nb_blocks;
	uint64_t bytes_read;  /* bytes of the file read (this pass) */
	uint64_t total_bytes; /* size of the file when it was opened */
	bool checking;	      /* strict: the first pass, which writes nothing */
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

/*
 * A resumable import of path (CSV with header, or JSONL; told apart by the
 * first byte), for callers that must not block: open, then step until a
 * step returns 0, then close.  The handle borrows l (which must outlive
 * it) and holds the file and (without opts->held) a RocksDB iterator over
 * the state as it was at open: close it before ledger_close.  Between
 * steps the caller may use l for anything else, appends included.  Lines
 * are checked against what the member held at open (iterator), or at the
 * time of the line (opts->held); with the iterator, a line that an entry
 * appended meanwhile duplicates is not refused (the later ADD supersedes).
 *
 * ledger_import_open: NULL with errno set and err filled (no key, a file
 * that cannot be opened or is not a regular file).
 *
 * ledger_import_step: reads at most max_lines lines (0: no bound) and
 * appends at most one block (each block durable and covered by a
 * checkpoint before the step returns).  *st gets the running totals.
 * Returns 1 while work remains, 0 when the import is complete, or -errno
 * with err set; the blocks appended before an error stay, and every later
 * step returns the same error.  Strict: the first pass (st->checking)
 * appends nothing and fails with -EINVAL if any line was bad; -ESTALE means
 * the file changed between the passes.
 */
struct ledger_import;
struct ledger_import *ledger_import_open(struct ledger *l, const char *path,
					 const struct ledger_import_opts *o, char *err, size_t cap);
int ledger_import_step(struct ledger_import *im, unsigned max_lines,
		       struct ledger_import_stats *st, char *err, size_t cap);
/* The running totals, as the last step left them. */
void ledger_import_progress(const struct ledger_import *im, struct ledger_import_stats *st);
void ledger_import_close(struct ledger_import *im);

/* The whole import in one call: steps until done.  0 or -errno with err
 * set; *st holds the totals in both cases. */
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
#define LEDGER_PULL_BAD_MAX 16 /* refusals with evidence named in the stats */
struct ledger_pull_stats {
	uint64_t nb_blocks_new;	    /* taken in (0 unless the pull succeeded) */
	uint64_t nb_blocks_held;
	uint64_t nb_entries_new;
	uint64_t nb_checkpoints_new;
	uint64_t nb_checkpoints_held;
	uint64_t nb_evidence;	    /* evidence records kept by this pull */
	unsigned nb_bad;	    /* of them named in bad[] */
	struct ledger_pull_bad {
		unsigned member;    /* index */
		bool block;	    /* a block (fork) rather than a checkpoint */
		uint64_t at;	    /* height or size */
		unsigned problem;   /* enum ledger_evidence_problem */
	} bad[LEDGER_PULL_BAD_MAX];
};
/*
 * Take in the bundle at path, all of it or nothing (docs/ledger.md,
 * "Pull"): every block is checked as ledger_apply_block checks it, against
 * the logs held and the bundle's blocks before it; then every checkpoint,
 * against the logs as the bundle leaves them; only when all hold is
 * everything written, in one synced WriteBatch.  A provably bad signed
 * object (a fork, a checkpoint of size 0 with another root than the empty
 * tree's, beyond the log the bundle brings, or whose root is not the log's
 * at its size) is kept as evidence and named in st->bad; the bundle is
 * then refused (-EEXIST), the other checkpoints still checked so every one
 * is named.  Returns 0, -EEXIST, or -errno (-EBADMSG a damaged file,
 * -EPERM refused, -EAGAIN blocks missing before the bundle's) with err
 * set; *st holds the counts.
 */
int ledger_pull(struct ledger *l, const char *path, struct ledger_pull_stats *st, char *err,
		size_t cap);

/* ---- hit receipts (ledger/receipt.c) ---- */

/*
 * A hit receipt is a HIT entry: the ADD it refers to (ref member and
 * position; its list, kind, fingerprint and key epoch copied) and, as
 * payload, the commitment SHA-256(salt || detail) under a fresh 16-byte
 * random salt.  The member keeps salt and detail (its openings) in the
 * receipts store, DIR/receipts (docs/ledger.md, "Hit receipts"), so it can
 * open one commitment later without showing the others.
 *
 * Shared receipts go into the own log (one block per batch, so they travel
 * in bundles); local ones stay in the receipts store.  A shared batch is
 * kept as pending openings (one synced write) before its block is
 * appended, and marked once the block is durable; ledger_receipts_recover
 * finishes a batch a crash cut between the two.
 */
#define LEDGER_SALT_BYTES 16
#define LEDGER_DETAIL_MAX 4096 /* bytes of a receipt's detail */
/* A receipt's entry: fixed part and the commitment, no reason. */
#define LEDGER_RECEIPT_ENTRY_BYTES (LEDGER_ENTRY_FIXED + LEDGER_HASH_BYTES)

enum ledger_receipt_mode {
	LEDGER_RECEIPT_SHARED = 1, /* HIT entry in the own signed log */
	LEDGER_RECEIPT_LOCAL = 2,  /* HIT entry in the receipts store only */
};

struct ledger_receipt {
	/* the ADD the hit refers to (ledger_receipt_ref fills these) */
	unsigned member;     /* its contributor's index */
	uint64_t pos;        /* its position in that member's log */
	uint8_t list, kind;
	struct rg_fp fp;
	uint32_t key_epoch;
	uint64_t time_ms;    /* when the hit was seen (entry time); 0 = now */
	const char *detail;  /* what the commitment hides; borrowed until return */
	size_t detail_len;   /* 0..LEDGER_DETAIL_MAX */
	/* filled when the receipt is sealed */
	uint8_t salt[LEDGER_SALT_BYTES];
	uint8_t entry[LEDGER_RECEIPT_ENTRY_BYTES]; /* canonical HIT entry */
	uint64_t seq;        /* receipt number in the store (with a store) */
	uint64_t hit_pos;    /* shared: position of the HIT in the own log */
};

/* SHA-256(salt || detail). */
void ledger_receipt_commitment(const uint8_t salt[LEDGER_SALT_BYTES], const void *detail,
			       size_t len, uint8_t out[LEDGER_HASH_BYTES]);
/* Fill r's reference from the ADD at pos of member's log.  0, or -ENOENT
 * (no ADD held there) with err set. */
int ledger_receipt_ref(struct ledger *l, unsigned member, uint64_t pos,
		       struct ledger_receipt *r, char *err, size_t cap);
/* Seal r[0..n): a fresh random salt each, the commitment, the canonical
 * HIT entry.  0 or -EINVAL (a detail too long, an unknown member, a field
 * out of range) with err naming the receipt. */
int ledger_receipts_seal(struct ledger *l, struct ledger_receipt *r, unsigned n, char *err,
			 size_t cap);

/* The receipts store of a ledger directory (RocksDB in DIR/receipts, mode
 * 0700, created on first use).  Same thread rules as struct ledger; close
 * it before the ledger. */
struct ledger_receipts;
struct ledger_receipts *ledger_receipts_open(struct ledger *l, char *err, size_t cap);
void ledger_receipts_close(struct ledger_receipts *s);

/* Shared: seal r[0..n) (1..LEDGER_BLOCK_MAX) and append them to the own
 * log as ONE block (one signature, one synced write).  With a store (s may
 * be NULL) the openings are kept first, as pending, and marked once the
 * block is durable.  0 (r[i].seq, r[i].hit_pos set; *blk, may be NULL,
 * receives the block) or -errno with err set; on an error nothing of the
 * batch is in the log and its openings are removed. */
int ledger_receipts_append(struct ledger *l, struct ledger_receipts *s, struct ledger_receipt *r,
			   unsigned n, struct ledger_block *blk, char *err, size_t cap);
/* Local: seal r[0..n) and keep them, entries and openings, in the store
 * only, in one synced write.  0 (r[i].seq set) or -errno with err set. */
int ledger_receipts_keep(struct ledger *l, struct ledger_receipts *s, struct ledger_receipt *r,
			 unsigned n, char *err, size_t cap);
/* Finish shared batches a crash cut: pending openings whose entries the
 * own log holds are marked; the others are appended again (new block,
 * same entries).  Needs the ledger open for writing.  0 or -errno with err;
 * *nb_marked and *nb_appended (may be NULL) get the counts. */
int ledger_receipts_recover(struct ledger *l, struct ledger_receipts *s, uint64_t *nb_marked,
			    uint64_t *nb_appended, char *err, size_t cap);

struct ledger_receipts_stats {
	uint64_t nb_receipts;  /* receipts kept (the next number) */
	uint64_t nb_pending;   /* shared receipts not yet known to be in the log */
	uint64_t nb_shared;    /* recorded in the own log */
	uint64_t nb_local;     /* recorded in the store only */
	uint64_t nb_mark_errors; /* marks that failed (recovered at the next open) */
};
void ledger_receipts_stats(const struct ledger_receipts *s, struct ledger_receipts_stats *st);
/* Recorded receipts for the ADDs of member on list, in mode. */
uint64_t ledger_receipts_count(const struct ledger_receipts *s, unsigned member, unsigned list,
			       enum ledger_receipt_mode mode);

/* One receipt as kept in the store, to open it. */
struct ledger_receipt_opening {
	uint64_t seq;
	uint8_t mode;        /* enum ledger_receipt_mode */
	bool pending;        /* shared and not yet known to be in the log */
	uint64_t hit_pos;    /* shared: position of the HIT in the own log */
	uint8_t salt[LEDGER_SALT_BYTES];
	uint8_t entry[LEDGER_RECEIPT_ENTRY_BYTES];
	size_t entry_len;
	char detail[LEDGER_DETAIL_MAX + 1]; /* NUL-terminated */
	size_t detail_len;
};
/* The receipts store's values as read back (docs/ledger.md, "The receipts
 * store"): a receipt record ('R') into o (seq and pending left to the
 * caller), and a shared batch's range ('B', 'H': u64 | n u32, n 1 to
 * LEDGER_BLOCK_MAX) into *val and *n.  0, or -EBADMSG for anything that is
 * not exactly such a value.  Any thread. */
int ledger_receipt_record_decode(const uint8_t *in, size_t len, struct ledger_receipt_opening *o);
int ledger_receipt_range_decode(const uint8_t *in, size_t len, uint64_t *val, unsigned *n);
/* Receipt number seq, or the shared receipt whose HIT is at hit_pos of the
 * own log.  0, -ENOENT, -EBADMSG (a corrupt record), -EIO. */
int ledger_receipt_get(struct ledger_receipts *s, uint64_t seq, struct ledger_receipt_opening *o);
int ledger_receipt_get_pos(struct ledger_receipts *s, uint64_t hit_pos,
			   struct ledger_receipt_opening *o);
/* Check an opening the way an auditor does: its entry is a canonical HIT
 * whose payload is SHA-256(salt || detail); for a shared receipt the own
 * log holds that very entry at hit_pos; the entry it refers to is an ADD
 * of the same list, kind and fingerprint.  0 when all hold, else -EBADMSG
 * (a check failed), -EAGAIN (pending) or -ENOENT (the referred log is not
 * held), with why set; *e (may be NULL) gets the decoded HIT entry. */
int ledger_receipt_check(struct ledger *l, const struct ledger_receipt_opening *o,
			 struct ledger_entry *e, char *why, size_t cap);
/* The opening and its check as one JSON object (jansson; the caller owns
 * it): {"receipt", "mode", "pending", "pos", "member", "ref_member",
 * "ref_pos", "list", "kind", "fp", "time", "salt", "detail", "commitment",
 * "entry", "verified"[, "problem"]}. */
struct json_t;
struct json_t *ledger_receipt_json(struct ledger *l, const struct ledger_receipt_opening *o);

/* Every HIT entry of the logs held: cb gets the recording member, the
 * position, the entry, the index of the member it refers to (-1 if not a
 * member) and whether the reference is an ADD held here of the same list,
 * kind and fingerprint.  A non-zero return of cb stops and is returned. */
typedef int (*ledger_hit_fn)(void *arg, unsigned member, uint64_t pos,
			     const struct ledger_entry *e, int ref_member, bool ref_ok);
int ledger_hits_iterate(struct ledger *l, ledger_hit_fn cb, void *arg);

/* A read view of the derived state, for lookups by fingerprint prefix
 * (hit events carry only the first bytes of a fingerprint).  It sees the
 * state as it was when opened: open a new one after the state changed.
 * One RocksDB iterator: opening one costs a sort of the unflushed state
 * records, a lookup is one seek. */
struct ledger_state_view;
struct ledger_state_view *ledger_state_view_open(struct ledger *l);
void ledger_state_view_close(struct ledger_state_view *v);
/* cb (ledger_state_fn) for each record whose fingerprint starts with
 * prefix[0..len), len 1..RG_FP_BYTES.  0, cb's non-zero return, -EINVAL,
 * -EIO. */
int ledger_state_view_find(struct ledger_state_view *v, const uint8_t *prefix, size_t len,
			   ledger_state_fn cb, void *arg);

/* ---- helpers ---- */

void ledger_hex(const uint8_t *in, size_t len, char *out); /* 2*len+1 */
int ledger_unhex(const char *in, size_t len, uint8_t *out, size_t out_len); /* 0/-EINVAL */
uint64_t ledger_now_ms(void);
/* "2026-11-29T09:30:00.123Z" into out (32 bytes). */
void ledger_time_str(uint64_t ms, char *out, size_t cap);

#endif
