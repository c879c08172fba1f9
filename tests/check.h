/*
 * check.h - what every corio test program shares.
 *
 * Each test program is one cmocka group. Its main() calls check_init()
 * first, then runs its tests through CHECK_TEST(), which wraps every test in
 * a leak check: the number of open file descriptors and the bytes malloc has
 * in use (mallinfo2) are recorded before the test and must be the same after
 * it; both values are printed on a mismatch. Under AddressSanitizer the
 * malloc check is off: LeakSanitizer does it better, at exit.
 *
 * Helpers:
 *   check_run(fn, arg)        corio_run, and a check that no loop is left over
 *   check_fork(fn, arg, &c)   fn in a forked child; its stdout+stderr and its
 *                             wait status come back in c (crash and abort tests)
 *   check_capture_*()         collect this process's stderr for a while
 *   check_rebaseline()        measure leaks from here (one-time glibc costs)
 *   check_ms_since(t0)        elapsed milliseconds on corio's clock
 *   check_log_add()           a log tasks append to, compared as one string
 *   assert_contains(h, n), assert_not_contains(h, n), assert_between(v, lo, hi)
 *                             asserts that print what they compared
 *   CHECK_ASAN, CHECK_TSAN    1 under AddressSanitizer / ThreadSanitizer
 *   CHECK_VALGRIND            true when running under valgrind (a runtime test)
 *   CHECK_TIME_SCALE          factor for timing upper bounds (10 under TSan
 *                             and valgrind)
 *
 * Asserts inside a task: a failing cmocka assert leaves the task's stack by
 * longjmp, abandoning the running loop. The teardown notices, reports it, and
 * forgets the loop so that the next tests can still run (the abandoned loop
 * then shows up as a leak of the failed test). Any failed test also shows a
 * small leak: cmocka's own copy of the failure message.
 */
#ifndef CORIO_TEST_CHECK_H
#define CORIO_TEST_CHECK_H

#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "corio.h"
#include "internal.h"

#if defined(__SANITIZE_ADDRESS__)
#define CHECK_ASAN 1
#else
#define CHECK_ASAN 0
#endif

#if defined(__SANITIZE_THREAD__)
#define CHECK_TSAN 1
#else
#define CHECK_TSAN 0
#endif

/* Timing asserts multiply their upper bounds (never their lower ones) by
 * this: ThreadSanitizer slows everything down, task switches (each one a
 * fiber switch) and spawns (each one a fiber) most of all. */
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define CHECK_VALGRIND (RUNNING_ON_VALGRIND != 0)
#else
#define CHECK_VALGRIND 0
#endif

#define CHECK_TIME_SCALE (CHECK_TSAN || CHECK_VALGRIND ? 10 : 1)

/* Exit status that the runner reads as "skipped" (as automake and liburing). */
#define CHECK_SKIP 77

/* ------------------------------------------------------------------------
 * Small utilities
 * ------------------------------------------------------------------------ */

static inline uint64_t check_ms_since(uint64_t t0_ns)
{
	return (corio_now_ns() - t0_ns) / 1000000u;
}

#define assert_contains(hay, needle)                                                     \
	do {                                                                             \
		const char *check_h_ = (hay), *check_n_ = (needle);                      \
		if (!check_h_ || !strstr(check_h_, check_n_))                            \
			fail_msg("expected to find \"%s\" in:\n---\n%s\n---", check_n_,  \
				 check_h_ ? check_h_ : "(null)");                        \
	} while (0)

#define assert_not_contains(hay, needle)                                                 \
	do {                                                                             \
		const char *check_h_ = (hay), *check_n_ = (needle);                      \
		if (check_h_ && strstr(check_h_, check_n_))                              \
			fail_msg("did not expect \"%s\" in:\n---\n%s\n---", check_n_,     \
				 check_h_);                                              \
	} while (0)

/* a <= v < b, printing all three on failure. */
#define assert_between(v, lo, hi)                                                        \
	do {                                                                             \
		long long check_v_ = (long long)(v), check_lo_ = (long long)(lo),        \
			  check_hi_ = (long long)(hi);                                   \
		if (check_v_ < check_lo_ || check_v_ >= check_hi_)                       \
			fail_msg("%s = %lld, expected in [%lld, %lld)", #v, check_v_,     \
				 check_lo_, check_hi_);                                  \
	} while (0)

