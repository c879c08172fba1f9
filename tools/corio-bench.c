/*
 * corio-bench - corio's benchmark suite: each figure beside its baseline.
 *
 *   corio-bench <family|all>[,family...] [--seconds S] [--reps N] [--json PATH]
 *               [--markdown PATH] [--python-dir DIR] [--python-timeout S]
 *               [--quick] [--cpu N]
 *
 * Every family measures corio and, in the same run, what a user would pick
 * instead (Boost.Context, pthreads, libuv, Python asyncio), then one table
 * is printed; with --json the same rows are written as a JSON array, with
 * --markdown as a Markdown document (machine, command line, legend, table).
 * `make bench` drives this tool. The families live in bench/; this file
 * is only the command line.
 */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

struct family {
	const char *name;
	const char *what;
	int       (*run)(const struct bench_opts *o);
};

/* In the order `all` runs them: cheapest first, so a run interrupted late
 * has still produced the quick rows. */
static const struct family families[] = {
	{ "switch", "raw context switch and corio_yield vs Boost fcontext and ucontext", bench_switch },
	{ "spawn",  "spawn + join of an empty task vs pthread_create + join; malloc check", bench_spawn },
	{ "sleep",  "100k and 1M sleeping tasks: wall time and memory vs libuv and asyncio", bench_sleep },
	{ "echo",   "TCP echo, 64 B, 50 and 500 connections (sweep 1-100): corio-echo vs epoll and libuv", bench_echo },
	{ "http",   "HTTP keep-alive GET, 100 connections (sweep 1-500): corio-http vs nginx "
		    "(1 worker); 2 loops vs 1 at 20 us of work per request", bench_http },
	{ "file",   "4 KiB random reads, depth 32, 1 GiB file: corio-fileread vs fio", bench_file },
	{ "thread", "corio_to_thread round trip and 1000 in flight vs libuv uv_queue_work", bench_thread },
	{ "loops",  "corio_loop_call round trip, corio_loop_post throughput: 2 pinned loops vs "
		    "2 libuv loops and uv_async_send", bench_loops },
	{ "process", "corio_run_in_process, 64 B each way, vs a socketpair child and Python", bench_process },
};
#define NFAMILIES (sizeof(families) / sizeof(families[0]))

static void usage(FILE *f)
{
	fprintf(f,
		"usage: corio-bench <family|all>[,family...] [options]\n"
		"\n"
		"families:\n");
	for (size_t i = 0; i < NFAMILIES; i++)
		fprintf(f, "  %-8s %s\n", families[i].name, families[i].what);
	fprintf(f,
		"  all      every family above\n"
		"\n"
		"options:\n"
		"  --seconds S          timed-loop budget per row of switch/spawn (default 1)\n"
		"  --reps N             samples per figure, median reported (default 5, max %d)\n"
		"  --json PATH          also write the rows as a JSON array (\"-\": stdout, table to stderr)\n"
		"  --markdown PATH      also write the table as Markdown, with machine and command line,\n"
		"                       and the echo/http plots (SVG by gnuplot, in bench/ beside PATH)\n"
		"  --python-dir DIR     where sleep_asyncio.py lives (default: bench)\n"
		"  --python-timeout S   seconds before an asyncio run is killed (default 60)\n"
		"  --quick              skip the slowest baselines (asyncio with a million tasks)\n"
		"  --cpu N              pin the benchmark (and every child) to CPU N\n"
		"  --help               this text\n"
		"\n"
		"The table's ratio is corio / baseline: below 1, corio is ahead. The sleep family's\n"
		"cold rows time a fresh process's single run; its warm rows a second round in the\n"
		"same loop, on pooled stacks.\n",
		BENCH_MAX_SAMPLES);
}

static bool parse_double(const char *s, double *v)
{
	char *end;

	errno = 0;
	*v = strtod(s, &end);
	return errno == 0 && end != s && *end == '\0';
}

static bool parse_int(const char *s, int *v)
{
	char *end;
	long x;

	errno = 0;
	x = strtol(s, &end, 10);
	if (errno || end == s || *end || x < 0 || x > 1 << 20)
		return false;
	*v = (int)x;
	return true;
}

/* The command line as one string, for the Markdown header: arguments a
 * shell would split or expand are single-quoted. */
