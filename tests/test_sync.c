/*
 * test_sync.c - the synchronization objects of one loop: event, mutex,
 * semaphore, condition, queue. What each promises (FIFO service, direct
 * handover so nobody barges in, bounds), their misuse (NULL, outside a
 * loop, freeing what tasks wait on or hold, another loop's waiters), and
 * objects that live across corio_run (made before it, freed after it,
 * left with waiters when main returns).
 *
 * The cancellation and deadline side of every blocking call is in
 * test_cancel_table.c.
 */
#include <pthread.h>

#include "check.h"

#define SLACK_MS (200 * CHECK_TIME_SCALE)

/* Context switches so far on this loop: unchanged across a call means the
 * call did not suspend. */
static uint64_t switches(void)
{
	corio_stats st;

	assert_int_equal(corio_loop_stats(&st), 0);
	return st.switches;
}

/* Lets every ready task run until it blocks again (a few loop turns). */
static void settle(void)
{
	for (int i = 0; i < 10; i++)
		corio_yield();
}

/* A waiter of any kind: runs op(obj), logs "<id>" when it returned 0. */
struct waiter {
	int          id;
	int          r;
	int          done;
	void        *obj;
	void        *obj2;
	void        *item;
	check_log   *log;
	int          hold_ms;  /* mutex/sem: hold this long before giving it back */
	int         *inside;   /* mutex/sem: tasks inside the critical section now */
	int         *max_inside;
	int          unlock_r; /* mutex/cond: the unlock after the wait */
};

static void enter(struct waiter *w)
{
	if (!w->inside)
		return;
	(*w->inside)++;
	if (*w->inside > *w->max_inside)
		*w->max_inside = *w->inside;
}

static void leave(struct waiter *w)
{
	if (w->inside)
		(*w->inside)--;
}

/* ------------------------------------------------------------------------
 * Event
 * ------------------------------------------------------------------------ */

static int event_waiter(void *arg)
{
	struct waiter *w = arg;

	w->r = corio_event_wait(w->obj);
	if (w->log)
		check_log_add(w->log, "%d ", w->id);
	w->done = 1;
	return w->r;
}

static int event_basic_main(void *arg)
{
	corio_event *e = corio_event_new();
	struct waiter w = { .id = 1 };
	corio_task *t;
	uint64_t sw;

	assert_non_null(e);
	assert_int_equal(corio_event_is_set(e), 0);
	corio_event_set(e);
	assert_int_equal(corio_event_is_set(e), 1);
	corio_event_set(e); /* twice: still set */
	assert_int_equal(corio_event_is_set(e), 1);

	/* Set: returns at once, without suspending. */
	sw = switches();
	assert_int_equal(corio_event_wait(e), 0);
	assert_int_equal(corio_event_wait(e), 0);
	assert_int_equal(switches(), sw);

	/* Cleared: a wait blocks until the next set. */
	corio_event_clear(e);
	assert_int_equal(corio_event_is_set(e), 0);
	corio_event_clear(e);
	assert_int_equal(corio_event_is_set(e), 0);
	w.obj = e;
	t = corio_spawn(event_waiter, &w);
	assert_non_null(t);
	assert_int_equal(corio_sleep_ms(10), 0);
	assert_int_equal(w.done, 0);
	corio_event_set(e);
	assert_int_equal(corio_join(t), 0);
	assert_int_equal(w.done, 1);
	assert_int_equal(w.r, 0);
	corio_event_free(e);
	return 0;
}

static void test_event_basic(void **state)
{
	assert_int_equal(check_run(event_basic_main, NULL), 0);
}

#define NW 6

static int event_wakes_all_main(void *arg)
{
	corio_event *e = corio_event_new();
	struct waiter w[NW];
	corio_task *t[NW];
	check_log lg = { .len = 0 };

	assert_non_null(e);
	for (int i = 0; i < NW; i++) {
		w[i] = (struct waiter){ .id = i, .obj = e, .log = &lg };
		t[i] = corio_spawn(event_waiter, &w[i]);
		assert_non_null(t[i]);
	}
	assert_int_equal(corio_sleep_ms(2), 0);
	for (int i = 0; i < NW; i++)
		assert_int_equal(w[i].done, 0);
	/* Set and cleared again before any waiter ran: each was woken by the
	 * set and returns 0 all the same (asyncio's Event does too). */
	corio_event_set(e);
	corio_event_clear(e);
	assert_int_equal(corio_gather(t, NW, NULL, 0), 0);
	for (int i = 0; i < NW; i++) {
		assert_int_equal(w[i].done, 1);
		assert_int_equal(w[i].r, 0);
	}
	/* Woken in the order they waited. */
	assert_string_equal(lg.buf, "0 1 2 3 4 5 ");
	assert_int_equal(corio_event_is_set(e), 0);
	corio_event_free(e);
	return 0;
}

static void test_event_set_wakes_all(void **state)
{
	assert_int_equal(check_run(event_wakes_all_main, NULL), 0);
}

/* ------------------------------------------------------------------------
 * Mutex
 * ------------------------------------------------------------------------ */

/* Takes w->obj, holds it for hold_ms (or a yield), gives it back. */
static int hold(struct waiter *w, int (*take)(void *), int (*give)(void *), bool yield_if_no_hold)
{
	w->r = take(w->obj);
	if (w->r < 0) {
		w->done = 1;
		return w->r;
	}
	enter(w);
	if (w->log)
		check_log_add(w->log, "%d ", w->id);
	if (w->hold_ms)
		corio_sleep_ms((uint64_t)w->hold_ms);
	else if (yield_if_no_hold)
		corio_yield();
	leave(w);
	w->unlock_r = give(w->obj);
	w->done = 1;
	return w->unlock_r;
}

static int mutex_take(void *o) { return corio_mutex_lock(o); }
static int mutex_give(void *o) { return corio_mutex_unlock(o); }

static int mutex_locker(void *arg)
{
	return hold(arg, mutex_take, mutex_give, true);
}

static int mutex_trylocker(void *arg)
{
	struct waiter *w = arg;

	w->r = corio_mutex_trylock(w->obj);
	w->unlock_r = corio_mutex_unlock(w->obj);
	w->done = 1;
	return 0;
}

static int mutex_unlocker(void *arg)
{
	struct waiter *w = arg;

	w->r = corio_mutex_unlock(w->obj);
	w->done = 1;
	return 0;
}

static int mutex_basic_main(void *arg)
{
	corio_mutex *m = corio_mutex_new();
	struct waiter w = { 0 };
	corio_task *t;
	uint64_t sw;
	int r;

	assert_non_null(m);
	/* Free: lock takes it without suspending. */
	sw = switches();
	assert_int_equal(corio_mutex_lock(m), 0);
	assert_int_equal(switches(), sw);
	/* Not recursive. */
	assert_int_equal(corio_mutex_lock(m), -EDEADLK);
	r = corio_mutex_trylock(m);
	assert_true(r == -EBUSY || r == -EDEADLK);
	assert_int_equal(corio_mutex_unlock(m), 0);
	/* Unlocked: unlocking again is not allowed. */
	assert_int_equal(corio_mutex_unlock(m), -EPERM);

	assert_int_equal(corio_mutex_trylock(m), 0);
	/* Another task: trylock -EBUSY, unlock -EPERM (not its lock). */
	w.obj = m;
	t = corio_spawn(mutex_trylocker, &w);
	assert_non_null(t);
	assert_int_equal(corio_join(t), 0);
	assert_int_equal(w.r, -EBUSY);
	assert_int_equal(w.unlock_r, -EPERM);
	/* Still ours. */
	assert_int_equal(corio_mutex_unlock(m), 0);

	/* Held by another task: our unlock is refused, theirs works. */
	memset(&w, 0, sizeof(w));
	w.obj = m;
	w.hold_ms = 20;
	t = corio_spawn(mutex_locker, &w);
	assert_non_null(t);
	assert_int_equal(corio_sleep_ms(5), 0);
	assert_int_equal(w.r, 0);
	assert_int_equal(corio_mutex_unlock(m), -EPERM);
	assert_int_equal(corio_mutex_trylock(m), -EBUSY);
	assert_int_equal(corio_join(t), 0);
	assert_int_equal(w.unlock_r, 0);

	/* Free again: a task that never held it cannot unlock it either. */
	memset(&w, 0, sizeof(w));
	w.obj = m;
	t = corio_spawn(mutex_unlocker, &w);
	assert_non_null(t);
	assert_int_equal(corio_join(t), 0);
	assert_int_equal(w.r, -EPERM);
	assert_int_equal(corio_mutex_trylock(m), 0);
	assert_int_equal(corio_mutex_unlock(m), 0);
	corio_mutex_free(m);
	return 0;
}

