/*
 * 11_debug_blocking.c - debug mode names the task that blocks the loop.
 *
 *     async def ticker():
 *         while True:
 *             print("tick")
 *             await asyncio.sleep(0.25)
 *
 *     async def worker():
 *         await asyncio.sleep(0.5)
 *         time.sleep(1)               # the mistake: blocks the event loop
 *         # await asyncio.sleep(1)    # the fix
 *         await asyncio.sleep(0.5)
 *
 *     async def main():
 *         asyncio.get_running_loop().slow_callback_duration = 0.25
 *         t = asyncio.create_task(ticker())
 *         await worker()
 *         t.cancel()
 *
 *     asyncio.run(main(), debug=True)
 *     # asyncio logs: Executing <Task ... coro=<worker()>> took 1.001 seconds
 *
 * 06_blocking_mistake.c shows what a blocking call does to the other tasks;
 * this program shows how to find it. In debug mode corio times every run
 * of a task, from the moment it is switched in to the moment it suspends.
 * A task that ran longer than slow_task_ms without suspending is reported
 * on stderr, by name, when it finally suspends:
 *
 *     corio: debug: task 'blocking-worker' ran 1000.1 ms without suspending
 *     (a blocking call, or a loop that never yields?)
 *
 * A well-behaved task runs for microseconds between two suspensions, so
 * the report points at a blocking call (nanosleep, usleep, a blocking
 * read, a DNS lookup, a lock held by another thread) or at a long
 * computation. Name your tasks (corio_spawn_ex with attr.name): the report
 * and the task dump use the name.
 *
 * Debug mode is CORIO_CFG_DEBUG in corio_run_config, as here, or
 * CORIO_DEBUG=1 in the environment for any program (CORIO_SLOW_TASK_MS sets
 * the threshold then; the default is 100 ms). This program sets
 * slow_task_ms to a quarter of a unit so that the demonstration scales with
 * the unit. Debug mode also reports tasks still alive when main returns,
 * objects never freed, deep stack use, and dumps every task on SIGQUIT.
 *
 * What to observe: in the first run, the ticks stop while blocking-worker
 * sleeps in nanosleep, and a "corio: debug:" line names it with the time it
 * held the thread. In the second run, fixed-worker sleeps with
 * corio_sleep_ms, the ticks go on, and debug mode has nothing to report.
 *
 * One unit is one second, as in the tutorial; CORIO_EXAMPLE_UNIT_MS=50 in
 * the environment makes it 50 ms.
 */
#include <corio.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "unit.h"

/* async def ticker(): runs until cancelled. */
static int ticker(void *arg)
{
	int r;

	(void)arg;
	for (int n = 0;; n++) {
		printf("[%.2f] tick %d\n", elapsed_units(), n);
		if ((r = corio_sleep_ms(unit_ms / 4)) < 0)
			return r; /* -ECANCELED: main called corio_cancel */
	}
}

/* async def worker(): arg says whether to make the mistake. */
static int worker(void *arg)
{
	int blocking = *(const int *)arg;
	const char *me = corio_task_name(corio_current());
	int r;

	if ((r = corio_sleep_ms(unit_ms / 2)) < 0)
		return r;
	if (blocking) {
		struct timespec ts = {
			.tv_sec  = (time_t)(unit_ms / 1000),
			.tv_nsec = (long)(unit_ms % 1000) * 1000000L,
		};

		printf("[%.2f] %s: nanosleep(1 unit) - blocks the whole thread\n",
		       elapsed_units(), me);
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	} else {
		printf("[%.2f] %s: corio_sleep_ms(1 unit) - suspends only this task\n",
		       elapsed_units(), me);
		if ((r = corio_sleep_ms(unit_ms)) < 0)
			return r;
	}
	printf("[%.2f] %s: awake; its next corio_sleep_ms suspends it\n", elapsed_units(), me);
	/* Debug mode's check runs here, when the task suspends. */
	return corio_sleep_ms(unit_ms / 2);
}

static int run(const char *name, int blocking)
{
	corio_spawn_attr tattr = { .name = "ticker" }, wattr = { .name = name };
	corio_task *tick, *work;
	int r, rt;

	t0 = corio_now_ns();
	if (!(tick = corio_spawn_ex(ticker, NULL, &tattr)))
		return -errno;
	if (!(work = corio_spawn_ex(worker, &blocking, &wattr))) {
		r = -errno;
		corio_cancel(tick);
		corio_join(tick);
		return r;
	}
	r = corio_join(work); /* await worker() */
	corio_cancel(tick);   /* t.cancel() */
	rt = corio_join(tick);
	if (r < 0)
		return r;
	printf("[%.2f] done\n", elapsed_units());
	return rt == -ECANCELED ? 0 : rt < 0 ? rt : -EPROTO;
}

static int amain(void *arg)
{
	int r;

	(void)arg;
	printf("1 unit = %llu ms; [t] is the time in units; debug mode on, slow_task_ms = %u\n",
	       (unsigned long long)unit_ms, *(const unsigned *)arg);

	printf("\n-- the mistake: blocking-worker calls nanosleep()\n");
	if ((r = run("blocking-worker", 1)) < 0)
		return r;

	printf("\n-- the fix: fixed-worker calls corio_sleep_ms()\n");
	if ((r = run("fixed-worker", 0)) < 0)
		return r;
	printf("No report this time: every task suspended within slow_task_ms.\n");
	return 0;
}

int main(void)
{
	corio_config cfg = { 0 };
	int r;

	read_unit();
	/* The report goes to stderr, the program's lines to stdout: line
	 * buffering keeps them in order when both go to one pipe or file. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	cfg.flags = CORIO_CFG_DEBUG;                 /* asyncio.run(..., debug=True) */
	cfg.slow_task_ms = unit_ms >= 4 ? (unsigned)(unit_ms / 4) : 1; /* 0.25 unit */
	r = corio_run_config(&cfg, amain, &cfg.slow_task_ms);
	if (r < 0) {
		fprintf(stderr, "11_debug_blocking: %s\n", strerror(-r));
		return 1;
	}
	return 0;
}
