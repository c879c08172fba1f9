/*
 * 01_sequential_vs_concurrent.c - the asyncio tutorial's say_after program.
 *
 *     async def say_after(delay, what):
 *         await asyncio.sleep(delay)
 *         print(what)
 *
 *     async def main():                      # sequential: ~3 s
 *         print(f"started at {time.strftime('%X')}")
 *         await say_after(1, 'hello')
 *         await say_after(2, 'world')
 *         print(f"finished at {time.strftime('%X')}")
 *
 *     async def main():                      # concurrent: ~2 s
 *         task1 = asyncio.create_task(say_after(1, 'hello'))
 *         task2 = asyncio.create_task(say_after(2, 'world'))
 *         print(f"started at {time.strftime('%X')}")
 *         await task1
 *         await task2
 *         print(f"finished at {time.strftime('%X')}")
 *
 * What to observe: calling say_after() directly is "await say_after()": the
 * two sleeps run one after the other, 1 + 2 = 3 units. Spawned as tasks,
 * they sleep at the same time and both are done after 2 units.
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

/* time.strftime('%X'), with milliseconds so that short units show too. */
static void print_clock(const char *what)
{
	struct timespec ts;
	struct tm tm;
	char buf[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(buf, sizeof buf, "%X", &tm);
	printf("%s at %s.%03ld (%.2f units)\n", what, buf, ts.tv_nsec / 1000000, elapsed_units());
}

struct say {
	uint64_t    delay; /* units */
	const char *what;
};

/* async def say_after(delay, what) */
static int say_after(void *arg)
{
	struct say *s = arg;
	int r = corio_sleep_ms(s->delay * unit_ms);

	if (r < 0)
		return r;
	printf("%s\n", s->what);
	return 0;
}

static int sequential(void)
{
	struct say hello = { 1, "hello" }, world = { 2, "world" };
	int r;

	t0 = corio_now_ns();
	print_clock("started");
	if ((r = say_after(&hello)) < 0) /* await say_after(1, 'hello') */
		return r;
	if ((r = say_after(&world)) < 0) /* await say_after(2, 'world') */
		return r;
	print_clock("finished");
	return 0;
}

static int concurrent(void)
{
	struct say hello = { 1, "hello" }, world = { 2, "world" };
	corio_task *task1, *task2;
	int r1, r2;

	t0 = corio_now_ns();
	task1 = corio_spawn(say_after, &hello); /* asyncio.create_task(...) */
	if (!task1)
		return -errno;
	task2 = corio_spawn(say_after, &world);
	if (!task2) {
		r1 = -errno;
		corio_join(task1); /* a handle is consumed exactly once */
		return r1;
	}
	print_clock("started");
	/* Neither task has run yet: they start when this task first suspends,
	 * here in corio_join. hello and world live on this stack, which stays
	 * valid until both joins have returned. */
	r1 = corio_join(task1); /* await task1 */
	r2 = corio_join(task2); /* await task2 */
	if (r1 < 0 || r2 < 0)
		return r1 < 0 ? r1 : r2;
	print_clock("finished");
	return 0;
}

static int amain(void *arg)
{
	int r;

	(void)arg;
	printf("1 unit = %llu ms\n\n", (unsigned long long)unit_ms);
	printf("-- sequential: say_after(1) then say_after(2), plain calls (expect ~3 units)\n");
	if ((r = sequential()) < 0)
		return r;
	printf("\n-- concurrent: both spawned, then joined (expect ~2 units)\n");
	return concurrent();
}

int main(void)
{
	int r;

	read_unit();
	r = corio_run(amain, NULL); /* asyncio.run(main()) */
	if (r < 0) {
		fprintf(stderr, "01_sequential_vs_concurrent: %s\n", strerror(-r));
		return 1;
	}
	return 0;
}
