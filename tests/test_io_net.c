/*
 * test_io_net.c - sockets (asyncio streams): corio_socket/connect/accept/
 * recv/send/recvmsg/sendmsg/send_all/shutdown/poll, corio_listen_tcp(_ex),
 * corio_dial_tcp, corio_local_port.
 *
 *   listen     NULL or "" host is 127.0.0.1, port 0 and corio_local_port,
 *              the backlog, "::1", names, REUSEPORT (and -EADDRINUSE
 *              without it), bad flags
 *   dial       numeric IPv4 and IPv6, "localhost" resolved on a thread of
 *              the pool (the loop keeps running meanwhile), unknown names,
 *              refused ports, NULL/"" hosts
 *   streams    accept with and without an address, recv/send, EOF after
 *              shutdown(SHUT_WR), send_all of 4 MiB to a slow reader, a
 *              vanished peer (-EPIPE or -ECONNRESET, never SIGPIPE),
 *              50 clients echoing through one server in-process
 *   datagrams  UDP with corio_socket + bind + corio_sendmsg/corio_recvmsg
 *   poll       POLLIN, POLLOUT, POLLHUP on pipes and sockets
 *   close      a close ends other tasks' recv and accept on that fd
 *   cancel     table-driven: accept, connect (a full backlog), recv, send
 *              (a full socket), sendmsg, send_all, recvmsg, poll, and
 *              dial_tcp while its name is being resolved; each cancelled
 *              while suspended, before the call, by a deadline scope, and
 *              inside a shield (with and without an inner deadline);
 *              afterwards the socket still works and nothing was taken
 *   no effect  a cancelled task, or one past its deadline: every call
 *              fails at once, without suspending, and nothing happens
 *   shutdown   main returns while tasks wait in I/O: they are cancelled
 *   threads    lookups run as jobs on the process's thread pool (the one
 *              corio_to_thread uses, warmed once before the tests so that
 *              its persistent workers and their ring fds are part of every
 *              leak check's baseline): a pool that cannot start any worker
 *              (-EAGAIN, in a child, where the pool starts afresh); a
 *              lookup abandoned by its cancelled task that comes back after
 *              its loop closed; a worker's post racing the loop's close
 *              (eventfd and MSG_RING); errno of a failed lookup
 *   misuse     -EBADF, -EFAULT, -EINVAL, -ENOTSOCK, -EPERM outside a loop
 *
 * Every server binds 127.0.0.1 (or ::1). Name resolution is observed and
 * gated through getaddrinfo, which this program defines over libc's:
 * GATED_HOST waits at a gate the test opens, then resolves "localhost"
 * (GATED_DNS_HOST the same, then "no-such-host.invalid", through DNS);
 * EAI_SYSTEM_HOST fails as getaddrinfo does when a system call fails;
 * every other call goes straight to libc. pthread_create and write are
 * wrapped the same way, for fault injection (a pool whose workers cannot
 * start) and to widen a race window (a worker slow to wake the loop); both
 * pass straight through unless a test arms them.
 */
#include "check.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>

/* Upper bounds only; valgrind and TSan are slower (check.h). */
#define SLACK_MS (200 * CHECK_TIME_SCALE)
#define GATED_HOST "gated.corio.test"
#define GATED_DNS_HOST "gated-dns.corio.test"
#define EAI_SYSTEM_HOST "eai-system.corio.test" /* fails with EAI_SYSTEM, errno EMFILE */

/* ------------------------------------------------------------------------
 * getaddrinfo, observed and gated
 * ------------------------------------------------------------------------ */

typedef int (*gai_fn)(const char *, const char *, const struct addrinfo *, struct addrinfo **);

static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t  gate_cv = PTHREAD_COND_INITIALIZER;
static int             gate_is_open = 1;
static int             gate_waiting;     /* threads waiting at the gate now */
static int             lookups_running;  /* name lookups inside getaddrinfo now */
static int             name_lookups;     /* non-numeric lookups */
static int             name_lookups_here;/* ... of them on the loop's thread */
static pthread_t       loop_thread;

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		struct addrinfo **res)
{
	static gai_fn real;
	gai_fn f = __atomic_load_n(&real, __ATOMIC_ACQUIRE);

	if (!f) {
		f = (gai_fn)dlsym(RTLD_NEXT, "getaddrinfo");
		if (!f)
			return EAI_SYSTEM;
		__atomic_store_n(&real, f, __ATOMIC_RELEASE);
	}
	if (!node || (hints && (hints->ai_flags & AI_NUMERICHOST)))
		return f(node, service, hints, res);
	pthread_mutex_lock(&gate_mu);
	name_lookups++;
	if (pthread_equal(pthread_self(), loop_thread))
		name_lookups_here++;
	/* Atomic: it is decremented (and read) outside gate_mu. */
	__atomic_add_fetch(&lookups_running, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&gate_mu);
	int r;
	if (strcmp(node, EAI_SYSTEM_HOST) == 0) {
		errno = EMFILE; /* what a lookup that cannot open a file says */
		r = EAI_SYSTEM;
	} else {
		bool dns = strcmp(node, GATED_DNS_HOST) == 0;
		if (dns || strcmp(node, GATED_HOST) == 0) {
			pthread_mutex_lock(&gate_mu);
			gate_waiting++;
			while (!gate_is_open)
				pthread_cond_wait(&gate_cv, &gate_mu);
			gate_waiting--;
			pthread_mutex_unlock(&gate_mu);
			node = dns ? "no-such-host.invalid" : "localhost";
		}
		r = f(node, service, hints, res);
	}
	int e = errno;
	__atomic_sub_fetch(&lookups_running, 1, __ATOMIC_RELEASE);
	errno = e;
	return r;
}

/* pthread_create, failing on demand. The pool's workers live as long as
 * the process (or the forked child) does: nothing here waits for them. */
typedef int (*ptc_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
static int ptc_fail; /* the error the next pthread_create calls return */
static int ptc_calls; /* pthread_create calls, failed ones included */

int pthread_create(pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	static ptc_fn real;
	ptc_fn f = __atomic_load_n(&real, __ATOMIC_ACQUIRE);
	int e = __atomic_load_n(&ptc_fail, __ATOMIC_RELAXED);

	__atomic_add_fetch(&ptc_calls, 1, __ATOMIC_RELAXED);
	if (e)
		return e;
	if (!f) {
		f = (ptc_fn)dlsym(RTLD_NEXT, "pthread_create");
		if (!f)
			return ENOSYS;
		__atomic_store_n(&real, f, __ATOMIC_RELEASE);
	}
	return f(th, attr, fn, arg);
}

/* write, with other threads' 8-byte writes (a mailbox eventfd's, from a
 * pool worker) delayed on demand. */
static int write_delay_ms;
static int slow_writes; /* writes delayed so far */

ssize_t write(int fd, const void *buf, size_t n)
{
	int ms = __atomic_load_n(&write_delay_ms, __ATOMIC_RELAXED);

	if (ms && n == 8 && !pthread_equal(pthread_self(), loop_thread)) {
		__atomic_add_fetch(&slow_writes, 1, __ATOMIC_RELAXED);
		usleep((useconds_t)ms * 1000);
	}
	return syscall(SYS_write, fd, buf, n);
}

static void gate_close(void)
{
	pthread_mutex_lock(&gate_mu);
	gate_is_open = 0;
	pthread_mutex_unlock(&gate_mu);
}

static void gate_open(void)
{
	pthread_mutex_lock(&gate_mu);
	gate_is_open = 1;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_mu);
}

static int gate_waiters(void)
{
	int n;

	pthread_mutex_lock(&gate_mu);
	n = gate_waiting;
	pthread_mutex_unlock(&gate_mu);
	return n;
}

static void lookups(int *all, int *here)
{
	pthread_mutex_lock(&gate_mu);
	*all = name_lookups;
	*here = name_lookups_here;
	pthread_mutex_unlock(&gate_mu);
}

static int running_lookups(void)
{
	return __atomic_load_n(&lookups_running, __ATOMIC_ACQUIRE);
}

/* Inside a loop: waits until no job of the loop is out on the pool (a
 * resolution a cancelled task gave up on is freed when it arrives). The
 * workers themselves stay: they are the process's. */
static void wait_jobs(void)
{
	for (int i = 0; i < 5000 * CHECK_TIME_SCALE && corio__tls_loop->external; i++)
		corio_sleep_ms(1);
	assert_int_equal(corio__tls_loop->external, 0);
}

/* Outside a loop: waits until no lookup runs and the fd count is back to
 * fds (a job abandoned after its loop closed holds the loop's mailbox, and
 * its eventfd, until the worker releases both), then a little longer for
 * the worker's last free(). */
static void wait_orphans(int fds)
{
	for (int i = 0; i < 2000 * CHECK_TIME_SCALE &&
			(running_lookups() || check_count_fds() != fds); i++)
		usleep(1000);
	usleep(5000 * CHECK_TIME_SCALE);
}

/* Every test's teardown: a test that failed (or ended) with the gate closed
 * must not leave a lookup stuck for the next ones; then the usual leak
 * check. */
static int net_teardown(void **state)
{
	if (!gate_is_open || running_lookups()) {
		gate_open();
		wait_orphans(check_mark_before.fds);
	}
	return check_teardown(state);
}

#define NET_TEST(f) cmocka_unit_test_setup_teardown(f, check_setup, net_teardown)

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

static void run_main(int (*fn)(void *), void *arg)
{
	alarm(30); /* a wait nobody ends would hang the whole program */
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

static int fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static void xclose(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int sockopt_int(int fd, int level, int name)
{
	int v = -1;
	socklen_t len = sizeof(v);

	assert_int_equal(getsockopt(fd, level, name, &v, &len), 0);
	return v;
}

static void fill_pattern(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(seed * 131u + i * 7u + (i >> 9));
}

static struct sockaddr_in loopback4(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

/* A connected pair over a listener on 127.0.0.1 (inside a task). */
struct pair {
	int lfd, c, s;
	int port;
};

static void pair_make(struct pair *p)
{
	p->lfd = corio_listen_tcp(NULL, 0, 0);
	assert_true(p->lfd >= 0);
	p->port = corio_local_port(p->lfd);
	assert_true(p->port > 0);
	p->c = corio_dial_tcp("127.0.0.1", (uint16_t)p->port);
	assert_true(p->c >= 0);
	p->s = corio_accept(p->lfd, NULL, NULL);
	assert_true(p->s >= 0);
}

static void pair_close(struct pair *p)
{
	xclose(&p->lfd);
	xclose(&p->c);
	xclose(&p->s);
}

/* Receives exactly n bytes (inside a task, under a 5 s deadline). */
static ssize_t recv_exact(int fd, void *buf, size_t n)
{
	size_t got = 0;
	ssize_t r = 0;

	corio_deadline_push(5000);
	while (got < n) {
		r = corio_recv(fd, (char *)buf + got, n - got, 0);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	corio_deadline_pop();
	return got == n ? (ssize_t)n : (r < 0 ? r : (ssize_t)got);
}

/* Fills fd's send path (its buffer and the peer's) until sends would
 * block, and stay blocked; returns the bytes sent. */
static size_t fill_socket(int fd, char c)
{
	static char chunk[65536];
	size_t total = 0;

	memset(chunk, c, sizeof(chunk));
	for (int round = 0; round < 50; round++) {
		size_t before = total;
		for (;;) {
			ssize_t n = send(fd, chunk, sizeof(chunk), MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n < 0) {
				assert_int_equal(errno, EAGAIN);
				break;
			}
			total += (size_t)n;
			assert_true(total < ((size_t)256 << 20));
		}
		if (round > 0 && total == before)
			return total;
		corio_sleep_ms(5);
	}
	fail_msg("the socket never stayed full");
	return 0;
}

/* Reads n bytes from fd; counts those equal to c1 and to c2. */
static void recv_count(int fd, size_t n, char c1, size_t *n1, char c2, size_t *n2)
{
	char chunk[16384];
	size_t got = 0;

	*n1 = 0;
	if (n2)
		*n2 = 0;
	corio_deadline_push(5000);
	while (got < n) {
		size_t want = n - got < sizeof(chunk) ? n - got : sizeof(chunk);
		ssize_t r = corio_recv(fd, chunk, want, 0);
		assert_true(r > 0);
		for (ssize_t i = 0; i < r; i++) {
			if (chunk[i] == c1)
				(*n1)++;
			else if (n2 && chunk[i] == c2)
				(*n2)++;
		}
		got += (size_t)r;
	}
	assert_int_equal(corio_deadline_pop(), 0);
}

/* Nothing more arrives on fd within ms. */
static void expect_quiet(int fd, int ms)
{
	char c;

	corio_deadline_push((uint64_t)ms);
	assert_int_equal(corio_recv(fd, &c, 1, 0), -ETIMEDOUT);
	corio_deadline_pop();
}

/* A port nobody listens on (bound then closed: the kernel will not hand it
 * out again at once). */
static uint16_t closed_port(void)
{
	int fd = corio_listen_tcp(NULL, 0, 0);
	int port;

	assert_true(fd >= 0);
	port = corio_local_port(fd);
	assert_true(port > 0);
	assert_int_equal(corio_close(fd), 0);
	return (uint16_t)port;
}

/* ------------------------------------------------------------------------
 * Listening
 * ------------------------------------------------------------------------ */

static int listen_main(void *arg)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	struct tcp_info ti;
	socklen_t tlen = sizeof(ti);
	int somax = SOMAXCONN;
	FILE *f;
	int fd, fd2;

	fd = corio_listen_tcp(NULL, 0, 0);
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	assert_int_equal(a.sin_family, AF_INET);
	assert_int_equal(ntohl(a.sin_addr.s_addr), INADDR_LOOPBACK);
	assert_int_equal(corio_local_port(fd), ntohs(a.sin_port));
	assert_true(ntohs(a.sin_port) > 0);
	assert_int_equal(sockopt_int(fd, SOL_SOCKET, SO_ACCEPTCONN), 1);
	assert_int_equal(sockopt_int(fd, SOL_SOCKET, SO_REUSEADDR), 1);
	assert_int_equal(sockopt_int(fd, SOL_SOCKET, SO_REUSEPORT), 0);
	/* backlog <= 0 means SOMAXCONN (capped by the sysctl): a listener's
	 * tcpi_sacked is its backlog. */
	f = fopen("/proc/sys/net/core/somaxconn", "r");
	if (f) {
		int v;
		if (fscanf(f, "%d", &v) == 1 && v < somax)
			somax = v;
		fclose(f);
	}
	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tlen), 0);
	assert_int_equal(ti.tcpi_sacked, (unsigned)somax);
	assert_int_equal(corio_close(fd), 0);

	fd = corio_listen_tcp("", 0, 7);
	assert_true(fd >= 0);
	len = sizeof(a);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	assert_int_equal(ntohl(a.sin_addr.s_addr), INADDR_LOOPBACK);
	tlen = sizeof(ti);
	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tlen), 0);
	assert_int_equal(ti.tcpi_sacked, 7);
	assert_int_equal(corio_close(fd), 0);

	fd = corio_listen_tcp(NULL, 0, -5);
	assert_true(fd >= 0);
	tlen = sizeof(ti);
	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tlen), 0);
	assert_int_equal(ti.tcpi_sacked, (unsigned)somax);

	/* A fixed port: the one just used, still bound: -EADDRINUSE. */
	assert_int_equal(corio_listen_tcp(NULL, (uint16_t)corio_local_port(fd), 0), -EADDRINUSE);
	/* A name, resolved on a pool thread. */
	fd2 = corio_listen_tcp("localhost", 0, 0);
	assert_true(fd2 >= 0);
	len = sizeof(a);
	assert_int_equal(getsockname(fd2, (struct sockaddr *)&a, &len), 0);
	assert_int_equal(ntohl(a.sin_addr.s_addr), INADDR_LOOPBACK);
	assert_int_equal(corio_close(fd2), 0);
	/* An address this machine does not have. */
	assert_int_equal(corio_listen_tcp("192.0.2.77", 0, 0), -EADDRNOTAVAIL);
	assert_int_equal(corio_close(fd), 0);
	wait_jobs();
	return 0;
}

