/*
 * test_faults.c - every seam fails in turn, in every scenario (FAULTS=1).
 *
 * For each scenario (spawn/join, sleep, an echo exchange over a socketpair,
 * a file written and read back, to_thread, a process pool, two loops
 * calling each other) a clean run first counts how often each seam
 * (lib/fault.c) is passed. Then, for each seam and each N up to that count
 * (every N when there are few, evenly spread ones when there are many),
 * a forked child runs the scenario with the Nth call of that seam failing,
 * and checks:
 *   - the scenario returns 0 or a clean -errno (never a wrong result: each
 *     scenario checks its data and reports corruption as CORRUPT);
 *   - no crash and no hang (the child is killed after a few seconds);
 *   - the same loop stays usable: with faults off, a task, a sleep and a
 *     socketpair exchange work right after, before corio_run returns;
 *   - no fd and no byte of malloc'd memory left behind (measured around the
 *     faulty run, after a clean warm-up run in the same child).
 * I/O ops fail with each of -EAGAIN, -ENOMEM, -EINTR and -ECANCELED in turn;
 * reads and writes are also cut short. The I/O scenarios also run on a
 * tiny ring (2 SQEs, 4 CQEs), where the CQ overflows. At most MAX_N values
 * of N per seam and scenario, spread evenly.
 *
 * Without FAULTS=1 the seams are compiled out and the program skips.
 */
#include <fcntl.h>
#include <sys/socket.h>

#include "check.h"
#include "internal.h"

#define CORRUPT 99 /* a scenario's result when data came out wrong */

#ifdef CORIO_FAULTS

/* ------------------------------------------------------------------------
 * Scenarios: 0, a clean -errno, or CORRUPT
 * ------------------------------------------------------------------------ */

static int child_task(void *arg)
{
	intptr_t v = (intptr_t)arg;

	corio_yield();
	return (int)v * 3;
}

static int sc_spawn(void *arg)
{
	corio_task *ts[16];
	int n = 0, r = 0;

	(void)arg;
	for (int i = 0; i < 16; i++) {
		ts[i] = corio_spawn(child_task, (void *)(intptr_t)i);
		if (!ts[i]) {
			r = -errno;
			break;
		}
		n++;
	}
	for (int i = 0; i < n; i++) {
		int v = corio_join(ts[i]);
		if (v != i * 3 && r == 0)
			r = v < 0 ? v : CORRUPT;
	}
	return r;
}

static int sleeper(void *arg)
{
	(void)arg;
	return corio_sleep_ms(1);
}

static int sc_sleep(void *arg)
{
	corio_task *ts[8];
	int res[8];
	int n = 0, r = 0;

	(void)arg;
	for (int i = 0; i < 8; i++) {
		if (!(ts[i] = corio_spawn(sleeper, NULL))) {
			r = -errno;
			break;
		}
		n++;
	}
	if (n) {
		int g = corio_gather(ts, (size_t)n, res, CORIO_GATHER_ALL);
		if (r == 0)
			r = g;
	}
	corio_deadline_push(2);
	{
		int s = corio_sleep_ms(50);
		int p = corio_deadline_pop();
		if (r == 0 && (s != -ETIMEDOUT || p != -ETIMEDOUT))
			r = s < 0 && s != -ETIMEDOUT ? s : p < 0 && p != -ETIMEDOUT ? p : CORRUPT;
	}
	return r;
}

#define ECHO_LEN 8192

static int echo_peer(void *arg)
{
	int fd = *(int *)arg;
	char buf[1024];
	ssize_t n;

	/* Echo everything back until EOF. */
	while ((n = corio_recv(fd, buf, sizeof(buf), 0)) > 0) {
		ssize_t s = corio_send_all(fd, buf, (size_t)n, 0, NULL);
		if (s < 0)
			return (int)s;
	}
	return (int)n;
}

