/*
 * test_group.c - task groups: all succeed (results in spawn order), fail
 * fast (siblings cancelled at once, wait returns after all ended with the
 * first failure, the ExceptionGroup in the order failures happened),
 * -ECANCELED is no failure, spawning into a failing group, reuse, the
 * empty group, a cancelled or timed-out waiter, nested groups, the handles
 * a group owns, every misuse error, and freeing (running tasks, a waiter,
 * before/after corio_run, NULL).
 */
#include "check.h"

#define SLACK_MS (200 * CHECK_TIME_SCALE)
#define LONG_MS  5000

struct job {
	int          ms;        /* sleep this long */
	int          ret;       /* then return this */
	int          linger_ms; /* after a failed sleep, busy this long (yields) */
	int          swap_cancel; /* return this instead of -ECANCELED when cancelled */
	corio_group *spawn_into;  /* after the sleep, try a spawn into it */
	corio_task  *spawned;
	int          spawn_errno;
	int          started;
	int          ended;
	int          sleep_r;
	uint64_t     woke_ns;   /* the sleep returned */
	uint64_t     ended_ns;
};

static void linger(int ms)
{
	uint64_t t0 = corio_now_ns();

	/* Yields are not blocking calls: a cancelled task can still yield. */
	while (corio_now_ns() - t0 < (uint64_t)ms * 1000000u)
		corio_yield();
}

static int ret_arg(void *arg)
{
	return (int)(intptr_t)arg;
}

static int job_task(void *arg)
{
	struct job *j = arg;
	int r;

	j->started = 1;
	j->sleep_r = corio_sleep_ms((uint64_t)j->ms);
	j->woke_ns = corio_now_ns();
	if (j->spawn_into) {
		errno = 0;
		j->spawned = corio_group_spawn(j->spawn_into, ret_arg, (void *)1);
		j->spawn_errno = errno;
	}
	if (j->sleep_r < 0)
		linger(j->linger_ms);
	r = j->sleep_r < 0 ? j->sleep_r : j->ret;
	if (r == -ECANCELED && j->swap_cancel)
		r = j->swap_cancel;
	j->ended = 1;
	j->ended_ns = corio_now_ns();
	return r;
}

static void spawn_jobs(corio_group *g, corio_task **ts, struct job *jobs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		ts[i] = corio_group_spawn(g, job_task, &jobs[i]);
		assert_non_null(ts[i]);
	}
}

/* ------------------------------------------------------------------------
 * Success, failure, the ExceptionGroup
 * ------------------------------------------------------------------------ */

static int all_ok_main(void *arg)
{
	struct job jobs[5] = {
		{ .ms = 25, .ret = 10 }, { .ms = 5, .ret = 11 }, { .ms = 15, .ret = 12 },
		{ .ms = 1, .ret = 13 },  { .ms = 10, .ret = 0 },
	};
	corio_task *ts[5];
	corio_task_result res[6];
	corio_group *g = corio_group_new();
	uint64_t t0 = corio_now_ns();

	assert_non_null(g);
	spawn_jobs(g, ts, jobs, 5);
	/* Not started yet: every slot says "running". */
	assert_int_equal(corio_group_results(g, res, 5), 5);
	for (int i = 0; i < 5; i++) {
		assert_ptr_equal(res[i].task, ts[i]);
		assert_int_equal(res[i].result, -EINPROGRESS);
	}
	assert_int_equal(corio_group_wait(g), 0);
	assert_between(check_ms_since(t0), 25, 25 + SLACK_MS);
	for (int i = 0; i < 5; i++)
		assert_int_equal(jobs[i].ended, 1);
	/* Spawn order, not completion order; cap larger than the count. */
	memset(res, 0x55, sizeof(res));
	assert_int_equal(corio_group_results(g, res, 6), 5);
	for (int i = 0; i < 5; i++) {
		assert_ptr_equal(res[i].task, ts[i]);
		assert_int_equal(res[i].result, jobs[i].ret);
	}
	assert_int_equal(corio_group_errors(g, NULL, 0), 0);
	assert_int_equal(corio_group_results(g, NULL, 0), 5);
	/* cap smaller than the count: only cap entries are written. */
	memset(res, 0x55, sizeof(res));
	assert_int_equal(corio_group_results(g, res, 2), 5);
	assert_int_equal(res[1].result, 11);
	assert_int_equal(res[2].result, 0x55555555);
	corio_group_free(g);
	return 0;
}

static void test_all_succeed(void **state)
{
	assert_int_equal(check_run(all_ok_main, NULL), 0);
}

static int fail_fast_main(void *arg)
{
	struct job jobs[4] = {
		{ .ms = LONG_MS, .ret = 1, .linger_ms = 30 },
		{ .ms = 5, .ret = -EIO },
		{ .ms = LONG_MS, .ret = 2 },
		{ .ms = LONG_MS, .ret = -ENOENT }, /* would fail, but is cancelled first */
	};
	corio_task *ts[4];
	corio_task_result res[4], errs[4];
	corio_group *g = corio_group_new();
	uint64_t t0 = corio_now_ns(), back;

	assert_non_null(g);
	spawn_jobs(g, ts, jobs, 4);
	assert_int_equal(corio_group_wait(g), -EIO);
	back = corio_now_ns();
	assert_true(check_ms_since(t0) < 5 + SLACK_MS);
	/* Every task ended before wait returned; one lingered 30 ms after its
	 * cancel, so wait waited for it. */
	for (int i = 0; i < 4; i++) {
		assert_int_equal(jobs[i].ended, 1);
		assert_true(jobs[i].ended_ns <= back);
	}
	assert_true((back - jobs[1].ended_ns) / 1000000u >= 30);
	/* The siblings saw -ECANCELED, right after the failure. */
	for (int i = 0; i < 4; i++) {
		if (i == 1)
			continue;
		assert_int_equal(jobs[i].sleep_r, -ECANCELED);
		assert_true(jobs[i].woke_ns >= jobs[1].ended_ns);
		assert_true((jobs[i].woke_ns - jobs[1].ended_ns) / 1000000u < SLACK_MS);
	}
	assert_int_equal(corio_group_results(g, res, 4), 4);
	assert_int_equal(res[0].result, -ECANCELED);
	assert_int_equal(res[1].result, -EIO);
	assert_int_equal(res[2].result, -ECANCELED);
	assert_int_equal(res[3].result, -ECANCELED);
	/* The ExceptionGroup: only the failure, not the cancellations. */
	assert_int_equal(corio_group_errors(g, errs, 4), 1);
	assert_ptr_equal(errs[0].task, ts[1]);
	assert_int_equal(errs[0].result, -EIO);
	/* Waiting again: nothing runs, the same first failure. */
	assert_int_equal(corio_group_wait(g), -EIO);
	corio_group_free(g);
	return 0;
}

