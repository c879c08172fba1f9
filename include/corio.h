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
 * main has returned and every other task has ended. There is at most one
 * loop per thread; a loop never migrates. corio_run_config() is the same
 * with explicit settings; corio_run_loops() runs several loops, one thread
 * each, which hand each other work with corio_loop_post() and
 * corio_loop_call().
 * ------------------------------------------------------------------------ */

/*= corio_run, corio_run_config - run an event loop on the calling thread
 *
 * corio_run() is asyncio.run(): it makes an event loop (one io_uring) on
 * the calling thread, runs main(arg) as the loop's first task (named
 * "main"), and returns when main has returned and every other task has
 * ended. Tasks still alive when main returns are cancelled, and corio_run
 * waits for them; tasks spawned after that start out cancelled. There is
 * at most one loop per thread; a loop never migrates.
 *
 * corio_run_config() is the same with explicit settings. cfg may be NULL;
 * a zeroed corio_config means "all defaults", and each field left 0 takes
 * the default its comment names. The config is out of range when
 * stack_size is above 1 GiB, sq_entries above 32768, cq_entries above
 * 131072 or, when not 0, below the submission queue size, or flags holds a
 * bit that is not a CORIO_CFG_* flag. batch is how many tasks run, each
 * handing the CPU straight to the next, before the loop submits and reaps
 * I/O and fires timers: a task that keeps yielding cannot starve I/O.
 *
 * The flags:
 *
 * - CORIO_CFG_NO_DEFER_TASKRUN: do not set the ring up with
 *   IORING_SETUP_SINGLE_ISSUER and IORING_SETUP_DEFER_TASKRUN.
 * - CORIO_CFG_NO_COOP_TASKRUN: do not use IORING_SETUP_COOP_TASKRUN.
 * - CORIO_CFG_NO_REGISTER_FD: do not register the ring's own fd (a
 *   registered ring fd saves a file lookup per io_uring_enter(2)).
 * - CORIO_CFG_QUIET: print no diagnostic line when io_uring cannot be set
 *   up.
 * - CORIO_CFG_DEBUG: debug mode, as CORIO_DEBUG=1 (see ENVIRONMENT and the
 *   "Debugging" section of corio(7)).
 *
 * The loop tries the most capable ring setup first (SINGLE_ISSUER with
 * DEFER_TASKRUN, then SINGLE_ISSUER with COOP_TASKRUN, then COOP_TASKRUN
 * alone, then none of them), skipping what the flags forbid, and falls back
 * to the next while the kernel refuses the parameters.
 *
 * RETURN VALUE
 * main's result, once the loop has ended. corio_run does not interpret it:
 * a negative result of main is returned as it is. Otherwise -errno: the
 * loop could not start, or it deadlocked.
 *
 * When io_uring cannot be set up, one line on stderr names the error and
 * its likely cause, unless CORIO_CFG_QUIET is set; other errors of
 * io_uring_setup(2) are passed through unchanged, and so are those of
 * sigaction(2) and sigaltstack(2) should the loop's SIGSEGV handler or
 * signal stack fail to install (see NOTES).
 *
 * ERRORS
 * EBUSY    this thread already runs a loop.
 * EINVAL   main is NULL, the config is out of range, or the kernel refused
 *          the ring parameters even without the optional setup flags.
 * ENOMEM   no memory for the loop, main's task or stack, or the thread's
 *          signal stack; or io_uring could not be set up: out of memory,
 *          or the locked-memory limit (ulimit -l, a memory cgroup) was
 *          reached.
 * EPERM    io_uring is disabled (sysctl kernel.io_uring_disabled) or
 *          forbidden by seccomp.
 * ENOSYS   the kernel has no io_uring (CONFIG_IO_URING), or a seccomp filter
 *          hides it.
 * EMFILE   the process has too many open files for the ring's fd.
 * ENFILE   the system has too many open files for the ring's fd.
 * EDEADLK  the loop deadlocked: every task was blocked with nothing left to
 *          wake them, and cancelling them all did not help (see NOTES).
 *
 * NOTES
 * Deadlock: when every task waits, no timer is armed, no I/O is in flight
 * and nothing outside the loop (a thread pool job, another loop) can wake a
 * task, the loop prints a report and a task dump on stderr and cancels
 * every task, so that their blocking calls fail and they can unwind. If
 * even that changes nothing (the tasks wait for each other in shielded
 * waits), the loop gives up: corio_run returns -EDEADLK and the tasks never
 * run again.
 *
 * Each task stack has a guard region below it. The loop installs a SIGSEGV
 * handler (on an alternate signal stack of the thread) that reports a fault
 * in a guard as "corio: stack overflow in task NAME" on stderr and aborts;
 * other faults go to the handler installed before. The ring's memory is not
 * inherited by children of fork(2).
 *
 * ENVIRONMENT
 * - CORIO_DEBUG: set to a non-empty value other than "0", turns debug mode
 *   on, as CORIO_CFG_DEBUG does.
 * - CORIO_SLOW_TASK_MS: debug mode's slow-task threshold in milliseconds,
 *   used when slow_task_ms is 0; a positive integer below 86400000, else
 *   (unset or invalid) 100.
 *
 * EXAMPLE
 *     #include <corio.h>
 *     #include <stdio.h>
 *     #include <string.h>
 *
 *     static int child(void *arg)
 *     {
 *         int *n = arg;
 *         int r = corio_sleep_ms(1);
 *         return r < 0 ? r : *n * 2;
 *     }
 *
 *     static int amain(void *arg)
 *     {
 *         int n = *(int *)arg;
 *         corio_task *t = corio_spawn(child, &n);
 *
 *         if (!t)
 *             return -1;
 *         return corio_join(t) == 42 ? 0 : 1;
 *     }
 *
 *     int main(void)
 *     {
 *         int n = 21;
 *         int r = corio_run(amain, &n);
 *
 *         if (r < 0)
 *             fprintf(stderr, "corio_run: %s\n", strerror(-r));
 *         return r == 0 ? 0 : 1;
 *     }
 *
 * SEE ALSO
 * corio_run_loops(3), corio_spawn(3), corio_loop_stats(3),
 * corio_dump_tasks(3), io_uring_setup(2), corio(7)
 */
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
int corio_run(int (*main)(void *), void *arg);
int corio_run_config(const corio_config *cfg, int (*main)(void *), void *arg);

/*= corio_run_loops - run several event loops, one thread each
 *
 * Runs nloops loops, one thread each (0 = one per online core), each
 * running main(arg) as its first task, and returns when all have ended.
 * The calling thread runs loop 0; loops 1 to nloops - 1 run on threads
 * corio_run_loops creates and joins. Every loop has the default
 * configuration of corio_run() (the environment variables of corio_run(3)
 * apply).
 *
 * A task never moves between loops: corio_loop_index() tells which loop it
 * is on, and corio_loop_post() and corio_loop_call() send work to another
 * loop. A loop ends once its main has returned, its tasks have ended and no
 * message from another loop can still reach it. While other loops of the
 * group still run, a loop whose tasks all wait is not taken for
 * deadlocked, since a message may still wake them.
 *
 * RETURN VALUE
 * 0 when every main returned 0; else the first nonzero value in time: a
 * main's result (even a positive one) or the error of a loop that could
 * not start or deadlocked (as corio_run() reports them).
 *
 * ERRORS
 * EINVAL   main is NULL or nloops is outside 0..1024; or the kernel
 *          refused a loop's ring parameters (as for corio_run()).
 * EBUSY    the calling thread already runs a loop.
 * ENOMEM   no memory for the loops' bookkeeping, or the eventfd of a loop's
 *          mailbox could not be made (any eventfd(2) error is reported as
 *          ENOMEM); or a loop could not start for lack of memory.
 * EAGAIN   a loop's thread could not be started: that loop and every later
 *          one never run (posts and calls to them are refused), loop 0
 *          and the loops already started still run to their end, and the
 *          result is -EAGAIN.
 * EPERM    a loop's io_uring could not be set up (as for corio_run()).
 * ENOSYS   a loop's io_uring could not be set up (as for corio_run()).
 * EMFILE   a loop's io_uring could not be set up (as for corio_run()).
 * ENFILE   a loop's io_uring could not be set up (as for corio_run()).
 * EDEADLK  a loop deadlocked (as for corio_run()).
 *
 * EXAMPLE
 *     #include <corio.h>
 *
 *     static int stop_requested; // read and written by loop 1 only
 *
 *     static void stop(void *arg)
 *     {
 *         (void)arg;
 *         stop_requested = 1;
 *     }
 *
 *     static int square(void *arg)
 *     {
 *         int *v = arg;
 *         return corio_loop_index() == 1 ? *v * *v : -1;
 *     }
 *
 *     static int amain(void *arg)
 *     {
 *         int v = 7, r;
 *
 *         (void)arg;
 *         if (corio_loop_index() == 1) {
 *             // Stay up (taking work) until loop 0 says stop.
 *             while (!stop_requested && corio_sleep_ms(1) == 0)
 *                 ;
 *             return 0;
 *         }
 *         r = corio_loop_call(1, square, &v);
 *         if (corio_loop_post(1, stop, NULL) < 0)
 *             return 1;
 *         return r == 49 ? 0 : 1;
 *     }
 *
 *     int main(void)
 *     {
 *         return corio_run_loops(2, amain, NULL) == 0 ? 0 : 1;
 *     }
 *
 * SEE ALSO
 * corio_run(3), corio_loop_index(3), corio_loop_post(3), corio(7)
 */
int corio_run_loops(int nloops, int (*main)(void *), void *arg);

/*= corio_loop_index, corio_loop_count - which loop the caller runs on
 *
 * corio_loop_index() returns the index of the calling thread's loop: 0 for
 * the loop of corio_run(), the loop's number (0 to n - 1) under
 * corio_run_loops(n), and -1 outside any loop.
 *
 * corio_loop_count() returns how many loops run together: n under
 * corio_run_loops(n), 1 under corio_run(), 0 outside any loop. The count
 * includes loops whose thread could not be started.
 *
 * RETURN VALUE
 * The index or the count, as above; neither call can fail.
 *
 * ERRORS
 * None: corio_loop_index() and corio_loop_count() cannot fail.
 *
 * SEE ALSO
 * corio_run_loops(3), corio_loop_post(3), corio(7)
 */
int corio_loop_index(void);
int corio_loop_count(void);

/*= corio_loop_post, corio_loop_call - run a function as a task on another loop
 *
 * Cross-loop calls (asyncio's run_coroutine_threadsafe and
 * call_soon_threadsafe between loops). The work travels, the caller's task
 * never moves: the message goes by IORING_OP_MSG_RING from this loop's ring
 * into the target's (or by a list and the target's eventfd where the
 * kernel has no MSG_RING). loop is an index of this group,
 * 0 <= loop < corio_loop_count(); the caller's own index works too (under
 * corio_run() only 0 is valid).
 *
 * corio_loop_post() makes fn(arg) run as a new, detached task (named
 * "posted") on that loop; it may block. This call does not wait. When it
 * returns 0, fn runs exactly once, even if the target's main returns
 * meanwhile (then as a task born cancelled); the exceptions, each reported
 * by a line on stderr, are a target loop that never ran (its setup failed)
 * or was torn down deadlocked, and a target that had no memory for the
 * task. Posts from one loop to another normally start in the order they
 * were made.
 *
 * corio_loop_call() spawns fn(arg) as a task (named "called") on that loop
 * and suspends the calling task until it has ended; it returns fn's
 * result. If the caller is cancelled or its deadline passes, the task on
 * the other loop is cancelled (or, not started yet, never runs) and the
 * call returns -ECANCELED or -ETIMEDOUT only after that task has ended, so
 * fn may use memory on the caller's stack; fn's own result is then not
 * reported, even if fn finished.
 *
 * RETURN VALUE
 * corio_loop_post(): 0 when the work was sent. corio_loop_call(): fn's
 * result, passed through unchanged (it may be any of the values below
 * too). Otherwise -errno.
 *
 * ERRORS
 * EPERM      corio_loop_post(): called outside a loop. corio_loop_call():
 *            called outside a task.
 * EINVAL     fn is NULL, or loop is not an index of this group.
 * ESHUTDOWN  that loop's main has returned (it takes no new work), or the
 *            loop has ended or never ran; for corio_loop_call() also when
 *            the target's main returned after the call was sent, before
 *            its task could start.
 * ENOMEM     no memory for the message (or, under corio_run(), for the
 *            loop's mailbox). corio_loop_call() only: the target had no
 *            memory for the task (fn did not run); or the timer of the
 *            caller's deadline scope could not be armed (the task on the
 *            other loop is cancelled and waited for, as for ECANCELED).
 * ECANCELED  corio_loop_call() only: the caller was cancelled, before the
 *            call (nothing was sent) or while it waited (the task on the
 *            other loop was cancelled, or never started, and has ended).
 * ETIMEDOUT  corio_loop_call() only: a deadline scope of the caller
 *            passed, before the call or while it waited; as for ECANCELED.
 * EMFILE     under corio_run() only: the loop's first post or call makes
 *            its mailbox, an eventfd(2), and the process has too many open
 *            files.
 * ENFILE     as EMFILE, the system has too many open files.
 * EBUSY      under corio_run() only: the mailbox's poll could not be
 *            queued on the loop's ring (the ring is broken).
 *
 * ENVIRONMENT
 * - CORIO_LOOPS_WAKE=eventfd: messages between loops go by list and
 *   eventfd, as on kernels without MSG_RING (for tests and benchmarks).
 *
 * EXAMPLE
 *     // on loop 0: run lookup(&req) on loop 1 and wait for it; req may
 *     // live on this task's stack.
 *     int r = corio_loop_call(1, lookup, &req);
 *
 * SEE ALSO
 * corio_run_loops(3), corio_loop_index(3), corio_spawn(3), corio(7)
 */
int corio_loop_post(int loop, void (*fn)(void *arg), void *arg);
int corio_loop_call(int loop, int (*fn)(void *arg), void *arg);

/*= corio_now_ns - the monotonic clock of corio's timeouts
 *
 * Returns the time of CLOCK_MONOTONIC in nanoseconds, the clock every corio
 * timeout and deadline uses (see corio_deadline_push_at()). It works inside
 * and outside a loop.
 *
 * RETURN VALUE
 * The current monotonic time in nanoseconds.
 *
 * ERRORS
 * None: corio_now_ns() cannot fail.
 *
 * SEE ALSO
 * corio_deadline_push(3), corio_sleep_ns(3), clock_gettime(2), corio(7)
 */
uint64_t corio_now_ns(void);

/*= corio_loop_stats - read the counters of the calling thread's loop
 *
 * Fills *st with the counters of the calling thread's loop, counted since
 * it started:
 *
 * - tasks_spawned: tasks created, main and tasks posted or called from
 *   other loops included.
 * - tasks_alive: tasks not yet ended, now.
 * - switches: context switches (task to task, task to loop and back).
 * - turns: loop turns.
 * - submits: SQEs submitted to the kernel.
 * - completions: CQEs reaped.
 * - syscalls: io_uring_enter(2) calls.
 * - timers_fired: timer expiries (sleeps, deadlines).
 * - stacks_mapped: task stacks currently mapped, pooled or in use.
 * - ring_flags: the IORING_SETUP_* flags the ring was made with.
 * - guard_kind: how stack guards are made (the same for the whole
 *   process): 1 = MADV_GUARD_INSTALL (Linux 6.13 and later), 2 = mprotect,
 *   0 = not known yet.
 *
 * RETURN VALUE
 * 0 on success, else -errno.
 *
 * ERRORS
 * EINVAL  st is NULL (checked first, also outside a loop).
 * EPERM   called outside a loop.
 *
 * SEE ALSO
 * corio_run(3), corio_dump_tasks(3), corio(7)
 */
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

/*= corio_spawn, corio_spawn_ex - start a task
 *
 * corio_spawn() starts fn(arg) as a new task of the calling thread's loop
 * (asyncio.create_task) and returns its handle. The task is queued FIFO:
 * it first runs when the spawning task next suspends. Its result is the
 * value fn returns; a task "raises" by returning a negative -errno.
 *
 * corio_spawn_ex() is the same with attributes; attr may be NULL (all
 * defaults). attr->stack_size is the task's stack size in bytes (rounded up
 * to whole pages; 0 = the loop's default, see corio_run_config()); stacks
 * of the default size come from a pool, others get a mapping of their own.
 * attr->name is copied (truncated to 31 bytes); NULL means "task-<id>".
 *
 * The handle must be consumed exactly once, by corio_join(),
 * corio_detach(), corio_gather() or corio_wait_for(); until then the task's
 * result stays readable after it ended. A task cancelled before it started
 * still runs (its blocking calls fail as cancelled: see corio_cancel(3));
 * a task spawned while the loop shuts down (after main returned) starts
 * out cancelled.
 *
 * RETURN VALUE
 * The new task's handle, or NULL with errno set.
 *
 * ERRORS
 * EPERM   called outside a loop.
 * EINVAL  fn is NULL, or attr->stack_size is absurd (above 1 GiB).
 * ENOMEM  no memory for the task, or its stack (or the stack's guard)
 *         could not be mapped.
 *
 * NOTES
 * A stack overflow into the guard region below the stack is reported as
 * "corio: stack overflow in task NAME" and aborts the process. In steady
 * state a spawn and a join touch neither malloc nor mmap.
 *
 * EXAMPLE
 *     corio_spawn_attr a = { .stack_size = 256 * 1024, .name = "parser" };
 *     corio_task *t = corio_spawn_ex(parse, &job, &a);
 *     if (!t)
 *         return -errno;
 *     return corio_join(t);
 *
 * SEE ALSO
 * corio_join(3), corio_detach(3), corio_gather(3), corio_wait_for(3),
 * corio_cancel(3), corio_group_spawn(3), corio_task_name(3), corio(7)
 */
