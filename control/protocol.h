/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control socket protocol between riskgate-ctl (or any script) and
 * riskgated.  This comment is the definition; docs/operations.md repeats
 * it for operators and tests/unit/test_ctl_protocol.c quotes it.
 *
 * PROTOCOL riskgate-ctl 1
 *
 *   Transport: a Unix stream socket (default /run/riskgate/ctl.sock, mode
 *   0660).  The client writes one request per line, the daemon answers
 *   each with exactly one reply line, in order.  A line is UTF-8 JSON
 *   ending in "\n", at most CTL_LINE_MAX bytes including the newline.  A
 *   longer request line gets the error "line_too_long" and the connection
 *   is closed.
 *
 *   Request:  {"v": 1, "cmd": NAME, "args": {...}, "id": ANY}
 *     v     protocol version; absent means 1; any other value is refused
 *           with "bad_version" (the reply carries the daemon's "v")
 *     cmd   command name, [a-z_-]{1,32}
 *     args  object, absent means {}; keys are per command
 *     id    optional, echoed unchanged in the reply
 *
 *   Reply:    {"v": 1, "ok": true, "id": ANY, "result": {...}}
 *             {"v": 1, "ok": false, "id": ANY,
 *              "error": {"code": CODE, "message": TEXT}}
 *     codes  bad_json, bad_request, bad_version, unknown_command,
 *            bad_args, permission_denied, failed, busy, line_too_long,
 *            rate_limited, too_many_clients, idle_timeout
 *     A message never holds a raw PAN or account number: every digit run
 *     that could be one is masked (rg_mask_text), quoted input included.
 *
 *   Closing: the daemon closes a connection on its own only after one
 *   error line without "id": "too_many_clients" right after connect (no
 *   slot for this peer: the slots left are kept for the admin group, or
 *   the peer's uid holds its share already), "idle_timeout" when a peer
 *   outside the admin group sent no request for the idle time (a "hits"
 *   follower is never idle), "line_too_long" as above.
 *
 *   Streams: "hits" with {"follow": true} answers once, then sends one
 *   line per hit event ({"event": {...}}) until the client closes.  A
 *   follower that does not read loses events (counted), never blocks the
 *   daemon.
 *
 *   Progress: "import" runs as a job of the daemon's loop (one at a time;
 *   another gets "busy") and replies when it ends.  With {"progress": true}
 *   it first sends zero or more lines
 *     {"v": 1, "id": ANY, "progress": {"phase": "check"|"import",
 *      "bytes": N, "total_bytes": N, "lines": N, "rows": N, "bad": N,
 *      "blocks": N}}
 *   (id as in the reply, absent when the request had none; at most ten a
 *   second; "check" is the first pass of a strict import; bytes and lines
 *   count the current pass, rows the entries appended; on success the
 *   last line has bytes = total_bytes).  A progress line has no "ok": the
 *   reply is the line that has one.  Without "progress" only the reply is
 *   sent.  Until the reply is sent, the connection's further requests
 *   wait (replies stay in request order); other connections are served.
 *
 *   Rights: the peer's credentials as the kernel fixed them at connect
 *   (SO_PEERCRED uid and gid, SO_PEERGROUPS) decide: root and members of
 *   the admin group (default "riskgate-admin") may run every command;
 *   members of the lookup group (default "riskgate-lookup") may also run
 *   "lookup"; other peers that can open the socket get the read-only
 *   ones.  The command table in control/server.c gives each command its
 *   right (read, lookup, admin).  Lookups are limited per uid by a token
 *   bucket (root excepted); one over the limit gets "rate_limited".
 */
#ifndef CTL_PROTOCOL_H
#define CTL_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define CTL_PROTOCOL_VERSION 1
#define CTL_LINE_MAX 65536 /* bytes per request or reply line, newline included */
#define CTL_CMD_MAX 32	   /* bytes of a command name */

/* Error codes of the reply (the "code" strings above). */
enum ctl_err {
	CTL_ERR_BAD_JSON = 1,
	CTL_ERR_BAD_REQUEST,
	CTL_ERR_BAD_VERSION,
	CTL_ERR_UNKNOWN_COMMAND,
	CTL_ERR_BAD_ARGS,
	CTL_ERR_PERMISSION_DENIED,
	CTL_ERR_FAILED,
	CTL_ERR_BUSY,
	CTL_ERR_LINE_TOO_LONG,
	CTL_ERR_RATE_LIMITED,
	CTL_ERR_TOO_MANY_CLIENTS,
	CTL_ERR_IDLE_TIMEOUT,
	CTL_ERR_MAX
};

const char *ctl_err_code(enum ctl_err e);

struct ctl_request {
	char cmd[CTL_CMD_MAX + 1];
	json_t *args; /* owned: an object, never NULL after a successful parse */
	json_t *id;   /* owned, may be NULL */
};

/*
 * Parse one request line (without its newline; need not be NUL-terminated).
 * Returns 0 with *req filled (release with ctl_request_free), or the enum
 * ctl_err with why (static or formatted into why[cap], masked) set; req->id is
 * still set when the line was an object with an id, so the error reply can
 * echo it.  Any thread.
 */
int ctl_request_parse(const char *line, size_t len, struct ctl_request *req, char *why,
		      size_t cap);
void ctl_request_free(struct ctl_request *req);

/* Reply lines, newline-terminated, in malloc'd memory (*out, *out_len);
 * result is stolen (may be NULL for {}), id borrowed.  0 or -ENOMEM. */
int ctl_reply_ok(const json_t *id, json_t *result, char **out, size_t *out_len);
int ctl_reply_err(const json_t *id, enum ctl_err e, const char *message, char **out,
		  size_t *out_len);

/* Client side: request line for cmd with args (stolen, may be NULL). */
char *ctl_request_line(const char *cmd, json_t *args, size_t *out_len);

#endif
