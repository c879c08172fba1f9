/*
 * srv_chaos.h - the --chaos options corio-echo and corio-http share, for
 * soak runs (tools/soak.sh, docs/soak.md), header-only.
 *
 *   --chaos SEED        turn chaos on; SEED (not 0) seeds each loop's choices
 *   --cancel-rate P     each connection, with probability P, has its task
 *                       cancelled (corio_wait_for on it runs out) at a time
 *                       drawn uniformly from (0, --cancel-ms] after accept
 *   --cancel-ms N       (default 2000)
 *   --deadline-ms D     every request is handled in a deadline scope drawn
 *                       uniformly from [D/2, 3D/2] ms (default 50)
 *   --slow-rate P       with probability P a request's handler first waits
 *                       a time drawn from [0, 2D] ms inside that scope (a
 *                       slow backend): about half of those miss the deadline
 *
 * A connection the server drops on purpose (its task cancelled, or, in
 * corio-echo, a request past its deadline) is closed with a reset
 * (SO_LINGER 0), which a client told so (corio-load --server-chaos) counts
 * as dropped; any other close is a FIN. corio-http answers a request past
 * its deadline with 504 and "X-Corio-Chaos: deadline", keeping the
 * connection. Each server counts what it did, and counts as unexpected any
 * error its own doing does not explain (a cancellation nobody asked for, a
 * timeout without a deadline, an error other than a reset or a broken pipe
 * from the client): the soak requires zero.
 */
#ifndef CORIO_TOOLS_SRV_CHAOS_H
#define CORIO_TOOLS_SRV_CHAOS_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

struct srv_chaos {
	uint64_t seed;        /* 0: no chaos */
	double   cancel_rate;
	uint64_t cancel_ms;
	uint64_t deadline_ms;
	double   slow_rate;
	bool     tuned;       /* a rate or a time was given (needs --chaos) */
};

#define SRV_CHAOS_DEFAULTS \
	{ .cancel_rate = 0.02, .cancel_ms = 2000, .deadline_ms = 50, .slow_rate = 0.01 }

/* getopt_long codes, above any short option. */
enum {
	SRV_OPT_CHAOS = 0x1000,
	SRV_OPT_CANCEL_RATE,
	SRV_OPT_CANCEL_MS,
	SRV_OPT_DEADLINE_MS,
	SRV_OPT_SLOW_RATE,
};

#define SRV_CHAOS_LONGOPTS                                                      \
	{ "chaos", required_argument, NULL, SRV_OPT_CHAOS },                   \
	{ "cancel-rate", required_argument, NULL, SRV_OPT_CANCEL_RATE },       \
	{ "cancel-ms", required_argument, NULL, SRV_OPT_CANCEL_MS },           \
	{ "deadline-ms", required_argument, NULL, SRV_OPT_DEADLINE_MS },       \
	{ "slow-rate", required_argument, NULL, SRV_OPT_SLOW_RATE }

#define SRV_CHAOS_USAGE                                                                  \
	"  --chaos SEED    soak testing: cancel some connections' tasks and give requests\n" \
	"                  random deadlines, choices seeded by SEED (not 0); connections\n"  \
	"                  dropped on purpose are reset (SO_LINGER 0). See docs/soak.md\n"   \
	"  --cancel-rate P with --chaos: the fraction of connections cancelled (0.02)\n"     \
	"  --cancel-ms N   with --chaos: ... at a random time within N ms of accept (2000)\n" \
	"  --deadline-ms D with --chaos: each request's deadline, uniform in [D/2, 3D/2]\n"  \
	"                  ms (50)\n"                                                          \
	"  --slow-rate P   with --chaos: the fraction of requests whose handler first waits\n" \
	"                  up to 2D ms in that deadline (0.01)\n"

static inline uint64_t srv_chaos_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline double srv_chaos_unit(uint64_t *s)
{
	return (double)(srv_chaos_next(s) >> 11) / 9007199254740992.0;
}

static inline uint64_t srv_chaos_below(uint64_t *s, uint64_t n)
{
	return n ? srv_chaos_next(s) % n : 0;
}

