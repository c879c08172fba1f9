/*
 * test_ctx_arch.c - the context switch alone (corio__ctx_make,
 * corio__ctx_switch, corio__ctx_trampoline), on each architecture corio
 * supports: no loop, no io_uring, no task.
 *
 * It is built two ways:
 *   - by `make`, natively, against libcorio.a, and run by `make test`;
 *   - by `make test-aarch64` (tests/aarch64.sh): cross-compiled for AArch64
 *     with lib/ctx.c and lib/arch/switch_aarch64.S only, and run under
 *     qemu-user, which does not emulate io_uring. CORIO_TEST_STANDALONE then
 *     supplies the task-level functions ctx.c refers to, which this program
 *     never calls. tests/aarch64.sh builds it twice: plain, and with
 *     -mbranch-protection=standard (BTI landing pads, PAC-signed frames).
 *
 * What it checks, on every architecture:
 *   ping_pong           two contexts hand control back and forth
 *   round_robin         many contexts take turns, each on its own stack
 *   deep_recursion      a deep call chain on a task stack survives switches
 *                       made from its bottom
 *   fp_rounding         each context keeps its own rounding mode (and on
 *                       AArch64 its own FPCR: FZ, DN); a new context starts
 *                       with its maker's
 *   entry_alignment     sp at the entry function as the ABI wants it, near
 *                       the top of the stack; printf of a double works there
 *   frame_chain         a frame-pointer walk from inside a context ends with
 *                       fp = 0 after the entry function, whose return address
 *                       lies in the trampoline
 *   entry_never_returns an entry that leaves by switching away for good: its
 *                       stack is reused; an entry that returns traps in the
 *                       trampoline instead of running into garbage
 * and on AArch64 only (the x86-64 equivalents are in test_ctx.c):
 *   callee_saved        x19-x28, x29 and d8-d15 set by assembly before a
 *                       switch hold the same values after it, in both
 *                       contexts; sp is the same too
 *   saved_frame         a suspended context's saved sp is a frame record:
 *                       walking from it reaches the trampoline
 *   pac                 (built with pac-ret) the saved lr is signed, and a
 *                       forged one faults instead of being returned to
 *   bti                 (built with BTI) with the code pages guarded, a call
 *                       through a pointer to a function without a landing pad
 *                       faults, and the switch still works through pointers
 *
 * It is a plain program, not a cmocka one, because the cross build has no
 * AArch64 cmocka: each test prints one line, a failed check prints both
 * values and ends the program with status 1; status 77 means skipped.
 * `test_ctx_arch --gdb-helper` is the program tests/aarch64.sh debugs to
 * show a task's backtrace under qemu.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__aarch64__)
#include <sys/auxv.h>
#endif

#include "internal.h"
#if defined(__x86_64__)
#include "arch/frame_x86_64.h"
#elif defined(__aarch64__)
#include "arch/frame_aarch64.h"
#endif


/* ------------------------------------------------------------------------
 * Checks
 * ------------------------------------------------------------------------ */

static const char *current_test = "?";

static void __attribute__((noreturn)) fail_u64(const char *file, int line, const char *what, uint64_t a,
					       uint64_t b)
{
	fflush(stdout);
	fprintf(stderr, "%s:%d: FAIL in %s: %s\n    left:  0x%llx (%lld)\n    right: 0x%llx (%lld)\n", file, line,
		current_test, what, (unsigned long long)a, (long long)a, (unsigned long long)b, (long long)b);
	exit(1);
}

#define CHECK_EQ(a, b)                                                                          \
	do {                                                                                    \
		uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);                                \
		if (a_ != b_)                                                                   \
			fail_u64(__FILE__, __LINE__, #a " == " #b, a_, b_);                     \
	} while (0)
#define CHECK_NE(a, b)                                                                          \
	do {                                                                                    \
		uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);                                \
		if (a_ == b_)                                                                   \
			fail_u64(__FILE__, __LINE__, #a " != " #b, a_, b_);                     \
	} while (0)
