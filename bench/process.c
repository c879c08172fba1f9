/*
 * process.c - the "process" family: a job run in a worker process, 64 bytes
 * in and 64 bytes out, the job itself an echo (the pool's own cost).
 *
 *   round trip   one job at a time: corio_run_in_process from one task,
 *                against a plain blocking socketpair to one forked child
 *                (send 64 B, the child echoes them, recv 64 B) - the floor
 *                for talking to another process - and against Python's
 *                concurrent.futures.ProcessPoolExecutor (submit().result());
 *                microseconds per job, target <= 30 us.
 *   throughput   2 workers, many jobs in flight, a fixed total: corio with
 *                256 tasks calling corio_run_in_process on one pool of 2;
 *                2 forked children on SOCK_SEQPACKET socketpairs, the parent
 *                keeping 128 jobs queued on each with poll(), what a C
 *                programmer would write by hand; ProcessPoolExecutor(2) with
 *                every job submitted at once, as Python code does; jobs/s.
 *
 * A round trip is two wakeups of another process; when they cross CPUs, on
 * a VM where waking an idle vCPU is slow, that cost swamps everything else
 * (the plain socketpair and corio alike). So the round trip is also timed
 * with corio, its workers, the socketpair parent and its child all pinned
 * to the one CPU the child started on (the .onecpu row): two context
 * switches per job, and what corio adds to them.
 *
 * corio and the socketpair baseline each run in a forked child, Python is
 * its own process (bench/process_py.py, when python3 is there); one of each
 * per rep, the order rotating, each warming up and sizing its timed runs
 * before timing them. A job's time includes everything between the caller
 * and the function in the worker: copying in, the wakeups, copying out.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "corio.h"

#define MSG       64
#define WORKERS   2
#define INFLIGHT  256            /* jobs in flight in the throughput runs */
#define WARM_RT   1000           /* round trips before the timed loop */
#define WARM_TP   (8 * INFLIGHT) /* jobs of the sizing run */

/* The *_1CPU contenders time the round trip alone, with every process of
 * theirs pinned to one CPU. */
enum { C_CORIO, C_SOCK, C_PY, C_CORIO_1CPU, C_SOCK_1CPU, C_COUNT };

static const char *const names[C_COUNT] = {
	"corio", "socketpair", "python", "corio on one CPU", "socketpair on one CPU",
};
static const char *const rt_names[C_COUNT] = {
	"corio", "socketpair to a forked child", "Python ProcessPoolExecutor", "corio",
	"socketpair to a child, one CPU",
};
static const char *const tp_names[C_COUNT] = {
	"corio", "2 forked children, socketpair+poll", "Python ProcessPoolExecutor(2)",
};

struct proc_job {
	double rt_s, tp_s; /* timed seconds of each figure; tp_s 0: no throughput */
	int    which;      /* C_* */
};

/* What one contender's run gives. */
struct proc_sample {
	int    err;
	char   note[BENCH_NOTE_LEN];
	double rt_us;
	double tp_jobs_s;
	double tp_jobs;    /* the timed run's total */
};

/* The timed run's total: as many jobs as fit in `seconds` at the rate the
 * sizing run saw, a whole number per in-flight slot. */
static uint64_t size_total(uint64_t jobs, uint64_t ns, double seconds)
{
	double rate = ns ? (double)jobs * 1e9 / (double)ns : 1e5;
	uint64_t per = (uint64_t)(rate * seconds / INFLIGHT) + 1;

	if (per < WARM_TP / INFLIGHT)
		per = WARM_TP / INFLIGHT;
	return per * INFLIGHT;
}

/* ------------------------------------------------------------------------
 * corio_run_in_process
 * ------------------------------------------------------------------------ */

/* The job: runs in a worker process. */
static ssize_t echo_job(const void *in, size_t inlen, void *out, size_t outcap)
{
	if (inlen > outcap)
		return -ENOBUFS;
	memcpy(out, in, inlen);
	return (ssize_t)inlen;
}

static int call_echo(corio_procpool *pool, unsigned seq)
{
	unsigned char in[MSG], out[MSG];
	ssize_t n;

	memset(in, (int)(seq & 0xff), sizeof(in));
	n = corio_run_in_process(pool, echo_job, in, sizeof(in), out, sizeof(out));
	if (n < 0)
		return (int)n;
	/* Cheap enough not to matter, and it catches a pool that mixes up
	 * the outputs of concurrent jobs. */
	return n == MSG && out[0] == in[0] && out[MSG - 1] == in[MSG - 1] ? 0 : -EPROTO;
}

