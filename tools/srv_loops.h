/*
 * srv_loops.h - what corio-echo and corio-http share to serve on several
 * loops (corio_run_loops), header-only.
 *
 * Each loop opens its own listener on the same port with SO_REUSEPORT, so
 * the kernel spreads new connections over the loops. They meet through
 * atomics and one eventfd rather than corio_loop_post, because the one who
 * stops them may be a signal handler or a loop that failed to start:
 *
 *   - the port: loop 0 binds first (with --port 0 the kernel picks one) and
 *     publishes it; the other loops wait for it (polling every 1 ms, at most
 *     SRV_START_MS) and bind the same port. Loop 0 returns from
 *     srv_loops_listen only once every loop listens (or one failed), so the
 *     "listening on" line it prints means every listener is up.
 *   - stopping: srv_loops_stop() (a signal, --seconds, a fatal error on any
 *     loop) writes nloops to an eventfd in semaphore mode; every loop has a
 *     task blocked in srv_loops_wait_stop() reading it through its ring, and
 *     each read takes exactly one unit, so each loop wakes once.
 *   - max-conns: one atomic count of open connections for the whole server
 *     (srv_admit/srv_release), and its high-water mark.
 *
 * With one loop the listener has no SO_REUSEPORT (nothing else may share
 * the port) and nothing waits.
 */
#ifndef CORIO_TOOLS_SRV_LOOPS_H
#define CORIO_TOOLS_SRV_LOOPS_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <corio.h>

#define SRV_START_MS 10000 /* bound on waiting for the other loops at start */

struct srv_loops {
	int         nloops;
	const char *host;
	int         port;        /* asked for; 0 = any */
	int         backlog;
	int         stop_efd;    /* eventfd, EFD_SEMAPHORE */
	atomic_int  bound_port;  /* 0 until loop 0 has bound; -errno if it failed */
	atomic_int  nlistening;  /* loops whose listener is up */
	atomic_int  nfailed;     /* loops that could not listen */
	atomic_int  stopped;     /* srv_loops_stop was called */
	_Atomic(const char *) why;
	atomic_long nopen;       /* open connections, every loop */
	atomic_long max_seen;    /* the most open at once */
};

/* nloops 0 means one per core. 0 or -errno (the eventfd). */
static inline int srv_loops_init(struct srv_loops *s, int nloops, const char *host, int port,
				 int backlog)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	s->nloops = nloops > 0 ? nloops : cores > 0 ? (int)cores : 1;
	s->host = host;
	s->port = port;
	s->backlog = backlog;
	atomic_init(&s->bound_port, 0);
	atomic_init(&s->nlistening, 0);
	atomic_init(&s->nfailed, 0);
	atomic_init(&s->stopped, 0);
	atomic_init(&s->why, NULL);
	atomic_init(&s->nopen, 0);
	atomic_init(&s->max_seen, 0);
	s->stop_efd = eventfd(0, EFD_SEMAPHORE | EFD_CLOEXEC);
	return s->stop_efd < 0 ? -errno : 0;
}

static inline void srv_loops_fini(struct srv_loops *s)
{
	if (s->stop_efd >= 0)
		close(s->stop_efd);
	s->stop_efd = -1;
}

/* Stops every loop (once; later calls do nothing). why: a static string. */
static inline void srv_loops_stop(struct srv_loops *s, const char *why)
{
	uint64_t n = (uint64_t)s->nloops;

	if (atomic_exchange(&s->stopped, 1))
		return;
	atomic_store(&s->why, why);
	if (write(s->stop_efd, &n, sizeof(n)) != (ssize_t)sizeof(n)) {
		/* Cannot happen for an eventfd this far from its limit; the
		 * waiters poll `stopped` should their read have failed. */
	}
}

static inline const char *srv_loops_why(struct srv_loops *s)
{
	const char *w = atomic_load(&s->why);
	return w ? w : "?";
}

