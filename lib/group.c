/*
 * group.c - task groups (asyncio.TaskGroup).
 *
 * A group keeps one entry per task it spawned, in spawn order, plus the
 * order in which they ended; together they are the ExceptionGroup that
 * corio_group_results and corio_group_errors read. The tasks stay owned by
 * the group (their structs, results and names readable) until
 * corio_group_free, which cancels and detaches those still running; when
 * the loop closes first, only the results remain.
 *
 * Fail fast happens in corio__group_child_done, on the failing task's own
 * last steps: at the first failure (-ECANCELED is not one) every sibling
 * is cancelled before anything else runs, and later spawns fail
 * (ECANCELED). A waiter that is cancelled or times out cancels the group
 * and waits, in a drain wait, until all its tasks have ended.
 */
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

struct group_ent {
	corio_task *task;   /* NULL once the loop closed */
	int         result;
};

struct corio_group {
	corio__obj        obj;     /* first */
	corio__loop      *loop;    /* the loop of its tasks */
	struct group_ent *v;       /* spawn order */
	size_t           *order;   /* indices into v, in the order tasks ended */
	size_t            n, nend, cap;
	size_t            alive;
	int               first_err;
	bool              failing;
	corio__wait      *waiter;
};

static bool group_ok(const corio_group *g)
{
	return g && g->obj.magic == CORIO__OBJ_MAGIC && g->obj.kind == CORIO__OBJ_GROUP;
}

/* 0 if the calling thread's loop may touch g's tasks. */
static int group_loop_check(const corio_group *g, const corio__loop *l)
{
	if (!group_ok(g))
		return -EINVAL;
	if (!l)
		return -EPERM;
	if (g->loop && g->loop != l && g->n)
		return -EXDEV;
	return 0;
}

CORIO__API corio_group *corio_group_new(void)
{
	corio_group *g = corio__calloc(1, sizeof(*g));

	if (!g) {
		errno = ENOMEM;
		return NULL;
	}
	corio__obj_init(&g->obj, CORIO__OBJ_GROUP);
	return g;
}

