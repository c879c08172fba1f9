/*
 * test_tools_echo.c - the echo server and the load generator as programs:
 * build/bin/corio-echo run as a child (found beside this test binary, at
 * build/tests/../bin), driven by build/bin/corio-load and by raw clients.
 *
 *   - corio-load closed loop against corio-echo: requests, no errors;
 *     open loop at 2000 req/s gets about that rate; SIGTERM ends the
 *     server with status 0 within 2 s
 *   - --idle-ms closes a silent connection (recv sees EOF), not a busy one
 *   - --max-conns closes the connections beyond the limit at once, and
 *     admits again once one has gone; --stats prints the counters at exit
 *   - clients that send garbage, reset mid-stream or half-close do not hurt
 *     the server
 *   - corio-load http against a small HTTP server written here: 200s are
 *     requests, anything else is an error (exit status 1)
 *   - corio-load fails (status 1, with the reason) when it cannot connect,
 *     and refuses bad command lines (status 2)
 *   - --loops 2: both loops listen on the port picked (SO_REUSEPORT), many
 *     raw clients and corio-load are all echoed, --stats gives each loop's
 *     counters and their total, SIGTERM ends it with status 0; --max-conns
 *     counts the connections of both loops together
 *   - corio-load checks every echoed byte against the connection's own
 *     stream: a server that changes one byte is caught (verify errors), and
 *     corio-load http --echo-path checks corio-http's bodies the same way
 *   - corio-load's chaos (resets, half-closes, stalls, sizes drawn at
 *     random) against corio-echo: no error on either side; corio-echo
 *     --chaos resets the connections it cancels, which corio-load
 *     --server-chaos counts as dropped (and, without it, as errors)
 *
 * Each test skips when the tools are not built.
 */
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>

#include "check.h"

#define LINE_WAIT_MS 5000
#define EXIT_WAIT_MS 2000

static char echo_bin[4096], load_bin[4096];

/* A child left running by a failed assert; killed in the teardown. */
static pid_t live_child = -1;

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* build/tests/<this> -> build/bin/<name>; false if it is not there. */
static bool find_tool(const char *name, char *out, size_t cap)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n <= 0)
		return false;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash)
		return false;
	*slash = '\0';
	if ((size_t)snprintf(out, cap, "%.3000s/../bin/%s", self, name) >= cap)
		return false;
	return access(out, X_OK) == 0;
}

#define NEED_TOOLS()                                                                      \
	do {                                                                              \
		if (!find_tool("corio-echo", echo_bin, sizeof(echo_bin)) ||               \
		    !find_tool("corio-load", load_bin, sizeof(load_bin))) {               \
			CHECK_SKIP_TEST("skip: build/bin/corio-echo or corio-load not built\n"); \
			return;                                                           \
		}                                                                         \
	} while (0)

/* ------------------------------------------------------------------------
 * Children
 * ------------------------------------------------------------------------ */

struct child {
	pid_t pid;
	int   out;          /* its stdout and stderr */
	int   port;         /* from "listening on ...:PORT" */
	char  buf[16384];   /* what it printed */
	size_t len;
};

/* Starts argv[0] with stdout+stderr into a pipe. */
static void child_start(struct child *c, char *const argv[])
{
	int fd[2];

	memset(c, 0, sizeof(*c));
	assert_int_equal(pipe2(fd, O_CLOEXEC), 0);
	fflush(NULL);
	c->pid = fork();
	assert_true(c->pid >= 0);
	if (c->pid == 0) {
		dup2(fd[1], STDOUT_FILENO);
		dup2(fd[1], STDERR_FILENO);
		/* Not cmocka's handlers; and no signal blocked. */
		for (int s = 1; s < 32; s++)
			if (s != SIGKILL && s != SIGSTOP)
				signal(s, SIG_DFL);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execv(argv[0], argv);
		_exit(127);
	}
	close(fd[1]);
	c->out = fd[0];
	live_child = c->pid;
}

/* Reads what the child printed, for up to ms (0: what is there now).
 * Stops early at EOF or once `until` (if not NULL) appears. */
