/*
 * task.c - tasks: spawn, end, join, detach, cancel, yield, sleep.
 *
 * Task structs come from per-loop chunks and a free list; stacks from the
 * loop's stack pool. In steady state a spawn + join of a task with the
 * default stack size touches neither malloc nor mmap.
 *
 * A handle is consumed exactly once (join, wait_for, detach, gather; a
 * group's tasks by corio_group_free). The struct outlives the task until
 * then, so a finished task's result stays readable; the stack goes back to
 * the pool as soon as the task has switched away for the last time (the
 * next context puts it back: corio__switch_exit in ctx.c).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"


#define CHUNK_TASKS 256

struct corio__task_chunk {
	corio__task_chunk *next;
	struct corio_task  tasks[CHUNK_TASKS];
};

static corio_task *task_alloc(corio__loop *l)
{
	corio_task *t = l->task_free;

	if (CORIO__UNLIKELY(!t)) {
		corio__task_chunk *c = corio__malloc(sizeof(*c));
		if (!c)
			return NULL;
		c->next = l->chunks;
		l->chunks = c;
		for (size_t i = CHUNK_TASKS; i-- > 0;) {
			c->tasks[i].magic = CORIO__TASK_DEAD;
			c->tasks[i].next_ready = l->task_free;
			l->task_free = &c->tasks[i];
		}
		t = l->task_free;
	}
	l->task_free = t->next_ready;
	return t;
}

/* Debug mode keeps this many freed task structs out of reuse, so that a
 * handle used after it was consumed (joined twice, say) still points at a
 * dead struct and is named as the mistake, not taken for a newer task. */
#define QUARANTINE 4096

static void task_free(corio__loop *l, corio_task *t)
{
	t->magic = CORIO__TASK_DEAD;
	if (CORIO__UNLIKELY(l->debug)) {
		t->next_ready = NULL;
		if (l->quar_tail)
			l->quar_tail->next_ready = t;
		else
			l->quar_head = t;
		l->quar_tail = t;
		if (++l->nquar <= QUARANTINE)
			return;
		t = l->quar_head;
		l->quar_head = t->next_ready;
		l->nquar--;
	}
	t->next_ready = l->task_free;
	l->task_free = t;
}

void corio__task_chunks_free(corio__loop *l, size_t *unjoined)
{
	corio__task_chunk *c = l->chunks, *n;

	for (; c; c = n) {
		n = c->next;
		for (size_t i = 0; i < CHUNK_TASKS; i++) {
			corio_task *t = &c->tasks[i];
			/* A group's tasks are its to release (the group itself
			 * is reported if never freed). */
			if (t->magic == CORIO__TASK_MAGIC && !t->released && t != l->main &&
			    !t->group) {
				(*unjoined)++;
				if (t->state == CORIO__T_DONE && t->result < 0 && !t->observed)
					corio__report_unobserved(l, t);
			}
#if defined(__SANITIZE_THREAD__)
			if (t->magic == CORIO__TASK_MAGIC && t->tsan_fiber)
				__tsan_destroy_fiber(t->tsan_fiber);
#endif
		}
		free(c);
	}
	l->chunks = NULL;
	l->task_free = NULL;
}

int corio__task_check(corio__loop *l, const corio_task *t)
{
	if (!t || t->magic != CORIO__TASK_MAGIC)
		return -EINVAL;
	if (t->loop != l)
		return -EXDEV;
	if (t->released)
		return -EINVAL;
	return 0;
}

void corio__task_free_if_released(corio__loop *l, corio_task *t)
{
	if (t->released && t->state == CORIO__T_DONE && t != l->main)
		task_free(l, t);
}

void corio__task_release(corio__loop *l, corio_task *t)
{
	t->released = 1;
	corio__task_free_if_released(l, t);
}

static __attribute__((noinline)) void suspend_slow(corio__loop *l, corio_task *self,
						   corio_task *next)
{
	if (l->dying_stack)
		corio__reap_dying(l); /* a task that ended before: not our stack */
	if (next == self) {
		/* Yielded with nobody else ready: keep running. It still was a
		 * suspension point, so debug mode times the next slice anew. */
		self->state = CORIO__T_RUNNING;
		if (CORIO__UNLIKELY(l->debug))
			self->run_start = corio__clock_ns();
		return;
	}
	corio__switch(l, self, next);
}

