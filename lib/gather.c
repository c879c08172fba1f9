/*
 * gather.c - corio_gather, asyncio.gather over spawned tasks.
 *
 * The gatherer waits on one record; every child points back at it
 * (t->gather, t->slot) and reports its end through
 * corio__gather_child_done. Nothing is allocated: the record lives on the
 * gatherer's stack, and the gatherer never returns while a child still
 * points at it (children left running are unlinked and detached first).
 * A gatherer that is cancelled or times out cancels the children still
 * running and waits, in a drain wait, until all have ended. Every handle
 * is consumed on return, none when a handle is refused.
 */
#include <stdio.h>

#include "internal.h"

void corio__gather_child_done(corio__loop *l, corio_task *t)
{
	corio__gather *g = t->gather;

	g->remaining--;
	if (g->results)
		g->results[t->slot] = t->result;
	if (!g->all && t->result < 0 && !g->first_err) {
		g->first_err = t->result;
		corio__wake(l, &g->w, 0);
	} else if (g->remaining == 0) {
		corio__wake(l, &g->w, 0);
	}
}

static void unlink_prefix(corio_task **ts, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ts[i]->gather = NULL;
}

CORIO__API int corio_gather(corio_task **ts, size_t n, int *results, unsigned flags)
{
	corio__loop *l = corio__tls_loop;
	corio_task *self;
	corio__gather g = { 0 };
	int r = 0;

	if (!l || !(self = l->current))
		return -EPERM;
	if (n == 0)
		return 0;
	if (!ts || (flags & ~CORIO_GATHER_ALL))
		return -EINVAL;
	/* Validate every handle before taking any: on error nothing is consumed. */
	for (size_t i = 0; i < n; i++) {
		corio_task *t = ts[i];
		int e = corio__task_check(l, t);
		if (e == 0 && t == self)
			e = -EDEADLK;
		else if (e == 0 && t->gather == &g)
			e = -EINVAL; /* the same handle twice */
		else if (e == 0 && (t->joiner || t->gather || t->group))
			e = -EBUSY; /* someone waits on it, or a group owns it */
		if (e < 0) {
			unlink_prefix(ts, i);
			if (l->debug)
				fprintf(stderr, "corio: debug: corio_gather: handle %zu is bad\n", i);
			return e;
		}
		t->gather = &g;
	}
	g.w.kind = CORIO__W_PLAIN;
	g.w.what = CORIO__WHY_GATHER;
	g.results = results;
	g.all = flags & CORIO_GATHER_ALL;
	for (size_t i = 0; i < n; i++) {
		corio_task *t = ts[i];
		t->slot = i;
		if (t->state == CORIO__T_DONE) {
			if (results)
				results[i] = t->result;
			if (!g.all && t->result < 0 && !g.first_err)
				g.first_err = t->result;
		} else {
			g.remaining++;
			if (results)
				results[i] = -EINPROGRESS;
		}
	}
	if (g.remaining && !g.first_err) {
		r = corio__may_block(self);
		if (r == 0)
			r = corio__block(l, &g.w, 0);
		if (r < 0) {
			/* Cancelled or timed out (even if a child failed after
			 * that, settling g too late to matter): cancel the
			 * children and wait for all of them, before their
			 * records can go away. */
			g.all = true;
			for (size_t i = 0; i < n; i++)
				if (ts[i]->state != CORIO__T_DONE && !ts[i]->cancelled)
					corio__cancel_task(l, ts[i]);
			if (g.remaining) {
				g.w.drain = 1;
				g.w.what = CORIO__WHY_DRAIN;
				(void)corio__block(l, &g.w, 0);
			}
		}
	}
	for (size_t i = 0; i < n; i++) {
		ts[i]->gather = NULL;
		/* Results went to results[], or the task runs on detached as
		 * asyncio's gather leaves it: either way nobody is owed a report. */
		ts[i]->observed = 1;
		corio__task_release(l, ts[i]);
	}
	if (r < 0)
		return r;
	return g.all ? 0 : g.first_err;
}
