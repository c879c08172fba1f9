/*
 * test_fuzz_regress.c - replays the fuzzers' inputs kept in the tree
 * (tests/fuzz/corpus/<target>/, the seeds, and tests/fuzz/regress/<target>/,
 * every crash found so far) through the same harness functions that the
 * libFuzzer programs call (tests/fuzz/harness_*.h), with the normal build.
 *
 * Each input runs in a forked child (a broken invariant aborts there and
 * its message comes back). The API-sequence inputs are also checked for
 * leaks: malloc's bytes in use must be the same after the run as before
 * (LeakSanitizer does this in the fuzzer build).
 */
#include "check.h"

#include <sys/stat.h>

#include "fuzz/harness_api.h"
#include "fuzz/harness_http.h"
#include "fuzz/harness_procpool.h"

static char fuzz_dir[1100];

/* tests/fuzz of the source tree: $CORIO_FUZZ_DIR, else found walking up
 * from the program (build/tests/, build/san-*\/tests/, ...), else ./tests/fuzz. */
static int find_fuzz_dir(void)
{
	const char *env = getenv("CORIO_FUZZ_DIR");
	char exe[1024], probe[1100];
	ssize_t n;
	struct stat st;

	if (env && *env) {
		snprintf(fuzz_dir, sizeof(fuzz_dir), "%s", env);
		return stat(fuzz_dir, &st) == 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		for (int up = 0; up < 5; up++) {
			char *slash = strrchr(exe, '/');
			if (!slash)
				break;
			*slash = '\0';
			snprintf(probe, sizeof(probe), "%s/tests/fuzz/harness_api.h", exe);
			if (stat(probe, &st) == 0) {
				snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/tests/fuzz", exe);
				return 1;
			}
		}
	}
	snprintf(fuzz_dir, sizeof(fuzz_dir), "tests/fuzz");
	return stat("tests/fuzz/harness_api.h", &st) == 0;
}

typedef struct replay {
	int (*one)(const uint8_t *, size_t);
	const uint8_t *data;
	size_t size;
	int leak_check;
} replay;

static int replay_child(void *arg)
{
	const replay *r = arg;
	size_t before = check_malloc_in_use(), after;

	r->one(r->data, r->size);
	after = check_malloc_in_use();
	if (r->leak_check && after != before) {
		fprintf(stderr, "leak: %zu bytes in use before the input, %zu after (%+lld)\n", before,
			after, (long long)after - (long long)before);
		return 3;
	}
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replays every file of <fuzz_dir>/<sub>/<target>; returns how many. */
static int replay_dir(const char *sub, const char *target, int (*one)(const uint8_t *, size_t),
		      int leak_check)
{
	char dir[1200], path[1500];
	char *names[512];
	size_t nn = 0;
	struct dirent *e;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/%s/%s", fuzz_dir, sub, target);
	d = opendir(dir);
	if (!d)
		return 0; /* no such directory: nothing kept yet */
	while ((e = readdir(d)) != NULL && nn < sizeof(names) / sizeof(names[0]))
		if (e->d_name[0] != '.')
			names[nn++] = strdup(e->d_name);
	closedir(d);
	qsort(names, nn, sizeof(names[0]), cmp_names);

	for (size_t i = 0; i < nn; i++) {
		static check_child c;
		static uint8_t buf[1 << 20];
		replay r = { one, buf, 0, leak_check };
		FILE *f;
		char st[64];

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		f = fopen(path, "rb");
		if (!f)
			fail_msg("cannot open %s: %s", path, strerror(errno));
		r.size = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		check_fork(replay_child, &r, &c);
		if (!WIFEXITED(c.status) || WEXITSTATUS(c.status) != 0)
			fail_msg("%s (%zu bytes): %s\n%s", path, r.size,
				 check_status_str(c.status, st, sizeof(st)), c.out);
		free(names[i]);
	}
	print_message("%s/%s: %zu input(s) replayed\n", sub, target, nn);
	return (int)nn;
}

static void replay_target(const char *target, int (*one)(const uint8_t *, size_t), int leak_check)
{
	int n;

	if (!fuzz_dir[0] && !find_fuzz_dir())
		CHECK_SKIP_TEST("tests/fuzz not found (set CORIO_FUZZ_DIR)\n");
	n = replay_dir("corpus", target, one, leak_check);
	n += replay_dir("regress", target, one, leak_check);
	assert_true(n > 0); /* the seeds at least */
}

static void test_replay_http(void **state)
{
	replay_target("http", fuzz_http_one, 0);
}

static void test_replay_procpool(void **state)
{
	replay_target("procpool", fuzz_procpool_one, 0);
}

static void test_replay_api(void **state)
{
	replay_target("api", fuzz_api_one, 1);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		CHECK_TEST(test_replay_http),
		CHECK_TEST(test_replay_procpool),
		CHECK_TEST(test_replay_api),
	};

	check_init(argc, argv);
	if (!find_fuzz_dir()) {
		printf("skip: tests/fuzz not found (set CORIO_FUZZ_DIR)\n");
		return CHECK_SKIP;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
