/*
 * test_timeout.c - corio_wait_for (in time, timeout with cancel and drain,
 * a cancelled caller, finished tasks, ms = 0, the join errors), deadline
 * scopes (expiry, stickiness inside the scope, pop results, nesting, inside
 * groups, around join and gather, misuse, scopes left pushed) and shield
 * scopes (deferred cancel, pop results, deadlines inside and outside a
 * shield, cleanup after a cancel, corio_run's shutdown).
 */
#include "check.h"

#define SLACK_MS (200 * CHECK_TIME_SCALE)
#define LONG_MS  5000

struct job {
	int      ms;        /* sleep this long */
	int      ret;       /* then return this */
	int      linger_ms; /* after a failed sleep, busy this long (yields) */
	int      started;
	int      ended;
	int      sleep_r;
	uint64_t ended_ns;
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

	j->started = 1;
	j->sleep_r = corio_sleep_ms((uint64_t)j->ms);
	if (j->sleep_r < 0)
		linger(j->linger_ms);
	j->ended = 1;
	j->ended_ns = corio_now_ns();
	return j->sleep_r < 0 ? j->sleep_r : j->ret;
}

/* ------------------------------------------------------------------------
 * corio_wait_for
 * ------------------------------------------------------------------------ */

static int wait_for_in_time_main(void *arg)
{
	struct job j = { .ms = 10, .ret = 42 };
	corio_task *t = corio_spawn(job_task, &j);
	uint64_t t0 = corio_now_ns();

	assert_non_null(t);
	assert_int_equal(corio_wait_for(t, 1000), 42);
	assert_between(check_ms_since(t0), 10, 10 + SLACK_MS);
	assert_int_equal(j.sleep_r, 0);
	/* Consumed. */
	assert_int_equal(corio_join(t), -EINVAL);

	/* An error result comes back as is. */
	memset(&j, 0, sizeof(j));
	j.ms = 2;
	j.ret = -EIO;
	t = corio_spawn(job_task, &j);
	assert_non_null(t);
	assert_int_equal(corio_wait_for(t, 1000), -EIO);
	assert_int_equal(corio_join(t), -EINVAL);
	return 0;
}

static void test_wait_for_in_time(void **state)
{
	char out[2048];

	check_capture_begin();
	int r = check_run(wait_for_in_time_main, NULL);
	check_capture_end(out, sizeof(out));
	assert_int_equal(r, 0);
	/* wait_for observed the -EIO: nothing to report. */
	assert_not_contains(out, "was never joined");
}

static int wait_for_timeout_main(void *arg)
{
	struct job j = { .ms = LONG_MS, .ret = 1, .linger_ms = 20 };
	corio_task *t = corio_spawn(job_task, &j);
	uint64_t t0 = corio_now_ns(), back;

	assert_non_null(t);
	assert_int_equal(corio_wait_for(t, 30), -ETIMEDOUT);
	back = corio_now_ns();
	/* 30 ms, then the task's 20 ms of cleanup after its cancel. */
	assert_between(check_ms_since(t0), 50, 50 + SLACK_MS);
	assert_int_equal(j.ended, 1);
	assert_int_equal(j.sleep_r, -ECANCELED); /* the task saw a cancel */
	assert_true(j.ended_ns <= back);
	assert_int_equal(corio_join(t), -EINVAL); /* consumed */
	/* The caller itself is not cancelled. */
	assert_int_equal(corio_sleep_ms(1), 0);
	return 0;
}

static void test_wait_for_timeout(void **state)
{
	assert_int_equal(check_run(wait_for_timeout_main, NULL), 0);
}

/* A task that ignores the cancel and returns a value: still -ETIMEDOUT. */
static int ignores_cancel(void *arg)
{
	int *r = arg;

	*r = corio_sleep_ms(LONG_MS);
	return 99;
}

static int wait_for_ignored_main(void *arg)
{
	int sr = 1;
	corio_task *t = corio_spawn(ignores_cancel, &sr);

	assert_non_null(t);
	assert_int_equal(corio_wait_for(t, 10), -ETIMEDOUT);
	assert_int_equal(sr, -ECANCELED);
	return 0;
}

static void test_wait_for_timeout_task_returns_value(void **state)
{
	assert_int_equal(check_run(wait_for_ignored_main, NULL), 0);
}

struct wf_caller {
	struct job target;
	int        r;
	uint64_t   returned_ns;
};

static int wf_caller_task(void *arg)
{
	struct wf_caller *c = arg;
	corio_task *t = corio_spawn(job_task, &c->target);

	if (!t)
		return -errno;
	c->r = corio_wait_for(t, LONG_MS);
	c->returned_ns = corio_now_ns();
	return c->r;
}

static int wait_for_caller_cancelled_main(void *arg)
{
	struct wf_caller c;
	corio_task *w;
	uint64_t t0 = corio_now_ns();

	memset(&c, 0, sizeof(c));
	c.target = (struct job){ .ms = LONG_MS, .ret = 1, .linger_ms = 20 };
	w = corio_spawn(wf_caller_task, &c);
	assert_non_null(w);
	assert_int_equal(corio_sleep_ms(5), 0);
	assert_int_equal(c.target.started, 1);
	assert_int_equal(corio_cancel(w), 0);
	assert_int_equal(corio_join(w), -ECANCELED);
	assert_int_equal(c.r, -ECANCELED);
	assert_int_equal(c.target.ended, 1);
	assert_int_equal(c.target.sleep_r, -ECANCELED);
	assert_true(c.target.ended_ns <= c.returned_ns);
	assert_between(check_ms_since(t0), 25, 25 + SLACK_MS);
	return 0;
}

