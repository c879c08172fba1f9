/*
 * test_debug.c - diagnostics: slow-task reports, unobserved failures (every
 * mode), debug mode's reports at main's return and at loop close, the stack
 * high-water mark, corio_dump_tasks, SIGQUIT, the deadlock report, and
 * tools/corio-gdb.py on a live process and on a core file.
 *
 * Task functions whose names a backtrace must show are not static: test
 * programs are linked -rdynamic, so dladdr (and gdb) name them.
 */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/resource.h>
#include <time.h>

#include "check.h"

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

static char err[32768];

/* Runs fn under cfg with stderr captured into err. */
static int run_captured(const corio_config *cfg, int (*fn)(void *), void *arg)
{
	int r;

	check_capture_begin();
	r = check_run_config(cfg, fn, arg);
	check_capture_end(err, sizeof(err));
	return r;
}

/* Blocks the thread (not the task) for ms. */
static void block_thread_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Keeps the CPU busy for ms without suspending. */
static void busy_ms(unsigned ms)
{
	uint64_t end = corio_now_ns() + (uint64_t)ms * 1000000u;

	while (corio_now_ns() < end)
		__asm__ volatile("" ::: "memory");
}

/* cmocka truncates long failure messages: print the whole text first. */
#define assert_in(hay, needle)                                                   \
	do {                                                                     \
		const char *h_ = (hay), *n_ = (needle);                          \
		if (!strstr(h_, n_)) {                                           \
			fprintf(stderr, "---\n%s---\n", h_);                     \
			fail_msg("expected to find \"%s\" in the text above", n_); \
		}                                                                \
	} while (0)
#define assert_not_in(hay, needle)                                               \
	do {                                                                     \
		const char *h_ = (hay), *n_ = (needle);                          \
		if (strstr(h_, n_)) {                                            \
			fprintf(stderr, "---\n%s---\n", h_);                     \
			fail_msg("did not expect \"%s\" in the text above", n_); \
		}                                                                \
	} while (0)

static size_t count_of(const char *hay, const char *needle)
{
	size_t n = 0, k = strlen(needle);

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += k)
		n++;
	return n;
}

