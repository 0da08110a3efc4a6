/*
 * dm-csum I/O: verified logical reads and protocol-following writes on the
 * seed's format, over a storage backend.  See dmcsum_io.h for what it
 * promises and docs/FORMAT.md ("dm-csum (the seed's format)") for the
 * bytes.
 *
 * Each call works group by group (62 data sectors; the seed's "nice bio").
 * A group's data sectors are contiguous in both arrangements, so a group's
 * part of a call is one data transfer plus one read of its two adjacent
 * imd sectors, and for a write one imd sector written before the data.
 */
#define _GNU_SOURCE
#include "csumshim/dmcsum_io.h"
#include "errmsg.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#define SEC ((size_t)CSM_DMC_SECTOR)
#define SHIFT CSM_DMC_SECTOR_SHIFT

/* A group's lock, in the table while someone holds or waits for it. */
struct dmc_lock {
	uint64_t gno;
	unsigned refs; /* under table_mu */
	pthread_rwlock_t rw;
	UT_hash_handle hh;
};

struct csm_dmc {
	struct csm_backend be;
	unsigned layout;
	uint64_t sectors; /* logical */
	bool readonly;
	csm_dmc_report_fn report;
	void *report_arg;
	pthread_mutex_t table_mu;
	struct dmc_lock *locks;
	pthread_mutex_t stats_mu;
	struct csm_dmc_stats stats;
	/* A write's private copy of one group's data: this one when free,
	 * else (threads writing at once) a malloc'ed one. */
	pthread_mutex_t scratch_mu;
	uint8_t *scratch;
};

const char *csm_dmc_event_name(enum csm_dmc_event_kind k)
{
	switch (k) {
	case CSM_DMC_EV_MISMATCH:
		return "checksum mismatch";
	case CSM_DMC_EV_IMD_DAMAGED:
		return "header CRC mismatch";
	case CSM_DMC_EV_UNDECIDABLE:
		return "brothers cannot be ordered";
	case CSM_DMC_EV_GROUP_BROKEN:
		return "no valid imd sector";
	case CSM_DMC_EV_IO_ERROR:
		return "I/O error";
	}
	return "unknown event";
}

/* ---- storage helpers: whole transfers or a negative errno ------------- */

static int xfer(const struct csm_backend *be, enum csm_store st, struct iovec *iov, int cnt,
                uint64_t off, bool write)
{
	size_t want = 0;
	for (int i = 0; i < cnt; i++)
		want += iov[i].iov_len;
	ssize_t r = write ? be->ops->pwritev(be->ctx, st, iov, cnt, off)
	                  : be->ops->preadv(be->ctx, st, iov, cnt, off);
	if (r < 0)
		return (int)r;
	return (size_t)r == want ? 0 : -EIO; /* a short read: the store shrank */
}

static int io(const struct csm_backend *be, enum csm_store st, void *buf, size_t n, uint64_t off,
              bool write)
{
	struct iovec iov = {.iov_base = buf, .iov_len = n};
	return xfer(be, st, &iov, 1, off, write);
}

/* ---- events ----------------------------------------------------------- */

static void report(struct csm_dmc *d, const struct csm_dmc_event *ev)
{
	pthread_mutex_lock(&d->stats_mu);
	if (ev->kind == CSM_DMC_EV_MISMATCH || ev->kind == CSM_DMC_EV_GROUP_BROKEN)
		d->stats.mismatches++;
	else if (ev->kind == CSM_DMC_EV_IO_ERROR)
		d->stats.io_errors++;
	else
		d->stats.imd_damaged++;
	if (!d->stats.first.kind)
		d->stats.first = *ev;
	pthread_mutex_unlock(&d->stats_mu);
	if (d->report)
		d->report(d->report_arg, ev);
}

static void report_simple(struct csm_dmc *d, enum csm_dmc_event_kind kind, uint64_t group,
                          uint64_t sector, int slot)
{
	struct csm_dmc_event ev = {.kind = kind, .group = group, .sector = sector, .slot = slot};
	report(d, &ev);
}

static void report_io(struct csm_dmc *d, uint64_t group, int rc)
{
	struct csm_dmc_event ev = {.kind = CSM_DMC_EV_IO_ERROR, .group = group, .err = -rc};
	report(d, &ev);
}

