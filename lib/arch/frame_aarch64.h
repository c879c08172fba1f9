/*
 * frame_aarch64.h - the saved frame of a suspended corio context on AArch64.
 *
 * Shared by switch_aarch64.S (which stores and loads it) and by the C code
 * that builds the first frame of a new task (ctx.c), which also checks these
 * numbers with static_assert. Offsets are from the saved stack pointer.
 *
 * The frame opens with an AAPCS64 frame record (fp, then lr), so the saved
 * stack pointer is itself a valid frame-pointer value: a walker can start at
 * ctx->sp and follow [fp] = the caller's fp, [fp + 8] = its return address.
 * The registers are stored in pairs (stp/ldp), so paired slots are adjacent.
 */
#ifndef CORIO_ARCH_FRAME_AARCH64_H
#define CORIO_ARCH_FRAME_AARCH64_H

#define CORIO__FRAME_X29   0    /* fp; a new context: 0, the end of the chain */
#define CORIO__FRAME_X30   8    /* lr: where the context resumes (PAC: signed, modifier sp + SIZE) */
#define CORIO__FRAME_X19   16   /* first entry: the entry function */
#define CORIO__FRAME_X20   24   /* first entry: the argument of the entry function */
#define CORIO__FRAME_X21   32
#define CORIO__FRAME_X22   40
#define CORIO__FRAME_X23   48
#define CORIO__FRAME_X24   56
#define CORIO__FRAME_X25   64
#define CORIO__FRAME_X26   72
#define CORIO__FRAME_X27   80
#define CORIO__FRAME_X28   88
#define CORIO__FRAME_D8    96   /* low 64 bits of v8..v15, the callee-saved FP part */
#define CORIO__FRAME_D9    104
#define CORIO__FRAME_D10   112
#define CORIO__FRAME_D11   120
#define CORIO__FRAME_D12   128
#define CORIO__FRAME_D13   136
#define CORIO__FRAME_D14   144
#define CORIO__FRAME_D15   152
#define CORIO__FRAME_FPCR  160  /* FPCR as mrs reads it (64 bits) */
                                /* 168: unused, keeps the size a multiple of 16 */
#define CORIO__FRAME_SIZE  176  /* sp must stay 16-byte aligned at all times */

/* Architecture-neutral names for the two slots a frame-chain walker needs. */
#define CORIO__FRAME_FP    CORIO__FRAME_X29
#define CORIO__FRAME_PC    CORIO__FRAME_X30

#endif
