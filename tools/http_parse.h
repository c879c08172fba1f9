/*
 * http_parse.h - a strict, allocation-free HTTP/1.1 request parser.
 *
 * Header-only (static functions), no state between calls, no recursion, one
 * pass over the input: O(n) per call. It reads only buf[0, len) and writes
 * only *req. Written to be fuzzed: every input gives one definite answer.
 *
 *     http_request req;
 *     int r = http_parse_request(buf, len, &req);
 *
 *   HTTP_NEED_MORE  buf holds the beginning of a valid request head: read
 *                   more and call again with the longer buffer.
 *   HTTP_OK         buf starts with a complete request head. req->head_len
 *                   bytes hold it; its body is the next req->body_len bytes
 *                   (Content-Length, 0 without one), which may not have
 *                   arrived yet; req->total_len = head_len + body_len is
 *                   where the next pipelined request starts. req->status is
 *                   what to answer: 200 for GET and HEAD, 405 for any other
 *                   well-formed method (the framing is sound, so the body
 *                   can be discarded and the connection kept).
 *   HTTP_ERROR      buf does not start a valid request. req->status is the
 *                   status to answer, always with Connection: close, and
 *                   req->error a short reason. The decision is final: the
 *                   same error comes back for any longer buffer.
 *
 * The answers are monotone: once a prefix of the stream gives HTTP_OK or
 * HTTP_ERROR, every longer buffer gives the same. Errors are reported as
 * soon as the first offending byte is seen, without waiting for the rest.
 *
 * The rules (RFC 9110, RFC 9112), and the status for each violation:
 *
 *   Line ends      CRLF only. A bare LF, or a CR not followed by LF, is 400
 *                  (RFC 9112 section 2.2 lets a recipient accept a bare LF;
 *                  this parser does not, so no two parsers on one path can
 *                  disagree about where a line ends).
 *   Empty lines    up to HTTP_MAX_EMPTY_LINES CRLFs before the request line
 *                  are skipped (section 2.2; a client may send one after a
 *                  body) and count in head_len; one more is 400.
 *   Request line   method SP request-target SP HTTP-version CRLF, single
 *                  spaces. Longer than HTTP_MAX_REQUEST_LINE bytes (CRLF
 *                  not counted): 414, whatever the bytes are.
 *   Method         a token (tchar), case-sensitive: GET and HEAD are served;
 *                  any other token is well-formed and gets 405. An empty
 *                  method or a byte outside tchar: 400.
 *   Target         origin-form ("/" ...), absolute-form (scheme "://" ...),
 *                  "*" with OPTIONS only, any target with CONNECT (authority
 *                  form); made of RFC 3986 characters (unreserved,
 *                  sub-delims, ":", "@", "/", "?") and well-formed "%" HEX
 *                  HEX. Anything else (a fragment "#", a space, a control
 *                  byte, bytes >= 0x80, "<", "\"", ...): 400.
 *   Version        exactly "HTTP/" DIGIT "." DIGIT, else 400. HTTP/1.0 and
 *                  HTTP/1.1 are served; HTTP/1.2 to 1.9 are read as 1.1
 *                  (RFC 9110 section 6.2); any other major version: 505.
 *   Header lines   field-name ":" OWS field-value OWS CRLF. The name is a
 *                  non-empty token; a space or tab before the colon, a line
 *                  without a colon, a line starting with a space or tab
 *                  (obs-fold, or whitespace before the first header): 400.
 *                  Values may hold visible ASCII, SP, HTAB and obs-text
 *                  (>= 0x80); any other control byte (NUL, DEL, ...) is 400.
 *                  Values are returned with the surrounding OWS trimmed.
 *   Header limits  the header section (every header line and the final
 *                  empty line, CRLFs included) longer than
 *                  HTTP_MAX_HEADER_SECTION bytes, or more than
 *                  HTTP_MAX_HEADERS header lines: 431.
 *   Content-Length 1*DIGIT up to 2^63 - 1, else 400 (no sign, no list "5, 5",
 *                  no inner spaces). Several Content-Length lines with equal
 *                  values are one (RFC 9110 section 8.6); different: 400.
 *   Transfer-Encoding  chunked bodies are not implemented: 501; with a
 *                  Content-Length too, or in an HTTP/1.0 request, it is a
 *                  framing error (request smuggling): 400.
 *   Host           an HTTP/1.1 request without one, or any request with
 *                  two, is 400 (RFC 9112 section 3.2), as is a value with
 *                  bytes that cannot be in uri-host [":" port].
 *   Keep-alive     HTTP/1.1: yes unless Connection lists "close"; HTTP/1.0:
 *                  only if Connection lists "keep-alive" and not "close".
 *                  Tokens are case-insensitive; Connection may repeat.
 *
 * The checks after the head is complete (Content-Length, Transfer-Encoding,
 * Host) run in that order, over the lines in their order.
 */
