/*
 * 04_gather_errors.c - gather when one task fails.
 *
 *     async def ok(n):
 *         await asyncio.sleep(n)
 *         print(f"ok({n}) finished")
 *         return n
 *
 *     async def fail():
 *         await asyncio.sleep(0.5)
 *         raise OSError(errno.EIO, "Input/output error")
 *
 *     async def main():
 *         try:
 *             await asyncio.gather(ok(1), fail(), ok(2))
 *         except OSError as e:
 *             print("gather raised", e)          # after 0.5 s, not 2 s
 *         await asyncio.sleep(2)                 # ok(1), ok(2) still finish
 *         results = await asyncio.gather(ok(1), fail(), ok(2),
 *                                        return_exceptions=True)
 *         print(results)                         # [1, OSError(...), 2]
 *
 * What to observe: a task "raises" by returning a negative -errno. With
 * flags 0, corio_gather returns the first error as soon as it happens (at
 * 0.5 units); the other tasks are not cancelled, they keep running,
 * detached, and their results[] slots say -EINPROGRESS. With
 * CORIO_GATHER_ALL (return_exceptions=True) gather waits for every task
 * (2 units) and returns 0; each result, value or -errno, is in results[].
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

/* async def ok(n) */
static int ok(void *arg)
{
	int n = (int)(intptr_t)arg;
	int r = corio_sleep_ms((uint64_t)n * unit_ms);

	if (r < 0)
		return r;
	printf("[%.2f] ok(%d) finished\n", elapsed_units(), n);
	return n;
}

/* async def fail(): raise OSError(EIO) */
static int fail(void *arg)
{
	int r = corio_sleep_ms(unit_ms / 2);

	(void)arg;
	if (r < 0)
		return r;
	printf("[%.2f] fail() returns -EIO\n", elapsed_units());
	return -EIO;
}

/* Spawns ok(1), fail(), ok(2) into ts[3]. */
static int spawn_three(corio_task **ts)
{
	ts[0] = corio_spawn(ok, (void *)(intptr_t)1);
	ts[1] = ts[0] ? corio_spawn(fail, NULL) : NULL;
	ts[2] = ts[1] ? corio_spawn(ok, (void *)(intptr_t)2) : NULL;
	if (!ts[2]) {
		int e = -errno;
		for (size_t i = 0; i < 3 && ts[i]; i++)
			corio_detach(ts[i]);
		return e;
	}
	return 0;
}

static void print_results(const int *res)
{
	for (size_t i = 0; i < 3; i++) {
		if (res[i] >= 0)
			printf("    results[%zu] = %d\n", i, res[i]);
		else
			printf("    results[%zu] = %d (%s)\n", i, res[i], strerror(-res[i]));
	}
}

static int amain(void *arg)
{
	corio_task *ts[3];
	int res[3], r;

	(void)arg;
	printf("1 unit = %llu ms; [t] is the time in units\n", (unsigned long long)unit_ms);

	printf("\n-- flags 0: the first error, at once\n");
	t0 = corio_now_ns();
	if ((r = spawn_three(ts)) < 0)
		return r;
	r = corio_gather(ts, 3, res, 0);
	printf("[%.2f] corio_gather -> %d (%s); it did not wait for ok(2)\n",
	       elapsed_units(), r, r < 0 ? strerror(-r) : "success");
	print_results(res);
	/* The handles belong to gather now; the two ok() tasks run on,
	 * detached. Give them time to finish, as the Python does. */
	printf("[%.2f] sleeping 2 units: the others were not cancelled\n", elapsed_units());
	if ((r = corio_sleep_ms(2 * unit_ms)) < 0)
		return r;

	printf("\n-- CORIO_GATHER_ALL (return_exceptions=True): every result\n");
	t0 = corio_now_ns();
	if ((r = spawn_three(ts)) < 0)
		return r;
	r = corio_gather(ts, 3, res, CORIO_GATHER_ALL);
	printf("[%.2f] corio_gather -> %d; it waited for all three\n", elapsed_units(), r);
	if (r < 0)
		return r;
	print_results(res);
	return 0;
}

int main(void)
{
	int r;

	read_unit();
	r = corio_run(amain, NULL);
	if (r < 0) {
		fprintf(stderr, "04_gather_errors: %s\n", strerror(-r));
		return 1;
	}
	return 0;
}
