/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Dialect files (docs/dialects.md): parse, validate and resolve into a
 * struct rg_dialect.
 *
 * A file is read with libconfig.  It may name a base (a built-in or another
 * file); the base is resolved first, into the same intermediate state, and
 * the file's settings are applied on top.  Encodings are resolved into the
 * per-DE specs only at the end, so a dialect-wide setting such as
 * numeric = "bcd" reaches every field inherited from the base.  Start-up
 * code only: allocates, reads files, reports errors as "FILE:LINE: ...".
 */
#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/dialect_builtin.h"
#include "common/ident.h"
#include "common/iso8583.h"

#define DL_MAX_BASE_DEPTH 4       /* bases above the dialect asked for */
#define DL_MAX_FILE_BYTES (1 << 20)

/* Per-field settings a group may override (dl_field.set). */
#define OV_NUMERIC 0x01
#define OV_TEXT 0x02
#define OV_BINARY 0x04
#define OV_PREFIX 0x08
#define OV_PAD 0x10
#define OV_COUNTS 0x20

enum { COUNTS_DIGITS = 0, COUNTS_BYTES = 1 };

struct dl_field {
	uint8_t type;          /* enum rg_iso_type; NONE = not defined */
	uint8_t prefix_digits; /* 0, 2 or 3 */
	uint16_t len;          /* units */
	uint8_t set;           /* OV_* given for this field */
	uint8_t numeric, text, binary, prefix, pad, counts;
};

/* A dialect before its encodings are resolved. */
struct dl_state {
	char name[RG_DIALECT_NAME_MAX];
	uint8_t mti, bitmap, numeric, text, binary, prefix, pad, counts;
	struct dl_field f[RG_ISO_MAX_DE + 1];
	unsigned nb_ident;
	struct rg_ident_source ident[RG_DIALECT_MAX_IDENT];
};

struct dl_ctx {
	char *err;
	size_t err_cap;
	int depth;
	char *chain[DL_MAX_BASE_DEPTH + 1]; /* identities of the files being read */
};

struct keyword {
	const char *name;
	uint8_t val;
};

static const struct keyword kw_mti[] = {
	{ "ascii", RG_ISO_E_ASCII }, { "bcd", RG_ISO_E_BCD }, { "ebcdic", RG_ISO_E_EBCDIC }, { NULL, 0 },
};
static const struct keyword kw_bitmap[] = {
	{ "binary", RG_ISO_E_RAW }, { "hex", RG_ISO_E_HEX }, { "ebcdic", RG_ISO_E_EBCDIC }, { NULL, 0 },
};
static const struct keyword kw_text[] = {
	{ "ascii", RG_ISO_E_ASCII }, { "ebcdic", RG_ISO_E_EBCDIC }, { NULL, 0 },
};
static const struct keyword kw_binary[] = {
	{ "raw", RG_ISO_E_RAW }, { "hex", RG_ISO_E_HEX }, { NULL, 0 },
};
static const struct keyword kw_prefix[] = {
	{ "ascii", RG_ISO_E_ASCII }, { "bcd", RG_ISO_E_BCD }, { "binary", RG_ISO_E_BINARY },
	{ "ebcdic", RG_ISO_E_EBCDIC }, { NULL, 0 },
};
static const struct keyword kw_pad[] = {
	{ "left", RG_ISO_PAD_LEFT }, { "right", RG_ISO_PAD_RIGHT }, { "right-f", RG_ISO_PAD_RIGHT_F }, { NULL, 0 },
};
static const struct keyword kw_counts[] = {
	{ "digits", COUNTS_DIGITS }, { "bytes", COUNTS_BYTES }, { NULL, 0 },
};
static const struct keyword kw_how[] = {
	{ "whole", RG_IDENT_WHOLE }, { "track2", RG_IDENT_TRACK2 }, { "track1", RG_IDENT_TRACK1 },
	{ "tlv", RG_IDENT_TLV_ASCII }, { "ber", RG_IDENT_TLV_BER }, { NULL, 0 },
};

/* ISO type letters; every text type is RG_ISO_T_AN. */
static const struct keyword kw_type[] = {
	{ "n", RG_ISO_T_N }, { "a", RG_ISO_T_AN }, { "an", RG_ISO_T_AN }, { "ans", RG_ISO_T_AN },
	{ "ns", RG_ISO_T_AN }, { "anp", RG_ISO_T_AN }, { "as", RG_ISO_T_AN }, { "b", RG_ISO_T_B },
	{ "z", RG_ISO_T_Z }, { "x+n", RG_ISO_T_XN }, { NULL, 0 },
};

