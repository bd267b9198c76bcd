/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Packet and flow layer of riskgate-dissect: link, IP and TCP headers, the
 * flow table, TCP reassembly (rg_stream) and framing (rg_framer).
 *
 * Every header read is checked against the captured length first; a packet
 * that fails a check is counted under its drop reason and forgotten.  Flows
 * are keyed by the 5-tuple in a canonical order so both directions land in
 * one flow.  A direction whose stream cannot bridge missing bytes (hold window
 * full, or FIN/RST/end of capture while waiting) resets its framer and skips
 * the gap; that and every framing problem becomes an ANOMALY event, so the
 * caller sees everything that was not decoded.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/dissect/pcapflow.h"
#include "common/stream.h"

#define PF_NB_BUCKETS (1u << 16)

#define ETH_P_IPV4 0x0800
#define ETH_P_IPV6 0x86dd
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88a8
#define ETH_P_QINQ_OLD 0x9100 /* pre-standard outer tag, still seen */
#define PF_MAX_VLAN_TAGS 4

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif
#ifndef DLT_IPV4
#define DLT_IPV4 228
#endif
#ifndef DLT_IPV6
#define DLT_IPV6 229
#endif

static const char *const pf_drop_names[PCAPFLOW_DROP_MAX] = {
	[PCAPFLOW_DROP_LINK_TRUNCATED] = "link_truncated",
	[PCAPFLOW_DROP_LINKTYPE] = "linktype",
	[PCAPFLOW_DROP_NOT_IP] = "not_ip",
	[PCAPFLOW_DROP_IP_MALFORMED] = "ip_malformed",
	[PCAPFLOW_DROP_IP_TRUNCATED] = "ip_truncated",
	[PCAPFLOW_DROP_IP_FRAGMENT] = "ip_fragment",
	[PCAPFLOW_DROP_IPV6_EXT] = "ipv6_ext",
	[PCAPFLOW_DROP_NOT_TCP] = "not_tcp",
	[PCAPFLOW_DROP_TCP_MALFORMED] = "tcp_malformed",
	[PCAPFLOW_DROP_TCP_OPTIONS] = "tcp_options",
	[PCAPFLOW_DROP_OTHER_PORT] = "other_port",
	[PCAPFLOW_DROP_NO_FLOW] = "no_flow",
	[PCAPFLOW_DROP_AFTER_CLOSE] = "after_close",
};

const char *pcapflow_drop_name(unsigned drop)
{
	if (drop >= PCAPFLOW_DROP_MAX)
		return "unknown";
	return pf_drop_names[drop];
}

/* Both ends of a connection, lower (addr, port) first. */
struct pf_key {
	uint8_t family; /* 4 or 6 */
	uint8_t addr[2][16];
	uint16_t port[2];
};

struct pcapflow;
struct pf_flow;

struct pf_dir {
	struct pcapflow *pf;
	struct rg_stream st;
	struct rg_framer fr;
	uint8_t *mem;           /* hold window, hold map and framer buffer */
	struct rg_stream_sink sink; /* pf_deliver and pf_stream_gap on this direction */
	uint64_t fed;           /* bytes handed to the framer so far */
	uint64_t partial_first; /* frame that carried the first byte of fr's partial frame */
	bool syn;               /* ISN known from a SYN */
	bool fin;
	bool request;           /* destination is a service port */
	char flow[2 * PCAPFLOW_ADDR_TEXT + 2];
};

struct pf_flow {
	struct pf_flow *next;   /* hash chain */
	struct pf_flow *all;    /* every flow, for finish and destroy */
	struct pf_key key;
	bool closed;            /* buffers released; a new SYN reopens */
	struct pf_dir dir[2];   /* [0]: key end 0 -> end 1 */
};

struct pcapflow {
	struct pcapflow_config cfg;
	int linktype;
	uint32_t hold_bytes;
	uint32_t framer_cap;
	uint64_t frame;          /* number of the packet being processed */
	int64_t ts_sec;
	int32_t ts_usec;
	struct pcapflow_counters c;
	struct pf_flow **bucket;
	struct pf_flow *flows;
};

