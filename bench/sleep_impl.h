/*
 * sleep_impl.h - one run of the sleep family's case, per runtime.
 *
 * sleep.c forks a child per run and calls one of these in it: n tasks (or
 * timers) each sleeping ms milliseconds, all awaited. The result travels
 * back to the parent through a pipe, so it is plain data.
 */
#ifndef CORIO_BENCH_SLEEP_IMPL_H
#define CORIO_BENCH_SLEEP_IMPL_H

#include <stddef.h>

#include "bench.h"

enum { SLEEP_CORIO, SLEEP_UV };

struct sleep_job {
	int      impl;
	size_t   n;
	unsigned ms;
};

struct sleep_result {
	int    err;        /* 0, or -errno when the run did not complete */
	double wall_ms;    /* the whole run: loop setup to loop teardown */
	double inner_ms;   /* first spawn to the end of the gather (corio) */
	char   note[BENCH_NOTE_LEN];
};

/* Each returns res->err. */
int sleep_corio(const struct sleep_job *j, struct sleep_result *res);
int sleep_uv(const struct sleep_job *j, struct sleep_result *res);

#endif
