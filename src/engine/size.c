/*
 * Size changes: growing (grow_to for writes, csm_truncate), shrinking
 * (shrink_locked) and zeroing ranges (csm_zero_range, also the shrink's
 * first step).  Growing and shrinking hold the superblock lock and keep
 * every byte past the size zero and unwritten; the stores are resized to
 * match (set_store_sizes).  The shrinking thread is tl_shrinker.  Relies
 * on write.c for the blocks (write_run, clear_run), cache.c to drain and
 * forget groups, super.c to store the size and locks.c for the tail lock.
 */
#define _GNU_SOURCE
#include "engine_int.h"

#include <errno.h>
#include <fcntl.h>

__thread const struct csm_engine *tl_shrinker;
__thread uint64_t tl_shrink_size;

/* Resize the stores for logical size `size`.  Separate layout, shrinking:
 * the metadata file first, durably, then the data file (durably too) — a power cut must
 * not keep brothers for data that was cut away (they would not match).
 * The other way round (data left, brothers gone) recovery handles: a group
 * with data but no brothers is re-checked. */
int set_store_sizes(struct csm_engine *e, uint64_t size)
{
	const struct csm_geometry *geo = &e->geo;
	if (geo->aligned) {
		/* The cut ends in a data run: the brothers of the segment's
		 * later groups lie before it, in the zone, and must go too (a
		 * regrown group would find them vouching for cut data). */
		uint64_t ga = csm_geo_groups(geo, size), old = 0;
		/* The dropped groups' bits go first, durably: a group regrown
		 * later must not read as lost (record.c). */
		int r = rec_clear_from(e, size);
		if (r < 0)
			return r;
		r = e->be.ops->get_size(e->be.ctx, CSM_META, &old);
		if (r == 0 && ga % geo->seg_groups != 0) {
			uint64_t m0 = csm_geo_meta_offset(geo, ga, 0);
			uint64_t m1 =
			        m0 + (geo->seg_groups - ga % geo->seg_groups) * geo->group_stride;
			if (m1 > old)
				m1 = old;
			uint64_t x = UINT64_MAX;
			int nr = m0 < m1 ? e->be.ops->next_data(e->be.ctx, CSM_META, m0, &x) : 0;
			if (nr == -ENXIO)
				x = UINT64_MAX;
			else if (nr < 0)
				x = m0; /* cannot tell: punch */
			/* Only once the smaller size is durable: a power cut
			 * must not leave the old size with its groups' brothers
			 * gone and their data still there. */
			if (x < m1)
				r = sync_store(e, CSM_META);
			if (r == 0 && x < m1)
				r = e->be.ops->zero_range(e->be.ctx, CSM_META, m0, m1 - m0);
		}
		if (r == 0)
			r = e->be.ops->set_size(e->be.ctx, CSM_DATA,
			                        csm_geo_data_store_size(geo, size));
		return r;
	}
	if (geo->layout == CSM_LAYOUT_INTERLEAVED)
		return e->be.ops->set_size(e->be.ctx, CSM_DATA, csm_geo_data_store_size(geo, size));
	uint64_t old = 0;
	int r = e->be.ops->get_size(e->be.ctx, CSM_META, &old);
	uint64_t msz = csm_geo_meta_store_size(geo, size);
	if (r == 0)
		r = e->be.ops->set_size(e->be.ctx, CSM_META, msz);
	if (r == 0 && msz < old)
		r = sync_store(e, CSM_META);
	uint64_t dold = 0, dsz = csm_geo_data_store_size(geo, size);
	if (r == 0)
		r = e->be.ops->get_size(e->be.ctx, CSM_DATA, &dold);
	if (r == 0)
		r = e->be.ops->set_size(e->be.ctx, CSM_DATA, dsz);
	/* A later write ending inside the last block writes only up to the
	 * size: the cut must be durable, or stale bytes could come back past
	 * that write's end. */
	if (r == 0 && dsz < dold)
		r = sync_store(e, CSM_DATA);
	return r;
}

/* The stores' sizes now: [CSM_DATA], and [CSM_META] when separate. */
static int get_store_sizes(struct csm_engine *e, uint64_t have[2])
{
	have[CSM_META] = 0;
	int rc = e->be.ops->get_size(e->be.ctx, CSM_DATA, &have[CSM_DATA]);
	if (rc == 0 && e->geo.layout == CSM_LAYOUT_SEPARATE)
		rc = e->be.ops->get_size(e->be.ctx, CSM_META, &have[CSM_META]);
	return rc;
}