void corio__suspend(corio__loop *l)
{
	corio_task *self = l->current;
	corio_task *next = corio__pick_next(l);

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	suspend_slow(l, self, next);
#else
	/* The hot path (every yield and every wait) makes no call but the
	 * switch itself, as a tail call: no frame of its own to build. Debug
	 * mode and the sanitizers' fiber hooks take corio__switch. What
	 * follows is corio__switch_begin with `from` known to be a task;
	 * calling it instead costs 7 instructions of 70 per yield
	 * (perf-check), so the two must be kept in step by hand. */
	if (CORIO__UNLIKELY(l->debug || next == self || l->dying_stack)) {
		suspend_slow(l, self, next);
		return;
	}
	l->current = next;
	l->st.switches++;
	if (next) {
		next->state = CORIO__T_RUNNING;
		CORIO__PROBE2(switch, self->id, next->id);
		corio__ctx_switch(&self->ctx, &next->ctx);
	} else {
		CORIO__PROBE2(switch, self->id, 0);
		corio__ctx_switch(&self->ctx, &l->sched);
	}
#endif
}

int corio__block(corio__loop *l, corio__wait *w, uint64_t deadline)
{
	corio_task *t = l->current;
	const corio__scope *s = t->scope;

	w->task = t;
	w->woken = 0;
	w->timer.idx = CORIO__TIMER_IDLE;
	if (w->drain) {
		w->shielded = 1;
	} else if (s) {
		/* The nearest of the call's own deadline and its scopes' wins. */
		if (s->shield)
			w->shielded = 1;
		if (s->deadline < (deadline ? deadline : CORIO__NO_DEADLINE)) {
			deadline = s->deadline;
			w->timer_res = -ETIMEDOUT;
		}
	}
	if (deadline) {
		w->timer.deadline = deadline;
		if (corio__heap_push(&l->timers, &w->timer) < 0) {
			if (w->kind != CORIO__W_PLAIN) {
				/* An op, a pool job or a call on another loop is in
				 * flight and points at w: it cannot be abandoned.
				 * Interrupt it and wait for its end. */
				w->timer.idx = CORIO__TIMER_IDLE;
				corio__interrupt(l, w, -ENOMEM);
			} else {
				if (w->unlink)
					w->unlink(w);
				return -ENOMEM;
			}
		}
	}
	t->wait = w;
	t->state = CORIO__T_WAITING;
	corio__suspend(l);
	t->wait = NULL;
	return w->res;
}

void corio__wake(corio__loop *l, corio__wait *w, int res)
{
	if (w->woken)
		return;
	w->woken = 1;
	w->res = res;
	corio__heap_remove(&l->timers, &w->timer);
	corio__ready_push(l, w->task);
}

corio_task *corio__spawn(corio__loop *l, int (*fn)(void *), void *arg, const corio_spawn_attr *attr)
{
	size_t size = attr && attr->stack_size ? attr->stack_size : 0;
	corio_task *t;
	corio__stack *s;

	if (!fn || size > ((size_t)1 << 30)) {
		errno = EINVAL;
		return NULL;
	}
	t = task_alloc(l);
	if (!t) {
		errno = ENOMEM;
		return NULL;
	}
	if (l->dying_stack)
		corio__reap_dying(l); /* that stack is the warmest to reuse */
	s = corio__stack_get(&l->stacks, size);
	if (!s) {
		if (errno != EINVAL)
			errno = ENOMEM;
		task_free(l, t);
		return NULL;
	}
	t->magic = CORIO__TASK_MAGIC;
	t->cancelled = 0;
	t->released = 0;
	t->result = 0;
	t->fn = fn;
	t->arg = arg;
	t->loop = l;
	t->stack = s;
	t->wait = NULL;
	t->joiner = NULL;
	t->gather = NULL;
	t->group = NULL;
	t->scope = NULL;
	t->observed = 0;
	t->stack_peak = 0;
	t->id = ++l->next_id;
	t->name[0] = '\0';
	if (attr && attr->name) {
		strncpy(t->name, attr->name, sizeof(t->name) - 1);
		t->name[sizeof(t->name) - 1] = '\0';
	}
#if defined(__SANITIZE_ADDRESS__)
	t->asan_fake = NULL;
#endif
#if defined(__SANITIZE_THREAD__)
	t->tsan_fiber = __tsan_create_fiber(0);
#endif
	if (CORIO__UNLIKELY(l->debug))
		corio__debug_task_start(l, t);
	corio__ctx_make(&t->ctx, s->lo, s->hi, corio__task_entry, t);
	t->prev_alive = NULL;
	t->next_alive = l->alive;
	if (l->alive)
		l->alive->prev_alive = t;
	l->alive = t;
	l->nalive++;
	l->st.tasks_spawned++;
	/* Tasks born while the loop shuts down start out cancelled. */
	if (l->closing)
		t->cancelled = 1;
	CORIO__PROBE2(spawn, t->id, l->current ? l->current->id : 0);
	corio__ready_push(l, t);
	return t;
}

