/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Import of raw identifier lists (CSV with a header line, or JSON lines):
 * each line is parsed, its value normalised for its kind and fingerprinted
 * with the consortium key, and only the fingerprint goes into the entry.
 * Raw values never reach the ledger, and an error message shows at most
 * the masked form of any field (ledger_mask_value: first 6 and last 4 of
 * anything that looks like a card number, every run of 8 or more digits
 * masked), jansson's error text included.  A reason goes through
 * ledger_reason_check, as on every path to an entry.
 *
 * CSV: RFC 4180 fields (quoted fields with "" for a quote), LF or CRLF line
 * ends, an optional UTF-8 byte order mark; a record is one physical line.
 *
 * An import is resumable: ledger_import_step does a bounded amount of work
 * (at most max_lines lines and at most one block), so a daemon can run it
 * from its event loop.  Memory is bounded by one block plus the in-file
 * duplicate set.  Entries go to the own log in blocks of block_size, each
 * durable and signed before the next is started.  With strict, a first
 * pass reads and checks the whole file without writing anything; only if
 * every line is good is the file read again and appended.  A line the
 * second pass refuses, or a different line count, means the file changed
 * in between: the import stops there (blocks appended stay, as after a
 * crash).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "common/ident.h"
#include "ledger/internal.h"
#include "ledger/ledger.h"
#include "ledger/store.h"

#define CSV_FIELDS_MAX 32