/* A small append-only log that tasks write and tests compare as a string. */
typedef struct check_log {
	char   buf[4096];
	size_t len;
} check_log;

static inline void check_log_add(check_log *lg, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (lg->len >= sizeof(lg->buf) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(lg->buf + lg->len, sizeof(lg->buf) - lg->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		lg->len += (size_t)n < sizeof(lg->buf) - lg->len ? (size_t)n
								  : sizeof(lg->buf) - 1 - lg->len;
}

/* ------------------------------------------------------------------------
 * Leak checks
 * ------------------------------------------------------------------------ */

static inline int check_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

/* Lists the open fds and what each names, for a leak report. */
static inline void check_print_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		char path[sizeof("/proc/self/fd/") + sizeof(e->d_name)], target[256];
		ssize_t n;

		if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		print_error("check:   fd %s -> %s\n", e->d_name, target);
	}
	closedir(d);
}

static inline size_t check_malloc_in_use(void)
{
#if CHECK_ASAN
	return 0; /* LeakSanitizer checks memory under ASan */
#else
	if (CHECK_VALGRIND)
		return 0; /* memcheck replaces malloc, and checks leaks itself */
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
#endif
}

typedef struct check_mark {
	int    fds;
	size_t mem;
} check_mark;

static check_mark check_mark_before;
/* Set by CHECK_SKIP: cmocka keeps the skip message in malloc'd memory. */
static int check_skipped;

/* Skips the running test, saying why. Its teardown then checks fds only. */
#define CHECK_SKIP_TEST(...)                    \
	do {                                    \
		print_message(__VA_ARGS__);     \
		check_skipped = 1;              \
		skip();                         \
	} while (0)

static inline int check_setup(void **state)
{
	(void)state;
	check_mark_before.fds = check_count_fds();
	check_mark_before.mem = check_malloc_in_use();
	return 0;
}

static inline int check_teardown(void **state)
{
	size_t mem = check_malloc_in_use();
	int fds = check_count_fds();
	int bad = 0;

	(void)state;
	if (check_skipped) {
		check_skipped = 0;
		mem = check_mark_before.mem;
	}
	if (corio__tls_loop) {
		/* A failed assert longjmp'd out of a running loop. */
		print_error("check: a loop was left running (failed assert inside a task?); "
			    "abandoning it\n");
		corio__tls_loop = NULL;
		bad = 1;
	}
	if (fds != check_mark_before.fds) {
		print_error("check: fd leak: %d open before the test, %d after\n",
			    check_mark_before.fds, fds);
		check_print_fds();
		bad = 1;
	}
	if (mem != check_mark_before.mem) {
		print_error("check: memory leak: %zu bytes in use before the test, %zu after "
			    "(%+lld)\n",
			    check_mark_before.mem, mem,
			    (long long)mem - (long long)check_mark_before.mem);
		bad = 1;
	}
	return bad ? -1 : 0;
}

/* Waits (up to 2 s, scaled) until every thread-pool worker has finished
 * setting itself up: workers allocate their rings after they start, which
 * a leak check must not see. */
static inline void check_pool_settle(void)
{
	for (int i = 0; i < 2000 * CHECK_TIME_SCALE && !corio__pool_settled(); i++)
		usleep(1000);
}

/* Measures from here: for a test whose first round pays a one-time cost
 * outside corio (glibc caching a thread's stack and arena, say). */
static inline void check_rebaseline(void)
{
	check_setup(NULL);
}

/* A test with the leak check around it. */
#define CHECK_TEST(f) cmocka_unit_test_setup_teardown(f, check_setup, check_teardown)

/* ------------------------------------------------------------------------
 * Process setup
 * ------------------------------------------------------------------------ */

/* corio's SIGSEGV handler as corio installed it, restored in forked
 * children: cmocka replaces the handlers of SIGSEGV and friends around every
 * test (and puts them back with signal(), which loses SA_SIGINFO). */
static struct sigaction check_corio_segv;
static int check_have_corio_segv;

static int check_warmup_task(void *arg)
{
	(void)arg;
	return corio_sleep_ms(1);
}

static int check_warmup_main(void *arg)
{
	corio_task *t = corio_spawn(check_warmup_task, arg);

	return t ? corio_join(t) : -errno;
}

