/*
 * frame_x86_64.h - the saved frame of a suspended corio context on x86-64.
 *
 * Shared by switch_x86_64.S (which pushes and pops it) and by the C code
 * that builds the first frame of a new task (ctx.c), which also checks these
 * numbers with static_assert. Offsets are from the saved stack pointer.
 */
#ifndef CORIO_ARCH_FRAME_X86_64_H
#define CORIO_ARCH_FRAME_X86_64_H

#define CORIO__FRAME_FPU   0   /* MXCSR (low 4 bytes), x87 control word (next 2) */
#define CORIO__FRAME_R15   8
#define CORIO__FRAME_R14   16
#define CORIO__FRAME_R13   24  /* first entry: the argument of the entry function */
#define CORIO__FRAME_R12   32  /* first entry: the entry function */
#define CORIO__FRAME_RBX   40
#define CORIO__FRAME_RBP   48
#define CORIO__FRAME_RIP   56  /* where the context resumes */
#define CORIO__FRAME_SIZE  64  /* keeps a 16-byte aligned stack 16-byte aligned */

/* The names every architecture has (arch/frame.h). */
#define CORIO__FRAME_FP    CORIO__FRAME_RBP
#define CORIO__FRAME_PC    CORIO__FRAME_RIP

#endif
