/*
 * test_io_file.c - files (aiofiles): corio_open/openat/read/write/readv/
 * writev/fsync/fdatasync/statx/close/read_file/write_all.
 *
 * Every file lives in one mkdtemp directory under /tmp, made after
 * check_init and removed when the tests are done.
 *
 *   success paths     open flags (O_CLOEXEC added), read/write, positions:
 *                     off = -1 uses and advances the file position, any
 *                     other offset is pread/pwrite and leaves it alone;
 *                     partial reads at EOF; vectored I/O; O_DIRECT; fsync,
 *                     fdatasync, statx
 *   read_file         regular, empty, exactly max, over max, /proc (statx
 *                     says 0 bytes), a stream (a pipe opened through
 *                     /proc/self/fd), missing, a directory
 *   write_all         *written on success and when a deadline stops it
 *   errors            EBADF, ENOENT, EISDIR, EACCES (not as root), EFAULT,
 *                     huge lengths capped, bad offsets and iovec counts,
 *                     EPERM outside a loop (corio_close still closes)
 *   close             a cancelled task still closes (no fd leak), and a
 *                     close ends another task's pending read on that fd
 *   no effect         a cancelled task, or one past its deadline: every
 *                     call fails at once and nothing happens
 *   FIFO              an open with nobody at the other end (io_uring's
 *                     openat does not wait, unlike open(2)): recorded
 *   cancellation      table-driven, on reads and writes that block (a pipe
 *                     stands for "a file op that blocks"): cancel while
 *                     suspended, cancelled before the call, deadline scope,
 *                     shield scope, deadline inside a shield. Afterwards
 *                     the pipe still works and nothing was eaten or
 *                     written by the interrupted call.
 *   same turn         data that arrives in the same turn as the cancel is
 *                     not lost
 */
#include <sys/mman.h>

#include <sys/socket.h>

#include "check.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/uio.h>

/* Upper bounds only; valgrind and TSan are slower (check.h). */
#define SLACK_MS (200 * CHECK_TIME_SCALE)

static char g_dir[64]; /* the test directory */

/* ------------------------------------------------------------------------
 * Helpers (plain system calls, outside corio)
 * ------------------------------------------------------------------------ */

static const char *path_of(const char *name)
{
	static char buf[4][256];
	static int i;
	char *p = buf[i++ & 3];

	snprintf(p, sizeof(buf[0]), "%s/%s", g_dir, name);
	return p;
}

static void put_file(const char *name, const void *data, size_t n)
{
	int fd = open(path_of(name), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	close(fd);
}

static size_t get_file(const char *name, void *buf, size_t cap)
{
	int fd = open(path_of(name), O_RDONLY | O_CLOEXEC);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, cap);
	assert_true(n >= 0);
	close(fd);
	return (size_t)n;
}

static off_t pos_of(int fd)
{
	return lseek(fd, 0, SEEK_CUR);
}

static int fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static void fill_pattern(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(seed * 131u + i * 7u + (i >> 8));
}

static void rm_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[512];

	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (unlink(p) < 0)
			rm_tree(p); /* a directory: emptied, then removed */
	}
	closedir(d);
	rmdir(dir);
}

static void run_main(int (*fn)(void *), void *arg)
{
	alarm(20); /* a wait nobody ends would hang the whole program */
	assert_int_equal(check_run(fn, arg), 0);
	alarm(0);
}

static uint64_t ms_between(uint64_t a, uint64_t b)
{
	return b > a ? (b - a) / 1000000u : 0;
}

static uint64_t switches(void)
{
	corio_stats st;

	if (corio_loop_stats(&st) < 0)
		return 0;
	return st.switches;
}

/* Fills the pipe's write end until it would block; returns the bytes. */
static size_t fill_pipe(int wfd, char c)
{
	char chunk[4096];
	size_t total = 0;
	int fl = fcntl(wfd, F_GETFL);

	memset(chunk, c, sizeof(chunk));
	assert_int_equal(fcntl(wfd, F_SETFL, fl | O_NONBLOCK), 0);
	for (;;) {
		ssize_t n = write(wfd, chunk, sizeof(chunk));
		if (n < 0) {
			assert_int_equal(errno, EAGAIN);
			break;
		}
		total += (size_t)n;
		assert_true(total < ((size_t)64 << 20));
	}
	/* One byte more, in case the last chunk did not fit whole. */
	while (write(wfd, chunk, 1) == 1)
		total++;
	assert_int_equal(fcntl(wfd, F_SETFL, fl), 0);
	return total;
}

/* Reads what the pipe holds now (non-blocking); counts bytes equal to c
 * in *nc, returns the total. */
static size_t drain_pipe(int rfd, char c, size_t *nc, char *tail, size_t tailcap, size_t *ntail)
{
	char chunk[4096];
	size_t total = 0, same = 0, nt = 0;
	int fl = fcntl(rfd, F_GETFL);

	assert_int_equal(fcntl(rfd, F_SETFL, fl | O_NONBLOCK), 0);
	for (;;) {
		ssize_t n = read(rfd, chunk, sizeof(chunk));
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++) {
			if (chunk[i] == c)
				same++;
			else if (nt < tailcap)
				tail[nt++] = chunk[i];
		}
		total += (size_t)n;
	}
	assert_int_equal(fcntl(rfd, F_SETFL, fl), 0);
	if (nc)
		*nc = same;
	if (ntail)
		*ntail = nt;
	return total;
}

/* ------------------------------------------------------------------------
 * Success paths
 * ------------------------------------------------------------------------ */