/*
 * Call first in main(). Re-executes the program once with glibc's tcache
 * off: memory parked in the tcache counts as "in use" in mallinfo2, which
 * would make the leak check see leaks that are not there. Then runs one
 * loop, so one-time setup (corio's SIGSEGV handler, lazily allocated libc
 * state) happens before any test measures anything.
 */
static inline void check_init(int argc, char **argv)
{
	(void)argc;
#if !CHECK_ASAN
	const char *tun = getenv("GLIBC_TUNABLES");
	/* (Not under valgrind: /proc/self/exe is valgrind's own tool there,
	 * and its malloc has no tcache.) */
	if (!CHECK_VALGRIND && (!tun || !strstr(tun, "glibc.malloc.tcache_count=0"))) {
		char buf[1024];
		snprintf(buf, sizeof(buf), "%s%sglibc.malloc.tcache_count=0", tun ? tun : "",
			 tun && *tun ? ":" : "");
		setenv("GLIBC_TUNABLES", buf, 1);
		execv("/proc/self/exe", argv);
		fprintf(stderr, "check: cannot re-execute with the tcache off (%s); "
				"the memory leak check may report false leaks\n",
			strerror(errno));
	}
#endif
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* One malloc arena for every thread: glibc otherwise gives a new
	 * thread an arena of its own when none is free, and that arena's
	 * header (about 2 KiB) counts as bytes in use, a leak that is not
	 * one, whenever a test happens to start a thread at such a time. */
	mallopt(M_ARENA_MAX, 1);
	if (corio_run(check_warmup_main, NULL) != 0) {
		printf("skip: corio_run cannot start a loop here (io_uring unavailable?)\n");
		exit(CHECK_SKIP);
	}
	if (sigaction(SIGSEGV, NULL, &check_corio_segv) == 0)
		check_have_corio_segv = 1;
}

/* ------------------------------------------------------------------------
 * Running code in a loop
 * ------------------------------------------------------------------------ */

/* corio_run(fn, arg), checking that no loop is left behind. */
static inline int check_run(int (*fn)(void *), void *arg)
{
	int r = corio_run(fn, arg);

	assert_int_equal(corio_loop_index(), -1);
	return r;
}

/* The same with a config. */
static inline int check_run_config(const corio_config *cfg, int (*fn)(void *), void *arg)
{
	int r = corio_run_config(cfg, fn, arg);

	assert_int_equal(corio_loop_index(), -1);
	return r;
}

/* ------------------------------------------------------------------------
 * Forked children
 * ------------------------------------------------------------------------ */

typedef struct check_child {
	int    status;      /* from waitpid */
	size_t len;
	char   out[16384];  /* the child's stdout and stderr, NUL-terminated */
} check_child;

/*
 * Runs fn(arg) in a forked child with stdout and stderr going to a pipe,
 * and the signal handlers corio and the default would have (not cmocka's).
 * The child exits with fn's result (& 255) unless it dies first; it is
 * killed by SIGALRM after `seconds`. Inside fn, do not use cmocka asserts:
 * report through the exit status and the output.
 */
static inline void check_fork_timeout(int (*fn)(void *), void *arg, check_child *c,
				      unsigned seconds)
{
	static const int sigs[] = { SIGFPE, SIGILL, SIGBUS, SIGSYS, SIGABRT, SIGALRM };
	int fd[2];
	pid_t pid;

	memset(c, 0, sizeof(*c));
	assert_int_equal(pipe(fd), 0);
	fflush(NULL); /* or the child would flush our buffered output again */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fd[0]);
		dup2(fd[1], STDOUT_FILENO);
		dup2(fd[1], STDERR_FILENO);
		close(fd[1]);
		for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			signal(sigs[i], SIG_DFL);
		if (check_have_corio_segv)
			sigaction(SIGSEGV, &check_corio_segv, NULL);
		else
			signal(SIGSEGV, SIG_DFL);
		alarm(seconds);
		int r = fn(arg);
		fflush(NULL);
		_exit(r & 255);
	}
	close(fd[1]);
	for (;;) {
		ssize_t n = read(fd[0], c->out + c->len, sizeof(c->out) - 1 - c->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		c->len += (size_t)n;
		if (c->len == sizeof(c->out) - 1) {
			char sink[4096]; /* keep draining so the child never blocks */
			while (read(fd[0], sink, sizeof(sink)) > 0)
				;
			break;
		}
	}
	c->out[c->len] = '\0';
	close(fd[0]);
	while (waitpid(pid, &c->status, 0) < 0 && errno == EINTR)
		;
}

