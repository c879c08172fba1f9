/*
 * test_io_fixed.c - registered files and registered buffers: a handle works
 * in every I/O call, reads and writes through registered buffers, the
 * errors and misuse of each call, and the table's limit.
 */
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/uio.h>

#include "check.h"

static char path[64];

static int make_file(void)
{
	int fd;

	snprintf(path, sizeof(path), "/tmp/corio-fixed-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "0123456789abcdef", 16), 16);
	return fd;
}

static int handle_main(void *arg)
{
	int fd = make_file(), h;
	char buf[16] = { 0 };

	(void)arg;
	h = corio_register_file(fd);
	assert_true(h >= 0);
	assert_true(h & CORIO_FIXED_FILE_BIT);
	/* The table holds the file: the fd can go. */
	assert_int_equal(close(fd), 0);
	assert_int_equal(corio_read(h, buf, 4, 10), 4);
	assert_memory_equal(buf, "abcd", 4);
	assert_int_equal(corio_write(h, "XY", 2, 0), 2);
	assert_int_equal(corio_read(h, buf, 2, 0), 2);
	assert_memory_equal(buf, "XY", 2);
	assert_int_equal(corio_fsync(h), 0);
	/* Closing the handle unregisters it; a second time it is gone. */
	assert_int_equal(corio_close(h), 0);
	assert_int_equal(corio_close(h), -EBADF);
	assert_int_equal(corio_unregister_file(h), -EBADF);
	assert_int_equal(corio_read(h, buf, 1, 0), -EBADF);
	unlink(path);
	return 0;
}

static void test_registered_file(void **state)
{
	assert_int_equal(check_run(handle_main, NULL), 0);
}

static int buffers_main(void *arg)
{
	static char arena[2][4096] __attribute__((aligned(4096)));
	struct iovec iov[2] = { { arena[0], 4096 }, { arena[1], 4096 } };
	int fd = make_file();
	char outside[8];

	(void)arg;
	assert_int_equal(corio_register_buffers(iov, 2), 0);
	assert_int_equal(corio_register_buffers(iov, 2), -EBUSY);
	assert_int_equal(corio_read_fixed(fd, arena[1], 16, 0, 1), 16);
	assert_memory_equal(arena[1], "0123456789abcdef", 16);
	memcpy(arena[0] + 100, "fixed", 5);
	assert_int_equal(corio_write_fixed(fd, arena[0] + 100, 5, 3, 0), 5);
	assert_int_equal(corio_read(fd, outside, 8, 0), 8);
	assert_memory_equal(outside, "012fixed", 8);
	/* A range outside the buffer named is refused by the kernel. */
	assert_int_equal(corio_read_fixed(fd, outside, 8, 0, 0), -EFAULT);
	assert_int_equal(corio_read_fixed(fd, arena[0], 8, 0, 7), -EFAULT);
	/* Both fast paths at once: a handle and a registered buffer. */
	{
		int h = corio_register_file(fd);
		assert_true(h >= 0);
		assert_int_equal(corio_read_fixed(h, arena[0], 3, 0, 0), 3);
		assert_memory_equal(arena[0], "012", 3);
		assert_int_equal(corio_unregister_file(h), 0);
	}
	assert_int_equal(corio_unregister_buffers(), 0);
	assert_int_equal(corio_unregister_buffers(), -ENXIO);
	assert_int_equal(corio_read_fixed(fd, arena[0], 8, 0, 0), -EFAULT);
	assert_int_equal(corio_close(fd), 0);
	unlink(path);
	return 0;
}

static void test_registered_buffers(void **state)
{
	assert_int_equal(check_run(buffers_main, NULL), 0);
}

static int errors_main(void *arg)
{
	char b[4];
	struct iovec iov = { b, sizeof(b) };

	(void)arg;
	assert_int_equal(corio_register_file(-1), -EBADF);
	assert_int_equal(corio_register_file(CORIO_FIXED_FILE_BIT | 3), -EBADF);
	assert_int_equal(corio_unregister_file(5), -EBADF);
	assert_int_equal(corio_unregister_file(CORIO_FIXED_FILE_BIT | 99999), -EBADF);
	assert_int_equal(corio_register_buffers(NULL, 1), -EINVAL);
	assert_int_equal(corio_register_buffers(&iov, 0), -EINVAL);
	assert_int_equal(corio_read_fixed(-1, b, 1, 0, 0), -EBADF);
	assert_int_equal(corio_read_fixed(0, NULL, 1, 0, 0), -EFAULT);
	assert_int_equal(corio_read_fixed(0, b, 1, -2, 0), -EINVAL);
	assert_int_equal(corio_write_fixed(-1, b, 1, 0, 0), -EBADF);
	return 0;
}

static void test_errors(void **state)
{
	assert_int_equal(check_run(errors_main, NULL), 0);
}

static void test_outside_loop(void **state)
{
	char b[4];
	struct iovec iov = { b, sizeof(b) };

	assert_int_equal(corio_register_file(0), -EPERM);
	assert_int_equal(corio_unregister_file(CORIO_FIXED_FILE_BIT), -EPERM);
	assert_int_equal(corio_register_buffers(&iov, 1), -EPERM);
	assert_int_equal(corio_unregister_buffers(), -EPERM);
	assert_int_equal(corio_read_fixed(0, b, 1, 0, 0), -EPERM);
}

/* The table has 4096 slots: the next registration says -ENFILE, and a
 * freed slot is handed out again. */
static int full_main(void *arg)
{
	static int hs[4096];
	int fd = make_file(), h;

	(void)arg;
	for (int i = 0; i < 4096; i++) {
		hs[i] = corio_register_file(fd);
		assert_true(hs[i] >= 0);
	}
	assert_int_equal(corio_register_file(fd), -ENFILE);
	assert_int_equal(corio_unregister_file(hs[17]), 0);
	h = corio_register_file(fd);
	assert_int_equal(h, hs[17]);
	for (int i = 0; i < 4096; i++)
		assert_int_equal(corio_close(hs[i]), 0);
	assert_int_equal(corio_close(fd), 0);
	unlink(path);
	return 0;
}

static void test_table_full(void **state)
{
	assert_int_equal(check_run(full_main, NULL), 0);
}

/* Under an open file limit below 4096 (1024 is a common default) the
 * kernel would refuse a 4096-slot table: the table takes the limit's size
 * instead, and says -ENFILE when that is full. In a child: the limit is
 * the process's. */
static int low_limit_main(void *arg)
{
	int fd = make_file(), n = 0, r, bad = 0;

	(void)arg;
	while ((r = corio_register_file(fd)) >= 0)
		n++;
	printf("soft RLIMIT_NOFILE 256: %d handles, then %d\n", n, r);
	for (int i = 0; i < n; i++)
		bad += corio_unregister_file(i | CORIO_FIXED_FILE_BIT) != 0;
	bad += corio_unregister_file(256 | CORIO_FIXED_FILE_BIT) != -EBADF;
	corio_close(fd);
	unlink(path);
	return r == -ENFILE && n == 256 && bad == 0 ? 0 : 1;
}

static int low_limit_child(void *arg)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 2;
	rl.rlim_cur = 256;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 3;
	return corio_run(low_limit_main, arg) == 0 ? 0 : 1;
}

