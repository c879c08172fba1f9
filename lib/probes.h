/*
 * probes.h - USDT probes, provider "corio".
 *
 * Each probe is a single nop in the instruction stream plus a note in the
 * ELF file; perf, bpftrace and systemtap turn it into a breakpoint only
 * while they trace. Without <sys/sdt.h> (Debian: systemtap-sdt-dev) the
 * probes compile to nothing.
 *
 *   corio:spawn     (task id, parent id)
 *   corio:switch    (from id, to id)        0 = the loop itself
 *   corio:task_end  (task id, result)
 *   corio:submit    (number of SQEs)
 *   corio:complete  (user_data, res)
 *   corio:wait      (timeout ns, or -1 for none)
 */
#ifndef CORIO_PROBES_H
#define CORIO_PROBES_H

#if defined(__has_include)
#if __has_include(<sys/sdt.h>) && !defined(CORIO_NO_PROBES)
#include <sys/sdt.h>
#define CORIO__HAVE_SDT 1
#endif
#endif

#ifdef CORIO__HAVE_SDT
#define CORIO__PROBE1(name, a)    DTRACE_PROBE1(corio, name, a)
#define CORIO__PROBE2(name, a, b) DTRACE_PROBE2(corio, name, a, b)
#else
#define CORIO__PROBE1(name, a)    do { (void)(a); } while (0)
#define CORIO__PROBE2(name, a, b) do { (void)(a); (void)(b); } while (0)
#endif

#endif
