/*
 * io.c - files and sockets: each call is one io_uring operation submitted
 * from the calling task, which suspends until the operation's CQE.
 *
 * Every call follows one pattern (op_begin, prepare the SQE, op_wait):
 *   1. the task may block at all (not cancelled, deadline not passed);
 *   2. its wait record (on its stack) becomes the SQE's user_data;
 *   3. it suspends; the loop submits the batch, and the CQE wakes it.
 * A cancel or deadline while suspended submits IORING_OP_ASYNC_CANCEL and
 * the task still waits for the op's own CQE: the kernel may write into the
 * task's buffer (on its stack, often) until then. If the op completed
 * anyway, its real result is returned (bytes moved, an fd) and the next
 * blocking call reports the cancel: nothing is lost.
 *
 * Not every call is one op: some are built from others (corio_read_file,
 * the _all calls, the TCP helpers), and some make plain system calls:
 * corio_socket where the kernel refuses IORING_OP_SOCKET, corio_close
 * outside a task, the socket, bind and listen of corio_listen_tcp,
 * corio_local_port, and the registration calls (io_uring_register).
 *
 * Name resolution (getaddrinfo blocks) runs on the thread pool (pool.c) and
 * comes back through the loop's mailbox (mailbox.c); numeric addresses are
 * resolved at once, without a thread. A lookup whose task stops waiting is
 * abandoned, and freed when it comes back.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <sys/mman.h>
#include <sys/resource.h>

#include "internal.h"

#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define CORIO__HAVE_MEMCHECK 1
#else
#define CORIO__HAVE_MEMCHECK 0
#endif

#if defined(__SANITIZE_ADDRESS__)
/* ASan's own checks, as instrumented code calls them: they report a bad
 * access with the stacks of the allocation and the free. */
void __asan_loadN(void *addr, long size);
void __asan_storeN(void *addr, long size);
#endif

/*
 * Before the kernel gets a buffer, checks that it is live memory, as
 * liburing's sanitizer build does: the kernel's own accesses are invisible
 * to the sanitizers, so a buffer freed too early would otherwise be written
 * silently. Under ASan a freed or poisoned byte is reported here (and the
 * program stops); under valgrind memcheck reports unaddressable memory (and
 * undefined bytes handed out to be sent or written). In debug mode a buffer
 * that is not mapped at all fails with -EFAULT and a line naming the call.
 */
/* 1 under memcheck, 0 elsewhere (natively, or another valgrind tool such as
 * callgrind, where the checks mean nothing): asked once, since even asking
 * costs instructions on every call. */
#if CORIO__HAVE_MEMCHECK
static int memcheck_state = -1;

int corio__under_memcheck(void)
{
	int s = __atomic_load_n(&memcheck_state, __ATOMIC_RELAXED);

	if (CORIO__UNLIKELY(s < 0)) {
		unsigned long long x = 0, v = 0;
		/* A memcheck-only request: other tools answer 0. */
		s = RUNNING_ON_VALGRIND && VALGRIND_GET_VBITS(&x, &v, sizeof(x)) == 1;
		__atomic_store_n(&memcheck_state, s, __ATOMIC_RELAXED);
	}
	return s;
}
#else
int corio__under_memcheck(void)
{
	return 0;
}
#endif

/* The checks that cost something: memcheck's, debug mode's. */
static __attribute__((noinline, cold)) int buf_check_slow(corio__loop *l, const char *who,
							   const void *buf, size_t n,
							   bool kernel_writes)
{
#if CORIO__HAVE_MEMCHECK
	if (corio__under_memcheck()) {
		if (kernel_writes)
			(void)VALGRIND_CHECK_MEM_IS_ADDRESSABLE(buf, n);
		else
			(void)VALGRIND_CHECK_MEM_IS_DEFINED(buf, n);
	}
#else
	(void)kernel_writes;
#endif
	if (l->debug) {
		uintptr_t pg = (uintptr_t)l->stacks.page;
		uintptr_t a = (uintptr_t)buf & ~(pg - 1);

		if (msync((void *)a, (uintptr_t)buf + n - a, MS_ASYNC) < 0 && errno == ENOMEM) {
			fprintf(stderr, "corio: debug: %s: buffer %p (%zu bytes) is not mapped memory\n",
				who, buf, n);
			return -EFAULT;
		}
	}
	return 0;
}

