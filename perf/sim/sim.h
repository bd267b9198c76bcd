/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shared pieces of the acquirer and switch simulators (riskgate-acq,
 * riskgate-switch): one non-blocking TCP connection with its framer and
 * bounded send buffer, address parsing, the clock, the stop flag set by
 * signals, framing headers (TPDU, fixed header) and a latency histogram.
 *
 * Both simulators are single-threaded epoll loops; nothing here locks.
 * Memory per connection is bounded: SIM_RX_BYTES to read into, the
 * framer's buffer, SIM_TX_BYTES of unsent output.
 */
#ifndef SIM_H
#define SIM_H

#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/frame.h"
#include "common/iso8583.h"

#define SIM_RX_BYTES 65536       /* one read() at most */
#define SIM_TX_BYTES (256 * 1024) /* unsent output per connection */
#define SIM_MSG_MAX 4096         /* largest encoded message we build */

/* Set by SIGINT/SIGTERM (sim_signals_install); the loops poll it. */
extern volatile sig_atomic_t sim_stop;

/* Install SIGINT/SIGTERM handlers that set sim_stop; ignore SIGPIPE. */
void sim_signals_install(void);

/* CLOCK_MONOTONIC in ns, and CLOCK_REALTIME in µs. */
uint64_t sim_now_ns(void);
uint64_t sim_wall_us(void);

/* Parse "A.B.C.D:PORT" (or ":PORT" / "PORT" for INADDR_ANY).  Returns 0 or
 * -EINVAL. */
int sim_parse_addr(const char *s, struct sockaddr_in *out);

struct sim_conn {
	int fd;                 /* -1 when closed */
	struct rg_framer framer;
	uint8_t *frame_buf;     /* owned: the framer's buffer */
	uint8_t *tx;            /* owned: SIM_TX_BYTES */
	uint32_t tx_head;       /* first unsent byte */
	uint32_t tx_len;        /* bytes in tx[] (tx_head..tx_len unsent) */
	bool want_out;          /* EPOLLOUT armed */
	bool rx_paused;         /* EPOLLIN disarmed (peer not reading our output) */
};

/* Allocate the buffers of c for framing f; fd is set to -1.  Returns 0 or
 * -ENOMEM. */
int sim_conn_init(struct sim_conn *c, const struct rg_framing *f);
/* Close the socket (if open) and free the buffers. */
void sim_conn_fini(struct sim_conn *c);
/* Close the socket and forget buffered input and output; buffers kept. */
void sim_conn_reset(struct sim_conn *c);

/* Bytes of output room left. */
uint32_t sim_conn_room(const struct sim_conn *c);

/*
 * Append one framed message to c's output: length header, hdr[0..hdr_len)
 * (TPDU or fixed header), then msg[0..len).  Returns 0, -ENOBUFS when it does
 * not fit (nothing appended) or -ERANGE when the framing cannot express it.
 */
int sim_conn_put(struct sim_conn *c, const struct rg_framing *f, const uint8_t *hdr,
		 uint32_t hdr_len, const uint8_t *msg, uint32_t len);

/*
 * Send what is buffered.  Returns 0 (all sent, or the socket is full: check
 * sim_conn_pending), or -errno when the connection failed.
 */
int sim_conn_flush(struct sim_conn *c);

static inline uint32_t sim_conn_pending(const struct sim_conn *c)
{
	return c->tx_len - c->tx_head;
}

/* Arm or disarm EPOLLOUT/EPOLLIN on epfd to match c's state; data.u64 = tag. */
int sim_conn_update_events(struct sim_conn *c, int epfd, uint64_t tag);

/*
 * The fixed header before an ISO message for framing f, as the acquirer
 * sends it (terminal side) and as the switch sends it back (the request's
 * header with a TPDU's addresses swapped).  out holds RG_FRAME_MAX_HDR.
 */
void sim_hdr_request(const struct rg_framing *f, unsigned conn, uint8_t *out);
void sim_hdr_response(const struct rg_framing *f, const uint8_t *req_hdr, uint8_t *out);

/*
 * Latency histogram: log-linear buckets over nanoseconds, 128 exact
 * buckets, then 64 per power of two (relative error below 1.6%).
 */
#define SIM_HIST_BUCKETS (128 + 57 * 64)

struct sim_hist {
	uint64_t count;
	uint64_t max_ns;
	uint64_t n[SIM_HIST_BUCKETS];
};

void sim_hist_add(struct sim_hist *h, uint64_t ns);
/* The value (ns) below which a share q (0..1) of the samples lie; 0 when empty. */
uint64_t sim_hist_quantile(const struct sim_hist *h, double q);

/* True when fd is a terminal and TERM is not "dumb". */
bool sim_is_tty(FILE *f);

#endif
