/*
 * 14_blocking_fixed.c - the blocking call of 06_blocking_mistake.c, fixed
 * with a worker thread (asyncio.to_thread).
 *
 *     def legacy_call():
 *         time.sleep(2)                        # blocks whoever calls it
 *
 *     async def ticker():
 *         while True:
 *             print("tick")
 *             await asyncio.sleep(0.25)
 *
 *     async def worker():
 *         await asyncio.sleep(0.6)
 *         legacy_call()                        # the mistake: blocks the loop
 *         # await asyncio.to_thread(legacy_call)  # the fix
 *         await asyncio.sleep(0.6)
 *
 *     async def main():
 *         t = asyncio.create_task(ticker())
 *         await worker()
 *         t.cancel()
 *
 * 06 replaced a wait by corio_sleep_ms. That is not always possible: the
 * blocking call may be inside a library (a database driver, a compression
 * routine, getpwnam) that knows nothing of corio. Then the call has to run
 * somewhere else than the loop's thread: corio_to_thread(fn, arg) runs it
 * on a worker thread and suspends only the calling task until it returns.
 * The call is unchanged; only where it runs changes.
 *
 * What to observe: called directly, legacy_call stops the ticks for ~2
 * units (the line after the gap says how long it was). Through
 * corio_to_thread the same call takes the same 2 units for the worker, but
 * the ticks keep coming every 0.25 unit.
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

static double max_gap; /* longest time between two ticks, in units */

/* def legacy_call(): a blocking call we cannot change. Shaped for
 * corio_to_thread: int fn(void *). */
static int legacy_call(void *arg)
{
	struct timespec ts = {
		.tv_sec  = (time_t)(2 * unit_ms / 1000),
		.tv_nsec = (long)(2 * unit_ms % 1000) * 1000000L,
	};

	(void)arg;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	return 0;
}

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

/* async def worker(): arg says whether to use the fix. */
static int worker(void *arg)
{
	int fixed = *(const int *)arg;
	int r;

	if ((r = corio_sleep_ms(unit_ms * 6 / 10)) < 0)
		return r;
	if (!fixed) {
		printf("[%.2f] worker: legacy_call() - the loop's thread blocks\n", elapsed_units());
		r = legacy_call(NULL);
	} else {
		printf("[%.2f] worker: corio_to_thread(legacy_call) - a worker thread blocks\n",
		       elapsed_units());
		r = corio_to_thread(legacy_call, NULL);
	}
	if (r < 0)
		return r;
	printf("[%.2f] worker: legacy_call returned\n", elapsed_units());
	return corio_sleep_ms(unit_ms * 6 / 10);
}

static int run(int fixed)
{
	corio_task *tick, *work;
	int r, rt;

	t0 = corio_now_ns();
	max_gap = 0;
	if (!(tick = corio_spawn(ticker, NULL)))
		return -errno;
	if (!(work = corio_spawn(worker, &fixed))) {
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

	printf("\n-- the mistake: the worker task calls legacy_call() itself\n");
	if ((r = run(0)) < 0)
		return r;
	printf("The ticker stalled: the call held the loop's only thread for 2 units.\n");

	printf("\n-- the fix: the worker task calls it through corio_to_thread()\n");
	if ((r = run(1)) < 0)
		return r;
	printf("The ticks kept coming: the call blocked a worker thread of the pool, and\n"
	       "only the task waiting for it was suspended.\n");
	return 0;
}

int main(void)
{
	int r;

	read_unit();
	r = corio_run(amain, NULL);
	if (r < 0) {
		fprintf(stderr, "14_blocking_fixed: %s\n", strerror(-r));
		return 1;
	}
	return 0;
}
