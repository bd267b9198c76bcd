/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control plane's one logger: levels err, warn, remote, info, debug;
 * one line per message on stderr (journald adds the time under systemd).
 * Messages are lowercase, name the object, end without a period and never
 * hold a key or a raw PAN.  A remote line (a peer sent garbage) quotes what
 * the peer sent: its digit runs are masked here (rg_mask_text), whatever
 * the caller did.
 */
#include <stdarg.h>
#include <stdio.h>

#include "common/ident.h"
#include "control/ctl.h"

static enum ctl_log_level ctl_log_level = CTL_LOG_INFO;

static const char *const ctl_log_names[] = { "err", "warn", "remote", "info", "debug" };

void ctl_log_set_level(enum ctl_log_level lvl)
{
	ctl_log_level = lvl;
}

void ctl_log(enum ctl_log_level lvl, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (lvl > ctl_log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (lvl == CTL_LOG_REMOTE)
		rg_mask_text(msg);
	fprintf(stderr, "riskgated: %s: %s\n", ctl_log_names[lvl], msg);
}
