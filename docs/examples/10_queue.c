/*
 * 10_queue.c - producers and consumers around a bounded queue
 * (asyncio.Queue).
 *
 *     async def producer(name, q):
 *         for i in range(1, 7):
 *             await asyncio.sleep(0.1)          # make an item
 *             await q.put(f"{name}{i}")         # waits while the queue is full
 *
 *     async def consumer(name, q):
 *         while (item := await q.get()) is not None:
 *             print(name, "got", item)
 *             await asyncio.sleep(0.4)          # work on it
 *
 *     async def main():
 *         q = asyncio.Queue(maxsize=3)
 *         consumers = [asyncio.create_task(consumer(f"consumer-{i}", q))
 *                      for i in (1, 2, 3)]
 *         await asyncio.gather(producer("A", q), producer("B", q))
 *         for _ in consumers:
 *             await q.put(None)                 # one sentinel each: stop
 *         await asyncio.gather(*consumers)
 *
 * corio_queue_new(3) is asyncio.Queue(maxsize=3): a FIFO of pointers.
 * corio_queue_put suspends the producer while the queue is full,
 * corio_queue_get suspends the consumer while it is empty; waiters are
 * served in FIFO order, and an item never goes to two consumers. Here the
 * sentinel is NULL: a consumer that gets it stops. Every producer has put
 * all of its items before main puts the sentinels, and the queue is FIFO,
 * so no item is left behind when the consumers stop.
 *
 * What to observe: the producers make 20 items a unit, the consumers handle
 * 7.5: the queue fills up to 3 and the producers' puts start to wait (the
 * lines say how long). Every item is consumed exactly once, the consumers
 * share the work, and the whole run takes ~1.8 units: the 12 * 0.4 = 4.8
 * units of work, split three ways, plus the time to make the first items.
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

#define CAPACITY     3
#define NPRODUCERS   2
#define NCONSUMERS   3
#define PER_PRODUCER 6

struct item {
	char name[8];       /* "A1" */
	int  consumed;      /* how many times a consumer got it */
};

static struct item items[NPRODUCERS * PER_PRODUCER];
static corio_queue *q;
static size_t max_size; /* the most items seen in the queue */

static void note_size(void)
{
	size_t n = corio_queue_size(q);

	if (n > max_size)
		max_size = n;
}

/* async def producer(name, q): arg is its index, 0 for A. */
static int producer(void *arg)
{
	int p = (int)(intptr_t)arg;
	const char *me = corio_task_name(corio_current());
	int r;

	for (int i = 0; i < PER_PRODUCER; i++) {
		struct item *it = &items[p * PER_PRODUCER + i];
		double before;

		if ((r = corio_sleep_ms(unit_ms / 10)) < 0) /* make an item */
			return r;
		snprintf(it->name, sizeof(it->name), "%c%d", 'A' + p, i + 1);
		before = elapsed_units();
		if ((r = corio_queue_put(q, it)) < 0)
			return r;
		note_size();
		if (elapsed_units() - before > 0.05)
			printf("[%.2f] %s: put %s after waiting %.2f units (the queue was full)\n",
			       elapsed_units(), me, it->name, elapsed_units() - before);
		else
			printf("[%.2f] %s: put %s, queue %zu/%d\n", elapsed_units(), me,
			       it->name, corio_queue_size(q), CAPACITY);
	}
	return PER_PRODUCER;
}

/* async def consumer(name, q): returns how many items it handled. */
static int consumer(void *arg)
{
	const char *me = corio_task_name(corio_current());
	int handled = 0, r;

	(void)arg;
	for (;;) {
		void *p;
		struct item *it;

		if ((r = corio_queue_get(q, &p)) < 0)
			return r;
		if (!(it = p)) { /* the sentinel */
			printf("[%.2f] %s: got the sentinel, stops after %d items\n",
			       elapsed_units(), me, handled);
			return handled;
		}
		it->consumed++;
		handled++;
		printf("[%.2f] %s: got %s\n", elapsed_units(), me, it->name);
		if ((r = corio_sleep_ms(unit_ms * 4 / 10)) < 0) /* work on it */
			return r;
	}
}

