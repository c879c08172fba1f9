/*
 * sleep_corio.c - the sleep case on corio: spawn n tasks that each sleep,
 * then gather them all, as asyncio.gather over create_task would.
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
};

static int sleeper(void *arg)
{
	return corio_sleep_ms((uint64_t)(uintptr_t)arg);
}

static int sleep_main(void *arg)
{
	struct corio_sleep *s = arg;
	size_t n = s->job->n, i;
	uint64_t t0 = bench_now_ns();
	int r;

	for (i = 0; i < n; i++) {
		s->ts[i] = corio_spawn(sleeper, (void *)(uintptr_t)s->job->ms);
		if (!s->ts[i])
			break;
	}
	if (i < n) {
		r = -errno;
		snprintf(s->res->note, sizeof(s->res->note), "corio_spawn failed at task %zu of %zu: %s",
			 i + 1, n, strerror(-r));
		/* The loop cancels what is still alive once main returns. */
		for (size_t k = 0; k < i; k++)
			corio_detach(s->ts[k]);
		return r;
	}
	/* Flags 0: the gather returns early with the first error, so 0 here
	 * means every single task slept and returned 0. */
	r = corio_gather(s->ts, n, NULL, 0);
	s->res->inner_ms = (double)(bench_now_ns() - t0) / 1e6;
	if (r < 0)
		snprintf(s->res->note, sizeof(s->res->note), "corio_gather: %s", strerror(-r));
	return r;
}

int sleep_corio(const struct sleep_job *j, struct sleep_result *res)
{
	/* Defaults throughout, 64 KiB stacks included: they are what is measured. */
	static const corio_config cfg;
	struct corio_sleep s = { .job = j, .res = res };
	uint64_t t0;
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
	res->wall_ms = (double)(bench_now_ns() - t0) / 1e6;
	free(s.ts);
	if (r < 0 && !res->note[0])
		snprintf(res->note, sizeof(res->note), "corio_run: %s", strerror(-r));
	return res->err = r < 0 ? r : 0;
}