static void test_wait_for_caller_cancelled(void **state)
{
	assert_int_equal(check_run(wait_for_caller_cancelled_main, NULL), 0);
}

static int wait_for_finished_main(void *arg)
{
	corio_task *a = corio_spawn(ret_arg, (void *)7);
	corio_task *b = corio_spawn(ret_arg, (void *)-EEXIST);

	assert_non_null(a);
	assert_non_null(b);
	corio_yield(); /* both ran to their end */
	assert_int_equal(corio_wait_for(a, 0), 7);
	assert_int_equal(corio_wait_for(b, 10), -EEXIST);
	assert_int_equal(corio_join(a), -EINVAL);
	assert_int_equal(corio_join(b), -EINVAL);
	return 0;
}

static void test_wait_for_finished(void **state)
{
	assert_int_equal(check_run(wait_for_finished_main, NULL), 0);
}

static int wait_for_zero_main(void *arg)
{
	struct job j = { .ms = LONG_MS, .ret = 1 };
	corio_task *t = corio_spawn(job_task, &j);
	uint64_t t0;

	assert_non_null(t);
	assert_int_equal(corio_sleep_ms(1), 0); /* it sleeps now */
	t0 = corio_now_ns();
	assert_int_equal(corio_wait_for(t, 0), -ETIMEDOUT);
	assert_true(check_ms_since(t0) < SLACK_MS);
	assert_int_equal(j.ended, 1);
	assert_int_equal(j.sleep_r, -ECANCELED);
	assert_int_equal(corio_join(t), -EINVAL);
	return 0;
}

static void test_wait_for_zero(void **state)
{
	assert_int_equal(check_run(wait_for_zero_main, NULL), 0);
}

/* wait_for on a task that ends within its time by a wide margin, long
 * after other timers: no stray -ETIMEDOUT later on. */
static int wait_for_no_stray_timer_main(void *arg)
{
	struct job j = { .ms = 2, .ret = 3 };
	corio_task *t = corio_spawn(job_task, &j);

	assert_non_null(t);
	/* Scaled so that a stalled loop (valgrind) does not see both
	 * timers expire in one turn. */
	assert_int_equal(corio_wait_for(t, 20 * CHECK_TIME_SCALE), 3);
	/* Past the wait_for's deadline: this sleep is not cut short. */
	assert_int_equal(corio_sleep_ms(40 * CHECK_TIME_SCALE), 0);
	return 0;
}

static void test_wait_for_no_stray_timer(void **state)
{
	assert_int_equal(check_run(wait_for_no_stray_timer_main, NULL), 0);
}

struct busy {
	corio_task *target;
	int         r;
};

static int busy_joiner(void *arg)
{
	struct busy *b = arg;

	b->r = corio_join(b->target);
	return 0;
}

static int wait_for_errors_main(void *arg)
{
	struct job j = { .ms = 10, .ret = 8 };
	struct busy b = { 0 };
	corio_task *t, *jt;

	assert_int_equal(corio_wait_for(NULL, 10), -EINVAL);
	assert_int_equal(corio_wait_for(corio_current(), 10), -EDEADLK);

	/* -EBUSY: someone joins it; nothing consumed. */
	t = corio_spawn(job_task, &j);
	assert_non_null(t);
	b.target = t;
	jt = corio_spawn(busy_joiner, &b);
	assert_non_null(jt);
	corio_yield(); /* jt waits in join(t) */
	assert_int_equal(corio_wait_for(t, 10), -EBUSY);
	assert_int_equal(corio_join(jt), 0);
	assert_int_equal(b.r, 8);
	/* A released handle. */
	assert_int_equal(corio_wait_for(t, 10), -EINVAL);
	return 0;
}

static void test_wait_for_errors(void **state)
{
	assert_int_equal(check_run(wait_for_errors_main, NULL), 0);
	assert_int_equal(corio_wait_for(NULL, 10), -EPERM);
}

/* The errors that are not consumed leave the task joinable. */
static int wait_for_self_deadlk_task(void *arg)
{
	return corio_wait_for(corio_current(), 5);
}

static int wait_for_not_consumed_main(void *arg)
{
	corio_task *t = corio_spawn(wait_for_self_deadlk_task, NULL);

	assert_non_null(t);
	assert_int_equal(corio_join(t), -EDEADLK);
	return 0;
}

static void test_wait_for_edeadlk_in_task(void **state)
{
	assert_int_equal(check_run(wait_for_not_consumed_main, NULL), 0);
}

/* A shielded target: the timeout cancels it, but wait_for returns only
 * once it has ended. */
static int shielded_sleeper(void *arg)
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
	return r < 0 ? r : j->ret;
}

static int wait_for_shielded_main(void *arg)
{
	struct job j = { .ms = 60, .ret = 5 };
	corio_task *t = corio_spawn(shielded_sleeper, &j);
	uint64_t t0 = corio_now_ns();

	assert_non_null(t);
	assert_int_equal(corio_wait_for(t, 10), -ETIMEDOUT);
	assert_between(check_ms_since(t0), 60, 60 + SLACK_MS);
	assert_int_equal(j.ended, 1);
	assert_int_equal(j.sleep_r, 0);
	return 0;
}

/* wait_for's own time is not a scope: it applies inside a shield, also
 * in a cancelled task. */
