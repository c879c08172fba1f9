/*
 * corio.h - asyncio's programming model in C, on io_uring.
 *
 * One header, in sections. Every function follows one error convention:
 * a return value >= 0 is success, a negative value is -errno. Functions that
 * return a pointer return NULL and set errno instead.
 *
 * Every "blocking" call below suspends only the calling task, never the
 * thread, and can fail with -ECANCELED (the task was cancelled, outside a
 * shield scope) and -ETIMEDOUT (a deadline scope of the task passed). Called
 * outside a running loop, a blocking call fails with -EPERM.
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
 * also turns debug mode on (see "Debugging" below).
 * ------------------------------------------------------------------------ */

/* corio_config.flags */
#define CORIO_CFG_NO_DEFER_TASKRUN (1u << 0) /* do not use SINGLE_ISSUER/DEFER_TASKRUN */
#define CORIO_CFG_NO_COOP_TASKRUN  (1u << 1) /* do not use COOP_TASKRUN */
#define CORIO_CFG_NO_REGISTER_FD   (1u << 2) /* do not register the ring fd */
#define CORIO_CFG_QUIET            (1u << 3) /* no diagnostic line on setup failure */
#define CORIO_CFG_DEBUG            (1u << 4) /* debug mode, as CORIO_DEBUG=1 */

