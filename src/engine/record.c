/*
 * The written-group record (docs/FORMAT.md, "The written-group record"):
 * which groups of an aligned file were written with their brothers
 * durable, so that brothers read as a hole under a set bit are a loss
 * (EIO, reported) and never zeros.
 *
 *   - rec_mark sets bits, after a completed sync (fsync.c's clean step),
 *     for groups whose brothers it finds on storage; one more sync makes
 *     what it read durable before any bit is written.
 *   - rec_clear_from clears the bits of the groups a shrink drops, durably,
 *     before their brothers are punched or cut.
 *   - rec_lost and rec_next_lost say whether a group is a loss; rec_forget
 *     clears the bits of losses the user accepted (recover --discard-lost).
 * Bits change only under the superblock lock (sb_begin), a read-modify-
 * write of the stored record, so engines in several processes never lose
 * each other's bits.  Segment 0's and 1's records share the header with
 * the superblock: e->hdr keeps the header's bytes after the superblock,
 * re-read by sb_begin, and write_super writes them with it.  Relies on
 * super.c, store.c and locks.c.
 */
#define _GNU_SOURCE
#include "engine_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The 4 KiB block holding segment seg's record, and where in it. */
static uint64_t rec_block(const struct csm_geometry *geo, uint64_t seg, size_t *in)
{
	uint64_t off = csm_rec_offset(geo, seg);
	*in = (size_t)(off % ALIGN);
	return off - *in;
}

/* The header's record sectors from storage into e->hdr.  resize_mu held
 * with the superblock lock (or the engine not shared yet). */
int rec_load_hdr(struct csm_engine *e)
{
	if (!e->geo.wgrec)
		return 0;
	uint8_t *buf = alloc_aligned(CSM_HEADER_SIZE);
	if (!buf)
		return -ENOMEM;
	int rc = store_read(e, CSM_META, buf, CSM_HEADER_SIZE, 0);
	if (rc == 0)
		memcpy(e->hdr + CSM_SB_SIZE, buf + CSM_SB_SIZE, CSM_HEADER_SIZE - CSM_SB_SIZE);
	free(buf);
	return rc;
}

/* Segment seg's record as stored, without the superblock lock: a read
 * that catches a write half done fails its checksum and is read again. */
int rec_read(struct csm_engine *e, uint64_t seg, uint8_t *rec, enum csm_rec_status *st)
{
	size_t in;
	uint64_t at = rec_block(&e->geo, seg, &in);
	uint8_t *buf = alloc_aligned(ALIGN);
	if (!buf)
		return -ENOMEM;
	int rc = 0;
	for (int i = 0; i < TORN_TRIES; i++) {
		if (i > 0)
			torn_pause(i);
		rc = store_read(e, CSM_META, buf, ALIGN, at);
		if (rc < 0)
			break;
		*st = csm_rec_check(&e->geo, e->sb.uuid, buf + in, seg);
		if (*st != CSM_REC_BAD_CSUM && *st != CSM_REC_BAD_MAGIC)
			break;
	}
	if (rc == 0)
		memcpy(rec, buf + in, CSM_REC_SIZE);
	free(buf);
	return rc;
}

/* Whether group gno is recorded written and lies below the size: with its
 * brothers read as a hole (the caller's finding), a loss. */
bool rec_lost(struct csm_engine *e, uint64_t gno)
{
	if (!e->geo.wgrec)
		return false;
	uint8_t rec[CSM_REC_SIZE];
	enum csm_rec_status st;
	uint64_t seg = gno / e->geo.seg_groups;
	if (rec_read(e, seg, rec, &st) < 0 || st != CSM_REC_VALID ||
	    !csm_rec_bit(rec, gno % e->geo.seg_groups))
		return false;
	/* A shrink stores the smaller size before it clears bits: past the
	 * size, a bit means nothing. */
	uint64_t size = tl_shrinker == e ? tl_shrink_size : stored_size(e);
	return gno < csm_geo_groups(&e->geo, size);
}

