/*
 * Format, open and close.  csm_format writes a fresh superblock over
 * wiped stores; csm_open reads it, builds the engine and takes the
 * presence lock, recovering an unclean file when alone and then perhaps
 * going solo; csm_close marks the groups it dirtied clean and, last out,
 * the file, then frees the engine.  Relies on super.c, recover.c,
 * solo.c, fsync.c, locks.c for syncs and cache.c to free the entries.
 */
#define _GNU_SOURCE
#include "engine_int.h"
#include "errmsg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static void engine_free(struct csm_engine *e);

static int capacity_of(struct csm_backend *be, const struct csm_geometry *geo, uint64_t *cap)
{
	uint64_t d = 0, m = 0;
	int rc = be->ops->get_size(be->ctx, CSM_DATA, &d);
	if (rc == 0)
		rc = be->ops->get_size(be->ctx, CSM_META, &m);
	*cap = rc == 0 ? csm_geo_capacity_for(geo, d, m) : 0;
	return rc > 0 ? -EIO : rc;
}

int csm_format(struct csm_backend *be, const struct csm_format_opts *fo, char *err, size_t errlen)
{
	uint32_t bs = fo->block_size ? fo->block_size : 4096;
	unsigned algo = fo->algo ? fo->algo : CSM_ALGO_CRC32C;
	unsigned layout = fo->layout ? fo->layout : CSM_LAYOUT_INTERLEAVED;
	struct csm_geometry geo;
	if (!csm_block_size_valid(bs))
		return csm_errf(err, errlen, -EINVAL,
		                "invalid block size %u (must be 512, 1024, 2048 or 4096)", bs);
	if (!csm_algo_name(algo))
		return csm_errf(err, errlen, -EINVAL, "unknown checksum algorithm %u", algo);
	unsigned version = fo->version ? fo->version : CSM_VERSION;
	if (version != CSM_VERSION && version != CSM_VERSION_1)
		return csm_errf(err, errlen, -EINVAL, "unknown format version %u", version);
	uint32_t incompat = fo->unaligned ? 0 : csm_default_incompat(version, layout);
	if (!csm_geo_init_f(&geo, version, incompat, bs, algo, layout))
		return csm_errf(err, errlen, -EINVAL, "unknown layout %u", layout);

	uint64_t size = fo->size;
	if (!be->resizable || fo->use_capacity) {
		uint64_t cap = 0;
		int rc = capacity_of(be, &geo, &cap);
		if (rc < 0)
			return csm_errf(err, errlen, rc, "cannot get the device size: %s",
			                strerror(-rc));
		if (cap == 0)
			return csm_errf(
			        err, errlen, -ENOSPC,
			        "device too small: it cannot hold the header and one block");
		if (fo->use_capacity)
			size = cap;
		else if (size > cap)
			return csm_errf(err, errlen, -ENOSPC,
			                "size %llu exceeds what the device can hold (%llu bytes)",
			                (unsigned long long)size, (unsigned long long)cap);
	}
	if (size > CSM_MAX_LOGICAL_SIZE)
		return csm_errf(err, errlen, -EFBIG, "size %llu too large (at most %llu bytes)",
		                (unsigned long long)size, (unsigned long long)CSM_MAX_LOGICAL_SIZE);

	struct csm_super sb;
	memset(&sb, 0, sizeof(sb));
	sb.version = fo->version ? fo->version : CSM_VERSION;
	if (fo->uuid) {
		memcpy(sb.uuid, fo->uuid, CSM_UUID_SIZE);
	} else if (getrandom(sb.uuid, CSM_UUID_SIZE, 0) != CSM_UUID_SIZE) {
		return csm_errf(err, errlen, -errno, "getrandom: %s", strerror(errno));
	}
	sb.block_size = bs;
	sb.per_group = geo.per_group;
	sb.algo = (uint8_t)algo;
	sb.layout = (uint8_t)layout;
	sb.state = CSM_STATE_CLEAN;
	sb.header_size = CSM_HEADER_SIZE;
	sb.incompat = incompat;
	sb.logical_size = size;
	sb.sequence = 1;
	sb.format_time = (uint64_t)time(NULL);

	/* Wipe what was there in O(1): truncate files, discard devices. */
	int rc = 0;
	uint64_t dsz = csm_geo_data_store_size(&geo, size);
	uint64_t msz = csm_geo_meta_store_size(&geo, size);
	if (be->resizable) {
		rc = be->ops->set_size(be->ctx, CSM_META, 0);
		if (rc == 0 && layout == CSM_LAYOUT_SEPARATE)
			rc = be->ops->set_size(be->ctx, CSM_DATA, 0);
		if (rc == 0 && layout == CSM_LAYOUT_SEPARATE)
			rc = be->ops->set_size(be->ctx, CSM_DATA, dsz);
		if (rc == 0)
			rc = be->ops->set_size(be->ctx, CSM_META, msz);
	} else {
		rc = be->ops->zero_range(be->ctx, CSM_META, 0, msz);
		if (rc == 0 && layout == CSM_LAYOUT_SEPARATE)
			rc = be->ops->zero_range(be->ctx, CSM_DATA, 0, dsz);
	}
	if (rc < 0)
		return csm_errf(err, errlen, rc, "cannot prepare the storage: %s", strerror(-rc));
	rc = write_header(be, &sb);
	if (rc == 0)
		rc = be->ops->sync(be->ctx, CSM_META, false);
	if (rc == 0 && layout == CSM_LAYOUT_SEPARATE)
		rc = be->ops->sync(be->ctx, CSM_DATA, false);
	if (rc < 0)
		return csm_errf(err, errlen, rc, "cannot write the superblock: %s", strerror(-rc));
	return 0;
}