static inline int buf_check(const char *who, const void *buf, size_t n, bool kernel_writes)
{
	corio__loop *l = corio__tls_loop;

	if (!n || !buf || !l)
		return 0; /* outside a loop the call fails with -EPERM anyway */
#if defined(__SANITIZE_ADDRESS__)
	if (kernel_writes)
		__asan_storeN((void *)buf, (long)n);
	else
		__asan_loadN((void *)buf, (long)n);
#endif
#if CORIO__HAVE_MEMCHECK
	if (CORIO__UNLIKELY(l->debug || __atomic_load_n(&memcheck_state, __ATOMIC_RELAXED) != 0))
		return buf_check_slow(l, who, buf, n, kernel_writes);
#else
	if (CORIO__UNLIKELY(l->debug))
		return buf_check_slow(l, who, buf, n, kernel_writes);
#endif
	return 0;
}

static int iov_check(const char *who, const struct iovec *iov, size_t n, bool kernel_writes)
{
	for (size_t i = 0; i < n; i++) {
		int r = buf_check(who, iov[i].iov_base, iov[i].iov_len, kernel_writes);
		if (r < 0)
			return r;
	}
	return 0;
}

/* What read(2) and write(2) move at most in one call. */
#define MAX_RW ((size_t)0x7ffff000)

/* 0 when the caller is a task that may block now, else -EPERM,
 * -ECANCELED or -ETIMEDOUT. */
static int task_check(void)
{
	corio__loop *l = corio__tls_loop;

	if (!l || !l->current)
		return -EPERM;
	return corio__may_block(l->current);
}

/* Checks that the caller may block and gets an SQE; NULL with *err set. */
static struct io_uring_sqe *op_begin(corio__loop **lp, int *err)
{
	corio__loop *l = corio__tls_loop;
	struct io_uring_sqe *sqe;
	int r = task_check();

	if (r < 0) {
		*err = r;
		return NULL;
	}
	sqe = corio__sqe(l);
	if (!sqe) {
		*err = -EBUSY;
		return NULL;
	}
	*lp = l;
	return sqe;
}

/* Counts an op on fd in flight (the CQE's handler uncounts it). */
static void fd_track(corio__loop *l, corio__wait *w, int fd)
{
	w->fd = -1;
	if (fd < 0 || (fd & CORIO_FIXED_FILE_BIT))
		return; /* a registered file cannot be closed under an op */
	if ((size_t)fd >= l->nfd_pending) {
		size_t n = l->nfd_pending ? l->nfd_pending : 256;
		uint32_t *v;
		while (n <= (size_t)fd)
			n *= 2;
		v = corio__realloc(l->fd_pending, n * sizeof(*v));
		if (!v) {
			l->fd_untracked = true;
			return;
		}
		memset(v + l->nfd_pending, 0, (n - l->nfd_pending) * sizeof(*v));
		l->fd_pending = v;
		l->nfd_pending = n;
	}
	l->fd_pending[fd]++;
	w->fd = fd;
}

/* Submits sqe as w's op on fd (-1: none) and waits for its CQE; returns
 * its result. */
static int op_wait(corio__loop *l, struct io_uring_sqe *sqe, corio__wait *w, int fd)
{
#ifdef CORIO_FAULTS
	{
		/* Refused before the kernel saw it (the SQE becomes a no-op),
		 * or a transfer cut to half its length, really performed. */
		int e = CORIO__FAULT_VAL(CORIO__F_OP);
		uint8_t op = sqe->opcode;

		/* A close always releases the fd (as close(2) does on Linux):
		 * it has no error to inject before the kernel sees it. */
		if (op == IORING_OP_CLOSE)
			e = 0;
		if (e) {
			io_uring_prep_nop(sqe);
			io_uring_sqe_set_data64(sqe, CORIO__UD_IGNORE);
			l->inflight++;
			return e;
		}
		if ((op == IORING_OP_READ || op == IORING_OP_WRITE || op == IORING_OP_RECV ||
		     op == IORING_OP_SEND || op == IORING_OP_READ_FIXED ||
		     op == IORING_OP_WRITE_FIXED) && sqe->len > 1 && CORIO__FAULT(CORIO__F_SHORT))
			sqe->len /= 2;
	}
#endif
	w->kind = CORIO__W_OP;
	w->what = CORIO__WHY_OP;
	if (fd >= 0 && (fd & CORIO_FIXED_FILE_BIT)) {
		/* A registered file: its index, flagged for the kernel. */
		sqe->fd = fd & ~CORIO_FIXED_FILE_BIT;
		sqe->flags |= IOSQE_FIXED_FILE;
	}
	fd_track(l, w, fd);
	io_uring_sqe_set_data(sqe, w);
	l->inflight++;
	return corio__block(l, w, 0);
}