static int open_main(void *arg)
{
	struct statx st;
	char buf[16] = { 0 };
	int fd, fd2, dfd;

	fd = corio_open(path_of("open.txt"), O_RDWR | O_CREAT | O_TRUNC, 0640);
	assert_true(fd >= 0);
	/* O_CLOEXEC is always added. */
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(corio_write(fd, "hello", 5, 0), 5);
	assert_int_equal(corio_statx(AT_FDCWD, path_of("open.txt"), 0, STATX_MODE | STATX_SIZE,
				     &st), 0);
	assert_int_equal(st.stx_size, 5);
	assert_true(S_ISREG(st.stx_mode));
	assert_int_equal(st.stx_mode & 0777, 0640); /* umask 0 in this test */

	/* O_EXCL on a file that exists. */
	assert_int_equal(corio_open(path_of("open.txt"), O_RDWR | O_CREAT | O_EXCL, 0600),
			 -EEXIST);

	/* openat relative to a directory fd, and with AT_FDCWD. */
	dfd = corio_open(g_dir, O_RDONLY | O_DIRECTORY, 0);
	assert_true(dfd >= 0);
	fd2 = corio_openat(dfd, "open.txt", O_RDONLY, 0);
	assert_true(fd2 >= 0);
	assert_true(fcntl(fd2, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(corio_read(fd2, buf, sizeof(buf), 0), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(corio_close(fd2), 0);
	fd2 = corio_openat(AT_FDCWD, path_of("open.txt"), O_RDONLY, 0);
	assert_true(fd2 >= 0);
	assert_int_equal(corio_close(fd2), 0);
	/* A relative path with a bad dirfd; a missing file under dfd. */
	assert_int_equal(corio_openat(-1, "open.txt", O_RDONLY, 0), -EBADF);
	assert_int_equal(corio_openat(dfd, "nope.txt", O_RDONLY, 0), -ENOENT);
	assert_int_equal(corio_statx(dfd, "open.txt", 0, STATX_SIZE, &st), 0);
	assert_int_equal(st.stx_size, 5);
	/* statx of the fd itself (AT_EMPTY_PATH). */
	assert_int_equal(corio_statx(fd, "", AT_EMPTY_PATH, STATX_SIZE, &st), 0);
	assert_int_equal(st.stx_size, 5);

	assert_int_equal(corio_fsync(fd), 0);
	assert_int_equal(corio_fdatasync(fd), 0);
	assert_int_equal(corio_close(dfd), 0);
	assert_int_equal(corio_close(fd), 0);
	assert_false(fd_is_open(fd));
	return 0;
}

static void test_open_statx_fsync(void **state)
{
	mode_t old = umask(0);

	run_main(open_main, NULL);
	umask(old);
}

/* off = -1: the file position, which advances; other offsets leave it. */
static int position_main(void *arg)
{
	char buf[32];
	int fd = corio_open(path_of("pos.txt"), O_RDWR | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(pos_of(fd), 0);
	assert_int_equal(corio_write(fd, "abcd", 4, -1), 4);
	assert_int_equal(pos_of(fd), 4);
	assert_int_equal(corio_write(fd, "efgh", 4, -1), 4);
	assert_int_equal(pos_of(fd), 8);
	/* pwrite: the position stays. */
	assert_int_equal(corio_write(fd, "XY", 2, 1), 2);
	assert_int_equal(pos_of(fd), 8);
	assert_int_equal(corio_write(fd, "tail", 4, 20), 4); /* a hole */
	assert_int_equal(pos_of(fd), 8);

	/* Reads: -1 from the position (which advances), others leave it. */
	assert_int_equal(lseek(fd, 2, SEEK_SET), 2);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(corio_read(fd, buf, 3, -1), 3);
	assert_memory_equal(buf, "Yde", 3);
	assert_int_equal(pos_of(fd), 5);
	assert_int_equal(corio_read(fd, buf, 4, 0), 4);
	assert_memory_equal(buf, "aXYd", 4);
	assert_int_equal(pos_of(fd), 5);
	assert_int_equal(corio_read(fd, buf, 3, -1), 3);
	assert_memory_equal(buf, "fgh", 3);
	assert_int_equal(pos_of(fd), 8);
	/* Through the hole to the end. */
	memset(buf, 'z', sizeof(buf));
	assert_int_equal(corio_read(fd, buf, sizeof(buf), -1), 16);
	assert_memory_equal(buf, "\0\0\0\0\0\0\0\0\0\0\0\0tail", 16);
	assert_int_equal(pos_of(fd), 24);
	assert_int_equal(corio_read(fd, buf, sizeof(buf), -1), 0);
	assert_int_equal(pos_of(fd), 24);
	/* O_APPEND with off -1 appends. */
	assert_int_equal(corio_close(fd), 0);
	fd = corio_open(path_of("pos.txt"), O_WRONLY | O_APPEND, 0);
	assert_true(fd >= 0);
	assert_int_equal(corio_write(fd, "!", 1, -1), 1);
	assert_int_equal(pos_of(fd), 25);
	assert_int_equal(corio_close(fd), 0);
	assert_int_equal(get_file("pos.txt", buf, sizeof(buf)), 25);
	assert_int_equal(buf[24], '!');
	return 0;
}

static void test_file_position(void **state)
{
	run_main(position_main, NULL);
}

/* Short reads at the end of the file, with and without the position. */
static int eof_main(void *arg)
{
	char buf[100];
	int fd;

	put_file("ten.txt", "0123456789", 10);
	fd = corio_open(path_of("ten.txt"), O_RDONLY, 0);
	assert_true(fd >= 0);
	assert_int_equal(corio_read(fd, buf, sizeof(buf), 0), 10);
	assert_memory_equal(buf, "0123456789", 10);
	assert_int_equal(corio_read(fd, buf, sizeof(buf), 5), 5);
	assert_memory_equal(buf, "56789", 5);
	assert_int_equal(corio_read(fd, buf, sizeof(buf), 10), 0);
	assert_int_equal(corio_read(fd, buf, sizeof(buf), 1000), 0);
	assert_int_equal(corio_read(fd, buf, 0, 0), 0);
	assert_int_equal(corio_read(fd, NULL, 0, 0), 0);
	/* Position reads: 4, 4, 2, 0. */
	assert_int_equal(corio_read(fd, buf, 4, -1), 4);
	assert_int_equal(corio_read(fd, buf, 4, -1), 4);
	assert_int_equal(corio_read(fd, buf, 4, -1), 2);
	assert_memory_equal(buf, "89", 2);
	assert_int_equal(corio_read(fd, buf, 4, -1), 0);
	assert_int_equal(pos_of(fd), 10);
	assert_int_equal(corio_close(fd), 0);
	return 0;
}

static void test_partial_read_at_eof(void **state)
{
	run_main(eof_main, NULL);
}

static int vec_main(void *arg)
{
	char a[3], b[5], c[7], all[32];
	struct iovec wv[3] = { { "abc", 3 }, { "", 0 }, { "defghijkl", 9 } };
	struct iovec rv[3] = { { a, sizeof(a) }, { b, sizeof(b) }, { c, sizeof(c) } };
	int fd = corio_open(path_of("vec.txt"), O_RDWR | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	/* writev at the position, then at an offset. */
	assert_int_equal(corio_writev(fd, wv, 3, -1), 12);
	assert_int_equal(pos_of(fd), 12);
	assert_int_equal(corio_writev(fd, wv, 1, 12), 3);
	assert_int_equal(pos_of(fd), 12);
	assert_int_equal(get_file("vec.txt", all, sizeof(all)), 15);
	assert_memory_equal(all, "abcdefghijklabc", 15);

	/* readv scatters in order; short at the end of the file. */
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	memset(c, 0, sizeof(c));
	assert_int_equal(corio_readv(fd, rv, 3, 0), 15);
	assert_memory_equal(a, "abc", 3);
	assert_memory_equal(b, "defgh", 5);
	assert_memory_equal(c, "ijklabc", 7);
	assert_int_equal(pos_of(fd), 12);
	memset(c, 0, sizeof(c));
	assert_int_equal(corio_readv(fd, rv, 3, 6), 9);
	assert_memory_equal(a, "ghi", 3);
	assert_memory_equal(b, "jklab", 5);
	assert_memory_equal(c, "c", 1);
	/* At the position, which advances. */
	assert_int_equal(lseek(fd, 10, SEEK_SET), 10);
	assert_int_equal(corio_readv(fd, rv, 2, -1), 5);
	assert_memory_equal(a, "kla", 3);
	assert_memory_equal(b, "bc", 2);
	assert_int_equal(pos_of(fd), 15);
	assert_int_equal(corio_readv(fd, rv, 3, -1), 0);
	/* No vectors at all. */
	assert_int_equal(corio_readv(fd, rv, 0, 0), 0);
	assert_int_equal(corio_writev(fd, NULL, 0, 0), 0);
	assert_int_equal(corio_close(fd), 0);
	return 0;
}

static void test_readv_writev(void **state)
{
	run_main(vec_main, NULL);
}

/* O_DIRECT with 4096-aligned buffers, offsets and lengths. */
struct odirect {
	int skipped;
};

static int odirect_main(void *arg)
{
	struct odirect *o = arg;
	unsigned char *w = NULL, *r = NULL;
	int fd;

	fd = corio_open(path_of("direct.bin"), O_RDWR | O_CREAT | O_TRUNC | O_DIRECT, 0644);
	if (fd == -EINVAL) {
		o->skipped = 1;
		return 0;
	}
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFL) & O_DIRECT);
	assert_int_equal(posix_memalign((void **)&w, 4096, 3 * 4096), 0);
	assert_int_equal(posix_memalign((void **)&r, 4096, 3 * 4096), 0);
	fill_pattern(w, 3 * 4096, 3);
	ssize_t n = corio_write(fd, w, 3 * 4096, 0);
	if (n == -EINVAL) {
		o->skipped = 1;
	} else {
		assert_int_equal(n, 3 * 4096);
		memset(r, 0, 3 * 4096);
		assert_int_equal(corio_read(fd, r, 2 * 4096, 4096), 2 * 4096);
		assert_memory_equal(r, w + 4096, 2 * 4096);
		/* Past the end: short, then nothing. */
		assert_int_equal(corio_read(fd, r, 3 * 4096, 2 * 4096), 4096);
		assert_memory_equal(r, w + 2 * 4096, 4096);
		assert_int_equal(corio_read(fd, r, 4096, 3 * 4096), 0);
		/* Vectored, two aligned pages. */
		struct iovec iv[2] = { { r + 4096, 4096 }, { r, 4096 } };
		assert_int_equal(corio_readv(fd, iv, 2, 0), 2 * 4096);
		assert_memory_equal(r + 4096, w, 4096);
		assert_memory_equal(r, w + 4096, 4096);
		assert_int_equal(corio_fdatasync(fd), 0);
	}
	free(w);
	free(r);
	assert_int_equal(corio_close(fd), 0);
	return 0;
}

static void test_odirect(void **state)
{
	struct odirect o = { 0 };

	run_main(odirect_main, &o);
	if (o.skipped)
		CHECK_SKIP_TEST("the filesystem of %s refuses O_DIRECT\n", g_dir);
}

/* A bigger file in chunks, compared byte for byte. */
static int big_main(void *arg)
{
	size_t n = 3u << 20;
	unsigned char *w = malloc(n), *r = malloc(n);
	size_t done = 0;
	int fd = corio_open(path_of("big.bin"), O_RDWR | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0 && w && r);
	fill_pattern(w, n, 9);
	assert_int_equal(corio_write_all(fd, w, n, -1, &done), (ssize_t)n);
	assert_int_equal(done, n);
	assert_int_equal(pos_of(fd), (off_t)n);
	memset(r, 0, n);
	done = 0;
	while (done < n) {
		/* Never more than r has room for (buf_check would catch it). */
		size_t want = n - done < 65536 + 17 ? n - done : 65536 + 17;
		ssize_t k = corio_read(fd, r + done, want, (int64_t)done);
		assert_true(k > 0);
		done += (size_t)k;
	}
	assert_memory_equal(r, w, n);
	assert_int_equal(corio_close(fd), 0);
	free(w);
	free(r);
	return 0;
}

static void test_big_file_roundtrip(void **state)
{
	run_main(big_main, NULL);
}

/* ------------------------------------------------------------------------
 * read_file
 * ------------------------------------------------------------------------ */

static int read_file_main(void *arg)
{
	void *d = (void *)1;
	char big[1000];

	/* A regular file: its bytes, NUL-terminated. */
	put_file("rf.txt", "some text\n", 10);
	assert_int_equal(corio_read_file(path_of("rf.txt"), &d, 0), 10);
	assert_non_null(d);
	assert_string_equal(d, "some text\n");
	free(d);

	/* Empty: 0 and an empty string. */
	put_file("empty.txt", "", 0);
	d = (void *)1;
	assert_int_equal(corio_read_file(path_of("empty.txt"), &d, 0), 0);
	assert_non_null(d);
	assert_string_equal(d, "");
	free(d);

	/* Exactly max bytes is fine; one more is -EFBIG. */
	fill_pattern((unsigned char *)big, sizeof(big), 1);
	put_file("k.bin", big, sizeof(big));
	assert_int_equal(corio_read_file(path_of("k.bin"), &d, sizeof(big)), sizeof(big));
	assert_memory_equal(d, big, sizeof(big));
	assert_int_equal(((char *)d)[sizeof(big)], '\0');
	free(d);
	d = (void *)1;
	assert_int_equal(corio_read_file(path_of("k.bin"), &d, sizeof(big) - 1), -EFBIG);
	assert_null(d);

	/* Missing file, a directory, NULL arguments. */
	d = (void *)1;
	assert_int_equal(corio_read_file(path_of("missing.txt"), &d, 0), -ENOENT);
	assert_null(d);
	d = (void *)1;
	assert_int_equal(corio_read_file(g_dir, &d, 0), -EISDIR);
	assert_null(d);
	assert_int_equal(corio_read_file(NULL, &d, 0), -EFAULT);
	assert_int_equal(corio_read_file(path_of("rf.txt"), NULL, 0), -EFAULT);
	return 0;
}

static void test_read_file(void **state)
{
	run_main(read_file_main, NULL);
}

/* /proc files say 0 bytes in statx: read_file grows its buffer. */
static int read_proc_main(void *arg)
{
	struct statx st;
	void *d = NULL;
	ssize_t n;

	assert_int_equal(corio_statx(AT_FDCWD, "/proc/self/status", 0, STATX_SIZE, &st), 0);
	assert_int_equal(st.stx_size, 0);
	n = corio_read_file("/proc/self/status", &d, 0);
	assert_true(n > 0);
	assert_int_equal(strlen(d), (size_t)n);
	assert_contains(d, "Name:");
	assert_contains(d, "VmRSS:");
	free(d);

	/* Larger than the first 4096-byte guess: several growths. */
	d = NULL;
	n = corio_read_file("/proc/self/smaps", &d, 0);
	assert_true(n > 4096);
	assert_int_equal(strlen(d), (size_t)n);
	free(d);
	return 0;
}

static void test_read_file_proc(void **state)
{
	run_main(read_proc_main, NULL);
}

/* A /proc file larger than a small max (under the first 4096-byte guess)
 * is -EFBIG, as a regular file would be. */
struct proc_max {
	ssize_t r;
	void   *d;
};

static int read_proc_max_main(void *arg)
{
	struct proc_max *pm = arg;

	pm->d = (void *)1;
	pm->r = corio_read_file("/proc/self/status", &pm->d, 64);
	return 0;
}

static void test_read_file_proc_over_max(void **state)
{
	struct proc_max pm = { 0 };

	run_main(read_proc_max_main, &pm);
	if (pm.r >= 0) {
		free(pm.d);
		fail_msg("corio_read_file(\"/proc/self/status\", max 64) returned %zd bytes "
			 "(more than max) instead of -EFBIG", pm.r);
	}
	assert_int_equal(pm.r, -EFBIG);
	assert_null(pm.d);
}

/* A stream (statx size 0) of a known length, through /proc/self/fd: a pipe
 * holding `len` bytes, its write end closed by a task after 20 ms. */
struct stream {
	int      p[2];
	size_t   len, max;
	ssize_t  r;
	unsigned char data[16384];
	void    *got;
};

static int stream_closer(void *arg)
{
	struct stream *s = arg;

	corio_sleep_ms(20);
	close(s->p[1]);
	s->p[1] = -1;
	return 0;
}

static int stream_main(void *arg)
{
	struct stream *s = arg;
	char path[64];
	corio_task *t;

	assert_int_equal(pipe2(s->p, O_CLOEXEC), 0);
	fill_pattern(s->data, s->len, 5);
	assert_int_equal(write(s->p[1], s->data, s->len), (ssize_t)s->len);
	t = corio_spawn(stream_closer, s);
	assert_non_null(t);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", s->p[0]);
	s->r = corio_read_file(path, &s->got, s->max);
	assert_int_equal(corio_join(t), 0);
	close(s->p[0]);
	return 0;
}

static void test_read_file_stream(void **state)
{
	struct stream *s = calloc(1, sizeof(*s));
	ssize_t r;

	assert_non_null(s);
	/* Several growths of the buffer, no limit. */
	s->len = 10000;
	run_main(stream_main, s);
	assert_int_equal(s->r, 10000);
	assert_memory_equal(s->got, s->data, 10000);
	free(s->got);
	/* Over a small max: -EFBIG. */
	memset(s, 0, sizeof(*s));
	s->len = 100;
	s->max = 50;
	run_main(stream_main, s);
	free(s->got);
	r = s->r;
	free(s);
	if (r != -EFBIG)
		fail_msg("read_file of a 100-byte stream with max 50 returned %zd, not -EFBIG", r);
}

/* A stream of exactly max bytes is not larger than max. */
static void test_read_file_stream_exactly_max(void **state)
{
	struct stream *s = calloc(1, sizeof(*s));
	ssize_t r;

	assert_non_null(s);
	s->len = 8192;
	s->max = 8192;
	run_main(stream_main, s);
	r = s->r;
	if (r == 8192)
		assert_memory_equal(s->got, s->data, 8192);
	free(s->got);
	free(s);
	if (r != 8192)
		fail_msg("read_file of an 8192-byte stream with max 8192 returned %zd (%s), "
			 "not 8192", r, r < 0 ? strerror((int)-r) : "bytes");
}

/* ------------------------------------------------------------------------
 * write_all
 * ------------------------------------------------------------------------ */

static int write_all_main(void *arg)
{
	static unsigned char w[200000];
	unsigned char *r = malloc(sizeof(w));
	size_t done = 77;
	int fd = corio_open(path_of("wa.bin"), O_RDWR | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0 && r);
	fill_pattern(w, sizeof(w), 2);
	/* At the position. */
	assert_int_equal(corio_write_all(fd, w, 1000, -1, &done), 1000);
	assert_int_equal(done, 1000);
	assert_int_equal(pos_of(fd), 1000);
	assert_int_equal(corio_write_all(fd, w + 1000, sizeof(w) - 1000, -1, NULL),
			 (ssize_t)(sizeof(w) - 1000));
	assert_int_equal(pos_of(fd), (off_t)sizeof(w));
	/* At an offset: the position stays. */
	done = 77;
	assert_int_equal(corio_write_all(fd, "XYZ", 3, 10, &done), 3);
	assert_int_equal(done, 3);
	assert_int_equal(pos_of(fd), (off_t)sizeof(w));
	memcpy(w + 10, "XYZ", 3);
	assert_int_equal(get_file("wa.bin", r, sizeof(w)), sizeof(w));
	assert_memory_equal(r, w, sizeof(w));
	/* Nothing to write. */
	done = 77;
	assert_int_equal(corio_write_all(fd, NULL, 0, 0, &done), 0);
	assert_int_equal(done, 0);
	/* Errors: *written is 0. */
	done = 77;
	assert_int_equal(corio_write_all(fd, NULL, 5, 0, &done), -EFAULT);
	assert_int_equal(done, 0);
	done = 77;
	assert_int_equal(corio_write_all(fd, w, 5, -2, &done), -EINVAL);
	assert_int_equal(done, 0);
	done = 77;
	assert_int_equal(corio_write_all(-1, w, 5, 0, &done), -EBADF);
	assert_int_equal(done, 0);
	assert_int_equal(corio_close(fd), 0);
	fd = corio_open(path_of("wa.bin"), O_RDONLY, 0);
	assert_true(fd >= 0);
	done = 77;
	assert_int_equal(corio_write_all(fd, w, 5, 0, &done), -EBADF);
	assert_int_equal(done, 0);
	assert_int_equal(corio_close(fd), 0);
	free(r);
	return 0;
}

static void test_write_all(void **state)
{
	run_main(write_all_main, NULL);
}

/* A deadline stops write_all on a pipe nobody reads: *written tells how
 * far it got, and exactly that much is in the pipe. */
static int write_all_deadline_main(void *arg)
{
	size_t n = 1u << 20, done = 0, same = 0, got;
	unsigned char *w = malloc(n);
	/* Long enough for the first write to land (done > 0): longer where
	 * the thread can stall for tens of milliseconds (valgrind, TSan). */
	uint64_t dl = 30 * CHECK_TIME_SCALE, t0;
	ssize_t r;
	int p[2];

	assert_non_null(w);
	memset(w, 'q', n);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	t0 = corio_now_ns();
	assert_int_equal(corio_deadline_push(dl), 0);
	r = corio_write_all(p[1], w, n, -1, &done);
	assert_int_equal(corio_deadline_pop(), -ETIMEDOUT);
	assert_int_equal(r, -ETIMEDOUT);
	assert_between(check_ms_since(t0), dl - 1, dl + SLACK_MS);
	assert_true(done > 0);
	assert_true(done < n);
	got = drain_pipe(p[0], 'q', &same, NULL, 0, NULL);
	assert_int_equal(got, done);
	assert_int_equal(same, done);
	close(p[0]);
	close(p[1]);
	free(w);
	return 0;
}

static void test_write_all_deadline_reports_written(void **state)
{
	run_main(write_all_deadline_main, NULL);
}

/* ------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------ */

static int ebadf_main(void *arg)
{
	char buf[8] = "abcdefg"; /* written out by writev: defined bytes */
	struct iovec iv = { buf, sizeof(buf) };
	struct statx st;
	int fd;

	for (int i = 0; i < 3; i++) {
		int bad;
		if (i == 0) {
			bad = -1;
		} else if (i == 1) {
			/* A descriptor that was just closed. */
			bad = corio_open(path_of("closed.txt"), O_RDWR | O_CREAT, 0644);
			assert_true(bad >= 0);
			assert_int_equal(corio_close(bad), 0);
		} else {
			bad = 999;
			assert_false(fd_is_open(999));
		}
		assert_int_equal(corio_read(bad, buf, sizeof(buf), 0), -EBADF);
		assert_int_equal(corio_read(bad, buf, sizeof(buf), -1), -EBADF);
		assert_int_equal(corio_write(bad, "x", 1, 0), -EBADF);
		assert_int_equal(corio_readv(bad, &iv, 1, 0), -EBADF);
		assert_int_equal(corio_writev(bad, &iv, 1, -1), -EBADF);
		assert_int_equal(corio_fsync(bad), -EBADF);
		assert_int_equal(corio_fdatasync(bad), -EBADF);
		assert_int_equal(corio_close(bad), -EBADF);
		assert_int_equal(corio_statx(bad, "x", 0, STATX_SIZE, &st), -EBADF);
		assert_int_equal(corio_statx(bad, "", AT_EMPTY_PATH, STATX_SIZE, &st), -EBADF);
		assert_int_equal(corio_openat(bad, "x", O_RDONLY, 0), -EBADF);
	}
	/* Opened for reading only / writing only. */
	put_file("ro.txt", "data", 4);
	fd = corio_open(path_of("ro.txt"), O_RDONLY, 0);
	assert_true(fd >= 0);
	assert_int_equal(corio_write(fd, "x", 1, 0), -EBADF);
	assert_int_equal(corio_close(fd), 0);
	fd = corio_open(path_of("ro.txt"), O_WRONLY, 0);
	assert_true(fd >= 0);
	assert_int_equal(corio_read(fd, buf, sizeof(buf), 0), -EBADF);
	assert_int_equal(corio_close(fd), 0);
	/* Closing twice. */
	fd = corio_open(path_of("ro.txt"), O_RDONLY, 0);
	assert_true(fd >= 0);
	assert_int_equal(corio_close(fd), 0);
	assert_int_equal(corio_close(fd), -EBADF);
	return 0;
}

static void test_errors_ebadf(void **state)
{
	run_main(ebadf_main, NULL);
}

static int enoent_main(void *arg)
{
	char buf[8];
	struct statx st;
	int fd;

	assert_int_equal(corio_open(path_of("missing"), O_RDONLY, 0), -ENOENT);
	assert_int_equal(corio_open(path_of("no/such/dir"), O_RDWR | O_CREAT, 0644), -ENOENT);
	assert_int_equal(corio_statx(AT_FDCWD, path_of("missing"), 0, STATX_SIZE, &st), -ENOENT);
	/* Directories: writing opens are -EISDIR, and so is reading one. */
	assert_int_equal(corio_open(g_dir, O_WRONLY, 0), -EISDIR);
	assert_int_equal(corio_open(g_dir, O_RDWR, 0), -EISDIR);
	fd = corio_open(g_dir, O_RDONLY, 0);
	assert_true(fd >= 0);
	assert_int_equal(corio_read(fd, buf, sizeof(buf), 0), -EISDIR);
	assert_int_equal(corio_read(fd, buf, sizeof(buf), -1), -EISDIR);
	assert_int_equal(corio_close(fd), 0);
	/* Not a directory. */
	put_file("plain", "x", 1);
	assert_int_equal(corio_open(path_of("plain/sub"), O_RDONLY, 0), -ENOTDIR);
	assert_int_equal(corio_open(path_of("plain"), O_RDONLY | O_DIRECTORY, 0), -ENOTDIR);
	/* fsync of a pipe. */
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(corio_fsync(p[1]), -EINVAL);
	close(p[0]);
	close(p[1]);
	return 0;
}

static void test_errors_enoent_eisdir(void **state)
{
	run_main(enoent_main, NULL);
}

static int eacces_main(void *arg)
{
	void *d = (void *)1;

	put_file("secret", "x", 1);
	assert_int_equal(chmod(path_of("secret"), 0), 0);
	assert_int_equal(corio_open(path_of("secret"), O_RDONLY, 0), -EACCES);
	assert_int_equal(corio_open(path_of("secret"), O_WRONLY, 0), -EACCES);
	assert_int_equal(corio_read_file(path_of("secret"), &d, 0), -EACCES);
	assert_null(d);
	return 0;
}

static void test_errors_eacces(void **state)
{
	if (geteuid() == 0)
		CHECK_SKIP_TEST("running as root: permissions are not enforced\n");
	run_main(eacces_main, NULL);
}

static int efault_main(void *arg)
{
	struct iovec iv = { NULL, 4 };
	struct statx st;
	int fd;

	put_file("ef.txt", "0123456789", 10);
	fd = corio_open(path_of("ef.txt"), O_RDWR, 0);
	assert_true(fd >= 0);
	/* Caught before the kernel. */
	assert_int_equal(corio_read(fd, NULL, 4, 0), -EFAULT);
	assert_int_equal(corio_write(fd, NULL, 4, 0), -EFAULT);
	assert_int_equal(corio_readv(fd, NULL, 1, 0), -EFAULT);
	assert_int_equal(corio_writev(fd, NULL, 1, 0), -EFAULT);
	assert_int_equal(corio_open(NULL, O_RDONLY, 0), -EFAULT);
	assert_int_equal(corio_openat(AT_FDCWD, NULL, O_RDONLY, 0), -EFAULT);
	assert_int_equal(corio_statx(AT_FDCWD, NULL, 0, STATX_SIZE, &st), -EFAULT);
	assert_int_equal(corio_statx(AT_FDCWD, path_of("ef.txt"), 0, STATX_SIZE, NULL), -EFAULT);
	/* Caught by the kernel: no crash (memcheck reports them first). */
	if (!CHECK_VALGRIND) {
		assert_int_equal(corio_readv(fd, &iv, 1, 0), -EFAULT);
		assert_int_equal(corio_read(fd, (void *)16, 4, 0), -EFAULT);
		assert_int_equal(corio_write(fd, (const void *)16, 4, 0), -EFAULT);
	}
	/* The file is untouched. */
	char buf[16];
	assert_int_equal(corio_read(fd, buf, sizeof(buf), 0), 10);
	assert_memory_equal(buf, "0123456789", 10);
	assert_int_equal(corio_close(fd), 0);
	return 0;
}

static void test_errors_efault(void **state)
{
	run_main(efault_main, NULL);
}

/* Lengths beyond what read(2) moves are capped, not refused. */
static int huge_main(void *arg)
{
	char buf[64];
	struct iovec iv = { buf, SIZE_MAX / 2 };
	int fd;

	put_file("small.txt", "0123456789", 10);
	fd = corio_open(path_of("small.txt"), O_RDONLY, 0);
	assert_true(fd >= 0);
	memset(buf, 0, sizeof(buf));
	if (CHECK_ASAN || CHECK_VALGRIND) {
		/* There a length longer than the buffer is caught before the
		 * kernel sees it (test_buffer_checks): nothing to cap. */
		assert_int_equal(corio_close(fd), 0);
		return 0;
	}
	assert_int_equal(corio_read(fd, buf, SIZE_MAX, 0), 10);
	assert_memory_equal(buf, "0123456789", 10);
	assert_int_equal(corio_read(fd, buf, SIZE_MAX, -1), 10);
	assert_int_equal(pos_of(fd), 10);
	assert_int_equal(corio_read(fd, buf, (size_t)1 << 33, 2), 8);
	assert_int_equal(corio_read(fd, buf, (size_t)UINT32_MAX + 5, 0), 10);
	/* readv: the kernel judges the iovec lengths. */
	ssize_t r = corio_readv(fd, &iv, 1, 0);
	assert_true(r == 10 || r == -EINVAL);
	assert_int_equal(corio_close(fd), 0);
	return 0;
}

/* Debug mode: a buffer that is not mapped memory is refused before the
 * kernel gets it, with a line naming the call. */
static int unmapped_main(void *arg)
{
	long pg = sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int fd, sv[2];

	(void)arg;
	assert_true(p != MAP_FAILED);
	assert_int_equal(munmap(p, (size_t)pg), 0);
	put_file("small.txt", "0123456789", 10);
	fd = corio_open(path_of("small.txt"), O_RDONLY, 0);
	assert_true(fd >= 0);
	assert_int_equal(corio_read(fd, p, 10, 0), -EFAULT);
	assert_int_equal(corio_close(fd), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(corio_send(sv[0], p, 10, 0), -EFAULT);
	assert_int_equal(corio_close(sv[0]), 0);
	assert_int_equal(corio_close(sv[1]), 0);
	return 0;
}

/* ASan: a freed buffer handed to the kernel is reported at submission,
 * with the stacks of its allocation and its free. */
static int freed_main(void *arg)
{
	char *buf = malloc(64);
	char *volatile stale = buf; /* (the compiler would refuse the bug itself) */
	int fd;

	(void)arg;
	put_file("small.txt", "0123456789", 10);
	fd = corio_open(path_of("small.txt"), O_RDONLY, 0);
	free(buf);
	return (int)corio_read(fd, stale, 10, 0); /* ASan stops here */
}

static int freed_child(void *arg)
{
	return corio_run(freed_main, arg);
}

static void test_buffer_checks(void **state)
{
	corio_config cfg = { .flags = CORIO_CFG_DEBUG };
	char out[4096];

	if (CHECK_VALGRIND)
		CHECK_SKIP_TEST("skip: hands memcheck unmapped memory on purpose\n");
	check_capture_begin();
	assert_int_equal(check_run_config(&cfg, unmapped_main, NULL), 0);
	check_capture_end(out, sizeof(out));
	assert_contains(out, "corio: debug: corio_read: buffer");
	assert_contains(out, "corio: debug: corio_send: buffer");
	assert_contains(out, "is not mapped memory");
	if (CHECK_ASAN) {
		check_child c;

		check_fork(freed_child, NULL, &c);
		assert_false(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0);
		assert_contains(c.out, "heap-use-after-free");
		assert_contains(c.out, "corio_read");
	}
}

static void test_huge_length_capped(void **state)
{
	run_main(huge_main, NULL);
}

static int bad_args_main(void *arg)
{
	static struct iovec many[IOV_MAX + 1];
	char buf[8];
	int fd;

	put_file("args.txt", "abc", 3);
	fd = corio_open(path_of("args.txt"), O_RDWR, 0);
	assert_true(fd >= 0);
	for (int i = 0; i <= IOV_MAX; i++) {
		many[i].iov_base = buf;
		many[i].iov_len = 1;
	}
	assert_int_equal(corio_read(fd, buf, 1, -2), -EINVAL);
	assert_int_equal(corio_read(fd, buf, 1, INT64_MIN), -EINVAL);
	assert_int_equal(corio_write(fd, "x", 1, -2), -EINVAL);
	assert_int_equal(corio_readv(fd, many, 1, -5), -EINVAL);
	assert_int_equal(corio_writev(fd, many, 1, -5), -EINVAL);
	assert_int_equal(corio_readv(fd, many, IOV_MAX + 1, 0), -EINVAL);
	assert_int_equal(corio_writev(fd, many, IOV_MAX + 1, 0), -EINVAL);
	assert_int_equal(corio_readv(fd, many, -1, 0), -EINVAL);
	assert_int_equal(corio_writev(fd, many, -1, 0), -EINVAL);
	/* IOV_MAX itself is fine. */
	assert_int_equal(corio_readv(fd, many, IOV_MAX, 0), 3);
	/* Nothing was written by the refused calls. */
	assert_int_equal(corio_read(fd, buf, sizeof(buf), 0), 3);
	assert_memory_equal(buf, "abc", 3);
	assert_int_equal(pos_of(fd), 0);
	assert_int_equal(corio_close(fd), 0);
	return 0;
}

static void test_bad_offsets_and_iovcnt(void **state)
{
	run_main(bad_args_main, NULL);
}

/* Outside a loop every call is -EPERM, except corio_close, which closes. */
static void test_outside_loop(void **state)
{
	char buf[8];
	struct iovec iv = { buf, sizeof(buf) };
	struct statx st;
	void *d = (void *)1;
	size_t done = 77;
	int fd;

	put_file("out.txt", "abc", 3);
	fd = open(path_of("out.txt"), O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(corio_open(path_of("out.txt"), O_RDONLY, 0), -EPERM);
	assert_int_equal(corio_open(path_of("never.txt"), O_RDWR | O_CREAT, 0644), -EPERM);
	assert_int_equal(access(path_of("never.txt"), F_OK), -1); /* not created */
	assert_int_equal(corio_openat(AT_FDCWD, path_of("out.txt"), O_RDONLY, 0), -EPERM);
	assert_int_equal(corio_read(fd, buf, sizeof(buf), 0), -EPERM);
	assert_int_equal(corio_read(fd, buf, sizeof(buf), -1), -EPERM);
	assert_int_equal(corio_write(fd, "x", 1, 0), -EPERM);
	assert_int_equal(corio_readv(fd, &iv, 1, 0), -EPERM);
	assert_int_equal(corio_writev(fd, &iv, 1, 0), -EPERM);
	assert_int_equal(corio_fsync(fd), -EPERM);
	assert_int_equal(corio_fdatasync(fd), -EPERM);
	assert_int_equal(corio_statx(AT_FDCWD, path_of("out.txt"), 0, STATX_SIZE, &st), -EPERM);
	assert_int_equal(corio_read_file(path_of("out.txt"), &d, 0), -EPERM);
	assert_null(d);
	assert_int_equal(corio_write_all(fd, "xyz", 3, 0, &done), -EPERM);
	assert_int_equal(done, 0);
	/* Nothing moved. */
	assert_int_equal(pos_of(fd), 0);
	assert_int_equal(get_file("out.txt", buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "abc", 3);
	/* corio_close outside a task is close(2). */
	assert_int_equal(corio_close(fd), 0);
	assert_false(fd_is_open(fd));
	assert_int_equal(corio_close(fd), -EBADF);
	assert_int_equal(corio_close(-1), -EBADF);
}

/* ------------------------------------------------------------------------
 * corio_close and cancellation
 * ------------------------------------------------------------------------ */

struct closer {
	int fd[4];
	int r[4];
	int mode; /* 0 cancelled by main, 1 self-cancelled, 2 deadline passed, 3 shielded */
	int later;
	corio_event *gate;
};

static int closer_task(void *arg)
{
	struct closer *c = arg;

	if (c->mode == 1)
		corio_cancel(corio_current());
	if (c->mode == 2) {
		corio_deadline_push(1);
		corio_sleep_ms(5); /* -ETIMEDOUT: the deadline has passed */
	}
	if (c->mode == 3) {
		corio_cancel(corio_current());
		corio_shield_push();
	}
	if (c->mode == 0)
		c->later = corio_event_wait(c->gate); /* cancelled here */
	for (int i = 0; i < 4; i++)
		c->r[i] = corio_close(c->fd[i]);
	if (c->mode == 1 || c->mode == 2)
		c->later = corio_sleep_ms(1);
	if (c->mode == 2)
		corio_deadline_pop();
	if (c->mode == 3)
		corio_shield_pop();
	return 0;
}

static int close_cancelled_main(void *arg)
{
	struct closer *c = arg;
	corio_task *t;
	int p[2];

	c->fd[0] = corio_open(path_of("c0.txt"), O_RDWR | O_CREAT, 0644);
	c->fd[1] = corio_open(g_dir, O_RDONLY | O_DIRECTORY, 0);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	c->fd[2] = p[0];
	c->fd[3] = p[1];
	for (int i = 0; i < 4; i++)
		assert_true(c->fd[i] >= 0);
	c->gate = corio_event_new();
	assert_non_null(c->gate);
	t = corio_spawn(closer_task, c);
	assert_non_null(t);
	if (c->mode == 0) {
		assert_int_equal(corio_sleep_ms(2), 0);
		assert_int_equal(corio_cancel(t), 0);
	}
	assert_int_equal(corio_join(t), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(c->r[i], 0);
		assert_false(fd_is_open(c->fd[i]));
	}
	if (c->mode == 0 || c->mode == 1)
		assert_int_equal(c->later, -ECANCELED);
	corio_event_free(c->gate);
	return 0;
}

static void test_close_in_cancelled_task(void **state)
{
	for (int mode = 0; mode < 4; mode++) {
		struct closer c = { .mode = mode };

		run_main(close_cancelled_main, &c);
		/* The leak check (CHECK_TEST) counts the descriptors too. */
	}
}

/* A cancelled task (or one past its deadline) gets -ECANCELED
 * (-ETIMEDOUT) from every call at once, and nothing happens: no file is
 * made, nothing is written or read, the position stays. */
struct noeffect {
	int     mode; /* 0 cancelled, 1 deadline passed */
	int     fd;
	int     r_open, r_creat, r_openat, r_fsync, r_fdatasync, r_statx;
	ssize_t r_read, r_pread, r_write, r_pwrite, r_readv, r_writev, r_rf, r_wa;
	size_t  wa_done;
	void   *rf;
	int     r_close;
};

static int noeffect_task(void *arg)
{
	struct noeffect *ne = arg;
	char buf[8] = "zzzzzzz";
	struct iovec iv = { buf, 4 };
	struct statx st;

	if (ne->mode == 0)
		corio_cancel(corio_current());
	else
		corio_deadline_push(0);
	ne->r_open = corio_open(path_of("ne.txt"), O_RDONLY, 0);
	ne->r_creat = corio_open(path_of("ne-new.txt"), O_RDWR | O_CREAT, 0644);
	ne->r_openat = corio_openat(AT_FDCWD, path_of("ne-new2.txt"), O_RDWR | O_CREAT, 0644);
	ne->r_read = corio_read(ne->fd, buf, 4, -1);
	ne->r_pread = corio_read(ne->fd, buf, 4, 0);
	ne->r_write = corio_write(ne->fd, "WXYZ", 4, -1);
	ne->r_pwrite = corio_write(ne->fd, "WXYZ", 4, 0);
	ne->r_readv = corio_readv(ne->fd, &iv, 1, -1);
	ne->r_writev = corio_writev(ne->fd, &iv, 1, 0);
	ne->r_fsync = corio_fsync(ne->fd);
	ne->r_fdatasync = corio_fdatasync(ne->fd);
	ne->r_statx = corio_statx(AT_FDCWD, path_of("ne.txt"), 0, STATX_SIZE, &st);
	ne->rf = (void *)1;
	ne->r_rf = corio_read_file(path_of("ne.txt"), &ne->rf, 0);
	ne->wa_done = 77;
	ne->r_wa = corio_write_all(ne->fd, "WXYZ", 4, 0, &ne->wa_done);
	assert_memory_equal(buf, "zzzzzzz", 8); /* nothing read into it */
	/* Close is the exception: it closes. */
	ne->r_close = corio_close(ne->fd);
	if (ne->mode == 1)
		corio_deadline_pop();
	return 0;
}

static int noeffect_main(void *arg)
{
	struct noeffect *ne = arg;
	corio_task *t;

	put_file("ne.txt", "abcdefgh", 8);
	ne->fd = corio_open(path_of("ne.txt"), O_RDWR, 0);
	assert_true(ne->fd >= 0);
	assert_int_equal(lseek(ne->fd, 2, SEEK_SET), 2);
	t = corio_spawn(noeffect_task, ne);
	assert_non_null(t);
	assert_int_equal(corio_join(t), 0);
	return 0;
}

static void test_cancelled_calls_have_no_effect(void **state)
{
	for (int mode = 0; mode < 2; mode++) {
		struct noeffect ne = { .mode = mode };
		int want = mode == 0 ? -ECANCELED : -ETIMEDOUT;
		char buf[16];

		run_main(noeffect_main, &ne);
		assert_int_equal(ne.r_open, want);
		assert_int_equal(ne.r_creat, want);
		assert_int_equal(ne.r_openat, want);
		assert_int_equal(ne.r_read, want);
		assert_int_equal(ne.r_pread, want);
		assert_int_equal(ne.r_write, want);
		assert_int_equal(ne.r_pwrite, want);
		assert_int_equal(ne.r_readv, want);
		assert_int_equal(ne.r_writev, want);
		assert_int_equal(ne.r_fsync, want);
		assert_int_equal(ne.r_fdatasync, want);
		assert_int_equal(ne.r_statx, want);
		assert_int_equal(ne.r_rf, want);
		assert_null(ne.rf);
		assert_int_equal(ne.r_wa, want);
		assert_int_equal(ne.wa_done, 0);
		assert_int_equal(ne.r_close, 0);
		assert_false(fd_is_open(ne.fd));
		assert_int_equal(access(path_of("ne-new.txt"), F_OK), -1);
		assert_int_equal(access(path_of("ne-new2.txt"), F_OK), -1);
		assert_int_equal(get_file("ne.txt", buf, sizeof(buf)), 8);
		assert_memory_equal(buf, "abcdefgh", 8);
	}
}

/* A close ends another task's read pending on the same fd, promptly. */
struct pending {
	int      fd;
	ssize_t  r;
	int      done;
	uint64_t end;
	char     buf[16];
};

static int pending_reader(void *arg)
{
	struct pending *p = arg;

	p->r = corio_read(p->fd, p->buf, sizeof(p->buf), -1);
	p->end = corio_now_ns();
	p->done = 1;
	return 0;
}

static int close_wakes_main(void *arg)
{
	struct pending pr = { 0 };
	corio_task *t;
	uint64_t t0;
	int p[2];

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pr.fd = p[0];
	t = corio_spawn(pending_reader, &pr);
	assert_non_null(t);
	assert_int_equal(corio_sleep_ms(10), 0);
	assert_int_equal(pr.done, 0);
	t0 = corio_now_ns();
	assert_int_equal(corio_close(p[0]), 0);
	assert_false(fd_is_open(p[0]));
	assert_int_equal(corio_join(t), 0);
	assert_int_equal(pr.r, -ECANCELED);
	assert_true(ms_between(t0, pr.end) < SLACK_MS);
	/* The writer sees no reader any more. */
	int fl = fcntl(p[1], F_GETFL);
	assert_true(fl >= 0);
	close(p[1]);
	return 0;
}

static void test_close_ends_pending_read(void **state)
{
	run_main(close_wakes_main, NULL);
}

/* ------------------------------------------------------------------------
 * Cancellation table: blocking reads and writes on a pipe
 * ------------------------------------------------------------------------ */

/* The scenarios: enum check_scenario in check.h. */

#define OPN 100 /* bytes the write rows try to write */

struct cx {
	const struct frow *row;
	int       sc;
	int       p[2];
	size_t    filled;           /* write rows: bytes in the full pipe */
	char      buf[OPN];
	char      a[1], b[OPN - 1]; /* readv */
	/* What the victim saw. */
	int       started, returned;
	ssize_t   r, later;
	int       pop_r, pop2_r, pop3_r;
	uint64_t  t_armed;          /* before the scopes were pushed */
	uint64_t  op_start, op_end, sw0, sw1;
};

struct frow {
	const char *name;
	int         write;                 /* a write row (the pipe is full) */
	ssize_t   (*op)(struct cx *);
};

static ssize_t read_op(struct cx *cx)
{
	return corio_read(cx->p[0], cx->buf, sizeof(cx->buf), -1);
}

static ssize_t readv_op(struct cx *cx)
{
	struct iovec iv[2] = { { cx->a, sizeof(cx->a) }, { cx->b, sizeof(cx->b) } };

	return corio_readv(cx->p[0], iv, 2, -1);
}

static ssize_t write_op(struct cx *cx)
{
	memset(cx->buf, 'W', sizeof(cx->buf));
	return corio_write(cx->p[1], cx->buf, sizeof(cx->buf), -1);
}

static ssize_t writev_op(struct cx *cx)
{
	memset(cx->a, 'W', sizeof(cx->a));
	memset(cx->b, 'W', sizeof(cx->b));
	struct iovec iv[2] = { { cx->a, sizeof(cx->a) }, { cx->b, sizeof(cx->b) } };

	return corio_writev(cx->p[1], iv, 2, -1);
}

static const struct frow frows[] = {
	{ "read (pipe)", 0, read_op },
	{ "readv (pipe)", 0, readv_op },
	{ "write (full pipe)", 1, write_op },
	{ "writev (full pipe)", 1, writev_op },
};

#define NFROWS (sizeof(frows) / sizeof(frows[0]))

static int victim(void *arg)
{
	struct cx *cx = arg;

	cx->started = 1;
	/* Deadlines count from their push: a lower bound measured from
	 * op_start would count a stall in between (valgrind) as early. */
	cx->t_armed = corio_now_ns();
	check_sc_enter(cx->sc);
	cx->sw0 = switches();
	cx->op_start = corio_now_ns();
	cx->r = cx->row->op(cx);
	cx->op_end = corio_now_ns();
	cx->sw1 = switches();
	check_sc_leave(cx->sc, &cx->pop_r, &cx->pop2_r, &cx->pop3_r);
	/* A later blocking call on the same fd: -ECANCELED at once when the
	 * task was cancelled, without touching the pipe. */
	if (cx->sc != SC_DEADLINE)
		cx->later = cx->row->op(cx);
	cx->returned = 1;
	return 0;
}

/* Main: the cancelled call took nothing, and the pipe works. */
static void check_untaken(struct cx *cx)
{
	char c = 0, tail[OPN];
	size_t same = 0, nt = 0;

	if (!cx->row->write) {
		/* The byte written now is read by a new read: the interrupted
		 * read did not eat it. */
		assert_int_equal(write(cx->p[1], "Z", 1), 1);
		assert_int_equal(corio_read(cx->p[0], &c, 1, -1), 1);
		assert_int_equal(c, 'Z');
	} else {
		/* Exactly the filler is in the pipe: nothing of 'W'. */
		assert_int_equal(drain_pipe(cx->p[0], 'F', &same, tail, sizeof(tail), &nt),
				 cx->filled);
		assert_int_equal(same, cx->filled);
		assert_int_equal(nt, 0);
		/* And a new write goes through. */
		assert_int_equal(corio_write(cx->p[1], "Z", 1, -1), 1);
		assert_int_equal(corio_read(cx->p[0], &c, 1, -1), 1);
		assert_int_equal(c, 'Z');
	}
}

static int ftable_main(void *arg)
{
	struct cx *cx = arg;
	corio_task *v;
	uint64_t t_cancel = 0;

	assert_int_equal(pipe2(cx->p, O_CLOEXEC), 0);
	if (cx->row->write)
		cx->filled = fill_pipe(cx->p[1], 'F');
	v = corio_spawn(victim, cx);
	assert_non_null(v);
	switch (cx->sc) {
	case SC_PRECANCEL:
		assert_int_equal(corio_cancel(v), 0);
		break;
	case SC_CANCEL:
		assert_int_equal(corio_sleep_ms(5), 0);
		assert_int_equal(cx->started, 1);
		assert_int_equal(cx->returned, 0);
		t_cancel = corio_now_ns();
		assert_int_equal(corio_cancel(v), 0);
		break;
	case SC_DEADLINE:
		break;
	case SC_SHIELD:
	case SC_SHIELD_DEADLINE:
		assert_int_equal(corio_sleep_ms(5), 0);
		assert_int_equal(cx->started, 1);
		assert_int_equal(corio_cancel(v), 0);
		if (cx->sc == SC_SHIELD_DEADLINE)
			break;
		assert_int_equal(corio_sleep_ms(15), 0);
		assert_int_equal(cx->returned, 0); /* not interrupted */
		/* Let it complete. */
		if (cx->row->write) {
			size_t same = 0;
			assert_int_equal(drain_pipe(cx->p[0], 'F', &same, NULL, 0, NULL),
					 cx->filled);
			assert_int_equal(same, cx->filled);
		} else {
			assert_int_equal(write(cx->p[1], "hello", 5), 5);
		}
		break;
	}
	assert_int_equal(corio_join(v), 0);
	assert_int_equal(cx->returned, 1);

	switch (cx->sc) {
	case SC_CANCEL:
		assert_int_equal(cx->r, -ECANCELED);
		assert_true(ms_between(t_cancel, cx->op_end) < SLACK_MS);
		break;
	case SC_PRECANCEL:
		assert_int_equal(cx->r, -ECANCELED);
		assert_int_equal(cx->sw1, cx->sw0); /* did not even suspend */
		break;
	case SC_DEADLINE:
		assert_int_equal(cx->r, -ETIMEDOUT);
		/* Not before the deadline (from its push), promptly after it
		 * (from the call). */
		assert_between(ms_between(cx->t_armed, cx->op_end), 19, INT_MAX);
		assert_between(ms_between(cx->op_start, cx->op_end), 0, 20 + SLACK_MS);
		assert_int_equal(cx->pop_r, -ETIMEDOUT);
		break;
	case SC_SHIELD:
		assert_int_equal(cx->pop_r, -ECANCELED);
		if (cx->row->write) {
			char tail[OPN];
			size_t nt = 0;
			assert_int_equal(cx->r, OPN);
			assert_int_equal(drain_pipe(cx->p[0], 'W', NULL, tail, sizeof(tail), &nt),
					 OPN);
			assert_int_equal(nt, 0);
		} else {
			assert_int_equal(cx->r, 5);
			if (cx->row->op == read_op)
				assert_memory_equal(cx->buf, "hello", 5);
			else
				assert_memory_equal(cx->b, "ello", 4);
		}
		break;
	default: /* SC_SHIELD_DEADLINE */
		assert_int_equal(cx->r, -ETIMEDOUT);
		assert_between(ms_between(cx->t_armed, cx->op_end), 29, INT_MAX);
		assert_between(ms_between(cx->op_start, cx->op_end), 0, 30 + SLACK_MS);
		assert_int_equal(cx->pop_r, -ETIMEDOUT);
		assert_int_equal(cx->pop2_r, -ECANCELED);
		assert_int_equal(cx->pop3_r, -ETIMEDOUT);
		break;
	}
	if (cx->sc != SC_DEADLINE)
		assert_int_equal(cx->later, -ECANCELED);
	if (cx->sc != SC_SHIELD)
		check_untaken(cx);
	close(cx->p[0]);
	close(cx->p[1]);
	return 0;
}

struct ftable_case {
	const struct frow *row;
	int                sc;
	char               name[64];
};

static void test_ftable(void **state)
{
	const struct ftable_case *tc = *state;
	struct cx *cx = calloc(1, sizeof(*cx));

	assert_non_null(cx);
	cx->row = tc->row;
	cx->sc = tc->sc;
	run_main(ftable_main, cx);
	free(cx);
}

/* ------------------------------------------------------------------------
 * A FIFO with nobody at the other end. open(2) would wait for a peer;
 * io_uring's openat never waits (it opens with O_NONBLOCK first and keeps
 * the outcome), so corio_open returns at once: an fd for reading, -ENXIO
 * for writing. Recorded here so that a change shows; no hang, no leak.
 * ------------------------------------------------------------------------ */

struct fifo_open {
	int r_rd, r_wr;
};

static int fifo_main(void *arg)
{
	struct fifo_open *fo = arg;
	const char *path = path_of("lonely.fifo");

	assert_int_equal(mkfifo(path, 0600), 0);
	corio_deadline_push(200); /* if it does wait, not forever */
	fo->r_wr = corio_open(path, O_WRONLY, 0);
	fo->r_rd = corio_open(path, O_RDONLY, 0);
	corio_deadline_pop();
	if (fo->r_rd >= 0)
		assert_int_equal(corio_close(fo->r_rd), 0);
	if (fo->r_wr >= 0)
		assert_int_equal(corio_close(fo->r_wr), 0);
	unlink(path);
	return 0;
}

static void test_fifo_open_without_peer(void **state)
{
	struct fifo_open fo = { 0 };

	run_main(fifo_main, &fo);
	print_message("  FIFO, no peer: O_WRONLY -> %d (%s), O_RDONLY -> %s\n", fo.r_wr,
		      fo.r_wr < 0 ? strerror(-fo.r_wr) : "fd",
		      fo.r_rd >= 0 ? "an fd at once" : strerror(-fo.r_rd));
	assert_true(fo.r_wr == -ENXIO || fo.r_wr == -ETIMEDOUT);
	assert_true(fo.r_rd >= 0 || fo.r_rd == -ETIMEDOUT);
}

/* ------------------------------------------------------------------------
 * Data and cancel in the same turn
 * ------------------------------------------------------------------------ */

struct race {
	int         p[2];
	corio_task *t;
	ssize_t     r, later;
	char        c;
	int         done;
};

static int race_reader(void *arg)
{
	struct race *rc = arg;

	rc->r = corio_read(rc->p[0], &rc->c, 1, -1);
	rc->later = corio_sleep_ms(1);
	rc->done = 1;
	return 0;
}

/* The byte arrives, then the cancel, before the loop runs again: the
 * kernel decides which wins; either way the byte is not lost. */
static int race_same_turn_main(void *arg)
{
	struct race rc = { 0 };
	char c = 0;

	assert_int_equal(pipe2(rc.p, O_CLOEXEC), 0);
	rc.t = corio_spawn(race_reader, &rc);
	assert_non_null(rc.t);
	assert_int_equal(corio_sleep_ms(5), 0);
	assert_int_equal(write(rc.p[1], "D", 1), 1);
	assert_int_equal(corio_cancel(rc.t), 0);
	assert_int_equal(corio_join(rc.t), 0);
	assert_int_equal(rc.later, -ECANCELED);
	if (rc.r == 1) {
		assert_int_equal(rc.c, 'D');
		print_message("  same turn: the read returned the byte\n");
	} else {
		assert_int_equal(rc.r, -ECANCELED);
		assert_int_equal(corio_read(rc.p[0], &c, 1, -1), 1); /* still there */
		assert_int_equal(c, 'D');
		print_message("  same turn: the read was cancelled; the byte stayed in the pipe\n");
	}
	close(rc.p[0]);
	close(rc.p[1]);
	return 0;
}

static void test_data_and_cancel_same_turn(void **state)
{
	run_main(race_same_turn_main, NULL);
}

/* The read completed (its CQE was reaped, the task is ready) before the
 * cancel came: the data is returned, and the next call reports the cancel. */
static int race_completed_main(void *arg)
{
	struct race rc = { 0 };
	int i;

	assert_int_equal(pipe2(rc.p, O_CLOEXEC), 0);
	rc.t = corio_spawn(race_reader, &rc);
	assert_non_null(rc.t);
	assert_int_equal(corio_sleep_ms(5), 0);
	assert_int_equal(write(rc.p[1], "E", 1), 1);
	/* Yield until the loop has reaped the read's completion. */
	for (i = 0; i < 100000 && rc.t->state != CORIO__T_READY; i++)
		corio_yield();
	assert_int_equal(rc.t->state, CORIO__T_READY);
	assert_int_equal(rc.done, 0);
	assert_int_equal(corio_cancel(rc.t), 0);
	assert_int_equal(corio_join(rc.t), 0);
	assert_int_equal(rc.r, 1);
	assert_int_equal(rc.c, 'E');
	assert_int_equal(rc.later, -ECANCELED);
	close(rc.p[0]);
	close(rc.p[1]);
	return 0;
}

static void test_completed_read_survives_cancel(void **state)
{
	run_main(race_completed_main, NULL);
}

/* The same with a deadline that is due when the data arrives. */
static void busy_ms(int ms)
{
	uint64_t t0 = corio_now_ns();

	while (corio_now_ns() - t0 < (uint64_t)ms * 1000000u)
		;
}

struct dl_race {
	int     p[2];
	ssize_t r;
	int     pop_r;
	char    c;
};

static int dl_reader(void *arg)
{
	struct dl_race *d = arg;

	corio_deadline_push(10);
	d->r = corio_read(d->p[0], &d->c, 1, -1);
	d->pop_r = corio_deadline_pop();
	return 0;
}

static int dl_race_main(void *arg)
{
	struct dl_race d = { 0 };
	corio_task *t;
	char c = 0;

	assert_int_equal(pipe2(d.p, O_CLOEXEC), 0);
	t = corio_spawn(dl_reader, &d);
	assert_non_null(t);
	corio_yield(); /* it is in its read */
	assert_int_equal(write(d.p[1], "T", 1), 1);
	busy_ms(20); /* the deadline is due, its timer not yet fired */
	assert_int_equal(corio_join(t), 0);
	assert_int_equal(d.pop_r, -ETIMEDOUT);
	if (d.r == 1) {
		assert_int_equal(d.c, 'T');
	} else {
		assert_int_equal(d.r, -ETIMEDOUT);
		assert_int_equal(corio_read(d.p[0], &c, 1, -1), 1);
		assert_int_equal(c, 'T');
	}
	close(d.p[0]);
	close(d.p[1]);
	return 0;
}

static void test_data_before_deadline_timer(void **state)
{
	run_main(dl_race_main, NULL);
}

/* ------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
	static struct ftable_case cases[NFROWS * SC_COUNT];
	static const struct CMUnitTest extra[] = {
		CHECK_TEST(test_open_statx_fsync),
		CHECK_TEST(test_file_position),
		CHECK_TEST(test_partial_read_at_eof),
		CHECK_TEST(test_readv_writev),
		CHECK_TEST(test_odirect),
		CHECK_TEST(test_big_file_roundtrip),
		CHECK_TEST(test_read_file),
		CHECK_TEST(test_read_file_proc),
		CHECK_TEST(test_read_file_proc_over_max),
		CHECK_TEST(test_read_file_stream),
		CHECK_TEST(test_read_file_stream_exactly_max),
		CHECK_TEST(test_write_all),
		CHECK_TEST(test_write_all_deadline_reports_written),
		CHECK_TEST(test_errors_ebadf),
		CHECK_TEST(test_errors_enoent_eisdir),
		CHECK_TEST(test_errors_eacces),
		CHECK_TEST(test_errors_efault),
		CHECK_TEST(test_huge_length_capped),
		CHECK_TEST(test_buffer_checks),
		CHECK_TEST(test_bad_offsets_and_iovcnt),
		CHECK_TEST(test_outside_loop),
		CHECK_TEST(test_close_in_cancelled_task),
		CHECK_TEST(test_cancelled_calls_have_no_effect),
		CHECK_TEST(test_close_ends_pending_read),
		CHECK_TEST(test_fifo_open_without_peer),
		CHECK_TEST(test_data_and_cancel_same_turn),
		CHECK_TEST(test_completed_read_survives_cancel),
		CHECK_TEST(test_data_before_deadline_timer),
	};
	static struct CMUnitTest tests[sizeof(extra) / sizeof(extra[0]) + NFROWS * SC_COUNT];
	size_t n = 0;
	int rc;

	for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
		tests[n++] = extra[i];
	for (size_t r = 0; r < NFROWS; r++) {
		for (int sc = 0; sc < SC_COUNT; sc++) {
			struct ftable_case *tc = &cases[r * SC_COUNT + (size_t)sc];

			tc->row = &frows[r];
			tc->sc = sc;
			snprintf(tc->name, sizeof(tc->name), "%s: %s", frows[r].name, check_sc_name(sc));
			tests[n++] = (struct CMUnitTest){ tc->name, test_ftable, check_setup,
							  check_teardown, tc };
		}
	}

	check_init(argc, argv);
	snprintf(g_dir, sizeof(g_dir), "/tmp/corio-test-io-XXXXXX");
	if (!mkdtemp(g_dir)) {
		printf("skip: cannot make a directory under /tmp: %s\n", strerror(errno));
		return CHECK_SKIP;
	}
	rc = _cmocka_run_group_tests("test_io_file", tests, n, NULL, NULL);
	rm_tree(g_dir);
	return rc;
}
