/*
 * thread.c - the "thread" family: corio_to_thread against libuv's
 * uv_queue_work, the thread pool a C event-loop programmer would use.
 *
 * Two figures, each with an empty job (the pool's own cost, nothing else):
 *
 *   round trip   one job at a time: submit, wait for the result, repeat
 *                (corio: one task calling corio_to_thread in a loop; libuv:
 *                uv_queue_work, its after_work callback queues the next);
 *                microseconds per job.
 *   throughput   1000 jobs in flight for a fixed total (corio: 1000 tasks,
 *                each calling corio_to_thread total/1000 times; libuv: 1000
 *                uv_work_t, each queued again from its after_work callback
 *                until the total is reached); jobs per second, first submit
 *                to last result.
 *
 * Both pools get 4 workers (corio_threads_set(4), UV_THREADPOOL_SIZE=4).
 * corio is measured twice: with its default wakeup (a worker posts the
 * finished jobs to the loop's ring by IORING_OP_MSG_RING) and with the
 * fallback (CORIO_THREADS_WAKE=eventfd: the mailbox list and its eventfd).
 * A thread pool is per process and reads its settings once, when it
 * starts, so every contender runs in its own forked child, once per rep,
 * the order rotating between reps; each child warms its pool up and sizes
 * its timed runs before timing them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <uv.h>

#include "bench.h"
#include "corio.h"

#define THREADS   4
#define INFLIGHT  1000
#define WARM_RT   2000            /* round trips before the timed loop */
#define WARM_TP   (20 * INFLIGHT) /* jobs of the sizing run */

enum { V_CORIO, V_EVENTFD, V_UV, V_COUNT };

static const char *const variant_names[V_COUNT] = {
	"corio (MSG_RING)", "corio (eventfd)", "libuv uv_queue_work",
};

struct thread_job {
	int    variant;
	double rt_s, tp_s; /* timed seconds of each figure */
};

/* What one child sends back. */
struct thread_sample {
	int    err;
	char   note[BENCH_NOTE_LEN];
	double rt_us;          /* per round trip */
	double rt_cpu_us;      /* process CPU time (all threads) per round trip */
	double tp_jobs_s;
	double tp_cpu_us;      /* process CPU time per job, throughput run */
	double tp_jobs;        /* the timed run's total */
};

/* The timed run's total: as many jobs as fit in `seconds` at the rate the
 * sizing run saw, a whole number per in-flight slot, at least the sizing
 * run's. */
static uint64_t size_total(uint64_t jobs, uint64_t ns, double seconds)
{
	double rate = ns ? (double)jobs * 1e9 / (double)ns : 1e6;
	uint64_t per = (uint64_t)(rate * seconds / INFLIGHT) + 1;

	if (per < WARM_TP / INFLIGHT)
		per = WARM_TP / INFLIGHT;
	return per * INFLIGHT;
}

/* ------------------------------------------------------------------------
 * corio_to_thread
 * ------------------------------------------------------------------------ */

static int empty_job(void *arg)
{
	(void)arg;
	return 0;
}

static int tp_task(void *arg)
{
	uint64_t n = *(const uint64_t *)arg;

	for (uint64_t i = 0; i < n; i++) {
		int r = corio_to_thread(empty_job, NULL);
		if (r < 0)
			return r;
	}
	return 0;
}

/* INFLIGHT tasks, each making total/INFLIGHT calls; the time from the
 * first spawn to the gather's return. */
static int corio_tp_run(uint64_t total, uint64_t *ns)
{
	static corio_task *ts[INFLIGHT];
	uint64_t per = total / INFLIGHT, t0 = bench_now_ns();
	int r;

	for (int i = 0; i < INFLIGHT; i++) {
		if (!(ts[i] = corio_spawn(tp_task, &per))) {
			r = -errno;
			if (i)
				corio_gather(ts, (size_t)i, NULL, CORIO_GATHER_ALL);
			return r;
		}
	}
	r = corio_gather(ts, INFLIGHT, NULL, 0);
	*ns = bench_now_ns() - t0;
	return r;
}

