/*
 * The seam's dm-csum side: files in the seed's format (dmcsum_io.h) under
 * a config section with `format = dm-csum`, served through the same
 * shim_io table as csumshim's engine (io.h).
 *
 * The format records no size and has no magic number, so:
 *   (1) a file is taken as dm-csum because its rule says so, never by
 *       looking at it; the size is what its stores hold;
 *   (2) the size is fixed, like a block device's: writes at or past the
 *       end fail with ENOSPC (a write crossing it is short), O_APPEND
 *       writes with ENOSPC, truncation to another size and O_TRUNC with
 *       EINVAL, each with a log line (O_TRUNC is the common mistake);
 *   (3) nothing is formatted here (a size is needed: `csumshim format
 *       --format dm-csum --size`): an empty or new file is refused;
 *   (4) mismatches fail with EIO and one log line naming the sector; a
 *       read meeting a bad sector fails whole, as the engine's does;
 *   (5) several processes: dmcsum_io.c takes an OFD lock per group;
 *   (6) O_DSYNC / O_SYNC / RWF_*SYNC: the write, then csm_dmc_fsync; a
 *       normal exit syncs every dm-csum file open (engine: csm_exit);
 *   (7) the stores are opened as the engine's are (engines.c: through the
 *       program's descriptor, ours at high numbers, O_PATH anchors), and
 *       [faults] applies to them too: the fault backend sits under the
 *       format, whichever it is; a separate metadata store passes
 *       csm_meta_open's checks (no link, no FIFO, a trusted owner);
 *   (8) a read-only open gets a read-only handle over read-only stores
 *       (readers need no write access); the first open for writing in
 *       the process replaces it (fdtable.c, upgrade()), the old one
 *       retired until the inode goes.  The csumshim format's empty
 *       in-memory image for a read-only open of an empty file has no
 *       dm-csum counterpart: (3) applies, read-only or not.
 */
#define _GNU_SOURCE
#include "state_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "csumshim/dmcsum_io.h"
#include "real.h"

#define SEC ((uint64_t)CSM_DMC_SECTOR)

/* ---- events ----------------------------------------------------------- */

static void on_dmc_event(void *arg, const struct csm_dmc_event *ev)
{
	const struct shim_inode *ino = arg;
	unsigned long long g = (unsigned long long)ev->group;
	switch (ev->kind) {
	case CSM_DMC_EV_MISMATCH:
		shim_log("%s: dm-csum sector %llu (bytes %llu-%llu): %s", ino->path,
		         (unsigned long long)ev->sector, (unsigned long long)(ev->sector * SEC),
		         (unsigned long long)((ev->sector + 1) * SEC - 1),
		         csm_dmc_event_name(ev->kind));
		break;
	case CSM_DMC_EV_IMD_DAMAGED:
		shim_log("%s: dm-csum group %llu: imd sector M%d: %s", ino->path, g, ev->slot + 1,
		         csm_dmc_event_name(ev->kind));
		break;
	case CSM_DMC_EV_UNDECIDABLE:
		shim_log("%s: dm-csum group %llu: %s (last_updated %u and %u): writes refused",
		         ino->path, g, csm_dmc_event_name(ev->kind), ev->lu[0], ev->lu[1]);
		break;
	case CSM_DMC_EV_IO_ERROR:
		shim_log("%s: dm-csum group %llu: %s: %s", ino->path, g,
		         csm_dmc_event_name(ev->kind), strerror(ev->err));
		break;
	default:
		shim_log("%s: dm-csum group %llu: %s", ino->path, g, csm_dmc_event_name(ev->kind));
	}
}

/* ---- the ops ---------------------------------------------------------- */

/* The handle: the format's, and the inode for log lines (it outlives its
 * shim_io). */
struct dmc_file {
	struct csm_dmc *d;
	const struct shim_inode *ino;
};

static struct csm_dmc *D(void *h)
{
	return ((struct dmc_file *)h)->d;
}

static ssize_t d_pread(void *h, void *buf, size_t n, uint64_t off)
{
	return csm_dmc_pread_whole(D(h), buf, n, off); /* (4) */
}

/* (6): as csm_pwrite_flags; the seed's format has one sync for both. */
static ssize_t d_pwrite(void *h, const void *buf, size_t n, uint64_t off, unsigned flags)
{
	ssize_t r = csm_dmc_pwrite(D(h), buf, n, off);
	if (r <= 0 || !(flags & (CSM_WR_DSYNC | CSM_WR_SYNC)))
		return r;
	return csm_dmc_fsync(D(h)) < 0 ? -1 : r;
}

/* (2): the end of a dm-csum file is the end of its stores. */
static ssize_t d_append(void *h, const void *buf, size_t n, uint64_t *at, unsigned flags)
{
	(void)buf, (void)flags;
	*at = csm_dmc_size(D(h));
	if (n == 0)
		return 0;
	/* O_APPEND may have been set on the shared description by another
	 * process (data.c reads it per write): say why the write fails. */
	shim_log("%s: O_APPEND write refused (ENOSPC): a dm-csum file has a fixed size",
	         ((struct dmc_file *)h)->ino->path);
	errno = ENOSPC;
	return -1;
}

static uint64_t d_size(void *h)
{
	return csm_dmc_size(D(h));
}

static uint64_t d_size_refresh(void *h)
{
	return csm_dmc_size(D(h)); /* fixed: no other process changes it */
}

static int d_truncate(void *h, uint64_t size)
{
	if (size == csm_dmc_size(D(h)))
		return 0;
	const struct shim_inode *ino = ((struct dmc_file *)h)->ino;
	shim_log("%s: truncation to %llu bytes refused (EINVAL): a dm-csum file has a fixed "
	         "size",
	         ino->path, (unsigned long long)size);
	errno = EINVAL; /* (2), as for a block device */
	return -1;
}

