/*
 * debug.c - diagnostics: asyncio's debug mode, in C.
 *
 *   slow tasks       corio__debug_switch times each run of a task (switched
 *                    in to switched out) and names those over the threshold;
 *   stack peak       a task starts on a zeroed stack (MADV_DONTNEED), so the
 *                    lowest non-zero byte at its end is its high-water mark;
 *   failures         a failed task nobody can observe is reported, in every
 *                    mode (corio__report_unobserved);
 *   task dump        every task's state, wait and frame-pointer backtrace,
 *                    from corio_dump_tasks, deadlock reports and SIGQUIT;
 *   loop registry    every loop of the process is on one list (corio__loops),
 *                    which SIGQUIT and tools/corio-gdb.py walk.
 * When debug mode is off, its cost is a test of l->debug: in every switch,
 * and in spawn, task end and each I/O call that hands the kernel a buffer.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"
#include "arch/frame.h"

#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#else
#define VALGRIND_DISABLE_ERROR_REPORTING do { } while (0)
#define VALGRIND_ENABLE_ERROR_REPORTING do { } while (0)
#define VALGRIND_MAKE_MEM_DEFINED(p, n) ((void)(p), (void)(n))
#endif

int corio__sync_describe(const corio__wait *w, char *buf, size_t len);

/* Every loop of the process; tools/corio-gdb.py starts here. */
corio__loop *corio__loops;
static pthread_mutex_t loops_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sigaction old_quit;
static int quit_installed;

const char *corio__errname(int err)
{
	const char *n = strerrorname_np(err < 0 ? -err : err);
	return n ? n : "E?";
}

/* ------------------------------------------------------------------------
 * Slow tasks
 * ------------------------------------------------------------------------ */

void corio__debug_switch(corio__loop *l, corio_task *from, corio_task *to)
{
	uint64_t now = corio__clock_ns();

	if (from && from->run_start) {
		uint64_t d = now - from->run_start;
		if (d > l->slow_ns) {
			fprintf(stderr, "corio: debug: task '%s' ran %.1f ms without suspending "
				"(a blocking call, or a loop that never yields?)\n",
				corio_task_name(from), (double)d / 1e6);
			/* The report's own time (a slow stderr) is nobody's. */
			now = corio__clock_ns();
		}
	}
	if (to)
		to->run_start = now;
}

/* ------------------------------------------------------------------------
 * Stack high-water mark
 * ------------------------------------------------------------------------ */

/* Reads a stack other code wrote, redzones and all. */
__attribute__((no_sanitize_address)) static size_t first_nonzero(const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && p[i] == 0)
		i++;
	return i;
}

/* How much of s is touched: from its top down to the lowest non-zero byte
 * on a resident page. Only meaningful on a stack that started zeroed. */
static size_t stack_touched(const corio__stack *s)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	unsigned char vec[256];

	for (char *p = s->lo; p < s->hi;) {
		size_t chunk = (size_t)(s->hi - p);
		if (chunk > sizeof(vec) * page)
			chunk = sizeof(vec) * page;
		if (mincore(p, chunk, vec) < 0)
			return 0;
		for (size_t i = 0; i < chunk / page; i++) {
			const char *pg = p + i * page;
			size_t off;
			if (!(vec[i] & 1))
				continue;
			/* Below the task's stack pointer, to memcheck's mind:
			 * unaddressable, and the answer undefined. */
			VALGRIND_DISABLE_ERROR_REPORTING;
			off = first_nonzero(pg, page);
			VALGRIND_ENABLE_ERROR_REPORTING;
			(void)VALGRIND_MAKE_MEM_DEFINED(&off, sizeof(off));
			if (off < page)
				return (size_t)(s->hi - (pg + off));
		}
		p += chunk;
	}
	return 0;
}

void corio__debug_task_start(corio__loop *l, corio_task *t)
{
	(void)l;
	/* A pooled stack holds the last task's bytes: start from zero pages
	 * so the high-water mark is this task's own. */
	(void)madvise(t->stack->lo, (size_t)(t->stack->hi - t->stack->lo), MADV_DONTNEED);
	t->run_start = 0;
}

void corio__debug_task_end(corio__loop *l, corio_task *t)
{
	size_t size = (size_t)(t->stack->hi - t->stack->lo);

	(void)l;
	t->stack_peak = stack_touched(t->stack);
	if (t->stack_peak > size / 4 * 3)
		fprintf(stderr, "corio: debug: task '%s' used %zu of its %zu bytes of stack\n",
			corio_task_name(t), t->stack_peak, size);
}

CORIO__API size_t corio_task_stack_peak(const corio_task *t)
{
	if (!t || t->magic != CORIO__TASK_MAGIC || !t->loop->debug)
		return 0;
	if (t->state == CORIO__T_DONE || !t->stack)
		return t->stack_peak;
	return stack_touched(t->stack);
}

