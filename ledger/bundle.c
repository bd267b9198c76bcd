/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Bundles: a member's signed blocks and checkpoints in one file, the
 * offline way to share a log and the payload sync carries (docs/ledger.md,
 * "Bundle").
 *
 *   "RGBUNDL2" | consortium id (32) | record* | end record
 *   record     = type u8 | length u32 (big-endian) | body[length]
 *   type 1     block: header (201 bytes) | nb_entries x (len u16 | entry)
 *   type 2     checkpoint: its signed note (at most 512 bytes)
 *   type 0xff  end: SHA-256 of every byte before this record; nothing after
 *
 * The parser checks the whole framing and the end hash before it hands
 * any record to the caller, so a truncated or damaged file is refused
 * whole; signatures, membership and chain are checked by the taker
 * (ledger_txn_block, as ledger_apply_block), exactly as for sync.  A pull
 * stages every block and checkpoint of the bundle in one transaction and
 * writes all of it or nothing.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "ledger/internal.h"
#include "ledger/ledger.h"
#include "ledger/store.h"

#define BUNDLE_MAGIC "RGBUNDL2"
#define BUNDLE_MAGIC_V1 "RGBUNDL1" /* binary checkpoints: no longer read */
#define BUNDLE_HDR (8 + LEDGER_HASH_BYTES)

enum { REC_BLOCK = 1, REC_CHECKPOINT = 2, REC_END = 0xff };

static int parse_pass(const uint8_t *buf, size_t len, const struct ledger_bundle_cb *cb,
		      const uint8_t **ptrs, uint16_t *lens, char *why, size_t cap)
{
	size_t off = BUNDLE_HDR;
	uint64_t nb_rec = 0;

	for (;;) {
		uint8_t type;
		uint32_t rlen;
		const uint8_t *body;

		if (len - off < 5) {
			ledger_err(why, cap, "bundle truncated (no end record)");
			return -EBADMSG;
		}
		type = buf[off];
		rlen = ledger_get32(buf + off + 1);
		if (rlen > len - off - 5) {
			ledger_err(why, cap, "record %llu at byte %zu runs past the end of the file",
				   (unsigned long long)nb_rec, off);
			return -EBADMSG;
		}
		body = buf + off + 5;
		if (type == REC_END) {
			uint8_t h[LEDGER_HASH_BYTES];

			if (rlen != LEDGER_HASH_BYTES || off + 5 + rlen != len) {
				ledger_err(why, cap, "end record malformed or bytes after it");
				return -EBADMSG;
			}
			ledger_sha256(buf, off, h);
			if (memcmp(h, body, LEDGER_HASH_BYTES) != 0) {
				ledger_err(why, cap, "bundle hash does not match its contents");
				return -EBADMSG;
			}
			return 0;
		}
		if (type == REC_BLOCK) {
			struct ledger_block b;
			size_t p = LEDGER_BLOCK_BYTES;

			if (rlen < LEDGER_BLOCK_BYTES || ledger_block_decode(body, LEDGER_BLOCK_BYTES, &b) != 0) {
				ledger_err(why, cap, "record %llu: malformed block header",
					   (unsigned long long)nb_rec);
				return -EBADMSG;
			}
			for (uint32_t i = 0; i < b.nb_entries; i++) {
				struct ledger_entry e;
				const char *w = NULL;
				uint16_t el;

				if (rlen - p < 2 || (el = ledger_get16(body + p), rlen - p - 2 < el)) {
					ledger_err(why, cap, "record %llu: block cut inside entry %u",
						   (unsigned long long)nb_rec, i);
					return -EBADMSG;
				}
				if (ledger_entry_decode(body + p + 2, el, &e, &w) != 0) {
					ledger_err(why, cap, "record %llu: entry %u: %s",
						   (unsigned long long)nb_rec, i, w);
					return -EBADMSG;
				}
				ptrs[i] = body + p + 2;
				lens[i] = el;
				p += 2 + (size_t)el;
			}
			if (p != rlen) {
				ledger_err(why, cap, "record %llu: bytes after the block's entries",
					   (unsigned long long)nb_rec);
				return -EBADMSG;
			}
			if (cb != NULL && cb->block != NULL) {
				int rc = cb->block(cb->arg, &b, ptrs, lens);

				if (rc != 0)
					return rc;
			}
		} else if (type == REC_CHECKPOINT) {
			struct ledger_checkpoint c;
			const char *w = "";

			if (rlen > LEDGER_CHECKPOINT_MAX ||
			    ledger_checkpoint_decode((const char *)body, rlen, &c, &w) != 0) {
				ledger_err(why, cap, "record %llu: malformed checkpoint: %s",
					   (unsigned long long)nb_rec,
					   rlen > LEDGER_CHECKPOINT_MAX ? "longer than 512 bytes" : w);
				return -EBADMSG;
			}
			if (cb != NULL && cb->checkpoint != NULL) {
				int rc = cb->checkpoint(cb->arg, &c);

				if (rc != 0)
					return rc;
			}
		} else {
			ledger_err(why, cap, "record %llu: unknown type %u",
				   (unsigned long long)nb_rec, type);
			return -EBADMSG;
		}
		off += 5 + (size_t)rlen;
		nb_rec++;
	}
}