/* Reads what was written to a memfd. */
static void read_back(int fd, char *buf, size_t cap)
{
	ssize_t n = pread(fd, buf, cap - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
}

static int ret_zero(void *arg)
{
	return 0;
}

/* ------------------------------------------------------------------------
 * Slow tasks
 * ------------------------------------------------------------------------ */

/*
 * The slow-task threshold is 20 ms and the hog blocks 60 ms. Under valgrind
 * (and TSan) both are CHECK_TIME_SCALE times that: a process descheduled
 * for 20 ms while a short task runs, on a busy machine, would otherwise
 * get that task reported. Runtime values under valgrind (see check.h).
 */
#define SLOW_MS ((unsigned)(20 * CHECK_TIME_SCALE))
#define HOG_MS  ((unsigned)(60 * CHECK_TIME_SCALE))

/* arg: how long the hog blocks (NULL: 60 ms). */
static int slow_hog(void *arg)
{
	block_thread_ms(arg ? *(const unsigned *)arg : 60); /* a blocking call in a task */
	return 0;
}

/* Runs little at a time, suspending in between. */
static int slow_polite(void *arg)
{
	for (int i = 0; i < 20; i++)
		if (corio_sleep_ms(1) < 0)
			return -1;
	return 0;
}

/* arg: the hog's ms, as for slow_hog. */
static int slow_main(void *arg)
{
	corio_spawn_attr ah = { 0, "hog" }, ap = { 0, "polite" };
	corio_task *p = corio_spawn_ex(slow_polite, NULL, &ap);
	corio_task *h = corio_spawn_ex(slow_hog, arg, &ah);

	if (!p || !h)
		return -ENOMEM;
	return corio_join(h) | corio_join(p);
}

static void test_slow_task_reported(void **state)
{
	corio_config cfg = { .flags = CORIO_CFG_DEBUG, .slow_task_ms = SLOW_MS };
	unsigned hog = HOG_MS;

	/* Valgrind translates code the first time it runs: this first
	 * debug-mode loop's paths (and the report's own fprintf, whose time
	 * goes to the task switched to next) can take it more than 20 ms in
	 * 'main' or 'polite' on a busy machine. A warm-up run, not checked,
	 * leaves the measured one the same work as natively. */
	if (CHECK_VALGRIND)
		assert_int_equal(run_captured(&cfg, slow_main, &hog), 0);
	assert_int_equal(run_captured(&cfg, slow_main, &hog), 0);
	assert_in(err, "corio: debug: task 'hog' ran ");
	assert_in(err, "ms without suspending");
	assert_int_equal(count_of(err, "'hog' ran"), 1);
	/* The figure is the time it really ran. */
	assert_between(strtod(strstr(err, "'hog' ran ") + strlen("'hog' ran "), NULL), hog - 5,
		       5000);
	assert_not_in(err, "'polite'");
	assert_not_in(err, "'main'");
}

static void test_slow_task_not_reported_without_debug(void **state)
{
	corio_config cfg = { .slow_task_ms = 20 };

	assert_int_equal(run_captured(&cfg, slow_main, NULL), 0);
	assert_string_equal(err, "");
}

/* CORIO_DEBUG=1 turns debug mode on; CORIO_SLOW_TASK_MS sets the threshold
 * when the config leaves it 0. In children: setenv allocates for good,
 * which the leak check would see. */
struct env_case {
	const char *debug, *slow_ms; /* NULL: unset */
	unsigned    cfg_slow_ms;
	unsigned    hog_ms;
};

static int env_child(void *arg)
{
	const struct env_case *ec = arg;
	corio_config cfg = { .slow_task_ms = ec->cfg_slow_ms };

	if (ec->debug)
		setenv("CORIO_DEBUG", ec->debug, 1);
	if (ec->slow_ms)
		setenv("CORIO_SLOW_TASK_MS", ec->slow_ms, 1);
	return corio_run_config(&cfg, slow_main, (void *)&ec->hog_ms);
}

static void run_env_case(const char *debug, const char *slow_ms, unsigned cfg_slow_ms,
			 unsigned hog_ms, check_child *c)
{
	struct env_case ec = { debug, slow_ms, cfg_slow_ms, hog_ms };
	char st[64];

	check_fork_timeout(env_child, &ec, c, 10);
	if (!WIFEXITED(c->status) || WEXITSTATUS(c->status) != 0)
		fail_msg("child: %s\n%s", check_status_str(c->status, st, sizeof(st)), c->out);
}

static void test_slow_task_env(void **state)
{
	check_child c;
	char slow[16]; /* "20", scaled as SLOW_MS */

	snprintf(slow, sizeof(slow), "%u", SLOW_MS);
	run_env_case("1", NULL, SLOW_MS, HOG_MS, &c);
	assert_in(c.out, "corio: debug: task 'hog' ran ");
	assert_not_in(c.out, "'polite' ran");

	/* The default threshold (100 ms, not scaled) lets the 60 ms hog
	 * pass. */
	run_env_case("1", NULL, 0, 60, &c);
	assert_string_equal(c.out, "");

	run_env_case("1", slow, 0, HOG_MS, &c);
	assert_in(c.out, "corio: debug: task 'hog' ran ");

	/* The config's threshold wins over the environment's. */
	run_env_case("1", slow, 1000 * CHECK_TIME_SCALE, HOG_MS, &c);
	assert_string_equal(c.out, "");

	/* Not in debug mode, the threshold alone does nothing. */
	run_env_case("0", slow, SLOW_MS, HOG_MS, &c);
	assert_string_equal(c.out, "");
	run_env_case(NULL, slow, 0, HOG_MS, &c);
	assert_string_equal(c.out, "");
}

/* corio_yield is asyncio.sleep(0): a suspension point, even when nobody
 * else is ready and the task goes on at once. Each run between yields is
 * short, so it is not a slow task. */
static int yielder(void *arg)
{
	/* 12 runs of 5 ms (both scaled with the threshold): 60 ms in all,
	 * three times the threshold. */
	for (int i = 0; i < 12; i++) {
		busy_ms(5 * CHECK_TIME_SCALE);
		corio_yield();
	}
	return 0;
}

static int yield_main(void *arg)
{
	corio_spawn_attr a = { 0, "yielder" };
	corio_task *t = corio_spawn_ex(yielder, NULL, &a);

	return t ? corio_join(t) : -errno;
}

static void test_slow_task_yield_is_a_suspension(void **state)
{
	corio_config cfg = { .flags = CORIO_CFG_DEBUG, .slow_task_ms = SLOW_MS };

	assert_int_equal(run_captured(&cfg, yield_main, NULL), 0);
	assert_not_in(err, "'yielder' ran");
}

/* ------------------------------------------------------------------------
 * Failures nobody observed (every mode)
 * ------------------------------------------------------------------------ */

static int fail_eio_later(void *arg)
{
	corio_sleep_ms(1);
	return -EIO;
}

static int fail_enoent(void *arg)
{
	return -ENOENT;
}

static int fail_eio(void *arg)
{
	return -EIO;
}

static int unobserved_main(void *arg)
{
	corio_spawn_attr ax = { 0, "x" }, ay = { 0, "y" }, az = { 0, "z" };
	corio_task *x = corio_spawn_ex(fail_eio_later, NULL, &ax);
	corio_task *y = corio_spawn_ex(fail_enoent, NULL, &ay);

	if (!x || !y)
		return -ENOMEM;
	/* x is detached while it runs: reported when it fails. */
	corio_detach(x);
	/* y has failed already when it is detached: reported then. */
	while (y->state != CORIO__T_DONE)
		corio_yield();
	corio_detach(y);
	corio_sleep_ms(5);
	/* z is never joined: reported at loop close. */
	if (!corio_spawn_ex(fail_eio, NULL, &az))
		return -ENOMEM;
	corio_yield();
	return 0;
}

static void test_unobserved_failures_reported(void **state)
{
	static const unsigned modes[] = { 0, CORIO_CFG_DEBUG };

	for (size_t i = 0; i < 2; i++) {
		corio_config cfg = { .flags = modes[i] };

		assert_int_equal(run_captured(&cfg, unobserved_main, NULL), 0);
		assert_in(err, "corio: task 'x' failed with -EIO (Input/output error) "
			  "and was never joined\n");
		assert_in(err, "corio: task 'y' failed with -ENOENT (No such file or "
			  "directory) and was never joined\n");
		assert_in(err, "corio: task 'z' failed with -EIO (Input/output error) "
			  "and was never joined\n");
		assert_int_equal(count_of(err, "failed with"), 3);
		if (modes[i] == 0)
			assert_int_equal(count_of(err, "\n"), 3); /* nothing else */
		else
			assert_in(err, "1 task handle(s) never joined or detached");
	}
}

static int fail_eio_after(void *arg)
{
	corio_sleep_ms(*(int *)arg);
	return -EIO;
}

static int cancelled_result(void *arg)
{
	int r = corio_sleep_ms(10000);

	return r == -ECANCELED ? -ECANCELED : -EPROTO;
}

struct observed {
	int join_r, waitfor_r, gather_r, gather_all_r, group_r;
	int results[3];
};

static int observed_main(void *arg)
{
	struct observed *o = arg;
	int ms1 = 1, ms5 = 5, ms20 = 20;
	corio_task *ts[3], *t;
	corio_group *g;

	/* Joined. */
	t = corio_spawn(fail_eio, NULL);
	o->join_r = t ? corio_join(t) : -ENOMEM;
	t = corio_spawn(fail_eio_after, &ms1);
	o->waitfor_r = t ? corio_wait_for(t, 5000) : -ENOMEM;

	/* Gathered: the first failure returns; the second fails after the
	 * gather returned, detached by it. */
	ts[0] = corio_spawn(fail_eio_after, &ms1);
	ts[1] = corio_spawn(fail_eio_after, &ms5);
	ts[2] = corio_spawn(ret_zero, NULL);
	if (!ts[0] || !ts[1] || !ts[2])
		return -ENOMEM;
	o->gather_r = corio_gather(ts, 3, NULL, 0);
	ts[0] = corio_spawn(fail_eio, NULL);
	ts[1] = corio_spawn(fail_enoent, NULL);
	ts[2] = corio_spawn(ret_zero, NULL);
	if (!ts[0] || !ts[1] || !ts[2])
		return -ENOMEM;
	o->gather_all_r = corio_gather(ts, 3, o->results, CORIO_GATHER_ALL);

	/* A group's failures are its errors. */
	g = corio_group_new();
	if (!g)
		return -ENOMEM;
	corio_group_spawn(g, fail_eio, NULL);
	corio_group_spawn(g, fail_eio_after, &ms5);
	corio_group_spawn(g, fail_enoent, NULL);
	o->group_r = corio_group_wait(g);
	corio_group_free(g);

	/* -ECANCELED is not a failure: detached, or never joined. */
	t = corio_spawn(cancelled_result, NULL);
	if (!t)
		return -ENOMEM;
	corio_yield();
	corio_cancel(t);
	corio_detach(t);
	t = corio_spawn(cancelled_result, NULL);
	if (!t)
		return -ENOMEM;
	corio_yield();
	corio_cancel(t);
	corio_sleep_ms(ms20);
	return 0;
}

static void test_observed_failures_not_reported(void **state)
{
	static const unsigned modes[] = { 0, CORIO_CFG_DEBUG };

	for (size_t i = 0; i < 2; i++) {
		corio_config cfg = { .flags = modes[i] };
		struct observed o;

		memset(&o, 0, sizeof(o));
		assert_int_equal(run_captured(&cfg, observed_main, &o), 0);
		assert_int_equal(o.join_r, -EIO);
		assert_int_equal(o.waitfor_r, -EIO);
		assert_int_equal(o.gather_r, -EIO);
		assert_int_equal(o.gather_all_r, 0);
		assert_int_equal(o.results[0], -EIO);
		assert_int_equal(o.results[1], -ENOENT);
		assert_int_equal(o.group_r, -EIO);
		assert_not_in(err, "failed with");
		if (modes[i] == 0)
			assert_string_equal(err, "");
	}
}

/* ------------------------------------------------------------------------
 * Debug mode: tasks alive when main returns, leaks at loop close
 * ------------------------------------------------------------------------ */

int linger_task_fn(void *arg);
int __attribute__((noinline)) linger_task_fn(void *arg)
{
	int r = corio_sleep_ms(10000);

	__asm__ volatile("" ::: "memory");
	return r;
}

static int linger_main(void *arg)
{
	corio_spawn_attr a1 = { 0, "lingerer-1" }, a2 = { 0, "lingerer-2" };
	corio_task *t1 = corio_spawn_ex(linger_task_fn, NULL, &a1);
	corio_task *t2 = corio_spawn_ex(linger_task_fn, NULL, &a2);

	if (!t1 || !t2)
		return -ENOMEM;
	corio_detach(t1);
	corio_detach(t2);
	corio_yield();
	return 0;
}

static void test_alive_at_main_return_listed(void **state)
{
	corio_config cfg = { .flags = CORIO_CFG_DEBUG };
	corio_config quiet = { 0 };
	uint64_t t0 = corio_now_ns();
	const char *head, *l1, *l2;

	assert_int_equal(run_captured(&cfg, linger_main, NULL), 0);
	assert_true(check_ms_since(t0) < 2000);
	head = strstr(err, "corio: debug: main returned with 2 task(s) alive; cancelling them:");
	assert_non_null(head);
	l1 = strstr(err, "'lingerer-1' waiting on sleep");
	l2 = strstr(err, "'lingerer-2' waiting on sleep");
	assert_non_null(l1);
	assert_non_null(l2);
	/* Listed before they were cancelled. */
	assert_true(l1 > head && l2 > head);
	assert_not_in(err, "(cancelled)");
	assert_in(err, "linger_task_fn+");
	assert_not_in(err, "failed with");

	assert_int_equal(run_captured(&quiet, linger_main, NULL), 0);
	assert_string_equal(err, "");
}

struct leaky {
	corio_group *g;
	corio_event *e;
	corio_mutex *m;
	corio_queue *q;
};

static int leave_scope(void *arg)
{
	return corio_deadline_push(10000);
}

static int leaky_main(void *arg)
{
	struct leaky *lk = arg;
	corio_spawn_attr a = { 0, "scoped" };
	corio_task *t;

	lk->g = corio_group_new();
	lk->e = corio_event_new();
	lk->m = corio_mutex_new();
	lk->q = corio_queue_new(0);
	if (!lk->g || !lk->e || !lk->m || !lk->q)
		return -ENOMEM;
	if (corio_mutex_lock(lk->m) < 0)
		return -1;
	/* A handle never consumed, and a task that ends inside a scope. */
	if (!corio_spawn(ret_zero, NULL))
		return -ENOMEM;
	t = corio_spawn_ex(leave_scope, NULL, &a);
	if (!t)
		return -ENOMEM;
	return corio_join(t);
}

static void free_leaky(struct leaky *lk)
{
	/* The loop is gone: the objects are the caller's to free. */
	corio_group_free(lk->g);
	corio_event_free(lk->e);
	corio_mutex_free(lk->m);
	corio_queue_free(lk->q);
}

static void test_leaks_at_close_reported(void **state)
{
	corio_config cfg = { .flags = CORIO_CFG_DEBUG };
	corio_config quiet = { 0 };
	struct leaky lk;

	memset(&lk, 0, sizeof(lk));
	assert_int_equal(run_captured(&cfg, leaky_main, &lk), 0);
	free_leaky(&lk);
	assert_in(err, "corio: debug: task 'scoped' ended with 1 scope(s) still pushed");
	assert_in(err, "corio: debug: a mutex was still held by task 'main' at loop close");
	assert_in(err, "corio: debug: at loop close, never freed: 1 group 1 event 1 mutex "
		  "1 queue\n");
	assert_in(err, "corio: debug: 1 task handle(s) never joined or detached");

	memset(&lk, 0, sizeof(lk));
	assert_int_equal(run_captured(&quiet, leaky_main, &lk), 0);
	free_leaky(&lk);
	assert_string_equal(err, "");
}

/* A group never freed is reported as such; its tasks are the group's, not
 * handles the program could have joined or detached (that is refused for
 * them), so they are not "never joined" handles. */
static int group_leak_main(void *arg)
{
	corio_group **g = arg;

	*g = corio_group_new();
	if (!*g)
		return -ENOMEM;
	if (!corio_group_spawn(*g, ret_zero, NULL) || !corio_group_spawn(*g, fail_eio, NULL))
		return -errno;
	return corio_group_wait(*g) == -EIO ? 0 : -EPROTO;
}

static void test_group_never_freed_reported_once(void **state)
{
	corio_config cfg = { .flags = CORIO_CFG_DEBUG };
	corio_group *g = NULL;

	assert_int_equal(run_captured(&cfg, group_leak_main, &g), 0);
	corio_group_free(g);
	assert_in(err, "corio: debug: at loop close, never freed: 1 group\n");
	assert_not_in(err, "failed with"); /* its failure is the group's error */
	assert_not_in(err, "never joined");
}

/* Objects made before corio_run belong to the program, which frees them
 * after corio_run returned: using them in the loop is no leak of the loop. */
struct outside {
	corio_mutex *m;
	corio_event *e;
	corio_group *g;
};

static int outside_user(void *arg)
{
	struct outside *o = arg;

	return corio_event_wait(o->e);
}

static int outside_main(void *arg)
{
	struct outside *o = arg;
	corio_task *t = corio_spawn(outside_user, o);
	int r;

	if (!t)
		return -ENOMEM;
	if (corio_mutex_lock(o->m) < 0)
		return -EPROTO;
	corio_yield();
	corio_event_set(o->e);
	r = corio_join(t);
	corio_mutex_unlock(o->m);
	if (r == 0 && !corio_group_spawn(o->g, ret_zero, NULL))
		r = -errno;
	return r ? r : corio_group_wait(o->g);
}

static void test_objects_made_before_the_loop_not_reported(void **state)
{
	corio_config cfg = { .flags = CORIO_CFG_DEBUG };
	struct outside o = { corio_mutex_new(), corio_event_new(), corio_group_new() };

	assert_true(o.m && o.e && o.g);
	assert_int_equal(run_captured(&cfg, outside_main, &o), 0);
	corio_mutex_free(o.m);
	corio_event_free(o.e);
	corio_group_free(o.g);
	assert_string_equal(err, "");
}

/* ------------------------------------------------------------------------
 * Stack high-water mark
 * ------------------------------------------------------------------------ */

struct peak {
	size_t bytes;      /* how much the task uses */
	size_t inside;     /* corio_task_stack_peak(self), measured by the task */
};

static void __attribute__((noinline)) use_stack(size_t n)
{
	char *buf = __builtin_alloca(n);

	memset(buf, 0x5a, n);
	__asm__ volatile("" : : "r"(buf) : "memory");
}

static int peak_task(void *arg)
{
	struct peak *p = arg;

	if (p->bytes)
		use_stack(p->bytes);
	p->inside = corio_task_stack_peak(corio_current());
	return 0;
}

struct peak_run {
	struct peak deep, tiny;
	size_t      deep_after, tiny_after, null_peak;
	size_t      deep_size;
};

static int peak_main(void *arg)
{
	struct peak_run *pr = arg;
	corio_task *d = corio_spawn(peak_task, &pr->deep);
	corio_task *t = corio_spawn(peak_task, &pr->tiny);
	int r;

	if (!d || !t)
		return -ENOMEM;
	pr->deep_size = (size_t)(d->stack->hi - d->stack->lo);
	while (d->state != CORIO__T_DONE || t->state != CORIO__T_DONE)
		corio_yield();
	/* Ended, not yet joined: the figure at the end. */
	pr->deep_after = corio_task_stack_peak(d);
	pr->tiny_after = corio_task_stack_peak(t);
	pr->null_peak = corio_task_stack_peak(NULL);
	r = corio_join(d);
	return r ? r : corio_join(t);
}

static void test_stack_peak(void **state)
{
	corio_config cfg = { .flags = CORIO_CFG_DEBUG };
	corio_config quiet = { 0 };
	struct peak_run pr;

	memset(&pr, 0, sizeof(pr));
	pr.deep.bytes = 20 * 1024;
	assert_int_equal(run_captured(&cfg, peak_main, &pr), 0);
	assert_int_equal(pr.deep_size, 64 * 1024);
	assert_between(pr.deep.inside, 20 * 1024, 64 * 1024);
	assert_between(pr.deep_after, 20 * 1024, 64 * 1024);
	assert_true(pr.deep_after >= pr.deep.inside);
	assert_between(pr.tiny.inside, 1, 8 * 1024);
	assert_between(pr.tiny_after, 1, 8 * 1024);
	assert_int_equal(pr.null_peak, 0);
	assert_not_in(err, "of stack");

	/* Measured in debug mode only. */
	memset(&pr, 0, sizeof(pr));
	pr.deep.bytes = 20 * 1024;
	assert_int_equal(run_captured(&quiet, peak_main, &pr), 0);
	assert_int_equal(pr.deep.inside, 0);
	assert_int_equal(pr.deep_after, 0);
	assert_int_equal(pr.tiny.inside, 0);
	assert_int_equal(pr.tiny_after, 0);
}

/* The pool hands out a stack a deep task dirtied: the next task's figure
 * is its own. */
static int peak_reuse_main(void *arg)
{
	struct peak_run *pr = arg;
	corio_task *t = corio_spawn(peak_task, &pr->deep);
	int r;

	if (!t)
		return -ENOMEM;
	r = corio_join(t);
	if (r)
		return r;
	t = corio_spawn(peak_task, &pr->tiny);
	return t ? corio_join(t) : -ENOMEM;
}

static void test_stack_peak_pooled_stack(void **state)
{
	corio_config cfg = { .flags = CORIO_CFG_DEBUG };
	struct peak_run pr;

	memset(&pr, 0, sizeof(pr));
	pr.deep.bytes = 40 * 1024;
	assert_int_equal(run_captured(&cfg, peak_reuse_main, &pr), 0);
	assert_between(pr.deep.inside, 40 * 1024, 64 * 1024);
	assert_between(pr.tiny.inside, 1, 8 * 1024);
}

static int stack_warn_main(void *arg)
{
	static struct peak big = { 26 * 1024, 0 }, modest = { 4 * 1024, 0 };
	corio_spawn_attr ab = { 32 * 1024, "stack-hog" }, am = { 32 * 1024, "stack-modest" };
	corio_task *b = corio_spawn_ex(peak_task, &big, &ab);
	corio_task *m = corio_spawn_ex(peak_task, &modest, &am);

	if (!b || !m)
		return -ENOMEM;
	return corio_join(b) | corio_join(m);
}

static void test_stack_use_warning(void **state)
{
	corio_config cfg = { .flags = CORIO_CFG_DEBUG };
	corio_config quiet = { 0 };

	assert_int_equal(run_captured(&cfg, stack_warn_main, NULL), 0);
	assert_in(err, "corio: debug: task 'stack-hog' used ");
	assert_in(err, " of its 32768 bytes of stack");
	assert_not_in(err, "stack-modest");

	assert_int_equal(run_captured(&quiet, stack_warn_main, NULL), 0);
	assert_string_equal(err, "");
}

/* ------------------------------------------------------------------------
 * corio_dump_tasks
 * ------------------------------------------------------------------------ */

struct dump {
	corio_mutex *m;
	corio_event *e;
	corio_queue *q;
	void        *m_addr, *e_addr, *q_addr; /* for the expected text */
	corio_task  *sleeper;
	uint64_t     id_sleeper, id_locker, id_main;
	int          r_dump, fd;
	int          r[8];
	char         text[16384];
};

int dump_sleeper_fn(void *arg);
int dump_locker_fn(void *arg);
int dump_mwaiter_fn(void *arg);
int dump_getter_fn(void *arg);
int dump_joiner_fn(void *arg);
int dump_deadline_fn(void *arg);
int dump_shielded_fn(void *arg);
int dump_main_fn(void *arg);

#define NO_TAIL_CALL() __asm__ volatile("" ::: "memory")

int __attribute__((noinline)) dump_sleeper_fn(void *arg)
{
	int r = corio_sleep_ms(10000);

	NO_TAIL_CALL();
	return r;
}

int __attribute__((noinline)) dump_locker_fn(void *arg)
{
	struct dump *d = arg;
	int r = corio_mutex_lock(d->m);

	if (r < 0)
		return r;
	r = corio_event_wait(d->e);
	NO_TAIL_CALL();
	corio_mutex_unlock(d->m);
	return r;
}

int __attribute__((noinline)) dump_mwaiter_fn(void *arg)
{
	struct dump *d = arg;
	int r = corio_mutex_lock(d->m);

	NO_TAIL_CALL();
	if (r == 0)
		corio_mutex_unlock(d->m);
	return r;
}

int __attribute__((noinline)) dump_getter_fn(void *arg)
{
	struct dump *d = arg;
	void *item;
	int r = corio_queue_get(d->q, &item);

	NO_TAIL_CALL();
	return r;
}

int __attribute__((noinline)) dump_joiner_fn(void *arg)
{
	struct dump *d = arg;
	int r = corio_join(d->sleeper);

	NO_TAIL_CALL();
	return r;
}

int __attribute__((noinline)) dump_deadline_fn(void *arg)
{
	struct dump *d = arg;
	int r = corio_deadline_push(10000);

	if (r < 0)
		return r;
	r = corio_event_wait(d->e);
	NO_TAIL_CALL();
	corio_deadline_pop();
	return r;
}

int __attribute__((noinline)) dump_shielded_fn(void *arg)
{
	struct dump *d = arg;
	int r = corio_shield_push();

	if (r < 0)
		return r;
	r = corio_event_wait(d->e);
	NO_TAIL_CALL();
	return corio_shield_pop() == -ECANCELED ? r : -EPROTO;
}

int __attribute__((noinline)) dump_main_fn(void *arg)
{
	static const char *const names[] = {
		"d-sleeper", "d-locker", "d-mwaiter", "d-getter", "d-joiner", "d-deadline",
		"d-shielded", "d-ready",
	};
	int (*const fns[])(void *) = {
		dump_sleeper_fn, dump_locker_fn, dump_mwaiter_fn, dump_getter_fn,
		dump_joiner_fn, dump_deadline_fn, dump_shielded_fn, ret_zero,
	};
	struct dump *d = arg;
	corio_task *ts[8];

	d->id_main = corio_task_id(corio_current());
	d->m = corio_mutex_new();
	d->e = corio_event_new();
	d->q = corio_queue_new(0);
	if (!d->m || !d->e || !d->q)
		return -ENOMEM;
	d->m_addr = d->m;
	d->e_addr = d->e;
	d->q_addr = d->q;
	for (int i = 0; i < 7; i++) {
		corio_spawn_attr a = { 0, names[i] };
		ts[i] = corio_spawn_ex(fns[i], d, &a);
		if (!ts[i])
			return -ENOMEM;
		if (i == 0) {
			d->sleeper = ts[0];
			d->id_sleeper = corio_task_id(ts[0]);
		}
		corio_yield(); /* each one blocks before the next starts */
	}
	d->id_locker = corio_task_id(ts[1]);
	corio_cancel(ts[6]); /* shielded: keeps waiting, marked cancelled */
	{
		corio_spawn_attr a = { 0, names[7] };
		ts[7] = corio_spawn_ex(fns[7], d, &a);
		if (!ts[7])
			return -ENOMEM;
	}

	d->r_dump = corio_dump_tasks(d->fd);
	NO_TAIL_CALL();

	/* Let everything end. */
	corio_event_set(d->e);
	corio_queue_put(d->q, NULL);
	corio_cancel(d->sleeper);
	ts[0] = NULL; /* consumed by d-joiner */
	for (int i = 1; i < 8; i++)
		d->r[i] = corio_join(ts[i]);
	corio_mutex_free(d->m);
	corio_event_free(d->e);
	corio_queue_free(d->q);
	return 0;
}

static void dump_scenario(unsigned flags, struct dump *d)
{
	corio_config cfg = { .flags = flags };

	memset(d, 0, sizeof(*d));
	d->fd = memfd_create("dump", 0);
	assert_true(d->fd >= 0);
	assert_int_equal(run_captured(&cfg, dump_main_fn, d), 0);
	read_back(d->fd, d->text, sizeof(d->text));
	close(d->fd);
	assert_int_equal(d->r_dump, 0);
	assert_string_equal(err, "");
	/* Everything ended the way it should after the dump. */
	assert_int_equal(d->r[1], 0); /* locker */
	assert_int_equal(d->r[2], 0); /* mwaiter */
	assert_int_equal(d->r[3], 0); /* getter */
	assert_int_equal(d->r[4], -ECANCELED); /* joiner of the cancelled sleeper */
	assert_int_equal(d->r[5], 0); /* deadline */
	assert_int_equal(d->r[6], 0); /* shielded */
	assert_int_equal(d->r[7], 0); /* ready */
}

static void test_dump_tasks(void **state)
{
	struct dump *d = calloc(1, sizeof(*d));
	char want[256];

	assert_non_null(d);
	dump_scenario(0, d);

	assert_in(d->text, "corio: loop 0: 9 task(s)\n");
	snprintf(want, sizeof(want), "  task %llu 'main' running\n",
		 (unsigned long long)d->id_main);
	assert_in(d->text, want);
	snprintf(want, sizeof(want), "  task %llu 'd-sleeper' waiting on sleep, timer in ",
		 (unsigned long long)d->id_sleeper);
	assert_in(d->text, want);
	snprintf(want, sizeof(want), "'d-locker' waiting on event %p\n", d->e_addr);
	assert_in(d->text, want);
	snprintf(want, sizeof(want), "'d-mwaiter' waiting on mutex %p held by task %llu 'd-locker'\n",
		 d->m_addr, (unsigned long long)d->id_locker);
	assert_in(d->text, want);
	snprintf(want, sizeof(want), "'d-getter' waiting on queue %p (get, empty)\n", d->q_addr);
	assert_in(d->text, want);
	snprintf(want, sizeof(want), "'d-joiner' waiting on join of task %llu 'd-sleeper'\n",
		 (unsigned long long)d->id_sleeper);
	assert_in(d->text, want);
	snprintf(want, sizeof(want), "'d-deadline' waiting on event %p, deadline in ", d->e_addr);
	assert_in(d->text, want);
	assert_in(d->text, " (in a deadline scope)\n");
	snprintf(want, sizeof(want),
		 "'d-shielded' waiting on event %p (cancelled) (in a shield scope)\n", d->e_addr);
	assert_in(d->text, want);
	assert_in(d->text, "'d-ready' ready\n");
	/* Backtraces name the task functions (exported by -rdynamic). */
	assert_in(d->text, " dump_sleeper_fn+0x");
	assert_in(d->text, " dump_locker_fn+0x");
	assert_in(d->text, " dump_mwaiter_fn+0x");
	assert_in(d->text, " dump_getter_fn+0x");
	assert_in(d->text, " dump_joiner_fn+0x");
	assert_in(d->text, " dump_deadline_fn+0x");
	assert_in(d->text, " dump_shielded_fn+0x");
	assert_in(d->text, " dump_main_fn+0x"); /* the running task, too */
	/* The library's own exported frames (corio_sleep_ms may tail-call
	 * corio_sleep_ns), between the task and the switch. */
	if (!strstr(d->text, " corio_sleep_ms+0x"))
		assert_in(d->text, " corio_sleep_ns+0x");
	assert_in(d->text, " corio_event_wait+0x");
	assert_in(d->text, " corio_mutex_lock+0x");
	assert_in(d->text, "      #0 0x");
	/* Without debug mode, no stack figures. */
	assert_not_in(d->text, " stack ");

	dump_scenario(CORIO_CFG_DEBUG, d);
	assert_in(d->text, "'d-sleeper' waiting on sleep, timer in ");
	assert_in(d->text, " stack ");
	assert_in(d->text, "/65536\n");
	assert_in(d->text, " dump_getter_fn+0x");
	free(d);
}

static int dump_errors_main(void *arg)
{
	int *r = arg;
	int fd = open("/dev/null", O_RDONLY);

	r[0] = corio_dump_tasks(-1);
	r[1] = corio_dump_tasks(fd); /* not open for writing */
	close(fd);
	r[2] = corio_dump_tasks(fd); /* closed */
	return 0;
}

static void test_dump_tasks_errors(void **state)
{
	int r[3] = { 1, 1, 1 };

	assert_int_equal(corio_dump_tasks(2), -EPERM);
	assert_int_equal(corio_dump_tasks(-1), -EPERM);
	assert_int_equal(check_run(dump_errors_main, r), 0);
	assert_int_equal(r[0], -EBADF);
	assert_int_equal(r[1], -EBADF);
	assert_int_equal(r[2], -EBADF);
}

/* ------------------------------------------------------------------------
 * SIGQUIT
 * ------------------------------------------------------------------------ */

/* raise() is libc's, built without frame pointers: call it from a frame
 * of ours so that the raiser's own frame stays on the chain. */
static void __attribute__((noinline)) quit_now(void)
{
	raise(SIGQUIT);
	NO_TAIL_CALL();
}

int quit_raiser_fn(void *arg);
int __attribute__((noinline)) quit_raiser_fn(void *arg)
{
	quit_now();
	NO_TAIL_CALL();
	printf("raiser continued\n");
	return 0;
}

static int quit_main(void *arg)
{
	corio_spawn_attr as = { 0, "q-sleeper" }, ar = { 0, "q-raiser" };
	corio_task *s = corio_spawn_ex(linger_task_fn, NULL, &as);
	corio_task *q;
	int r;

	if (!s)
		return 10;
	corio_yield();
	q = corio_spawn_ex(quit_raiser_fn, NULL, &ar);
	if (!q)
		return 11;
	if (corio_join(q) != 0)
		return 12;
	corio_cancel(s);
	r = corio_join(s);
	printf("after quit: %d\n", r);
	return 0;
}

static int quit_child(void *arg)
{
	corio_config cfg = { .flags = CORIO_CFG_DEBUG };
	struct sigaction cur;

	/* A shell starts background jobs with SIGQUIT ignored; corio then
	 * (rightly) leaves it alone. Undo that, as a terminal's program. */
	if (sigaction(SIGQUIT, NULL, &cur) == 0 && cur.sa_handler == SIG_IGN)
		signal(SIGQUIT, SIG_DFL);
	setvbuf(stdout, NULL, _IONBF, 0);
	return corio_run_config(&cfg, quit_main, NULL);
}

static void test_sigquit_dump(void **state)
{
	check_child c;
	char st[64];

	check_fork_timeout(quit_child, NULL, &c, 10);
	if (!WIFEXITED(c.status) || WEXITSTATUS(c.status) != 0)
		fail_msg("child: %s\n%s", check_status_str(c.status, st, sizeof(st)), c.out);
	assert_in(c.out, "corio: loop 0: 3 task(s)\n");
	assert_in(c.out, "'q-sleeper' waiting on sleep, timer in ");
	assert_in(c.out, "'q-raiser' running");
	assert_in(c.out, "'main' waiting on join of task ");
	assert_in(c.out, " linger_task_fn+0x");
	/* The running raiser's walk starts in the handler. */
	const char *raiser = strstr(c.out, "'q-raiser' running");
	raiser = raiser ? strchr(raiser, '\n') : NULL;
	if (!raiser || strncmp(raiser, "\n      #0 0x", 12) != 0) {
		fprintf(stderr, "---\n%s---\n", c.out);
		fail_msg("expected frame #0 under the 'q-raiser' line in the text above");
	}
	/* Under ThreadSanitizer the handler is called from its signal
	 * interceptor (deferred delivery), built without frame pointers: the
	 * frame-pointer walk ends there, short of the raiser's own frames. */
	if (!CHECK_TSAN)
		assert_in(c.out, " quit_raiser_fn+0x");
	/* The program went on. */
	assert_in(c.out, "raiser continued\n");
	assert_in(c.out, "after quit: -125\n");
}

/* ------------------------------------------------------------------------
 * The deadlock report carries the dump
 * ------------------------------------------------------------------------ */

int deadlock_waiter_fn(void *arg);
int __attribute__((noinline)) deadlock_waiter_fn(void *arg)
{
	int r = corio_event_wait(arg);

	NO_TAIL_CALL();
	return r;
}

struct dlk {
	corio_event *e;
	uint64_t     waiter_id;
};

static int deadlock_main(void *arg)
{
	struct dlk *d = arg;
	corio_spawn_attr a = { 0, "dl-waiter" };
	corio_task *t = corio_spawn_ex(deadlock_waiter_fn, d->e, &a);

	if (!t)
		return -ENOMEM;
	d->waiter_id = corio_task_id(t);
	return corio_join(t);
}

static void test_deadlock_report_has_dump(void **state)
{
	struct dlk d = { 0 };
	corio_config cfg = { 0 };
	char want[256];

	d.e = corio_event_new();
	assert_non_null(d.e);
	assert_int_equal(run_captured(&cfg, deadlock_main, &d), -ECANCELED);
	corio_event_free(d.e);
	assert_in(err, "corio: deadlock: 2 task(s) blocked with nothing left to wake them\n"
		  "corio: loop 0: 2 task(s)\n");
	snprintf(want, sizeof(want), "  task %llu 'dl-waiter' waiting on event %p\n",
		 (unsigned long long)d.waiter_id, (void *)d.e);
	assert_in(err, want);
	snprintf(want, sizeof(want), "'main' waiting on join of task %llu 'dl-waiter'\n",
		 (unsigned long long)d.waiter_id);
	assert_in(err, want);
	assert_in(err, " deadlock_waiter_fn+0x");
	assert_in(err, "corio: cancelling them\n");
}

/* ------------------------------------------------------------------------
 * tools/corio-gdb.py
 * ------------------------------------------------------------------------ */

#define GDB_SCRIPT "tools/corio-gdb.py"

int gdb_sleeper_fn(void *arg);
int gdb_waiter_fn(void *arg);
int gdb_mwaiter_fn(void *arg);
int gdb_blocked_main(void *arg);

int __attribute__((noinline)) gdb_sleeper_fn(void *arg)
{
	int r = corio_sleep_ms(20000);

	NO_TAIL_CALL();
	return r;
}

int __attribute__((noinline)) gdb_waiter_fn(void *arg)
{
	int r = corio_event_wait(arg);

	NO_TAIL_CALL();
	return r;
}

int __attribute__((noinline)) gdb_mwaiter_fn(void *arg)
{
	int r = corio_mutex_lock(arg);

	NO_TAIL_CALL();
	if (r == 0)
		corio_mutex_unlock(arg);
	return r;
}

struct gdb_kid {
	int          ready_w, go_r;
	const char  *core_dir;
	corio_event *e;
	corio_mutex *m;
};

/* Sets up tasks that wait, says so, then blocks the thread (main is the
 * running task) until the parent says: 'C' go on and end, 'A' dump core. */
int __attribute__((noinline)) gdb_blocked_main(void *arg)
{
	struct gdb_kid *k = arg;
	corio_spawn_attr as = { 0, "gdb-sleeper" }, aw = { 0, "gdb-waiter" },
			 am = { 0, "gdb-mwaiter" };
	corio_task *s, *w, *m;
	char c = 'C';

	k->e = corio_event_new();
	k->m = corio_mutex_new();
	if (!k->e || !k->m || corio_mutex_lock(k->m) < 0)
		return 20;
	s = corio_spawn_ex(gdb_sleeper_fn, NULL, &as);
	w = corio_spawn_ex(gdb_waiter_fn, k->e, &aw);
	m = corio_spawn_ex(gdb_mwaiter_fn, k->m, &am);
	if (!s || !w || !m)
		return 21;
	corio_yield();
	corio_yield();
	if (write(k->ready_w, "R", 1) != 1)
		return 22;
	while (read(k->go_r, &c, 1) < 0 && errno == EINTR)
		;
	NO_TAIL_CALL();
	if (c == 'A') {
		struct rlimit rl;
		if (getrlimit(RLIMIT_CORE, &rl) == 0) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_CORE, &rl);
		}
		if (chdir(k->core_dir) == 0)
			abort();
		return 23;
	}
	corio_cancel(s);
	corio_event_set(k->e);
	corio_mutex_unlock(k->m);
	corio_join(s);
	corio_join(w);
	corio_join(m);
	corio_mutex_free(k->m);
	corio_event_free(k->e);
	return 0;
}

