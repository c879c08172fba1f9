/*
 * corio-echo - a TCP echo server on corio: one task per connection.
 *
 *   corio-echo --port N [--host H] [--backlog N] [--loops N] [--max-conns N]
 *              [--idle-ms N] [--stats] [--seconds S]
 *              [--chaos SEED [--cancel-rate P] [--cancel-ms N] [--deadline-ms D]
 *               [--slow-rate P]]
 *
 * The main task listens, prints "listening on HOST:PORT" (flushed, so a
 * script can wait for it; with --port 0 it names the port picked), starts
 * the accept loop as a task and waits for SIGINT/SIGTERM (read from a
 * signalfd through the ring) or the end of --seconds. Then it cancels the
 * accept loop, closes the listener and returns: corio_run cancels every
 * connection still open (each closes its socket) and returns once they all
 * have ended. With --stats, the counters are printed then.
 *
 * --loops N runs that on N loops (corio_run_loops, one thread each; 0 = one
 * per core): each loop listens on the same port with SO_REUSEPORT and runs
 * its own accept loop and connections; tools/srv_loops.h has how they agree
 * on the port and stop together. Loop 0 prints the "listening on" line once
 * every loop listens, and reads the signals and keeps --seconds. --max-conns
 * counts the connections of every loop together. --stats prints each loop's
 * counters (kept by the last task to end on that loop) and their total,
 * once every loop has ended.
 *
 * Each connection is a detached task echoing every byte it receives
 * (corio_recv, corio_send_all). With --idle-ms, each receive and each send
 * runs in a deadline scope of that length: a client that sends nothing, or
 * reads nothing back, for that long is disconnected. Connections beyond
 * --max-conns are closed as soon as they are accepted.
 *
 * --chaos (tools/srv_chaos.h) is for soak runs: a random fraction of the
 * connections runs under a corio_wait_for that cancels its task at a
 * random time, and every received chunk (a request) is echoed in a
 * deadline scope of random length, some after a random wait in it. A
 * connection dropped either way is closed with a reset, and counted. A
 * connection that ends with an error nothing here explains (-ECANCELED
 * without a cancel, -ETIMEDOUT without a deadline, anything but a reset or
 * a broken pipe) is counted as unexpected; --stats prints the counts.
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

#include "cli.h"
#include "srv_chaos.h"
#include "srv_loops.h"

#define BUF_SIZE (16 * 1024)

struct opts {
	const char *host;
	int         port;      /* -1: not given */
	int         backlog;   /* 0: SOMAXCONN */
	long        max_conns; /* 0: no limit */
	uint64_t    idle_ms;   /* 0: none */
	double      seconds;   /* 0: until a signal */
	bool        stats;
	int         nloops;    /* 0: one per core */
	struct srv_chaos chaos;
};

/* One loop's counters, saved by the last of its tasks to end and printed
 * by main() once every loop's thread is joined. */
struct loop_result {
	bool        done, have_stats;
	uint64_t    accepted, rejected, idle_closed, accept_errors, bytes;
	uint64_t    chaos_cancels, deadline_drops, unexpected;
	corio_stats st;
};

/* One loop's state: only that loop's thread touches it, so no locking. */
struct lstate {
	int         idx;
	long        nconns;     /* open on this loop */
	bool        stopping;   /* main has returned: connections are being cancelled */
	bool        saved;      /* the counters are in g.res */
	uint64_t    accepted, rejected, idle_closed, accept_errors;
	uint64_t    bytes;
	uint64_t    chaos_cancels, deadline_drops, unexpected;
	uint64_t    rng;        /* --chaos choices */
};

struct conn {
	struct lstate *L;
	int            fd;
	bool           deadline_hit; /* --chaos: a request missed its deadline */
	uint64_t       cancel_ms;    /* --chaos: cancelled this long after accept (0: never) */
	uint64_t       cancel_at;    /* ... not before this corio_now_ns() */
	char           buf[BUF_SIZE];
};

/* Options (set before any loop starts, then only read) and what the loops
 * share (atomics, in srv_loops). */