static void test_fail_fast(void **state)
{
	assert_int_equal(check_run(fail_fast_main, NULL), 0);
}

/* The failure comes before the siblings ever ran: they still run (their
 * argument may own resources) and their first blocking call fails. */
static int fail_before_start_main(void *arg)
{
	struct job jobs[2] = { { .ms = LONG_MS, .ret = 1 }, { .ms = LONG_MS, .ret = 2 } };
	corio_group *g = corio_group_new();
	corio_task *bad, *ts[2];
	corio_task_result res[3];
	uint64_t t0 = corio_now_ns();

	assert_non_null(g);
	bad = corio_group_spawn(g, ret_arg, (void *)-EIO);
	assert_non_null(bad);
	spawn_jobs(g, ts, jobs, 2);
	assert_int_equal(corio_group_wait(g), -EIO);
	assert_true(check_ms_since(t0) < SLACK_MS);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(jobs[i].started, 1);
		assert_int_equal(jobs[i].sleep_r, -ECANCELED);
	}
	assert_int_equal(corio_group_results(g, res, 3), 3);
	assert_int_equal(res[0].result, -EIO);
	assert_int_equal(res[1].result, -ECANCELED);
	assert_int_equal(res[2].result, -ECANCELED);
	corio_group_free(g);
	return 0;
}

static void test_fail_before_siblings_start(void **state)
{
	assert_int_equal(check_run(fail_before_start_main, NULL), 0);
}

static int two_failures_main(void *arg)
{
	/* Spawn order: the second failure first, so "the order they
	 * happened" and "spawn order" differ. */
	struct job jobs[3] = {
		{ .ms = LONG_MS, .ret = 0, .swap_cancel = -EPIPE, .linger_ms = 5 },
		{ .ms = 5, .ret = -EIO },
		{ .ms = LONG_MS, .ret = 3 },
	};
	corio_task *ts[3];
	corio_task_result errs[3];
	corio_group *g = corio_group_new();

	assert_non_null(g);
	spawn_jobs(g, ts, jobs, 3);
	assert_int_equal(corio_group_wait(g), -EIO);
	memset(errs, 0x55, sizeof(errs));
	assert_int_equal(corio_group_errors(g, errs, 3), 2);
	assert_ptr_equal(errs[0].task, ts[1]);
	assert_int_equal(errs[0].result, -EIO);
	assert_ptr_equal(errs[1].task, ts[0]);
	assert_int_equal(errs[1].result, -EPIPE);
	assert_int_equal(errs[2].result, 0x55555555);
	/* cap 1: the count is still 2, one entry written. */
	memset(errs, 0x55, sizeof(errs));
	assert_int_equal(corio_group_errors(g, errs, 1), 2);
	assert_int_equal(errs[0].result, -EIO);
	assert_int_equal(errs[1].result, 0x55555555);
	assert_int_equal(corio_group_errors(g, NULL, 0), 2);
	assert_int_equal(jobs[2].sleep_r, -ECANCELED);
	corio_group_free(g);
	return 0;
}

static void test_two_failures(void **state)
{
	assert_int_equal(check_run(two_failures_main, NULL), 0);
}

static int cancels_itself(void *arg)
{
	(void)arg;
	return -ECANCELED;
}

static int canceled_not_failure_main(void *arg)
{
	struct job jobs[3] = {
		{ .ms = 20, .ret = 7 },
		{ .ms = LONG_MS, .ret = 8 },
		{ .ms = 30, .ret = 9 },
	};
	corio_task *ts[3], *self_c;
	corio_task_result res[4];
	corio_group *g = corio_group_new();

	assert_non_null(g);
	spawn_jobs(g, ts, jobs, 3);
	/* A task that says -ECANCELED on its own... */
	self_c = corio_group_spawn(g, cancels_itself, NULL);
	assert_non_null(self_c);
	assert_int_equal(corio_sleep_ms(2), 0);
	/* ...and one cancelled from outside: neither aborts the siblings. */
	assert_int_equal(corio_cancel(ts[1]), 0);
	assert_int_equal(corio_group_wait(g), 0);
	assert_int_equal(jobs[0].sleep_r, 0);
	assert_int_equal(jobs[2].sleep_r, 0);
	assert_int_equal(jobs[1].sleep_r, -ECANCELED);
	assert_int_equal(corio_group_results(g, res, 4), 4);
	assert_int_equal(res[0].result, 7);
	assert_int_equal(res[1].result, -ECANCELED);
	assert_int_equal(res[2].result, 9);
	assert_int_equal(res[3].result, -ECANCELED);
	assert_int_equal(corio_group_errors(g, NULL, 0), 0);
	/* Not failing: it can be used again. */
	ts[0] = corio_group_spawn(g, ret_arg, (void *)5);
	assert_non_null(ts[0]);
	assert_int_equal(corio_group_wait(g), 0);
	corio_group_free(g);
	return 0;
}

static void test_canceled_is_not_failure(void **state)
{
	assert_int_equal(check_run(canceled_not_failure_main, NULL), 0);
}

