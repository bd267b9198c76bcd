/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The sync service, serving side (docs/sync.md): every log this member
 * holds, its own and the ones it mirrors, over HTTPS with mutual TLS 1.3,
 * as C2SP tlog-tiles plus the signed block headers a peer needs to take
 * the blocks in.
 *
 *   GET /<origin>/checkpoint                 latest checkpoint note
 *   GET /<origin>/tile/<L>/<N>[.p/<W>]       hash tile
 *   GET /<origin>/tile/entries/<N>[.p/<W>]   entry bundle
 *   GET /<origin>/blocks/<N>[.p/<W>]         block headers N*256 ...
 *   GET /<origin>/feed?from=<size>           server-sent events: each block
 *                                            and checkpoint as it is written
 *   POST /add-checkpoint                     C2SP tlog-witness (witness.c)
 *   GET /forks                               the fork evidence held
 *
 * Peers are known by key, not by name or CA: the client certificate's
 * Ed25519 key must be the TLS key that an active member's membership entry
 * lists, checked by a GnuTLS verify function inside the handshake (set per
 * session when libmicrohttpd announces the connection, before its first
 * handshake step), so a stranger never reaches a request handler.
 *
 * libmicrohttpd runs in external-epoll mode inside the daemon's loop.  Two
 * of its habits are worked around here: a response queued on the first
 * call of the handler closes the connection (so replies go on the second
 * call), and while a TLS handshake waits for the peer MHD_get_timeout()
 * keeps saying 0; the loop therefore runs MHD when its epoll fd fires and
 * otherwise at most once per loop tick, never in a spin.
 *
 * Loop thread only.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <sodium.h>

#include "control/daemon.h"
#include "control/sync_net.h"

#define SRV_CONNECTIONS_MAX 1024
#define SRV_PER_IP_MAX (LEDGER_MEMBERS_MAX + 16) /* a peer: a feed per log, requests */
#define SRV_IDLE_SEC 60
#define SRV_PEM_MAX (16u << 10)
#define SRV_FEED_QUEUE_MAX (16u << 20)	/* bytes queued per feed before it is cut */
#define SRV_FEED_BACKLOG_MAX 65536	/* entries sent on subscribing, else "behind" */
#define SRV_FEED_BEAT_NS (15ull * 1000000000ull)

/* A subscriber of one log's feed. */
struct srv_feed {
	struct ctl_syncsrv *s;
	struct MHD_Connection *conn;
	unsigned origin;
	int member;	  /* who subscribed */
	char *q;	  /* bytes to send: q[off..len) */
	size_t off, len, cap;
	bool suspended;
	bool ending;	  /* send what is queued, then end the stream */
	uint64_t sent_ns; /* last bytes queued (heartbeats) */
	struct srv_feed *next;
};

struct srv_conn {
	struct ctl_syncsrv *s;
	gnutls_session_t tls;
	int member; /* whose TLS key the client showed; -1 before the handshake */
	bool refused;
};

static int srv_marker; /* *req_cls of a GET seen once */

#define SRV_POST_MAX (64u << 10) /* an add-checkpoint body */

struct srv_post {
	char *body;
	size_t len;
	bool too_big;
};

/* The raw Ed25519 key of a DER certificate.  0 or -1. */
int ctl_tls_cert_key(const gnutls_datum_t *der, uint8_t pk[32])
{
	gnutls_x509_crt_t crt;
	gnutls_pubkey_t pub;
	gnutls_ecc_curve_t curve;
	gnutls_datum_t x = { NULL, 0 };
	int rc = -1;

	if (gnutls_x509_crt_init(&crt) < 0)
		return -1;
	if (gnutls_pubkey_init(&pub) < 0) {
		gnutls_x509_crt_deinit(crt);
		return -1;
	}
	if (gnutls_x509_crt_import(crt, der, GNUTLS_X509_FMT_DER) >= 0 &&
	    gnutls_pubkey_import_x509(pub, crt, 0) >= 0 &&
	    gnutls_pubkey_export_ecc_raw2(pub, &curve, &x, NULL, 0) >= 0 &&
	    curve == GNUTLS_ECC_CURVE_ED25519 && x.size == 32) {
		memcpy(pk, x.data, 32);
		rc = 0;
	}
	gnutls_free(x.data);
	gnutls_pubkey_deinit(pub);
	gnutls_x509_crt_deinit(crt);
	return rc;
}

int ctl_tls_member_of_key(const struct ledger_consortium *cs, const uint8_t pk[32])
{
	int m = ledger_member_find_tls(cs, pk);

	return m >= 0 && cs->members[m].active ? m : -1;
}

