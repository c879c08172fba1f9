/*
 * report.c - the rows of a run, printed as one table and written as JSON.
 *
 * Families add rows as they finish; nothing is printed until the end, so
 * the table is one block a reader can copy. A figure that could not be
 * measured shows its status in the table ("unavailable", "timed out") with
 * the reason as a note below, and is null in the JSON. The Markdown file
 * holds the same table, under a header saying where and how it was made.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define MAX_LEGENDS 16

static struct bench_row *rows;
static size_t nrows, caprows;
static const char *legends[MAX_LEGENDS];
static size_t nlegends;

static void copy_str(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

void bench_row_init(struct bench_row *r, const char *family, const char *name, const char *unit,
		    const char *baseline_name)
{
	memset(r, 0, sizeof(*r));
	copy_str(r->family, sizeof(r->family), family);
	copy_str(r->name, sizeof(r->name), name);
	copy_str(r->unit, sizeof(r->unit), unit);
	copy_str(r->baseline_name, sizeof(r->baseline_name), baseline_name);
	bench_value_fail(&r->corio, BENCH_FAILED, "not measured");
	bench_value_fail(&r->base, BENCH_FAILED, "not measured");
}

void bench_row_target(struct bench_row *r, int kind, double target)
{
	r->target_kind = kind;
	r->target = target;
}

void bench_row_extra(struct bench_row *r, const char *key, double value)
{
	if (r->nextra >= BENCH_MAX_EXTRAS)
		return;
	copy_str(r->extra[r->nextra].key, sizeof(r->extra[0].key), key);
	r->extra[r->nextra].value = value;
	r->nextra++;
}

void bench_row_extra_median(struct bench_row *r, const char *key, const struct bench_value *v)
{
	if (v->status == BENCH_OK)
		bench_row_extra(r, key, v->median);
}

void bench_report_add(const struct bench_row *r)
{
	if (nrows == caprows) {
		size_t cap = caprows ? 2 * caprows : 16;
		struct bench_row *n = realloc(rows, cap * sizeof(*n));
		if (!n) {
			fprintf(stderr, "corio-bench: out of memory, row %s dropped\n", r->name);
			return;
		}
		rows = n;
		caprows = cap;
	}
	rows[nrows++] = *r;
}

void bench_report_legend(const char *text)
{
	for (size_t i = 0; i < nlegends; i++)
		if (strcmp(legends[i], text) == 0)
			return;
	if (nlegends < MAX_LEGENDS)
		legends[nlegends++] = text;
}

void bench_value_fail(struct bench_value *v, int status, const char *fmt, ...)
{
	va_list ap;

	v->status = status;
	va_start(ap, fmt);
	vsnprintf(v->note, sizeof(v->note), fmt, ap);
	va_end(ap);
}

void bench_value_add(struct bench_value *v, double sample)
{
	if (v->n >= BENCH_MAX_SAMPLES)
		return;
	v->samples[v->n++] = sample;
	v->median = bench_median(v->samples, v->n);
	v->status = BENCH_OK;
	v->note[0] = '\0';
}

const char *bench_status_name(int status)
{
	switch (status) {
	case BENCH_OK:          return "ok";
	case BENCH_UNAVAILABLE: return "unavailable";
	case BENCH_SKIPPED:     return "skipped";
	case BENCH_TIMED_OUT:   return "timed out";
	default:                return "failed";
	}
}

/* ------------------------------------------------------------------------
 * Derived figures
 * ------------------------------------------------------------------------ */

static bool have_ratio(const struct bench_row *r)
{
	return r->corio.status == BENCH_OK && r->base.status == BENCH_OK && r->base.median > 0;
}

static double ratio(const struct bench_row *r)
{
	return r->corio.median / r->base.median;
}

/* 1 met, 0 missed, -1 cannot tell (no target, or a figure is missing). */
static int target_met(const struct bench_row *r)
{
	double v;

	switch (r->target_kind) {
	case BENCH_TARGET_RATIO_MAX:
		if (!have_ratio(r))
			return -1;
		v = ratio(r);
		break;
	case BENCH_TARGET_ABS_MAX:
		if (r->corio.status != BENCH_OK)
			return -1;
		v = r->corio.median;
		break;
	default:
		return -1;
	}
	return r->higher_is_better ? v >= r->target : v <= r->target;
}

