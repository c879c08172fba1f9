/*
 * test_stack.c - task stacks: overflow reports (in forked children), guard
 * kinds, the pool reusing stacks, custom sizes unmapped when done.
 */
#include <inttypes.h>
#include <pthread.h>

#include "check.h"

#if CHECK_ASAN
#include <sanitizer/asan_interface.h>
#endif

/* ------------------------------------------------------------------------
 * Overflow
 * ------------------------------------------------------------------------ */

#include "runaway.h"

static int short_task_fn(void *arg)
{
	return corio_sleep_ms(1);
}

static int overflow_task(void *arg)
{
	return runaway(0);
}

struct ovf {
	const char *name;       /* spawn attribute name, or NULL */
	const char *rename;     /* corio_task_set_name after spawn, or NULL */
	size_t      stack_size; /* 0 = default */
	int         in_main;    /* overflow in main itself */
};

static int overflow_main(void *arg)
{
	struct ovf *o = arg;
	corio_spawn_attr attr = { .stack_size = o->stack_size, .name = o->name };
	corio_task *t;

	if (o->in_main)
		return runaway(0);
	t = corio_spawn_ex(overflow_task, NULL, &attr);
	if (!t) {
		fprintf(stderr, "child: spawn failed: %s\n", strerror(errno));
		return -errno;
	}
	if (o->rename)
		corio_task_set_name(t, o->rename);
	/* stderr is unbuffered: this line is out before the abort. */
	fprintf(stderr, "child: id=%llu\n", (unsigned long long)corio_task_id(t));
	return corio_join(t);
}

static int overflow_child(void *arg)
{
	int r = corio_run(overflow_main, arg);

	fprintf(stderr, "child: corio_run returned %d: no overflow detected\n", r);
	return 1;
}

/* The same on a loop of another thread (its own alternate signal stack). */
static void *overflow_thread(void *arg)
{
	overflow_child(arg);
	return NULL;
}

static int overflow_thread_child(void *arg)
{
	pthread_t th;

	if (pthread_create(&th, NULL, overflow_thread, arg) != 0)
		return 2;
	pthread_join(th, NULL);
	return 1;
}

static void expect_overflow_in(int (*child)(void *), struct ovf *o, const char *want_name)
{
	check_child c;
	char st[64], want[128];

	check_fork(child, o, &c);
	if (!WIFSIGNALED(c.status) || WTERMSIG(c.status) != SIGABRT)
		fail_msg("expected death by SIGABRT, got %s; output:\n%s",
			 check_status_str(c.status, st, sizeof(st)), c.out);
	if (!want_name) {
		const char *id = strstr(c.out, "child: id=");
		assert_non_null(id);
		snprintf(want, sizeof(want), "stack overflow in task task-%llu\n",
			 strtoull(id + 10, NULL, 10));
	} else {
		snprintf(want, sizeof(want), "stack overflow in task %s\n", want_name);
	}
	assert_contains(c.out, want);
}

static void expect_overflow(struct ovf *o, const char *want_name)
{
	expect_overflow_in(overflow_child, o, want_name);
}

static void test_overflow_named(void **state)
{
	struct ovf o = { .name = "deep-diver" };

	expect_overflow(&o, "deep-diver");
}

static void test_overflow_unnamed(void **state)
{
	struct ovf o = { 0 };

	expect_overflow(&o, NULL);
}

static void test_overflow_renamed(void **state)
{
	struct ovf o = { .name = "before", .rename = "after-rename" };

	expect_overflow(&o, "after-rename");
}

static void test_overflow_custom_stack(void **state)
{
	/* A stack of its own mapping, not from a slab. */
	struct ovf o = { .name = "big-diver", .stack_size = 192 * 1024 };

	expect_overflow(&o, "big-diver");
}

static void test_overflow_in_main(void **state)
{
	struct ovf o = { .in_main = 1 };

	expect_overflow(&o, "main");
}

static void test_overflow_other_thread(void **state)
{
	struct ovf o = { .name = "thread-diver" };

	expect_overflow_in(overflow_thread_child, &o, "thread-diver");
}

/* Faults that are not overflows keep their default death. */
static int null_write_child(void *arg)
{
	/* Not NULL (UBSan would report that first): another unmapped address
	 * in the first page. */
	*(volatile int *)(uintptr_t)(never_negative * 64) = 1;
	fprintf(stderr, "child: survived a NULL write\n");
	return 1;
}

static int null_write_task(void *arg)
{
	return null_write_child(arg);
}

static int null_write_main(void *arg)
{
	corio_task *t = corio_spawn(null_write_task, NULL);

	return t ? corio_join(t) : -errno;
}

