/*
 * Engines: opening the engine behind a configured file, over a POSIX
 * backend that does its I/O through libc's real functions.  Formats a
 * new (or truncated) file when the config allows, finds a separate
 * layout's metadata file, refuses files that are not csumshim files, and
 * logs the recovery after an unclean shutdown.
 */
#define _GNU_SOURCE
#include "state_int.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdlib.h>

#include "real.h"

static struct csm_sysio sysio;

void sysio_init(void)
{
	sysio.pread = csm_real.pread;
	sysio.pwrite = csm_real.pwrite;
	sysio.preadv = csm_real.preadv;
	sysio.pwritev = csm_real.pwritev;
	sysio.pwritev2 = csm_real.pwritev2;
	sysio.fsync = csm_real.fsync;
	sysio.fdatasync = csm_real.fdatasync;
	sysio.ftruncate = csm_real.ftruncate;
	sysio.fstat = csm_real.fstat;
	sysio.fallocate = csm_real.fallocate;
	sysio.ioctl = csm_real.ioctl;
	sysio.lseek = csm_real.lseek;
	sysio.close = csm_real.close;
	sysio.fcntl = csm_real.fcntl;
	sysio.fadvise = csm_real.posix_fadvise;
}

static int open_private(const char *path, bool need_write, bool create)
{
	int fl = O_CLOEXEC | (create ? O_CREAT : 0);
	int fd = csm_real.open(path, O_RDWR | fl, 0644);
	if (fd < 0 && !need_write && (errno == EACCES || errno == EROFS))
		fd = csm_real.open(path, O_RDONLY | fl, 0644);
	return fd;
}

/* Open (and when the config allows, format) the engine for a configured
 * file.  `trunc`: the program asked for O_TRUNC.  Returns -errno. */
int attach(struct shim_inode *ino, const struct csm_rule *r, bool need_write, bool trunc,
           bool created)
{
	const char *path = ino->path;
	bool sep = r->layout == CSM_LAYOUT_SEPARATE;
	char *meta = sep ? csm_config_meta_path(r, path) : NULL;
	int dfd = -1, mfd = -1, rc;
	dfd = open_private(path, need_write, false);
	if (dfd < 0) {
		rc = -errno;
		goto fail;
	}
	bool blk = false;
	uint64_t dsize = 0, msize = 0;
	csm_fd_size(&sysio, dfd, &dsize, &blk); /* unknown: treated as empty */
	bool fresh = created || (dsize == 0 && !blk);
	bool format = false;
	if (sep) {
		mfd = open_private(meta, need_write, r->create && (fresh || trunc));
		if (mfd < 0) {
			rc = -errno;
			if (rc == -ENOENT) {
				shim_log("%s: not a csumshim file (no metadata file %s); import it "
				         "first "
				         "with 'csumshim import'",
				         path, meta);
				rc = -EMEDIUMTYPE;
			}
			goto fail;
		}
		csm_fd_size(&sysio, mfd, &msize, NULL);
		format = msize == 0 || (trunc && r->create);
		if (!format && created && dsize == 0 && r->create) {
			/* This open created the data file, yet a metadata file
			 * describing content is there: left by a data file deleted
			 * without the shim (or by a crash between the two removals).
			 * Taken as it is, every block would fail verification. */
			uint8_t head[CSM_SB_SIZE];
			struct csm_super old;
			ssize_t n = csm_real.pread(mfd, head, sizeof(head), 0);
			if (n > 0 && csm_sb_decode(head, (size_t)n, &old) == CSM_SB_OK &&
			    old.logical_size > 0) {
				shim_log("%s: stale metadata file %s (its data file was deleted); "
				         "formatting anew",
				         path, meta);
				format = true;
			}
		}
		if (format && !fresh && !trunc) {
			shim_log("%s: has data but its metadata file %s is empty; import it first",
			         path, meta);
			rc = -EMEDIUMTYPE;
			goto fail;
		}
	} else {
		mfd = dfd;
		uint8_t head[CSM_SB_SIZE];
		ssize_t n = csm_real.pread(dfd, head, sizeof(head), 0);
		struct csm_super sb;
		if (fresh || (trunc && r->create && !blk)) {
			format = true;
		} else if (n > 0 && csm_sb_decode(head, (size_t)n, &sb) == CSM_SB_OK &&
		           sb.layout == CSM_LAYOUT_SEPARATE) {
			shim_log("%s: is a csumshim metadata file, not a data file", path);
			rc = -EMEDIUMTYPE;
			goto fail;
		} else if (n <= 0 || !csm_sb_has_magic(head, (size_t)n)) {
			shim_log("%s: not a csumshim file (existing data without a superblock); "
			         "import it first with 'csumshim import'",
			         path);
			rc = -EMEDIUMTYPE;
			goto fail;
		}
	}
	if (format && !r->create) {
		shim_log("%s: not formatted, and create = no for [%s]", path, r->glob);
		rc = -EMEDIUMTYPE;
		goto fail;
	}
	struct csm_backend be;
	rc = csm_backend_posix(&be, dfd, mfd, true, &sysio);
	if (rc < 0)
		goto fail;
	dfd = mfd = -1; /* owned by the backend now */
	char err[256];
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
	struct csm_engine_opts eo = {.cache_bytes = csm_cfg.cache_bytes,
	                             .log_only = r->log_only,
	                             .durability = r->durability,
	                             .no_solo = !r->solo,
	                             .report = on_event,
	                             .report_arg = ino};
	/* Debugging: CSUMSHIM_TRACE=GLOB logs every metadata and data write
	 * the engine makes to matching files. */
	const char *tr = getenv("CSUMSHIM_TRACE");
	if (tr && *tr && fnmatch(tr, path, 0) == 0) {
		eo.trace = on_trace;
		eo.trace_arg = ino;
	}
	struct csm_engine *e;
	rc = csm_open(&be, &eo, &e, err, sizeof(err));
	if (rc < 0) {
		shim_log("%s: %s", meta ? meta : path, err);
		goto fail;
	}
	const struct csm_recovery *rec = csm_open_recovery(e);
	if (rec->ran)
		shim_log("%s: recovered after an unclean shutdown: %llu of %llu groups were dirty, "
		         "%llu blocks re-checked, %llu could not be verified, %llu fail "
		         "verification",
		         path, (unsigned long long)rec->dirty_groups,
		         (unsigned long long)rec->groups, (unsigned long long)rec->blocks_checked,
		         (unsigned long long)rec->blocks_unverified,
		         (unsigned long long)rec->blocks_lost);
	atomic_store_explicit(&ino->e, e, memory_order_release);
	if (trunc && !format && need_write && csm_truncate(ino->e, 0) < 0) {
		rc = -errno;
		csm_close(ino->e);
		ino->e = NULL;
		goto fail;
	}
	ino->blockdev = blk;
	free(meta);
	return 0;
fail:
	if (dfd >= 0)
		csm_real.close(dfd);
	if (mfd >= 0 && mfd != dfd)
		csm_real.close(mfd);
	free(meta);
	return rc;
}