/* A pair that allows no update (or no read): say why. */
static void report_pair(struct csm_dmc *d, uint64_t group, const struct csm_dmc_pair *p)
{
	struct csm_dmc_event ev = {.group = group};
	if (p->undecidable) {
		ev.kind = CSM_DMC_EV_UNDECIDABLE;
		ev.lu[0] = p->lu[0];
		ev.lu[1] = p->lu[1];
	} else {
		ev.kind = CSM_DMC_EV_GROUP_BROKEN;
	}
	report(d, &ev);
}

/* ---- group locks ------------------------------------------------------ */

static struct dmc_lock *lock_get(struct csm_dmc *d, uint64_t gno)
{
	struct dmc_lock *l;
	pthread_mutex_lock(&d->table_mu);
	HASH_FIND(hh, d->locks, &gno, sizeof(gno), l);
	if (!l) {
		l = calloc(1, sizeof(*l));
		if (!l) {
			pthread_mutex_unlock(&d->table_mu);
			return NULL;
		}
		l->gno = gno;
		pthread_rwlock_init(&l->rw, NULL);
		HASH_ADD(hh, d->locks, gno, sizeof(l->gno), l);
	}
	l->refs++;
	pthread_mutex_unlock(&d->table_mu);
	return l;
}

static void lock_put(struct csm_dmc *d, struct dmc_lock *l)
{
	pthread_mutex_lock(&d->table_mu);
	if (--l->refs == 0) {
		HASH_DEL(d->locks, l);
		pthread_rwlock_destroy(&l->rw);
		free(l);
	}
	pthread_mutex_unlock(&d->table_mu);
}

static struct dmc_lock *group_lock(struct csm_dmc *d, uint64_t gno, bool write)
{
	struct dmc_lock *l = lock_get(d, gno);
	if (!l)
		return NULL;
	if (write)
		pthread_rwlock_wrlock(&l->rw);
	else
		pthread_rwlock_rdlock(&l->rw);
	return l;
}

static void group_unlock(struct csm_dmc *d, struct dmc_lock *l)
{
	pthread_rwlock_unlock(&l->rw);
	lock_put(d, l);
}

/* Across processes: the group's OFD lock (CSM_LOCK_GROUP) on the metadata
 * store, taken with the in-process lock held exclusively, so one thread of
 * a process at a time owns it (OFD locks have one owner per open file).
 * Writers hold it F_WRLCK; a reader that found a mismatch re-reads under
 * F_RDLCK.  0 or a negative errno; backends without locks (in-memory
 * tests) are private to one process. */
static int xlock(struct csm_dmc *d, uint64_t g, int type)
{
	if (!d->be.ops->lock)
		return 0;
	return d->be.ops->lock(d->be.ctx, CSM_LOCK_GROUP(g), type, true);
}

static struct dmc_lock *group_lock_x(struct csm_dmc *d, uint64_t g, int type, int *rc)
{
	struct dmc_lock *l = group_lock(d, g, true);
	*rc = l ? xlock(d, g, type) : -ENOMEM;
	if (l && *rc < 0) {
		group_unlock(d, l);
		l = NULL;
	}
	return l;
}

static void group_unlock_x(struct csm_dmc *d, uint64_t g, struct dmc_lock *l)
{
	xlock(d, g, F_UNLCK);
	group_unlock(d, l);
}

/* ---- geometry helpers ------------------------------------------------- */

/* Data sectors of group g within the logical size. */
static unsigned group_len(const struct csm_dmc *d, uint64_t g)
{
	uint64_t left = d->sectors - g * CSM_DMC_PER_GROUP;
	return left < CSM_DMC_PER_GROUP ? (unsigned)left : CSM_DMC_PER_GROUP;
}

static uint64_t data_off(const struct csm_dmc *d, uint64_t lsector)
{
	return csm_dmc_data_sector(d->layout, lsector) << SHIFT;
}

static int read_pair(struct csm_dmc *d, uint64_t g, uint8_t pair[2 * SEC])
{
	return io(&d->be, CSM_META, pair, 2 * SEC, csm_dmc_imd_sector(d->layout, g) << SHIFT,
	          false);
}

