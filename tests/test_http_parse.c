/*
 * test_http_parse.c - tools/http_parse.h: valid requests, every error and
 * its status, the limits at and one past them, split points, and a
 * randomized robustness loop (run it under ASan: every input is parsed
 * from a buffer of exactly its length, so a read past the end is caught).
 */
#include "check.h"

#include "../tools/http_parse.h"

/* Parses the NUL-terminated s (without its NUL) from an exact-size heap copy. */
static int parse_n(const char *s, size_t n, http_request *req)
{
	char *b = malloc(n ? n : 1);
	int r;

	assert_non_null(b);
	memcpy(b, s, n);
	r = http_parse_request(b, n, req);
	/* The slices point into b: rebase them onto s for the caller. */
	if (r == HTTP_OK) {
		ptrdiff_t d = s - b;
		req->method_name.p += d;
		req->target.p += d;
		for (size_t i = 0; i < req->nheaders; i++) {
			req->headers[i].name.p += d;
			req->headers[i].value.p += d;
		}
	}
	free(b);
	return r;
}

static int parse(const char *s, http_request *req)
{
	return parse_n(s, strlen(s), req);
}

#define assert_slice(sl, str)                                                           \
	do {                                                                            \
		http_slice s_ = (sl);                                                   \
		const char *e_ = (str);                                                 \
		if (s_.len != strlen(e_) || memcmp(s_.p, e_, s_.len) != 0)              \
			fail_msg("slice \"%.*s\", expected \"%s\"", (int)s_.len, s_.p,  \
				 e_);                                                   \
	} while (0)

/* s must fail with status (any reason). */
static void expect_error(const char *s, size_t n, int status)
{
	http_request req;
	int r = parse_n(s, n, &req);

	if (r != HTTP_ERROR || req.status != status)
		fail_msg("\"%.*s\": result %d status %d, expected error %d", (int)(n > 200 ? 200 : n),
			 s, r, req.status, status);
	assert_non_null(req.error);
	assert_int_equal(req.keep_alive, 0);
}

#define ERR(lit, status) expect_error(lit, sizeof(lit) - 1, status)

/* ------------------------------------------------------------------------
 * Valid requests
 * ------------------------------------------------------------------------ */

static void test_get(void **state)
{
	static const char s[] = "GET /index.html?q=1&r=%20x HTTP/1.1\r\nHost: example.com:8080\r\n"
				"User-Agent: t\r\nAccept:  */*  \r\nX-Empty:\r\n\r\n";
	http_request req;

	assert_int_equal(parse(s, &req), HTTP_OK);
	assert_int_equal(req.status, 200);
	assert_null(req.error);
	assert_int_equal(req.method, HTTP_METHOD_GET);
	assert_slice(req.method_name, "GET");
	assert_slice(req.target, "/index.html?q=1&r=%20x");
	assert_int_equal(req.version_minor, 1);
	assert_int_equal(req.keep_alive, 1);
	assert_int_equal(req.has_content_length, 0);
	assert_int_equal(req.body_len, 0);
	assert_int_equal(req.head_len, sizeof(s) - 1);
	assert_int_equal(req.total_len, sizeof(s) - 1);
	assert_int_equal(req.nheaders, 4);
	assert_slice(req.headers[0].name, "Host");
	assert_slice(req.headers[0].value, "example.com:8080");
	assert_slice(req.headers[1].name, "User-Agent");
	assert_slice(req.headers[1].value, "t");
	assert_slice(req.headers[2].name, "Accept");
	assert_slice(req.headers[2].value, "*/*"); /* OWS trimmed */
	assert_slice(req.headers[3].name, "X-Empty");
	assert_slice(req.headers[3].value, "");
}

