/*
 * plot.c - the charts of docs/benchmarks.md: points gathered by the
 * families during the run, drawn as SVG by gnuplot when the Markdown file
 * is written, each chart followed by its numbers as a table.
 *
 * A chart has up to PLOT_MAX_SERIES named lines (corio, a baseline, ...)
 * of up to PLOT_MAX_POINTS points. Two kinds are drawn:
 *   - plain x/y, optionally on log axes (throughput vs connections);
 *   - percentile curves (PLOT_PERCENTILE_X): x is a percentile, drawn on
 *     HdrHistogram's "nines" axis (1 / (1 - p)), so p50, p90, p99, p99.9
 *     and p99.99 are evenly spaced.
 * Without gnuplot the tables are still written, and the document says the
 * charts were not drawn and why.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"

#define PLOT_MAX_CHARTS 8
#define PLOT_MAX_SERIES 6
#define PLOT_MAX_POINTS 16

struct plot_series {
	char   name[40];
	int    n;
	double x[PLOT_MAX_POINTS], y[PLOT_MAX_POINTS];
};

struct plot_chart {
	char               id[32];
	char               title[120];
	char               xlabel[64];
	char               ylabel[64];
	unsigned           flags;
	int                nseries;
	struct plot_series s[PLOT_MAX_SERIES];
};

static struct plot_chart charts[PLOT_MAX_CHARTS];
static int ncharts;
static char notes[4][600];
static int nnotes;

void bench_plot_note(const char *fmt, ...)
{
	char text[sizeof(notes[0])];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	for (int i = 0; i < nnotes; i++)
		if (strcmp(notes[i], text) == 0)
			return; /* once, whichever family says it */
	if (nnotes == (int)(sizeof(notes) / sizeof(notes[0])))
		return;
	memcpy(notes[nnotes++], text, sizeof(text));
}

static struct plot_chart *find_chart(const char *id)
{
	for (int i = 0; i < ncharts; i++)
		if (strcmp(charts[i].id, id) == 0)
			return &charts[i];
	return NULL;
}

void bench_plot_chart(const char *id, const char *title, const char *xlabel, const char *ylabel,
		      unsigned flags)
{
	struct plot_chart *c = find_chart(id);

	if (!c) {
		if (ncharts == PLOT_MAX_CHARTS)
			return;
		c = &charts[ncharts++];
		memset(c, 0, sizeof(*c));
		snprintf(c->id, sizeof(c->id), "%s", id);
	}
	snprintf(c->title, sizeof(c->title), "%s", title);
	snprintf(c->xlabel, sizeof(c->xlabel), "%s", xlabel);
	snprintf(c->ylabel, sizeof(c->ylabel), "%s", ylabel);
	c->flags = flags;
}

void bench_plot_point(const char *id, const char *series, double x, double y)
{
	struct plot_chart *c = find_chart(id);
	struct plot_series *s = NULL;

	if (!c || !isfinite(x) || !isfinite(y))
		return;
	for (int i = 0; i < c->nseries; i++)
		if (strcmp(c->s[i].name, series) == 0)
			s = &c->s[i];
	if (!s) {
		if (c->nseries == PLOT_MAX_SERIES)
			return;
		s = &c->s[c->nseries++];
		snprintf(s->name, sizeof(s->name), "%s", series);
	}
	/* A point at an x already there replaces it. */
	for (int i = 0; i < s->n; i++)
		if (s->x[i] == x) {
			s->y[i] = y;
			return;
		}
	if (s->n == PLOT_MAX_POINTS)
		return;
	/* Kept sorted by x, so lines are drawn left to right. */
	int i = s->n++;
	while (i > 0 && s->x[i - 1] > x) {
		s->x[i] = s->x[i - 1];
		s->y[i] = s->y[i - 1];
		i--;
	}
	s->x[i] = x;
	s->y[i] = y;
}

static bool chart_empty(const struct plot_chart *c)
{
	for (int i = 0; i < c->nseries; i++)
		if (c->s[i].n)
			return false;
	return true;
}