/* ---- format and open -------------------------------------------------- */

static int store_sectors(struct csm_backend *be, enum csm_store st, uint64_t *sectors)
{
	uint64_t size;
	int rc = be->ops->get_size(be->ctx, st, &size);
	if (rc == 0)
		*sectors = size >> SHIFT;
	return rc;
}

/* Write pairs 0..n-1 as mk-dm-csum does. */
static int write_fresh_pairs(struct csm_backend *be, unsigned layout, uint64_t n)
{
	enum { BATCH = 64 };
	uint8_t *batch = malloc((size_t)BATCH * 2 * SEC);
	if (!batch)
		return -ENOMEM;
	for (unsigned i = 0; i < BATCH; i++)
		csm_dmc_imd_fresh_pair(batch + (size_t)i * 2 * SEC);
	int rc = 0;
	for (uint64_t k = 0; rc == 0 && k < n;) {
		/* "diff" pairs are adjacent: several per write. */
		uint64_t run = layout == CSM_LAYOUT_SEPARATE ? n - k : 1;
		if (run > BATCH)
			run = BATCH;
		rc = io(be, CSM_META, batch, (size_t)run * 2 * SEC,
		        csm_dmc_imd_sector(layout, k) << SHIFT, true);
		k += run;
	}
	free(batch);
	return rc;
}

int csm_dmc_format(struct csm_backend *be, const struct csm_dmc_format_opts *fo, char *err,
                   size_t errlen)
{
	unsigned layout = fo->layout ? fo->layout : CSM_LAYOUT_INTERLEAVED;
	if (layout != CSM_LAYOUT_INTERLEAVED && layout != CSM_LAYOUT_SEPARATE)
		return csm_errf(err, errlen, -EINVAL, "unknown layout %u", layout);
	bool sep = layout == CSM_LAYOUT_SEPARATE;
	uint64_t sectors = fo->size >> SHIFT;
	if (!fo->use_capacity && fo->size % SEC)
		return csm_errf(err, errlen, -EINVAL,
		                "size %llu is not a multiple of 512 (dm-csum stores whole sectors)",
		                (unsigned long long)fo->size);
	if (!fo->use_capacity && sectors > CSM_DMC_MAX_SECTORS)
		return csm_errf(err, errlen, -EFBIG, "size %llu too large (at most %llu bytes)",
		                (unsigned long long)fo->size,
		                (unsigned long long)(CSM_DMC_MAX_SECTORS << SHIFT));
	int rc = 0;
	uint64_t msec;
	if (be->resizable) {
		if (fo->use_capacity)
			return csm_errf(err, errlen, -EINVAL, "no size given");
		if (sectors == 0)
			return csm_errf(err, errlen, -EINVAL,
			                "size 0: a dm-csum device holds at least one sector");
		uint64_t dsec = csm_dmc_data_store_sectors(layout, sectors);
		msec = csm_dmc_meta_store_sectors(layout, sectors);
		/* Wipe what was there: truncate to nothing, then to the size
		 * (holes read as zeros: data sectors whose CRC, 0, every fresh
		 * tuple holds). */
		rc = be->ops->set_size(be->ctx, CSM_DATA, 0);
		if (rc == 0)
			rc = be->ops->set_size(be->ctx, CSM_DATA, dsec << SHIFT);
		if (rc == 0 && sep)
			rc = be->ops->set_size(be->ctx, CSM_META, 0);
		if (rc == 0 && sep)
			rc = be->ops->set_size(be->ctx, CSM_META, msec << SHIFT);
	} else {
		/* A device holds what it holds: the format records no size,
		 * so the whole device is formatted; --size may only ask for
		 * no more than that. */
		uint64_t dsec = 0;
		msec = 0;
		rc = store_sectors(be, CSM_DATA, &dsec);
		if (rc == 0 && sep)
			rc = store_sectors(be, CSM_META, &msec);
		else
			msec = dsec;
		if (rc < 0)
			return csm_errf(err, errlen, rc, "cannot get the device size: %s",
			                strerror(-rc));
		uint64_t cap = csm_dmc_capacity(layout, dsec, msec);
		if (cap == 0)
			return csm_errf(
			        err, errlen, -ENOSPC,
			        "device too small: it cannot hold one group's imd sectors and "
			        "a data sector");
		if (!fo->use_capacity && sectors > cap)
			return csm_errf(err, errlen, -ENOSPC,
			                "size %llu exceeds what the device can hold (%llu bytes)",
			                (unsigned long long)fo->size,
			                (unsigned long long)(cap << SHIFT));
		sectors = cap;
		rc = be->ops->zero_range(be->ctx, CSM_DATA, 0, dsec << SHIFT);
		if (rc == 0 && sep)
			rc = be->ops->zero_range(be->ctx, CSM_META, 0, msec << SHIFT);
	}
	if (rc < 0)
		return csm_errf(err, errlen, rc, "cannot prepare the storage: %s", strerror(-rc));
	rc = write_fresh_pairs(be, layout, csm_dmc_pairs_for(layout, sectors, msec));
	if (rc == 0)
		rc = be->ops->sync(be->ctx, CSM_DATA, false);
	if (rc == 0 && sep)
		rc = be->ops->sync(be->ctx, CSM_META, false);
	if (rc < 0)
		return csm_errf(err, errlen, rc, "cannot write the imd sectors: %s", strerror(-rc));
	return 0;
}

