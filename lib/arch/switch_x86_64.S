/*
 * switch_x86_64.S - corio's context switch for x86-64, System V ABI.
 *
 *   void corio__ctx_switch(corio__ctx *from, const corio__ctx *to);
 *       rdi = from: the running context's stack pointer is stored in from->sp
 *       rsi = to:   the context to resume; its stack pointer is to->sp
 *
 *   void corio__ctx_trampoline(void);   (never called: first "return" target)
 *
 * A context is nothing but a stack pointer. Everything else a suspended
 * context needs lives on its own stack, in this frame (offsets from the
 * saved sp, mirrored in frame_x86_64.h and checked by static_assert in
 * ctx.c):
 *
 *   +----+---------------------------------------------+
 *   |  0 | MXCSR (4 bytes) | x87 control word (2) | pad |
 *   |  8 | r15                                         |
 *   | 16 | r14                                         |
 *   | 24 | r13                                         |
 *   | 32 | r12                                         |
 *   | 40 | rbx                                         |
 *   | 48 | rbp                                         |
 *   | 56 | return address (where the context resumes)  |
 *   +----+---------------------------------------------+  64 bytes
 *
 * Why these registers and no others: corio__ctx_switch is an ordinary call
 * as far as the compiler knows, so every caller-saved register (rax, rcx,
 * rdx, rsi, rdi, r8-r11, xmm0-15, the x87 stack) is already assumed
 * clobbered at the call site and needs no saving. The SysV ABI makes rbx,
 * rbp, r12-r15 and rsp callee-saved; rsp is the context itself. Of the
 * floating-point state, the ABI makes the control bits of MXCSR and the x87
 * control word callee-saved (rounding mode, exception masks), so a task that
 * changes its rounding mode must not leak it into the others. The status
 * flags in MXCSR travel along; nothing relies on them across a call.
 *
 * The FP control words are stored and reloaded on every switch, as
 * Boost.Context does. Comparing them first to skip the reloads sounds
 * cheaper but is not: reading back what stmxcsr/fnstcw just wrote stalls on
 * store forwarding, and measured 10 ns per switch against 5.3 ns for the
 * plain reload (bench: switch.raw).
 *
 * The switch resumes the other context with pop + indirect jmp rather than
 * ret: a ret into a different call chain always misses the return stack
 * buffer, while the indirect branch predictor learns the ping-pong.
 *
 * A new context is a frame built by ctx.c whose return address is
 * corio__ctx_trampoline, with the entry function in r12 and its argument in
 * r13. The trampoline zeroes rbp and marks the return address undefined, so
 * frame-pointer walkers (perf) and DWARF unwinders (gdb) both stop at the
 * task's entry function instead of wandering into garbage.
 */
#include "frame_x86_64.h"

#if defined(__CET__) && (__CET__ & 1)
#define CORIO_ENDBR endbr64
#else
#define CORIO_ENDBR
#endif

	.text
	.p2align 4
	.globl	corio__ctx_switch
	.hidden	corio__ctx_switch
	.type	corio__ctx_switch, @function
corio__ctx_switch:
	.cfi_startproc
	CORIO_ENDBR
	pushq	%rbp			/* callee-saved: frame pointer */
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset rbp, 0
	pushq	%rbx			/* callee-saved */
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset rbx, 0
	pushq	%r12			/* callee-saved */
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset r12, 0
	pushq	%r13			/* callee-saved */
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset r13, 0
	pushq	%r14			/* callee-saved */
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset r14, 0
	pushq	%r15			/* callee-saved */
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset r15, 0
	subq	$8, %rsp		/* room for the two FP control words */
	.cfi_adjust_cfa_offset 8
	stmxcsr	CORIO__FRAME_FPU(%rsp)	/* SSE control/status */
	fnstcw	CORIO__FRAME_FPU+4(%rsp)	/* x87 control word */

	movq	%rsp, (%rdi)		/* from->sp = our frame */
	movq	(%rsi), %rsp		/* switch stacks: now on the other context */

	ldmxcsr	CORIO__FRAME_FPU(%rsp)	/* its SSE control/status */
	fldcw	CORIO__FRAME_FPU+4(%rsp)	/* its x87 control word */
	addq	$8, %rsp
	.cfi_adjust_cfa_offset -8
	popq	%r15
	.cfi_adjust_cfa_offset -8
	popq	%r14
	.cfi_adjust_cfa_offset -8
	popq	%r13
	.cfi_adjust_cfa_offset -8
	popq	%r12
	.cfi_adjust_cfa_offset -8
	popq	%rbx
	.cfi_adjust_cfa_offset -8
	popq	%rbp
	.cfi_adjust_cfa_offset -8
	popq	%rcx			/* resume address (rcx is caller-saved) */
	.cfi_adjust_cfa_offset -8
	.cfi_register rip, rcx
	jmp	*%rcx			/* into the other context */
	.cfi_endproc
	.size	corio__ctx_switch, .-corio__ctx_switch

/*
 * First code a new context runs, reached by the jmp above with rsp at the
 * top of the task's stack (16-byte aligned). r12 = entry, r13 = argument.
 */
	.p2align 4
	.globl	corio__ctx_trampoline
	.hidden	corio__ctx_trampoline
	.type	corio__ctx_trampoline, @function
corio__ctx_trampoline:
	.cfi_startproc
	.cfi_undefined rip		/* DWARF unwinders: the chain ends here */
	CORIO_ENDBR
	xorl	%ebp, %ebp		/* frame-pointer walkers: the chain ends here */
	movq	%r13, %rdi		/* entry(argument) */
	callq	*%r12			/* rsp is 16-aligned before the call, per ABI */
	ud2				/* the entry function never returns */
	.cfi_endproc
	.size	corio__ctx_trampoline, .-corio__ctx_trampoline

	.section .note.GNU-stack,"",@progbits