int ledger_bundle_parse(const uint8_t *buf, size_t len, uint8_t consortium[LEDGER_HASH_BYTES],
			const struct ledger_bundle_cb *cb, char *why, size_t cap)
{
	const uint8_t **ptrs;
	uint16_t *lens;
	int rc;

	if (len >= BUNDLE_HDR && memcmp(buf, BUNDLE_MAGIC_V1, 8) == 0) {
		ledger_err(why, cap, "bundle of format 1 (binary checkpoints), which is no longer "
			   "read: make it again with this version's riskgate-ledger bundle");
		return -EBADMSG;
	}
	if (len < BUNDLE_HDR || memcmp(buf, BUNDLE_MAGIC, 8) != 0) {
		ledger_err(why, cap, "not a riskgate bundle (bad magic)");
		return -EBADMSG;
	}
	memcpy(consortium, buf + 8, LEDGER_HASH_BYTES);
	ptrs = malloc(LEDGER_BLOCK_MAX * sizeof(*ptrs));
	lens = malloc(LEDGER_BLOCK_MAX * sizeof(*lens));
	if (ptrs == NULL || lens == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	rc = parse_pass(buf, len, NULL, ptrs, lens, why, cap);
	if (rc == 0 && cb != NULL)
		rc = parse_pass(buf, len, cb, ptrs, lens, why, cap);
out:
	free(ptrs);
	free(lens);
	return rc;
}

struct writer {
	FILE *f;
	SHA256_CTX h;
	int err;
};

static void w_bytes(struct writer *w, const void *p, size_t n)
{
	if (w->err == 0 && fwrite(p, 1, n, w->f) != n)
		w->err = -EIO;
	SHA256_Update(&w->h, p, n);
}

static void w_rec(struct writer *w, uint8_t type, uint32_t len)
{
	uint8_t hdr[5];

	hdr[0] = type;
	ledger_put32(hdr + 1, len);
	w_bytes(w, hdr, sizeof(hdr));
}

static int write_member(struct ledger *l, struct writer *w, unsigned m, uint64_t since,
			uint64_t *nb_blocks)
{
	const uint8_t *id = l->cons.members[m].id;
	uint8_t key[16], hdr[LEDGER_BLOCK_BYTES];
	rocksdb_iterator_t *ib, *ie, *ic;
	int rc = 0;

	ib = rocksdb_create_iterator_cf(l->db, l->ro, l->cf[LEDGER_CF_BLOCKS]);
	ie = rocksdb_create_iterator_cf(l->db, l->ro, l->cf[LEDGER_CF_ENTRIES]);
	ledger_key_member_u64(key, id, 0);
	for (rocksdb_iter_seek(ib, (const char *)key, sizeof(key)); rocksdb_iter_valid(ib);
	     rocksdb_iter_next(ib)) {
		size_t klen, vlen;
		const char *k = rocksdb_iter_key(ib, &klen);
		const uint8_t *v = (const uint8_t *)rocksdb_iter_value(ib, &vlen);
		struct ledger_block b;
		uint32_t body = LEDGER_BLOCK_BYTES;

		if (klen != 16 || memcmp(k, id, LEDGER_ID_BYTES) != 0)
			break;
		if (ledger_block_decode(v, vlen, &b) != 0) {
			rc = -EBADMSG;
			break;
		}
		if (b.first_pos + b.nb_entries <= since)
			continue;
		/* Sizes first: the record length precedes the entries. */
		ledger_key_member_u64(key, id, b.first_pos);
		rocksdb_iter_seek(ie, (const char *)key, sizeof(key));
		for (uint32_t i = 0; i < b.nb_entries; i++, rocksdb_iter_next(ie)) {
			size_t el;

			if (!rocksdb_iter_valid(ie)) {
				rc = -EBADMSG;
				goto out;
			}
			rocksdb_iter_value(ie, &el);
			body += 2 + (uint32_t)(el - LEDGER_HASH_BYTES);
		}
		w_rec(w, REC_BLOCK, body);
		ledger_block_encode(&b, hdr);
		w_bytes(w, hdr, sizeof(hdr));
		rocksdb_iter_seek(ie, (const char *)key, sizeof(key));
		for (uint32_t i = 0; i < b.nb_entries; i++, rocksdb_iter_next(ie)) {
			size_t el;
			const char *ev = rocksdb_iter_value(ie, &el);
			uint8_t lb[2];

			ledger_put16(lb, (uint16_t)(el - LEDGER_HASH_BYTES));
			w_bytes(w, lb, 2);
			w_bytes(w, ev, el - LEDGER_HASH_BYTES);
		}
		(*nb_blocks)++;
	}
	ic = rocksdb_create_iterator_cf(l->db, l->ro, l->cf[LEDGER_CF_CHECKPOINTS]);
	ledger_key_member_u64(key, id, since);
	for (rocksdb_iter_seek(ic, (const char *)key, sizeof(key)); rocksdb_iter_valid(ic);
	     rocksdb_iter_next(ic)) {
		size_t klen, vlen;
		const char *k = rocksdb_iter_key(ic, &klen);
		const char *v = rocksdb_iter_value(ic, &vlen);

		if (klen != 16 || memcmp(k, id, LEDGER_ID_BYTES) != 0)
			break;
		w_rec(w, REC_CHECKPOINT, (uint32_t)vlen);
		w_bytes(w, v, vlen);
	}
	rocksdb_iter_destroy(ic);
out:
	rocksdb_iter_destroy(ib);
	rocksdb_iter_destroy(ie);
	return rc;
}

int ledger_bundle_write(struct ledger *l, const char *path, const unsigned *members,
			unsigned nb_members, uint64_t since, uint64_t *nb_blocks, char *err,
			size_t cap)
{
	struct writer w = { 0 };
	uint8_t h[LEDGER_HASH_BYTES];
	int rc = 0;

	*nb_blocks = 0;
	w.f = fopen(path, "wb");
	if (w.f == NULL) {
		rc = -errno;
		ledger_err(err, cap, "%s: %s", path, strerror(errno));
		return rc;
	}
	SHA256_Init(&w.h);
	w_bytes(&w, BUNDLE_MAGIC, 8);
	w_bytes(&w, l->cons.id, LEDGER_HASH_BYTES);
	for (unsigned i = 0; i < nb_members && rc == 0; i++)
		rc = write_member(l, &w, members[i], since, nb_blocks);
	SHA256_Final(h, &w.h);
	w_rec(&w, REC_END, LEDGER_HASH_BYTES);
	if (w.err == 0 && fwrite(h, 1, sizeof(h), w.f) != sizeof(h))
		w.err = -EIO;
	if (rc == 0)
		rc = w.err;
	if (fflush(w.f) != 0 || fsync(fileno(w.f)) != 0)
		rc = rc ? rc : -errno;
	fclose(w.f);
	if (rc != 0) {
		ledger_err(err, cap, "%s: writing the bundle: %s", path, strerror(-rc));
		unlink(path);
	}
	return rc;
}

struct pull_ctx {
	struct ledger_txn *t;
	struct ledger_pull_stats *st;
	struct ledger_checkpoint *cps; /* judged once every block is staged */
	size_t nb_cps, cap_cps;
	char *err;
	size_t cap;
};

/* One more refusal with evidence into the stats. */
static void pull_bad(struct ledger_pull_stats *st, unsigned member, bool block, uint64_t at,
		     unsigned problem)
{
	st->nb_evidence++;
	if (st->nb_bad < LEDGER_PULL_BAD_MAX)
		st->bad[st->nb_bad++] = (struct ledger_pull_bad){ member, block, at, problem };
}

static int pull_block(void *arg, const struct ledger_block *b, const uint8_t *const *entries,
		      const uint16_t *lens)
{
	struct pull_ctx *p = arg;
	int rc = ledger_txn_block(p->t, b, entries, lens, p->err, p->cap);

	if (rc == 1) {
		p->st->nb_blocks_held++;
		return 0;
	}
	if (rc == 0) {
		p->st->nb_blocks_new++;
		p->st->nb_entries_new += b->nb_entries;
	} else if (rc == -EEXIST) {
		pull_bad(p->st, (unsigned)ledger_member_find(ledger_txn_cons(p->t), b->member), true,
			 b->height, LEDGER_EVIDENCE_FORK);
	}
	return rc;
}

static int pull_checkpoint(void *arg, const struct ledger_checkpoint *c)
{
	struct pull_ctx *p = arg;

	if (p->nb_cps == p->cap_cps) {
		size_t n = p->cap_cps ? 2 * p->cap_cps : 64;
		struct ledger_checkpoint *np = realloc(p->cps, n * sizeof(*np));

		if (np == NULL) {
			ledger_err(p->err, p->cap, "out of memory");
			return -ENOMEM;
		}
		p->cps = np;
		p->cap_cps = n;
	}
	p->cps[p->nb_cps++] = *c;
	return 0;
}

/* The bundle's checkpoints against the logs as its blocks leave them: 0,
 * -EEXIST when some were provably bad (each kept and named; the first
 * one's message in err), or the first other refusal. */
static int pull_judge(struct ledger *l, struct pull_ctx *p)
{
	char why[LEDGER_ERR_MAX];
	int rc = 0;

	for (size_t i = 0; i < p->nb_cps; i++) {
		const struct ledger_checkpoint *c = &p->cps[i];
		unsigned problem;
		int r = ledger_txn_checkpoint(p->t, c, &problem, why, sizeof(why));

		if (r == 1) {
			p->st->nb_checkpoints_held++;
			continue;
		}
		if (r == 0) {
			p->st->nb_checkpoints_new++;
			continue;
		}
		if (r == -EAGAIN) {
			/* the bundle brings the member's log only this far */
			problem = LEDGER_EVIDENCE_BEYOND;
			ledger_keep_bad_checkpoint(l, c, problem, NULL);
			snprintf(why + strlen(why), sizeof(why) - strlen(why),
				 " and the bundle's blocks (evidence kept)");
			r = -EEXIST;
		}
		if (r != -EEXIST) {
			ledger_err(p->err, p->cap, "%s", why);
			return r;
		}
		pull_bad(p->st, (unsigned)ledger_checkpoint_member(ledger_txn_cons(p->t), c),
			 false, c->size, problem);
		if (rc == 0)
			ledger_err(p->err, p->cap, "%s", why);
		rc = -EEXIST;
	}
	return rc;
}

int ledger_pull(struct ledger *l, const char *path, struct ledger_pull_stats *st, char *err,
		size_t cap)
{
	struct pull_ctx p = { .st = st, .err = err, .cap = cap };
	struct ledger_bundle_cb cb = { pull_block, pull_checkpoint, &p };
	uint8_t cons[LEDGER_HASH_BYTES];
	struct stat sb;
	char why[LEDGER_ERR_MAX] = "";
	void *map;
	int fd, rc;

	memset(st, 0, sizeof(*st));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) != 0) {
		rc = -errno;
		ledger_err(err, cap, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	if (sb.st_size < BUNDLE_HDR) {
		close(fd);
		ledger_err(err, cap, "%s: not a riskgate bundle (too short)", path);
		return -EBADMSG;
	}
	map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		rc = -errno;
		ledger_err(err, cap, "%s: mmap: %s", path, strerror(errno));
		return rc;
	}
	if (memcmp((const uint8_t *)map + 8, l->cons.id, LEDGER_HASH_BYTES) != 0 &&
	    memcmp(map, BUNDLE_MAGIC, 8) == 0) {
		ledger_err(err, cap, "%s: bundle of another consortium (genesis differs)", path);
		rc = -EPERM;
		goto out;
	}
	p.t = ledger_txn_begin(l, true);
	if (p.t == NULL) {
		ledger_err(err, cap, "out of memory");
		rc = -ENOMEM;
		goto out;
	}
	/* blocks staged in bundle order, then the checkpoints judged against
	 * the logs they leave, then everything in one write or nothing */
	rc = ledger_bundle_parse(map, (size_t)sb.st_size, cons, &cb, why, sizeof(why));
	if (rc == -EBADMSG && why[0] != '\0')
		ledger_err(err, cap, "%s: %s", path, why);
	if (rc == 0)
		rc = pull_judge(l, &p);
	if (rc == 0)
		rc = ledger_txn_commit(p.t, err, cap);
	ledger_txn_free(p.t);
	free(p.cps);
	if (rc != 0) {
		st->nb_blocks_new = 0;
		st->nb_entries_new = 0;
		st->nb_checkpoints_new = 0;
	}
out:
	munmap(map, (size_t)sb.st_size);
	return rc;
}
