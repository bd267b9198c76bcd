/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * L2-L4 parse of one received frame: Ethernet with up to four 802.1Q/802.1ad
 * tags, IPv4 or IPv6 (extension headers walked), TCP to or from a service
 * port.  Every read is checked against the frame length first; a frame that
 * is not a screenable segment is counted under its reason and forwarded
 * untouched like every other frame.  Fast path: no allocation, no logging.
 */
#include <string.h>

#include "dataplane/dp.h"

#define ETH_P_IPV4 0x0800
#define ETH_P_IPV6 0x86dd
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88a8
#define ETH_P_QINQ_OLD 0x9100
#define DP_MAX_VLAN_TAGS 4

static inline uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline bool dp_is_service(const struct dp_ctx *x, uint16_t port)
{
	return (x->svc_port_bits[port >> 6] >> (port & 63)) & 1;
}

static int dp_parse_tcp(const struct dp_ctx *x, unsigned family, const uint8_t *src,
			const uint8_t *dst, const uint8_t *p, uint32_t len, struct dp_pkt *k,
			uint64_t *c)
{
	unsigned alen = family == 4 ? 4 : 16;
	uint16_t sport, dport;
	uint32_t doff;
	int cmp;

	if (len < 20) {
		c[RG_CTR_SKIP_TCP_MALFORMED]++;
		return 0;
	}
	doff = (uint32_t)(p[12] >> 4) * 4;
	if (doff < 20 || doff > len) {
		c[RG_CTR_SKIP_TCP_MALFORMED]++;
		return 0;
	}
	sport = be16(p);
	dport = be16(p + 2);
	if (dp_is_service(x, dport)) {
		k->svc = x->svc_of_port[dport];
	} else if (dp_is_service(x, sport)) {
		k->svc = x->svc_of_port[sport];
	} else {
		c[RG_CTR_SKIP_OTHER_PORT]++;
		return 0;
	}
	k->seq = be32(p + 4);
	k->ack = be32(p + 8);
	k->win = be16(p + 14);
	k->flags = p[13];
	/* the window scale matters once per connection: read options of SYNs only */
	k->wscale = k->flags & DP_TCP_SYN ? (int8_t)rg_tcp_opt_wscale(p + 20, doff - 20)
					  : RG_STREAM_WS_NONE;
	k->payload = p + doff;
	k->plen = len - doff;
	memset(&k->key, 0, sizeof(k->key));
	k->key.family = (uint8_t)family;
	cmp = memcmp(src, dst, alen);
	if (cmp < 0 || (cmp == 0 && sport <= dport)) {
		memcpy(k->key.addr[0], src, alen);
		memcpy(k->key.addr[1], dst, alen);
		k->key.port[0] = sport;
		k->key.port[1] = dport;
		k->dir = 0;
	} else {
		memcpy(k->key.addr[0], dst, alen);
		memcpy(k->key.addr[1], src, alen);
		k->key.port[0] = dport;
		k->key.port[1] = sport;
		k->dir = 1;
	}
	k->screen = 1;
	c[RG_CTR_TCP_SEGMENTS]++;
	return 1;
}

static int dp_parse_ipv4(const struct dp_ctx *x, const uint8_t *p, uint32_t len,
			 struct dp_pkt *k, uint64_t *c)
{
	uint32_t ihl, tot;

	if (len < 20 || (p[0] >> 4) != 4) {
		c[RG_CTR_SKIP_IP_MALFORMED]++;
		return 0;
	}
	ihl = (uint32_t)(p[0] & 0x0f) * 4;
	tot = be16(p + 2);
	if (ihl < 20 || tot < ihl || tot > len) {
		c[RG_CTR_SKIP_IP_MALFORMED]++;
		return 0;
	}
	if (be16(p + 6) & 0x3fff) {
		c[RG_CTR_SKIP_IP_FRAGMENT]++;
		return 0;
	}
	if (p[9] != 6) {
		c[RG_CTR_SKIP_NOT_TCP]++;
		return 0;
	}
	/* tot, not len: Ethernet pads short frames */
	return dp_parse_tcp(x, 4, p + 12, p + 16, p + ihl, tot - ihl, k, c);
}

static int dp_parse_ipv6(const struct dp_ctx *x, const uint8_t *p, uint32_t len,
			 struct dp_pkt *k, uint64_t *c)
{
	uint32_t plen, off = 40;
	uint8_t nh;

	if (len < 40 || (p[0] >> 4) != 6) {
		c[RG_CTR_SKIP_IP_MALFORMED]++;
		return 0;
	}
	plen = be16(p + 4);
	if (plen == 0 || 40 + plen > len) {
		c[RG_CTR_SKIP_IP_MALFORMED]++;
		return 0;
	}
	len = 40 + plen;
	nh = p[6];
	for (unsigned hops = 0; nh != 6; hops++) {
		uint32_t ext;

		if (hops >= 8) {
			c[RG_CTR_SKIP_IPV6_EXT]++;
			return 0;
		}
		if (nh == 17 || nh == 58 || nh == 59) {
			c[RG_CTR_SKIP_NOT_TCP]++;
			return 0;
		}
		if (nh != 0 && nh != 43 && nh != 60 && nh != 44 && nh != 51) {
			c[RG_CTR_SKIP_IPV6_EXT]++;
			return 0;
		}
		if (off + 8 > len) {
			c[RG_CTR_SKIP_IP_MALFORMED]++;
			return 0;
		}
		if (nh == 44) {
			/* only an atomic fragment (offset 0, no more) is whole */
			if (be16(p + off + 2) & 0xfff9) {
				c[RG_CTR_SKIP_IP_FRAGMENT]++;
				return 0;
			}
			ext = 8;
		} else if (nh == 51) {
			ext = ((uint32_t)p[off + 1] + 2) * 4;
		} else {
			ext = ((uint32_t)p[off + 1] + 1) * 8;
		}
		if (ext > len - off) {
			c[RG_CTR_SKIP_IP_MALFORMED]++;
			return 0;
		}
		nh = p[off];
		off += ext;
	}
	return dp_parse_tcp(x, 6, p + 8, p + 24, p + off, len - off, k, c);
}

int dp_parse(const struct dp_ctx *x, const uint8_t *p, uint32_t len, struct dp_pkt *k,
	     uint64_t *c)
{
	unsigned tags = 0;
	uint16_t type;

	k->screen = 0;
	if (len < 14) {
		c[RG_CTR_SKIP_L2_MALFORMED]++;
		return 0;
	}
	type = be16(p + 12);
	p += 14;
	len -= 14;
	while (type == ETH_P_8021Q || type == ETH_P_8021AD || type == ETH_P_QINQ_OLD) {
		if (len < 4 || ++tags > DP_MAX_VLAN_TAGS) {
			c[RG_CTR_SKIP_L2_MALFORMED]++;
			return 0;
		}
		type = be16(p + 2);
		p += 4;
		len -= 4;
	}
	if (type == ETH_P_IPV4)
		return dp_parse_ipv4(x, p, len, k, c);
	if (type == ETH_P_IPV6)
		return dp_parse_ipv6(x, p, len, k, c);
	c[RG_CTR_SKIP_NOT_IP]++;
	return 0;
}
