/*
 * test_cancel.c - corio_cancel of a task that sleeps, is ready but not
 * started, waits in join or in gather; self-cancel; stickiness; the
 * harmless cases (done, twice) and the errors.
 */
#include "check.h"

#define SLACK_MS (200 * CHECK_TIME_SCALE)

struct victim {
	int      started;
	int      r1, r2;
	int      ended;
	uint64_t ended_ns;
	int      linger_ms; /* cleanup time after the cancel */
};

static void linger(int ms)
{
	uint64_t t0 = corio_now_ns();

	/* Yields are not blocking calls: a cancelled task can still yield. */
	while (corio_now_ns() - t0 < (uint64_t)ms * 1000000u)
		corio_yield();
}

static int victim_task(void *arg)
{
	struct victim *v = arg;

	v->started = 1;
	v->r1 = corio_sleep_ms(10000);
	v->r2 = corio_sleep_ms(1);
	linger(v->linger_ms);
	v->ended = 1;
	v->ended_ns = corio_now_ns();
	return v->r1;
}

static int cancel_sleeping_main(void *arg)
{
	struct victim v = { 0 };
	corio_task *t = corio_spawn(victim_task, &v);
	uint64_t t0;

	assert_non_null(t);
	assert_int_equal(corio_sleep_ms(2), 0);
	assert_int_equal(v.started, 1);
	assert_int_equal(v.ended, 0);
	t0 = corio_now_ns();
	assert_int_equal(corio_cancel(t), 0);
	assert_int_equal(corio_join(t), -ECANCELED);
	assert_true(check_ms_since(t0) < SLACK_MS);
	assert_int_equal(v.r1, -ECANCELED);
	assert_int_equal(v.r2, -ECANCELED);
	assert_int_equal(v.ended, 1);
	return 0;
}

static void test_cancel_sleeping(void **state)
{
	assert_int_equal(check_run(cancel_sleeping_main, NULL), 0);
}

static int cancel_ready_main(void *arg)
{
	struct victim v = { 0 };
	corio_task *t = corio_spawn(victim_task, &v);

	assert_non_null(t);
	assert_int_equal(corio_cancel(t), 0); /* before it ever ran */
	assert_int_equal(v.started, 0);
	/* It still runs (its argument may own resources), and its first
	 * blocking call fails at once. */
	assert_int_equal(corio_join(t), -ECANCELED);
	assert_int_equal(v.started, 1);
	assert_int_equal(v.r1, -ECANCELED);
	assert_int_equal(v.r2, -ECANCELED);
	assert_int_equal(v.ended, 1);
	return 0;
}

static void test_cancel_ready_not_started(void **state)
{
	assert_int_equal(check_run(cancel_ready_main, NULL), 0);
}

/* A task that yields all the time is READY, not waiting, when cancelled. */
static int ready_yielder(void *arg)
{
	int *seen = arg;

	for (int i = 0; i < 1000000; i++) {
		corio_yield();
		if (corio_sleep_ms(0) == -ECANCELED) {
			*seen = i + 1;
			return -ECANCELED;
		}
	}
	return 0;
}

static int cancel_running_main(void *arg)
{
	int seen = 0;
	corio_task *t = corio_spawn(ready_yielder, &seen);

	assert_non_null(t);
	for (int i = 0; i < 5; i++)
		corio_yield();
	assert_int_equal(corio_cancel(t), 0);
	assert_int_equal(corio_join(t), -ECANCELED);
	assert_true(seen > 0);
	return 0;
}

static void test_cancel_ready_yielding(void **state)
{
	assert_int_equal(check_run(cancel_running_main, NULL), 0);
}

struct joinwait {
	struct victim target;
	corio_task   *joiner;
	int           join_r;
	uint64_t      join_returned_ns;
};

static int joiner_task(void *arg)
{
	struct joinwait *jw = arg;
	corio_task *t = corio_spawn(victim_task, &jw->target);

	if (!t)
		return -errno;
	jw->join_r = corio_join(t);
	jw->join_returned_ns = corio_now_ns();
	return jw->join_r;
}