static struct {
	struct opts         o;
	int                 sfd;
	struct srv_loops    loops;
	struct loop_result *res;   /* [loops.nloops] */
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
		"  --loops N       event loops, one thread each, each with its own SO_REUSEPORT\n"
		"                  listener on the port (default 1; 0 = one per core)\n"
		"  --max-conns N   connections open at once, all loops together; more are closed\n"
		"                  at once (default 0: no limit)\n"
		"  --idle-ms N     close a connection that sends nothing (or reads nothing back)\n"
		"                  for N ms (default 0: never)\n"
		"  --seconds S     stop after S seconds (default 0: run until SIGINT/SIGTERM)\n"
		"  --stats         print each loop's counters and their total at exit\n"
		SRV_CHAOS_USAGE
		"  --help          this text\n"
		"\n"
		"It prints \"listening on HOST:PORT\" once the socket listens (with --port 0,\n"
		"the port picked). SIGINT or SIGTERM stop it: the accept loop ends, open\n"
		"connections are cancelled and closed, and it exits with status 0.\n");
}

/* Keeps this loop's counters for main(): called by the last task to end
 * on the loop (main, or the last connection once main has returned). */
static void save_result(struct lstate *L)
{
	struct loop_result *r;

	if (!g.o.stats || L->saved)
		return;
	L->saved = true;
	r = &g.res[L->idx];
	r->accepted = L->accepted;
	r->rejected = L->rejected;
	r->idle_closed = L->idle_closed;
	r->accept_errors = L->accept_errors;
	r->bytes = L->bytes;
	r->chaos_cancels = L->chaos_cancels;
	r->deadline_drops = L->deadline_drops;
	r->unexpected = L->unexpected;
	r->have_stats = corio_loop_stats(&r->st) == 0;
	r->done = true;
}

static void print_result(const char *label, const struct loop_result *r, long most_open)
{
	printf("corio-echo: %s: connections accepted %llu, rejected (max-conns) %llu, "
	       "closed idle %llu, ",
	       label, (unsigned long long)r->accepted, (unsigned long long)r->rejected,
	       (unsigned long long)r->idle_closed);
	if (most_open >= 0)
		printf("most open at once %ld, ", most_open);
	printf("accept errors %llu, bytes echoed %llu",
	       (unsigned long long)r->accept_errors, (unsigned long long)r->bytes);
	if (g.o.chaos.seed)
		printf(", chaos cancels %llu, chaos deadline drops %llu",
		       (unsigned long long)r->chaos_cancels, (unsigned long long)r->deadline_drops);
	printf(", unexpected errors %llu", (unsigned long long)r->unexpected);
	if (r->have_stats)
		printf("; tasks spawned %llu, alive %llu, switches %llu, turns %llu, submits %llu, "
		       "completions %llu, syscalls %llu, timers fired %llu",
		       (unsigned long long)r->st.tasks_spawned, (unsigned long long)r->st.tasks_alive,
		       (unsigned long long)r->st.switches, (unsigned long long)r->st.turns,
		       (unsigned long long)r->st.submits, (unsigned long long)r->st.completions,
		       (unsigned long long)r->st.syscalls, (unsigned long long)r->st.timers_fired);
	putchar('\n');
}

