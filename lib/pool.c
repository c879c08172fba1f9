/*
 * pool.c - the thread pool behind corio_to_thread (asyncio.to_thread) and
 * name resolution.
 *
 * One pool per process, shared by every loop, started on first use:
 * CORIO_THREADS workers (or corio_threads_set; default the number of
 * cores, at least 4) take jobs from one bounded FIFO (4096 jobs) under one
 * mutex. A job is a corio__pjob: the mailbox job the loop waits on
 * (mailbox.c) plus the function to run. A loop queues its jobs on a FIFO of
 * its own first and hands them over once per turn, under one lock; what
 * does not fit in the pool's queue waits there, in order.
 *
 * A worker takes a share of the queue at once (up to 32 jobs, never more
 * than its fair share, so blocking jobs still spread over the workers), runs
 * them, and posts the finished ones back to their loops. A job that is the
 * only one its loop has in flight goes by IORING_OP_MSG_RING from a small
 * ring of the worker's own (a CQE lands straight in the loop's ring: the
 * fastest round trip); under load, finished jobs go on the mailbox's list
 * with one eventfd write for the lot (a message per job measured a sixth to
 * a quarter slower there). Where the kernel refuses MSG_RING, everything
 * goes by the list. CORIO_THREADS_WAKE=eventfd forces the list always
 * (corio-bench thread measures both).
 * Once the jobs a worker holds have run longer than HOLD_NS (20 us), they
 * are posted at once, not held for the rest of the batch.
 *
 * An idle worker first watches the queue without the lock for up to
 * CORIO_THREADS_SPIN_US (default 50 us; one worker at a time, yielding the
 * CPU) before it sleeps on the condition variable.
 *
 * corio_to_thread keeps its job on the caller's stack: the task cannot
 * leave before the job is posted back (a cancel only marks the wait, see
 * CORIO__W_THREAD), so nothing is allocated per call. A job cancelled
 * before a worker took it is withdrawn from the queue instead.
 *
 * After fork, the child has no workers (threads do not survive fork): the
 * pool starts afresh there if used.
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

#define QCAP        4096
#define MAX_THREADS 1024
#define BATCH       32
/* A job that ran longer than this is posted at once, not held for a batch. */
#define HOLD_NS     20000

static struct {
	pthread_mutex_t lock;
	pthread_cond_t  cond;
	corio__pjob    *q[QCAP];
	unsigned        head, n;
	int             want;      /* workers to start (corio_threads_set) */
	int             nthreads;  /* started */
	int             settled;   /* done setting up (their rings made) */
	unsigned        idle;      /* waiting on cond */
	unsigned        spinning;  /* watching n without the lock (at most one) */
	uint64_t        spin_ns;   /* how long an idle worker watches first */
	bool            started;
	bool            eventfd_only;
	struct io_uring *rings[MAX_THREADS]; /* the workers' rings, let go in a forked child */
	unsigned        nrings;
} pool = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* pool.n is written under the lock, and read without it by a spinning
 * worker: every write is atomic (relaxed: the lock orders the queue). */
#define N_SET(v) __atomic_store_n(&pool.n, (v), __ATOMIC_RELAXED)

/* Default spin of an idle worker before it sleeps on the condition
 * variable: a job that comes within it is taken without a futex wake on
 * either side (the round trip of corio-bench thread, on a VM: a third
 * less). One worker at most spins, and it yields the CPU as it does. */
