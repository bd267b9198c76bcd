/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Hit events as JSON lines (DESIGN §12 shape), one line per (event, list),
 * from the dataplane's rings ("source": "dataplane") or from a `lookup`
 * over the control socket that hit ("source": "lookup", with the uid and
 * user, no flow or message fields):
 * to a file rotated by size (FILE -> FILE.1 -> ... FILE.keep), or to
 * stdout ("-").  A failing write (full file system) loses the line, counts
 * it and never stops the daemon; the ledger is not involved.  The last
 * lines are kept in memory for `riskgate-ctl hits`.  Identifiers arrive
 * masked from the dataplane and leave masked.  A tap (hit receipts,
 * control/receipts.c) is told of each hit line as written.
 *
 * Loop thread only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/iso8583.h"
#include "control/ctl.h"

#define EV_LINE_MAX 1024

struct ctl_events {
	char path[CTL_PATH_MAX];
	FILE *out;
	bool is_stdout;
	uint64_t max_bytes;
	unsigned keep;
	char **recent; /* ring of kept lines (malloc'd, without newline) */
	unsigned nb_recent_max, recent_head, nb_recent;
	uint64_t by_member[LEDGER_MEMBERS_MAX];
	struct ctl_events_stats st;
	ctl_events_tap tap;	/* hit receipts: told of each hit line */
	void *tap_arg;
};

static int events_reopen(struct ctl_events *ev, char *err, size_t cap)
{
	struct stat sb;
	int fd;

	if (ev->out != NULL && !ev->is_stdout)
		fclose(ev->out);
	ev->out = NULL;
	if (ev->path[0] == '\0')
		return 0;
	if (strcmp(ev->path, "-") == 0) {
		ev->out = stdout;
		ev->is_stdout = true;
		return 0;
	}
	/* 0640: hit lines are masked, still not for every local user */
	fd = open(ev->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	ev->out = fd >= 0 ? fdopen(fd, "a") : NULL;
	if (ev->out == NULL) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		snprintf(err, cap, "events %s: %s", ev->path, strerror(e));
		return -e;
	}
	ev->st.bytes_file = fstat(fileno(ev->out), &sb) == 0 ? (uint64_t)sb.st_size : 0;
	return 0;
}

struct ctl_events *ctl_events_open(const char *path, uint64_t max_bytes, unsigned keep,
				   unsigned kept_lines, char *err, size_t cap)
{
	struct ctl_events *ev = calloc(1, sizeof(*ev));

	if (ev == NULL || kept_lines == 0) {
		free(ev);
		snprintf(err, cap, "events: %s", strerror(ENOMEM));
		errno = ENOMEM;
		return NULL;
	}
	snprintf(ev->path, sizeof(ev->path), "%s", path);
	ev->max_bytes = max_bytes;
	ev->keep = keep;
	ev->nb_recent_max = kept_lines;
	ev->recent = calloc(kept_lines, sizeof(*ev->recent));
	if (ev->recent == NULL) {
		free(ev);
		snprintf(err, cap, "events: %s", strerror(ENOMEM));
		errno = ENOMEM;
		return NULL;
	}
	if (events_reopen(ev, err, cap) != 0) {
		free(ev->recent);
		free(ev);
		return NULL;
	}
	return ev;
}

void ctl_events_close(struct ctl_events *ev)
{
	if (ev == NULL)
		return;
	if (ev->out != NULL) {
		fflush(ev->out);
		if (!ev->is_stdout)
			fclose(ev->out);
	}
	for (unsigned i = 0; i < ev->nb_recent_max; i++)
		free(ev->recent[i]);
	free(ev->recent);
	free(ev);
}

static void events_rotate(struct ctl_events *ev)
{
	char from[CTL_PATH_MAX + 16], to[CTL_PATH_MAX + 16];
	char err[CTL_ERR_MAX];

	fflush(ev->out);
	if (ev->keep == 0) {
		if (ftruncate(fileno(ev->out), 0) == 0)
			ev->st.bytes_file = 0;
		return;
	}
	for (unsigned i = ev->keep; i > 1; i--) {
		snprintf(from, sizeof(from), "%s.%u", ev->path, i - 1);
		snprintf(to, sizeof(to), "%s.%u", ev->path, i);
		rename(from, to);
	}
	snprintf(to, sizeof(to), "%s.1", ev->path);
	if (rename(ev->path, to) != 0)
		ctl_log(CTL_LOG_WARN, "events %s: rotate: %s", ev->path, strerror(errno));
	if (events_reopen(ev, err, sizeof(err)) != 0)
		ctl_log(CTL_LOG_ERR, "%s", err);
	ev->st.bytes_file = 0;
	ev->st.nb_rotations++;
}

