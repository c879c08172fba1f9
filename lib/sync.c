/*
 * sync.c - event, mutex, semaphore, condition, queue (asyncio's Event, Lock,
 * BoundedSemaphore, Condition, Queue), for the tasks of one loop.
 *
 * Each object keeps its waiters in a FIFO of wait records that live on the
 * waiters' stacks (corio__wq). Whoever makes progress possible hands it over
 * directly: unlock passes the mutex to the longest waiter, release passes the
 * unit, put passes the item straight into a waiting getter's record, get
 * moves the longest putter's item into the buffer. A woken waiter therefore
 * already holds what it waited for, and a cancel that arrives after the
 * handover finds the wait ended (corio__wake is final): nothing is lost and
 * nobody can barge in between.
 *
 * A cancel or timeout before the handover unlinks the record (corio__wq_unlink)
 * and the call returns without having taken anything.
 *
 * The file also keeps the loop's list of live objects (corio__obj): those
 * made while it runs, and mutexes and groups once used on it. At its close
 * debug mode reports the ones made there and never freed, and every listed
 * group and mutex lets go of its pointers to the loop's tasks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ------------------------------------------------------------------------
 * Objects listed on their loop
 * ------------------------------------------------------------------------ */

static const char *const kind_names[CORIO__OBJ_COUNT] = {
	"group", "event", "mutex", "semaphore", "condition", "queue",
};

void corio__obj_bind(corio__obj *o, corio__loop *l)
{
	if (o->home || !l)
		return;
	o->home = l;
	o->prev = NULL;
	o->next = l->objs;
	if (l->objs)
		l->objs->prev = o;
	l->objs = o;
}

void corio__obj_init(corio__obj *o, int kind)
{
	o->magic = CORIO__OBJ_MAGIC;
	o->kind = (uint8_t)kind;
	o->home = NULL;
	o->made_here = corio__tls_loop != NULL;
	corio__obj_bind(o, corio__tls_loop);
}

void corio__obj_fini(corio__obj *o)
{
	corio__loop *l = o->home;

	if (l) {
		if (o->prev)
			o->prev->next = o->next;
		else
			l->objs = o->next;
		if (o->next)
			o->next->prev = o->prev;
	}
	o->home = NULL;
	o->magic = 0;
}

struct corio_mutex;
static void mutex_loop_closed(struct corio_mutex *m, corio__loop *l);

void corio__objs_close(corio__loop *l)
{
	size_t count[CORIO__OBJ_COUNT] = { 0 }, total = 0;
	corio__obj *o = l->objs, *n;

	for (; o; o = n) {
		n = o->next;
		/* Objects made before the loop are the program's to free later. */
		if (o->made_here) {
			count[o->kind]++;
			total++;
		}
		if (o->kind == CORIO__OBJ_GROUP)
			corio__group_loop_closed((corio_group *)o);
		else if (o->kind == CORIO__OBJ_MUTEX)
			mutex_loop_closed((struct corio_mutex *)o, l);
		o->home = NULL;
		o->made_here = 0; /* reported once, here */
		o->prev = o->next = NULL;
	}
	l->objs = NULL;
	if (l->debug && total) {
		fprintf(stderr, "corio: debug: at loop close, never freed:");
		for (int k = 0; k < CORIO__OBJ_COUNT; k++)
			if (count[k])
				fprintf(stderr, " %zu %s%s", count[k], kind_names[k],
					count[k] > 1 ? "(s)" : "");
		fprintf(stderr, "\n");
	}
}

/* ------------------------------------------------------------------------
 * Waiter FIFOs
 * ------------------------------------------------------------------------ */

void corio__wq_push(corio__wq *q, corio__wait *w)
{
	w->next = NULL;
	w->prev = q->tail;
	if (q->tail)
		q->tail->next = w;
	else
		q->head = w;
	q->tail = w;
	q->n++;
}

void corio__wq_remove(corio__wq *q, corio__wait *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		q->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		q->tail = w->prev;
	w->next = w->prev = NULL;
	q->n--;
}

