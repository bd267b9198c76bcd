/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The sync service, fetching side (docs/sync.md): for every configured
 * peer and every log of the consortium but the own, poll the peer's
 * checkpoint; when a peer holds more of a log than this member does, catch
 * up from it: block headers (/<origin>/blocks/<N>) and entry bundles
 * (/<origin>/tile/entries/<N>), each block taken in through the ledger's
 * own checks (membership, signature, chain, canonical entries, both roots,
 * rights) exactly as a pulled bundle is, then the checkpoint, then the
 * table.  Whatever a peer sends is data: a bad answer is counted against
 * that peer, named in its last error, and backed off; nothing of a block
 * that fails is written.
 *
 * Transport: libcurl multi in the daemon's loop (its sockets in the
 * daemon's epoll set, its timer checked every tick), HTTPS with TLS 1.3
 * only, this member's TLS key as client certificate (from memory that is
 * wiped), and the peer's TLS key, as its membership entry lists it, pinned
 * (CURLOPT_PINNEDPUBLICKEY): there is no CA.
 *
 * Work per log is one catch-up at a time, from one peer; a batch holds the
 * headers of up to 256 blocks and the entry bundles they span (at most
 * SYNC_BATCH_BUNDLES, or the bundles of one block when it is larger).
 *
 * Loop thread only.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "control/daemon.h"
#include "control/sync_net.h"

#define SYNC_BATCH_BUNDLES 256
#define SYNC_DECODE_CHUNK 512 /* entries decoded at once for the table */
#define SYNC_FLUSH_ENTRIES 16384 /* entries taken in between memtable releases */
#define SYNC_REQUEST_CONNECTIONS 4 /* per peer, besides its feeds */
#define SYNC_CHECKPOINT_MAX LEDGER_NOTE_MAX
#define SYNC_TIMEOUT_MS 30000
#define SYNC_LOW_SPEED_BYTES 1024 /* a peer slower than this ... */
#define SYNC_LOW_SPEED_SEC 10	  /* ... for this long is cut */
#define SYNC_BACKOFF_MIN_MS 500
#define SYNC_BACKOFF_MAX_MS 30000

enum fetch_kind {
	FETCH_CHECKPOINT,
	FETCH_BLOCKS,
	FETCH_BUNDLE,
	FETCH_FEED,
	FETCH_WITNESS,
	FETCH_FORKS,
};

#define SYNC_FORKS_MAX (64u * (5 + 2 * LEDGER_NOTE_MAX))

#define SYNC_FEED_RETRY_MS 1000

struct sync_peer {
	char name[LEDGER_NAME_MAX + 1];
	char url[CTL_URL_MAX];
	char pin[64];	/* "sha256//<base64 of the SPKI hash>" of its TLS key */
	int member;
	bool connected;
	uint64_t backoff_ms, next_poll_ns, last_ok_ns, last_error_ns;
	uint64_t nb_requests, nb_errors, bytes_in, nb_entries_in;
	char last_error[256];
	struct {
		uint64_t size; /* of the peer's latest checkpoint of that log */
		uint64_t ns;   /* when it was seen; 0 never */
		bool polling;
		bool feed;	      /* its push feed is open */
		uint64_t feed_retry_ns; /* not before */
	} seen[LEDGER_MEMBERS_MAX];
	uint64_t nb_feed_blocks;
	uint64_t wit_size;	/* the size of the own log it last cosigned (its 409 says) */
	uint64_t nb_cosigs;	/* cosignatures of the own log received */
	bool forks_polling;
	bool round_failed;	/* an error since the current polling round began */
	bool usable;	/* an active member with a TLS key, at the last tick */
};

struct sync_fetch {
	struct ctl_syncnet *n;
	struct sync_peer *p;
	CURL *easy;
	enum fetch_kind kind;
	unsigned origin;
	uint64_t gen; /* of the catch-up it serves */
	size_t scanned;	     /* feed: body bytes searched for an event's end */
	const char *refused; /* feed: why the reader ended it (static text) */
	uint64_t index;
	unsigned width;
	uint8_t *body;
	size_t len, cap, max;
	char url[CTL_URL_MAX + 128];
	struct sync_fetch *next;
};

/* One batch of one log's catch-up. */
struct sync_catchup {
	bool active;
	uint64_t gen;
	struct sync_peer *from;
	struct ledger_checkpoint cp; /* the peer's checkpoint being caught up to */
	uint64_t base_pos;	     /* first entry position of the batch */
	uint64_t nb_entries;	     /* entries the batch's blocks hold */
	uint8_t *headers;	     /* the batch's block headers */
	unsigned nb_headers;
	uint64_t first_bundle;
	unsigned nb_bundles, nb_bundles_in, nb_started;
	struct sync_fetch *bundles[SYNC_BATCH_BUNDLES * 4]; /* owned */
};

struct sync_sock {
	int fd; /* -1 free */
	uint32_t events;
};

#define SYNC_SOCKS_MAX 4096

struct ctl_syncnet {
	struct ctl_daemon *d;
	CURLM *multi;
	char *key_pem, *crt_pem; /* sodium_malloc'd; the key is wiped at close */
	size_t key_len, crt_len;
	struct sync_peer *peers;
	unsigned nb_peers;
	uint64_t timer_ns; /* curl's timeout, UINT64_MAX none */
	struct sync_fetch *fetches;
	struct sync_catchup cu[LEDGER_MEMBERS_MAX];
	struct sync_sock socks[SYNC_SOCKS_MAX];
	uint64_t behind_ns[LEDGER_MEMBERS_MAX]; /* since when a peer holds more of a log */
	uint64_t start_ns, behind_tick_ns;
	struct ledger_entry *dec; /* SYNC_DECODE_CHUNK entries decoded for the table */
	uint64_t unflushed;	   /* entries taken in since the memtables were released */
	const uint8_t **ptrs; /* LEDGER_BLOCK_MAX: a feed block's entries */
	uint16_t *lens;
	uint64_t nb_blocks_in, nb_entries_in, nb_checkpoints_in, nb_forks;
};

static uint64_t ms_ns(uint64_t ms)
{
	return ms * 1000000ull;
}