/* Big-endian reads; callers have checked the length. */
static inline uint16_t pf_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t pf_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void pf_drop(struct pcapflow *pf, enum pcapflow_drop why)
{
	pf->c.drops[why]++;
}

bool pcapflow_linktype_ok(int linktype)
{
	switch (linktype) {
	case DLT_EN10MB:
	case DLT_LINUX_SLL:
	case DLT_LINUX_SLL2:
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
	case DLT_NULL:
	case DLT_LOOP:
		return true;
	default:
		return false;
	}
}

struct pcapflow *pcapflow_create(const struct pcapflow_config *cfg, int linktype)
{
	struct pcapflow *pf;
	uint32_t hold = cfg->hold_bytes ? cfg->hold_bytes : PCAPFLOW_HOLD_BYTES;

	if (cfg->nb_ports == 0 || cfg->nb_ports > PCAPFLOW_MAX_PORTS || hold % 8 ||
	    cfg->framing.max_msg_bytes == 0 || cfg->event == NULL) {
		errno = EINVAL;
		return NULL;
	}
	pf = calloc(1, sizeof(*pf));
	if (pf == NULL)
		return NULL;
	pf->cfg = *cfg;
	pf->linktype = linktype;
	pf->hold_bytes = hold;
	pf->framer_cap = cfg->framing.max_msg_bytes + cfg->framing.hdr_bytes + 4;
	pf->bucket = calloc(PF_NB_BUCKETS, sizeof(*pf->bucket));
	if (pf->bucket == NULL)
		goto out_free_pf;
	return pf;

out_free_pf:
	free(pf);
	errno = ENOMEM;
	return NULL;
}

static void pf_emit(struct pf_dir *d, struct pcapflow_event *ev)
{
	struct pcapflow *pf = d->pf;

	ev->request = d->request;
	ev->ts_sec = pf->ts_sec;
	ev->ts_usec = pf->ts_usec;
	ev->flow = d->flow;
	pf->cfg.event(pf->cfg.event_ctx, ev);
}

static void pf_emit_anomaly(struct pf_dir *d, enum rg_anomaly a, uint32_t skipped)
{
	struct pcapflow_event ev = {
		.kind = PCAPFLOW_EV_ANOMALY,
		.anomaly = (uint8_t)a,
		.frame = d->pf->frame,
		.first_frame = d->pf->frame,
		.stream_off = d->fed,
		.skipped_bytes = skipped,
	};

	pf_emit(d, &ev);
}

/*
 * In-order stream bytes of one direction, from rg_stream: frame them.  The
 * first event of a piece started in an earlier piece when the framer already
 * held a partial frame; every later event of the piece started inside it.
 */
static void pf_deliver(void *ctx, const uint8_t *data, uint32_t len)
{
	struct pf_dir *d = ctx;
	struct pcapflow *pf = d->pf;
	bool started_here = d->fr.have == 0;
	struct rg_frame f;
	enum rg_frame_ret r;

	rg_framer_feed(&d->fr, data, len);
	while ((r = rg_framer_next(&d->fr, &f)) != RG_FRAME_NEED_MORE) {
		struct pcapflow_event ev = {
			.frame = pf->frame,
			.first_frame = started_here ? pf->frame : d->partial_first,
			.stream_off = f.stream_off,
		};

		if (r == RG_FRAME_MSG) {
			ev.kind = PCAPFLOW_EV_MSG;
			ev.fr = &f;
			pf->c.nb_messages++;
		} else if (r == RG_FRAME_KEEPALIVE) {
			ev.kind = PCAPFLOW_EV_KEEPALIVE;
			pf->c.nb_keepalives++;
		} else {
			ev.kind = PCAPFLOW_EV_ANOMALY;
			ev.anomaly = f.anomaly;
		}
		pf_emit(d, &ev);
		started_here = true;
		if (r == RG_FRAME_ERROR)
			break;
	}
	if (d->fr.have != 0 && started_here)
		d->partial_first = pf->frame;
	d->fed += len;
}

