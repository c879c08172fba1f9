/*
 * test_sleep.c - corio_sleep_ms, corio_sleep_ns, corio_yield: wake order,
 * durations (wide margins), zero and huge durations, many sleepers, yield
 * fairness, and a yielding task not starving a sleeper.
 */
#include "check.h"

/* Generous: the machine may be loaded, and sanitizers slow everything
 * (ThreadSanitizer most: CHECK_TIME_SCALE widens it there). Only upper
 * bounds carry it; lower bounds stay exact. */
#define SLACK_MS (200 * CHECK_TIME_SCALE)

static check_log order_log;

static int sleep_and_log(void *arg)
{
	int ms = (int)(intptr_t)arg;
	/* Scaled under valgrind and TSan, so that the few ms between
	 * two wake-ups stay wider than the time to start six tasks. */
	int r = corio_sleep_ms((uint64_t)ms * CHECK_TIME_SCALE);

	check_log_add(&order_log, "%d ", ms);
	return r;
}

static int order_main(void *arg)
{
	static const int ms[] = { 30, 10, 20, 1, 25, 5 };
	corio_task *ts[6];
	int res[6];

	memset(&order_log, 0, sizeof(order_log));
	for (int i = 0; i < 6; i++) {
		ts[i] = corio_spawn(sleep_and_log, (void *)(intptr_t)ms[i]);
		assert_non_null(ts[i]);
	}
	assert_int_equal(corio_gather(ts, 6, res, 0), 0);
	for (int i = 0; i < 6; i++)
		assert_int_equal(res[i], 0);
	assert_string_equal(order_log.buf, "1 5 10 20 25 30 ");
	return 0;
}

static void test_wake_order(void **state)
{
	assert_int_equal(check_run(order_main, NULL), 0);
}

/* Two sleepers with the same deadline wake in the order they slept. */
static int sleep10_and_log(void *arg)
{
	int r = corio_sleep_ms(10);

	check_log_add(&order_log, "%s", (const char *)arg);
	return r;
}

static int same_deadline_main(void *arg)
{
	static const char *const names[] = { "a", "b", "c", "d", "e", "f" };
	corio_task *ts[6];

	memset(&order_log, 0, sizeof(order_log));
	for (int i = 0; i < 6; i++) {
		ts[i] = corio_spawn(sleep10_and_log, (void *)names[i]);
		assert_non_null(ts[i]);
	}
	assert_int_equal(corio_gather(ts, 6, NULL, 0), 0);
	assert_string_equal(order_log.buf, "abcdef");
	return 0;
}

static void test_same_deadline(void **state)
{
	assert_int_equal(check_run(same_deadline_main, NULL), 0);
}

static int flag_task(void *arg)
{
	(*(int *)arg)++;
	return 0;
}

static int zero_main(void *arg)
{
	int flag = 0;
	corio_task *t = corio_spawn(flag_task, &flag);

	assert_non_null(t);
	/* sleep(0) is a yield: the ready task runs before we come back. */
	assert_int_equal(corio_sleep_ms(0), 0);
	assert_int_equal(flag, 1);
	t = corio_spawn(flag_task, &flag);
	assert_non_null(t);
	corio_detach(t);
	assert_int_equal(corio_sleep_ns(0), 0);
	assert_int_equal(flag, 2);
	t = corio_spawn(flag_task, &flag);
	assert_non_null(t);
	corio_detach(t);
	corio_yield();
	assert_int_equal(flag, 3);
	/* Alone, each of them returns at once. */
	uint64_t t0 = corio_now_ns();
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(corio_sleep_ms(0), 0);
		corio_yield();
	}
	assert_true(check_ms_since(t0) < 1000 * CHECK_TIME_SCALE);
	return 0;
}

static void test_sleep_zero_yields(void **state)
{
	assert_int_equal(check_run(zero_main, NULL), 0);
}

static int duration_main(void *arg)
{
	static const uint64_t ms[] = { 1, 5, 20, 40 };
	uint64_t t0, el;

	for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
		t0 = corio_now_ns();
		assert_int_equal(corio_sleep_ms(ms[i]), 0);
		el = corio_now_ns() - t0;
		assert_between(el / 1000, ms[i] * 1000, (ms[i] + SLACK_MS) * 1000);
	}
	t0 = corio_now_ns();
	assert_int_equal(corio_sleep_ns(15 * 1000000ull + 123), 0);
	el = corio_now_ns() - t0;
	assert_between(el, 15 * 1000000ull + 123, (15 + SLACK_MS) * 1000000ull);
	/* A sub-millisecond sleep still sleeps at least that long. */
	t0 = corio_now_ns();
	assert_int_equal(corio_sleep_ns(300 * 1000), 0);
	el = corio_now_ns() - t0;
	assert_between(el, 300 * 1000, SLACK_MS * 1000000ull);
	return 0;
}

