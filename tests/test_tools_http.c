/*
 * test_tools_http.c - build/bin/corio-http from the outside: each test
 * starts the server as a child (--port 0 --seconds 10, plus its own flags),
 * reads its "listening on" line, talks to it over plain blocking sockets on
 * 127.0.0.1, and stops it with SIGTERM, which must end it with status 0.
 *
 * The binary is found next to this program's directory (build/tests/../bin,
 * or the sanitized build's); when it is missing, each test is skipped.
 * Every socket has 5 s send and receive timeouts, so a server that stops
 * answering fails a test instead of hanging it.
 *
 * --loops 2 gets its own tests: many connections (some pipelining) all
 * answered, every one counted once across the two loops' --stats lines,
 * both loops used, a clean SIGTERM; --max-conns shared by the loops; and
 * --work-us making each request take at least that long.
 *
 * Hostile input: every limit (request line 414, header section 431, header
 * count 431, --max-body 413, Transfer-Encoding 501/400, --idle-ms and
 * --header-ms for a silent client and one sending a byte a second,
 * --max-conns 503) has a test that sends the bad input and checks the
 * answer (or the close), and that a bystander keep-alive client is served
 * promptly while the bad one is in the middle of it and afterwards, and a
 * new client too. --chaos: cancelled connections are reset, deadlines give
 * 504 with X-Corio-Chaos, and the counts add up.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "check.h"

/* ------------------------------------------------------------------------
 * The server process
 * ------------------------------------------------------------------------ */

struct srv {
	pid_t pid;
	int   out;      /* its stdout */
	int   port;
	char  log[8192]; /* what it printed after "listening on" (read at stop) */
};

static char http_bin[PATH_MAX + 32];

/* build/<...>/tests/test_tools_http -> build/<...>/bin/corio-http */
static bool find_bin(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n <= 0)
		return false;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash)
		return false;
	*slash = '\0';
	snprintf(http_bin, sizeof(http_bin), "%s/../bin/corio-http", self);
	return access(http_bin, X_OK) == 0;
}

#define SKIP_IF_NO_BIN()                                                              \
	do {                                                                          \
		if (!find_bin())                                                      \
			CHECK_SKIP_TEST("skip: %s not built\n", http_bin);            \
	} while (0)

/* Reads one line (without its \n) within ms; false on EOF or timeout. */
static bool read_line(int fd, char *buf, size_t cap, int ms)
{
	size_t n = 0;
	uint64_t t0 = corio_now_ns();

	while (n < cap - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int left = ms - (int)check_ms_since(t0);
		if (left <= 0 || poll(&p, 1, left) <= 0)
			return false;
		if (read(fd, buf + n, 1) != 1)
			return false;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
	return true;
}

/* Starts corio-http --port 0 --seconds 10 [args...] (NULL-terminated). */
static void srv_start(struct srv *s, ...)
{
	const char *argv[32] = { http_bin, "--port", "0", "--seconds", "10" };
	int argc = 5, p[2];
	char line[256];
	va_list ap;
	const char *a;

	va_start(ap, s);
	while ((a = va_arg(ap, const char *)) != NULL && argc < 30)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;

	memset(s, 0, sizeof(*s));
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	fflush(NULL);
	s->pid = fork();
	assert_true(s->pid >= 0);
	if (s->pid == 0) {
		dup2(p[1], STDOUT_FILENO);
		execv(http_bin, (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	s->out = p[0];
	if (!read_line(s->out, line, sizeof(line), 10000)) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
		close(s->out);
		fail_msg("%s printed no \"listening on\" line", http_bin);
	}
	if (sscanf(line, "listening on 127.0.0.1:%d", &s->port) != 1 || s->port <= 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
		close(s->out);
		fail_msg("unexpected first line: \"%s\"", line);
	}
}

/* Waits up to ms for the server to exit; its wait status, or -1 (still
 * running). */
static int srv_wait(struct srv *s, int ms)
{
	uint64_t t0 = corio_now_ns();
	int st;

	for (;;) {
		pid_t r = waitpid(s->pid, &st, WNOHANG);
		if (r == s->pid)
			return st;
		if ((int)check_ms_since(t0) >= ms)
			return -1;
		usleep(2000);
	}
}

/* Reads what the server printed after its first line, to EOF. */
static void srv_drain(struct srv *s)
{
	size_t n = 0;
	ssize_t r;

	while (n < sizeof(s->log) - 1 &&
	       (r = read(s->out, s->log + n, sizeof(s->log) - 1 - n)) > 0)
		n += (size_t)r;
	s->log[n] = '\0';
	close(s->out);
	s->out = -1;
}

/* Sends sig and checks a clean exit (status 0) within 3 s; returns the
 * milliseconds it took. */
static uint64_t srv_stop_sig(struct srv *s, int sig)
{
	uint64_t t0 = corio_now_ns();
	char buf[64];
	int st;

	assert_int_equal(kill(s->pid, sig), 0);
	st = srv_wait(s, 3000);
	if (st == -1) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
		close(s->out);
		fail_msg("corio-http still runs 3 s after signal %d", sig);
	}
	srv_drain(s);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("corio-http ended with %s; it printed:\n%s",
			 check_status_str(st, buf, sizeof(buf)), s->log);
	return check_ms_since(t0);
}

static void srv_stop(struct srv *s)
{
	srv_stop_sig(s, SIGTERM);
}

/* ------------------------------------------------------------------------
 * A blocking client
 * ------------------------------------------------------------------------ */

struct client {
	int    fd;
	size_t len;
	char   buf[65536];
};

static void cl_open(struct client *c, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct timeval tv = { .tv_sec = 5 };

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->len = 0;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c->fd >= 0);
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(c->fd, (struct sockaddr *)&a, sizeof(a)), 0);
}