static inline void check_fork(int (*fn)(void *), void *arg, check_child *c)
{
	check_fork_timeout(fn, arg, c, 30);
}

/* Describes a wait status, for failure messages. */
static inline const char *check_status_str(int st, char *buf, size_t n)
{
	if (WIFEXITED(st))
		snprintf(buf, n, "exit %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, n, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
	else
		snprintf(buf, n, "status 0x%x", st);
	return buf;
}

/* ------------------------------------------------------------------------
 * Capturing this process's stderr (diagnostics corio prints)
 * ------------------------------------------------------------------------ */

static int check_saved_stderr = -1;
static int check_capture_fd = -1;

static inline void check_capture_begin(void)
{
	fflush(stderr);
	check_capture_fd = memfd_create("check-stderr", 0);
	assert_true(check_capture_fd >= 0);
	check_saved_stderr = dup(STDERR_FILENO);
	assert_true(check_saved_stderr >= 0);
	dup2(check_capture_fd, STDERR_FILENO);
}

/* Ends the capture; buf gets what was written (NUL-terminated). */
static inline size_t check_capture_end(char *buf, size_t cap)
{
	ssize_t n;

	fflush(stderr);
	dup2(check_saved_stderr, STDERR_FILENO);
	close(check_saved_stderr);
	check_saved_stderr = -1;
	n = pread(check_capture_fd, buf, cap - 1, 0);
	close(check_capture_fd);
	check_capture_fd = -1;
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	return (size_t)n;
}

/* ------------------------------------------------------------------------
 * The FP control words (MXCSR, x87 control word), which travel with each
 * context.
 * ------------------------------------------------------------------------ */

static inline unsigned get_mxcsr(void)
{
	unsigned v;

	__asm__ volatile("stmxcsr %0" : "=m"(v));
	return v;
}

static inline void set_mxcsr(unsigned v)
{
	__asm__ volatile("ldmxcsr %0" : : "m"(v));
}

static inline unsigned short get_fcw(void)
{
	unsigned short v;

	__asm__ volatile("fnstcw %0" : "=m"(v));
	return v;
}

static inline void set_fcw(unsigned short v)
{
	__asm__ volatile("fldcw %0" : : "m"(v));
}

/* ------------------------------------------------------------------------
 * Cancellation tables (test_cancel_table, test_io_file, test_io_net): every
 * row, a kind of blocking call, runs once per scenario below. The victim
 * task enters the scenario's scopes right before its call and leaves them
 * right after.
 * ------------------------------------------------------------------------ */

enum check_scenario {
	SC_CANCEL,          /* cancelled while suspended */
	SC_PRECANCEL,       /* cancelled before the call */
	SC_DEADLINE,        /* a 20 ms deadline scope */
	SC_SHIELD,          /* a shield scope, then a cancel */
	SC_SHIELD_DEADLINE, /* deadline 10 ms, shield, deadline 30 ms inside */
	SC_COUNT
};

static inline const char *check_sc_name(int sc)
{
	static const char *const names[SC_COUNT] = {
		"cancel while suspended", "cancelled before the call", "deadline scope",
		"shield scope", "deadline inside a shield",
	};
	return sc >= 0 && sc < SC_COUNT ? names[sc] : "?";
}

static inline void check_sc_enter(int sc)
{
	switch (sc) {
	case SC_DEADLINE:
		corio_deadline_push(20);
		break;
	case SC_SHIELD:
		corio_shield_push();
		break;
	case SC_SHIELD_DEADLINE:
		corio_deadline_push(10); /* outside the shield: hidden by it */
		corio_shield_push();
		corio_deadline_push(30); /* inside: applies */
		break;
	}
}

/* Pops what check_sc_enter pushed, innermost first; pop[0..2] get the
 * results (pop[0] alone for one scope). */
static inline void check_sc_leave(int sc, int *pop0, int *pop1, int *pop2)
{
	switch (sc) {
	case SC_DEADLINE:
		*pop0 = corio_deadline_pop();
		break;
	case SC_SHIELD:
		*pop0 = corio_shield_pop();
		break;
	case SC_SHIELD_DEADLINE:
		*pop0 = corio_deadline_pop();
		*pop1 = corio_shield_pop();
		*pop2 = corio_deadline_pop();
		break;
	}
}

#endif /* CORIO_TEST_CHECK_H */
