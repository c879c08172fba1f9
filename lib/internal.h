/*
 * internal.h - what the library's files share and nobody else sees.
 *
 * Names: corio_ is public, corio__ is internal but shared between files,
 * CORIO_ / CORIO__ are macros. Everything here has hidden visibility; tests
 * and benchmarks that link the static library may use it.
 */
#ifndef CORIO_INTERNAL_H
#define CORIO_INTERNAL_H

/* GCC says a sanitizer is on with __SANITIZE_ADDRESS__ / __SANITIZE_THREAD__;
 * clang (before 15 or so) only through __has_feature. The library tests the
 * GCC names, so that a clang sanitizer build announces its stack switches
 * too. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer) && !defined(__SANITIZE_ADDRESS__)
#define __SANITIZE_ADDRESS__ 1
#endif
#if __has_feature(thread_sanitizer) && !defined(__SANITIZE_THREAD__)
#define __SANITIZE_THREAD__ 1
#endif
#endif

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <liburing.h>

#include "corio.h"

#define CORIO__API   __attribute__((visibility("default")))
#define CORIO__LIKELY(x)   __builtin_expect(!!(x), 1)
#define CORIO__UNLIKELY(x) __builtin_expect(!!(x), 0)
#define CORIO__TLS   __thread __attribute__((tls_model("initial-exec")))

/* --------------------------------------------------------------------------
 * Fault injection (fault.c): with -DCORIO_FAULTS (make ... FAULTS=1) each
 * seam can be made to fail; otherwise CORIO__FAULT(seam) is the constant 0.
 * ------------------------------------------------------------------------ */

enum corio__fault_seam {
	CORIO__F_OP = 0,   /* an I/O op fails before it is submitted (-errno) */
	CORIO__F_SHORT,    /* a read/write/recv/send asks for half its length */
	CORIO__F_SQ_FULL,  /* the SQ looks full */
	CORIO__F_STACK,    /* a stack mapping fails */
	CORIO__F_MALLOC,   /* a library allocation fails */
	CORIO__F_THREAD,   /* pthread_create fails */
	CORIO__F_FORK,     /* fork fails */
	CORIO__F_MSG_RING, /* a MSG_RING post is refused */
	CORIO__F_COUNT
};

#ifdef CORIO_FAULTS
/* 0: go on. Otherwise fail: the -errno to inject for CORIO__F_OP, 1 else. */
int         corio__fault_hit(int seam);
/* Fails the nth call from now (0: none); err: what F_OP injects (0: -EAGAIN). */
void        corio__fault_arm(int seam, uint64_t nth, int err);
void        corio__fault_prob(int seam, double p);
void        corio__fault_reset(void);
/* Arms what CORIO_FAULTS says (read once, at the first seam; call again
 * after changing it). */
void        corio__fault_env(void);
uint64_t    corio__fault_calls(int seam);
uint64_t    corio__fault_hits(int seam);
const char *corio__fault_name(int seam);
#define CORIO__FAULT(seam) CORIO__UNLIKELY(corio__fault_hit(seam))
#define CORIO__FAULT_VAL(seam) corio__fault_hit(seam)
#else
#define CORIO__FAULT(seam) 0
#define CORIO__FAULT_VAL(seam) 0
#endif

/* The library's allocations, each a seam. */
#include <stdlib.h>
static inline void *corio__malloc(size_t n)
{
	if (CORIO__FAULT(CORIO__F_MALLOC)) {
		errno = ENOMEM;
		return NULL;
	}
	return malloc(n);
}
static inline void *corio__calloc(size_t n, size_t size)
{
	if (CORIO__FAULT(CORIO__F_MALLOC)) {
		errno = ENOMEM;
		return NULL;
	}
	return calloc(n, size);
}
static inline void *corio__realloc(void *p, size_t n)
{
	if (CORIO__FAULT(CORIO__F_MALLOC)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, n);
}

/* --------------------------------------------------------------------------
 * Contexts (ctx.c, arch/switch_*.S)
 * ------------------------------------------------------------------------ */

typedef struct corio__ctx {
	void *sp; /* saved stack pointer; the frame below it is in arch/frame_*.h */
} corio__ctx;

