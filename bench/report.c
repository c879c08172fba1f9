/*
 * report.c - the rows of a run, printed as one table and written as JSON.
 *
 * Families add rows as they finish; nothing is printed until the end, so
 * the table is one block a reader can copy. A figure that could not be
 * measured shows its status in the table ("unavailable", "timed out") with
 * the reason as a note below, and is null in the JSON.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static struct bench_row *rows;
static size_t nrows, caprows;

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
		snprintf(buf, cap, "%s %.1fx%s", op, r->target, words ? " baseline" : "");
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
 * note on every row it serves). */
static void print_note(FILE *f, size_t i, bool base)
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
	fprintf(f, "  %s %s", base ? r->baseline_name : "corio", bench_status_name(v->status));
	if (same > 1)
		fprintf(f, " (%s and %d more rows)", r->name, same - 1);
	else
		fprintf(f, " (%s)", r->name);
	fprintf(f, ": %s\n", v->note);
}

void bench_report_print(FILE *f)
{
	int wname = (int)strlen("benchmark"), wbase = (int)strlen("baseline name");
	int nnotes = 0, nhigher = 0;

	for (size_t i = 0; i < nrows; i++) {
		int a = (int)strlen(rows[i].name), b = (int)strlen(rows[i].baseline_name);
		wname = a > wname ? a : wname;
		wbase = b > wbase ? b : wbase;
	}
	fprintf(f, "%-*s  %11s  %11s  %-*s  %10s  %-10s  %-9s  %s\n", wname, "benchmark", "corio",
		"baseline", wbase, "baseline name", "corio/base", "unit", "target", "met");
	for (size_t i = 0; i < nrows; i++) {
		const struct bench_row *r = &rows[i];
		char c[24], b[24], q[24], t[24], u[24];
		int met = target_met(r);

		fmt_value(c, sizeof(c), &r->corio);
		fmt_value(b, sizeof(b), &r->base);
		if (have_ratio(r)) {
			fmt_num(q, sizeof(q), ratio(r));
			strcat(q, "x");
		} else {
			snprintf(q, sizeof(q), "-");
		}
		target_text(r, t, sizeof(t), false);
		snprintf(u, sizeof(u), "%s%s", r->unit, r->higher_is_better ? " ^" : "");
		nhigher += r->higher_is_better;
		fprintf(f, "%-*s  %11s  %11s  %-*s  %10s  %-10s  %-9s  %s\n", wname, r->name, c, b,
			wbase, r->baseline_name, q, u, t,
			met < 0 ? "-" : met ? "yes" : "NO");
		nnotes += (r->corio.status != BENCH_OK) + (r->base.status != BENCH_OK);
	}
	if (nhigher)
		fprintf(f, "ratio = corio / baseline. Lower is better, except for rows whose unit is marked ^:\n"
			   "there higher is better. Either way the target column says which way it must go.\n");
	else
		fprintf(f, "ratio = corio / baseline; lower is better in every row: below 1 corio is ahead.\n");
	if (!nnotes)
		return;
	fprintf(f, "notes:\n");
	for (size_t i = 0; i < nrows; i++) {
		print_note(f, i, false);
		print_note(f, i, true);
	}
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
