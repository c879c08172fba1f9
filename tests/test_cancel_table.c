/*
 * test_cancel_table.c - cancellation and deadlines at every kind of
 * suspension, table-driven.
 *
 * Rows are the ways a task can wait: sleep, join, gather, group wait,
 * wait_for, event wait, mutex lock, semaphore acquire, condition wait,
 * queue put (full queue), queue get (empty queue). Every row runs every
 * scenario, each as a test of its own named "row: scenario":
 *
 *   cancel           cancelled while suspended: -ECANCELED promptly,
 *                    nothing taken, later blocking calls fail too
 *   precancel        cancelled before the call: -ECANCELED at once (the
 *                    sync calls and sleep do not even suspend)
 *   deadline         inside a 20 ms deadline scope: -ETIMEDOUT near the
 *                    deadline, nothing taken
 *   shield           inside a shield scope: the cancel does not interrupt
 *                    the wait, which completes when its condition is met;
 *                    shield_pop then reports the cancel and later blocking
 *                    calls fail
 *   shield+deadline  a deadline pushed inside a shield still applies (and
 *                    one outside it does not): -ETIMEDOUT at the inner one
 *
 * For the rows that wait on tasks (join, gather, group, wait_for), the
 * targets must be cancelled and ended when the call returns.
 *
 * Then the handover races: what was handed to a waiter (an item, the lock,
 * a unit, the event) before a cancel or a due timer reached it is its own,
 * and a cancelled caller takes nothing even when nothing would block.
 */
#include "check.h"

#include <limits.h>

/* Upper bounds only; valgrind and TSan are slower (check.h). */
#define SLACK_MS (200 * CHECK_TIME_SCALE)
#define ITEM(i)  ((void *)(uintptr_t)(0x7000 + (i)))

static uint64_t switches(void)
{
	corio_stats st;

	if (corio_loop_stats(&st) < 0)
		return 0;
	return st.switches;
}

static void settle(void)
{
	for (int i = 0; i < 10; i++)
		corio_yield();
}

static uint64_t ms_between(uint64_t a, uint64_t b)
{
	return b > a ? (b - a) / 1000000u : 0;
}

/* The scenarios: enum check_scenario in check.h. */

#define NTG_MAX 3
#define TARGET_OK 7

/* A task a join-like row waits on: waits for the gate, returns 7; when
 * cancelled, cleans up for 5 ms (shielded) before it ends, so that a call
 * that returned early would be caught. */
struct tgt {
	corio_event *gate;
	int          started, ended, r;
};

static int target_fn(void *arg)
{
	struct tgt *tg = arg;

	tg->started = 1;
	tg->r = corio_event_wait(tg->gate);
	if (tg->r < 0) {
		corio_shield_push();
		corio_sleep_ms(5);
		corio_shield_pop();
	}
	tg->ended = 1;
	return tg->r < 0 ? tg->r : TARGET_OK;
}

struct row;

struct cx {
	const struct row *row;
	int               sc;
	corio_event      *e;      /* the event row's event; the targets' gate */
	corio_event      *spare;  /* never set: for the later blocking calls */
	corio_mutex      *m;
	corio_sem        *s;
	corio_cond       *c;
	corio_queue      *q;
	corio_group      *g;
	struct tgt        tg[NTG_MAX];
	int               results[NTG_MAX];
	uint64_t          sleep_ms;
	/* What the victim saw. */
	int               started, returned;
	int               r;                  /* the blocking call */
	int               post_r;             /* mutex, cond: unlock after it */
	int               pop_r, pop2_r, pop3_r;
	int               later1, later2;
	void             *got;
	uint64_t          t_armed;            /* before the scopes were pushed */
	uint64_t          op_start, op_end, sw0, sw1;
	int               ended_at_return;
};

struct row {
	const char *name;
	int         ok;       /* the call's result when its wait completes */
	int         ntg;      /* targets (join-like rows) */
	void      (*setup)(struct cx *);      /* main: make the call block */
	int       (*op)(struct cx *);         /* victim: the blocking call */
	void      (*after)(struct cx *);      /* victim: right after it */
	void      (*release)(struct cx *);    /* main: let the call complete */
	void      (*untaken)(struct cx *);    /* main: nothing was taken */
	void      (*completed)(struct cx *);  /* main: the call completed */
	void      (*teardown)(struct cx *);
};

/* ------------------------------------------------------------------------
 * Rows
 * ------------------------------------------------------------------------ */

/* sleep */
static void sleep_setup(struct cx *cx)
{
	/* Shielded, it must outlast main's 5 + 15 ms of naps: longer where
	 * the loop can stall for tens of milliseconds (valgrind, TSan). */
	cx->sleep_ms = cx->sc == SC_SHIELD ? 40 * CHECK_TIME_SCALE : 10000;
}

static int sleep_op(struct cx *cx)
{
	return corio_sleep_ms(cx->sleep_ms);
}

static void sleep_completed(struct cx *cx)
{
	assert_true(ms_between(cx->op_start, cx->op_end) >= cx->sleep_ms - 1);
}

/* join-like rows share the gate and the checks */
static void targets_setup(struct cx *cx)
{
	cx->e = corio_event_new();
	assert_non_null(cx->e);
	for (int i = 0; i < NTG_MAX; i++)
		cx->tg[i].gate = cx->e;
}

static void targets_release(struct cx *cx)
{
	corio_event_set(cx->e);
}

static void targets_teardown(struct cx *cx)
{
	errno = 0;
	corio_event_free(cx->e);
	assert_int_equal(errno, 0);
}

static int join_op(struct cx *cx)
{
	corio_task *t = corio_spawn(target_fn, &cx->tg[0]);

	if (!t)
		return -errno;
	return corio_join(t);
}

static int gather_op(struct cx *cx)
{
	corio_task *ts[NTG_MAX];

	for (int i = 0; i < NTG_MAX; i++) {
		ts[i] = corio_spawn(target_fn, &cx->tg[i]);
		if (!ts[i])
			return -errno;
	}
	return corio_gather(ts, NTG_MAX, cx->results, 0);
}

static void gather_untaken(struct cx *cx)
{
	/* Every target ended, so every slot holds its result. */
	for (int i = 0; i < NTG_MAX; i++)
		assert_int_equal(cx->results[i], -ECANCELED);
}

static void gather_completed(struct cx *cx)
{
	for (int i = 0; i < NTG_MAX; i++)
		assert_int_equal(cx->results[i], TARGET_OK);
}

