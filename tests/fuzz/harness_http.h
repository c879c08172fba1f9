/*
 * harness_http.h - fuzzes tools/http_parse.h.
 *
 * Input: one flags byte, then the stream. Flags bit 0: the stream is
 * expanded first (0xff n c stands for the byte c repeated 64*n times, c
 * alone when n is 0), so that short inputs can reach the 8 KiB limits.
 * Bits 1-3: how many extra split points (0-7), drawn from a generator
 * seeded with the input. The parser keeps no state between calls: a server
 * parses the whole buffer again after every read. So the harness parses
 * every prefix that ends at a split point, each from a heap copy of exactly
 * that length (AddressSanitizer catches any read past it), then the whole.
 *
 * Invariants:
 *   - answers are monotone: once a prefix gives HTTP_OK or HTTP_ERROR,
 *     every longer one gives the same answer, status, reason and fields;
 *   - HTTP_OK: every slice lies inside the head, head_len <= len, the
 *     request line, header section and header count are within the limits,
 *     the fields agree with the bytes (method and names are tokens, values
 *     OWS-trimmed, status 200 for GET/HEAD and 405 otherwise, total_len =
 *     head_len + body_len), and the head alone (buf[0, head_len)) parses
 *     to the same request;
 *   - HTTP_ERROR: status is one the parser defines (400 414 431 501 505),
 *     with a reason and keep_alive 0; 414 only after HTTP_MAX_REQUEST_LINE
 *     + 1 bytes of request line without a CR, 431 only after
 *     HTTP_MAX_HEADER_SECTION bytes of header section or HTTP_MAX_HEADERS
 *     header lines, 505 only for a major version other than 1, 501 only
 *     with a Transfer-Encoding header;
 *   - a buffer of HTTP_MAX_HEAD bytes or more never gets HTTP_NEED_MORE.
 */
#ifndef CORIO_FUZZ_HARNESS_HTTP_H
#define CORIO_FUZZ_HARNESS_HTTP_H

#include "fuzz.h"

#include "../../tools/http_parse.h"

#define FZH_MAX_EXPANDED (2 * HTTP_MAX_HEAD + 4096)

/* The outcome of one parse, with slices as offsets (comparable across
 * copies of the buffer). */
typedef struct fzh_out {
	int         r, status, method, version_minor, keep_alive, has_cl;
	const char *error;
	uint64_t    cl, body_len, total_len;
	size_t      head_len, nheaders;
	size_t      off[2 + 2 * HTTP_MAX_HEADERS], len[2 + 2 * HTTP_MAX_HEADERS];
} fzh_out;

static int fzh_is_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static int fzh_ieq_prefix(const unsigned char *p, size_t n, const char *w)
{
	size_t k = strlen(w);

	if (n < k)
		return 0;
	for (size_t i = 0; i < k; i++)
		if (http__lower(p[i]) != (unsigned char)w[i])
			return 0;
	return 1;
}

/* A slice must lie inside [b, b + lim); its offset and length go to o. */
static void fzh_slice(const char *b, size_t lim, http_slice s, size_t *off, size_t *len,
		      const char *what)
{
	FZ_CHECK(s.p >= b && (size_t)(s.p - b) <= lim && s.len <= lim - (size_t)(s.p - b),
		 "%s slice [%p +%zu) outside the head [%p +%zu)", what, (const void *)s.p, s.len,
		 (const void *)b, lim);
	*off = (size_t)(s.p - b);
	*len = s.len;
}