static void peer_error(struct sync_peer *p, uint64_t now, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void peer_error(struct sync_peer *p, uint64_t now, const char *fmt, ...)
{
	va_list ap;
	uint64_t ms;

	va_start(ap, fmt);
	vsnprintf(p->last_error, sizeof(p->last_error), fmt, ap);
	va_end(ap);
	rg_mask_text(p->last_error);
	p->nb_errors++;
	p->connected = false;
	/* a round with an error (one request per log: one lie is enough) backs
	 * the peer off once; a round without any lets it go back to normal */
	if (!p->round_failed) {
		p->round_failed = true;
		ms = p->backoff_ms ? p->backoff_ms * 2 : SYNC_BACKOFF_MIN_MS;
		p->backoff_ms = ms > SYNC_BACKOFF_MAX_MS ? SYNC_BACKOFF_MAX_MS : ms;
	}
	p->next_poll_ns = now + ms_ns(p->backoff_ms);
	p->last_error_ns = now;
	ctl_log(CTL_LOG_WARN, "sync: peer %s (%s): %s", p->name, p->url, p->last_error);
}

static void peer_ok(struct sync_peer *p, uint64_t now)
{
	p->connected = true;
	p->last_ok_ns = now;
}

/* Ask p for its checkpoints at once (a gap, "behind"), unless it is being
 * backed off. */
static void poll_soon(struct sync_peer *p)
{
	if (p->backoff_ms == 0)
		p->next_poll_ns = 0;
}

/* The membership as it stands: p is contacted only while it is an active
 * member whose membership lists a TLS key, pinned to that key. */
static bool peer_refresh(const struct ledger_consortium *cs, struct sync_peer *p)
{
	int m = ledger_member_find_name(cs, p->name);

	if (m < 0 || !cs->members[m].active || !cs->members[m].has_tls) {
		if (p->member >= 0 || p->last_error[0] == '\0')
			snprintf(p->last_error, sizeof(p->last_error), "%s",
				 m < 0			      ? "not a member of the consortium"
				 : !cs->members[m].active ? "removed from the membership"
							  : "its membership lists no TLS key");
		p->member = -1;
		p->connected = false;
		return false;
	}
	if (p->member != m)
		ledger_tls_pin(cs->members[m].tls_pk, p->pin);
	p->member = m;
	return true;
}

/* ---- curl in the daemon's loop ---- */

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *sockp)
{
	struct ctl_syncnet *n = userp;
	struct sync_sock *ss = sockp;
	struct epoll_event e = { 0 };

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (ss != NULL) {
			epoll_ctl(n->d->ep, EPOLL_CTL_DEL, fd, NULL);
			ss->fd = -1;
		}
		return 0;
	}
	e.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
	if (ss == NULL) {
		for (unsigned i = 0; i < SYNC_SOCKS_MAX; i++)
			if (n->socks[i].fd < 0) {
				ss = &n->socks[i];
				break;
			}
		if (ss == NULL)
			return -1; /* curl fails that transfer */
		ss->fd = fd;
		e.data.ptr = ss;
		if (epoll_ctl(n->d->ep, EPOLL_CTL_ADD, fd, &e) != 0) {
			ss->fd = -1;
			return -1;
		}
		curl_multi_assign(n->multi, fd, ss);
	} else {
		e.data.ptr = ss;
		epoll_ctl(n->d->ep, EPOLL_CTL_MOD, fd, &e);
	}
	ss->events = e.events;
	return 0;
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct ctl_syncnet *n = userp;

	(void)multi;
	n->timer_ns = timeout_ms < 0 ? UINT64_MAX : ctl_now_ns() + ms_ns((uint64_t)timeout_ms);
	return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
	struct sync_fetch *f = userp;
	size_t n = size * nmemb;

	if (f->len + n > f->max)
		return 0; /* an oversized answer: CURLE_WRITE_ERROR */
	if (f->len + n > f->cap) {
		size_t c = f->cap ? f->cap : 16384;
		uint8_t *nb;

		while (c < f->len + n)
			c *= 2;
		if (c > f->max)
			c = f->max;
		nb = realloc(f->body, c);
		if (nb == NULL)
			return 0;
		f->body = nb;
		f->cap = c;
	}
	memcpy(f->body + f->len, data, n);
	f->len += n;
	return n;
}

static void fetch_free(struct sync_fetch *f)
{
	if (f == NULL)
		return;
	for (struct sync_fetch **pp = &f->n->fetches; *pp; pp = &(*pp)->next)
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	if (f->easy != NULL) {
		curl_multi_remove_handle(f->n->multi, f->easy);
		curl_easy_cleanup(f->easy);
	}
	free(f->body);
	free(f);
}