static void group_setup(struct cx *cx)
{
	targets_setup(cx);
	cx->g = corio_group_new();
	assert_non_null(cx->g);
}

static int group_op(struct cx *cx)
{
	for (int i = 0; i < NTG_MAX; i++)
		if (!corio_group_spawn(cx->g, target_fn, &cx->tg[i]))
			return -errno;
	return corio_group_wait(cx->g);
}

static void group_check_results(struct cx *cx, int want)
{
	corio_task_result res[NTG_MAX];

	assert_int_equal(corio_group_results(cx->g, res, NTG_MAX), NTG_MAX);
	for (int i = 0; i < NTG_MAX; i++)
		assert_int_equal(res[i].result, want);
	/* -ECANCELED is not a failure. */
	assert_int_equal(corio_group_errors(cx->g, NULL, 0), 0);
}

static void group_untaken(struct cx *cx)
{
	group_check_results(cx, -ECANCELED);
}

static void group_completed(struct cx *cx)
{
	group_check_results(cx, TARGET_OK);
}

static void group_teardown(struct cx *cx)
{
	errno = 0;
	corio_group_free(cx->g);
	assert_int_equal(errno, 0);
	targets_teardown(cx);
}

static int wait_for_op(struct cx *cx)
{
	corio_task *t = corio_spawn(target_fn, &cx->tg[0]);

	if (!t)
		return -errno;
	return corio_wait_for(t, 10000);
}

/* event */
static void event_setup(struct cx *cx)
{
	cx->e = corio_event_new();
	assert_non_null(cx->e);
}

static int event_op(struct cx *cx)
{
	return corio_event_wait(cx->e);
}

static void event_release(struct cx *cx)
{
	corio_event_set(cx->e);
}

static void event_untaken(struct cx *cx)
{
	assert_int_equal(corio_event_is_set(cx->e), 0);
	corio_event_set(cx->e); /* nobody waits any more */
	assert_int_equal(corio_event_wait(cx->e), 0);
}

static void event_teardown(struct cx *cx)
{
	errno = 0;
	corio_event_free(cx->e);
	assert_int_equal(errno, 0);
}

/* mutex: main holds it */
static void mutex_setup(struct cx *cx)
{
	cx->m = corio_mutex_new();
	assert_non_null(cx->m);
	assert_int_equal(corio_mutex_lock(cx->m), 0);
}

static int mutex_op(struct cx *cx)
{
	return corio_mutex_lock(cx->m);
}

static void mutex_after(struct cx *cx)
{
	cx->post_r = corio_mutex_unlock(cx->m);
}

static void mutex_release(struct cx *cx)
{
	assert_int_equal(corio_mutex_unlock(cx->m), 0);
}

static void mutex_untaken(struct cx *cx)
{
	assert_int_equal(cx->post_r, -EPERM); /* the victim did not hold it */
	/* Still ours, and nobody is queued for it any more. */
	assert_int_equal(corio_mutex_unlock(cx->m), 0);
	assert_int_equal(corio_mutex_trylock(cx->m), 0);
	assert_int_equal(corio_mutex_unlock(cx->m), 0);
}

static void mutex_completed(struct cx *cx)
{
	assert_int_equal(cx->post_r, 0);
	assert_int_equal(corio_mutex_trylock(cx->m), 0);
	assert_int_equal(corio_mutex_unlock(cx->m), 0);
}

static void mutex_teardown(struct cx *cx)
{
	errno = 0;
	corio_mutex_free(cx->m);
	assert_int_equal(errno, 0);
}

/* semaphore: one unit, main holds it */
static void sem_setup(struct cx *cx)
{
	cx->s = corio_sem_new(1);
	assert_non_null(cx->s);
	assert_int_equal(corio_sem_acquire(cx->s), 0);
}

static int sem_op(struct cx *cx)
{
	return corio_sem_acquire(cx->s);
}

static void sem_after(struct cx *cx)
{
	if (cx->r == 0)
		corio_sem_release(cx->s);
}

static void sem_release(struct cx *cx)
{
	corio_sem_release(cx->s);
}

static void sem_untaken(struct cx *cx)
{
	assert_int_equal(corio_sem_value(cx->s), 0);
	/* The unit comes back to the semaphore, not to a ghost waiter. */
	errno = 0;
	corio_sem_release(cx->s);
	assert_int_equal(errno, 0);
	assert_int_equal(corio_sem_value(cx->s), 1);
	assert_int_equal(corio_sem_try_acquire(cx->s), 0);
	corio_sem_release(cx->s);
}

static void sem_completed(struct cx *cx)
{
	assert_int_equal(corio_sem_value(cx->s), 1);
}

static void sem_teardown(struct cx *cx)
{
	errno = 0;
	corio_sem_free(cx->s);
	assert_int_equal(errno, 0);
}

/* condition: the victim holds the mutex (trylock: not a blocking call) */
static void cond_setup(struct cx *cx)
{
	cx->m = corio_mutex_new();
	cx->c = corio_cond_new();
	assert_non_null(cx->m);
	assert_non_null(cx->c);
}

static int cond_op(struct cx *cx)
{
	int r = corio_mutex_trylock(cx->m);

	return r < 0 ? r : corio_cond_wait(cx->c, cx->m);
}

static void cond_release(struct cx *cx)
{
	assert_int_equal(corio_mutex_lock(cx->m), 0);
	corio_cond_signal(cx->c);
	assert_int_equal(corio_mutex_unlock(cx->m), 0);
}

struct cond_helper {
	struct cx *cx;
	int        r, unlock_r;
};

static int cond_helper_fn(void *arg)
{
	struct cond_helper *h = arg;

	h->r = corio_mutex_trylock(h->cx->m);
	if (h->r == 0)
		h->r = corio_cond_wait(h->cx->c, h->cx->m);
	h->unlock_r = corio_mutex_unlock(h->cx->m);
	return 0;
}

static void cond_untaken(struct cx *cx)
{
	struct cond_helper h = { .cx = cx, .r = 1 };
	corio_task *t;

	/* It held the mutex again when its wait returned. */
	assert_int_equal(cx->post_r, 0);
	/* And left the condition: the next signal goes to a new waiter. */
	t = corio_spawn(cond_helper_fn, &h);
	assert_non_null(t);
	settle();
	cond_release(cx);
	assert_int_equal(corio_join(t), 0);
	assert_int_equal(h.r, 0);
	assert_int_equal(h.unlock_r, 0);
}

static void cond_completed(struct cx *cx)
{
	assert_int_equal(cx->post_r, 0);
	assert_int_equal(corio_mutex_trylock(cx->m), 0);
	assert_int_equal(corio_mutex_unlock(cx->m), 0);
}

