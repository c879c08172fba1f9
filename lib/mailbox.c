/*
 * mailbox.c - waking a loop from other threads.
 *
 * A task that hands work to another thread (name resolution now, the thread
 * pool later) waits on a job (corio__xjob). The thread posts the finished
 * job into the loop's mailbox and writes the mailbox's eventfd; the loop
 * keeps a one-shot IORING_OP_POLL_ADD armed on that eventfd, so the write
 * ends its ring wait. On that completion the loop drains the eventfd, takes
 * every posted job, and wakes the task waiting on each.
 *
 * Lifetimes. The poll carries no buffer, so nothing the kernel may still
 * write into outlives the loop. A job whose task gave up waiting (cancel or
 * deadline) is abandoned: the loop frees it when it arrives. The mailbox is
 * reference-counted (the loop, plus each job in flight), so a thread that
 * finishes after its loop closed still has a mailbox to look at: it sees
 * `closed` and frees its job itself.
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
	pthread_mutex_t lock;
	corio__xjob    *head, *tail; /* posted, not yet taken by the loop */
	int             efd;
	unsigned        refs;        /* the loop's, and one per job in flight */
	bool            closed;      /* the loop is gone */
};

static void mailbox_unref_locked(corio__mailbox *mb, bool *free_it)
{
	*free_it = --mb->refs == 0;
}

static void mailbox_free(corio__mailbox *mb)
{
	close(mb->efd);
	pthread_mutex_destroy(&mb->lock);
	free(mb);
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

int corio__xjob_start(corio__loop *l, corio__xjob *j)
{
	corio__mailbox *mb = l->mbox;

	if (!mb) {
		mb = calloc(1, sizeof(*mb));
		if (!mb)
			return -ENOMEM;
		mb->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (mb->efd < 0) {
			int e = -errno;
			free(mb);
			return e;
		}
		pthread_mutex_init(&mb->lock, NULL);
		mb->refs = 1;
		l->mbox = mb;
	}
	if (!l->mbox_armed) {
		int r = arm(l);
		if (r < 0)
			return r;
	}
	pthread_mutex_lock(&mb->lock);
	mb->refs++;
	pthread_mutex_unlock(&mb->lock);
	j->mbox = mb;
	j->next = NULL;
	j->w = NULL;
	l->external++;
	return 0;
}

void corio__xjob_cancel_start(corio__loop *l, corio__xjob *j)
{
	bool free_it;

	pthread_mutex_lock(&j->mbox->lock);
	mailbox_unref_locked(j->mbox, &free_it);
	pthread_mutex_unlock(&j->mbox->lock);
	l->external--;
}

void corio__xjob_post(corio__xjob *j)
{
	corio__mailbox *mb = j->mbox;
	bool gone, free_it = false;
	uint64_t one = 1;

	pthread_mutex_lock(&mb->lock);
	gone = mb->closed;
	if (gone) {
		mailbox_unref_locked(mb, &free_it);
	} else {
		if (mb->tail)
			mb->tail->next = j;
		else
			mb->head = j;
		mb->tail = j;
		/* Under the lock: once it is released, the loop may take the
		 * job, close and free the mailbox (and its eventfd, whose
		 * number may then be another file's). The eventfd does not
		 * block: EAGAIN means the counter is already set. */
		while (write(mb->efd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
	}
	pthread_mutex_unlock(&mb->lock);
	if (gone) {
		/* Nobody will ever take it. */
		j->release(j);
		if (free_it)
			mailbox_free(mb);
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
	pthread_mutex_lock(&mb->lock);
	j = mb->head;
	mb->head = mb->tail = NULL;
	pthread_mutex_unlock(&mb->lock);
	for (; j; j = n) {
		bool free_it;
		n = j->next;
		pthread_mutex_lock(&mb->lock);
		mailbox_unref_locked(mb, &free_it); /* never the last: the loop holds one */
		pthread_mutex_unlock(&mb->lock);
		l->external--;
		if (j->w)
			corio__wake(l, j->w, 0); /* the waiting task owns the job now */
		else
			j->release(j);           /* abandoned by its task */
	}
	if (l->external)
		(void)arm(l);
}

void corio__mailbox_close(corio__loop *l)
{
	corio__mailbox *mb = l->mbox;
	corio__xjob *j, *n;
	bool free_it;

	if (!mb)
		return;
	pthread_mutex_lock(&mb->lock);
	mb->closed = true;
	j = mb->head;
	mb->head = mb->tail = NULL;
	mailbox_unref_locked(mb, &free_it);
	for (n = j; n; n = n->next)
		mailbox_unref_locked(mb, &free_it);
	pthread_mutex_unlock(&mb->lock);
	for (; j; j = n) {
		n = j->next;
		j->release(j);
	}
	if (free_it)
		mailbox_free(mb);
	l->mbox = NULL;
}