static void test_head_and_others(void **state)
{
	http_request req;

	assert_int_equal(parse("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", &req), HTTP_OK);
	assert_int_equal(req.method, HTTP_METHOD_HEAD);
	assert_int_equal(req.status, 200);

	/* Other methods are well-formed: 405, the body known, keep-alive kept. */
	assert_int_equal(parse("POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
			       &req), HTTP_OK);
	assert_int_equal(req.method, HTTP_METHOD_OTHER);
	assert_int_equal(req.status, 405);
	assert_int_equal(req.has_content_length, 1);
	assert_int_equal(req.content_length, 5);
	assert_int_equal(req.body_len, 5);
	assert_int_equal(req.total_len, req.head_len + 5);
	assert_int_equal(req.keep_alive, 1);
	assert_slice(req.method_name, "POST");

	/* Methods are case-sensitive: "get" is some other method. */
	assert_int_equal(parse("get / HTTP/1.1\r\nHost: a\r\n\r\n", &req), HTTP_OK);
	assert_int_equal(req.status, 405);
	assert_int_equal(parse("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", &req), HTTP_OK);
	assert_int_equal(req.status, 405);
	assert_int_equal(parse("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
			       &req), HTTP_OK);
	assert_int_equal(req.status, 405);
	assert_int_equal(parse("GET http://example.com/x HTTP/1.1\r\nHost: example.com\r\n\r\n",
			       &req), HTTP_OK);
	assert_slice(req.target, "http://example.com/x");
	/* A GET may carry a body: its length is reported. */
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n", &req),
			 HTTP_OK);
	assert_int_equal(req.body_len, 7);
	/* Equal Content-Length lines are one. */
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
			       "content-length: 3\r\n\r\n", &req), HTTP_OK);
	assert_int_equal(req.body_len, 3);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n",
			       &req), HTTP_OK);
	assert_true(req.body_len == UINT64_C(9223372036854775807));
	/* obs-text in a value, an empty Host, HTTP/1.2 read as 1.1. */
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost:\r\nX: caf\xc3\xa9\r\n\r\n", &req), HTTP_OK);
	assert_int_equal(parse("GET / HTTP/1.2\r\nHost: a\r\n\r\n", &req), HTTP_OK);
	assert_int_equal(req.version_minor, 1);
	/* Leading empty lines are skipped and counted. */
	assert_int_equal(parse("\r\n\r\nGET / HTTP/1.0\r\n\r\n", &req), HTTP_OK);
	assert_int_equal(req.head_len, 4 + 16 + 2);
	assert_slice(req.method_name, "GET");
}