static void __attribute__((format(printf, 5, 6)))
dl_error(struct dl_ctx *c, const char *origin, int line, const char *where,
	 const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->err == NULL || c->err_cap == 0)
		return;
	if (line > 0 && where)
		snprintf(c->err, c->err_cap, "%s:%d: %s: %s", origin, line, where, msg);
	else if (line > 0)
		snprintf(c->err, c->err_cap, "%s:%d: %s", origin, line, msg);
	else if (where)
		snprintf(c->err, c->err_cap, "%s: %s: %s", origin, where, msg);
	else
		snprintf(c->err, c->err_cap, "%s: %s", origin, msg);
}

static int line_of(const config_setting_t *s)
{
	return (int)config_setting_source_line(s);
}

static const char *expected_list(const struct keyword *kw, char *buf, size_t cap)
{
	size_t n = 0;

	buf[0] = '\0';
	for (unsigned i = 0; kw[i].name && n < cap; i++)
		n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? kw[i + 1].name ? ", " : " or " : "",
				      kw[i].name);
	return buf;
}

/* A keyword setting; 0 or -EINVAL (error reported). */
static int get_keyword(struct dl_ctx *c, const char *origin, const config_setting_t *s,
		       const char *where, const struct keyword *kw, uint8_t *out)
{
	const char *v = config_setting_get_string(s);
	char exp[128];

	if (v == NULL) {
		dl_error(c, origin, line_of(s), where, "expected a string (%s)",
			 expected_list(kw, exp, sizeof(exp)));
		return -EINVAL;
	}
	for (unsigned i = 0; kw[i].name; i++) {
		if (strcmp(v, kw[i].name) == 0) {
			*out = kw[i].val;
			return 0;
		}
	}
	dl_error(c, origin, line_of(s), where, "bad value \"%s\" (expected %s)", v,
		 expected_list(kw, exp, sizeof(exp)));
	return -EINVAL;
}

static int get_int(struct dl_ctx *c, const char *origin, const config_setting_t *s,
		   const char *where, long lo, long hi, long *out)
{
	int t = config_setting_type(s);
	long long v;

	if (t == CONFIG_TYPE_INT)
		v = config_setting_get_int(s);
	else if (t == CONFIG_TYPE_INT64)
		v = config_setting_get_int64(s);
	else {
		dl_error(c, origin, line_of(s), where, "expected an integer");
		return -EINVAL;
	}
	if (v < lo || v > hi) {
		dl_error(c, origin, line_of(s), where, "%lld out of range %ld..%ld", v, lo, hi);
		return -EINVAL;
	}
	*out = (long)v;
	return 0;
}

/*
 * ISO notation: type letters, then "" (fixed), ".." (LLVAR) or "..."
 * (LLLVAR), then the length in units (b: bytes; x+n: digits, the sign is
 * added).  Returns 0 or -1.
 */
static int parse_format(const char *s, struct dl_field *f)
{
	char type[4];
	unsigned nt = 0, dots = 0;
	unsigned long len = 0;
	const char *p = s;

	while ((*p >= 'a' && *p <= 'z') || *p == '+') {
		if (nt == sizeof(type) - 1)
			return -1;
		type[nt++] = *p++;
	}
	type[nt] = '\0';
	while (*p == '.') {
		dots++;
		p++;
	}
	if (dots != 0 && dots != 2 && dots != 3)
		return -1;
	if (*p < '1' || *p > '9')
		return -1;
	while (*p >= '0' && *p <= '9') {
		len = len * 10 + (unsigned long)(*p++ - '0');
		if (len > RG_ISO_MAX_FIELD)
			return -1;
	}
	if (*p != '\0')
		return -1;

	memset(f, 0, sizeof(*f));
	for (unsigned i = 0; kw_type[i].name; i++)
		if (strcmp(type, kw_type[i].name) == 0)
			f->type = kw_type[i].val;
	if (f->type == RG_ISO_T_NONE)
		return -1;
	if (f->type == RG_ISO_T_XN)
		len++;
	if (len > RG_ISO_MAX_FIELD || (dots == 2 && len > 99))
		return -1;
	f->prefix_digits = (uint8_t)(dots ? dots : 0);
	f->len = (uint16_t)len;
	return 0;
}

static bool is_numeric_type(unsigned type)
{
	return type == RG_ISO_T_N || type == RG_ISO_T_Z || type == RG_ISO_T_XN;
}