static void test_mutex_basic(void **state)
{
	assert_int_equal(check_run(mutex_basic_main, NULL), 0);
}

static int mutex_fifo_main(void *arg)
{
	corio_mutex *m = corio_mutex_new();
	struct waiter w[NW];
	corio_task *t[NW];
	check_log lg = { .len = 0 };
	int inside = 0, max_inside = 0;

	assert_non_null(m);
	assert_int_equal(corio_mutex_lock(m), 0);
	/* Queue them in a scrambled spawn order, one at a time, so the order
	 * they queue in is known. */
	for (int i = 0; i < NW; i++) {
		w[i] = (struct waiter){ .id = (i * 5) % NW, .obj = m, .log = &lg, .hold_ms = 1,
					.inside = &inside, .max_inside = &max_inside };
		t[i] = corio_spawn(mutex_locker, &w[i]);
		assert_non_null(t[i]);
		settle();
		assert_int_equal(w[i].done, 0);
	}
	assert_int_equal(corio_mutex_unlock(m), 0);
	assert_int_equal(corio_gather(t, NW, NULL, 0), 0);
	assert_string_equal(lg.buf, "0 5 4 3 2 1 ");
	assert_int_equal(max_inside, 1);
	for (int i = 0; i < NW; i++) {
		assert_int_equal(w[i].r, 0);
		assert_int_equal(w[i].unlock_r, 0);
	}
	/* Free at the end. */
	assert_int_equal(corio_mutex_trylock(m), 0);
	assert_int_equal(corio_mutex_unlock(m), 0);
	corio_mutex_free(m);
	return 0;
}

static void test_mutex_fifo(void **state)
{
	assert_int_equal(check_run(mutex_fifo_main, NULL), 0);
}

/* unlock hands the lock to the longest waiter: the unlocking task cannot
 * take it back by locking again at once. */
static int mutex_no_barging_main(void *arg)
{
	corio_mutex *m = corio_mutex_new();
	check_log lg = { .len = 0 };
	struct waiter w = { .id = 1, .log = &lg, .hold_ms = 5 };
	corio_task *t;

	assert_non_null(m);
	w.obj = m;
	assert_int_equal(corio_mutex_lock(m), 0);
	t = corio_spawn(mutex_locker, &w);
	assert_non_null(t);
	settle();
	assert_int_equal(w.r, 0);
	assert_int_equal(w.done, 0);
	assert_int_equal(corio_mutex_unlock(m), 0);
	/* The waiter owns it now, although it has not run yet. */
	assert_int_equal(corio_mutex_trylock(m), -EBUSY);
	assert_int_equal(corio_mutex_unlock(m), -EPERM);
	assert_int_equal(corio_mutex_lock(m), 0); /* waits for the waiter's turn */
	check_log_add(&lg, "main ");
	assert_int_equal(w.done, 1);
	assert_int_equal(w.unlock_r, 0);
	assert_string_equal(lg.buf, "1 main ");
	assert_int_equal(corio_mutex_unlock(m), 0);
	assert_int_equal(corio_join(t), 0);
	corio_mutex_free(m);
	return 0;
}

static void test_mutex_no_barging(void **state)
{
	assert_int_equal(check_run(mutex_no_barging_main, NULL), 0);
}

/* Mutual exclusion under contention: 20 tasks, each locking 5 times and
 * yielding inside the critical section. */
static int mutex_hammer(void *arg)
{
	struct waiter *w = arg;

	for (int i = 0; i < 5; i++) {
		int r = corio_mutex_lock(w->obj);
		if (r < 0)
			return r;
		enter(w);
		corio_yield();
		corio_yield();
		leave(w);
		r = corio_mutex_unlock(w->obj);
		if (r < 0)
			return r;
		corio_yield();
	}
	return 0;
}

static int mutex_exclusion_main(void *arg)
{
	corio_mutex *m = corio_mutex_new();
	struct waiter w[20];
	corio_task *t[20];
	int inside = 0, max_inside = 0;

	assert_non_null(m);
	for (int i = 0; i < 20; i++) {
		w[i] = (struct waiter){ .id = i, .obj = m, .inside = &inside,
					.max_inside = &max_inside };
		t[i] = corio_spawn(mutex_hammer, &w[i]);
		assert_non_null(t[i]);
	}
	assert_int_equal(corio_gather(t, 20, NULL, 0), 0);
	assert_int_equal(max_inside, 1);
	assert_int_equal(inside, 0);
	corio_mutex_free(m);
	return 0;
}

static void test_mutex_exclusion(void **state)
{
	assert_int_equal(check_run(mutex_exclusion_main, NULL), 0);
}

/* ------------------------------------------------------------------------
 * Semaphore
 * ------------------------------------------------------------------------ */

static int sem_take(void *o) { return corio_sem_acquire(o); }
static int sem_give(void *o)
{
	corio_sem_release(o);
	return 0;
}

static int sem_user(void *arg)
{
	return hold(arg, sem_take, sem_give, false);
}

static int sem_bounded_main(void *arg)
{
	corio_sem *s = corio_sem_new(3);
	struct waiter w[10];
	corio_task *t[10];
	int inside = 0, max_inside = 0;

	assert_non_null(s);
	assert_int_equal(corio_sem_value(s), 3);
	for (int i = 0; i < 10; i++) {
		w[i] = (struct waiter){ .id = i, .obj = s, .hold_ms = 2 + i % 3,
					.inside = &inside, .max_inside = &max_inside };
		t[i] = corio_spawn(sem_user, &w[i]);
		assert_non_null(t[i]);
	}
	assert_int_equal(corio_sleep_ms(1), 0);
	assert_int_equal(corio_sem_value(s), 0);
	assert_int_equal(inside, 3);
	assert_int_equal(corio_gather(t, 10, NULL, 0), 0);
	assert_int_equal(max_inside, 3);
	assert_int_equal(inside, 0);
	assert_int_equal(corio_sem_value(s), 3);
	corio_sem_free(s);
	return 0;
}

static void test_sem_bounded(void **state)
{
	assert_int_equal(check_run(sem_bounded_main, NULL), 0);
}

static int sem_fifo_main(void *arg)
{
	corio_sem *s = corio_sem_new(1);
	struct waiter w[NW];
	corio_task *t[NW];
	check_log lg = { .len = 0 };

	assert_non_null(s);
	assert_int_equal(corio_sem_acquire(s), 0);
	for (int i = 0; i < NW; i++) {
		w[i] = (struct waiter){ .id = (i * 5) % NW, .obj = s, .log = &lg, .hold_ms = 1 };
		t[i] = corio_spawn(sem_user, &w[i]);
		assert_non_null(t[i]);
		settle();
	}
	assert_int_equal(lg.len, 0);
	corio_sem_release(s);
	/* The unit went straight to the first waiter: none is free, and a
	 * try_acquire now cannot take it. */
	assert_int_equal(corio_sem_value(s), 0);
	assert_int_equal(corio_sem_try_acquire(s), -EAGAIN);
	assert_int_equal(corio_gather(t, NW, NULL, 0), 0);
	assert_string_equal(lg.buf, "0 5 4 3 2 1 ");
	assert_int_equal(corio_sem_value(s), 1);
	corio_sem_free(s);
	return 0;
}

static void test_sem_fifo(void **state)
{
	assert_int_equal(check_run(sem_fifo_main, NULL), 0);
}

static void sem_try_checks(void)
{
	corio_sem *s = corio_sem_new(2), *z;

	assert_non_null(s);
	assert_int_equal(corio_sem_value(s), 2);
	assert_int_equal(corio_sem_try_acquire(s), 0);
	assert_int_equal(corio_sem_try_acquire(s), 0);
	assert_int_equal(corio_sem_try_acquire(s), -EAGAIN);
	assert_int_equal(corio_sem_value(s), 0);
	corio_sem_release(s);
	assert_int_equal(corio_sem_value(s), 1);
	errno = 0;
	corio_sem_release(s);
	assert_int_equal(errno, 0);
	assert_int_equal(corio_sem_value(s), 2);
	/* Beyond the bound: refused, the value stays. */
	errno = 0;
	corio_sem_release(s);
	assert_int_equal(errno, EOVERFLOW);
	assert_int_equal(corio_sem_value(s), 2);
	errno = 0;
	corio_sem_release(s);
	assert_int_equal(errno, EOVERFLOW);
	assert_int_equal(corio_sem_value(s), 2);
	assert_int_equal(corio_sem_try_acquire(s), 0);
	assert_int_equal(corio_sem_value(s), 1);
	corio_sem_release(s);
	corio_sem_free(s);

	/* Zero units, bounded by zero. */
	z = corio_sem_new(0);
	assert_non_null(z);
	assert_int_equal(corio_sem_value(z), 0);
	assert_int_equal(corio_sem_try_acquire(z), -EAGAIN);
	errno = 0;
	corio_sem_release(z);
	assert_int_equal(errno, EOVERFLOW);
	assert_int_equal(corio_sem_value(z), 0);
	corio_sem_free(z);
}

