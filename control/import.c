/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * `import` over the control socket as a job of riskgated's loop, one at a
 * time (another gets "busy").  The command (ctl_cmd_import) opens the
 * import and defers its reply; the loop then calls ctl_import_step once
 * per turn, after the ready descriptors are served: each step reads at
 * most CTL_IMPORT_STEP_LINES lines and appends at most one block, and each
 * block reaches the table before the next step, so the dataplane screens
 * with the first entries while the rest are read.  "Already listed by this
 * member" comes from the sync's mirror, not RocksDB.  Progress lines go to
 * the requester when it asked for them (at most ten a second, never
 * piling up); the reply comes when the job ends.  If the requester
 * leaves, the import still runs to its end and is logged.  Failure texts
 * and bad lines are masked (rg_mask_text).
 *
 * Loop thread only.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ident.h"
#include "control/daemon.h"

#define CTL_IMPORT_PROGRESS_NS 100000000ull /* at most 10 progress lines a second */
#define CTL_IMPORT_BAD_KEPT 16		    /* bad lines named in the reply */
#define CTL_IMPORT_APPLY 256		    /* entries decoded per table batch */

struct ctl_import_job {
	struct ctl_daemon *d;
	struct ledger_import *im;
	struct ctl_client *c;	/* who asked; NULL once it has gone */
	bool progress;		/* it asked for progress lines */
	bool strict;
	bool resync;		/* a block missed the table: full resync at the end */
	uid_t uid;
	uint64_t start_ns, last_progress_ns;
	struct ledger_import_stats st;
	json_t *bad;		/* the first CTL_IMPORT_BAD_KEPT bad lines, {"line", "why"} */
	struct ledger_entry *dec; /* CTL_IMPORT_APPLY entries, decoded for the table */
	char path[PATH_MAX];
};

static json_t *import_json(const struct ctl_import_job *j)
{
	return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "phase",
			 j->st.checking ? "check" : "import", "bytes", (json_int_t)j->st.bytes_read,
			 "total_bytes", (json_int_t)j->st.total_bytes, "lines",
			 (json_int_t)j->st.nb_lines, "rows", (json_int_t)j->st.nb_imported, "bad",
			 (json_int_t)j->st.nb_bad, "blocks", (json_int_t)j->st.nb_blocks);
}

json_t *ctl_import_status_json(struct ctl_daemon *d)
{
	const struct ctl_import_job *j = d->import;
	json_t *o;

	if (j == NULL)
		return json_null();
	o = import_json(j);
	json_object_set_new(o, "path", json_string(j->path));
	json_object_set_new(o, "strict", json_boolean(j->strict));
	json_object_set_new(o, "uid", json_integer((json_int_t)j->uid));
	json_object_set_new(o, "requester_connected", json_boolean(j->c != NULL));
	json_object_set_new(o, "seconds",
			    json_real((double)(ctl_now_ns() - j->start_ns) / 1e9));
	return o;
}

static void import_on_bad(void *arg, uint64_t line, const char *why)
{
	struct ctl_import_job *j = arg;

	if (json_array_size(j->bad) < CTL_IMPORT_BAD_KEPT) {
		char m[CTL_ERR_MAX];

		snprintf(m, sizeof(m), "%s", why);
		rg_mask_text(m);
		json_array_append_new(j->bad, json_pack("{s:I, s:s}", "line", (json_int_t)line,
							"why", m));
	}
}

/* Each appended block reaches the table before the next step. */
static void import_on_entries(void *arg, const struct ledger_block *b,
			      const uint8_t *const *entries, const uint16_t *lens)
{
	struct ctl_import_job *j = arg;
	struct ctl_daemon *d = j->d;
	unsigned self = (unsigned)ledger_self(d->l);
	const char *w;
	int rc = 0;

	for (uint32_t i = 0; i < b->nb_entries && !j->resync; i += CTL_IMPORT_APPLY) {
		unsigned n = b->nb_entries - i < CTL_IMPORT_APPLY ? b->nb_entries - i
								   : CTL_IMPORT_APPLY;

		for (unsigned k = 0; k < n && rc == 0; k++)
			rc = ledger_entry_decode(entries[i + k], lens[i + k], &j->dec[k], &w);
		if (rc == 0)
			rc = ctl_sync_apply(d->sync, self, b->first_pos + i, j->dec, n);
		if (rc != 0) {
			d->nb_sync_errors++;
			ctl_log(CTL_LOG_ERR, "table %s: import block %llu: %s; resync at the end",
				d->cfg.table_path, (unsigned long long)b->height, strerror(-rc));
			j->resync = true;
		}
	}
	ctl_log(CTL_LOG_DEBUG, "import %s: block %llu, %u entries at %llu", j->path,
		(unsigned long long)b->height, b->nb_entries, (unsigned long long)b->first_pos);
}

