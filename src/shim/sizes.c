/*
 * Sizes: the stat family reports a protected file's logical size, and
 * ftruncate, truncate and the fallocate calls change it through the
 * engine.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/falloc.h>

#include "wrap.h"

static void fix_size_fd(int fd, off_t *st_size)
{
	struct shim_file *f = ours(fd);
	struct shim_io *e = f && !f->ino->blockdev ? shim_engine(f) : NULL;
	if (e)
		*st_size = (off_t)io_size_refresh(e); /* another process may have changed it */
}

static void fix_size_path(int dirfd, const char *path, bool nofollow, bool isreg, off_t *st_size)
{
	uint64_t size = 0;
	if (isreg && (!kernel_fs_path(path) || csm_cfg_loaded) && active() &&
	    GUARDED(shim_path_size(dirfd, path, nofollow, &size)) == 1)
		*st_size = (off_t)size;
}

API int fstat(int fd, struct stat *st)
{
	int r = REAL(fstat)(fd, st);
	if (r == 0)
		fix_size_fd(fd, &st->st_size);
	return r;
}

API int fstat64(int fd, struct stat64 *st)
{
	int r = REAL(fstat64)(fd, st);
	if (r == 0)
		fix_size_fd(fd, &st->st_size);
	return r;
}

// NOLINTBEGIN(bugprone-macro-parentheses): type arguments
#define STAT_WRAPPER(name, type, nofollow)                                            \
	API int name(const char *path, type *st)                                      \
	{                                                                             \
		int r = REAL(name)(path, st);                                         \
		if (r == 0)                                                           \
			fix_size_path(AT_FDCWD, path, nofollow, S_ISREG(st->st_mode), \
			              &st->st_size);                                  \
		return r;                                                             \
	}
STAT_WRAPPER(stat, struct stat, false)
STAT_WRAPPER(stat64, struct stat64, false)
STAT_WRAPPER(lstat, struct stat, true)
STAT_WRAPPER(lstat64, struct stat64, true)

#define FSTATAT_WRAPPER(name, type)                                                    \
	API int name(int dirfd, const char *path, type *st, int flags)                 \
	{                                                                              \
		int r = REAL(name)(dirfd, path, st, flags);                            \
		if (r != 0)                                                            \
			return r;                                                      \
		if ((flags & AT_EMPTY_PATH) && !*path)                                 \
			fix_size_fd(dirfd, &st->st_size);                              \
		else                                                                   \
			fix_size_path(dirfd, path, (flags & AT_SYMLINK_NOFOLLOW) != 0, \
			              S_ISREG(st->st_mode), &st->st_size);             \
		return 0;                                                              \
	}
FSTATAT_WRAPPER(fstatat, struct stat)
FSTATAT_WRAPPER(fstatat64, struct stat64)
// NOLINTEND(bugprone-macro-parentheses)

API int statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *stx)
{
	int r = REAL(statx)(dirfd, path, flags, mask, stx);
	if (r != 0 || !(stx->stx_mask & STATX_SIZE))
		return r;
	off_t size = (off_t)stx->stx_size;
	if ((flags & AT_EMPTY_PATH) && !*path)
		fix_size_fd(dirfd, &size);
	else
		fix_size_path(dirfd, path, (flags & AT_SYMLINK_NOFOLLOW) != 0,
		              S_ISREG(stx->stx_mode), &size);
	stx->stx_size = (uint64_t)size;
	return 0;
}

static int shim_ftruncate(struct shim_file *f, off_t len)
{
	if ((atomic_load(&f->flags) & O_ACCMODE) == O_RDONLY) {
		errno = EINVAL; /* what the kernel says for a read-only descriptor */
		return -1;
	}
	if (len < 0) {
		errno = EINVAL;
		return -1;
	}
	struct shim_io *e = shim_engine(f);
	return e ? io_truncate(e, (uint64_t)len) : -1;
}

API int ftruncate(int fd, off_t len)
{
	struct shim_file *f = ours(fd);
	return f ? GUARDED(shim_ftruncate(f, len)) : REAL(ftruncate)(fd, len);
}

API int ftruncate64(int fd, off64_t len)
{
	struct shim_file *f = ours(fd);
	return f ? GUARDED(shim_ftruncate(f, (off_t)len)) : REAL(ftruncate64)(fd, len);
}

/* truncate(path): through a configured open when the path is ours. */
static int path_truncate(const char *path, off_t len, bool *handled)
{
	int fd = open_at(AT_FDCWD, path, O_WRONLY, 0, handled);
	if (!*handled)
		return -1;
	if (fd < 0)
		return -1;
	int r = GUARDED(shim_ftruncate(shim_fd(fd), len));
	int e = errno;
	close(fd);
	errno = e;
	return r;
}

API int truncate(const char *path, off_t len)
{
	bool handled;
	int r = path_truncate(path, len, &handled);
	return handled ? r : REAL(truncate)(path, len);
}

API int truncate64(const char *path, off64_t len)
{
	bool handled;
	int r = path_truncate(path, (off_t)len, &handled);
	return handled ? r : REAL(truncate64)(path, len);
}

/* fallocate: allocation grows the logical size (zero fill); punching a
 * hole or zeroing a range becomes a zeroed logical range whose blocks are
 * never-written (verified zeros). */
static int shim_fallocate(struct shim_file *f, int mode, off_t off, off_t len)
{
	struct shim_io *e = shim_engine(f);
	if (!e)
		return -1;
	if (off < 0 || len <= 0) {
		errno = EINVAL;
		return -1;
	}
	if ((atomic_load(&f->flags) & O_ACCMODE) == O_RDONLY) {
		errno = EBADF;
		return -1;
	}
	uint64_t end = (uint64_t)off + (uint64_t)len;
	int keep = mode & FALLOC_FL_KEEP_SIZE;
	switch (mode & ~FALLOC_FL_KEEP_SIZE) {
	case 0:
		return (!keep && end > io_size(e)) ? io_truncate(e, end) : 0;
	case FALLOC_FL_PUNCH_HOLE:
		if (!keep) {
			errno = EOPNOTSUPP;
			return -1;
		}
		return io_zero_range(e, (uint64_t)off, (uint64_t)len);
	case FALLOC_FL_ZERO_RANGE:
		if (io_zero_range(e, (uint64_t)off, (uint64_t)len) < 0)
			return -1;
		return (!keep && end > io_size(e)) ? io_truncate(e, end) : 0;
	default:
		errno = EOPNOTSUPP; /* collapse/insert range would move metadata */
		return -1;
	}
}

API int fallocate(int fd, int mode, off_t off, off_t len)
{
	struct shim_file *f = ours(fd);
	return f ? GUARDED(shim_fallocate(f, mode, off, len)) : REAL(fallocate)(fd, mode, off, len);
}

API int fallocate64(int fd, int mode, off64_t off, off64_t len)
{
	struct shim_file *f = ours(fd);
	return f ? GUARDED(shim_fallocate(f, mode, (off_t)off, (off_t)len))
	         : REAL(fallocate64)(fd, mode, off, len);
}

API int posix_fallocate(int fd, off_t off, off_t len)
{
	struct shim_file *f = ours(fd);
	if (!f)
		return REAL(posix_fallocate)(fd, off, len);
	int e = errno;
	int rr = GUARDED(shim_fallocate(f, 0, off, len));
	int r = rr < 0 ? errno : 0;
	errno = e;
	return r;
}

API int posix_fallocate64(int fd, off64_t off, off64_t len)
{
	return posix_fallocate(fd, (off_t)off, (off_t)len);
}
