/*
 * 05_chain.c - coroutines chained, each result feeding the next.
 *
 *     async def get_temperature():
 *         await asyncio.sleep(1)            # ask a weather service
 *         return 12
 *
 *     async def wear_jacket(temp):
 *         await asyncio.sleep(1)            # think it over
 *         return temp < 15
 *
 *     async def main():
 *         temp = await get_temperature()
 *         jacket = await wear_jacket(temp)
 *         print(f"{temp} degrees: jacket {'yes' if jacket else 'no'}")
 *
 * In C, "await f()" is a plain call: the callee may sleep, which suspends
 * the calling task, and its return value is the awaited result. The second
 * version runs each step as its own task (asyncio.create_task, then await
 * task): corio_join returns the task's result, which is passed on to the
 * next step. The third runs two whole chains at once.
 *
 * What to observe: versions one and two take 2 units each (the steps depend
 * on each other, so they cannot overlap); two chains spawned side by side
 * also take 2 units, not 4.
 *
 * A task's result is an int, and a negative one means an error (-errno). A
 * value that may be negative, such as a winter temperature, would travel in
 * the struct passed as arg instead.
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

/* async def get_temperature(): the arg names a place (NULL: here). */
static int get_temperature(void *arg)
{
	const char *place = arg ? arg : "here";
	int r = corio_sleep_ms(1 * unit_ms);

	if (r < 0)
		return r;
	return strcmp(place, "Cairo") == 0 ? 31 : 12; /* degrees Celsius */
}

/* async def wear_jacket(temp): the arg points to the temperature. */
static int wear_jacket(void *arg)
{
	int temp = *(const int *)arg;
	int r = corio_sleep_ms(1 * unit_ms);

	if (r < 0)
		return r;
	return temp < 15;
}

/* async def chain(place): both steps awaited, as a task of its own. */
static int chain(void *arg)
{
	const char *place = arg;
	int temp, jacket;

	if ((temp = get_temperature(arg)) < 0)
		return temp;
	if ((jacket = wear_jacket(&temp)) < 0)
		return jacket;
	printf("[%.2f] %s: %d degrees, jacket: %s\n", elapsed_units(), place, temp,
	       jacket ? "yes" : "no");
	return jacket;
}

static int awaited(void)
{
	int temp, jacket;

	t0 = corio_now_ns();
	temp = get_temperature(NULL); /* temp = await get_temperature() */
	if (temp < 0)
		return temp;
	printf("[%.2f] get_temperature() -> %d\n", elapsed_units(), temp);
	jacket = wear_jacket(&temp); /* jacket = await wear_jacket(temp) */
	if (jacket < 0)
		return jacket;
	printf("[%.2f] wear_jacket(%d) -> %s\n", elapsed_units(), temp, jacket ? "yes" : "no");
	return 0;
}

static int as_tasks(void)
{
	corio_task *t;
	int temp, jacket;

	t0 = corio_now_ns();
	if (!(t = corio_spawn(get_temperature, NULL)))
		return -errno;
	temp = corio_join(t); /* temp = await create_task(get_temperature()) */
	if (temp < 0)
		return temp;
	printf("[%.2f] join(get_temperature task) -> %d\n", elapsed_units(), temp);
	/* &temp stays valid: this frame outlives the task, which is joined. */
	if (!(t = corio_spawn(wear_jacket, &temp)))
		return -errno;
	jacket = corio_join(t);
	if (jacket < 0)
		return jacket;
	printf("[%.2f] join(wear_jacket task) -> %s\n", elapsed_units(), jacket ? "yes" : "no");
	return 0;
}

static int two_chains(void)
{
	corio_task *oslo, *cairo;
	int r1, r2;

	t0 = corio_now_ns();
	if (!(oslo = corio_spawn(chain, "Oslo")))
		return -errno;
	if (!(cairo = corio_spawn(chain, "Cairo"))) {
		r1 = -errno;
		corio_join(oslo);
		return r1;
	}
	r1 = corio_join(oslo);
	r2 = corio_join(cairo);
	if (r1 < 0 || r2 < 0)
		return r1 < 0 ? r1 : r2;
	printf("[%.2f] both chains done (expect ~2 units, not 4)\n", elapsed_units());
	return 0;
}

static int amain(void *arg)
{
	int r;

	(void)arg;
	printf("1 unit = %llu ms; [t] is the time in units\n", (unsigned long long)unit_ms);
	printf("\n-- await: plain calls (expect ~2 units)\n");
	if ((r = awaited()) < 0)
		return r;
	printf("\n-- each step a task, its result taken by corio_join (expect ~2 units)\n");
	if ((r = as_tasks()) < 0)
		return r;
	printf("\n-- two chains spawned side by side\n");
	return two_chains();
}

int main(void)
{
	int r;

	read_unit();
	r = corio_run(amain, NULL);
	if (r < 0) {
		fprintf(stderr, "05_chain: %s\n", strerror(-r));
		return 1;
	}
	return 0;
}
