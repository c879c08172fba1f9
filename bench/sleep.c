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
 *
 * That run is cold: every task's stack (every uv_timer_t) is fresh memory,
 * and on a VM the first touch of a page costs a microsecond or two, more
 * than the rest of a spawn. A long-running server mostly reuses what
 * earlier tasks freed, so a third child per rep runs the case twice in one
 * loop (corio and libuv; asyncio is too slow to repeat) and the second
 * round alone, first spawn to the gather's return, is the warm row
 * (sleep.<case>.wall.warm.libuv). The cold rows keep their meaning: the
 * one-round run above.
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

/* Everything measured for one runtime in one case. The one-round (cold)
 * figures come from every runtime, the rest from corio and libuv only. */
struct impl_stats {
	struct bench_value wall;      /* ms, the whole one-round run */
	struct bench_value peak;      /* KiB */
	struct bench_value per_task;  /* KiB */
	struct bench_value empty;     /* KiB, peak RSS of a run without tasks */
	struct bench_value setup;     /* ms, one-round run: loop start to first spawn */
	struct bench_value inner;     /* ms, one-round run: first spawn to end of gather */
	struct bench_value burst;     /* ms, one-round run: first spawn to last */
	struct bench_value teardown;  /* ms, one-round run: end of gather to loop gone */
	int                status;    /* sticky: one failed run fails the figure */
	char               note[BENCH_NOTE_LEN];

	/* The two-round run; failing it costs only the warm figures. */
	struct bench_value warm;      /* ms, round 2: first spawn to end of gather */
	struct bench_value warm_r1;   /* ms, round 1 of the same run */
	struct bench_value warm_burst;/* ms, round 2: first spawn to last */
	struct bench_value flt_r1;    /* minor faults per task, round 1 */
	struct bench_value flt_r2;    /* minor faults per task, round 2 */
	struct bench_value warm_peak; /* KiB, peak RSS of the two-round run */
	int                warm_status;
	char               warm_note[BENCH_NOTE_LEN];
};

static void impl_fail(struct impl_stats *s, int status, const char *note)
{
	if (s->status != BENCH_OK)
		return;
	s->status = status;
	snprintf(s->note, sizeof(s->note), "%s", note);
}