/* Every x of the chart, sorted, without repeats; their number. */
static int chart_xs(const struct plot_chart *c, double *xs)
{
	int n = 0;

	for (int i = 0; i < c->nseries; i++)
		for (int k = 0; k < c->s[i].n; k++) {
			double x = c->s[i].x[k];
			int j = 0;
			while (j < n && xs[j] < x)
				j++;
			if (j < n && xs[j] == x)
				continue;
			if (n == PLOT_MAX_SERIES * PLOT_MAX_POINTS)
				continue;
			memmove(xs + j + 1, xs + j, (size_t)(n - j) * sizeof(*xs));
			xs[j] = x;
			n++;
		}
	return n;
}

static double nines(double pct)
{
	return 1.0 / (1.0 - pct / 100.0);
}

/* A percentile as a short label: 50%, 99.9%. */
static void pct_label(char *buf, size_t cap, double p)
{
	snprintf(buf, cap, "%.4g%%", p);
}

/* Writes the gnuplot script drawing chart c into svg. */
static void write_script(FILE *f, const struct plot_chart *c, const char *svg)
{
	double xs[PLOT_MAX_SERIES * PLOT_MAX_POINTS];
	int nx = chart_xs(c, xs), first = 1;

	fprintf(f, "set terminal svg size 720,420 dynamic noenhanced font 'sans,12' "
		   "background rgb 'white'\n");
	fprintf(f, "set output '%s'\n", svg);
	fprintf(f, "set title '%s'\nset xlabel '%s'\nset ylabel '%s'\n", c->title, c->xlabel,
		c->ylabel);
	fprintf(f, "set grid\nset key top left\nset border 3\nset tics nomirror\n");
	if (c->flags & (PLOT_LOGX | PLOT_PERCENTILE_X)) {
		/* A little room on both sides of the points measured. */
		double lo = nx ? xs[0] : 1, hi = nx ? xs[nx - 1] : 10;
		if (c->flags & PLOT_PERCENTILE_X) {
			lo = nines(lo);
			hi = nines(hi);
		}
		fprintf(f, "set logscale x\nset xrange [%.17g:%.17g]\n", lo / 1.3, hi * 1.3);
	}
	if (c->flags & PLOT_LOGY)
		fprintf(f, "set logscale y\n");
	else
		fprintf(f, "set yrange [0:*]\n");
	/* A tic at every x measured. */
	fprintf(f, "set xtics (");
	for (int i = 0; i < nx; i++) {
		char lab[32];
		if (c->flags & PLOT_PERCENTILE_X) {
			/* Labels on the nines (50%, 90%, 99%, ...), a minor tic
			 * between; a tic label is a format for its position, so
			 * %% is a '%'. */
			double l = log10(nines(xs[i]));
			bool major = xs[i] == 50 || fabs(l - floor(l + 0.5)) < 1e-9;
			snprintf(lab, sizeof(lab), "%.4g%%%%", xs[i]);
			fprintf(f, "%s'%s' %.17g %d", first ? "" : ", ", major ? lab : "",
				nines(xs[i]), major ? 0 : 1);
		} else {
			fprintf(f, "%s'%g' %.17g", first ? "" : ", ", xs[i], xs[i]);
		}
		first = 0;
	}
	fprintf(f, ")\n");
	for (int i = 0; i < c->nseries; i++) {
		fprintf(f, "$d%d << EOD\n", i);
		for (int k = 0; k < c->s[i].n; k++)
			fprintf(f, "%.17g %.17g\n",
				c->flags & PLOT_PERCENTILE_X ? nines(c->s[i].x[k]) : c->s[i].x[k],
				c->s[i].y[k]);
		fprintf(f, "EOD\n");
	}
	fprintf(f, "plot ");
	first = 1;
	for (int i = 0; i < c->nseries; i++) {
		if (!c->s[i].n)
			continue;
		fprintf(f, "%s$d%d using 1:2 with linespoints lw 2 pt 7 ps 0.8 title '%s'",
			first ? "" : ", \\\n     ", i, c->s[i].name);
		first = 0;
	}
	fprintf(f, "\n");
}

