/*
 * glibc's syscall(): fsx-style testers, older programs and libraries
 * (libaio, MariaDB's io_getevents) reach the kernel through it.  Every
 * number that reads, writes, opens, sizes, syncs, maps, copies, renames or
 * closes goes to the shim's own wrapper for that call, with syscall()'s
 * conventions (-1 and errno on failure); every other number goes to the
 * real syscall() with all six arguments, errno untouched.  Raw system call
 * instructions outside libc (Go programs) cannot be seen by any
 * preloaded library.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "kaio.h"
#include "wrap.h"

/* A kernel-style result (negative errno) in syscall()'s convention. */
static long as_syscall(long r)
{
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

/* posix_fadvise's convention (an error number) in syscall()'s. */
static long from_errnum(int r)
{
	if (r) {
		errno = r;
		return -1;
	}
	return 0;
}

/* openat2 with RESOLVE_* flags: the kernel resolves the name (the shim's
 * matching cannot honour those rules); a file it opens under a glob is
 * then reopened through the shim by its resolved name, so its I/O is
 * verified like any other open's. */
static long openat2_call(int dirfd, const char *path, struct open_how *how, size_t size)
{
	if (!how || size < sizeof(struct open_how))
		return as_syscall(-EINVAL);
	if (!how->resolve)
		return openat(dirfd, path, (int)how->flags, (mode_t)how->mode);
	struct open_how raw = *how;
	raw.flags &= ~(unsigned long long)O_TRUNC; /* the shim truncates, logically */
	long fd = csm_real.syscall(SYS_openat2, (long)dirfd, (long)path, (long)&raw,
	                           (long)sizeof(raw), 0L, 0L);
	if (fd < 0 || !csm_cfg.nrules)
		return fd;
	char link[64], target[PATH_MAX];
	snprintf(link, sizeof(link), "/proc/self/fd/%ld", fd);
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	struct stat st;
	if (n <= 0 || csm_real.fstat((int)fd, &st) < 0 ||
	    (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)))
		return fd;
	target[n] = 0;
	if (!csm_config_match(&csm_cfg, target))
		return fd;
	int keep = (int)how->flags & ~(O_CREAT | O_EXCL | O_NOFOLLOW | O_DIRECTORY);
	csm_real.close((int)fd);
	return openat(AT_FDCWD, target, keep);
}

/* The numbers the shim serves; *served false for every other.  System call
 * arguments are integers that the call's own type makes pointers. */