/*
 * A failed call on one side leaves the other waiting for bytes that never
 * come, as it would in any program: the exchange runs under a deadline,
 * and the peer is cancelled if it did not end by itself.
 */
static int sc_echo(void *arg)
{
	static char out[ECHO_LEN], in[ECHO_LEN];
	int sv[2], r = 0, pr;
	size_t got = 0;
	corio_task *t;

	(void)arg;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	for (int i = 0; i < ECHO_LEN; i++)
		out[i] = (char)(i * 7 + 3);
	t = corio_spawn(echo_peer, &sv[1]);
	if (!t) {
		r = -errno;
		goto out;
	}
	corio_deadline_push(1000);
	{
		ssize_t s = corio_send_all(sv[0], out, ECHO_LEN, 0, NULL);
		if (s < 0)
			r = (int)s;
	}
	while (r == 0 && got < ECHO_LEN) {
		ssize_t n = corio_recv(sv[0], in + got, ECHO_LEN - got, 0);
		if (n <= 0) {
			r = n < 0 ? (int)n : -EPIPE;
			break;
		}
		got += (size_t)n;
	}
	if (r == 0 && memcmp(in, out, ECHO_LEN) != 0)
		r = CORRUPT;
	/* End the peer: EOF, or a cancel if the shutdown failed too. */
	if (corio_shutdown(sv[0], SHUT_WR) < 0)
		corio_cancel(t);
	pr = corio_wait_for(t, 1000);
	(void)corio_deadline_pop();
	if (r == 0 && pr != 0)
		r = pr;
out:
	(void)corio_close(sv[0]);
	(void)corio_close(sv[1]);
	return r;
}

static int sc_file(void *arg)
{
	static char data[20000], back[20000];
	char path[] = "/tmp/corio-faults-XXXXXX";
	int fd, r = 0;
	void *all = NULL;
	ssize_t n;

	(void)arg;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)(i * 13 + 1);
	fd = mkstemp(path);
	if (fd < 0)
		return -errno;
	unlink(path);
	n = corio_write_all(fd, data, sizeof(data), 0, NULL);
	if (n < 0) {
		r = (int)n;
		goto out;
	}
	/* Read it back in pieces at explicit offsets: short reads allowed. */
	for (size_t off = 0; off < sizeof(data);) {
		n = corio_read(fd, back + off, sizeof(data) - off, (int64_t)off);
		if (n <= 0) {
			r = n < 0 ? (int)n : CORRUPT;
			goto out;
		}
		off += (size_t)n;
	}
	if (memcmp(back, data, sizeof(data)) != 0) {
		r = CORRUPT;
		goto out;
	}
	r = corio_fsync(fd);
out:
	(void)corio_close(fd);
	(void)all;
	return r;
}

static int square(void *arg)
{
	intptr_t v = (intptr_t)arg;
	return (int)(v * v);
}

static int sc_thread(void *arg)
{
	(void)arg;
	for (int i = 1; i < 12; i++) {
		int r = corio_to_thread(square, (void *)(intptr_t)i);
		if (r < 0)
			return r;
		if (r != i * i)
			return CORRUPT;
	}
	return 0;
}

static ssize_t proc_rev(const void *in, size_t inlen, void *out, size_t outcap)
{
	const char *a = in;
	char *b = out;

	if (inlen > outcap)
		return -ENOBUFS;
	for (size_t i = 0; i < inlen; i++)
		b[i] = a[inlen - 1 - i];
	return (ssize_t)inlen;
}

static int sc_process(void *arg)
{
	corio_procpool *p;
	char out[64];
	int r = 0;

	(void)arg;
	p = corio_procpool_new(1);
	if (!p)
		return -errno;
	for (int i = 0; i < 4 && r == 0; i++) {
		ssize_t n = corio_run_in_process(p, proc_rev, "abcdef", 6, out, sizeof(out));
		if (n < 0)
			r = (int)n;
		else if (n != 6 || memcmp(out, "fedcba", 6) != 0)
			r = CORRUPT;
	}
	corio_procpool_free(p);
	return r;
}

