/*
 * Verification and the read path: whether a block's data is a valid
 * content of it by its group's brothers (verify_block, also used by
 * writes, scrub and recovery), and csm_pread, which reads each group's
 * part in one vector and verifies it under the group lock shared.
 * Relies on cache.c for group locks, write.c for runs, store.c for the
 * reads and events.c for reports.
 */
#define _GNU_SOURCE
#include "engine_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>

bool tuple_matches(struct csm_engine *e, const uint8_t *mb, uint32_t idx, uint64_t lblock,
                   const uint8_t *data, uint64_t *csum, bool *have)
{
	if (!csm_mb_written(&e->geo, mb, idx))
		return csm_is_zero(data, e->geo.block_size);
	if (!*have) {
		*csum = csm_block_csum(&e->hasher, lblock, data, e->geo.block_size);
		*have = true;
	}
	return *csum == csm_mb_tuple(&e->geo, mb, idx);
}

/* 0 if `data` is a valid content of lblock, else the event kind. */
int verify_block(struct csm_engine *e, const struct group *g, uint64_t lblock, const uint8_t *data)
{
	const struct csm_geometry *geo = &e->geo;
	uint32_t idx = csm_geo_index_of(geo, lblock);
	int n = g->pair.newer;
	if (n < 0)
		return csm_is_zero(data, geo->block_size) ? 0 : CSM_EV_NONZERO_UNWRITTEN;
	uint64_t c = 0;
	bool have = false;
	if (tuple_matches(e, g->slot[n], idx, lblock, data, &c, &have))
		return 0;
	/* The older brother vouches only while the group is dirty: once a
	 * sync has covered the update, data matching only the older tuple is
	 * a lost write. */
	const uint8_t *older = g->slot[1 - n];
	if (g->pair.older_ok && group_dirty(g) && !csm_mb_same(geo, g->slot[n], older, idx) &&
	    tuple_matches(e, older, idx, lblock, data, &c, &have))
		return 0;
	return csm_mb_written(geo, g->slot[n], idx) ? CSM_EV_DATA_MISMATCH
	                                            : CSM_EV_NONZERO_UNWRITTEN;
}

/* Where block k's bytes are during the transfer. */
static uint8_t *run_block_ptr(const struct csm_geometry *geo, const struct run *r, uint64_t k,
                              uint8_t *user, uint8_t *b0, uint8_t *b1)
{
	if (k == r->first && r->head_bounce)
		return b0;
	if (k == r->last && r->tail_bounce)
		return b1;
	return user + ((k << geo->block_shift) - r->pos);
}

/* v2: how many bytes of a run's transfer at physical `at` must exist in
 * the data store (all of them but what lies past the end of a separate
 * data file, which is exactly the size long).  v1: none. */
static size_t data_need(struct csm_engine *e, const struct run *r, uint64_t at, bool stored)
{
	if (!e->v2)
		return 0;
	size_t total = (size_t)((r->last - r->first + 1) << e->geo.block_shift);
	uint64_t size = stored ? stored_size(e) : csm_size(e);
	if (e->geo.layout == CSM_LAYOUT_INTERLEAVED) {
		/* Whole blocks, up to the last one inside the size. */
		uint64_t nb = csm_geo_blocks(&e->geo, size);
		if (nb <= r->first)
			return 0;
		uint64_t last = nb - 1 < r->last ? nb - 1 : r->last;
		return (size_t)((last - r->first + 1) << e->geo.block_shift);
	}
	if (size <= at)
		return 0;
	return size - at < total ? (size_t)(size - at) : total;
}

/* Report the blocks of a run that lie past the end of the data store. */
static void missing(struct csm_engine *e, const struct run *r, uint64_t at, struct iovec *iov,
                    int cnt)
{
	uint64_t phys = 0;
	(void)iov;
	(void)cnt;
	e->be.ops->get_size(e->be.ctx, CSM_DATA, &phys);
	uint64_t k = r->first;
	while (k < r->last && at + ((k - r->first + 1) << e->geo.block_shift) <= phys)
		k++;
	struct csm_event ev = {
	        .kind = CSM_EV_MISSING, .group = r->gno, .lblock = k, .nblocks = r->last - k + 1};
	report(e, &ev);
}