static void fzh_check_ok(const unsigned char *b, size_t n, const http_request *q, fzh_out *o)
{
	const char *cb = (const char *)b;
	size_t h = q->head_len, m0, t0, tend, hs, k;

	FZ_CHECK(h >= 16 && h <= n, "head_len %zu for a buffer of %zu", h, n);
	FZ_CHECK(b[h - 1] == '\n' && b[h - 2] == '\r' && b[h - 3] == '\n' && b[h - 4] == '\r',
		 "the head does not end with CRLF CRLF (head_len %zu)", h);
	FZ_CHECK(q->error == NULL, "error \"%s\" with HTTP_OK", q->error);
	fzh_slice(cb, h, q->method_name, &o->off[0], &o->len[0], "method");
	fzh_slice(cb, h, q->target, &o->off[1], &o->len[1], "target");
	m0 = o->off[0];
	t0 = o->off[1];
	/* Leading empty lines, then: method SP target SP HTTP/d.d CRLF */
	FZ_CHECK(m0 % 2 == 0 && m0 <= 2 * HTTP_MAX_EMPTY_LINES, "request line at %zu", m0);
	for (k = 0; k < m0; k += 2)
		FZ_CHECK(b[k] == '\r' && b[k + 1] == '\n', "byte %zu before the request line", k);
	FZ_CHECK(q->method_name.len >= 1 && t0 == m0 + q->method_name.len + 1 && b[t0 - 1] == ' ',
		 "method %zu+%zu, target at %zu", m0, q->method_name.len, t0);
	for (k = 0; k < q->method_name.len; k++)
		FZ_CHECK(http__tchar(b[m0 + k]), "method byte 0x%02x", b[m0 + k]);
	tend = t0 + q->target.len;
	FZ_CHECK(q->target.len >= 1 && tend + 11 <= h, "target %zu+%zu", t0, q->target.len);
	for (k = t0; k < tend; k++)
		FZ_CHECK(http__target_char(b[k]) || b[k] == '%', "target byte 0x%02x", b[k]);
	FZ_CHECK(memcmp(b + tend, " HTTP/1.", 8) == 0 && b[tend + 9] == '\r' && b[tend + 10] == '\n',
		 "the version after the target: \"%.11s\"", cb + tend);
	FZ_CHECK(tend + 9 - m0 <= HTTP_MAX_REQUEST_LINE, "request line of %zu bytes accepted",
		 tend + 9 - m0);
	FZ_CHECK(q->version_minor == (b[tend + 8] == '0' ? 0 : 1), "version_minor %d for '%c'",
		 q->version_minor, b[tend + 8]);
	hs = tend + 11;
	FZ_CHECK(h - hs <= HTTP_MAX_HEADER_SECTION, "header section of %zu bytes accepted", h - hs);
	FZ_CHECK(q->nheaders <= HTTP_MAX_HEADERS, "%zu headers accepted", q->nheaders);

	/* Headers: in order, one per line, name ":" OWS value OWS CRLF. */
	k = hs;
	for (size_t i = 0; i < q->nheaders; i++) {
		const http_header *hd = &q->headers[i];
		size_t no, nl, vo, vl, e;

		fzh_slice(cb, h, hd->name, &no, &nl, "header name");
		fzh_slice(cb, h, hd->value, &vo, &vl, "header value");
		FZ_CHECK(no == k && nl >= 1 && b[no + nl] == ':', "header %zu name at %zu+%zu, line at %zu",
			 i, no, nl, k);
		for (e = no; e < no + nl; e++)
			FZ_CHECK(http__tchar(b[e]), "header name byte 0x%02x", b[e]);
		FZ_CHECK(vo > no + nl, "header %zu value at %zu before its colon", i, vo);
		for (e = no + nl + 1; e < vo; e++)
			FZ_CHECK(fzh_is_ows(b[e]), "header %zu: byte 0x%02x before the value", i, b[e]);
		if (vl) {
			FZ_CHECK(!fzh_is_ows(b[vo]) && !fzh_is_ows(b[vo + vl - 1]),
				 "header %zu value not trimmed", i);
		}
		for (e = vo; e < vo + vl; e++)
			FZ_CHECK(b[e] >= 0x80 || b[e] == '\t' || (b[e] >= 0x20 && b[e] != 0x7f),
				 "header %zu value byte 0x%02x", i, b[e]);
		for (e = vo + vl; e < h && b[e] != '\r'; e++)
			FZ_CHECK(fzh_is_ows(b[e]), "header %zu: byte 0x%02x after the value", i, b[e]);
		FZ_CHECK(e + 1 < h && b[e + 1] == '\n', "header %zu line end", i);
		k = e + 2;
		o->off[2 + 2 * i] = no;
		o->len[2 + 2 * i] = nl;
		o->off[3 + 2 * i] = vo;
		o->len[3 + 2 * i] = vl;
	}
	FZ_CHECK(k + 2 == h, "%zu headers end at %zu, the head at %zu", q->nheaders, k, h);

	FZ_CHECK(q->method == (q->method_name.len == 3 && !memcmp(b + m0, "GET", 3) ? HTTP_METHOD_GET
			       : q->method_name.len == 4 && !memcmp(b + m0, "HEAD", 4)
				       ? HTTP_METHOD_HEAD
				       : HTTP_METHOD_OTHER),
		 "method %d for \"%.*s\"", q->method, (int)q->method_name.len, cb + m0);
	FZ_CHECK(q->status == (q->method == HTTP_METHOD_OTHER ? 405 : 200), "status %d for method %d",
		 q->status, q->method);
	FZ_CHECK(q->keep_alive == 0 || q->keep_alive == 1, "keep_alive %d", q->keep_alive);
	FZ_CHECK(q->content_length <= (uint64_t)INT64_MAX, "content_length %llu",
		 (unsigned long long)q->content_length);
	FZ_CHECK(q->has_content_length || q->content_length == 0, "content_length without header");
	FZ_CHECK(q->body_len == q->content_length && q->total_len == h + q->body_len,
		 "body_len %llu total_len %llu head_len %zu", (unsigned long long)q->body_len,
		 (unsigned long long)q->total_len, h);
}

