/*
 * stack_scale.c - guard pages intact with a million tasks alive
 * (make stack-scale; not part of make test: about 4.3 GB of RSS).
 *
 * In a forked child: N tasks (default 1,000,000) are spawned and left
 * sleeping, every one on a stack of its own with a guard region below it.
 * The child reports how many mappings it has (against vm.max_map_count) and
 * its RSS, then spawns one more task that recurses without end. The guard
 * must stop it: the process must die of SIGABRT after printing
 * "stack overflow in task last-diver". The same runs with the mprotect
 * fallback (kernels before 6.13) at 20,000 tasks, under its documented
 * ceiling of about 32,000.
 *
 *   build/tests/stack_scale [tasks]
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "corio.h"
#include "internal.h"

static long ntasks;

static int sleeper(void *arg)
{
	(void)arg;
	return corio_sleep_ms(600000);
}

#include "runaway.h"

static int diver(void *arg)
{
	(void)arg;
	return runaway(0);
}

static long count_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	long n = 0;
	int c;

	if (!f)
		return -1;
	while ((c = getc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static long read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &v) == 1)
			break;
	fclose(f);
	return v;
}

static int scale_main(void *arg)
{
	corio_spawn_attr attr = { 0, "last-diver" };
	corio_stats st;
	uint64_t t0 = corio_now_ns();

	(void)arg;
	for (long i = 0; i < ntasks; i++) {
		corio_task *t = corio_spawn(sleeper, NULL);
		if (!t) {
			fprintf(stderr, "child: spawn %ld failed: %s\n", i, strerror(errno));
			return 2;
		}
		corio_detach(t);
	}
	corio_yield(); /* every sleeper runs once: its stack is touched */
	corio_loop_stats(&st);
	fprintf(stderr,
		"child: %ld tasks alive, %llu stacks mapped, guard kind %u (%s), "
		"%ld mappings (vm.max_map_count %ld), RSS %ld MiB, %.1f s\n",
		ntasks, (unsigned long long)st.stacks_mapped, st.guard_kind,
		st.guard_kind == 1 ? "MADV_GUARD_INSTALL" : "mprotect",
		count_lines("/proc/self/maps"), read_long("/proc/sys/vm/max_map_count"),
		rss_kib() / 1024, (double)(corio_now_ns() - t0) / 1e9);
	if (!corio_spawn_ex(diver, NULL, &attr)) {
		fprintf(stderr, "child: the diver could not spawn: %s\n", strerror(errno));
		return 3;
	}
	corio_sleep_ms(60000); /* the diver overflows first */
	fprintf(stderr, "child: the diver came back\n");
	return 4;
}

/* Runs the scale test in a child; 0 when it died as it should. */
static int run(long n, int fallback)
{
	int pfd[2], status;
	char out[8192];
	size_t len = 0;
	ssize_t k;
	pid_t pid;

	if (pipe(pfd) < 0)
		return 1;
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		close(pfd[0]);
		dup2(pfd[1], 2);
		if (fallback)
			corio__stack_force_mprotect();
		ntasks = n;
		alarm(300);
		_exit(corio_run(scale_main, NULL) & 255);
	}
	close(pfd[1]);
	while (len < sizeof(out) - 1 && (k = read(pfd[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)k;
	out[len] = '\0';
	close(pfd[0]);
	waitpid(pid, &status, 0);
	printf("%s%s", out, len && out[len - 1] != '\n' ? "\n" : "");
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT) {
		printf("stack-scale: FAIL (%s, %ld tasks): the child did not abort (status 0x%x)\n",
		       fallback ? "mprotect" : "guard regions", n, status);
		return 1;
	}
	if (!strstr(out, "stack overflow in task last-diver")) {
		printf("stack-scale: FAIL (%s, %ld tasks): no overflow report naming the task\n",
		       fallback ? "mprotect" : "guard regions", n);
		return 1;
	}
	printf("stack-scale: ok (%s, %ld tasks): the overflow was caught and named\n",
	       fallback ? "mprotect" : "guard regions", n);
	return 0;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 1000000;
	int r = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (n < 1)
		n = 1;
	r |= run(n, 0);
	r |= run(n < 20000 ? n : 20000, 1);
	return r;
}