static int have_gdb(void)
{
	return system("command -v gdb >/dev/null 2>&1") == 0;
}

/* Runs a shell command, its stdout+stderr into out. */
static void run_cmd(const char *cmd, char *out, size_t cap)
{
	FILE *p = popen(cmd, "r");
	size_t len = 0, n;

	assert_non_null(p);
	while (len < cap - 1 && (n = fread(out + len, 1, cap - 1 - len, p)) > 0)
		len += n;
	out[len] = '\0';
	pclose(p);
}

/* Where the kernel puts a core of a process in dir: a relative
 * core_pattern (not a pipe, not an absolute path). */
static int kernel_core_possible(void)
{
	char pat[256] = "";
	FILE *f = fopen("/proc/sys/kernel/core_pattern", "r");

	if (f) {
		if (!fgets(pat, sizeof(pat), f))
			pat[0] = '\0';
		fclose(f);
	}
	return pat[0] && pat[0] != '|' && pat[0] != '/';
}

/* The one file in dir (the core), into path; 0 when there is none. */
static int find_core(const char *dir, char *path, size_t cap)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int found = 0;

	if (!d)
		return 0;
	while (!found && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, cap, "%s/%s", dir, e->d_name);
		found = 1;
	}
	closedir(d);
	return found;
}