/* The shape of every call: begin, prep, wait. For ops the kernel writes
 * into buf, memcheck is told so (buf NULL: nothing to tell). */
#define OP_RUN_INTO(fd, buf, prep)                                     \
	do {                                                           \
		corio__loop *l_;                                       \
		corio__wait w_ = { 0 };                                \
		int e_;                                                \
		struct io_uring_sqe *sqe = op_begin(&l_, &e_);         \
		if (!sqe)                                              \
			return e_;                                     \
		prep;                                                  \
		return written_by_kernel(buf, op_wait(l_, sqe, &w_, fd)); \
	} while (0)
#define OP_RUN(fd, prep) OP_RUN_INTO(fd, NULL, prep)

/* Memcheck cannot see the kernel write through io_uring: say so. */
static ssize_t written_by_kernel(void *buf, ssize_t r)
{
#if CORIO__HAVE_MEMCHECK
	if (buf && r > 0 && RUNNING_ON_VALGRIND)
		VALGRIND_MAKE_MEM_DEFINED(buf, (size_t)r);
#else
	(void)buf;
#endif
	return r;
}

static ssize_t iov_written_by_kernel(const struct iovec *iov, int n, ssize_t r)
{
#if CORIO__HAVE_MEMCHECK
	if (r > 0 && RUNNING_ON_VALGRIND) {
		size_t left = (size_t)r;
		for (int i = 0; i < n && left; i++) {
			size_t k = iov[i].iov_len < left ? iov[i].iov_len : left;
			VALGRIND_MAKE_MEM_DEFINED(iov[i].iov_base, k);
			left -= k;
		}
	}
#else
	(void)iov;
	(void)n;
#endif
	return r;
}

static int check_off(int64_t off)
{
	return off < -1 ? -EINVAL : 0;
}

/* ------------------------------------------------------------------------
 * Files
 * ------------------------------------------------------------------------ */

CORIO__API int corio_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	if (!path)
		return -EFAULT;
	OP_RUN(-1, io_uring_prep_openat(sqe, dirfd, path, flags | O_CLOEXEC, mode));
}

CORIO__API int corio_open(const char *path, int flags, mode_t mode)
{
	return corio_openat(AT_FDCWD, path, flags, mode);
}

CORIO__API ssize_t corio_read(int fd, void *buf, size_t n, int64_t off)
{
	if (fd < 0)
		return -EBADF;
	if (check_off(off) < 0)
		return -EINVAL;
	if (!buf && n)
		return -EFAULT;
	if (n > MAX_RW)
		n = MAX_RW;
	if (buf_check("corio_read", buf, n, true) < 0)
		return -EFAULT;
	OP_RUN_INTO(fd, buf, io_uring_prep_read(sqe, fd, buf, (unsigned)n, (uint64_t)off));
}

CORIO__API ssize_t corio_write(int fd, const void *buf, size_t n, int64_t off)
{
	if (fd < 0)
		return -EBADF;
	if (check_off(off) < 0)
		return -EINVAL;
	if (!buf && n)
		return -EFAULT;
	if (n > MAX_RW)
		n = MAX_RW;
	if (buf_check("corio_write", buf, n, false) < 0)
		return -EFAULT;
	OP_RUN(fd, io_uring_prep_write(sqe, fd, buf, (unsigned)n, (uint64_t)off));
}

static int check_iov(int fd, const struct iovec *iov, int iovcnt, int64_t off)
{
	if (fd < 0)
		return -EBADF;
	if (iovcnt < 0 || iovcnt > IOV_MAX || check_off(off) < 0)
		return -EINVAL;
	if (!iov && iovcnt)
		return -EFAULT;
	return 0;
}

CORIO__API ssize_t corio_readv(int fd, const struct iovec *iov, int iovcnt, int64_t off)
{
	int r = check_iov(fd, iov, iovcnt, off);

	if (r < 0)
		return r;
	if (iov_check("corio_readv", iov, (size_t)iovcnt, true) < 0)
		return -EFAULT;
	{
		corio__loop *l;
		corio__wait w = { 0 };
		struct io_uring_sqe *sqe = op_begin(&l, &r);
		if (!sqe)
			return r;
		io_uring_prep_readv(sqe, fd, iov, (unsigned)iovcnt, (uint64_t)off);
		return iov_written_by_kernel(iov, iovcnt, op_wait(l, sqe, &w, fd));
	}
}