static void cl_close(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static void cl_send(struct client *c, const void *p, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = send(c->fd, (const char *)p + done, n - done, MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			fail_msg("send: %s", strerror(errno));
		done += (size_t)r;
	}
}

static void cl_sends(struct client *c, const char *s)
{
	cl_send(c, s, strlen(s));
}

/* More bytes into the buffer: >0 read, 0 EOF, -errno. */
static ssize_t cl_fill(struct client *c)
{
	ssize_t r;

	if (c->len == sizeof(c->buf))
		return -ENOBUFS;
	do
		r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	c->len += (size_t)r;
	return r;
}

struct resp {
	int    status;
	long   clen;
	bool   close;        /* Connection: close */
	bool   keep_alive;   /* Connection: keep-alive */
	char   head[2048];
	char   body[256];
	size_t body_len;
};

/* Case-sensitive enough for our server: it writes these exact names. */
static const char *head_field(const char *head, const char *name)
{
	const char *p = strstr(head, name);

	return p ? p + strlen(name) : NULL;
}

/* Reads one response (no body when head_req). Fails the test on EOF or a
 * timeout before it is complete. */
static void cl_response(struct client *c, bool head_req, struct resp *r)
{
	char *end;
	size_t hl, need;
	const char *v;

	memset(r, 0, sizeof(*r));
	while (!(c->len >= 4 && (end = memmem(c->buf, c->len, "\r\n\r\n", 4)) != NULL)) {
		ssize_t n = cl_fill(c);
		if (n <= 0)
			fail_msg("response head: %s after %zu bytes: \"%.*s\"",
				 n == 0 ? "EOF" : strerror((int)-n), c->len, (int)c->len, c->buf);
	}
	hl = (size_t)(end - c->buf) + 4;
	assert_true(hl < sizeof(r->head));
	memcpy(r->head, c->buf, hl);
	r->head[hl] = '\0';
	if (sscanf(r->head, "HTTP/1.1 %d ", &r->status) != 1)
		fail_msg("bad status line: %s", r->head);
	v = head_field(r->head, "\r\nContent-Length: ");
	if (!v)
		fail_msg("no Content-Length in:\n%s", r->head);
	r->clen = strtol(v, NULL, 10);
	r->close = strstr(r->head, "\r\nConnection: close\r\n") != NULL;
	r->keep_alive = strstr(r->head, "\r\nConnection: keep-alive\r\n") != NULL;
	need = hl + (head_req ? 0 : (size_t)r->clen);
	assert_true(need <= sizeof(c->buf));
	while (c->len < need) {
		ssize_t n = cl_fill(c);
		if (n <= 0)
			fail_msg("response body: %s", n == 0 ? "EOF" : strerror((int)-n));
	}
	r->body_len = need - hl;
	memcpy(r->body, c->buf + hl, r->body_len < sizeof(r->body) ? r->body_len : sizeof(r->body) - 1);
	memmove(c->buf, c->buf + need, c->len - need);
	c->len -= need;
}

/* The connection is closed by the server within ms: EOF (or a reset), with
 * nothing else left to read. Returns the milliseconds it took. */
static uint64_t cl_expect_closed(struct client *c, int ms)
{
	uint64_t t0 = corio_now_ns();

	for (;;) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		int left = ms - (int)check_ms_since(t0);
		ssize_t n;
		if (left <= 0 || poll(&p, 1, left) <= 0)
			fail_msg("connection still open after %d ms", ms);
		n = cl_fill(c);
		if (n == 0 || n == -ECONNRESET)
			break;
		if (n < 0)
			fail_msg("recv: %s", strerror((int)-n));
		if (c->len)
			fail_msg("unexpected bytes before the close: \"%.*s\"", (int)c->len, c->buf);
	}
	return check_ms_since(t0);
}

static void expect_ok_body(const struct resp *r)
{
	if (r->status != 200)
		fail_msg("status %d, expected 200:\n%s", r->status, r->head);
	assert_int_equal(r->clen, 13);
	assert_int_equal(r->body_len, 13);
	assert_memory_equal(r->body, "Hello, World!", 13);
	assert_contains(r->head, "\r\nContent-Type: text/plain\r\n");
}

/* Expects status with Connection: close on c (status 0: no answer at
 * all), then the close; closes c. */
static void expect_closed_with(struct client *c, int status)
{
	struct resp r;

	if (status) {
		cl_response(c, false, &r);
		if (r.status != status)
			fail_msg("status %d, expected %d:\n%s", r.status, status, r.head);
		assert_true(r.close);
	}
	cl_expect_closed(c, 2000);
	cl_close(c);
}

/* Sends a bad request; expects status, Connection: close, then EOF. */
static void expect_error(int port, const char *req, size_t n, int status)
{
	struct client c;

	cl_open(&c, port);
	cl_send(&c, req, n);
	expect_closed_with(&c, status);
}

/* Sends a good request on a new connection and expects the usual answer. */
static void expect_served(int port, const char *req, size_t n)
{
	struct client c;
	struct resp r;

	cl_open(&c, port);
	cl_send(&c, req, n);
	cl_response(&c, false, &r);
	expect_ok_body(&r);
	cl_close(&c);
}

/* Requests for the limits, built in big. */
static char big[64 * 1024];

/* GET of a target of `len` bytes ("/aaa..."). */
static size_t req_long_target(size_t len)
{
	size_t n = (size_t)sprintf(big, "GET /");

	memset(big + n, 'a', len);
	n += len;
	return n + (size_t)sprintf(big + n, " HTTP/1.1\r\nHost: a\r\n\r\n");
}

/* GET with Host and `count` small headers more. */
static size_t req_many_headers(int count)
{
	size_t n = (size_t)sprintf(big, "GET / HTTP/1.1\r\nHost: a\r\n");

	for (int i = 0; i < count; i++)
		n += (size_t)sprintf(big + n, "X-%d: v\r\n", i);
	return n + (size_t)sprintf(big + n, "\r\n");
}

