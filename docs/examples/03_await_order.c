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

#ifndef UNIT_MS
#define UNIT_MS 1000 /* one tutorial second, in milliseconds */
#endif

static uint64_t unit_ms = UNIT_MS; /* CORIO_EXAMPLE_UNIT_MS overrides it */
static uint64_t t0;

static void read_unit(void)
{
	const char *s = getenv("CORIO_EXAMPLE_UNIT_MS");
	char *end;
	unsigned long long v;

	if (!s || !*s)
		return;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v == 0 || v > 60000)
		fprintf(stderr, "ignoring CORIO_EXAMPLE_UNIT_MS=%s (want 1..60000)\n", s);
	else
		unit_ms = v;
}

static double elapsed_units(void)
{
	return (double)(corio_now_ns() - t0) / 1e6 / (double)unit_ms;
}

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
