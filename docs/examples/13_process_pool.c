/*
 * 13_process_pool.c - work in other processes (run_in_executor with a
 * ProcessPoolExecutor).
 *
 *     def fetch_data(n):                      # blocking, as in 12_to_thread
 *         time.sleep(n)
 *         return f"data {n} from pid {os.getpid()}"
 *
 *     def price_order(seed):                  # CPU-bound: pure computation
 *         x = seed
 *         for _ in range(ROUNDS):
 *             x = mix(x)
 *         return x
 *
 *     async def main():
 *         loop = asyncio.get_running_loop()
 *         with ProcessPoolExecutor(max_workers=2) as pool:
 *             a, b = await asyncio.gather(                        # ~2 s
 *                 loop.run_in_executor(pool, fetch_data, 1),
 *                 loop.run_in_executor(pool, fetch_data, 2))
 *             # two orders in plain tasks: one after the other, ~2x one
 *             # two orders through the pool: side by side, ~1x one
 *             x, y = await asyncio.gather(
 *                 loop.run_in_executor(pool, price_order, 1),
 *                 loop.run_in_executor(pool, price_order, 2))
 *
 * corio_procpool_new(2) forks two worker processes; corio_run_in_process
 * sends a job to an idle one and suspends the calling task until the
 * answer is back. A job is a function of this program (valid in the worker,
 * which runs the same image) plus bytes in; it returns bytes out:
 *
 *     ssize_t fn(const void *in, size_t inlen, void *out, size_t outcap);
 *
 * Nothing else crosses: no pointers into the parent's memory, no corio
 * calls in fn (the worker has no loop).
 *
 * Why: a task that computes for a long time never suspends, so it holds the
 * loop's thread as surely as a blocking call: two orders in two plain tasks
 * run one after the other, and nothing else runs meanwhile. In two worker
 * processes they run at the same time, on two cores. (Python needs
 * processes for this because of its GIL; in C, corio_to_thread would spread
 * the computation over cores too. A process pool is for isolation: a job
 * that crashes costs -EPIPE and a fresh worker, not the program; a job that
 * must stop on cancel is killed with its worker; memory a library leaks or
 * state it keeps in globals stays in the worker.)
 *
 * What to observe: the two fetches take ~2 units, and each answer names
 * the worker's pid, not this program's. The orders are sized to take about
 * one unit each on this machine: two plain tasks take ~2 units, the pool
 * ~1 unit (with at least two CPUs), and all agree on the results.
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
#include <unistd.h>

#include "unit.h"

/* ------------------------------------------------------------------------
 * The jobs: what runs in a worker process
 * ------------------------------------------------------------------------ */

struct fetch_in {
	int      n;       /* units to block for */
	uint64_t unit_ms;
};

