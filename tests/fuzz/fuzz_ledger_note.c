/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target for the signed-note, checkpoint and cosignature parsers
 * (ledger/note.c): what a peer or a witness sends.
 *
 * Input: the note bytes.  Invariants, checked with abort(): a parse either
 * succeeds or says why; the text it returns lies inside the input, ends in
 * a newline and is followed by the blank line; at most LEDGER_NOTE_SIGS_MAX
 * signatures, each with a key id and at most LEDGER_NOTE_SIG_MAX bytes; a
 * decoded checkpoint re-encodes to a note that decodes to the same
 * checkpoint, with the same text as the input's; no signature verifies
 * under a fixed key that never signed anything here.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/ledger.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t pk[LEDGER_PK_BYTES] = { 0x3d, 0x40, 0x17, 0xc3, 0xe8, 0x43, 0x89,
						     0x5a, 0x92, 0xb7, 0x0a, 0xa7, 0x4d, 0x1b,
						     0x7e, 0xbc, 0x9c, 0x98, 0x2c, 0xcf, 0x2e,
						     0xc4, 0x96, 0x8c, 0xc0, 0xcd, 0x55, 0xf1,
						     0x2a, 0xf4, 0x66, 0x0c };
	static struct ledger_note n;
	struct ledger_checkpoint c, d;
	char buf[LEDGER_CHECKPOINT_MAX];
	const char *why = NULL, *in = (const char *)data;
	int rc, len;

	rc = ledger_note_parse(in, size, &n, &why);
	if (rc != 0) {
		if (why == NULL)
			abort();
	} else {
		if (n.text != in || n.text_len == 0 || n.text_len + 1 >= size ||
		    n.text[n.text_len - 1] != '\n' || in[n.text_len] != '\n' || n.nb_sigs == 0 ||
		    n.nb_sigs > LEDGER_NOTE_SIGS_MAX)
			abort();
		for (unsigned i = 0; i < n.nb_sigs; i++) {
			if (n.sigs[i].sig_len == 0 || n.sigs[i].sig_len > LEDGER_NOTE_SIG_MAX ||
			    n.sigs[i].name[0] == '\0')
				abort();
			if (ledger_cosig_ok(&n.sigs[i], pk, n.text, n.text_len, NULL))
				abort();
		}
	}
	why = NULL;
	rc = ledger_checkpoint_decode(in, size, &c, &why);
	if (rc != 0) {
		if (why == NULL)
			abort();
		return 0;
	}
	if (ledger_checkpoint_sig_ok(&c, pk))
		abort();
	len = ledger_checkpoint_encode(&c, buf, sizeof(buf));
	if (len <= 0 || ledger_checkpoint_decode(buf, (size_t)len, &d, NULL) != 0 ||
	    memcmp(&c, &d, sizeof(c)) != 0)
		abort();
	/* one text per checkpoint: the input's text is the one we write */
	if (memcmp(buf, in, n.text_len + 1) != 0)
		abort();
	return 0;
}
