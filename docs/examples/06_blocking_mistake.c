/*
 * 06_blocking_mistake.c - the classic mistake: a blocking call in a task.
 *
 *     async def ticker():
 *         while True:
 *             print("tick")
 *             await asyncio.sleep(0.25)
 *
 *     async def worker():
 *         await asyncio.sleep(0.6)
 *         time.sleep(2)             # the mistake: blocks the event loop
 *         # await asyncio.sleep(2)  # the right way: suspends this task only
 *         await asyncio.sleep(0.6)
 *
 *     async def main():
 *         t = asyncio.create_task(ticker())
 *         await worker()
 *         t.cancel()
 *
 * Why: a loop is one thread. Tasks take turns on it, and a task only gives
 * the thread back when it calls something that suspends (corio_sleep_ms,
 * corio_join, corio_yield, ...). nanosleep() is an ordinary system call: it
 * puts the whole thread to sleep, so for those 2 units nothing else runs -
 * no task, no timer, no I/O completion. The ticker's timer expires on time,
 * but there is nobody to wake it until nanosleep returns.
 *
 * What to observe: with nanosleep, the ticks stop for ~2 units (the line
 * after the gap says how long it was); with corio_sleep_ms they keep coming
 * every 0.25 unit.
 *
 * The fix for a wait is corio_sleep_ms. For blocking work that cannot be
 * avoided (a blocking library call, a long computation), asyncio has
 * asyncio.to_thread(); corio's equivalent is corio_to_thread, shown in
 * 14_blocking_fixed.c.
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

static double   max_gap; /* longest time between two ticks, in units */

/* async def ticker(): runs until cancelled. */
static int ticker(void *arg)
{
	double last = -1;
	int r;

	(void)arg;
	for (int n = 0;; n++) {
		double now = elapsed_units();

		if (last >= 0 && now - last > max_gap)
			max_gap = now - last;
		if (last >= 0 && now - last > 0.5)
			printf("[%.2f] tick %d   <- %.2f units since the previous tick\n",
			       now, n, now - last);
		else
			printf("[%.2f] tick %d\n", now, n);
		last = now;
		if ((r = corio_sleep_ms(unit_ms / 4)) < 0)
			return r; /* -ECANCELED: main called corio_cancel */
	}
}

/* async def worker(): arg says whether to make the mistake. */
static int worker(void *arg)
{
	int blocking = *(const int *)arg;
	int r;

	if ((r = corio_sleep_ms(unit_ms * 6 / 10)) < 0)
		return r;
	if (blocking) {
		struct timespec ts = {
			.tv_sec  = (time_t)(2 * unit_ms / 1000),
			.tv_nsec = (long)(2 * unit_ms % 1000) * 1000000L,
		};

		printf("[%.2f] worker: nanosleep(2 units) - the whole thread sleeps\n",
		       elapsed_units());
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	} else {
		printf("[%.2f] worker: corio_sleep_ms(2 units) - only this task sleeps\n",
		       elapsed_units());
		if ((r = corio_sleep_ms(2 * unit_ms)) < 0)
			return r;
	}
	printf("[%.2f] worker: awake\n", elapsed_units());
	return corio_sleep_ms(unit_ms * 6 / 10);
}

static int run(int blocking)
{
	corio_task *tick, *work;
	int r, rt;

	t0 = corio_now_ns();
	max_gap = 0;
	if (!(tick = corio_spawn(ticker, NULL)))
		return -errno;
	if (!(work = corio_spawn(worker, &blocking))) {
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
	if (rt != -ECANCELED)
		return rt < 0 ? rt : -EPROTO;
	printf("longest gap between ticks: %.2f units\n", max_gap);
	return 0;
}

static int amain(void *arg)
{
	int r;

	(void)arg;
	printf("1 unit = %llu ms; [t] is the time in units\n", (unsigned long long)unit_ms);

	printf("\n-- the mistake: the worker calls nanosleep()\n");
	if ((r = run(1)) < 0)
		return r;
	printf("The ticker stalled: nanosleep blocked the loop's only thread, so no\n"
	       "task ran and no timer fired until it returned.\n");

	printf("\n-- the fix: the worker calls corio_sleep_ms()\n");
	if ((r = run(0)) < 0)
		return r;
	printf("The ticks kept coming: corio_sleep_ms suspends only the calling task\n"
	       "and the loop goes on running the others. For blocking work that cannot\n"
	       "be avoided, asyncio has to_thread and corio has corio_to_thread\n"
	       "(see 14_blocking_fixed).\n");
	return 0;
}

int main(void)
{
	int r;

	read_unit();
	r = corio_run(amain, NULL);
	if (r < 0) {
		fprintf(stderr, "06_blocking_mistake: %s\n", strerror(-r));
		return 1;
	}
	return 0;
}
