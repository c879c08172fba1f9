/*
 * switch_aarch64.S - corio's context switch for AArch64, AAPCS64 (Linux).
 *
 *   void corio__ctx_switch(corio__ctx *from, const corio__ctx *to);
 *       x0 = from: the running context's stack pointer is stored in from->sp
 *       x1 = to:   the context to resume; its stack pointer is to->sp
 *
 *   void corio__ctx_trampoline(void);   (never called: first "return" target)
 *
 * A context is nothing but a stack pointer. Everything else a suspended
 * context needs lives on its own stack, in this frame (offsets from the
 * saved sp, mirrored in frame_aarch64.h and checked by static_assert in
 * ctx.c):
 *
 *   +-----+-----------------------------------------------+
 *   |   0 | x29 (fp)  \  an AAPCS64 frame record, so the   |
 *   |   8 | x30 (lr)  /  saved sp is a valid fp to walk    |
 *   |     |           lr is where the context resumes     |
 *   |  16 | x19       |  24 | x20                          |
 *   |  32 | x21       |  40 | x22                          |
 *   |  48 | x23       |  56 | x24                          |
 *   |  64 | x25       |  72 | x26                          |
 *   |  80 | x27       |  88 | x28                          |
 *   |  96 | d8        | 104 | d9                           |
 *   | 112 | d10       | 120 | d11                          |
 *   | 128 | d12       | 136 | d13                          |
 *   | 144 | d14       | 152 | d15                          |
 *   | 160 | FPCR      | 168 | unused (16-byte alignment)   |
 *   +-----+-----------------------------------------------+  176 bytes
 *
 * Why these registers and no others: corio__ctx_switch is an ordinary call
 * as far as the compiler knows, so every register AAPCS64 lets a callee
 * clobber is already assumed dead at the call site and needs no saving:
 * x0-x17 (x16/x17 are the linker's veneer scratch), x18 (Linux does not
 * reserve the platform register; gcc uses it as a temporary), v0-v7,
 * v16-v31, the upper 64 bits of v8-v15, NZCV and FPSR (the cumulative
 * exception flags carry nothing across a call). What a callee must
 * preserve is x19-x28, the frame pointer x29, the link register x30 (it is
 * where we return to), sp (the context itself) and the low 64 bits of
 * v8-v15, that is d8-d15. SVE: z8-z15 overlap v8-v15 and only their low
 * 64 bits are callee-saved under the base PCS; a caller that follows the
 * vector or SVE PCS saves the rest itself around a base-PCS call like this
 * one.
 *
 * FPCR (rounding mode, flush-to-zero, default NaN, trap enables) is not a
 * register the compiler allocates, but AAPCS64 lets a routine change its
 * modes only if it says so, so a task that changes its rounding mode must
 * not leak it into the others: FPCR travels with the context, as MXCSR and
 * the x87 control word do on x86-64. It is saved on every switch (mrs is
 * cheap) but written only when the two contexts' values differ: on many
 * cores a write to FPCR serializes the pipeline, which is why glibc's
 * fesetround and fesetenv also skip it when nothing changes. The compare is
 * between registers (what mrs just read, what the other stack held since
 * its last switch), so nothing stalls on store forwarding as the x86-64
 * compare of reloaded control words did.
 *
 * Not switched, by design: TPIDR_EL0 (the thread pointer: a task never
 * leaves its loop's thread); x18 under clang's ShadowCallStack (each task
 * would need a shadow stack of its own, which corio does not make: do not
 * build corio with -fsanitize=shadow-call-stack); SME state (PSTATE.SM is
 * off at any base-PCS call, and a task must not suspend while ZA is live:
 * TPIDR2_EL0's lazy-save block would point into another task's stack).
 *
 * The switch returns into the other context with ret, not br: ret misses
 * the return-stack predictor when the stacks differ (as on x86-64), but a
 * br to a return address would need a BTI landing pad at every call site,
 * and ret is never checked by BTI.
 *
 * Branch protection (built with -mbranch-protection=...): with BTI, both
 * functions start with a `bti c` landing pad (they may be reached by blr
 * through a function pointer; the trampoline is in fact entered by ret,
 * which BTI does not check) and the file carries the GNU property note that
 * says so, without which the linker would drop BTI from the whole library.
 * With PAC (pac-ret), the saved lr is signed with the A or B key, as the
 * compiler chose, and the CFA (sp on entry) as modifier, like any
 * compiler-made frame: the switch signs the running context's lr before
 * storing it and authenticates the other context's lr after loading it, so
 * a return address forged in a suspended frame faults instead of being
 * jumped to. ctx.c signs the first frame's lr (the trampoline) the same
 * way. The instructions are written as `hint #n`, which cores without BTI
 * or PAC execute as nops, and which any assembler accepts.
 *
 * A new context is a frame built by ctx.c whose lr is corio__ctx_trampoline,
 * with the entry function in x19 and its argument in x20. The trampoline
 * zeroes fp and lr and marks lr undefined, so frame-pointer walkers (perf)
 * and DWARF unwinders (gdb) both stop at the task's entry function instead
 * of wandering into garbage.
 */
