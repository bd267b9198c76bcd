/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * riskgate-switch: a card-switch simulator.  Accepts any number of TCP
 * connections, splits each byte stream into messages with the configured
 * framing, decodes them with the configured dialect and answers every
 * request (MTI + 10, the request's keys echoed, DE 39 "00", an approval code
 * in DE 38 on 0100/0200), then prints what it counted.
 *
 * One epoll loop; each readiness event does at most one read of
 * SIM_RX_BYTES, so no connection starves the others.  A peer that does not
 * read its answers stops being read (bounded output per connection).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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
#include "perf/sim/sim.h"

#define SW_MAX_CONNS 4096
#define SW_TAG_LISTEN 0
#define SW_TEXT_ARENA 8192

struct sw_cfg {
	struct sockaddr_in listen;
	const char *listen_s;
	const char *dialect;
	const char *framing;
	double duration_s;    /* 0: until a signal */
	double decline_rate;  /* share of 0100/0200 answered "05" */
	bool json;
};

struct sw_stats {
	uint64_t accepted;
	uint64_t closed;
	uint64_t requests;
	uint64_t answered;
	uint64_t declined;
	uint64_t malformed;     /* did not decode */
	uint64_t unexpected;    /* responses or other non-requests */
	uint64_t keepalives;
	uint64_t framing_errors; /* stream framing lost: connection closed */
	uint64_t encode_errors;
	uint64_t overflow;      /* answers dropped: output buffer full */
	uint64_t bytes_in;
	uint64_t bytes_out;
	uint64_t by_mti[10000];
};

struct sw_ctx {
	struct sw_cfg cfg;
	struct rg_dialect *d;
	struct rg_framing fr;
	int lfd;
	int epfd;
	struct sim_conn *conns[SW_MAX_CONNS]; /* NULL: free slot */
	unsigned nb_conns;
	uint64_t auth_seq;
	uint64_t rng;
	struct sw_stats st;
	uint8_t rx[SIM_RX_BYTES];
	uint8_t out[SIM_MSG_MAX];
	char arena[SW_TEXT_ARENA];
};

static void usage(FILE *fp)
{
	fputs("usage: riskgate-switch --listen ADDR:PORT [options]\n"
	      "\n"
	      "Card-switch simulator: answers every ISO 8583 request it receives.\n"
	      "\n"
	      "  -l, --listen ADDR:PORT  where to listen (required; \":5000\" for any)\n"
	      "  -d, --dialect D         built-in dialect or dialect file (ascii87)\n"
	      "  -f, --framing F         len2, len2i, ascii4, bcd2, +tpdu, +hdrN (len2)\n"
	      "  -t, --duration S        stop after S seconds (default: at SIGINT/SIGTERM)\n"
	      "      --decline-rate R    share of 0100/0200 answered with DE 39 \"05\" (0)\n"
	      "  -j, --json              print the counts as one JSON object\n"
	      "  -h, --help              this text\n"
	      "\n"
	      "See docs/simulators.md.\n", fp);
}

/* xorshift64*: the decline choice and nothing else. */
static uint64_t sw_rand(struct sw_ctx *x)
{
	x->rng ^= x->rng >> 12;
	x->rng ^= x->rng << 25;
	x->rng ^= x->rng >> 27;
	return x->rng * 0x2545f4914f6cdd1dULL;
}

static bool sw_is_request(uint16_t mti)
{
	unsigned fn = mti / 10 % 10;

	return fn == 0 || fn == 2 || fn == 4;
}

/* Copy DE de of m as text into the arena and set it in b. */
static void sw_echo(struct sw_ctx *x, const struct rg_iso_msg *m, unsigned de,
		    struct rg_iso_builder *b, size_t *used)
{
	int n;

	if (!rg_iso_has(m, de))
		return;
	n = rg_iso_field_text(x->d, m, de, x->arena + *used, sizeof(x->arena) - *used);
	if (n < 0)
		return;
	rg_iso_builder_set(b, de, x->arena + *used);
	*used += (size_t)n + 1;
}

static void sw_auth_code(struct sw_ctx *x, char out[7])
{
	static const char an[] = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ";
	uint64_t v = ++x->auth_seq * 0x9e3779b97f4a7c15ULL;
	unsigned i;

	for (i = 0; i < 6; i++) {
		out[i] = an[v % (sizeof(an) - 1)];
		v /= sizeof(an) - 1;
	}
	out[6] = '\0';
}

