/*
 * test_task.c - tasks: spawn, join, detach, corio_current, names and ids,
 * spawn attributes, misuse errors, counters, per-task FP control state,
 * recursion depth.
 */
#include <pthread.h>
#include <sys/resource.h>

#include "check.h"

static int ret_arg(void *arg)
{
	return (int)(intptr_t)arg;
}

static int sleep_then_ret(void *arg)
{
	int r = corio_sleep_ms(5);

	return r < 0 ? r : (int)(intptr_t)arg;
}

/* ------------------------------------------------------------------------
 * spawn, join, detach
 * ------------------------------------------------------------------------ */

static int join_main(void *arg)
{
	corio_task *a = corio_spawn(ret_arg, (void *)(intptr_t)11);
	corio_task *b = corio_spawn(ret_arg, (void *)(intptr_t)-EIO);
	corio_task *c = corio_spawn(sleep_then_ret, (void *)(intptr_t)13);

	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	assert_int_equal(corio_join(c), 13);
	assert_int_equal(corio_join(a), 11);
	assert_int_equal(corio_join(b), -EIO);
	return 0;
}

static void test_spawn_join_result(void **state)
{
	assert_int_equal(check_run(join_main, NULL), 0);
}

static check_log fifo_log;

static int fifo_task(void *arg)
{
	check_log_add(&fifo_log, "%s", (const char *)arg);
	return 0;
}

static int fifo_main(void *arg)
{
	static const char *const names[] = { "A", "B", "C", "D", "E" };
	corio_task *ts[5];

	memset(&fifo_log, 0, sizeof(fifo_log));
	for (int i = 0; i < 5; i++) {
		ts[i] = corio_spawn(fifo_task, (void *)names[i]);
		assert_non_null(ts[i]);
	}
	/* Nothing runs before the spawner suspends. */
	assert_string_equal(fifo_log.buf, "");
	corio_yield();
	/* One suspension: every one of them ran, in spawn order. */
	assert_string_equal(fifo_log.buf, "ABCDE");
	/* Join in another order: the results do not care. */
	for (int i = 5; i-- > 0;)
		assert_int_equal(corio_join(ts[i]), 0);
	return 0;
}

static void test_fifo_start_order(void **state)
{
	assert_int_equal(check_run(fifo_main, NULL), 0);
}

static int finished_main(void *arg)
{
	corio_task *t = corio_spawn(ret_arg, (void *)(intptr_t)-ENOENT);

	assert_non_null(t);
	corio_yield();
	corio_yield();
	assert_int_equal(corio_join(t), -ENOENT);
	return 0;
}

static void test_join_finished(void **state)
{
	assert_int_equal(check_run(finished_main, NULL), 0);
}

static int detached_ran;

static int detached_task(void *arg)
{
	if (corio_sleep_ms(2) == 0)
		detached_ran++;
	return -EIO; /* nobody sees it: fine */
}

static int detach_main(void *arg)
{
	for (int i = 0; i < 10; i++) {
		corio_task *t = corio_spawn(detached_task, NULL);
		assert_non_null(t);
		corio_detach(t);
	}
	corio_detach(NULL); /* harmless */
	assert_int_equal(corio_sleep_ms(30), 0);
	assert_int_equal(detached_ran, 10);
	return 0;
}

static void test_detach(void **state)
{
	detached_ran = 0;
	assert_int_equal(check_run(detach_main, NULL), 0);
	assert_int_equal(detached_ran, 10);
}

/* Under ThreadSanitizer every live task is a fiber, one of its thread
 * contexts, of which it has 8128 at most: fewer tasks there. */
#if CHECK_TSAN
#define MANY 2000
#else
#define MANY 10000
#endif

