/*
 * test_loops.c - corio_run_loops: one loop per thread, each with its own
 * index, results and errors gathered, misuse refused, and loops that share
 * the thread pool.
 */
#include <pthread.h>

#include "check.h"

#define N 3

struct seen {
	int       index[N];
	pthread_t thread[N];
	int       calls;
};

static int record_main(void *arg)
{
	struct seen *s = arg;
	int i = corio_loop_index();

	if (i < 0 || i >= N)
		return -ERANGE;
	/* Each loop sleeps, so the loops overlap in time. */
	if (corio_sleep_ms(10) != 0)
		return -EIO;
	s->index[i] = i + 100;
	s->thread[i] = pthread_self();
	__atomic_add_fetch(&s->calls, 1, __ATOMIC_RELAXED);
	return 0;
}

static void test_indexes_and_threads(void **state)
{
	struct seen s;
	uint64_t t0 = corio_now_ns();

	memset(&s, 0, sizeof(s));
	assert_int_equal(corio_run_loops(N, record_main, &s), 0);
	assert_int_equal(s.calls, N);
	for (int i = 0; i < N; i++)
		assert_int_equal(s.index[i], i + 100);
	/* Loop 0 ran on this thread, the others on threads of their own. */
	assert_true(pthread_equal(s.thread[0], pthread_self()));
	for (int i = 1; i < N; i++)
		for (int j = 0; j < i; j++)
			assert_false(pthread_equal(s.thread[i], s.thread[j]));
	/* They ran side by side: well under N times 10 ms plus slack. */
	assert_true(check_ms_since(t0) < 10 * N + 200 * CHECK_TIME_SCALE);
	assert_int_equal(corio_loop_index(), -1);
}

/* Loop 1 fails at once, loop 2 later: the first error in time wins.
 * Loop 2 starts its delay only once loop 1's main has returned, since a
 * thread may start late (under valgrind, which runs one thread at a time,
 * loop 1 was seen to start after a plain 30 ms sleep of loop 2's). */
static int fail_main(void *arg)
{
	int *failed = arg;

	switch (corio_loop_index()) {
	case 1:
		__atomic_store_n(failed, 1, __ATOMIC_RELEASE);
		return -EIO;
	case 2:
		for (int i = 0; i < 10000 && !__atomic_load_n(failed, __ATOMIC_ACQUIRE); i++)
			corio_sleep_ms(1);
		corio_sleep_ms(30 * CHECK_TIME_SCALE);
		return -ENOENT;
	default:
		return 0;
	}
}

static void test_first_error(void **state)
{
	int failed = 0;

	assert_int_equal(corio_run_loops(N, fail_main, &failed), -EIO);
	assert_int_equal(failed, 1);
}

static int one_main(void *arg)
{
	(void)arg;
	return corio_loop_index() == 0 ? 0 : -EINVAL;
}

static void test_one_and_default(void **state)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	struct seen s;

	assert_int_equal(corio_run_loops(1, one_main, NULL), 0);
	if (cores > 0 && cores <= N) {
		/* 0 means one per core. */
		memset(&s, 0, sizeof(s));
		assert_int_equal(corio_run_loops(0, record_main, &s), 0);
		assert_int_equal(s.calls, (int)cores);
	}
}

static int nested_main(void *arg)
{
	(void)arg;
	return corio_run_loops(2, one_main, NULL);
}

static void test_misuse(void **state)
{
	assert_int_equal(corio_run_loops(2, NULL, NULL), -EINVAL);
	assert_int_equal(corio_run_loops(-1, one_main, NULL), -EINVAL);
	assert_int_equal(corio_run_loops(1025, one_main, NULL), -EINVAL);
	/* From inside a loop: this thread already runs one. */
	assert_int_equal(corio_run(nested_main, NULL), -EBUSY);
}

/* Every loop uses the shared thread pool and gets its own results back. */
static int square(void *arg)
{
	intptr_t v = (intptr_t)arg;
	return (int)(v * v);
}