void corio__task_finish(corio__loop *l, corio_task *t, int r)
{
	t->result = r;
	if (CORIO__UNLIKELY(t->scope != NULL))
		corio__scopes_drop(l, t);
	if (CORIO__UNLIKELY(l->debug))
		corio__debug_task_end(l, t);
	t->state = CORIO__T_DONE;
	CORIO__PROBE2(task_end, t->id, r);
	if (t->prev_alive)
		t->prev_alive->next_alive = t->next_alive;
	else
		l->alive = t->next_alive;
	if (t->next_alive)
		t->next_alive->prev_alive = t->prev_alive;
	l->nalive--;
	if (t->joiner) {
		corio__wait *w = t->joiner;
		t->joiner = NULL;
		corio__wake(l, w, r);
	}
	if (t->gather)
		corio__gather_child_done(l, t);
	else if (t->group)
		corio__group_child_done(l, t);
	else if (CORIO__UNLIKELY(r < 0) && t->released)
		corio__report_unobserved(l, t);
	corio__switch_exit(l, t, corio__pick_next(l));
}

void corio__cancel_task(corio__loop *l, corio_task *t)
{
	t->cancelled = 1;
	if (t->state == CORIO__T_WAITING && t->wait && !t->wait->shielded)
		corio__interrupt(l, t->wait, -ECANCELED);
}

/* ------------------------------------------------------------------------
 * Public calls
 * ------------------------------------------------------------------------ */

CORIO__API corio_task *corio_spawn_ex(int (*fn)(void *), void *arg, const corio_spawn_attr *attr)
{
	corio__loop *l = corio__tls_loop;

	if (!l) {
		errno = EPERM;
		return NULL;
	}
	return corio__spawn(l, fn, arg, attr);
}

CORIO__API corio_task *corio_spawn(int (*fn)(void *), void *arg)
{
	return corio_spawn_ex(fn, arg, NULL);
}

static void join_unlink(corio__wait *w)
{
	((corio_task *)w->ctx)->joiner = NULL;
}

/* The caller was cancelled (or timed out) while t runs on: cancel t too and
 * wait, immune to further cancels, until it has ended. Nothing t might
 * reference on our stack may go away before that. */
static void join_drain(corio__loop *l, corio_task *t)
{
	corio__wait w = { .kind = CORIO__W_PLAIN, .drain = 1, .what = CORIO__WHY_DRAIN, .ctx = t };

	if (t->state == CORIO__T_DONE)
		return;
	if (!t->cancelled)
		corio__cancel_task(l, t);
	t->joiner = &w;
	(void)corio__block(l, &w, 0);
}

/* corio_join and corio_wait_for: waits for t until deadline (0: none), when
 * the wait ends with timer_res. */
