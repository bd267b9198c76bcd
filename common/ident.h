/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Identifiers: kinds, the one normalisation of each kind, masking, and
 * extraction from a decoded ISO 8583 message.
 *
 * Every component (dataplane, control plane, import, XDP, tools) normalises
 * through rg_ident_normalise(), so the same card read from DE 2, from track 2
 * or from an import file yields the same bytes and so the same fingerprint.
 * Kind codes are part of every fingerprint: they never change.
 */
#ifndef RG_IDENT_H
#define RG_IDENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/anomaly.h"
#include "common/iso8583.h"

enum rg_kind {
	RG_KIND_NONE = 0,
	RG_KIND_PAN = 1,
	RG_KIND_ACCOUNT = 2,
	RG_KIND_MERCHANT = 3,
	RG_KIND_TERMINAL = 4,
	RG_KIND_ACQUIRER = 5,
	RG_KIND_PHONE = 6,
	RG_KIND_DEVICE = 7,
	RG_KIND_MAX
};

#define RG_IDENT_MAX_LEN 64 /* longest normalised value, bytes */
#define RG_IDENT_MAX 16     /* identifiers kept per message */

/* How an identifier is located in its data element. */
enum rg_ident_how {
	RG_IDENT_WHOLE = 0,  /* the whole value of the DE */
	RG_IDENT_TRACK2,     /* PAN before '=' or 'D' (DE 35, ASCII or BCD) */
	RG_IDENT_TRACK1,     /* PAN between format code 'B' and '^' (DE 45) */
	RG_IDENT_TLV_ASCII,  /* ASCII TLV: tag_width chars, len_width digits, value */
	RG_IDENT_TLV_BER,    /* BER-TLV (EMV style), tag of 1-3 bytes */
};

/* "PAN", "ACCOUNT", ...; NULL for an unknown kind. */
const char *rg_kind_name(unsigned kind);
/* Kind from its name (case-insensitive); RG_KIND_NONE if unknown. */
enum rg_kind rg_kind_from_name(const char *name);

/* Luhn check over ASCII digits (false on any non-digit or empty input). */
bool rg_luhn_ok(const char *digits, size_t len);

/*
 * Normalise in[0..len) as an identifier of kind into out (RG_IDENT_MAX_LEN
 * bytes, not NUL-terminated).  Rules (docs/identifiers.md):
 *   PAN       digits only after dropping ' ' and '-'; 12..19 digits
 *   ACCOUNT   trim spaces; drop inner ' ' and '-'; upper-case; 1..34 printable
 *   MERCHANT, TERMINAL, DEVICE  trim leading/trailing spaces; 1..64 printable
 *   ACQUIRER  digits only, 1..11
 *   PHONE     drop ' ', '-', '(', ')', '.'; drop a leading '+' or "00";
 *             7..15 digits (E.164 without the plus); a result that
 *             still starts with "00" is refused (keeps it idempotent)
 * Returns the normalised length, or -EINVAL.  Luhn is not checked here.
 * Fast path safe.
 */
int rg_ident_normalise(unsigned kind, const char *in, size_t len, char *out);

/*
 * Masked form for people, the one rule for every place a person sees an
 * identifier (docs/identifiers.md, "Masking"):
 *   PAN      first 6, '*' for each hidden digit, last 4 (shorter than 12:
 *            all '*')
 *   ACCOUNT  an IBAN keeps its first 4 (country, check digits) and last 4;
 *            another account of 12 or more characters its first 6 and last
 *            4, of 8 to 11 its last 4; a shorter one is all '*'
 *   others   shown as they are
 * Writes a NUL-terminated string; returns its length or -ENOSPC.
 */
int rg_ident_mask(unsigned kind, const char *value, size_t len, char *out, size_t cap);

/* Digits in a run that could be a PAN or an account number. */
#define RG_MASK_RUN_MIN 8

/*
 * Mask, in place, every digit run in the NUL-terminated text s that could
 * be a PAN or an account: RG_MASK_RUN_MIN or more digits, where single ' '
 * or '-' between digits join groups into one run (as normalisation drops
 * them); an ISO 8601 date (YYYY-MM-DD) is not a run.  A run of 12 or more
 * digits keeps its first 6 and last 4, a shorter one its last 4; the other
 * digits become '*', separators stay.  Every error text that may quote
 * untrusted input passes through this before it is logged or sent.
 */
void rg_mask_text(char *s);

/* "prog: " and fmt's text, masked by rg_mask_text, and a newline to out:
 * how a program reports an error that may quote input (at most 1 KiB of
 * text; longer is cut). */
void rg_mask_errorf(FILE *out, const char *prog, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Digits in the longest run of s[0..len) by the rule of rg_mask_text
 * (dates not counted).  Text meant for the ledger (a reason) is refused when
 * this reaches RG_MASK_RUN_MIN. */
size_t rg_digit_run_max(const char *s, size_t len);

struct rg_ident {
	uint8_t kind;  /* enum rg_kind */
	uint8_t de;    /* data element it came from (the first, if several agree) */
	uint8_t len;   /* bytes of value */
	char value[RG_IDENT_MAX_LEN]; /* normalised, not NUL-terminated */
};

/*
 * Extract the identifiers named by d->ident[] from decoded message m, in that
 * order, normalised, without duplicates (same kind and value from two DEs is
 * kept once, with the first DE).  Writes at most max entries to out.
 * Returns the number written; *anomaly (if not NULL) receives the first
 * problem met (RG_ANOM_IDENT_INVALID, RG_ANOM_TLV_MALFORMED) or RG_ANOM_NONE.
 * Fast path safe: no allocation.
 */
unsigned rg_ident_extract(const struct rg_dialect *d, const struct rg_iso_msg *m,
			  struct rg_ident *out, unsigned max, enum rg_anomaly *anomaly);

/*
 * rg_ident_extract over the sources whose kind k has bit k set in kind_mask
 * (1u << RG_KIND_PAN | ...): the others are not read, so they yield neither
 * an identifier nor an anomaly.  Unless max cuts the list short, the result
 * is that of rg_ident_extract with the other kinds' entries (and their
 * anomalies) left out.  Fast path safe.
 */
unsigned rg_ident_extract_mask(const struct rg_dialect *d, const struct rg_iso_msg *m,
			       uint32_t kind_mask, struct rg_ident *out, unsigned max,
			       enum rg_anomaly *anomaly);

/*
 * TLV readers over raw field bytes (common/tlv.c).  Each finds the first
 * element with the given tag and returns 0 with *val / *val_len set
 * (pointing into buf), -ENOENT if absent, -EBADMSG if the structure is broken
 * before the tag is found.  They never read outside buf[0..len).
 */
int rg_tlv_ascii_find(const uint8_t *buf, size_t len, unsigned tag_width,
		      unsigned len_width, const uint8_t *tag,
		      const uint8_t **val, size_t *val_len);
int rg_tlv_ber_find(const uint8_t *buf, size_t len, const uint8_t *tag, unsigned tag_len,
		    const uint8_t **val, size_t *val_len);

#endif
