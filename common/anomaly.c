/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Names of the anomaly reasons: JSON values and telemetry keys.  They are
 * part of the external interface: never rename one, only append.
 */
#include <stddef.h>

#include "common/anomaly.h"

static const char *const anomaly_names[] = {
	[RG_ANOM_NONE] = "none",
	[RG_ANOM_TRUNCATED] = "truncated",
	[RG_ANOM_BAD_MTI] = "bad_mti",
	[RG_ANOM_BAD_BITMAP] = "bad_bitmap",
	[RG_ANOM_UNDEFINED_FIELD] = "undefined_field",
	[RG_ANOM_BAD_LENGTH_PREFIX] = "bad_length_prefix",
	[RG_ANOM_LENGTH_OVER_MAX] = "length_over_max",
	[RG_ANOM_NON_NUMERIC] = "non_numeric",
	[RG_ANOM_BAD_BCD] = "bad_bcd",
	[RG_ANOM_TRAILING_BYTES] = "trailing_bytes",
	[RG_ANOM_FRAME_TOO_LONG] = "frame_too_long",
	[RG_ANOM_FRAME_BAD_HEADER] = "frame_bad_header",
	[RG_ANOM_FRAME_TOO_SHORT] = "frame_too_short",
	[RG_ANOM_STREAM_GAP] = "stream_gap",
	[RG_ANOM_STREAM_OVERLAP] = "stream_overlap",
	[RG_ANOM_STREAM_HOLD_FULL] = "stream_hold_full",
	[RG_ANOM_STREAM_NO_SYN] = "stream_no_syn",
	[RG_ANOM_STREAM_OUT_OF_WINDOW] = "stream_out_of_window",
	[RG_ANOM_STREAM_RETRANS_CHANGED] = "stream_retrans_changed",
	[RG_ANOM_STREAM_RETRANS_UNCHECKED] = "stream_retrans_unchecked",
	[RG_ANOM_IDENT_INVALID] = "ident_invalid",
	[RG_ANOM_TLV_MALFORMED] = "tlv_malformed",
};

_Static_assert(sizeof(anomaly_names) / sizeof(anomaly_names[0]) == RG_ANOM_MAX,
	       "every enum rg_anomaly value needs a name");

const char *rg_anomaly_name(enum rg_anomaly a)
{
	if ((unsigned)a >= RG_ANOM_MAX || anomaly_names[a] == NULL)
		return "unknown";
	return anomaly_names[a];
}