static int sem_try_main(void *arg)
{
	sem_try_checks();
	return 0;
}

static void test_sem_try_value_overflow(void **state)
{
	assert_int_equal(check_run(sem_try_main, NULL), 0);
	/* The calls that never block need no loop. */
	sem_try_checks();
}

/* Bounded by zero: no unit ever exists, so a release is always one more
 * than was acquired, even with a task waiting. */
static int sem_zero_main(void *arg)
{
	corio_sem *s = corio_sem_new(0);
	struct waiter w = { .r = 1 };
	corio_task *t;

	assert_non_null(s);
	w.obj = s;
	t = corio_spawn(sem_user, &w);
	assert_non_null(t);
	settle();
	assert_int_equal(w.done, 0);
	errno = 0;
	corio_sem_release(s);
	/* Recorded, checked after the loop: the waiter must be cancelled
	 * either way, or the loop would never end. */
	((int *)arg)[0] = errno;
	settle();
	((int *)arg)[1] = w.done;
	((int *)arg)[2] = corio_sem_value(s);
	corio_cancel(t);
	corio_join(t);
	((int *)arg)[3] = w.r;
	corio_sem_free(s);
	return 0;
}

static void test_sem_zero_bound(void **state)
{
	int seen[4] = { 0 };

	assert_int_equal(check_run(sem_zero_main, seen), 0);
	if (seen[0] != EOVERFLOW || seen[1] != 0)
		fail_msg("corio_sem_release on a semaphore bounded by 0 with a task waiting: "
			 "errno %d (want EOVERFLOW = %d), and the waiter %s",
			 seen[0], EOVERFLOW,
			 seen[1] ? "acquired a unit that cannot exist" : "still waits");
	assert_int_equal(seen[2], 0);
	assert_int_equal(seen[3], -ECANCELED);
}

/* ------------------------------------------------------------------------
 * Condition
 * ------------------------------------------------------------------------ */

struct condbox {
	corio_mutex *m;
	corio_cond  *c;
	int          tokens;  /* the predicate: a waiter consumes one */
	int          woke;    /* returns from cond_wait */
	check_log    log;
	int          inside, max_inside;
};

struct condwaiter {
	struct condbox *b;
	int             id;
	int             r;        /* the first error of cond_wait, or 0 */
	int             unlock_r;
	int             done;
};

static int cond_consumer(void *arg)
{
	struct condwaiter *cw = arg;
	struct condbox *b = cw->b;

	cw->r = corio_mutex_lock(b->m);
	if (cw->r < 0)
		goto out;
	b->inside++;
	while (b->tokens == 0) {
		b->inside--;
		cw->r = corio_cond_wait(b->c, b->m);
		b->inside++;
		if (b->inside > b->max_inside)
			b->max_inside = b->inside;
		b->woke++;
		if (cw->r < 0)
			break;
	}
	if (cw->r == 0) {
		b->tokens--;
		check_log_add(&b->log, "%d ", cw->id);
	}
	corio_yield(); /* others may not enter meanwhile */
	b->inside--;
	cw->unlock_r = corio_mutex_unlock(b->m);
out:
	cw->done = 1;
	return cw->r;
}

static void condbox_init(struct condbox *b)
{
	memset(b, 0, sizeof(*b));
	b->m = corio_mutex_new();
	b->c = corio_cond_new();
	assert_non_null(b->m);
	assert_non_null(b->c);
}

static void condbox_fini(struct condbox *b)
{
	corio_cond_free(b->c);
	corio_mutex_free(b->m);
}

static int cond_signal_main(void *arg)
{
	struct condbox b;
	struct condwaiter cw[4];
	corio_task *t[4];

	condbox_init(&b);
	for (int i = 0; i < 4; i++) {
		cw[i] = (struct condwaiter){ .b = &b, .id = (i * 3) % 4 };
		t[i] = corio_spawn(cond_consumer, &cw[i]);
		assert_non_null(t[i]);
		settle();
	}
	/* All four wait, none holds the mutex. */
	assert_int_equal(b.woke, 0);
	assert_int_equal(corio_mutex_trylock(b.m), 0);
	assert_int_equal(corio_mutex_unlock(b.m), 0);
	/* Each signal wakes exactly one, the longest waiter first. */
	for (int k = 1; k <= 4; k++) {
		assert_int_equal(corio_mutex_lock(b.m), 0);
		b.tokens++;
		corio_cond_signal(b.c);
		assert_int_equal(corio_mutex_unlock(b.m), 0);
		assert_int_equal(corio_sleep_ms(2), 0);
		assert_int_equal(b.woke, k);
		assert_int_equal(b.tokens, 0);
	}
	assert_string_equal(b.log.buf, "0 3 2 1 ");
	/* No waiter left: a signal is lost, not stored. */
	corio_cond_signal(b.c);
	assert_int_equal(corio_gather(t, 4, NULL, 0), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(cw[i].r, 0);
		assert_int_equal(cw[i].unlock_r, 0);
	}
	assert_int_equal(b.max_inside, 1);
	condbox_fini(&b);
	return 0;
}

static void test_cond_signal_fifo(void **state)
{
	assert_int_equal(check_run(cond_signal_main, NULL), 0);
}

static int cond_broadcast_main(void *arg)
{
	struct condbox b;
	struct condwaiter cw[NW];
	corio_task *t[NW];

	condbox_init(&b);
	for (int i = 0; i < NW; i++) {
		cw[i] = (struct condwaiter){ .b = &b, .id = i };
		t[i] = corio_spawn(cond_consumer, &cw[i]);
		assert_non_null(t[i]);
	}
	assert_int_equal(corio_sleep_ms(2), 0);
	assert_int_equal(b.woke, 0);
	/* Broadcast while holding the mutex: all wake, and take the mutex in
	 * turn once we let go of it. */
	assert_int_equal(corio_mutex_lock(b.m), 0);
	b.tokens = NW;
	corio_cond_broadcast(b.c);
	assert_int_equal(corio_sleep_ms(2), 0);
	assert_int_equal(b.woke, 0); /* they wait for the mutex */
	assert_int_equal(corio_mutex_unlock(b.m), 0);
	assert_int_equal(corio_gather(t, NW, NULL, 0), 0);
	assert_int_equal(b.woke, NW);
	assert_int_equal(b.tokens, 0);
	assert_int_equal(b.max_inside, 1);
	assert_string_equal(b.log.buf, "0 1 2 3 4 5 ");
	for (int i = 0; i < NW; i++)
		assert_int_equal(cw[i].unlock_r, 0);
	/* Nobody waits: a broadcast does nothing. */
	corio_cond_broadcast(b.c);
	condbox_fini(&b);
	return 0;
}

static void test_cond_broadcast(void **state)
{
	assert_int_equal(check_run(cond_broadcast_main, NULL), 0);
}

static int cond_wait_other_owner(void *arg)
{
	struct condbox *b = arg;

	return corio_cond_wait(b->c, b->m);
}

static int cond_errors_main(void *arg)
{
	struct condbox b;
	corio_task *t;
	uint64_t sw;

	condbox_init(&b);
	/* Without the mutex: -EPERM, at once. */
	sw = switches();
	assert_int_equal(corio_cond_wait(b.c, b.m), -EPERM);
	assert_int_equal(switches(), sw);
	assert_int_equal(corio_mutex_trylock(b.m), 0); /* still free */
	/* Held by someone else: -EPERM too. */
	t = corio_spawn(cond_wait_other_owner, &b);
	assert_non_null(t);
	assert_int_equal(corio_join(t), -EPERM);
	assert_int_equal(corio_mutex_unlock(b.m), 0); /* still ours */
	assert_int_equal(corio_mutex_lock(b.m), 0);
	assert_int_equal(corio_cond_wait(NULL, b.m), -EINVAL);
	assert_int_equal(corio_cond_wait(b.c, NULL), -EINVAL);
	assert_int_equal(corio_mutex_unlock(b.m), 0);
	condbox_fini(&b);
	return 0;
}

