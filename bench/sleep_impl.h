/*
 * sleep_impl.h - one run of the sleep family's case, per runtime.
 *
 * sleep.c forks a child per run and calls one of these in it: n tasks (or
 * timers) each sleeping ms milliseconds, all awaited, `rounds` times over
 * in the same loop. The first round starts from fresh memory (cold); a
 * later one finds what the previous round freed (warm: pooled stacks,
 * reused timer handles). The result travels back to the parent through a
 * pipe, so it is plain data.
 */
#ifndef CORIO_BENCH_SLEEP_IMPL_H
#define CORIO_BENCH_SLEEP_IMPL_H

#include <stddef.h>

#include "bench.h"

enum { SLEEP_CORIO, SLEEP_UV };

#define SLEEP_MAX_ROUNDS 2

struct sleep_job {
	int      impl;
	size_t   n;
	unsigned ms;
	int      rounds;     /* 1..SLEEP_MAX_ROUNDS, all in one loop */
};

/* One round: n tasks spawned (timers started), then all awaited. */
struct sleep_round {
	double ms;           /* first spawn to the end of the gather (uv_run's return) */
	double spawn_ms;     /* first spawn to the last: the burst alone */
	long   minflt;       /* minor page faults taken by the process meanwhile */
};

struct sleep_result {
	int    err;          /* 0, or -errno when the run did not complete */
	double wall_ms;      /* the whole run: loop setup to loop teardown */
	double setup_ms;     /* corio_run (uv_loop_init) to the first round */
	double teardown_ms;  /* end of the last round to corio_run's return (uv_loop_close's) */
	struct sleep_round round[SLEEP_MAX_ROUNDS];
	char   note[BENCH_NOTE_LEN];
};

/* Each returns res->err. */
int sleep_corio(const struct sleep_job *j, struct sleep_result *res);
int sleep_uv(const struct sleep_job *j, struct sleep_result *res);

#endif
