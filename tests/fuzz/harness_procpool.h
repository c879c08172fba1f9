/*
 * harness_procpool.h - fuzzes the process pool's wire format (lib/procpool.c)
 * through its pure functions (lib/internal.h, corio__pp_*), no processes.
 *
 * Input: a mode byte, then choices read by fz_in (zeros past the end).
 *   mode & 3 == 0, 1: the parent receives a response from a hostile worker:
 *       an outcap, a header (structured or raw), body bytes, and the size
 *       of every recvmsg (the kernel may split a stream anywhere). The
 *       simulated recvmsg copies into exactly the iovecs corio__pp_rx_iov
 *       gave, out being a heap buffer of exactly outcap bytes (NULL for 0):
 *       AddressSanitizer sees any write past it.
 *   mode & 3 == 2, 3: a worker gets a request header (structured or raw):
 *       corio__pp_req_parse must accept it exactly when fn is not NULL and
 *       both lengths are <= CORIO_PROC_MAX_IO, else say -EPROTO. A valid
 *       small job then runs a fake fn returning a chosen value;
 *       corio__pp_resp_make must give -ENOBUFS for a result above outcap,
 *       and the response, sent in random pieces (corio__pp_rest_of_message)
 *       and received in random pieces by the parent side, must come back
 *       whole: the same result and the same bytes.
 *
 * Invariants on the parent side: a response is accepted only when its
 * header is consistent (result >= 0: outlen == result <= outcap; result
 * < 0: outlen == 0), exactly 16 + outlen bytes were consumed (never a
 * truncated result, never more than announced), and out holds the bytes
 * sent; it is rejected with -EPIPE only for a bad header or a recvmsg that
 * brought more than announced; EOF before the end is a failure too.
 */
#ifndef CORIO_FUZZ_HARNESS_PROCPOOL_H
#define CORIO_FUZZ_HARNESS_PROCPOOL_H

#include <sys/uio.h>

#include "fuzz.h"

#include "corio.h"
#include "internal.h"

#define FZP_HDR          16u                /* the response header */
#define FZP_SMALL_CAP    (64u << 10)        /* jobs simulated whole */
#define FZP_MAX_STREAM   (FZP_SMALL_CAP + 64)

/* The next piece size: 0 in the input means "as much as fits". */
static size_t fzp_piece(fz_in *in, size_t room)
{
	unsigned c = fz_u8(in);
	size_t k = c == 0 ? room : c < 128 ? c : (size_t)(c - 127) * 97;

	return k < room ? k : room;
}

/* The reference for the parent's header check. */
static int fzp_header_ok(int64_t res, uint64_t outlen, size_t outcap)
{
	if (res >= 0)
		return (uint64_t)res == outlen && outlen <= outcap;
	return outlen == 0;
}

/* Sends hdr+body with corio__pp_rest_of_message in random pieces into dst,
 * checking that every piece is exactly the next bytes of the message. */
static size_t fzp_send(fz_in *in, const void *hdr, size_t hdrlen, const void *body, size_t bodylen,
		       unsigned char *dst)
{
	size_t total = hdrlen + bodylen, done = 0;

	while (done < total) {
		struct iovec v[2];
		int cnt = corio__pp_rest_of_message(v, hdr, hdrlen, body, bodylen, done);
		size_t room = 0, piece, left;

		FZ_CHECK(cnt == 1 || cnt == 2, "rest_of_message gave %d iovecs", cnt);
		for (int i = 0; i < cnt; i++)
			room += v[i].iov_len;
		FZ_CHECK(room == total - done && v[0].iov_len > 0,
			 "iovecs hold %zu bytes (first %zu), %zu are left", room, v[0].iov_len,
			 total - done);
		if (done < hdrlen)
			FZ_CHECK(v[0].iov_base == (const char *)hdr + done,
				 "first iovec not at the header's byte %zu", done);
		else
			FZ_CHECK(v[0].iov_base == (const char *)body + (done - hdrlen),
				 "first iovec not at the body's byte %zu", done - hdrlen);
		piece = fzp_piece(in, room);
		if (piece == 0)
			piece = 1;
		left = piece;
		for (int i = 0; i < cnt && left; i++) {
			size_t k = v[i].iov_len < left ? v[i].iov_len : left;
			memcpy(dst + done + (piece - left), v[i].iov_base, k);
			left -= k;
		}
		done += piece;
	}
	return total;
}

/*
 * The parent receiving stream[0, slen) with outcap bytes of out; the piece
 * sizes come from in. Returns 0 (accepted: *result set), or -EPIPE.
 */