static struct sync_fetch *fetch_start(struct ctl_syncnet *n, struct sync_peer *p,
				      enum fetch_kind kind, unsigned origin, const char *path,
				      size_t max)
{
	struct sync_fetch *f = calloc(1, sizeof(*f));
	char orig[LEDGER_ORIGIN_MAX + 1];
	struct curl_blob key = { n->key_pem, n->key_len, CURL_BLOB_NOCOPY };
	struct curl_blob crt = { n->crt_pem, n->crt_len, CURL_BLOB_NOCOPY };

	if (f == NULL)
		return NULL;
	f->n = n;
	f->p = p;
	f->kind = kind;
	f->origin = origin;
	f->max = max;
	if (path[0] == '/') {
		snprintf(f->url, sizeof(f->url), "%s%s", p->url, path);
	} else {
		ledger_origin(ledger_consortium(n->d->l), origin, orig, sizeof(orig));
		snprintf(f->url, sizeof(f->url), "%s/%s/%s", p->url, orig, path);
	}
	f->easy = curl_easy_init();
	if (f->easy == NULL) {
		free(f);
		return NULL;
	}
	curl_easy_setopt(f->easy, CURLOPT_URL, f->url);
	curl_easy_setopt(f->easy, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(f->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(f->easy, CURLOPT_SSLVERSION,
			 (long)(CURL_SSLVERSION_TLSv1_3 | CURL_SSLVERSION_MAX_TLSv1_3));
	/* no CA: the peer's key is pinned to what its membership lists */
	curl_easy_setopt(f->easy, CURLOPT_SSL_VERIFYPEER, 0L);
	curl_easy_setopt(f->easy, CURLOPT_SSL_VERIFYHOST, 0L);
	curl_easy_setopt(f->easy, CURLOPT_PINNEDPUBLICKEY, p->pin);
	curl_easy_setopt(f->easy, CURLOPT_SSLCERT_BLOB, &crt);
	curl_easy_setopt(f->easy, CURLOPT_SSLCERTTYPE, "PEM");
	curl_easy_setopt(f->easy, CURLOPT_SSLKEY_BLOB, &key);
	curl_easy_setopt(f->easy, CURLOPT_SSLKEYTYPE, "PEM");
	curl_easy_setopt(f->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(f->easy, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(f->easy, CURLOPT_PRIVATE, f);
	curl_easy_setopt(f->easy, CURLOPT_TIMEOUT_MS, (long)SYNC_TIMEOUT_MS);
	curl_easy_setopt(f->easy, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(f->easy, CURLOPT_LOW_SPEED_LIMIT, (long)SYNC_LOW_SPEED_BYTES);
	curl_easy_setopt(f->easy, CURLOPT_LOW_SPEED_TIME, (long)SYNC_LOW_SPEED_SEC);
	curl_easy_setopt(f->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(f->easy, CURLOPT_FOLLOWLOCATION, 0L);
	if (curl_multi_add_handle(n->multi, f->easy) != CURLM_OK) {
		curl_easy_cleanup(f->easy);
		free(f);
		return NULL;
	}
	p->nb_requests++;
	f->next = n->fetches;
	n->fetches = f;
	return f;
}

/* ---- catch-up ---- */

static void catchup_end(struct ctl_syncnet *n, unsigned o)
{
	struct sync_catchup *cu = &n->cu[o];
	uint64_t gen = cu->gen;

	for (unsigned i = 0; i < cu->nb_bundles; i++)
		fetch_free(cu->bundles[i]);
	free(cu->headers);
	memset(cu, 0, sizeof(*cu));
	cu->gen = gen + 1; /* what is still in flight for it is stale */
}

static void catchup_next(struct ctl_syncnet *n, unsigned o, uint64_t now);
static void catchup_pump(struct ctl_syncnet *n, unsigned o);

/* Blocks b[0..nb) of log o, consecutive, with their entries one after the
 * other, from peer p: through the ledger's checks in one synced write,
 * then into the table.  0 taken (or already held), -EAGAIN when blocks
 * before them are missing, other -errno refused (p's error set); the
 * blocks before a refused one are taken. */
static int take_blocks(struct ctl_syncnet *n, struct sync_peer *p, unsigned o,
		       const struct ledger_block *b, unsigned nb, const uint8_t *const *ptrs,
		       const uint16_t *lens, uint64_t now)
{
	const struct ledger_consortium *cs = ledger_consortium(n->d->l);
	struct ledger_entry *dec = NULL;
	char err[LEDGER_ERR_MAX];
	unsigned held, fresh;
	uint64_t skip = 0, count = 0;
	const char *why;
	int rc, r;

	if (n->d->frozen[o])
		return -EPERM; /* a forked log advances no more (riskgate-ctl forks) */
	rc = ledger_apply_blocks(n->d->l, b, nb, ptrs, lens, &held, &fresh, err, sizeof(err));
	if (rc < 0 && rc != -EAGAIN) {
		if (rc == -EEXIST) {
			n->nb_forks++;
			ctl_daemon_fork(n->d, o, err);
		}
		peer_error(p, now, "log %s block %llu refused: %s", cs->members[o].name,
			   (unsigned long long)b[held + fresh].height, err);
	}
	if (fresh == 0)
		return rc;
	for (unsigned i = 0; i < held; i++)
		skip += b[i].nb_entries;
	for (unsigned i = held; i < held + fresh; i++)
		count += b[i].nb_entries;
	n->nb_blocks_in += fresh;
	n->nb_entries_in += count;
	p->nb_entries_in += count;
	n->unflushed += count;
	if (n->unflushed >= SYNC_FLUSH_ENTRIES) {
		/* what is served from here (tiles, bundles) reads it next */
		ledger_memtables_release(n->d->l);
		n->unflushed = 0;
	}
	/* into the table in chunks: a decoded entry is 2 KiB (its payload room) */
	dec = n->dec;
	for (uint64_t k = 0; k < count; k += SYNC_DECODE_CHUNK) {
		unsigned c = count - k < SYNC_DECODE_CHUNK ? (unsigned)(count - k) : SYNC_DECODE_CHUNK;

		for (unsigned i = 0; i < c; i++) /* cannot fail: the ledger took them */
			ledger_entry_decode(ptrs[skip + k + i], lens[skip + k + i], &dec[i], &why);
		r = ctl_sync_apply(n->d->sync, o, b[held].first_pos + k, dec, c);
		if (r != 0) {
			ctl_log(CTL_LOG_ERR, "sync: table after log %s position %llu: %s",
				cs->members[o].name, (unsigned long long)(b[held].first_pos + k),
				strerror(-r));
			break;
		}
	}
	return rc;
}

static int take_block(struct ctl_syncnet *n, struct sync_peer *p, unsigned o,
		      const struct ledger_block *b, const uint8_t *const *ptrs,
		      const uint16_t *lens, uint64_t now)
{
	return take_blocks(n, p, o, b, 1, ptrs, lens, now);
}

/* Every bundle of the batch is in: take the blocks in, in order. */
static void catchup_apply(struct ctl_syncnet *n, unsigned o, uint64_t now)
{
	struct sync_catchup *cu = &n->cu[o];
	struct ledger *l = n->d->l;
	const struct ledger_consortium *cs = ledger_consortium(l);
	const uint8_t **ptrs = malloc(cu->nb_entries * sizeof(*ptrs));
	uint16_t *lens = malloc(cu->nb_entries * sizeof(*lens));
	uint64_t got = 0, skip = cu->base_pos - cu->first_bundle * LEDGER_TILE_WIDTH;
	struct sync_peer *p = cu->from;
	struct ledger_block *blks = NULL;
	int rc = 0;

	if (ptrs == NULL || lens == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	/* the bundles' entries, from base_pos on */
	for (unsigned b = 0; b < cu->nb_bundles && got < cu->nb_entries; b++) {
		struct sync_fetch *f = cu->bundles[b];
		const uint8_t *bp[LEDGER_TILE_WIDTH];
		uint16_t bl[LEDGER_TILE_WIDTH];
		const char *why;

		if (ledger_entry_bundle_parse(f->body, f->len, f->width, bp, bl, &why) != 0) {
			peer_error(p, now, "%s: %s", f->url, why);
			rc = -EBADMSG;
			goto out;
		}
		for (unsigned i = 0; i < f->width && got < cu->nb_entries; i++) {
			if (skip > 0) {
				skip--;
				continue;
			}
			ptrs[got] = bp[i];
			lens[got++] = bl[i];
		}
	}
	if (got != cu->nb_entries) {
		peer_error(p, now, "log %s: bundles hold %llu of the %llu entries its blocks need",
			   cs->members[o].name, (unsigned long long)got,
			   (unsigned long long)cu->nb_entries);
		rc = -EBADMSG;
		goto out;
	}
	blks = malloc(cu->nb_headers * sizeof(*blks));
	if (blks == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (unsigned i = 0; i < cu->nb_headers; i++)
		ledger_block_decode(cu->headers + (size_t)i * LEDGER_BLOCK_BYTES,
				    LEDGER_BLOCK_BYTES, &blks[i]);
	rc = take_blocks(n, p, o, blks, cu->nb_headers, ptrs, lens, now);
	if (rc == -EAGAIN)
		peer_error(p, now, "log %s block %llu: blocks before it are missing",
			   cs->members[o].name, (unsigned long long)blks[0].height);
	if (rc == 0)
		peer_ok(p, now);
out:
	free(blks);
	free(ptrs);
	free(lens);
	if (rc != 0) {
		catchup_end(n, o);
		return;
	}
	catchup_next(n, o, now);
}

/* The headers of the next blocks are in: fetch the bundles they span. */
static void catchup_bundles(struct ctl_syncnet *n, unsigned o, struct sync_fetch *f,
			    uint64_t now)
{
	struct sync_catchup *cu = &n->cu[o];
	struct ledger *l = n->d->l;
	const struct ledger_consortium *cs = ledger_consortium(l);
	struct ledger_head h;
	uint64_t pos, end, height;
	unsigned nb = 0;

	if (ledger_head_get(l, o, &h) != 0) {
		catchup_end(n, o);
		return;
	}
	if (f->len == 0 || f->len % LEDGER_BLOCK_BYTES != 0 ||
	    f->len / LEDGER_BLOCK_BYTES > LEDGER_TILE_WIDTH) {
		peer_error(cu->from, now, "%s: %zu bytes are not block headers", f->url, f->len);
		catchup_end(n, o);
		return;
	}
	/* keep the headers from the next height on, whose blocks end within the
	 * peer's checkpoint, within the batch bound */
	height = f->index * LEDGER_TILE_WIDTH;
	pos = h.size;
	end = h.size;
	cu->headers = malloc(f->len);
	if (cu->headers == NULL) {
		catchup_end(n, o);
		return;
	}
	for (size_t off = 0; off < f->len; off += LEDGER_BLOCK_BYTES, height++) {
		struct ledger_block b;

		if (ledger_block_decode(f->body + off, LEDGER_BLOCK_BYTES, &b) != 0 ||
		    b.height != height ||
		    memcmp(b.member, cs->members[o].id, LEDGER_ID_BYTES) != 0) {
			peer_error(cu->from, now, "%s: header %zu is malformed or not of block %llu "
				   "of this log", f->url, off / LEDGER_BLOCK_BYTES,
				   (unsigned long long)height);
			catchup_end(n, o);
			return;
		}
		if (height < h.nb_blocks)
			continue;
		if (b.first_pos != end || b.first_pos + b.nb_entries > cu->cp.size)
			break; /* a gap is the ledger's to refuse; beyond the checkpoint: later */
		if (nb > 0 && (b.first_pos + b.nb_entries - pos + LEDGER_TILE_WIDTH - 1) /
				      LEDGER_TILE_WIDTH > SYNC_BATCH_BUNDLES)
			break;
		memcpy(cu->headers + (size_t)nb * LEDGER_BLOCK_BYTES, f->body + off,
		       LEDGER_BLOCK_BYTES);
		nb++;
		end = b.first_pos + b.nb_entries;
	}
	if (nb == 0) {
		peer_error(cu->from, now, "log %s: peer's checkpoint is at %llu but it serves no "
			   "block from position %llu", cs->members[o].name,
			   (unsigned long long)cu->cp.size, (unsigned long long)h.size);
		catchup_end(n, o);
		return;
	}
	cu->nb_headers = nb;
	cu->base_pos = pos;
	cu->nb_entries = end - pos;
	cu->first_bundle = pos / LEDGER_TILE_WIDTH;
	cu->nb_bundles = (unsigned)((end - 1) / LEDGER_TILE_WIDTH - cu->first_bundle + 1);
	if (cu->nb_bundles > sizeof(cu->bundles) / sizeof(cu->bundles[0])) {
		peer_error(cu->from, now, "log %s: a block of more entries than a batch holds",
			   cs->members[o].name);
		catchup_end(n, o);
		return;
	}
	cu->nb_started = 0;
	catchup_pump(n, o);
}

/* Keep SYNC_REQUEST_CONNECTIONS entry bundles of the batch in flight. */
static void catchup_pump(struct ctl_syncnet *n, unsigned o)
{
	struct sync_catchup *cu = &n->cu[o];

	while (cu->active && cu->nb_started < cu->nb_bundles &&
	       cu->nb_started - cu->nb_bundles_in < SYNC_REQUEST_CONNECTIONS) {
		char path[LEDGER_TILE_PATH_MAX];
		struct ledger_tile_ref t = { -1, cu->first_bundle + cu->nb_started, 0 };
		struct sync_fetch *bf;

		t.width = ledger_tile_width(-1, t.index, cu->cp.size);
		ledger_tile_path(&t, path, sizeof(path));
		bf = fetch_start(n, cu->from, FETCH_BUNDLE, o, path,
				 (size_t)t.width * (2 + LEDGER_ENTRY_MAX));
		if (bf == NULL) {
			catchup_end(n, o);
			return;
		}
		bf->index = t.index;
		bf->width = t.width;
		bf->gen = cu->gen;
		cu->bundles[cu->nb_started++] = bf;
	}
}

/* Next batch, or the checkpoint once the log reaches it. */
static void catchup_next(struct ctl_syncnet *n, unsigned o, uint64_t now)
{
	struct sync_catchup *cu = &n->cu[o];
	struct ledger *l = n->d->l;
	struct ledger_head h;
	struct sync_fetch *f;
	char err[LEDGER_ERR_MAX], path[64];
	int rc;

	for (unsigned i = 0; i < cu->nb_bundles; i++) {
		fetch_free(cu->bundles[i]);
		cu->bundles[i] = NULL;
	}
	free(cu->headers);
	cu->headers = NULL;
	cu->nb_headers = cu->nb_bundles = cu->nb_bundles_in = cu->nb_started = 0;
	if (ledger_head_get(l, o, &h) != 0) {
		catchup_end(n, o);
		return;
	}
	if (h.size >= cu->cp.size) {
		if (n->unflushed > 0) {
			ledger_memtables_release(l);
			n->unflushed = 0;
		}
		rc = ledger_store_checkpoint(l, &cu->cp, err, sizeof(err));
		if (rc < 0 && rc != -EAGAIN) {
			if (rc == -EEXIST) {
				n->nb_forks++;
				ctl_daemon_fork(n->d, o, err);
			}
			peer_error(cu->from, now, "checkpoint of %s at %llu: %s", cu->cp.origin,
				   (unsigned long long)cu->cp.size, err);
		} else if (rc == 0) {
			n->nb_checkpoints_in++;
		}
		catchup_end(n, o);
		return;
	}
	/* the headers of the group holding the next height (all of it held there) */
	snprintf(path, sizeof(path), "blocks/");
	ledger_tile_index_path(h.nb_blocks / LEDGER_TILE_WIDTH, LEDGER_TILE_WIDTH, path + 7,
			       sizeof(path) - 7);
	f = fetch_start(n, cu->from, FETCH_BLOCKS, o, path,
			(size_t)LEDGER_TILE_WIDTH * LEDGER_BLOCK_BYTES);
	if (f == NULL) {
		peer_error(cu->from, now, "cannot start a request");
		catchup_end(n, o);
		return;
	}
	f->index = h.nb_blocks / LEDGER_TILE_WIDTH;
	f->gen = cu->gen;
}

/* A checkpoint from peer p for log o. */
static void on_checkpoint(struct ctl_syncnet *n, struct sync_fetch *f, uint64_t now)
{
	struct ledger *l = n->d->l;
	const struct ledger_consortium *cs = ledger_consortium(l);
	struct sync_peer *p = f->p;
	struct ledger_checkpoint cp;
	struct ledger_head h;
	char want[LEDGER_ORIGIN_MAX + 1], err[LEDGER_ERR_MAX];
	const char *why = "";
	unsigned o = f->origin;
	int rc;

	ledger_origin(cs, o, want, sizeof(want));
	if (ledger_checkpoint_decode((const char *)f->body, f->len, &cp, &why) != 0) {
		peer_error(p, now, "%s: not a checkpoint: %s", f->url, why);
		return;
	}
	if (strcmp(cp.origin, want) != 0 || !ledger_checkpoint_sig_ok(&cp, cs->members[o].pk)) {
		peer_error(p, now, "%s: checkpoint not signed by %s's key under its origin",
			   f->url, cs->members[o].name);
		return;
	}
	peer_ok(p, now);
	p->seen[o].size = cp.size;
	p->seen[o].ns = now;
	if (ledger_head_get(l, o, &h) != 0)
		return;
	if (cp.size <= h.size) {
		/* a head for a size held: the same root, or a fork (evidence kept) */
		rc = ledger_store_checkpoint(l, &cp, err, sizeof(err));
		if (rc == -EEXIST) {
			n->nb_forks++;
			ctl_daemon_fork(n->d, o, err);
			peer_error(p, now, "%s", err);
		} else if (rc == 0) {
			n->nb_checkpoints_in++;
		}
		return;
	}
	if (n->cu[o].active || n->d->frozen[o])
		return;
	n->cu[o].active = true;
	n->cu[o].from = p;
	n->cu[o].cp = cp;
	catchup_next(n, o, now);
}

/* ---- witnessing: the own checkpoints, cosigned by the peers ---- */

/* POST /add-checkpoint to p: "old <size>", the consistency proof from it,
 * an empty line, the note. */
static void witness_submit(struct ctl_syncnet *n, struct sync_peer *p,
			   const struct ledger_checkpoint *c, bool retry)
{
	struct ledger *l = n->d->l;
	uint8_t path[LEDGER_PROOF_MAX][LEDGER_HASH_BYTES];
	struct ledger_node_ctx ctx = { l, (unsigned)ledger_self(l) };
	char body[LEDGER_NOTE_MAX + LEDGER_PROOF_MAX * 48 + 32];
	unsigned nb = 0;
	uint64_t old = p->wit_size <= c->size ? p->wit_size : 0;
	struct sync_fetch *f;
	int off, len;

	if (old > 0 && old < c->size &&
	    ledger_consistency_proof(ledger_node_get, &ctx, old, c->size, path, &nb) != 0)
		return;
	off = snprintf(body, sizeof(body), "old %llu\n", (unsigned long long)old);
	for (unsigned i = 0; i < nb; i++) {
		sodium_bin2base64(body + off, sizeof(body) - (size_t)off, path[i], LEDGER_HASH_BYTES,
				  sodium_base64_VARIANT_ORIGINAL);
		off += (int)strlen(body + off);
		body[off++] = '\n';
	}
	body[off++] = '\n';
	len = ledger_checkpoint_encode(c, body + off, sizeof(body) - (size_t)off);
	if (len < 0)
		return;
	f = fetch_start(n, p, FETCH_WITNESS, (unsigned)ctx.member, "/add-checkpoint",
			LEDGER_NOTE_MAX);
	if (f == NULL)
		return;
	curl_easy_setopt(f->easy, CURLOPT_POSTFIELDSIZE, (long)(off + len));
	curl_easy_setopt(f->easy, CURLOPT_COPYPOSTFIELDS, body);
	f->index = c->size;
	f->width = retry ? 1 : 0;
}

void ctl_syncnet_witness(struct ctl_syncnet *n, const struct ledger_checkpoint *c)
{
	if (n == NULL)
		return;
	for (unsigned i = 0; i < n->nb_peers; i++)
		if (n->peers[i].member >= 0)
			witness_submit(n, &n->peers[i], c, false);
}

static void on_witness_reply(struct ctl_syncnet *n, struct sync_fetch *f, long status,
			     uint64_t now)
{
	struct sync_peer *p = f->p;
	struct ledger_checkpoint cp;

	if (ledger_checkpoint_latest(n->d->l, (unsigned)ledger_self(n->d->l), &cp) != 0 ||
	    cp.size != f->index)
		return; /* a newer checkpoint went out meanwhile */
	if (status == 200) {
		if (ctl_witness_collect(n->d, (unsigned)p->member, &cp, (const char *)f->body,
					f->len)) {
			p->wit_size = cp.size;
			p->nb_cosigs++;
		} else {
			peer_error(p, now, "%s: no valid cosignature by %s in the reply", f->url,
				   p->name);
		}
	} else if (status == 409 && f->width == 0) {
		/* it last cosigned another size: say that one */
		char num[24];
		size_t k = f->len < sizeof(num) - 1 ? f->len : sizeof(num) - 1;

		memcpy(num, f->body, k);
		num[k] = '\0';
		p->wit_size = strtoull(num, NULL, 10);
		witness_submit(n, p, &cp, true);
	} else {
		char msg[128];
		size_t k = f->len < sizeof(msg) - 1 ? f->len : sizeof(msg) - 1;

		memcpy(msg, f->body, k);
		msg[k] = '\0';
		if (k > 0 && msg[k - 1] == '\n')
			msg[k - 1] = '\0';
		peer_error(p, now, "witness refused the own checkpoint at %llu: HTTP %ld %s",
			   (unsigned long long)cp.size, status, msg);
		if (status == 422)
			ctl_log(CTL_LOG_ERR, "sync: peer %s, as a witness, holds another history of "
				"this member's log: %s", p->name, msg);
	}
}

/* ---- forks other members saw ---- */

/* GET /forks: records "object u8 | len u16 | a | len u16 | b"; each that
 * proves a fork on its own, of a member whose fork is not held yet, is
 * kept and freezes that member's log. */
static void on_forks(struct ctl_syncnet *n, struct sync_fetch *f, uint64_t now)
{
	const struct ledger_consortium *cs = ledger_consortium(n->d->l);
	const uint8_t *p = f->body, *end = f->body + f->len;

	while (p < end) {
		const uint8_t *a, *b;
		size_t alen, blen;
		unsigned m, object;
		uint64_t at;
		const char *why = "";
		char what[160];

		if (end - p < 3)
			goto bad;
		object = p[0];
		alen = (size_t)p[1] << 8 | p[2];
		a = p + 3;
		if ((size_t)(end - a) < alen + 2)
			goto bad;
		blen = (size_t)a[alen] << 8 | a[alen + 1];
		b = a + alen + 2;
		if ((size_t)(end - b) < blen)
			goto bad;
		p = b + blen;
		if (ledger_fork_check(cs, object, a, alen, b, blen, &m, &at, &why) != 0) {
			peer_error(f->p, now, "%s: a record that proves no fork: %s", f->url, why);
			return;
		}
		if (n->d->fork_kept[m] || (int)m == ledger_self(n->d->l))
			continue;
		ledger_keep_fork(n->d->l, m, at, object, a, alen, b, blen);
		n->d->nb_forks_told++;
		snprintf(what, sizeof(what), "evidence from peer %s: two %s signed at %llu",
			 f->p->name, object == LEDGER_EVIDENCE_BLOCK ? "blocks" : "checkpoints",
			 (unsigned long long)at);
		ctl_daemon_fork(n->d, m, what);
	}
	return;
bad:
	peer_error(f->p, now, "%s: malformed fork records", f->url);
}

/* ---- the push feed (server-sent events) ---- */

/* One event of p's feed of log o: a block, a checkpoint, or "behind". */
static void feed_event(struct ctl_syncnet *n, struct sync_fetch *f,
		       const struct ctl_sse_event *ev, uint64_t now)
{
	const struct ledger_consortium *cs = ledger_consortium(n->d->l);
	struct sync_peer *p = f->p;
	unsigned o = f->origin;

	if (strcmp(ev->type, "block") == 0) {
		size_t cap = ctl_block_event_cap(ev->len);
		uint8_t *raw = malloc(cap);
		struct ledger_block b;
		const char *why = "";
		int rc;

		if (raw == NULL || n->ptrs == NULL || n->lens == NULL) {
			free(raw);
			return;
		}
		if (ctl_block_event_decode(ev->data, ev->len, raw, cap, &b, n->ptrs, n->lens,
					   &why) != 0 ||
		    memcmp(b.member, cs->members[o].id, LEDGER_ID_BYTES) != 0) {
			peer_error(p, now, "%s: block event: %s", f->url,
				   why[0] ? why : "a block of another log");
			free(raw);
			return;
		}
		p->nb_feed_blocks++;
		rc = take_block(n, p, o, &b, n->ptrs, n->lens, now);
		if (rc == -EAGAIN)
			poll_soon(p); /* a gap: catch up from its checkpoint */
		free(raw);
	} else if (strcmp(ev->type, "checkpoint") == 0) {
		struct ledger_checkpoint cp;
		char want[LEDGER_ORIGIN_MAX + 1], err[LEDGER_ERR_MAX];
		const char *why = "";
		int rc;

		/* the note's last newline went with the event framing */
		ev->data[ev->len] = '\n';
		ledger_origin(cs, o, want, sizeof(want));
		if (ledger_checkpoint_decode(ev->data, ev->len + 1, &cp, &why) != 0 ||
		    strcmp(cp.origin, want) != 0 ||
		    !ledger_checkpoint_sig_ok(&cp, cs->members[o].pk)) {
			peer_error(p, now, "%s: checkpoint event does not verify%s%s", f->url,
				   why[0] ? ": " : "", why);
			return;
		}
		p->seen[o].size = cp.size;
		p->seen[o].ns = now;
		rc = ledger_store_checkpoint(n->d->l, &cp, err, sizeof(err));
		if (rc == 0) {
			n->nb_checkpoints_in++;
		} else if (rc == -EEXIST) {
			n->nb_forks++;
			ctl_daemon_fork(n->d, o, err);
			peer_error(p, now, "%s", err);
		} else if (rc == -EAGAIN) {
			poll_soon(p); /* beyond what is held: catch up */
		}
	} else if (strcmp(ev->type, "behind") == 0) {
		poll_soon(p);
	}
}

/* Feed bytes: whole events are handled as they come.  Only the bytes not
 * scanned yet are searched for an event's end, so an event that arrives
 * in many pieces costs its length once, not once per piece. */
static size_t on_feed_body(char *data, size_t size, size_t nmemb, void *userp)
{
	struct sync_fetch *f = userp;
	size_t n = size * nmemb, start = 0, from = f->scanned > 0 ? f->scanned - 1 : 0;
	uint64_t now = ctl_now_ns();
	char *dbuf;
	bool whole = false;
	int rc = 0;

	if (on_body(data, size, nmemb, f) != n) {
		f->refused = "an event larger than 24 MiB";
		return 0;
	}
	for (size_t i = from + 1; i < f->len && !whole; i++)
		whole = f->body[i] == '\n' && f->body[i - 1] == '\n';
	if (!whole) {
		f->scanned = f->len;
		return n;
	}
	dbuf = malloc(f->len + 2);
	if (dbuf == NULL)
		return 0;
	for (;;) {
		struct ctl_sse_event ev;
		size_t used;

		rc = ctl_sse_next((const char *)f->body + start, f->len - start, &ev, dbuf,
				  f->len + 2, &used);
		if (rc <= 0)
			break;
		if (ev.len > 0 || strcmp(ev.type, "behind") == 0)
			feed_event(f->n, f, &ev, now);
		start += used;
	}
	free(dbuf);
	if (start > 0) {
		memmove(f->body, f->body + start, f->len - start);
		f->len -= start;
	}
	f->scanned = f->len;
	if (rc < 0) {
		f->refused = rc == -EMSGSIZE ? "an event larger than 24 MiB"
					     : "an event type longer than 15 bytes";
		return 0;
	}
	return n;
}

static void feed_open(struct ctl_syncnet *n, struct sync_peer *p, unsigned o)
{
	struct ledger_head h;
	struct sync_fetch *f;
	char path[64];

	if (ledger_head_get(n->d->l, o, &h) != 0)
		return;
	snprintf(path, sizeof(path), "feed?from=%llu", (unsigned long long)h.size);
	f = fetch_start(n, p, FETCH_FEED, o, path, CTL_SSE_EVENT_MAX);
	if (f == NULL)
		return;
	/* a stream: no overall timeout; a peer silent past its beats is cut */
	curl_easy_setopt(f->easy, CURLOPT_TIMEOUT_MS, 0L);
	curl_easy_setopt(f->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(f->easy, CURLOPT_LOW_SPEED_TIME, 45L);
	curl_easy_setopt(f->easy, CURLOPT_WRITEFUNCTION, on_feed_body);
	p->seen[o].feed = true;
}

static void on_done(struct ctl_syncnet *n, struct sync_fetch *f, CURLcode res, uint64_t now)
{
	struct sync_catchup *cu = &n->cu[f->origin];
	bool stale = f->kind != FETCH_CHECKPOINT && (!cu->active || f->gen != cu->gen);
	long status = 0;

	curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &status);
	f->p->bytes_in += f->len;
	if (f->kind == FETCH_CHECKPOINT)
		f->p->seen[f->origin].polling = false;
	if (f->kind == FETCH_FORKS) {
		f->p->forks_polling = false;
		if (res == CURLE_OK && status == 200)
			on_forks(n, f, now);
		else if (res != CURLE_OK)
			peer_error(f->p, now, "%s: %s", f->url,
				   res == CURLE_WRITE_ERROR ? "answer larger than allowed"
							    : curl_easy_strerror(res));
		fetch_free(f);
		return;
	}
	if (f->kind == FETCH_WITNESS) {
		if (res == CURLE_OK)
			on_witness_reply(n, f, status, now);
		else
			peer_error(f->p, now, "%s: %s", f->url, curl_easy_strerror(res));
		fetch_free(f);
		return;
	}
	if (f->kind == FETCH_FEED) {
		/* ended: opened again after a pause (a catch-up may run meanwhile) */
		f->p->seen[f->origin].feed = false;
		f->p->seen[f->origin].feed_retry_ns = now + ms_ns(SYNC_FEED_RETRY_MS);
		if (f->refused != NULL)
			peer_error(f->p, now, "%s: feed refused: %s", f->url, f->refused);
		else if (res != CURLE_OK && res != CURLE_PARTIAL_FILE && res != CURLE_WRITE_ERROR)
			peer_error(f->p, now, "%s: %s", f->url, curl_easy_strerror(res));
		else if (res == CURLE_OK && status != 200)
			peer_error(f->p, now, "%s: HTTP %ld", f->url, status);
		fetch_free(f);
		return;
	}
	if (stale) {
		if (f->kind != FETCH_BUNDLE)
			fetch_free(f);
		return; /* its catch-up ended; a bundle went with it */
	}
	if (res != CURLE_OK || status != 200) {
		enum fetch_kind kind = f->kind;
		unsigned o = f->origin;

		if (res == CURLE_OK && status == 404 && kind == FETCH_CHECKPOINT) {
			/* it holds nothing of that log yet: its feed will say when */
			peer_ok(f->p, now);
			if (f->p->seen[o].ns == 0)
				f->p->seen[o].ns = now;
		} else if (res != CURLE_OK) {
			peer_error(f->p, now, "%s: %s", f->url,
				   res == CURLE_WRITE_ERROR ? "answer larger than allowed"
							    : curl_easy_strerror(res));
		} else {
			peer_error(f->p, now, "%s: HTTP %ld", f->url, status);
		}
		if (kind != FETCH_BUNDLE)
			fetch_free(f);
		if (kind != FETCH_CHECKPOINT)
			catchup_end(n, o); /* frees the batch's bundles */
		return;
	}
	switch (f->kind) {
	case FETCH_CHECKPOINT:
		on_checkpoint(n, f, now);
		fetch_free(f);
		break;
	case FETCH_BLOCKS:
		catchup_bundles(n, f->origin, f, now);
		fetch_free(f);
		break;
	case FETCH_BUNDLE:
		/* kept in the batch until it is applied */
		if (++cu->nb_bundles_in == cu->nb_bundles)
			catchup_apply(n, f->origin, now);
		else
			catchup_pump(n, f->origin);
		break;
	case FETCH_FEED:
	case FETCH_WITNESS:
	case FETCH_FORKS:
		break;
	}
}

static void drain_done(struct ctl_syncnet *n)
{
	CURLMsg *m;
	int left;
	uint64_t now = ctl_now_ns();

	while ((m = curl_multi_info_read(n->multi, &left)) != NULL) {
		struct sync_fetch *f = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&f);
		if (f == NULL)
			continue;
		on_done(n, f, m->data.result, now);
	}
}

/* ---- public ---- */

int ctl_syncnet_open(struct ctl_daemon *d, char *err, size_t cap)
{
	const struct ledger_consortium *cs = ledger_consortium(d->l);
	struct ctl_syncnet *n;
	char path[CTL_PATH_MAX + 16];

	d->syncnet = NULL;
	if (d->cfg.nb_peers == 0)
		return 0;
	n = calloc(1, sizeof(*n));
	if (n == NULL) {
		snprintf(err, cap, "out of memory");
		return -ENOMEM;
	}
	n->d = d;
	n->timer_ns = UINT64_MAX;
	n->start_ns = ctl_now_ns();
	for (unsigned i = 0; i < SYNC_SOCKS_MAX; i++)
		n->socks[i].fd = -1;
	n->peers = calloc(d->cfg.nb_peers, sizeof(*n->peers));
	n->ptrs = malloc(LEDGER_BLOCK_MAX * sizeof(*n->ptrs));
	n->dec = malloc(SYNC_DECODE_CHUNK * sizeof(*n->dec));
	n->lens = malloc(LEDGER_BLOCK_MAX * sizeof(*n->lens));
	if (n->peers == NULL || n->ptrs == NULL || n->lens == NULL || n->dec == NULL)
		goto fail_nomem;
	for (unsigned i = 0; i < d->cfg.nb_peers; i++) {
		struct sync_peer *p = &n->peers[i];

		snprintf(p->name, sizeof(p->name), "%s", d->cfg.peers[i].member);
		snprintf(p->url, sizeof(p->url), "%s", d->cfg.peers[i].url);
		p->member = -1;
		if (!peer_refresh(cs, p))
			ctl_log(CTL_LOG_WARN, "sync: peer %s: %s; asked nothing until that changes",
				p->name, p->last_error);
	}
	n->nb_peers = d->cfg.nb_peers;
	snprintf(path, sizeof(path), "%s/tls.key", d->cfg.ledger_dir);
	n->key_pem = ctl_pem_read(path, true, &n->key_len, err, cap);
	if (n->key_pem == NULL)
		goto fail;
	snprintf(path, sizeof(path), "%s/tls.crt", d->cfg.ledger_dir);
	n->crt_pem = ctl_pem_read(path, false, &n->crt_len, err, cap);
	if (n->crt_pem == NULL)
		goto fail;
	n->multi = curl_multi_init();
	if (n->multi == NULL)
		goto fail_nomem;
	curl_multi_setopt(n->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(n->multi, CURLMOPT_SOCKETDATA, n);
	curl_multi_setopt(n->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(n->multi, CURLMOPT_TIMERDATA, n);
	/* a feed holds a connection for good: one per log, and four more for
	 * checkpoints, catch-up and witnessing */
	curl_multi_setopt(n->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
			  (long)(LEDGER_MEMBERS_MAX + SYNC_REQUEST_CONNECTIONS));
	curl_multi_setopt(n->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
			  (long)(d->cfg.nb_peers * (LEDGER_MEMBERS_MAX + SYNC_REQUEST_CONNECTIONS)));
	d->syncnet = n;
	ctl_log(CTL_LOG_INFO, "sync: fetching from %u peer(s), checkpoints every %u ms",
		n->nb_peers, d->cfg.sync_poll_ms);
	return 0;
fail_nomem:
	snprintf(err, cap, "out of memory");
fail:
	d->syncnet = n;
	ctl_syncnet_close(d);
	return -EINVAL;
}

void ctl_syncnet_close(struct ctl_daemon *d)
{
	struct ctl_syncnet *n = d->syncnet;

	if (n == NULL)
		return;
	for (unsigned o = 0; o < LEDGER_MEMBERS_MAX; o++)
		if (n->cu[o].active)
			catchup_end(n, o);
	while (n->fetches != NULL)
		fetch_free(n->fetches);
	if (n->multi != NULL)
		curl_multi_cleanup(n->multi);
	if (n->key_pem != NULL)
		sodium_free(n->key_pem); /* sodium_free wipes */
	if (n->crt_pem != NULL)
		sodium_free(n->crt_pem);
	free(n->peers);
	free(n->ptrs);
	free(n->lens);
	free(n->dec);
	free(n);
	d->syncnet = NULL;
}

bool ctl_syncnet_owns(const struct ctl_syncnet *n, const void *ptr)
{
	return n != NULL && (const char *)ptr >= (const char *)n->socks &&
	       (const char *)ptr < (const char *)(n->socks + SYNC_SOCKS_MAX);
}

void ctl_syncnet_event(struct ctl_syncnet *n, void *ptr, uint32_t events)
{
	struct sync_sock *ss = ptr;
	int running, flags = 0;

	if (ss->fd < 0)
		return;
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		flags |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		flags |= CURL_CSELECT_OUT;
	if (events & EPOLLERR)
		flags |= CURL_CSELECT_ERR;
	curl_multi_socket_action(n->multi, ss->fd, flags, &running);
	drain_done(n);
}

/* Since when each log has been behind what some peer holds of it. */
static void behind_update(struct ctl_syncnet *n, uint64_t now)
{
	const struct ledger_consortium *cs = ledger_consortium(n->d->l);

	for (unsigned o = 0; o < cs->nb_members; o++) {
		struct ledger_head h;
		uint64_t most = 0;

		if ((int)o == ledger_self(n->d->l) || ledger_head_get(n->d->l, o, &h) != 0)
			continue;
		for (unsigned i = 0; i < n->nb_peers; i++)
			if (n->peers[i].seen[o].size > most)
				most = n->peers[i].seen[o].size;
		if (most <= h.size || n->d->frozen[o])
			n->behind_ns[o] = 0;
		else if (n->behind_ns[o] == 0)
			n->behind_ns[o] = now;
	}
}

/* p is no longer to be talked to: what is in flight with it ends. */
static void peer_drop(struct ctl_syncnet *n, struct sync_peer *p)
{
	for (unsigned o = 0; o < LEDGER_MEMBERS_MAX; o++) {
		if (n->cu[o].active && n->cu[o].from == p)
			catchup_end(n, o);
		p->seen[o].feed = p->seen[o].polling = false;
	}
	for (struct sync_fetch *f = n->fetches, *next; f != NULL; f = next) {
		next = f->next;
		if (f->p == p && f->kind != FETCH_BUNDLE)
			fetch_free(f);
	}
	p->forks_polling = false;
}

void ctl_syncnet_tick(struct ctl_syncnet *n, uint64_t now)
{
	const struct ledger_consortium *cs;
	int running;

	if (n == NULL)
		return;
	if (now - n->behind_tick_ns >= 1000000000ull) {
		n->behind_tick_ns = now;
		behind_update(n, now);
	}
	if (now >= n->timer_ns) {
		n->timer_ns = UINT64_MAX;
		curl_multi_socket_action(n->multi, CURL_SOCKET_TIMEOUT, 0, &running);
		drain_done(n);
	}
	cs = ledger_consortium(n->d->l);
	for (unsigned i = 0; i < n->nb_peers; i++) {
		struct sync_peer *p = &n->peers[i];

		if (!peer_refresh(cs, p)) {
			if (p->usable)
				peer_drop(n, p);
			p->usable = false;
			continue;
		}
		p->usable = true;
		for (unsigned o = 0; o < cs->nb_members; o++)
			if (p->connected && p->seen[o].ns != 0 && !p->seen[o].feed &&
			    now >= p->seen[o].feed_retry_ns && !n->cu[o].active)
				feed_open(n, p, o);
		if (now < p->next_poll_ns)
			continue;
		/* a new round: the last one went without an error? back to normal */
		if (!p->round_failed)
			p->backoff_ms = 0;
		p->round_failed = false;
		p->next_poll_ns = now + ms_ns(n->d->cfg.sync_poll_ms);
		if (!p->forks_polling &&
		    fetch_start(n, p, FETCH_FORKS, 0, "/forks", SYNC_FORKS_MAX) != NULL)
			p->forks_polling = true;
		for (unsigned o = 0; o < cs->nb_members; o++) {
			struct sync_fetch *f;

			if ((int)o == ledger_self(n->d->l) || p->seen[o].polling)
				continue;
			f = fetch_start(n, p, FETCH_CHECKPOINT, o, "checkpoint",
					SYNC_CHECKPOINT_MAX);
			if (f != NULL)
				p->seen[o].polling = true;
		}
	}
}

int ctl_syncnet_staleness(struct ctl_syncnet *n, uint64_t now, uint64_t *age_s, char *detail,
			  size_t cap)
{
	const struct ledger_consortium *cs;
	uint64_t contact = 0, oldest = 0;
	int worst = -1;

	if (n == NULL)
		return -ENOENT;
	cs = ledger_consortium(n->d->l);
	for (unsigned i = 0; i < n->nb_peers; i++)
		if (n->peers[i].last_ok_ns > contact)
			contact = n->peers[i].last_ok_ns;
	behind_update(n, now);
	for (unsigned o = 0; o < cs->nb_members; o++) {
		if (n->behind_ns[o] != 0 && (oldest == 0 || n->behind_ns[o] < oldest)) {
			oldest = n->behind_ns[o];
			worst = (int)o;
		}
	}
	if (contact == 0)
		contact = n->start_ns;
	if (oldest != 0 && now - oldest >= now - contact) {
		*age_s = (now - oldest) / 1000000000ull;
		snprintf(detail, cap, "log %s: peers have had more of it than held here for %llu s",
			 cs->members[worst].name, (unsigned long long)*age_s);
	} else {
		*age_s = (now - contact) / 1000000000ull;
		snprintf(detail, cap, "no peer has answered for %llu s", (unsigned long long)*age_s);
	}
	return 0;
}

json_t *ctl_syncnet_peers_json(const struct ctl_syncnet *n)
{
	json_t *a = json_array();
	uint64_t now = ctl_now_ns();

	if (n == NULL)
		return a;
	for (unsigned i = 0; i < n->nb_peers; i++) {
		const struct sync_peer *p = &n->peers[i];
		const struct ledger_consortium *cs = ledger_consortium(n->d->l);
		json_t *logs = json_array();

		for (unsigned o = 0; o < cs->nb_members; o++) {
			struct ledger_head h;
			bool behind;

			if ((int)o == ledger_self(n->d->l) || p->seen[o].ns == 0)
				continue;
			if (ledger_head_get(n->d->l, o, &h) != 0)
				continue;
			behind = p->seen[o].size > h.size && n->behind_ns[o] != 0 &&
				 now > n->behind_ns[o];
			json_array_append_new(logs, json_pack(
				"{s:s, s:I, s:I, s:I, s:f, s:f, s:b}", "member", cs->members[o].name,
				"peer_size", (json_int_t)p->seen[o].size, "held",
				(json_int_t)h.size, "lag_entries",
				(json_int_t)(p->seen[o].size > h.size ? p->seen[o].size - h.size
								      : 0),
				"lag_sec", behind ? (double)(now - n->behind_ns[o]) / 1e9 : 0.0,
				"seen_sec_ago", (double)(now - p->seen[o].ns) / 1e9, "frozen",
				n->d->frozen[o]));
		}
		json_array_append_new(a, json_pack(
			"{s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:s, s:o}", "member", p->name, "url",
			p->url, "connected", p->connected, "requests", (json_int_t)p->nb_requests,
			"errors", (json_int_t)p->nb_errors, "bytes_in", (json_int_t)p->bytes_in,
			"entries_in", (json_int_t)p->nb_entries_in, "last_error", p->last_error,
			"logs", logs));
	}
	return a;
}
