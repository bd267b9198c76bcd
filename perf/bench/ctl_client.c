/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A client of riskgated's control socket for the suites that drive the
 * daemon (ctl, sync): connect, write a request, read reply lines.  The
 * protocol is control/protocol.h's: one JSON request per line, one reply
 * line per request, in order.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bench.h"

int bench_ctl_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	return fd;
}

int bench_write_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

bool bench_ctl_reply_ok(const char *line)
{
	return strstr(line, "\"ok\": true") != NULL || strstr(line, "\"ok\":true") != NULL;
}

int bench_ctl_reply_poll(int fd, char *buf, size_t cap, size_t *len)
{
	ssize_t got = recv(fd, buf + *len, cap - 1 - *len, MSG_DONTWAIT);

	if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR))
		return -1;
	if (got > 0) {
		*len += (size_t)got;
		buf[*len] = '\0';
	}
	if (memchr(buf, '\n', *len) != NULL)
		return 1;
	return *len + 1 >= cap ? -1 : 0;
}

int bench_ctl_call(int fd, const char *req, char *buf, size_t cap)
{
	size_t len = 0;

	if (bench_write_all(fd, req, strlen(req)) != 0)
		return -1;
	while (len + 1 < cap) {
		ssize_t n = read(fd, buf + len, cap - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = '\0';
		if (memchr(buf, '\n', len) != NULL)
			return bench_ctl_reply_ok(buf) ? 0 : -1;
	}
	return -1;
}
