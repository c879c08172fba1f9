/*
 * test_gather.c - corio_gather in both modes: results in order, the first
 * error at once (others detached and still running), CORIO_GATHER_ALL,
 * NULL results, n = 0, every misuse error with nothing consumed, finished
 * tasks, and a large gather.
 */
#include "check.h"

#define SLACK_MS (200 * CHECK_TIME_SCALE)

struct job {
	int      ms;       /* sleep this long */
	int      ret;      /* then return this */
	int      ended;
	uint64_t ended_ns;
	int      sleep_r;
};

static int job_task(void *arg)
{
	struct job *j = arg;

	j->sleep_r = corio_sleep_ms((uint64_t)j->ms);
	j->ended = 1;
	j->ended_ns = corio_now_ns();
	return j->sleep_r < 0 ? j->sleep_r : j->ret;
}

static int ret_arg(void *arg)
{
	return (int)(intptr_t)arg;
}

static void spawn_jobs(corio_task **ts, struct job *jobs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		ts[i] = corio_spawn(job_task, &jobs[i]);
		assert_non_null(ts[i]);
	}
}

static int all_ok_main(void *arg)
{
	struct job jobs[5] = {
		{ .ms = 25, .ret = 10 }, { .ms = 5, .ret = 11 },  { .ms = 15, .ret = 12 },
		{ .ms = 1, .ret = 13 },  { .ms = 10, .ret = 0 },
	};
	corio_task *ts[5];
	int res[5];
	uint64_t t0 = corio_now_ns();

	spawn_jobs(ts, jobs, 5);
	memset(res, 0x55, sizeof(res));
	assert_int_equal(corio_gather(ts, 5, res, 0), 0);
	/* In task order, not completion order. */
	for (int i = 0; i < 5; i++)
		assert_int_equal(res[i], jobs[i].ret);
	assert_between(check_ms_since(t0), 25, 25 + SLACK_MS);
	/* Every handle was consumed. */
	for (int i = 0; i < 5; i++)
		assert_int_equal(corio_join(ts[i]), -EINVAL);
	return 0;
}

static void test_all_succeed(void **state)
{
	assert_int_equal(check_run(all_ok_main, NULL), 0);
}

static int first_error_main(void *arg)
{
	struct job *jobs = arg;
	corio_task *ts[4];
	int res[4];
	uint64_t t0 = corio_now_ns();

	spawn_jobs(ts, jobs, 4);
	assert_int_equal(corio_gather(ts, 4, res, 0), -EIO);
	/* As soon as the failure came, not after the slow ones. */
	assert_true(check_ms_since(t0) < 60 * CHECK_TIME_SCALE);
	assert_int_equal(res[0], -EINPROGRESS);
	assert_int_equal(res[1], -EIO);
	assert_int_equal(res[2], -EINPROGRESS);
	assert_int_equal(res[3], -EINPROGRESS);
	assert_int_equal(jobs[0].ended + jobs[2].ended + jobs[3].ended, 0);
	/* The others run on, detached: no handle is left to consume. */
	for (int i = 0; i < 4; i++)
		assert_int_equal(corio_join(ts[i]), -EINVAL);
	assert_int_equal(corio_sleep_ms(150 * CHECK_TIME_SCALE), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(jobs[i].ended, 1);
		assert_int_equal(jobs[i].sleep_r, 0); /* not cancelled */
	}
	/* And they did not write into res after gather returned. */
	assert_int_equal(res[0], -EINPROGRESS);
	assert_int_equal(res[3], -EINPROGRESS);
	return 0;
}

static void test_first_error_returns_at_once(void **state)
{
	struct job jobs[4] = {
		{ .ms = 100, .ret = 1 },
		{ .ms = 5, .ret = -EIO },
		{ .ms = 100, .ret = 2 },
		{ .ms = 100, .ret = -ENOENT },
	};

	/* The slow ones stay slower than the bound on the fast failure. */
	for (int i = 0; i < 4; i++)
		if (jobs[i].ms == 100)
			jobs[i].ms *= CHECK_TIME_SCALE;
	assert_int_equal(check_run(first_error_main, jobs), 0);
}

