/*
 * ctx.c - building new contexts and switching between tasks.
 *
 * The register work is in arch/switch_*.S. This file builds the first frame
 * of a task so that the switch "returns" into corio__ctx_trampoline (with
 * the creating thread's floating-point control state), makes a finished
 * task's last switch (corio__switch_exit, which leaves its stack for the
 * next context to put back, corio__reap_dying), and holds the task entry.
 * What sanitizers need to know at every switch is in corio__switch_begin
 * (internal.h): AddressSanitizer must be told which stack is live
 * (otherwise it reports false overflows and mis-tracks fake stacks),
 * ThreadSanitizer which fiber runs.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"
#include "arch/frame.h"

static_assert(offsetof(corio__ctx, sp) == 0, "the switch stores sp at offset 0");
static_assert(offsetof(struct corio_task, ctx) == 0, "a task starts with its context");
#if defined(__x86_64__)
static_assert(CORIO__FRAME_SIZE % 16 == 0, "the frame keeps the stack 16-byte aligned");
static_assert(CORIO__FRAME_RIP == CORIO__FRAME_SIZE - 8, "the resume address is popped last");
static_assert(CORIO__FRAME_R15 == CORIO__FRAME_FPU + 8 && CORIO__FRAME_R14 == CORIO__FRAME_R15 + 8 &&
		      CORIO__FRAME_R13 == CORIO__FRAME_R14 + 8 && CORIO__FRAME_R12 == CORIO__FRAME_R13 + 8 &&
		      CORIO__FRAME_RBX == CORIO__FRAME_R12 + 8 && CORIO__FRAME_RBP == CORIO__FRAME_RBX + 8 &&
		      CORIO__FRAME_RIP == CORIO__FRAME_RBP + 8,
	      "frame slots follow the push order of switch_x86_64.S");

void corio__ctx_make(corio__ctx *c, void *lo, void *hi, void (*entry)(void *), void *arg)
{
	uintptr_t top = (uintptr_t)hi & ~(uintptr_t)15;
	char *f = (char *)(top - CORIO__FRAME_SIZE);
	uint32_t mxcsr;
	uint16_t fcw;

	(void)lo;
	/* A new task starts with the floating-point control state of the
	 * thread that made it, as a new thread would. */
	__asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
	__asm__ volatile("fnstcw %0" : "=m"(fcw));
	*(uint64_t *)(f + CORIO__FRAME_FPU) = (uint64_t)mxcsr | ((uint64_t)fcw << 32);
	*(uint64_t *)(f + CORIO__FRAME_R15) = 0;
	*(uint64_t *)(f + CORIO__FRAME_R14) = 0;
	*(uint64_t *)(f + CORIO__FRAME_R13) = (uint64_t)(uintptr_t)arg;
	*(uint64_t *)(f + CORIO__FRAME_R12) = (uint64_t)(uintptr_t)entry;
	*(uint64_t *)(f + CORIO__FRAME_RBX) = 0;
	*(uint64_t *)(f + CORIO__FRAME_RBP) = 0;
	*(uint64_t *)(f + CORIO__FRAME_RIP) = (uint64_t)(uintptr_t)corio__ctx_trampoline;
	c->sp = f;
}
#elif defined(__aarch64__)
static_assert(CORIO__FRAME_SIZE % 16 == 0, "the frame keeps sp 16-byte aligned");
static_assert(CORIO__FRAME_X29 == 0 && CORIO__FRAME_X30 == 8,
	      "the frame opens with the frame record: stp x29, x30, [sp, #-SIZE]!");
static_assert(CORIO__FRAME_SIZE <= 504, "stp's pre-index offset reaches -512 at most");
static_assert(CORIO__FRAME_X19 == 16 && CORIO__FRAME_X20 == CORIO__FRAME_X19 + 8 &&
		      CORIO__FRAME_X21 == CORIO__FRAME_X20 + 8 && CORIO__FRAME_X22 == CORIO__FRAME_X21 + 8 &&
		      CORIO__FRAME_X23 == CORIO__FRAME_X22 + 8 && CORIO__FRAME_X24 == CORIO__FRAME_X23 + 8 &&
		      CORIO__FRAME_X25 == CORIO__FRAME_X24 + 8 && CORIO__FRAME_X26 == CORIO__FRAME_X25 + 8 &&
		      CORIO__FRAME_X27 == CORIO__FRAME_X26 + 8 && CORIO__FRAME_X28 == CORIO__FRAME_X27 + 8,
	      "x19-x28 are stored in pairs by switch_aarch64.S: each pair's slots are adjacent");