static ssize_t read_run(struct csm_engine *e, uint8_t *buf, uint64_t pos, size_t len)
{
	const struct csm_geometry *geo = &e->geo;
	uint8_t b0[CSM_MAX_BLOCK] __attribute__((aligned(ALIGN)));
	uint8_t b1[CSM_MAX_BLOCK] __attribute__((aligned(ALIGN)));
	struct run r;
	struct iovec iov[3];
	run_init(geo, &r, pos, len);
	int cnt = run_iov(geo, &r, iov, buf, b0, b1);

	struct group *g = group_get(e, r.gno);
	if (!g)
		return -ENOMEM;
	int rc = group_rdlock(e, g);
	if (rc < 0) {
		group_put(e, g);
		return rc;
	}
	ssize_t done = 0;
	uint64_t bad;
	bool xlocked = false;
	for (int attempt = 0;; attempt++) {
		bool final = attempt > 0 || e->opts.log_only;
		/* Blocks from here on lie past the stored size (asked once). */
		uint64_t past = UINT64_MAX;
		bad = UINT64_MAX;
		if (g->pair.broken) {
			rc = -EIO;
			goto out;
		}
		uint64_t at = csm_geo_data_offset(geo, r.first);
		rc = store_readv_need(e, CSM_DATA, iov, cnt, at, data_need(e, &r, at, false));
		if (rc == -ENODATA && e->xproc) /* shrunk by another process? */
			rc = store_readv_need(e, CSM_DATA, iov, cnt, at,
			                      data_need(e, &r, at, true));
		if (rc == -ENODATA) {
			missing(e, &r, at, iov, cnt);
			rc = -EIO;
			goto out;
		}
		if (rc < 0) {
			report_io(e, r.gno, rc);
			goto out;
		}
		for (uint64_t k = r.first; k <= r.last; k++) {
			uint8_t *p = run_block_ptr(geo, &r, k, buf, b0, b1);
			int kind = verify_block(e, g, k, p);
			if (!kind)
				continue;
			/* A cached size older than another process's shrink
			 * reads past the stored one; a shrink killed between
			 * cutting brothers and data (the zone's, or a separate
			 * metadata file first) left data there with no brother
			 * to vouch for it.  Past the end nothing is verified:
			 * it reads as zeros, as once the shrink cut it.  Only
			 * with the group's lock (final), so a live shrink has
			 * finished. */
			if (final && e->xproc && past == UINT64_MAX)
				past = csm_geo_blocks(geo, stored_size(e));
			if (final && e->xproc && k >= past) {
				memset(p, 0, geo->block_size);
				continue;
			}
			if (final)
				report_block(e, kind, k);
			if (!e->opts.log_only) {
				bad = k;
				break;
			}
		}
		if (bad == UINT64_MAX || final)
			break;
		/* A mismatch against cached metadata: another process may have
		 * written the group since it was cached, or be writing it now.
		 * Read again, once, with writers kept out. */
		pthread_rwlock_unlock(&g->lock);
		group_wrlock(e, g);
		rc = group_xlock(e, r.gno, F_RDLCK);
		if (rc < 0)
			goto out;
		xlocked = true;
		rc = group_load(e, g);
		if (rc < 0)
			goto out;
	}
	if (r.head_bounce && bad != r.first) {
		size_t n = geo->block_size - r.head;
		memcpy(buf, b0 + r.head, n < len ? n : len);
	}
	if (r.tail_bounce && bad != r.last)
		memcpy(buf + ((r.last << geo->block_shift) - pos), b1, r.endoff);
	done = (ssize_t)len;
	if (bad != UINT64_MAX) {
		size_t ok = bad == r.first ? 0 : (size_t)((bad << geo->block_shift) - pos);
		memset(buf + ok, 0, len - ok); /* nothing unverified escapes */
		done = (ssize_t)ok;
	}
out:
	if (xlocked)
		group_xunlock(e, r.gno);
	pthread_rwlock_unlock(&g->lock);
	group_put(e, g);
	return rc < 0 ? rc : done;
}

ssize_t csm_pread(struct csm_engine *e, void *buf, size_t n, uint64_t off)
{
	uint64_t size = atomic_load_explicit(&e->size, memory_order_acquire);
	if (e->xproc && n > 0 && (off >= size || n > size - off) && !atomic_load(&e->solo))
		size = csm_size_refresh(e); /* another process may have grown it */
	if (off >= size || n == 0)
		return 0;
	if (atomic_load_explicit(&e->stale_super, memory_order_relaxed)) {
		struct csm_event ev = {.kind = CSM_EV_STALE_SUPER, .group = e->stale_group};
		report(e, &ev);
		return fail(-EIO);
	}
	if (n > size - off)
		n = (size_t)(size - off);
	if (n > SSIZE_MAX)
		n = SSIZE_MAX & ~(size_t)(CSM_MAX_BLOCK - 1);
	if (e->be.ops->program_call) /* fault injection: a short read */
		n = e->be.ops->program_call(e->be.ctx, CSM_CALL_READ, off, n);
	const struct csm_geometry *geo = &e->geo;
	uint64_t group_bytes = (uint64_t)geo->per_group << geo->block_shift;
	size_t done = 0;
	while (done < n) {
		uint64_t pos = off + done;
		uint64_t gend = (pos / group_bytes + 1) * group_bytes;
		size_t len = (size_t)((gend - pos) < n - done ? gend - pos : n - done);
		ssize_t r = read_run(e, (uint8_t *)buf + done, pos, len);
		if (r < 0 || (size_t)r < len) {
			/* A bad block fails the whole read: a short count would
			 * read as the end of the file to most programs (tar pads
			 * the member with zeros).  Not one byte is handed out. */
			memset(buf, 0, n);
			return fail(r < 0 ? (int)r : -EIO);
		}
		done += (size_t)r;
	}
	return (ssize_t)done;
}