typedef struct corio_spawn_attr {
	size_t      stack_size; /* 0 = the loop's default */
	const char *name;       /* NULL = "task-<id>" */
} corio_spawn_attr;
corio_task *corio_spawn(int (*fn)(void *), void *arg);
corio_task *corio_spawn_ex(int (*fn)(void *), void *arg, const corio_spawn_attr *attr);

/*= corio_join - wait for a task to end and take its result
 *
 * Waits for t to end and returns its result; the handle is released (it
 * must not be used again). A task that has already ended is joined without
 * suspending: its result is returned even if the caller was cancelled.
 *
 * If the caller is cancelled or a deadline scope of it passes before t
 * ended, t is cancelled too (as asyncio does), the caller waits until t has
 * ended (further cancels are ignored meanwhile), the handle is released,
 * and the call fails. If t ended on its own before the caller resumed, its
 * result is returned instead: no result is lost.
 *
 * RETURN VALUE
 * t's result, else -errno. t's result may itself be negative; it is
 * returned as it is.
 *
 * ERRORS
 * EPERM      called outside a task (outside a loop); t is left alone.
 * EINVAL     t is NULL or not a live handle (already joined, detached or
 *            gathered); t is left alone.
 * EXDEV      t belongs to another loop; t is left alone.
 * EBUSY      another task is already waiting for t (corio_join(),
 *            corio_wait_for(), corio_gather()), or t belongs to a group;
 *            t is left alone.
 * EDEADLK    t is the calling task; t is left alone.
 * ECANCELED  the caller was cancelled (before the call or while waiting):
 *            t was cancelled, has ended, and the handle is released.
 * ETIMEDOUT  a deadline scope of the caller passed: as for ECANCELED.
 * ENOMEM     the timer of the caller's deadline scope could not be armed:
 *            as for ECANCELED.
 *
 * NOTES
 * In debug mode, the EINVAL, EXDEV and group EBUSY cases also print a line
 * on stderr naming the mistake.
 *
 * SEE ALSO
 * corio_spawn(3), corio_detach(3), corio_wait_for(3), corio_gather(3),
 * corio_cancel(3), corio(7)
 */
int corio_join(corio_task *t);

/*= corio_detach - release a task handle and let the task run on
 *
 * Releases the handle; the task runs on and is freed when it ends. Nobody
 * will see its result: a detached task that ends with a failure (a
 * negative result, except the one of a cancelled task), or has already
 * ended with one, is reported on stderr, in every mode:
 *
 *     corio: task 'NAME' failed with -ERRNAME (description) and was
 *     never joined
 *
 * Detaching does nothing when called outside a loop, when t is NULL, not a
 * live handle or another loop's, when another task waits for t (a join, a
 * gather) and when t belongs to a group.
 *
 * RETURN VALUE
 * None (void).
 *
 * ERRORS
 * None: corio_detach() cannot fail; a call it cannot honour does nothing.
 *
 * SEE ALSO
 * corio_spawn(3), corio_join(3), corio_cancel(3), corio(7)
 */
void corio_detach(corio_task *t);

/*= corio_cancel - request cancellation of a task
 *
 * Requests cancellation of t. The task is not stopped: its current blocking
 * call and every later one fail with the cancellation error (see corio(7);
 * an I/O operation in flight is cancelled first, and the call returns once
 * its completion arrived), except inside a shield scope, where the
 * cancellation waits until the shield is popped. A task cancelled before
 * it started still runs. The request is sticky and cannot be withdrawn. A
 * task may cancel itself.
 *
 * RETURN VALUE
 * 0 on success, also for a task that has already ended or was already
 * cancelled; else -errno.
 *
 * ERRORS
 * EPERM   called outside a loop.
 * EINVAL  t is NULL or not a live handle (already joined, detached or
 *         gathered).
 * EXDEV   t belongs to another loop.
 *
 * SEE ALSO
 * corio_spawn(3), corio_join(3), corio_shield_push(3),
 * corio_group_cancel(3), corio(7)
 */
int corio_cancel(corio_task *t);

/*= corio_yield - let the other ready tasks run
 *
 * Moves the calling task to the back of the ready queue (asyncio.sleep(0)):
 * every task ready now runs before it resumes. If no other task is ready,
 * it keeps running. Outside a loop or a task it does nothing.
 *
 * corio_yield() does not report cancellation or deadlines; corio_sleep_ns(0)
 * yields and does.
 *
 * RETURN VALUE
 * None (void).
 *
 * ERRORS
 * None: corio_yield() cannot fail.
 *
 * SEE ALSO
 * corio_sleep_ms(3), corio(7)
 */
void corio_yield(void);

/*= corio_sleep_ms, corio_sleep_ns - suspend the calling task for a time
 *
 * Suspends the calling task for ms milliseconds or ns nanoseconds of
 * corio_now_ns() time. A zero duration yields, as corio_yield() does, and
 * then reports a cancellation or a passed deadline. A duration too large
 * for the clock is capped: the task then sleeps until it is cancelled or a
 * deadline passes.
 *
 * RETURN VALUE
 * 0 when the time has passed, else -errno.
 *
 * ERRORS
 * EPERM      called outside a task (outside a loop).
 * ECANCELED  the calling task was cancelled (before the call or while it
 *            slept), outside a shield scope.
 * ETIMEDOUT  a deadline scope of the task passed before the sleep ended.
 * ENOMEM     the sleep's timer could not be armed.
 *
 * SEE ALSO
 * corio_yield(3), corio_now_ns(3), corio_deadline_push(3), corio(7)
 */
int corio_sleep_ms(uint64_t ms);
int corio_sleep_ns(uint64_t ns);

/*= corio_current - the running task
 *
 * Returns the handle of the running task (main's under corio_run()). It is
 * the task's own handle, not a new one: it may be passed to
 * corio_cancel(), corio_task_name() and the like, but consuming it is the
 * job of whoever spawned the task.
 *
 * RETURN VALUE
 * The running task, or NULL outside a task (outside a loop).
 *
 * ERRORS
 * None: corio_current() cannot fail.
 *
 * SEE ALSO
 * corio_task_name(3), corio_cancel(3), corio(7)
 */
corio_task *corio_current(void);

/*= corio_task_set_name, corio_task_name, corio_task_id - a task's name and id
 *
 * corio_task_set_name() copies name into t's name (truncated to 31 bytes).
 * Names show in diagnostics and task dumps.
 *
 * corio_task_name() returns t's name. A task without a name is named
 * "task-<id>"; main is "main", and tasks started by corio_loop_post() and
 * corio_loop_call() are "posted" and "called". The string lives in the
 * task and stays valid as long as the handle does.
 *
 * corio_task_id() returns t's id: ids are > 0, unique within a loop (never
 * reused), and count up from 1 (main's).
 *
 * RETURN VALUE
 * corio_task_set_name(): 0, else -errno. corio_task_name(): the name; never
 * NULL, "" for a NULL or dead handle. corio_task_id(): the id; 0 for a
 * NULL or dead handle. Those two cannot fail.
 *
 * ERRORS
 * EINVAL  corio_task_set_name(): t or name is NULL, or t is not a live
 *         task.
 *
 * SEE ALSO
 * corio_spawn_ex(3), corio_current(3), corio_dump_tasks(3), corio(7)
 */
int         corio_task_set_name(corio_task *t, const char *name);
const char *corio_task_name(const corio_task *t);
uint64_t    corio_task_id(const corio_task *t);

/* ------------------------------------------------------------------------
 * Gather
 *
 * corio_gather is asyncio.gather over already-spawned tasks: it waits for
 * them together and consumes their handles, either returning at the first
 * failure or (CORIO_GATHER_ALL, return_exceptions=True) collecting every
 * result.
 * ------------------------------------------------------------------------ */

/*= corio_gather - wait for several tasks (asyncio.gather)
 *
 * Waits for the n tasks of ts (tasks of the calling thread's loop) and
 * takes ownership of all n handles once they are checked: every outcome
 * but the validation errors below (EPERM to EBUSY) consumes them.
 *
 * flags 0: returns 0 once all tasks returned >= 0, or as soon as one
 * returns < 0, with that value (when some had already failed before the
 * call, the first of them in ts); the unfinished tasks keep running,
 * detached (a later failure of theirs is not reported), and their results[]
 * slots hold -EINPROGRESS.
 *
 * CORIO_GATHER_ALL (return_exceptions=True): waits for every task and
 * returns 0; each result, error or not, is in results[].
 *
 * results may be NULL; otherwise it has n slots, filled in task order.
 * n == 0 returns 0 at once (in a task).
 *
 * RETURN VALUE
 * 0, or (flags 0) the first failing task's negative result, or -errno. A
 * task's result is returned as it is and may equal one of the values
 * below.
 *
 * ERRORS
 * EPERM      called outside a task (outside a loop); nothing is consumed.
 * EINVAL     ts is NULL with n > 0, flags has a bit other than
 *            CORIO_GATHER_ALL, a handle is NULL or not live (already
 *            joined, detached or gathered), or one handle appears twice;
 *            nothing is consumed.
 * EXDEV      a task belongs to another loop; nothing is consumed.
 * EDEADLK    the caller is among ts; nothing is consumed.
 * EBUSY      a task is already waited on (corio_join(), corio_wait_for(),
 *            another corio_gather()) or belongs to a group; nothing is
 *            consumed.
 * ECANCELED  the caller was cancelled (before the call or while it
 *            waited) while a task had not ended (and, with flags 0, none
 *            had failed yet): every unfinished task is cancelled, gather
 *            returns once all have ended (results[] holds every result)
 *            and every handle is consumed; a failure of a task meanwhile
 *            does not change the return value.
 * ETIMEDOUT  a deadline scope of the caller passed: as for ECANCELED.
 * ENOMEM     the timer of the caller's deadline scope could not be armed:
 *            as for ECANCELED.
 * EINPROGRESS  never returned by corio_gather(): the value left in the
 *            results[] slot of each task still running when it returned
 *            (flags 0).
 *
 * EXAMPLE
 *     corio_task *ts[2] = { corio_spawn(fetch, &a), corio_spawn(fetch, &b) };
 *     int res[2];
 *     // (check ts[i] != NULL first)
 *     int r = corio_gather(ts, 2, res, CORIO_GATHER_ALL);
 *
 * SEE ALSO
 * corio_spawn(3), corio_join(3), corio_group_wait(3), corio_cancel(3),
 * corio(7)
 */
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

/*= corio_group_new, corio_group_free - make and free a task group
 *
 * corio_group_new() makes an empty task group (asyncio.TaskGroup). A group
 * can be made before corio_run(); it binds to the loop of the first task
 * spawned into it (corio_group_spawn()), and while that loop runs only its
 * thread may spawn into, wait on, cancel or free the group.
 *
 * corio_group_free() frees g and every task of it that has ended; the
 * handles of g's tasks are invalid afterwards. Tasks of g still running
 * are cancelled and left to end on their own, detached: a failure of one
 * of them is then reported on stderr as for any detached task, and debug
 * mode reports how many were left running. If a task waits on g in corio_group_wait(), nothing is
 * freed: a line on stderr says so (in every mode) and errno is set to
 * EBUSY. NULL is a no-op.
 *
 * A group and its results (corio_group_results()) outlive its loop: a
 * group made before corio_run() can be read and freed after corio_run()
 * returned.
 *
 * RETURN VALUE
 * corio_group_new() returns the new group, or NULL with errno set.
 *
 * corio_group_free() returns nothing. When it refuses to free g, g is left
 * as it was and errno is set; errno is left alone otherwise (set it to 0
 * before the call to tell).
 *
 * ERRORS
 * ENOMEM     corio_group_new(): no memory for the group.
 * EBUSY      corio_group_free(): a task waits on g in corio_group_wait();
 *            nothing was freed.
 * EINVAL     corio_group_free(): g is not a group (another object, or a
 *            group freed already: detection is best effort).
 * EXDEV      corio_group_free(): g's tasks belong to a loop that is still
 *            running and the caller is not on that loop's thread.
 *
 * NOTES
 * Debug mode reports, when the loop closes, the groups made while it ran
 * and never freed.
 *
 * SEE ALSO
 * corio_group_spawn(3), corio_group_wait(3), corio_group_cancel(3),
 * corio_group_results(3), corio(7)
 */
corio_group *corio_group_new(void);
void         corio_group_free(corio_group *g);

/*= corio_group_spawn, corio_group_spawn_ex - start a task owned by a task group
 *
 * These calls spawn fn(arg) as a new task of g, as corio_spawn() and
 * corio_spawn_ex() do (attr sets the stack size and the name; it may be
 * NULL), and return its handle. The task is queued FIFO and first runs
 * when the caller next suspends. The first spawn binds g to the caller's
 * loop.
 *
 * The handle is owned by g: it stays valid (for corio_cancel(),
 * corio_task_name(), corio_task_id() and the listings of
 * corio_group_results()) until corio_group_free(), and must not be
 * joined, detached, gathered or passed to corio_wait_for(): those calls
 * refuse a task of a group.
 *
 * Fail fast: when a task of g fails (returns a negative value other than
 * -ECANCELED), g cancels every other task of it and becomes failing for
 * good: from then on every spawn into g fails with ECANCELED, so make a
 * new group. corio_group_cancel() does not make g failing.
 *
 * RETURN VALUE
 * The new task's handle, or NULL with errno set.
 *
 * ERRORS
 * EINVAL     g is NULL or not a group, fn is NULL, or attr->stack_size is
 *            above 1 GiB.
 * EPERM      called outside a loop.
 * EXDEV      g has tasks on another loop (one that has not closed yet).
 * ECANCELED  g is failing: a task of it failed; g takes no new tasks.
 * ENOMEM     no memory for g's list of tasks, for the task, or for its
 *            stack.
 *
 * SEE ALSO
 * corio_group_new(3), corio_group_wait(3), corio_spawn(3), corio(7)
 */
corio_task  *corio_group_spawn(corio_group *g, int (*fn)(void *), void *arg);
corio_task  *corio_group_spawn_ex(corio_group *g, int (*fn)(void *), void *arg,
				  const corio_spawn_attr *attr);

/*= corio_group_wait - wait until every task of a task group has ended
 *
 * corio_group_wait() suspends the calling task until every task of g has
 * ended. A task ending with a result >= 0 or with -ECANCELED is not a
 * failure. The first task of g to fail (to return any other negative
 * value) makes g cancel all its other tasks at once (fail fast), and its
 * result becomes the group's error, which corio_group_wait() returns
 * once every task has ended. When no task of g is running (g is empty,
 * or all its tasks ended), it returns at once, without suspending, even
 * if the caller has been cancelled.
 *
 * If the caller is cancelled (outside a shield scope) or a deadline scope
 * of it passes, before or during the wait, it cancels every task of g,
 * then waits, immune to further cancels and deadlines, until all of them
 * have ended (they may use memory on the caller's stack). It returns the
 * group's error if a task of g failed (also one that failed while
 * handling that cancel), else -ECANCELED or -ETIMEDOUT.
 *
 * After a return of 0, g may be used again: spawn more tasks and wait
 * again. A failed group keeps its error: every later wait returns it at
 * once, and spawning into g fails.
 *
 * Only one task may wait on g at a time. Groups nest: a task of one group
 * may make, fill and wait on another.
 *
 * RETURN VALUE
 * 0 when no task of g failed; the group's error (the negative value the
 * first failing task returned, whatever it is) when one did; otherwise a
 * negative errno value from the list below.
 *
 * ERRORS
 * EINVAL     g is NULL or not a group.
 * EPERM      called outside a task.
 * EXDEV      g's tasks belong to another loop.
 * EBUSY      another task already waits on g.
 * EDEADLK    the caller is itself a task of g (it would wait for itself).
 * ECANCELED  the caller was cancelled (outside a shield scope), before or
 *            during the wait, and no task of g failed: every task of g was
 *            cancelled and has ended.
 * ETIMEDOUT  a deadline scope of the caller passed, before or during the
 *            wait, and no task of g failed: every task of g was cancelled
 *            and has ended.
 * ENOMEM     inside a deadline scope, no memory for the wait's timer, and
 *            no task of g failed: handled as a cancel (every task of g was
 *            cancelled and has ended).
 *
 * NOTES
 * In debug mode, the refusals EINVAL, EXDEV, EBUSY and EDEADLK are also
 * reported on stderr.
 *
 * EXAMPLE
 *     #include <corio.h>
 *     #include <stdio.h>
 *
 *     static int work(void *arg)
 *     {
 *         int ms = *(int *)arg;
 *
 *         if (ms < 0)
 *             return ms;                    // fails: so does the group
 *         return corio_sleep_ms((uint64_t)ms);
 *     }
 *
 *     static int main_task(void *arg)
 *     {
 *         static int ms[3] = { 1, -5, 10000 };
 *         corio_group *g = corio_group_new();
 *         corio_task_result err[3];
 *         size_t n;
 *         int r;
 *
 *         (void)arg;
 *         if (!g)
 *             return 1;
 *         for (int i = 0; i < 3; i++)
 *             if (!corio_group_spawn(g, work, &ms[i]))
 *                 return 1;
 *         r = corio_group_wait(g);          // -5; the sleeper was
 *         n = corio_group_errors(g, err, 3); // cancelled, no failure
 *         printf("wait: %d, %zu failure(s)\n", r, n);
 *         corio_group_free(g);
 *         return r == -5 && n == 1 && err[0].result == -5 ? 0 : 1;
 *     }
 *
 *     int main(void)
 *     {
 *         return corio_run(main_task, NULL);
 *     }
 *
 * SEE ALSO
 * corio_group_new(3), corio_group_spawn(3), corio_group_cancel(3),
 * corio_group_results(3), corio_join(3), corio_gather(3), corio(7)
 */
