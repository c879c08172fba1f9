/*
 * net.c - the "echo" and "http" families: servers under load on loopback.
 *
 * Every server runs in its own process pinned to CPU 0; the load generator
 * (corio-load, a corio program, the same for every contender) is pinned to
 * CPU 1 and drives it for --seconds. Contenders take turns within each rep,
 * the first one rotating, so a drift of the machine hits them all alike;
 * the figures are medians over reps.
 *
 *   echo  corio-echo vs a plain epoll server and vs libuv (echo_servers.c),
 *         64-byte messages, 50 and 500 connections, one request in flight
 *         per connection;
 *   http  corio-http vs nginx (one worker, `return 200`), 100 connections,
 *         keep-alive GET; then scaling: corio-http --work-us 20 (each
 *         request burns 20 us of CPU) on 2 loops (server on CPUs 0 and 1)
 *         vs on 1 loop (CPU 0), corio-load on CPU 1 with 64 connections of
 *         16 pipelined requests, so its own CPU share stays small.
 *
 * Rows give req/s (higher is better) and p99 latency (lower is better). The
 * load generator's own CPU use is kept with each row (load_cpu_percent): near
 * 100% means it, not the server, may be the limit.
 *
 * Plots (plot.c): throughput vs connections for echo and http, from the
 * rows above plus a short sweep (1, 10 and 100 connections for echo; 1, 10
 * and 500 for http; one sample each), and latency percentile curves (p50 to
 * p99.99 from corio-load's histogram, median per percentile over the reps)
 * of the echo 50-connection and http 100-connection rows.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

int bench_echo_epoll(int lfd);
int bench_echo_uv(int lfd);

#define SERVER_CPUS 0x1u /* CPU 0 */
#define LOAD_CPUS   "1"

enum server_kind { S_CORIO_ECHO, S_EPOLL, S_UV, S_CORIO_HTTP, S_NGINX };

/* The percentiles corio-load reports in its JSON (latency_us), for the
 * percentile curves. */
static const double spec_pct[] = { 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99 };
static const char *const spec_key[] = { "p50", "p75", "p90", "p95", "p99", "p99_5",
					"p99_9", "p99_95", "p99_99" };
#define NSPEC (sizeof(spec_pct) / sizeof(spec_pct[0]))

/* A contender: a server, how it is started and pinned, and its figures. */
struct contender {
	int                kind;
	const char        *name;
	int                loops;      /* corio tools: --loops (0: not passed) */
	int                work_us;    /* corio-http: --work-us (0: not passed) */
	unsigned           cpus;       /* the server's CPUs, a mask (0: SERVER_CPUS) */
	struct bench_value rps, p99;
	struct bench_value cpu_ns;     /* server CPU time per request */
	struct bench_value spec[NSPEC];
	double             load_cpu[BENCH_MAX_SAMPLES];
	int                ncpu;
	bool               dead;
};

/* How corio-load drives the servers. */
struct load_params {
	const char *mode;     /* "echo" or "http" */
	int         conns;
	int         pipeline;
	double      seconds;
	int         reps;
};

struct server {
	pid_t pid;
	int   port;
	char  tmpdir[64]; /* nginx's config and logs */
};

static void pin(unsigned cpus)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	for (int i = 0; i < 32; i++)
		if (cpus & (1u << i))
			CPU_SET(i, &set);
	(void)sched_setaffinity(0, sizeof(set), &set);
}

static int listen_any_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4096) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

static int port_of(int fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);

	if (getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		return -errno;
	return ntohs(a.sin_port);
}

/* True once something accepts connections on 127.0.0.1:port. */
static bool wait_listening(int port, double timeout_s)
{
	uint64_t end = bench_now_ns() + (uint64_t)(timeout_s * 1e9);

	while (bench_now_ns() < end) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
		struct timespec ts = { 0, 5000000 };

		if (fd >= 0)
			close(fd);
		if (ok)
			return true;
		nanosleep(&ts, NULL);
	}
	return false;
}

/* A corio tool that prints "listening on 127.0.0.1:PORT": exec'd with its
 * stdout on a pipe, pinned to the contender's CPUs, with --loops and
 * --work-us when the contender sets them. */