void corio__ctx_switch(corio__ctx *from, const corio__ctx *to);
void corio__ctx_trampoline(void);
/* Builds the first frame of a context on [lo, hi) that will call entry(arg). */
void corio__ctx_make(corio__ctx *c, void *lo, void *hi, void (*entry)(void *), void *arg);

/* --------------------------------------------------------------------------
 * Stacks (stack.c)
 *
 * Every stack is [lo, hi) with a guard page just below lo. Stacks of the
 * loop's default size come from slabs (one mapping holds several stacks, so
 * a million stacks do not need a million mappings) and are pooled; other
 * sizes get a mapping of their own.
 * ------------------------------------------------------------------------ */

struct corio__slab;

typedef struct corio__stack {
	char                *lo, *hi;     /* usable range */
	struct corio__slab  *slab;        /* NULL: a mapping of its own */
	struct corio__stack *next_free;   /* pool link */
	struct corio__stack *prev_free;
	unsigned             vg_id;       /* valgrind stack id */
} corio__stack;

typedef struct corio__stack_pool {
	size_t               size;        /* default usable size, page multiple */
	size_t               page;
	size_t               guard;       /* guard bytes below each stack */
	corio__stack        *free;        /* LIFO: the warmest stack first */
	size_t               nfree;
	size_t               nmapped;     /* stacks mapped, pooled or in use */
	struct corio__slab  *slabs;       /* every slab, for teardown */
	struct corio__slab  *fresh;       /* the slab new stacks are cut from */
	int                  guard_kind;  /* 1 MADV_GUARD_INSTALL, 2 mprotect */
} corio__stack_pool;

int           corio__stack_pool_init(corio__stack_pool *p, size_t size);
void          corio__stack_pool_fini(corio__stack_pool *p);
corio__stack *corio__stack_get(corio__stack_pool *p, size_t size);
void          corio__stack_put(corio__stack_pool *p, corio__stack *s);
void          corio__stack_pool_trim(corio__stack_pool *p);
/* Installs the SIGSEGV handler that names overflowing tasks, and an
 * alternate signal stack for this thread. Idempotent. */
int           corio__overflow_handler_install(void);
/* Guard region under each stack. MADV_GUARD_INSTALL guards cost neither
 * memory nor mappings, so the guard is several pages: a frame must be
 * larger than this to jump over it unnoticed. */
#define CORIO__GUARD_BYTES (16 * 1024)
/* Tests: use the mprotect fallback from now on, as on kernels before 6.13. */
void          corio__stack_force_mprotect(void);
/* 0 not yet known, 1 MADV_GUARD_INSTALL, 2 mprotect. */
int           corio__stack_guard_kind(void);
void          corio__overflow_handler_thread_fini(void);

/* --------------------------------------------------------------------------
 * Timers (timer.c): a 4-ary min-heap of deadlines, O(log n) insert/remove.
 * ------------------------------------------------------------------------ */

typedef struct corio__timer {
	uint64_t deadline; /* CLOCK_MONOTONIC ns */
	uint32_t idx;      /* position in the heap; CORIO__TIMER_IDLE when not armed */
} corio__timer;

#define CORIO__TIMER_IDLE UINT32_MAX

typedef struct corio__heap_ent {
	uint64_t      deadline; /* copied here so sifting never touches the timer */
	corio__timer *t;
} corio__heap_ent;

typedef struct corio__heap {
	corio__heap_ent *v;
	uint32_t         n, cap;
} corio__heap;

int           corio__heap_push(corio__heap *h, corio__timer *t);
void          corio__heap_remove(corio__heap *h, corio__timer *t);
corio__timer *corio__heap_pop_due(corio__heap *h, uint64_t now);
static inline uint64_t corio__heap_next(const corio__heap *h)
{
	return h->n ? h->v[0].deadline : UINT64_MAX;
}
void corio__heap_free(corio__heap *h);

/* --------------------------------------------------------------------------
 * The process pool's wire format (procpool.c, where the format is
 * described): the checks of both sides as pure functions, which the pool
 * uses and tests/fuzz/ drives without processes.
 * ------------------------------------------------------------------------ */