static int sb_errno(enum csm_sb_err se)
{
	switch (se) {
	case CSM_SB_BAD_MAGIC:
		return -EMEDIUMTYPE;
	case CSM_SB_BAD_VERSION:
	case CSM_SB_BAD_INCOMPAT:
		return -ENOTSUP;
	default:
		return -EUCLEAN;
	}
}

/* Whether a sampled block fails verification against the metadata: 1 if
 * its data is not a content the brothers allow, 0 if it is, or if the
 * sample proves nothing (its brothers or data lie past the end of a
 * store, or the brothers are damaged: reported by the reads as such). */
static int sample_fails(struct csm_engine *e, uint64_t lblock, uint8_t *buf)
{
	const struct csm_geometry *geo = &e->geo;
	uint32_t bs = geo->block_size;
	uint64_t gno = csm_geo_group_of(geo, lblock), size = e->sb.logical_size;
	struct iovec mv[1] = {{buf, (size_t)2 * bs}};
	int rc = store_readv_need(e, CSM_META, mv, 1, csm_geo_meta_offset(geo, gno, 0),
	                          (size_t)2 * bs);
	if (rc < 0)
		return rc == -ENODATA ? 0 : rc;
	uint64_t gen[2] = {0, 0};
	enum csm_mb_status st[2];
	for (int i = 0; i < 2; i++)
		st[i] = csm_mb_check(geo, e->sb.uuid, buf + (size_t)i * bs, gno, &gen[i]);
	struct group g;
	memset(&g, 0, sizeof(g));
	csm_pair_choose(&g.pair, st[0], gen[0], st[1], gen[1]);
	g.slot[0] = buf;
	g.slot[1] = buf + bs;
	/* A group an unclean file was writing may hold a torn block that
	 * recovery is there to judge. */
	if (g.pair.broken || (e->sb.state == CSM_STATE_UNCLEAN && group_dirty(&g)))
		return 0;
	uint8_t *data = buf + (size_t)2 * bs;
	uint64_t start = lblock * bs;
	size_t need = size - start < bs ? (size_t)(size - start) : bs;
	struct iovec dv[1] = {{data, bs}};
	rc = store_readv_need(e, CSM_DATA, dv, 1, csm_geo_data_offset(geo, lblock), need);
	if (rc < 0)
		return rc == -ENODATA ? 0 : rc;
	memset(data + need, 0, bs - need); /* past the size: zeros by definition */
	int kind = verify_block(e, &g, lblock, data);
	return kind == CSM_EV_DATA_MISMATCH || kind == CSM_EV_NONZERO_UNWRITTEN;
}

