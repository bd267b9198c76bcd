/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * TLV readers over the raw bytes of one data element: the ASCII form
 * (fixed-width tag, fixed-width decimal length: Mastercard DE 48 subelements,
 * BASE24 tokens, private DE 62/63 layouts) and BER-TLV (EMV ICC data in
 * DE 55, tags of one to three bytes such as 9F02 or DF8116).
 *
 * Both walk the elements of one level in order with a bounds-checked cursor
 * and stop at the first element carrying the tag.  Input comes from the
 * network: a length that runs past the end, a length that is not a number or
 * an unsupported encoding is reported as -EBADMSG, never read through.
 * Fast path: no allocation, no state.
 */
#include <errno.h>
#include <string.h>

#include "common/ident.h"

#define RG_TLV_ASCII_MAX_TAG 4   /* ident source tag[] holds 4 bytes */
#define RG_TLV_ASCII_MAX_LEN 9   /* digits of a length: keeps it in 32 bits */
#define RG_TLV_BER_MAX_TAG 3

int rg_tlv_ascii_find(const uint8_t *buf, size_t len, unsigned tag_width,
		      unsigned len_width, const uint8_t *tag,
		      const uint8_t **val, size_t *val_len)
{
	size_t pos = 0;

	if (tag_width == 0 || tag_width > RG_TLV_ASCII_MAX_TAG ||
	    len_width == 0 || len_width > RG_TLV_ASCII_MAX_LEN)
		return -EINVAL;

	while (pos < len) {
		size_t hdr = tag_width + len_width;
		size_t vlen = 0, vpos;
		unsigned i;

		if (len - pos < hdr)
			return -EBADMSG;
		for (i = 0; i < len_width; i++) {
			uint8_t c = buf[pos + tag_width + i];

			if (c < '0' || c > '9')
				return -EBADMSG;
			vlen = vlen * 10 + (size_t)(c - '0');
		}
		vpos = pos + hdr;
		if (vlen > len - vpos)
			return -EBADMSG;
		if (memcmp(buf + pos, tag, tag_width) == 0) {
			*val = buf + vpos;
			*val_len = vlen;
			return 0;
		}
		pos = vpos + vlen;
	}
	return -ENOENT;
}

int rg_tlv_ber_find(const uint8_t *buf, size_t len, const uint8_t *tag, unsigned tag_len,
		    const uint8_t **val, size_t *val_len)
{
	size_t pos = 0;

	if (tag_len == 0 || tag_len > RG_TLV_BER_MAX_TAG)
		return -EINVAL;

	while (pos < len) {
		size_t tpos = pos, tlen = 1, vlen, vpos;
		uint8_t b = buf[pos];

		/* EMV lets issuers pad between elements with 00 or FF. */
		if (b == 0x00 || b == 0xff) {
			pos++;
			continue;
		}
		pos++;
		if ((b & 0x1f) == 0x1f) {
			do {
				if (pos >= len || tlen == RG_TLV_BER_MAX_TAG)
					return -EBADMSG;
				b = buf[pos++];
				tlen++;
			} while (b & 0x80);
		}

		if (pos >= len)
			return -EBADMSG;
		b = buf[pos++];
		if (b < 0x80) {
			vlen = b;
		} else if (b == 0x81) {
			if (len - pos < 1)
				return -EBADMSG;
			vlen = buf[pos];
			pos += 1;
		} else if (b == 0x82) {
			if (len - pos < 2)
				return -EBADMSG;
			vlen = ((size_t)buf[pos] << 8) | buf[pos + 1];
			pos += 2;
		} else {
			/* 0x80 (indefinite) is not allowed in EMV; 0x83+ cannot fit a DE. */
			return -EBADMSG;
		}
		vpos = pos;
		if (vlen > len - vpos)
			return -EBADMSG;
		/* Constructed elements are skipped whole, never descended into. */
		if (tlen == tag_len && memcmp(buf + tpos, tag, tlen) == 0) {
			*val = buf + vpos;
			*val_len = vlen;
			return 0;
		}
		pos = vpos + vlen;
	}
	return -ENOENT;
}
