/*
 * harness_api.h - an API-sequence fuzzer: the input is a program of corio
 * calls, run inside corio_run and checked against a model.
 *
 * The driver (corio_run's main task) reads operations from the input:
 * spawn a task, yield, sleep, cancel, join, detach, gather, wait_for,
 * spawn into / wait on / cancel / free a task group, put and get on a
 * queue, set, clear and wait on an event, push and pop deadline scopes.
 * Every spawned task runs a small script, also read from the input: yield,
 * sleep, queue put/get (blocking or not), event wait/set, deadline and
 * shield scopes (well nested; a shield always holds a deadline scope),
 * spawning a child task and joining it (a cancel or deadline of the joiner
 * cancels the child), a critical section under a mutex or a semaphore
 * (around a sleep), then returns a chosen value (>= 0, or an
 * error such as -EIO, which exercises fail fast in gather and groups).
 *
 * Ground truth comes from the tasks themselves: each records that it
 * started and ended, and what it returned. The model knows, for every task,
 * whether anything may have cancelled it (corio_cancel, a group failing or
 * being cancelled or freed, a join/gather/group wait whose deadline passed,
 * main returning) and whether a cancel came while a step that observes
 * cancellation was still ahead of it, and it knows every deadline exactly
 * (corio_deadline_push_at). Invariants:
 *   - every task starts once and ends once, also those left running when
 *     main returns; corio_run returns main's result;
 *   - a blocking call returns 0, -ECANCELED only when the task may have
 *     been cancelled and no shield covers it, -ETIMEDOUT only when a
 *     deadline it can see has passed; a sleep that returns 0 lasted its
 *     time and did not outlast a deadline; deadline_pop says -ETIMEDOUT
 *     exactly when its deadline has passed, shield_pop -ECANCELED only
 *     after a cancel;
 *   - a task cancelled while a cancellation-observing step was still ahead
 *     returns -ECANCELED (or -ETIMEDOUT if it has a deadline scope);
 *   - join and wait_for return what the task returned, or the driver's own
 *     -ETIMEDOUT (then the task has ended); gather's results[] hold each
 *     ended task's result and -EINPROGRESS only for those still running,
 *     and its return is 0 or one of those errors; a group wait returns the
 *     group's first failure in the order the tasks ended (or 0), every task
 *     of the group has ended when it returns, corio_group_results and
 *     corio_group_errors agree with the tasks; spawning into a failing
 *     group fails with ECANCELED and only then;
 *   - a mutex has at most one holder and a semaphore at most its units;
 *     a failed lock holds nothing (unlock says -EPERM);
 *   - queue items are never duplicated, never invented, never delivered
 *     after their put failed, and each getter gets each producer's items
 *     in the order they were put;
 *     an event wait returns 0 only if the event was set at the call or has
 *     been set since;
 *   - nothing leaks (LeakSanitizer in the fuzzer; the regression test
 *     compares malloc's bytes in use before and after);
 *   - it terminates: at most FZA_MAX_OPS operations and FZA_MAX_TASKS
 *     tasks, sleeps of at most 2 ms, the driver stops issuing operations
 *     after FZA_BUDGET_MS, and runs under a deadline scope of
 *     FZA_GUARD_MS, so every blocking call it makes ends by then.
 */
#ifndef CORIO_FUZZ_HARNESS_API_H
#define CORIO_FUZZ_HARNESS_API_H

#include <errno.h>

#include "fuzz.h"

#include "corio.h"

#define FZA_MAX_TASKS   24
#define FZA_MAX_OPS     48
#define FZA_MAX_STEPS   24     /* script steps, pushes and pops included */
#define FZA_MAX_GROUPS  4
#define FZA_BUDGET_MS   4      /* no new operation after this */
#define FZA_GUARD_MS    6      /* the driver's outermost deadline */
#define FZA_MAX_DSCOPE  4
#define FZA_PRODUCERS   (FZA_MAX_TASKS + 1) /* 0 is the driver */
#define FZA_MAX_SEQ     63

enum fza_step {
	FS_YIELD, FS_SLEEP, FS_QPUT, FS_QGET, FS_QTRY, FS_EWAIT, FS_ESET,
	FS_DL_PUSH, FS_SH_PUSH, FS_DL_POP, FS_SH_POP, FS_CHILD, FS_MUTEX, FS_SEM, FS_NKINDS
};

typedef struct fza_group fza_group;
typedef struct fza_scope fza_scope;

typedef struct fza_task fza_task;
struct fza_task {
	int         idx;
	int         nsteps;
	uint8_t     kind[FZA_MAX_STEPS];
	uint32_t    arg[FZA_MAX_STEPS];
	uint8_t     obs[FZA_MAX_STEPS]; /* the step observes a cancel (no shield) */
	int         ret;                /* what the script returns if nothing fails */
	int         has_deadline;
	/* ground truth */
	int         spawned, started, ended, result, in_step;
	uint64_t    end_seq;
	int         next_seq;           /* queue items it produced */
	/* model */
	int         cancel_may, must_cancel;
	int         driver_pending;     /* a driver op may cancel it once its deadline passes */
	fza_group  *group;
	int         owned;              /* the driver holds an unconsumed handle */
	int         handle_ok;          /* the handle may be used (cancel) */
	corio_task *h;
	fza_task   *parent;             /* a child task: the task that spawns and joins it */
	fza_task   *joiner;             /* set while parent waits in corio_join */
	const fza_scope *sc;            /* the task's scopes, while it runs */
	const int  *nsc;
};