/* def fetch_data(n): blocks its worker for n units. */
static ssize_t fetch_data(const void *in, size_t inlen, void *out, size_t outcap)
{
	struct fetch_in f;
	uint64_t ms;
	struct timespec ts;
	int k;

	if (inlen != sizeof(f))
		return -EINVAL;
	memcpy(&f, in, sizeof(f));
	ms = (uint64_t)f.n * f.unit_ms;
	ts = (struct timespec){ .tv_sec = (time_t)(ms / 1000),
				.tv_nsec = (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	k = snprintf(out, outcap, "data %d from pid %d", f.n, (int)getpid());
	return k < 0 ? -EIO : (size_t)k >= outcap ? -ENOBUFS : k; /* bytes, no NUL */
}

struct order {
	uint64_t seed, rounds;
};

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x + 1;
}

/* def price_order(seed): each round needs the last one's result, so no
 * compiler can shorten the loop. */
static uint64_t price_order(uint64_t seed, uint64_t rounds)
{
	uint64_t x = seed;

	for (uint64_t i = 0; i < rounds; i++)
		x = mix(x);
	return x;
}

/* price_order as a job: a struct order in, the uint64_t price out. */
static ssize_t price_order_job(const void *in, size_t inlen, void *out, size_t outcap)
{
	struct order o;
	uint64_t price;

	if (inlen != sizeof(o) || outcap < sizeof(price))
		return -EINVAL;
	memcpy(&o, in, sizeof(o));
	price = price_order(o.seed, o.rounds);
	memcpy(out, &price, sizeof(price));
	return sizeof(price);
}

/* ------------------------------------------------------------------------
 * The tasks
 * ------------------------------------------------------------------------ */

static corio_procpool *pool;

struct fetch {
	struct fetch_in in;
	char            data[64];
};

/* loop.run_in_executor(pool, fetch_data, n) */
static int fetch_in_process(void *arg)
{
	struct fetch *f = arg;
	ssize_t n = corio_run_in_process(pool, fetch_data, &f->in, sizeof(f->in), f->data,
					 sizeof(f->data) - 1);

	if (n < 0)
		return (int)n;
	f->data[n] = '\0';
	return 0;
}

struct order_task {
	struct order o;
	uint64_t     price;
};

/* A plain task computing an order: it never suspends until it is done. */
static int order_in_task(void *arg)
{
	struct order_task *t = arg;

	t->price = price_order(t->o.seed, t->o.rounds);
	return 0;
}

/* loop.run_in_executor(pool, price_order, seed) */
static int order_in_process(void *arg)
{
	struct order_task *t = arg;
	ssize_t n = corio_run_in_process(pool, price_order_job, &t->o, sizeof(t->o), &t->price,
					 sizeof(t->price));

	return n < 0 ? (int)n : n == sizeof(t->price) ? 0 : -EPROTO;
}

/* Spawns fn on args[0] and args[1] and gathers them; the time in units. */
static int run_two(int (*fn)(void *), void *a, void *b, double *units)
{
	double start = elapsed_units();
	corio_task *ts[2];
	int res[2], r;

	if (!(ts[0] = corio_spawn(fn, a)))
		return -errno;
	if (!(ts[1] = corio_spawn(fn, b))) {
		r = -errno;
		corio_join(ts[0]);
		return r;
	}
	/* a and b live on the caller's stack: wait for both in every case. */
	if ((r = corio_gather(ts, 2, res, CORIO_GATHER_ALL)) < 0)
		return r;
	*units = elapsed_units() - start;
	return res[0] < 0 ? res[0] : res[1];
}

/* Rounds of mix() that take about one unit here. */
static uint64_t rounds_per_unit(void)
{
	static volatile uint64_t sink; /* a result nobody used could be skipped */
	uint64_t rounds = 1 << 16, start;
	double ns;

	for (;;) {
		start = corio_now_ns();
		sink = price_order(sink, rounds);
		ns = (double)(corio_now_ns() - start);
		if (ns >= 20e6 || rounds >= (uint64_t)1 << 40) /* long enough to trust */
			break;
		rounds *= 2;
	}
	return (uint64_t)((double)rounds * (double)unit_ms * 1e6 / (ns > 0 ? ns : 1));
}

static int fetches(void)
{
	struct fetch f[2] = { { .in = { 1, unit_ms } }, { .in = { 2, unit_ms } } };
	double took;
	int r;

	printf("-- fetch_data(1) and fetch_data(2) in the pool (expect ~2 units)\n");
	if ((r = run_two(fetch_in_process, &f[0], &f[1], &took)) < 0)
		return r;
	printf("got \"%s\" and \"%s\" in %.2f units (this program is pid %d)\n", f[0].data,
	       f[1].data, took, (int)getpid());
	return 0;
}

static int orders(void)
{
	uint64_t rounds = rounds_per_unit();
	struct order_task one = { { 1, rounds }, 0 };
	struct order_task plain[2] = { { { 1, rounds }, 0 }, { { 2, rounds }, 0 } };
	struct order_task pooled[2] = { { { 1, rounds }, 0 }, { { 2, rounds }, 0 } };
	double t1, t2, t3;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int r;

	printf("\n-- CPU-bound orders: %llu rounds each, about one unit here (%ld CPUs)\n",
	       (unsigned long long)rounds, cpus);
	t1 = elapsed_units();
	one.price = price_order(one.o.seed, one.o.rounds); /* await price_order(1) */
	t1 = elapsed_units() - t1;
	printf("one order, called directly:      %.2f units\n", t1);
	if ((r = run_two(order_in_task, &plain[0], &plain[1], &t2)) < 0)
		return r;
	printf("two orders in two plain tasks:   %.2f units (%.1fx one order)\n", t2, t2 / t1);
	if ((r = run_two(order_in_process, &pooled[0], &pooled[1], &t3)) < 0)
		return r;
	printf("two orders through the pool:     %.2f units (%.1fx one order)\n", t3, t3 / t1);
	printf("prices: %016llx %016llx (plain tasks), %016llx %016llx (pool)\n",
	       (unsigned long long)plain[0].price, (unsigned long long)plain[1].price,
	       (unsigned long long)pooled[0].price, (unsigned long long)pooled[1].price);
	if (one.price != plain[0].price || plain[0].price != pooled[0].price ||
	    plain[1].price != pooled[1].price)
		return -EPROTO;
	printf("The plain tasks ran one after the other on the loop's thread; the\n"
	       "pool's two workers ran side by side%s.\n",
	       cpus < 2 ? " (or would have: this machine has one CPU)" : "");
	return 0;
}

static int amain(void *arg)
{
	int r;

	(void)arg;
	printf("1 unit = %llu ms\n\n", (unsigned long long)unit_ms);
	t0 = corio_now_ns();
	/* with ProcessPoolExecutor(max_workers=2) as pool: */
	if (!(pool = corio_procpool_new(2)))
		return -errno;
	r = fetches();
	if (r == 0)
		r = orders();
	corio_procpool_free(pool); /* stops and reaps both workers */
	return r;
}

int main(void)
{
	int r;

	read_unit();
	r = corio_run(amain, NULL);
	if (r < 0) {
		fprintf(stderr, "13_process_pool: %s\n", strerror(-r));
		return 1;
	}
	return 0;
}