/* v2 separate layout, a data file of dsize bytes, longer than the size:
 * must the data past the size be zeros?  Clean: the data file is cut to
 * the size, so anything else there was never csumshim's.  Unclean, no
 * restart since: a growth cut short leaves zeros there, and a shrink
 * killed before its data cut leaves data its superblock explains (no
 * longer than the store of the size it shrank from, which recovery cuts);
 * anything else was never csumshim's either.  After a restart recovery
 * judges it. */
bool past_size_must_be_zero(struct csm_engine *e, uint64_t dsize)
{
	const struct csm_geometry *geo = &e->geo;
	if (!e->v2 || dsize <= e->sb.logical_size)
		return false;
	if (e->sb.state == CSM_STATE_CLEAN)
		return true;
	bool shrink_left =
	        e->sb.shrunk_from && dsize <= csm_geo_data_store_size(geo, e->sb.shrunk_from);
	return !shrink_left && !e->opts.after_power_loss && !booted_since(e, e->sb.boot_id);
}

int past_size_zero(struct csm_engine *e, uint64_t from, uint64_t to)
{
	enum { CHUNK = 1 << 16 };
	uint8_t *buf = alloc_aligned(CHUNK);
	if (!buf)
		return -ENOMEM;
	int rc = 1;
	uint64_t off = from & ~(uint64_t)(ALIGN - 1);
	while (rc == 1 && off < to) {
		uint64_t d = off;
		if (e->be.ops->next_data) {
			int r = e->be.ops->next_data(e->be.ctx, CSM_DATA, off, &d);
			if (r == -ENXIO)
				break; /* holes to the end */
			if (r < 0)
				d = off;
			d &= ~(uint64_t)(ALIGN - 1);
			if (d < off)
				d = off;
		}
		if (d >= to)
			break;
		size_t want = to - d < CHUNK ? (size_t)(to - d) : CHUNK;
		/* whole aligned units: the store may be opened O_DIRECT */
		size_t len = (want + ALIGN - 1) & ~(size_t)(ALIGN - 1);
		struct iovec v = {buf, len};
		ssize_t got = e->be.ops->preadv(e->be.ctx, CSM_DATA, &v, 1, d);
		if (got < 0) {
			rc = (int)got;
			break;
		}
		if (got == 0)
			break;
		size_t n = (size_t)got < want ? (size_t)got : want;
		size_t skip = d < from ? (size_t)(from - d) : 0;
		for (size_t i = skip; i < n; i++)
			if (buf[i]) {
				rc = 0;
				break;
			}
		off = d + n;
	}
	free(buf);
	return rc;
}

/* The separate layout's pair (opts.check_pair): does the metadata file
 * describe this data file?  Called while nobody else has the file open,
 * before recovery (which must not re-seal another file's data).  0, or
 * -EIO with err set. */