/* Draws chart c as svg with gnuplot at `gnuplot`. 0, or -1 with why. */
static int draw(const char *gnuplot, const struct plot_chart *c, const char *svg, char *why,
		size_t whycap)
{
	char script[] = "/tmp/corio-bench-plot.XXXXXX";
	char out[1024];
	char *argv[3];
	struct bench_proc p;
	struct stat sb;
	int fd = mkstemp(script), r;
	FILE *f;

	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		snprintf(why, whycap, "cannot write a gnuplot script: %s", strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(script);
		}
		return -1;
	}
	write_script(f, c, svg);
	fclose(f);
	unlink(svg);
	argv[0] = (char *)gnuplot;
	argv[1] = script;
	argv[2] = NULL;
	r = bench_exec(argv, out, sizeof(out), 30, &p);
	unlink(script);
	if (r < 0 || stat(svg, &sb) < 0 || sb.st_size == 0) {
		snprintf(why, whycap, "gnuplot failed (%.100s)", r < 0 ? p.note : "no SVG written");
		return -1;
	}
	return 0;
}

/* The chart's numbers as a Markdown table: a row per x, a column per series. */
static void write_table(FILE *md, const struct plot_chart *c)
{
	double xs[PLOT_MAX_SERIES * PLOT_MAX_POINTS];
	int nx = chart_xs(c, xs);

	fprintf(md, "| %s |", c->xlabel);
	for (int i = 0; i < c->nseries; i++)
		fprintf(md, " %s |", c->s[i].name);
	fprintf(md, "\n|---|");
	for (int i = 0; i < c->nseries; i++)
		fprintf(md, "--:|");
	fprintf(md, "\n");
	for (int k = 0; k < nx; k++) {
		char lab[32];
		if (c->flags & PLOT_PERCENTILE_X)
			pct_label(lab, sizeof(lab), xs[k]);
		else
			snprintf(lab, sizeof(lab), "%g", xs[k]);
		fprintf(md, "| %s |", lab);
		for (int i = 0; i < c->nseries; i++) {
			const struct plot_series *s = &c->s[i];
			int j = 0;
			while (j < s->n && s->x[j] != xs[k])
				j++;
			if (j == s->n)
				fprintf(md, " - |");
			else if (s->y[j] >= 100)
				fprintf(md, " %.0f |", s->y[j]);
			else
				fprintf(md, " %.3g |", s->y[j]);
		}
		fprintf(md, "\n");
	}
	fprintf(md, "\n");
}

void bench_plot_markdown(FILE *md, const char *md_path)
{
	char dir[PATH_MAX], gnuplot[PATH_MAX], why[BENCH_NOTE_LEN] = "";
	const char *slash = strrchr(md_path, '/');
	bool have_gnuplot, any = false;

	for (int i = 0; i < ncharts; i++)
		any |= !chart_empty(&charts[i]);
	if (!any)
		return;
	/* SVGs go to bench/ beside the Markdown file, referenced relatively. */
	if (slash)
		snprintf(dir, sizeof(dir), "%.*s/bench", (int)(slash - md_path), md_path);
	else
		snprintf(dir, sizeof(dir), "bench");
	have_gnuplot = bench_which("gnuplot", gnuplot, sizeof(gnuplot));
	if (!have_gnuplot)
		snprintf(why, sizeof(why), "gnuplot is not installed (Debian package gnuplot-nox; "
			 "`make bench` installs it when run as root)");
	else if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		snprintf(why, sizeof(why), "cannot make %.60s: %.60s", dir, strerror(errno));

	fprintf(md, "\n## Plots\n\n");
	for (int i = 0; i < nnotes; i++)
		fprintf(md, "%s\n\n", notes[i]);
	if (why[0])
		fprintf(md, "Charts not drawn: %s. Their numbers follow.\n\n", why);
	for (int i = 0; i < ncharts; i++) {
		const struct plot_chart *c = &charts[i];
		char svg[PATH_MAX + 64], err[BENCH_NOTE_LEN];

		if (chart_empty(c))
			continue;
		fprintf(md, "### %s\n\n", c->title);
		if (!why[0]) {
			snprintf(svg, sizeof(svg), "%.3000s/%.31s.svg", dir, c->id);
			if (draw(gnuplot, c, svg, err, sizeof(err)) == 0)
				fprintf(md, "![%s](bench/%s.svg)\n\n", c->title, c->id);
			else
				fprintf(md, "Chart not drawn: %s.\n\n", err);
		}
		write_table(md, c);
	}
}
