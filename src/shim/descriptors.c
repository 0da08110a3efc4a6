/*
 * The descriptor calls: close, close_range, dup, dup2, dup3 and fcntl
 * keep the fd table (and the standard streams) in step with the kernel's;
 * a program's byte-range locks on a protected file are kept in logical
 * offsets and below the bytes the engine locks.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>

#include "wrap.h"

API int close(int fd)
{
	if (!ours(fd))
		return REAL(close)(fd);
	shim_std_before(fd);
	shim_forget_fd(fd);
	int r = REAL(close)(fd);
	shim_std_after(fd);
	return r;
}

API int close_range(unsigned first, unsigned last, int flags)
{
	if (!REAL(close_range)) {
		errno = ENOSYS;
		return -1;
	}
	int r = csm_real.close_range(first, last, flags);
	if (r == 0 && !(flags & CLOSE_RANGE_CLOEXEC) && !csm_guard) {
		shim_forget_range(first, last);
		for (int fd = 0; fd <= 2; fd++)
			if ((unsigned)fd >= first && (unsigned)fd <= last)
				shim_std_after(fd);
	}
	return r;
}

API int dup(int fd)
{
	int r = REAL(dup)(fd);
	if (r >= 0 && ours(fd)) {
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

API int dup2(int oldfd, int newfd)
{
	if (csm_guard)
		return REAL(dup2)(oldfd, newfd);
	shim_std_before(newfd);
	return redirect(REAL(dup2)(oldfd, newfd), oldfd, newfd);
}

API int dup3(int oldfd, int newfd, int flags)
{
	if (csm_guard)
		return REAL(dup3)(oldfd, newfd, flags);
	shim_std_before(newfd);
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
			struct csm_engine *e = shim_engine(f);
			base = e ? (off_t)csm_size_refresh(e) : -1;
		}
		if (base < 0)
			return false; /* let the kernel judge it */
		out->l_whence = SEEK_SET;
		out->l_start = base + in->l_start;
	}
	const off_t limit = (off_t)CSM_LOCK_BASE;
	if (out->l_whence == SEEK_SET && out->l_start >= 0 && out->l_start < limit &&
	    (out->l_len == 0 || (out->l_len > 0 && out->l_len > limit - out->l_start)))
		out->l_len = limit - out->l_start;
	return true;
}

static int do_fcntl(int (*real)(int, int, ...), int fd, int cmd, void *arg)
{
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
	if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) {
		shim_share_fd(fd, r);
		shim_std_after(r);
	} else if (cmd == F_SETFL) {
		int keep = atomic_load(&f->flags) & (O_ACCMODE | O_CLOEXEC);
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
