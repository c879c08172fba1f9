/*
 * sleep_uv.c - the sleep case on libuv: one uv_timer_t per task, the way a
 * libuv program waits for many independent deadlines. Each timer closes
 * its handle when it fires, so uv_run returns once all have fired and
 * closed; a second round initialises the same handles again on the same
 * loop, and uv_loop_close then succeeds.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "sleep_impl.h"

static void on_timer(uv_timer_t *t)
{
	size_t *fired = t->loop->data;

	(*fired)++;
	uv_close((uv_handle_t *)t, NULL);
}

static void uv_round(const struct sleep_job *j, uv_loop_t *loop, uv_timer_t *timers,
		     struct sleep_round *rd)
{
	long flt = bench_minflt();
	uint64_t t0 = bench_now_ns();

	for (size_t i = 0; i < j->n; i++) {
		uv_timer_init(loop, &timers[i]);
		uv_timer_start(&timers[i], on_timer, j->ms, 0);
	}
	rd->spawn_ms = (double)(bench_now_ns() - t0) / 1e6;
	uv_run(loop, UV_RUN_DEFAULT);
	rd->ms = (double)(bench_now_ns() - t0) / 1e6;
	rd->minflt = bench_minflt() - flt;
}

int sleep_uv(const struct sleep_job *j, struct sleep_result *res)
{
	uv_timer_t *timers = malloc((j->n ? j->n : 1) * sizeof(*timers));
	size_t fired = 0;
	uv_loop_t loop;
	uint64_t t0, t1, t2;
	int r;

	if (!timers) {
		snprintf(res->note, sizeof(res->note), "no memory for %zu timers", j->n);
		return res->err = -ENOMEM;
	}
	t0 = bench_now_ns();
	r = uv_loop_init(&loop);
	if (r < 0) {
		snprintf(res->note, sizeof(res->note), "uv_loop_init: %s", uv_strerror(r));
		free(timers);
		return res->err = r;
	}
	loop.data = &fired;
	res->setup_ms = (double)(bench_now_ns() - t0) / 1e6;
	for (int k = 0; k < j->rounds; k++)
		uv_round(j, &loop, timers, &res->round[k]);
	t1 = bench_now_ns();
	r = uv_loop_close(&loop);
	t2 = bench_now_ns();
	res->wall_ms = (double)(t2 - t0) / 1e6;
	res->teardown_ms = (double)(t2 - t1) / 1e6;
	free(timers);
	if (r < 0) {
		snprintf(res->note, sizeof(res->note), "uv_loop_close: %s", uv_strerror(r));
		return res->err = r;
	}
	if (fired != j->n * (size_t)j->rounds) {
		snprintf(res->note, sizeof(res->note), "%zu of %zu timers fired", fired,
			 j->n * (size_t)j->rounds);
		return res->err = -EIO;
	}
	return res->err = 0;
}