/* ------------------------------------------------------------------------
 * Failures nobody saw
 * ------------------------------------------------------------------------ */

void corio__report_unobserved(corio__loop *l, corio_task *t)
{
	int r = t->result;

	(void)l;
	if (r >= 0 || r == -ECANCELED || t->observed)
		return;
	t->observed = 1;
	fprintf(stderr, "corio: task '%s' failed with -%s (%s) and was never joined\n",
		corio_task_name(t), corio__errname(r), strerror(-r));
}

/* ------------------------------------------------------------------------
 * The task dump
 * ------------------------------------------------------------------------ */

struct out {
	int    fd;
	int    err;
	size_t n;
	char   buf[2048];
};

static void out_flush(struct out *o)
{
	size_t off = 0;

	while (off < o->n && !o->err) {
		ssize_t w = write(o->fd, o->buf + off, o->n - off);
		if (w < 0) {
			if (errno != EINTR)
				o->err = -errno;
			continue;
		}
		off += (size_t)w;
	}
	o->n = 0;
}

__attribute__((format(printf, 2, 3))) static void out_printf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (o->n > sizeof(o->buf) / 2)
		out_flush(o);
	va_start(ap, fmt);
	k = vsnprintf(o->buf + o->n, sizeof(o->buf) - o->n, fmt, ap);
	va_end(ap);
	if (k > 0)
		o->n += (size_t)k < sizeof(o->buf) - o->n ? (size_t)k : sizeof(o->buf) - o->n - 1;
}

static void out_frame(struct out *o, int i, uintptr_t pc, bool is_return)
{
	Dl_info di;
	/* A return address may be one past the call's function: look up pc-1. */
	uintptr_t look = is_return ? pc - 1 : pc;

	if (dladdr((void *)look, &di) && di.dli_fname) {
		const char *base = strrchr(di.dli_fname, '/');
		base = base ? base + 1 : di.dli_fname;
		if (di.dli_sname)
			out_printf(o, "      #%d 0x%lx %s+0x%lx (%s+0x%lx)\n", i, (unsigned long)pc,
				   di.dli_sname, (unsigned long)(pc - (uintptr_t)di.dli_saddr), base,
				   (unsigned long)(pc - (uintptr_t)di.dli_fbase));
		else
			out_printf(o, "      #%d 0x%lx (%s+0x%lx)\n", i, (unsigned long)pc, base,
				   (unsigned long)(pc - (uintptr_t)di.dli_fbase));
	} else {
		out_printf(o, "      #%d 0x%lx\n", i, (unsigned long)pc);
	}
}

/* Walks the frame-pointer chain from bp while it stays inside [lo, hi). */
__attribute__((no_sanitize_address)) static void walk(struct out *o, int i, uintptr_t bp,
						       uintptr_t lo, uintptr_t hi)
{
	for (; i < 48 && bp >= lo && bp + 16 <= hi && (bp & 7) == 0; i++) {
		uintptr_t next = ((const uintptr_t *)bp)[0];
		uintptr_t ret = ((const uintptr_t *)bp)[1];
		if (!ret)
			break;
		out_frame(o, i, ret, true);
		if (next <= bp)
			break;
		bp = next;
	}
}

static void describe_wait(struct out *o, corio__loop *l, const corio__wait *w)
{
	char buf[160];
	const corio_task *u;

	switch (w->what) {
	case CORIO__WHY_SLEEP:
		snprintf(buf, sizeof(buf), "sleep");
		break;
	case CORIO__WHY_JOIN:
		u = w->ctx;
		snprintf(buf, sizeof(buf), "join of task %llu '%s'", (unsigned long long)u->id,
			 corio_task_name(u));
		break;
	case CORIO__WHY_GATHER:
		snprintf(buf, sizeof(buf), "gather");
		break;
	case CORIO__WHY_GROUP:
		snprintf(buf, sizeof(buf), "group %p", w->ctx);
		break;
	case CORIO__WHY_DRAIN:
		snprintf(buf, sizeof(buf), "the end of tasks it cancelled");
		break;
	case CORIO__WHY_THREAD:
		snprintf(buf, sizeof(buf), "work on another thread");
		break;
	case CORIO__WHY_PROC:
		snprintf(buf, sizeof(buf), "a process pool worker");
		break;
	case CORIO__WHY_XCALL:
		snprintf(buf, sizeof(buf), "a task on loop %d%s", w->fd,
			 w->interrupted ? " (cancel sent)" : "");
		break;
	case CORIO__WHY_OP:
		snprintf(buf, sizeof(buf), "io_uring operation%s",
			 w->interrupted ? " (cancel submitted)" : "");
		break;
	default:
		corio__sync_describe(w, buf, sizeof(buf));
		break;
	}
	out_printf(o, " on %s", buf);
	if (w->timer.idx != CORIO__TIMER_IDLE) {
		uint64_t now = corio__clock_ns();
		int64_t left = (int64_t)(w->timer.deadline - now);
		out_printf(o, ", %s in %.1f ms", w->timer_res == -ETIMEDOUT ? "deadline" : "timer",
			   (double)left / 1e6);
	}
	(void)l;
}

