/*
 * corio-load - a load generator for TCP echo and HTTP/1.1 servers, on corio.
 *
 *   corio-load echo --port N --seconds S [--conns C] [--size B] [--rate R]
 *                   [--pipeline K] [common options]
 *   corio-load http --port N --seconds S [--path /x] [--conns C] [--rate R]
 *                   [--pipeline K] [common options]
 *
 * Each connection is one task. All connect first; the clock starts when
 * the last one is up, and at the end of --seconds the main task cancels
 * them all (requests still in flight then are not counted, unless they
 * were already older than --timeout-ms: those are timeouts).
 *
 * Closed loop (no --rate): each connection keeps K requests in flight
 * (--pipeline, default 1) and sends the next one as soon as a response
 * arrives; latency runs from the send to the end of the response.
 *
 * Open loop (--rate R, requests per second in total): connection i of C
 * sends on a fixed schedule, one request every C/R seconds, the
 * connections staggered evenly. A request's latency runs from the time it
 * was meant to be sent, not the time it was sent: if the server stalls, the
 * requests that should have gone out meanwhile carry the stall in their
 * latency (no coordinated omission). At most K requests are in flight per
 * connection; a connection that falls behind sends as soon as it can.
 *
 * Echo requests are cut from a pseudo-random byte stream of the
 * connection's own (seeded by --seed, the connection's number and how many
 * times it was reopened), --size bytes each, or a size drawn uniformly from
 * [--size, --size-max]; a second copy of the same generator gives the bytes
 * expected back, so every echoed byte is compared, and one that differs
 * (or a byte of another connection's stream) is a verify error. HTTP
 * requests are "GET <path> HTTP/1.1" with a Host header (keep-alive); with
 * --echo-path each is "GET /echo/<token>" with a token unique to the
 * connection and request, and the body must be that token (corio-http
 * serves /echo/). A response needs a Content-Length (chunked is refused as a
 * protocol error), any status but 200 is an error.
 * A connection that fails (reset, protocol error, timeout) is counted and
 * opened again after 10 ms; one the server closes cleanly between
 * responses (Connection: close, HTTP/1.0, an idle timeout) is opened again
 * at once (counted as server_closes); one that cannot connect is counted
 * and stays down.
 *
 * Chaos (for soak runs; tools/soak.sh): each time a connection sends (a
 * request, or K of them pipelined), it may with --abort-rate send only part
 * of them and close abruptly (SO_LINGER 0: a reset), with --half-close-rate
 * send them, shutdown(SHUT_WR), read every answer and then the server's EOF,
 * or with --stall-rate stop for up to --stall-ms in the middle of writing
 * them or before reading the answers. An abort or a half-close reopens the
 * connection at once; all three are counted, never as errors. --server-chaos says the server
 * runs with --chaos: a reset from it (ECONNRESET, EPIPE) is a connection it
 * dropped on purpose, counted as dropped with the requests it took, and
 * corio-http's 504 carrying "X-Corio-Chaos: deadline" is a deadline it gave
 * the request, counted as deadline_504. Neither excuses a wrong byte: what
 * arrived before the reset was compared already. Without --server-chaos a
 * reset is an io error.
 *
 * Sends never block while responses wait: a send that would block polls
 * for both directions and reads what arrived, so a large --size cannot
 * deadlock against an echo server whose socket buffers are full.
 *
 * Latencies go into a log-bucketed histogram (tools/hist.h: 1/128
 * precision, 1 ns to 60 s). Besides the throughput and percentiles, the
 * report gives the tool's own CPU time (getrusage, user + sys) as a
 * percentage of the wall time: near 100%, the load generator (one thread)
 * is the bottleneck, not the server.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <corio.h>

#include "cli.h"
#include "hist.h"

#define MAX_CONNS     10000
#define MAX_SECONDS   3600.0
#define MAX_SIZE      (16u << 20)   /* echo payload */
#define MAX_PIPELINE  256
#define MAX_PATH_LEN  4096
#define MAX_RATE      100000000.0
#define HTTP_HEAD_MAX 16384         /* a response head must fit in this */
#define RECONNECT_MS  10
#define SBUF_MAX      65536         /* echo: bytes generated per send */
#define TOKEN_MAX     96            /* http --echo-path: a token's bytes */
#define NS_PER_S      1000000000ull

enum mode { MODE_ECHO, MODE_HTTP };

struct opts {
	enum mode   mode;
	const char *host;
	int         port;           /* -1: not given */
	int         conns;
	size_t      size;
	const char *path;
	double      seconds;        /* 0: not given */
	double      rate;           /* 0: closed loop */
	int         pipeline;
	uint64_t    timeout_ms;     /* per request; 0: none */
	uint64_t    connect_timeout_ms;
	bool        json;
	size_t      size_max;       /* echo: sizes drawn from [size, size_max] */
	uint64_t    seed;
	bool        echo_path;      /* http: GET /echo/<token>, body checked */
	double      abort_rate, half_rate, stall_rate;
	uint64_t    stall_ms;
	bool        server_chaos;   /* resets and chaos 504s are expected */
};

/* Error kinds, counted and described separately. */
enum err_kind { E_CONNECT, E_TIMEOUT, E_VERIFY, E_STATUS, E_IO, E_PROTO, E_NKINDS };
static const char *const err_names[E_NKINDS] = {
	"connect", "timeout", "verify", "status", "io", "protocol",
};

/* One outstanding request. */
struct slot {
	uint64_t intended; /* latency runs from here */
	uint64_t sent;     /* when it was handed to the socket (timeouts) */
	uint64_t seq;      /* its number on this connection */
	size_t   len;      /* echo: its size */
};

/* A pseudo-random byte stream: splitmix64 words, little-endian bytes, so
 * that any two ways of cutting it into pieces give the same bytes. */
struct stream {
	uint64_t s, w;
	unsigned left; /* bytes of w not yet used */
};

/* What a connection does with the requests it is about to send. */
enum act { A_NONE, A_ABORT, A_HALF, A_STALL_WRITE, A_STALL_READ };

enum hstate { H_HEAD, H_BODY };

struct conn {
	int          id;
	int          fd;
	bool         failed;      /* never connected */
	/* The requests in flight, oldest first: a ring of K slots. */
	struct slot *slots;
	unsigned     head, n;
	uint64_t     seq_sent;    /* requests sent on this connection */
	uint64_t     seq_done;
	uint64_t     sched_i;     /* open loop: index of the next scheduled request */
	uint64_t     sched_base;  /* open loop: time of request 0 */
	/* Received bytes. */
	char        *rbuf;
	size_t       rcap, rlen, rpos;
	/* echo: bytes of the oldest response seen so far; whether they differ */
	size_t       epos;
	bool         ebad;
	/* http */
	enum hstate  hs;
	size_t       scan;        /* where to look for the end of the head */
	uint64_t     body_left;
	int          status;
	bool         close_after; /* the server said Connection: close */
	bool         chaos_hdr;   /* the response says X-Corio-Chaos */
	/* http --echo-path: the oldest response's expected body */
	char         etok[TOKEN_MAX];
	size_t       etok_len, bpos;
	/* this connection's streams (echo), decisions, what it sends */
	uint64_t     gen;         /* times it was reopened */
	uint64_t     rng;
	struct stream tx, rx;
	char        *sbuf;
	size_t       scap;
	bool         half;        /* half-closed: no more requests, then EOF */
	uint64_t     half_at;
};

static struct {
	struct opts   o;
	struct conn  *conns;
	corio_event  *ready, *go;
	int           nready;
	uint64_t      start_ns, end_ns;
	double        interval_ns;   /* open loop: per connection */
	/* http: K copies of the request */
	char         *req;
	size_t        req_len;
	char          hostport[300];
	/* results */
	uint64_t      requests, sent, bytes_out, bytes_in, reconnects, verified;
	/* chaos: ours, and the server's that we were told to expect */
	uint64_t      aborts, half_closes, stalls, dropped, dropped_reqs, deadline_504;
	uint64_t      server_closes;
	uint64_t      errs[E_NKINDS];
	char          first_err[E_NKINDS][200];
	hist          h;
} g;

