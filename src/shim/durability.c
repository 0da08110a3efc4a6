/*
 * Calls that reach the engine without moving data: durability (fsync,
 * fdatasync, sync_file_range), page-cache advice (posix_fadvise,
 * readahead) and device ioctls (a block device's size, discard and
 * zeroing; reflinks refused).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <sys/ioctl.h>

#include "wrap.h"

/* ---- durability ------------------------------------------------------- */

static int shim_sync(struct shim_file *f, bool datasync)
{
	struct shim_io *e = shim_engine(f);
	return e ? io_fsync(e, datasync) : -1;
}

API int fsync(int fd)
{
	struct shim_file *f = ours(fd);
	return f ? GUARDED(shim_sync(f, false)) : REAL(fsync)(fd);
}

API int fdatasync(int fd)
{
	struct shim_file *f = ours(fd);
	return f ? GUARDED(shim_sync(f, true)) : REAL(fdatasync)(fd);
}

API int sync_file_range(int fd, off64_t off, off64_t n, unsigned flags)
{
	struct shim_file *f = ours(fd);
	return f ? GUARDED(shim_sync(f, true)) : REAL(sync_file_range)(fd, off, n, flags);
}

/* ---- page-cache advice ------------------------------------------------ */

/* The engine reads through its own descriptors, at physical offsets: advice
 * given on the program's descriptor would reach neither, so it is moved
 * there.  Access-pattern advice (RANDOM, SEQUENTIAL...) then holds for every
 * open of the file in this process, which shares one engine. */
static int shim_advise(struct shim_file *f, off_t off, off_t len, int advice)
{
	if (off < 0 || len < 0 || advice < POSIX_FADV_NORMAL || advice > POSIX_FADV_NOREUSE)
		return EINVAL;
	int saved = errno;
	struct shim_io *e = shim_engine(f);
	if (!e) {
		int r = errno;
		errno = saved;
		return r;
	}
	io_advise(e, (uint64_t)off, (uint64_t)len, advice);
	return 0;
}

API int posix_fadvise(int fd, off_t off, off_t len, int advice)
{
	struct shim_file *f = ours(fd);
	return f ? GUARDED(shim_advise(f, off, len, advice))
	         : REAL(posix_fadvise)(fd, off, len, advice);
}

API int posix_fadvise64(int fd, off64_t off, off64_t len, int advice)
{
	struct shim_file *f = ours(fd);
	return f ? GUARDED(shim_advise(f, (off_t)off, (off_t)len, advice))
	         : REAL(posix_fadvise64)(fd, off, len, advice);
}

API ssize_t readahead(int fd, off64_t off, size_t n)
{
	struct shim_file *f = ours(fd);
	if (!f)
		return REAL(readahead)(fd, off, n);
	int r = GUARDED(shim_advise(f, (off_t)off, (off_t)(n > INT64_MAX ? INT64_MAX : n),
	                            POSIX_FADV_WILLNEED));
	if (r) {
		errno = r;
		return -1;
	}
	return 0;
}

/* ---- devices ---------------------------------------------------------- */

API int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	struct shim_file *f = ours(fd);
	/* A reflink would copy raw stored bytes, metadata and all. */
	if ((req == FICLONE || req == FICLONERANGE || req == FIDEDUPERANGE) &&
	    (f || (req == FICLONE && ours((int)(long)arg)) ||
	     (req == FICLONERANGE && arg && ours((int)((struct file_clone_range *)arg)->src_fd)))) {
		errno = EOPNOTSUPP;
		return -1;
	}
	if (!f || !f->ino->blockdev)
		return REAL(ioctl)(fd, req, arg);
	struct shim_io *e = shim_engine(f);
	if (!e)
		return -1;
	switch (req) {
	case BLKGETSIZE64:
		*(uint64_t *)arg = io_size(e);
		return 0;
	case BLKGETSIZE:
		*(unsigned long *)arg = (unsigned long)(io_size(e) >> 9);
		return 0;
	case BLKDISCARD:
	case BLKSECDISCARD:
	case BLKZEROOUT: {
		const uint64_t *range = arg;
		return GUARDED(io_zero_range(e, range[0], range[1]));
	}
	default:
		return REAL(ioctl)(fd, req, arg);
	}
}
