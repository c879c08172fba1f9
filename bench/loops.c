/*
 * loops.c - the "loops" family: corio's calls between the loops of
 * corio_run_loops against what a C programmer would otherwise write, two
 * libuv loops on two threads waking each other with uv_async_send.
 *
 * Two loops (corio: corio_run_loops(2); libuv: two uv_loop_t, one thread
 * each), loop 0 pinned to the first CPU this process may use and loop 1 to
 * the second (CPUs 0 and 1 on an unpinned run; with one CPU allowed, both
 * share it and the rows say cpus: 1). Two figures, each moving an empty
 * function:
 *
 *   call round trip   one at a time from loop 0 to loop 1 and back (corio:
 *                     a task calling corio_loop_call(1, fn, arg) in a loop;
 *                     libuv: A uv_async_send's B, B's async callback runs
 *                     the empty function and uv_async_send's A, whose
 *                     callback sends the next); microseconds per round trip.
 *   post throughput   loop 0 sends a fixed total as fast as it can, never
 *                     waiting (corio: one task calling corio_loop_post(1, fn,
 *                     arg) total times; libuv: malloc an item, append it to
 *                     a mutex-protected queue, uv_async_send, which
 *                     coalesces, so B's async callback drains the whole
 *                     queue, running and freeing each item). fn counts
 *                     arrivals on loop 1; the clock runs from the first send
 *                     to the last arrival; messages per second.
 *
 * corio's round trip is measured twice: with its default transport (the
 * message is an IORING_OP_MSG_RING from the sender's ring into the
 * target's) and with the fallback (CORIO_LOOPS_WAKE=eventfd: the target's
 * list and eventfd, as on kernels without MSG_RING), which each loop reads
 * when it starts. Every contender runs in its own forked child, once per
 * rep, the order rotating between reps; each child warms up and sizes its
 * timed runs before timing them.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <uv.h>

#include "bench.h"
#include "corio.h"

#define WARM_RT  2000    /* round trips before the timed loop */
#define WARM_TP  20000   /* messages of the sizing run */
#define MAX_TP   4000000 /* messages of a timed run, at most */

enum { V_CORIO, V_EVENTFD, V_UV, V_COUNT };

static const char *const variant_names[V_COUNT] = {
	"corio (MSG_RING)", "corio (eventfd)", "libuv uv_async_send",
};

struct loops_job {
	int    variant;
	double rt_s, tp_s; /* timed seconds of each figure; 0: not measured */
};

/* What one child sends back. */
struct loops_sample {
	int    err;
	char   note[BENCH_NOTE_LEN];
	int    cpus;       /* distinct CPUs the two loops were pinned to */
	double rt_us;      /* per round trip */
	double rt_cpu_us;  /* process CPU time (both threads) per round trip */
	double tp_msgs_s;
	double tp_cpu_us;  /* process CPU time per message, throughput run */
	double tp_msgs;    /* the timed run's total */
};

/* The timed run's total: as many messages as fit in `seconds` at the rate
 * the sizing run saw, at least the sizing run's, at most MAX_TP. */
static uint64_t size_total(uint64_t msgs, uint64_t ns, double seconds)
{
	double rate = ns ? (double)msgs * 1e9 / (double)ns : 1e6;
	double total = rate * seconds;

	if (total < WARM_TP)
		return WARM_TP;
	return total > MAX_TP ? MAX_TP : (uint64_t)total;
}

/* The first two CPUs this process may run on (the same one twice when it
 * may use only one); returns how many distinct CPUs that is. */
static int pick_cpus(int cpu[2])
{
	cpu_set_t set;
	int n = 0;

	cpu[0] = cpu[1] = -1;
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return 0;
	for (int i = 0; i < CPU_SETSIZE && n < 2; i++)
		if (CPU_ISSET(i, &set))
			cpu[n++] = i;
	if (n == 1)
		cpu[1] = cpu[0];
	return n;
}