/* ------------------------------------------------------------------------
 * Command line
 * ------------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: corio-load echo --port N --seconds S [--conns C] [--size B] [options]\n"
		"       corio-load http --port N --seconds S [--path /x] [--conns C] [options]\n"
		"\n"
		"Load for a TCP echo server or an HTTP/1.1 server: one corio task per connection.\n"
		"\n"
		"options:\n"
		"  --port N            server port (required)\n"
		"  --host H            server address or name (default 127.0.0.1)\n"
		"  --seconds S         length of the run, after all connections are up (required, max %.0f)\n"
		"  --conns C           connections (default 10, max %d)\n"
		"  --size B            echo: bytes per request (default 64, max %u)\n"
		"  --path P            http: the path to GET (default /)\n"
		"  --rate R            open loop: R requests/s in total, on a fixed schedule per\n"
		"                      connection; latency counts from the intended send time.\n"
		"                      Default: closed loop, as fast as responses come back\n"
		"  --pipeline K        requests in flight per connection (default 1, max %d)\n"
		"  --timeout-ms T      a request unanswered for T ms is an error and its connection\n"
		"                      is reopened (default 5000; 0: no limit)\n"
		"  --connect-timeout-ms T  per connection attempt (default 5000)\n"
		"  --json              print one JSON object instead of the text report\n"
		"  --help              this text\n"
		"\n"
		"Verification and chaos (soak runs):\n"
		"  --seed S            seeds every connection's byte stream and its chaos choices\n"
		"                      (default 1)\n"
		"  --size-max B        echo: each request's size drawn from [--size, B]\n"
		"  --echo-path         http: GET /echo/<token>, a token unique to the request, and\n"
		"                      check that the body is that token (corio-http serves it)\n"
		"  --abort-rate P      each send: with probability P send part of it, then reset\n"
		"                      the connection (SO_LINGER 0) and open it again\n"
		"  --half-close-rate P each send: with probability P send it, shutdown(SHUT_WR),\n"
		"                      read every answer and the server's EOF, open it again\n"
		"  --stall-rate P      each send: with probability P stop for up to --stall-ms\n"
		"                      mid-request, or after sending before reading\n"
		"  --stall-ms N        the longest stall (default 200; below --timeout-ms)\n"
		"  --server-chaos      the server runs with --chaos: its resets count as dropped\n"
		"                      (with the requests they took), corio-http's 504 with\n"
		"                      X-Corio-Chaos as deadline_504; neither is an error\n"
		"\n"
		"Report: requests (responses completed within the run) and req/s, bytes sent and\n"
		"received per second, errors by kind (connect, timeout, verify: echoed bytes\n"
		"differ, status: HTTP status not 200, io: reset or closed mid-request, protocol:\n"
		"a malformed response), latency percentiles p50 p90 p99 p99.9 p99.99 and max in\n"
		"microseconds, and corio-load's own CPU use (user + sys) as %% of the wall time:\n"
		"near 100%%, the load generator is the bottleneck.\n"
		"\n"
		"JSON fields: mode, host, port, conns, size (echo), path (http), pipeline, rate\n"
		"(0 = closed loop), seconds, requests, requests_sent, req_per_s, bytes_sent,\n"
		"bytes_received, "
"bytes_per_s (received), sent_bytes_per_s, bytes_verified, errors,\n"
		"errors_by_kind{...}, connect_failures, reconnects, server_closes, aborts,\n"
		"half_closes, stalls, dropped, dropped_requests, deadline_504, latency_us{p50,p75,p90,p95,p99,p99_5,p99_9,p99_95,\n"
		"p99_99,max,mean} (a percentile curve: p99_5 is p99.5),\n"
		"cpu_percent, cpu_user_percent, cpu_sys_percent.\n"
		"\n"
		"Exit status: 0; 1 when a connection failed to connect, any error was counted or\n"
		"no response arrived (the reason is printed on stderr); 2 for a bad command line.\n",
		MAX_SECONDS, MAX_CONNS, MAX_SIZE, MAX_PIPELINE);
}

/* A path we can put on a request line: starts with '/', printable, no
 * spaces. */