static int group_cancel_main(void *arg)
{
	struct job jobs[3] = {
		{ .ms = LONG_MS, .ret = 1, .linger_ms = 20 },
		{ .ms = LONG_MS, .ret = 2 },
		{ .ms = 1, .ret = 3 },
	};
	corio_task *ts[3];
	corio_task_result res[3];
	corio_group *g = corio_group_new();
	uint64_t t0;

	assert_non_null(g);
	spawn_jobs(g, ts, jobs, 3);
	assert_int_equal(corio_sleep_ms(10), 0);
	assert_int_equal(jobs[2].ended, 1);
	t0 = corio_now_ns();
	assert_int_equal(corio_group_cancel(g), 0);
	/* It does not wait. */
	assert_int_equal(jobs[0].ended, 0);
	/* Cancellations are not failures: wait says 0. */
	assert_int_equal(corio_group_wait(g), 0);
	assert_between(check_ms_since(t0), 20, 20 + SLACK_MS);
	assert_int_equal(corio_group_results(g, res, 3), 3);
	assert_int_equal(res[0].result, -ECANCELED);
	assert_int_equal(res[1].result, -ECANCELED);
	assert_int_equal(res[2].result, 3); /* ended before the cancel */
	assert_int_equal(corio_group_errors(g, NULL, 0), 0);
	/* Cancelling a group whose tasks all ended is harmless. */
	assert_int_equal(corio_group_cancel(g), 0);
	corio_group_free(g);
	return 0;
}

static void test_group_cancel(void **state)
{
	assert_int_equal(check_run(group_cancel_main, NULL), 0);
}

static int spawn_failing_main(void *arg)
{
	corio_group *g = corio_group_new();
	struct job jobs[2] = {
		{ .ms = 5, .ret = -EIO },
		{ .ms = LONG_MS, .ret = 1 },
	};
	corio_task *ts[2], *t;

	assert_non_null(g);
	jobs[1].spawn_into = g; /* tries a spawn once cancelled: the group fails */
	spawn_jobs(g, ts, jobs, 2);
	assert_int_equal(corio_group_wait(g), -EIO);
	assert_null(jobs[1].spawned);
	assert_int_equal(jobs[1].spawn_errno, ECANCELED);
	/* Still failing after the wait. */
	errno = 0;
	t = corio_group_spawn(g, ret_arg, NULL);
	assert_null(t);
	assert_int_equal(errno, ECANCELED);
	errno = 0;
	t = corio_group_spawn_ex(g, ret_arg, NULL, NULL);
	assert_null(t);
	assert_int_equal(errno, ECANCELED);
	assert_int_equal(corio_group_results(g, NULL, 0), 2);
	corio_group_free(g);
	return 0;
}

static void test_spawn_into_failing_group(void **state)
{
	assert_int_equal(check_run(spawn_failing_main, NULL), 0);
}

static int reuse_main(void *arg)
{
	corio_group *g = corio_group_new();
	struct job a[2] = { { .ms = 5, .ret = 1 }, { .ms = 1, .ret = 2 } };
	struct job b[2] = { { .ms = 1, .ret = 3 }, { .ms = 5, .ret = 4 } };
	corio_task *ta[2], *tb[2];
	corio_task_result res[4];

	assert_non_null(g);
	spawn_jobs(g, ta, a, 2);
	assert_int_equal(corio_group_wait(g), 0);
	spawn_jobs(g, tb, b, 2);
	assert_int_equal(corio_group_wait(g), 0);
	assert_int_equal(b[0].ended + b[1].ended, 2);
	/* Every task of its life, in spawn order. */
	assert_int_equal(corio_group_results(g, res, 4), 4);
	assert_ptr_equal(res[0].task, ta[0]);
	assert_ptr_equal(res[1].task, ta[1]);
	assert_ptr_equal(res[2].task, tb[0]);
	assert_ptr_equal(res[3].task, tb[1]);
	for (int i = 0; i < 4; i++)
		assert_int_equal(res[i].result, i + 1);
	/* A third round that fails: reported like any other. */
	a[0] = (struct job){ .ms = 1, .ret = -EEXIST };
	ta[0] = corio_group_spawn(g, job_task, &a[0]);
	assert_non_null(ta[0]);
	assert_int_equal(corio_group_wait(g), -EEXIST);
	assert_int_equal(corio_group_errors(g, res, 4), 1);
	assert_ptr_equal(res[0].task, ta[0]);
	corio_group_free(g);
	return 0;
}

static void test_reuse_after_success(void **state)
{
	assert_int_equal(check_run(reuse_main, NULL), 0);
}

static int empty_main(void *arg)
{
	corio_group *g = corio_group_new();
	uint64_t t0 = corio_now_ns();

	assert_non_null(g);
	assert_int_equal(corio_group_wait(g), 0);
	assert_int_equal(corio_group_wait(g), 0);
	assert_true(check_ms_since(t0) < SLACK_MS);
	assert_int_equal(corio_group_results(g, NULL, 0), 0);
	assert_int_equal(corio_group_errors(g, NULL, 0), 0);
	assert_int_equal(corio_group_cancel(g), 0);
	corio_group_free(g);
	return 0;
}

static void test_wait_empty(void **state)
{
	assert_int_equal(check_run(empty_main, NULL), 0);
}

/* ------------------------------------------------------------------------
 * A waiter that is cancelled, or whose deadline passes
 * ------------------------------------------------------------------------ */

struct waiter {
	struct job  jobs[3];
	corio_group *g;
	int          wait_r;
	uint64_t     returned_ns;
};

static int waiter_task(void *arg)
{
	struct waiter *w = arg;

	w->g = corio_group_new();
	if (!w->g)
		return -ENOMEM;
	for (int i = 0; i < 3; i++)
		if (!corio_group_spawn(w->g, job_task, &w->jobs[i]))
			return -errno;
	w->wait_r = corio_group_wait(w->g);
	w->returned_ns = corio_now_ns();
	return w->wait_r;
}

static int cancel_waiter_main(void *arg)
{
	struct waiter w;
	corio_task *t;
	corio_task_result res[3];

	memset(&w, 0, sizeof(w));
	w.jobs[0] = (struct job){ .ms = LONG_MS, .ret = 1, .linger_ms = 25 };
	w.jobs[1] = (struct job){ .ms = LONG_MS, .ret = 2 };
	w.jobs[2] = (struct job){ .ms = LONG_MS, .ret = 3, .linger_ms = 10 };
	t = corio_spawn(waiter_task, &w);
	assert_non_null(t);
	assert_int_equal(corio_sleep_ms(5), 0);
	assert_int_equal(w.jobs[0].started, 1);
	assert_int_equal(corio_cancel(t), 0);
	assert_int_equal(corio_join(t), -ECANCELED);
	assert_int_equal(w.wait_r, -ECANCELED);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(w.jobs[i].ended, 1);
		assert_int_equal(w.jobs[i].sleep_r, -ECANCELED);
		assert_true(w.jobs[i].ended_ns <= w.returned_ns);
	}
	assert_int_equal(corio_group_results(w.g, res, 3), 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(res[i].result, -ECANCELED);
	assert_int_equal(corio_group_errors(w.g, NULL, 0), 0);
	corio_group_free(w.g);
	return 0;
}