int          corio_group_wait(corio_group *g);

/*= corio_group_cancel - cancel every task of a task group
 *
 * corio_group_cancel() requests the cancellation of every task of g that
 * has not ended, as corio_cancel() does for one task, and returns at once,
 * without waiting for them to end: corio_group_wait() does that.
 *
 * A cancelled task that returns the error its blocking call gave it has
 * not failed, so after a cancel corio_group_wait() returns 0 unless a
 * task returned another negative value. The group does not become failing: tasks spawned into it later
 * are not cancelled. Cancelling a group whose tasks have all ended, or an
 * empty one, does nothing and returns 0.
 *
 * RETURN VALUE
 * 0 on success, or a negative errno value.
 *
 * ERRORS
 * EINVAL     g is NULL or not a group.
 * EPERM      called outside a loop.
 * EXDEV      g's tasks belong to another loop.
 *
 * SEE ALSO
 * corio_group_wait(3), corio_cancel(3), corio_group_new(3), corio(7)
 */
int          corio_group_cancel(corio_group *g);

/*= corio_group_results, corio_group_errors - how the tasks of a task group ended
 *
 * These calls read the ExceptionGroup of g. corio_group_results() lists
 * every task of g in spawn order, with its result so far: what its
 * function returned once it has ended, -EINPROGRESS while it runs.
 * corio_group_errors() lists only the failures (the tasks that ended with
 * a negative result other than -ECANCELED) in the order they happened, so
 * that errors[0] is the group's error, which corio_group_wait() returned.
 *
 * Both fill at most cap entries of out (out may be NULL when cap is 0)
 * and return the total count, which may exceed cap: call with cap 0 to
 * size out. An entry's task is valid until corio_group_free(); it is NULL
 * once the loop the tasks ran on has closed, while the results stay
 * readable. Neither call changes g or checks the loop: they may be called
 * after corio_run() returned.
 *
 * RETURN VALUE
 * corio_group_results() returns the number of tasks of g,
 * corio_group_errors() the number of its failures, whatever cap is. Both
 * return 0 when g is NULL or not a group; neither can fail.
 *
 * ERRORS
 * EINPROGRESS  no error of these calls: the result listed for a task
 *              that has not ended yet.
 * ECANCELED    no error of these calls: the result of a task that was
 *              cancelled and said so; corio_group_errors() leaves such
 *              tasks out.
 *
 * SEE ALSO
 * corio_group_wait(3), corio_group_spawn(3), corio_group_free(3),
 * corio(7)
 */
typedef struct corio_task_result {
	corio_task *task;   /* valid until corio_group_free */
	int         result; /* fn's result; -EINPROGRESS while it runs */
} corio_task_result;
size_t       corio_group_results(corio_group *g, corio_task_result *out, size_t cap);
size_t       corio_group_errors(corio_group *g, corio_task_result *out, size_t cap);

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

/*= corio_wait_for - wait for a task to end, with a timeout
 *
 * corio_wait_for() is asyncio.wait_for(): it waits up to ms milliseconds
 * for t to end. If t ends in time, it returns t's result and releases the
 * handle, as corio_join() does. Otherwise it cancels t, waits (immune to
 * further cancels and deadlines) until t has ended, since t may use memory
 * on the caller's stack, releases the handle and returns -ETIMEDOUT; t's
 * own result is then not reported. If t ended on its own before the
 * caller resumed, its result is returned instead: no result is lost.
 *
 * A deadline scope of the caller applies too: the nearer of the two
 * deadlines wins, and both give -ETIMEDOUT. If the caller is cancelled
 * meanwhile (outside a shield scope), t is cancelled too and -ECANCELED
 * returned once t has ended. Inside a shield scope the caller's
 * cancellation waits, but ms still applies.
 *
 * If t has already ended, its result is returned at once, even when the
 * caller has been cancelled. With ms 0, the tasks that are ready still run
 * before the timeout fires: t's result is returned if t ends then.
 *
 * corio_wait_for() consumes t (releases the handle) in every case except
 * the errors EINVAL, EXDEV, EBUSY, EDEADLK and EPERM (the corio_join()
 * errors), which leave t alone.
 *
 * RETURN VALUE
 * t's result (any int, which may itself be negative), or a negative errno
 * value from the list below.
 *
 * ERRORS
 * EINVAL     t is NULL or not a live handle (already joined, detached or
 *            otherwise consumed).
 * EXDEV      t belongs to another loop.
 * EBUSY      another task already waits for t (corio_join(),
 *            corio_gather(), corio_wait_for()), or t belongs to a group.
 * EDEADLK    t is the calling task.
 * EPERM      called outside a task.
 * ETIMEDOUT  ms milliseconds (or a deadline scope of the caller) passed
 *            before t ended: t was cancelled, has ended, and its handle is
 *            released.
 * ECANCELED  the caller was cancelled (outside a shield scope) before or
 *            during the wait: t was cancelled, has ended, and its handle
 *            is released.
 * ENOMEM     no memory for the wait's timer: t was cancelled, has ended,
 *            and its handle is released.
 *
 * NOTES
 * t may itself return one of these values; a program that must tell them
 * apart should not let its tasks return them. In debug mode, the
 * refusals EINVAL, EXDEV, and EBUSY for a task of a group, are also
 * reported on stderr.
 *
 * EXAMPLE
 *     #include <corio.h>
 *     #include <errno.h>
 *
 *     static int slow(void *arg)
 *     {
 *         (void)arg;
 *         return corio_sleep_ms(10000);     // -ECANCELED after 20 ms
 *     }
 *
 *     static int main_task(void *arg)
 *     {
 *         corio_task *t = corio_spawn(slow, NULL);
 *
 *         (void)arg;
 *         if (!t)
 *             return 1;
 *         return corio_wait_for(t, 20) == -ETIMEDOUT ? 0 : 1;
 *     }
 *
 *     int main(void)
 *     {
 *         return corio_run(main_task, NULL);
 *     }
 *
 * SEE ALSO
 * corio_join(3), corio_deadline_push(3), corio_cancel(3), corio(7)
 */
int corio_wait_for(corio_task *t, uint64_t ms);

/*= corio_deadline_push, corio_deadline_push_at, corio_deadline_pop - deadline scopes
 *
 * A deadline scope is asyncio.timeout(). corio_deadline_push() opens one
 * that ends ms milliseconds from now; corio_deadline_push_at() one that
 * ends at deadline_ns, an absolute time on the clock of corio_now_ns() (a
 * time already past is allowed).
 *
 * Until the scope is popped, every blocking call of the calling task
 * returns -ETIMEDOUT once the deadline has passed: a call that waits is
 * woken, and a call made after the deadline fails at once, before it takes
 * or starts anything. An I/O operation in flight is cancelled first, and
 * the call returns after its completion arrived. Code that does not block
 * is not interrupted.
 *
 * Scopes nest, innermost first; the nearest deadline wins, so an inner
 * scope can shorten but never extend an outer one. A shield scope
 * (corio_shield_push()) hides the deadlines of the scopes outside it;
 * deadlines pushed inside the shield still apply.
 *
 * corio_deadline_pop() pops the innermost scope, which must be a deadline
 * scope, and tells whether that scope's own deadline has passed (whether
 * or not a call inside it failed): so each level can tell whether it was
 * its own deadline that expired.
 *
 * Scopes are per task and strictly nested: pop the kind you pushed.
 * Scopes a task leaves pushed when it ends are dropped (debug mode
 * reports them). Their records are pooled per loop: pushing a scope per
 * request costs no allocation in steady state.
 *
 * RETURN VALUE
 * corio_deadline_push() and corio_deadline_push_at() return 0 on success,
 * or a negative errno value.
 *
 * corio_deadline_pop() returns 0 when the scope's own deadline has not
 * passed, -ETIMEDOUT when it has (the scope is popped in both cases), or
 * another negative errno value when nothing was popped.
 *
 * ERRORS
 * EPERM      called outside a task (all three).
 * ENOMEM     corio_deadline_push(), corio_deadline_push_at(): no memory
 *            for the scope's record.
 * EINVAL     corio_deadline_pop(): no scope is pushed, or the innermost
 *            one is a shield scope; nothing was popped (debug mode says
 *            so on stderr).
 * ETIMEDOUT  corio_deadline_pop(): the scope's own deadline has passed;
 *            the scope was popped.
 *
 * EXAMPLE
 *     #include <corio.h>
 *     #include <errno.h>
 *
 *     static int main_task(void *arg)
 *     {
 *         int r, p;
 *
 *         (void)arg;
 *         if (corio_deadline_push(20) < 0)
 *             return 1;
 *         r = corio_sleep_ms(10000);        // -ETIMEDOUT after 20 ms
 *         p = corio_deadline_pop();         // -ETIMEDOUT: this scope's
 *         return r == -ETIMEDOUT && p == -ETIMEDOUT ? 0 : 1;
 *     }
 *
 *     int main(void)
 *     {
 *         return corio_run(main_task, NULL);
 *     }
 *
 * SEE ALSO
 * corio_shield_push(3), corio_wait_for(3), corio_now_ns(3), corio(7)
 */
int corio_deadline_push(uint64_t ms);
int corio_deadline_push_at(uint64_t deadline_ns);
int corio_deadline_pop(void);

/*= corio_shield_push, corio_shield_pop - shield scopes: defer cancellation
 *
 * A shield scope is asyncio.shield() for the calling task. From
 * corio_shield_push() to corio_shield_pop(), the task's blocking calls
 * ignore cancellation (corio_cancel(), a failing group, the end of main)
 * and the deadlines of the scopes pushed outside the shield, so that
 * cleanup I/O can run after a cancel. Deadline scopes pushed inside the
 * shield still apply: shield, then push a deadline, to bound the cleanup.
 *
 * The cancellation is not lost: a task stays cancelled. Once the shield
 * is popped (and no outer shield remains) it takes effect again: every
 * later blocking call fails with -ECANCELED. corio_shield_pop() pops the
 * innermost scope, which must be a shield, and reports a cancellation
 * that arrived before or while the task was shielded.
 *
 * Scopes are per task and strictly nested: pop the kind you pushed.
 * Scopes a task leaves pushed when it ends are dropped (debug mode
 * reports them).
 *
 * RETURN VALUE
 * corio_shield_push() returns 0 on success, or a negative errno value.
 *
 * corio_shield_pop() returns 0, or -ECANCELED when the task has been
 * cancelled and no outer shield remains (the scope is popped in both
 * cases), or another negative errno value when nothing was popped.
 *
 * ERRORS
 * EPERM      called outside a task (both).
 * ENOMEM     corio_shield_push(): no memory for the scope's record.
 * EINVAL     corio_shield_pop(): no scope is pushed, or the innermost one
 *            is a deadline scope; nothing was popped (debug mode says so
 *            on stderr).
 * ECANCELED  corio_shield_pop(): the task was cancelled (before or while
 *            shielded) and no outer shield is in effect; the scope was
 *            popped.
 *
 * NOTES
 * A shielded wait with no deadline that nothing will ever end cannot be
 * broken by cancelling: when every task waits so, the loop reports a
 * deadlock and corio_run() fails.
 *
 * EXAMPLE
 *     #include <corio.h>
 *     #include <errno.h>
 *
 *     static int worker(void *arg)
 *     {
 *         int *cleaned = arg;
 *         int r = corio_sleep_ms(10000);    // cancelled: -ECANCELED
 *
 *         if (corio_shield_push() < 0)
 *             return r;
 *         if (corio_deadline_push(1000) == 0) {   // bounds the cleanup
 *             *cleaned = corio_sleep_ms(5) == 0;  // runs despite the cancel
 *             corio_deadline_pop();
 *         }
 *         if (corio_shield_pop() == -ECANCELED)
 *             return -ECANCELED;
 *         return r;
 *     }
 *
 *     static int main_task(void *arg)
 *     {
 *         int cleaned = 0;
 *         corio_task *t = corio_spawn(worker, &cleaned);
 *
 *         (void)arg;
 *         if (!t)
 *             return 1;
 *         corio_sleep_ms(5);
 *         corio_cancel(t);
 *         return corio_join(t) == -ECANCELED && cleaned ? 0 : 1;
 *     }
 *
 *     int main(void)
 *     {
 *         return corio_run(main_task, NULL);
 *     }
 *
 * SEE ALSO
 * corio_deadline_push(3), corio_cancel(3), corio(7)
 */
int corio_shield_push(void);
int corio_shield_pop(void);

/* ------------------------------------------------------------------------
 * Synchronization within one loop (asyncio.Event, Lock, Semaphore,
 * Condition, Queue)
 *
 * The objects may be made before corio_run; while tasks wait on one, it
 * belongs to their loop (other loops get -EXDEV). Waiters are served in
 * FIFO order, and what they wait for is handed to them directly, so nobody
 * barges in. Every blocking call below fails with -ECANCELED after the
 * caller was cancelled (outside a shield) and -ETIMEDOUT after its deadline
 * passed, without taking anything: a cancelled corio_queue_get loses no
 * item, a cancelled corio_mutex_lock holds no lock. Blocking calls return
 * -EPERM outside a task, -EINVAL for NULL.
 *
 * Freeing an object that tasks wait on (or a mutex that is held) is refused:
 * nothing is freed and errno is set to EBUSY. NULL is a no-op.
 * ------------------------------------------------------------------------ */

/*= corio_event_new, corio_event_free - make and free an event
 *
 * An event (asyncio.Event) is a flag tasks can wait for:
 * corio_event_wait() suspends until it is set, corio_event_set() sets it
 * and wakes every waiter, corio_event_clear() clears it. corio_event_new()
 * makes one, clear. It may be made before corio_run(); while tasks wait on
 * it, it belongs to their loop.
 *
 * corio_event_free() frees e. Freeing an event that tasks wait on is
 * refused: nothing is freed, a line on stderr says so (in every mode) and
 * errno is set to EBUSY. NULL is a no-op.
 *
 * RETURN VALUE
 * corio_event_new() returns the new event, or NULL with errno set.
 *
 * corio_event_free() returns nothing. When it refuses to free e, errno is
 * set; errno is left alone otherwise.
 *
 * ERRORS
 * ENOMEM     corio_event_new(): no memory for the event.
 * EBUSY      corio_event_free(): tasks wait on e; nothing was freed.
 * EINVAL     corio_event_free(): e is not an event (another object, or an
 *            event freed already: detection is best effort).
 *
 * NOTES
 * Debug mode reports, when a loop closes, the objects made while it ran
 * and never freed.
 *
 * SEE ALSO
 * corio_event_wait(3), corio_event_set(3), corio(7)
 */
corio_event *corio_event_new(void);
void corio_event_free(corio_event *e);

/*= corio_event_wait - wait until an event is set
 *
 * corio_event_wait() suspends the calling task until e is set, and returns
 * 0 at once if it is set already. A waiter woken by corio_event_set()
 * returns 0 even if the event was cleared again before it ran.
 *
 * Cancellation and deadlines are checked first: a task that has been
 * cancelled gets -ECANCELED even when e is set.
 *
 * RETURN VALUE
 * 0 once e is set, or a negative errno value.
 *
 * ERRORS
 * EINVAL     e is NULL or not an event.
 * EPERM      called outside a task.
 * EXDEV      tasks of another loop wait on e.
 * ECANCELED  the caller was cancelled (outside a shield scope), before the
 *            call or while it waited; it no longer waits.
 * ETIMEDOUT  a deadline scope of the caller passed, before the call or
 *            while it waited; it no longer waits.
 * ENOMEM     inside a deadline scope, no memory for the wait's timer; it
 *            did not wait.
 *
 * EXAMPLE
 *     #include <corio.h>
 *
 *     static int waiter(void *arg)
 *     {
 *         return corio_event_wait(arg);     // 0 once main_task sets it
 *     }
 *
 *     static int main_task(void *arg)
 *     {
 *         corio_event *e = arg;
 *         corio_task *t = corio_spawn(waiter, e);
 *
 *         if (!t)
 *             return 1;
 *         corio_sleep_ms(1);                // the waiter now waits
 *         corio_event_set(e);
 *         return corio_join(t);
 *     }
 *
 *     int main(void)
 *     {
 *         corio_event *e = corio_event_new();
 *         int r = e ? corio_run(main_task, e) : 1;
 *
 *         corio_event_free(e);
 *         return r;
 *     }
 *
 * SEE ALSO
 * corio_event_set(3), corio_event_new(3), corio_deadline_push(3),
 * corio(7)
 */
int  corio_event_wait(corio_event *e);

/*= corio_event_set, corio_event_clear, corio_event_is_set - set, clear and test an event
 *
 * corio_event_set() sets e and wakes every task waiting on it, in FIFO
 * order (they run when the caller next suspends); setting an event that
 * is set already does nothing more. corio_event_clear() clears e; it
 * wakes nobody. corio_event_is_set() tells whether e is set.
 *
 * None of them blocks or needs a task: they may be called before
 * corio_run(), for example. While tasks wait on e, only their loop's
 * thread may set it.
 *
 * RETURN VALUE
 * corio_event_set() and corio_event_clear() return nothing; when they
 * refuse, e is unchanged and errno is set (it is left alone otherwise).
 *
 * corio_event_is_set() returns 1 when e is set, 0 when it is clear, or
 * -EINVAL.
 *
 * ERRORS
 * EINVAL     e is NULL or not an event (all three; corio_event_set() and
 *            corio_event_clear() set errno, and debug mode says so on
 *            stderr).
 * EXDEV      corio_event_set(): tasks of another loop wait on e, or the
 *            caller is on no loop while tasks wait on e; nothing changed.
 *
 * SEE ALSO
 * corio_event_wait(3), corio_event_new(3), corio(7)
 */
