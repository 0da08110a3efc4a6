/*
 * The descriptor calls: close, close_range, closefrom, dup, dup2, dup3 and
 * fcntl keep the fd table (and the standard streams) in step with the
 * kernel's.  The shim's own descriptors (ownfds.c) are not the program's:
 * closing one, or asking fcntl or dup about it, is EBADF as for a number
 * never opened; close_range and closefrom pass over them; dup2 or dup3
 * onto one first moves ours away.  A child sharing the parent's memory
 * (vfork, posix_spawn, clone(CLONE_VM)) acts on its kernel descriptors
 * only: the table, the engines and the streams are its parent's.
 * A program's byte-range locks on a protected file are kept in logical
 * offsets and below the bytes the engine locks.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>

#include "maplock.h"
#include "wrap.h"

/* fd is one of the shim's own, which the program never opened. */
static bool theirs(int fd)
{
	if (csm_guard || !shim_own_is(fd))
		return false;
	errno = EBADF;
	return true;
}

API int close(int fd)
{
	if (theirs(fd))
		return -1;
	if (!ours(fd) || shim_foreign())
		return REAL(close)(fd);
	shim_std_before(fd);
	int sync_err = shim_forget_fd(fd);
	int r = REAL(close)(fd);
	shim_std_after(fd);
	if (r == 0 && sync_err < 0) { /* the descriptor is closed all the same */
		errno = -sync_err;
		r = -1;
	}
	return r;
}

/* The real close_range over [first, last] less the shim's descriptors, in
 * pieces.  CLOSE_RANGE_UNSHARE goes with the first piece (or alone). */
static int close_pieces(unsigned first, unsigned last, int flags)
{
	int r = 0, fl = flags;
	unsigned from = first;
	for (;;) {
		int own = shim_own_next(from > INT_MAX ? INT_MAX : (int)from,
		                        last > INT_MAX ? INT_MAX : (int)last);
		if (own < 0 || (unsigned)own > from) {
			unsigned to = own < 0 ? last : (unsigned)own - 1;
			if (csm_real.close_range(from, to, fl) < 0)
				r = -1;
			fl &= ~CLOSE_RANGE_UNSHARE;
		}
		if (own < 0 || (unsigned)own >= last)
			break;
		from = (unsigned)own + 1;
	}
	if ((fl & CLOSE_RANGE_UNSHARE) && unshare(CLONE_FILES) < 0)
		r = -1;
	return r;
}

/* After a range was closed: the table and the standard streams follow. */
static void closed_range(unsigned first, unsigned last)
{
	shim_forget_range(first, last);
	for (int fd = 0; fd <= 2; fd++)
		if ((unsigned)fd >= first && (unsigned)fd <= last)
			shim_std_after(fd);
}

API int close_range(unsigned first, unsigned last, int flags)
{
	if (!REAL(close_range)) {
		errno = ENOSYS;
		return -1;
	}
	if (csm_guard || first > last || (flags & ~(CLOSE_RANGE_CLOEXEC | CLOSE_RANGE_UNSHARE)))
		return csm_real.close_range(first, last, flags); /* the kernel's errors */
	int r = close_pieces(first, last, flags);
	if (r == 0 && !(flags & CLOSE_RANGE_CLOEXEC) && !shim_foreign())
		closed_range(first, last);
	return r;
}

/* glibc's closefrom calls close_range (or walks /proc/self/fd) inside
 * libc, where no wrapper sees it. */
API void closefrom(int lowfd)
{
	unsigned first = lowfd < 0 ? 0 : (unsigned)lowfd;
	if (csm_guard) {
		REAL(closefrom)(lowfd);
		return;
	}
	csm_shim_init();
	if (!csm_real.close_range || close_pieces(first, ~0U, 0) < 0) {
		/* No close_range: each open descriptor but ours, one by one. */
		DIR *d = opendir("/proc/self/fd");
		struct dirent *de;
		while (d && (de = readdir(d))) {
			char *end;
			long fd = strtol(de->d_name, &end, 10);
			if (!*end && fd >= (long)first && fd != dirfd(d) && !shim_own_is((int)fd))
				csm_real.close((int)fd);
		}
		if (d)
			closedir(d);
	}
	if (!shim_foreign())
		closed_range(first, ~0U);
}

API int dup(int fd)
{
	if (theirs(fd))
		return -1;
	int r = REAL(dup)(fd);
	if (r >= 0 && ours(fd) && !shim_foreign()) {
		shim_share_fd(fd, r);
		shim_std_after(r);
	}
	return r;
}