static int cancel_joiner_main(void *arg)
{
	struct joinwait jw;
	corio_task *j;

	memset(&jw, 0, sizeof(jw));
	jw.target.linger_ms = 20;
	j = corio_spawn(joiner_task, &jw);
	assert_non_null(j);
	assert_int_equal(corio_sleep_ms(2), 0);
	assert_int_equal(jw.target.started, 1);
	assert_int_equal(corio_cancel(j), 0);
	assert_int_equal(corio_join(j), -ECANCELED);
	/* The joined task was cancelled too, and the joiner returned only
	 * after it had ended (it lingered 20 ms after the cancel). */
	assert_int_equal(jw.join_r, -ECANCELED);
	assert_int_equal(jw.target.r1, -ECANCELED);
	assert_int_equal(jw.target.ended, 1);
	assert_true(jw.join_returned_ns >= jw.target.ended_ns);
	return 0;
}

static void test_cancel_in_join(void **state)
{
	assert_int_equal(check_run(cancel_joiner_main, NULL), 0);
}

static int ret7(void *arg)
{
	return 7;
}

/* A cancelled task that joins a task which has already finished gets its
 * result: nothing had to wait (as awaiting a done task in asyncio). */
static int joins_finished(void *arg)
{
	corio_task *t = corio_spawn(ret7, NULL);

	if (!t)
		return -errno;
	corio_yield(); /* t runs to its end */
	corio_cancel(corio_current());
	return corio_join(t);
}

static int cancelled_join_done_main(void *arg)
{
	corio_task *t = corio_spawn(joins_finished, NULL);

	assert_non_null(t);
	assert_int_equal(corio_join(t), 7);
	return 0;
}

static void test_cancelled_join_of_finished(void **state)
{
	assert_int_equal(check_run(cancelled_join_done_main, NULL), 0);
}

struct gatherwait {
	struct victim kids[3];
	int           gather_r;
	int           results[3];
	uint64_t      gather_returned_ns;
};

static int gatherer_task(void *arg)
{
	struct gatherwait *gw = arg;
	corio_task *ts[3];

	for (int i = 0; i < 3; i++) {
		ts[i] = corio_spawn(victim_task, &gw->kids[i]);
		if (!ts[i])
			return -errno;
	}
	gw->gather_r = corio_gather(ts, 3, gw->results, 0);
	gw->gather_returned_ns = corio_now_ns();
	return gw->gather_r;
}

static int cancel_gatherer_main(void *arg)
{
	struct gatherwait gw;
	corio_task *g;

	memset(&gw, 0, sizeof(gw));
	gw.kids[0].linger_ms = 5;
	gw.kids[1].linger_ms = 25;
	gw.kids[2].linger_ms = 0;
	g = corio_spawn(gatherer_task, &gw);
	assert_non_null(g);
	assert_int_equal(corio_sleep_ms(2), 0);
	assert_int_equal(corio_cancel(g), 0);
	assert_int_equal(corio_join(g), -ECANCELED);
	assert_int_equal(gw.gather_r, -ECANCELED);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(gw.kids[i].r1, -ECANCELED);
		assert_int_equal(gw.kids[i].ended, 1);
		assert_true(gw.gather_returned_ns >= gw.kids[i].ended_ns);
		/* Every child ended, so every slot holds its result. */
		assert_int_equal(gw.results[i], -ECANCELED);
	}
	return 0;
}

static void test_cancel_in_gather(void **state)
{
	assert_int_equal(check_run(cancel_gatherer_main, NULL), 0);
}

struct selfc {
	int r_cancel, r_sleep, r_sleep0, r_sleep_ns, r_join, r_gather, r_again;
	int yielded;
};

static int self_cancel_task(void *arg)
{
	struct selfc *s = arg;
	corio_task *a, *b[2];

	s->r_cancel = corio_cancel(corio_current());
	s->r_again = corio_cancel(corio_current());
	corio_yield(); /* not a blocking call: still works */
	s->yielded = 1;
	s->r_sleep = corio_sleep_ms(10);
	s->r_sleep0 = corio_sleep_ms(0);
	s->r_sleep_ns = corio_sleep_ns(1000);
	/* Sticky: join and gather of tasks that are not done fail too... */
	a = corio_spawn(ret7, NULL);
	if (!a)
		return -errno;
	s->r_join = corio_join(a);
	b[0] = corio_spawn(ret7, NULL);
	b[1] = corio_spawn(ret7, NULL);
	if (!b[0] || !b[1])
		return -ENOMEM;
	s->r_gather = corio_gather(b, 2, NULL, 0);
	return 0;
}

