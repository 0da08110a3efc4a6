/*
 * The open calls (open, openat, their 64-bit and fortified forms, creat):
 * a path under a configured glob is opened through shim_open, which
 * registers the descriptor with its engine; any other goes to libc.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "state_int.h"
#include "wrap.h"

int shim_open(int dirfd, const char *path, int flags, mode_t mode, bool *handled)
{
	*handled = false;
	if (!csm_cfg.nrules || !path || (flags & O_PATH) || (flags & O_DIRECTORY))
		return -1;
	char abs[PATH_MAX];
	int rc = resolve(dirfd, path, (flags & O_NOFOLLOW) != 0, abs);
	if (rc == RESOLVE_UNNAMED) {
		/* Fail closed: it may be protected, and must not go unverified. */
		*handled = true;
		shim_log("%s (in directory descriptor %d): cannot tell whether it is protected "
		         "(no /proc, and a directory above it cannot be read); open refused",
		         path, dirfd);
		errno = EPERM;
		return -1;
	}
	if (rc < 0)
		return -1;
	const struct csm_rule *r = csm_config_match(&csm_cfg, abs);
	/* A child sharing our memory (vfork) must not register anything:
	 * the table is its parent's.  What it execs adopts the descriptor. */
	if (!r || shim_foreign())
		return -1;
	*handled = true;
	/* The kernel must not truncate or append: the engine does both. */
	bool existed =
	        (flags & O_CREAT) ? csm_real.fstatat(dirfd, path, &(struct stat){0}, 0) == 0 : true;
	int fd = csm_real.openat(dirfd, path, flags & ~O_TRUNC, mode);
	if (fd < 0)
		return -1;
	pthread_mutex_lock(&smu);
	rc = register_fd(fd, abs, r, flags, !existed);
	pthread_mutex_unlock(&smu);
	if (rc < 0) {
		csm_real.close(fd);
		if (!existed)
			csm_real.unlink(abs); /* a failed create leaves nothing behind */
		errno = -rc;
		return -1;
	}
	return fd;
}

static mode_t va_mode(int flags, va_list ap)
{
	return (flags & (O_CREAT | __O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

int open_at(int dirfd, const char *path, int flags, mode_t mode, bool *handled)
{
	*handled = false;
	if (kernel_fs_path(path) || !active())
		return -1;
	csm_guard++;
	int fd = shim_open(dirfd, path, flags, mode, handled);
	csm_guard--;
	shim_std_after(fd); /* opened onto a closed 0, 1 or 2 */
	return fd;
}

#define OPEN_WRAPPER(name)                                               \
	API int name(const char *path, int flags, ...)                   \
	{                                                                \
		va_list ap;                                              \
		va_start(ap, flags);                                     \
		mode_t mode = va_mode(flags, ap);                        \
		va_end(ap);                                              \
		bool handled;                                            \
		int fd = open_at(AT_FDCWD, path, flags, mode, &handled); \
		return handled ? fd : REAL(name)(path, flags, mode);     \
	}
OPEN_WRAPPER(open)
OPEN_WRAPPER(open64)

#define OPENAT_WRAPPER(name)                                                \
	API int name(int dirfd, const char *path, int flags, ...)           \
	{                                                                   \
		va_list ap;                                                 \
		va_start(ap, flags);                                        \
		mode_t mode = va_mode(flags, ap);                           \
		va_end(ap);                                                 \
		bool handled;                                               \
		int fd = open_at(dirfd, path, flags, mode, &handled);       \
		return handled ? fd : REAL(name)(dirfd, path, flags, mode); \
	}
OPENAT_WRAPPER(openat)
OPENAT_WRAPPER(openat64)

/* Fortified opens: no mode argument (glibc aborts on O_CREAT there). */
#define OPEN2_WRAPPER(name)                                                     \
	API int name(const char *path, int flags)                               \
	{                                                                       \
		bool handled = false;                                           \
		int fd = (flags & (O_CREAT | __O_TMPFILE))                      \
		                 ? -1                                           \
		                 : open_at(AT_FDCWD, path, flags, 0, &handled); \
		return handled ? fd : REAL(name)(path, flags);                  \
	}
OPEN2_WRAPPER(__open_2)
OPEN2_WRAPPER(__open64_2)

#define OPENAT2_WRAPPER(name)                                                \
	API int name(int dirfd, const char *path, int flags)                 \
	{                                                                    \
		bool handled = false;                                        \
		int fd = (flags & (O_CREAT | __O_TMPFILE))                   \
		                 ? -1                                        \
		                 : open_at(dirfd, path, flags, 0, &handled); \
		return handled ? fd : REAL(name)(dirfd, path, flags);        \
	}
OPENAT2_WRAPPER(__openat_2)
OPENAT2_WRAPPER(__openat64_2)

#define CREAT_WRAPPER(name)                                                                     \
	API int name(const char *path, mode_t mode)                                             \
	{                                                                                       \
		bool handled;                                                                   \
		int fd = open_at(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode, &handled); \
		return handled ? fd : REAL(name)(path, mode);                                   \
	}
CREAT_WRAPPER(creat)
CREAT_WRAPPER(creat64)