struct fza_group {
	corio_group *g;
	int          live;
	int          failed, cancelled, waiting;
	int          members[FZA_MAX_TASKS];
	int          nmembers;
};

typedef struct fza_ctx {
	fz_in        in;
	fza_task     t[FZA_MAX_TASKS];
	int          ntasks;
	fza_group    grp[FZA_MAX_GROUPS];
	int          cur_group;          /* index into grp, or -1 */
	corio_queue *q;
	size_t       qcap;
	corio_event *ev;
	uint64_t     ev_gen;
	corio_mutex *mu;
	corio_sem   *sem;
	unsigned     semn;
	int          mu_holders, sem_holders;
	uint64_t     seq;
	uint64_t     t0;
	int          main_returned;
	uint64_t     dl[FZA_MAX_DSCOPE + 1]; /* the driver's scopes' deadlines, [0] the guard */
	int          ndl;
	/* queue bookkeeping, per producer */
	int          attempted[FZA_PRODUCERS];
	int          last_got[FZA_PRODUCERS][FZA_PRODUCERS]; /* [getter][producer] */
	uint64_t     failed_put[FZA_PRODUCERS], got_mask[FZA_PRODUCERS];
	int          result;
} fza_ctx;

static fza_ctx *fza;
static int fza_tracing = -1;

/* FZA_TRACE=1 in the environment prints what the program does (stderr). */
__attribute__((format(printf, 1, 2)))
static void fza_trace(const char *fmt, ...)
{
	va_list ap;

	if (fza_tracing < 0)
		fza_tracing = getenv("FZA_TRACE") != NULL;
	if (!fza_tracing)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "[%6.3f ms] ", (double)(corio_now_ns() - fza->t0) / 1e6);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static uint64_t fza_now(void)
{
	return corio_now_ns();
}

/* The driver's nearest deadline (UINT64_MAX: none). */
static uint64_t fza_driver_deadline(void)
{
	uint64_t d = UINT64_MAX;

	for (int i = 0; i < fza->ndl; i++)
		if (fza->dl[i] < d)
			d = fza->dl[i];
	return d;
}

/* A duration for sleeps and deadlines, 0 to 2 ms, mostly short. */
static uint32_t fza_ns(unsigned a)
{
	static const uint32_t ns[8] = { 0, 20000, 50000, 100000, 250000, 500000, 1000000, 2000000 };

	return ns[a % 8];
}

static int fza_driver_timed_out(void)
{
	return fza_now() >= fza_driver_deadline();
}

static uint64_t fza_task_deadline(const fza_scope *sc, int n);

/* May t see -ECANCELED now? */
static int fza_cancel_allowed(const fza_task *t)
{
	const fza_group *g = t->group;
	const fza_task *j = t->joiner;

	if (t->cancel_may || fza->main_returned)
		return 1;
	/* A joiner that is cancelled or times out cancels the task it joins. */
	if (j && (fza_cancel_allowed(j) || fza_now() >= fza_task_deadline(j->sc, *j->nsc)))
		return 1;
	if (t->driver_pending && fza_driver_timed_out())
		return 1;
	if (g && (g->failed || g->cancelled || !g->live || (g->waiting && fza_driver_timed_out())))
		return 1;
	return 0;
}

/* The driver (or the group logic) cancels t: may it, must it. */
static void fza_mark_cancel(fza_task *t, int must)
{
	t->cancel_may = 1;
	if (!must || t->ended)
		return;
	for (int j = t->in_step + 1; j < t->nsteps; j++)
		if (t->obs[j])
			t->must_cancel = 1;
}

/* ------------------------------------------------------------------------
 * Queue items: (producer << 8 | seq), never NULL
 * ------------------------------------------------------------------------ */

static void *fza_item_make(int producer, int *seqp)
{
	int seq = ++fza->attempted[producer];

	*seqp = seq;
	fza_trace("putting item %d of producer %d", seq, producer);
	return (void *)(uintptr_t)((unsigned)producer << 8 | (unsigned)seq);
}

/* getter: 0 the driver (or the drain after the run), else task index + 1. A
 * getter's gets are sequential, so it sees each producer's items in order;
 * across getters the order of returns says nothing (an item handed to a
 * waiting getter is taken before that getter runs again). */
static void fza_item_got(int getter, void *item)
{
	uintptr_t v = (uintptr_t)item;
	unsigned p = (unsigned)(v >> 8), seq = (unsigned)(v & 0xff);

	fza_trace("getter %d: got item %u of producer %u", getter, seq, p);
	FZ_CHECK(p < FZA_PRODUCERS && seq >= 1 && v >> 16 == 0, "got item %#lx nobody put",
		 (unsigned long)v);
	FZ_CHECK((int)seq <= fza->attempted[p], "got item %u of producer %u, who tried only %d", seq,
		 p, fza->attempted[p]);
	FZ_CHECK(!(fza->got_mask[p] >> seq & 1), "item %u of producer %u delivered twice", seq, p);
	FZ_CHECK(!(fza->failed_put[p] >> seq & 1), "item %u of producer %u delivered, its put failed",
		 seq, p);
	FZ_CHECK((int)seq > fza->last_got[getter][p],
		 "getter %d: item %u of producer %u after its item %d (FIFO)", getter, seq, p,
		 fza->last_got[getter][p]);
	fza->got_mask[p] |= 1ull << seq;
	fza->last_got[getter][p] = (int)seq;
}

