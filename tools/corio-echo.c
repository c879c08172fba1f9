/*
 * corio-echo - a TCP echo server on corio: one task per connection.
 *
 *   corio-echo --port N [--host H] [--backlog N] [--max-conns N]
 *              [--idle-ms N] [--stats] [--seconds S]
 *
 * The main task listens, prints "listening on HOST:PORT" (flushed, so a
 * script can wait for it; with --port 0 it names the port picked), starts
 * the accept loop as a task and waits for SIGINT/SIGTERM (read from a
 * signalfd through the ring) or the end of --seconds. Then it cancels the
 * accept loop, closes the listener and returns: corio_run cancels every
 * connection still open (each closes its socket) and returns once they all
 * have ended. With --stats, the loop's counters are printed then, after
 * the last connection ended.
 *
 * Each connection is a detached task echoing every byte it receives
 * (corio_recv, corio_send_all). With --idle-ms, each receive and each send
 * runs in a deadline scope of that length: a client that sends nothing, or
 * reads nothing back, for that long is disconnected. Connections beyond
 * --max-conns are closed as soon as they are accepted.
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <corio.h>

#define BUF_SIZE (16 * 1024)

struct opts {
	const char *host;
	int         port;      /* -1: not given */
	int         backlog;   /* 0: SOMAXCONN */
	long        max_conns; /* 0: no limit */
	uint64_t    idle_ms;   /* 0: none */
	double      seconds;   /* 0: until a signal */
	bool        stats;
};

struct conn {
	struct conn *prev, *next;
	int          fd;
	char         buf[BUF_SIZE];
};

/* The server's state: one loop, one thread, so no locking. */
static struct {
	struct opts o;
	struct conn head;       /* list of open connections (a ring) */
	long        nconns;
	bool        stopping;   /* main has returned: connections are being cancelled */
	bool        stats_done;
	uint64_t    accepted, rejected, idle_closed, accept_errors, max_seen;
	uint64_t    bytes;
} g;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: corio-echo --port N [options]\n"
		"\n"
		"A TCP echo server on corio: one task per connection, every byte sent back.\n"
		"\n"
		"options:\n"
		"  --port N        port to listen on; 0 picks a free one (required)\n"
		"  --host H        address to bind (default 127.0.0.1; 0.0.0.0 or :: for all)\n"
		"  --backlog N     listen backlog (default SOMAXCONN)\n"
		"  --max-conns N   connections open at once; more are closed at once (default 0: no limit)\n"
		"  --idle-ms N     close a connection that sends nothing (or reads nothing back)\n"
		"                  for N ms (default 0: never)\n"
		"  --seconds S     stop after S seconds (default 0: run until SIGINT/SIGTERM)\n"
		"  --stats         print the server's and the loop's counters at exit\n"
		"  --help          this text\n"
		"\n"
		"It prints \"listening on HOST:PORT\" once the socket listens (with --port 0,\n"
		"the port picked). SIGINT or SIGTERM stop it: the accept loop ends, open\n"
		"connections are cancelled and closed, and it exits with status 0.\n");
}

static bool parse_long(const char *s, long lo, long hi, long *v)
{
	char *end;
	long x;

	errno = 0;
	x = strtol(s, &end, 10);
	if (errno || end == s || *end || x < lo || x > hi)
		return false;
	*v = x;
	return true;
}

static bool parse_seconds(const char *s, double *v)
{
	char *end;
	double x;

	errno = 0;
	x = strtod(s, &end);
	if (errno || end == s || *end || !(x >= 0) || x > 31536000.0)
		return false;
	*v = x;
	return true;
}

static void print_stats(void)
{
	corio_stats st;

	if (!g.o.stats || g.stats_done)
		return;
	g.stats_done = true;
	printf("corio-echo: connections accepted %llu, rejected (max-conns) %llu, "
	       "closed idle %llu, most open at once %llu, accept errors %llu, bytes echoed %llu\n",
	       (unsigned long long)g.accepted, (unsigned long long)g.rejected,
	       (unsigned long long)g.idle_closed, (unsigned long long)g.max_seen,
	       (unsigned long long)g.accept_errors, (unsigned long long)g.bytes);
	if (corio_loop_stats(&st) == 0)
		printf("corio-echo: loop %d: tasks spawned %llu, alive %llu, switches %llu, "
		       "turns %llu, submits %llu, completions %llu, syscalls %llu, "
		       "timers fired %llu\n",
		       corio_loop_index(), (unsigned long long)st.tasks_spawned,
		       (unsigned long long)st.tasks_alive, (unsigned long long)st.switches,
		       (unsigned long long)st.turns, (unsigned long long)st.submits,
		       (unsigned long long)st.completions, (unsigned long long)st.syscalls,
		       (unsigned long long)st.timers_fired);
	fflush(stdout);
}