static int many_main(void *arg)
{
	corio_task **ts = malloc(MANY * sizeof(*ts));
	corio_stats st;
	long sum = 0;

	assert_non_null(ts);
	for (int i = 0; i < MANY; i++) {
		ts[i] = corio_spawn(ret_arg, (void *)(intptr_t)i);
		assert_non_null(ts[i]);
	}
	assert_int_equal(corio_loop_stats(&st), 0);
	assert_int_equal(st.tasks_alive, MANY + 1);
	for (int i = 0; i < MANY; i++)
		sum += corio_join(ts[i]);
	assert_int_equal(sum, (long)MANY * (MANY - 1) / 2);
	/* And again, one at a time, through the pools. */
	for (int i = 0; i < MANY; i++) {
		corio_task *t = corio_spawn(ret_arg, (void *)(intptr_t)i);
		assert_non_null(t);
		assert_int_equal(corio_join(t), i);
	}
	free(ts);
	return 0;
}

static void test_many_tasks(void **state)
{
	assert_int_equal(check_run(many_main, NULL), 0);
}

/* ------------------------------------------------------------------------
 * corio_current, names, ids
 * ------------------------------------------------------------------------ */

struct cur {
	corio_task *handle;
	corio_task *seen;
};

static int current_task(void *arg)
{
	struct cur *c = arg;

	c->seen = corio_current();
	return 0;
}

static int current_main(void *arg)
{
	struct cur c = { 0 };
	corio_task *self = corio_current();

	assert_non_null(self);
	assert_string_equal(corio_task_name(self), "main");
	c.handle = corio_spawn(current_task, &c);
	assert_non_null(c.handle);
	assert_ptr_not_equal(c.handle, self);
	corio_yield();
	assert_ptr_equal(c.seen, c.handle);
	assert_ptr_equal(corio_current(), self);
	assert_int_equal(corio_join(c.handle), 0);
	return 0;
}

static void test_current(void **state)
{
	assert_null(corio_current());
	assert_int_equal(check_run(current_main, NULL), 0);
	assert_null(corio_current());
}

static int names_main(void *arg)
{
	const char *long_name = "0123456789abcdefghijklmnopqrstuvwxyzABCDEF"; /* 42 bytes */
	corio_spawn_attr attr = { 0 };
	corio_task *t, *u;
	char want[64];

	t = corio_spawn(ret_arg, NULL);
	assert_non_null(t);
	snprintf(want, sizeof(want), "task-%llu", (unsigned long long)corio_task_id(t));
	assert_string_equal(corio_task_name(t), want);

	assert_int_equal(corio_task_set_name(t, "worker"), 0);
	assert_string_equal(corio_task_name(t), "worker");
	assert_int_equal(corio_task_set_name(t, long_name), 0);
	assert_int_equal(strlen(corio_task_name(t)), 31);
	assert_memory_equal(corio_task_name(t), long_name, 31);
	assert_int_equal(corio_task_set_name(t, ""), 0);
	/* An empty name falls back to the default. */
	assert_string_equal(corio_task_name(t), want);

	assert_int_equal(corio_task_set_name(NULL, "x"), -EINVAL);
	assert_int_equal(corio_task_set_name(t, NULL), -EINVAL);
	assert_string_equal(corio_task_name(NULL), "");
	assert_int_equal(corio_task_id(NULL), 0);

	attr.name = long_name;
	u = corio_spawn_ex(ret_arg, NULL, &attr);
	assert_non_null(u);
	assert_int_equal(strlen(corio_task_name(u)), 31);
	assert_memory_equal(corio_task_name(u), long_name, 31);
	/* A task may rename itself while it runs. */
	assert_int_equal(corio_task_set_name(corio_current(), "renamed-main"), 0);
	assert_string_equal(corio_task_name(corio_current()), "renamed-main");

	assert_int_equal(corio_join(t), 0);
	assert_int_equal(corio_join(u), 0);
	return 0;
}

static void test_names(void **state)
{
	assert_int_equal(check_run(names_main, NULL), 0);
}

#define NIDS 300

