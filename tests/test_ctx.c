/*
 * test_ctx.c - the raw context switch (corio__ctx_make, corio__ctx_switch)
 * without a loop: ping-pong, callee-saved registers, FP control words,
 * stack alignment at entry; and the frame chain of a task, as the
 * frame-pointer walker (perf) and gdb see it.
 *
 * `test_ctx --gdb-helper` is the program gdb runs for the backtrace test.
 */
#include <limits.h>
#include <pthread.h>

#include "check.h"

#include "raw_ctx.h"

static void raw_make(raw *r, void (*entry)(void *), void *arg)
{
	assert_int_equal(raw_make_sized(r, RAW_STACK, entry, arg), 0);
}

/* ------------------------------------------------------------------------
 * Ping-pong
 * ------------------------------------------------------------------------ */

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
		raw_switch(self, pp_count >= 1000 ? &raw_main : other);
	}
}

static void test_raw_ping_pong(void **state)
{
	raw_init_main();
	raw_make(&pa, ping_entry, &pa);
	raw_make(&pb, ping_entry, &pb);
	pp_count = 0;
	pp_bad = 0;
	raw_switch(&raw_main, &pa);
	assert_int_equal(pp_count, 1000);
	assert_int_equal(pp_bad, 0);
	/* Both contexts are suspended, not running: their stacks can go. */
	raw_free(&pa);
	raw_free(&pb);
}

/* ------------------------------------------------------------------------
 * Callee-saved registers
 * ------------------------------------------------------------------------ */

/*
 * void regs_switch(corio__ctx *from, const corio__ctx *to,
 *                  const uint64_t in[6], uint64_t out[6]);
 * Loads rbx, rbp, r12-r15 from in[], switches, and stores what those
 * registers hold when this context is resumed into out[]. Its own callers'
 * values are saved and restored around it, as the ABI asks.
 */
__asm__(".text\n"
	".p2align 4\n"
	".type regs_switch, @function\n"
	"regs_switch:\n"
	"	pushq %rbp\n"
	"	pushq %rbx\n"
	"	pushq %r12\n"
	"	pushq %r13\n"
	"	pushq %r14\n"
	"	pushq %r15\n"
	"	pushq %rcx\n" /* out; the stack is 16-byte aligned again */
	"	movq 0(%rdx), %rbx\n"
	"	movq 8(%rdx), %rbp\n"
	"	movq 16(%rdx), %r12\n"
	"	movq 24(%rdx), %r13\n"
	"	movq 32(%rdx), %r14\n"
	"	movq 40(%rdx), %r15\n"
	"	call corio__ctx_switch\n"
	"	popq %rcx\n"
	"	movq %rbx, 0(%rcx)\n"
	"	movq %rbp, 8(%rcx)\n"
	"	movq %r12, 16(%rcx)\n"
	"	movq %r13, 24(%rcx)\n"
	"	movq %r14, 32(%rcx)\n"
	"	movq %r15, 40(%rcx)\n"
	"	popq %r15\n"
	"	popq %r14\n"
	"	popq %r13\n"
	"	popq %r12\n"
	"	popq %rbx\n"
	"	popq %rbp\n"
	"	ret\n"
	".size regs_switch, .-regs_switch\n");
void regs_switch(corio__ctx *from, const corio__ctx *to, const uint64_t in[6], uint64_t out[6]);

static raw ra;
static uint64_t rb_in[6], rb_out[6];
static int rounds_b;

static void regs_entry(void *arg)
{
	raw_arrived();
	for (;;) {
		/* The other side runs with entirely different values. */
		for (int i = 0; i < 6; i++)
			rb_in[i] = 0xb0b0b0b000000000ull + (uint64_t)rounds_b * 16 + (uint64_t)i;
		raw_before(&ra, &raw_main);
		regs_switch(&ra.ctx, &raw_main.ctx, rb_in, rb_out);
		raw_after(&ra);
		rounds_b++;
		for (int i = 0; i < 6; i++)
			if (rb_out[i] != rb_in[i])
				rounds_b = INT_MIN / 2; /* reported by the main side */
	}
}

