/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Minimal capture writer: classic pcap files (microsecond timestamps,
 * Ethernet link type) holding Ethernet (+ optional 802.1Q tag) / IPv4 or
 * IPv6 / TCP frames with correct IP and TCP checksums.
 *
 * Frames are built into caller memory first (pcapw_tcp_frame) and written
 * later (pcapw_write), so a caller can hold, duplicate or swap them before
 * they reach the file.  The writer only formats bytes; TCP state (sequence
 * and acknowledgement numbers) is the caller's.
 */
#ifndef GEN_PCAPW_H
#define GEN_PCAPW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PCAPW_SNAPLEN 65535
#define PCAPW_MAX_FRAME 1600 /* bytes; Ethernet + VLAN + IPv6 + TCP options + MSS payload */

#define PCAPW_TCP_FIN 0x01
#define PCAPW_TCP_SYN 0x02
#define PCAPW_TCP_RST 0x04
#define PCAPW_TCP_PSH 0x08
#define PCAPW_TCP_ACK 0x10

/* The two ends of one TCP connection; side 0 is the client. */
struct pcapw_conn {
	bool ipv6;
	uint16_t vlan;       /* 802.1Q id 1..4094, 0 for none */
	uint8_t mac[2][6];
	uint8_t ip[2][16];   /* IPv4 uses the first 4 bytes, network order */
	uint16_t port[2];    /* host order */
};

/* One TCP segment to build, from side to the other side. */
struct pcapw_seg {
	unsigned side;       /* 0 client -> server, 1 server -> client */
	uint32_t seq;
	uint32_t ack;
	uint8_t flags;       /* PCAPW_TCP_* */
	uint16_t win;        /* window field as sent */
	uint16_t ip_id;      /* IPv4 identification (unused for IPv6) */
	bool syn_opts;       /* add MSS, window scale and SACK-permitted options */
	const uint8_t *payload; /* borrowed until return */
	uint16_t len;        /* payload bytes */
};

/*
 * Build the frame for seg on conn into out[0..cap).  Returns the frame
 * length, or -ENOSPC if cap is too small.
 */
int pcapw_tcp_frame(const struct pcapw_conn *conn, const struct pcapw_seg *seg,
		    uint8_t *out, size_t cap);

struct pcapw {
	FILE *fp;
	uint64_t nb_packets;
	uint64_t nb_bytes;   /* file bytes written, headers included */
	char *iobuf;
};

/* Create path and write the file header.  Returns 0 or -errno. */
int pcapw_open(struct pcapw *w, const char *path);

/* Append one frame with timestamp ts_us (microseconds since the epoch).
 * Returns 0 or -errno. */
int pcapw_write(struct pcapw *w, uint64_t ts_us, const uint8_t *frame, uint32_t len);

/* Flush and close.  Returns 0 or -errno (a write error seen earlier). */
int pcapw_close(struct pcapw *w);

/* Internet checksum helpers, exposed for tests. */
uint32_t pcapw_csum_add(uint32_t sum, const uint8_t *p, size_t len);
uint16_t pcapw_csum_fold(uint32_t sum);

#endif