static void test_table_follows_file_limit(void **state)
{
	check_child c;
	char s[64];

	check_fork(low_limit_child, NULL, &c);
	print_message("%s", c.out);
	if (!WIFEXITED(c.status) || WEXITSTATUS(c.status) != 0)
		fail_msg("child: %s; output:\n%s", check_status_str(c.status, s, sizeof(s)), c.out);
}

/* A task cancelled while reading a registered pipe returns -ECANCELED
 * once the read's own completion arrived, and the pipe still works. */
static int blocked_reader(void *arg)
{
	char b;
	return (int)corio_read(*(int *)arg, &b, 1, -1);
}

static int cancel_main(void *arg)
{
	int p[2], h;
	corio_task *t;
	char b = 0;

	(void)arg;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	h = corio_register_file(p[0]);
	assert_true(h >= 0);
	t = corio_spawn(blocked_reader, &h);
	assert_non_null(t);
	assert_int_equal(corio_sleep_ms(5), 0);
	assert_int_equal(corio_cancel(t), 0);
	assert_int_equal(corio_join(t), -ECANCELED);
	assert_int_equal(write(p[1], "z", 1), 1);
	assert_int_equal(corio_read(h, &b, 1, -1), 1);
	assert_int_equal(b, 'z');
	assert_int_equal(corio_close(h), 0);
	close(p[0]);
	close(p[1]);
	return 0;
}

static void test_cancel_registered(void **state)
{
	assert_int_equal(check_run(cancel_main, NULL), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		CHECK_TEST(test_registered_file),
		CHECK_TEST(test_registered_buffers),
		CHECK_TEST(test_errors),
		CHECK_TEST(test_outside_loop),
		CHECK_TEST(test_table_full),
		CHECK_TEST(test_table_follows_file_limit),
		CHECK_TEST(test_cancel_registered),
	};

	check_init(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