static void fza_item_failed(int producer, int seq)
{
	FZ_CHECK(!(fza->got_mask[producer] >> seq & 1),
		 "item %d of producer %d was delivered, yet its put failed", seq, producer);
	fza->failed_put[producer] |= 1ull << seq;
	fza_trace("put of item %d of producer %d failed", seq, producer);
}

/* ------------------------------------------------------------------------
 * Tasks
 * ------------------------------------------------------------------------ */

struct fza_scope {
	int      shield;
	uint64_t deadline;
};

/* The nearest deadline a task can see: its scopes inside the innermost shield. */
static uint64_t fza_task_deadline(const fza_scope *sc, int n)
{
	uint64_t d = UINT64_MAX;

	for (int i = n - 1; i >= 0 && !sc[i].shield; i--)
		if (sc[i].deadline < d)
			d = sc[i].deadline;
	return d;
}

static int fza_shielded(const fza_scope *sc, int n)
{
	for (int i = 0; i < n; i++)
		if (sc[i].shield)
			return 1;
	return 0;
}

/* What a blocking call of t may return. */
static void fza_task_check_blocking(const fza_task *t, const fza_scope *sc, int nsc, int r,
				    const char *what)
{
	if (r == 0)
		return;
	if (r == -ECANCELED) {
		FZ_CHECK(fza_cancel_allowed(t) && !fza_shielded(sc, nsc),
			 "task %d: %s returned -ECANCELED (cancel_may %d, shielded %d)", t->idx, what,
			 t->cancel_may, fza_shielded(sc, nsc));
		return;
	}
	if (r == -ETIMEDOUT) {
		uint64_t d = fza_task_deadline(sc, nsc), now = fza_now();
		FZ_CHECK(now >= d, "task %d: %s returned -ETIMEDOUT %lld ns before its deadline",
			 t->idx, what, d == UINT64_MAX ? -1ll : (long long)(d - now));
		return;
	}
	FZ_CHECK(0, "task %d: %s returned %d", t->idx, what, r);
}

static void fza_sleep_check(int r, uint64_t before, uint64_t ns, uint64_t deadline,
			    const char *who)
{
	uint64_t now = fza_now();

	if (r == 0) {
		FZ_CHECK(now - before >= ns, "%s: a sleep of %llu ns returned 0 after %llu ns", who,
			 (unsigned long long)ns, (unsigned long long)(now - before));
		FZ_CHECK(deadline >= before + ns || ns == 0,
			 "%s: a sleep of %llu ns returned 0, its deadline came %llu ns before its end",
			 who, (unsigned long long)ns, (unsigned long long)(before + ns - deadline));
	}
}

static void fza_event_check(int r, int was_set, uint64_t gen0, const char *who)
{
	if (r == 0)
		FZ_CHECK(was_set || fza->ev_gen != gen0, "%s: event wait returned 0, never set", who);
}

