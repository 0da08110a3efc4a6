/*
 * stdio on configured files: fopen/fopen64/fdopen return a stream whose
 * reads, writes and seeks go through the verified fd calls (fopencookie);
 * glibc's own stdio internals are not interposable, so a plain FILE on a
 * configured file would bypass verification.  freopen onto a configured
 * path cannot keep the stream object and is refused with a log line.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "wrap.h"

static ssize_t ck_read(void *c, char *buf, size_t n)
{
	int fd = (int)(intptr_t)c;
	struct shim_file *f = shim_fd(fd);
	csm_guard++;
	ssize_t r = f ? shim_read(f, fd, buf, n) : (errno = EBADF, -1);
	csm_guard--;
	return r;
}

static ssize_t ck_write(void *c, const char *buf, size_t n)
{
	int fd = (int)(intptr_t)c;
	struct shim_file *f = shim_fd(fd);
	csm_guard++;
	ssize_t r = f ? shim_write(f, fd, buf, n) : (errno = EBADF, -1);
	csm_guard--;
	/* fopencookie: a short write is an error; 0 would loop forever. */
	return r < 0 ? 0 : r;
}

static int ck_seek(void *c, off64_t *pos, int whence)
{
	int fd = (int)(intptr_t)c;
	struct shim_file *f = shim_fd(fd);
	if (!f) {
		errno = EBADF;
		return -1;
	}
	csm_guard++;
	off_t r = shim_lseek(f, fd, (off_t)*pos, whence);
	csm_guard--;
	if (r < 0)
		return -1;
	*pos = r;
	return 0;
}

static int ck_close(void *c)
{
	int fd = (int)(intptr_t)c;
	int sync_err = shim_forget_fd(fd);
	int r = csm_real.close(fd);
	if (r == 0 && sync_err < 0) { /* fclose() returns EOF with this errno */
		errno = -sync_err;
		r = -1;
	}
	return r;
}

static const cookie_io_functions_t cookie_io = {
        .read = ck_read, .write = ck_write, .seek = ck_seek, .close = ck_close};

/* ---- the standard streams ----------------------------------------------
 * stdin/stdout/stderr are FILEs glibc made at start-up; its stdio calls its
 * own internal read/write, which no interposer sees.  While fd 0, 1 or 2 is
 * one of ours (a shell's "> file", dd's dup2), the matching standard stream
 * is swapped for a cookie stream on that fd, and swapped back when the fd
 * changes again.  Output is flushed before every switch. */

static const cookie_io_functions_t std_cookie_io = {
        .read = ck_read, .write = ck_write, .seek = ck_seek, .close = NULL};
static FILE *std_orig[3], *std_cookie[3];

static FILE **std_slot(int fd)
{
	return fd == 0 ? &stdin : fd == 1 ? &stdout : &stderr;
}

void shim_std_before(int fd)
{
	if (fd >= 1 && fd <= 2)
		fflush(*std_slot(fd));
}

void shim_std_after(int fd)
{
	if (fd < 0 || fd > 2)
		return;
	bool mine = shim_fd(fd) != NULL;
	FILE **slot = std_slot(fd);
	if (mine && !std_cookie[fd]) {
		void *cookie = (void *)(intptr_t)fd; // NOLINT(performance-no-int-to-ptr)
		FILE *c = fopencookie(cookie, fd == 0 ? "r" : "w", std_cookie_io);
		if (!c)
			return;
		c->_fileno = fd;
		if (fd == 2)
			setvbuf(c, NULL, _IONBF, 0);
		std_orig[fd] = *slot;
		std_cookie[fd] = c;
		*slot = c;
	} else if (!mine && std_cookie[fd]) {
		FILE *c = std_cookie[fd];
		std_cookie[fd] = NULL;
		*slot = std_orig[fd];
		fclose(c); /* already flushed; the fd is not closed */
	}
}