struct tp_arg {
	corio_procpool *pool;
	uint64_t        per;
	unsigned        id;
};

static int tp_task(void *arg)
{
	struct tp_arg *a = arg;

	for (uint64_t i = 0; i < a->per; i++) {
		int r = call_echo(a->pool, a->id + (unsigned)i);
		if (r < 0)
			return r;
	}
	return 0;
}

static int corio_tp_run(corio_procpool *pool, uint64_t total, uint64_t *ns)
{
	static corio_task *ts[INFLIGHT];
	static struct tp_arg args[INFLIGHT];
	uint64_t t0 = bench_now_ns();
	int r;

	for (int i = 0; i < INFLIGHT; i++) {
		args[i] = (struct tp_arg){ pool, total / INFLIGHT, (unsigned)i };
		if (!(ts[i] = corio_spawn(tp_task, &args[i]))) {
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

static int corio_measure(corio_procpool *pool, const struct proc_job *j, struct proc_sample *s)
{
	uint64_t t0, end, n = 0, ns, total;
	int r;

	for (int i = 0; i < WARM_RT; i++)
		if ((r = call_echo(pool, (unsigned)i)) < 0) {
			snprintf(s->note, sizeof(s->note), "corio_run_in_process: %s", strerror(-r));
			return r;
		}
	t0 = bench_now_ns();
	end = t0 + (uint64_t)(j->rt_s * 1e9);
	do {
		if ((r = call_echo(pool, (unsigned)n)) < 0) {
			snprintf(s->note, sizeof(s->note), "corio_run_in_process: %s", strerror(-r));
			return r;
		}
		n++;
	} while (bench_now_ns() < end);
	ns = bench_now_ns() - t0;
	s->rt_us = (double)ns / 1e3 / (double)n;
	if (j->tp_s <= 0)
		return 0;

	if ((r = corio_tp_run(pool, WARM_TP, &ns)) < 0 ||
	    (total = size_total(WARM_TP, ns, j->tp_s),
	     (r = corio_tp_run(pool, total, &ns)) < 0)) {
		snprintf(s->note, sizeof(s->note), "%d jobs in flight: %s", INFLIGHT, strerror(-r));
		return r;
	}
	s->tp_jobs_s = (double)total * 1e9 / (double)ns;
	s->tp_jobs = (double)total;
	return 0;
}

static int corio_main(void *arg)
{
	const struct proc_job *j = ((void **)arg)[0];
	struct proc_sample *s = ((void **)arg)[1];
	corio_procpool *pool = corio_procpool_new(WORKERS);
	int r;

	if (!pool) {
		snprintf(s->note, sizeof(s->note), "corio_procpool_new: %s", strerror(errno));
		return -errno;
	}
	r = corio_measure(pool, j, s);
	corio_procpool_free(pool);
	return r;
}

static int corio_child(const struct proc_job *j, struct proc_sample *s)
{
	void *args[2] = { (void *)j, s };
	int r = corio_run(corio_main, args);

	if (r < 0 && !s->note[0])
		snprintf(s->note, sizeof(s->note), "corio_run: %s", strerror(-r));
	return r;
}

/* ------------------------------------------------------------------------
 * Plain socketpairs to forked children
 * ------------------------------------------------------------------------ */

struct echo_child {
	pid_t pid;
	int   fd;
};

/* A child that echoes every message on its end of a SOCK_SEQPACKET
 * socketpair until the parent closes it. */
static int echo_child_start(struct echo_child *c)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	c->pid = fork();
	if (c->pid < 0) {
		int e = -errno;
		close(sv[0]);
		close(sv[1]);
		return e;
	}
	if (c->pid == 0) {
		unsigned char in[MSG], out[MSG];

		close(sv[0]);
		for (;;) {
			ssize_t n = recv(sv[1], in, sizeof(in), 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				_exit(0);
			n = echo_job(in, (size_t)n, out, sizeof(out));
			if (send(sv[1], out, (size_t)n, MSG_NOSIGNAL) != n)
				_exit(1);
		}
	}
	close(sv[1]);
	c->fd = sv[0];
	return 0;
}

/* Closes every parent end first, then reaps: a child forked later holds
 * copies of the earlier children's parent ends, so an earlier child sees
 * EOF only once the later ones have exited. */
static void echo_children_stop(struct echo_child *c, int n)
{
	for (int i = 0; i < n; i++) {
		if (c[i].fd >= 0)
			close(c[i].fd);
		c[i].fd = -1;
	}
	for (int i = 0; i < n; i++) {
		if (c[i].pid > 0)
			while (waitpid(c[i].pid, NULL, 0) < 0 && errno == EINTR)
				;
		c[i].pid = 0;
	}
}

static int sock_rt(int fd, unsigned seq)
{
	unsigned char in[MSG], out[MSG];
	ssize_t n;

	memset(in, (int)(seq & 0xff), sizeof(in));
	if (send(fd, in, sizeof(in), MSG_NOSIGNAL) != (ssize_t)sizeof(in))
		return -errno ? -errno : -EIO;
	while ((n = recv(fd, out, sizeof(out), 0)) < 0 && errno == EINTR)
		;
	if (n < 0)
		return -errno;
	return n == MSG && out[0] == in[0] ? 0 : -EPROTO;
}

/* total jobs over WORKERS children, INFLIGHT / WORKERS queued on each. */
static int sock_tp_run(struct echo_child *c, uint64_t total, uint64_t *ns)
{
	unsigned char buf[MSG];
	uint64_t issued = 0, done = 0, t0 = bench_now_ns();
	struct pollfd pfd[WORKERS];

	memset(buf, 0x5a, sizeof(buf));
	for (int w = 0; w < WORKERS; w++) {
		pfd[w] = (struct pollfd){ .fd = c[w].fd, .events = POLLIN };
		for (int k = 0; k < INFLIGHT / WORKERS && issued < total; k++, issued++)
			if (send(c[w].fd, buf, sizeof(buf), MSG_NOSIGNAL) != (ssize_t)sizeof(buf))
				return -errno ? -errno : -EIO;
	}
	while (done < total) {
		if (poll(pfd, WORKERS, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int w = 0; w < WORKERS; w++) {
			if (!pfd[w].revents)
				continue;
			if (!(pfd[w].revents & POLLIN))
				return -EPIPE;
			for (;;) {
				ssize_t n = recv(pfd[w].fd, buf, sizeof(buf), MSG_DONTWAIT);
				if (n < 0 && errno == EAGAIN)
					break;
				if (n != MSG)
					return n < 0 ? -errno : -EPIPE;
				done++;
				if (issued < total) {
					issued++;
					if (send(pfd[w].fd, buf, sizeof(buf), MSG_NOSIGNAL) != MSG)
						return -errno ? -errno : -EIO;
				}
			}
		}
	}
	*ns = bench_now_ns() - t0;
	return 0;
}

static int sock_child(const struct proc_job *j, struct proc_sample *s)
{
	struct echo_child c[WORKERS];
	uint64_t t0, end, n = 0, ns, total;
	int r = 0, w;

	for (w = 0; w < WORKERS; w++)
		c[w] = (struct echo_child){ 0, -1 };
	for (w = 0; w < WORKERS && r == 0; w++)
		r = echo_child_start(&c[w]);
	if (r < 0) {
		snprintf(s->note, sizeof(s->note), "cannot start the echo children: %s",
			 strerror(-r));
		goto out;
	}
	for (int i = 0; i < WARM_RT && r == 0; i++)
		r = sock_rt(c[0].fd, (unsigned)i);
	t0 = bench_now_ns();
	end = t0 + (uint64_t)(j->rt_s * 1e9);
	while (r == 0) {
		r = sock_rt(c[0].fd, (unsigned)n);
		n++;
		if (bench_now_ns() >= end)
			break;
	}
	if (r < 0) {
		snprintf(s->note, sizeof(s->note), "socketpair round trip: %s", strerror(-r));
		goto out;
	}
	ns = bench_now_ns() - t0;
	s->rt_us = (double)ns / 1e3 / (double)n;
	if (j->tp_s <= 0)
		goto out;

	if ((r = sock_tp_run(c, WARM_TP, &ns)) < 0 ||
	    (total = size_total(WARM_TP, ns, j->tp_s), (r = sock_tp_run(c, total, &ns)) < 0)) {
		snprintf(s->note, sizeof(s->note), "socketpair throughput: %s", strerror(-r));
		goto out;
	}
	s->tp_jobs_s = (double)total * 1e9 / (double)ns;
	s->tp_jobs = (double)total;
out:
	echo_children_stop(c, WORKERS);
	return r;
}

static int proc_child(void *arg, void *out)
{
	const struct proc_job *j = arg;
	struct proc_sample *s = out;

	memset(s, 0, sizeof(*s));
	if (j->which == C_CORIO_1CPU || j->which == C_SOCK_1CPU) {
		/* The CPU this child runs on; the workers it forks inherit it. */
		int cpu = sched_getcpu();
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu < 0 ? 0 : cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set) < 0) {
			snprintf(s->note, sizeof(s->note), "sched_setaffinity: %s", strerror(errno));
			return s->err = -errno;
		}
	}
	if (j->which == C_CORIO || j->which == C_CORIO_1CPU)
		s->err = corio_child(j, s);
	else
		s->err = sock_child(j, s);
	return s->err;
}

/* ------------------------------------------------------------------------
 * Python's ProcessPoolExecutor (process_py.py)
 * ------------------------------------------------------------------------ */

/* Finds python3 and the script, or says why the baseline is unavailable. */
static bool python_ready(const struct bench_opts *o, char *py, size_t pycap, char *script,
			 size_t scap, char *note, size_t ncap)
{
	struct stat sb;

	if (!bench_which("python3", py, pycap)) {
		snprintf(note, ncap, "baseline unavailable: python3 not found in PATH");
		return false;
	}
	snprintf(script, scap, "%s/process_py.py", o->python_dir);
	if (stat(script, &sb) < 0) {
		snprintf(note, ncap, "baseline unavailable: %.80s: %.30s (see --python-dir)", script,
			 strerror(errno));
		return false;
	}
	return true;
}

static bool out_num(const char *out, const char *key, double *v)
{
	const char *p = strstr(out, key);

	if (!p)
		return false;
	*v = strtod(p + strlen(key), NULL);
	return true;
}

static int run_python(const struct bench_opts *o, const char *py, const char *script,
		      const struct proc_job *j, struct proc_sample *s, int *status)
{
	char srt[32], stp[32], sw[16], out[512];
	char *argv[] = { (char *)py, (char *)script, srt, stp, sw, NULL };
	struct bench_proc p;

	snprintf(srt, sizeof(srt), "%.3f", j->rt_s);
	snprintf(stp, sizeof(stp), "%.3f", j->tp_s);
	snprintf(sw, sizeof(sw), "%d", WORKERS);
	memset(s, 0, sizeof(*s));
	*status = BENCH_FAILED;
	if (bench_exec(argv, out, sizeof(out), o->py_timeout, &p) < 0) {
		snprintf(s->note, sizeof(s->note), "%s", p.note);
		*status = p.status == BENCH_TIMED_OUT ? BENCH_TIMED_OUT : BENCH_FAILED;
		return -1;
	}
	/* One line: "roundtrip_us=<f> throughput_jobs_s=<f> jobs=<n>". */
	if (!out_num(out, "roundtrip_us=", &s->rt_us) ||
	    !out_num(out, "throughput_jobs_s=", &s->tp_jobs_s) || !out_num(out, "jobs=", &s->tp_jobs)) {
		snprintf(s->note, sizeof(s->note), "unexpected output from %.100s", script);
		return -1;
	}
	*status = BENCH_OK;
	return 0;
}

/* ------------------------------------------------------------------------
 * The family
 * ------------------------------------------------------------------------ */

struct contender_stats {
	struct bench_value rt, tp;
	double             tp_jobs;
	bool               dead;
};

static void add_rows(struct contender_stats *c)
{
	/* Each round-trip row: its corio figure and its baseline. */
	static const struct { const char *name; int corio, base; } rt[] = {
		{ "process.roundtrip.socketpair", C_CORIO, C_SOCK },
		{ "process.roundtrip.onecpu.socketpair", C_CORIO_1CPU, C_SOCK_1CPU },
		{ "process.roundtrip.python", C_CORIO, C_PY },
	};
	static const char *const tags[] = { "", "socketpair", "python" };

	for (size_t i = 0; i < sizeof(rt) / sizeof(rt[0]); i++) {
		struct bench_row r;

		bench_row_init(&r, "process", rt[i].name, "us", rt_names[rt[i].base]);
		bench_row_target(&r, BENCH_TARGET_ABS_MAX, 30);
		r.corio = c[rt[i].corio].rt;
		r.base = c[rt[i].base].rt;
		bench_row_extra(&r, "bytes_in", MSG);
		bench_row_extra(&r, "bytes_out", MSG);
		bench_row_extra(&r, "workers", WORKERS);
		bench_row_extra(&r, "one_cpu", rt[i].corio == C_CORIO_1CPU);
		bench_report_add(&r);
	}
	for (int b = C_SOCK; b <= C_PY; b++) {
		struct bench_row r;
		char name[48];

		snprintf(name, sizeof(name), "process.throughput.%s", tags[b]);
		bench_row_init(&r, "process", name, "jobs/s", tp_names[b]);
		r.higher_is_better = true;
		r.corio = c[C_CORIO].tp;
		r.base = c[b].tp;
		bench_row_extra(&r, "bytes_in", MSG);
		bench_row_extra(&r, "bytes_out", MSG);
		bench_row_extra(&r, "workers", WORKERS);
		bench_row_extra(&r, "in_flight", INFLIGHT);
		if (c[C_CORIO].tp_jobs > 0)
			bench_row_extra(&r, "corio_jobs_per_sample", c[C_CORIO].tp_jobs);
		if (c[b].tp_jobs > 0)
			bench_row_extra(&r, "baseline_jobs_per_sample", c[b].tp_jobs);
		bench_report_add(&r);
	}
}

static void fail_contender(struct contender_stats *c, int status, const char *name,
			   const char *why)
{
	bench_value_fail(&c->rt, status, "%s: %s", name, why);
	bench_value_fail(&c->tp, status, "%s: %s", name, why);
	c->dead = true;
}

int bench_process(const struct bench_opts *o)
{
	struct contender_stats c[C_COUNT];
	char py[4096], script[4096], note[BENCH_NOTE_LEN];
	/* A sample costs a process of about --seconds: at most 3 reps. */
	int reps = o->reps < 3 ? o->reps : 3;

	memset(c, 0, sizeof(c));
	bench_report_legend(
		"process rows: a job of 64 B in, 64 B out (an echo) in a worker process. roundtrip: "
		"one job at a time, us per job, lower is better, target <= 30 us; baselines: a "
		"blocking send/recv on a socketpair to one forked child, and Python's "
		"ProcessPoolExecutor (submit().result()). The .onecpu row pins corio, its workers, "
		"the socketpair parent and its child to one CPU: a round trip is then two context "
		"switches, without the cross-CPU wakeups that dominate the other rows on a VM. "
		"throughput: a pool of 2 workers, jobs/s, higher is better: corio with 256 tasks in "
		"flight, 2 forked children kept 128 jobs deep with poll(), ProcessPoolExecutor(2) "
		"with every job submitted at once.");
	if (!python_ready(o, py, sizeof(py), script, sizeof(script), note, sizeof(note)))
		fail_contender(&c[C_PY], BENCH_UNAVAILABLE, names[C_PY], note);
	for (int rep = 0; rep < reps; rep++) {
		fprintf(stderr, "process: corio_run_in_process, socketpair, ProcessPoolExecutor, "
				"rep %d/%d ...\n", rep + 1, reps);
		for (int k = 0; k < C_COUNT; k++) {
			int i = (rep + k) % C_COUNT;
			bool one_cpu = i == C_CORIO_1CPU || i == C_SOCK_1CPU;
			struct proc_job j = { .rt_s = o->seconds / 2,
					      .tp_s = one_cpu ? 0 : o->seconds / 2, .which = i };
			struct proc_sample s = { 0 }; /* read below even if no sample came */
			int st = BENCH_OK;

			if (c[i].dead)
				continue;
			if (i == C_PY) {
				if (run_python(o, py, script, &j, &s, &st) < 0) {
					fail_contender(&c[i], st, names[i], s.note);
					continue;
				}
			} else {
				struct bench_proc p;
				int got = bench_fork(proc_child, &j, &s, sizeof(s),
						     30 + 4 * o->seconds, &p);

				const char *why;

				st = bench_fork_failed(got, s.err, s.note, &p, &why);
				if (st != BENCH_OK) {
					fail_contender(&c[i], st, names[i], why);
					continue;
				}
			}
			bench_value_add(&c[i].rt, s.rt_us);
			if (!one_cpu) {
				bench_value_add(&c[i].tp, s.tp_jobs_s);
				c[i].tp_jobs = s.tp_jobs;
			}
		}
	}
	add_rows(c);
	return 0;
}
