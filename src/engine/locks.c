/*
 * Syncs and cross-process locks.  A sync of a store is shared by every
 * thread asking for one at the same time (group commit, struct syncer);
 * a ticket says whether a sync has covered a write.  xlock and xunlock
 * take the backend's locks between processes, when the file may be
 * shared (e->xproc).  Relies on the backend's sync and lock operations,
 * and on events.c to report a failed lock.
 */
#define _GNU_SOURCE
#include "engine_int.h"

#include <fcntl.h>

int sync_now(struct csm_engine *e, enum csm_store st, bool datasync)
{
	atomic_fetch_add(&e->n_syncs, 1);
	/* Every superblock seen so far is in the page cache (or on storage):
	 * a sync of its file makes it durable. */
	bool super = st == CSM_META || e->geo.layout == CSM_LAYOUT_INTERLEAVED;
	uint64_t seq = atomic_load_explicit(&e->seq_seen, memory_order_acquire);
	int rc = e->be.ops->sync(e->be.ctx, st, datasync);
	if (rc == 0 && super) {
		uint64_t cur = atomic_load(&e->seq_durable);
		while (cur < seq && !atomic_compare_exchange_weak(&e->seq_durable, &cur, seq))
			;
	}
	return rc;
}

/* fdatasync one store, shared with every thread asking at the same time. */
int sync_store(struct csm_engine *e, enum csm_store st)
{
	if (e->geo.layout == CSM_LAYOUT_INTERLEAVED)
		st = CSM_META; /* one file */
	struct syncer *s = &e->syncs[st];
	int rc = 0;
	pthread_mutex_lock(&s->mu);
	uint64_t mine = ++s->wanted;
	while (s->done < mine) {
		if (s->running) {
			pthread_cond_wait(&s->cv, &s->mu);
			continue;
		}
		s->running = true;
		uint64_t cover = s->wanted; /* every request made before it starts */
		pthread_mutex_unlock(&s->mu);
		rc = sync_now(e, st, true);
		pthread_mutex_lock(&s->mu);
		s->running = false;
		if (rc == 0 && cover > s->done)
			s->done = cover;
		pthread_cond_broadcast(&s->cv);
		if (rc < 0)
			break;
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static struct syncer *syncer_of(struct csm_engine *e, enum csm_store st)
{
	return &e->syncs[e->geo.layout == CSM_LAYOUT_INTERLEAVED ? CSM_META : st];
}

/* A ticket for what has been written so far: any sync that starts later
 * covers it. */
uint64_t sync_ticket(struct csm_engine *e, enum csm_store st)
{
	struct syncer *s = syncer_of(e, st);
	pthread_mutex_lock(&s->mu);
	uint64_t t = s->wanted + 1;
	pthread_mutex_unlock(&s->mu);
	return t;
}

bool sync_covered(struct csm_engine *e, enum csm_store st, uint64_t ticket)
{
	struct syncer *s = syncer_of(e, st);
	pthread_mutex_lock(&s->mu);
	bool done = s->done >= ticket;
	pthread_mutex_unlock(&s->mu);
	return done;
}

/* Sync both stores: data first, then metadata. */
int sync_all(struct csm_engine *e, bool datasync)
{
	int rc;
	if (datasync) {
		rc = sync_store(e, CSM_DATA);
		if (rc == 0 && e->geo.layout == CSM_LAYOUT_SEPARATE)
			rc = sync_store(e, CSM_META);
		return rc;
	}
	rc = sync_now(e, CSM_DATA, false);
	if (rc == 0 && e->geo.layout == CSM_LAYOUT_SEPARATE)
		rc = sync_now(e, CSM_META, false);
	return rc;
}

int xlock(struct csm_engine *e, uint64_t id, int type)
{
	if (!e->xproc)
		return 0;
	int rc = e->be.ops->lock(e->be.ctx, id, type, true);
	if (rc < 0)
		report_io(e, id >= CSM_LOCK_GROUP(0) ? id - CSM_LOCK_GROUP(0) : 0, rc);
	return rc;
}

void xunlock(struct csm_engine *e, uint64_t id)
{
	if (e->xproc)
		e->be.ops->lock(e->be.ctx, id, F_UNLCK, true);
}
