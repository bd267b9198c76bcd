/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A member's log as C2SP tlog-tiles (docs/sync.md): hash tiles of height 8
 * and entry bundles, and their paths.
 *
 * The tile at level L, index N holds the hashes of the perfect subtrees of
 * 2^(8L) leaves at indices N*256 .. N*256+W-1 (level 0: the leaf hashes);
 * the entry bundle N holds the entries of leaves N*256 .. N*256+W-1, each
 * as a big-endian u16 length and its bytes.  A tile of width 256 is full
 * and never changes; a partial one (W < 256) is the right edge of a tree.
 * Both are read from what the ledger stores: level-0 hashes are computed
 * from the entries read (never the stored leaf hash), level 8L hashes are
 * the stored subtree hashes (levels that are multiples of 4 are stored).
 *
 * Paths come from peers: the parser takes exactly the canonical spelling
 * (three-digit elements, "x" on all but the last, no leading ".p/0").
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rocksdb/c.h>

#include "ledger/internal.h"
#include "ledger/ledger.h"
#include "ledger/store.h"

_Static_assert(LEDGER_TILE_HEIGHT % LEDGER_NODE_STRIDE == 0,
	       "the levels of tiles must be levels whose subtree hashes are stored");

int ledger_tile_index_path(uint64_t index, unsigned width, char *out, size_t cap)
{
	char elems[64];
	uint64_t n = index;
	size_t off = sizeof(elems) - 1;
	int len;

	/* N in groups of three digits, from the right; "x" on all but the last */
	elems[off] = '\0';
	for (bool last = true;; last = false) {
		char g[8];

		snprintf(g, sizeof(g), "%s%03u%s", last ? "" : "x", (unsigned)(n % 1000),
			 last ? "" : "/");
		off -= strlen(g);
		memcpy(elems + off, g, strlen(g));
		n /= 1000;
		if (n == 0)
			break;
	}
	len = snprintf(out, cap, "%s", elems + off);
	if (len >= 0 && (size_t)len < cap && width < LEDGER_TILE_WIDTH)
		len += snprintf(out + len, cap - (size_t)len, ".p/%u", width);
	return len < 0 || (size_t)len >= cap ? -ENOSPC : len;
}

int ledger_tile_path(const struct ledger_tile_ref *t, char *out, size_t cap)
{
	int len = t->level < 0 ? snprintf(out, cap, "tile/entries/")
			       : snprintf(out, cap, "tile/%d/", t->level);
	int n;

	if (len < 0 || (size_t)len >= cap)
		return -ENOSPC;
	n = ledger_tile_index_path(t->index, t->width, out + len, cap - (size_t)len);
	return n < 0 ? n : len + n;
}

int ledger_tile_parse(const char *path, size_t len, struct ledger_tile_ref *t, const char **why)
{
	const char *p = path, *end = path + len;

	memset(t, 0, sizeof(*t));
	*why = "not a tile path (tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>])";
	if (len < 5 || memcmp(p, "tile/", 5) != 0)
		return -ENOENT;
	p += 5;
	if ((size_t)(end - p) > 8 && memcmp(p, "entries/", 8) == 0) {
		t->level = -1;
		p += 8;
	} else if (p < end && *p >= '0' && *p <= '9') {
		unsigned lv = (unsigned)(*p++ - '0');

		if (p < end && *p >= '0' && *p <= '9' && lv != 0)
			lv = lv * 10 + (unsigned)(*p++ - '0');
		if (p >= end || *p != '/' || lv >= LEDGER_TILE_LEVELS) {
			*why = "tile level is not 0..7 without leading zeros";
			return -EINVAL;
		}
		t->level = (int)lv;
		p++;
	} else {
		return -ENOENT;
	}
	return ledger_tile_index_parse(p, (size_t)(end - p), &t->index, &t->width, why);
}