static struct srv_conn *conn_of_session(gnutls_session_t session)
{
	/* libmicrohttpd sets the session's pointer to its connection */
	struct MHD_Connection *c = gnutls_session_get_ptr(session);
	const union MHD_ConnectionInfo *ci =
		c != NULL ? MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT) : NULL;
	struct srv_conn *sc = ci != NULL ? ci->socket_context : NULL;

	return sc != NULL && sc->tls == session ? sc : NULL;
}

/* Inside gnutls_handshake, once the client's certificate is in: non-zero
 * fails the handshake. */
static int verify_client(gnutls_session_t session)
{
	struct srv_conn *sc = conn_of_session(session);
	const gnutls_datum_t *chain;
	unsigned n = 0;
	uint8_t pk[32];
	int m = -1;

	if (sc == NULL)
		return -1;
	chain = gnutls_certificate_get_peers(session, &n);
	if (gnutls_certificate_type_get2(session, GNUTLS_CTYPE_PEERS) == GNUTLS_CRT_X509 &&
	    chain != NULL && n > 0 && ctl_tls_cert_key(&chain[0], pk) == 0)
		m = ctl_tls_member_of_key(ledger_consortium(sc->s->d->l), pk);
	if (m >= 0) {
		sc->member = m;
		return 0;
	}
	sc->refused = true;
	sc->s->nb_tls_refused++;
	/* libmicrohttpd closes a failed handshake without an alert: send one, so
	 * the peer learns why */
	gnutls_alert_send(session, GNUTLS_AL_FATAL, GNUTLS_A_ACCESS_DENIED);
	return -1;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct ctl_syncsrv *s = cls;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
		struct srv_conn *sc = calloc(1, sizeof(*sc));

		*socket_context = sc;
		if (sc == NULL || ci == NULL) {
			/* no way to pin this one: make its handshake fail */
			if (ci != NULL)
				gnutls_session_set_verify_function(ci->tls_session, NULL);
			return;
		}
		sc->s = s;
		sc->tls = ci->tls_session;
		sc->member = -1;
		s->nb_conns++;
		/* REQUEST, not REQUIRE: the verify function then also runs for a
		 * client without a certificate, and refuses it with an alert */
		gnutls_certificate_server_set_request(sc->tls, GNUTLS_CERT_REQUEST);
		gnutls_session_set_verify_function(sc->tls, verify_client);
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		struct srv_conn *sc = *socket_context;

		/* the TLS session is gone already here */
		if (sc != NULL && sc->refused) {
			const union MHD_ConnectionInfo *fi =
				MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
			char junk[4096];

			/* read what the client sent after its Finished, so the close
			 * is a FIN that lets the alert arrive, not a reset */
			for (int i = 0; fi != NULL && i < 16 &&
					recv(fi->connect_fd, junk, sizeof(junk), MSG_DONTWAIT) > 0;
			     i++)
				;
		}
		free(sc);
		*socket_context = NULL;
	}
}

__attribute__((format(printf, 2, 0)))
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];
	size_t n;

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	rg_mask_text(buf);
	ctl_log(CTL_LOG_DEBUG, "sync server: %s", buf);
}

static enum MHD_Result reply(struct ctl_syncsrv *s, struct MHD_Connection *c, unsigned status,
			     void *body, size_t len, enum MHD_ResponseMemoryMode mode,
			     const char *type, const char *cache)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
	enum MHD_Result ret;

	if (r == NULL) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	if (cache != NULL)
		MHD_add_response_header(r, "Cache-Control", cache);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	if (status == MHD_HTTP_OK)
		s->bytes_out += len;
	return ret;
}

