/*
 * sleep.c - the "sleep" family: many tasks sleeping at once, gathered.
 *
 * Two cases: 100 000 tasks sleeping 100 ms, and 1 000 000 tasks sleeping
 * 1 s. corio spawns the tasks (default 64 KiB stacks: that is the contract
 * being measured) and gathers them (sleep_corio.c); the baselines are libuv
 * with one uv_timer_t per task (sleep_uv.c) and Python asyncio with one
 * task each (sleep_asyncio.py, given one run only for a million tasks: it
 * takes about 20 s).
 *
 * Wall time is measured around the whole run, corio_run() to its return,
 * uv_loop_init() to uv_loop_close(), asyncio.run() to its return: what a
 * user waits for, including setup and teardown. Every run is its own child
 * process, and so is an empty run (no tasks) of each runtime; the peak RSS
 * of the full run minus that of the empty run, over the number of tasks, is
 * the memory one sleeping task costs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench.h"
#include "sleep_impl.h"

enum { I_CORIO, I_UV, I_PY, I_COUNT };

static const char *const impl_names[I_COUNT] = { "corio", "libuv uv_timer_t", "python asyncio" };

struct sleep_case {
	const char *tag;
	size_t      n;
	unsigned    ms;
	double      wall_target_ms;
	bool        per_task_row;  /* report RSS per task (else peak RSS) */
	int         py_reps;       /* asyncio runs; it is by far the slowest */
	bool        py_quick;      /* asyncio runs under --quick too */
};

static const struct sleep_case cases[] = {
	{ "100k", 100000, 100, 150, false, BENCH_MAX_SAMPLES, true },
	{ "1m", 1000000, 1000, 1500, true, 1, false },
};

/* Everything measured for one runtime in one case. */
struct impl_stats {
	struct bench_value wall;      /* ms */
	struct bench_value inner;     /* ms, spawn to end of gather (corio only) */
	struct bench_value peak;      /* KiB */
	struct bench_value per_task;  /* KiB */
	struct bench_value empty;     /* KiB, peak RSS of a run without tasks */
	int                status;    /* sticky: one failed run fails the figure */
	char               note[BENCH_NOTE_LEN];
};

static void impl_fail(struct impl_stats *s, int status, const char *note)
{
	if (s->status != BENCH_OK)
		return;
	s->status = status;
	snprintf(s->note, sizeof(s->note), "%s", note);
}

/* ------------------------------------------------------------------------
 * One run of each runtime
 * ------------------------------------------------------------------------ */

static int fork_case(void *arg, void *out)
{
	const struct sleep_job *j = arg;
	struct sleep_result *res = out;

	memset(res, 0, sizeof(*res));
	return j->impl == SLEEP_CORIO ? sleep_corio(j, res) : sleep_uv(j, res);
}

/* Runs one case of corio or libuv in a child. 0 with *wall_ms and *rss_kib
 * set, or -1 with the reason in note. */
static int run_native(int impl, size_t n, unsigned ms, double *wall_ms, long *rss_kib,
		      double *inner_ms, char *note, size_t cap)
{
	struct sleep_job j = { .impl = impl == I_CORIO ? SLEEP_CORIO : SLEEP_UV, .n = n, .ms = ms };
	struct sleep_result res;
	struct bench_proc p;

	if (bench_fork(fork_case, &j, &res, sizeof(res), 60 + 4.0 * ms / 1000, &p) < 0) {
		snprintf(note, cap, "%s", p.note);
		return p.status == BENCH_TIMED_OUT ? -ETIMEDOUT : -1;
	}
	if (res.err < 0 || p.status != BENCH_OK) {
		snprintf(note, cap, "%s", res.note[0] ? res.note : p.note);
		return -1;
	}
	*wall_ms = res.wall_ms;
	*inner_ms = res.inner_ms;
	*rss_kib = p.maxrss_kib;
	return 0;
}