static void test_durations(void **state)
{
	assert_int_equal(check_run(duration_main, NULL), 0);
}

/* Sleeping task measured from outside: the loop, not just the task, sleeps. */
static int concurrent_sleeps_main(void *arg)
{
	corio_task *ts[3];
	uint64_t t0 = corio_now_ns();

	for (int i = 0; i < 3; i++) {
		ts[i] = corio_spawn(sleep_and_log, (void *)(intptr_t)30);
		assert_non_null(ts[i]);
	}
	assert_int_equal(corio_gather(ts, 3, NULL, 0), 0);
	/* Concurrent, not one after the other (that would take 90 ms). The
	 * sleeps are scaled with the bound (sleep_and_log), so that it still
	 * tells the two apart under valgrind and TSan. */
	assert_between(check_ms_since(t0), 30 * CHECK_TIME_SCALE, 85 * CHECK_TIME_SCALE);
	return 0;
}

static void test_sleeps_overlap(void **state)
{
	memset(&order_log, 0, sizeof(order_log));
	assert_int_equal(check_run(concurrent_sleeps_main, NULL), 0);
}

struct huge {
	int      r_ms, r_ns;
	uint64_t at;
};

static int huge_ms_task(void *arg)
{
	struct huge *h = arg;

	h->r_ms = corio_sleep_ms(UINT64_MAX);
	return h->r_ms;
}

static int huge_ns_task(void *arg)
{
	struct huge *h = arg;

	h->r_ns = corio_sleep_ns(UINT64_MAX);
	h->at = corio_now_ns();
	return h->r_ns;
}

static int big_ms_task(void *arg)
{
	/* 2^63 ns in ms: overflows a naive ms * 1e6. */
	return corio_sleep_ms(UINT64_MAX / 1000 + 7);
}

static int huge_main(void *arg)
{
	struct huge *h = arg;
	corio_task *a = corio_spawn(huge_ms_task, h);
	corio_task *b = corio_spawn(huge_ns_task, h);
	corio_task *c = corio_spawn(big_ms_task, h);
	corio_task *d = corio_spawn(sleep_and_log, (void *)(intptr_t)5);
	uint64_t t0;

	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	assert_non_null(d);
	/* A huge sleep must not make the loop wait forever (or spin): the
	 * 5 ms sleeper still wakes on time. */
	t0 = corio_now_ns();
	assert_int_equal(corio_join(d), 0);
	assert_between(check_ms_since(t0), 5, 5 + SLACK_MS);
	/* None of the huge ones woke early (an overflowed deadline would). */
	assert_int_equal(h->r_ms, 1);
	assert_int_equal(h->r_ns, 1);
	t0 = corio_now_ns();
	assert_int_equal(corio_cancel(a), 0);
	assert_int_equal(corio_cancel(b), 0);
	assert_int_equal(corio_cancel(c), 0);
	assert_int_equal(corio_join(a), -ECANCELED);
	assert_int_equal(corio_join(b), -ECANCELED);
	assert_int_equal(corio_join(c), -ECANCELED);
	assert_true(h->at - t0 < SLACK_MS * 1000000ull);
	return 0;
}

static void test_huge_sleep_cancelled(void **state)
{
	struct huge h = { 1, 1, 0 };

	memset(&order_log, 0, sizeof(order_log));
	assert_int_equal(check_run(huge_main, &h), 0);
	assert_int_equal(h.r_ms, -ECANCELED);
	assert_int_equal(h.r_ns, -ECANCELED);
}

#define SLEEPERS 1000

static int count_sleeper(void *arg)
{
	int i = (int)(intptr_t)arg;
	int r = corio_sleep_ms((uint64_t)(1 + i % 20));

	return r < 0 ? r : i;
}