static enum MHD_Result reply_error(struct ctl_syncsrv *s, struct MHD_Connection *c,
				   unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static enum MHD_Result reply_error(struct ctl_syncsrv *s, struct MHD_Connection *c,
				   unsigned status, const char *fmt, ...)
{
	char *msg = malloc(512);
	va_list ap;

	if (msg == NULL)
		return MHD_NO;
	va_start(ap, fmt);
	vsnprintf(msg, 510, fmt, ap);
	va_end(ap);
	rg_mask_text(msg);
	strcat(msg, "\n");
	if (status == MHD_HTTP_NOT_FOUND)
		s->nb_not_found++;
	else
		s->nb_bad_requests++;
	return reply(s, c, status, msg, strlen(msg), MHD_RESPMEM_MUST_FREE,
		     "text/plain; charset=utf-8", "no-store");
}

/* "/riskgate/<consortium>/<member>/REST": the member, *rest set. */
static int route_origin(const struct ledger_consortium *cs, const char *url, const char **rest)
{
	char origin[LEDGER_ORIGIN_MAX + 1];
	const char *p = url + 1;
	size_t len;
	int slashes = 0;

	if (url[0] != '/')
		return -1;
	for (const char *q = p; *q; q++) {
		if (*q == '/' && ++slashes == 3) {
			len = (size_t)(q - p);
			if (len > LEDGER_ORIGIN_MAX)
				return -1;
			memcpy(origin, p, len);
			origin[len] = '\0';
			*rest = q + 1;
			return ledger_origin_member(cs, origin);
		}
	}
	return -1;
}

/* ---- the push feed ---- */

static void feed_wake(struct srv_feed *f)
{
	if (f->suspended) {
		f->suspended = false;
		MHD_resume_connection(f->conn);
		f->s->next_ns = 0; /* run MHD on the next tick at the latest */
	}
}

/* Queue n bytes; a feed that falls SRV_FEED_QUEUE_MAX behind is told so
 * and ended: its reader catches up from tiles. */
static void feed_put(struct srv_feed *f, const char *data, size_t n)
{
	if (f->ending)
		return;
	if (f->len - f->off + n > SRV_FEED_QUEUE_MAX) {
		static const char behind[] = "event: behind\ndata: queue full\n\n";

		f->off = f->len = 0;
		data = behind;
		n = sizeof(behind) - 1;
		f->ending = true;
		f->s->nb_feeds_behind++;
	}
	if (f->off > 0 && f->len + n > f->cap) {
		memmove(f->q, f->q + f->off, f->len - f->off);
		f->len -= f->off;
		f->off = 0;
	}
	if (f->len + n > f->cap) {
		size_t c = f->cap ? f->cap : 65536;
		char *nq;

		while (c < f->len + n)
			c *= 2;
		nq = realloc(f->q, c);
		if (nq == NULL) {
			f->ending = true;
			feed_wake(f);
			return;
		}
		f->q = nq;
		f->cap = c;
	}
	memcpy(f->q + f->len, data, n);
	f->len += n;
	f->sent_ns = ctl_now_ns();
	f->s->feed_bytes += n;
	feed_wake(f);
}

/* "event: checkpoint\ndata: <line>\n" per line of the note, "\n" */
static size_t checkpoint_event(const struct ledger_checkpoint *c, char *out, size_t cap)
{
	char note[LEDGER_CHECKPOINT_MAX];
	int len = ledger_checkpoint_encode(c, note, sizeof(note));
	size_t off;

	if (len <= 0)
		return 0;
	off = (size_t)snprintf(out, cap, "event: checkpoint\n");
	for (char *line = note; line < note + len;) {
		char *eol = memchr(line, '\n', (size_t)(note + len - line));

		off += (size_t)snprintf(out + off, cap - off, "data: %.*s\n", (int)(eol - line),
					line);
		line = eol + 1;
	}
	off += (size_t)snprintf(out + off, cap - off, "\n");
	return off < cap ? off : 0;
}

/* A feed whose subscriber was removed from the membership ends. */
static bool feed_alive(struct srv_feed *f)
{
	const struct ledger_consortium *cs = ledger_consortium(f->s->d->l);

	if (f->member >= 0 && (unsigned)f->member < cs->nb_members &&
	    cs->members[f->member].active)
		return !f->ending;
	if (!f->ending) {
		f->ending = true;
		feed_wake(f);
	}
	return false;
}

void ctl_syncsrv_block(struct ctl_syncsrv *s, unsigned member, const struct ledger_block *b,
		       const uint8_t *const *entries, const uint16_t *lens)
{
	char *ev = NULL;
	size_t len = 0;

	if (s == NULL)
		return;
	for (struct srv_feed *f = s->feeds; f != NULL; f = f->next) {
		if (f->origin != member || !feed_alive(f))
			continue;
		if (ev == NULL) {
			ev = ctl_block_event_encode(b, entries, lens, &len);
			if (ev == NULL)
				return;
		}
		feed_put(f, ev, len);
		s->nb_feed_blocks++;
	}
	free(ev);
}

void ctl_syncsrv_checkpoint(struct ctl_syncsrv *s, unsigned member,
			    const struct ledger_checkpoint *c)
{
	char ev[2 * LEDGER_CHECKPOINT_MAX];
	size_t len = 0;

	if (s == NULL)
		return;
	for (struct srv_feed *f = s->feeds; f != NULL; f = f->next) {
		if (f->origin != member || !feed_alive(f))
			continue;
		if (len == 0 && (len = checkpoint_event(c, ev, sizeof(ev))) == 0)
			return;
		feed_put(f, ev, len);
	}
}

static ssize_t feed_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct srv_feed *f = cls;
	size_t n = f->len - f->off;

	(void)pos;
	if (n == 0) {
		if (f->ending)
			return MHD_CONTENT_READER_END_OF_STREAM;
		/* nothing to send: sleep until a block, a checkpoint or a beat */
		f->suspended = true;
		MHD_suspend_connection(f->conn);
		return 0;
	}
	if (n > max)
		n = max;
	memcpy(buf, f->q + f->off, n);
	f->off += n;
	if (f->off == f->len)
		f->off = f->len = 0;
	return (ssize_t)n;
}