/* fopen mode -> open flags; -1 on a bad mode. */
static int mode_flags(const char *mode)
{
	int fl;
	switch (mode[0]) {
	case 'r':
		fl = O_RDONLY;
		break;
	case 'w':
		fl = O_WRONLY | O_CREAT | O_TRUNC;
		break;
	case 'a':
		fl = O_WRONLY | O_CREAT | O_APPEND;
		break;
	default:
		return -1;
	}
	for (const char *m = mode + 1; *m && *m != ','; m++) {
		if (*m == '+')
			fl = (fl & ~O_ACCMODE) | O_RDWR;
		else if (*m == 'x')
			fl |= O_EXCL;
		else if (*m == 'e')
			fl |= O_CLOEXEC;
	}
	return fl;
}

static FILE *cookie_stream(int fd, const char *mode)
{
	// NOLINTNEXTLINE(performance-no-int-to-ptr): the cookie is the fd
	void *cookie = (void *)(intptr_t)fd;
	FILE *fp = fopencookie(cookie, mode, cookie_io);
	if (fp)
		fp->_fileno = fd; /* fileno(): the descriptor, whose calls the shim serves */
	if (fp && (shim_fd(fd) && (atomic_load(&shim_fd(fd)->flags) & O_APPEND)))
		fseeko(fp, 0, SEEK_END);
	return fp;
}

static FILE *open_stream(const char *path, const char *mode, bool *handled)
{
	*handled = false;
	if (csm_guard || (kernel_fs_path(path) && !csm_cfg_loaded))
		return NULL;
	csm_shim_init();
	int fl = mode_flags(mode);
	if (fl < 0 || !csm_cfg.nrules)
		return NULL;
	csm_guard++;
	int fd = shim_open(AT_FDCWD, path, fl, 0666, handled);
	csm_guard--;
	if (!*handled || fd < 0)
		return NULL;
	FILE *fp = cookie_stream(fd, mode);
	if (!fp) {
		int e = errno;
		shim_forget_fd(fd);
		csm_real.close(fd);
		errno = e;
	}
	return fp;
}

API FILE *fopen(const char *path, const char *mode)
{
	bool handled;
	FILE *fp = open_stream(path, mode, &handled);
	return handled ? fp : REAL(fopen)(path, mode);
}

API FILE *fopen64(const char *path, const char *mode)
{
	bool handled;
	FILE *fp = open_stream(path, mode, &handled);
	return handled ? fp : REAL(fopen64)(path, mode);
}

API FILE *fdopen(int fd, const char *mode)
{
	if (csm_guard || !shim_fd(fd))
		return REAL(fdopen)(fd, mode);
	return cookie_stream(fd, mode);
}

static bool refuse_freopen(const char *path, FILE *stream)
{
	if (csm_guard)
		return false;
	if (!path) {
		/* A new mode for one of the shim's streams: glibc would
		 * reopen it as a plain FILE (it crashed on the cookie stream)
		 * and read the stored bytes through /proc/self/fd.  Refused;
		 * the stream stays as it was, still usable. */
		int fd = stream ? fileno(stream) : -1;
		if (fd < 0 || !shim_fd(fd))
			return false;
		shim_log("%s: freopen(NULL) of a stream on a configured file is not supported; "
		         "the stream is left as it was",
		         shim_fd(fd)->ino->path);
		errno = EOPNOTSUPP;
		return true;
	}
	csm_shim_init();
	uint64_t size;
	bool handled = false;
	if (csm_cfg.nrules) {
		csm_guard++;
		/* Is the path configured?  (shim_path_size answers for
		 * existing files; new ones are checked by a trial match.) */
		handled = shim_path_size(AT_FDCWD, path, false, &size) == 1;
		csm_guard--;
	}
	if (handled) {
		shim_log("%s: freopen onto a configured file is not supported; use fopen", path);
		if (stream)
			fclose(stream);
		errno = EOPNOTSUPP;
	}
	return handled;
}

API FILE *freopen(const char *path, const char *mode, FILE *stream)
{
	return refuse_freopen(path, stream) ? NULL : REAL(freopen)(path, mode, stream);
}

API FILE *freopen64(const char *path, const char *mode, FILE *stream)
{
	return refuse_freopen(path, stream) ? NULL : REAL(freopen64)(path, mode, stream);
}