static int start_corio_tool(const char *tool, const struct contender *x, struct server *s,
			    char *why, size_t whycap)
{
	char path[PATH_MAX], line[256] = { 0 }, loops[16], work[16];
	char *argv[12];
	int fds[2], a = 0;
	size_t got = 0;
	uint64_t end;

	if (!bench_sibling(tool, path, sizeof(path))) {
		snprintf(why, whycap, "%s not built", tool);
		return -ENOENT;
	}
	argv[a++] = (char *)tool;
	argv[a++] = "--port";
	argv[a++] = "0";
	argv[a++] = "--seconds";
	argv[a++] = "600";
	if (x->loops) {
		snprintf(loops, sizeof(loops), "%d", x->loops);
		argv[a++] = "--loops";
		argv[a++] = loops;
	}
	if (x->work_us) {
		snprintf(work, sizeof(work), "%d", x->work_us);
		argv[a++] = "--work-us";
		argv[a++] = work;
	}
	argv[a] = NULL;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	fflush(stdout);
	fflush(stderr);
	s->pid = fork();
	if (s->pid < 0)
		return -errno;
	if (s->pid == 0) {
		pin(x->cpus ? x->cpus : SERVER_CPUS);
		dup2(fds[1], STDOUT_FILENO);
		execv(path, argv);
		_exit(127);
	}
	close(fds[1]);
	end = bench_now_ns() + 5000000000ull;
	while (got < sizeof(line) - 1 && !strchr(line, '\n') && bench_now_ns() < end) {
		ssize_t n = read(fds[0], line + got, sizeof(line) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fds[0]);
	{
		const char *p = strstr(line, "127.0.0.1:");
		s->port = p ? atoi(p + 10) : 0;
	}
	if (s->port <= 0) {
		snprintf(why, whycap, "%s did not say where it listens", tool);
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
		return -EIO;
	}
	return 0;
}

static int start_forked(int (*serve)(int lfd), struct server *s)
{
	int lfd = listen_any_port();

	if (lfd < 0)
		return lfd;
	s->port = port_of(lfd);
	fflush(stdout);
	fflush(stderr);
	s->pid = fork();
	if (s->pid < 0) {
		close(lfd);
		return -errno;
	}
	if (s->pid == 0) {
		pin(SERVER_CPUS);
		_exit(serve(lfd) < 0 ? 1 : 0);
	}
	close(lfd);
	return 0;
}

static int start_nginx(struct server *s, char *why, size_t whycap)
{
	char nginx[PATH_MAX], conf[128];
	FILE *f;
	int lfd;

	if (!bench_which("nginx", nginx, sizeof(nginx)) &&
	    access(strcpy(nginx, "/usr/sbin/nginx"), X_OK) != 0) {
		snprintf(why, whycap, "baseline unavailable: nginx not installed");
		return -ENOENT;
	}
	snprintf(s->tmpdir, sizeof(s->tmpdir), "/tmp/corio-bench-nginx.XXXXXX");
	if (!mkdtemp(s->tmpdir))
		return -errno;
	/* A free port: nginx binds it itself a moment later. */
	lfd = listen_any_port();
	if (lfd < 0)
		return lfd;
	s->port = port_of(lfd);
	close(lfd);
	snprintf(conf, sizeof(conf), "%s/nginx.conf", s->tmpdir);
	f = fopen(conf, "w");
	if (!f)
		return -errno;
	fprintf(f,
		"worker_processes 1;\n"
		"daemon off;\n"
		"master_process off;\n"
		"pid %s/nginx.pid;\n"
		"error_log %s/error.log error;\n"
		"events { worker_connections 4096; multi_accept on; }\n"
		"http {\n"
		"  access_log off;\n"
		"  client_body_temp_path %s;\n"
		"  proxy_temp_path %s;\n"
		"  fastcgi_temp_path %s;\n"
		"  uwsgi_temp_path %s;\n"
		"  scgi_temp_path %s;\n"
		"  keepalive_requests 1000000;\n"
		"  server {\n"
		"    listen 127.0.0.1:%d backlog=4096;\n"
		"    location / { default_type text/plain; return 200 \"Hello, World!\"; }\n"
		"  }\n"
		"}\n",
		s->tmpdir, s->tmpdir, s->tmpdir, s->tmpdir, s->tmpdir, s->tmpdir, s->tmpdir, s->port);
	fclose(f);
	fflush(stdout);
	fflush(stderr);
	s->pid = fork();
	if (s->pid < 0)
		return -errno;
	if (s->pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		pin(SERVER_CPUS);
		if (devnull >= 0) {
			dup2(devnull, STDOUT_FILENO);
			dup2(devnull, STDERR_FILENO);
		}
		execl(nginx, "nginx", "-p", s->tmpdir, "-c", conf, (char *)NULL);
		_exit(127);
	}
	if (!wait_listening(s->port, 5)) {
		snprintf(why, whycap, "nginx did not start (see its error log)");
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
		return -EIO;
	}
	return 0;
}

static int server_start(const struct contender *x, struct server *s, char *why, size_t whycap)
{
	int r;

	memset(s, 0, sizeof(*s));
	switch (x->kind) {
	case S_CORIO_ECHO: r = start_corio_tool("corio-echo", x, s, why, whycap); break;
	case S_CORIO_HTTP: r = start_corio_tool("corio-http", x, s, why, whycap); break;
	case S_EPOLL:      r = start_forked(bench_echo_epoll, s); break;
	case S_UV:         r = start_forked(bench_echo_uv, s); break;
	default:           r = start_nginx(s, why, whycap); break;
	}
	if (r == 0 && !wait_listening(s->port, 5)) {
		snprintf(why, whycap, "server did not listen");
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
		return -EIO;
	}
	if (r < 0 && !why[0])
		snprintf(why, whycap, "cannot start the server: %s", strerror(-r));
	return r;
}

static void server_stop(struct server *s)
{
	uint64_t end = bench_now_ns() + 3000000000ull;
	int st;

	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		while (waitpid(s->pid, &st, WNOHANG) == 0) {
			struct timespec ts = { 0, 5000000 };
			if (bench_now_ns() > end) {
				kill(s->pid, SIGKILL);
				waitpid(s->pid, &st, 0);
				break;
			}
			nanosleep(&ts, NULL);
		}
	}
	if (s->tmpdir[0]) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "bench: could not remove %s\n", s->tmpdir);
	}
	s->pid = 0;
}