static int fza_task_fn(void *arg)
{
	fza_task *t = arg;
	fza_scope sc[FZA_MAX_STEPS];
	int nsc = 0, r = 0;
	char who[32];

	snprintf(who, sizeof(who), "task %d", t->idx);
	t->sc = sc;
	t->nsc = &nsc;
	FZ_CHECK(t->started == 0 && t->ended == 0, "%s started again (%d, %d)", who, t->started,
		 t->ended);
	t->started = 1;
	for (int k = 0; k < t->nsteps && r == 0; k++) {
		uint64_t before = fza_now(), gen0 = fza->ev_gen;
		int seq, was;
		void *item;

		t->in_step = k;
		fza_trace("task %d: step %d kind %d arg %u", t->idx, k, t->kind[k], t->arg[k]);
		switch (t->kind[k]) {
		case FS_YIELD:
			corio_yield();
			break;
		case FS_SLEEP:
			r = corio_sleep_ns(t->arg[k]);
			fza_task_check_blocking(t, sc, nsc, r, "sleep");
			fza_sleep_check(r, before, t->arg[k], fza_task_deadline(sc, nsc), who);
			break;
		case FS_QPUT:
			item = fza_item_make(t->idx + 1, &seq);
			r = corio_queue_put(fza->q, item);
			fza_task_check_blocking(t, sc, nsc, r, "queue_put");
			if (r < 0)
				fza_item_failed(t->idx + 1, seq);
			break;
		case FS_QGET:
			r = corio_queue_get(fza->q, &item);
			fza_task_check_blocking(t, sc, nsc, r, "queue_get");
			if (r == 0)
				fza_item_got(t->idx + 1, item);
			break;
		case FS_QTRY:
			if (t->arg[k] & 1) {
				item = fza_item_make(t->idx + 1, &seq);
				r = corio_queue_try_put(fza->q, item);
				FZ_CHECK(r == 0 || r == -EAGAIN, "%s: try_put %d", who, r);
				if (r < 0)
					fza_item_failed(t->idx + 1, seq);
			} else {
				r = corio_queue_try_get(fza->q, &item);
				FZ_CHECK(r == 0 || r == -EAGAIN, "%s: try_get %d", who, r);
				if (r == 0)
					fza_item_got(t->idx + 1, item);
			}
			r = 0;
			break;
		case FS_CHILD: {
			fza_task *c = &fza->t[t->arg[k]];
			c->h = corio_spawn(fza_task_fn, c);
			FZ_CHECK(c->h != NULL, "%s: spawn: errno %d", who, errno);
			c->spawned = 1;
			c->joiner = t;
			r = corio_join(c->h);
			c->joiner = NULL;
			FZ_CHECK(c->ended, "%s: join returned %d, task %d has not ended", who, r, c->idx);
			if ((r == -ECANCELED && fza_cancel_allowed(t) && !fza_shielded(sc, nsc)) ||
			    (r == -ETIMEDOUT && fza_now() >= fza_task_deadline(sc, nsc)))
				; /* t's own interruption (the child's result may be the same) */
			else if (r == c->result)
				r = 0; /* the child's result, whatever it is, is data here */
			else
				fza_task_check_blocking(t, sc, nsc, r, "join");
			break;
		}
		case FS_MUTEX:
		case FS_SEM: {
			/* A critical section around a sleep (or a yield). */
			int mu = t->kind[k] == FS_MUTEX, *holders = mu ? &fza->mu_holders
								       : &fza->sem_holders;
			int cap = mu ? 1 : (int)fza->semn, e;
			uint32_t ns = fza_ns(t->arg[k]);

			r = mu ? corio_mutex_lock(fza->mu) : corio_sem_acquire(fza->sem);
			fza_task_check_blocking(t, sc, nsc, r, mu ? "mutex_lock" : "sem_acquire");
			if (r < 0) {
				/* Nothing taken: a mutex it does not hold. */
				if (mu)
					FZ_CHECK(corio_mutex_unlock(fza->mu) == -EPERM,
						 "%s: unlock after a failed lock is not -EPERM", who);
				break;
			}
			FZ_CHECK(++*holders <= cap, "%s: %d holders of a %s of %d", who, *holders,
				 mu ? "mutex" : "semaphore", cap);
			if (ns) {
				r = corio_sleep_ns(ns);
				fza_task_check_blocking(t, sc, nsc, r, "sleep (holding)");
			} else {
				corio_yield();
			}
			--*holders;
			if (mu) {
				e = corio_mutex_unlock(fza->mu);
				FZ_CHECK(e == 0, "%s: mutex_unlock %d", who, e);
			} else {
				corio_sem_release(fza->sem);
			}
			break;
		}
		case FS_EWAIT:
			was = corio_event_is_set(fza->ev);
			r = corio_event_wait(fza->ev);
			fza_task_check_blocking(t, sc, nsc, r, "event_wait");
			fza_event_check(r, was, gen0, who);
			break;
		case FS_ESET:
			fza->ev_gen++;
			corio_event_set(fza->ev);
			break;
		case FS_DL_PUSH:
			sc[nsc].shield = 0;
			sc[nsc].deadline = before + t->arg[k];
			FZ_CHECK(corio_deadline_push_at(sc[nsc].deadline) == 0, "%s: deadline_push", who);
			nsc++;
			break;
		case FS_SH_PUSH:
			sc[nsc].shield = 1;
			sc[nsc].deadline = UINT64_MAX;
			FZ_CHECK(corio_shield_push() == 0, "%s: shield_push", who);
			nsc++;
			break;
		case FS_DL_POP:
			FZ_CHECK(nsc > 0 && !sc[nsc - 1].shield, "%s: script pops a deadline badly", who);
			r = corio_deadline_pop();
			FZ_CHECK(r == 0 ? before < sc[nsc - 1].deadline : r == -ETIMEDOUT,
				 "%s: deadline_pop returned %d, deadline %+lld ns from the call", who, r,
				 (long long)(sc[nsc - 1].deadline - before));
			if (r == -ETIMEDOUT)
				FZ_CHECK(fza_now() >= sc[nsc - 1].deadline, "%s: early -ETIMEDOUT", who);
			nsc--;
			r = 0; /* the scope's own verdict, not a failure of the task */
			break;
		case FS_SH_POP:
			FZ_CHECK(nsc > 0 && sc[nsc - 1].shield, "%s: script pops a shield badly", who);
			nsc--;
			r = corio_shield_pop();
			FZ_CHECK(r == 0 || (r == -ECANCELED && fza_cancel_allowed(t) &&
					    !fza_shielded(sc, nsc)),
				 "%s: shield_pop %d (cancel allowed %d)", who, r, fza_cancel_allowed(t));
			break;
		}
		fza_trace("task %d: step %d -> %d", t->idx, k, r);
	}
	/* On an error: leave the scopes still pushed, innermost first. */
	while (nsc > 0) {
		nsc--;
		if (sc[nsc].shield) {
			int p = corio_shield_pop();
			FZ_CHECK(p == 0 || p == -ECANCELED, "%s: shield_pop %d", who, p);
		} else {
			int p = corio_deadline_pop();
			FZ_CHECK(p == 0 || p == -ETIMEDOUT, "%s: deadline_pop %d", who, p);
		}
	}
	t->in_step = t->nsteps;
	t->result = r < 0 ? r : t->ret;
	if (t->must_cancel)
		FZ_CHECK(t->result == -ECANCELED || (t->has_deadline && t->result == -ETIMEDOUT),
			 "%s: cancelled with a blocking step ahead, returned %d", who, t->result);
	t->ended = 1;
	t->end_seq = ++fza->seq;
	t->sc = NULL;
	t->nsc = NULL;
	fza_trace("task %d: ends with %d", t->idx, t->result);
	if (t->group && t->result < 0 && t->result != -ECANCELED)
		t->group->failed = 1; /* fail fast: the group cancels the others */
	return t->result;
}

static fza_task *fza_new_task(fza_task *parent);

/* Reads a script. Scopes are well nested (closed at the end), and a shield
 * always comes with a deadline scope inside it, as check.h's
 * SC_SHIELD_DEADLINE: a blocking call that neither cancel nor deadline can
 * end would hang the program (corio_run reports a deadlock). */