static void keep_line(struct ctl_events *ev, const char *line, size_t len)
{
	unsigned slot = (ev->recent_head + ev->nb_recent) % ev->nb_recent_max;
	char *copy = malloc(len + 1);

	if (copy == NULL)
		return;
	memcpy(copy, line, len);
	copy[len] = '\0';
	if (ev->nb_recent == ev->nb_recent_max) {
		slot = ev->recent_head;
		ev->recent_head = (ev->recent_head + 1) % ev->nb_recent_max;
	} else {
		ev->nb_recent++;
	}
	free(ev->recent[slot]);
	ev->recent[slot] = copy;
}

static void emit_line(struct ctl_events *ev, const char *line, size_t len, ctl_events_sink sink,
		      void *arg)
{
	keep_line(ev, line, len);
	if (sink != NULL)
		sink(arg, line, len);
	ev->st.nb_lines++;
	if (ev->out == NULL)
		return;
	if (fwrite(line, 1, len, ev->out) != len || fputc('\n', ev->out) == EOF) {
		ev->st.nb_write_errors++;
		clearerr(ev->out);
		return;
	}
	ev->st.bytes_file += len + 1;
	if (!ev->is_stdout && ev->max_bytes != 0 && ev->st.bytes_file >= ev->max_bytes)
		events_rotate(ev);
}

static void json_str(char *out, size_t cap, const char *s)
{
	size_t o = 0;

	if (cap < 3)
		return;
	out[o++] = '"';
	for (; *s && o + 8 < cap; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\') {
			out[o++] = '\\';
			out[o++] = (char)ch;
		} else if (ch < 0x20 || ch >= 0x7f) {
			o += (size_t)snprintf(out + o, cap - o, "\\u%04x", ch);
		} else {
			out[o++] = (char)ch;
		}
	}
	out[o++] = '"';
	out[o] = '\0';
}

static void addr_text(const uint8_t *a, unsigned family, uint16_t port, char *out, size_t cap)
{
	char t[INET6_ADDRSTRLEN] = "?";

	if (family == 4) {
		inet_ntop(AF_INET, a, t, sizeof(t));
		snprintf(out, cap, "%s:%u", t, port);
	} else {
		inet_ntop(AF_INET6, a, t, sizeof(t));
		snprintf(out, cap, "[%s]:%u", t, port);
	}
}

int ctl_event_format(const struct rg_event *e, const struct ctl_event_src *src, unsigned list,
		     const struct ledger_consortium *cons, char *out, size_t cap)
{
	char ts[48], date[32], mti[5], fp[2 * RG_EVENT_FP_PREFIX + 1], from[64], to[64];
	char masked[2 * RG_EVENT_MASKED_MAX + 8], stan[40], rrn[72], lname[40], contrib[80];
	char cstr[RG_EVENT_MASKED_MAX];
	time_t sec = (time_t)(e->time_ns / 1000000000ull);
	const char *kind = rg_kind_name(e->ident_kind);
	const char *ln = NULL;
	struct tm tm;
	int n;

	gmtime_r(&sec, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts, sizeof(ts), "%s.%09lluZ", date, (unsigned long long)(e->time_ns % 1000000000ull));
	rg_iso_mti_text(e->mti, mti);
	for (unsigned i = 0; i < RG_EVENT_FP_PREFIX; i++)
		snprintf(fp + 2 * i, 3, "%02x", e->fp[i]);
	addr_text(e->saddr, e->family, e->sport, from, sizeof(from));
	addr_text(e->daddr, e->family, e->dport, to, sizeof(to));
	/* the record comes from shared memory: terminate before use */
	memcpy(cstr, e->masked, sizeof(cstr));
	cstr[sizeof(cstr) - 1] = '\0';
	json_str(masked, sizeof(masked), cstr);
	memcpy(cstr, e->stan, sizeof(e->stan));
	cstr[sizeof(e->stan) - 1] = '\0';
	json_str(stan, sizeof(stan), cstr);
	memcpy(cstr, e->rrn, sizeof(e->rrn));
	cstr[sizeof(e->rrn) - 1] = '\0';
	json_str(rrn, sizeof(rrn), cstr);
	if (cons != NULL && list < LEDGER_LISTS_MAX && cons->lists[list].name[0])
		ln = cons->lists[list].name;
	if (ln == NULL)
		ln = rg_list_std_name(list);
	if (ln == NULL) {
		snprintf(lname, sizeof(lname), "list_%u", list);
		ln = lname;
	}
	if (cons != NULL && e->contributor < cons->nb_members)
		json_str(contrib, sizeof(contrib), cons->members[e->contributor].name);
	else
		snprintf(contrib, sizeof(contrib), "\"member_%u\"", e->contributor);
	if (src != NULL) {
		char name[40], user[80];

		json_str(name, sizeof(name), src->name);
		json_str(user, sizeof(user), src->user ? src->user : "");
		n = snprintf(out, cap,
			     "{\"ts\": \"%s\", \"source\": %s, \"uid\": %u, \"user\": %s, "
			     "\"list\": \"%s\", \"kind\": \"%s\", \"masked\": %s, \"fp\": \"%s\", "
			     "\"action\": \"%s\", \"contributor\": %s, \"contributor_index\": %u, "
			     "\"ledger_pos\": %llu}",
			     ts, name, src->uid, user, ln, kind ? kind : "UNKNOWN", masked, fp,
			     rg_action_name(e->action), contrib, e->contributor,
			     (unsigned long long)e->ledger_pos);
		return n >= (int)cap ? (int)cap - 1 : n;
	}
	n = snprintf(out, cap,
		     "{\"ts\": \"%s\", \"source\": \"dataplane\", \"list\": \"%s\", "
		     "\"kind\": \"%s\", \"masked\": %s, "
		     "\"fp\": \"%s\", \"mti\": \"%s\", \"stan\": %s, \"rrn\": %s, "
		     "\"flow\": \"%s>%s\", \"dir\": \"%s\", \"action\": \"%s\", "
		     "\"contributor\": %s, \"contributor_index\": %u, \"ledger_pos\": %llu, "
		     "\"lcore\": %u, \"de\": %u}",
		     ts, ln, kind ? kind : "UNKNOWN", masked, fp, mti, stan, rrn, from, to,
		     rg_event_dir_name(e->dir), rg_action_name(e->action), contrib, e->contributor,
		     (unsigned long long)e->ledger_pos, e->lcore, e->de);
	return n >= (int)cap ? (int)cap - 1 : n;
}