/* Stores of sizes `have` made to reach as far as `size` needs. */
static int extend_from(struct csm_engine *e, uint64_t size, const uint64_t have[2])
{
	const struct csm_geometry *geo = &e->geo;
	int rc = 0;
	uint64_t need = csm_geo_data_store_size(geo, size);
	if (have[CSM_DATA] < need)
		rc = e->be.ops->set_size(e->be.ctx, CSM_DATA, need);
	need = csm_geo_meta_store_size(geo, size);
	if (rc == 0 && geo->layout == CSM_LAYOUT_SEPARATE && have[CSM_META] < need)
		rc = e->be.ops->set_size(e->be.ctx, CSM_META, need);
	return rc;
}

/* v2, before a larger size is stored: the stores reach at least as far
 * as it needs, so a store shorter than the stored size is always a loss
 * (docs/FORMAT.md, "Reach").  Never shortens anything. */
int extend_stores(struct csm_engine *e, uint64_t size)
{
	if (!e->v2 || !e->be.resizable)
		return 0;
	uint64_t have[2];
	int rc = get_store_sizes(e, have);
	return rc < 0 ? rc : extend_from(e, size, have);
}

/* Whether a store of sizes `have` is longer than the stored size needs. */
static bool stores_longer(struct csm_engine *e, const uint64_t have[2])
{
	const struct csm_geometry *geo = &e->geo;
	uint64_t size = e->sb.logical_size;
	return have[CSM_DATA] > csm_geo_data_store_size(geo, size) ||
	       (geo->layout == CSM_LAYOUT_SEPARATE &&
	        have[CSM_META] > csm_geo_meta_store_size(geo, size));
}

/* v2, before the size grows or the file is marked clean, under
 * sb_begin: a store longer than the stored size needs is what a shrink
 * killed between storing the smaller size and cutting leaves behind, its
 * brothers (and, aligned, those in the zone) still vouching for the cut
 * data.  Growing into them would bring that data back; marking the file
 * clean would keep it for good.  Cut as the shrink would have (a growth
 * whose size write failed leaves the same, holes, harmless to cut).
 * have: the stores' sizes afterwards (asked once when nothing is cut). */
static int cut_stale(struct csm_engine *e, uint64_t have[2])
{
	if (atomic_load(&e->stale_super))
		return -EIO; /* the stored size is not the file's: recover first */
	int rc = get_store_sizes(e, have);
	if (rc < 0)
		return rc;
	if (!stores_longer(e, have)) {
		e->sb.shrunk_from = 0; /* no shrink left anything to finish */
		return 0;
	}
	const struct csm_geometry *geo = &e->geo;
	uint64_t size = e->sb.logical_size;
	if (e->opts.trace)
		tracef(e, "cut stale stores to %llu", (unsigned long long)size);
	cache_invalidate(e, csm_geo_groups(geo, size));
	rc = set_store_sizes(e, size);
	cache_invalidate(e, csm_geo_groups(geo, size));
	if (rc == 0)
		e->sb.shrunk_from = 0;
	return rc < 0 ? rc : get_store_sizes(e, have); /* rare: asked again */
}

int cut_stale_stores(struct csm_engine *e)
{
	if (!e->v2 || !e->be.resizable)
		return 0;
	uint64_t have[2];
	return cut_stale(e, have);
}

/* The stores for a growth to `end` under sb_begin: stale tails cut, then
 * extended. */
int grow_stores(struct csm_engine *e, uint64_t end)
{
	if (!e->v2 || !e->be.resizable)
		return 0;
	uint64_t have[2];
	int rc = cut_stale(e, have);
	return rc < 0 ? rc : extend_from(e, end, have);
}

/* Make the logical size at least *end (a fixed store's capacity lowers
 * *end; -ENOSPC if off is past it).  *was: the size found. */
int grow_to(struct csm_engine *e, uint64_t off, uint64_t *end, uint64_t *was)
{
	int rc = sb_begin(e);
	if (rc < 0) {
		sb_end(e);
		return rc;
	}
	uint64_t size = atomic_load(&e->size);
	*was = size;
	if (*end > size && !e->be.resizable && *end > e->capacity) {
		if (off >= e->capacity) {
			sb_end(e);
			return -ENOSPC;
		}
		*end = e->capacity;
	}
	if (*end > size) {
		/* Size first: a crash before the data leaves zeros, never
		 * stale bytes, past the old end. */
		if (e->opts.trace)
			tracef(e, "grow %llu -> %llu", (unsigned long long)size,
			       (unsigned long long)*end);
		rc = grow_stores(e, *end);
		if (rc == 0) {
			e->sb.logical_size = *end;
			rc = write_super(e);
			if (rc < 0)
				e->sb.logical_size = size;
		}
	}
	sb_end(e);
	return rc;
}