static void child_read(struct child *c, int ms, const char *until)
{
	uint64_t t_end = mono_ms() + (uint64_t)ms;

	for (;;) {
		struct pollfd p = { .fd = c->out, .events = POLLIN };
		int64_t left = (int64_t)(t_end - mono_ms());
		ssize_t n;

		if (until && strstr(c->buf, until))
			return;
		if (c->out < 0 || c->len + 1 >= sizeof(c->buf))
			return;
		if (poll(&p, 1, left > 0 ? (int)left : 0) <= 0)
			return;
		n = read(c->out, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
		if (n <= 0)
			return;
		c->len += (size_t)n;
		c->buf[c->len] = '\0';
	}
}

/* Waits up to ms for the child to exit; its wait status, or -1 if it is
 * still running. */
static int child_wait(struct child *c, int ms)
{
	uint64_t t_end = mono_ms() + (uint64_t)ms;
	int st;

	for (;;) {
		pid_t r = waitpid(c->pid, &st, WNOHANG);
		if (r == c->pid) {
			live_child = -1;
			child_read(c, 100, NULL);
			close(c->out);
			c->out = -1;
			return st;
		}
		if (mono_ms() >= t_end)
			return -1;
		child_read(c, 10, NULL);
	}
}

/* Kills and reaps a child that would not end. */
static void child_kill(struct child *c)
{
	kill(c->pid, SIGKILL);
	waitpid(c->pid, NULL, 0);
	live_child = -1;
	if (c->out >= 0)
		close(c->out);
	c->out = -1;
}

/* corio-echo --port 0 --seconds 10 plus the extra arguments (NULL-ended,
 * at most 16); waits for its "listening on 127.0.0.1:PORT" line. */
static void echo_startv(struct child *c, const char *const *extra)
{
	char *argv[24];
	int n = 0;
	const char *line;

	argv[n++] = echo_bin;
	argv[n++] = (char *)"--port";
	argv[n++] = (char *)"0";
	argv[n++] = (char *)"--seconds";
	argv[n++] = (char *)"10";
	for (int i = 0; extra && extra[i] && i < 16; i++)
		argv[n++] = (char *)extra[i];
	argv[n] = NULL;
	child_start(c, argv);
	child_read(c, LINE_WAIT_MS, "\n");
	line = strstr(c->buf, "listening on 127.0.0.1:");
	if (!line) {
		child_kill(c);
		fail_msg("corio-echo printed no \"listening on\" line:\n%s", c->buf);
	}
	c->port = atoi(line + strlen("listening on 127.0.0.1:"));
	assert_true(c->port > 0 && c->port < 65536);
}

static void echo_start(struct child *c, const char *a1, const char *a2, const char *a3,
		       const char *a4)
{
	const char *extra[] = { a1, a2, a3, a4, NULL };

	echo_startv(c, extra);
}

/* Stops the server with sig; it must exit with status 0 within 2 s. */
static void echo_stop(struct child *c, int sig)
{
	char why[64];
	uint64_t t0 = mono_ms();
	int st;

	assert_int_equal(kill(c->pid, sig), 0);
	st = child_wait(c, EXIT_WAIT_MS);
	if (st == -1) {
		child_kill(c);
		fail_msg("corio-echo still running %d ms after signal %d:\n%s", EXIT_WAIT_MS, sig,
			 c->buf);
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("corio-echo ended with %s after signal %d:\n%s",
			 check_status_str(st, why, sizeof(why)), sig, c->buf);
	assert_true(mono_ms() - t0 <= EXIT_WAIT_MS);
}

/* Runs a program to its end (killed after 30 s); its output in c->buf,
 * its exit status returned (-1 if it did not exit normally). */
static int run_tool(struct child *c, char *const argv[])
{
	char why[64];
	int st;

	child_start(c, argv);
	st = child_wait(c, 30000);
	if (st == -1) {
		child_kill(c);
		fail_msg("%s still running after 30 s:\n%s", argv[0], c->buf);
	}
	if (!WIFEXITED(st)) {
		print_error("%s ended with %s:\n%s\n", argv[0], check_status_str(st, why, sizeof(why)),
			    c->buf);
		return -1;
	}
	return WEXITSTATUS(st);
}

/* The number after "key": in a JSON object; fails the test if absent. */
static double json_num(const char *json, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(json, pat);
	if (!p)
		fail_msg("no \"%s\" in:\n%s", key, json);
	return strtod(p + strlen(pat), NULL);
}

static int my_teardown(void **state)
{
	if (live_child > 0) {
		kill(live_child, SIGKILL);
		waitpid(live_child, NULL, 0);
		live_child = -1;
	}
	return check_teardown(state);
}

#define TOOLS_TEST(f) cmocka_unit_test_setup_teardown(f, check_setup, my_teardown)

/* ------------------------------------------------------------------------
 * Raw clients (blocking sockets, every wait bounded)
 * ------------------------------------------------------------------------ */

static int client_connect(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* recv with a poll timeout: bytes, 0 at EOF, -errno, or -ETIMEDOUT. */
static ssize_t recv_within(int fd, void *buf, size_t n, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t r;

	if (poll(&p, 1, ms) <= 0)
		return -ETIMEDOUT;
	r = recv(fd, buf, n, MSG_DONTWAIT);
	return r < 0 ? -errno : r;
}

/* Sends msg and reads it back, within 2 s. */
static bool echoes(int fd, const char *msg)
{
	size_t n = strlen(msg), got = 0;
	char buf[256];

	if (send(fd, msg, n, MSG_NOSIGNAL) != (ssize_t)n)
		return false;
	while (got < n) {
		ssize_t r = recv_within(fd, buf + got, sizeof(buf) - got, 2000);
		if (r <= 0)
			return false;
		got += (size_t)r;
	}
	return got == n && memcmp(buf, msg, n) == 0;
}

/* Whether the server closes fd within ms: EOF or a reset. */
static bool closed_within(int fd, int ms)
{
	char buf[64];
	uint64_t t_end = mono_ms() + (uint64_t)ms;

	for (;;) {
		int64_t left = (int64_t)(t_end - mono_ms());
		ssize_t r = recv_within(fd, buf, sizeof(buf), left > 0 ? (int)left : 0);
		if (r == 0 || r == -ECONNRESET)
			return true;
		if (r == -ETIMEDOUT || r < 0)
			return false;
	}
}

/* ------------------------------------------------------------------------
 * corio-load against corio-echo
 * ------------------------------------------------------------------------ */

static void test_echo_load(void **state)
{
	struct child srv, load;
	char port[16];
	int rc;

	NEED_TOOLS();
	echo_start(&srv, NULL, NULL, NULL, NULL);
	snprintf(port, sizeof(port), "%d", srv.port);

	/* Closed loop: 10 connections for 1 s. */
	{
		char *argv[] = { load_bin, "echo", "--port", port, "--conns", "10", "--size", "64",
				 "--seconds", "1", "--json", NULL };
		rc = run_tool(&load, argv);
		if (rc != 0)
			fail_msg("corio-load exited %d:\n%s", rc, load.buf);
		print_message("closed loop: %s", load.buf);
		assert_true(json_num(load.buf, "requests") > 0);
		assert_true(json_num(load.buf, "errors") == 0);
		assert_true(json_num(load.buf, "bytes_received") >= json_num(load.buf, "requests") * 64);
	}
	/* Open loop at 2000 req/s: about that many in 1 s. */
	{
		char *argv[] = { load_bin, "echo", "--port", port, "--conns", "10", "--size", "64",
				 "--rate", "2000", "--seconds", "1", "--json", NULL };
		double rps;

		rc = run_tool(&load, argv);
		if (rc != 0)
			fail_msg("corio-load exited %d:\n%s", rc, load.buf);
		print_message("open loop: %s", load.buf);
		rps = json_num(load.buf, "req_per_s");
		assert_true(json_num(load.buf, "errors") == 0);
		if (rps < 1700 || rps > 2100)
			fail_msg("asked 2000 req/s, got %.1f:\n%s", rps, load.buf);
	}
	echo_stop(&srv, SIGTERM);
	(void)state;
}

/* ------------------------------------------------------------------------
 * Idle timeout and max-conns
 * ------------------------------------------------------------------------ */

static void test_idle_timeout(void **state)
{
	struct child srv;
	uint64_t t0;
	int busy, quiet;

	NEED_TOOLS();
	echo_start(&srv, "--idle-ms", "100", NULL, NULL);

	/* A connection that echoes, then goes quiet: closed ~100 ms later. */
	busy = client_connect(srv.port);
	assert_true(echoes(busy, "ping"));
	t0 = mono_ms();
	assert_true(closed_within(busy, 2000));
	assert_true(mono_ms() - t0 >= 80);

	/* One that never says anything. */
	quiet = client_connect(srv.port);
	t0 = mono_ms();
	assert_true(closed_within(quiet, 2000));
	assert_true(mono_ms() - t0 >= 80);
	close(busy);
	close(quiet);

	/* One that keeps talking, every 30 ms for 300 ms, stays open. */
	busy = client_connect(srv.port);
	for (int i = 0; i < 10; i++) {
		assert_true(echoes(busy, "tick"));
		usleep(30000);
	}
	close(busy);
	echo_stop(&srv, SIGINT);
	(void)state;
}

static void test_max_conns_and_stats(void **state)
{
	struct child srv;
	int a, b, c, d = -1;
	uint64_t t_end;
	bool admitted = false;

	NEED_TOOLS();
	echo_start(&srv, "--max-conns", "2", "--stats", NULL);
	a = client_connect(srv.port);
	b = client_connect(srv.port);
	assert_true(echoes(a, "a"));
	assert_true(echoes(b, "b"));
	/* The third is accepted and closed at once. */
	c = client_connect(srv.port);
	assert_true(closed_within(c, 2000));
	close(c);
	/* Once one has gone, a new one is served (the server sees the close
	 * a moment later: retry for up to 2 s). */
	close(a);
	t_end = mono_ms() + 2000;
	while (!admitted && mono_ms() < t_end) {
		d = client_connect(srv.port);
		admitted = echoes(d, "d");
		if (!admitted) {
			close(d);
			d = -1;
			usleep(10000);
		}
	}
	assert_true(admitted);
	assert_true(echoes(b, "b again"));
	/* The open connections are cancelled at shutdown. */
	echo_stop(&srv, SIGTERM);
	assert_true(closed_within(b, 1000));
	assert_true(closed_within(d, 1000));
	close(b);
	close(d);
	assert_contains(srv.buf, "rejected (max-conns) ");
	assert_not_contains(srv.buf, "rejected (max-conns) 0,");
	assert_contains(srv.buf, "tasks spawned");
	assert_contains(srv.buf, "switches");
	assert_contains(srv.buf, "submits");
	assert_contains(srv.buf, "completions");
	assert_contains(srv.buf, "syscalls");
	(void)state;
}

/* ------------------------------------------------------------------------
 * Bad clients
 * ------------------------------------------------------------------------ */

static void test_bad_clients(void **state)
{
	struct child srv;
	static char junk[256 * 1024];
	char buf[4096];
	size_t got = 0;
	int fd;

	NEED_TOOLS();
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)(i * 7 + (i >> 9));
	echo_start(&srv, NULL, NULL, NULL, NULL);

	/* Sends a lot, reads nothing, closes: unread data makes it a reset. */
	for (int i = 0; i < 5; i++) {
		fd = client_connect(srv.port);
		int flags = fcntl(fd, F_GETFL);
		fcntl(fd, F_SETFL, flags | O_NONBLOCK);
		(void)!send(fd, junk, sizeof(junk), MSG_NOSIGNAL);
		close(fd);
	}
	/* Resets mid-stream (SO_LINGER 0). */
	for (int i = 0; i < 5; i++) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		fd = client_connect(srv.port);
		(void)!send(fd, junk, 1000, MSG_NOSIGNAL);
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(fd);
	}
	/* Connects and goes away at once. */
	for (int i = 0; i < 20; i++)
		close(client_connect(srv.port));
	/* Half-close: everything comes back, then EOF. */
	fd = client_connect(srv.port);
	assert_int_equal(send(fd, junk, 3000, MSG_NOSIGNAL), 3000);
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	for (;;) {
		ssize_t r = recv_within(fd, buf + (got < sizeof(buf) ? got : 0),
					got < sizeof(buf) ? sizeof(buf) - got : sizeof(buf), 2000);
		assert_true(r >= 0);
		if (r == 0)
			break;
		got += (size_t)r;
	}
	assert_int_equal(got, 3000);
	assert_memory_equal(buf, junk, 3000);
	close(fd);
	/* Still serving. */
	fd = client_connect(srv.port);
	assert_true(echoes(fd, "still here"));
	close(fd);
	echo_stop(&srv, SIGTERM);
	(void)state;
}

/* ------------------------------------------------------------------------
 * corio-load http, against a small HTTP server of our own
 * ------------------------------------------------------------------------ */

/*
 * A test server, in a forked child until killed (or 20 s): accepts up to 32
 * connections on lfd (TCP_NODELAY) and hands what each sends to
 * chunk(fd, buf, n, &state, ctx); state starts at 0 per connection.
 */
typedef void poll_chunk_fn(int fd, char *buf, size_t n, size_t *state, const void *ctx);

static void poll_server(int lfd, poll_chunk_fn *chunk, const void *ctx)
{
	struct pollfd p[33];
	size_t state[33];
	int n = 1;

	p[0] = (struct pollfd){ .fd = lfd, .events = POLLIN };
	alarm(20);
	for (;;) {
		if (poll(p, (nfds_t)n, -1) < 0)
			continue;
		if (p[0].revents & POLLIN) {
			int fd = accept(lfd, NULL, NULL);
			if (fd >= 0 && n < 33) {
				int one = 1;
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				p[n] = (struct pollfd){ .fd = fd, .events = POLLIN };
				state[n++] = 0;
			} else if (fd >= 0) {
				close(fd);
			}
		}
		for (int i = 1; i < n; i++) {
			char buf[4096];
			ssize_t r;

			if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = read(p[i].fd, buf, sizeof(buf));
			if (r <= 0) {
				close(p[i].fd);
				p[i] = p[n - 1];
				state[i] = state[n - 1];
				n--;
				i--;
				continue;
			}
			chunk(p[i].fd, buf, (size_t)r, &state[i], ctx);
		}
	}
}

/* Answers every request ("\r\n\r\n"-terminated) with the string ctx;
 * state: how much of the terminator has been seen. */
static void http_chunk(int fd, char *buf, size_t n, size_t *matched, const void *ctx)
{
	static const char end[] = "\r\n\r\n";
	const char *resp = ctx;

	for (size_t j = 0; j < n; j++) {
		if (buf[j] == end[*matched])
			(*matched)++;
		else
			*matched = buf[j] == '\r' ? 1 : 0;
		if (*matched == 4) {
			*matched = 0;
			(void)!write(fd, resp, strlen(resp));
		}
	}
}

static void http_server(int lfd, const char *resp)
{
	poll_server(lfd, http_chunk, resp);
}

static pid_t http_start(const char *resp, int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	pid_t pid;

	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(lfd, 64), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGALRM, SIG_DFL);
		http_server(lfd, resp);
		_exit(0);
	}
	close(lfd);
	return pid;
}

