/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Child processes for the benchmark suites that drive whole programs
 * (riskgate-dissect, riskgate-dp, riskgated, riskgate-ledger, dpdk-testpmd):
 * finding the project's binaries, starting them with their output in a log,
 * waiting for them or stopping them, sleeping through signals; writing the
 * files they read and removing what they leave.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

void bench_sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int bench_find_tool(const char *subdir, const char *name, char *out, size_t cap)
{
	char self[PATH_MAX], *dir;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return -errno;
	self[n] = '\0';
	dir = dirname(self);
	if (snprintf(out, cap, "%s/../../%s/%s", dir, subdir, name) < (int)cap &&
	    access(out, X_OK) == 0)
		return 0;
	if (snprintf(out, cap, "%s/%s", dir, name) < (int)cap && access(out, X_OK) == 0)
		return 0;
	return -ENOENT;
}

pid_t bench_spawn(char *const argv[], const char *log)
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		/* a benchmark killed outright takes its daemons with it */
		prctl(PR_SET_PDEATHSIG, SIGTERM);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		fd = open("/dev/null", O_RDONLY);
		if (fd >= 0) {
			dup2(fd, 0);
			close(fd);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

int bench_run(char *const argv[], const char *log, volatile sig_atomic_t *stop)
{
	pid_t pid = bench_spawn(argv, log);
	int status;

	if (pid < 0)
		return -1;
	while (waitpid(pid, &status, WNOHANG) != pid) {
		if (stop != NULL && *stop) {
			bench_stop(pid, SIGTERM);
			return -1;
		}
		bench_sleep_ns(5000000ull);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int bench_stop(pid_t pid, int sig)
{
	int status = 0;

	if (pid <= 0)
		return 0;
	kill(pid, sig);
	for (int i = 0; i < 100; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		bench_sleep_ns(100000000ull);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return status;
}

static int rmtree_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(p);
}

void bench_rmtree(const char *path)
{
	nftw(path, rmtree_cb, 16, FTW_DEPTH | FTW_PHYS);
}

int bench_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -errno;
	fputs(text, f);
	return fclose(f) == 0 ? 0 : -errno;
}