/* Zero [off, off+len) inside the current size: whole blocks are unmarked
 * and deallocated, partial blocks rewritten with zeros.  resize_mu held
 * or not needed. */
static int zero_range_locked(struct csm_engine *e, uint64_t off, uint64_t len)
{
	const struct csm_geometry *geo = &e->geo;
	uint32_t bs = geo->block_size;
	static const uint8_t zeros[CSM_MAX_BLOCK];
	uint64_t end = off + len;
	while (off < end) {
		uint64_t blk = off >> geo->block_shift;
		uint64_t bstart = blk << geo->block_shift;
		if (off != bstart || end - off < bs) {
			uint64_t stop = bstart + bs < end ? bstart + bs : end;
			ssize_t r = write_run(e, zeros, off, (size_t)(stop - off), 0);
			if (r < 0)
				return (int)r;
			off = stop;
			continue;
		}
		/* Whole blocks up to the end of the range or of the group. */
		uint64_t gno = csm_geo_group_of(geo, blk);
		uint64_t glast = (gno + 1) * geo->per_group - 1;
		uint64_t last = (end >> geo->block_shift) - 1;
		if (last > glast)
			last = glast;
		int rc = clear_run(e, blk, last, true);
		if (rc < 0)
			return rc;
		off = (last + 1) << geo->block_shift;
	}
	return 0;
}

int csm_zero_range(struct csm_engine *e, uint64_t off, uint64_t len)
{
	if (e->opts.readonly)
		return (int)fail(-EBADF);
	solo_maybe(e);
	int rc = mark_unclean(e);
	if (rc < 0)
		return (int)fail(rc);
	do {
		uint64_t size = csm_size(e);
		if (off >= size)
			return 0;
		/* Shrunk meanwhile: again, within the new size. */
		rc = zero_range_locked(e, off, len < size - off ? len : size - off);
	} while (rc == -E_SIZE_CHANGED);
	return rc < 0 ? (int)fail(rc) : 0;
}

/* Wait until no thread holds the lock of a cached group >= from (new
 * takers wait in group_wrlock once shrink_from is published). */
static void shrink_drain(struct csm_engine *e, uint64_t from, uint64_t seq)
{
	for (int i = 0; i < NSHARDS; i++) {
		struct shard *s = &e->shards[i];
		for (;;) {
			struct group *g, *tmp, *found = NULL;
			pthread_mutex_lock(&s->mu);
			HASH_ITER(hh, s->table, g, tmp)
			{
				// cppcheck-suppress uninitvar
				if (g->gno >= from && g->refs > 0 && g->drained != seq) {
					found = g;
					break;
				}
			}
			if (found) {
				found->drained = seq;
				found->refs++;
			}
			pthread_mutex_unlock(&s->mu);
			if (!found)
				break;
			pthread_rwlock_wrlock(&found->lock);
			pthread_rwlock_unlock(&found->lock);
			group_put(e, found);
		}
	}
}

/* Shrink from cur to nsize.  Under sb_begin.  Every group from the one
 * holding the new end on is kept from other threads (shrink_from) and
 * processes (the tail lock) from the first step to the new size stored:
 * a cut must not land between someone's metadata and data writes or
 * reads, and no one may write past the new end once it is cut. */