int ledger_tile_index_parse(const char *in, size_t len, uint64_t *index, unsigned *width,
			    const char **why)
{
	const char *p = in, *end = in + len;
	uint64_t n = 0;

	/* index: ("x" ddd "/")* ddd */
	for (unsigned groups = 0;; groups++) {
		bool more = p < end && *p == 'x';

		if (more)
			p++;
		if (end - p < 3 || p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9' ||
		    p[2] < '0' || p[2] > '9' || groups == 7) {
			*why = "tile index is not written in groups of three digits";
			return -EINVAL;
		}
		n = n * 1000 + (uint64_t)((p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0'));
		p += 3;
		if (more) {
			if (p >= end || *p != '/' || (groups == 0 && n == 0)) {
				*why = "tile index has a leading zero group or a bad separator";
				return -EINVAL;
			}
			p++;
			continue;
		}
		break;
	}
	if (n > UINT64_MAX / LEDGER_TILE_WIDTH) {
		*why = "tile index beyond 2^56";
		return -EINVAL;
	}
	*index = n;
	*width = LEDGER_TILE_WIDTH;
	if (p == end)
		return 0;
	if (end - p < 4 || memcmp(p, ".p/", 3) != 0) {
		*why = "tile path has a bad suffix (want .p/<W>)";
		return -EINVAL;
	}
	p += 3;
	{
		unsigned w = 0;

		if (p[0] == '0' || end - p > 3) {
			*why = "partial tile width is not 1..255";
			return -EINVAL;
		}
		for (; p < end; p++) {
			if (*p < '0' || *p > '9') {
				*why = "partial tile width is not 1..255";
				return -EINVAL;
			}
			w = w * 10 + (unsigned)(*p - '0');
		}
		if (w == 0 || w >= LEDGER_TILE_WIDTH) {
			*why = "partial tile width is not 1..255";
			return -EINVAL;
		}
		*width = w;
	}
	return 0;
}

unsigned ledger_tile_width(int level, uint64_t index, uint64_t size)
{
	uint64_t nodes = size;

	/* complete subtrees of 2^(8L) leaves */
	for (int i = 0; i < (level < 0 ? 0 : level); i++)
		nodes >>= LEDGER_TILE_HEIGHT;
	if (index > nodes / LEDGER_TILE_WIDTH)
		return 0;
	nodes -= index * LEDGER_TILE_WIDTH;
	return nodes >= LEDGER_TILE_WIDTH ? LEDGER_TILE_WIDTH : (unsigned)nodes;
}

int ledger_tile_read(struct ledger *l, unsigned member, const struct ledger_tile_ref *t,
		     uint64_t size, uint8_t *out, size_t cap, size_t *len)
{
	const struct ledger_consortium *cs = ledger_consortium(l);
	rocksdb_iterator_t *it;
	uint8_t key[17];
	uint64_t first;
	size_t off = 0;
	unsigned got = 0;
	int rc = 0;

	*len = 0;
	if (member >= cs->nb_members || t->width == 0 || t->width > LEDGER_TILE_WIDTH ||
	    t->level >= LEDGER_TILE_LEVELS || t->level < -1)
		return -EINVAL;
	if (t->width > ledger_tile_width(t->level, t->index, size))
		return -ENOENT;
	first = t->index * LEDGER_TILE_WIDTH;
	if (t->level <= 0) {
		ledger_key_member_u64(key, cs->members[member].id, first);
		it = rocksdb_create_iterator_cf(l->db, l->ro, l->cf[LEDGER_CF_ENTRIES]);
		rocksdb_iter_seek(it, (const char *)key, 16);
	} else {
		ledger_node_key(key, cs->members[member].id, (unsigned)t->level * LEDGER_TILE_HEIGHT,
				first);
		it = rocksdb_create_iterator_cf(l->db, l->ro, l->cf[LEDGER_CF_NODES]);
		rocksdb_iter_seek(it, (const char *)key, 17);
	}
	for (; got < t->width && rocksdb_iter_valid(it); rocksdb_iter_next(it), got++) {
		size_t klen, vlen;
		const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &klen);
		const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vlen);
		bool match = t->level <= 0 ? klen == 16 && ledger_get64(k + 8) == first + got
				       : klen == 17 && k[8] == key[8] &&
						 ledger_get64(k + 9) == first + got;

		if (!match || memcmp(k, key, LEDGER_ID_BYTES) != 0) {
			rc = -EIO; /* a hole in what the head says is held */
			break;
		}
		if (t->level == 0) {
			if (vlen <= LEDGER_HASH_BYTES || off + LEDGER_HASH_BYTES > cap) {
				rc = vlen <= LEDGER_HASH_BYTES ? -EBADMSG : -ENOSPC;
				break;
			}
			ledger_leaf_hash(v, vlen - LEDGER_HASH_BYTES, out + off);
			off += LEDGER_HASH_BYTES;
		} else if (t->level < 0) {
			size_t el = vlen - LEDGER_HASH_BYTES;

			if (vlen <= LEDGER_HASH_BYTES || el > LEDGER_ENTRY_MAX || off + 2 + el > cap) {
				rc = off + 2 + el > cap ? -ENOSPC : -EBADMSG;
				break;
			}
			ledger_put16(out + off, (uint16_t)el);
			memcpy(out + off + 2, v, el);
			off += 2 + el;
		} else {
			if (vlen != LEDGER_HASH_BYTES || off + LEDGER_HASH_BYTES > cap) {
				rc = vlen != LEDGER_HASH_BYTES ? -EBADMSG : -ENOSPC;
				break;
			}
			memcpy(out + off, v, LEDGER_HASH_BYTES);
			off += LEDGER_HASH_BYTES;
		}
	}
	if (rc == 0 && got < t->width)
		rc = -EIO; /* the head says more is held than is there */
	rocksdb_iter_destroy(it);
	if (rc == 0)
		*len = off;
	return rc;
}