static void http_stop(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void test_load_http(void **state)
{
	struct child load;
	char port[16];
	int p, rc;
	pid_t srv;

	NEED_TOOLS();
	srv = http_start("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", &p);
	snprintf(port, sizeof(port), "%d", p);
	{
		char *argv[] = { load_bin, "http", "--port", port, "--path", "/x", "--conns", "4",
				 "--pipeline", "4", "--seconds", "0.5", "--json", NULL };
		rc = run_tool(&load, argv);
		http_stop(srv);
		if (rc != 0)
			fail_msg("corio-load http exited %d:\n%s", rc, load.buf);
		assert_true(json_num(load.buf, "requests") > 0);
		assert_true(json_num(load.buf, "errors") == 0);
	}
	srv = http_start("HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno", &p);
	snprintf(port, sizeof(port), "%d", p);
	{
		char *argv[] = { load_bin, "http", "--port", port, "--conns", "2", "--seconds",
				 "0.3", "--json", NULL };
		rc = run_tool(&load, argv);
		http_stop(srv);
		assert_int_equal(rc, 1);
		assert_true(json_num(load.buf, "status") > 0);
		assert_contains(load.buf, "HTTP status 404");
	}
	/* No Content-Length (chunked): a protocol error, never a hang. */
	srv = http_start("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", &p);
	snprintf(port, sizeof(port), "%d", p);
	{
		char *argv[] = { load_bin, "http", "--port", port, "--conns", "2", "--seconds",
				 "0.3", "--json", NULL };
		rc = run_tool(&load, argv);
		http_stop(srv);
		assert_int_equal(rc, 1);
		assert_true(json_num(load.buf, "protocol") > 0);
	}
	(void)state;
}

/* ------------------------------------------------------------------------
 * corio-load's failures
 * ------------------------------------------------------------------------ */

static void test_load_failures(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	struct child load;
	char port[16];
	int fd, rc;

	NEED_TOOLS();
	/* A port bound but not listening: connections are refused, and nobody
	 * else can take it meanwhile. */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	snprintf(port, sizeof(port), "%d", ntohs(a.sin_port));
	{
		char *argv[] = { load_bin, "echo", "--port", port, "--conns", "3", "--seconds", "0.3",
				 NULL };
		rc = run_tool(&load, argv);
		close(fd);
		assert_int_equal(rc, 1);
		assert_contains(load.buf, "3 of 3 connection(s) failed to connect");
		assert_contains(load.buf, "Connection refused");
	}
	/* Bad command lines: status 2, with a reason. */
	{
		char *argv[] = { load_bin, "echo", "--port", port, NULL };
		assert_int_equal(run_tool(&load, argv), 2);
		assert_contains(load.buf, "--seconds");
	}
	{
		char *argv[] = { load_bin, "echo", "--port", port, "--seconds", "1", "--conns", "10001",
				 NULL };
		assert_int_equal(run_tool(&load, argv), 2);
		assert_contains(load.buf, "--conns");
	}
	{
		char *argv[] = { load_bin, "echo", "--port", port, "--seconds", "3601", NULL };
		assert_int_equal(run_tool(&load, argv), 2);
	}
	{
		char *argv[] = { load_bin, "http", "--port", port, "--seconds", "1", "--path",
				 "no-slash", NULL };
		assert_int_equal(run_tool(&load, argv), 2);
	}
	{
		char *argv[] = { load_bin, "--port", port, NULL };
		assert_int_equal(run_tool(&load, argv), 2);
	}
	{
		char *argv[] = { load_bin, "--help", NULL };
		assert_int_equal(run_tool(&load, argv), 0);
		assert_contains(load.buf, "--rate");
	}
	{
		char *argv[] = { echo_bin, "--help", NULL };
		assert_int_equal(run_tool(&load, argv), 0);
		assert_contains(load.buf, "--idle-ms");
	}
	{
		char *argv[] = { echo_bin, "--port", "70000", NULL };
		assert_int_equal(run_tool(&load, argv), 2);
	}
	(void)state;
}

/* ------------------------------------------------------------------------
 * --loops
 * ------------------------------------------------------------------------ */

/* The number after "<label>: connections accepted " in the server's stats;
 * fails the test if absent. */
static long stat_accepted(const char *out, const char *label)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "corio-echo: %s: connections accepted ", label);
	p = strstr(out, pat);
	if (!p)
		fail_msg("no \"%s\" in:\n%s", pat, out);
	return strtol(p + strlen(pat), NULL, 10);
}

