/*
 * Data calls: read, write, pread, pwrite, the vectored calls and lseek,
 * in all their 64-bit and fortified forms.  On a protected file each
 * becomes verified engine I/O at the logical offset; the position lives
 * in the kernel's offset of the program's descriptor.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "state_int.h"
#include "wrap.h"

/* ---- positioned I/O ---------------------------------------------------- */

struct shim_io *shim_engine(struct shim_file *f)
{
	struct shim_inode *ino = f->ino;
	struct shim_io *e = atomic_load_explicit(&ino->e, memory_order_acquire);
	if (e && !atomic_load_explicit(&ino->empty, memory_order_relaxed))
		return e;
	pthread_mutex_lock(&smu);
	e = inode_refresh(ino) < 0 ? NULL : inode_engine(ino);
	int err = errno;
	pthread_mutex_unlock(&smu);
	errno = err;
	return e;
}

/* Common entry of the data calls: the engine, after the access-mode and
 * offset checks the kernel would make (EBADF, EINVAL). */
static struct shim_io *io_begin(struct shim_file *f, bool write, off_t off)
{
	int acc = atomic_load(&f->flags) & O_ACCMODE;
	if (acc == (write ? O_RDONLY : O_WRONLY)) {
		errno = EBADF;
		return NULL;
	}
	if (off < 0) {
		errno = EINVAL;
		return NULL;
	}
	return shim_engine(f);
}

ssize_t shim_pread(struct shim_file *f, void *buf, size_t n, off_t off)
{
	struct shim_io *e = io_begin(f, false, off);
	return e ? io_pread(e, buf, n, (uint64_t)off) : -1;
}

/* How one write goes: the descriptor's O_DSYNC, O_SYNC and O_APPEND, and
 * a pwritev2's RWF_DSYNC, RWF_SYNC, RWF_APPEND and RWF_NOAPPEND.  O_APPEND
 * as the kernel has it on fd now: a process sharing the open file
 * description (a fork child, one it was passed to) may have changed it
 * with F_SETFL, which this process's copy of the flags never sees. */
#define W_APPEND 0x100u
static unsigned write_how(const struct shim_file *f, int fd, int rwf)
{
	int fl = atomic_load(&f->flags);
	int kfl = fd >= 0 ? csm_real.fcntl(fd, F_GETFL) : -1;
	if (kfl >= 0)
		fl = (fl & ~O_APPEND) | (kfl & O_APPEND);
	unsigned w = 0;
	if ((fl & O_SYNC) == O_SYNC || (rwf & RWF_SYNC))
		w |= CSM_WR_SYNC;
	else if ((fl & O_DSYNC) || (rwf & RWF_DSYNC))
		w |= CSM_WR_DSYNC;
	if (((fl & O_APPEND) && !(rwf & RWF_NOAPPEND)) || (rwf & RWF_APPEND))
		w |= W_APPEND;
	return w;
}

static ssize_t pwrite_how(struct shim_file *f, const void *buf, size_t n, off_t off, unsigned w)
{
	struct shim_io *e = io_begin(f, true, off);
	if (!e)
		return -1;
	if (!(w & W_APPEND))
		return io_pwrite(e, buf, n, (uint64_t)off, w & ~W_APPEND);
	/* Linux: pwrite on an O_APPEND descriptor appends. */
	uint64_t at;
	return io_append(e, buf, n, &at, w & ~W_APPEND);
}

ssize_t shim_pwrite(struct shim_file *f, int fd, const void *buf, size_t n, off_t off)
{
	return pwrite_how(f, buf, n, off, write_how(f, fd, 0));
}

/* read/write at the position kept in the kernel's offset of fd. */
static ssize_t pos_io_how(struct shim_file *f, int fd, void *buf, size_t n, bool write, unsigned w)
{
	struct shim_io *e = io_begin(f, write, 0);
	if (!e)
		return -1;
	pthread_mutex_lock(&f->pos_mu);
	ssize_t r = -1;
	off_t pos;
	if (write && (w & W_APPEND)) {
		uint64_t at;
		/* finds the end and writes, as one step */
		r = io_append(e, buf, n, &at, w & ~W_APPEND);
		pos = (off_t)at;
	} else {
		pos = csm_real.lseek(fd, 0, SEEK_CUR);
		if (pos >= 0)
			r = write ? io_pwrite(e, buf, n, (uint64_t)pos, w & ~W_APPEND)
			          : io_pread(e, buf, n, (uint64_t)pos);
	}
	if (r > 0 && csm_real.lseek(fd, pos + r, SEEK_SET) < 0)
		r = -1;
	pthread_mutex_unlock(&f->pos_mu);
	return r;
}

ssize_t shim_read(struct shim_file *f, int fd, void *buf, size_t n)
{
	return pos_io_how(f, fd, buf, n, false, 0);
}