static void fza_emit(fza_task *t, int kind, uint32_t arg, int shields)
{
	t->kind[t->nsteps] = (uint8_t)kind;
	t->arg[t->nsteps] = arg;
	t->obs[t->nsteps] = ((kind == FS_SLEEP || kind == FS_QPUT || kind == FS_QGET ||
			      kind == FS_EWAIT || kind == FS_CHILD || kind == FS_MUTEX ||
			      kind == FS_SEM) && shields == 0) ||
			    (kind == FS_SH_POP && shields == 0);
	t->nsteps++;
}

/* Closes the innermost scope (a shield's deadline closes the shield too). */
static void fza_close(fza_task *t, int *stack, int *depth, int *shields)
{
	int top = stack[--*depth];

	fza_emit(t, FS_DL_POP, 0, *shields);
	if (top == 2) { /* the deadline that came with a shield */
		--*depth;
		--*shields;
		fza_emit(t, FS_SH_POP, 0, *shields);
	}
}

static void fza_script(fza_task *t)
{
	fz_in *in = &fza->in;
	int n = (int)(fz_u8(in) % 7), stack[FZA_MAX_STEPS], depth = 0, shields = 0;
	static const int rets[] = { 0, 1, 7, 100, -EIO, -ENOENT, -ECANCELED, 3 };

	t->nsteps = 0;
	for (int k = 0; k < n; k++) {
		unsigned c = fz_u8(in), kind = c % FS_NKINDS, a = c / FS_NKINDS; /* a: the rest */
		uint32_t dl = fza_ns(a);

		switch (kind) {
		case FS_SH_PUSH:
			if (depth > 1) {
				fza_emit(t, FS_YIELD, 0, shields);
				break;
			}
			fza_emit(t, FS_SH_PUSH, 0, shields);
			stack[depth++] = 1;
			shields++;
			fza_emit(t, FS_DL_PUSH, dl, shields);
			stack[depth++] = 2;
			t->has_deadline = 1;
			break;
		case FS_DL_PUSH:
			if (depth > 2) {
				fza_emit(t, FS_YIELD, 0, shields);
				break;
			}
			fza_emit(t, FS_DL_PUSH, dl, shields);
			stack[depth++] = 0;
			t->has_deadline = 1;
			break;
		case FS_DL_POP:
		case FS_SH_POP:
			if (depth)
				fza_close(t, stack, &depth, &shields);
			else
				fza_emit(t, FS_SLEEP, fza_ns(a), shields);
			break;
		case FS_SLEEP:
			fza_emit(t, FS_SLEEP, fza_ns(a), shields);
			break;
		case FS_CHILD: {
			/* A child task (no grandchildren), spawned and joined by t. */
			fza_task *c = t->parent ? NULL : fza_new_task(t);
			if (c)
				fza_emit(t, FS_CHILD, (uint32_t)c->idx, shields);
			else
				fza_emit(t, FS_YIELD, 0, shields);
			break;
		}
		default:
			fza_emit(t, (int)kind, a, shields);
			break;
		}
	}
	while (depth > 0)
		fza_close(t, stack, &depth, &shields);
	t->ret = rets[fz_u8(in) % 8];
}

static fza_task *fza_new_task(fza_task *parent)
{
	fza_task *t;

	if (fza->ntasks == FZA_MAX_TASKS)
		return NULL;
	t = &fza->t[fza->ntasks];
	memset(t, 0, sizeof(*t));
	t->idx = fza->ntasks++;
	t->in_step = -1;
	t->parent = parent;
	fza_script(t);
	return t;
}

/* ------------------------------------------------------------------------
 * The driver
 * ------------------------------------------------------------------------ */

/* The k-th task (mod the count) that passes the filter, or NULL. */
static fza_task *fza_pick(unsigned k, int (*ok)(const fza_task *))
{
	int n = 0;

	for (int i = 0; i < fza->ntasks; i++)
		n += ok(&fza->t[i]);
	if (!n)
		return NULL;
	k %= (unsigned)n;
	for (int i = 0; i < fza->ntasks; i++)
		if (ok(&fza->t[i]) && k-- == 0)
			return &fza->t[i];
	return NULL;
}

static int fza_is_owned(const fza_task *t)
{
	return t->owned;
}

static int fza_has_handle(const fza_task *t)
{
	return t->handle_ok;
}

/* What a blocking call of the driver may return besides `ok`. */
static void fza_driver_check(int r, const char *what)
{
	if (r == -ETIMEDOUT)
		FZ_CHECK(fza_driver_timed_out(), "driver: %s returned -ETIMEDOUT before its deadline",
			 what);
	else
		FZ_CHECK(r == 0, "driver: %s returned %d", what, r);
}

/* After a join-like call returned r for t. */
static void fza_check_joined(const fza_task *t, int r, const char *what)
{
	FZ_CHECK(t->ended == 1, "driver: %s returned %d, task %d has not ended", what, r, t->idx);
	if (r == t->result)
		return;
	FZ_CHECK(r == -ETIMEDOUT && (fza_driver_timed_out() || !strcmp(what, "wait_for")),
		 "driver: %s returned %d, task %d returned %d", what, r, t->idx, t->result);
}