/* rg_stream gap: the framer restarts at the first byte after the hole, and
 * the gap is reported before the messages behind it. */
static void pf_stream_gap(void *ctx, uint32_t skipped)
{
	struct pf_dir *d = ctx;

	rg_framer_reset(&d->fr);
	pf_emit_anomaly(d, RG_ANOM_STREAM_GAP, skipped);
}

/* No more bytes will come in this direction: bridge what is held, and a
 * frame left half-received is a truncated message. */
static void pf_dir_end(struct pf_dir *d)
{
	rg_stream_skip_gap(&d->st, &d->sink);
	if (d->fr.have != 0 && !d->fr.lost) {
		pf_emit_anomaly(d, RG_ANOM_TRUNCATED, 0);
		rg_framer_reset(&d->fr);
	}
}

static void pf_report(struct pf_dir *d, enum rg_anomaly a)
{
	if (a != RG_ANOM_NONE)
		pf_emit_anomaly(d, a, 0);
}

static void pf_segment(struct pf_dir *d, uint32_t seq, const uint8_t *data, uint32_t len)
{
	pf_report(d, rg_stream_segment(&d->st, seq, data, len, &d->sink));
}

static void pf_addr_text(const struct pf_key *k, unsigned end, char *out, size_t cap)
{
	char a[INET6_ADDRSTRLEN];

	if (k->family == 4) {
		inet_ntop(AF_INET, k->addr[end], a, sizeof(a));
		snprintf(out, cap, "%s:%u", a, k->port[end]);
	} else {
		inet_ntop(AF_INET6, k->addr[end], a, sizeof(a));
		snprintf(out, cap, "[%s]:%u", a, k->port[end]);
	}
}

static bool pf_service_port(const struct pcapflow *pf, uint16_t port)
{
	for (unsigned i = 0; i < pf->cfg.nb_ports; i++)
		if (pf->cfg.ports[i] == port)
			return true;
	return false;
}

static int pf_flow_open(struct pcapflow *pf, struct pf_flow *fl)
{
	uint32_t hold = pf->hold_bytes;
	size_t dir_bytes = (size_t)hold + hold / 8 + pf->framer_cap;

	for (unsigned i = 0; i < 2; i++) {
		struct pf_dir *d = &fl->dir[i];
		char src[PCAPFLOW_ADDR_TEXT], dst[PCAPFLOW_ADDR_TEXT];

		memset(d, 0, sizeof(*d));
		d->pf = pf;
		d->mem = malloc(dir_bytes);
		if (d->mem == NULL)
			goto out_free_dirs;
		rg_stream_init(&d->st, d->mem, d->mem + hold, hold);
		d->sink = (struct rg_stream_sink){ pf_deliver, pf_stream_gap, d };
		if (rg_framer_init(&d->fr, &pf->cfg.framing, d->mem + hold + hold / 8,
				   pf->framer_cap) < 0) {
			free(d->mem);
			d->mem = NULL;
			goto out_free_dirs;
		}
		pf_addr_text(&fl->key, i, src, sizeof(src));
		pf_addr_text(&fl->key, 1 - i, dst, sizeof(dst));
		snprintf(d->flow, sizeof(d->flow), "%s>%s", src, dst);
		d->request = pf_service_port(pf, fl->key.port[1 - i]);
	}
	fl->closed = false;
	pf->c.nb_flows++;
	return 0;

out_free_dirs:
	for (unsigned i = 0; i < 2; i++) {
		free(fl->dir[i].mem);
		fl->dir[i].mem = NULL;
	}
	return -ENOMEM;
}

static void pf_flow_close(struct pf_flow *fl)
{
	if (fl->closed)
		return;
	for (unsigned i = 0; i < 2; i++)
		pf_dir_end(&fl->dir[i]);
	for (unsigned i = 0; i < 2; i++) {
		free(fl->dir[i].mem);
		fl->dir[i].mem = NULL;
	}
	fl->closed = true;
}

