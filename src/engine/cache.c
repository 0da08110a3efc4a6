/*
 * The group cache and the group locks.  A group's brothers are cached in
 * an entry of one of NSHARDS shards (a uthash table and an LRU list under
 * the shard's mutex); the entry's rwlock is the group lock.  Readers take
 * it shared with the brothers loaded (group_rdlock); updates take it
 * exclusive with the group's cross-process lock and the cache checked
 * against storage (group_lock_update).  Relies on store.c to read the
 * brothers, locks.c for cross-process locks and sync tickets, solo.c for
 * solo sections, events.c to report damage, and the shrink's state
 * (size.c).
 */
#define _GNU_SOURCE
#include "engine_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

static void lru_unlink(struct shard *s, struct group *g)
{
	if (g->prev)
		g->prev->next = g->next;
	else
		s->head = g->next;
	if (g->next)
		g->next->prev = g->prev;
	else
		s->tail = g->prev;
	g->prev = g->next = NULL;
}

static void lru_push(struct shard *s, struct group *g)
{
	g->prev = NULL;
	g->next = s->head;
	if (s->head)
		s->head->prev = g;
	s->head = g;
	if (!s->tail)
		s->tail = g;
}

static struct group *group_alloc(struct csm_engine *e)
{
	struct group *g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	uint8_t *buf = alloc_aligned(2 * (size_t)ALIGN);
	if (!buf) {
		free(g);
		return NULL;
	}
	(void)e;
	g->slot[0] = buf;
	g->slot[1] = buf + ALIGN;
	pthread_rwlock_init(&g->lock, NULL);
	return g;
}

void group_free(struct group *g)
{
	pthread_rwlock_destroy(&g->lock);
	free(g->slot[0]);
	free(g);
}

/* Find or create the entry for gno, with a reference.  Reuses the least
 * recently used idle entry when the shard is full. */
struct group *group_get(struct csm_engine *e, uint64_t gno)
{
	struct shard *s = &e->shards[gno % NSHARDS];
	struct group *g;
	pthread_mutex_lock(&s->mu);
	HASH_FIND(hh, s->table, &gno, sizeof(gno), g);
	if (g) {
		if (s->head != g) {
			lru_unlink(s, g);
			lru_push(s, g);
		}
		g->refs++;
		pthread_mutex_unlock(&s->mu);
		return g;
	}
	g = NULL;
	if (s->count >= e->max_per_shard) {
		for (struct group *v = s->tail; v; v = v->prev) {
			if (v->refs == 0) {
				g = v;
				break;
			}
		}
		if (g) {
			HASH_DEL(s->table, g);
			lru_unlink(s, g);
			s->count--;
		}
	}
	if (!g)
		g = group_alloc(e);
	if (!g) {
		pthread_mutex_unlock(&s->mu);
		return NULL;
	}
	g->gno = gno;
	g->refs = 1;
	g->loaded = false;
	g->data_ticket = sync_ticket(e, CSM_DATA); /* unknown: assume not durable */
	HASH_ADD(hh, s->table, gno, sizeof(g->gno), g);
	lru_push(s, g);
	s->count++;
	pthread_mutex_unlock(&s->mu);
	return g;
}

void group_put(struct csm_engine *e, struct group *g)
{
	(void)e;
	/* Release: everything this thread did to g happens before an evicting
	 * thread sees refs at zero.  g is not touched after this. */
	atomic_fetch_sub_explicit(&g->refs, 1, memory_order_release);
}

static bool mb_dirty(const uint8_t *mb)
{
	return (csm_mb_flags(mb) & CSM_MF_DIRTY) != 0;
}

/* Is the newer brother marked dirty (or the group fresh)? */
bool group_dirty(const struct group *g)
{
	return g->pair.newer >= 0 && mb_dirty(g->slot[g->pair.newer]);
}

static bool group_classify(struct csm_engine *e, struct group *g, bool quiet);

static int read_brothers(struct csm_engine *e, uint64_t gno, uint8_t *s0, uint8_t *s1)
{
	const struct csm_geometry *geo = &e->geo;
	struct iovec v[2] = {{s0, geo->block_size}, {s1, geo->block_size}};
	/* v2: the brothers of a group inside the size are always inside the
	 * store; past its end they are lost, not "never written". */
	size_t need = 0;
	if (e->v2 && gno < csm_geo_groups(geo, csm_size(e)))
		need = (size_t)2 * geo->block_size;
	int r = store_readv_need(e, CSM_META, v, 2, csm_geo_meta_offset(geo, gno, 0), need);
	/* Another process may have shrunk the file since (and grown it again):
	 * the size as stored now first, then the brothers again — a store is
	 * extended before a larger size is stored. */
	for (int i = 0; r == -ENODATA && e->xproc && i < 3; i++) {
		need = gno < csm_geo_groups(geo, stored_size(e)) ? (size_t)2 * geo->block_size : 0;
		r = store_readv_need(e, CSM_META, v, 2, csm_geo_meta_offset(geo, gno, 0), need);
	}
	if (r == -ENODATA) {
		uint64_t first = gno * geo->per_group;
		struct csm_event ev = {.kind = CSM_EV_MISSING,
		                       .group = gno,
		                       .lblock = first,
		                       .nblocks = geo->per_group};
		report(e, &ev);
		return -EIO;
	}
	if (r < 0)
		report_io(e, gno, r);
	return r;
}