static int ids_main(void *arg)
{
	corio_task *ts[NIDS];
	uint64_t ids[NIDS];
	uint64_t self = corio_task_id(corio_current());

	assert_true(self > 0);
	for (int i = 0; i < NIDS; i++) {
		ts[i] = corio_spawn(ret_arg, NULL);
		assert_non_null(ts[i]);
		ids[i] = corio_task_id(ts[i]);
		assert_true(ids[i] > 0);
		assert_true(ids[i] != self);
		/* Half of them are finished and recycled before the next spawn:
		 * ids stay unique even when task structs are reused. */
		if (i % 2) {
			assert_int_equal(corio_join(ts[i]), 0);
			ts[i] = NULL;
		}
	}
	for (int i = 0; i < NIDS; i++)
		for (int j = i + 1; j < NIDS; j++)
			assert_true(ids[i] != ids[j]);
	for (int i = 0; i < NIDS; i++)
		if (ts[i])
			assert_int_equal(corio_join(ts[i]), 0);
	return 0;
}

static void test_ids_unique(void **state)
{
	assert_int_equal(check_run(ids_main, NULL), 0);
}

/* ------------------------------------------------------------------------
 * spawn attributes and spawn errors
 * ------------------------------------------------------------------------ */

static int __attribute__((noinline)) big_frame(void *arg)
{
	volatile char buf[128 * 1024];

	for (size_t i = 0; i < sizeof(buf); i += 512)
		buf[i] = (char)i;
	buf[1] = 1;
	buf[sizeof(buf) - 1] = 1;
	/* Still fine after a suspension with the frame in use. */
	if (corio_sleep_ms(1) < 0)
		return -1;
	return buf[1] + buf[sizeof(buf) - 1];
}

static int stack_attr_main(void *arg)
{
	corio_spawn_attr attr = { .stack_size = 256 * 1024, .name = "big" };
	corio_task *t, *u;

	t = corio_spawn_ex(big_frame, NULL, &attr);
	assert_non_null(t);
	assert_string_equal(corio_task_name(t), "big");
	/* Odd sizes are rounded up to pages. */
	attr.stack_size = 200 * 1024 + 1;
	attr.name = NULL;
	u = corio_spawn_ex(big_frame, NULL, &attr);
	assert_non_null(u);
	assert_int_equal(corio_join(t), 2);
	assert_int_equal(corio_join(u), 2);

	/* Absurd sizes are refused. */
	errno = 0;
	attr.stack_size = ((size_t)1 << 30) + 1;
	assert_null(corio_spawn_ex(ret_arg, NULL, &attr));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	attr.stack_size = SIZE_MAX;
	assert_null(corio_spawn_ex(ret_arg, NULL, &attr));
	assert_int_equal(errno, EINVAL);

	/* A NULL attr and a zeroed one mean the defaults. */
	t = corio_spawn_ex(ret_arg, (void *)3, NULL);
	assert_non_null(t);
	memset(&attr, 0, sizeof(attr));
	u = corio_spawn_ex(ret_arg, (void *)4, &attr);
	assert_non_null(u);
	assert_int_equal(corio_join(t) + corio_join(u), 7);
	return 0;
}

static void test_spawn_stack_size(void **state)
{
	assert_int_equal(check_run(stack_attr_main, NULL), 0);
}

static int spawn_null_main(void *arg)
{
	errno = 0;
	assert_null(corio_spawn(NULL, NULL));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(corio_spawn_ex(NULL, NULL, NULL));
	assert_int_equal(errno, EINVAL);
	return 0;
}

static void test_spawn_errors(void **state)
{
	corio_spawn_attr attr = { 0 };

	errno = 0;
	assert_null(corio_spawn(ret_arg, NULL));
	assert_int_equal(errno, EPERM);
	errno = 0;
	assert_null(corio_spawn_ex(ret_arg, NULL, &attr));
	assert_int_equal(errno, EPERM);
	assert_int_equal(check_run(spawn_null_main, NULL), 0);
}

/* ------------------------------------------------------------------------
 * join errors
 * ------------------------------------------------------------------------ */

static int join_self_task(void *arg)
{
	return corio_join(corio_current());
}

struct two_joiners {
	corio_task *target;
	int         target_done;
	int         r1, r2;
	int         done_when_r1, done_when_r2;
};