#define CHECK_TRUE(c)                                                                           \
	do {                                                                                    \
		if (!(c))                                                                       \
			fail_u64(__FILE__, __LINE__, #c, 0, 1);                                 \
	} while (0)
/* lo <= v < hi */
#define CHECK_IN(v, lo, hi)                                                                     \
	do {                                                                                    \
		uint64_t v_ = (uint64_t)(v), lo_ = (uint64_t)(lo), hi_ = (uint64_t)(hi);       \
		if (v_ < lo_)                                                                   \
			fail_u64(__FILE__, __LINE__, #v " >= " #lo, v_, lo_);                   \
		if (v_ >= hi_)                                                                  \
			fail_u64(__FILE__, __LINE__, #v " < " #hi, v_, hi_);                    \
	} while (0)

#include "raw_ctx.h"
#if !RAW_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#define STACK_DEFAULT RAW_STACK

static void raw_make(raw *r, void (*entry)(void *), void *arg)
{
	CHECK_EQ(raw_make_sized(r, STACK_DEFAULT, entry, arg), 0);
}

/* ------------------------------------------------------------------------
 * Architecture helpers: rounding mode, return-address signatures
 * ------------------------------------------------------------------------ */

enum round { ROUND_NEAREST, ROUND_UP, ROUND_DOWN, ROUND_ZERO };

#if defined(__aarch64__)
#define FPCR_RMODE_SHIFT 22 /* RN 0, RP 1 (up), RM 2 (down), RZ 3 */
#define FPCR_FZ          (1ull << 24)
#define FPCR_DN          (1ull << 25)

static uint64_t get_fpcr(void)
{
	uint64_t v;

	__asm__ volatile("mrs %0, fpcr" : "=r"(v));
	return v;
}

static void set_fpcr(uint64_t v)
{
	__asm__ volatile("msr fpcr, %0" : : "r"(v));
}

static enum round get_round(void)
{
	static const enum round from_rmode[4] = { ROUND_NEAREST, ROUND_UP, ROUND_DOWN, ROUND_ZERO };

	return from_rmode[(get_fpcr() >> FPCR_RMODE_SHIFT) & 3];
}

static void set_round(enum round r)
{
	static const uint64_t rmode[4] = { 0, 1, 2, 3 };

	set_fpcr((get_fpcr() & ~(3ull << FPCR_RMODE_SHIFT)) | rmode[r] << FPCR_RMODE_SHIFT);
}

/* xpaclri: removes a PAC signature from a return address (a nop without PAC). */
static uint64_t strip_pac(uint64_t p)
{
	register uint64_t x30 __asm__("x30") = p;

	__asm__("hint #7" : "+r"(x30));
	return x30;
}
#elif defined(__x86_64__)
#define MXCSR_RC_SHIFT 13 /* RN 0, down 1, up 2, zero 3 */

static unsigned get_mxcsr(void)
{
	unsigned v;

	__asm__ volatile("stmxcsr %0" : "=m"(v));
	return v;
}

static void set_mxcsr(unsigned v)
{
	__asm__ volatile("ldmxcsr %0" : : "m"(v));
}

static enum round get_round(void)
{
	static const enum round from_rc[4] = { ROUND_NEAREST, ROUND_DOWN, ROUND_UP, ROUND_ZERO };

	return from_rc[(get_mxcsr() >> MXCSR_RC_SHIFT) & 3];
}

static void set_round(enum round r)
{
	static const unsigned rc[4] = { 0, 2, 1, 3 };

	set_mxcsr((get_mxcsr() & ~(3u << MXCSR_RC_SHIFT)) | rc[r] << MXCSR_RC_SHIFT);
}

static uint64_t strip_pac(uint64_t p)
{
	return p;
}
#else
#error "test_ctx_arch.c knows x86-64 and AArch64 only, like lib/ctx.c"
#endif

/* 1/3 in the current rounding mode, computed at run time. */
static double __attribute__((noinline)) one_third(void)
{
	volatile double one = 1.0, three = 3.0;

	return one / three;
}

/* Runs fn in a child; returns its wait status. No core files; with quiet,
 * no stderr either (qemu-user reports the signals it delivers there). */
static int in_child(void (*fn)(void), int quiet)
{
	pid_t pid;
	int st = 0;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	CHECK_TRUE(pid >= 0);
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };

		setrlimit(RLIMIT_CORE, &no_core);
		if (quiet) {
			int null = open("/dev/null", O_WRONLY);

			if (null >= 0)
				dup2(null, 2);
		}
		fn();
		_exit(0);
	}
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	return st;
}

/* ------------------------------------------------------------------------
 * ping_pong
 * ------------------------------------------------------------------------ */

#define PP_ROUNDS 10000

static raw pa, pb;
static int pp_count, pp_bad;

static void ping_entry(void *arg)
{
	raw *self = arg, *other = self == &pa ? &pb : &pa;
	int parity = self == &pa ? 0 : 1;

	raw_arrived();
	for (;;) {
		if (pp_count % 2 != parity)
			pp_bad++;
		pp_count++;
		raw_switch(self, pp_count >= PP_ROUNDS ? &raw_main : other);
	}
}

static void test_ping_pong(void)
{
	raw_init_main();
	raw_make(&pa, ping_entry, &pa);
	raw_make(&pb, ping_entry, &pb);
	pp_count = 0;
	pp_bad = 0;
	raw_switch(&raw_main, &pa);
	CHECK_EQ(pp_count, PP_ROUNDS);
	CHECK_EQ(pp_bad, 0);
	raw_free(&pa);
	raw_free(&pb);
}

/* ------------------------------------------------------------------------
 * round_robin
 * ------------------------------------------------------------------------ */

#define RR_N      64
#define RR_ROUNDS 100

static raw rr[RR_N];
static uint64_t rr_step, rr_bad;

static void rr_entry(void *arg)
{
	int me = (int)(intptr_t)arg;
	/* Lives on this context's stack: another context clobbering it, or
	 * resuming on the wrong stack, shows up as a wrong count. */
	volatile uint64_t my_turns = 0;

	raw_arrived();
	for (;;) {
		if (rr_step % RR_N != (uint64_t)me || my_turns != rr_step / RR_N)
			rr_bad++;
		my_turns++;
		rr_step++;
		raw_switch(&rr[me], rr_step == (uint64_t)RR_N * RR_ROUNDS ? &raw_main : &rr[(me + 1) % RR_N]);
	}
}

static void test_round_robin(void)
{
	raw_init_main();
	for (int i = 0; i < RR_N; i++)
		raw_make(&rr[i], rr_entry, (void *)(intptr_t)i);
	rr_step = 0;
	rr_bad = 0;
	raw_switch(&raw_main, &rr[0]);
	CHECK_EQ(rr_step, (uint64_t)RR_N * RR_ROUNDS);
	CHECK_EQ(rr_bad, 0);
	for (int i = 0; i < RR_N; i++)
		raw_free(&rr[i]);
}

/* ------------------------------------------------------------------------
 * deep_recursion
 * ------------------------------------------------------------------------ */

#define DEEP_DEPTH 6000
#define DEEP_EVERY 500
#define DEEP_STACK (4 * 1024 * 1024) /* roomy enough for ASan's bigger frames */

static raw rd;
static int deep_reported; /* depth at the last switch to main */
static uint64_t deep_result;

static uint64_t __attribute__((noinline)) deep(int n)
{
	volatile uint64_t mine[4];
	uint64_t below;

	for (int i = 0; i < 4; i++)
		mine[i] = (uint64_t)n * 4 + (uint64_t)i;
	if (n % DEEP_EVERY == 0) {
		deep_reported = n;
		raw_switch(&rd, &raw_main);
	}
	below = n < DEEP_DEPTH ? deep(n + 1) : 0;
	/* Every frame's locals must have survived the switches below it. */
	for (int i = 0; i < 4; i++)
		if (mine[i] != (uint64_t)n * 4 + (uint64_t)i)
			return UINT64_MAX / 2;
	return below + mine[0] + mine[3];
}

static void deep_entry(void *arg)
{
	raw_arrived();
	deep_result = deep(1);
	for (;;)
		raw_switch(&rd, &raw_main);
}

/* Main's own recursion between visits: it reuses the registers and stack
 * depth the other side uses. */
static uint64_t __attribute__((noinline)) shallow(int n)
{
	volatile uint64_t x = (uint64_t)n * 0x9e3779b97f4a7c15ull;

	return n ? shallow(n - 1) ^ x : x;
}

static void test_deep_recursion(void)
{
	int visits = 0;
	uint64_t want = 0;

	raw_init_main();
	CHECK_EQ(raw_make_sized(&rd, DEEP_STACK, deep_entry, NULL), 0);
	deep_result = 0;
	for (;;) {
		raw_switch(&raw_main, &rd);
		if (deep_result)
			break;
		visits++;
		CHECK_EQ(deep_reported, visits * DEEP_EVERY);
		(void)shallow(50);
	}
	CHECK_EQ(visits, DEEP_DEPTH / DEEP_EVERY);
	for (uint64_t n = 1; n <= DEEP_DEPTH; n++)
		want += n * 4 + n * 4 + 3;
	CHECK_EQ(deep_result, want);
	raw_free(&rd);
}

/* ------------------------------------------------------------------------
 * fp_rounding
 * ------------------------------------------------------------------------ */

static raw rf;
static enum round f_seen;
static double f_third;
#if defined(__aarch64__)
static uint64_t f_fpcr;
#endif

static void fp_entry(void *arg)
{
	raw_arrived();
	f_seen = get_round(); /* the maker's */
	set_round(ROUND_DOWN);
#if defined(__aarch64__)
	set_fpcr(get_fpcr() | FPCR_FZ | FPCR_DN);
#endif
	for (;;) {
		f_third = one_third();
		raw_switch(&rf, &raw_main);
		f_seen = get_round();
#if defined(__aarch64__)
		f_fpcr = get_fpcr();
#endif
	}
}

static void test_fp_rounding(void)
{
	enum round r0 = get_round();
	double up, down;
	int arith;

	raw_init_main();
	set_round(ROUND_UP);
	raw_make(&rf, fp_entry, NULL); /* made while we round up */
	raw_switch(&raw_main, &rf);
	CHECK_EQ(f_seen, ROUND_UP);
	down = f_third;
	/* It switched to rounding down; we still round up. */
	CHECK_EQ(get_round(), ROUND_UP);
#if defined(__aarch64__)
	CHECK_EQ(get_fpcr() & (FPCR_FZ | FPCR_DN), 0);
#endif
	up = one_third();
	/* The arithmetic follows the modes (valgrind computes everything
	 * round-to-nearest: there only the modes themselves are checked). */
	arith = !RAW_VALGRIND || !RUNNING_ON_VALGRIND;
	if (arith)
		CHECK_TRUE(up > down);
	/* We change ours: it keeps its own. */
	set_round(ROUND_ZERO);
	for (int i = 0; i < 3; i++) {
		raw_switch(&raw_main, &rf);
		CHECK_EQ(f_seen, ROUND_DOWN);
		if (arith)
			CHECK_TRUE(f_third == down);
#if defined(__aarch64__)
		CHECK_EQ(f_fpcr & (FPCR_FZ | FPCR_DN), FPCR_FZ | FPCR_DN);
		CHECK_EQ(get_fpcr() & (FPCR_FZ | FPCR_DN), 0);
#endif
		CHECK_EQ(get_round(), ROUND_ZERO);
		if (arith)
			CHECK_TRUE(one_third() == down); /* toward zero = down for 1/3 */
	}
	/* The same modes on both sides (the switch's no-write path). */
	set_round(ROUND_DOWN);
#if defined(__aarch64__)
	set_fpcr(get_fpcr() | FPCR_FZ | FPCR_DN);
#endif
	raw_switch(&raw_main, &rf);
	CHECK_EQ(f_seen, ROUND_DOWN);
	CHECK_EQ(get_round(), ROUND_DOWN);
#if defined(__aarch64__)
	CHECK_EQ(f_fpcr, get_fpcr());
	set_fpcr(get_fpcr() & ~(FPCR_FZ | FPCR_DN));
#endif
	set_round(r0);
	raw_switch(&raw_main, &rf);
	CHECK_EQ(f_seen, ROUND_DOWN);
	CHECK_EQ(get_round(), r0);
	raw_free(&rf);
}

/* ------------------------------------------------------------------------
 * entry_alignment
 * ------------------------------------------------------------------------ */

/* An entry written in assembly records sp as the entry function sees it,
 * then jumps to the C body. The assembly's symbols are global and hidden:
 * the compiler takes their addresses through the GOT, and gas turns a GOT
 * reference to a local symbol into one to its section, dropping the
 * offset (on AArch64 that pointed every such address at the first one). */
uint64_t arch_entry_sp; /* written by the assembly only: not static */
#if defined(__aarch64__)
__asm__(".text\n"
	".p2align 2\n"
	".globl align_entry\n"
	".hidden align_entry\n"
	".type align_entry, %function\n"
	"align_entry:\n"
	"	hint #34\n" /* bti c: called through a pointer */
	"	mov x9, sp\n"
	"	adrp x10, arch_entry_sp\n"
	"	str x9, [x10, :lo12:arch_entry_sp]\n"
	"	b align_body\n"
	".size align_entry, .-align_entry\n");
#define ENTRY_SP_MISALIGN 0 /* AArch64: sp is 16-byte aligned, always */
#else
__asm__(".text\n"
	".p2align 4\n"
	".type align_entry, @function\n"
	"align_entry:\n"
	"	movq %rsp, arch_entry_sp(%rip)\n"
	"	jmp align_body\n"
	".size align_entry, .-align_entry\n");
#define ENTRY_SP_MISALIGN 8 /* x86-64: rsp + 8 is 16-byte aligned at entry */
#endif
void align_entry(void *arg);

static raw rl;
static uintptr_t body_frame, body_local;
static char body_text[64];

void align_body(void *arg);
void __attribute__((noinline, used)) align_body(void *arg)
{
	__attribute__((aligned(16))) volatile char local[16];
	volatile double d = 2.5;

	raw_arrived();
	body_frame = (uintptr_t)__builtin_frame_address(0);
	body_local = (uintptr_t)local;
	snprintf(body_text, sizeof(body_text), "%.2f", d * 1.5);
	for (;;)
		raw_switch(&rl, &raw_main);
}

static void test_entry_alignment(void)
{
	uintptr_t top;

	raw_init_main();
	raw_make(&rl, align_entry, NULL);
	top = (uintptr_t)rl.lo + rl.size;
	raw_switch(&raw_main, &rl);
	CHECK_EQ((arch_entry_sp + ENTRY_SP_MISALIGN) % 16, 0);
	CHECK_EQ(body_frame % 16, 0);
	CHECK_EQ(body_local % 16, 0);
	CHECK_TRUE(strcmp(body_text, "3.75") == 0);
	/* The first frame sits at the top of the stack. */
	CHECK_IN(arch_entry_sp, top - 256, top + 1);
	raw_free(&rl);
}

/* ------------------------------------------------------------------------
 * frame_chain
 * ------------------------------------------------------------------------ */

struct chain {
	int       frames;
	uintptr_t last_ret;
	int       ended_at_zero;
};

/* fp[0] = the caller's fp, fp[1] = the return address: the frame record of
 * both ABIs (rbp/return address, x29/x30). */
static void walk_from(struct chain *c, const uintptr_t *fp)
{
	for (c->frames = 0; fp && c->frames < 64; c->frames++) {
		c->last_ret = (uintptr_t)strip_pac(fp[1]);
		fp = (const uintptr_t *)fp[0];
	}
	c->ended_at_zero = fp == NULL;
}

static int __attribute__((noinline)) walk_here(struct chain *c)
{
	walk_from(c, __builtin_frame_address(0));
	__asm__ volatile("" ::: "memory");
	return 0;
}

static raw rw;
static struct chain w_chain;

static void chain_entry(void *arg)
{
	raw_arrived();
	walk_here(&w_chain);
	for (;;)
		raw_switch(&rw, &raw_main);
}

static void test_frame_chain(void)
{
	uintptr_t tramp = (uintptr_t)corio__ctx_trampoline;

	raw_init_main();
	memset(&w_chain, 0, sizeof(w_chain));
	raw_make(&rw, chain_entry, NULL);
	raw_switch(&raw_main, &rw);
	/* walk_here <- chain_entry, then fp = 0. */
	CHECK_TRUE(w_chain.ended_at_zero);
	CHECK_IN(w_chain.frames, 2, 6);
	/* The outermost return address is inside the trampoline. */
	CHECK_IN(w_chain.last_ret, tramp, tramp + 64);
	raw_free(&rw);
}

/* ------------------------------------------------------------------------
 * entry_never_returns
 * ------------------------------------------------------------------------ */

static raw rn;
static int n_runs;

static void once_entry(void *arg)
{
	raw_arrived();
	n_runs++;
	/* Leaves for good, as a finished task does: the stack may be
	 * released or reused once we are off it. No fake stack to keep. */
#if RAW_ASAN
	__sanitizer_start_switch_fiber(NULL, raw_main.lo, raw_main.size);
#endif
	corio__ctx_switch(&rn.ctx, &raw_main.ctx);
	abort(); /* never resumed */
}

static void returning_entry(void *arg)
{
	(void)arg;
	raw_arrived();
}

static void child_entry_returns(void)
{
	raw_init_main();
	raw_make(&rn, returning_entry, NULL);
	raw_switch(&raw_main, &rn);
	_exit(0); /* not reached: the trampoline traps */
}

static void test_entry_never_returns(void)
{
	int st;

	raw_init_main();
	raw_make(&rn, once_entry, NULL);
	n_runs = 0;
	raw_switch(&raw_main, &rn);
	CHECK_EQ(n_runs, 1);
	/* A new context on the same stack memory. */
	corio__ctx_make(&rn.ctx, rn.lo, rn.lo + rn.size, once_entry, NULL);
	raw_switch(&raw_main, &rn);
	CHECK_EQ(n_runs, 2);
	raw_free(&rn);

#if RAW_VALGRIND
	if (RUNNING_ON_VALGRIND)
		return; /* valgrind would report the trap as an error */
#endif
	st = in_child(child_entry_returns, 1);
	CHECK_TRUE(WIFSIGNALED(st));
#if defined(__aarch64__)
	CHECK_EQ(WTERMSIG(st), SIGTRAP); /* brk */
#else
	CHECK_EQ(WTERMSIG(st), SIGILL); /* ud2 */
#endif
}

/* ------------------------------------------------------------------------
 * AArch64 only: callee_saved, saved_frame, pac, bti
 * ------------------------------------------------------------------------ */

#if defined(__aarch64__)

/*
 * void regs_switch(corio__ctx *from, const corio__ctx *to,
 *                  const uint64_t in[REGS_N], uint64_t out[REGS_OUT]);
 * Loads x19-x28, x29 and d8-d15 from in[], switches, and stores what those
 * registers hold when this context is resumed into out[], then sp after and
 * sp before the switch. Its own callers' values are saved and restored
 * around it, as the ABI asks.
 */
#define REGS_N   19 /* x19-x28 (10), x29 (1), d8-d15 (8) */
#define REGS_OUT 21 /* ... then sp after, sp before */
__asm__(".text\n"
	".p2align 2\n"
	".globl regs_switch\n"
	".hidden regs_switch\n"
	".type regs_switch, %function\n"
	"regs_switch:\n"
	"	hint #34\n"
	"	stp x29, x30, [sp, #-176]!\n"
	"	stp x19, x20, [sp, #16]\n"
	"	stp x21, x22, [sp, #32]\n"
	"	stp x23, x24, [sp, #48]\n"
	"	stp x25, x26, [sp, #64]\n"
	"	stp x27, x28, [sp, #80]\n"
	"	stp d8, d9, [sp, #96]\n"
	"	stp d10, d11, [sp, #112]\n"
	"	stp d12, d13, [sp, #128]\n"
	"	stp d14, d15, [sp, #144]\n"
	"	str x3, [sp, #160]\n" /* out */
	"	mov x9, sp\n"
	"	str x9, [x3, #160]\n" /* out[20] = sp before */
	"	ldp x19, x20, [x2, #0]\n"
	"	ldp x21, x22, [x2, #16]\n"
	"	ldp x23, x24, [x2, #32]\n"
	"	ldp x25, x26, [x2, #48]\n"
	"	ldp x27, x28, [x2, #64]\n"
	"	ldr x29, [x2, #80]\n"
	"	ldp d8, d9, [x2, #88]\n"
	"	ldp d10, d11, [x2, #104]\n"
	"	ldp d12, d13, [x2, #120]\n"
	"	ldp d14, d15, [x2, #136]\n"
	"	bl corio__ctx_switch\n"
	"	ldr x3, [sp, #160]\n"
	"	stp x19, x20, [x3, #0]\n"
	"	stp x21, x22, [x3, #16]\n"
	"	stp x23, x24, [x3, #32]\n"
	"	stp x25, x26, [x3, #48]\n"
	"	stp x27, x28, [x3, #64]\n"
	"	str x29, [x3, #80]\n"
	"	stp d8, d9, [x3, #88]\n"
	"	stp d10, d11, [x3, #104]\n"
	"	stp d12, d13, [x3, #120]\n"
	"	stp d14, d15, [x3, #136]\n"
	"	mov x9, sp\n"
	"	str x9, [x3, #152]\n" /* out[19] = sp after */
	"	ldp d8, d9, [sp, #96]\n"
	"	ldp d10, d11, [sp, #112]\n"
	"	ldp d12, d13, [sp, #128]\n"
	"	ldp d14, d15, [sp, #144]\n"
	"	ldp x19, x20, [sp, #16]\n"
	"	ldp x21, x22, [sp, #32]\n"
	"	ldp x23, x24, [sp, #48]\n"
	"	ldp x25, x26, [sp, #64]\n"
	"	ldp x27, x28, [sp, #80]\n"
	"	ldp x29, x30, [sp], #176\n"
	"	ret\n"
	".size regs_switch, .-regs_switch\n");
void regs_switch(corio__ctx *from, const corio__ctx *to, const uint64_t in[REGS_N], uint64_t out[REGS_OUT]);

#define REGS_ROUNDS 50

static raw ra;
static uint64_t rb_in[REGS_N], rb_out[REGS_OUT];
static int rb_rounds, rb_bad;

static void regs_fill(uint64_t *in, uint64_t tag, int round)
{
	for (int i = 0; i < REGS_N; i++)
		in[i] = tag + ((uint64_t)round << 16) + (uint64_t)i;
	/* d registers: bit patterns that are no ordinary numbers (NaNs with
	 * payloads, a denormal) must come back bit for bit. */
	in[11] = 0x7ff8dead0000beefull ^ (uint64_t)round;
	in[12] = 0x000fffffffffffffull - (uint64_t)round;
}

static void regs_entry(void *arg)
{
	raw_arrived();
	for (;;) {
		/* The other side runs with entirely different values. */
		regs_fill(rb_in, 0xb0b0b0b000000000ull, rb_rounds);
		raw_before(&ra, &raw_main);
		regs_switch(&ra.ctx, &raw_main.ctx, rb_in, rb_out);
		raw_after(&ra);
		rb_rounds++;
		for (int i = 0; i < REGS_N; i++)
			if (rb_out[i] != rb_in[i])
				rb_bad++;
		if (rb_out[19] != rb_out[20])
			rb_bad++;
	}
}

static void test_callee_saved(void)
{
	uint64_t in[REGS_N], out[REGS_OUT];

	raw_init_main();
	raw_make(&ra, regs_entry, NULL);
	rb_rounds = 0;
	rb_bad = 0;
	for (int round = 0; round < REGS_ROUNDS; round++) {
		regs_fill(in, 0xa1a1a1a100000000ull, round);
		memset(out, 0, sizeof(out));
		raw_before(&raw_main, &ra);
		regs_switch(&raw_main.ctx, &ra.ctx, in, out);
		raw_after(&raw_main);
		for (int i = 0; i < REGS_N; i++)
			CHECK_EQ(out[i], in[i]);
		CHECK_EQ(out[19], out[20]); /* sp */
	}
	/* The other side checked its own, one round fewer. */
	CHECK_EQ(rb_rounds, REGS_ROUNDS - 1);
	CHECK_EQ(rb_bad, 0);
	raw_free(&ra);
}

/* A suspended context's saved sp points at a frame record: walking from it
 * goes through the frames that called the switch, down to the trampoline. */
static raw rs;

static void __attribute__((noinline)) saved_inner(void)
{
	raw_switch(&rs, &raw_main);
	__asm__ volatile("" ::: "memory"); /* no tail call */
}

static void saved_entry(void *arg)
{
	raw_arrived();
	for (;;) {
		saved_inner();
		__asm__ volatile("" ::: "memory");
	}
}

static void test_saved_frame(void)
{
	const uint64_t *f;
	struct chain c;
	uintptr_t tramp = (uintptr_t)corio__ctx_trampoline;
	uintptr_t lo, hi;

	raw_init_main();
	raw_make(&rs, saved_entry, NULL);
	/* Never run: the first frame ends the chain at once. */
	f = rs.ctx.sp;
	CHECK_EQ(f[CORIO__FRAME_FP / 8], 0);
	CHECK_EQ(strip_pac(f[CORIO__FRAME_PC / 8]), tramp);
	raw_switch(&raw_main, &rs);
	f = rs.ctx.sp;
	lo = (uintptr_t)rs.lo;
	hi = lo + rs.size;
	CHECK_IN((uintptr_t)f, lo, hi);
	CHECK_IN(f[CORIO__FRAME_FP / 8], (uintptr_t)f, hi); /* its caller's frame, above */
	/* The walk: raw_switch, saved_inner, saved_entry, then fp = 0. */
	walk_from(&c, (const uintptr_t *)f);
	CHECK_TRUE(c.ended_at_zero);
	CHECK_IN(c.frames, 3, 7);
	CHECK_IN(c.last_ret, tramp, tramp + 64);
	raw_switch(&raw_main, &rs);
	raw_free(&rs);
}

#ifndef HWCAP_PACA
#define HWCAP_PACA (1ul << 30)
#endif
#ifndef HWCAP2_BTI
#define HWCAP2_BTI (1ul << 17)
#endif
#ifndef PROT_BTI
#define PROT_BTI 0x10
#endif

#if defined(__ARM_FEATURE_PAC_DEFAULT) && (__ARM_FEATURE_PAC_DEFAULT & 3)
#define ARCH_PAC_BUILD 1
#else
#define ARCH_PAC_BUILD 0
#endif
#if ARCH_PAC_BUILD && (__ARM_FEATURE_PAC_DEFAULT & 2)
#define PAC_NAME " pac-ret (B key)"
#else
#define PAC_NAME " pac-ret (A key)"
#endif
#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
#define ARCH_BTI_BUILD 1
#else
#define ARCH_BTI_BUILD 0
#endif

static raw rp;
static int p_runs;

static void pac_entry(void *arg)
{
	raw_arrived();
	for (;;) {
		p_runs++;
		raw_switch(&rp, &raw_main);
	}
}

/* In a child: replaces a suspended context's signed lr by the same address
 * unsigned, and resumes it. Must fault. */
static void child_forged_lr(void)
{
	uint64_t *f, forged;

	raw_init_main();
	raw_make(&rp, pac_entry, NULL);
	raw_switch(&raw_main, &rp);
	f = rp.ctx.sp;
	forged = strip_pac(f[CORIO__FRAME_PC / 8]);
	if (forged == f[CORIO__FRAME_PC / 8]) /* an all-zero signature */
		forged ^= 1ull << 53;
	f[CORIO__FRAME_PC / 8] = forged;
	raw_switch(&raw_main, &rp);
	_exit(0); /* the forged return address was accepted */
}

static int test_pac(void)
{
	const uint64_t *f;
	uint64_t first, saved, plain;
	int st;

	if (!ARCH_PAC_BUILD) {
		printf("    (not built with pac-ret: the switch signs nothing)\n");
		return 77;
	}
	if (!(getauxval(AT_HWCAP) & HWCAP_PACA)) {
		printf("    (this CPU has no pointer authentication: the hints are nops)\n");
		return 77;
	}
	raw_init_main();
	raw_make(&rp, pac_entry, NULL);
	p_runs = 0;
	/* The first frame: ctx.c signed the trampoline's address. */
	f = rp.ctx.sp;
	first = f[CORIO__FRAME_PC / 8];
	CHECK_EQ(strip_pac(first), (uintptr_t)corio__ctx_trampoline);
	raw_switch(&raw_main, &rp);
	raw_switch(&raw_main, &rp);
	CHECK_EQ(p_runs, 2);
	/* The switch signed the suspended context's lr. A signature can be
	 * all zero bits by chance (1 in 2^15 or so): one of the two, made
	 * with different modifiers, cannot be (1 in 2^30). */
	f = rp.ctx.sp;
	saved = f[CORIO__FRAME_PC / 8];
	plain = strip_pac(saved);
	CHECK_IN(plain, (uintptr_t)pac_entry - 65536, (uintptr_t)pac_entry + 65536); /* our code */
	if (saved == plain)
		CHECK_NE(first, (uintptr_t)corio__ctx_trampoline);
	raw_free(&rp);

	st = in_child(child_forged_lr, 1);
	CHECK_TRUE(WIFSIGNALED(st));
	printf("    (a forged return address killed the child with signal %d)\n", WTERMSIG(st));
	CHECK_TRUE(WTERMSIG(st) == SIGSEGV || WTERMSIG(st) == SIGILL || WTERMSIG(st) == SIGBUS);
	return 0;
}

/* Two probes for BTI: one with a landing pad, one without. */
__asm__(".text\n"
	".p2align 2\n"
	".globl bti_pad_probe\n"
	".hidden bti_pad_probe\n"
	".type bti_pad_probe, %function\n"
	"bti_pad_probe:\n"
	"	hint #34\n"
	"	mov x0, #42\n"
	"	ret\n"
	".size bti_pad_probe, .-bti_pad_probe\n"
	".p2align 2\n"
	".globl bti_bare_probe\n"
	".hidden bti_bare_probe\n"
	".type bti_bare_probe, %function\n"
	"bti_bare_probe:\n"
	"	mov x0, #43\n"
	"	ret\n"
	".size bti_bare_probe, .-bti_bare_probe\n");
int bti_pad_probe(void);
int bti_bare_probe(void);

/* Guards (PROT_BTI) the pages holding these functions' first bytes. */
static void bti_guard(const void *const *fns, int n)
{
	uintptr_t pg = raw_page_size();

	for (int i = 0; i < n; i++) {
		uintptr_t p = (uintptr_t)fns[i] & ~(pg - 1);

		CHECK_EQ(mprotect((void *)p, pg, PROT_READ | PROT_EXEC | PROT_BTI), 0);
	}
}

static void (*volatile switch_ptr)(corio__ctx *, const corio__ctx *) = corio__ctx_switch;
static int (*volatile probe_ptr)(void);
static raw rbt;
static int bt_runs;

static void bti_entry(void *arg)
{
	raw_arrived();
	for (;;) {
		bt_runs++;
		switch_ptr(&rbt.ctx, &raw_main.ctx);
	}
}

static const void *bti_fns[] = {
	(const void *)corio__ctx_switch, (const void *)corio__ctx_trampoline, (const void *)bti_entry,
	(const void *)bti_pad_probe, (const void *)bti_bare_probe,
};

static void child_bti_bare(void)
{
	bti_guard(bti_fns, sizeof(bti_fns) / sizeof(bti_fns[0]));
	probe_ptr = bti_bare_probe;
	_exit(probe_ptr() == 43 ? 0 : 2); /* 0: not enforced */
}

static void child_bti_switch(void)
{
	bti_guard(bti_fns, sizeof(bti_fns) / sizeof(bti_fns[0]));
	probe_ptr = bti_pad_probe;
	if (probe_ptr() != 42)
		_exit(3);
	raw_init_main();
	raw_make(&rbt, bti_entry, NULL);
	/* The switch through a pointer (blr: needs its bti c), the entry
	 * through the trampoline's blr (needs the compiler's bti c). */
	for (int i = 0; i < 100; i++)
		switch_ptr(&raw_main.ctx, &rbt.ctx);
	_exit(bt_runs == 100 ? 0 : 4);
}

static int test_bti(void)
{
	int st;

	if (!ARCH_BTI_BUILD) {
		printf("    (not built with BTI: no landing pads to check)\n");
		return 77;
	}
	if (!(getauxval(AT_HWCAP2) & HWCAP2_BTI)) {
		printf("    (this CPU has no BTI)\n");
		return 77;
	}
	st = in_child(child_bti_bare, 1);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		printf("    (PROT_BTI is not enforced here: a call without a landing pad went through)\n");
		return 77;
	}
	CHECK_TRUE(WIFSIGNALED(st));
	CHECK_EQ(WTERMSIG(st), SIGILL);
	printf("    (a call through a pointer to a function without bti c: SIGILL, as it should)\n");
	st = in_child(child_bti_switch, 0);
	if (WIFSIGNALED(st))
		fail_u64(__FILE__, __LINE__, "the BTI-guarded switch ran (killed by signal)", (uint64_t)WTERMSIG(st),
			 0);
	CHECK_TRUE(WIFEXITED(st));
	CHECK_EQ(WEXITSTATUS(st), 0);
	return 0;
}