/* "de2" .. "de128" -> 2..128; 1 for "de1"; 0 for anything else. */
static unsigned de_number(const char *name, bool *range_error)
{
	unsigned v = 0;

	*range_error = false;
	if (strncmp(name, "de", 2) != 0 || name[2] < '0' || name[2] > '9')
		return 0;
	if (name[2] == '0' && name[3] != '\0')
		return 0;
	for (const char *p = name + 2; *p; p++) {
		if (*p < '0' || *p > '9')
			return 0;
		if (v > 1000)
			break;
		v = v * 10 + (unsigned)(*p - '0');
	}
	if (v < 2 || v > RG_ISO_MAX_DE) {
		*range_error = true;
		return 0;
	}
	return v;
}

static const char fmt_hint[] = "(expected e.g. n..19, ans...999, b8)";

static int parse_field(struct dl_ctx *c, const char *origin, const config_setting_t *s,
		       struct dl_state *st, unsigned de)
{
	char where[32];
	struct dl_field nf;
	const char *v;

	snprintf(where, sizeof(where), "fields.de%u", de);
	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		v = config_setting_get_string(s);
		if (strcmp(v, "none") == 0) {
			memset(&st->f[de], 0, sizeof(st->f[de]));
			return 0;
		}
		if (parse_format(v, &nf) != 0) {
			dl_error(c, origin, line_of(s), where, "bad format \"%s\" %s", v, fmt_hint);
			return -EINVAL;
		}
		st->f[de] = nf;
		return 0;
	}
	if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
		dl_error(c, origin, line_of(s), where,
			 "expected a format string or a group { format = ...; }");
		return -EINVAL;
	}

	const config_setting_t *fmt = config_setting_get_member(s, "format");
	if (fmt) {
		v = config_setting_get_string(fmt);
		if (v == NULL || parse_format(v, &nf) != 0) {
			snprintf(where, sizeof(where), "fields.de%u.format", de);
			dl_error(c, origin, line_of(fmt), where, "bad format \"%s\" %s",
				 v ? v : "(not a string)", fmt_hint);
			return -EINVAL;
		}
	} else if (st->f[de].type != RG_ISO_T_NONE) {
		nf = st->f[de];
	} else {
		dl_error(c, origin, line_of(s), where,
			 "no format given and the base does not define DE %u", de);
		return -EINVAL;
	}

	for (int i = 0; i < config_setting_length(s); i++) {
		const config_setting_t *m = config_setting_get_elem(s, (unsigned)i);
		const char *k = config_setting_name(m);
		bool ok = true;
		int rc = 0;

		snprintf(where, sizeof(where), "fields.de%u.%s", de, k);
		if (strcmp(k, "format") == 0)
			continue;
		if (strcmp(k, "numeric") == 0) {
			ok = is_numeric_type(nf.type);
			rc = get_keyword(c, origin, m, where, kw_mti, &nf.numeric);
			nf.set |= OV_NUMERIC;
		} else if (strcmp(k, "text") == 0) {
			ok = nf.type == RG_ISO_T_AN;
			rc = get_keyword(c, origin, m, where, kw_text, &nf.text);
			nf.set |= OV_TEXT;
		} else if (strcmp(k, "binary") == 0) {
			ok = nf.type == RG_ISO_T_B;
			rc = get_keyword(c, origin, m, where, kw_binary, &nf.binary);
			nf.set |= OV_BINARY;
		} else if (strcmp(k, "prefix") == 0) {
			ok = nf.prefix_digits != 0;
			rc = get_keyword(c, origin, m, where, kw_prefix, &nf.prefix);
			nf.set |= OV_PREFIX;
		} else if (strcmp(k, "pad") == 0) {
			ok = is_numeric_type(nf.type);
			rc = get_keyword(c, origin, m, where, kw_pad, &nf.pad);
			nf.set |= OV_PAD;
		} else if (strcmp(k, "prefix_counts") == 0) {
			ok = is_numeric_type(nf.type) && nf.prefix_digits != 0;
			rc = get_keyword(c, origin, m, where, kw_counts, &nf.counts);
			nf.set |= OV_COUNTS;
		} else {
			snprintf(where, sizeof(where), "fields.de%u", de);
			dl_error(c, origin, line_of(m), where,
				 "unknown key \"%s\" (expected format, numeric, text, binary, prefix, pad or prefix_counts)",
				 k);
			return -EINVAL;
		}
		if (rc)
			return rc;
		if (!ok) {
			dl_error(c, origin, line_of(m), where,
				 "does not apply to this field's format");
			return -EINVAL;
		}
	}
	st->f[de] = nf;
	return 0;
}

