/*
 * The POSIX storage backend: regular files and block devices through a
 * table of system-call pointers.  Loops on short counts and EINTR; never
 * dies; returns negative errnos.
 */
#define _GNU_SOURCE
#include "csumshim/backend.h"

#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

struct posix_ctx {
	int fd[2];
	bool own;
	bool is_blk[2];
	_Atomic bool no_dsync; /* pwritev2(RWF_DSYNC) refused here */
	struct csm_sysio sys;
};

void csm_sysio_libc(struct csm_sysio *sys)
{
	sys->pread = pread;
	sys->pwrite = pwrite;
	sys->preadv = preadv;
	sys->pwritev = pwritev;
	sys->pwritev2 = pwritev2;
	sys->fsync = fsync;
	sys->fdatasync = fdatasync;
	sys->ftruncate = ftruncate;
	sys->fstat = fstat;
	sys->fallocate = fallocate;
	sys->ioctl = (int (*)(int, unsigned long, ...))ioctl;
	sys->lseek = lseek;
	sys->close = close;
	sys->fcntl = fcntl;
	sys->fadvise = posix_fadvise;
	sys->fstatfs = fstatfs;
}

/* Advance an iovec array past `done` bytes; returns the new count. */
static int iov_advance(struct iovec *iov, int cnt, size_t done)
{
	int i = 0;
	while (i < cnt && done >= iov[i].iov_len)
		done -= iov[i++].iov_len;
	if (i < cnt) {
		iov[i].iov_base = (char *)iov[i].iov_base + done;
		iov[i].iov_len -= done;
	}
	memmove(iov, iov + i, (size_t)(cnt - i) * sizeof(*iov));
	return cnt - i;
}

/* write: 0 read, 1 write, 2 write with RWF_DSYNC */
static ssize_t xfer(struct posix_ctx *c, enum csm_store st, const struct iovec *in, int cnt,
                    uint64_t off, int write)
{
	struct iovec iov[8];
	if (cnt > 8)
		return -EINVAL;
	memcpy(iov, in, (size_t)cnt * sizeof(*iov));
	size_t total = 0;
	while (cnt > 0) {
		off_t at = (off_t)(off + total);
		ssize_t r;
		if (write == 2)
			r = c->sys.pwritev2(c->fd[st], iov, cnt, at, RWF_DSYNC);
		else if (cnt == 1 && write)
			r = c->sys.pwrite(c->fd[st], iov[0].iov_base, iov[0].iov_len, at);
		else if (cnt == 1)
			r = c->sys.pread(c->fd[st], iov[0].iov_base, iov[0].iov_len, at);
		else if (write)
			r = c->sys.pwritev(c->fd[st], iov, cnt, at);
		else
			r = c->sys.preadv(c->fd[st], iov, cnt, at);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		if (r == 0) {
			if (write)
				return -ENOSPC;
			break; /* end of store */
		}
		total += (size_t)r;
		cnt = iov_advance(iov, cnt, (size_t)r);
	}
	return (ssize_t)total;
}

static ssize_t px_preadv(void *ctx, enum csm_store st, const struct iovec *iov, int cnt,
                         uint64_t off)
{
	return xfer(ctx, st, iov, cnt, off, 0);
}

static ssize_t px_pwritev(void *ctx, enum csm_store st, const struct iovec *iov, int cnt,
                          uint64_t off)
{
	return xfer(ctx, st, iov, cnt, off, 1);
}

static int px_sync(void *ctx, enum csm_store st, bool datasync);

/* One write made durable by itself: the metadata block of a dirty mark
 * need not wait for the whole file's dirty pages, as fdatasync would. */
static ssize_t px_pwritev_durable(void *ctx, enum csm_store st, const struct iovec *iov, int cnt,
                                  uint64_t off)
{
	struct posix_ctx *c = ctx;
	if (c->sys.pwritev2 && !c->no_dsync) {
		ssize_t r = xfer(ctx, st, iov, cnt, off, 2);
		if (r != -EOPNOTSUPP && r != -ENOSYS && r != -EINVAL)
			return r;
		c->no_dsync = true; /* an old kernel or file system: write, then sync */
	}
	ssize_t r = xfer(ctx, st, iov, cnt, off, 1);
	if (r >= 0) {
		int s = px_sync(ctx, st, true);
		if (s < 0)
			return s;
	}
	return r;
}

static int px_sync(void *ctx, enum csm_store st, bool datasync)
{
	struct posix_ctx *c = ctx;
	int r = datasync ? c->sys.fdatasync(c->fd[st]) : c->sys.fsync(c->fd[st]);
	return r < 0 ? -errno : 0;
}