static corio__wait *wq_pop(corio__wq *q)
{
	corio__wait *w = q->head;

	if (w)
		corio__wq_remove(q, w);
	return w;
}

void corio__wq_unlink(corio__wait *w)
{
	corio__wq_remove(w->ctx, w);
}

/* Blocks the running task on q until a handover or an interrupt. */
static int wq_wait(corio__loop *l, corio__wq *q, corio__wait *w, uint8_t what)
{
	w->kind = CORIO__W_PLAIN;
	w->what = what;
	w->unlink = corio__wq_unlink;
	w->ctx = q;
	corio__wq_push(q, w);
	return corio__block(l, w, 0);
}

/* Ends the longest wait on q with res; false when nobody waits. */
static bool wq_wake_one(corio__wq *q, int res)
{
	corio__wait *w = wq_pop(q);

	if (!w)
		return false;
	corio__wake(w->task->loop, w, res);
	return true;
}

/* Waiters belong to one loop: only its thread may hand anything to them. */
static int wq_loop_check(const corio__wq *q, const corio__loop *l)
{
	if (q->head && q->head->task->loop != l)
		return l ? -EXDEV : -EPERM;
	return 0;
}

static bool obj_ok(const void *p, int kind)
{
	const corio__obj *o = p;
	return o && o->magic == CORIO__OBJ_MAGIC && o->kind == kind;
}

/*
 * The checks every blocking call starts with: a live object of the right
 * kind, a running task, the waiters' loop, then cancellation and deadline.
 */
static int begin(const void *obj, int kind, const corio__wq *q, corio__loop **lp, corio_task **tp)
{
	corio__loop *l = corio__tls_loop;
	int r;

	if (!obj_ok(obj, kind))
		return -EINVAL;
	if (!l || !l->current)
		return -EPERM;
	r = wq_loop_check(q, l);
	if (r < 0)
		return r;
	*lp = l;
	*tp = l->current;
	return 0;
}

/* Shared by the void calls that find a bad object or the wrong thread. */
static bool refuse(const char *fn, const void *obj, int err)
{
	corio__loop *l = corio__tls_loop;

	errno = err;
	if (l && l->debug)
		fprintf(stderr, "corio: debug: %s(%p): %s\n", fn, obj, strerror(err));
	return true;
}

/*
 * Whether a free may go ahead: not for NULL (a no-op), a bad object
 * (EINVAL), or one that `busy` tasks wait on or hold (EBUSY, said on
 * stderr in every mode: freeing it would leave them with a dangling
 * pointer). On yes, the object is unlisted and ready for free().
 */
static bool may_free(const char *fn, void *obj, int kind, size_t busy, const char *what)
{
	if (!obj)
		return false;
	if (!obj_ok(obj, kind)) {
		refuse(fn, obj, EINVAL);
		return false;
	}
	if (busy) {
		fprintf(stderr, "corio: %s(%p): %zu task(s) %s; not freed\n", fn, obj, busy, what);
		errno = EBUSY;
		return false;
	}
	corio__obj_fini(obj);
	return true;
}

/* ------------------------------------------------------------------------
 * Event
 * ------------------------------------------------------------------------ */

struct corio_event {
	corio__obj obj;
	corio__wq  wq;
	bool       set;
};

CORIO__API corio_event *corio_event_new(void)
{
	corio_event *e = corio__calloc(1, sizeof(*e));

	if (!e) {
		errno = ENOMEM;
		return NULL;
	}
	corio__obj_init(&e->obj, CORIO__OBJ_EVENT);
	return e;
}

CORIO__API int corio_event_wait(corio_event *e)
{
	corio__loop *l;
	corio_task *t;
	corio__wait w = { 0 };
	int r = begin(e, CORIO__OBJ_EVENT, e ? &e->wq : NULL, &l, &t);

	if (r < 0 || (r = corio__may_block(t)) < 0)
		return r;
	if (e->set)
		return 0;
	return wq_wait(l, &e->wq, &w, CORIO__WHY_EVENT);
}

