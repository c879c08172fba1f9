/*
 * perfcheck.c - one corio operation, N times, for instruction counting.
 *
 *   perfcheck <op> [N]      op: yield, spawn_join, sleep, echo, to_thread
 *   perfcheck --list        the ops, one a line, with their default N
 *
 * `make perf-check` (bench/perfcheck.sh) runs this under
 * `valgrind --tool=callgrind --collect-atstart=no` and divides the
 * instructions collected by the number of operations printed on stdout
 * ("ops=<count>"). Collection is switched on and off with
 * CALLGRIND_TOGGLE_COLLECT around the measured loop only, after a warm-up
 * of the same loop: process and loop startup, the first spawn's stack
 * mapping, lazy symbol binding, the thread pool's start and the teardown
 * are all outside the count.
 *
 * Callgrind's collection state belongs to the thread that toggles it (a
 * new thread starts with --collect-atstart, here off): what is counted is
 * the loop's thread only. Only to_thread has another thread, the pool's
 * worker; its side (taking the job, the trivial function, posting the
 * completion) is left out on purpose, and the loop's side is made to take
 * the same path every time (see op_to_thread and docs/perf.md).
 *
 * A count is the same from run to run as long as the program takes the
 * same path: a fixed N, a fixed warm-up, no timing-dependent branch in the
 * measured code. The ops below are built that way; the counts still
 * depend on the compiler and on glibc and liburing, whose code is counted
 * too.
 *
 * Outside valgrind the toggles are no-ops and the program prints the wall
 * time per operation instead, which is handy but is not what the gate
 * compares.
 *
 * Only the public API (corio.h) is used, so the figures are what a program
 * linking libcorio pays.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <corio.h>

#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define PC_HAVE_VALGRIND 1
#endif
#endif
#ifndef PC_HAVE_VALGRIND
#define CALLGRIND_TOGGLE_COLLECT do { } while (0)
#define RUNNING_ON_VALGRIND 0
#endif

#define MSG_SIZE 64

struct op {
	const char *name;
	long        n;          /* default repetitions */
	const char *what;
	int       (*run)(void *);
};

static long n_ops;        /* N from the command line */
static uint64_t ops_done; /* operations inside the measured window */
static uint64_t t_start, t_end;
static bool measuring;    /* collection is on (the loop's thread) */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Warm-up length: enough to reach the steady state (pooled stack, grown
 * timer heap, bound symbols, started pool) whatever N is. */
static long warmup(void)
{
	long w = n_ops / 10;
	return w < 200 ? 200 : w;
}

static void measure_begin(void)
{
	t_start = now_ns();
	measuring = true;
	CALLGRIND_TOGGLE_COLLECT;
}

/* Collection off and on again inside the measured window (a toggle is a
 * toggle: outside the window it would switch collection on). */
static void pause_collect(bool *paused)
{
	*paused = measuring;
	if (*paused)
		CALLGRIND_TOGGLE_COLLECT;
}

static void resume_collect(bool paused)
{
	if (paused)
		CALLGRIND_TOGGLE_COLLECT;
}

static void measure_end(uint64_t ops)
{
	CALLGRIND_TOGGLE_COLLECT;
	measuring = false;
	t_end = now_ns();
	ops_done = ops;
}

/* ------------------------------------------------------------------------
 * yield: two tasks handing the CPU to each other through the ready queue.
 * One op is one corio_yield call (one handover): each round of the loop
 * below is two of them, main's and the partner's.
 * ------------------------------------------------------------------------ */

static volatile bool yield_stop;

static int yield_partner(void *arg)
{
	(void)arg;
	while (!yield_stop)
		corio_yield();
	return 0;
}

static int op_yield(void *arg)
{
	corio_task *t = corio_spawn(yield_partner, NULL);

	(void)arg;
	if (!t)
		return -errno;
	for (long i = 0, w = warmup(); i < w; i++)
		corio_yield();
	measure_begin();
	for (long i = 0; i < n_ops; i++)
		corio_yield();
	measure_end(2 * (uint64_t)n_ops);
	yield_stop = true;
	return corio_join(t);
}

/* ------------------------------------------------------------------------
 * spawn_join: spawn an empty task and join it. One op is the pair, which
 * includes the two switches (into the new task and back) and the stack
 * taken from and returned to the loop's pool.
 * ------------------------------------------------------------------------ */

static int nop(void *arg)
{
	(void)arg;
	return 0;
}

static int spawn_join_once(void)
{
	corio_task *t = corio_spawn(nop, NULL);

	if (!t)
		return -errno;
	return corio_join(t);
}

static int op_spawn_join(void *arg)
{
	int r;

	(void)arg;
	for (long i = 0, w = warmup(); i < w; i++)
		if ((r = spawn_join_once()) < 0)
			return r;
	measure_begin();
	for (long i = 0; i < n_ops; i++)
		if ((r = spawn_join_once()) < 0)
			return r;
	measure_end((uint64_t)n_ops);
	return 0;
}