/* Answer one message from connection c; hdr is its TPDU/fixed header. */
static void sw_handle(struct sw_ctx *x, struct sim_conn *c, const struct rg_frame *f)
{
	static const unsigned echo[] = { 2, 3, 4, 7, 11, 12, 13, 32, 37, 41, 42, 49 };
	struct rg_iso_builder b;
	struct rg_iso_msg m;
	uint8_t hdr[RG_FRAME_MAX_HDR];
	char auth[7];
	size_t used = 0;
	unsigned i;
	int n;

	if (rg_iso_decode(x->d, f->msg, f->msg_len, 0, &m) != RG_ANOM_NONE) {
		x->st.malformed++;
		return;
	}
	x->st.by_mti[m.mti]++;
	if (!sw_is_request(m.mti)) {
		x->st.unexpected++;
		return;
	}
	x->st.requests++;
	rg_iso_builder_init(&b, (uint16_t)(m.mti + 10));
	if (m.mti == 800) {
		sw_echo(x, &m, 7, &b, &used);
		sw_echo(x, &m, 11, &b, &used);
		sw_echo(x, &m, 70, &b, &used);
		rg_iso_builder_set(&b, 39, "00");
	} else {
		bool decline = false;

		for (i = 0; i < sizeof(echo) / sizeof(echo[0]); i++)
			sw_echo(x, &m, echo[i], &b, &used);
		if (m.mti == 100 || m.mti == 200) {
			decline = x->cfg.decline_rate > 0 &&
				  (double)(sw_rand(x) >> 11) * 0x1p-53 < x->cfg.decline_rate;
			if (!decline) {
				sw_auth_code(x, auth);
				rg_iso_builder_set(&b, 38, auth);
			}
		}
		rg_iso_builder_set(&b, 39, decline ? "05" : "00");
		if (decline)
			x->st.declined++;
	}
	n = rg_iso_encode(x->d, &b, x->out, sizeof(x->out), NULL);
	if (n < 0) {
		x->st.encode_errors++;
		return;
	}
	if (f->hdr_len)
		sim_hdr_response(&x->fr, f->hdr, hdr);
	if (sim_conn_put(c, &x->fr, hdr, f->hdr_len, x->out, (uint32_t)n) != 0) {
		x->st.overflow++;
		return;
	}
	x->st.answered++;
	x->st.bytes_out += (uint64_t)n + f->hdr_len + rg_framing_len_bytes(&x->fr);
}