static void cond_teardown(struct cx *cx)
{
	errno = 0;
	corio_cond_free(cx->c);
	corio_mutex_free(cx->m);
	assert_int_equal(errno, 0);
}

/* queue put: capacity 1, holding ITEM(1) */
static void qput_setup(struct cx *cx)
{
	cx->q = corio_queue_new(1);
	assert_non_null(cx->q);
	assert_int_equal(corio_queue_try_put(cx->q, ITEM(1)), 0);
}

static int qput_op(struct cx *cx)
{
	return corio_queue_put(cx->q, ITEM(2));
}

static void qput_release(struct cx *cx)
{
	void *it = NULL;

	assert_int_equal(corio_queue_try_get(cx->q, &it), 0);
	assert_ptr_equal(it, ITEM(1));
}

static void qput_untaken(struct cx *cx)
{
	void *it = NULL;

	/* ITEM(2) was not enqueued, not even when a slot came free. */
	assert_int_equal(corio_queue_size(cx->q), 1);
	assert_int_equal(corio_queue_try_get(cx->q, &it), 0);
	assert_ptr_equal(it, ITEM(1));
	assert_int_equal(corio_queue_try_get(cx->q, &it), -EAGAIN);
	assert_int_equal(corio_queue_size(cx->q), 0);
}

static void qput_completed(struct cx *cx)
{
	void *it = NULL;

	assert_int_equal(corio_queue_try_get(cx->q, &it), 0);
	assert_ptr_equal(it, ITEM(2));
	assert_int_equal(corio_queue_try_get(cx->q, &it), -EAGAIN);
}

static void queue_teardown(struct cx *cx)
{
	errno = 0;
	corio_queue_free(cx->q);
	assert_int_equal(errno, 0);
}

/* queue get: capacity 1, empty */
static void qget_setup(struct cx *cx)
{
	cx->q = corio_queue_new(1);
	assert_non_null(cx->q);
}

static int qget_op(struct cx *cx)
{
	return corio_queue_get(cx->q, &cx->got);
}

static void qget_release(struct cx *cx)
{
	assert_int_equal(corio_queue_try_put(cx->q, ITEM(7)), 0);
}

struct getter {
	corio_queue *q;
	void        *got;
	int          r;
};

static int getter_fn(void *arg)
{
	struct getter *g = arg;

	g->r = corio_queue_get(g->q, &g->got);
	return 0;
}

static void qget_untaken(struct cx *cx)
{
	struct getter g = { .q = cx->q };
	corio_task *t;

	assert_null(cx->got);
	/* The next item goes to the next getter, not to the cancelled one. */
	t = corio_spawn(getter_fn, &g);
	assert_non_null(t);
	settle();
	assert_int_equal(corio_queue_try_put(cx->q, ITEM(7)), 0);
	assert_int_equal(corio_join(t), 0);
	assert_int_equal(g.r, 0);
	assert_ptr_equal(g.got, ITEM(7));
	assert_int_equal(corio_queue_size(cx->q), 0);
}

static void qget_completed(struct cx *cx)
{
	assert_ptr_equal(cx->got, ITEM(7));
	assert_int_equal(corio_queue_size(cx->q), 0);
}

static const struct row rows[] = {
	{ "sleep", 0, 0, sleep_setup, sleep_op, NULL, NULL, NULL, sleep_completed, NULL },
	{ "join", TARGET_OK, 1, targets_setup, join_op, NULL, targets_release, NULL, NULL,
	  targets_teardown },
	{ "gather", 0, NTG_MAX, targets_setup, gather_op, NULL, targets_release, gather_untaken,
	  gather_completed, targets_teardown },
	{ "group wait", 0, NTG_MAX, group_setup, group_op, NULL, targets_release, group_untaken,
	  group_completed, group_teardown },
	{ "wait_for", TARGET_OK, 1, targets_setup, wait_for_op, NULL, targets_release, NULL, NULL,
	  targets_teardown },
	{ "event wait", 0, 0, event_setup, event_op, NULL, event_release, event_untaken, NULL,
	  event_teardown },
	{ "mutex lock", 0, 0, mutex_setup, mutex_op, mutex_after, mutex_release, mutex_untaken,
	  mutex_completed, mutex_teardown },
	{ "sem acquire", 0, 0, sem_setup, sem_op, sem_after, sem_release, sem_untaken,
	  sem_completed, sem_teardown },
	{ "cond wait", 0, 0, cond_setup, cond_op, mutex_after, cond_release, cond_untaken,
	  cond_completed, cond_teardown },
	{ "queue put (full)", 0, 0, qput_setup, qput_op, NULL, qput_release, qput_untaken,
	  qput_completed, queue_teardown },
	{ "queue get (empty)", 0, 0, qget_setup, qget_op, NULL, qget_release, qget_untaken,
	  qget_completed, queue_teardown },
};

#define NROWS (sizeof(rows) / sizeof(rows[0]))

/* ------------------------------------------------------------------------
 * The victim and the scenario driver
 * ------------------------------------------------------------------------ */

static int victim(void *arg)
{
	struct cx *cx = arg;

	cx->started = 1;
	/* Deadlines count from their push: a lower bound measured from
	 * op_start would count a stall in between (valgrind) as early. */
	cx->t_armed = corio_now_ns();
	check_sc_enter(cx->sc);
	cx->sw0 = switches();
	cx->op_start = corio_now_ns();
	cx->r = cx->row->op(cx);
	cx->op_end = corio_now_ns();
	cx->sw1 = switches();
	for (int i = 0; i < cx->row->ntg; i++)
		cx->ended_at_return += cx->tg[i].ended;
	if (cx->row->after)
		cx->row->after(cx);
	check_sc_leave(cx->sc, &cx->pop_r, &cx->pop2_r, &cx->pop3_r);
	/* Later blocking calls. A safety deadline keeps a missing cancel from
	 * hanging the test (the cancel, when there is one, takes precedence). */
	corio_deadline_push(500);
	if (cx->sc == SC_DEADLINE) {
		cx->later1 = corio_sleep_ms(1);
	} else {
		cx->later1 = corio_sleep_ms(50);
		cx->later2 = corio_event_wait(cx->spare);
	}
	corio_deadline_pop();
	cx->returned = 1;
	return 0;
}

