/*
 * The superblock: reading and writing it, the superblock lock (sb_begin
 * and sb_end: resize_mu, the cross-process lock and e->sb read again), the
 * unclean mark written before the first change, and the logical size as
 * read from it (note_size, current_size, csm_size).  Relies on store.c
 * for buffers, locks.c for syncs and locks, solo.c for solo sections and
 * size.c's tl_shrinker.
 */
#define _GNU_SOURCE
#include "engine_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Write the whole 4 KiB header (superblock + zeros), aligned for O_DIRECT. */
int write_header(struct csm_backend *be, const struct csm_super *sb)
{
	uint8_t *hdr = alloc_aligned(CSM_HEADER_SIZE);
	if (!hdr)
		return -ENOMEM;
	memset(hdr, 0, CSM_HEADER_SIZE);
	csm_sb_encode(sb, hdr);
	struct iovec v = {hdr, CSM_HEADER_SIZE};
	ssize_t r = be->ops->pwritev(be->ctx, CSM_META, &v, 1, 0);
	free(hdr);
	if (r < 0)
		return (int)r;
	return r == CSM_HEADER_SIZE ? 0 : -EIO;
}

/* Keep a logical size read from or written to the superblock with its
 * sequence.  Readers without the superblock lock may come late with an
 * old value; a size from an older superblock never replaces a newer one. */
static void note_size(struct csm_engine *e, uint64_t size, uint64_t seq)
{
	pthread_mutex_lock(&e->size_mu);
	if (seq > atomic_load_explicit(&e->seq_seen, memory_order_relaxed))
		atomic_store_explicit(&e->seq_seen, seq, memory_order_release);
	if (seq >= e->size_seq) {
		e->size_seq = seq;
		atomic_store_explicit(&e->size, size, memory_order_release);
	}
	pthread_mutex_unlock(&e->size_mu);
}

/* Caller holds resize_mu (and the superblock lock: sb_begin).  On success
 * the engine's size follows e->sb.logical_size. */
int write_super(struct csm_engine *e)
{
	e->sb.sequence++;
	if (e->sb.state == CSM_STATE_CLEAN)
		memset(e->sb.boot_id, 0, sizeof(e->sb.boot_id));
	/* v2: a shrink's intent.  The stores are cut after this write, so a
	 * shrink killed in between leaves them longer than the size, which the
	 * size before the shrink explains (open.c's check of the pair).  Kept
	 * by every later write until the leftovers are cut (cut_stale clears
	 * it) or the size grows past it (a growth cuts them first). */
	if (e->v2 && tl_shrinker == e && tl_shrink_size > e->sb.logical_size)
		e->sb.shrunk_from = tl_shrink_size;
	else if (!e->v2 || e->sb.shrunk_from <= e->sb.logical_size)
		e->sb.shrunk_from = 0;
	int rc;
	if (e->geo.wgrec) {
		/* The header's records (record.c) go with the superblock. */
		memset(e->hdr, 0, CSM_SB_SIZE);
		csm_sb_encode(&e->sb, e->hdr);
		rc = store_write(e, CSM_META, e->hdr, CSM_HEADER_SIZE, 0);
	} else {
		rc = write_header(&e->be, &e->sb);
	}
	if (rc == 0)
		note_size(e, e->sb.logical_size, e->sb.sequence);
	return rc;
}

/* Read and decode the stored superblock.  Another process may be
 * rewriting it as we read: a read of the page cache is not atomic against
 * a write of it, so the bytes can be half old, half new, and fail their
 * checksum (a torn read, not damage).  The writer's copy takes a few
 * microseconds, so a checksum failure is read again, a bounded number of
 * times, before it is believed.  Returns the decoder's verdict; -errno of
 * a failed read in *io (0 otherwise). */
void torn_pause(int attempt)
{
	/* Let the writer finish: yield first, then sleep. */
	struct timespec ts = {0, 20000};
	if (attempt < 8)
		sched_yield();
	else
		nanosleep(&ts, NULL);
}

enum csm_sb_err csm_peek_super(csm_read_fn rd, void *arg, uint8_t head[CSM_SB_SIZE],
                               struct csm_super *sb, int *io)
{
	enum csm_sb_err se = CSM_SB_BAD_CSUM;
	*io = 0;
	for (int i = 0; i < TORN_TRIES && se == CSM_SB_BAD_CSUM; i++) {
		if (i > 0)
			torn_pause(i);
		ssize_t got = rd(arg, head, CSM_SB_SIZE, 0);
		if (got <= 0) {
			memset(head, 0, CSM_SB_SIZE);
			*io = got < 0 ? (int)got : 0;
			return CSM_SB_SHORT;
		}
		if (got < CSM_SB_SIZE)
			memset(head + got, 0, CSM_SB_SIZE - (size_t)got);
		se = csm_sb_decode(head, (size_t)got, sb);
	}
	return se;
}