static int many_sleepers_main(void *arg)
{
	corio_task **ts = malloc(SLEEPERS * sizeof(*ts));
	int *res = malloc(SLEEPERS * sizeof(*res));
	uint64_t t0 = corio_now_ns();
	corio_stats st;

	assert_non_null(ts);
	assert_non_null(res);
	for (int i = 0; i < SLEEPERS; i++) {
		ts[i] = corio_spawn(count_sleeper, (void *)(intptr_t)i);
		assert_non_null(ts[i]);
	}
	assert_int_equal(corio_gather(ts, SLEEPERS, res, 0), 0);
	for (int i = 0; i < SLEEPERS; i++)
		assert_int_equal(res[i], i);
	assert_between(check_ms_since(t0), 20, 20 + SLACK_MS);
	assert_int_equal(corio_loop_stats(&st), 0);
	assert_true(st.timers_fired >= SLEEPERS);
	free(ts);
	free(res);
	return 0;
}

static void test_many_sleepers(void **state)
{
	assert_int_equal(check_run(many_sleepers_main, NULL), 0);
}

static check_log pingpong;

static int pinger(void *arg)
{
	for (int i = 0; i < 200; i++) {
		check_log_add(&pingpong, "%s", (const char *)arg);
		corio_yield();
	}
	return 0;
}

static int fairness_main(void *arg)
{
	corio_task *a = corio_spawn(pinger, "A");
	corio_task *b = corio_spawn(pinger, "B");
	char want[401];

	assert_non_null(a);
	assert_non_null(b);
	memset(&pingpong, 0, sizeof(pingpong));
	assert_int_equal(corio_join(a), 0);
	assert_int_equal(corio_join(b), 0);
	for (int i = 0; i < 400; i++)
		want[i] = i % 2 ? 'B' : 'A';
	want[400] = '\0';
	/* Strict alternation, also across the loop turns the batch forces. */
	assert_string_equal(pingpong.buf, want);
	return 0;
}

static void test_yield_fairness(void **state)
{
	corio_config cfg = { 0 };

	assert_int_equal(check_run(fairness_main, NULL), 0);
	cfg.batch = 3; /* back to the loop every 3 handoffs */
	assert_int_equal(check_run_config(&cfg, fairness_main, NULL), 0);
	cfg.batch = 1;
	assert_int_equal(check_run_config(&cfg, fairness_main, NULL), 0);
}

struct starve {
	int      woke;
	uint64_t slept_ms;
	long     spins;
};

static int busy_yielder(void *arg)
{
	struct starve *s = arg;
	uint64_t t0 = corio_now_ns();

	/* Bounded, so a starving loop fails the test instead of hanging it. */
	while (!s->woke && corio_now_ns() - t0 < 3000 * 1000000ull) {
		s->spins++;
		corio_yield();
	}
	return 0;
}

static int starved_sleeper(void *arg)
{
	struct starve *s = arg;
	uint64_t t0 = corio_now_ns();
	int r = corio_sleep_ms(10);

	s->slept_ms = check_ms_since(t0);
	s->woke = 1;
	return r;
}

static int starve_main(void *arg)
{
	struct starve *s = arg;
	corio_task *y1 = corio_spawn(busy_yielder, s);
	corio_task *y2 = corio_spawn(busy_yielder, s);
	corio_task *sl = corio_spawn(starved_sleeper, s);

	assert_non_null(y1);
	assert_non_null(y2);
	assert_non_null(sl);
	assert_int_equal(corio_join(sl), 0);
	assert_int_equal(corio_join(y1), 0);
	assert_int_equal(corio_join(y2), 0);
	return 0;
}

static void test_yield_does_not_starve_sleeper(void **state)
{
	struct starve s = { 0 };

	assert_int_equal(check_run(starve_main, &s), 0);
	assert_int_equal(s.woke, 1);
	assert_between(s.slept_ms, 10, 10 + SLACK_MS);
	assert_true(s.spins > 0);
}

static void test_outside_loop(void **state)
{
	assert_int_equal(corio_sleep_ms(1), -EPERM);
	assert_int_equal(corio_sleep_ns(1), -EPERM);
	assert_int_equal(corio_sleep_ms(0), -EPERM);
	corio_yield(); /* does nothing */
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		CHECK_TEST(test_wake_order),
		CHECK_TEST(test_same_deadline),
		CHECK_TEST(test_sleep_zero_yields),
		CHECK_TEST(test_durations),
		CHECK_TEST(test_sleeps_overlap),
		CHECK_TEST(test_huge_sleep_cancelled),
		CHECK_TEST(test_many_sleepers),
		CHECK_TEST(test_yield_fairness),
		CHECK_TEST(test_yield_does_not_starve_sleeper),
		CHECK_TEST(test_outside_loop),
	};

	check_init(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