static int corio_main(void *arg)
{
	struct thread_job *j = ((void **)arg)[0];
	struct thread_sample *s = ((void **)arg)[1];
	uint64_t t0, end, n = 0, ns, total;
	double c0;
	int r;

	/* Starts the pool: every worker is running before the clock starts. */
	for (int i = 0; i < WARM_RT; i++)
		if ((r = corio_to_thread(empty_job, NULL)) < 0) {
			snprintf(s->note, sizeof(s->note), "corio_to_thread: %s", strerror(-r));
			return r;
		}

	c0 = bench_cpu_us();
	t0 = bench_now_ns();
	end = t0 + (uint64_t)(j->rt_s * 1e9);
	do {
		if ((r = corio_to_thread(empty_job, NULL)) < 0) {
			snprintf(s->note, sizeof(s->note), "corio_to_thread: %s", strerror(-r));
			return r;
		}
		n++;
	} while (bench_now_ns() < end);
	ns = bench_now_ns() - t0;
	s->rt_us = (double)ns / 1e3 / (double)n;
	s->rt_cpu_us = (bench_cpu_us() - c0) / (double)n;

	if ((r = corio_tp_run(WARM_TP, &ns)) < 0) {
		snprintf(s->note, sizeof(s->note), "%d tasks in flight: %s", INFLIGHT, strerror(-r));
		return r;
	}
	total = size_total(WARM_TP, ns, j->tp_s);
	c0 = bench_cpu_us();
	if ((r = corio_tp_run(total, &ns)) < 0) {
		snprintf(s->note, sizeof(s->note), "%d tasks in flight: %s", INFLIGHT, strerror(-r));
		return r;
	}
	s->tp_jobs_s = (double)total * 1e9 / (double)ns;
	s->tp_cpu_us = (bench_cpu_us() - c0) / (double)total;
	s->tp_jobs = (double)total;
	return 0;
}

static int corio_child(struct thread_job *j, struct thread_sample *s)
{
	void *args[2] = { j, s };
	int r;

	/* Read by the pool when it starts, in corio_main's first call. */
	if (j->variant == V_EVENTFD)
		setenv("CORIO_THREADS_WAKE", "eventfd", 1);
	else
		unsetenv("CORIO_THREADS_WAKE");
	if ((r = corio_threads_set(THREADS)) < 0) {
		snprintf(s->note, sizeof(s->note), "corio_threads_set: %s", strerror(-r));
		return r;
	}
	r = corio_run(corio_main, args);
	if (r < 0 && !s->note[0])
		snprintf(s->note, sizeof(s->note), "corio_run: %s", strerror(-r));
	return r;
}

/* ------------------------------------------------------------------------
 * libuv uv_queue_work
 * ------------------------------------------------------------------------ */

struct uv_run_state {
	uint64_t end_ns;    /* round trip: stop queueing after this */
	uint64_t issued, done, total;
	int      err;
};

static void uv_empty_work(uv_work_t *w)
{
	(void)w;
}

static void uv_rt_after(uv_work_t *w, int status)
{
	struct uv_run_state *st = w->loop->data;
	int r;

	st->done++;
	if (status < 0) {
		st->err = status;
		return;
	}
	if (bench_now_ns() < st->end_ns && (r = uv_queue_work(w->loop, w, uv_empty_work,
							      uv_rt_after)) < 0)
		st->err = r;
}

static void uv_tp_after(uv_work_t *w, int status)
{
	struct uv_run_state *st = w->loop->data;
	int r;

	st->done++;
	if (status < 0) {
		st->err = status;
		return;
	}
	if (st->issued < st->total) {
		st->issued++;
		if ((r = uv_queue_work(w->loop, w, uv_empty_work, uv_tp_after)) < 0)
			st->err = r;
	}
}

/* Round trips until `seconds` have passed (seconds 0: just one); returns
 * how many were made, or a libuv error. */
