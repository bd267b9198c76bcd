/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * riskgate-ledger --dir D CMD ...: the offline tool over a ledger directory
 * (docs/ledger.md).  A thin layer over the library: a table of
 * { name, handler, help }; machine-readable output is JSON, one object per
 * line; messages for people go to stderr.
 *
 * Exit status: 0 success; 1 error (or verify found a fault); 2 usage;
 * 3 import skipped bad lines (the good ones are in); 4 pull refused a
 * bundle holding provably bad signed objects, kept as evidence.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "common/ident.h"
#include "common/table.h"
#include "ledger/cli.h"
#include "ledger/ledger.h"


struct command {
	const char *name;
	int (*run)(struct ledger_cli *c, int argc, char **argv);
	const char *usage;
	const char *help;
};

static const struct command commands[];


void ledger_cli_print_json(json_t *o)
{
	char *s = json_dumps(o, JSON_PRESERVE_ORDER | JSON_COMPACT);

	if (s != NULL) {
		fputs(s, stdout);
		fputc('\n', stdout);
		free(s);
	}
	json_decref(o);
}

json_t *ledger_cli_hexj(const uint8_t *b, size_t n)
{
	char buf[2 * LEDGER_ENTRY_MAX + 1];

	ledger_hex(b, n, buf);
	return json_string(buf);
}

static json_t *timej(uint64_t ms)
{
	char buf[40];

	ledger_time_str(ms, buf, sizeof(buf));
	return json_string(buf);
}

bool ledger_cli_parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (s == NULL || *s == '\0' || *s == '-')
		return false;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno == 0 && *end == '\0';
}

struct ledger *ledger_cli_open(struct ledger_cli *c, unsigned flags)
{
	char err[LEDGER_ERR_MAX];
	struct ledger *l;

	if (c->dir == NULL) {
		fprintf(stderr, "riskgate-ledger: --dir DIR is required\n");
		exit(EXIT_USAGE);
	}
	l = ledger_open(c->dir, flags, err, sizeof(err));
	if (l == NULL) {
		fprintf(stderr, "riskgate-ledger: %s\n", err);
		exit(1);
	}
	return l;
}

/* An argument or other untrusted text as a message may quote it: into buf,
 * masked (ledger_mask_copy). */
static const char *masked(const char *s, char *buf, size_t cap)
{
	ledger_mask_copy(s, strlen(s), buf, cap);
	return buf;
}

int ledger_cli_member_arg(struct ledger *l, const char *name)
{
	char mb[80];
	int m;

	if (name == NULL) {
		m = ledger_self(l);
		if (m < 0)
			fprintf(stderr, "riskgate-ledger: no own member here; name one with --member\n");
		return m;
	}
	m = ledger_member_find_name(ledger_consortium(l), name);
	if (m < 0)
		fprintf(stderr, "riskgate-ledger: unknown member '%s'\n", masked(name, mb, sizeof(mb)));
	return m;
}

/* ---- init, genesis ---- */

static int copy_file(const char *from, const char *to, mode_t mode)
{
	char buf[65536];
	ssize_t n;
	int in, out, rc = 0;

	in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (out < 0) {
		rc = -errno;
		close(in);
		return rc;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			rc = -EIO;
			break;
		}
	if (n < 0)
		rc = -errno;
	if (rc == 0 && fsync(out) != 0)
		rc = -errno;
	close(in);
	close(out);
	sodium_memzero(buf, sizeof(buf));
	if (rc != 0)
		unlink(to);
	return rc;
}

static int cmd_init(struct ledger_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "member", required_argument, NULL, 'm' },
		{ "genesis", required_argument, NULL, 'g' },
		{ "fp-key", required_argument, NULL, 'k' },
		{ "consortium", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	const char *member = NULL, *genesis = NULL, *fpkey = NULL, *cons = "consortium";
	char path[PATH_MAX], err[LEDGER_ERR_MAX];
	struct ledger_member me;
	struct ledger *l;
	json_t *o;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'm': member = optarg; break;
		case 'g': genesis = optarg; break;
		case 'k': fpkey = optarg; break;
		case 'c': cons = optarg; break;
		default: ledger_cli_usage_exit("init");
		}
	}
	if (member == NULL || optind != argc || c->dir == NULL)
		ledger_cli_usage_exit("init");
	if (mkdir(c->dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "riskgate-ledger: %s: %s\n", c->dir, strerror(errno));
		return 1;
	}
	rc = ledger_identity_generate(c->dir, member, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "riskgate-ledger: %s\n", err);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/fp.key", c->dir);
	if (fpkey != NULL) {
		struct rg_fp_key *k = rg_fp_key_load(fpkey, err, sizeof(err));

		if (k == NULL) {
			fprintf(stderr, "riskgate-ledger: --fp-key: %s\n", err);
			return 1;
		}
		rg_fp_key_free(k);
		rc = copy_file(fpkey, path, 0600);
		if (rc != 0) {
			fprintf(stderr, "riskgate-ledger: %s: %s\n", path, strerror(-rc));
			return 1;
		}
	} else if (rg_fp_key_generate(path, 1, err, sizeof(err)) != 0) {
		fprintf(stderr, "riskgate-ledger: %s\n", err);
		return 1;
	}
	if (ledger_pub_load(c->dir, &me, err, sizeof(err)) != 0) {
		fprintf(stderr, "riskgate-ledger: %s\n", err);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/genesis.json", c->dir);
	if (genesis != NULL) {
		struct ledger_consortium *cs = malloc(sizeof(*cs));

		rc = cs == NULL ? -ENOMEM : ledger_genesis_load(genesis, cs, err, sizeof(err));
		free(cs);
		if (rc != 0) {
			fprintf(stderr, "riskgate-ledger: %s\n", err);
			return 1;
		}
		rc = copy_file(genesis, path, 0644);
		if (rc != 0) {
			fprintf(stderr, "riskgate-ledger: %s: %s\n", path, strerror(-rc));
			return 1;
		}
	} else if (ledger_genesis_write(path, cons, &me, 1, err, sizeof(err)) != 0) {
		fprintf(stderr, "riskgate-ledger: %s\n", err);
		return 1;
	}
	/* a genesis that does not list this member: it joins later, when a
	 * membership change admits it (docs/sync.md, "Joining") */
	l = ledger_cli_open(c, LEDGER_OPEN_WRITE | (genesis != NULL ? LEDGER_OPEN_JOIN : 0));
	if (ledger_self(l) < 0)
		fprintf(stderr, "riskgate-ledger: %s is not in this genesis: it joins once a "
			"membership change admits it (membership propose add %s)\n", me.name,
			c->dir);
	ledger_close(l);
	o = json_pack("{s:s, s:o, s:o}", "member", me.name, "id",
		      ledger_cli_hexj(me.id, LEDGER_ID_BYTES), "public_key",
		      ledger_cli_hexj(me.pk, LEDGER_PK_BYTES));
	ledger_cli_tls_set(o, &me);
	json_object_set_new(o, "dir", json_string(c->dir));
	ledger_cli_print_json(o);
	return 0;
}

static int cmd_genesis(struct ledger_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "consortium", required_argument, NULL, 'c' },
		{ "install", no_argument, NULL, 'i' },
		{ NULL, 0, NULL, 0 },
	};
	const char *out = NULL, *cons = "consortium";
	struct ledger_member *mem;
	char err[LEDGER_ERR_MAX];
	bool install = false;
	int o, n;

	(void)c;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'o': out = optarg; break;
		case 'c': cons = optarg; break;
		case 'i': install = true; break;
		default: ledger_cli_usage_exit("genesis");
		}
	}
	n = argc - optind;
	if (out == NULL || n < 1 || n > LEDGER_MEMBERS_MAX)
		ledger_cli_usage_exit("genesis");
	mem = calloc((size_t)n, sizeof(*mem));
	if (mem == NULL)
		return 1;
	for (int i = 0; i < n; i++)
		if (ledger_pub_load(argv[optind + i], &mem[i], err, sizeof(err)) != 0) {
			fprintf(stderr, "riskgate-ledger: %s\n", err);
			free(mem);
			return 1;
		}
	if (ledger_genesis_write(out, cons, mem, (unsigned)n, err, sizeof(err)) != 0) {
		fprintf(stderr, "riskgate-ledger: %s\n", err);
		free(mem);
		return 1;
	}
	free(mem);
	for (int i = 0; install && i < n; i++) {
		char path[PATH_MAX], tmp[PATH_MAX + 8];
		struct ledger_cli sub = { argv[optind + i], false };
		struct ledger *l;
		struct ledger_head h;
		unsigned nb_members;
		int rc;

		/* Only a ledger whose logs are all empty may change its genesis. */
		l = ledger_cli_open(&sub, OPEN_READER);
		nb_members = ledger_consortium(l)->nb_members;
		for (unsigned m = 0; m < nb_members; m++)
			if (ledger_head_get(l, m, &h) == 0 && h.size > 0) {
				fprintf(stderr, "riskgate-ledger: %s already holds entries: its "
						"genesis cannot change\n", sub.dir);
				ledger_close(l);
				return 1;
			}
		ledger_close(l);
		snprintf(path, sizeof(path), "%s/genesis.json", sub.dir);
		snprintf(tmp, sizeof(tmp), "%s.new", path);
		unlink(tmp);
		rc = copy_file(out, tmp, 0644);
		if (rc == 0 && rename(tmp, path) != 0)
			rc = -errno;
		if (rc != 0) {
			fprintf(stderr, "riskgate-ledger: %s: %s\n", path, strerror(-rc));
			return 1;
		}
		l = ledger_cli_open(&sub, LEDGER_OPEN_WRITE);
		ledger_close(l);
	}
	ledger_cli_print_json(json_pack("{s:s, s:i, s:b}", "genesis", out, "members", n, "installed",
			     install));
	return 0;
}

