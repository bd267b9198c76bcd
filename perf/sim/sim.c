/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Simulator plumbing: connection buffers over non-blocking sockets, the
 * clock, signals, framing headers and the latency histogram (sim.h).
 */
#include "perf/sim/sim.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

volatile sig_atomic_t sim_stop;

static void on_signal(int sig)
{
	(void)sig;
	sim_stop = sim_stop + 1;
}

void sim_signals_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

uint64_t sim_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t sim_wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

int sim_parse_addr(const char *s, struct sockaddr_in *out)
{
	const char *colon = strrchr(s, ':');
	char host[64];
	char *end;
	unsigned long port;
	size_t hl;

	memset(out, 0, sizeof(*out));
	out->sin_family = AF_INET;
	out->sin_addr.s_addr = htonl(INADDR_ANY);
	if (!colon) {
		colon = s - 1;
		hl = 0;
	} else {
		hl = (size_t)(colon - s);
	}
	if (hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (hl && inet_pton(AF_INET, host, &out->sin_addr) != 1)
		return -EINVAL;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || port == 0 || port > 65535)
		return -EINVAL;
	out->sin_port = htons((uint16_t)port);
	return 0;
}

int sim_conn_init(struct sim_conn *c, const struct rg_framing *f)
{
	uint32_t cap = f->max_msg_bytes + 8;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->frame_buf = malloc(cap);
	c->tx = malloc(SIM_TX_BYTES);
	if (!c->frame_buf || !c->tx)
		goto out_free;
	if (rg_framer_init(&c->framer, f, c->frame_buf, cap) != 0)
		goto out_free;
	return 0;

out_free:
	free(c->tx);
	free(c->frame_buf);
	c->tx = NULL;
	c->frame_buf = NULL;
	return -ENOMEM;
}

void sim_conn_reset(struct sim_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->tx_head = 0;
	c->tx_len = 0;
	c->want_out = false;
	c->rx_paused = false;
	rg_framer_reset(&c->framer);
}

void sim_conn_fini(struct sim_conn *c)
{
	sim_conn_reset(c);
	free(c->tx);
	free(c->frame_buf);
	c->tx = NULL;
	c->frame_buf = NULL;
}

uint32_t sim_conn_room(const struct sim_conn *c)
{
	return SIM_TX_BYTES - sim_conn_pending(c);
}

int sim_conn_put(struct sim_conn *c, const struct rg_framing *f, const uint8_t *hdr,
		 uint32_t hdr_len, const uint8_t *msg, uint32_t len)
{
	uint8_t lenbuf[8];
	int l;

	l = rg_framing_put_len(f, hdr_len + len, lenbuf);
	if (l < 0)
		return l;
	if ((uint32_t)l + hdr_len + len > sim_conn_room(c))
		return -ENOBUFS;
	if (c->tx_len + (uint32_t)l + hdr_len + len > SIM_TX_BYTES) {
		/* compact: move the unsent tail to the front */
		memmove(c->tx, c->tx + c->tx_head, sim_conn_pending(c));
		c->tx_len -= c->tx_head;
		c->tx_head = 0;
	}
	memcpy(c->tx + c->tx_len, lenbuf, (size_t)l);
	c->tx_len += (uint32_t)l;
	if (hdr_len) {
		memcpy(c->tx + c->tx_len, hdr, hdr_len);
		c->tx_len += hdr_len;
	}
	memcpy(c->tx + c->tx_len, msg, len);
	c->tx_len += len;
	return 0;
}

int sim_conn_flush(struct sim_conn *c)
{
	while (c->tx_head < c->tx_len) {
		ssize_t n = send(c->fd, c->tx + c->tx_head, c->tx_len - c->tx_head,
				 MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -errno;
		}
		c->tx_head += (uint32_t)n;
	}
	c->tx_head = 0;
	c->tx_len = 0;
	return 0;
}

int sim_conn_update_events(struct sim_conn *c, int epfd, uint64_t tag)
{
	bool out = sim_conn_pending(c) > 0;
	bool pause = sim_conn_room(c) < SIM_TX_BYTES / 4;
	struct epoll_event ev;

	if (out == c->want_out && pause == c->rx_paused)
		return 0;
	ev.events = (pause ? 0 : EPOLLIN) | (out ? EPOLLOUT : 0) | EPOLLRDHUP;
	ev.data.u64 = tag;
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0)
		return -errno;
	c->want_out = out;
	c->rx_paused = pause;
	return 0;
}

void sim_hdr_request(const struct rg_framing *f, unsigned conn, uint8_t *out)
{
	unsigned i;

	if (f->tpdu && f->hdr_bytes == 5) {
		/* 60, destination NII (the host), source NII (this terminal) */
		out[0] = 0x60;
		out[1] = 0x00;
		out[2] = 0x01;
		out[3] = (uint8_t)((conn / 1000 % 10) << 4 | (conn / 100 % 10));
		out[4] = (uint8_t)((conn / 10 % 10) << 4 | (conn % 10));
		return;
	}
	for (i = 0; i < f->hdr_bytes; i++)
		out[i] = i < 3 ? (uint8_t)"ISO"[i] : (uint8_t)('0' + i % 10);
}

void sim_hdr_response(const struct rg_framing *f, const uint8_t *req_hdr, uint8_t *out)
{
	memcpy(out, req_hdr, f->hdr_bytes);
	if (f->tpdu && f->hdr_bytes == 5) {
		out[1] = req_hdr[3];
		out[2] = req_hdr[4];
		out[3] = req_hdr[1];
		out[4] = req_hdr[2];
	}
}

static unsigned hist_bucket(uint64_t v)
{
	unsigned e;

	if (v < 128)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v);
	return 128 + (e - 7) * 64 + (unsigned)((v >> (e - 6)) & 63);
}

/* The middle of bucket b. */
static uint64_t hist_value(unsigned b)
{
	unsigned e, sub;

	if (b < 128)
		return b;
	e = (b - 128) / 64 + 7;
	sub = (b - 128) % 64;
	return ((64ULL + sub) << (e - 6)) + ((1ULL << (e - 6)) >> 1);
}

void sim_hist_add(struct sim_hist *h, uint64_t ns)
{
	h->n[hist_bucket(ns)]++;
	h->count++;
	if (ns > h->max_ns)
		h->max_ns = ns;
}

uint64_t sim_hist_quantile(const struct sim_hist *h, double q)
{
	uint64_t want, seen = 0, v;
	unsigned b;

	if (!h->count)
		return 0;
	want = (uint64_t)(q * (double)h->count);
	if (want >= h->count)
		want = h->count - 1;
	for (b = 0; b < SIM_HIST_BUCKETS; b++) {
		seen += h->n[b];
		if (seen > want) {
			v = hist_value(b);
			return v > h->max_ns ? h->max_ns : v;
		}
	}
	return h->max_ns;
}

bool sim_is_tty(FILE *f)
{
	const char *term = getenv("TERM");

	return isatty(fileno(f)) && !(term && strcmp(term, "dumb") == 0);
}