static int64_t uv_rt_run(uv_loop_t *loop, double seconds, uint64_t *ns)
{
	struct uv_run_state st = { 0 };
	uv_work_t w;
	uint64_t t0 = bench_now_ns();
	int r;

	st.end_ns = t0 + (uint64_t)(seconds * 1e9);
	loop->data = &st;
	if ((r = uv_queue_work(loop, &w, uv_empty_work, uv_rt_after)) < 0)
		return r;
	uv_run(loop, UV_RUN_DEFAULT);
	*ns = bench_now_ns() - t0;
	return st.err < 0 ? st.err : (int64_t)st.done;
}

static int uv_tp_run(uv_loop_t *loop, uint64_t total, uint64_t *ns)
{
	static uv_work_t w[INFLIGHT];
	struct uv_run_state st = { .total = total };
	uint64_t t0 = bench_now_ns();
	int r;

	loop->data = &st;
	for (int i = 0; i < INFLIGHT; i++) {
		st.issued++;
		if ((r = uv_queue_work(loop, &w[i], uv_empty_work, uv_tp_after)) < 0)
			return r;
	}
	uv_run(loop, UV_RUN_DEFAULT);
	*ns = bench_now_ns() - t0;
	if (st.err < 0)
		return st.err;
	return st.done == total ? 0 : -EIO;
}

static int uv_child(struct thread_job *j, struct thread_sample *s)
{
	char nthreads[16];
	uv_loop_t loop;
	uint64_t ns, total;
	int64_t n;
	double c0;
	int r;

	/* libuv reads it when its pool starts, at the first uv_queue_work. */
	snprintf(nthreads, sizeof(nthreads), "%d", THREADS);
	setenv("UV_THREADPOOL_SIZE", nthreads, 1);
	if ((r = uv_loop_init(&loop)) < 0) {
		snprintf(s->note, sizeof(s->note), "uv_loop_init: %s", uv_strerror(r));
		return r;
	}
	for (int i = 0; i < WARM_RT && r >= 0; i++)
		r = (int)uv_rt_run(&loop, 0, &ns);
	if (r < 0)
		goto fail;
	c0 = bench_cpu_us();
	if ((n = uv_rt_run(&loop, j->rt_s, &ns)) < 0) {
		r = (int)n;
		goto fail;
	}
	s->rt_us = (double)ns / 1e3 / (double)n;
	s->rt_cpu_us = (bench_cpu_us() - c0) / (double)n;

	if ((r = uv_tp_run(&loop, WARM_TP, &ns)) < 0)
		goto fail;
	total = size_total(WARM_TP, ns, j->tp_s);
	c0 = bench_cpu_us();
	if ((r = uv_tp_run(&loop, total, &ns)) < 0)
		goto fail;
	s->tp_jobs_s = (double)total * 1e9 / (double)ns;
	s->tp_cpu_us = (bench_cpu_us() - c0) / (double)total;
	s->tp_jobs = (double)total;
	uv_loop_close(&loop);
	return 0;
fail:
	snprintf(s->note, sizeof(s->note), "uv_queue_work: %s", uv_strerror(r));
	uv_loop_close(&loop);
	return r;
}

/* ------------------------------------------------------------------------
 * The family
 * ------------------------------------------------------------------------ */

static int thread_child(void *arg, void *out)
{
	struct thread_job *j = arg;
	struct thread_sample *s = out;

	memset(s, 0, sizeof(*s));
	s->err = j->variant == V_UV ? uv_child(j, s) : corio_child(j, s);
	return s->err;
}

struct variant_stats {
	struct bench_value rt, tp, rt_cpu, tp_cpu;
	double             tp_jobs;
	bool               dead;
};