/* ---- import, add, revoke, hit, key-epoch ---- */

struct import_ui {
	bool progress_json;
	bool bar;
	uint64_t total_bytes;
	uint64_t nb_bad_shown;
};

static void on_block(void *arg, const struct ledger_block *b, uint64_t bytes_done)
{
	struct import_ui *ui = arg;

	if (ui->progress_json) {
		char root[65];

		ledger_hex(b->tree_root, 32, root);
		printf("{\"block\": %llu, \"size\": %llu, \"root\": \"%s\"}\n",
		       (unsigned long long)b->height,
		       (unsigned long long)(b->first_pos + b->nb_entries), root);
		fflush(stdout);
	}
	if (ui->bar && ui->total_bytes > 0) {
		unsigned pct = (unsigned)(bytes_done * 100 / ui->total_bytes), w = pct * 40 / 100;
		char bar[41];

		memset(bar, '#', w);
		memset(bar + w, ' ', 40 - w);
		bar[40] = '\0';
		fprintf(stderr, "\r[%s] %3u%% %llu entries", bar, pct,
			(unsigned long long)(b->first_pos + b->nb_entries));
	}
}

static void on_bad(void *arg, uint64_t line, const char *why)
{
	struct import_ui *ui = arg;

	if (ui->bar)
		fputc('\n', stderr);
	fprintf(stderr, "line %llu: %s\n", (unsigned long long)line, why);
	ui->nb_bad_shown++;
}

static int cmd_import(struct ledger_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "strict", no_argument, NULL, 's' },
		{ "block", required_argument, NULL, 'b' },
		{ "progress-json", no_argument, NULL, 'p' },
		{ "no-progress", no_argument, NULL, 'q' },
		{ "now", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	struct ledger_import_opts io = { 0 };
	struct ledger_import_stats st;
	struct import_ui ui = { 0 };
	char err[LEDGER_ERR_MAX];
	bool quiet = false;
	struct ledger_head h;
	struct ledger *l;
	struct stat sb;
	uint64_t v, t0, t1;
	int o, rc;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 's': io.strict = true; break;
		case 'b':
			if (!ledger_cli_parse_u64(optarg, &v) || v == 0 || v > LEDGER_BLOCK_MAX)
				ledger_cli_usage_exit("import");
			io.block_size = (unsigned)v;
			break;
		case 'p': ui.progress_json = true; break;
		case 'q': quiet = true; break;
		case 'n':
			if (!ledger_cli_parse_u64(optarg, &io.now_s))
				ledger_cli_usage_exit("import");
			break;
		default: ledger_cli_usage_exit("import");
		}
	}
	if (optind != argc - 1)
		ledger_cli_usage_exit("import");
	ui.bar = !quiet && isatty(STDERR_FILENO);
	if (stat(argv[optind], &sb) == 0)
		ui.total_bytes = (uint64_t)sb.st_size;
	io.on_block = on_block;
	io.on_bad = on_bad;
	io.arg = &ui;
	l = ledger_cli_open(c, LEDGER_OPEN_WRITE);
	t0 = ledger_now_ms();
	rc = ledger_import(l, argv[optind], &io, &st, err, sizeof(err));
	t1 = ledger_now_ms();
	if (ui.bar)
		fputc('\n', stderr);
	if (rc != 0) {
		fprintf(stderr, "riskgate-ledger: import: %s (%llu entries in %llu blocks were "
				"committed before)\n", err, (unsigned long long)st.nb_imported,
			(unsigned long long)st.nb_blocks);
		ledger_close(l);
		return 1;
	}
	ledger_head_get(l, (unsigned)ledger_self(l), &h);
	{
		double secs = (double)(t1 - t0) / 1000.0;

		ledger_cli_print_json(json_pack("{s:I, s:I, s:I, s:I, s:I, s:o, s:f, s:f}", "lines",
				     (json_int_t)st.nb_lines, "imported", (json_int_t)st.nb_imported,
				     "bad", (json_int_t)st.nb_bad, "blocks", (json_int_t)st.nb_blocks,
				     "size", (json_int_t)h.size, "root", ledger_cli_hexj(h.root, 32), "seconds",
				     secs, "entries_per_s",
				     secs > 0 ? (double)st.nb_imported / secs : 0.0));
	}
	ledger_close(l);
	return st.nb_bad > 0 ? EXIT_BAD_LINES : 0;
}

static int append_one(struct ledger *l, struct ledger_entry *e, const char *what)
{
	uint8_t buf[LEDGER_ENTRY_MAX];
	const uint8_t *p = buf;
	char err[LEDGER_ERR_MAX];
	struct ledger_block b;
	uint16_t len;
	int n;

	n = ledger_entry_encode(e, buf);
	if (n < 0) {
		fprintf(stderr, "riskgate-ledger: %s: entry out of range\n", what);
		return 1;
	}
	len = (uint16_t)n;
	if (ledger_append(l, &p, &len, 1, &b, err, sizeof(err)) != 0) {
		fprintf(stderr, "riskgate-ledger: %s refused: %s\n", what, err);
		return 1;
	}
	ledger_cli_print_json(json_pack("{s:s, s:I, s:I, s:o, s:o}", "op", ledger_op_name(e->op), "pos",
			     (json_int_t)b.first_pos, "size", (json_int_t)(b.first_pos + 1), "root",
			     ledger_cli_hexj(b.tree_root, 32), "entry", ledger_cli_hexj(buf, len)));
	return 0;
}

/* Fingerprint of LIST KIND VALUE arguments into e; 0 or prints why. */
static int fp_args(struct ledger *l, const char *list, const char *kind, const char *value,
		   struct ledger_entry *e)
{
	const struct ledger_consortium *cs = ledger_consortium(l);
	char norm[RG_IDENT_MAX_LEN], mb[80];
	int li, n;

	li = ledger_list_find(cs, list);
	if (li < 0) {
		fprintf(stderr, "riskgate-ledger: unknown list '%s'\n", masked(list, mb, sizeof(mb)));
		return -1;
	}
	e->list = (uint8_t)li;
	e->kind = (uint8_t)rg_kind_from_name(kind);
	if (e->kind == RG_KIND_NONE) {
		fprintf(stderr, "riskgate-ledger: unknown kind '%s'\n", masked(kind, mb, sizeof(mb)));
		return -1;
	}
	n = rg_ident_normalise(e->kind, value, strlen(value), norm);
	if (n < 0) {
		ledger_mask_value(e->kind, value, strlen(value), mb, sizeof(mb));
		fprintf(stderr, "riskgate-ledger: '%s' is not a valid %s\n", mb,
			rg_kind_name(e->kind));
		return -1;
	}
	if (e->kind == RG_KIND_PAN && cs->lists[li].luhn && !rg_luhn_ok(norm, (size_t)n)) {
		fprintf(stderr, "riskgate-ledger: PAN fails the Luhn check list %s requires\n", list);
		sodium_memzero(norm, sizeof(norm));
		return -1;
	}
	rg_fp_compute(ledger_fp_key(l), e->kind, norm, (size_t)n, &e->fp);
	e->key_epoch = ledger_fp_key(l)->epoch;
	sodium_memzero(norm, sizeof(norm));
	return 0;
}

static int set_reason(struct ledger_entry *e, const char *reason, const char *what)
{
	size_t n = reason ? strlen(reason) : 0;
	const char *why = ledger_reason_check(reason ? reason : "", n);

	if (why != NULL) {
		fprintf(stderr, "riskgate-ledger: %s refused: %s\n", what, why);
		return -1;
	}
	memcpy(e->reason, reason ? reason : "", n);
	e->reason_len = (uint8_t)n;
	return 0;
}

static int cmd_add(struct ledger_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "severity", required_argument, NULL, 's' },
		{ "expiry", required_argument, NULL, 'e' },
		{ "reason", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sev = "medium", *exp = "", *reason = NULL;
	struct ledger_entry *e = calloc(1, sizeof(*e));
	struct ledger *l;
	char mb[80];
	int o, s, rc = 1;

	if (e == NULL)
		return 1;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 's': sev = optarg; break;
		case 'e': exp = optarg; break;
		case 'r': reason = optarg; break;
		default: ledger_cli_usage_exit("add");
		}
	}
	if (optind != argc - 3)
		ledger_cli_usage_exit("add");
	l = ledger_cli_open(c, LEDGER_OPEN_WRITE);
	e->op = LEDGER_OP_ADD;
	e->time_ms = ledger_now_ms();
	s = ledger_severity_from_name(sev);
	if (s < 0) {
		fprintf(stderr, "riskgate-ledger: unknown severity '%s'\n", masked(sev, mb, sizeof(mb)));
		goto out;
	}
	e->severity = (uint8_t)s;
	e->action = (uint8_t)ledger_severity_action((unsigned)s);
	if (ledger_parse_time(exp, strlen(exp), &e->expiry_s) != 0) {
		fprintf(stderr, "riskgate-ledger: bad --expiry '%s'\n", masked(exp, mb, sizeof(mb)));
		goto out;
	}
	if (set_reason(e, reason, "add") != 0 ||
	    fp_args(l, argv[optind], argv[optind + 1], argv[optind + 2], e) != 0)
		goto out;
	if (ledger_state_get(l, &e->fp, e->list, (unsigned)ledger_self(l), NULL, NULL) == 0) {
		fprintf(stderr, "riskgate-ledger: already listed by this member\n");
		goto out;
	}
	rc = append_one(l, e, "add");