/* A receive or a send, in a deadline scope of --idle-ms when one is set. */
static ssize_t idle_recv(int fd, void *buf, size_t n)
{
	ssize_t r;

	if (!g.o.idle_ms)
		return corio_recv(fd, buf, n, 0);
	if (corio_deadline_push(g.o.idle_ms) < 0)
		return -ENOMEM;
	r = corio_recv(fd, buf, n, 0);
	corio_deadline_pop();
	return r;
}

static ssize_t idle_send_all(int fd, const void *buf, size_t n)
{
	ssize_t r;

	if (!g.o.idle_ms)
		return corio_send_all(fd, buf, n, 0, NULL);
	if (corio_deadline_push(g.o.idle_ms) < 0)
		return -ENOMEM;
	r = corio_send_all(fd, buf, n, 0, NULL);
	corio_deadline_pop();
	return r;
}

static void conn_unlink(struct conn *c)
{
	c->prev->next = c->next;
	c->next->prev = c->prev;
	g.nconns--;
}

/*
 * One connection. Ends on EOF, on an error (a reset, say: that is the
 * client's business, not a failure of the server), on the idle deadline,
 * or when cancelled at shutdown. Always returns 0: a detached task that
 * returns an error is reported on stderr by corio.
 */
static int conn_task(void *arg)
{
	struct conn *c = arg;
	ssize_t r;

	for (;;) {
		r = idle_recv(c->fd, c->buf, sizeof(c->buf));
		if (r <= 0)
			break;
		g.bytes += (uint64_t)r;
		r = idle_send_all(c->fd, c->buf, (size_t)r);
		if (r < 0)
			break;
	}
	if (r == -ETIMEDOUT)
		g.idle_closed++;
	corio_close(c->fd);
	conn_unlink(c);
	free(c);
	if (g.stopping && g.nconns == 0)
		print_stats();
	return 0;
}

static bool accept_error_is_transient(int e)
{
	switch (e) {
	case -ECONNABORTED:
	case -EINTR:
	case -EAGAIN:
	case -EPROTO:
	case -EPERM: /* a firewall said no */
	case -ENETDOWN:
	case -ENOPROTOOPT:
	case -EHOSTDOWN:
	case -ENONET:
	case -EHOSTUNREACH:
	case -EOPNOTSUPP:
	case -ENETUNREACH:
		return true;
	default:
		return false;
	}
}