static int table_main(void *arg)
{
	struct cx *cx = arg;
	const struct row *row = cx->row;
	corio_task *v;
	uint64_t t_cancel = 0;
	int want;

	cx->spare = corio_event_new();
	assert_non_null(cx->spare);
	row->setup(cx);
	v = corio_spawn(victim, cx);
	assert_non_null(v);
	switch (cx->sc) {
	case SC_PRECANCEL:
		assert_int_equal(corio_cancel(v), 0);
		assert_int_equal(cx->started, 0);
		break;
	case SC_CANCEL:
		assert_int_equal(corio_sleep_ms(5), 0);
		assert_int_equal(cx->started, 1);
		assert_int_equal(cx->returned, 0);
		for (int i = 0; i < row->ntg; i++)
			assert_int_equal(cx->tg[i].started, 1);
		t_cancel = corio_now_ns();
		assert_int_equal(corio_cancel(v), 0);
		break;
	case SC_DEADLINE:
		break;
	case SC_SHIELD:
	case SC_SHIELD_DEADLINE:
		assert_int_equal(corio_sleep_ms(5), 0);
		assert_int_equal(cx->started, 1);
		assert_int_equal(corio_cancel(v), 0);
		if (cx->sc == SC_SHIELD_DEADLINE)
			break;
		/* The cancel did not interrupt the wait. */
		assert_int_equal(corio_sleep_ms(15), 0);
		assert_int_equal(cx->returned, 0);
		for (int i = 0; i < row->ntg; i++)
			assert_int_equal(cx->tg[i].ended, 0);
		if (row->release)
			row->release(cx);
		break;
	}
	assert_int_equal(corio_join(v), 0);
	assert_int_equal(cx->returned, 1);

	/* The call's result, and when it came. */
	switch (cx->sc) {
	case SC_CANCEL:
		want = -ECANCELED;
		assert_int_equal(cx->r, want);
		assert_true(ms_between(t_cancel, cx->op_end) < SLACK_MS);
		break;
	case SC_PRECANCEL:
		want = -ECANCELED;
		assert_int_equal(cx->r, want);
		assert_true(ms_between(cx->op_start, cx->op_end) < SLACK_MS);
		/* Nothing to wait for: it did not even suspend. (Join-like
		 * calls do: they wait for their targets to end.) */
		if (row->ntg == 0)
			assert_int_equal(cx->sw1, cx->sw0);
		break;
	case SC_DEADLINE:
		want = -ETIMEDOUT;
		assert_int_equal(cx->r, want);
		/* Not before the deadline (from its push), promptly after it
		 * (from the call). */
		assert_between(ms_between(cx->t_armed, cx->op_end), 19, INT_MAX);
		assert_between(ms_between(cx->op_start, cx->op_end), 0, 20 + SLACK_MS);
		assert_int_equal(cx->pop_r, -ETIMEDOUT);
		break;
	case SC_SHIELD:
		want = row->ok;
		assert_int_equal(cx->r, want);
		assert_int_equal(cx->pop_r, -ECANCELED);
		break;
	default: /* SC_SHIELD_DEADLINE */
		want = -ETIMEDOUT;
		assert_int_equal(cx->r, want);
		assert_between(ms_between(cx->t_armed, cx->op_end), 29, INT_MAX);
		assert_between(ms_between(cx->op_start, cx->op_end), 0, 30 + SLACK_MS);
		assert_int_equal(cx->pop_r, -ETIMEDOUT);  /* the inner deadline */
		assert_int_equal(cx->pop2_r, -ECANCELED); /* the shield */
		assert_int_equal(cx->pop3_r, -ETIMEDOUT); /* the outer deadline */
		break;
	}

	/* The task's later blocking calls. */
	if (cx->sc == SC_DEADLINE) {
		assert_int_equal(cx->later1, 0);
	} else {
		assert_int_equal(cx->later1, -ECANCELED);
		assert_int_equal(cx->later2, -ECANCELED);
	}

	/* Targets: cancelled and ended before the call returned, unless the
	 * wait completed normally. */
	if (row->ntg) {
		assert_int_equal(cx->ended_at_return, row->ntg);
		for (int i = 0; i < row->ntg; i++) {
			assert_int_equal(cx->tg[i].ended, 1);
			assert_int_equal(cx->tg[i].r, cx->sc == SC_SHIELD ? 0 : -ECANCELED);
		}
	}

	if (cx->sc == SC_SHIELD) {
		if (row->completed)
			row->completed(cx);
	} else if (row->untaken) {
		row->untaken(cx);
	}
	if (row->teardown)
		row->teardown(cx);
	corio_event_free(cx->spare);
	return 0;
}

struct table_case {
	const struct row *row;
	int               sc;
	char              name[64];
};

static void test_table(void **state)
{
	const struct table_case *tc = *state;
	struct cx *cx = calloc(1, sizeof(*cx));

	assert_non_null(cx);
	cx->row = tc->row;
	cx->sc = tc->sc;
	alarm(20); /* a wait nobody interrupts would hang the whole program */
	assert_int_equal(check_run(table_main, cx), 0);
	alarm(0);
	free(cx);
}

/* ------------------------------------------------------------------------
 * Cancelling a task that has ended
 * ------------------------------------------------------------------------ */

static int ret7(void *arg)
{
	return 7;
}

static int ret_err(void *arg)
{
	return -EIO;
}

static int self_cancelled(void *arg)
{
	corio_cancel(corio_current());
	return corio_sleep_ms(1000);
}

static int cancel_ended_main(void *arg)
{
	corio_task *a = corio_spawn(ret7, NULL);
	corio_task *b = corio_spawn(ret_err, NULL);
	corio_task *c = corio_spawn(self_cancelled, NULL);

	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	settle();
	assert_int_equal(corio_cancel(a), 0);
	assert_int_equal(corio_cancel(b), 0);
	assert_int_equal(corio_cancel(c), 0);
	assert_int_equal(corio_cancel(a), 0);
	/* Their results are untouched. */
	assert_int_equal(corio_join(a), 7);
	assert_int_equal(corio_join(b), -EIO);
	assert_int_equal(corio_join(c), -ECANCELED);
	return 0;
}

static void test_cancel_ended_task(void **state)
{
	assert_int_equal(check_run(cancel_ended_main, NULL), 0);
}

/* ------------------------------------------------------------------------
 * Handover races: handed over, then cancelled in the same loop turn before
 * the waiter ran. What was handed over is the waiter's.
 * ------------------------------------------------------------------------ */

struct hv {
	corio_queue *q;
	corio_mutex *m;
	corio_sem   *s;
	corio_event *e;
	corio_cond  *c;
	void        *item;
	int          deadline_ms;
	int          r, post_r, pop_r, later_r, done;
};