/* Read and classify both brothers.  Caller holds the group lock exclusive. */
int group_load(struct csm_engine *e, struct group *g)
{
	int r = read_brothers(e, g->gno, g->slot[0], g->slot[1]);
	if (r < 0)
		return r;
	group_classify(e, g, false);
	return 0;
}

/* Under the group's cross-process lock: make the cached brothers what is
 * stored (another process may have written them).  Group locked
 * exclusive. */
static int group_sync_cache(struct csm_engine *e, struct group *g)
{
	if (!g->loaded || !e->xproc)
		return g->loaded ? 0 : group_load(e, g);
	uint32_t bs = e->geo.block_size;
	uint8_t t0[CSM_MAX_BLOCK] __attribute__((aligned(ALIGN)));
	uint8_t t1[CSM_MAX_BLOCK] __attribute__((aligned(ALIGN)));
	int r = read_brothers(e, g->gno, t0, t1);
	if (r < 0)
		return r;
	if (memcmp(t0, g->slot[0], bs) == 0 && memcmp(t1, g->slot[1], bs) == 0)
		return 0;
	memcpy(g->slot[0], t0, bs);
	memcpy(g->slot[1], t1, bs);
	group_classify(e, g, false);
	/* Another process updated it: its data is not known to be durable. */
	g->data_ticket = sync_ticket(e, CSM_DATA);
	return 0;
}

/* Load what is stored into the cache entry; report damage unless quiet.
 * Returns whether there is damage to report. */
static bool group_classify(struct csm_engine *e, struct group *g, bool quiet)
{
	const struct csm_geometry *geo = &e->geo;
	enum csm_mb_status st[2];
	uint64_t gen[2];
	bool damage = false;
	for (int i = 0; i < 2; i++)
		st[i] = csm_mb_check(geo, e->sb.uuid, g->slot[i], g->gno, &gen[i]);
	csm_pair_choose(&g->pair, st[0], gen[0], st[1], gen[1]);
	for (int i = 0; i < 2; i++) {
		if (st[i] == CSM_MB_VALID || st[i] == CSM_MB_EMPTY)
			continue;
		damage = true;
		struct csm_event ev = {.kind = CSM_EV_META_DAMAGED,
		                       .group = g->gno,
		                       .slot = i,
		                       .mb_status = st[i]};
		if (!quiet)
			report(e, &ev);
	}
	/* A valid newer brother with an empty twin past generation 1 means
	 * the twin was lost: worth a report, though reads go on. */
	if (g->pair.newer >= 0 && st[1 - g->pair.newer] == CSM_MB_EMPTY &&
	    g->pair.gen[g->pair.newer] > 1) {
		damage = true;
		struct csm_event ev = {.kind = CSM_EV_META_DAMAGED,
		                       .group = g->gno,
		                       .slot = 1 - g->pair.newer,
		                       .mb_status = CSM_MB_EMPTY};
		if (!quiet)
			report(e, &ev);
	}
	/* v2: a brother newer than the superblock: the superblock is stale
	 * (restored from an old copy, or its last writes lost).  Nothing of
	 * the group is trusted until csumshim recover. */
	g->stale = e->v2 && group_epoch_stale(e, g);
	/* WGREC: both brothers a hole in a group recorded written below the
	 * size is a loss (punched out), never a never-written group. */
	g->lost =
	        !g->stale && st[0] == CSM_MB_EMPTY && st[1] == CSM_MB_EMPTY && rec_lost(e, g->gno);
	if (g->lost) {
		damage = true;
		g->pair.broken = true;
		g->pair.newer = -1;
		struct csm_event ev = {.kind = CSM_EV_LOST,
		                       .group = g->gno,
		                       .lblock = g->gno * geo->per_group,
		                       .nblocks = geo->per_group};
		if (!quiet)
			report(e, &ev);
	} else if (g->stale) {
		damage = true;
		g->pair.broken = true;
		g->pair.newer = -1;
		struct csm_event ev = {.kind = CSM_EV_STALE_SUPER, .group = g->gno};
		if (!quiet)
			report(e, &ev);
	} else if (g->pair.broken) {
		damage = true;
		struct csm_event ev = {.kind = CSM_EV_GROUP_BROKEN, .group = g->gno};
		if (!quiet)
			report(e, &ev);
	}
	/* After a crash the newer brother may name data that never landed;
	 * until checked (settle_group) nothing is built on top of it. */
	g->settled = !(g->pair.newer >= 0 && g->pair.older_ok);
	g->loaded = true;
	g->epoch = atomic_load(&e->epoch);
	return damage;
}

static bool group_fresh(struct csm_engine *e, const struct group *g)
{
	return g->loaded && g->epoch == atomic_load_explicit(&e->epoch, memory_order_acquire);
}