static int joined_target(void *arg)
{
	struct two_joiners *tj = arg;
	int r = corio_sleep_ms(5);

	tj->target_done = 1;
	return r < 0 ? r : 9;
}

static int first_joiner(void *arg)
{
	struct two_joiners *tj = arg;

	tj->r1 = corio_join(tj->target);
	tj->done_when_r1 = tj->target_done;
	return 0;
}

static int second_joiner(void *arg)
{
	struct two_joiners *tj = arg;

	tj->r2 = corio_join(tj->target);
	tj->done_when_r2 = tj->target_done;
	return 0;
}

static int join_errors_main(void *arg)
{
	struct two_joiners tj = { 0 };
	corio_task *t, *j1, *j2;

	assert_int_equal(corio_join(NULL), -EINVAL);

	t = corio_spawn(ret_arg, (void *)5);
	assert_non_null(t);
	assert_int_equal(corio_join(t), 5);
	assert_int_equal(corio_join(t), -EINVAL); /* twice */

	t = corio_spawn(ret_arg, (void *)6);
	assert_non_null(t);
	corio_detach(t);
	assert_int_equal(corio_join(t), -EINVAL); /* detached */

	assert_int_equal(corio_join(corio_current()), -EDEADLK);
	t = corio_spawn(join_self_task, NULL);
	assert_non_null(t);
	assert_int_equal(corio_join(t), -EDEADLK);

	/* Two joiners: the second is refused at once, the first gets the result. */
	tj.target = corio_spawn(joined_target, &tj);
	assert_non_null(tj.target);
	j1 = corio_spawn(first_joiner, &tj);
	j2 = corio_spawn(second_joiner, &tj);
	assert_non_null(j1);
	assert_non_null(j2);
	assert_int_equal(corio_join(j2), 0);
	assert_int_equal(tj.r2, -EBUSY);
	assert_int_equal(tj.done_when_r2, 0); /* refused at once, no waiting */
	assert_int_equal(corio_join(j1), 0);
	assert_int_equal(tj.r1, 9);
	assert_int_equal(tj.done_when_r1, 1);
	/* j1 consumed the handle. */
	assert_int_equal(corio_join(tj.target), -EINVAL);
	return 0;
}

static void test_join_errors(void **state)
{
	assert_int_equal(corio_join(NULL), -EPERM);
	assert_int_equal(check_run(join_errors_main, NULL), 0);
}

/* A handle from a dead loop is not joinable from outside either. */
static corio_task *leaked_handle;

static int leak_handle_main(void *arg)
{
	leaked_handle = corio_spawn(ret_arg, NULL);
	return leaked_handle ? 0 : -errno;
}

static void test_join_outside_loop(void **state)
{
	assert_int_equal(check_run(leak_handle_main, NULL), 0);
	/* The loop is gone, so this is "outside a loop": -EPERM, nothing touched. */
	assert_int_equal(corio_join(leaked_handle), -EPERM);
	assert_int_equal(corio_cancel(leaked_handle), -EPERM);
	corio_detach(leaked_handle);
	leaked_handle = NULL;
}

/* ------------------------------------------------------------------------
 * Counters
 * ------------------------------------------------------------------------ */

static int stats_main(void *arg)
{
	corio_stats a, b;
	corio_task *ts[10];

	assert_int_equal(corio_loop_stats(NULL), -EINVAL);
	assert_int_equal(corio_loop_stats(&a), 0);
	assert_int_equal(a.tasks_alive, 1);
	assert_true(a.tasks_spawned >= 1);
	assert_true(a.stacks_mapped >= 1);
	for (int i = 0; i < 10; i++) {
		ts[i] = corio_spawn(sleep_then_ret, NULL);
		assert_non_null(ts[i]);
	}
	assert_int_equal(corio_loop_stats(&b), 0);
	assert_int_equal(b.tasks_spawned, a.tasks_spawned + 10);
	assert_int_equal(b.tasks_alive, 11);
	assert_true(b.stacks_mapped >= 11);
	for (int i = 0; i < 10; i++)
		assert_int_equal(corio_join(ts[i]), 0);
	assert_int_equal(corio_loop_stats(&b), 0);
	assert_int_equal(b.tasks_alive, 1);
	assert_true(b.switches >= a.switches + 20);
	assert_true(b.turns > a.turns);
	assert_true(b.timers_fired >= a.timers_fired + 10);
	assert_true(b.guard_kind == 1 || b.guard_kind == 2);
	return 0;
}