/* ------------------------------------------------------------------------
 * sleep: corio_sleep_ns(1), the only task alive. The sleep arms a timer in
 * the loop's heap, the loop finds nothing ready and waits on the ring with
 * the nearest deadline as its timeout (io_uring_enter), then fires the
 * timer and resumes the task. The deadline has usually passed by the time
 * the loop computes the timeout (zero then); the instructions are the same
 * either way: the kernel's waiting is not counted.
 * ------------------------------------------------------------------------ */

static int op_sleep(void *arg)
{
	int r;

	(void)arg;
	for (long i = 0, w = warmup(); i < w; i++)
		if ((r = corio_sleep_ns(1)) < 0)
			return r;
	measure_begin();
	for (long i = 0; i < n_ops; i++)
		if ((r = corio_sleep_ns(1)) < 0)
			return r;
	measure_end((uint64_t)n_ops);
	return 0;
}

/* ------------------------------------------------------------------------
 * echo: a round trip of 64 bytes over an AF_UNIX socketpair between two
 * tasks of the loop. One op is main's corio_send + corio_recv and the
 * partner's corio_recv + corio_send: four io_uring operations, the loop
 * turns that submit and reap them, and the switches.
 * ------------------------------------------------------------------------ */

static int echo_partner(void *arg)
{
	int fd = *(int *)arg;
	char buf[MSG_SIZE];

	for (;;) {
		ssize_t n = corio_recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			return (int)n;
		ssize_t s = corio_send(fd, buf, (size_t)n, 0);
		if (s != n)
			return s < 0 ? (int)s : -EIO;
	}
}

static int echo_once(int fd)
{
	static const char msg[MSG_SIZE] = "corio perfcheck echo";
	char buf[MSG_SIZE];
	ssize_t r = corio_send(fd, msg, sizeof(msg), 0);

	if (r != (ssize_t)sizeof(msg))
		return r < 0 ? (int)r : -EIO;
	/* AF_UNIX stream: 64 bytes arrive in one piece; a short read would
	 * change the count, so it is an error here rather than a loop. */
	r = corio_recv(fd, buf, sizeof(buf), 0);
	if (r != (ssize_t)sizeof(buf))
		return r < 0 ? (int)r : -EIO;
	return 0;
}

static int op_echo(void *arg)
{
	int sv[2], r = 0, rj;
	corio_task *t;

	(void)arg;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	t = corio_spawn(echo_partner, &sv[1]);
	if (!t) {
		r = -errno;
		goto out;
	}
	for (long i = 0, w = warmup(); i < w && r == 0; i++)
		r = echo_once(sv[0]);
	if (r == 0) {
		measure_begin();
		for (long i = 0; i < n_ops && r == 0; i++)
			r = echo_once(sv[0]);
		measure_end((uint64_t)n_ops);
	}
	(void)corio_shutdown(sv[0], SHUT_WR);
	rj = corio_join(t);
	if (r == 0)
		r = rj;
out:
	close(sv[0]);
	close(sv[1]);
	return r;
}

/* ------------------------------------------------------------------------
 * to_thread: corio_to_thread with a trivial function, the loop thread's
 * side of the round trip: queueing the job, handing it to the pool, the
 * ring wait, the completion the worker posted (MSG_RING) and resuming the
 * task. The idle worker polls for the next job (main sets
 * CORIO_THREADS_SPIN_US), as it does between back-to-back calls in a real
 * program, so the hand-over needs no futex wake: a wake would race with
 * the loop thread (the woken worker sometimes reaches the pool's mutex
 * before the loop has let go of it), a different count each run.
 *
 * Under valgrind this needs help. valgrind runs one thread at a time, and
 * a thread blocked in io_uring_enter keeps that right to itself (valgrind
 * 3.19 does not release its lock around that system call): a loop waiting
 * on its ring for a worker that cannot run would wait forever. And whether
 * the worker ran the job before the loop's ring wait or only during it
 * would depend on the host's scheduler.
 *
 * So the job's function waits for a go from a companion task, and the
 * companion keeps the loop from blocking for good: it sleeps 1 ns (the
 * loop then waits on the ring with a zero timeout: the turn that hands the
 * job to the pool never finds its completion), gives the go and spins,
 * collection off, in sched_yield() until the function has run. From there
 * the worker keeps valgrind's lock until its next sched_yield, after it
 * has posted the completion, so the companion's next 1 ns sleep always
 * finds the completion on the ring. Every op takes the same path: the
 * round trip plus the companion's two 1 ns sleeps, its switches and one
 * extra loop turn. It is a regression gate for all of it, not the round
 * trip's absolute cost (docs/perf.md). The pool has one worker
 * (corio_threads_set(1) in main): the same run whatever the machine's
 * core count or CORIO_THREADS.
 * ------------------------------------------------------------------------ */

static unsigned long tt_issued, tt_done; /* jobs started by main / run by fn */
static int tt_go[2];                     /* companion -> fn: one byte per job */
static volatile bool tt_stop;

static int trivial(void *arg)
{
	char c;

	(void)arg;
	if (read(tt_go[0], &c, 1) != 1)
		return -EIO;
	__atomic_add_fetch(&tt_done, 1, __ATOMIC_RELEASE);
	return 0;
}

