/*
 * Recovery after an unclean shutdown: each dirty or damaged group is
 * checked against its data and sealed clean in both slots
 * (recover_group), bytes past the size are made zero again and the
 * superblock is marked clean.  csm_open runs it when it is alone with an
 * unclean file; csm_recover on demand.  Relies on cache.c, read.c
 * (tuple_matches), write.c (publish_meta, write_run), scrub.c
 * (group_is_hole), fsync.c, size.c and super.c.
 */
#define _GNU_SOURCE
#include "engine_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool mb_damaged(enum csm_mb_status st)
{
	return st != CSM_MB_VALID && st != CSM_MB_EMPTY;
}

/* Re-check a dirty group against its data and write the result into both
 * slots, clean.  `buf` holds SCRUB_CHUNK bytes.  Group locked for update.
 * A block matching neither brother is re-sealed only when `reseal` (a
 * restart since the unclean mark, or data stored where no brother was
 * written); otherwise it keeps the newer brother's state and fails. */
static int recover_group(struct csm_engine *e, struct group *g, uint64_t nblocks, uint8_t *buf,
                         bool reseal, struct csm_recovery *res)
{
	const struct csm_geometry *geo = &e->geo;
	uint32_t bs = geo->block_size;
	int n = g->pair.newer;
	const uint8_t *nw = n >= 0 ? g->slot[n] : NULL;
	const uint8_t *od = n >= 0 && (g->pair.older_ok || g->pair.status[1 - n] == CSM_MB_VALID)
	                            ? g->slot[1 - n]
	                            : NULL;
	/* Written under strict durability, both brothers valid. */
	bool strict = nw && od && g->pair.status[1 - n] == CSM_MB_VALID &&
	              (csm_mb_flags(nw) & CSM_MF_STRICT);
	uint8_t m[CSM_MAX_BLOCK] __attribute__((aligned(ALIGN)));
	if (nw)
		memcpy(m, nw, bs);
	else
		csm_mb_init(geo, m, g->gno);
	if (g->pair.broken)
		res->rebuilt_groups++;
	uint64_t first = g->gno * geo->per_group;
	uint64_t last = first + geo->per_group - 1;
	uint64_t per = SCRUB_CHUNK >> geo->block_shift;
	for (uint64_t c0 = first; c0 <= last; c0 += per) {
		uint64_t c1 = c0 + per - 1 < last ? c0 + per - 1 : last;
		uint64_t r1 = c1 < nblocks ? c1 : nblocks - 1;
		if (c0 <= r1) {
			size_t len = (size_t)(r1 - c0 + 1) << geo->block_shift;
			int rc = store_read(e, CSM_DATA, buf, len, csm_geo_data_offset(geo, c0));
			if (rc < 0) {
				report_io(e, g->gno, rc);
				return rc;
			}
		}
		for (uint64_t k = c0; k <= c1; k++) {
			uint32_t idx = csm_geo_index_of(geo, k);
			if (k >= nblocks) { /* past the size: unwritten */
				csm_mb_clear(geo, m, idx);
				continue;
			}
			const uint8_t *p = buf + ((k - c0) << geo->block_shift);
			uint64_t c = 0;
			bool have = false;
			res->blocks_checked++;
			if (nw ? tuple_matches(e, nw, idx, k, p, &c, &have) : csm_is_zero(p, bs))
				continue;
			if (od && tuple_matches(e, od, idx, k, p, &c, &have)) {
				if (csm_mb_written(geo, od, idx))
					csm_mb_set(geo, m, idx, csm_mb_tuple(geo, od, idx));
				else
					csm_mb_clear(geo, m, idx);
				res->blocks_older++;
				continue;
			}
			if (!reseal) {
				/* No power cut since the unclean mark: every
				 * completed write is whole, so this is corruption. */
				res->blocks_bad++;
				report_block(e,
				             nw && csm_mb_written(geo, nw, idx)
				                     ? CSM_EV_DATA_MISMATCH
				                     : CSM_EV_NONZERO_UNWRITTEN,
				             k);
				continue;
			}
			if (strict && csm_mb_written(geo, nw, idx) &&
			    csm_mb_same(geo, nw, od, idx)) {
				/* Its checksum was durable before its data was
				 * even written: the data is not what was written. */
				res->blocks_lost++;
				struct csm_event ev = {
				        .kind = CSM_EV_DATA_MISMATCH, .lblock = k, .group = g->gno};
				report(e, &ev);
				continue;
			}
			if (csm_is_zero(p, bs)) {
				csm_mb_clear(geo, m, idx);
			} else {
				if (!have)
					c = csm_block_csum(&e->hasher, k, p, bs);
				csm_mb_set(geo, m, idx, c);
			}
			res->blocks_unverified++;
			/* What was seen, for whoever has to explain it later. */
			char why[160];
			if (!have)
				c = csm_block_csum(&e->hasher, k, p, bs);
			snprintf(
			        why, sizeof(why),
			        "data %s%016llx; newer gen %llu flags %u tuple %s%016llx; older %s",
			        csm_is_zero(p, bs) ? "zero " : "", (unsigned long long)c,
			        nw ? (unsigned long long)csm_mb_generation(nw) : 0ULL,
			        nw ? csm_mb_flags(nw) : 0U,
			        nw && csm_mb_written(geo, nw, idx) ? "" : "unwritten ",
			        nw ? (unsigned long long)csm_mb_tuple(geo, nw, idx) : 0ULL,
			        od ? "valid" : "none");
			if (od) {
				size_t l = strlen(why);
				snprintf(why + l, sizeof(why) - l,
				         " gen %llu flags %u tuple %s%016llx",
				         (unsigned long long)csm_mb_generation(od),
				         csm_mb_flags(od),
				         csm_mb_written(geo, od, idx) ? "" : "unwritten ",
				         (unsigned long long)csm_mb_tuple(geo, od, idx));
			}
			struct csm_event ev = {.kind = CSM_EV_UNVERIFIED,
			                       .lblock = k,
			                       .group = g->gno,
			                       .detail = why};
			report(e, &ev);
		}
	}
	/* Both slots, so no older brother can vouch for anything else. */
	for (int i = 0; i < 2; i++) {
		int o = g->pair.newer < 0 ? 0 : 1 - g->pair.newer;
		memcpy(g->slot[o], m, bs);
		csm_mb_set_flags(g->slot[o], 0);
		int rc = publish_meta(e, g, o);
		if (rc < 0)
			return rc;
	}
	g->pair.broken = false;
	g->settled = true;
	return 0;
}