static void test_cond_errors(void **state)
{
	assert_int_equal(check_run(cond_errors_main, NULL), 0);
}

/* After cond_wait returns, whatever it returns, the caller holds the
 * mutex again: a cancel or a deadline does not let it skip the re-lock. */
struct condcancel {
	struct condbox *b;
	int             deadline_ms;
	int             r, unlock_r, pop_r, done;
	uint64_t        returned_ns;
};

static int cond_interrupted(void *arg)
{
	struct condcancel *cc = arg;
	struct condbox *b = cc->b;

	if (corio_mutex_trylock(b->m) != 0)
		return -EBUSY;
	if (cc->deadline_ms)
		corio_deadline_push((uint64_t)cc->deadline_ms);
	cc->r = corio_cond_wait(b->c, b->m);
	cc->returned_ns = corio_now_ns();
	if (cc->deadline_ms)
		cc->pop_r = corio_deadline_pop();
	cc->unlock_r = corio_mutex_unlock(b->m);
	cc->done = 1;
	return 0;
}

static int cond_cancel_main(void *arg)
{
	struct condbox b;
	struct condcancel cc = { .b = &b };
	corio_task *t;
	uint64_t t0;

	condbox_init(&b);
	t = corio_spawn(cond_interrupted, &cc);
	assert_non_null(t);
	assert_int_equal(corio_sleep_ms(2), 0);
	assert_int_equal(cc.done, 0);
	/* We take the mutex it gave up, then cancel it: its wait ends, but it
	 * cannot return before it has the mutex back. */
	assert_int_equal(corio_mutex_trylock(b.m), 0);
	assert_int_equal(corio_cancel(t), 0);
	assert_int_equal(corio_sleep_ms(10), 0);
	assert_int_equal(cc.done, 0);
	t0 = corio_now_ns();
	assert_int_equal(corio_mutex_unlock(b.m), 0);
	assert_int_equal(corio_join(t), 0);
	assert_true(check_ms_since(t0) < SLACK_MS);
	assert_int_equal(cc.r, -ECANCELED);
	assert_int_equal(cc.unlock_r, 0);
	assert_int_equal(corio_mutex_trylock(b.m), 0);
	assert_int_equal(corio_mutex_unlock(b.m), 0);

	/* Cancelled while the mutex is free: returns at once, holding it. */
	memset(&cc, 0, sizeof(cc));
	cc.b = &b;
	t = corio_spawn(cond_interrupted, &cc);
	assert_non_null(t);
	assert_int_equal(corio_sleep_ms(2), 0);
	assert_int_equal(corio_cancel(t), 0);
	assert_int_equal(corio_join(t), 0);
	assert_int_equal(cc.r, -ECANCELED);
	assert_int_equal(cc.unlock_r, 0);
	condbox_fini(&b);
	return 0;
}

static void test_cond_cancel_relocks(void **state)
{
	assert_int_equal(check_run(cond_cancel_main, NULL), 0);
}

static int cond_timeout_main(void *arg)
{
	struct condbox b;
	struct condcancel cc = { .deadline_ms = 20 };
	corio_task *t;
	uint64_t t0;

	condbox_init(&b);
	cc.b = &b;
	/* Deadline passes while the mutex is free. */
	t0 = corio_now_ns();
	t = corio_spawn(cond_interrupted, &cc);
	assert_non_null(t);
	assert_int_equal(corio_join(t), 0);
	assert_int_equal(cc.r, -ETIMEDOUT);
	assert_int_equal(cc.pop_r, -ETIMEDOUT);
	assert_int_equal(cc.unlock_r, 0);
	assert_between((cc.returned_ns - t0) / 1000000u, 19, 20 + SLACK_MS);

	/* Deadline passes while we hold the mutex: it returns -ETIMEDOUT only
	 * after we let go, holding the mutex. */
	memset(&cc, 0, sizeof(cc));
	cc.b = &b;
	cc.deadline_ms = 20;
	t = corio_spawn(cond_interrupted, &cc);
	assert_non_null(t);
	assert_int_equal(corio_sleep_ms(2), 0);
	assert_int_equal(corio_mutex_trylock(b.m), 0);
	assert_int_equal(corio_sleep_ms(40), 0);
	assert_int_equal(cc.done, 0);
	assert_int_equal(corio_mutex_unlock(b.m), 0);
	assert_int_equal(corio_join(t), 0);
	assert_int_equal(cc.r, -ETIMEDOUT);
	assert_int_equal(cc.unlock_r, 0);
	condbox_fini(&b);
	return 0;
}

static void test_cond_timeout_relocks(void **state)
{
	assert_int_equal(check_run(cond_timeout_main, NULL), 0);
}

/* ------------------------------------------------------------------------
 * Queue
 * ------------------------------------------------------------------------ */

#define ITEM(i) ((void *)(uintptr_t)(0x1000 + (i)))
#define ITEM_NO(p) ((int)((uintptr_t)(p) - 0x1000))

static int queue_fifo_main(void *arg)
{
	corio_queue *q = corio_queue_new(0);
	void *it;
	uint64_t sw;

	assert_non_null(q);
	assert_int_equal(corio_queue_size(q), 0);
	/* Unbounded: puts never block. */
	sw = switches();
	for (int i = 0; i < 1000; i++)
		assert_int_equal(corio_queue_put(q, ITEM(i)), 0);
	assert_int_equal(switches(), sw);
	assert_int_equal(corio_queue_size(q), 1000);
	for (int i = 0; i < 1000; i++) {
		it = NULL;
		assert_int_equal(corio_queue_get(q, &it), 0);
		assert_ptr_equal(it, ITEM(i));
	}
	assert_int_equal(switches(), sw);
	assert_int_equal(corio_queue_size(q), 0);
	/* NULL is an item like any other. */
	assert_int_equal(corio_queue_put(q, NULL), 0);
	it = ITEM(0);
	assert_int_equal(corio_queue_try_get(q, &it), 0);
	assert_null(it);
	corio_queue_free(q);
	return 0;
}

static void test_queue_fifo_unbounded(void **state)
{
	assert_int_equal(check_run(queue_fifo_main, NULL), 0);
}

static int queue_putter(void *arg)
{
	struct waiter *w = arg;

	w->r = corio_queue_put(w->obj, w->item);
	if (w->log)
		check_log_add(w->log, "p%d ", w->id);
	w->done = 1;
	return w->r;
}

static int queue_getter(void *arg)
{
	struct waiter *w = arg;

	w->item = NULL;
	w->r = corio_queue_get(w->obj, &w->item);
	if (w->log)
		check_log_add(w->log, "g%d ", w->id);
	w->done = 1;
	return w->r;
}

static int queue_bounded_main(void *arg)
{
	corio_queue *q = corio_queue_new(2);
	struct waiter w[3];
	corio_task *t[3];
	check_log lg = { .len = 0 };
	void *it;

	assert_non_null(q);
	assert_int_equal(corio_queue_put(q, ITEM(0)), 0);
	assert_int_equal(corio_queue_put(q, ITEM(1)), 0);
	assert_int_equal(corio_queue_size(q), 2);
	assert_int_equal(corio_queue_try_put(q, ITEM(99)), -EAGAIN);
	/* Full: three putters block, in order. */
	for (int i = 0; i < 3; i++) {
		w[i] = (struct waiter){ .id = i, .obj = q, .item = ITEM(2 + i), .log = &lg };
		t[i] = corio_spawn(queue_putter, &w[i]);
		assert_non_null(t[i]);
		settle();
		assert_int_equal(w[i].done, 0);
	}
	assert_int_equal(corio_sleep_ms(5), 0);
	assert_int_equal(corio_queue_size(q), 2);
	assert_int_equal(lg.len, 0);
	/* Each get frees one slot; the longest putter fills it. */
	for (int i = 0; i < 5; i++) {
		it = NULL;
		assert_int_equal(corio_queue_get(q, &it), 0);
		assert_ptr_equal(it, ITEM(i));
		if (i < 3) {
			assert_int_equal(w[i].done, 0); /* handed over, not yet run */
			settle();
			assert_int_equal(w[i].done, 1);
			assert_int_equal(w[i].r, 0);
			assert_int_equal(corio_queue_size(q), 2);
		}
	}
	assert_string_equal(lg.buf, "p0 p1 p2 ");
	assert_int_equal(corio_queue_size(q), 0);
	assert_int_equal(corio_gather(t, 3, NULL, 0), 0);
	assert_int_equal(corio_queue_try_get(q, &it), -EAGAIN);

	/* Empty: three getters block, in order, and each put serves the
	 * longest one. */
	lg.len = 0;
	lg.buf[0] = '\0';
	for (int i = 0; i < 3; i++) {
		w[i] = (struct waiter){ .id = i, .obj = q, .log = &lg };
		t[i] = corio_spawn(queue_getter, &w[i]);
		assert_non_null(t[i]);
		settle();
		assert_int_equal(w[i].done, 0);
	}
	assert_int_equal(corio_sleep_ms(5), 0);
	assert_int_equal(lg.len, 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(corio_queue_put(q, ITEM(10 + i)), 0);
		/* Straight to the getter: it never sits in the queue. */
		assert_int_equal(corio_queue_size(q), 0);
		assert_int_equal(corio_queue_try_get(q, &it), -EAGAIN);
	}
	assert_int_equal(corio_gather(t, 3, NULL, 0), 0);
	assert_string_equal(lg.buf, "g0 g1 g2 ");
	for (int i = 0; i < 3; i++)
		assert_ptr_equal(w[i].item, ITEM(10 + i));
	corio_queue_free(q);
	return 0;
}