int csm_dmc_open(struct csm_backend *be, const struct csm_dmc_opts *o, struct csm_dmc **out,
                 char *err, size_t errlen)
{
	*out = NULL;
	unsigned layout = o->layout ? o->layout : CSM_LAYOUT_INTERLEAVED;
	bool sep = layout == CSM_LAYOUT_SEPARATE;
	int rc = 0;
	uint64_t dsize = 0, msize = 0;
	if (layout != CSM_LAYOUT_INTERLEAVED && !sep)
		rc = csm_errf(err, errlen, -EINVAL, "unknown layout %u", layout);
	if (rc == 0) {
		rc = be->ops->get_size(be->ctx, CSM_DATA, &dsize);
		msize = dsize;
		if (rc == 0 && sep)
			rc = be->ops->get_size(be->ctx, CSM_META, &msize);
		if (rc < 0)
			csm_errf(err, errlen, rc, "cannot get the size: %s", strerror(-rc));
	}
	if (rc == 0 && (dsize % SEC || msize % SEC))
		rc = csm_errf(err, errlen, -EINVAL, "%s size %llu is not a whole number of sectors",
		              dsize % SEC ? "data" : "metadata",
		              (unsigned long long)(dsize % SEC ? dsize : msize));
	uint64_t sectors = 0;
	if (rc == 0) {
		uint64_t dsec = dsize >> SHIFT, msec = msize >> SHIFT;
		sectors = csm_dmc_capacity(layout, dsec, msec);
		if (sep && dsec > CSM_DMC_RESERVED && sectors < dsec - CSM_DMC_RESERVED)
			rc = csm_errf(
			        err, errlen, -EINVAL,
			        "metadata file too short for the data (%llu bytes, needs %llu)",
			        (unsigned long long)msize,
			        (unsigned long long)(csm_dmc_meta_store_sectors(
			                                     layout, dsec - CSM_DMC_RESERVED)
			                             << SHIFT));
		else if (sectors == 0)
			rc = csm_errf(err, errlen, -EINVAL,
			              "too small to hold a dm-csum group (%llu bytes)",
			              (unsigned long long)dsize);
		else if (sectors > CSM_DMC_MAX_SECTORS)
			rc = csm_errf(err, errlen, -EFBIG, "too large (%llu bytes)",
			              (unsigned long long)dsize);
	}
	struct csm_dmc *d = rc == 0 ? calloc(1, sizeof(*d)) : NULL;
	uint8_t *scratch = d ? malloc((size_t)CSM_DMC_PER_GROUP * SEC) : NULL;
	if (!scratch) {
		if (rc == 0)
			rc = csm_errf(err, errlen, -ENOMEM, "out of memory");
		free(d);
		csm_backend_destroy(be);
		return rc;
	}
	d->scratch = scratch;
	pthread_mutex_init(&d->scratch_mu, NULL);
	d->be = *be;
	memset(be, 0, sizeof(*be));
	d->layout = layout;
	d->sectors = sectors;
	d->readonly = o->readonly;
	d->report = o->report;
	d->report_arg = o->report_arg;
	pthread_mutex_init(&d->table_mu, NULL);
	pthread_mutex_init(&d->stats_mu, NULL);
	*out = d;
	return 0;
}