CORIO__API ssize_t corio_writev(int fd, const struct iovec *iov, int iovcnt, int64_t off)
{
	int r = check_iov(fd, iov, iovcnt, off);

	if (r < 0)
		return r;
	if (iov_check("corio_writev", iov, (size_t)iovcnt, false) < 0)
		return -EFAULT;
	OP_RUN(fd, io_uring_prep_writev(sqe, fd, iov, (unsigned)iovcnt, (uint64_t)off));
}

CORIO__API int corio_fsync(int fd)
{
	if (fd < 0)
		return -EBADF;
	OP_RUN(fd, io_uring_prep_fsync(sqe, fd, 0));
}

CORIO__API int corio_fdatasync(int fd)
{
	if (fd < 0)
		return -EBADF;
	OP_RUN(fd, io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC));
}

CORIO__API int corio_statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *st)
{
	if (!path || !st)
		return -EFAULT;
	{
		corio__loop *l;
		corio__wait w = { 0 };
		int e, r;
		struct io_uring_sqe *sqe = op_begin(&l, &e);
		if (!sqe)
			return e;
		io_uring_prep_statx(sqe, dirfd, path, flags, mask, st);
		r = op_wait(l, sqe, &w, -1);
		(void)written_by_kernel(st, r == 0 ? (ssize_t)sizeof(*st) : 0);
		return r;
	}
}

/*
 * Closes fd in every case, cancelled or not (a close that could fail with
 * -ECANCELED would leak the fd). First it cancels every corio operation
 * still pending on fd in other tasks: with io_uring they hold their own
 * reference to the file and would otherwise wait on after the close.
 */
CORIO__API int corio_close(int fd)
{
	corio__loop *l = corio__tls_loop;
	struct io_uring_sqe *sqe;
	corio__wait w = { .drain = 1 };

	if (fd < 0)
		return -EBADF;
	if (fd & CORIO_FIXED_FILE_BIT)
		return corio_unregister_file(fd);
	if (!l || !l->current)
		return close(fd) < 0 ? -errno : 0;
	/* A cancel by fd walks every request in flight: only when some are
	 * on this fd. */
	if (l->fd_untracked || ((size_t)fd < l->nfd_pending && l->fd_pending[fd])) {
		sqe = corio__sqe(l);
		if (sqe) {
			io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
			io_uring_sqe_set_data64(sqe, CORIO__UD_IGNORE);
			l->inflight++;
		}
	}
	sqe = corio__sqe(l);
	if (!sqe)
		return close(fd) < 0 ? -errno : 0;
	io_uring_prep_close(sqe, fd);
	return op_wait(l, sqe, &w, -1);
}

