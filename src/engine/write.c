/*
 * The write path.  A run is the part of a transfer inside one group: whole
 * blocks in place, partial ones through bounce buffers.  A write copies
 * the data, builds the group's next brother with the new checksums and
 * publishes it before writing the data (the write protocol in
 * engine_int.h); partial blocks are read and verified first (rmw_load),
 * and a brother the last crash may have left ahead of its data is settled
 * (settle_group).  Also clear_run, which unmarks blocks for zero ranges
 * and shrinks, and csm_pwrite and csm_append.  Relies on cache.c for group
 * locks, read.c for verification, super.c and size.c for the size, locks.c
 * for syncs, and fsync.c to note dirtied groups.
 */
#define _GNU_SOURCE
#include "engine_int.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define CSM_MAX_PER_GROUP 1024
/* Largest piece of a write copied, hashed and written at once. */
#define WRITE_CHUNK ((size_t)1 << 20)

/* Each thread's copy of the data it is writing: the checksum must be of
 * the bytes written, and a program may change its buffer while the write
 * is in progress (PostgreSQL sets hint bits in a page another process is
 * writing out).  Freed when the thread ends. */
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static __thread uint8_t *tl_scratch;
static __thread size_t tl_scratch_cap;

static void scratch_init(void)
{
	(void)pthread_key_create(&scratch_key, free);
}