static int check_pair_once(struct csm_engine *e, char *err, size_t errlen)
{
	const struct csm_geometry *geo = &e->geo;
	uint64_t size = e->sb.logical_size, dsize = 0;
	int rc = e->be.ops->get_size(e->be.ctx, CSM_DATA, &dsize);
	if (rc < 0)
		return csm_errf(err, errlen, rc, "cannot get the data file's size: %s",
		                strerror(-rc));
	/* v2 stores reach the size and a clean file's data store is cut to
	 * it: data past it was never csumshim's.  Zeros past it are what a
	 * growth whose size write failed left (an older csumshim marked such
	 * a file clean as it was): nothing is read there, and the blocks are
	 * sampled below.  Unclean, data there is either what a shrink killed
	 * between storing the smaller size and cutting the data file left, or
	 * data the metadata never knew of (metadata copied while the file was
	 * open, then restored over a grown file), which recovery would cut
	 * away: past_size_must_be_zero tells them apart by the size the
	 * shrink's superblock says it shrank from.  The rest is refused
	 * (`csumshim recover` would cut it, the message says). */
	if (past_size_must_be_zero(e, dsize)) {
		rc = past_size_zero(e, size, dsize);
		if (rc < 0)
			return csm_errf(err, errlen, rc, "cannot read the data file: %s",
			                strerror(-rc));
		if (rc == 0 && e->sb.state == CSM_STATE_CLEAN)
			return csm_errf(err, errlen, -EIO,
			                "the data file holds %llu bytes but its metadata file "
			                "describes %llu: the metadata of another file, or data "
			                "written without csumshim; refused",
			                (unsigned long long)dsize, (unsigned long long)size);
		if (rc == 0)
			return csm_errf(err, errlen, -EIO,
			                "the data file holds %llu bytes, data past the %llu its "
			                "metadata file describes (not closed cleanly), more than "
			                "any recorded truncate explains: data written without "
			                "csumshim, or the metadata of another file or of an older "
			                "copy of this one; refused ('csumshim recover' would cut "
			                "the data file to that size, losing what lies past it)",
			                (unsigned long long)dsize, (unsigned long long)size);
	}
	/* The last block the data file holds whole (a shorter one is a lost
	 * tail, which its reads report). */
	uint64_t nblocks = csm_geo_blocks(geo, size);
	uint64_t last = dsize < size ? dsize / geo->block_size : nblocks;
	if (last < 2) /* one block: its reads say it */
		return 0;
	uint8_t *buf = alloc_aligned((size_t)3 * geo->block_size);
	if (!buf)
		return csm_errf(err, errlen, -ENOMEM, "out of memory");
	uint64_t sample[2] = {0, last - 1};
	int bad = 0;
	for (int i = 0; i < 2 && rc >= 0; i++) {
		rc = sample_fails(e, sample[i], buf);
		bad += rc > 0;
	}
	free(buf);
	if (rc < 0)
		return csm_errf(err, errlen, rc, "cannot read the metadata: %s", strerror(-rc));
	/* Bit rot takes a block; another file's metadata fails them all. */
	if (bad == 2)
		return csm_errf(err, errlen, -EIO,
		                "the metadata file does not describe this data file: its first "
		                "and last blocks (0 and %llu) both fail verification (the "
		                "metadata of another file, or the data file replaced); refused",
		                (unsigned long long)(last - 1));
	return 0;
}

/* check_pair_once, but a read-only engine holds the presence lock shared
 * only: a writer opening after it found itself alone is not kept out, and
 * what it saw may be that writer's append or write.  A writer's first
 * change to a clean file is the unclean mark, and data lands past the
 * size only after the size is stored: a superblock that moved since it
 * was read says so, and the pair is then left to the block reads (the
 * writer got in without the check too) rather than refused. */
static int check_pair(struct csm_engine *e, char *err, size_t errlen)
{
	int rc = check_pair_once(e, err, errlen);
	struct csm_super now;
	if (rc < 0 && e->opts.readonly && read_super(&e->be, &now) == 0 &&
	    now.sequence != e->sb.sequence)
		return 0;
	return rc;
}

