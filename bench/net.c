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
 *         keep-alive GET.
 *
 * Rows give req/s (higher is better) and p99 latency (lower is better). The
 * load generator's own CPU use is kept with each row (load_cpu_percent): near
 * 100% means it, not the server, may be the limit.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

#define SERVER_CPU 0
#define LOAD_CPU   1

enum server_kind { S_CORIO_ECHO, S_EPOLL, S_UV, S_CORIO_HTTP, S_NGINX };

struct server {
	pid_t pid;
	int   port;
	char  tmpdir[64]; /* nginx's config and logs */
};

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
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
 * stdout on a pipe, pinned to the server CPU. */
static int start_corio_tool(const char *tool, struct server *s, char *why, size_t whycap)
{
	char path[PATH_MAX], line[256] = { 0 };
	int fds[2];
	size_t got = 0;
	uint64_t end;

	if (!bench_sibling(tool, path, sizeof(path))) {
		snprintf(why, whycap, "%s not built", tool);
		return -ENOENT;
	}
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	fflush(stdout);
	fflush(stderr);
	s->pid = fork();
	if (s->pid < 0)
		return -errno;
	if (s->pid == 0) {
		pin(SERVER_CPU);
		dup2(fds[1], STDOUT_FILENO);
		execl(path, tool, "--port", "0", "--seconds", "600", (char *)NULL);
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
		pin(SERVER_CPU);
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
		pin(SERVER_CPU);
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

static int server_start(int kind, struct server *s, char *why, size_t whycap)
{
	int r;

	memset(s, 0, sizeof(*s));
	switch (kind) {
	case S_CORIO_ECHO: r = start_corio_tool("corio-echo", s, why, whycap); break;
	case S_CORIO_HTTP: r = start_corio_tool("corio-http", s, why, whycap); break;
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

static int run_load(const char *mode, int port, int conns, double seconds, struct load_result *lr,
		    char *why, size_t whycap)
{
	char load[PATH_MAX], taskset[PATH_MAX], sport[16], sconns[16], ssec[32], cpu[8];
	char out[8192];
	struct bench_proc p;
	char *argv[20];
	int a = 0;

	if (!bench_sibling("corio-load", load, sizeof(load))) {
		snprintf(why, whycap, "corio-load not built");
		return -ENOENT;
	}
	snprintf(sport, sizeof(sport), "%d", port);
	snprintf(sconns, sizeof(sconns), "%d", conns);
	snprintf(ssec, sizeof(ssec), "%.3f", seconds);
	snprintf(cpu, sizeof(cpu), "%d", LOAD_CPU);
	if (bench_which("taskset", taskset, sizeof(taskset))) {
		argv[a++] = taskset;
		argv[a++] = "-c";
		argv[a++] = cpu;
	}
	argv[a++] = load;
	argv[a++] = (char *)mode;
	argv[a++] = "--port";
	argv[a++] = sport;
	argv[a++] = "--conns";
	argv[a++] = sconns;
	argv[a++] = "--seconds";
	argv[a++] = ssec;
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
	return 0;
}

/* ------------------------------------------------------------------------
 * The families
 * ------------------------------------------------------------------------ */

struct contender {
	int                kind;
	const char        *name;
	struct bench_value rps, p99;
	struct bench_value cpu_ns;   /* server CPU time per request */
	double             load_cpu[BENCH_MAX_SAMPLES];
	int                ncpu;
	bool               dead;
};

static void measure(const char *mode, struct contender *c, int n, int conns,
		    const struct bench_opts *o)
{
	double secs = o->seconds * 2 < 1 ? 1 : o->seconds * 2;

	/* Each sample costs seconds of a server under load: at most 3 reps
	 * keep `make bench` within its five minutes. */
	int reps = o->reps < 3 ? o->reps : 3;

	for (int rep = 0; rep < reps; rep++) {
		for (int k = 0; k < n; k++) {
			struct contender *x = &c[(k + rep) % n];
			struct server s;
			struct load_result lr;
			char why[BENCH_NOTE_LEN] = "";

			if (x->dead)
				continue;
			if (server_start(x->kind, &s, why, sizeof(why)) < 0) {
				int st = strstr(why, "unavailable") ? BENCH_UNAVAILABLE : BENCH_FAILED;
				bench_value_fail(&x->rps, st, "%s", why);
				bench_value_fail(&x->p99, st, "%s", why);
				x->dead = true;
				continue;
			}
			double cpu0 = proc_cpu_s(s.pid), cpu1;
			if (run_load(mode, s.port, conns, secs, &lr, why, sizeof(why)) < 0) {
				bench_value_fail(&x->rps, BENCH_FAILED, "%s", why);
				bench_value_fail(&x->p99, BENCH_FAILED, "%s", why);
				x->dead = true;
			} else {
				bench_value_add(&x->rps, lr.rps);
				bench_value_add(&x->p99, lr.p99_us);
				cpu1 = proc_cpu_s(s.pid);
				if (cpu0 >= 0 && cpu1 >= 0 && lr.rps > 0)
					bench_value_add(&x->cpu_ns, (cpu1 - cpu0) * 1e9 / (lr.rps * secs));
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

int bench_echo(const struct bench_opts *o)
{
	static const int conns[] = { 50, 500 };

	fprintf(stderr, "echo: corio-echo, epoll, libuv under corio-load ...\n");
	bench_report_legend(
		"echo.64B.cN.<baseline>: TCP echo of 64-byte messages over N loopback connections, "
		"one message in flight per connection; server on CPU 0, corio-load on CPU 1, "
		"contenders interleaved. req/s: higher is better (target >= 1.2x); "
		".p99 rows: latency, lower is better; .cpu rows: the server's CPU time per "
		"request, lower is better. With 2 cores the load generator itself runs near 100% "
		"of its CPU (load_cpu_percent in the JSON), so req/s is partly its limit: the "
		".cpu rows compare the servers' own cost.");
	for (size_t i = 0; i < sizeof(conns) / sizeof(conns[0]); i++) {
		struct contender c[3] = {
			{ .kind = S_CORIO_ECHO, .name = "corio" },
			{ .kind = S_EPOLL, .name = "epoll" },
			{ .kind = S_UV, .name = "libuv" },
		};
		char tag[32];

		measure("echo", c, 3, conns[i], o);
		snprintf(tag, sizeof(tag), "echo.64B.c%d", conns[i]);
		add_rows("echo", tag, &c[0], &c[1], 1.2);
		add_rows("echo", tag, &c[0], &c[2], 1.2);
	}
	return 0;
}

int bench_http(const struct bench_opts *o)
{
	struct contender c[2] = {
		{ .kind = S_CORIO_HTTP, .name = "corio" },
		{ .kind = S_NGINX, .name = "nginx" },
	};

	fprintf(stderr, "http: corio-http, nginx (1 worker) under corio-load ...\n");
	bench_report_legend(
		"http.c100.nginx: keep-alive GET of a 13-byte body over 100 loopback connections; "
		"nginx with one worker and `return 200`; server on CPU 0, corio-load on CPU 1. "
		"req/s: higher is better (target >= 1.3x); .p99: lower is better; .cpu: the "
		"server's CPU time per request.");
	measure("http", c, 2, 100, o);
	add_rows("http", "http.c100", &c[0], &c[1], 1.3);
	return 0;
}