/* The accept loop; ends when cancelled. */
static int accept_task(void *arg)
{
	int lfd = (int)(intptr_t)arg;
	int one = 1;

	for (;;) {
		int fd = corio_accept(lfd, NULL, NULL);
		struct conn *c;
		corio_task *t;

		if (fd == -ECANCELED)
			return 0;
		if (fd < 0) {
			if (accept_error_is_transient(fd))
				continue;
			/* Out of fds or memory: say so once in a while, wait a
			 * little (the error would repeat at once), go on. */
			if (g.accept_errors++ % 1000 == 0)
				fprintf(stderr, "corio-echo: accept: %s\n", strerror(-fd));
			if (corio_sleep_ms(10) == -ECANCELED)
				return 0;
			continue;
		}
		g.accepted++;
		if (g.o.max_conns && g.nconns >= g.o.max_conns) {
			g.rejected++;
			close(fd); /* nothing of corio's is pending on it */
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = malloc(sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		t = corio_spawn(conn_task, c);
		if (!t) {
			if (g.accept_errors++ % 1000 == 0)
				fprintf(stderr, "corio-echo: spawn: %s\n", strerror(errno));
			close(fd);
			free(c);
			continue;
		}
		c->next = g.head.next;
		c->prev = &g.head;
		g.head.next->prev = c;
		g.head.next = c;
		if ((uint64_t)++g.nconns > g.max_seen)
			g.max_seen = (uint64_t)g.nconns;
		corio_detach(t);
	}
}

/* A signal already pending, taken without waiting; 0 if none. */
static int take_signal(void)
{
	static const struct timespec zero = { 0, 0 };
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	return sigtimedwait(&mask, NULL, &zero) > 0;
}

/*
 * Waits for SIGINT/SIGTERM, or the end of --seconds. The signals are
 * blocked and read from sfd through the ring; should the kernel refuse
 * that read, they are polled for every 50 ms instead.
 */
static void wait_for_stop(int sfd)
{
	struct signalfd_siginfo si;
	bool timed = g.o.seconds > 0, polling = false;
	ssize_t r;

	if (timed && corio_deadline_push((uint64_t)(g.o.seconds * 1000.0 + 0.5)) < 0) {
		fprintf(stderr, "corio-echo: cannot set the --seconds deadline\n");
		return;
	}
	for (;;) {
		if (polling) {
			if (take_signal()) {
				fprintf(stderr, "corio-echo: signal received, stopping\n");
				break;
			}
			r = corio_sleep_ms(50);
			if (r < 0)
				break; /* -ETIMEDOUT: --seconds is over */
			continue;
		}
		r = corio_read(sfd, &si, sizeof(si), -1);
		if (r == (ssize_t)sizeof(si)) {
			fprintf(stderr, "corio-echo: %s, stopping\n", strsignal((int)si.ssi_signo));
			break;
		}
		if (r == -ETIMEDOUT || r == -ECANCELED)
			break;
		if (r == -EINTR || r == -EAGAIN)
			continue;
		polling = true;
	}
	if (timed)
		corio_deadline_pop();
}

static int amain(void *arg)
{
	int sfd = (int)(intptr_t)arg;
	corio_task *acceptor;
	int lfd, port;

	g.head.next = g.head.prev = &g.head;
	lfd = corio_listen_tcp(g.o.host, (uint16_t)g.o.port, g.o.backlog);
	if (lfd < 0) {
		fprintf(stderr, "corio-echo: cannot listen on %s:%d: %s\n", g.o.host, g.o.port,
			strerror(-lfd));
		return 1;
	}
	port = corio_local_port(lfd);
	if (port < 0) {
		fprintf(stderr, "corio-echo: getsockname: %s\n", strerror(-port));
		close(lfd);
		return 1;
	}
	printf(strchr(g.o.host, ':') ? "listening on [%s]:%d\n" : "listening on %s:%d\n",
	       g.o.host, port);
	fflush(stdout);

	acceptor = corio_spawn(accept_task, (void *)(intptr_t)lfd);
	if (!acceptor) {
		fprintf(stderr, "corio-echo: spawn: %s\n", strerror(errno));
		close(lfd);
		return 1;
	}
	corio_task_set_name(acceptor, "accept");
	wait_for_stop(sfd);

	corio_cancel(acceptor);
	corio_join(acceptor);
	close(lfd);
	/* The connections still open are cancelled by corio_run once main
	 * has returned; the last one to end prints the counters. */
	g.stopping = true;
	if (g.nconns == 0)
		print_stats();
	return 0;
}

/* Room for many connections: the soft fd limit up to the hard one. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "host", required_argument, NULL, 'H' },
		{ "backlog", required_argument, NULL, 'b' },
		{ "max-conns", required_argument, NULL, 'm' },
		{ "idle-ms", required_argument, NULL, 'i' },
		{ "seconds", required_argument, NULL, 's' },
		{ "stats", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	sigset_t mask;
	long v;
	int opt, sfd, r;

	g.o.host = "127.0.0.1";
	g.o.port = -1;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			if (!parse_long(optarg, 0, 65535, &v)) {
				fprintf(stderr, "corio-echo: --port wants 0..65535\n");
				return 2;
			}
			g.o.port = (int)v;
			break;
		case 'H':
			if (!*optarg) {
				fprintf(stderr, "corio-echo: --host wants an address\n");
				return 2;
			}
			g.o.host = optarg;
			break;
		case 'b':
			if (!parse_long(optarg, 1, 1 << 20, &v)) {
				fprintf(stderr, "corio-echo: --backlog wants 1..%d\n", 1 << 20);
				return 2;
			}
			g.o.backlog = (int)v;
			break;
		case 'm':
			if (!parse_long(optarg, 0, 100000000, &v)) {
				fprintf(stderr, "corio-echo: --max-conns wants 0..100000000\n");
				return 2;
			}
			g.o.max_conns = v;
			break;
		case 'i':
			if (!parse_long(optarg, 0, 86400000, &v)) {
				fprintf(stderr, "corio-echo: --idle-ms wants 0..86400000\n");
				return 2;
			}
			g.o.idle_ms = (uint64_t)v;
			break;
		case 's':
			if (!parse_seconds(optarg, &g.o.seconds)) {
				fprintf(stderr, "corio-echo: --seconds wants a number of seconds >= 0\n");
				return 2;
			}
			break;
		case 'S':
			g.o.stats = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "corio-echo: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (g.o.port < 0) {
		fprintf(stderr, "corio-echo: --port is required (0 picks a free port)\n");
		usage(stderr);
		return 2;
	}
	raise_nofile();

	/* The signals arrive through a signalfd the main task reads; block
	 * them first, so every thread (corio's helpers too) inherits the mask. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) {
		perror("corio-echo: sigprocmask");
		return 1;
	}
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0) {
		perror("corio-echo: signalfd");
		return 1;
	}
	r = corio_run(amain, (void *)(intptr_t)sfd);
	close(sfd);
	if (r < 0) {
		fprintf(stderr, "corio-echo: %s\n", strerror(-r));
		return 1;
	}
	return r;
}
