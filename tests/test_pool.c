/*
 * test_pool.c - the thread pool: corio_to_thread (asyncio.to_thread) and
 * corio_threads_set.
 *
 *   results    fn's result (any int) comes back; fn runs on a worker, with
 *              its arg; workers persist (no thread per call), each with one
 *              ring fd of its own (none with CORIO_THREADS_WAKE=eventfd)
 *   errors     fn NULL -EINVAL, outside a loop -EPERM, cancelled or past a
 *              deadline before the call: fails at once, fn never runs; fn
 *              itself is on no loop (-EPERM for corio calls)
 *   parallel   two 50 ms blocking calls take ~50 ms, not 100, and a ticker
 *              task keeps ticking meanwhile; 1000 concurrent calls
 *   cancel     while fn runs: -ECANCELED only after fn returned (its writes
 *              to the caller's stack complete), the cancel sticks; in a
 *              shield the result comes back; a deadline scope: -ETIMEDOUT
 *              after fn returned; corio_wait_for; a call still queued
 *              (behind a busy single worker); main returning while a call
 *              runs (the loop waits for fn)
 *   bounds     more than 4096 jobs in flight: exactly 4096 queue, the rest
 *              wait for room (cancellable), all complete
 *   settings   corio_threads_set's range and -EBUSY once started,
 *              CORIO_THREADS, the default (cores, at least 4), the set
 *              count winning over the environment; workers that cannot
 *              start (-EAGAIN), or only some of them
 *   rings      loops made without DEFER_TASKRUN/COOP_TASKRUN, without a
 *              registered ring fd, in debug mode, with a tiny CQ
 *   wake       CORIO_THREADS_WAKE=eventfd: a subset of the above again
 *   processes  a child forked while the pool works starts its own workers;
 *              it should not keep the parent's workers' ring fds
 *   debug      the task dump shows "work on another thread"
 *   loops      two loops on two threads share the pool, each gets its own
 *              results
 *
 * The pool is the process's: it is started once before the tests (so its
 * threads and their ring fds are in every leak check's baseline) and never
 * stops. Whatever needs a fresh pool (a worker count, the environment, a
 * start failure) runs in a forked child, where the pool starts afresh on
 * first use since threads do not survive fork.
 *
 * The bodies are loop mains returning 0 or the line of the check that
 * failed (with a message on stderr), so that the children can run them
 * too, without cmocka.
 */
#include "check.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/syscall.h>

/* A check inside a loop main or a task: report, and return the line. */
#define T(cond)                                                                          \
	do {                                                                             \
		if (!(cond)) {                                                           \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                  \
			return __LINE__;                                                 \
		}                                                                        \
	} while (0)

