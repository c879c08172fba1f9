/*
 * corio.h - asyncio's programming model in C, on io_uring.
 *
 * One header, in sections. Every function follows one error convention:
 * a return value >= 0 is success, a negative value is -errno. Functions that
 * return a pointer return NULL and set errno instead.
 *
 * Every "blocking" call below suspends only the calling task, never the
 * thread, and can fail with -ECANCELED (the task was cancelled) and, once
 * deadline scopes exist, -ETIMEDOUT. Called outside a running loop, a
 * blocking call fails with -EPERM.
 */
#ifndef CORIO_H
#define CORIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CORIO_VERSION_MAJOR 0
#define CORIO_VERSION_MINOR 1
#define CORIO_VERSION_PATCH 0

/* ------------------------------------------------------------------------
 * Opaque types
 *
 * Every object corio hands out is opaque and owned by exactly one loop (one
 * thread). Handles are never shared across loops.
 * ------------------------------------------------------------------------ */

typedef struct corio_task     corio_task;
typedef struct corio_group    corio_group;
typedef struct corio_event    corio_event;
typedef struct corio_mutex    corio_mutex;
typedef struct corio_sem      corio_sem;
typedef struct corio_cond     corio_cond;
typedef struct corio_queue    corio_queue;
typedef struct corio_procpool corio_procpool;

/* ------------------------------------------------------------------------
 * Running a loop
 *
 * corio_run() is asyncio.run(): it makes an event loop (one io_uring) on the
 * calling thread, runs main(arg) as the loop's first task, and returns when
 * main has returned and every other task has ended. Tasks still alive when
 * main returns are cancelled, and corio_run waits for them. There is at most
 * one loop per thread; a loop never migrates.
 *
 * corio_run_config() is the same with explicit settings. A zeroed
 * corio_config means "all defaults"; the environment variable CORIO_DEBUG=1
 * also turns debug checks on.
 * ------------------------------------------------------------------------ */

/* corio_config.flags */
#define CORIO_CFG_NO_DEFER_TASKRUN (1u << 0) /* do not use SINGLE_ISSUER/DEFER_TASKRUN */
#define CORIO_CFG_NO_COOP_TASKRUN  (1u << 1) /* do not use COOP_TASKRUN */
#define CORIO_CFG_NO_REGISTER_FD   (1u << 2) /* do not register the ring fd */
#define CORIO_CFG_QUIET            (1u << 3) /* no diagnostic line on setup failure */
#define CORIO_CFG_DEBUG            (1u << 4) /* debug checks, as CORIO_DEBUG=1 */

typedef struct corio_config {
	size_t   stack_size;   /* default task stack, bytes; 0 = 64 KiB */
	unsigned sq_entries;   /* submission queue size; 0 = 256 */
	unsigned cq_entries;   /* completion queue size; 0 = 4 * sq_entries */
	unsigned batch;        /* tasks run per loop turn before I/O is polled; 0 = 128 */
	unsigned flags;        /* CORIO_CFG_* */
} corio_config;

/*
 * Returns main's result, or -errno when the loop could not start:
 *   -EBUSY   this thread already runs a loop
 *   -EINVAL  main is NULL, or the config is out of range
 *   -ENOMEM, -EPERM, -ENOSYS
 *            io_uring could not be set up; one line on stderr names the
 *            likely cause (memlock limit, kernel.io_uring_disabled, seccomp)
 */
int corio_run(int (*main)(void *), void *arg);
int corio_run_config(const corio_config *cfg, int (*main)(void *), void *arg);

/* Loop index for multi-loop programs; 0 for a loop made by corio_run, -1
 * outside any loop. */
int corio_loop_index(void);

/* Monotonic time in nanoseconds, the clock every corio timeout uses. */
uint64_t corio_now_ns(void);

/* Per-loop counters. corio_loop_stats() fills *st for the calling thread's
 * loop; -EPERM outside a loop, -EINVAL for NULL. */
typedef struct corio_stats {
	uint64_t tasks_spawned;   /* tasks created */
	uint64_t tasks_alive;     /* tasks not yet ended */
	uint64_t switches;        /* context switches */
	uint64_t turns;           /* loop turns */
	uint64_t submits;         /* SQEs submitted */
	uint64_t completions;     /* CQEs reaped */
	uint64_t syscalls;        /* io_uring_enter calls */
	uint64_t timers_fired;    /* timer expiries */
	uint64_t stacks_mapped;   /* stacks currently mapped (pooled or in use) */
	unsigned ring_flags;      /* IORING_SETUP_* the ring was made with */
	unsigned guard_kind;      /* 1 = MADV_GUARD_INSTALL, 2 = mprotect */
} corio_stats;