out:
	ledger_close(l);
	free(e);
	return rc;
}

static int cmd_revoke(struct ledger_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "reason", required_argument, NULL, 'r' },
		{ "member", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	const char *reason = NULL, *owner = NULL;
	struct ledger_entry *e = calloc(1, sizeof(*e)), *t = calloc(1, sizeof(*t));
	const struct ledger_consortium *cs;
	uint8_t buf[LEDGER_ENTRY_MAX];
	struct ledger *l;
	size_t len;
	uint64_t pos;
	int o, m, rc = 1;

	if (e == NULL || t == NULL) {
		free(e);
		free(t);
		return 1;
	}
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'r': reason = optarg; break;
		case 'm': owner = optarg; break;
		default: ledger_cli_usage_exit("revoke");
		}
	}
	if (optind != argc - 1 && optind != argc - 3)
		ledger_cli_usage_exit("revoke");
	l = ledger_cli_open(c, LEDGER_OPEN_WRITE);
	cs = ledger_consortium(l);
	/* --member names whose entry is meant; anyone but the contributor is
	 * refused by the ledger with the reason. */
	m = owner != NULL ? ledger_cli_member_arg(l, owner) : ledger_self(l);
	if (m < 0 || set_reason(e, reason, "revoke") != 0)
		goto out;
	if (optind == argc - 1) {
		const char *why;

		if (!ledger_cli_parse_u64(argv[optind], &pos))
			ledger_cli_usage_exit("revoke");
		if (ledger_entry_get(l, (unsigned)m, pos, buf, &len, NULL) != 0 ||
		    ledger_entry_decode(buf, len, t, &why) != 0 || t->op != LEDGER_OP_ADD) {
			fprintf(stderr, "riskgate-ledger: %s has no ADD at position %llu\n",
				cs->members[m].name, (unsigned long long)pos);
			goto out;
		}
		e->list = t->list;
		e->kind = t->kind;
		e->fp = t->fp;
		e->key_epoch = t->key_epoch;
	} else {
		if (fp_args(l, argv[optind], argv[optind + 1], argv[optind + 2], e) != 0)
			goto out;
		if (ledger_state_get(l, &e->fp, e->list, (unsigned)m, &pos, NULL) != 0) {
			fprintf(stderr, "riskgate-ledger: %s holds no such entry on %s\n",
				cs->members[m].name, argv[optind]);
			goto out;
		}
	}
	e->op = LEDGER_OP_REVOKE;
	e->time_ms = ledger_now_ms();
	memcpy(e->ref_member, cs->members[m].id, LEDGER_ID_BYTES);
	e->ref_pos = pos;
	rc = append_one(l, e, "revoke");
out:
	ledger_close(l);
	free(e);
	free(t);
	return rc;
}

/* Open the receipts store of l; prints why on failure. */
static struct ledger_receipts *receipts_or_die(struct ledger *l)
{
	char err[LEDGER_ERR_MAX];
	struct ledger_receipts *s = ledger_receipts_open(l, err, sizeof(err));

	if (s == NULL)
		fprintf(stderr, "riskgate-ledger: %s\n", err);
	return s;
}

static int cmd_hit(struct ledger_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "detail", required_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	const char *detail = "";
	struct ledger_receipts *s = NULL;
	struct ledger_receipt r;
	struct ledger_block b;
	char err[LEDGER_ERR_MAX];
	struct ledger *l;
	uint64_t pos, nb_marked, nb_again;
	int o, m, rc = 1;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o != 'd')
			ledger_cli_usage_exit("hit");
		detail = optarg;
	}
	if (optind != argc - 2 || !ledger_cli_parse_u64(argv[optind + 1], &pos))
		ledger_cli_usage_exit("hit");
	if (strlen(detail) > LEDGER_DETAIL_MAX) {
		fprintf(stderr, "riskgate-ledger: hit: --detail is longer than %u bytes\n",
			LEDGER_DETAIL_MAX);
		return EXIT_USAGE;
	}
	l = ledger_cli_open(c, LEDGER_OPEN_WRITE);
	m = ledger_cli_member_arg(l, argv[optind]);
	if (m < 0)
		goto out;
	memset(&r, 0, sizeof(r));
	if (ledger_receipt_ref(l, (unsigned)m, pos, &r, err, sizeof(err)) != 0) {
		fprintf(stderr, "riskgate-ledger: %s\n", err);
		goto out;
	}
	s = receipts_or_die(l);
	if (s == NULL)
		goto out;
	/* batches a crash of riskgated cut are finished before this one */
	if (ledger_receipts_recover(l, s, &nb_marked, &nb_again, err, sizeof(err)) != 0)
		fprintf(stderr, "riskgate-ledger: pending receipts: %s\n", err);
	else if (nb_marked + nb_again > 0)
		fprintf(stderr, "riskgate-ledger: %llu pending receipts finished (%llu appended again)\n",
			(unsigned long long)(nb_marked + nb_again), (unsigned long long)nb_again);
	/* The receipt commits to the detail (e.g. STAN, RRN, time) under a
	 * random salt kept in the receipts store: the hit can be proven later
	 * without revealing it now. */
	r.detail = detail;
	r.detail_len = strlen(detail);
	if (ledger_receipts_append(l, s, &r, 1, &b, err, sizeof(err)) != 0) {
		fprintf(stderr, "riskgate-ledger: hit refused: %s\n", err);
		goto out;
	}
	ledger_cli_print_json(json_pack("{s:s, s:I, s:I, s:o, s:o, s:I, s:o, s:s}", "op", "HIT", "pos",
			     (json_int_t)r.hit_pos, "size", (json_int_t)(r.hit_pos + 1), "root",
			     ledger_cli_hexj(b.tree_root, 32), "entry", ledger_cli_hexj(r.entry, sizeof(r.entry)),
			     "receipt", (json_int_t)r.seq, "salt", ledger_cli_hexj(r.salt, sizeof(r.salt)),
			     "note", "the salt opens the commitment SHA-256(salt || detail); "
				     "`receipt open` shows both"));
	rc = 0;
out:
	ledger_receipts_close(s);
	ledger_close(l);
	return rc;
}

/* Positions of the own log's HIT entries. */
struct hit_positions {
	int self;
	uint64_t *pos;
	size_t nb, cap;
};

static int own_hit(void *arg, unsigned member, uint64_t pos, const struct ledger_entry *e,
		   int ref, bool ref_ok)
{
	struct hit_positions *h = arg;

	(void)e, (void)ref, (void)ref_ok;
	if ((int)member != h->self)
		return 0;
	if (h->nb == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 1024;
		uint64_t *p = realloc(h->pos, cap * sizeof(*p));

		if (p == NULL)
			return -ENOMEM;
		h->pos = p;
		h->cap = cap;
	}
	h->pos[h->nb++] = pos;
	return 0;
}

/* receipt verify: every HIT of the own log opens and checks out, and so
 * does every local receipt kept; the first problem is reported. */
static int receipt_verify(struct ledger *l, struct ledger_receipts *s,
			  struct ledger_receipt_opening *op)
{
	struct hit_positions h = { .self = ledger_self(l) };
	struct ledger_receipts_stats st;
	char why[LEDGER_ERR_MAX] = "";
	uint64_t nb_local = 0, nb_pending = 0;
	int r;

	if (h.self < 0) {
		fprintf(stderr, "riskgate-ledger: no own member here\n");
		return 1;
	}
	r = ledger_hits_iterate(l, own_hit, &h);
	for (size_t i = 0; r == 0 && i < h.nb; i++) {
		r = ledger_receipt_get_pos(s, h.pos[i], op);
		if (r != 0) {
			snprintf(why, sizeof(why), "the HIT at position %llu has no kept opening",
				 (unsigned long long)h.pos[i]);
			break;
		}
		r = ledger_receipt_check(l, op, NULL, why, sizeof(why));
	}
	ledger_receipts_stats(s, &st);
	for (uint64_t n = 0; r == 0 && n < st.nb_receipts; n++) {
		r = ledger_receipt_get(s, n, op);
		if (r == -ENOENT) { /* a batch that failed left its number unused */
			r = 0;
			continue;
		}
		if (r != 0) {
			snprintf(why, sizeof(why), "receipt %llu: unreadable (%s)",
				 (unsigned long long)n, strerror(-r));
			break;
		}
		if (op->pending) {
			nb_pending++;
			continue;
		}
		if (op->mode != LEDGER_RECEIPT_LOCAL)
			continue;
		nb_local++;
		r = ledger_receipt_check(l, op, NULL, why, sizeof(why));
	}
	free(h.pos);
	if (r != 0) {
		fprintf(stderr, "riskgate-ledger: %s\n", why[0] ? why : strerror(-r));
		ledger_cli_print_json(json_pack("{s:b, s:s}", "ok", 0, "problem", why[0] ? why : strerror(-r)));
		return 1;
	}
	ledger_cli_print_json(json_pack("{s:b, s:I, s:I, s:I, s:I}", "ok", 1, "shared", (json_int_t)h.nb,
			     "local", (json_int_t)nb_local, "pending", (json_int_t)nb_pending,
			     "receipts", (json_int_t)st.nb_receipts));
	return 0;
}