/* v2: the unclean mark recorded a boot id, and this is another boot. */
bool booted_since(struct csm_engine *e, const uint8_t rec[CSM_UUID_SIZE])
{
	uint8_t now[CSM_UUID_SIZE];
	static const uint8_t zero[CSM_UUID_SIZE];
	if (!e->v2 || memcmp(rec, zero, CSM_UUID_SIZE) == 0 || !e->be.ops->boot_id ||
	    e->be.ops->boot_id(e->be.ctx, now) < 0 || memcmp(now, zero, CSM_UUID_SIZE) == 0)
		return false;
	return memcmp(now, rec, CSM_UUID_SIZE) != 0;
}

/* v2: the superblock is older than some brother.  Every group the stores
 * hold is looked at: the sequence goes past the newest epoch and the size
 * to the end of the last block a newer-than-the-superblock brother marks
 * written (all that can be proven: the exact byte size is lost). */
static int rebuild_stale(struct csm_engine *e, struct csm_recovery *res)
{
	const struct csm_geometry *geo = &e->geo;
	uint64_t mphys = 0;
	int rc = e->be.ops->get_size(e->be.ctx, CSM_META, &mphys);
	if (rc < 0)
		return rc;
	uint64_t ngroups = csm_geo_groups(geo, e->sb.logical_size);
	if (mphys > geo->header_size && csm_geo_group_at_meta_offset(geo, mphys - 1) + 1 > ngroups)
		ngroups = csm_geo_group_at_meta_offset(geo, mphys - 1) + 1;
	uint8_t *buf = alloc_aligned((size_t)2 * geo->block_size);
	if (!buf)
		return -ENOMEM;
	uint64_t top = 0, end = e->sb.logical_size;
	for (uint64_t gno = 0; rc == 0 && gno < ngroups;) {
		uint64_t next;
		if (group_is_hole(e, gno, ngroups, &next)) {
			gno = next;
			continue;
		}
		rc = store_read(e, CSM_META, buf, (size_t)2 * geo->block_size,
		                csm_geo_meta_offset(geo, gno, 0));
		for (int i = 0; rc == 0 && i < 2; i++) {
			const uint8_t *mb = buf + (size_t)i * geo->block_size;
			uint64_t gen;
			if (csm_mb_check(geo, e->sb.uuid, mb, gno, &gen) != CSM_MB_VALID)
				continue;
			uint64_t ep = csm_mb_epoch(mb);
			top = ep > top ? ep : top;
			if (ep <= e->sb.sequence)
				continue;
			for (uint32_t k = geo->per_group; k > 0; k--) {
				if (!csm_mb_written(geo, mb, k - 1))
					continue;
				uint64_t be = (gno * geo->per_group + k) << geo->block_shift;
				end = be > end ? be : end;
				break;
			}
		}
		gno++;
	}
	free(buf);
	if (rc < 0)
		return rc;
	rc = sb_begin(e);
	if (rc == 0) {
		if (top > e->sb.sequence)
			e->sb.sequence = top; /* write_super goes one past it */
		rc = extend_stores(e, end);
		if (rc == 0) {
			e->sb.logical_size = end;
			rc = write_super(e);
		}
		if (rc == 0)
			rc = sync_store(e, CSM_META);
	}
	sb_end(e);
	if (rc == 0) {
		atomic_store(&e->stale_super, false);
		res->stale_rebuilt = true;
		res->stale_size = end;
		csm_drop_cache(e);
	}
	return rc;
}