static void target_text(const struct bench_row *r, char *buf, size_t cap, bool words)
{
	const char *op = r->higher_is_better ? ">=" : "<=";

	switch (r->target_kind) {
	case BENCH_TARGET_RATIO_MAX:
		snprintf(buf, cap, "%s %gx%s", op, r->target, words ? " baseline" : "");
		break;
	case BENCH_TARGET_ABS_MAX:
		snprintf(buf, cap, "%s %g%s%s", op, r->target, words ? " " : "", words ? r->unit : "");
		break;
	default:
		snprintf(buf, cap, "-");
	}
}

/* ------------------------------------------------------------------------
 * Table
 * ------------------------------------------------------------------------ */

/* Three significant digits or so, never in exponent notation. */
static void fmt_num(char *buf, size_t cap, double v)
{
	double a = fabs(v);

	if (a >= 100)
		snprintf(buf, cap, "%.0f", v);
	else if (a >= 10)
		snprintf(buf, cap, "%.1f", v);
	else if (a >= 0.01 || a == 0)
		snprintf(buf, cap, "%.2f", v);
	else
		snprintf(buf, cap, "%.2g", v); /* tiny ratios keep two digits */
}

static void fmt_value(char *buf, size_t cap, const struct bench_value *v)
{
	if (v->status == BENCH_OK)
		fmt_num(buf, cap, v->median);
	else
		snprintf(buf, cap, "%s", bench_status_name(v->status));
}

/* One row's cells as the table shows them. */
struct cells {
	char corio[24], base[24], ratio[24], unit[24], target[24];
	const char *met;
};

static void row_cells(const struct bench_row *r, struct cells *c)
{
	int met = target_met(r);

	fmt_value(c->corio, sizeof(c->corio), &r->corio);
	fmt_value(c->base, sizeof(c->base), &r->base);
	if (have_ratio(r)) {
		fmt_num(c->ratio, sizeof(c->ratio), ratio(r));
		strcat(c->ratio, "x");
	} else {
		snprintf(c->ratio, sizeof(c->ratio), "-");
	}
	target_text(r, c->target, sizeof(c->target), false);
	snprintf(c->unit, sizeof(c->unit), "%s%s", r->unit, r->higher_is_better ? " ^" : "");
	c->met = met < 0 ? "-" : met ? "yes" : "NO";
}

static const struct bench_value *figure(const struct bench_row *r, bool base)
{
	return base ? &r->base : &r->corio;
}

static bool same_note(const struct bench_row *a, const struct bench_row *b, bool base)
{
	const struct bench_value *x = figure(a, base), *y = figure(b, base);

	return y->status == x->status && strcmp(y->note, x->note) == 0 &&
	       (!base || strcmp(a->baseline_name, b->baseline_name) == 0);
}

/* Prints why row i's figure is missing, once for all rows that miss it
 * for the same reason (one unavailable tool would otherwise repeat its
 * note on every row it serves). Each note starts with `lead`. */
static void print_note(FILE *f, size_t i, bool base, const char *lead)
{
	const struct bench_row *r = &rows[i];
	const struct bench_value *v = figure(r, base);
	int same = 0;

	if (v->status == BENCH_OK)
		return;
	for (size_t k = 0; k < nrows; k++) {
		if (!same_note(r, &rows[k], base))
			continue;
		if (k < i)
			return;
		same++;
	}
	fprintf(f, "%s%s %s", lead, base ? r->baseline_name : "corio", bench_status_name(v->status));
	if (same > 1)
		fprintf(f, " (%s and %d more rows)", r->name, same - 1);
	else
		fprintf(f, " (%s)", r->name);
	fprintf(f, ": %s\n", v->note);
}

static int count_notes(int *nhigher)
{
	int n = 0;

	*nhigher = 0;
	for (size_t i = 0; i < nrows; i++) {
		n += (rows[i].corio.status != BENCH_OK) + (rows[i].base.status != BENCH_OK);
		*nhigher += rows[i].higher_is_better;
	}
	return n;
}

static const char *ratio_legend(int nhigher)
{
	if (nhigher)
		return "ratio = corio / baseline. Lower is better, except for rows whose unit is "
		       "marked ^: there higher is better. Either way the target column says which "
		       "way it must go.";
	return "ratio = corio / baseline; lower is better in every row: below 1 corio is ahead.";
}

