/*
 * timer.c - the loop's timers: a 4-ary min-heap of deadlines.
 *
 * Every timed wait (sleep, wait_for, a call under a deadline scope, the
 * process pool's timed reaping) arms one corio__timer that lives in the
 * wait record on the task's stack. The heap stores the deadline next to
 * the pointer, so sifting compares entries of one array and never touches
 * the (cold, scattered) task stacks; it only writes back each moved timer's
 * index, which makes removal on cancel O(log n). A 4-ary heap is half as
 * deep as a binary one and its four children are 64 adjacent bytes (one
 * cache line, or two: the array is not aligned to one).
 *
 * Deadlines are pushed in nearly increasing order (now + d for a common d),
 * so pushes usually stop at once; a pop costs O(log4 n).
 */
#include <stdlib.h>

#include "internal.h"

#define ARITY 4

static inline void place(corio__heap *h, uint32_t i, corio__heap_ent e)
{
	h->v[i] = e;
	e.t->idx = i;
}

static void sift_up(corio__heap *h, uint32_t i, corio__heap_ent e)
{
	while (i > 0) {
		uint32_t p = (i - 1) / ARITY;
		if (h->v[p].deadline <= e.deadline)
			break;
		place(h, i, h->v[p]);
		i = p;
	}
	place(h, i, e);
}

static void sift_down(corio__heap *h, uint32_t i, corio__heap_ent e)
{
	for (;;) {
		uint32_t c = i * ARITY + 1, best, end;
		if (c >= h->n)
			break;
		end = c + ARITY < h->n ? c + ARITY : h->n;
		best = c;
		for (uint32_t k = c + 1; k < end; k++)
			if (h->v[k].deadline < h->v[best].deadline)
				best = k;
		if (e.deadline <= h->v[best].deadline)
			break;
		place(h, i, h->v[best]);
		i = best;
	}
	place(h, i, e);
}

int corio__heap_push(corio__heap *h, corio__timer *t)
{
	if (h->n == h->cap) {
		uint32_t cap = h->cap ? h->cap * 2 : 256;
		corio__heap_ent *v;
		if (cap <= h->cap) /* 2^31 timers: refuse rather than wrap */
			return -ENOMEM;
		v = corio__realloc(h->v, (size_t)cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		h->v = v;
		h->cap = cap;
	}
	sift_up(h, h->n++, (corio__heap_ent){ t->deadline, t });
	return 0;
}

void corio__heap_remove(corio__heap *h, corio__timer *t)
{
	uint32_t i = t->idx;
	corio__heap_ent last;

	if (i == CORIO__TIMER_IDLE)
		return;
	t->idx = CORIO__TIMER_IDLE;
	last = h->v[--h->n];
	if (i == h->n)
		return;
	/* The last entry fills the hole and moves whichever way it must. */
	if (i > 0 && last.deadline < h->v[(i - 1) / ARITY].deadline)
		sift_up(h, i, last);
	else
		sift_down(h, i, last);
}

corio__timer *corio__heap_pop_due(corio__heap *h, uint64_t now)
{
	corio__timer *t;

	if (h->n == 0 || h->v[0].deadline > now)
		return NULL;
	t = h->v[0].t;
	corio__heap_remove(h, t);
	return t;
}

void corio__heap_free(corio__heap *h)
{
	free(h->v);
	h->v = NULL;
	h->n = h->cap = 0;
}
