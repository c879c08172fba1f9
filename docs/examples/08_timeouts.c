/*
 * 08_timeouts.c - timeouts: wait_for, a deadline over a block of calls, and
 * a shield that lets cleanup run after a cancel.
 *
 *     async def eternity():
 *         await asyncio.sleep(3600)
 *
 *     async def quick():
 *         await asyncio.sleep(0.5)
 *         return 42
 *
 *     async def main():
 *         try:
 *             await asyncio.wait_for(eternity(), timeout=1)   # TimeoutError at 1 s
 *         except TimeoutError:
 *             print("timeout!")
 *         print(await asyncio.wait_for(quick(), timeout=1)) # 42 at 0.5 s
 *
 *         try:
 *             async with asyncio.timeout(2.5):   # one deadline for the block
 *                 for i in range(1, 5):
 *                     await step(i)              # 1 s each: step 3 times out
 *         except TimeoutError:
 *             print("the block timed out")
 *
 *     async def client():                        # cleanup after a cancel
 *         try:
 *             await asyncio.sleep(10)            # talk to the server
 *         except asyncio.CancelledError:
 *             async with asyncio.timeout(2):     # bound the cleanup
 *                 await asyncio.shield(goodbye())
 *             raise
 *
 * corio_wait_for(t, ms) is wait_for on a spawned task: t's result if it
 * ends in time, else t is cancelled (its blocking call returns -ECANCELED),
 * corio_wait_for waits until it has ended and returns -ETIMEDOUT.
 *
 * corio_deadline_push(ms) ... corio_deadline_pop() is `async with
 * asyncio.timeout()`: every blocking call in between returns -ETIMEDOUT once
 * the deadline has passed, and the pop says whether this scope expired. C
 * has no exceptions, so the code checks each call and leaves the block on
 * the first error.
 *
 * A corio cancellation is not a one-shot exception as in asyncio: once a
 * task is cancelled, every blocking call it makes returns -ECANCELED, so
 * cleanup that has to wait (a goodbye to the server, a flush) would fail
 * at once. corio_shield_push() ... corio_shield_pop() defers the
 * cancellation for the calls in between; a deadline pushed inside the
 * shield bounds the cleanup. The pop returns -ECANCELED: the cancellation
 * is still there, and the task ends with it.
 *
 * What to observe: the timeout at 1 unit, 42 at 0.5; steps 1 and 2 done and
 * step 3 cut off at 2.5 units; the client cancelled at 1 unit, a goodbye
 * without a shield failing at once, the shielded one taking its 0.5 unit.
 *
 * One unit is one second, as in the tutorial; CORIO_EXAMPLE_UNIT_MS=50 in
 * the environment makes it 50 ms.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strerrorname_np */
#endif
#include <corio.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

/* "-ETIMEDOUT", or the value itself when it is not an error. */
static const char *describe(int r, char *buf, size_t len)
{
	if (r >= 0)
		snprintf(buf, len, "%d", r);
	else
		snprintf(buf, len, "-%s", strerrorname_np(-r));
	return buf;
}

/* async def eternity(): says how its sleep ended. */
static int eternity(void *arg)
{
	int r = corio_sleep_ms(3600 * unit_ms);
	char buf[32];

	(void)arg;
	printf("[%.2f] eternity: corio_sleep_ms returned %s\n", elapsed_units(),
	       describe(r, buf, sizeof(buf)));
	return r;
}

/* async def quick() */
static int quick(void *arg)
{
	int r = corio_sleep_ms(unit_ms / 2);

	(void)arg;
	return r < 0 ? r : 42;
}

static int wait_for_demo(void)
{
	corio_task *t;
	char buf[32];
	int r;

	t0 = corio_now_ns();
	if (!(t = corio_spawn(eternity, NULL)))
		return -errno;
	r = corio_wait_for(t, unit_ms); /* consumes t, whatever it returns */
	printf("[%.2f] main: corio_wait_for(eternity, 1 unit) -> %s\n", elapsed_units(),
	       describe(r, buf, sizeof(buf)));
	if (r != -ETIMEDOUT)
		return r < 0 ? r : -EPROTO;

	t0 = corio_now_ns();
	if (!(t = corio_spawn(quick, NULL)))
		return -errno;
	r = corio_wait_for(t, unit_ms);
	printf("[%.2f] main: corio_wait_for(quick, 1 unit) -> %s\n", elapsed_units(),
	       describe(r, buf, sizeof(buf)));
	return r < 0 ? r : 0;
}