int csm_fd_size(const struct csm_sysio *sys, int fd, uint64_t *size, bool *is_blk)
{
	struct csm_sysio libc;
	if (!sys) {
		csm_sysio_libc(&libc);
		sys = &libc;
	}
	struct stat s;
	if (sys->fstat(fd, &s) < 0)
		return -errno;
	if (is_blk)
		*is_blk = S_ISBLK(s.st_mode);
	if (!S_ISBLK(s.st_mode)) {
		*size = (uint64_t)s.st_size;
		return 0;
	}
	uint64_t sz = 0;
	if (sys->ioctl(fd, BLKGETSIZE64, &sz) < 0)
		return -errno;
	*size = sz;
	return 0;
}

static int px_get_size(void *ctx, enum csm_store st, uint64_t *size)
{
	struct posix_ctx *c = ctx;
	return csm_fd_size(&c->sys, c->fd[st], size, NULL);
}

static int px_set_size(void *ctx, enum csm_store st, uint64_t size)
{
	struct posix_ctx *c = ctx;
	if (c->is_blk[st])
		return -EINVAL;
	while (c->sys.ftruncate(c->fd[st], (off_t)size) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

static int write_zeros(struct posix_ctx *c, enum csm_store st, uint64_t off, uint64_t len)
{
	static const char zeros[65536];
	while (len > 0) {
		size_t n = len < sizeof(zeros) ? (size_t)len : sizeof(zeros);
		struct iovec v = {(void *)zeros, n};
		ssize_t r = xfer(c, st, &v, 1, off, 1);
		if (r < 0)
			return (int)r;
		off += n;
		len -= n;
	}
	return 0;
}

static int px_zero_range(void *ctx, enum csm_store st, uint64_t off, uint64_t len)
{
	struct posix_ctx *c = ctx;
	if (len == 0)
		return 0;
	if (c->is_blk[st]) {
		uint64_t range[2] = {off, len};
		if (c->sys.ioctl(c->fd[st], BLKZEROOUT, range) == 0)
			return 0;
		return write_zeros(c, st, off, len);
	}
	if (c->sys.fallocate(c->fd[st], FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
	                     (off_t)len) == 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != ENOSYS && errno != EINVAL)
		return -errno;
	/* No hole punching here: only write zeros below the current end. */
	uint64_t size;
	int r = px_get_size(ctx, st, &size);
	if (r < 0)
		return r;
	if (off >= size)
		return 0;
	return write_zeros(c, st, off, len < size - off ? len : size - off);
}

static int px_next_data(void *ctx, enum csm_store st, uint64_t off, uint64_t *data_off)
{
	struct posix_ctx *c = ctx;
	if (c->is_blk[st])
		return -EOPNOTSUPP;
	off_t r = c->sys.lseek(c->fd[st], (off_t)off, SEEK_DATA);
	if (r < 0)
		return errno == ENXIO ? -ENXIO : -EOPNOTSUPP;
	*data_off = (uint64_t)r;
	return 0;
}

static int px_lock(void *ctx, uint64_t id, int type, bool wait)
{
	struct posix_ctx *c = ctx;
	bool tail = (id & CSM_LOCK_TAIL_FLAG) != 0;
	struct flock fl = {.l_type = (short)type,
	                   .l_whence = SEEK_SET,
	                   .l_start = (off_t)(CSM_LOCK_BASE + (id & ~CSM_LOCK_TAIL_FLAG)),
	                   .l_len = tail ? 0 : 1};
	while (c->sys.fcntl(c->fd[CSM_META], wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) < 0) {
		if (errno == EINTR)
			continue;
		return errno == EACCES ? -EAGAIN : -errno;
	}
	return 0;
}

static int px_lock_test(void *ctx, uint64_t id, int type)
{
	struct posix_ctx *c = ctx;
	struct flock fl = {.l_type = (short)type,
	                   .l_whence = SEEK_SET,
	                   .l_start = (off_t)(CSM_LOCK_BASE + id),
	                   .l_len = 1};
	if (c->sys.fcntl(c->fd[CSM_META], F_OFD_GETLK, &fl) < 0)
		return -errno;
	return fl.l_type == F_UNLCK ? 0 : -EAGAIN;
}

static void px_destroy(void *ctx)
{
	struct posix_ctx *c = ctx;
	if (c->own) {
		c->sys.close(c->fd[0]);
		if (c->fd[1] != c->fd[0])
			c->sys.close(c->fd[1]);
	}
	free(c);
}

static void px_advise(void *ctx, enum csm_store st, uint64_t off, uint64_t len, int advice)
{
	struct posix_ctx *c = ctx;
	if (c->sys.fadvise)
		(void)c->sys.fadvise(c->fd[st], (off_t)off, (off_t)len, advice);
}

/* Whether the file system under fd is local to this machine.  An allow
 * list: a file system not named here (NFS, CIFS, FUSE, Ceph, GFS2, ...)
 * counts as remote. */
static bool fs_is_local(const struct posix_ctx *c, int fd)
{
	static const unsigned long local[] = {
	        0xEF53,     /* ext2, ext3, ext4 */
	        0x58465342, /* xfs */
	        0x9123683E, /* btrfs */
	        0x01021994, /* tmpfs */
	        0xF2F52010, /* f2fs */
	        0x2FC12FC1, /* zfs */
	        0xCA451A4E, /* bcachefs */
	        0x794C7630, /* overlayfs */
	        0x4D44,     /* vfat */
	        0x5346544E, /* ntfs */
	        0x3153464A, /* jfs */
	        0x52654973, /* reiserfs */
	        0x858458F6, /* ramfs */
	};
	struct statfs f;
	if ((c->sys.fstatfs ? c->sys.fstatfs(fd, &f) : fstatfs(fd, &f)) < 0)
		return false;
	for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++)
		if ((unsigned long)f.f_type == local[i])
			return true;
	return false;
}

/* 32 hex digits, dashes skipped: "1b4e28ba-2fa1-11d2-883f-0016d3cca427". */
static int parse_uuid(const char *s, size_t len, uint8_t out[16])
{
	int nib = 0;
	for (size_t i = 0; i < len && nib < 32; i++) {
		char ch = s[i];
		int v = ch >= '0' && ch <= '9'   ? ch - '0'
		        : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
		        : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
		                                 : -1;
		if (v < 0 && ch == '-')
			continue;
		if (v < 0)
			return -EINVAL;
		if (nib % 2 == 0)
			out[nib / 2] = (uint8_t)(v << 4);
		else
			out[nib / 2] |= (uint8_t)v;
		nib++;
	}
	return nib == 32 ? 0 : -EINVAL;
}

/* The kernel's boot id.  Opened with a raw system call: under the shim a
 * libc open() would go through its own wrapper. */
static int px_boot_id(void *ctx, uint8_t out[16])
{
	struct posix_ctx *c = ctx;
	long fd = syscall(SYS_openat, AT_FDCWD, "/proc/sys/kernel/random/boot_id",
	                  O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	char text[64];
	ssize_t n = c->sys.pread((int)fd, text, sizeof(text), 0);
	int err = n < 0 ? -errno : 0;
	c->sys.close((int)fd);
	if (err < 0)
		return err;
	return parse_uuid(text, (size_t)n, out);
}

static const struct csm_backend_ops posix_ops = {
        .preadv = px_preadv,
        .pwritev = px_pwritev,
        .pwritev_durable = px_pwritev_durable,
        .sync = px_sync,
        .get_size = px_get_size,
        .set_size = px_set_size,
        .zero_range = px_zero_range,
        .next_data = px_next_data,
        .lock = px_lock,
        .lock_test = px_lock_test,
        .advise = px_advise,
        .boot_id = px_boot_id,
        .destroy = px_destroy,
};

int csm_backend_posix(struct csm_backend *out, int data_fd, int meta_fd, bool own_fds,
                      const struct csm_sysio *sys)
{
	struct posix_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	if (sys)
		c->sys = *sys;
	else
		csm_sysio_libc(&c->sys);
	c->fd[CSM_DATA] = data_fd;
	c->fd[CSM_META] = meta_fd;
	c->own = own_fds;
	struct stat s[2];
	for (int i = 0; i < 2; i++) {
		if (c->sys.fstat(c->fd[i], &s[i]) < 0) {
			int e = errno;
			free(c);
			return -e;
		}
		c->is_blk[i] = S_ISBLK(s[i].st_mode);
	}
	out->ops = &posix_ops;
	out->ctx = c;
	out->resizable = !c->is_blk[0] && !c->is_blk[1];
	out->remote = !c->is_blk[CSM_META] && !fs_is_local(c, c->fd[CSM_META]);
	out->two_stores = s[0].st_dev != s[1].st_dev || s[0].st_ino != s[1].st_ino ||
	                  s[0].st_rdev != s[1].st_rdev;
	return 0;
}