static int whoami(void *arg)
{
	(void)arg;
	return 10 + corio_loop_index();
}

static void post_count(void *arg)
{
	__atomic_add_fetch((int *)arg, 1, __ATOMIC_RELAXED);
}

struct loops_arg {
	int posted, finished, err;
};

static int loops_main(void *arg)
{
	struct loops_arg *a = arg;
	int me = corio_loop_index(), r = 0;

	for (int i = 0; i < 5 && r == 0; i++) {
		int v = corio_loop_call(1 - me, whoami, NULL);
		if (v < 0)
			r = v;
		else if (v != 11 - me)
			r = CORRUPT;
		if (r == 0 && (r = corio_loop_post(1 - me, post_count, &a->posted)) < 0)
			break;
	}
	/* Stay until the peer is done with us (bounded). */
	__atomic_add_fetch(&a->finished, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 2000 && __atomic_load_n(&a->finished, __ATOMIC_ACQUIRE) < 2; i++)
		if (corio_sleep_ms(1) < 0)
			break;
	return r;
}

/* Run as a scenario: corio_run_loops inside a corio main is refused, so
 * this one replaces the whole run (see run_one). */
static int sc_loops_run(void)
{
	struct loops_arg a = { 0, 0, 0 };
	int r = corio_run_loops(2, loops_main, &a);

	/* Posts accepted must each have run once: at most 10. */
	if (a.posted > 10)
		return CORRUPT;
	return r;
}

enum { SC_SPAWN, SC_SLEEP, SC_ECHO, SC_FILE, SC_THREAD, SC_PROCESS, SC_LOOPS, SC_N };

static const struct {
	const char *name;
	int       (*fn)(void *);
} scenarios[SC_N] = {
	[SC_SPAWN] = { "spawn/join", sc_spawn },   [SC_SLEEP] = { "sleep", sc_sleep },
	[SC_ECHO] = { "echo", sc_echo },           [SC_FILE] = { "file", sc_file },
	[SC_THREAD] = { "to_thread", sc_thread },  [SC_PROCESS] = { "process pool", sc_process },
	[SC_LOOPS] = { "two loops", NULL },
};

/* ------------------------------------------------------------------------
 * The loop stays usable
 * ------------------------------------------------------------------------ */

static int health(void)
{
	corio_task *t = corio_spawn(child_task, (void *)(intptr_t)5);
	int sv[2], r;
	char c = 'x', d = 0;

	if (!t || corio_join(t) != 15)
		return -1001;
	if (corio_sleep_ms(1) != 0)
		return -1002;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1003;
	r = corio_send(sv[0], &c, 1, 0) == 1 && corio_recv(sv[1], &d, 1, 0) == 1 && d == 'x' ? 0
											     : -1004;
	corio_close(sv[0]);
	corio_close(sv[1]);
	return r;
}

struct run {
	int sc;
	int seam;
	uint64_t nth;
	int err;
	int result;  /* the scenario's */
	int health;  /* the check after it, faults off */
	uint64_t calls[CORIO__F_COUNT]; /* each seam's calls during the scenario */
};

static void snapshot(struct run *rn)
{
	for (int s = 0; s < CORIO__F_COUNT; s++)
		rn->calls[s] = corio__fault_calls(s);
}

/* The fault was armed before corio_run: the loop's own setup (its ring,
 * its first stack, its memory) is a seam too. */
static int run_main(void *arg)
{
	struct run *rn = arg;

	rn->result = scenarios[rn->sc].fn(NULL);
	snapshot(rn);
	corio__fault_reset();
	rn->health = health();
	return 0;
}

static const corio_config *ring_cfg; /* NULL, or the tiny ring */

