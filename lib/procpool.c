/*
 * procpool.c - process pools (run_in_executor with a ProcessPoolExecutor).
 *
 * A pool is a fixed array of worker slots. Each live slot is a child forked
 * by the pool and joined to the parent by an AF_UNIX SOCK_STREAM socketpair
 * (both ends SOCK_CLOEXEC), plus a pidfd when the kernel has pidfd_open.
 *
 * Wire format (native byte order: both ends are the same program image),
 * one request and one response per job, exact lengths on a byte stream:
 *
 *   request   u64 fn       the corio_proc_fn, valid in the child after fork
 *             u64 inlen    <= CORIO_PROC_MAX_IO
 *             u64 outcap   <= CORIO_PROC_MAX_IO (the parent clamps a larger
 *                          outcap: fn is told at most CORIO_PROC_MAX_IO)
 *             inlen bytes  the input
 *   response  i64 result   fn's result, or -ENOBUFS (fn claimed more than
 *                          outcap), or -ENOMEM (the child had no memory for
 *                          the buffers)
 *             u64 outlen   result when result >= 0, else 0
 *             outlen bytes the output
 *
 * Both sides validate: a child that reads a header with fn NULL or a length
 * above CORIO_PROC_MAX_IO exits at once (the parent then sees -EPIPE); a
 * parent that reads an outlen above outcap, an outlen that disagrees with
 * the result, or more bytes than announced treats the worker as broken:
 * killed, replaced, -EPIPE. Nobody allocates from a length it has not
 * checked.
 *
 * The parent drives the sockets with corio's io_uring calls (corio_sendmsg,
 * corio_recvmsg), so a job costs the loop nothing while it runs. It sends
 * the whole request, then reads the response; the child reads the whole
 * request, then writes: large payloads cannot deadlock. A small job is one
 * sendmsg and (usually) one recvmsg.
 *
 * Scheduling. Idle workers sit on a LIFO stack (the warmest first); slots
 * whose worker died and could not be replaced yet sit on a second stack and
 * are forked again when a job picks them. When no worker is idle, callers
 * wait in a FIFO of wait records (as lib/sync.c's objects do); a finished
 * job hands its worker straight to the longest waiter, so nobody can barge
 * in between.
 *
 * Crashes. A worker that dies shows up as EOF (or ECONNRESET) on the
 * response, or EPIPE on the request. Its job fails with -EPIPE; the worker
 * is reaped (SIGKILL first, harmless on a dead one; then its pidfd is polled
 * through the ring, or without a pidfd waitpid is retried between timed
 * waits, so even reaping does not block the loop) and a replacement is
 * forked at once. A request that fails before its first byte went out
 * found a worker that had died while idle (killed from outside): that job
 * never started, so it is retried once on a new worker.
 *
 * Cancellation and deadlines. A caller still waiting for a worker is
 * unlinked from the FIFO: the job is withdrawn. One that was handed a worker
 * but had sent nothing gives the worker back untouched. Once any byte of the
 * request is out, the job is running: the worker is killed, reaped and
 * replaced, and only then does the call return -ECANCELED or -ETIMEDOUT. The
 * reaping waits are internal "drain" waits (neither cancel nor deadline
 * ends them), so they cannot fail the way a shield scope's allocation can.
 *
 * The child. After fork it never calls corio: it forgets the loop (the
 * thread's corio__tls_loop is cleared, so a corio call in fn fails with
 * -EPERM instead of touching a ring that is not even mapped, see
 * io_uring_ring_dontfork in loop.c), resets every caught signal to its
 * default and ignores SIGINT and SIGQUIT (the terminal's signals are the
 * parent's to handle), unblocks all signals, asks for SIGKILL when the
 * forking thread ends (PR_SET_PDEATHSIG: a runaway fn does not outlive the
 * program; workers of a pool that outlives the thread that forked them
 * thus die with it, and are found dead while idle and replaced as jobs
 * come), moves its socket to fd 3 and closes every fd above (other
 * workers' sockets, the rings, the program's own files and sockets, which
 * would otherwise stay open as long as the worker lives: fn sees stdin,
 * stdout and stderr only), drops the stdio buffers it inherited, and runs
 * its loop on a fresh 8 MiB stack (the fork may happen on a 64 KiB task
 * stack). Then: read a request, call fn, write the response; exit on EOF.
 * It always leaves with _exit: the parent's atexit handlers must not run
 * twice.
 *
 * Freeing. corio_procpool_free in a task of the pool's loop waits (an
 * internal wait, immune to cancellation) until no caller is inside
 * corio_run_in_process any more; new calls meanwhile get -EINVAL. It then
 * closes the parent's socket ends: every child reads EOF and exits. Each is
 * reaped within a second, or killed and reaped. Outside a loop it does the
 * same without waiting. With jobs in flight, any caller but a task of their
 * loop is refused (EBUSY): the pool is not freed.
 *
 * Forks happen on the calling thread (pool creation, replacements) and
 * block the loop for as long as fork(2) takes: about 0.1 ms for a small
 * program, more for one with much memory mapped (page tables are copied).
 *
 * A pool may be made before corio_run and used by any loop; while jobs are
 * in flight it belongs to their loop (another loop gets -EXDEV), as the
 * sync objects do. It is not thread-safe beyond that.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define PP_HAVE_VALGRIND 1
#endif

#define POOL_MAGIC    0x70706f6cu /* "ppol" */
#define MAX_WORKERS   256
#define REQ_HDR       (3 * sizeof(uint64_t))
#define RESP_HDR      (2 * sizeof(uint64_t))
#define CHILD_FD      3
#define CHILD_STACK   ((size_t)8 << 20)
#define EXIT_GRACE_NS (1000ull * 1000 * 1000) /* free: then SIGKILL */