/* Worker: checks a request header {u64 fn, u64 inlen, u64 outcap}. 0 with
 * the three set, or -EPROTO (fn NULL, a length above CORIO_PROC_MAX_IO:
 * the worker exits and the parent sees -EPIPE). */
int  corio__pp_req_parse(const uint64_t h[3], uint64_t *fn, size_t *inlen, size_t *outcap);
/* Worker: the response header {i64 result, u64 outlen} for fn's return r
 * with an out buffer of outcap bytes (r > outcap: -ENOBUFS, no bytes). */
void corio__pp_resp_make(ssize_t r, size_t outcap, int64_t *result, uint64_t *outlen);
/* Both: iovecs v[0..1] for what is left of a header + body message after
 * `done` bytes went out; returns how many it filled. */
int  corio__pp_rest_of_message(struct iovec *v, const void *hdr, size_t hdrlen,
			       const void *body, size_t bodylen, size_t done);

/* Parent: receiving one response into out[0, outcap). Per recvmsg: fill
 * the iovecs with corio__pp_rx_iov, receive, then corio__pp_rx_advance
 * with the byte count (> 0, at most what the iovecs hold): 1 when the
 * response is complete (rx->result is the job's result; out holds that
 * many bytes when it is >= 0), 0 when more is to come, -EPIPE when the
 * worker broke the protocol (an outlen above outcap or disagreeing with
 * the result, or more bytes than announced). */
typedef struct corio__pp_rx {
	uint64_t h[2];    /* the header, as it arrives */
	size_t   got;     /* bytes received */
	size_t   need;    /* bytes of the whole response, once the header is in */
	int64_t  result;
} corio__pp_rx;
void corio__pp_rx_init(corio__pp_rx *rx);
int  corio__pp_rx_iov(corio__pp_rx *rx, struct iovec *v, void *out, size_t outcap);
int  corio__pp_rx_advance(corio__pp_rx *rx, size_t n, size_t outcap);

/* --------------------------------------------------------------------------
 * Wait records
 *
 * A task that suspends keeps one of these on its own stack and points
 * t->wait at it. Whoever ends the wait (a completion, a timer, a task
 * ending, a cancel) calls corio__wake with the result. A wait of kind OP is
 * an io_uring operation in flight: its address is the SQE's user_data, and
 * it ends only when that operation's own CQE arrives.
 * ------------------------------------------------------------------------ */

enum corio__wait_kind {
	CORIO__W_PLAIN = 0, /* woken by another task or a timer */
	CORIO__W_OP    = 1, /* an io_uring op; ends only with its CQE */
	CORIO__W_THREAD = 2, /* work on a pool thread; ends only when it is done */
	CORIO__W_XCALL = 3,  /* a task on another loop; ends only when it ended */
};

/* What a task waits on, for the task dump. */
enum corio__wait_what {
	CORIO__WHY_SLEEP = 0, CORIO__WHY_JOIN, CORIO__WHY_GATHER, CORIO__WHY_GROUP,
	CORIO__WHY_EVENT, CORIO__WHY_MUTEX, CORIO__WHY_SEM, CORIO__WHY_COND,
	CORIO__WHY_QUEUE_PUT, CORIO__WHY_QUEUE_GET, CORIO__WHY_DRAIN, CORIO__WHY_OP,
	CORIO__WHY_THREAD, CORIO__WHY_PROC, CORIO__WHY_XCALL, CORIO__WHY_COUNT
};

typedef struct corio__wait corio__wait;
struct corio__wait {
	corio_task   *task;
	uint8_t       kind;
	uint8_t       interrupted;  /* OP: async cancel submitted */
	uint8_t       woken;
	uint8_t       shielded;     /* cancels leave it alone (a shield scope) */
	uint8_t       drain;        /* internal wait to the end: no cancel, no deadline */
	uint8_t       what;         /* CORIO__WHY_* */
	int32_t       res;
	int32_t       timer_res;    /* result when the timer fires (0 for sleep) */
	int32_t       interrupt_res;/* OP: result to report after an interrupt */
	corio__timer  timer;
	/* Unlinks the wait from whatever list holds it, before a cancel or a
	 * timeout ends it. NULL when there is nothing to unlink. */
	void        (*unlink)(corio__wait *w);
	void         *ctx;          /* the object waited on */
	corio__wait  *next, *prev;  /* in the object's list of waiters */
	void         *item;         /* queue: the item handed over */
	int32_t       fd;           /* OP: the fd it works on, or -1 (l->fd_pending) */
};