/* CPU time (user + system) the process has used, in seconds; -1 if unknown. */
static double proc_cpu_s(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* Fields after the command name, which may hold spaces: find the ')'. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* ------------------------------------------------------------------------
 * Running corio-load and reading its JSON
 * ------------------------------------------------------------------------ */

struct load_result {
	double rps, p99_us, cpu;
	double errors;
	double spec[NSPEC];   /* latency at spec_pct[i], us */
};

static bool json_num(const char *js, const char *key, double *out)
{
	char pat[48];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(js, pat);
	if (!p)
		return false;
	*out = strtod(p + strlen(pat), NULL);
	return true;
}

static int run_load(const struct load_params *lp, int port, struct load_result *lr, char *why,
		    size_t whycap)
{
	char load[PATH_MAX], taskset[PATH_MAX], sport[16], sconns[16], ssec[32], spipe[16];
	char out[8192];
	struct bench_proc p;
	const char *mode = lp->mode;
	double seconds = lp->seconds;
	char *argv[24];
	int a = 0;

	if (!bench_sibling("corio-load", load, sizeof(load))) {
		snprintf(why, whycap, "corio-load not built");
		return -ENOENT;
	}
	snprintf(sport, sizeof(sport), "%d", port);
	snprintf(sconns, sizeof(sconns), "%d", lp->conns);
	snprintf(ssec, sizeof(ssec), "%.3f", seconds);
	snprintf(spipe, sizeof(spipe), "%d", lp->pipeline > 0 ? lp->pipeline : 1);
	if (bench_which("taskset", taskset, sizeof(taskset))) {
		argv[a++] = taskset;
		argv[a++] = "-c";
		argv[a++] = LOAD_CPUS;
	}
	argv[a++] = load;
	argv[a++] = (char *)mode;
	argv[a++] = "--port";
	argv[a++] = sport;
	argv[a++] = "--conns";
	argv[a++] = sconns;
	argv[a++] = "--seconds";
	argv[a++] = ssec;
	argv[a++] = "--pipeline";
	argv[a++] = spipe;
	if (strcmp(mode, "echo") == 0) {
		argv[a++] = "--size";
		argv[a++] = "64";
	} else {
		argv[a++] = "--path";
		argv[a++] = "/";
	}
	argv[a++] = "--json";
	argv[a] = NULL;
	if (bench_exec(argv, out, sizeof(out), seconds + 30, &p) < 0 && !strstr(out, "req_per_s")) {
		snprintf(why, whycap, "corio-load: %.100s", p.note);
		return -EIO;
	}
	if (!json_num(out, "req_per_s", &lr->rps) || !json_num(out, "p99", &lr->p99_us) ||
	    !json_num(out, "cpu_percent", &lr->cpu) || !json_num(out, "errors", &lr->errors)) {
		snprintf(why, whycap, "corio-load printed no result");
		return -EIO;
	}
	if (lr->errors > 0) {
		snprintf(why, whycap, "%.0f errors under load", lr->errors);
		return -EIO;
	}
	for (size_t i = 0; i < NSPEC; i++)
		if (!json_num(out, spec_key[i], &lr->spec[i]))
			lr->spec[i] = NAN;
	return 0;
}

/* ------------------------------------------------------------------------
 * The families
 * ------------------------------------------------------------------------ */

/* Seconds of load per sample: base x --seconds, at least min_s. */
static double load_seconds(const struct bench_opts *o, double base, double min_s)
{
	double s = o->seconds * base;
	return s < min_s ? min_s : s;
}

static void measure(struct contender *c, int n, const struct load_params *lp)
{
	for (int rep = 0; rep < lp->reps; rep++) {
		for (int k = 0; k < n; k++) {
			struct contender *x = &c[(k + rep) % n];
			struct server s;
			struct load_result lr;
			char why[BENCH_NOTE_LEN] = "";

			if (x->dead)
				continue;
			if (server_start(x, &s, why, sizeof(why)) < 0) {
				int st = strstr(why, "unavailable") ? BENCH_UNAVAILABLE : BENCH_FAILED;
				bench_value_fail(&x->rps, st, "%s", why);
				bench_value_fail(&x->p99, st, "%s", why);
				x->dead = true;
				continue;
			}
			double cpu0 = proc_cpu_s(s.pid), cpu1;
			if (run_load(lp, s.port, &lr, why, sizeof(why)) < 0) {
				bench_value_fail(&x->rps, BENCH_FAILED, "%s", why);
				bench_value_fail(&x->p99, BENCH_FAILED, "%s", why);
				x->dead = true;
			} else {
				bench_value_add(&x->rps, lr.rps);
				bench_value_add(&x->p99, lr.p99_us);
				cpu1 = proc_cpu_s(s.pid);
				if (cpu0 >= 0 && cpu1 >= 0 && lr.rps > 0)
					bench_value_add(&x->cpu_ns,
							(cpu1 - cpu0) * 1e9 / (lr.rps * lp->seconds));
				for (size_t i = 0; i < NSPEC; i++)
					if (!isnan(lr.spec[i]))
						bench_value_add(&x->spec[i], lr.spec[i]);
				if (x->ncpu < BENCH_MAX_SAMPLES)
					x->load_cpu[x->ncpu++] = lr.cpu;
			}
			server_stop(&s);
		}
	}
}

static void add_rows(const char *family, const char *tag, const struct contender *corio,
		     const struct contender *base, double rps_target)
{
	struct bench_row r;
	char name[48];

	snprintf(name, sizeof(name), "%s.%s", tag, base->name);
	bench_row_init(&r, family, name, "req/s", base->name);
	r.higher_is_better = true;
	r.corio = corio->rps;
	r.base = base->rps;
	if (rps_target > 0)
		bench_row_target(&r, BENCH_TARGET_RATIO_MAX, rps_target);
	if (corio->ncpu)
		bench_row_extra(&r, "load_cpu_percent", bench_median(corio->load_cpu, corio->ncpu));
	if (base->ncpu)
		bench_row_extra(&r, "load_cpu_percent_baseline", bench_median(base->load_cpu, base->ncpu));
	bench_report_add(&r);

	snprintf(name, sizeof(name), "%s.cpu.%s", tag, base->name);
	bench_row_init(&r, family, name, "ns/req", base->name);
	r.corio = corio->cpu_ns;
	r.base = base->cpu_ns;
	bench_report_add(&r);

	snprintf(name, sizeof(name), "%s.p99.%s", tag, base->name);
	bench_row_init(&r, family, name, "us", base->name);
	r.corio = corio->p99;
	r.base = base->p99;
	bench_row_target(&r, BENCH_TARGET_RATIO_MAX, 1.0); /* p99 no worse */
	bench_report_add(&r);
}

/* A sweep point: req/s only, one sample, no target. */
static void add_sweep_row(const char *family, const char *tag, const struct contender *corio,
			  const struct contender *base)
{
	struct bench_row r;
	char name[48];

	snprintf(name, sizeof(name), "%s.%s", tag, base->name);
	bench_row_init(&r, family, name, "req/s", base->name);
	r.higher_is_better = true;
	r.corio = corio->rps;
	r.base = base->rps;
	if (corio->ncpu)
		bench_row_extra(&r, "load_cpu_percent", bench_median(corio->load_cpu, corio->ncpu));
	if (base->ncpu)
		bench_row_extra(&r, "load_cpu_percent_baseline", bench_median(base->load_cpu, base->ncpu));
	bench_report_add(&r);
}

/* Each contender's req/s (median) as a point at x = conns. */
static void plot_rps(const char *chart, const struct contender *c, int n, int conns)
{
	for (int k = 0; k < n; k++)
		if (c[k].rps.status == BENCH_OK)
			bench_plot_point(chart, c[k].name, conns, c[k].rps.median);
}

/* Each contender's latency percentiles (median over the reps of each). */
static void plot_latency(const char *chart, const struct contender *c, int n)
{
	for (int k = 0; k < n; k++)
		for (size_t i = 0; i < NSPEC; i++)
			if (c[k].spec[i].status == BENCH_OK && c[k].spec[i].n)
				bench_plot_point(chart, c[k].name, spec_pct[i], c[k].spec[i].median);
}

/* The legend of the sweep rows, once for both families. */
static void sweep_legend(double seconds)
{
	static char text[300];

	if (text[0])
		return;
	snprintf(text, sizeof(text),
		 "echo.64B.c1, .c10, .c100 and http.c1, .c10, .c500: the sweep behind the "
		 "throughput plots, one sample of %.2g s per contender, no target.", seconds);
	bench_report_legend(text);
}

static void plot_note(void)
{
	bench_plot_note("Throughput vs connections: the echo.64B.cN and http.cN rows; the 50 and "
			"500 (echo) and 100 (http) connection points are medians of the rows' reps, "
			"the others one short sample each (the sweep rows). Latency curves: "
			"corio-load's HdrHistogram-style histogram (1/128 precision) of the echo "
			"50-connection and http 100-connection rows, closed loop, each percentile "
			"the median over the reps. Every point comes from the run this file "
			"describes.");
}

/* The echo servers, fresh for one connection count: corio, epoll, libuv. */
static void echo_contenders(struct contender c[3])
{
	static const char *const names[3] = { "corio", "epoll", "libuv" };
	static const int kinds[3] = { S_CORIO_ECHO, S_EPOLL, S_UV };

	memset(c, 0, 3 * sizeof(*c));
	for (int k = 0; k < 3; k++) {
		c[k].kind = kinds[k];
		c[k].name = names[k];
	}
}

int bench_echo(const struct bench_opts *o)
{
	static const int conns[] = { 50, 500 };
	static const int sweep[] = { 1, 10, 100 };
	struct load_params lp = { "echo", 0, 1, load_seconds(o, 2, 1), o->reps < 3 ? o->reps : 3 };

	fprintf(stderr, "echo: corio-echo, epoll, libuv under corio-load ...\n");
	bench_report_legend(
		"echo.64B.cN.<baseline>: TCP echo of 64-byte messages over N loopback connections, "
		"one message in flight per connection; server on CPU 0, corio-load on CPU 1, "
		"contenders interleaved. req/s: higher is better (target >= 1.2x); "
		".p99 rows: latency, lower is better; .cpu rows: the server's CPU time per "
		"request, lower is better. With 2 cores the load generator itself runs near 100% "
		"of its CPU (load_cpu_percent in the JSON), so req/s is partly its limit: the "
		".cpu rows compare the servers' own cost.");
	bench_plot_chart("echo-throughput",
			 "echo: req/s vs connections (64 B, one in flight per connection)",
			 "connections", "req/s", PLOT_LOGX);
	bench_plot_chart("echo-latency", "echo: latency percentiles, 50 connections (closed loop)",
			 "percentile", "latency (us)", PLOT_PERCENTILE_X | PLOT_LOGY);
	for (size_t i = 0; i < sizeof(conns) / sizeof(conns[0]); i++) {
		struct contender c[3];
		char tag[32];

		echo_contenders(c);
		lp.conns = conns[i];
		measure(c, 3, &lp);
		snprintf(tag, sizeof(tag), "echo.64B.c%d", conns[i]);
		add_rows("echo", tag, &c[0], &c[1], 1.2);
		add_rows("echo", tag, &c[0], &c[2], 1.2);
		plot_rps("echo-throughput", c, 3, conns[i]);
		if (conns[i] == 50)
			plot_latency("echo-latency", c, 3);
	}

	/* The sweep: one short sample per contender and connection count. */
	lp.reps = 1;
	lp.seconds = load_seconds(o, 0.5, 0.5);
	sweep_legend(lp.seconds);
	for (size_t i = 0; i < sizeof(sweep) / sizeof(sweep[0]); i++) {
		struct contender c[3];
		char tag[32];

		echo_contenders(c);
		lp.conns = sweep[i];
		measure(c, 3, &lp);
		snprintf(tag, sizeof(tag), "echo.64B.c%d", sweep[i]);
		add_sweep_row("echo", tag, &c[0], &c[1]);
		add_sweep_row("echo", tag, &c[0], &c[2]);
		plot_rps("echo-throughput", c, 3, sweep[i]);
	}
	plot_note();
	return 0;
}

/* Scaling across loops: corio-http --work-us 20 on 2 loops vs 1 loop. */
#define SCALE_WORK_US  20
#define SCALE_CONNS    64
#define SCALE_PIPELINE 16

static void bench_http_scaling(const struct bench_opts *o)
{
	struct contender c[2];
	struct load_params lp = { "http", SCALE_CONNS, SCALE_PIPELINE, load_seconds(o, 2, 1),
				  o->reps < 3 ? o->reps : 3 };
	static char legend[900];
	char share[160];
	struct bench_row r;
	double lc2 = -1, lc1 = -1;
	const char *name = "http.work20us.2loops.1loop";

	memset(c, 0, sizeof(c));
	c[0] = (struct contender){ .kind = S_CORIO_HTTP, .name = "2 loops", .loops = 2,
				   .work_us = SCALE_WORK_US, .cpus = 0x3 };
	c[1] = (struct contender){ .kind = S_CORIO_HTTP, .name = "1 loop", .loops = 1,
				   .work_us = SCALE_WORK_US, .cpus = 0x1 };
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
		for (int k = 0; k < 2; k++)
			bench_value_fail(&c[k].rps, BENCH_UNAVAILABLE, "needs 2 CPUs");
	} else {
		fprintf(stderr, "http: corio-http --work-us %d on 2 loops vs 1 loop ...\n",
			SCALE_WORK_US);
		measure(c, 2, &lp);
	}
	if (c[0].ncpu)
		lc2 = bench_median(c[0].load_cpu, c[0].ncpu);
	if (c[1].ncpu)
		lc1 = bench_median(c[1].load_cpu, c[1].ncpu);

	bench_row_init(&r, "http", name, "req/s", "1 loop");
	r.higher_is_better = true;
	r.corio = c[0].rps;
	r.base = c[1].rps;
	bench_row_target(&r, BENCH_TARGET_RATIO_MAX, 1.7);
	if (lc2 >= 0)
		bench_row_extra(&r, "load_cpu_percent", lc2);
	if (lc1 >= 0)
		bench_row_extra(&r, "load_cpu_percent_baseline", lc1);
	bench_row_extra(&r, "work_us", SCALE_WORK_US);
	bench_row_extra(&r, "conns", SCALE_CONNS);
	bench_row_extra(&r, "pipeline", SCALE_PIPELINE);
	bench_report_add(&r);

	bench_row_init(&r, "http", "http.work20us.2loops.cpu.1loop", "ns/req", "1 loop");
	r.corio = c[0].cpu_ns;
	r.base = c[1].cpu_ns;
	bench_report_add(&r);

	if (lc2 >= 0 && lc1 >= 0)
		snprintf(share, sizeof(share), "it used %.1f%% of a CPU against 2 loops and %.1f%% "
			 "against 1 (load_cpu_percent, median of the reps)", lc2, lc1);
	else
		snprintf(share, sizeof(share), "its CPU use was not measured");
	snprintf(legend, sizeof(legend),
		 "http.work20us.2loops.1loop: scaling across loops. corio-http --work-us %d (each "
		 "request burns %d us of CPU in a busy loop calibrated at start, not a sleep) "
		 "on 2 loops (--loops 2, the process pinned to CPUs 0-1 with taskset, one "
		 "SO_REUSEPORT listener per loop) vs on 1 loop (CPU 0). corio-load pinned to "
		 "CPU 1 in both, %d connections with %d pipelined requests each, so its own "
		 "cost per request stays small: %s. req/s, higher is better, target >= 1.7x. "
		 "The .cpu row is the server's CPU time per request on each: the same work, so "
		 "the gain is parallelism, not a cheaper handler.",
		 SCALE_WORK_US, SCALE_WORK_US, SCALE_CONNS, SCALE_PIPELINE, share);
	bench_report_legend(legend);
}