/* One run of a scenario with the given fault armed; 0 or why it failed. */
static int run_one(struct run *rn)
{
	int r;

	corio__fault_reset();
	if (rn->nth)
		corio__fault_arm(rn->seam, rn->nth, rn->err);
	if (rn->sc == SC_LOOPS) {
		rn->result = sc_loops_run();
		snapshot(rn);
		corio__fault_reset();
		rn->health = 0;
		r = corio_run_config(ring_cfg, run_main, &(struct run){ .sc = SC_SPAWN });
		return r == 0 ? 0 : r;
	}
	r = corio_run_config(ring_cfg, run_main, rn);
	if (r != 0) {
		/* The fault hit the loop's own setup (a ring, a stack, memory):
		 * a clean error from corio_run, and the next run must work. */
		if (r > 0 || r < -4095)
			return -2000;
		snapshot(rn);
		corio__fault_reset();
		rn->result = r;
		rn->health = 0;
		r = corio_run_config(ring_cfg, run_main, &(struct run){ .sc = SC_SPAWN });
		return r;
	}
	return 0;
}

static bool clean_result(int r)
{
	return r == 0 || (r < 0 && r > -4096);
}

/* The child: warm up, measure, run with the fault, measure again. */
static int child(void *arg)
{
	struct run *rn = arg, warm = *rn;
	int fds0, fds1, r;
	size_t mem0, mem1;
	/* Persistent things the first run of a scenario creates (the thread
	 * pool's workers, their rings) are not leaks: warm up first, unless
	 * the seam is the one that would make them (threads). */
	bool warmup = rn->seam != CORIO__F_THREAD;

	if (warmup) {
		warm.nth = 0;
		if (run_one(&warm) != 0 || warm.result != 0 || warm.health != 0) {
			printf("clean warm-up failed: %d / %d\n", warm.result, warm.health);
			return 3;
		}
		check_pool_settle(); /* pool workers make their rings after they start */
	}
	fds0 = check_count_fds();
	mem0 = check_malloc_in_use();
	r = run_one(rn);
	if (r != 0) {
		printf("the loop did not recover: %d\n", r);
		return 4;
	}
	if (rn->result == CORRUPT) {
		printf("wrong data\n");
		return 5;
	}
	if (!clean_result(rn->result)) {
		printf("unclean result %d\n", rn->result);
		return 6;
	}
	if (rn->health != 0) {
		printf("loop unusable afterwards: %d\n", rn->health);
		return 7;
	}
	if (!warmup)
		return 0;
	fds1 = check_count_fds();
	mem1 = check_malloc_in_use();
	if (fds1 != fds0) {
		printf("fd leak: %d -> %d\n", fds0, fds1);
		return 8;
	}
	if (mem1 != mem0 && !CHECK_ASAN) {
		printf("memory leak: %zu -> %zu\n", mem0, mem1);
		return 9;
	}
	return 0;
}

/* Counts each seam's calls in a clean run of scenario *arg, after a
 * warm-up run (what a first run alone does is counted by the walk's own
 * warm-up-less runs of the thread seam). Prints the counts. */
static int count_child(void *arg)
{
	struct run rn = { .sc = *(int *)arg };

	if (run_one(&rn) != 0 || run_one(&rn) != 0)
		return 3;
	for (int s = 0; s < CORIO__F_COUNT; s++)
		printf("%llu ", (unsigned long long)rn.calls[s]);
	printf("\n");
	return 0;
}

static const int op_errs[] = { -EAGAIN, -ENOMEM, -EINTR, -ECANCELED };
#define MAX_N 12 /* runs per seam and scenario at most */

