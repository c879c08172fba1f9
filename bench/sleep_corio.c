/*
 * sleep_corio.c - the sleep case on corio: spawn n tasks that each sleep,
 * then gather them all, as asyncio.gather over create_task would; with two
 * rounds, do it again in the same loop, on the stacks the first round left
 * in the pool.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "corio.h"
#include "sleep_impl.h"

struct corio_sleep {
	const struct sleep_job *job;
	struct sleep_result    *res;
	corio_task            **ts;
	uint64_t                main_ns;  /* main entered */
	uint64_t                done_ns;  /* main about to return */
};

static int sleeper(void *arg)
{
	return corio_sleep_ms((uint64_t)(uintptr_t)arg);
}

static int sleep_round(struct corio_sleep *s, int k)
{
	struct sleep_round *rd = &s->res->round[k];
	size_t n = s->job->n, i;
	long flt = bench_minflt();
	uint64_t t0 = bench_now_ns();
	int r;

	for (i = 0; i < n; i++) {
		s->ts[i] = corio_spawn(sleeper, (void *)(uintptr_t)s->job->ms);
		if (!s->ts[i])
			break;
	}
	rd->spawn_ms = (double)(bench_now_ns() - t0) / 1e6;
	if (i < n) {
		r = -errno;
		snprintf(s->res->note, sizeof(s->res->note),
			 "corio_spawn failed at task %zu of %zu (round %d): %s", i + 1, n, k + 1,
			 strerror(-r));
		/* The loop cancels what is still alive once main returns. */
		for (size_t m = 0; m < i; m++)
			corio_detach(s->ts[m]);
		return r;
	}
	/* Flags 0: the gather returns early with the first error, so 0 here
	 * means every single task slept and returned 0. */
	r = corio_gather(s->ts, n, NULL, 0);
	rd->ms = (double)(bench_now_ns() - t0) / 1e6;
	rd->minflt = bench_minflt() - flt;
	if (r < 0)
		snprintf(s->res->note, sizeof(s->res->note), "corio_gather (round %d): %s", k + 1,
			 strerror(-r));
	return r;
}

static int sleep_main(void *arg)
{
	struct corio_sleep *s = arg;
	int r = 0;

	s->main_ns = bench_now_ns();
	for (int k = 0; k < s->job->rounds && r >= 0; k++)
		r = sleep_round(s, k);
	s->done_ns = bench_now_ns();
	return r;
}

int sleep_corio(const struct sleep_job *j, struct sleep_result *res)
{
	/* Defaults throughout, 64 KiB stacks included: they are what is measured. */
	static const corio_config cfg;
	struct corio_sleep s = { .job = j, .res = res };
	uint64_t t0, t1;
	int r;

	/* The handle array belongs to the program, as asyncio's task list
	 * does; it is made before the clock starts but counts in the RSS. */
	s.ts = malloc((j->n ? j->n : 1) * sizeof(*s.ts));
	if (!s.ts) {
		snprintf(res->note, sizeof(res->note), "no memory for %zu task handles", j->n);
		return res->err = -ENOMEM;
	}
	t0 = bench_now_ns();
	r = corio_run_config(&cfg, sleep_main, &s);
	t1 = bench_now_ns();
	res->wall_ms = (double)(t1 - t0) / 1e6;
	if (s.main_ns) {
		res->setup_ms = (double)(s.main_ns - t0) / 1e6;
		res->teardown_ms = (double)(t1 - s.done_ns) / 1e6;
	}
	free(s.ts);
	if (r < 0 && !res->note[0])
		snprintf(res->note, sizeof(res->note), "corio_run: %s", strerror(-r));
	return res->err = r < 0 ? r : 0;
}
