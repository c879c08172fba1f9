/*
 * frame.h - the saved frame of a suspended context, for this architecture:
 * its size and offsets (CORIO__FRAME_*), with two names every architecture
 * defines: CORIO__FRAME_PC (where the context resumes) and CORIO__FRAME_FP
 * (its frame pointer, the head of the chain a backtrace walks).
 */
#ifndef CORIO_ARCH_FRAME_H
#define CORIO_ARCH_FRAME_H

#if defined(__x86_64__)
#include "frame_x86_64.h"
#elif defined(__aarch64__)
#include "frame_aarch64.h"
#else
#error "corio has a context switch for x86-64 and AArch64 only (lib/arch/switch_*.S): port one first"
#endif

#endif