static void feed_free(void *cls)
{
	struct srv_feed *f = cls;

	for (struct srv_feed **pp = &f->s->feeds; *pp; pp = &(*pp)->next)
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	f->s->nb_feeds_open--;
	free(f->q);
	free(f);
}

/* The blocks of member's log from the one holding position from, queued:
 * 0, or -E2BIG when that is more than a feed sends on subscribing. */
static int feed_backlog(struct srv_feed *f, unsigned m, uint64_t from,
			const struct ledger_head *h)
{
	struct ledger *l = f->s->d->l;
	uint64_t lo = 0, hi = h->nb_blocks, first;
	struct ledger_block b;
	uint8_t *bund = NULL;
	const uint8_t **ptrs = NULL;
	uint16_t *lens = NULL;
	uint64_t n, got = 0;
	int rc = 0;

	if (from >= h->size)
		return 0;
	while (lo < hi) { /* the block holding from */
		uint64_t mid = lo + (hi - lo) / 2;

		if (ledger_block_get(l, m, mid, &b) != 0)
			return -EIO;
		if (b.first_pos + b.nb_entries <= from)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (ledger_block_get(l, m, lo, &b) != 0)
		return -EIO;
	first = b.first_pos;
	n = h->size - first;
	if (n > SRV_FEED_BACKLOG_MAX)
		return -E2BIG;
	bund = malloc(((n + 2 * LEDGER_TILE_WIDTH) / LEDGER_TILE_WIDTH) * LEDGER_BUNDLE_BYTES_MAX);
	ptrs = malloc(n * sizeof(*ptrs));
	lens = malloc(n * sizeof(*lens));
	if (bund == NULL || ptrs == NULL || lens == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	/* the entries from first on, out of the entry bundles */
	for (uint64_t idx = first / LEDGER_TILE_WIDTH, off = 0; got < n; idx++) {
		struct ledger_tile_ref t = { -1, idx, ledger_tile_width(-1, idx, h->size) };
		size_t len, p = 0;
		uint64_t pos = idx * LEDGER_TILE_WIDTH;

		rc = ledger_tile_read(l, m, &t, h->size, bund + off, LEDGER_BUNDLE_BYTES_MAX, &len);
		if (rc != 0)
			goto out;
		for (unsigned i = 0; i < t.width; i++, pos++) {
			uint16_t el = (uint16_t)(bund[off + p] << 8 | bund[off + p + 1]);

			if (pos >= first && got < n) {
				ptrs[got] = bund + off + p + 2;
				lens[got++] = el;
			}
			p += 2 + (size_t)el;
		}
		off += len;
	}
	for (uint64_t height = lo, k = 0; height < h->nb_blocks; height++) {
		char *ev;
		size_t len;

		if (ledger_block_get(l, m, height, &b) != 0) {
			rc = -EIO;
			goto out;
		}
		ev = ctl_block_event_encode(&b, ptrs + k, lens + k, &len);
		if (ev == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		feed_put(f, ev, len);
		free(ev);
		k += b.nb_entries;
	}
out:
	free(bund);
	free(ptrs);
	free(lens);
	return rc;
}

static enum MHD_Result serve_feed(struct ctl_syncsrv *s, struct MHD_Connection *c, int m,
				  const struct ledger_head *h, int member)
{
	const char *from_s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "from");
	struct MHD_Response *r;
	struct ledger_checkpoint cp;
	struct srv_feed *f;
	enum MHD_Result ret;
	uint64_t from = h->size;
	char ev[2 * LEDGER_CHECKPOINT_MAX];
	size_t len;
	int rc;

	if (from_s != NULL) {
		char *end;

		errno = 0;
		from = strtoull(from_s, &end, 10);
		if (errno != 0 || *end != '\0' || end == from_s || from_s[0] == '-')
			return reply_error(s, c, MHD_HTTP_BAD_REQUEST,
					   "feed: from must be a tree size");
	}
	if (s->nb_feeds_open >= SRV_CONNECTIONS_MAX / 2)
		return reply_error(s, c, MHD_HTTP_SERVICE_UNAVAILABLE, "feed: too many feeds open");
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return MHD_NO;
	f->s = s;
	f->conn = c;
	f->origin = (unsigned)m;
	f->member = member;
	f->sent_ns = ctl_now_ns();
	s->nb_feeds_open++;
	s->nb_feeds++;
	f->next = s->feeds;
	s->feeds = f;
	/* an opening comment, then what the subscriber lacks (or "behind") */
	feed_put(f, ": riskgate feed\n\n", 18);
	rc = from > h->size ? 0 : feed_backlog(f, (unsigned)m, from, h);
	if (rc == -E2BIG) {
		char b[96];

		snprintf(b, sizeof(b), "event: behind\ndata: %llu\n\n",
			 (unsigned long long)h->size);
		feed_put(f, b, strlen(b));
		f->ending = true;
	} else if (rc != 0) {
		f->ending = true;
	} else if (ledger_checkpoint_latest(s->d->l, (unsigned)m, &cp) == 0 &&
		   (len = checkpoint_event(&cp, ev, sizeof(ev))) > 0) {
		feed_put(f, ev, len);
	}
	f->suspended = false;
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, feed_reader, f,
					      feed_free);
	if (r == NULL) {
		feed_free(f);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "text/event-stream");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static void feeds_beat(struct ctl_syncsrv *s, uint64_t now)
{
	for (struct srv_feed *f = s->feeds; f != NULL; f = f->next)
		if (feed_alive(f) && now - f->sent_ns > SRV_FEED_BEAT_NS)
			feed_put(f, ": beat\n\n", 9);
}

#define SRV_FORKS_MAX 64

struct forks_out {
	uint8_t *buf;
	size_t len;
	unsigned nb;
};

static int fork_record(void *arg, const struct ledger_evidence *ev)
{
	struct forks_out *o = arg;

	if (ev->problem != LEDGER_EVIDENCE_FORK || o->nb == SRV_FORKS_MAX)
		return 0;
	o->buf[o->len] = (uint8_t)ev->object;
	o->buf[o->len + 1] = (uint8_t)(ev->alen >> 8);
	o->buf[o->len + 2] = (uint8_t)ev->alen;
	memcpy(o->buf + o->len + 3, ev->a, ev->alen);
	o->len += 3 + ev->alen;
	o->buf[o->len] = (uint8_t)(ev->blen >> 8);
	o->buf[o->len + 1] = (uint8_t)ev->blen;
	memcpy(o->buf + o->len + 2, ev->b, ev->blen);
	o->len += 2 + ev->blen;
	o->nb++;
	return 0;
}

/* GET /forks: the fork evidence held, so every member learns of a fork
 * (docs/sync.md, "Forks"). */
static enum MHD_Result serve_forks(struct ctl_syncsrv *s, struct MHD_Connection *c)
{
	struct forks_out o = { malloc(SRV_FORKS_MAX * (5 + 2 * LEDGER_NOTE_MAX)), 0, 0 };

	if (o.buf == NULL)
		return MHD_NO;
	if (ledger_evidence_iterate(s->d->l, fork_record, &o) != 0) {
		free(o.buf);
		return reply_error(s, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "evidence unreadable");
	}
	return reply(s, c, MHD_HTTP_OK, o.buf, o.len, MHD_RESPMEM_MUST_FREE,
		     "application/octet-stream", "no-cache");
}

static enum MHD_Result serve_get(struct ctl_syncsrv *s, struct MHD_Connection *c,
				 const char *url)
{
	struct ledger *l = s->d->l;
	const struct ledger_consortium *cs = ledger_consortium(l);
	const char *rest = NULL, *why = NULL;
	struct ledger_head h;
	int m = route_origin(cs, url, &rest), rc;

	if (strcmp(url, "/forks") == 0)
		return serve_forks(s, c);
	if (m < 0)
		return reply_error(s, c, MHD_HTTP_NOT_FOUND,
				   "no log of this consortium at %s (want /riskgate/<consortium>/"
				   "<member>/...)", url);
	if (ledger_head_get(l, (unsigned)m, &h) != 0)
		return reply_error(s, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot read the head");
	if (strcmp(rest, "checkpoint") == 0) {
		char *note = malloc(LEDGER_NOTE_MAX);
		int len;

		if (note == NULL)
			return MHD_NO;
		/* this member's view: with the cosignatures it holds for it */
		len = ctl_witness_view(s->d, (unsigned)m, note, LEDGER_NOTE_MAX);
		if (len < 0) {
			free(note);
			return reply_error(s, c, MHD_HTTP_NOT_FOUND,
					   "member %s has no checkpoint here yet",
					   cs->members[m].name);
		}
		s->nb_checkpoints++;
		return reply(s, c, MHD_HTTP_OK, note, (size_t)len, MHD_RESPMEM_MUST_FREE,
			     "text/plain; charset=utf-8", "no-cache");
	}
	if (strncmp(rest, "tile/", 5) == 0) {
		struct ledger_tile_ref t;
		size_t len, cap;
		uint8_t *buf;
		struct ledger_checkpoint cp;
		uint64_t size = 0;

		rc = ledger_tile_parse(rest, strlen(rest), &t, &why);
		if (rc != 0)
			return reply_error(s, c, rc == -ENOENT ? MHD_HTTP_NOT_FOUND
							       : MHD_HTTP_BAD_REQUEST,
					   "%s: %s", url, why);
		/* tiles of the tree its latest checkpoint signs: what a reader can check */
		if (ledger_checkpoint_latest(l, (unsigned)m, &cp) == 0)
			size = cp.size;
		cap = t.level < 0 ? LEDGER_BUNDLE_BYTES_MAX : LEDGER_TILE_BYTES;
		buf = malloc(cap);
		if (buf == NULL)
			return MHD_NO;
		rc = ledger_tile_read(l, (unsigned)m, &t, size, buf, cap, &len);
		if (rc != 0) {
			free(buf);
			return reply_error(s, c, rc == -ENOENT ? MHD_HTTP_NOT_FOUND
							       : MHD_HTTP_INTERNAL_SERVER_ERROR,
					   "%s: %s", url,
					   rc == -ENOENT ? "beyond the tree of the latest checkpoint"
							 : strerror(-rc));
		}
		s->nb_tiles++;
		return reply(s, c, MHD_HTTP_OK, buf, len, MHD_RESPMEM_MUST_FREE,
			     "application/octet-stream",
			     t.width == LEDGER_TILE_WIDTH ? "public, max-age=31536000, immutable"
							  : "public, max-age=60");
	}
	if (strncmp(rest, "blocks/", 7) == 0) {
		uint64_t idx;
		unsigned width;
		size_t len;
		uint8_t *buf;

		rc = ledger_tile_index_parse(rest + 7, strlen(rest + 7), &idx, &width, &why);
		if (rc != 0)
			return reply_error(s, c, MHD_HTTP_BAD_REQUEST, "%s: %s", url, why);
		/* without .p/<W>: what is held of the group, full or not */
		if (width == LEDGER_TILE_WIDTH && ledger_tile_width(0, idx, h.nb_blocks) > 0)
			width = ledger_tile_width(0, idx, h.nb_blocks);
		buf = malloc((size_t)width * LEDGER_BLOCK_BYTES);
		if (buf == NULL)
			return MHD_NO;
		rc = ledger_blocks_read(l, (unsigned)m, idx, width, h.nb_blocks, buf,
					(size_t)width * LEDGER_BLOCK_BYTES, &len);
		if (rc != 0) {
			free(buf);
			return reply_error(s, c, rc == -ENOENT ? MHD_HTTP_NOT_FOUND
							       : MHD_HTTP_INTERNAL_SERVER_ERROR,
					   "%s: %s", url,
					   rc == -ENOENT ? "beyond the blocks held" : strerror(-rc));
		}
		s->nb_blocks++;
		return reply(s, c, MHD_HTTP_OK, buf, len, MHD_RESPMEM_MUST_FREE,
			     "application/octet-stream",
			     width == LEDGER_TILE_WIDTH ? "public, max-age=31536000, immutable"
							: "public, max-age=60");
	}
	if (strcmp(rest, "feed") == 0) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
		const struct srv_conn *sc = ci != NULL ? ci->socket_context : NULL;

		return serve_feed(s, c, m, &h, sc != NULL ? sc->member : -1);
	}
	return reply_error(s, c, MHD_HTTP_NOT_FOUND, "%s: no such resource", url);
}

static enum MHD_Result serve_witness(struct ctl_syncsrv *s, struct MHD_Connection *c,
				     struct srv_post *post)
{
	char *out = malloc(LEDGER_NOTE_MAX);
	const char *ctype = "text/plain";
	size_t len = 0;
	unsigned status;

	if (out == NULL)
		return MHD_NO;
	status = ctl_witness_add(s->d, post->body != NULL ? post->body : "", post->len, out,
				 LEDGER_NOTE_MAX, &len, &ctype);
	if (status != 200)
		s->nb_bad_requests++;
	return reply(s, c, status, out, len, MHD_RESPMEM_MUST_FREE, ctype, "no-store");
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls, (void)c, (void)toe;
	if (*req_cls != NULL && *req_cls != &srv_marker) {
		struct srv_post *post = *req_cls;

		free(post->body);
		free(post);
	}
	*req_cls = NULL;
}

/* Whether the member whose key opened c is (still) an active member. */
static bool conn_member_active(struct ctl_syncsrv *s, struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	const struct srv_conn *sc = ci != NULL ? ci->socket_context : NULL;
	const struct ledger_consortium *cs = ledger_consortium(s->d->l);

	if (sc == NULL || sc->member < 0 || (unsigned)sc->member >= cs->nb_members ||
	    !cs->members[sc->member].active) {
		s->nb_tls_refused++;
		return false;
	}
	return true;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
			       const char *method, const char *version, const char *upload,
			       size_t *upload_len, void **req_cls)
{
	struct ctl_syncsrv *s = cls;

	(void)version;
	if (*req_cls == NULL) {
		/* a kept-alive connection of a member removed since its handshake
		 * is asked for nothing more */
		if (!conn_member_active(s, c))
			return MHD_NO;
		/* replying on the first call would close the connection */
		if (strcmp(method, "POST") == 0 && strcmp(url, "/add-checkpoint") == 0) {
			struct srv_post *post = calloc(1, sizeof(*post));

			if (post == NULL)
				return MHD_NO;
			*req_cls = post;
		} else {
			*req_cls = &srv_marker;
		}
		return MHD_YES;
	}
	if (*req_cls != &srv_marker) {
		struct srv_post *post = *req_cls;

		if (*upload_len != 0) {
			if (post->too_big || post->len + *upload_len > SRV_POST_MAX) {
				post->too_big = true;
			} else {
				char *nb = realloc(post->body, post->len + *upload_len + 1);

				if (nb == NULL)
					return MHD_NO;
				post->body = nb;
				memcpy(post->body + post->len, upload, *upload_len);
				post->len += *upload_len;
			}
			*upload_len = 0;
			return MHD_YES;
		}
		s->nb_requests++;
		if (post->too_big)
			return reply_error(s, c, MHD_HTTP_CONTENT_TOO_LARGE,
					   "add-checkpoint: body beyond 64 KiB");
		return serve_witness(s, c, post);
	}
	if (*upload_len != 0) {
		*upload_len = 0; /* no GET takes a body */
		return MHD_YES;
	}
	s->nb_requests++;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return reply_error(s, c, MHD_HTTP_METHOD_NOT_ALLOWED, "method %.16s not allowed",
				   method);
	return serve_get(s, c, url);
}

char *ctl_pem_read(const char *path, bool secret, size_t *len, char *err, size_t cap)
{
	char *buf;
	struct stat sb;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, cap, "%s: %s (riskgate-ledger tls-key makes the member's TLS key)",
			 path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size <= 0 ||
	    sb.st_size >= SRV_PEM_MAX) {
		close(fd);
		snprintf(err, cap, "%s: not a PEM file of a sane size", path);
		return NULL;
	}
	if (secret && (sb.st_mode & 077) != 0) {
		close(fd);
		snprintf(err, cap, "%s: permissions %04o are too open for a secret key; chmod 600 %s",
			 path, (unsigned)(sb.st_mode & 07777), path);
		return NULL;
	}
	buf = sodium_malloc(SRV_PEM_MAX);
	if (buf == NULL) {
		close(fd);
		snprintf(err, cap, "out of memory");
		return NULL;
	}
	n = read(fd, buf, SRV_PEM_MAX - 1);
	close(fd);
	if (n <= 0) {
		sodium_free(buf);
		snprintf(err, cap, "%s: cannot read", path);
		return NULL;
	}
	buf[n] = '\0';
	if (len != NULL)
		*len = (size_t)n;
	return buf;
}

int ctl_syncsrv_open(struct ctl_daemon *d, char *err, size_t cap)
{
	struct ctl_syncsrv *s;
	struct sockaddr_in sa;
	char path[CTL_PATH_MAX + 16], *key, *cert;
	const union MHD_DaemonInfo *info;
	int self = ledger_self(d->l);

	d->syncsrv = NULL;
	if (!d->cfg.sync_listen[0])
		return 0;
	if (self < 0)
		ctl_log(CTL_LOG_WARN, "sync: serving before this member is in the membership: "
			"members accept its key once a membership change lists it");
	if (ctl_metrics_addr(d->cfg.sync_listen, &sa) != 0) {
		snprintf(err, cap, "sync_listen: \"%s\" is not an IPv4 \"ADDR:PORT\"",
			 d->cfg.sync_listen);
		return -EINVAL;
	}
	snprintf(path, sizeof(path), "%s/tls.key", d->cfg.ledger_dir);
	key = ctl_pem_read(path, true, NULL, err, cap);
	if (key == NULL)
		return -EACCES;
	snprintf(path, sizeof(path), "%s/tls.crt", d->cfg.ledger_dir);
	cert = ctl_pem_read(path, false, NULL, err, cap);
	if (cert == NULL) {
		sodium_free(key);
		return -EACCES;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		sodium_free(key);
		sodium_free(cert);
		snprintf(err, cap, "out of memory");
		return -ENOMEM;
	}
	s->d = d;
	s->ep_fd = -1;
	s->mhd = MHD_start_daemon(
		MHD_USE_TLS | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
		ntohs(sa.sin_port), NULL, NULL, handler, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
		NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_HTTPS_MEM_KEY, key,
		MHD_OPTION_HTTPS_MEM_CERT, cert, MHD_OPTION_HTTPS_PRIORITIES,
		"NORMAL:-VERS-ALL:+VERS-TLS1.3", MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_CONNECTION_LIMIT,
		(unsigned)SRV_CONNECTIONS_MAX,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)SRV_PER_IP_MAX,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)SRV_IDLE_SEC, MHD_OPTION_END);
	/* the key went into GnuTLS's credentials at start */
	sodium_free(key);
	sodium_free(cert);
	if (s->mhd == NULL) {
		free(s);
		snprintf(err, cap, "sync_listen %s: cannot serve (address in use, or the TLS key "
			 "and certificate do not load)", d->cfg.sync_listen);
		return -EADDRNOTAVAIL;
	}
	info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (info == NULL) {
		MHD_stop_daemon(s->mhd);
		free(s);
		snprintf(err, cap, "sync: libmicrohttpd without epoll");
		return -ENOTSUP;
	}
	s->ep_fd = info->epoll_fd;
	d->syncsrv = s;
	ctl_log(CTL_LOG_INFO, "sync: serving the logs held on %s (mutual TLS 1.3, member keys "
		"pinned)", d->cfg.sync_listen);
	return 0;
}