#define TEQ(a, b)                                                                        \
	do {                                                                             \
		long long t_a_ = (long long)(a), t_b_ = (long long)(b);                  \
		if (t_a_ != t_b_) {                                                      \
			fprintf(stderr, "%s:%d: %s = %lld, expected %s = %lld\n",         \
				__FILE__, __LINE__, #a, t_a_, #b, t_b_);                 \
			return __LINE__;                                                 \
		}                                                                        \
	} while (0)

/* Runs a main (inside a cmocka test) that must return 0. */
#define RUN_OK(fn, arg)                                                                  \
	do {                                                                             \
		alarm(30);                                                               \
		int run_r_ = check_run(fn, arg);                                         \
		alarm(0);                                                                \
		if (run_r_ != 0)                                                         \
			fail_msg("%s failed at line %d (see stderr)", #fn, run_r_);      \
	} while (0)

/* ------------------------------------------------------------------------
 * pthread_create, failing on demand: after `ptc_allow` more successes
 * (-1: never fails, the default).
 * ------------------------------------------------------------------------ */

typedef int (*ptc_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
static int ptc_allow = -1;

int pthread_create(pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	static ptc_fn real;
	ptc_fn f = __atomic_load_n(&real, __ATOMIC_ACQUIRE);
	int allow = __atomic_load_n(&ptc_allow, __ATOMIC_RELAXED);

	if (allow == 0)
		return EAGAIN;
	if (!f) {
		f = (ptc_fn)dlsym(RTLD_NEXT, "pthread_create");
		if (!f)
			return ENOSYS;
		__atomic_store_n(&real, f, __ATOMIC_RELEASE);
	}
	if (allow > 0)
		__atomic_store_n(&ptc_allow, allow - 1, __ATOMIC_RELAXED);
	return f(th, attr, fn, arg);
}

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

static int count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Threads of this process. */
static int count_threads(void)
{
	return count_dir("/proc/self/task");
}

/* Open io_uring instances (the loops' and the workers'). */
static int count_rings(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	char link[128];
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL) {
		ssize_t k = readlinkat(dirfd(d), e->d_name, link, sizeof(link) - 1);
		if (k > 0) {
			link[k] = '\0';
			if (strstr(link, "[io_uring]"))
				n++;
		}
	}
	closedir(d);
	return n;
}

/* io_uring fds a forked child found open when it started (the parent's
 * workers' rings: see test_fork_child_keeps_no_worker_rings); 0 in the
 * parent. */
static int inherited_rings;

static int default_workers(void)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	return cores > 4 ? (int)cores : 4;
}

static bool wake_eventfd(void)
{
	const char *w = getenv("CORIO_THREADS_WAKE");

	return w && strcmp(w, "eventfd") == 0;
}

static pid_t gettid_(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static int ld(const int *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void st(int *p, int v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* On a worker: waits (up to 5 s) until *flag is set. */
static void spin_until(const int *flag)
{
	for (int i = 0; i < 5000 && !ld(flag); i++)
		usleep(1000);
}

/* In a task: waits (up to 5 s) until *flag is set. */
static void await_flag(const int *flag)
{
	for (int i = 0; i < 5000 && !ld(flag); i++)
		corio_sleep_ms(1);
}

/* Reads all of a memfd (after a dump) into a malloc'd string. */
static char *slurp(int fd)
{
	off_t n = lseek(fd, 0, SEEK_END);
	char *s = malloc((size_t)n + 1);

	if (!s)
		return NULL;
	if (pread(fd, s, (size_t)n, 0) != n) {
		free(s);
		return NULL;
	}
	s[n] = '\0';
	return s;
}

static int count_substr(const char *h, const char *n)
{
	int c = 0;

	for (const char *p = h; (p = strstr(p, n)) != NULL; p += strlen(n))
		c++;
	return c;
}

/* Functions that run on the workers. */
static int ret_fn(void *arg)
{
	return (int)(intptr_t)arg;
}

static int nop_fn(void *arg)
{
	return 0;
}

static int flag_fn(void *arg)
{
	st(arg, 1);
	return 1;
}

/*
 * In a loop, the pool started: one job on every worker at once, each
 * waiting for all the others. Returns 0 once every worker has run one, and
 * so has started (and made its ring: workers start asynchronously, a first
 * call can return before the last of them is up). The process's threads
 * are the loop's and the workers'.
 */
struct barrier {
	int n, arrived;
};

static int barrier_fn(void *arg)
{
	struct barrier *b = arg;

	__atomic_add_fetch(&b->arrived, 1, __ATOMIC_ACQ_REL);
	for (int i = 0; i < 5000 && ld(&b->arrived) < b->n; i++)
		usleep(1000);
	return ld(&b->arrived) >= b->n ? 0 : -ETIMEDOUT;
}

static int barrier_task(void *arg)
{
	return corio_to_thread(barrier_fn, arg);
}

static int occupy_all_workers(void)
{
	struct barrier b = { 0 };
	corio_task **t;
	int bad = 0;

	TEQ(corio_to_thread(nop_fn, NULL), 0);
	/* The loop's thread is not a worker, nor is ThreadSanitizer's own. */
#if defined(__SANITIZE_THREAD__)
	b.n = count_threads() - 2;
#else
	b.n = count_threads() - 1;
#endif
	T(b.n >= 1);
	t = calloc((size_t)b.n, sizeof(*t));
	T(t != NULL);
	for (int i = 0; i < b.n; i++)
		t[i] = corio_spawn(barrier_task, &b);
	for (int i = 0; i < b.n; i++)
		if (!t[i] || corio_join(t[i]) != 0)
			bad++;
	free(t);
	TEQ(bad, 0);
	return 0;
}

/* ------------------------------------------------------------------------
 * Results
 * ------------------------------------------------------------------------ */

struct where {
	pid_t     tid;
	pthread_t self;
	int       seen;
};

static int where_fn(void *arg)
{
	struct where *w = arg;

	w->tid = gettid_();
	w->self = pthread_self();
	w->seen++;
	return 123;
}

static int result_main(void *arg)
{
	static const int vals[] = { 0, 1, 42, -1, -EIO, -ECANCELED, INT_MAX, INT_MIN };
	struct where w = { 0 };
	int threads, rings, workers;

	TEQ(occupy_all_workers(), 0);
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
		TEQ(corio_to_thread(ret_fn, (void *)(intptr_t)vals[i]), vals[i]);
	/* On another thread, with its arg (on this task's stack). */
	TEQ(corio_to_thread(where_fn, &w), 123);
	TEQ(w.seen, 1);
	T(w.tid != gettid_());
	T(!pthread_equal(w.self, pthread_self()));
	/* Workers persist: many calls, no new thread. */
	threads = count_threads();
	rings = count_rings();
	for (int i = 0; i < 200; i++)
		TEQ(corio_to_thread(ret_fn, (void *)(intptr_t)i), i);
	TEQ(count_threads(), threads);
	TEQ(count_rings(), rings);
	/* One ring fd per worker (to post by MSG_RING), none when told to wake
	 * the loop by eventfd; plus this loop's own. Not a worker: the loop's
	 * thread, and ThreadSanitizer's own when it runs. */
#if defined(__SANITIZE_THREAD__)
	workers = threads - 2;
#else
	workers = threads - 1;
#endif
	T(workers >= 1);
	TEQ(rings - inherited_rings, 1 + (wake_eventfd() ? 0 : workers));
	return 0;
}

static void test_returns_fn_result(void **state)
{
	RUN_OK(result_main, NULL);
}

/* ------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------ */

static int corio_in_fn(void *arg)
{
	int *r = arg;

	r[0] = corio_to_thread(ret_fn, (void *)1);
	r[1] = corio_sleep_ms(1);
	r[2] = corio_loop_index();
	return 5;
}

static int errors_task(void *arg)
{
	int ran = 0;

	/* Cancelled before the call: fails at once, fn never runs. */
	TEQ(corio_cancel(corio_current()), 0);
	TEQ(corio_to_thread(flag_fn, &ran), -ECANCELED);
	TEQ(corio_to_thread(flag_fn, &ran), -ECANCELED);
	TEQ(ran, 0);
	/* A shield lets it through; the cancel is still pending after. */
	TEQ(corio_shield_push(), 0);
	TEQ(corio_to_thread(flag_fn, &ran), 1);
	TEQ(ran, 1);
	TEQ(corio_shield_pop(), -ECANCELED);
	return 0;
}

static int errors_main(void *arg)
{
	int ran = 0, in[3] = { 1, 1, 1 };
	corio_task *t;

	TEQ(corio_to_thread(NULL, NULL), -EINVAL);
	TEQ(corio_to_thread(NULL, &ran), -EINVAL);
	/* A deadline already passed: -ETIMEDOUT at once, fn never runs. */
	TEQ(corio_deadline_push_at(1), 0);
	TEQ(corio_to_thread(flag_fn, &ran), -ETIMEDOUT);
	TEQ(corio_deadline_pop(), -ETIMEDOUT);
	TEQ(ran, 0);
	t = corio_spawn(errors_task, NULL);
	T(t != NULL);
	TEQ(corio_join(t), 0);
	/* fn runs on no loop: corio calls in it fail with -EPERM. */
	TEQ(corio_to_thread(corio_in_fn, in), 5);
	TEQ(in[0], -EPERM);
	TEQ(in[1], -EPERM);
	TEQ(in[2], -1);
	return 0;
}

static void test_errors(void **state)
{
	int ran = 0;

	RUN_OK(errors_main, NULL);
	/* Outside a loop. */
	assert_int_equal(corio_to_thread(flag_fn, &ran), -EPERM);
	assert_int_equal(corio_to_thread(NULL, NULL), -EPERM);
	assert_int_equal(ran, 0);
}

/* ------------------------------------------------------------------------
 * Blocking calls run in parallel; the loop stays responsive
 * ------------------------------------------------------------------------ */

struct ticker {
	int      ticks;
	int      stop;
	uint64_t max_gap_ns;
};

static int ticker_fn(void *arg)
{
	struct ticker *tk = arg;
	uint64_t last = corio_now_ns();

	while (!tk->stop) {
		uint64_t now;
		if (corio_sleep_ms(1) < 0)
			break;
		now = corio_now_ns();
		if (now - last > tk->max_gap_ns)
			tk->max_gap_ns = now - last;
		last = now;
		tk->ticks++;
	}
	return 0;
}

/* Blocks its thread for arg ms (50 when NULL), returns the ms. */
static int sleep_ms_fn(void *arg)
{
	int ms = arg ? (int)(intptr_t)arg : 50;

	usleep((useconds_t)ms * 1000);
	return ms;
}

static int sleeper_task(void *arg)
{
	return corio_to_thread(sleep_ms_fn, arg);
}

static int parallel_main(void *arg)
{
	/* Under valgrind and TSan everything scales: the calls, the bounds,
	 * the longest gap (valgrind runs one thread at a time). */
	const int S = CHECK_TIME_SCALE, unit = 50 * S;
	struct ticker tk = { 0 };
	corio_task *tt, *a, *b;
	uint64_t t0, ms;
	int ticks0;

	tt = corio_spawn(ticker_fn, &tk);
	T(tt != NULL);
	TEQ(corio_sleep_ms(5), 0);
	tk.max_gap_ns = 0;
	ticks0 = tk.ticks;
	t0 = corio_now_ns();
	a = corio_spawn(sleeper_task, (void *)(intptr_t)unit);
	b = corio_spawn(sleeper_task, (void *)(intptr_t)unit);
	T(a && b);
	TEQ(corio_join(a), unit);
	TEQ(corio_join(b), unit);
	ms = check_ms_since(t0);
	tk.stop = 1;
	TEQ(corio_join(tt), 0);
	fprintf(stderr, "  two %d ms calls: %llu ms; %d ticks meanwhile, longest gap %.1f ms\n",
		unit, (unsigned long long)ms, tk.ticks - ticks0, (double)tk.max_gap_ns / 1e6);
	/* One unit (50 ms), not two. */
	T(ms >= (uint64_t)unit - 1 && ms < 95 * (uint64_t)S);
	/* The loop ran on: ~1 tick a millisecond. */
	T(tk.ticks - ticks0 >= 10);
	T(tk.max_gap_ns < 30 * 1000000ull * (uint64_t)S);
	return 0;
}

static void test_blocking_calls_run_in_parallel(void **state)
{
	RUN_OK(parallel_main, NULL);
}

#define MANY 1000

struct slot {
	int in, out, r;
};

static int calc_fn(void *arg)
{
	struct slot *s = arg;

	s->out = s->in * 3 + 1;
	return s->in ^ 0x5a5a;
}

static int calc_task(void *arg)
{
	struct slot *s = arg;

	s->r = corio_to_thread(calc_fn, s);
	return 0;
}

static int many_main(void *arg)
{
	static struct slot s[MANY];
	static corio_task *t[MANY];
	uint64_t t0 = corio_now_ns();

	for (int i = 0; i < MANY; i++) {
		s[i] = (struct slot){ .in = i, .out = -1, .r = -1 };
		t[i] = corio_spawn(calc_task, &s[i]);
		T(t[i] != NULL);
	}
	for (int i = 0; i < MANY; i++)
		TEQ(corio_join(t[i]), 0);
	for (int i = 0; i < MANY; i++) {
		TEQ(s[i].r, i ^ 0x5a5a);
		TEQ(s[i].out, i * 3 + 1);
	}
	TEQ(corio__tls_loop->external, 0);
	if (!arg)
		fprintf(stderr, "  %d concurrent calls: %llu ms\n", MANY,
			(unsigned long long)check_ms_since(t0));
	return 0;
}

static void test_many_concurrent_calls(void **state)
{
	RUN_OK(many_main, NULL);
}

/* ------------------------------------------------------------------------
 * Cancellation and deadlines
 * ------------------------------------------------------------------------ */

#define FILLN 4096

/* A call whose fn takes delay_ms, then fills the caller's stack buffer and
 * says it finished; the task records what it saw when the call returned. */
struct slow {
	int            delay_ms;
	int            shield;   /* call inside a shield scope */
	int            deadline; /* call inside a deadline scope of this many ms */
	int            hold;     /* fn waits for go (up to 5 s) before its delay */
	int            started, go, finished;
	unsigned char *buf;      /* on the calling task's stack */
	uint64_t       started_ns; /* when fn's delay began */
	uint64_t       finished_ns, returned_ns;
	int            r, finished_at_return, buf_ok, pop, after;
};

static int slow_fill_fn(void *arg)
{
	struct slow *c = arg;

	st(&c->started, 1);
	if (c->hold)
		spin_until(&c->go);
	c->started_ns = corio_now_ns();
	usleep((useconds_t)c->delay_ms * 1000);
	for (int i = 0; i < FILLN; i++)
		c->buf[i] = (unsigned char)(i * 7 + 1);
	c->finished_ns = corio_now_ns();
	st(&c->finished, 1);
	return 7;
}

static int slow_task(void *arg)
{
	struct slow *c = arg;
	unsigned char buf[FILLN];

	memset(buf, 0, sizeof(buf));
	c->buf = buf;
	if (c->shield)
		corio_shield_push();
	if (c->deadline)
		corio_deadline_push((uint64_t)c->deadline);
	c->r = corio_to_thread(slow_fill_fn, c);
	c->returned_ns = corio_now_ns();
	c->finished_at_return = ld(&c->finished);
	c->buf_ok = 1;
	for (int i = 0; i < FILLN; i++)
		if (buf[i] != (unsigned char)(i * 7 + 1))
			c->buf_ok = 0;
	if (c->deadline)
		c->pop = corio_deadline_pop();
	if (c->shield)
		c->pop = corio_shield_pop();
	c->after = corio_sleep_ms(1);
	c->buf = NULL;
	return 0;
}

static int cancel_running_main(void *arg)
{
	for (int shield = 0; shield < 2; shield++) {
		/* fn is held until the cancel is made: its 50 ms come after it,
		 * however slowly this loop gets there. */
		struct slow c = { .delay_ms = 50, .shield = shield, .hold = 1 };
		corio_task *t = corio_spawn(slow_task, &c);
		uint64_t t_cancel;

		T(t != NULL);
		await_flag(&c.started);
		T(ld(&c.started));
		TEQ(corio_sleep_ms(5), 0);
		t_cancel = corio_now_ns();
		TEQ(corio_cancel(t), 0);
		st(&c.go, 1);
		TEQ(corio_join(t), 0);
		/* Only after fn returned, its writes to the stack complete. */
		TEQ(c.finished_at_return, 1);
		TEQ(c.buf_ok, 1);
		T(c.returned_ns >= c.finished_ns);
		T(c.started_ns >= t_cancel);
		T((c.returned_ns - c.started_ns) / 1000000u >= (uint64_t)c.delay_ms - 1);
		if (shield) {
			/* Shielded: the result comes back, the cancel waits. */
			TEQ(c.r, 7);
			TEQ(c.pop, -ECANCELED);
		} else {
			TEQ(c.r, -ECANCELED); /* fn's 7 is lost */
		}
		TEQ(c.after, -ECANCELED); /* the cancel sticks */
	}
	TEQ(corio__tls_loop->external, 0);
	return 0;
}

static void test_cancel_while_fn_runs(void **state)
{
	RUN_OK(cancel_running_main, NULL);
}

/* Lets a held slow call's fn go on once its task is cancelled (up to 5 s;
 * the task cannot end before fn did, so it is alive while looked at). */
struct release_arg {
	corio_task  *t;
	struct slow *c;
};

static int release_on_cancel(void *arg)
{
	struct release_arg *ra = arg;
	int cancelled = 0;

	for (int i = 0; i < 5000; i++) {
		if (ld(&ra->c->finished) || (cancelled = ra->t->cancelled) != 0)
			break;
		corio_sleep_ms(1);
	}
	st(&ra->c->go, 1);
	return cancelled ? 0 : -ETIMEDOUT;
}

static int deadline_main(void *arg)
{
	corio_task *t;
	uint64_t t0;

	/* The deadline passes while fn runs: -ETIMEDOUT once it returned.
	 * On a slow machine (valgrind, which runs one thread at a time) the
	 * deadline may pass before a worker took the job: then the job is
	 * withdrawn and fn never runs, which is checked too, and the case is
	 * tried again with a longer deadline. */
	for (int deadline = 20, tries = 0;; deadline *= 2, tries++) {
		struct slow c = { .delay_ms = 4 * deadline, .deadline = deadline };

		t0 = corio_now_ns();
		t = corio_spawn(slow_task, &c);
		T(t != NULL);
		TEQ(corio_join(t), 0);
		TEQ(c.r, -ETIMEDOUT);
		TEQ(c.pop, -ETIMEDOUT);
		TEQ(c.after, 0); /* the scope is gone: nothing sticks */
		if (!ld(&c.started)) {
			T(tries < 6);
			TEQ(c.finished_at_return, 0);
			continue;
		}
		TEQ(c.finished_at_return, 1);
		TEQ(c.buf_ok, 1);
		T(c.returned_ns >= c.finished_ns);
		T((c.returned_ns - t0) / 1000000u >= (uint64_t)c.delay_ms - 5);
		break;
	}

	/* A deadline that does not pass. */
	TEQ(corio_deadline_push(5000), 0);
	TEQ(corio_to_thread(ret_fn, (void *)3), 3);
	TEQ(corio_deadline_pop(), 0);

	/* corio_wait_for on a task in a call: -ETIMEDOUT once fn returned.
	 * The timeout must pass while fn runs, not while the job still waits
	 * for a worker (then it is withdrawn and fn never runs): wait until
	 * fn has started (slow under valgrind). fn is held until the timeout
	 * has cancelled the task (a releaser task watches for it), so that
	 * it cannot end first however slowly this loop runs. */
	struct slow w = { .delay_ms = 60, .hold = 1 };
	struct release_arg ra;
	corio_task *rt;

	t = corio_spawn(slow_task, &w);
	T(t != NULL);
	for (int i = 0; i < 5000 && !ld(&w.started); i++)
		corio_sleep_ms(1);
	T(ld(&w.started));
	ra = (struct release_arg){ t, &w };
	rt = corio_spawn(release_on_cancel, &ra);
	T(rt != NULL);
	t0 = corio_now_ns();
	TEQ(corio_wait_for(t, 10), -ETIMEDOUT);
	TEQ(ld(&w.finished), 1);
	TEQ(corio_join(rt), 0);
	T(w.started_ns >= t0);
	T((w.returned_ns - w.started_ns) / 1000000u >= (uint64_t)w.delay_ms - 1);
	TEQ(w.r, -ECANCELED);
	TEQ(w.buf_ok, 1);
	TEQ(corio__tls_loop->external, 0);
	return 0;
}

static void test_deadline_while_fn_runs(void **state)
{
	RUN_OK(deadline_main, NULL);
}

/* main returns while a task waits in a call: the task is cancelled, and the
 * loop closes only once fn has returned (its job is on the task's stack). */
static struct slow close_slow;

static int close_main(void *arg)
{
	struct slow *c = arg;
	corio_task *t;

	/* fn is held until main returns (no suspension in between), so
	 * that it cannot end before the task is cancelled. */
	*c = (struct slow){ .delay_ms = 60, .hold = 1 };
	t = corio_spawn(slow_task, c);
	T(t != NULL);
	corio_detach(t);
	await_flag(&c->started);
	T(ld(&c->started));
	st(&c->go, 1);
	return 0;
}

static int loop_close_waits(void)
{
	uint64_t t0 = corio_now_ns();
	int r = corio_run(close_main, &close_slow);

	TEQ(r, 0);
	TEQ(ld(&close_slow.finished), 1);
	TEQ(close_slow.finished_at_return, 1);
	TEQ(close_slow.buf_ok, 1);
	TEQ(close_slow.r, -ECANCELED);
	T(check_ms_since(t0) >= 55);
	return 0;
}

static void test_loop_close_waits_for_fn(void **state)
{
	int line = loop_close_waits();

	if (line)
		fail_msg("failed at line %d (see stderr)", line);
}

/* ------------------------------------------------------------------------
 * Every kind of loop ring takes the workers' posts: without DEFER_TASKRUN
 * or COOP_TASKRUN, without a registered ring fd, in debug mode, and with a
 * completion queue far smaller than the calls in flight (MSG_RING posts
 * overflow it).
 * ------------------------------------------------------------------------ */

static int configs_main(void *arg)
{
	int r = many_main("quiet");

	if (r)
		return r;
	return cancel_running_main(NULL);
}

static void test_ring_configs(void **state)
{
	static const corio_config cfgs[] = {
		{ .flags = CORIO_CFG_NO_DEFER_TASKRUN },
		{ .flags = CORIO_CFG_NO_COOP_TASKRUN },
		{ .flags = CORIO_CFG_NO_DEFER_TASKRUN | CORIO_CFG_NO_COOP_TASKRUN },
		{ .flags = CORIO_CFG_NO_REGISTER_FD },
		{ .flags = CORIO_CFG_DEBUG },
		{ .sq_entries = 4, .cq_entries = 8 },
		{ .sq_entries = 4, .cq_entries = 8, .flags = CORIO_CFG_NO_DEFER_TASKRUN },
	};

	for (size_t i = 0; i < sizeof(cfgs) / sizeof(cfgs[0]); i++) {
		alarm(30);
		int r = check_run_config(&cfgs[i], configs_main, NULL);
		alarm(0);
		if (r != 0)
			fail_msg("config %zu (flags 0x%x, sq %u, cq %u): failed at line %d", i,
				 cfgs[i].flags, cfgs[i].sq_entries, cfgs[i].cq_entries, r);
	}
}

/* ------------------------------------------------------------------------
 * The task dump
 * ------------------------------------------------------------------------ */

struct held {
	int started, release;
	int r;
};

static int held_fn(void *arg)
{
	struct held *h = arg;

	st(&h->started, 1);
	spin_until(&h->release);
	return 9;
}

static int held_task(void *arg)
{
	struct held *h = arg;

	h->r = corio_to_thread(held_fn, h);
	return 0;
}

static int dump_main(void *arg)
{
	static const corio_spawn_attr attr = { .name = "offloader" };
	struct held h = { 0 };
	corio_task *t = corio_spawn_ex(held_task, &h, &attr);
	char *out;
	int fd, bad = 0;

	T(t != NULL);
	await_flag(&h.started);
	fd = memfd_create("dump", 0);
	T(fd >= 0);
	TEQ(corio_dump_tasks(fd), 0);
	TEQ(corio_cancel(t), 0);
	TEQ(corio_dump_tasks(fd), 0);
	out = slurp(fd);
	close(fd);
	st(&h.release, 1);
	TEQ(corio_join(t), 0);
	TEQ(h.r, -ECANCELED);
	T(out != NULL);
	if (!strstr(out, "'offloader' waiting on work on another thread\n") ||
	    !strstr(out, "'offloader' waiting on work on another thread (cancelled)"))
		bad = 1;
	if (bad)
		fprintf(stderr, "dump:\n%s\n", out);
	free(out);
	TEQ(bad, 0);
	return 0;
}

static void test_task_dump_shows_call(void **state)
{
	RUN_OK(dump_main, NULL);
}

/* ------------------------------------------------------------------------
 * Several loops share the pool
 * ------------------------------------------------------------------------ */

#define LOOPS     2
#define PER_LOOP  300

struct lp {
	int                id;
	pthread_barrier_t *bar;
	pid_t              tid;
	int                r;
	int                bad;
	pid_t              fn_tids[PER_LOOP];
};

struct lp_call {
	struct lp *lp;
	int        i;
};

static int lp_fn(void *arg)
{
	struct lp_call *c = arg;

	c->lp->fn_tids[c->i] = gettid_();
	if (c->i % 16 == 0)
		usleep(200); /* some calls block a little: the loops' jobs mix */
	return c->lp->id * 100000 + c->i;
}

static int lp_task(void *arg)
{
	struct lp_call *c = arg;

	return corio_to_thread(lp_fn, c) == c->lp->id * 100000 + c->i ? 0 : 1;
}

static int lp_main(void *arg)
{
	struct lp *lp = arg;
	struct lp_call *calls = calloc(PER_LOOP, sizeof(*calls));
	corio_task **t = calloc(PER_LOOP, sizeof(*t));

	T(calls && t);
	lp->tid = gettid_();
	for (int i = 0; i < PER_LOOP; i++) {
		calls[i] = (struct lp_call){ lp, i };
		t[i] = corio_spawn(lp_task, &calls[i]);
		T(t[i] != NULL);
	}
	for (int i = 0; i < PER_LOOP; i++)
		if (corio_join(t[i]) != 0)
			lp->bad++;
	for (int i = 0; i < PER_LOOP; i++)
		if (lp->fn_tids[i] == lp->tid || lp->fn_tids[i] == 0)
			lp->bad++;
	free(calls);
	free(t);
	return 0;
}

static void *lp_thread(void *arg)
{
	struct lp *lp = arg;

	pthread_barrier_wait(lp->bar);
	lp->r = corio_run(lp_main, lp);
	return NULL;
}

static void test_several_loops_share_pool(void **state)
{
	static struct lp lp[LOOPS];
	pthread_barrier_t bar;
	pthread_t th[LOOPS];

	for (int round = 0; round < 2; round++) {
		assert_int_equal(pthread_barrier_init(&bar, NULL, LOOPS), 0);
		for (int k = 0; k < LOOPS; k++) {
			memset(&lp[k], 0, sizeof(lp[k]));
			lp[k].id = k + 1;
			lp[k].bar = &bar;
			assert_int_equal(pthread_create(&th[k], NULL, lp_thread, &lp[k]), 0);
		}
		for (int k = 0; k < LOOPS; k++)
			pthread_join(th[k], NULL);
		pthread_barrier_destroy(&bar);
		for (int k = 0; k < LOOPS; k++) {
			assert_int_equal(lp[k].r, 0);
			assert_int_equal(lp[k].bad, 0);
		}
		/* No fn ran on either loop's thread. */
		for (int i = 0; i < PER_LOOP; i++)
			for (int k = 0; k < LOOPS; k++)
				for (int m = 0; m < LOOPS; m++)
					assert_true(lp[k].fn_tids[i] != lp[m].tid);
		/* glibc keeps the first threads' stacks and arenas for reuse. */
		if (round == 0)
			check_rebaseline();
	}
}

/* ------------------------------------------------------------------------
 * Settings
 * ------------------------------------------------------------------------ */

static void test_threads_set_range_and_busy(void **state)
{
	assert_int_equal(corio_threads_set(0), -EINVAL);
	assert_int_equal(corio_threads_set(-1), -EINVAL);
	assert_int_equal(corio_threads_set(INT_MIN), -EINVAL);
	assert_int_equal(corio_threads_set(1025), -EINVAL);
	assert_int_equal(corio_threads_set(INT_MAX), -EINVAL);
	/* Here the pool runs already. */
	assert_int_equal(corio_threads_set(1), -EBUSY);
	assert_int_equal(corio_threads_set(1024), -EBUSY);
}

/*
 * In a child: the pool starts afresh. `env` goes into CORIO_THREADS (NULL:
 * unset), `set` into corio_threads_set before the start (0: not called);
 * `want` workers must start.
 */
struct workers_case {
	const char *env;
	int         set;
	int         want;
};

static int start_main(void *arg)
{
	int *rings = arg;

	TEQ(corio_to_thread(ret_fn, (void *)77), 77);
	TEQ(occupy_all_workers(), 0);
	*rings = count_rings();
	return 0;
}

static int workers_child(void *arg)
{
	const struct workers_case *wc = arg;
	int rings = -1;

	if (wc->env)
		setenv("CORIO_THREADS", wc->env, 1);
	else
		unsetenv("CORIO_THREADS");
	unsetenv("CORIO_THREADS_WAKE");
	inherited_rings = count_rings();
	TEQ(count_threads(), 1);
	TEQ(corio_threads_set(0), -EINVAL);
	TEQ(corio_threads_set(1025), -EINVAL);
	if (wc->set) {
		TEQ(corio_threads_set(1024), 0); /* in range; overridden next */
		TEQ(corio_threads_set(wc->set), 0);
	}
	TEQ(count_threads(), 1); /* nothing starts before the first call */
	TEQ(corio_run(start_main, &rings), 0);
	TEQ(count_threads(), 1 + wc->want);
	TEQ(rings - inherited_rings, 1 + wc->want);
	/* Started: too late to change, still -EINVAL out of range. */
	TEQ(corio_threads_set(2), -EBUSY);
	TEQ(corio_threads_set(wc->want), -EBUSY);
	TEQ(corio_threads_set(0), -EINVAL);
	/* And it serves. */
	TEQ(corio_run(result_main, NULL), 0);
	TEQ(count_threads(), 1 + wc->want);
	return 0;
}

static void expect_child_ok(int (*fn)(void *), void *arg, unsigned seconds)
{
	check_child c;
	char s[64];

#if defined(__SANITIZE_THREAD__)
	/* These children start threads after forking a multi-threaded
	 * process, which ThreadSanitizer does not support. */
	(void)fn, (void)arg, (void)seconds, (void)c, (void)s;
	CHECK_SKIP_TEST("skip: ThreadSanitizer cannot run threads in a forked child\n");
#endif
	check_fork_timeout(fn, arg, &c, seconds);
	if (!WIFEXITED(c.status) || WEXITSTATUS(c.status) != 0)
		fail_msg("child: %s; output:\n%s", check_status_str(c.status, s, sizeof(s)),
			 c.out);
}

static void test_threads_set_in_child(void **state)
{
	struct workers_case two = { NULL, 2, 2 };
	struct workers_case one = { NULL, 1, 1 };

	expect_child_ok(workers_child, &two, 10);
	expect_child_ok(workers_child, &one, 10);
}

static void test_threads_env(void **state)
{
	int def = default_workers();
	struct workers_case cases[] = {
		{ "3", 0, 3 },
		{ "1", 0, 1 },
		{ NULL, 0, def },   /* cores, at least 4 */
		{ "", 0, def },
		{ "0", 0, def },    /* out of range: the default */
		{ "1025", 0, def },
		{ "-2", 0, def },
		{ "abc", 0, def },
		{ "3", 2, 2 },      /* corio_threads_set wins */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_child_ok(workers_child, &cases[i], 10);
}

/* ------------------------------------------------------------------------
 * Workers that cannot start
 * ------------------------------------------------------------------------ */

/*
 * In a child, pthread_create fails before the pool starts: corio_to_thread
 * fails with -EAGAIN at once (fn never runs, no job out), and nothing is
 * left behind. With arg set the child then lets threads start again: the
 * pool should start then (-EAGAIN says "try again"; asyncio's executor
 * makes its threads on submit and would). It does not: the failed start is
 * remembered for good (pool.c start_locked: `started` is set even when no
 * worker started, and then only `nthreads ? 0 : -EAGAIN` is returned).
 */
static int no_start_main(void *arg)
{
	int ran = 0;

	TEQ(corio_to_thread(flag_fn, &ran), -EAGAIN);
	TEQ(corio_to_thread(flag_fn, &ran), -EAGAIN);
	TEQ(ran, 0);
	TEQ(corio__tls_loop->external, 0);
	return 0;
}

static int no_start_child(void *arg)
{
	bool retry = arg != NULL;
	int fds = check_count_fds();
	size_t mem = check_malloc_in_use();

	TEQ(count_threads(), 1);
	st(&ptc_allow, 0);
	TEQ(corio_run(no_start_main, NULL), 0);
	TEQ(count_threads(), 1);
	TEQ(check_count_fds(), fds);
	TEQ(check_malloc_in_use(), mem);
	if (!retry)
		return 0;
	/* Threads can start again (EAGAIN is "try again"): so can the pool. */
	st(&ptc_allow, -1);
	int r = corio_run(start_main, &(int){ 0 });
	printf("with pthread_create working again: %s (threads: %d)\n",
	       r == 0 ? "corio_to_thread works" : "corio_to_thread still fails", count_threads());
	TEQ(r, 0);
	T(count_threads() > 1);
	return 0;
}

static void test_no_worker_can_start(void **state)
{
	expect_child_ok(no_start_child, NULL, 10);
}

static void test_pool_starts_after_failed_start(void **state)
{
	expect_child_ok(no_start_child, "retry", 10);
}

/* Only the first worker starts: the pool runs with it (and no more start
 * later: blocking calls then run one after the other). */
static int serial_main(void *arg)
{
	uint64_t t0 = corio_now_ns();
	corio_task *a = corio_spawn(sleeper_task, NULL), *b = corio_spawn(sleeper_task, NULL);

	T(a && b);
	TEQ(corio_join(a), 50);
	TEQ(corio_join(b), 50);
	T(check_ms_since(t0) >= 99);
	return 0;
}

static int partial_child(void *arg)
{
	unsetenv("CORIO_THREADS_WAKE");
	inherited_rings = count_rings();
	TEQ(corio_threads_set(4), 0);
	st(&ptc_allow, 1);
	TEQ(corio_run(many_main, NULL), 0);
	st(&ptc_allow, -1);
	TEQ(count_threads(), 2);
	TEQ(corio_run(serial_main, NULL), 0);
	TEQ(corio_run(result_main, NULL), 0);
	TEQ(count_threads(), 2);
	return 0;
}

static void test_some_workers_start(void **state)
{
	expect_child_ok(partial_child, NULL, 10);
}

/* ------------------------------------------------------------------------
 * One worker: a queued call cancelled, back-pressure
 * ------------------------------------------------------------------------ */

/*
 * Cancel a call that is still queued (the only worker is busy): the job is
 * withdrawn, as asyncio withdraws a pending executor job. The call returns
 * -ECANCELED at once and its fn never runs, not even when the worker frees.
 */
struct queued {
	int ran, release_seen, returned, r;
};

static struct held q_first;
static struct queued q_second;

static int queued_fn(void *arg)
{
	struct queued *q = arg;

	q->release_seen = ld(&q_first.release);
	st(&q->ran, 1);
	return 2;
}

static int queued_task(void *arg)
{
	struct queued *q = arg;

	q->r = corio_to_thread(queued_fn, q);
	q->returned = 1;
	return 0;
}

static int cancel_queued_main(void *arg)
{
	corio_task *a, *b;

	memset(&q_first, 0, sizeof(q_first));
	memset(&q_second, 0, sizeof(q_second));
	a = corio_spawn(held_task, &q_first);
	T(a != NULL);
	await_flag(&q_first.started);
	T(ld(&q_first.started));
	b = corio_spawn(queued_task, &q_second);
	T(b != NULL);
	TEQ(corio_sleep_ms(20), 0);
	TEQ(ld(&q_second.ran), 0); /* queued behind the busy worker */
	TEQ(corio_cancel(b), 0);
	TEQ(corio_sleep_ms(20), 0);
	/* Cancelled while queued: withdrawn, returned at once, never run. */
	TEQ(q_second.returned, 1);
	TEQ(q_second.r, -ECANCELED);
	TEQ(ld(&q_second.ran), 0);
	st(&q_first.release, 1);
	TEQ(corio_join(b), 0);
	TEQ(corio_join(a), 0);
	TEQ(ld(&q_second.ran), 0);          /* and it never runs later either */
	TEQ(q_first.r, 9);
	return 0;
}

/*
 * Back-pressure: 5000 calls with the only worker held. 4096 jobs fit in the
 * pool's queue (plus the one running); the other 904 wait in the loop's own
 * FIFO until there is room, and stay cancellable there: a cancelled one
 * returns at once without its fn ever running. Released, all complete.
 */
#define BP_N    5000

struct bp {
	int in, r, ran;
};

static int bp_fn(void *arg)
{
	struct bp *b = arg;

	b->ran++;
	return b->in * 2 + 1;
}

static int bp_task(void *arg)
{
	struct bp *b = arg;

	b->r = corio_to_thread(bp_fn, b);
	return 0;
}

static int back_pressure_main(void *arg)
{
	static struct bp b[BP_N];
	static corio_task *t[BP_N];
	static const corio_spawn_attr attr = { .stack_size = 32768 };
	struct held gate = { 0 };
	corio_task *g;
	char *dump;
	int fd, on_thread, on_sleep, ready;
	uint64_t t0;

	g = corio_spawn(held_task, &gate);
	T(g != NULL);
	await_flag(&gate.started);
	T(ld(&gate.started));
	for (int i = 0; i < BP_N; i++) {
		b[i] = (struct bp){ .in = i, .r = -1 };
		t[i] = corio_spawn_ex(bp_task, &b[i], &attr);
		T(t[i] != NULL);
	}
	TEQ(corio_sleep_ms(20), 0);
	fd = memfd_create("dump", 0);
	T(fd >= 0);
	TEQ(corio_dump_tasks(fd), 0);
	dump = slurp(fd);
	close(fd);
	T(dump != NULL);
	on_thread = count_substr(dump, " waiting on work on another thread");
	on_sleep = count_substr(dump, " waiting on sleep");
	ready = count_substr(dump, "' ready");
	free(dump);
	fprintf(stderr, "  one worker held, %d calls: %d wait on a job (1 running), %d "
			"asleep or ready\n", BP_N, on_thread, on_sleep + ready);
	/* Every caller waits on its job: 4096 in the pool's queue, the rest in
	 * the loop's own FIFO until there is room (no polling). */
	TEQ(on_thread, 1 + BP_N);
	TEQ(on_sleep + ready, 0);
	/* One still in the loop's FIFO, cancelled: at once, and its fn never
	 * runs. */
	TEQ(corio_cancel(t[BP_N - 1]), 0);
	TEQ(corio_join(t[BP_N - 1]), 0);
	TEQ(b[BP_N - 1].r, -ECANCELED);
	t0 = corio_now_ns();
	st(&gate.release, 1);
	for (int i = 0; i < BP_N - 1; i++)
		TEQ(corio_join(t[i]), 0);
	for (int i = 0; i < BP_N - 1; i++) {
		TEQ(b[i].r, i * 2 + 1);
		TEQ(b[i].ran, 1);
	}
	TEQ(b[BP_N - 1].ran, 0);
	TEQ(corio_join(g), 0);
	TEQ(gate.r, 9);
	TEQ(corio__tls_loop->external, 0);
	fprintf(stderr, "  drained in %llu ms\n", (unsigned long long)check_ms_since(t0));
	return 0;
}

/* ------------------------------------------------------------------------
 * Children that run a list of mains
 * ------------------------------------------------------------------------ */

struct plan {
	const char *wake;    /* CORIO_THREADS_WAKE; NULL: unset */
	int         threads; /* corio_threads_set before the start; 0: not called */
	struct {
		const char *name;
		int (*main)(void *); /* run by corio_run */
		int (*plain)(void);  /* or called as is */
	} steps[12];
};

/* A name resolved on the pool, both ways. */
static int lookup_main(void *arg)
{
	int lfd = corio_listen_tcp("localhost", 0, 0), c, s;

	T(lfd >= 0);
	c = corio_dial_tcp("localhost", (uint16_t)corio_local_port(lfd));
	T(c >= 0);
	s = corio_accept(lfd, NULL, NULL);
	T(s >= 0);
	TEQ(corio_send(c, "x", 1, 0), 1);
	char ch;
	TEQ(corio_recv(s, &ch, 1, 0), 1);
	corio_close(s);
	corio_close(c);
	corio_close(lfd);
	return 0;
}

static int plan_child(void *arg)
{
	const struct plan *p = arg;

	if (p->wake)
		setenv("CORIO_THREADS_WAKE", p->wake, 1);
	else
		unsetenv("CORIO_THREADS_WAKE");
	unsetenv("CORIO_THREADS");
	inherited_rings = count_rings();
	TEQ(count_threads(), 1); /* threads do not survive fork */
	if (p->threads)
		TEQ(corio_threads_set(p->threads), 0);
	for (int i = 0; i < 12 && p->steps[i].name; i++) {
		int r = p->steps[i].main ? corio_run(p->steps[i].main, NULL) : p->steps[i].plain();
		if (r != 0) {
			printf("%s: failed (%d)\n", p->steps[i].name, r);
			return 1;
		}
		printf("%s: ok\n", p->steps[i].name);
	}
	TEQ(count_threads(), 1 + (p->threads ? p->threads : default_workers()));
	return 0;
}

static void test_cancel_queued_call(void **state)
{
	static const struct plan p = { NULL, 1, { { .name = "cancel queued", .main = cancel_queued_main } } };

	expect_child_ok(plan_child, (void *)&p, 20);
}

static void test_back_pressure(void **state)
{
	static const struct plan p = { NULL, 1, { { .name = "back-pressure", .main = back_pressure_main } } };

	expect_child_ok(plan_child, (void *)&p, 20);
}

static void test_wake_by_eventfd(void **state)
{
	static const struct plan p = {
		"eventfd", 0, {
			{ .name = "results", .main = result_main },
			{ .name = "errors", .main = errors_main },
			{ .name = "parallel", .main = parallel_main },
			{ .name = "many", .main = many_main },
			{ .name = "cancel while running", .main = cancel_running_main },
			{ .name = "deadline", .main = deadline_main },
			{ .name = "loop close waits", .plain = loop_close_waits },
			{ .name = "dump", .main = dump_main },
			{ .name = "lookup", .main = lookup_main },
		},
	};
	static const struct plan p1 = {
		"eventfd", 1, {
			{ .name = "cancel queued", .main = cancel_queued_main },
			{ .name = "back-pressure", .main = back_pressure_main },
		},
	};

	expect_child_ok(plan_child, (void *)&p, 20);
	expect_child_ok(plan_child, (void *)&p1, 20);
}

/* ------------------------------------------------------------------------
 * fork while the pool works
 * ------------------------------------------------------------------------ */

struct bg {
	int stop, calls, bad, running;
	int r;
};

static int bg_fn(void *arg)
{
	usleep(200);
	return (int)(intptr_t)arg;
}

static int bg_task(void *arg)
{
	struct bg *b = arg;

	for (int i = 0; !ld(&b->stop); i++) {
		if (corio_to_thread(bg_fn, (void *)(intptr_t)i) != i)
			__atomic_add_fetch(&b->bad, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&b->calls, 1, __ATOMIC_RELAXED);
	}
	return 0;
}

static int bg_main(void *arg)
{
	struct bg *b = arg;
	corio_task *t[8];

	for (int i = 0; i < 8; i++)
		t[i] = corio_spawn(bg_task, b);
	st(&b->running, 1);
	for (int i = 0; i < 8; i++)
		if (t[i])
			corio_join(t[i]);
	return 0;
}

static void *bg_thread(void *arg)
{
	struct bg *b = arg;

	b->r = corio_run(bg_main, b);
	return NULL;
}

/* Why the two fork tests below skip under valgrind: the child inherits
 * memory that threads of the parent own (a loop thread's signal stack, its
 * resolver state), and those threads do not exist in the child, so memcheck
 * calls that memory lost at the child's exit; and valgrind 3.19 keeps
 * counting the parent's MADV_DONTFORK ring mappings in the child. */
#define SKIP_FORK_UNDER_VALGRIND()                                                           \
	do {                                                                                 \
		if (CHECK_VALGRIND)                                                          \
			CHECK_SKIP_TEST("skip: under valgrind a fork child inherits memory of "    \
					"threads it does not have (reported lost)\n");            \
	} while (0)

static void test_fork_while_pool_runs(void **state)
{
#if defined(__SANITIZE_THREAD__)
	CHECK_SKIP_TEST("skip: ThreadSanitizer cannot run threads in a forked child\n");
#endif
	SKIP_FORK_UNDER_VALGRIND();
	static const struct plan p = {
		NULL, 0, {
			{ .name = "many", .main = many_main },
			{ .name = "results", .main = result_main },
			{ .name = "cancel while running", .main = cancel_running_main },
		},
	};

	for (int round = 0; round < 2; round++) {
		struct bg b = { 0 };
		pthread_t th;

		assert_int_equal(pthread_create(&th, NULL, bg_thread, &b), 0);
		for (int i = 0; i < 2000 && (!ld(&b.running) || ld(&b.calls) < 20); i++)
			usleep(1000);
		assert_true(ld(&b.calls) >= 20);
		/* Forked while workers run jobs and the queue moves. */
		for (int k = 0; k < 3; k++) {
			int before = ld(&b.calls);
			expect_child_ok(plan_child, (void *)&p, 20);
			for (int i = 0; i < 1000 && ld(&b.calls) < before + 10; i++)
				usleep(1000);
		}
		st(&b.stop, 1);
		pthread_join(th, NULL);
		assert_int_equal(b.r, 0);
		assert_int_equal(b.bad, 0);
		/* glibc keeps the first thread's stack and arena for reuse. */
		if (round == 0)
			check_rebaseline();
	}
}

/*
 * The parent's workers do not survive fork, but their rings (one fd each)
 * do: nothing in the child will ever use or close them. A child forked
 * while no loop runs should hold no io_uring fd at all; each generation of
 * a forking program would otherwise add the pool's worth of fds.
 */
static int no_rings_child(void *arg)
{
	int rings = count_rings();

	printf("io_uring fds open in the child before it uses corio: %d (the parent has "
	       "%d workers)\n", rings, *(int *)arg);
	TEQ(rings, 0);
	return 0;
}

static void test_fork_child_keeps_no_worker_rings(void **state)
{
	SKIP_FORK_UNDER_VALGRIND();
#if defined(__SANITIZE_THREAD__)
	int workers = count_threads() - 2; /* ThreadSanitizer has a thread too */
#else
	int workers = count_threads() - 1;
#endif

	/* No loop here: the rings are the workers'. */
	assert_int_equal(count_rings(), wake_eventfd() ? 0 : workers);
	expect_child_ok(no_rings_child, &workers, 10);
}

/* ------------------------------------------------------------------------ */

/* Starts the pool: its workers (and their ring fds) are the process's from
 * here on, part of every test's baseline. */
static int warmup_main(void *arg)
{
	return occupy_all_workers();
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		CHECK_TEST(test_returns_fn_result),
		CHECK_TEST(test_errors),
		CHECK_TEST(test_blocking_calls_run_in_parallel),
		CHECK_TEST(test_many_concurrent_calls),
		CHECK_TEST(test_cancel_while_fn_runs),
		CHECK_TEST(test_deadline_while_fn_runs),
		CHECK_TEST(test_loop_close_waits_for_fn),
		CHECK_TEST(test_ring_configs),
		CHECK_TEST(test_task_dump_shows_call),
		CHECK_TEST(test_several_loops_share_pool),
		CHECK_TEST(test_threads_set_range_and_busy),
		CHECK_TEST(test_threads_set_in_child),
		CHECK_TEST(test_threads_env),
		CHECK_TEST(test_no_worker_can_start),
		CHECK_TEST(test_pool_starts_after_failed_start),
		CHECK_TEST(test_some_workers_start),
		CHECK_TEST(test_cancel_queued_call),
		CHECK_TEST(test_back_pressure),
		CHECK_TEST(test_wake_by_eventfd),
		CHECK_TEST(test_fork_while_pool_runs),
		CHECK_TEST(test_fork_child_keeps_no_worker_rings),
	};

	check_init(argc, argv);
	if (corio_run(warmup_main, NULL) != 0) {
		printf("skip: the thread pool cannot start here\n");
		return CHECK_SKIP;
	}
	check_rebaseline();
	return cmocka_run_group_tests_name("test_pool", tests, NULL, NULL);
}