/* A FIFO of wait records (sync objects keep their waiters in one). */
typedef struct corio__wq {
	corio__wait *head, *tail;
	size_t       n;
} corio__wq;

/* sync.c: append, remove; corio__wq_unlink is the `unlink` callback of a
 * wait whose ctx is its FIFO. */
void corio__wq_push(corio__wq *q, corio__wait *w);
void corio__wq_remove(corio__wq *q, corio__wait *w);
void corio__wq_unlink(corio__wait *w);

/* --------------------------------------------------------------------------
 * Scopes (scope.c): per-task deadline and shield scopes, innermost first.
 * Each records the effective state at its level, so the innermost one
 * answers "what applies now" without a walk.
 * ------------------------------------------------------------------------ */

#define CORIO__NO_DEADLINE UINT64_MAX

typedef struct corio__scope corio__scope;
struct corio__scope {
	corio__scope *outer;
	uint64_t      own;       /* this scope's deadline (deadline scopes) */
	uint64_t      deadline;  /* effective deadline here; CORIO__NO_DEADLINE */
	uint8_t       shield;    /* a shield is in effect here */
	uint8_t       is_shield; /* this scope is a shield */
};

/* --------------------------------------------------------------------------
 * Work done on other threads (mailbox.c)
 *
 * A task hands a job to another thread and waits with job->w set; the
 * thread calls corio__xjob_post when done, and the loop wakes the task. A
 * task that stops waiting (cancel, deadline) sets job->w to NULL: the loop
 * then calls job->release when the job arrives, or the posting thread does
 * if the loop is gone.
 * ------------------------------------------------------------------------ */

/* user_data values that name no wait record (wait records are 8-aligned) */
#define CORIO__UD_IGNORE  ((uint64_t)1) /* async cancels: nobody waits */
#define CORIO__UD_MAILBOX ((uint64_t)2) /* the mailbox's eventfd poll */
#define CORIO__UD_XJOB    ((uint64_t)4) /* tag: a job posted by MSG_RING (ptr | 4) */
#define CORIO__UD_XMSG    ((uint64_t)5) /* tag: a message from a loop, by MSG_RING */
#define CORIO__UD_XSENT   ((uint64_t)6) /* tag: our MSG_RING carrying a message, done */

typedef struct corio__loop corio__loop;
typedef struct corio__mailbox corio__mailbox;
typedef struct corio__xjob corio__xjob;
struct corio__xjob {
	corio__xjob    *next;
	corio__mailbox *mbox;
	corio__wait    *w;                   /* loop thread only */
	void          (*release)(corio__xjob *j); /* frees an abandoned job */
	uint8_t         xmsg;                /* a message between loops (xloop.c) */
};

/* Loop side, before handing j to its thread: 0 or -errno. */
int  corio__xjob_start(corio__loop *l, corio__xjob *j);
/* Thread side: n finished jobs of one mailbox, in one go: by MSG_RING
 * through src when src is not NULL and the kernel takes it, else on the
 * list with one eventfd write. Returns false if MSG_RING was refused. */
bool corio__xjob_post_batch(corio__xjob **js, unsigned n, struct io_uring *src);
/* Jobs of j's loop still in flight, j included (a hint: read racily). */
unsigned corio__mailbox_jobs(const corio__xjob *j);
/* Loop side: a job that arrived by MSG_RING. */
void corio__xjob_arrived(corio__loop *l, corio__xjob *j);

/* The thread pool (pool.c): runs j->run(j) on a worker, then posts j. */
typedef struct corio__pjob corio__pjob;
struct corio__pjob {
	corio__xjob x;                  /* first */
	void      (*run)(corio__pjob *j);
};
/* Starts the pool if needed and queues j on the loop l (handed to the pool
 * by corio__pool_flush): 0, -EAGAIN (no worker could start), or a
 * corio__xjob_start error. */