CORIO__API void corio_event_set(corio_event *e)
{
	int r;

	if (!obj_ok(e, CORIO__OBJ_EVENT) || (r = wq_loop_check(&e->wq, corio__tls_loop)) < 0) {
		refuse("corio_event_set", e, obj_ok(e, CORIO__OBJ_EVENT) ? EXDEV : EINVAL);
		return;
	}
	e->set = true;
	while (wq_wake_one(&e->wq, 0))
		;
}

CORIO__API void corio_event_clear(corio_event *e)
{
	if (obj_ok(e, CORIO__OBJ_EVENT))
		e->set = false;
	else
		refuse("corio_event_clear", e, EINVAL);
}

CORIO__API int corio_event_is_set(const corio_event *e)
{
	return obj_ok(e, CORIO__OBJ_EVENT) ? e->set : -EINVAL;
}

CORIO__API void corio_event_free(corio_event *e)
{
	if (may_free("corio_event_free", e, CORIO__OBJ_EVENT, e ? e->wq.n : 0, "wait on it"))
		free(e);
}

/* ------------------------------------------------------------------------
 * Mutex
 * ------------------------------------------------------------------------ */

struct corio_mutex {
	corio__obj  obj;
	corio__wq   wq;
	corio_task *owner;
};

static void mutex_loop_closed(struct corio_mutex *m, corio__loop *l)
{
	if (m->owner && l->debug)
		fprintf(stderr, "corio: debug: a mutex was still held by task '%s' at loop close\n",
			corio_task_name(m->owner));
	m->owner = NULL;
}

CORIO__API corio_mutex *corio_mutex_new(void)
{
	corio_mutex *m = corio__calloc(1, sizeof(*m));

	if (!m) {
		errno = ENOMEM;
		return NULL;
	}
	corio__obj_init(&m->obj, CORIO__OBJ_MUTEX);
	return m;
}

/* Passes m to its longest waiter, or leaves it free. */
static void mutex_release(corio_mutex *m)
{
	corio__wait *w = wq_pop(&m->wq);

	m->owner = w ? w->task : NULL;
	if (w)
		corio__wake(w->task->loop, w, 0);
}

CORIO__API int corio_mutex_lock(corio_mutex *m)
{
	corio__loop *l;
	corio_task *t;
	corio__wait w = { 0 };
	int r = begin(m, CORIO__OBJ_MUTEX, m ? &m->wq : NULL, &l, &t);

	if (r < 0)
		return r;
	if (m->owner == t)
		return -EDEADLK;
	/* Held by a task of another loop, with nobody waiting yet: its
	 * unlock would wake us from that loop's thread. */
	if (m->owner && m->owner->loop != l)
		return -EXDEV;
	r = corio__may_block(t);
	if (r < 0)
		return r;
	/* Held mutexes are listed on the loop: its close lets go of them. */
	corio__obj_bind(&m->obj, l);
	if (!m->owner) {
		m->owner = t;
		return 0;
	}
	/* On success mutex_release made us the owner before waking us. */
	return wq_wait(l, &m->wq, &w, CORIO__WHY_MUTEX);
}

CORIO__API int corio_mutex_trylock(corio_mutex *m)
{
	corio__loop *l = corio__tls_loop;

	if (!obj_ok(m, CORIO__OBJ_MUTEX))
		return -EINVAL;
	if (!l || !l->current)
		return -EPERM;
	if (m->owner)
		return -EBUSY;
	corio__obj_bind(&m->obj, l);
	m->owner = l->current;
	return 0;
}

CORIO__API int corio_mutex_unlock(corio_mutex *m)
{
	corio__loop *l = corio__tls_loop;

	if (!obj_ok(m, CORIO__OBJ_MUTEX))
		return -EINVAL;
	if (!l || !l->current || m->owner != l->current) {
		if (l && l->debug)
			fprintf(stderr, "corio: debug: corio_mutex_unlock(%p): the caller does not hold it%s%s%s\n",
				(void *)m, m->owner ? " (task '" : "",
				m->owner ? corio_task_name(m->owner) : "", m->owner ? "' does)" : "");
		return -EPERM;
	}
	mutex_release(m);
	return 0;
}