static uint8_t *scratch(size_t n)
{
	if (n <= tl_scratch_cap)
		return tl_scratch;
	pthread_once(&scratch_once, scratch_init);
	size_t cap = n < 65536 ? 65536 : (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
	uint8_t *b = alloc_aligned(cap);
	if (!b)
		return NULL;
	free(tl_scratch);
	tl_scratch = b;
	tl_scratch_cap = cap;
	(void)pthread_setspecific(scratch_key, b);
	return b;
}

void run_init(const struct csm_geometry *geo, struct run *r, uint64_t pos, size_t len)
{
	uint32_t bs = geo->block_size;
	r->pos = pos;
	r->len = len;
	r->first = pos >> geo->block_shift;
	r->last = (pos + len - 1) >> geo->block_shift;
	r->gno = csm_geo_group_of(geo, r->first);
	r->head = (size_t)(pos & (bs - 1));
	r->endoff = (size_t)((pos + len) & (bs - 1));
	r->head_bounce = r->head != 0 || (r->first == r->last && r->endoff != 0);
	r->tail_bounce = r->last != r->first && r->endoff != 0;
}

int run_iov(const struct csm_geometry *geo, const struct run *r, struct iovec *iov, uint8_t *user,
            uint8_t *b0, uint8_t *b1)
{
	uint32_t bs = geo->block_size;
	int n = 0;
	uint64_t mid_first = r->first + (r->head_bounce ? 1 : 0);
	uint64_t mid_last = r->last - (r->tail_bounce ? 1 : 0);
	if (r->head_bounce)
		iov[n++] = (struct iovec){b0, bs};
	if (mid_first <= mid_last && !(r->head_bounce && r->first == r->last))
		iov[n++] = (struct iovec){user + ((mid_first << geo->block_shift) - r->pos),
		                          (size_t)(mid_last - mid_first + 1) << geo->block_shift};
	if (r->tail_bounce)
		iov[n++] = (struct iovec){b1, bs};
	return n;
}

/* Read block k into b and verify it (read-modify-write).  Group locked. */
static int rmw_load(struct csm_engine *e, struct group *g, uint64_t k, uint8_t *b, uint64_t size)
{
	int rc = store_read(e, CSM_DATA, b, e->geo.block_size, csm_geo_data_offset(&e->geo, k));
	if (rc < 0) {
		report_io(e, g->gno, rc);
		return rc;
	}
	int kind = verify_block(e, g, k, b);
	if (kind && !e->opts.log_only) {
		/* As in read_run: the cache may be stale; reload once. */
		rc = group_load(e, g);
		if (rc < 0)
			return rc;
		if (g->pair.broken)
			return -EIO;
		rc = settle_group(e, g, k, k, size); /* a fresh load may hold a cut-off update */
		if (rc < 0)
			return rc;
		kind = verify_block(e, g, k, b);
	}
	if (kind) {
		report_block(e, kind, k);
		if (!e->opts.log_only)
			return -EIO;
	}
	return 0;
}

/* Before a new brother is built from the newer one, make sure the newer's
 * tuples describe what is stored.  For each block (outside [skip_first,
 * skip_last], which the caller replaces) where the brothers differ — the
 * blocks of the last update, which a crash may have cut short — read the
 * data, and if only the older brother's tuple matches, adopt it in memory.
 * Without this, the next update would copy the unlanded tuple forward and
 * the older brother, overwritten, could no longer vouch for the old data.
 * Blocks past the size are left as the newer has them: a shrink unmarks
 * the dropped blocks of its new last group before it stores the size and
 * cuts the stores, so killed in between it leaves the older brother
 * vouching for data still there, which the cut then takes away (adopted,
 * a regrowth would read them as a mismatch, not zeros).  size: the
 * current size (current_size), or UINT64_MAX to ask for it here.
 * Group locked exclusive. */
int settle_group(struct csm_engine *e, struct group *g, uint64_t skip_first, uint64_t skip_last,
                 uint64_t size)
{
	if (g->settled)
		return 0;
	const struct csm_geometry *geo = &e->geo;
	uint8_t b[CSM_MAX_BLOCK] __attribute__((aligned(ALIGN)));
	uint8_t *nw = g->slot[g->pair.newer], *od = g->slot[1 - g->pair.newer];
	bool asked = size != UINT64_MAX;
	for (uint32_t idx = 0; idx < geo->per_group; idx++) {
		uint64_t k = g->gno * geo->per_group + idx;
		if ((k >= skip_first && k <= skip_last) || csm_mb_same(geo, nw, od, idx))
			continue;
		if (!asked) { /* at the first block that differs */
			asked = true;
			if (current_size(e, g, &size) < 0)
				size = UINT64_MAX; /* unknown: every block, as before */
		}
		if (size != UINT64_MAX && k >= csm_geo_blocks(geo, size))
			continue;
		int rc = store_read(e, CSM_DATA, b, geo->block_size, csm_geo_data_offset(geo, k));
		if (rc < 0) {
			report_io(e, g->gno, rc);
			return rc;
		}
		uint64_t c = 0;
		bool have = false;
		if (tuple_matches(e, nw, idx, k, b, &c, &have) ||
		    !tuple_matches(e, od, idx, k, b, &c, &have))
			continue; /* newer is right, or neither is (reads will say) */
		if (e->opts.trace)
			tracef(e, "settle block %llu: newer %08x -> older's %08x (data %08x)",
			       (unsigned long long)k, (unsigned)csm_mb_tuple(geo, nw, idx),
			       (unsigned)csm_mb_tuple(geo, od, idx), (unsigned)c);
		if (csm_mb_written(geo, od, idx))
			csm_mb_set(geo, nw, idx, csm_mb_tuple(geo, od, idx));
		else
			csm_mb_clear(geo, nw, idx);
	}
	g->settled = true;
	return 0;
}

/* Start the next brother in the older slot as a copy of the newer one (or
 * fresh); the caller edits tuples, then publish_meta() seals and writes it
 * and makes it the newer. */
void begin_meta(struct csm_engine *e, struct group *g, uint8_t **mb_out, int *slot_out)
{
	const struct csm_geometry *geo = &e->geo;
	int n = g->pair.newer;
	int o = n < 0 ? 0 : 1 - n;
	uint8_t *m = g->slot[o];
	if (n < 0)
		csm_mb_init(geo, m, g->gno);
	else
		memcpy(m, g->slot[n], geo->block_size);
	*mb_out = m;
	*slot_out = o;
}

static int publish_meta_how(struct csm_engine *e, struct group *g, int o, bool durable)
{
	const struct csm_geometry *geo = &e->geo;
	int n = g->pair.newer;
	uint64_t gen = (n < 0 ? 0 : g->pair.gen[n]) + 1;
	if (e->v2) /* the newest superblock known durable */
		csm_mb_set_epoch(g->slot[o],
		                 atomic_load_explicit(&e->seq_durable, memory_order_acquire));
	csm_mb_seal(geo, e->sb.uuid, g->slot[o], gen);
	uint64_t at = csm_geo_meta_offset(geo, g->gno, o);
	int rc;
	if (durable && e->be.ops->pwritev_durable) {
		struct iovec v = {g->slot[o], geo->block_size};
		ssize_t w = e->be.ops->pwritev_durable(e->be.ctx, CSM_META, &v, 1, at);
		rc = w < 0 ? (int)w : (size_t)w == geo->block_size ? 0 : -EIO;
		if (rc == 0)
			atomic_fetch_add(&e->n_syncs, 1);
	} else {
		rc = store_write(e, CSM_META, g->slot[o], geo->block_size, at);
		if (rc == 0 && durable)
			rc = sync_store(e, CSM_META);
	}
	if (rc < 0) {
		report_io(e, g->gno, rc);
		g->loaded = false; /* slot o in memory no longer matches disk */
		return rc;
	}
	g->pair.status[o] = CSM_MB_VALID;
	g->pair.gen[o] = gen;
	g->pair.newer = o;
	g->pair.older_ok = true; /* the previous newer is exactly gen - 1 */
	if (e->opts.trace) {
		char t[520];
		trace_tuples(e, g->slot[o], t, sizeof(t));
		tracef(e, "meta group %llu slot %d gen %llu flags %u:%s",
		       (unsigned long long)g->gno, o, (unsigned long long)gen,
		       csm_mb_flags(g->slot[o]), t);
	}
	return 0;
}

int publish_meta(struct csm_engine *e, struct group *g, int o)
{
	return publish_meta_how(e, g, o, false);
}

/* Publish a brother for an update that data writes (or hole punches) will
 * follow: marked DIRTY, and made durable first when the group was clean
 * (default) or always (strict).  Group locked for update. */
static int publish_dirty(struct csm_engine *e, struct group *g, int o, bool was_dirty)
{
	int rc = 0;
	/* Strict: the brother about to be overwritten is the only witness of
	 * the last update's old data, so that data must be durable first. */
	if (e->strict && g->data_ticket && !sync_covered(e, CSM_DATA, g->data_ticket)) {
		rc = sync_store(e, CSM_DATA);
		if (rc < 0) {
			report_io(e, g->gno, rc);
			return rc;
		}
	}
	csm_mb_set_flags(g->slot[o], CSM_MF_DIRTY | (e->strict ? CSM_MF_STRICT : 0));
	if (e->strict) {
		/* One sync shared by concurrent writers (group commit); in the
		 * interleaved layout it also covers earlier data. */
		rc = publish_meta(e, g, o);
		if (rc == 0) {
			rc = sync_store(e, CSM_META);
			if (rc < 0)
				report_io(e, g->gno, rc);
		}
	} else {
		/* Clean to dirty: the dirty brother alone made durable, without
		 * waiting for the file's other dirty pages. */
		rc = publish_meta_how(e, g, o, !was_dirty);
	}
	if (rc == 0)
		note_window(e, g);
	return rc;
}

/* Trim an iovec array to `total` bytes. */
static int iov_trim(struct iovec *iov, int cnt, size_t total)
{
	int i;
	for (i = 0; i < cnt && total > 0; i++) {
		if (iov[i].iov_len > total)
			iov[i].iov_len = total;
		total -= iov[i].iov_len;
	}
	return i;
}

/* Write one group's part of a write, up to the logical size or `past`
 * (recovery zeroing the last block's tail), whichever is larger. */
ssize_t write_run(struct csm_engine *e, const uint8_t *buf, uint64_t pos, size_t len, uint64_t past)
{
	const struct csm_geometry *geo = &e->geo;
	uint32_t bs = geo->block_size;
	uint8_t b0[CSM_MAX_BLOCK] __attribute__((aligned(ALIGN)));
	uint8_t b1[CSM_MAX_BLOCK] __attribute__((aligned(ALIGN)));
	uint64_t csums[CSM_MAX_PER_GROUP];
	struct run r;
	struct iovec iov[3];
	/* From here on only the copy is used: hashed and written. */
	uint8_t *user = scratch(len);
	if (!user)
		return -ENOMEM;
	run_init(geo, &r, pos, len);
	/* Whole blocks are copied and hashed in one pass, before taking the
	 * lock; partial blocks are copied here and hashed once merged. */
	csums[0] = 0;
	for (uint64_t k = r.first; k <= r.last; k++) {
		uint64_t bstart = k << geo->block_shift;
		size_t from = bstart > pos ? (size_t)(bstart - pos) : 0;
		size_t to = bstart + bs - pos < len ? (size_t)(bstart + bs - pos) : len;
		if ((k == r.first && r.head_bounce) || (k == r.last && r.tail_bounce))
			memcpy(user + from, buf + from, to - from);
		else
			csums[k - r.first] =
			        csm_block_csum_copy(&e->hasher, k, user + from, buf + from, bs);
	}
	buf = user;
	int cnt = run_iov(geo, &r, iov, user, b0, b1);

	struct group *g = group_get(e, r.gno);
	if (!g)
		return -ENOMEM;
	int rc = group_lock_update(e, g);
	if (rc < 0) {
		group_put(e, g);
		return rc;
	}
	uint64_t size = 0;
	rc = current_size(e, g, &size);
	if (rc < 0)
		goto out;
	if (size < past)
		size = past;
	if (pos + len > size) { /* shrunk since the caller looked */
		rc = -E_SIZE_CHANGED;
		goto out;
	}
	if (g->pair.broken) {
		rc = -EIO;
		goto out;
	}
	rc = settle_group(e, g, r.first, r.last, size);
	if (rc < 0)
		goto out;
	if (r.head_bounce) {
		rc = rmw_load(e, g, r.first, b0, size);
		if (rc < 0)
			goto out;
		size_t n = bs - r.head;
		memcpy(b0 + r.head, buf, n < len ? n : len);
		csums[0] = csm_block_csum(&e->hasher, r.first, b0, bs);
	}
	if (r.tail_bounce) {
		rc = rmw_load(e, g, r.last, b1, size);
		if (rc < 0)
			goto out;
		memcpy(b1, buf + ((r.last << geo->block_shift) - pos), r.endoff);
		csums[r.last - r.first] = csm_block_csum(&e->hasher, r.last, b1, bs);
	}

	uint8_t *m;
	int o;
	bool was_dirty = group_dirty(g);
	begin_meta(e, g, &m, &o);
	for (uint64_t k = r.first; k <= r.last; k++)
		csm_mb_set(geo, m, csm_geo_index_of(geo, k), csums[k - r.first]);
	rc = publish_dirty(e, g, o, was_dirty);
	if (rc < 0)
		goto out;

	if (geo->layout == CSM_LAYOUT_SEPARATE) {
		/* The data file holds exactly the logical bytes. */
		uint64_t start = r.first << geo->block_shift;
		uint64_t span = (r.last - r.first + 1) << geo->block_shift;
		if (start + span > size)
			cnt = iov_trim(iov, cnt, (size_t)(size - start));
	}
	rc = store_writev(e, CSM_DATA, iov, cnt, csm_geo_data_offset(geo, r.first));
	g->data_ticket = sync_ticket(e, CSM_DATA);
	if (e->opts.trace)
		tracef(e, "data blocks %llu-%llu (first %08x) gen %llu: %d",
		       (unsigned long long)r.first, (unsigned long long)r.last, (unsigned)csums[0],
		       (unsigned long long)g->pair.gen[g->pair.newer], rc);
	if (rc < 0) {
		report_io(e, r.gno, rc);
		g->settled = false; /* some of the data may not have landed */
	}
out:
	group_unlock_update(e, g);
	group_put(e, g);
	return rc < 0 ? rc : (ssize_t)len;
}

/* Mark blocks [first, last] of one group unwritten and, with zero_data,
 * deallocate their data (under the group lock, so no write of another
 * thread or process lands between the two). */
int clear_run(struct csm_engine *e, uint64_t first, uint64_t last, bool zero_data)
{
	const struct csm_geometry *geo = &e->geo;
	uint64_t gno = csm_geo_group_of(geo, first);
	struct group *g = group_get(e, gno);
	if (!g)
		return -ENOMEM;
	int rc = group_lock_update(e, g);
	if (rc < 0) {
		group_put(e, g);
		return rc;
	}
	uint64_t size = 0;
	rc = current_size(e, g, &size);
	if (rc < 0)
		goto out;
	if (first >= csm_geo_blocks(geo, size)) { /* shrunk: nothing to clear */
		rc = -E_SIZE_CHANGED;
		goto out;
	}
	if (g->pair.broken) {
		rc = -EIO;
		goto out;
	}
	rc = settle_group(e, g, first, last, size);
	if (rc < 0)
		goto out;
	int n = g->pair.newer;
	bool any = false;
	for (uint64_t k = first; n >= 0 && k <= last && !any; k++)
		any = csm_mb_written(geo, g->slot[n], csm_geo_index_of(geo, k));
	if (any) {
		uint8_t *m;
		int o;
		bool was_dirty = group_dirty(g);
		begin_meta(e, g, &m, &o);
		for (uint64_t k = first; k <= last; k++)
			csm_mb_clear(geo, m, csm_geo_index_of(geo, k));
		rc = publish_dirty(e, g, o, was_dirty);
	}
	if (rc == 0 && zero_data) {
		if (e->opts.trace)
			tracef(e, "zero blocks %llu-%llu", (unsigned long long)first,
			       (unsigned long long)last);
		uint64_t dlen = (last - first + 1) << geo->block_shift;
		uint64_t bstart = first << geo->block_shift;
		if (geo->layout == CSM_LAYOUT_SEPARATE && bstart + dlen > size)
			dlen = size - bstart; /* the data file ends at the size */
		rc = e->be.ops->zero_range(e->be.ctx, CSM_DATA, csm_geo_data_offset(geo, first),
		                           dlen);
		/* The punch is this update's data, as write_run's writes are:
		 * strict mode must make it durable before the next update of
		 * the group overwrites the brother that still vouches for the
		 * old content (publish_dirty). */
		g->data_ticket = sync_ticket(e, CSM_DATA);
		if (rc < 0)
			report_io(e, gno, rc);
	}
out:
	group_unlock_update(e, g);
	group_put(e, g);
	return rc;
}

/* Write [off, off+n) group by group; *done says how far it got. */
static int write_range(struct csm_engine *e, const void *buf, size_t n, uint64_t off, size_t *done)
{
	const struct csm_geometry *geo = &e->geo;
	uint64_t group_bytes = (uint64_t)geo->per_group << geo->block_shift;
	*done = 0;
	while (*done < n) {
		uint64_t pos = off + *done;
		uint64_t gend = (pos / group_bytes + 1) * group_bytes;
		uint64_t cend = (pos / WRITE_CHUNK + 1) * WRITE_CHUNK;
		if (cend < gend)
			gend = cend;
		size_t len = (size_t)((gend - pos) < n - *done ? gend - pos : n - *done);
		ssize_t r = write_run(e, (const uint8_t *)buf + *done, pos, len, 0);
		if (r < 0)
			return (int)r;
		*done += (size_t)r;
	}
	return 0;
}

ssize_t csm_pwrite(struct csm_engine *e, const void *buf, size_t n, uint64_t off)
{
	if (e->opts.readonly)
		return fail(-EBADF);
	if (n == 0)
		return 0;
	if (n > SSIZE_MAX)
		n = SSIZE_MAX & ~(size_t)(CSM_MAX_BLOCK - 1);
	if (off >= CSM_MAX_LOGICAL_SIZE || n > CSM_MAX_LOGICAL_SIZE - off)
		return fail(-EFBIG);
	if (e->be.ops->program_call) /* fault injection: a short write */
		n = e->be.ops->program_call(e->be.ctx, CSM_CALL_WRITE, off, n);
	solo_maybe(e);
	int rc = mark_unclean(e);
	if (rc < 0)
		return fail(rc);
	size_t done = 0;
	uint64_t grew_from = UINT64_MAX, grew_to = 0;
	for (;;) {
		uint64_t end = off + n, was;
		if (end > atomic_load_explicit(&e->size, memory_order_acquire)) {
			rc = grow_to(e, off, &end, &was);
			if (rc < 0)
				break;
			if (end > was) {
				grew_from = was < grew_from ? was : grew_from;
				grew_to = end;
			}
			n = (size_t)(end - off);
		}
		/* The size is checked again under each group lock: after a
		 * shrink by another thread or process in between, all again,
		 * so the whole write lands after the shrink. */
		rc = write_range(e, buf, n, off, &done);
		if (rc != -E_SIZE_CHANGED)
			break;
	}
	if (rc < 0 && grew_from != UINT64_MAX)
		ungrow(e, off + done > grew_from ? off + done : grew_from, grew_to);
	if (rc < 0 && done == 0)
		return fail(rc);
	return (ssize_t)done;
}

ssize_t csm_append(struct csm_engine *e, const void *buf, size_t n, uint64_t *at)
{
	if (e->opts.readonly)
		return fail(-EBADF);
	if (n > SSIZE_MAX)
		n = SSIZE_MAX & ~(size_t)(CSM_MAX_BLOCK - 1);
	if (n)
		solo_maybe(e);
	int rc = n ? mark_unclean(e) : 0;
	if (rc < 0)
		return fail(rc);
	/* Held to the end: no other append, grow or shrink, here or in
	 * another process, comes between finding the end and writing. */
	rc = sb_begin(e);
	size_t done = 0;
	uint64_t off = atomic_load(&e->size);
	*at = off;
	if (rc == 0 && n > 0) {
		uint64_t end = off + n;
		if (off >= CSM_MAX_LOGICAL_SIZE || n > CSM_MAX_LOGICAL_SIZE - off)
			rc = -EFBIG;
		else if (!e->be.resizable && off >= e->capacity)
			rc = -ENOSPC;
		else if (!e->be.resizable && end > e->capacity)
			end = e->capacity;
		if (rc == 0 && e->be.ops->program_call) /* fault injection: a short write */
			end = off + e->be.ops->program_call(e->be.ctx, CSM_CALL_WRITE, off,
			                                    (size_t)(end - off));
		if (rc == 0) {
			if (e->opts.trace)
				tracef(e, "append at %llu, %zu bytes", (unsigned long long)off, n);
			rc = grow_stores(e, end);
			if (rc == 0) {
				e->sb.logical_size = end;
				rc = write_super(e);
				if (rc < 0)
					e->sb.logical_size = off;
			}
		}
		if (rc == 0) {
			rc = write_range(e, buf, (size_t)(end - off), off, &done);
			/* failed: the end is where the written bytes end */
			if (rc < 0)
				ungrow_locked(e, off + done, end);
		}
	}
	sb_end(e);
	if (rc < 0 && done == 0)
		return fail(rc);
	return (ssize_t)done;
}