int  corio__pool_submit(corio__loop *l, corio__pjob *j);
/* Once per loop turn, before waiting: the loop's pending jobs to the pool. */
void corio__pool_flush(corio__loop *l);
void corio__pool_drop_pending(corio__loop *l);
/* Tests: every started worker has finished its own setup (its ring); true
 * when the pool has not started. */
bool corio__pool_settled(void);
/* Takes j back if no worker has it yet (pending on l, or queued): true
 * then, and the caller must call corio__xjob_withdrawn. */
bool corio__pool_withdraw(corio__loop *l, corio__pjob *j);
void corio__xjob_withdrawn(corio__loop *l, corio__xjob *j);
void corio__mailbox_ready(corio__loop *l);
/* At loop close: stop posts first, then (after the last CQEs were reaped)
 * close. */
void corio__mailbox_shut(corio__loop *l);
void corio__mailbox_close(corio__loop *l);

/*
 * Messages between loops (xloop.c carries them in mailboxes). A message is
 * a corio__xjob with xmsg set, on the target's list or in a MSG_RING CQE
 * tagged CORIO__UD_XMSG.
 */
corio__mailbox *corio__mailbox_new(void);   /* NULL, errno set */
void corio__mailbox_unref(corio__mailbox *mb);
/* Makes l take messages: through mb (a group's) or a mailbox of its own. */
int  corio__mailbox_open(corio__loop *l, corio__mailbox *mb);
/* Sends m to `to`, from loop `from` (by MSG_RING through its ring) or from
 * no loop (NULL: the list). fresh: a new post or call, refused once the
 * target stops taking them. 0 or -ESHUTDOWN. */
int  corio__mailbox_send(corio__loop *from, corio__mailbox *to, corio__xjob *m, bool fresh);
/* Our MSG_RING carrying m completed with res. */
void corio__mailbox_sent(corio__loop *l, corio__xjob *m, int res);
/* A message arrived by MSG_RING: account for it before handling it. */
void corio__xmsg_taken(corio__loop *l);
/* Main returned: new posts and calls are refused from now on. */
void corio__mailbox_refuse_new(corio__loop *l);
/* No message can arrive any more: true, and the mailbox is closed to all. */
bool corio__mailbox_quiet(corio__loop *l);
/* Messages are on their way to or from l. */
bool corio__mailbox_expecting(const corio__loop *l);
/* Wakes mb's loop (a turn, nothing else) unless it is gone. */
void corio__mailbox_poke(corio__mailbox *mb);
/* A loop that will never run: refuse what waits for it, and all to come. */
void corio__mailbox_abandon(corio__mailbox *mb);
/* xloop.c: a message for l; one that will never be handled. */
void corio__xmsg_arrived(corio__loop *l, corio__xjob *m);
void corio__xmsg_refuse(corio__xjob *m);

/* The loops of one corio_run_loops. */
typedef struct corio__lgroup {
	int              n;
	unsigned         running;   /* atomic: loops not yet ended */
	corio__mailbox **mb;        /* one per loop, made before any loop runs */
} corio__lgroup;
corio__lgroup *corio__lgroup_new(int n);
void corio__lgroup_free(corio__lgroup *g);
/* Loop l of g ended: the others re-check whether anything can wake them. */
void corio__lgroup_left(corio__lgroup *g, int index);
/* Another loop of l's group may still message it. */
bool corio__lgroup_others(const corio__loop *l);

/* --------------------------------------------------------------------------
 * Tasks
 * ------------------------------------------------------------------------ */

#define CORIO__TASK_MAGIC 0x636f7269u /* "cori" */
#define CORIO__TASK_DEAD  0xdeadc0deu

enum corio__task_state {
	CORIO__T_READY   = 1,
	CORIO__T_RUNNING = 2,
	CORIO__T_WAITING = 3,
	CORIO__T_DONE    = 4,
};

typedef struct corio__loop corio__loop;
typedef struct corio__gather corio__gather;

