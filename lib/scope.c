/*
 * scope.c - deadline and shield scopes (asyncio.timeout, asyncio.shield).
 *
 * A task's scopes form a stack, innermost first (t->scope). Each record
 * stores what is in effect at its level, so corio__block and
 * corio__may_block read one record, never walk:
 *   deadline  the nearest deadline of the scopes from here out to the
 *             nearest shield (a shield hides the deadlines outside it);
 *   shield    whether any shield is in effect here.
 * No timer belongs to a scope: a blocking call arms one timer at the nearer
 * of its own deadline and its scope's, and that timer's result says which
 * one fired (-ETIMEDOUT for a scope).
 *
 * Records come from per-loop chunks and a free list: pushing a scope per
 * request costs no malloc in steady state.
 */
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

#define SCOPE_CHUNK 64

struct scope_chunk {
	struct scope_chunk *next;
	corio__scope        s[SCOPE_CHUNK];
};

static corio__scope *scope_alloc(corio__loop *l)
{
	corio__scope *s = l->scope_free;

	if (CORIO__UNLIKELY(!s)) {
		struct scope_chunk *c = corio__malloc(sizeof(*c));
		if (!c)
			return NULL;
		c->next = l->scope_chunks;
		l->scope_chunks = c;
		for (size_t i = SCOPE_CHUNK; i-- > 0;) {
			c->s[i].outer = l->scope_free;
			l->scope_free = &c->s[i];
		}
		s = l->scope_free;
	}
	l->scope_free = s->outer;
	return s;
}

static void scope_free(corio__loop *l, corio__scope *s)
{
	s->outer = l->scope_free;
	l->scope_free = s;
}

void corio__scope_chunks_free(corio__loop *l)
{
	struct scope_chunk *c = l->scope_chunks, *n;

	for (; c; c = n) {
		n = c->next;
		free(c);
	}
	l->scope_chunks = NULL;
	l->scope_free = NULL;
}

void corio__scopes_drop(corio__loop *l, corio_task *t)
{
	size_t n = 0;

	while (t->scope) {
		corio__scope *s = t->scope;
		t->scope = s->outer;
		scope_free(l, s);
		n++;
	}
	if (l->debug)
		fprintf(stderr, "corio: debug: task '%s' ended with %zu scope(s) still pushed\n",
			corio_task_name(t), n);
}

static int push(uint64_t deadline, bool shield)
{
	corio__loop *l = corio__tls_loop;
	corio_task *t;
	corio__scope *s, *o;

	if (!l || !(t = l->current))
		return -EPERM;
	s = scope_alloc(l);
	if (!s)
		return -ENOMEM;
	o = t->scope;
	s->outer = o;
	s->is_shield = shield;
	s->own = deadline;
	if (shield) {
		s->shield = 1;
		s->deadline = CORIO__NO_DEADLINE;
	} else {
		uint64_t outer = o ? o->deadline : CORIO__NO_DEADLINE;
		s->shield = o ? o->shield : 0;
		s->deadline = deadline < outer ? deadline : outer;
	}
	t->scope = s;
	return 0;
}

/* Pops the innermost scope if it is of the kind asked for; returns it (its
 * record is already back on the free list, still readable) or NULL. */
static int pop(bool shield, corio__scope *out, corio_task **tp)
{
	corio__loop *l = corio__tls_loop;
	corio_task *t;
	corio__scope *s;

	if (!l || !(t = l->current))
		return -EPERM;
	s = t->scope;
	if (!s || s->is_shield != shield) {
		if (l->debug)
			fprintf(stderr, "corio: debug: corio_%s_pop in task '%s': %s\n",
				shield ? "shield" : "deadline", corio_task_name(t),
				!s ? "no scope is pushed"
				   : shield ? "the innermost scope is a deadline"
					    : "the innermost scope is a shield");
		return -EINVAL;
	}
	*out = *s;
	*tp = t;
	t->scope = s->outer;
	scope_free(l, s);
	return 0;
}

CORIO__API int corio_deadline_push_at(uint64_t deadline_ns)
{
	/* UINT64_MAX means "none" inside; anything that far away is the same. */
	if (deadline_ns >= CORIO__NO_DEADLINE)
		deadline_ns = CORIO__NO_DEADLINE - 1;
	return push(deadline_ns, false);
}

CORIO__API int corio_deadline_push(uint64_t ms)
{
	uint64_t now = corio__clock_ns();
	uint64_t ns = ms > UINT64_MAX / 1000000u ? UINT64_MAX : ms * 1000000u;

	return corio_deadline_push_at(ns > UINT64_MAX - now ? UINT64_MAX : now + ns);
}

CORIO__API int corio_deadline_pop(void)
{
	corio__scope s;
	corio_task *t;
	int r = pop(false, &s, &t);

	if (r < 0)
		return r;
	return corio__clock_ns() >= s.own ? -ETIMEDOUT : 0;
}

CORIO__API int corio_shield_push(void)
{
	return push(CORIO__NO_DEADLINE, true);
}

CORIO__API int corio_shield_pop(void)
{
	corio__scope s;
	corio_task *t;
	int r = pop(true, &s, &t);

	if (r < 0)
		return r;
	return t->cancelled && !(t->scope && t->scope->shield) ? -ECANCELED : 0;
}
