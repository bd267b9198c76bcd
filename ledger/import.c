/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Import of raw identifier lists (CSV with a header line, or JSON lines):
 * each line is parsed, its value normalised for its kind and fingerprinted
 * with the consortium key, and only the fingerprint goes into the entry.
 * Raw values never reach the ledger, and an error message shows at most
 * the masked form of a value (first 6 and last 4 of anything that looks
 * like a card number).
 *
 * CSV: RFC 4180 fields (quoted fields with "" for a quote), LF or CRLF line
 * ends, an optional UTF-8 byte order mark; a record is one physical line.
 * Entries go to the own log in blocks of block_size; with strict, the whole
 * file is checked first and nothing is written if any line is bad.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "common/ident.h"
#include "ledger/internal.h"
#include "ledger/ledger.h"
#include "ledger/store.h"

#define CSV_FIELDS_MAX 32

/* Masked copy of a raw value for messages: anything with 12 or more
 * digits is treated as a possible PAN. */
static void mask_value(unsigned kind, const char *v, size_t len, char *out, size_t cap)
{
	unsigned digits = 0;

	for (size_t i = 0; i < len; i++)
		digits += isdigit((unsigned char)v[i]) != 0;
	if (len > 64)
		len = 64;
	if (digits >= 12)
		kind = RG_KIND_PAN;
	if (rg_ident_mask(kind, v, len, out, cap) < 0)
		snprintf(out, cap, "(%zu bytes)", len);
	for (char *p = out; *p != '\0'; p++)
		if (!isprint((unsigned char)*p))
			*p = '?';
}

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
		mask_value(RG_KIND_NONE, list, list_len, masked, sizeof(masked));
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
		mask_value(RG_KIND_NONE, kind, kind_len, masked, sizeof(masked));
		ledger_err(why, cap, "unknown kind '%s'", masked);
		return -EINVAL;
	}
	n = value_len <= 256 ? rg_ident_normalise(row->kind, value, value_len, row->value) : -EINVAL;
	if (n < 0) {
		mask_value(row->kind, value, value_len, masked, sizeof(masked));
		ledger_err(why, cap, "value '%s' is not a valid %s", masked, rg_kind_name(row->kind));
		return -EINVAL;
	}
	row->value_len = (unsigned)n;
	if (row->kind == RG_KIND_PAN && c->lists[row->list].luhn &&
	    !rg_luhn_ok(row->value, row->value_len)) {
		mask_value(RG_KIND_PAN, row->value, row->value_len, masked, sizeof(masked));
		ledger_err(why, cap, "PAN %s fails the Luhn check that list %s requires", masked,
			   c->lists[row->list].name);
		return -EINVAL;
	}
	while (sev_len > 0 && sev[sev_len - 1] == ' ')
		sev_len--;
	if (sev_len == 0) {
		row->severity = LEDGER_SEV_MEDIUM;
	} else {
		if (sev_len > 8) {
			ledger_err(why, cap, "unknown severity (want high, medium or low)");
			return -EINVAL;
		}
		memcpy(name, sev, sev_len);
		name[sev_len] = '\0';
		row->severity = ledger_severity_from_name(name);
		if (row->severity < 0) {
			mask_value(RG_KIND_NONE, sev, sev_len, masked, sizeof(masked));
			ledger_err(why, cap, "unknown severity '%s' (want high, medium or low)",
				   masked);
			return -EINVAL;
		}
	}
	if (ledger_parse_time(exp, exp_len, &row->expiry_s) != 0) {
		ledger_err(why, cap,
			   "bad expiry (want empty, YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or unix "
			   "seconds)");
		return -EINVAL;
	}
	if (row->expiry_s != 0 && row->expiry_s <= now_s) {
		ledger_err(why, cap, "expiry is in the past");
		return -EINVAL;
	}
	while (reason_len > 0 && reason[reason_len - 1] == ' ')
		reason_len--;
	if (reason_len > LEDGER_REASON_MAX) {
		ledger_err(why, cap, "reason longer than %d characters", LEDGER_REASON_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < reason_len; i++) {
		char ch = reason[i];

		if (!(isalnum((unsigned char)ch) || ch == '_' || ch == '-' || ch == '.')) {
			ledger_err(why, cap, "reason holds a character outside [A-Za-z0-9_.-]");
			return -EINVAL;
		}
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
		/* jansson quotes the input "near '...'": a raw PAN must not follow */
		char *near = o == NULL ? strstr(jerr.text, " near") : NULL;

		if (near != NULL)
			*near = '\0';
		ledger_err(why, cap, "not a JSON object (column %d: %s)", jerr.column,
			   o == NULL ? jerr.text : "wrong type");
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

struct pending {
	uint8_t *buf;	/* encoded entries back to back */
	size_t len, cap;
	uint16_t *lens;
	const uint8_t **ptrs;
	uint64_t nb, cap_nb;
};

static int pending_add(struct pending *p, const uint8_t *e, uint16_t len)
{
	if (p->len + len > p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 1 << 20;
		uint8_t *nb;

		while (cap < p->len + len)
			cap *= 2;
		nb = realloc(p->buf, cap);
		if (nb == NULL)
			return -ENOMEM;
		p->buf = nb;
		p->cap = cap;
	}
	if (p->nb == p->cap_nb) {
		uint64_t cap = p->cap_nb ? 2 * p->cap_nb : 4096;
		uint16_t *nl = realloc(p->lens, cap * sizeof(*nl));

		if (nl == NULL)
			return -ENOMEM;
		p->lens = nl;
		p->cap_nb = cap;
	}
	memcpy(p->buf + p->len, e, len);
	p->len += len;
	p->lens[p->nb++] = len;
	return 0;
}

/* Append pending entries [0..nb) in blocks of bs. */
static int pending_flush(struct ledger *l, struct pending *p, unsigned bs,
			 const struct ledger_import_opts *o, struct ledger_import_stats *st,
			 uint64_t bytes_done, char *err, size_t cap)
{
	const uint8_t **ptrs;
	size_t off = 0;
	int rc = 0;

	if (p->nb == 0)
		return 0;
	ptrs = malloc(p->nb * sizeof(*ptrs));
	if (ptrs == NULL)
		return -ENOMEM;
	for (uint64_t i = 0; i < p->nb; i++) {
		ptrs[i] = p->buf + off;
		off += p->lens[i];
	}
	for (uint64_t i = 0; i < p->nb && rc == 0; i += bs) {
		unsigned n = p->nb - i < bs ? (unsigned)(p->nb - i) : bs;
		struct ledger_block b;

		rc = ledger_append(l, ptrs + i, p->lens + i, n, &b, err, cap);
		if (rc == 0) {
			st->nb_imported += n;
			st->nb_blocks++;
			if (o->on_block != NULL)
				o->on_block(o->arg, &b, bytes_done);
		}
	}
	free(ptrs);
	p->nb = 0;
	p->len = 0;
	return rc;
}

int ledger_import(struct ledger *l, const char *path, const struct ledger_import_opts *o,
		  struct ledger_import_stats *st, char *err, size_t cap)
{
	struct ledger_csv_cols cols;
	struct ledger_import_row row;
	struct ledger_entry *e = NULL;
	struct pending p = { 0 };
	struct dupset dups = { 0 };
	uint8_t enc[LEDGER_ENTRY_MAX];
	unsigned bs = o->block_size ? o->block_size : LEDGER_BLOCK_DEFAULT;
	uint64_t now_s = o->now_s ? o->now_s : ledger_now_ms() / 1000, bytes = 0;
	bool jsonl = false, first = true;
	rocksdb_iterator_t *sit = NULL;
	uint8_t skey[LEDGER_STATE_KEY];
	struct ledger_head h;
	char *line = NULL, why[LEDGER_ERR_MAX];
	size_t linecap = 0;
	ssize_t n;
	FILE *f;
	int rc = 0;

	memset(st, 0, sizeof(*st));
	if (l->ident == NULL || l->self < 0 || l->fpk == NULL) {
		ledger_err(err, cap, "import needs the member key and fp.key");
		return -EPERM;
	}
	if (bs == 0 || bs > LEDGER_BLOCK_MAX) {
		ledger_err(err, cap, "block size %u out of range 1..%u", bs, LEDGER_BLOCK_MAX);
		return -EINVAL;
	}
	rc = ledger_head_get(l, (unsigned)l->self, &h);
	if (rc != 0)
		return rc;
	/* What this member held before the import, read through one iterator
	 * made now: it does not see the import's own blocks (the in-file
	 * duplicate set covers those) and never sorts the memtable again. */
	if (h.size > 0)
		sit = rocksdb_create_iterator_cf(l->db, l->ro, l->cf[LEDGER_CF_STATE]);
	f = fopen(path, "rb");
	if (f == NULL) {
		rc = -errno;
		ledger_err(err, cap, "%s: %s", path, strerror(errno));
		return rc;
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL) {
		rc = -ENOMEM;
		goto out_release;
	}
	e->op = LEDGER_OP_ADD;
	e->key_epoch = l->fpk->epoch;
	while ((n = getline(&line, &linecap, f)) >= 0) {
		char *s = line;
		size_t len = (size_t)n;
		uint64_t lineno = ++st->nb_lines;
		uint64_t held_pos, held_exp;
		int64_t dup;

		bytes += (size_t)n;
		if (len > 0 && s[len - 1] == '\n')
			len--;
		if (first) {
			first = false;
			if (len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0) {
				s += 3;
				len -= 3;
			}
			while (len > 0 && (*s == ' ' || *s == '\t')) {
				s++;
				len--;
			}
			jsonl = len > 0 && *s == '{';
			if (!jsonl) {
				if (len > 0 && s[len - 1] == '\r')
					len--;
				rc = ledger_csv_header(s, len, &cols, why, sizeof(why));
				if (rc != 0) {
					ledger_err(err, cap, "%s: line 1: %s", path, why);
					goto out_release;
				}
				continue;
			}
		}
		rc = jsonl ? ledger_jsonl_line(&l->cons, s, len, now_s, &row, why, sizeof(why))
			   : ledger_csv_line(&l->cons, &cols, s, len, now_s, &row, why, sizeof(why));
		if (rc == 1) {
			rc = 0;
			continue;
		}
		if (rc == 0) {
			rg_fp_compute(l->fpk, row.kind, row.value, row.value_len, &e->fp);
			memset(row.value, 0, sizeof(row.value));
			dup = dup_check(&dups, &e->fp, (unsigned)row.list, lineno);
			if (dup < 0) {
				rc = (int)dup;
				goto out_release;
			}
			if (dup > 0) {
				ledger_err(why, sizeof(why), "duplicate of line %lld (same list and value)",
					   (long long)dup);
				rc = -EINVAL;
			} else if (sit != NULL &&
				   (ledger_state_key(skey, &e->fp, (unsigned)row.list,
						     l->cons.members[l->self].id),
				    ledger_state_seek(sit, skey, &held_pos, &held_exp, NULL) == 0) &&
				   (held_exp == 0 || held_exp > now_s)) {
				ledger_err(why, sizeof(why),
					   "already listed by this member at position %llu",
					   (unsigned long long)held_pos);
				rc = -EINVAL;
			}
		}
		if (rc != 0) {
			st->nb_bad++;
			if (o->on_bad != NULL)
				o->on_bad(o->arg, lineno, why);
			rc = 0;
			continue;
		}
		e->list = (uint8_t)row.list;
		e->kind = (uint8_t)row.kind;
		e->severity = (uint8_t)row.severity;
		e->action = (uint8_t)ledger_severity_action((unsigned)row.severity);
		e->expiry_s = row.expiry_s;
		e->time_ms = ledger_now_ms();
		e->reason_len = (uint8_t)row.reason_len;
		memcpy(e->reason, row.reason, row.reason_len);
		rc = ledger_entry_encode(e, enc);
		if (rc < 0) {
			ledger_err(err, cap, "line %llu: cannot encode the entry",
				   (unsigned long long)lineno);
			goto out_release;
		}
		rc = pending_add(&p, enc, (uint16_t)rc);
		if (rc != 0)
			goto out_release;
		if (!o->strict && p.nb >= bs) {
			rc = pending_flush(l, &p, bs, o, st, bytes, err, cap);
			if (rc != 0)
				goto out_release;
		}
	}
	if (ferror(f)) {
		rc = -EIO;
		ledger_err(err, cap, "%s: read error", path);
		goto out_release;
	}
	if (first && !jsonl) {
		rc = -EINVAL;
		ledger_err(err, cap, "%s: empty file (a CSV file needs its header line)", path);
		goto out_release;
	}
	if (o->strict && st->nb_bad > 0) {
		rc = -EINVAL;
		ledger_err(err, cap, "%s: %llu bad line(s); --strict: nothing imported", path,
			   (unsigned long long)st->nb_bad);
		goto out_release;
	}
	rc = pending_flush(l, &p, bs, o, st, bytes, err, cap);
out_release:
	if (sit != NULL)
		rocksdb_iter_destroy(sit);
	if (line != NULL) {
		memset(line, 0, linecap); /* raw identifiers were in it */
		free(line);
	}
	fclose(f);
	free(p.buf);
	free(p.lens);
	free(dups.s);
	free(e);
	return rc;
}