static int null_write_in_task_child(void *arg)
{
	int r = corio_run(null_write_main, NULL);

	fprintf(stderr, "child: corio_run returned %d\n", r);
	return 1;
}

static void expect_plain_segv(check_child *c)
{
	char st[64];

	assert_not_contains(c->out, "stack overflow");
	if ((CHECK_ASAN || CHECK_TSAN) && WIFEXITED(c->status) && WEXITSTATUS(c->status) != 0) {
		/* AddressSanitizer's handler was there before corio's and
		 * reports the fault itself; so does ThreadSanitizer's
		 * ("ThreadSanitizer: SEGV on unknown address", exit 66). */
		assert_contains(c->out, "SEGV");
		return;
	}
	if (!WIFSIGNALED(c->status) || WTERMSIG(c->status) != SIGSEGV)
		fail_msg("expected death by SIGSEGV, got %s; output:\n%s",
			 check_status_str(c->status, st, sizeof(st)), c->out);
}

static void test_plain_segv_outside_task(void **state)
{
	check_child c;

	check_fork(null_write_child, NULL, &c);
	expect_plain_segv(&c);
}

static void test_plain_segv_inside_task(void **state)
{
	check_child c;

	check_fork(null_write_in_task_child, NULL, &c);
	expect_plain_segv(&c);
}

/* ------------------------------------------------------------------------
 * Guards and the pool
 * ------------------------------------------------------------------------ */

static int guard_main(void *arg)
{
	corio_stats st;

	assert_int_equal(corio_loop_stats(&st), 0);
	assert_true(st.guard_kind == 1 || st.guard_kind == 2);
	print_message("guard kind: %s\n", st.guard_kind == 1 ? "MADV_GUARD_INSTALL" : "mprotect");
	return 0;
}

static void test_guard_kind(void **state)
{
	assert_int_equal(check_run(guard_main, NULL), 0);
}

/*
 * Kernels before 6.13 lack MADV_GUARD_INSTALL; corio then guards with
 * mprotect(PROT_NONE). This kernel may well have it, so force the fallback
 * (in a child: the choice is process-wide) and check that tasks run, the
 * guard kind says so, and an overflow is still reported by name.
 */
static int mprotect_tasks_main(void *arg)
{
	corio_task *ts[100];
	corio_stats st;

	for (int i = 0; i < 100; i++)
		if (!(ts[i] = corio_spawn(short_task_fn, NULL)))
			return -errno;
	if (corio_gather(ts, 100, NULL, 0) != 0)
		return 3;
	if (corio_loop_stats(&st) != 0 || st.guard_kind != 2)
		return 4;
	return 0;
}

static int mprotect_tasks_child(void *arg)
{
	corio__stack_force_mprotect();
	return corio_run(mprotect_tasks_main, NULL);
}

static int mprotect_overflow_child(void *arg)
{
	corio__stack_force_mprotect();
	return overflow_child(arg);
}

static void test_mprotect_fallback(void **state)
{
	struct ovf o = { .name = "fallback" };
	check_child c;
	char st[64];

	check_fork(mprotect_tasks_child, NULL, &c);
	if (!WIFEXITED(c.status) || WEXITSTATUS(c.status) != 0)
		fail_msg("tasks under the mprotect fallback: %s; output:\n%s",
			 check_status_str(c.status, st, sizeof(st)), c.out);
	expect_overflow_in(mprotect_overflow_child, &o, "fallback");
}

static int short_task(void *arg)
{
	return corio_sleep_ms(0);
}

static int reuse_main(void *arg)
{
	corio_task *ts[100];
	corio_stats st;
	uint64_t mapped = 0;

	for (int round = 0; round < 10; round++) {
		for (int i = 0; i < 100; i++) {
			ts[i] = corio_spawn(short_task, NULL);
			assert_non_null(ts[i]);
		}
		for (int i = 0; i < 100; i++)
			assert_int_equal(corio_join(ts[i]), 0);
		assert_int_equal(corio_loop_stats(&st), 0);
		if (round == 0)
			mapped = st.stacks_mapped;
		else
			assert_int_equal(st.stacks_mapped, mapped);
	}
	/* 100 tasks and main at most. */
	assert_true(mapped >= 100 && mapped <= 101 + 64);
	return 0;
}

static void test_stacks_reused(void **state)
{
	assert_int_equal(check_run(reuse_main, NULL), 0);
}