int csm_dmc_close(struct csm_dmc *d)
{
	if (!d)
		return 0;
	/* A lock's entry lives only while someone holds or waits for it, so
	 * the table is empty once no call is running. */
	csm_backend_destroy(&d->be);
	pthread_mutex_destroy(&d->table_mu);
	pthread_mutex_destroy(&d->stats_mu);
	pthread_mutex_destroy(&d->scratch_mu);
	free(d->scratch);
	free(d);
	return 0;
}

void csm_dmc_abandon(struct csm_dmc *d)
{
	csm_backend_destroy(&d->be);
}

uint64_t csm_dmc_size(const struct csm_dmc *d)
{
	return d->sectors << SHIFT;
}

unsigned csm_dmc_layout(const struct csm_dmc *d)
{
	return d->layout;
}

/* ---- reads ------------------------------------------------------------ */

/* Verified read of [off, off+len), all inside group g.  *done: bytes
 * verified from the start (len on success).  0, -EIO (a sector matched
 * neither brother, or none is valid) or the backend's error.  Unlocked
 * across processes (`recheck` false), a mismatch is not reported but
 * -EAGAIN returned when another process may have been writing the group:
 * the caller reads it again under the group's shared OFD lock. */
static int read_group(struct csm_dmc *d, uint64_t g, uint8_t *buf, uint64_t off, size_t len,
                      size_t *done, bool recheck)
{
	*done = 0;
	uint64_t s0 = off >> SHIFT, s1 = (off + len - 1) >> SHIFT;
	size_t head = off & (SEC - 1), end = (off + len) & (SEC - 1);
	/* Sectors not wholly in the caller's range go through bounces. */
	bool first_b = head || (s0 == s1 && end), last_b = s1 != s0 && end;
	uint64_t m0 = first_b ? s0 + 1 : s0, m1 = last_b ? s1 : s1 + 1; /* [m0, m1) direct */
	uint8_t hb[SEC], tb[SEC], pair[2 * SEC];
	struct iovec iov[3];
	int cnt = 0;
	if (first_b)
		iov[cnt++] = (struct iovec){.iov_base = hb, .iov_len = SEC};
	if (m1 > m0)
		iov[cnt++] = (struct iovec){.iov_base = buf + ((m0 << SHIFT) - off),
		                            .iov_len = (size_t)(m1 - m0) << SHIFT};
	if (last_b)
		iov[cnt++] = (struct iovec){.iov_base = tb, .iov_len = SEC};

	int rc = 0;
	bool shared = d->be.ops->lock != NULL; /* other processes may write */
	struct dmc_lock *l = recheck ? group_lock_x(d, g, F_RDLCK, &rc) : group_lock(d, g, false);
	if (!l)
		return recheck ? rc : -ENOMEM;
	rc = read_pair(d, g, pair);
	if (rc == 0)
		rc = xfer(&d->be, CSM_DATA, iov, cnt, data_off(d, s0), false);
	if (rc < 0) {
		report_io(d, g, rc);
		goto out;
	}
	struct csm_dmc_pair p;
	csm_dmc_pair_choose(&p, pair, pair + SEC);
	if (!p.ok[0] && !p.ok[1]) {
		rc = shared && !recheck ? -EAGAIN : -EIO;
		if (rc == -EIO)
			report_pair(d, g, &p);
		goto out;
	}
	for (uint64_t s = s0; s <= s1; s++) {
		const uint8_t *sec = s == s0 && first_b  ? hb
		                     : s == s1 && last_b ? tb
		                                         : buf + ((s << SHIFT) - off);
		uint16_t crc = csm_dmc_sector_crc(sec);
		if (!csm_dmc_verifies(&p, pair, pair + SEC, csm_dmc_index_of(s), crc)) {
			rc = shared && !recheck ? -EAGAIN : -EIO;
			if (rc == -EIO)
				report_simple(d, CSM_DMC_EV_MISMATCH, g, s, 0);
			break;
		}
		/* Sector s verified: hand its part to the caller. */
		uint64_t from = s == s0 ? off : s << SHIFT;
		uint64_t to = s == s1 ? off + len : (s + 1) << SHIFT;
		if (sec == hb || sec == tb)
			memcpy(buf + (from - off), sec + (from & (SEC - 1)), (size_t)(to - from));
		*done = (size_t)(to - off);
	}
out:
	if (recheck)
		group_unlock_x(d, g, l);
	else
		group_unlock(d, l);
	return rc;
}