static int wait_for_in_shield_main(void *arg)
{
	struct job j = { .ms = LONG_MS, .ret = 1, .linger_ms = 10 };
	corio_task *t;
	uint64_t t0 = corio_now_ns();

	assert_int_equal(corio_cancel(corio_current()), 0);
	assert_int_equal(corio_shield_push(), 0);
	t = corio_spawn(job_task, &j);
	assert_non_null(t);
	assert_int_equal(corio_wait_for(t, 20), -ETIMEDOUT);
	assert_between(check_ms_since(t0), 30, 30 + SLACK_MS);
	assert_int_equal(j.ended, 1);
	assert_int_equal(j.sleep_r, -ECANCELED);
	/* In time, in the shield: the result. */
	t = corio_spawn(ret_arg, (void *)12);
	assert_non_null(t);
	assert_int_equal(corio_wait_for(t, 1000), 12);
	assert_int_equal(corio_shield_pop(), -ECANCELED);
	return 0;
}

static void test_wait_for_in_shield(void **state)
{
	assert_int_equal(check_run(wait_for_in_shield_main, NULL), 0);
}

/* Huge timeouts do not overflow into "already passed". */
static int wait_for_huge_main(void *arg)
{
	struct job j = { .ms = 5, .ret = 13 };
	corio_task *t = corio_spawn(job_task, &j);

	assert_non_null(t);
	assert_int_equal(corio_wait_for(t, UINT64_MAX), 13);
	memset(&j, 0, sizeof(j));
	j.ms = 5;
	j.ret = 14;
	t = corio_spawn(job_task, &j);
	assert_non_null(t);
	assert_int_equal(corio_wait_for(t, UINT64_MAX / 1000u), 14);
	/* The same in a far deadline scope, with only that timer armed
	 * while main waits in join. */
	assert_int_equal(corio_deadline_push(UINT64_MAX), 0);
	memset(&j, 0, sizeof(j));
	j.ms = 5;
	j.ret = 15;
	t = corio_spawn(job_task, &j);
	assert_non_null(t);
	assert_int_equal(corio_join(t), 15);
	assert_int_equal(corio_deadline_pop(), 0);
	return 0;
}

static void test_wait_for_huge_timeout(void **state)
{
	assert_int_equal(check_run(wait_for_huge_main, NULL), 0);
}

static void test_wait_for_shielded_target(void **state)
{
	assert_int_equal(check_run(wait_for_shielded_main, NULL), 0);
}

/* ------------------------------------------------------------------------
 * Deadline scopes
 * ------------------------------------------------------------------------ */

static int deadline_expires_main(void *arg)
{
	struct job j = { .ms = LONG_MS, .ret = 1, .linger_ms = 5 };
	corio_task *t;
	corio_event *e = corio_event_new();
	uint64_t t0 = corio_now_ns(), t1;

	assert_non_null(e);
	assert_int_equal(corio_deadline_push(30), 0);
	assert_int_equal(corio_sleep_ms(LONG_MS), -ETIMEDOUT);
	assert_between(check_ms_since(t0), 30, 30 + SLACK_MS);

	/* Every later blocking call in the scope fails at once. */
	t1 = corio_now_ns();
	assert_int_equal(corio_sleep_ms(1), -ETIMEDOUT);
	assert_int_equal(corio_sleep_ms(0), -ETIMEDOUT);
	assert_int_equal(corio_sleep_ns(1000), -ETIMEDOUT);
	assert_int_equal(corio_event_wait(e), -ETIMEDOUT);
	t = corio_spawn(job_task, &j);
	assert_non_null(t);
	/* join fails, and its target is cancelled and drained. */
	assert_int_equal(corio_join(t), -ETIMEDOUT);
	assert_int_equal(j.ended, 1);
	assert_int_equal(j.sleep_r, -ECANCELED);
	assert_int_equal(corio_join(t), -EINVAL);
	corio_yield(); /* not a blocking call */
	assert_true(check_ms_since(t1) < SLACK_MS);

	assert_int_equal(corio_deadline_pop(), -ETIMEDOUT);
	/* Out of the scope, all is normal again. */
	assert_int_equal(corio_sleep_ms(1), 0);
	corio_event_set(e);
	assert_int_equal(corio_event_wait(e), 0);
	errno = 0;
	corio_event_free(e);
	assert_int_equal(errno, 0); /* the timed-out wait left no waiter */
	return 0;
}

static void test_deadline_expires(void **state)
{
	assert_int_equal(check_run(deadline_expires_main, NULL), 0);
}

static int deadline_in_time_main(void *arg)
{
	uint64_t t0;

	/* A sleep shorter than the deadline returns 0. */
	assert_int_equal(corio_deadline_push(1000), 0);
	assert_int_equal(corio_sleep_ms(5), 0);
	assert_int_equal(corio_deadline_pop(), 0);

	assert_int_equal(corio_deadline_push_at(corio_now_ns() + 1000u * 1000000u), 0);
	assert_int_equal(corio_sleep_ms(5), 0);
	assert_int_equal(corio_deadline_pop(), 0);

	/* A scope with no blocking call, whose deadline passed anyway:
	 * pop reports it. */
	assert_int_equal(corio_deadline_push(5), 0);
	linger(10);
	assert_int_equal(corio_deadline_pop(), -ETIMEDOUT);

	/* Already passed when pushed: the first blocking call fails at once. */
	t0 = corio_now_ns();
	assert_int_equal(corio_deadline_push_at(corio_now_ns() - 1), 0);
	assert_int_equal(corio_sleep_ms(LONG_MS), -ETIMEDOUT);
	assert_int_equal(corio_deadline_pop(), -ETIMEDOUT);
	assert_int_equal(corio_deadline_push(0), 0);
	assert_int_equal(corio_sleep_ms(LONG_MS), -ETIMEDOUT);
	assert_int_equal(corio_deadline_pop(), -ETIMEDOUT);
	assert_true(check_ms_since(t0) < SLACK_MS);

	/* A far deadline (no overflow): behaves as none. */
	assert_int_equal(corio_deadline_push(UINT64_MAX), 0);
	assert_int_equal(corio_sleep_ms(1), 0);
	assert_int_equal(corio_deadline_pop(), 0);
	assert_int_equal(corio_deadline_push_at(UINT64_MAX), 0);
	assert_int_equal(corio_sleep_ms(1), 0);
	assert_int_equal(corio_deadline_pop(), 0);
	return 0;
}