static void remove_dir(const char *dir)
{
	char path[PATH_MAX];

	while (find_core(dir, path, sizeof(path)))
		if (unlink(path) < 0)
			break;
	rmdir(dir);
}

#define GDB_CMD "gdb -nx -batch -ex 'set debuginfod enabled off' -ex 'set style enabled off' "

/* The script against a live process, then against the kernel's core of
 * the same process. */
static void test_gdb_script(void **state)
{
	static char out[32768], core_out[32768];
	char exe[PATH_MAX], cmd[PATH_MAX * 3], core[PATH_MAX + 300];
	char dir[] = "/tmp/corio-gdb-XXXXXX";
	int ready[2], go[2], status = 0, want_core, core_ok = 0;
	const char *tmo = system("command -v timeout >/dev/null 2>&1") == 0 ? "timeout -k 5 60 " : "";
	struct pollfd pfd;
	ssize_t n;
	pid_t pid;
	char c;

	if (CHECK_VALGRIND)
		CHECK_SKIP_TEST("skip: under valgrind, gdb -p attaches to valgrind itself (the "
				"executable and registers it sees are valgrind's: no corio symbols "
				"to read), and a crash leaves valgrind's vgcore, not the kernel's "
				"core\n");
	if (!have_gdb())
		CHECK_SKIP_TEST("skip: gdb is not installed\n");
	if (access(GDB_SCRIPT, R_OK) != 0)
		CHECK_SKIP_TEST("skip: %s not found (run from the repository root)\n", GDB_SCRIPT);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	/* ASan's shadow makes cores huge: live process only. */
	want_core = !CHECK_ASAN && kernel_core_possible() && mkdtemp(dir) != NULL;
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct gdb_kid k = { ready[1], go[0], dir, NULL, NULL };
		int r;

		close(ready[0]);
		close(go[1]);
		signal(SIGABRT, SIG_DFL);
		signal(SIGALRM, SIG_DFL);
		alarm(60);
		r = corio_run(gdb_blocked_main, &k);
		_exit(r & 255);
	}
	close(ready[1]);
	close(go[0]);
	pfd.fd = ready[0];
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 10000) != 1 || read(ready[0], &c, 1) != 1) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		close(ready[0]);
		close(go[1]);
		if (want_core)
			remove_dir(dir);
		fail_msg("the child never got its tasks ready (status 0x%x)", status);
	}

	snprintf(cmd, sizeof(cmd),
		 "%s" GDB_CMD "-p %d -ex 'source %s' -ex 'echo ==tasks\\n' -ex corio-tasks "
		 "-ex 'echo ==quiet\\n' -ex 'corio-tasks -q' -ex detach 2>&1 </dev/null",
		 tmo, (int)pid, GDB_SCRIPT);
	run_cmd(cmd, out, sizeof(out));

	/* Let the child go on and end, or dump core. */
	if (write(go[1], want_core ? "A" : "C", 1) != 1)
		kill(pid, SIGKILL);
	close(go[1]);
	close(ready[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (want_core) {
		if (WIFSIGNALED(status) && WCOREDUMP(status) && find_core(dir, core, sizeof(core))) {
			snprintf(cmd, sizeof(cmd),
				 "%s" GDB_CMD "'%s' '%s' -ex 'source %s' -ex corio-tasks 2>&1 </dev/null",
				 tmo, exe, core, GDB_SCRIPT);
			run_cmd(cmd, core_out, sizeof(core_out));
			core_ok = 1;
		} else {
			print_message("note: no core file (RLIMIT_CORE?): the core part is skipped\n");
		}
		remove_dir(dir);
	}

	if (want_core) {
		if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
			fail_msg("child: status 0x%x, expected SIGABRT", status);
	} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fail_msg("child: status 0x%x", status);
	}

	/* The core file (no ptrace needed). */
	if (core_ok) {
		assert_in(core_out, "corio: loop 0 (0x");
		assert_in(core_out, ") on thread 1 (LWP ");
		assert_in(core_out, "): 4 task(s)\n");
		assert_in(core_out, "'gdb-sleeper' waiting on sleep, timer at ");
		assert_in(core_out, "'gdb-waiter' waiting on event 0x");
		assert_in(core_out, "'gdb-mwaiter' waiting on mutex 0x");
		assert_in(core_out, " held by task 1 'main'");
		assert_in(core_out, " in gdb_sleeper_fn at tests/test_debug.c:");
		assert_in(core_out, " in gdb_waiter_fn at tests/test_debug.c:");
		assert_in(core_out, " in gdb_mwaiter_fn at tests/test_debug.c:");
		assert_in(core_out, "'main' running");
		assert_in(core_out, "      running on thread 1 (LWP ");
		assert_not_in(core_out, "Traceback");
		assert_not_in(core_out, "Python Exception");
		assert_not_in(core_out, "Error occurred");
	}

	/* The live process. */
	if (strstr(out, "ptrace: Operation not permitted") ||
	    strstr(out, "Could not attach to process") || strstr(out, "Couldn't get registers"))
		CHECK_SKIP_TEST("skip: gdb cannot attach to processes here%s:\n%s\n",
			 core_ok ? " (the core file part passed)" : "", out);
	assert_in(out, "==tasks\ncorio: loop 0 (0x");
	assert_in(out, ") on thread 1 (LWP ");
	assert_in(out, "): 4 task(s)\n");
	assert_in(out, "'main' running");
	assert_in(out, "      running on thread 1 (LWP ");
	assert_in(out, "'gdb-sleeper' waiting on sleep, timer in ");
	assert_in(out, "'gdb-waiter' waiting on event 0x");
	assert_in(out, "'gdb-mwaiter' waiting on mutex 0x");
	assert_in(out, " held by task 1 'main'");
	assert_in(out, " in gdb_sleeper_fn at tests/test_debug.c:");
	assert_in(out, " in gdb_waiter_fn at tests/test_debug.c:");
	assert_in(out, " in gdb_mwaiter_fn at tests/test_debug.c:");
	assert_in(out, " in corio__task_entry at ");
	assert_not_in(out, "Traceback");
	assert_not_in(out, "Python Exception");
	assert_not_in(out, "Error occurred");
	/* -q: the list without backtraces. */
	{
		const char *q = strstr(out, "==quiet\n");
		assert_non_null(q);
		assert_in(q, "'gdb-sleeper' waiting on sleep");
		assert_not_in(q, " in gdb_sleeper_fn");
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		CHECK_TEST(test_slow_task_reported),
		CHECK_TEST(test_slow_task_not_reported_without_debug),
		CHECK_TEST(test_slow_task_env),
		CHECK_TEST(test_slow_task_yield_is_a_suspension),
		CHECK_TEST(test_unobserved_failures_reported),
		CHECK_TEST(test_observed_failures_not_reported),
		CHECK_TEST(test_alive_at_main_return_listed),
		CHECK_TEST(test_leaks_at_close_reported),
		CHECK_TEST(test_group_never_freed_reported_once),
		CHECK_TEST(test_objects_made_before_the_loop_not_reported),
		CHECK_TEST(test_stack_peak),
		CHECK_TEST(test_stack_peak_pooled_stack),
		CHECK_TEST(test_stack_use_warning),
		CHECK_TEST(test_dump_tasks),
		CHECK_TEST(test_dump_tasks_errors),
		CHECK_TEST(test_sigquit_dump),
		CHECK_TEST(test_deadlock_report_has_dump),
		CHECK_TEST(test_gdb_script),
	};

	/* The environment must not turn debug mode on behind the tests' back. */
	unsetenv("CORIO_DEBUG");
	unsetenv("CORIO_SLOW_TASK_MS");
	check_init(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