static void test_keep_alive_rules(void **state)
{
	static const struct {
		const char *s;
		int         keep;
	} cases[] = {
		{ "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 1 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: CLOSE\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", 1 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade, close\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: ,, foo ,\r\n\r\n", 1 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n", 1 },
		{ "GET / HTTP/1.0\r\n\r\n", 0 },
		{ "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 1 },
		{ "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 1 },
		{ "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", 0 },
		{ "GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", 0 },
		{ "GET / HTTP/1.0\r\nConnection: foo\r\n\r\n", 0 },
		{ "GET / HTTP/1.0\r\nHost: a\r\nConnection:keep-alive\r\n\r\n", 1 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		http_request req;
		assert_int_equal(parse(cases[i].s, &req), HTTP_OK);
		if (req.keep_alive != cases[i].keep)
			fail_msg("%s: keep_alive %d, expected %d", cases[i].s, req.keep_alive,
				 cases[i].keep);
	}
}

static void test_pipelined(void **state)
{
	static const char s[] = "GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
				"HEAD /b HTTP/1.1\r\nHost: a\r\n\r\n"
				"POST /c HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz"
				"GET /d HTTP/1.1\r\nHo";
	static const char *targets[] = { "/a", "/b", "/c" };
	size_t off = 0, n = sizeof(s) - 1;
	http_request req;

	for (int k = 0; k < 3; k++) {
		assert_int_equal(parse_n(s + off, n - off, &req), HTTP_OK);
		assert_slice(req.target, targets[k]);
		assert_true(req.total_len <= n - off);
		off += (size_t)req.total_len;
	}
	assert_int_equal(parse_n(s + off, n - off, &req), HTTP_NEED_MORE);
	assert_memory_equal(s + off, "GET /d", 6);
}

/* Every proper prefix of a valid request needs more; the whole parses. */
static void test_every_split(void **state)
{
	static const char *reqs[] = {
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"\r\nHEAD /x?y=%41 HTTP/1.0\r\nConnection: keep-alive\r\nA: b \t\r\n\r\n",
		"DELETE http://h/p HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\nX:\r\n\r\n",
	};
	for (size_t k = 0; k < sizeof(reqs) / sizeof(reqs[0]); k++) {
		size_t n = strlen(reqs[k]);
		http_request req;
		for (size_t i = 0; i < n; i++) {
			int r = parse_n(reqs[k], i, &req);
			if (r != HTTP_NEED_MORE)
				fail_msg("request %zu cut at %zu: %d (%s), expected NEED_MORE", k,
					 i, r, r == HTTP_ERROR ? req.error : "");
		}
		assert_int_equal(parse_n(reqs[k], n, &req), HTTP_OK);
		assert_int_equal(req.head_len, n);
	}
}

/* ------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------ */

static void test_request_line_errors(void **state)
{
	ERR("G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400);       /* bad method token */
	ERR("GE\"T / HTTP/1.1\r\n", 400);
	ERR(" GET / HTTP/1.1\r\n", 400);                      /* empty method */
	ERR("GET  / HTTP/1.1\r\n", 400);                      /* two spaces */
	ERR("GET / HTTP/1.1 \r\n", 400);                      /* trailing space */
	ERR("GET\t/ HTTP/1.1\r\n", 400);
	ERR("GET /a b HTTP/1.1\r\n", 400);                    /* space in target */
	ERR("GET /a#frag HTTP/1.1\r\n", 400);
	ERR("GET /a<b HTTP/1.1\r\n", 400);
	ERR("GET /%zz HTTP/1.1\r\n", 400);                    /* bad percent-encoding */
	ERR("GET /%4 HTTP/1.1\r\n", 400);
	ERR("GET /\x80 HTTP/1.1\r\n", 400);
	ERR("GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400);        /* "*" is for OPTIONS */
	ERR("GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400);      /* no form */
	ERR("GET http:/x HTTP/1.1\r\nHost: a\r\n\r\n", 400);
}

static void test_version_and_line_end_errors(void **state)
{
	http_request req;

	ERR("GET / http/1.1\r\n", 400);                       /* bad version */
	ERR("GET / HTTP/1\r\n", 400);
	ERR("GET / HTTP/1.10\r\n", 400);
	ERR("GET / HTTP/11\r\n", 400);
	ERR("GET / HTTPS/1.1\r\n", 400);
	ERR("GET /\r\n", 400);                                /* HTTP/0.9 style */
	ERR("GET\r\n", 400);
	ERR("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505);        /* unsupported version */
	ERR("GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505);
	ERR("GET / HTTP/3.1\r\n", 505);                       /* known from the line alone */
	ERR("GET / HTTP/1.1\n", 400);                         /* bare LF */
	ERR("GET / HTTP/1.1\rX", 400);                        /* CR without LF */
	ERR("GET /\n HTTP/1.1\r\n", 400);
	ERR("\n", 400);
	ERR("\rGET", 400);
	ERR("\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n", 400);     /* 9 empty lines */
	assert_int_equal(parse("\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n", &req), HTTP_NEED_MORE);
	ERR("GET / HTTP/1.1\x00\r\n", 400);                   /* NUL */
	ERR("\x00GET / HTTP/1.1\r\n", 400);
	ERR("GET /\x00 HTTP/1.1\r\n", 400);
}

static void test_header_errors(void **state)
{
	ERR("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400);
	ERR("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400);       /* whitespace before colon */
	ERR("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400);
	ERR("GET / HTTP/1.1\r\n: a\r\n\r\n", 400);            /* empty name */
	ERR("GET / HTTP/1.1\r\nHo(st: a\r\n\r\n", 400);       /* bad name byte */
	ERR("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n  c\r\n\r\n", 400); /* obs-fold */
	ERR("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n\tc\r\n\r\n", 400);
	ERR("GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400);       /* space before first header */
	ERR("GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 400);  /* bare LF in a header */
	ERR("GET / HTTP/1.1\r\nHost: a\r\n\n", 400);          /* bare LF as the end */
	ERR("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400);
	ERR("GET / HTTP/1.1\r\nHost: a\r\n\rX", 400);
	ERR("GET / HTTP/1.1\r\nHost: a\x00\r\n\r\n", 400);    /* NUL in a value */
	ERR("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n", 400);
	ERR("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", 400);
	ERR("GET / HTTP/1.1\r\nHost: a\r\nX\x00: a\r\n\r\n", 400);
	/* Host: missing in 1.1, doubled, or with bytes a host cannot have. */
	ERR("GET / HTTP/1.1\r\n\r\n", 400);
	ERR("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400);
	ERR("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400);
	ERR("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400);
	ERR("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400);
}

static void test_body_framing_errors(void **state)
{
	ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400);
	ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n", 400);
	ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n", 400);
	ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", 400);
	ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", 400);
	ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400);
	ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n", 400);
	ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400);
	ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400);
	ERR("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 501);
	ERR("GET / HTTP/1.1\r\nHost: a\r\ntransfer-encoding: identity\r\n\r\n", 501);
	ERR("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
	    "Content-Length: 3\r\n\r\n", 400);
	ERR("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
}

/* ------------------------------------------------------------------------
 * Limits
 * ------------------------------------------------------------------------ */

static char big[4 * HTTP_MAX_HEAD];

/* "GET /aaa... HTTP/1.1" with a request line of exactly linelen bytes. */
static size_t make_line(size_t linelen, const char *rest)
{
	size_t tlen = linelen - strlen("GET  HTTP/1.1"), n = 0;

	n += (size_t)sprintf(big, "GET /");
	memset(big + n, 'a', tlen - 1);
	n += tlen - 1;
	n += (size_t)sprintf(big + n, " HTTP/1.1%s", rest);
	return n;
}

static void test_request_line_limit(void **state)
{
	http_request req;
	size_t n;

	n = make_line(HTTP_MAX_REQUEST_LINE, "\r\nHost: a\r\n\r\n");
	assert_int_equal(parse_n(big, n, &req), HTTP_OK);
	assert_int_equal(req.target.len, HTTP_MAX_REQUEST_LINE - strlen("GET  HTTP/1.1"));
	n = make_line(HTTP_MAX_REQUEST_LINE + 1, "\r\nHost: a\r\n\r\n");
	expect_error(big, n, 414);
	/* Known as soon as the byte past the limit arrives. */
	expect_error(big, HTTP_MAX_REQUEST_LINE + 1, 414);
	assert_int_equal(parse_n(big, HTTP_MAX_REQUEST_LINE, &req), HTTP_NEED_MORE);
	/* Past the limit, whatever the bytes: 414, not 400. */
	memset(big, 'A', HTTP_MAX_REQUEST_LINE + 10);
	expect_error(big, HTTP_MAX_REQUEST_LINE + 10, 414);
	/* Empty lines do not count in the request line. */
	n = 0;
	for (int i = 0; i < HTTP_MAX_EMPTY_LINES; i++)
		n += (size_t)sprintf(big + n, "\r\n");
	{
		size_t m = n;
		char tmp[HTTP_MAX_REQUEST_LINE + 64];
		size_t k = make_line(HTTP_MAX_REQUEST_LINE, "\r\nHost: a\r\n\r\n");
		memcpy(tmp, big, k);
		memset(big, 0, sizeof(big));
		for (int i = 0; i < HTTP_MAX_EMPTY_LINES; i++)
			memcpy(big + 2 * i, "\r\n", 2);
		memcpy(big + m, tmp, k);
		assert_int_equal(parse_n(big, m + k, &req), HTTP_OK);
		assert_int_equal(req.head_len, m + k);
	}
}

/* A head with a header section of exactly seclen bytes, made of header
 * lines "X-nnn: vvv\r\n" and the final CRLF; nlines lines at most. */
static size_t make_headers(size_t seclen, size_t nlines)
{
	static const char line[] = "GET / HTTP/1.1\r\n";
	size_t n = strlen(line), body = seclen - 2, per;

	memcpy(big, line, n);
	/* Host first, then filler lines of equal size, the last one padded. */
	n += (size_t)sprintf(big + n, "Host: a\r\n");
	body -= 9;
	per = body / (nlines - 1);
	for (size_t i = 0; i < nlines - 1; i++) {
		size_t len = i == nlines - 2 ? body - per * (nlines - 2) : per;
		int h = sprintf(big + n, "X-%zu: ", i);
		memset(big + n + h, 'v', len - (size_t)h - 2);
		memcpy(big + n + len - 2, "\r\n", 2);
		n += len;
	}
	memcpy(big + n, "\r\n", 2);
	return n + 2;
}

static void test_header_limits(void **state)
{
	size_t line = strlen("GET / HTTP/1.1\r\n");
	http_request req;
	size_t n;

	n = make_headers(HTTP_MAX_HEADER_SECTION, 20);
	assert_int_equal(n - line, HTTP_MAX_HEADER_SECTION);
	assert_int_equal(parse_n(big, n, &req), HTTP_OK);
	assert_int_equal(req.nheaders, 20);
	assert_int_equal(req.head_len, n);
	n = make_headers(HTTP_MAX_HEADER_SECTION + 1, 20);
	expect_error(big, n, 431);
	/* The limit is hit in the middle of a line: known at once. */
	expect_error(big, line + HTTP_MAX_HEADER_SECTION + 1, 431);

	/* One very long value (just under the limit) is fine. */
	n = make_headers(HTTP_MAX_HEADER_SECTION, 2);
	assert_int_equal(parse_n(big, n, &req), HTTP_OK);
	assert_true(req.headers[1].value.len > HTTP_MAX_HEADER_SECTION - 32);
	/* A value far longer than the limit: 431, not a crash or NEED_MORE. */
	n = (size_t)sprintf(big, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
	memset(big + n, 'v', 3 * HTTP_MAX_HEADER_SECTION);
	expect_error(big, n + 3 * HTTP_MAX_HEADER_SECTION, 431);

	/* 100 header lines parse; 101 is 431. */
	n = make_headers(2000, HTTP_MAX_HEADERS);
	assert_int_equal(parse_n(big, n, &req), HTTP_OK);
	assert_int_equal(req.nheaders, HTTP_MAX_HEADERS);
	assert_slice(req.headers[99].name, "X-98");
	n = make_headers(2000, HTTP_MAX_HEADERS + 1);
	expect_error(big, n, 431);

	/* The biggest head the parser accepts. */
	{
		char *b = big + HTTP_MAX_HEAD; /* room after */
		size_t k = 0;
		for (int i = 0; i < HTTP_MAX_EMPTY_LINES; i++)
			k += (size_t)sprintf(b + k, "\r\n");
		k += (size_t)sprintf(b + k, "GET /");
		memset(b + k, 'a', HTTP_MAX_REQUEST_LINE - 14);
		k += HTTP_MAX_REQUEST_LINE - 14;
		k += (size_t)sprintf(b + k, " HTTP/1.1\r\n");
		n = make_headers(HTTP_MAX_HEADER_SECTION, 50);
		memcpy(b + k, big + line, n - line);
		k += n - line;
		assert_int_equal(k, HTTP_MAX_HEAD);
		assert_int_equal(parse_n(b, k, &req), HTTP_OK);
		assert_int_equal(req.head_len, HTTP_MAX_HEAD);
	}
}

/* ------------------------------------------------------------------------
 * Robustness: random inputs, random mutations of valid requests
 * ------------------------------------------------------------------------ */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1du;
}

static const int statuses[] = { 400, 414, 431, 501, 505 };

/* One input: a definite result, slices inside the buffer, and monotone
 * answers for a random prefix of it. */
static void check_one(const char *src, size_t n, unsigned *counts)
{
	char *b = malloc(n ? n : 1);
	http_request req, pre;
	int r, rp;
	size_t k;

	assert_non_null(b);
	memcpy(b, src, n);
	r = http_parse_request(b, n, &req);
	switch (r) {
	case HTTP_NEED_MORE:
		break;
	case HTTP_OK:
		assert_true(req.head_len <= n && req.head_len > 0);
		assert_true(req.total_len == req.head_len + req.body_len);
		assert_true(req.status == 200 || req.status == 405);
		assert_true(req.version_minor == 0 || req.version_minor == 1);
		assert_true(req.nheaders <= HTTP_MAX_HEADERS);
		assert_true(req.method_name.p >= b && req.method_name.p + req.method_name.len <= b + n);
		assert_true(req.target.p >= b && req.target.p + req.target.len <= b + n);
		for (size_t i = 0; i < req.nheaders; i++) {
			const http_header *h = &req.headers[i];
			assert_true(h->name.len > 0);
			assert_true(h->name.p >= b && h->name.p + h->name.len <= b + req.head_len);
			assert_true(h->value.p >= b && h->value.p + h->value.len <= b + req.head_len);
		}
		break;
	case HTTP_ERROR: {
		bool known = false;
		for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
			known |= req.status == statuses[i];
		if (!known)
			fail_msg("unexpected error status %d", req.status);
		assert_non_null(req.error);
		break;
	}
	default:
		fail_msg("result %d", r);
	}
	counts[r + 1]++;

	/* A prefix needs more or already says the same. */
	k = n ? (size_t)(rnd() % n) : 0;
	rp = http_parse_request(b, k, &pre);
	if (rp != HTTP_NEED_MORE) {
		if (rp != r || pre.status != req.status ||
		    (r == HTTP_OK && pre.head_len != req.head_len))
			fail_msg("prefix %zu of %zu: result %d/%d, whole: %d/%d", k, n, rp,
				 pre.status, r, req.status);
	}
	free(b);
}

static void test_random(void **state)
{
	static const char *valid[] = {
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"HEAD /x?y=1 HTTP/1.0\r\nConnection: keep-alive\r\nUser-Agent: t/1\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: h:80\r\nContent-Length: 4\r\n\r\nbody",
		"\r\nGET http://h/ HTTP/1.1\r\nHost: h\r\nA: b\r\nC:  d \r\n\r\nGET / HTTP/1.1\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
	};
	static const char alphabet[] = "GETHAD /:\r\n\t %0aZ-1.Host:Content-Length";
	static char buf[HTTP_MAX_HEAD + 512];
	unsigned counts[3] = { 0 };

	for (int iter = 0; iter < 20000; iter++) {
		size_t n;
		uint64_t kind = rnd() % 4;

		if (kind == 0) {
			/* Random bytes. */
			n = (size_t)(rnd() % 256);
			for (size_t i = 0; i < n; i++)
				buf[i] = (char)rnd();
		} else if (kind == 1) {
			/* Random bytes from an HTTP-ish alphabet. */
			n = (size_t)(rnd() % 512);
			for (size_t i = 0; i < n; i++)
				buf[i] = alphabet[rnd() % (sizeof(alphabet) - 1)];
		} else {
			/* A valid request with a few mutations. */
			const char *v = valid[rnd() % (sizeof(valid) / sizeof(valid[0]))];
			int muts = 1 + (int)(rnd() % 4);
			n = strlen(v);
			memcpy(buf, v, n);
			for (int m = 0; m < muts && n > 0; m++) {
				size_t at = (size_t)(rnd() % n);
				switch (rnd() % 6) {
				case 0: /* flip a bit */
					buf[at] ^= (char)(1u << (rnd() % 8));
					break;
				case 1: /* a special byte */
					buf[at] = "\r\n \t:\0\x7f\x80%"[rnd() % 9];
					break;
				case 2: /* delete a byte */
					memmove(buf + at, buf + at + 1, n - at - 1);
					n--;
					break;
				case 3: /* duplicate a byte */
					if (n < sizeof(buf) - 1) {
						memmove(buf + at + 1, buf + at, n - at);
						n++;
					}
					break;
				case 4: /* truncate */
					n = at;
					break;
				default: { /* repeat a run, sometimes far past a limit */
					size_t run = 1 + (size_t)(rnd() % 16);
					size_t times = rnd() % 8 == 0 ? 2000 : 1 + (size_t)(rnd() % 8);
					if (at + run > n)
						run = n - at;
					for (size_t t = 0; t < times && n + run < sizeof(buf); t++) {
						memmove(buf + at + run, buf + at, n - at);
						n += run;
					}
					break;
				}
				}
			}
		}
		check_one(buf, n, counts);
	}
	print_message("random: %u need-more, %u ok, %u error\n", counts[1], counts[2], counts[0]);
	/* The mix exercises every outcome. */
	assert_true(counts[0] > 1000 && counts[1] > 100 && counts[2] > 100);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		CHECK_TEST(test_get),
		CHECK_TEST(test_head_and_others),
		CHECK_TEST(test_keep_alive_rules),
		CHECK_TEST(test_pipelined),
		CHECK_TEST(test_every_split),
		CHECK_TEST(test_request_line_errors),
		CHECK_TEST(test_version_and_line_end_errors),
		CHECK_TEST(test_header_errors),
		CHECK_TEST(test_body_framing_errors),
		CHECK_TEST(test_request_line_limit),
		CHECK_TEST(test_header_limits),
		CHECK_TEST(test_random),
	};

	check_init(argc, argv);
	return cmocka_run_group_tests_name("http_parse", tests, NULL, NULL);
}