// NOLINTBEGIN(performance-no-int-to-ptr)
static long route(long nr, const long a[6], bool *served)
{
	*served = true;
	switch (nr) {
	/* data */
	case SYS_read:
		return read((int)a[0], (void *)a[1], (size_t)a[2]);
	case SYS_write:
		return write((int)a[0], (const void *)a[1], (size_t)a[2]);
	case SYS_pread64:
		return pread64((int)a[0], (void *)a[1], (size_t)a[2], (off64_t)a[3]);
	case SYS_pwrite64:
		return pwrite64((int)a[0], (const void *)a[1], (size_t)a[2], (off64_t)a[3]);
	case SYS_readv:
		return readv((int)a[0], (const struct iovec *)a[1], (int)a[2]);
	case SYS_writev:
		return writev((int)a[0], (const struct iovec *)a[1], (int)a[2]);
	case SYS_preadv:
		return preadv64((int)a[0], (const struct iovec *)a[1], (int)a[2], (off64_t)a[3]);
	case SYS_pwritev:
		return pwritev64((int)a[0], (const struct iovec *)a[1], (int)a[2], (off64_t)a[3]);
	case SYS_preadv2:
		return preadv64v2((int)a[0], (const struct iovec *)a[1], (int)a[2], (off64_t)a[3],
		                  (int)a[5]);
	case SYS_pwritev2:
		return pwritev64v2((int)a[0], (const struct iovec *)a[1], (int)a[2], (off64_t)a[3],
		                   (int)a[5]);
	case SYS_lseek:
		return lseek64((int)a[0], (off64_t)a[1], (int)a[2]);
	/* opening and closing */
	case SYS_open:
		return open((const char *)a[0], (int)a[1], (mode_t)a[2]);
	case SYS_openat:
		return openat((int)a[0], (const char *)a[1], (int)a[2], (mode_t)a[3]);
	case SYS_openat2:
		return openat2_call((int)a[0], (const char *)a[1], (struct open_how *)a[2],
		                    (size_t)a[3]);
	case SYS_creat:
		return creat((const char *)a[0], (mode_t)a[1]);
	case SYS_close:
		return close((int)a[0]);
	case SYS_close_range:
		return close_range((unsigned)a[0], (unsigned)a[1], (int)a[2]);
	case SYS_dup:
		return dup((int)a[0]);
	case SYS_dup2:
		return dup2((int)a[0], (int)a[1]);
	case SYS_dup3:
		return dup3((int)a[0], (int)a[1], (int)a[2]);
	case SYS_fcntl:
		return fcntl((int)a[0], (int)a[1], a[2]);
	/* names */
	case SYS_unlink:
		return unlink((const char *)a[0]);
	case SYS_unlinkat:
		return unlinkat((int)a[0], (const char *)a[1], (int)a[2]);
	case SYS_rename:
		return rename((const char *)a[0], (const char *)a[1]);
	case SYS_renameat:
		return renameat((int)a[0], (const char *)a[1], (int)a[2], (const char *)a[3]);
	case SYS_renameat2:
		return renameat2((int)a[0], (const char *)a[1], (int)a[2], (const char *)a[3],
		                 (unsigned)a[4]);
	/* sizes */
	case SYS_stat:
		return stat((const char *)a[0], (struct stat *)a[1]);
	case SYS_lstat:
		return lstat((const char *)a[0], (struct stat *)a[1]);
	case SYS_fstat:
		return fstat((int)a[0], (struct stat *)a[1]);
	case SYS_newfstatat:
		return fstatat((int)a[0], (const char *)a[1], (struct stat *)a[2], (int)a[3]);
	case SYS_statx:
		return statx((int)a[0], (const char *)a[1], (int)a[2], (unsigned)a[3],
		             (struct statx *)a[4]);
	case SYS_truncate:
		return truncate64((const char *)a[0], (off64_t)a[1]);
	case SYS_ftruncate:
		return ftruncate64((int)a[0], (off64_t)a[1]);
	case SYS_fallocate:
		return fallocate64((int)a[0], (int)a[1], (off64_t)a[2], (off64_t)a[3]);
	/* durability and advice */
	case SYS_fsync:
		return fsync((int)a[0]);
	case SYS_fdatasync:
		return fdatasync((int)a[0]);
	case SYS_sync_file_range:
		return sync_file_range((int)a[0], (off64_t)a[1], (off64_t)a[2], (unsigned)a[3]);
	case SYS_fadvise64:
		return from_errnum(
		        posix_fadvise64((int)a[0], (off64_t)a[1], (off64_t)a[2], (int)a[3]));
	case SYS_readahead:
		return readahead((int)a[0], (off64_t)a[1], (size_t)a[2]);
	case SYS_ioctl:
		return ioctl((int)a[0], (unsigned long)a[1], a[2]);
	/* copies */
	case SYS_copy_file_range:
		return copy_file_range((int)a[0], (off64_t *)a[1], (int)a[2], (off64_t *)a[3],
		                       (size_t)a[4], (unsigned)a[5]);
	case SYS_sendfile:
		return sendfile64((int)a[0], (int)a[1], (off64_t *)a[2], (size_t)a[3]);
	case SYS_splice:
		return splice((int)a[0], (off64_t *)a[1], (int)a[2], (off64_t *)a[3], (size_t)a[4],
		              (unsigned)a[5]);
	/* mappings */
	case SYS_mmap:
		return (long)mmap64((void *)a[0], (size_t)a[1], (int)a[2], (int)a[3], (int)a[4],
		                    (off64_t)a[5]);
	case SYS_munmap:
		return munmap((void *)a[0], (size_t)a[1]);
	case SYS_mremap:
		return (long)mremap((void *)a[0], (size_t)a[1], (size_t)a[2], (int)a[3],
		                    (void *)a[4]);
	case SYS_mprotect:
		return mprotect((void *)a[0], (size_t)a[1], (int)a[2]);
	case SYS_madvise:
		return madvise((void *)a[0], (size_t)a[1], (int)a[2]);
	/* descriptors that arrive other than by open() (arrivals.c) */
	case SYS_recvmsg:
		return recvmsg((int)a[0], (struct msghdr *)a[1], (int)a[2]);
	case SYS_recvmmsg:
		return recvmmsg((int)a[0], (struct mmsghdr *)a[1], (unsigned)a[2], (int)a[3],
		                (struct timespec *)a[4]);
	case SYS_open_by_handle_at:
		return open_by_handle_at((int)a[0], (struct file_handle *)a[1], (int)a[2]);
	case SYS_pidfd_getfd:
		return pidfd_getfd((int)a[0], (int)a[1], (unsigned)a[2]);
	/* Linux AIO and io_uring */
	case SYS_io_setup:
		return as_syscall(shim_kaio_setup((unsigned)a[0], (aio_context_t *)a[1]));
	case SYS_io_destroy:
		return as_syscall(shim_kaio_destroy((aio_context_t)a[0]));
	case SYS_io_submit:
		return as_syscall(
		        shim_kaio_submit((aio_context_t)a[0], a[1], (struct iocb **)a[2]));
	case SYS_io_cancel:
		return as_syscall(shim_kaio_cancel((aio_context_t)a[0], (struct iocb *)a[1],
		                                   (struct io_event *)a[2]));
	case SYS_io_getevents:
		return as_syscall(shim_kaio_getevents((aio_context_t)a[0], a[1], a[2],
		                                      (struct io_event *)a[3],
		                                      (struct timespec *)a[4], false, NULL));
	case SYS_io_pgetevents: {
		/* The kernel's last argument: {const sigset_t *, size_t} or NULL. */
		const sigset_t *const *usig = (const sigset_t *const *)a[5];
		return as_syscall(shim_kaio_getevents(
		        (aio_context_t)a[0], a[1], a[2], (struct io_event *)a[3],
		        (struct timespec *)a[4], true, usig ? *usig : NULL));
	}
	case SYS_io_uring_setup:
		return as_syscall(shim_uring_refuse());
	default:
		*served = false;
		return 0;
	}
}
// NOLINTEND(performance-no-int-to-ptr)

API long syscall(long nr, ...)
{
	va_list ap;
	va_start(ap, nr);
	long a[6];
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	/* Another interposer's wrapper may itself call syscall() (tcmalloc's
	 * mmap does): a call made while one is being routed goes to the
	 * kernel, or the two would call each other for ever. */
	static __thread int routing;
	if (!csm_guard && !routing) {
		bool served;
		routing++;
		long r = route(nr, a, &served);
		routing--;
		if (served)
			return r;
	}
	if (!csm_real.syscall)
		csm_real_init();
	return csm_real.syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}