static void hv_later(struct hv *h)
{
	if (h->deadline_ms)
		h->pop_r = corio_deadline_pop();
	corio_deadline_push(500);
	h->later_r = corio_sleep_ms(50);
	corio_deadline_pop();
	h->done = 1;
}

static void hv_scope(struct hv *h)
{
	if (h->deadline_ms)
		corio_deadline_push((uint64_t)h->deadline_ms);
}

static int hv_get(void *arg)
{
	struct hv *h = arg;

	hv_scope(h);
	h->r = corio_queue_get(h->q, &h->item);
	hv_later(h);
	return 0;
}

static int hv_put(void *arg)
{
	struct hv *h = arg;

	hv_scope(h);
	h->r = corio_queue_put(h->q, ITEM(2));
	hv_later(h);
	return 0;
}

static int hv_lock(void *arg)
{
	struct hv *h = arg;

	hv_scope(h);
	h->r = corio_mutex_lock(h->m);
	h->post_r = corio_mutex_unlock(h->m);
	hv_later(h);
	return 0;
}

static int hv_acquire(void *arg)
{
	struct hv *h = arg;

	hv_scope(h);
	h->r = corio_sem_acquire(h->s);
	if (h->r == 0)
		corio_sem_release(h->s);
	hv_later(h);
	return 0;
}

static int hv_event(void *arg)
{
	struct hv *h = arg;

	hv_scope(h);
	h->r = corio_event_wait(h->e);
	hv_later(h);
	return 0;
}

static int hv_cond(void *arg)
{
	struct hv *h = arg;

	if (corio_mutex_trylock(h->m) != 0)
		return -EBUSY;
	hv_scope(h);
	h->r = corio_cond_wait(h->c, h->m);
	h->post_r = corio_mutex_unlock(h->m);
	hv_later(h);
	return 0;
}

static int handover_get_main(void *arg)
{
	struct hv h = { 0 };
	corio_task *t;

	h.q = corio_queue_new(1);
	assert_non_null(h.q);
	t = corio_spawn(hv_get, &h);
	assert_non_null(t);
	settle();
	assert_int_equal(h.done, 0);
	assert_int_equal(corio_queue_try_put(h.q, ITEM(1)), 0); /* handed over */
	assert_int_equal(corio_cancel(t), 0);                   /* same turn */
	assert_int_equal(corio_join(t), 0);
	assert_int_equal(h.r, 0);
	assert_ptr_equal(h.item, ITEM(1));
	assert_int_equal(corio_queue_size(h.q), 0);
	assert_int_equal(h.later_r, -ECANCELED); /* the cancel still counts */

	/* With a blocking put instead of try_put. */
	memset(&h.item, 0, sizeof(h.item));
	h.r = 1;
	h.done = 0;
	t = corio_spawn(hv_get, &h);
	assert_non_null(t);
	settle();
	assert_int_equal(corio_queue_put(h.q, ITEM(3)), 0);
	assert_int_equal(corio_cancel(t), 0);
	assert_int_equal(corio_join(t), 0);
	assert_int_equal(h.r, 0);
	assert_ptr_equal(h.item, ITEM(3));
	assert_int_equal(corio_queue_size(h.q), 0);
	corio_queue_free(h.q);
	return 0;
}

static void test_handover_queue_get_then_cancel(void **state)
{
	assert_int_equal(check_run(handover_get_main, NULL), 0);
}

static int handover_put_main(void *arg)
{
	struct hv h = { 0 };
	corio_task *t;
	void *it;

	h.q = corio_queue_new(1);
	assert_non_null(h.q);
	assert_int_equal(corio_queue_try_put(h.q, ITEM(1)), 0);
	t = corio_spawn(hv_put, &h);
	assert_non_null(t);
	settle();
	assert_int_equal(h.done, 0);
	/* The get frees the slot and moves the putter's item in. */
	assert_int_equal(corio_queue_try_get(h.q, &it), 0);
	assert_ptr_equal(it, ITEM(1));
	assert_int_equal(corio_cancel(t), 0);
	assert_int_equal(corio_join(t), 0);
	assert_int_equal(h.r, 0);
	assert_int_equal(corio_queue_size(h.q), 1);
	assert_int_equal(corio_queue_try_get(h.q, &it), 0);
	assert_ptr_equal(it, ITEM(2));
	assert_int_equal(h.later_r, -ECANCELED);
	corio_queue_free(h.q);
	return 0;
}

static void test_handover_queue_put_then_cancel(void **state)
{
	assert_int_equal(check_run(handover_put_main, NULL), 0);
}

static int handover_mutex_main(void *arg)
{
	struct hv h = { .r = 1 };
	corio_task *t;

	h.m = corio_mutex_new();
	assert_non_null(h.m);
	assert_int_equal(corio_mutex_lock(h.m), 0);
	t = corio_spawn(hv_lock, &h);
	assert_non_null(t);
	settle();
	assert_int_equal(h.done, 0);
	assert_int_equal(corio_mutex_unlock(h.m), 0); /* handed to the waiter */
	assert_int_equal(corio_cancel(t), 0);
	assert_int_equal(corio_mutex_trylock(h.m), -EBUSY); /* it is the waiter's */
	assert_int_equal(corio_join(t), 0);
	assert_int_equal(h.r, 0);
	assert_int_equal(h.post_r, 0); /* it held the lock */
	assert_int_equal(h.later_r, -ECANCELED);
	assert_int_equal(corio_mutex_trylock(h.m), 0);
	assert_int_equal(corio_mutex_unlock(h.m), 0);
	corio_mutex_free(h.m);
	return 0;
}

static void test_handover_mutex_unlock_then_cancel(void **state)
{
	assert_int_equal(check_run(handover_mutex_main, NULL), 0);
}

static int handover_sem_main(void *arg)
{
	struct hv h = { .r = 1 };
	corio_task *t;

	h.s = corio_sem_new(1);
	assert_non_null(h.s);
	assert_int_equal(corio_sem_acquire(h.s), 0);
	t = corio_spawn(hv_acquire, &h);
	assert_non_null(t);
	settle();
	corio_sem_release(h.s); /* handed to the waiter */
	assert_int_equal(corio_cancel(t), 0);
	assert_int_equal(corio_sem_value(h.s), 0);
	assert_int_equal(corio_join(t), 0);
	assert_int_equal(h.r, 0);
	assert_int_equal(corio_sem_value(h.s), 1); /* it gave the unit back */
	corio_sem_free(h.s);
	return 0;
}