void corio_event_set(corio_event *e);
void corio_event_clear(corio_event *e);
int  corio_event_is_set(const corio_event *e);

/*= corio_mutex_new, corio_mutex_free - make and free a mutex
 *
 * corio_mutex_new() makes a mutex (asyncio.Lock) for the tasks of one
 * loop, unlocked. It is not recursive, and it is owned by the task that
 * locked it: only that task may unlock it. Unlocking hands it straight to
 * the longest waiter. It may be made before corio_run(). A mutex still
 * held when its loop closes is let go (debug mode names the holder).
 *
 * corio_mutex_free() frees m. Freeing a mutex that is held or that tasks
 * wait on is refused: nothing is freed, a line on stderr says so (in
 * every mode) and errno is set to EBUSY. NULL is a no-op.
 *
 * RETURN VALUE
 * corio_mutex_new() returns the new mutex, or NULL with errno set.
 *
 * corio_mutex_free() returns nothing. When it refuses to free m, errno is
 * set; errno is left alone otherwise.
 *
 * ERRORS
 * ENOMEM     corio_mutex_new(): no memory for the mutex.
 * EBUSY      corio_mutex_free(): a task holds m or tasks wait on it;
 *            nothing was freed.
 * EINVAL     corio_mutex_free(): m is not a mutex (another object, or a
 *            mutex freed already: detection is best effort).
 *
 * NOTES
 * Debug mode reports, when a loop closes, the objects made while it ran
 * and never freed.
 *
 * SEE ALSO
 * corio_mutex_lock(3), corio_mutex_unlock(3), corio_cond_wait(3),
 * corio(7)
 */
corio_mutex *corio_mutex_new(void);
void corio_mutex_free(corio_mutex *m);

/*= corio_mutex_lock, corio_mutex_trylock - lock a mutex
 *
 * corio_mutex_lock() locks m for the calling task, suspending it while
 * another task holds m. Waiters get m in FIFO order: corio_mutex_unlock()
 * makes the longest waiter the owner before waking it. A cancel or a
 * deadline that ends the wait before that leaves the caller without m; a
 * cancel that comes after it does not take m away (the caller's next
 * blocking call reports it).
 *
 * corio_mutex_trylock() locks m if it is free, and never suspends.
 *
 * RETURN VALUE
 * 0 when the caller holds m, or a negative errno value.
 *
 * ERRORS
 * EINVAL     m is NULL or not a mutex (both).
 * EPERM      called outside a task (both).
 * EDEADLK    corio_mutex_lock(): the caller holds m already (mutexes are
 *            not recursive).
 * EBUSY      corio_mutex_trylock(): m is held, by another task or by the
 *            caller itself.
 * EXDEV      corio_mutex_lock(): tasks of another loop hold m or wait on
 *            it.
 * ECANCELED  corio_mutex_lock(): the caller was cancelled (outside a
 *            shield scope), before the call or while it waited; it does
 *            not hold m.
 * ETIMEDOUT  corio_mutex_lock(): a deadline scope of the caller passed,
 *            before the call or while it waited; it does not hold m.
 * ENOMEM     corio_mutex_lock(): inside a deadline scope, no memory for
 *            the wait's timer; it does not hold m.
 *
 * EXAMPLE
 *     if (corio_mutex_lock(m) < 0)
 *         return -1;                // cancelled or timed out: m not held
 *     balance += amount;            // may block: other tasks keep out
 *     corio_mutex_unlock(m);
 *
 * SEE ALSO
 * corio_mutex_unlock(3), corio_mutex_new(3), corio_cond_wait(3), corio(7)
 */
int  corio_mutex_lock(corio_mutex *m);
int  corio_mutex_trylock(corio_mutex *m);

/*= corio_mutex_unlock - unlock a mutex
 *
 * corio_mutex_unlock() unlocks m, which the calling task must hold. If
 * tasks wait for m, the longest waiter becomes its owner at once and is
 * made ready (it runs when the caller next suspends); otherwise m becomes
 * free. It never blocks.
 *
 * RETURN VALUE
 * 0 on success, or a negative errno value.
 *
 * ERRORS
 * EINVAL     m is NULL or not a mutex.
 * EPERM      the caller does not hold m (m is free or another task holds
 *            it; debug mode names the holder on stderr), or it is called
 *            outside a task.
 *
 * SEE ALSO
 * corio_mutex_lock(3), corio_mutex_new(3), corio(7)
 */
int  corio_mutex_unlock(corio_mutex *m);

/*= corio_sem_new, corio_sem_free - make and free a semaphore
 *
 * corio_sem_new() makes a semaphore with n units, all free, bounded by n
 * (asyncio.BoundedSemaphore): releasing more units than were acquired is
 * refused. With n 0 no unit can ever be acquired or released. It may be
 * made before corio_run().
 *
 * corio_sem_free() frees s. Freeing a semaphore that tasks wait on is
 * refused: nothing is freed, a line on stderr says so (in every mode) and
 * errno is set to EBUSY. NULL is a no-op.
 *
 * RETURN VALUE
 * corio_sem_new() returns the new semaphore, or NULL with errno set.
 *
 * corio_sem_free() returns nothing. When it refuses to free s, errno is
 * set; errno is left alone otherwise.
 *
 * ERRORS
 * EINVAL     corio_sem_new(): n is above INT32_MAX. corio_sem_free(): s is
 *            not a semaphore (another object, or a semaphore freed
 *            already: detection is best effort).
 * ENOMEM     corio_sem_new(): no memory for the semaphore.
 * EBUSY      corio_sem_free(): tasks wait on s; nothing was freed.
 *
 * NOTES
 * Debug mode reports, when a loop closes, the objects made while it ran
 * and never freed.
 *
 * SEE ALSO
 * corio_sem_acquire(3), corio_sem_release(3), corio_sem_value(3),
 * corio(7)
 */
corio_sem *corio_sem_new(unsigned n);
void corio_sem_free(corio_sem *s);

/*= corio_sem_acquire, corio_sem_try_acquire - take a unit of a semaphore
 *
 * corio_sem_acquire() takes one unit of s, suspending the calling task
 * while none is free. Waiters are served in FIFO order: a unit released
 * goes straight to the longest waiter. A cancel or a deadline that ends
 * the wait before that leaves the caller without a unit.
 *
 * corio_sem_try_acquire() takes a unit only if one is free and no task
 * waits for one (it does not jump the queue). It never suspends and needs
 * no task.
 *
 * RETURN VALUE
 * 0 when the caller has taken a unit, or a negative errno value.
 *
 * ERRORS
 * EINVAL     s is NULL or not a semaphore (both).
 * EAGAIN     corio_sem_try_acquire(): no unit is free, or tasks wait for
 *            one.
 * EPERM      corio_sem_acquire(): called outside a task.
 * EXDEV      corio_sem_acquire(): tasks of another loop wait on s.
 * ECANCELED  corio_sem_acquire(): the caller was cancelled (outside a
 *            shield scope), before the call or while it waited; it took
 *            no unit.
 * ETIMEDOUT  corio_sem_acquire(): a deadline scope of the caller passed,
 *            before the call or while it waited; it took no unit.
 * ENOMEM     corio_sem_acquire(): inside a deadline scope, no memory for
 *            the wait's timer; it took no unit.
 *
 * EXAMPLE
 *     if (corio_sem_acquire(slots) < 0)  // at most n tasks get past this
 *         return -1;
 *     r = fetch(url);
 *     corio_sem_release(slots);
 *
 * SEE ALSO
 * corio_sem_release(3), corio_sem_new(3), corio(7)
 */
int  corio_sem_acquire(corio_sem *s);
int  corio_sem_try_acquire(corio_sem *s);

/*= corio_sem_release - give a unit back to a semaphore
 *
 * corio_sem_release() gives one unit back to s: to the longest waiter if
 * a task waits in corio_sem_acquire() (that call then returns 0), else to
 * the free units. Releasing beyond the bound, so that more than n units
 * would be free, is refused. It does not check that the caller took a
 * unit. It never blocks, and needs no task while no task waits on s.
 *
 * RETURN VALUE
 * None. When it refuses, s is unchanged and errno is set (debug mode also
 * says so on stderr); errno is left alone otherwise.
 *
 * ERRORS
 * EINVAL     s is NULL or not a semaphore.
 * EXDEV      tasks of another loop wait on s, or the caller is on no loop
 *            while tasks wait on s.
 * EOVERFLOW  all n units are free already: more releases than acquires.
 *
 * SEE ALSO
 * corio_sem_acquire(3), corio_sem_value(3), corio(7)
 */
void corio_sem_release(corio_sem *s);

/*= corio_sem_value - count the free units of a semaphore
 *
 * corio_sem_value() returns the number of units of s free now. While
 * tasks wait on s it is 0. It never blocks and needs no task.
 *
 * RETURN VALUE
 * The number of free units (0 to n), or -EINVAL.
 *
 * ERRORS
 * EINVAL     s is NULL or not a semaphore.
 *
 * SEE ALSO
 * corio_sem_acquire(3), corio_sem_release(3), corio(7)
 */
int  corio_sem_value(const corio_sem *s);

/*= corio_cond_new, corio_cond_free - make and free a condition variable
 *
 * corio_cond_new() makes a condition variable (asyncio.Condition), used
 * with a corio_mutex the caller holds; each corio_cond_wait() names its
 * mutex. It may be made before corio_run().
 *
 * corio_cond_free() frees c. Freeing a condition variable that tasks wait
 * on is refused: nothing is freed, a line on stderr says so (in every
 * mode) and errno is set to EBUSY. NULL is a no-op.
 *
 * RETURN VALUE
 * corio_cond_new() returns the new condition variable, or NULL with errno
 * set.
 *
 * corio_cond_free() returns nothing. When it refuses to free c, errno is
 * set; errno is left alone otherwise.
 *
 * ERRORS
 * ENOMEM     corio_cond_new(): no memory for the condition variable.
 * EBUSY      corio_cond_free(): tasks wait on c; nothing was freed.
 * EINVAL     corio_cond_free(): c is not a condition variable (another
 *            object, or one freed already: detection is best effort).
 *
 * NOTES
 * Debug mode reports, when a loop closes, the objects made while it ran
 * and never freed.
 *
 * SEE ALSO
 * corio_cond_wait(3), corio_cond_signal(3), corio_mutex_new(3), corio(7)
 */
corio_cond *corio_cond_new(void);
void corio_cond_free(corio_cond *c);

/*= corio_cond_wait - wait on a condition variable
 *
 * corio_cond_wait() unlocks m, which the calling task must hold (handing
 * it to m's longest waiter), waits on c for corio_cond_signal() or
 * corio_cond_broadcast(), then locks m again, queueing behind the tasks
 * that wait for m. No other task runs between the unlock and the start of
 * the wait, so a signal sent after it cannot be missed.
 *
 * m is held again when it returns, whatever it returns: re-locking ignores
 * cancellation and deadlines, as asyncio's Condition.wait does. The errors
 * found before the wait (EINVAL, EPERM, EXDEV, and a cancellation or
 * deadline already there) leave m as it was.
 *
 * Wakeups can be spurious from the caller's point of view: another task
 * may change the state before the caller has m back. Wait in a loop on
 * the predicate.
 *
 * RETURN VALUE
 * 0 when signalled, or a negative errno value.
 *
 * ERRORS
 * EINVAL     c is NULL or not a condition variable, or m is NULL or not a
 *            mutex.
 * EPERM      called outside a task, or the caller does not hold m.
 * EXDEV      tasks of another loop wait on c.
 * ECANCELED  the caller was cancelled (outside a shield scope), before the
 *            call (m was never unlocked) or while it waited (m is held
 *            again).
 * ETIMEDOUT  a deadline scope of the caller passed, before the call (m was
 *            never unlocked) or while it waited (m is held again).
 * ENOMEM     inside a deadline scope, no memory for the wait's timer: m
 *            was unlocked and is held again; no signal was taken.
 *
 * EXAMPLE
 *     #include <corio.h>
 *
 *     static corio_mutex *m;
 *     static corio_cond *c;
 *     static int ready;
 *
 *     static int consumer(void *arg)
 *     {
 *         int r = 0;
 *
 *         (void)arg;
 *         if (corio_mutex_lock(m) < 0)
 *             return -1;
 *         while (!ready && r == 0)          // the predicate, in a loop
 *             r = corio_cond_wait(c, m);
 *         corio_mutex_unlock(m);            // held again, whatever r is
 *         return r;
 *     }
 *
 *     static int main_task(void *arg)
 *     {
 *         corio_task *t = corio_spawn(consumer, NULL);
 *
 *         (void)arg;
 *         if (!t)
 *             return 1;
 *         corio_sleep_ms(1);
 *         if (corio_mutex_lock(m) < 0)
 *             return 1;
 *         ready = 1;
 *         corio_cond_signal(c);
 *         corio_mutex_unlock(m);
 *         return corio_join(t);
 *     }
 *
 *     int main(void)
 *     {
 *         int r = 1;
 *
 *         m = corio_mutex_new();
 *         c = corio_cond_new();
 *         if (m && c)
 *             r = corio_run(main_task, NULL);
 *         corio_cond_free(c);
 *         corio_mutex_free(m);
 *         return r;
 *     }
 *
 * SEE ALSO
 * corio_cond_signal(3), corio_cond_new(3), corio_mutex_lock(3), corio(7)
 */
int  corio_cond_wait(corio_cond *c, corio_mutex *m);

/*= corio_cond_signal, corio_cond_broadcast - signal a condition variable
 *
 * corio_cond_signal() wakes the longest waiter of c; corio_cond_broadcast()
 * wakes every waiter, in FIFO order. With no waiter they do nothing: a
 * signal is not remembered. The woken tasks run when the caller next
 * suspends, and each first takes its mutex back. The caller need not hold
 * the mutex, but it usually does, having just changed the predicate under
 * it. They never block, and need no task while no task waits on c.
 *
 * RETURN VALUE
 * None. When they refuse, nobody is woken and errno is set (debug mode
 * also says so on stderr); errno is left alone otherwise.
 *
 * ERRORS
 * EINVAL     c is NULL or not a condition variable.
 * EXDEV      tasks of another loop wait on c, or the caller is on no loop
 *            while tasks wait on c.
 *
 * SEE ALSO
 * corio_cond_wait(3), corio_cond_new(3), corio(7)
 */
void corio_cond_signal(corio_cond *c);
void corio_cond_broadcast(corio_cond *c);

/*= corio_queue_new, corio_queue_free - make and free a queue
 *
 * corio_queue_new() makes an empty FIFO queue of pointers (asyncio.Queue)
 * with room for capacity items; capacity 0 means unbounded. Its storage
 * grows as items come, up to capacity. Items are opaque pointers, NULL
 * included: the queue never reads or frees them. It may be made before
 * corio_run().
 *
 * corio_queue_free() frees q. The items still queued are the caller's:
 * drain them first (corio_queue_try_get()) if they own memory. Freeing a
 * queue that tasks wait on (to put or to get) is refused: nothing is
 * freed, a line on stderr says so (in every mode) and errno is set to
 * EBUSY. NULL is a no-op.
 *
 * RETURN VALUE
 * corio_queue_new() returns the new queue, or NULL with errno set.
 *
 * corio_queue_free() returns nothing. When it refuses to free q, errno is
 * set; errno is left alone otherwise.
 *
 * ERRORS
 * ENOMEM     corio_queue_new(): no memory for the queue.
 * EBUSY      corio_queue_free(): tasks wait on q; nothing was freed.
 * EINVAL     corio_queue_free(): q is not a queue (another object, or a
 *            queue freed already: detection is best effort).
 *
 * NOTES
 * Debug mode reports, when a loop closes, the objects made while it ran
 * and never freed.
 *
 * SEE ALSO
 * corio_queue_put(3), corio_queue_try_put(3), corio_queue_size(3),
 * corio(7)
 */
corio_queue *corio_queue_new(size_t capacity);
void   corio_queue_free(corio_queue *q);

/*= corio_queue_put, corio_queue_get - put an item into a queue, or take one out
 *
 * corio_queue_put() appends item to q, suspending the calling task while
 * q is full. If a task waits in corio_queue_get(), item goes straight to
 * the longest one.
 *
 * corio_queue_get() stores the oldest item of q in *item, suspending the
 * calling task while q is empty. Taking an item out of a full queue moves
 * the item of the longest waiting putter in, and that putter's call
 * returns 0.
 *
 * Waiters on both sides are served in FIFO order, and a woken waiter has
 * already been handed its item or its slot. A cancel or a deadline that
 * ends the wait before that takes nothing: a cancelled put has not queued
 * its item (it is still the caller's), a cancelled get has taken none (no
 * item is lost).
 *
 * RETURN VALUE
 * 0 on success, or a negative errno value.
 *
 * ERRORS
 * EINVAL     q is NULL or not a queue; for corio_queue_get(), also item
 *            NULL.
 * EPERM      called outside a task.
 * EXDEV      tasks of another loop wait on q.
 * ECANCELED  the caller was cancelled (outside a shield scope), before the
 *            call or while it waited; nothing was put or taken.
 * ETIMEDOUT  a deadline scope of the caller passed, before the call or
 *            while it waited; nothing was put or taken.
 * ENOMEM     corio_queue_put(): no memory to grow q's storage (bounded or
 *            not). Both: inside a deadline scope, no memory for the wait's
 *            timer. Nothing was put or taken.
 *
 * EXAMPLE
 *     #include <corio.h>
 *     #include <stdint.h>
 *
 *     static int producer(void *arg)
 *     {
 *         for (uintptr_t i = 1; i <= 100; i++)
 *             if (corio_queue_put(arg, (void *)i) < 0)  // waits when full
 *                 return -1;
 *         return corio_queue_put(arg, NULL);            // end of stream
 *     }
 *
 *     static int main_task(void *arg)
 *     {
 *         corio_queue *q = corio_queue_new(8);
 *         corio_task *t = q ? corio_spawn(producer, q) : NULL;
 *         uintptr_t sum = 0;
 *         void *item;
 *
 *         (void)arg;
 *         if (!t)
 *             return 1;
 *         while (corio_queue_get(q, &item) == 0 && item)
 *             sum += (uintptr_t)item;
 *         if (corio_join(t) != 0)
 *             return 1;
 *         corio_queue_free(q);
 *         return sum == 5050 ? 0 : 1;
 *     }
 *
 *     int main(void)
 *     {
 *         return corio_run(main_task, NULL);
 *     }
 *
 * SEE ALSO
 * corio_queue_try_put(3), corio_queue_new(3), corio_queue_size(3),
 * corio(7)
 */