void ctl_events_put(struct ctl_events *ev, const struct rg_event *e,
		    const struct ctl_event_src *src, const struct ledger_consortium *cons,
		    ctl_events_sink sink, void *arg)
{
	char line[EV_LINE_MAX];

	if (src != NULL)
		ev->st.nb_lookup_events++;
	else
		ev->st.nb_events++;
	if (e->contributor < LEDGER_MEMBERS_MAX)
		ev->by_member[e->contributor]++;
	for (uint16_t l = e->lists; l; l &= (uint16_t)(l - 1)) {
		int n = ctl_event_format(e, src, (unsigned)__builtin_ctz(l), cons, line,
					 sizeof(line));

		if (n <= 0)
			continue;
		emit_line(ev, line, (size_t)n, sink, arg);
		/* the very line written is what a receipt commits to */
		if (ev->tap != NULL)
			ev->tap(ev->tap_arg, e, (unsigned)__builtin_ctz(l), line, (size_t)n);
	}
}

void ctl_events_set_tap(struct ctl_events *ev, ctl_events_tap fn, void *arg)
{
	ev->tap = fn;
	ev->tap_arg = arg;
}

void ctl_events_alarm(struct ctl_events *ev, const char *alarm, bool raised, const char *detail,
		      ctl_events_sink sink, void *arg)
{
	char line[EV_LINE_MAX], ts[48], d[512];
	struct timespec now;
	struct tm tm;
	int n;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_str(d, sizeof(d), detail);
	n = snprintf(line, sizeof(line), "{\"ts\": \"%s\", \"alarm\": \"%s\", \"state\": \"%s\", "
		     "\"detail\": %s}", ts, alarm, raised ? "raised" : "cleared", d);
	if (n > 0 && n < (int)sizeof(line))
		emit_line(ev, line, (size_t)n, sink, arg);
}

void ctl_events_flush(struct ctl_events *ev)
{
	if (ev->out != NULL && fflush(ev->out) != 0) {
		ev->st.nb_write_errors++;
		clearerr(ev->out);
	}
}

json_t *ctl_events_recent(const struct ctl_events *ev, unsigned n, size_t max_bytes,
			  bool *truncated)
{
	json_t *a = json_array();
	unsigned skip = ev->nb_recent > n ? ev->nb_recent - n : 0;
	size_t bytes = 0;
	unsigned first = ev->nb_recent;

	/* newest first until the bound, each line plus its separator */
	while (first > skip) {
		size_t len = strlen(ev->recent[(ev->recent_head + first - 1) % ev->nb_recent_max]) + 1;

		if (max_bytes != 0 && bytes + len > max_bytes)
			break;
		bytes += len;
		first--;
	}
	if (truncated != NULL)
		*truncated = first > skip;
	skip = first;

	for (unsigned i = skip; a != NULL && i < ev->nb_recent; i++) {
		const char *line = ev->recent[(ev->recent_head + i) % ev->nb_recent_max];
		json_t *o = json_loads(line, 0, NULL);

		if (o != NULL)
			json_array_append_new(a, o);
	}
	return a;
}

void ctl_events_stats(const struct ctl_events *ev, struct ctl_events_stats *st)
{
	*st = ev->st;
}

const uint64_t *ctl_events_by_member(const struct ctl_events *ev)
{
	return ev->by_member;
}
