/*
 * corio-http - a small HTTP/1.1 server on corio: one task per connection.
 *
 *   corio-http --port N [--host H] [--loops N] [--max-conns N] [--idle-ms N]
 *              [--header-ms N] [--max-body N] [--body-size N] [--work-us N]
 *              [--seconds S] [--stats] [--chaos SEED [chaos options]]
 *
 * Every GET is answered 200 with a fixed text/plain body ("Hello, World!",
 * or --body-size bytes of it repeated), HEAD the same without the body;
 * GET /echo/<x> gets <x> (the rest of the target, as sent) as its body, so
 * that a load generator can tell each answer is its request's. It is the
 * server behind HTTP load tests and a worked example of corio's sockets,
 * deadline scopes and cancellation.
 *
 * Connections: keep-alive (HTTP/1.1 by default, HTTP/1.0 with Connection:
 * keep-alive) and pipelining: after each read, every complete request in
 * the buffer is parsed (tools/http_parse.h) and answered in order, and the
 * answers go out in one send. Other methods get 405 with Allow: GET, HEAD;
 * their framing is sound, so the body (Content-Length) is skipped and the
 * connection kept. A request the parser rejects gets its status (400, 414,
 * 431, 501, 505) with Connection: close, then the connection is closed;
 * so does one whose Content-Length is over --max-body (413: bodies are
 * skipped, never stored, but skipping one still costs a task its time).
 *
 * Limits: the request line (8192 bytes: 414), the header section (8192
 * bytes, 100 lines: 431) are the parser's (tools/http_parse.h); a body
 * over --max-body is 413; Transfer-Encoding is 501 (chunked bodies are not
 * read), 400 with a Content-Length too.
 *
 * Deadlines: between requests, the first byte of the next one must come
 * within --idle-ms of the end of the previous one (or of the accept); from
 * its first byte, a request must be complete (head and body) within
 * --header-ms (by default the --idle-ms value). One deadline, pushed
 * around each read, covers an idle connection and a request arriving byte
 * by byte (slowloris) alike. A connection that misses it is closed without
 * an answer. Sending answers is bounded by --idle-ms too, so a client that
 * never reads cannot hold a task forever.
 *
 * Closing: the server closes by shutdown(SHUT_WR) and then reads and drops
 * what the client still sends (at most 1 s, 256 KiB) until it closes its
 * side, so that unread bytes do not turn the close into a reset that could
 * destroy the last answer before the client reads it.
 *
 * --max-conns: a connection beyond the limit gets 503 with Connection:
 * close, written without waiting (a fresh socket's buffer always has room),
 * and is closed at once; no task is made for it. 0 means no limit.
 *
 * Stopping: SIGINT, SIGTERM (read from a signalfd by a task) or the end of
 * --seconds close the listener, cancel every connection (their blocking
 * calls return -ECANCELED and they close their sockets), wait until all
 * have ended, and corio_run returns: exit status 0.
 *
 * --loops N runs N loops (corio_run_loops, one thread each; 0 = one per
 * core), each with its own listener on the same port (SO_REUSEPORT), its
 * own acceptor, connections and reaper; tools/srv_loops.h has how they
 * agree on the port, stop together and share the --max-conns count.
 * Loop 0 reads the signals and keeps the --seconds deadline. --stats
 * prints every loop's counters and their total once all loops have ended.
 *
 * --work-us N makes every request's handler burn about N microseconds of
 * CPU before it is answered: a busy loop of xorshift steps whose count is
 * calibrated once at start against CLOCK_THREAD_CPUTIME_ID (the fastest of
 * several trials), so every request does the same work, on any loop. It
 * stands in for an application's own work in scaling benchmarks.
 *
 * --chaos (tools/srv_chaos.h) is for soak runs: a random fraction of the
 * connections runs under a corio_wait_for that cancels its task at a
 * random time (the connection is then reset, SO_LINGER 0), and each
 * request's handler runs in a deadline scope of random length, waiting in
 * it first for some; one that misses its deadline is answered 504 with
 * "X-Corio-Chaos: deadline" (the connection goes on). Any error that
 * nothing here explains is counted as unexpected (--stats).
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <corio.h>

#include "http_parse.h"
#include "srv_chaos.h"
#include "srv_loops.h"

/* A read buffer this large always holds a complete head or an error. */
#define IN_CAP      (HTTP_MAX_HEAD + 1024)
#define OUT_CAP     16384
#define LINGER_MS   1000
#define LINGER_MAX  (256 * 1024)
#define BODY_MAX    (64u << 20)
#define MAX_STATUS  600
#define NANSWERED   8     /* statuses counted: see count_answer */

struct conn;

/* One loop's counters, written by that loop as it ends, read by main()
 * after corio_run_loops has joined every loop's thread. */
struct loop_result {
	bool        done;
	bool        have_stats;
	uint64_t    accepted, rejected, timeouts, requests, answered[NANSWERED];
	uint64_t    chaos_cancels, deadline_504, unexpected;
	corio_stats st;
};

/* One loop's server. main() fills a template with the options; each loop
 * starts from a copy of it. */