int    corio_queue_put(corio_queue *q, void *item);
int    corio_queue_get(corio_queue *q, void **item);

/*= corio_queue_try_put, corio_queue_try_get - use a queue without waiting
 *
 * corio_queue_try_put() (put_nowait) gives item to the longest task
 * waiting in corio_queue_get() if there is one, else appends it to q if
 * q has room. corio_queue_try_get() (get_nowait) stores the oldest item
 * of q in *item; if a task waits to put into the full queue, its item
 * moves in and its corio_queue_put() returns 0.
 *
 * They never block and need no task: they may fill a queue before
 * corio_run(), or drain it after. While tasks wait on q, only their
 * loop's thread may use them.
 *
 * RETURN VALUE
 * 0 on success, or a negative errno value.
 *
 * ERRORS
 * EINVAL     q is NULL or not a queue; for corio_queue_try_get(), also
 *            item NULL.
 * EAGAIN     corio_queue_try_put(): q is full (QueueFull).
 *            corio_queue_try_get(): q is empty (QueueEmpty).
 * EXDEV      tasks of another loop wait on q (to get, for
 *            corio_queue_try_put(); to put, for corio_queue_try_get()),
 *            or the caller is on no loop while such tasks wait.
 * ENOMEM     corio_queue_try_put(): no memory to grow q's storage.
 *
 * SEE ALSO
 * corio_queue_put(3), corio_queue_new(3), corio_queue_free(3), corio(7)
 */
int    corio_queue_try_put(corio_queue *q, void *item);
int    corio_queue_try_get(corio_queue *q, void **item);

/*= corio_queue_size - count the items in a queue
 *
 * corio_queue_size() returns the number of items queued in q now. Items
 * handed straight to a waiting task are never counted. It never blocks
 * and needs no task.
 *
 * RETURN VALUE
 * The number of items in q; 0 when q is NULL or not a queue.
 *
 * ERRORS
 * None: corio_queue_size() cannot fail.
 *
 * SEE ALSO
 * corio_queue_get(3), corio_queue_try_get(3), corio(7)
 */
size_t corio_queue_size(const corio_queue *q);

/* ------------------------------------------------------------------------
 * Debugging
 *
 * In every mode, a task that ended with an error (other than -ECANCELED)
 * nobody could observe (detached, or never joined before the loop closed)
 * is reported on stderr:
 *     corio: task 'fetch' failed with -EIO (Input/output error) and was never joined
 *
 * Debug mode (CORIO_DEBUG=1, or CORIO_CFG_DEBUG) adds, on stderr:
 *   - slow tasks: a task that ran more than slow_task_ms (100, or
 *     CORIO_SLOW_TASK_MS) without suspending, with its name and time,
 *     e.g. a blocking call in a task;
 *   - the tasks still alive when main returned, before they are cancelled;
 *   - at loop close: handles never consumed, groups and sync objects never
 *     freed, scopes left pushed;
 *   - tasks that used more than 3/4 of their stack (the stack high-water
 *     mark, also readable with corio_task_stack_peak);
 *   - the task dump below on SIGQUIT (unless the program handles SIGQUIT).
 * Off, it costs one predictable branch per switch.
 * ------------------------------------------------------------------------ */

/*= corio_dump_tasks - write a dump of every task of the loop
 *
 * corio_dump_tasks() writes to fd every task of the calling thread's loop
 * that has not ended: its id, name and state (ready, running, waiting),
 * what it waits on (a sleep, a join, an event, a mutex and its holder, an
 * io_uring operation...) and when its timer or deadline fires, whether it
 * is cancelled or inside a scope, and the backtrace of its stack,
 * symbolized with dladdr(3) (link with -rdynamic to see static symbols).
 * In debug mode each task's line also shows how much of its stack it has
 * touched. The format, for reading by people:
 *
 *     corio: loop 0: 2 task(s)
 *       task 1 'main' running
 *           #0 0x55d0c8e4a2b1 main_task+0x21 (prog+0x22b1)
 *       task 2 'fetch' waiting on event 0x55d0ca1b72a0 (cancelled)
 *           #0 ...
 *
 * The same dump goes to stderr when the loop finds a deadlock, and, in
 * debug mode, on SIGQUIT. tools/corio-gdb.py does the same from gdb, for
 * a live process or a core file.
 *
 * RETURN VALUE
 * 0 on success, or a negative errno value. Other errors of write(2) than
 * those listed below are passed through unchanged; the dump stops at the
 * first error (an interrupted write is retried).
 *
 * ERRORS
 * EPERM      called outside a loop.
 * EBADF      fd is negative, not open, or not open for writing.
 * EPIPE      fd is a pipe or socket whose reading end is closed (the
 *            process also gets SIGPIPE unless it ignores it).
 * EAGAIN     fd is non-blocking and full.
 * ENOSPC     no room left on the device of fd.
 * EIO        a low-level I/O error.
 *
 * NOTES
 * The dump is written with write(2) on the loop's thread: it is not a
 * blocking call in corio's sense (it cannot be cancelled or time out),
 * and every task of the loop waits while it writes.
 *
 * ENVIRONMENT
 * CORIO_DEBUG set to anything but "" or "0" turns debug mode on (as
 * CORIO_CFG_DEBUG does): the dump then shows each task's stack usage, and
 * is written to stderr on SIGQUIT (unless the program handles SIGQUIT).
 *
 * EXAMPLE
 *     (void)corio_dump_tasks(2);    // to stderr
 *
 * SEE ALSO
 * corio_task_stack_peak(3), corio_task_name(3), dladdr(3), write(2),
 * corio(7)
 */
int    corio_dump_tasks(int fd);

/*= corio_task_stack_peak - how much of its stack a task has used
 *
 * corio_task_stack_peak() returns how many bytes of its stack t has
 * touched: its stack high-water mark. It is measured in debug mode only,
 * where every task starts on a clean (zeroed) stack. For a task that has
 * not ended, it scans the stack now; for an ended task whose handle is
 * not consumed yet (a task of a group, say), it returns the figure taken
 * at its end. Debug mode also reports on stderr every task that ends
 * having used more than 3/4 of its stack.
 *
 * RETURN VALUE
 * The number of bytes; 0 outside debug mode, or when t is NULL or not a
 * live handle.
 *
 * ERRORS
 * None: corio_task_stack_peak() cannot fail.
 *
 * ENVIRONMENT
 * CORIO_DEBUG set to anything but "" or "0" turns debug mode on (as
 * CORIO_CFG_DEBUG does), in which stack usage is measured.
 *
 * SEE ALSO
 * corio_spawn_ex(3), corio_dump_tasks(3), corio_run_config(3), corio(7)
 */
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

/*= corio_open, corio_openat - open a file
 *
 * corio_openat() opens path as openat(2) does: a relative path is taken
 * relative to the directory dirfd (AT_FDCWD: the current directory), an
 * absolute one ignores dirfd. corio_open() is corio_openat(AT_FDCWD, path,
 * flags, mode). flags and mode are those of open(2); O_CLOEXEC is always
 * added. The calling task suspends until the open has completed; the loop
 * runs on.
 *
 * One difference from open(2), io_uring's: a FIFO with no peer is opened
 * without waiting for one (O_RDONLY succeeds at once, O_WRONLY fails with
 * -ENXIO), as with O_NONBLOCK. The new fd does not keep O_NONBLOCK unless
 * flags asked for it.
 *
 * dirfd must be a real file descriptor: a registered-file handle
 * (corio_register_file()) is not accepted there.
 *
 * RETURN VALUE
 * The new file descriptor (>= 0), else -errno. Other errors of openat(2)
 * are passed through unchanged.
 *
 * ERRORS
 * EPERM      called outside a task; or the kernel refused (for example
 *            O_NOATIME on a file the caller does not own).
 * EFAULT     path is NULL or points outside the address space.
 * ENOENT     a component of path does not exist, or path is empty.
 * EACCES     search or access permission denied.
 * EEXIST     O_CREAT and O_EXCL, and path exists.
 * EISDIR     path is a directory and flags asks for writing.
 * ENOTDIR    a component of the path prefix is not a directory, or
 *            O_DIRECTORY and path is not one; or (corio_openat) dirfd is
 *            not a directory and path is relative.
 * ELOOP      too many symbolic links, or O_NOFOLLOW and path is one.
 * ENAMETOOLONG path or one of its components is too long.
 * ENXIO      O_WRONLY on a FIFO with no reader (see above), or a device
 *            file with no device.
 * EMFILE     the process has too many open files.
 * ENFILE     the system has too many open files.
 * EROFS      write access to a file on a read-only file system.
 * EBADF      corio_openat(): path is relative and dirfd is neither
 *            AT_FDCWD nor an open file descriptor (a registered handle
 *            included).
 * EINVAL     flags is invalid.
 * ECANCELED  the task was cancelled, before the call or while the open was
 *            in flight (it was then cancelled in the kernel). If the open
 *            completed anyway, the new fd is returned instead and the next
 *            blocking call reports the cancel: no fd is leaked.
 * ETIMEDOUT  a deadline scope of the task passed, before the call or while
 *            the open was in flight: as for ECANCELED.
 * ENOMEM     the timer of the task's deadline scope could not be armed (the
 *            open was then cancelled, as for ECANCELED); or the kernel ran
 *            out of memory.
 * EBUSY      the loop's submission queue was full and could not be handed
 *            to the kernel.
 *
 * EXAMPLE
 *     int fd = corio_open("data.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
 *     if (fd < 0)
 *         return fd;                  // -errno
 *
 * SEE ALSO
 * corio_close(3), corio_read(3), corio_statx(3), corio_read_file(3),
 * openat(2), corio(7)
 */
int     corio_open(const char *path, int flags, mode_t mode);
int     corio_openat(int dirfd, const char *path, int flags, mode_t mode);

/*= corio_read, corio_write - read from or write to a file descriptor
 *
 * corio_read() reads up to n bytes from fd into buf; corio_write() writes
 * up to n bytes of buf to fd. Each is one io_uring operation: the calling
 * task suspends until it completes, the loop runs on.
 *
 * off = -1 means the file position, which the transfer advances (read(2),
 * write(2)); off >= 0 is an offset at which to transfer, leaving the file
 * position alone (pread(2), pwrite(2)). On pipes, FIFOs and sockets the
 * offset is ignored (where pread(2) would refuse them). n is capped at
 * 0x7ffff000 bytes per call, as read(2) caps it: check the count.
 *
 * fd may be a registered-file handle (corio_register_file()).
 *
 * RETURN VALUE
 * The number of bytes transferred, which may be less than n; for
 * corio_read() 0 means end of file (or n was 0). Else -errno. Other errors
 * of read(2) and write(2) are passed through unchanged.
 *
 * ERRORS
 * EBADF      fd is negative or not open, or not open for reading
 *            (corio_read) or writing (corio_write).
 * EINVAL     off is below -1; or fd cannot be read or written this way
 *            (for example O_DIRECT with a misaligned buf, off or n).
 * EFAULT     buf is NULL with n > 0, or outside the address space; in
 *            debug mode also when buf is not mapped memory (a line on
 *            stderr names the call).
 * EISDIR     corio_read(): fd is a directory.
 * EAGAIN     fd has O_NONBLOCK and nothing could be transferred, on kernels
 *            whose io_uring honours O_NONBLOCK (see NOTES).
 * EIO        a low-level I/O error.
 * ENOSPC     corio_write(): no room left on the device.
 * EDQUOT     corio_write(): the user's disk quota is exhausted.
 * EFBIG      corio_write(): the file would grow past the size limit
 *            (RLIMIT_FSIZE, the file system's maximum).
 * EPIPE      corio_write(): fd is a pipe or socket whose reading end is
 *            closed, and SIGPIPE is ignored or handled (see NOTES).
 * EPERM      called outside a task; or the kernel refused (for example a
 *            write to a sealed or append-only file).
 * ECANCELED  the task was cancelled, before the call or while the transfer
 *            was in flight; or another task closed fd with corio_close()
 *            while this call waited (this task is not cancelled then).
 * ETIMEDOUT  a deadline scope of the task passed, before the call or while
 *            the transfer was in flight.
 * ENOMEM     the timer of the task's deadline scope could not be armed (the
 *            transfer was then cancelled); or the kernel ran out of memory.
 * EBUSY      the loop's submission queue was full and could not be handed
 *            to the kernel.
 *
 * NOTES
 * A transfer interrupted by a cancel or a deadline is cancelled in the
 * kernel, and the call returns only once the kernel is done with buf (buf
 * may be on the task's stack). If the transfer completed anyway, its count
 * is returned and the next blocking call reports the cancel: no data is
 * lost.
 *
 * Recent kernels wait for a pipe or socket to become ready even when fd
 * has O_NONBLOCK set (io_uring polls it); older ones may fail with -EAGAIN
 * instead.
 *
 * corio_write() does not add MSG_NOSIGNAL: a write to a pipe or socket
 * whose reader is gone raises SIGPIPE, which kills the process unless it
 * is ignored or handled. Use corio_send() on sockets.
 *
 * SEE ALSO
 * corio_readv(3), corio_write_all(3), corio_read_file(3),
 * corio_read_fixed(3), corio_recv(3), read(2), write(2), corio(7)
 */
ssize_t corio_read(int fd, void *buf, size_t n, int64_t off);
ssize_t corio_write(int fd, const void *buf, size_t n, int64_t off);

/*= corio_readv, corio_writev - read or write a file descriptor with an iovec
 *
 * corio_readv() reads from fd into the iovcnt buffers of iov, in order;
 * corio_writev() writes them to fd. off is as for corio_read(): -1 means
 * the file position (readv(2), writev(2)), >= 0 an offset (preadv(2),
 * pwritev(2)); on pipes, FIFOs and sockets the offset is ignored. The
 * calling task suspends until the transfer completes. fd may be a
 * registered-file handle (corio_register_file()).
 *
 * RETURN VALUE
 * The number of bytes transferred, which may be less than the total
 * length; for corio_readv() 0 means end of file. Else -errno. Other errors
 * of readv(2) and writev(2) are passed through unchanged.
 *
 * ERRORS
 * EBADF      fd is negative or not open, or not open for reading
 *            (corio_readv) or writing (corio_writev).
 * EINVAL     iovcnt is negative or above IOV_MAX (1024), off is below -1,
 *            the total length overflows an ssize_t, or fd cannot be read or
 *            written this way.
 * EFAULT     iov is NULL with iovcnt > 0, or a buffer is outside the
 *            address space; in debug mode also when a buffer is not mapped
 *            memory (a line on stderr names the call).
 * EISDIR     corio_readv(): fd is a directory.
 * EAGAIN     fd has O_NONBLOCK and nothing could be transferred, on kernels
 *            whose io_uring honours O_NONBLOCK (see corio_read(3)).
 * EIO        a low-level I/O error.
 * ENOSPC     corio_writev(): no room left on the device.
 * EDQUOT     corio_writev(): the user's disk quota is exhausted.
 * EFBIG      corio_writev(): the file would grow past the size limit.
 * EPIPE      corio_writev(): fd is a pipe or socket whose reading end is
 *            closed, and SIGPIPE is ignored or handled (else SIGPIPE kills
 *            the process, as for corio_write()).
 * EPERM      called outside a task; or the kernel refused.
 * ECANCELED  the task was cancelled, before the call or while the transfer
 *            was in flight; or another task closed fd with corio_close()
 *            while this call waited. If the transfer completed anyway, its
 *            count is returned and the next blocking call reports the
 *            cancel.
 * ETIMEDOUT  a deadline scope of the task passed, before the call or while
 *            the transfer was in flight: as for ECANCELED.
 * ENOMEM     the timer of the task's deadline scope could not be armed (the
 *            transfer was then cancelled); or the kernel ran out of memory.
 * EBUSY      the loop's submission queue was full and could not be handed
 *            to the kernel.
 *
 * SEE ALSO
 * corio_read(3), corio_write(3), corio_recvmsg(3), readv(2), corio(7)
 */
ssize_t corio_readv(int fd, const struct iovec *iov, int iovcnt, int64_t off);
ssize_t corio_writev(int fd, const struct iovec *iov, int iovcnt, int64_t off);

/*= corio_fsync, corio_fdatasync - flush a file to its storage device
 *
 * corio_fsync() flushes the data and metadata of fd to the device, as
 * fsync(2) does; corio_fdatasync() only the data and the metadata needed
 * to read it back, as fdatasync(2). The calling task suspends until the
 * flush completes. fd may be a registered-file handle
 * (corio_register_file()).
 *
 * RETURN VALUE
 * 0, else -errno. Other errors of fsync(2) are passed through unchanged.
 *
 * ERRORS
 * EBADF      fd is negative or not open.
 * EINVAL     fd does not support synchronization (a pipe, a socket).
 * EIO        an error occurred during the flush, or an earlier write back
 *            failed.
 * ENOSPC     no room left on the device.
 * EDQUOT     the user's disk quota is exhausted.
 * EPERM      called outside a task.
 * ECANCELED  the task was cancelled, before the call or while the flush
 *            was in flight; or another task closed fd with corio_close()
 *            while this call waited. What was already flushed stays so.
 * ETIMEDOUT  a deadline scope of the task passed, before the call or while
 *            the flush was in flight.
 * ENOMEM     the timer of the task's deadline scope could not be armed (the
 *            flush was then cancelled); or the kernel ran out of memory.
 * EBUSY      the loop's submission queue was full and could not be handed
 *            to the kernel.
 *
 * SEE ALSO
 * corio_write(3), corio_close(3), fsync(2), corio(7)
 */