static void test_callee_saved_registers(void **state)
{
	uint64_t in[6], out[6];

	raw_init_main();
	raw_make(&ra, regs_entry, NULL);
	rounds_b = 0;
	for (int round = 0; round < 50; round++) {
		for (int i = 0; i < 6; i++)
			in[i] = 0xa1a1a1a100000000ull ^ ((uint64_t)round << 8 | (uint64_t)i);
		memset(out, 0, sizeof(out));
		raw_before(&raw_main, &ra);
		regs_switch(&raw_main.ctx, &ra.ctx, in, out);
		raw_after(&raw_main);
		for (int i = 0; i < 6; i++)
			assert_int_equal(out[i], in[i]);
	}
	assert_int_equal(rounds_b, 49); /* the other side checked its own */
	raw_free(&ra);
}

/* Values the compiler keeps live across a switch (in callee-saved
 * registers or in the frame) come back intact. */
static raw rc;
static volatile uint64_t seed = 0x9e3779b97f4a7c15ull;

static void clobber_entry(void *arg)
{
	raw_arrived();
	for (;;) {
		/* Busy work that uses plenty of registers. */
		volatile uint64_t x = seed;
		uint64_t a = x * 3, b = x ^ 7, c = x + 11, d = x >> 3, e = x << 5, f = ~x;
		x = a + b + c + d + e + f;
		raw_switch(&rc, &raw_main);
	}
}

static void test_live_values_across_switch(void **state)
{
	uint64_t v0 = seed, v1 = seed * 2, v2 = seed * 3, v3 = seed ^ 0xff, v4 = seed + 5, v5 = seed - 9,
		 v6 = seed << 1, v7 = seed >> 1;
	uint64_t sum0 = v0 + v1 + v2 + v3 + v4 + v5 + v6 + v7;

	raw_init_main();
	raw_make(&rc, clobber_entry, NULL);
	for (int i = 0; i < 100; i++) {
		raw_switch(&raw_main, &rc);
		v0 += 1;
		v1 += 2;
		v2 += 3;
		v3 += 4;
		v4 += 5;
		v5 += 6;
		v6 += 7;
		v7 += 8;
	}
	assert_int_equal(v0 + v1 + v2 + v3 + v4 + v5 + v6 + v7, sum0 + 100 * 36);
	assert_int_equal(v0, seed + 100);
	assert_int_equal(v7, (seed >> 1) + 800);
	raw_free(&rc);
}

/* ------------------------------------------------------------------------
 * FP control words travel with the context
 * ------------------------------------------------------------------------ */

static raw rf;
static unsigned f_mxcsr_seen;
static unsigned short f_fcw_seen;

static void fp_entry(void *arg)
{
	raw_arrived();
	/* A new context starts with the maker's modes. */
	f_mxcsr_seen = get_mxcsr();
	f_fcw_seen = get_fcw();
	set_mxcsr((get_mxcsr() & ~0x6000u) | 0x2000u); /* round down */
	set_fcw((unsigned short)((get_fcw() & ~0x0c00u) | 0x0400u));
	for (;;) {
		raw_switch(&rf, &raw_main);
		f_mxcsr_seen = get_mxcsr();
		f_fcw_seen = get_fcw();
	}
}