static void fza_group_check_after_wait(fza_group *g, int r)
{
	corio_task_result res[FZA_MAX_TASKS], errs[FZA_MAX_TASKS];
	const fza_task *first = NULL;
	size_t nres, nerr, nfail = 0;

	for (int i = 0; i < g->nmembers; i++) {
		const fza_task *t = &fza->t[g->members[i]];
		FZ_CHECK(t->ended, "group wait returned %d, task %d still runs", r, t->idx);
		if (t->result < 0 && t->result != -ECANCELED) {
			nfail++;
			if (!first || t->end_seq < first->end_seq)
				first = t;
		}
	}
	if (first)
		FZ_CHECK(r == first->result, "group wait returned %d, the first failure was %d (task %d)",
			 r, first->result, first->idx);
	else
		FZ_CHECK(r == 0 || (r == -ETIMEDOUT && fza_driver_timed_out()),
			 "group wait returned %d without a failure", r);
	nres = corio_group_results(g->g, res, FZA_MAX_TASKS);
	FZ_CHECK(nres == (size_t)g->nmembers, "group_results: %zu tasks, %d spawned", nres,
		 g->nmembers);
	for (int i = 0; i < g->nmembers; i++) {
		const fza_task *t = &fza->t[g->members[i]];
		FZ_CHECK(res[i].task == t->h && res[i].result == t->result,
			 "group_results[%d]: %d, task %d returned %d", i, res[i].result, t->idx,
			 t->result);
	}
	nerr = corio_group_errors(g->g, errs, FZA_MAX_TASKS);
	FZ_CHECK(nerr == nfail, "group_errors: %zu, %zu tasks failed", nerr, nfail);
	if (first)
		FZ_CHECK(errs[0].task == first->h && errs[0].result == first->result,
			 "group_errors[0] is %d, the first failure was %d", errs[0].result,
			 first->result);
}

static void fza_group_free(fza_group *g)
{
	for (int i = 0; i < g->nmembers; i++) {
		fza_task *t = &fza->t[g->members[i]];
		if (!t->ended)
			t->cancel_may = 1; /* freed while running: cancelled, detached */
		t->handle_ok = 0;
		t->group = NULL;
	}
	g->live = 0;
	errno = 0;
	corio_group_free(g->g);
	FZ_CHECK(errno == 0, "group_free: errno %d", errno);
	g->g = NULL;
	if (fza->cur_group >= 0 && &fza->grp[fza->cur_group] == g)
		fza->cur_group = -1;
}

static fza_group *fza_group_get(void)
{
	fza_group *g;

	if (fza->cur_group >= 0)
		return &fza->grp[fza->cur_group];
	for (int i = 0; i < FZA_MAX_GROUPS; i++) {
		g = &fza->grp[i];
		if (!g->live && !g->g) {
			memset(g, 0, sizeof(*g));
			g->g = corio_group_new();
			FZ_CHECK(g->g != NULL, "group_new: errno %d", errno);
			g->live = 1;
			fza->cur_group = i;
			return g;
		}
	}
	return NULL;
}

enum fza_op {
	FO_SPAWN, FO_YIELD, FO_SLEEP, FO_CANCEL, FO_JOIN, FO_DETACH, FO_GATHER, FO_WAIT_FOR,
	FO_GSPAWN, FO_GWAIT, FO_GCANCEL, FO_GFREE, FO_QPUT, FO_QGET, FO_QTRY, FO_ESET, FO_EWAIT,
	FO_DL_PUSH, FO_DL_POP, FO_NOPS
};

