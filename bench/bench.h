/*
 * bench.h - what the benchmark families, the report and corio-bench share.
 *
 * A family (switch, spawn, sleep, ...) measures corio and, in the same run,
 * the baseline a user would otherwise pick, then adds one row per figure to
 * the report. Every row holds both figures as medians of repeated samples,
 * so the ratio between them is what counts on a noisy machine.
 *
 * The ratio is always corio / baseline. Every row states whether lower or
 * higher is better; for times and memory (all rows so far) lower is better,
 * so a ratio below 1 means corio wins.
 *
 * Measurements that need a corio loop, or whose memory is measured, run in
 * a forked child (child.c): the parent never makes a loop, so every child
 * starts from the same small, clean process, and its peak RSS comes from
 * wait4.
 */
#ifndef CORIO_BENCH_H
#define CORIO_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define BENCH_MAX_SAMPLES 32
#define BENCH_MAX_EXTRAS  16
#define BENCH_NOTE_LEN    160

/* Options shared by every family; corio-bench fills them from its CLI. */
struct bench_opts {
	double      seconds;    /* timed-loop budget per row, in seconds */
	int         reps;       /* samples per figure; the median is reported */
	bool        quick;      /* skip the slowest baselines */
	const char *python_dir; /* the directory holding sleep_asyncio.py */
	double      py_timeout; /* seconds before a Python baseline is killed */
};

/* ------------------------------------------------------------------------
 * Figures and rows (report.c)
 * ------------------------------------------------------------------------ */

enum bench_status {
	BENCH_OK = 0,
	BENCH_UNAVAILABLE,      /* the tool or library is missing here */
	BENCH_SKIPPED,          /* left out on purpose (--quick) */
	BENCH_TIMED_OUT,
	BENCH_FAILED,
};

/* One measured figure: its samples and their median. A figure that could
 * not be measured has a status other than BENCH_OK and says why in note. */
struct bench_value {
	int    status;          /* enum bench_status */
	int    n;               /* samples taken */
	double median;
	double samples[BENCH_MAX_SAMPLES];
	char   note[BENCH_NOTE_LEN];
};

enum bench_target {
	BENCH_TARGET_NONE = 0,
	BENCH_TARGET_RATIO_MAX, /* corio / baseline must not exceed target */
	BENCH_TARGET_ABS_MAX,   /* the corio figure must not exceed target */
};

struct bench_extra {
	char   key[32];
	double value;
};

struct bench_row {
	char               name[48];
	char               family[16];
	char               unit[16];
	char               baseline_name[40];
	bool               higher_is_better;
	struct bench_value corio;
	struct bench_value base;
	int                target_kind; /* enum bench_target */
	double             target;
	int                nextra;
	struct bench_extra extra[BENCH_MAX_EXTRAS];
};

/* Starts a row with no figures yet; the caller fills corio and base. */
void bench_row_init(struct bench_row *r, const char *family, const char *name, const char *unit,
		    const char *baseline_name);
void bench_row_target(struct bench_row *r, int kind, double target);
/* Adds a named number to the row's JSON object (peak RSS, bytes per op). */
void bench_row_extra(struct bench_row *r, const char *key, double value);
/* Adds v's median as an extra, when v was measured. */
void bench_row_extra_median(struct bench_row *r, const char *key, const struct bench_value *v);
/* Copies the row into the report. */
void bench_report_add(const struct bench_row *r);
/* Adds a paragraph to the legend below the table (and in the Markdown
 * file), once: a family explains what its row names mean. */
void bench_report_legend(const char *text);
void bench_report_print(FILE *f);
/* Writes the rows as a JSON array; path "-" is stdout. 0 or -errno. */
int  bench_report_json(const char *path);
/* Writes the table as a Markdown document: a header naming the machine and
 * the command line `cmdline`, the legend, the table and its notes. 0 or
 * -errno. */
int  bench_report_markdown(const char *path, const char *cmdline);
/* Rows whose corio figure failed or timed out (a baseline that could not
 * run is no failure of corio's). */
size_t bench_report_corio_failures(void);