static void test_fp_control_words(void **state)
{
	unsigned m0 = get_mxcsr();
	unsigned short c0 = get_fcw();

	raw_init_main();
	raw_make(&rf, fp_entry, NULL);
	raw_switch(&raw_main, &rf);
	assert_int_equal(f_mxcsr_seen & 0x6000u, m0 & 0x6000u);
	/* It changed its modes; ours are untouched. */
	assert_int_equal(get_mxcsr() & 0x6000u, m0 & 0x6000u);
	assert_int_equal(get_fcw(), c0);
	/* We change ours: it gets its own back. */
	set_mxcsr((m0 & ~0x6000u) | 0x4000u);
	raw_switch(&raw_main, &rf);
	assert_int_equal(f_mxcsr_seen & 0x6000u, 0x2000u);
	assert_int_equal(f_fcw_seen & 0x0c00u, 0x0400u);
	assert_int_equal(get_mxcsr() & 0x6000u, 0x4000u);
	set_mxcsr(m0);
	raw_switch(&raw_main, &rf);
	assert_int_equal(f_mxcsr_seen & 0x6000u, 0x2000u);
	assert_int_equal(get_mxcsr(), m0);
	assert_int_equal(get_fcw(), c0);
	raw_free(&rf);
}

/* ------------------------------------------------------------------------
 * Stack alignment at entry
 * ------------------------------------------------------------------------ */

/* An entry written in assembly records rsp as the entry function sees it
 * (the ABI: rsp + 8 is 16-byte aligned), then jumps to the C body. */
uint64_t entry_rsp; /* written by the assembly only: not static */
__asm__(".text\n"
	".p2align 4\n"
	".type align_entry, @function\n"
	"align_entry:\n"
	"	movq %rsp, entry_rsp(%rip)\n"
	"	jmp align_body\n"
	".size align_entry, .-align_entry\n");
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
	/* printf of a double uses aligned SSE stores on the stack. */
	snprintf(body_text, sizeof(body_text), "%.2f", d * 1.5);
	for (;;)
		raw_switch(&rl, &raw_main);
}

static void test_entry_alignment(void **state)
{
	raw_init_main();
	raw_make(&rl, align_entry, NULL);
	raw_switch(&raw_main, &rl);
	assert_int_equal((entry_rsp + 8) % 16, 0);
	assert_int_equal(body_frame % 16, 0);
	assert_int_equal(body_local % 16, 0);
	assert_string_equal(body_text, "3.75");
	/* The first frame sits at the top of the stack. */
	assert_true(entry_rsp < (uintptr_t)rl.lo + RAW_STACK);
	assert_true(entry_rsp > (uintptr_t)rl.lo + RAW_STACK - 256);
	raw_free(&rl);
}

/* The same through corio_spawn. */
struct task_align {
	uintptr_t frame, local;
	char      text[32];
};

static int align_task(void *arg)
{
	struct task_align *ta = arg;
	__attribute__((aligned(16))) volatile char local[16];
	volatile double d = 0.25;

	ta->frame = (uintptr_t)__builtin_frame_address(0);
	ta->local = (uintptr_t)local;
	snprintf(ta->text, sizeof(ta->text), "%.3f", d * 3);
	return 0;
}

static int align_main(void *arg)
{
	corio_task *t = corio_spawn(align_task, arg);

	assert_non_null(t);
	return corio_join(t);
}

static void test_task_alignment(void **state)
{
	struct task_align ta;

	memset(&ta, 0, sizeof(ta));
	assert_int_equal(check_run(align_main, &ta), 0);
	assert_int_equal(ta.frame % 16, 0);
	assert_int_equal(ta.local % 16, 0);
	assert_string_equal(ta.text, "0.750");
}

/* ------------------------------------------------------------------------
 * Frame chains: perf (frame pointers) and gdb (DWARF)
 * ------------------------------------------------------------------------ */

struct chain {
	int       frames;
	uintptr_t last_ret;
	int       ended_at_zero;
};

static int __attribute__((noinline)) walk_frames(struct chain *c)
{
	uintptr_t *fp = __builtin_frame_address(0);

	for (c->frames = 0; fp && c->frames < 64; c->frames++) {
		c->last_ret = fp[1];
		fp = (uintptr_t *)fp[0];
	}
	c->ended_at_zero = fp == NULL;
	__asm__ volatile("" ::: "memory");
	return 0;
}

static int chain_task(void *arg)
{
	int r = walk_frames(arg);

	__asm__ volatile("" ::: "memory"); /* no tail call */
	return r;
}