static void test_listen(void **state)
{
	run_main(listen_main, NULL);
}

static int reuseport_main(void *arg)
{
	int a, b, c, port;

	a = corio_listen_tcp_ex(NULL, 0, 0, CORIO_LISTEN_REUSEPORT);
	assert_true(a >= 0);
	assert_int_equal(sockopt_int(a, SOL_SOCKET, SO_REUSEPORT), 1);
	port = corio_local_port(a);
	assert_true(port > 0);
	/* A second one on the same port. */
	b = corio_listen_tcp_ex("127.0.0.1", (uint16_t)port, 0, CORIO_LISTEN_REUSEPORT);
	assert_true(b >= 0);
	assert_int_equal(corio_local_port(b), port);
	/* Without the flag: in use. */
	assert_int_equal(corio_listen_tcp_ex(NULL, (uint16_t)port, 0, 0), -EADDRINUSE);
	assert_int_equal(corio_listen_tcp(NULL, (uint16_t)port, 0), -EADDRINUSE);
	/* Both accept: connect until each listener got one. */
	int got_a = 0, got_b = 0;
	for (int i = 0; i < 64 && !(got_a && got_b); i++) {
		int cl = corio_dial_tcp("127.0.0.1", (uint16_t)port);
		struct pollfd pf[2] = { { a, POLLIN, 0 }, { b, POLLIN, 0 } };
		assert_true(cl >= 0);
		assert_int_equal(poll(pf, 2, 1000), 1);
		int s = corio_accept(pf[0].revents ? a : b, NULL, NULL);
		assert_true(s >= 0);
		if (pf[0].revents)
			got_a = 1;
		else
			got_b = 1;
		corio_close(s);
		corio_close(cl);
	}
	assert_true(got_a && got_b);
	assert_int_equal(corio_close(a), 0);
	assert_int_equal(corio_close(b), 0);

	/* Without the flag on the first: the second cannot join. */
	a = corio_listen_tcp(NULL, 0, 0);
	assert_true(a >= 0);
	port = corio_local_port(a);
	assert_int_equal(corio_listen_tcp_ex(NULL, (uint16_t)port, 0, CORIO_LISTEN_REUSEPORT),
			 -EADDRINUSE);
	assert_int_equal(corio_close(a), 0);

	/* Unknown flags. */
	assert_int_equal(corio_listen_tcp_ex(NULL, 0, 0, 1u << 5), -EINVAL);
	assert_int_equal(corio_listen_tcp_ex(NULL, 0, 0, ~0u), -EINVAL);
	c = corio_listen_tcp_ex(NULL, 0, 0, 0);
	assert_true(c >= 0);
	assert_int_equal(corio_close(c), 0);
	return 0;
}

static void test_listen_reuseport(void **state)
{
	run_main(reuseport_main, NULL);
}

/* ------------------------------------------------------------------------
 * Dialing and accepting
 * ------------------------------------------------------------------------ */

struct v6 {
	int skipped;
};