int     corio_fsync(int fd);
int     corio_fdatasync(int fd);

/*= corio_statx - get a file's status
 *
 * As statx(2): fills *st with the status of path, taken relative to the
 * directory dirfd when relative (AT_FDCWD: the current directory). flags
 * are AT_* flags (AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH with path "" for dirfd
 * itself, AT_STATX_*), mask the STATX_* fields wanted; st->stx_mask tells
 * which were filled. struct statx and the constants come from <sys/stat.h>
 * (with _GNU_SOURCE) or <linux/stat.h>. The calling task suspends until
 * the call completes.
 *
 * dirfd must be a real file descriptor: a registered-file handle
 * (corio_register_file()) is not accepted.
 *
 * RETURN VALUE
 * 0, else -errno. Other errors of statx(2) are passed through unchanged.
 *
 * ERRORS
 * EFAULT     path or st is NULL, or outside the address space.
 * ENOENT     a component of path does not exist, or path is empty without
 *            AT_EMPTY_PATH.
 * EACCES     search permission denied on a component of the path prefix.
 * ENOTDIR    a component of the path prefix is not a directory, or dirfd
 *            is not a directory and path is relative.
 * ELOOP      too many symbolic links.
 * ENAMETOOLONG path is too long.
 * EBADF      path is relative and dirfd is neither AT_FDCWD nor an open
 *            file descriptor (a registered handle included).
 * EINVAL     invalid flags, or mask has a reserved bit.
 * EPERM      called outside a task.
 * ECANCELED  the task was cancelled, before the call or while it was in
 *            flight (the call returns once the kernel is done with st).
 * ETIMEDOUT  a deadline scope of the task passed, before the call or while
 *            it was in flight: as for ECANCELED.
 * ENOMEM     the timer of the task's deadline scope could not be armed (the
 *            call was then cancelled); or the kernel ran out of memory.
 * EBUSY      the loop's submission queue was full and could not be handed
 *            to the kernel.
 *
 * EXAMPLE
 *     struct statx st;
 *     int r = corio_statx(AT_FDCWD, "data.txt", 0, STATX_SIZE, &st);
 *     if (r == 0)
 *         printf("%llu bytes\n", (unsigned long long)st.stx_size);
 *
 * SEE ALSO
 * corio_open(3), corio_read_file(3), statx(2), corio(7)
 */
int     corio_statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *st);

/*= corio_close - close a file descriptor
 *
 * Closes fd. Inside a task it first cancels every corio operation that
 * other tasks of this loop still have pending on fd (each of those calls
 * then fails with -ECANCELED), which io_uring would otherwise keep running
 * after the close, since each holds its own reference to the file; then it
 * closes fd through the ring, the task suspending until that is done.
 * Outside a task (no loop on the thread, or none of its tasks running) it
 * is close(2).
 *
 * fd is closed in every case: a cancel or a deadline of the calling task
 * does not interrupt the close (a close that could fail with -ECANCELED
 * would leak the fd), and the call never fails with -ECANCELED or
 * -ETIMEDOUT.
 *
 * A registered-file handle (corio_register_file()) is unregistered
 * instead, as corio_unregister_file() does; operations in flight on the
 * handle are not cancelled (see corio_register_file(3)).
 *
 * RETURN VALUE
 * 0, else -errno. Even then fd is closed (as with close(2) on Linux), so
 * it must not be closed again. Other errors of close(2) are passed through
 * unchanged.
 *
 * ERRORS
 * EBADF      fd is negative or not open; or fd is a registered handle
 *            that is not registered.
 * EIO        an I/O error occurred while the file was being flushed (a
 *            network file system, for example).
 * ENOSPC     a deferred write found no room (a network file system).
 * EDQUOT     a deferred write exceeded the disk quota.
 * EPERM      fd is a registered handle and the calling thread runs no
 *            loop.
 * ECANCELED  never returned: a cancelled task still closes fd. (Other
 *            tasks' calls on fd fail with it, see above.)
 * ETIMEDOUT  never returned: a deadline scope does not interrupt the close.
 *
 * SEE ALSO
 * corio_open(3), corio_socket(3), corio_unregister_file(3), close(2),
 * corio(7)
 */
int     corio_close(int fd);

/*= corio_read_file - read a whole file into memory
 *
 * Opens path read-only, reads the whole file into a buffer allocated with
 * malloc(3), NUL-terminated, and stores it in *data; the caller frees it
 * with free(3). The length does not count the NUL. max bounds the size:
 * a file larger than max bytes fails with -EFBIG (max 0 means 1 GiB).
 *
 * The size statx(2) reports is a hint: files that say 0 (those of /proc
 * and /sys) are read by growing the buffer until end of file, and a file
 * that grows past max while being read also fails with -EFBIG. Pipes and
 * FIFOs are read to end of file too (a FIFO with no writer reads as
 * empty). The calling task suspends at each step; the loop runs on.
 *
 * RETURN VALUE
 * The length of the file (without the NUL), else -errno. On an error
 * nothing is left allocated or open, and *data is NULL (unless path or data
 * is NULL: then *data is left alone). Other errors of corio_open(),
 * corio_statx() and corio_read() are passed through unchanged.
 *
 * ERRORS
 * EFAULT     path or data is NULL.
 * EFBIG      the file is larger than max bytes (or 1 GiB for max 0).
 * ENOMEM     no memory for the buffer; or as for corio_read().
 * ENOENT     path does not exist.
 * EACCES     permission denied.
 * EISDIR     path is a directory.
 * EMFILE     the process has too many open files.
 * EIO        a read failed with an I/O error.
 * EPERM      called outside a task.
 * ECANCELED  the task was cancelled before the call or during one of its
 *            steps; the file is closed and the buffer freed.
 * ETIMEDOUT  a deadline scope of the task passed: as for ECANCELED.
 *
 * EXAMPLE
 *     #include <corio.h>
 *     #include <stdio.h>
 *     #include <stdlib.h>
 *
 *     static int main_task(void *arg)
 *     {
 *         void *data;
 *         ssize_t n = corio_read_file("/proc/self/status", &data, 0);
 *
 *         (void)arg;
 *         if (n < 0)
 *             return (int)n;
 *         printf("%zd bytes\n", n);
 *         free(data);
 *         return 0;
 *     }
 *
 *     int main(void)
 *     {
 *         return corio_run(main_task, NULL) < 0;
 *     }
 *
 * SEE ALSO
 * corio_open(3), corio_read(3), corio_statx(3), corio_write_all(3),
 * corio(7)
 */
ssize_t corio_read_file(const char *path, void **data, size_t max);

/*= corio_write_all - write a whole buffer, looping over short writes
 *
 * Writes all n bytes of buf to fd with corio_write(), looping over short
 * writes. off = -1 writes at the file position; off >= 0 writes at off,
 * off + (bytes written so far), and so on. *written, when written is not
 * NULL, gets the bytes written in either case, also on -ECANCELED or
 * -ETIMEDOUT: a deadline tells how far it got.
 *
 * With n 0 nothing is written and 0 is returned at once (fd is not
 * checked, and no task is needed).
 *
 * RETURN VALUE
 * n, else the -errno that stopped it (see *written). The other errors of
 * corio_write() (see corio_write(3)) are passed through unchanged.
 *
 * ERRORS
 * EINVAL     off is below -1; or as for corio_write().
 * EFAULT     buf is NULL with n > 0; or as for corio_write().
 * EIO        a write transferred nothing (0 bytes), which would otherwise
 *            loop forever; or a low-level I/O error.
 * EBADF      fd is negative, not open, or not open for writing.
 * ENOSPC     no room left on the device.
 * EPIPE      fd is a pipe or socket whose reader is gone (SIGPIPE is
 *            raised first, see corio_write(3)).
 * EPERM      called outside a task (n > 0).
 * ECANCELED  the task was cancelled, before the call or during a write;
 *            *written tells what was written before.
 * ETIMEDOUT  a deadline scope of the task passed: as for ECANCELED.
 * ENOMEM     as for corio_write().
 *
 * SEE ALSO
 * corio_write(3), corio_send_all(3), corio_read_file(3), corio(7)
 */
ssize_t corio_write_all(int fd, const void *buf, size_t n, int64_t off, size_t *written);

/* ------------------------------------------------------------------------
 * Sockets (asyncio streams)
 *
 * The same rules as files. Sockets are made with SOCK_CLOEXEC; sends use
 * MSG_NOSIGNAL (a vanished peer is -EPIPE, never SIGPIPE). A recv that was
 * cancelled leaves the socket usable. corio_listen_tcp and corio_dial_tcp
 * make ready TCP sockets in one call, resolving names without blocking the
 * loop.
 * ------------------------------------------------------------------------ */

/*= corio_socket - create a socket
 *
 * As socket(2): creates an endpoint of the given domain (AF_INET,
 * AF_INET6, AF_UNIX, ...), type (SOCK_STREAM, SOCK_DGRAM, ...; flags such
 * as SOCK_NONBLOCK may be or'ed in) and protocol, and returns its fd.
 * SOCK_CLOEXEC is always added. It is an io_uring operation (the task
 * suspends until it completes); on a kernel without that operation (before
 * Linux 5.19) it falls back to socket(2) for the rest of the process.
 *
 * RETURN VALUE
 * The new socket's fd, else -errno. Other errors of socket(2) are passed
 * through unchanged.
 *
 * ERRORS
 * EAFNOSUPPORT domain is not supported.
 * EPROTONOSUPPORT protocol is not supported in this domain.
 * EINVAL     type or its flags are invalid.
 * EACCES     permission to create such a socket is denied.
 * EMFILE     the process has too many open files.
 * ENFILE     the system has too many open files.
 * ENOBUFS    no buffer space for the socket.
 * EPERM      called outside a task.
 * ECANCELED  the task was cancelled, before the call or while it was in
 *            flight; if the socket was made anyway, its fd is returned.
 * ETIMEDOUT  a deadline scope of the task passed: as for ECANCELED.
 * ENOMEM     the timer of the task's deadline scope could not be armed (the
 *            call was then cancelled); or the kernel ran out of memory.
 * EBUSY      the loop's submission queue was full and could not be handed
 *            to the kernel.
 *
 * SEE ALSO
 * corio_connect(3), corio_accept(3), corio_close(3), corio_listen_tcp(3),
 * corio_dial_tcp(3), socket(2), corio(7)
 */
int     corio_socket(int domain, int type, int protocol);

/*= corio_connect - connect a socket
 *
 * As connect(2): connects the socket fd to the address addr of len bytes.
 * For a stream socket the calling task suspends until the connection is
 * established or has failed. fd may be a registered-file handle
 * (corio_register_file()).
 *
 * RETURN VALUE
 * 0, else -errno. Other errors of connect(2) are passed through unchanged.
 *
 * ERRORS
 * EBADF      fd is negative or not open.
 * EFAULT     addr is NULL or outside the address space.
 * EINVAL     len is invalid for the socket's family.
 * ENOTSOCK   fd is not a socket.
 * EAFNOSUPPORT addr's family does not match the socket's.
 * ECONNREFUSED nothing listens at the address.
 * ENETUNREACH the network is unreachable.
 * EHOSTUNREACH the host is unreachable.
 * EADDRNOTAVAIL no local port was free, or the address is not available.
 * EISCONN    the socket is already connected.
 * EPERM      called outside a task; or a firewall rule refused.
 * ECANCELED  the task was cancelled, before the call or while connecting
 *            (the attempt is then abandoned; the socket is best closed);
 *            or another task closed fd with corio_close().
 * ETIMEDOUT  a deadline scope of the task passed, before the call or while
 *            connecting: as for ECANCELED. Also the kernel's own timeout:
 *            the peer never answered.
 * ENOMEM     the timer of the task's deadline scope could not be armed (the
 *            attempt was then cancelled); or the kernel ran out of memory.
 * EBUSY      the loop's submission queue was full and could not be handed
 *            to the kernel.
 *
 * SEE ALSO
 * corio_socket(3), corio_dial_tcp(3), corio_accept(3), connect(2),
 * corio(7)
 */
int     corio_connect(int fd, const struct sockaddr *addr, socklen_t len);

/*= corio_accept - accept a connection on a listening socket
 *
 * As accept4(2): the calling task suspends until a connection arrives on
 * the listening socket fd, and returns the new connected socket, made
 * with SOCK_CLOEXEC (and blocking mode, whatever fd's). addr may be NULL;
 * otherwise *len is its size on entry and gets the peer address's length.
 * fd may be a registered-file handle (corio_register_file()); the new
 * socket is a plain fd.
 *
 * RETURN VALUE
 * The new socket's fd, else -errno. Other errors of accept4(2) are passed
 * through unchanged.
 *
 * ERRORS
 * EBADF      fd is negative or not open.
 * EFAULT     addr is not NULL but len is; or either is outside the
 *            address space.
 * EINVAL     fd is not listening, or *len is invalid.
 * ENOTSOCK   fd is not a socket.
 * EOPNOTSUPP fd is not a connection-oriented socket.
 * ECONNABORTED a connection was aborted before it was accepted.
 * EMFILE     the process has too many open files.
 * ENFILE     the system has too many open files.
 * ENOBUFS    no buffer space for the socket.
 * EPERM      called outside a task; or a firewall rule refused.
 * ECANCELED  the task was cancelled, before the call or while waiting; or
 *            another task closed fd with corio_close(). If a connection
 *            was accepted anyway, its fd is returned instead and the next
 *            blocking call reports the cancel: no fd is leaked.
 * ETIMEDOUT  a deadline scope of the task passed: as for ECANCELED.
 * ENOMEM     the timer of the task's deadline scope could not be armed (the
 *            wait was then cancelled); or the kernel ran out of memory.
 * EBUSY      the loop's submission queue was full and could not be handed
 *            to the kernel.
 *
 * SEE ALSO
 * corio_listen_tcp(3), corio_socket(3), corio_recv(3), accept4(2),
 * corio(7)
 */
int     corio_accept(int fd, struct sockaddr *addr, socklen_t *len);

/*= corio_recv, corio_recvmsg - receive from a socket
 *
 * corio_recv() receives up to n bytes from the socket fd into buf, as
 * recv(2); n is capped at 0x7ffff000 bytes per call. corio_recvmsg()
 * receives into msg's buffers, as recvmsg(2): msg->msg_iov and
 * msg->msg_iovlen, the sender's address into msg->msg_name (may be NULL),
 * ancillary data into msg->msg_control; msg->msg_flags and the lengths
 * are updated. flags are recv(2)'s (MSG_PEEK, MSG_WAITALL, MSG_DONTWAIT,
 * ...). The calling task suspends until data arrives. fd may be a
 * registered-file handle (corio_register_file()).
 *
 * RETURN VALUE
 * The number of bytes received; 0 when the peer has shut down its side
 * (or n was 0). Else -errno. Other errors of recvmsg(2) are passed through
 * unchanged.
 *
 * ERRORS
 * EBADF      fd is negative or not open.
 * EFAULT     buf is NULL with n > 0 (corio_recv), msg is NULL
 *            (corio_recvmsg), or a buffer is outside the address space;
 *            in debug mode also when a buffer is not mapped memory (a line
 *            on stderr names the call).
 * ENOTSOCK   fd is not a socket.
 * ENOTCONN   a stream socket is not connected.
 * ECONNRESET the peer reset the connection.
 * EAGAIN     flags has MSG_DONTWAIT and no data is waiting.
 * EINVAL     an invalid argument (flags, msg's lengths).
 * EPERM      called outside a task.
 * ECANCELED  the task was cancelled, before the call or while waiting; or
 *            another task closed fd with corio_close(). The socket stays
 *            usable: no data is lost (if some had arrived anyway, its count
 *            is returned instead and the next blocking call reports the
 *            cancel).
 * ETIMEDOUT  a deadline scope of the task passed, before the call or while
 *            waiting: as for ECANCELED. Also a TCP connection that timed
 *            out (retransmissions or keepalive unanswered).
 * ENOMEM     the timer of the task's deadline scope could not be armed (the
 *            wait was then cancelled); or the kernel ran out of memory.
 * EBUSY      the loop's submission queue was full and could not be handed
 *            to the kernel.
 *
 * NOTES
 * O_NONBLOCK on fd makes no difference on recent kernels: io_uring waits
 * for data. Use MSG_DONTWAIT to try without waiting.
 *
 * SEE ALSO
 * corio_send(3), corio_read(3), corio_poll(3), corio_accept(3), recv(2),
 * recvmsg(2), corio(7)
 */
ssize_t corio_recv(int fd, void *buf, size_t n, int flags);
ssize_t corio_recvmsg(int fd, struct msghdr *msg, int flags);