static void fzh_check_error(const unsigned char *b, size_t n, const http_request *q)
{
	size_t line = 0, k, hs, crlf = 0;

	FZ_CHECK(q->error != NULL && q->keep_alive == 0, "error %p keep_alive %d",
		 (const void *)q->error, q->keep_alive);
	switch (q->status) {
	case 400: case 414: case 431: case 501: case 505:
		break;
	default:
		FZ_CHECK(0, "status %d (%s)", q->status, q->error);
	}
	while (line + 1 < n && b[line] == '\r' && b[line + 1] == '\n')
		line += 2;
	if (q->status == 414) {
		FZ_CHECK(n > line + HTTP_MAX_REQUEST_LINE, "414 for %zu bytes of request line",
			 n - line);
		for (k = line; k <= line + HTTP_MAX_REQUEST_LINE; k++)
			FZ_CHECK(b[k] != '\r', "414 with a CR %zu bytes into the line", k - line);
	}
	if (q->status == 431 || q->status == 505 || q->status == 501) {
		for (hs = line; hs + 1 < n && !(b[hs] == '\r' && b[hs + 1] == '\n'); hs++)
			;
		FZ_CHECK(hs + 1 < n, "%d (%s) before the request line ended", q->status, q->error);
		if (q->status == 505)
			FZ_CHECK(hs >= 3 && b[hs - 3] != '1', "505 for major version '%c'", b[hs - 3]);
		hs += 2;
		for (k = hs; k + 1 < n; k++)
			crlf += b[k] == '\r' && b[k + 1] == '\n';
		if (q->status == 431)
			FZ_CHECK(n - hs >= HTTP_MAX_HEADER_SECTION || crlf >= HTTP_MAX_HEADERS,
				 "431 (%s) for a %zu-byte header section with %zu CRLFs", q->error,
				 n - hs, crlf);
		if (q->status == 501) {
			int te = 0;
			for (k = hs; k < n && !te; k++)
				te = (k == hs || b[k - 1] == '\n') &&
				     fzh_ieq_prefix(b + k, n - k, "transfer-encoding:");
			FZ_CHECK(te, "501 without a Transfer-Encoding header");
		}
	}
}

/* Parses b[0, n) from an exact-size copy and checks what comes back. */
static void fzh_parse(const unsigned char *b, size_t n, fzh_out *o)
{
	char *copy = malloc(n ? n : 1);
	http_request *q = malloc(sizeof(*q));

	FZ_CHECK(copy && q, "out of memory");
	memcpy(copy, b, n);
	memset(o, 0, sizeof(*o));
	o->r = http_parse_request(copy, n, q);
	if (o->r == HTTP_OK) {
		fzh_check_ok((const unsigned char *)copy, n, q, o);
	} else if (o->r == HTTP_ERROR) {
		fzh_check_error((const unsigned char *)copy, n, q);
	} else {
		FZ_CHECK(o->r == HTTP_NEED_MORE, "result %d", o->r);
		FZ_CHECK(n < HTTP_MAX_HEAD, "HTTP_NEED_MORE for %zu bytes (HTTP_MAX_HEAD is %d)", n,
			 HTTP_MAX_HEAD);
	}
	if (o->r != HTTP_NEED_MORE) {
		o->status = q->status;
		o->error = q->error;
		o->method = q->method;
		o->version_minor = q->version_minor;
		o->keep_alive = q->keep_alive;
		o->has_cl = q->has_content_length;
		o->cl = q->content_length;
		o->body_len = q->body_len;
		o->total_len = q->total_len;
		o->head_len = q->head_len;
		o->nheaders = q->nheaders;
	}
	free(q);
	free(copy);
}