#ifndef CORIO_TOOLS_HTTP_PARSE_H
#define CORIO_TOOLS_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define HTTP_MAX_REQUEST_LINE   8192 /* bytes, CRLF not counted */
#define HTTP_MAX_HEADER_SECTION 8192 /* bytes, every CRLF counted */
#define HTTP_MAX_HEADERS        100
#define HTTP_MAX_EMPTY_LINES    8
/* The longest head http_parse_request can accept: a buffer this long
 * always gets HTTP_OK or HTTP_ERROR, never HTTP_NEED_MORE. */
#define HTTP_MAX_HEAD \
	(2 * HTTP_MAX_EMPTY_LINES + HTTP_MAX_REQUEST_LINE + 2 + HTTP_MAX_HEADER_SECTION)

enum http_result {
	HTTP_ERROR     = -1,
	HTTP_NEED_MORE = 0,
	HTTP_OK        = 1,
};

enum http_method {
	HTTP_METHOD_OTHER = 0, /* a well-formed method this server does not serve */
	HTTP_METHOD_GET,
	HTTP_METHOD_HEAD,
};

typedef struct http_slice {
	const char *p; /* into the caller's buffer */
	size_t      len;
} http_slice;

typedef struct http_header {
	http_slice name;  /* as sent (compare case-insensitively) */
	http_slice value; /* OWS trimmed; may be empty */
} http_header;

typedef struct http_request {
	int         status;         /* 200 / 405 with HTTP_OK; the error status */
	const char *error;          /* HTTP_ERROR: a short reason; else NULL */
	int         method;         /* enum http_method */
	http_slice  method_name;
	http_slice  target;
	int         version_minor;  /* 0 or 1: HTTP/1.0 or HTTP/1.1 */
	int         keep_alive;     /* 1: the connection may serve another request */
	int         has_content_length;
	uint64_t    content_length;
	uint64_t    body_len;       /* content_length, or 0 */
	size_t      head_len;       /* bytes of the head, leading empty lines included */
	uint64_t    total_len;      /* head_len + body_len */
	size_t      nheaders;
	http_header headers[HTTP_MAX_HEADERS];
} http_request;

/* ------------------------------------------------------------------------
 * Character classes
 * ------------------------------------------------------------------------ */

/* tchar: "!#$%&'*+-.^_`|~", DIGIT, ALPHA (RFC 9110 section 5.6.2). */
static inline int http__tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return 1;
	switch (c) {
	case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
	case '-': case '.': case '^': case '_': case '`': case '|': case '~':
		return 1;
	default:
		return 0;
	}
}

static inline int http__hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static inline int http__alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* unreserved / sub-delims (RFC 3986): what a target and a host share. */
static inline int http__uri_common(unsigned char c)
{
	if ((c >= '0' && c <= '9') || http__alpha(c))
		return 1;
	switch (c) {
	case '-': case '.': case '_': case '~':                       /* unreserved */
	case '!': case '$': case '&': case '\'': case '(': case ')':  /* sub-delims */
	case '*': case '+': case ',': case ';': case '=':
		return 1;
	default:
		return 0;
	}
}

/* A target byte other than "%": pchar without pct-encoded, "/" and "?". */
static inline int http__target_char(unsigned char c)
{
	return http__uri_common(c) || c == ':' || c == '@' || c == '/' || c == '?';
}

/* A Host value byte: uri-host [ ":" port ], IP literals included. */
static inline int http__host_char(unsigned char c)
{
	return http__uri_common(c) || c == ':' || c == '[' || c == ']' || c == '%';
}

