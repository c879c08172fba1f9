/*
 * 12_to_thread.c - blocking calls on worker threads (asyncio.to_thread).
 *
 *     def fetch_data(n):                # a blocking call: an old driver,
 *         time.sleep(n)                 # a library without async support
 *         return f"data {n}"
 *
 *     async def ticker():
 *         while True:
 *             print("tick")
 *             await asyncio.sleep(0.5)
 *
 *     async def main():
 *         t = asyncio.create_task(ticker())
 *         a = await asyncio.to_thread(fetch_data, 1)     # one after the
 *         b = await asyncio.to_thread(fetch_data, 2)     # other: ~3 s
 *         a, b = await asyncio.gather(                   # both at once: ~2 s
 *             asyncio.to_thread(fetch_data, 1),
 *             asyncio.to_thread(fetch_data, 2))
 *         t.cancel()
 *
 * Why: fetch_data blocks the thread that calls it (nanosleep here, a
 * blocking read or a DNS lookup in real programs). Called from a task, it
 * would block the whole loop (06_blocking_mistake.c, 14_blocking_fixed.c).
 * corio_to_thread(fn, arg) runs fn(arg) on a worker thread of a pool that
 * corio starts on first use, and suspends only the calling task until fn
 * returns; the loop goes on running the others, the ticker included.
 *
 * fn takes a void * and returns an int, so arguments and results travel in
 * a struct; it may live on the caller's stack: the task cannot leave
 * corio_to_thread before fn has returned, even when cancelled. fn runs on
 * no loop and must not call corio.
 *
 * What to observe: awaited one after the other, the two fetches take 1 + 2
 * = 3 units; started as two tasks and gathered, they run at the same time
 * on two worker threads and take ~2 units, not 3. Either way the ticks keep
 * coming every half unit.
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

struct fetch {
	int  n;          /* in: units to block for */
	char data[32];   /* out */
};

/* def fetch_data(n): runs on a worker thread; blocks it for n units. */
static int fetch_data(void *arg)
{
	struct fetch *f = arg;
	uint64_t ms = (uint64_t)f->n * unit_ms;
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000),
			       .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	snprintf(f->data, sizeof(f->data), "data %d", f->n);
	return 0;
}

/* asyncio.to_thread(fetch_data, n), as a task of its own. */
static int fetch_in_thread(void *arg)
{
	return corio_to_thread(fetch_data, arg);
}

/* async def ticker(): runs until cancelled. */
static int ticker(void *arg)
{
	int *ticks = arg;
	int r;

	for (;;) {
		printf("[%.2f] tick\n", elapsed_units());
		++*ticks;
		if ((r = corio_sleep_ms(unit_ms / 2)) < 0)
			return r; /* -ECANCELED: main called corio_cancel */
	}
}

static int one_after_the_other(void)
{
	struct fetch a = { .n = 1 }, b = { .n = 2 };
	int r;

	/* a = await asyncio.to_thread(fetch_data, 1), then the same with 2 */
	if ((r = corio_to_thread(fetch_data, &a)) < 0)
		return r;
	printf("[%.2f] got %s\n", elapsed_units(), a.data);
	if ((r = corio_to_thread(fetch_data, &b)) < 0)
		return r;
	printf("[%.2f] got %s\n", elapsed_units(), b.data);
	return 0;
}

static int both_at_once(void)
{
	struct fetch f[2] = { { .n = 1 }, { .n = 2 } };
	corio_task *ts[2];
	int res[2], r;

	/* asyncio.gather(asyncio.to_thread(fetch_data, 1), ...(fetch_data, 2)) */
	if (!(ts[0] = corio_spawn(fetch_in_thread, &f[0])))
		return -errno;
	if (!(ts[1] = corio_spawn(fetch_in_thread, &f[1]))) {
		r = -errno;
		corio_join(ts[0]);
		return r;
	}
	/* f lives on this stack: gather returns only after both have ended
	 * (CORIO_GATHER_ALL waits for every task, errors or not). */
	if ((r = corio_gather(ts, 2, res, CORIO_GATHER_ALL)) < 0)
		return r;
	if (res[0] < 0 || res[1] < 0)
		return res[0] < 0 ? res[0] : res[1];
	printf("[%.2f] got %s and %s\n", elapsed_units(), f[0].data, f[1].data);
	return 0;
}

static int amain(void *arg)
{
	corio_task *tick;
	double took;
	int ticks = 0, r, rt;

	(void)arg;
	printf("1 unit = %llu ms; [t] is the time in units\n\n", (unsigned long long)unit_ms);
	t0 = corio_now_ns();
	if (!(tick = corio_spawn(ticker, &ticks))) /* t = create_task(ticker()) */
		return -errno;

	printf("-- awaited one after the other (expect ~3 units)\n");
	r = one_after_the_other();
	took = elapsed_units();
	if (r == 0) {
		printf("took %.2f units\n", took);
		printf("\n-- both at once: two tasks, gathered (expect ~2 units)\n");
		if ((r = both_at_once()) == 0)
			printf("took %.2f units, not 3: the two blocking calls overlapped on\n"
			       "two worker threads\n", elapsed_units() - took);
	}
	corio_cancel(tick); /* t.cancel() */
	rt = corio_join(tick);
	if (r < 0)
		return r;
	if (rt != -ECANCELED)
		return rt < 0 ? rt : -EPROTO;
	printf("the ticker ticked %d times in %.2f units: the loop never stalled\n", ticks,
	       elapsed_units());
	return 0;
}

int main(void)
{
	int r;

	read_unit();
	r = corio_run(amain, NULL); /* asyncio.run(main()) */
	if (r < 0) {
		fprintf(stderr, "12_to_thread: %s\n", strerror(-r));
		return 1;
	}
	return 0;
}