typedef struct corio_config {
	size_t   stack_size;   /* default task stack, bytes; 0 = 64 KiB */
	unsigned sq_entries;   /* submission queue size; 0 = 256 */
	unsigned cq_entries;   /* completion queue size; 0 = 4 * sq_entries */
	unsigned batch;        /* tasks run per loop turn before I/O is polled; 0 = 128 */
	unsigned flags;        /* CORIO_CFG_* */
	unsigned slow_task_ms; /* debug mode: report a task that runs this long
	                          without suspending; 0 = CORIO_SLOW_TASK_MS from
	                          the environment, else 100 */
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

/*
 * Runs nloops loops, one thread each (0 = one per core; the calling thread
 * runs loop 0), each running main(arg) as its first task, and returns when
 * all have ended: 0 when every main returned 0, else the first error (in
 * time). A task never moves between loops; corio_loop_index() tells which
 * loop it is on. -EINVAL for main NULL or nloops outside 0..1024, -EBUSY on
 * a thread that already runs a loop. If a loop's thread cannot be started,
 * the others still run and the result is -EAGAIN.
 */
int corio_run_loops(int nloops, int (*main)(void *), void *arg);

/* Loop index for multi-loop programs: 0 for a loop made by corio_run, the
 * loop's number under corio_run_loops, -1 outside any loop. */
int corio_loop_index(void);

/* Loops that run together: n under corio_run_loops(n), 1 under corio_run,
 * 0 outside any loop. */
int corio_loop_count(void);

/*
 * Cross-loop calls (asyncio's run_coroutine_threadsafe between loops). The
 * work travels, the caller's task never moves: the message goes by
 * IORING_OP_MSG_RING from this loop's ring into the target's (or by its
 * eventfd where the kernel has no MSG_RING). `loop` is an index of this
 * group, 0 <= loop < corio_loop_count(); the caller's own index works too.
 *
 * corio_loop_post: fn(arg) runs as a new task on that loop (it may block);
 * this call does not wait. When it returns 0, fn runs exactly once, even if
 * the target's main returns meanwhile (then as a task born cancelled). Posts
 * from one loop to another start in the order they were made.
 *   -EPERM      outside a loop
 *   -EINVAL     fn NULL, or no such loop
 *   -ESHUTDOWN  that loop's main has returned: it takes no new work
 *   -ENOMEM
 *
 * corio_loop_call: spawns fn(arg) as a task on that loop and suspends the
 * calling task until it has ended; returns fn's result. If the caller is
 * cancelled or its deadline passes, the task on the other loop is
 * cancelled (or, not started yet, never runs) and the call returns
 * -ECANCELED / -ETIMEDOUT only after that task ended, so fn may use memory
 * on the caller's stack (fn's own result is then not reported).
 *   -EPERM      outside a task
 *   -EINVAL     fn NULL, or no such loop
 *   -ESHUTDOWN  that loop's main has returned before the task could start
 *   -ECANCELED, -ETIMEDOUT, -ENOMEM
 */
int corio_loop_post(int loop, void (*fn)(void *arg), void *arg);
int corio_loop_call(int loop, int (*fn)(void *arg), void *arg);

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
 * exactly once, by corio_join, corio_detach, corio_gather or corio_wait_for
 * (tasks of a group are the group's: see corio_group_spawn).
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
 *   -EBUSY    another task is already waiting for t, or t belongs to a group
 *   -EPERM    called outside a loop (t is left alone)
 *   -ECANCELED the caller was cancelled: t is cancelled too (as asyncio does),
 *             the caller waits until t has ended, and the handle is released
 *             (if t ended on its own before the caller resumed, its result is
 *             returned instead: no result is lost)
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
 * consumed then), -EXDEV, -EDEADLK (the caller is among ts), -EBUSY (a task
 * is waited on or belongs to a group), -EPERM outside a loop, -ECANCELED (the caller was cancelled: every unfinished task is
 * cancelled and gather returns once all have ended).
 * ------------------------------------------------------------------------ */

#define CORIO_GATHER_ALL (1u << 0)

int corio_gather(corio_task **ts, size_t n, int *results, unsigned flags);

/* ------------------------------------------------------------------------
 * Task groups (asyncio.TaskGroup)
 *
 * A group owns the tasks spawned into it: their handles stay valid (for
 * corio_cancel, corio_task_name, the result listings below) until
 * corio_group_free, and must not be joined, detached or gathered (-EBUSY).
 *
 * Fail fast: the first task of the group to return a negative value other
 * than -ECANCELED makes the group cancel every other task of it at once, and
 * that value becomes the group's error. (-ECANCELED is not a failure: a
 * task that was cancelled and says so does not abort its siblings, as
 * CancelledError does not in asyncio.) While a group is failing, spawning
 * into it fails with ECANCELED.
 *
 * A group may be used again after corio_group_wait returned 0. Groups nest:
 * a task of one group may make, fill and wait on another.
 * ------------------------------------------------------------------------ */

/* NULL with errno ENOMEM. A group can be made before corio_run; it binds to
 * the loop of its first task. */
corio_group *corio_group_new(void);

/* Spawns fn(arg) into g and returns its task (owned by g), or NULL with
 * errno: EINVAL g or fn NULL, EPERM outside a loop, EXDEV g has tasks on
 * another loop, ECANCELED g is failing, ENOMEM. */
corio_task  *corio_group_spawn(corio_group *g, int (*fn)(void *), void *arg);
corio_task  *corio_group_spawn_ex(corio_group *g, int (*fn)(void *), void *arg,
				  const corio_spawn_attr *attr);

/*
 * Waits until every task of g has ended. Returns 0 when none failed, else
 * the first failure. If the waiter is cancelled or its deadline passes, it
 * cancels every task of g, waits until all have ended, and returns the
 * group's first failure if there was one, else -ECANCELED or -ETIMEDOUT.
 *   -EINVAL  g is NULL   -EPERM outside a task   -EXDEV another loop's group
 *   -EBUSY   another task already waits on g
 *   -EDEADLK the caller is itself a task of g
 */
int          corio_group_wait(corio_group *g);

/* Cancels every task of g that has not ended (does not wait). 0, or
 * -EINVAL / -EXDEV / -EPERM. The tasks' -ECANCELED results are not
 * failures. */
int          corio_group_cancel(corio_group *g);

/* One task of a group and how it ended. */
typedef struct corio_task_result {
	corio_task *task;   /* valid until corio_group_free */
	int         result; /* fn's result; -EINPROGRESS while it runs */
} corio_task_result;

/* The ExceptionGroup. corio_group_results lists every task of g in spawn
 * order; corio_group_errors lists the failures (result < 0, except
 * -ECANCELED) in the order they happened, so errors[0] is what
 * corio_group_wait returned. Both fill at most cap entries of out (out may
 * be NULL when cap is 0) and return the total count. */
size_t       corio_group_results(corio_group *g, corio_task_result *out, size_t cap);
size_t       corio_group_errors(corio_group *g, corio_task_result *out, size_t cap);

/* Frees g and every ended task of it. Tasks still running are cancelled and
 * left to end on their own (debug mode reports them). If a task waits on g
 * in corio_group_wait, nothing is freed and errno is set to EBUSY. NULL is a
 * no-op. */
void         corio_group_free(corio_group *g);

/* ------------------------------------------------------------------------
 * Timeouts and shields (asyncio.wait_for, asyncio.timeout, asyncio.shield)
 *
 * A deadline scope covers the calling task from push to pop: every blocking
 * call made inside it returns -ETIMEDOUT once the deadline has passed (an
 * I/O operation in flight is cancelled first and the call returns after its
 * completion arrived). Scopes nest; the nearest deadline wins, so an inner
 * scope can shorten but never extend an outer one.
 *
 *     corio_deadline_push(50);
 *     r = fetch(...);              // any number of blocking calls
 *     if (corio_deadline_pop() == -ETIMEDOUT) ... // this scope expired
 *
 * A shield scope defers cancellation: inside it, blocking calls ignore
 * corio_cancel (and the deadlines of the scopes outside the shield), so
 * cleanup I/O can run after a cancel. Deadlines pushed inside the shield
 * still apply: shield, then push a deadline, to bound the cleanup. After
 * the shield is popped the pending cancellation takes effect again.
 *
 * Scopes are strictly nested, per task; pop the kind you pushed. Scopes a
 * task leaves pushed when it ends are dropped (debug mode reports them).
 * ------------------------------------------------------------------------ */

/* t's result if it ends within ms milliseconds; otherwise cancels t, waits
 * until it has ended and returns -ETIMEDOUT. Consumes t in every case except
 * -EINVAL/-EXDEV/-EBUSY/-EDEADLK/-EPERM (the corio_join errors). If the
 * caller is cancelled meanwhile, t is cancelled too and -ECANCELED returned
 * once t has ended. */
int corio_wait_for(corio_task *t, uint64_t ms);

/* Push a deadline ms milliseconds from now, or at the absolute time
 * deadline_ns of corio_now_ns(). 0, -EPERM outside a task, -ENOMEM. */
int corio_deadline_push(uint64_t ms);
int corio_deadline_push_at(uint64_t deadline_ns);
/* Pops the innermost scope, which must be a deadline scope (-EINVAL
 * otherwise, nothing popped). Returns -ETIMEDOUT when that scope's own
 * deadline has passed, else 0. */
int corio_deadline_pop(void);

/* 0, -EPERM outside a task, -ENOMEM. */
int corio_shield_push(void);
/* Pops the innermost scope, which must be a shield (-EINVAL otherwise).
 * Returns -ECANCELED when the task was cancelled (now or while shielded and
 * no shield remains), else 0. */
int corio_shield_pop(void);

/* ------------------------------------------------------------------------
 * Synchronization within one loop (asyncio.Event, Lock, Semaphore,
 * Condition, Queue)
 *
 * The objects may be made before corio_run; while tasks wait on one, it
 * belongs to their loop (other loops get -EXDEV). Waiters are served in
 * FIFO order. Every blocking call below fails with -ECANCELED after the
 * caller was cancelled (outside a shield) and -ETIMEDOUT after its deadline
 * passed, without taking anything: a cancelled corio_queue_get loses no
 * item, a cancelled corio_mutex_lock holds no lock. Blocking calls return
 * -EPERM outside a task, -EINVAL for NULL.
 *
 * Freeing an object that tasks wait on (or a mutex that is held) is refused:
 * nothing is freed and errno is set to EBUSY. NULL is a no-op.
 * ------------------------------------------------------------------------ */

/* Event: a flag tasks can wait for. new: NULL with errno ENOMEM. */
corio_event *corio_event_new(void);
/* Returns 0 once the event is set (at once if it is). */
int  corio_event_wait(corio_event *e);
/* Sets the flag and wakes every waiter. */
void corio_event_set(corio_event *e);
void corio_event_clear(corio_event *e);
/* 1 if set, 0 if not, -EINVAL for NULL. */
int  corio_event_is_set(const corio_event *e);
void corio_event_free(corio_event *e);

/* Mutex: not recursive; unlock hands it straight to the longest waiter. */
corio_mutex *corio_mutex_new(void);
/* 0 when held; -EDEADLK if the caller holds it already. */
int  corio_mutex_lock(corio_mutex *m);
/* Never blocks: 0, or -EBUSY when another task holds it. */
int  corio_mutex_trylock(corio_mutex *m);
/* 0, or -EPERM when the caller does not hold m. */
int  corio_mutex_unlock(corio_mutex *m);
void corio_mutex_free(corio_mutex *m);

/* Semaphore with n units, bounded by n (asyncio.BoundedSemaphore). */
corio_sem *corio_sem_new(unsigned n);
int  corio_sem_acquire(corio_sem *s);
/* Never blocks: 0, or -EAGAIN when no unit is free. */
int  corio_sem_try_acquire(corio_sem *s);
/* Gives a unit back (to the longest waiter if any). Releasing more than
 * were acquired is refused: errno is set to EOVERFLOW. */
void corio_sem_release(corio_sem *s);
/* Free units now, or -EINVAL. */
int  corio_sem_value(const corio_sem *s);
void corio_sem_free(corio_sem *s);

/* Condition variable, used with a corio_mutex the caller holds. */
corio_cond *corio_cond_new(void);
/* Unlocks m, waits for a signal, locks m again. m is held again when it
 * returns, whatever it returns (re-locking ignores cancellation, as
 * asyncio's Condition.wait does): 0 when signalled, -ECANCELED,
 * -ETIMEDOUT, -EPERM when the caller does not hold m. Wakeups can be
 * spurious from the caller's point of view: wait in a loop on the
 * predicate. */
int  corio_cond_wait(corio_cond *c, corio_mutex *m);
/* Wake the longest waiter / every waiter. */
void corio_cond_signal(corio_cond *c);
void corio_cond_broadcast(corio_cond *c);
void corio_cond_free(corio_cond *c);

/* FIFO queue of pointers. capacity 0 means unbounded. */
corio_queue *corio_queue_new(size_t capacity);
/* Blocks while the queue is full. 0, -ENOMEM (unbounded queue). */
int    corio_queue_put(corio_queue *q, void *item);
/* Blocks while the queue is empty; *item gets the oldest item. */
int    corio_queue_get(corio_queue *q, void **item);
/* Never block, need no task: -EAGAIN when full / empty (QueueFull,
 * QueueEmpty), -EINVAL for NULL. */
int    corio_queue_try_put(corio_queue *q, void *item);
int    corio_queue_try_get(corio_queue *q, void **item);
/* Items in the queue now (0 for NULL). */
size_t corio_queue_size(const corio_queue *q);
/* The items still queued are the caller's: drain them first. */
void   corio_queue_free(corio_queue *q);

/* ------------------------------------------------------------------------
 * Debugging
 *
 * In every mode, a task that ended with an error (other than -ECANCELED)
 * nobody could observe (detached, or never joined before the loop closed)
 * is reported on stderr:
 *     corio: task 'fetch' failed with -EIO (Input/output error) and was never joined
 *
 * Debug mode (CORIO_DEBUG=1, or CORIO_CFG_DEBUG) adds, on stderr:
 *   - slow tasks: a task that ran more than slow_task_ms (100) without
 *     suspending, with its name and time, e.g. a blocking call in a task;
 *   - the tasks still alive when main returned, before they are cancelled;
 *   - at loop close: handles never consumed, groups and sync objects never
 *     freed, scopes left pushed;
 *   - tasks that used more than 3/4 of their stack (the stack high-water
 *     mark, also readable with corio_task_stack_peak);
 *   - the task dump below on SIGQUIT (unless the program handles SIGQUIT).
 * Off, it costs one predictable branch per switch.
 * ------------------------------------------------------------------------ */

/* Writes every task of the calling thread's loop to fd: id, name, state,
 * what it waits on, and the backtrace of its stack (symbolized with
 * dladdr; link with -rdynamic to see static symbols). 0, -EPERM outside a
 * loop, or a write error. tools/corio-gdb.py does the same from gdb, for a
 * live process or a core file. */
int    corio_dump_tasks(int fd);

/* Bytes of its stack t has touched (its high-water mark): measured in debug
 * mode, where every task starts on a clean stack; 0 otherwise or for a bad
 * handle. For an ended task, the figure at its end. */
size_t corio_task_stack_peak(const corio_task *t);

/* ------------------------------------------------------------------------
 * Files (aiofiles)
 *
 * Each call is one io_uring operation; the calling task suspends until it
 * completes. Arguments mirror POSIX; results are >= 0 or -errno. Every call
 * here can also fail with -ECANCELED and -ETIMEDOUT: an operation in flight
 * is then cancelled, and the call returns only after the kernel is done
 * with its buffers. If the operation completed anyway, its real result
 * (bytes moved, a new fd) is returned instead and the next blocking call
 * reports the cancel: no data is lost. -EPERM outside a task.
 *
 * off = -1 means the file position (read(2)/write(2), which advance it);
 * any other offset is pread/pwrite. Transfers are capped at 0x7ffff000
 * bytes per call, as read(2) caps them: check the count.
 * ------------------------------------------------------------------------ */

struct statx;
struct iovec;

/* O_CLOEXEC is always added. One difference from open(2), io_uring's: a
 * FIFO with no peer is opened without waiting for one (O_RDONLY succeeds at
 * once, O_WRONLY fails with -ENXIO), as with O_NONBLOCK. */
int     corio_open(const char *path, int flags, mode_t mode);
int     corio_openat(int dirfd, const char *path, int flags, mode_t mode);
ssize_t corio_read(int fd, void *buf, size_t n, int64_t off);
ssize_t corio_write(int fd, const void *buf, size_t n, int64_t off);
ssize_t corio_readv(int fd, const struct iovec *iov, int iovcnt, int64_t off);
ssize_t corio_writev(int fd, const struct iovec *iov, int iovcnt, int64_t off);
int     corio_fsync(int fd);
int     corio_fdatasync(int fd);
/* statx(2): dirfd, path, AT_* flags, STATX_* mask. */
int     corio_statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *st);
/*
 * Closes fd in every case (never -ECANCELED: that would leak it). It first
 * cancels every corio operation other tasks still have pending on fd, which
 * io_uring would otherwise keep running after the close. Outside a task it
 * is close(2).
 */
