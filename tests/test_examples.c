/*
 * test_examples.c - the seeds' asyncio examples as tests, with time scaled
 * down: one "second" of the originals is one UNIT here (50 ms). Margins are
 * wide on the slow side; the fast side is exact (a sleep never ends early).
 */
#include <time.h>

#include "check.h"

#define UNIT_MS 50
#define SLACK_MS 150 /* lateness tolerated on top of the expected time */

static check_log out; /* what the original programs print */

static uint64_t elapsed_units_ms(uint64_t t0)
{
	return check_ms_since(t0);
}

/* ------------------------------------------------------------------------
 * 1. say_after: sequential awaits vs. tasks
 * ------------------------------------------------------------------------ */

struct say {
	int         units;
	const char *what;
};

/* async def say_after(delay, what): await asyncio.sleep(delay); print(what) */
static int say_after(void *arg)
{
	struct say *s = arg;
	int r = corio_sleep_ms((uint64_t)s->units * UNIT_MS);

	if (r < 0)
		return r;
	check_log_add(&out, "%s\n", s->what);
	return 0;
}

static int sequential_main(void *arg)
{
	struct say hello = { 1, "hello" }, world = { 2, "world" };
	uint64_t t0 = corio_now_ns();

	/* await say_after(1, 'hello'); await say_after(2, 'world') */
	assert_int_equal(say_after(&hello), 0);
	assert_int_equal(say_after(&world), 0);
	*(uint64_t *)arg = elapsed_units_ms(t0);
	return 0;
}

static void test_sequential_awaits(void **state)
{
	uint64_t ms = 0;

	memset(&out, 0, sizeof(out));
	assert_int_equal(check_run(sequential_main, &ms), 0);
	assert_string_equal(out.buf, "hello\nworld\n");
	/* ~3 units: one after the other. */
	assert_between(ms, 3 * UNIT_MS, 3 * UNIT_MS + SLACK_MS);
}

static int concurrent_main(void *arg)
{
	struct say hello = { 1, "hello" }, world = { 2, "world" };
	uint64_t t0 = corio_now_ns();
	/* task1 = create_task(say_after(1, 'hello')); task2 = ... */
	corio_task *t1 = corio_spawn(say_after, &hello);
	corio_task *t2 = corio_spawn(say_after, &world);

	assert_non_null(t1);
	assert_non_null(t2);
	assert_int_equal(corio_join(t1), 0);
	assert_int_equal(corio_join(t2), 0);
	*(uint64_t *)arg = elapsed_units_ms(t0);
	return 0;
}

static void test_concurrent_tasks(void **state)
{
	uint64_t ms = 0;

	memset(&out, 0, sizeof(out));
	assert_int_equal(check_run(concurrent_main, &ms), 0);
	assert_string_equal(out.buf, "hello\nworld\n");
	/* ~2 units: they overlap. Less than the 3 of the sequential version. */
	assert_between(ms, 2 * UNIT_MS, 3 * UNIT_MS);
}

/* ------------------------------------------------------------------------
 * 2. gather of three greetings
 * ------------------------------------------------------------------------ */

/* async def greet(name): print("Hello"); await asyncio.sleep(1); print(name) */
static int greet(void *arg)
{
	check_log_add(&out, "Hello\n");
	int r = corio_sleep_ms(UNIT_MS);
	if (r < 0)
		return r;
	check_log_add(&out, "%s\n", (const char *)arg);
	return 0;
}

static int greetings_main(void *arg)
{
	static const char *const names[] = { "Alice", "Bob", "Carol" };
	corio_task *ts[3];
	uint64_t t0 = corio_now_ns();

	for (int i = 0; i < 3; i++) {
		ts[i] = corio_spawn(greet, (void *)names[i]);
		assert_non_null(ts[i]);
	}
	assert_int_equal(corio_gather(ts, 3, NULL, 0), 0);
	*(uint64_t *)arg = elapsed_units_ms(t0);
	return 0;
}

static void test_gather_greetings(void **state)
{
	uint64_t ms = 0;

	memset(&out, 0, sizeof(out));
	assert_int_equal(check_run(greetings_main, &ms), 0);
	/* Every "Hello" before any name: all three started before any woke. */
	assert_string_equal(out.buf, "Hello\nHello\nHello\nAlice\nBob\nCarol\n");
	assert_between(ms, UNIT_MS, 2 * UNIT_MS);
}

/* ------------------------------------------------------------------------
 * 3. await order is not completion order
 * ------------------------------------------------------------------------ */

static int work(void *arg)
{
	int units = (int)(intptr_t)arg;
	int r = corio_sleep_ms((uint64_t)units * UNIT_MS);

	if (r < 0)
		return r;
	check_log_add(&out, "finished %d\n", units);
	return units * 10;
}