static void test_queue_bounded(void **state)
{
	assert_int_equal(check_run(queue_bounded_main, NULL), 0);
}

static void queue_try_checks(void)
{
	corio_queue *q = corio_queue_new(3), *u = corio_queue_new(0);
	void *it = NULL;

	assert_non_null(q);
	assert_non_null(u);
	assert_int_equal(corio_queue_try_get(q, &it), -EAGAIN);
	for (int i = 0; i < 3; i++)
		assert_int_equal(corio_queue_try_put(q, ITEM(i)), 0);
	assert_int_equal(corio_queue_size(q), 3);
	assert_int_equal(corio_queue_try_put(q, ITEM(3)), -EAGAIN);
	assert_int_equal(corio_queue_size(q), 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(corio_queue_try_get(q, &it), 0);
		assert_ptr_equal(it, ITEM(i));
	}
	assert_int_equal(corio_queue_try_get(q, &it), -EAGAIN);
	assert_int_equal(corio_queue_try_get(q, NULL), -EINVAL);
	/* Wrapping around the ring. */
	for (int i = 0; i < 20; i++) {
		assert_int_equal(corio_queue_try_put(q, ITEM(i)), 0);
		assert_int_equal(corio_queue_try_get(q, &it), 0);
		assert_ptr_equal(it, ITEM(i));
	}
	for (int i = 0; i < 100; i++)
		assert_int_equal(corio_queue_try_put(u, ITEM(i)), 0);
	assert_int_equal(corio_queue_size(u), 100);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(corio_queue_try_get(u, &it), 0);
		assert_ptr_equal(it, ITEM(i));
	}
	assert_int_equal(corio_queue_try_get(u, &it), -EAGAIN);
	/* The items still queued at free are the caller's business. */
	assert_int_equal(corio_queue_try_put(q, ITEM(7)), 0);
	corio_queue_free(q);
	corio_queue_free(u);
}

static int queue_try_main(void *arg)
{
	queue_try_checks();
	return 0;
}

static void test_queue_try(void **state)
{
	assert_int_equal(check_run(queue_try_main, NULL), 0);
	queue_try_checks(); /* no loop, no task */
}

/* Several producers and consumers through a small queue: every item is
 * delivered exactly once. */
#define NPROD   4
#define NCONS   3
#define PERPROD 300
#define STOP    ITEM(-1)

struct pc {
	corio_queue *q;
	int          got[NPROD * PERPROD];
	int          per_cons[NCONS];
	int          bad;
	int          order_bad;
	int          last[NCONS][NPROD]; /* per consumer, per producer: last seq + 1 */
};

struct pcarg {
	struct pc *pc;
	int        id;
};

static int producer(void *arg)
{
	struct pcarg *a = arg;

	for (int i = 0; i < PERPROD; i++) {
		int r = corio_queue_put(a->pc->q, ITEM(a->id * PERPROD + i));
		if (r < 0)
			return r;
		if (i % 7 == a->id)
			corio_yield();
	}
	return 0;
}

static int consumer(void *arg)
{
	struct pcarg *a = arg;
	struct pc *pc = a->pc;

	for (;;) {
		void *it;
		int r = corio_queue_get(pc->q, &it), n;
		if (r < 0)
			return r;
		if (it == STOP)
			return 0;
		n = ITEM_NO(it);
		if (n < 0 || n >= NPROD * PERPROD) {
			pc->bad++;
			continue;
		}
		pc->got[n]++;
		pc->per_cons[a->id]++;
		/* One producer's items reach one consumer in put order. */
		if (n % PERPROD < pc->last[a->id][n / PERPROD])
			pc->order_bad++;
		pc->last[a->id][n / PERPROD] = n % PERPROD + 1;
		if (n % 5 == a->id)
			corio_yield();
	}
}

static int prodcons_main(void *arg)
{
	struct pc *pc = arg;
	struct pcarg pa[NPROD], ca[NCONS];
	corio_task *pt[NPROD], *ct[NCONS];

	pc->q = corio_queue_new(4);
	assert_non_null(pc->q);
	for (int i = 0; i < NCONS; i++) {
		ca[i] = (struct pcarg){ .pc = pc, .id = i };
		ct[i] = corio_spawn(consumer, &ca[i]);
		assert_non_null(ct[i]);
	}
	for (int i = 0; i < NPROD; i++) {
		pa[i] = (struct pcarg){ .pc = pc, .id = i };
		pt[i] = corio_spawn(producer, &pa[i]);
		assert_non_null(pt[i]);
	}
	assert_int_equal(corio_gather(pt, NPROD, NULL, 0), 0);
	for (int i = 0; i < NCONS; i++)
		assert_int_equal(corio_queue_put(pc->q, STOP), 0);
	assert_int_equal(corio_gather(ct, NCONS, NULL, 0), 0);
	assert_int_equal(corio_queue_size(pc->q), 0);
	corio_queue_free(pc->q);
	return 0;
}

static void test_queue_producers_consumers(void **state)
{
	struct pc *pc = calloc(1, sizeof(*pc));

	assert_non_null(pc);
	assert_int_equal(check_run(prodcons_main, pc), 0);
	assert_int_equal(pc->bad, 0);
	assert_int_equal(pc->order_bad, 0);
	for (int i = 0; i < NPROD * PERPROD; i++)
		if (pc->got[i] != 1)
			fail_msg("item %d delivered %d times", i, pc->got[i]);
	/* Everybody got work (the queue is small and the consumers yield). */
	for (int i = 0; i < NCONS; i++)
		assert_true(pc->per_cons[i] > 0);
	free(pc);
}

/* ------------------------------------------------------------------------
 * Misuse: NULL, outside a loop
 * ------------------------------------------------------------------------ */

static void null_checks_common(void)
{
	void *it = NULL;

	errno = 0;
	corio_event_set(NULL);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	corio_event_clear(NULL);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(corio_event_is_set(NULL), -EINVAL);

	assert_int_equal(corio_mutex_trylock(NULL), -EINVAL);
	assert_int_equal(corio_mutex_unlock(NULL), -EINVAL);

	assert_int_equal(corio_sem_try_acquire(NULL), -EINVAL);
	assert_int_equal(corio_sem_value(NULL), -EINVAL);
	errno = 0;
	corio_sem_release(NULL);
	assert_int_equal(errno, EINVAL);

	errno = 0;
	corio_cond_signal(NULL);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	corio_cond_broadcast(NULL);
	assert_int_equal(errno, EINVAL);

	assert_int_equal(corio_queue_try_put(NULL, ITEM(1)), -EINVAL);
	assert_int_equal(corio_queue_try_get(NULL, &it), -EINVAL);
	assert_int_equal(corio_queue_size(NULL), 0);

	/* free(NULL) is a no-op, and leaves errno alone. */
	errno = 0;
	corio_event_free(NULL);
	corio_mutex_free(NULL);
	corio_sem_free(NULL);
	corio_cond_free(NULL);
	corio_queue_free(NULL);
	assert_int_equal(errno, 0);
}

