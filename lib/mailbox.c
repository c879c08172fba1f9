/*
 * mailbox.c - waking a loop from other threads and other loops.
 *
 * A task that hands work to another thread (the thread pool: name
 * resolution and corio_to_thread) waits on a job (corio__xjob). The thread
 * posts the finished job into the loop's mailbox: on its list, and a write
 * to the mailbox's eventfd when the list was empty (one write per batch);
 * the loop keeps a one-shot IORING_OP_POLL_ADD armed on that eventfd, so
 * the write ends its ring wait. On that completion the loop drains the
 * eventfd, takes every posted job, wakes the task waiting on each (or frees
 * the job, if abandoned), and re-arms the poll while jobs are out or the
 * mailbox takes messages.
 *
 * The thread pool posts by IORING_OP_MSG_RING instead where the kernel has
 * it (a job that is the only one its loop has in flight, see pool.c): a CQE
 * tagged with the job's address (| CORIO__UD_XJOB) lands in the loop's ring
 * directly (corio__xjob_arrived). A job MSG_RING did not carry goes on the
 * list.
 *
 * Messages between loops (xloop.c) travel the same way: by a MSG_RING from
 * the sending loop's own ring (CORIO__UD_XMSG in the target's ring,
 * CORIO__UD_XSENT in the sender's when it completed), or on the list when
 * the target has no ring yet, the sender is not a loop or has no SQE free,
 * the kernel refused the MSG_RING, or CORIO_LOOPS_WAKE=eventfd is set.
 * `inbound` counts the messages on their way: a loop closes its mailbox
 * only when none is (corio__mailbox_quiet), so the ring fd a MSG_RING names
 * is never a reused number. Once its main has returned, a loop refuses new
 * posts and calls (`accepting`).
 *
 * Lifetimes. The poll carries no buffer, so nothing the kernel may still
 * write into outlives the loop. A job whose task gave up waiting (cancel or
 * deadline) is abandoned: the loop frees it when it arrives. The mailbox is
 * reference-counted (the loop, the loop group if any, plus each job in
 * flight), so a thread that finishes after its loop closed still has a
 * mailbox to look at: it sees `closed` and frees its job itself.
 *
 * Locking, made for throughput (a thousand jobs in flight, several workers
 * posting at once): the refcount is atomic, so the loop's per-job path
 * takes no lock; posters hold `life` shared while they post (so the loop
 * cannot close and free the eventfd or its ring under them), and it is
 * taken exclusively only to change what they read (`ring_fd`, `accepting`,
 * `closed`); the list has a mutex of its own, held for a few pointer moves.
 * `seq` gives the loop's reads of a job or message posted by MSG_RING a
 * happens-before edge the sanitizers can see (the kernel's is invisible to
 * them).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "internal.h"

struct corio__mailbox {
	pthread_rwlock_t life;       /* posters: shared; the loop's close: exclusive */
	pthread_mutex_t  list_lock;
	corio__xjob     *head, *tail; /* posted by list, not yet taken by the loop */
	int              efd;
	int              ring_fd;     /* the loop's ring, for MSG_RING */
	unsigned         refs;        /* atomic: the loop's, the group's, one per job in flight */
	unsigned         njobs;       /* atomic: jobs in flight */
	unsigned         seq;         /* atomic: bumped (release) before each post */
	unsigned         inbound;     /* atomic: messages from loops, counted, not yet taken */
	bool             closed;      /* the loop is gone; written with life exclusive */
	bool             accepting;   /* takes new posts and calls; written with life exclusive */
	bool             xloop;       /* takes messages: keep the poll armed */
};

static void mailbox_free(corio__mailbox *mb)
{
	close(mb->efd);
	pthread_rwlock_destroy(&mb->life);
	pthread_mutex_destroy(&mb->list_lock);
	free(mb);
}

static void mailbox_ref(corio__mailbox *mb)
{
	__atomic_add_fetch(&mb->refs, 1, __ATOMIC_RELAXED);
}

/* True when that was the last reference: the caller frees. */
static bool mailbox_unref(corio__mailbox *mb)
{
	return __atomic_sub_fetch(&mb->refs, 1, __ATOMIC_ACQ_REL) == 0;
}

/* Arms the one-shot poll on the eventfd. */
static int arm(corio__loop *l)
{
	struct io_uring_sqe *sqe = corio__sqe(l);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_poll_add(sqe, l->mbox->efd, POLLIN);
	io_uring_sqe_set_data64(sqe, CORIO__UD_MAILBOX);
	/* Not counted in l->inflight: an armed poll alone must not hide a
	 * deadlock; l->external counts the jobs that can still arrive. */
	l->mbox_armed = true;
	return 0;
}