#include "frame_aarch64.h"

#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
#define CORIO_BTI_C         hint #34                /* bti c */
#define CORIO_PROP_BTI      1                       /* GNU_PROPERTY_AARCH64_FEATURE_1_BTI */
#else
#define CORIO_BTI_C
#define CORIO_PROP_BTI      0
#endif

#if defined(__ARM_FEATURE_PAC_DEFAULT) && (__ARM_FEATURE_PAC_DEFAULT & 2)
#define CORIO_PAC_SIGN      hint #27                /* pacibsp: sign lr, B key, sp */
#define CORIO_PAC_AUTH      hint #31                /* autibsp */
#define CORIO_CFI_RA_SIGNED .cfi_negate_ra_state
#define CORIO_CFI_KEY       .cfi_b_key_frame
#define CORIO_PROP_PAC      2                       /* GNU_PROPERTY_AARCH64_FEATURE_1_PAC */
#elif defined(__ARM_FEATURE_PAC_DEFAULT) && (__ARM_FEATURE_PAC_DEFAULT & 1)
#define CORIO_PAC_SIGN      hint #25                /* paciasp: sign lr, A key, sp */
#define CORIO_PAC_AUTH      hint #29                /* autiasp */
#define CORIO_CFI_RA_SIGNED .cfi_negate_ra_state
#define CORIO_CFI_KEY
#define CORIO_PROP_PAC      2
#else
#define CORIO_PAC_SIGN
#define CORIO_PAC_AUTH
#define CORIO_CFI_RA_SIGNED
#define CORIO_CFI_KEY
#define CORIO_PROP_PAC      0
#endif

/* CFA-relative slot of a frame offset, for .cfi_offset (CFA = sp + SIZE). */
#define CORIO_CFA(off)      ((off) - CORIO__FRAME_SIZE)

	.text
	.p2align 4
	.globl	corio__ctx_switch
	.hidden	corio__ctx_switch
	.type	corio__ctx_switch, %function
