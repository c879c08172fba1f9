/*
 * raw_ctx.h - contexts on mmap'd stacks for the tests of the bare context
 * switch (test_ctx.c, test_ctx_arch.c): no loop, no task. Each stack has a
 * guard page below it and is announced to ASan and valgrind the way the
 * library announces its own. Needs lib/internal.h (corio__ctx) first.
 *
 * The program calls raw_init_main() once on the thread that switches, then
 * raw_make() / raw_switch() / raw_free(); a raw context's entry function
 * calls raw_arrived() first.
 */
#ifndef CORIO_TEST_RAW_CTX_H
#define CORIO_TEST_RAW_CTX_H

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define RAW_ASAN 1
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#else
#define RAW_ASAN 0
#endif

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define RAW_VALGRIND 1
#endif
#endif
#ifndef RAW_VALGRIND
#define RAW_VALGRIND 0
#endif

#define RAW_STACK (64 * 1024) /* the default stack size */

typedef struct raw {
	corio__ctx  ctx;
	char       *map;  /* guard page + stack */
	char       *lo;   /* usable stack [lo, lo + size) */
	size_t      size;
	void       *fake; /* ASan: this context's fake stack while away */
	unsigned    vg;   /* valgrind stack id */
} raw;

static raw raw_main; /* the thread's own stack: only its ctx is switched */

static inline size_t raw_page_size(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

static inline void raw_init_main(void)
{
	pthread_attr_t a;
	void *addr = NULL;
	size_t size = 0;

	memset(&raw_main, 0, sizeof(raw_main));
	if (pthread_getattr_np(pthread_self(), &a) == 0) {
		pthread_attr_getstack(&a, &addr, &size);
		pthread_attr_destroy(&a);
	}
	raw_main.lo = addr;
	raw_main.size = size;
}

/* 0, or -errno when the stack cannot be mapped or guarded. */
static inline int raw_make_sized(raw *r, size_t size, void (*entry)(void *), void *arg)
{
	size_t pg = raw_page_size();

	memset(r, 0, sizeof(*r));
	r->map = mmap(NULL, size + pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
		      -1, 0);
	if (r->map == MAP_FAILED)
		return -errno;
	if (mprotect(r->map, pg, PROT_NONE) != 0) {
		int e = errno;
		munmap(r->map, size + pg);
		return -e;
	}
	r->lo = r->map + pg;
	r->size = size;
#if RAW_ASAN
	/* Shadow memory outlives mappings: an earlier stack at this address
	 * may have left poisoned frames behind. */
	ASAN_UNPOISON_MEMORY_REGION(r->lo, size);
#endif
#if RAW_VALGRIND
	/* memcheck must know it is a stack, as the library's stacks are. */
	r->vg = VALGRIND_STACK_REGISTER(r->lo, r->lo + size);
#endif
	corio__ctx_make(&r->ctx, r->lo, r->lo + size, entry, arg);
	return 0;
}

/* Only for a context that is suspended (or was never started). */
static inline void raw_free(raw *r)
{
#if RAW_ASAN
	/* Suspended frames stay poisoned: clean up for whoever maps this next. */
	ASAN_UNPOISON_MEMORY_REGION(r->lo, r->size);
#endif
#if RAW_VALGRIND
	VALGRIND_STACK_DEREGISTER(r->vg);
#endif
	munmap(r->map, r->size + raw_page_size());
	r->map = NULL;
}

/* First thing a raw context does (ASan: "we arrived on a new stack"). */
static inline void raw_arrived(void)
{
#if RAW_ASAN
	__sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
}

static inline void raw_before(raw *from, raw *to)
{
#if RAW_ASAN
	__sanitizer_start_switch_fiber(&from->fake, to->lo, to->size);
#else
	(void)from;
	(void)to;
#endif
}

static inline void raw_after(raw *from)
{
#if RAW_ASAN
	__sanitizer_finish_switch_fiber(from->fake, NULL, NULL);
#else
	(void)from;
#endif
}

static inline void raw_switch(raw *from, raw *to)
{
	raw_before(from, to);
	corio__ctx_switch(&from->ctx, &to->ctx);
	raw_after(from);
}

#endif /* CORIO_TEST_RAW_CTX_H */