int csm_open(struct csm_backend *be, const struct csm_engine_opts *opts, struct csm_engine **out,
             char *err, size_t errlen)
{
	struct csm_super sb;
	*out = NULL;
	int io, rc;
	/* No lock yet: a writer may be rewriting it (load_super). */
	enum csm_sb_err se = load_super(be, &sb, &io);
	if (io < 0) {
		rc = csm_errf(err, errlen, io, "cannot read the superblock: %s", strerror(-io));
		goto fail_be;
	}
	if (se != CSM_SB_OK) {
		rc = csm_errf(err, errlen, sb_errno(se), "%s", csm_sb_strerror(se));
		goto fail_be;
	}
	/* Trusting the wrong layout would put brothers and zeros at wrong
	 * offsets of the data. */
	if ((sb.layout == CSM_LAYOUT_SEPARATE) != be->two_stores) {
		rc = csm_errf(err, errlen, -EUCLEAN,
		              be->two_stores ? "the metadata file's superblock says the layout is "
		                               "interleaved (one file), not separate"
		                             : "the superblock says the layout is separate (a "
		                               "metadata file), not interleaved");
		goto fail_be;
	}
	struct csm_engine *e = calloc(1, sizeof(*e));
	if (!e) {
		rc = csm_errf(err, errlen, -ENOMEM, "out of memory");
		goto fail_be;
	}
	e->be = *be;
	e->sb = sb;
	/* validated by decode */
	csm_geo_init_f(&e->geo, sb.version, sb.incompat, sb.block_size, sb.algo, sb.layout);
	e->v2 = sb.version >= 2;
	/* The header's records (record.c), kept with the superblock. */
	e->hdr = alloc_aligned(CSM_HEADER_SIZE);
	rc = e->hdr ? 0 : -ENOMEM;
	if (rc == 0) {
		memset(e->hdr, 0, CSM_HEADER_SIZE);
		rc = rec_load_hdr(e);
	}
	if (rc < 0) {
		rc = csm_errf(err, errlen, rc, "cannot read the header: %s", strerror(-rc));
		goto fail_early;
	}
	csm_hasher_init(&e->hasher, sb.algo, sb.uuid);
	if (opts)
		e->opts = *opts;
	if (!be->resizable) {
		rc = capacity_of(be, &e->geo, &e->capacity);
		if (rc < 0) {
			csm_errf(err, errlen, rc, "cannot get the device size: %s", strerror(-rc));
			goto fail_early;
		}
		if (sb.logical_size > e->capacity) {
			rc = csm_errf(err, errlen, -EUCLEAN,
			              "device holds %llu bytes but was formatted for %llu",
			              (unsigned long long)e->capacity,
			              (unsigned long long)sb.logical_size);
			goto fail_early;
		}
		e->capacity = sb.logical_size;
	}
	atomic_init(&e->size, sb.logical_size);
	e->size_seq = sb.sequence;
	atomic_init(&e->seq_seen, sb.sequence);
	/* A clean mark is synced; an unclean file's last writes may not be. */
	atomic_init(&e->seq_durable, sb.state == CSM_STATE_CLEAN ? sb.sequence : 0);
	atomic_init(&e->stale_super, false);
	atomic_init(&e->unclean, false);
	atomic_init(&e->window, 1);
	e->xproc = be->ops->lock != NULL;
	e->strict = e->opts.durability == CSM_DURABILITY_STRICT;
	pthread_mutex_init(&e->resize_mu, NULL);
	pthread_mutex_init(&e->size_mu, NULL);
	atomic_init(&e->shrink_from, NO_SHRINK);
	pthread_mutex_init(&e->first_mu, NULL);
	pthread_mutex_init(&e->presence_mu, NULL);
	e->solo_ok = e->xproc && !e->opts.readonly && !e->opts.no_solo && !be->remote;
	pthread_mutex_init(&e->win_mu, NULL);
	pthread_mutex_init(&e->fsync_mu, NULL);
	for (int i = 0; i < 2; i++) {
		pthread_mutex_init(&e->syncs[i].mu, NULL);
		pthread_cond_init(&e->syncs[i].cv, NULL);
	}
	size_t cache = e->opts.cache_bytes ? e->opts.cache_bytes : CSM_DEFAULT_CACHE;
	size_t per_entry = 2 * (size_t)ALIGN + sizeof(struct group);
	e->max_per_shard = cache / per_entry / NSHARDS;
	if (e->max_per_shard == 0)
		e->max_per_shard = 1;
	for (int i = 0; i < NSHARDS; i++)
		pthread_mutex_init(&e->shards[i].mu, NULL);

	/* Presence: every open engine holds it shared.  The first to open
	 * after everyone closed holds it alone, and recovers an unclean file
	 * before anyone else gets in. */
	bool alone = true;
	if (e->xproc) {
		/* A read-only descriptor cannot hold write locks. */
		rc = e->opts.readonly ? -EAGAIN
		                      : be->ops->lock(be->ctx, CSM_LOCK_PRESENCE, F_WRLCK, false);
		if (rc == -EAGAIN) {
			/* Held by others; if by one solo engine, knock so that it
			 * steps aside (its watcher polls the knock lock). */
			alone = false;
			int k = be->ops->lock(be->ctx, CSM_LOCK_KNOCK, F_RDLCK, true);
			rc = be->ops->lock(be->ctx, CSM_LOCK_PRESENCE, F_RDLCK, true);
			if (k == 0)
				be->ops->lock(be->ctx, CSM_LOCK_KNOCK, F_UNLCK, false);
		}
		if (rc == 0)
			rc = read_super(be, &sb); /* maybe changed while we waited */
		if (rc == 0)
			rc = rec_load_hdr(e); /* and the header's records with it */
		if (rc < 0) {
			csm_errf(err, errlen, rc, "cannot lock the file: %s", strerror(-rc));
			goto fail_engine;
		}
		take_super(e, &sb);
		/* A read-only engine holds the presence lock shared only; it is
		 * alone if no other engine holds it too. */
		if (e->opts.readonly)
			alone = be->ops->lock_test &&
			        be->ops->lock_test(be->ctx, CSM_LOCK_PRESENCE, F_WRLCK) == 0;
	}
	/* v2: a superblock older than its metadata is refused for I/O until
	 * csumshim recover rebuilds it; automatic recovery does not. */
	if (e->v2) {
		rc = check_stale_super(e);
		if (rc < 0) {
			csm_errf(err, errlen, rc, "cannot read the metadata: %s", strerror(-rc));
			goto fail_engine;
		}
	}
	bool stale = atomic_load(&e->stale_super);
	if (alone && e->opts.check_pair && e->be.two_stores && e->be.resizable && !stale) {
		rc = check_pair(e, err, errlen);
		if (rc < 0)
			goto fail_engine;
	}
	/* Unclean, and nobody else has it: left by a crash.  A read-only
	 * engine (or one told not to) leaves it as it is; its reads accept
	 * what recovery would keep (a block matching either brother). */
	e->recovery.skipped = alone && e->sb.state == CSM_STATE_UNCLEAN &&
	                      (e->opts.readonly || e->opts.no_recover || stale);
	if (alone && e->sb.state == CSM_STATE_UNCLEAN && !e->opts.readonly && !e->opts.no_recover &&
	    !stale) {
		rc = recover_locked(e, &e->recovery);
		if (rc < 0) {
			csm_errf(err, errlen, rc, "recovery after an unclean shutdown failed: %s",
			         strerror(-rc));
			goto fail_engine;
		}
	}
	if (e->xproc && alone && !e->opts.readonly) {
		if (e->solo_ok)
			solo_try(e, true); /* leaves it shared if it does not go solo */
		else
			be->ops->lock(be->ctx, CSM_LOCK_PRESENCE, F_RDLCK, false);
	}
	*out = e;
	return 0;
fail_engine:
	engine_free(e);
	return rc;
fail_early: /* before the engine's locks and lists were made */
	free(e->hdr);
	free(e);
fail_be:
	csm_backend_destroy(be);
	return rc;
}