static void test_cancel_waiter_cancels_group(void **state)
{
	assert_int_equal(check_run(cancel_waiter_main, NULL), 0);
}

/* The waiter is cancelled after one task failed: wait returns that
 * failure (the group's first failure wins over -ECANCELED). A task that
 * converts its cancellation into an error keeps the failure visible. */
static int cancel_waiter_after_fail_main(void *arg)
{
	struct waiter w;
	corio_task *t;

	memset(&w, 0, sizeof(w));
	/* jobs[0] is shielded from nothing: it just fails when cancelled. */
	w.jobs[0] = (struct job){ .ms = LONG_MS, .ret = 1, .swap_cancel = -EPIPE };
	w.jobs[1] = (struct job){ .ms = LONG_MS, .ret = 2 };
	w.jobs[2] = (struct job){ .ms = LONG_MS, .ret = 3 };
	t = corio_spawn(waiter_task, &w);
	assert_non_null(t);
	assert_int_equal(corio_sleep_ms(5), 0);
	assert_int_equal(corio_cancel(t), 0);
	/* The waiter's cancel cancels jobs[0], which fails with -EPIPE: that
	 * is the group's first failure, and what wait returns. */
	assert_int_equal(corio_join(t), -EPIPE);
	assert_int_equal(w.wait_r, -EPIPE);
	assert_int_equal(corio_group_errors(w.g, NULL, 0), 1);
	corio_group_free(w.g);
	return 0;
}

static void test_cancel_waiter_then_failure(void **state)
{
	assert_int_equal(check_run(cancel_waiter_after_fail_main, NULL), 0);
}

static int deadline_wait_main(void *arg)
{
	struct job jobs[3] = {
		{ .ms = LONG_MS, .ret = 1, .linger_ms = 20 },
		{ .ms = LONG_MS, .ret = 2 },
		{ .ms = 5, .ret = 3 },
	};
	corio_task *ts[3];
	corio_task_result res[3];
	corio_group *g = corio_group_new();
	uint64_t t0 = corio_now_ns(), back;

	assert_non_null(g);
	spawn_jobs(g, ts, jobs, 3);
	assert_int_equal(corio_deadline_push(30), 0);
	assert_int_equal(corio_group_wait(g), -ETIMEDOUT);
	back = corio_now_ns();
	assert_int_equal(corio_deadline_pop(), -ETIMEDOUT);
	/* 30 ms, then the 20 ms linger of a cancelled task. */
	assert_between(check_ms_since(t0), 50, 50 + SLACK_MS);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(jobs[i].ended, 1);
		assert_true(jobs[i].ended_ns <= back);
	}
	/* The tasks were cancelled (not timed out themselves). */
	assert_int_equal(jobs[0].sleep_r, -ECANCELED);
	assert_int_equal(jobs[1].sleep_r, -ECANCELED);
	assert_int_equal(jobs[2].sleep_r, 0);
	assert_int_equal(corio_group_results(g, res, 3), 3);
	assert_int_equal(res[0].result, -ECANCELED);
	assert_int_equal(res[1].result, -ECANCELED);
	assert_int_equal(res[2].result, 3);
	assert_int_equal(corio_group_errors(g, NULL, 0), 0);
	corio_group_free(g);
	return 0;
}

static void test_deadline_around_wait(void **state)
{
	assert_int_equal(check_run(deadline_wait_main, NULL), 0);
}

/* A shielded task of a failing group: fail fast cancels it, but its
 * shielded sleep runs to its end, and wait waits for it. */
static int shielded_member(void *arg)
{
	struct job *j = arg;
	int r;

	j->started = 1;
	if (corio_shield_push() < 0)
		return -ENOMEM;
	j->sleep_r = corio_sleep_ms((uint64_t)j->ms);
	r = corio_shield_pop();
	j->ended = 1;
	j->ended_ns = corio_now_ns();
	return r;
}

static int shield_member_main(void *arg)
{
	struct job sh = { .ms = 40 };
	struct job bad = { .ms = 2, .ret = -EIO };
	corio_group *g = corio_group_new();
	corio_task_result res[2];
	uint64_t t0 = corio_now_ns();

	assert_non_null(g);
	assert_non_null(corio_group_spawn(g, shielded_member, &sh));
	assert_non_null(corio_group_spawn(g, job_task, &bad));
	assert_int_equal(corio_group_wait(g), -EIO);
	assert_true(check_ms_since(t0) >= 40);
	assert_int_equal(sh.sleep_r, 0);
	assert_int_equal(corio_group_results(g, res, 2), 2);
	assert_int_equal(res[0].result, -ECANCELED); /* shield_pop says so */
	assert_int_equal(res[1].result, -EIO);
	corio_group_free(g);
	return 0;
}

static void test_fail_fast_waits_for_shield(void **state)
{
	assert_int_equal(check_run(shield_member_main, NULL), 0);
}

/* ------------------------------------------------------------------------
 * Nested groups
 * ------------------------------------------------------------------------ */

struct inner {
	struct job   jobs[2];
	corio_group *g;
	int          wait_r;
	int          started;
	uint64_t     returned_ns;
};

static int inner_owner(void *arg)
{
	struct inner *in = arg;

	in->started = 1;
	in->g = corio_group_new();
	if (!in->g)
		return -ENOMEM;
	for (int i = 0; i < 2; i++)
		if (!corio_group_spawn(in->g, job_task, &in->jobs[i]))
			return -errno;
	in->wait_r = corio_group_wait(in->g);
	in->returned_ns = corio_now_ns();
	return in->wait_r; /* the inner group's failure, if any, goes up */
}