static inline int http__lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* s equals the lowercase ASCII word w, ignoring case. */
static inline int http__ieq(const char *s, size_t n, const char *w)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (w[i] == '\0' || http__lower((unsigned char)s[i]) != (unsigned char)w[i])
			return 0;
	return w[n] == '\0';
}

static inline int http__fail(http_request *req, int status, const char *why)
{
	req->status = status;
	req->error = why;
	req->keep_alive = 0;
	return HTTP_ERROR;
}

/* ------------------------------------------------------------------------
 * Header values
 * ------------------------------------------------------------------------ */

/* Content-Length: 1*DIGIT, at most 2^63 - 1. 0 or -1. */
static inline int http__content_length(http_slice v, uint64_t *out)
{
	uint64_t x = 0;
	size_t i;

	if (v.len == 0)
		return -1;
	for (i = 0; i < v.len; i++) {
		unsigned char c = (unsigned char)v.p[i];
		if (c < '0' || c > '9')
			return -1;
		if (x > (UINT64_C(0x7fffffffffffffff) - (uint64_t)(c - '0')) / 10)
			return -1;
		x = x * 10 + (uint64_t)(c - '0');
	}
	*out = x;
	return 0;
}

/* Connection: a comma-separated list; sets *close / *keep for the tokens
 * "close" and "keep-alive". Empty list elements are allowed (RFC 9110
 * section 5.6.1). */
static inline void http__connection(http_slice v, int *close, int *keep)
{
	size_t i = 0;

	while (i < v.len) {
		size_t s, e;
		while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == ','))
			i++;
		s = i;
		while (i < v.len && v.p[i] != ',')
			i++;
		e = i;
		while (e > s && (v.p[e - 1] == ' ' || v.p[e - 1] == '\t'))
			e--;
		if (http__ieq(v.p + s, e - s, "close"))
			*close = 1;
		else if (http__ieq(v.p + s, e - s, "keep-alive"))
			*keep = 1;
	}
}

/* The request-target's form, once the line is complete. */
static inline int http__target_form(const http_request *req)
{
	const char *t = req->target.p;
	size_t n = req->target.len, i;
	const http_slice *m = &req->method_name;

	if (t[0] == '/')
		return 0; /* origin-form */
	if (m->len == 7 && memcmp(m->p, "CONNECT", 7) == 0)
		return 0; /* authority-form; answered 405 anyway */
	if (n == 1 && t[0] == '*')
		return m->len == 7 && memcmp(m->p, "OPTIONS", 7) == 0 ? 0 : -1;
	/* absolute-form: scheme "://" ... */
	if (!http__alpha((unsigned char)t[0]))
		return -1;
	for (i = 1; i < n; i++) {
		unsigned char c = (unsigned char)t[i];
		if (c == ':')
			break;
		if (!http__alpha(c) && !(c >= '0' && c <= '9') && c != '+' && c != '-' && c != '.')
			return -1;
	}
	return i + 3 <= n && t[i] == ':' && t[i + 1] == '/' && t[i + 2] == '/' ? 0 : -1;
}

/* ------------------------------------------------------------------------
 * The parser
 * ------------------------------------------------------------------------ */

