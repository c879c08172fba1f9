/*
 * switch.c - the "switch" family: what it costs to change stacks.
 *
 * Four ping-pongs between two contexts, timed interleaved in one child:
 *
 *   corio raw    corio__ctx_switch alone, no loop: the assembly's own cost;
 *   fcontext     Boost.Context's jump_fcontext, the fastest well-known switch;
 *   ucontext     glibc swapcontext, which also saves the signal mask with a
 *                system call: what a naive C coroutine library pays;
 *   corio_yield  two tasks of a real loop handing the CPU to each other
 *                through the ready queue: what a corio program pays.
 *
 * Every figure is ns per switch: one ping-pong round is two switches, and
 * one corio_yield hands over once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "bench.h"
#include "internal.h"

/* Boost.Context's switch, exported by libboost_context with C linkage. */
typedef struct {
	void *fctx;
	void *data;
} transfer_t;
transfer_t jump_fcontext(void *to, void *vp);
void *make_fcontext(void *sp, size_t size, void (*fn)(transfer_t));

#define PEER_STACK (64 * 1024)

enum { C_RAW, C_FCONTEXT, C_UCONTEXT, C_YIELD, C_COUNT };

struct switch_out {
	struct bench_value v[C_COUNT];
};

/* A stack for the peer context, with a guard page below it so that a bug
 * here faults instead of scribbling over the heap. */
struct peer_stack {
	char *lo, *hi;
};

static int peer_stack_map(struct peer_stack *s)
{
	long pg = sysconf(_SC_PAGESIZE);
	size_t guard = pg > 0 ? (size_t)pg : 4096;
	char *p = mmap(NULL, PEER_STACK + guard, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);

	if (p == MAP_FAILED)
		return -errno;
	if (mprotect(p, guard, PROT_NONE) < 0)
		return -errno;
	s->lo = p + guard;
	s->hi = s->lo + PEER_STACK;
	return 0;
}

/* ------------------------------------------------------------------------
 * corio__ctx_switch, no loop
 * ------------------------------------------------------------------------ */

struct raw_pair {
	corio__ctx       main, peer;
	struct peer_stack stack;
};

static void raw_peer(void *arg)
{
	struct raw_pair *p = arg;

	for (;;)
		corio__ctx_switch(&p->peer, &p->main);
}

static int raw_run(void *ctx, uint64_t iters, uint64_t *ns)
{
	struct raw_pair *p = ctx;
	uint64_t t0;

	/* A fresh peer each run: the previous one is simply abandoned, which
	 * is safe because it owns nothing but its stack. */
	corio__ctx_make(&p->peer, p->stack.lo, p->stack.hi, raw_peer, p);
	corio__ctx_switch(&p->main, &p->peer);
	t0 = bench_now_ns();
	for (uint64_t i = 0; i < iters; i++)
		corio__ctx_switch(&p->main, &p->peer);
	*ns = bench_now_ns() - t0;
	return 0;
}

/* ------------------------------------------------------------------------
 * Boost.Context fcontext
 * ------------------------------------------------------------------------ */

static void fc_peer(transfer_t t)
{
	for (;;)
		t = jump_fcontext(t.fctx, NULL);
}

static int fc_run(void *ctx, uint64_t iters, uint64_t *ns)
{
	struct peer_stack *s = ctx;
	void *peer = make_fcontext(s->hi, PEER_STACK, fc_peer);
	uint64_t t0;

	peer = jump_fcontext(peer, NULL).fctx;
	t0 = bench_now_ns();
	for (uint64_t i = 0; i < iters; i++)
		peer = jump_fcontext(peer, NULL).fctx;
	*ns = bench_now_ns() - t0;
	return 0;
}

/* ------------------------------------------------------------------------
 * ucontext
 * ------------------------------------------------------------------------ */

/* makecontext passes only int arguments, so the peer finds its contexts
 * here rather than through a pointer argument. */
static ucontext_t uc_main, uc_peer;

static void uc_peer_fn(void)
{
	for (;;)
		swapcontext(&uc_peer, &uc_main);
}

static int uc_run(void *ctx, uint64_t iters, uint64_t *ns)
{
	struct peer_stack *s = ctx;
	uint64_t t0;

	if (getcontext(&uc_peer) < 0)
		return -errno;
	uc_peer.uc_stack.ss_sp = s->lo;
	uc_peer.uc_stack.ss_size = PEER_STACK;
	uc_peer.uc_link = NULL;
	makecontext(&uc_peer, uc_peer_fn, 0);
	if (swapcontext(&uc_main, &uc_peer) < 0)
		return -errno;
	t0 = bench_now_ns();
	for (uint64_t i = 0; i < iters; i++)
		swapcontext(&uc_main, &uc_peer);
	*ns = bench_now_ns() - t0;
	return 0;
}