void csm_abandon(struct csm_engine *e)
{
	csm_backend_destroy(&e->be);
}

/* Tells the caller what a recovery at the last close found, as the open's
 * result (csm_open_recovery) tells of one at the open: the engine is gone
 * once csm_close returns. */
static void report_recovered(struct csm_engine *e)
{
	char detail[200];
	csm_recovery_summary(&e->recovery, detail, sizeof(detail));
	struct csm_event ev = {.kind = CSM_EV_RECOVERED, .detail = detail};
	report(e, &ev);
}

/* What closing leaves on storage: every update synced, the groups this
 * engine dirtied clean, and — by the last engine out — the file clean.
 * closing: no other thread uses the engine (csm_close, csm_exit_sole; not
 * csm_exit), so the last one out may run a recovery. */
static int sign_off(struct csm_engine *e, bool closing)
{
	int rc = 0;
	if (!e->opts.readonly && atomic_load(&e->unclean))
		rc = flush_windows(e, false, true); /* sync, then every group we dirtied clean */
	/* The last one out marks the file clean (after a sync: processes that
	 * died holding it may have left writes in the page cache). */
	bool last = !e->opts.readonly && (!e->xproc || e->be.ops->lock(e->be.ctx, CSM_LOCK_PRESENCE,
	                                                               F_WRLCK, false) == 0);
	/* v2, a superblock older than its metadata: every I/O was refused,
	 * and its size is not the file's.  Left as found for csumshim
	 * recover: a clean mark would bury the staleness (the size as stored
	 * taken for the file's), a cut would drop the data past it. */
	if (atomic_load(&e->stale_super))
		last = false;
	/* v2: this engine's changes are signed off (synced above): one writer
	 * fewer on storage.  A count left above zero by the last one out is a
	 * writer that died with changes nobody has judged or recorded (a group
	 * it wrote before any sync is in no record): recovered here, alone, as
	 * the next open alone would (which is left to do it when this is a
	 * process's exit, other threads perhaps still running). */
	bool mine = rc == 0 && e->v2 && !e->opts.readonly && atomic_load(&e->unclean) &&
	            !atomic_load(&e->stale_super);
	if (rc == 0 && (last || mine)) {
		rc = sb_begin(e);
		if (rc == 0 && mine && e->sb.writers > 0)
			e->sb.writers--;
		bool orphaned = e->v2 && e->sb.writers > 0;
		bool recover = rc == 0 && last && orphaned && e->sb.state != CSM_STATE_CLEAN;
		/* (Told not to recover — csumshim's own tools but recover —
		 * it leaves the file unclean, as it found a dead writer's.) */
		bool now = recover && closing && !e->opts.no_recover;
		if (recover && e->opts.trace)
			tracef(e, "last out, %u writer(s) never signed off: %s", e->sb.writers,
			       now ? "recovering" : "left unclean");
		if (rc == 0 && (!last || orphaned || e->sb.state == CSM_STATE_CLEAN)) {
			if (mine && e->sb.state != CSM_STATE_CLEAN)
				rc = write_super(e); /* the count, one less */
			if (rc == 0 && mine)         /* a write after this counts again */
				atomic_store(&e->unclean, false);
		} else if (rc == 0) {
			/* As recovery does: a killed shrink's stores cut (a
			 * clean separate data file is exactly the size, which
			 * check_pair relies on). */
			rc = cut_stale_stores(e);
			/* WGREC: a shrink whose clearing failed left bits past
			 * the size; a clean file holds none (record.c). */
			if (rc == 0)
				rc = rec_clear_from(e, e->sb.logical_size);
			if (rc == 0)
				rc = sync_all(e, false);
			if (rc == 0) {
				e->sb.state = CSM_STATE_CLEAN;
				rc = write_super(e);
			}
			if (rc == 0)
				rc = sync_now(e, CSM_META, false);
			if (rc == 0) /* a write after this marks it unclean again */
				atomic_store(&e->unclean, false);
		}
		sb_end(e);
		if (now && rc == 0)
			rc = recover_locked(e, &e->recovery);
		if (now && rc == 0 && e->recovery.ran)
			report_recovered(e);
	}
	return rc;
}

