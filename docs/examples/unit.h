/*
 * unit.h - the unit of time shared by the example programs.
 *
 * The tutorial counts in seconds. Each example measures time in "units":
 * UNIT_MS milliseconds (1000 unless defined before this header), or the
 * value of the environment variable CORIO_EXAMPLE_UNIT_MS, so that
 * `make examples` can run them all quickly. Call read_unit() first in
 * main() and set t0 = corio_now_ns() where the clock should start.
 */
#ifndef CORIO_EXAMPLE_UNIT_H
#define CORIO_EXAMPLE_UNIT_H

#include <corio.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef UNIT_MS
#define UNIT_MS 1000 /* one tutorial second, in milliseconds */
#endif

static uint64_t unit_ms = UNIT_MS; /* CORIO_EXAMPLE_UNIT_MS overrides it */
static uint64_t t0;

static inline void read_unit(void)
{
	const char *s = getenv("CORIO_EXAMPLE_UNIT_MS");
	char *end;
	unsigned long long v;

	if (!s || !*s)
		return;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v == 0 || v > 60000)
		fprintf(stderr, "ignoring CORIO_EXAMPLE_UNIT_MS=%s (want 1..60000)\n", s);
	else
		unit_ms = v;
}

static inline double elapsed_units(void)
{
	return (double)(corio_now_ns() - t0) / 1e6 / (double)unit_ms;
}

#endif