/* The whole file into one malloc'd, NUL-terminated buffer. */
CORIO__API ssize_t corio_read_file(const char *path, void **data, size_t max)
{
	struct statx st;
	size_t cap, len = 0;
	char *buf;
	int fd;
	ssize_t r;

	if (!path || !data)
		return -EFAULT;
	*data = NULL;
	if (max == 0)
		max = (size_t)1 << 30;
	fd = corio_open(path, O_RDONLY, 0);
	if (fd < 0)
		return fd;
	r = corio_statx(fd, "", AT_EMPTY_PATH, STATX_SIZE, &st);
	if (r < 0)
		goto out;
	if (st.stx_size > max) {
		r = -EFBIG;
		goto out;
	}
	/* Files like /proc's say 0: start small and grow. */
	cap = st.stx_size ? (size_t)st.stx_size + 1 : 4096;
	if (cap > max)
		cap = max;
	buf = corio__malloc(cap + 1);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	for (;;) {
		if (len == cap) {
			char *nb;
			if (cap >= max) {
				/* Full at max: one more byte (the NUL's slot) tells
				 * whether there is more. */
				r = corio_read(fd, buf + len, 1, (int64_t)len);
				if (r == 0)
					break;
				free(buf);
				if (r > 0)
					r = -EFBIG;
				goto out;
			}
			cap = cap * 2 > max ? max : cap * 2;
			nb = corio__realloc(buf, cap + 1);
			if (!nb) {
				free(buf);
				r = -ENOMEM;
				goto out;
			}
			buf = nb;
		}
		r = corio_read(fd, buf + len, cap - len, (int64_t)len);
		if (r < 0) {
			free(buf);
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	*data = buf;
	r = (ssize_t)len;
out:
	corio_close(fd);
	return r;
}

/* Loops over short transfers; *done (may be NULL) gets what moved. */
static ssize_t xfer_all(int fd, const void *buf, size_t n, int64_t off, int flags, bool sock,
			size_t *done)
{
	size_t sent = 0;
	ssize_t r = 0;

	while (sent < n) {
		const char *p = (const char *)buf + sent;
		if (sock)
			r = corio_send(fd, p, n - sent, flags);
		else
			r = corio_write(fd, p, n - sent, off < 0 ? -1 : off + (int64_t)sent);
		if (r < 0)
			break;
		if (r == 0) {
			r = -EIO; /* no progress: do not spin */
			break;
		}
		sent += (size_t)r;
	}
	if (done)
		*done = sent;
	return r < 0 ? r : (ssize_t)sent;
}

CORIO__API ssize_t corio_write_all(int fd, const void *buf, size_t n, int64_t off, size_t *written)
{
	if (written)
		*written = 0;
	if (check_off(off) < 0)
		return -EINVAL;
	if (!buf && n)
		return -EFAULT;
	return xfer_all(fd, buf, n, off, 0, false, written);
}

/* ------------------------------------------------------------------------
 * Sockets
 * ------------------------------------------------------------------------ */

CORIO__API int corio_socket(int domain, int type, int protocol)
{
	static int no_socket_op; /* this kernel refused IORING_OP_SOCKET */
	corio__loop *l;
	corio__wait w = { 0 };
	struct io_uring_sqe *sqe;
	int r;

	type |= SOCK_CLOEXEC;
	if (!__atomic_load_n(&no_socket_op, __ATOMIC_RELAXED)) {
		sqe = op_begin(&l, &r);
		if (!sqe)
			return r;
		io_uring_prep_socket(sqe, domain, type, protocol, 0);
		r = op_wait(l, sqe, &w, -1);
		if (r != -EINVAL && r != -EOPNOTSUPP)
			return r;
		/* Maybe the arguments, maybe a kernel without the op: ask
		 * the system call, and remember if it agrees. */
		int fd = socket(domain, type, protocol);
		if (fd < 0)
			return -errno;
		__atomic_store_n(&no_socket_op, 1, __ATOMIC_RELAXED);
		return fd;
	}
	r = task_check();
	if (r < 0)
		return r;
	r = socket(domain, type, protocol);
	return r < 0 ? -errno : r;
}

CORIO__API int corio_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	if (fd < 0)
		return -EBADF;
	if (!addr)
		return -EFAULT;
	OP_RUN(fd, io_uring_prep_connect(sqe, fd, addr, len));
}

CORIO__API int corio_accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	if (fd < 0)
		return -EBADF;
	if (addr && !len)
		return -EFAULT;
	{
		corio__loop *l;
		corio__wait w = { 0 };
		int e, r;
		socklen_t cap = addr ? *len : 0;
		struct io_uring_sqe *sqe = op_begin(&l, &e);
		if (!sqe)
			return e;
		io_uring_prep_accept(sqe, fd, addr, len, SOCK_CLOEXEC);
		r = op_wait(l, sqe, &w, fd);
		if (r >= 0 && addr) {
			/* The kernel wrote the length and up to cap bytes of
			 * the peer's address. */
			(void)written_by_kernel(len, sizeof(*len));
			(void)written_by_kernel(addr, *len < cap ? *len : cap);
		}
		return r;
	}
}

CORIO__API ssize_t corio_recv(int fd, void *buf, size_t n, int flags)
{
	if (fd < 0)
		return -EBADF;
	if (!buf && n)
		return -EFAULT;
	if (n > MAX_RW)
		n = MAX_RW;
	if (buf_check("corio_recv", buf, n, true) < 0)
		return -EFAULT;
	OP_RUN_INTO(fd, buf, io_uring_prep_recv(sqe, fd, buf, n, flags));
}

/* MSG_NOSIGNAL always: a peer that went away is -EPIPE, not SIGPIPE. */
CORIO__API ssize_t corio_send(int fd, const void *buf, size_t n, int flags)
{
	if (fd < 0)
		return -EBADF;
	if (!buf && n)
		return -EFAULT;
	if (n > MAX_RW)
		n = MAX_RW;
	if (buf_check("corio_send", buf, n, false) < 0)
		return -EFAULT;
	OP_RUN(fd, io_uring_prep_send(sqe, fd, buf, n, flags | MSG_NOSIGNAL));
}

