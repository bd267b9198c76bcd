/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target for the dataplane's L2-L4 parser (dataplane/parse.c).
 *
 * Input: bytes 0-1 and 2-3 are two service ports (besides 5000), the rest
 * is one frame, copied into a buffer of its exact size so an over-read is
 * caught by the sanitizer.  dp_parse reads only the context's port tables,
 * so no EAL or mbuf is needed.  Invariants: exactly one counter moves per
 * frame; a screened segment's payload lies inside the frame, one of its
 * ports is a service port, its key is canonical (lower end first) and the
 * direction names the sender.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/dp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct dp_ctx fz_ctx;
static uint64_t fz_c[RG_CTR_MAX];

static void fz_service(uint16_t port, uint8_t svc)
{
	fz_ctx.svc_port_bits[port >> 6] |= 1ull << (port & 63);
	fz_ctx.svc_of_port[port] = svc;
}

static bool fz_is_service(uint16_t port)
{
	return (fz_ctx.svc_port_bits[port >> 6] >> (port & 63)) & 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint16_t ports[2];
	struct dp_pkt k;
	uint64_t before = 0, after = 0;
	uint8_t *frame;
	size_t len;
	int r;

	if (size < 4)
		return 0;
	ports[0] = (uint16_t)(data[0] << 8 | data[1]);
	ports[1] = (uint16_t)(data[2] << 8 | data[3]);
	memset(&fz_ctx, 0, sizeof(fz_ctx));
	fz_service(5000, 0);
	fz_service(ports[0], 1);
	fz_service(ports[1], 2);
	len = size - 4;
	frame = malloc(len ? len : 1);
	if (frame == NULL)
		return 0;
	memcpy(frame, data + 4, len);
	for (unsigned i = 0; i < RG_CTR_MAX; i++)
		before += fz_c[i];
	memset(&k, 0xa5, sizeof(k));
	r = dp_parse(&fz_ctx, frame, (uint32_t)len, &k, fz_c);
	for (unsigned i = 0; i < RG_CTR_MAX; i++)
		after += fz_c[i];
	assert(after == before + 1);
	assert(r == 0 || r == 1);
	assert(k.screen == r);
	if (r == 1) {
		unsigned alen = k.key.family == 4 ? 4 : 16;
		uint16_t sport = k.key.port[k.dir], dport = k.key.port[1 - k.dir];
		int cmp = memcmp(k.key.addr[0], k.key.addr[1], alen);

		assert(k.key.family == 4 || k.key.family == 6);
		assert(k.dir <= 1);
		assert(k.payload >= frame && k.payload + k.plen <= frame + len);
		assert(fz_is_service(sport) || fz_is_service(dport));
		assert(k.svc <= 2);
		assert(cmp < 0 || (cmp == 0 && k.key.port[0] <= k.key.port[1]));
		/* the unused tail of the addresses is zero: the key is hashed whole */
		for (unsigned e = 0; e < 2; e++)
			for (unsigned b = alen; b < 16; b++)
				assert(k.key.addr[e][b] == 0);
		assert(k.key.pad_[0] == 0 && k.key.pad_[1] == 0 && k.key.pad_[2] == 0);
	}
	free(frame);
	return 0;
}