CORIO__API void corio_mutex_free(corio_mutex *m)
{
	size_t busy = m ? m->wq.n + (m->owner != NULL) : 0;

	if (may_free("corio_mutex_free", m, CORIO__OBJ_MUTEX, busy, "hold it or wait on it"))
		free(m);
}

/* ------------------------------------------------------------------------
 * Semaphore (bounded)
 * ------------------------------------------------------------------------ */

struct corio_sem {
	corio__obj obj;
	corio__wq  wq;
	unsigned   value, max;
};

CORIO__API corio_sem *corio_sem_new(unsigned n)
{
	corio_sem *s;

	if (n > INT32_MAX) {
		errno = EINVAL;
		return NULL;
	}
	s = corio__calloc(1, sizeof(*s));
	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	corio__obj_init(&s->obj, CORIO__OBJ_SEM);
	s->value = s->max = n;
	return s;
}

CORIO__API int corio_sem_acquire(corio_sem *s)
{
	corio__loop *l;
	corio_task *t;
	corio__wait w = { 0 };
	int r = begin(s, CORIO__OBJ_SEM, s ? &s->wq : NULL, &l, &t);

	if (r < 0 || (r = corio__may_block(t)) < 0)
		return r;
	if (s->value > 0 && !s->wq.n) {
		s->value--;
		return 0;
	}
	return wq_wait(l, &s->wq, &w, CORIO__WHY_SEM);
}

CORIO__API int corio_sem_try_acquire(corio_sem *s)
{
	if (!obj_ok(s, CORIO__OBJ_SEM))
		return -EINVAL;
	if (s->value == 0 || s->wq.n)
		return -EAGAIN;
	s->value--;
	return 0;
}

CORIO__API void corio_sem_release(corio_sem *s)
{
	if (!obj_ok(s, CORIO__OBJ_SEM)) {
		refuse("corio_sem_release", s, EINVAL);
		return;
	}
	if (wq_loop_check(&s->wq, corio__tls_loop) < 0) {
		refuse("corio_sem_release", s, EXDEV);
		return;
	}
	/* Waiters imply value 0, so this refuses only releases beyond the
	 * bound (with or without waiters, for a semaphore bounded by 0). */
	if (s->value >= s->max) {
		refuse("corio_sem_release", s, EOVERFLOW);
		return;
	}
	if (wq_wake_one(&s->wq, 0))
		return; /* the unit went straight to the longest waiter */
	s->value++;
}

CORIO__API int corio_sem_value(const corio_sem *s)
{
	return obj_ok(s, CORIO__OBJ_SEM) ? (int)s->value : -EINVAL;
}

CORIO__API void corio_sem_free(corio_sem *s)
{
	if (may_free("corio_sem_free", s, CORIO__OBJ_SEM, s ? s->wq.n : 0, "wait on it"))
		free(s);
}

/* ------------------------------------------------------------------------
 * Condition
 * ------------------------------------------------------------------------ */

struct corio_cond {
	corio__obj obj;
	corio__wq  wq;
};

CORIO__API corio_cond *corio_cond_new(void)
{
	corio_cond *c = corio__calloc(1, sizeof(*c));

	if (!c) {
		errno = ENOMEM;
		return NULL;
	}
	corio__obj_init(&c->obj, CORIO__OBJ_COND);
	return c;
}

CORIO__API int corio_cond_wait(corio_cond *c, corio_mutex *m)
{
	corio__loop *l;
	corio_task *t;
	corio__wait w = { 0 };
	int r = begin(c, CORIO__OBJ_COND, c ? &c->wq : NULL, &l, &t);

	if (r < 0)
		return r;
	if (!obj_ok(m, CORIO__OBJ_MUTEX))
		return -EINVAL;
	if (m->owner != t)
		return -EPERM;
	r = corio__may_block(t);
	if (r < 0)
		return r;
	w.kind = CORIO__W_PLAIN;
	w.what = CORIO__WHY_COND;
	w.unlink = corio__wq_unlink;
	w.ctx = &c->wq;
	corio__wq_push(&c->wq, &w);
	mutex_release(m);
	r = corio__block(l, &w, 0);
	/* Take m back whatever happened, immune to cancels and deadlines: the
	 * caller's code after the wait assumes it holds m. */
	if (m->owner) {
		corio__wait mw = { .drain = 1 };
		(void)wq_wait(l, &m->wq, &mw, CORIO__WHY_MUTEX);
	} else {
		m->owner = t;
	}
	return r;
}