int ledger_parse_time(const char *s, size_t len, uint64_t *out_s)
{
	struct tm tm;
	char buf[32];
	char *end;
	time_t t;

	while (len > 0 && s[len - 1] == ' ')
		len--;
	while (len > 0 && *s == ' ') {
		s++;
		len--;
	}
	if (len == 0) {
		*out_s = 0;
		return 0;
	}
	if (len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	memset(&tm, 0, sizeof(tm));
	if (len == 10 && buf[4] == '-') {
		end = strptime(buf, "%Y-%m-%d", &tm);
		if (end == NULL || *end != '\0')
			return -EINVAL;
		t = timegm(&tm);
		if (t < 0)
			return -EINVAL;
		*out_s = (uint64_t)t + 86400; /* the whole day is included */
		return 0;
	}
	if (len == 20 && buf[4] == '-' && buf[10] == 'T' && buf[19] == 'Z') {
		end = strptime(buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
		if (end == NULL || *end != '\0')
			return -EINVAL;
		t = timegm(&tm);
		if (t < 0)
			return -EINVAL;
		*out_s = (uint64_t)t;
		return 0;
	}
	for (size_t i = 0; i < len; i++)
		if (!isdigit((unsigned char)buf[i]))
			return -EINVAL;
	if (len > 12)
		return -EINVAL;
	*out_s = strtoull(buf, NULL, 10);
	return 0;
}

/* Split one CSV record into fields (pointers into scratch). */
static int csv_split(const char *line, size_t len, char *scratch, const char **f, size_t *flen,
		     unsigned *nb, const char **why)
{
	size_t i = 0, o = 0;
	unsigned n = 0;

	for (;;) {
		if (n == CSV_FIELDS_MAX) {
			*why = "more than 32 fields";
			return -EINVAL;
		}
		f[n] = scratch + o;
		if (i < len && line[i] == '"') {
			i++;
			for (;;) {
				if (i >= len) {
					*why = "unterminated quoted field";
					return -EINVAL;
				}
				if (line[i] == '"') {
					if (i + 1 < len && line[i + 1] == '"') {
						scratch[o++] = '"';
						i += 2;
						continue;
					}
					i++;
					break;
				}
				scratch[o++] = line[i++];
			}
			if (i < len && line[i] != ',') {
				*why = "text after a closing quote";
				return -EINVAL;
			}
		} else {
			while (i < len && line[i] != ',') {
				if (line[i] == '"') {
					*why = "quote inside an unquoted field";
					return -EINVAL;
				}
				scratch[o++] = line[i++];
			}
		}
		flen[n] = (size_t)(scratch + o - f[n]);
		n++;
		if (i >= len)
			break;
		i++; /* the comma */
	}
	*nb = n;
	return 0;
}

int ledger_csv_header(const char *line, size_t len, struct ledger_csv_cols *cols, char *why,
		      size_t cap)
{
	const char *f[CSV_FIELDS_MAX], *w = NULL;
	size_t flen[CSV_FIELDS_MAX];
	char scratch[4096];
	int *slot;

	if (len >= sizeof(scratch)) {
		ledger_err(why, cap, "header line too long");
		return -EINVAL;
	}
	memset(cols, 0xff, sizeof(*cols));
	if (csv_split(line, len, scratch, f, flen, &cols->nb, &w) != 0) {
		ledger_err(why, cap, "header: %s", w);
		return -EINVAL;
	}
	for (unsigned i = 0; i < cols->nb; i++) {
		const char *name = f[i];
		size_t n = flen[i];

		while (n > 0 && name[n - 1] == ' ')
			n--;
		while (n > 0 && *name == ' ') {
			name++;
			n--;
		}
#define COL(s, field) (n == sizeof(s) - 1 && strncasecmp(name, s, n) == 0) ? &cols->field :
		slot = COL("list", list) COL("kind", kind) COL("value", value)
			COL("severity", severity) COL("expiry", expiry) COL("reason", reason) NULL;
#undef COL
		if (slot == NULL)
			continue; /* extra columns are ignored */
		if (*slot >= 0) {
			ledger_err(why, cap, "header: column repeated");
			return -EINVAL;
		}
		*slot = (int)i;
	}
	if (cols->list < 0 || cols->kind < 0 || cols->value < 0) {
		ledger_err(why, cap, "header: want columns list,kind,value[,severity,expiry,reason]");
		return -EINVAL;
	}
	return 0;
}

/* Shared checks of one row's fields. */
static int fill_row(const struct ledger_consortium *c, const char *list, size_t list_len,
		    const char *kind, size_t kind_len, const char *value, size_t value_len,
		    const char *sev, size_t sev_len, const char *exp, size_t exp_len,
		    const char *reason, size_t reason_len, uint64_t now_s,
		    struct ledger_import_row *row, char *why, size_t cap)
{
	char name[LEDGER_NAME_MAX + 1], masked[80];
	const char *w;
	int n;

	memset(row, 0, sizeof(*row));
	while (list_len > 0 && list[list_len - 1] == ' ')
		list_len--;
	while (kind_len > 0 && kind[kind_len - 1] == ' ')
		kind_len--;
	if (list_len == 0 || list_len > LEDGER_NAME_MAX) {
		ledger_err(why, cap, "missing or overlong list name");
		return -EINVAL;
	}
	memcpy(name, list, list_len);
	name[list_len] = '\0';
	row->list = ledger_list_find(c, name);
	if (row->list < 0) {
		ledger_mask_value(RG_KIND_NONE, list, list_len, masked, sizeof(masked));
		ledger_err(why, cap, "unknown list '%s'", masked);
		return -EINVAL;
	}
	if (kind_len == 0 || kind_len > LEDGER_NAME_MAX) {
		ledger_err(why, cap, "missing or overlong kind");
		return -EINVAL;
	}
	memcpy(name, kind, kind_len);
	name[kind_len] = '\0';
	row->kind = rg_kind_from_name(name);
	if (row->kind == RG_KIND_NONE) {
		ledger_mask_value(RG_KIND_NONE, kind, kind_len, masked, sizeof(masked));
		ledger_err(why, cap, "unknown kind '%s'", masked);
		return -EINVAL;
	}
	n = value_len <= 256 ? rg_ident_normalise(row->kind, value, value_len, row->value) : -EINVAL;
	if (n < 0) {
		ledger_mask_value(row->kind, value, value_len, masked, sizeof(masked));
		ledger_err(why, cap, "value '%s' is not a valid %s", masked, rg_kind_name(row->kind));
		return -EINVAL;
	}
	row->value_len = (unsigned)n;
	if (row->kind == RG_KIND_PAN && c->lists[row->list].luhn &&
	    !rg_luhn_ok(row->value, row->value_len)) {
		ledger_mask_value(RG_KIND_PAN, row->value, row->value_len, masked, sizeof(masked));
		ledger_err(why, cap, "PAN %s fails the Luhn check that list %s requires", masked,
			   c->lists[row->list].name);
		return -EINVAL;
	}
	while (sev_len > 0 && sev[sev_len - 1] == ' ')
		sev_len--;
	if (sev_len == 0) {
		row->severity = LEDGER_SEV_MEDIUM;
	} else {
		row->severity = -EINVAL;
		if (sev_len <= 8) {
			memcpy(name, sev, sev_len);
			name[sev_len] = '\0';
			row->severity = ledger_severity_from_name(name);
		}
		if (row->severity < 0) {
			ledger_mask_value(RG_KIND_NONE, sev, sev_len, masked, sizeof(masked));
			ledger_err(why, cap, "unknown severity '%s' (want high, medium or low)",
				   masked);
			return -EINVAL;
		}
	}
	if (ledger_parse_time(exp, exp_len, &row->expiry_s) != 0) {
		ledger_mask_value(RG_KIND_NONE, exp, exp_len, masked, sizeof(masked));
		ledger_err(why, cap,
			   "bad expiry '%s' (want empty, YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or unix "
			   "seconds)", masked);
		return -EINVAL;
	}
	if (row->expiry_s != 0 && row->expiry_s <= now_s) {
		ledger_err(why, cap, "expiry is in the past");
		return -EINVAL;
	}
	while (reason_len > 0 && reason[reason_len - 1] == ' ')
		reason_len--;
	w = ledger_reason_check(reason, reason_len);
	if (w != NULL) {
		ledger_err(why, cap, "%s", w);
		return -EINVAL;
	}
	memcpy(row->reason, reason, reason_len);
	row->reason_len = (unsigned)reason_len;
	return 0;
}

int ledger_csv_line(const struct ledger_consortium *c, const struct ledger_csv_cols *cols,
		    const char *line, size_t len, uint64_t now_s, struct ledger_import_row *row,
		    char *why, size_t cap)
{
	const char *f[CSV_FIELDS_MAX], *w = NULL;
	size_t flen[CSV_FIELDS_MAX];
	char scratch[4096];
	unsigned nb;

	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len == 0)
		return 1;
	if (len >= sizeof(scratch)) {
		ledger_err(why, cap, "line longer than %zu bytes", sizeof(scratch) - 1);
		return -EINVAL;
	}
	if (csv_split(line, len, scratch, f, flen, &nb, &w) != 0) {
		ledger_err(why, cap, "malformed CSV: %s", w);
		return -EINVAL;
	}
	if (nb != cols->nb) {
		ledger_err(why, cap, "%u fields, the header has %u", nb, cols->nb);
		return -EINVAL;
	}
#define FIELD(ix) (ix) >= 0 ? f[ix] : "", (ix) >= 0 ? flen[ix] : 0
	return fill_row(c, FIELD(cols->list), FIELD(cols->kind), FIELD(cols->value),
			FIELD(cols->severity), FIELD(cols->expiry), FIELD(cols->reason), now_s, row,
			why, cap);
#undef FIELD
}

int ledger_jsonl_line(const struct ledger_consortium *c, const char *line, size_t len,
		      uint64_t now_s, struct ledger_import_row *row, char *why, size_t cap)
{
	const char *s[6] = { "", "", "", "", "", "" };
	size_t sl[6] = { 0 };
	static const char *const keys[6] = { "list", "kind", "value", "severity", "expiry",
					      "reason" };
	char expbuf[24];
	json_error_t jerr;
	json_t *o;
	int rc;

	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
		len--;
	if (len == 0)
		return 1;
	o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL || !json_is_object(o)) {
		/* jansson quotes the input "near '...'" */
		char text[JSON_ERROR_TEXT_LENGTH];

		ledger_mask_copy(jerr.text, strlen(jerr.text), text, sizeof(text));
		ledger_err(why, cap, "not a JSON object (column %d: %s)", jerr.column,
			   o == NULL ? text : "wrong type");
		json_decref(o);
		return -EINVAL;
	}
	for (unsigned i = 0; i < 6; i++) {
		json_t *v = json_object_get(o, keys[i]);

		if (v == NULL || json_is_null(v))
			continue;
		if (i == 4 && json_is_integer(v) && json_integer_value(v) >= 0) {
			snprintf(expbuf, sizeof(expbuf), "%lld", (long long)json_integer_value(v));
			s[i] = expbuf;
			sl[i] = strlen(expbuf);
			continue;
		}
		if (!json_is_string(v)) {
			ledger_err(why, cap, "\"%s\" is not a string", keys[i]);
			json_decref(o);
			return -EINVAL;
		}
		s[i] = json_string_value(v);
		sl[i] = json_string_length(v);
	}
	if (sl[0] == 0 || sl[1] == 0 || sl[2] == 0) {
		ledger_err(why, cap, "want \"list\", \"kind\" and \"value\"");
		json_decref(o);
		return -EINVAL;
	}
	rc = fill_row(c, s[0], sl[0], s[1], sl[1], s[2], sl[2], s[3], sl[3], s[4], sl[4], s[5],
		      sl[5], now_s, row, why, cap);
	json_decref(o);
	return rc;
}