/* Finds python3 and the script, or says why the baseline is unavailable. */
static bool python_ready(const struct bench_opts *o, char *py, size_t pycap, char *script,
			 size_t scap, char *note, size_t ncap)
{
	struct stat sb;

	if (!bench_which("python3", py, pycap)) {
		snprintf(note, ncap, "python3 not found in PATH");
		return false;
	}
	snprintf(script, scap, "%s/sleep_asyncio.py", o->python_dir);
	if (stat(script, &sb) < 0) {
		snprintf(note, ncap, "%.90s: %.40s (see --python-dir)", script, strerror(errno));
		return false;
	}
	return true;
}

static int run_python(const struct bench_opts *o, const char *py, const char *script, size_t n,
		      unsigned ms, double *wall_ms, long *rss_kib, char *note, size_t cap)
{
	char sn[32], sms[32], out[512];
	char *argv[] = { (char *)py, (char *)script, sn, sms, NULL };
	struct bench_proc p;
	const char *w, *m;

	snprintf(sn, sizeof(sn), "%zu", n);
	snprintf(sms, sizeof(sms), "%u", ms);
	if (bench_exec(argv, out, sizeof(out), o->py_timeout, &p) < 0) {
		snprintf(note, cap, "%s", p.note);
		return p.status == BENCH_TIMED_OUT ? -ETIMEDOUT : -1;
	}
	/* The script prints one line: "wall_ms=<float> maxrss_kib=<int>". */
	w = strstr(out, "wall_ms=");
	m = strstr(out, "maxrss_kib=");
	if (!w || !m) {
		snprintf(note, cap, "unexpected output from %s", script);
		return -1;
	}
	*wall_ms = strtod(w + 8, NULL);
	*rss_kib = strtol(m + 11, NULL, 10);
	return 0;
}

/* ------------------------------------------------------------------------
 * A case: reps of every runtime, interleaved
 * ------------------------------------------------------------------------ */

static void run_one(const struct bench_opts *o, const struct sleep_case *c, int impl,
		    struct impl_stats *s, const char *py, const char *script)
{
	double wall = 0, inner = 0, ewall, einner;
	long rss = 0, erss = 0;
	char note[BENCH_NOTE_LEN];
	int r;

	if (s->status != BENCH_OK)
		return;
	if (impl == I_PY) {
		r = run_python(o, py, script, c->n, c->ms, &wall, &rss, note, sizeof(note));
		if (r == 0)
			r = run_python(o, py, script, 0, c->ms, &ewall, &erss, note, sizeof(note));
	} else {
		r = run_native(impl, c->n, c->ms, &wall, &rss, &inner, note, sizeof(note));
		if (r == 0)
			r = run_native(impl, 0, c->ms, &ewall, &erss, &einner, note, sizeof(note));
	}
	if (r < 0) {
		impl_fail(s, r == -ETIMEDOUT ? BENCH_TIMED_OUT : BENCH_FAILED, note);
		return;
	}
	bench_value_add(&s->wall, wall);
	bench_value_add(&s->peak, (double)rss);
	bench_value_add(&s->per_task, (double)(rss - erss) / (double)c->n);
	bench_value_add(&s->empty, (double)erss);
	if (impl == I_CORIO)
		bench_value_add(&s->inner, inner);
}

static struct bench_value kib_to_mib(const struct bench_value *kib)
{
	struct bench_value v = *kib;

	for (int i = 0; i < v.n; i++)
		v.samples[i] /= 1024;
	v.median /= 1024;
	return v;
}

