/*
 * runaway.h - a stack overflow on demand, for the tests of the guard pages
 * (test_stack.c, stack_scale.c): runaway(0) recurses without end, 512
 * bytes a frame, until it hits the guard below the stack.
 */
#ifndef CORIO_TEST_RUNAWAY_H
#define CORIO_TEST_RUNAWAY_H

/* Always 1; volatile, so the compiler cannot know the recursion is endless. */
static volatile int never_negative = 1;

/* Unbounded recursion the compiler can neither turn into a loop nor drop:
 * a volatile frame that is read after the recursive call returns. */
static int __attribute__((noinline, unused)) runaway(int n)
{
	volatile char pad[512];

	pad[0] = (char)n;
	pad[sizeof(pad) - 1] = (char)n;
	if (never_negative < 0)
		return pad[0];
	return runaway(n + 1) + pad[0] + pad[sizeof(pad) - 1];
}

#endif /* CORIO_TEST_RUNAWAY_H */