/* Left running at the end: main returns while detached gather children
 * still sleep; the shutdown cancels them. */
static int first_error_then_return_main(void *arg)
{
	struct job *jobs = arg;
	corio_task *ts[2];

	spawn_jobs(ts, jobs, 2);
	return corio_gather(ts, 2, NULL, 0);
}

static void test_first_error_leftovers_cancelled_at_exit(void **state)
{
	struct job jobs[2] = { { .ms = 10000, .ret = 1 }, { .ms = 1, .ret = -EPIPE } };
	uint64_t t0 = corio_now_ns();

	assert_int_equal(check_run(first_error_then_return_main, jobs), -EPIPE);
	assert_true(check_ms_since(t0) < SLACK_MS);
	assert_int_equal(jobs[0].ended, 1);
	assert_int_equal(jobs[0].sleep_r, -ECANCELED);
}

static int gather_all_main(void *arg)
{
	struct job jobs[4] = {
		{ .ms = 30, .ret = 1 },
		{ .ms = 5, .ret = -EIO },
		{ .ms = 10, .ret = 2 },
		{ .ms = 1, .ret = -ENOENT },
	};
	corio_task *ts[4];
	int res[4];
	uint64_t t0 = corio_now_ns();

	spawn_jobs(ts, jobs, 4);
	assert_int_equal(corio_gather(ts, 4, res, CORIO_GATHER_ALL), 0);
	assert_true(check_ms_since(t0) >= 30);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(res[i], jobs[i].ret);
		assert_int_equal(jobs[i].ended, 1);
	}
	return 0;
}

static void test_gather_all(void **state)
{
	assert_int_equal(check_run(gather_all_main, NULL), 0);
}