int     corio_close(int fd);

/* Reads the whole file into a malloc'd buffer (*data, NUL-terminated; free
 * it) and returns its length. -EFBIG if it is larger than max bytes (0 =
 * 1 GiB), or any error of open/statx/read. */
ssize_t corio_read_file(const char *path, void **data, size_t max);
/* Writes all n bytes, looping over short writes (off = -1: at the file
 * position). Returns n, or the error that stopped it; *written (may be
 * NULL) gets the bytes written in either case, also on -ETIMEDOUT. */
ssize_t corio_write_all(int fd, const void *buf, size_t n, int64_t off, size_t *written);

/* ------------------------------------------------------------------------
 * Sockets (asyncio streams)
 *
 * The same rules as files. Sockets are made with SOCK_CLOEXEC; sends use
 * MSG_NOSIGNAL (a vanished peer is -EPIPE, never SIGPIPE). A recv that was
 * cancelled leaves the socket usable.
 * ------------------------------------------------------------------------ */

int     corio_socket(int domain, int type, int protocol);
int     corio_connect(int fd, const struct sockaddr *addr, socklen_t len);
/* The new socket has SOCK_CLOEXEC; addr may be NULL. */
int     corio_accept(int fd, struct sockaddr *addr, socklen_t *len);
ssize_t corio_recv(int fd, void *buf, size_t n, int flags);
ssize_t corio_send(int fd, const void *buf, size_t n, int flags);
ssize_t corio_recvmsg(int fd, struct msghdr *msg, int flags);
ssize_t corio_sendmsg(int fd, const struct msghdr *msg, int flags);
/* Sends all n bytes, looping over short sends. Returns n or the error that
 * stopped it; *sent (may be NULL) gets the bytes sent in either case, so a
 * deadline tells how far it got. */