CORIO__API ssize_t corio_recvmsg(int fd, struct msghdr *msg, int flags)
{
	if (fd < 0)
		return -EBADF;
	if (!msg)
		return -EFAULT;
	if (iov_check("corio_recvmsg", msg->msg_iov, msg->msg_iovlen, true) < 0 ||
	    buf_check("corio_recvmsg", msg->msg_name, msg->msg_name ? msg->msg_namelen : 0, true) < 0 ||
	    buf_check("corio_recvmsg", msg->msg_control,
		      msg->msg_control ? msg->msg_controllen : 0, true) < 0)
		return -EFAULT;
	{
		corio__loop *l;
		corio__wait w = { 0 };
		int e;
		ssize_t r;
		struct io_uring_sqe *sqe = op_begin(&l, &e);
		if (!sqe)
			return e;
		io_uring_prep_recvmsg(sqe, fd, msg, (unsigned)flags);
		r = op_wait(l, sqe, &w, fd);
		if (r >= 0) {
			(void)iov_written_by_kernel(msg->msg_iov, (int)msg->msg_iovlen, r);
			(void)written_by_kernel(msg->msg_name, msg->msg_name ? msg->msg_namelen : 0);
			(void)written_by_kernel(msg->msg_control,
						msg->msg_control ? (ssize_t)msg->msg_controllen : 0);
		}
		return r;
	}
}

CORIO__API ssize_t corio_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	if (fd < 0)
		return -EBADF;
	if (!msg)
		return -EFAULT;
	if (iov_check("corio_sendmsg", msg->msg_iov, msg->msg_iovlen, false) < 0)
		return -EFAULT;
	OP_RUN(fd, io_uring_prep_sendmsg(sqe, fd, msg, (unsigned)flags | MSG_NOSIGNAL));
}

CORIO__API ssize_t corio_send_all(int fd, const void *buf, size_t n, int flags, size_t *sent)
{
	if (sent)
		*sent = 0;
	if (!buf && n)
		return -EFAULT;
	return xfer_all(fd, buf, n, 0, flags, true, sent);
}

CORIO__API int corio_shutdown(int fd, int how)
{
	if (fd < 0)
		return -EBADF;
	OP_RUN(fd, io_uring_prep_shutdown(sqe, fd, how));
}

CORIO__API int corio_poll(int fd, short events)
{
	if (fd < 0)
		return -EBADF;
	OP_RUN(fd, io_uring_prep_poll_add(sqe, fd, (unsigned)(uint16_t)events));
}

/* ------------------------------------------------------------------------
 * TCP helpers and name resolution
 * ------------------------------------------------------------------------ */

struct resolve_job {
	corio__pjob      p;      /* first: runs on the thread pool */
	char             host[NI_MAXHOST];
	char             port[8];
	int              passive;
	int              err;    /* getaddrinfo's */
	int              sys_errno; /* errno of the helper thread, for EAI_SYSTEM */
	struct addrinfo *res;
};

static void resolve_release(corio__xjob *x)
{
	struct resolve_job *j = (struct resolve_job *)x;

	if (j->res)
		freeaddrinfo(j->res);
	free(j);
}

static void resolve_run(corio__pjob *pj)
{
	struct resolve_job *j = (struct resolve_job *)pj;
	/* No AI_ADDRCONFIG: on a machine with loopback only it hides
	 * "localhost" itself. */
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC,
				  .ai_flags = j->passive ? AI_PASSIVE : 0 };

	j->err = getaddrinfo(j->host, j->port, &hints, &j->res);
	j->sys_errno = errno; /* errno is per thread: keep it for the loop */
}

static void resolve_unlink(corio__wait *w)
{
	((corio__xjob *)w->ctx)->w = NULL; /* abandoned: the loop frees it */
}

static int gai_errno(int e, int sys_errno)
{
	switch (e) {
	case EAI_NONAME:
#ifdef EAI_NODATA
	case EAI_NODATA:
#endif
	case EAI_ADDRFAMILY:
		return -ENOENT;
	case EAI_AGAIN:
		return -EAGAIN;
	case EAI_MEMORY:
		return -ENOMEM;
	case EAI_SYSTEM:
		return sys_errno ? -sys_errno : -EIO;
	default:
		return -EINVAL;
	}
}