static int null_results_main(void *arg)
{
	struct job jobs[3] = { { .ms = 2, .ret = 1 }, { .ms = 1, .ret = 2 }, { .ms = 3, .ret = 3 } };
	corio_task *ts[3];

	spawn_jobs(ts, jobs, 3);
	assert_int_equal(corio_gather(ts, 3, NULL, 0), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(jobs[i].ended, 1);

	memset(jobs, 0, sizeof(jobs));
	jobs[0].ms = 1;
	jobs[0].ret = -EIO;
	jobs[1].ms = 2;
	spawn_jobs(ts, jobs, 2);
	assert_int_equal(corio_gather(ts, 2, NULL, CORIO_GATHER_ALL), 0);
	assert_int_equal(jobs[1].ended, 1);

	memset(jobs, 0, sizeof(jobs));
	jobs[0].ms = 1;
	jobs[0].ret = -EIO;
	jobs[1].ms = 20;
	spawn_jobs(ts, jobs, 2);
	assert_int_equal(corio_gather(ts, 2, NULL, 0), -EIO);
	assert_int_equal(jobs[1].ended, 0);
	assert_int_equal(corio_sleep_ms(30), 0);
	assert_int_equal(jobs[1].ended, 1);
	return 0;
}

static void test_null_results(void **state)
{
	assert_int_equal(check_run(null_results_main, NULL), 0);
}

static int bad_args_main(void *arg)
{
	corio_task *ts[3];
	corio_task *bad[3];
	int res[3] = { 99, 99, 99 };

	/* n = 0 is an empty gather, whatever the pointers. */
	assert_int_equal(corio_gather(NULL, 0, NULL, 0), 0);
	assert_int_equal(corio_gather(NULL, 0, NULL, CORIO_GATHER_ALL), 0);
	assert_int_equal(corio_gather(ts, 0, res, 0), 0);
	assert_int_equal(res[0], 99);

	assert_int_equal(corio_gather(NULL, 2, NULL, 0), -EINVAL);
	assert_int_equal(corio_gather(NULL, 2, res, CORIO_GATHER_ALL), -EINVAL);

	for (int i = 0; i < 3; i++) {
		ts[i] = corio_spawn(ret_arg, (void *)(intptr_t)(i + 1));
		assert_non_null(ts[i]);
	}
	/* Unknown flags: refused, nothing consumed. */
	assert_int_equal(corio_gather(ts, 3, res, 2u), -EINVAL);
	assert_int_equal(corio_gather(ts, 3, res, ~0u), -EINVAL);

	/* A NULL handle in the middle: refused, nothing consumed. */
	bad[0] = ts[0];
	bad[1] = NULL;
	bad[2] = ts[1];
	assert_int_equal(corio_gather(bad, 3, res, 0), -EINVAL);
	assert_int_equal(corio_gather(bad, 3, res, CORIO_GATHER_ALL), -EINVAL);

	/* The same handle twice. */
	bad[0] = ts[0];
	bad[1] = ts[1];
	bad[2] = ts[0];
	assert_int_equal(corio_gather(bad, 3, res, 0), -EINVAL);

	/* The caller itself. */
	bad[0] = ts[2];
	bad[1] = corio_current();
	assert_int_equal(corio_gather(bad, 2, res, 0), -EDEADLK);

	/* After all that, each handle is intact: join works on every one
	 * (a stale gather link would make it -EBUSY). */
	assert_int_equal(corio_join(ts[0]), 1);
	assert_int_equal(corio_join(ts[1]), 2);
	assert_int_equal(corio_join(ts[2]), 3);

	/* Released handles are refused too. */
	assert_int_equal(corio_gather(ts, 3, res, 0), -EINVAL);
	return 0;
}

static void test_bad_arguments(void **state)
{
	assert_int_equal(check_run(bad_args_main, NULL), 0);
}

struct busy {
	corio_task *target;
	int         join_r;
};

static int busy_joiner(void *arg)
{
	struct busy *b = arg;

	b->join_r = corio_join(b->target);
	return 0;
}

static int busy_main(void *arg)
{
	struct job job = { .ms = 5, .ret = 4 };
	struct busy b = { 0 };
	corio_task *j, *other;
	corio_task *ts[2];
	int res[2];

	b.target = corio_spawn(job_task, &job);
	other = corio_spawn(ret_arg, (void *)8);
	j = corio_spawn(busy_joiner, &b);
	assert_non_null(b.target);
	assert_non_null(other);
	assert_non_null(j);
	corio_yield(); /* j now waits in join(target) */
	ts[0] = other;
	ts[1] = b.target;
	assert_int_equal(corio_gather(ts, 2, res, 0), -EBUSY);
	assert_int_equal(corio_join(j), 0);
	assert_int_equal(b.join_r, 4);
	/* other was not consumed. */
	assert_int_equal(corio_join(other), 8);
	return 0;
}

static void test_task_with_joiner_ebusy(void **state)
{
	assert_int_equal(check_run(busy_main, NULL), 0);
}

static void test_outside_loop(void **state)
{
	assert_int_equal(corio_gather(NULL, 0, NULL, 0), -EPERM);
	assert_int_equal(corio_gather(NULL, 1, NULL, 0), -EPERM);
}

static int finished_main(void *arg)
{
	corio_task *ts[4];
	int res[4];
	struct job slow = { .ms = 10, .ret = 30 };

	ts[0] = corio_spawn(ret_arg, (void *)10);
	ts[1] = corio_spawn(ret_arg, (void *)20);
	ts[2] = corio_spawn(job_task, &slow);
	ts[3] = corio_spawn(ret_arg, (void *)40);
	for (int i = 0; i < 4; i++)
		assert_non_null(ts[i]);
	corio_yield(); /* 0, 1, 3 are done; 2 sleeps */
	assert_int_equal(corio_gather(ts, 4, res, 0), 0);
	assert_int_equal(res[0], 10);
	assert_int_equal(res[1], 20);
	assert_int_equal(res[2], 30);
	assert_int_equal(res[3], 40);

	/* All finished already: no wait at all. */
	for (int i = 0; i < 4; i++) {
		ts[i] = corio_spawn(ret_arg, (void *)(intptr_t)i);
		assert_non_null(ts[i]);
	}
	corio_yield();
	assert_int_equal(corio_gather(ts, 4, res, CORIO_GATHER_ALL), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(res[i], i);

	/* A failure that already happened is returned at once, and the
	 * unfinished ones are left running. */
	memset(&slow, 0, sizeof(slow));
	slow.ms = 10;
	slow.ret = 5;
	ts[0] = corio_spawn(job_task, &slow);
	ts[1] = corio_spawn(ret_arg, (void *)-EEXIST);
	assert_non_null(ts[0]);
	assert_non_null(ts[1]);
	corio_yield();
	assert_int_equal(corio_gather(ts, 2, res, 0), -EEXIST);
	assert_int_equal(res[0], -EINPROGRESS);
	assert_int_equal(res[1], -EEXIST);
	assert_int_equal(slow.ended, 0);
	assert_int_equal(corio_sleep_ms(20), 0);
	assert_int_equal(slow.ended, 1);
	return 0;
}

static void test_finished_tasks(void **state)
{
	assert_int_equal(check_run(finished_main, NULL), 0);
}

/* Under ThreadSanitizer every live task is a fiber, one of its thread
 * contexts, of which it has 8128 at most: fewer tasks there. */
#if CHECK_TSAN
#define BIG 2000
#else
#define BIG 10000
#endif

static int big_task(void *arg)
{
	int i = (int)(intptr_t)arg;

	if (i % 3 == 0)
		corio_yield();
	else if (i % 3 == 1 && corio_sleep_ms((uint64_t)(i % 5)) < 0)
		return -1;
	return i;
}

static int big_main(void *arg)
{
	corio_task **ts = malloc(BIG * sizeof(*ts));
	int *res = malloc(BIG * sizeof(*res));

	assert_non_null(ts);
	assert_non_null(res);
	for (int i = 0; i < BIG; i++) {
		ts[i] = corio_spawn(big_task, (void *)(intptr_t)i);
		assert_non_null(ts[i]);
	}
	assert_int_equal(corio_gather(ts, BIG, res, 0), 0);
	for (int i = 0; i < BIG; i++)
		assert_int_equal(res[i], i);
	for (int i = 0; i < BIG; i++) {
		ts[i] = corio_spawn(big_task, (void *)(intptr_t)i);
		assert_non_null(ts[i]);
	}
	assert_int_equal(corio_gather(ts, BIG, NULL, CORIO_GATHER_ALL), 0);
	free(ts);
	free(res);
	return 0;
}

static void test_big_gather(void **state)
{
	assert_int_equal(check_run(big_main, NULL), 0);
}

/* Nested: tasks that gather their own children, gathered by main. */
static int nested_task(void *arg)
{
	int base = (int)(intptr_t)arg;
	corio_task *ts[3];
	int res[3];

	for (int i = 0; i < 3; i++) {
		ts[i] = corio_spawn(ret_arg, (void *)(intptr_t)(base + i));
		if (!ts[i])
			return -ENOMEM;
	}
	int r = corio_gather(ts, 3, res, 0);
	return r < 0 ? r : res[0] + res[1] + res[2];
}

static int nested_main(void *arg)
{
	corio_task *ts[3];
	int res[3];

	for (int i = 0; i < 3; i++) {
		ts[i] = corio_spawn(nested_task, (void *)(intptr_t)(i * 10));
		assert_non_null(ts[i]);
	}
	assert_int_equal(corio_gather(ts, 3, res, 0), 0);
	assert_int_equal(res[0], 3);
	assert_int_equal(res[1], 33);
	assert_int_equal(res[2], 63);
	return 0;
}

static void test_nested_gathers(void **state)
{
	assert_int_equal(check_run(nested_main, NULL), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		CHECK_TEST(test_all_succeed),
		CHECK_TEST(test_first_error_returns_at_once),
		CHECK_TEST(test_first_error_leftovers_cancelled_at_exit),
		CHECK_TEST(test_gather_all),
		CHECK_TEST(test_null_results),
		CHECK_TEST(test_bad_arguments),
		CHECK_TEST(test_task_with_joiner_ebusy),
		CHECK_TEST(test_outside_loop),
		CHECK_TEST(test_finished_tasks),
		CHECK_TEST(test_big_gather),
		CHECK_TEST(test_nested_gathers),
	};

	check_init(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