static int custom_main(void *arg)
{
	corio_spawn_attr attr = { .stack_size = 100 * 1024 };
	corio_stats a, b;
	corio_task *ts[5];

	assert_int_equal(corio_loop_stats(&a), 0);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 5; i++) {
			ts[i] = corio_spawn_ex(short_task, NULL, &attr);
			assert_non_null(ts[i]);
		}
		assert_int_equal(corio_loop_stats(&b), 0);
		assert_int_equal(b.stacks_mapped, a.stacks_mapped + 5);
		for (int i = 0; i < 5; i++)
			assert_int_equal(corio_join(ts[i]), 0);
		corio_yield(); /* the last one's stack is released by the next switch */
		assert_int_equal(corio_loop_stats(&b), 0);
		assert_int_equal(b.stacks_mapped, a.stacks_mapped);
	}
	return 0;
}

static void test_custom_stacks_unmapped(void **state)
{
	assert_int_equal(check_run(custom_main, NULL), 0);
}

/* A stack handed out again is usable from its top: the previous owner's
 * deep frames do not matter. */
static int __attribute__((noinline)) fill(int n)
{
	volatile char pad[1024];

	memset((char *)pad, n, sizeof(pad));
	return n ? fill(n - 1) + pad[7] - n : pad[7];
}

static int fill_task(void *arg)
{
	return fill((int)(intptr_t)arg);
}

static int reuse_deep_main(void *arg)
{
	for (int i = 0; i < 20; i++) {
		corio_task *t = corio_spawn(fill_task, (void *)(intptr_t)(i % 2 ? 40 : 2));
		assert_non_null(t);
		assert_int_equal(corio_join(t), 0);
	}
	return 0;
}

static void test_reuse_after_deep_use(void **state)
{
	assert_int_equal(check_run(reuse_deep_main, NULL), 0);
}

/* A burst of tasks does not pin its stacks forever: the loop trims the
 * pool about once a second, and a slab found fully free at two trims in a
 * row goes back to the kernel while the pool holds plenty. The test calls
 * the trim itself rather than wait seconds for the loop to do it. */
static int burst_main(void *arg)
{
	enum { N = 3000 };
	corio_task **ts = malloc(N * sizeof(*ts));
	corio__loop *l = corio__loop_get();
	corio_stats st;

	assert_non_null(ts);
	for (int i = 0; i < N; i++) {
		ts[i] = corio_spawn(short_task, NULL);
		assert_non_null(ts[i]);
	}
	assert_int_equal(corio_loop_stats(&st), 0);
	assert_true(st.stacks_mapped >= N);
	for (int i = 0; i < N; i++)
		assert_int_equal(corio_join(ts[i]), 0);
	/* Right after the burst, the stacks stay pooled (a second burst
	 * costs no page faults). */
	corio__stack_pool_trim(&l->stacks);
	assert_int_equal(corio_loop_stats(&st), 0);
	assert_true(st.stacks_mapped >= N);
	/* Idle at a second trim: unmapped, down to about POOL_KEEP (256). */
	corio__stack_pool_trim(&l->stacks);
	assert_int_equal(corio_loop_stats(&st), 0);
	print_message("stacks mapped after a burst of %d and two trims: %llu\n", N,
		      (unsigned long long)st.stacks_mapped);
	assert_true(st.stacks_mapped <= 256 + 2 * 64 + 1);
	/* The pool still works after the trim. */
	for (int i = 0; i < 500; i++) {
		ts[i] = corio_spawn(short_task, NULL);
		assert_non_null(ts[i]);
	}
	for (int i = 0; i < 500; i++)
		assert_int_equal(corio_join(ts[i]), 0);
	free(ts);
	return 0;
}

static void test_pool_trims_after_burst(void **state)
{
	assert_int_equal(check_run(burst_main, NULL), 0);
}

/* With MADV_GUARD_INSTALL, guards do not split mappings: a slab of stacks
 * stays one entry of /proc/self/maps (vm.max_map_count is the limit). */
static int count_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	int n = 0, c;

	if (!f)
		return -1;
	while ((c = getc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

/*
 * ThreadSanitizer maps memory of its own as tasks come and go (57 more
 * mappings for 1000 tasks, where the other builds see none), so the whole
 * process's count says little there. Under it, count instead the mappings
 * that hold one of the tasks' stacks: what the guards would split.
 */
static int count_stack_maps(corio_task **ts, int n)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int count = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		uintptr_t lo, hi;

		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR, &lo, &hi) != 2)
			continue;
		for (int i = 0; i < n; i++) {
			uintptr_t s = (uintptr_t)ts[i]->stack->lo;
			if (s >= lo && s < hi) {
				count++;
				break;
			}
		}
		/* A line longer than the buffer: skip its rest. */
		while (!strchr(line, '\n') && fgets(line, sizeof(line), f))
			;
	}
	fclose(f);
	return count;
}

