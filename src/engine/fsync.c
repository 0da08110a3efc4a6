/*
 * fsync: the groups this engine dirtied, by fsync window, sealed and then
 * marked clean (flush_windows, described below), and csm_fsync.  Close
 * and recovery use the same pass to mark every group clean.  Relies on
 * cache.c for group locks, write.c to publish brothers, locks.c for syncs.
 */
#define _GNU_SOURCE
#include "engine_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CLEAN_AFTER_MS 5000 /* a sealed group idle this long is marked clean */

/* Remember that this engine dirtied the group in the current fsync
 * window.  Group locked exclusive. */
void note_window(struct csm_engine *e, struct group *g)
{
	if (g->win == atomic_load_explicit(&e->window, memory_order_relaxed))
		return;
	pthread_mutex_lock(&e->win_mu);
	uint64_t w = atomic_load(&e->window);
	struct gvec *v = &e->win_cur;
	if (g->win != w && v->n == v->cap) {
		size_t cap = v->cap ? 2 * v->cap : 64;
		struct gref *nv = realloc(v->v, cap * sizeof(*nv));
		if (nv) {
			v->v = nv;
			v->cap = cap;
		}
	}
	if (g->win != w && v->n < v->cap) { /* else: stays dirty, which is safe */
		v->v[v->n++] = (struct gref){g->gno, 0, 0};
		g->win = w;
	}
	pthread_mutex_unlock(&e->win_mu);
}

/* Rewrite group gno's newer brother as a copy with `flags`, if it is dirty
 * and its generation is still `gen` (nothing written since; 0: any).
 * Returns the new generation, 0 if skipped, or -errno. */
static int64_t rewrite_brother(struct csm_engine *e, uint64_t gno, uint64_t gen, uint32_t flags)
{
	struct group *g = group_get(e, gno);
	if (!g)
		return -ENOMEM;
	int64_t rc = group_lock_update(e, g);
	if (rc < 0) {
		group_put(e, g);
		return rc;
	}
	int n = g->pair.newer;
	if (n >= 0 && !g->pair.broken && (gen == 0 || g->pair.gen[n] == gen) && group_dirty(g) &&
	    settle_group(e, g, 1, 0, UINT64_MAX) == 0) {
		uint8_t *m;
		int o;
		begin_meta(e, g, &m, &o);
		csm_mb_set_flags(m, flags);
		rc = publish_meta(e, g, o);
		if (rc == 0)
			rc = (int64_t)g->pair.gen[o];
	} else {
		rc = 0;
	}
	group_unlock_update(e, g);
	group_put(e, g);
	return rc;
}

/* The generation of gno's newer brother if it is dirty, else 0. */
static uint64_t dirty_gen(struct csm_engine *e, uint64_t gno)
{
	struct group *g = group_get(e, gno);
	if (!g)
		return 0;
	uint64_t gen = 0;
	if (group_rdlock(e, g) == 0) {
		if (!g->pair.broken && group_dirty(g))
			gen = g->pair.gen[g->pair.newer];
		pthread_rwlock_unlock(&g->lock);
	}
	group_put(e, g);
	return gen;
}

/*
 * fsync, in the default mode:
 *   - seal each group dirtied since the last fsync: write a copy of its
 *     newer brother (still DIRTY) over the older, so both brothers agree
 *     and a data block that later reads as its previous content is a
 *     mismatch (a lost write), not vouched for by the older brother;
 *   - mark clean each group sealed last time and not written since (its
 *     data was made durable by that fsync);
 *   - one sync covers the data, the seals and the clean marks.
 * A group written in every window stays dirty and costs no further sync;
 * one left alone is clean after the next fsync.  A power cut during the
 * sync may leave a sealed block whose data did not land: it matches no
 * brother, in a dirty group, and recovery counts it as unverified.
 * Strict durability (and close, `clean_all`) syncs first, then writes the
 * marks (close: every group clean), then syncs them: nothing unverified.
 */