static int parse_fields(struct dl_ctx *c, const char *origin, const config_setting_t *s,
			struct dl_state *st)
{
	if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
		dl_error(c, origin, line_of(s), "fields", "expected a group { deN = ...; }");
		return -EINVAL;
	}
	for (int i = 0; i < config_setting_length(s); i++) {
		const config_setting_t *m = config_setting_get_elem(s, (unsigned)i);
		const char *k = config_setting_name(m);
		bool range_error;
		unsigned de = de_number(k, &range_error);
		int rc;

		if (de == 0) {
			if (strcmp(k, "de1") == 0)
				dl_error(c, origin, line_of(m), "fields",
					 "de1 is the secondary bitmap and cannot be defined");
			else if (range_error)
				dl_error(c, origin, line_of(m), "fields",
					 "\"%s\": data element out of range 2..128", k);
			else
				dl_error(c, origin, line_of(m), "fields",
					 "unknown key \"%s\" (expected de2 .. de128)", k);
			return -EINVAL;
		}
		rc = parse_field(c, origin, m, st, de);
		if (rc)
			return rc;
	}
	return 0;
}

/* BER tag from hex: 1..3 bytes whose structure is a complete BER tag. */
static int parse_ber_tag(const char *s, uint8_t *tag, uint8_t *tag_len)
{
	size_t n = strlen(s);
	unsigned nb;

	if (n == 0 || n % 2 || n > 6)
		return -1;
	nb = (unsigned)n / 2;
	for (unsigned i = 0; i < nb; i++) {
		int hi = -1, lo = -1;
		char h = s[2 * i], l = s[2 * i + 1];
		if (h >= '0' && h <= '9') hi = h - '0';
		else if (h >= 'a' && h <= 'f') hi = h - 'a' + 10;
		else if (h >= 'A' && h <= 'F') hi = h - 'A' + 10;
		if (l >= '0' && l <= '9') lo = l - '0';
		else if (l >= 'a' && l <= 'f') lo = l - 'a' + 10;
		else if (l >= 'A' && l <= 'F') lo = l - 'A' + 10;
		if (hi < 0 || lo < 0)
			return -1;
		tag[i] = (uint8_t)(hi << 4 | lo);
	}
	/* first byte: low 5 bits all set means more bytes follow; then
	 * continuation bytes have bit 8 set, the last one has it clear */
	unsigned want = 1;
	if ((tag[0] & 0x1F) == 0x1F) {
		want = 2;
		while (want <= nb && want <= 3 && (tag[want - 1] & 0x80) && want > 1)
			want++;
	}
	if (want != nb)
		return -1;
	*tag_len = (uint8_t)nb;
	return 0;
}