static void add_rows(struct variant_stats *v)
{
	static const int corio_variants[] = { V_CORIO, V_EVENTFD };
	struct variant_stats *b = &v[V_UV];

	for (size_t i = 0; i < 2; i++) {
		struct variant_stats *c = &v[corio_variants[i]];
		bool fallback = corio_variants[i] == V_EVENTFD;
		struct bench_row r;

		bench_row_init(&r, "thread",
			       fallback ? "thread.roundtrip.eventfd.libuv" : "thread.roundtrip.libuv",
			       "us", variant_names[V_UV]);
		/* The targets are the default path's; the fallback
		 * rows show how far it is from them. */
		if (!fallback)
			bench_row_target(&r, BENCH_TARGET_RATIO_MAX, 0.7);
		r.corio = c->rt;
		r.base = b->rt;
		bench_row_extra(&r, "threads", THREADS);
		bench_row_extra_median(&r, "corio_cpu_us_per_job", &c->rt_cpu);
		bench_row_extra_median(&r, "baseline_cpu_us_per_job", &b->rt_cpu);
		bench_report_add(&r);
	}
	for (size_t i = 0; i < 2; i++) {
		struct variant_stats *c = &v[corio_variants[i]];
		bool fallback = corio_variants[i] == V_EVENTFD;
		struct bench_row r;

		bench_row_init(&r, "thread",
			       fallback ? "thread.throughput.eventfd.libuv" : "thread.throughput.libuv",
			       "jobs/s", variant_names[V_UV]);
		r.higher_is_better = true;
		if (!fallback)
			bench_row_target(&r, BENCH_TARGET_RATIO_MAX, 1.0);
		r.corio = c->tp;
		r.base = b->tp;
		bench_row_extra(&r, "threads", THREADS);
		bench_row_extra(&r, "in_flight", INFLIGHT);
		if (c->tp_jobs > 0)
			bench_row_extra(&r, "corio_jobs_per_sample", c->tp_jobs);
		if (b->tp_jobs > 0)
			bench_row_extra(&r, "baseline_jobs_per_sample", b->tp_jobs);
		bench_row_extra_median(&r, "corio_cpu_us_per_job", &c->tp_cpu);
		bench_row_extra_median(&r, "baseline_cpu_us_per_job", &b->tp_cpu);
		bench_report_add(&r);
	}
}

int bench_thread(const struct bench_opts *o)
{
	struct variant_stats v[V_COUNT];
	/* A sample costs a child of about --seconds: at most 3 reps. */
	int reps = o->reps < 3 ? o->reps : 3;

	memset(v, 0, sizeof(v));
	bench_report_legend(
		"thread rows: an empty job through a pool of 4 worker threads, corio_to_thread vs "
		"libuv's uv_queue_work (UV_THREADPOOL_SIZE=4). roundtrip: one job at a time, us per "
		"job, lower is better (target <= 0.7x). throughput: 1000 jobs in flight (1000 tasks; "
		"1000 uv_work_t) for a fixed total, jobs/s, higher is better (target >= 1.0x). "
		"Plain rows use corio's default wakeup (IORING_OP_MSG_RING into the loop's ring); "
		".eventfd rows force the fallback (CORIO_THREADS_WAKE=eventfd) and have no target. "
		"Each contender runs in its own child per rep.");
	for (int rep = 0; rep < reps; rep++) {
		fprintf(stderr, "thread: corio_to_thread, eventfd, uv_queue_work, rep %d/%d ...\n",
			rep + 1, reps);
		for (int k = 0; k < V_COUNT; k++) {
			int i = (rep + k) % V_COUNT;
			struct thread_job j = { .variant = i, .rt_s = o->seconds / 2,
						.tp_s = o->seconds / 2 };
			struct thread_sample s = { 0 }; /* read below even if no sample came */
			struct bench_proc p;
			const char *why;

			if (v[i].dead)
				continue;
			int got = bench_fork(thread_child, &j, &s, sizeof(s), 30 + 4 * o->seconds, &p);
			int st = bench_fork_failed(got, s.err, s.note, &p, &why);

			if (st != BENCH_OK) {
				bench_value_fail(&v[i].rt, st, "%s: %s", variant_names[i], why);
				bench_value_fail(&v[i].tp, st, "%s: %s", variant_names[i], why);
				v[i].dead = true;
				continue;
			}
			bench_value_add(&v[i].rt, s.rt_us);
			bench_value_add(&v[i].tp, s.tp_jobs_s);
			bench_value_add(&v[i].rt_cpu, s.rt_cpu_us);
			bench_value_add(&v[i].tp_cpu, s.tp_cpu_us);
			v[i].tp_jobs = s.tp_jobs;
		}
	}
	add_rows(v);
	return 0;
}