static int pool_main(void *arg)
{
	(void)arg;
	for (int k = 0; k < 200; k++) {
		intptr_t v = corio_loop_index() * 1000 + k;
		if (corio_to_thread(square, (void *)(v % 40000)) != (int)((v % 40000) * (v % 40000)))
			return -EIO;
	}
	return 0;
}

static void test_loops_share_pool(void **state)
{
	assert_int_equal(corio_run_loops(N, pool_main, NULL), 0);
}

/* ------------------------------------------------------------------------
 * Cross-loop calls
 * ------------------------------------------------------------------------ */

/* A loop ends when its main returns, and then takes no calls: mains that
 * serve their peers stay until every loop of the test is done with them. */
static int stay_until_all(int *finished, int n)
{
	__atomic_add_fetch(finished, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 10000 && __atomic_load_n(finished, __ATOMIC_ACQUIRE) < n; i++)
		if (corio_sleep_ms(1) != 0)
			return -ECANCELED;
	return __atomic_load_n(finished, __ATOMIC_ACQUIRE) == n ? 0 : -ETIME;
}

static int whoami(void *arg)
{
	(void)arg;
	return corio_loop_index() * 10 + 7;
}

struct counts {
	int posted[N];        /* posts that ran, per target loop */
	int wrong_loop;
	int seq_next[N][N];   /* per (from, to): the next sequence number expected */
	int out_of_order;
	int finished;
};

struct post_arg {
	struct counts *c;
	int from, seq;
};

static void count_post(void *p)
{
	struct post_arg *a = p;
	int me = corio_loop_index();

	/* Runs on the target loop's thread, as a task of its own. */
	if (me < 0 || me >= N)
		__atomic_add_fetch(&a->c->wrong_loop, 1, __ATOMIC_RELAXED);
	else {
		if (a->c->seq_next[a->from][me] != a->seq)
			a->c->out_of_order++;
		a->c->seq_next[a->from][me] = a->seq + 1;
		__atomic_add_fetch(&a->c->posted[me], 1, __ATOMIC_RELAXED);
	}
	free(a);
}

static int call_everyone_main(void *arg)
{
	struct counts *c = arg;
	int me = corio_loop_index();

	if (corio_loop_count() != N)
		return -EINVAL;
	/* A call to each loop, this one included, runs there. */
	for (int i = 0; i < N; i++)
		if (corio_loop_call(i, whoami, NULL) != i * 10 + 7)
			return -EIO;
	/* Posts to every loop, in order; they run exactly once. */
	for (int k = 0; k < 100; k++)
		for (int i = 0; i < N; i++) {
			struct post_arg *a = malloc(sizeof(*a));
			if (!a)
				return -ENOMEM;
			a->c = c;
			a->from = me;
			a->seq = k;
			if (corio_loop_post(i, count_post, a) != 0)
				return -EIO;
		}
	/* Every loop stays up until every post reached it: a call to each
	 * loop after our posts ends after them (same path, in order). */
	for (int i = 0; i < N; i++)
		if (corio_loop_call(i, whoami, NULL) != i * 10 + 7)
			return -EIO;
	return stay_until_all(&c->finished, N);
}