static void sw_close(struct sw_ctx *x, unsigned slot)
{
	struct sim_conn *c = x->conns[slot];

	epoll_ctl(x->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	sim_conn_fini(c);
	free(c);
	x->conns[slot] = NULL;
	x->nb_conns--;
	x->st.closed++;
}

static void sw_accept(struct sw_ctx *x)
{
	unsigned budget = 64, slot;

	while (budget--) {
		struct epoll_event ev;
		struct sim_conn *c;
		int one = 1, fd;

		fd = accept4(x->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		for (slot = 0; slot < SW_MAX_CONNS && x->conns[slot]; slot++)
			;
		c = slot < SW_MAX_CONNS ? malloc(sizeof(*c)) : NULL;
		if (!c || sim_conn_init(c, &x->fr) != 0) {
			free(c);
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->fd = fd;
		ev.events = EPOLLIN | EPOLLRDHUP;
		ev.data.u64 = slot + 1;
		if (epoll_ctl(x->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
			sim_conn_fini(c);
			free(c);
			continue;
		}
		x->conns[slot] = c;
		x->nb_conns++;
		x->st.accepted++;
	}
}

/* One read and everything it completes.  Returns false when c is closed. */
static bool sw_read(struct sw_ctx *x, unsigned slot)
{
	struct sim_conn *c = x->conns[slot];
	struct rg_frame f;
	ssize_t n;

	n = recv(c->fd, x->rx, sizeof(x->rx), 0);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
	if (n == 0)
		return false;
	x->st.bytes_in += (uint64_t)n;
	rg_framer_feed(&c->framer, x->rx, (uint32_t)n);
	for (;;) {
		enum rg_frame_ret r = rg_framer_next(&c->framer, &f);

		if (r == RG_FRAME_NEED_MORE)
			break;
		if (r == RG_FRAME_KEEPALIVE) {
			x->st.keepalives++;
			continue;
		}
		if (r == RG_FRAME_ERROR) {
			x->st.framing_errors++;
			return false;
		}
		sw_handle(x, c, &f);
	}
	return true;
}

static void sw_event(struct sw_ctx *x, const struct epoll_event *ev)
{
	unsigned slot = (unsigned)ev->data.u64 - 1;
	struct sim_conn *c;

	if (ev->data.u64 == SW_TAG_LISTEN) {
		sw_accept(x);
		return;
	}
	c = x->conns[slot];
	if (!c)
		return;
	if ((ev->events & EPOLLIN) && !sw_read(x, slot)) {
		sw_close(x, slot);
		return;
	}
	if ((ev->events & (EPOLLERR | EPOLLHUP)) ||
	    ((ev->events & EPOLLRDHUP) && !(ev->events & EPOLLIN))) {
		sw_close(x, slot);
		return;
	}
	if (sim_conn_flush(c) != 0 || sim_conn_update_events(c, x->epfd, slot + 1) != 0)
		sw_close(x, slot);
}

static void sw_print(const struct sw_ctx *x, double secs)
{
	const struct sw_stats *s = &x->st;
	bool first = true;
	unsigned i;

	if (x->cfg.json) {
		printf("{\"connections\": %" PRIu64 ", \"requests\": %" PRIu64
		       ", \"answered\": %" PRIu64 ", \"declined\": %" PRIu64
		       ", \"malformed\": %" PRIu64 ", \"unexpected\": %" PRIu64
		       ", \"keepalives\": %" PRIu64 ", \"framing_errors\": %" PRIu64
		       ", \"encode_errors\": %" PRIu64 ", \"overflow\": %" PRIu64
		       ", \"bytes_in\": %" PRIu64 ", \"bytes_out\": %" PRIu64 ", \"by_mti\": {",
		       s->accepted, s->requests, s->answered, s->declined, s->malformed,
		       s->unexpected, s->keepalives, s->framing_errors, s->encode_errors,
		       s->overflow, s->bytes_in, s->bytes_out);
		for (i = 0; i < 10000; i++) {
			if (!s->by_mti[i])
				continue;
			printf("%s\"%04u\": %" PRIu64, first ? "" : ", ", i, s->by_mti[i]);
			first = false;
		}
		printf("}, \"duration_s\": %.3f, \"requests_per_s\": %.1f}\n", secs,
		       secs > 0 ? (double)s->requests / secs : 0.0);
		return;
	}
	printf("riskgate-switch on %s, %.1f s\n", x->cfg.listen_s, secs);
	printf("  %-16s %12" PRIu64 "\n", "connections", s->accepted);
	printf("  %-16s %12" PRIu64 "  (%.0f/s)\n", "requests", s->requests,
	       secs > 0 ? (double)s->requests / secs : 0.0);
	printf("  %-16s %12" PRIu64 "\n", "answered", s->answered);
	printf("  %-16s %12" PRIu64 "\n", "declined", s->declined);
	printf("  %-16s %12" PRIu64 "\n", "malformed", s->malformed);
	printf("  %-16s %12" PRIu64 "\n", "unexpected", s->unexpected);
	printf("  %-16s %12" PRIu64 "\n", "keep-alives", s->keepalives);
	printf("  %-16s %12" PRIu64 "\n", "framing errors", s->framing_errors);
	for (i = 0; i < 10000; i++)
		if (s->by_mti[i])
			printf("  MTI %04u         %12" PRIu64 "\n", i, s->by_mti[i]);
}

static int sw_listen(struct sw_ctx *x)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = SW_TAG_LISTEN };
	int one = 1;

	x->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (x->lfd < 0)
		return -errno;
	setsockopt(x->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(x->lfd, (const struct sockaddr *)&x->cfg.listen, sizeof(x->cfg.listen)) != 0 ||
	    listen(x->lfd, 1024) != 0 ||
	    epoll_ctl(x->epfd, EPOLL_CTL_ADD, x->lfd, &ev) != 0)
		return -errno;
	return 0;
}

static int sw_run(struct sw_ctx *x)
{
	struct epoll_event evs[64];
	uint64_t start = sim_now_ns(), end = 0, now;
	unsigned i;
	int n;

	if (x->cfg.duration_s > 0)
		end = start + (uint64_t)(x->cfg.duration_s * 1e9);
	while (!sim_stop) {
		n = epoll_wait(x->epfd, evs, 64, 100);
		if (n < 0 && errno != EINTR)
			return -errno;
		for (i = 0; n > 0 && i < (unsigned)n; i++)
			sw_event(x, &evs[i]);
		now = sim_now_ns();
		if (end && now >= end)
			break;
	}
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

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "dialect", required_argument, NULL, 'd' },
		{ "framing", required_argument, NULL, 'f' },
		{ "duration", required_argument, NULL, 't' },
		{ "decline-rate", required_argument, NULL, 'D' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sw_ctx *x;
	char err[256];
	uint64_t start;
	int c, ret = 1;

	x = calloc(1, sizeof(*x));
	if (!x) {
		fprintf(stderr, "riskgate-switch: out of memory\n");
		return 1;
	}
	x->cfg.dialect = "ascii87";
	x->cfg.framing = "len2";
	x->lfd = -1;
	x->epfd = -1;
	x->rng = 0x5eed5eed5eedULL;
	while ((c = getopt_long(argc, argv, "l:d:f:t:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			x->cfg.listen_s = optarg;
			if (sim_parse_addr(optarg, &x->cfg.listen) != 0) {
				fprintf(stderr, "riskgate-switch: bad --listen %s (ADDR:PORT)\n",
					optarg);
				goto out_usage;
			}
			break;
		case 'd':
			x->cfg.dialect = optarg;
			break;
		case 'f':
			x->cfg.framing = optarg;
			break;
		case 't':
			if (parse_double(optarg, 0, 1e7, &x->cfg.duration_s) != 0) {
				fprintf(stderr, "riskgate-switch: bad --duration %s\n", optarg);
				goto out_usage;
			}
			break;
		case 'D':
			if (parse_double(optarg, 0, 1, &x->cfg.decline_rate) != 0) {
				fprintf(stderr, "riskgate-switch: --decline-rate must be 0..1\n");
				goto out_usage;
			}
			break;
		case 'j':
			x->cfg.json = true;
			break;
		case 'h':
			usage(stdout);
			ret = 0;
			goto out_free;
		default:
			goto out_usage;
		}
	}
	if (optind != argc || !x->cfg.listen_s) {
		fprintf(stderr, "riskgate-switch: %s\n",
			optind != argc ? "unexpected argument" : "--listen is required");
		goto out_usage;
	}
	x->d = rg_dialect_load(x->cfg.dialect, err, sizeof(err));
	if (!x->d) {
		fprintf(stderr, "riskgate-switch: %s\n", err);
		goto out_usage;
	}
	if (rg_framing_parse(x->cfg.framing, &x->fr, err, sizeof(err)) != 0) {
		fprintf(stderr, "riskgate-switch: %s\n", err);
		free(x->d);
		goto out_usage;
	}
	sim_signals_install();
	x->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (x->epfd < 0) {
		fprintf(stderr, "riskgate-switch: epoll: %s\n", strerror(errno));
		goto out_dialect;
	}
	ret = sw_listen(x);
	if (ret) {
		fprintf(stderr, "riskgate-switch: listen on %s: %s\n", x->cfg.listen_s,
			strerror(-ret));
		ret = 1;
		goto out_close;
	}
	fprintf(stderr, "riskgate-switch: listening on %s (%s, %s)\n", x->cfg.listen_s,
		x->d->name, x->cfg.framing);
	start = sim_now_ns();
	ret = sw_run(x);
	if (ret) {
		fprintf(stderr, "riskgate-switch: epoll: %s\n", strerror(-ret));
		ret = 1;
	}
	sw_print(x, (double)(sim_now_ns() - start) / 1e9);
	fflush(stdout);

out_close:
	for (c = 0; c < SW_MAX_CONNS; c++)
		if (x->conns[c])
			sw_close(x, (unsigned)c);
	if (x->lfd >= 0)
		close(x->lfd);
	close(x->epfd);
out_dialect:
	free(x->d);
out_free:
	free(x);
	return ret;

out_usage:
	usage(stderr);
	free(x);
	return 2;
}