/* Zeros are written through the format (the seed has no "never written"
 * state): discards and punched holes cost a write of the range. */
static int d_zero_range(void *h, uint64_t off, uint64_t len)
{
	static const uint8_t zeros[CSM_DMC_PER_GROUP * CSM_DMC_SECTOR];
	uint64_t size = csm_dmc_size(D(h));
	uint64_t end = off + len < off || off + len > size ? size : off + len;
	while (off < end) {
		size_t n = end - off < sizeof(zeros) ? (size_t)(end - off) : sizeof(zeros);
		ssize_t r = csm_dmc_pwrite(D(h), zeros, n, off);
		if (r <= 0)
			return -1;
		off += (uint64_t)r;
	}
	return 0;
}

static int d_fsync(void *h, bool datasync)
{
	(void)datasync;
	return csm_dmc_fsync(D(h));
}

static void d_advise(void *h, uint64_t off, uint64_t len, int advice)
{
	(void)h, (void)off, (void)len, (void)advice; /* a hint: physical ranges differ */
}

static int d_close(void *h)
{
	int rc = csm_dmc_close(D(h));
	int err = errno;
	free(h);
	errno = err;
	return rc;
}

static int d_exit(void *h, bool sole)
{
	(void)sole;
	return csm_dmc_fsync(D(h)); /* (6) */
}

static void d_abandon(void *h)
{
	csm_dmc_abandon(D(h));
	free(h);
}

SHIM_IO_TABLE(shim_io_dmcsum, d_);

/* ---- attaching -------------------------------------------------------- */

int attach_dmcsum(struct shim_inode *ino, const struct csm_rule *r, const struct shim_stores *st,
                  const struct csm_sysio *sys)
{
	const char *path = ino->path;
	int dfd = st->dfd, mfd = -1, rc;
	if (st->created || (st->dsize == 0 && !st->blk)) { /* (3) */
		shim_log("%s: empty: a dm-csum file's size is fixed when it is formatted; "
		         "format it with 'csumshim format FILE --format dm-csum --size BYTES'",
		         path);
		rc = -EMEDIUMTYPE;
		goto fail;
	}
	if (st->trunc && st->writable && !st->blk) { /* (2); the kernel did not truncate */
		shim_log("%s: O_TRUNC refused: a dm-csum file has a fixed size (dd: use "
		         "conv=notrunc)",
		         path);
		rc = -EINVAL;
		goto fail;
	}
	if (r->layout == CSM_LAYOUT_SEPARATE) {
		char *meta = csm_config_meta_path(r, path);
		if (!meta) {
			rc = -ENOMEM;
			goto fail;
		}
		mfd = open_meta_store(ino, meta, dfd, st->writable, false); /* (7) */
		rc = mfd < 0 ? mfd : 0;
		if (rc == -ENOENT) {
			shim_log("%s: not a dm-csum file: no metadata file %s", path, meta);
			rc = -EMEDIUMTYPE;
		}
		free(meta);
		if (rc < 0)
			goto fail;
	} else {
		mfd = dfd;
	}
	struct csm_backend be;
	rc = csm_backend_posix(&be, dfd, mfd, true, sys);
	if (rc < 0)
		goto fail;
	/* The backend owns the descriptors now (and closes them on failure). */
	rc = shim_faults_wrap(&be, path); /* (7) */
	if (rc < 0) {
		csm_backend_destroy(&be);
		return rc;
	}
	struct csm_dmc_opts o = {.layout = r->layout,
	                         .readonly = !st->writable, /* (8) */
	                         .report = on_dmc_event,
	                         .report_arg = ino};
	struct csm_dmc *d;
	char err[256];
	rc = csm_dmc_open(&be, &o, &d, err, sizeof(err));
	if (rc < 0) {
		shim_log("%s: not a usable dm-csum file: %s", path, err);
		return rc == -ENOMEM ? rc : -EMEDIUMTYPE;
	}
	struct dmc_file *h = malloc(sizeof(*h));
	struct shim_io *io = h ? shim_io_new(&shim_io_dmcsum, h) : NULL;
	if (!io) {
		free(h);
		csm_dmc_close(d);
		return -ENOMEM;
	}
	h->d = d;
	h->ino = ino;
	atomic_store_explicit(&ino->e, io, memory_order_release);
	ino->readonly = !st->writable;
	atomic_store(&ino->empty, false); /* (8): never an empty image */
	ino->blockdev = st->blk;
	return 0;
fail:
	close_private(dfd, mfd);
	return rc;
}

/* stat() of a dm-csum file nobody here has open: what its stores hold. */
int dmcsum_path_size(const struct csm_rule *r, const char *abspath, uint64_t *size)
{
	struct stat st;
	if (csm_real.stat(abspath, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size % (off_t)SEC)
		return 0;
	uint64_t dsec = (uint64_t)st.st_size / SEC, msec = dsec;
	if (r->layout == CSM_LAYOUT_SEPARATE) {
		char *meta = csm_config_meta_path(r, abspath);
		/* Never through a link (as csm_meta_open and shim_path_size). */
		int rc = meta ? csm_real.lstat(meta, &st) : -1;
		free(meta);
		if (rc < 0 || !S_ISREG(st.st_mode) || st.st_size % (off_t)SEC)
			return 0;
		msec = (uint64_t)st.st_size / SEC;
	}
	uint64_t cap = csm_dmc_capacity(r->layout, dsec, msec);
	if (cap == 0)
		return 0;
	*size = cap * SEC;
	return 1;
}