static void test_deadline_in_time_and_pop_results(void **state)
{
	assert_int_equal(check_run(deadline_in_time_main, NULL), 0);
}

static int deadline_nested_outer_main(void *arg)
{
	uint64_t t0 = corio_now_ns();

	/* Inner long, outer short: the outer one fires. */
	assert_int_equal(corio_deadline_push(30), 0);
	assert_int_equal(corio_deadline_push(LONG_MS), 0);
	assert_int_equal(corio_sleep_ms(LONG_MS), -ETIMEDOUT);
	assert_between(check_ms_since(t0), 30, 30 + SLACK_MS);
	/* The inner scope cannot extend the outer: still timed out. */
	assert_int_equal(corio_sleep_ms(1), -ETIMEDOUT);
	assert_int_equal(corio_deadline_pop(), 0);         /* its own did not pass */
	assert_int_equal(corio_sleep_ms(1), -ETIMEDOUT);   /* the outer still applies */
	assert_int_equal(corio_deadline_pop(), -ETIMEDOUT);
	assert_int_equal(corio_sleep_ms(1), 0);
	return 0;
}

static void test_deadline_nested_outer_wins(void **state)
{
	assert_int_equal(check_run(deadline_nested_outer_main, NULL), 0);
}

static int deadline_nested_inner_main(void *arg)
{
	uint64_t t0 = corio_now_ns();

	/* Inner short, outer long: the inner one fires, the outer goes on. */
	assert_int_equal(corio_deadline_push(LONG_MS), 0);
	assert_int_equal(corio_deadline_push(20), 0);
	assert_int_equal(corio_sleep_ms(LONG_MS), -ETIMEDOUT);
	assert_between(check_ms_since(t0), 20, 20 + SLACK_MS);
	assert_int_equal(corio_deadline_pop(), -ETIMEDOUT);
	assert_int_equal(corio_sleep_ms(5), 0);
	assert_int_equal(corio_deadline_pop(), 0);

	/* Three levels, the middle one nearest. */
	t0 = corio_now_ns();
	assert_int_equal(corio_deadline_push(LONG_MS), 0);
	assert_int_equal(corio_deadline_push(20), 0);
	assert_int_equal(corio_deadline_push(LONG_MS), 0);
	assert_int_equal(corio_sleep_ms(LONG_MS), -ETIMEDOUT);
	assert_between(check_ms_since(t0), 20, 20 + SLACK_MS);
	assert_int_equal(corio_deadline_pop(), 0);
	assert_int_equal(corio_deadline_pop(), -ETIMEDOUT);
	assert_int_equal(corio_deadline_pop(), 0);
	assert_int_equal(corio_sleep_ms(1), 0);
	return 0;
}

static void test_deadline_nested_inner_shorter(void **state)
{
	assert_int_equal(check_run(deadline_nested_inner_main, NULL), 0);
}

/* A deadline of one task does not touch another. */
static int deadline_per_task_main(void *arg)
{
	struct job j = { .ms = 40, .ret = 6 };
	corio_task *t;

	assert_int_equal(corio_deadline_push(10), 0);
	t = corio_spawn(job_task, &j);
	assert_non_null(t);
	assert_int_equal(corio_sleep_ms(LONG_MS), -ETIMEDOUT);
	assert_int_equal(corio_deadline_pop(), -ETIMEDOUT);
	assert_int_equal(corio_join(t), 6);
	assert_int_equal(j.sleep_r, 0);
	return 0;
}

static void test_deadline_is_per_task(void **state)
{
	assert_int_equal(check_run(deadline_per_task_main, NULL), 0);
}

/* In a group: a task with its own scope that lets the -ETIMEDOUT out
 * fails the group; one that handles it does not. */
struct scoped {
	int ms;        /* scope */
	int handle;    /* return 0 after the timeout */
	int sleep_r, pop_r;
};

static int scoped_task(void *arg)
{
	struct scoped *s = arg;

	if (corio_deadline_push((uint64_t)s->ms) < 0)
		return -ENOMEM;
	s->sleep_r = corio_sleep_ms(LONG_MS);
	s->pop_r = corio_deadline_pop();
	return s->handle ? 0 : s->sleep_r;
}

