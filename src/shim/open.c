/*
 * The open calls (open, openat, their 64-bit and fortified forms, creat):
 * a path under a configured glob is opened through shim_open, which
 * registers the descriptor with its engine; any other goes to libc.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "state_int.h"
#include "wrap.h"

/* The name of what an O_PATH descriptor refers to; a deleted file's is
 * the name it had.  0, or -1. */
static int opath_name(int fd, char out[PATH_MAX])
{
	char link[64];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, out, PATH_MAX - 1);
	if (n <= 0 || out[0] != '/')
		return -1;
	out[n] = 0;
	static const char del[] = " (deleted)";
	size_t dl = sizeof(del) - 1;
	struct stat st;
	if ((size_t)n > dl && !strcmp(out + n - dl, del) && csm_real.fstat(fd, &st) == 0 &&
	    st.st_nlink == 0)
		out[n - dl] = 0;
	return 0;
}

/* A path through /proc (/proc/self/fd/N and /dev/fd/N, which leads
 * there; /proc/PID/root/..., /proc/self/cwd/...) reaches its file through
 * the kernel's magic links, which resolve() cannot follow (a deleted
 * file's does not resolve at all): opened raw, it would read the stored
 * bytes and write round the checksums.  The name of the file it reaches in
 * abs, and in *pfd an O_PATH descriptor of it to open it through; for a
 * new file (O_CREAT), its name through its directory's (*pfd -1).  0, or
 * -1 if it reaches no regular file or device. */
static int proc_resolve(int dirfd, const char *path, int flags, char abs[PATH_MAX], int *pfd)
{
	*pfd = -1;
	int fd = csm_real.openat(dirfd, path, O_PATH | O_CLOEXEC | (flags & O_NOFOLLOW));
	if (fd < 0) {
		const char *slash = strrchr(path, '/');
		if (errno != ENOENT || !(flags & O_CREAT) || !slash || !slash[1])
			return -1;
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
		int d = csm_real.openat(dirfd, dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (d < 0)
			return -1;
		int rc = opath_name(d, abs);
		csm_real.close(d);
		size_t al = rc < 0 ? 0 : strlen(abs), sl = strlen(slash);
		if (rc < 0 || al + sl >= PATH_MAX)
			return -1;
		memcpy(abs + al, slash, sl + 1);
		return 0;
	}
	struct stat st;
	if (csm_real.fstat(fd, &st) < 0 || (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) ||
	    opath_name(fd, abs) < 0) {
		csm_real.close(fd);
		return -1;
	}
	*pfd = fd;
	return 0;
}

int shim_open(int dirfd, const char *path, int flags, mode_t mode, bool *handled)
{
	*handled = false;
	if (!csm_cfg.nrules || !path || (flags & O_PATH) || (flags & O_DIRECTORY))
		return -1;
	char abs[PATH_MAX], via[64];
	int pfd = -1, rc = 0;
	/* Also a path leading into /proc: /dev/fd/N, a symlink to one. */
	bool viaproc = kernel_fs_path(path);
	if (!viaproc) {
		rc = resolve(dirfd, path, (flags & O_NOFOLLOW) != 0, abs);
		viaproc = rc == 0 && kernel_fs_path(abs);
	}
	if (viaproc) {
		rc = proc_resolve(dirfd, path, flags, abs, &pfd);
		if (rc == 0 && pfd < 0) {
			path = abs; /* a new file, by its directory's name */
			dirfd = AT_FDCWD;
		}
	}
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
	if (!r || shim_foreign()) {
		if (pfd >= 0)
			csm_real.close(pfd);
		return -1;
	}
	*handled = true;
	if (pfd >= 0) {
		/* The very file the /proc path reached (its check is done). */
		snprintf(via, sizeof(via), "/proc/self/fd/%d", pfd);
		path = via;
		dirfd = AT_FDCWD;
		flags &= ~O_NOFOLLOW;
	}
	/* The kernel must not truncate or append: the engine does both. */
	bool existed =
	        (flags & O_CREAT) ? csm_real.fstatat(dirfd, path, &(struct stat){0}, 0) == 0 : true;
	int fd = csm_real.openat(dirfd, path, flags & ~O_TRUNC, mode);
	if (pfd >= 0) {
		int e = errno;
		csm_real.close(pfd);
		errno = e;
	}
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
	/* /proc paths never load the configuration (start-up); once loaded,
	 * those reaching a protected file are served (shim_open). */
	if ((kernel_fs_path(path) && !csm_cfg_loaded) || !active())
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

/* posix_spawn opens a file action's path in the child with glibc's
 * internal open, which no interposer sees: O_TRUNC would cut the stored
 * file raw (its checksums and, interleaved, its blocks' places with it).
 * The exec'd program adopts the descriptor, but the damage is done, so
 * an O_TRUNC action on a protected path is refused (EINVAL, logged).
 * Without O_TRUNC the descriptor is adopted at the program's start-up. */
API int posix_spawn_file_actions_addopen(posix_spawn_file_actions_t *fa, int fd, const char *path,
                                         int oflag, mode_t mode)
{
	if ((oflag & O_TRUNC) && active() && !shim_foreign()) {
		char abs[PATH_MAX];
		csm_guard++;
		bool mine = resolve(AT_FDCWD, path, (oflag & O_NOFOLLOW) != 0, abs) == 0 &&
		            csm_config_match(&csm_cfg, abs);
		csm_guard--;
		if (mine) {
			shim_log("%s: posix_spawn file action with O_TRUNC on a configured file "
			         "refused (the child would truncate it raw); truncate it first",
			         abs);
			return EINVAL;
		}
	}
	return REAL(posix_spawn_file_actions_addopen)(fa, fd, path, oflag, mode);
}
