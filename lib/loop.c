/*
 * loop.c - the event loop: one io_uring, one ready queue, one timer heap.
 *
 * A loop turn:
 *   1. run ready tasks in FIFO order. Tasks hand the CPU straight to the
 *      next ready task when they suspend; after `batch` handoffs (or when
 *      the queue is empty) control comes back here, so a task that keeps
 *      yielding cannot starve I/O and timers;
 *   2. hand the jobs tasks queued for the thread pool over to it, submit
 *      every SQE the tasks prepared, in one io_uring_enter, and wait for
 *      completions only when no task is ready, up to the nearest timer
 *      deadline (the ring's own timeout argument: no timeout SQEs);
 *   3. reap every CQE and wake the task whose wait record it names (tagged
 *      ones, jobs and messages from other threads and loops, go to the
 *      mailbox and xloop.c);
 *   4. fire expired timers.
 * The loop ends when no task is alive and no message from another loop can
 * still arrive. When main has returned, new posts and calls to the loop
 * are refused and every task still alive is cancelled first (asyncio.run
 * does the same). When nothing can ever wake a task (no timer,
 * no op, no job or message on its way, no other loop of its group running),
 * the loop reports a deadlock and cancels every task; if that changes
 * nothing, it returns -EDEADLK. About once a second it trims the stack
 * pool.
 *
 * corio_run_loops runs several such loops, one thread each (loop 0 on the
 * caller's thread).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"



CORIO__TLS corio__loop *corio__tls_loop;

#define DEFAULT_STACK   (64 * 1024)
#define DEFAULT_SQ      256
#define DEFAULT_BATCH   128
#define MAX_STACK       ((size_t)1 << 30)
#define CORIO__CFG_ALL  (CORIO_CFG_NO_DEFER_TASKRUN | CORIO_CFG_NO_COOP_TASKRUN | \
			 CORIO_CFG_NO_REGISTER_FD | CORIO_CFG_QUIET | CORIO_CFG_DEBUG)

uint64_t corio__clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

CORIO__API uint64_t corio_now_ns(void)
{
	return corio__clock_ns();
}

/* ------------------------------------------------------------------------
 * Ring setup
 * ------------------------------------------------------------------------ */

static const char *setup_hint(int err)
{
	switch (err) {
	case -ENOMEM:
		return "out of memory or locked-memory limit reached (ulimit -l, memory cgroup)";
	case -EPERM:
		return "io_uring is disabled (sysctl kernel.io_uring_disabled) or forbidden by seccomp";
	case -ENOSYS:
		return "the kernel has no io_uring (CONFIG_IO_URING) or a seccomp filter hides it";
	case -EINVAL:
		return "the kernel refused the ring parameters";
	case -EMFILE:
	case -ENFILE:
		return "too many open files";
	default:
		return "unexpected error";
	}
}

static int ring_setup(corio__loop *l, const corio_config *cfg)
{
	/* From the most to the least capable; each later one is a fallback for
	 * kernels (or configs) that refuse a flag. */
	static const unsigned tries[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
		IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
		0,
	};
	unsigned sq = cfg->sq_entries ? cfg->sq_entries : DEFAULT_SQ;
	unsigned cq = cfg->cq_entries ? cfg->cq_entries : 4 * sq;
	int r = -EINVAL;

	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		struct io_uring_params p;
		unsigned f = tries[i];

		if ((cfg->flags & CORIO_CFG_NO_DEFER_TASKRUN) && (f & IORING_SETUP_DEFER_TASKRUN))
			continue;
		if ((cfg->flags & CORIO_CFG_NO_COOP_TASKRUN) && (f & IORING_SETUP_COOP_TASKRUN))
			continue;
		memset(&p, 0, sizeof(p));
		p.flags = f | IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
		p.cq_entries = cq;
		r = io_uring_queue_init_params(sq, &l->ring, &p);
		if (r == -EINVAL) {
			/* Older kernels lack SUBMIT_ALL; try without it. */
			memset(&p, 0, sizeof(p));
			p.flags = f | IORING_SETUP_CQSIZE;
			p.cq_entries = cq;
			r = io_uring_queue_init_params(sq, &l->ring, &p);
		}
		if (r == 0) {
			l->ring_flags = p.flags;
			break;
		}
		if (r != -EINVAL)
			break; /* not a flag problem: no fallback will help */
	}
	if (r < 0) {
		if (!(cfg->flags & CORIO_CFG_QUIET))
			fprintf(stderr, "corio: cannot set up io_uring: %s: %s\n", strerror(-r),
				setup_hint(r));
		return r;
	}
	/* A registered ring fd saves an fdget per io_uring_enter. */
	if (!(cfg->flags & CORIO_CFG_NO_REGISTER_FD))
		(void)io_uring_register_ring_fd(&l->ring);
	/* A forked child must never touch this ring (it shares the mappings).
	 * Not under memcheck, which mistakes the child's address space then
	 * (see pool.c). */
	if (!corio__under_memcheck())
		(void)io_uring_ring_dontfork(&l->ring);
	return 0;
}