static int deadline_group_task_main(void *arg)
{
	struct scoped ok = { .ms = 10, .handle = 1 };
	struct scoped bad = { .ms = 30 };
	struct job sib = { .ms = LONG_MS, .ret = 1 };
	struct job quick = { .ms = 20, .ret = 2 };
	corio_group *g = corio_group_new();
	corio_task_result res[4], errs[4];
	corio_task *tb;
	uint64_t t0 = corio_now_ns();

	assert_non_null(g);
	assert_non_null(corio_group_spawn(g, scoped_task, &ok));
	tb = corio_group_spawn(g, scoped_task, &bad);
	assert_non_null(tb);
	assert_non_null(corio_group_spawn(g, job_task, &sib));
	assert_non_null(corio_group_spawn(g, job_task, &quick));
	assert_int_equal(corio_group_wait(g), -ETIMEDOUT);
	assert_between(check_ms_since(t0), 30, 30 + SLACK_MS);
	assert_int_equal(ok.sleep_r, -ETIMEDOUT);
	assert_int_equal(ok.pop_r, -ETIMEDOUT);
	assert_int_equal(bad.sleep_r, -ETIMEDOUT);
	assert_int_equal(bad.pop_r, -ETIMEDOUT);
	assert_int_equal(sib.sleep_r, -ECANCELED); /* fail fast */
	assert_int_equal(quick.sleep_r, 0);        /* ended before the failure */
	assert_int_equal(corio_group_results(g, res, 4), 4);
	assert_int_equal(res[0].result, 0);
	assert_int_equal(res[1].result, -ETIMEDOUT);
	assert_int_equal(res[2].result, -ECANCELED);
	assert_int_equal(res[3].result, 2);
	assert_int_equal(corio_group_errors(g, errs, 4), 1);
	assert_ptr_equal(errs[0].task, tb);
	corio_group_free(g);
	return 0;
}

static void test_deadline_in_group_task(void **state)
{
	assert_int_equal(check_run(deadline_group_task_main, NULL), 0);
}

/* A scope around corio_group_wait, whose tasks have scopes of their own
 * that are farther away: the waiter's deadline cancels them. */
static int deadline_group_wait_main(void *arg)
{
	struct scoped far = { .ms = LONG_MS };
	struct job j = { .ms = LONG_MS, .ret = 1, .linger_ms = 15 };
	corio_group *g = corio_group_new();
	uint64_t t0 = corio_now_ns();

	assert_non_null(g);
	assert_non_null(corio_group_spawn(g, scoped_task, &far));
	assert_non_null(corio_group_spawn(g, job_task, &j));
	assert_int_equal(corio_deadline_push(25), 0);
	assert_int_equal(corio_group_wait(g), -ETIMEDOUT);
	assert_int_equal(corio_deadline_pop(), -ETIMEDOUT);
	assert_between(check_ms_since(t0), 40, 40 + SLACK_MS);
	assert_int_equal(far.sleep_r, -ECANCELED);
	assert_int_equal(far.pop_r, 0);
	assert_int_equal(j.ended, 1);
	assert_int_equal(j.sleep_r, -ECANCELED);
	assert_int_equal(corio_group_errors(g, NULL, 0), 0);
	corio_group_free(g);
	return 0;
}

static void test_deadline_around_group_wait(void **state)
{
	assert_int_equal(check_run(deadline_group_wait_main, NULL), 0);
}

static int deadline_join_gather_main(void *arg)
{
	struct job j = { .ms = LONG_MS, .ret = 1, .linger_ms = 15 };
	struct job g3[3] = {
		{ .ms = LONG_MS, .ret = 1, .linger_ms = 10 },
		{ .ms = 2, .ret = 2 },
		{ .ms = LONG_MS, .ret = 3 },
	};
	corio_task *t, *ts[3];
	int res[3];
	uint64_t t0 = corio_now_ns(), back;

	/* join */
	t = corio_spawn(job_task, &j);
	assert_non_null(t);
	assert_int_equal(corio_deadline_push(20), 0);
	assert_int_equal(corio_join(t), -ETIMEDOUT);
	back = corio_now_ns();
	assert_int_equal(corio_deadline_pop(), -ETIMEDOUT);
	assert_between(check_ms_since(t0), 35, 35 + SLACK_MS);
	assert_int_equal(j.ended, 1);
	assert_int_equal(j.sleep_r, -ECANCELED);
	assert_true(j.ended_ns <= back);
	assert_int_equal(corio_join(t), -EINVAL); /* consumed */

	/* gather, both modes */
	for (int mode = 0; mode < 2; mode++) {
		for (int i = 0; i < 3; i++) {
			int ms = g3[i].ms, ret = g3[i].ret, lg = g3[i].linger_ms;
			g3[i] = (struct job){ .ms = ms, .ret = ret, .linger_ms = lg };
			ts[i] = corio_spawn(job_task, &g3[i]);
			assert_non_null(ts[i]);
		}
		t0 = corio_now_ns();
		assert_int_equal(corio_deadline_push(20), 0);
		assert_int_equal(corio_gather(ts, 3, res, mode ? CORIO_GATHER_ALL : 0),
				 -ETIMEDOUT);
		back = corio_now_ns();
		assert_int_equal(corio_deadline_pop(), -ETIMEDOUT);
		assert_between(check_ms_since(t0), 30, 30 + SLACK_MS);
		for (int i = 0; i < 3; i++) {
			assert_int_equal(g3[i].ended, 1);
			assert_true(g3[i].ended_ns <= back);
		}
		assert_int_equal(g3[0].sleep_r, -ECANCELED);
		assert_int_equal(g3[2].sleep_r, -ECANCELED);
		assert_int_equal(res[0], -ECANCELED);
		assert_int_equal(res[1], 2);
		assert_int_equal(res[2], -ECANCELED);
		for (int i = 0; i < 3; i++)
			assert_int_equal(corio_join(ts[i]), -EINVAL);
	}
	return 0;
}

static void test_deadline_join_and_gather(void **state)
{
	assert_int_equal(check_run(deadline_join_gather_main, NULL), 0);
}

/* wait_for inside a nearer scope: the scope fires, with -ETIMEDOUT too;
 * inside a farther scope: wait_for's own time fires. */