static ssize_t be_read(void *arg, void *buf, size_t n, uint64_t off)
{
	struct csm_backend *be = arg;
	struct iovec v = {buf, n};
	return be->ops->preadv(be->ctx, CSM_META, &v, 1, off);
}

enum csm_sb_err load_super(struct csm_backend *be, struct csm_super *sb, int *io)
{
	uint8_t raw[CSM_SB_SIZE];
	return csm_peek_super(be_read, be, raw, sb, io);
}

int read_super(struct csm_backend *be, struct csm_super *sb)
{
	int io;
	enum csm_sb_err se = load_super(be, sb, &io);
	if (io < 0)
		return io;
	return se == CSM_SB_OK ? 0 : -EUCLEAN;
}

/* Take what another process may have changed in the stored superblock:
 * size, state, sequence, boot id and shrunk_from (open.c's check of the
 * pair reads it with the size it goes with; write_super sets its own).
 * resize_mu held (or the engine not shared yet). */
void take_super(struct csm_engine *e, const struct csm_super *sb)
{
	e->sb.logical_size = sb->logical_size;
	e->sb.state = sb->state;
	e->sb.sequence = sb->sequence;
	memcpy(e->sb.boot_id, sb->boot_id, sizeof(e->sb.boot_id));
	e->sb.shrunk_from = sb->shrunk_from;
	e->sb.writers = sb->writers;
	note_size(e, sb->logical_size, sb->sequence);
}

/* The logical size as stored now, noted; the cached one if unreadable.
 * No lock: safe under a group lock. */
uint64_t stored_size(struct csm_engine *e)
{
	if (e->xproc && !atomic_load(&e->solo)) {
		struct csm_super sb;
		if (read_super(&e->be, &sb) == 0)
			note_size(e, sb.logical_size, sb.sequence);
	}
	return csm_size(e);
}

/* v2: is an epoch read from a brother past every superblock sequence?
 * Another process may have written a newer superblock (and sealed the
 * brother with it) since this one last looked: read the stored one,
 * after the brother, before saying so.  Stored sequences only grow. */
static bool epoch_past_super(struct csm_engine *e, uint64_t ep)
{
	if (ep <= atomic_load_explicit(&e->seq_seen, memory_order_acquire))
		return false;
	for (int i = 0; i < 1000; i++) {
		struct csm_super sb;
		int rc = read_super(&e->be, &sb);
		if (rc == 0) {
			note_size(e, sb.logical_size, sb.sequence);
			return ep > sb.sequence;
		}
		if (rc != -EUCLEAN)
			break;
		sched_yield();
	}
	return true;
}

/* v2: is a valid brother of g sealed with an epoch past every superblock? */
bool group_epoch_stale(struct csm_engine *e, const struct group *g)
{
	uint64_t ep = 0;
	for (int i = 0; i < 2; i++)
		if (g->pair.status[i] == CSM_MB_VALID && csm_mb_epoch(g->slot[i]) > ep)
			ep = csm_mb_epoch(g->slot[i]);
	return epoch_past_super(e, ep);
}

/* v2, at open: the brothers of the group holding the last block and of
 * the group at the end of the store, which a lost growth leaves behind,
 * against the superblock's sequence.  Sets stale_super. */
int check_stale_super(struct csm_engine *e)
{
	const struct csm_geometry *geo = &e->geo;
	uint64_t size = e->sb.logical_size, mphys = 0;
	int rc = e->be.ops->get_size(e->be.ctx, CSM_META, &mphys);
	if (rc < 0)
		return rc;
	uint64_t cand[2] = {UINT64_MAX, UINT64_MAX};
	if (size > 0)
		cand[0] = csm_geo_groups(geo, size) - 1;
	if (mphys > geo->header_size)
		cand[1] = csm_geo_group_at_meta_offset(geo, mphys - 1);
	uint8_t *buf = alloc_aligned((size_t)2 * geo->block_size);
	if (!buf)
		return -ENOMEM;
	for (int c = 0; c < 2 && rc == 0; c++) {
		if (cand[c] == UINT64_MAX || (c == 1 && cand[1] == cand[0]))
			continue;
		rc = store_read(e, CSM_META, buf, (size_t)2 * geo->block_size,
		                csm_geo_meta_offset(geo, cand[c], 0));
		for (int i = 0; i < 2 && rc == 0; i++) {
			uint64_t gen;
			const uint8_t *mb = buf + (size_t)i * geo->block_size;
			if (csm_mb_check(geo, e->sb.uuid, mb, cand[c], &gen) == CSM_MB_VALID &&
			    csm_mb_epoch(mb) > e->sb.sequence &&
			    epoch_past_super(e, csm_mb_epoch(mb))) {
				atomic_store(&e->stale_super, true);
				e->stale_group = cand[c];
			}
		}
	}
	free(buf);
	return rc;
}