ssize_t corio_send_all(int fd, const void *buf, size_t n, int flags, size_t *sent);
int     corio_shutdown(int fd, int how);
/* Waits until fd is ready for events (POLLIN, POLLOUT, ...) and returns the
 * revents: lets non-blocking third-party code (a database client, TLS) run
 * in a task. */
int     corio_poll(int fd, short events);

/*
 * A listening TCP socket on host:port, with SO_REUSEADDR. host NULL or ""
 * means 127.0.0.1; "0.0.0.0" or "::" listen on every interface; names are
 * resolved as corio_dial_tcp does. Port 0 picks a free port (see
 * corio_local_port). backlog <= 0 means SOMAXCONN. Returns the fd.
 * CORIO_LISTEN_REUSEPORT adds SO_REUSEPORT (one listener per loop).
 */
#define CORIO_LISTEN_REUSEPORT (1u << 0)
int     corio_listen_tcp(const char *host, uint16_t port, int backlog);
int     corio_listen_tcp_ex(const char *host, uint16_t port, int backlog, unsigned flags);
/*
 * A connected TCP socket (TCP_NODELAY set). Numeric addresses (IPv4, IPv6)
 * connect at once; names are resolved with getaddrinfo on the thread pool,
 * without blocking the loop, and each address is tried in turn. -ENOENT for
 * an unknown name, else the last connect error (-ECONNREFUSED, ...).
 */