int flush_windows(struct csm_engine *e, bool datasync, bool clean_all)
{
	bool sync_first = e->strict || clean_all;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	pthread_mutex_lock(&e->fsync_mu);
	pthread_mutex_lock(&e->win_mu);
	struct gvec cur = e->win_cur, prev = e->win_prev;
	memset(&e->win_cur, 0, sizeof(e->win_cur));
	memset(&e->win_prev, 0, sizeof(e->win_prev));
	atomic_fetch_add(&e->window, 1);
	pthread_mutex_unlock(&e->win_mu);

	/* WGREC: every group of this pass, recorded written once the sync
	 * below has made its brothers durable (rec_mark checks each). */
	size_t nmark = 0;
	uint64_t *mark = NULL;
	if (e->geo.wgrec && cur.n + prev.n > 0) {
		mark = malloc((cur.n + prev.n) * sizeof(*mark));
		for (size_t i = 0; mark && i < cur.n; i++)
			mark[nmark++] = cur.v[i].gno;
		for (size_t i = 0; mark && i < prev.n; i++)
			mark[nmark++] = prev.v[i].gno;
	}
	int rc = 0;
	if (sync_first) {
		/* Marks may follow only data the sync covered: remember what
		 * each group looked like before it. */
		for (size_t i = 0; i < cur.n; i++)
			cur.v[i].gen = dirty_gen(e, cur.v[i].gno);
		rc = sync_all(e, datasync);
	}
	size_t kept = 0;
	for (size_t i = 0; rc == 0 && i < cur.n; i++) {
		if (sync_first && !cur.v[i].gen)
			continue;
		int64_t r = rewrite_brother(
		        e, cur.v[i].gno, sync_first ? cur.v[i].gen : 0,
		        clean_all ? 0 : CSM_MF_DIRTY | (e->strict ? CSM_MF_STRICT : 0));
		if (r < 0)
			rc = (int)r;
		else if (r > 0 && !clean_all)
			cur.v[kept++] = (struct gref){cur.v[i].gno, (uint64_t)r, now};
	}
	/* Sealed groups become clean once idle long enough: a group written
	 * again soon stays dirty and pays no sync for its dirty mark. */
	size_t young = 0;
	for (size_t i = 0; rc == 0 && i < prev.n; i++) {
		if (!clean_all && !e->opts.clean_eagerly && now - prev.v[i].when < CLEAN_AFTER_MS) {
			prev.v[young++] = prev.v[i];
			continue;
		}
		int64_t r = rewrite_brother(e, prev.v[i].gno, prev.v[i].gen, 0);
		if (r < 0)
			rc = (int)r;
	}
	prev.n = young;
	if (rc == 0 && !sync_first)
		rc = sync_all(e, datasync);
	else if (rc == 0 && (cur.n || prev.n))
		rc = sync_store(e, CSM_META);
	if (rc == 0 && nmark)
		rc = rec_mark(e, mark, nmark);
	free(mark);
	cur.n = rc == 0 ? kept : 0;                      /* after an error the groups stay dirty */
	for (size_t i = 0; rc == 0 && i < prev.n; i++) { /* still young: keep watching */
		if (cur.n == cur.cap) {
			size_t cap = cur.cap ? 2 * cur.cap : 64;
			struct gref *nv = realloc(cur.v, cap * sizeof(*nv));
			if (!nv)
				break; /* they stay dirty, which is safe */
			cur.v = nv;
			cur.cap = cap;
		}
		cur.v[cur.n++] = prev.v[i];
	}
	free(prev.v);
	pthread_mutex_lock(&e->win_mu);
	e->win_prev = cur;
	pthread_mutex_unlock(&e->win_mu);
	pthread_mutex_unlock(&e->fsync_mu);
	return rc;
}

int csm_fsync(struct csm_engine *e, bool datasync)
{
	size_t (*call)(void *, enum csm_call, uint64_t, size_t) = e->be.ops->program_call;
	if (call) /* fault injection: which of the program's calls the syncs serve */
		call(e->be.ctx, datasync ? CSM_CALL_FDATASYNC : CSM_CALL_FSYNC, 0, 0);
	int rc = e->opts.readonly ? sync_all(e, datasync) : flush_windows(e, datasync, false);
	if (call)
		call(e->be.ctx, CSM_CALL_SYNC_DONE, 0, 0);
	return rc < 0 ? (int)fail(rc) : 0;
}