/* dup2/dup3: newfd may stop or start being ours. */
static int redirect(int r, int oldfd, int newfd)
{
	if (r >= 0 && oldfd != newfd && (shim_fd(oldfd) || shim_fd(newfd)))
		shim_share_fd(oldfd, newfd);
	shim_std_after(newfd);
	return r;
}

/* Before dup2/dup3 onto newfd: 0 to go on, -1 (errno set) to fail. */
static int before_redirect(int oldfd, int newfd)
{
	if (theirs(oldfd))
		return -1;
	if (shim_own_is(newfd) && shim_own_move(newfd) < 0)
		return -1;
	shim_std_before(newfd);
	return 0;
}

API int dup2(int oldfd, int newfd)
{
	if (csm_guard || shim_foreign())
		return REAL(dup2)(oldfd, newfd);
	if (before_redirect(oldfd, newfd) < 0)
		return -1;
	return redirect(REAL(dup2)(oldfd, newfd), oldfd, newfd);
}

API int dup3(int oldfd, int newfd, int flags)
{
	if (csm_guard || shim_foreign())
		return REAL(dup3)(oldfd, newfd, flags);
	if (before_redirect(oldfd, newfd) < 0)
		return -1;
	return redirect(REAL(dup3)(oldfd, newfd, flags), oldfd, newfd);
}

/* A program's byte-range lock on a protected file: its offsets are logical
 * (SEEK_END means the logical size) and it must stay below the bytes the
 * engine locks (CSM_LOCK_BASE): "lock to the end" would otherwise make the
 * engine wait on its own process. */
static bool clamp_lock(struct shim_file *f, int fd, int cmd, const struct flock *in,
                       struct flock *out)
{
	if (cmd != F_SETLK && cmd != F_SETLKW && cmd != F_GETLK && cmd != F_OFD_SETLK &&
	    cmd != F_OFD_SETLKW && cmd != F_OFD_GETLK)
		return false;
	*out = *in;
	if (in->l_whence == SEEK_CUR || in->l_whence == SEEK_END) {
		off_t base = in->l_whence == SEEK_CUR ? csm_real.lseek(fd, 0, SEEK_CUR) : -1;
		if (in->l_whence == SEEK_END) {
			struct shim_io *e = shim_engine(f);
			base = e ? (off_t)io_size_refresh(e) : -1;
		}
		if (base < 0)
			return false; /* let the kernel judge it */
		out->l_whence = SEEK_SET;
		out->l_start = base + in->l_start;
	}
	const off_t limit = (off_t)SHIM_LOCK_FLOOR;
	if (out->l_whence == SEEK_SET && out->l_start >= 0 && out->l_start < limit &&
	    (out->l_len == 0 || (out->l_len > 0 && out->l_len > limit - out->l_start)))
		out->l_len = limit - out->l_start;
	return true;
}

static int do_fcntl(int (*real)(int, int, ...), int fd, int cmd, void *arg)
{
	if (theirs(fd))
		return -1;
	struct shim_file *lf = ours(fd);
	struct flock fl;
	if (lf && arg && clamp_lock(lf, fd, cmd, arg, &fl)) {
		int r = real(fd, cmd, &fl);
		if (r == 0 && (cmd == F_GETLK || cmd == F_OFD_GETLK)) {
			struct flock *user = arg;
			user->l_type = fl.l_type;
			if (fl.l_type != F_UNLCK) {
				user->l_whence = SEEK_SET;
				user->l_start = fl.l_start;
				user->l_len = fl.l_len;
				user->l_pid = fl.l_pid;
			}
		}
		return r;
	}
	int r = real(fd, cmd, arg);
	struct shim_file *f = ours(fd);
	if (r < 0 || !f)
		return r;
	if ((cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) && !shim_foreign()) {
		shim_share_fd(fd, r);
		shim_std_after(r);
	} else if (cmd == F_SETFL) {
		/* Linux's F_SETFL leaves the access mode and O_SYNC/O_DSYNC. */
		int keep = atomic_load(&f->flags) & (O_ACCMODE | O_CLOEXEC | O_SYNC | O_DSYNC);
		int set = (int)(long)arg & (O_APPEND | O_NONBLOCK | O_DIRECT | O_NOATIME | O_ASYNC);
		atomic_store(&f->flags, keep | set);
	}
	return r;
}

API int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	return do_fcntl(REAL(fcntl), fd, cmd, arg);
}

API int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	return do_fcntl(REAL(fcntl64), fd, cmd, arg);
}
