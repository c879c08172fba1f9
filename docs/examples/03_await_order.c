/*
 * 03_await_order.c - the order you await in is not the order tasks finish in.
 *
 *     async def work(n):
 *         await asyncio.sleep(n)
 *         print(f"work({n}) finished")
 *         return n
 *
 *     async def main():
 *         t1 = asyncio.create_task(work(1))
 *         t2 = asyncio.create_task(work(2))
 *         print(f"await t2 -> {await t2}")    # awaited first, finishes last
 *         print(f"await t1 -> {await t1}")    # already done: no wait
 *
 * What to observe: the tasks print their own "finished" lines at 1 and at 2
 * units, whatever main waits on. Joining t2 first does not hold t1 back;
 * when main finally joins t1 it has long finished, so that join returns its
 * result at once. The whole program takes ~2 units.
 *
 * One unit is one second, as in the tutorial; CORIO_EXAMPLE_UNIT_MS=50 in
 * the environment makes it 50 ms.
 */
#include <corio.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

/* async def work(n): the argument is the number itself, not a pointer. */
static int work(void *arg)
{
	int n = (int)(intptr_t)arg;
	int r = corio_sleep_ms((uint64_t)n * unit_ms);

	if (r < 0)
		return r;
	printf("[%.2f] work(%d) finished\n", elapsed_units(), n);
	return n;
}

static int amain(void *arg)
{
	corio_task *t1, *t2;
	int r1, r2;

	(void)arg;
	printf("1 unit = %llu ms; [t] is the time in units\n", (unsigned long long)unit_ms);
	t0 = corio_now_ns();
	if (!(t1 = corio_spawn(work, (void *)(intptr_t)1)))
		return -errno;
	if (!(t2 = corio_spawn(work, (void *)(intptr_t)2))) {
		r1 = -errno;
		corio_join(t1);
		return r1;
	}
	printf("[%.2f] main: joining t2 first\n", elapsed_units());
	r2 = corio_join(t2);
	printf("[%.2f] main: join(t2) -> %d\n", elapsed_units(), r2);
	r1 = corio_join(t1);
	printf("[%.2f] main: join(t1) -> %d (it had finished at 1; no wait)\n",
	       elapsed_units(), r1);
	if (r1 < 0 || r2 < 0)
		return r1 < 0 ? r1 : r2;
	return 0;
}

int main(void)
{
	int r;

	read_unit();
	r = corio_run(amain, NULL);
	if (r < 0) {
		fprintf(stderr, "03_await_order: %s\n", strerror(-r));
		return 1;
	}
	return 0;
}