static int deadline_wait_for_main(void *arg)
{
	struct job j = { .ms = LONG_MS, .ret = 1 };
	corio_task *t;
	uint64_t t0 = corio_now_ns();

	t = corio_spawn(job_task, &j);
	assert_non_null(t);
	assert_int_equal(corio_deadline_push(20), 0);
	assert_int_equal(corio_wait_for(t, LONG_MS), -ETIMEDOUT);
	assert_int_equal(corio_deadline_pop(), -ETIMEDOUT);
	assert_between(check_ms_since(t0), 20, 20 + SLACK_MS);
	assert_int_equal(j.sleep_r, -ECANCELED);

	memset(&j, 0, sizeof(j));
	j.ms = LONG_MS;
	t = corio_spawn(job_task, &j);
	assert_non_null(t);
	t0 = corio_now_ns();
	assert_int_equal(corio_deadline_push(LONG_MS), 0);
	assert_int_equal(corio_wait_for(t, 20), -ETIMEDOUT);
	assert_int_equal(corio_deadline_pop(), 0);
	assert_between(check_ms_since(t0), 20, 20 + SLACK_MS);
	assert_int_equal(j.sleep_r, -ECANCELED);
	return 0;
}

static void test_deadline_and_wait_for(void **state)
{
	assert_int_equal(check_run(deadline_wait_for_main, NULL), 0);
}

static int pop_errors_main(void *arg)
{
	/* Nothing pushed. */
	assert_int_equal(corio_deadline_pop(), -EINVAL);
	assert_int_equal(corio_shield_pop(), -EINVAL);

	/* A shield on top: deadline_pop refuses and pops nothing. */
	assert_int_equal(corio_deadline_push(5), 0);
	assert_int_equal(corio_shield_push(), 0);
	assert_int_equal(corio_deadline_pop(), -EINVAL);
	linger(10); /* the deadline passes */
	assert_int_equal(corio_sleep_ms(1), 0); /* still shielded */
	assert_int_equal(corio_shield_pop(), 0);
	assert_int_equal(corio_sleep_ms(1), -ETIMEDOUT); /* the deadline is still there */

	/* A deadline on top: shield_pop refuses and pops nothing. */
	assert_int_equal(corio_shield_pop(), -EINVAL);
	assert_int_equal(corio_deadline_pop(), -ETIMEDOUT);
	assert_int_equal(corio_deadline_pop(), -EINVAL);
	assert_int_equal(corio_sleep_ms(1), 0);
	return 0;
}

static void test_pop_errors(void **state)
{
	assert_int_equal(check_run(pop_errors_main, NULL), 0);
}

static void test_scopes_outside_task(void **state)
{
	assert_int_equal(corio_deadline_push(10), -EPERM);
	assert_int_equal(corio_deadline_push_at(corio_now_ns() + 1000000u), -EPERM);
	assert_int_equal(corio_deadline_pop(), -EPERM);
	assert_int_equal(corio_shield_push(), -EPERM);
	assert_int_equal(corio_shield_pop(), -EPERM);
}

/* Tasks that end with scopes still pushed: dropped, and the next task
 * (which may reuse the struct) starts with none. */
static int leaves_scopes(void *arg)
{
	int k = (int)(intptr_t)arg;

	for (int i = 0; i < k; i++) {
		if (corio_deadline_push(i % 2 ? 0 : LONG_MS) < 0)
			return -ENOMEM;
		if (corio_shield_push() < 0)
			return -ENOMEM;
	}
	return k;
}

static int scopes_left_main(void *arg)
{
	for (int round = 0; round < 20; round++) {
		corio_task *t = corio_spawn(leaves_scopes, (void *)(intptr_t)(round * 3));
		assert_non_null(t);
		assert_int_equal(corio_join(t), round * 3);
		/* A fresh task: no expired deadline inherited. */
		struct job j = { .ms = 1, .ret = 4 };
		t = corio_spawn(job_task, &j);
		assert_non_null(t);
		assert_int_equal(corio_join(t), 4);
		assert_int_equal(j.sleep_r, 0);
	}
	/* main itself has none. */
	assert_int_equal(corio_deadline_pop(), -EINVAL);
	return 0;
}

static void test_scopes_left_pushed(void **state)
{
	assert_int_equal(check_run(scopes_left_main, NULL), 0);
}

/* main returning with scopes pushed, in debug mode: reported, no leak. */
static int main_leaves_scopes(void *arg)
{
	assert_int_equal(corio_deadline_push(LONG_MS), 0);
	assert_int_equal(corio_shield_push(), 0);
	return 3;
}

static void test_scopes_left_pushed_debug(void **state)
{
	corio_config cfg = { .flags = CORIO_CFG_DEBUG };
	char out[4096];

	check_capture_begin();
	int r = check_run_config(&cfg, main_leaves_scopes, NULL);
	check_capture_end(out, sizeof(out));
	assert_int_equal(r, 3);
	assert_contains(out, "still pushed");
}

/* ------------------------------------------------------------------------
 * Shield scopes
 * ------------------------------------------------------------------------ */

struct shielded {
	int      ms;
	int      r_sleep, r_pop, r_after;
	uint64_t slept_ms;
	int      ended;
};

static int shield_task(void *arg)
{
	struct shielded *s = arg;
	uint64_t t0;

	if (corio_shield_push() < 0)
		return -ENOMEM;
	t0 = corio_now_ns();
	s->r_sleep = corio_sleep_ms((uint64_t)s->ms);
	s->slept_ms = check_ms_since(t0);
	s->r_pop = corio_shield_pop();
	t0 = corio_now_ns();
	s->r_after = corio_sleep_ms(LONG_MS);
	s->ended = 1;
	return s->r_after;
}