corio__mailbox *corio__mailbox_new(void)
{
	corio__mailbox *mb = corio__calloc(1, sizeof(*mb));

	if (!mb)
		return NULL;
	mb->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (mb->efd < 0) {
		int e = errno;
		free(mb);
		errno = e;
		return NULL;
	}
	pthread_rwlock_init(&mb->life, NULL);
	pthread_mutex_init(&mb->list_lock, NULL);
	mb->refs = 1;
	mb->ring_fd = -1;
	mb->accepting = true;
	return mb;
}

void corio__mailbox_unref(corio__mailbox *mb)
{
	if (mailbox_unref(mb))
		mailbox_free(mb);
}

/* Makes mb (new, or the group's) l's mailbox; l takes a reference. */
static void attach(corio__loop *l, corio__mailbox *mb)
{
	if (mb != l->mbox)
		mailbox_ref(mb);
	pthread_rwlock_wrlock(&mb->life);
	mb->ring_fd = l->ring.ring_fd;
	pthread_rwlock_unlock(&mb->life);
	l->mbox = mb;
}

static int mailbox_ensure(corio__loop *l)
{
	corio__mailbox *mb;

	if (l->mbox)
		return 0;
	mb = corio__mailbox_new();
	if (!mb)
		return -errno;
	attach(l, mb);
	mailbox_unref(mb); /* l's is the only reference */
	return 0;
}

int corio__mailbox_open(corio__loop *l, corio__mailbox *mb)
{
	int r;

	if (mb)
		attach(l, mb);
	else if ((r = mailbox_ensure(l)) < 0)
		return r;
	l->mbox->xloop = true;
	return l->mbox_armed ? 0 : arm(l);
}

int corio__xjob_start(corio__loop *l, corio__xjob *j)
{
	corio__mailbox *mb;
	int r = mailbox_ensure(l);

	if (r < 0)
		return r;
	mb = l->mbox;
	if (!l->mbox_armed) {
		r = arm(l);
		if (r < 0)
			return r;
	}
	mailbox_ref(mb);
	__atomic_add_fetch(&mb->njobs, 1, __ATOMIC_RELAXED);
	j->mbox = mb;
	j->next = NULL;
	j->w = NULL;
	j->xmsg = 0;
	l->external++;
	return 0;
}

unsigned corio__mailbox_jobs(const corio__xjob *j)
{
	return __atomic_load_n(&j->mbox->njobs, __ATOMIC_RELAXED);
}

static void job_done(corio__loop *l, corio__mailbox *mb)
{
	__atomic_sub_fetch(&mb->njobs, 1, __ATOMIC_RELAXED);
	(void)mailbox_unref(mb); /* never the last: the loop holds one */
	l->external--;
}

void corio__xjob_withdrawn(corio__loop *l, corio__xjob *j)
{
	job_done(l, j->mbox);
}

/* Wakes mb's loop; life is held shared, so the loop cannot close the
 * eventfd (whose number could then be another file's) before this write.
 * The eventfd does not block: EAGAIN means it is already set. */