int     corio_dial_tcp(const char *host, uint16_t port);
/* The local port of a bound socket, or -errno. */
int     corio_local_port(int fd);

/* ------------------------------------------------------------------------
 * Fast paths for heavy users: registered files and buffers
 *
 * Both belong to the calling thread's loop (-EPERM outside one).
 *
 * corio_register_file(fd) puts fd into the loop's table of registered files
 * (4096 slots) and returns a handle, an int with CORIO_FIXED_FILE_BIT set,
 * that every I/O call above accepts in place of the fd: the kernel then
 * skips looking the file up on each operation. The table holds its own
 * reference: the original fd may be closed. corio_close(handle) (or
 * corio_unregister_file) removes it. -ENFILE when the table is full.
 *
 * corio_register_buffers pins memory once (io_uring_register_buffers) so
 * reads and writes into it skip mapping the pages on each operation; buf
 * and n of corio_read_fixed/corio_write_fixed must lie within buffer
 * buf_index (-EFAULT otherwise). One set per loop: -EBUSY if one is
 * registered; the locked-memory limit applies (-ENOMEM).
 * ------------------------------------------------------------------------ */

#define CORIO_FIXED_FILE_BIT 0x40000000
int     corio_register_file(int fd);
int     corio_unregister_file(int handle);
int     corio_register_buffers(const struct iovec *iov, unsigned n);
int     corio_unregister_buffers(void);
ssize_t corio_read_fixed(int fd, void *buf, size_t n, int64_t off, unsigned buf_index);
ssize_t corio_write_fixed(int fd, const void *buf, size_t n, int64_t off, unsigned buf_index);