int bench_http(const struct bench_opts *o)
{
	static const int sweep[] = { 1, 10, 500 };
	struct contender c[2];
	struct load_params lp = { "http", 100, 1, load_seconds(o, 2, 1), o->reps < 3 ? o->reps : 3 };

	memset(c, 0, sizeof(c));
	c[0].kind = S_CORIO_HTTP;
	c[0].name = "corio";
	c[1].kind = S_NGINX;
	c[1].name = "nginx";
	fprintf(stderr, "http: corio-http, nginx (1 worker) under corio-load ...\n");
	bench_report_legend(
		"http.c100.nginx: keep-alive GET of a 13-byte body over 100 loopback connections; "
		"nginx with one worker and `return 200`; server on CPU 0, corio-load on CPU 1. "
		"req/s: higher is better (target >= 1.3x); .p99: lower is better; .cpu: the "
		"server's CPU time per request.");
	bench_plot_chart("http-throughput",
			 "http: req/s vs connections (keep-alive GET, one in flight per connection)",
			 "connections", "req/s", PLOT_LOGX);
	bench_plot_chart("http-latency", "http: latency percentiles, 100 connections (closed loop)",
			 "percentile", "latency (us)", PLOT_PERCENTILE_X | PLOT_LOGY);
	measure(c, 2, &lp);
	add_rows("http", "http.c100", &c[0], &c[1], 1.3);
	plot_rps("http-throughput", c, 2, 100);
	plot_latency("http-latency", c, 2);

	lp.reps = 1;
	lp.seconds = load_seconds(o, 0.5, 0.5);
	sweep_legend(lp.seconds);
	for (size_t i = 0; i < sizeof(sweep) / sizeof(sweep[0]); i++) {
		char tag[32];

		memset(c, 0, sizeof(c));
		c[0].kind = S_CORIO_HTTP;
		c[0].name = "corio";
		c[1].kind = S_NGINX;
		c[1].name = "nginx";
		lp.conns = sweep[i];
		measure(c, 2, &lp);
		snprintf(tag, sizeof(tag), "http.c%d", sweep[i]);
		add_sweep_row("http", tag, &c[0], &c[1]);
		plot_rps("http-throughput", c, 2, sweep[i]);
	}

	plot_note();
	bench_http_scaling(o);
	return 0;
}