/* receipt open N | open --pos P | verify */
static int cmd_receipt(struct ledger_cli *c, int argc, char **argv)
{
	struct ledger_receipt_opening *op = malloc(sizeof(*op));
	struct ledger_receipts *s = NULL;
	struct ledger *l;
	bool by_pos = false, verify = false;
	json_t *j;
	uint64_t n = 0;
	int rc = 1, r;

	if (op == NULL)
		return 1;
	if (argc == 2 && strcmp(argv[1], "verify") == 0)
		verify = true;
	else if (argc == 4 && strcmp(argv[1], "open") == 0 && strcmp(argv[2], "--pos") == 0)
		by_pos = true;
	else if (argc != 3 || strcmp(argv[1], "open") != 0)
		ledger_cli_usage_exit("receipt");
	if (!verify && !ledger_cli_parse_u64(argv[argc - 1], &n))
		ledger_cli_usage_exit("receipt");
	l = ledger_cli_open(c, LEDGER_OPEN_READ_ONLY);
	s = receipts_or_die(l);
	if (s == NULL)
		goto out;
	if (verify) {
		rc = receipt_verify(l, s, op);
		goto out;
	}
	r = by_pos ? ledger_receipt_get_pos(s, n, op) : ledger_receipt_get(s, n, op);
	if (r != 0) {
		fprintf(stderr, "riskgate-ledger: %s %llu: %s\n",
			by_pos ? "no receipt kept for the HIT at position" : "no receipt",
			(unsigned long long)n, r == -ENOENT ? "not in the receipts store"
							    : strerror(-r));
		goto out;
	}
	j = ledger_receipt_json(l, op);
	if (j == NULL)
		goto out;
	rc = json_is_true(json_object_get(j, "verified")) ? 0 : 1;
	if (rc != 0)
		fprintf(stderr, "riskgate-ledger: %s\n",
			json_string_value(json_object_get(j, "problem")) ?: "not verified");
	ledger_cli_print_json(j);
out:
	ledger_receipts_close(s);
	ledger_close(l);
	free(op);
	return rc;
}

/* HIT entries counted per (recording member, contributor, list). */
struct hit_count {
	unsigned recorder, contributor, list;
	uint64_t n;
};

struct hit_tally {
	int want;	  /* contributor index, -1 for every one */
	struct hit_count *c;
	size_t nb, cap;
	uint64_t total, bad_refs;
};

static int tally_hit(void *arg, unsigned member, uint64_t pos, const struct ledger_entry *e,
		     int ref, bool ref_ok)
{
	struct hit_tally *t = arg;
	size_t i;

	(void)pos;
	if (t->want >= 0 && ref != t->want)
		return 0;
	if (!ref_ok || ref < 0) {
		t->bad_refs++;
		return 0;
	}
	t->total++;
	for (i = 0; i < t->nb; i++)
		if (t->c[i].recorder == member && t->c[i].contributor == (unsigned)ref &&
		    t->c[i].list == e->list)
			break;
	if (i == t->nb) {
		if (t->nb == t->cap) {
			size_t cap = t->cap ? 2 * t->cap : 64;
			struct hit_count *p = realloc(t->c, cap * sizeof(*p));

			if (p == NULL)
				return -ENOMEM;
			t->c = p;
			t->cap = cap;
		}
		t->c[t->nb++] = (struct hit_count){ member, (unsigned)ref, e->list, 0 };
	}
	t->c[i].n++;
	return 0;
}

static int cmd_receipts(struct ledger_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "member", required_argument, NULL, 'm' },
		{ "all", no_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 },
	};
	const char *member = NULL;
	struct hit_tally t = { .want = -1 };
	const struct ledger_consortium *cs;
	struct ledger *l;
	bool all = false;
	int o, rc;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'm': member = optarg; break;
		case 'a': all = true; break;
		default: ledger_cli_usage_exit("receipts");
		}
	}
	if (optind != argc || (all && member != NULL))
		ledger_cli_usage_exit("receipts");
	l = ledger_cli_open(c, OPEN_READER);
	cs = ledger_consortium(l);
	if (!all) {
		t.want = ledger_cli_member_arg(l, member);
		if (t.want < 0) {
			ledger_close(l);
			return 1;
		}
	}
	rc = ledger_hits_iterate(l, tally_hit, &t);
	if (rc != 0) {
		fprintf(stderr, "riskgate-ledger: receipts: %s\n", strerror(-rc));
		goto out;
	}
	for (size_t i = 0; i < t.nb; i++)
		ledger_cli_print_json(json_pack("{s:s, s:s, s:s, s:I}", "contributor",
				     cs->members[t.c[i].contributor].name, "list",
				     cs->lists[t.c[i].list].name[0] ? cs->lists[t.c[i].list].name : "?",
				     "recorded_by", cs->members[t.c[i].recorder].name, "hits",
				     (json_int_t)t.c[i].n));
	ledger_cli_print_json(json_pack("{s:o, s:I, s:I}", "contributor",
			     t.want >= 0 ? json_string(cs->members[t.want].name) : json_null(),
			     "hits", (json_int_t)t.total, "bad_refs", (json_int_t)t.bad_refs));
out:
	free(t.c);
	ledger_close(l);
	return rc == 0 ? 0 : 1;
}

static int cmd_key_epoch(struct ledger_cli *c, int argc, char **argv)
{
	struct ledger_entry *e = calloc(1, sizeof(*e));
	struct ledger *l;
	uint64_t ep;
	int rc;

	if (e == NULL)
		return 1;
	if (argc != 2 || !ledger_cli_parse_u64(argv[1], &ep) || ep == 0 || ep > UINT32_MAX)
		ledger_cli_usage_exit("key-epoch");
	l = ledger_cli_open(c, LEDGER_OPEN_WRITE);
	e->op = LEDGER_OP_KEY_EPOCH;
	e->time_ms = ledger_now_ms();
	e->payload_len = 4;
	e->payload[0] = (uint8_t)(ep >> 24);
	e->payload[1] = (uint8_t)(ep >> 16);
	e->payload[2] = (uint8_t)(ep >> 8);
	e->payload[3] = (uint8_t)ep;
	rc = append_one(l, e, "key-epoch");
	ledger_close(l);
	free(e);
	return rc;
}

/* ---- membership changes ---- */

static json_t *change_json(const struct ledger_membership_change *mc)
{
	json_t *sigs = json_array(), *tls;

	for (unsigned i = 0; i < mc->nb_sigs; i++)
		json_array_append_new(sigs, json_pack("{s:i, s:o}", "signer", (int)mc->signer[i],
						      "signature", ledger_cli_hexj(mc->sig[i], 64)));
	/* a remove carries no TLS key */
	tls = sodium_is_zero(mc->tls_pk, 32) ? json_null() : ledger_cli_hexj(mc->tls_pk, 32);
	return json_pack("{s:s, s:i, s:s, s:o, s:o, s:o}", "action",
			 mc->action == 1 ? "add" : "remove", "seq", (int)mc->seq, "name", mc->name,
			 "public_key", ledger_cli_hexj(mc->pk, 32), "tls_key", tls, "signatures",
			 sigs);
}

static int change_load(const char *path, struct ledger_membership_change *mc)
{
	json_error_t jerr;
	json_t *o = json_load_file(path, 0, &jerr), *sigs, *v, *tls = NULL;
	const char *action, *name, *pk;
	json_int_t seq;
	size_t i;

	memset(mc, 0, sizeof(*mc));
	/* "tls_key": 64 hex, or null (none: a remove) */
	if (o == NULL || json_unpack(o, "{s:s, s:I, s:s, s:s, s?o, s:o}", "action", &action, "seq",
				     &seq, "name", &name, "public_key", &pk, "tls_key", &tls,
				     "signatures", &sigs) != 0 ||
	    !json_is_array(sigs) || json_array_size(sigs) > LEDGER_MEMBERSHIP_SIGS_MAX ||
	    strlen(name) > LEDGER_NAME_MAX || seq < 1 || seq > UINT32_MAX ||
	    ledger_unhex(pk, strlen(pk), mc->pk, 32) != 0 ||
	    (tls != NULL && !json_is_null(tls) &&
	     (!json_is_string(tls) || ledger_unhex(json_string_value(tls),
						   strlen(json_string_value(tls)), mc->tls_pk,
						   32) != 0))) {
		fprintf(stderr, "riskgate-ledger: %s: not a membership change file\n", path);
		json_decref(o);
		return -1;
	}
	if (ledger_name_check(name) != NULL) {
		fprintf(stderr, "riskgate-ledger: %s: member %s\n", path, ledger_name_check(name));
		json_decref(o);
		return -1;
	}
	mc->action = strcmp(action, "add") == 0 ? 1 : strcmp(action, "remove") == 0 ? 2 : 0;
	mc->seq = (uint32_t)seq;
	snprintf(mc->name, sizeof(mc->name), "%s", name);
	json_array_foreach(sigs, i, v) {
		json_int_t s;
		const char *sig;

		if (json_unpack(v, "{s:I, s:s}", "signer", &s, "signature", &sig) != 0 || s < 0 ||
		    s >= LEDGER_MEMBERS_MAX || ledger_unhex(sig, strlen(sig), mc->sig[i], 64) != 0) {
			fprintf(stderr, "riskgate-ledger: %s: bad signature %zu\n", path, i);
			json_decref(o);
			return -1;
		}
		mc->signer[i] = (uint16_t)s;
		mc->nb_sigs++;
	}
	json_decref(o);
	return mc->action != 0 ? 0 : -1;
}