int ledger_blocks_read(struct ledger *l, unsigned member, uint64_t index, unsigned width,
		       uint64_t nb_blocks, uint8_t *out, size_t cap, size_t *len)
{
	const struct ledger_consortium *cs = ledger_consortium(l);
	uint64_t first = index * LEDGER_TILE_WIDTH;
	rocksdb_iterator_t *it;
	uint8_t key[16];
	unsigned got = 0;
	int rc = 0;

	*len = 0;
	if (member >= cs->nb_members || width == 0 || width > LEDGER_TILE_WIDTH)
		return -EINVAL;
	if (width > ledger_tile_width(0, index, nb_blocks))
		return -ENOENT;
	if (cap < (size_t)width * LEDGER_BLOCK_BYTES)
		return -ENOSPC;
	ledger_key_member_u64(key, cs->members[member].id, first);
	it = rocksdb_create_iterator_cf(l->db, l->ro, l->cf[LEDGER_CF_BLOCKS]);
	for (rocksdb_iter_seek(it, (const char *)key, sizeof(key));
	     got < width && rocksdb_iter_valid(it); rocksdb_iter_next(it), got++) {
		size_t klen, vlen;
		const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &klen);
		const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vlen);

		if (klen != 16 || memcmp(k, key, LEDGER_ID_BYTES) != 0 ||
		    ledger_get64(k + 8) != first + got || vlen != LEDGER_BLOCK_BYTES) {
			rc = -EIO;
			break;
		}
		memcpy(out + (size_t)got * LEDGER_BLOCK_BYTES, v, LEDGER_BLOCK_BYTES);
	}
	if (rc == 0 && got < width)
		rc = -EIO;
	rocksdb_iter_destroy(it);
	if (rc == 0)
		*len = (size_t)width * LEDGER_BLOCK_BYTES;
	return rc;
}

int ledger_entry_bundle_parse(const uint8_t *in, size_t len, unsigned width,
			      const uint8_t **ptrs, uint16_t *lens, const char **why)
{
	size_t off = 0;

	for (unsigned i = 0; i < width; i++) {
		uint16_t el;

		if (len - off < 2) {
			*why = "entry bundle ends before its last entry";
			return -EBADMSG;
		}
		el = ledger_get16(in + off);
		if (el == 0 || el > LEDGER_ENTRY_MAX) {
			*why = "entry bundle holds an entry of length 0 or beyond 2125 bytes";
			return -EBADMSG;
		}
		if (len - off - 2 < el) {
			*why = "entry bundle ends inside an entry";
			return -EBADMSG;
		}
		ptrs[i] = in + off + 2;
		lens[i] = el;
		off += 2 + (size_t)el;
	}
	if (off != len) {
		*why = "entry bundle holds bytes after its last entry";
		return -EBADMSG;
	}
	return 0;
}