/* The first group in [from, to) recorded written, or `to` (each
 * segment's record read once). */
uint64_t rec_next_lost(struct csm_engine *e, uint64_t from, uint64_t to)
{
	const struct csm_geometry *geo = &e->geo;
	if (!geo->wgrec)
		return to;
	while (from < to) {
		uint64_t seg = from / geo->seg_groups;
		uint64_t end = (seg + 1) * geo->seg_groups;
		if (end > to)
			end = to;
		uint8_t rec[CSM_REC_SIZE];
		enum csm_rec_status st;
		if (rec_read(e, seg, rec, &st) == 0 && st == CSM_REC_VALID)
			for (uint64_t g = from; g < end; g++)
				if (csm_rec_bit(rec, g % geo->seg_groups))
					return g;
		from = end;
	}
	return to;
}

/* Where segment seg's record is kept while it changes: e->hdr for the
 * header's, else blk (ALIGN bytes) read from storage.  Lock held. */
static int rec_fetch(struct csm_engine *e, uint64_t seg, uint8_t *blk, uint8_t **rec)
{
	size_t in;
	uint64_t at = rec_block(&e->geo, seg, &in);
	if (at == 0) {
		*rec = e->hdr + in;
		return 0;
	}
	*rec = blk + in;
	return store_read(e, CSM_META, blk, ALIGN, at);
}

