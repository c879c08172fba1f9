/*
 * 02_gather_greetings.c - three greetings gathered.
 *
 *     async def greet(name):
 *         print("Hello")
 *         await asyncio.sleep(1)
 *         print(name)
 *
 *     async def main():
 *         await asyncio.gather(greet("Alice"), greet("Bob"), greet("Carol"))
 *
 * What to observe: each task prints "Hello" and then sleeps, which lets the
 * next one run, so all three "Hello" lines come before any name. The three
 * sleeps overlap: the whole gather takes ~1 unit, not 3. Tasks start in the
 * order they were spawned (FIFO), and their timers expire in that order too.
 *
 * One unit is one second, as in the tutorial; CORIO_EXAMPLE_UNIT_MS=50 in
 * the environment makes it 50 ms.
 */
#include <corio.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

/* async def greet(name) */
static int greet(void *arg)
{
	const char *name = arg;
	int r;

	printf("[%.2f] Hello\n", elapsed_units());
	if ((r = corio_sleep_ms(1 * unit_ms)) < 0)
		return r;
	printf("[%.2f] %s\n", elapsed_units(), name);
	return 0;
}

static int amain(void *arg)
{
	static const char *names[] = { "Alice", "Bob", "Carol" };
	corio_task *ts[3];
	int r;

	(void)arg;
	printf("1 unit = %llu ms; [t] is the time in units\n", (unsigned long long)unit_ms);
	t0 = corio_now_ns();
	/* asyncio.gather(greet(...), ...) wraps each coroutine in a task; here
	 * the tasks are spawned explicitly and gather takes all three handles. */
	for (size_t i = 0; i < 3; i++) {
		ts[i] = corio_spawn(greet, (void *)names[i]);
		if (!ts[i]) {
			r = -errno;
			/* gather consumes handles, so let it finish the ones made. */
			corio_gather(ts, i, NULL, CORIO_GATHER_ALL);
			return r;
		}
	}
	r = corio_gather(ts, 3, NULL, 0);
	if (r < 0)
		return r;
	printf("[%.2f] gather done (expect ~1 unit)\n", elapsed_units());
	return 0;
}

int main(void)
{
	int r;

	read_unit();
	r = corio_run(amain, NULL);
	if (r < 0) {
		fprintf(stderr, "02_gather_greetings: %s\n", strerror(-r));
		return 1;
	}
	return 0;
}
