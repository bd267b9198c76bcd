/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: decode the input with every built-in dialect (validating and
 * not), render every present DE as text, and re-encode what was rendered;
 * a message that decoded cleanly must re-encode to the same bytes (in
 * hex-bitmap dialects to the same length: input hex may be lower case).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/iso8583.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct rg_dialect *dialects[8];
static unsigned nb_dialects;

static void load_all(void)
{
	const char *const *names = rg_dialect_builtin_names();
	char err[256];

	for (unsigned i = 0; names[i] && nb_dialects < 8; i++) {
		struct rg_dialect *d = rg_dialect_load(names[i], err, sizeof(err));
		if (d == NULL)
			abort();
		dialects[nb_dialects++] = d;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char texts[RG_ISO_MAX_DE + 1][2 * RG_ISO_MAX_FIELD + 1];
	static uint8_t out[65536];
	struct rg_iso_msg m;

	if (nb_dialects == 0)
		load_all();
	if (size > 65535)
		return 0;
	for (unsigned i = 0; i < nb_dialects; i++) {
		const struct rg_dialect *d = dialects[i];
		for (unsigned flags = 0; flags <= RG_ISO_VALIDATE; flags++) {
			struct rg_iso_builder b;
			enum rg_anomaly a = rg_iso_decode(d, data, (uint32_t)size, flags, &m);

			if (m.end > size)
				abort();
			rg_iso_builder_init(&b, m.mti);
			for (unsigned de = 1; de <= RG_ISO_MAX_DE; de++) {
				if (!rg_iso_has(&m, de))
					continue;
				if (m.v[de].off + m.v[de].len > size)
					abort();
				int n = rg_iso_field_text(d, &m, de, texts[de], sizeof(texts[de]));
				if (n < 0 || texts[de][n] != '\0')
					abort();
				/* text fields may hold NUL bytes: give the length */
				b.text[de] = texts[de];
				b.text_len[de] = (uint16_t)n;
			}
			/* an empty secondary bitmap is legal but never written */
			if (flags == RG_ISO_VALIDATE && a == RG_ANOM_NONE &&
			    !(rg_iso_has(&m, 1) && m.bitmap[1] == 0)) {
				int len = rg_iso_encode(d, &b, out, sizeof(out), NULL);
				/* hex bitmaps may arrive in lower case; the rest is exact */
				if (len != (int)size)
					abort();
				if (d->bitmap_enc == RG_ISO_E_RAW && memcmp(out, data, size) != 0)
					abort();
			}
		}
	}
	return 0;
}
