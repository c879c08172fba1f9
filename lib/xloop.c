/*
 * xloop.c - calls between the loops of corio_run_loops.
 *
 * A task never moves between loops; work does, as messages. A message is a
 * node (a corio__xjob with xmsg set) inside a heap record, carried by
 * mailbox.c: by IORING_OP_MSG_RING from the sender's ring into the
 * target's (a CQE there, no syscall of its own: it rides the sender's next
 * submit), or on the target's list with an eventfd write where MSG_RING is
 * not used or refused (see mailbox.c). A loop of corio_run can message
 * itself, as loop 0 of a group of one.
 *
 *   corio_loop_post(i, fn, arg)   POST   -> loop i spawns a task running
 *                                           fn(arg); the record is freed.
 *   corio_loop_call(i, fn, arg)   CALL   -> loop i spawns a task running
 *                                           fn(arg), and when it ended,
 *                                 DONE   <- posts its result back; the
 *                                           caller's task wakes.
 *   cancel / deadline of caller   CANCEL -> loop i cancels that task (or,
 *                                           not started yet, never runs it).
 *
 * A call record has one node per kind of message (CALL, CANCEL, DONE),
 * since a CANCEL may be on its way while the CALL or the DONE still is. A
 * CALL that arrives once the target is closing (its main returned) is
 * answered with -ESHUTDOWN, unstarted. The caller's task waits for DONE in
 * every case (fn may use memory the caller owns, as with corio_to_thread),
 * so DONE always finds it. The record is freed by the last of the caller
 * (after DONE) and a CANCEL being handled: `refs`.
 *
 * Fields written by the caller before a send are read by the target after
 * it took the message (and the other way for `result`): mailbox.c orders
 * them with a release at the send and an acquire at the take. Fields the
 * target alone keeps (`task`, `arrived`, `cancel_asked`) are touched on its
 * thread only.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum { XM_POST = 1, XM_CALL, XM_CANCEL, XM_DONE };

typedef struct xnode {
	corio__xjob x;       /* first: what mailbox.c carries */
	uint8_t     kind;
} xnode;

typedef struct xcall {
	xnode           call;         /* POST or CALL: caller -> target */
	xnode           cancel;       /* CANCEL: caller -> target */
	xnode           done;         /* DONE: target -> caller */
	int           (*fn)(void *);
	void          (*post_fn)(void *);
	void           *arg;
	corio__mailbox *caller;       /* where DONE goes */
	corio__mailbox *target;       /* where CANCEL goes */
	corio__wait    *w;            /* the caller's wait */
	unsigned        refs;         /* atomic: the caller's, one per CANCEL in flight */
	int             result;       /* fn's, written by the target before DONE */
	int             index;        /* the target loop */
	/* The target's alone. */
	corio_task     *task;         /* running fn, until fn returned */
	bool            arrived;
	bool            cancel_asked; /* a CANCEL came before the CALL */
} xcall;

#define XCALL_OF(node, field) ((xcall *)(void *)((char *)(node) - offsetof(xcall, field)))