/*
 * Resolves host:port for a TCP socket. Numeric addresses need no thread;
 * names go to the thread pool, the task waiting (cancellable) meanwhile: a
 * cancelled lookup is abandoned, and freed when it comes back.
 * On success (*out)->res is the list; resolve_release frees it all.
 */
static int resolve(const char *host, uint16_t port, bool passive, struct resolve_job **out)
{
	corio__loop *l = corio__tls_loop;
	struct resolve_job *j;
	int r;

	*out = NULL;
	if (strlen(host) >= NI_MAXHOST)
		return -ENAMETOOLONG;
	j = corio__calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	snprintf(j->host, sizeof(j->host), "%s", host);
	snprintf(j->port, sizeof(j->port), "%u", (unsigned)port);
	j->passive = passive;
	j->p.x.release = resolve_release;
	j->p.run = resolve_run;
	{
		/* Numeric: no thread, no wait. */
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
					  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV |
						      (passive ? AI_PASSIVE : 0) };
		if (getaddrinfo(j->host, j->port, &hints, &j->res) == 0) {
			*out = j;
			return 0;
		}
		j->res = NULL;
	}
	r = corio__pool_submit(l, &j->p);
	if (r < 0) {
		free(j);
		return r;
	}
	{
		corio__wait w = { .kind = CORIO__W_PLAIN, .what = CORIO__WHY_THREAD,
				  .unlink = resolve_unlink, .ctx = &j->p.x };
		j->p.x.w = &w;
		r = corio__block(l, &w, 0);
		if (r < 0)
			return r; /* abandoned: freed when it arrives */
	}
	if (j->err) {
		r = gai_errno(j->err, j->sys_errno);
		resolve_release(&j->p.x);
		return r;
	}
	*out = j;
	return 0;
}


CORIO__API int corio_listen_tcp_ex(const char *host, uint16_t port, int backlog, unsigned flags)
{
	struct resolve_job *j;
	int r, fd = -1, one = 1;

	if (flags & ~CORIO_LISTEN_REUSEPORT)
		return -EINVAL;
	r = task_check();
	if (r < 0)
		return r;
	if (!host || !*host)
		host = "127.0.0.1";
	r = resolve(host, port, true, &j);
	if (r < 0)
		return r;
	r = -EADDRNOTAVAIL;
	for (struct addrinfo *ai = j->res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			r = -errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if ((flags & CORIO_LISTEN_REUSEPORT) &&
		    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
			r = -errno;
			close(fd);
			fd = -1;
			continue;
		}
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, backlog > 0 ? backlog : SOMAXCONN) == 0)
			break;
		r = -errno;
		close(fd);
		fd = -1;
	}
	resolve_release(&j->p.x);
	return fd >= 0 ? fd : r;
}

CORIO__API int corio_listen_tcp(const char *host, uint16_t port, int backlog)
{
	return corio_listen_tcp_ex(host, port, backlog, 0);
}

CORIO__API int corio_dial_tcp(const char *host, uint16_t port)
{
	struct resolve_job *j;
	int r, fd = -1;

	if (!host || !*host)
		return -EINVAL;
	r = task_check();
	if (r < 0)
		return r;
	r = resolve(host, port, false, &j);
	if (r < 0)
		return r;
	r = -EADDRNOTAVAIL;
	/* Each address in turn, as getaddrinfo orders them (RFC 6724). */
	for (struct addrinfo *ai = j->res; ai; ai = ai->ai_next) {
		fd = corio_socket(ai->ai_family, SOCK_STREAM, 0);
		if (fd < 0) {
			r = fd;
			if (r == -ECANCELED || r == -ETIMEDOUT)
				break;
			continue;
		}
		r = corio_connect(fd, ai->ai_addr, ai->ai_addrlen);
		if (r == 0) {
			int one = 1;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			break;
		}
		corio_close(fd);
		fd = -1;
		if (r == -ECANCELED || r == -ETIMEDOUT)
			break;
	}
	resolve_release(&j->p.x);
	return fd >= 0 ? fd : r;
}

CORIO__API int corio_local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -EAFNOSUPPORT;
}

/* ------------------------------------------------------------------------
 * Registered files and buffers
 * ------------------------------------------------------------------------ */

#define FIXED_FILES 4096 /* slots in a loop's registered-file table, at most */