struct corio_task {
	corio__ctx      ctx;          /* first: the switch stores sp here */
	uint32_t        magic;
	uint8_t         state;
	uint8_t         cancelled;    /* sticky: every blocking call fails */
	uint8_t         released;     /* the handle was consumed (detach/join/gather) */
	uint8_t         observed;     /* someone will see the result: no "never joined" report */
	int             result;
	int           (*fn)(void *);
	void           *arg;
	corio__loop    *loop;
	corio__stack   *stack;
	corio_task     *next_ready;
	corio__wait    *wait;         /* current wait record, on this task's stack */
	corio__wait    *joiner;       /* a join waiting for this task to end */
	corio__gather  *gather;       /* a gather waiting for this task */
	corio_group    *group;        /* the group owning this task */
	size_t          slot;         /* index in its gather or group */
	corio__scope   *scope;        /* innermost deadline/shield scope */
	corio_task     *prev_alive, *next_alive; /* the loop's alive list */
	uint64_t        id;
	uint64_t        run_start;    /* debug: when it was last switched in */
	size_t          stack_peak;   /* debug: high-water mark at its end */
#if defined(__SANITIZE_ADDRESS__)
	void           *asan_fake;
#endif
#if defined(__SANITIZE_THREAD__)
	void           *tsan_fiber;
#endif
	char            name[32];
};

struct corio__gather {
	corio__wait  w;
	size_t       remaining;
	int         *results;
	int          first_err;
	bool         all;          /* wait for every task (CORIO_GATHER_ALL or draining) */
};

/* --------------------------------------------------------------------------
 * The loop (loop.c)
 * ------------------------------------------------------------------------ */

typedef struct corio__task_chunk corio__task_chunk;

struct corio__loop {
	struct io_uring   ring;
	unsigned          ring_flags;
	corio__ctx        sched;        /* the thread's own stack: the loop turn */
	corio_task       *current;
	corio_task       *ready_head, *ready_tail;
	unsigned          budget;       /* handoffs left before the loop must poll */
	unsigned          batch;
	corio_task       *alive;        /* every task not yet ended */
	size_t            nalive;
	corio_task       *main;
	corio__stack     *dying_stack;  /* a finished task's stack, released by the next context */
	corio__heap       timers;
	corio__stack_pool stacks;
	corio__task_chunk *chunks;      /* task memory, freed at close */
	corio_task       *task_free;    /* free task structs */
	corio_task       *quar_head, *quar_tail; /* debug: freed, not yet reusable */
	size_t            nquar;
	corio__scope     *scope_free;   /* free scope records */
	void             *scope_chunks; /* scope memory, freed at close */
	struct corio__obj *objs;        /* groups and sync objects made on this loop */
	corio__loop      *reg_next, *reg_prev; /* the process's list of loops */
	unsigned          inflight;     /* ops submitted, CQE not yet reaped */
	unsigned          external;     /* jobs on other threads that will post back */
	corio__mailbox   *mbox;         /* where those threads post (lazily made) */
	corio__pjob      *pend_head, *pend_tail; /* jobs for the pool, not yet handed over */
	uint32_t         *fd_pending;   /* ops in flight per fd, so close knows */
	size_t            nfd_pending;  /* entries in fd_pending */
	bool              fd_untracked; /* fd_pending could not grow: assume busy */
	uint32_t         *fixed_free;   /* free slots of the registered-file table */
	unsigned          nfixed_free;
	unsigned          nfixed_slots; /* the registered-file table's size */
	bool              files_registered;
	bool              bufs_registered;
	bool              mbox_armed;   /* its eventfd poll is in the ring */
	bool              no_msg_ring;  /* the kernel refused MSG_RING: messages by list */
	unsigned          xsent;        /* our MSG_RINGs carrying messages, not yet done */
	corio__lgroup    *group;        /* corio_run_loops: the loops it runs with */
	uint64_t          next_id;
	int               index;
	bool              debug;
	bool              memcheck;    /* under valgrind memcheck: the ring wait is sliced */
	bool              closing;
	bool              deadlocked;
	uint64_t          trim_at;      /* next stack pool trim, ns */
	uint64_t          deadlock_switches;
	uint64_t          slow_ns;      /* debug: slow-task threshold */
	corio_stats       st;
#if defined(__SANITIZE_ADDRESS__)
	const void       *asan_main_bottom;
	size_t            asan_main_size;
	void             *asan_main_fake;
#endif
#if defined(__SANITIZE_THREAD__)
	void             *tsan_main_fiber;
	void             *dying_fiber;
#endif
};