void ctl_syncsrv_run(struct ctl_syncsrv *s, uint64_t now_ns)
{
	MHD_UNSIGNED_LONG_LONG to;

	if (s == NULL)
		return;
	MHD_run(s->mhd);
	s->nb_runs++;
	/* 0 may be a handshake waiting for its peer (see the file header):
	 * the next tick is soon enough */
	if (MHD_get_timeout(s->mhd, &to) == MHD_YES)
		s->next_ns = now_ns + (uint64_t)to * 1000000ull;
	else
		s->next_ns = UINT64_MAX;
}

void ctl_syncsrv_tick(struct ctl_syncsrv *s, uint64_t now_ns)
{
	if (s == NULL)
		return;
	if (now_ns - s->beat_ns > SRV_FEED_BEAT_NS / 4) {
		s->beat_ns = now_ns;
		feeds_beat(s, now_ns);
	}
	if (now_ns >= s->next_ns)
		ctl_syncsrv_run(s, now_ns);
}

int ctl_syncsrv_fd(const struct ctl_syncsrv *s)
{
	return s != NULL ? s->ep_fd : -1;
}

void ctl_syncsrv_close(struct ctl_syncsrv *s)
{
	if (s == NULL)
		return;
	/* suspended connections must be resumed before the daemon stops */
	for (struct srv_feed *f = s->feeds; f != NULL; f = f->next) {
		f->ending = true;
		feed_wake(f);
	}
	MHD_run(s->mhd);
	MHD_stop_daemon(s->mhd);
	free(s);
}

json_t *ctl_syncsrv_stats(const struct ctl_syncsrv *s)
{
	if (s == NULL)
		return json_null();
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			 "feeds_open", (json_int_t)s->nb_feeds_open, "feeds", (json_int_t)s->nb_feeds,
			 "feed_blocks", (json_int_t)s->nb_feed_blocks, "feeds_behind",
			 (json_int_t)s->nb_feeds_behind, "connections",
			 (json_int_t)s->nb_conns, "tls_refused", (json_int_t)s->nb_tls_refused,
			 "requests", (json_int_t)s->nb_requests, "checkpoints",
			 (json_int_t)s->nb_checkpoints, "tiles", (json_int_t)s->nb_tiles,
			 "blocks", (json_int_t)s->nb_blocks, "not_found",
			 (json_int_t)s->nb_not_found, "bad_requests",
			 (json_int_t)s->nb_bad_requests, "bytes_out", (json_int_t)s->bytes_out,
			 "feed_bytes", (json_int_t)s->feed_bytes);
}