static void test_stats(void **state)
{
	assert_int_equal(check_run(stats_main, NULL), 0);
}

/* ------------------------------------------------------------------------
 * Floating-point control state is per task
 * ------------------------------------------------------------------------ */

#define MXCSR_RC_MASK 0x6000u
#define MXCSR_RC_UP   0x4000u /* round up */
#define FCW_RC_MASK   0x0c00u
#define FCW_RC_ZERO   0x0c00u /* round toward zero */

/* 1.0 / 3.0 rounded by the current SSE mode: to nearest it rounds down,
 * so rounding up gives a different last bit. */
static double third(void)
{
	volatile double one = 1.0, three = 3.0;

	return one / three;
}

struct fp {
	unsigned       a_mxcsr_after, b_mxcsr, c_mxcsr;
	unsigned short a_fcw_after, b_fcw;
	double         a_third, b_third;
	int            step;
};

static int fp_task_a(void *arg)
{
	struct fp *f = arg;

	set_mxcsr((get_mxcsr() & ~MXCSR_RC_MASK) | MXCSR_RC_UP);
	set_fcw((unsigned short)((get_fcw() & ~FCW_RC_MASK) | FCW_RC_ZERO));
	f->step = 1;
	corio_yield();             /* B runs with its own modes */
	if (corio_sleep_ms(2) < 0) /* and through the loop's own context */
		return -1;
	f->a_mxcsr_after = get_mxcsr();
	f->a_fcw_after = get_fcw();
	f->a_third = third();
	return 0; /* ends with the odd modes loaded */
}

static int fp_task_b(void *arg)
{
	struct fp *f = arg;

	if (f->step != 1)
		return -1; /* A must have changed its modes first */
	f->b_mxcsr = get_mxcsr();
	f->b_fcw = get_fcw();
	f->b_third = third();
	corio_yield();
	return 0;
}

static int fp_task_c(void *arg)
{
	struct fp *f = arg;

	f->c_mxcsr = get_mxcsr();
	return 0;
}

static int fp_main(void *arg)
{
	struct fp *f = arg;
	unsigned m0 = get_mxcsr();
	unsigned short c0 = get_fcw();
	corio_task *a = corio_spawn(fp_task_a, f);
	corio_task *b = corio_spawn(fp_task_b, f);

	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(corio_join(a), 0);
	assert_int_equal(corio_join(b), 0);
	/* A ended with its modes loaded: they did not follow into main. */
	assert_int_equal(get_mxcsr() & MXCSR_RC_MASK, m0 & MXCSR_RC_MASK);
	assert_int_equal(get_fcw() & FCW_RC_MASK, c0 & FCW_RC_MASK);
	a = corio_spawn(fp_task_c, f);
	assert_non_null(a);
	assert_int_equal(corio_join(a), 0);
	return 0;
}

static void test_fp_control_per_task(void **state)
{
	struct fp f;
	unsigned m0 = get_mxcsr();
	unsigned short c0 = get_fcw();
	double nearest = third();

	if (CHECK_VALGRIND)
		CHECK_SKIP_TEST("skip: valgrind does not emulate rounding modes\n");

	memset(&f, 0, sizeof(f));
	assert_int_equal(check_run(fp_main, &f), 0);
	assert_int_equal(f.a_mxcsr_after & MXCSR_RC_MASK, MXCSR_RC_UP);
	assert_int_equal(f.a_fcw_after & FCW_RC_MASK, FCW_RC_ZERO);
	assert_true(f.a_third != nearest); /* the mode really applied in A */
	assert_int_equal(f.b_mxcsr & MXCSR_RC_MASK, m0 & MXCSR_RC_MASK);
	assert_int_equal(f.b_fcw & FCW_RC_MASK, c0 & FCW_RC_MASK);
	assert_true(f.b_third == nearest);
	assert_int_equal(f.c_mxcsr & MXCSR_RC_MASK, m0 & MXCSR_RC_MASK);
	assert_int_equal(get_mxcsr() & MXCSR_RC_MASK, m0 & MXCSR_RC_MASK);
	assert_int_equal(get_fcw(), c0);
}

