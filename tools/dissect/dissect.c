/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Per-message processing of riskgate-dissect: decode, extract, mask,
 * fingerprint, match against lists, and the JSON line or summary counters.
 *
 * The JSON shape is a contract with scripts (docs/dissect.md): keys are
 * never renamed, only added.  Field text comes from rg_iso_field_text, so
 * what is printed is what the dataplane would see; PAN-bearing fields and
 * identifiers go through the masking here unless show_pan is set.
 */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/dissect/dissect.h"

#define DS_TEXT_MAX 4096 /* largest rendered field: 999 binary bytes as hex */
#define DS_LINE_MAX 4096

struct ds_entry {
	uint8_t kind;
	uint8_t len;
	uint16_t list;
	char value[RG_IDENT_MAX_LEN];
};

struct dissect_lists {
	char names[DISSECT_MAX_LISTS][DISSECT_LIST_NAME_MAX];
	unsigned nb_names;
	struct ds_entry *e; /* sorted by kind, value, list */
	size_t nb;
	size_t cap;
};

struct dissect {
	struct dissect_opts o;
	uint64_t nb_messages;
	uint64_t nb_keepalives;
	uint64_t nb_hits;
	uint64_t by_mti[10000];
	uint64_t by_kind[RG_KIND_MAX];
	uint64_t by_anomaly[RG_ANOM_MAX];
	uint64_t by_list[DISSECT_MAX_LISTS];
};

/* ---- list files --------------------------------------------------------- */

static int ds_entry_cmp(const void *a, const void *b)
{
	const struct ds_entry *x = a, *y = b;
	int c;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	c = memcmp(x->value, y->value, x->len);
	if (c)
		return c;
	if (x->list != y->list)
		return x->list < y->list ? -1 : 1;
	return 0;
}

/*
 * Split one CSV line in place into at most max fields.  Fields may be
 * double-quoted ("" is a quote).  Returns the number of fields, or -1 for
 * an unterminated quote or more than max fields.
 */
static int ds_csv_split(char *line, char **f, int max)
{
	char *r = line, *w;
	int n = 0;

	for (;;) {
		if (n == max)
			return -1;
		f[n++] = w = r;
		if (*r == '"') {
			r++;
			for (;;) {
				if (*r == '\0')
					return -1;
				if (*r == '"' && r[1] == '"') {
					*w++ = '"';
					r += 2;
				} else if (*r == '"') {
					r++;
					break;
				} else {
					*w++ = *r++;
				}
			}
			if (*r != ',' && *r != '\0')
				return -1;
		} else {
			while (*r != ',' && *r != '\0')
				*w++ = *r++;
		}
		if (*r == '\0') {
			*w = '\0';
			return n;
		}
		*w = '\0';
		r++;
	}
}

static char *ds_trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = '\0';
	return s;
}

static bool ds_list_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= DISSECT_LIST_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) &&
		    *s != '_' && *s != '-')
			return false;
	return true;
}

static int ds_list_index(struct dissect_lists *l, const char *name)
{
	for (unsigned i = 0; i < l->nb_names; i++)
		if (strcmp(l->names[i], name) == 0)
			return (int)i;
	if (l->nb_names == DISSECT_MAX_LISTS)
		return -1;
	snprintf(l->names[l->nb_names], DISSECT_LIST_NAME_MAX, "%s", name);
	return (int)l->nb_names++;
}

static int ds_lists_add(struct dissect_lists *l, const struct ds_entry *e)
{
	if (l->nb == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		struct ds_entry *n = realloc(l->e, cap * sizeof(*n));

		if (n == NULL)
			return -ENOMEM;
		l->e = n;
		l->cap = cap;
	}
	l->e[l->nb++] = *e;
	return 0;
}

static const char *const ds_csv_columns[] = {
	"list", "kind", "value", "severity", "expiry", "reason",
};
#define DS_CSV_COLUMNS 6