static bool path_ok(const char *p)
{
	size_t n = strlen(p);

	if (n == 0 || n > MAX_PATH_LEN || p[0] != '/')
		return false;
	for (; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
			return false;
	return true;
}

/* ------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------ */

static void count_err_v(struct conn *c, enum err_kind k, uint64_t count, const char *fmt,
			va_list ap)
{
	int n;

	g.errs[k] += count;
	if (g.first_err[k][0])
		return;
	n = snprintf(g.first_err[k], sizeof(g.first_err[k]), "connection %d: ", c->id);
	if (n > 0 && (size_t)n < sizeof(g.first_err[k]))
		vsnprintf(g.first_err[k] + n, sizeof(g.first_err[k]) - (size_t)n, fmt, ap);
}

/* Counts an error of the run. Past its end nothing counts: the connection
 * was cut, not the server at fault. */
static void note_err(struct conn *c, enum err_kind k, uint64_t count, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void note_err(struct conn *c, enum err_kind k, uint64_t count, const char *fmt, ...)
{
	va_list ap;

	if (g.end_ns && corio_now_ns() > g.end_ns && k != E_CONNECT)
		return;
	va_start(ap, fmt);
	count_err_v(c, k, count, fmt, ap);
	va_end(ap);
}

/* The same, counted whenever it happens. */
static void count_err(struct conn *c, enum err_kind k, uint64_t count, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void count_err(struct conn *c, enum err_kind k, uint64_t count, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	count_err_v(c, k, count, fmt, ap);
	va_end(ap);
}

static uint64_t total_errors(void)
{
	uint64_t t = 0;

	for (int k = 0; k < E_NKINDS; k++)
		t += g.errs[k];
	return t;
}

/* ------------------------------------------------------------------------
 * Streams and choices
 * ------------------------------------------------------------------------ */

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* A 64-bit hash of a few numbers (splitmix's finaliser, chained). */
static uint64_t mix3(uint64_t a, uint64_t b, uint64_t c)
{
	uint64_t s = a;

	s = splitmix(&s) ^ b;
	s = splitmix(&s) ^ c;
	return splitmix(&s);
}

static void stream_init(struct stream *st, uint64_t seed)
{
	st->s = seed;
	st->w = 0;
	st->left = 0;
}

/* The next n bytes of the stream. */
static void stream_fill(struct stream *st, void *out, size_t n)
{
	unsigned char *p = out;

	while (n && st->left) {
		*p++ = (unsigned char)st->w;
		st->w >>= 8;
		st->left--;
		n--;
	}
	while (n >= 8) {
		uint64_t w = splitmix(&st->s);
		for (int k = 0; k < 8; k++)
			p[k] = (unsigned char)(w >> (8 * k));
		p += 8;
		n -= 8;
	}
	if (n) {
		st->w = splitmix(&st->s);
		st->left = 8;
		while (n) {
			*p++ = (unsigned char)st->w;
			st->w >>= 8;
			st->left--;
			n--;
		}
	}
}

/* A connection's choices: a number below n (n > 0), a number in [0, 1). */
static uint64_t rnd_below(struct conn *c, uint64_t n)
{
	return splitmix(&c->rng) % n;
}

static double rnd_unit(struct conn *c)
{
	return (double)(splitmix(&c->rng) >> 11) / 9007199254740992.0;
}

/* A fresh connection (or one opened again): its streams start over. */
static void conn_begin(struct conn *c)
{
	uint64_t seed = mix3(g.o.seed, (uint64_t)c->id, c->gen);

	stream_init(&c->tx, seed);
	stream_init(&c->rx, seed);
	c->half = false;
}

/* http --echo-path: request seq's token, into buf (TOKEN_MAX). Its length. */
static size_t make_token(const struct conn *c, uint64_t seq, char *buf)
{
	int n = snprintf(buf, TOKEN_MAX, "c%d.g%llu.s%llu.%016llx", c->id,
			 (unsigned long long)c->gen, (unsigned long long)seq,
			 (unsigned long long)mix3(g.o.seed ^ 0x7f4a7c15u, (uint64_t)c->id << 32 ^ c->gen,
						  seq));

	return n > 0 && n < TOKEN_MAX ? (size_t)n : 0;
}

/* Past the end of the run nothing is counted. */
static bool in_run(void)
{
	return !(g.end_ns && corio_now_ns() > g.end_ns);
}

/* ------------------------------------------------------------------------
 * Requests in flight
 * ------------------------------------------------------------------------ */

static struct slot *oldest(struct conn *c)
{
	return &c->slots[c->head];
}

static void slot_push(struct conn *c, uint64_t intended, uint64_t sent)
{
	struct slot *s = &c->slots[(c->head + c->n) % (unsigned)g.o.pipeline];

	s->intended = intended;
	s->sent = sent;
	s->seq = c->seq_sent++;
	s->len = g.o.size;
	if (g.o.mode == MODE_ECHO && g.o.size_max > g.o.size)
		s->len += (size_t)rnd_below(c, g.o.size_max - g.o.size + 1);
	c->n++;
}

/* The oldest request got its whole response at `now`. */
static void complete(struct conn *c, uint64_t now)
{
	struct slot *s = oldest(c);

	if (now <= g.end_ns) {
		g.requests++;
		hist_record(&g.h, now > s->intended ? now - s->intended : 0);
	}
	c->head = (c->head + 1) % (unsigned)g.o.pipeline;
	c->n--;
	c->seq_done++;
}

/* Forgets the requests in flight (the connection is gone). Those already
 * older than the timeout when the run ended count as timeouts. */
static void drop_inflight(struct conn *c, uint64_t now)
{
	uint64_t tmo = g.o.timeout_ms * 1000000u;

	if (tmo && now >= g.end_ns) {
		uint64_t late = 0;
		for (unsigned i = 0; i < c->n; i++) {
			struct slot *s = &c->slots[(c->head + i) % (unsigned)g.o.pipeline];
			if (g.end_ns - s->sent >= tmo && s->sent <= g.end_ns)
				late++;
		}
		if (late)
			count_err(c, E_TIMEOUT, late, "%llu request(s) unanswered for %llu ms "
				  "when the run ended", (unsigned long long)late,
				  (unsigned long long)g.o.timeout_ms);
	}
	c->head = c->n = 0;
	c->rlen = c->rpos = c->epos = 0;
	c->ebad = false;
	c->hs = H_HEAD;
	c->scan = 0;
	c->close_after = false;
	c->chaos_hdr = false;
	c->bpos = c->etok_len = 0;
}

/* ------------------------------------------------------------------------
 * Echo responses
 * ------------------------------------------------------------------------ */

/* Bytes from an echo server: each response is exactly its request's bytes,
 * compared with the connection's stream. 0, or -EPROTO (bytes nobody asked
 * for). */
static int echo_consume(struct conn *c, const char *p, size_t n, uint64_t now)
{
	char want[1024];

	while (n) {
		size_t take;

		if (c->n == 0) {
			note_err(c, E_PROTO, 1, "%zu byte(s) the server sent unasked", n);
			return -EPROTO;
		}
		take = oldest(c)->len - c->epos;
		if (take > n)
			take = n;
		for (size_t k = 0; k < take;) {
			size_t m = take - k < sizeof(want) ? take - k : sizeof(want);
			stream_fill(&c->rx, want, m);
			if (!c->ebad && memcmp(p + k, want, m) != 0)
				c->ebad = true;
			k += m;
		}
		if (!c->ebad && in_run())
			g.verified += take;
		c->epos += take;
		p += take;
		n -= take;
		if (c->epos == oldest(c)->len) {
			if (c->ebad)
				note_err(c, E_VERIFY, 1, "request %llu: the echoed bytes differ",
					 (unsigned long long)c->seq_done);
			complete(c, now);
			c->epos = 0;
			c->ebad = false;
		}
	}
	return 0;
}

/* ------------------------------------------------------------------------
 * HTTP responses
 * ------------------------------------------------------------------------ */

/* Up to 40 bytes of [p, p+n) for a message, anything unprintable shown as
 * '.'. Returns buf. */
static const char *shown(char buf[48], const char *p, size_t n)
{
	size_t i;

	if (n > 40)
		n = 40;
	for (i = 0; i < n; i++)
		buf[i] = (unsigned char)p[i] >= ' ' && (unsigned char)p[i] < 0x7f ? p[i] : '.';
	buf[i] = '\0';
	return buf;
}

/* Whether the header value [v, v+n) holds token tok (comma-separated,
 * case-insensitive). */
static bool has_token(const char *v, size_t n, const char *tok)
{
	size_t tl = strlen(tok);

	while (n) {
		size_t i = 0, len;
		while (i < n && v[i] != ',')
			i++;
		/* trim [v, v+i) */
		{
			const char *a = v;
			len = i;
			while (len && (*a == ' ' || *a == '\t')) {
				a++;
				len--;
			}
			while (len && (a[len - 1] == ' ' || a[len - 1] == '\t'))
				len--;
			if (len == tl && strncasecmp(a, tok, tl) == 0)
				return true;
		}
		if (i == n)
			break;
		v += i + 1;
		n -= i + 1;
	}
	return false;
}

/*
 * Parses a response head (status line and headers, without the blank
 * line) of n bytes. Sets c->status, c->body_left, c->close_after. 0, or
 * -EPROTO with the reason noted.
 */
static int http_parse_head(struct conn *c, const char *h, size_t n)
{
	const char *p = h, *end = h + n;
	bool have_len = false, v10;
	uint64_t len = 0;
	char sb[48];

	/* "HTTP/1.x SSS[ reason]" */
	if (n < 12 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') || p[8] != ' ' ||
	    p[9] < '1' || p[9] > '5' || p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9' ||
	    (n > 12 && p[12] != ' ' && p[12] != '\r')) {
		note_err(c, E_PROTO, 1, "not an HTTP/1.x status line: \"%s\"", shown(sb, h, n));
		return -EPROTO;
	}
	v10 = p[7] == '0';
	c->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	c->close_after = v10; /* HTTP/1.0 closes unless it says keep-alive */
	c->chaos_hdr = false;
	p = memchr(p, '\n', (size_t)(end - p));
	p = p ? p + 1 : end;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *line_end = eol ? eol : end;
		const char *colon;
		const char *v;
		size_t vn;

		if (line_end > p && line_end[-1] == '\r')
			line_end--;
		colon = memchr(p, ':', (size_t)(line_end - p));
		if (!colon || colon == p) {
			note_err(c, E_PROTO, 1, "malformed header line \"%s\"",
				 shown(sb, p, (size_t)(line_end - p)));
			return -EPROTO;
		}
		v = colon + 1;
		while (v < line_end && (*v == ' ' || *v == '\t'))
			v++;
		vn = (size_t)(line_end - v);
		while (vn && (v[vn - 1] == ' ' || v[vn - 1] == '\t'))
			vn--;
		if ((size_t)(colon - p) == 14 && strncasecmp(p, "content-length", 14) == 0) {
			uint64_t x = 0;
			if (vn == 0 || vn > 15) {
				note_err(c, E_PROTO, 1, "bad Content-Length \"%s\"",
					 shown(sb, v, vn));
				return -EPROTO;
			}
			for (size_t i = 0; i < vn; i++) {
				if (v[i] < '0' || v[i] > '9') {
					note_err(c, E_PROTO, 1, "bad Content-Length \"%s\"",
						 shown(sb, v, vn));
					return -EPROTO;
				}
				x = x * 10 + (uint64_t)(v[i] - '0');
			}
			if (have_len && x != len) {
				note_err(c, E_PROTO, 1, "two different Content-Length headers");
				return -EPROTO;
			}
			have_len = true;
			len = x;
		} else if ((size_t)(colon - p) == 17 &&
			   strncasecmp(p, "transfer-encoding", 17) == 0) {
			note_err(c, E_PROTO, 1, "Transfer-Encoding \"%s\" is not supported: "
				 "corio-load needs a Content-Length", shown(sb, v, vn));
			return -EPROTO;
		} else if ((size_t)(colon - p) == 13 && strncasecmp(p, "x-corio-chaos", 13) == 0) {
			c->chaos_hdr = true;
		} else if ((size_t)(colon - p) == 10 && strncasecmp(p, "connection", 10) == 0) {
			if (has_token(v, vn, "close"))
				c->close_after = true;
			else if (has_token(v, vn, "keep-alive"))
				c->close_after = false;
		}
		p = eol ? eol + 1 : end;
	}
	if (c->status < 200) {
		note_err(c, E_PROTO, 1, "interim response %d to a GET", c->status);
		return -EPROTO;
	}
	if (!have_len) {
		if (c->status != 204 && c->status != 304) {
			note_err(c, E_PROTO, 1, "a %d response without Content-Length", c->status);
			return -EPROTO;
		}
		len = 0;
	}
	c->body_left = len;
	c->bpos = 0;
	c->ebad = false;
	if (g.o.echo_path && c->status == 200) {
		c->etok_len = make_token(c, oldest(c)->seq, c->etok);
		if (len != c->etok_len) {
			note_err(c, E_VERIFY, 1, "request %llu: a body of %llu bytes, expected its "
				 "token's %zu", (unsigned long long)oldest(c)->seq,
				 (unsigned long long)len, c->etok_len);
			return -EPROTO;
		}
	}
	return 0;
}

/*
 * Parses what c->rbuf holds. 0 (more bytes needed), 1 (the server closes
 * the connection after the response just completed), or -EPROTO.
 */
static int http_consume(struct conn *c, uint64_t now)
{
	for (;;) {
		if (c->hs == H_HEAD) {
			const char *b = c->rbuf + c->rpos;
			size_t avail = c->rlen - c->rpos, from = c->scan > 3 ? c->scan - 3 : 0;
			const char *e = from < avail ? memmem(b + from, avail - from, "\r\n\r\n", 4)
						     : NULL;

			if (!e) {
				/* Keep the partial head at the start of the buffer. */
				if (c->rpos) {
					memmove(c->rbuf, b, avail);
					c->rlen = avail;
					c->rpos = 0;
				}
				c->scan = avail;
				if (c->rlen == c->rcap) {
					note_err(c, E_PROTO, 1, "a response head larger than %zu bytes",
						 c->rcap);
					return -EPROTO;
				}
				return 0;
			}
			if (c->n == 0) {
				note_err(c, E_PROTO, 1, "a response to no request");
				return -EPROTO;
			}
			if (http_parse_head(c, b, (size_t)(e - b)) < 0)
				return -EPROTO;
			c->rpos += (size_t)(e - b) + 4;
			c->scan = 0;
			c->hs = H_BODY;
		}
		{
			size_t avail = c->rlen - c->rpos;
			size_t take = c->body_left < avail ? (size_t)c->body_left : avail;

			if (g.o.echo_path && c->status == 200 && take) {
				if (!c->ebad && memcmp(c->rbuf + c->rpos, c->etok + c->bpos, take) != 0)
					c->ebad = true;
				c->bpos += take;
			}
			c->rpos += take;
			c->body_left -= take;
			if (c->rpos == c->rlen)
				c->rpos = c->rlen = 0;
			if (c->body_left)
				return 0;
		}
		if (c->status == 504 && c->chaos_hdr && g.o.server_chaos) {
			if (in_run())
				g.deadline_504++;
		} else if (c->status != 200) {
			note_err(c, E_STATUS, 1, "HTTP status %d", c->status);
		} else if (c->ebad) {
			note_err(c, E_VERIFY, 1, "request %llu: the body is not its token",
				 (unsigned long long)oldest(c)->seq);
		} else if (g.o.echo_path && in_run()) {
			g.verified += c->etok_len;
		}
		c->ebad = false;
		complete(c, now);
		c->hs = H_HEAD;
		if (c->close_after)
			return 1;
		if (c->rpos == c->rlen)
			return 0;
	}
}

/* ------------------------------------------------------------------------
 * A connection
 * ------------------------------------------------------------------------ */

/* Conventional results of the steps below, besides -errno. */
#define STEP_OK      0
#define STEP_STOP    1   /* cancelled: the run is over */
#define STEP_AGAIN   2   /* reopen the connection, after an error */
#define STEP_CLOSED  3   /* reopen it at once: the server closed it cleanly */
#define STEP_DROPPED 4   /* reopen it at once: the server reset it (--server-chaos) */
#define STEP_ABORTED 5   /* reopen it at once: we reset it (--abort-rate) */

/* Runs a blocking call in a deadline scope ending at dl (0: none). */
#define WITH_DEADLINE(dl, call)                                         \
	({                                                              \
		__typeof__(call) r_;                                    \
		if (dl) {                                               \
			if (corio_deadline_push_at(dl) < 0) {           \
				r_ = -ENOMEM;                           \
			} else {                                        \
				r_ = (call);                            \
				corio_deadline_pop();                   \
			}                                               \
		} else {                                                \
			r_ = (call);                                    \
		}                                                       \
		r_;                                                     \
	})

/* When the wait for the oldest answer (or, half-closed with none left, for
 * the server's EOF) times out; 0: never. */
static uint64_t timeout_at(struct conn *c)
{
	uint64_t tmo = (g.o.timeout_ms ? g.o.timeout_ms : 5000) * 1000000u;

	if (c->n)
		return g.o.timeout_ms ? oldest(c)->sent + tmo : 0;
	return c->half ? c->half_at + tmo : 0;
}

/* The oldest request timed out (dl passed): count it. */
static int timed_out(struct conn *c)
{
	if (c->n == 0 && c->half)
		note_err(c, E_TIMEOUT, 1, "no EOF within %llu ms of a half-close",
			 (unsigned long long)(g.o.timeout_ms ? g.o.timeout_ms : 5000));
	else
		note_err(c, E_TIMEOUT, 1, "no response in %llu ms",
			 (unsigned long long)g.o.timeout_ms);
	return STEP_AGAIN;
}

/* The server reset the connection: with --server-chaos, on purpose. */
static int dropped(struct conn *c)
{
	if (in_run()) {
		g.dropped++;
		g.dropped_reqs += c->n;
	}
	return STEP_DROPPED;
}

/* Feeds n received bytes (already in place) to the parser. */
static int consume(struct conn *c, size_t n)
{
	uint64_t now = corio_now_ns();
	int r;

	g.bytes_in += n;
	if (g.o.mode == MODE_ECHO)
		return echo_consume(c, c->rbuf, n, now) < 0 ? STEP_AGAIN : STEP_OK;
	c->rlen += n;
	r = http_consume(c, now);
	if (r < 0)
		return STEP_AGAIN;
	if (r == 1) {
		/* The server closes: what is still in flight is lost with it. */
		if (c->n) {
			note_err(c, E_IO, c->n, "Connection: close with %u request(s) in flight",
				 c->n);
			return STEP_AGAIN;
		}
		return STEP_CLOSED;
	}
	return STEP_OK;
}

/* Maps a failed socket call to a step result. */
static int io_failed(struct conn *c, const char *what, ssize_t r)
{
	if (r == -ECANCELED)
		return STEP_STOP;
	if (r == -ETIMEDOUT)
		return timed_out(c);
	/* A reset: ECONNRESET, or EPIPE (send), ENOTCONN (shutdown) once
	 * another call has taken the reset's error. */
	if (g.o.server_chaos && (r == -ECONNRESET || r == -EPIPE || r == -ENOTCONN))
		return dropped(c);
	note_err(c, E_IO, c->n ? c->n : 1, "%s: %s", what, strerror((int)-r));
	return STEP_AGAIN;
}

/* One receive (flags: 0 or MSG_DONTWAIT) until dl at the latest, and what
 * it brought parsed. -ETIMEDOUT when dl passed first (not counted: the
 * caller decides), -EAGAIN for MSG_DONTWAIT with nothing there. */
static int recv_some(struct conn *c, int flags, uint64_t dl)
{
	size_t off = g.o.mode == MODE_HTTP ? c->rlen : 0;
	ssize_t r;

	r = WITH_DEADLINE(dl, corio_recv(c->fd, c->rbuf + off, c->rcap - off, flags));
	if (r == -ETIMEDOUT || r == -EAGAIN)
		return (int)r;
	if (r < 0)
		return io_failed(c, "recv", r);
	if (r == 0) {
		if (c->n) {
			note_err(c, E_IO, c->n, "the server closed the connection with %u "
				 "request(s) in flight", c->n);
			return STEP_AGAIN;
		}
		if (!c->half && in_run())
			g.server_closes++;
		return STEP_CLOSED;
	}
	return consume(c, (size_t)r);
}

/* Sends n bytes without ever blocking while responses are waiting: when
 * the socket is full, polls both ways and reads what arrived. */
static int send_bytes(struct conn *c, const char *p, size_t n)
{
	while (n) {
		ssize_t r = corio_send(c->fd, p, n, MSG_DONTWAIT);
		if (r > 0) {
			p += r;
			n -= (size_t)r;
			g.bytes_out += (uint64_t)r;
			continue;
		}
		if (r == 0)
			return io_failed(c, "send", -EIO);
		if (r != -EAGAIN)
			return io_failed(c, "send", r);
		{
			uint64_t dl = timeout_at(c);
			int ev = WITH_DEADLINE(dl, corio_poll(c->fd, POLLIN | POLLOUT));
			if (ev < 0)
				return io_failed(c, "poll", ev); /* -ETIMEDOUT: dl passed */
			if (ev & (POLLIN | POLLERR | POLLHUP)) {
				int s = recv_some(c, MSG_DONTWAIT, 0);
				if (s != STEP_OK && s != -EAGAIN)
					return s;
			}
		}
	}
	return STEP_OK;
}

/* A stall of 1 to --stall-ms ms (not reading, not writing). */
static int stall(struct conn *c)
{
	if (in_run())
		g.stalls++;
	return corio_sleep_ms(1 + rnd_below(c, g.o.stall_ms)) < 0 ? STEP_STOP : STEP_OK;
}

/* What to do with the next requests: the chaos options' dice. */
static enum act pick_act(struct conn *c)
{
	double u;

	if (g.o.abort_rate + g.o.half_rate + g.o.stall_rate <= 0)
		return A_NONE;
	u = rnd_unit(c);
	if (u < g.o.abort_rate)
		return A_ABORT;
	u -= g.o.abort_rate;
	if (u < g.o.half_rate)
		return A_HALF;
	u -= g.o.half_rate;
	if (u < g.o.stall_rate)
		return rnd_below(c, 2) ? A_STALL_WRITE : A_STALL_READ;
	return A_NONE;
}

/*
 * Sends the k requests just pushed (the newest k slots), doing `act` with
 * them: A_ABORT sends a random part, then resets the connection; A_HALF
 * half-closes after them; A_STALL_WRITE stops in the middle, A_STALL_READ
 * after them.
 */
static int send_requests(struct conn *c, unsigned k, enum act act)
{
	const char *batch = g.req;
	size_t total = 0, cut, done = 0;
	int r;

	g.sent += k;
	if (g.o.mode == MODE_ECHO) {
		for (unsigned i = 0; i < k; i++)
			total += c->slots[(c->head + c->n - k + i) % (unsigned)g.o.pipeline].len;
	} else if (g.o.echo_path) {
		char tok[TOKEN_MAX];
		for (unsigned i = 0; i < k; i++) {
			const struct slot *s = &c->slots[(c->head + c->n - k + i) % (unsigned)g.o.pipeline];
			size_t tl = make_token(c, s->seq, tok);
			int n = snprintf(c->sbuf + total, c->scap - total,
					 "GET /echo/%.*s HTTP/1.1\r\nHost: %s\r\nUser-Agent: corio-load\r\n\r\n",
					 (int)tl, tok, g.hostport);
			if (n < 0 || (size_t)n >= c->scap - total)
				return io_failed(c, "format", -EOVERFLOW);
			total += (size_t)n;
		}
		batch = c->sbuf;
	} else {
		total = g.req_len * k;
		if (act == A_NONE || act == A_STALL_READ) {
			r = send_bytes(c, g.req, total);
			return r == STEP_OK && act == A_STALL_READ ? stall(c) : r;
		}
	}

	if (act == A_STALL_WRITE && total < 2)
		act = A_STALL_READ;
	if (act == A_ABORT)
		cut = (size_t)rnd_below(c, total + 1);           /* 0..total */
	else if (act == A_STALL_WRITE)
		cut = 1 + (size_t)rnd_below(c, total - 1);       /* 1..total-1 */
	else
		cut = total;
	for (;;) {
		const char *p;
		size_t want;

		if (done == cut && act == A_ABORT) {
			struct linger lg = { .l_onoff = 1, .l_linger = 0 };
			setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			if (in_run())
				g.aborts++;
			return STEP_ABORTED;
		}
		if (done == cut && act == A_STALL_WRITE && (r = stall(c)) != STEP_OK)
			return r;
		if (done == total)
			break;
		want = total - done;
		if (done < cut && want > cut - done)
			want = cut - done;
		if (g.o.mode == MODE_ECHO) {
			if (want > c->scap)
				want = c->scap;
			stream_fill(&c->tx, c->sbuf, want);
			p = c->sbuf;
		} else {
			p = batch + done;
		}
		r = send_bytes(c, p, want);
		if (r != STEP_OK)
			return r;
		done += want;
	}
	if (act == A_HALF) {
		r = corio_shutdown(c->fd, SHUT_WR);
		if (r < 0)
			return io_failed(c, "shutdown", r);
		c->half = true;
		c->half_at = corio_now_ns();
		if (in_run())
			g.half_closes++;
	}
	return act == A_STALL_READ ? stall(c) : STEP_OK;
}

/* The intended time of the next scheduled request (open loop). */
static uint64_t sched_next(const struct conn *c)
{
	return c->sched_base + (uint64_t)((double)c->sched_i * g.interval_ns);
}

/* Drives one open connection until the run ends (STEP_STOP) or it must be
 * reopened (STEP_AGAIN, STEP_CLOSED, STEP_DROPPED, STEP_ABORTED). */
static int conn_drive(struct conn *c)
{
	bool open_loop = g.o.rate > 0;
	unsigned k = (unsigned)g.o.pipeline;

	c->seq_sent = c->seq_done = 0;
	conn_begin(c);
	for (;;) {
		uint64_t now = corio_now_ns(), dl;
		unsigned nq = 0;
		int r;

		/* Fill the window (not once half-closed). */
		while (!c->half && c->n < k) {
			uint64_t when = now;
			if (open_loop) {
				when = sched_next(c);
				if (when > now || when >= g.end_ns)
					break;
				c->sched_i++;
			}
			slot_push(c, when, now);
			nq++;
		}
		if (nq) {
			r = send_requests(c, nq, pick_act(c));
			if (r != STEP_OK)
				return r;
		}
		if (c->n == 0 && !c->half) {
			if (!open_loop)
				continue; /* all answered while sending */
			/* Open loop, nothing in flight: wait for the schedule
			 * (past the end: until cancelled). */
			uint64_t next = sched_next(c);
			now = corio_now_ns();
			if (next >= g.end_ns)
				next = g.end_ns + NS_PER_S;
			if (next > now && corio_sleep_ns(next - now) < 0)
				return STEP_STOP;
			continue;
		}
		/* Wait for responses (or, half-closed, the EOF): until the
		 * next send is due (open loop, room in the window) or the
		 * oldest request times out. */
		dl = timeout_at(c);
		if (open_loop && !c->half && c->n < k) {
			uint64_t next = sched_next(c);
			if (next < g.end_ns && (!dl || next < dl))
				dl = next;
		}
		r = recv_some(c, 0, dl);
		if (r == -ETIMEDOUT) {
			uint64_t t = timeout_at(c);
			if (t && corio_now_ns() >= t)
				return timed_out(c);
			continue; /* time to send */
		}
		if (r != STEP_OK)
			return r;
	}
}

/* Connects, within --connect-timeout-ms. The fd, or -errno. With
 * --server-chaos, a connection the server reset before connect returned
 * (its task was cancelled right after accept) is counted as dropped and
 * made again, a few times at most. */
static int conn_open(struct conn *c)
{
	int fd;

	for (int tries = 0;; tries++) {
		if (corio_deadline_push(g.o.connect_timeout_ms) < 0)
			return -ENOMEM;
		fd = corio_dial_tcp(g.o.host, (uint16_t)g.o.port);
		corio_deadline_pop();
		if (fd != -ECONNRESET || !g.o.server_chaos || tries == 10)
			return fd;
		dropped(c);
	}
}

static void conn_is_ready(void)
{
	if (++g.nready == g.o.conns)
		corio_event_set(g.ready);
}

static int conn_task(void *arg)
{
	struct conn *c = arg;
	int r;

	c->fd = conn_open(c);
	if (c->fd < 0) {
		c->failed = true;
		if (c->fd != -ECANCELED)
			note_err(c, E_CONNECT, 1, "connect to %s: %s", g.hostport,
				 c->fd == -ETIMEDOUT ? "timed out" : strerror(-c->fd));
		conn_is_ready();
		return 0;
	}
	conn_is_ready();
	if (corio_event_wait(g.go) < 0) {
		corio_close(c->fd);
		return 0;
	}
	for (;;) {
		r = conn_drive(c);
		drop_inflight(c, corio_now_ns());
		corio_close(c->fd);
		c->fd = -1;
		if (r == STEP_STOP || corio_now_ns() >= g.end_ns)
			break;
		/* Reopen; after an error a little later: a server that
		 * resets every connection must not get a storm of them. */
		if (r == STEP_AGAIN && corio_sleep_ms(RECONNECT_MS) < 0)
			break;
		c->fd = conn_open(c);
		if (c->fd < 0) {
			if (c->fd != -ECANCELED)
				note_err(c, E_CONNECT, 1, "reconnect to %s: %s", g.hostport,
					 c->fd == -ETIMEDOUT ? "timed out" : strerror(-c->fd));
			break;
		}
		g.reconnects++;
		c->gen++;
	}
	return 0;
}

/* ------------------------------------------------------------------------
 * Report
 * ------------------------------------------------------------------------ */

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

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

static void report(double wall_s, double cpu_user_s, double cpu_sys_s, int connect_failures)
{
	/* The text report's percentiles; the JSON adds points between them,
	 * enough to draw the percentile curve. */
	static const double pcts[] = { 50, 90, 99, 99.9, 99.99 };
	static const char *const plabels[] = { "p50", "p90", "p99", "p99.9", "p99.99" };
	static const double jpcts[] = { 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99 };
	static const char *const jnames[] = { "p50", "p75", "p90", "p95", "p99", "p99_5",
					      "p99_9", "p99_95", "p99_99" };
	double secs = g.o.seconds;
	double rps = (double)g.requests / secs;
	double in_ps = (double)g.bytes_in / secs, out_ps = (double)g.bytes_out / secs;
	double cpu = wall_s > 0 ? 100.0 * (cpu_user_s + cpu_sys_s) / wall_s : 0;
	double cpu_u = wall_s > 0 ? 100.0 * cpu_user_s / wall_s : 0;
	double cpu_s = wall_s > 0 ? 100.0 * cpu_sys_s / wall_s : 0;
	uint64_t errors = total_errors();
	FILE *f = stdout;

	if (g.o.json) {
		fprintf(f, "{\"mode\":\"%s\",\"host\":", g.o.mode == MODE_ECHO ? "echo" : "http");
		json_str(f, g.o.host);
		fprintf(f, ",\"port\":%d,\"conns\":%d,", g.o.port, g.o.conns);
		if (g.o.mode == MODE_ECHO) {
			fprintf(f, "\"size\":%zu,", g.o.size);
		} else {
			fprintf(f, "\"path\":");
			json_str(f, g.o.path);
			fputc(',', f);
		}
		fprintf(f, "\"pipeline\":%d,\"rate\":%.3f,\"seconds\":%.3f,", g.o.pipeline, g.o.rate,
			secs);
		fprintf(f, "\"requests\":%llu,\"requests_sent\":%llu,\"req_per_s\":%.1f,"
			   "\"bytes_sent\":%llu,"
			   "\"bytes_received\":%llu,\"bytes_per_s\":%.1f,\"sent_bytes_per_s\":%.1f,",
			(unsigned long long)g.requests, (unsigned long long)g.sent, rps,
			(unsigned long long)g.bytes_out,
			(unsigned long long)g.bytes_in, in_ps, out_ps);
		fprintf(f, "\"errors\":%llu,\"errors_by_kind\":{", (unsigned long long)errors);
		for (int k = 0; k < E_NKINDS; k++)
			fprintf(f, "%s\"%s\":%llu", k ? "," : "", err_names[k],
				(unsigned long long)g.errs[k]);
		fprintf(f, "},\"connect_failures\":%d,\"reconnects\":%llu,\"server_closes\":%llu,"
			   "\"bytes_verified\":%llu,\"aborts\":%llu,\"half_closes\":%llu,"
			   "\"stalls\":%llu,\"dropped\":%llu,\"dropped_requests\":%llu,"
			   "\"deadline_504\":%llu,\"latency_us\":{",
			connect_failures, (unsigned long long)g.reconnects,
			(unsigned long long)g.server_closes, (unsigned long long)g.verified,
			(unsigned long long)g.aborts, (unsigned long long)g.half_closes,
			(unsigned long long)g.stalls, (unsigned long long)g.dropped,
			(unsigned long long)g.dropped_reqs, (unsigned long long)g.deadline_504);
		for (size_t i = 0; i < sizeof(jpcts) / sizeof(jpcts[0]); i++)
			fprintf(f, "\"%s\":%.3f,", jnames[i],
				(double)hist_percentile(&g.h, jpcts[i]) / 1e3);
		fprintf(f, "\"max\":%.3f,\"mean\":%.3f},", (double)g.h.max / 1e3,
			hist_mean(&g.h) / 1e3);
		fprintf(f, "\"cpu_percent\":%.1f,\"cpu_user_percent\":%.1f,\"cpu_sys_percent\":%.1f}\n",
			cpu, cpu_u, cpu_s);
		fflush(f);
		return;
	}
	if (g.o.mode == MODE_ECHO)
		fprintf(f, "corio-load echo %s: %d connection(s), %zu B requests, ", g.hostport,
			g.o.conns, g.o.size);
	else
		fprintf(f, "corio-load http %s%s: %d connection(s), ", g.hostport, g.o.path,
			g.o.conns);
	if (g.o.rate > 0)
		fprintf(f, "open loop at %.0f req/s", g.o.rate);
	else
		fprintf(f, "closed loop");
	fprintf(f, ", pipeline %d, %.2f s\n", g.o.pipeline, secs);
	fprintf(f, "  requests   %llu  (%.1f req/s", (unsigned long long)g.requests, rps);
	if (g.o.rate > 0)
		fprintf(f, ", %.1f%% of the rate asked", 100.0 * rps / g.o.rate);
	fprintf(f, ")\n");
	fprintf(f, "  bytes/s    received %.2f MB/s, sent %.2f MB/s\n", in_ps / 1e6, out_ps / 1e6);
	fprintf(f, "  errors     %llu", (unsigned long long)errors);
	if (errors) {
		const char *sep = " (";
		for (int k = 0; k < E_NKINDS; k++)
			if (g.errs[k]) {
				fprintf(f, "%s%s %llu", sep, err_names[k], (unsigned long long)g.errs[k]);
				sep = ", ";
			}
		fputc(')', f);
	}
	if (g.reconnects)
		fprintf(f, ", %llu reconnect(s)", (unsigned long long)g.reconnects);
	if (g.server_closes)
		fprintf(f, ", %llu closed by the server", (unsigned long long)g.server_closes);
	fputc('\n', f);
	if (g.verified)
		fprintf(f, "  verified   %llu bytes, each as expected\n", (unsigned long long)g.verified);
	if (g.aborts || g.half_closes || g.stalls || g.dropped || g.deadline_504)
		fprintf(f, "  chaos      aborts %llu, half-closes %llu, stalls %llu; the server's: "
			   "dropped %llu (with %llu requests), deadline 504s %llu\n",
			(unsigned long long)g.aborts, (unsigned long long)g.half_closes,
			(unsigned long long)g.stalls, (unsigned long long)g.dropped,
			(unsigned long long)g.dropped_reqs, (unsigned long long)g.deadline_504);
	fprintf(f, "  latency us");
	for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++)
		fprintf(f, "  %s %.1f", plabels[i], (double)hist_percentile(&g.h, pcts[i]) / 1e3);
	fprintf(f, "  max %.1f  mean %.1f\n", (double)g.h.max / 1e3, hist_mean(&g.h) / 1e3);
	fprintf(f, "  cpu        %.1f%% of one core (user %.1f%%, sys %.1f%%)%s\n", cpu, cpu_u,
		cpu_s,
		cpu >= 90 ? ": corio-load is near saturation, it may be the bottleneck" : "");
	fflush(f);
}

/* ------------------------------------------------------------------------
 * Main
 * ------------------------------------------------------------------------ */

static int amain(void *arg)
{
	int n = g.o.conns, spawned = 0, connect_failures = 0, rc = 0;
	corio_task **ts;
	struct rusage ru0, ru1;
	uint64_t t_end;
	double wall;

	(void)arg;
	ts = calloc((size_t)n, sizeof(*ts));
	g.ready = corio_event_new();
	g.go = corio_event_new();
	if (!ts || !g.ready || !g.go) {
		fprintf(stderr, "corio-load: out of memory\n");
		free(ts);
		corio_event_free(g.ready);
		corio_event_free(g.go);
		return 1;
	}
	for (int i = 0; i < n; i++) {
		ts[i] = corio_spawn(conn_task, &g.conns[i]);
		if (!ts[i]) {
			fprintf(stderr, "corio-load: cannot start connection %d: %s\n", i,
				strerror(errno));
			rc = 1;
			break;
		}
		spawned++;
	}
	if (spawned == n) {
		/* Every connection is up or has failed. */
		corio_event_wait(g.ready);
	}
	getrusage(RUSAGE_SELF, &ru0);
	g.start_ns = corio_now_ns();
	g.end_ns = g.start_ns + (uint64_t)(g.o.seconds * 1e9);
	if (g.o.rate > 0) {
		g.interval_ns = (double)n * 1e9 / g.o.rate;
		for (int i = 0; i < n; i++)
			g.conns[i].sched_base =
				g.start_ns + (uint64_t)(g.interval_ns * (double)i / (double)n);
	}
	if (rc == 0) {
		corio_event_set(g.go);
		t_end = corio_now_ns();
		if (t_end < g.end_ns)
			corio_sleep_ns(g.end_ns - t_end);
	}
	for (int i = 0; i < spawned; i++)
		corio_cancel(ts[i]);
	corio_gather(ts, (size_t)spawned, NULL, CORIO_GATHER_ALL);
	getrusage(RUSAGE_SELF, &ru1);
	wall = (double)(corio_now_ns() - g.start_ns) / 1e9;
	free(ts);
	corio_event_free(g.ready);
	corio_event_free(g.go);
	if (rc)
		return rc;

	for (int i = 0; i < n; i++)
		connect_failures += g.conns[i].failed;
	report(wall, tv_s(ru1.ru_utime) - tv_s(ru0.ru_utime),
	       tv_s(ru1.ru_stime) - tv_s(ru0.ru_stime), connect_failures);

	if (connect_failures) {
		fprintf(stderr, "corio-load: %d of %d connection(s) failed to connect (%s)\n",
			connect_failures, n, g.first_err[E_CONNECT]);
		rc = 1;
	}
	if (total_errors()) {
		fprintf(stderr, "corio-load: %llu error(s):\n", (unsigned long long)total_errors());
		for (int k = 0; k < E_NKINDS; k++)
			if (g.errs[k])
				fprintf(stderr, "  %-8s %llu, the first: %s\n", err_names[k],
					(unsigned long long)g.errs[k], g.first_err[k]);
		rc = 1;
	}
	if (g.requests == 0 && connect_failures < n) {
		fprintf(stderr, "corio-load: no response arrived in %.2f s\n", g.o.seconds);
		rc = 1;
	}
	return rc;
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Buffers shared by every connection, and each connection's own. */
static int setup(void)
{
	struct opts *o = &g.o;
	size_t rcap, scap;

	if (strchr(o->host, ':'))
		snprintf(g.hostport, sizeof(g.hostport), "[%s]:%d", o->host, o->port);
	else
		snprintf(g.hostport, sizeof(g.hostport), "%s:%d", o->host, o->port);
	if (o->size_max < o->size)
		o->size_max = o->size;
	if (o->mode == MODE_ECHO) {
		rcap = o->size_max * (size_t)o->pipeline;
		rcap = rcap < 4096 ? 4096 : rcap > 65536 ? 65536 : rcap;
		scap = rcap < SBUF_MAX ? rcap : SBUF_MAX;
	} else {
		int n = snprintf(NULL, 0, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: corio-load\r\n\r\n",
				 o->path, g.hostport);
		if (n < 0)
			return -EINVAL;
		g.req_len = (size_t)n;
		g.req = malloc(g.req_len * (size_t)o->pipeline + 1);
		if (!g.req)
			return -ENOMEM;
		for (int i = 0; i < o->pipeline; i++)
			snprintf(g.req + g.req_len * (size_t)i, g.req_len + 1,
				 "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: corio-load\r\n\r\n",
				 o->path, g.hostport);
		rcap = HTTP_HEAD_MAX;
		/* --echo-path: K requests of "/echo/<token>" (the path "/" is
		 * the default, so g.req_len counts one byte of it). */
		scap = o->echo_path ? (g.req_len + 8 + TOKEN_MAX) * (size_t)o->pipeline + 1 : 0;
	}
	g.conns = calloc((size_t)o->conns, sizeof(*g.conns));
	if (!g.conns)
		return -ENOMEM;
	for (int i = 0; i < o->conns; i++) {
		struct conn *c = &g.conns[i];
		c->id = i;
		c->fd = -1;
		c->rcap = rcap;
		c->rbuf = malloc(rcap);
		c->scap = scap;
		c->sbuf = scap ? malloc(scap) : NULL;
		c->slots = calloc((size_t)o->pipeline, sizeof(*c->slots));
		c->rng = mix3(o->seed, (uint64_t)i, 0xc4a05);
		if (!c->rbuf || !c->slots || (scap && !c->sbuf))
			return -ENOMEM;
	}
	hist_init(&g.h);
	return 0;
}

static void teardown(void)
{
	if (g.conns)
		for (int i = 0; i < g.o.conns; i++) {
			free(g.conns[i].rbuf);
			free(g.conns[i].sbuf);
			free(g.conns[i].slots);
		}
	free(g.conns);
	free(g.req);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "host", required_argument, NULL, 'H' },
		{ "seconds", required_argument, NULL, 's' },
		{ "conns", required_argument, NULL, 'c' },
		{ "size", required_argument, NULL, 'z' },
		{ "path", required_argument, NULL, 'P' },
		{ "rate", required_argument, NULL, 'r' },
		{ "pipeline", required_argument, NULL, 'k' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "connect-timeout-ms", required_argument, NULL, 'T' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "seed", required_argument, NULL, 'e' },
		{ "size-max", required_argument, NULL, 'Z' },
		{ "echo-path", no_argument, NULL, 'E' },
		{ "abort-rate", required_argument, NULL, 'A' },
		{ "half-close-rate", required_argument, NULL, 'C' },
		{ "stall-rate", required_argument, NULL, 'L' },
		{ "stall-ms", required_argument, NULL, 'M' },
		{ "server-chaos", no_argument, NULL, 'X' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts *o = &g.o;
	bool size_set = false, path_set = false, size_max_set = false;
	char *end;
	long v;
	int opt, r;

	*o = (struct opts){ .host = "127.0.0.1", .port = -1, .conns = 10, .size = 64, .path = "/",
			    .pipeline = 1, .timeout_ms = 5000, .connect_timeout_ms = 5000, .seed = 1,
			    .stall_ms = 200 };
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc < 2 || (strcmp(argv[1], "echo") != 0 && strcmp(argv[1], "http") != 0)) {
		fprintf(stderr, "corio-load: the first argument is the mode: echo or http\n");
		usage(stderr);
		return 2;
	}
	o->mode = strcmp(argv[1], "echo") == 0 ? MODE_ECHO : MODE_HTTP;
	optind = 2;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			if (!cli_parse_long(optarg, 1, 65535, &v)) {
				fprintf(stderr, "corio-load: --port wants 1..65535\n");
				return 2;
			}
			o->port = (int)v;
			break;
		case 'H':
			if (!*optarg || strlen(optarg) > 255) {
				fprintf(stderr, "corio-load: --host wants an address or a name\n");
				return 2;
			}
			o->host = optarg;
			break;
		case 's':
			if (!cli_parse_double(optarg, 0.001, MAX_SECONDS, &o->seconds)) {
				fprintf(stderr, "corio-load: --seconds wants a number in [0.001, %.0f]\n",
					MAX_SECONDS);
				return 2;
			}
			break;
		case 'c':
			if (!cli_parse_long(optarg, 1, MAX_CONNS, &v)) {
				fprintf(stderr, "corio-load: --conns wants 1..%d\n", MAX_CONNS);
				return 2;
			}
			o->conns = (int)v;
			break;
		case 'z':
			if (!cli_parse_long(optarg, 1, MAX_SIZE, &v)) {
				fprintf(stderr, "corio-load: --size wants 1..%u bytes\n", MAX_SIZE);
				return 2;
			}
			o->size = (size_t)v;
			size_set = true;
			break;
		case 'P':
			if (!path_ok(optarg)) {
				fprintf(stderr, "corio-load: --path wants '/' then up to %d printable "
						"characters, no spaces\n", MAX_PATH_LEN - 1);
				return 2;
			}
			o->path = optarg;
			path_set = true;
			break;
		case 'r':
			if (!cli_parse_double(optarg, 0.001, MAX_RATE, &o->rate)) {
				fprintf(stderr, "corio-load: --rate wants requests/s in [0.001, %.0f]\n",
					MAX_RATE);
				return 2;
			}
			break;
		case 'k':
			if (!cli_parse_long(optarg, 1, MAX_PIPELINE, &v)) {
				fprintf(stderr, "corio-load: --pipeline wants 1..%d\n", MAX_PIPELINE);
				return 2;
			}
			o->pipeline = (int)v;
			break;
		case 't':
			if (!cli_parse_long(optarg, 0, 3600000, &v)) {
				fprintf(stderr, "corio-load: --timeout-ms wants 0..3600000\n");
				return 2;
			}
			o->timeout_ms = (uint64_t)v;
			break;
		case 'T':
			if (!cli_parse_long(optarg, 1, 600000, &v)) {
				fprintf(stderr, "corio-load: --connect-timeout-ms wants 1..600000\n");
				return 2;
			}
			o->connect_timeout_ms = (uint64_t)v;
			break;
		case 'j':
			o->json = true;
			break;
		case 'e':
			errno = 0;
			o->seed = strtoull(optarg, &end, 0);
			if (errno || end == optarg || *end || *optarg == '-') {
				fprintf(stderr, "corio-load: --seed wants a number\n");
				return 2;
			}
			break;
		case 'Z':
			if (!cli_parse_long(optarg, 1, MAX_SIZE, &v)) {
				fprintf(stderr, "corio-load: --size-max wants 1..%u bytes\n", MAX_SIZE);
				return 2;
			}
			o->size_max = (size_t)v;
			size_max_set = true;
			break;
		case 'E':
			o->echo_path = true;
			break;
		case 'A':
		case 'C':
		case 'L': {
			double *rate = opt == 'A' ? &o->abort_rate : opt == 'C' ? &o->half_rate
									: &o->stall_rate;
			if (!cli_parse_double(optarg, 0, 1, rate)) {
				fprintf(stderr, "corio-load: --%s wants a probability in [0, 1]\n",
					opt == 'A' ? "abort-rate" : opt == 'C' ? "half-close-rate"
										: "stall-rate");
				return 2;
			}
			break;
		}
		case 'M':
			if (!cli_parse_long(optarg, 1, 600000, &v)) {
				fprintf(stderr, "corio-load: --stall-ms wants 1..600000\n");
				return 2;
			}
			o->stall_ms = (uint64_t)v;
			break;
		case 'X':
			o->server_chaos = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "corio-load: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (o->port < 0) {
		fprintf(stderr, "corio-load: --port is required\n");
		return 2;
	}
	if (o->seconds <= 0) {
		fprintf(stderr, "corio-load: --seconds is required (at most %.0f)\n", MAX_SECONDS);
		return 2;
	}
	if (o->mode == MODE_HTTP && size_set) {
		fprintf(stderr, "corio-load: --size is for echo mode\n");
		return 2;
	}
	if (o->mode == MODE_ECHO && path_set) {
		fprintf(stderr, "corio-load: --path is for http mode\n");
		return 2;
	}
	if (o->mode == MODE_HTTP && size_max_set) {
		fprintf(stderr, "corio-load: --size-max is for echo mode\n");
		return 2;
	}
	if (size_max_set && o->size_max < o->size) {
		fprintf(stderr, "corio-load: --size-max is below --size\n");
		return 2;
	}
	if (o->echo_path && (o->mode != MODE_HTTP || path_set)) {
		fprintf(stderr, "corio-load: --echo-path is for http mode, without --path\n");
		return 2;
	}
	if (o->abort_rate + o->half_rate + o->stall_rate > 1) {
		fprintf(stderr, "corio-load: --abort-rate, --half-close-rate and --stall-rate "
				"add up to more than 1\n");
		return 2;
	}
	if (o->stall_rate > 0 && o->timeout_ms && o->stall_ms >= o->timeout_ms) {
		fprintf(stderr, "corio-load: --stall-ms must be below --timeout-ms\n");
		return 2;
	}
	raise_nofile();
	r = setup();
	if (r < 0) {
		fprintf(stderr, "corio-load: %s\n", strerror(-r));
		teardown();
		return 1;
	}
	r = corio_run(amain, NULL);
	teardown();
	if (r < 0) {
		fprintf(stderr, "corio-load: %s\n", strerror(-r));
		return 1;
	}
	return r;
}