/* ------------------------------------------------------------------------
 * Recursion within the default 64 KiB stack
 * ------------------------------------------------------------------------ */

static int __attribute__((noinline)) recurse(int depth)
{
	volatile char pad[256];

	pad[0] = (char)depth;
	pad[255] = (char)depth;
	if (depth == 0)
		return pad[0];
	return recurse(depth - 1) + pad[255] - (char)depth + 1;
}

static int deep_task(void *arg)
{
	int depth = (int)(intptr_t)arg;
	int r = recurse(depth);

	if (corio_sleep_ms(1) < 0) /* suspend with the stack unwound: fine */
		return -1;
	return r + recurse(depth);
}

static int deep_main(void *arg)
{
	/* About 120 frames of ~300 bytes (more under ASan): ~36-48 KiB of the 64. */
	corio_task *t = corio_spawn(deep_task, (void *)(intptr_t)120);

	assert_non_null(t);
	assert_int_equal(corio_join(t), 240);
	return 0;
}

static void test_deep_recursion(void **state)
{
	assert_int_equal(check_run(deep_main, NULL), 0);
}

/* ------------------------------------------------------------------------
 * Handles of another loop
 * ------------------------------------------------------------------------ */

struct xloop {
	corio_task *foreign;
	int         r_join, r_cancel, r_gather, r_name;
	const char *name;
};

static int xloop_other_main(void *arg)
{
	struct xloop *x = arg;
	corio_task *ts[1] = { x->foreign };

	x->r_join = corio_join(x->foreign);
	x->r_cancel = corio_cancel(x->foreign);
	x->r_gather = corio_gather(ts, 1, NULL, 0);
	corio_detach(x->foreign); /* refused silently */
	return 0;
}

static void *xloop_thread(void *arg)
{
	struct xloop *x = arg;

	if (corio_run(xloop_other_main, x) != 0)
		x->r_join = 12345;
	return NULL;
}

static int xloop_main(void *arg)
{
	struct xloop *x = arg;
	pthread_t th;

	x->foreign = corio_spawn(sleep_then_ret, (void *)21);
	assert_non_null(x->foreign);
	/* The other loop runs on its own thread while this one is blocked in
	 * pthread_join: nothing here moves meanwhile. */
	assert_int_equal(pthread_create(&th, NULL, xloop_thread, x), 0);
	pthread_join(th, NULL);
	/* Still ours, untouched. */
	assert_int_equal(corio_join(x->foreign), 21);
	return 0;
}

static void test_other_loops_handle(void **state)
{
	struct xloop x;

	memset(&x, 0, sizeof(x));
	/* glibc caches the first thread's stack: count leaks from the second. */
	assert_int_equal(check_run(xloop_main, &x), 0);
	check_rebaseline();
	memset(&x, 0, sizeof(x));
	assert_int_equal(check_run(xloop_main, &x), 0);
	assert_int_equal(x.r_join, -EXDEV);
	assert_int_equal(x.r_cancel, -EXDEV);
	assert_int_equal(x.r_gather, -EXDEV);
}

/* ------------------------------------------------------------------------
 * The loop's default stack size
 * ------------------------------------------------------------------------ */

static int default_big_main(void *arg)
{
	corio_task *t = corio_spawn(big_frame, NULL); /* no attribute */

	assert_non_null(t);
	return corio_join(t);
}

static void test_config_stack_size(void **state)
{
	corio_config cfg = { .stack_size = 256 * 1024 };

	assert_int_equal(check_run_config(&cfg, default_big_main, NULL), 2);
}