CORIO__API void corio_cond_signal(corio_cond *c)
{
	if (!obj_ok(c, CORIO__OBJ_COND) || wq_loop_check(&c->wq, corio__tls_loop) < 0) {
		refuse("corio_cond_signal", c, obj_ok(c, CORIO__OBJ_COND) ? EXDEV : EINVAL);
		return;
	}
	(void)wq_wake_one(&c->wq, 0);
}

CORIO__API void corio_cond_broadcast(corio_cond *c)
{
	if (!obj_ok(c, CORIO__OBJ_COND) || wq_loop_check(&c->wq, corio__tls_loop) < 0) {
		refuse("corio_cond_broadcast", c, obj_ok(c, CORIO__OBJ_COND) ? EXDEV : EINVAL);
		return;
	}
	while (wq_wake_one(&c->wq, 0))
		;
}

CORIO__API void corio_cond_free(corio_cond *c)
{
	if (may_free("corio_cond_free", c, CORIO__OBJ_COND, c ? c->wq.n : 0, "wait on it"))
		free(c);
}

/* ------------------------------------------------------------------------
 * Queue
 * ------------------------------------------------------------------------ */

struct corio_queue {
	corio__obj obj;
	corio__wq  getters;  /* only while the queue is empty */
	corio__wq  putters;  /* only while it is full; items in their records */
	void     **buf;      /* ring of alloc slots */
	size_t     limit;    /* capacity; SIZE_MAX when unbounded */
	size_t     alloc, head, n;
};

CORIO__API corio_queue *corio_queue_new(size_t capacity)
{
	corio_queue *q = corio__calloc(1, sizeof(*q));

	if (!q) {
		errno = ENOMEM;
		return NULL;
	}
	corio__obj_init(&q->obj, CORIO__OBJ_QUEUE);
	q->limit = capacity ? capacity : SIZE_MAX;
	return q;
}

/* Appends to the ring, growing it (up to the limit); the caller checked
 * that n < limit. */
static int buf_push(corio_queue *q, void *item)
{
	if (q->n == q->alloc) {
		size_t na = q->alloc ? q->alloc * 2 : 16;
		void **nb;

		if (na > q->limit || na < q->alloc)
			na = q->limit;
		if (na > SIZE_MAX / sizeof(void *))
			return -ENOMEM;
		nb = corio__malloc(na * sizeof(void *));
		if (!nb)
			return -ENOMEM;
		for (size_t i = 0; i < q->n; i++)
			nb[i] = q->buf[(q->head + i) % q->alloc];
		free(q->buf);
		q->buf = nb;
		q->alloc = na;
		q->head = 0;
	}
	q->buf[(q->head + q->n) % q->alloc] = item;
	q->n++;
	return 0;
}

/* Takes the oldest item; then the longest putter's item moves into the
 * freed slot and that putter is done. */
static void *buf_take(corio_queue *q)
{
	void *item = q->buf[q->head];
	corio__wait *w;

	q->head = (q->head + 1) % q->alloc;
	q->n--;
	w = wq_pop(&q->putters);
	if (w) {
		(void)buf_push(q, w->item); /* a slot is free: cannot fail */
		corio__wake(w->task->loop, w, 0);
	}
	return item;
}

/* Puts without blocking: to a waiting getter, else into the buffer. */
static int put_now(corio_queue *q, void *item)
{
	corio__wait *w = wq_pop(&q->getters);

	if (w) {
		w->item = item;
		corio__wake(w->task->loop, w, 0);
		return 0;
	}
	if (q->n >= q->limit)
		return -EAGAIN;
	return buf_push(q, item);
}