/* Pins the calling thread; 0 or -errno. */
static int pin_self(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return 0;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return -pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* ------------------------------------------------------------------------
 * corio: corio_loop_call and corio_loop_post between two loops
 * ------------------------------------------------------------------------ */

struct corio_state {
	const struct loops_job *job;
	struct loops_sample    *s;
	int                     cpu[2];
	int                     pin_err[2];
	/* Loop 1's alone (touched only by tasks on loop 1). */
	corio_event            *stop;     /* loop 1's main waits for it */
	corio_event            *all;      /* set when `arrived` reaches `expect` */
	uint64_t                arrived, expect, last_ns;
};

static struct corio_state cst;

/* Loop 1's events, made on loop 1 by whichever of its tasks needs one
 * first (a message may arrive before loop 1's main ran). */
static corio_event *loop1_event(corio_event **ev)
{
	if (!*ev)
		*ev = corio_event_new();
	return *ev;
}

static int empty_fn(void *arg)
{
	(void)arg;
	return 0;
}

static void count_fn(void *arg)
{
	struct corio_state *st = arg;

	if (++st->arrived == st->expect) {
		st->last_ns = bench_now_ns();
		corio_event_set(st->all);
	}
}

/* Runs on loop 1: arms the counter for a run of *arg messages. */
static int expect_fn(void *arg)
{
	if (!loop1_event(&cst.all))
		return -ENOMEM;
	corio_event_clear(cst.all);
	cst.arrived = 0;
	cst.expect = *(const uint64_t *)arg;
	return 0;
}

/* Runs on loop 1: waits until every message of the run has arrived. */
static int wait_all_fn(void *arg)
{
	(void)arg;
	return corio_event_wait(cst.all);
}

static int stop_fn(void *arg)
{
	(void)arg;
	if (!loop1_event(&cst.stop))
		return -ENOMEM;
	corio_event_set(cst.stop);
	return 0;
}

/* total posts from this task (on loop 0) to loop 1; the time from the
 * first post to the last arrival. */
static int corio_tp_run(uint64_t total, uint64_t *ns)
{
	uint64_t t0;
	int r;

	if ((r = corio_loop_call(1, expect_fn, &total)) < 0)
		return r;
	t0 = bench_now_ns();
	for (uint64_t i = 0; i < total; i++)
		if ((r = corio_loop_post(1, count_fn, &cst)) < 0)
			return r;
	if ((r = corio_loop_call(1, wait_all_fn, NULL)) < 0)
		return r;
	*ns = cst.last_ns - t0; /* written on loop 1 before the call returned */
	return 0;
}

static int corio_measure(struct corio_state *st)
{
	const struct loops_job *j = st->job;
	struct loops_sample *s = st->s;
	uint64_t t0, end, n = 0, ns, total;
	double c0;
	int r;

	for (int i = 0; i < WARM_RT; i++)
		if ((r = corio_loop_call(1, empty_fn, NULL)) < 0) {
			snprintf(s->note, sizeof(s->note), "corio_loop_call: %s", strerror(-r));
			return r;
		}
	c0 = bench_cpu_us();
	t0 = bench_now_ns();
	end = t0 + (uint64_t)(j->rt_s * 1e9);
	do {
		if ((r = corio_loop_call(1, empty_fn, NULL)) < 0) {
			snprintf(s->note, sizeof(s->note), "corio_loop_call: %s", strerror(-r));
			return r;
		}
		n++;
	} while (bench_now_ns() < end);
	ns = bench_now_ns() - t0;
	s->rt_us = (double)ns / 1e3 / (double)n;
	s->rt_cpu_us = (bench_cpu_us() - c0) / (double)n;
	if (j->tp_s <= 0)
		return 0;

	if ((r = corio_tp_run(WARM_TP, &ns)) < 0) {
		snprintf(s->note, sizeof(s->note), "corio_loop_post: %s", strerror(-r));
		return r;
	}
	total = size_total(WARM_TP, ns, j->tp_s);
	c0 = bench_cpu_us();
	if ((r = corio_tp_run(total, &ns)) < 0) {
		snprintf(s->note, sizeof(s->note), "corio_loop_post: %s", strerror(-r));
		return r;
	}
	s->tp_msgs_s = (double)total * 1e9 / (double)ns;
	s->tp_cpu_us = (bench_cpu_us() - c0) / (double)total;
	s->tp_msgs = (double)total;
	return 0;
}

static int corio_loop_main(void *arg)
{
	struct corio_state *st = arg;
	int me = corio_loop_index(), r;

	st->pin_err[me] = pin_self(st->cpu[me]);
	if (me == 1) {
		/* Takes calls until loop 0 is done with it. */
		if (!loop1_event(&st->stop))
			return -ENOMEM;
		r = corio_event_wait(st->stop);
		corio_event_free(st->stop);
		if (st->all)
			corio_event_free(st->all);
		return r;
	}
	r = st->pin_err[0] ? st->pin_err[0] : corio_measure(st);
	/* Whatever happened, let loop 1 end. */
	(void)corio_loop_call(1, stop_fn, NULL);
	return r;
}

static int corio_child(const struct loops_job *j, struct loops_sample *s)
{
	int r;

	/* Read by each loop when it starts. */
	if (j->variant == V_EVENTFD)
		setenv("CORIO_LOOPS_WAKE", "eventfd", 1);
	else
		unsetenv("CORIO_LOOPS_WAKE");
	memset(&cst, 0, sizeof(cst));
	cst.job = j;
	cst.s = s;
	s->cpus = pick_cpus(cst.cpu);
	r = corio_run_loops(2, corio_loop_main, &cst);
	for (int i = 0; i < 2; i++)
		if (cst.pin_err[i] && !s->note[0])
			snprintf(s->note, sizeof(s->note), "loop %d: pthread_setaffinity_np: %s", i,
				 strerror(-cst.pin_err[i]));
	if (r < 0 && !s->note[0])
		snprintf(s->note, sizeof(s->note), "corio_run_loops: %s", strerror(-r));
	return r < 0 ? r : cst.pin_err[0] ? cst.pin_err[0] : cst.pin_err[1];
}

/* ------------------------------------------------------------------------
 * libuv: two loops, two threads, uv_async_send both ways
 * ------------------------------------------------------------------------ */

enum { M_RT = 1, M_TP, M_STOP }; /* what B's async callback does */

/* An item of the throughput run's queue: the usual libuv way to hand a
 * function to another loop. */
struct uv_item {
	struct uv_item *next;
	void          (*fn)(void *arg);
	void           *arg;
};

struct uv_state {
	uv_loop_t       la, lb;
	uv_async_t      a, b;      /* a wakes loop A (thread A), b wakes loop B */
	int             cpu[2];
	int             pin_err_b;
	int             mode;      /* atomic: M_* for B's callback */
	/* round trips: A's alone */
	uint64_t        rt_n, rt_limit, rt_end_ns;
	/* the queue, A -> B */
	pthread_mutex_t lock;
	struct uv_item *head, *tail;
	/* B's alone during a throughput run; read by A after B's wake-up */
	uint64_t        arrived, expect, last_ns;
};

static struct uv_state ust;

static void uv_count_fn(void *arg)
{
	struct uv_state *st = arg;

	if (++st->arrived == st->expect) {
		st->last_ns = bench_now_ns();
		uv_async_send(&st->a); /* tell A: all here */
	}
}

/* Loop B. */
static void on_b(uv_async_t *h)
{
	struct uv_state *st = h->data;
	struct uv_item *it, *next;

	switch (__atomic_load_n(&st->mode, __ATOMIC_ACQUIRE)) {
	case M_RT:
		empty_fn(NULL);
		uv_async_send(&st->a);
		break;
	case M_TP:
		pthread_mutex_lock(&st->lock);
		it = st->head;
		st->head = st->tail = NULL;
		pthread_mutex_unlock(&st->lock);
		for (; it; it = next) {
			next = it->next;
			it->fn(it->arg);
			free(it);
		}
		break;
	case M_STOP:
		uv_close((uv_handle_t *)h, NULL);
		break;
	}
}

/* Loop A. */
static void on_a(uv_async_t *h)
{
	struct uv_state *st = h->data;

	if (__atomic_load_n(&st->mode, __ATOMIC_RELAXED) != M_RT) {
		uv_stop(&st->la); /* throughput: every message arrived */
		return;
	}
	st->rt_n++;
	if (st->rt_n >= st->rt_limit || bench_now_ns() >= st->rt_end_ns)
		uv_stop(&st->la);
	else
		uv_async_send(&st->b);
}

static void *uv_thread_b(void *arg)
{
	struct uv_state *st = arg;

	st->pin_err_b = pin_self(st->cpu[1]);
	uv_run(&st->lb, UV_RUN_DEFAULT); /* until b is closed */
	return NULL;
}

/* Round trips until `limit` or `seconds` (whichever first); returns how
 * many were made. */
static uint64_t uv_rt_run(struct uv_state *st, uint64_t limit, double seconds, uint64_t *ns)
{
	uint64_t t0 = bench_now_ns();

	st->rt_n = 0;
	st->rt_limit = limit;
	st->rt_end_ns = t0 + (uint64_t)(seconds * 1e9);
	__atomic_store_n(&st->mode, M_RT, __ATOMIC_RELEASE);
	uv_async_send(&st->b);
	uv_run(&st->la, UV_RUN_DEFAULT); /* until on_a stops it */
	*ns = bench_now_ns() - t0;
	return st->rt_n;
}

static int uv_tp_run(struct uv_state *st, uint64_t total, uint64_t *ns)
{
	uint64_t t0;

	/* B runs nothing now (it is idle after the previous run's last
	 * message): these are published by the mode's release store. */
	st->arrived = 0;
	st->expect = total;
	__atomic_store_n(&st->mode, M_TP, __ATOMIC_RELEASE);
	t0 = bench_now_ns();
	for (uint64_t i = 0; i < total; i++) {
		struct uv_item *it = malloc(sizeof(*it));

		if (!it)
			return -ENOMEM; /* B drains what went */
		it->next = NULL;
		it->fn = uv_count_fn;
		it->arg = st;
		pthread_mutex_lock(&st->lock);
		if (st->tail)
			st->tail->next = it;
		else
			st->head = it;
		st->tail = it;
		pthread_mutex_unlock(&st->lock);
		uv_async_send(&st->b);
	}
	uv_run(&st->la, UV_RUN_DEFAULT); /* until B says all arrived */
	*ns = st->last_ns - t0;
	return 0;
}

static int uv_measure(struct uv_state *st, const struct loops_job *j, struct loops_sample *s)
{
	uint64_t ns, n, total;
	double c0;
	int r;

	if (uv_rt_run(st, WARM_RT, 60, &ns) != WARM_RT)
		return -EIO;
	c0 = bench_cpu_us();
	n = uv_rt_run(st, UINT64_MAX, j->rt_s, &ns);
	s->rt_us = (double)ns / 1e3 / (double)n;
	s->rt_cpu_us = (bench_cpu_us() - c0) / (double)n;
	if (j->tp_s <= 0)
		return 0;

	if ((r = uv_tp_run(st, WARM_TP, &ns)) < 0)
		return r;
	total = size_total(WARM_TP, ns, j->tp_s);
	c0 = bench_cpu_us();
	if ((r = uv_tp_run(st, total, &ns)) < 0)
		return r;
	s->tp_msgs_s = (double)total * 1e9 / (double)ns;
	s->tp_cpu_us = (bench_cpu_us() - c0) / (double)total;
	s->tp_msgs = (double)total;
	return 0;
}

static int uv_child(const struct loops_job *j, struct loops_sample *s)
{
	struct uv_state *st = &ust;
	pthread_t tb;
	int r;

	memset(st, 0, sizeof(*st));
	s->cpus = pick_cpus(st->cpu);
	pthread_mutex_init(&st->lock, NULL);
	/* Both loops and both handles are made here, before thread B runs
	 * loop B: uv_async_init is not thread-safe, uv_async_send is. */
	if ((r = uv_loop_init(&st->la)) < 0 || (r = uv_loop_init(&st->lb)) < 0 ||
	    (r = uv_async_init(&st->la, &st->a, on_a)) < 0 ||
	    (r = uv_async_init(&st->lb, &st->b, on_b)) < 0) {
		snprintf(s->note, sizeof(s->note), "libuv setup: %s", uv_strerror(r));
		return -EIO; /* the child exits: nothing to tear down */
	}
	st->a.data = st->b.data = st;
	if ((r = pin_self(st->cpu[0])) < 0) {
		snprintf(s->note, sizeof(s->note), "thread A: pthread_setaffinity_np: %s",
			 strerror(-r));
		return r;
	}
	if ((r = pthread_create(&tb, NULL, uv_thread_b, st)) != 0) {
		snprintf(s->note, sizeof(s->note), "pthread_create: %s", strerror(r));
		return -r;
	}
	r = uv_measure(st, j, s);
	if (r < 0 && !s->note[0])
		snprintf(s->note, sizeof(s->note), "libuv run: %s", strerror(-r));
	__atomic_store_n(&st->mode, M_STOP, __ATOMIC_RELEASE);
	uv_async_send(&st->b);
	pthread_join(tb, NULL);
	if (r == 0 && st->pin_err_b) {
		r = st->pin_err_b;
		snprintf(s->note, sizeof(s->note), "thread B: pthread_setaffinity_np: %s",
			 strerror(-r));
	}
	uv_close((uv_handle_t *)&st->a, NULL);
	uv_run(&st->la, UV_RUN_DEFAULT);
	uv_loop_close(&st->la);
	uv_loop_close(&st->lb);
	return r;
}

/* ------------------------------------------------------------------------
 * The family
 * ------------------------------------------------------------------------ */

static int loops_child(void *arg, void *out)
{
	const struct loops_job *j = arg;
	struct loops_sample *s = out;

	memset(s, 0, sizeof(*s));
	s->err = j->variant == V_UV ? uv_child(j, s) : corio_child(j, s);
	return s->err;
}

struct variant_stats {
	struct bench_value rt, tp, rt_cpu, tp_cpu;
	double             tp_msgs, maxrss_kib;
	int                cpus;
	bool               dead;
};

static void add_rows(struct variant_stats *v)
{
	static const int rt_variants[] = { V_CORIO, V_EVENTFD };
	struct variant_stats *b = &v[V_UV], *c = &v[V_CORIO];
	struct bench_row r;

	for (size_t i = 0; i < 2; i++) {
		struct variant_stats *cv = &v[rt_variants[i]];

		bench_row_init(&r, "loops",
			       rt_variants[i] == V_EVENTFD ? "loops.call.roundtrip.eventfd.libuv"
							   : "loops.call.roundtrip.libuv",
			       "us", variant_names[V_UV]);
		r.corio = cv->rt;
		r.base = b->rt;
		if (cv->cpus)
			bench_row_extra(&r, "cpus", cv->cpus);
		bench_row_extra_median(&r, "corio_cpu_us_per_call", &cv->rt_cpu);
		bench_row_extra_median(&r, "baseline_cpu_us_per_call", &b->rt_cpu);
		bench_report_add(&r);
	}

	bench_row_init(&r, "loops", "loops.post.throughput.libuv", "msgs/s",
		       "libuv mutex queue + uv_async_send");
	r.higher_is_better = true;
	r.corio = c->tp;
	r.base = b->tp;
	if (c->cpus)
		bench_row_extra(&r, "cpus", c->cpus);
	if (c->tp_msgs > 0)
		bench_row_extra(&r, "corio_msgs_per_sample", c->tp_msgs);
	if (b->tp_msgs > 0)
		bench_row_extra(&r, "baseline_msgs_per_sample", b->tp_msgs);
	bench_row_extra_median(&r, "corio_cpu_us_per_msg", &c->tp_cpu);
	bench_row_extra_median(&r, "baseline_cpu_us_per_msg", &b->tp_cpu);
	/* The children's peak RSS (the throughput run's backlog dominates). */
	if (c->maxrss_kib > 0)
		bench_row_extra(&r, "corio_child_maxrss_kib", c->maxrss_kib);
	if (b->maxrss_kib > 0)
		bench_row_extra(&r, "baseline_child_maxrss_kib", b->maxrss_kib);
	bench_report_add(&r);
}

int bench_loops(const struct bench_opts *o)
{
	struct variant_stats v[V_COUNT];
	/* A rep costs about 2.5 x --seconds of children: at most 3 reps. */
	int reps = o->reps < 3 ? o->reps : 3;

	memset(v, 0, sizeof(v));
	bench_report_legend(
		"loops rows: two loops on two threads, pinned to two CPUs (loop 0 on the first, "
		"loop 1 on the second), corio_run_loops(2) vs two libuv loops waking each other with "
		"uv_async_send, an empty function moved each time. call.roundtrip: one at a time, "
		"corio_loop_call(1, fn, arg) from a task on loop 0 vs A uv_async_send's B, whose async "
		"callback runs fn and uv_async_send's A back; us per round trip, lower is better, no "
		"target: both sides sleep between messages, so a round trip is mostly two cross-CPU "
		"wakeups, whose cost is the machine's (tens of us on a VM). post.throughput: loop 0 "
		"sends a fixed total (sized to the time budget, at most 4M) as fast as it can, never "
		"waiting, corio_loop_post(1, fn, arg) vs a malloc'd item on a mutex-protected queue "
		"plus uv_async_send (which coalesces: B's callback drains the whole queue); fn counts "
		"arrivals on loop 1 and the clock stops at the last one; messages/s, higher is better, "
		"no target. corio runs each posted fn as a task of its own (it may block), libuv's "
		"callback calls it. corio's messages go by IORING_OP_MSG_RING, one per message; the "
		".eventfd row forces the fallback (CORIO_LOOPS_WAKE=eventfd). Each contender runs in "
		"its own child per rep.");
	for (int rep = 0; rep < reps; rep++) {
		fprintf(stderr, "loops: corio_loop_call/post, eventfd, uv_async_send, rep %d/%d ...\n",
			rep + 1, reps);
		for (int k = 0; k < V_COUNT; k++) {
			int i = (rep + k) % V_COUNT;
			struct loops_job j = { .variant = i, .rt_s = 0.4 * o->seconds,
					       .tp_s = i == V_EVENTFD ? 0 : 0.4 * o->seconds };
			struct loops_sample s = { 0 }; /* read below even if no sample came */
			struct bench_proc p;
			const char *why;

			if (v[i].dead)
				continue;
			int got = bench_fork(loops_child, &j, &s, sizeof(s), 30 + 4 * o->seconds, &p);
			int st = bench_fork_failed(got, s.err, s.note, &p, &why);

			if (st != BENCH_OK) {
				bench_value_fail(&v[i].rt, st, "%s: %s", variant_names[i], why);
				bench_value_fail(&v[i].tp, st, "%s: %s", variant_names[i], why);
				v[i].dead = true;
				continue;
			}
			bench_value_add(&v[i].rt, s.rt_us);
			bench_value_add(&v[i].rt_cpu, s.rt_cpu_us);
			if (j.tp_s > 0) {
				bench_value_add(&v[i].tp, s.tp_msgs_s);
				bench_value_add(&v[i].tp_cpu, s.tp_cpu_us);
				v[i].tp_msgs = s.tp_msgs;
				if ((double)p.maxrss_kib > v[i].maxrss_kib)
					v[i].maxrss_kib = (double)p.maxrss_kib;
			}
			v[i].cpus = s.cpus;
		}
	}
	add_rows(v);
	return 0;
}