static int null_main(void *arg)
{
	corio_mutex *m = corio_mutex_new();
	corio_queue *q = corio_queue_new(1);
	void *it;

	assert_non_null(m);
	assert_non_null(q);
	null_checks_common();
	/* The blocking calls, inside a task. */
	assert_int_equal(corio_event_wait(NULL), -EINVAL);
	assert_int_equal(corio_mutex_lock(NULL), -EINVAL);
	assert_int_equal(corio_sem_acquire(NULL), -EINVAL);
	assert_int_equal(corio_mutex_lock(m), 0);
	assert_int_equal(corio_cond_wait(NULL, m), -EINVAL);
	assert_int_equal(corio_mutex_unlock(m), 0);
	assert_int_equal(corio_queue_put(NULL, ITEM(1)), -EINVAL);
	assert_int_equal(corio_queue_get(NULL, &it), -EINVAL);
	assert_int_equal(corio_queue_try_put(q, ITEM(1)), 0);
	assert_int_equal(corio_queue_get(q, NULL), -EINVAL);
	assert_int_equal(corio_queue_size(q), 1); /* the item stayed */
	assert_int_equal(corio_queue_get(q, &it), 0);
	assert_ptr_equal(it, ITEM(1));
	corio_queue_free(q);
	corio_mutex_free(m);
	return 0;
}

static void test_null_arguments(void **state)
{
	assert_int_equal(check_run(null_main, NULL), 0);
	null_checks_common(); /* outside a loop as well */
}

static void test_blocking_outside_loop(void **state)
{
	corio_event *e = corio_event_new();
	corio_mutex *m = corio_mutex_new();
	corio_sem *s = corio_sem_new(1);
	corio_cond *c = corio_cond_new();
	corio_queue *q = corio_queue_new(1);
	void *it = NULL;

	assert_non_null(e);
	assert_non_null(m);
	assert_non_null(s);
	assert_non_null(c);
	assert_non_null(q);
	/* Even where the call could succeed without waiting. */
	corio_event_set(e);
	assert_int_equal(corio_event_wait(e), -EPERM);
	assert_int_equal(corio_mutex_lock(m), -EPERM);
	assert_int_equal(corio_mutex_unlock(m), -EPERM);
	assert_int_equal(corio_sem_acquire(s), -EPERM);
	assert_int_equal(corio_sem_value(s), 1);
	assert_int_equal(corio_cond_wait(c, m), -EPERM);
	assert_int_equal(corio_queue_put(q, ITEM(1)), -EPERM);
	assert_int_equal(corio_queue_size(q), 0);
	assert_int_equal(corio_queue_try_put(q, ITEM(2)), 0);
	assert_int_equal(corio_queue_get(q, &it), -EPERM);
	assert_int_equal(corio_queue_size(q), 1);
	assert_int_equal(corio_queue_try_get(q, &it), 0);
	assert_ptr_equal(it, ITEM(2));
	/* The non-blocking calls work. */
	corio_event_clear(e);
	assert_int_equal(corio_event_is_set(e), 0);
	corio_cond_signal(c);
	corio_cond_broadcast(c);
	corio_event_free(e);
	corio_mutex_free(m);
	corio_sem_free(s);
	corio_cond_free(c);
	corio_queue_free(q);
}

/* ------------------------------------------------------------------------
 * Freeing what tasks wait on, or a held mutex: refused with EBUSY, and the
 * object still works.
 * ------------------------------------------------------------------------ */

struct freebox {
	corio_event *e;
	corio_mutex *m;
	corio_sem   *s;
	corio_cond  *c;
	corio_queue *qg, *qp;
	char         err[4096];
};

static int free_waiters_main(void *arg)
{
	struct freebox *fb = arg;
	struct waiter we = { .obj = fb->e }, wm = { .obj = fb->m }, ws = { .obj = fb->s };
	struct waiter wg = { .obj = fb->qg }, wp = { .obj = fb->qp, .item = ITEM(5) };
	struct condbox cb = { .m = fb->m, .c = fb->c };
	struct condwaiter wc = { .b = &cb };
	corio_task *t[6];
	void *it;

	assert_int_equal(corio_mutex_lock(fb->m), 0);
	assert_int_equal(corio_sem_acquire(fb->s), 0);
	assert_int_equal(corio_queue_put(fb->qp, ITEM(4)), 0);
	t[0] = corio_spawn(event_waiter, &we);
	t[1] = corio_spawn(mutex_locker, &wm);
	t[2] = corio_spawn(sem_user, &ws);
	t[3] = corio_spawn(queue_getter, &wg);
	t[4] = corio_spawn(queue_putter, &wp);
	for (int i = 0; i < 5; i++)
		assert_non_null(t[i]);
	assert_int_equal(corio_sleep_ms(2), 0);

	/* A held mutex with a waiter. */
	errno = 0;
	corio_mutex_free(fb->m);
	assert_int_equal(errno, EBUSY);
	errno = 0;
	corio_event_free(fb->e);
	assert_int_equal(errno, EBUSY);
	errno = 0;
	corio_sem_free(fb->s);
	assert_int_equal(errno, EBUSY);
	errno = 0;
	corio_queue_free(fb->qg);
	assert_int_equal(errno, EBUSY);
	errno = 0;
	corio_queue_free(fb->qp);
	assert_int_equal(errno, EBUSY);

	/* Everything still works. */
	corio_event_set(fb->e);
	corio_sem_release(fb->s);
	assert_int_equal(corio_queue_put(fb->qg, ITEM(3)), 0);
	assert_int_equal(corio_queue_get(fb->qp, &it), 0);
	assert_ptr_equal(it, ITEM(4));
	assert_int_equal(corio_mutex_unlock(fb->m), 0);
	assert_int_equal(corio_gather(t, 5, NULL, 0), 0);
	assert_int_equal(we.r, 0);
	assert_int_equal(wm.r, 0);
	assert_int_equal(wm.unlock_r, 0);
	assert_int_equal(ws.r, 0);
	assert_int_equal(wg.r, 0);
	assert_ptr_equal(wg.item, ITEM(3));
	assert_int_equal(wp.r, 0);
	assert_int_equal(corio_queue_get(fb->qp, &it), 0);
	assert_ptr_equal(it, ITEM(5));

	/* A held mutex nobody waits for. */
	assert_int_equal(corio_mutex_lock(fb->m), 0);
	errno = 0;
	corio_mutex_free(fb->m);
	assert_int_equal(errno, EBUSY);
	assert_int_equal(corio_mutex_unlock(fb->m), 0);
	assert_int_equal(corio_mutex_trylock(fb->m), 0);
	assert_int_equal(corio_mutex_unlock(fb->m), 0);

	/* A condition with a waiter. */
	t[5] = corio_spawn(cond_consumer, &wc);
	assert_non_null(t[5]);
	assert_int_equal(corio_sleep_ms(2), 0);
	errno = 0;
	corio_cond_free(fb->c);
	assert_int_equal(errno, EBUSY);
	assert_int_equal(corio_mutex_lock(fb->m), 0);
	cb.tokens = 1;
	corio_cond_signal(fb->c);
	assert_int_equal(corio_mutex_unlock(fb->m), 0);
	assert_int_equal(corio_join(t[5]), 0);
	assert_int_equal(wc.r, 0);
	assert_int_equal(wc.unlock_r, 0);

	/* Now they can go. */
	errno = 0;
	corio_event_free(fb->e);
	corio_mutex_free(fb->m);
	corio_sem_free(fb->s);
	corio_cond_free(fb->c);
	corio_queue_free(fb->qg);
	corio_queue_free(fb->qp);
	assert_int_equal(errno, 0);
	return 0;
}

static void test_free_refused_while_in_use(void **state)
{
	struct freebox fb;

	memset(&fb, 0, sizeof(fb));
	fb.e = corio_event_new();
	fb.m = corio_mutex_new();
	fb.s = corio_sem_new(1);
	fb.c = corio_cond_new();
	fb.qg = corio_queue_new(1);
	fb.qp = corio_queue_new(1);
	assert_true(fb.e && fb.m && fb.s && fb.c && fb.qg && fb.qp);
	check_capture_begin(); /* the refusals say why on stderr */
	int r = check_run(free_waiters_main, &fb);
	check_capture_end(fb.err, sizeof(fb.err));
	assert_int_equal(r, 0);
	assert_contains(fb.err, "not freed");
}

/* ------------------------------------------------------------------------
 * Objects made before corio_run, used inside, freed after; and reused by a
 * second loop.
 * ------------------------------------------------------------------------ */

struct across {
	corio_event *e;
	corio_mutex *m;
	corio_sem   *s;
	corio_cond  *c;
	corio_queue *q;
	int          round;
};

static int across_helper(void *arg)
{
	struct across *a = arg;
	void *it;
	int r;

	if ((r = corio_event_wait(a->e)) < 0)
		return r;
	if ((r = corio_sem_acquire(a->s)) < 0)
		return r;
	if ((r = corio_queue_get(a->q, &it)) < 0)
		return r;
	if (it != ITEM(a->round))
		return -EBADMSG;
	if ((r = corio_mutex_lock(a->m)) < 0)
		return r;
	corio_cond_signal(a->c);
	corio_sem_release(a->s);
	return corio_mutex_unlock(a->m);
}

