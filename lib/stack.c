/*
 * stack.c - task stacks: mapped, guarded, pooled; and overflow reports.
 *
 * A stack of the loop's default size lives in a slab: one anonymous
 * MAP_NORESERVE mapping holding SLAB_STACKS (64) stacks, each with a guard
 * region (CORIO__GUARD_BYTES, 16 KiB, at least a page) below it. A stack of
 * any other size gets a mapping and a guard of its own, unmapped when it is
 * put back. Pages are committed only when touched (a stack's top page ahead
 * of time, see below), so a task on a fresh stack that stays shallow costs
 * one page.
 *
 * Guard pages. Linux 6.13 added MADV_GUARD_INSTALL: a guard is a property
 * of the page table, not a separate mapping, so a slab of 64 guarded stacks
 * is still one VMA and a million stacks fit under vm.max_map_count (65530 by
 * default). On older kernels the guard is mprotect(PROT_NONE), which splits
 * the mapping: every stack then costs two VMAs, and about 32 000 stacks is
 * the ceiling before mmap/mprotect fail with ENOMEM (spawn reports ENOMEM).
 * All the guards of a slab are installed when the slab is mapped: with one
 * process_madvise call where the kernel takes it (any advice since 6.13,
 * PIDFD_SELF_THREAD since 6.15), else one madvise or mprotect per stack.
 *
 * The pool. New stacks are cut from the newest slab in address order, and
 * the top pages of the next POPULATE_BATCH (16) are committed ahead with
 * one MADV_POPULATE_WRITE batch: one system call instead of 16 page faults
 * (best effort). A stack put back goes on a LIFO free list, so the next
 * spawn gets the warmest one; a pooled stack keeps the pages its tasks
 * touched. A finished task cannot put back the stack it still runs on: it
 * leaves it in l->dying_stack, and the next context to look puts it back
 * (corio__switch_exit, corio__reap_dying in ctx.c). About once a second the
 * loop trims the pool: a slab whose stacks were all handed out and are all
 * free again at two trims in a row is unmapped, as long as POOL_KEEP (256)
 * free stacks stay pooled.
 *
 * A task that runs off the bottom of its stack faults on its guard page. The
 * SIGSEGV handler (on an alternate signal stack: the faulting stack is full)
 * recognises the address, prints "corio: stack overflow in task <name>"
 * (task-<id> when unnamed) and aborts. Other faults go to whatever handler
 * was installed before corio's.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define CORIO__HAVE_VALGRIND 1
#endif
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define CORIO__HAVE_MEMCHECK 1
#endif
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#define SLAB_STACKS    64
#define POPULATE_BATCH 16
/* Pooled stacks kept however long they stay unused. */
#define POOL_KEEP      (4 * SLAB_STACKS)

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
/* PIDFD_SELF_THREAD (Linux 6.15): this thread, hence this process's memory.
 * (PIDFD_SELF_THREAD_GROUP, -20000, is refused by process_madvise.) */
#define CORIO__PIDFD_SELF (-10000)

struct corio__slab {
	struct corio__slab *next, *prev;
	char               *base;
	size_t              len;
	size_t              stride;   /* guard + stack */
	unsigned            nfree;
	unsigned            nused;    /* stacks ever handed out */
	bool                idle;     /* fully free at the last trim */
	corio__stack        stacks[SLAB_STACKS];
};

/* 0 unknown, 1 MADV_GUARD_INSTALL works, 2 use mprotect. Process-wide. */
static atomic_int guard_kind;

/*
 * Memcheck does not know MADV_GUARD_INSTALL: it would take a guard for
 * memory, report no overflow into it, and fault on every word of it in its
 * leak scan at each exit (about 1 s per forked worker). Said once per guard,
 * on whichever path installed it.
 */
static void guard_hide_from_memcheck(void *p, size_t len)
{
#ifdef CORIO__HAVE_MEMCHECK
	if (corio__under_memcheck())
		(void)VALGRIND_MAKE_MEM_NOACCESS(p, len);
#else
	(void)p;
	(void)len;
#endif
}

static int install_guard(void *p, size_t len)
{
	int k = atomic_load_explicit(&guard_kind, memory_order_relaxed);

	if (k != 2) {
		if (madvise(p, len, MADV_GUARD_INSTALL) == 0) {
			atomic_store_explicit(&guard_kind, 1, memory_order_relaxed);
			guard_hide_from_memcheck(p, len);
			return 0;
		}
		if (errno != EINVAL || k == 1)
			return -errno;
		atomic_store_explicit(&guard_kind, 2, memory_order_relaxed);
	}
	return mprotect(p, len, PROT_NONE) == 0 ? 0 : -errno;
}