static void test_loops(void **state)
{
	enum { NRAW = 64 };
	struct child srv, load;
	char port[16], msg[64];
	int fds[NRAW], rc;
	long l0, l1;

	NEED_TOOLS();
	echo_start(&srv, "--loops", "2", "--stats", NULL);
	snprintf(port, sizeof(port), "%d", srv.port);

	/* Many connections open at once, each echoed on its own. */
	for (int i = 0; i < NRAW; i++)
		fds[i] = client_connect(srv.port);
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < NRAW; i++) {
			snprintf(msg, sizeof(msg), "connection %d round %d", i, round);
			if (!echoes(fds[i], msg))
				fail_msg("connection %d round %d not echoed", i, round);
		}
	for (int i = 0; i < NRAW; i++)
		close(fds[i]);

	/* corio-load: 32 connections for 1 s, every byte checked. */
	{
		char *argv[] = { load_bin, "echo", "--port", port, "--conns", "32", "--size", "64",
				 "--seconds", "1", "--json", NULL };
		rc = run_tool(&load, argv);
		if (rc != 0)
			fail_msg("corio-load exited %d:\n%s", rc, load.buf);
		assert_true(json_num(load.buf, "requests") > 0);
		assert_true(json_num(load.buf, "errors") == 0);
	}
	echo_stop(&srv, SIGTERM);
	print_message("%s", srv.buf);
	/* Every connection counted once, on one loop or the other; with 96
	 * connections hashed over two listeners, both loops got some. */
	l0 = stat_accepted(srv.buf, "loop 0");
	l1 = stat_accepted(srv.buf, "loop 1");
	assert_int_equal(stat_accepted(srv.buf, "total (2 loops)"), NRAW + 32);
	assert_int_equal(l0 + l1, NRAW + 32);
	assert_true(l0 > 0 && l1 > 0);
	assert_contains(srv.buf, "most open at once ");
	assert_contains(srv.buf, "tasks spawned");
	(void)state;
}

