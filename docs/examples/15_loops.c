/*
 * 15_loops.c - one loop per core, and calls between them.
 *
 * asyncio runs one loop per thread too; a program that wants every core
 * starts a loop on each thread and moves work, never tasks, between them:
 *
 *     async def put(key, value):               # runs on the shard's loop
 *         shard[key] = value
 *
 *     fut = asyncio.run_coroutine_threadsafe(put(k, v), loops[k % n])
 *     await asyncio.wrap_future(fut)
 *
 * Here each of two loops owns half of a key space (a shard it alone
 * touches, so no lock is needed), and every loop's main task stores keys
 * wherever they belong: corio_loop_call(loop, fn, arg) runs fn(arg) as a
 * task on that loop and suspends the caller until it returned, its result
 * coming back as the call's. The message travels by IORING_OP_MSG_RING from
 * one ring to the other. corio_loop_post(loop, fn, arg) is the
 * fire-and-forget form (call_soon_threadsafe).
 *
 * A loop ends when its main returns; from then on it refuses new calls
 * (-ESHUTDOWN). So each main waits, at the end, for a "done" post from
 * every loop before returning.
 *
 * What to observe: each key lands on the loop that owns it, whichever loop
 * stored it; the totals add up.
 */
#include <corio.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define LOOPS 2
#define KEYS  8

struct shard {
	int         value[KEYS];
	int         stored;       /* keys stored here, by anyone */
	int         done_posts;   /* "done" posts received */
	corio_event *all_done;    /* made by the loop itself */
};

static struct shard shards[LOOPS];

struct put {
	int key, value;
};

/* Runs on the owning loop: only that loop's tasks touch its shard. */
static int put(void *arg)
{
	struct put *p = arg;
	struct shard *s = &shards[corio_loop_index()];

	s->value[p->key] = p->value;
	s->stored++;
	return corio_loop_index();
}

static void done(void *arg)
{
	struct shard *s = &shards[corio_loop_index()];

	(void)arg;
	if (++s->done_posts == LOOPS)
		corio_event_set(s->all_done);
}

static int loop_main(void *arg)
{
	int me = corio_loop_index();
	struct shard *s = &shards[me];
	int r;

	(void)arg;
	s->all_done = corio_event_new();
	if (!s->all_done)
		return -errno;
	/* Loop 0 stores keys 0-3, loop 1 keys 4-7; key k lives on loop k % 2. */
	for (int key = me * KEYS / LOOPS; key < (me + 1) * KEYS / LOOPS; key++) {
		struct put p = { key, 100 * (me + 1) + key }; /* on our stack: fine */
		int owner = key % LOOPS;

		r = corio_loop_call(owner, put, &p);
		if (r < 0)
			return r;
		printf("loop %d: key %d stored on loop %d\n", me, key, r);
	}
	/* Tell everyone we are done with them; wait until all told us. */
	for (int i = 0; i < LOOPS; i++)
		if ((r = corio_loop_post(i, done, NULL)) < 0)
			return r;
	r = corio_event_wait(s->all_done);
	corio_event_free(s->all_done);
	return r;
}

int main(void)
{
	int r = corio_run_loops(LOOPS, loop_main, NULL);
	int total = 0;

	if (r < 0) {
		fprintf(stderr, "corio_run_loops: %s\n", strerror(-r));
		return 1;
	}
	for (int i = 0; i < LOOPS; i++) {
		printf("loop %d holds %d key(s):", i, shards[i].stored);
		for (int k = 0; k < KEYS; k++)
			if (k % LOOPS == i && shards[i].value[k])
				printf(" %d=%d", k, shards[i].value[k]);
		printf("\n");
		total += shards[i].stored;
	}
	printf("%d keys stored\n", total);
	return 0;
}