/* Prints text wrapped at `width` columns. */
static void print_wrapped(FILE *f, const char *text, int width)
{
	int col = 0;

	while (*text) {
		int len = (int)strcspn(text, " ");

		if (col > 0 && col + 1 + len > width) {
			fputc('\n', f);
			col = 0;
		} else if (col > 0) {
			fputc(' ', f);
			col++;
		}
		fprintf(f, "%.*s", len, text);
		col += len;
		text += len;
		text += strspn(text, " ");
	}
	fputc('\n', f);
}

void bench_report_print(FILE *f)
{
	int wname = (int)strlen("benchmark"), wbase = (int)strlen("baseline name");
	int nhigher, nnotes = count_notes(&nhigher);

	for (size_t i = 0; i < nrows; i++) {
		int a = (int)strlen(rows[i].name), b = (int)strlen(rows[i].baseline_name);
		wname = a > wname ? a : wname;
		wbase = b > wbase ? b : wbase;
	}
	fprintf(f, "%-*s  %11s  %11s  %-*s  %10s  %-10s  %-9s  %s\n", wname, "benchmark", "corio",
		"baseline", wbase, "baseline name", "corio/base", "unit", "target", "met");
	for (size_t i = 0; i < nrows; i++) {
		const struct bench_row *r = &rows[i];
		struct cells c;

		row_cells(r, &c);
		fprintf(f, "%-*s  %11s  %11s  %-*s  %10s  %-10s  %-9s  %s\n", wname, r->name, c.corio,
			c.base, wbase, r->baseline_name, c.ratio, c.unit, c.target, c.met);
	}
	print_wrapped(f, ratio_legend(nhigher), 100);
	for (size_t i = 0; i < nlegends; i++)
		print_wrapped(f, legends[i], 100);
	if (!nnotes)
		return;
	fprintf(f, "notes:\n");
	for (size_t i = 0; i < nrows; i++) {
		print_note(f, i, false, "  ");
		print_note(f, i, true, "  ");
	}
}

/* ------------------------------------------------------------------------
 * Markdown
 * ------------------------------------------------------------------------ */

/* The "model name" line of /proc/cpuinfo, or "unknown". */
static void cpu_model(char *buf, size_t cap)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];

	snprintf(buf, cap, "unknown");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');
		if (strncmp(line, "model name", 10) != 0 || !colon)
			continue;
		colon++;
		colon += strspn(colon, " \t");
		colon[strcspn(colon, "\n")] = '\0';
		snprintf(buf, cap, "%s", colon);
		break;
	}
	fclose(f);
}

/* A table cell: '|' would end it early. */
static void md_cell(FILE *f, const char *s, bool code)
{
	fputs(code ? "| `" : "| ", f);
	for (; *s; s++) {
		if (*s == '|')
			fputs("\\|", f);
		else
			fputc(*s, f);
	}
	fputs(code ? "` " : " ", f);
}

int bench_report_markdown(const char *path, const char *cmdline)
{
	FILE *f = fopen(path, "w");
	int nhigher, nnotes = count_notes(&nhigher);
	char date[64], cpu[256];
	struct utsname u;
	time_t now = time(NULL);
	struct tm tm;
	int r = 0;

	if (!f)
		return -errno;
	if (!localtime_r(&now, &tm) || !strftime(date, sizeof(date), "%Y-%m-%d %H:%M %Z", &tm))
		snprintf(date, sizeof(date), "unknown");
	cpu_model(cpu, sizeof(cpu));
	if (uname(&u) < 0)
		memset(&u, 0, sizeof(u));
	fprintf(f, "# corio benchmarks\n\n"
		   "Written by `corio-bench` (`make bench`); every figure is the median of its "
		   "samples. Regenerate it rather than editing it.\n\n");
	fprintf(f, "- date: %s\n", date);
	fprintf(f, "- machine: %s %s %s\n", u.sysname, u.release, u.machine);
	fprintf(f, "- CPU: %s\n", cpu);
	fprintf(f, "- nproc: %ld\n", sysconf(_SC_NPROCESSORS_ONLN));
	fprintf(f, "- command: `%s`\n\n", cmdline);
	fprintf(f, "%s\n\n", ratio_legend(nhigher));
	for (size_t i = 0; i < nlegends; i++)
		fprintf(f, "%s\n\n", legends[i]);
	fputs("| benchmark | corio | baseline | baseline name | corio/base | unit | target | met |\n"
	      "|---|--:|--:|---|--:|---|---|---|\n", f);
	for (size_t i = 0; i < nrows; i++) {
		const struct bench_row *row = &rows[i];
		struct cells c;

		row_cells(row, &c);
		md_cell(f, row->name, true);
		md_cell(f, c.corio, false);
		md_cell(f, c.base, false);
		md_cell(f, row->baseline_name, false);
		md_cell(f, c.ratio, false);
		md_cell(f, c.unit, false);
		md_cell(f, c.target, false);
		md_cell(f, c.met, false);
		fputs("|\n", f);
	}
	if (nnotes) {
		fputs("\nNotes:\n\n", f);
		for (size_t i = 0; i < nrows; i++) {
			print_note(f, i, false, "- ");
			print_note(f, i, true, "- ");
		}
	}
	bench_plot_markdown(f, path);
	if (fflush(f) != 0 || ferror(f))
		r = -errno;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	return r;
}