static int parse_ident(struct dl_ctx *c, const char *origin, const config_setting_t *s,
		       unsigned idx, struct rg_ident_source *out)
{
	char where[48];
	const config_setting_t *tag = NULL, *tw = NULL, *lw = NULL;
	bool have_kind = false, have_de = false;
	long v;

	memset(out, 0, sizeof(*out));
	out->how = RG_IDENT_WHOLE;
	snprintf(where, sizeof(where), "identifiers[%u]", idx);
	if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
		dl_error(c, origin, line_of(s), where, "expected a group { kind = ...; de = ...; }");
		return -EINVAL;
	}
	for (int i = 0; i < config_setting_length(s); i++) {
		const config_setting_t *m = config_setting_get_elem(s, (unsigned)i);
		const char *k = config_setting_name(m);

		snprintf(where, sizeof(where), "identifiers[%u].%s", idx, k);
		if (strcmp(k, "kind") == 0) {
			const char *name = config_setting_get_string(m);
			enum rg_kind kind = name ? rg_kind_from_name(name) : RG_KIND_NONE;
			if (kind == RG_KIND_NONE) {
				dl_error(c, origin, line_of(m), where, "unknown kind \"%s\"",
					 name ? name : "(not a string)");
				return -EINVAL;
			}
			out->kind = (uint8_t)kind;
			have_kind = true;
		} else if (strcmp(k, "de") == 0) {
			if (get_int(c, origin, m, where, 2, RG_ISO_MAX_DE, &v))
				return -EINVAL;
			out->de = (uint8_t)v;
			have_de = true;
		} else if (strcmp(k, "how") == 0) {
			if (get_keyword(c, origin, m, where, kw_how, &out->how))
				return -EINVAL;
		} else if (strcmp(k, "skip") == 0) {
			if (get_int(c, origin, m, where, 0, 255, &v))
				return -EINVAL;
			out->skip = (uint8_t)v;
		} else if (strcmp(k, "tag") == 0) {
			tag = m;
		} else if (strcmp(k, "tag_width") == 0) {
			tw = m;
		} else if (strcmp(k, "len_width") == 0) {
			lw = m;
		} else {
			snprintf(where, sizeof(where), "identifiers[%u]", idx);
			dl_error(c, origin, line_of(m), where,
				 "unknown key \"%s\" (expected kind, de, how, tag, tag_width, len_width or skip)",
				 k);
			return -EINVAL;
		}
	}
	snprintf(where, sizeof(where), "identifiers[%u]", idx);
	if (!have_kind || !have_de) {
		dl_error(c, origin, line_of(s), where, "needs both kind and de");
		return -EINVAL;
	}

	if (out->how == RG_IDENT_TLV_ASCII) {
		const char *t = tag ? config_setting_get_string(tag) : NULL;
		size_t n = t ? strlen(t) : 0;
		if (t == NULL || n < 1 || n > sizeof(out->tag)) {
			dl_error(c, origin, line_of(tag ? tag : s), where,
				 "how = \"tlv\" needs tag = \"...\" of 1 to 4 characters");
			return -EINVAL;
		}
		memcpy(out->tag, t, n);
		out->tag_len = (uint8_t)n;
		out->tag_width = (uint8_t)n;
		out->len_width = 3;
		if (tw) {
			snprintf(where, sizeof(where), "identifiers[%u].tag_width", idx);
			if (get_int(c, origin, tw, where, 1, 4, &v))
				return -EINVAL;
			if ((size_t)v != n) {
				dl_error(c, origin, line_of(tw), where,
					 "%ld does not match the tag \"%s\"", v, t);
				return -EINVAL;
			}
		}
		if (lw) {
			snprintf(where, sizeof(where), "identifiers[%u].len_width", idx);
			if (get_int(c, origin, lw, where, 1, 4, &v))
				return -EINVAL;
			out->len_width = (uint8_t)v;
		}
	} else if (out->how == RG_IDENT_TLV_BER) {
		const char *t = tag ? config_setting_get_string(tag) : NULL;
		if (tw || lw) {
			dl_error(c, origin, line_of(tw ? tw : lw), where,
				 "tag_width and len_width apply only to how = \"tlv\"");
			return -EINVAL;
		}
		if (t == NULL || parse_ber_tag(t, out->tag, &out->tag_len) != 0) {
			dl_error(c, origin, line_of(tag ? tag : s), where,
				 "bad BER tag \"%s\" (expected 1 to 3 bytes in hex, e.g. 5A or DF8116)",
				 t ? t : "");
			return -EINVAL;
		}
	} else if (tag || tw || lw) {
		const config_setting_t *x = tag ? tag : tw ? tw : lw;
		dl_error(c, origin, line_of(x), where,
			 "%s applies only to how = \"tlv\" or \"ber\"", config_setting_name(x));
		return -EINVAL;
	}
	return 0;
}

static int parse_identifiers(struct dl_ctx *c, const char *origin, const config_setting_t *s,
			     struct dl_state *st)
{
	int n;

	if (config_setting_type(s) != CONFIG_TYPE_LIST &&
	    !(config_setting_type(s) == CONFIG_TYPE_ARRAY && config_setting_length(s) == 0)) {
		dl_error(c, origin, line_of(s), "identifiers", "expected a list ( { ... }, ... )");
		return -EINVAL;
	}
	n = config_setting_length(s);
	if (n > RG_DIALECT_MAX_IDENT) {
		dl_error(c, origin, line_of(s), "identifiers", "%d entries, at most %d allowed", n,
			 RG_DIALECT_MAX_IDENT);
		return -EINVAL;
	}
	for (int i = 0; i < n; i++) {
		int rc = parse_ident(c, origin, config_setting_get_elem(s, (unsigned)i),
				     (unsigned)i, &st->ident[i]);
		if (rc)
			return rc;
	}
	st->nb_ident = (unsigned)n;
	return 0;
}

static void state_defaults(struct dl_state *st)
{
	memset(st, 0, sizeof(*st));
	st->mti = RG_ISO_E_ASCII;
	st->bitmap = RG_ISO_E_HEX;
	st->numeric = RG_ISO_E_ASCII;
	st->text = RG_ISO_E_ASCII;
	st->binary = RG_ISO_E_HEX;
	st->prefix = RG_ISO_E_ASCII;
	st->pad = RG_ISO_PAD_LEFT;
	st->counts = COUNTS_DIGITS;
}