/* ---- the import loop ---- */

struct dupset {
	struct dslot {
		uint8_t key[RG_FP_BYTES + 1];
		uint8_t used;
		uint64_t line;
	} *s;
	uint64_t mask, nb;
};

/* Line of an earlier row with the same key, or 0 after recording it. */
static int64_t dup_check(struct dupset *d, const struct rg_fp *fp, unsigned list, uint64_t line)
{
	uint64_t h;

	if (d->s == NULL || 2 * (d->nb + 1) > d->mask + 1) {
		uint64_t cap = d->s ? 2 * (d->mask + 1) : 1 << 14;
		struct dslot *ns = calloc(cap, sizeof(*ns));

		if (ns == NULL)
			return -ENOMEM;
		for (uint64_t i = 0; d->s && i <= d->mask; i++) {
			if (!d->s[i].used)
				continue;
			memcpy(&h, d->s[i].key, 8);
			for (h = (h ^ d->s[i].key[16]) & (cap - 1); ns[h].used; h = (h + 1) & (cap - 1))
				;
			ns[h] = d->s[i];
		}
		free(d->s);
		d->s = ns;
		d->mask = cap - 1;
	}
	memcpy(&h, fp->b, 8);
	for (h = (h ^ list) & d->mask; d->s[h].used; h = (h + 1) & d->mask)
		if (memcmp(d->s[h].key, fp->b, RG_FP_BYTES) == 0 && d->s[h].key[16] == list)
			return (int64_t)d->s[h].line;
	memcpy(d->s[h].key, fp->b, RG_FP_BYTES);
	d->s[h].key[16] = (uint8_t)list;
	d->s[h].used = 1;
	d->s[h].line = line;
	d->nb++;
	return 0;
}

