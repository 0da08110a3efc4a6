/*
 * glibc's compat stat names, which binaries built before glibc 2.33 call
 * instead of stat/fstat/lstat/fstatat: the same calls with a version
 * argument first.  On x86-64 glibc accepted _STAT_VER_KERNEL (0) and
 * _STAT_VER_LINUX (1), both with today's struct stat; anything else is
 * EINVAL, as there.  Each goes to the shim's own wrapper, so sizes are
 * logical.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "kaio.h"
#include "wrap.h"

static int bad_version(int ver)
{
	if (ver == 0 || ver == 1)
		return 0;
	errno = EINVAL;
	return -1;
}

API int __fxstat(int ver, int fd, struct stat *st)
{
	return bad_version(ver) ?: fstat(fd, st);
}

API int __fxstat64(int ver, int fd, struct stat64 *st)
{
	return bad_version(ver) ?: fstat64(fd, st);
}

API int __xstat(int ver, const char *path, struct stat *st)
{
	return bad_version(ver) ?: stat(path, st);
}

API int __xstat64(int ver, const char *path, struct stat64 *st)
{
	return bad_version(ver) ?: stat64(path, st);
}

API int __lxstat(int ver, const char *path, struct stat *st)
{
	return bad_version(ver) ?: lstat(path, st);
}

API int __lxstat64(int ver, const char *path, struct stat64 *st)
{
	return bad_version(ver) ?: lstat64(path, st);
}

API int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags)
{
	return bad_version(ver) ?: fstatat(dirfd, path, st, flags);
}

API int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st, int flags)
{
	return bad_version(ver) ?: fstatat64(dirfd, path, st, flags);
}