static int tt_companion(void *arg)
{
	int r;

	(void)arg;
	while (!tt_stop) {
		/* The loop turn this sleep gives hands the jobs main queued
		 * so far to the pool; later ones are not there yet. */
		unsigned long seen = tt_issued;
		if ((r = corio_sleep_ns(1)) < 0)
			return r;
		if (__atomic_load_n(&tt_done, __ATOMIC_ACQUIRE) == seen)
			continue;
		/* The pool has the job: let it run (and post), uncounted. */
		bool paused;
		pause_collect(&paused);
		if (write(tt_go[1], "g", 1) != 1)
			r = -EIO;
		else
			while (__atomic_load_n(&tt_done, __ATOMIC_ACQUIRE) != seen)
				sched_yield();
		resume_collect(paused);
		if (r < 0)
			return r;
	}
	return 0;
}

static int to_thread_once(void)
{
	tt_issued++;
	return corio_to_thread(trivial, NULL);
}

static int op_to_thread(void *arg)
{
	corio_task *t;
	int r = 0, rj;

	(void)arg;
	if (pipe2(tt_go, O_CLOEXEC) < 0)
		return -errno;
	t = corio_spawn(tt_companion, NULL);
	if (!t) {
		r = -errno;
		goto out;
	}
	for (long i = 0, w = warmup(); i < w && r == 0; i++)
		r = to_thread_once();
	if (r == 0) {
		measure_begin();
		for (long i = 0; i < n_ops && r == 0; i++)
			r = to_thread_once();
		measure_end((uint64_t)n_ops);
	}
	tt_stop = true;
	rj = corio_join(t);
	if (r == 0)
		r = rj;
	if (r == 0 && tt_done != tt_issued)
		r = -EIO;
out:
	close(tt_go[0]);
	close(tt_go[1]);
	return r;
}

/* ------------------------------------------------------------------------ */

static const struct op ops[] = {
	{ "yield",      200000, "corio_yield between two tasks (one handover)", op_yield },
	{ "spawn_join", 50000,  "corio_spawn of an empty task + corio_join", op_spawn_join },
	{ "sleep",      20000,  "corio_sleep_ns(1): timer heap, ring wait, timer fire", op_sleep },
	{ "echo",       20000,  "64 B round trip over a socketpair, two tasks", op_echo },
	{ "to_thread",  20000,  "corio_to_thread(trivial fn) round trip, loop thread", op_to_thread },
};
#define NOPS (sizeof(ops) / sizeof(ops[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: perfcheck <op> [N]\n       perfcheck --list\nops:\n");
	for (size_t i = 0; i < NOPS; i++)
		fprintf(f, "  %-11s %-7ld %s\n", ops[i].name, ops[i].n, ops[i].what);
}

int main(int argc, char **argv)
{
	const struct op *op = NULL;
	int r;

	if (argc == 2 && strcmp(argv[1], "--list") == 0) {
		for (size_t i = 0; i < NOPS; i++)
			printf("%s %ld\n", ops[i].name, ops[i].n);
		return 0;
	}
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc < 2 || argc > 3) {
		usage(stderr);
		return 2;
	}
	for (size_t i = 0; i < NOPS; i++)
		if (strcmp(argv[1], ops[i].name) == 0)
			op = &ops[i];
	if (!op) {
		fprintf(stderr, "perfcheck: unknown op '%s'\n", argv[1]);
		usage(stderr);
		return 2;
	}
	n_ops = op->n;
	if (argc == 3) {
		char *end;
		errno = 0;
		n_ops = strtol(argv[2], &end, 10);
		if (errno || *end || end == argv[2] || n_ops < 1 || n_ops > 1000000000) {
			fprintf(stderr, "perfcheck: bad N '%s'\n", argv[2]);
			return 2;
		}
	}
	/* The same run whatever the environment: no debug mode (it times
	 * every slice), the pool's default wake-up by MSG_RING, and an idle
	 * worker that keeps polling for the next job (as it does between
	 * back-to-back calls, CORIO_THREADS_SPIN_US: a second here, for
	 * valgrind's slow clock) instead of sleeping on the pool's condition
	 * variable, where the signal would race with the loop thread. */
	unsetenv("CORIO_DEBUG");
	unsetenv("CORIO_SLOW_TASK_MS");
	unsetenv("CORIO_THREADS_WAKE");
	setenv("CORIO_THREADS_SPIN_US", "1000000", 1);
	/* One worker: the same pool on every machine (only to_thread uses it). */
	r = corio_threads_set(1);
	if (r < 0) {
		fprintf(stderr, "perfcheck: corio_threads_set: %s\n", strerror(-r));
		return 1;
	}
	r = corio_run(op->run, NULL);
	if (r < 0) {
		fprintf(stderr, "perfcheck: %s failed: %s\n", op->name, strerror(-r));
		return 1;
	}
	printf("op=%s n=%ld ops=%" PRIu64, op->name, n_ops, ops_done);
	if (!RUNNING_ON_VALGRIND && ops_done)
		printf(" wall_ns_per_op=%.1f", (double)(t_end - t_start) / (double)ops_done);
	printf("\n");
	return 0;
}