static int change_save(const char *path, const struct ledger_membership_change *mc)
{
	json_t *o = change_json(mc);
	int rc = json_dump_file(o, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	json_decref(o);
	if (rc != 0)
		fprintf(stderr, "riskgate-ledger: %s: cannot write\n", path);
	return rc;
}

static int cmd_membership(struct ledger_cli *c, int argc, char **argv)
{
	struct ledger_membership_change *mc = calloc(1, sizeof(*mc));
	const struct ledger_consortium *cs;
	struct ledger_identity *id;
	char err[LEDGER_ERR_MAX];
	struct ledger *l;
	int rc = 1;

	if (mc == NULL)
		return 1;
	if (argc < 3)
		ledger_cli_usage_exit("membership");
	l = ledger_cli_open(c, LEDGER_OPEN_WRITE);
	cs = ledger_consortium(l);
	if (strcmp(argv[1], "propose") == 0 && argc == 5) {
		/* membership propose add|remove MEMBER_DIR_OR_NAME OUT */
		struct ledger_member nm;

		mc->action = strcmp(argv[2], "add") == 0 ? 1 : strcmp(argv[2], "remove") == 0 ? 2 : 0;
		if (mc->action == 1) {
			if (ledger_pub_load(argv[3], &nm, err, sizeof(err)) != 0) {
				fprintf(stderr, "riskgate-ledger: %s\n", err);
				goto out;
			}
			if (!nm.has_tls) {
				fprintf(stderr, "riskgate-ledger: %s/member.pub lists no TLS key: "
						"run riskgate-ledger --dir %s tls-key\n",
					argv[3], argv[3]);
				goto out;
			}
			memcpy(mc->tls_pk, nm.tls_pk, 32);
		} else if (mc->action == 2) {
			int m = ledger_cli_member_arg(l, argv[3]);

			if (m < 0)
				goto out;
			nm = cs->members[m];
		} else {
			ledger_cli_usage_exit("membership");
		}
		mc->seq = cs->membership_seq + 1;
		memcpy(mc->pk, nm.pk, 32);
		snprintf(mc->name, sizeof(mc->name), "%s", nm.name);
		rc = change_save(argv[4], mc) == 0 ? 0 : 1;
	} else if (strcmp(argv[1], "sign") == 0 && argc == 3) {
		if (change_load(argv[2], mc) != 0)
			goto out;
		id = ledger_identity_load(c->dir, err, sizeof(err));
		if (id == NULL) {
			fprintf(stderr, "riskgate-ledger: %s\n", err);
			goto out;
		}
		rc = ledger_membership_sign(cs, mc, (unsigned)ledger_self(l), id->sk);
		ledger_identity_free(id);
		rc = rc == 0 && change_save(argv[2], mc) == 0 ? 0 : 1;
	} else if (strcmp(argv[1], "apply") == 0 && argc == 3) {
		struct ledger_entry *e = calloc(1, sizeof(*e));
		int n;

		if (e == NULL || change_load(argv[2], mc) != 0) {
			free(e);
			goto out;
		}
		n = ledger_membership_encode(mc, e->payload, LEDGER_PAYLOAD_MAX);
		if (n < 0) {
			fprintf(stderr, "riskgate-ledger: membership change out of range\n");
			free(e);
			goto out;
		}
		e->op = LEDGER_OP_MEMBERSHIP;
		e->payload_len = (uint16_t)n;
		e->time_ms = ledger_now_ms();
		rc = append_one(l, e, "membership change");
		free(e);
	} else {
		ledger_cli_usage_exit("membership");
	}
out:
	ledger_close(l);
	free(mc);
	return rc;
}

/* ---- head, members, export ---- */

static json_t *head_json(struct ledger *l, unsigned m)
{
	const struct ledger_member *mem = &ledger_consortium(l)->members[m];
	struct ledger_checkpoint cp;
	struct ledger_block last;
	struct ledger_head h;
	char origin[LEDGER_ORIGIN_MAX + 1], vkey[256], note[LEDGER_CHECKPOINT_MAX];
	bool have = ledger_checkpoint_latest(l, m, &cp) == 0;
	bool timed;

	ledger_head_get(l, m, &h);
	timed = h.nb_blocks > 0 && ledger_block_get(l, m, h.nb_blocks - 1, &last) == 0;
	have = have && ledger_checkpoint_encode(&cp, note, sizeof(note)) > 0;
	if (ledger_origin(ledger_consortium(l), m, origin, sizeof(origin)) != 0 ||
	    ledger_note_vkey(vkey, sizeof(vkey), origin, LEDGER_NOTE_ALG_ED25519, mem->pk) < 0)
		origin[0] = vkey[0] = '\0';
	return json_pack("{s:s, s:I, s:o, s:o, s:o, s:o, s:I, s:I, s:o, s:s, s:s}", "member",
			 mem->name, "size", (json_int_t)h.size, "root", ledger_cli_hexj(h.root, 32),
			 "checkpoint", have ? json_string(note) : json_null(), "time",
			 timed ? timej(last.time_ms) : json_null(), "member_id",
			 ledger_cli_hexj(mem->id, LEDGER_ID_BYTES), "blocks", (json_int_t)h.nb_blocks,
			 "checkpoint_size", (json_int_t)(have ? cp.size : 0), "checkpoint_root",
			 have ? ledger_cli_hexj(cp.root, 32) : json_null(), "origin", origin, "vkey", vkey);
}

static int cmd_head(struct ledger_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "member", required_argument, NULL, 'm' },
		{ "all", no_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 },
	};
	const char *member = NULL;
	bool all = false;
	struct ledger *l;
	int o, m;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'm': member = optarg; break;
		case 'a': all = true; break;
		default: ledger_cli_usage_exit("head");
		}
	}
	if (optind != argc)
		ledger_cli_usage_exit("head");
	l = ledger_cli_open(c, OPEN_READER);
	if (all) {
		for (unsigned i = 0; i < ledger_consortium(l)->nb_members; i++)
			ledger_cli_print_json(head_json(l, i));
	} else {
		m = ledger_cli_member_arg(l, member);
		if (m < 0) {
			ledger_close(l);
			return 1;
		}
		ledger_cli_print_json(head_json(l, (unsigned)m));
	}
	ledger_close(l);
	return 0;
}

static int cmd_members(struct ledger_cli *c, int argc, char **argv)
{
	const struct ledger_consortium *cs;
	struct ledger *l;

	(void)argv;
	if (argc != 1)
		ledger_cli_usage_exit("members");
	l = ledger_cli_open(c, OPEN_READER);
	cs = ledger_consortium(l);
	for (unsigned i = 0; i < cs->nb_members; i++) {
		const struct ledger_member *mem = &cs->members[i];
		json_t *o = json_pack("{s:i, s:s, s:o, s:o, s:b, s:b}", "index", (int)i, "member",
				      mem->name, "id", ledger_cli_hexj(mem->id, 8), "public_key",
				      ledger_cli_hexj(mem->pk, 32), "active", mem->active, "self",
				      (int)i == ledger_self(l));

		ledger_cli_tls_set(o, mem);
		ledger_cli_print_json(o);
	}
	ledger_close(l);
	return 0;
}

static json_t *entry_json(struct ledger *l, unsigned m, uint64_t pos, const uint8_t *buf,
			  size_t len, const uint8_t *leaf)
{
	const struct ledger_consortium *cs = ledger_consortium(l);
	struct ledger_entry *e = malloc(sizeof(*e));
	const char *why = "";
	json_t *o;
	int ref;

	if (e == NULL)
		return NULL;
	if (ledger_entry_decode(buf, len, e, &why) != 0) {
		o = json_pack("{s:I, s:s, s:o}", "pos", (json_int_t)pos, "error", why, "entry",
			      ledger_cli_hexj(buf, len));
		free(e);
		return o;
	}
	bool has_fp = e->op == LEDGER_OP_ADD || e->op == LEDGER_OP_REVOKE || e->op == LEDGER_OP_HIT;
	o = json_pack("{s:I, s:s, s:o, s:o, s:o}", "pos", (json_int_t)pos, "op",
		      ledger_op_name(e->op), "list",
		      has_fp ? json_string(cs->lists[e->list].name) : json_null(), "kind",
		      has_fp ? json_string(rg_kind_name(e->kind)) : json_null(), "fp",
		      has_fp ? ledger_cli_hexj(e->fp.b, 16) : json_null());
	json_object_set_new(o, "entry", ledger_cli_hexj(buf, len));
	json_object_set_new(o, "leaf", ledger_cli_hexj(leaf, 32));
	json_object_set_new(o, "member", json_string(cs->members[m].name));
	json_object_set_new(o, "list_bit", json_integer(e->list));
	json_object_set_new(o, "severity", json_string(ledger_severity_name(e->severity)));
	json_object_set_new(o, "action", json_integer(e->action));
	json_object_set_new(o, "expiry", json_integer((json_int_t)e->expiry_s));
	json_object_set_new(o, "reason", json_stringn(e->reason, e->reason_len));
	json_object_set_new(o, "time", timej(e->time_ms));
	json_object_set_new(o, "key_epoch", json_integer(e->key_epoch));
	if (e->op == LEDGER_OP_REVOKE || e->op == LEDGER_OP_HIT) {
		ref = ledger_member_find(cs, e->ref_member);
		json_object_set_new(o, "ref_member",
				    ref >= 0 ? json_string(cs->members[ref].name) : json_null());
		json_object_set_new(o, "ref_pos", json_integer((json_int_t)e->ref_pos));
	}
	if (e->payload_len > 0)
		json_object_set_new(o, "payload", ledger_cli_hexj(e->payload, e->payload_len));
	free(e);
	return o;
}