/* Whether a thread must keep out of group gno until a shrink is done. */
static bool shrink_blocks(struct csm_engine *e, uint64_t gno)
{
	return gno >= atomic_load(&e->shrink_from) && tl_shrinker != e;
}

static void shrink_wait(struct csm_engine *e)
{
	pthread_mutex_lock(&e->resize_mu);
	pthread_mutex_unlock(&e->resize_mu);
}

/* Whether this thread's tail lock covers group gno. */
static bool tail_held(struct csm_engine *e, uint64_t gno)
{
	uint64_t from = atomic_load(&e->shrink_from); /* before comparing e */
	return gno >= from && tl_shrinker == e;
}

int group_xlock(struct csm_engine *e, uint64_t gno, int type)
{
	return tail_held(e, gno) ? 0 : xlock(e, CSM_LOCK_GROUP(gno), type);
}

void group_xunlock(struct csm_engine *e, uint64_t gno)
{
	if (!tail_held(e, gno))
		xunlock(e, CSM_LOCK_GROUP(gno));
}

/* g->lock exclusive, out of the way of a shrink cutting g. */
void group_wrlock(struct csm_engine *e, struct group *g)
{
	for (;;) {
		pthread_rwlock_wrlock(&g->lock);
		if (!shrink_blocks(e, g->gno))
			return;
		pthread_rwlock_unlock(&g->lock);
		shrink_wait(e);
	}
}

/* group_load without the group's cross-process lock (a reader): damage
 * seen may be a brother another process is writing at this instant, so it
 * is looked at again with writers kept out before it is reported. */
static int group_load_unlocked(struct csm_engine *e, struct group *g)
{
	if (!e->xproc)
		return group_load(e, g);
	if (solo_begin(e)) {
		int r = group_load(e, g);
		solo_end(e);
		return r;
	}
	int r = read_brothers(e, g->gno, g->slot[0], g->slot[1]);
	if (r < 0)
		return r;
	if (!group_classify(e, g, true))
		return 0;
	r = group_xlock(e, g->gno, F_RDLCK);
	if (r < 0)
		return r;
	r = group_load(e, g);
	group_xunlock(e, g->gno);
	return r;
}

/* Take the group lock shared with the metadata loaded. */
int group_rdlock(struct csm_engine *e, struct group *g)
{
	for (;;) {
		pthread_rwlock_rdlock(&g->lock);
		if (group_fresh(e, g))
			return 0;
		pthread_rwlock_unlock(&g->lock);
		group_wrlock(e, g);
		int r = group_fresh(e, g) ? 0 : group_load_unlocked(e, g);
		pthread_rwlock_unlock(&g->lock);
		if (r < 0)
			return r;
	}
}

/* For an update: the group lock exclusive, then the group's cross-process
 * lock, then the cached brothers checked against storage.  Undo with
 * group_unlock_update. */
int group_lock_update(struct csm_engine *e, struct group *g)
{
	group_wrlock(e, g);
	g->solo = solo_begin(e);
	if (g->solo) {
		int r = group_fresh(e, g) ? 0 : group_load(e, g);
		if (r < 0) {
			g->solo = false;
			solo_end(e);
			pthread_rwlock_unlock(&g->lock);
		}
		return r;
	}
	int r = group_xlock(e, g->gno, F_WRLCK);
	if (r == 0) {
		if (!group_fresh(e, g))
			r = group_load(e, g);
		else
			r = group_sync_cache(e, g);
		if (r < 0)
			group_xunlock(e, g->gno);
	}
	if (r < 0)
		pthread_rwlock_unlock(&g->lock);
	return r;
}

void group_unlock_update(struct csm_engine *e, struct group *g)
{
	if (g->solo) {
		g->solo = false;
		solo_end(e);
	} else {
		group_xunlock(e, g->gno);
	}
	pthread_rwlock_unlock(&g->lock);
}

/* Forget cached metadata of groups >= from: idle entries are freed, and
 * bumping the epoch makes every entry still in use reload under its own
 * lock before its next use.  Allocation-free. */
void cache_invalidate(struct csm_engine *e, uint64_t from)
{
	atomic_fetch_add(&e->epoch, 1);
	for (int i = 0; i < NSHARDS; i++) {
		struct shard *s = &e->shards[i];
		struct group *g, *tmp;
		pthread_mutex_lock(&s->mu);
		HASH_ITER(hh, s->table, g, tmp)
		{
			/* cppcheck cannot see HASH_ITER assign g */
			// cppcheck-suppress uninitvar
			if (g->gno < from || g->refs != 0)
				continue;
			/* The analyzer lets the table's first entry have a prev
			 * (uthash never leaves one) and then sees the next
			 * HASH_DEL read the freed entry. */
			// NOLINTNEXTLINE(clang-analyzer-unix.Malloc)
			HASH_DEL(s->table, g);
			lru_unlink(s, g);
			s->count--;
			group_free(g);
		}
		pthread_mutex_unlock(&s->mu);
	}
}

void csm_drop_cache(struct csm_engine *e)
{
	cache_invalidate(e, 0);
}
