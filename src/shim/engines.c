/*
 * Engines: opening the engine behind a configured file, over a POSIX
 * backend that does its I/O through libc's real functions.  Formats a
 * new (or truncated) file when the config allows, finds a separate
 * layout's metadata file, refuses files that are not csumshim files, and
 * logs the recovery after an unclean shutdown.  The stores are opened
 * here for every format (the data file, a separate metadata file through
 * csm_meta_open's checks); a `format = dm-csum` rule's engine is then
 * dmcsum.c's.  Each is published as the inode's shim_io (io.h).
 */
#define _GNU_SOURCE
#include "state_int.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "real.h"

static struct csm_sysio sysio;

void sysio_init(void)
{
	shim_own_sysio(&sysio); /* the real calls, through the numbers the engines know */
}

/* Open `path`, or through descriptor `via` (/proc/self/fd/VIA) when there
 * is one: the very file it refers to, even unlinked or renamed over.
 * Read-write for an engine that writes, read-only otherwise (readers never
 * need write access). */
static int open_via(int via, const char *path, bool writable)
{
	int fl = (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC;
	if (via >= 0) {
		char link[64];
		snprintf(link, sizeof(link), "/proc/self/fd/%d", via);
		int fd = csm_real.open(link, fl);
		if (fd >= 0 || errno != ENOENT)
			return fd;
		/* No /proc: by name, checked by the caller. */
	}
	return csm_real.open(path, fl);
}

/* An O_PATH descriptor of fd's file, kept so that a forked child can
 * reopen the very file (it holds no lock and no access).  -1 if none. */
static int anchor_of(int fd)
{
	char link[64];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", shim_own_fd(fd));
	return shim_own_take(csm_real.open(link, O_PATH | O_CLOEXEC));
}

/* The engine's descriptor of the data file, read-write only for an engine
 * that writes.  It must be the inode the table knows (ino->key): a name
 * swapped in between (a user replacing it with a link to another file) is
 * refused, and a forked child that cannot reach the very file fails
 * loudly.  Ours, at a high number. */
static int open_data(const struct shim_inode *ino, int via, bool writable)
{
	int fd = open_via(via, ino->path, writable);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (csm_real.fstat(fd, &st) < 0 || (uint64_t)st.st_dev != ino->key[0] ||
	    (uint64_t)st.st_ino != ino->key[1]) {
		csm_real.close(fd);
		if (ino->anchor[0] >= 0) {
			shim_log("%s: cannot reopen the file this descriptor refers to: the name "
			         "now names another file, and /proc/self/fd cannot reach it",
			         ino->path);
			return -EIO;
		}
		shim_log("%s: not the file the program opened (replaced meanwhile); refused",
		         ino->path);
		return -EPERM;
	}
	return shim_own_take(fd);
}

/* A separate layout's metadata file, for every format (state_int.h):
 * through its anchor when it has one (the very file a forked child's
 * parent opened, even renamed), else through csm_meta_open (never through
 * a link, never another user's; a refusal is logged).  Ours, at a high
 * number; -ENOENT if missing and not created. */
int open_meta_store(struct shim_inode *ino, const char *meta, int dfd, bool writable, bool create)
{
	int fd;
	if (ino->anchor[1] >= 0) {
		char link[64];
		snprintf(link, sizeof(link), "/proc/self/fd/%d", shim_own_fd(ino->anchor[1]));
		fd = csm_real.open(link, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
		if (fd >= 0)
			return shim_own_take(fd);
		if (errno != ENOENT)
			return -errno;
		/* No /proc: by name, with every check. */
	}
	char why[256];
	bool created;
	fd = csm_meta_open(meta, shim_own_fd(dfd),
	                   (writable ? O_RDWR : O_RDONLY) | (create ? O_CREAT : 0), &created, why,
	                   sizeof(why));
	if (fd < 0) {
		if (fd != -ENOENT)
			shim_log("%s: %s", meta, why);
		return fd;
	}
	fd = shim_own_take(fd);
	if (ino->anchor[1] < 0)
		ino->anchor[1] = anchor_of(fd);
	return fd;
}

/* A read-only open of a file that is empty and not formatted changes
 * nothing: its engine is an empty csumshim image in memory (a read gives
 * end of file).  A later open for writing in this process formats the file
 * and replaces it (register_fd). */
static int empty_backend(struct csm_backend *be, char *err, size_t errlen)
{
	int fd = shim_own_take(memfd_create("csumshim-empty", MFD_CLOEXEC));
	if (fd < 0)
		return -errno;
	int rc = csm_backend_posix(be, fd, fd, true, &sysio);
	if (rc < 0) {
		shim_own_close(fd);
		return rc;
	}
	struct csm_format_opts fo = {0};
	rc = csm_format(be, &fo, err, errlen);
	if (rc < 0)
		csm_backend_destroy(be);
	return rc;
}

struct fd_reader {
	ssize_t (*rd)(int, void *, size_t, off_t);
	int fd;
};

static ssize_t fd_read(void *arg, void *buf, size_t n, uint64_t off)
{
	const struct fd_reader *f = arg;
	ssize_t r = f->rd(f->fd, buf, n, (off_t)off);
	return r < 0 ? -errno : r;
}

/* Read and decode the superblock at the start of fd into head and *sb
 * with the engine's torn-read policy (csm_peek_super): taken as "not a
 * csumshim file", a torn read would format over a live file or report
 * its stored size. */
enum csm_sb_err shim_peek_super(ssize_t (*rd)(int, void *, size_t, off_t), int fd,
                                uint8_t head[CSM_SB_SIZE], struct csm_super *sb)
{
	struct fd_reader f = {rd, fd};
	int io;
	return csm_peek_super(fd_read, &f, head, sb, &io);
}

/* Whether fd starts with a valid csumshim superblock of this layout. */
static bool sb_is(int fd, unsigned layout)
{
	uint8_t head[CSM_SB_SIZE];
	struct csm_super sb;
	return shim_peek_super(sysio.pread, fd, head, &sb) == CSM_SB_OK && sb.layout == layout;
}

void close_private(int dfd, int mfd)
{
	if (dfd >= 0)
		shim_own_close(dfd);
	if (mfd >= 0 && mfd != dfd)
		shim_own_close(mfd);
}

/* attach()'s shared half: the data store (state_int.h).  0 or -errno. */
static int open_stores(struct shim_inode *ino, int via, struct shim_stores *st)
{
	st->dfd = open_data(ino, via, st->writable);
	if (st->dfd < 0)
		return st->dfd;
	if (ino->anchor[0] < 0)
		ino->anchor[0] = anchor_of(st->dfd);
	st->blk = false;
	st->dsize = 0;
	csm_fd_size(&sysio, st->dfd, &st->dsize, &st->blk); /* unknown: treated as empty */
	if (st->blk)
		st->trunc = false; /* O_TRUNC means nothing for a device (dd of=/dev/loop0) */
	return 0;
}

/* The csumshim format's half of attach(): open (and when the config
 * allows and the open writes, format) the engine, and publish it as the
 * inode's shim_io (io.h).  Takes st->dfd.  Returns -errno. */
static int attach_csumshim(struct shim_inode *ino, const struct csm_rule *r,
                           const struct shim_stores *st)
{
	bool writable = st->writable, trunc = st->trunc, created = st->created;
	const char *path = ino->path;
	bool sep = r->layout == CSM_LAYOUT_SEPARATE;
	char *meta = sep ? csm_config_meta_path(r, path) : NULL;
	int dfd = st->dfd, mfd = -1, rc;
	bool blk = st->blk;
	uint64_t dsize = st->dsize, msize = 0;
	if (sep && !meta) {
		rc = -ENOMEM;
		goto fail;
	}
	bool fresh = created || (dsize == 0 && !blk);
	bool format = false, empty = false;
	if (sep) {
		mfd = open_meta_store(ino, meta, dfd, writable,
		                      writable && r->create && (fresh || trunc));
		if (mfd == -ENOENT && !writable && fresh) {
			empty = true;
			mfd = -1;
		} else if (mfd < 0) {
			rc = mfd;
			mfd = -1;
			if (rc == -ENOENT) {
				/* Lost, or never made: a separate data file looks the
				 * same either way.  Never adopted (that would take
				 * whatever it holds now as good). */
				shim_log("%s: not a csumshim file: no metadata file %s (lost, or "
				         "never made); refused, never adopted; import it first "
				         "with 'csumshim import' if its content is known good",
				         path, meta);
				rc = -EMEDIUMTYPE;
			}
			goto fail;
		}
		if (mfd >= 0)
			csm_fd_size(&sysio, mfd, &msize, NULL);
		/* An interleaved csumshim file in the metadata file's place is a
		 * file in its own right: never formatted over, never trusted. */
		if (mfd >= 0 && msize > 0 && sb_is(mfd, CSM_LAYOUT_INTERLEAVED)) {
			shim_log("%s: the metadata file's superblock says the layout is "
			         "interleaved (one file), not separate; refused (data file %s)",
			         meta, path);
			rc = -EUCLEAN;
			goto fail;
		}
		/* O_TRUNC of a csumshim file empties it as it is (csm_truncate
		 * below), keeping the identity other processes' engines hold:
		 * formatting anew under them would fail every block they write.
		 * Only what is not a valid metadata file is formatted over. */
		format = mfd >= 0 &&
		         (msize == 0 || (trunc && r->create && !sb_is(mfd, CSM_LAYOUT_SEPARATE)));
		if (!format && created && dsize == 0 && r->create && writable) {
			/* This open created the data file, yet a metadata file
			 * describing content is there: left by a data file deleted
			 * without the shim (or by a crash between the two removals).
			 * Taken as it is, every block would fail verification. */
			uint8_t head[CSM_SB_SIZE];
			struct csm_super old;
			if (shim_peek_super(sysio.pread, mfd, head, &old) == CSM_SB_OK &&
			    old.logical_size > 0) {
				shim_log("%s: stale metadata file %s (its data file was deleted); "
				         "formatting anew",
				         path, meta);
				format = true;
			}
		}
		if (format && !fresh && !trunc) {
			/* Only csumshim makes a metadata file, and it formats it
			 * before the data file has content: this one was cut. */
			shim_log("%s: holds %llu bytes but its metadata file %s is empty (its "
			         "checksums are lost); refused, never adopted",
			         path, (unsigned long long)dsize, meta);
			rc = -EIO;
			goto fail;
		}
	} else {
		mfd = dfd;
		uint8_t head[CSM_SB_SIZE];
		struct csm_super sb;
		enum csm_sb_err se = shim_peek_super(sysio.pread, dfd, head, &sb);
		if (fresh || (trunc && r->create && !blk &&
		              !(se == CSM_SB_OK && sb.layout == CSM_LAYOUT_INTERLEAVED))) {
			format = true;
		} else if (se == CSM_SB_OK && sb.layout == CSM_LAYOUT_SEPARATE) {
			shim_log("%s: is a csumshim metadata file, not a data file", path);
			rc = -EMEDIUMTYPE;
			goto fail;
		} else if (!csm_sb_has_magic(head, CSM_SB_SIZE)) {
			shim_log("%s: not a csumshim file (existing data without a superblock); "
			         "import it first with 'csumshim import'",
			         path);
			rc = -EMEDIUMTYPE;
			goto fail;
		}
	}
	if (format && !writable) {
		empty = true; /* read-only: left as it is */
		format = false;
	}
	if (format && !r->create) {
		shim_log("%s: not formatted, and create = no for [%s]", path, r->glob);
		rc = -EMEDIUMTYPE;
		goto fail;
	}
	struct csm_backend be;
	char err[256];
	if (empty) {
		shim_own_close(dfd);
		if (mfd >= 0 && mfd != dfd)
			shim_own_close(mfd);
		dfd = mfd = -1;
		rc = empty_backend(&be, err, sizeof(err));
		if (rc < 0) {
			shim_log("%s: %s", path, strerror(-rc));
			goto fail;
		}
	} else {
		rc = csm_backend_posix(&be, dfd, mfd, true, &sysio);
		if (rc < 0)
			goto fail;
		dfd = mfd = -1; /* owned by the backend now */
	}
	if (format) {
		struct csm_format_opts fo = {.block_size = r->block_size,
		                             .algo = r->algo,
		                             .layout = r->layout,
		                             .use_capacity = !be.resizable};
		rc = csm_format(&be, &fo, err, sizeof(err));
		if (rc < 0) {
			shim_log("%s: cannot format: %s", path, err);
			csm_backend_destroy(&be);
			goto fail;
		}
	}
	rc = shim_faults_wrap(&be, path);
	if (rc < 0) {
		csm_backend_destroy(&be);
		goto fail;
	}
	struct csm_engine_opts eo = {.cache_bytes = csm_cfg.cache_bytes,
	                             .readonly = !writable,
	                             .log_only = r->log_only,
	                             .durability = r->durability,
	                             .no_solo = !r->solo,
	                             .check_pair = true,
	                             .report = on_event,
	                             .report_arg = ino};
	/* Debugging: CSUMSHIM_TRACE=GLOB logs every metadata and data write
	 * the engine makes to matching files. */
	const char *tr = secure_getenv("CSUMSHIM_TRACE");
	if (tr && *tr && fnmatch(tr, path, 0) == 0) {
		eo.trace = on_trace;
		eo.trace_arg = ino;
	}
	struct csm_engine *e;
	rc = csm_open(&be, &eo, &e, err, sizeof(err));
	if (rc < 0) {
		if (meta)
			shim_log("%s: %s (metadata file of %s)", meta, err, path);
		else
			shim_log("%s: %s", path, err);
		goto fail;
	}
	const struct csm_recovery *rec = csm_open_recovery(e);
	if (rec->ran) {
		char found[200];
		csm_recovery_summary(rec, found, sizeof(found));
		shim_log("%s: recovered after an unclean shutdown: %s", path, found);
	}
	if (rec->skipped)
		shim_log("%s: not closed cleanly; read with caution until 'csumshim recover' (a "
		         "block that matches neither of its checksums fails with EIO)",
		         path);
	if (trunc && !format && writable && csm_truncate(e, 0) < 0) {
		rc = -errno;
		csm_close(e);
		goto fail;
	}
	struct shim_io *io = shim_io_new(&shim_io_csumshim, e);
	if (!io) {
		rc = -ENOMEM;
		csm_close(e);
		goto fail;
	}
	atomic_store_explicit(&ino->e, io, memory_order_release);
	ino->readonly = !writable;
	atomic_store(&ino->empty, empty);
	ino->blockdev = blk;
	free(meta);
	return 0;
fail:
	close_private(dfd, mfd);
	free(meta);
	return rc;
}

/* Open the engine of a configured file and publish it as the inode's
 * shim_io (io.h), ino->readonly and ino->blockdev: the stores opened the
 * same way for every format (open_stores), then the rule's format's half.
 * `writable`: the program may write (else the engine is read-only and
 * changes nothing: no format, no recovery, no metadata file).  `trunc`:
 * the program asked for O_TRUNC.  `via`: a descriptor of the file (the
 * program's, or the inode's anchor in a forked child), or -1.  Returns
 * -errno. */
int attach(struct shim_inode *ino, const struct csm_rule *r, bool writable, bool trunc,
           bool created, int via)
{
	struct shim_stores st = {.writable = writable, .trunc = trunc, .created = created};
	int rc = open_stores(ino, via, &st);
	if (rc < 0)
		return rc;
	if (r->format == CSM_RULE_DMCSUM)
		return attach_dmcsum(ino, r, &st, &sysio);
	return attach_csumshim(ino, r, &st);
}