/* After every loop has ended: a line per loop, then the total. */
static void print_stats(void)
{
	struct loop_result sum = { .done = true, .have_stats = true };
	char label[32];

	for (int i = 0; i < g.loops.nloops; i++) {
		const struct loop_result *r = &g.res[i];

		if (!r->done) {
			printf("corio-echo: loop %d: did not run\n", i);
			continue;
		}
		snprintf(label, sizeof(label), "loop %d", i);
		print_result(label, r, -1);
		sum.accepted += r->accepted;
		sum.rejected += r->rejected;
		sum.idle_closed += r->idle_closed;
		sum.accept_errors += r->accept_errors;
		sum.bytes += r->bytes;
		sum.chaos_cancels += r->chaos_cancels;
		sum.deadline_drops += r->deadline_drops;
		sum.unexpected += r->unexpected;
		if (!r->have_stats)
			continue;
		srv_stats_add(&sum.st, &r->st);
	}
	snprintf(label, sizeof(label), "total (%d loop%s)", g.loops.nloops,
		 g.loops.nloops == 1 ? "" : "s");
	print_result(label, &sum, atomic_load(&g.loops.max_seen));
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

/*
 * --chaos: echoes n bytes in a deadline scope of random length, after a
 * random wait in it for some. -ETIMEDOUT with c->deadline_hit when that
 * scope's deadline passed.
 */
static ssize_t chaos_echo(struct conn *c, size_t n)
{
	uint64_t dl, wait;
	ssize_t r = 0;

	srv_chaos_request(&g.o.chaos, &c->L->rng, &dl, &wait);
	if (corio_deadline_push(dl) < 0)
		return -ENOMEM;
	if (wait)
		r = corio_sleep_ms(wait);
	if (r == 0)
		r = idle_send_all(c->fd, c->buf, n);
	if (corio_deadline_pop() == -ETIMEDOUT && r == -ETIMEDOUT)
		c->deadline_hit = true;
	return r;
}

/* A connection has ended (r: what ended it, <= 0): classify, close (with a
 * reset when dropped on purpose), release. */
static void conn_end(struct conn *c, ssize_t r)
{
	struct lstate *L = c->L;
	bool reset = false;

	if (r == -ECANCELED) {
		if (L->stopping) {
			/* the server stops */
		} else if (c->cancel_ms && corio_now_ns() >= c->cancel_at) {
			L->chaos_cancels++;
			reset = true;
		} else {
			srv_unexpected(&L->unexpected, "corio-echo", "cancelled, but not by us", (int)r);
		}
	} else if (r == -ETIMEDOUT) {
		if (c->deadline_hit) {
			L->deadline_drops++;
			reset = true;
		} else if (g.o.idle_ms) {
			L->idle_closed++;
		} else {
			srv_unexpected(&L->unexpected, "corio-echo", "timed out without a deadline",
				       (int)r);
		}
	} else if (r < 0 && r != -ECONNRESET && r != -EPIPE) {
		srv_unexpected(&L->unexpected, "corio-echo", "recv/send", (int)r);
	}
	if (reset) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	corio_close(c->fd);
	free(c);
	srv_release(&g.loops);
	if (--L->nconns == 0 && L->stopping) {
		save_result(L);
		free(L);
	}
}

/*
 * One connection. Ends on EOF, on an error (a reset, say: that is the
 * client's business, not a failure of the server), on the idle deadline,
 * or when cancelled at shutdown (or by --chaos). Always returns 0: a
 * detached task that returns an error is reported on stderr by corio.
 */
static int conn_task(void *arg)
{
	struct conn *c = arg;
	ssize_t r;

	for (;;) {
		r = idle_recv(c->fd, c->buf, sizeof(c->buf));
		if (r <= 0)
			break;
		c->L->bytes += (uint64_t)r;
		r = g.o.chaos.seed ? chaos_echo(c, (size_t)r)
				   : idle_send_all(c->fd, c->buf, (size_t)r);
		if (r < 0)
			break;
	}
	conn_end(c, r);
	return 0;
}

/* --chaos: a connection doomed at accept runs under corio_wait_for, which
 * cancels it when its time is up. Detached, like the connection. */
static int doomed_task(void *arg)
{
	struct conn *c = arg;
	uint64_t ms = c->cancel_ms;
	corio_task *t = corio_spawn(conn_task, c);

	if (!t) {
		if (c->L->accept_errors++ % 1000 == 0)
			fprintf(stderr, "corio-echo: spawn: %s\n", strerror(errno));
		conn_end(c, 0);
		return 0;
	}
	/* c may be gone once this returns: the connection freed it. */
	corio_wait_for(t, ms);
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

struct acceptor {
	struct lstate *L;
	int            lfd;
};

/* The accept loop; ends when cancelled. */
static int accept_task(void *arg)
{
	struct acceptor *a = arg;
	struct lstate *L = a->L;
	int one = 1;

	for (;;) {
		int fd = corio_accept(a->lfd, NULL, NULL);
		struct conn *c;
		corio_task *t;

		if (fd == -ECANCELED)
			return 0;
		if (fd < 0) {
			if (accept_error_is_transient(fd))
				continue;
			/* Out of fds or memory: say so once in a while, wait a
			 * little (the error would repeat at once), go on. */
			if (L->accept_errors++ % 1000 == 0)
				fprintf(stderr, "corio-echo: accept: %s\n", strerror(-fd));
			if (corio_sleep_ms(10) == -ECANCELED)
				return 0;
			continue;
		}
		L->accepted++;
		if (!srv_admit(&g.loops, g.o.max_conns)) {
			L->rejected++;
			close(fd); /* nothing of corio's is pending on it */
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = malloc(sizeof(*c));
		if (!c) {
			srv_release(&g.loops);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->L = L;
		c->deadline_hit = false;
		c->cancel_ms = srv_chaos_doom_ms(&g.o.chaos, &L->rng);
		c->cancel_at = corio_now_ns() + c->cancel_ms * 1000000u;
		t = corio_spawn(c->cancel_ms ? doomed_task : conn_task, c);
		if (!t) {
			if (L->accept_errors++ % 1000 == 0)
				fprintf(stderr, "corio-echo: spawn: %s\n", strerror(errno));
			srv_release(&g.loops);
			close(fd);
			free(c);
			continue;
		}
		L->nconns++;
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
 * Loop 0's watcher: waits for SIGINT/SIGTERM, or the end of --seconds, then
 * stops every loop. The signals are blocked and read from sfd through the
 * ring; should the kernel refuse that read, they are polled for every 50 ms
 * instead. Cancelled when the server stops for another reason.
 */
static int watch_task(void *arg)
{
	struct signalfd_siginfo si;
	bool timed = g.o.seconds > 0, polling = false;
	const char *why = NULL;
	ssize_t r;

	(void)arg;
	if (timed && corio_deadline_push((uint64_t)(g.o.seconds * 1000.0 + 0.5)) < 0) {
		fprintf(stderr, "corio-echo: cannot set the --seconds deadline\n");
		srv_loops_stop(&g.loops, "out of memory");
		return 0;
	}
	for (;;) {
		if (polling) {
			if (take_signal()) {
				fprintf(stderr, "corio-echo: signal received, stopping\n");
				why = "signal";
				break;
			}
			r = corio_sleep_ms(50);
			if (r < 0) {
				why = r == -ETIMEDOUT ? "--seconds elapsed" : NULL;
				break;
			}
			continue;
		}
		r = corio_read(g.sfd, &si, sizeof(si), -1);
		if (r == (ssize_t)sizeof(si)) {
			fprintf(stderr, "corio-echo: %s, stopping\n", strsignal((int)si.ssi_signo));
			why = si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM";
			break;
		}
		if (r == -ETIMEDOUT) {
			why = "--seconds elapsed";
			break;
		}
		if (r == -ECANCELED)
			break;
		if (r == -EINTR || r == -EAGAIN)
			continue;
		polling = true;
	}
	if (timed)
		corio_deadline_pop();
	if (why)
		srv_loops_stop(&g.loops, why);
	return 0;
}

static int amain(void *arg)
{
	corio_task *acceptor, *watcher = NULL;
	struct acceptor a;
	struct lstate *L;
	int lfd, port, idx = corio_loop_index();

	(void)arg;
	L = calloc(1, sizeof(*L));
	if (!L) {
		srv_loops_stop(&g.loops, "out of memory");
		return 1;
	}
	L->idx = idx < 0 ? 0 : idx;
	L->rng = srv_chaos_rng(&g.o.chaos, L->idx);
	lfd = srv_loops_listen(&g.loops);
	if (lfd < 0) {
		if (lfd == -EAGAIN)
			fprintf(stderr, "corio-echo: not every loop started within %d ms\n",
				SRV_START_MS);
		else if (lfd == -ETIMEDOUT && L->idx > 0)
			fprintf(stderr, "corio-echo: loop %d: loop 0 did not listen\n", L->idx);
		else if (lfd != -ECANCELED)
			fprintf(stderr, "corio-echo: cannot listen on %s:%d: %s\n", g.o.host,
				g.o.port, strerror(-lfd));
		free(L);
		return 1;
	}
	port = corio_local_port(lfd);
	if (port < 0) {
		fprintf(stderr, "corio-echo: getsockname: %s\n", strerror(-port));
		srv_loops_stop(&g.loops, "getsockname failed");
		close(lfd);
		free(L);
		return 1;
	}
	if (L->idx == 0) {
		/* Every loop listens by now: srv_loops_listen waited. */
		printf(strchr(g.o.host, ':') ? "listening on [%s]:%d\n" : "listening on %s:%d\n",
		       g.o.host, port);
		fflush(stdout);
	}

	a.L = L;
	a.lfd = lfd;
	acceptor = corio_spawn(accept_task, &a);
	if (L->idx == 0)
		watcher = corio_spawn(watch_task, NULL);
	if (!acceptor || (L->idx == 0 && !watcher)) {
		fprintf(stderr, "corio-echo: spawn: %s\n", strerror(errno));
		srv_loops_stop(&g.loops, "spawn failed");
	} else {
		corio_task_set_name(acceptor, "accept");
		srv_loops_wait_stop(&g.loops);
	}

	if (watcher) {
		corio_cancel(watcher);
		corio_join(watcher);
	}
	if (acceptor) {
		corio_cancel(acceptor);
		corio_join(acceptor);
	}
	close(lfd);
	/* The connections still open are cancelled by corio_run once main
	 * has returned; the last one to end keeps the counters. */
	L->stopping = true;
	if (L->nconns == 0) {
		save_result(L);
		free(L);
	}
	return acceptor && (idx != 0 || watcher) ? 0 : 1;
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
		{ "loops", required_argument, NULL, 'l' },
		{ "max-conns", required_argument, NULL, 'm' },
		{ "idle-ms", required_argument, NULL, 'i' },
		{ "seconds", required_argument, NULL, 's' },
		{ "stats", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		SRV_CHAOS_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	sigset_t mask;
	long v;
	int opt, sfd, r;

	g.o.host = "127.0.0.1";
	g.o.port = -1;
	g.o.nloops = 1;
	g.o.chaos = (struct srv_chaos)SRV_CHAOS_DEFAULTS;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		int cr = srv_chaos_option(&g.o.chaos, "corio-echo", opt, optarg);
		if (cr < 0)
			return 2;
		if (cr > 0)
			continue;
		switch (opt) {
		case 'p':
			if (!cli_parse_long(optarg, 0, 65535, &v)) {
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
			if (!cli_parse_long(optarg, 1, 1 << 20, &v)) {
				fprintf(stderr, "corio-echo: --backlog wants 1..%d\n", 1 << 20);
				return 2;
			}
			g.o.backlog = (int)v;
			break;
		case 'l':
			if (!cli_parse_long(optarg, 0, 1024, &v)) {
				fprintf(stderr, "corio-echo: --loops wants 0..1024 (0: one per core)\n");
				return 2;
			}
			g.o.nloops = (int)v;
			break;
		case 'm':
			if (!cli_parse_long(optarg, 0, 100000000, &v)) {
				fprintf(stderr, "corio-echo: --max-conns wants 0..100000000\n");
				return 2;
			}
			g.o.max_conns = v;
			break;
		case 'i':
			if (!cli_parse_long(optarg, 0, 86400000, &v)) {
				fprintf(stderr, "corio-echo: --idle-ms wants 0..86400000\n");
				return 2;
			}
			g.o.idle_ms = (uint64_t)v;
			break;
		case 's':
			if (!cli_parse_double(optarg, 0, 31536000.0, &g.o.seconds)) {
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
	if (!srv_chaos_check(&g.o.chaos, "corio-echo"))
		return 2;
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
	g.sfd = sfd;
	if (srv_loops_init(&g.loops, g.o.nloops, g.o.host, g.o.port, g.o.backlog) < 0) {
		perror("corio-echo: eventfd");
		close(sfd);
		return 1;
	}
	g.res = calloc((size_t)g.loops.nloops, sizeof(*g.res));
	if (!g.res) {
		fprintf(stderr, "corio-echo: out of memory\n");
		srv_loops_fini(&g.loops);
		close(sfd);
		return 1;
	}
	r = corio_run_loops(g.loops.nloops, amain, NULL);
	if (g.o.stats)
		print_stats();
	srv_loops_fini(&g.loops);
	free(g.res);
	close(sfd);
	if (r < 0) {
		fprintf(stderr, "corio-echo: %s\n", strerror(-r));
		return 1;
	}
	return r;
}