/* ------------------------------------------------------------------------
 * Out of memory: spawn fails cleanly with ENOMEM, and the loop goes on
 * ------------------------------------------------------------------------ */

static int oom_task(void *arg)
{
	return corio_sleep_ms(1) == 0 ? 1 : -1;
}

static int oom_main(void *arg)
{
	enum { MAX = 100000 };
	corio_task **ts = calloc(MAX, sizeof(*ts));
	int n = 0, err = 0, sum = 0;
	struct rlimit rl;

	if (!ts)
		return 10;
	/* Address space for a few more slabs, then none. */
	getrlimit(RLIMIT_AS, &rl);
	{
		FILE *f = fopen("/proc/self/statm", "r");
		unsigned long pages = 0;
		if (!f || fscanf(f, "%lu", &pages) != 1)
			return CHECK_SKIP;
		fclose(f);
		rl.rlim_cur = pages * (rlim_t)sysconf(_SC_PAGESIZE) + 48 * 1024 * 1024;
	}
	if (setrlimit(RLIMIT_AS, &rl) != 0)
		return CHECK_SKIP;
	while (n < MAX) {
		errno = 0;
		ts[n] = corio_spawn(oom_task, NULL);
		if (!ts[n]) {
			err = errno;
			break;
		}
		n++;
	}
	if (n == MAX) {
		printf("child: %d spawns never failed\n", n);
		return 11;
	}
	if (err != ENOMEM) {
		printf("child: spawn failed with errno %d (%s), expected ENOMEM\n", err, strerror(err));
		return 12;
	}
	/* Everything spawned so far still runs to completion. */
	for (int i = 0; i < n; i++)
		sum += corio_join(ts[i]);
	if (sum != n) {
		printf("child: joined %d of %d\n", sum, n);
		return 13;
	}
	/* And, memory being back in the pool, spawning works again. */
	ts[0] = corio_spawn(oom_task, NULL);
	if (!ts[0] || corio_join(ts[0]) != 1)
		return 14;
	printf("child: %d tasks before ENOMEM\n", n);
	free(ts);
	return 0;
}

static int oom_child(void *arg)
{
	return corio_run(oom_main, NULL);
}

static void test_spawn_enomem(void **state)
{
	check_child c;
	char st[64];

	if (CHECK_ASAN || CHECK_TSAN || CHECK_VALGRIND) {
		/* Both sanitizers map shadow and allocator memory on demand,
		 * so under an address-space limit it is they, not corio's
		 * stacks, that run out first (TSan then exits 66). */
		CHECK_SKIP_TEST("skip: an address-space limit and the sanitizers' shadow memory do not mix\n");
	}
	check_fork(oom_child, NULL, &c);
	if (WIFEXITED(c.status) && WEXITSTATUS(c.status) == CHECK_SKIP)
		CHECK_SKIP_TEST("skip: the child could not run the test\n");
	if (!WIFEXITED(c.status) || WEXITSTATUS(c.status) != 0)
		fail_msg("child: %s\n%s", check_status_str(c.status, st, sizeof(st)), c.out);
	print_message("%s", c.out);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		CHECK_TEST(test_spawn_join_result),
		CHECK_TEST(test_fifo_start_order),
		CHECK_TEST(test_join_finished),
		CHECK_TEST(test_detach),
		CHECK_TEST(test_many_tasks),
		CHECK_TEST(test_current),
		CHECK_TEST(test_names),
		CHECK_TEST(test_ids_unique),
		CHECK_TEST(test_spawn_stack_size),
		CHECK_TEST(test_spawn_errors),
		CHECK_TEST(test_join_errors),
		CHECK_TEST(test_join_outside_loop),
		CHECK_TEST(test_stats),
		CHECK_TEST(test_fp_control_per_task),
		CHECK_TEST(test_deep_recursion),
		CHECK_TEST(test_other_loops_handle),
		CHECK_TEST(test_config_stack_size),
		CHECK_TEST(test_spawn_enomem),
	};

	check_init(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