/* --max-conns with two loops: the limit is the server's, not each loop's. */
static void test_loops_max_conns(void **state)
{
	enum { N = 12, MAX = 4 };
	struct child srv;
	int fds[N], open_ok = 0;

	NEED_TOOLS();
	echo_start(&srv, "--loops", "2", "--max-conns", "4");
	/* One at a time, so each is admitted or closed before the next. */
	for (int i = 0; i < N; i++) {
		fds[i] = client_connect(srv.port);
		if (echoes(fds[i], "hello")) {
			open_ok++;
		} else {
			assert_true(closed_within(fds[i], 2000));
			close(fds[i]);
			fds[i] = -1;
		}
	}
	assert_int_equal(open_ok, MAX);
	echo_stop(&srv, SIGINT);
	for (int i = 0; i < N; i++)
		if (fds[i] >= 0) {
			assert_true(closed_within(fds[i], 1000));
			close(fds[i]);
		}
	(void)state;
}

/* ------------------------------------------------------------------------
 * Verification and chaos
 * ------------------------------------------------------------------------ */

/* An echo server that changes the 1000th byte of each connection's stream
 * (bit 0 flipped); forked, killed by the caller. state: bytes seen. */
static void flip_chunk(int fd, char *buf, size_t n, size_t *seen, const void *ctx)
{
	(void)ctx;
	if (*seen <= 999 && *seen + n > 999)
		buf[999 - *seen] ^= 1;
	*seen += n;
	(void)!write(fd, buf, n);
}