static void fza_op(void)
{
	fz_in *in = &fza->in;
	unsigned op = fz_u8(in) % FO_NOPS, a = fz_u8(in);
	fza_task *t;
	fza_group *g;
	int r, seq;
	void *item;
	uint64_t before = fza_now(), gen0;

	fza_trace("driver: op %u a %u", op, a);
	switch (op) {
	case FO_SPAWN:
		t = fza_new_task(NULL);
		if (!t)
			break;
		t->h = corio_spawn(fza_task_fn, t);
		FZ_CHECK(t->h != NULL, "spawn: errno %d", errno);
		t->spawned = 1;
		t->owned = t->handle_ok = 1;
		break;
	case FO_YIELD:
		corio_yield();
		break;
	case FO_SLEEP:
		r = corio_sleep_ns(fza_ns(a));
		fza_driver_check(r, "sleep");
		fza_sleep_check(r, before, fza_ns(a), fza_driver_deadline(), "driver");
		break;
	case FO_CANCEL:
		t = fza_pick(a, fza_has_handle);
		if (!t)
			break;
		fza_mark_cancel(t, 1);
		r = corio_cancel(t->h);
		FZ_CHECK(r == 0, "cancel: %d", r);
		break;
	case FO_JOIN:
	case FO_WAIT_FOR:
		t = fza_pick(a, fza_is_owned);
		if (!t)
			break;
		t->driver_pending = 1;
		t->owned = t->handle_ok = 0;
		if (op == FO_JOIN) {
			r = corio_join(t->h);
		} else {
			unsigned ms = fz_u8(in) % 4;
			t->cancel_may = 1; /* wait_for cancels it when its time is up */
			r = corio_wait_for(t->h, ms);
			if (r == -ETIMEDOUT && t->result != -ETIMEDOUT)
				FZ_CHECK(fza_now() >= before + ms * 1000000ull || fza_driver_timed_out(),
					 "wait_for(%u ms) timed out after %llu ns", ms,
					 (unsigned long long)(fza_now() - before));
		}
		t->driver_pending = 0;
		fza_check_joined(t, r, op == FO_JOIN ? "join" : "wait_for");
		break;
	case FO_DETACH:
		t = fza_pick(a, fza_is_owned);
		if (!t)
			break;
		t->owned = t->handle_ok = 0;
		corio_detach(t->h);
		break;
	case FO_GATHER: {
		corio_task *ts[FZA_MAX_TASKS];
		fza_task *who[FZA_MAX_TASKS];
		int results[FZA_MAX_TASKS], n = 0, k = 0, found = 0;
		unsigned mask = fz_u8(in) | fz_u8(in) << 8, flags = a & 1 ? CORIO_GATHER_ALL : 0;

		for (int i = 0; i < fza->ntasks; i++) {
			t = &fza->t[i];
			if (t->owned && (mask >> (k++ % 16) & 1)) {
				ts[n] = t->h;
				who[n++] = t;
			}
		}
		for (int i = 0; i < n; i++) {
			who[i]->driver_pending = 1;
			who[i]->owned = who[i]->handle_ok = 0;
		}
		r = corio_gather(ts, (size_t)n, a & 2 ? results : NULL, flags);
		for (int i = 0; i < n; i++)
			who[i]->driver_pending = 0;
		for (int i = 0; i < n; i++)
			found |= r < 0 && who[i]->ended && who[i]->result == r;
		if (r == -ETIMEDOUT && fza_driver_timed_out() && !(found && !flags)) {
			for (int i = 0; i < n; i++)
				FZ_CHECK(who[i]->ended, "gather timed out, task %d still runs",
					 who[i]->idx);
		} else if (flags || r == 0) {
			FZ_CHECK(r == 0, "gather(flags %u) returned %d", flags, r);
			for (int i = 0; i < n; i++)
				FZ_CHECK(who[i]->ended && (flags || who[i]->result >= 0),
					 "gather returned 0, task %d: ended %d result %d", who[i]->idx,
					 who[i]->ended, who[i]->result);
		} else {
			FZ_CHECK(found, "gather returned %d, no ended task returned that", r);
		}
		for (int i = 0; i < n && (a & 2); i++) {
			if (results[i] == -EINPROGRESS)
				FZ_CHECK(!who[i]->ended && !flags && r < 0,
					 "gather: results[%d] -EINPROGRESS, task %d ended (%d), r %d", i,
					 who[i]->idx, who[i]->result, r);
			else
				FZ_CHECK(who[i]->ended && results[i] == who[i]->result,
					 "gather: results[%d] %d, task %d returned %d (ended %d)", i,
					 results[i], who[i]->idx, who[i]->result, who[i]->ended);
		}
		break;
	}
	case FO_GSPAWN:
		g = fza_group_get();
		if (!g || !(t = fza_new_task(NULL)))
			break;
		t->group = g;
		t->h = corio_group_spawn(g->g, fza_task_fn, t);
		if (g->failed) {
			FZ_CHECK(!t->h && errno == ECANCELED,
				 "group_spawn into a failing group: %p errno %d", (void *)t->h, errno);
			t->group = NULL; /* never ran */
			break;
		}
		FZ_CHECK(t->h != NULL, "group_spawn: errno %d", errno);
		t->spawned = 1;
		t->handle_ok = 1;
		g->members[g->nmembers++] = t->idx;
		break;
	case FO_GWAIT:
		if (fza->cur_group < 0)
			break;
		g = &fza->grp[fza->cur_group];
		g->waiting = 1;
		r = corio_group_wait(g->g);
		g->waiting = 0;
		fza_group_check_after_wait(g, r);
		if (r == 0 && (a & 1))
			break; /* used again */
		fza_group_free(g);
		break;
	case FO_GCANCEL:
		if (fza->cur_group < 0)
			break;
		g = &fza->grp[fza->cur_group];
		g->cancelled = 1;
		for (int i = 0; i < g->nmembers; i++)
			fza_mark_cancel(&fza->t[g->members[i]], 1);
		r = corio_group_cancel(g->g);
		FZ_CHECK(r == 0, "group_cancel: %d", r);
		break;
	case FO_GFREE:
		if (fza->cur_group >= 0)
			fza_group_free(&fza->grp[fza->cur_group]);
		break;
	case FO_QPUT:
		if (fza->attempted[0] >= FZA_MAX_SEQ)
			break;
		item = fza_item_make(0, &seq);
		r = corio_queue_put(fza->q, item);
		fza_driver_check(r, "queue_put");
		if (r < 0)
			fza_item_failed(0, seq);
		break;
	case FO_QGET:
		r = corio_queue_get(fza->q, &item);
		fza_driver_check(r, "queue_get");
		if (r == 0)
			fza_item_got(0, item);
		break;
	case FO_QTRY:
		if ((a & 1) && fza->attempted[0] < FZA_MAX_SEQ) {
			item = fza_item_make(0, &seq);
			r = corio_queue_try_put(fza->q, item);
			FZ_CHECK(r == 0 || r == -EAGAIN, "driver: try_put %d", r);
			if (r < 0)
				fza_item_failed(0, seq);
			if (r == 0 && fza->qcap)
				FZ_CHECK(corio_queue_size(fza->q) <= fza->qcap, "queue over capacity");
		} else {
			r = corio_queue_try_get(fza->q, &item);
			FZ_CHECK(r == 0 || (r == -EAGAIN && corio_queue_size(fza->q) == 0),
				 "driver: try_get %d (size %zu)", r, corio_queue_size(fza->q));
			if (r == 0)
				fza_item_got(0, item);
		}
		break;
	case FO_ESET:
		if (a & 1) {
			fza->ev_gen++;
			corio_event_set(fza->ev);
			FZ_CHECK(corio_event_is_set(fza->ev) == 1, "event not set after set");
		} else {
			corio_event_clear(fza->ev);
			FZ_CHECK(corio_event_is_set(fza->ev) == 0, "event set after clear");
		}
		break;
	case FO_EWAIT: {
		int was = corio_event_is_set(fza->ev);
		gen0 = fza->ev_gen;
		r = corio_event_wait(fza->ev);
		fza_driver_check(r, "event_wait");
		fza_event_check(r, was, gen0, "driver");
		break;
	}
	case FO_DL_PUSH:
		if (fza->ndl > FZA_MAX_DSCOPE)
			break;
		fza->dl[fza->ndl] = before + fza_ns(a);
		FZ_CHECK(corio_deadline_push_at(fza->dl[fza->ndl]) == 0, "driver: deadline_push");
		fza->ndl++;
		break;
	case FO_DL_POP:
		if (fza->ndl <= 1)
			break;
		r = corio_deadline_pop();
		fza->ndl--;
		FZ_CHECK(r == 0 ? before < fza->dl[fza->ndl]
				: r == -ETIMEDOUT && fza_now() >= fza->dl[fza->ndl],
			 "driver: deadline_pop returned %d, deadline %+lld ns from the call", r,
			 (long long)(fza->dl[fza->ndl] - before));
		break;
	}
}