#endif /* __aarch64__ */

/* ------------------------------------------------------------------------
 * gdb: the program tests/aarch64.sh debugs under qemu
 * ------------------------------------------------------------------------ */

void __attribute__((noinline, used)) gdb_break_here(void);
void __attribute__((noinline, used)) gdb_break_here(void)
{
	__asm__ volatile("" ::: "memory");
}

static raw rg;

void __attribute__((noinline, used)) gdb_task_fn(void *arg);
void __attribute__((noinline, used)) gdb_task_fn(void *arg)
{
	raw_arrived();
	gdb_break_here();
	__asm__ volatile("" ::: "memory");
	for (;;)
		raw_switch(&rg, &raw_main);
}

static int gdb_helper(void)
{
	raw_init_main();
	raw_make(&rg, gdb_task_fn, NULL);
	raw_switch(&raw_main, &rg);
	raw_free(&rg);
	return 0;
}

/* ------------------------------------------------------------------------
 * Standalone build: what ctx.c refers to besides the switch
 * ------------------------------------------------------------------------ */

#if defined(CORIO_TEST_STANDALONE)
/* ctx.c's task-level half (corio__task_entry, corio__switch_exit, ...) calls
 * these; this program never runs a task, so they are never reached. */
static void __attribute__((noreturn)) not_in_this_test(const char *fn)
{
	fprintf(stderr, "test_ctx_arch: %s called: no tasks run in this program\n", fn);
	abort();
}