static void test_handover_sem_release_then_cancel(void **state)
{
	assert_int_equal(check_run(handover_sem_main, NULL), 0);
}

static int handover_event_main(void *arg)
{
	struct hv h = { .r = 1 };
	corio_task *t;

	h.e = corio_event_new();
	assert_non_null(h.e);
	t = corio_spawn(hv_event, &h);
	assert_non_null(t);
	settle();
	corio_event_set(h.e);
	assert_int_equal(corio_cancel(t), 0);
	assert_int_equal(corio_join(t), 0);
	assert_int_equal(h.r, 0);
	assert_int_equal(h.later_r, -ECANCELED);
	corio_event_free(h.e);
	return 0;
}

static void test_handover_event_set_then_cancel(void **state)
{
	assert_int_equal(check_run(handover_event_main, NULL), 0);
}

/* Signalled, then cancelled before it ran: whatever it returns, it holds
 * the mutex after the wait. */
static int handover_cond_main(void *arg)
{
	struct hv h = { .r = 1, .post_r = 1 };
	corio_task *t;

	h.m = corio_mutex_new();
	h.c = corio_cond_new();
	assert_non_null(h.m);
	assert_non_null(h.c);
	t = corio_spawn(hv_cond, &h);
	assert_non_null(t);
	settle();
	assert_int_equal(corio_mutex_lock(h.m), 0);
	corio_cond_signal(h.c);
	assert_int_equal(corio_cancel(t), 0);
	assert_int_equal(corio_mutex_unlock(h.m), 0);
	assert_int_equal(corio_join(t), 0);
	assert_true(h.r == 0 || h.r == -ECANCELED);
	assert_int_equal(h.post_r, 0);
	assert_int_equal(h.later_r, -ECANCELED);

	/* Signalled, and already waiting to take the mutex back when the
	 * cancel comes: re-locking ignores it, and the signal counts. */
	memset(&h.r, 0, sizeof(struct hv) - offsetof(struct hv, r));
	h.r = h.post_r = 1;
	t = corio_spawn(hv_cond, &h);
	assert_non_null(t);
	settle();
	assert_int_equal(corio_mutex_lock(h.m), 0);
	corio_cond_signal(h.c);
	settle(); /* it runs, and waits for the mutex */
	assert_int_equal(h.done, 0);
	assert_int_equal(corio_cancel(t), 0);
	assert_int_equal(corio_sleep_ms(5), 0);
	assert_int_equal(h.done, 0); /* still waiting for the mutex */
	assert_int_equal(corio_mutex_unlock(h.m), 0);
	assert_int_equal(corio_join(t), 0);
	assert_int_equal(h.r, 0);
	assert_int_equal(h.post_r, 0);
	assert_int_equal(h.later_r, -ECANCELED);

	/* The same with a deadline that passes while it waits for the mutex. */
	memset(&h.r, 0, sizeof(struct hv) - offsetof(struct hv, r));
	h.r = h.post_r = 1;
	h.deadline_ms = 20;
	t = corio_spawn(hv_cond, &h);
	assert_non_null(t);
	settle();
	assert_int_equal(corio_mutex_lock(h.m), 0);
	corio_cond_signal(h.c);
	assert_int_equal(corio_sleep_ms(40), 0);
	assert_int_equal(h.done, 0);
	assert_int_equal(corio_mutex_unlock(h.m), 0);
	assert_int_equal(corio_join(t), 0);
	assert_int_equal(h.r, 0);
	assert_int_equal(h.post_r, 0);
	assert_int_equal(h.pop_r, -ETIMEDOUT);
	assert_int_equal(h.later_r, 0);
	corio_cond_free(h.c);
	corio_mutex_free(h.m);
	return 0;
}

static void test_handover_cond_signal_then_cancel(void **state)
{
	assert_int_equal(check_run(handover_cond_main, NULL), 0);
}

/* The reverse order in one turn: cancelled first, then the handover. The
 * cancel ended the wait, so what comes next is not the waiter's. */
static int cancel_then_handover_main(void *arg)
{
	struct hv h = { .r = 1 };
	corio_task *t;
	void *it = NULL;

	h.q = corio_queue_new(1);
	h.m = corio_mutex_new();
	h.s = corio_sem_new(1);
	assert_true(h.q && h.m && h.s);

	t = corio_spawn(hv_get, &h);
	assert_non_null(t);
	settle();
	assert_int_equal(corio_cancel(t), 0);
	assert_int_equal(corio_queue_try_put(h.q, ITEM(1)), 0);
	assert_int_equal(corio_join(t), 0);
	assert_int_equal(h.r, -ECANCELED);
	assert_null(h.item);
	assert_int_equal(corio_queue_try_get(h.q, &it), 0); /* not lost */
	assert_ptr_equal(it, ITEM(1));

	memset(&h.r, 0, sizeof(struct hv) - offsetof(struct hv, r));
	h.r = 1;
	assert_int_equal(corio_mutex_lock(h.m), 0);
	t = corio_spawn(hv_lock, &h);
	assert_non_null(t);
	settle();
	assert_int_equal(corio_cancel(t), 0);
	assert_int_equal(corio_mutex_unlock(h.m), 0);
	assert_int_equal(corio_mutex_trylock(h.m), 0); /* free: nobody got it */
	assert_int_equal(corio_mutex_unlock(h.m), 0);
	assert_int_equal(corio_join(t), 0);
	assert_int_equal(h.r, -ECANCELED);
	assert_int_equal(h.post_r, -EPERM);

	memset(&h.r, 0, sizeof(struct hv) - offsetof(struct hv, r));
	h.r = 1;
	assert_int_equal(corio_sem_acquire(h.s), 0);
	t = corio_spawn(hv_acquire, &h);
	assert_non_null(t);
	settle();
	assert_int_equal(corio_cancel(t), 0);
	corio_sem_release(h.s);
	assert_int_equal(corio_sem_value(h.s), 1); /* back in the semaphore */
	assert_int_equal(corio_join(t), 0);
	assert_int_equal(h.r, -ECANCELED);
	assert_int_equal(corio_sem_value(h.s), 1);

	corio_queue_free(h.q);
	corio_mutex_free(h.m);
	corio_sem_free(h.s);
	return 0;
}

static void test_cancel_then_handover_same_turn(void **state)
{
	assert_int_equal(check_run(cancel_then_handover_main, NULL), 0);
}

/* The deadline passed, but the handover came before the loop fired the
 * timer (the loop was busy): nothing may be lost either way. */