static void kick(corio__mailbox *mb)
{
	uint64_t one = 1;

	while (write(mb->efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

/* Appends js to the list and wakes the loop; life is held shared. */
static void append(corio__mailbox *mb, corio__xjob **js, unsigned n)
{
	bool was_empty;

	pthread_mutex_lock(&mb->list_lock);
	was_empty = mb->head == NULL;
	for (unsigned i = 0; i < n; i++) {
		js[i]->next = NULL;
		if (mb->tail)
			mb->tail->next = js[i];
		else
			mb->head = js[i];
		mb->tail = js[i];
	}
	pthread_mutex_unlock(&mb->list_lock);
	/* One write per batch: the loop drains the whole list. */
	if (was_empty)
		kick(mb);
}

/*
 * Posts js by MSG_RING through src, the lifetime lock held: CQEs straight
 * into the loop's ring, tagged with the job's address. The jobs that did
 * not go (refused, or no SQE) are moved to the front of js; returns their
 * count.
 * *broken is set when src must not be used again: a failed submit may
 * leave SQEs queued in it.
 */
static unsigned msg_ring_held(corio__mailbox *mb, corio__xjob **js, unsigned n,
				struct io_uring *src, bool *broken)
{
	struct io_uring_cqe *cqe;
	unsigned prepped = 0, left = 0;
	bool failed[64] = { false };

	if (n > 64)
		n = 64; /* callers batch at most 64 */
	for (unsigned i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(src);
		if (!sqe)
			break;
		/* (A fault sends to no fd: the kernel refuses it for real.) */
		io_uring_prep_msg_ring(sqe, CORIO__FAULT(CORIO__F_MSG_RING) ? -1 : mb->ring_fd, 0,
				       (uint64_t)(uintptr_t)js[i] | CORIO__UD_XJOB, 0);
		io_uring_sqe_set_data64(sqe, i);
		prepped++;
	}
	if (prepped && io_uring_submit_and_wait(src, prepped) < 0) {
		*broken = true;
		return n;
	}
	for (unsigned k = 0; k < prepped; k++) {
		if (io_uring_wait_cqe(src, &cqe) < 0) {
			*broken = true;
			return n; /* cannot tell which went: let the ring go */
		}
		if (cqe->res < 0 && cqe->user_data < 64)
			failed[cqe->user_data] = true;
		/* Only a kernel without MSG_RING makes this ring useless; a
		 * message refused for another reason (the target's CQ in
		 * trouble) just takes the list. */
		if (cqe->res == -EINVAL || cqe->res == -EOPNOTSUPP)
			*broken = true;
		io_uring_cqe_seen(src, cqe);
	}
	for (unsigned i = 0; i < n; i++)
		if (i >= prepped || failed[i])
			js[left++] = js[i];
	return left;
}

bool corio__xjob_post_batch(corio__xjob **js, unsigned n, struct io_uring *src)
{
	corio__mailbox *mb = js[0]->mbox;
	bool broken = false;

	pthread_rwlock_rdlock(&mb->life);
	if (mb->closed) {
		pthread_rwlock_unlock(&mb->life);
		/* Nobody will ever take them. */
		for (unsigned i = 0; i < n; i++) {
			js[i]->release(js[i]);
			__atomic_sub_fetch(&mb->njobs, 1, __ATOMIC_RELAXED);
			if (mailbox_unref(mb))
				mailbox_free(mb);
		}
		return true;
	}
	__atomic_add_fetch(&mb->seq, 1, __ATOMIC_RELEASE);
	{
		unsigned left = src ? msg_ring_held(mb, js, n, src, &broken) : n;
		/* What MSG_RING did not carry goes on the list, which never
		 * fails. */
		if (left)
			append(mb, js, left);
	}
	pthread_rwlock_unlock(&mb->life);
	return !broken;
}

/* Empties the list and returns what was on it. */
static corio__xjob *take_all(corio__mailbox *mb)
{
	corio__xjob *j;

	pthread_mutex_lock(&mb->list_lock);
	j = mb->head;
	mb->head = mb->tail = NULL;
	pthread_mutex_unlock(&mb->list_lock);
	return j;
}

/* A job is back on the loop: hand it to its task or free it. */
static void job_back(corio__loop *l, corio__xjob *j)
{
	if (j->xmsg) {
		corio__xmsg_taken(l);
		corio__xmsg_arrived(l, j);
		return;
	}
	job_done(l, l->mbox);
	if (j->w)
		corio__wake(l, j->w, 0); /* the waiting task owns the job now */
	else
		j->release(j);           /* abandoned by its task */
}

void corio__xjob_arrived(corio__loop *l, corio__xjob *j)
{
	(void)__atomic_load_n(&l->mbox->seq, __ATOMIC_ACQUIRE);
	job_back(l, j);
}

/* ------------------------------------------------------------------------
 * Messages between loops
 * ------------------------------------------------------------------------ */

int corio__mailbox_send(corio__loop *from, corio__mailbox *to, corio__xjob *m, bool fresh)
{
	int ring_fd;

	pthread_rwlock_rdlock(&to->life);
	if (to->closed || (fresh && !to->accepting)) {
		pthread_rwlock_unlock(&to->life);
		return -ESHUTDOWN;
	}
	m->mbox = to;
	m->xmsg = 1;
	__atomic_add_fetch(&to->inbound, 1, __ATOMIC_RELAXED);
	/* Everything written to the message so far happens before its
	 * handling, for the sanitizers too (see corio__xmsg_taken). */
	__atomic_add_fetch(&to->seq, 1, __ATOMIC_RELEASE);
	ring_fd = to->ring_fd;
	if (ring_fd >= 0 && from && !from->no_msg_ring) {
		struct io_uring_sqe *sqe = corio__sqe(from);
		if (sqe) {
			pthread_rwlock_unlock(&to->life);
			/* Counted in `inbound`: the target keeps ring_fd open
			 * until this message is taken. */
			io_uring_prep_msg_ring(sqe, CORIO__FAULT(CORIO__F_MSG_RING) ? -1 : ring_fd, 0,
					       (uint64_t)(uintptr_t)m | CORIO__UD_XMSG, 0);
			io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)m | CORIO__UD_XSENT);
			from->xsent++;
			return 0;
		}
	}
	append(to, &m, 1);
	pthread_rwlock_unlock(&to->life);
	return 0;
}

void corio__mailbox_sent(corio__loop *l, corio__xjob *m, int res)
{
	corio__mailbox *to;

	l->xsent--;
	if (res >= 0)
		return; /* delivered: m may be gone already */
	/* Not delivered (a kernel without MSG_RING, or the target's CQ in
	 * trouble): the list never refuses. Still counted in `inbound`, so the
	 * target's eventfd is open. */
	if (res == -EINVAL || res == -EOPNOTSUPP || res == -EBADFD)
		l->no_msg_ring = true;
	to = m->mbox;
	pthread_rwlock_rdlock(&to->life);
	append(to, &m, 1);
	pthread_rwlock_unlock(&to->life);
}

void corio__xmsg_taken(corio__loop *l)
{
	(void)__atomic_load_n(&l->mbox->seq, __ATOMIC_ACQUIRE);
	__atomic_sub_fetch(&l->mbox->inbound, 1, __ATOMIC_RELAXED);
}

void corio__mailbox_refuse_new(corio__loop *l)
{
	if (!l->mbox || !l->mbox->xloop)
		return;
	pthread_rwlock_wrlock(&l->mbox->life);
	l->mbox->accepting = false;
	pthread_rwlock_unlock(&l->mbox->life);
}

bool corio__mailbox_quiet(corio__loop *l)
{
	corio__mailbox *mb = l->mbox;
	bool quiet;

	if (!mb || !mb->xloop)
		return true;
	if (l->xsent)
		return false;
	pthread_rwlock_wrlock(&mb->life);
	quiet = __atomic_load_n(&mb->inbound, __ATOMIC_RELAXED) == 0;
	if (quiet)
		mb->closed = true; /* nobody sends from now on */
	pthread_rwlock_unlock(&mb->life);
	return quiet;
}

bool corio__mailbox_expecting(const corio__loop *l)
{
	return l->xsent || (l->mbox && __atomic_load_n(&l->mbox->inbound, __ATOMIC_RELAXED));
}

void corio__mailbox_poke(corio__mailbox *mb)
{
	pthread_rwlock_rdlock(&mb->life);
	if (!mb->closed)
		kick(mb);
	pthread_rwlock_unlock(&mb->life);
}

void corio__mailbox_abandon(corio__mailbox *mb)
{
	corio__xjob *j, *n;

	pthread_rwlock_wrlock(&mb->life);
	mb->closed = true;
	mb->accepting = false;
	pthread_rwlock_unlock(&mb->life);
	for (j = take_all(mb); j; j = n) {
		n = j->next;
		corio__xmsg_refuse(j);
	}
}

void corio__mailbox_ready(corio__loop *l)
{
	corio__mailbox *mb = l->mbox;
	corio__xjob *j, *n;
	uint64_t v;

	l->mbox_armed = false;
	while (read(mb->efd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
	for (j = take_all(mb); j; j = n) {
		n = j->next;
		job_back(l, j);
	}
	if (l->external || (mb->xloop && !mb->closed))
		(void)arm(l);
}

void corio__mailbox_shut(corio__loop *l)
{
	if (!l->mbox)
		return;
	pthread_rwlock_wrlock(&l->mbox->life);
	l->mbox->closed = true; /* no thread posts from now on */
	pthread_rwlock_unlock(&l->mbox->life);
}

void corio__mailbox_close(corio__loop *l)
{
	corio__mailbox *mb = l->mbox;
	corio__xjob *j, *n;
	bool last = false;

	if (!mb)
		return;
	corio__mailbox_shut(l);
	for (j = take_all(mb); j; j = n) {
		n = j->next;
		if (j->xmsg) {
			corio__xmsg_refuse(j); /* only after a forced close */
			continue;
		}
		j->release(j);
		last = mailbox_unref(mb) || last;
	}
	last = mailbox_unref(mb) || last;
	if (last)
		mailbox_free(mb);
	l->mbox = NULL;
}