ssize_t shim_write(struct shim_file *f, int fd, const void *buf, size_t n)
{
	return pos_io_how(f, fd, (void *)buf, n, true, write_how(f, fd, 0));
}

off_t shim_lseek(struct shim_file *f, int fd, off_t off, int whence)
{
	struct shim_io *e = shim_engine(f);
	if (!e)
		return -1;
	/* SEEK_END, SEEK_DATA, SEEK_HOLE: the size as stored now. */
	uint64_t size = whence == SEEK_SET || whence == SEEK_CUR ? io_size(e) : io_size_refresh(e);
	off_t base;
	switch (whence) {
	case SEEK_SET:
		base = 0;
		break;
	case SEEK_CUR:
		base = csm_real.lseek(fd, 0, SEEK_CUR);
		if (base < 0)
			return -1;
		break;
	case SEEK_END:
		base = (off_t)size;
		break;
	case SEEK_DATA: /* the whole logical file counts as data */
	case SEEK_HOLE:
		if (off < 0 || (uint64_t)off >= size) {
			errno = ENXIO;
			return -1;
		}
		return csm_real.lseek(fd, whence == SEEK_DATA ? off : (off_t)size, SEEK_SET);
	default:
		errno = EINVAL;
		return -1;
	}
	if ((off > 0 && base > INT64_MAX - off) || base + off < 0) {
		errno = off > 0 ? EOVERFLOW : EINVAL;
		return -1;
	}
	return csm_real.lseek(fd, base + off, SEEK_SET);
}

/* ---- data ------------------------------------------------------------- */

API ssize_t read(int fd, void *buf, size_t n)
{
	struct shim_file *f = ours(fd);
	return f ? GUARDED(shim_read(f, fd, buf, n)) : REAL(read)(fd, buf, n);
}

API ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
	struct shim_file *f = ours(fd);
	if (!f)
		return REAL(__read_chk)(fd, buf, n, buflen);
	if (n > buflen)
		abort(); /* what glibc's __chk_fail does */
	return GUARDED(shim_read(f, fd, buf, n));
}

API ssize_t write(int fd, const void *buf, size_t n)
{
	struct shim_file *f = ours(fd);
	return f ? GUARDED(shim_write(f, fd, buf, n)) : REAL(write)(fd, buf, n);
}

#define PREAD_WRAPPER(name, offt)                                     \
	API ssize_t name(int fd, void *buf, size_t n, offt off)       \
	{                                                             \
		struct shim_file *f = ours(fd);                       \
		return f ? GUARDED(shim_pread(f, buf, n, (off_t)off)) \
		         : REAL(name)(fd, buf, n, off);               \
	}
PREAD_WRAPPER(pread, off_t)
PREAD_WRAPPER(pread64, off64_t)

#define PREAD_CHK_WRAPPER(name, offt)                                          \
	API ssize_t name(int fd, void *buf, size_t n, offt off, size_t buflen) \
	{                                                                      \
		struct shim_file *f = ours(fd);                                \
		if (!f)                                                        \
			return REAL(name)(fd, buf, n, off, buflen);            \
		if (n > buflen)                                                \
			abort();                                               \
		return GUARDED(shim_pread(f, buf, n, (off_t)off));             \
	}
PREAD_CHK_WRAPPER(__pread_chk, off_t)
PREAD_CHK_WRAPPER(__pread64_chk, off64_t)

#define PWRITE_WRAPPER(name, offt)                                         \
	API ssize_t name(int fd, const void *buf, size_t n, offt off)      \
	{                                                                  \
		struct shim_file *f = ours(fd);                            \
		return f ? GUARDED(shim_pwrite(f, fd, buf, n, (off_t)off)) \
		         : REAL(name)(fd, buf, n, off);                    \
	}
PWRITE_WRAPPER(pwrite, off_t)
PWRITE_WRAPPER(pwrite64, off64_t)

/* Vectored I/O, one segment at a time; off < 0 means the file position. */
#define GATHER_MAX ((size_t)8 << 20)