static int shield_defers_main(void *arg)
{
	struct shielded s = { .ms = 40 };
	corio_task *t = corio_spawn(shield_task, &s);
	uint64_t t0 = corio_now_ns();

	assert_non_null(t);
	assert_int_equal(corio_sleep_ms(5), 0);
	assert_int_equal(corio_cancel(t), 0);
	assert_int_equal(corio_join(t), -ECANCELED);
	/* The shielded sleep ran its full time... */
	assert_int_equal(s.r_sleep, 0);
	assert_true(s.slept_ms >= 40);
	/* ...then the pop and the next blocking call reported the cancel. */
	assert_int_equal(s.r_pop, -ECANCELED);
	assert_int_equal(s.r_after, -ECANCELED);
	assert_between(check_ms_since(t0), 35, 40 + SLACK_MS);
	return 0;
}

static void test_shield_defers_cancel(void **state)
{
	assert_int_equal(check_run(shield_defers_main, NULL), 0);
}

/* Not cancelled: pop says 0 and life goes on. */
static int shield_plain_task(void *arg)
{
	int *r = arg;

	if (corio_shield_push() < 0)
		return -ENOMEM;
	r[0] = corio_sleep_ms(2);
	r[1] = corio_shield_pop();
	r[2] = corio_sleep_ms(2);
	return 0;
}

static int shield_uncancelled_main(void *arg)
{
	int r[3] = { 9, 9, 9 };
	corio_task *t = corio_spawn(shield_plain_task, r);

	assert_non_null(t);
	assert_int_equal(corio_join(t), 0);
	assert_int_equal(r[0], 0);
	assert_int_equal(r[1], 0);
	assert_int_equal(r[2], 0);
	return 0;
}

static void test_shield_pop_uncancelled(void **state)
{
	assert_int_equal(check_run(shield_uncancelled_main, NULL), 0);
}

/* Cancelled before the shield was pushed: the shield still defers it. */
static int shield_after_cancel_main(void *arg)
{
	uint64_t t0;

	assert_int_equal(corio_cancel(corio_current()), 0);
	assert_int_equal(corio_sleep_ms(1), -ECANCELED);
	/* Cleanup I/O-like work after the cancel, in a shield. */
	assert_int_equal(corio_shield_push(), 0);
	t0 = corio_now_ns();
	assert_int_equal(corio_sleep_ms(20), 0);
	assert_true(check_ms_since(t0) >= 20);
	/* Nested shields: the inner pop leaves a shield, so it says 0. */
	assert_int_equal(corio_shield_push(), 0);
	assert_int_equal(corio_sleep_ms(1), 0);
	assert_int_equal(corio_shield_pop(), 0);
	assert_int_equal(corio_sleep_ms(1), 0);
	assert_int_equal(corio_shield_pop(), -ECANCELED);
	assert_int_equal(corio_sleep_ms(1), -ECANCELED);
	return 0;
}

static void test_shield_cleanup_after_cancel(void **state)
{
	assert_int_equal(check_run(shield_after_cancel_main, NULL), 0);
}

/* The same from a cancelled task's point of view: it sees the cancel,
 * then cleans up in a shield while its canceller waits in join. */
struct cleanup {
	int      r1, r_clean, r_pop;
	int      cleaned;
	uint64_t ended_ns;
};

static int cleanup_task(void *arg)
{
	struct cleanup *c = arg;

	c->r1 = corio_sleep_ms(LONG_MS);
	corio_shield_push();
	c->r_clean = corio_sleep_ms(25);
	c->cleaned = 1;
	c->r_pop = corio_shield_pop();
	c->ended_ns = corio_now_ns();
	return c->r1;
}

static int cleanup_main(void *arg)
{
	struct cleanup c = { 0 };
	corio_task *t = corio_spawn(cleanup_task, &c);
	uint64_t t0;

	assert_non_null(t);
	assert_int_equal(corio_sleep_ms(2), 0);
	t0 = corio_now_ns();
	assert_int_equal(corio_cancel(t), 0);
	assert_int_equal(corio_join(t), -ECANCELED);
	assert_between(check_ms_since(t0), 25, 25 + SLACK_MS);
	assert_int_equal(c.r1, -ECANCELED);
	assert_int_equal(c.r_clean, 0);
	assert_int_equal(c.cleaned, 1);
	assert_int_equal(c.r_pop, -ECANCELED);
	return 0;
}

static void test_shield_cleanup_in_cancelled_task(void **state)
{
	assert_int_equal(check_run(cleanup_main, NULL), 0);
}

/* A deadline pushed inside a shield still applies, cancelled or not. */
struct sh_deadline {
	int      r_sleep, r_dpop, r_spop;
	uint64_t slept_ms;
};

static int shield_deadline_task(void *arg)
{
	struct sh_deadline *s = arg;
	uint64_t t0 = corio_now_ns();

	corio_shield_push();
	corio_deadline_push(30);
	s->r_sleep = corio_sleep_ms(LONG_MS);
	s->slept_ms = check_ms_since(t0);
	s->r_dpop = corio_deadline_pop();
	s->r_spop = corio_shield_pop();
	return 0;
}

static int shield_deadline_main(void *arg)
{
	struct sh_deadline s = { 0 };
	corio_task *t = corio_spawn(shield_deadline_task, &s);

	assert_non_null(t);
	assert_int_equal(corio_sleep_ms(5), 0);
	assert_int_equal(corio_cancel(t), 0); /* deferred by the shield */
	assert_int_equal(corio_join(t), 0);
	assert_int_equal(s.r_sleep, -ETIMEDOUT);
	assert_between(s.slept_ms, 30, 30 + SLACK_MS);
	assert_int_equal(s.r_dpop, -ETIMEDOUT);
	assert_int_equal(s.r_spop, -ECANCELED);

	/* And uncancelled, in main. */
	memset(&s, 0, sizeof(s));
	assert_int_equal(shield_deadline_task(&s), 0);
	assert_int_equal(s.r_sleep, -ETIMEDOUT);
	assert_int_equal(s.r_dpop, -ETIMEDOUT);
	assert_int_equal(s.r_spop, 0);
	return 0;
}