/* Exit codes of a worker that leaves on its own (only for debugging). */
#define CHILD_EXIT_EOF   0
#define CHILD_EXIT_PROTO 3
#define CHILD_EXIT_IO    4

struct worker {
	pid_t          pid;   /* > 0: a child not yet reaped; 0: empty slot */
	int            sock;  /* the parent's end, -1 when empty */
	int            pidfd; /* -1 when the kernel has none */
	struct worker *next;  /* on the idle or the empty stack */
};

struct corio_procpool {
	uint32_t       magic;
	int            n;
	struct worker *w;
	struct worker *idle;     /* live, idle workers, the warmest first */
	struct worker *empty;    /* slots to fork again before use */
	corio__wq      waiters;  /* callers waiting for a worker, FIFO */
	size_t         inflight; /* callers inside corio_run_in_process */
	corio__loop   *loop;     /* their loop, while inflight > 0 */
	corio__wait   *freeing;  /* corio_procpool_free waiting for inflight == 0 */
	bool           closing;
	pid_t          owner;    /* the process that forked the workers */
};

/* ------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------ */

static bool pool_ok(const corio_procpool *p)
{
	return p && p->magic == POOL_MAGIC;
}

static void push(struct worker **stack, struct worker *wk)
{
	wk->next = *stack;
	*stack = wk;
}

static struct worker *pop(struct worker **stack)
{
	struct worker *wk = *stack;

	if (wk)
		*stack = wk->next;
	return wk;
}


static int cpu_count(void)
{
	cpu_set_t set;
	long n;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		n = CPU_COUNT(&set);
	else
		n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	if (n > MAX_WORKERS)
		n = MAX_WORKERS;
	return (int)n;
}

/* ------------------------------------------------------------------------
 * The child
 * ------------------------------------------------------------------------ */