static void dup_reset(struct dupset *d)
{
	if (d->s != NULL)
		memset(d->s, 0, (d->mask + 1) * sizeof(*d->s));
	d->nb = 0;
}

/* An ADD made by import: no payload, so its encoding has a small bound. */
#define IMPORT_ENTRY_MAX (LEDGER_ENTRY_FIXED + LEDGER_REASON_MAX)
#define IMPORT_LINE_MAX 8192 /* bytes of a line kept; a longer one is refused */

struct ledger_import {
	struct ledger *l;
	struct ledger_import_opts o;
	char path[PATH_MAX];
	FILE *f;
	struct stat st0;	   /* the file at open: a strict import checks it is unchanged */
	rocksdb_iterator_t *sit;   /* state held at open; NULL if the log was empty or
				    * o.held answers instead */
	struct ledger_csv_cols cols;
	struct dupset dups;
	struct ledger_entry e;	   /* the entry being made (never holds a raw value) */
	char *line;		   /* IMPORT_LINE_MAX bytes: raw values, wiped after each step */
	size_t linecap;
	/* the block being filled: at most bs entries, encoded back to back */
	uint8_t *buf;
	size_t buf_len;
	uint16_t *lens;
	const uint8_t **ptrs;
	unsigned nb_pending;
	unsigned bs;
	uint64_t now_s;
	uint64_t lineno;	   /* lines read in this pass */
	uint64_t checked_lines;	   /* strict: lines the check pass read */
	bool first;		   /* the next line is the first of the file */
	bool jsonl;
	bool checking;		   /* strict: the first pass, nothing is appended */
	bool done;
	int rc;			   /* a failed step's error, returned again */
	struct ledger_import_stats st;
};