/* Whether the bytes of the last block past `size` (not block-aligned)
 * are zero as stored (or past the data store's end). */
static bool tail_is_zero(struct csm_engine *e, uint64_t size)
{
	const struct csm_geometry *geo = &e->geo;
	uint32_t bs = geo->block_size;
	uint64_t lblock = size >> geo->block_shift;
	uint8_t *buf = alloc_aligned(bs);
	if (!buf)
		return false;
	struct iovec v = {buf, bs};
	ssize_t got =
	        e->be.ops->preadv(e->be.ctx, CSM_DATA, &v, 1, csm_geo_data_offset(geo, lblock));
	bool zero = got >= 0;
	for (size_t i = size & (bs - 1); zero && i < (size_t)(got > 0 ? got : 0); i++)
		zero = buf[i] == 0;
	free(buf);
	return zero;
}

/* Whether brother mb marks any block written (a group whose brothers
 * recovery sealed over zeros it found is not one anybody wrote). */
static bool any_written(const struct csm_geometry *geo, const uint8_t *mb)
{
	for (uint32_t k = 0; k < geo->per_group; k++)
		if (csm_mb_written(geo, mb, k))
			return true;
	return false;
}

struct u64vec {
	uint64_t *v;
	size_t n, cap;
};

static int push(struct u64vec *a, uint64_t x)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 256;
		uint64_t *nv = realloc(a->v, cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		a->v = nv;
		a->cap = cap;
	}
	a->v[a->n++] = x;
	return 0;
}

/* opts.discard_lost: the lost groups in l (ascending) become never
 * written — their data zeroed (a bare group's leftover data would fail
 * as "not zero"), durably, then their bits cleared. */
static int discard_lost(struct csm_engine *e, const struct u64vec *l, uint64_t size,
                        struct csm_recovery *res)
{
	const struct csm_geometry *geo = &e->geo;
	uint64_t dend = csm_geo_data_store_size(geo, size), have = 0;
	int rc = e->be.ops->get_size(e->be.ctx, CSM_DATA, &have);
	if (rc == 0 && have < dend)
		dend = have;
	for (size_t i = 0; rc == 0 && i < l->n; i++) {
		uint64_t gno = l->v[i];
		uint64_t from = csm_geo_data_offset(geo, gno * geo->per_group);
		uint64_t to = from + ((uint64_t)geo->per_group << geo->block_shift);
		if (to > dend)
			to = dend;
		if (from < to)
			rc = e->be.ops->zero_range(e->be.ctx, CSM_DATA, from, to - from);
	}
	if (rc == 0)
		rc = sync_store(e, CSM_DATA);
	if (rc == 0) {
		rc = sb_begin(e);
		if (rc == 0)
			rc = rec_forget(e, l->v, l->n);
		sb_end(e);
	}
	if (rc == 0) {
		res->discarded_groups = l->n;
		csm_drop_cache(e); /* their `lost` marks */
	}
	return rc;
}

