/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target for the control socket request parser (control/protocol.h)
 * and the configuration parser.  The input is one request line; the parser
 * must return 0 or an error code, and on success hand back an object of
 * args and a command name within bounds; the reply built from it must be
 * one newline-terminated line that parses back as JSON.  The same bytes
 * also go to the configuration parser, which must not crash.  Neither
 * error text may hold a digit run that could be a PAN (rg_mask_text).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/ident.h"
#include "control/ctl.h"
#include "control/protocol.h"
#include "lsan_libconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctl_request req;
	struct ctl_config cfg;
	char why[256], err[512], *out = NULL, *text;
	size_t out_len = 0;
	int rc;

	rc = ctl_request_parse((const char *)data, size, &req, why, sizeof(why));
	if (rc < 0 || rc >= CTL_ERR_MAX)
		abort();
	if (rc == 0) {
		if (!json_is_object(req.args) || strlen(req.cmd) == 0 || strlen(req.cmd) > CTL_CMD_MAX)
			abort();
		if (ctl_reply_ok(req.id, json_copy(req.args), &out, &out_len) != 0)
			abort();
	} else if (rg_digit_run_max(why, strlen(why)) >= RG_MASK_RUN_MIN ||
		   ctl_reply_err(req.id, (enum ctl_err)rc, why, &out, &out_len) != 0) {
		abort();
	}
	if (out_len == 0 || out[out_len - 1] != '\n' || memchr(out, '\n', out_len - 1) != NULL)
		abort();
	{
		json_t *back = json_loadb(out, out_len, 0, NULL);

		if (back == NULL)
			abort();
		json_decref(back);
	}
	free(out);
	ctl_request_free(&req);

	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	ctl_config_defaults(&cfg);
	if (ctl_config_parse(text, "fuzz", &cfg, err, sizeof(err)) != 0 &&
	    rg_digit_run_max(err, strlen(err)) >= RG_MASK_RUN_MIN)
		abort();
	free(text);
	return 0;
}