struct ledger_import *ledger_import_open(struct ledger *l, const char *path,
					 const struct ledger_import_opts *o, char *err, size_t cap)
{
	struct ledger_import *im;
	struct ledger_head h;
	int fd, rc;

	if (l->ident == NULL || l->self < 0 || l->fpk == NULL) {
		ledger_err(err, cap, "import needs the member key and fp.key");
		errno = EPERM;
		return NULL;
	}
	if (o->block_size > LEDGER_BLOCK_MAX) {
		ledger_err(err, cap, "block size %u out of range 1..%u", o->block_size,
			   LEDGER_BLOCK_MAX);
		errno = EINVAL;
		return NULL;
	}
	if (strlen(path) >= PATH_MAX) {
		ledger_err(err, cap, "import path longer than %d bytes", PATH_MAX - 1);
		errno = ENAMETOOLONG;
		return NULL;
	}
	rc = ledger_head_get(l, (unsigned)l->self, &h);
	if (rc != 0) {
		ledger_err(err, cap, "own log head: %s", strerror(-rc));
		errno = -rc;
		return NULL;
	}
	im = calloc(1, sizeof(*im));
	if (im == NULL) {
		ledger_err(err, cap, "%s", strerror(ENOMEM));
		errno = ENOMEM;
		return NULL;
	}
	im->l = l;
	im->o = *o;
	snprintf(im->path, sizeof(im->path), "%s", path);
	im->bs = o->block_size ? o->block_size : LEDGER_BLOCK_DEFAULT;
	im->now_s = o->now_s ? o->now_s : ledger_now_ms() / 1000;
	im->first = true;
	im->checking = o->strict;
	/* O_NONBLOCK: a FIFO named by mistake must not hang the caller */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		rc = -errno;
		ledger_err(err, cap, "%s: %s", path, strerror(errno));
		goto out_free;
	}
	if (fstat(fd, &im->st0) < 0) {
		rc = -errno;
		ledger_err(err, cap, "%s: %s", path, strerror(errno));
		close(fd);
		goto out_free;
	}
	if (!S_ISREG(im->st0.st_mode)) {
		rc = -EINVAL;
		ledger_err(err, cap, "%s: not a regular file", path);
		close(fd);
		goto out_free;
	}
	im->f = fdopen(fd, "rb");
	if (im->f == NULL) {
		rc = -errno;
		ledger_err(err, cap, "%s: %s", path, strerror(errno));
		close(fd);
		goto out_free;
	}
	im->buf = malloc((size_t)im->bs * IMPORT_ENTRY_MAX);
	im->lens = malloc(im->bs * sizeof(*im->lens));
	im->ptrs = malloc(im->bs * sizeof(*im->ptrs));
	if (im->buf == NULL || im->lens == NULL || im->ptrs == NULL) {
		rc = -ENOMEM;
		ledger_err(err, cap, "%s", strerror(ENOMEM));
		goto out_close_file;
	}
	/* What this member held before the import, read through one iterator
	 * made now: it does not see the import's own blocks (the in-file
	 * duplicate set covers those) and never sorts the memtable again. */
	if (h.size > 0 && o->held == NULL)
		im->sit = rocksdb_create_iterator_cf(l->db, l->ro, l->cf[LEDGER_CF_STATE]);
	im->e.op = LEDGER_OP_ADD;
	im->e.key_epoch = l->fpk->epoch;
	im->st.total_bytes = (uint64_t)im->st0.st_size;
	im->st.checking = im->checking;
	return im;

