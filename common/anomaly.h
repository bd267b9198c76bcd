/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Why a message, a frame or a stream was not screened normally.
 *
 * One enum for every component: it indexes per-lcore counters in the
 * dataplane, names the telemetry keys and the "anomaly" field of the
 * dissector's JSON.  Values are stable once released (counters in shared
 * memory are indexed by them); append new reasons before RG_ANOM_MAX.
 */
#ifndef RG_ANOMALY_H
#define RG_ANOMALY_H

enum rg_anomaly {
	RG_ANOM_NONE = 0,
	/* ISO 8583 decoder */
	RG_ANOM_TRUNCATED,         /* message ends inside the MTI, a bitmap or a field */
	RG_ANOM_BAD_MTI,           /* MTI is not four decimal digits */
	RG_ANOM_BAD_BITMAP,        /* hex bitmap with a non-hex character */
	RG_ANOM_UNDEFINED_FIELD,   /* bitmap bit set for a DE the dialect does not define */
	RG_ANOM_BAD_LENGTH_PREFIX, /* LL/LLL prefix is not a valid number */
	RG_ANOM_LENGTH_OVER_MAX,   /* LL/LLL prefix above the field's maximum */
	RG_ANOM_NON_NUMERIC,       /* non-digit in a numeric field (validating decode) */
	RG_ANOM_BAD_BCD,           /* nibble above 9 in a packed-BCD numeric field */
	RG_ANOM_TRAILING_BYTES,    /* bytes left after the last field the bitmap names */
	/* framing */
	RG_ANOM_FRAME_TOO_LONG,    /* length header above the configured maximum */
	RG_ANOM_FRAME_BAD_HEADER,  /* length header not a number (ASCII or BCD framings) */
	RG_ANOM_FRAME_TOO_SHORT,   /* length that cannot hold the configured TPDU/header */
	/* TCP stream */
	RG_ANOM_STREAM_GAP,        /* bytes missing and the hold buffer could not bridge them */
	RG_ANOM_STREAM_OVERLAP,    /* retransmitted bytes differ from the bytes first seen */
	RG_ANOM_STREAM_HOLD_FULL,  /* out-of-order data beyond the hold window, dropped */
	RG_ANOM_STREAM_NO_SYN,     /* data on a flow whose start was not seen */
	/* identifiers */
	RG_ANOM_IDENT_INVALID,     /* identifier field present but not normalisable */
	RG_ANOM_TLV_MALFORMED,     /* TLV structure inside a field is broken */
	/* TCP stream, continued */
	RG_ANOM_STREAM_OUT_OF_WINDOW,     /* data outside the receiver's window, dropped */
	RG_ANOM_STREAM_RETRANS_CHANGED,   /* retransmitted bytes differ from the bytes screened */
	RG_ANOM_STREAM_RETRANS_UNCHECKED, /* retransmission of unacknowledged screened bytes
					   * no longer kept: not compared */
	RG_ANOM_MAX
};

/* Stable lowercase name ("truncated", "bad_bitmap", ...), used as JSON value
 * and telemetry key.  Returns "unknown" for values out of range. */
const char *rg_anomaly_name(enum rg_anomaly a);

#endif