/* Spawns n tasks of fn named prefix-<suffix>; arg i is the index. */
static int spawn_named(corio_task **ts, int n, int (*fn)(void *), const char *prefix,
		       char first)
{
	for (int i = 0; i < n; i++) {
		char name[24];
		corio_spawn_attr attr = { .name = name };

		snprintf(name, sizeof(name), "%s-%c", prefix, first + i);
		if (!(ts[i] = corio_spawn_ex(fn, (void *)(intptr_t)i, &attr))) {
			int e = -errno;
			while (i-- > 0) {
				corio_cancel(ts[i]);
				corio_join(ts[i]);
			}
			return e;
		}
	}
	return 0;
}

static int run(void)
{
	corio_task *prod[NPRODUCERS], *cons[NCONSUMERS];
	int pres[NPRODUCERS], cres[NCONSUMERS], r;

	if ((r = spawn_named(cons, NCONSUMERS, consumer, "consumer", '1')) < 0)
		return r;
	if ((r = spawn_named(prod, NPRODUCERS, producer, "producer", 'A')) < 0) {
		for (int i = 0; i < NCONSUMERS; i++)
			corio_cancel(cons[i]);
		corio_gather(cons, NCONSUMERS, NULL, CORIO_GATHER_ALL);
		return r;
	}
	/* await asyncio.gather(producer("A", q), producer("B", q)) */
	r = corio_gather(prod, NPRODUCERS, pres, CORIO_GATHER_ALL);
	for (int i = 0; r == 0 && i < NPRODUCERS; i++)
		if (pres[i] < 0)
			r = pres[i];
	printf("[%.2f] main: producers done; one sentinel per consumer\n", elapsed_units());
	for (int i = 0; i < NCONSUMERS; i++) {
		if (r < 0) {
			corio_cancel(cons[i]); /* something failed: stop them anyway */
			continue;
		}
		r = corio_queue_put(q, NULL);
	}
	corio_gather(cons, NCONSUMERS, cres, CORIO_GATHER_ALL);
	if (r < 0)
		return r;
	printf("[%.2f] main: consumers done; items handled:", elapsed_units());
	for (int i = 0; i < NCONSUMERS; i++)
		printf(" consumer-%d %d%s", i + 1, cres[i], i + 1 < NCONSUMERS ? "," : "\n");
	return 0;
}

/* Every item consumed once, the queue never over its capacity. */
static int check(void)
{
	int bad = 0;

	for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++)
		if (items[i].consumed != 1) {
			printf("item %s consumed %d times\n", items[i].name, items[i].consumed);
			bad = 1;
		}
	printf("%zu items, each consumed exactly once: %s; the queue held at most %zu "
	       "(capacity %d)\n", sizeof(items) / sizeof(items[0]), bad ? "NO" : "yes",
	       max_size, CAPACITY);
	return bad || max_size > CAPACITY ? -EPROTO : 0;
}

static int amain(void *arg)
{
	int r;

	(void)arg;
	printf("1 unit = %llu ms; [t] is the time in units\n", (unsigned long long)unit_ms);
	printf("%d producers (an item every 0.1 unit), %d consumers (0.4 unit an item), "
	       "capacity %d\n\n", NPRODUCERS, NCONSUMERS, CAPACITY);
	if (!(q = corio_queue_new(CAPACITY))) /* asyncio.Queue(maxsize=3) */
		return -errno;
	t0 = corio_now_ns();
	r = run();
	corio_queue_free(q); /* empty: every item and sentinel was taken */
	if (r < 0)
		return r;
	return check();
}

int main(void)
{
	int r;

	read_unit();
	r = corio_run(amain, NULL);
	if (r < 0) {
		fprintf(stderr, "10_queue: %s\n", strerror(-r));
		return 1;
	}
	return 0;
}