static void busy_ms(int ms)
{
	uint64_t t0 = corio_now_ns();

	while (corio_now_ns() - t0 < (uint64_t)ms * 1000000u)
		;
}

static int handover_deadline_main(void *arg)
{
	struct hv h = { .deadline_ms = 20, .r = 1 };
	corio_task *t;
	void *it = NULL;

	/* queue get */
	h.q = corio_queue_new(1);
	assert_non_null(h.q);
	t = corio_spawn(hv_get, &h);
	assert_non_null(t);
	settle();
	busy_ms(30); /* the deadline is due, its timer not yet fired */
	assert_int_equal(corio_queue_try_put(h.q, ITEM(5)), 0);
	assert_int_equal(corio_join(t), 0);
	if (h.r == 0) {
		assert_ptr_equal(h.item, ITEM(5));
		assert_int_equal(corio_queue_size(h.q), 0);
	} else {
		assert_int_equal(h.r, -ETIMEDOUT);
		assert_int_equal(corio_queue_try_get(h.q, &it), 0);
		assert_ptr_equal(it, ITEM(5));
	}
	assert_int_equal(h.pop_r, -ETIMEDOUT);
	assert_int_equal(h.later_r, 0); /* not cancelled */
	corio_queue_free(h.q);

	/* mutex unlock */
	memset(&h, 0, sizeof(h));
	h.deadline_ms = 20;
	h.r = 1;
	h.m = corio_mutex_new();
	assert_non_null(h.m);
	assert_int_equal(corio_mutex_lock(h.m), 0);
	t = corio_spawn(hv_lock, &h);
	assert_non_null(t);
	settle();
	busy_ms(30);
	assert_int_equal(corio_mutex_unlock(h.m), 0);
	assert_int_equal(corio_join(t), 0);
	if (h.r == 0)
		assert_int_equal(h.post_r, 0);
	else
		assert_int_equal(h.r, -ETIMEDOUT);
	/* Either way the mutex is free now. */
	assert_int_equal(corio_mutex_trylock(h.m), 0);
	assert_int_equal(corio_mutex_unlock(h.m), 0);
	corio_mutex_free(h.m);
	return 0;
}

static void test_handover_before_deadline_timer(void **state)
{
	assert_int_equal(check_run(handover_deadline_main, NULL), 0);
}

/* ------------------------------------------------------------------------
 * A cancelled (or timed-out) caller takes nothing, even where nothing
 * would block; inside a shield it takes what is there.
 * ------------------------------------------------------------------------ */

struct avail {
	corio_event *e;
	corio_mutex *m;
	corio_sem   *s;
	corio_queue *qg, *qp;
	corio_cond  *c;
	int          mode;  /* 0 cancelled, 1 deadline passed, 2 cancelled but shielded */
	int          r_event, r_lock, r_sem, r_get, r_put, r_cond, r_sleep0;
	int          cond_unlock, lock_unlock;
	void        *got;
	uint64_t     sw0, sw1;
};

static int avail_task(void *arg)
{
	struct avail *a = arg;

	if (a->mode == 0 || a->mode == 2)
		corio_cancel(corio_current());
	if (a->mode == 1)
		corio_deadline_push(0);
	if (a->mode == 2)
		corio_shield_push();
	a->sw0 = switches();
	a->r_event = corio_event_wait(a->e);
	a->r_lock = corio_mutex_lock(a->m);
	a->lock_unlock = corio_mutex_unlock(a->m);
	a->r_sem = corio_sem_acquire(a->s);
	if (a->r_sem == 0)
		corio_sem_release(a->s);
	a->r_get = corio_queue_get(a->qg, &a->got);
	a->r_put = corio_queue_put(a->qp, ITEM(9));
	/* Shielded, cond_wait would wait for a signal: left out. */
	if (a->mode != 2 && corio_mutex_trylock(a->m) == 0) {
		a->r_cond = corio_cond_wait(a->c, a->m);
		a->cond_unlock = corio_mutex_unlock(a->m);
	}
	a->sw1 = switches();
	if (a->mode == 2)
		corio_shield_pop();
	if (a->mode == 1)
		corio_deadline_pop();
	return 0;
}

static int avail_main(void *arg)
{
	struct avail *a = arg;
	corio_task *t;
	void *it = NULL;

	a->e = corio_event_new();
	a->m = corio_mutex_new();
	a->s = corio_sem_new(1);
	a->qg = corio_queue_new(2);
	a->qp = corio_queue_new(2);
	a->c = corio_cond_new();
	assert_true(a->e && a->m && a->s && a->qg && a->qp && a->c);
	corio_event_set(a->e);
	assert_int_equal(corio_queue_try_put(a->qg, ITEM(1)), 0);
	t = corio_spawn(avail_task, a);
	assert_non_null(t);
	assert_int_equal(corio_join(t), 0);
	if (a->mode == 2) {
		/* Shielded: the calls that need not wait succeed. */
		assert_int_equal(a->r_event, 0);
		assert_int_equal(a->r_lock, 0);
		assert_int_equal(a->lock_unlock, 0);
		assert_int_equal(a->r_sem, 0);
		assert_int_equal(a->r_get, 0);
		assert_ptr_equal(a->got, ITEM(1));
		assert_int_equal(a->r_put, 0);
		assert_int_equal(corio_queue_try_get(a->qp, &it), 0);
		assert_ptr_equal(it, ITEM(9));
	} else {
		int want = a->mode == 0 ? -ECANCELED : -ETIMEDOUT;

		assert_int_equal(a->r_event, want);
		assert_int_equal(a->r_lock, want);
		assert_int_equal(a->lock_unlock, -EPERM); /* not taken */
		assert_int_equal(a->r_sem, want);
		assert_int_equal(a->r_get, want);
		assert_null(a->got);
		assert_int_equal(a->r_put, want);
		assert_int_equal(a->r_cond, want);
		assert_int_equal(a->cond_unlock, 0); /* still held */
		assert_int_equal(a->sw1, a->sw0);    /* nothing suspended */
		/* Nothing taken, nothing added. */
		assert_int_equal(corio_sem_value(a->s), 1);
		assert_int_equal(corio_queue_size(a->qg), 1);
		assert_int_equal(corio_queue_size(a->qp), 0);
		assert_int_equal(corio_mutex_trylock(a->m), 0);
		assert_int_equal(corio_mutex_unlock(a->m), 0);
		assert_int_equal(corio_queue_try_get(a->qg, &it), 0);
		assert_ptr_equal(it, ITEM(1));
	}
	corio_event_free(a->e);
	corio_mutex_free(a->m);
	corio_sem_free(a->s);
	corio_queue_free(a->qg);
	corio_queue_free(a->qp);
	corio_cond_free(a->c);
	return 0;
}