int csm_close(struct csm_engine *e)
{
	int rc = 0;
	if (e->solo_ok) { /* out of the watcher's reach; solo or not, it stays so */
		pthread_once(&watch_once, watch_init);
		pthread_mutex_lock(&watch.mu);
		watch_unlink(e);
		e->w_closing = true;
		pthread_mutex_unlock(&watch.mu);
	}
	rc = sign_off(e, true);
	engine_free(e);
	return rc < 0 ? (int)fail(rc) : 0;
}

int csm_exit(struct csm_engine *e)
{
	int rc = sign_off(e, false);
	return rc < 0 ? (int)fail(rc) : 0;
}

int csm_exit_sole(struct csm_engine *e)
{
	int rc = sign_off(e, true);
	return rc < 0 ? (int)fail(rc) : 0;
}

static void engine_free(struct csm_engine *e)
{
	for (int i = 0; i < NSHARDS; i++) {
		struct shard *s = &e->shards[i];
		HASH_CLEAR(hh, s->table); /* frees the buckets, not the entries */
		for (struct group *g = s->head, *next; g; g = next) {
			next = g->next; /* every entry is on the LRU list */
			group_free(g);
		}
		pthread_mutex_destroy(&s->mu);
	}
	pthread_mutex_destroy(&e->resize_mu);
	pthread_mutex_destroy(&e->size_mu);
	pthread_mutex_destroy(&e->first_mu);
	pthread_mutex_destroy(&e->presence_mu);
	pthread_mutex_destroy(&e->win_mu);
	pthread_mutex_destroy(&e->fsync_mu);
	for (int i = 0; i < 2; i++) {
		pthread_mutex_destroy(&e->syncs[i].mu);
		pthread_cond_destroy(&e->syncs[i].cv);
	}
	free(e->win_cur.v);
	free(e->win_prev.v);
	csm_backend_destroy(&e->be); /* closes the descriptors: locks go with them */
	free(e->hdr);
	free(e);
}

const struct csm_geometry *csm_geometry(const struct csm_engine *e)
{
	return &e->geo;
}