static int join_until(corio_task *t, uint64_t deadline, const char *who)
{
	corio__loop *l = corio__tls_loop;
	corio_task *self;
	int r;

	if (!l || !l->current)
		return -EPERM;
	self = l->current;
	r = corio__task_check(l, t);
	if (r == 0 && t->group)
		r = -EBUSY;
	if (r < 0) {
		if (l->debug)
			fprintf(stderr, "corio: debug: %s(%p): %s\n", who, (void *)t,
				r == -EINVAL ? (t ? "not a live task handle (joined twice?)" : "NULL handle")
				: r == -EXDEV ? "task of another loop"
					      : "the task is owned by a group");
		return r;
	}
	if (t == self)
		return -EDEADLK;
	if (t->joiner || t->gather)
		return -EBUSY;
	if (t->state != CORIO__T_DONE) {
		r = corio__may_block(self);
		if (r == 0) {
			corio__wait w = { .kind = CORIO__W_PLAIN, .what = CORIO__WHY_JOIN,
					  .unlink = join_unlink, .ctx = t,
					  .timer_res = -ETIMEDOUT };
			t->joiner = &w;
			r = corio__block(l, &w, deadline);
		}
		if (t->state != CORIO__T_DONE) {
			/* Interrupted before t ended. */
			join_drain(l, t);
			t->observed = 1;
			corio__task_release(l, t);
			return r;
		}
	}
	r = t->result;
	t->observed = 1;
	corio__task_release(l, t);
	return r;
}

CORIO__API int corio_join(corio_task *t)
{
	return join_until(t, 0, "corio_join");
}

CORIO__API int corio_wait_for(corio_task *t, uint64_t ms)
{
	uint64_t now = corio__clock_ns();
	uint64_t ns = ms > UINT64_MAX / 1000000u ? UINT64_MAX : ms * 1000000u;
	uint64_t deadline = ns > UINT64_MAX - 1 - now ? UINT64_MAX - 1 : now + ns;

	return join_until(t, deadline, "corio_wait_for");
}

CORIO__API void corio_detach(corio_task *t)
{
	corio__loop *l = corio__tls_loop;

	if (!l || corio__task_check(l, t) < 0)
		return;
	if (t->joiner || t->gather || t->group)
		return; /* someone waits on it or owns the handle */
	if (t->state == CORIO__T_DONE && t->result < 0)
		corio__report_unobserved(l, t);
	corio__task_release(l, t);
}

CORIO__API int corio_cancel(corio_task *t)
{
	corio__loop *l = corio__tls_loop;
	int r;

	if (!l)
		return -EPERM;
	r = corio__task_check(l, t);
	if (r < 0)
		return r;
	if (t->state == CORIO__T_DONE || t->cancelled)
		return 0;
	corio__cancel_task(l, t);
	return 0;
}

CORIO__API void corio_yield(void)
{
	corio__loop *l = corio__tls_loop;
	corio_task *self;

	if (!l || !(self = l->current))
		return;
	corio__ready_push(l, self);
	corio__suspend(l);
}

CORIO__API int corio_sleep_ns(uint64_t ns)
{
	corio__loop *l = corio__tls_loop;
	corio_task *self;
	corio__wait w;
	uint64_t now, deadline;
	int r;

	if (!l || !(self = l->current))
		return -EPERM;
	r = corio__may_block(self);
	if (r < 0)
		return r;
	if (ns == 0) {
		corio_yield();
		return corio__may_block(self);
	}
	now = corio__clock_ns();
	deadline = ns > UINT64_MAX - now ? UINT64_MAX - 1 : now + ns;
	memset(&w, 0, sizeof(w));
	w.kind = CORIO__W_PLAIN;
	w.what = CORIO__WHY_SLEEP;
	return corio__block(l, &w, deadline);
}

CORIO__API int corio_sleep_ms(uint64_t ms)
{
	return corio_sleep_ns(ms > UINT64_MAX / 1000000u ? UINT64_MAX : ms * 1000000u);
}

CORIO__API corio_task *corio_current(void)
{
	corio__loop *l = corio__tls_loop;
	return l ? l->current : NULL;
}

CORIO__API int corio_task_set_name(corio_task *t, const char *name)
{
	if (!t || !name || t->magic != CORIO__TASK_MAGIC)
		return -EINVAL;
	strncpy(t->name, name, sizeof(t->name) - 1);
	t->name[sizeof(t->name) - 1] = '\0';
	return 0;
}

CORIO__API const char *corio_task_name(const corio_task *t)
{
	corio_task *m = (corio_task *)t;

	if (!t || t->magic != CORIO__TASK_MAGIC)
		return "";
	/* The default name is made on demand: spawn stays cheap. */
	if (!m->name[0])
		snprintf(m->name, sizeof(m->name), "task-%llu", (unsigned long long)t->id);
	return t->name;
}

CORIO__API uint64_t corio_task_id(const corio_task *t)
{
	return t && t->magic == CORIO__TASK_MAGIC ? t->id : 0;
}