/* ------------------------------------------------------------------------
 * corio_yield between two tasks
 * ------------------------------------------------------------------------ */

struct yield_run {
	uint64_t iters, ns;
	int      stop;
};

static int yield_peer(void *arg)
{
	struct yield_run *y = arg;

	while (!y->stop)
		corio_yield();
	return 0;
}

static int yield_main(void *arg)
{
	struct yield_run *y = arg;
	corio_task *t = corio_spawn(yield_peer, y);
	uint64_t t0;

	if (!t)
		return -errno;
	/* Let the peer start and both settle into the ping-pong. */
	for (int i = 0; i < 64; i++)
		corio_yield();
	t0 = bench_now_ns();
	for (uint64_t i = 0; i < y->iters; i++)
		corio_yield();
	y->ns = bench_now_ns() - t0;
	y->stop = 1;
	return corio_join(t);
}

static int yield_run(void *ctx, uint64_t iters, uint64_t *ns)
{
	struct yield_run *y = ctx;
	int r;

	/* The loop's setup and teardown happen outside the timed part. */
	y->iters = iters;
	y->stop = 0;
	r = corio_run(yield_main, y);
	*ns = y->ns;
	return r < 0 ? r : 0;
}

/* ------------------------------------------------------------------------
 * The family
 * ------------------------------------------------------------------------ */

static int switch_child(void *arg, void *out)
{
	const struct bench_opts *o = arg;
	struct switch_out *so = out;
	struct raw_pair raw;
	struct peer_stack fs, us;
	struct yield_run y = { 0 };
	struct bench_contender c[C_COUNT] = {
		[C_RAW]      = { "corio__ctx_switch", raw_run, &raw, 2, { 0 } },
		[C_FCONTEXT] = { "jump_fcontext", fc_run, &fs, 2, { 0 } },
		[C_UCONTEXT] = { "swapcontext", uc_run, &us, 2, { 0 } },
		/* Each main-task iteration is its own yield plus the peer's. */
		[C_YIELD]    = { "corio_yield", yield_run, &y, 2, { 0 } },
	};
	int r;

	memset(so, 0, sizeof(*so));
	if ((r = peer_stack_map(&raw.stack)) < 0 || (r = peer_stack_map(&fs)) < 0 ||
	    (r = peer_stack_map(&us)) < 0) {
		for (int i = 0; i < C_COUNT; i++)
			bench_value_fail(&so->v[i], BENCH_FAILED, "mmap: %s", strerror(-r));
		return r;
	}
	/* Three rows share these four contenders: three rows' worth of time. */
	bench_interleave(c, C_COUNT, 3 * o->seconds, o->reps);
	for (int i = 0; i < C_COUNT; i++)
		so->v[i] = c[i].out;
	return 0;
}

static void add_row(const char *name, const struct bench_value *corio, const char *bname,
		    const struct bench_value *base, double ratio_max)
{
	struct bench_row r;

	bench_row_init(&r, "switch", name, "ns/switch", bname);
	r.corio = *corio;
	r.base = *base;
	if (ratio_max > 0)
		bench_row_target(&r, BENCH_TARGET_RATIO_MAX, ratio_max);
	bench_report_add(&r);
}

int bench_switch(const struct bench_opts *o)
{
	struct switch_out so;
	struct bench_proc p;

	fprintf(stderr, "switch: raw switch, fcontext, ucontext, corio_yield ...\n");
	if (bench_fork(switch_child, (void *)o, &so, sizeof(so), 60 + 10 * o->seconds, &p) < 0) {
		/* The child died: no figure from it can be trusted. */
		for (int i = 0; i < C_COUNT; i++)
			bench_value_fail(&so.v[i], p.status, "%s", p.note);
	}
	add_row("switch.raw.fcontext", &so.v[C_RAW], "boost fcontext", &so.v[C_FCONTEXT], 1.0);
	add_row("switch.raw.ucontext", &so.v[C_RAW], "ucontext swapcontext", &so.v[C_UCONTEXT], 0);
	add_row("switch.yield.fcontext", &so.v[C_YIELD], "boost fcontext", &so.v[C_FCONTEXT], 2.0);
	return 0;
}
