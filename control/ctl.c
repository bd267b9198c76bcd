/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * riskgate-ctl: the operators' CLI over the control socket
 * (control/protocol.h).  Aligned tables for people, --json (the reply's
 * "result", one object per line) for scripts.
 *
 * Exit status: 0 ok, 1 the command failed (the daemon said why), 2 usage,
 * 3 cannot connect to the daemon, or it closed the connection: the reason
 * it left (too_many_clients, idle_timeout, line_too_long) is shown when it
 * left one.  SIGPIPE is ignored: a closed connection is an error to
 * report, not a way to die.
 *
 * `import` asks for progress lines and shows them on stderr: one line
 * rewritten in place on a terminal, otherwise a line per 10% of the file.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "control/protocol.h"

#define CTL_DEFAULT_SOCKET "/run/riskgate/ctl.sock"

static const char usage_text[] =
	"usage: riskgate-ctl [--socket PATH] [--json] COMMAND ...\n"
	"  status                          daemon, ledger, table, segment\n"
	"  stats [--watch [SEC]]           dataplane counters, rates, hits by member\n"
	"  lists                           lists, actions, hits\n"
	"  policy show\n"
	"  policy set LIST off|monitor|decline\n"
	"  fail-mode open|closed\n"
	"  exempt CLASS on|off             MTI class (0..9) not screened\n"
	"  table                           size, load, generation, ledger position, staleness\n"
	"  lookup KIND VALUE               masked echo, fingerprint prefix, lists, contributors\n"
	"                                  (admin or lookup group; rate-limited; a hit is an event)\n"
	"  add LIST KIND VALUE [--severity low|medium|high] [--expiry E] [--reason R]\n"
	"  revoke LIST KIND VALUE [--reason R]\n"
	"  import FILE [--strict] [--no-progress]  CSV or JSONL list file; progress on stderr\n"
	"  pull FILE                       another member's bundle\n"
	"  hits [-n N] [--follow]          recent hit events; --follow streams\n"
	"  flows [--top N]                 busiest flows by messages (default 10)\n"
	"  ledger head|verify\n"
	"  peers                           member sync: serving, and per peer and log: lag, errors\n"
	"  forks                           fork evidence kept, logs frozen by it\n"
	"  fork-clear MEMBER               let a frozen log advance again (admin)\n"
	"  receipts                        hit receipts: policy, counters, by contributing member\n"
	"  receipt open N | --pos POS      a kept receipt's salt and detail, commitment checked\n"
	"  reload                          re-read the configuration (validated first)\n"
	"  version | help\n";

static void usage(void)
{
	fputs(usage_text, stderr);
	exit(2);
}

static int sock_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