static int chain_main(void *arg)
{
	corio_task *t = corio_spawn(chain_task, arg);

	assert_non_null(t);
	return corio_join(t);
}

static void test_frame_pointer_chain_ends(void **state)
{
	struct chain c = { 0 };
	uintptr_t tramp = (uintptr_t)corio__ctx_trampoline;

	assert_int_equal(check_run(chain_main, &c), 0);
	/* walk_frames <- chain_task <- corio__task_entry, then rbp = 0. */
	assert_true(c.ended_at_zero);
	assert_in_range(c.frames, 2, 6);
	/* The outermost return address is inside the trampoline. */
	assert_in_range(c.last_ret, tramp, tramp + 64);
}

/* The program gdb runs: a task stops in gdb_break_here. */
void __attribute__((noinline, used)) gdb_break_here(void);
void __attribute__((noinline, used)) gdb_break_here(void)
{
	__asm__ volatile("" ::: "memory");
}

int __attribute__((noinline, used)) gdb_task_fn(void *arg);
int __attribute__((noinline, used)) gdb_task_fn(void *arg)
{
	gdb_break_here();
	__asm__ volatile("" ::: "memory");
	return 0;
}

static int gdb_main(void *arg)
{
	corio_task *t = corio_spawn(gdb_task_fn, NULL);

	return t ? corio_join(t) : -errno;
}

static int gdb_helper(void)
{
	return corio_run(gdb_main, NULL) == 0 ? 0 : 1;
}

static int have_gdb(void)
{
	return system("command -v gdb >/dev/null 2>&1") == 0;
}

static void test_gdb_backtrace(void **state)
{
	char exe[PATH_MAX], cmd[PATH_MAX + 512], out[16384];
	ssize_t n;
	size_t len = 0;
	FILE *p;

	if (!have_gdb()) {
		CHECK_SKIP_TEST("skip: gdb is not installed\n");
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	snprintf(cmd, sizeof(cmd),
		 "ASAN_OPTIONS=detect_leaks=0 gdb -nx -batch -ex 'set debuginfod enabled off' "
		 "-ex 'set style enabled off' -ex 'break gdb_break_here' -ex run -ex bt "
		 "-ex kill --args '%s' --gdb-helper 2>&1 </dev/null",
		 exe);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (len < sizeof(out) - 1 && (n = (ssize_t)fread(out + len, 1, sizeof(out) - 1 - len, p)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	pclose(p);
	if (!strstr(out, "Breakpoint 1, ") &&
	    (strstr(out, "ptrace") || strstr(out, "Operation not permitted") ||
	     strstr(out, "Couldn't get registers"))) {
		CHECK_SKIP_TEST("skip: gdb cannot trace programs here:\n%s\n", out);
	}
	assert_contains(out, "Breakpoint 1, ");
	assert_contains(out, "#0  gdb_break_here");
	assert_contains(out, " gdb_task_fn ");
	assert_contains(out, " corio__task_entry ");
	assert_not_contains(out, "Backtrace stopped");
	assert_not_contains(out, "previous frame inner");
	assert_not_contains(out, "corrupt stack");
	assert_not_contains(out, "?? ()");
	/* Nothing of the loop's own stack (corio_run, main) below the task. */
	assert_not_contains(out, " corio_run");
	assert_not_contains(out, " main (");
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		CHECK_TEST(test_raw_ping_pong),
		CHECK_TEST(test_callee_saved_registers),
		CHECK_TEST(test_live_values_across_switch),
		CHECK_TEST(test_fp_control_words),
		CHECK_TEST(test_entry_alignment),
		CHECK_TEST(test_task_alignment),
		CHECK_TEST(test_frame_pointer_chain_ends),
		CHECK_TEST(test_gdb_backtrace),
	};

	if (argc > 1 && strcmp(argv[1], "--gdb-helper") == 0)
		return gdb_helper();
	check_init(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