static ssize_t dmc_pread(struct csm_dmc *d, void *buf, size_t n, uint64_t off, bool whole)
{
	uint64_t size = d->sectors << SHIFT;
	if (off >= size || n == 0)
		return 0;
	if (n > size - off)
		n = (size_t)(size - off);
	uint8_t *b = buf;
	size_t total = 0;
	while (total < n) {
		uint64_t at = off + total;
		uint64_t g = csm_dmc_group_of(at >> SHIFT);
		uint64_t gend = (g + 1) * CSM_DMC_PER_GROUP * SEC;
		size_t len = n - total;
		if (len > gend - at)
			len = (size_t)(gend - at);
		size_t done;
		int rc = read_group(d, g, b + total, at, len, &done, false);
		if (rc == -EAGAIN)
			rc = read_group(d, g, b + total, at, len, &done, true);
		total += done;
		if (rc < 0) {
			if (whole)
				memset(b, 0, n);
			else
				memset(b + total, 0, n - total);
			if (total && !whole)
				return (ssize_t)total;
			errno = -rc;
			return -1;
		}
	}
	return (ssize_t)total;
}

ssize_t csm_dmc_pread(struct csm_dmc *d, void *buf, size_t n, uint64_t off)
{
	return dmc_pread(d, buf, n, off, false);
}

ssize_t csm_dmc_pread_whole(struct csm_dmc *d, void *buf, size_t n, uint64_t off)
{
	return dmc_pread(d, buf, n, off, true);
}

/* ---- writes ----------------------------------------------------------- */

/* Tuples the brothers disagree on, outside the write [i0, i1]: keep the
 * older brother's where the stored data matches it and not the newer's
 * (an update whose data never landed must not be carried forward over the
 * only brother that vouches for what is stored).  `scratch` holds 62
 * sectors. */
static int settle(struct csm_dmc *d, uint64_t g, const struct csm_dmc_pair *p, const uint8_t *pair,
                  unsigned i0, unsigned i1, uint8_t *nw, uint8_t *scratch)
{
	const uint8_t *older = pair + (size_t)p->target * SEC,
	              *newer = pair + (size_t)p->newer * SEC;
	unsigned n = group_len(d, g), lo = n, hi = 0;
	for (unsigned i = 0; i < n; i++) {
		if ((i < i0 || i > i1) &&
		    csm_dmc_tuple_crc(older, i) != csm_dmc_tuple_crc(newer, i)) {
			lo = i < lo ? i : lo;
			hi = i;
		}
	}
	if (lo > hi)
		return 0;
	uint64_t first = g * CSM_DMC_PER_GROUP;
	int rc = io(&d->be, CSM_DATA, scratch, (size_t)(hi - lo + 1) << SHIFT,
	            data_off(d, first + lo), false);
	if (rc < 0)
		return rc;
	for (unsigned i = lo; i <= hi; i++) {
		if (i >= i0 && i <= i1)
			continue;
		uint16_t crc = csm_dmc_sector_crc(scratch + ((size_t)(i - lo) << SHIFT));
		if (crc == csm_dmc_tuple_crc(older, i) && crc != csm_dmc_tuple_crc(newer, i)) {
			size_t t = CSM_DMC_OFF_TUPLES + (size_t)i * CSM_DMC_TUPLE_SIZE;
			memcpy(nw + t, older + t, CSM_DMC_TUPLE_SIZE);
		}
	}
	return 0;
}

/* Read the old sector s (partly overwritten) into `to` and verify it: a
 * write never launders a bad sector into one that verifies. */
