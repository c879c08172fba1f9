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

/* Loop 1 fails at once, loop 2 later: the first error in time wins. */
static int fail_main(void *arg)
{
	(void)arg;
	switch (corio_loop_index()) {
	case 1:
		return -EIO;
	case 2:
		corio_sleep_ms(30);
		return -ENOENT;
	default:
		return 0;
	}
}

static void test_first_error(void **state)
{
	assert_int_equal(corio_run_loops(N, fail_main, NULL), -EIO);
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
	};

	check_init(argc, argv);
	if (corio_run(warm, NULL) != 0 || corio_run_loops(N, warm, NULL) != 0)
		return 1;
	usleep(20000); /* every worker is up */
	check_rebaseline();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