static int cmd_export(struct ledger_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "member", required_argument, NULL, 'm' },
		{ "all", no_argument, NULL, 'a' },
		{ "from", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	const char *member = NULL;
	bool all = false;
	uint64_t from = 0;
	struct ledger *l;
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'm': member = optarg; break;
		case 'a': all = true; break;
		case 'f':
			if (!ledger_cli_parse_u64(optarg, &from))
				ledger_cli_usage_exit("export");
			break;
		default: ledger_cli_usage_exit("export");
		}
	}
	if (optind != argc)
		ledger_cli_usage_exit("export");
	l = ledger_cli_open(c, OPEN_READER);
	for (unsigned m = 0; m < ledger_consortium(l)->nb_members; m++) {
		struct ledger_head h;
		int want = all ? (int)m : ledger_cli_member_arg(l, member);

		if (want < 0) {
			ledger_close(l);
			return 1;
		}
		if ((unsigned)want != m)
			continue;
		ledger_head_get(l, m, &h);
		for (uint64_t pos = from; pos < h.size; pos++) {
			uint8_t buf[LEDGER_ENTRY_MAX], leaf[32];
			size_t len;

			if (ledger_entry_get(l, m, pos, buf, &len, leaf) != 0) {
				fprintf(stderr, "riskgate-ledger: position %llu missing\n",
					(unsigned long long)pos);
				ledger_close(l);
				return 1;
			}
			ledger_cli_print_json(entry_json(l, m, pos, buf, len, leaf));
		}
	}
	ledger_close(l);
	return 0;
}

/* ---- verify ---- */

static int cmd_verify(struct ledger_cli *c, int argc, char **argv)
{
	char report[1024];
	struct ledger *l;
	uint64_t n, t0, t1;
	int rc;

	(void)argv;
	if (argc != 1)
		ledger_cli_usage_exit("verify");
	l = ledger_cli_open(c, OPEN_READER);
	t0 = ledger_now_ms();
	rc = ledger_verify(l, report, sizeof(report), &n);
	t1 = ledger_now_ms();
	if (rc == 0) {
		double secs = (double)(t1 - t0) / 1000.0;
		json_t *logs = json_array();

		for (unsigned m = 0; m < ledger_consortium(l)->nb_members; m++)
			json_array_append_new(logs, head_json(l, m));
		ledger_cli_print_json(json_pack("{s:b, s:I, s:f, s:f, s:o}", "ok", 1, "entries", (json_int_t)n,
				     "seconds", secs, "entries_per_s", secs > 0 ? (double)n / secs : 0.0,
				     "logs", logs));
	} else {
		ledger_cli_print_json(json_pack("{s:b, s:s}", "ok", 0, "error",
				     report[0] ? report : strerror(-rc)));
		fprintf(stderr, "riskgate-ledger: verify: %s\n", report[0] ? report : strerror(-rc));
	}
	ledger_close(l);
	return rc == 0 ? 0 : 1;
}

/* ---- proofs ---- */

/* The checkpoint's signed note, as text. */
static json_t *checkpoint_json(const struct ledger_checkpoint *cp)
{
	char note[LEDGER_CHECKPOINT_MAX];

	return ledger_checkpoint_encode(cp, note, sizeof(note)) > 0 ? json_string(note)
								    : json_null();
}

static json_t *path_json(uint8_t (*path)[32], unsigned nb)
{
	json_t *a = json_array();

	for (unsigned i = 0; i < nb; i++)
		json_array_append_new(a, ledger_cli_hexj(path[i], 32));
	return a;
}

static int cmd_proof(struct ledger_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "member", required_argument, NULL, 'm' },
		{ "size", required_argument, NULL, 's' },
		{ "consistency", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	const char *member = NULL;
	uint64_t size = 0, first = 0, pos = 0;
	uint8_t path[LEDGER_PROOF_MAX][32], buf[LEDGER_ENTRY_MAX], leaf[32];
	struct ledger_checkpoint cp, cp1;
	struct ledger_node_ctx ctx;
	const struct ledger_member *mem;
	bool consistency = false;
	struct ledger *l;
	unsigned nb;
	size_t len;
	json_t *o;
	int opt, m, rc;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'm': member = optarg; break;
		case 's':
			if (!ledger_cli_parse_u64(optarg, &size))
				ledger_cli_usage_exit("proof");
			break;
		case 'c':
			if (!ledger_cli_parse_u64(optarg, &first))
				ledger_cli_usage_exit("proof");
			consistency = true;
			break;
		default: ledger_cli_usage_exit("proof");
		}
	}
	if (consistency ? optind != argc : (optind != argc - 1 || !ledger_cli_parse_u64(argv[optind], &pos)))
		ledger_cli_usage_exit("proof");
	l = ledger_cli_open(c, OPEN_READER);
	m = ledger_cli_member_arg(l, member);
	if (m < 0)
		goto fail;
	mem = &ledger_consortium(l)->members[m];
	rc = size ? ledger_checkpoint_get(l, (unsigned)m, size, &cp)
		  : ledger_checkpoint_latest(l, (unsigned)m, &cp);
	if (rc != 0) {
		fprintf(stderr, "riskgate-ledger: %s has no checkpoint%s\n", mem->name,
			size ? " at that size" : "");
		goto fail;
	}
	ctx.l = l;
	ctx.member = (unsigned)m;
	o = json_pack("{s:s, s:o, s:s, s:o, s:o, s:s}", "type",
		      consistency ? "consistency" : "inclusion", "consortium",
		      ledger_cli_hexj(ledger_consortium(l)->id, 32), "member", mem->name, "member_id",
		      ledger_cli_hexj(mem->id, 8), "public_key", ledger_cli_hexj(mem->pk, 32), "origin", cp.origin);
	if (!consistency) {
		rc = ledger_entry_get(l, (unsigned)m, pos, buf, &len, NULL);
		if (rc == 0)
			rc = ledger_inclusion_proof(ledger_node_get, &ctx, pos, cp.size, path, &nb);
		if (rc != 0) {
			fprintf(stderr, "riskgate-ledger: no proof for position %llu in a tree of %llu: "
					"%s\n", (unsigned long long)pos, (unsigned long long)cp.size,
				strerror(-rc));
			json_decref(o);
			goto fail;
		}
		ledger_leaf_hash(buf, len, leaf);
		json_object_set_new(o, "index", json_integer((json_int_t)pos));
		json_object_set_new(o, "tree_size", json_integer((json_int_t)cp.size));
		json_object_set_new(o, "entry", ledger_cli_hexj(buf, len));
		json_object_set_new(o, "leaf", ledger_cli_hexj(leaf, 32));
		json_object_set_new(o, "path", path_json(path, nb));
		json_object_set_new(o, "root", ledger_cli_hexj(cp.root, 32));
		json_object_set_new(o, "checkpoint", checkpoint_json(&cp));
	} else {
		if (ledger_checkpoint_get(l, (unsigned)m, first, &cp1) != 0) {
			fprintf(stderr, "riskgate-ledger: %s has no checkpoint at size %llu\n",
				mem->name, (unsigned long long)first);
			json_decref(o);
			goto fail;
		}
		rc = ledger_consistency_proof(ledger_node_get, &ctx, first, cp.size, path, &nb);
		if (rc != 0) {
			fprintf(stderr, "riskgate-ledger: consistency proof: %s\n", strerror(-rc));
			json_decref(o);
			goto fail;
		}
		json_object_set_new(o, "first", json_integer((json_int_t)first));
		json_object_set_new(o, "second", json_integer((json_int_t)cp.size));
		json_object_set_new(o, "first_root", ledger_cli_hexj(cp1.root, 32));
		json_object_set_new(o, "second_root", ledger_cli_hexj(cp.root, 32));
		json_object_set_new(o, "path", path_json(path, nb));
		json_object_set_new(o, "first_checkpoint", checkpoint_json(&cp1));
		json_object_set_new(o, "checkpoint", checkpoint_json(&cp));
	}
	ledger_cli_print_json(o);
	ledger_close(l);
	return 0;
fail:
	ledger_close(l);
	return 1;
}

static int hex_field(json_t *o, const char *key, uint8_t *out, size_t n)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_string(v))
		return -1;
	return ledger_unhex(json_string_value(v), json_string_length(v), out, n);
}

/* A checkpoint note in a proof file; its origin must be want (when not
 * NULL). */
static int checkpoint_from_json(json_t *o, const char *want, struct ledger_checkpoint *cp)
{
	if (!json_is_string(o) ||
	    ledger_checkpoint_decode(json_string_value(o), json_string_length(o), cp, NULL) != 0)
		return -1;
	return want == NULL || strcmp(cp->origin, want) == 0 ? 0 : -1;
}

