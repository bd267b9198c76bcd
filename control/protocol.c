/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Control socket requests and replies (the protocol is defined in
 * control/protocol.h).  The parser takes untrusted bytes from any peer
 * that can open the socket: it never trusts a length, a type or a depth.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ident.h"
#include "control/protocol.h"

static const char *const ctl_err_codes[CTL_ERR_MAX] = {
	[CTL_ERR_BAD_JSON] = "bad_json",
	[CTL_ERR_BAD_REQUEST] = "bad_request",
	[CTL_ERR_BAD_VERSION] = "bad_version",
	[CTL_ERR_UNKNOWN_COMMAND] = "unknown_command",
	[CTL_ERR_BAD_ARGS] = "bad_args",
	[CTL_ERR_PERMISSION_DENIED] = "permission_denied",
	[CTL_ERR_FAILED] = "failed",
	[CTL_ERR_BUSY] = "busy",
	[CTL_ERR_LINE_TOO_LONG] = "line_too_long",
	[CTL_ERR_RATE_LIMITED] = "rate_limited",
	[CTL_ERR_TOO_MANY_CLIENTS] = "too_many_clients",
	[CTL_ERR_IDLE_TIMEOUT] = "idle_timeout",
};

const char *ctl_err_code(enum ctl_err e)
{
	if ((unsigned)e >= CTL_ERR_MAX || ctl_err_codes[e] == NULL)
		return "failed";
	return ctl_err_codes[e];
}

static bool cmd_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CTL_CMD_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || *s == '_' || *s == '-'))
			return false;
	return true;
}

int ctl_request_parse(const char *line, size_t len, struct ctl_request *req, char *why,
		      size_t cap)
{
	json_error_t jerr;
	json_t *root, *v, *cmd, *args;
	int rc;

	memset(req, 0, sizeof(*req));
	if (len >= CTL_LINE_MAX) {
		snprintf(why, cap, "request longer than %d bytes", CTL_LINE_MAX - 1);
		return CTL_ERR_LINE_TOO_LONG;
	}
	/* jansson bounds its own nesting depth (2048 by default) */
	root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		/* jansson quotes the input near the error: a PAN may be in it */
		snprintf(why, cap, "not JSON: %s at column %d", jerr.text, jerr.column);
		rg_mask_text(why);
		return CTL_ERR_BAD_JSON;
	}
	if (!json_is_object(root)) {
		snprintf(why, cap, "a request is a JSON object");
		rc = CTL_ERR_BAD_REQUEST;
		goto out_free_root;
	}
	req->id = json_object_get(root, "id");
	if (req->id != NULL)
		json_incref(req->id);
	v = json_object_get(root, "v");
	if (v != NULL && (!json_is_integer(v) || json_integer_value(v) != CTL_PROTOCOL_VERSION)) {
		snprintf(why, cap, "protocol version %d only", CTL_PROTOCOL_VERSION);
		rc = CTL_ERR_BAD_VERSION;
		goto out_free_root;
	}
	cmd = json_object_get(root, "cmd");
	if (!json_is_string(cmd) || !cmd_name_ok(json_string_value(cmd))) {
		snprintf(why, cap, "\"cmd\" must be a command name");
		rc = CTL_ERR_BAD_REQUEST;
		goto out_free_root;
	}
	args = json_object_get(root, "args");
	if (args != NULL && !json_is_object(args)) {
		snprintf(why, cap, "\"args\" must be an object");
		rc = CTL_ERR_BAD_REQUEST;
		goto out_free_root;
	}
	snprintf(req->cmd, sizeof(req->cmd), "%s", json_string_value(cmd));
	req->args = args != NULL ? json_incref(args) : json_object();
	json_decref(root);
	if (req->args == NULL) {
		json_decref(req->id);
		req->id = NULL;
		snprintf(why, cap, "%s", strerror(ENOMEM));
		return CTL_ERR_FAILED;
	}
	return 0;

out_free_root:
	json_decref(root);
	return rc;
}

void ctl_request_free(struct ctl_request *req)
{
	json_decref(req->args);
	json_decref(req->id);
	req->args = NULL;
	req->id = NULL;
}

static int reply_dump(json_t *o, char **out, size_t *out_len)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
	size_t n;

	json_decref(o);
	if (s == NULL)
		return -ENOMEM;
	n = strlen(s);
	*out = realloc(s, n + 2);
	if (*out == NULL) {
		free(s);
		return -ENOMEM;
	}
	(*out)[n] = '\n';
	(*out)[n + 1] = '\0';
	*out_len = n + 1;
	return 0;
}

int ctl_reply_ok(const json_t *id, json_t *result, char **out, size_t *out_len)
{
	json_t *o = json_object();

	if (o == NULL) {
		json_decref(result);
		return -ENOMEM;
	}
	json_object_set_new(o, "v", json_integer(CTL_PROTOCOL_VERSION));
	json_object_set_new(o, "ok", json_true());
	if (id != NULL)
		json_object_set(o, "id", (json_t *)id);
	json_object_set_new(o, "result", result != NULL ? result : json_object());
	return reply_dump(o, out, out_len);
}

int ctl_reply_err(const json_t *id, enum ctl_err e, const char *message, char **out,
		  size_t *out_len)
{
	json_t *o = json_object();

	if (o == NULL)
		return -ENOMEM;
	json_object_set_new(o, "v", json_integer(CTL_PROTOCOL_VERSION));
	json_object_set_new(o, "ok", json_false());
	if (id != NULL)
		json_object_set(o, "id", (json_t *)id);
	json_object_set_new(o, "error", json_pack("{s:s, s:s}", "code", ctl_err_code(e),
						   "message", message ? message : ""));
	return reply_dump(o, out, out_len);
}

char *ctl_request_line(const char *cmd, json_t *args, size_t *out_len)
{
	json_t *o = json_pack("{s:i, s:s, s:o}", "v", CTL_PROTOCOL_VERSION, "cmd", cmd, "args",
			      args != NULL ? args : json_object());
	char *s = NULL;

	if (o != NULL && reply_dump(o, &s, out_len) == 0)
		return s;
	return NULL;
}