out_close_file:
	fclose(im->f);
	free(im->buf);
	free(im->lens);
	free(im->ptrs);
out_free:
	free(im);
	errno = -rc;
	return NULL;
}

void ledger_import_close(struct ledger_import *im)
{
	if (im == NULL)
		return;
	if (im->sit != NULL)
		rocksdb_iter_destroy(im->sit);
	/* The import's entries sit in the vector memtables of entries and
	 * state, and a point read (a proof, verify, a lookup of one entry)
	 * sorts a copy of such a memtable every time: in a process that keeps
	 * the ledger open (the daemon) those reads would crawl until the next
	 * flush.  So an import that appended anything hands both memtables to
	 * RocksDB's background flush, without waiting for it. */
	if (im->st.nb_blocks > 0)
		ledger_cf_flush(im->l, 1u << LEDGER_CF_ENTRIES | 1u << LEDGER_CF_STATE, false);
	if (im->line != NULL) {
		sodium_memzero(im->line, im->linecap); /* raw identifiers were in it */
		free(im->line);
	}
	fclose(im->f);
	free(im->buf);
	free(im->lens);
	free(im->ptrs);
	free(im->dups.s);
	free(im);
}

/* Append the block being filled. */
static int import_append(struct ledger_import *im, char *err, size_t cap)
{
	struct ledger_block b;
	int rc;

	if (im->nb_pending == 0)
		return 0;
	rc = ledger_append(im->l, im->ptrs, im->lens, im->nb_pending, &b, err, cap);
	if (rc != 0)
		return rc;
	im->st.nb_imported += im->nb_pending;
	im->st.nb_blocks++;
	if (im->o.on_block != NULL)
		im->o.on_block(im->o.arg, &b, im->st.bytes_read);
	if (im->o.on_entries != NULL)
		im->o.on_entries(im->o.arg, &b, im->ptrs, im->lens);
	im->nb_pending = 0;
	im->buf_len = 0;
	return 0;
}

/* Whether the own member holds (fp, list), as opts->held or the iterator
 * made at open tell. */
static bool import_held(struct ledger_import *im, const struct rg_fp *fp, unsigned list,
			uint64_t *pos, uint64_t *expiry_s)
{
	uint8_t skey[LEDGER_STATE_KEY];

	if (im->o.held != NULL)
		return im->o.held(im->o.arg, fp, list, pos, expiry_s) == 0;
	if (im->sit == NULL)
		return false;
	ledger_state_key(skey, fp, list, im->l->cons.members[im->l->self].id);
	return ledger_state_seek(im->sit, skey, pos, expiry_s, NULL) == 0;
}

/* One line of the file (len bytes without its newline).  A bad line is
 * counted and reported, not an error; the return is 0 or -errno for what
 * stops the import. */
/* Line lineno is refused for why: counted and reported, the import goes on
 * (0); in the append pass of a strict import it cannot be (-ESTALE). */
static int import_bad(struct ledger_import *im, uint64_t lineno, const char *why, char *err,
		      size_t cap)
{
	if (im->o.strict && !im->checking) {
		/* the check pass found this line good */
		ledger_err(err, cap, "%s: line %llu: %s: refused now although the check "
			   "pass accepted it: the file or the ledger changed in between",
			   im->path, (unsigned long long)lineno, why);
		return -ESTALE;
	}
	im->st.nb_bad++;
	if (im->o.on_bad != NULL)
		im->o.on_bad(im->o.arg, lineno, why);
	return 0;
}

/*
 * The next line into im->line, newline included, at most IMPORT_LINE_MAX
 * bytes of it kept in *kept: the rest of a longer line is read and dropped,
 * so a file without newlines never makes the reader hold it whole.  Bytes
 * read from the file; 0 at its end; -1 on a read error.
 */