/*= corio_send, corio_sendmsg - send on a socket
 *
 * corio_send() sends up to n bytes of buf on the socket fd, as send(2); n
 * is capped at 0x7ffff000 bytes per call. corio_sendmsg() sends msg's
 * buffers (msg->msg_iov, msg->msg_iovlen) to msg->msg_name (may be NULL
 * on a connected socket), with ancillary data from msg->msg_control, as
 * sendmsg(2). flags are send(2)'s; MSG_NOSIGNAL is always added, so a peer
 * that went away is -EPIPE, never SIGPIPE. The calling task suspends until
 * the data is queued. fd may be a registered-file handle
 * (corio_register_file()).
 *
 * RETURN VALUE
 * The number of bytes sent, which may be less than asked for (a stream
 * socket): see corio_send_all(). Else -errno. Other errors of sendmsg(2)
 * are passed through unchanged.
 *
 * ERRORS
 * EBADF      fd is negative or not open.
 * EFAULT     buf is NULL with n > 0 (corio_send), msg is NULL
 *            (corio_sendmsg), or a buffer is outside the address space; in
 *            debug mode also when a buffer is not mapped memory (a line on
 *            stderr names the call).
 * ENOTSOCK   fd is not a socket.
 * ENOTCONN   the socket is not connected (and no address was given).
 * EDESTADDRREQ a datagram socket has no peer and no address was given.
 * EPIPE      the connection is shut down for writing, or the peer closed
 *            it.
 * ECONNRESET the peer reset the connection.
 * EMSGSIZE   a datagram is too large to be sent at once.
 * EAGAIN     flags has MSG_DONTWAIT and there is no room to queue data.
 * EINVAL     an invalid argument (flags, msg's lengths or address).
 * EPERM      called outside a task; or a firewall rule refused.
 * ECANCELED  the task was cancelled, before the call or while waiting; or
 *            another task closed fd with corio_close(). If data was sent
 *            anyway, its count is returned instead and the next blocking
 *            call reports the cancel.
 * ETIMEDOUT  a deadline scope of the task passed, before the call or while
 *            waiting: as for ECANCELED. Also a TCP connection that timed
 *            out.
 * ENOMEM     the timer of the task's deadline scope could not be armed (the
 *            send was then cancelled); or the kernel ran out of memory.
 * ENOBUFS    the interface's output queue is full.
 * EBUSY      the loop's submission queue was full and could not be handed
 *            to the kernel.
 *
 * SEE ALSO
 * corio_send_all(3), corio_recv(3), corio_write(3), send(2), sendmsg(2),
 * corio(7)
 */
ssize_t corio_send(int fd, const void *buf, size_t n, int flags);
ssize_t corio_sendmsg(int fd, const struct msghdr *msg, int flags);

/*= corio_send_all - send a whole buffer, looping over short sends
 *
 * Sends all n bytes of buf on the socket fd with corio_send() (flags for
 * each send; MSG_NOSIGNAL added), looping over short sends. *sent, when
 * sent is not NULL, gets the bytes sent in either case, also on
 * -ECANCELED or -ETIMEDOUT: a deadline tells how far it got.
 *
 * With n 0 nothing is sent and 0 is returned at once (fd is not checked,
 * and no task is needed).
 *
 * RETURN VALUE
 * n, else the -errno that stopped it (see *sent). The other errors of
 * corio_send() (see corio_send(3)) are passed through unchanged.
 *
 * ERRORS
 * EFAULT     buf is NULL with n > 0; or as for corio_send().
 * EIO        a send transferred nothing (0 bytes), which would otherwise
 *            loop forever.
 * EBADF      fd is negative or not open.
 * EPIPE      the peer closed the connection.
 * ECONNRESET the peer reset the connection.
 * EPERM      called outside a task (n > 0).
 * ECANCELED  the task was cancelled, before the call or during a send; or
 *            another task closed fd with corio_close(). *sent tells what
 *            was sent before.
 * ETIMEDOUT  a deadline scope of the task passed: as for ECANCELED.
 * ENOMEM     as for corio_send().
 *
 * SEE ALSO
 * corio_send(3), corio_write_all(3), corio_recv(3), corio(7)
 */
ssize_t corio_send_all(int fd, const void *buf, size_t n, int flags, size_t *sent);

/*= corio_shutdown - shut down part of a full-duplex connection
 *
 * As shutdown(2): how is SHUT_RD, SHUT_WR (the peer reads end of file) or
 * SHUT_RDWR. The calling task suspends until the operation completes. fd
 * may be a registered-file handle (corio_register_file()).
 *
 * RETURN VALUE
 * 0, else -errno. Other errors of shutdown(2) are passed through
 * unchanged.
 *
 * ERRORS
 * EBADF      fd is negative or not open.
 * EINVAL     how is invalid.
 * ENOTCONN   the socket is not connected.
 * ENOTSOCK   fd is not a socket.
 * EPERM      called outside a task.
 * ECANCELED  the task was cancelled, before the call or while it was in
 *            flight; or another task closed fd with corio_close().
 * ETIMEDOUT  a deadline scope of the task passed: as for ECANCELED.
 * ENOMEM     the timer of the task's deadline scope could not be armed (the
 *            call was then cancelled).
 * EBUSY      the loop's submission queue was full and could not be handed
 *            to the kernel.
 *
 * SEE ALSO
 * corio_close(3), corio_send(3), shutdown(2), corio(7)
 */
int     corio_shutdown(int fd, int how);

/*= corio_poll - wait until a file descriptor is ready
 *
 * Waits until fd is ready for events (POLLIN, POLLOUT, POLLPRI, POLLRDHUP,
 * ...) and returns the events that are ready (poll(2)'s revents): it lets
 * non-blocking third-party code (a database client, TLS) run in a task.
 * Only the calling task waits; if fd is ready already, the call returns at
 * once. POLLERR and POLLHUP are reported whether asked for or not. fd may
 * be a registered-file handle (corio_register_file()).
 *
 * RETURN VALUE
 * The ready events, a positive mask, else -errno.
 *
 * ERRORS
 * EBADF      fd is negative or not open.
 * EPERM      called outside a task.
 * ECANCELED  the task was cancelled, before the call or while waiting; or
 *            another task closed fd with corio_close().
 * ETIMEDOUT  a deadline scope of the task passed, before the call or while
 *            waiting: as for ECANCELED. A deadline scope around the call is
 *            how to wait with a timeout.
 * ENOMEM     the timer of the task's deadline scope could not be armed (the
 *            wait was then cancelled); or the kernel ran out of memory.
 * EBUSY      the loop's submission queue was full and could not be handed
 *            to the kernel.
 *
 * EXAMPLE
 *     // A non-blocking client library says what it waits for.
 *     while (!client_done(c)) {
 *         int r = corio_poll(client_fd(c), client_wants(c));
 *         if (r < 0)
 *             return r;           // cancelled, timed out, ...
 *         client_step(c, r);      // r: the ready events
 *     }
 *
 * SEE ALSO
 * corio_recv(3), corio_deadline_push(3), poll(2), corio(7)
 */
int     corio_poll(int fd, short events);

/*= corio_listen_tcp, corio_listen_tcp_ex - open a listening TCP socket
 *
 * Returns a TCP socket listening on host:port, with SO_REUSEADDR (and
 * SOCK_CLOEXEC). host NULL or "" means 127.0.0.1; "0.0.0.0" or "::"
 * listen on every interface; names are resolved as corio_dial_tcp() does
 * (on the thread pool, without blocking the loop), and the first address
 * that can be bound is used. Port 0 picks a free port (see
 * corio_local_port()). backlog <= 0 means SOMAXCONN.
 *
 * corio_listen_tcp_ex() takes flags: CORIO_LISTEN_REUSEPORT adds
 * SO_REUSEPORT, so that several sockets (one listener per loop) share the
 * port and the kernel spreads connections over them. corio_listen_tcp() is
 * corio_listen_tcp_ex() with flags 0.
 *
 * RETURN VALUE
 * The listening socket's fd, else -errno: the resolver's error, or the
 * error of the last address tried. Other errors of socket(2), bind(2) and
 * listen(2) are passed through unchanged.
 *
 * ERRORS
 * EINVAL     flags has an unknown bit (checked first, even outside a task);
 *            or the resolver failed for a reason that is not one of those
 *            below.
 * EPERM      called outside a task.
 * EADDRINUSE the address is already in use (with CORIO_LISTEN_REUSEPORT:
 *            by a socket without SO_REUSEPORT, or of another user).
 * EACCES     the port is privileged (below 1024) and the caller may not
 *            bind it.
 * EADDRNOTAVAIL host is not an address of this machine.
 * EAFNOSUPPORT the address family is not supported (IPv6 disabled).
 * ENOENT     host is a name that does not resolve.
 * ENAMETOOLONG host is 1025 bytes long or longer.
 * EAGAIN     the name could not be resolved for now (a temporary DNS
 *            failure); or the thread pool had no worker and none could be
 *            started.
 * EIO        the resolver failed with a system error and no errno.
 * EMFILE     the process has too many open files.
 * ENFILE     the system has too many open files.
 * ENOMEM     no memory (for the lookup, the resolver, or the timer of the
 *            task's deadline scope while resolving).
 * ECANCELED  the task was cancelled, before the call or while a name was
 *            being resolved (the lookup is abandoned).
 * ETIMEDOUT  a deadline scope of the task passed: as for ECANCELED.
 * EBUSY      the loop's submission queue was full and could not be handed
 *            to the kernel (while starting a name lookup).
 *
 * NOTES
 * Numeric addresses need no lookup and no thread: then the call does not
 * suspend. socket(2), bind(2) and listen(2) are plain system calls, which
 * do not block. With "localhost" the first address that binds may be ::1
 * alone; use "127.0.0.1" for IPv4.
 *
 * EXAMPLE
 *     #include <corio.h>
 *     #include <stdio.h>
 *     #include <string.h>
 *
 *     static int lfd;
 *
 *     static int client(void *arg)
 *     {
 *         char buf[16];
 *         uint16_t port = (uint16_t)corio_local_port(lfd);
 *         int fd = corio_dial_tcp("127.0.0.1", port);
 *         ssize_t n;
 *
 *         (void)arg;
 *         if (fd < 0)
 *             return fd;
 *         corio_send_all(fd, "ping", 4, 0, NULL);
 *         n = corio_recv(fd, buf, sizeof buf, 0);
 *         corio_close(fd);
 *         return n == 4 && memcmp(buf, "ping", 4) == 0 ? 0 : -1;
 *     }
 *
 *     static int main_task(void *arg)
 *     {
 *         corio_task *t;
 *         char buf[16];
 *         ssize_t n;
 *         int c;
 *
 *         (void)arg;
 *         lfd = corio_listen_tcp("127.0.0.1", 0, 0);
 *         if (lfd < 0)
 *             return lfd;
 *         t = corio_spawn(client, NULL);
 *         c = corio_accept(lfd, NULL, NULL);
 *         if (c < 0)
 *             return c;
 *         while ((n = corio_recv(c, buf, sizeof buf, 0)) > 0)
 *             corio_send_all(c, buf, (size_t)n, 0, NULL);  // echo
 *         corio_close(c);
 *         corio_close(lfd);
 *         return corio_join(t);
 *     }
 *
 *     int main(void)
 *     {
 *         int r = corio_run(main_task, NULL);
 *         printf("%s\n", r == 0 ? "ok" : "failed");
 *         return r != 0;
 *     }
 *
 * SEE ALSO
 * corio_dial_tcp(3), corio_accept(3), corio_local_port(3),
 * corio_run_loops(3), corio_threads_set(3), corio(7)
 */
#define CORIO_LISTEN_REUSEPORT (1u << 0)
int     corio_listen_tcp(const char *host, uint16_t port, int backlog);
int     corio_listen_tcp_ex(const char *host, uint16_t port, int backlog, unsigned flags);

/*= corio_dial_tcp - open a TCP connection
 *
 * Returns a TCP socket connected to host:port, with TCP_NODELAY set (and
 * SOCK_CLOEXEC). Numeric addresses (IPv4, IPv6) connect at once; names are
 * resolved with getaddrinfo(3) on the thread pool, without blocking the
 * loop, and each address is tried in turn, in getaddrinfo's order, until
 * one connects. The calling task suspends meanwhile.
 *
 * RETURN VALUE
 * The connected socket's fd, else -errno: the resolver's error, or the
 * error of the last address tried. Other errors of corio_socket() and
 * corio_connect() are passed through unchanged.
 *
 * ERRORS
 * EINVAL     host is NULL or "" (checked first, even outside a task); or
 *            the resolver failed for a reason that is not one of those
 *            below.
 * EPERM      called outside a task.
 * ENOENT     host is a name that does not resolve.
 * ENAMETOOLONG host is 1025 bytes long or longer.
 * EAGAIN     the name could not be resolved for now (a temporary DNS
 *            failure); or the thread pool had no worker and none could be
 *            started.
 * EIO        the resolver failed with a system error and no errno.
 * ECONNREFUSED nothing listens at the (last) address.
 * ENETUNREACH the network is unreachable.
 * EHOSTUNREACH the host is unreachable.
 * EAFNOSUPPORT the (last) address's family is not supported (IPv6 disabled).
 * EMFILE     the process has too many open files.
 * ENFILE     the system has too many open files.
 * ENOMEM     no memory (for the lookup, the resolver, the kernel, or the
 *            timer of the task's deadline scope).
 * ECANCELED  the task was cancelled, before the call, while the name was
 *            resolved (the lookup is abandoned) or while connecting (the
 *            socket is closed); no further address is tried.
 * ETIMEDOUT  a deadline scope of the task passed: as for ECANCELED. Also
 *            when the kernel's own connection attempt timed out (the peer
 *            never answered): no further address is tried then either.
 * EBUSY      the loop's submission queue was full and could not be handed
 *            to the kernel.
 *
 * NOTES
 * A deadline scope bounds the whole call, lookup included:
 *
 *     corio_deadline_push(2000);
 *     int fd = corio_dial_tcp("example.com", 80);
 *     corio_deadline_pop();
 *
 * SEE ALSO
 * corio_listen_tcp(3), corio_connect(3), corio_send(3), corio_recv(3),
 * corio_deadline_push(3), getaddrinfo(3), corio(7)
 */
int     corio_dial_tcp(const char *host, uint16_t port);

/*= corio_local_port - the local port of a socket
 *
 * Returns the local port of the bound IPv4 or IPv6 socket fd, as
 * getsockname(2) tells it: for example the port a listener made with port
 * 0 got. It does not suspend and needs no loop. fd must be a real file
 * descriptor, not a registered-file handle.
 *
 * RETURN VALUE
 * The port (0 for a socket that is not bound yet), else -errno.
 *
 * ERRORS
 * EBADF      fd is not an open file descriptor (a registered handle
 *            included).
 * ENOTSOCK   fd is not a socket.
 * EAFNOSUPPORT fd is not an IPv4 or IPv6 socket (an AF_UNIX one, say).
 * ENOBUFS    the kernel had no memory to answer.
 *
 * SEE ALSO
 * corio_listen_tcp(3), getsockname(2), corio(7)
 */
int     corio_local_port(int fd);

/* ------------------------------------------------------------------------
 * Fast paths for heavy users: registered files and buffers
 *
 * Both belong to the calling thread's loop. A registered file is a handle,
 * an int with CORIO_FIXED_FILE_BIT set, that most I/O calls above accept in
 * place of the fd: the kernel then skips looking the file up on each
 * operation. Registered buffers are memory pinned once, so that
 * corio_read_fixed and corio_write_fixed skip mapping its pages on each
 * operation.
 * ------------------------------------------------------------------------ */

/*= corio_register_file, corio_unregister_file - register a file with the loop
 *
 * corio_register_file() puts fd into the loop's table of registered files
 * (set up on first use with 4096 slots, or as many as the soft
 * RLIMIT_NOFILE allows if that is lower; lowest free slot first) and
 * returns a
 * handle, an int with CORIO_FIXED_FILE_BIT set, that corio_read(),
 * corio_write(), corio_readv(), corio_writev(), corio_fsync(),
 * corio_fdatasync(), corio_connect(), corio_accept(), corio_recv(),
 * corio_recvmsg(), corio_send(), corio_sendmsg(), corio_send_all(),
 * corio_write_all(), corio_shutdown(), corio_poll(), corio_read_fixed(),
 * corio_write_fixed() and corio_close() accept in place of the fd: the
 * kernel then skips looking the file up on each operation. The table holds
 * its own reference to the file: the original fd may be closed. The handle
 * is not a file descriptor: system calls, corio_local_port() and the dirfd
 * of corio_openat() and corio_statx() do not take it. It is valid only on
 * the loop that made it, until the loop ends.
 *
 * corio_unregister_file() removes the handle from the table (as
 * corio_close(handle) does), dropping the table's reference: the file is
 * closed once no other fd or operation holds it.
 *
 * Neither call suspends the task.
 *
 * RETURN VALUE
 * corio_register_file(): the handle (> 0), else -errno.
 * corio_unregister_file(): 0, else -errno. Other errors of
 * io_uring_register(2) are passed through unchanged.
 *
 * ERRORS
 * EPERM      the calling thread runs no loop.
 * EBADF      corio_register_file(): fd is negative, a handle already, or
 *            not an open file descriptor (or an io_uring instance's).
 *            corio_unregister_file(): handle is not a handle of this loop
 *            that is registered.
 * ENFILE     corio_register_file(): the table is full (all its slots hold
 *            handles; see NOTES for its size).
 * EMFILE     corio_register_file(), first call on the loop: the kernel
 *            refused the table (the open file limit changed meanwhile).
 * ENOMEM     corio_register_file(), first call on the loop: no memory for
 *            the table.
 *
 * NOTES
 * The kernel refuses a table larger than the process's open file limit,
 * so the table has min(4096, soft RLIMIT_NOFILE) slots, fixed when it is
 * set up: with the common default of 1024 (ulimit -n) it holds 1024
 * handles; raise the soft limit first (setrlimit(2)) for more.
 *
 * Unlike corio_close() of a plain fd, unregistering does not cancel the
 * operations other tasks have in flight on the handle: they keep the file
 * and run until they complete (a recv until data comes). Cancel those
 * tasks first, or shutdown(2) a socket.
 *
 * EXAMPLE
 *     int h = corio_register_file(fd);
 *     if (h >= 0) {
 *         close(fd);                       // the table keeps the file
 *         n = corio_read(h, buf, sizeof buf, 0);
 *         corio_close(h);                  // unregisters it
 *     }
 *
 * SEE ALSO
 * corio_register_buffers(3), corio_close(3), io_uring_register(2),
 * corio(7)
 */
