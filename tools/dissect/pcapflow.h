/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Captures to ISO 8583 messages: the packet and flow layer of
 * riskgate-dissect.
 *
 * Reads a pcap or pcapng file with libpcap, peels the link layer (Ethernet
 * with 802.1Q/802.1ad tags, Linux cooked SLL/SLL2, raw IP, BSD loopback),
 * IPv4 or IPv6 and TCP, and follows every TCP connection that touches a
 * service port.  Both directions of a connection share one flow; each
 * direction reassembles through rg_stream (common/stream.h) and splits the
 * byte stream with rg_framer (common/frame.h): the same code the dataplane
 * runs.  Every framed message, keep-alive and stream or framing anomaly is
 * handed to the caller's event callback in capture order.
 *
 * Offline tool: memory is malloc'd per flow (hold window + framer buffer) and
 * released when the connection closes.  Input is untrusted: a malformed
 * packet is counted under one of enum pcapflow_drop, never a crash.
 */
#ifndef RG_DISSECT_PCAPFLOW_H
#define RG_DISSECT_PCAPFLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/anomaly.h"
#include "common/frame.h"

#define PCAPFLOW_MAX_PORTS 16
#define PCAPFLOW_HOLD_BYTES (64 * 1024) /* out-of-order window per direction */
#define PCAPFLOW_ADDR_TEXT 64           /* "[v6]:port" with room to spare */

/* Why a packet was not (entirely) used.  Indexes pcapflow.drops[]. */
enum pcapflow_drop {
	PCAPFLOW_DROP_LINK_TRUNCATED = 0, /* shorter than its link header */
	PCAPFLOW_DROP_LINKTYPE,           /* link type not supported */
	PCAPFLOW_DROP_NOT_IP,             /* ARP, LLDP, ... */
	PCAPFLOW_DROP_IP_MALFORMED,       /* bad version, header length, total length */
	PCAPFLOW_DROP_IP_TRUNCATED,       /* captured fewer bytes than the IP length says */
	PCAPFLOW_DROP_IP_FRAGMENT,        /* IPv4 or IPv6 fragment (not reassembled) */
	PCAPFLOW_DROP_IPV6_EXT,           /* IPv6 extension header not understood */
	PCAPFLOW_DROP_NOT_TCP,            /* UDP, ICMP, ... */
	PCAPFLOW_DROP_TCP_MALFORMED,      /* short header, bad data offset */
	PCAPFLOW_DROP_TCP_OPTIONS,        /* option list broken (payload still used) */
	PCAPFLOW_DROP_OTHER_PORT,         /* TCP not to or from a service port */
	PCAPFLOW_DROP_NO_FLOW,            /* control segment for an unknown flow */
	PCAPFLOW_DROP_AFTER_CLOSE,        /* data after FIN/RST on a closed flow */
	PCAPFLOW_DROP_MAX
};

/* Stable lowercase name of a drop reason ("ip_fragment", ...). */
const char *pcapflow_drop_name(unsigned drop);

enum pcapflow_event_kind {
	PCAPFLOW_EV_MSG = 0,   /* a framed message: ev->fr */
	PCAPFLOW_EV_KEEPALIVE, /* a zero-length frame */
	PCAPFLOW_EV_ANOMALY,   /* framing or stream problem: ev->anomaly */
};

struct pcapflow_event {
	uint8_t kind;              /* enum pcapflow_event_kind */
	uint8_t anomaly;           /* enum rg_anomaly (ANOMALY events) */
	bool request;              /* the destination port is a service port */
	uint64_t frame;            /* 1-based number of the packet that completed it */
	uint64_t first_frame;      /* packet that carried its first byte */
	int64_t ts_sec;            /* capture time of frame, seconds since the epoch */
	int32_t ts_usec;           /* and microseconds, 0..999999 */
	uint64_t stream_off;       /* stream offset of the message / anomaly */
	uint32_t skipped_bytes;    /* STREAM_GAP: bytes given up on (0: unknown) */
	const char *flow;          /* "src:port>dst:port" of this direction */
	const struct rg_frame *fr; /* MSG only; valid during the callback */
};

/* Called for every event; ev and everything it points to are borrowed until
 * return. */
typedef void (*pcapflow_event_fn)(void *ctx, const struct pcapflow_event *ev);

struct pcapflow_config {
	struct rg_framing framing;         /* max_msg_bytes bounds each framer */
	uint16_t ports[PCAPFLOW_MAX_PORTS]; /* service ports, host order */
	unsigned nb_ports;
	uint32_t hold_bytes;               /* 0: PCAPFLOW_HOLD_BYTES; a multiple of 8 */
	pcapflow_event_fn event;
	void *event_ctx;
};

struct pcapflow_counters {
	uint64_t nb_packets;    /* every record of the capture */
	uint64_t nb_bytes;      /* captured bytes of them */
	uint64_t nb_tcp;        /* TCP segments to or from a service port */
	uint64_t nb_flows;      /* connections followed (a reused 5-tuple counts again) */
	uint64_t nb_messages;   /* MSG events */
	uint64_t nb_keepalives; /* KEEPALIVE events */
	uint64_t drops[PCAPFLOW_DROP_MAX];
};

struct pcapflow;

/*
 * A flow follower for one capture link type (a DLT_ value as pcap_datalink()
 * returns it).  cfg is copied.  Returns NULL with errno set (EINVAL: bad
 * config, ENOMEM).
 */
struct pcapflow *pcapflow_create(const struct pcapflow_config *cfg, int linktype);

/* Whether pcapflow_packet() understands this link type. */
bool pcapflow_linktype_ok(int linktype);

/*
 * One captured packet: data[0..caplen) of a packet captured at ts.  Packets
 * must come in capture order; each call is frame number + 1.  Events are
 * delivered from inside this call.  Never fails: problems are counted.
 */
void pcapflow_packet(struct pcapflow *pf, const uint8_t *data, uint32_t caplen,
		     int64_t ts_sec, int32_t ts_usec);

/*
 * End of capture: every open direction gives up on missing bytes (a
 * stream_gap), frames what it holds and reports a partial message as
 * "truncated".  Call once, after the last packet.
 */
void pcapflow_finish(struct pcapflow *pf);

/* Counters so far (borrowed; valid until pcapflow_destroy). */
const struct pcapflow_counters *pcapflow_counters(const struct pcapflow *pf);

void pcapflow_destroy(struct pcapflow *pf);

/*
 * Read the whole capture at path (pcap or pcapng) through a new follower.
 * Returns 0; -ENOENT/-EACCES/-EINVAL... when the file cannot be opened or
 * its link type is not supported (err names the file and the reason, and
 * no event was delivered); or -EIO when reading stopped early (cut short:
 * events up to there were delivered, err says why).  *counters (if not
 * NULL) receives the final counters in both of the latter cases.
 */
int pcapflow_read_file(const char *path, const struct pcapflow_config *cfg,
		       struct pcapflow_counters *counters, char *err, size_t err_cap);

#endif