static void test_cancelled_caller_takes_nothing(void **state)
{
	struct avail a = { .mode = 0 };

	assert_int_equal(check_run(avail_main, &a), 0);
}

static void test_expired_caller_takes_nothing(void **state)
{
	struct avail a = { .mode = 1 };

	assert_int_equal(check_run(avail_main, &a), 0);
}

static void test_shielded_caller_takes_what_is_there(void **state)
{
	struct avail a = { .mode = 2 };

	assert_int_equal(check_run(avail_main, &a), 0);
}

/* ------------------------------------------------------------------------
 * Gather: cancelled, and a child fails before the gatherer runs again. The
 * other children must still be cancelled and ended when gather returns.
 * ------------------------------------------------------------------------ */

struct grace {
	corio_event *fail_gate, *gate;
	struct tgt   other;
	int          failer_started;
	int          r, results[2];
	int          other_ended_at_return;
	int          deadline_ms;
};

static int failer_fn(void *arg)
{
	struct grace *g = arg;
	int r;

	g->failer_started = 1;
	/* Due just before the gatherer's deadline, pushed a moment earlier:
	 * a wider margin where that moment can be a stall (valgrind, TSan). */
	if (g->deadline_ms)
		r = corio_sleep_ms((uint64_t)g->deadline_ms - 5 * CHECK_TIME_SCALE);
	else
		r = corio_event_wait(g->fail_gate);
	return r < 0 ? r : -EIO;
}

static int gather_race_victim(void *arg)
{
	struct grace *g = arg;
	corio_task *ts[2];

	ts[0] = corio_spawn(failer_fn, g);
	ts[1] = corio_spawn(target_fn, &g->other);
	if (!ts[0] || !ts[1])
		return -ENOMEM;
	if (g->deadline_ms)
		corio_deadline_push((uint64_t)g->deadline_ms);
	g->r = corio_gather(ts, 2, g->results, 0);
	g->other_ended_at_return = g->other.ended;
	if (g->deadline_ms)
		corio_deadline_pop();
	return 0;
}

static int gather_race_main(void *arg)
{
	struct grace *g = arg;
	corio_task *v;

	g->fail_gate = corio_event_new();
	g->gate = corio_event_new();
	assert_non_null(g->fail_gate);
	assert_non_null(g->gate);
	g->other.gate = g->gate;
	v = corio_spawn(gather_race_victim, g);
	assert_non_null(v);
	settle();
	assert_int_equal(g->failer_started, 1);
	assert_int_equal(g->other.started, 1);
	if (g->deadline_ms) {
		/* Both timers become due together: the failer's fires first,
		 * then the gatherer's deadline; the failer runs first. */
		busy_ms(g->deadline_ms + 10);
	} else {
		corio_event_set(g->fail_gate); /* the failer is ready first */
		assert_int_equal(corio_cancel(v), 0);
	}
	assert_int_equal(corio_join(v), 0);
	/* Let a child left running end before the loop closes; the test
	 * checks what the gatherer saw once the loop is gone. */
	corio_event_set(g->gate);
	assert_int_equal(corio_sleep_ms(10), 0);
	corio_event_free(g->fail_gate);
	corio_event_free(g->gate);
	return 0;
}

/* The gatherer was cancelled (timed out) while it waited: every unfinished
 * child is cancelled and has ended when gather returns, even though another
 * child failed before the gatherer ran again. */
static void gather_race_check(const struct grace *g)
{
	assert_int_equal(g->r, g->deadline_ms ? -ETIMEDOUT : -ECANCELED);
	assert_int_equal(g->results[0], -EIO);
	if (!g->other_ended_at_return)
		fail_msg("corio_gather returned %d while a child was still running; that "
			 "child was %s (its wait returned %d later)",
			 g->r, g->other.r == -ECANCELED ? "cancelled" : "never cancelled",
			 g->other.r);
	assert_int_equal(g->other.r, -ECANCELED);
	assert_int_equal(g->results[1], -ECANCELED);
}

static void test_gather_cancel_then_child_fails(void **state)
{
	struct grace g = { 0 };

	assert_int_equal(check_run(gather_race_main, &g), 0);
	gather_race_check(&g);
}

static void test_gather_deadline_then_child_fails(void **state)
{
	struct grace g = { .deadline_ms = 20 * CHECK_TIME_SCALE };

	assert_int_equal(check_run(gather_race_main, &g), 0);
	gather_race_check(&g);
}

int main(int argc, char **argv)
{
	static struct table_case cases[NROWS * SC_COUNT];
	static const struct CMUnitTest extra[] = {
		CHECK_TEST(test_cancel_ended_task),
		CHECK_TEST(test_handover_queue_get_then_cancel),
		CHECK_TEST(test_handover_queue_put_then_cancel),
		CHECK_TEST(test_handover_mutex_unlock_then_cancel),
		CHECK_TEST(test_handover_sem_release_then_cancel),
		CHECK_TEST(test_handover_event_set_then_cancel),
		CHECK_TEST(test_handover_cond_signal_then_cancel),
		CHECK_TEST(test_handover_before_deadline_timer),
		CHECK_TEST(test_cancel_then_handover_same_turn),
		CHECK_TEST(test_cancelled_caller_takes_nothing),
		CHECK_TEST(test_expired_caller_takes_nothing),
		CHECK_TEST(test_shielded_caller_takes_what_is_there),
		CHECK_TEST(test_gather_cancel_then_child_fails),
		CHECK_TEST(test_gather_deadline_then_child_fails),
	};
	static struct CMUnitTest tests[NROWS * SC_COUNT + sizeof(extra) / sizeof(extra[0])];
	size_t n = 0;

	for (size_t r = 0; r < NROWS; r++) {
		for (int sc = 0; sc < SC_COUNT; sc++) {
			struct table_case *tc = &cases[n];

			tc->row = &rows[r];
			tc->sc = sc;
			snprintf(tc->name, sizeof(tc->name), "%s: %s", rows[r].name, check_sc_name(sc));
			tests[n] = (struct CMUnitTest){ tc->name, test_table, check_setup,
							check_teardown, tc };
			n++;
		}
	}
	for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
		tests[n++] = extra[i];

	check_init(argc, argv);
	return _cmocka_run_group_tests("test_cancel_table", tests, n, NULL, NULL);
}