static int cmd_verify_proof(struct ledger_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "genesis", required_argument, NULL, 'g' },
		{ "public-key", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 },
	};
	const char *genesis = NULL, *pinned = NULL, *type, *fail = NULL;
	uint8_t pk[32], id[8], want_id[8], path[LEDGER_PROOF_MAX][32], leaf[32], calc[32];
	uint8_t root[32], entry[LEDGER_ENTRY_MAX];
	struct ledger_checkpoint cp, cp1;
	struct ledger_consortium *cs = NULL;
	char err[LEDGER_ERR_MAX], gpath[PATH_MAX], origin[LEDGER_ORIGIN_MAX + 1];
	const char *want = NULL;
	json_error_t jerr;
	json_t *o, *pa, *v;
	unsigned nb = 0;
	size_t i;
	int opt, rc = 1;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'g': genesis = optarg; break;
		case 'k': pinned = optarg; break;
		default: ledger_cli_usage_exit("verify-proof");
		}
	}
	if (optind != argc - 1)
		ledger_cli_usage_exit("verify-proof");
	if (genesis == NULL && c->dir != NULL) {
		snprintf(gpath, sizeof(gpath), "%s/genesis.json", c->dir);
		genesis = gpath;
	}
	o = strcmp(argv[optind], "-") == 0 ? json_loadf(stdin, 0, &jerr)
					   : json_load_file(argv[optind], 0, &jerr);
	if (o == NULL) {
		char text[JSON_ERROR_TEXT_LENGTH];

		fprintf(stderr, "riskgate-ledger: %s: %s\n", argv[optind],
			masked(jerr.text, text, sizeof(text)));
		return 1;
	}
	type = json_string_value(json_object_get(o, "type"));
	pa = json_object_get(o, "path");
	if (type == NULL || hex_field(o, "public_key", pk, 32) != 0 ||
	    hex_field(o, "member_id", want_id, 8) != 0 || !json_is_array(pa) ||
	    json_array_size(pa) > LEDGER_PROOF_MAX) {
		fail = "not a riskgate proof";
		goto out;
	}
	json_array_foreach(pa, i, v) {
		if (!json_is_string(v) ||
		    ledger_unhex(json_string_value(v), json_string_length(v), path[i], 32) != 0) {
			fail = "bad hash in path";
			goto out;
		}
		nb++;
	}
	ledger_member_id(pk, id);
	if (memcmp(id, want_id, 8) != 0) {
		fail = "member_id does not match public_key";
		goto out;
	}
	/* Whose key signs: pinned by a genesis or a key given, else only the
	 * file's own word (said on stderr). */
	if (pinned != NULL) {
		uint8_t pp[32];

		if (ledger_unhex(pinned, strlen(pinned), pp, 32) != 0 || memcmp(pp, pk, 32) != 0) {
			fail = "public key differs from --public-key";
			goto out;
		}
	} else if (genesis != NULL && access(genesis, R_OK) == 0) {
		cs = malloc(sizeof(*cs));
		if (cs == NULL || ledger_genesis_load(genesis, cs, err, sizeof(err)) != 0) {
			fail = "cannot load the genesis";
			goto out;
		}
		int m = ledger_member_find(cs, id);

		if (m < 0 || memcmp(cs->members[m].pk, pk, 32) != 0) {
			fail = "signer is not a member in the genesis";
			goto out;
		}
		if (ledger_origin(cs, (unsigned)m, origin, sizeof(origin)) == 0)
			want = origin;
	} else {
		fprintf(stderr, "riskgate-ledger: warning: signer key taken from the proof itself "
				"(pin it with --genesis or --public-key)\n");
	}
	if (checkpoint_from_json(json_object_get(o, "checkpoint"), want, &cp) != 0) {
		fail = want != NULL ? "bad checkpoint, or the log of another member or consortium"
				    : "bad checkpoint";
		goto out;
	}
	if (!ledger_checkpoint_sig_ok(&cp, pk)) {
		fail = "checkpoint signature is bad";
		goto out;
	}
	if (strcmp(type, "inclusion") == 0) {
		json_t *ix = json_object_get(o, "index"), *ts = json_object_get(o, "tree_size");
		json_t *ev = json_object_get(o, "entry");
		size_t elen;

		if (!json_is_integer(ix) || !json_is_integer(ts) || !json_is_string(ev) ||
		    (elen = json_string_length(ev) / 2) > LEDGER_ENTRY_MAX ||
		    ledger_unhex(json_string_value(ev), json_string_length(ev), entry, elen) != 0 ||
		    hex_field(o, "leaf", leaf, 32) != 0 || hex_field(o, "root", root, 32) != 0) {
			fail = "malformed inclusion proof";
			goto out;
		}
		ledger_leaf_hash(entry, elen, calc);
		if (memcmp(calc, leaf, 32) != 0) {
			fail = "entry does not hash to the leaf";
			goto out;
		}
		if ((uint64_t)json_integer_value(ts) != cp.size || memcmp(root, cp.root, 32) != 0) {
			fail = "proof is not against the signed checkpoint";
			goto out;
		}
		if (!ledger_inclusion_verify((uint64_t)json_integer_value(ix), cp.size, leaf,
					     (const uint8_t(*)[32])path, nb, cp.root)) {
			fail = "inclusion path does not lead to the signed root";
			goto out;
		}
		ledger_cli_print_json(json_pack("{s:b, s:s, s:s, s:I, s:I}", "ok", 1, "type", type, "member",
				     json_string_value(json_object_get(o, "member")), "index",
				     json_integer_value(ix), "tree_size", (json_int_t)cp.size));
	} else if (strcmp(type, "consistency") == 0) {
		uint8_t r1[32], r2[32];

		if (checkpoint_from_json(json_object_get(o, "first_checkpoint"), cp.origin,
					 &cp1) != 0 ||
		    hex_field(o, "first_root", r1, 32) != 0 || hex_field(o, "second_root", r2, 32) != 0) {
			fail = "malformed consistency proof";
			goto out;
		}
		if (!ledger_checkpoint_sig_ok(&cp1, pk)) {
			fail = "first checkpoint signature is bad";
			goto out;
		}
		if (memcmp(r1, cp1.root, 32) != 0 || memcmp(r2, cp.root, 32) != 0 ||
		    !ledger_consistency_verify(cp1.size, cp.size, cp1.root, cp.root,
					       (const uint8_t(*)[32])path, nb)) {
			fail = "the second tree does not extend the first";
			goto out;
		}
		ledger_cli_print_json(json_pack("{s:b, s:s, s:s, s:I, s:I}", "ok", 1, "type", type, "member",
				     json_string_value(json_object_get(o, "member")), "first",
				     (json_int_t)cp1.size, "second", (json_int_t)cp.size));
	} else {
		fail = "unknown proof type";
		goto out;
	}
	rc = 0;
out:
	if (fail != NULL) {
		ledger_cli_print_json(json_pack("{s:b, s:s}", "ok", 0, "error", fail));
		fprintf(stderr, "riskgate-ledger: verify-proof: %s\n", fail);
	}
	free(cs);
	json_decref(o);
	return rc;
}

/* ---- bundle, pull ---- */

static int cmd_bundle(struct ledger_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "since", required_argument, NULL, 's' },
		{ "member", required_argument, NULL, 'm' },
		{ "all", no_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned members[LEDGER_MEMBERS_MAX], nb = 0;
	const char *out = NULL, *names[LEDGER_MEMBERS_MAX];
	unsigned nb_names = 0;
	char err[LEDGER_ERR_MAX];
	uint64_t since = 0, nb_blocks;
	bool all = false;
	struct ledger *l;
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'o': out = optarg; break;
		case 's':
			if (!ledger_cli_parse_u64(optarg, &since))
				ledger_cli_usage_exit("bundle");
			break;
		case 'm':
			if (nb_names < LEDGER_MEMBERS_MAX)
				names[nb_names++] = optarg;
			break;
		case 'a': all = true; break;
		default: ledger_cli_usage_exit("bundle");
		}
	}
	if (out == NULL || optind != argc)
		ledger_cli_usage_exit("bundle");
	l = ledger_cli_open(c, OPEN_READER);
	if (all) {
		for (unsigned i = 0; i < ledger_consortium(l)->nb_members; i++)
			members[nb++] = i;
	} else if (nb_names == 0) {
		int m = ledger_cli_member_arg(l, NULL);

		if (m < 0) {
			ledger_close(l);
			return 1;
		}
		members[nb++] = (unsigned)m;
	} else {
		for (unsigned i = 0; i < nb_names; i++) {
			int m = ledger_cli_member_arg(l, names[i]);

			if (m < 0) {
				ledger_close(l);
				return 1;
			}
			members[nb++] = (unsigned)m;
		}
	}
	if (ledger_bundle_write(l, out, members, nb, since, &nb_blocks, err, sizeof(err)) != 0) {
		fprintf(stderr, "riskgate-ledger: bundle: %s\n", err);
		ledger_close(l);
		return 1;
	}
	{
		struct stat sb;

		stat(out, &sb);
		ledger_cli_print_json(json_pack("{s:s, s:I, s:I, s:I}", "bundle", out, "blocks",
				     (json_int_t)nb_blocks, "since", (json_int_t)since, "bytes",
				     (json_int_t)sb.st_size));
	}
	ledger_close(l);
	return 0;
}

static int cmd_pull(struct ledger_cli *c, int argc, char **argv)
{
	const struct ledger_consortium *cs;
	struct ledger_pull_stats st;
	char err[LEDGER_ERR_MAX] = "";
	struct ledger *l;
	json_t *bad;
	int rc;

	if (argc != 2)
		ledger_cli_usage_exit("pull");
	l = ledger_cli_open(c, LEDGER_OPEN_NO_FP);
	rc = ledger_pull(l, argv[1], &st, err, sizeof(err));
	cs = ledger_consortium(l);
	bad = json_array();
	for (unsigned i = 0; i < st.nb_bad; i++)
		json_array_append_new(bad, json_pack("{s:s, s:s, s:I, s:s}", "member",
						     cs->members[st.bad[i].member].name, "object",
						     st.bad[i].block ? "block" : "checkpoint", "at",
						     (json_int_t)st.bad[i].at, "problem",
						     ledger_evidence_name(st.bad[i].problem)));
	ledger_cli_print_json(json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:s?}", "ok", rc == 0,
			     "blocks_new", (json_int_t)st.nb_blocks_new, "blocks_held",
			     (json_int_t)st.nb_blocks_held, "entries_new",
			     (json_int_t)st.nb_entries_new, "checkpoints_new",
			     (json_int_t)st.nb_checkpoints_new, "checkpoints_held",
			     (json_int_t)st.nb_checkpoints_held, "evidence_kept",
			     (json_int_t)st.nb_evidence, "evidence", bad, "error", rc ? err : NULL));
	if (rc != 0)
		fprintf(stderr, "riskgate-ledger: pull refused, nothing taken in: %s\n",
			err[0] ? err : strerror(-rc));
	ledger_close(l);
	return rc == 0 ? 0 : st.nb_evidence > 0 ? EXIT_EVIDENCE : 1;
}