static void flipping_echo(int lfd)
{
	poll_server(lfd, flip_chunk, NULL);
}

static void test_load_verifies(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	struct child load;
	char port[16];
	int lfd, rc;
	pid_t pid;

	NEED_TOOLS();
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(lfd, 64), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
	snprintf(port, sizeof(port), "%d", ntohs(a.sin_port));
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGALRM, SIG_DFL);
		flipping_echo(lfd);
		_exit(0);
	}
	close(lfd);
	{
		char *argv[] = { load_bin, "echo", "--port", port, "--conns", "4", "--size", "100",
				 "--seconds", "0.5", "--json", NULL };
		rc = run_tool(&load, argv);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	assert_int_equal(rc, 1);
	/* One wrong byte per connection: one request each. */
	assert_true(json_num(load.buf, "verify") == 4);
	assert_contains(load.buf, "the echoed bytes differ");
	(void)state;
}

/* corio-load's own chaos against a plain corio-echo: resets, half-closes,
 * stalls, sizes from 1 to 3000 bytes, 3 in flight; no error anywhere. */
static void test_load_chaos(void **state)
{
	static const char *const extra[] = { "--loops", "2", "--stats", NULL };
	struct child srv, load;
	char port[16];
	int rc;

	NEED_TOOLS();
	echo_startv(&srv, extra);
	snprintf(port, sizeof(port), "%d", srv.port);
	{
		char *argv[] = { load_bin, "echo", "--port", port, "--conns", "20", "--size", "1",
				 "--size-max", "3000", "--pipeline", "3", "--abort-rate", "0.03",
				 "--half-close-rate", "0.03", "--stall-rate", "0.03", "--stall-ms", "20",
				 "--seed", "42", "--seconds", "1", "--json", NULL };
		rc = run_tool(&load, argv);
		if (rc != 0)
			fail_msg("corio-load exited %d:\n%s", rc, load.buf);
	}
	assert_true(json_num(load.buf, "errors") == 0);
	assert_true(json_num(load.buf, "aborts") > 0);
	assert_true(json_num(load.buf, "half_closes") > 0);
	assert_true(json_num(load.buf, "stalls") > 0);
	assert_true(json_num(load.buf, "server_closes") == 0);
	assert_true(json_num(load.buf, "dropped") == 0);
	assert_true(json_num(load.buf, "bytes_verified") > json_num(load.buf, "requests"));
	echo_stop(&srv, SIGTERM);
	assert_contains(srv.buf, "total (2 loops): ");
	assert_contains(srv.buf, "unexpected errors 0;");
	assert_not_contains(srv.buf, "unexpected:");
	(void)state;
}