struct dissect_lists *dissect_lists_load(const char *path, char *err, size_t err_cap)
{
	char line[DS_LINE_MAX], *f[DS_CSV_COLUMNS + 1];
	struct dissect_lists *l;
	unsigned lineno = 0;
	int ncol = 0, e = EINVAL;
	FILE *fp;

	fp = fopen(path, "r");
	if (fp == NULL) {
		e = errno;
		snprintf(err, err_cap, "%s: %s", path, strerror(e));
		errno = e;
		return NULL;
	}
	l = calloc(1, sizeof(*l));
	if (l == NULL) {
		e = ENOMEM;
		snprintf(err, err_cap, "%s: %s", path, strerror(e));
		goto out_close;
	}
	while (fgets(line, sizeof(line), fp)) {
		struct ds_entry ent = { 0 };
		char *s;
		int n, li, k, len;

		lineno++;
		if (strchr(line, '\n') == NULL && !feof(fp)) {
			snprintf(err, err_cap, "%s:%u: line longer than %d bytes", path,
				 lineno, DS_LINE_MAX - 2);
			goto out_free;
		}
		s = ds_trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		n = ds_csv_split(s, f, DS_CSV_COLUMNS);
		if (n < 0) {
			snprintf(err, err_cap, "%s:%u: bad CSV (unterminated quote or more than %d columns)",
				 path, lineno, DS_CSV_COLUMNS);
			goto out_free;
		}
		for (int i = 0; i < n; i++)
			f[i] = ds_trim(f[i]);
		if (ncol == 0) {
			for (int i = 0; i < n; i++) {
				if (strcasecmp(f[i], ds_csv_columns[i]) != 0) {
					snprintf(err, err_cap,
						 "%s:%u: header must be list,kind,value[,severity,expiry,reason]",
						 path, lineno);
					goto out_free;
				}
			}
			if (n < 3) {
				snprintf(err, err_cap,
					 "%s:%u: header must be list,kind,value[,severity,expiry,reason]",
					 path, lineno);
				goto out_free;
			}
			ncol = n;
			continue;
		}
		if (n < 3 || n > ncol) {
			snprintf(err, err_cap, "%s:%u: %d columns, want 3 to %d", path, lineno,
				 n, ncol);
			goto out_free;
		}
		if (!ds_list_name_ok(f[0])) {
			snprintf(err, err_cap, "%s:%u: bad list name (lower-case letters, digits, '_', '-')",
				 path, lineno);
			goto out_free;
		}
		k = rg_kind_from_name(f[1]);
		if (k == RG_KIND_NONE) {
			snprintf(err, err_cap, "%s:%u: unknown kind \"%.32s\"", path, lineno, f[1]);
			goto out_free;
		}
		len = rg_ident_normalise((unsigned)k, f[2], strlen(f[2]), ent.value);
		if (len <= 0 || len > RG_IDENT_MAX_LEN) {
			/* the value itself may be a PAN: never echo it */
			snprintf(err, err_cap, "%s:%u: value is not a valid %s", path, lineno,
				 rg_kind_name((unsigned)k));
			goto out_free;
		}
		li = ds_list_index(l, f[0]);
		if (li < 0) {
			snprintf(err, err_cap, "%s:%u: more than %d lists", path, lineno,
				 DISSECT_MAX_LISTS);
			goto out_free;
		}
		ent.kind = (uint8_t)k;
		ent.len = (uint8_t)len;
		ent.list = (uint16_t)li;
		if (ds_lists_add(l, &ent) < 0) {
			e = ENOMEM;
			snprintf(err, err_cap, "%s: %s", path, strerror(e));
			goto out_free;
		}
	}
	if (ferror(fp)) {
		e = EIO;
		snprintf(err, err_cap, "%s: read error", path);
		goto out_free;
	}
	if (ncol == 0) {
		snprintf(err, err_cap, "%s: empty file (no list,kind,value header)", path);
		goto out_free;
	}
	fclose(fp);
	if (l->nb)
		qsort(l->e, l->nb, sizeof(*l->e), ds_entry_cmp);
	/* one entry per (kind, value, list) */
	if (l->nb) {
		size_t w = 1;

		for (size_t r = 1; r < l->nb; r++)
			if (ds_entry_cmp(&l->e[r], &l->e[w - 1]) != 0)
				l->e[w++] = l->e[r];
		l->nb = w;
	}
	return l;

out_free:
	dissect_lists_free(l);
out_close:
	fclose(fp);
	errno = e;
	return NULL;
}