/* Blocks this task until srv_loops_stop: 0, or -ECANCELED. */
static inline int srv_loops_wait_stop(struct srv_loops *s)
{
	uint64_t v;

	for (;;) {
		ssize_t r = corio_read(s->stop_efd, &v, sizeof(v), -1);
		if (r == (ssize_t)sizeof(v))
			return 0;
		if (r == -ECANCELED || r == -ETIMEDOUT)
			return (int)r;
		if (r == -EINTR || r == -EAGAIN)
			continue;
		break; /* the ring refused the read: poll instead */
	}
	while (!atomic_load(&s->stopped))
		if (corio_sleep_ms(20) < 0)
			return -ECANCELED;
	return 0;
}

/*
 * This loop's listener: the fd, or -errno. On failure the server is
 * stopped. Loop 0 returns once every loop listens: -EAGAIN when some loop
 * neither listened nor failed within SRV_START_MS (its thread did not
 * start), -ECANCELED when another loop failed (and said why). The other
 * loops return -ECANCELED when loop 0 failed, -ETIMEDOUT when it never
 * bound.
 */
static inline int srv_loops_listen(struct srv_loops *s)
{
	int idx = corio_loop_index(), fd, port = s->port;
	unsigned flags = s->nloops > 1 ? CORIO_LISTEN_REUSEPORT : 0;

	if (idx > 0) {
		int waited = 0;
		while ((port = atomic_load(&s->bound_port)) == 0) {
			if (waited++ >= SRV_START_MS || corio_sleep_ms(1) < 0) {
				atomic_fetch_add(&s->nfailed, 1);
				srv_loops_stop(s, "loop 0 did not listen");
				return -ETIMEDOUT;
			}
		}
		if (port < 0) {
			/* Loop 0 failed and says why; nothing to add. */
			atomic_fetch_add(&s->nfailed, 1);
			return -ECANCELED;
		}
	}
	fd = corio_listen_tcp_ex(s->host, (uint16_t)port, s->backlog, flags);
	if (fd >= 0 && idx == 0) {
		int p = corio_local_port(fd);
		if (p <= 0) {
			corio_close(fd);
			fd = p < 0 ? p : -EINVAL;
		} else {
			atomic_store(&s->bound_port, p);
		}
	}
	if (fd < 0) {
		if (idx == 0)
			atomic_store(&s->bound_port, fd);
		atomic_fetch_add(&s->nfailed, 1);
		srv_loops_stop(s, "listen failed");
		return fd;
	}
	atomic_fetch_add(&s->nlistening, 1);
	if (idx == 0 && s->nloops > 1) {
		int waited = 0;
		while (atomic_load(&s->nlistening) + atomic_load(&s->nfailed) < s->nloops) {
			if (waited++ >= SRV_START_MS || corio_sleep_ms(1) < 0) {
				corio_close(fd);
				srv_loops_stop(s, "a loop did not start");
				return -EAGAIN;
			}
		}
		if (atomic_load(&s->nfailed)) {
			corio_close(fd);
			return -ECANCELED; /* the loop that failed said why */
		}
	}
	return fd;
}

/* Counts a new connection against max (0: no limit): false when over. */
static inline bool srv_admit(struct srv_loops *s, long max)
{
	long n = atomic_fetch_add(&s->nopen, 1) + 1;
	long m = atomic_load(&s->max_seen);

	if (max && n > max) {
		atomic_fetch_sub(&s->nopen, 1);
		return false;
	}
	while (n > m && !atomic_compare_exchange_weak(&s->max_seen, &m, n))
		;
	return true;
}

static inline void srv_release(struct srv_loops *s)
{
	atomic_fetch_sub(&s->nopen, 1);
}

/* Adds one loop's counters to a total (corio_loop_stats). */
static inline void srv_stats_add(corio_stats *sum, const corio_stats *st)
{
	sum->tasks_spawned += st->tasks_spawned;
	sum->tasks_alive += st->tasks_alive;
	sum->switches += st->switches;
	sum->turns += st->turns;
	sum->submits += st->submits;
	sum->completions += st->completions;
	sum->syscalls += st->syscalls;
	sum->timers_fired += st->timers_fired;
	sum->stacks_mapped += st->stacks_mapped;
}

#endif /* CORIO_TOOLS_SRV_LOOPS_H */