static int reverse_main(void *arg)
{
	corio_task *t1 = corio_spawn(work, (void *)1);
	corio_task *t2 = corio_spawn(work, (void *)2);
	uint64_t t0 = corio_now_ns();

	assert_non_null(t1);
	assert_non_null(t2);
	/* Await the slow one first. */
	assert_int_equal(corio_join(t2), 20);
	check_log_add(&out, "joined 2\n");
	assert_int_equal(corio_join(t1), 10); /* long finished: no wait */
	check_log_add(&out, "joined 1\n");
	*(uint64_t *)arg = elapsed_units_ms(t0);
	return 0;
}

static void test_join_order_is_not_finish_order(void **state)
{
	uint64_t ms = 0;

	memset(&out, 0, sizeof(out));
	assert_int_equal(check_run(reverse_main, &ms), 0);
	assert_string_equal(out.buf, "finished 1\nfinished 2\njoined 2\njoined 1\n");
	assert_between(ms, 2 * UNIT_MS, 3 * UNIT_MS);
}

/* ------------------------------------------------------------------------
 * 4. gather: first error at once vs. return_exceptions=True
 * ------------------------------------------------------------------------ */

/* Sleeps arg/10 units, then returns arg, or -EIO for a negative arg. */
static int maybe_fail(void *arg)
{
	int v = (int)(intptr_t)arg;
	int tenths = v < 0 ? -v : v;
	int r = corio_sleep_ms((uint64_t)tenths * UNIT_MS / 10);

	if (r < 0)
		return r;
	return v < 0 ? -EIO : v;
}

struct errs {
	int      r_first, r_all;
	int      res_first[3], res_all[3];
	uint64_t ms_first, ms_all;
};

static int errors_main(void *arg)
{
	struct errs *e = arg;
	corio_task *ts[3];
	uint64_t t0;

	/* 1 unit ok, 0.2 units fail, 2 units ok */
	ts[0] = corio_spawn(maybe_fail, (void *)10);
	ts[1] = corio_spawn(maybe_fail, (void *)-2);
	ts[2] = corio_spawn(maybe_fail, (void *)20);
	t0 = corio_now_ns();
	e->r_first = corio_gather(ts, 3, e->res_first, 0);
	e->ms_first = elapsed_units_ms(t0);

	ts[0] = corio_spawn(maybe_fail, (void *)10);
	ts[1] = corio_spawn(maybe_fail, (void *)-2);
	ts[2] = corio_spawn(maybe_fail, (void *)20);
	t0 = corio_now_ns();
	e->r_all = corio_gather(ts, 3, e->res_all, CORIO_GATHER_ALL);
	e->ms_all = elapsed_units_ms(t0);
	return 0;
}

static void test_gather_errors(void **state)
{
	struct errs e;

	memset(&e, 0, sizeof(e));
	assert_int_equal(check_run(errors_main, &e), 0);
	/* Default: the first error, as soon as it happens (0.2 units). */
	assert_int_equal(e.r_first, -EIO);
	assert_int_equal(e.res_first[1], -EIO);
	assert_int_equal(e.res_first[0], -EINPROGRESS);
	assert_int_equal(e.res_first[2], -EINPROGRESS);
	assert_between(e.ms_first, UNIT_MS / 5, UNIT_MS);
	/* CORIO_GATHER_ALL: every result, errors included, after the slowest. */
	assert_int_equal(e.r_all, 0);
	assert_int_equal(e.res_all[0], 10);
	assert_int_equal(e.res_all[1], -EIO);
	assert_int_equal(e.res_all[2], 20);
	assert_between(e.ms_all, 2 * UNIT_MS, 2 * UNIT_MS + SLACK_MS);
}

/* ------------------------------------------------------------------------
 * 5. a chain: get_temperature -> wear_jacket
 * ------------------------------------------------------------------------ */

struct city {
	const char *name;
	int         true_temp;
	int         temp;
	int         jacket;
};

/* A temperature may be negative, so it travels in memory and the result
 * stays free for errors. */
static int get_temperature(struct city *c, int *temp)
{
	int r = corio_sleep_ms(UNIT_MS); /* "asks a weather service" */

	if (r < 0)
		return r;
	*temp = c->true_temp;
	return 0;
}

static int wear_jacket(int temp)
{
	int r = corio_sleep_ms(UNIT_MS); /* "thinks about it" */

	return r < 0 ? r : temp < 15;
}