static int grow(corio_group *g)
{
	size_t cap = g->cap ? g->cap * 2 : 8;
	struct group_ent *v;
	size_t *o;

	v = corio__realloc(g->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	g->v = v;
	o = corio__realloc(g->order, cap * sizeof(*o));
	if (!o)
		return -ENOMEM;
	g->order = o;
	g->cap = cap;
	return 0;
}

CORIO__API corio_task *corio_group_spawn_ex(corio_group *g, int (*fn)(void *), void *arg,
					   const corio_spawn_attr *attr)
{
	corio__loop *l = corio__tls_loop;
	corio_task *t;
	int r = group_loop_check(g, l);

	if (r == 0 && !fn)
		r = -EINVAL;
	if (r == 0 && g->failing)
		r = -ECANCELED;
	if (r == 0 && g->n == g->cap)
		r = grow(g);
	if (r < 0) {
		errno = -r;
		return NULL;
	}
	t = corio__spawn(l, fn, arg, attr);
	if (!t)
		return NULL;
	/* Listed on the loop, so that its close lets go of these tasks. */
	corio__obj_bind(&g->obj, l);
	t->group = g;
	t->slot = g->n;
	t->observed = 1; /* the group reports its results */
	g->v[g->n].task = t;
	g->v[g->n].result = -EINPROGRESS;
	g->n++;
	g->alive++;
	g->loop = l;
	return t;
}

CORIO__API corio_task *corio_group_spawn(corio_group *g, int (*fn)(void *), void *arg)
{
	return corio_group_spawn_ex(g, fn, arg, NULL);
}

static void cancel_members(corio__loop *l, corio_group *g, const corio_task *except)
{
	for (size_t i = 0; i < g->n; i++) {
		corio_task *u = g->v[i].task;
		if (!u || u == except || u->state == CORIO__T_DONE || u->cancelled)
			continue;
		corio__cancel_task(l, u);
	}
}

void corio__group_child_done(corio__loop *l, corio_task *t)
{
	corio_group *g = t->group;
	int r = t->result;

	g->v[t->slot].result = r;
	g->order[g->nend++] = t->slot;
	g->alive--;
	if (r < 0 && r != -ECANCELED && !g->first_err) {
		/* Fail fast: the siblings are cancelled before anything runs. */
		g->first_err = r;
		g->failing = true;
		cancel_members(l, g, t);
	}
	if (g->alive == 0 && g->waiter) {
		corio__wait *w = g->waiter;
		g->waiter = NULL;
		corio__wake(l, w, 0);
	}
}

static void group_unlink(corio__wait *w)
{
	((corio_group *)w->ctx)->waiter = NULL;
}

CORIO__API int corio_group_wait(corio_group *g)
{
	corio__loop *l = corio__tls_loop;
	corio_task *self = l ? l->current : NULL;
	int r = group_loop_check(g, l);

	if (r == 0 && !self)
		r = -EPERM;
	if (r == 0 && self->group == g)
		r = -EDEADLK; /* it would wait for itself */
	if (r == 0 && g->waiter)
		r = -EBUSY;
	if (r < 0) {
		if (l && l->debug)
			fprintf(stderr, "corio: debug: corio_group_wait(%p): %s\n", (void *)g,
				r == -EINVAL ? "not a group" : r == -EBUSY ? "another task waits on it"
				: r == -EDEADLK ? "the caller is a task of this group" : "wrong loop");
		return r;
	}
	if (g->alive == 0)
		return g->first_err;
	r = corio__may_block(self);
	if (r == 0) {
		corio__wait w = { .kind = CORIO__W_PLAIN, .what = CORIO__WHY_GROUP,
				  .unlink = group_unlink, .ctx = g };
		g->waiter = &w;
		r = corio__block(l, &w, 0);
	}
	if (g->alive) {
		/* The waiter was cancelled or timed out: so is the group. Its
		 * tasks may use the waiter's stack: wait until all have ended. */
		corio__wait w = { .kind = CORIO__W_PLAIN, .drain = 1, .what = CORIO__WHY_DRAIN,
				  .unlink = group_unlink, .ctx = g };
		cancel_members(l, g, NULL);
		g->waiter = &w;
		(void)corio__block(l, &w, 0);
	}
	return g->first_err ? g->first_err : r;
}

CORIO__API int corio_group_cancel(corio_group *g)
{
	corio__loop *l = corio__tls_loop;
	int r = group_loop_check(g, l);

	if (r < 0)
		return r;
	cancel_members(l, g, NULL);
	return 0;
}

CORIO__API size_t corio_group_results(corio_group *g, corio_task_result *out, size_t cap)
{
	if (!group_ok(g))
		return 0;
	for (size_t i = 0; i < g->n && i < cap && out; i++) {
		out[i].task = g->v[i].task;
		out[i].result = g->v[i].result;
	}
	return g->n;
}

CORIO__API size_t corio_group_errors(corio_group *g, corio_task_result *out, size_t cap)
{
	size_t k = 0;

	if (!group_ok(g))
		return 0;
	for (size_t i = 0; i < g->nend; i++) {
		const struct group_ent *e = &g->v[g->order[i]];
		if (e->result >= 0 || e->result == -ECANCELED)
			continue;
		if (out && k < cap) {
			out[k].task = e->task;
			out[k].result = e->result;
		}
		k++;
	}
	return k;
}

/* The loop closes: its task structs go away, results stay. */
void corio__group_loop_closed(corio_group *g)
{
	for (size_t i = 0; i < g->n; i++)
		g->v[i].task = NULL;
	g->loop = NULL;
	g->alive = 0;
}

CORIO__API void corio_group_free(corio_group *g)
{
	corio__loop *l = corio__tls_loop;
	size_t running = 0;

	if (!g)
		return;
	if (!group_ok(g)) {
		errno = EINVAL;
		return;
	}
	if (g->waiter) {
		fprintf(stderr, "corio: corio_group_free(%p): a task waits on it; not freed\n",
			(void *)g);
		errno = EBUSY;
		return;
	}
	if (g->loop && g->loop != l) {
		errno = EXDEV;
		return;
	}
	for (size_t i = 0; i < g->n; i++) {
		corio_task *t = g->v[i].task;
		if (!t)
			continue;
		t->group = NULL;
		if (t->state != CORIO__T_DONE) {
			/* It runs on, detached; a failure of its own is reported. */
			running++;
			t->observed = 0;
			if (!t->cancelled)
				corio__cancel_task(l, t);
		}
		corio__task_release(l, t);
	}
	if (running && l->debug)
		fprintf(stderr, "corio: debug: corio_group_free: %zu task(s) still running, "
			"cancelled and detached\n", running);
	corio__obj_fini(&g->obj);
	free(g->v);
	free(g->order);
	free(g);
}