static void join_argv(int argc, char **argv, char *buf, size_t cap)
{
	size_t len = 0;

	buf[0] = '\0';
	for (int i = 0; i < argc && len < cap; i++) {
		const char *a = argv[i];
		bool quote = !*a || a[strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					    "0123456789-_./=,:+@%")];

		len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? " " : "", quote ? "'" : "");
		for (; *a && len < cap; a++) {
			if (*a == '\'')
				len += (size_t)snprintf(buf + len, cap - len, "'\\''");
			else
				len += (size_t)snprintf(buf + len, cap - len, "%c", *a);
		}
		if (quote && len < cap)
			len += (size_t)snprintf(buf + len, cap - len, "'");
	}
}

/* Marks each family named in the comma-separated list; false on an
 * unknown name. */
static bool select_families(const char *list, bool *on)
{
	char buf[256];
	char *save = NULL;

	snprintf(buf, sizeof(buf), "%s", list);
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		bool found = false;
		if (strcmp(tok, "all") == 0) {
			for (size_t i = 0; i < NFAMILIES; i++)
				on[i] = true;
			continue;
		}
		for (size_t i = 0; i < NFAMILIES; i++)
			if (strcmp(tok, families[i].name) == 0)
				on[i] = found = true;
		if (!found) {
			fprintf(stderr, "corio-bench: unknown family '%s' (try --help)\n", tok);
			return false;
		}
	}
	return true;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "reps", required_argument, NULL, 'r' },
		{ "json", required_argument, NULL, 'j' },
		{ "markdown", required_argument, NULL, 'm' },
		{ "python-dir", required_argument, NULL, 'p' },
		{ "python-timeout", required_argument, NULL, 't' },
		{ "quick", no_argument, NULL, 'q' },
		{ "cpu", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench_opts o = { .seconds = 1, .reps = 5, .python_dir = "bench", .py_timeout = 60 };
	bool on[NFAMILIES] = { false };
	const char *json = NULL, *markdown = NULL;
	char cmdline[1024];
	bool seconds_set = false;
	int cpu = -1, opt;
	uint64_t t0;

	/* Before getopt_long, which moves the operands behind the options. */
	join_argv(argc, argv, cmdline, sizeof(cmdline));
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			if (!parse_double(optarg, &o.seconds) || o.seconds <= 0 || o.seconds > 3600) {
				fprintf(stderr, "corio-bench: --seconds wants a number in (0, 3600]\n");
				return 2;
			}
			seconds_set = true;
			break;
		case 'r':
			if (!parse_int(optarg, &o.reps) || o.reps < 1 || o.reps > BENCH_MAX_SAMPLES) {
				fprintf(stderr, "corio-bench: --reps wants 1..%d\n", BENCH_MAX_SAMPLES);
				return 2;
			}
			break;
		case 'j':
			json = optarg;
			break;
		case 'm':
			markdown = optarg;
			break;
		case 'p':
			o.python_dir = optarg;
			break;
		case 't':
			if (!parse_double(optarg, &o.py_timeout) || o.py_timeout <= 0) {
				fprintf(stderr, "corio-bench: --python-timeout wants a positive number\n");
				return 2;
			}
			break;
		case 'q':
			o.quick = true;
			break;
		case 'c':
			if (!parse_int(optarg, &cpu)) {
				fprintf(stderr, "corio-bench: --cpu wants a CPU number\n");
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	if (!select_families(argv[optind], on))
		return 2;
	/* --quick also shortens the timed loops unless told otherwise. */
	if (o.quick && !seconds_set)
		o.seconds = 0.25;
	if (cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set) < 0) {
			fprintf(stderr, "corio-bench: cannot pin to CPU %d: %s\n", cpu, strerror(errno));
			return 1;
		}
	}

	t0 = bench_now_ns();
	for (size_t i = 0; i < NFAMILIES; i++)
		if (on[i])
			families[i].run(&o);
	bench_report_print(json && strcmp(json, "-") == 0 ? stderr : stdout);
	fprintf(stderr, "corio-bench: %.1f s%s\n", (double)(bench_now_ns() - t0) / 1e9,
		o.quick ? " (--quick)" : "");
	if (json) {
		int r = bench_report_json(json);
		if (r < 0) {
			fprintf(stderr, "corio-bench: cannot write %s: %s\n", json, strerror(-r));
			return 1;
		}
	}
	if (markdown) {
		int r = bench_report_markdown(markdown, cmdline);
		if (r < 0) {
			fprintf(stderr, "corio-bench: cannot write %s: %s\n", markdown, strerror(-r));
			return 1;
		}
	}
	/* A missed target is a figure to read, not an error; corio failing to
	 * complete a case (a million tasks, say) is one. */
	if (bench_report_corio_failures()) {
		fprintf(stderr, "corio-bench: %zu row(s) without a corio figure, see the notes\n",
			bench_report_corio_failures());
		return 1;
	}
	return 0;
}