static int nested_outer_fails_main(void *arg)
{
	struct inner in;
	struct job bad = { .ms = 10, .ret = -EIO };
	corio_group *outer = corio_group_new();
	corio_task *to, *tb;
	corio_task_result res[2], errs[2];

	memset(&in, 0, sizeof(in));
	in.jobs[0] = (struct job){ .ms = LONG_MS, .ret = 1, .linger_ms = 15 };
	in.jobs[1] = (struct job){ .ms = LONG_MS, .ret = 2 };
	assert_non_null(outer);
	to = corio_group_spawn(outer, inner_owner, &in);
	tb = corio_group_spawn(outer, job_task, &bad);
	assert_non_null(to);
	assert_non_null(tb);
	assert_int_equal(corio_group_wait(outer), -EIO);
	/* The outer fail fast cancelled the inner waiter, which cancelled
	 * the inner tasks and waited for them. */
	assert_int_equal(in.wait_r, -ECANCELED);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(in.jobs[i].ended, 1);
		assert_int_equal(in.jobs[i].sleep_r, -ECANCELED);
		assert_true(in.jobs[i].ended_ns <= in.returned_ns);
	}
	assert_int_equal(corio_group_results(outer, res, 2), 2);
	assert_int_equal(res[0].result, -ECANCELED);
	assert_int_equal(res[1].result, -EIO);
	assert_int_equal(corio_group_errors(outer, errs, 2), 1);
	assert_ptr_equal(errs[0].task, tb);
	assert_int_equal(corio_group_errors(in.g, NULL, 0), 0);
	corio_group_free(in.g);
	corio_group_free(outer);
	return 0;
}

static void test_nested_outer_failure_cancels_inner(void **state)
{
	assert_int_equal(check_run(nested_outer_fails_main, NULL), 0);
}

static int nested_outer_cancel_main(void *arg)
{
	struct inner in;
	struct job sib = { .ms = LONG_MS, .ret = 3 };
	corio_group *outer = corio_group_new();

	memset(&in, 0, sizeof(in));
	in.jobs[0] = (struct job){ .ms = LONG_MS, .ret = 1 };
	in.jobs[1] = (struct job){ .ms = LONG_MS, .ret = 2, .linger_ms = 10 };
	assert_non_null(outer);
	assert_non_null(corio_group_spawn(outer, inner_owner, &in));
	assert_non_null(corio_group_spawn(outer, job_task, &sib));
	assert_int_equal(corio_sleep_ms(5), 0);
	assert_int_equal(in.jobs[0].started + in.jobs[1].started, 2);
	assert_int_equal(corio_group_cancel(outer), 0);
	assert_int_equal(corio_group_wait(outer), 0); /* cancellations only */
	assert_int_equal(in.wait_r, -ECANCELED);
	assert_int_equal(in.jobs[0].sleep_r, -ECANCELED);
	assert_int_equal(in.jobs[1].sleep_r, -ECANCELED);
	assert_int_equal(in.jobs[1].ended, 1);
	assert_int_equal(sib.sleep_r, -ECANCELED);
	corio_group_free(in.g);
	corio_group_free(outer);
	return 0;
}

static void test_nested_outer_cancel_reaches_inner(void **state)
{
	assert_int_equal(check_run(nested_outer_cancel_main, NULL), 0);
}

static int nested_inner_fails_main(void *arg)
{
	struct inner in;
	struct job sib = { .ms = LONG_MS, .ret = 3 };
	corio_group *outer = corio_group_new();
	corio_task *to;
	corio_task_result errs[2];

	memset(&in, 0, sizeof(in));
	in.jobs[0] = (struct job){ .ms = LONG_MS, .ret = 1 };
	in.jobs[1] = (struct job){ .ms = 5, .ret = -ENOSPC };
	assert_non_null(outer);
	to = corio_group_spawn(outer, inner_owner, &in);
	assert_non_null(to);
	assert_non_null(corio_group_spawn(outer, job_task, &sib));
	assert_int_equal(corio_group_wait(outer), -ENOSPC);
	/* Inner fail fast, then the inner waiter's error failed the outer. */
	assert_int_equal(in.wait_r, -ENOSPC);
	assert_int_equal(in.jobs[0].sleep_r, -ECANCELED);
	assert_int_equal(sib.sleep_r, -ECANCELED);
	assert_int_equal(corio_group_errors(outer, errs, 2), 1);
	assert_ptr_equal(errs[0].task, to);
	assert_int_equal(errs[0].result, -ENOSPC);
	assert_int_equal(corio_group_errors(in.g, errs, 2), 1);
	assert_int_equal(errs[0].result, -ENOSPC);
	corio_group_free(in.g);
	corio_group_free(outer);
	return 0;
}

static void test_nested_inner_failure_propagates(void **state)
{
	assert_int_equal(check_run(nested_inner_fails_main, NULL), 0);
}

/* ------------------------------------------------------------------------
 * The handles a group owns
 * ------------------------------------------------------------------------ */

static int handles_main(void *arg)
{
	struct job j = { .ms = 20, .ret = 5 };
	corio_spawn_attr attr = { .name = "worker-a" };
	corio_group *g = corio_group_new();
	corio_task *t, *named, *spare;
	corio_task_result res[2];
	char name[32];

	assert_non_null(g);
	t = corio_group_spawn(g, job_task, &j);
	named = corio_group_spawn_ex(g, ret_arg, (void *)6, &attr);
	assert_non_null(t);
	assert_non_null(named);
	assert_string_equal(corio_task_name(named), "worker-a");
	snprintf(name, sizeof(name), "task-%llu", (unsigned long long)corio_task_id(t));
	assert_string_equal(corio_task_name(t), name);
	assert_true(corio_task_id(t) > 0);

	/* The group owns them: no join, wait_for, detach. */
	assert_int_equal(corio_join(t), -EBUSY);
	assert_int_equal(corio_wait_for(t, 10), -EBUSY);
	corio_detach(t); /* void: refused, the task stays the group's */
	assert_int_equal(corio_join(named), -EBUSY);
	assert_int_equal(corio_task_set_name(t, "renamed"), 0);

	assert_int_equal(corio_group_wait(g), 0);
	/* Ended, but still owned and readable until corio_group_free. */
	assert_string_equal(corio_task_name(t), "renamed");
	assert_string_equal(corio_task_name(named), "worker-a");
	assert_int_equal(corio_join(t), -EBUSY);
	corio_detach(named);
	assert_int_equal(corio_cancel(t), 0); /* ended: harmless */
	/* A plain spawn reuses no struct the group still holds. */
	spare = corio_spawn(ret_arg, (void *)9);
	assert_non_null(spare);
	assert_ptr_not_equal(spare, t);
	assert_ptr_not_equal(spare, named);
	assert_int_equal(corio_join(spare), 9);
	assert_int_equal(corio_group_results(g, res, 2), 2);
	assert_ptr_equal(res[0].task, t);
	assert_int_equal(res[0].result, 5);
	assert_ptr_equal(res[1].task, named);
	assert_int_equal(res[1].result, 6);
	assert_string_equal(corio_task_name(res[1].task), "worker-a");
	corio_group_free(g);
	return 0;
}