/* "Already listed by this member" from the mirror, not RocksDB: no
 * memtable sort blocks the loop (struct ledger_import_opts). */
static int import_held(void *arg, const struct rg_fp *fp, unsigned list, uint64_t *pos,
		       uint64_t *expiry_s)
{
	struct ctl_import_job *j = arg;
	struct ctl_sync_rec r;

	if (!ctl_sync_find_own(j->d->sync, fp, list, (unsigned)ledger_self(j->d->l), &r))
		return -ENOENT;
	*pos = r.pos;
	*expiry_s = r.expiry_s;
	return 0;
}

static void import_job_free(struct ctl_import_job *j)
{
	ledger_import_close(j->im);
	json_decref(j->bad);
	free(j->dec);
	free(j);
}

int ctl_cmd_import(struct ctl_daemon *d, struct ctl_client *c, json_t *args, json_t **result,
		   char *why, size_t cap)
{
	const char *path = json_string_value(json_object_get(args, "path"));
	json_t *strict = json_object_get(args, "strict"), *progress = json_object_get(args, "progress");
	struct ledger_import_opts o = { .strict = json_is_true(strict),
					.on_bad = import_on_bad,
					.on_entries = import_on_entries,
					.held = import_held };
	struct ctl_import_job *j;

	(void)result;
	if (ctl_joining(d, why, cap))
		return CTL_ERR_FAILED;
	if (path == NULL || path[0] != '/' || strlen(path) >= PATH_MAX) {
		snprintf(why, cap, "needs \"path\", absolute");
		return CTL_ERR_BAD_ARGS;
	}
	if ((strict != NULL && !json_is_boolean(strict)) ||
	    (progress != NULL && !json_is_boolean(progress))) {
		snprintf(why, cap, "\"strict\" and \"progress\" are true or false");
		return CTL_ERR_BAD_ARGS;
	}
	if (d->import != NULL) {
		snprintf(why, cap, "an import of %.200s is running (%llu of %llu bytes read): one "
			 "at a time", d->import->path, (unsigned long long)d->import->st.bytes_read,
			 (unsigned long long)d->import->st.total_bytes);
		return CTL_ERR_BUSY;
	}
	j = calloc(1, sizeof(*j));
	if (j == NULL || (j->dec = calloc(CTL_IMPORT_APPLY, sizeof(*j->dec))) == NULL ||
	    (j->bad = json_array()) == NULL) {
		if (j != NULL)
			import_job_free(j);
		snprintf(why, cap, "%s", strerror(ENOMEM));
		return CTL_ERR_FAILED;
	}
	j->d = d;
	j->c = c;
	j->uid = c->uid;
	j->strict = o.strict;
	j->progress = json_is_true(progress);
	snprintf(j->path, sizeof(j->path), "%s", path);
	o.arg = j;
	j->im = ledger_import_open(d->l, path, &o, why, cap);
	if (j->im == NULL) {
		import_job_free(j);
		return CTL_ERR_FAILED;
	}
	j->start_ns = ctl_now_ns();
	j->last_progress_ns = j->start_ns;
	ledger_import_progress(j->im, &j->st);
	d->import = j;
	ctl_log(CTL_LOG_INFO, "import %s: started by uid %u (%llu bytes%s)", path,
		(unsigned)c->uid, (unsigned long long)j->st.total_bytes, j->strict ? ", strict" : "");
	return CTL_REPLY_LATER;
}

/* A progress line for the job's client, when it asked for them: at most
 * one per CTL_IMPORT_PROGRESS_NS unless forced, and none while the client
 * lets its output pile up (progress is lossy, the reply never is). */
static void import_progress(struct ctl_daemon *d, struct ctl_import_job *j, bool force)
{
	struct ctl_client *c = j->c;
	uint64_t now = ctl_now_ns();
	json_t *o;
	char *s;

	if (!j->progress || c == NULL || c->closing)
		return;
	if (!force && now - j->last_progress_ns < CTL_IMPORT_PROGRESS_NS)
		return;
	if (c->out_len - c->out_off > CTL_FOLLOW_MAX)
		return;
	j->last_progress_ns = now;
	o = json_object();
	json_object_set_new(o, "v", json_integer(CTL_PROTOCOL_VERSION));
	if (c->later_id != NULL)
		json_object_set(o, "id", c->later_id);
	json_object_set_new(o, "progress", import_json(j));
	s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(o);
	if (s == NULL)
		return;
	if (ctl_client_append(c, s, strlen(s)) == 0)
		ctl_client_append(c, "\n", 1);
	free(s);
	ctl_client_flush(d, c); /* may free c: the job forgets it then */
}