static void xcall_unref(xcall *m)
{
	if (__atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(m);
}

/* ------------------------------------------------------------------------
 * Groups
 * ------------------------------------------------------------------------ */

corio__lgroup *corio__lgroup_new(int n)
{
	corio__lgroup *g = corio__calloc(1, sizeof(*g));

	if (!g || !(g->mb = corio__calloc((size_t)n, sizeof(*g->mb)))) {
		free(g);
		return NULL;
	}
	g->n = n;
	g->running = (unsigned)n;
	for (int i = 0; i < n; i++) {
		g->mb[i] = corio__mailbox_new();
		if (!g->mb[i]) {
			corio__lgroup_free(g);
			return NULL;
		}
	}
	return g;
}

void corio__lgroup_free(corio__lgroup *g)
{
	for (int i = 0; i < g->n; i++)
		if (g->mb[i])
			corio__mailbox_unref(g->mb[i]);
	free(g->mb);
	free(g);
}

void corio__lgroup_left(corio__lgroup *g, int index)
{
	/* Loops that sleep with nothing to wake them but their peers look
	 * again once they are the last one left (deadlock detection). */
	if (__atomic_sub_fetch(&g->running, 1, __ATOMIC_ACQ_REL) == 1)
		for (int i = 0; i < g->n; i++)
			if (i != index)
				corio__mailbox_poke(g->mb[i]);
}

bool corio__lgroup_others(const corio__loop *l)
{
	return l->group && __atomic_load_n(&l->group->running, __ATOMIC_ACQUIRE) > 1;
}

/* ------------------------------------------------------------------------
 * The target's side
 * ------------------------------------------------------------------------ */

static void reply(corio__loop *l, xcall *m, int r)
{
	int e;

	m->result = r;
	/* The caller waits for this very message: its loop cannot be closed. */
	e = corio__mailbox_send(l, m->caller, &m->done.x, false);
	if (e < 0)
		fprintf(stderr, "corio: loop %d: the result of a call could not be sent: %s\n",
			l ? l->index : -1, corio__errname(e));
}

static int post_entry(void *p)
{
	xcall *m = p;
	void (*fn)(void *) = m->post_fn;
	void *arg = m->arg;

	free(m);
	fn(arg);
	return 0;
}

static int call_entry(void *p)
{
	xcall *m = p;
	corio__loop *l = corio__tls_loop;
	int r = m->fn(m->arg);

	m->task = NULL; /* a CANCEL from now on finds nothing to cancel */
	reply(l, m, r);
	return r;
}

void corio__xmsg_arrived(corio__loop *l, corio__xjob *j)
{
	xnode *n = (xnode *)j;
	corio_spawn_attr attr = { 0, NULL };
	corio_task *t;
	xcall *m;

	switch (n->kind) {
	case XM_POST:
		m = XCALL_OF(n, call);
		attr.name = "posted";
		t = corio__spawn(l, post_entry, m, &attr);
		if (!t) {
			fprintf(stderr, "corio: loop %d: a posted function was dropped: %s\n",
				l->index, strerror(errno));
			free(m);
			return;
		}
		corio__task_release(l, t);
		return;
	case XM_CALL:
		m = XCALL_OF(n, call);
		m->arrived = true;
		if (m->cancel_asked) {
			reply(l, m, -ECANCELED); /* never started: never will */
			return;
		}
		if (l->closing) {
			reply(l, m, -ESHUTDOWN);
			return;
		}
		attr.name = "called";
		t = corio__spawn(l, call_entry, m, &attr);
		if (!t) {
			reply(l, m, -errno);
			return;
		}
		t->observed = 1; /* the caller sees the result */
		m->task = t;
		corio__task_release(l, t);
		return;
	case XM_CANCEL:
		m = XCALL_OF(n, cancel);
		if (!m->arrived)
			m->cancel_asked = true;
		else if (m->task && !m->task->cancelled && m->task->state != CORIO__T_DONE)
			corio__cancel_task(l, m->task);
		xcall_unref(m);
		return;
	case XM_DONE:
		m = XCALL_OF(n, done);
		l->external--;
		corio__wake(l, m->w, 0);
		return;
	}
}

void corio__xmsg_refuse(corio__xjob *j)
{
	xnode *n = (xnode *)j;
	xcall *m;

	switch (n->kind) {
	case XM_POST:
		m = XCALL_OF(n, call);
		fprintf(stderr, "corio: loop %d never ran: a function posted to it was dropped\n",
			m->index);
		free(m);
		return;
	case XM_CALL:
		m = XCALL_OF(n, call);
		m->arrived = true;
		reply(NULL, m, -ESHUTDOWN);
		return;
	case XM_CANCEL:
		xcall_unref(XCALL_OF(n, cancel));
		return;
	case XM_DONE:
		/* Its caller's loop was torn down deadlocked: the task that
		 * waited never runs again. */
		xcall_unref(XCALL_OF(n, done));
		return;
	}
}

/* ------------------------------------------------------------------------
 * The caller's side
 * ------------------------------------------------------------------------ */

/* The mailbox of loop `index` as seen from l; 0 or -errno. */
static int target(corio__loop *l, int index, corio__mailbox **to)
{
	int r;

	if (l->group) {
		if (index < 0 || index >= l->group->n)
			return -EINVAL;
		*to = l->group->mb[index];
		return 0;
	}
	/* A loop of corio_run is loop 0 of a group of one. */
	if (index != 0)
		return -EINVAL;
	r = corio__mailbox_open(l, NULL);
	if (r < 0)
		return r;
	*to = l->mbox;
	return 0;
}

void corio__xcall_interrupt(corio__loop *l, corio__wait *w)
{
	xcall *m = w->ctx;

	__atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
	if (corio__mailbox_send(l, m->target, &m->cancel.x, false) < 0)
		xcall_unref(m); /* that loop has ended, and so has the task */
}

CORIO__API int corio_loop_count(void)
{
	corio__loop *l = corio__tls_loop;

	return l ? (l->group ? l->group->n : 1) : 0;
}

CORIO__API int corio_loop_post(int loop, void (*fn)(void *), void *arg)
{
	corio__loop *l = corio__tls_loop;
	corio__mailbox *to;
	xcall *m;
	int r;

	if (!l)
		return -EPERM;
	if (!fn)
		return -EINVAL;
	r = target(l, loop, &to);
	if (r < 0)
		return r;
	m = corio__calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->call.kind = XM_POST;
	m->post_fn = fn;
	m->arg = arg;
	m->index = loop;
	r = corio__mailbox_send(l, to, &m->call.x, true);
	if (r < 0)
		free(m);
	return r;
}

CORIO__API int corio_loop_call(int loop, int (*fn)(void *), void *arg)
{
	corio__loop *l = corio__tls_loop;
	corio__wait w = { .kind = CORIO__W_XCALL, .what = CORIO__WHY_XCALL };
	corio_task *self;
	corio__mailbox *to;
	xcall *m;
	int r;

	if (!l || !(self = l->current))
		return -EPERM;
	if (!fn)
		return -EINVAL;
	r = target(l, loop, &to);
	if (r < 0)
		return r;
	r = corio__may_block(self);
	if (r < 0)
		return r;
	m = corio__calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->call.kind = XM_CALL;
	m->cancel.kind = XM_CANCEL;
	m->done.kind = XM_DONE;
	m->fn = fn;
	m->arg = arg;
	m->caller = l->mbox;
	m->target = to;
	m->index = loop;
	m->w = &w;
	m->refs = 1;
	w.ctx = m;
	w.fd = loop;
	r = corio__mailbox_send(l, to, &m->call.x, true);
	if (r < 0) {
		free(m);
		return r;
	}
	l->external++; /* DONE will come */
	(void)corio__block(l, &w, 0);
	r = w.interrupted ? w.interrupt_res : m->result;
	xcall_unref(m);
	return r;
}