/* n bytes, or fewer at EOF; -1 on an error. */
static ssize_t child_read(int fd, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, (char *)buf + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* Reads and drops n bytes: false at EOF or on an error. */
static bool child_skip(int fd, size_t n)
{
	char sink[4096];

	while (n) {
		size_t k = n < sizeof(sink) ? n : sizeof(sink);
		if (child_read(fd, sink, k) != (ssize_t)k)
			return false;
		n -= k;
	}
	return true;
}

/* ------------------------------------------------------------------------
 * The wire format's checks, as pure functions (internal.h): the worker's
 * reading of a request header and making of a response header, and the
 * parent's receiving of a response. tests/fuzz/ drives them directly.
 * ------------------------------------------------------------------------ */

int corio__pp_req_parse(const uint64_t h[3], uint64_t *fn, size_t *inlen, size_t *outcap)
{
	if (!h[0] || h[1] > CORIO_PROC_MAX_IO || h[2] > CORIO_PROC_MAX_IO)
		return -EPROTO;
	*fn = h[0];
	*inlen = (size_t)h[1];
	*outcap = (size_t)h[2];
	return 0;
}

void corio__pp_resp_make(ssize_t r, size_t outcap, int64_t *result, uint64_t *outlen)
{
	if (r > (ssize_t)outcap)
		r = -ENOBUFS;
	*result = r;
	*outlen = r > 0 ? (uint64_t)r : 0;
}

void corio__pp_rx_init(corio__pp_rx *rx)
{
	rx->h[0] = rx->h[1] = 0;
	rx->got = 0;
	rx->need = RESP_HDR;
	rx->result = 0;
}

int corio__pp_rx_iov(corio__pp_rx *rx, struct iovec *v, void *out, size_t outcap)
{
	if (rx->got < RESP_HDR) {
		v[0].iov_base = (char *)rx->h + rx->got;
		v[0].iov_len = RESP_HDR - rx->got;
		v[1].iov_base = out;
		v[1].iov_len = outcap;
		return outcap ? 2 : 1;
	}
	v[0].iov_base = (char *)out + (rx->got - RESP_HDR);
	v[0].iov_len = rx->need - rx->got;
	return 1;
}

int corio__pp_rx_advance(corio__pp_rx *rx, size_t n, size_t outcap)
{
	if (rx->got < RESP_HDR && rx->got + n >= RESP_HDR) {
		/* The header is in: check it before trusting it. */
		int64_t res = (int64_t)rx->h[0];
		uint64_t outlen = rx->h[1];
		if (outlen > outcap || (res >= 0 && outlen != (uint64_t)res) ||
		    (res < 0 && outlen != 0))
			return -EPIPE;
		rx->result = res;
		rx->need = RESP_HDR + (size_t)outlen;
	}
	rx->got += n;
	if (rx->got > rx->need)
		return -EPIPE; /* more than announced */
	return rx->got == rx->need;
}

int corio__pp_rest_of_message(struct iovec *v, const void *hdr, size_t hdrlen, const void *body,
			      size_t bodylen, size_t done)
{
	if (done < hdrlen) {
		v[0].iov_base = (char *)hdr + done;
		v[0].iov_len = hdrlen - done;
		v[1].iov_base = (void *)body;
		v[1].iov_len = bodylen;
		return bodylen ? 2 : 1;
	}
	v[0].iov_base = (char *)body + (done - hdrlen);
	v[0].iov_len = hdrlen + bodylen - done;
	return 1;
}

static bool child_respond(int fd, int64_t result, const void *out, uint64_t outlen)
{
	uint64_t h[2] = { (uint64_t)result, outlen };
	size_t total = RESP_HDR + outlen, done = 0;

	while (done < total) {
		struct iovec v[2];
		struct msghdr mh = { .msg_iov = v };
		ssize_t r;

		mh.msg_iovlen = (size_t)corio__pp_rest_of_message(v, h, RESP_HDR, out, outlen, done);
		r = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		done += (size_t)r;
	}
	return true;
}

/*
 * The next request's header. A worker that just answered usually gets its
 * next job within microseconds when the pool is busy, and on a VM waking a
 * vCPU that went idle costs tens of them: so it polls the socket without
 * blocking for a short while (CORIO_PROC_SPIN_US, default 50; 0 = never)
 * before it sleeps in read.
 */
static ssize_t child_read_next(int fd, void *buf, size_t n, uint64_t spin_ns)
{
	struct timespec t0, now;

	if (spin_ns) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (;;) {
			ssize_t r = recv(fd, buf, n, MSG_DONTWAIT);
			if (r > 0) {
				ssize_t rest = (size_t)r == n ? 0 : child_read(fd, (char *)buf + r, n - (size_t)r);
				return rest < 0 ? -1 : r + rest;
			}
			if (r == 0)
				return 0;
			if (errno != EAGAIN && errno != EINTR)
				return -1;
			clock_gettime(CLOCK_MONOTONIC, &now);
			if ((uint64_t)(now.tv_sec - t0.tv_sec) * 1000000000u +
				    (uint64_t)(now.tv_nsec - t0.tv_nsec) >= spin_ns)
				break;
			sched_yield(); /* a runnable parent on this CPU goes first */
		}
	}
	return child_read(fd, buf, n);
}