static int shrink_locked(struct csm_engine *e, uint64_t nsize, uint64_t cur)
{
	const struct csm_geometry *geo = &e->geo;
	uint64_t from = (nsize >> geo->block_shift) / geo->per_group;
	uint64_t seq = ++e->shrink_seq;
	atomic_store(&e->shrink_from, from);
	shrink_drain(e, from, seq);
	uint64_t tail = CSM_LOCK_TAIL(from);
	int rc = xlock(e, tail, F_WRLCK);
	if (rc < 0)
		goto done;
	/* v2: stores left longer by an earlier shrink killed before its cut
	 * are cut first, as a growth does.  This shrink's superblock names
	 * only the size it shrinks from (shrunk_from): killed before its own
	 * cut, it must leave no store longer than that size's, or the next
	 * open takes the rest for data no shrink explains and refuses it. */
	rc = cut_stale_stores(e);
	if (rc < 0) {
		xunlock(e, tail);
		goto done;
	}
	tl_shrinker = e;
	tl_shrink_size = cur;
	if (e->opts.trace)
		tracef(e, "shrink %llu -> %llu", (unsigned long long)cur,
		       (unsigned long long)nsize);
	/* 1. zero the kept part of the new last block */
	uint64_t bend = csm_geo_blocks(geo, nsize) << geo->block_shift;
	if (bend > cur)
		bend = cur;
	if (bend > nsize)
		rc = zero_range_locked(e, nsize, bend - nsize);
	/* 2. unmark the dropped blocks of the new last group */
	uint64_t kb = csm_geo_blocks(geo, nsize);
	uint64_t ob = csm_geo_blocks(geo, cur);
	if (rc == 0 && kb < ob && kb % geo->per_group != 0) {
		uint64_t glast = (kb / geo->per_group + 1) * geo->per_group - 1;
		rc = clear_run(e, kb, glast < ob - 1 ? glast : ob - 1, false);
	}
	if (rc == 0 && e->v2) {
		/* v2: 3. publish, 4. drop the stores' tails (already zero and
		 * unwritten): a store shorter than the stored size is never
		 * left behind, not even by a crash in between. */
		e->sb.logical_size = nsize;
		rc = write_super(e);
		if (rc == 0) {
			cache_invalidate(e, csm_geo_groups(geo, nsize));
			/* Published: a store left longer is harmless (recovery
			 * trims it), so the size stays cut whatever happens. */
			(void)set_store_sizes(e, nsize);
			cache_invalidate(e, csm_geo_groups(geo, nsize));
		}
	} else {
		/* 3. drop the stores' tails (later groups vanish whole) */
		if (rc == 0)
			rc = set_store_sizes(e, nsize);
		if (rc == 0) {
			cache_invalidate(e, csm_geo_groups(geo, nsize));
			/* 4. publish */
			e->sb.logical_size = nsize;
			rc = write_super(e);
		}
	}
	tl_shrinker = NULL;
	xunlock(e, tail);
done:
	atomic_store(&e->shrink_from, NO_SHRINK);
	return rc;
}

/* A write that grew the file to `grown` failed (ENOSPC, EIO) after the
 * bytes up to `keep`: the size goes back to `keep`, so the range it never
 * wrote does not exist rather than read as zeros — unless someone changed
 * the size meanwhile.  Under sb_begin.  The write's error is what its
 * caller reports; a failure here leaves the size grown. */
void ungrow_locked(struct csm_engine *e, uint64_t keep, uint64_t grown)
{
	uint64_t cur = atomic_load(&e->size);
	if (e->be.resizable && cur == grown && keep < cur && shrink_locked(e, keep, cur) < 0)
		e->sb.logical_size = cur;
}

void ungrow(struct csm_engine *e, uint64_t keep, uint64_t grown)
{
	if (sb_begin(e) == 0)
		ungrow_locked(e, keep, grown);
	sb_end(e);
}

int csm_truncate(struct csm_engine *e, uint64_t nsize)
{
	if (e->opts.readonly)
		return (int)fail(-EBADF);
	if (nsize > CSM_MAX_LOGICAL_SIZE)
		return (int)fail(-EFBIG);
	solo_maybe(e);
	int rc = mark_unclean(e);
	if (rc < 0)
		return (int)fail(rc);
	rc = sb_begin(e);
	if (rc < 0)
		goto out;
	uint64_t cur = atomic_load(&e->size);
	if (nsize == cur)
		goto out;
	if (!e->be.resizable) {
		rc = -EINVAL; /* a device keeps its formatted size */
		goto out;
	}
	if (nsize < cur) {
		rc = shrink_locked(e, nsize, cur);
	} else {
		if (e->opts.trace)
			tracef(e, "extend %llu -> %llu", (unsigned long long)cur,
			       (unsigned long long)nsize);
		rc = e->v2 ? grow_stores(e, nsize) : set_store_sizes(e, nsize);
		if (rc < 0)
			goto out;
		e->sb.logical_size = nsize;
		rc = write_super(e);
	}
	if (rc < 0)
		e->sb.logical_size = cur;
out:
	sb_end(e);
	return rc < 0 ? (int)fail(rc) : 0;
}
