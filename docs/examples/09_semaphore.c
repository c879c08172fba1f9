/*
 * 09_semaphore.c - ten downloads, at most three at a time (asyncio.Semaphore).
 *
 *     sem = asyncio.Semaphore(3)
 *     running = max_running = 0
 *
 *     async def download(i, seconds):
 *         global running, max_running
 *         async with sem:                    # wait for one of the 3 slots
 *             running += 1
 *             max_running = max(max_running, running)
 *             print(f"start #{i}")
 *             await asyncio.sleep(seconds)   # "the transfer"
 *             running -= 1
 *             print(f"end   #{i}")
 *
 *     async def main():
 *         async with asyncio.TaskGroup() as tg:
 *             for i, s in enumerate(SECONDS):
 *                 tg.create_task(download(i, s))
 *         print("max concurrency", max_running)
 *
 * `async with sem:` is corio_sem_acquire ... corio_sem_release. All ten
 * tasks start at once and queue on the semaphore; waiters are served in
 * FIFO order, and a release hands its unit straight to the longest waiter,
 * so the downloads start in spawn order, each as soon as one ends.
 *
 * What to observe: never more than 3 running; #0, #1 and #2 start at 0,
 * every later start coincides with an end. The ten transfers add up to 6
 * units; ten at once would take 1.1 (the longest), three at a time take
 * 2.2 here.
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

#define NDOWNLOADS 10
#define LIMIT      3

/* How long each download takes, in tenths of a unit (6 units in all). */
static const unsigned tenths[NDOWNLOADS] = { 6, 11, 2, 2, 4, 9, 5, 11, 7, 3 };

static corio_sem *sem;
static int running, max_running;

/* async def download(i, seconds) */
static int download(void *arg)
{
	int i = (int)(intptr_t)arg;
	int r;

	if ((r = corio_sem_acquire(sem)) < 0) /* async with sem: */
		return r;
	running++;
	if (running > max_running)
		max_running = running;
	printf("[%.2f] start #%d (%.1f units)  running: %d\n", elapsed_units(), i,
	       tenths[i] / 10.0, running);
	r = corio_sleep_ms(tenths[i] * unit_ms / 10); /* the transfer */
	running--;
	printf("[%.2f] end   #%d              running: %d\n", elapsed_units(), i, running);
	corio_sem_release(sem); /* leaving the block, error or not */
	return r;
}

static int amain(void *arg)
{
	corio_group *g;
	int r = 0, rw;

	(void)arg;
	printf("1 unit = %llu ms; [t] is the time in units\n", (unsigned long long)unit_ms);
	printf("%d downloads, %d at a time\n\n", NDOWNLOADS, LIMIT);
	if (!(sem = corio_sem_new(LIMIT)))
		return -errno;
	if (!(g = corio_group_new())) {
		corio_sem_free(sem);
		return -errno;
	}
	t0 = corio_now_ns();
	for (int i = 0; i < NDOWNLOADS && r == 0; i++) {
		char name[16];
		corio_spawn_attr attr = { .name = name };

		snprintf(name, sizeof(name), "download-%d", i);
		if (!corio_group_spawn_ex(g, download, (void *)(intptr_t)i, &attr)) {
			r = -errno;
			corio_group_cancel(g);
		}
	}
	rw = corio_group_wait(g); /* the end of the TaskGroup block */
	if (r == 0)
		r = rw;
	corio_group_free(g);
	corio_sem_free(sem);
	if (r < 0)
		return r;
	printf("\n[%.2f] all done; max concurrency observed: %d (the limit is %d)\n",
	       elapsed_units(), max_running, LIMIT);
	return max_running == LIMIT ? 0 : -EPROTO;
}

int main(void)
{
	int r;

	read_unit();
	r = corio_run(amain, NULL);
	if (r < 0) {
		fprintf(stderr, "09_semaphore: %s\n", strerror(-r));
		return 1;
	}
	return 0;
}
