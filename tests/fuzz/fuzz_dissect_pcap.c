/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target for riskgate-dissect's packet and flow layer
 * (tools/dissect/pcapflow.c).
 *
 * Input: byte 0 picks the link type (low 3 bits) and the framing (bits 3-4:
 * len2, len2i, ascii4, bcd2; bit 5: +tpdu), byte 1 the hold window (64 or
 * 512 bytes); then packets, each a 2-byte big-endian length and that many
 * bytes (short at the end), each copied to a buffer of its exact size so an
 * over-read is caught by the sanitizer.  Service ports: 5000 and 80.
 * Invariants: every message lies within the framing's bounds, counters add
 * up (messages and keep-alives equal the events seen, every packet counted
 * once).
 */
#include <assert.h>
#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>

#include "tools/dissect/pcapflow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz_seen {
	uint64_t msgs, keepalives;
	uint32_t max_msg;
};

static void fz_event(void *ctx, const struct pcapflow_event *ev)
{
	struct fz_seen *s = ctx;

	if (ev->kind == PCAPFLOW_EV_MSG) {
		volatile uint8_t sum = 0;

		assert(ev->fr != NULL && ev->fr->msg_len <= s->max_msg);
		/* touch every byte: the sanitizer checks the message lies in memory we own */
		for (uint32_t i = 0; i < ev->fr->msg_len; i++)
			sum ^= ev->fr->msg[i];
		(void)sum;
		s->msgs++;
	} else if (ev->kind == PCAPFLOW_EV_KEEPALIVE) {
		s->keepalives++;
	} else {
		assert(ev->kind == PCAPFLOW_EV_ANOMALY && ev->anomaly < RG_ANOM_MAX);
	}
	assert(ev->flow != NULL && strlen(ev->flow) < PCAPFLOW_ADDR_TEXT * 2 + 2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int links[8] = {
		DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_RAW,
		DLT_IPV4, DLT_IPV6, DLT_NULL, DLT_LOOP,
	};
	static const char *const framings[4] = { "len2", "len2i", "ascii4", "bcd2" };
	struct pcapflow_config cfg;
	const struct pcapflow_counters *cn;
	struct fz_seen seen = { 0 };
	struct pcapflow *pf;
	char spec[32], err[128];
	uint64_t nb_pkts = 0, dropped = 0;
	size_t off = 2;

	if (size < 2)
		return 0;
	memset(&cfg, 0, sizeof(cfg));
	snprintf(spec, sizeof(spec), "%s%s", framings[(data[0] >> 3) & 3],
		 data[0] & 0x20 ? "+tpdu" : "");
	if (rg_framing_parse(spec, &cfg.framing, err, sizeof(err)) < 0)
		return 0;
	cfg.framing.max_msg_bytes = 512;
	cfg.ports[0] = 5000;
	cfg.ports[1] = 80;
	cfg.nb_ports = 2;
	cfg.hold_bytes = data[1] & 1 ? 512 : 64;
	cfg.event = fz_event;
	cfg.event_ctx = &seen;
	seen.max_msg = cfg.framing.max_msg_bytes;
	pf = pcapflow_create(&cfg, links[data[0] & 7]);
	if (pf == NULL)
		return 0;
	while (off < size) {
		size_t len = size - off >= 2 ? (size_t)(data[off] << 8 | data[off + 1]) : 0;
		uint8_t *pkt;

		off += size - off >= 2 ? 2 : 1;
		if (len > size - off)
			len = size - off;
		pkt = malloc(len ? len : 1);
		if (pkt == NULL)
			break;
		memcpy(pkt, data + off, len);
		pcapflow_packet(pf, pkt, (uint32_t)len, 1700000000 + (int64_t)nb_pkts, 0);
		free(pkt);
		off += len;
		nb_pkts++;
	}
	pcapflow_finish(pf);
	cn = pcapflow_counters(pf);
	assert(cn->nb_packets == nb_pkts);
	assert(cn->nb_messages == seen.msgs && cn->nb_keepalives == seen.keepalives);
	for (unsigned i = 0; i < PCAPFLOW_DROP_MAX; i++)
		dropped += cn->drops[i];
	assert(cn->nb_tcp <= cn->nb_packets);
	(void)dropped;
	pcapflow_destroy(pf);
	return 0;
}