static int fzp_receive(fz_in *in, const unsigned char *stream, size_t slen, size_t outcap,
		       int64_t *result, unsigned char **outp)
{
	unsigned char *out = outcap ? malloc(outcap) : NULL;
	corio__pp_rx rx;
	size_t pos = 0;
	int r = 0, eof = 0;

	FZ_CHECK(!outcap || out, "out of memory");
	corio__pp_rx_init(&rx);
	for (;;) {
		struct iovec v[2];
		int cnt = corio__pp_rx_iov(&rx, v, out, outcap);
		size_t room = 0, piece, left;

		FZ_CHECK(cnt == 1 || (cnt == 2 && outcap), "rx_iov gave %d iovecs (outcap %zu)", cnt,
			 outcap);
		for (int i = 0; i < cnt; i++) {
			const char *b = v[i].iov_base;
			int in_hdr = b >= (const char *)rx.h &&
				     b + v[i].iov_len <= (const char *)rx.h + sizeof(rx.h);
			int in_out = outcap && b >= (const char *)out &&
				     b + v[i].iov_len <= (const char *)out + outcap;
			FZ_CHECK(in_hdr || in_out, "iovec %d [%p +%zu) outside the header and out", i,
				 v[i].iov_base, v[i].iov_len);
			room += v[i].iov_len;
		}
		FZ_CHECK(room > 0, "rx_iov asks for 0 bytes (got %zu need %zu)", rx.got, rx.need);
		if (pos == slen) {
			eof = 1; /* recvmsg returns 0: the worker is gone */
			r = -EPIPE;
			break;
		}
		piece = fzp_piece(in, room < slen - pos ? room : slen - pos);
		if (piece == 0)
			piece = 1;
		left = piece;
		for (int i = 0; i < cnt && left; i++) {
			size_t k = v[i].iov_len < left ? v[i].iov_len : left;
			memcpy(v[i].iov_base, stream + pos + (piece - left), k);
			left -= k;
		}
		pos += piece;
		r = corio__pp_rx_advance(&rx, piece, outcap);
		FZ_CHECK(r == 0 || r == 1 || r == -EPIPE, "rx_advance returned %d", r);
		if (r != 0)
			break;
	}

	/* What the stream's header says, by the reference. */
	if (slen >= FZP_HDR) {
		int64_t res;
		uint64_t outlen;
		memcpy(&res, stream, 8);
		memcpy(&outlen, stream + 8, 8);
		if (r == 1) {
			FZ_CHECK(fzp_header_ok(res, outlen, outcap),
				 "accepted result %lld outlen %llu with outcap %zu", (long long)res,
				 (unsigned long long)outlen, outcap);
			FZ_CHECK(rx.result == res, "result %lld, the header says %lld",
				 (long long)rx.result, (long long)res);
			FZ_CHECK(pos == FZP_HDR + outlen && rx.got == pos,
				 "accepted after %zu bytes (got %zu), the response has %llu", pos, rx.got,
				 (unsigned long long)(FZP_HDR + outlen));
			FZ_CHECK(outlen == 0 || memcmp(out, stream + FZP_HDR, outlen) == 0,
				 "out differs from the %llu bytes sent", (unsigned long long)outlen);
		} else if (!eof) {
			FZ_CHECK(!fzp_header_ok(res, outlen, outcap) || pos > FZP_HDR + outlen,
				 "-EPIPE for a good header (result %lld outlen %llu outcap %zu) after "
				 "%zu bytes",
				 (long long)res, (unsigned long long)outlen, outcap, pos);
		} else {
			FZ_CHECK(!fzp_header_ok(res, outlen, outcap) || pos < FZP_HDR + outlen,
				 "EOF after the whole response was taken");
		}
	} else {
		FZ_CHECK(r != 1, "accepted a %zu-byte response", slen);
	}
	if (r == 1) {
		*result = rx.result;
		*outp = out;
		return 0;
	}
	free(out);
	*outp = NULL;
	return -EPIPE;
}

/* A value of the kind a chooser byte picks: near `near`, an errno, extreme or raw. */
static uint64_t fzp_value(fz_in *in, uint64_t near)
{
	switch (fz_u8(in) % 6) {
	case 0: return near;
	case 1: return near + (uint64_t)(int64_t)(int8_t)fz_u8(in);
	case 2: return (uint64_t)-(int64_t)(fz_u8(in) + 1);
	case 3: return fz_u8(in) & 1 ? (uint64_t)INT64_MIN : (uint64_t)INT64_MAX;
	case 4: return fz_u16(in);
	default: return fz_u64(in);
	}
}