#define CORIO_FIXED_FILE_BIT 0x40000000
int     corio_register_file(int fd);
int     corio_unregister_file(int handle);

/*= corio_register_buffers, corio_unregister_buffers - pin I/O buffers
 *
 * corio_register_buffers() pins the n buffers of iov in memory once
 * (io_uring_register_buffers) so that corio_read_fixed() and
 * corio_write_fixed() into them skip mapping their pages on each
 * operation; buffer i is iov[i]. The memory must stay allocated until the
 * buffers are unregistered or the loop ends. A loop has one set at a time.
 *
 * corio_unregister_buffers() drops the loop's set.
 *
 * Neither call suspends the task.
 *
 * RETURN VALUE
 * 0, else -errno. Other errors of io_uring_register(2) are passed through
 * unchanged.
 *
 * ERRORS
 * EPERM      the calling thread runs no loop.
 * EINVAL     corio_register_buffers(): iov is NULL, n is 0, or n is above
 *            the kernel's maximum (16384).
 * EBUSY      corio_register_buffers(): the loop has a set registered
 *            already.
 * EFAULT     corio_register_buffers(): a buffer is NULL with a length, is
 *            larger than 1 GiB, or is not memory that can be pinned.
 * ENOMEM     corio_register_buffers(): the locked-memory limit
 *            (RLIMIT_MEMLOCK, ulimit -l) does not allow pinning that much,
 *            for a process without CAP_IPC_LOCK; or no memory.
 * ENXIO      corio_unregister_buffers(): no set is registered.
 *
 * SEE ALSO
 * corio_read_fixed(3), corio_register_file(3), io_uring_register(2),
 * corio(7)
 */
int     corio_register_buffers(const struct iovec *iov, unsigned n);
int     corio_unregister_buffers(void);

/*= corio_read_fixed, corio_write_fixed - read or write via a registered buffer
 *
 * As corio_read() and corio_write(), but buf and n must lie within the
 * registered buffer buf_index (corio_register_buffers()): the kernel then
 * skips mapping the pages of buf on each operation. off is as for
 * corio_read() (-1: the file position). Unlike corio_read(), n is not
 * capped: n above 0x7ffff000 is refused. fd may be a registered-file
 * handle. The calling task suspends until the transfer completes.
 *
 * RETURN VALUE
 * The number of bytes transferred, which may be less than n (0: end of
 * file for corio_read_fixed()), else -errno. Other errors of read(2) and
 * write(2) are passed through unchanged.
 *
 * ERRORS
 * EFAULT     buf..buf+n is not within registered buffer buf_index,
 *            buf_index is not a registered buffer, or the loop has no
 *            buffers registered; buf is NULL with n > 0; in debug mode also
 *            when buf is not mapped memory.
 * EINVAL     off is below -1 or n is above 0x7ffff000; or fd cannot be
 *            read or written this way.
 * EBADF      fd is negative or not open, or not open for reading
 *            (corio_read_fixed) or writing (corio_write_fixed).
 * EISDIR     corio_read_fixed(): fd is a directory.
 * EIO        a low-level I/O error.
 * ENOSPC     corio_write_fixed(): no room left on the device.
 * EPIPE      corio_write_fixed(): fd is a pipe or socket whose reader is
 *            gone, and SIGPIPE is ignored or handled (else SIGPIPE kills
 *            the process, as for corio_write()).
 * EPERM      called outside a task.
 * ECANCELED  the task was cancelled, before the call or while the transfer
 *            was in flight; or another task closed fd with corio_close().
 *            If the transfer completed anyway, its count is returned and
 *            the next blocking call reports the cancel.
 * ETIMEDOUT  a deadline scope of the task passed: as for ECANCELED.
 * ENOMEM     the timer of the task's deadline scope could not be armed (the
 *            transfer was then cancelled); or the kernel ran out of memory.
 * EBUSY      the loop's submission queue was full and could not be handed
 *            to the kernel.
 *
 * EXAMPLE
 *     static char pool[1 << 20];
 *     struct iovec iov = { pool, sizeof pool };
 *
 *     if (corio_register_buffers(&iov, 1) == 0)
 *         n = corio_read_fixed(fd, pool + 4096, 4096, 0, 0);
 *
 * SEE ALSO
 * corio_register_buffers(3), corio_read(3), corio_register_file(3),
 * corio(7)
 */
ssize_t corio_read_fixed(int fd, void *buf, size_t n, int64_t off, unsigned buf_index);
ssize_t corio_write_fixed(int fd, const void *buf, size_t n, int64_t off, unsigned buf_index);

/* ------------------------------------------------------------------------
 * Offload: the thread pool (asyncio.to_thread) and process pools
 *
 * Work that would block the loop (a blocking library call, a long
 * computation) runs elsewhere while only the calling task waits: on a
 * worker thread of the process's thread pool (corio_to_thread), or in a
 * worker process of a process pool (run_in_executor with a
 * ProcessPoolExecutor: corio_run_in_process).
 * ------------------------------------------------------------------------ */

/*= corio_to_thread - run a function on the thread pool
 *
 * Runs fn(arg) on a worker thread of the process's thread pool and
 * returns fn's result; only the calling task waits, the loop runs on. fn
 * must not call corio: it runs on no loop (corio's blocking calls fail
 * there with -EPERM).
 *
 * The pool is shared by every loop and started on first use (by this call
 * or a name lookup of corio_dial_tcp() or corio_listen_tcp()), with
 * CORIO_THREADS workers (default: the number of online cores, at least 4)
 * unless corio_threads_set() said otherwise; its queue is bounded (4096
 * jobs): past that, jobs wait on their loop, in order. An idle worker (one
 * at a time) watches the queue for CORIO_THREADS_SPIN_US microseconds
 * before it sleeps, yielding the CPU meanwhile, so a job that comes soon
 * needs no wake-up. In a child of fork(2) the pool starts afresh if used.
 *
 * Cancellation and deadlines cannot interrupt fn, and fn may use memory on
 * the caller's stack (arg often points there): a cancelled corio_to_thread
 * returns -ECANCELED (or -ETIMEDOUT) only after fn has returned, and fn's
 * result is then lost. A call cancelled while still queued (no worker has
 * taken it) is withdrawn and returns at once; fn never runs.
 *
 * RETURN VALUE
 * fn's result, returned as it is (a negative result of fn cannot be told
 * apart from corio's errors below), else -errno.
 *
 * ERRORS
 * EPERM      called outside a task.
 * EINVAL     fn is NULL.
 * EAGAIN     the pool had no worker and none could be started
 *            (pthread_create(3) failed); the next call tries again.
 * EMFILE     first use on this loop: no fd left for the loop's wake-up
 *            eventfd.
 * ENFILE     as EMFILE, for the system's open file table.
 * ECANCELED  the task was cancelled: before the call or while fn was still
 *            queued (fn never runs), or while fn ran (the call returned
 *            once fn had returned; its result is lost).
 * ETIMEDOUT  a deadline scope of the task passed: as for ECANCELED.
 * ENOMEM     no memory for the loop's wake-up channel (first use); or the
 *            timer of the task's deadline scope could not be armed: as for
 *            ECANCELED.
 * EBUSY      the loop's submission queue was full and could not be handed
 *            to the kernel (first use on this loop).
 *
 * ENVIRONMENT
 * Read once, when the pool starts:
 *
 * - CORIO_THREADS: the number of workers, 1 to 1024 (another value means
 *   the default); ignored after corio_threads_set().
 * - CORIO_THREADS_SPIN_US: how long an idle worker watches the queue, in
 *   microseconds, up to 1000000; default 50; 0 (or a value out of range)
 *   turns it off.
 * - CORIO_THREADS_WAKE: "eventfd" makes workers always hand finished jobs
 *   back through the loop's eventfd rather than IORING_OP_MSG_RING (for
 *   benchmarks).
 *
 * EXAMPLE
 *     #include <corio.h>
 *     #include <stdio.h>
 *     #include <unistd.h>
 *
 *     static int blocking(void *arg)   // runs on a worker thread
 *     {
 *         usleep(1000);                // would stall the loop in a task
 *         return *(int *)arg * 2;
 *     }
 *
 *     static int main_task(void *arg)
 *     {
 *         int x = 21;
 *
 *         (void)arg;
 *         return corio_to_thread(blocking, &x);
 *     }
 *
 *     int main(void)
 *     {
 *         int r = corio_run(main_task, NULL);
 *
 *         printf("%d\n", r);
 *         return r != 42;
 *     }
 *
 * SEE ALSO
 * corio_threads_set(3), corio_run_in_process(3), corio_loop_call(3),
 * corio(7)
 */
int corio_to_thread(int (*fn)(void *), void *arg);

/*= corio_threads_set - set the size of the thread pool
 *
 * Sets the number of workers the process's thread pool (corio_to_thread())
 * starts with. It must be called before the pool starts, that is before
 * the first corio_to_thread() in the process, or the first host name
 * (not a numeric address) given to corio_dial_tcp() or corio_listen_tcp();
 * it overrides CORIO_THREADS. It needs no loop and does not suspend.
 *
 * RETURN VALUE
 * 0, else -errno.
 *
 * ERRORS
 * EINVAL     n is below 1 or above 1024.
 * EBUSY      the pool has started already.
 *
 * SEE ALSO
 * corio_to_thread(3), corio(7)
 */
int corio_threads_set(int n);

/*= corio_procpool_new, corio_procpool_free - make or free a process pool
 *
 * corio_procpool_new() makes a pool of worker processes for
 * corio_run_in_process(): it forks `workers` processes now, on the calling
 * thread (0: one per CPU the process may run on, at most 256). Each is
 * joined to the parent by a socketpair and runs jobs one at a time, in a
 * clean state (no loop, no ring: a child never touches the parent's ring).
 * It needs no loop: a pool may be made before corio_run() and used by any
 * loop, one loop at a time.
 *
 * A worker sees only fds 0-2 (and its own socket), default signal handlers
 * (SIGINT and SIGQUIT ignored: Ctrl-C is the parent's), no blocked
 * signals, an 8 MiB stack, and no loop: corio's calls fail there as
 * outside a task. It gets
 * SIGKILL when the thread that forked it ends: workers die with the thread
 * that made the pool (they are replaced on demand if the pool outlives
 * it). Each fork blocks the calling thread (and its loop) for as long as
 * fork(2) takes: about 0.1 ms for a small program, more for one with much
 * memory mapped.
 *
 * corio_procpool_free() frees p. Inside a task it first waits for the
 * jobs in flight on p (neither cancellation nor a deadline scope ends that
 * wait; new corio_run_in_process() calls fail meanwhile), then closes the
 * pool's sockets: every worker reads end of file and exits. Each is reaped
 * within a second, or killed and reaped: no zombies, no fds left. Inside a
 * task the reaping waits do not block the loop (given pidfd_open(2),
 * Linux 5.3 and later); outside one they block the thread. In a child
 * forked from the program (not by the pool) it only closes that process's
 * copies of the pool's descriptors. p NULL is a no-op.
 *
 * RETURN VALUE
 * corio_procpool_new(): the pool, else NULL with errno set.
 * corio_procpool_free() returns nothing; when it refuses, it sets errno
 * and p stays valid.
 *
 * ERRORS
 * EINVAL     corio_procpool_new(): workers is below 0 or above 256.
 *            corio_procpool_free(): p is not a pool.
 * ENOMEM     corio_procpool_new(): no memory for the pool, or fork(2)
 *            failed for lack of it.
 * EAGAIN     corio_procpool_new(): fork(2) failed (the process limit,
 *            RLIMIT_NPROC, was reached).
 * EMFILE     corio_procpool_new(): no fd left for a worker's socketpair.
 * ENFILE     corio_procpool_new(): the system's open file table is full.
 * EBUSY      corio_procpool_free(): jobs are in flight on p and the caller
 *            is not a task of the loop running them (another loop, or
 *            outside a task; a line on stderr says so), or another task is
 *            already freeing p (p will be freed: do not use it).
 *
 * NOTES
 * On an error of corio_procpool_new() the workers already forked are
 * stopped and reaped.
 *
 * SEE ALSO
 * corio_run_in_process(3), corio_to_thread(3), fork(2), corio(7)
 */
corio_procpool *corio_procpool_new(int workers);
void    corio_procpool_free(corio_procpool *p);

/*= corio_run_in_process - run a function in a worker process of a pool
 *
 * Runs fn(in, inlen, out, outcap) in a worker process of p and returns its
 * result. A job is a function pointer, valid in the worker because it
 * runs the same program image, plus bytes in; it returns an ssize_t and
 * bytes out: fn returns how many bytes of out it filled (<= outcap) or
 * -errno. corio_run_in_process() sends the job to an idle worker (jobs
 * queue in order when all are busy), waits without blocking the loop,
 * copies the output into out and returns fn's result.
 *
 * inlen may be up to CORIO_PROC_MAX_IO (64 MiB); outcap above it is
 * clamped (fn is told the clamped size). fn gets buffers of its own,
 * never NULL, even when inlen or outcap is 0.
 *
 * A worker that dies running a job (a crash, a kill) is replaced and the
 * pool keeps working. One found dead while idle (killed from outside)
 * is replaced and the job, not started yet, is retried once on the new
 * worker.
 *
 * On a cancel or a deadline, a job not yet started is withdrawn; a running
 * one's worker is killed and replaced (fn cannot be interrupted any other
 * way), and the call returns once that is done.
 *
 * RETURN VALUE
 * fn's result, returned as it is (a negative result of fn cannot be told
 * apart from corio's errors below), with the output in out; else -errno.
 *
 * ERRORS
 * EINVAL     p is NULL, not a pool, or being freed; fn is NULL; in is NULL
 *            with inlen > 0; or out is NULL with outcap > 0.
 * EMSGSIZE   inlen is above CORIO_PROC_MAX_IO.
 * EPERM      called outside a task.
 * EXDEV      another loop has jobs in flight on p.
 * ENOBUFS    fn claimed more than outcap bytes (nothing is copied).
 * EPIPE      the worker died running the job (crash, kill, exit) or broke
 *            the protocol: it is replaced and the pool keeps working.
 * ECANCELED  the task was cancelled, before the call or while it waited
 *            for a worker (the job is withdrawn) or while fn ran (the
 *            worker was killed, reaped and replaced first; out may hold
 *            part of an output).
 * ETIMEDOUT  a deadline scope of the task passed: as for ECANCELED.
 * ENOMEM     the worker could not allocate its buffers (inlen and outcap
 *            bytes); or fork(2) failed for lack of memory (see EAGAIN); or
 *            the timer of the task's deadline scope could not be armed (as
 *            for ECANCELED).
 * EAGAIN     the job picked a slot whose dead worker could not be replaced
 *            yet, and fork(2) failed again; the next job tries again.
 * EMFILE     as for EAGAIN, but socketpair(2) found no free fd.
 * ENFILE     as for EMFILE, the system's open file table being full.
 * EBUSY      the loop's submission queue was full and could not be handed
 *            to the kernel.
 *
 * NOTES
 * A worker is a copy of the parent as it was when the worker was forked
 * (when the pool was made, or when it was replaced): fn sees that memory,
 * not the parent's later changes, and a function of a library loaded
 * after that is not there. What fn changes stays in that worker, for its
 * next jobs.
 *
 * ENVIRONMENT
 * - CORIO_PROC_SPIN_US: after answering, a worker polls for its next job
 *   for this many microseconds (default 50, up to 100000; 0 or a value out
 *   of range: never), yielding the CPU meanwhile, before it sleeps:
 *   back-to-back jobs then skip a wakeup. Read by each worker when it
 *   starts.
 *
 * EXAMPLE
 *     #include <corio.h>
 *     #include <errno.h>
 *     #include <stdio.h>
 *     #include <string.h>
 *
 *     // Runs in a worker process: upper-cases its input.
 *     static ssize_t upper(const void *in, size_t inlen, void *out,
 *                          size_t outcap)
 *     {
 *         const char *s = in;
 *         char *d = out;
 *
 *         if (inlen > outcap)
 *             return -ENOBUFS;
 *         for (size_t i = 0; i < inlen; i++)
 *             d[i] = s[i] >= 'a' && s[i] <= 'z' ? s[i] - 32 : s[i];
 *         return (ssize_t)inlen;
 *     }
 *
 *     static int main_task(void *arg)
 *     {
 *         corio_procpool *p = corio_procpool_new(2);
 *         char out[16];
 *         ssize_t n;
 *
 *         (void)arg;
 *         if (!p)
 *             return -1;
 *         n = corio_run_in_process(p, upper, "hello", 5, out, sizeof out);
 *         corio_procpool_free(p);
 *         if (n < 0)
 *             return (int)n;
 *         printf("%.*s\n", (int)n, out);
 *         return memcmp(out, "HELLO", 5) != 0;
 *     }
 *
 *     int main(void)
 *     {
 *         return corio_run(main_task, NULL) != 0;
 *     }
 *
 * SEE ALSO
 * corio_procpool_new(3), corio_to_thread(3), corio(7)
 */
#define CORIO_PROC_MAX_IO ((size_t)64 << 20)
typedef ssize_t (*corio_proc_fn)(const void *in, size_t inlen, void *out, size_t outcap);
ssize_t corio_run_in_process(corio_procpool *p, corio_proc_fn fn, const void *in, size_t inlen,
			     void *out, size_t outcap);

#ifdef __cplusplus
}
#endif

#endif /* CORIO_H */
