/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Member sync over the network (docs/sync.md): the serving side
 * (control/syncsrv.c, libmicrohttpd + GnuTLS) and the fetching side
 * (control/syncpeer.c, libcurl multi), both driven by the daemon's loop.
 * Loop thread only.
 */
#ifndef CTL_SYNC_NET_H
#define CTL_SYNC_NET_H

#include <stdbool.h>
#include <stdint.h>

#include <gnutls/gnutls.h>
#include <jansson.h>

struct ctl_daemon;
struct ledger_block;
struct ledger_checkpoint;
struct ledger_consortium;
struct srv_feed;

/* ---- serving (syncsrv.c) ---- */

struct ctl_syncsrv {
	struct ctl_daemon *d;
	struct MHD_Daemon *mhd;
	int ep_fd;	  /* libmicrohttpd's epoll fd, in the daemon's epoll set */
	uint64_t next_ns; /* run MHD again at (CLOCK_REALTIME ns), UINT64_MAX none */
	uint64_t nb_conns, nb_tls_refused, nb_requests, nb_runs;
	uint64_t nb_checkpoints, nb_tiles, nb_blocks, nb_not_found, nb_bad_requests;
	uint64_t bytes_out;
	struct srv_feed *feeds; /* subscribers of the push feeds */
	unsigned nb_feeds_open;
	uint64_t nb_feeds, nb_feed_blocks, nb_feeds_behind, feed_bytes, beat_ns;
};

/* Start serving on cfg.sync_listen (nothing when it is ""), with the TLS
 * key and certificate of the ledger directory.  0 or -errno with err. */
int ctl_syncsrv_open(struct ctl_daemon *d, char *err, size_t cap);
void ctl_syncsrv_close(struct ctl_syncsrv *s);
/* Its epoll fd fired: run libmicrohttpd. */
void ctl_syncsrv_run(struct ctl_syncsrv *s, uint64_t now_ns);
/* Every loop tick: run it when its timeout is due. */
void ctl_syncsrv_tick(struct ctl_syncsrv *s, uint64_t now_ns);
int ctl_syncsrv_fd(const struct ctl_syncsrv *s);
/* A block of member's log is durable / a checkpoint stored (the ledger's
 * hook): pushed to the subscribers of that log's feed. */
void ctl_syncsrv_block(struct ctl_syncsrv *s, unsigned member, const struct ledger_block *b,
		       const uint8_t *const *entries, const uint16_t *lens);
void ctl_syncsrv_checkpoint(struct ctl_syncsrv *s, unsigned member,
			    const struct ledger_checkpoint *c);
json_t *ctl_syncsrv_stats(const struct ctl_syncsrv *s);

/* ---- fetching (syncpeer.c) ---- */

struct ctl_syncnet;

/* Start fetching from cfg.peers (nothing when there are none): their
 * members must hold TLS keys in the membership.  Sets d->syncnet.  0 or
 * -errno with err. */
int ctl_syncnet_open(struct ctl_daemon *d, char *err, size_t cap);
void ctl_syncnet_close(struct ctl_daemon *d);
/* Whether an epoll data pointer is one of its sockets. */
bool ctl_syncnet_owns(const struct ctl_syncnet *n, const void *ptr);
void ctl_syncnet_event(struct ctl_syncnet *n, void *ptr, uint32_t events);
/* Every loop tick: curl's timer, and checkpoints polled when due. */
void ctl_syncnet_tick(struct ctl_syncnet *n, uint64_t now_ns);
/* Staleness with peers (docs/operations.md): *age_s is how long a log has
 * been behind what a peer holds of it, or how long no peer has answered,
 * whichever is longer, said in detail.  0, or -ENOENT without peers. */
int ctl_syncnet_staleness(struct ctl_syncnet *n, uint64_t now_ns, uint64_t *age_s, char *detail,
			  size_t cap);
/* `riskgate-ctl peers`: per peer, per log. */
json_t *ctl_syncnet_peers_json(const struct ctl_syncnet *n);

/* ---- witnessing (witness.c) ---- */

/* POST /add-checkpoint (C2SP tlog-witness): the HTTP status, the reply
 * body in out (cap bytes; *out_len), its content type. */
unsigned ctl_witness_add(struct ctl_daemon *d, const char *body, size_t len, char *out,
			 size_t cap, size_t *out_len, const char **ctype);
/* The checkpoint served for member's log, with the cosignatures this
 * member has for it.  Length, or -ENOENT (none held). */
int ctl_witness_view(struct ctl_daemon *d, unsigned member, char *out, size_t cap);
/* A witness's reply to the own checkpoint c: keep peer's cosignature when
 * one line of it verifies under peer's key.  Whether one did. */
bool ctl_witness_collect(struct ctl_daemon *d, unsigned peer, const struct ledger_checkpoint *c,
			 const char *reply, size_t len);
/* Ask every peer to witness the own checkpoint c (syncpeer.c). */
void ctl_syncnet_witness(struct ctl_syncnet *n, const struct ledger_checkpoint *c);

/* ---- the push feed's wire format (syncwire.c) ---- */

#define CTL_SSE_EVENT_MAX (24u << 20) /* bytes of one event on the wire */

struct ctl_sse_event {
	char type[16];	/* "message" when the event names none */
	char *data;	/* the data lines joined by "\n", NUL-terminated (caller's buffer) */
	size_t len;
	unsigned nb_data_lines;
};

/* The first whole event of buf[0..len): 1 with *ev (data into data, cap
 * bytes) and *used bytes consumed, 0 when no event is whole yet, -EMSGSIZE
 * (an event beyond CTL_SSE_EVENT_MAX or cap), -EBADMSG (an event type
 * longer than 15 bytes). */
int ctl_sse_next(const char *buf, size_t len, struct ctl_sse_event *ev, char *data,
		 size_t cap, size_t *used);
/* A block event's data: base64 into raw (cap bytes, ctl_block_event_cap of
 * the text's length), the header into *b, entries into ptrs/lens (room for
 * LEDGER_BLOCK_MAX).  0, or -EBADMSG with *why. */
int ctl_block_event_decode(const char *b64, size_t len, uint8_t *raw, size_t cap,
			   struct ledger_block *b, const uint8_t **ptrs, uint16_t *lens,
			   const char **why);
size_t ctl_block_event_cap(size_t b64_len);
/* The whole event "id: <size>\nevent: block\ndata: <base64>\n\n" of block
 * b (malloc'd, *out_len bytes), or NULL. */
char *ctl_block_event_encode(const struct ledger_block *b, const uint8_t *const *entries,
			     const uint16_t *lens, size_t *out_len);

/* The text of a PEM file (at most 16 KiB; secret: refused unless mode
 * 0600 or stricter) in sodium_malloc'd memory, NUL-terminated: the caller
 * releases it with sodium_free, which wipes it.  *len (may be NULL) gets
 * its length.  NULL with err set. */
char *ctl_pem_read(const char *path, bool secret, size_t *len, char *err, size_t cap);

/* The raw Ed25519 key of a DER certificate: 0, or -1 when it is not an
 * Ed25519 certificate. */
int ctl_tls_cert_key(const gnutls_datum_t *der, uint8_t pk[32]);
/* The active member whose membership lists TLS key pk, or -1. */
int ctl_tls_member_of_key(const struct ledger_consortium *cs, const uint8_t pk[32]);

#endif