/* One signed object of an evidence record: a checkpoint as {size, root,
 * note}, a block header as hex. */
static json_t *evidence_obj(unsigned object, const uint8_t *p, size_t len)
{
	struct ledger_checkpoint cp;

	if (object == LEDGER_EVIDENCE_CHECKPOINT &&
	    ledger_checkpoint_decode((const char *)p, len, &cp, NULL) == 0)
		return json_pack("{s:I, s:o, s:s%}", "size", (json_int_t)cp.size, "root",
				 ledger_cli_hexj(cp.root, 32), "note", (const char *)p, len);
	return ledger_cli_hexj(p, len);
}

static int print_evidence(void *arg, const struct ledger_evidence *ev)
{
	struct ledger *l = arg;
	const struct ledger_consortium *cs = ledger_consortium(l);
	bool block = ev->object == LEDGER_EVIDENCE_BLOCK;
	json_t *o, *signed_objs = json_array();

	o = json_pack("{s:s, s:o, s:o, s:s, s:I}", "problem", ledger_evidence_name(ev->problem),
		      "member", ev->member >= 0 ? json_string(cs->members[ev->member].name)
						: json_null(),
		      "member_id", ledger_cli_hexj(ev->member_id, LEDGER_ID_BYTES), "object",
		      block ? "block" : "checkpoint", "at", (json_int_t)ev->at);
	json_array_append_new(signed_objs, evidence_obj(ev->object, ev->a, ev->alen));
	if (ev->problem == LEDGER_EVIDENCE_FORK)
		json_array_append_new(signed_objs, evidence_obj(ev->object, ev->b, ev->blen));
	json_object_set_new(o, "signed", signed_objs);
	if (ev->problem != LEDGER_EVIDENCE_FORK)
		json_object_set_new(o, "log_root", ev->blen == LEDGER_HASH_BYTES
							   ? ledger_cli_hexj(ev->b, LEDGER_HASH_BYTES)
							   : json_null());
	ledger_cli_print_json(o);
	return 0;
}

static int cmd_evidence(struct ledger_cli *c, int argc, char **argv)
{
	struct ledger *l;
	int rc;

	(void)argv;
	if (argc != 1)
		ledger_cli_usage_exit("evidence");
	l = ledger_cli_open(c, OPEN_READER);
	rc = ledger_evidence_iterate(l, print_evidence, l);
	if (rc != 0)
		fprintf(stderr, "riskgate-ledger: evidence: %s\n", strerror(-rc));
	ledger_close(l);
	return rc == 0 ? 0 : 1;
}

/* ---- table ---- */

static int cmd_table(struct ledger_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "now", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	struct ledger_table_stats st;
	const char *out = NULL;
	char err[LEDGER_ERR_MAX];
	uint64_t now_s = 0, t0, t1;
	struct ledger *l;
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'o': out = optarg; break;
		case 'n':
			if (!ledger_cli_parse_u64(optarg, &now_s))
				ledger_cli_usage_exit("table");
			break;
		default: ledger_cli_usage_exit("table");
		}
	}
	if (out == NULL || optind != argc)
		ledger_cli_usage_exit("table");
	l = ledger_cli_open(c, LEDGER_OPEN_READ_ONLY);
	if (now_s == 0)
		now_s = ledger_now_ms() / 1000;
	t0 = ledger_now_ms();
	if (ledger_table_build(l, out, now_s, &st, err, sizeof(err)) != 0) {
		fprintf(stderr, "riskgate-ledger: table: %s\n", err);
		ledger_close(l);
		return 1;
	}
	t1 = ledger_now_ms();
	ledger_cli_print_json(json_pack("{s:s, s:I, s:I, s:I, s:I, s:b, s:f}", "table", out, "fingerprints",
			     (json_int_t)st.nb_fps, "records", (json_int_t)st.nb_state, "expired",
			     (json_int_t)st.nb_expired, "file_bytes", (json_int_t)st.file_bytes,
			     "hugetlb", st.hugetlb, "seconds", (double)(t1 - t0) / 1000.0));
	ledger_close(l);
	return 0;
}

static int cmd_table_dump(struct ledger_cli *c, int argc, char **argv)
{
	struct rg_table *t;
	struct rg_table_val v;
	struct rg_fp fp;
	uint64_t cursor = 0;

	(void)c;
	if (argc != 2)
		ledger_cli_usage_exit("table-dump");
	t = rg_table_open_reader(argv[1]);
	if (t == NULL) {
		fprintf(stderr, "riskgate-ledger: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	while (rg_table_iterate(t, &cursor, &fp, &v) == 0) {
		char hex[33];

		rg_fp_hex(&fp, 16, hex);
		printf("{\"fp\": \"%s\", \"lists\": %u, \"action\": %u, \"contributor\": %u}\n", hex,
		       v.lists, v.action, v.contributor);
	}
	rg_table_close(t);
	return 0;
}

static const struct command commands[] = {
	{ "init", cmd_init, "--member NAME [--genesis FILE] [--fp-key FILE] [--consortium NAME]",
	  "create the member identity, fp.key and genesis in --dir" },
	{ "genesis", cmd_genesis, "--out FILE [--consortium NAME] [--install] DIR...",
	  "write a genesis listing the members of DIRs (--install: into each DIR)" },
	{ "import", cmd_import,
	  "FILE [--strict] [--block N] [--progress-json] [--no-progress] [--now UNIX_S]",
	  "import a CSV or JSONL list: fingerprint, append in signed blocks" },
	{ "add", cmd_add, "LIST KIND VALUE [--severity S] [--expiry E] [--reason R]",
	  "append one ADD" },
	{ "revoke", cmd_revoke, "POS | LIST KIND VALUE [--reason R] [--member NAME]",
	  "revoke an own entry" },
	{ "hit", cmd_hit, "MEMBER POS [--detail TEXT]",
	  "record a hit receipt (salted commitment) for an entry" },
	{ "receipt", cmd_receipt, "open N | open --pos POS | verify",
	  "show a kept receipt's salt and detail and check it; verify: all of them" },
	{ "receipts", cmd_receipts, "[--member NAME | --all]",
	  "count HIT entries referring to a member's entries, over every log held" },
	{ "key-epoch", cmd_key_epoch, "N", "record that this member fingerprints under epoch N" },
	{ "membership", cmd_membership,
	  "propose add DIR|remove NAME OUT | sign FILE | apply FILE",
	  "membership change co-signed by a majority" },
	{ "members", cmd_members, "", "list the consortium's members" },
	{ "tls-key", ledger_cmd_tls_key, "[--show]",
	  "make tls.key and tls.crt for a directory that lacks them; --show: check and print" },
	{ "head", cmd_head, "[--member NAME | --all]", "signed head of a log (JSON)" },
	{ "verify", cmd_verify, "", "full audit of every log held" },
	{ "proof", cmd_proof, "POS | --consistency SIZE [--member NAME] [--size N]",
	  "inclusion or consistency proof (JSON) against a checkpoint" },
	{ "verify-proof", cmd_verify_proof, "FILE|- [--genesis FILE] [--public-key HEX]",
	  "check a proof standalone" },
	{ "export", cmd_export, "[--member NAME | --all] [--from POS]", "entries as JSON lines" },
	{ "bundle", cmd_bundle, "--out FILE [--since POS] [--member NAME]... [--all]",
	  "write signed blocks and checkpoints to a file" },
	{ "pull", cmd_pull, "FILE", "verify and take in a bundle, all of it or nothing" },
	{ "evidence", cmd_evidence, "", "forks and bad checkpoints kept as evidence (JSON lines)" },
	{ "tiles", ledger_cmd_tiles, "--out DIR [--member NAME]... [--all]",
	  "write logs held as a static tlog-tiles tree (checkpoint, tiles, entry bundles)" },
	{ "table", cmd_table, "--out FILE [--now UNIX_S]", "build the shared table file" },
	{ "table-dump", cmd_table_dump, "FILE", "print a table file's entries (JSON lines)" },
	{ NULL, NULL, NULL, NULL },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: riskgate-ledger --dir DIR COMMAND [ARGS]\ncommands:\n");
	for (const struct command *c = commands; c->name != NULL; c++)
		fprintf(f, "  %-12s %s\n  %-12s   %s\n", c->name, c->usage, "", c->help);
}

void ledger_cli_usage_exit(const char *cmd)
{
	for (const struct command *c = commands; c->name != NULL; c++)
		if (strcmp(c->name, cmd) == 0)
			fprintf(stderr, "usage: riskgate-ledger --dir DIR %s %s\n", c->name, c->usage);
	exit(EXIT_USAGE);
}

int main(int argc, char **argv)
{
	struct ledger_cli cli = { 0 };
	int i;

	if (sodium_init() < 0) {
		fprintf(stderr, "riskgate-ledger: sodium_init failed\n");
		return 1;
	}
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
			cli.dir = argv[++i];
		} else if (strncmp(argv[i], "--dir=", 6) == 0) {
			cli.dir = argv[i] + 6;
		} else if (strcmp(argv[i], "--json") == 0) {
			cli.json = true;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (const struct command *c = commands; c->name != NULL; c++)
		if (strcmp(c->name, argv[i]) == 0) {
			optind = 1;
			return c->run(&cli, argc - i, argv + i);
		}
	fprintf(stderr, "riskgate-ledger: unknown command '%s'\n", argv[i]);
	usage(stderr);
	return EXIT_USAGE;
}