static const char *builtin_text(const char *name)
{
	for (const struct rg_dialect_builtin *b = rg_dialect_builtins; b->name; b++)
		if (strcmp(b->name, name) == 0)
			return b->text;
	return NULL;
}

/* Whole regular file into a NUL-terminated malloc'd buffer, or NULL/errno. */
static char *read_file(const char *path)
{
	struct stat sb;
	char *buf;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	if (fstat(fd, &sb) != 0)
		goto out_close;
	if (!S_ISREG(sb.st_mode)) {
		errno = EINVAL;
		goto out_close;
	}
	if (sb.st_size > DL_MAX_FILE_BYTES) {
		errno = EFBIG;
		goto out_close;
	}
	buf = malloc((size_t)sb.st_size + 1);
	if (buf == NULL)
		goto out_close;
	while (got < (size_t)sb.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)sb.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	if (strlen(buf) != got) {
		free(buf);
		errno = EINVAL;
		goto out_close;
	}
	close(fd);
	return buf;

out_close:
	{
		int e = errno;
		close(fd);
		errno = e;
	}
	return NULL;
}

static void default_name(const char *origin, char *name)
{
	const char *b = strrchr(origin, '/');
	size_t n;

	b = b ? b + 1 : origin;
	n = strlen(b);
	if (n > 4 && strcmp(b + n - 4, ".cfg") == 0)
		n -= 4;
	if (n >= RG_DIALECT_NAME_MAX)
		n = RG_DIALECT_NAME_MAX - 1;
	memcpy(name, b, n);
	name[n] = '\0';
}

static int parse_level(struct dl_ctx *c, const char *text, const char *origin,
		       bool builtin, struct dl_state *st);

/* Resolve and read the base named by s into st. */
static int parse_base(struct dl_ctx *c, const char *origin, bool builtin,
		      const config_setting_t *s, struct dl_state *st)
{
	const char *b = config_setting_get_string(s);
	const char *btext;
	char path[PATH_MAX], ident[PATH_MAX + 16];
	char *owned = NULL;
	bool bbuiltin;
	int rc;

	if (b == NULL || b[0] == '\0') {
		dl_error(c, origin, line_of(s), "base", "expected a dialect name or path");
		return -EINVAL;
	}
	btext = builtin_text(b);
	if (btext) {
		bbuiltin = true;
		snprintf(path, sizeof(path), "%s", b);
		snprintf(ident, sizeof(ident), "builtin:%s", b);
	} else if (builtin) {
		dl_error(c, origin, line_of(s), "base", "\"%s\" is not a built-in dialect", b);
		return -EINVAL;
	} else {
		const char *slash = strrchr(origin, '/');
		char real[PATH_MAX];
		int n;

		bbuiltin = false;
		if (b[0] == '/' || slash == NULL)
			n = snprintf(path, sizeof(path), "%s", b);
		else
			n = snprintf(path, sizeof(path), "%.*s/%s", (int)(slash - origin), origin, b);
		if (n < 0 || (size_t)n >= sizeof(path)) {
			dl_error(c, origin, line_of(s), "base", "path too long");
			return -ENAMETOOLONG;
		}
		if (realpath(path, real) == NULL) {
			rc = -errno;
			dl_error(c, origin, line_of(s), "base", "%s: %s", path, strerror(errno));
			return rc;
		}
		snprintf(ident, sizeof(ident), "file:%s", real);
	}

	for (int i = 0; i <= c->depth; i++) {
		if (c->chain[i] && strcmp(c->chain[i], ident) == 0) {
			dl_error(c, origin, line_of(s), "base",
				 "base loop: \"%s\" is already being read", b);
			return -ELOOP;
		}
	}
	if (c->depth >= DL_MAX_BASE_DEPTH) {
		dl_error(c, origin, line_of(s), "base", "bases nested deeper than %d levels",
			 DL_MAX_BASE_DEPTH);
		return -ELOOP;
	}
	if (!bbuiltin) {
		owned = read_file(path);
		if (owned == NULL) {
			rc = -errno;
			dl_error(c, origin, line_of(s), "base", "%s: %s", path, strerror(errno));
			return rc;
		}
		btext = owned;
	}
	c->depth++;
	c->chain[c->depth] = strdup(ident);
	if (c->chain[c->depth] == NULL) {
		rc = -ENOMEM;
		dl_error(c, origin, 0, NULL, "out of memory");
	} else {
		rc = parse_level(c, btext, path, bbuiltin, st);
	}
	free(c->chain[c->depth]);
	c->chain[c->depth] = NULL;
	c->depth--;
	free(owned);
	return rc;
}