/* Write back what rec_fetch gave (the header's: by the caller). */
static int rec_store(struct csm_engine *e, uint64_t seg, const uint8_t *blk, bool *hdr)
{
	size_t in;
	uint64_t at = rec_block(&e->geo, seg, &in);
	if (at == 0) {
		*hdr = true;
		return 0;
	}
	return store_write(e, CSM_META, blk, ALIGN, at);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Whether a valid brother of gno is on storage. */
static int brothers_there(struct csm_engine *e, uint64_t gno, uint8_t *mb, bool *there)
{
	const struct csm_geometry *geo = &e->geo;
	int rc = store_read(e, CSM_META, mb, (size_t)2 * geo->block_size,
	                    csm_geo_meta_offset(geo, gno, 0));
	*there = false;
	for (int i = 0; rc == 0 && i < 2; i++) {
		uint64_t gen;
		if (csm_mb_check(geo, e->sb.uuid, mb + (size_t)i * geo->block_size, gno, &gen) ==
		    CSM_MB_VALID)
			*there = true;
	}
	return rc;
}

/* Whether every group of the sorted gnos[0..n) is recorded already (read
 * without the lock: bits are cleared only for groups a shrink drops). */
static bool all_recorded(struct csm_engine *e, const uint64_t *gnos, size_t n)
{
	const struct csm_geometry *geo = &e->geo;
	uint8_t rec[CSM_REC_SIZE];
	uint64_t have = UINT64_MAX;
	for (size_t i = 0; i < n; i++) {
		uint64_t seg = gnos[i] / geo->seg_groups;
		enum csm_rec_status st;
		if (seg != have && (rec_read(e, seg, rec, &st) < 0 || st != CSM_REC_VALID))
			return false;
		have = seg;
		if (!csm_rec_bit(rec, gnos[i] % geo->seg_groups))
			return false;
	}
	return true;
}

/* Set (mark) or clear the bits of groups gnos[0..n), sorted and below
 * the stored size.  Setting: each only if a valid brother of it is on
 * storage, one sync before the first bit is written (rec_mark).  Under
 * sb_begin. */
static int rec_change(struct csm_engine *e, const uint64_t *gnos, size_t n, bool set)
{
	const struct csm_geometry *geo = &e->geo;
	uint8_t *blk = alloc_aligned(ALIGN);
	uint8_t *mb = alloc_aligned((size_t)2 * geo->block_size);
	if (!blk || !mb) {
		free(blk);
		free(mb);
		return -ENOMEM;
	}
	int rc = 0;
	uint64_t ngroups = csm_geo_groups(geo, e->sb.logical_size);
	bool synced = false, hdr = false, wrote = false;
	for (size_t i = 0; rc == 0 && i < n;) {
		uint64_t seg = gnos[i] / geo->seg_groups;
		size_t j = i;
		while (j < n && gnos[j] / geo->seg_groups == seg)
			j++;
		uint8_t *rec;
		rc = rec_fetch(e, seg, blk, &rec);
		uint8_t nrec[CSM_REC_SIZE];
		if (rc == 0) {
			memcpy(nrec, rec, CSM_REC_SIZE);
			/* Refused (damaged, foreign): replaced, and what it
			 * said is gone — a loss there is missed, never made up. */
			if (csm_rec_check(geo, e->sb.uuid, nrec, seg) != CSM_REC_VALID)
				csm_rec_init(geo, e->sb.uuid, nrec, seg);
		}
		bool more = false;
		for (size_t k = i; rc == 0 && k < j; k++) {
			uint64_t gno = gnos[k];
			if (gno >= ngroups || csm_rec_bit(nrec, gno % geo->seg_groups) == set)
				continue;
			bool there = true;
			if (set)
				rc = brothers_there(e, gno, mb, &there);
			if (rc == 0 && there) {
				csm_rec_set_bit(nrec, gno % geo->seg_groups, set);
				more = true;
			}
		}
		if (rc == 0 && more && set && !synced) {
			rc = sync_store(e, CSM_META); /* the brothers first */
			synced = true;
		}
		if (rc == 0 && more) {
			csm_rec_seal(nrec);
			memcpy(rec, nrec, CSM_REC_SIZE);
			rc = rec_store(e, seg, blk, &hdr);
			wrote = true;
		}
		i = j;
	}
	if (rc == 0 && hdr)
		rc = write_super(e);
	if (rc == 0 && wrote)
		rc = sync_store(e, CSM_META);
	free(blk);
	free(mb);
	return rc;
}

/* Record groups gnos[0..n) written (sorted here; duplicates allowed),
 * each whose valid brother is on storage and which lies below the size.
 * Call after a completed sync that covered the brothers this engine
 * wrote; a brother another process wrote may not be durable yet, so one
 * more sync comes before the first bit is written.  No lock held. */
int rec_mark(struct csm_engine *e, uint64_t *gnos, size_t n)
{
	if (!e->geo.wgrec || e->opts.readonly || n == 0)
		return 0;
	qsort(gnos, n, sizeof(*gnos), cmp_u64);
	if (all_recorded(e, gnos, n)) /* the usual case: no lock, no write */
		return 0;
	int rc = sb_begin(e);
	if (rc == 0)
		rc = rec_change(e, gnos, n, true);
	sb_end(e);
	return rc;
}

/* Forget that groups gnos[0..n) (sorted) were written: a loss the user
 * accepted (csm_recover with opts.discard_lost).  Under sb_begin. */
int rec_forget(struct csm_engine *e, const uint64_t *gnos, size_t n)
{
	return e->geo.wgrec && n ? rec_change(e, gnos, n, false) : 0;
}

/* A shrink to `size` (stored already) is about to punch or cut the
 * brothers of groups >= groups(size): clear their bits first, durably.
 * Records past the stores' new end go with the cut.  Under sb_begin. */
int rec_clear_from(struct csm_engine *e, uint64_t size)
{
	const struct csm_geometry *geo = &e->geo;
	if (!geo->wgrec)
		return 0;
	uint64_t ga = csm_geo_groups(geo, size);
	uint64_t end = csm_geo_data_store_size(geo, size);
	uint8_t *blk = alloc_aligned(ALIGN);
	if (!blk)
		return -ENOMEM;
	int rc = 0;
	bool hdr = false, wrote = false;
	for (uint64_t seg = ga / geo->seg_groups; rc == 0 && csm_rec_offset(geo, seg) < end;
	     seg++) {
		uint8_t *rec;
		rc = rec_fetch(e, seg, blk, &rec);
		if (rc < 0 || csm_rec_check(geo, e->sb.uuid, rec, seg) != CSM_REC_VALID)
			continue; /* nothing recorded, or refused: nothing to clear */
		uint64_t from = seg == ga / geo->seg_groups ? ga % geo->seg_groups : 0;
		bool changed = false;
		for (uint64_t i = from; i < geo->seg_groups; i++) {
			if (csm_rec_bit(rec, i)) {
				csm_rec_set_bit(rec, i, false);
				changed = true;
			}
		}
		if (!changed)
			continue;
		csm_rec_seal(rec);
		rc = rec_store(e, seg, blk, &hdr);
		wrote = true;
	}
	if (rc == 0 && hdr)
		rc = write_super(e);
	if (rc == 0 && wrote)
		rc = sync_store(e, CSM_META);
	free(blk);
	return rc;
}

/* An aligned file without WGREC gets it (csm_upgrade): every segment's
 * record built from the brothers on storage (the file is clean and
 * synced, so every valid brother is durable), records past the last
 * segment inside the stores emptied (an earlier upgrade cut short may
 * have left some), all synced, then the superblock with the bit, written
 * with the header's two records: the one sector that commits.  Under
 * sb_begin, the file clean and no other process in it. */
int rec_upgrade(struct csm_engine *e)
{
	const struct csm_geometry *geo = &e->geo;
	uint64_t size = e->sb.logical_size;
	uint64_t ngroups = csm_geo_groups(geo, size);
	uint64_t end = csm_geo_data_store_size(geo, size);
	struct csm_geometry ng;
	if (!csm_geo_init_f(&ng, e->sb.version, e->sb.incompat | CSM_FEAT_WGREC, e->sb.block_size,
	                    e->sb.algo, e->sb.layout))
		return -EINVAL;
	uint8_t *blk = alloc_aligned(ALIGN);
	uint8_t *mb = alloc_aligned((size_t)2 * geo->block_size);
	uint8_t *hdr = alloc_aligned(CSM_HEADER_SIZE);
	int rc = blk && mb && hdr ? 0 : -ENOMEM;
	if (rc == 0)
		memcpy(hdr, e->hdr, CSM_HEADER_SIZE);
	for (uint64_t seg = 0; rc == 0 && csm_rec_offset(&ng, seg) < end; seg++) {
		uint8_t rec[CSM_REC_SIZE];
		bool any = false;
		csm_rec_init(&ng, e->sb.uuid, rec, seg);
		uint64_t last = (seg + 1) * geo->seg_groups;
		for (uint64_t gno = seg * geo->seg_groups;
		     rc == 0 && gno < last && gno < ngroups;) {
			uint64_t next;
			if (group_is_hole(e, gno, ngroups < last ? ngroups : last, &next)) {
				gno = next;
				continue;
			}
			bool there;
			rc = brothers_there(e, gno, mb, &there);
			if (rc == 0 && there) {
				csm_rec_set_bit(rec, gno % geo->seg_groups, true);
				any = true;
			}
			gno++;
		}
		if (any)
			csm_rec_seal(rec);
		else
			memset(rec, 0, sizeof(rec)); /* empty: no group recorded */
		size_t in;
		uint64_t at = rec_block(&ng, seg, &in);
		if (rc == 0 && at == 0) {
			memcpy(hdr + in, rec, CSM_REC_SIZE);
		} else if (rc == 0) {
			memset(blk, 0, ALIGN);
			memcpy(blk + in, rec, CSM_REC_SIZE);
			rc = store_write(e, CSM_META, blk, ALIGN, at);
		}
	}
	if (rc == 0)
		rc = sync_store(e, CSM_META);
	if (rc == 0) {
		uint32_t was = e->sb.incompat;
		memcpy(e->hdr, hdr, CSM_HEADER_SIZE);
		e->sb.incompat |= CSM_FEAT_WGREC;
		e->geo.wgrec = 1;
		rc = write_super(e);
		if (rc == 0)
			rc = sync_store(e, CSM_META);
		if (rc < 0) {
			e->sb.incompat = was;
			e->geo.wgrec = 0;
		}
	}
	free(blk);
	free(mb);
	free(hdr);
	return rc;
}