static ssize_t import_read_line(struct ledger_import *im, size_t *kept)
{
	size_t n = 0;
	ssize_t total = 0;
	int c;

	if (im->line == NULL) {
		im->line = malloc(IMPORT_LINE_MAX);
		if (im->line == NULL)
			return -1;
		im->linecap = IMPORT_LINE_MAX;
	}
	while ((c = getc_unlocked(im->f)) != EOF) {
		total++;
		if (n < IMPORT_LINE_MAX)
			im->line[n++] = (char)c;
		if (c == '\n')
			break;
	}
	*kept = n;
	if (total == 0 && ferror(im->f))
		return -1;
	return total;
}

static int import_line(struct ledger_import *im, char *s, size_t len, char *err, size_t cap)
{
	struct ledger *l = im->l;
	struct ledger_entry *e = &im->e;
	struct ledger_import_row row;
	uint64_t lineno = im->lineno, held_pos, held_exp;
	char why[LEDGER_ERR_MAX];
	int64_t dup;
	int rc;

	if (im->first) {
		im->first = false;
		if (len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0) {
			s += 3;
			len -= 3;
		}
		while (len > 0 && (*s == ' ' || *s == '\t')) {
			s++;
			len--;
		}
		im->jsonl = len > 0 && *s == '{';
		if (!im->jsonl) {
			if (len > 0 && s[len - 1] == '\r')
				len--;
			rc = ledger_csv_header(s, len, &im->cols, why, sizeof(why));
			if (rc != 0)
				ledger_err(err, cap, "%s: line 1: %s", im->path, why);
			return rc;
		}
	}
	rc = im->jsonl ? ledger_jsonl_line(&l->cons, s, len, im->now_s, &row, why, sizeof(why))
		       : ledger_csv_line(&l->cons, &im->cols, s, len, im->now_s, &row, why,
					 sizeof(why));
	if (rc == 1)
		return 0;
	if (rc == 0) {
		rg_fp_compute(l->fpk, row.kind, row.value, row.value_len, &e->fp);
		dup = dup_check(&im->dups, &e->fp, (unsigned)row.list, lineno);
		if (dup < 0) {
			ledger_err(err, cap, "%s", strerror((int)-dup));
			rc = (int)dup;
			goto out_wipe;
		}
		if (dup > 0) {
			ledger_err(why, sizeof(why), "duplicate of line %lld (same list and value)",
				   (long long)dup);
			rc = -EINVAL;
		} else if (import_held(im, &e->fp, (unsigned)row.list, &held_pos, &held_exp) &&
			   (held_exp == 0 || held_exp > im->now_s)) {
			ledger_err(why, sizeof(why), "already listed by this member at position %llu",
				   (unsigned long long)held_pos);
			rc = -EINVAL;
		}
	}
	if (rc != 0) {
		rc = import_bad(im, lineno, why, err, cap);
		goto out_wipe;
	}
	if (im->checking)
		goto out_wipe;
	e->list = (uint8_t)row.list;
	e->kind = (uint8_t)row.kind;
	e->severity = (uint8_t)row.severity;
	e->action = (uint8_t)ledger_severity_action((unsigned)row.severity);
	e->expiry_s = row.expiry_s;
	e->time_ms = ledger_now_ms();
	e->reason_len = (uint8_t)row.reason_len;
	memcpy(e->reason, row.reason, row.reason_len);
	rc = ledger_entry_encode(e, im->buf + im->buf_len);
	if (rc < 0 || rc > IMPORT_ENTRY_MAX) {
		ledger_err(err, cap, "%s: line %llu: cannot encode the entry", im->path,
			   (unsigned long long)lineno);
		rc = -EINVAL;
		goto out_wipe;
	}
	im->ptrs[im->nb_pending] = im->buf + im->buf_len;
	im->lens[im->nb_pending++] = (uint16_t)rc;
	im->buf_len += (size_t)rc;
	rc = 0;
out_wipe:
	sodium_memzero(row.value, sizeof(row.value));
	return rc;
}

/* The end of the file: the check pass turns into the import pass, the
 * import pass appends what is left. */
