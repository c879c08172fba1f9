/*
 * fault.c - fault injection at the library's seams (make ... FAULTS=1).
 *
 * Built only with -DCORIO_FAULTS; in every other build each seam is the
 * constant 0 (internal.h) and this file compiles to nothing. A seam is a
 * place where the world can refuse the library something:
 *
 *   op        an I/O op about to be submitted fails with an errno instead
 *             (-EAGAIN by default; CORIO_FAULTS may name ENOMEM, EINTR,
 *             ECANCELED, EIO or ENOBUFS): its SQE becomes a no-op, as if
 *             the kernel had refused it at once; a close never fails so
 *   short     a read, write, recv or send (fixed-buffer ones too) asks the
 *             kernel for half its length: a short transfer, really performed
 *   sq_full   getting an SQE finds the submission queue full
 *   stack     mapping a stack fails (ENOMEM)
 *   malloc    a library allocation fails (ENOMEM)
 *   thread    pthread_create fails (EAGAIN)
 *   fork      fork fails (EAGAIN)
 *   msg_ring  a message or a finished job that would go by MSG_RING is
 *             refused, so it takes the eventfd path
 *
 * CQ overflow is provoked with a tiny ring (corio_config's sq_entries and
 * cq_entries), not here.
 *
 * Each seam counts its calls (atomically: pool threads pass seams too) and
 * fails on the Nth call, or on each call with probability p. Tests arm it
 * with corio__fault_arm / corio__fault_prob; programs with the environment:
 *
 *   CORIO_FAULTS="op:5:EINTR,malloc:p=0.01,seed=42"
 *
 * (seam:N[:ERR] fails the Nth call; seam:p=P fails each call with
 * probability P; seed=S seeds the draws; ERR is an errno name for `op`).
 */
#ifdef CORIO_FAULTS

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct seam {
	uint64_t calls;   /* atomic */
	uint64_t nth;     /* fail this call (1-based); 0: none */
	uint32_t prob;    /* fail with probability prob / 2^32; 0: never */
	int      err;     /* what `op` injects (negative errno) */
	uint64_t hits;    /* atomic: failures injected */
};

static struct seam seams[CORIO__F_COUNT];
static uint64_t rng_state = 0x9e3779b97f4a7c15ull; /* atomic */
void corio__fault_env(void);
static pthread_once_t env_once = PTHREAD_ONCE_INIT;

static const char *const names[CORIO__F_COUNT] = {
	[CORIO__F_OP] = "op",         [CORIO__F_SHORT] = "short",
	[CORIO__F_SQ_FULL] = "sq_full", [CORIO__F_STACK] = "stack",
	[CORIO__F_MALLOC] = "malloc", [CORIO__F_THREAD] = "thread",
	[CORIO__F_FORK] = "fork",     [CORIO__F_MSG_RING] = "msg_ring",
};

static const struct {
	const char *name;
	int         err;
} errs[] = {
	{ "EAGAIN", EAGAIN }, { "ENOMEM", ENOMEM }, { "EINTR", EINTR },
	{ "ECANCELED", ECANCELED }, { "EIO", EIO }, { "ENOBUFS", ENOBUFS },
};

/* splitmix64 over one atomic word: draws from any thread. */
static uint64_t draw(void)
{
	uint64_t z = __atomic_add_fetch(&rng_state, 0x9e3779b97f4a7c15ull, __ATOMIC_RELAXED);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void corio__fault_env(void)
{
	const char *e = getenv("CORIO_FAULTS");
	char buf[512], *save = NULL;

	if (!e || !*e)
		return;
	snprintf(buf, sizeof(buf), "%s", e);
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(tok, ':');
		int s;

		if (strncmp(tok, "seed=", 5) == 0) {
			__atomic_store_n(&rng_state, strtoull(tok + 5, NULL, 0), __ATOMIC_RELAXED);
			continue;
		}
		if (!colon)
			goto bad;
		*colon++ = '\0';
		for (s = 0; s < CORIO__F_COUNT; s++)
			if (strcmp(tok, names[s]) == 0)
				break;
		if (s == CORIO__F_COUNT)
			goto bad;
		if (strncmp(colon, "p=", 2) == 0) {
			double p = strtod(colon + 2, NULL);
			corio__fault_prob(s, p);
		} else {
			char *rest;
			unsigned long long n = strtoull(colon, &rest, 10);
			int err = 0;
			if (*rest == ':') {
				for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
					if (strcmp(rest + 1, errs[i].name) == 0)
						err = -errs[i].err;
				if (!err)
					goto bad;
			}
			corio__fault_arm(s, n, err);
		}
		continue;
bad:
		fprintf(stderr, "corio: CORIO_FAULTS: cannot parse '%s' (seam:N[:ERRNO] or "
				"seam:p=P or seed=S)\n", tok);
	}
}

int corio__fault_hit(int s)
{
	struct seam *f = &seams[s];
	uint64_t n;
	uint32_t p;

	pthread_once(&env_once, corio__fault_env);
	n = __atomic_add_fetch(&f->calls, 1, __ATOMIC_RELAXED);
	p = __atomic_load_n(&f->prob, __ATOMIC_RELAXED);
	if (n != __atomic_load_n(&f->nth, __ATOMIC_RELAXED) &&
	    (p == 0 || (uint32_t)draw() >= p))
		return 0;
	__atomic_add_fetch(&f->hits, 1, __ATOMIC_RELAXED);
	if (s == CORIO__F_OP) {
		int err = __atomic_load_n(&f->err, __ATOMIC_RELAXED);
		return err ? err : -EAGAIN;
	}
	return 1;
}

void corio__fault_arm(int s, uint64_t nth, int err)
{
	/* Counting restarts: nth is the nth call from now. */
	__atomic_store_n(&seams[s].calls, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&seams[s].err, err, __ATOMIC_RELAXED);
	__atomic_store_n(&seams[s].nth, nth, __ATOMIC_RELAXED);
}

void corio__fault_prob(int s, double p)
{
	uint32_t v = p <= 0 ? 0 : p >= 1 ? UINT32_MAX : (uint32_t)(p * 4294967296.0);

	__atomic_store_n(&seams[s].prob, v, __ATOMIC_RELAXED);
}

void corio__fault_reset(void)
{
	pthread_once(&env_once, corio__fault_env); /* the environment does not re-arm later */
	for (int s = 0; s < CORIO__F_COUNT; s++) {
		__atomic_store_n(&seams[s].nth, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&seams[s].prob, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&seams[s].calls, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&seams[s].hits, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&seams[s].err, 0, __ATOMIC_RELAXED);
	}
}

uint64_t corio__fault_calls(int s)
{
	return __atomic_load_n(&seams[s].calls, __ATOMIC_RELAXED);
}

uint64_t corio__fault_hits(int s)
{
	return __atomic_load_n(&seams[s].hits, __ATOMIC_RELAXED);
}

const char *corio__fault_name(int s)
{
	return s >= 0 && s < CORIO__F_COUNT ? names[s] : "?";
}

#else
/* ISO C wants a translation unit to declare something. */
typedef int corio__fault_unused;
#endif /* CORIO_FAULTS */