static int across_main(void *arg)
{
	struct across *a = arg;
	corio_task *t = corio_spawn(across_helper, a);

	assert_non_null(t);
	assert_int_equal(corio_mutex_lock(a->m), 0);
	assert_int_equal(corio_sleep_ms(1), 0);
	corio_event_set(a->e);
	assert_int_equal(corio_queue_put(a->q, ITEM(a->round)), 0);
	assert_int_equal(corio_cond_wait(a->c, a->m), 0);
	assert_int_equal(corio_mutex_unlock(a->m), 0);
	assert_int_equal(corio_join(t), 0);
	assert_int_equal(corio_sem_value(a->s), 1);
	corio_event_clear(a->e);
	return 0;
}

static void test_objects_across_runs(void **state)
{
	struct across a = { 0 };

	a.e = corio_event_new();
	a.m = corio_mutex_new();
	a.s = corio_sem_new(1);
	a.c = corio_cond_new();
	a.q = corio_queue_new(1);
	assert_true(a.e && a.m && a.s && a.c && a.q);
	for (a.round = 0; a.round < 3; a.round++)
		assert_int_equal(check_run(across_main, &a), 0);
	assert_int_equal(corio_queue_size(a.q), 0);
	assert_int_equal(corio_event_is_set(a.e), 0);
	errno = 0;
	corio_event_free(a.e);
	corio_mutex_free(a.m);
	corio_sem_free(a.s);
	corio_cond_free(a.c);
	corio_queue_free(a.q);
	assert_int_equal(errno, 0);
}

/* Made inside one run, freed after it ended. */
static int made_inside_main(void *arg)
{
	struct across *a = arg;

	a->e = corio_event_new();
	a->m = corio_mutex_new();
	a->s = corio_sem_new(2);
	a->c = corio_cond_new();
	a->q = corio_queue_new(0);
	assert_true(a->e && a->m && a->s && a->c && a->q);
	corio_event_set(a->e);
	assert_int_equal(corio_event_wait(a->e), 0);
	assert_int_equal(corio_mutex_lock(a->m), 0);
	assert_int_equal(corio_mutex_unlock(a->m), 0);
	assert_int_equal(corio_sem_acquire(a->s), 0);
	assert_int_equal(corio_queue_put(a->q, ITEM(1)), 0);
	return 0;
}

static void test_objects_made_inside_freed_after(void **state)
{
	struct across a = { 0 };
	void *it;

	assert_int_equal(check_run(made_inside_main, &a), 0);
	assert_int_equal(corio_event_is_set(a.e), 1);
	assert_int_equal(corio_sem_value(a.s), 1);
	assert_int_equal(corio_queue_try_get(a.q, &it), 0);
	assert_ptr_equal(it, ITEM(1));
	errno = 0;
	corio_event_free(a.e);
	corio_mutex_free(a.m);
	corio_sem_free(a.s);
	corio_cond_free(a.c);
	corio_queue_free(a.q);
	assert_int_equal(errno, 0);
}

/* ------------------------------------------------------------------------
 * Main returns while tasks wait: corio_run cancels them, and the objects
 * are left with no waiter (freeable, usable by the next run).
 * ------------------------------------------------------------------------ */

struct leftover {
	corio_event *e, *e2;
	corio_mutex *m, *m2;
	corio_sem   *s;
	corio_cond  *c;
	corio_queue *qg, *qp;
	struct waiter we, wm, ws, wg, wp, holder;
	struct condbox cb;
	struct condwaiter wc;
};

/* Holds m until its wait on e is cancelled. */
static int mutex_holder(void *arg)
{
	struct waiter *w = arg;

	w->r = corio_mutex_lock(w->obj);
	if (w->r < 0)
		return w->r;
	(void)corio_event_wait(w->obj2);
	w->unlock_r = corio_mutex_unlock(w->obj);
	w->done = 1;
	return 0;
}

static int leftover_main(void *arg)
{
	struct leftover *lo = arg;

	assert_int_equal(corio_sem_acquire(lo->s), 0);
	assert_int_equal(corio_queue_put(lo->qp, ITEM(1)), 0);
	lo->holder = (struct waiter){ .obj = lo->m, .obj2 = lo->e2 };
	lo->we = (struct waiter){ .obj = lo->e, .r = 1 };
	lo->wm = (struct waiter){ .obj = lo->m, .r = 1 };
	lo->ws = (struct waiter){ .obj = lo->s, .r = 1 };
	lo->wg = (struct waiter){ .obj = lo->qg, .r = 1 };
	lo->wp = (struct waiter){ .obj = lo->qp, .item = ITEM(2), .r = 1 };
	lo->cb = (struct condbox){ .m = lo->m2, .c = lo->c };
	lo->wc = (struct condwaiter){ .b = &lo->cb, .r = 1 };
	corio_detach(corio_spawn(mutex_holder, &lo->holder));
	corio_detach(corio_spawn(event_waiter, &lo->we));
	corio_detach(corio_spawn(mutex_locker, &lo->wm));
	corio_detach(corio_spawn(sem_user, &lo->ws));
	corio_detach(corio_spawn(queue_getter, &lo->wg));
	corio_detach(corio_spawn(queue_putter, &lo->wp));
	corio_detach(corio_spawn(cond_consumer, &lo->wc));
	assert_int_equal(corio_sleep_ms(2), 0);
	assert_int_equal(lo->we.done + lo->wm.done + lo->ws.done + lo->wg.done + lo->wp.done +
				 lo->wc.done,
			 0);
	return 0; /* and they are all still waiting */
}

static int leftover_reuse_main(void *arg)
{
	struct leftover *lo = arg;
	void *it;

	corio_event_set(lo->e);
	assert_int_equal(corio_event_wait(lo->e), 0);
	assert_int_equal(corio_mutex_lock(lo->m), 0);
	assert_int_equal(corio_mutex_unlock(lo->m), 0);
	assert_int_equal(corio_mutex_lock(lo->m2), 0);
	assert_int_equal(corio_mutex_unlock(lo->m2), 0);
	assert_int_equal(corio_sem_acquire(lo->s), 0);
	corio_sem_release(lo->s);
	assert_int_equal(corio_queue_put(lo->qg, ITEM(3)), 0);
	assert_int_equal(corio_queue_get(lo->qg, &it), 0);
	assert_ptr_equal(it, ITEM(3));
	assert_int_equal(corio_queue_get(lo->qp, &it), 0);
	assert_ptr_equal(it, ITEM(1));
	return 0;
}

static void test_loop_end_cancels_waiters(void **state)
{
	struct leftover lo;

	memset(&lo, 0, sizeof(lo));
	lo.e = corio_event_new();
	lo.e2 = corio_event_new();
	lo.m = corio_mutex_new();
	lo.m2 = corio_mutex_new();
	lo.s = corio_sem_new(1);
	lo.c = corio_cond_new();
	lo.qg = corio_queue_new(1);
	lo.qp = corio_queue_new(1);
	assert_true(lo.e && lo.e2 && lo.m && lo.m2 && lo.s && lo.c && lo.qg && lo.qp);
	assert_int_equal(check_run(leftover_main, &lo), 0);
	assert_int_equal(lo.we.r, -ECANCELED);
	assert_int_equal(lo.wm.r, -ECANCELED);
	assert_int_equal(lo.ws.r, -ECANCELED);
	assert_int_equal(lo.wg.r, -ECANCELED);
	assert_int_equal(lo.wp.r, -ECANCELED);
	assert_int_equal(lo.wc.r, -ECANCELED);
	assert_int_equal(lo.wc.unlock_r, 0);
	assert_int_equal(lo.holder.unlock_r, 0);
	/* Nothing was taken or added by the cancelled waiters. */
	assert_int_equal(corio_sem_value(lo.s), 0); /* main's unit, never given back */
	corio_sem_release(lo.s);
	assert_int_equal(corio_queue_size(lo.qg), 0);
	assert_int_equal(corio_queue_size(lo.qp), 1);
	assert_int_equal(check_run(leftover_reuse_main, &lo), 0);
	errno = 0;
	corio_event_free(lo.e);
	corio_event_free(lo.e2);
	corio_mutex_free(lo.m);
	corio_mutex_free(lo.m2);
	corio_sem_free(lo.s);
	corio_cond_free(lo.c);
	corio_queue_free(lo.qg);
	corio_queue_free(lo.qp);
	assert_int_equal(errno, 0);
}