static void stack_register(corio__stack *s)
{
#ifdef CORIO__HAVE_VALGRIND
	s->vg_id = VALGRIND_STACK_REGISTER(s->lo, s->hi);
#else
	(void)s;
#endif
}

static void stack_deregister(corio__stack *s)
{
#ifdef CORIO__HAVE_VALGRIND
	VALGRIND_STACK_DEREGISTER(s->vg_id);
#else
	(void)s;
#endif
}

/*
 * A task that ended left its last frames poisoned in ASan's shadow memory.
 * Whatever the kernel maps at this address next must not inherit that.
 */
static void unpoison(void *p, size_t len)
{
#if defined(__SANITIZE_ADDRESS__)
	ASAN_UNPOISON_MEMORY_REGION(p, len);
#else
	(void)p;
	(void)len;
#endif
}

static void *map_region(size_t len)
{
	void *p;

	if (CORIO__FAULT(CORIO__F_STACK)) {
		errno = ENOMEM;
		return NULL;
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

int corio__stack_pool_init(corio__stack_pool *p, size_t size)
{
	long pg = sysconf(_SC_PAGESIZE);

	memset(p, 0, sizeof(*p));
	p->page = pg > 0 ? (size_t)pg : 4096;
	p->guard = CORIO__GUARD_BYTES > p->page ? CORIO__GUARD_BYTES : p->page;
	if (size < 2 * p->page)
		size = 2 * p->page;
	p->size = (size + p->page - 1) & ~(p->page - 1);
	return 0;
}

static void free_push(corio__stack_pool *p, corio__stack *s)
{
	s->prev_free = NULL;
	s->next_free = p->free;
	if (p->free)
		p->free->prev_free = s;
	p->free = s;
	p->nfree++;
}

static void free_unlink(corio__stack_pool *p, corio__stack *s)
{
	if (s->prev_free)
		s->prev_free->next_free = s->next_free;
	else
		p->free = s->next_free;
	if (s->next_free)
		s->next_free->prev_free = s->prev_free;
	p->nfree--;
}

static void slab_unmap(corio__stack_pool *p, struct corio__slab *sl)
{
	for (unsigned i = 0; i < sl->nused; i++)
		stack_deregister(&sl->stacks[i]);
	if (p->fresh == sl)
		p->fresh = NULL;
	if (sl->prev)
		sl->prev->next = sl->next;
	else
		p->slabs = sl->next;
	if (sl->next)
		sl->next->prev = sl->prev;
	unpoison(sl->base, sl->len);
	munmap(sl->base, sl->len);
	p->nmapped -= sl->nused;
	free(sl);
}

/*
 * Applies `advice` to `n` ranges with one process_madvise call on our own
 * process (Linux 6.13+ accepts any advice there; PIDFD_SELF_THREAD needs
 * 6.15). Returns 0 when every range was advised, -EAGAIN when the call
 * stopped part-way, or -errno when the batch call is not available.
 */
static int madvise_batch(struct iovec *iov, size_t n, int advice)
{
	static atomic_int unavailable;
	long r;

	if (atomic_load_explicit(&unavailable, memory_order_relaxed))
		return -ENOSYS;
	r = syscall(SYS_process_madvise, CORIO__PIDFD_SELF, iov, n, advice, 0u);
	if (r >= 0) {
		size_t want = 0;
		for (size_t i = 0; i < n; i++)
			want += iov[i].iov_len;
		/* It may stop part-way; the caller then redoes the batch range by
		 * range (advising a range twice is harmless). */
		return (size_t)r == want ? 0 : -EAGAIN;
	}
	if (errno == EBADF || errno == ENOSYS || errno == EINVAL || errno == EPERM)
		atomic_store_explicit(&unavailable, 1, memory_order_relaxed);
	return -errno;
}

static int slab_guards(corio__stack_pool *p, struct corio__slab *sl)
{
	struct iovec iov[SLAB_STACKS];
	int r;

	if (atomic_load_explicit(&guard_kind, memory_order_relaxed) != 2) {
		for (unsigned i = 0; i < SLAB_STACKS; i++) {
			iov[i].iov_base = sl->base + i * sl->stride;
			iov[i].iov_len = p->guard;
		}
		if (madvise_batch(iov, SLAB_STACKS, MADV_GUARD_INSTALL) == 0) {
			atomic_store_explicit(&guard_kind, 1, memory_order_relaxed);
			for (unsigned i = 0; i < SLAB_STACKS; i++)
				guard_hide_from_memcheck(iov[i].iov_base, iov[i].iov_len);
			return 0;
		}
	}
	for (unsigned i = 0; i < SLAB_STACKS; i++) {
		r = install_guard(sl->base + i * sl->stride, p->guard);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * Commits the top page of the next POPULATE_BATCH stacks in one call: a
 * first touch costs a page fault each (about 2 us in a VM), a batch costs
 * one system call for all. Best effort: the faults happen anyway without it.
 */
static void slab_populate(corio__stack_pool *p, struct corio__slab *sl, unsigned from)
{
	struct iovec iov[POPULATE_BATCH];
	unsigned n = 0;

	for (unsigned i = from; i < SLAB_STACKS && n < POPULATE_BATCH; i++, n++) {
		iov[n].iov_base = sl->base + i * sl->stride + sl->stride - p->page;
		iov[n].iov_len = p->page;
	}
	(void)madvise_batch(iov, n, MADV_POPULATE_WRITE);
}

/* Hands out the next never-used stack of the newest slab, or maps a slab. */
static corio__stack *slab_take(corio__stack_pool *p)
{
	struct corio__slab *sl = p->fresh;
	corio__stack *s;
	int r;

	if (!sl || sl->nused == SLAB_STACKS) {
		sl = corio__calloc(1, sizeof(*sl));
		if (!sl)
			return NULL;
		sl->stride = p->size + p->guard;
		sl->len = sl->stride * SLAB_STACKS;
		sl->base = map_region(sl->len);
		if (!sl->base) {
			free(sl);
			return NULL;
		}
		r = slab_guards(p, sl);
		if (r < 0) {
			munmap(sl->base, sl->len);
			free(sl);
			errno = -r;
			return NULL;
		}
		sl->next = p->slabs;
		if (p->slabs)
			p->slabs->prev = sl;
		p->slabs = sl;
		p->fresh = sl;
	}
	if (sl->nused % POPULATE_BATCH == 0)
		slab_populate(p, sl, sl->nused);
	s = &sl->stacks[sl->nused];
	s->slab = sl;
	s->lo = sl->base + sl->nused * sl->stride + p->guard;
	s->hi = s->lo + p->size;
	sl->nused++;
	p->nmapped++;
	stack_register(s);
	return s;
}

corio__stack *corio__stack_get(corio__stack_pool *p, size_t size)
{
	corio__stack *s;

	size = (size + p->page - 1) & ~(p->page - 1);
	if (size == 0 || size == p->size) {
		if (p->free) {
			s = p->free;
			free_unlink(p, s);
			s->slab->nfree--;
		} else {
			s = slab_take(p);
			if (!s)
				return NULL;
		}
	} else {
		char *base = map_region(size + p->guard);
		int r;

		if (!base)
			return NULL;
		s = corio__calloc(1, sizeof(*s));
		r = s ? install_guard(base, p->guard) : -ENOMEM;
		if (r < 0) {
			free(s);
			munmap(base, size + p->guard);
			errno = -r;
			return NULL;
		}
		s->lo = base + p->guard;
		s->hi = s->lo + size;
		p->nmapped++;
		stack_register(s);
	}
#if defined(__SANITIZE_ADDRESS__)
	/* The previous owner may have left poisoned frames behind. */
	ASAN_UNPOISON_MEMORY_REGION(s->lo, (size_t)(s->hi - s->lo));
#endif
	return s;
}

void corio__stack_put(corio__stack_pool *p, corio__stack *s)
{
	struct corio__slab *sl = s->slab;

	if (!sl) {
		stack_deregister(s);
		unpoison(s->lo, (size_t)(s->hi - s->lo));
		munmap(s->lo - p->guard, (size_t)(s->hi - s->lo) + p->guard);
		p->nmapped--;
		free(s);
		return;
	}
	free_push(p, s);
	sl->nfree++;
}

/*
 * Called by the loop about once a second. Stacks freed by a burst stay
 * pooled (a second burst then costs no page faults), but a slab whose
 * stacks were all handed out and are all free at two trims in a row is
 * unmapped if at least POOL_KEEP free stacks remain without it: memory
 * pinned by a burst decays within about two seconds.
 */
void corio__stack_pool_trim(corio__stack_pool *p)
{
	struct corio__slab *sl = p->slabs, *next;

	for (; sl; sl = next) {
		bool free_now = sl->nused == SLAB_STACKS && sl->nfree == sl->nused;
		next = sl->next;
		if (free_now && sl->idle && p->nfree - SLAB_STACKS >= POOL_KEEP) {
			for (unsigned i = 0; i < sl->nused; i++)
				free_unlink(p, &sl->stacks[i]);
			slab_unmap(p, sl);
			continue;
		}
		sl->idle = free_now;
	}
}

void corio__stack_pool_fini(corio__stack_pool *p)
{
	while (p->slabs)
		slab_unmap(p, p->slabs);
	p->free = NULL;
	p->nfree = 0;
}

void corio__stack_force_mprotect(void)
{
	atomic_store_explicit(&guard_kind, 2, memory_order_relaxed);
}

int corio__stack_guard_kind(void)
{
	return atomic_load_explicit(&guard_kind, memory_order_relaxed);
}

/* ------------------------------------------------------------------------
 * Overflow reports
 * ------------------------------------------------------------------------ */

static struct sigaction prev_segv;
static pthread_once_t handler_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t handler_lock = PTHREAD_MUTEX_INITIALIZER;
static int handler_err;
static CORIO__TLS void *altstack_mem;

static size_t fmt_u64(char *out, uint64_t v)
{
	char tmp[24];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

static void on_segv(int sig, siginfo_t *si, void *uctx)
{
	corio__loop *l = corio__tls_loop;
	corio_task *t = l ? l->current : NULL;
	int saved = errno;

	if (t && t->stack) {
		char *a = si->si_addr;
		size_t guard = l->stacks.guard;
		if (a < t->stack->lo && a >= t->stack->lo - guard) {
			char msg[96];
			size_t n = 0, k;
			static const char head[] = "corio: stack overflow in task ";
			memcpy(msg, head, sizeof(head) - 1);
			n = sizeof(head) - 1;
			if (t->name[0]) {
				k = strnlen(t->name, sizeof(t->name));
				memcpy(msg + n, t->name, k);
				n += k;
			} else {
				memcpy(msg + n, "task-", 5);
				n += 5;
				n += fmt_u64(msg + n, t->id);
			}
			msg[n++] = '\n';
			(void)!write(STDERR_FILENO, msg, n);
			abort();
		}
	}
	errno = saved;
	/* Not ours: hand the fault to whoever had it before. */
	if (prev_segv.sa_flags & SA_SIGINFO) {
		if (prev_segv.sa_sigaction) {
			prev_segv.sa_sigaction(sig, si, uctx);
			return;
		}
	} else if (prev_segv.sa_handler != SIG_DFL && prev_segv.sa_handler != SIG_IGN) {
		prev_segv.sa_handler(sig);
		return;
	}
	/* Default action: return with SIG_DFL in place and the fault repeats. */
	signal(sig, SIG_DFL);
}

static void handler_setup(void)
{
	struct sigaction sa;

	__atomic_store_n(&handler_err, 0, __ATOMIC_RELEASE);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &prev_segv) != 0)
		__atomic_store_n(&handler_err, -errno, __ATOMIC_RELEASE);
}

int corio__overflow_handler_install(void)
{
	stack_t cur, ss;
	int r;

	struct sigaction now;

	pthread_once(&handler_once, handler_setup);
	if ((r = __atomic_load_n(&handler_err, __ATOMIC_ACQUIRE)) != 0)
		return r;
	/* Someone (a test harness, the application) may have replaced our
	 * handler since: put it back, chaining to the replacement. */
	if (sigaction(SIGSEGV, NULL, &now) == 0 &&
	    (!(now.sa_flags & SA_SIGINFO) || now.sa_sigaction != on_segv)) {
		pthread_mutex_lock(&handler_lock);
		handler_setup();
		pthread_mutex_unlock(&handler_lock);
		if ((r = __atomic_load_n(&handler_err, __ATOMIC_ACQUIRE)) != 0)
			return r;
	}
	/* The fault happens on a full stack: the handler needs its own. */
	if (sigaltstack(NULL, &cur) == 0 && (cur.ss_flags & SS_DISABLE) && !altstack_mem) {
		size_t sz = 64 * 1024;
		altstack_mem = corio__malloc(sz);
		if (!altstack_mem)
			return -ENOMEM;
		ss.ss_sp = altstack_mem;
		ss.ss_size = sz;
		ss.ss_flags = 0;
		if (sigaltstack(&ss, NULL) != 0) {
			free(altstack_mem);
			altstack_mem = NULL;
			return -errno;
		}
	}
	return 0;
}

void corio__overflow_handler_thread_fini(void)
{
	stack_t ss;

	if (!altstack_mem)
		return;
	memset(&ss, 0, sizeof(ss));
	ss.ss_flags = SS_DISABLE;
	sigaltstack(&ss, NULL);
	free(altstack_mem);
	altstack_mem = NULL;
}