static void test_post_and_call(void **state)
{
	struct counts c;

	memset(&c, 0, sizeof(c));
	assert_int_equal(corio_run_loops(N, call_everyone_main, &c), 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(c.posted[i], 100 * N);
	assert_int_equal(c.wrong_loop, 0);
	assert_int_equal(c.out_of_order, 0);
}

/* A loop of corio_run is loop 0 of one: it can post and call itself. */
static int flag_post(void *p)
{
	*(int *)p += 1;
	return 0;
}

static void flag_post_void(void *p)
{
	(void)flag_post(p);
}

static int self_main(void *arg)
{
	int *flag = arg;

	if (corio_loop_count() != 1)
		return -EINVAL;
	if (corio_loop_call(0, whoami, NULL) != 7)
		return -EIO;
	if (corio_loop_post(0, flag_post_void, flag) != 0)
		return -EIO;
	if (corio_loop_call(1, whoami, NULL) != -EINVAL || corio_loop_post(-1, flag_post_void, flag) != -EINVAL)
		return -EIO;
	if (corio_loop_call(0, NULL, NULL) != -EINVAL || corio_loop_post(0, NULL, NULL) != -EINVAL)
		return -EIO;
	/* Returning now: the post still runs, once, before the loop ends. */
	return 0;
}

static void test_self_and_misuse(void **state)
{
	int flag = 0;

	assert_int_equal(corio_run(self_main, &flag), 0);
	assert_int_equal(flag, 1);
	assert_int_equal(corio_loop_count(), 0);
	assert_int_equal(corio_loop_post(0, flag_post_void, &flag), -EPERM);
	assert_int_equal(corio_loop_call(0, whoami, NULL), -EPERM);
}

/* Cancelling or timing out a caller cancels the task on the other loop,
 * and the call returns only after that task ended: it may use memory on
 * the caller's stack up to its last instruction. */
struct slow {
	int   *written;      /* on the caller's stack */
	int    saw;          /* what the remote sleep returned */
	int    on_loop;
	int   *finished;
};

static int slow_remote(void *p)
{
	struct slow *s = p;

	s->on_loop = corio_loop_index();
	s->saw = corio_sleep_ms(10000);
	corio_sleep_ms(5); /* cancelled: returns at once, still on the caller's memory */
	*s->written = 42;
	return 5;
}

static int cancel_caller_task(void *p)
{
	int written = 0;
	struct slow *s = p;
	int r;

	s->written = &written;
	r = corio_loop_call(1, slow_remote, s);
	return r == -ECANCELED && written == 42 ? 0 : -EIO;
}

static int timeout_main(void *arg)
{
	struct slow *s = arg;
	int written = 0;
	uint64_t t0;
	corio_task *t;
	int r;

	if (corio_loop_index() != 0)
		return stay_until_all(s->finished, 2); /* loop 1 serves */
	/* A deadline scope around the call. */
	s[0].written = &written;
	t0 = corio_now_ns();
	corio_deadline_push(20);
	r = corio_loop_call(1, slow_remote, &s[0]);
	if (corio_deadline_pop() != -ETIMEDOUT || r != -ETIMEDOUT || written != 42)
		return -EIO;
	if (check_ms_since(t0) > 2000 * CHECK_TIME_SCALE)
		return -ETIME;
	/* corio_cancel of the calling task. */
	t = corio_spawn(cancel_caller_task, &s[1]);
	if (!t || corio_sleep_ms(10) != 0 || corio_cancel(t) != 0)
		return -EIO;
	if (corio_join(t) != 0)
		return -EIO;
	/* A caller already cancelled never sends. */
	corio_cancel(corio_current());
	r = corio_loop_call(1, whoami, NULL);
	__atomic_add_fetch(s->finished, 1, __ATOMIC_RELEASE);
	return r == -ECANCELED ? 0 : -EIO;
}

static void test_call_cancel_and_timeout(void **state)
{
	struct slow s[2];
	int finished = 0;

	memset(s, 0, sizeof(s));
	s[0].finished = &finished;
	assert_int_equal(corio_run_loops(2, timeout_main, s), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(s[i].on_loop, 1);
		assert_int_equal(s[i].saw, -ECANCELED);
	}
}

/* A call to a loop whose main has returned is refused. */
static void done_post(void *p)
{
	corio_event_set(p);
}

static int shut_main(void *arg)
{
	corio_event *ev;
	int r;

	(void)arg;
	if (corio_loop_index() == 1) {
		/* Tell loop 0 we are done, then return at once. */
		return corio_loop_post(0, done_post, *(corio_event **)arg);
	}
	ev = *(corio_event **)arg;
	r = corio_event_wait(ev);
	if (r != 0)
		return r;
	if (corio_loop_call(1, whoami, NULL) != -ESHUTDOWN)
		return -EIO;
	if (corio_loop_post(1, flag_post_void, NULL) != -ESHUTDOWN)
		return -EIO;
	return 0;
}

static void test_call_after_shutdown(void **state)
{
	corio_event *ev;
	int r;

	/* The event is loop 0's: made before the loops run, bound to the
	 * first loop that uses it (loop 0 waits on it; loop 0's post sets it). */
	ev = corio_event_new();
	assert_non_null(ev);
	r = corio_run_loops(2, shut_main, &ev);
	corio_event_free(ev);
	assert_int_equal(r, 0);
}

/* Shutdown with tasks on every loop: mains return while tasks sleep, call
 * and post across loops; everything ends, every accepted post runs once. */
struct storm {
	int posts_sent, posts_ran;  /* atomics */
	int calls_ok, calls_other;  /* atomics */
};

static void storm_post(void *p)
{
	struct storm *st = p;
	__atomic_add_fetch(&st->posts_ran, 1, __ATOMIC_RELAXED);
}

static int storm_work(void *p)
{
	(void)p;
	return corio_sleep_ms(1) == 0 ? 1 : -ECANCELED;
}

static int storm_task(void *p)
{
	struct storm *st = p;
	int n = corio_loop_count();

	for (int k = 0;; k++) {
		int to = (corio_loop_index() + 1 + k) % n;
		if (corio_loop_post(to, storm_post, st) == 0)
			__atomic_add_fetch(&st->posts_sent, 1, __ATOMIC_RELAXED);
		int r = corio_loop_call(to, storm_work, NULL);
		if (r == 1)
			__atomic_add_fetch(&st->calls_ok, 1, __ATOMIC_RELAXED);
		else if (r != -ECANCELED && r != -ESHUTDOWN)
			__atomic_add_fetch(&st->calls_other, 1, __ATOMIC_RELAXED);
		if (r == -ECANCELED)
			return 0;
		/* Refused without blocking: block here, or this task would
		 * never see its own cancel. */
		if (r == -ESHUTDOWN && corio_sleep_ms(1) == -ECANCELED)
			return 0;
	}
}

static int sleeper(void *p)
{
	(void)p;
	return corio_sleep_ms(100000) == -ECANCELED ? 0 : -EIO;
}

static int storm_main(void *arg)
{
	struct storm *st = arg;

	for (int i = 0; i < 8; i++) {
		corio_detach(corio_spawn(storm_task, arg));
		corio_detach(corio_spawn(sleeper, NULL));
	}
	/* Some calls complete before the loops shut down, however slow the
	 * machine (TSan on busy cores managed none in 40 ms). */
	for (int i = 0; i < 10000 && __atomic_load_n(&st->calls_ok, __ATOMIC_RELAXED) == 0; i++)
		corio_sleep_ms(1);
	return corio_sleep_ms(40 + 10 * corio_loop_index());
}

static void test_shutdown_under_load(void **state)
{
	struct storm st;

	memset(&st, 0, sizeof(st));
	assert_int_equal(corio_run_loops(N, storm_main, &st), 0);
	assert_true(st.calls_ok > 0);
	assert_int_equal(st.calls_other, 0);
	assert_int_equal(st.posts_ran, st.posts_sent);
	print_message("storm: %d calls, %d posts\n", st.calls_ok, st.posts_sent);
}

/* A bounded flood: every loop posts to and calls every other loop. */
/* Smaller under TSan: slower by a hundred there, and a burst of posts
 * taken at once is as many tasks alive at once, each a TSan fiber, which
 * TSan counts against its limit of 8128 threads. Smaller under valgrind
 * too, where the full flood took two minutes of CI. */
#define FLOOD_POSTS (CHECK_TSAN || CHECK_VALGRIND ? 2000 : 20000)
#define FLOOD_CALLS (CHECK_TSAN || CHECK_VALGRIND ? 200 : 2000)

static void flood_post(void *p)
{
	__atomic_add_fetch((int *)p, 1, __ATOMIC_RELAXED);
}

static int flood_caller(void *p)
{
	for (int k = 0; k < FLOOD_CALLS; k++) {
		int to = (corio_loop_index() + 1 + k % (N - 1)) % N;
		if (corio_loop_call(to, whoami, NULL) != to * 10 + 7)
			return -EIO;
	}
	(void)p;
	return 0;
}

static int flood_main(void *arg)
{
	int *ran = arg; /* N counters, then `finished` */
	corio_task *t = corio_spawn(flood_caller, NULL);
	int r;

	for (int k = 0; k < FLOOD_POSTS; k++) {
		int to = (corio_loop_index() + 1 + k % (N - 1)) % N;
		if (corio_loop_post(to, flood_post, &ran[to]) != 0)
			return -EIO;
		if ((k & 255) == 0)
			corio_yield();
	}
	r = corio_join(t);
	/* Stay until the others' posts to us have all run. */
	for (int i = 0; i < 5000 && __atomic_load_n(&ran[corio_loop_index()], __ATOMIC_RELAXED) < FLOOD_POSTS; i++)
		corio_sleep_ms(1);
	return r ? r : stay_until_all(&ran[N], N);
}

static void test_flood(void **state)
{
	int ran[N + 1] = { 0 };
	uint64_t t0 = corio_now_ns();

	assert_int_equal(corio_run_loops(N, flood_main, ran), 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(ran[i], FLOOD_POSTS);
	print_message("flood: %d posts and %d calls per loop in %.0f ms\n", FLOOD_POSTS,
		      FLOOD_CALLS, (double)check_ms_since(t0));
}

/* The same traffic where loops wake each other by eventfd, as on kernels
 * without IORING_OP_MSG_RING. */
static char wake_eventfd[] = "CORIO_LOOPS_WAKE=eventfd";
static char wake_default[] = "CORIO_LOOPS_WAKE=msg_ring";

static void test_eventfd_fallback(void **state)
{
	struct counts c;
	int ran[N + 1] = { 0 };

	putenv(wake_eventfd); /* not setenv: it allocates (a leak to the checks) */
	memset(&c, 0, sizeof(c));
	assert_int_equal(corio_run_loops(N, call_everyone_main, &c), 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(c.posted[i], 100 * N);
	assert_int_equal(c.out_of_order, 0);
	assert_int_equal(corio_run_loops(N, flood_main, ran), 0);
	putenv(wake_default);
	for (int i = 0; i < N; i++)
		assert_int_equal(ran[i], FLOOD_POSTS);
}

/* A loop blocked on what no peer will ever do is reported once it is the
 * last loop running (not before: a peer could still post to it). */
static int stuck_main(void *arg)
{
	corio_event *ev;
	int r;

	(void)arg;
	if (corio_loop_index() == 0) {
		corio_sleep_ms(20);
		return 0;
	}
	ev = corio_event_new();
	r = corio_event_wait(ev); /* nobody sets it */
	corio_event_free(ev);
	return r;
}

static void test_group_deadlock_reported(void **state)
{
	assert_int_equal(corio_run_loops(2, stuck_main, NULL), -ECANCELED);
}

/* The pool's threads and their rings outlive each run, and glibc keeps
 * what it sets up for the first threads it starts (stacks, TLS): do both
 * once, so they are part of every test's baseline. */
static int warm(void *arg)
{
	(void)arg;
	return corio_to_thread(square, (void *)2) == 4 ? 0 : -EIO;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		CHECK_TEST(test_indexes_and_threads),
		CHECK_TEST(test_first_error),
		CHECK_TEST(test_one_and_default),
		CHECK_TEST(test_misuse),
		CHECK_TEST(test_loops_share_pool),
		CHECK_TEST(test_post_and_call),
		CHECK_TEST(test_self_and_misuse),
		CHECK_TEST(test_call_cancel_and_timeout),
		CHECK_TEST(test_call_after_shutdown),
		CHECK_TEST(test_shutdown_under_load),
		CHECK_TEST(test_flood),
		CHECK_TEST(test_eventfd_fallback),
		CHECK_TEST(test_group_deadlock_reported),
	};

	check_init(argc, argv);
	putenv(wake_default); /* the environment's slot for it, made once */
	/* Twice: glibc gives a new thread a malloc arena of its own when none
	 * is free, and keeps it (its header counts as bytes in use). */
	for (int i = 0; i < 2; i++)
		if (corio_run(warm, NULL) != 0 || corio_run_loops(N, warm, NULL) != 0)
			return 1;
	check_pool_settle();
	check_rebaseline();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