static const char GET[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

/* ------------------------------------------------------------------------
 * Tests
 * ------------------------------------------------------------------------ */

static void test_get(void **state)
{
	struct srv s;
	struct client c;
	struct resp r;

	SKIP_IF_NO_BIN();
	srv_start(&s, NULL);
	cl_open(&c, s.port);
	cl_sends(&c, GET);
	cl_response(&c, false, &r);
	expect_ok_body(&r);
	assert_false(r.close);
	/* Keep-alive: the same connection serves again. */
	cl_sends(&c, "GET /other?x=1 HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n");
	cl_response(&c, false, &r);
	expect_ok_body(&r);
	cl_close(&c);
	srv_stop(&s);
}

static void test_head(void **state)
{
	struct srv s;
	struct client c;
	struct resp r;

	SKIP_IF_NO_BIN();
	srv_start(&s, NULL);
	cl_open(&c, s.port);
	cl_sends(&c, "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n");
	cl_response(&c, true, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.clen, 13); /* the length a GET would get */
	/* No body came: the next bytes are the next response's. */
	cl_sends(&c, GET);
	cl_response(&c, false, &r);
	expect_ok_body(&r);
	cl_close(&c);
	srv_stop(&s);
}

static void test_pipelining(void **state)
{
	static char many[64 * sizeof(GET)];
	struct srv s;
	struct client c;
	struct resp r;
	size_t n = 0;

	SKIP_IF_NO_BIN();
	srv_start(&s, NULL);
	cl_open(&c, s.port);
	/* GET, HEAD, GET in one write: three answers in that order. */
	cl_sends(&c, "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
		     "HEAD /2 HTTP/1.1\r\nHost: a\r\n\r\n"
		     "GET /3 HTTP/1.1\r\nHost: a\r\n\r\n");
	cl_response(&c, false, &r);
	expect_ok_body(&r);
	cl_response(&c, true, &r);
	assert_int_equal(r.status, 200);
	cl_response(&c, false, &r);
	expect_ok_body(&r);
	assert_int_equal(c.len, 0);

	/* 64 in one write, the last one asking to close. */
	for (int i = 0; i < 63; i++) {
		memcpy(many + n, GET, sizeof(GET) - 1);
		n += sizeof(GET) - 1;
	}
	n += (size_t)sprintf(many + n, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
	cl_send(&c, many, n);
	for (int i = 0; i < 64; i++) {
		cl_response(&c, false, &r);
		expect_ok_body(&r);
		assert_int_equal(r.close, i == 63);
	}
	cl_expect_closed(&c, 2000);
	cl_close(&c);
	srv_stop(&s);
}

static void test_http10(void **state)
{
	struct srv s;
	struct client c;
	struct resp r;

	SKIP_IF_NO_BIN();
	srv_start(&s, NULL);
	/* Without keep-alive: one answer, then the server closes. */
	cl_open(&c, s.port);
	cl_sends(&c, "GET / HTTP/1.0\r\n\r\n");
	cl_response(&c, false, &r);
	expect_ok_body(&r);
	assert_true(r.close);
	cl_expect_closed(&c, 2000);
	cl_close(&c);
	/* With it: the connection stays. */
	cl_open(&c, s.port);
	cl_sends(&c, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	cl_response(&c, false, &r);
	expect_ok_body(&r);
	assert_true(r.keep_alive);
	cl_sends(&c, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	cl_response(&c, false, &r);
	expect_ok_body(&r);
	cl_close(&c);
	/* HTTP/1.1 asking to close. */
	cl_open(&c, s.port);
	cl_sends(&c, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
	cl_response(&c, false, &r);
	expect_ok_body(&r);
	assert_true(r.close);
	cl_expect_closed(&c, 2000);
	cl_close(&c);
	srv_stop(&s);
}

#define EXPECT_ERROR(port, lit, status) expect_error(port, lit, sizeof(lit) - 1, status)

static void test_malformed(void **state)
{
	struct srv s;

	SKIP_IF_NO_BIN();
	srv_start(&s, NULL);
	EXPECT_ERROR(s.port, "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400);
	EXPECT_ERROR(s.port, "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
	EXPECT_ERROR(s.port, "GET / HTTP/1.1\nHost: a\n\n", 400);
	EXPECT_ERROR(s.port, "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400);
	EXPECT_ERROR(s.port, "GET / HTTP/1.1\r\n\r\n", 400); /* no Host */
	EXPECT_ERROR(s.port, "\x00\x01\x02\xff garbage\r\n\r\n", 400);
	EXPECT_ERROR(s.port, "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505);
	EXPECT_ERROR(s.port, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
			     "0\r\n\r\n", 501);
	EXPECT_ERROR(s.port, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
			     "Content-Length: 2\r\n\r\nab", 400);
	/* A good request, then a bad one, in one write: 200, then 400. */
	{
		struct client c;
		struct resp r;
		cl_open(&c, s.port);
		cl_sends(&c, "GET / HTTP/1.1\r\nHost: a\r\n\r\nBAD\r\n\r\n");
		cl_response(&c, false, &r);
		expect_ok_body(&r);
		cl_response(&c, false, &r);
		assert_int_equal(r.status, 400);
		assert_true(r.close);
		cl_expect_closed(&c, 2000);
		cl_close(&c);
	}
	srv_stop(&s);
}

/* 405 with the body skipped: the connection goes on. */
static void test_method_not_allowed(void **state)
{
	struct srv s;
	struct client c;
	struct resp r;

	SKIP_IF_NO_BIN();
	srv_start(&s, NULL);
	cl_open(&c, s.port);
	cl_sends(&c, "POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello=world"
		     "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
	cl_response(&c, false, &r);
	assert_int_equal(r.status, 405);
	assert_contains(r.head, "\r\nAllow: GET, HEAD\r\n");
	assert_false(r.close);
	cl_response(&c, false, &r);
	expect_ok_body(&r);
	/* A body that arrives in pieces, after the answer. */
	cl_sends(&c, "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n12345");
	cl_response(&c, false, &r);
	assert_int_equal(r.status, 405);
	usleep(20000);
	cl_sends(&c, "67890GET / HTTP/1.1\r\nHost: a\r\n\r\n");
	cl_response(&c, false, &r);
	expect_ok_body(&r);
	cl_close(&c);
	srv_stop(&s);
}

static void test_limits(void **state)
{
	struct srv s;
	size_t n;

	SKIP_IF_NO_BIN();
	srv_start(&s, NULL);
	/* A 9 KiB request line. */
	n = req_long_target(9 * 1024);
	expect_error(s.port, big, n, 414);
	/* 9 KiB of headers. */
	n = (size_t)sprintf(big, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (int i = 0; i < 80; i++) {
		n += (size_t)sprintf(big + n, "X-Filler-%02d: ", i);
		memset(big + n, 'v', 103);
		n += 103;
		n += (size_t)sprintf(big + n, "\r\n");
	}
	n += (size_t)sprintf(big + n, "\r\n");
	assert_true(n > 9 * 1024);
	expect_error(s.port, big, n, 431);
	/* 101 small headers. */
	n = req_many_headers(100);
	expect_error(s.port, big, n, 431);
	/* Just under the limits: served. */
	n = (size_t)sprintf(big, "GET /");
	memset(big + n, 'a', 8000);
	n += 8000;
	n += (size_t)sprintf(big + n, " HTTP/1.1\r\nHost: a\r\nX: ");
	memset(big + n, 'v', 8000);
	n += 8000;
	n += (size_t)sprintf(big + n, "\r\n\r\n");
	expect_served(s.port, big, n);
	srv_stop(&s);
}

/* Slowloris: a request must be complete within --idle-ms of its start. */
static void test_slowloris(void **state)
{
	struct srv s;
	struct client c, d, e;
	struct resp r;
	uint64_t ms, t0;

	SKIP_IF_NO_BIN();
	srv_start(&s, "--idle-ms", "200", NULL);
	/* Half a request, then nothing. */
	cl_open(&c, s.port);
	cl_sends(&c, "GET / HTTP/1.1\r\nHo");
	/* An idle connection, and one dripping a byte every 40 ms. */
	cl_open(&d, s.port);
	cl_open(&e, s.port);
	t0 = corio_now_ns();
	for (const char *p = GET; *p && check_ms_since(t0) < 1500; p++) {
		struct pollfd pf = { .fd = e.fd, .events = POLLIN };
		if (send(e.fd, p, 1, MSG_NOSIGNAL) != 1 || poll(&pf, 1, 40) != 0)
			break; /* closed (or answered: checked below) */
	}
	ms = check_ms_since(t0);
	assert_between(ms, 150, 1000);
	cl_expect_closed(&e, 1000);
	ms = cl_expect_closed(&c, 1000);
	(void)ms;
	cl_expect_closed(&d, 1000);
	cl_close(&c);
	cl_close(&d);
	cl_close(&e);

	/* The half request alone, timed from its start. */
	cl_open(&c, s.port);
	t0 = corio_now_ns();
	cl_sends(&c, "GET / HTTP/1.1\r\nHo");
	cl_expect_closed(&c, 1000);
	assert_between(check_ms_since(t0), 150, 1000);
	cl_close(&c);

	/* Each completed request starts a new window. */
	cl_open(&c, s.port);
	for (int i = 0; i < 4; i++) {
		usleep(120000);
		cl_sends(&c, GET);
		cl_response(&c, false, &r);
		expect_ok_body(&r);
	}
	cl_close(&c);
	srv_stop(&s);
}

/* One GET on a new connection: the status, or -1 if the connection was
 * closed or reset before a whole response came. */
static int try_get(int port)
{
	struct client c;
	int status = -1;
	char *end = NULL;

	cl_open(&c, port);
	cl_sends(&c, GET);
	while (!(c.len >= 4 && (end = memmem(c.buf, c.len, "\r\n\r\n", 4)) != NULL))
		if (cl_fill(&c) <= 0)
			break;
	if (end && sscanf(c.buf, "HTTP/1.1 %d ", &status) != 1)
		status = -1;
	cl_close(&c);
	return status;
}

static void test_max_conns(void **state)
{
	struct srv s;
	struct client a, b, x;
	struct resp r;
	uint64_t t0;
	bool served = false;

	SKIP_IF_NO_BIN();
	srv_start(&s, "--max-conns", "2", NULL);
	cl_open(&a, s.port);
	cl_open(&b, s.port);
	/* Both are served (and so counted by the server) ... */
	cl_sends(&a, GET);
	cl_response(&a, false, &r);
	expect_ok_body(&r);
	cl_sends(&b, GET);
	cl_response(&b, false, &r);
	expect_ok_body(&r);
	/* ... so a third gets 503 and is closed. */
	cl_open(&x, s.port);
	cl_response(&x, false, &r);
	assert_int_equal(r.status, 503);
	assert_true(r.close);
	cl_expect_closed(&x, 2000);
	cl_close(&x);
	/* The first two still work. */
	cl_sends(&a, GET);
	cl_response(&a, false, &r);
	expect_ok_body(&r);
	/* One leaves: room for a new one (once the server saw the close). */
	cl_close(&a);
	t0 = corio_now_ns();
	while (!served && check_ms_since(t0) < 3000) {
		int st = try_get(s.port);
		served = st == 200;
		if (!served) {
			/* Refused meanwhile: 503, or a reset if our request
			 * reached the closed socket first. */
			if (st != 503 && st != -1)
				fail_msg("status %d while waiting for room", st);
			usleep(20000);
		}
	}
	assert_true(served);
	cl_close(&b);
	srv_stop(&s);
}

/* SIGTERM and SIGINT with connections open (idle, mid-request, mid-body):
 * a prompt exit 0, and every client sees its connection closed. */
static void test_signals(void **state)
{
	static const int sigs[] = { SIGTERM, SIGINT };

	SKIP_IF_NO_BIN();
	for (int k = 0; k < 2; k++) {
		struct srv s;
		struct client c[3];
		struct resp r;
		uint64_t ms;

		srv_start(&s, NULL);
		for (int i = 0; i < 3; i++)
			cl_open(&c[i], s.port);
		cl_sends(&c[0], GET);
		cl_response(&c[0], false, &r);
		expect_ok_body(&r);
		cl_sends(&c[1], "GET / HTTP/1.1\r\nHost");
		cl_sends(&c[2], "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nab");
		usleep(50000);
		ms = srv_stop_sig(&s, sigs[k]);
		assert_between(ms, 0, 1000);
		cl_response(&c[2], false, &r);
		assert_int_equal(r.status, 405);
		for (int i = 0; i < 3; i++) {
			cl_expect_closed(&c[i], 1000);
			cl_close(&c[i]);
		}
	}
}

/* --seconds ends it alone; --stats prints the counters. */
static void test_seconds_and_stats(void **state)
{
	struct srv s;
	struct client c;
	struct resp r;
	char buf[64];
	int st;

	SKIP_IF_NO_BIN();
	srv_start(&s, "--seconds", "0.5", "--stats", NULL);
	cl_open(&c, s.port);
	cl_sends(&c, GET);
	cl_response(&c, false, &r);
	expect_ok_body(&r);
	st = srv_wait(&s, 3000);
	if (st == -1) {
		kill(s.pid, SIGKILL);
		waitpid(s.pid, NULL, 0);
		close(s.out);
		cl_close(&c);
		fail_msg("--seconds 0.5 did not stop it within 3 s");
	}
	srv_drain(&s);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("exit: %s\n%s", check_status_str(st, buf, sizeof(buf)), s.log);
	assert_contains(s.log, "stopped (--seconds elapsed)");
	assert_contains(s.log, "loop 0: connections=1 ");
	assert_contains(s.log, "total (1 loop): connections=1 ");
	assert_contains(s.log, "requests=1 ");
	assert_contains(s.log, " tasks_spawned=");
	cl_expect_closed(&c, 1000);
	cl_close(&c);
}

/* Random bytes on many connections: the server answers or closes each,
 * and still serves afterwards. */
static void test_garbage(void **state)
{
	static const char pieces[][24] = {
		"GET ", "HEAD ", "/", " HTTP/1.1", "\r\n", "\n", "\r", "Host: a", ":", " ",
		"Content-Length: 3", "Transfer-Encoding: x", "\x00", "\xff", "%", "\t", "\r\n\r\n",
	};
	uint64_t x = 0x2545f4914f6cdd1du;
	struct srv s;
	struct client c;
	struct resp r;
	char buf[512];

	SKIP_IF_NO_BIN();
	srv_start(&s, "--idle-ms", "300", NULL);
	for (int i = 0; i < 100; i++) {
		size_t n = 0;
		int parts = 1 + i % 12;
		for (int p = 0; p < parts; p++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			if (x % 5 == 0) {
				buf[n++] = (char)(x >> 24);
			} else {
				const char *q = pieces[(x >> 8) % (sizeof(pieces) / sizeof(pieces[0]))];
				size_t l = q[0] ? strlen(q) : 1;
				memcpy(buf + n, q, l);
				n += l;
			}
		}
		cl_open(&c, s.port);
		cl_send(&c, buf, n);
		shutdown(c.fd, SHUT_WR);
		/* Whatever comes back (answers, EOF, a reset), it ends. */
		for (int k = 0; k < 100; k++) {
			ssize_t got = cl_fill(&c);
			if (got <= 0) {
				assert_true(got == 0 || got == -ECONNRESET);
				break;
			}
			c.len = 0;
		}
		cl_close(&c);
	}
	cl_open(&c, s.port);
	cl_sends(&c, GET);
	cl_response(&c, false, &r);
	expect_ok_body(&r);
	cl_close(&c);
	srv_stop(&s);
}

/* The number after "<label>: <key>=" in the --stats lines; fails the test
 * if absent. */
static long stat_num(const char *log, const char *label, const char *key)
{
	char pat[64];
	const char *line, *p, *eol;

	snprintf(pat, sizeof(pat), "\n%s: ", label);
	line = strstr(log, pat);
	if (!line)
		fail_msg("no \"%s\" line in:\n%s", label, log);
	eol = strchr(line + 1, '\n');
	snprintf(pat, sizeof(pat), " %s=", key);
	p = strstr(line, pat);
	if (!p || (eol && p > eol))
		fail_msg("no %s= on the \"%s\" line in:\n%s", key, label, log);
	return strtol(p + strlen(pat), NULL, 10);
}

/* --loops 2: 64 connections at once, each with three keep-alive GETs (every
 * fourth connection pipelines them), all answered, with 50 us of --work-us
 * on both loops; the counters add up. */
static void test_loops(void **state)
{
	enum { N = 64 };
	static struct client c[N];
	struct srv s;
	struct resp r;
	long conns0, conns1;

	SKIP_IF_NO_BIN();
	srv_start(&s, "--loops", "2", "--stats", "--work-us", "50", NULL);
	for (int i = 0; i < N; i++)
		cl_open(&c[i], s.port);
	for (int i = 0; i < N; i++) {
		if (i % 4 == 0) {
			for (int k = 0; k < 3; k++)
				cl_sends(&c[i], GET);
			for (int k = 0; k < 3; k++) {
				cl_response(&c[i], false, &r);
				expect_ok_body(&r);
			}
			continue;
		}
		for (int k = 0; k < 3; k++) {
			cl_sends(&c[i], GET);
			cl_response(&c[i], false, &r);
			expect_ok_body(&r);
		}
	}
	/* All still open: the stop cancels them on both loops. */
	srv_stop(&s);
	for (int i = 0; i < N; i++) {
		cl_expect_closed(&c[i], 1000);
		cl_close(&c[i]);
	}
	assert_contains(s.log, "stopped (SIGTERM)");
	conns0 = stat_num(s.log, "loop 0", "connections");
	conns1 = stat_num(s.log, "loop 1", "connections");
	assert_int_equal(conns0 + conns1, N);
	assert_true(conns0 > 0 && conns1 > 0);
	assert_int_equal(stat_num(s.log, "total (2 loops)", "connections"), N);
	assert_int_equal(stat_num(s.log, "total (2 loops)", "requests"), 3 * N);
	assert_int_equal(stat_num(s.log, "total (2 loops)", "answered_200"), 3 * N);
	assert_int_equal(stat_num(s.log, "loop 0", "requests") + stat_num(s.log, "loop 1", "requests"),
			 3 * N);
	assert_true(stat_num(s.log, "loop 1", "tasks_spawned") > 0);
}

/* --max-conns is the server's limit, whichever loop a connection lands on. */
static void test_loops_max_conns(void **state)
{
	enum { N = 10, MAX = 3 };
	struct client c[N];
	struct srv s;
	struct resp r;
	int served = 0, refused = 0;

	SKIP_IF_NO_BIN();
	srv_start(&s, "--loops", "2", "--max-conns", "3", NULL);
	for (int i = 0; i < N; i++) {
		cl_open(&c[i], s.port);
		cl_sends(&c[i], GET);
		cl_response(&c[i], false, &r);
		if (r.status == 200) {
			expect_ok_body(&r);
			served++;
		} else {
			assert_int_equal(r.status, 503);
			assert_true(r.close);
			cl_expect_closed(&c[i], 2000);
			refused++;
		}
	}
	assert_int_equal(served, MAX);
	assert_int_equal(refused, N - MAX);
	for (int i = 0; i < N; i++)
		cl_close(&c[i]);
	srv_stop(&s);
}

/* --work-us: every request costs at least that much time to answer. */
static void test_work_us(void **state)
{
	struct srv s;
	struct client c;
	struct resp r;
	uint64_t t0, ms;

	SKIP_IF_NO_BIN();
	srv_start(&s, "--work-us", "5000", "--stats", NULL);
	cl_open(&c, s.port);
	t0 = corio_now_ns();
	for (int i = 0; i < 10; i++) {
		cl_sends(&c, GET);
		cl_response(&c, false, &r);
		expect_ok_body(&r);
	}
	ms = check_ms_since(t0);
	/* 10 x 5 ms of CPU; a calibration slightly off still gives most. */
	if (ms < 40)
		fail_msg("10 requests with --work-us 5000 took only %llu ms",
			 (unsigned long long)ms);
	cl_close(&c);
	srv_stop(&s);
	assert_contains(s.log, "work: 5000 us per request = ");
}

/* ------------------------------------------------------------------------
 * Hostile input: each limit, with a bystander served throughout
 * ------------------------------------------------------------------------ */

/* A GET on a keep-alive connection, answered 200 within 1 s: the server
 * still serves others. */
static void served_promptly(struct client *by)
{
	struct resp r;
	uint64_t t0 = corio_now_ns();

	cl_sends(by, GET);
	cl_response(by, false, &r);
	expect_ok_body(&r);
	assert_between(check_ms_since(t0), 0, 1000 * CHECK_TIME_SCALE);
}

/* A new connection is served too. */
static void fresh_served(int port)
{
	struct client c;

	cl_open(&c, port);
	served_promptly(&c);
	cl_close(&c);
}

/*
 * Sends req (n bytes) on a new connection in two parts, split at `split`,
 * with a bystander served before, between the parts (the bad request is
 * in the middle of arriving) and after. Then expects `status` with
 * Connection: close and the close; status 0: the close alone, no answer.
 */
static void hostile(int port, const char *req, size_t n, size_t split, int status)
{
	struct client by, c;

	cl_open(&by, port);
	served_promptly(&by);
	cl_open(&c, port);
	cl_send(&c, req, split);
	usleep(20000);
	served_promptly(&by);
	/* The server may answer and close before the rest is sent: a send
	 * into a closed connection fails, which is fine here. */
	(void)!send(c.fd, req + split, n - split, MSG_NOSIGNAL);
	expect_closed_with(&c, status);
	served_promptly(&by);
	cl_close(&by);
	fresh_served(port);
}

static void test_hostile_request_line(void **state)
{
	struct srv s;
	size_t n;

	SKIP_IF_NO_BIN();
	srv_start(&s, NULL);
	/* 9 KiB of target: 414 once the 8193rd byte of the line is seen,
	 * before the line ends. */
	n = req_long_target(9 * 1024);
	hostile(s.port, big, n, 4096, 414);
	/* A line that never ends, of any bytes: 414 all the same. */
	memset(big, 'G', 10000);
	hostile(s.port, big, 10000, 100, 414);
	srv_stop(&s);
}

static void test_hostile_headers(void **state)
{
	struct srv s;
	size_t n;

	SKIP_IF_NO_BIN();
	srv_start(&s, NULL);
	/* The header section over 8192 bytes: one long value. */
	n = (size_t)sprintf(big, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: ");
	memset(big + n, 'v', 9000);
	n += 9000;
	n += (size_t)sprintf(big + n, "\r\n\r\n");
	hostile(s.port, big, n, 2000, 431);
	/* 101 header lines, each small. */
	n = req_many_headers(100);
	hostile(s.port, big, n, n / 2, 431);
	/* 100 are fine. */
	n = req_many_headers(99);
	expect_served(s.port, big, n);
	srv_stop(&s);
}

/* Bodies are skipped, not read: --max-body bounds what a request may make
 * the server skip; over it, 413 and close. Transfer-Encoding is refused. */
static void test_hostile_body(void **state)
{
	static const char te[] = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
				 "5\r\nhello\r\n0\r\n\r\n";
	static const char te_cl[] = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
				    "Content-Length: 5\r\n\r\nhello";
	static const char te10[] = "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
	struct srv s;
	struct client c;
	struct resp r;
	size_t n;

	SKIP_IF_NO_BIN();
	srv_start(&s, "--max-body", "1000", "--stats", NULL);
	/* Over: 413 as soon as the head is in, whatever follows. */
	n = (size_t)sprintf(big, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n");
	memset(big + n, 'b', 1001);
	hostile(s.port, big, n + 1001, n - 10, 413);
	n = (size_t)sprintf(big, "GET / HTTP/1.1\r\nHost: a\r\n"
				  "Content-Length: 9223372036854775807\r\n\r\n");
	hostile(s.port, big, n, 10, 413);
	/* At the limit: 405, the body skipped, the connection kept. */
	cl_open(&c, s.port);
	n = (size_t)sprintf(big, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n");
	memset(big + n, 'b', 1000);
	n += 1000;
	n += (size_t)sprintf(big + n, "%s", GET);
	cl_send(&c, big, n);
	cl_response(&c, false, &r);
	assert_int_equal(r.status, 405);
	assert_false(r.close);
	cl_response(&c, false, &r);
	expect_ok_body(&r);
	cl_close(&c);
	/* Transfer-Encoding: 501; with Content-Length, or in HTTP/1.0, 400. */
	hostile(s.port, te, sizeof(te) - 1, 20, 501);
	hostile(s.port, te_cl, sizeof(te_cl) - 1, 20, 400);
	hostile(s.port, te10, sizeof(te10) - 1, 20, 400);
	srv_stop(&s);
	assert_int_equal(stat_num(s.log, "total (1 loop)", "413"), 2);
}

/*
 * --idle-ms: a client that sends nothing is closed after it, without an
 * answer, while a bystander sending a GET every 150 ms (each resets its own
 * idle time) stays served. A request's first byte ends the idle time:
 * --header-ms takes over.
 */
static void test_hostile_idle(void **state)
{
	struct srv s;
	struct client by, quiet, late;
	uint64_t t0;
	bool closed = false;

	SKIP_IF_NO_BIN();
	srv_start(&s, "--idle-ms", "800", "--header-ms", "3000", "--stats", NULL);
	cl_open(&by, s.port);
	cl_open(&quiet, s.port);
	cl_open(&late, s.port);
	t0 = corio_now_ns();
	/* late: its first byte at 600 ms, the rest at 1200 ms: past the idle
	 * time, within the header time; answered, and closed by us. */
	while (check_ms_since(t0) < 2500) {
		struct pollfd p = { .fd = quiet.fd, .events = POLLIN };
		uint64_t ms = check_ms_since(t0);
		if (ms >= 600 && ms < 750)
			cl_sends(&late, "G");
		if (ms >= 1200 && ms < 1350 && late.fd >= 0) {
			struct resp r;
			cl_sends(&late, GET + 1);
			cl_response(&late, false, &r);
			expect_ok_body(&r);
			cl_close(&late);
		}
		served_promptly(&by);
		if (!closed && poll(&p, 1, 150) == 1) {
			ms = check_ms_since(t0);
			assert_int_equal(cl_fill(&quiet) <= 0, 1); /* EOF or reset, no answer */
			assert_between(ms, 700, 1800 * CHECK_TIME_SCALE);
			closed = true;
		}
		if (closed)
			usleep(150000);
	}
	assert_true(closed);
	assert_int_equal(late.fd, -1); /* it was answered */
	cl_close(&quiet);
	cl_close(&late);
	cl_close(&by);
	fresh_served(s.port);
	srv_stop(&s);
	assert_int_equal(stat_num(s.log, "total (1 loop)", "timed_out"), 1);
}

/*
 * --header-ms (slowloris): a client sending its head a byte a second is
 * closed --header-ms after its first byte, without an answer; a silent one
 * is not (--idle-ms is longer) and is served when it speaks; a bystander
 * is served throughout.
 */
static void test_hostile_header_timeout(void **state)
{
	struct srv s;
	struct client by, drip, quiet;
	struct resp r;
	uint64_t t0, closed_ms = 0;
	const char *p = GET;

	SKIP_IF_NO_BIN();
	srv_start(&s, "--idle-ms", "6000", "--header-ms", "1500", "--stats", NULL);
	cl_open(&by, s.port);
	cl_open(&quiet, s.port);
	cl_open(&drip, s.port);
	t0 = corio_now_ns();
	while (!closed_ms && check_ms_since(t0) < 4000) {
		struct pollfd pf = { .fd = drip.fd, .events = POLLIN };
		if (*p)
			(void)!send(drip.fd, p++, 1, MSG_NOSIGNAL);
		/* A second between bytes; the bystander every 200 ms. */
		for (int k = 0; k < 5 && !closed_ms; k++) {
			served_promptly(&by);
			if (poll(&pf, 1, 200) == 1) {
				closed_ms = check_ms_since(t0);
				assert_int_equal(cl_fill(&drip) <= 0, 1); /* no answer */
			}
		}
	}
	if (!closed_ms)
		fail_msg("a byte a second: still open after 4 s (--header-ms 1500)");
	assert_between(closed_ms, 1400, 2700 * CHECK_TIME_SCALE);
	/* The silent one is still open (idle 6000), and served. */
	cl_sends(&quiet, GET);
	cl_response(&quiet, false, &r);
	expect_ok_body(&r);
	cl_close(&quiet);
	cl_close(&drip);
	served_promptly(&by);
	cl_close(&by);
	fresh_served(s.port);
	srv_stop(&s);
	assert_int_equal(stat_num(s.log, "total (1 loop)", "timed_out"), 1);
}

/* --max-conns: a burst of connections over the limit all get 503 and are
 * closed, while those admitted are served throughout and afterwards. */
static void test_hostile_max_conns(void **state)
{
	enum { BURST = 40 };
	static struct client x[BURST];
	struct srv s;
	struct client a, b;
	struct resp r;
	int refused = 0;

	SKIP_IF_NO_BIN();
	srv_start(&s, "--max-conns", "2", "--stats", NULL);
	cl_open(&a, s.port);
	cl_open(&b, s.port);
	served_promptly(&a);
	served_promptly(&b);
	for (int i = 0; i < BURST; i++) {
		cl_open(&x[i], s.port);
		if (i % 10 == 0)
			served_promptly(i % 20 ? &a : &b);
	}
	for (int i = 0; i < BURST; i++) {
		cl_response(&x[i], false, &r);
		assert_int_equal(r.status, 503);
		assert_true(r.close);
		cl_expect_closed(&x[i], 2000);
		cl_close(&x[i]);
		refused++;
	}
	served_promptly(&a);
	served_promptly(&b);
	cl_close(&a);
	cl_close(&b);
	/* Room again once the server has seen them go. */
	{
		uint64_t t0 = corio_now_ns();
		int st = -1;
		while (check_ms_since(t0) < 3000 && (st = try_get(s.port)) != 200) {
			/* Not yet: 503, or a reset if our request reached the
			 * closed socket first; the server counted it either way. */
			if (st != 503 && st != -1)
				fail_msg("status %d while waiting for room", st);
			refused++;
			usleep(20000);
		}
		assert_int_equal(st, 200);
	}
	srv_stop(&s);
	assert_true(refused >= BURST);
	assert_int_equal(stat_num(s.log, "total (1 loop)", "rejected"), refused);
}

/* GET /echo/<x> answers <x>; HEAD the same length without it. */
static void test_echo_path(void **state)
{
	struct srv s;
	struct client c;
	struct resp r;

	SKIP_IF_NO_BIN();
	srv_start(&s, NULL);
	cl_open(&c, s.port);
	cl_sends(&c, "GET /echo/abc.123?x=%41 HTTP/1.1\r\nHost: a\r\n\r\n"
		     "HEAD /echo/xy HTTP/1.1\r\nHost: a\r\n\r\n"
		     "GET /echo/ HTTP/1.1\r\nHost: a\r\n\r\n");
	cl_response(&c, false, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.clen, 13);
	assert_memory_equal(r.body, "abc.123?x=%41", 13);
	cl_response(&c, true, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.clen, 2);
	cl_response(&c, false, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.clen, 0);
	cl_sends(&c, GET);
	cl_response(&c, false, &r);
	expect_ok_body(&r);
	cl_close(&c);
	srv_stop(&s);
}

/* --chaos: every connection cancelled within 100 ms is reset (not closed
 * with a FIN); every request's handler waiting past its deadline gets 504
 * with X-Corio-Chaos, on a connection that goes on. The counts add up. */
static void test_chaos(void **state)
{
	struct srv s;
	struct client c;
	struct resp r;
	int n504 = 0, n200 = 0;

	SKIP_IF_NO_BIN();
	srv_start(&s, "--chaos", "7", "--cancel-rate", "1", "--cancel-ms", "100",
		  "--slow-rate", "0", "--stats", NULL);
	for (int i = 0; i < 3; i++) {
		ssize_t got;
		cl_open(&c, s.port);
		/* Answered or not (the cancel may come first), then within
		 * 100 ms of accept a reset, never an orderly close. */
		cl_sends(&c, GET);
		while ((got = cl_fill(&c)) > 0)
			c.len = 0;
		if (got != -ECONNRESET)
			fail_msg("a cancelled connection: recv gave %zd, expected a reset", got);
		cl_close(&c);
	}
	srv_stop(&s);
	assert_int_equal(stat_num(s.log, "total (1 loop)", "chaos_cancels"), 3);
	assert_int_equal(stat_num(s.log, "total (1 loop)", "unexpected"), 0);

	srv_start(&s, "--chaos", "9", "--cancel-rate", "0", "--deadline-ms", "20",
		  "--slow-rate", "1", "--stats", NULL);
	cl_open(&c, s.port);
	for (int i = 0; i < 40; i++) {
		cl_sends(&c, GET);
		cl_response(&c, false, &r);
		if (r.status == 504) {
			assert_contains(r.head, "\r\nX-Corio-Chaos: deadline\r\n");
			assert_false(r.close);
			n504++;
		} else {
			expect_ok_body(&r);
			n200++;
		}
	}
	cl_close(&c);
	srv_stop(&s);
	/* Waits of [0, 40] ms against deadlines of [10, 30]: about half. */
	assert_true(n504 > 0 && n200 > 0);
	assert_int_equal(stat_num(s.log, "total (1 loop)", "deadline_504"), n504);
	assert_int_equal(stat_num(s.log, "total (1 loop)", "504"), n504);
	assert_int_equal(stat_num(s.log, "total (1 loop)", "requests"), 40);
	assert_int_equal(stat_num(s.log, "total (1 loop)", "unexpected"), 0);
}

static void test_usage(void **state)
{
	int p[2], st;
	char out[4096];
	ssize_t n;
	size_t len = 0;

	SKIP_IF_NO_BIN();
	/* --help: usage on stdout, status 0; a bad flag: status 2. */
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(p[1], STDOUT_FILENO);
		execl(http_bin, http_bin, "--help", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	while (len < sizeof(out) - 1 && (n = read(p[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(p[0]);
	waitpid(pid, &st, 0);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_contains(out, "usage: corio-http --port N");
	assert_contains(out, "--idle-ms");
	assert_contains(out, "--header-ms");
	assert_contains(out, "--max-body");
	assert_contains(out, "--chaos");
	assert_contains(out, "414");

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		dup2(devnull, STDERR_FILENO);
		execl(http_bin, http_bin, "--port", "0", "--body-size", "x", (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &st, 0);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 2);
	/* A chaos option without --chaos, and a bad --max-body: status 2. */
	for (int k = 0; k < 2; k++) {
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			int devnull = open("/dev/null", O_WRONLY);
			dup2(devnull, STDERR_FILENO);
			if (k == 0)
				execl(http_bin, http_bin, "--port", "0", "--cancel-rate", "0.5",
				      (char *)NULL);
			else
				execl(http_bin, http_bin, "--port", "0", "--max-body", "-1", (char *)NULL);
			_exit(127);
		}
		waitpid(pid, &st, 0);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 2);
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		CHECK_TEST(test_get),
		CHECK_TEST(test_head),
		CHECK_TEST(test_pipelining),
		CHECK_TEST(test_http10),
		CHECK_TEST(test_malformed),
		CHECK_TEST(test_method_not_allowed),
		CHECK_TEST(test_limits),
		CHECK_TEST(test_slowloris),
		CHECK_TEST(test_max_conns),
		CHECK_TEST(test_signals),
		CHECK_TEST(test_seconds_and_stats),
		CHECK_TEST(test_garbage),
		CHECK_TEST(test_loops),
		CHECK_TEST(test_loops_max_conns),
		CHECK_TEST(test_work_us),
		CHECK_TEST(test_hostile_request_line),
		CHECK_TEST(test_hostile_headers),
		CHECK_TEST(test_hostile_body),
		CHECK_TEST(test_hostile_idle),
		CHECK_TEST(test_hostile_header_timeout),
		CHECK_TEST(test_hostile_max_conns),
		CHECK_TEST(test_echo_path),
		CHECK_TEST(test_chaos),
		CHECK_TEST(test_usage),
	};

	check_init(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("tools_http", tests, NULL, NULL);
}