static void test_group_task_handles(void **state)
{
	assert_int_equal(check_run(handles_main, NULL), 0);
}

/* Gathering a group's task must be refused with -EBUSY, consuming
 * nothing. Run in a child: if gather took the handle, the group would be
 * left waiting for a task it no longer hears from. */
static int gather_group_task_main(void *arg)
{
	struct job j = { .ms = 10, .ret = 5 };
	corio_group *g = corio_group_new();
	corio_task *ts[2];
	corio_task_result res[1];
	int r;

	if (!g)
		return 10;
	ts[0] = corio_group_spawn(g, job_task, &j);
	if (!ts[0])
		return 11;
	r = corio_gather(ts, 1, NULL, 0);
	if (r != -EBUSY) {
		printf("corio_gather on a group task returned %d, expected -EBUSY\n", r);
		fflush(stdout);
		return 12;
	}
	/* With another, plain task: nothing of either consumed. */
	ts[1] = corio_spawn(ret_arg, (void *)4);
	if (!ts[1])
		return 13;
	r = corio_gather(ts, 2, NULL, CORIO_GATHER_ALL);
	if (r != -EBUSY) {
		printf("corio_gather on [group task, task] returned %d\n", r);
		return 14;
	}
	if (corio_join(ts[1]) != 4)
		return 15;
	r = corio_group_wait(g);
	if (r != 0) {
		printf("corio_group_wait returned %d\n", r);
		return 16;
	}
	if (corio_group_results(g, res, 1) != 1 || res[0].result != 5)
		return 17;
	corio_group_free(g);
	return 0;
}

static int gather_group_task_child(void *arg)
{
	int r = corio_run(gather_group_task_main, arg);

	if (r < 0) {
		printf("corio_run returned %d\n", r);
		return 20;
	}
	return r;
}

static void test_gather_group_task_ebusy(void **state)
{
	check_child c;
	char buf[64];

	check_fork_timeout(gather_group_task_child, NULL, &c, 10);
	if (!WIFEXITED(c.status) || WEXITSTATUS(c.status) != 0)
		fail_msg("child: %s; output:\n%s", check_status_str(c.status, buf, sizeof(buf)),
			 c.out);
}

/* ------------------------------------------------------------------------
 * Misuse
 * ------------------------------------------------------------------------ */

static int null_group_main(void *arg)
{
	corio_group *g = corio_group_new();
	corio_task_result res[1];

	assert_non_null(g);
	errno = 0;
	assert_null(corio_group_spawn(NULL, ret_arg, NULL));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(corio_group_spawn_ex(NULL, ret_arg, NULL, NULL));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(corio_group_spawn(g, NULL, NULL));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(corio_group_spawn_ex(g, NULL, NULL, NULL));
	assert_int_equal(errno, EINVAL);
	{
		/* Refused by the spawn itself: the group gains no entry. */
		corio_spawn_attr huge = { .stack_size = (size_t)2 << 30 };
		errno = 0;
		assert_null(corio_group_spawn_ex(g, ret_arg, NULL, &huge));
		assert_int_equal(errno, EINVAL);
	}
	assert_int_equal(corio_group_wait(NULL), -EINVAL);
	assert_int_equal(corio_group_cancel(NULL), -EINVAL);
	assert_int_equal(corio_group_results(NULL, res, 1), 0);
	assert_int_equal(corio_group_errors(NULL, res, 1), 0);
	/* Nothing was added by the refused spawns. */
	assert_int_equal(corio_group_results(g, NULL, 0), 0);
	assert_int_equal(corio_group_wait(g), 0);
	errno = 0;
	corio_group_free(NULL); /* a no-op */
	assert_int_equal(errno, 0);
	corio_group_free(g);
	return 0;
}

static void test_null_group(void **state)
{
	assert_int_equal(check_run(null_group_main, NULL), 0);
}

struct selfwait {
	corio_group *g;
	int          r;
};

static int waits_own_group(void *arg)
{
	struct selfwait *s = arg;

	s->r = corio_group_wait(s->g);
	return 0;
}

static int edeadlk_main(void *arg)
{
	struct selfwait s = { 0 };
	corio_task *t;

	s.g = corio_group_new();
	assert_non_null(s.g);
	s.r = 1;
	t = corio_group_spawn(s.g, waits_own_group, &s);
	assert_non_null(t);
	/* Nobody else waits on the group yet when the task tries. */
	assert_int_equal(corio_sleep_ms(2), 0);
	assert_int_equal(s.r, -EDEADLK);
	assert_int_equal(corio_group_wait(s.g), 0);
	corio_group_free(s.g);
	return 0;
}

static void test_wait_from_own_task_edeadlk(void **state)
{
	assert_int_equal(check_run(edeadlk_main, NULL), 0);
}

/* The usual shape of the mistake: the owner already waits on the group
 * when one of its tasks waits on it too. The caller is a task of g, so
 * -EDEADLK (as corio_join checks "the caller itself" before "another
 * waiter"), not -EBUSY. */
static int waits_own_group_later(void *arg)
{
	struct selfwait *s = arg;

	if (corio_sleep_ms(2) < 0)
		return -EINTR;
	s->r = corio_group_wait(s->g);
	return 0;
}