/* async def step(i): one unit of work. */
static int step(int i)
{
	int r = corio_sleep_ms(unit_ms);

	if (r < 0)
		printf("[%.2f] step %d: -%s\n", elapsed_units(), i, strerrorname_np(-r));
	else
		printf("[%.2f] step %d: done\n", elapsed_units(), i);
	return r;
}

static int deadline_demo(void)
{
	int r = 0, rp;

	t0 = corio_now_ns();
	/* async with asyncio.timeout(2.5): */
	if ((rp = corio_deadline_push(unit_ms * 5 / 2)) < 0)
		return rp;
	for (int i = 1; i <= 4 && r == 0; i++)
		r = step(i);
	rp = corio_deadline_pop(); /* always pop what was pushed */
	printf("[%.2f] main: corio_deadline_pop -> %s\n", elapsed_units(),
	       rp == -ETIMEDOUT ? "-ETIMEDOUT: the block timed out" : "0: in time");
	if (r < 0 && r != -ETIMEDOUT)
		return r;
	/* Outside the scope, blocking calls work again. */
	r = corio_sleep_ms(unit_ms / 10);
	printf("[%.2f] main: after the pop, corio_sleep_ms(0.1 unit) -> %d\n", elapsed_units(), r);
	return r;
}

/* async def client(): cancelled while it talks, it says goodbye anyway. */
static int client(void *arg)
{
	char b1[32], b2[32], b3[32];
	int r, rd, rs;

	(void)arg;
	printf("[%.2f] client: talking to the server (10 units)\n", elapsed_units());
	r = corio_sleep_ms(10 * unit_ms);
	printf("[%.2f] client: talk ended with %s\n", elapsed_units(), describe(r, b1, sizeof(b1)));
	if (r != -ECANCELED)
		return r < 0 ? r : -EPROTO;

	/* Without a shield the cancellation sticks: this fails at once. */
	r = corio_sleep_ms(unit_ms / 2);
	printf("[%.2f] client: goodbye without a shield -> %s, at once\n", elapsed_units(),
	       describe(r, b1, sizeof(b1)));

	if ((r = corio_shield_push()) < 0)
		return r;
	if ((r = corio_deadline_push(2 * unit_ms)) < 0) { /* bound the cleanup */
		corio_shield_pop();
		return r;
	}
	printf("[%.2f] client: shielded goodbye (0.5 unit, within a 2-unit deadline)\n",
	       elapsed_units());
	r = corio_sleep_ms(unit_ms / 2); /* "send goodbye, wait for the ack" */
	rd = corio_deadline_pop();
	rs = corio_shield_pop();
	printf("[%.2f] client: goodbye -> %s, deadline_pop -> %s, shield_pop -> %s\n",
	       elapsed_units(), describe(r, b1, sizeof(b1)), describe(rd, b2, sizeof(b2)),
	       describe(rs, b3, sizeof(b3)));
	/* raise: end with the cancellation the shield held back. */
	return rs < 0 ? rs : -ECANCELED;
}

static int shield_demo(void)
{
	corio_task *t;
	char buf[32];
	int r;

	t0 = corio_now_ns();
	if (!(t = corio_spawn(client, NULL)))
		return -errno;
	if ((r = corio_sleep_ms(unit_ms)) < 0) {
		corio_cancel(t);
		corio_join(t);
		return r;
	}
	printf("[%.2f] main: corio_cancel(client)\n", elapsed_units());
	corio_cancel(t);
	r = corio_join(t);
	printf("[%.2f] main: corio_join(client) -> %s\n", elapsed_units(),
	       describe(r, buf, sizeof(buf)));
	return r == -ECANCELED ? 0 : r < 0 ? r : -EPROTO;
}

static int amain(void *arg)
{
	int r;

	(void)arg;
	printf("1 unit = %llu ms; [t] is the time in units\n", (unsigned long long)unit_ms);

	printf("\n-- corio_wait_for (asyncio.wait_for): a slow task, then a quick one\n");
	if ((r = wait_for_demo()) < 0)
		return r;

	printf("\n-- a deadline scope (async with asyncio.timeout(2.5)) around 4 steps of 1 unit\n");
	if ((r = deadline_demo()) < 0)
		return r;

	printf("\n-- a shield scope: cleanup after a cancel\n");
	return shield_demo();
}

int main(void)
{
	int r;

	read_unit();
	r = corio_run(amain, NULL);
	if (r < 0) {
		fprintf(stderr, "08_timeouts: %s\n", strerror(-r));
		return 1;
	}
	return 0;
}