static int import_eof(struct ledger_import *im, char *err, size_t cap)
{
	struct stat st;

	if (ferror(im->f)) {
		ledger_err(err, cap, "%s: read error", im->path);
		return -EIO;
	}
	if (im->first) {
		ledger_err(err, cap, "%s: empty file (a CSV file needs its header line)", im->path);
		return -EINVAL;
	}
	if (im->checking) {
		if (im->st.nb_bad > 0) {
			ledger_err(err, cap, "%s: %llu bad line(s); --strict: nothing imported",
				   im->path, (unsigned long long)im->st.nb_bad);
			return -EINVAL;
		}
		if (fstat(fileno(im->f), &st) < 0 || st.st_size != im->st0.st_size ||
		    st.st_mtim.tv_sec != im->st0.st_mtim.tv_sec ||
		    st.st_mtim.tv_nsec != im->st0.st_mtim.tv_nsec) {
			ledger_err(err, cap, "%s: the file changed while it was checked; nothing "
				   "imported", im->path);
			return -ESTALE;
		}
		rewind(im->f);
		dup_reset(&im->dups);
		im->checked_lines = im->lineno;
		im->lineno = 0;
		im->first = true;
		im->checking = false;
		im->st.checking = false;
		im->st.nb_lines = 0;
		im->st.bytes_read = 0;
		return 0;
	}
	if (im->o.strict && im->lineno != im->checked_lines) {
		ledger_err(err, cap, "%s: %llu lines, %llu when it was checked: the file changed "
			   "after it was checked", im->path, (unsigned long long)im->lineno,
			   (unsigned long long)im->checked_lines);
		return -ESTALE;
	}
	im->done = true;
	return import_append(im, err, cap);
}

int ledger_import_step(struct ledger_import *im, unsigned max_lines,
		       struct ledger_import_stats *st, char *err, size_t cap)
{
	unsigned nb_read = 0;
	ssize_t n;
	int rc = im->rc;

	while (rc == 0 && !im->done && (max_lines == 0 || nb_read < max_lines)) {
		size_t len;

		n = import_read_line(im, &len);
		if (n < 0) {
			ledger_err(err, cap, "%s: read error after line %llu", im->path,
				   (unsigned long long)im->lineno);
			rc = -EIO;
			break;
		}
		if (n == 0) {
			rc = import_eof(im, err, cap);
			break;
		}
		nb_read++;
		im->lineno++;
		im->st.nb_lines++;
		im->st.bytes_read += (uint64_t)n;
		if ((size_t)n > len && im->first) {
			ledger_err(err, cap, "%s: line 1: header line longer than %d bytes", im->path,
				   IMPORT_LINE_MAX - 1);
			rc = -EINVAL;
			break;
		}
		if ((size_t)n > len) {
			char why[64];

			snprintf(why, sizeof(why), "line longer than %d bytes", IMPORT_LINE_MAX - 1);
			rc = import_bad(im, im->lineno, why, err, cap);
			continue;
		}
		if (len > 0 && im->line[len - 1] == '\n')
			len--;
		rc = import_line(im, im->line, len, err, cap);
		if (rc == 0 && !im->checking && im->nb_pending == im->bs) {
			rc = import_append(im, err, cap);
			break;
		}
	}
	if (im->line != NULL)
		sodium_memzero(im->line, im->linecap);
	if (rc != 0 && im->rc == 0)
		im->rc = rc;
	*st = im->st;
	if (rc != 0)
		return rc;
	return im->done ? 0 : 1;
}

void ledger_import_progress(const struct ledger_import *im, struct ledger_import_stats *st)
{
	*st = im->st;
}

int ledger_import(struct ledger *l, const char *path, const struct ledger_import_opts *o,
		  struct ledger_import_stats *st, char *err, size_t cap)
{
	struct ledger_import *im;
	int rc;

	memset(st, 0, sizeof(*st));
	im = ledger_import_open(l, path, o, err, cap);
	if (im == NULL)
		return -errno;
	while ((rc = ledger_import_step(im, 0, st, err, cap)) > 0)
		;
	ledger_import_close(im);
	return rc;
}
