/*
 * cli.h - parsing the tools' numeric options: the whole string must be a
 * number within [lo, hi] (NaN is refused), else false and *v untouched.
 */
#ifndef CORIO_TOOLS_CLI_H
#define CORIO_TOOLS_CLI_H

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

static inline bool cli_parse_long(const char *s, long lo, long hi, long *v)
{
	char *end;
	long x;

	errno = 0;
	x = strtol(s, &end, 10);
	if (errno || end == s || *end || x < lo || x > hi)
		return false;
	*v = x;
	return true;
}

static inline bool cli_parse_double(const char *s, double lo, double hi, double *v)
{
	char *end;
	double x;

	errno = 0;
	x = strtod(s, &end);
	if (errno || end == s || *end || !(x >= lo) || !(x <= hi))
		return false;
	*v = x;
	return true;
}

#endif /* CORIO_TOOLS_CLI_H */
