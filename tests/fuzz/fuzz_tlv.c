/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target for the TLV readers and identifier normalisation.
 *
 * Input layout: byte 0 picks the ASCII TLV tag width (1..4) and length width
 * (1..4), bytes 1..4 are the ASCII tag, byte 5 picks the BER tag length
 * (1..3), bytes 6..8 the BER tag; the rest is the field.  Both readers run
 * over the field, then every kind's normalisation and the mask run over the
 * field and over any value found.  Invariants are checked with abort(): a hit
 * lies inside the field, results stay within their documented ranges, and
 * normalisation is idempotent.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/ident.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HDR 9

static void check_normalise(const uint8_t *in, size_t len)
{
	char out[RG_IDENT_MAX_LEN], again[RG_IDENT_MAX_LEN], masked[RG_IDENT_MAX_LEN + 1];
	unsigned kind;

	for (kind = 0; kind <= RG_KIND_MAX; kind++) {
		int n = rg_ident_normalise(kind, (const char *)in, len, out);

		if (n == -EINVAL)
			continue;
		if (n <= 0 || n > RG_IDENT_MAX_LEN || kind == RG_KIND_NONE || kind == RG_KIND_MAX)
			abort();
		/* A normalised value is its own normal form. */
		if (rg_ident_normalise(kind, out, (size_t)n, again) != n ||
		    memcmp(out, again, (size_t)n) != 0)
			abort();
		if (kind == RG_KIND_PAN) {
			if (n < 12 || n > 19)
				abort();
			for (int i = 0; i < n; i++)
				if (out[i] < '0' || out[i] > '9')
					abort();
			(void)rg_luhn_ok(out, (size_t)n);
		}
		if (rg_ident_mask(kind, out, (size_t)n, masked, sizeof(masked)) != n ||
		    masked[n] != '\0')
			abort();
		if (kind == RG_KIND_PAN && memcmp(masked + n - 4, out + n - 4, 4) != 0)
			abort();
	}
	(void)rg_luhn_ok((const char *)in, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *field, *val;
	size_t field_len, val_len;
	unsigned tag_width, len_width, ber_len;
	int rc;

	if (size < HDR)
		return 0;
	tag_width = 1 + (data[0] & 3);
	len_width = 1 + ((data[0] >> 2) & 3);
	ber_len = 1 + data[5] % 3;
	field = data + HDR;
	field_len = size - HDR;

	rc = rg_tlv_ascii_find(field, field_len, tag_width, len_width, data + 1, &val, &val_len);
	if (rc == 0) {
		if (val < field || val_len > field_len || val + val_len > field + field_len)
			abort();
		check_normalise(val, val_len);
	} else if (rc != -ENOENT && rc != -EBADMSG) {
		abort();
	}

	rc = rg_tlv_ber_find(field, field_len, data + 6, ber_len, &val, &val_len);
	if (rc == 0) {
		if (val < field || val_len > field_len || val + val_len > field + field_len)
			abort();
		check_normalise(val, val_len);
	} else if (rc != -ENOENT && rc != -EBADMSG) {
		abort();
	}

	check_normalise(field, field_len);
	return 0;
}