/* A loop's generator: the seed and the loop's number. */
static inline uint64_t srv_chaos_rng(const struct srv_chaos *c, int loop)
{
	uint64_t s = c->seed ^ ((uint64_t)loop * 0x632be59bd9b4e019ull);

	return srv_chaos_next(&s);
}

/* At accept: 0 (spared), or after how many ms this connection's task is
 * cancelled. */
static inline uint64_t srv_chaos_doom_ms(const struct srv_chaos *c, uint64_t *rng)
{
	if (!c->seed || c->cancel_rate <= 0 || srv_chaos_unit(rng) >= c->cancel_rate)
		return 0;
	return 1 + srv_chaos_below(rng, c->cancel_ms);
}

/* A request's deadline (ms, >= 1) and how long its handler waits first
 * (ms; 0: no wait). */
static inline void srv_chaos_request(const struct srv_chaos *c, uint64_t *rng,
				     uint64_t *deadline_ms, uint64_t *wait_ms)
{
	uint64_t d = c->deadline_ms;

	*deadline_ms = d / 2 + srv_chaos_below(rng, d + 1);
	if (*deadline_ms == 0)
		*deadline_ms = 1;
	*wait_ms = c->slow_rate > 0 && srv_chaos_unit(rng) < c->slow_rate
			   ? srv_chaos_below(rng, 2 * d + 1)
			   : 0;
}

/* A count of unexpected errors; the first few are printed. */
static inline void srv_unexpected(uint64_t *count, const char *prog, const char *what, int err)
{
	if ((*count)++ < 10)
		fprintf(stderr, "%s: unexpected: %s: %s\n", prog, what,
			err < 0 ? strerror(-err) : "(no error)");
}

/*
 * One of the options above (opt: its getopt code). 1 when taken, 0 when
 * opt is not one of them, -1 for a bad value (said on stderr).
 */
static inline int srv_chaos_option(struct srv_chaos *c, const char *prog, int opt, const char *arg)
{
	double v;

	switch (opt) {
	case SRV_OPT_CHAOS: {
		char *end;
		unsigned long long x;

		errno = 0;
		x = strtoull(arg, &end, 0);
		if (errno || end == arg || *end || *arg == '-' || x == 0) {
			fprintf(stderr, "%s: --chaos wants a seed, a number > 0\n", prog);
			return -1;
		}
		c->seed = x;
		return 1;
	}
	case SRV_OPT_CANCEL_RATE:
	case SRV_OPT_SLOW_RATE:
		if (!cli_parse_double(arg, 0, 1, &v)) {
			fprintf(stderr, "%s: --%s wants a probability in [0, 1]\n", prog,
				opt == SRV_OPT_CANCEL_RATE ? "cancel-rate" : "slow-rate");
			return -1;
		}
		*(opt == SRV_OPT_CANCEL_RATE ? &c->cancel_rate : &c->slow_rate) = v;
		c->tuned = true;
		return 1;
	case SRV_OPT_CANCEL_MS:
	case SRV_OPT_DEADLINE_MS:
		if (!cli_parse_double(arg, 1, 3600000, &v) || v != (double)(uint64_t)v) {
			fprintf(stderr, "%s: --%s wants 1..3600000\n", prog,
				opt == SRV_OPT_CANCEL_MS ? "cancel-ms" : "deadline-ms");
			return -1;
		}
		*(opt == SRV_OPT_CANCEL_MS ? &c->cancel_ms : &c->deadline_ms) = (uint64_t)v;
		c->tuned = true;
		return 1;
	default:
		return 0;
	}
}

/* After the command line: false (said why) when a chaos option came
 * without --chaos. */
static inline bool srv_chaos_check(const struct srv_chaos *c, const char *prog)
{
	if (c->tuned && !c->seed) {
		fprintf(stderr, "%s: --cancel-rate, --cancel-ms, --deadline-ms and --slow-rate "
				"need --chaos SEED\n", prog);
		return false;
	}
	return true;
}

#endif /* CORIO_TOOLS_SRV_CHAOS_H */