#define SPIN_US_DEFAULT 50

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Posts the held jobs, grouped by mailbox (one loop each). */
static void flush(corio__xjob **held, unsigned *n, struct io_uring **ring)
{
	unsigned i = 0;

	while (i < *n) {
		corio__xjob *group[BATCH];
		unsigned k = 0, rest = 0;
		corio__mailbox *mb = held[i]->mbox;

		for (unsigned j = i; j < *n; j++) {
			if (held[j]->mbox == mb)
				group[k++] = held[j];
			else
				held[i + rest++] = held[j];
		}
		/* The only job its loop has in flight: MSG_RING, the fastest
		 * round trip. Otherwise the list and one eventfd write for the
		 * lot, cheaper per job under load (measured: a message per job
		 * cost a sixth to a quarter of the throughput). */
		bool lone = k == 1 && corio__mailbox_jobs(group[0]) <= 1;
		if (!corio__xjob_post_batch(group, k, lone ? *ring : NULL) && *ring) {
			/* No MSG_RING here (or the ring failed): the list only. */
			pthread_mutex_lock(&pool.lock);
			for (unsigned i = 0; i < pool.nrings; i++)
				if (pool.rings[i] == *ring)
					pool.rings[i] = pool.rings[--pool.nrings];
			pthread_mutex_unlock(&pool.lock);
			io_uring_queue_exit(*ring);
			free(*ring);
			*ring = NULL;
		}
		*n = i + rest;
	}
	*n = 0;
}

static void *worker(void *arg)
{
	struct io_uring *ring = NULL;
	corio__pjob *take[BATCH];
	corio__xjob *held[BATCH];
	unsigned nheld = 0;

	(void)arg;
	if (!pool.eventfd_only) {
		ring = corio__malloc(sizeof(*ring));
		if (ring && io_uring_queue_init(BATCH * 2, ring, 0) < 0) {
			free(ring);
			ring = NULL;
		}
		if (ring) {
			/* A forked child must not inherit it: no mappings, and
			 * its fd and struct are let go there (atfork_child).
			 * Not under memcheck: valgrind 3.19 still counts a
			 * DONTFORK mapping as present in the child and asserts
			 * when the child maps something there. */
			if (!corio__under_memcheck())
				(void)io_uring_ring_dontfork(ring);
			pthread_mutex_lock(&pool.lock);
			if (pool.nrings < MAX_THREADS)
				pool.rings[pool.nrings++] = ring;
			pthread_mutex_unlock(&pool.lock);
		}
	}
	pthread_mutex_lock(&pool.lock);
	pool.settled++;
	pthread_mutex_unlock(&pool.lock);
	for (;;) {
		unsigned k, share;
		uint64_t t0;

		pthread_mutex_lock(&pool.lock);
		if (pool.n == 0 && pool.spin_ns && pool.spinning == 0) {
			uint64_t end = mono_ns() + pool.spin_ns;

			pool.spinning = 1;
			pthread_mutex_unlock(&pool.lock);
			while (__atomic_load_n(&pool.n, __ATOMIC_RELAXED) == 0 && mono_ns() < end)
				sched_yield();
			pthread_mutex_lock(&pool.lock);
			pool.spinning = 0;
		}
		while (pool.n == 0) {
			pool.idle++;
			pthread_cond_wait(&pool.cond, &pool.lock);
			pool.idle--;
		}
		/* A fair share: blocking jobs must spread over the workers. */
		share = (pool.n + (unsigned)pool.nthreads - 1) / (unsigned)pool.nthreads;
		k = share < BATCH ? share : BATCH;
		for (unsigned i = 0; i < k; i++) {
			take[i] = pool.q[pool.head];
			pool.head = (pool.head + 1) % QCAP;
			N_SET(pool.n - 1);
		}
		/* More left: another worker may help. */
		if (pool.n && pool.idle)
			pthread_cond_signal(&pool.cond);
		pthread_mutex_unlock(&pool.lock);

		t0 = mono_ns();
		for (unsigned i = 0; i < k; i++) {
			take[i]->run(take[i]);
			held[nheld++] = &take[i]->x;
			if (mono_ns() - t0 > HOLD_NS) {
				flush(held, &nheld, &ring);
				t0 = mono_ns();
			}
		}
		flush(held, &nheld, &ring);
	}
	return NULL;
}