void corio__stack_put(corio__stack_pool *p, corio__stack *s)
{
	(void)p;
	(void)s;
	not_in_this_test(__func__);
}

void corio__task_free_if_released(corio__loop *l, corio_task *t)
{
	(void)l;
	(void)t;
	not_in_this_test(__func__);
}

_Noreturn void corio__task_finish(corio__loop *l, corio_task *t, int r)
{
	(void)l;
	(void)t;
	(void)r;
	not_in_this_test(__func__);
}

void corio__debug_switch(corio__loop *l, corio_task *from, corio_task *to)
{
	(void)l;
	(void)from;
	(void)to;
	not_in_this_test(__func__);
}
#endif

/* ------------------------------------------------------------------------
 * main
 * ------------------------------------------------------------------------ */

struct test {
	const char *name;
	int (*fn)(void); /* 0 passed, 77 skipped; a failure exits */
};

#define VOID_TEST(name)                    \
	static int run_##name(void)        \
	{                                  \
		test_##name();             \
		return 0;                  \
	}
VOID_TEST(ping_pong)
VOID_TEST(round_robin)
VOID_TEST(deep_recursion)
VOID_TEST(fp_rounding)
VOID_TEST(entry_alignment)
VOID_TEST(frame_chain)
VOID_TEST(entry_never_returns)
#if defined(__aarch64__)
VOID_TEST(callee_saved)
VOID_TEST(saved_frame)
#endif