struct server {
	/* options, the same on every loop */
	const char *host;
	int         port;
	unsigned    max_conns;
	uint64_t    idle_ms;
	uint64_t    header_ms;
	uint64_t    max_body;
	size_t      body_len;
	double      seconds;
	bool        stats;
	int         nloops;
	uint64_t    work_us, work_iters;
	struct srv_chaos    chaos;
	struct srv_loops   *loops;  /* shared by every loop */
	struct loop_result *res;    /* [nloops] */

	int          idx;           /* this loop's number */
	int          lfd, sfd;
	corio_event *stop, *reap;
	bool         stopping;

	struct conn *live;      /* connections whose task runs */
	struct conn *dead;      /* ended, waiting for the reaper's join */
	size_t       nlive, nunreaped;

	char  *body;
	char   head200[256];    /* the 200 answer's head up to Content-Length's CRLF */
	size_t head200_len;
	time_t date_sec;
	char   date[64];

	uint64_t rng;           /* --chaos choices */

	/* counters for --stats */
	uint64_t accepted, rejected, timeouts, requests, answered[NANSWERED];
	uint64_t chaos_cancels, deadline_504, unexpected;
};

struct conn {
	struct conn   *prev, *next;
	struct server *s;
	corio_task    *task;
	int            fd;
	size_t         len;     /* bytes in in[] */
	size_t         olen;    /* bytes in out[] */
	uint64_t       discard; /* body bytes of the last request still to skip */
	uint64_t       cancel_ms; /* --chaos: cancelled this long after accept (0: never) */
	uint64_t       cancel_at; /* ... not before this corio_now_ns() */
	http_request   req;
	char           in[IN_CAP];
	char           out[OUT_CAP];
};

/* ------------------------------------------------------------------------
 * --work-us: a calibrated busy loop
 * ------------------------------------------------------------------------ */

/* Where burn() results go, so the loop is not optimised away; per thread,
 * as every loop burns on its own. */
static __thread uint64_t work_sink;

/* iters xorshift steps: a dependency chain the compiler cannot shorten. */
static __attribute__((noinline)) uint64_t burn(uint64_t iters)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;

	for (uint64_t i = 0; i < iters; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		__asm__ volatile("" : "+r"(x));
	}
	return x;
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The number of steps burn() takes for us microseconds of this thread's
 * CPU: trials of about 2 ms each, the fastest one counts (a trial the
 * machine interrupted only looks slower). */
static uint64_t work_calibrate(uint64_t us)
{
	uint64_t iters = 10000, best = UINT64_MAX;

	/* Grow the trial until it takes 2 ms. */
	for (int i = 0; i < 20; i++) {
		uint64_t t0 = thread_cpu_ns();
		work_sink += burn(iters);
		uint64_t dt = thread_cpu_ns() - t0;
		if (dt >= 2000000)
			break;
		iters *= dt > 0 && 2000000 / dt < 16 ? 2000000 / dt + 1 : 16;
	}
	for (int i = 0; i < 7; i++) {
		uint64_t t0 = thread_cpu_ns();
		work_sink += burn(iters);
		uint64_t dt = thread_cpu_ns() - t0;
		if (dt && dt < best)
			best = dt;
	}
	if (best == UINT64_MAX)
		best = 1;
	return (uint64_t)((double)iters * (double)us * 1000.0 / (double)best + 0.5);
}

/* ------------------------------------------------------------------------
 * Answers
 * ------------------------------------------------------------------------ */