static int edeadlk_owner_waits_main(void *arg)
{
	struct selfwait s = { 0 };

	s.g = corio_group_new();
	assert_non_null(s.g);
	s.r = 1;
	assert_non_null(corio_group_spawn(s.g, waits_own_group_later, &s));
	assert_int_equal(corio_group_wait(s.g), 0);
	corio_group_free(s.g);
	return s.r;
}

static void test_wait_from_own_task_while_owner_waits(void **state)
{
	assert_int_equal(check_run(edeadlk_owner_waits_main, NULL), -EDEADLK);
}

struct second {
	corio_group *g;
	int          r;
	int          done;
};

static int plain_waiter(void *arg)
{
	struct second *s = arg;

	s->r = corio_group_wait(s->g);
	s->done = 1;
	return s->r;
}

static int ebusy_main(void *arg)
{
	struct second s = { 0 };
	struct job j = { .ms = 30, .ret = 1 };
	corio_task *w;
	uint64_t t0;

	s.g = corio_group_new();
	assert_non_null(s.g);
	assert_non_null(corio_group_spawn(s.g, job_task, &j));
	w = corio_spawn(plain_waiter, &s);
	assert_non_null(w);
	assert_int_equal(corio_sleep_ms(2), 0); /* w now waits on the group */
	t0 = corio_now_ns();
	assert_int_equal(corio_group_wait(s.g), -EBUSY);
	assert_true(check_ms_since(t0) < SLACK_MS); /* refused at once */
	assert_int_equal(s.done, 0);
	assert_int_equal(corio_join(w), 0);
	assert_int_equal(s.r, 0);
	/* The first waiter is gone: waiting works again. */
	assert_int_equal(corio_group_wait(s.g), 0);
	corio_group_free(s.g);
	return 0;
}

static void test_second_waiter_ebusy(void **state)
{
	assert_int_equal(check_run(ebusy_main, NULL), 0);
}

static void test_outside_loop(void **state)
{
	corio_group *g = corio_group_new();

	assert_non_null(g);
	assert_int_equal(corio_group_wait(g), -EPERM);
	errno = 0;
	assert_null(corio_group_spawn(g, ret_arg, NULL));
	assert_int_equal(errno, EPERM);
	errno = 0;
	assert_null(corio_group_spawn_ex(g, ret_arg, NULL, NULL));
	assert_int_equal(errno, EPERM);
	assert_int_equal(corio_group_cancel(g), -EPERM);
	assert_int_equal(corio_group_results(g, NULL, 0), 0);
	assert_int_equal(corio_group_errors(g, NULL, 0), 0);
	corio_group_free(g);
	errno = 0;
	corio_group_free(NULL);
	assert_int_equal(errno, 0);
}

/* ------------------------------------------------------------------------
 * Freeing
 * ------------------------------------------------------------------------ */

static int free_running_main(void *arg)
{
	struct job *jobs = arg;
	corio_group *g = corio_group_new();
	corio_task *ts[3];

	assert_non_null(g);
	spawn_jobs(g, ts, jobs, 3);
	assert_int_equal(corio_sleep_ms(5), 0);
	assert_int_equal(jobs[2].ended, 1);
	corio_group_free(g); /* two still run: cancelled, detached */
	assert_int_equal(jobs[0].ended + jobs[1].ended, 0);
	assert_int_equal(corio_sleep_ms(40), 0);
	assert_int_equal(jobs[0].ended, 1);
	assert_int_equal(jobs[1].ended, 1);
	assert_int_equal(jobs[0].sleep_r, -ECANCELED);
	assert_int_equal(jobs[1].sleep_r, -ECANCELED);
	return 0;
}

static void test_free_with_running_tasks(void **state)
{
	struct job jobs[3] = {
		{ .ms = LONG_MS, .ret = 1, .linger_ms = 10 },
		{ .ms = LONG_MS, .ret = 2 },
		{ .ms = 1, .ret = 3 },
	};
	char out[4096];
	uint64_t t0 = corio_now_ns();

	check_capture_begin();
	int r = check_run(free_running_main, jobs);
	check_capture_end(out, sizeof(out));
	assert_int_equal(r, 0);
	assert_true(check_ms_since(t0) < LONG_MS);
	/* -ECANCELED is no failure to report. */
	assert_not_contains(out, "was never joined");
}

/* Freed while tasks run, then main returns at once: the loop's shutdown
 * lets them end. */
static int free_then_return_main(void *arg)
{
	struct job *jobs = arg;
	corio_group *g = corio_group_new();
	corio_task *ts[2];

	assert_non_null(g);
	spawn_jobs(g, ts, jobs, 2);
	corio_yield();
	corio_group_free(g);
	return 0;
}

static void test_free_then_main_returns(void **state)
{
	struct job jobs[2] = {
		{ .ms = LONG_MS, .ret = 1, .linger_ms = 10 },
		{ .ms = LONG_MS, .ret = 2 },
	};
	uint64_t t0 = corio_now_ns();

	assert_int_equal(check_run(free_then_return_main, jobs), 0);
	assert_true(check_ms_since(t0) < SLACK_MS);
	assert_int_equal(jobs[0].ended + jobs[1].ended, 2);
	assert_int_equal(jobs[0].sleep_r, -ECANCELED);
}

/* A task of a freed group that fails on its own is reported like a
 * detached task. */
static void test_free_then_failure_reported(void **state)
{
	struct job jobs[2] = {
		{ .ms = LONG_MS, .ret = 1, .swap_cancel = -EPIPE },
		{ .ms = LONG_MS, .ret = 2 },
	};
	char out[4096];

	check_capture_begin();
	int r = check_run(free_then_return_main, jobs);
	check_capture_end(out, sizeof(out));
	assert_int_equal(r, 0);
	assert_contains(out, "EPIPE");
	assert_contains(out, "was never joined");
}

