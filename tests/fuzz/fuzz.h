/*
 * fuzz.h - what the fuzz harnesses share (tests/fuzz/README.md).
 *
 * A harness is a static function `int fuzz_<target>_one(const uint8_t *data,
 * size_t size)` in harness_<target>.h. The libFuzzer programs
 * (fuzz_<target>.c, built by `make fuzz` with clang) call it from
 * LLVMFuzzerTestOneInput; tests/test_fuzz_regress.c (the normal gcc build,
 * `make test`) replays the seed corpora and every crash kept under
 * tests/fuzz/regress/ through the same function. A broken invariant prints
 * what was expected and aborts: libFuzzer saves the input, the regression
 * test (which runs each file in a forked child) reports it.
 */
#ifndef CORIO_FUZZ_H
#define CORIO_FUZZ_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((noreturn, format(printf, 4, 5), unused))
static void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz: invariant broken at %s:%d: %s\n  ", file, line, cond);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	abort();
}

/* FZ_CHECK(cond, "format", ...): the message says what was compared. */
#define FZ_CHECK(cond, ...)                                               \
	do {                                                              \
		if (!(cond))                                              \
			fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__); \
	} while (0)

/* Reads the input as a stream of choices: past its end every read is 0,
 * so any input is a complete program. */
typedef struct fz_in {
	const uint8_t *p;
	size_t         n, i;
} fz_in;

static inline int fz_more(const fz_in *in)
{
	return in->i < in->n;
}

static inline unsigned fz_u8(fz_in *in)
{
	return in->i < in->n ? in->p[in->i++] : 0;
}

static inline unsigned fz_u16(fz_in *in)
{
	unsigned lo = fz_u8(in);
	return lo | fz_u8(in) << 8;
}

static inline uint64_t fz_u64(fz_in *in)
{
	uint64_t v = 0;

	for (int k = 0; k < 8; k++)
		v |= (uint64_t)fz_u8(in) << (8 * k);
	return v;
}

/* A small deterministic generator, seeded from the input (split points). */
static inline uint64_t fz_hash(const uint8_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

static inline uint64_t fz_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

#endif /* CORIO_FUZZ_H */