static int ipv6_main(void *arg)
{
	struct v6 *v = arg;
	struct sockaddr_in6 a, peer;
	socklen_t len = sizeof(a), plen = sizeof(peer);
	int lfd, c, s, port;
	char buf[8];

	lfd = corio_listen_tcp("::1", 0, 0);
	if (lfd == -EADDRNOTAVAIL || lfd == -EAFNOSUPPORT) {
		v->skipped = 1;
		return 0;
	}
	assert_true(lfd >= 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
	assert_int_equal(a.sin6_family, AF_INET6);
	assert_memory_equal(&a.sin6_addr, &in6addr_loopback, sizeof(in6addr_loopback));
	port = corio_local_port(lfd);
	assert_true(port > 0);
	c = corio_dial_tcp("::1", (uint16_t)port);
	assert_true(c >= 0);
	assert_int_equal(sockopt_int(c, IPPROTO_TCP, TCP_NODELAY), 1);
	s = corio_accept(lfd, (struct sockaddr *)&peer, &plen);
	assert_true(s >= 0);
	assert_int_equal(plen, sizeof(struct sockaddr_in6));
	assert_int_equal(peer.sin6_family, AF_INET6);
	assert_memory_equal(&peer.sin6_addr, &in6addr_loopback, sizeof(in6addr_loopback));
	assert_int_equal(corio_send(c, "six", 3, 0), 3);
	assert_int_equal(corio_recv(s, buf, sizeof(buf), 0), 3);
	assert_memory_equal(buf, "six", 3);
	/* The IPv4 dial to the IPv6-only port is refused. */
	assert_int_equal(corio_dial_tcp("127.0.0.1", (uint16_t)port), -ECONNREFUSED);
	assert_int_equal(corio_close(s), 0);
	assert_int_equal(corio_close(c), 0);
	assert_int_equal(corio_close(lfd), 0);
	return 0;
}

static void test_ipv6(void **state)
{
	struct v6 v = { 0 };

	run_main(ipv6_main, &v);
	if (v.skipped)
		CHECK_SKIP_TEST("no IPv6 loopback here\n");
}

static int dial_main(void *arg)
{
	struct sockaddr_in peer, local;
	socklen_t plen = sizeof(peer), llen = sizeof(local);
	int lfd, c, s, port, all0, here0, all1, here1;
	char buf[8];

	lfd = corio_listen_tcp(NULL, 0, 0);
	assert_true(lfd >= 0);
	port = corio_local_port(lfd);

	/* Numeric: no lookup by name at all. */
	lookups(&all0, &here0);
	c = corio_dial_tcp("127.0.0.1", (uint16_t)port);
	assert_true(c >= 0);
	lookups(&all1, &here1);
	assert_int_equal(all1, all0);
	assert_true(fcntl(c, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(sockopt_int(c, IPPROTO_TCP, TCP_NODELAY), 1);
	/* Accept with an address: the client's. */
	s = corio_accept(lfd, (struct sockaddr *)&peer, &plen);
	assert_true(s >= 0);
	assert_true(fcntl(s, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(plen, sizeof(struct sockaddr_in));
	assert_int_equal(peer.sin_family, AF_INET);
	assert_int_equal(ntohl(peer.sin_addr.s_addr), INADDR_LOOPBACK);
	assert_int_equal(getsockname(c, (struct sockaddr *)&local, &llen), 0);
	assert_int_equal(peer.sin_port, local.sin_port);
	assert_int_equal(corio_send(c, "ping", 4, 0), 4);
	assert_int_equal(corio_recv(s, buf, sizeof(buf), 0), 4);
	assert_memory_equal(buf, "ping", 4);
	assert_int_equal(corio_send(s, "pong", 4, 0), 4);
	assert_int_equal(corio_recv(c, buf, sizeof(buf), 0), 4);
	assert_memory_equal(buf, "pong", 4);
	corio_close(s);
	corio_close(c);

	/* "localhost": looked up on a pool thread, not on the loop's. */
	lookups(&all0, &here0);
	c = corio_dial_tcp("localhost", (uint16_t)port);
	assert_true(c >= 0);
	lookups(&all1, &here1);
	assert_true(all1 > all0);
	assert_int_equal(here1, here0);
	/* Accept without an address. */
	s = corio_accept(lfd, NULL, NULL);
	assert_true(s >= 0);
	assert_int_equal(corio_send(c, "x", 1, 0), 1);
	assert_int_equal(corio_recv(s, buf, 1, 0), 1);
	corio_close(s);
	corio_close(c);

	/* An address buffer too small: truncated, len says the real size. */
	c = corio_dial_tcp("127.0.0.1", (uint16_t)port);
	assert_true(c >= 0);
	plen = 4;
	memset(&peer, 0xee, sizeof(peer));
	s = corio_accept(lfd, (struct sockaddr *)&peer, &plen);
	assert_true(s >= 0);
	assert_int_equal(plen, sizeof(struct sockaddr_in));
	assert_int_equal(peer.sin_addr.s_addr, 0xeeeeeeeeu); /* past the 4 bytes: untouched */
	corio_close(s);
	corio_close(c);
	wait_jobs();
	assert_int_equal(corio_close(lfd), 0);
	return 0;
}

static void test_dial_and_accept(void **state)
{
	run_main(dial_main, NULL);
}

/* While a name is being resolved, the loop runs other tasks. */
struct ticker {
	int  ticks;
	bool stop;
};

static int ticker_fn(void *arg)
{
	struct ticker *tk = arg;

	while (!tk->stop && tk->ticks < 10000) {
		if (corio_sleep_ms(1) < 0)
			break;
		tk->ticks++;
	}
	return 0;
}

struct dialer {
	uint16_t port;
	int      r;
	int      done;
};

static int dialer_fn(void *arg)
{
	struct dialer *d = arg;

	d->r = corio_dial_tcp(GATED_HOST, d->port);
	d->done = 1;
	return 0;
}

static int nonblocking_resolve_main(void *arg)
{
	struct ticker tk = { 0 };
	struct dialer d = { 0 };
	corio_task *t1, *t2;
	int lfd, s, here0, here1, all;

	lfd = corio_listen_tcp(NULL, 0, 0);
	assert_true(lfd >= 0);
	d.port = (uint16_t)corio_local_port(lfd);
	lookups(&all, &here0);
	gate_close();
	t1 = corio_spawn(ticker_fn, &tk);
	t2 = corio_spawn(dialer_fn, &d);
	assert_true(t1 && t2);
	/* The lookup is stuck at the gate, and the loop goes on. */
	for (int i = 0; i < 400 * CHECK_TIME_SCALE && (tk.ticks < 5 || gate_waiters() < 1); i++)
		corio_sleep_ms(5);
	int waiting = gate_waiters(), ticks = tk.ticks, done = d.done;
	gate_open();
	assert_int_equal(waiting, 1);
	assert_int_equal(done, 0);
	assert_true(ticks >= 5);
	assert_int_equal(corio_join(t2), 0);
	assert_true(d.r >= 0);
	lookups(&all, &here1);
	assert_int_equal(here1, here0);
	s = corio_accept(lfd, NULL, NULL);
	assert_true(s >= 0);
	tk.stop = true;
	assert_int_equal(corio_join(t1), 0);
	corio_close(s);
	corio_close(d.r);
	corio_close(lfd);
	wait_jobs();
	return 0;
}

static void test_resolve_does_not_block_loop(void **state)
{
	run_main(nonblocking_resolve_main, NULL);
}

struct dial_err {
	int unknown;
	int unknown_ms;
};

static int dial_errors_main(void *arg)
{
	struct dial_err *de = arg;
	uint16_t port = closed_port();
	char longname[1100];
	uint64_t t0;
	int fd;

	assert_int_equal(corio_dial_tcp("127.0.0.1", port), -ECONNREFUSED);
	assert_int_equal(corio_dial_tcp("localhost", port), -ECONNREFUSED);
	assert_int_equal(corio_dial_tcp(NULL, port), -EINVAL);
	assert_int_equal(corio_dial_tcp("", port), -EINVAL);
	/* A raw connect to it. */
	fd = corio_socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = loopback4(port);
	assert_int_equal(corio_connect(fd, (struct sockaddr *)&a, sizeof(a)), -ECONNREFUSED);
	assert_int_equal(corio_close(fd), 0);
	/* A name too long for any resolver. */
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_true(corio_dial_tcp(longname, port) < 0);
	/* An unknown name, bounded: a resolver that hangs is not our bug. */
	t0 = corio_now_ns();
	corio_deadline_push(3000);
	de->unknown = corio_dial_tcp("no-such-host.invalid", port);
	corio_deadline_pop();
	de->unknown_ms = (int)check_ms_since(t0);
	wait_jobs();
	return 0;
}

/* glibc's first DNS query on a thread keeps per-thread state (the name
 * servers' addresses: 48 bytes here) for the thread's life, and the pool's
 * workers live on: pay it on every worker first, one query held at the gate
 * per worker at once. */
static int pool_workers; /* counted at program start */

static int dns_warm_dialer(void *arg)
{
	int r;

	corio_deadline_push(3000);
	r = corio_dial_tcp(GATED_DNS_HOST, 9);
	corio_deadline_pop();
	return r;
}

static int dns_warm_main(void *arg)
{
	struct dial_err *de = arg;
	corio_task *t[64];
	int n = pool_workers < 1 ? 1 : pool_workers > 64 ? 64 : pool_workers;
	uint64_t t0 = corio_now_ns();

	gate_close();
	for (int i = 0; i < n; i++) {
		t[i] = corio_spawn(dns_warm_dialer, NULL);
		assert_non_null(t[i]);
	}
	for (int i = 0; i < 2000 * CHECK_TIME_SCALE && gate_waiters() < n; i++)
		corio_sleep_ms(1);
	assert_int_equal(gate_waiters(), n);
	gate_open();
	de->unknown = -ENOENT;
	for (int i = 0; i < n; i++) {
		int r = corio_join(t[i]);
		if (r != -ENOENT)
			de->unknown = r;
	}
	de->unknown_ms = (int)check_ms_since(t0);
	if (de->unknown == -ENOENT)
		wait_jobs();
	return 0;
}

static void test_dial_errors(void **state)
{
	struct dial_err de = { 0 };

	run_main(dns_warm_main, &de);
	if (de.unknown == -ETIMEDOUT || de.unknown == -EAGAIN)
		CHECK_SKIP_TEST("the resolver did not answer for no-such-host.invalid (%d after "
				"%d ms)\n", de.unknown, de.unknown_ms);
	assert_int_equal(de.unknown, -ENOENT);
	check_rebaseline();
	run_main(dial_errors_main, &de);
	if (de.unknown == -ETIMEDOUT || de.unknown == -EAGAIN)
		CHECK_SKIP_TEST("the resolver did not answer for no-such-host.invalid (%d after "
				"%d ms)\n", de.unknown, de.unknown_ms);
	assert_int_equal(de.unknown, -ENOENT);
}

/* getaddrinfo failing with EAI_SYSTEM: the errno it left (on the pool
 * worker) is the error, as the resolver's code intends. */
struct sys_err {
	int dial, listen;
};

static int sys_err_main(void *arg)
{
	struct sys_err *se = arg;

	errno = 0;
	se->dial = corio_dial_tcp(EAI_SYSTEM_HOST, 80);
	errno = 0;
	se->listen = corio_listen_tcp(EAI_SYSTEM_HOST, 0, 0);
	if (se->listen >= 0)
		corio_close(se->listen);
	wait_jobs();
	return 0;
}

static void test_resolve_system_error(void **state)
{
	struct sys_err se = { 0 };

	run_main(sys_err_main, &se);
	if (se.dial != -EMFILE || se.listen != -EMFILE)
		fail_msg("getaddrinfo failed with EAI_SYSTEM and errno EMFILE on the pool "
			 "worker: dial_tcp returned %d (%s), listen_tcp %d (%s), not -EMFILE",
			 se.dial, strerror(-se.dial), se.listen, strerror(-se.listen));
}

/* ------------------------------------------------------------------------
 * The thread pool behind name resolution
 *
 * Lookups by name are jobs on the process's thread pool: persistent
 * workers, started on first use, that post finished jobs back to their
 * loop (by MSG_RING, or the mailbox's list and eventfd). They are not
 * waited for anywhere: they live as long as the process.
 * ------------------------------------------------------------------------ */

static int nop_fn(void *arg)
{
	(void)arg;
	return 0;
}

/* Threads of this process (the pool's workers, after it started). */
static int count_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static int find_eventfd(void)
{
	char p[64], link[64];

	for (int fd = 3; fd < 1024; fd++) {
		ssize_t n;
		snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
		n = readlink(p, link, sizeof(link) - 1);
		if (n > 0) {
			link[n] = '\0';
			if (strstr(link, "eventfd"))
				return fd;
		}
	}
	return -1;
}

/*
 * No worker can start. In a forked child: threads do not survive fork, so
 * the pool starts afresh there on first use, here with pthread_create
 * failing. A lookup by name then fails with -EAGAIN at once, as
 * corio_to_thread does: no job out, nothing left behind; numeric addresses
 * need no pool and still work. With arg set, pthread_create works again
 * afterwards and the child checks that lookups work again too.
 */
struct no_pool {
	int dial, listen, to_thread, external, numeric, accepted;
};

static int no_pool_main(void *arg)
{
	struct no_pool *np = arg;
	int lfd = corio_listen_tcp(NULL, 0, 0), c, s;
	uint16_t port;

	if (lfd < 0)
		return lfd;
	port = (uint16_t)corio_local_port(lfd);
	np->dial = corio_dial_tcp("localhost", port);
	if (np->dial >= 0)
		corio_close(np->dial);
	np->listen = corio_listen_tcp("localhost", 0, 0);
	if (np->listen >= 0)
		corio_close(np->listen);
	np->to_thread = corio_to_thread(nop_fn, NULL);
	np->external = (int)corio__tls_loop->external;
	/* Numeric addresses need no thread. */
	c = np->numeric = corio_dial_tcp("127.0.0.1", port);
	if (c >= 0) {
		s = np->accepted = corio_accept(lfd, NULL, NULL);
		if (s >= 0)
			corio_close(s);
		corio_close(c);
	}
	corio_close(lfd);
	return 0;
}

static int pool_back_main(void *arg)
{
	struct no_pool *np = arg;
	int lfd = corio_listen_tcp(NULL, 0, 0), s;

	if (lfd < 0)
		return lfd;
	np->to_thread = corio_to_thread(nop_fn, NULL);
	np->dial = corio_dial_tcp("localhost", (uint16_t)corio_local_port(lfd));
	if (np->dial >= 0) {
		s = corio_accept(lfd, NULL, NULL);
		if (s >= 0)
			corio_close(s);
		corio_close(np->dial);
	}
	corio_close(lfd);
	return 0;
}

static int no_pool_child(void *arg)
{
	bool retry = arg != NULL;
	struct no_pool np = { 0 };
	int threads0 = count_threads(), fds0 = check_count_fds();
	int calls0 = __atomic_load_n(&ptc_calls, __ATOMIC_RELAXED), calls, r;
	size_t mem0 = check_malloc_in_use(), mem;

	__atomic_store_n(&ptc_fail, EAGAIN, __ATOMIC_RELAXED);
	r = corio_run(no_pool_main, &np);
	__atomic_store_n(&ptc_fail, 0, __ATOMIC_RELAXED);
	calls = __atomic_load_n(&ptc_calls, __ATOMIC_RELAXED) - calls0;
	mem = check_malloc_in_use();
	printf("run %d; pthread_create tried %d time(s); dial_tcp(name) %d, listen_tcp(name) "
	       "%d, to_thread %d, jobs out %d; numeric dial %d, accept %d; threads %d -> %d, "
	       "fds %d -> %d, malloc'd %zu -> %zu\n",
	       r, calls, np.dial, np.listen, np.to_thread, np.external, np.numeric, np.accepted,
	       threads0, count_threads(), fds0, check_count_fds(), mem0, mem);
	if (r != 0 || threads0 != 1)
		return 2;
	if (calls < 1)
		return 3; /* the pool must have tried here: it did not survive fork */
	if (np.dial != -EAGAIN || np.listen != -EAGAIN || np.to_thread != -EAGAIN)
		return 4;
	if (np.external != 0 || np.numeric < 0 || np.accepted < 0)
		return 5;
	if (count_threads() != 1 || check_count_fds() != fds0 || mem != mem0)
		return 6;
	if (!retry)
		return 0;
	/* Threads can start again: so can the pool. */
	memset(&np, 0, sizeof(np));
	r = corio_run(pool_back_main, &np);
	printf("later, with pthread_create working: run %d, to_thread %d, dial_tcp(name) %d, "
	       "threads %d\n", r, np.to_thread, np.dial, count_threads());
	if (r != 0 || np.to_thread != 0 || np.dial < 0)
		return 7;
	return 0;
}

/* ThreadSanitizer dies when a child forked from a multi-threaded process
 * starts a thread (die_after_fork): children that start the pool afresh
 * cannot run under it. */
#define SKIP_POOL_IN_CHILD_UNDER_TSAN()                                                 \
	do {                                                                             \
		if (CHECK_TSAN)                                                          \
			CHECK_SKIP_TEST("skip: ThreadSanitizer cannot run threads in a " \
					"forked child\n");                              \
	} while (0)

static void test_lookup_pool_cannot_start(void **state)
{
	check_child c;
	char st[64];

	check_fork_timeout(no_pool_child, NULL, &c, 10);
	if (!WIFEXITED(c.status) || WEXITSTATUS(c.status) != 0)
		fail_msg("child: %s; output:\n%s", check_status_str(c.status, st, sizeof(st)),
			 c.out);
}

/* -EAGAIN says "try again": once pthread_create works again, so must a
 * later lookup (as the thread-per-lookup design did, and as asyncio's
 * executor, which makes its threads on submit, does). */
static void test_lookup_after_pool_start_failed(void **state)
{
	check_child c;
	char st[64];

	SKIP_POOL_IN_CHILD_UNDER_TSAN();
	check_fork_timeout(no_pool_child, "retry", &c, 10);
	if (!WIFEXITED(c.status) || WEXITSTATUS(c.status) != 0)
		fail_msg("child: %s; output:\n%s", check_status_str(c.status, st, sizeof(st)),
			 c.out);
}

/*
 * A lookup abandoned by its cancelled task is still at the gate when its
 * loop closes. The job keeps the loop's mailbox (and its eventfd) alive;
 * when the worker is done it finds the loop gone and releases the job and
 * the mailbox itself: nothing is left behind (CHECK_TEST counts fds and
 * memory). It must post nothing into the closed loop's ring either: a
 * second loop runs meanwhile, most likely on the same ring fd number, and a
 * stray MSG_RING completion there would name a freed job.
 */
struct outlive {
	int ring_fd, ring_fd2; /* the two loops' rings */
	int efd;               /* the first loop's mailbox eventfd */
	int efd_closed;        /* seen closed by the second loop */
	int listen;            /* a lookup of the second loop's own */
};

static int outlive_dialer(void *arg)
{
	return corio_dial_tcp(GATED_HOST, 9);
}

static int outlive_main(void *arg)
{
	struct outlive *o = arg;
	corio_task *t;

	gate_close();
	t = corio_spawn(outlive_dialer, NULL);
	assert_non_null(t);
	for (int i = 0; i < 1000 * CHECK_TIME_SCALE && gate_waiters() < 1; i++)
		corio_sleep_ms(1);
	assert_int_equal(gate_waiters(), 1);
	o->ring_fd = corio__tls_loop->ring.ring_fd;
	o->efd = find_eventfd();
	assert_true(o->efd >= 0);
	assert_int_equal(corio_cancel(t), 0);
	assert_int_equal(corio_join(t), -ECANCELED);
	assert_int_equal(corio__tls_loop->external, 1); /* still out there */
	return 0;
}

static int outlive_second_main(void *arg)
{
	struct outlive *o = arg;

	o->ring_fd2 = corio__tls_loop->ring.ring_fd;
	gate_open();
	for (int i = 0; i < 2000 * CHECK_TIME_SCALE && (running_lookups() || fd_is_open(o->efd));
	     i++)
		corio_sleep_ms(1);
	o->efd_closed = !fd_is_open(o->efd);
	assert_int_equal(corio__tls_loop->external, 0);
	/* Anything stray would arrive now; then a lookup of this loop's own. */
	assert_int_equal(corio_sleep_ms(20), 0);
	o->listen = corio_listen_tcp("localhost", 0, 0);
	assert_true(o->listen >= 0);
	assert_int_equal(corio_close(o->listen), 0);
	wait_jobs();
	return 0;
}

static void test_abandoned_lookup_outlives_loop(void **state)
{
	struct outlive o = { .efd = -1 };
	int fds = check_count_fds();

	run_main(outlive_main, &o);
	/* The job still holds the mailbox: its eventfd is open, the ring is not. */
	assert_int_equal(gate_waiters(), 1);
	assert_true(fd_is_open(o.efd));
	assert_false(fd_is_open(o.ring_fd));
	assert_int_equal(check_count_fds(), fds + 1);
	run_main(outlive_second_main, &o);
	if (o.ring_fd2 != o.ring_fd)
		print_message("note: the second loop's ring is fd %d, the first's was %d\n",
			      o.ring_fd2, o.ring_fd);
	assert_true(o.efd_closed);
	wait_orphans(fds);
	assert_int_equal(check_count_fds(), fds);
	assert_int_equal(gate_waiters(), 0);
	assert_int_equal(running_lookups(), 0);
}

/*
 * A worker posts a finished job under the mailbox's lock: by MSG_RING into
 * the loop's ring, or (CORIO_THREADS_WAKE=eventfd, or a kernel without
 * MSG_RING) onto the mailbox's list followed by one eventfd write. Were the
 * write made after unlocking, a loop closing in between would take the
 * job, drop the last reference and free the mailbox, closing the eventfd:
 * the worker would then read the freed mailbox for the fd and write 8 bytes
 * to whatever that descriptor number has become. Here a cancelled task
 * abandons a lookup, which finishes just before main returns; the worker's
 * eventfd write is delayed (300 ms) to widen the window; the eventfd's
 * number is then taken over by a pipe, which must stay empty. In a child,
 * where the pool starts afresh with the wake-up the variant asks for:
 * under AddressSanitizer a use-after-free is a report.
 */
static int race_efd = -1;

static int post_race_main(void *arg)
{
	bool eventfd_wake = arg != NULL;
	corio_task *t;

	gate_close();
	t = corio_spawn(outlive_dialer, NULL);
	if (!t)
		return 10;
	for (int i = 0; i < 1000 * CHECK_TIME_SCALE && gate_waiters() < 1; i++)
		corio_sleep_ms(1);
	if (gate_waiters() != 1)
		return 11;
	race_efd = find_eventfd();
	corio_cancel(t);
	if (corio_join(t) != -ECANCELED)
		return 12;
	/* Let the lookup finish and post; its eventfd write is late. */
	__atomic_store_n(&write_delay_ms, 300, __ATOMIC_RELAXED);
	gate_open();
	for (int i = 0; i < 1000 * CHECK_TIME_SCALE && gate_waiters(); i++)
		corio_sleep_ms(1);
	/* The worker's lookup of "localhost" takes its time (long under
	 * valgrind): wait for its end, and with the eventfd wake-up for its
	 * (delayed) eventfd write to have begun, all bounded. */
	for (int i = 0; i < 10000 && running_lookups(); i++)
		corio_sleep_ms(1);
	for (int i = 0; i < 10000 && eventfd_wake &&
			__atomic_load_n(&slow_writes, __ATOMIC_RELAXED) < 1; i++)
		corio_sleep_ms(1);
	corio_sleep_ms(50); /* posted by now; main returns and the loop closes */
	return 0;
}

static int post_race_child(void *arg)
{
	const char *wake = arg;
	int r, p[2];
	uint64_t v = 0;

	if (wake)
		setenv("CORIO_THREADS_WAKE", wake, 1);
	else
		unsetenv("CORIO_THREADS_WAKE");
	r = corio_run(post_race_main, (void *)wake);
	if (r != 0) {
		printf("setup failed: %d\n", r);
		return 2;
	}
	if (race_efd < 0) {
		printf("no eventfd found\n");
		return 3;
	}
	/* The loop is gone; its eventfd's number now names a pipe. */
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0 || dup2(p[1], race_efd) < 0)
		return 4;
	usleep(500 * 1000); /* the worker's late write happens meanwhile */
	if (read(p[0], &v, sizeof(v)) > 0) {
		printf("a pool worker wrote %llu into fd %d after the loop had closed that "
		       "descriptor (it was the mailbox's eventfd)\n",
		       (unsigned long long)v, race_efd);
		return 1;
	}
	printf("no stray write; %d delayed eventfd write(s)\n",
	       __atomic_load_n(&slow_writes, __ATOMIC_RELAXED));
	/* The eventfd way must have written (else this races nothing). */
	if (wake && __atomic_load_n(&slow_writes, __ATOMIC_RELAXED) < 1)
		return 5;
	return 0;
}

static void test_mailbox_post_races_loop_close(void **state)
{
	check_child c;
	char st[64];

	SKIP_POOL_IN_CHILD_UNDER_TSAN();
	check_fork_timeout(post_race_child, "eventfd", &c, 10 * CHECK_TIME_SCALE);
	if (!WIFEXITED(c.status) || WEXITSTATUS(c.status) != 0)
		fail_msg("child: %s; output:\n%s", check_status_str(c.status, st, sizeof(st)),
			 c.out);
}

/* The same with the default wake-up (MSG_RING where the kernel has it). */
static void test_mailbox_post_races_loop_close_msg_ring(void **state)
{
	check_child c;
	char st[64];

	SKIP_POOL_IN_CHILD_UNDER_TSAN();
	check_fork_timeout(post_race_child, NULL, &c, 10 * CHECK_TIME_SCALE);
	if (!WIFEXITED(c.status) || WEXITSTATUS(c.status) != 0)
		fail_msg("child: %s; output:\n%s", check_status_str(c.status, st, sizeof(st)),
			 c.out);
}

/* ------------------------------------------------------------------------
 * Streams
 * ------------------------------------------------------------------------ */

static int stream_main(void *arg)
{
	struct pair p;
	char buf[64];

	pair_make(&p);
	assert_int_equal(corio_send(p.c, "hello", 5, 0), 5);
	assert_int_equal(corio_recv(p.s, buf, 2, MSG_PEEK), 2);
	assert_memory_equal(buf, "he", 2);
	assert_int_equal(corio_recv(p.s, buf, sizeof(buf), 0), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(corio_send(p.c, "", 0, 0), 0);
	assert_int_equal(corio_send(p.c, NULL, 0, 0), 0);
	/* MSG_WAITALL waits for all of it. */
	assert_int_equal(corio_send(p.c, "abc", 3, 0), 3);
	assert_int_equal(corio_send(p.c, "def", 3, 0), 3);
	assert_int_equal(corio_recv(p.s, buf, 6, MSG_WAITALL), 6);
	assert_memory_equal(buf, "abcdef", 6);
	/* EOF after shutdown(SHUT_WR); the other direction still works. */
	assert_int_equal(corio_send(p.c, "last", 4, 0), 4);
	assert_int_equal(corio_shutdown(p.c, SHUT_WR), 0);
	assert_int_equal(recv_exact(p.s, buf, 4), 4);
	assert_memory_equal(buf, "last", 4);
	assert_int_equal(corio_recv(p.s, buf, sizeof(buf), 0), 0);
	assert_int_equal(corio_recv(p.s, buf, sizeof(buf), 0), 0);
	assert_int_equal(corio_send(p.s, "back", 4, 0), 4);
	assert_int_equal(corio_recv(p.c, buf, sizeof(buf), 0), 4);
	assert_memory_equal(buf, "back", 4);
	assert_int_equal(corio_shutdown(p.s, SHUT_RDWR), 0);
	assert_int_equal(corio_recv(p.c, buf, sizeof(buf), 0), 0);
	assert_int_equal(corio_shutdown(p.s, 99), -EINVAL);
	pair_close(&p);
	return 0;
}

static void test_recv_send_eof(void **state)
{
	run_main(stream_main, NULL);
}

/* send_all of 4 MiB to a reader that takes small bites and naps. */
#define BIG (4u << 20)

struct slow {
	int            fd;
	unsigned char *got;
	size_t         n;
	int            r;
};

static int slow_reader(void *arg)
{
	struct slow *sl = arg;
	int reads = 0;

	while (sl->n < BIG) {
		size_t want = 3000 + (size_t)(reads % 7) * 1000;
		ssize_t r;

		if (want > BIG - sl->n)
			want = BIG - sl->n; /* never past the buffer (buf_check) */
		r = corio_recv(sl->fd, sl->got + sl->n, want, 0);
		if (r <= 0) {
			sl->r = r < 0 ? (int)r : -EPIPE;
			return 0;
		}
		sl->n += (size_t)r;
		if (++reads % 64 == 0)
			corio_sleep_ms(1);
	}
	return 0;
}

static int send_all_main(void *arg)
{
	unsigned char *w = malloc(BIG);
	struct slow sl = { 0 };
	struct pair p;
	size_t sent = 77;
	corio_task *t;
	int rcv = 16384;
	char c;

	assert_non_null(w);
	sl.got = malloc(BIG);
	assert_non_null(sl.got);
	fill_pattern(w, BIG, 4);
	pair_make(&p);
	/* A small receive buffer: many short sends. */
	assert_int_equal(setsockopt(p.s, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv)), 0);
	sl.fd = p.s;
	t = corio_spawn(slow_reader, &sl);
	assert_non_null(t);
	assert_int_equal(corio_send_all(p.c, w, BIG, 0, &sent), (ssize_t)BIG);
	assert_int_equal(sent, BIG);
	assert_int_equal(corio_join(t), 0);
	assert_int_equal(sl.r, 0);
	assert_int_equal(sl.n, BIG);
	assert_memory_equal(sl.got, w, BIG);
	/* Nothing extra. */
	assert_int_equal(corio_shutdown(p.c, SHUT_WR), 0);
	assert_int_equal(corio_recv(p.s, &c, 1, 0), 0);
	/* Zero bytes, and *sent may be NULL. */
	sent = 77;
	assert_int_equal(corio_send_all(p.c, w, 0, 0, &sent), 0);
	assert_int_equal(sent, 0);
	pair_close(&p);
	free(w);
	free(sl.got);
	return 0;
}

static void test_send_all_slow_reader(void **state)
{
	run_main(send_all_main, NULL);
}

/* A deadline stops send_all to a peer that never reads: *sent is exactly
 * what the peer then receives. */
static int send_all_deadline_main(void *arg)
{
	size_t n = 64u << 20, sent = 0, nw = 0;
	unsigned char *w = malloc(n);
	struct pair p;
	uint64_t t0;
	ssize_t r;

	assert_non_null(w);
	memset(w, 'W', n);
	pair_make(&p);
	/* Under valgrind, checking 64 MiB before each send takes longer than
	 * 30 ms: the deadline would pass before anything was sent. */
	uint64_t dl = CHECK_VALGRIND ? 2000 : 30;

	t0 = corio_now_ns();
	corio_deadline_push(dl);
	r = corio_send_all(p.c, w, n, 0, &sent);
	assert_int_equal(corio_deadline_pop(), -ETIMEDOUT);
	assert_int_equal(r, -ETIMEDOUT);
	assert_between(check_ms_since(t0), dl - 1, dl + SLACK_MS);
	assert_true(sent > 0 && sent < n);
	recv_count(p.s, sent, 'W', &nw, 0, NULL);
	assert_int_equal(nw, sent);
	expect_quiet(p.s, 20);
	pair_close(&p);
	free(w);
	return 0;
}

static void test_send_all_deadline_reports_sent(void **state)
{
	run_main(send_all_deadline_main, NULL);
}

/* Sending to a peer that closed: -EPIPE or -ECONNRESET, never SIGPIPE.
 * In a child with SIGPIPE's default action, which would kill it. */
static int epipe_main(void *arg)
{
	char buf[1000] = { 0 };
	struct iovec iv = { buf, sizeof(buf) };
	struct msghdr mh = { .msg_iov = &iv, .msg_iovlen = 1 };
	size_t sent = 0;
	struct pair p;
	ssize_t r = 0;
	int i;

	pair_make(&p);
	close(p.s);
	p.s = -1;
	for (i = 0; i < 1000; i++) {
		r = corio_send(p.c, buf, sizeof(buf), 0);
		if (r < 0)
			break;
		corio_sleep_ms(1);
	}
	printf("send: %zd after %d sends\n", r, i);
	if (r != -EPIPE && r != -ECONNRESET)
		return 1;
	r = corio_send(p.c, buf, sizeof(buf), 0);
	printf("send again: %zd\n", r);
	if (r != -EPIPE)
		return 2;
	r = corio_sendmsg(p.c, &mh, 0);
	printf("sendmsg: %zd\n", r);
	if (r != -EPIPE)
		return 3;
	r = corio_send_all(p.c, buf, sizeof(buf), 0, &sent);
	printf("send_all: %zd, sent %zu\n", r, sent);
	if (r != -EPIPE || sent != 0)
		return 4;
	pair_close(&p);
	return 0;
}

static int epipe_child(void *arg)
{
	signal(SIGPIPE, SIG_DFL);
	return corio_run(epipe_main, NULL);
}

static void test_send_to_closed_peer_no_sigpipe(void **state)
{
	check_child c;
	char st[64];

	check_fork_timeout(epipe_child, NULL, &c, 10);
	if (!WIFEXITED(c.status) || WEXITSTATUS(c.status) != 0)
		fail_msg("child: %s; output:\n%s", check_status_str(c.status, st, sizeof(st)), c.out);
	print_message("%s", c.out);
}

/* ------------------------------------------------------------------------
 * UDP
 * ------------------------------------------------------------------------ */

static int udp_bind(void)
{
	struct sockaddr_in a = loopback4(0);
	int fd = corio_socket(AF_INET, SOCK_DGRAM, 0);

	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static int udp_main(void *arg)
{
	int u1 = udp_bind(), u2 = udp_bind();
	struct sockaddr_in to = loopback4((uint16_t)corio_local_port(u2)), from;
	char a[3], b[5], c[100], big[100];
	struct iovec sv[2] = { { "hel", 3 }, { "lo, udp", 7 } };
	struct iovec rv[3] = { { a, sizeof(a) }, { b, sizeof(b) }, { c, sizeof(c) } };
	struct msghdr sm = { .msg_name = &to, .msg_namelen = sizeof(to), .msg_iov = sv,
			     .msg_iovlen = 2 };
	struct msghdr rm = { .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = rv,
			     .msg_iovlen = 3 };

	assert_true(corio_local_port(u1) > 0);
	assert_int_equal(corio_sendmsg(u1, &sm, 0), 10);
	assert_int_equal(corio_recvmsg(u2, &rm, 0), 10);
	assert_memory_equal(a, "hel", 3);
	assert_memory_equal(b, "lo, u", 5);
	assert_memory_equal(c, "dp", 2);
	assert_int_equal(rm.msg_namelen, sizeof(from));
	assert_int_equal(from.sin_family, AF_INET);
	assert_int_equal(ntohl(from.sin_addr.s_addr), INADDR_LOOPBACK);
	assert_int_equal(ntohs(from.sin_port), corio_local_port(u1));
	assert_int_equal(rm.msg_flags & MSG_TRUNC, 0);

	/* A datagram larger than the buffer: truncated, and flagged. */
	memset(big, 'B', sizeof(big));
	struct iovec one = { big, sizeof(big) };
	sm.msg_iov = &one;
	sm.msg_iovlen = 1;
	assert_int_equal(corio_sendmsg(u1, &sm, 0), 100);
	struct iovec small = { a, sizeof(a) };
	rm.msg_iov = &small;
	rm.msg_iovlen = 1;
	rm.msg_namelen = sizeof(from);
	assert_int_equal(corio_recvmsg(u2, &rm, 0), 3);
	assert_true(rm.msg_flags & MSG_TRUNC);
	assert_memory_equal(a, "BBB", 3);
	/* MSG_TRUNC asks for the real length. */
	assert_int_equal(corio_sendmsg(u1, &sm, 0), 100);
	rm.msg_namelen = sizeof(from);
	assert_int_equal(corio_recvmsg(u2, &rm, MSG_TRUNC), 100);

	/* Connected UDP with recv/send; no name needed. */
	assert_int_equal(connect(u1, (struct sockaddr *)&to, sizeof(to)), 0);
	assert_int_equal(corio_send(u1, "dgram", 5, 0), 5);
	assert_int_equal(corio_recv(u2, c, sizeof(c), 0), 5);
	assert_memory_equal(c, "dgram", 5);
	/* An empty datagram is a datagram. */
	assert_int_equal(corio_send(u1, "", 0, 0), 0);
	assert_int_equal(corio_recv(u2, c, sizeof(c), 0), 0);
	assert_int_equal(corio_close(u1), 0);
	assert_int_equal(corio_close(u2), 0);
	return 0;
}

static void test_udp(void **state)
{
	run_main(udp_main, NULL);
}

/* ------------------------------------------------------------------------
 * corio_poll
 * ------------------------------------------------------------------------ */

struct later_write {
	int fd;
	int ms;
};

static int later_write_fn(void *arg)
{
	struct later_write *lw = arg;

	corio_sleep_ms((uint64_t)lw->ms);
	return (int)write(lw->fd, "p", 1);
}

static int poll_main(void *arg)
{
	struct later_write lw;
	struct pair p;
	corio_task *t;
	uint64_t t0;
	int pp[2], r;
	char c;

	assert_int_equal(pipe2(pp, O_CLOEXEC), 0);
	/* Writable at once. */
	assert_int_equal(corio_poll(pp[1], POLLOUT), POLLOUT);
	/* Readable once a task writes, 20 ms later. */
	lw.fd = pp[1];
	lw.ms = 20;
	t = corio_spawn(later_write_fn, &lw);
	assert_non_null(t);
	t0 = corio_now_ns();
	r = corio_poll(pp[0], POLLIN);
	assert_true(check_ms_since(t0) >= 15);
	assert_int_equal(r, POLLIN);
	assert_int_equal(corio_join(t), 1);
	assert_int_equal(corio_poll(pp[0], POLLIN | POLLOUT), POLLIN);
	assert_int_equal(read(pp[0], &c, 1), 1);
	/* The writer gone: POLLHUP, asked for or not. */
	close(pp[1]);
	assert_true(corio_poll(pp[0], POLLIN) & POLLHUP);
	close(pp[0]);

	/* Sockets. */
	pair_make(&p);
	assert_int_equal(corio_poll(p.c, POLLOUT), POLLOUT);
	assert_int_equal(corio_send(p.c, "s", 1, 0), 1);
	assert_int_equal(corio_poll(p.s, POLLIN), POLLIN);
	assert_int_equal(corio_recv(p.s, &c, 1, 0), 1);
	/* A pending connection makes a listener readable. */
	int c2 = corio_dial_tcp("127.0.0.1", (uint16_t)p.port);
	assert_true(c2 >= 0);
	assert_int_equal(corio_poll(p.lfd, POLLIN), POLLIN);
	int s2 = corio_accept(p.lfd, NULL, NULL);
	assert_true(s2 >= 0);
	/* The peer shut down its side: POLLIN (EOF) and POLLRDHUP. */
	assert_int_equal(corio_shutdown(p.c, SHUT_WR), 0);
	r = corio_poll(p.s, POLLIN | POLLRDHUP);
	assert_true(r & POLLIN);
	assert_true(r & POLLRDHUP);
	corio_close(c2);
	corio_close(s2);
	pair_close(&p);
	/* Bad descriptors. */
	assert_int_equal(corio_poll(-1, POLLIN), -EBADF);
	assert_false(fd_is_open(999));
	assert_int_equal(corio_poll(999, POLLIN), -EBADF);
	return 0;
}

static void test_poll(void **state)
{
	run_main(poll_main, NULL);
}

/* ------------------------------------------------------------------------
 * 50 clients, one echo server, in-process
 * ------------------------------------------------------------------------ */

#define NCLIENTS 50
#define NMSGS    12
#define MAXMSG   40000

struct echo {
	int          lfd;
	uint16_t     port;
	corio_group *handlers;
	int          accepted;
	int          client_ok[NCLIENTS];
	size_t       bytes;
};

static int echo_handler(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[8192];
	ssize_t n;
	int r = 0;

	for (;;) {
		n = corio_recv(fd, buf, sizeof(buf), 0);
		if (n <= 0) {
			r = (int)n;
			break;
		}
		n = corio_send_all(fd, buf, (size_t)n, 0, NULL);
		if (n < 0) {
			r = (int)n;
			break;
		}
	}
	corio_close(fd);
	return r;
}

static int echo_acceptor(void *arg)
{
	struct echo *e = arg;

	while (e->accepted < NCLIENTS) {
		int fd = corio_accept(e->lfd, NULL, NULL);
		if (fd < 0)
			return fd;
		if (!corio_group_spawn(e->handlers, echo_handler, (void *)(intptr_t)fd)) {
			corio_close(fd);
			return -errno;
		}
		e->accepted++;
	}
	return 0;
}

struct client_arg {
	struct echo *e;
	int          id;
};

static int echo_client(void *arg)
{
	struct client_arg *ca = arg;
	unsigned char *out = malloc(MAXMSG), *in = malloc(MAXMSG);
	size_t sent;
	int fd, r = 0;

	if (!out || !in) {
		free(out);
		free(in);
		return -ENOMEM;
	}
	fd = corio_dial_tcp("127.0.0.1", ca->e->port);
	if (fd < 0) {
		r = fd;
		goto out;
	}
	for (int m = 0; m < NMSGS; m++) {
		size_t len = 1 + ((size_t)ca->id * 7919u + (size_t)m * 104729u) % MAXMSG;
		ssize_t k;

		if (m == 0)
			len = 1;
		fill_pattern(out, len, (unsigned)(ca->id * 100 + m));
		k = corio_send_all(fd, out, len, 0, &sent);
		if (k < 0 || sent != len) {
			r = k < 0 ? (int)k : -EIO;
			goto out;
		}
		k = recv_exact(fd, in, len);
		if (k != (ssize_t)len) {
			r = k < 0 ? (int)k : -EIO;
			goto out;
		}
		if (memcmp(in, out, len) != 0) {
			r = -EILSEQ;
			goto out;
		}
		ca->e->bytes += len;
		if (m % 4 == 3)
			corio_yield();
	}
	/* Our EOF ends the handler, which closes: EOF back. */
	r = corio_shutdown(fd, SHUT_WR);
	if (r == 0) {
		char c;
		ssize_t k = corio_recv(fd, &c, 1, 0);
		r = k == 0 ? 0 : -EPROTO;
	}
	if (r == 0)
		ca->e->client_ok[ca->id] = 1;
out:
	if (fd >= 0)
		corio_close(fd);
	free(out);
	free(in);
	return r;
}

static int echo_main(void *arg)
{
	struct echo *e = arg;
	struct client_arg ca[NCLIENTS];
	corio_group *clients = corio_group_new();
	corio_task *acc;
	uint64_t t0 = corio_now_ns();
	int r;

	e->handlers = corio_group_new();
	assert_non_null(clients);
	assert_non_null(e->handlers);
	e->lfd = corio_listen_tcp(NULL, 0, 0);
	assert_true(e->lfd >= 0);
	e->port = (uint16_t)corio_local_port(e->lfd);
	acc = corio_spawn(echo_acceptor, e);
	assert_non_null(acc);
	for (int i = 0; i < NCLIENTS; i++) {
		ca[i].e = e;
		ca[i].id = i;
		assert_non_null(corio_group_spawn(clients, echo_client, &ca[i]));
	}
	assert_int_equal(corio_deadline_push(10000), 0);
	r = corio_group_wait(clients);
	if (r != 0) {
		corio_task_result err[4];
		size_t ne = corio_group_errors(clients, err, 4);
		print_error("echo: %zu client(s) failed, first %d (%s)\n", ne, r, strerror(-r));
	}
	assert_int_equal(r, 0);
	assert_int_equal(corio_join(acc), 0);
	assert_int_equal(corio_group_wait(e->handlers), 0);
	assert_int_equal(corio_deadline_pop(), 0);
	assert_int_equal(e->accepted, NCLIENTS);
	for (int i = 0; i < NCLIENTS; i++)
		assert_int_equal(e->client_ok[i], 1);
	print_message("  echo: %d clients, %zu bytes each way in %llu ms\n", NCLIENTS, e->bytes,
		      (unsigned long long)check_ms_since(t0));
	corio_group_free(clients);
	corio_group_free(e->handlers);
	assert_int_equal(corio_close(e->lfd), 0);
	return 0;
}

static void test_echo_50_clients(void **state)
{
	struct echo *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	run_main(echo_main, e);
	free(e);
}

/* ------------------------------------------------------------------------
 * corio_close ends other tasks' waits on the fd
 * ------------------------------------------------------------------------ */

struct waiter {
	int      fd;
	int      accept;
	ssize_t  r;
	uint64_t end;
	int      later;
	char     buf[16];
};

static int waiter_fn(void *arg)
{
	struct waiter *w = arg;

	if (w->accept)
		w->r = corio_accept(w->fd, NULL, NULL);
	else
		w->r = corio_recv(w->fd, w->buf, sizeof(w->buf), 0);
	w->end = corio_now_ns();
	w->later = corio_sleep_ms(1); /* not cancelled: only its op was */
	return 0;
}

static int close_wakes_main(void *arg)
{
	struct waiter wr = { 0 }, wa = { 0 }, wr2 = { 0 };
	corio_task *t1, *t2, *t3;
	struct pair p;
	uint64_t t0;

	pair_make(&p);
	wr.fd = p.s;
	wr2.fd = p.s; /* two waiters on one fd */
	wa.fd = p.lfd;
	wa.accept = 1;
	t1 = corio_spawn(waiter_fn, &wr);
	t2 = corio_spawn(waiter_fn, &wa);
	t3 = corio_spawn(waiter_fn, &wr2);
	assert_true(t1 && t2 && t3);
	assert_int_equal(corio_sleep_ms(10), 0);
	assert_int_equal(wr.end + wa.end + wr2.end, 0);
	t0 = corio_now_ns();
	assert_int_equal(corio_close(p.s), 0);
	assert_int_equal(corio_close(p.lfd), 0);
	assert_false(fd_is_open(p.s));
	assert_false(fd_is_open(p.lfd));
	p.s = p.lfd = -1;
	assert_int_equal(corio_join(t1), 0);
	assert_int_equal(corio_join(t2), 0);
	assert_int_equal(corio_join(t3), 0);
	assert_int_equal(wr.r, -ECANCELED);
	assert_int_equal(wr2.r, -ECANCELED);
	assert_int_equal(wa.r, -ECANCELED);
	assert_true(ms_between(t0, wr.end) < SLACK_MS);
	assert_true(ms_between(t0, wr2.end) < SLACK_MS);
	assert_true(ms_between(t0, wa.end) < SLACK_MS);
	assert_int_equal(wr.later, 0);
	assert_int_equal(wa.later, 0);
	/* The peer sees the connection end. */
	char c;
	assert_int_equal(recv_exact(p.c, &c, 1), 0);
	pair_close(&p);

	/* The recv and the close in the same turn: the recv's SQE is not
	 * even submitted when the close comes. */
	pair_make(&p);
	memset(&wr, 0, sizeof(wr));
	wr.fd = p.s;
	t1 = corio_spawn(waiter_fn, &wr);
	assert_non_null(t1);
	corio_yield(); /* it prepared its recv and suspended */
	assert_int_equal(wr.end, 0);
	t0 = corio_now_ns();
	assert_int_equal(corio_close(p.s), 0);
	p.s = -1;
	assert_int_equal(corio_join(t1), 0);
	assert_int_equal(wr.r, -ECANCELED);
	assert_true(ms_between(t0, wr.end) < SLACK_MS);
	pair_close(&p);
	return 0;
}

static void test_close_ends_pending_recv_and_accept(void **state)
{
	run_main(close_wakes_main, NULL);
}

/* ------------------------------------------------------------------------
 * A cancelled task (or one past its deadline): every call fails at once
 * and nothing happens
 * ------------------------------------------------------------------------ */

struct noeffect {
	int         mode; /* 0 cancelled, 1 deadline passed */
	struct pair p;
	int         u;
	int         r[14];
	size_t      sent;
	uint64_t    sw0, sw1;
};

static int noeffect_task(void *arg)
{
	struct noeffect *ne = arg;
	char buf[8] = "zzzzzzz";
	struct iovec iv = { buf, 4 };
	struct sockaddr_in to = loopback4((uint16_t)corio_local_port(ne->u));
	struct msghdr mh = { .msg_name = &to, .msg_namelen = sizeof(to), .msg_iov = &iv,
			     .msg_iovlen = 1 };
	int i = 0;

	if (ne->mode == 0)
		corio_cancel(corio_current());
	else
		corio_deadline_push(0);
	ne->sw0 = switches();
	ne->r[i++] = corio_socket(AF_INET, SOCK_STREAM, 0);
	ne->r[i++] = corio_connect(ne->p.c, (struct sockaddr *)&to, sizeof(to));
	ne->r[i++] = corio_accept(ne->p.lfd, NULL, NULL);
	ne->r[i++] = (int)corio_recv(ne->p.s, buf, sizeof(buf), 0);
	ne->r[i++] = (int)corio_send(ne->p.c, "WXYZ", 4, 0);
	ne->r[i++] = (int)corio_recvmsg(ne->u, &mh, 0);
	ne->r[i++] = (int)corio_sendmsg(ne->u, &mh, 0);
	ne->sent = 77;
	ne->r[i++] = (int)corio_send_all(ne->p.c, "WXYZ", 4, 0, &ne->sent);
	ne->r[i++] = corio_shutdown(ne->p.c, SHUT_RDWR);
	ne->r[i++] = corio_poll(ne->p.s, POLLIN);
	ne->r[i++] = corio_listen_tcp(NULL, 0, 0);
	ne->r[i++] = corio_dial_tcp("127.0.0.1", (uint16_t)ne->p.port);
	ne->r[i++] = corio_dial_tcp("localhost", (uint16_t)ne->p.port);
	ne->sw1 = switches();
	assert_memory_equal(buf, "zzzzzzz", 8);
	if (ne->mode == 1)
		corio_deadline_pop();
	return 0;
}

static int noeffect_main(void *arg)
{
	struct noeffect *ne = arg;
	int fds, all0, here0, all1, here1;
	corio_task *t;
	char buf[8];

	pair_make(&ne->p);
	ne->u = udp_bind();
	/* Something to receive and a connection to accept, so that no call
	 * would have to wait. */
	assert_int_equal(send(ne->p.c, "data", 4, MSG_NOSIGNAL), 4);
	int c2 = corio_dial_tcp("127.0.0.1", (uint16_t)ne->p.port);
	assert_true(c2 >= 0);
	struct sockaddr_in to = loopback4((uint16_t)corio_local_port(ne->u));
	assert_int_equal(sendto(ne->u, "dg", 2, 0, (struct sockaddr *)&to, sizeof(to)), 2);
	fds = check_count_fds();
	lookups(&all0, &here0);
	t = corio_spawn(noeffect_task, ne);
	assert_non_null(t);
	assert_int_equal(corio_join(t), 0);
	lookups(&all1, &here1);
	assert_int_equal(all1, all0); /* no lookup started */
	assert_int_equal(check_count_fds(), fds);
	for (int i = 0; i < 13; i++)
		if (ne->r[i] != (ne->mode == 0 ? -ECANCELED : -ETIMEDOUT))
			fail_msg("call %d returned %d", i, ne->r[i]);
	assert_int_equal(ne->sent, 0);
	assert_int_equal(ne->sw1, ne->sw0); /* none of them suspended */
	/* Nothing was taken, sent or shut down. */
	assert_int_equal(recv_exact(ne->p.s, buf, 4), 4);
	assert_memory_equal(buf, "data", 4);
	expect_quiet(ne->p.s, 10);
	assert_int_equal(recv(ne->u, buf, sizeof(buf), MSG_DONTWAIT), 2);
	assert_int_equal(recv(ne->u, buf, sizeof(buf), MSG_DONTWAIT), -1);
	int s2 = corio_accept(ne->p.lfd, NULL, NULL);
	assert_true(s2 >= 0);
	assert_int_equal(corio_send(ne->p.c, "more", 4, 0), 4);
	assert_int_equal(recv_exact(ne->p.s, buf, 4), 4);
	corio_close(s2);
	corio_close(c2);
	corio_close(ne->u);
	pair_close(&ne->p);
	return 0;
}

static void test_cancelled_calls_have_no_effect(void **state)
{
	for (int mode = 0; mode < 2; mode++) {
		struct noeffect ne = { .mode = mode };

		run_main(noeffect_main, &ne);
	}
}

/* main returns while tasks wait in I/O: corio_run cancels them and ends. */
struct io_waiters {
	struct pair p;
	int         u;
	int         r[5];
	int         done;
};

static int iow_recv(void *arg)
{
	struct io_waiters *w = arg;
	char c;

	w->r[0] = (int)corio_recv(w->p.s, &c, 1, 0);
	w->done++;
	return w->r[0];
}

static int iow_accept(void *arg)
{
	struct io_waiters *w = arg;

	w->r[1] = corio_accept(w->p.lfd, NULL, NULL);
	w->done++;
	return w->r[1];
}

static int iow_poll(void *arg)
{
	struct io_waiters *w = arg;

	w->r[2] = corio_poll(w->p.c, POLLIN);
	w->done++;
	return w->r[2];
}

static int iow_recvmsg(void *arg)
{
	struct io_waiters *w = arg;
	char c;
	struct iovec iv = { &c, 1 };
	struct msghdr mh = { .msg_iov = &iv, .msg_iovlen = 1 };

	w->r[3] = (int)corio_recvmsg(w->u, &mh, 0);
	w->done++;
	return w->r[3];
}

static int iow_dial(void *arg)
{
	struct io_waiters *w = arg;

	w->r[4] = corio_dial_tcp(GATED_HOST, (uint16_t)w->p.port);
	w->done++;
	return w->r[4];
}

static int io_waiters_main(void *arg)
{
	struct io_waiters *w = arg;
	int (*fns[5])(void *) = { iow_recv, iow_accept, iow_poll, iow_recvmsg, iow_dial };

	pair_make(&w->p);
	w->u = udp_bind();
	gate_close();
	for (int i = 0; i < 5; i++) {
		corio_task *t = corio_spawn(fns[i], w);
		assert_non_null(t);
		corio_detach(t);
	}
	assert_int_equal(corio_sleep_ms(10), 0);
	assert_int_equal(w->done, 0);
	return 7;
}

static void test_main_returns_with_io_pending(void **state)
{
	struct io_waiters w = { .r = { 1, 1, 1, 1, 1 } };
	uint64_t t0 = corio_now_ns();

	alarm(30);
	assert_int_equal(check_run(io_waiters_main, &w), 7);
	alarm(0);
	assert_true(check_ms_since(t0) < 10 + SLACK_MS);
	assert_int_equal(w.done, 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(w.r[i], -ECANCELED);
	xclose(&w.u);
	pair_close(&w.p);
	/* The lookup still at the gate ends on its own (net_teardown opens
	 * the gate and waits for it). */
}

/* ------------------------------------------------------------------------
 * Misuse and outside a loop
 * ------------------------------------------------------------------------ */

static int misuse_main(void *arg)
{
	char buf[8] = { 0 };
	struct iovec iv = { buf, sizeof(buf) };
	struct msghdr mh = { .msg_iov = &iv, .msg_iovlen = 1 };
	struct sockaddr_in a = loopback4(9);
	size_t sent = 77;
	struct pair p;
	int pp[2], fd;

	for (int i = 0; i < 2; i++) {
		int bad = i == 0 ? -1 : 999;
		assert_int_equal(corio_connect(bad, (struct sockaddr *)&a, sizeof(a)), -EBADF);
		assert_int_equal(corio_accept(bad, NULL, NULL), -EBADF);
		assert_int_equal(corio_recv(bad, buf, sizeof(buf), 0), -EBADF);
		assert_int_equal(corio_send(bad, "x", 1, 0), -EBADF);
		assert_int_equal(corio_recvmsg(bad, &mh, 0), -EBADF);
		assert_int_equal(corio_sendmsg(bad, &mh, 0), -EBADF);
		sent = 77;
		assert_int_equal(corio_send_all(bad, "x", 1, 0, &sent), -EBADF);
		assert_int_equal(sent, 0);
		assert_int_equal(corio_shutdown(bad, SHUT_RDWR), -EBADF);
		assert_int_equal(corio_poll(bad, POLLIN), -EBADF);
		assert_int_equal(corio_local_port(bad), -EBADF);
	}
	pair_make(&p);
	/* NULL pointers. */
	fd = corio_socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(corio_connect(fd, NULL, sizeof(a)), -EFAULT);
	assert_int_equal(corio_accept(p.lfd, (struct sockaddr *)&a, NULL), -EFAULT);
	assert_int_equal(corio_recv(p.s, NULL, 4, 0), -EFAULT);
	assert_int_equal(corio_send(p.c, NULL, 4, 0), -EFAULT);
	assert_int_equal(corio_recvmsg(p.s, NULL, 0), -EFAULT);
	assert_int_equal(corio_sendmsg(p.c, NULL, 0), -EFAULT);
	sent = 77;
	assert_int_equal(corio_send_all(p.c, NULL, 4, 0, &sent), -EFAULT);
	assert_int_equal(sent, 0);
	/* A bad pointer the kernel catches: no crash. (Under memcheck the
	 * library's buffer check reports it first, as it should: not here.) */
	if (!CHECK_VALGRIND)
		assert_int_equal(corio_send(p.c, (const void *)16, 4, 0), -EFAULT);
	/* Wrong kinds of descriptors and states. */
	assert_int_equal(corio_connect(fd, (struct sockaddr *)&a, 3), -EINVAL);
	assert_int_equal(corio_accept(fd, NULL, NULL), -EINVAL); /* not listening */
	assert_int_equal(corio_recv(fd, buf, sizeof(buf), 0), -ENOTCONN);
	assert_int_equal(corio_send(fd, "x", 1, 0), -EPIPE);
	assert_int_equal(corio_shutdown(fd, SHUT_RDWR), -ENOTCONN);
	assert_int_equal(corio_recv(p.lfd, buf, sizeof(buf), 0), -ENOTCONN);
	assert_int_equal(pipe2(pp, O_CLOEXEC), 0);
	assert_int_equal(corio_recv(pp[0], buf, sizeof(buf), 0), -ENOTSOCK);
	assert_int_equal(corio_send(pp[1], "x", 1, 0), -ENOTSOCK);
	assert_int_equal(corio_accept(pp[0], NULL, NULL), -ENOTSOCK);
	assert_int_equal(corio_local_port(pp[0]), -ENOTSOCK);
	close(pp[0]);
	close(pp[1]);
	/* Sockets corio_local_port has no port for. */
	int un = corio_socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(un >= 0);
	assert_true(fcntl(un, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(corio_local_port(un), -EAFNOSUPPORT);
	assert_int_equal(corio_close(un), 0);
	assert_int_equal(corio_local_port(fd), 0); /* unbound */
	/* Bad socket arguments: an error, and no descriptor. */
	assert_int_equal(corio_socket(12345, SOCK_STREAM, 0), -EAFNOSUPPORT);
	assert_int_equal(corio_socket(AF_INET, 12345, 0), -EINVAL);
	assert_true(corio_socket(AF_INET, SOCK_STREAM, 12345) < 0);
	assert_int_equal(corio_close(fd), 0);
	pair_close(&p);
	return 0;
}

static void test_misuse(void **state)
{
	run_main(misuse_main, NULL);
}

static void test_outside_loop(void **state)
{
	char buf[8];
	struct iovec iv = { buf, sizeof(buf) };
	struct msghdr mh = { .msg_iov = &iv, .msg_iovlen = 1 };
	struct sockaddr_in a = loopback4(9);
	size_t sent = 77;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(corio_socket(AF_INET, SOCK_STREAM, 0), -EPERM);
	assert_int_equal(corio_connect(sv[0], (struct sockaddr *)&a, sizeof(a)), -EPERM);
	assert_int_equal(corio_accept(sv[0], NULL, NULL), -EPERM);
	assert_int_equal(corio_recv(sv[0], buf, sizeof(buf), 0), -EPERM);
	assert_int_equal(corio_send(sv[0], "x", 1, 0), -EPERM);
	assert_int_equal(corio_recvmsg(sv[0], &mh, 0), -EPERM);
	assert_int_equal(corio_sendmsg(sv[0], &mh, 0), -EPERM);
	assert_int_equal(corio_send_all(sv[0], "xy", 2, 0, &sent), -EPERM);
	assert_int_equal(sent, 0);
	assert_int_equal(corio_shutdown(sv[0], SHUT_RDWR), -EPERM);
	assert_int_equal(corio_poll(sv[0], POLLOUT), -EPERM);
	assert_int_equal(corio_listen_tcp(NULL, 0, 0), -EPERM);
	assert_int_equal(corio_listen_tcp_ex(NULL, 0, 0, CORIO_LISTEN_REUSEPORT), -EPERM);
	assert_int_equal(corio_dial_tcp("127.0.0.1", 9), -EPERM);
	assert_int_equal(corio_dial_tcp("localhost", 9), -EPERM);
	/* Nothing was sent or shut down. */
	assert_int_equal(send(sv[0], "ok", 2, MSG_NOSIGNAL), 2);
	assert_int_equal(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), 2);
	/* corio_local_port needs no loop; corio_close closes. */
	assert_int_equal(corio_local_port(sv[0]), -EAFNOSUPPORT);
	assert_int_equal(corio_close(sv[0]), 0);
	assert_int_equal(corio_close(sv[1]), 0);
	assert_false(fd_is_open(sv[0]));
	assert_false(fd_is_open(sv[1]));
}

/* ------------------------------------------------------------------------
 * Cancellation table
 * ------------------------------------------------------------------------ */

/* The scenarios: enum check_scenario in check.h. */

#define OPN     1000     /* bytes the send rows send */
#define ALLN    300000   /* bytes the send_all row sends */
#define RECVN   100000   /* bytes sent after a cancelled recv */

struct nrow;

struct ncx {
	const struct nrow *row;
	int       sc;
	struct pair p;
	int       u1, u2;           /* UDP */
	int       filler;           /* connect: the connection filling the backlog */
	struct sockaddr_in to;      /* connect: the listener */
	size_t    filled;           /* send rows: bytes that fill the socket */
	size_t    sent;             /* send_all */
	char      buf[OPN];
	unsigned char *big;         /* send_all: ALLN bytes */
	struct sockaddr_storage ss; /* accept, recvmsg */
	socklen_t sslen;
	corio_task *helper;         /* a task the release or check spawned */
	size_t    nf, nw;           /* counts a drainer saw */
	/* What the victim saw. */
	int       started, returned;
	ssize_t   r, later;
	int       pop_r, pop2_r, pop3_r;
	uint64_t  t_armed;          /* before the scopes were pushed */
	uint64_t  op_start, op_end, sw0, sw1;
};

struct nrow {
	const char *name;
	void      (*setup)(struct ncx *);     /* main: make the call block */
	ssize_t   (*op)(struct ncx *);        /* victim: the blocking call */
	void      (*release)(struct ncx *);   /* main: let the call complete */
	void      (*completed)(struct ncx *); /* main: it completed (shield) */
	void      (*untaken)(struct ncx *);   /* main: it took nothing */
	void      (*teardown)(struct ncx *);
};

static void close_all(struct ncx *cx)
{
	pair_close(&cx->p);
	xclose(&cx->u1);
	xclose(&cx->u2);
	xclose(&cx->filler);
	free(cx->big);
	cx->big = NULL;
	if (cx->helper) {
		corio_join(cx->helper);
		cx->helper = NULL;
	}
}

static void pair_setup(struct ncx *cx)
{
	pair_make(&cx->p);
}

/* accept */
static void accept_setup(struct ncx *cx)
{
	cx->p.lfd = corio_listen_tcp(NULL, 0, 0);
	assert_true(cx->p.lfd >= 0);
	cx->p.port = corio_local_port(cx->p.lfd);
}

static ssize_t accept_op(struct ncx *cx)
{
	int r;

	cx->sslen = sizeof(cx->ss);
	r = corio_accept(cx->p.lfd, (struct sockaddr *)&cx->ss, &cx->sslen);
	if (r >= 0)
		cx->p.s = r;
	return r;
}

static void accept_release(struct ncx *cx)
{
	cx->p.c = corio_dial_tcp("127.0.0.1", (uint16_t)cx->p.port);
	assert_true(cx->p.c >= 0);
}

static void accept_completed(struct ncx *cx)
{
	struct sockaddr_in local;
	socklen_t len = sizeof(local);

	assert_true(cx->r >= 0);
	assert_int_equal(getsockname(cx->p.c, (struct sockaddr *)&local, &len), 0);
	assert_int_equal(((struct sockaddr_in *)&cx->ss)->sin_port, local.sin_port);
	assert_int_equal(corio_send(cx->p.c, "a", 1, 0), 1);
	assert_int_equal(recv_exact(cx->p.s, cx->buf, 1), 1);
}

static void accept_untaken(struct ncx *cx)
{
	/* The next connection goes to the next accept. */
	accept_release(cx);
	assert_int_equal(corio_deadline_push(2000), 0);
	cx->p.s = corio_accept(cx->p.lfd, NULL, NULL);
	assert_int_equal(corio_deadline_pop(), 0);
	assert_true(cx->p.s >= 0);
	assert_int_equal(corio_send(cx->p.c, "a", 1, 0), 1);
	assert_int_equal(recv_exact(cx->p.s, cx->buf, 1), 1);
}

/* connect: a listener with backlog 0 whose queue one connection fills; a
 * further SYN is dropped and the connect waits (the retry comes ~1 s later) */
static void connect_setup(struct ncx *cx)
{
	socklen_t len = sizeof(cx->to);
	int one = 1;

	cx->p.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(cx->p.lfd >= 0);
	cx->to = loopback4(0);
	setsockopt(cx->p.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	assert_int_equal(bind(cx->p.lfd, (struct sockaddr *)&cx->to, sizeof(cx->to)), 0);
	assert_int_equal(listen(cx->p.lfd, 0), 0);
	assert_int_equal(getsockname(cx->p.lfd, (struct sockaddr *)&cx->to, &len), 0);
	cx->filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(cx->filler >= 0);
	assert_int_equal(connect(cx->filler, (struct sockaddr *)&cx->to, sizeof(cx->to)), 0);
	cx->p.c = corio_socket(AF_INET, SOCK_STREAM, 0);
	assert_true(cx->p.c >= 0);
}

static ssize_t connect_op(struct ncx *cx)
{
	return corio_connect(cx->p.c, (struct sockaddr *)&cx->to, sizeof(cx->to));
}

static void connect_free_queue(struct ncx *cx)
{
	int s = accept4(cx->p.lfd, NULL, NULL, SOCK_CLOEXEC);

	assert_true(s >= 0);
	close(s);
}

static void connect_release(struct ncx *cx)
{
	connect_free_queue(cx); /* the SYN retry (about 1 s) gets in */
}

static void connect_completed(struct ncx *cx)
{
	assert_int_equal(cx->r, 0);
	cx->p.s = corio_accept(cx->p.lfd, NULL, NULL);
	assert_true(cx->p.s >= 0);
	assert_int_equal(corio_send(cx->p.c, "c", 1, 0), 1);
	assert_int_equal(recv_exact(cx->p.s, cx->buf, 1), 1);
}

static void connect_untaken(struct ncx *cx)
{
	int c2;

	xclose(&cx->p.c); /* interrupted mid-handshake: give it up */
	connect_free_queue(cx);
	/* The listener works: a new connect gets in at once. */
	c2 = corio_socket(AF_INET, SOCK_STREAM, 0);
	assert_true(c2 >= 0);
	assert_int_equal(corio_deadline_push(500 * CHECK_TIME_SCALE), 0);
	assert_int_equal(connect_op(&(struct ncx){ .p.c = c2, .to = cx->to }), 0);
	assert_int_equal(corio_deadline_pop(), 0);
	cx->p.c = c2;
	cx->p.s = corio_accept(cx->p.lfd, NULL, NULL);
	assert_true(cx->p.s >= 0);
}

/* recv */
static ssize_t recv_op(struct ncx *cx)
{
	return corio_recv(cx->p.s, cx->buf, sizeof(cx->buf), 0);
}

static void recv_release(struct ncx *cx)
{
	assert_int_equal(send(cx->p.c, "hello", 5, MSG_NOSIGNAL), 5);
}

static void recv_completed(struct ncx *cx)
{
	assert_int_equal(cx->r, 5);
	assert_memory_equal(cx->buf, "hello", 5);
}

struct sender {
	int            fd;
	unsigned char *data;
	size_t         n, sent;
	ssize_t        r;
};

static int sender_fn(void *arg)
{
	struct sender *s = arg;

	s->r = corio_send_all(s->fd, s->data, s->n, 0, &s->sent);
	return 0;
}

static void recv_untaken(struct ncx *cx)
{
	/* Every byte sent now arrives, in order. */
	unsigned char *w = malloc(RECVN), *g = malloc(RECVN);
	struct sender s = { 0 };
	corio_task *t;

	assert_true(w && g);
	fill_pattern(w, RECVN, 11);
	s.fd = cx->p.c;
	s.data = w;
	s.n = RECVN;
	t = corio_spawn(sender_fn, &s);
	assert_non_null(t);
	assert_int_equal(recv_exact(cx->p.s, g, RECVN), RECVN);
	assert_int_equal(corio_join(t), 0);
	assert_int_equal(s.r, RECVN);
	assert_memory_equal(g, w, RECVN);
	expect_quiet(cx->p.s, 10);
	free(w);
	free(g);
}

/* send / sendmsg / send_all: the client's path is full */
static void send_setup(struct ncx *cx)
{
	pair_make(&cx->p);
	cx->filled = fill_socket(cx->p.c, 'F');
	memset(cx->buf, 'W', sizeof(cx->buf));
}

static ssize_t send_op(struct ncx *cx)
{
	return corio_send(cx->p.c, cx->buf, sizeof(cx->buf), 0);
}

static ssize_t sendmsg_op(struct ncx *cx)
{
	struct iovec iv[2] = { { cx->buf, 10 }, { cx->buf + 10, sizeof(cx->buf) - 10 } };
	struct msghdr mh = { .msg_iov = iv, .msg_iovlen = 2 };

	return corio_sendmsg(cx->p.c, &mh, 0);
}

static void send_release(struct ncx *cx)
{
	size_t nf = 0;

	recv_count(cx->p.s, cx->filled, 'F', &nf, 0, NULL);
	assert_int_equal(nf, cx->filled);
}

static void send_completed(struct ncx *cx)
{
	size_t nw = 0;

	assert_int_equal(cx->r, OPN);
	recv_count(cx->p.s, OPN, 'W', &nw, 0, NULL);
	assert_int_equal(nw, OPN);
	expect_quiet(cx->p.s, 10);
}

static void send_untaken(struct ncx *cx)
{
	size_t nf = 0, nw = 0;

	/* Exactly the filler arrives: the interrupted send sent nothing. */
	recv_count(cx->p.s, cx->filled + cx->sent, 'F', &nf, 'W', &nw);
	assert_int_equal(nf, cx->filled);
	assert_int_equal(nw, cx->sent);
	expect_quiet(cx->p.s, 20);
	/* And the socket still sends. */
	assert_int_equal(corio_send(cx->p.c, "ok", 2, 0), 2);
	assert_int_equal(recv_exact(cx->p.s, cx->buf, 2), 2);
	assert_memory_equal(cx->buf, "ok", 2);
}

static void send_all_setup(struct ncx *cx)
{
	send_setup(cx);
	cx->big = malloc(ALLN);
	assert_non_null(cx->big);
	memset(cx->big, 'W', ALLN);
}

static ssize_t send_all_op(struct ncx *cx)
{
	return corio_send_all(cx->p.c, cx->big, ALLN, 0, &cx->sent);
}

struct drainer {
	struct ncx *cx;
	size_t      n;
};

static int drainer_fn(void *arg)
{
	struct drainer *d = arg;

	recv_count(d->cx->p.s, d->n, 'F', &d->cx->nf, 'W', &d->cx->nw);
	return 0;
}

static struct drainer the_drainer;

static void send_all_release(struct ncx *cx)
{
	/* send_all needs a reader for all of it: a task drains. */
	the_drainer.cx = cx;
	the_drainer.n = cx->filled + ALLN;
	cx->helper = corio_spawn(drainer_fn, &the_drainer);
	assert_non_null(cx->helper);
}

static void send_all_completed(struct ncx *cx)
{
	assert_int_equal(cx->r, ALLN);
	assert_int_equal(cx->sent, ALLN);
	assert_int_equal(corio_join(cx->helper), 0);
	cx->helper = NULL;
	assert_int_equal(cx->nf, cx->filled);
	assert_int_equal(cx->nw, ALLN);
	expect_quiet(cx->p.s, 10);
}

/* recvmsg: UDP */
static void udp_setup(struct ncx *cx)
{
	cx->u1 = udp_bind();
	cx->u2 = udp_bind();
	cx->to = loopback4((uint16_t)corio_local_port(cx->u2));
}

static ssize_t recvmsg_op(struct ncx *cx)
{
	struct iovec iv = { cx->buf, sizeof(cx->buf) };
	struct msghdr mh = { .msg_name = &cx->ss, .msg_namelen = sizeof(cx->ss),
			     .msg_iov = &iv, .msg_iovlen = 1 };

	return corio_recvmsg(cx->u2, &mh, 0);
}

static void recvmsg_release(struct ncx *cx)
{
	assert_int_equal(sendto(cx->u1, "dgram", 5, 0, (struct sockaddr *)&cx->to, sizeof(cx->to)),
			 5);
}

static void recvmsg_completed(struct ncx *cx)
{
	assert_int_equal(cx->r, 5);
	assert_memory_equal(cx->buf, "dgram", 5);
	assert_int_equal(ntohs(((struct sockaddr_in *)&cx->ss)->sin_port),
			 corio_local_port(cx->u1));
}

static void recvmsg_untaken(struct ncx *cx)
{
	char c;

	assert_int_equal(sendto(cx->u1, "again", 5, 0, (struct sockaddr *)&cx->to, sizeof(cx->to)),
			 5);
	memset(cx->buf, 0, sizeof(cx->buf));
	assert_int_equal(recvmsg_op(cx), 5);
	assert_memory_equal(cx->buf, "again", 5);
	assert_int_equal(recv(cx->u2, &c, 1, MSG_DONTWAIT), -1); /* nothing else */
	assert_int_equal(errno, EAGAIN);
}

/* poll */
static ssize_t poll_op(struct ncx *cx)
{
	return corio_poll(cx->p.s, POLLIN);
}

static void poll_release(struct ncx *cx)
{
	assert_int_equal(send(cx->p.c, "x", 1, MSG_NOSIGNAL), 1);
}

static void poll_completed(struct ncx *cx)
{
	assert_int_equal(cx->r, POLLIN);
	assert_int_equal(recv_exact(cx->p.s, cx->buf, 1), 1);
	assert_int_equal(cx->buf[0], 'x');
}

static void poll_untaken(struct ncx *cx)
{
	assert_int_equal(send(cx->p.c, "y", 1, MSG_NOSIGNAL), 1);
	assert_int_equal(corio_poll(cx->p.s, POLLIN), POLLIN);
	assert_int_equal(recv_exact(cx->p.s, cx->buf, 1), 1);
	assert_int_equal(cx->buf[0], 'y');
}

/* dial_tcp while the name is being resolved */
static void dial_setup(struct ncx *cx)
{
	accept_setup(cx);
	gate_close();
}

static ssize_t dial_op(struct ncx *cx)
{
	int r = corio_dial_tcp(GATED_HOST, (uint16_t)cx->p.port);

	if (r >= 0)
		cx->p.c = r;
	return r;
}

static void dial_release(struct ncx *cx)
{
	/* A pool worker takes the job and reaches the gate on its own time
	 * (long after the call under valgrind, which runs one thread at a
	 * time): wait for it, bounded. */
	for (int i = 0; i < 5000 && gate_waiters() < 1; i++)
		corio_sleep_ms(1);
	assert_int_equal(gate_waiters(), 1); /* it was waiting for the name */
	gate_open();
}

static void dial_completed(struct ncx *cx)
{
	assert_true(cx->r >= 0);
	cx->p.s = corio_accept(cx->p.lfd, NULL, NULL);
	assert_true(cx->p.s >= 0);
	assert_int_equal(corio_send(cx->p.c, "d", 1, 0), 1);
	assert_int_equal(recv_exact(cx->p.s, cx->buf, 1), 1);
}

static void dial_untaken(struct ncx *cx)
{
	int c;

	gate_open();
	wait_jobs();
	/* It did not connect after all. */
	assert_int_equal(corio_deadline_push(20), 0);
	assert_int_equal(corio_accept(cx->p.lfd, NULL, NULL), -ETIMEDOUT);
	corio_deadline_pop();
	/* The next dial works. */
	c = corio_dial_tcp("localhost", (uint16_t)cx->p.port);
	assert_true(c >= 0);
	cx->p.c = c;
	cx->p.s = corio_accept(cx->p.lfd, NULL, NULL);
	assert_true(cx->p.s >= 0);
}

static void dial_teardown(struct ncx *cx)
{
	gate_open();
	wait_jobs();
	close_all(cx);
}

static const struct nrow nrows[] = {
	{ "accept", accept_setup, accept_op, accept_release, accept_completed, accept_untaken,
	  close_all },
	{ "connect (full backlog)", connect_setup, connect_op, connect_release,
	  connect_completed, connect_untaken, close_all },
	{ "recv", pair_setup, recv_op, recv_release, recv_completed, recv_untaken, close_all },
	{ "send (full socket)", send_setup, send_op, send_release, send_completed, send_untaken,
	  close_all },
	{ "sendmsg (full socket)", send_setup, sendmsg_op, send_release, send_completed,
	  send_untaken, close_all },
	{ "send_all (full socket)", send_all_setup, send_all_op, send_all_release,
	  send_all_completed, send_untaken, close_all },
	{ "recvmsg (UDP)", udp_setup, recvmsg_op, recvmsg_release, recvmsg_completed,
	  recvmsg_untaken, close_all },
	{ "poll", pair_setup, poll_op, poll_release, poll_completed, poll_untaken, close_all },
	{ "dial_tcp (resolving)", dial_setup, dial_op, dial_release, dial_completed, dial_untaken,
	  dial_teardown },
};

#define NNROWS (sizeof(nrows) / sizeof(nrows[0]))

static int nvictim(void *arg)
{
	struct ncx *cx = arg;

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
	/* The same call again: -ECANCELED at once when cancelled. */
	if (cx->sc != SC_DEADLINE && cx->sc != SC_SHIELD)
		cx->later = cx->row->op(cx);
	cx->returned = 1;
	return 0;
}

static int ntable_main(void *arg)
{
	struct ncx *cx = arg;
	const struct nrow *row = cx->row;
	uint64_t t_cancel = 0;
	corio_task *v;

	cx->p.lfd = cx->p.c = cx->p.s = cx->u1 = cx->u2 = cx->filler = -1;
	row->setup(cx);
	v = corio_spawn(nvictim, cx);
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
		row->release(cx);
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
		row->completed(cx);
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
	if (cx->sc != SC_DEADLINE && cx->sc != SC_SHIELD)
		assert_int_equal(cx->later, -ECANCELED);
	if (cx->sc != SC_SHIELD)
		row->untaken(cx);
	row->teardown(cx);
	return 0;
}

struct ntable_case {
	const struct nrow *row;
	int                sc;
	char               name[64];
};

static void test_ntable(void **state)
{
	const struct ntable_case *tc = *state;
	struct ncx *cx = calloc(1, sizeof(*cx));

	assert_non_null(cx);
	cx->row = tc->row;
	cx->sc = tc->sc;
	run_main(ntable_main, cx);
	free(cx);
}

/* ------------------------------------------------------------------------
 * Data and cancel in the same turn; a cancelled recv loses nothing
 * ------------------------------------------------------------------------ */

struct rrace {
	int         fd;
	ssize_t     r, later;
	char        buf[16];
};

static int rrace_fn(void *arg)
{
	struct rrace *rr = arg;

	rr->r = corio_recv(rr->fd, rr->buf, sizeof(rr->buf), 0);
	rr->later = corio_sleep_ms(1);
	return 0;
}

static int recv_race_main(void *arg)
{
	struct rrace rr = { 0 };
	struct pair p;
	corio_task *t;
	char buf[16];
	int i;

	pair_make(&p);
	/* Same turn: whichever wins, the bytes are not lost. */
	for (i = 0; i < 20; i++) {
		memset(&rr, 0, sizeof(rr));
		rr.fd = p.s;
		t = corio_spawn(rrace_fn, &rr);
		assert_non_null(t);
		corio_yield(); /* it is in its recv */
		assert_int_equal(send(p.c, "abc", 3, MSG_NOSIGNAL), 3);
		assert_int_equal(corio_cancel(t), 0);
		assert_int_equal(corio_join(t), 0);
		assert_int_equal(rr.later, -ECANCELED);
		if (rr.r == 3) {
			assert_memory_equal(rr.buf, "abc", 3);
		} else {
			assert_int_equal(rr.r, -ECANCELED);
			assert_int_equal(recv_exact(p.s, buf, 3), 3);
			assert_memory_equal(buf, "abc", 3);
		}
	}
	/* Completed (its CQE reaped) before the cancel: the data is its. */
	memset(&rr, 0, sizeof(rr));
	rr.fd = p.s;
	t = corio_spawn(rrace_fn, &rr);
	assert_non_null(t);
	corio_yield();
	assert_int_equal(send(p.c, "xyz", 3, MSG_NOSIGNAL), 3);
	for (i = 0; i < 100000 && t->state != CORIO__T_READY; i++)
		corio_yield();
	assert_int_equal(t->state, CORIO__T_READY);
	assert_int_equal(corio_cancel(t), 0);
	assert_int_equal(corio_join(t), 0);
	assert_int_equal(rr.r, 3);
	assert_memory_equal(rr.buf, "xyz", 3);
	assert_int_equal(rr.later, -ECANCELED);
	expect_quiet(p.s, 10);
	pair_close(&p);
	return 0;
}

static void test_recv_and_cancel_same_turn(void **state)
{
	run_main(recv_race_main, NULL);
}

/* ------------------------------------------------------------------------ */

/* The thread pool starts on first use and keeps its workers (each with a
 * small ring of its own: one fd) for the life of the process; glibc's first
 * lookup on each worker costs memory for good too (NSS state, a malloc
 * arena). Pay it all before any leak check: start the pool, then hold one
 * lookup per worker at the gate at once, so that every worker has done
 * one. */
#define WARM_MAX 256

static int warm_dial(void *arg)
{
	int fd = corio_dial_tcp(GATED_HOST, *(uint16_t *)arg);

	if (fd >= 0)
		corio_close(fd);
	return fd < 0 ? fd : 0;
}

static int warmup_main(void *arg)
{
	static corio_task *t[WARM_MAX];
	int *nworkers = arg;
	int lfd, n, r;
	uint16_t port;

	r = corio_to_thread(nop_fn, NULL);
	if (r < 0)
		return r;
	/* Not workers: the loop's thread, and ThreadSanitizer's own. */
	*nworkers = count_threads() - 1 - CHECK_TSAN;
	n = *nworkers < 2 ? 2 : *nworkers > WARM_MAX ? WARM_MAX : *nworkers;
	lfd = corio_listen_tcp(NULL, 0, 0);
	if (lfd < 0)
		return lfd;
	port = (uint16_t)corio_local_port(lfd);
	gate_close();
	for (int i = 0; i < n; i++)
		t[i] = corio_spawn(warm_dial, &port);
	for (int i = 0; i < 2000 * CHECK_TIME_SCALE && gate_waiters() < n &&
			gate_waiters() < *nworkers; i++)
		corio_sleep_ms(1);
	gate_open();
	for (int i = 0; i < n; i++)
		if (t[i])
			corio_join(t[i]);
	corio_close(lfd);
	wait_jobs();
	return 0;
}

int main(int argc, char **argv)
{
	static struct ntable_case cases[NNROWS * SC_COUNT];
	static const struct CMUnitTest extra[] = {
		NET_TEST(test_listen),
		NET_TEST(test_listen_reuseport),
		NET_TEST(test_ipv6),
		NET_TEST(test_dial_and_accept),
		NET_TEST(test_resolve_does_not_block_loop),
		NET_TEST(test_dial_errors),
		NET_TEST(test_resolve_system_error),
		NET_TEST(test_lookup_pool_cannot_start),
		NET_TEST(test_lookup_after_pool_start_failed),
		NET_TEST(test_abandoned_lookup_outlives_loop),
		NET_TEST(test_mailbox_post_races_loop_close),
		NET_TEST(test_mailbox_post_races_loop_close_msg_ring),
		NET_TEST(test_recv_send_eof),
		NET_TEST(test_send_all_slow_reader),
		NET_TEST(test_send_all_deadline_reports_sent),
		NET_TEST(test_send_to_closed_peer_no_sigpipe),
		NET_TEST(test_udp),
		NET_TEST(test_poll),
		NET_TEST(test_echo_50_clients),
		NET_TEST(test_close_ends_pending_recv_and_accept),
		NET_TEST(test_cancelled_calls_have_no_effect),
		NET_TEST(test_main_returns_with_io_pending),
		NET_TEST(test_misuse),
		NET_TEST(test_outside_loop),
		NET_TEST(test_recv_and_cancel_same_turn),
	};
	static struct CMUnitTest tests[sizeof(extra) / sizeof(extra[0]) + NNROWS * SC_COUNT];
	size_t n = 0;

	for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
		tests[n++] = extra[i];
	for (size_t r = 0; r < NNROWS; r++) {
		for (int sc = 0; sc < SC_COUNT; sc++) {
			struct ntable_case *tc = &cases[r * SC_COUNT + (size_t)sc];

			tc->row = &nrows[r];
			tc->sc = sc;
			snprintf(tc->name, sizeof(tc->name), "%s: %s", nrows[r].name, check_sc_name(sc));
			tests[n++] = (struct CMUnitTest){ tc->name, test_ntable, check_setup,
							  net_teardown, tc };
		}
	}

	loop_thread = pthread_self();
	check_init(argc, argv);
	int nworkers = 0;
	if (corio_run(warmup_main, &nworkers) != 0) {
		printf("skip: cannot start the thread pool, or listen on and dial 127.0.0.1 "
		       "here\n");
		return CHECK_SKIP;
	}
	/* The pool's threads and their fds are part of every baseline. */
	pool_workers = nworkers;
	check_rebaseline();
	return _cmocka_run_group_tests("test_io_net", tests, n, NULL, NULL);
}