static ssize_t vec_io(struct shim_file *f, int fd, const struct iovec *iov, int cnt, off_t off,
                      bool write, int rwf)
{
	unsigned w = write ? write_how(f, fd, rwf) : 0;
	if (cnt < 0 || cnt > IOV_MAX) {
		errno = EINVAL;
		return -1;
	}
	if (off < 0 && !write && (atomic_load(&f->flags) & O_ACCMODE) == O_WRONLY) {
		errno = EBADF;
		return -1;
	}
	size_t total = 0;
	for (int i = 0; i < cnt; i++) {
		if (iov[i].iov_len > (size_t)SSIZE_MAX - total) {
			errno = EINVAL; /* as the kernel */
			return -1;
		}
		total += iov[i].iov_len;
	}
	/* A gathered write is one engine write, as the kernel makes it one
	 * write: with O_APPEND its pieces land together at the end. */
	if (write && cnt > 1 && total <= GATHER_MAX) {
		uint8_t *buf = malloc(total ? total : 1);
		if (!buf) {
			errno = ENOMEM;
			return -1;
		}
		size_t at = 0;
		for (int i = 0; i < cnt; i++) {
			memcpy(buf + at, iov[i].iov_base, iov[i].iov_len);
			at += iov[i].iov_len;
		}
		ssize_t r = off < 0 ? pos_io_how(f, fd, buf, total, true, w)
		                    : pwrite_how(f, buf, total, off, w);
		int saved = errno;
		free(buf);
		errno = saved;
		return r;
	}
	size_t done = 0;
	for (int i = 0; i < cnt; i++) {
		if (!iov[i].iov_len)
			continue;
		ssize_t r;
		if (off < 0)
			r = pos_io_how(f, fd, iov[i].iov_base, iov[i].iov_len, write, w);
		else
			r = write ? pwrite_how(f, iov[i].iov_base, iov[i].iov_len,
			                       off + (off_t)done, w)
			          : shim_pread(f, iov[i].iov_base, iov[i].iov_len,
			                       off + (off_t)done);
		if (r < 0 && done && !write) {
			/* A read meeting a bad block fails as a whole, as one
			 * read would: the position goes back to where it was. */
			int err = errno;
			if (off < 0)
				csm_real.lseek(fd, -(off_t)done, SEEK_CUR);
			errno = err;
			return -1;
		}
		if (r < 0)
			return done ? (ssize_t)done : -1;
		done += (size_t)r;
		if ((size_t)r < iov[i].iov_len)
			break;
	}
	return (ssize_t)done;
}

API ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
	struct shim_file *f = ours(fd);
	return f ? GUARDED(vec_io(f, fd, iov, cnt, -1, false, 0)) : REAL(readv)(fd, iov, cnt);
}

API ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	struct shim_file *f = ours(fd);
	return f ? GUARDED(vec_io(f, fd, iov, cnt, -1, true, 0)) : REAL(writev)(fd, iov, cnt);
}

#define PV_WRAPPER(name, offt, wr)                                           \
	API ssize_t name(int fd, const struct iovec *iov, int cnt, offt off) \
	{                                                                    \
		struct shim_file *f = ours(fd);                              \
		if (!f)                                                      \
			return REAL(name)(fd, iov, cnt, off);                \
		if (off < 0) {                                               \
			errno = EINVAL;                                      \
			return -1;                                           \
		}                                                            \
		return GUARDED(vec_io(f, fd, iov, cnt, (off_t)off, wr, 0));  \
	}
PV_WRAPPER(preadv, off_t, false)
PV_WRAPPER(preadv64, off64_t, false)
PV_WRAPPER(pwritev, off_t, true)
PV_WRAPPER(pwritev64, off64_t, true)

/* The v2 calls: offset -1 means the file position.  Flags are honoured or
 * refused: RWF_HIPRI only asks for polling (no effect on what is read or
 * written); RWF_NOWAIT, RWF_ATOMIC and any flag unknown here fail with
 * EOPNOTSUPP, as the kernel refuses what a file does not support. */
#define RWF_READ_OK RWF_HIPRI
#define RWF_WRITE_OK (RWF_HIPRI | RWF_DSYNC | RWF_SYNC | RWF_APPEND | RWF_NOAPPEND)
#define PV2_WRAPPER(name, offt, wr)                                                     \
	API ssize_t name(int fd, const struct iovec *iov, int cnt, offt off, int flags) \
	{                                                                               \
		struct shim_file *f = ours(fd);                                         \
		if (!f)                                                                 \
			return REAL(name)(fd, iov, cnt, off, flags);                    \
		if (off < -1) {                                                         \
			errno = EINVAL;                                                 \
			return -1;                                                      \
		}                                                                       \
		if (flags & ~((wr) ? RWF_WRITE_OK : RWF_READ_OK)) {                     \
			errno = EOPNOTSUPP; /* never ignored */                         \
			return -1;                                                      \
		}                                                                       \
		return GUARDED(vec_io(f, fd, iov, cnt, (off_t)off, wr, flags));         \
	}
PV2_WRAPPER(preadv2, off_t, false)
PV2_WRAPPER(preadv64v2, off64_t, false)
PV2_WRAPPER(pwritev2, off_t, true)
PV2_WRAPPER(pwritev64v2, off64_t, true)

API off_t lseek(int fd, off_t off, int whence)
{
	struct shim_file *f = ours(fd);
	return f ? GUARDED(shim_lseek(f, fd, off, whence)) : REAL(lseek)(fd, off, whence);
}

API off64_t lseek64(int fd, off64_t off, int whence)
{
	struct shim_file *f = ours(fd);
	return f ? GUARDED(shim_lseek(f, fd, off, whence)) : REAL(lseek64)(fd, off, whence);
}
