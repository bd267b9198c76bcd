/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Per-message side of riskgate-dissect: ISO 8583 decode, identifier
 * extraction, masking, fingerprints and list matching of each framed message
 * that pcapflow delivers, written as one JSON object per line
 * (docs/dissect.md), or counted into a summary.
 *
 * Raw PANs are printed only when the caller asked for them (show_pan); every
 * other path masks them (first 6, last 4), error messages included.
 */
#ifndef RG_DISSECT_DISSECT_H
#define RG_DISSECT_DISSECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/fp.h"
#include "common/ident.h"
#include "common/iso8583.h"
#include "tools/dissect/pcapflow.h"

#define DISSECT_MAX_LISTS 64
#define DISSECT_LIST_NAME_MAX 48

/* Risk lists read from a CSV file: list,kind,value[,severity,expiry,reason]. */
struct dissect_lists;

/*
 * Read a list file.  Values are normalised with rg_ident_normalise; a line
 * with an unknown kind, a value that does not normalise, a bad list name or
 * a wrong number of columns fails the whole load.  Returns NULL with errno
 * set and err naming the file, the line and the problem (never the value).
 */
struct dissect_lists *dissect_lists_load(const char *path, char *err, size_t err_cap);
void dissect_lists_free(struct dissect_lists *l);
/* Entries loaded (duplicates within one list counted once). */
size_t dissect_lists_size(const struct dissect_lists *l);

/*
 * Lists that hold (kind, normalised value): writes up to max list indexes to
 * out, each once, in list order of first appearance in the file.  Returns how
 * many.  dissect_lists_name() gives the name of an index.
 */
unsigned dissect_lists_match(const struct dissect_lists *l, unsigned kind,
			     const char *value, size_t len, unsigned *out, unsigned max);
const char *dissect_lists_name(const struct dissect_lists *l, unsigned idx);

/*
 * Masked text of data element de holding text[0..len) (as rg_iso_field_text
 * renders it), NUL-terminated in out:
 *   DE 2, 34   rg_ident_mask as a PAN
 *   DE 35      masked PAN, the '='/'D' separator, '*' for every later character
 *   DE 45      format code, masked PAN, '^', '*' for every later character
 *   DE 102, 103, and every DE dialect d (may be NULL) reads a whole PAN or
 *              ACCOUNT from: rg_ident_mask of that kind
 *   a DE d reads a PAN or ACCOUNT from in part (TLV, skipped bytes):
 *              rg_mask_text over the whole field
 *   other DEs  copied unchanged
 * When a PAN part cannot be masked it becomes all '*'.  Returns the length or
 * -ENOSPC.
 */
int dissect_mask_field(const struct rg_dialect *d, unsigned de, const char *text, size_t len,
		       char *out, size_t cap);

struct dissect_opts {
	const struct rg_dialect *dialect; /* borrowed for the dissector's life */
	const struct rg_fp_key *key;      /* borrowed; NULL: no "fp" */
	const struct dissect_lists *lists; /* borrowed; NULL: no "hits" */
	bool show_pan;                    /* print PAN-bearing values unmasked */
	bool summary;                     /* count only; dissect_summary() prints */
	FILE *out;                        /* JSON lines go here */
};

struct dissect;

/* Returns NULL with errno set (ENOMEM). */
struct dissect *dissect_create(const struct dissect_opts *o);
void dissect_destroy(struct dissect *ds);

/* The pcapflow event callback: ctx is the struct dissect. */
void dissect_event(void *ctx, const struct pcapflow_event *ev);

/* Print the summary of everything seen, as an aligned table or (json) one
 * JSON object on one line. */
void dissect_summary(const struct dissect *ds, const struct pcapflow_counters *c,
		     bool json, FILE *out);

#endif