CORIO__API int corio_queue_put(corio_queue *q, void *item)
{
	corio__loop *l;
	corio_task *t;
	corio__wait w = { 0 };
	int r = begin(q, CORIO__OBJ_QUEUE, q ? &q->getters : NULL, &l, &t);

	if (r == 0)
		r = wq_loop_check(&q->putters, l);
	if (r < 0 || (r = corio__may_block(t)) < 0)
		return r;
	r = put_now(q, item);
	if (r != -EAGAIN)
		return r;
	w.item = item;
	return wq_wait(l, &q->putters, &w, CORIO__WHY_QUEUE_PUT);
}

CORIO__API int corio_queue_get(corio_queue *q, void **item)
{
	corio__loop *l;
	corio_task *t;
	corio__wait w = { 0 };
	int r = begin(q, CORIO__OBJ_QUEUE, q ? &q->getters : NULL, &l, &t);

	if (r == 0 && !item)
		r = -EINVAL;
	if (r == 0)
		r = wq_loop_check(&q->putters, l);
	if (r < 0 || (r = corio__may_block(t)) < 0)
		return r;
	if (q->n) {
		*item = buf_take(q);
		return 0;
	}
	r = wq_wait(l, &q->getters, &w, CORIO__WHY_QUEUE_GET);
	if (r == 0)
		*item = w.item;
	return r;
}

CORIO__API int corio_queue_try_put(corio_queue *q, void *item)
{
	if (!obj_ok(q, CORIO__OBJ_QUEUE))
		return -EINVAL;
	if (wq_loop_check(&q->getters, corio__tls_loop) < 0)
		return -EXDEV;
	return put_now(q, item);
}

CORIO__API int corio_queue_try_get(corio_queue *q, void **item)
{
	if (!obj_ok(q, CORIO__OBJ_QUEUE) || !item)
		return -EINVAL;
	if (wq_loop_check(&q->putters, corio__tls_loop) < 0)
		return -EXDEV;
	if (!q->n)
		return -EAGAIN;
	*item = buf_take(q);
	return 0;
}

CORIO__API size_t corio_queue_size(const corio_queue *q)
{
	return obj_ok(q, CORIO__OBJ_QUEUE) ? q->n : 0;
}

CORIO__API void corio_queue_free(corio_queue *q)
{
	size_t busy = q ? q->getters.n + q->putters.n : 0;

	if (may_free("corio_queue_free", q, CORIO__OBJ_QUEUE, busy, "wait on it")) {
		free(q->buf);
		free(q);
	}
}

/* ------------------------------------------------------------------------
 * For the task dump: what a wait on a sync object is about.
 * ------------------------------------------------------------------------ */

int corio__sync_describe(const corio__wait *w, char *buf, size_t len)
{
	const corio_mutex *m;

	switch (w->what) {
	case CORIO__WHY_MUTEX:
		m = (const corio_mutex *)((const char *)w->ctx - offsetof(corio_mutex, wq));
		return snprintf(buf, len, "mutex %p held by task %llu '%s'", (const void *)m,
				m->owner ? (unsigned long long)m->owner->id : 0ull,
				m->owner ? corio_task_name(m->owner) : "");
	case CORIO__WHY_EVENT:
		return snprintf(buf, len, "event %p",
				(const void *)((const char *)w->ctx - offsetof(corio_event, wq)));
	case CORIO__WHY_SEM:
		return snprintf(buf, len, "semaphore %p",
				(const void *)((const char *)w->ctx - offsetof(corio_sem, wq)));
	case CORIO__WHY_COND:
		return snprintf(buf, len, "condition %p",
				(const void *)((const char *)w->ctx - offsetof(corio_cond, wq)));
	case CORIO__WHY_QUEUE_GET:
		return snprintf(buf, len, "queue %p (get, empty)",
				(const void *)((const char *)w->ctx - offsetof(corio_queue, getters)));
	case CORIO__WHY_QUEUE_PUT:
		return snprintf(buf, len, "queue %p (put, full)",
				(const void *)((const char *)w->ctx - offsetof(corio_queue, putters)));
	default:
		return snprintf(buf, len, "?");
	}
}