/* ------------------------------------------------------------------------
 * While tasks of one loop wait on an object, another loop (thread) gets
 * -EXDEV and cannot hand anything to them.
 * ------------------------------------------------------------------------ */

struct xloop {
	corio_event *e;
	corio_mutex *m, *m2, *m3; /* m3: held here, nobody waits on it */
	corio_sem   *s;
	corio_cond  *c;
	corio_queue *qg, *qp;
	/* what the other loop saw */
	int r_event_wait, e_event_set, r_lock, r_acquire, e_release, r_cond;
	int e_signal, e_broadcast, r_get, r_put, r_try_put, r_try_get_qp, r_put_qp;
	int r_m2_unlock, r_lock_held, ran;
};

static int xloop_other_main(void *arg)
{
	struct xloop *x = arg;
	void *it;

	x->ran = 1;
	x->r_event_wait = corio_event_wait(x->e);
	errno = 0;
	corio_event_set(x->e);
	x->e_event_set = errno;
	x->r_lock = corio_mutex_lock(x->m);
	x->r_lock_held = corio_mutex_lock(x->m3);
	x->r_acquire = corio_sem_acquire(x->s);
	errno = 0;
	corio_sem_release(x->s);
	x->e_release = errno;
	if (corio_mutex_trylock(x->m2) == 0) {
		x->r_cond = corio_cond_wait(x->c, x->m2);
		x->r_m2_unlock = corio_mutex_unlock(x->m2);
	}
	errno = 0;
	corio_cond_signal(x->c);
	x->e_signal = errno;
	errno = 0;
	corio_cond_broadcast(x->c);
	x->e_broadcast = errno;
	x->r_get = corio_queue_get(x->qg, &it);
	x->r_put = corio_queue_put(x->qg, ITEM(8));
	x->r_try_put = corio_queue_try_put(x->qg, ITEM(9));
	x->r_try_get_qp = corio_queue_try_get(x->qp, &it);
	x->r_put_qp = corio_queue_put(x->qp, ITEM(10));
	return 0;
}

static void *xloop_thread(void *arg)
{
	struct xloop *x = arg;

	if (corio_run(xloop_other_main, x) != 0)
		x->ran = -1;
	return NULL;
}

static int trivial_main(void *arg)
{
	return 0;
}

static void *warm_thread(void *arg)
{
	(void)corio_run(trivial_main, NULL);
	return NULL;
}

static int xloop_main(void *arg)
{
	struct xloop *x = arg;
	struct waiter we = { .obj = x->e }, wm = { .obj = x->m }, ws = { .obj = x->s };
	struct waiter wg = { .obj = x->qg }, wp = { .obj = x->qp, .item = ITEM(2) };
	struct condbox cb = { .m = x->m2, .c = x->c, .tokens = 0 };
	struct condwaiter wc = { .b = &cb };
	corio_task *t[6];
	pthread_t th;
	void *it;

	assert_int_equal(corio_mutex_lock(x->m), 0);
	assert_int_equal(corio_mutex_lock(x->m3), 0);
	assert_int_equal(corio_sem_acquire(x->s), 0);
	assert_int_equal(corio_queue_put(x->qp, ITEM(1)), 0);
	t[0] = corio_spawn(event_waiter, &we);
	t[1] = corio_spawn(mutex_locker, &wm);
	t[2] = corio_spawn(sem_user, &ws);
	t[3] = corio_spawn(queue_getter, &wg);
	t[4] = corio_spawn(queue_putter, &wp);
	t[5] = corio_spawn(cond_consumer, &wc);
	for (int i = 0; i < 6; i++)
		assert_non_null(t[i]);
	assert_int_equal(corio_sleep_ms(2), 0);
	/* This loop stands still while the other one runs. */
	assert_int_equal(pthread_create(&th, NULL, xloop_thread, x), 0);
	pthread_join(th, NULL);
	settle();
	/* Nobody here was woken by the other loop. */
	assert_int_equal(we.done + wm.done + ws.done + wg.done + wp.done + wc.done, 0);
	assert_int_equal(corio_queue_size(x->qg), 0);
	assert_int_equal(corio_queue_size(x->qp), 1);
	/* Release everything from here. */
	corio_event_set(x->e);
	assert_int_equal(corio_mutex_unlock(x->m), 0);
	assert_int_equal(corio_mutex_unlock(x->m3), 0);
	corio_sem_release(x->s);
	assert_int_equal(corio_queue_put(x->qg, ITEM(3)), 0);
	assert_int_equal(corio_queue_get(x->qp, &it), 0);
	assert_ptr_equal(it, ITEM(1));
	assert_int_equal(corio_mutex_lock(x->m2), 0);
	cb.tokens = 1;
	corio_cond_signal(x->c);
	assert_int_equal(corio_mutex_unlock(x->m2), 0);
	assert_int_equal(corio_gather(t, 6, NULL, 0), 0);
	assert_ptr_equal(wg.item, ITEM(3));
	assert_int_equal(corio_queue_get(x->qp, &it), 0);
	assert_ptr_equal(it, ITEM(2));
	return 0;
}

static void test_other_loop_gets_exdev(void **state)
{
	struct xloop x;
	pthread_t th;

	/* glibc keeps a first thread's stack and arena: pay that first. */
	assert_int_equal(pthread_create(&th, NULL, warm_thread, NULL), 0);
	pthread_join(th, NULL);
	check_rebaseline();

	memset(&x, 0, sizeof(x));
	x.e = corio_event_new();
	x.m = corio_mutex_new();
	x.m2 = corio_mutex_new();
	x.m3 = corio_mutex_new();
	x.s = corio_sem_new(1);
	x.c = corio_cond_new();
	x.qg = corio_queue_new(1);
	x.qp = corio_queue_new(1);
	assert_true(x.e && x.m && x.m2 && x.m3 && x.s && x.c && x.qg && x.qp);
	assert_int_equal(check_run(xloop_main, &x), 0);
	assert_int_equal(x.ran, 1);
	assert_int_equal(x.r_event_wait, -EXDEV);
	assert_int_equal(x.e_event_set, EXDEV);
	assert_int_equal(x.r_lock, -EXDEV);
	assert_int_equal(x.r_lock_held, -EXDEV);
	assert_int_equal(x.r_acquire, -EXDEV);
	assert_int_equal(x.e_release, EXDEV);
	assert_int_equal(x.r_cond, -EXDEV);
	assert_int_equal(x.r_m2_unlock, 0);
	assert_int_equal(x.e_signal, EXDEV);
	assert_int_equal(x.e_broadcast, EXDEV);
	assert_int_equal(x.r_get, -EXDEV);
	assert_int_equal(x.r_put, -EXDEV);
	assert_int_equal(x.r_try_put, -EXDEV);
	assert_int_equal(x.r_try_get_qp, -EXDEV);
	assert_int_equal(x.r_put_qp, -EXDEV);
	errno = 0;
	corio_event_free(x.e);
	corio_mutex_free(x.m);
	corio_mutex_free(x.m2);
	corio_mutex_free(x.m3);
	corio_sem_free(x.s);
	corio_cond_free(x.c);
	corio_queue_free(x.qg);
	corio_queue_free(x.qp);
	assert_int_equal(errno, 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		CHECK_TEST(test_event_basic),
		CHECK_TEST(test_event_set_wakes_all),
		CHECK_TEST(test_mutex_basic),
		CHECK_TEST(test_mutex_fifo),
		CHECK_TEST(test_mutex_no_barging),
		CHECK_TEST(test_mutex_exclusion),
		CHECK_TEST(test_sem_bounded),
		CHECK_TEST(test_sem_fifo),
		CHECK_TEST(test_sem_try_value_overflow),
		CHECK_TEST(test_sem_zero_bound),
		CHECK_TEST(test_cond_signal_fifo),
		CHECK_TEST(test_cond_broadcast),
		CHECK_TEST(test_cond_errors),
		CHECK_TEST(test_cond_cancel_relocks),
		CHECK_TEST(test_cond_timeout_relocks),
		CHECK_TEST(test_queue_fifo_unbounded),
		CHECK_TEST(test_queue_bounded),
		CHECK_TEST(test_queue_try),
		CHECK_TEST(test_queue_producers_consumers),
		CHECK_TEST(test_null_arguments),
		CHECK_TEST(test_blocking_outside_loop),
		CHECK_TEST(test_free_refused_while_in_use),
		CHECK_TEST(test_objects_across_runs),
		CHECK_TEST(test_objects_made_inside_freed_after),
		CHECK_TEST(test_loop_end_cancels_waiters),
		CHECK_TEST(test_other_loop_gets_exdev),
	};

	check_init(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