static void fzp_parent(fz_in *in)
{
	unsigned char *stream = malloc(FZP_MAX_STREAM), *out = NULL;
	size_t outcap, slen = 0, body;
	int64_t res, result;
	uint64_t outlen;
	unsigned shape = fz_u8(in);

	FZ_CHECK(stream != NULL, "out of memory");
	outcap = shape & 1 ? fz_u16(in) % (FZP_SMALL_CAP + 1) : fz_u8(in) % 64;
	if (shape & 2) {
		/* A structured header: values near the interesting edges. */
		res = (int64_t)fzp_value(in, outcap);
		outlen = fzp_value(in, res >= 0 ? (uint64_t)res : 0);
		memcpy(stream, &res, 8);
		memcpy(stream + 8, &outlen, 8);
		slen = FZP_HDR;
		/* The body: what was announced (when it is small), give or take. */
		body = outlen <= FZP_SMALL_CAP ? (size_t)outlen : 0;
		if (shape & 4)
			body += fz_u8(in) % 8;
		if (shape & 8)
			body = body > (size_t)(fz_u8(in) % 8) ? body - 1 : 0;
		if (body > FZP_MAX_STREAM - slen)
			body = FZP_MAX_STREAM - slen;
		for (size_t i = 0; i < body; i++)
			stream[slen++] = (unsigned char)(i * 7 + fz_u8(in));
	} else {
		/* Raw bytes, the header included. */
		size_t n = fz_u16(in) % 4096;
		for (size_t i = 0; i < n && slen < FZP_MAX_STREAM; i++)
			stream[slen++] = (unsigned char)fz_u8(in);
	}
	if (fzp_receive(in, stream, slen, outcap, &result, &out) == 0)
		free(out);
	free(stream);
}

static void fzp_worker(fz_in *in)
{
	uint64_t h[3], fn = 0;
	size_t inlen = 7, outcap = 7;
	unsigned shape = fz_u8(in);
	int r, valid;

	if (shape & 1) {
		h[0] = fz_u64(in);
		h[1] = fz_u64(in);
		h[2] = fz_u64(in);
	} else {
		h[0] = fz_u8(in) & 1 ? 0 : 0x401000 + fz_u8(in);
		h[1] = fzp_value(in, fz_u8(in) & 1 ? CORIO_PROC_MAX_IO : fz_u8(in));
		h[2] = fzp_value(in, fz_u8(in) & 1 ? CORIO_PROC_MAX_IO : fz_u8(in));
	}
	r = corio__pp_req_parse(h, &fn, &inlen, &outcap);
	valid = h[0] != 0 && h[1] <= CORIO_PROC_MAX_IO && h[2] <= CORIO_PROC_MAX_IO;
	FZ_CHECK(r == (valid ? 0 : -EPROTO), "req_parse(%#llx, %llu, %llu) = %d",
		 (unsigned long long)h[0], (unsigned long long)h[1], (unsigned long long)h[2], r);
	if (!valid)
		return;
	FZ_CHECK(fn == h[0] && inlen == h[1] && outcap == h[2], "req_parse changed the values");
	if (outcap > FZP_SMALL_CAP) /* the worker would malloc it: not per input */
		outcap = fz_u16(in) % (FZP_SMALL_CAP + 1);

	/* The fake fn: writes up to outcap bytes, returns a chosen value. */
	{
		unsigned char *out = malloc(outcap ? outcap : 1), *stream, *got = NULL;
		ssize_t fr = (ssize_t)fzp_value(in, outcap);
		int64_t result, back = 0;
		uint64_t outlen;
		size_t slen;

		FZ_CHECK(out != NULL, "out of memory");
		for (size_t i = 0; i < outcap; i++)
			out[i] = (unsigned char)(i * 13 + 5);
		corio__pp_resp_make(fr, outcap, &result, &outlen);
		if (fr > (ssize_t)outcap)
			FZ_CHECK(result == -ENOBUFS && outlen == 0,
				 "fn returned %zd with outcap %zu: result %lld outlen %llu", fr, outcap,
				 (long long)result, (unsigned long long)outlen);
		else
			FZ_CHECK(result == fr && outlen == (fr > 0 ? (uint64_t)fr : 0),
				 "fn returned %zd: result %lld outlen %llu", fr, (long long)result,
				 (unsigned long long)outlen);
		FZ_CHECK(fzp_header_ok(result, outlen, outcap),
			 "the worker's own header (%lld, %llu) fails the parent's check",
			 (long long)result, (unsigned long long)outlen);

		/* Round trip: the worker sends, the parent receives. */
		stream = malloc(FZP_HDR + outlen);
		FZ_CHECK(stream != NULL, "out of memory");
		{
			uint64_t hdr[2] = { (uint64_t)result, outlen };
			slen = fzp_send(in, hdr, FZP_HDR, out, (size_t)outlen, stream);
		}
		FZ_CHECK(slen == FZP_HDR + outlen, "sent %zu bytes", slen);
		r = fzp_receive(in, stream, slen, outcap, &back, &got);
		FZ_CHECK(r == 0 && back == result,
			 "a well-formed response (result %lld, %llu bytes, outcap %zu) came back as %d "
			 "(result %lld)",
			 (long long)result, (unsigned long long)outlen, outcap, r, (long long)back);
		FZ_CHECK(outlen == 0 || memcmp(got, out, outlen) == 0, "the output came back changed");
		free(got);
		free(stream);
		free(out);
	}
}

static int fuzz_procpool_one(const uint8_t *data, size_t size)
{
	fz_in in = { data, size, 0 };
	unsigned mode = fz_u8(&in);

	if ((mode & 3) < 2)
		fzp_parent(&in);
	else
		fzp_worker(&in);
	return 0;
}

#endif /* CORIO_FUZZ_HARNESS_PROCPOOL_H */