/* ------------------------------------------------------------------------
 * Submission and completion
 * ------------------------------------------------------------------------ */

struct io_uring_sqe *corio__sqe(corio__loop *l)
{
	struct io_uring_sqe *sqe = CORIO__FAULT(CORIO__F_SQ_FULL) ? NULL : io_uring_get_sqe(&l->ring);

	while (CORIO__UNLIKELY(!sqe)) {
		/* SQ full: hand the batch to the kernel now. */
		int r = io_uring_submit(&l->ring);
		l->st.syscalls++;
		if (r > 0)
			l->st.submits += (unsigned)r;
		else if (r < 0 && r != -EBUSY && r != -EAGAIN && r != -EINTR)
			return NULL;
		sqe = io_uring_get_sqe(&l->ring);
		if (!sqe && r <= 0)
			return NULL;
	}
	return sqe;
}

static void handle_cqe(corio__loop *l, const struct io_uring_cqe *cqe)
{
	corio__wait *w;
	int res = cqe->res;

	CORIO__PROBE2(complete, cqe->user_data, res);
	if (cqe->user_data == CORIO__UD_MAILBOX) {
		corio__mailbox_ready(l);
		return;
	}
	switch (cqe->user_data & 7) {
	case CORIO__UD_XJOB:
		corio__xjob_arrived(l, (corio__xjob *)(uintptr_t)(cqe->user_data & ~(uint64_t)7));
		return;
	case CORIO__UD_XMSG:
		corio__xmsg_taken(l);
		corio__xmsg_arrived(l, (corio__xjob *)(uintptr_t)(cqe->user_data & ~(uint64_t)7));
		return;
	case CORIO__UD_XSENT:
		corio__mailbox_sent(l, (corio__xjob *)(uintptr_t)(cqe->user_data & ~(uint64_t)7), res);
		return;
	}
	l->inflight--;
	if (cqe->user_data == CORIO__UD_IGNORE || cqe->user_data == 0)
		return;
	w = (corio__wait *)(uintptr_t)cqe->user_data;
	if (w->fd >= 0 && (size_t)w->fd < l->nfd_pending)
		l->fd_pending[w->fd]--;
	/* An op we interrupted reports why, unless it finished anyway: then
	 * its real result (bytes moved, an fd) must not be lost. */
	if (w->interrupted && res == -ECANCELED)
		res = w->interrupt_res;
	corio__wake(l, w, res);
}

static unsigned reap(corio__loop *l)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	io_uring_for_each_cqe(&l->ring, head, cqe) {
		handle_cqe(l, cqe);
		n++;
	}
	if (n) {
		io_uring_cq_advance(&l->ring, n);
		l->st.completions += n;
	}
	return n;
}