static int vma_main(void *arg)
{
	enum { N = 1000 };
	corio_task **ts = malloc(N * sizeof(*ts));
	corio_stats st;
	int before, after;

	assert_non_null(ts);
	before = CHECK_TSAN ? 0 : count_maps();
	for (int i = 0; i < N; i++) {
		ts[i] = corio_spawn(short_task, NULL);
		assert_non_null(ts[i]);
	}
	after = CHECK_TSAN ? count_stack_maps(ts, N) : count_maps();
	assert_true(after >= 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(corio_join(ts[i]), 0);
	free(ts);
	assert_int_equal(corio_loop_stats(&st), 0);
	print_message("%d tasks: %d %s (guard kind %u)\n", N, after - before,
		      CHECK_TSAN ? "mappings hold their stacks" : "more mappings", st.guard_kind);
	if (st.guard_kind == 1)
		assert_true(after - before <= N / 64 + 8);
	else
		assert_true(after - before <= 2 * N + 8 + N / 64);
	return 0;
}

static void test_guards_do_not_split_mappings(void **state)
{
	assert_int_equal(check_run(vma_main, NULL), 0);
}

/*
 * Under AddressSanitizer, a stack that goes back to the kernel must not
 * leave poisoned shadow behind: the last frames of every task (its final
 * switch never returns) stay poisoned, and whatever is mapped at that
 * address next would trip over them.
 *
 * LIBRARY BUG (reported, ASan builds only): slab_unmap() and
 * corio__stack_put() munmap stacks without ASAN_UNPOISON_MEMORY_REGION, so
 * this test fails under SANITIZE=address until they do.
 */
struct range {
	char  *lo, *hi;
	size_t stack_size;
};

static int record_stack(void *arg)
{
	struct range *r = arg;
	corio_task *self = corio_current();

	r->lo = self->stack->lo;
	r->hi = self->stack->hi;
	return corio_sleep_ms(1);
}

static int record_main(void *arg)
{
	struct range *r = arg;
	corio_spawn_attr attr = { .stack_size = r->stack_size };
	corio_task *t = corio_spawn_ex(record_stack, r, &attr);

	return t ? corio_join(t) : -errno;
}

static void check_unmapped_stack_clean(size_t stack_size)
{
	struct range r = { .stack_size = stack_size };
	size_t len;
	char *p;

	assert_int_equal(check_run(record_main, &r), 0);
	assert_non_null(r.lo);
	len = (size_t)(r.hi - r.lo);
	/* The loop is closed, so its stacks are unmapped: map the same range. */
	p = mmap(r.lo, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
		 -1, 0);
	if (p == MAP_FAILED) {
		CHECK_SKIP_TEST("skip: the old stack's range is in use again (%s)\n", strerror(errno));
	}
	assert_ptr_equal(p, r.lo);
#if CHECK_ASAN
	void *bad = __asan_region_is_poisoned(p, len);
	if (bad) {
		munmap(p, len);
		fail_msg("LIBRARY BUG: %p, %zu bytes into an unmapped task stack [%p, %p), is still "
			 "poisoned: stacks must be unpoisoned before munmap",
			 bad, (size_t)((char *)bad - r.lo), (void *)r.lo, (void *)r.hi);
	}
#endif
	memset(p, 0x5a, len);
	munmap(p, len);
}

static void test_unmapped_stacks_leave_no_poison(void **state)
{
	check_unmapped_stack_clean(0);          /* a slab stack, unmapped at loop close */
	check_unmapped_stack_clean(96 * 1024);  /* a mapping of its own, unmapped at task end */
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		CHECK_TEST(test_overflow_named),
		CHECK_TEST(test_overflow_unnamed),
		CHECK_TEST(test_overflow_renamed),
		CHECK_TEST(test_overflow_custom_stack),
		CHECK_TEST(test_overflow_in_main),
		CHECK_TEST(test_overflow_other_thread),
		CHECK_TEST(test_plain_segv_outside_task),
		CHECK_TEST(test_plain_segv_inside_task),
		CHECK_TEST(test_guard_kind),
		CHECK_TEST(test_mprotect_fallback),
		CHECK_TEST(test_stacks_reused),
		CHECK_TEST(test_custom_stacks_unmapped),
		CHECK_TEST(test_reuse_after_deep_use),
		CHECK_TEST(test_pool_trims_after_burst),
		CHECK_TEST(test_guards_do_not_split_mappings),
		CHECK_TEST(test_unmapped_stacks_leave_no_poison),
	};

	check_init(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