/* Caller holds the presence lock exclusively (or has no other process). */
int recover_locked(struct csm_engine *e, struct csm_recovery *res)
{
	const struct csm_geometry *geo = &e->geo;
	memset(res, 0, sizeof(*res));
	res->ran = true;
	csm_drop_cache(e);
	int rc = sb_begin(e); /* the size as stored */
	bool unclean = e->sb.state == CSM_STATE_UNCLEAN;
	uint8_t rec_boot[CSM_UUID_SIZE];
	memcpy(rec_boot, e->sb.boot_id, CSM_UUID_SIZE);
	sb_end(e);
	/* Only a power cut separates a write from its checksum; a file marked
	 * clean had nothing in flight at all.  v2 knows a restart happened
	 * from the boot id recorded with the unclean mark. */
	res->boot_differs = unclean && booted_since(e, rec_boot);
	res->restarted = unclean && (e->opts.after_power_loss || res->boot_differs);
	if (rc == 0 && atomic_load(&e->stale_super))
		rc = rebuild_stale(e, res);
	if (rc == 0)
		rc = mark_unclean(e); /* a crash during recovery: recover again */
	if (rc < 0)
		return rc;
	uint64_t size = csm_size(e);
	uint64_t nblocks = csm_geo_blocks(geo, size);
	uint64_t ngroups = csm_geo_groups(geo, size);
	/* v2: a lost tail.  Without a restart nothing explains it: reported,
	 * left failing, and the store not extended (which would turn it into
	 * zeros).  After one, the store is made whole again and verification
	 * (and re-sealing where allowed) decides block by block. */
	res->intact_size = e->v2 ? store_intact_size(e, size) : size;
	bool lost_tail = res->intact_size < size;
	if (lost_tail) {
		uint64_t kb = res->intact_size >> geo->block_shift;
		if (res->restarted) {
			/* The extension may not have been durable: each block
			 * of the range is verified (and re-sealed only where a
			 * power cut allows) like any other. */
			rc = extend_stores(e, size);
			if (rc < 0)
				return rc;
			lost_tail = false;
		} else {
			struct csm_event ev = {.kind = CSM_EV_MISSING,
			                       .group = kb / geo->per_group,
			                       .lblock = kb,
			                       .nblocks = nblocks - kb};
			report(e, &ev);
			ngroups = csm_geo_groups(geo, kb << geo->block_shift);
		}
	}
	uint8_t *buf = alloc_aligned(SCRUB_CHUNK);
	if (!buf)
		return -ENOMEM;
	/* WGREC: every group left with a valid brother, recorded written
	 * after the final sync (rec_mark skips those recorded already): a
	 * process that died before its first sync, or inside one before its
	 * record write, wrote groups no one else will record. */
	struct u64vec mark = {0};
	struct u64vec lost = {0}; /* opts.discard_lost: the losses to accept */
	/* The group of the last block: lost, it cannot be written (its bytes
	 * past the size are not rewritten below, its reads fail anyway). */
	uint64_t glast = nblocks ? (nblocks - 1) / geo->per_group : UINT64_MAX;
	bool last_lost = false;
	for (uint64_t gno = 0; rc == 0 && gno < ngroups;) {
		uint64_t next;
		if (group_is_hole(e, gno, ngroups, &next)) {
			/* WGREC: a hole recorded written is a loss; its bit
			 * stays (only a shrink past it clears it). */
			for (uint64_t x = gno; (x = rec_next_lost(e, x, next)) < next; x++) {
				res->lost_groups++;
				last_lost = last_lost || x == glast;
				if (e->opts.discard_lost && push(&lost, x) < 0)
					rc = -ENOMEM;
				struct csm_event ev = {.kind = CSM_EV_LOST,
				                       .group = x,
				                       .lblock = x * geo->per_group,
				                       .nblocks = geo->per_group};
				report(e, &ev);
			}
			gno = next;
			continue;
		}
		struct group *g = group_get(e, gno);
		if (!g) {
			rc = -ENOMEM;
			break;
		}
		rc = group_lock_update(e, g);
		if (rc == 0) {
			res->groups++;
			/* Dirty, a damaged brother, or data stored where no brother
			 * was ever written (a shrink's cut of the metadata landed,
			 * the data's did not). */
			bool bare = g->pair.newer < 0 && !g->pair.broken;
			if (g->lost) {
				/* Durable brothers gone (reported at load): no
				 * power cut explains it, so never rebuilt from
				 * whatever data is left. */
				res->lost_groups++;
				last_lost = last_lost || gno == glast;
				if (e->opts.discard_lost && push(&lost, gno) < 0)
					rc = -ENOMEM;
			} else if (g->pair.broken && !res->restarted) {
				/* Brothers are written whole: only a power cut
				 * tears both.  Left failing. */
				res->broken_groups++;
				struct csm_event ev = {.kind = CSM_EV_GROUP_BROKEN, .group = gno};
				report(e, &ev);
			} else if (group_dirty(g) || mb_damaged(g->pair.status[0]) ||
			           mb_damaged(g->pair.status[1]) || bare) {
				res->dirty_groups++;
				rc = recover_group(e, g, nblocks, buf,
				                   res->restarted || (bare && unclean), res);
			}
			if (rc == 0 && geo->wgrec && !g->lost && !g->pair.broken &&
			    g->pair.newer >= 0 && any_written(geo, g->slot[g->pair.newer]))
				rc = push(&mark, gno);
			group_unlock_update(e, g);
		}
		group_put(e, g);
		gno++;
	}
	free(buf);
	/* Accepted losses first: a discarded last group's bytes past the
	 * size are zeros by then. */
	if (rc == 0 && lost.n) {
		rc = discard_lost(e, &lost, size, res);
		last_lost = false; /* every loss was accepted */
	}
	free(lost.v);
	/* Bytes past the size may have landed while the size did not: make
	 * them zero and unwritten again (the invariant of size changes). */
	uint64_t bend = nblocks << geo->block_shift;
	if (rc == 0 && e->be.resizable && bend > size && !lost_tail &&
	    (last_lost || tail_is_zero(e, size))) {
		/* Already so (what a process crash leaves): rewriting them
		 * would verify the block first, and a rotten one would fail
		 * every recovery, the whole file refused for one block.  So
		 * would a lost last group's, which cannot be written: left
		 * as they are, its reads fail until it is discarded (zeroed)
		 * or cut. */
		bend = size;
	}
	if (rc == 0 && e->be.resizable && bend > size && !lost_tail) {
		static const uint8_t zeros[CSM_MAX_BLOCK];
		ssize_t w = write_run(e, zeros, size, (size_t)(bend - size), bend);
		rc = w < 0 ? (int)w : 0;
	}
	if (rc == 0 && e->be.resizable && !lost_tail) {
		/* Under the superblock lock: it also clears the written-group
		 * bits past the size a crashed shrink may have left. */
		rc = sb_begin(e);
		if (rc == 0)
			rc = set_store_sizes(e, size);
		sb_end(e);
	}
	if (rc == 0)
		rc = flush_windows(e, true, true);
	if (rc == 0 && mark.n)
		rc = rec_mark(e, mark.v, mark.n);
	free(mark.v);
	if (rc == 0) {
		rc = sb_begin(e);
		if (rc == 0) {
			e->sb.state = CSM_STATE_CLEAN;
			e->sb.writers = 0;     /* every writer's changes judged */
			e->sb.shrunk_from = 0; /* the stores cut to the size */
			rc = write_super(e);
			if (rc == 0)
				rc = sync_store(e, CSM_META);
			if (rc == 0)
				atomic_store(&e->unclean, false);
		}
		sb_end(e);
	}
	return rc;
}