static int read_old_sector(struct csm_dmc *d, uint64_t g, const struct csm_dmc_pair *p,
                           const uint8_t *pair, uint64_t s, uint8_t *to)
{
	int rc = io(&d->be, CSM_DATA, to, SEC, data_off(d, s), false);
	if (rc < 0)
		return rc;
	if (!csm_dmc_verifies(p, pair, pair + SEC, csm_dmc_index_of(s), csm_dmc_sector_crc(to))) {
		report_simple(d, CSM_DMC_EV_MISMATCH, g, s, 0);
		return -EIO;
	}
	return 0;
}

/* Write [off, off+len), all inside group g.  `scratch`: 62 sectors. */
static int write_group(struct csm_dmc *d, uint64_t g, const uint8_t *buf, uint64_t off, size_t len,
                       uint8_t *scratch)
{
	uint64_t s0 = off >> SHIFT, s1 = (off + len - 1) >> SHIFT;
	unsigned i0 = csm_dmc_index_of(s0), i1 = csm_dmc_index_of(s1);
	size_t head = off & (SEC - 1), end = (off + len) & (SEC - 1);
	size_t nbytes = (size_t)(s1 - s0 + 1) << SHIFT;
	uint8_t pair[2 * SEC], nw[SEC];

	int rc;
	struct dmc_lock *l = group_lock_x(d, g, F_WRLCK, &rc);
	if (!l) {
		if (rc != -ENOMEM)
			report_io(d, g, rc);
		return rc;
	}
	rc = read_pair(d, g, pair);
	if (rc < 0) {
		report_io(d, g, rc);
		goto out;
	}
	struct csm_dmc_pair p;
	csm_dmc_pair_choose(&p, pair, pair + SEC);
	if (p.target < 0) {
		report_pair(d, g, &p);
		rc = -EIO;
		goto out;
	}
	if (!p.ok[p.target]) /* about to be replaced: say it was damaged */
		report_simple(d, CSM_DMC_EV_IMD_DAMAGED, g, 0, p.target);
	csm_dmc_update_start(&p, pair, pair + SEC, nw);
	if (p.ok[0] && p.ok[1])
		rc = settle(d, g, &p, pair, i0, i1, nw, scratch);
	if (rc == 0 && head)
		rc = read_old_sector(d, g, &p, pair, s0, scratch);
	if (rc == 0 && end && (s1 != s0 || !head))
		rc = read_old_sector(d, g, &p, pair, s1, scratch + nbytes - SEC);
	if (rc < 0) {
		if (rc != -EIO)
			report_io(d, g, rc);
		goto out;
	}
	/* Hash the private copy, so the CRCs are of exactly what is stored
	 * whatever the caller's buffer does meanwhile. */
	memcpy(scratch + head, buf, len);
	for (unsigned i = i0; i <= i1; i++)
		csm_dmc_set_tuple_crc(nw, i,
		                      csm_dmc_sector_crc(scratch + ((size_t)(i - i0) << SHIFT)));
	csm_dmc_imd_seal(nw);
	/* The seed's order: the imd sector, then the data. */
	rc = io(&d->be, CSM_META, nw, SEC,
	        (csm_dmc_imd_sector(d->layout, g) + (uint64_t)p.target) << SHIFT, true);
	if (rc == 0)
		rc = io(&d->be, CSM_DATA, scratch, nbytes, data_off(d, s0), true);
	if (rc < 0)
		report_io(d, g, rc);
out:
	group_unlock_x(d, g, l);
	return rc;
}

ssize_t csm_dmc_pwrite(struct csm_dmc *d, const void *buf, size_t n, uint64_t off)
{
	if (d->readonly) {
		errno = EBADF;
		return -1;
	}
	if (n == 0)
		return 0;
	uint64_t size = d->sectors << SHIFT;
	if (off >= size) {
		errno = ENOSPC;
		return -1;
	}
	if (n > size - off)
		n = (size_t)(size - off);
	bool mine = pthread_mutex_trylock(&d->scratch_mu) == 0;
	uint8_t *scratch = mine ? d->scratch : malloc((size_t)CSM_DMC_PER_GROUP * SEC);
	if (!scratch) {
		errno = ENOMEM;
		return -1;
	}
	const uint8_t *b = buf;
	size_t total = 0;
	int rc = 0;
	while (rc == 0 && total < n) {
		uint64_t at = off + total;
		uint64_t g = csm_dmc_group_of(at >> SHIFT);
		uint64_t gend = (g + 1) * CSM_DMC_PER_GROUP * SEC;
		size_t len = n - total;
		if (len > gend - at)
			len = (size_t)(gend - at);
		rc = write_group(d, g, b + total, at, len, scratch);
		if (rc == 0)
			total += len;
	}
	if (mine)
		pthread_mutex_unlock(&d->scratch_mu);
	else
		free(scratch);
	if (rc < 0 && total == 0) {
		errno = -rc;
		return -1;
	}
	return (ssize_t)total;
}