/* End the job: table resync if a block missed it, log, reply. */
static void import_finish(struct ctl_daemon *d, int rc, const char *msg)
{
	struct ctl_import_job *j = d->import;
	double secs = (double)(ctl_now_ns() - j->start_ns) / 1e9;
	char why[CTL_ERR_MAX], tail[CTL_ERR_MAX] = "";
	char *out = NULL;
	size_t out_len = 0;

	ledger_import_progress(j->im, &j->st);
	ledger_import_close(j->im);
	j->im = NULL;
	snprintf(why, sizeof(why), "%s", msg);
	if (j->resync && ctl_server_resync(d, tail, sizeof(tail)) != 0 && rc == 0) {
		rc = -EIO;
		snprintf(why, sizeof(why), "%s", tail);
	}
	if (rc != 0) {
		const json_t *b0 = json_array_get(j->bad, 0);

		tail[0] = '\0';
		if (j->strict && j->st.nb_bad > 0 && b0 != NULL)
			snprintf(tail, sizeof(tail), "; line %lld: %s%s",
				 (long long)json_integer_value(json_object_get(b0, "line")),
				 json_string_value(json_object_get(b0, "why")),
				 j->st.nb_bad > 1 ? " (and more)" : "");
		else if (j->st.nb_imported > 0)
			snprintf(tail, sizeof(tail), " (%llu entries in %llu blocks were imported "
				 "before; importing the file again reports them as already listed)",
				 (unsigned long long)j->st.nb_imported,
				 (unsigned long long)j->st.nb_blocks);
		rg_mask_text(why);
		rg_mask_text(tail);
		ctl_log(CTL_LOG_ERR, "import %s: %s%s, by uid %u", j->path, why, tail,
			(unsigned)j->uid);
		d->nb_request_errors++;
		if (j->c != NULL) {
			char m[2 * CTL_ERR_MAX];

			snprintf(m, sizeof(m), "%s%s", why, tail);
			if (ctl_reply_err(j->c->later_id, CTL_ERR_FAILED, m, &out, &out_len) != 0)
				out = NULL;
		}
	} else {
		ctl_log(CTL_LOG_INFO, "import %s: %llu imported in %llu blocks, %llu bad, %.2f s, "
			"by uid %u%s", j->path, (unsigned long long)j->st.nb_imported,
			(unsigned long long)j->st.nb_blocks, (unsigned long long)j->st.nb_bad, secs,
			(unsigned)j->uid, j->c == NULL ? " (the requester had left)" : "");
		if (j->c != NULL)
			import_progress(d, j, true); /* the last one: bytes at the total */
		if (j->c != NULL) { /* still: the flush in import_progress may have lost it */
			json_t *r = json_pack(
				"{s:I, s:I, s:I, s:I, s:f, s:f, s:I, s:O}", "lines",
				(json_int_t)j->st.nb_lines, "imported", (json_int_t)j->st.nb_imported,
				"bad", (json_int_t)j->st.nb_bad, "blocks", (json_int_t)j->st.nb_blocks,
				"seconds", secs, "entries_per_s",
				secs > 0 ? (double)j->st.nb_imported / secs : 0.0, "table_ledger_pos",
				(json_int_t)rg_table_ledger_pos(ctl_sync_table(d->sync), NULL),
				"bad_lines", j->bad);

			if (ctl_reply_ok(j->c->later_id, r, &out, &out_len) != 0)
				out = NULL;
		}
	}
	d->import = NULL;
	if (j->c != NULL)
		ctl_client_reply_later(d, j->c, out, out_len);
	free(out);
	import_job_free(j);
}

void ctl_import_step(struct ctl_daemon *d)
{
	struct ctl_import_job *j = d->import;
	char why[CTL_ERR_MAX] = "";
	int rc;

	if (j == NULL)
		return;
	rc = ledger_import_step(j->im, CTL_IMPORT_STEP_LINES, &j->st, why, sizeof(why));
	if (rc > 0) {
		import_progress(d, j, false);
		return;
	}
	import_finish(d, rc, why);
}

void ctl_import_client_gone(struct ctl_daemon *d, struct ctl_client *c)
{
	if (d->import == NULL || d->import->c != c)
		return;
	ctl_log(CTL_LOG_INFO, "import %s: the requesting client left; the import goes on",
		d->import->path);
	d->import->c = NULL;
}

void ctl_import_stop(struct ctl_daemon *d)
{
	/* a while: the reply may let its client run a request it had queued */
	while (d->import != NULL)
		import_finish(d, -ECANCELED, "riskgated is stopping");
}