static int chain(void *arg)
{
	struct city *c = arg;
	int t, r = get_temperature(c, &t);

	if (r < 0)
		return r;
	c->temp = t;
	c->jacket = wear_jacket(t);
	check_log_add(&out, "%s:%d:%s\n", c->name, t, c->jacket ? "jacket" : "no jacket");
	return c->jacket;
}

static int chain_main(void *arg)
{
	struct city *cities = arg;
	corio_task *ts[3];
	int res[3];
	uint64_t t0 = corio_now_ns();

	for (int i = 0; i < 3; i++) {
		ts[i] = corio_spawn(chain, &cities[i]);
		assert_non_null(ts[i]);
	}
	assert_int_equal(corio_gather(ts, 3, res, 0), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(res[i], cities[i].jacket);
	/* Three chains of two steps each, concurrently: ~2 units, not 6. */
	assert_between(elapsed_units_ms(t0), 2 * UNIT_MS, 3 * UNIT_MS);
	return 0;
}

static void test_chain(void **state)
{
	struct city cities[3] = {
		{ .name = "Oslo", .true_temp = 4 },
		{ .name = "Lisbon", .true_temp = 22 },
		{ .name = "Tromso", .true_temp = -5 },
	};

	memset(&out, 0, sizeof(out));
	assert_int_equal(check_run(chain_main, cities), 0);
	assert_int_equal(cities[0].temp, 4);
	assert_int_equal(cities[0].jacket, 1);
	assert_int_equal(cities[1].temp, 22);
	assert_int_equal(cities[1].jacket, 0);
	assert_int_equal(cities[2].temp, -5);
	assert_int_equal(cities[2].jacket, 1);
	assert_string_equal(out.buf, "Oslo:4:jacket\nLisbon:22:no jacket\nTromso:-5:jacket\n");
}

/* ------------------------------------------------------------------------
 * 6. the mistake: a blocking call stalls every task
 * ------------------------------------------------------------------------ */

struct stall {
	int      stop;
	int      ticks;
	uint64_t last_tick_ns;
	uint64_t max_gap_ns;
	int      ticks_before, ticks_after;
	uint64_t blocked_ns;
};

/* Ticks every 10 ms and records the longest gap between two ticks. */
static int ticker(void *arg)
{
	struct stall *s = arg;

	s->last_tick_ns = corio_now_ns();
	while (!s->stop) {
		if (corio_sleep_ms(10) < 0)
			return -ECANCELED;
		uint64_t now = corio_now_ns();
		if (now - s->last_tick_ns > s->max_gap_ns)
			s->max_gap_ns = now - s->last_tick_ns;
		s->last_tick_ns = now;
		s->ticks++;
	}
	return 0;
}

/* time.sleep(2) inside a coroutine: the thread sleeps, the loop with it. */
static int blocker(void *arg)
{
	struct stall *s = arg;
	struct timespec ts = { 0, 2 * UNIT_MS * 1000000L };
	uint64_t t0;

	if (corio_sleep_ms(35) < 0) /* let the ticker get going */
		return -1;
	s->ticks_before = s->ticks;
	t0 = corio_now_ns();
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	s->blocked_ns = corio_now_ns() - t0;
	s->ticks_after = s->ticks;
	/* The right way: corio_sleep_ms lets the ticker run. */
	if (corio_sleep_ms(35) < 0)
		return -1;
	s->stop = 1;
	return 0;
}

static int stall_main(void *arg)
{
	corio_task *tk = corio_spawn(ticker, arg);
	corio_task *bl = corio_spawn(blocker, arg);

	assert_non_null(tk);
	assert_non_null(bl);
	assert_int_equal(corio_join(bl), 0);
	assert_int_equal(corio_join(tk), 0);
	return 0;
}

static void test_blocking_call_stalls_everyone(void **state)
{
	struct stall s;

	memset(&s, 0, sizeof(s));
	assert_int_equal(check_run(stall_main, &s), 0);
	assert_true(s.ticks_before >= 1);
	assert_true(s.blocked_ns >= 2 * UNIT_MS * 1000000ull);
	/* The stall, shown: not a single tick while nanosleep held the
	 * thread, although ten were due... */
	assert_int_equal(s.ticks_after, s.ticks_before);
	assert_true(s.max_gap_ns >= 2 * UNIT_MS * 1000000ull);
	/* ...and the ticker ran again once the loop got the thread back. */
	assert_true(s.ticks > s.ticks_after);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		CHECK_TEST(test_sequential_awaits),
		CHECK_TEST(test_concurrent_tasks),
		CHECK_TEST(test_gather_greetings),
		CHECK_TEST(test_join_order_is_not_finish_order),
		CHECK_TEST(test_gather_errors),
		CHECK_TEST(test_chain),
		CHECK_TEST(test_blocking_call_stalls_everyone),
	};

	check_init(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
