/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * riskgate-acq: an acquirer-host simulator.  Opens N TCP connections to a
 * switch and sends ISO 8583 requests built from a generated card population
 * (perf/gen/gen.h: a share of them carry listed identifiers), either at a
 * set total rate or as fast as they are answered with a window of W
 * outstanding requests per connection.  Responses are matched to requests
 * by STAN per connection; what was never answered within the timeout is
 * counted as unanswered.  At the end it prints one summary (JSON with
 * --json): sent, answered, unanswered, declined by response code, RTT
 * percentiles.
 *
 * One epoll loop; per tick: at most one read per ready connection, the
 * sends the rate (or window) allows, one timeout sweep.  STANs run 1..999999
 * per connection; at most SLOTS requests are outstanding on one connection
 * (a STAN's slot is STAN % SLOTS).  Raw PANs go only to the list file.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/frame.h"
#include "common/iso8583.h"
#include "perf/gen/gen.h"
#include "perf/sim/sim.h"

#define ACQ_MAX_CONNS 4096
#define ACQ_SLOTS 4096           /* outstanding requests per connection, at most */
#define ACQ_RETRY_NS 200000000ULL /* reconnect delay */
#define ACQ_MAX_CODES 64
#define ACQ_GIVEUP_NS 10000000000ULL /* no connection up this long: stop sending */
#define ACQ_NB_LISTS 4

static const char *const acq_list_names[ACQ_NB_LISTS] = {
	"txn_fraud", "high_risk_account", "marketing_cheat", "telecom_fraud",
};

struct acq_cfg {
	struct sockaddr_in peer;
	const char *peer_s;
	unsigned nb_conns;
	double rate;            /* requests/s in total; 0: window mode */
	unsigned window;        /* outstanding per connection in window mode */
	uint64_t requests;      /* 0: no limit (then duration limits) */
	double duration_s;      /* 0: no limit */
	double timeout_s;
	const char *dialect;
	const char *framing;
	uint64_t seed;
	double hit_rate;
	unsigned nb_listed;
	const char *lists;
	unsigned list_size;
	unsigned members;
	bool lists_only;
	const char *truth;
	bool json;
	bool progress;
};

struct acq_slot {
	uint64_t sent_ns;
	uint32_t stan;          /* 0: free */
	uint16_t mti;
	uint8_t listed;
};

enum acq_state {
	ACQ_CLOSED = 0,
	ACQ_CONNECTING,
	ACQ_UP,
};

struct acq_conn {
	struct sim_conn io;
	uint8_t state;          /* enum acq_state */
	uint32_t next_stan;     /* 1..999999 */
	unsigned nb_out;        /* outstanding requests */
	uint64_t retry_ns;      /* when ACQ_CLOSED: reconnect at */
	struct acq_slot *slots; /* ACQ_SLOTS */
	uint32_t *fifo;         /* STANs in send order: timeout sweep */
	uint32_t fifo_head, fifo_len;
	char acq_id[8];
	char flow[64];          /* "a.b.c.d:port>e.f.g.h:port" */
	uint8_t hdr[RG_FRAME_MAX_HDR];
};

struct acq_code {
	char code[4];
	uint64_t n;
};

struct acq_stats {
	uint64_t sent;
	uint64_t answered;
	uint64_t unanswered;    /* timed out or lost with a closed connection */
	uint64_t late;          /* answered after being counted unanswered */
	uint64_t unmatched;     /* a response with no request of its STAN */
	uint64_t mti_mismatch;  /* response MTI is not the request's + 10 */
	uint64_t malformed;
	uint64_t listed_sent;   /* requests carrying a listed identifier */
	uint64_t list_hits[ACQ_NB_LISTS]; /* ground-truth (identifier, list) hits */
	uint64_t connects;
	uint64_t connect_errors;
	uint64_t disconnects;
	uint64_t blocked;       /* sends deferred: window, slots or buffer full */
	uint64_t bytes_out;
	uint64_t bytes_in;
	unsigned nb_codes;
	struct acq_code codes[ACQ_MAX_CODES];
	struct sim_hist rtt;
};

struct acq_ctx {
	struct acq_cfg cfg;
	struct rg_dialect *d;
	struct rg_framing fr;
	struct gen_pop *pop;
	FILE *truth;
	int epfd;
	struct acq_conn *conns;
	unsigned rr;            /* next connection to send on (rate mode) */
	double credit;          /* requests the rate allows now */
	uint64_t last_credit_ns;
	bool sending;
	struct acq_stats st;
	uint8_t rx[SIM_RX_BYTES];
	uint8_t msg[SIM_MSG_MAX];
};

static void usage(FILE *fp)
{
	fputs("usage: riskgate-acq --connect ADDR:PORT [options]\n"
	      "\n"
	      "Acquirer simulator: sends ISO 8583 requests from a generated card\n"
	      "population over TCP and matches the answers.\n"
	      "\n"
	      "  -c, --connect ADDR:PORT  the switch (required unless --lists-only)\n"
	      "  -C, --connections N      TCP connections (4)\n"
	      "  -r, --rate R             requests/s in total; 0: as fast as answered (0)\n"
	      "  -w, --window W           outstanding requests per connection when\n"
	      "                           --rate is 0 (8)\n"
	      "  -n, --requests N         stop sending after N requests\n"
	      "  -t, --duration S         stop sending after S seconds\n"
	      "                           (neither: 1000 requests)\n"
	      "      --timeout S          a request unanswered after S s is lost (2)\n"
	      "  -d, --dialect D          built-in dialect or dialect file (ascii87)\n"
	      "  -f, --framing F          len2, len2i, ascii4, bcd2, +tpdu, +hdrN (len2)\n"
	      "  -s, --seed S             population seed (1)\n"
	      "      --hit-rate R         share of requests with a listed identifier (0.02)\n"
	      "      --listed N           listed cards in the population (64)\n"
	      "  -l, --lists FILE         write the population's list CSV\n"
	      "                           (list,kind,value,severity,expiry,reason)\n"
	      "      --list-size N        decoy entries per list in it (1000)\n"
	      "      --members N          split the list round-robin into FILE-i.csv (1)\n"
	      "      --lists-only         write the list file and exit\n"
	      "      --truth FILE         ground truth JSONL of the hits sent\n"
	      "  -j, --json               print the summary as one JSON object\n"
	      "      --no-progress        no progress bar even on a terminal\n"
	      "  -h, --help               this text\n"
	      "\n"
	      "See docs/simulators.md.\n", fp);
}

/* ------------------------------------------------------------------ */
/* connections */

static void acq_fail_outstanding(struct acq_ctx *x, struct acq_conn *c)
{
	unsigned i;

	for (i = 0; i < ACQ_SLOTS; i++) {
		if (c->slots[i].stan) {
			c->slots[i].stan = 0;
			x->st.unanswered++;
		}
	}
	c->nb_out = 0;
	c->fifo_head = 0;
	c->fifo_len = 0;
}

static void acq_close(struct acq_ctx *x, struct acq_conn *c, uint64_t now)
{
	if (c->state == ACQ_UP)
		x->st.disconnects++;
	if (c->io.fd >= 0)
		epoll_ctl(x->epfd, EPOLL_CTL_DEL, c->io.fd, NULL);
	sim_conn_reset(&c->io);
	acq_fail_outstanding(x, c);
	c->state = ACQ_CLOSED;
	c->retry_ns = now + ACQ_RETRY_NS;
}

static void acq_connect(struct acq_ctx *x, unsigned i)
{
	struct acq_conn *c = &x->conns[i];
	struct epoll_event ev = { .events = EPOLLOUT | EPOLLIN | EPOLLRDHUP, .data.u64 = i };
	int one = 1, fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto out_fail;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)&x->cfg.peer, sizeof(x->cfg.peer)) != 0 &&
	    errno != EINPROGRESS)
		goto out_close;
	if (epoll_ctl(x->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
		goto out_close;
	c->io.fd = fd;
	c->io.want_out = true;
	c->state = ACQ_CONNECTING;
	return;

out_close:
	close(fd);
out_fail:
	x->st.connect_errors++;
	c->retry_ns = sim_now_ns() + ACQ_RETRY_NS;
}

static void acq_connected(struct acq_ctx *x, struct acq_conn *c, unsigned i, uint64_t now)
{
	struct sockaddr_in me;
	socklen_t sl = sizeof(me);
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
	int err = 0;

	sl = sizeof(err);
	if (getsockopt(c->io.fd, SOL_SOCKET, SO_ERROR, &err, &sl) != 0 || err) {
		x->st.connect_errors++;
		acq_close(x, c, now);
		return;
	}
	sl = sizeof(me);
	if (getsockname(c->io.fd, (struct sockaddr *)&me, &sl) == 0) {
		inet_ntop(AF_INET, &me.sin_addr, a, sizeof(a));
		inet_ntop(AF_INET, &x->cfg.peer.sin_addr, b, sizeof(b));
		snprintf(c->flow, sizeof(c->flow), "%s:%u>%s:%u", a, ntohs(me.sin_port), b,
			 ntohs(x->cfg.peer.sin_port));
	}
	c->state = ACQ_UP;
	x->st.connects++;
	rg_framer_reset(&c->io.framer);
	if (sim_conn_update_events(&c->io, x->epfd, i) != 0)
		acq_close(x, c, now);
}

/* ------------------------------------------------------------------ */
/* requests and responses */

static bool acq_can_send(const struct acq_ctx *x, const struct acq_conn *c)
{
	if (c->state != ACQ_UP || c->fifo_len == ACQ_SLOTS ||
	    c->slots[c->next_stan % ACQ_SLOTS].stan != 0)
		return false;
	if (x->cfg.rate <= 0 && c->nb_out >= x->cfg.window)
		return false;
	return sim_conn_room(&c->io) >= SIM_MSG_MAX + RG_FRAME_MAX_HDR + 8;
}

/* Build and queue one request on c.  Returns 0 or -errno. */
static int acq_send_one(struct acq_ctx *x, struct acq_conn *c, uint64_t now)
{
	struct acq_slot *s = &c->slots[c->next_stan % ACQ_SLOTS];
	struct gen_req info;
	unsigned l;
	int n, ret;

	n = gen_pop_request(x->pop, c->next_stan, c->acq_id, sim_wall_us(), x->msg,
			    sizeof(x->msg), &info);
	if (n < 0)
		return n;
	ret = sim_conn_put(&c->io, &x->fr, c->hdr, x->fr.hdr_bytes, x->msg, (uint32_t)n);
	if (ret)
		return ret;
	s->stan = c->next_stan;
	s->mti = info.mti;
	s->listed = info.nb_hits > 0;
	s->sent_ns = now;
	c->fifo[(c->fifo_head + c->fifo_len) % ACQ_SLOTS] = c->next_stan;
	c->fifo_len++;
	c->nb_out++;
	c->next_stan = c->next_stan % 999999 + 1;
	x->st.sent++;
	x->st.bytes_out += (uint64_t)n + x->fr.hdr_bytes + rg_framing_len_bytes(&x->fr);
	if (info.nb_hits) {
		x->st.listed_sent++;
		for (l = 0; l < ACQ_NB_LISTS; l++)
			x->st.list_hits[l] += info.list_hits[l];
		if (x->truth && gen_pop_truth(x->pop, x->truth, c->flow) < 0)
			return -EIO;
	}
	return 0;
}

static void acq_count_code(struct acq_ctx *x, const char *code)
{
	unsigned i;

	for (i = 0; i < x->st.nb_codes; i++) {
		if (strcmp(x->st.codes[i].code, code) == 0) {
			x->st.codes[i].n++;
			return;
		}
	}
	if (x->st.nb_codes == ACQ_MAX_CODES)
		code = "??";
	for (i = 0; i < x->st.nb_codes; i++) {
		if (strcmp(x->st.codes[i].code, code) == 0) {
			x->st.codes[i].n++;
			return;
		}
	}
	if (x->st.nb_codes == ACQ_MAX_CODES)
		return;
	snprintf(x->st.codes[x->st.nb_codes].code, sizeof(x->st.codes[0].code), "%s", code);
	x->st.codes[x->st.nb_codes++].n = 1;
}

static void acq_response(struct acq_ctx *x, struct acq_conn *c, const struct rg_frame *f,
			 uint64_t now)
{
	struct rg_iso_msg m;
	struct acq_slot *s;
	char text[16], code[4];
	unsigned long stan;
	char *end;
	int n;

	if (rg_iso_decode(x->d, f->msg, f->msg_len, 0, &m) != RG_ANOM_NONE) {
		x->st.malformed++;
		return;
	}
	n = rg_iso_field_text(x->d, &m, 11, text, sizeof(text));
	if (n <= 0) {
		x->st.unmatched++;
		return;
	}
	stan = strtoul(text, &end, 10);
	s = &c->slots[stan % ACQ_SLOTS];
	if (*end || stan == 0 || stan > 999999 || s->stan != stan) {
		/* answered after its timeout, or never asked */
		if (*end || stan == 0 || stan > 999999)
			x->st.unmatched++;
		else
			x->st.late++;
		return;
	}
	if (m.mti != s->mti + 10)
		x->st.mti_mismatch++;
	sim_hist_add(&x->st.rtt, now - s->sent_ns);
	s->stan = 0;
	c->nb_out--;
	x->st.answered++;
	n = rg_iso_field_text(x->d, &m, 39, code, sizeof(code));
	if (n < 0)
		acq_count_code(x, "--");
	else if (strcmp(code, "00") != 0)
		acq_count_code(x, code);
}

/* One read and the responses it completes.  Returns false on close. */
static bool acq_read(struct acq_ctx *x, struct acq_conn *c, uint64_t now)
{
	struct rg_frame f;
	ssize_t n;

	n = recv(c->io.fd, x->rx, sizeof(x->rx), 0);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
	if (n == 0)
		return false;
	x->st.bytes_in += (uint64_t)n;
	rg_framer_feed(&c->io.framer, x->rx, (uint32_t)n);
	for (;;) {
		enum rg_frame_ret r = rg_framer_next(&c->io.framer, &f);

		if (r == RG_FRAME_NEED_MORE || r == RG_FRAME_KEEPALIVE) {
			if (r == RG_FRAME_NEED_MORE)
				break;
			continue;
		}
		if (r == RG_FRAME_ERROR) {
			x->st.malformed++;
			return false;
		}
		acq_response(x, c, &f, now);
	}
	return true;
}

/* Retire answered STANs at the head of c's FIFO and time out old ones. */
static void acq_sweep(struct acq_ctx *x, struct acq_conn *c, uint64_t now,
		      uint64_t timeout_ns)
{
	while (c->fifo_len) {
		uint32_t stan = c->fifo[c->fifo_head];
		struct acq_slot *s = &c->slots[stan % ACQ_SLOTS];

		if (s->stan == stan) {
			if (now - s->sent_ns < timeout_ns)
				break;
			s->stan = 0;
			c->nb_out--;
			x->st.unanswered++;
		}
		c->fifo_head = (c->fifo_head + 1) % ACQ_SLOTS;
		c->fifo_len--;
	}
}

static uint64_t acq_outstanding(const struct acq_ctx *x)
{
	uint64_t n = 0;
	unsigned i;

	for (i = 0; i < x->cfg.nb_conns; i++)
		n += x->conns[i].nb_out;
	return n;
}

static bool acq_quota_left(const struct acq_ctx *x)
{
	return !x->cfg.requests || x->st.sent < x->cfg.requests;
}

/* The sends this tick allows; bounded by the rate credit or the windows. */
static int acq_send(struct acq_ctx *x, uint64_t now)
{
	unsigned i, tried;
	int ret;

	if (x->cfg.rate <= 0) {
		for (i = 0; i < x->cfg.nb_conns; i++) {
			struct acq_conn *c = &x->conns[i];

			while (acq_quota_left(x) && acq_can_send(x, c)) {
				ret = acq_send_one(x, c, now);
				if (ret)
					return ret;
			}
		}
		return 0;
	}
	x->credit += x->cfg.rate * (double)(now - x->last_credit_ns) / 1e9;
	x->last_credit_ns = now;
	/* no bursts beyond 10 ms of traffic after a stall */
	if (x->credit > x->cfg.rate / 100 + x->cfg.nb_conns)
		x->credit = x->cfg.rate / 100 + x->cfg.nb_conns;
	tried = 0;
	while (x->credit >= 1 && acq_quota_left(x) && tried < x->cfg.nb_conns) {
		struct acq_conn *c = &x->conns[x->rr];

		x->rr = (x->rr + 1) % x->cfg.nb_conns;
		if (!acq_can_send(x, c)) {
			tried++;
			continue;
		}
		tried = 0;
		ret = acq_send_one(x, c, now);
		if (ret)
			return ret;
		x->credit -= 1;
	}
	if (x->credit >= 1 && acq_quota_left(x))
		x->st.blocked++;
	return 0;
}

static void acq_event(struct acq_ctx *x, const struct epoll_event *ev, uint64_t now)
{
	unsigned i = (unsigned)ev->data.u64;
	struct acq_conn *c = &x->conns[i];

	if (c->state == ACQ_CONNECTING) {
		if (ev->events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			acq_connected(x, c, i, now);
		return;
	}
	if (c->state != ACQ_UP)
		return;
	if ((ev->events & EPOLLIN) && !acq_read(x, c, now)) {
		acq_close(x, c, now);
		return;
	}
	if ((ev->events & (EPOLLERR | EPOLLHUP)) ||
	    ((ev->events & EPOLLRDHUP) && !(ev->events & EPOLLIN)))
		acq_close(x, c, now);
}

/* ------------------------------------------------------------------ */
/* reporting */

static void acq_progress(const struct acq_ctx *x, uint64_t start, uint64_t now, bool done)
{
	double frac, secs = (double)(now - start) / 1e9;
	char bar[31];
	unsigned i, fill;

	if (x->cfg.requests)
		frac = (double)x->st.sent / (double)x->cfg.requests;
	else if (x->cfg.duration_s > 0)
		frac = secs / x->cfg.duration_s;
	else
		frac = 0;
	if (frac > 1 || done)
		frac = 1;
	fill = (unsigned)(frac * 30);
	for (i = 0; i < 30; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[30] = '\0';
	fprintf(stderr, "\r[%s] %3.0f%%  sent %" PRIu64 "  answered %" PRIu64
		"  unanswered %" PRIu64 "  p50 %.0f us  %.0f/s   ", bar, frac * 100,
		x->st.sent, x->st.answered, x->st.unanswered,
		(double)sim_hist_quantile(&x->st.rtt, 0.5) / 1e3,
		secs > 0 ? (double)x->st.answered / secs : 0.0);
	if (done)
		fputc('\n', stderr);
}

static void acq_print(const struct acq_ctx *x, double secs, double send_secs)
{
	const struct acq_stats *s = &x->st;
	double p50 = (double)sim_hist_quantile(&s->rtt, 0.5) / 1e3;
	double p99 = (double)sim_hist_quantile(&s->rtt, 0.99) / 1e3;
	double p999 = (double)sim_hist_quantile(&s->rtt, 0.999) / 1e3;
	double rps = send_secs > 0 ? (double)s->answered / send_secs : 0;
	unsigned i;

	if (x->cfg.json) {
		printf("{\"sent\": %" PRIu64 ", \"answered\": %" PRIu64
		       ", \"unanswered\": %" PRIu64 ", \"declined\": {",
		       s->sent, s->answered, s->unanswered);
		for (i = 0; i < s->nb_codes; i++)
			printf("%s\"%s\": %" PRIu64, i ? ", " : "", s->codes[i].code,
			       s->codes[i].n);
		printf("}, \"rtt_us\": {\"p50\": %.1f, \"p99\": %.1f, \"p999\": %.1f, "
		       "\"max\": %.1f}, \"listed_sent\": %" PRIu64 ", \"list_hits\": {",
		       p50, p99, p999, (double)s->rtt.max_ns / 1e3, s->listed_sent);
		for (i = 0; i < ACQ_NB_LISTS; i++)
			printf("%s\"%s\": %" PRIu64, i ? ", " : "", acq_list_names[i],
			       s->list_hits[i]);
		printf("}, \"late\": %" PRIu64 ", \"unmatched\": %" PRIu64
		       ", \"mti_mismatch\": %" PRIu64 ", \"malformed\": %" PRIu64
		       ", \"connections\": %u, \"connects\": %" PRIu64
		       ", \"connect_errors\": %" PRIu64 ", \"disconnects\": %" PRIu64
		       ", \"bytes_out\": %" PRIu64 ", \"bytes_in\": %" PRIu64
		       ", \"duration_s\": %.3f, \"answered_per_s\": %.1f}\n",
		       s->late, s->unmatched, s->mti_mismatch, s->malformed, x->cfg.nb_conns,
		       s->connects, s->connect_errors, s->disconnects, s->bytes_out,
		       s->bytes_in, secs, rps);
		return;
	}
	printf("riskgate-acq to %s: %u connections, %.1f s\n", x->cfg.peer_s,
	       x->cfg.nb_conns, secs);
	printf("  %-18s %12" PRIu64 "  (%" PRIu64 " with listed identifiers)\n", "sent",
	       s->sent, s->listed_sent);
	printf("  %-18s %12" PRIu64 "  (%.0f/s)\n", "answered", s->answered, rps);
	printf("  %-18s %12" PRIu64 "\n", "unanswered", s->unanswered);
	for (i = 0; i < s->nb_codes; i++)
		printf("  declined, code %-3s %12" PRIu64 "\n", s->codes[i].code, s->codes[i].n);
	printf("  %-18s %9.1f / %.1f / %.1f us\n", "rtt p50/p99/p99.9", p50, p99, p999);
	if (s->late || s->unmatched || s->mti_mismatch || s->malformed)
		printf("  late %" PRIu64 ", unmatched %" PRIu64 ", MTI mismatch %" PRIu64
		       ", malformed %" PRIu64 "\n", s->late, s->unmatched, s->mti_mismatch,
		       s->malformed);
	if (s->connect_errors || s->disconnects)
		printf("  connect errors %" PRIu64 ", disconnects %" PRIu64 "\n",
		       s->connect_errors, s->disconnects);
}

/* ------------------------------------------------------------------ */
/* the loop */

static int acq_run(struct acq_ctx *x, double *send_secs)
{
	struct epoll_event evs[64];
	uint64_t start = sim_now_ns(), now = start, stop_ns = 0, last_prog = 0, sent_end = 0;
	uint64_t last_up = start;
	uint64_t timeout_ns = (uint64_t)(x->cfg.timeout_s * 1e9);
	bool tty = x->cfg.progress && sim_is_tty(stderr);
	unsigned i;
	int n, ret;

	if (x->cfg.duration_s > 0)
		stop_ns = start + (uint64_t)(x->cfg.duration_s * 1e9);
	x->last_credit_ns = start;
	x->sending = true;
	for (i = 0; i < x->cfg.nb_conns; i++)
		acq_connect(x, i);
	for (;;) {
		n = epoll_wait(x->epfd, evs, 64, x->cfg.rate > 0 ? 1 : 10);
		if (n < 0 && errno != EINTR)
			return -errno;
		now = sim_now_ns();
		for (i = 0; n > 0 && i < (unsigned)n; i++)
			acq_event(x, &evs[i], now);
		if (x->sending && now - last_up > ACQ_GIVEUP_NS) {
			fprintf(stderr, "riskgate-acq: no connection to %s for %.0f s, giving up\n",
				x->cfg.peer_s, (double)ACQ_GIVEUP_NS / 1e9);
			x->sending = false;
			sent_end = now;
		}
		if (x->sending && (sim_stop || !acq_quota_left(x) || (stop_ns && now >= stop_ns))) {
			x->sending = false;
			sent_end = now;
		}
		for (i = 0; i < x->cfg.nb_conns; i++) {
			struct acq_conn *c = &x->conns[i];

			if (c->state == ACQ_CLOSED && x->sending && now >= c->retry_ns)
				acq_connect(x, i);
			if (c->state == ACQ_UP) {
				acq_sweep(x, c, now, timeout_ns);
				last_up = now;
			}
		}
		if (x->sending) {
			ret = acq_send(x, now);
			if (ret)
				return ret;
		}
		for (i = 0; i < x->cfg.nb_conns; i++) {
			struct acq_conn *c = &x->conns[i];

			if (c->state != ACQ_UP)
				continue;
			if (sim_conn_flush(&c->io) != 0 ||
			    sim_conn_update_events(&c->io, x->epfd, i) != 0)
				acq_close(x, c, now);
		}
		if (tty && now - last_prog > 250000000ULL) {
			acq_progress(x, start, now, false);
			last_prog = now;
		}
		/* a second signal ends the drain too */
		if (!x->sending && (acq_outstanding(x) == 0 || sim_stop > 1))
			break;
		if (!x->sending && sim_stop && now - sent_end > timeout_ns)
			break;
	}
	if (tty)
		acq_progress(x, start, now, true);
	*send_secs = (double)(sent_end - start) / 1e9;
	return 0;
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	if (errno || end == s || *end || !(*out >= lo && *out <= hi))
		return -EINVAL;
	return 0;
}

static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

enum {
	OPT_TIMEOUT = 256,
	OPT_HIT_RATE,
	OPT_LISTED,
	OPT_LIST_SIZE,
	OPT_MEMBERS,
	OPT_LISTS_ONLY,
	OPT_TRUTH,
	OPT_NO_PROGRESS,
};

static int acq_parse(struct acq_cfg *cfg, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "connect", required_argument, NULL, 'c' },
		{ "connections", required_argument, NULL, 'C' },
		{ "rate", required_argument, NULL, 'r' },
		{ "window", required_argument, NULL, 'w' },
		{ "requests", required_argument, NULL, 'n' },
		{ "duration", required_argument, NULL, 't' },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "dialect", required_argument, NULL, 'd' },
		{ "framing", required_argument, NULL, 'f' },
		{ "seed", required_argument, NULL, 's' },
		{ "hit-rate", required_argument, NULL, OPT_HIT_RATE },
		{ "listed", required_argument, NULL, OPT_LISTED },
		{ "lists", required_argument, NULL, 'l' },
		{ "list-size", required_argument, NULL, OPT_LIST_SIZE },
		{ "members", required_argument, NULL, OPT_MEMBERS },
		{ "lists-only", no_argument, NULL, OPT_LISTS_ONLY },
		{ "truth", required_argument, NULL, OPT_TRUTH },
		{ "json", no_argument, NULL, 'j' },
		{ "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c;

	while ((c = getopt_long(argc, argv, "c:C:r:w:n:t:d:f:s:l:jh", opts, NULL)) != -1) {
		const char *bad = NULL;

		switch (c) {
		case 'c':
			cfg->peer_s = optarg;
			if (sim_parse_addr(optarg, &cfg->peer) != 0 ||
			    cfg->peer.sin_addr.s_addr == htonl(INADDR_ANY))
				bad = "--connect wants ADDR:PORT";
			break;
		case 'C':
			if (parse_u64(optarg, 1, ACQ_MAX_CONNS, &v) != 0)
				bad = "--connections must be 1..4096";
			cfg->nb_conns = (unsigned)v;
			break;
		case 'r':
			if (parse_double(optarg, 0, 1e9, &cfg->rate) != 0)
				bad = "bad --rate";
			break;
		case 'w':
			if (parse_u64(optarg, 1, ACQ_SLOTS, &v) != 0)
				bad = "--window must be 1..4096";
			cfg->window = (unsigned)v;
			break;
		case 'n':
			if (parse_u64(optarg, 0, UINT64_MAX, &cfg->requests) != 0)
				bad = "bad --requests";
			break;
		case 't':
			if (parse_double(optarg, 0, 1e7, &cfg->duration_s) != 0)
				bad = "bad --duration";
			break;
		case OPT_TIMEOUT:
			if (parse_double(optarg, 0.001, 3600, &cfg->timeout_s) != 0)
				bad = "bad --timeout";
			break;
		case 'd':
			cfg->dialect = optarg;
			break;
		case 'f':
			cfg->framing = optarg;
			break;
		case 's':
			if (parse_u64(optarg, 0, UINT64_MAX, &cfg->seed) != 0)
				bad = "bad --seed";
			break;
		case OPT_HIT_RATE:
			if (parse_double(optarg, 0, 1, &cfg->hit_rate) != 0)
				bad = "--hit-rate must be 0..1";
			break;
		case OPT_LISTED:
			if (parse_u64(optarg, 1, 1000000, &v) != 0)
				bad = "--listed must be 1..1000000";
			cfg->nb_listed = (unsigned)v;
			break;
		case 'l':
			cfg->lists = optarg;
			break;
		case OPT_LIST_SIZE:
			if (parse_u64(optarg, 0, 10000000, &v) != 0)
				bad = "bad --list-size";
			cfg->list_size = (unsigned)v;
			break;
		case OPT_MEMBERS:
			if (parse_u64(optarg, 1, GEN_MAX_MEMBERS, &v) != 0)
				bad = "bad --members";
			cfg->members = (unsigned)v;
			break;
		case OPT_LISTS_ONLY:
			cfg->lists_only = true;
			break;
		case OPT_TRUTH:
			cfg->truth = optarg;
			break;
		case 'j':
			cfg->json = true;
			break;
		case OPT_NO_PROGRESS:
			cfg->progress = false;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			return -EINVAL;
		}
		if (bad) {
			fprintf(stderr, "riskgate-acq: %s\n", bad);
			return -EINVAL;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "riskgate-acq: unexpected argument %s\n", argv[optind]);
		return -EINVAL;
	}
	if (cfg->lists_only && !cfg->lists) {
		fprintf(stderr, "riskgate-acq: --lists-only needs --lists\n");
		return -EINVAL;
	}
	if (!cfg->lists_only && !cfg->peer_s) {
		fprintf(stderr, "riskgate-acq: --connect is required\n");
		return -EINVAL;
	}
	if (!cfg->requests && cfg->duration_s <= 0)
		cfg->requests = 1000;
	return 0;
}

int main(int argc, char **argv)
{
	struct acq_ctx *x;
	char err[256];
	double send_secs = 0;
	uint64_t start, nb_entries = 0;
	unsigned i;
	int ret;

	x = calloc(1, sizeof(*x));
	if (!x) {
		fprintf(stderr, "riskgate-acq: out of memory\n");
		return 1;
	}
	x->epfd = -1;
	x->cfg = (struct acq_cfg){
		.nb_conns = 4, .window = 8, .timeout_s = 2, .dialect = "ascii87",
		.framing = "len2", .seed = 1, .hit_rate = 0.02, .nb_listed = 64,
		.list_size = 1000, .members = 1, .progress = true,
	};
	ret = acq_parse(&x->cfg, argc, argv);
	if (ret) {
		if (ret < 0)
			usage(stderr);
		free(x);
		return ret < 0 ? 2 : 0;
	}
	x->d = rg_dialect_load(x->cfg.dialect, err, sizeof(err));
	if (!x->d) {
		fprintf(stderr, "riskgate-acq: %s\n", err);
		ret = 2;
		goto out_free;
	}
	if (rg_framing_parse(x->cfg.framing, &x->fr, err, sizeof(err)) != 0) {
		fprintf(stderr, "riskgate-acq: %s\n", err);
		ret = 2;
		goto out_dialect;
	}
	x->pop = gen_pop_new(x->d, x->cfg.seed, x->cfg.hit_rate, x->cfg.nb_listed);
	if (!x->pop) {
		fprintf(stderr, "riskgate-acq: population: %s\n", strerror(errno));
		ret = 1;
		goto out_dialect;
	}
	if (x->cfg.lists) {
		ret = gen_pop_write_lists(x->pop, x->cfg.lists, x->cfg.list_size,
					  x->cfg.members, &nb_entries, err, sizeof(err));
		if (ret) {
			fprintf(stderr, "riskgate-acq: %s\n", err);
			ret = 1;
			goto out_pop;
		}
	}
	if (x->cfg.lists_only) {
		if (x->cfg.json)
			printf("{\"lists\": \"%s\", \"list_entries\": %" PRIu64 "}\n",
			       x->cfg.lists, nb_entries);
		ret = 0;
		goto out_pop;
	}
	if (x->cfg.truth) {
		x->truth = fopen(x->cfg.truth, "w");
		if (!x->truth) {
			fprintf(stderr, "riskgate-acq: %s: %s\n", x->cfg.truth, strerror(errno));
			ret = 1;
			goto out_pop;
		}
	}
	x->conns = calloc(x->cfg.nb_conns, sizeof(*x->conns));
	if (!x->conns) {
		ret = 1;
		goto out_truth;
	}
	for (i = 0; i < x->cfg.nb_conns; i++) {
		struct acq_conn *c = &x->conns[i];

		c->slots = calloc(ACQ_SLOTS, sizeof(*c->slots));
		c->fifo = calloc(ACQ_SLOTS, sizeof(*c->fifo));
		if (!c->slots || !c->fifo || sim_conn_init(&c->io, &x->fr) != 0) {
			fprintf(stderr, "riskgate-acq: out of memory\n");
			ret = 1;
			goto out_conns;
		}
		/* STANs start apart so that connections are told apart in traces */
		c->next_stan = 1 + (uint32_t)((i * 7919u + (unsigned)x->cfg.seed) % 900000);
		snprintf(c->acq_id, sizeof(c->acq_id), "4%05u", 10000 + i % 90000);
		snprintf(c->flow, sizeof(c->flow), "conn-%u", i);
		sim_hdr_request(&x->fr, i, c->hdr);
	}
	x->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (x->epfd < 0) {
		fprintf(stderr, "riskgate-acq: epoll: %s\n", strerror(errno));
		ret = 1;
		goto out_conns;
	}
	sim_signals_install();
	start = sim_now_ns();
	ret = acq_run(x, &send_secs);
	if (ret) {
		fprintf(stderr, "riskgate-acq: %s\n", strerror(-ret));
		ret = 1;
	}
	acq_print(x, (double)(sim_now_ns() - start) / 1e9, send_secs);
	fflush(stdout);
	if (!ret && x->st.connects == 0) {
		fprintf(stderr, "riskgate-acq: could not connect to %s\n", x->cfg.peer_s);
		ret = 1;
	}
	close(x->epfd);

out_conns:
	for (i = 0; i < x->cfg.nb_conns; i++) {
		if (x->conns[i].io.tx)
			sim_conn_fini(&x->conns[i].io);
		free(x->conns[i].slots);
		free(x->conns[i].fifo);
	}
	free(x->conns);
out_truth:
	if (x->truth && fclose(x->truth) != 0 && !ret) {
		fprintf(stderr, "riskgate-acq: %s: %s\n", x->cfg.truth, strerror(errno));
		ret = 1;
	}
out_pop:
	gen_pop_free(x->pop);
out_dialect:
	free(x->d);
out_free:
	free(x);
	return ret;
}