static void fzh_same(const fzh_out *a, const fzh_out *b, size_t na, size_t nb)
{
	FZ_CHECK(a->r == b->r && a->status == b->status &&
			 (a->error == b->error || (a->error && b->error && !strcmp(a->error, b->error))),
		 "%zu bytes: %d %d (%s), %zu bytes: %d %d (%s)", na, a->r, a->status,
		 a->error ? a->error : "-", nb, b->r, b->status, b->error ? b->error : "-");
	if (a->r != HTTP_OK)
		return;
	FZ_CHECK(a->method == b->method && a->version_minor == b->version_minor &&
			 a->keep_alive == b->keep_alive && a->has_cl == b->has_cl && a->cl == b->cl &&
			 a->body_len == b->body_len && a->total_len == b->total_len &&
			 a->head_len == b->head_len && a->nheaders == b->nheaders,
		 "the request parsed from %zu and from %zu bytes differs", na, nb);
	for (size_t i = 0; i < 2 + 2 * a->nheaders; i++)
		FZ_CHECK(a->off[i] == b->off[i] && a->len[i] == b->len[i],
			 "slice %zu: %zu+%zu from %zu bytes, %zu+%zu from %zu", i, a->off[i], a->len[i],
			 na, b->off[i], b->len[i], nb);
}

static int fuzz_http_one(const uint8_t *data, size_t size)
{
	unsigned flags = size ? data[0] : 0;
	const unsigned char *b = size ? data + 1 : data;
	size_t n = size ? size - 1 : 0, cuts[9], ncut = 0;
	unsigned char *exp = NULL;
	fzh_out *prev, *cur, *tmp;
	uint64_t seed = fz_hash(data, size);
	int decided = 0;

	if (flags & 1) {
		size_t m = 0;
		exp = malloc(FZH_MAX_EXPANDED);
		FZ_CHECK(exp != NULL, "out of memory");
		for (size_t i = 0; i < n && m < FZH_MAX_EXPANDED; i++) {
			if (b[i] == 0xff && i + 2 < n) {
				size_t rep = b[i + 1] ? 64u * b[i + 1] : 1;
				if (rep > FZH_MAX_EXPANDED - m)
					rep = FZH_MAX_EXPANDED - m;
				memset(exp + m, b[i + 2], rep);
				m += rep;
				i += 2;
			} else {
				exp[m++] = b[i];
			}
		}
		b = exp;
		n = m;
	}

	/* Split points, ascending, then the whole buffer. */
	for (unsigned k = 0; k < ((flags >> 1) & 7) && n; k++) {
		size_t c = (size_t)(fz_rand(&seed) % n), j = ncut;
		while (j > 0 && cuts[j - 1] > c) {
			cuts[j] = cuts[j - 1];
			j--;
		}
		cuts[j] = c;
		ncut++;
	}
	cuts[ncut++] = n;

	prev = malloc(sizeof(*prev));
	cur = malloc(sizeof(*cur));
	FZ_CHECK(prev && cur, "out of memory");
	for (size_t k = 0; k < ncut; k++) {
		fzh_parse(b, cuts[k], cur);
		if (decided)
			fzh_same(prev, cur, cuts[k - 1], cuts[k]);
		if (cur->r != HTTP_NEED_MORE && !decided) {
			decided = 1;
			if (cur->r == HTTP_OK && cur->head_len < cuts[k]) {
				/* The head alone says the same. */
				fzh_parse(b, cur->head_len, prev);
				fzh_same(prev, cur, cur->head_len, cuts[k]);
			}
		}
		tmp = prev;
		prev = cur;
		cur = tmp;
	}
	free(prev);
	free(cur);
	free(exp);
	return 0;
}

#endif /* CORIO_FUZZ_HARNESS_HTTP_H */
