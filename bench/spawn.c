/*
 * spawn.c - the "spawn" family: starting and finishing an empty task.
 *
 * corio: corio_spawn of a task that returns at once, then corio_join, in a
 * loop. Baseline: pthread_create + pthread_join of an empty thread, what a
 * C programmer without coroutines would reach for.
 *
 * The design promises that a spawn in steady state does not call malloc
 * (tasks and stacks come from per-loop free lists). jemalloc keeps an exact
 * per-thread count of bytes allocated; since a loop runs on one thread,
 * reading it around the timed loop catches any allocation it made, however
 * small: zero bytes means zero malloc calls.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <jemalloc/jemalloc.h>

#include "bench.h"
#include "corio.h"

/* Spawns before timing: the free lists and the stack pool fill up here. */
#define WARMUP 1024

enum { C_CORIO, C_PTHREAD, C_COUNT };

struct spawn_out {
	struct bench_value v[C_COUNT];
	double             corio_bytes_per_op;  /* < 0: jemalloc counters unavailable */
	double             corio_bytes_total;
	double             corio_stacks_delta;  /* stacks mapped during timed loops */
	double             base_bytes_per_op;
};

/* Cumulative bytes this thread has allocated, or NULL without jemalloc. */
static const uint64_t *thread_allocated(void)
{
	uint64_t *p = NULL;
	size_t len = sizeof(p);

	if (mallctl("thread.allocatedp", &p, &len, NULL, 0) != 0)
		return NULL;
	return p;
}

struct alloc_count {
	const uint64_t *counter;
	uint64_t        bytes, ops;
};

/* ------------------------------------------------------------------------
 * corio_spawn + corio_join
 * ------------------------------------------------------------------------ */

struct corio_spawn_run {
	uint64_t           iters, ns;
	int64_t            stacks_delta;
	struct alloc_count alloc;
};

static int empty_task(void *arg)
{
	(void)arg;
	return 0;
}

static int spawn_join(void)
{
	corio_task *t = corio_spawn(empty_task, NULL);

	if (!t)
		return -errno;
	return corio_join(t);
}

static int spawn_main(void *arg)
{
	struct corio_spawn_run *s = arg;
	corio_stats st0, st1;
	uint64_t t0, t1, a0 = 0, a1 = 0;
	int r = 0;

	for (int i = 0; i < WARMUP && r == 0; i++)
		r = spawn_join();
	if (r < 0)
		return r;
	corio_loop_stats(&st0);
	if (s->alloc.counter)
		a0 = *s->alloc.counter;
	t0 = bench_now_ns();
	for (uint64_t i = 0; i < s->iters && r == 0; i++)
		r = spawn_join();
	t1 = bench_now_ns();
	if (s->alloc.counter)
		a1 = *s->alloc.counter;
	corio_loop_stats(&st1);
	s->ns = t1 - t0;
	s->alloc.bytes += a1 - a0;
	s->alloc.ops += s->iters;
	s->stacks_delta += (int64_t)st1.stacks_mapped - (int64_t)st0.stacks_mapped;
	return r;
}

static int corio_spawn_run(void *ctx, uint64_t iters, uint64_t *ns)
{
	struct corio_spawn_run *s = ctx;
	int r;

	s->iters = iters;
	r = corio_run(spawn_main, s);
	*ns = s->ns;
	return r < 0 ? r : 0;
}

/* ------------------------------------------------------------------------
 * pthread_create + pthread_join
 * ------------------------------------------------------------------------ */

static void *empty_thread(void *arg)
{
	return arg;
}

static int pthread_run(void *ctx, uint64_t iters, uint64_t *ns)
{
	struct alloc_count *a = ctx;
	uint64_t t0, a0 = a->counter ? *a->counter : 0;

	t0 = bench_now_ns();
	for (uint64_t i = 0; i < iters; i++) {
		pthread_t th;
		int r = pthread_create(&th, NULL, empty_thread, NULL);
		if (r != 0)
			return -r;
		pthread_join(th, NULL);
	}
	*ns = bench_now_ns() - t0;
	if (a->counter) {
		a->bytes += *a->counter - a0;
		a->ops += iters;
	}
	return 0;
}

/* ------------------------------------------------------------------------
 * The family
 * ------------------------------------------------------------------------ */

static int spawn_child(void *arg, void *out)
{
	const struct bench_opts *o = arg;
	struct spawn_out *so = out;
	struct corio_spawn_run cs = { 0 };
	struct alloc_count pa = { 0 };
	struct bench_contender c[C_COUNT] = {
		[C_CORIO]   = { "corio_spawn+corio_join", corio_spawn_run, &cs, 1, { 0 } },
		[C_PTHREAD] = { "pthread_create+pthread_join", pthread_run, &pa, 1, { 0 } },
	};

	memset(so, 0, sizeof(*so));
	cs.alloc.counter = pa.counter = thread_allocated();
	bench_interleave(c, C_COUNT, o->seconds, o->reps);
	for (int i = 0; i < C_COUNT; i++)
		so->v[i] = c[i].out;
	so->corio_bytes_per_op = cs.alloc.counter && cs.alloc.ops
		? (double)cs.alloc.bytes / (double)cs.alloc.ops : -1;
	so->corio_bytes_total = (double)cs.alloc.bytes;
	so->corio_stacks_delta = (double)cs.stacks_delta;
	so->base_bytes_per_op = pa.counter && pa.ops ? (double)pa.bytes / (double)pa.ops : -1;
	return 0;
}

int bench_spawn(const struct bench_opts *o)
{
	struct spawn_out so;
	struct bench_proc p;
	struct bench_row r;

	fprintf(stderr, "spawn: corio_spawn+join, pthread_create+join ...\n");
	bench_row_init(&r, "spawn", "spawn.join.pthread", "ns", "pthread_create+join");
	bench_row_target(&r, BENCH_TARGET_ABS_MAX, 150);
	if (bench_fork(spawn_child, (void *)o, &so, sizeof(so), 60 + 10 * o->seconds, &p) < 0) {
		bench_value_fail(&r.corio, p.status, "%s", p.note);
		bench_value_fail(&r.base, p.status, "%s", p.note);
		bench_report_add(&r);
		return 0;
	}
	r.corio = so.v[C_CORIO];
	r.base = so.v[C_PTHREAD];
	/* Steady state is malloc-free when both are zero. */
	if (so.corio_bytes_per_op >= 0) {
		bench_row_extra(&r, "alloc_bytes_per_spawn", so.corio_bytes_per_op);
		bench_row_extra(&r, "alloc_bytes_steady_state", so.corio_bytes_total);
	}
	bench_row_extra(&r, "stacks_mapped_steady_state", so.corio_stacks_delta);
	if (so.base_bytes_per_op >= 0)
		bench_row_extra(&r, "baseline_alloc_bytes_per_op", so.base_bytes_per_op);
	bench_report_add(&r);
	if (so.corio_bytes_per_op > 0)
		fprintf(stderr, "spawn: corio allocated %.0f bytes in steady state (%.3f per spawn)\n",
			so.corio_bytes_total, so.corio_bytes_per_op);
	return 0;
}