static int self_cancel_main(void *arg)
{
	corio_task *t = corio_spawn(self_cancel_task, arg);

	assert_non_null(t);
	return corio_join(t);
}

static void test_self_cancel_sticky(void **state)
{
	struct selfc s;
	uint64_t t0 = corio_now_ns();

	memset(&s, 0, sizeof(s));
	assert_int_equal(check_run(self_cancel_main, &s), 0);
	assert_true(check_ms_since(t0) < SLACK_MS);
	assert_int_equal(s.r_cancel, 0);
	assert_int_equal(s.r_again, 0);
	assert_int_equal(s.yielded, 1);
	assert_int_equal(s.r_sleep, -ECANCELED);
	assert_int_equal(s.r_sleep0, -ECANCELED);
	assert_int_equal(s.r_sleep_ns, -ECANCELED);
	assert_int_equal(s.r_join, -ECANCELED);
	assert_int_equal(s.r_gather, -ECANCELED);
}

/* Cancelling main itself: its later blocking calls fail, corio_run
 * returns what main returns. */
static int main_cancels_itself(void *arg)
{
	assert_int_equal(corio_cancel(corio_current()), 0);
	return corio_sleep_ms(1000);
}

static void test_cancel_main(void **state)
{
	uint64_t t0 = corio_now_ns();

	assert_int_equal(check_run(main_cancels_itself, NULL), -ECANCELED);
	assert_true(check_ms_since(t0) < SLACK_MS);
}

static int harmless_main(void *arg)
{
	corio_task *t = corio_spawn(ret7, NULL);
	struct victim v = { 0 };
	corio_task *u;

	assert_non_null(t);
	corio_yield(); /* t is done */
	assert_int_equal(corio_cancel(t), 0);
	assert_int_equal(corio_join(t), 7); /* its result is untouched */

	u = corio_spawn(victim_task, &v);
	assert_non_null(u);
	corio_yield();
	assert_int_equal(corio_cancel(u), 0);
	assert_int_equal(corio_cancel(u), 0);
	assert_int_equal(corio_join(u), -ECANCELED);

	assert_int_equal(corio_cancel(NULL), -EINVAL);
	/* A released handle (joined above, nothing spawned since). */
	assert_int_equal(corio_cancel(u), -EINVAL);
	return 0;
}

static void test_cancel_harmless_and_errors(void **state)
{
	assert_int_equal(check_run(harmless_main, NULL), 0);
}

static void test_cancel_outside_loop(void **state)
{
	assert_int_equal(corio_cancel(NULL), -EPERM);
}

/* A detached task can be cancelled while its handle is still held. */
static int cancel_then_detach_main(void *arg)
{
	struct victim *v = arg;
	corio_task *t = corio_spawn(victim_task, v);

	assert_non_null(t);
	corio_yield();
	assert_int_equal(corio_cancel(t), 0);
	corio_detach(t);
	assert_int_equal(corio_sleep_ms(5), 0);
	assert_int_equal(v->ended, 1);
	return 0;
}

static void test_cancel_then_detach(void **state)
{
	struct victim v = { 0 };

	assert_int_equal(check_run(cancel_then_detach_main, &v), 0);
	assert_int_equal(v.r1, -ECANCELED);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		CHECK_TEST(test_cancel_sleeping),
		CHECK_TEST(test_cancel_ready_not_started),
		CHECK_TEST(test_cancel_ready_yielding),
		CHECK_TEST(test_cancel_in_join),
		CHECK_TEST(test_cancelled_join_of_finished),
		CHECK_TEST(test_cancel_in_gather),
		CHECK_TEST(test_self_cancel_sticky),
		CHECK_TEST(test_cancel_main),
		CHECK_TEST(test_cancel_harmless_and_errors),
		CHECK_TEST(test_cancel_outside_loop),
		CHECK_TEST(test_cancel_then_detach),
	};

	check_init(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