/* The kernel refuses a table larger than RLIMIT_NOFILE (-EMFILE). */
static unsigned fixed_table_size(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < FIXED_FILES)
		return rl.rlim_cur ? (unsigned)rl.rlim_cur : 1;
	return FIXED_FILES;
}

static corio__loop *loop_of_caller(void)
{
	return corio__tls_loop;
}

CORIO__API int corio_register_file(int fd)
{
	corio__loop *l = loop_of_caller();
	int r;

	if (!l)
		return -EPERM;
	if (fd < 0 || (fd & CORIO_FIXED_FILE_BIT))
		return -EBADF;
	if (!l->files_registered) {
		/* A sparse table, filled slot by slot; the free slots are kept
		 * highest first so the lowest is handed out first. */
		unsigned n = fixed_table_size();
		uint32_t *fr = corio__malloc(n * sizeof(*fr));
		if (!fr)
			return -ENOMEM;
		r = io_uring_register_files_sparse(&l->ring, n);
		if (r < 0) {
			free(fr);
			return r;
		}
		for (unsigned i = 0; i < n; i++)
			fr[i] = n - 1 - i;
		l->fixed_free = fr;
		l->nfixed_free = n;
		l->nfixed_slots = n;
		l->files_registered = true;
	}
	if (!l->nfixed_free)
		return -ENFILE;
	{
		uint32_t slot = l->fixed_free[l->nfixed_free - 1];
		r = io_uring_register_files_update(&l->ring, slot, &fd, 1);
		if (r < 0)
			return r;
		if (r != 1)
			return -EBADF;
		l->nfixed_free--;
		return (int)(slot | CORIO_FIXED_FILE_BIT);
	}
}

CORIO__API int corio_unregister_file(int handle)
{
	corio__loop *l = loop_of_caller();
	uint32_t slot;
	int none = -1, r;

	if (!l)
		return -EPERM;
	if (handle < 0 || !(handle & CORIO_FIXED_FILE_BIT))
		return -EBADF;
	slot = (uint32_t)(handle & ~CORIO_FIXED_FILE_BIT);
	if (!l->files_registered || slot >= l->nfixed_slots)
		return -EBADF;
	for (unsigned i = 0; i < l->nfixed_free; i++)
		if (l->fixed_free[i] == slot)
			return -EBADF; /* not registered */
	r = io_uring_register_files_update(&l->ring, slot, &none, 1);
	if (r < 0)
		return r;
	l->fixed_free[l->nfixed_free++] = slot;
	return 0;
}

CORIO__API int corio_register_buffers(const struct iovec *iov, unsigned n)
{
	corio__loop *l = loop_of_caller();
	int r;

	if (!l)
		return -EPERM;
	if (!iov || !n)
		return -EINVAL;
	if (l->bufs_registered)
		return -EBUSY;
	r = io_uring_register_buffers(&l->ring, iov, n);
	if (r == 0)
		l->bufs_registered = true;
	return r;
}

CORIO__API int corio_unregister_buffers(void)
{
	corio__loop *l = loop_of_caller();
	int r;

	if (!l)
		return -EPERM;
	if (!l->bufs_registered)
		return -ENXIO;
	r = io_uring_unregister_buffers(&l->ring);
	if (r == 0)
		l->bufs_registered = false;
	return r;
}

CORIO__API ssize_t corio_read_fixed(int fd, void *buf, size_t n, int64_t off, unsigned buf_index)
{
	if (fd < 0)
		return -EBADF;
	if (check_off(off) < 0 || n > MAX_RW)
		return -EINVAL;
	if (!buf && n)
		return -EFAULT;
	if (buf_check("corio_read_fixed", buf, n, true) < 0)
		return -EFAULT;
	OP_RUN_INTO(fd, buf, io_uring_prep_read_fixed(sqe, fd, buf, (unsigned)n, (uint64_t)off, (int)buf_index));
}

CORIO__API ssize_t corio_write_fixed(int fd, const void *buf, size_t n, int64_t off,
				     unsigned buf_index)
{
	if (fd < 0)
		return -EBADF;
	if (check_off(off) < 0 || n > MAX_RW)
		return -EINVAL;
	if (!buf && n)
		return -EFAULT;
	if (buf_check("corio_write_fixed", buf, n, false) < 0)
		return -EFAULT;
	OP_RUN(fd, io_uring_prep_write_fixed(sqe, fd, buf, (unsigned)n, (uint64_t)off, (int)buf_index));
}