int main(int argc, char **argv)
{
	static const struct test tests[] = {
		{ "ping_pong", run_ping_pong },
		{ "round_robin", run_round_robin },
		{ "deep_recursion", run_deep_recursion },
		{ "fp_rounding", run_fp_rounding },
		{ "entry_alignment", run_entry_alignment },
		{ "frame_chain", run_frame_chain },
		{ "entry_never_returns", run_entry_never_returns },
#if defined(__aarch64__)
		{ "callee_saved", run_callee_saved },
		{ "saved_frame", run_saved_frame },
		{ "pac", test_pac },
		{ "bti", test_bti },
#endif
	};
	int n = (int)(sizeof(tests) / sizeof(tests[0])), skipped = 0;

	if (argc > 1 && strcmp(argv[1], "--gdb-helper") == 0)
		return gdb_helper();
	setvbuf(stdout, NULL, _IOLBF, 0);
#if defined(__aarch64__)
	printf("test_ctx_arch: AArch64, frame %d bytes, branch protection:%s%s\n", CORIO__FRAME_SIZE,
	       ARCH_BTI_BUILD ? " bti" : "", ARCH_PAC_BUILD ? PAC_NAME : ARCH_BTI_BUILD ? "" : " none");
#else
	printf("test_ctx_arch: x86-64, frame %d bytes (register checks: test_ctx)\n", CORIO__FRAME_SIZE);
#endif
	for (int i = 0; i < n; i++) {
		int r;

		current_test = tests[i].name;
		r = tests[i].fn();
		printf("%s %s\n", r == 77 ? "skip" : "ok  ", tests[i].name);
		skipped += r == 77;
	}
	printf("test_ctx_arch: %d passed, %d skipped\n", n - skipped, skipped);
	return 0;
}