static int check_identifiers(struct dl_ctx *c, const char *origin,
			     const config_setting_t *ids, const struct dl_state *st)
{
	for (unsigned i = 0; i < st->nb_ident; i++) {
		unsigned de = st->ident[i].de;
		char where[32];

		if (st->f[de].type != RG_ISO_T_NONE)
			continue;
		snprintf(where, sizeof(where), "identifiers[%u].de", i);
		if (ids)
			dl_error(c, origin, line_of(config_setting_get_elem(ids, i)), where,
				 "DE %u is not defined by this dialect", de);
		else
			dl_error(c, origin, 0, where,
				 "inherited identifier reads DE %u, which this dialect removes", de);
		return -EINVAL;
	}
	return 0;
}

static int parse_level(struct dl_ctx *c, const char *text, const char *origin,
		       bool builtin, struct dl_state *st)
{
	config_t cfg;
	const config_setting_t *root, *base, *ids = NULL;
	bool have_name = false;
	int rc = 0;

	if (strstr(text, "@include")) {
		dl_error(c, origin, 0, NULL, "@include is not supported in dialect files");
		return -EINVAL;
	}
	config_init(&cfg);
	config_set_options(&cfg, 0);
	if (config_read_string(&cfg, text) != CONFIG_TRUE) {
		dl_error(c, origin, config_error_line(&cfg), NULL, "syntax error: %s",
			 config_error_text(&cfg) ? config_error_text(&cfg) : "?");
		rc = -EINVAL;
		goto out_destroy;
	}
	root = config_root_setting(&cfg);

	base = config_setting_get_member(root, "base");
	if (base) {
		rc = parse_base(c, origin, builtin, base, st);
		if (rc)
			goto out_destroy;
	} else {
		state_defaults(st);
	}

	for (int i = 0; i < config_setting_length(root); i++) {
		const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
		const char *k = config_setting_name(s);

		if (strcmp(k, "base") == 0) {
			continue;
		} else if (strcmp(k, "name") == 0) {
			const char *v = config_setting_get_string(s);
			size_t n = v ? strlen(v) : 0;
			if (n == 0 || n >= RG_DIALECT_NAME_MAX) {
				dl_error(c, origin, line_of(s), k,
					 "expected a string of 1 to %d characters",
					 RG_DIALECT_NAME_MAX - 1);
				rc = -EINVAL;
			} else {
				memcpy(st->name, v, n + 1);
				have_name = true;
			}
		} else if (strcmp(k, "mti") == 0) {
			rc = get_keyword(c, origin, s, k, kw_mti, &st->mti);
		} else if (strcmp(k, "bitmap") == 0) {
			rc = get_keyword(c, origin, s, k, kw_bitmap, &st->bitmap);
		} else if (strcmp(k, "numeric") == 0) {
			rc = get_keyword(c, origin, s, k, kw_mti, &st->numeric);
		} else if (strcmp(k, "text") == 0) {
			rc = get_keyword(c, origin, s, k, kw_text, &st->text);
		} else if (strcmp(k, "binary") == 0) {
			rc = get_keyword(c, origin, s, k, kw_binary, &st->binary);
		} else if (strcmp(k, "prefix") == 0) {
			rc = get_keyword(c, origin, s, k, kw_prefix, &st->prefix);
		} else if (strcmp(k, "bcd_pad") == 0) {
			rc = get_keyword(c, origin, s, k, kw_pad, &st->pad);
		} else if (strcmp(k, "prefix_counts") == 0) {
			rc = get_keyword(c, origin, s, k, kw_counts, &st->counts);
		} else if (strcmp(k, "fields") == 0) {
			rc = parse_fields(c, origin, s, st);
		} else if (strcmp(k, "identifiers") == 0) {
			ids = s;
			rc = parse_identifiers(c, origin, s, st);
		} else {
			dl_error(c, origin, line_of(s), NULL,
				 "unknown key \"%s\" (expected name, base, mti, bitmap, numeric, text, binary, prefix, bcd_pad, prefix_counts, fields or identifiers)",
				 k);
			rc = -EINVAL;
		}
		if (rc)
			goto out_destroy;
	}
	if (!have_name)
		default_name(origin, st->name);
	rc = check_identifiers(c, origin, ids, st);

out_destroy:
	config_destroy(&cfg);
	return rc;
}

