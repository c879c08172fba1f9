/*
 * measure.c - clocks, medians and interleaved timing of tight loops.
 *
 * A loop is timed as a whole (one clock read before, one after), so the
 * clock's own cost vanishes in the iteration count. The count is chosen by
 * calibration: run a few iterations, grow until the run is long enough to
 * trust, then scale to the slice each sample should last.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench.h"

/* A calibration run must last this long before its per-iteration time is
 * trusted; shorter runs are dominated by timer and cache effects. */
#define CALIBRATE_NS 2000000.0

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

long bench_minflt(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_minflt : 0;
}

double bench_cpu_us(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

double bench_median(const double *v, int n)
{
	double s[BENCH_MAX_SAMPLES];

	if (n <= 0)
		return 0;
	if (n > BENCH_MAX_SAMPLES)
		n = BENCH_MAX_SAMPLES;
	memcpy(s, v, (size_t)n * sizeof(*s));
	qsort(s, (size_t)n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* Returns the estimated ns per iteration, or a negative value on failure. */
static double calibrate(struct bench_contender *c)
{
	uint64_t iters = 16, ns = 0;

	for (;;) {
		int r = c->run(c->ctx, iters, &ns);
		if (r < 0)
			return r;
		if ((double)ns >= CALIBRATE_NS || iters >= ((uint64_t)1 << 40))
			break;
		/* Aim straight for the calibration length, but never grow by
		 * more than 64x at once: the first runs are the noisiest. */
		double grow = ns ? CALIBRATE_NS * 1.2 / (double)ns : 64;
		if (grow > 64)
			grow = 64;
		if (grow < 2)
			grow = 2;
		iters = (uint64_t)((double)iters * grow);
	}
	return (double)ns / (double)iters;
}

void bench_interleave(struct bench_contender *c, int n, double budget_s, int reps)
{
	double per_iter[16];
	uint64_t iters[16];
	double slice_ns;

	if (n > 16)
		n = 16;
	if (reps > BENCH_MAX_SAMPLES)
		reps = BENCH_MAX_SAMPLES;
	if (reps < 1)
		reps = 1;
	slice_ns = budget_s * 1e9 / ((double)n * reps);
	for (int i = 0; i < n; i++) {
		memset(&c[i].out, 0, sizeof(c[i].out));
		per_iter[i] = calibrate(&c[i]);
		if (per_iter[i] < 0) {
			if (!c[i].out.note[0])
				bench_value_fail(&c[i].out, BENCH_FAILED, "%s: %s", c[i].name,
						 strerror((int)-per_iter[i]));
			c[i].out.status = BENCH_FAILED;
			iters[i] = 0;
			continue;
		}
		double k = per_iter[i] > 0 ? slice_ns / per_iter[i] : 1;
		iters[i] = k < 1 ? 1 : (uint64_t)k;
	}
	for (int rep = 0; rep < reps; rep++) {
		for (int j = 0; j < n; j++) {
			struct bench_contender *x = &c[(rep + j) % n];
			uint64_t its = iters[x - c], ns;

			if (x->out.status != BENCH_OK)
				continue;
			if (x->run(x->ctx, its, &ns) < 0) {
				if (!x->out.note[0])
					bench_value_fail(&x->out, BENCH_FAILED, "%s failed", x->name);
				x->out.status = BENCH_FAILED;
				continue;
			}
			bench_value_add(&x->out, (double)ns / ((double)its * x->ops_per_iter));
		}
	}
}