/* Cancels and timers both come here; a cancel checks the shield first. */
void corio__interrupt(corio__loop *l, corio__wait *w, int res)
{
	if (w->woken)
		return;
	if (w->kind == CORIO__W_THREAD) {
		/* The work cannot be stopped and may use the task's stack: note
		 * why the call will fail, and wait for the work to end. */
		if (!w->interrupted) {
			corio__heap_remove(&l->timers, &w->timer);
			w->interrupted = 1;
			w->interrupt_res = res;
			/* Not started yet: it never will be, no need to wait. */
			if (w->ctx && corio__pool_withdraw(l, w->ctx)) {
				corio__xjob_withdrawn(l, w->ctx);
				corio__wake(l, w, 0);
			}
		}
		return;
	}
	if (w->kind == CORIO__W_XCALL) {
		/* The task on the other loop may use the caller's memory: ask
		 * that loop to cancel it, and wait for its end. */
		if (!w->interrupted) {
			corio__heap_remove(&l->timers, &w->timer);
			w->interrupted = 1;
			w->interrupt_res = res;
			corio__xcall_interrupt(l, w);
		}
		return;
	}
	if (w->kind == CORIO__W_OP) {
		struct io_uring_sqe *sqe;

		if (w->interrupted)
			return;
		corio__heap_remove(&l->timers, &w->timer);
		w->interrupted = 1;
		w->interrupt_res = res;
		sqe = corio__sqe(l);
		if (sqe) {
			io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)w, 0);
			io_uring_sqe_set_data64(sqe, CORIO__UD_IGNORE);
			l->inflight++;
		}
		/* No SQE at all means the ring is broken; the op's own CQE
		 * still ends the wait. */
		return;
	}
	if (w->unlink)
		w->unlink(w);
	corio__wake(l, w, res);
}

/*
 * Under valgrind memcheck (3.19), a thread blocked in io_uring_enter keeps
 * valgrind's one big lock: no other thread of the program runs, so a pool
 * worker that would end the wait never gets to. There the wait is cut into
 * 10 ms slices, each followed by sched_yield(), which valgrind turns into a
 * switch to another thread. Natively, and under callgrind (whose counts
 * must not depend on timing), the wait is whole.
 */
#define MEMCHECK_SLICE_NS 10000000

static void submit(corio__loop *l, bool wait, uint64_t deadline)
{
	struct io_uring_cqe *cqe;
	unsigned pending = io_uring_sq_ready(&l->ring);
	int r;

	if (!wait) {
		if (!pending && !l->inflight)
			return;
		/* With DEFER_TASKRUN, completions are only posted when we ask
		 * for events; without it, io_uring_submit is enough. */
		if (l->ring_flags & IORING_SETUP_DEFER_TASKRUN)
			r = io_uring_submit_and_get_events(&l->ring);
		else if (pending)
			r = io_uring_submit(&l->ring);
		else
			return;
	} else {
		struct __kernel_timespec ts, *tsp = NULL;
		if (deadline != UINT64_MAX) {
			uint64_t now = corio__clock_ns();
			uint64_t d = deadline > now ? deadline - now : 0;
			ts.tv_sec = (long long)(d / 1000000000u);
			ts.tv_nsec = (long long)(d % 1000000000u);
			tsp = &ts;
		}
		CORIO__PROBE1(wait, tsp ? (int64_t)(deadline) : -1);
		if (CORIO__UNLIKELY(l->memcheck) &&
		    (!tsp || ts.tv_sec > 0 || ts.tv_nsec > MEMCHECK_SLICE_NS)) {
			ts.tv_sec = 0;
			ts.tv_nsec = MEMCHECK_SLICE_NS;
			tsp = &ts;
		}
		r = io_uring_submit_and_wait_timeout(&l->ring, &cqe, 1, tsp, NULL);
		if (CORIO__UNLIKELY(l->memcheck))
			sched_yield();
	}
	l->st.syscalls++;
	if (r >= 0 || r == -ETIME || r == -EINTR || r == -EBUSY || r == -EAGAIN) {
		/* -EBUSY/-EAGAIN: CQ backlog or no memory; reaping below makes room. */
		unsigned left = io_uring_sq_ready(&l->ring);
		if (pending > left) {
			l->st.submits += pending - left;
			CORIO__PROBE1(submit, pending - left);
		}
		return;
	}
	fprintf(stderr, "corio: io_uring_enter failed: %s\n", strerror(-r));
}

/* ------------------------------------------------------------------------
 * Timers
 * ------------------------------------------------------------------------ */

static void fire_timers(corio__loop *l)
{
	corio__timer *tm;
	uint64_t now;

	if (l->timers.n == 0)
		return;
	now = corio__clock_ns();
	while ((tm = corio__heap_pop_due(&l->timers, now)) != NULL) {
		corio__wait *w = (corio__wait *)((char *)tm - offsetof(corio__wait, timer));
		l->st.timers_fired++;
		if (w->kind == CORIO__W_PLAIN) {
			if (w->unlink)
				w->unlink(w);
			corio__wake(l, w, w->timer_res);
		} else {
			corio__interrupt(l, w, w->timer_res);
		}
	}
}