static void atfork_child(void)
{
	/* Only the forking thread lives on: no workers, no jobs, and none of
	 * the workers' rings (their mappings were not inherited; the fds
	 * were, and the structs that name them). */
	for (unsigned i = 0; i < pool.nrings; i++) {
		close(pool.rings[i]->ring_fd);
		free(pool.rings[i]);
	}
	pool.nrings = 0;
	pthread_mutex_init(&pool.lock, NULL);
	pthread_cond_init(&pool.cond, NULL);
	pool.head = 0;
	N_SET(0);
	pool.spinning = 0;
	pool.nthreads = 0;
	pool.settled = 0;
	pool.idle = 0;
	pool.started = false;
}

static void register_atfork(void)
{
	pthread_atfork(NULL, NULL, atfork_child);
}

/* Starts the workers, once; the lock is held. 0 or -EAGAIN. */
static int start_locked(void)
{
	pthread_attr_t a;
	int n = pool.want;

	if (pool.started)
		return 0;
	pthread_once(&atfork_once, register_atfork);
	if (n == 0) {
		const char *e = getenv("CORIO_THREADS");
		long v = e && *e ? strtol(e, NULL, 10) : 0;
		long cores = sysconf(_SC_NPROCESSORS_ONLN);
		n = v > 0 && v <= MAX_THREADS ? (int)v : (cores > 4 ? (int)cores : 4);
	}
	{
		const char *w = getenv("CORIO_THREADS_WAKE");
		const char *sp = getenv("CORIO_THREADS_SPIN_US");
		long us = sp && *sp ? strtol(sp, NULL, 10) : SPIN_US_DEFAULT;

		pool.eventfd_only = w && strcmp(w, "eventfd") == 0;
		pool.spin_ns = us > 0 && us <= 1000000 ? (uint64_t)us * 1000u : 0;
	}
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&a, 1 << 20);
	for (int i = 0; i < n; i++) {
		pthread_t th;
		if (CORIO__FAULT(CORIO__F_THREAD) || pthread_create(&th, &a, worker, NULL) != 0)
			break;
		pool.nthreads++;
	}
	pthread_attr_destroy(&a);
	/* With no worker at all, the next call tries again. */
	pool.started = pool.nthreads > 0;
	return pool.nthreads ? 0 : -EAGAIN;
}

/* 0 once the pool has workers, else -EAGAIN. */
static int ensure_started(void)
{
	int r = 0;

	if (__atomic_load_n(&pool.started, __ATOMIC_ACQUIRE))
		return 0;
	pthread_mutex_lock(&pool.lock);
	r = start_locked();
	pthread_mutex_unlock(&pool.lock);
	return r;
}

/*
 * The loop's side of the queue: a job is first put on the loop's own FIFO
 * (l->pend_*), which costs no lock, and corio__pool_flush hands every
 * pending job to the pool under one lock per loop turn. Jobs beyond the
 * pool's bound stay pending, in order, until there is room: that is the
 * back-pressure, with nothing to poll.
 */
int corio__pool_submit(corio__loop *l, corio__pjob *j)
{
	int r = ensure_started();

	if (r == 0)
		r = corio__xjob_start(l, &j->x);
	if (r < 0)
		return r;
	j->x.next = NULL;
	if (l->pend_tail)
		l->pend_tail->x.next = &j->x;
	else
		l->pend_head = j;
	l->pend_tail = j;
	return 0;
}

void corio__pool_flush(corio__loop *l)
{
	unsigned moved = 0;

	if (!l->pend_head)
		return;
	pthread_mutex_lock(&pool.lock);
	while (l->pend_head && pool.n < QCAP) {
		corio__pjob *j = l->pend_head;
		l->pend_head = (corio__pjob *)j->x.next;
		pool.q[(pool.head + pool.n) % QCAP] = j;
		N_SET(pool.n + 1);
		moved++;
	}
	if (!l->pend_head)
		l->pend_tail = NULL;
	/* A spinning worker takes one job without being woken. */
	moved = moved > pool.spinning ? moved - pool.spinning : 0;
	if (moved > 1 && pool.idle > 1)
		pthread_cond_broadcast(&pool.cond);
	else if (moved && pool.idle)
		pthread_cond_signal(&pool.cond);
	pthread_mutex_unlock(&pool.lock);
}