static void resolve(const struct dl_state *st, struct rg_dialect *d)
{
	memset(d, 0, sizeof(*d));
	memcpy(d->name, st->name, sizeof(d->name));
	d->mti_enc = st->mti;
	d->bitmap_enc = st->bitmap;
	for (unsigned de = 2; de <= RG_ISO_MAX_DE; de++) {
		const struct dl_field *f = &st->f[de];
		struct rg_iso_field_spec *s = &d->de[de];
		uint8_t counts;

		if (f->type == RG_ISO_T_NONE)
			continue;
		s->type = f->type;
		s->len = f->len;
		s->prefix_digits = f->prefix_digits;
		switch (f->type) {
		case RG_ISO_T_AN:
			s->enc = f->set & OV_TEXT ? f->text : st->text;
			break;
		case RG_ISO_T_B:
			s->enc = f->set & OV_BINARY ? f->binary : st->binary;
			break;
		default:
			s->enc = f->set & OV_NUMERIC ? f->numeric : st->numeric;
			break;
		}
		if (s->enc == RG_ISO_E_BCD)
			s->pad = f->set & OV_PAD ? f->pad : st->pad;
		if (f->prefix_digits) {
			s->prefix_enc = f->set & OV_PREFIX ? f->prefix : st->prefix;
			counts = f->set & OV_COUNTS ? f->counts : st->counts;
			s->prefix_in_bytes = s->enc == RG_ISO_E_BCD && counts == COUNTS_BYTES;
		}
	}
	d->nb_ident = (uint8_t)st->nb_ident;
	memcpy(d->ident, st->ident, sizeof(d->ident));
	rg_dialect_prepare(d);
}

static struct rg_dialect *parse_top(const char *text, const char *origin, bool builtin,
				    const char *identity, char *err, size_t err_cap)
{
	struct dl_ctx c = { .err = err, .err_cap = err_cap, .depth = 0 };
	struct dl_state *st;
	struct rg_dialect *d = NULL;
	int rc;

	if (err && err_cap)
		err[0] = '\0';
	st = malloc(sizeof(*st));
	if (st == NULL)
		return NULL;
	c.chain[0] = identity ? strdup(identity) : NULL;
	rc = parse_level(&c, text, origin, builtin, st);
	if (rc == 0) {
		d = malloc(sizeof(*d));
		if (d == NULL)
			rc = -ENOMEM;
		else
			resolve(st, d);
	}
	free(c.chain[0]);
	free(st);
	if (rc) {
		errno = -rc;
		return NULL;
	}
	return d;
}

struct rg_dialect *rg_dialect_parse(const char *text, const char *origin,
				    char *err, size_t err_cap)
{
	const char *b;

	if (text == NULL) {
		errno = EINVAL;
		return NULL;
	}
	if (origin == NULL)
		origin = "(string)";
	b = builtin_text(origin);
	return parse_top(text, origin, b && b == text, NULL, err, err_cap);
}

struct rg_dialect *rg_dialect_load(const char *name_or_path, char *err, size_t err_cap)
{
	const char *text = builtin_text(name_or_path);
	char real[PATH_MAX], ident[PATH_MAX + 16];
	struct rg_dialect *d;
	char *buf;
	int e;

	if (text) {
		snprintf(ident, sizeof(ident), "builtin:%s", name_or_path);
		return parse_top(text, name_or_path, true, ident, err, err_cap);
	}
	buf = read_file(name_or_path);
	if (buf == NULL) {
		e = errno;
		if (err && err_cap)
			snprintf(err, err_cap, "%s: %s%s", name_or_path, strerror(e),
				 strchr(name_or_path, '/') || e != ENOENT ? "" :
				 " (not a built-in dialect either)");
		errno = e;
		return NULL;
	}
	if (realpath(name_or_path, real) == NULL)
		snprintf(real, sizeof(real), "%s", name_or_path);
	snprintf(ident, sizeof(ident), "file:%s", real);
	d = parse_top(buf, name_or_path, false, ident, err, err_cap);
	e = errno;
	free(buf);
	errno = e;
	return d;
}

static const char *builtin_names[16];
static pthread_once_t builtin_names_once = PTHREAD_ONCE_INIT;

static void builtin_names_init(void)
{
	unsigned n = 0;

	for (const struct rg_dialect_builtin *b = rg_dialect_builtins;
	     b->name && n + 1 < sizeof(builtin_names) / sizeof(builtin_names[0]); b++)
		builtin_names[n++] = b->name;
	builtin_names[n] = NULL;
}

const char *const *rg_dialect_builtin_names(void)
{
	pthread_once(&builtin_names_once, builtin_names_init);
	return builtin_names;
}