int corio_loop_stats(corio_stats *st);

/* ------------------------------------------------------------------------
 * Tasks
 *
 * A task is a function int fn(void *arg) running on its own stack. It is
 * started by corio_spawn (asyncio.create_task): queued FIFO, it first runs
 * when the spawning task next suspends. The handle returned must be consumed
 * exactly once, by corio_join, corio_detach, corio_gather or corio_wait_for.
 *
 * A task "raises" by returning a negative -errno. Calling a task's function
 * directly (not spawned) is the equivalent of "await f()".
 *
 * Cancellation is a request: the task is not stopped, but its current
 * blocking call and every later one return -ECANCELED. Unlike asyncio, a
 * task cancelled before it started still runs: C has no finally, and its
 * argument may own resources only the task knows how to release.
 * ------------------------------------------------------------------------ */

typedef struct corio_spawn_attr {
	size_t      stack_size; /* 0 = the loop's default */
	const char *name;       /* NULL = "task-<id>" */
} corio_spawn_attr;

/* NULL with errno: EPERM outside a loop, EINVAL fn NULL or stack size
 * absurd (> 1 GiB), ENOMEM no memory for the task or its stack. */
corio_task *corio_spawn(int (*fn)(void *), void *arg);
corio_task *corio_spawn_ex(int (*fn)(void *), void *arg, const corio_spawn_attr *attr);

/*
 * Waits for t to end and returns its result; the handle is released.
 *   -EINVAL   t is NULL or not a live handle (already joined or detached)
 *   -EXDEV    t belongs to another loop
 *   -EDEADLK  t is the calling task
 *   -EBUSY    another task is already waiting for t
 *   -EPERM    called outside a loop (t is left alone)
 *   -ECANCELED the caller was cancelled: t is cancelled too (as asyncio does),
 *             the caller waits until t has ended, and the handle is released
 */
int corio_join(corio_task *t);

/* Releases the handle; the task runs on and is freed when it ends. */
void corio_detach(corio_task *t);

/*
 * Requests cancellation. 0 on success, also for a task that already ended;
 * -EINVAL for NULL or a released handle; -EXDEV from another loop.
 */
int corio_cancel(corio_task *t);

/* Moves the calling task to the back of the ready queue (asyncio.sleep(0)).
 * Outside a loop it does nothing. */
void corio_yield(void);

/* Sleep; 0 when the time has passed, -ECANCELED, -EPERM outside a loop.
 * A zero duration yields. */
int corio_sleep_ms(uint64_t ms);
int corio_sleep_ns(uint64_t ns);

/* The running task, or NULL outside a task. */
corio_task *corio_current(void);

/* Copies name (truncated to 31 bytes). 0, or -EINVAL for NULL arguments. */
int         corio_task_set_name(corio_task *t, const char *name);
/* The task's name; never NULL for a live handle ("" for a bad one). */
const char *corio_task_name(const corio_task *t);
/* A loop-unique id, > 0; 0 for NULL. */
uint64_t    corio_task_id(const corio_task *t);

/* ------------------------------------------------------------------------
 * Gather
 *
 * corio_gather is asyncio.gather over already-spawned tasks. It takes
 * ownership of all n handles, whatever it returns.
 *
 * flags 0: returns 0 once all tasks returned >= 0, or as soon as one returns
 * < 0, with that value; the unfinished tasks keep running, detached, and
 * their results[] slots hold -EINPROGRESS.
 * CORIO_GATHER_ALL (return_exceptions=True): waits for every task and
 * returns 0; each result, error or not, is in results[].
 *
 * results may be NULL; otherwise it has n slots, filled in task order.
 * Errors: -EINVAL (ts NULL with n > 0, a NULL or released handle: nothing is
 * consumed then), -EXDEV, -EDEADLK (the caller is among ts), -EPERM outside a
 * loop, -ECANCELED (the caller was cancelled: every unfinished task is
 * cancelled and gather returns once all have ended).
 * ------------------------------------------------------------------------ */

#define CORIO_GATHER_ALL (1u << 0)

int corio_gather(corio_task **ts, size_t n, int *results, unsigned flags);

#ifdef __cplusplus
}
#endif

#endif /* CORIO_H */