extern CORIO__TLS corio__loop *corio__tls_loop;

static inline corio__loop *corio__loop_get(void) { return corio__tls_loop; }

uint64_t corio__clock_ns(void);

/* 1 when running under valgrind memcheck (asked once; io.c). */
int corio__under_memcheck(void);

/* Task plumbing shared by task.c, loop.c and gather.c. */
/* Suspends the running task until someone makes it ready again. */
void corio__suspend(corio__loop *l);
/* Waits on w (already filled in) until woken; deadline 0 = none. Returns w->res. */
int  corio__block(corio__loop *l, corio__wait *w, uint64_t deadline);
void corio__wake(corio__loop *l, corio__wait *w, int res);
/* Ends a wait early with res (-ECANCELED or -ETIMEDOUT): unlinks a plain
 * wait and wakes it; for an op, submits an async cancel and lets the op's
 * own CQE end the wait. */
void corio__interrupt(corio__loop *l, corio__wait *w, int res);
void corio__task_release(corio__loop *l, corio_task *t);
/* Checks a handle from the caller: 0 or -EINVAL / -EXDEV. */
int  corio__task_check(corio__loop *l, const corio_task *t);
/* The loop's entry into a new task and out of a finished one. */
void corio__task_entry(void *arg);
/* Gets an SQE, flushing the SQ to the kernel if it is full. NULL only if
 * the ring is broken. */
struct io_uring_sqe *corio__sqe(corio__loop *l);
/* The last switch of a finished task: its stack goes to the next context. */
_Noreturn void corio__switch_exit(corio__loop *l, corio_task *dead, corio_task *to);
/* Ends task t with result r: wakes its joiner or gather, never returns. */
_Noreturn void corio__task_finish(corio__loop *l, corio_task *t, int r);
void corio__task_free_if_released(corio__loop *l, corio_task *t);
void corio__gather_child_done(corio__loop *l, corio_task *t);
corio_task *corio__spawn(corio__loop *l, int (*fn)(void *), void *arg, const corio_spawn_attr *attr);
/* Frees all task memory at loop close; counts handles never consumed. */
void corio__task_chunks_free(corio__loop *l, size_t *unjoined);
/* xloop.c: a cross-loop call's wait was interrupted (cancel, deadline). */
void corio__xcall_interrupt(corio__loop *l, corio__wait *w);
/* Cancels t (not ended, not yet cancelled): marks it and interrupts its
 * wait unless a shield scope protects it. */
void corio__cancel_task(corio__loop *l, corio_task *t);
/* A task ended with a failure nobody will see: say so (every mode). */
void corio__report_unobserved(corio__loop *l, corio_task *t);
void corio__group_child_done(corio__loop *l, corio_task *t);

/* Scopes (scope.c). */
void corio__scopes_drop(corio__loop *l, corio_task *t);
void corio__scope_chunks_free(corio__loop *l);

/*
 * 0 when the running task t may block now; -ECANCELED or -ETIMEDOUT when a
 * blocking call must fail at once, before it takes or links anything.
 */
static inline int corio__may_block(corio_task *t)
{
	const corio__scope *s = t->scope;

	if (CORIO__LIKELY(!s))
		return t->cancelled ? -ECANCELED : 0;
	if (t->cancelled && !s->shield)
		return -ECANCELED;
	if (s->deadline != CORIO__NO_DEADLINE && corio__clock_ns() >= s->deadline)
		return -ETIMEDOUT;
	return 0;
}

/* Groups and sync objects made while a loop runs are listed on it, so that
 * debug mode can report the ones never freed, and so that none keeps a
 * pointer to a closed loop. */