size_t bench_report_corio_failures(void)
{
	size_t n = 0;

	for (size_t i = 0; i < nrows; i++)
		n += rows[i].corio.status == BENCH_FAILED || rows[i].corio.status == BENCH_TIMED_OUT;
	return n;
}

/* ------------------------------------------------------------------------
 * JSON
 * ------------------------------------------------------------------------ */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void json_num(FILE *f, double v)
{
	/* Whole numbers (bytes, KiB, counts) are printed whole; the others
	 * keep seven significant digits, more than any figure here deserves. */
	if (!isfinite(v))
		fputs("null", f);
	else if (v == floor(v) && fabs(v) < 1e15)
		fprintf(f, "%.0f", v);
	else
		fprintf(f, "%.7g", v);
}

static void json_value(FILE *f, const char *key, const struct bench_value *v)
{
	fprintf(f, ", \"%s\": ", key);
	if (v->status == BENCH_OK)
		json_num(f, v->median);
	else
		fputs("null", f);
}

static void json_detail(FILE *f, const char *key, const struct bench_value *v)
{
	fprintf(f, ", \"%s_status\": ", key);
	json_str(f, bench_status_name(v->status));
	if (v->note[0]) {
		fprintf(f, ", \"%s_note\": ", key);
		json_str(f, v->note);
	}
	fprintf(f, ", \"%s_samples\": [", key);
	for (int i = 0; i < v->n; i++) {
		if (i)
			fputs(", ", f);
		json_num(f, v->samples[i]);
	}
	fputc(']', f);
}

static void json_row(FILE *f, const struct bench_row *r)
{
	char t[64];
	int met = target_met(r);

	fputs("  {\"name\": ", f);
	json_str(f, r->name);
	fputs(", \"family\": ", f);
	json_str(f, r->family);
	json_value(f, "corio", &r->corio);
	json_value(f, "baseline", &r->base);
	fputs(", \"baseline_name\": ", f);
	json_str(f, r->baseline_name);
	fputs(", \"unit\": ", f);
	json_str(f, r->unit);
	fputs(", \"ratio\": ", f);
	if (have_ratio(r))
		json_num(f, ratio(r));
	else
		fputs("null", f);
	fputs(", \"ratio_is\": \"corio/baseline\", \"better\": ", f);
	json_str(f, r->higher_is_better ? "higher" : "lower");
	fputs(", \"target\": ", f);
	if (r->target_kind != BENCH_TARGET_NONE) {
		target_text(r, t, sizeof(t), true);
		json_str(f, t);
	} else {
		fputs("null", f);
	}
	fprintf(f, ", \"target_met\": %s", met < 0 ? "null" : met ? "true" : "false");
	json_detail(f, "corio", &r->corio);
	json_detail(f, "baseline", &r->base);
	for (int i = 0; i < r->nextra; i++) {
		fputs(", ", f);
		json_str(f, r->extra[i].key);
		fputs(": ", f);
		json_num(f, r->extra[i].value);
	}
	fputc('}', f);
}

int bench_report_json(const char *path)
{
	bool to_stdout = strcmp(path, "-") == 0;
	FILE *f = to_stdout ? stdout : fopen(path, "w");
	int r = 0;

	if (!f)
		return -errno;
	fputs("[\n", f);
	for (size_t i = 0; i < nrows; i++) {
		json_row(f, &rows[i]);
		fputs(i + 1 < nrows ? ",\n" : "\n", f);
	}
	fputs("]\n", f);
	if (fflush(f) != 0 || ferror(f))
		r = -errno;
	if (!to_stdout && fclose(f) != 0 && r == 0)
		r = -errno;
	return r;
}