static void walk(int sc, int *runs, int *failures)
{
	check_child c;
	uint64_t calls[CORIO__F_COUNT] = { 0 };
	char *p;
	int scv = sc;

	/* Count in a child: the counting run may start the pool, which the
	 * parent must never do (children fork from it). */
	check_fork_timeout(count_child, &scv, &c, 20 * CHECK_TIME_SCALE);
	if (!WIFEXITED(c.status) || WEXITSTATUS(c.status) != 0)
		fail_msg("%s: the counting run failed:\n%s", scenarios[sc].name, c.out);
	p = c.out;
	for (int s = 0; s < CORIO__F_COUNT; s++)
		calls[s] = strtoull(p, &p, 10);
	{
		char line[256];
		size_t o = 0;
		for (int s = 0; s < CORIO__F_COUNT; s++)
			o += (size_t)snprintf(line + o, sizeof(line) - o, " %s=%llu",
					      corio__fault_name(s), (unsigned long long)calls[s]);
		print_message("%-13s%s\n", scenarios[sc].name, line);
	}
	for (int s = 0; s < CORIO__F_COUNT; s++) {
		uint64_t n = calls[s] + 1; /* one past the counted: the run's tail */
		uint64_t step = n > MAX_N ? (n + MAX_N - 1) / MAX_N : 1;

		if (calls[s] == 0)
			continue;
		for (uint64_t k = 1; k <= n; k += step) {
			struct run rn = { .sc = sc, .seam = s, .nth = k };
			char st[64];

			rn.err = op_errs[k % 4];
			check_fork_timeout(child, &rn, &c, 10 * CHECK_TIME_SCALE);
			(*runs)++;
			if (!WIFEXITED(c.status) || WEXITSTATUS(c.status) != 0) {
				(*failures)++;
				print_message("FAIL %s, seam %s, call %llu (%s): %s\n%s",
					      scenarios[sc].name, corio__fault_name(s),
					      (unsigned long long)k,
					      s == CORIO__F_OP ? strerror(-rn.err) : "-",
					      check_status_str(c.status, st, sizeof(st)), c.out);
			}
		}
	}
}

/* mask: the scenarios to walk (bit per SC_*). */
static void walk_all(unsigned mask)
{
	int runs = 0, failures = 0;

	for (int sc = 0; sc < SC_N; sc++)
		if (mask & (1u << sc))
			walk(sc, &runs, &failures);
	print_message("%d faulty runs, %d failed\n", runs, failures);
	assert_int_equal(failures, 0);
}

static void test_every_seam(void **state)
{
	ring_cfg = NULL;
	walk_all(~0u);
}

static void test_every_seam_tiny_ring(void **state)
{
	static const corio_config tiny = { .sq_entries = 2, .cq_entries = 4 };

	/* Where the ring's size matters: many ops in flight or in a row. */
	ring_cfg = &tiny;
	walk_all(1u << SC_SLEEP | 1u << SC_ECHO | 1u << SC_FILE | 1u << SC_PROCESS);
	ring_cfg = NULL;
}

/* The environment arms seams too, for programs that are not tests. */
static int env_child(void *arg)
{
	int r;

	(void)arg;
	setenv("CORIO_FAULTS", "op:1:EINTR", 1);
	corio__fault_reset();
	corio__fault_env(); /* read at the first seam; this process passed one */
	r = corio_run(sc_file, NULL);
	printf("file scenario with op:1:EINTR -> %d, hits %llu\n", r,
	       (unsigned long long)corio__fault_hits(CORIO__F_OP));
	return r == -EINTR && corio__fault_hits(CORIO__F_OP) == 1 ? 0 : 1;
}

static void test_environment(void **state)
{
	check_child c;
	char st[64];

	check_fork_timeout(env_child, NULL, &c, 10 * CHECK_TIME_SCALE);
	if (!WIFEXITED(c.status) || WEXITSTATUS(c.status) != 0)
		fail_msg("%s\n%s", check_status_str(c.status, st, sizeof(st)), c.out);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		CHECK_TEST(test_environment),
		CHECK_TEST(test_every_seam),
		CHECK_TEST(test_every_seam_tiny_ring),
	};

	check_init(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

#else /* !CORIO_FAULTS */

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("skip: built without fault injection (make test FAULTS=1)\n");
	return CHECK_SKIP;
}

#endif