/* ------------------------------------------------------------------------
 * The turn
 * ------------------------------------------------------------------------ */

static void cancel_all(corio__loop *l)
{
	for (corio_task *t = l->alive; t; t = t->next_alive)
		if (!t->cancelled)
			corio__cancel_task(l, t);
}

/*
 * Every task waits, no timer is armed, no op is in flight and nothing
 * outside the loop can wake a task: nothing will ever happen again. The
 * first time, report and cancel everything (blocked calls return
 * -ECANCELED, so tasks can unwind). If even that changes nothing, the
 * tasks wait in shielded waits for each other: give up with -EDEADLK.
 */
static bool deadlock(corio__loop *l)
{
	fprintf(stderr, "corio: deadlock: %zu task(s) blocked with nothing left to wake them\n",
		l->nalive);
	(void)corio__dump(l, 2);
	if (l->deadlocked && l->st.switches == l->deadlock_switches)
		return true;
	l->deadlocked = true;
	l->deadlock_switches = l->st.switches;
	fprintf(stderr, "corio: cancelling them\n");
	l->closing = true;
	cancel_all(l);
	return false;
}

/* About once a second, let the stack pool give back what a burst left. */
static void maybe_trim(corio__loop *l)
{
	uint64_t now = corio__clock_ns();

	if (now >= l->trim_at) {
		corio__stack_pool_trim(&l->stacks);
		l->trim_at = now + 1000000000u;
	}
}

static int loop_run(corio__loop *l)
{
	for (;;) {
		corio_task *t;

		l->st.turns++;
		l->budget = l->batch;
		t = corio__pick_next(l);
		if (t)
			corio__switch(l, NULL, t);
		if (l->dying_stack)
			corio__reap_dying(l);
		if (!l->closing && l->main->state == CORIO__T_DONE) {
			l->closing = true;
			corio__mailbox_refuse_new(l);
			if (l->debug && l->nalive) {
				fprintf(stderr, "corio: debug: main returned with %zu task(s) alive; "
					"cancelling them:\n", l->nalive);
				(void)corio__dump(l, 2);
			}
			cancel_all(l);
		}
		/* Done when no task is alive and no message can still come
		 * (one on its way starts a task). */
		if (l->nalive == 0 && corio__mailbox_quiet(l))
			return 0;
		/* Jobs tasks queued for the thread pool, handed over at once. */
		if (l->pend_head)
			corio__pool_flush(l);
		if (l->ready_head) {
			if ((l->st.turns & 255) == 0)
				maybe_trim(l);
			submit(l, false, 0);
		} else {
			maybe_trim(l);
			uint64_t next = corio__heap_next(&l->timers);
			/* (Every SQE counts in inflight but the mailbox's poll,
			 * which alone wakes nothing, and MSG_RINGs: xsent.) */
			if (next == UINT64_MAX && !l->inflight && !l->external &&
			    !corio__mailbox_expecting(l) && !corio__lgroup_others(l)) {
				if (deadlock(l))
					return -EDEADLK;
				continue;
			}
			submit(l, true, next);
		}
		reap(l);
		fire_timers(l);
	}
}

/* ------------------------------------------------------------------------
 * Setup and teardown
 * ------------------------------------------------------------------------ */

static bool env_debug(void)
{
	const char *e = getenv("CORIO_DEBUG");
	return e && *e && strcmp(e, "0") != 0;
}

static unsigned env_slow_ms(void)
{
	const char *e = getenv("CORIO_SLOW_TASK_MS");
	long v = e && *e ? strtol(e, NULL, 10) : 0;

	return v > 0 && v < 86400000 ? (unsigned)v : 100;
}