/* corio-echo --chaos: the connections it cancels are reset; corio-load
 * --server-chaos counts them as dropped, without it they are errors. */
static void test_server_chaos(void **state)
{
	static const char *const extra[] = { "--chaos", "5", "--cancel-rate", "1", "--cancel-ms",
					     "150", "--slow-rate", "0", "--stats", NULL };
	struct child srv, load;
	char port[16], buf[64];
	int fd, rc;
	ssize_t r;

	NEED_TOOLS();
	echo_startv(&srv, extra);
	snprintf(port, sizeof(port), "%d", srv.port);
	/* A raw client: echoed (all of it, some, or none: the cancel may come
	 * first), then within 150 ms of accept a reset, never an EOF. */
	fd = client_connect(srv.port);
	assert_int_equal(send(fd, "hello", 5, MSG_NOSIGNAL), 5);
	for (size_t got = 0;;) {
		r = recv_within(fd, buf + got, sizeof(buf) - got, 2000);
		if (r <= 0)
			break;
		got += (size_t)r;
		assert_true(got <= 5);
		assert_memory_equal(buf, "hello", got);
	}
	if (r != -ECONNRESET)
		fail_msg("a cancelled connection: recv gave %zd, expected a reset", r);
	close(fd);
	{
		char *argv[] = { load_bin, "echo", "--port", port, "--conns", "10", "--seconds", "1",
				 "--server-chaos", "--json", NULL };
		rc = run_tool(&load, argv);
		if (rc != 0)
			fail_msg("corio-load --server-chaos exited %d:\n%s", rc, load.buf);
		assert_true(json_num(load.buf, "dropped") > 0);
		assert_true(json_num(load.buf, "errors") == 0);
	}
	{
		char *argv[] = { load_bin, "echo", "--port", port, "--conns", "10", "--seconds", "0.5",
				 "--json", NULL };
		rc = run_tool(&load, argv);
		assert_int_equal(rc, 1);
		assert_true(json_num(load.buf, "io") > 0);
	}
	echo_stop(&srv, SIGTERM);
	assert_contains(srv.buf, "unexpected errors 0;");
	assert_not_contains(srv.buf, "chaos cancels 0,");
	(void)state;
}