static inline int http_parse_request(const char *buf, size_t len, http_request *req)
{
	enum { S_METHOD, S_TARGET, S_VERSION } st = S_METHOD;
	const unsigned char *b = (const unsigned char *)buf;
	size_t i = 0, line, tstart = 0, vstart = 0, hs, nempty = 0, pct = 0;
	int close_tok = 0, keep_tok = 0, te = 0, hosts = 0;
	uint64_t cl = 0;
	size_t h;

	memset(req, 0, offsetof(http_request, headers));

	/* Empty lines before the request line. */
	for (;;) {
		if (i >= len)
			return HTTP_NEED_MORE;
		if (b[i] == '\n')
			return http__fail(req, 400, "bare LF");
		if (b[i] != '\r')
			break;
		if (i + 1 >= len)
			return HTTP_NEED_MORE;
		if (b[i + 1] != '\n')
			return http__fail(req, 400, "CR not followed by LF");
		if (++nempty > HTTP_MAX_EMPTY_LINES)
			return http__fail(req, 400, "too many empty lines before the request");
		i += 2;
	}

	/* The request line, byte by byte, up to its CR. */
	line = i;
	for (;; i++) {
		unsigned char c;
		if (i >= len)
			return HTTP_NEED_MORE;
		c = b[i];
		if (c == '\r')
			break;
		if (i - line >= HTTP_MAX_REQUEST_LINE)
			return http__fail(req, 414, "request line too long");
		if (c == '\n')
			return http__fail(req, 400, "bare LF");
		switch (st) {
		case S_METHOD:
			if (c == ' ') {
				if (i == line)
					return http__fail(req, 400, "empty method");
				st = S_TARGET;
				tstart = i + 1;
			} else if (!http__tchar(c)) {
				return http__fail(req, 400, "bad method");
			}
			break;
		case S_TARGET:
			if (pct) {
				if (!http__hex(c))
					return http__fail(req, 400, "bad percent-encoding in target");
				pct--;
			} else if (c == ' ') {
				if (i == tstart)
					return http__fail(req, 400, "empty target");
				st = S_VERSION;
				vstart = i + 1;
			} else if (c == '%') {
				pct = 2;
			} else if (!http__target_char(c)) {
				return http__fail(req, 400, "bad byte in target");
			}
			break;
		case S_VERSION: {
			size_t k = i - vstart;
			static const char proto[] = "HTTP/";
			int ok;
			if (k < 5)
				ok = c == (unsigned char)proto[k];
			else if (k == 5 || k == 7)
				ok = c >= '0' && c <= '9';
			else if (k == 6)
				ok = c == '.';
			else
				ok = 0;
			if (!ok)
				return http__fail(req, 400, "bad version");
			break;
		}
		}
	}
	if (st != S_VERSION || i - vstart != 8)
		return http__fail(req, 400, st == S_VERSION ? "bad version" : "incomplete request line");
	if (i + 1 >= len)
		return HTTP_NEED_MORE;
	if (b[i + 1] != '\n')
		return http__fail(req, 400, "CR not followed by LF");

	req->method_name.p = buf + line;
	req->method_name.len = tstart - 1 - line;
	req->target.p = buf + tstart;
	req->target.len = vstart - 1 - tstart;
	if (http__target_form(req) < 0)
		return http__fail(req, 400, "bad target form");
	if (b[vstart + 5] != '1')
		return http__fail(req, 505, "HTTP version not supported");
	req->version_minor = b[vstart + 7] == '0' ? 0 : 1;
	if (req->method_name.len == 3 && memcmp(req->method_name.p, "GET", 3) == 0)
		req->method = HTTP_METHOD_GET;
	else if (req->method_name.len == 4 && memcmp(req->method_name.p, "HEAD", 4) == 0)
		req->method = HTTP_METHOD_HEAD;
	else
		req->method = HTTP_METHOD_OTHER;

	/* The header section: lines up to an empty one. Every byte is checked
	 * against the section's limit before it is read, and before more
	 * bytes are asked for: a section that has used up the limit without
	 * ending is too large whatever comes next (so a buffer of HTTP_MAX_HEAD
	 * bytes never gets HTTP_NEED_MORE; found by tests/fuzz/fuzz_http). */
	i += 2;
	hs = i;
	for (;;) {
		size_t ns, ne, vs, ve;
		unsigned char c;

		if (i - hs >= HTTP_MAX_HEADER_SECTION)
			return http__fail(req, 431, "header section too large");
		if (i >= len)
			return HTTP_NEED_MORE;
		c = b[i];
		if (c == '\r') {
			if (i + 1 - hs >= HTTP_MAX_HEADER_SECTION)
				return http__fail(req, 431, "header section too large");
			if (i + 1 >= len)
				return HTTP_NEED_MORE;
			if (b[i + 1] != '\n')
				return http__fail(req, 400, "CR not followed by LF");
			i += 2;
			break;
		}
		if (c == '\n')
			return http__fail(req, 400, "bare LF");
		if (c == ' ' || c == '\t')
			return http__fail(req, 400, req->nheaders ? "obs-fold (line folding)"
							     : "whitespace before the first header");
		if (req->nheaders == HTTP_MAX_HEADERS)
			return http__fail(req, 431, "too many headers");

		ns = i;
		for (;; i++) {
			if (i - hs >= HTTP_MAX_HEADER_SECTION)
				return http__fail(req, 431, "header section too large");
			if (i >= len)
				return HTTP_NEED_MORE;
			c = b[i];
			if (c == ':')
				break;
			if (c == ' ' || c == '\t')
				return http__fail(req, 400, "whitespace before colon");
			if (c == '\r' || c == '\n')
				return http__fail(req, 400, "header line without colon");
			if (!http__tchar(c))
				return http__fail(req, 400, "bad byte in header name");
		}
		ne = i;
		if (ne == ns)
			return http__fail(req, 400, "empty header name");

		vs = ve = 0;
		for (i++;; i++) {
			if (i - hs >= HTTP_MAX_HEADER_SECTION)
				return http__fail(req, 431, "header section too large");
			if (i >= len)
				return HTTP_NEED_MORE;
			c = b[i];
			if (c == '\r')
				break;
			if (c == '\n')
				return http__fail(req, 400, "bare LF");
			if ((c < 0x20 && c != '\t') || c == 0x7f)
				return http__fail(req, 400, "control byte in header value");
			if (c != ' ' && c != '\t') {
				if (!vs)
					vs = i;
				ve = i + 1;
			}
		}
		if (i + 1 - hs >= HTTP_MAX_HEADER_SECTION)
			return http__fail(req, 431, "header section too large");
		if (i + 1 >= len)
			return HTTP_NEED_MORE;
		if (b[i + 1] != '\n')
			return http__fail(req, 400, "CR not followed by LF");
		{
			http_header *hd = &req->headers[req->nheaders++];
			hd->name.p = buf + ns;
			hd->name.len = ne - ns;
			hd->value.p = buf + (vs ? vs : i);
			hd->value.len = vs ? ve - vs : 0;
		}
		i += 2;
	}
	req->head_len = i;

	/* What the headers say, now that the head is complete. */
	for (h = 0; h < req->nheaders; h++) {
		const http_header *hd = &req->headers[h];
		const char *n = hd->name.p;
		size_t nl = hd->name.len;

		if (http__ieq(n, nl, "content-length")) {
			uint64_t v;
			if (http__content_length(hd->value, &v) < 0)
				return http__fail(req, 400, "bad Content-Length");
			if (req->has_content_length && v != cl)
				return http__fail(req, 400, "conflicting Content-Length");
			req->has_content_length = 1;
			cl = v;
		} else if (http__ieq(n, nl, "transfer-encoding")) {
			te = 1;
		} else if (http__ieq(n, nl, "host")) {
			size_t k;
			hosts++;
			for (k = 0; k < hd->value.len; k++)
				if (!http__host_char((unsigned char)hd->value.p[k]))
					return http__fail(req, 400, "bad Host");
		} else if (http__ieq(n, nl, "connection")) {
			http__connection(hd->value, &close_tok, &keep_tok);
		}
	}
	if (te) {
		if (req->has_content_length)
			return http__fail(req, 400, "Transfer-Encoding with Content-Length");
		if (req->version_minor == 0)
			return http__fail(req, 400, "Transfer-Encoding in HTTP/1.0");
		return http__fail(req, 501, "Transfer-Encoding not implemented");
	}
	if (hosts > 1)
		return http__fail(req, 400, "more than one Host");
	if (hosts == 0 && req->version_minor == 1)
		return http__fail(req, 400, "HTTP/1.1 request without Host");

	req->content_length = cl;
	req->body_len = cl;
	req->total_len = (uint64_t)req->head_len + cl;
	req->keep_alive = req->version_minor == 1 ? !close_tok : keep_tok && !close_tok;
	req->status = req->method == HTTP_METHOD_OTHER ? 405 : 200;
	return HTTP_OK;
}

/* The reason phrase of the statuses this parser and its server answer. */
static inline const char *http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default:  return "Unknown";
	}
}

#endif /* CORIO_TOOLS_HTTP_PARSE_H */