corio__ctx_switch:
	.cfi_startproc
	CORIO_CFI_KEY
	CORIO_BTI_C				/* landing pad for blr */
	CORIO_PAC_SIGN				/* sign lr; modifier: sp = the CFA */
	CORIO_CFI_RA_SIGNED
	stp	x29, x30, [sp, #-CORIO__FRAME_SIZE]!	/* frame record at offset 0 */
	.cfi_def_cfa_offset CORIO__FRAME_SIZE
	.cfi_offset x29, CORIO_CFA(CORIO__FRAME_X29)
	.cfi_offset x30, CORIO_CFA(CORIO__FRAME_X30)
	stp	x19, x20, [sp, #CORIO__FRAME_X19]	/* callee-saved */
	.cfi_offset x19, CORIO_CFA(CORIO__FRAME_X19)
	.cfi_offset x20, CORIO_CFA(CORIO__FRAME_X20)
	stp	x21, x22, [sp, #CORIO__FRAME_X21]
	.cfi_offset x21, CORIO_CFA(CORIO__FRAME_X21)
	.cfi_offset x22, CORIO_CFA(CORIO__FRAME_X22)
	stp	x23, x24, [sp, #CORIO__FRAME_X23]
	.cfi_offset x23, CORIO_CFA(CORIO__FRAME_X23)
	.cfi_offset x24, CORIO_CFA(CORIO__FRAME_X24)
	stp	x25, x26, [sp, #CORIO__FRAME_X25]
	.cfi_offset x25, CORIO_CFA(CORIO__FRAME_X25)
	.cfi_offset x26, CORIO_CFA(CORIO__FRAME_X26)
	stp	x27, x28, [sp, #CORIO__FRAME_X27]
	.cfi_offset x27, CORIO_CFA(CORIO__FRAME_X27)
	.cfi_offset x28, CORIO_CFA(CORIO__FRAME_X28)
	stp	d8, d9, [sp, #CORIO__FRAME_D8]		/* callee-saved: low halves of v8-v15 */
	.cfi_offset d8, CORIO_CFA(CORIO__FRAME_D8)
	.cfi_offset d9, CORIO_CFA(CORIO__FRAME_D9)
	stp	d10, d11, [sp, #CORIO__FRAME_D10]
	.cfi_offset d10, CORIO_CFA(CORIO__FRAME_D10)
	.cfi_offset d11, CORIO_CFA(CORIO__FRAME_D11)
	stp	d12, d13, [sp, #CORIO__FRAME_D12]
	.cfi_offset d12, CORIO_CFA(CORIO__FRAME_D12)
	.cfi_offset d13, CORIO_CFA(CORIO__FRAME_D13)
	stp	d14, d15, [sp, #CORIO__FRAME_D14]
	.cfi_offset d14, CORIO_CFA(CORIO__FRAME_D14)
	.cfi_offset d15, CORIO_CFA(CORIO__FRAME_D15)
	mrs	x9, fpcr			/* our FP modes (x9-x11: scratch) */
	str	x9, [sp, #CORIO__FRAME_FPCR]

	mov	x10, sp
	str	x10, [x0]			/* from->sp = our frame */
	ldr	x10, [x1]
	mov	sp, x10				/* switch stacks: now on the other context */

	ldr	x11, [sp, #CORIO__FRAME_FPCR]	/* its FP modes */
	cmp	x9, x11
	b.eq	1f				/* the same: skip the costly write */
	msr	fpcr, x11
1:
	ldp	d8, d9, [sp, #CORIO__FRAME_D8]
	ldp	d10, d11, [sp, #CORIO__FRAME_D10]
	ldp	d12, d13, [sp, #CORIO__FRAME_D12]
	ldp	d14, d15, [sp, #CORIO__FRAME_D14]
	ldp	x19, x20, [sp, #CORIO__FRAME_X19]	/* a new context: entry, argument */
	ldp	x21, x22, [sp, #CORIO__FRAME_X21]
	ldp	x23, x24, [sp, #CORIO__FRAME_X23]
	ldp	x25, x26, [sp, #CORIO__FRAME_X25]
	ldp	x27, x28, [sp, #CORIO__FRAME_X27]
	ldp	x29, x30, [sp], #CORIO__FRAME_SIZE	/* its fp and resume address; pop */
	.cfi_def_cfa_offset 0
	.cfi_restore x19
	.cfi_restore x20
	.cfi_restore x21
	.cfi_restore x22
	.cfi_restore x23
	.cfi_restore x24
	.cfi_restore x25
	.cfi_restore x26
	.cfi_restore x27
	.cfi_restore x28
	.cfi_restore d8
	.cfi_restore d9
	.cfi_restore d10
	.cfi_restore d11
	.cfi_restore d12
	.cfi_restore d13
	.cfi_restore d14
	.cfi_restore d15
	.cfi_restore x29
	.cfi_restore x30
	CORIO_PAC_AUTH				/* its lr, signed with its CFA: sp now */
	CORIO_CFI_RA_SIGNED
	ret					/* into the other context */
	.cfi_endproc
	.size	corio__ctx_switch, .-corio__ctx_switch

/*
 * First code a new context runs, reached by the ret above with sp at the
 * top of the task's stack (16-byte aligned). x19 = entry, x20 = argument.
 */
	.p2align 4
	.globl	corio__ctx_trampoline
	.hidden	corio__ctx_trampoline
	.type	corio__ctx_trampoline, %function
corio__ctx_trampoline:
	.cfi_startproc
	.cfi_undefined x30			/* DWARF unwinders: the chain ends here */
	CORIO_BTI_C
	mov	x29, xzr			/* frame-pointer walkers: the chain ends here */
	mov	x30, xzr			/* no stale return address, even here */
	mov	x0, x20				/* entry(argument) */
	blr	x19				/* sp is 16-aligned, as always on AArch64 */
	brk	#0x3c1				/* the entry function never returns: trap */
	.cfi_endproc
	.size	corio__ctx_trampoline, .-corio__ctx_trampoline

#if CORIO_PROP_BTI || CORIO_PROP_PAC
/*
 * GNU property note: this object is safe in a BTI-guarded (and PAC-using)
 * program. The linker ANDs these bits over all inputs.
 */
	.pushsection .note.gnu.property, "a"
	.p2align 3
	.long	4				/* n_namesz: "GNU\0" */
	.long	16				/* n_descsz */
	.long	5				/* n_type: NT_GNU_PROPERTY_TYPE_0 */
	.asciz	"GNU"
	.long	0xc0000000			/* GNU_PROPERTY_AARCH64_FEATURE_1_AND */
	.long	4				/* pr_datasz */
	.long	CORIO_PROP_BTI | CORIO_PROP_PAC
	.long	0				/* pad to 8 bytes */
	.popsection
#endif

	.section .note.GNU-stack,"",%progbits