/* corio-load http --echo-path: corio-http's bodies are the tokens; a server
 * answering anything else is a verify error. */
static void test_load_http_echo_path(void **state)
{
	struct child srv, load;
	char http_bin[4096], port[16];
	int p, rc;
	pid_t fake;

	NEED_TOOLS();
	if (!find_tool("corio-http", http_bin, sizeof(http_bin))) {
		CHECK_SKIP_TEST("skip: build/bin/corio-http not built\n");
		return;
	}
	{
		char *argv[] = { http_bin, "--port", "0", "--seconds", "10", NULL };
		const char *line;
		child_start(&srv, argv);
		child_read(&srv, LINE_WAIT_MS, "\n");
		line = strstr(srv.buf, "listening on 127.0.0.1:");
		if (!line) {
			child_kill(&srv);
			fail_msg("corio-http printed no \"listening on\" line:\n%s", srv.buf);
		}
		srv.port = atoi(line + strlen("listening on 127.0.0.1:"));
	}
	snprintf(port, sizeof(port), "%d", srv.port);
	{
		char *argv[] = { load_bin, "http", "--port", port, "--conns", "8", "--pipeline", "4",
				 "--echo-path", "--seconds", "0.5", "--json", NULL };
		rc = run_tool(&load, argv);
		if (rc != 0) {
			kill(srv.pid, SIGKILL);
			fail_msg("corio-load http --echo-path exited %d:\n%s", rc, load.buf);
		}
		assert_true(json_num(load.buf, "bytes_verified") > 0);
		assert_true(json_num(load.buf, "errors") == 0);
	}
	kill(srv.pid, SIGTERM);
	assert_true(WIFEXITED(child_wait(&srv, EXIT_WAIT_MS)));
	fake = http_start("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", &p);
	snprintf(port, sizeof(port), "%d", p);
	{
		char *argv[] = { load_bin, "http", "--port", port, "--conns", "2", "--echo-path",
				 "--seconds", "0.3", "--json", NULL };
		rc = run_tool(&load, argv);
		http_stop(fake);
		assert_int_equal(rc, 1);
		assert_true(json_num(load.buf, "verify") > 0);
	}
	(void)state;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		TOOLS_TEST(test_echo_load),
		TOOLS_TEST(test_idle_timeout),
		TOOLS_TEST(test_max_conns_and_stats),
		TOOLS_TEST(test_bad_clients),
		TOOLS_TEST(test_load_http),
		TOOLS_TEST(test_load_failures),
		TOOLS_TEST(test_loops),
		TOOLS_TEST(test_loops_max_conns),
		TOOLS_TEST(test_load_verifies),
		TOOLS_TEST(test_load_chaos),
		TOOLS_TEST(test_server_chaos),
		TOOLS_TEST(test_load_http_echo_path),
	};

	check_init(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