enum corio__obj_kind {
	CORIO__OBJ_GROUP = 0, CORIO__OBJ_EVENT, CORIO__OBJ_MUTEX, CORIO__OBJ_SEM,
	CORIO__OBJ_COND, CORIO__OBJ_QUEUE, CORIO__OBJ_COUNT
};
typedef struct corio__obj {
	struct corio__obj *prev, *next;
	corio__loop       *home;
	uint32_t           magic;
	uint8_t            kind;
	uint8_t            made_here; /* made while its loop ran: reported if never freed */
} corio__obj;
#define CORIO__OBJ_MAGIC 0x636f6f62u /* "coob" */
void corio__obj_init(corio__obj *o, int kind);
/* Lists o on l if it is on no loop yet. */
void corio__obj_bind(corio__obj *o, corio__loop *l);
void corio__group_loop_closed(corio_group *g);
void corio__obj_fini(corio__obj *o);
/* At loop close: reports (debug) and unlists every object still alive. */
void corio__objs_close(corio__loop *l);

/* Debug mode and diagnostics (debug.c). */
void corio__debug_switch(corio__loop *l, corio_task *from, corio_task *to);
void corio__debug_task_start(corio__loop *l, corio_task *t);
void corio__debug_task_end(corio__loop *l, corio_task *t);
int  corio__debug_loop_init(corio__loop *l);
void corio__debug_loop_fini(corio__loop *l);
int  corio__dump(corio__loop *l, int fd);
const char *corio__errname(int err);

/* --------------------------------------------------------------------------
 * The hot path, inline: yield, suspend and wake go through these on every
 * switch, so the compiler must see them whole.
 * ------------------------------------------------------------------------ */

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif
#include "probes.h"

static inline void corio__ready_push(corio__loop *l, corio_task *t)
{
	t->state = CORIO__T_READY;
	t->next_ready = NULL;
	if (l->ready_tail)
		l->ready_tail->next_ready = t;
	else
		l->ready_head = t;
	l->ready_tail = t;
}

/* The next task to run this turn, or NULL: back to the loop. */
static inline corio_task *corio__pick_next(corio__loop *l)
{
	corio_task *t = l->ready_head;

	if (!t || l->budget == 0)
		return NULL;
	l->budget--;
	l->ready_head = t->next_ready;
	if (!l->ready_head)
		l->ready_tail = NULL;
	return t;
}

/* Releases what a finished task could not release while running on it,
 * from any other context: the loop's turn, the next task to end, spawn, a
 * new task's first instruction, the next suspension (its slow path: the
 * switch itself never looks). */
void corio__reap_dying(corio__loop *l);

/*
 * What every switch does before the registers move: record who runs, count,
 * fire the probe, and tell the sanitizers which stack becomes live. `fake`
 * is where ASan keeps the leaving context's fake stack, NULL when that
 * context ends for good. Returns the context to load: `to`'s, or the loop's
 * own when `to` is NULL.
 */
static inline const corio__ctx *corio__switch_begin(corio__loop *l, uint64_t from_id,
						    void **fake, corio_task *to)
{
	l->current = to;
	if (to)
		to->state = CORIO__T_RUNNING;
	l->st.switches++;
	CORIO__PROBE2(switch, from_id, to ? to->id : 0);
#if defined(__SANITIZE_ADDRESS__)
	__sanitizer_start_switch_fiber(fake, to ? (const void *)to->stack->lo : l->asan_main_bottom,
				       to ? (size_t)(to->stack->hi - to->stack->lo) : l->asan_main_size);
#else
	(void)fake;
#endif
#if defined(__SANITIZE_THREAD__)
	__tsan_switch_to_fiber(to ? to->tsan_fiber : l->tsan_main_fiber, 0);
#endif
	return to ? &to->ctx : &l->sched;
}

/*
 * Switches from the running context to task `to`, or to the loop's own
 * context when `to` is NULL; `from` NULL means the loop is switching.
 */
static inline void corio__switch(corio__loop *l, corio_task *from, corio_task *to)
{
	corio__ctx *fc = from ? &from->ctx : &l->sched;
#if defined(__SANITIZE_ADDRESS__)
	void **fake = from ? &from->asan_fake : &l->asan_main_fake;
#else
	void **fake = NULL;
#endif

	if (CORIO__UNLIKELY(l->debug))
		corio__debug_switch(l, from, to);
	corio__ctx_switch(fc, corio__switch_begin(l, from ? from->id : 0, fake, to));
#if defined(__SANITIZE_ADDRESS__)
	__sanitizer_finish_switch_fiber(*fake, NULL, NULL);
#endif
}

#endif /* CORIO_INTERNAL_H */