static uint64_t spin_setting_ns(void)
{
	const char *e = getenv("CORIO_PROC_SPIN_US");
	long v = e && *e ? strtol(e, NULL, 10) : 50;

	return v > 0 && v <= 100000 ? (uint64_t)v * 1000u : 0;
}

static _Noreturn void child_loop(int fd)
{
	uint64_t spin_ns = spin_setting_ns();

	for (;;) {
		uint64_t h[3], fnw;
		ssize_t n = child_read_next(fd, h, sizeof(h), spin_ns);
		corio_proc_fn fn;
		size_t inlen, outcap;
		void *in, *out;
		int64_t result;
		uint64_t outlen = 0;

		if (n == 0)
			_exit(CHILD_EXIT_EOF); /* the pool closed our socket */
		if (n != (ssize_t)sizeof(h))
			_exit(CHILD_EXIT_IO);
		if (corio__pp_req_parse(h, &fnw, &inlen, &outcap) < 0)
			_exit(CHILD_EXIT_PROTO);
		fn = (corio_proc_fn)(uintptr_t)fnw;
		/* Never NULL, even for empty buffers. */
		in = corio__malloc(inlen ? inlen : 1);
		out = corio__malloc(outcap ? outcap : 1);
		if (!in || !out) {
			if (!child_skip(fd, inlen))
				_exit(CHILD_EXIT_IO);
			result = -ENOMEM;
		} else {
			ssize_t r;
			if (child_read(fd, in, inlen) != (ssize_t)inlen)
				_exit(CHILD_EXIT_IO);
			r = fn(in, inlen, out, outcap);
			corio__pp_resp_make(r, outcap, &result, &outlen);
		}
		if (!child_respond(fd, result, out, outlen))
			_exit(CHILD_EXIT_IO);
		free(in);
		free(out);
	}
}

static void child_entry(void *arg)
{
#if defined(__SANITIZE_ADDRESS__)
	__sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
	child_loop((int)(intptr_t)arg);
}

/* Closes every fd from `from` up. */
static void child_close_from(int from, const corio_procpool *p)
{
	DIR *d;
	struct dirent *e;

#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned)from, ~0u, 0u) == 0)
		return;
#endif
	d = opendir("/proc/self/fd");
	if (d) {
		int dfd = dirfd(d);
		while ((e = readdir(d)) != NULL) {
			int fd = atoi(e->d_name);
			if (e->d_name[0] != '.' && fd >= from && fd != dfd)
				close(fd);
		}
		closedir(d);
		return;
	}
	/* No /proc: at least the pool's own descriptors. */
	for (int i = 0; i < p->n; i++) {
		if (p->w[i].sock >= from)
			close(p->w[i].sock);
		if (p->w[i].pidfd >= from)
			close(p->w[i].pidfd);
	}
}

static bool is_pool_fd(const corio_procpool *p, int fd)
{
	for (int i = 0; i < p->n; i++)
		if (p->w[i].sock == fd || p->w[i].pidfd == fd)
			return true;
	return false;
}