static int loop_init(corio__loop *l, const corio_config *cfg)
{
	size_t stack = cfg->stack_size ? cfg->stack_size : DEFAULT_STACK;
	int r;

	unsigned sq = cfg->sq_entries ? cfg->sq_entries : DEFAULT_SQ;

	if (stack > MAX_STACK || sq > 32768 || cfg->cq_entries > 65536 * 2 ||
	    (cfg->cq_entries && cfg->cq_entries < sq) || (cfg->flags & ~CORIO__CFG_ALL))
		return -EINVAL;
	l->batch = cfg->batch ? cfg->batch : DEFAULT_BATCH;
	l->debug = (cfg->flags & CORIO_CFG_DEBUG) || env_debug();
	l->memcheck = corio__under_memcheck();
	l->slow_ns = (uint64_t)(cfg->slow_task_ms ? cfg->slow_task_ms : env_slow_ms()) * 1000000u;
	l->index = 0;
	/* CORIO_LOOPS_WAKE=eventfd: messages between loops go by list and
	 * eventfd, as on kernels without MSG_RING (tests and benchmarks). */
	{
		const char *e = getenv("CORIO_LOOPS_WAKE");
		l->no_msg_ring = e && strcmp(e, "eventfd") == 0;
	}
	r = corio__stack_pool_init(&l->stacks, stack);
	if (r < 0)
		return r;
	r = ring_setup(l, cfg);
	if (r < 0)
		return r;
	r = corio__overflow_handler_install();
	if (r == 0)
		r = corio__debug_loop_init(l);
	if (r < 0) {
		io_uring_queue_exit(&l->ring);
		return r;
	}
#if defined(__SANITIZE_ADDRESS__)
	{
		pthread_attr_t a;
		void *addr;
		size_t size;
		if (pthread_getattr_np(pthread_self(), &a) == 0) {
			if (pthread_attr_getstack(&a, &addr, &size) == 0) {
				l->asan_main_bottom = addr;
				l->asan_main_size = size;
			}
			pthread_attr_destroy(&a);
		}
	}
#endif
#if defined(__SANITIZE_THREAD__)
	l->tsan_main_fiber = __tsan_get_current_fiber();
#endif
	return 0;
}

static void loop_fini(corio__loop *l, bool forced)
{
	size_t unjoined = 0;

	if (forced) {
		/* Deadlocked tasks never run again and nothing is in flight, so
		 * their stacks can go. */
		for (corio_task *t = l->alive; t; t = t->next_alive) {
			if (t->stack)
				corio__stack_put(&l->stacks, t->stack);
			t->stack = NULL;
		}
	}
	if (l->dying_stack) {
		corio__stack_put(&l->stacks, l->dying_stack);
		l->dying_stack = NULL;
	}
	corio__objs_close(l);
	corio__task_chunks_free(l, &unjoined);
	if (l->debug && unjoined)
		fprintf(stderr, "corio: debug: %zu task handle(s) never joined or detached\n",
			unjoined);
	corio__scope_chunks_free(l);
	corio__pool_drop_pending(l);
	if (l->mbox) {
		/* Jobs abandoned by tasks that ended may have arrived by
		 * MSG_RING after the last turn: reap them, then close. Messages
		 * from other loops cannot: quiet, nothing was on its way. */
		corio__mailbox_shut(l);
		(void)io_uring_get_events(&l->ring);
		reap(l);
	}
	corio__mailbox_close(l);
	free(l->fd_pending);
	free(l->fixed_free);
	corio__debug_loop_fini(l);
	corio__stack_pool_fini(&l->stacks);
	corio__heap_free(&l->timers);
	io_uring_queue_exit(&l->ring);
	corio__overflow_handler_thread_fini();
}

/* corio_run_config for loop number `index` of corio_run_loops (group g). */
static int run_indexed(const corio_config *cfg, int (*main)(void *), void *arg, int index,
		       corio__lgroup *g)
{
	static const corio_config defaults;
	corio__loop *l;
	corio_spawn_attr attr = { 0, "main" };
	int r;

	if (corio__tls_loop)
		return -EBUSY;
	if (!main)
		return -EINVAL;
	if (!cfg)
		cfg = &defaults;
	l = corio__calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	r = loop_init(l, cfg);
	if (r < 0) {
		free(l);
		return r;
	}
	l->index = index;
	l->group = g;
	corio__tls_loop = l;
	/* A loop of a group takes messages from the start: some may wait
	 * in its mailbox already. */
	r = g ? corio__mailbox_open(l, g->mb[index]) : 0;
	if (r == 0) {
		l->main = corio__spawn(l, main, arg, &attr);
		if (!l->main)
			r = -errno;
	}
	if (r < 0) {
		loop_fini(l, false);
		corio__tls_loop = NULL;
		free(l);
		return r;
	}
	r = loop_run(l);
	if (r == 0)
		r = l->main->result;
	loop_fini(l, r == -EDEADLK && l->nalive > 0);
	corio__tls_loop = NULL;
	free(l);
	return r;
}