void dissect_lists_free(struct dissect_lists *l)
{
	if (l == NULL)
		return;
	free(l->e);
	free(l);
}

size_t dissect_lists_size(const struct dissect_lists *l)
{
	return l ? l->nb : 0;
}

const char *dissect_lists_name(const struct dissect_lists *l, unsigned idx)
{
	return idx < l->nb_names ? l->names[idx] : "unknown";
}

unsigned dissect_lists_match(const struct dissect_lists *l, unsigned kind,
			     const char *value, size_t len, unsigned *out, unsigned max)
{
	struct ds_entry key = { .kind = (uint8_t)kind, .len = (uint8_t)len, .list = 0 };
	size_t lo = 0, hi = l->nb;
	unsigned n = 0;

	if (len == 0 || len > RG_IDENT_MAX_LEN)
		return 0;
	memcpy(key.value, value, len);
	/* first entry >= key (list 0 sorts first) */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ds_entry_cmp(&l->e[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < l->nb && n < max; lo++) {
		const struct ds_entry *e = &l->e[lo];

		if (e->kind != key.kind || e->len != key.len || memcmp(e->value, value, len))
			break;
		out[n++] = e->list;
	}
	return n;
}

/* ---- masking ------------------------------------------------------------ */

/* The PAN part of a field: rg_ident_mask, or all '*' when it refuses. */
static int ds_mask_pan(const char *s, size_t n, char *out, size_t cap)
{
	int r = rg_ident_mask(RG_KIND_PAN, s, n, out, cap);

	if (r >= 0 && (size_t)r == strlen(out))
		return r;
	if (n + 1 > cap)
		return -ENOSPC;
	memset(out, '*', n);
	out[n] = '\0';
	return (int)n;
}

/* out[pre..] = masked PAN s[0..pan), then s[pan] (the separator) as is, then
 * '*' for the rest. */
static int ds_mask_track(const char *s, size_t len, size_t pan, char *out, size_t cap)
{
	size_t rest;
	int r;

	r = ds_mask_pan(s, pan, out, cap);
	if (r < 0)
		return r;
	if (pan == len)
		return r;
	rest = len - pan - 1;
	if ((size_t)r + 1 + rest + 1 > cap)
		return -ENOSPC;
	out[r] = s[pan];
	memset(out + r + 1, '*', rest);
	out[r + 1 + rest] = '\0';
	return r + 1 + (int)rest;
}

/* Copy text[0..len) to out, then as kind (a PAN or an ACCOUNT read whole
 * from the field: rg_ident_mask; read from a part of it: rg_mask_text). */
static int ds_mask_copy(const char *text, size_t len, char *out, size_t cap, unsigned kind,
			bool whole)
{
	if (len + 1 > cap)
		return -ENOSPC;
	if (whole && kind == RG_KIND_PAN)
		return ds_mask_pan(text, len, out, cap);
	if (whole && kind == RG_KIND_ACCOUNT && rg_ident_mask(kind, text, len, out, cap) >= 0)
		return (int)len;
	memcpy(out, text, len);
	out[len] = '\0';
	if (kind != RG_KIND_NONE)
		rg_mask_text(out);
	return (int)len;
}

/* The PAN or ACCOUNT source dialect d reads from DE de, if any: its kind,
 * and in *whole whether it takes the field whole. */
static unsigned ds_sensitive_source(const struct rg_dialect *d, unsigned de, bool *whole)
{
	unsigned kind = RG_KIND_NONE;

	*whole = true;
	for (unsigned i = 0; d != NULL && i < d->nb_ident; i++) {
		const struct rg_ident_source *src = &d->ident[i];

		if (src->de != de || (src->kind != RG_KIND_PAN && src->kind != RG_KIND_ACCOUNT))
			continue;
		if (src->how != RG_IDENT_WHOLE || src->skip != 0 || kind != RG_KIND_NONE)
			*whole = false;
		kind = src->kind;
	}
	return kind;
}

int dissect_mask_field(const struct rg_dialect *d, unsigned de, const char *text, size_t len,
		       char *out, size_t cap)
{
	unsigned kind;
	bool whole;
	size_t i;
	int r;

	switch (de) {
	case 2:
	case 34:
		return ds_mask_pan(text, len, out, cap);
	case 35:
		for (i = 0; i < len && text[i] != '=' && text[i] != 'D'; i++)
			;
		return ds_mask_track(text, len, i, out, cap);
	case 45:
		if (len && !isdigit((unsigned char)text[0])) {
			if (cap < 2)
				return -ENOSPC;
			out[0] = text[0];
			text++;
			len--;
			out++;
			cap--;
			for (i = 0; i < len && text[i] != '^'; i++)
				;
			r = ds_mask_track(text, len, i, out, cap);
			return r < 0 ? r : r + 1;
		}
		for (i = 0; i < len && text[i] != '^'; i++)
			;
		return ds_mask_track(text, len, i, out, cap);
	case 102:
	case 103:
		kind = ds_sensitive_source(d, de, &whole);
		return ds_mask_copy(text, len, out, cap, kind == RG_KIND_NONE ? RG_KIND_ACCOUNT : kind,
				    kind == RG_KIND_NONE || whole);
	default:
		kind = ds_sensitive_source(d, de, &whole);
		return ds_mask_copy(text, len, out, cap, kind, whole);
	}
}

/* ---- JSON --------------------------------------------------------------- */

/* Wire text as a JSON string: bytes above 0x7f are taken as Latin-1 so the
 * output stays valid UTF-8 whatever the message carried. */
static json_t *ds_json_text(const char *s, size_t len)
{
	char buf[2 * DS_TEXT_MAX];
	size_t w = 0;

	for (size_t i = 0; i < len && w + 2 < sizeof(buf); i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x80) {
			buf[w++] = (char)c;
		} else {
			buf[w++] = (char)(0xc0 | c >> 6);
			buf[w++] = (char)(0x80 | (c & 0x3f));
		}
	}
	return json_stringn(buf, w);
}