static void add_rows(const struct sleep_case *c, struct impl_stats *s)
{
	for (int b = I_UV; b < I_COUNT; b++) {
		struct bench_row r;
		char name[48];

		snprintf(name, sizeof(name), "sleep.%s.wall.%s", c->tag, b == I_UV ? "libuv" : "asyncio");
		bench_row_init(&r, "sleep", name, "ms", impl_names[b]);
		bench_row_target(&r, BENCH_TARGET_ABS_MAX, c->wall_target_ms);
		r.corio = s[I_CORIO].wall;
		r.base = s[b].wall;
		bench_row_extra(&r, "tasks", (double)c->n);
		bench_row_extra(&r, "sleep_ms", c->ms);
		if (s[I_CORIO].inner.status == BENCH_OK)
			bench_row_extra(&r, "corio_spawn_to_gathered_ms", s[I_CORIO].inner.median);
		if (s[I_CORIO].peak.status == BENCH_OK)
			bench_row_extra(&r, "corio_peak_rss_kib", s[I_CORIO].peak.median);
		if (s[b].peak.status == BENCH_OK)
			bench_row_extra(&r, "baseline_peak_rss_kib", s[b].peak.median);
		bench_report_add(&r);

		snprintf(name, sizeof(name), "sleep.%s.%s.%s", c->tag,
			 c->per_task_row ? "rss_per_task" : "peak_rss", b == I_UV ? "libuv" : "asyncio");
		if (c->per_task_row) {
			bench_row_init(&r, "sleep", name, "KiB/task", impl_names[b]);
			bench_row_target(&r, BENCH_TARGET_ABS_MAX, 4.5);
			r.corio = s[I_CORIO].per_task;
			r.base = s[b].per_task;
		} else {
			bench_row_init(&r, "sleep", name, "MiB", impl_names[b]);
			r.corio = kib_to_mib(&s[I_CORIO].peak);
			r.base = kib_to_mib(&s[b].peak);
		}
		bench_row_extra(&r, "tasks", (double)c->n);
		if (s[I_CORIO].per_task.status == BENCH_OK && !c->per_task_row)
			bench_row_extra(&r, "corio_rss_per_task_kib", s[I_CORIO].per_task.median);
		if (s[b].per_task.status == BENCH_OK && !c->per_task_row)
			bench_row_extra(&r, "baseline_rss_per_task_kib", s[b].per_task.median);
		if (s[I_CORIO].peak.status == BENCH_OK && c->per_task_row)
			bench_row_extra(&r, "corio_peak_rss_kib", s[I_CORIO].peak.median);
		if (s[b].peak.status == BENCH_OK && c->per_task_row)
			bench_row_extra(&r, "baseline_peak_rss_kib", s[b].peak.median);
		if (s[I_CORIO].empty.status == BENCH_OK)
			bench_row_extra(&r, "corio_empty_rss_kib", s[I_CORIO].empty.median);
		if (s[b].empty.status == BENCH_OK)
			bench_row_extra(&r, "baseline_empty_rss_kib", s[b].empty.median);
		bench_report_add(&r);
	}
}

static void run_case(const struct bench_opts *o, const struct sleep_case *c)
{
	struct impl_stats s[I_COUNT];
	char py[4096], script[4096], note[BENCH_NOTE_LEN];
	bool with_py;

	memset(s, 0, sizeof(s));
	with_py = python_ready(o, py, sizeof(py), script, sizeof(script), note, sizeof(note));
	if (!with_py)
		impl_fail(&s[I_PY], BENCH_UNAVAILABLE, note);
	else if (o->quick && !c->py_quick)
		impl_fail(&s[I_PY], BENCH_SKIPPED, "--quick leaves out asyncio for this case");
	for (int rep = 0; rep < o->reps; rep++) {
		fprintf(stderr, "sleep: %zu tasks x %u ms, rep %d/%d ...\n", c->n, c->ms, rep + 1,
			o->reps);
		/* Rotate the order so no runtime always runs first (cold page
		 * cache, CPU frequency) or last. */
		for (int k = 0; k < I_COUNT; k++) {
			int impl = (rep + k) % I_COUNT;
			if (impl == I_PY && rep >= c->py_reps)
				continue;
			run_one(o, c, impl, &s[impl], py, script);
		}
	}
	for (int i = 0; i < I_COUNT; i++) {
		if (s[i].status == BENCH_OK)
			continue;
		bench_value_fail(&s[i].wall, s[i].status, "%s", s[i].note);
		bench_value_fail(&s[i].inner, s[i].status, "%s", s[i].note);
		bench_value_fail(&s[i].peak, s[i].status, "%s", s[i].note);
		bench_value_fail(&s[i].per_task, s[i].status, "%s", s[i].note);
		bench_value_fail(&s[i].empty, s[i].status, "%s", s[i].note);
	}
	add_rows(c, s);
}

int bench_sleep(const struct bench_opts *o)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(o, &cases[i]);
	return 0;
}