static int fza_main(void *arg)
{
	(void)arg;
	fza->t0 = fza_now();
	fza->dl[0] = fza->t0 + FZA_GUARD_MS * 1000000ull;
	fza->ndl = 1;
	FZ_CHECK(corio_deadline_push_at(fza->dl[0]) == 0, "driver: guard deadline_push");
	for (int k = 0; k < FZA_MAX_OPS && fz_more(&fza->in); k++) {
		if (fza_now() - fza->t0 > FZA_BUDGET_MS * 1000000ull)
			break;
		fza_op();
	}
	/* The end: handles joined, detached or left to corio_run, as chosen. */
	switch (fz_u8(&fza->in) % 3) {
	case 0:
		for (int i = 0; i < fza->ntasks; i++) {
			fza_task *t = &fza->t[i];
			if (!t->owned)
				continue;
			t->owned = t->handle_ok = 0;
			t->driver_pending = 1;
			fza_check_joined(t, corio_join(t->h), "join");
			t->driver_pending = 0;
		}
		break;
	case 1:
		for (int i = 0; i < fza->ntasks; i++)
			if (fza->t[i].owned) {
				fza->t[i].owned = fza->t[i].handle_ok = 0;
				corio_detach(fza->t[i].h);
			}
		break;
	default:
		break; /* left for corio_run to cancel and collect */
	}
	if (fz_u8(&fza->in) & 1)
		for (int i = 0; i < FZA_MAX_GROUPS; i++)
			if (fza->grp[i].live)
				fza_group_free(&fza->grp[i]);
	while (fza->ndl > 0) {
		int r = corio_deadline_pop();
		FZ_CHECK(r == 0 || r == -ETIMEDOUT, "driver: deadline_pop %d", r);
		fza->ndl--;
	}
	fza->main_returned = 1; /* corio_run cancels every task still alive */
	return 7;
}

static int fuzz_api_one(const uint8_t *data, size_t size)
{
	fza_ctx *c = calloc(1, sizeof(*c));
	unsigned first;
	int r;

	FZ_CHECK(c != NULL, "out of memory");
	fza = c;
	c->in = (fz_in){ data, size, 0 };
	c->cur_group = -1;
	first = fz_u8(&c->in);
	c->qcap = first % 4; /* 0: unbounded */
	c->q = corio_queue_new(c->qcap);
	c->ev = corio_event_new();
	c->semn = 1 + (first >> 2) % 3;
	c->mu = corio_mutex_new();
	c->sem = corio_sem_new(c->semn);
	FZ_CHECK(c->q && c->ev && c->mu && c->sem, "queue/event/mutex/sem new: errno %d", errno);

	r = corio_run(fza_main, NULL);
	FZ_CHECK(r == 7, "corio_run returned %d", r);

	for (int i = 0; i < c->ntasks; i++) {
		const fza_task *t = &c->t[i];
		FZ_CHECK(t->started == t->spawned && t->ended == t->spawned,
			 "task %d: spawned %d, started %d, ended %d", i, t->spawned, t->started,
			 t->ended);
	}
	/* Groups the driver left: freed after the loop closed. */
	for (int i = 0; i < FZA_MAX_GROUPS; i++)
		if (c->grp[i].g) {
			errno = 0;
			corio_group_free(c->grp[i].g);
			FZ_CHECK(errno == 0, "group_free after the run: errno %d", errno);
		}
	{
		void *item;
		while (corio_queue_try_get(c->q, &item) == 0)
			fza_item_got(0, item);
	}
	errno = 0;
	corio_queue_free(c->q);
	corio_event_free(c->ev);
	FZ_CHECK(c->mu_holders == 0 && c->sem_holders == 0 && corio_sem_value(c->sem) == (int)c->semn,
		 "after the run: mutex holders %d, semaphore holders %d, %d of %u units free",
		 c->mu_holders, c->sem_holders, corio_sem_value(c->sem), c->semn);
	corio_mutex_free(c->mu);
	corio_sem_free(c->sem);
	FZ_CHECK(errno == 0, "queue/event/mutex/sem free after the run: errno %d", errno);
	fza = NULL;
	free(c);
	return 0;
}

#endif /* CORIO_FUZZ_HARNESS_API_H */