static int free_while_waited_main(void *arg)
{
	struct second s = { 0 };
	struct job j = { .ms = 20, .ret = 4 };
	corio_task *w;
	corio_task_result res[1];
	char out[1024];

	s.g = corio_group_new();
	assert_non_null(s.g);
	assert_non_null(corio_group_spawn(s.g, job_task, &j));
	w = corio_spawn(plain_waiter, &s);
	assert_non_null(w);
	assert_int_equal(corio_sleep_ms(2), 0);
	errno = 0;
	check_capture_begin();
	corio_group_free(s.g); /* refused: w waits on it */
	int e = errno;
	check_capture_end(out, sizeof(out));
	assert_int_equal(e, EBUSY);
	/* Still a live group. */
	assert_int_equal(corio_group_results(s.g, res, 1), 1);
	assert_int_equal(res[0].result, -EINPROGRESS);
	assert_int_equal(corio_join(w), 0);
	assert_int_equal(s.r, 0);
	assert_int_equal(j.sleep_r, 0); /* not cancelled by the refused free */
	assert_int_equal(corio_group_results(s.g, res, 1), 1);
	assert_int_equal(res[0].result, 4);
	corio_group_free(s.g);
	return 0;
}

static void test_free_while_waited_ebusy(void **state)
{
	assert_int_equal(check_run(free_while_waited_main, NULL), 0);
}

static int before_run_main(void *arg)
{
	corio_group *g = arg;
	struct job jobs[2] = { { .ms = 2, .ret = 1 }, { .ms = 1, .ret = 2 } };
	corio_task *ts[2];

	spawn_jobs(g, ts, jobs, 2);
	return corio_group_wait(g);
}

static void test_made_before_run_freed_after(void **state)
{
	corio_group *g = corio_group_new();
	corio_task_result res[2];

	assert_non_null(g);
	assert_int_equal(check_run(before_run_main, g), 0);
	/* The results outlive the loop. */
	assert_int_equal(corio_group_results(g, res, 2), 2);
	assert_int_equal(res[0].result, 1);
	assert_int_equal(res[1].result, 2);
	assert_int_equal(corio_group_errors(g, NULL, 0), 0);
	corio_group_free(g);
}

/* Debug mode reports what is left at loop close. The tasks of a group
 * that outlives the loop are the group's, not handles the program failed
 * to consume (it may not join or detach them): no "never joined or
 * detached" line for them. */
static void test_made_before_run_debug_report(void **state)
{
	corio_config cfg = { .flags = CORIO_CFG_DEBUG };
	corio_group *g = corio_group_new();
	char out[4096];

	assert_non_null(g);
	check_capture_begin();
	int r = check_run_config(&cfg, before_run_main, g);
	check_capture_end(out, sizeof(out));
	assert_int_equal(r, 0);
	corio_group_free(g);
	assert_not_contains(out, "never joined or detached");
}

/* Main returns without waiting: the shutdown cancels the group's tasks;
 * the group is freed after corio_run. */
static int never_waited_main(void *arg)
{
	corio_group *g = arg;
	static struct job jobs[2];
	corio_task *ts[2];

	jobs[0] = (struct job){ .ms = LONG_MS, .ret = 1, .linger_ms = 5 };
	jobs[1] = (struct job){ .ms = 1, .ret = 2 };
	spawn_jobs(g, ts, jobs, 2);
	assert_int_equal(corio_sleep_ms(5), 0);
	return 0;
}

static void test_never_waited_freed_after_run(void **state)
{
	corio_group *g = corio_group_new();
	corio_task_result res[2];
	uint64_t t0 = corio_now_ns();
	char out[4096];

	assert_non_null(g);
	check_capture_begin();
	int r = check_run(never_waited_main, g);
	check_capture_end(out, sizeof(out));
	assert_int_equal(r, 0);
	assert_true(check_ms_since(t0) < SLACK_MS);
	assert_int_equal(corio_group_results(g, res, 2), 2);
	assert_int_equal(res[0].result, -ECANCELED);
	assert_int_equal(res[1].result, 2);
	assert_not_contains(out, "was never joined");
	corio_group_free(g);
}

/* Many groups and tasks, made and freed in a loop: nothing accumulates. */
static int churn_main(void *arg)
{
	for (int round = 0; round < 50; round++) {
		corio_group *g = corio_group_new();
		assert_non_null(g);
		for (int i = 0; i < 20; i++)
			assert_non_null(corio_group_spawn(g, ret_arg, (void *)(intptr_t)i));
		if (round % 2)
			assert_int_equal(corio_group_wait(g), 0);
		corio_group_free(g); /* even rounds: the tasks have not run yet */
	}
	return 0;
}

static void test_churn(void **state)
{
	assert_int_equal(check_run(churn_main, NULL), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		CHECK_TEST(test_all_succeed),
		CHECK_TEST(test_fail_fast),
		CHECK_TEST(test_fail_before_siblings_start),
		CHECK_TEST(test_two_failures),
		CHECK_TEST(test_canceled_is_not_failure),
		CHECK_TEST(test_group_cancel),
		CHECK_TEST(test_spawn_into_failing_group),
		CHECK_TEST(test_reuse_after_success),
		CHECK_TEST(test_wait_empty),
		CHECK_TEST(test_cancel_waiter_cancels_group),
		CHECK_TEST(test_cancel_waiter_then_failure),
		CHECK_TEST(test_deadline_around_wait),
		CHECK_TEST(test_fail_fast_waits_for_shield),
		CHECK_TEST(test_nested_outer_failure_cancels_inner),
		CHECK_TEST(test_nested_outer_cancel_reaches_inner),
		CHECK_TEST(test_nested_inner_failure_propagates),
		CHECK_TEST(test_group_task_handles),
		CHECK_TEST(test_gather_group_task_ebusy),
		CHECK_TEST(test_null_group),
		CHECK_TEST(test_wait_from_own_task_edeadlk),
		CHECK_TEST(test_wait_from_own_task_while_owner_waits),
		CHECK_TEST(test_second_waiter_ebusy),
		CHECK_TEST(test_outside_loop),
		CHECK_TEST(test_free_with_running_tasks),
		CHECK_TEST(test_free_then_main_returns),
		CHECK_TEST(test_free_then_failure_reported),
		CHECK_TEST(test_free_while_waited_ebusy),
		CHECK_TEST(test_made_before_run_freed_after),
		CHECK_TEST(test_made_before_run_debug_report),
		CHECK_TEST(test_never_waited_freed_after_run),
		CHECK_TEST(test_churn),
	};

	check_init(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