/* At loop close: jobs never handed to the pool (abandoned by their tasks)
 * are released without running. */
void corio__pool_drop_pending(corio__loop *l)
{
	while (l->pend_head) {
		corio__pjob *j = l->pend_head;
		l->pend_head = (corio__pjob *)j->x.next;
		corio__xjob_withdrawn(l, &j->x);
		if (j->x.release)
			j->x.release(&j->x);
	}
	l->pend_tail = NULL;
}

bool corio__pool_withdraw(corio__loop *l, corio__pjob *j)
{
	bool found = false;

	/* Still pending on the loop: unlink it there. */
	for (corio__pjob **pp = &l->pend_head; *pp; pp = (corio__pjob **)&(*pp)->x.next) {
		if (*pp != j)
			continue;
		*pp = (corio__pjob *)j->x.next;
		if (l->pend_tail == j) {
			corio__pjob *t = l->pend_head;
			while (t && t->x.next)
				t = (corio__pjob *)t->x.next;
			l->pend_tail = t;
		}
		return true;
	}
	pthread_mutex_lock(&pool.lock);
	for (unsigned i = 0; i < pool.n; i++) {
		if (pool.q[(pool.head + i) % QCAP] != j)
			continue;
		for (unsigned m = i; m + 1 < pool.n; m++)
			pool.q[(pool.head + m) % QCAP] = pool.q[(pool.head + m + 1) % QCAP];
		N_SET(pool.n - 1);
		found = true;
		break;
	}
	pthread_mutex_unlock(&pool.lock);
	return found;
}

bool corio__pool_settled(void)
{
	bool r;

	pthread_mutex_lock(&pool.lock);
	r = !pool.started || pool.settled == pool.nthreads; /* no pool: nothing to wait for */
	pthread_mutex_unlock(&pool.lock);
	return r;
}

CORIO__API int corio_threads_set(int n)
{
	int r = 0;

	if (n < 1 || n > MAX_THREADS)
		return -EINVAL;
	pthread_mutex_lock(&pool.lock);
	if (pool.started)
		r = -EBUSY;
	else
		pool.want = n;
	pthread_mutex_unlock(&pool.lock);
	return r;
}

/* ------------------------------------------------------------------------
 * corio_to_thread
 * ------------------------------------------------------------------------ */

struct call {
	corio__pjob p;       /* first */
	int       (*fn)(void *);
	void       *arg;
	int         result;
};

static void call_run(corio__pjob *j)
{
	struct call *c = (struct call *)j;

	c->result = c->fn(c->arg);
}

CORIO__API int corio_to_thread(int (*fn)(void *), void *arg)
{
	corio__loop *l = corio__tls_loop;
	corio_task *self;
	struct call c;
	corio__wait w = { .kind = CORIO__W_THREAD, .what = CORIO__WHY_THREAD };
	int r;

	if (!l || !(self = l->current))
		return -EPERM;
	if (!fn)
		return -EINVAL;
	r = corio__may_block(self);
	if (r < 0)
		return r;
	memset(&c, 0, sizeof(c));
	c.p.run = call_run;
	c.fn = fn;
	c.arg = arg;
	/* Never abandoned: the task waits for the job in every case. */
	c.p.x.release = NULL;
	r = corio__pool_submit(l, &c.p);
	if (r < 0)
		return r;
	w.ctx = &c.p.x;
	c.p.x.w = &w;
	(void)corio__block(l, &w, 0);
	return w.interrupted ? w.interrupt_res : c.result;
}
