/*
 * Scrub: every block of the file read and verified, group by group,
 * skipping groups that no store holds any data for (group_is_hole, also
 * used by recovery).  Relies on cache.c for group locks, read.c for
 * verification and store.c for the reads.
 */
#define _GNU_SOURCE
#include "engine_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

/* Is group gno entirely unallocated in every store?  Then it was never
 * written and reads as zeros.  *next is the first group that may hold
 * data. */
bool group_is_hole(struct csm_engine *e, uint64_t gno, uint64_t ngroups, uint64_t *next)
{
	const struct csm_geometry *geo = &e->geo;
	uint64_t mstart = csm_geo_meta_offset(geo, gno, 0);
	/* Unaligned interleaved: the brothers and the data are one range. */
	uint64_t mend = mstart + geo->group_stride;
	uint64_t m, d;
	int rc = e->be.ops->next_data(e->be.ctx, CSM_META, mstart, &m);
	if (rc == -ENXIO)
		m = UINT64_MAX;
	else if (rc < 0 || m < mend)
		return false;
	uint64_t nm = m == UINT64_MAX ? ngroups : csm_geo_group_at_meta_offset(geo, m);
	uint64_t nd = ngroups;
	if (geo->layout == CSM_LAYOUT_SEPARATE || geo->aligned) {
		/* Apart from the brothers: the data too. */
		uint64_t dstart = csm_geo_data_offset(geo, gno * geo->per_group);
		uint64_t dend = dstart + ((uint64_t)geo->per_group << geo->block_shift);
		rc = e->be.ops->next_data(e->be.ctx, CSM_DATA, dstart, &d);
		if (rc == -ENXIO)
			d = UINT64_MAX;
		else if (rc < 0 || d < dend)
			return false;
		nd = d == UINT64_MAX ? ngroups : csm_geo_group_at_data_offset(geo, d);
	}
	uint64_t nx = nm < nd ? nm : nd;
	/* Aligned: a data offset found in a zone says nothing of the data of
	 * the segment's groups before the brothers there: from its start. */
	if (geo->aligned && nx < ngroups)
		nx -= nx % geo->seg_groups;
	*next = nx > gno + 1 ? (nx < ngroups ? nx : ngroups) : gno + 1;
	return true;
}