static void ds_hex(const uint8_t *p, size_t n, char *out)
{
	static const char hx[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[p[i] >> 4];
		out[2 * i + 1] = hx[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static json_t *ds_base(const struct pcapflow_event *ev)
{
	char ts[64], date[32];
	time_t t = (time_t)ev->ts_sec;
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts, sizeof(ts), "%s.%06dZ", date, (int)ev->ts_usec);
	return json_pack("{sI s[II] ss ss ss}",
			 "frame", (json_int_t)ev->frame,
			 "frames", (json_int_t)ev->first_frame, (json_int_t)ev->frame,
			 "ts", ts,
			 "flow", ev->flow,
			 "dir", ev->request ? "request" : "response");
}

static void ds_print(struct dissect *ds, json_t *o)
{
	if (o == NULL)
		return;
	if (!ds->o.summary) {
		json_dumpf(o, ds->o.out, JSON_PRESERVE_ORDER);
		fputc('\n', ds->o.out);
	}
	json_decref(o);
}

/* Anomalies that stop the decoder: DEs from anomaly_de on were not read. */
static bool ds_anomaly_stops(unsigned a)
{
	return a != RG_ANOM_NONE && a != RG_ANOM_NON_NUMERIC && a != RG_ANOM_TRAILING_BYTES;
}

static void ds_forget_from(struct rg_iso_msg *m, unsigned de)
{
	for (unsigned i = de ? de : 1; i <= RG_ISO_MAX_DE; i++)
		m->bitmap[(i - 1) / 64] &= ~(1ull << (63 - (i - 1) % 64));
}

static json_t *ds_fields(struct dissect *ds, const struct rg_iso_msg *m)
{
	char text[DS_TEXT_MAX], masked[DS_TEXT_MAX];
	json_t *fields = json_object();

	for (unsigned de = 2; de <= RG_ISO_MAX_DE; de++) {
		char key[8];
		int n;

		if (!rg_iso_has(m, de))
			continue;
		n = rg_iso_field_text(ds->o.dialect, m, de, text, sizeof(text));
		if (n < 0)
			continue;
		snprintf(key, sizeof(key), "%u", de);
		if (!ds->o.show_pan) {
			n = dissect_mask_field(ds->o.dialect, de, text, (size_t)n, masked,
					       sizeof(masked));
			if (n < 0)
				continue;
			json_object_set_new(fields, key, ds_json_text(masked, (size_t)n));
		} else {
			json_object_set_new(fields, key, ds_json_text(text, (size_t)n));
		}
	}
	return fields;
}

static json_t *ds_identifiers(struct dissect *ds, const struct rg_ident *id, unsigned nb,
			      json_t **hits)
{
	json_t *arr = json_array();

	for (unsigned i = 0; i < nb; i++) {
		const char *kind = rg_kind_name(id[i].kind);
		char shown[RG_IDENT_MAX_LEN * 2 + 1];
		json_t *o;
		int n;

		if (kind == NULL)
			kind = "UNKNOWN";
		if (ds->o.show_pan) {
			memcpy(shown, id[i].value, id[i].len);
			shown[id[i].len] = '\0';
			n = id[i].len;
		} else {
			n = rg_ident_mask(id[i].kind, id[i].value, id[i].len, shown, sizeof(shown));
			if (n < 0) {
				memset(shown, '*', id[i].len);
				shown[id[i].len] = '\0';
				n = id[i].len;
			}
		}
		o = json_pack("{ss so sI}", "kind", kind, "value",
			      ds_json_text(shown, (size_t)n), "de", (json_int_t)id[i].de);
		if (o == NULL)
			continue;
		if (ds->o.key) {
			struct rg_fp fp;
			char hex[2 * 8 + 1];

			rg_fp_compute(ds->o.key, id[i].kind, id[i].value, id[i].len, &fp);
			rg_fp_hex(&fp, 8, hex);
			json_object_set_new(o, "fp", json_string(hex));
		}
		if (id[i].kind < RG_KIND_MAX)
			ds->by_kind[id[i].kind]++;
		if (ds->o.lists) {
			unsigned lists[DISSECT_MAX_LISTS], nl;

			nl = dissect_lists_match(ds->o.lists, id[i].kind, id[i].value,
						 id[i].len, lists, DISSECT_MAX_LISTS);
			for (unsigned j = 0; j < nl; j++) {
				json_array_append_new(*hits, json_pack("{ss ss sI so}",
					"list", dissect_lists_name(ds->o.lists, lists[j]),
					"kind", kind, "de", (json_int_t)id[i].de,
					"value", ds_json_text(shown, (size_t)n)));
				ds->by_list[lists[j]]++;
				ds->nb_hits++;
			}
		}
		json_array_append_new(arr, o);
	}
	return arr;
}

static void ds_message(struct dissect *ds, const struct pcapflow_event *ev)
{
	const struct rg_frame *fr = ev->fr;
	struct rg_ident id[RG_IDENT_MAX];
	enum rg_anomaly da, xa = RG_ANOM_NONE, a;
	struct rg_iso_msg m;
	json_t *o, *hits = NULL;
	unsigned nb_id = 0;
	char mti[5];

	ds->nb_messages++;
	memset(&m, 0, sizeof(m));
	da = rg_iso_decode(ds->o.dialect, fr->msg, fr->msg_len, RG_ISO_VALIDATE, &m);
	if (ds_anomaly_stops(da))
		ds_forget_from(&m, m.anomaly_de);

	o = ds_base(ev);
	if (o == NULL)
		return;
	json_object_set_new(o, "len", json_integer(fr->msg_len));
	if (da == RG_ANOM_BAD_MTI || (da == RG_ANOM_TRUNCATED && m.end == 0)) {
		json_object_set_new(o, "mti", json_null());
	} else {
		rg_iso_mti_text(m.mti, mti);
		json_object_set_new(o, "mti", json_string(mti));
		if (m.mti < 10000)
			ds->by_mti[m.mti]++;
	}
	if (fr->hdr_len && fr->hdr) {
		char hex[2 * RG_FRAME_MAX_HDR + 1];
		uint32_t n = fr->hdr_len > RG_FRAME_MAX_HDR ? RG_FRAME_MAX_HDR : fr->hdr_len;

		ds_hex(fr->hdr, n, hex);
		json_object_set_new(o, "header", json_string(hex));
	}
	json_object_set_new(o, "fields", ds_fields(ds, &m));

	nb_id = rg_ident_extract(ds->o.dialect, &m, id, RG_IDENT_MAX, &xa);
	if (nb_id > RG_IDENT_MAX)
		nb_id = RG_IDENT_MAX;
	if (ds->o.lists)
		hits = json_array();
	json_object_set_new(o, "identifiers", ds_identifiers(ds, id, nb_id, &hits));
	if (hits)
		json_object_set_new(o, "hits", hits);

	a = da != RG_ANOM_NONE ? da : xa;
	if (a == RG_ANOM_NONE) {
		json_object_set_new(o, "anomaly", json_null());
	} else {
		json_object_set_new(o, "anomaly", json_string(rg_anomaly_name(a)));
		if (a == da && m.anomaly_de)
			json_object_set_new(o, "anomaly_de", json_integer(m.anomaly_de));
		if (a < RG_ANOM_MAX)
			ds->by_anomaly[a]++;
	}
	ds_print(ds, o);
}

static void ds_anomaly(struct dissect *ds, const struct pcapflow_event *ev)
{
	json_t *o;

	if (ev->anomaly < RG_ANOM_MAX)
		ds->by_anomaly[ev->anomaly]++;
	o = ds_base(ev);
	if (o == NULL)
		return;
	json_object_set_new(o, "mti", json_null());
	json_object_set_new(o, "anomaly", json_string(rg_anomaly_name(ev->anomaly)));
	json_object_set_new(o, "stream_off", json_integer((json_int_t)ev->stream_off));
	if (ev->anomaly == RG_ANOM_STREAM_GAP && ev->skipped_bytes)
		json_object_set_new(o, "skipped_bytes", json_integer(ev->skipped_bytes));
	ds_print(ds, o);
}

void dissect_event(void *ctx, const struct pcapflow_event *ev)
{
	struct dissect *ds = ctx;

	switch (ev->kind) {
	case PCAPFLOW_EV_MSG:
		ds_message(ds, ev);
		break;
	case PCAPFLOW_EV_KEEPALIVE:
		ds->nb_keepalives++;
		break;
	case PCAPFLOW_EV_ANOMALY:
		ds_anomaly(ds, ev);
		break;
	}
}

struct dissect *dissect_create(const struct dissect_opts *o)
{
	struct dissect *ds = calloc(1, sizeof(*ds));

	if (ds == NULL)
		return NULL;
	ds->o = *o;
	if (ds->o.out == NULL)
		ds->o.out = stdout;
	return ds;
}

void dissect_destroy(struct dissect *ds)
{
	free(ds);
}

/* ---- summary ------------------------------------------------------------ */

static void ds_row(FILE *out, const char *indent, const char *name, uint64_t v)
{
	fprintf(out, "%s%-*s %12llu\n", indent, 30 - (int)strlen(indent), name,
		(unsigned long long)v);
}

void dissect_summary(const struct dissect *ds, const struct pcapflow_counters *c,
		     bool json, FILE *out)
{
	json_t *o, *mti, *ids, *an, *hl, *dr;
	char key[8];

	o = json_pack("{sI sI sI sI sI sI}",
		      "packets", (json_int_t)c->nb_packets,
		      "flows", (json_int_t)c->nb_flows,
		      "messages", (json_int_t)ds->nb_messages,
		      "keepalives", (json_int_t)ds->nb_keepalives,
		      "tcp_segments", (json_int_t)c->nb_tcp,
		      "hits", (json_int_t)ds->nb_hits);
	mti = json_object();
	ids = json_object();
	an = json_object();
	hl = json_object();
	dr = json_object();
	if (!o || !mti || !ids || !an || !hl || !dr) {
		json_decref(o);
		json_decref(mti);
		json_decref(ids);
		json_decref(an);
		json_decref(hl);
		json_decref(dr);
		return;
	}
	for (unsigned i = 0; i < 10000; i++) {
		if (!ds->by_mti[i])
			continue;
		rg_iso_mti_text((uint16_t)i, key);
		json_object_set_new(mti, key, json_integer((json_int_t)ds->by_mti[i]));
	}
	for (unsigned k = 1; k < RG_KIND_MAX; k++)
		if (ds->by_kind[k] && rg_kind_name(k))
			json_object_set_new(ids, rg_kind_name(k),
					    json_integer((json_int_t)ds->by_kind[k]));
	for (unsigned a = 1; a < RG_ANOM_MAX; a++)
		if (ds->by_anomaly[a])
			json_object_set_new(an, rg_anomaly_name(a),
					    json_integer((json_int_t)ds->by_anomaly[a]));
	if (ds->o.lists)
		for (unsigned l = 0; l < ds->o.lists->nb_names; l++)
			json_object_set_new(hl, dissect_lists_name(ds->o.lists, l),
					    json_integer((json_int_t)ds->by_list[l]));
	for (unsigned d = 0; d < PCAPFLOW_DROP_MAX; d++)
		if (c->drops[d])
			json_object_set_new(dr, pcapflow_drop_name(d),
					    json_integer((json_int_t)c->drops[d]));
	json_object_set_new(o, "by_mti", mti);
	json_object_set_new(o, "identifiers", ids);
	json_object_set_new(o, "anomalies", an);
	json_object_set_new(o, "hits_by_list", hl);
	json_object_set_new(o, "packets_not_used", dr);

	if (json) {
		json_dumpf(o, out, JSON_PRESERVE_ORDER);
		fputc('\n', out);
	} else {
		static const char *const sections[][2] = {
			{ "by_mti", "messages by MTI" },
			{ "identifiers", "identifiers by kind" },
			{ "anomalies", "anomalies" },
			{ "hits_by_list", "hits by list" },
			{ "packets_not_used", "packets not used" },
		};
		static const char *const top[] = {
			"packets", "tcp_segments", "flows", "messages", "keepalives", "hits",
		};

		for (size_t i = 0; i < sizeof(top) / sizeof(top[0]); i++)
			ds_row(out, "", top[i],
			       (uint64_t)json_integer_value(json_object_get(o, top[i])));
		for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
			json_t *sec = json_object_get(o, sections[i][0]);
			const char *k;
			json_t *v;

			fprintf(out, "%s%s\n", sections[i][1],
				json_object_size(sec) ? "" : ": none");
			json_object_foreach(sec, k, v)
				ds_row(out, "  ", k, (uint64_t)json_integer_value(v));
		}
	}
	json_decref(o);
}