static_assert(CORIO__FRAME_D8 == CORIO__FRAME_X28 + 8 && CORIO__FRAME_D9 == CORIO__FRAME_D8 + 8 &&
		      CORIO__FRAME_D10 == CORIO__FRAME_D9 + 8 && CORIO__FRAME_D11 == CORIO__FRAME_D10 + 8 &&
		      CORIO__FRAME_D12 == CORIO__FRAME_D11 + 8 && CORIO__FRAME_D13 == CORIO__FRAME_D12 + 8 &&
		      CORIO__FRAME_D14 == CORIO__FRAME_D13 + 8 && CORIO__FRAME_D15 == CORIO__FRAME_D14 + 8,
	      "d8-d15 are stored in pairs by switch_aarch64.S: each pair's slots are adjacent");
static_assert(CORIO__FRAME_FPCR == CORIO__FRAME_D15 + 8 && CORIO__FRAME_FPCR + 8 <= CORIO__FRAME_SIZE,
	      "FPCR sits above d15, inside the frame");

#if defined(__ARM_FEATURE_PAC_DEFAULT) && (__ARM_FEATURE_PAC_DEFAULT & 3)
/* Signs a return address as switch_aarch64.S does (same key, modifier). */
static uint64_t pac_sign(uint64_t lr, uint64_t modifier)
{
	register uint64_t x17 __asm__("x17") = lr;
	register uint64_t x16 __asm__("x16") = modifier;

#if __ARM_FEATURE_PAC_DEFAULT & 2
	__asm__("hint #10" /* pacib1716 */ : "+r"(x17) : "r"(x16));
#else
	__asm__("hint #8" /* pacia1716 */ : "+r"(x17) : "r"(x16));
#endif
	return x17;
}
#endif

void corio__ctx_make(corio__ctx *c, void *lo, void *hi, void (*entry)(void *), void *arg)
{
	uintptr_t top = (uintptr_t)hi & ~(uintptr_t)15;
	char *f = (char *)(top - CORIO__FRAME_SIZE);
	uint64_t fpcr, lr = (uint64_t)(uintptr_t)corio__ctx_trampoline;

	(void)lo;
	/* A new task starts with the floating-point modes of the thread that
	 * made it, as a new thread would, and with zeroes everywhere else:
	 * fp = 0 ends the frame chain. */
	__asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
	memset(f, 0, CORIO__FRAME_SIZE);
#if defined(__ARM_FEATURE_PAC_DEFAULT) && (__ARM_FEATURE_PAC_DEFAULT & 3)
	/* The switch authenticates lr with its CFA, the top, as modifier. */
	lr = pac_sign(lr, (uint64_t)top);
#endif
	*(uint64_t *)(f + CORIO__FRAME_X30) = lr;
	*(uint64_t *)(f + CORIO__FRAME_X19) = (uint64_t)(uintptr_t)entry;
	*(uint64_t *)(f + CORIO__FRAME_X20) = (uint64_t)(uintptr_t)arg;
	*(uint64_t *)(f + CORIO__FRAME_FPCR) = fpcr;
	c->sp = f;
}
#endif

void corio__reap_dying(corio__loop *l)
{
	corio__stack_put(&l->stacks, l->dying_stack);
	l->dying_stack = NULL;
#if defined(__SANITIZE_THREAD__)
	__tsan_destroy_fiber(l->dying_fiber);
	l->dying_fiber = NULL;
#endif
}

_Noreturn void corio__switch_exit(corio__loop *l, corio_task *dead, corio_task *to)
{
	corio__ctx scratch;
	uint64_t id = dead->id;

	if (CORIO__UNLIKELY(l->debug))
		corio__debug_switch(l, dead, to);
	/* The stack we are running on is released later, by whichever other
	 * context looks first: the loop's turn, a spawn, a new task's entry,
	 * a suspension's slow path, or here, the next task to end (so the
	 * switch itself never has to look). The one released now is
	 * another's: we are not on it. */
	if (l->dying_stack)
		corio__reap_dying(l);
	l->dying_stack = dead->stack;
	dead->stack = NULL;
#if defined(__SANITIZE_THREAD__)
	l->dying_fiber = dead->tsan_fiber;
	dead->tsan_fiber = NULL;
#endif
	/* `dead` may be freed from here on: it is not touched again. */
	corio__task_free_if_released(l, dead);
	/* No fake-stack slot for ASan: this fiber ends. */
	corio__ctx_switch(&scratch, corio__switch_begin(l, id, NULL, to));
	__builtin_unreachable();
}

/* First code of every task, called by corio__ctx_trampoline on its stack. */
void corio__task_entry(void *arg)
{
	corio_task *t = arg;
	corio__loop *l = t->loop;

#if defined(__SANITIZE_ADDRESS__)
	__sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
	if (l->dying_stack)
		corio__reap_dying(l);
	corio__task_finish(l, t, t->fn(t->arg));
}