static uint32_t pf_key_hash(const struct pf_key *k)
{
	const uint8_t *p = (const uint8_t *)k;
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < sizeof(*k); i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static struct pf_flow *pf_flow_find(struct pcapflow *pf, const struct pf_key *k, bool create)
{
	uint32_t b = pf_key_hash(k) & (PF_NB_BUCKETS - 1);
	struct pf_flow *fl;

	for (fl = pf->bucket[b]; fl; fl = fl->next)
		if (memcmp(&fl->key, k, sizeof(*k)) == 0)
			return fl;
	if (!create)
		return NULL;
	fl = calloc(1, sizeof(*fl));
	if (fl == NULL)
		return NULL;
	fl->key = *k;
	if (pf_flow_open(pf, fl) < 0) {
		free(fl);
		return NULL;
	}
	fl->next = pf->bucket[b];
	pf->bucket[b] = fl;
	fl->all = pf->flows;
	pf->flows = fl;
	return fl;
}

/* TCP options: walk them only to tell a broken list from a good one. */
static bool pf_tcp_options_ok(const uint8_t *p, uint32_t len)
{
	uint32_t i = 0;

	while (i < len) {
		if (p[i] == 0)
			return true;
		if (p[i] == 1) {
			i++;
			continue;
		}
		if (i + 1 >= len || p[i + 1] < 2 || p[i + 1] > len - i)
			return false;
		i += p[i + 1];
	}
	return true;
}

/* A key with this packet's ends in canonical order; *dir is the packet's
 * direction index within the flow. */
static void pf_make_key(struct pf_key *k, unsigned family, const uint8_t *src,
			const uint8_t *dst, unsigned alen, uint16_t sport, uint16_t dport,
			unsigned *dir)
{
	int c;

	memset(k, 0, sizeof(*k));
	k->family = (uint8_t)family;
	c = memcmp(src, dst, alen);
	if (c < 0 || (c == 0 && sport <= dport)) {
		memcpy(k->addr[0], src, alen);
		memcpy(k->addr[1], dst, alen);
		k->port[0] = sport;
		k->port[1] = dport;
		*dir = 0;
	} else {
		memcpy(k->addr[0], dst, alen);
		memcpy(k->addr[1], src, alen);
		k->port[0] = dport;
		k->port[1] = sport;
		*dir = 1;
	}
}

static void pf_tcp(struct pcapflow *pf, unsigned family, const uint8_t *src,
		   const uint8_t *dst, const uint8_t *p, uint32_t len)
{
	unsigned alen = family == 4 ? 4 : 16;
	uint32_t doff, seq, ack, plen;
	uint16_t sport, dport, win;
	struct pf_flow *fl;
	struct pf_dir *d;
	struct pf_key k;
	unsigned dir;
	uint8_t flags;

	if (len < 20) {
		pf_drop(pf, PCAPFLOW_DROP_TCP_MALFORMED);
		return;
	}
	doff = (uint32_t)(p[12] >> 4) * 4;
	if (doff < 20 || doff > len) {
		pf_drop(pf, PCAPFLOW_DROP_TCP_MALFORMED);
		return;
	}
	sport = pf_be16(p);
	dport = pf_be16(p + 2);
	if (!pf_service_port(pf, sport) && !pf_service_port(pf, dport)) {
		pf_drop(pf, PCAPFLOW_DROP_OTHER_PORT);
		return;
	}
	if (!pf_tcp_options_ok(p + 20, doff - 20))
		pf_drop(pf, PCAPFLOW_DROP_TCP_OPTIONS);
	pf->c.nb_tcp++;
	seq = pf_be32(p + 4);
	ack = pf_be32(p + 8);
	win = pf_be16(p + 14);
	flags = p[13];
	plen = len - doff;

	pf_make_key(&k, family, src, dst, alen, sport, dport, &dir);
	fl = pf_flow_find(pf, &k, false);
	if (fl == NULL) {
		if (!(flags & TCP_SYN) && plen == 0) {
			pf_drop(pf, PCAPFLOW_DROP_NO_FLOW);
			return;
		}
		fl = pf_flow_find(pf, &k, true);
		if (fl == NULL) {
			pf_drop(pf, PCAPFLOW_DROP_NO_FLOW);
			return;
		}
	} else if (fl->closed) {
		if ((flags & (TCP_SYN | TCP_ACK | TCP_RST)) != TCP_SYN) {
			if (plen)
				pf_drop(pf, PCAPFLOW_DROP_AFTER_CLOSE);
			return;
		}
		/* same 5-tuple, new connection */
		if (pf_flow_open(pf, fl) < 0) {
			pf_drop(pf, PCAPFLOW_DROP_NO_FLOW);
			return;
		}
	}
	d = &fl->dir[dir];

	if (flags & TCP_RST) {
		pf_flow_close(fl);
		return;
	}
	if (flags & TCP_SYN) {
		if (!d->syn) {
			rg_stream_syn(&d->st, seq);
			rg_stream_wscale(&d->st, rg_tcp_opt_wscale(p + 20, doff - 20));
			d->syn = true;
		}
		seq++; /* payload on a SYN (TFO) starts after it */
	}
	if (flags & TCP_ACK) {
		struct pf_dir *o = &fl->dir[1 - dir];

		rg_stream_ack(&o->st, &d->st, ack, win, flags & TCP_SYN, &o->sink);
	}
	if (plen && !d->fin)
		pf_segment(d, seq, p + doff, plen);
	else if (plen)
		pf_drop(pf, PCAPFLOW_DROP_AFTER_CLOSE);
	if ((flags & TCP_FIN) && !d->fin) {
		rg_stream_fin(&d->st, seq + plen);
		d->fin = true;
		pf_dir_end(d);
		if (fl->dir[1 - dir].fin)
			pf_flow_close(fl);
	}
}

static void pf_ipv4(struct pcapflow *pf, const uint8_t *p, uint32_t len)
{
	uint32_t ihl, tot;
	uint16_t frag;

	if (len < 20 || (p[0] >> 4) != 4) {
		pf_drop(pf, PCAPFLOW_DROP_IP_MALFORMED);
		return;
	}
	ihl = (uint32_t)(p[0] & 0x0f) * 4;
	tot = pf_be16(p + 2);
	if (ihl < 20 || tot < ihl) {
		pf_drop(pf, PCAPFLOW_DROP_IP_MALFORMED);
		return;
	}
	if (tot > len) {
		pf_drop(pf, PCAPFLOW_DROP_IP_TRUNCATED);
		return;
	}
	frag = pf_be16(p + 6);
	if (frag & 0x3fff) { /* more fragments, or an offset */
		pf_drop(pf, PCAPFLOW_DROP_IP_FRAGMENT);
		return;
	}
	if (p[9] != 6) {
		pf_drop(pf, PCAPFLOW_DROP_NOT_TCP);
		return;
	}
	/* tot, not len: Ethernet pads short frames */
	pf_tcp(pf, 4, p + 12, p + 16, p + ihl, tot - ihl);
}

static void pf_ipv6(struct pcapflow *pf, const uint8_t *p, uint32_t len)
{
	uint32_t plen, off = 40;
	uint8_t nh;

	if (len < 40 || (p[0] >> 4) != 6) {
		pf_drop(pf, PCAPFLOW_DROP_IP_MALFORMED);
		return;
	}
	plen = pf_be16(p + 4);
	if (plen == 0) { /* jumbogram or nothing: neither carries our TCP */
		pf_drop(pf, PCAPFLOW_DROP_IP_MALFORMED);
		return;
	}
	if (40 + plen > len) {
		pf_drop(pf, PCAPFLOW_DROP_IP_TRUNCATED);
		return;
	}
	len = 40 + plen;
	nh = p[6];
	for (unsigned hops = 0;; hops++) {
		uint32_t ext;

		if (nh == 6)
			break;
		if (hops >= 8) {
			pf_drop(pf, PCAPFLOW_DROP_IPV6_EXT);
			return;
		}
		switch (nh) {
		case 0:  /* hop-by-hop options */
		case 43: /* routing */
		case 60: /* destination options */
			if (off + 8 > len) {
				pf_drop(pf, PCAPFLOW_DROP_IP_MALFORMED);
				return;
			}
			ext = ((uint32_t)p[off + 1] + 1) * 8;
			break;
		case 44: /* fragment: only an atomic one (offset 0, no more) is whole */
			if (off + 8 > len) {
				pf_drop(pf, PCAPFLOW_DROP_IP_MALFORMED);
				return;
			}
			if (pf_be16(p + off + 2) & 0xfff9) {
				pf_drop(pf, PCAPFLOW_DROP_IP_FRAGMENT);
				return;
			}
			ext = 8;
			break;
		case 51: /* authentication header */
			if (off + 8 > len) {
				pf_drop(pf, PCAPFLOW_DROP_IP_MALFORMED);
				return;
			}
			ext = ((uint32_t)p[off + 1] + 2) * 4;
			break;
		case 17: /* UDP */
		case 58: /* ICMPv6 */
		case 59: /* no next header */
			pf_drop(pf, PCAPFLOW_DROP_NOT_TCP);
			return;
		default: /* ESP and the unknown hide what follows */
			pf_drop(pf, PCAPFLOW_DROP_IPV6_EXT);
			return;
		}
		if (ext > len - off) {
			pf_drop(pf, PCAPFLOW_DROP_IP_MALFORMED);
			return;
		}
		nh = p[off];
		off += ext;
	}
	pf_tcp(pf, 6, p + 8, p + 24, p + off, len - off);
}

static void pf_ethertype(struct pcapflow *pf, uint16_t type, const uint8_t *p, uint32_t len)
{
	unsigned tags = 0;

	while (type == ETH_P_8021Q || type == ETH_P_8021AD || type == ETH_P_QINQ_OLD) {
		if (len < 4 || ++tags > PF_MAX_VLAN_TAGS) {
			pf_drop(pf, PCAPFLOW_DROP_LINK_TRUNCATED);
			return;
		}
		type = pf_be16(p + 2);
		p += 4;
		len -= 4;
	}
	if (type == ETH_P_IPV4)
		pf_ipv4(pf, p, len);
	else if (type == ETH_P_IPV6)
		pf_ipv6(pf, p, len);
	else
		pf_drop(pf, PCAPFLOW_DROP_NOT_IP);
}

/* Raw IP: the version nibble says which. */
static void pf_raw_ip(struct pcapflow *pf, const uint8_t *p, uint32_t len)
{
	if (len < 1) {
		pf_drop(pf, PCAPFLOW_DROP_LINK_TRUNCATED);
		return;
	}
	if (p[0] >> 4 == 4)
		pf_ipv4(pf, p, len);
	else if (p[0] >> 4 == 6)
		pf_ipv6(pf, p, len);
	else
		pf_drop(pf, PCAPFLOW_DROP_NOT_IP);
}

void pcapflow_packet(struct pcapflow *pf, const uint8_t *p, uint32_t len,
		     int64_t ts_sec, int32_t ts_usec)
{
	pf->frame++;
	pf->ts_sec = ts_sec;
	pf->ts_usec = ts_usec;
	pf->c.nb_packets++;
	pf->c.nb_bytes += len;

	switch (pf->linktype) {
	case DLT_EN10MB:
		if (len < 14)
			break;
		pf_ethertype(pf, pf_be16(p + 12), p + 14, len - 14);
		return;
	case DLT_LINUX_SLL: /* type, ARPHRD, addr len, addr[8], protocol */
		if (len < 16)
			break;
		pf_ethertype(pf, pf_be16(p + 14), p + 16, len - 16);
		return;
	case DLT_LINUX_SLL2: /* protocol, reserved, ifindex, ARPHRD, type, addr len, addr[8] */
		if (len < 20)
			break;
		pf_ethertype(pf, pf_be16(p), p + 20, len - 20);
		return;
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
		pf_raw_ip(pf, p, len);
		return;
	case DLT_NULL: /* 4-byte address family; its value and byte order */
	case DLT_LOOP: /* differ per OS, so the IP version nibble decides */
		if (len < 4)
			break;
		pf_raw_ip(pf, p + 4, len - 4);
		return;
	default:
		pf_drop(pf, PCAPFLOW_DROP_LINKTYPE);
		return;
	}
	pf_drop(pf, PCAPFLOW_DROP_LINK_TRUNCATED);
}

void pcapflow_finish(struct pcapflow *pf)
{
	/* oldest first: pf->flows is newest first, so walk it in reverse */
	size_t n = 0, i;
	struct pf_flow *fl, **v;

	for (fl = pf->flows; fl; fl = fl->all)
		n++;
	v = malloc(n ? n * sizeof(*v) : 1);
	if (v == NULL) {
		for (fl = pf->flows; fl; fl = fl->all)
			pf_flow_close(fl);
		return;
	}
	i = n;
	for (fl = pf->flows; fl; fl = fl->all)
		v[--i] = fl;
	for (i = 0; i < n; i++)
		pf_flow_close(v[i]);
	free(v);
}

const struct pcapflow_counters *pcapflow_counters(const struct pcapflow *pf)
{
	return &pf->c;
}

void pcapflow_destroy(struct pcapflow *pf)
{
	struct pf_flow *fl, *next;

	if (pf == NULL)
		return;
	for (fl = pf->flows; fl; fl = next) {
		next = fl->all;
		free(fl->dir[0].mem);
		free(fl->dir[1].mem);
		free(fl);
	}
	free(pf->bucket);
	free(pf);
}

int pcapflow_read_file(const char *path, const struct pcapflow_config *cfg,
		       struct pcapflow_counters *counters, char *err, size_t err_cap)
{
	char perr[PCAP_ERRBUF_SIZE] = "";
	struct pcap_pkthdr *h;
	const uint8_t *data;
	struct pcapflow *pf;
	FILE *fp;
	pcap_t *pc;
	int ret = 0, r, lt;

	/* fopen first: its errno names the reason better than libpcap's text */
	fp = fopen(path, "rb");
	if (fp == NULL) {
		ret = -errno;
		snprintf(err, err_cap, "%s: %s", path, strerror(errno));
		return ret;
	}
	pc = pcap_fopen_offline(fp, perr);
	if (pc == NULL) {
		fclose(fp);
		snprintf(err, err_cap, "%s: not a pcap or pcapng capture (%s)", path, perr);
		return -EINVAL;
	}
	lt = pcap_datalink(pc);
	if (!pcapflow_linktype_ok(lt)) {
		const char *name = pcap_datalink_val_to_name(lt);

		snprintf(err, err_cap, "%s: link type %d (%s) not supported", path, lt,
			 name ? name : "unknown");
		ret = -EINVAL;
		goto out_close_pcap;
	}
	pf = pcapflow_create(cfg, lt);
	if (pf == NULL) {
		ret = -errno;
		snprintf(err, err_cap, "%s: %s", path, strerror(errno));
		goto out_close_pcap;
	}
	while ((r = pcap_next_ex(pc, &h, &data)) == 1)
		pcapflow_packet(pf, data, h->caplen, (int64_t)h->ts.tv_sec,
				(int32_t)h->ts.tv_usec);
	if (r == PCAP_ERROR) {
		snprintf(err, err_cap, "%s: capture cut short after %llu packets (%s)", path,
			 (unsigned long long)pf->c.nb_packets, pcap_geterr(pc));
		ret = -EIO;
	}
	pcapflow_finish(pf);
	if (counters)
		*counters = pf->c;
	pcapflow_destroy(pf);
out_close_pcap:
	pcap_close(pc);
	return ret;
}