/* ------------------------------------------------------------------------
 * Offload: the thread pool (asyncio.to_thread) and process pools
 * (run_in_executor with a ProcessPoolExecutor)
 * ------------------------------------------------------------------------ */

/*
 * Runs fn(arg) on a worker thread of the process's thread pool and returns
 * fn's result; only the calling task waits, the loop runs on. fn must not
 * call corio (it runs on no loop). The pool is shared by every loop and
 * started on first use, with CORIO_THREADS workers (default: the number of
 * cores, at least 4) unless corio_threads_set() said otherwise; its queue is
 * bounded (4096 jobs): past that, jobs wait on their loop, in order. An
 * idle worker (one at a time) watches the queue for CORIO_THREADS_SPIN_US
 * microseconds (default 50, yielding the CPU meanwhile; 0 turns it off)
 * before it sleeps, so a job that comes soon needs no wake-up.
 *
 * Cancellation and deadlines cannot interrupt fn, and fn may use memory on
 * the caller's stack (arg often points there): a cancelled corio_to_thread
 * returns -ECANCELED (or -ETIMEDOUT) only after fn has returned, and fn's
 * result is then lost. A call cancelled while still queued (no worker has
 * taken it) is withdrawn and returns at once; fn never runs. -EPERM
 * outside a task, -EINVAL for fn NULL, -EAGAIN if no worker thread could be
 * started.
 */