/* Rebuilds the Date header and the 200 head when the second changed. */
static void update_date(struct server *s)
{
	time_t now = time(NULL);
	struct tm tm;
	int n;

	if (now == s->date_sec)
		return;
	s->date_sec = now;
	gmtime_r(&now, &tm);
	strftime(s->date, sizeof(s->date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	n = snprintf(s->head200, sizeof(s->head200),
		     "HTTP/1.1 200 OK\r\nServer: corio\r\nDate: %s\r\n"
		     "Content-Type: text/plain\r\nContent-Length: %zu\r\n",
		     s->date, s->body_len);
	s->head200_len = n > 0 && (size_t)n < sizeof(s->head200) ? (size_t)n : 0;
}

static void count_answer(struct server *s, int status)
{
	static const int st[NANSWERED] = { 200, 400, 405, 413, 414, 431, 504, 0 };
	size_t i;

	for (i = 0; st[i] && st[i] != status; i++)
		;
	s->answered[i]++; /* the last slot counts every other status */
}

/* Sends out[] (bounded by --idle-ms). 0 or -errno. */
static int flush(struct conn *c)
{
	ssize_t r = 0;

	if (c->olen == 0)
		return 0;
	if (corio_deadline_push(c->s->idle_ms) < 0)
		return -ENOMEM;
	r = corio_send_all(c->fd, c->out, c->olen, 0, NULL);
	corio_deadline_pop();
	c->olen = 0;
	return r < 0 ? (int)r : 0;
}

/* Appends n bytes to out[], flushing first when they do not fit; what does
 * not fit an empty out[] either is sent directly. */
static int put(struct conn *c, const void *p, size_t n)
{
	int r;

	if (n > OUT_CAP - c->olen && (r = flush(c)) < 0)
		return r;
	if (n > OUT_CAP) {
		ssize_t w;
		if (corio_deadline_push(c->s->idle_ms) < 0)
			return -ENOMEM;
		w = corio_send_all(c->fd, p, n, 0, NULL);
		corio_deadline_pop();
		return w < 0 ? (int)w : 0;
	}
	memcpy(c->out + c->olen, p, n);
	c->olen += n;
	return 0;
}

/* The reason phrases http_reason() does not know. */
static const char *reason(int status)
{
	switch (status) {
	case 413: return "Content Too Large";
	case 504: return "Gateway Timeout";
	default:  return http_reason(status);
	}
}

#define ECHO_PREFIX "/echo/"

/* The answer to a parsed request: 200 (GET /echo/<x>: <x> as the body),
 * 405, or a status given (504 from --chaos, with extra head lines). */
static int answer_status(struct conn *c, const http_request *req, int status, const char *extra)
{
	struct server *s = c->s;
	const char *conn_hdr = !req->keep_alive ? "Connection: close\r\n"
			       : req->version_minor == 0 ? "Connection: keep-alive\r\n"
							 : "";
	const char *body = s->body;
	size_t body_len = s->body_len;
	char head[512];
	int n, r;

	count_answer(s, status);
	if (status == 200 && req->target.len >= sizeof(ECHO_PREFIX) - 1 &&
	    memcmp(req->target.p, ECHO_PREFIX, sizeof(ECHO_PREFIX) - 1) == 0) {
		body = req->target.p + sizeof(ECHO_PREFIX) - 1;
		body_len = req->target.len - (sizeof(ECHO_PREFIX) - 1);
		n = snprintf(head, sizeof(head),
			     "HTTP/1.1 200 OK\r\nServer: corio\r\nDate: %s\r\n"
			     "Content-Type: text/plain\r\nContent-Length: %zu\r\n%s\r\n",
			     s->date, body_len, conn_hdr);
	} else if (status == 200) {
		n = snprintf(head, sizeof(head), "%.*s%s\r\n", (int)s->head200_len, s->head200,
			     conn_hdr);
	} else {
		const char *why = reason(status);
		if (status == 405)
			extra = "Allow: GET, HEAD\r\n";
		body = why;
		body_len = strlen(why);
		n = snprintf(head, sizeof(head),
			     "HTTP/1.1 %d %s\r\nServer: corio\r\nDate: %s\r\n%s"
			     "Content-Type: text/plain\r\nContent-Length: %zu\r\n%s\r\n",
			     status, why, s->date, extra ? extra : "", body_len + 1, conn_hdr);
		if (n < 0 || (size_t)n >= sizeof(head) - body_len - 1)
			return -EOVERFLOW;
		if (req->method == HTTP_METHOD_HEAD)
			return put(c, head, (size_t)n);
		memcpy(head + n, why, body_len);
		head[n + (int)body_len] = '\n';
		return put(c, head, (size_t)n + body_len + 1);
	}
	if (n < 0 || (size_t)n >= sizeof(head))
		return -EOVERFLOW;
	/* One copy when head and body fit together. */
	if (req->method == HTTP_METHOD_HEAD || body_len == 0)
		return put(c, head, (size_t)n);
	if ((size_t)n + body_len <= OUT_CAP - c->olen) {
		memcpy(c->out + c->olen, head, (size_t)n);
		memcpy(c->out + c->olen + (size_t)n, body, body_len);
		c->olen += (size_t)n + body_len;
		return 0;
	}
	r = put(c, head, (size_t)n);
	return r < 0 ? r : put(c, body, body_len);
}

/*
 * A request's handler: the answer, after --work-us of CPU. With --chaos
 * it runs in a deadline scope of random length, and some wait in it first
 * (a slow backend); one past its deadline is answered 504.
 */
static int handle(struct conn *c, const http_request *req)
{
	struct server *s = c->s;
	uint64_t dl, wait;
	int r = 0;

	if (s->work_iters)
		work_sink += burn(s->work_iters);
	if (!s->chaos.seed)
		return answer_status(c, req, req->status, NULL);
	srv_chaos_request(&s->chaos, &s->rng, &dl, &wait);
	if (corio_deadline_push(dl) < 0)
		return -ENOMEM;
	if (wait)
		r = corio_sleep_ms(wait);
	if (corio_deadline_pop() == -ETIMEDOUT && r == -ETIMEDOUT) {
		s->deadline_504++;
		return answer_status(c, req, 504, "X-Corio-Chaos: deadline\r\n");
	}
	return r < 0 ? r : answer_status(c, req, req->status, NULL);
}

/* An error answer, always with Connection: close; into buf (cap bytes). */
static size_t error_answer(struct server *s, int status, char *buf, size_t cap)
{
	const char *why = reason(status);
	int n = snprintf(buf, cap,
			 "HTTP/1.1 %d %s\r\nServer: corio\r\nDate: %s\r\n"
			 "Content-Type: text/plain\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n%s\n",
			 status, why, s->date, strlen(why) + 1, why);

	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* ------------------------------------------------------------------------
 * A connection
 * ------------------------------------------------------------------------ */

/* Closing from our side: FIN first, then drop what the client still sends
 * until it closes too, so our last answer is not lost to a reset. */
static void linger(struct conn *c)
{
	uint64_t ms = c->s->idle_ms < LINGER_MS ? c->s->idle_ms : LINGER_MS;
	size_t total = 0;

	if (corio_shutdown(c->fd, SHUT_WR) < 0)
		return;
	if (corio_deadline_push(ms) < 0)
		return;
	while (total < LINGER_MAX) {
		ssize_t n = corio_recv(c->fd, c->in, sizeof(c->in), 0);
		if (n <= 0)
			break;
		total += (size_t)n;
	}
	corio_deadline_pop();
}

/*
 * Serves requests until the connection ends; the caller closes it. 0 when
 * it ended as it may (EOF, an error answered, a deadline missed), else the
 * error that ended it (a reset, a cancellation, ...).
 */
static int serve(struct conn *c)
{
	struct server *s = c->s;
	uint64_t idle_ns = s->idle_ms * 1000000u, head_ns = s->header_ms * 1000000u;
	uint64_t idle_from = corio_now_ns(), req_start = 0, now;

	for (;;) {
		size_t off = 0;
		bool close_after = false, completed = false;
		ssize_t n;
		int r;

		update_date(s);
		/* Every complete request in the buffer, in order. */
		for (;;) {
			if (c->discard) {
				size_t k = c->len - off < c->discard ? c->len - off : (size_t)c->discard;
				off += k;
				c->discard -= k;
				if (c->discard)
					break;
				completed = true; /* that request's body is complete */
			}
			if (off == c->len)
				break;
			r = http_parse_request(c->in + off, c->len - off, &c->req);
			if (r == HTTP_NEED_MORE)
				break;
			if (r == HTTP_ERROR || c->req.body_len > s->max_body) {
				int status = r == HTTP_ERROR ? c->req.status : 413;
				char e[512];
				size_t en = error_answer(s, status, e, sizeof(e));
				count_answer(s, status);
				if ((r = put(c, e, en)) < 0)
					return r;
				close_after = true;
				break;
			}
			s->requests++;
			if ((r = handle(c, &c->req)) < 0)
				return r;
			off += c->req.head_len;
			c->discard = c->req.body_len;
			if (!c->req.keep_alive) {
				close_after = true;
				break;
			}
			if (!c->discard)
				completed = true;
		}
		if ((r = flush(c)) < 0)
			return r;
		if (close_after) {
			linger(c);
			return 0;
		}
		memmove(c->in, c->in + off, c->len - off);
		c->len -= off;
		if (c->len == sizeof(c->in)) {
			/* Cannot happen: a buffer this full holds a complete head
			 * or an error (HTTP_MAX_HEAD). Refuse rather than spin. */
			char e[512];
			size_t en = error_answer(s, 431, e, sizeof(e));
			if (put(c, e, en) == 0 && flush(c) == 0)
				linger(c);
			return 0;
		}

		/* Between requests, the next one's first byte by idle_from +
		 * --idle-ms; within one, all of it by its first byte's time +
		 * --header-ms. Bytes of the next request already here started
		 * it now. */
		now = corio_now_ns();
		if (completed) {
			idle_from = now;
			req_start = 0;
		}
		if (!req_start && (c->len || c->discard))
			req_start = now;
		if (corio_deadline_push_at(req_start ? req_start + head_ns : idle_from + idle_ns) < 0)
			return -ENOMEM;
		n = corio_recv(c->fd, c->in + c->len, sizeof(c->in) - c->len, 0);
		corio_deadline_pop();
		if (n == -ETIMEDOUT) {
			s->timeouts++;
			return 0;
		}
		if (n <= 0)
			return (int)n;
		if (!req_start)
			req_start = corio_now_ns();
		c->len += (size_t)n;
	}
}

/* The connection has ended (r from serve): classify, close (a reset when
 * --chaos dropped it), hand it to the reaper. */
static void conn_finish(struct conn *c, int r)
{
	struct server *s = c->s;
	bool reset = false;

	if (r == -ECANCELED) {
		if (s->stopping) {
			/* the server stops */
		} else if (c->cancel_ms && corio_now_ns() >= c->cancel_at) {
			s->chaos_cancels++;
			reset = true;
		} else {
			srv_unexpected(&s->unexpected, "corio-http", "cancelled, but not by us", r);
		}
	} else if (r == -ETIMEDOUT) {
		s->timeouts++; /* an answer the client did not read within --idle-ms */
	} else if (r < 0 && r != -ECONNRESET && r != -EPIPE) {
		srv_unexpected(&s->unexpected, "corio-http", "connection", r);
	}
	if (reset) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	corio_close(c->fd);
	/* From the live list to the reaper's. */
	if (c->prev)
		c->prev->next = c->next;
	else
		s->live = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nlive--;
	srv_release(s->loops);
	c->next = s->dead;
	s->dead = c;
	corio_event_set(s->reap);
}

static int conn_main(void *arg)
{
	struct conn *c = arg;

	conn_finish(c, serve(c));
	return 0;
}

/* --chaos: a connection doomed at accept runs under corio_wait_for, which
 * cancels it when its time is up; c->task is this task's handle. */
static int doomed_main(void *arg)
{
	static const corio_spawn_attr attr = { .name = "http-conn" };
	struct conn *c = arg;
	uint64_t ms = c->cancel_ms;
	corio_task *t = corio_spawn_ex(conn_main, c, &attr);

	if (!t) {
		conn_finish(c, 0);
		return 0;
	}
	/* c is the reaper's once the connection has ended: not touched. */
	corio_wait_for(t, ms);
	return 0;
}

/* Joins ended connections and frees them; returns once the server stops
 * and every connection is gone. */
static int reaper_main(void *arg)
{
	struct server *s = arg;

	for (;;) {
		corio_event_clear(s->reap);
		while (s->dead) {
			struct conn *c = s->dead;
			s->dead = c->next;
			corio_join(c->task);
			free(c);
			s->nunreaped--;
		}
		if (s->stopping && s->nunreaped == 0)
			return 0;
		/* Cancelled only if the server stops without waiting for us:
		 * then nothing is left to join either. */
		if (corio_event_wait(s->reap) == -ECANCELED && !s->stopping)
			return -ECANCELED;
	}
}

/* ------------------------------------------------------------------------
 * Accepting, stopping
 * ------------------------------------------------------------------------ */

/* Stops every loop (the first reason given is the one printed). */
static void stop(struct server *s, const char *why)
{
	srv_loops_stop(s->loops, why);
}

/* Over --max-conns: 503 without waiting, then close. */
static void reject(struct server *s, int fd)
{
	char e[512], sink[4096];
	size_t en = error_answer(s, 503, e, sizeof(e));

	s->rejected++;
	/* What the client already sent, so that closing does not reset. */
	for (int i = 0; i < 16 && recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; i++)
		;
	if (send(fd, e, en, MSG_DONTWAIT | MSG_NOSIGNAL) > 0)
		shutdown(fd, SHUT_WR);
	close(fd);
}

static int acceptor_main(void *arg)
{
	struct server *s = arg;
	static const corio_spawn_attr attr = { .name = "http-conn" };
	bool told = false;

	for (;;) {
		struct conn *c;
		int one = 1;
		int fd = corio_accept(s->lfd, NULL, NULL);

		if (fd == -ECANCELED || fd == -ETIMEDOUT)
			return 0;
		if (fd < 0) {
			switch (-fd) {
			case EMFILE: case ENFILE: case ENOBUFS: case ENOMEM:
				/* Out of fds or memory: let connections end. */
				if (!told)
					fprintf(stderr, "corio-http: accept: %s (at %zu connections); "
							"retrying\n", strerror(-fd), s->nlive);
				told = true;
				if (corio_sleep_ms(10) < 0)
					return 0;
				continue;
			case ECONNABORTED: case EINTR: case EAGAIN: case EPROTO: case EPERM:
			case ENETDOWN: case ENOPROTOOPT: case EHOSTDOWN: case ENONET:
			case EHOSTUNREACH: case EOPNOTSUPP: case ENETUNREACH:
				continue; /* that connection's problem (accept(2)) */
			default:
				fprintf(stderr, "corio-http: accept: %s\n", strerror(-fd));
				stop(s, "accept failed");
				return fd;
			}
		}
		told = false;
		s->accepted++;
		update_date(s);
		if (!srv_admit(s->loops, (long)s->max_conns)) {
			reject(s, fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = malloc(sizeof(*c));
		if (!c) {
			srv_release(s->loops);
			close(fd);
			continue;
		}
		c->s = s;
		c->fd = fd;
		c->len = c->olen = 0;
		c->discard = 0;
		c->cancel_ms = srv_chaos_doom_ms(&s->chaos, &s->rng);
		c->cancel_at = corio_now_ns() + c->cancel_ms * 1000000u;
		c->task = corio_spawn_ex(c->cancel_ms ? doomed_main : conn_main, c, &attr);
		if (!c->task) {
			srv_release(s->loops);
			close(fd);
			free(c);
			continue;
		}
		/* The task has not run yet: it starts when we next suspend. */
		c->prev = NULL;
		c->next = s->live;
		if (s->live)
			s->live->prev = c;
		s->live = c;
		s->nlive++;
		s->nunreaped++;
	}
}

/* SIGINT, SIGTERM, or the end of --seconds. */
static int watcher_main(void *arg)
{
	struct server *s = arg;
	struct signalfd_siginfo si;
	ssize_t r;

	if (s->seconds > 0 && corio_deadline_push((uint64_t)(s->seconds * 1000.0 + 0.5)) < 0) {
		stop(s, "out of memory");
		return -ENOMEM;
	}
	r = corio_read(s->sfd, &si, sizeof(si), -1);
	if (s->seconds > 0)
		corio_deadline_pop();
	if (r == -ECANCELED)
		return 0;
	if (r == (ssize_t)sizeof(si))
		stop(s, si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
	else if (r == -ETIMEDOUT)
		stop(s, "--seconds elapsed");
	else
		stop(s, "signalfd read failed");
	return 0;
}

/* On every loop: waits for srv_loops_stop, then stops this loop. */
static int stopper_main(void *arg)
{
	struct server *s = arg;

	if (srv_loops_wait_stop(s->loops) == 0)
		corio_event_set(s->stop);
	return 0;
}

/* This loop's counters, kept for main() to print. */
static void save_result(struct server *s)
{
	struct loop_result *r = &s->res[s->idx];

	r->accepted = s->accepted;
	r->rejected = s->rejected;
	r->timeouts = s->timeouts;
	r->requests = s->requests;
	memcpy(r->answered, s->answered, sizeof(r->answered));
	r->chaos_cancels = s->chaos_cancels;
	r->deadline_504 = s->deadline_504;
	r->unexpected = s->unexpected;
	r->have_stats = corio_loop_stats(&r->st) == 0;
	r->done = true;
}

static void print_counters(const char *label, const struct loop_result *r)
{
	printf("%s: connections=%llu rejected=%llu timed_out=%llu requests=%llu "
	       "answered_200=%llu 400=%llu 405=%llu 413=%llu 414=%llu 431=%llu 504=%llu other=%llu "
	       "chaos_cancels=%llu deadline_504=%llu unexpected=%llu",
	       label, (unsigned long long)r->accepted, (unsigned long long)r->rejected,
	       (unsigned long long)r->timeouts, (unsigned long long)r->requests,
	       (unsigned long long)r->answered[0], (unsigned long long)r->answered[1],
	       (unsigned long long)r->answered[2], (unsigned long long)r->answered[3],
	       (unsigned long long)r->answered[4], (unsigned long long)r->answered[5],
	       (unsigned long long)r->answered[6], (unsigned long long)r->answered[7],
	       (unsigned long long)r->chaos_cancels, (unsigned long long)r->deadline_504,
	       (unsigned long long)r->unexpected);
	if (r->have_stats)
		printf(" tasks_spawned=%llu tasks_alive=%llu switches=%llu turns=%llu "
		       "submits=%llu completions=%llu syscalls=%llu timers_fired=%llu "
		       "stacks_mapped=%llu",
		       (unsigned long long)r->st.tasks_spawned, (unsigned long long)r->st.tasks_alive,
		       (unsigned long long)r->st.switches, (unsigned long long)r->st.turns,
		       (unsigned long long)r->st.submits, (unsigned long long)r->st.completions,
		       (unsigned long long)r->st.syscalls, (unsigned long long)r->st.timers_fired,
		       (unsigned long long)r->st.stacks_mapped);
	putchar('\n');
}

/* After every loop has ended: one line per loop, then the total. */
static void print_stats(const struct server *t)
{
	struct loop_result sum = { .done = true, .have_stats = true };
	unsigned ring_flags = 0, guard_kind = 0;
	char label[32];

	printf("corio-http: stopped (%s)\n", srv_loops_why(t->loops));
	if (t->work_us)
		printf("work: %llu us per request = %llu busy-loop steps\n",
		       (unsigned long long)t->work_us, (unsigned long long)t->work_iters);
	for (int i = 0; i < t->nloops; i++) {
		const struct loop_result *r = &t->res[i];

		if (!r->done) {
			printf("loop %d: did not run\n", i);
			continue;
		}
		snprintf(label, sizeof(label), "loop %d", i);
		print_counters(label, r);
		sum.accepted += r->accepted;
		sum.rejected += r->rejected;
		sum.timeouts += r->timeouts;
		sum.requests += r->requests;
		for (int k = 0; k < NANSWERED; k++)
			sum.answered[k] += r->answered[k];
		sum.chaos_cancels += r->chaos_cancels;
		sum.deadline_504 += r->deadline_504;
		sum.unexpected += r->unexpected;
		if (!r->have_stats)
			continue;
		srv_stats_add(&sum.st, &r->st);
		ring_flags = r->st.ring_flags;
		guard_kind = r->st.guard_kind;
	}
	snprintf(label, sizeof(label), "total (%d loop%s)", t->nloops, t->nloops == 1 ? "" : "s");
	print_counters(label, &sum);
	printf("most connections open at once: %ld; ring_flags=0x%x guard_kind=%u\n",
	       atomic_load(&t->loops->max_seen), ring_flags, guard_kind);
	fflush(stdout);
}

/* One loop: its listener, acceptor, reaper and stopper (loop 0 also reads
 * the signals); returns once its connections have all ended. */
static int server_main(void *arg)
{
	const struct server *tmpl = arg;
	corio_task *watcher = NULL, *stopper, *acceptor, *reaper;
	struct server *s;
	int port, idx = corio_loop_index(), rc;

	s = malloc(sizeof(*s));
	if (!s) {
		srv_loops_stop(tmpl->loops, "out of memory");
		return 1;
	}
	*s = *tmpl;
	s->idx = idx < 0 ? 0 : idx;
	s->rng = srv_chaos_rng(&s->chaos, s->idx);
	s->lfd = srv_loops_listen(s->loops);
	if (s->lfd < 0) {
		if (s->lfd == -EAGAIN)
			fprintf(stderr, "corio-http: not every loop started within %d ms\n",
				SRV_START_MS);
		else if (s->lfd == -ETIMEDOUT && s->idx > 0)
			fprintf(stderr, "corio-http: loop %d: loop 0 did not listen\n", s->idx);
		else if (s->lfd != -ECANCELED)
			fprintf(stderr, "corio-http: cannot listen on %s:%d: %s\n", s->host, s->port,
				strerror(-s->lfd));
		free(s);
		return 1;
	}
	port = corio_local_port(s->lfd);
	s->stop = corio_event_new();
	s->reap = corio_event_new();
	if (port < 0 || !s->stop || !s->reap) {
		fprintf(stderr, "corio-http: setup failed\n");
		stop(s, "setup failed");
		corio_event_free(s->stop);
		corio_event_free(s->reap);
		corio_close(s->lfd);
		free(s);
		return 1;
	}
	update_date(s);
	if (s->idx == 0) {
		/* Every loop listens by now (srv_loops_listen waited). */
		printf(strchr(s->host, ':') ? "listening on [%s]:%d\n" : "listening on %s:%d\n",
		       s->host, port);
		fflush(stdout);
		watcher = corio_spawn(watcher_main, s);
	}
	stopper = corio_spawn(stopper_main, s);
	acceptor = corio_spawn(acceptor_main, s);
	reaper = corio_spawn(reaper_main, s);
	rc = stopper && acceptor && reaper && (s->idx != 0 || watcher) ? 0 : 1;
	if (rc == 0)
		corio_event_wait(s->stop);
	else
		stop(s, "cannot start the server's tasks");
	/* Tasks that could not be made are NULL: cancel and join skip them. */
	if (acceptor) {
		corio_cancel(acceptor);
		corio_join(acceptor);
	}
	corio_close(s->lfd);
	s->stopping = true;
	for (struct conn *c = s->live; c; c = c->next)
		corio_cancel(c->task);
	if (reaper) {
		corio_event_set(s->reap);
		corio_join(reaper);
	}
	if (watcher) {
		corio_cancel(watcher);
		corio_join(watcher);
	}
	if (stopper) {
		corio_cancel(stopper);
		corio_join(stopper);
	}
	save_result(s);
	corio_event_free(s->stop);
	corio_event_free(s->reap);
	free(s);
	return rc;
}

/* ------------------------------------------------------------------------
 * Command line
 * ------------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: corio-http --port N [options]\n"
		"\n"
		"A small HTTP/1.1 server on corio, one task per connection: every GET gets 200\n"
		"and a fixed text/plain body (GET /echo/<x>: the body <x>), HEAD the same\n"
		"without the body, any other method 405. Keep-alive and pipelining; malformed\n"
		"requests get 400/414/431/501/505 and the connection is closed.\n"
		"\n"
		"options:\n"
		"  --port N        TCP port; 0 picks a free one (required)\n"
		"  --host H        address or name to listen on (default 127.0.0.1)\n"
		"  --loops N       event loops, one thread each, each with its own SO_REUSEPORT\n"
		"                  listener on the port (default 1; 0 = one per core)\n"
		"  --max-conns N   connections served at once; beyond, 503 and close (default\n"
		"                  10000; 0 = no limit)\n"
		"  --idle-ms N     between requests, the next one must start within N ms of the\n"
		"                  end of the previous one (or of accept), else the connection\n"
		"                  is closed without an answer (default 10000)\n"
		"  --header-ms N   a request must be complete, head and body, within N ms of its\n"
		"                  first byte, else the connection is closed without an answer\n"
		"                  (slowloris; default: the --idle-ms value)\n"
		"  --max-body N    a Content-Length over N bytes gets 413 and the connection is\n"
		"                  closed; bodies up to N are skipped (default 1048576)\n"
		"  --body-size N   bytes of the 200 body (default 13: \"Hello, World!\")\n"
		"  --work-us N     burn about N us of CPU in each request's handler before it is\n"
		"                  answered (a calibrated busy loop; default 0)\n"
		"  --seconds S     stop after S seconds (default: run until SIGINT/SIGTERM)\n"
		"  --stats         print each loop's counters and their total at exit\n"
		SRV_CHAOS_USAGE
		"  --help          this text\n"
		"\n"
		"Fixed limits (tools/http_parse.h), each answered with Connection: close and\n"
		"the connection closed: a request line over 8192 bytes: 414; a header section\n"
		"over 8192 bytes or over 100 header lines: 431; Transfer-Encoding (chunked\n"
		"bodies are not read): 501, or 400 with a Content-Length too.\n"
		"\n"
		"Once listening it prints \"listening on HOST:PORT\". SIGINT and SIGTERM stop it\n"
		"cleanly (exit status 0).\n");
}

static bool parse_u64(const char *str, uint64_t max, uint64_t *v)
{
	char *end;
	unsigned long long x;

	if (!str || *str < '0' || *str > '9')
		return false;
	errno = 0;
	x = strtoull(str, &end, 10);
	if (errno || *end || x > max)
		return false;
	*v = x;
	return true;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "host", required_argument, NULL, 'H' },
		{ "loops", required_argument, NULL, 'l' },
		{ "max-conns", required_argument, NULL, 'm' },
		{ "idle-ms", required_argument, NULL, 'i' },
		{ "body-size", required_argument, NULL, 'b' },
		{ "work-us", required_argument, NULL, 'w' },
		{ "seconds", required_argument, NULL, 's' },
		{ "stats", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ "header-ms", required_argument, NULL, 'T' },
		{ "max-body", required_argument, NULL, 'B' },
		SRV_CHAOS_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	static const char hello[] = "Hello, World!";
	struct server s = { .host = "127.0.0.1", .port = -1, .max_conns = 10000,
			    .idle_ms = 10000, .max_body = 1u << 20, .body_len = 13, .nloops = 1,
			    .lfd = -1, .sfd = -1, .chaos = SRV_CHAOS_DEFAULTS };
	struct srv_loops loops;
	struct rlimit rl;
	sigset_t set;
	uint64_t v;
	char *end;
	int opt, r;

	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		int cr = srv_chaos_option(&s.chaos, "corio-http", opt, optarg);
		if (cr < 0)
			return 2;
		if (cr > 0)
			continue;
		switch (opt) {
		case 'T':
			if (!parse_u64(optarg, 86400000, &v) || v == 0) {
				fprintf(stderr, "corio-http: --header-ms wants 1..86400000\n");
				return 2;
			}
			s.header_ms = v;
			break;
		case 'B':
			if (!parse_u64(optarg, UINT64_C(1) << 62, &v)) {
				fprintf(stderr, "corio-http: --max-body wants 0..2^62 bytes\n");
				return 2;
			}
			s.max_body = v;
			break;
		case 'p':
			if (!parse_u64(optarg, 65535, &v)) {
				fprintf(stderr, "corio-http: --port wants 0..65535\n");
				return 2;
			}
			s.port = (int)v;
			break;
		case 'H':
			s.host = optarg;
			break;
		case 'l':
			if (!parse_u64(optarg, 1024, &v)) {
				fprintf(stderr, "corio-http: --loops wants 0..1024 (0: one per core)\n");
				return 2;
			}
			s.nloops = (int)v;
			break;
		case 'w':
			if (!parse_u64(optarg, 1000000, &v)) {
				fprintf(stderr, "corio-http: --work-us wants 0..1000000\n");
				return 2;
			}
			s.work_us = v;
			break;
		case 'm':
			if (!parse_u64(optarg, 10000000, &v)) {
				fprintf(stderr, "corio-http: --max-conns wants 0..10000000\n");
				return 2;
			}
			s.max_conns = (unsigned)v;
			break;
		case 'i':
			if (!parse_u64(optarg, 86400000, &v) || v == 0) {
				fprintf(stderr, "corio-http: --idle-ms wants 1..86400000\n");
				return 2;
			}
			s.idle_ms = v;
			break;
		case 'b':
			if (!parse_u64(optarg, BODY_MAX, &v)) {
				fprintf(stderr, "corio-http: --body-size wants 0..%u\n", BODY_MAX);
				return 2;
			}
			s.body_len = (size_t)v;
			break;
		case 's':
			errno = 0;
			s.seconds = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(s.seconds >= 0) || s.seconds > 1e6) {
				fprintf(stderr, "corio-http: --seconds wants a number in [0, 1e6]\n");
				return 2;
			}
			break;
		case 'S':
			s.stats = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || s.port < 0) {
		if (s.port < 0)
			fprintf(stderr, "corio-http: --port is required\n");
		usage(stderr);
		return 2;
	}
	if (!srv_chaos_check(&s.chaos, "corio-http"))
		return 2;
	if (!s.header_ms)
		s.header_ms = s.idle_ms;

	/* The body: "Hello, World!" repeated to the size asked for. */
	s.body = malloc(s.body_len ? s.body_len : 1);
	if (!s.body) {
		fprintf(stderr, "corio-http: out of memory\n");
		return 1;
	}
	for (size_t i = 0; i < s.body_len; i++)
		s.body[i] = hello[i % (sizeof(hello) - 1)];

	/* A server wants every fd the hard limit allows. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	/* SIGINT and SIGTERM arrive through a signalfd, read by a task. They
	 * are blocked before any thread exists, so every thread (the loop's
	 * name resolver included) inherits the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0 ||
	    (s.sfd = signalfd(-1, &set, SFD_CLOEXEC)) < 0) {
		fprintf(stderr, "corio-http: signalfd: %s\n", strerror(errno));
		free(s.body);
		return 1;
	}

	if (srv_loops_init(&loops, s.nloops, s.host, s.port, 1024) < 0) {
		fprintf(stderr, "corio-http: eventfd: %s\n", strerror(errno));
		close(s.sfd);
		free(s.body);
		return 1;
	}
	s.nloops = loops.nloops;
	s.loops = &loops;
	s.res = calloc((size_t)s.nloops, sizeof(*s.res));
	if (!s.res) {
		fprintf(stderr, "corio-http: out of memory\n");
		srv_loops_fini(&loops);
		close(s.sfd);
		free(s.body);
		return 1;
	}
	if (s.work_us)
		s.work_iters = work_calibrate(s.work_us);

	r = corio_run_loops(s.nloops, server_main, &s);
	if (s.stats)
		print_stats(&s);
	srv_loops_fini(&loops);
	close(s.sfd);
	free(s.res);
	free(s.body);
	if (r < 0) {
		fprintf(stderr, "corio-http: corio_run_loops: %s\n", strerror(-r));
		return 1;
	}
	return r == 0 ? 0 : 1;
}
