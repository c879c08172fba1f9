/*
 * echo_servers.c - the baselines of the echo family: the TCP echo server a
 * C programmer would write without corio, on epoll, and the one libuv's
 * documentation teaches. Both serve a listening socket they are given until
 * the process is killed; each runs in a child of corio-bench, pinned to the
 * server's CPU.
 *
 * They are written to be fast, not to be toys: level-triggered epoll with
 * non-blocking sockets and one 64 KiB buffer per read, writes that fall
 * short keep the rest and wait for EPOLLOUT (so bytes are never dropped),
 * and libuv with a buffer per connection and writes that copy only what
 * uv_try_write could not send at once.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <uv.h>

#include "bench.h"

/* ------------------------------------------------------------------------
 * epoll
 * ------------------------------------------------------------------------ */

struct econn {
	int    fd;
	char  *pend;    /* bytes not yet written back */
	size_t npend;
};

static void econn_close(int ep, struct econn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->pend);
	free(c);
}

/* Writes what is pending; false if the connection is done for. */
static bool econn_flush(int ep, struct econn *c)
{
	while (c->npend) {
		ssize_t w = send(c->fd, c->pend, c->npend, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EAGAIN)
				break;
			if (errno == EINTR)
				continue;
			return false;
		}
		memmove(c->pend, c->pend + w, c->npend - (size_t)w);
		c->npend -= (size_t)w;
	}
	struct epoll_event ev = { .events = EPOLLIN | (c->npend ? EPOLLOUT : 0), .data.ptr = c };
	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
	return true;
}

int bench_echo_epoll(int lfd)
{
	static char buf[65536];
	struct epoll_event evs[256];
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event lev = { .events = EPOLLIN, .data.ptr = NULL };

	if (ep < 0)
		return -errno;
	fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK);
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);
		if (n < 0 && errno != EINTR)
			return -errno;
		for (int i = 0; i < n; i++) {
			struct econn *c = evs[i].data.ptr;
			if (!c) {
				int fd;
				while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					int one = 1;
					struct econn *nc = calloc(1, sizeof(*nc));
					struct epoll_event ev = { .events = EPOLLIN };
					if (!nc) {
						close(fd);
						continue;
					}
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					nc->fd = fd;
					ev.data.ptr = nc;
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				}
				continue;
			}
			if ((evs[i].events & EPOLLOUT) && !econn_flush(ep, c)) {
				econn_close(ep, c);
				continue;
			}
			if (!(evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) || c->npend)
				continue;
			ssize_t r = recv(c->fd, buf, sizeof(buf), 0);
			if (r <= 0) {
				if (r < 0 && (errno == EAGAIN || errno == EINTR))
					continue;
				econn_close(ep, c);
				continue;
			}
			ssize_t w = send(c->fd, buf, (size_t)r, MSG_NOSIGNAL);
			if (w == r)
				continue;
			if (w < 0 && errno != EAGAIN) {
				econn_close(ep, c);
				continue;
			}
			if (w < 0)
				w = 0;
			c->pend = malloc((size_t)(r - w));
			if (!c->pend) {
				econn_close(ep, c);
				continue;
			}
			memcpy(c->pend, buf + w, (size_t)(r - w));
			c->npend = (size_t)(r - w);
			if (!econn_flush(ep, c))
				econn_close(ep, c);
		}
	}
}

/* ------------------------------------------------------------------------
 * libuv
 * ------------------------------------------------------------------------ */

struct uconn {
	uv_tcp_t tcp;
	char     buf[65536];
};

struct uwrite {
	uv_write_t req;
	char       data[];
};

static void uv_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct uconn *c = h->data;

	(void)hint;
	*b = uv_buf_init(c->buf, sizeof(c->buf));
}

static void uv_closed(uv_handle_t *h)
{
	free(h->data);
}

static void uv_written(uv_write_t *req, int status)
{
	(void)status;
	free(req);
}

static void uv_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	uv_buf_t out;
	int w;

	if (n < 0) {
		uv_close((uv_handle_t *)s, uv_closed);
		return;
	}
	if (n == 0)
		return;
	/* Most echoes go out at once; copy only what did not. */
	out = uv_buf_init(b->base, (unsigned)n);
	w = uv_try_write(s, &out, 1);
	if (w == n)
		return;
	if (w < 0 && w != UV_EAGAIN) {
		uv_close((uv_handle_t *)s, uv_closed);
		return;
	}
	if (w < 0)
		w = 0;
	struct uwrite *wr = malloc(sizeof(*wr) + (size_t)(n - w));
	if (!wr) {
		uv_close((uv_handle_t *)s, uv_closed);
		return;
	}
	memcpy(wr->data, b->base + w, (size_t)(n - w));
	out = uv_buf_init(wr->data, (unsigned)(n - w));
	if (uv_write(&wr->req, s, &out, 1, uv_written) < 0) {
		free(wr);
		uv_close((uv_handle_t *)s, uv_closed);
	}
}

static void uv_conn(uv_stream_t *server, int status)
{
	struct uconn *c;

	if (status < 0)
		return;
	c = malloc(sizeof(*c));
	if (!c)
		return;
	uv_tcp_init(server->loop, &c->tcp);
	c->tcp.data = c;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
		uv_close((uv_handle_t *)&c->tcp, uv_closed);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	uv_read_start((uv_stream_t *)&c->tcp, uv_alloc, uv_read);
}

int bench_echo_uv(int lfd)
{
	uv_loop_t loop;
	uv_tcp_t server;
	int r;

	if ((r = uv_loop_init(&loop)) < 0)
		return r;
	uv_tcp_init(&loop, &server);
	if ((r = uv_tcp_open(&server, lfd)) < 0)
		return r;
	if ((r = uv_listen((uv_stream_t *)&server, SOMAXCONN, uv_conn)) < 0)
		return r;
	return uv_run(&loop, UV_RUN_DEFAULT);
}