static void test_shield_inner_deadline_fires(void **state)
{
	assert_int_equal(check_run(shield_deadline_main, NULL), 0);
}

static int shield_hides_outer_main(void *arg)
{
	uint64_t t0 = corio_now_ns();

	/* The outer deadline passes during the shielded sleep: ignored. */
	assert_int_equal(corio_deadline_push(15), 0);
	assert_int_equal(corio_shield_push(), 0);
	assert_int_equal(corio_sleep_ms(50), 0);
	assert_true(check_ms_since(t0) >= 50);
	/* Already passed, still hidden. */
	assert_int_equal(corio_sleep_ms(1), 0);
	/* A deadline inside the shield is not shortened by the outer one
	 * either: it is the only one in effect. */
	t0 = corio_now_ns();
	assert_int_equal(corio_deadline_push(20), 0);
	assert_int_equal(corio_sleep_ms(LONG_MS), -ETIMEDOUT);
	assert_between(check_ms_since(t0), 20, 20 + SLACK_MS);
	assert_int_equal(corio_deadline_pop(), -ETIMEDOUT);
	assert_int_equal(corio_shield_pop(), 0); /* not cancelled */
	/* Out of the shield, the outer deadline applies again. */
	assert_int_equal(corio_sleep_ms(1), -ETIMEDOUT);
	assert_int_equal(corio_deadline_pop(), -ETIMEDOUT);
	assert_int_equal(corio_sleep_ms(1), 0);
	return 0;
}

static void test_shield_hides_outer_deadline(void **state)
{
	assert_int_equal(check_run(shield_hides_outer_main, NULL), 0);
}

/* A shield in a task waiting on a group: the group's fail fast and
 * corio_group_cancel wait for the shielded work. Also join inside a
 * shield of a cancelled task completes. */
static int shield_join_main(void *arg)
{
	struct job j = { .ms = 20, .ret = 11 };
	corio_task *t;

	assert_int_equal(corio_cancel(corio_current()), 0);
	assert_int_equal(corio_shield_push(), 0);
	t = corio_spawn(job_task, &j);
	assert_non_null(t);
	assert_int_equal(corio_join(t), 11);
	assert_int_equal(corio_shield_pop(), -ECANCELED);
	return 0;
}

static void test_shield_join_while_cancelled(void **state)
{
	assert_int_equal(check_run(shield_join_main, NULL), 0);
}

/* corio_run's shutdown cancels a shielded task and waits for the shield. */
static int shutdown_shield_main(void *arg)
{
	struct shielded *s = arg;
	corio_task *t = corio_spawn(shield_task, s);

	assert_non_null(t);
	corio_detach(t);
	corio_yield(); /* it sleeps, shielded */
	return 0;
}

static void test_run_shutdown_waits_for_shield(void **state)
{
	struct shielded s = { .ms = 50 };
	uint64_t t0 = corio_now_ns();

	assert_int_equal(check_run(shutdown_shield_main, &s), 0);
	assert_between(check_ms_since(t0), 50, 50 + SLACK_MS);
	assert_int_equal(s.ended, 1);
	assert_int_equal(s.r_sleep, 0);
	assert_int_equal(s.r_pop, -ECANCELED);
	assert_int_equal(s.r_after, -ECANCELED);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		CHECK_TEST(test_wait_for_in_time),
		CHECK_TEST(test_wait_for_timeout),
		CHECK_TEST(test_wait_for_timeout_task_returns_value),
		CHECK_TEST(test_wait_for_caller_cancelled),
		CHECK_TEST(test_wait_for_finished),
		CHECK_TEST(test_wait_for_zero),
		CHECK_TEST(test_wait_for_no_stray_timer),
		CHECK_TEST(test_wait_for_errors),
		CHECK_TEST(test_wait_for_edeadlk_in_task),
		CHECK_TEST(test_wait_for_shielded_target),
		CHECK_TEST(test_wait_for_in_shield),
		CHECK_TEST(test_wait_for_huge_timeout),
		CHECK_TEST(test_deadline_expires),
		CHECK_TEST(test_deadline_in_time_and_pop_results),
		CHECK_TEST(test_deadline_nested_outer_wins),
		CHECK_TEST(test_deadline_nested_inner_shorter),
		CHECK_TEST(test_deadline_is_per_task),
		CHECK_TEST(test_deadline_in_group_task),
		CHECK_TEST(test_deadline_around_group_wait),
		CHECK_TEST(test_deadline_join_and_gather),
		CHECK_TEST(test_deadline_and_wait_for),
		CHECK_TEST(test_pop_errors),
		CHECK_TEST(test_scopes_outside_task),
		CHECK_TEST(test_scopes_left_pushed),
		CHECK_TEST(test_scopes_left_pushed_debug),
		CHECK_TEST(test_shield_defers_cancel),
		CHECK_TEST(test_shield_pop_uncancelled),
		CHECK_TEST(test_shield_cleanup_after_cancel),
		CHECK_TEST(test_shield_cleanup_in_cancelled_task),
		CHECK_TEST(test_shield_inner_deadline_fires),
		CHECK_TEST(test_shield_hides_outer_deadline),
		CHECK_TEST(test_shield_join_while_cancelled),
		CHECK_TEST(test_run_shutdown_waits_for_shield),
	};

	check_init(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