/* sock: the child's end; other: the parent's end of the same pair. */
static _Noreturn void child_main(int sock, int other, pid_t parent, const corio_procpool *p)
{
	struct sigaction sa;
	sigset_t none;
	void *mem;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	/* No loop here: corio calls fail with -EPERM, never touch a ring. */
	corio__tls_loop = NULL;

	/* Signals as after exec: no handler of the parent's runs here. */
	for (int s = 1; s < NSIG; s++) {
		if (s == SIGKILL || s == SIGSTOP)
			continue;
		if (sigaction(s, NULL, &sa) == 0 && sa.sa_handler != SIG_DFL &&
		    sa.sa_handler != SIG_IGN) {
			memset(&sa, 0, sizeof(sa));
			sa.sa_handler = SIG_DFL;
			(void)sigaction(s, &sa, NULL);
		}
	}
	/* Ctrl-C reaches the whole process group: the parent decides. */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(CHILD_EXIT_EOF); /* the parent is already gone */

	/* Our socket at fd 3 (close-on-exec, should fn exec), stdin, stdout
	 * and stderr, nothing else. */
	if (sock != CHILD_FD && dup2(sock, CHILD_FD) < 0)
		_exit(CHILD_EXIT_IO);
	for (int fd = 0; fd < CHILD_FD; fd++) {
		/* A parent without stdin/out/err got them from socketpair:
		 * never leave a pool socket open here (EOF would not come). */
		if (fd == sock || fd == other || is_pool_fd(p, fd)) {
			int nul = open("/dev/null", O_RDWR);
			if (nul < 0 || (nul != fd && dup2(nul, fd) < 0))
				close(fd);
		}
	}
	(void)fcntl(CHILD_FD, F_SETFD, FD_CLOEXEC);
	child_close_from(CHILD_FD + 1, p);

	/* What the parent had buffered is the parent's to write. */
	__fpurge(stdout);
	__fpurge(stderr);

	/* A fresh, large stack: the fork may have happened on a task's. */
	mem = mmap(NULL, CHILD_STACK + page, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (mem != MAP_FAILED) {
		char *lo = (char *)mem + page, *hi = lo + CHILD_STACK;
		corio__ctx from, to;

		(void)mprotect(mem, page, PROT_NONE);
#ifdef PP_HAVE_VALGRIND
		(void)VALGRIND_STACK_REGISTER(lo, hi);
#endif
		corio__ctx_make(&to, lo, hi, child_entry, (void *)(intptr_t)CHILD_FD);
#if defined(__SANITIZE_ADDRESS__)
		__sanitizer_start_switch_fiber(NULL, lo, CHILD_STACK);
#endif
#if defined(__SANITIZE_THREAD__)
		__tsan_switch_to_fiber(__tsan_create_fiber(0), 0);
#endif
		corio__ctx_switch(&from, &to);
	}
	child_loop(CHILD_FD);
}

/* ------------------------------------------------------------------------
 * Starting and stopping workers (parent)
 * ------------------------------------------------------------------------ */

static int worker_spawn(corio_procpool *p, struct worker *wk)
{
	int sv[2], e;
	pid_t pid, parent = getpid();

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	pid = CORIO__FAULT(CORIO__F_FORK) ? (errno = EAGAIN, -1) : fork();
	if (pid < 0) {
		e = errno;
		close(sv[0]);
		close(sv[1]);
		return -e;
	}
	if (pid == 0)
		child_main(sv[1], sv[0], parent, p);
	close(sv[1]);
	wk->pid = pid;
	wk->sock = sv[0];
	/* Before anyone can reap it, so the pid cannot have been reused. */
	wk->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (wk->pidfd < 0)
		wk->pidfd = -1;
	return 0;
}

/*
 * Waits until fd is readable, in an internal wait that neither cancel nor
 * deadline scope ends (only `deadline`, 0 = none, with -ETIMEDOUT).
 */
static int drain_poll(corio__loop *l, int fd, uint64_t deadline)
{
	corio__wait w = { .drain = 1, .timer_res = -ETIMEDOUT };
	struct io_uring_sqe *sqe = corio__sqe(l);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_poll_add(sqe, fd, POLLIN);
	w.kind = CORIO__W_OP;
	w.what = CORIO__WHY_OP;
	w.fd = -1;
	io_uring_sqe_set_data(sqe, &w);
	l->inflight++;
	return corio__block(l, &w, deadline);
}

static void worker_forget(struct worker *wk)
{
	if (wk->pidfd >= 0)
		close(wk->pidfd);
	if (wk->sock >= 0)
		close(wk->sock);
	wk->pidfd = wk->sock = -1;
	wk->pid = 0;
}

/*
 * Reaps wk's child, waiting until `deadline` (0: as long as it takes).
 * Inside a task the wait is a poll of the pidfd through the ring (without a
 * pidfd, timed waits in the loop between checks), so the loop runs on.
 * 0 once reaped, -ETIMEDOUT if still alive at the deadline.
 */
static int worker_wait_exit(corio__loop *l, struct worker *wk, uint64_t deadline)
{
	bool in_task = l && l->current;
	uint64_t step = 1000000u;

	while (wk->pid > 0) {
		pid_t r = waitpid(wk->pid, NULL, WNOHANG);
		uint64_t now;

		if (r == wk->pid || (r < 0 && errno == ECHILD)) {
			/* ECHILD: somebody else reaped it (SIGCHLD ignored). */
			worker_forget(wk);
			break;
		}
		if (r < 0 && errno == EINTR)
			continue;
		now = corio__clock_ns();
		if (deadline && now >= deadline)
			return -ETIMEDOUT;
		if (wk->pidfd >= 0 && in_task) {
			int pr = drain_poll(l, wk->pidfd, deadline);
			if (pr < 0 && pr != -ETIMEDOUT)
				in_task = false; /* the ring failed us: poll(2) */
		} else if (in_task) {
			/* No pidfd (kernel before 5.3, seccomp, valgrind): ask
			 * again after a timed wait in the loop, 1 ms doubling
			 * to 16 ms, so the loop runs on meanwhile. */
			corio__wait w = { .kind = CORIO__W_PLAIN, .drain = 1, .what = CORIO__WHY_PROC };
			uint64_t until = now + step;

			if (deadline && until > deadline)
				until = deadline;
			(void)corio__block(l, &w, until);
			if (step < 16000000u)
				step *= 2;
		} else if (wk->pidfd >= 0) {
			struct pollfd pf = { .fd = wk->pidfd, .events = POLLIN };
			int ms = deadline ? (int)((deadline - now) / 1000000u) + 1 : -1;
			(void)poll(&pf, 1, ms);
		} else if (!deadline) {
			while (waitpid(wk->pid, NULL, 0) < 0 && errno == EINTR)
				;
			worker_forget(wk);
		} else {
			struct timespec ts = { 0, 1000000 };
			nanosleep(&ts, NULL);
		}
	}
	return 0;
}

static void worker_kill(struct worker *wk)
{
	if (wk->pid <= 0)
		return;
	if (wk->pidfd < 0 || syscall(SYS_pidfd_send_signal, wk->pidfd, SIGKILL, NULL, 0) < 0)
		(void)kill(wk->pid, SIGKILL);
}

/* Kills wk's child, reaps it and forks a replacement (the slot stays empty
 * if fork fails: the next job to pick it tries again). */
static void worker_replace(corio_procpool *p, corio__loop *l, struct worker *wk)
{
	worker_kill(wk);
	if (wk->sock >= 0) {
		close(wk->sock);
		wk->sock = -1;
	}
	(void)worker_wait_exit(l, wk, 0);
	(void)worker_spawn(p, wk);
}

/* Closes every socket (children exit on EOF), then reaps them all, killing
 * those still alive after EXIT_GRACE_NS. */
static void stop_all(corio_procpool *p, corio__loop *l)
{
	uint64_t deadline;

	if (getpid() != p->owner) {
		/* A fork of the program, not of the pool: the workers are not
		 * ours to stop, only our copies of the descriptors are. */
		for (int i = 0; i < p->n; i++)
			worker_forget(&p->w[i]);
		return;
	}
	for (int i = 0; i < p->n; i++)
		if (p->w[i].sock >= 0) {
			close(p->w[i].sock);
			p->w[i].sock = -1;
		}
	deadline = corio__clock_ns() + EXIT_GRACE_NS;
	for (int i = 0; i < p->n; i++) {
		struct worker *wk = &p->w[i];
		if (wk->pid > 0 && worker_wait_exit(l, wk, deadline) < 0) {
			worker_kill(wk);
			(void)worker_wait_exit(l, wk, 0);
		}
	}
}

/* ------------------------------------------------------------------------
 * Jobs (parent)
 * ------------------------------------------------------------------------ */

/* Gives wk to the longest waiter, or back to its stack. */
static void worker_release(corio_procpool *p, corio__loop *l, struct worker *wk)
{
	corio__wait *w = p->waiters.head;

	if (w) {
		corio__wq_remove(&p->waiters, w);
		w->item = wk;
		corio__wake(l, w, 0);
		return;
	}
	push(wk->pid > 0 ? &p->idle : &p->empty, wk);
}

/* An idle worker (or an empty slot), after the callers already waiting. */
static int worker_acquire(corio_procpool *p, corio__loop *l, struct worker **out)
{
	struct worker *wk = NULL;

	if (!p->waiters.n) {
		wk = pop(&p->idle);
		if (!wk)
			wk = pop(&p->empty);
	}
	if (!wk) {
		corio__wait w = { .kind = CORIO__W_PLAIN, .what = CORIO__WHY_PROC,
				  .unlink = corio__wq_unlink, .ctx = &p->waiters };
		int r;

		corio__wq_push(&p->waiters, &w);
		r = corio__block(l, &w, 0);
		if (r < 0)
			return r; /* withdrawn: the interrupt unlinked w */
		wk = w.item;
	}
	*out = wk;
	return 0;
}

/* The whole request; *sent gets how much went out, also on failure. */
static int send_request(int fd, const uint64_t *hdr, const void *in, size_t inlen, size_t *sent)
{
	size_t total = REQ_HDR + inlen, done = 0;

	*sent = 0;
	while (done < total) {
		struct iovec v[2];
		struct msghdr mh = { .msg_iov = v };
		ssize_t r;

		mh.msg_iovlen = (size_t)corio__pp_rest_of_message(v, hdr, REQ_HDR, in, inlen, done);
		r = corio_sendmsg(fd, &mh, 0);
		if (r < 0) {
			*sent = done;
			return (int)r;
		}
		if (r == 0) {
			*sent = done;
			return -EPIPE;
		}
		done += (size_t)r;
	}
	*sent = done;
	return 0;
}

/*
 * The whole response: 0 with *result set, -EPIPE when the worker went away
 * or broke the protocol, or the error of the recv (-ECANCELED, ...).
 */
static int recv_response(int fd, int64_t *result, void *out, size_t outcap)
{
	corio__pp_rx rx;
	int done = 0;

	corio__pp_rx_init(&rx);
	while (!done) {
		struct iovec v[2];
		struct msghdr mh = { .msg_iov = v };
		ssize_t r;

		mh.msg_iovlen = (size_t)corio__pp_rx_iov(&rx, v, out, outcap);
		r = corio_recvmsg(fd, &mh, 0);
		if (r < 0)
			return r == -ECONNRESET ? -EPIPE : (int)r;
		if (r == 0)
			return -EPIPE; /* EOF: the worker died */
		done = corio__pp_rx_advance(&rx, (size_t)r, outcap);
		if (done < 0)
			return done;
	}
	*result = rx.result;
	return 0;
}

/* Runs one job on wk, which it then gives back (or replaces). */
static ssize_t run_job(corio_procpool *p, corio__loop *l, struct worker *wk, corio_proc_fn fn,
		       const void *in, size_t inlen, void *out, size_t outcap)
{
	uint64_t req[3] = { (uint64_t)(uintptr_t)fn, inlen, outcap };
	int64_t result = 0;
	size_t sent;
	bool retried = false;
	int r;

again:
	if (wk->pid <= 0) {
		r = worker_spawn(p, wk);
		if (r < 0) {
			worker_release(p, l, wk);
			return r;
		}
	}
	/* A cancel that came with the handover: nothing started yet. */
	r = corio__may_block(l->current);
	if (r < 0) {
		worker_release(p, l, wk);
		return r;
	}
	r = send_request(wk->sock, req, in, inlen, &sent);
	if (r < 0 && sent == 0) {
		if (r == -ECANCELED || r == -ETIMEDOUT) {
			/* Nothing reached the worker: it is as good as before. */
			worker_release(p, l, wk);
			return r;
		}
		if ((r == -EPIPE || r == -ECONNRESET) && !retried) {
			/* It died while idle (killed from outside): this job
			 * never started. Once more, on a new worker. */
			retried = true;
			worker_replace(p, l, wk);
			goto again;
		}
	}
	if (r == 0)
		r = recv_response(wk->sock, &result, out, outcap);
	if (r < 0) {
		/* Mid-job: the worker is dead or in an unknown state. */
		if (r == -ECONNRESET || r == -ENOTCONN)
			r = -EPIPE;
		worker_replace(p, l, wk);
		worker_release(p, l, wk);
		return r;
	}
	worker_release(p, l, wk);
	return (ssize_t)result;
}

/* ------------------------------------------------------------------------
 * Public calls
 * ------------------------------------------------------------------------ */

CORIO__API corio_procpool *corio_procpool_new(int workers)
{
	corio_procpool *p;

	if (workers < 0 || workers > MAX_WORKERS) {
		errno = EINVAL;
		return NULL;
	}
	if (workers == 0)
		workers = cpu_count();
	p = corio__calloc(1, sizeof(*p));
	if (!p || !(p->w = corio__calloc((size_t)workers, sizeof(*p->w)))) {
		free(p);
		errno = ENOMEM;
		return NULL;
	}
	p->magic = POOL_MAGIC;
	p->n = workers;
	p->owner = getpid();
	for (int i = 0; i < workers; i++) {
		p->w[i].sock = -1;
		p->w[i].pidfd = -1;
	}
	for (int i = 0; i < workers; i++) {
		int r = worker_spawn(p, &p->w[i]);
		if (r < 0) {
			stop_all(p, corio__tls_loop);
			free(p->w);
			free(p);
			errno = -r;
			return NULL;
		}
	}
	/* Worker 0 on top. */
	for (int i = workers - 1; i >= 0; i--)
		push(&p->idle, &p->w[i]);
	return p;
}

CORIO__API ssize_t corio_run_in_process(corio_procpool *p, corio_proc_fn fn, const void *in,
					size_t inlen, void *out, size_t outcap)
{
	corio__loop *l = corio__tls_loop;
	struct worker *wk;
	ssize_t r;

	if (!pool_ok(p) || p->closing || !fn || (!out && outcap) || (!in && inlen))
		return -EINVAL;
	if (inlen > CORIO_PROC_MAX_IO)
		return -EMSGSIZE;
	if (!l || !l->current)
		return -EPERM;
	/* Read from any thread: a misuse check, so atomics, not the loop. */
	if (__atomic_load_n(&p->inflight, __ATOMIC_ACQUIRE) &&
	    __atomic_load_n(&p->loop, __ATOMIC_ACQUIRE) != l)
		return -EXDEV;
	r = corio__may_block(l->current);
	if (r < 0)
		return r;
	if (outcap > CORIO_PROC_MAX_IO)
		outcap = CORIO_PROC_MAX_IO;
	__atomic_store_n(&p->loop, l, __ATOMIC_RELEASE);
	__atomic_add_fetch(&p->inflight, 1, __ATOMIC_ACQ_REL);
	r = worker_acquire(p, l, &wk);
	if (r == 0)
		r = run_job(p, l, wk, fn, in, inlen, out, outcap);
	if (__atomic_sub_fetch(&p->inflight, 1, __ATOMIC_ACQ_REL) == 0) {
		__atomic_store_n(&p->loop, NULL, __ATOMIC_RELEASE);
		if (p->freeing)
			corio__wake(l, p->freeing, 0);
	}
	return r;
}

CORIO__API void corio_procpool_free(corio_procpool *p)
{
	corio__loop *l = corio__tls_loop;

	if (!p)
		return;
	if (!pool_ok(p) || p->freeing) {
		/* Not a pool, or another task is already freeing it. */
		errno = p->freeing && pool_ok(p) ? EBUSY : EINVAL;
		return;
	}
	if (__atomic_load_n(&p->inflight, __ATOMIC_ACQUIRE)) {
		corio__wait w = { .kind = CORIO__W_PLAIN, .drain = 1, .what = CORIO__WHY_PROC };

		if (!l || !l->current || __atomic_load_n(&p->loop, __ATOMIC_ACQUIRE) != l) {
			fprintf(stderr, "corio: corio_procpool_free(%p): %zu job(s) in flight on "
					"another loop; not freed\n", (void *)p,
				__atomic_load_n(&p->inflight, __ATOMIC_RELAXED));
			errno = EBUSY;
			return;
		}
		/* The jobs belong to other tasks, which still use p. */
		p->closing = true;
		p->freeing = &w;
		while (p->inflight)
			(void)corio__block(l, &w, 0);
		p->freeing = NULL;
	}
	p->closing = true;
	stop_all(p, l);
	p->magic = 0;
	free(p->w);
	free(p);
}