CORIO__API int corio_run_config(const corio_config *cfg, int (*main)(void *), void *arg)
{
	return run_indexed(cfg, main, arg, 0, NULL);
}

/* ------------------------------------------------------------------------
 * Several loops, one thread each
 * ------------------------------------------------------------------------ */

struct loops_run {
	int (*main)(void *);
	void *arg;
	int   first_err; /* the first error in time, 0 while none */
	corio__lgroup *g;
};

struct loop_thread {
	struct loops_run *run;
	int               index;
	pthread_t         th;
	bool              started;
};

static void loops_result(struct loops_run *lr, int r)
{
	int none = 0;

	if (r != 0)
		__atomic_compare_exchange_n(&lr->first_err, &none, r, false, __ATOMIC_ACQ_REL,
					    __ATOMIC_ACQUIRE);
}

/* Loop `index` of the group, on this thread, to its end. */
static void run_member(struct loops_run *lr, int index)
{
	int r = run_indexed(NULL, lr->main, lr->arg, index, lr->g);

	/* Closed already if the loop ran; if it never could, what waits for
	 * it is refused, and so is all that comes. */
	corio__mailbox_abandon(lr->g->mb[index]);
	corio__lgroup_left(lr->g, index);
	loops_result(lr, r);
}

static void *loop_thread_main(void *p)
{
	struct loop_thread *t = p;

	run_member(t->run, t->index);
	return NULL;
}

CORIO__API int corio_run_loops(int nloops, int (*main)(void *), void *arg)
{
	struct loops_run lr = { main, arg, 0, NULL };
	struct loop_thread *ts;
	long cores;
	int n;

	if (!main || nloops < 0 || nloops > 1024)
		return -EINVAL;
	if (corio__tls_loop)
		return -EBUSY;
	cores = sysconf(_SC_NPROCESSORS_ONLN);
	n = nloops ? nloops : (cores > 0 ? (int)cores : 1);
	ts = corio__calloc((size_t)n, sizeof(*ts));
	lr.g = ts ? corio__lgroup_new(n) : NULL;
	if (!lr.g) {
		free(ts);
		return -ENOMEM;
	}
	/* Loops 1..n-1 on threads of their own; loop 0 on this one. */
	for (int i = 1; i < n; i++) {
		ts[i].run = &lr;
		ts[i].index = i;
		if (CORIO__FAULT(CORIO__F_THREAD) ||
		    pthread_create(&ts[i].th, NULL, loop_thread_main, &ts[i]) != 0) {
			loops_result(&lr, -EAGAIN);
			/* The loops that will never run refuse their messages. */
			for (int k = i; k < n; k++) {
				corio__mailbox_abandon(lr.g->mb[k]);
				corio__lgroup_left(lr.g, k);
			}
			break;
		}
		ts[i].started = true;
	}
	run_member(&lr, 0);
	for (int i = 1; i < n; i++)
		if (ts[i].started)
			pthread_join(ts[i].th, NULL);
	corio__lgroup_free(lr.g);
	free(ts);
	return lr.first_err;
}

CORIO__API int corio_run(int (*main)(void *), void *arg)
{
	return corio_run_config(NULL, main, arg);
}

CORIO__API int corio_loop_index(void)
{
	corio__loop *l = corio__tls_loop;
	return l ? l->index : -1;
}

CORIO__API int corio_loop_stats(corio_stats *st)
{
	corio__loop *l = corio__tls_loop;

	if (!st)
		return -EINVAL;
	if (!l)
		return -EPERM;
	if (l->dying_stack && l->current)
		corio__reap_dying(l); /* count it as pooled, as it is about to be */
	*st = l->st;
	st->tasks_alive = l->nalive;
	st->stacks_mapped = l->stacks.nmapped;
	st->ring_flags = l->ring_flags;
	st->guard_kind = (unsigned)corio__stack_guard_kind();
	return 0;
}