static void dump_task(struct out *o, corio__loop *l, corio_task *t)
{
	static const char *const states[] = { "?", "ready", "running", "waiting", "done" };
	uintptr_t lo = t->stack ? (uintptr_t)t->stack->lo : 0;
	uintptr_t hi = t->stack ? (uintptr_t)t->stack->hi : 0;

	out_printf(o, "  task %llu '%s' %s", (unsigned long long)t->id, corio_task_name(t),
		   states[t->state <= 4 ? t->state : 0]);
	if (t->state == CORIO__T_WAITING && t->wait)
		describe_wait(o, l, t->wait);
	if (t->cancelled)
		out_printf(o, " (cancelled)");
	if (t->scope)
		out_printf(o, " (in a %s scope)", t->scope->is_shield ? "shield" : "deadline");
	if (l->debug && t->stack)
		out_printf(o, " stack %zu/%zu", stack_touched(t->stack), (size_t)(hi - lo));
	out_printf(o, "\n");
	if (!t->stack)
		return;
	if (t == l->current) {
		walk(o, 0, (uintptr_t)__builtin_frame_address(0), lo, hi);
	} else {
		/* The saved frame of a suspended task: its resume address and
		 * frame pointer, then the chain. */
		const uintptr_t *f = t->ctx.sp;
		uintptr_t pc = f[CORIO__FRAME_PC / 8];
#if defined(__aarch64__)
		/* A return address signed by PAC: strip the signature
		 * (xpaclri, a no-op where PAC is absent). */
		{
			register uintptr_t lr __asm__("x30") = pc;
			__asm__("hint #7" : "+r"(lr));
			pc = lr;
		}
#endif
		out_frame(o, 0, pc, true);
		walk(o, 1, f[CORIO__FRAME_FP / 8], lo, hi);
	}
}

int corio__dump(corio__loop *l, int fd)
{
	struct out o = { .fd = fd };

	out_printf(&o, "corio: loop %d: %zu task(s)\n", l->index, l->nalive);
	for (corio_task *t = l->alive; t; t = t->next_alive)
		dump_task(&o, l, t);
	out_flush(&o);
	return o.err;
}

CORIO__API int corio_dump_tasks(int fd)
{
	corio__loop *l = corio__tls_loop;

	if (!l)
		return -EPERM;
	if (fd < 0)
		return -EBADF;
	return corio__dump(l, fd);
}

/* ------------------------------------------------------------------------
 * SIGQUIT and the loop registry
 * ------------------------------------------------------------------------ */

static void on_quit(int sig)
{
	corio__loop *l = corio__tls_loop;
	int saved = errno;

	if (l) {
		(void)corio__dump(l, 2);
	} else if (corio__loops) {
		/* Another thread's loops, best effort: they keep running. */
		for (l = corio__loops; l; l = l->reg_next)
			(void)corio__dump(l, 2);
	} else {
		sigaction(sig, &old_quit, NULL);
		raise(sig);
	}
	errno = saved;
}

int corio__debug_loop_init(corio__loop *l)
{
	pthread_mutex_lock(&loops_lock);
	l->reg_prev = NULL;
	l->reg_next = corio__loops;
	if (corio__loops)
		corio__loops->reg_prev = l;
	corio__loops = l;
	if (l->debug && !quit_installed) {
		struct sigaction sa, cur;
		/* Only where nobody else handles SIGQUIT. */
		if (sigaction(SIGQUIT, NULL, &cur) == 0 && cur.sa_handler == SIG_DFL) {
			memset(&sa, 0, sizeof(sa));
			sa.sa_handler = on_quit;
			sa.sa_flags = SA_RESTART;
			sigemptyset(&sa.sa_mask);
			if (sigaction(SIGQUIT, &sa, &old_quit) == 0)
				quit_installed = 1;
		}
	}
	pthread_mutex_unlock(&loops_lock);
	return 0;
}

void corio__debug_loop_fini(corio__loop *l)
{
	pthread_mutex_lock(&loops_lock);
	if (l->reg_prev)
		l->reg_prev->reg_next = l->reg_next;
	else if (corio__loops == l)
		corio__loops = l->reg_next;
	if (l->reg_next)
		l->reg_next->reg_prev = l->reg_prev;
	l->reg_next = l->reg_prev = NULL;
	pthread_mutex_unlock(&loops_lock);
}