int csm_scrub(struct csm_engine *e, csm_progress_fn progress, void *arg,
              struct csm_scrub_result *res)
{
	const struct csm_geometry *geo = &e->geo;
	memset(res, 0, sizeof(*res));
	csm_drop_cache(e);
	uint64_t size = stored_size(e); /* another process may have changed it */
	uint64_t nblocks = csm_geo_blocks(geo, size);
	uint64_t ngroups = csm_geo_groups(geo, size);
	uint8_t *buf = alloc_aligned(SCRUB_CHUNK);
	if (!buf)
		return (int)fail(-ENOMEM);
	uint64_t group_bytes = (uint64_t)geo->per_group << geo->block_shift;
	int rc = 0;
	res->blocks = nblocks;
	res->intact_size = size;
	if (atomic_load(&e->stale_super)) {
		res->stale_super = true;
		struct csm_event ev = {.kind = CSM_EV_STALE_SUPER, .group = e->stale_group};
		report(e, &ev);
	}
	/* Separate layout: data past the size that no growth cut short and no
	 * killed shrink explains was never csumshim's (the open's pair check
	 * refuses the same). */
	uint64_t dsize = 0;
	if (e->v2 && geo->layout == CSM_LAYOUT_SEPARATE &&
	    e->be.ops->get_size(e->be.ctx, CSM_DATA, &dsize) == 0 &&
	    past_size_must_be_zero(e, dsize)) {
		rc = past_size_zero(e, size, dsize);
		if (rc < 0) {
			free(buf);
			return (int)fail(rc);
		}
		if (rc == 0)
			res->data_past_size = dsize;
		rc = 0;
	}
	/* v2: a lost tail — blocks whose stored bytes are past a store's end
	 * — is reported as one range, and only the rest is read. */
	uint64_t intact = e->v2 ? store_intact_size(e, size) : size;
	if (intact < size) {
		uint64_t kb = intact >> geo->block_shift; /* the cut block is lost too */
		res->intact_size = kb << geo->block_shift;
		res->missing_blocks = nblocks - kb;
		res->bad_blocks += nblocks - kb;
		struct csm_event ev = {.kind = CSM_EV_MISSING,
		                       .group = kb / geo->per_group,
		                       .lblock = kb,
		                       .nblocks = nblocks - kb};
		report(e, &ev);
		nblocks = kb;
		ngroups = csm_geo_groups(geo, (uint64_t)kb << geo->block_shift);
	}
	/* WGREC: each segment's record; a refused one cannot tell a group
	 * punched out from one never written. */
	for (uint64_t seg = 0; geo->wgrec && ngroups && seg <= (ngroups - 1) / geo->seg_groups;
	     seg++) {
		uint8_t rec[CSM_REC_SIZE];
		enum csm_rec_status st;
		rc = rec_read(e, seg, rec, &st);
		if (rc < 0) {
			report_io(e, seg * geo->seg_groups, rc);
			free(buf);
			return (int)fail(rc);
		}
		if (st != CSM_REC_VALID && st != CSM_REC_EMPTY) {
			res->bad_records++;
			struct csm_event ev = {.kind = CSM_EV_RECORD_DAMAGED,
			                       .group = seg * geo->seg_groups,
			                       .mb_status = (enum csm_mb_status)st};
			report(e, &ev);
		}
	}
	for (uint64_t gno = 0; gno < ngroups;) {
		uint64_t next;
		if (group_is_hole(e, gno, ngroups, &next)) {
			res->groups += next - gno;
			res->groups_skipped += next - gno;
			/* WGREC: a hole recorded written is a loss. */
			for (uint64_t x = gno; (x = rec_next_lost(e, x, next)) < next; x++) {
				uint64_t first = x * geo->per_group;
				uint64_t nb = nblocks - first < geo->per_group ? nblocks - first
				                                               : geo->per_group;
				res->lost_groups++;
				res->bad_blocks += nb;
				struct csm_event ev = {.kind = CSM_EV_LOST,
				                       .group = x,
				                       .lblock = first,
				                       .nblocks = nb};
				report(e, &ev);
			}
			gno = next;
			continue;
		}
		res->groups++;
		uint64_t first = gno * geo->per_group;
		uint64_t last = first + geo->per_group - 1;
		if (last >= nblocks)
			last = nblocks - 1;
		struct group *g = group_get(e, gno);
		if (!g) {
			rc = -ENOMEM;
			break;
		}
		/* Another process's update of the group, caught between its
		 * brother and data writes, is not a mismatch: its writers are
		 * kept out (the group's lock, shared) while the group's brothers
		 * are loaded and its data read and checked. */
		bool xl = e->xproc;
		if (xl) {
			group_wrlock(e, g);
			rc = group_xlock(e, gno, F_RDLCK);
			if (rc < 0) {
				pthread_rwlock_unlock(&g->lock);
				group_put(e, g);
				break;
			}
			rc = group_load(e, g);
		} else {
			rc = group_rdlock(e, g);
			if (rc < 0) {
				group_put(e, g);
				break;
			}
		}
		for (int i = 0; rc == 0 && i < 2; i++)
			if (g->pair.status[i] != CSM_MB_VALID && g->pair.status[i] != CSM_MB_EMPTY)
				res->bad_meta++;
		if (rc < 0) {
			report_io(e, gno, rc);
		} else if (g->lost) {
			res->lost_groups++;
			res->bad_blocks += last - first + 1;
		} else if (g->pair.broken) {
			res->broken_groups++;
			res->bad_blocks += last - first + 1;
		} else {
			/* In chunks that stay in L2 between the read and the hash. */
			uint64_t per = SCRUB_CHUNK >> geo->block_shift;
			for (uint64_t c0 = first; rc == 0 && c0 <= last; c0 += per) {
				uint64_t c1 = c0 + per - 1 < last ? c0 + per - 1 : last;
				size_t n = (size_t)(c1 - c0 + 1) << geo->block_shift;
				rc = store_read(e, CSM_DATA, buf, n, csm_geo_data_offset(geo, c0));
				if (rc < 0)
					report_io(e, gno, rc);
				for (uint64_t k = c0; rc == 0 && k <= c1; k++) {
					const uint8_t *p = buf + ((k - c0) << geo->block_shift);
					if (g->pair.newer >= 0 &&
					    csm_mb_written(geo, g->slot[g->pair.newer],
					                   csm_geo_index_of(geo, k)))
						res->blocks_written++;
					int kind = verify_block(e, g, k, p);
					if (kind) {
						report_block(e, kind, k);
						res->bad_blocks++;
					}
				}
			}
		}
		if (xl)
			group_xunlock(e, gno);
		pthread_rwlock_unlock(&g->lock);
		group_put(e, g);
		if (rc < 0)
			break;
		if (progress)
			progress(arg,
			         (gno + 1) * group_bytes < size ? (gno + 1) * group_bytes : size,
			         size);
		gno++;
	}
	free(buf);
	return rc < 0 ? (int)fail(rc) : 0;
}