/* Marks a figure as not measured, with the reason (printf format). */
void bench_value_fail(struct bench_value *v, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Appends a sample and recomputes the median. */
void bench_value_add(struct bench_value *v, double sample);
const char *bench_status_name(int status);

/* ------------------------------------------------------------------------
 * Timing (measure.c)
 * ------------------------------------------------------------------------ */

uint64_t bench_now_ns(void);
/* Minor page faults the calling process has taken so far. */
long     bench_minflt(void);
double   bench_median(const double *v, int n);
/* CPU time (user + system, every thread) the calling process used, in µs. */
double   bench_cpu_us(void);

/*
 * One thing being timed. run() performs `iters` iterations, each worth
 * ops_per_iter operations, stores the time they took in *elapsed_ns and
 * returns 0, or returns -errno; a failed contender is reported by name and
 * error and not sampled again.
 */
struct bench_contender {
	const char *name;
	int       (*run)(void *ctx, uint64_t iters, uint64_t *elapsed_ns);
	void       *ctx;
	double      ops_per_iter;
	struct bench_value out;   /* ns per operation, one sample per rep */
};

/*
 * Times n contenders interleaved: each is calibrated first (which also warms
 * it up), then every rep takes one sample of each, rotating which goes
 * first, so slow drifts of the machine hit them all alike. budget_s is the
 * total timed time spent in the sampled reps, shared evenly.
 */
void bench_interleave(struct bench_contender *c, int n, double budget_s, int reps);

/* ------------------------------------------------------------------------
 * Child processes (child.c)
 * ------------------------------------------------------------------------ */

struct bench_proc {
	int    status;      /* BENCH_OK, BENCH_TIMED_OUT or BENCH_FAILED */
	long   maxrss_kib;  /* the child's peak RSS, from wait4 */
	double wall_ms;     /* as seen by the parent, fork/spawn to exit */
	char   note[BENCH_NOTE_LEN];
};

/*
 * Runs fn(arg, out) in a forked child and copies the child's `size` bytes
 * of out back through a pipe; fn reports its own failures inside out, and
 * its child exits with status 1 when fn returns < 0. A child still running
 * after timeout_s is killed. Returns 0 when all of out arrived, else -1
 * (the child crashed or timed out: p says which).
 */
int bench_fork(int (*fn)(void *arg, void *out), void *arg, void *out, size_t size, double timeout_s,
	       struct bench_proc *p);
/*
 * After bench_fork(...) returned got, for a child whose sample carries its
 * own err and note: BENCH_OK when the sample is good, else the status to
 * fail the contender with, and *why its reason (the sample's note when the
 * sample came back, else the fork's).
 */
int bench_fork_failed(int got, int err, const char *note, const struct bench_proc *p,
		      const char **why);

/* Runs argv[0] (looked up in PATH) with stdout captured into out (NUL
 * terminated), in its own process group, killed with it after timeout_s. */
int bench_exec(char *const argv[], char *out, size_t cap, double timeout_s, struct bench_proc *p);

/* The full path of the program `name` next to this one (build/bin/), or
 * false if it is not there. */
bool bench_sibling(const char *name, char *path, size_t cap);

/* The full path of an executable found in PATH, or false. */
bool bench_which(const char *name, char *path, size_t cap);

/* ------------------------------------------------------------------------
 * Plots (plot.c), drawn into the Markdown file
 * ------------------------------------------------------------------------ */

enum {
	PLOT_LOGX         = 1u << 0,
	PLOT_LOGY         = 1u << 1,
	PLOT_PERCENTILE_X = 1u << 2, /* x is a percentile, drawn on a "nines" axis */
};

/* Declares a chart (again: updates its labels). id names its SVG file. */
void bench_plot_chart(const char *id, const char *title, const char *xlabel, const char *ylabel,
		      unsigned flags);
/* Adds point (x, y) to the line `series` of chart id. */
void bench_plot_point(const char *id, const char *series, double x, double y);
/* A paragraph under the Plots heading (how the points were measured). */
void bench_plot_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Writes the Plots section: each chart drawn by gnuplot as SVG into bench/
 * beside md_path and referenced from it, then its numbers as a table. When
 * gnuplot is missing or fails, the section says so and keeps the tables.
 * Nothing when no chart has points. */
void bench_plot_markdown(FILE *md, const char *md_path);

/* ------------------------------------------------------------------------
 * Families
 * ------------------------------------------------------------------------ */

int bench_switch(const struct bench_opts *o);
int bench_spawn(const struct bench_opts *o);
int bench_sleep(const struct bench_opts *o);
int bench_echo(const struct bench_opts *o);
int bench_http(const struct bench_opts *o);
int bench_file(const struct bench_opts *o);
int bench_thread(const struct bench_opts *o);
int bench_loops(const struct bench_opts *o);
int bench_process(const struct bench_opts *o);

#endif /* CORIO_BENCH_H */
