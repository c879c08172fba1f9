/*
 * 07_taskgroup.c - a task group: every task awaited, the first failure
 * cancels the rest (asyncio.TaskGroup).
 *
 *     async def fetch(delay, value):
 *         await asyncio.sleep(delay)
 *         return value
 *
 *     async def broken():
 *         await asyncio.sleep(0.5)
 *         raise OSError(errno.EIO, "Input/output error")
 *
 *     async def main():
 *         async with asyncio.TaskGroup() as tg:        # all succeed: ~2 s
 *             a = tg.create_task(fetch(1, 10), name="fetch-a")
 *             b = tg.create_task(fetch(2, 20), name="fetch-b")
 *             c = tg.create_task(fetch(1.5, 30), name="fetch-c")
 *         print(a.result(), b.result(), c.result())
 *
 *         try:                                         # fail fast: ~0.5 s
 *             async with asyncio.TaskGroup() as tg:
 *                 tg.create_task(fetch(3, 1), name="slow-3")
 *                 tg.create_task(broken(), name="broken")
 *                 tg.create_task(fetch(4, 2), name="slow-4")
 *         except* OSError as eg:
 *             for e in eg.exceptions:
 *                 print(e)
 *
 * The `async with` block is corio_group_new, corio_group_spawn_ex for each
 * create_task, and corio_group_wait where the block ends. The group owns its
 * tasks: they are not joined one by one, and their handles stay valid (for
 * corio_task_name and the result listings) until corio_group_free.
 *
 * What to observe: with no failure, corio_group_wait returns 0 after the
 * slowest task (2 units) and corio_group_results lists every result in
 * spawn order. When "broken" returns -EIO at 0.5 units, the group cancels
 * slow-3 and slow-4 at once: their corio_sleep_ms returns -ECANCELED at
 * 0.5, not at 3 or 4, and corio_group_wait returns -EIO at 0.5. The
 * ExceptionGroup is corio_group_errors (the failures, in the order they
 * happened; -ECANCELED is not a failure, as CancelledError is not one in
 * asyncio) and corio_group_results (every task, failed, cancelled or not).
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

/* "-EIO (Input/output error)", or the value itself when it is not an error. */
static const char *describe(int r, char *buf, size_t len)
{
	if (r >= 0)
		snprintf(buf, len, "%d", r);
	else
		snprintf(buf, len, "-%s (%s)", strerrorname_np(-r), strerror(-r));
	return buf;
}

struct fetch {
	uint64_t tenths; /* how long it takes, in tenths of a unit */
	int      value;  /* what it returns */
};

/* async def fetch(delay, value) */
static int fetch(void *arg)
{
	const struct fetch *f = arg;
	const char *me = corio_task_name(corio_current());
	int r = corio_sleep_ms(f->tenths * unit_ms / 10);

	if (r < 0) {
		/* The group cancelled us: say so, and end with -ECANCELED. */
		printf("[%.2f] %s: cancelled, corio_sleep_ms returned -%s\n", elapsed_units(), me,
		       strerrorname_np(-r));
		return r;
	}
	printf("[%.2f] %s: done, returns %d\n", elapsed_units(), me, f->value);
	return f->value;
}

/* async def broken(): raise OSError(EIO) after half a unit. */
static int broken(void *arg)
{
	const char *me = corio_task_name(corio_current());
	int r = corio_sleep_ms(unit_ms / 2);

	(void)arg;
	if (r < 0)
		return r;
	printf("[%.2f] %s: fails with -EIO\n", elapsed_units(), me);
	return -EIO;
}

struct job {
	const char *name;
	int       (*fn)(void *);
	void       *arg;
};

/* async with asyncio.TaskGroup() as tg: tg.create_task(...) for each job,
 * then the end of the block. Returns what corio_group_wait returned; the
 * caller reads the results and frees g. */
static int run_group(corio_group *g, const struct job *jobs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		corio_spawn_attr attr = { .name = jobs[i].name };

		if (!corio_group_spawn_ex(g, jobs[i].fn, jobs[i].arg, &attr)) {
			/* What leaving the block with an exception does: cancel
			 * what was spawned and wait for it. */
			int e = -errno;
			corio_group_cancel(g);
			corio_group_wait(g);
			return e;
		}
	}
	printf("[%.2f] main: %zu tasks spawned, waiting for the group\n", elapsed_units(), n);
	return corio_group_wait(g);
}

static void print_listing(const char *title, const corio_task_result *v, size_t n)
{
	char buf[64];

	printf("    %s:\n", title);
	for (size_t i = 0; i < n; i++)
		printf("      %-8s %s\n", corio_task_name(v[i].task),
		       describe(v[i].result, buf, sizeof(buf)));
}

static int all_succeed(void)
{
	struct fetch a = { 10, 10 }, b = { 20, 20 }, c = { 15, 30 };
	const struct job jobs[] = {
		{ "fetch-a", fetch, &a }, { "fetch-b", fetch, &b }, { "fetch-c", fetch, &c },
	};
	corio_task_result res[3];
	corio_group *g = corio_group_new();
	char buf[64];
	size_t n;
	int r;

	if (!g)
		return -errno;
	t0 = corio_now_ns();
	r = run_group(g, jobs, 3);
	printf("[%.2f] main: corio_group_wait -> %s\n", elapsed_units(), describe(r, buf, sizeof(buf)));
	n = corio_group_results(g, res, 3);
	if (r == 0)
		print_listing("corio_group_results (spawn order)", res, n);
	corio_group_free(g); /* the handles in res[] are gone from here on */
	return r;
}

static int fail_fast(void)
{
	struct fetch s3 = { 30, 1 }, s4 = { 40, 2 };
	const struct job jobs[] = {
		{ "slow-3", fetch, &s3 }, { "broken", broken, NULL }, { "slow-4", fetch, &s4 },
	};
	corio_task_result res[3], errs[3];
	corio_group *g = corio_group_new();
	char buf[64];
	size_t n, ne;
	int r;

	if (!g)
		return -errno;
	t0 = corio_now_ns();
	r = run_group(g, jobs, 3);
	printf("[%.2f] main: corio_group_wait -> %s; it did not wait 4 units\n", elapsed_units(),
	       describe(r, buf, sizeof(buf)));
	/* except* OSError as eg: the errors, then every task. */
	ne = corio_group_errors(g, errs, 3);
	n = corio_group_results(g, res, 3);
	print_listing("corio_group_errors (eg.exceptions)", errs, ne < 3 ? ne : 3);
	print_listing("corio_group_results (every task)", res, n < 3 ? n : 3);
	corio_group_free(g);
	/* What this program is here to show; anything else is a surprise. */
	if (r != -EIO || ne != 1)
		return r < 0 && r != -EIO ? r : -EPROTO;
	return 0;
}

static int amain(void *arg)
{
	int r;

	(void)arg;
	printf("1 unit = %llu ms; [t] is the time in units\n", (unsigned long long)unit_ms);

	printf("\n-- all succeed: fetch-a (1 unit), fetch-b (2), fetch-c (1.5)\n");
	if ((r = all_succeed()) < 0)
		return r;

	printf("\n-- fail fast: slow-3 (3 units), broken (fails at 0.5), slow-4 (4 units)\n");
	return fail_fast();
}

int main(void)
{
	int r;

	read_unit();
	r = corio_run(amain, NULL); /* asyncio.run(main()) */
	if (r < 0) {
		fprintf(stderr, "07_taskgroup: %s\n", strerror(-r));
		return 1;
	}
	return 0;
}