/* Begin a superblock change: resize_mu, the cross-process superblock lock,
 * and e->sb re-read from storage (another process may have changed the
 * size or state).  Always pair with sb_end. */
int sb_begin(struct csm_engine *e)
{
	pthread_mutex_lock(&e->resize_mu);
	e->sb_solo = solo_begin(e);
	if (!e->xproc || e->sb_solo) /* solo: e->hdr read when it went solo */
		return 0;
	int rc = xlock(e, CSM_LOCK_SUPER, e->opts.readonly ? F_RDLCK : F_WRLCK);
	if (rc < 0)
		return rc;
	struct csm_super sb;
	rc = read_super(&e->be, &sb);
	if (rc < 0)
		return rc;
	take_super(e, &sb);
	/* The header's records: another process may have changed them. */
	return e->opts.readonly ? 0 : rec_load_hdr(e);
}

void sb_end(struct csm_engine *e)
{
	if (e->sb_solo) {
		e->sb_solo = false;
		solo_end(e);
	} else {
		xunlock(e, CSM_LOCK_SUPER);
	}
	pthread_mutex_unlock(&e->resize_mu);
}

/* The logical size as it stands, for a thread holding a group lock: the
 * stored one when other processes may change it.  A shrink of this group
 * holds its lock until the new size is stored, so the answer stays true
 * while the lock is held (g, locked by group_lock_update, says whether the
 * engine is solo).  No superblock lock (resize_mu is never taken
 * under a group lock): a read that catches a superblock write half done
 * is retried. */
int current_size(struct csm_engine *e, const struct group *g, uint64_t *size)
{
	if (tl_shrinker == e) {
		*size = tl_shrink_size;
		return 0;
	}
	if (!e->xproc || g->solo) {
		*size = atomic_load_explicit(&e->size, memory_order_acquire);
		return 0;
	}
	int rc = 0;
	for (int i = 0; i < 1000; i++) {
		struct csm_super sb;
		rc = read_super(&e->be, &sb);
		if (rc == 0) {
			*size = sb.logical_size;
			note_size(e, sb.logical_size, sb.sequence);
			return 0;
		}
		if (rc != -EUCLEAN)
			break;
		sched_yield();
	}
	return rc;
}

/* Before the first change: the superblock durably says unclean, so a crash
 * from here on is recovered at the next open. */
int mark_unclean(struct csm_engine *e)
{
	if (atomic_load_explicit(&e->stale_super, memory_order_relaxed))
		return -EIO; /* csumshim recover first */
	if (atomic_load_explicit(&e->unclean, memory_order_acquire))
		return 0;
	int rc = sb_begin(e);
	if (rc == 0 && !atomic_load(&e->unclean)) {
		bool flip = e->sb.state != CSM_STATE_UNCLEAN;
		if (flip) {
			e->sb.state = CSM_STATE_UNCLEAN;
			e->sb.writers = 0;
			/* v2: which boot this is, so recovery can tell a
			 * process crash (same boot) from a power cut. */
			memset(e->sb.boot_id, 0, sizeof(e->sb.boot_id));
			if (e->v2 && e->be.ops->boot_id &&
			    e->be.ops->boot_id(e->be.ctx, e->sb.boot_id) < 0)
				memset(e->sb.boot_id, 0, sizeof(e->sb.boot_id));
		}
		/* v2: one more writer to sign off (sign_off); no sync needed
		 * when the file was unclean already: a power cut leaves it to
		 * recovery whatever the count says. */
		if (e->v2 && e->sb.writers < UINT32_MAX)
			e->sb.writers++;
		if (flip || e->v2)
			rc = write_super(e);
		if (rc == 0 && flip)
			rc = sync_store(e, CSM_META);
		if (rc == 0)
			atomic_store_explicit(&e->unclean, true, memory_order_release);
	}
	sb_end(e);
	return rc;
}

uint64_t csm_size(struct csm_engine *e)
{
	return atomic_load_explicit(&e->size, memory_order_acquire);
}

uint64_t csm_size_refresh(struct csm_engine *e)
{
	if (!e->xproc || atomic_load(&e->solo))
		return csm_size(e);
	struct csm_super sb;
	if (read_super(&e->be, &sb) == 0) {
		note_size(e, sb.logical_size, sb.sequence);
		return sb.logical_size;
	}
	/* Caught mid-write, or damaged: ask under the lock. */
	(void)sb_begin(e);
	sb_end(e);
	return csm_size(e);
}

const struct csm_super *csm_superblock(const struct csm_engine *e)
{
	return &e->sb;
}