int corio_to_thread(int (*fn)(void *), void *arg);

/* Sets the number of pool workers before the pool starts: 0, -EINVAL for
 * n < 1 or n > 1024, -EBUSY once it has started. */
int corio_threads_set(int n);

/*
 * Process pools. corio_procpool_new forks `workers` processes (0 = number
 * of cores) when it is called; each is joined to the parent by a socketpair
 * and runs jobs one at a time, in a clean state (no loop, no ring: a child
 * never touches the parent's ring). A job is a function pointer, valid in
 * the child because it runs the same program image, plus bytes in; it
 * returns an ssize_t and bytes out:
 *
 *     ssize_t fn(const void *in, size_t inlen, void *out, size_t outcap);
 *
 * fn returns how many bytes of out it filled (<= outcap) or -errno.
 * corio_run_in_process sends the job to an idle worker (jobs queue in order
 * when all are busy), waits without blocking the loop, copies the output
 * into out and returns fn's result.
 *   -EMSGSIZE  inlen above CORIO_PROC_MAX_IO (64 MiB)
 *   -ENOBUFS   fn claimed more than outcap bytes (nothing is copied)
 *   -EPIPE     the worker died running the job (crash, kill): it is
 *              replaced and the pool keeps working
 *   -ECANCELED, -ETIMEDOUT: a job not yet started is withdrawn; a running
 *              one's worker is killed and replaced (fn cannot be
 *              interrupted any other way); returns once that is done
 *   -EINVAL    pool or fn NULL, in NULL with inlen > 0, out NULL with
 *              outcap > 0, or a pool being freed; -EPERM outside a task;
 *              -EXDEV while another loop has jobs in flight on the pool
 *   -ENOMEM    the worker could not allocate its buffers
 *   -EAGAIN, -ENOMEM (fork's errors) when a dead worker could not be
 *              replaced yet; the next job tries again
 * outcap above CORIO_PROC_MAX_IO is clamped (fn is told the clamped size).
 * In a worker, fn sees only fds 0-2, default signal handlers (SIGINT and
 * SIGQUIT ignored: Ctrl-C is the parent's), an 8 MiB stack, and corio calls
 * return -EPERM. After answering, a worker polls for its next job for
 * CORIO_PROC_SPIN_US microseconds (default 50, yielding the CPU meanwhile;
 * 0 = never) before it sleeps: back-to-back jobs then skip a wakeup. Workers die with the thread that made the pool (they are
 * replaced on demand if the pool outlives it).
 * corio_procpool_free waits for the jobs in flight (inside a task), then
 * stops and reaps every worker: no zombies, no fds left. If another loop has
 * jobs in flight it refuses (errno EBUSY). NULL is a no-op.
 * corio_procpool_new(0) makes one worker per core. NULL with errno EINVAL
 * (workers < 0 or > 256), ENOMEM, or fork's error.
 */
#define CORIO_PROC_MAX_IO ((size_t)64 << 20)
typedef ssize_t (*corio_proc_fn)(const void *in, size_t inlen, void *out, size_t outcap);
corio_procpool *corio_procpool_new(int workers);
ssize_t corio_run_in_process(corio_procpool *p, corio_proc_fn fn, const void *in, size_t inlen,
			     void *out, size_t outcap);
void    corio_procpool_free(corio_procpool *p);

#ifdef __cplusplus
}
#endif

#endif /* CORIO_H */