int csm_dmc_fsync(struct csm_dmc *d)
{
	int rc = d->be.ops->sync(d->be.ctx, CSM_DATA, false);
	if (rc == 0 && d->layout == CSM_LAYOUT_SEPARATE)
		rc = d->be.ops->sync(d->be.ctx, CSM_META, false);
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	return 0;
}

/* ---- check ------------------------------------------------------------ */

int csm_dmc_check(struct csm_dmc *d, csm_progress_fn progress, void *arg,
                  struct csm_dmc_check_result *res)
{
	memset(res, 0, sizeof(*res));
	res->sectors = d->sectors;
	res->groups = csm_dmc_groups(d->sectors);
	uint8_t *scratch = malloc((size_t)(CSM_DMC_PER_GROUP + 2) * SEC);
	if (!scratch) {
		errno = ENOMEM;
		return -1;
	}
	uint8_t *pair = scratch, *data = scratch + 2 * SEC;
	int rc = 0;
	for (uint64_t g = 0; rc == 0 && g < res->groups; g++) {
		unsigned n = group_len(d, g);
		uint64_t first = g * CSM_DMC_PER_GROUP;
		struct dmc_lock *l = group_lock(d, g, false);
		if (!l) {
			rc = -ENOMEM;
			break;
		}
		rc = read_pair(d, g, pair);
		if (rc == 0)
			rc = io(&d->be, CSM_DATA, data, (size_t)n << SHIFT, data_off(d, first),
			        false);
		if (rc < 0) {
			report_io(d, g, rc);
			group_unlock(d, l);
			break;
		}
		struct csm_dmc_pair p;
		csm_dmc_pair_choose(&p, pair, pair + SEC);
		for (int s = 0; s < 2; s++) {
			if (!p.ok[s]) {
				res->damaged_imd++;
				report_simple(d, CSM_DMC_EV_IMD_DAMAGED, g, 0, s);
			}
		}
		if (p.undecidable || (!p.ok[0] && !p.ok[1])) {
			report_pair(d, g, &p);
			if (p.undecidable)
				res->undecidable_groups++;
			else
				res->broken_groups++;
		}
		for (unsigned i = 0; i < n && (p.ok[0] || p.ok[1]); i++) {
			uint16_t crc = csm_dmc_sector_crc(data + ((size_t)i << SHIFT));
			if (!csm_dmc_verifies(&p, pair, pair + SEC, i, crc)) {
				res->bad_sectors++;
				report_simple(d, CSM_DMC_EV_MISMATCH, g, first + i, 0);
			}
		}
		group_unlock(d, l);
		if (progress)
			progress(arg, (first + n) << SHIFT, d->sectors << SHIFT);
	}
	free(scratch);
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	return 0;
}

void csm_dmc_stats(struct csm_dmc *d, struct csm_dmc_stats *st)
{
	pthread_mutex_lock(&d->stats_mu);
	*st = d->stats;
	pthread_mutex_unlock(&d->stats_mu);
}

ssize_t csm_dmc_raw_pread(struct csm_dmc *d, enum csm_store st, void *buf, size_t n, uint64_t off)
{
	struct iovec iov = {.iov_base = buf, .iov_len = n};
	ssize_t r = d->be.ops->preadv(d->be.ctx, st, &iov, 1, off);
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

ssize_t csm_dmc_raw_pwrite(struct csm_dmc *d, enum csm_store st, const void *buf, size_t n,
                           uint64_t off)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = n};
	ssize_t r = d->be.ops->pwritev(d->be.ctx, st, &iov, 1, off);
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return r;
}
