/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: parse the input as dialect file text.  Any result is fine
 * except a crash, a leak or an accepted dialect that breaks its invariants.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/iso8583.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
#include "lsan_libconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	char *text;
	struct rg_dialect *d;

	if (size > 65536)
		return 0;
	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	/* origin without a directory: file bases resolve under a path that does not exist */
	d = rg_dialect_parse(text, "/nonexistent-fuzz-dir/fuzz.cfg", err, sizeof(err));
	if (d) {
		if (d->de[1].type != RG_ISO_T_NONE || d->nb_ident > RG_DIALECT_MAX_IDENT)
			abort();
		for (unsigned de = 2; de <= RG_ISO_MAX_DE; de++)
			if (d->de[de].len > RG_ISO_MAX_FIELD ||
			    (d->de[de].type != RG_ISO_T_NONE && d->de[de].len == 0))
				abort();
		for (unsigned i = 0; i < d->nb_ident; i++)
			if (d->de[d->ident[i].de].type == RG_ISO_T_NONE)
				abort();
		free(d);
	} else if (err[0] == '\0') {
		abort();
	}
	free(text);
	return 0;
}