static void impl_warm_fail(struct impl_stats *s, int status, const char *note)
{
	if (s->warm_status != BENCH_OK)
		return;
	s->warm_status = status;
	snprintf(s->warm_note, sizeof(s->warm_note), "%s", note);
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

/* Runs one case of corio or libuv, `rounds` times in one loop, in a child.
 * 0 with *res and *rss_kib set, or -1 with the reason in note. */
static int run_native(int impl, size_t n, unsigned ms, int rounds, struct sleep_result *res,
		      long *rss_kib, char *note, size_t cap)
{
	struct sleep_job j = { .impl = impl == I_CORIO ? SLEEP_CORIO : SLEEP_UV, .n = n, .ms = ms,
			       .rounds = rounds };
	struct bench_proc p;

	if (bench_fork(fork_case, &j, res, sizeof(*res), 60 + 4.0 * rounds * ms / 1000, &p) < 0) {
		snprintf(note, cap, "%s", p.note);
		return p.status == BENCH_TIMED_OUT ? -ETIMEDOUT : -1;
	}
	if (res->err < 0 || p.status != BENCH_OK) {
		snprintf(note, cap, "%s", res->note[0] ? res->note : p.note);
		return -1;
	}
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

/* The two-round run of corio or libuv: round 2 is the warm figure. */
static void run_warm(const struct sleep_case *c, int impl, struct impl_stats *s)
{
	struct sleep_result res;
	char note[BENCH_NOTE_LEN];
	long rss = 0;
	int r;

	if (s->warm_status != BENCH_OK)
		return;
	r = run_native(impl, c->n, c->ms, 2, &res, &rss, note, sizeof(note));
	if (r < 0) {
		impl_warm_fail(s, r == -ETIMEDOUT ? BENCH_TIMED_OUT : BENCH_FAILED, note);
		return;
	}
	bench_value_add(&s->warm, res.round[1].ms);
	bench_value_add(&s->warm_r1, res.round[0].ms);
	bench_value_add(&s->warm_burst, res.round[1].spawn_ms);
	bench_value_add(&s->flt_r1, (double)res.round[0].minflt / (double)c->n);
	bench_value_add(&s->flt_r2, (double)res.round[1].minflt / (double)c->n);
	bench_value_add(&s->warm_peak, (double)rss);
}

static void run_one(const struct bench_opts *o, const struct sleep_case *c, int impl,
		    struct impl_stats *s, const char *py, const char *script)
{
	struct sleep_result res, eres;
	double wall = 0, ewall;
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
		r = run_native(impl, c->n, c->ms, 1, &res, &rss, note, sizeof(note));
		if (r == 0)
			wall = res.wall_ms;
		if (r == 0)
			r = run_native(impl, 0, c->ms, 1, &eres, &erss, note, sizeof(note));
	}
	if (r < 0) {
		impl_fail(s, r == -ETIMEDOUT ? BENCH_TIMED_OUT : BENCH_FAILED, note);
		return;
	}
	bench_value_add(&s->wall, wall);
	bench_value_add(&s->peak, (double)rss);
	bench_value_add(&s->per_task, (double)(rss - erss) / (double)c->n);
	bench_value_add(&s->empty, (double)erss);
	if (impl == I_PY)
		return;
	bench_value_add(&s->setup, res.setup_ms);
	bench_value_add(&s->inner, res.round[0].ms);
	bench_value_add(&s->burst, res.round[0].spawn_ms);
	bench_value_add(&s->teardown, res.teardown_ms);
	run_warm(c, impl, s);
}

static struct bench_value kib_to_mib(const struct bench_value *kib)
{
	struct bench_value v = *kib;

	for (int i = 0; i < v.n; i++)
		v.samples[i] /= 1024;
	v.median /= 1024;
	return v;
}

/* sleep.<case>.wall.warm.libuv: round 2 of the two-round runs. */
static void add_warm_row(const struct sleep_case *c, struct impl_stats *s)
{
	struct bench_row r;
	char name[48];

	snprintf(name, sizeof(name), "sleep.%s.wall.warm.libuv", c->tag);
	bench_row_init(&r, "sleep", name, "ms", impl_names[I_UV]);
	r.corio = s[I_CORIO].warm;
	r.base = s[I_UV].warm;
	bench_row_extra(&r, "tasks", (double)c->n);
	bench_row_extra(&r, "sleep_ms", c->ms);
	bench_row_extra(&r, "round", 2);
	bench_row_extra(&r, "rounds_in_process", 2);
	bench_row_extra_median(&r, "corio_round1_ms", &s[I_CORIO].warm_r1);
	bench_row_extra_median(&r, "baseline_round1_ms", &s[I_UV].warm_r1);
	bench_row_extra_median(&r, "corio_round2_spawn_burst_ms", &s[I_CORIO].warm_burst);
	bench_row_extra_median(&r, "baseline_round2_spawn_burst_ms", &s[I_UV].warm_burst);
	bench_row_extra_median(&r, "corio_round1_minflt_per_task", &s[I_CORIO].flt_r1);
	bench_row_extra_median(&r, "corio_round2_minflt_per_task", &s[I_CORIO].flt_r2);
	bench_row_extra_median(&r, "baseline_round1_minflt_per_task", &s[I_UV].flt_r1);
	bench_row_extra_median(&r, "baseline_round2_minflt_per_task", &s[I_UV].flt_r2);
	bench_row_extra_median(&r, "corio_peak_rss_kib", &s[I_CORIO].warm_peak);
	bench_row_extra_median(&r, "baseline_peak_rss_kib", &s[I_UV].warm_peak);
	bench_report_add(&r);
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
		bench_row_extra(&r, "round", 1);
		bench_row_extra(&r, "rounds_in_process", 1);
		/* The wall time in parts: setup + spawn to gathered + teardown. */
		bench_row_extra_median(&r, "corio_setup_ms", &s[I_CORIO].setup);
		bench_row_extra_median(&r, "corio_spawn_to_gathered_ms", &s[I_CORIO].inner);
		bench_row_extra_median(&r, "corio_spawn_burst_ms", &s[I_CORIO].burst);
		bench_row_extra_median(&r, "corio_teardown_ms", &s[I_CORIO].teardown);
		if (b == I_UV) {
			bench_row_extra_median(&r, "baseline_spawn_to_gathered_ms", &s[b].inner);
			bench_row_extra_median(&r, "baseline_teardown_ms", &s[b].teardown);
		}
		bench_row_extra_median(&r, "corio_peak_rss_kib", &s[I_CORIO].peak);
		bench_row_extra_median(&r, "baseline_peak_rss_kib", &s[b].peak);
		bench_report_add(&r);
		if (b == I_UV)
			add_warm_row(c, s);

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
		bench_row_extra(&r, "round", 1);
		bench_row_extra(&r, "rounds_in_process", 1);
		if (!c->per_task_row) {
			bench_row_extra_median(&r, "corio_rss_per_task_kib", &s[I_CORIO].per_task);
			bench_row_extra_median(&r, "baseline_rss_per_task_kib", &s[b].per_task);
		} else {
			bench_row_extra_median(&r, "corio_peak_rss_kib", &s[I_CORIO].peak);
			bench_row_extra_median(&r, "baseline_peak_rss_kib", &s[b].peak);
		}
		bench_row_extra_median(&r, "corio_empty_rss_kib", &s[I_CORIO].empty);
		bench_row_extra_median(&r, "baseline_empty_rss_kib", &s[b].empty);
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
		struct bench_value *cold[] = { &s[i].wall, &s[i].peak, &s[i].per_task, &s[i].empty,
					       &s[i].setup, &s[i].inner, &s[i].burst, &s[i].teardown };
		struct bench_value *warm[] = { &s[i].warm, &s[i].warm_r1, &s[i].warm_burst,
					       &s[i].flt_r1, &s[i].flt_r2, &s[i].warm_peak };

		/* A failed one-round run leaves no two-round run behind it. */
		if (s[i].status != BENCH_OK)
			impl_warm_fail(&s[i], s[i].status, s[i].note);
		for (size_t k = 0; k < sizeof(cold) / sizeof(cold[0]) && s[i].status; k++)
			bench_value_fail(cold[k], s[i].status, "%s", s[i].note);
		for (size_t k = 0; k < sizeof(warm) / sizeof(warm[0]) && s[i].warm_status; k++)
			bench_value_fail(warm[k], s[i].warm_status, "%s", s[i].warm_note);
	}
	add_rows(c, s);
}

int bench_sleep(const struct bench_opts *o)
{
	bench_report_legend(
		"sleep rows: cold rows (every sleep row not marked warm) measure one run in a fresh "
		"process, wall time from loop setup to teardown, so every task stack (every libuv timer "
		"handle) is touched for the first time. Warm rows (sleep.*.wall.warm.libuv) run the case "
		"twice in one loop and time the second round alone, first spawn to the gather's return, "
		"on the stacks (timer handles) the first round left pooled, as a long-running server "
		"would; they have no target.");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(o, &cases[i]);
	return 0;
}
