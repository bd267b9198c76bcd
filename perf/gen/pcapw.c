/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Capture writer: the classic pcap format (magic a1b2c3d4, version 2.4,
 * microsecond timestamps, LINKTYPE_ETHERNET) written with stdio, and the
 * Ethernet / 802.1Q / IPv4 or IPv6 / TCP frame builder.  Headers are written
 * field by field in network order; nothing depends on host struct layout
 * except the pcap headers, which are native-endian by definition.
 */
#include "perf/gen/pcapw.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ETH_HDR 14
#define VLAN_HDR 4
#define IP4_HDR 20
#define IP6_HDR 40
#define TCP_HDR 20
#define TCP_SYN_OPTS 12

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = (v >> 16) & 0xff;
	p[2] = (v >> 8) & 0xff;
	p[3] = v & 0xff;
}

uint32_t pcapw_csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

uint16_t pcapw_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

int pcapw_tcp_frame(const struct pcapw_conn *conn, const struct pcapw_seg *seg,
		    uint8_t *out, size_t cap)
{
	unsigned src = seg->side & 1, dst = src ^ 1;
	unsigned opt_len = seg->syn_opts ? TCP_SYN_OPTS : 0;
	unsigned tcp_len = TCP_HDR + opt_len + seg->len;
	unsigned l2 = ETH_HDR + (conn->vlan ? VLAN_HDR : 0);
	unsigned l3 = conn->ipv6 ? IP6_HDR : IP4_HDR;
	size_t total = l2 + l3 + tcp_len;
	uint8_t *ip, *tcp, pseudo[40];
	uint32_t sum;

	if (total > cap)
		return -ENOSPC;

	memcpy(out, conn->mac[dst], 6);
	memcpy(out + 6, conn->mac[src], 6);
	if (conn->vlan) {
		put16(out + 12, 0x8100);
		put16(out + 14, conn->vlan & 0x0fff);
		put16(out + 16, conn->ipv6 ? 0x86dd : 0x0800);
	} else {
		put16(out + 12, conn->ipv6 ? 0x86dd : 0x0800);
	}

	ip = out + l2;
	tcp = ip + l3;
	if (conn->ipv6) {
		put32(ip, 0x60000000);
		put16(ip + 4, tcp_len);
		ip[6] = 6;  /* TCP */
		ip[7] = 64; /* hop limit */
		memcpy(ip + 8, conn->ip[src], 16);
		memcpy(ip + 24, conn->ip[dst], 16);
		memcpy(pseudo, conn->ip[src], 16);
		memcpy(pseudo + 16, conn->ip[dst], 16);
		put32(pseudo + 32, tcp_len);
		pseudo[36] = pseudo[37] = pseudo[38] = 0;
		pseudo[39] = 6;
		sum = pcapw_csum_add(0, pseudo, 40);
	} else {
		ip[0] = 0x45;
		ip[1] = 0;
		put16(ip + 2, IP4_HDR + tcp_len);
		put16(ip + 4, seg->ip_id);
		put16(ip + 6, 0x4000); /* DF */
		ip[8] = 64;
		ip[9] = 6;
		put16(ip + 10, 0);
		memcpy(ip + 12, conn->ip[src], 4);
		memcpy(ip + 16, conn->ip[dst], 4);
		put16(ip + 10, pcapw_csum_fold(pcapw_csum_add(0, ip, IP4_HDR)));
		memcpy(pseudo, conn->ip[src], 4);
		memcpy(pseudo + 4, conn->ip[dst], 4);
		pseudo[8] = 0;
		pseudo[9] = 6;
		put16(pseudo + 10, tcp_len);
		sum = pcapw_csum_add(0, pseudo, 12);
	}

	put16(tcp, conn->port[src]);
	put16(tcp + 2, conn->port[dst]);
	put32(tcp + 4, seg->seq);
	put32(tcp + 8, seg->ack);
	tcp[12] = (uint8_t)(((TCP_HDR + opt_len) / 4) << 4);
	tcp[13] = seg->flags;
	put16(tcp + 14, seg->win);
	put16(tcp + 16, 0);
	put16(tcp + 18, 0);
	if (opt_len) {
		uint8_t *o = tcp + TCP_HDR;

		o[0] = 2; /* MSS 1460 */
		o[1] = 4;
		put16(o + 2, 1460);
		o[4] = 1; /* NOP */
		o[5] = 3; /* window scale 7 */
		o[6] = 3;
		o[7] = 7;
		o[8] = 1;
		o[9] = 1;
		o[10] = 4; /* SACK permitted */
		o[11] = 2;
	}
	if (seg->len)
		memcpy(tcp + TCP_HDR + opt_len, seg->payload, seg->len);
	sum = pcapw_csum_add(sum, tcp, tcp_len);
	put16(tcp + 16, pcapw_csum_fold(sum));
	return (int)total;
}

/* pcap file header and record header, native byte order by definition. */
struct pcapw_file_hdr {
	uint32_t magic;
	uint16_t major;
	uint16_t minor;
	int32_t thiszone;
	uint32_t sigfigs;
	uint32_t snaplen;
	uint32_t linktype;
};

struct pcapw_rec_hdr {
	uint32_t ts_sec;
	uint32_t ts_usec;
	uint32_t incl_len;
	uint32_t orig_len;
};

_Static_assert(sizeof(struct pcapw_file_hdr) == 24, "pcap file header is 24 bytes");
_Static_assert(sizeof(struct pcapw_rec_hdr) == 16, "pcap record header is 16 bytes");

int pcapw_open(struct pcapw *w, const char *path)
{
	struct pcapw_file_hdr h = {
		.magic = 0xa1b2c3d4,
		.major = 2,
		.minor = 4,
		.snaplen = PCAPW_SNAPLEN,
		.linktype = 1,
	};
	int ret;

	memset(w, 0, sizeof(*w));
	w->fp = fopen(path, "wb");
	if (!w->fp)
		return -errno;
	w->iobuf = malloc(1 << 20);
	if (w->iobuf)
		setvbuf(w->fp, w->iobuf, _IOFBF, 1 << 20);
	if (fwrite(&h, sizeof(h), 1, w->fp) != 1) {
		ret = -EIO;
		goto out_close;
	}
	w->nb_bytes = sizeof(h);
	return 0;

out_close:
	fclose(w->fp);
	free(w->iobuf);
	w->fp = NULL;
	w->iobuf = NULL;
	return ret;
}

int pcapw_write(struct pcapw *w, uint64_t ts_us, const uint8_t *frame, uint32_t len)
{
	struct pcapw_rec_hdr r = {
		.ts_sec = (uint32_t)(ts_us / 1000000),
		.ts_usec = (uint32_t)(ts_us % 1000000),
		.incl_len = len,
		.orig_len = len,
	};

	if (fwrite(&r, sizeof(r), 1, w->fp) != 1 || fwrite(frame, 1, len, w->fp) != len)
		return -EIO;
	w->nb_packets++;
	w->nb_bytes += sizeof(r) + len;
	return 0;
}

int pcapw_close(struct pcapw *w)
{
	int ret = 0;

	if (!w->fp)
		return 0;
	if (ferror(w->fp))
		ret = -EIO;
	if (fclose(w->fp) != 0 && ret == 0)
		ret = -errno;
	free(w->iobuf);
	w->fp = NULL;
	w->iobuf = NULL;
	return ret;
}