/* Read one line (malloc'd, NUL-terminated, no newline); NULL at EOF. */
static char *read_line(int fd, char *buf, size_t *have)
{
	for (;;) {
		char *nl = memchr(buf, '\n', *have);
		ssize_t n;

		if (nl != NULL) {
			size_t len = (size_t)(nl - buf);
			char *line = malloc(len + 1);

			if (line == NULL)
				return NULL;
			memcpy(line, buf, len);
			line[len] = '\0';
			memmove(buf, nl + 1, *have - len - 1);
			*have -= len + 1;
			return line;
		}
		if (*have >= CTL_LINE_MAX * 4)
			return NULL;
		n = read(fd, buf + *have, CTL_LINE_MAX * 4 - *have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return NULL;
		*have += (size_t)n;
	}
}

/* ---- human output ---- */

static void scalar_text(const json_t *v, char *out, size_t cap)
{
	switch (json_typeof(v)) {
	case JSON_STRING: snprintf(out, cap, "%s", json_string_value(v)); break;
	case JSON_INTEGER: snprintf(out, cap, "%lld", (long long)json_integer_value(v)); break;
	case JSON_REAL: snprintf(out, cap, "%.4g", json_real_value(v)); break;
	case JSON_TRUE: snprintf(out, cap, "yes"); break;
	case JSON_FALSE: snprintf(out, cap, "no"); break;
	case JSON_NULL: snprintf(out, cap, "-"); break;
	default: {
		char *s = json_dumps(v, JSON_COMPACT);

		snprintf(out, cap, "%s", s ? s : "?");
		free(s);
	}
	}
}

static bool array_of_objects(const json_t *a)
{
	return json_is_array(a) && json_array_size(a) > 0 && json_is_object(json_array_get(a, 0));
}

static void print_table(const json_t *a, const char *indent)
{
	const json_t *first = json_array_get(a, 0);
	const char *key;
	json_t *v;
	size_t nb_cols = json_object_size(first), i, c;
	size_t *w = calloc(nb_cols ? nb_cols : 1, sizeof(*w));
	char cell[256];

	if (w == NULL)
		return;
	c = 0;
	json_object_foreach((json_t *)first, key, v) {
		w[c] = strlen(key);
		c++;
	}
	for (i = 0; i < json_array_size(a); i++) {
		c = 0;
		json_object_foreach((json_t *)first, key, v) {
			scalar_text(json_object_get(json_array_get(a, i), key), cell, sizeof(cell));
			if (strlen(cell) > w[c])
				w[c] = strlen(cell);
			c++;
		}
	}
	fputs(indent, stdout);
	c = 0;
	json_object_foreach((json_t *)first, key, v) {
		printf("%-*s  ", (int)w[c], key);
		c++;
	}
	putchar('\n');
	for (i = 0; i < json_array_size(a); i++) {
		fputs(indent, stdout);
		c = 0;
		json_object_foreach((json_t *)first, key, v) {
			json_t *x = json_object_get(json_array_get(a, i), key);

			scalar_text(x ? x : json_null(), cell, sizeof(cell));
			if (json_is_number(x))
				printf("%*s  ", (int)w[c], cell);
			else
				printf("%-*s  ", (int)w[c], cell);
			c++;
		}
		putchar('\n');
	}
	free(w);
}

static size_t key_width(const json_t *o)
{
	const char *key;
	json_t *v;
	size_t w = 0;

	json_object_foreach((json_t *)o, key, v)
		if (!json_is_object(v) && !array_of_objects(v) && strlen(key) > w)
			w = strlen(key);
	return w;
}

static void print_object(const json_t *o, int depth)
{
	char indent[32], cell[1024];
	size_t w = key_width(o);
	const char *key;
	json_t *v;

	snprintf(indent, sizeof(indent), "%*s", depth * 2, "");
	json_object_foreach((json_t *)o, key, v) {
		if (json_is_object(v) || array_of_objects(v))
			continue;
		scalar_text(v, cell, sizeof(cell));
		printf("%s%-*s  %s\n", indent, (int)w, key, cell);
	}
	json_object_foreach((json_t *)o, key, v) {
		if (json_is_object(v)) {
			printf("%s%s:\n", indent, key);
			print_object(v, depth + 1);
		} else if (array_of_objects(v)) {
			printf("%s%s:\n", indent, key);
			snprintf(indent, sizeof(indent), "%*s", depth * 2 + 2, "");
			print_table(v, indent);
			snprintf(indent, sizeof(indent), "%*s", depth * 2, "");
		}
	}
}

/* ---- requests ---- */

struct conn {
	int fd;
	char *buf;
	size_t have;
	int send_err; /* errno of a request that could not be sent, 0 if none */
};

/* Send a request line whole; false with c->send_err set when the daemon
 * closed the connection (or it broke) first. */
static bool send_line(struct conn *c, const char *line, size_t len)
{
	for (size_t off = 0; off < len;) {
		ssize_t n = send(c->fd, line + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			c->send_err = errno;
			return false;
		}
		off += (size_t)n;
	}
	return true;
}

/* The next line from the daemon as JSON; NULL at the end of the
 * connection (or for a line that is not JSON). */
static json_t *next_reply(struct conn *c)
{
	char *line = read_line(c->fd, c->buf, &c->have);
	json_t *r;

	if (line == NULL)
		return NULL;
	r = json_loads(line, 0, NULL);
	free(line);
	return r;
}

/* Send cmd(args) and read its reply; returns the reply object or NULL.
 * When the request could not be sent, what the daemon left before it
 * closed (a reason line) is still read. */
static json_t *roundtrip(struct conn *c, const char *cmd, json_t *args)
{
	size_t len;
	char *line = ctl_request_line(cmd, args, &len);

	if (line == NULL)
		return NULL;
	send_line(c, line, len);
	free(line);
	return next_reply(c);
}

/* Whether r is a line after which the daemon closes the connection
 * (control/protocol.h, "Closing"). */
static bool closing_line(const json_t *r)
{
	const char *code = json_string_value(json_object_get(json_object_get(r, "error"), "code"));

	return code != NULL && (!strcmp(code, "too_many_clients") || !strcmp(code, "idle_timeout"));
}

/* The daemon closed the connection: say so, with the reason it left in r
 * (may be NULL); the exit status. */
static int closed(const struct conn *c, const char *sock, const json_t *r)
{
	const json_t *e = json_object_get(r, "error");

	if (e != NULL)
		fprintf(stderr, "riskgate-ctl: %s: the daemon closed the connection: %s: %s\n", sock,
			json_string_value(json_object_get(e, "code")) ?: "failed",
			json_string_value(json_object_get(e, "message")) ?: "");
	else if (c->send_err != 0)
		fprintf(stderr, "riskgate-ctl: %s: the daemon closed the connection before the "
			"request was sent (%s)\n", sock, strerror(c->send_err));
	else
		fprintf(stderr, "riskgate-ctl: %s: the daemon closed the connection before "
			"replying\n", sock);
	return 3;
}


/* Print a reply; returns the exit status. */
static int show(json_t *r, bool as_json)
{
	json_t *res = json_object_get(r, "result");

	if (!json_is_true(json_object_get(r, "ok"))) {
		json_t *e = json_object_get(r, "error");

		if (as_json) {
			char *s = json_dumps(r, JSON_COMPACT);

			printf("%s\n", s ? s : "{}");
			free(s);
		}
		fprintf(stderr, "riskgate-ctl: %s: %s\n",
			json_string_value(json_object_get(e, "code")) ?: "failed",
			json_string_value(json_object_get(e, "message")) ?: "");
		return 1;
	}
	if (as_json) {
		char *s = json_dumps(res, JSON_COMPACT);

		printf("%s\n", s ? s : "{}");
		free(s);
	} else {
		print_object(res, 0);
	}
	return 0;
}

/* Build the request for argv; sets *cmd and returns args (NULL on usage). */
static json_t *build(int argc, char **argv, const char **cmd, bool *follow, double *watch,
		     bool *progress)
{
	const char *c0 = argv[0];
	json_t *a = json_object();

#define NEED(n)                     \
	do {                        \
		if (argc != (n))    \
			usage();    \
	} while (0)
	*cmd = c0;
	if (!strcmp(c0, "status") || !strcmp(c0, "lists") || !strcmp(c0, "table") ||
	    !strcmp(c0, "reload") || !strcmp(c0, "version") || !strcmp(c0, "help")) {
		NEED(1);
	} else if (!strcmp(c0, "stats")) {
		if (argc >= 2 && !strcmp(argv[1], "--watch")) {
			*watch = argc == 3 ? atof(argv[2]) : 1.0;
			if (*watch <= 0 || argc > 3)
				usage();
		} else {
			NEED(1);
		}
	} else if (!strcmp(c0, "policy")) {
		if (argc == 2 && !strcmp(argv[1], "show")) {
			*cmd = "policy-show";
		} else if (argc == 4 && !strcmp(argv[1], "set")) {
			*cmd = "policy-set";
			json_object_set_new(a, "list", json_string(argv[2]));
			json_object_set_new(a, "action", json_string(argv[3]));
		} else {
			usage();
		}
	} else if (!strcmp(c0, "fail-mode")) {
		NEED(2);
		json_object_set_new(a, "mode", json_string(argv[1]));
	} else if (!strcmp(c0, "exempt")) {
		NEED(3);
		json_object_set_new(a, "class", json_integer(atoi(argv[1])));
		json_object_set_new(a, "state", json_string(argv[2]));
	} else if (!strcmp(c0, "lookup")) {
		NEED(3);
		json_object_set_new(a, "kind", json_string(argv[1]));
		json_object_set_new(a, "value", json_string(argv[2]));
	} else if (!strcmp(c0, "add") || !strcmp(c0, "revoke")) {
		int i;

		if (argc < 4)
			usage();
		json_object_set_new(a, "list", json_string(argv[1]));
		json_object_set_new(a, "kind", json_string(argv[2]));
		json_object_set_new(a, "value", json_string(argv[3]));
		for (i = 4; i + 1 < argc; i += 2) {
			if (!strcmp(argv[i], "--severity") && !strcmp(c0, "add"))
				json_object_set_new(a, "severity", json_string(argv[i + 1]));
			else if (!strcmp(argv[i], "--expiry") && !strcmp(c0, "add"))
				json_object_set_new(a, "expiry", json_string(argv[i + 1]));
			else if (!strcmp(argv[i], "--reason"))
				json_object_set_new(a, "reason", json_string(argv[i + 1]));
			else
				usage();
		}
		if (i != argc)
			usage();
	} else if (!strcmp(c0, "import") || !strcmp(c0, "pull")) {
		const char *file = NULL;
		char abs[PATH_MAX];
		bool strict = false;

		*progress = !strcmp(c0, "import");
		for (int i = 1; i < argc; i++) {
			if (!strcmp(c0, "import") && !strcmp(argv[i], "--strict"))
				strict = true;
			else if (!strcmp(c0, "import") && !strcmp(argv[i], "--no-progress"))
				*progress = false;
			else if (argv[i][0] == '-' || file != NULL)
				usage();
			else
				file = argv[i];
		}
		if (file == NULL)
			usage();
		/* the daemon opens the file: it needs a path that does not depend
		 * on this process's working directory */
		if (realpath(file, abs) == NULL) {
			fprintf(stderr, "riskgate-ctl: %s: %s\n", file, strerror(errno));
			exit(1);
		}
		json_object_set_new(a, "path", json_string(abs));
		if (strict)
			json_object_set_new(a, "strict", json_true());
		if (*progress)
			json_object_set_new(a, "progress", json_true());
	} else if (!strcmp(c0, "hits")) {
		for (int i = 1; i < argc; i++) {
			if (!strcmp(argv[i], "--follow"))
				*follow = true;
			else if (!strcmp(argv[i], "-n") && i + 1 < argc)
				json_object_set_new(a, "n", json_integer(atoi(argv[++i])));
			else
				usage();
		}
		if (*follow)
			json_object_set_new(a, "follow", json_true());
	} else if (!strcmp(c0, "flows")) {
		if (argc == 3 && !strcmp(argv[1], "--top") && atoi(argv[2]) > 0)
			json_object_set_new(a, "top", json_integer(atoi(argv[2])));
		else if (argc != 1)
			usage();
	} else if (!strcmp(c0, "receipts") || !strcmp(c0, "peers") || !strcmp(c0, "forks")) {
		NEED(1);
	} else if (!strcmp(c0, "fork-clear")) {
		NEED(2);
		json_object_set_new(a, "member", json_string(argv[1]));
	} else if (!strcmp(c0, "receipt")) {
		const char *num = argc == 3 ? argv[2] : argc == 4 ? argv[3] : NULL;
		char *end = NULL;
		unsigned long long v;

		if (num == NULL || strcmp(argv[1], "open") != 0 ||
		    (argc == 4 && strcmp(argv[2], "--pos") != 0) || *num < '0' || *num > '9')
			usage();
		errno = 0;
		v = strtoull(num, &end, 10);
		if (errno != 0 || *end != '\0' || v > LLONG_MAX)
			usage();
		*cmd = "receipt-open";
		json_object_set_new(a, argc == 4 ? "pos" : "n", json_integer((json_int_t)v));
	} else if (!strcmp(c0, "ledger")) {
		NEED(2);
		if (!strcmp(argv[1], "head"))
			*cmd = "ledger-head";
		else if (!strcmp(argv[1], "verify"))
			*cmd = "ledger-verify";
		else
			usage();
	} else {
		fprintf(stderr, "riskgate-ctl: unknown command '%s'\n", c0);
		usage();
	}
#undef NEED
	return a;
}

static void print_hits(json_t *res, bool as_json)
{
	json_t *hits = json_object_get(res, "hits"), *h;
	size_t i;

	json_array_foreach(hits, i, h) {
		char *s = json_dumps(h, JSON_COMPACT), by[128];
		const char *flow = json_string_value(json_object_get(h, "flow")) ?: "";

		/* a lookup that hit has no flow: who looked it up instead */
		if (!strcmp(json_string_value(json_object_get(h, "source")) ?: "", "lookup")) {
			snprintf(by, sizeof(by), "lookup by %s (uid %lld)",
				 json_string_value(json_object_get(h, "user")) ?: "?",
				 (long long)json_integer_value(json_object_get(h, "uid")));
			flow = by;
		}
		if (as_json || json_object_get(h, "alarm")) {
			printf("%s\n", s ? s : "{}");
		} else {
			printf("%-30s %-18s %-8s %-20s %-6s %-4s %-8s %-10s %s\n",
			       json_string_value(json_object_get(h, "ts")) ?: "",
			       json_string_value(json_object_get(h, "list")) ?: "",
			       json_string_value(json_object_get(h, "kind")) ?: "",
			       json_string_value(json_object_get(h, "masked")) ?: "",
			       json_string_value(json_object_get(h, "stan")) ?: "",
			       json_string_value(json_object_get(h, "mti")) ?: "",
			       json_string_value(json_object_get(h, "action")) ?: "",
			       json_string_value(json_object_get(h, "contributor")) ?: "", flow);
		}
		free(s);
	}
}

/* ---- import: progress lines, then the reply ---- */

struct progress_ui {
	bool tty;
	bool shown;	  /* a line is on the terminal, not yet ended */
	char phase[16];	  /* of the last line shown */
	int decile;	  /* last 10% step printed when not a terminal */
};

static void progress_show(struct progress_ui *ui, const json_t *p)
{
	const char *phase = json_string_value(json_object_get(p, "phase")) ?: "import";
	double bytes = (double)json_integer_value(json_object_get(p, "bytes"));
	double total = (double)json_integer_value(json_object_get(p, "total_bytes"));
	long long lines = json_integer_value(json_object_get(p, "lines"));
	long long rows = json_integer_value(json_object_get(p, "rows"));
	long long bad = json_integer_value(json_object_get(p, "bad"));
	long long blocks = json_integer_value(json_object_get(p, "blocks"));
	int pct = total > 0 ? (int)(bytes * 100 / total) : 100;
	bool checking = !strcmp(phase, "check");
	char line[160];

	if (strcmp(phase, ui->phase) != 0) {
		snprintf(ui->phase, sizeof(ui->phase), "%s", phase);
		ui->decile = -1;
		if (ui->shown)
			fputc('\n', stderr);
		ui->shown = false;
	}
	if (checking)
		snprintf(line, sizeof(line), "checking  %3d%%  %.1f of %.1f MB  %lld lines  %lld bad",
			 pct, bytes / 1e6, total / 1e6, lines, bad);
	else
		snprintf(line, sizeof(line),
			 "importing %3d%%  %.1f of %.1f MB  %lld rows  %lld bad  %lld blocks", pct,
			 bytes / 1e6, total / 1e6, rows, bad, blocks);
	if (ui->tty) {
		fprintf(stderr, "\r%s\033[K", line);
		ui->shown = true;
	} else if (pct / 10 > ui->decile) {
		ui->decile = pct / 10;
		fprintf(stderr, "%s\n", line);
	}
	fflush(stderr);
}

/* Send the import request (args stolen), show its progress lines, print
 * the reply; returns the exit status. */
static int run_import(struct conn *c, json_t *args, bool as_json, const char *sock)
{
	struct progress_ui ui = { .tty = isatty(STDERR_FILENO) != 0, .decile = -1 };
	size_t len;
	char *line = ctl_request_line("import", args, &len);
	int rc;

	if (line == NULL)
		return 1;
	send_line(c, line, len);
	free(line);
	for (;;) {
		json_t *r = next_reply(c), *p = json_object_get(r, "progress");

		if (json_is_object(p)) {
			progress_show(&ui, p);
			json_decref(r);
			continue;
		}
		if (ui.shown)
			fputc('\n', stderr);
		if (r == NULL || c->send_err != 0 || closing_line(r))
			rc = closed(c, sock, r);
		else
			rc = show(r, as_json);
		json_decref(r);
		return rc;
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = getenv("RISKGATE_SOCKET"), *cmd;
	bool as_json = false, follow = false, progress = false;
	double watch = 0;
	struct conn c = { 0 };
	json_t *args, *r;
	int o, rc;

	if (sock == NULL)
		sock = CTL_DEFAULT_SOCKET;
	signal(SIGPIPE, SIG_IGN);
	/* options before the command only: the command's own start with -- too */
	while ((o = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (o) {
		case 's': sock = optarg; break;
		case 'j': as_json = true; break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: usage();
		}
	}
	if (optind >= argc)
		usage();
	args = build(argc - optind, argv + optind, &cmd, &follow, &watch, &progress);
	c.buf = malloc(CTL_LINE_MAX * 4);
	if (c.buf == NULL) {
		json_decref(args);
		return 1;
	}
	c.fd = sock_connect(sock);
	if (c.fd < 0) {
		fprintf(stderr, "riskgate-ctl: cannot connect to %s: %s\n", sock, strerror(-c.fd));
		rc = 3;
		goto out_free;
	}
	if (!strcmp(cmd, "import")) {
		rc = run_import(&c, json_incref(args), as_json, sock);
		goto out_close;
	}
	for (;;) {
		r = roundtrip(&c, cmd, json_incref(args));
		if (r == NULL || c.send_err != 0 || closing_line(r)) {
			rc = closed(&c, sock, r);
			json_decref(r);
			break;
		}
		if (!strcmp(cmd, "hits") && json_is_true(json_object_get(r, "ok"))) {
			print_hits(json_object_get(r, "result"), as_json);
			rc = 0;
		} else {
			rc = show(r, as_json);
		}
		/* an opening that does not check out is a failure for scripts */
		if (rc == 0 && !strcmp(cmd, "receipt-open")) {
			json_t *res = json_object_get(r, "result");

			if (!json_is_true(json_object_get(res, "verified"))) {
				fprintf(stderr, "riskgate-ctl: receipt not verified: %s\n",
					json_string_value(json_object_get(res, "problem")) ?: "?");
				rc = 1;
			}
		}
		json_decref(r);
		if (watch <= 0 || rc != 0)
			break;
		fflush(stdout);
		{
			struct timespec ts = { (time_t)watch,
					       (long)((watch - (double)(time_t)watch) * 1e9) };

			nanosleep(&ts, NULL);
		}
		if (!as_json)
			putchar('\n');
	}
	if (follow && rc == 0) {
		char *line;

		fflush(stdout);
		while ((line = read_line(c.fd, c.buf, &c.have)) != NULL) {
			json_t *e = json_loads(line, 0, NULL);
			json_t *wrap = json_pack("{s:[O]}", "hits", json_object_get(e, "event"));

			if (wrap != NULL)
				print_hits(wrap, as_json);
			json_decref(wrap);
			json_decref(e);
			free(line);
			fflush(stdout);
		}
		/* a follower is ended by its own side: the daemon stopped */
		rc = closed(&c, sock, NULL);
	}
out_close:
	close(c.fd);
out_free:
	json_decref(args);
	free(c.buf);
	return rc;
}