int csm_recover(struct csm_engine *e, struct csm_recovery *res)
{
	memset(res, 0, sizeof(*res));
	if (e->opts.readonly)
		return (int)fail(-EBADF);
	/* Solo, the presence lock is ours alone already, and stays so. */
	pthread_mutex_lock(&e->presence_mu);
	bool excl = e->xproc && !atomic_load(&e->solo);
	if (excl) {
		int rc = e->be.ops->lock(e->be.ctx, CSM_LOCK_PRESENCE, F_WRLCK, false);
		if (rc < 0) {
			pthread_mutex_unlock(&e->presence_mu);
			return (int)fail(rc == -EAGAIN ? -EBUSY : rc);
		}
	}
	int rc = recover_locked(e, res);
	if (excl) /* back to shared: a downgrade cannot fail */
		e->be.ops->lock(e->be.ctx, CSM_LOCK_PRESENCE, F_RDLCK, false);
	pthread_mutex_unlock(&e->presence_mu);
	return rc < 0 ? (int)fail(rc) : 0;
}

int csm_upgrade(struct csm_engine *e)
{
	if (e->opts.readonly)
		return (int)fail(-EBADF);
	/* v2: only an aligned file without the written-group record. */
	bool rec = e->v2 && e->geo.aligned && !e->geo.wgrec;
	if (e->v2 && !rec)
		return (int)fail(-EALREADY);
	pthread_mutex_lock(&e->presence_mu);
	bool excl = e->xproc && !atomic_load(&e->solo);
	if (excl) {
		int rc = e->be.ops->lock(e->be.ctx, CSM_LOCK_PRESENCE, F_WRLCK, false);
		if (rc < 0) {
			pthread_mutex_unlock(&e->presence_mu);
			return (int)fail(rc == -EAGAIN ? -EBUSY : rc);
		}
	}
	int rc = sb_begin(e);
	if (rc == 0 && (e->sb.state != CSM_STATE_CLEAN || atomic_load(&e->unclean)))
		rc = -EUCLEAN; /* csumshim recover first */
	if (rc == 0)
		rc = sync_all(e, false);
	if (rc == 0 && rec) {
		rc = rec_upgrade(e);
		if (rc == 0)
			csm_drop_cache(e);
		goto done;
	}
	if (rc == 0) {
		/* The reach first (a v1 store may end short of its size where
		 * nothing was written); then the superblock commits. */
		e->v2 = true;
		rc = extend_stores(e, e->sb.logical_size);
		e->v2 = false;
	}
	if (rc == 0)
		rc = sync_all(e, false);
	if (rc == 0) {
		e->sb.version = CSM_VERSION;
		rc = write_super(e);
		if (rc == 0)
			rc = sync_store(e, CSM_META);
		if (rc == 0) {
			csm_geo_init_v(&e->geo, CSM_VERSION, e->sb.block_size, e->sb.algo,
			               e->sb.layout);
			e->v2 = true;
			atomic_store(&e->seq_durable, e->sb.sequence);
			csm_drop_cache(e);
		} else {
			e->sb.version = CSM_VERSION_1;
		}
	}
done:
	sb_end(e);
	if (excl)
		e->be.ops->lock(e->be.ctx, CSM_LOCK_PRESENCE, F_RDLCK, false);
	pthread_mutex_unlock(&e->presence_mu);
	return rc < 0 ? (int)fail(rc) : 0;
}

int csm_exclusive(struct csm_engine *e, bool on)
{
	if (!e->xproc || atomic_load(&e->solo))
		return 0;
	pthread_mutex_lock(&e->presence_mu);
	int rc = e->be.ops->lock(e->be.ctx, CSM_LOCK_PRESENCE, on ? F_WRLCK : F_RDLCK, false);
	pthread_mutex_unlock(&e->presence_mu);
	return rc < 0 ? (int)fail(rc == -EAGAIN ? -EBUSY : rc) : 0;
}

const struct csm_recovery *csm_open_recovery(const struct csm_engine *e)
{
	return &e->recovery;
}

void csm_recovery_summary(const struct csm_recovery *r, char *buf, size_t n)
{
	snprintf(buf, n,
	         "%llu of %llu groups were dirty, %llu blocks re-checked, %llu could not be "
	         "verified, %llu fail verification",
	         (unsigned long long)r->dirty_groups, (unsigned long long)r->groups,
	         (unsigned long long)r->blocks_checked, (unsigned long long)r->blocks_unverified,
	         (unsigned long long)(r->blocks_lost + r->blocks_bad));
}
