/*
 * child.c - running one measurement in a child process, with a time limit.
 *
 * Two reasons to measure in a child. Peak RSS: wait4 reports the child's
 * ru_maxrss, which covers exactly one case when the child runs exactly one.
 * Isolation: every child starts from the same small parent, which never
 * makes a corio loop, never starts a thread pool and never maps a million
 * stacks, so one case's leftovers (pooled stacks, a grown heap, glibc's
 * cache of thread stacks) cannot inflate the next one's figures. A child
 * that hangs or crashes costs its row, not the run.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

extern char **environ;

/*
 * Reads the child's output until EOF, then reaps it, killing it (its whole
 * process group when `group`) once the deadline passes. Returns the bytes
 * read into buf; output beyond cap is read and dropped so the child never
 * blocks on a full pipe.
 */
static size_t collect(pid_t pid, bool group, int fd, char *buf, size_t cap, double timeout_s,
		      uint64_t t0, struct bench_proc *p)
{
	uint64_t deadline = t0 + (uint64_t)(timeout_s * 1e9);
	bool eof = false, killed = false;
	struct rusage ru;
	size_t got = 0;
	int st = 0;

	while (!eof) {
		uint64_t now = bench_now_ns();
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		char sink[4096];
		ssize_t n;

		if (now >= deadline)
			break;
		int wait_ms = (int)((deadline - now) / 1000000u) + 1;
		if (poll(&pfd, 1, wait_ms) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (!pfd.revents)
			continue;
		if (got < cap)
			n = read(fd, buf + got, cap - got);
		else
			n = read(fd, sink, sizeof(sink));
		if (n > 0 && got < cap)
			got += (size_t)n;
		else if (n == 0 || (n < 0 && errno != EINTR))
			eof = true;
	}
	/* The output is complete; give the child until the deadline to exit. */
	for (;;) {
		pid_t r = wait4(pid, &st, killed ? 0 : WNOHANG, &ru);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR) {
			memset(&ru, 0, sizeof(ru));
			break;
		}
		if (r == 0 && bench_now_ns() >= deadline) {
			kill(group ? -pid : pid, SIGKILL);
			killed = true;
		} else if (r == 0) {
			struct timespec ts = { 0, 1000000 };
			nanosleep(&ts, NULL);
		}
	}
	p->wall_ms = (double)(bench_now_ns() - t0) / 1e6;
	p->maxrss_kib = ru.ru_maxrss;
	if (killed) {
		p->status = BENCH_TIMED_OUT;
		snprintf(p->note, sizeof(p->note), "timed out after %g s", timeout_s);
	} else if (WIFSIGNALED(st)) {
		p->status = BENCH_FAILED;
		snprintf(p->note, sizeof(p->note), "killed by signal %d (%s)", WTERMSIG(st),
			 strsignal(WTERMSIG(st)));
	} else if (WEXITSTATUS(st) != 0) {
		p->status = BENCH_FAILED;
		snprintf(p->note, sizeof(p->note), "exited with status %d", WEXITSTATUS(st));
	} else {
		p->status = BENCH_OK;
		p->note[0] = '\0';
	}
	return got;
}

int bench_fork(int (*fn)(void *arg, void *out), void *arg, void *out, size_t size, double timeout_s,
	       struct bench_proc *p)
{
	int fds[2];
	uint64_t t0;
	pid_t pid;
	size_t got;

	memset(p, 0, sizeof(*p));
	if (pipe2(fds, O_CLOEXEC) < 0)
		goto fail;
	/* Anything buffered now would be written twice, once by each process. */
	fflush(stdout);
	fflush(stderr);
	t0 = bench_now_ns();
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		goto fail;
	}
	if (pid == 0) {
		const char *b = out;
		size_t left = size;
		int r;

		close(fds[0]);
		r = fn(arg, out);
		while (left) {
			ssize_t n = write(fds[1], b, left);
			if (n <= 0 && errno != EINTR)
				_exit(3);
			if (n > 0) {
				b += n;
				left -= (size_t)n;
			}
		}
		/* _exit, not exit: the parent's atexit handlers and stdio
		 * buffers are not the child's to run. */
		_exit(r < 0 ? 1 : 0);
	}
	close(fds[1]);
	got = collect(pid, false, fds[0], out, size, timeout_s, t0, p);
	close(fds[0]);
	if (got == size)
		return 0;
	if (p->status == BENCH_OK) {
		p->status = BENCH_FAILED;
		snprintf(p->note, sizeof(p->note), "child sent %zu of %zu bytes", got, size);
	}
	return -1;
fail:
	p->status = BENCH_FAILED;
	snprintf(p->note, sizeof(p->note), "cannot start a child: %s", strerror(errno));
	return -1;
}

int bench_fork_failed(int got, int err, const char *note, const struct bench_proc *p,
		      const char **why)
{
	if (got == 0 && err >= 0)
		return BENCH_OK;
	*why = got == 0 && note[0] ? note : p->note;
	return p->status == BENCH_TIMED_OUT ? BENCH_TIMED_OUT : BENCH_FAILED;
}

int bench_exec(char *const argv[], char *out, size_t cap, double timeout_s, struct bench_proc *p)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	int fds[2], r;
	uint64_t t0;
	pid_t pid;
	size_t got;

	memset(p, 0, sizeof(*p));
	if (cap == 0)
		return -EINVAL;
	out[0] = '\0';
	if (pipe2(fds, O_CLOEXEC) < 0) {
		r = errno;
		goto fail;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
	posix_spawnattr_init(&at);
	/* Its own process group, so a timeout kills whatever it started too. */
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
	posix_spawnattr_setpgroup(&at, 0);
	fflush(stdout);
	fflush(stderr);
	t0 = bench_now_ns();
	r = posix_spawn(&pid, argv[0], &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(fds[1]);
	if (r != 0) {
		close(fds[0]);
		goto fail;
	}
	got = collect(pid, true, fds[0], out, cap - 1, timeout_s, t0, p);
	close(fds[0]);
	out[got] = '\0';
	return p->status == BENCH_OK ? 0 : -1;
fail:
	p->status = BENCH_FAILED;
	snprintf(p->note, sizeof(p->note), "cannot run %s: %s", argv[0], strerror(r));
	return -1;
}

bool bench_which(const char *name, char *path, size_t cap)
{
	const char *env = getenv("PATH");
	const char *s = env && *env ? env : "/usr/local/bin:/usr/bin:/bin";

	while (*s) {
		const char *e = strchr(s, ':');
		size_t len = e ? (size_t)(e - s) : strlen(s);
		struct stat sb;

		/* An empty PATH entry means the current directory. */
		if (snprintf(path, cap, "%.*s%s%s", (int)len, s, len ? "/" : "", name) < (int)cap &&
		    stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && access(path, X_OK) == 0)
			return true;
		if (!e)
			break;
		s = e + 1;
	}
	return false;
}

bool bench_sibling(const char *name, char *path, size_t cap)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;
	int k;

	if (n <= 0)
		return false;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash)
		return false;
	*slash = '\0';
	k = snprintf(path, cap, "%s/%s", self, name);
	return k > 0 && (size_t)k < cap && access(path, X_OK) == 0;
}
