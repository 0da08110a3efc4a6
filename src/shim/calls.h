/*
 * The one list of libc names the shim intercepts (glibc 2.36, x86-64).
 *
 * Each entry is X(<return type>, <name>, (<parameters>)): the real-function table
 * (real.h) is generated from it, every entry is resolved once with
 * dlsym(RTLD_NEXT), and the version script exports exactly these names
 * (tests/shim/test_symbols.sh checks that the two agree).  Names sharing an
 * implementation in glibc still get their own entry: a program binds by
 * name, and an interposer must define every name.
 */
#ifndef CSUMSHIM_CALLS_H
#define CSUMSHIM_CALLS_H

#define _GNU_SOURCE
#include <aio.h>
#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/aio_abi.h>

struct statx;
struct io_uring;
struct io_uring_params;

#define CSM_SHIM_CALLS(X)                                                                    \
	/* opening */                                                                        \
	X(int, open, (const char *, int, ...))                                               \
	X(int, open64, (const char *, int, ...))                                             \
	X(int, __open_2, (const char *, int))                                                \
	X(int, __open64_2, (const char *, int))                                              \
	X(int, openat, (int, const char *, int, ...))                                        \
	X(int, openat64, (int, const char *, int, ...))                                      \
	X(int, __openat_2, (int, const char *, int))                                         \
	X(int, __openat64_2, (int, const char *, int))                                       \
	X(int, creat, (const char *, mode_t))                                                \
	X(int, creat64, (const char *, mode_t))                                              \
	X(int, posix_spawn_file_actions_addopen,                                             \
	  (posix_spawn_file_actions_t *, int, const char *, int, mode_t))                    \
	/* descriptors */                                                                    \
	X(int, close, (int))                                                                 \
	X(int, close_range, (unsigned, unsigned, int))                                       \
	X(void, closefrom, (int))                                                            \
	X(int, dup, (int))                                                                   \
	X(int, dup2, (int, int))                                                             \
	X(int, dup3, (int, int, int))                                                        \
	X(int, fcntl, (int, int, ...))                                                       \
	X(int, fcntl64, (int, int, ...))                                                     \
	/* names: a separate layout's metadata file follows its data file */                 \
	X(int, unlink, (const char *))                                                       \
	X(int, unlinkat, (int, const char *, int))                                           \
	X(int, remove, (const char *))                                                       \
	X(int, rename, (const char *, const char *))                                         \
	X(int, renameat, (int, const char *, int, const char *))                             \
	X(int, renameat2, (int, const char *, int, const char *, unsigned))                  \
	/* data */                                                                           \
	X(ssize_t, read, (int, void *, size_t))                                              \
	X(ssize_t, __read_chk, (int, void *, size_t, size_t))                                \
	X(ssize_t, write, (int, const void *, size_t))                                       \
	X(ssize_t, pread, (int, void *, size_t, off_t))                                      \
	X(ssize_t, pread64, (int, void *, size_t, off64_t))                                  \
	X(ssize_t, __pread_chk, (int, void *, size_t, off_t, size_t))                        \
	X(ssize_t, __pread64_chk, (int, void *, size_t, off64_t, size_t))                    \
	X(ssize_t, pwrite, (int, const void *, size_t, off_t))                               \
	X(ssize_t, pwrite64, (int, const void *, size_t, off64_t))                           \
	X(ssize_t, readv, (int, const struct iovec *, int))                                  \
	X(ssize_t, writev, (int, const struct iovec *, int))                                 \
	X(ssize_t, preadv, (int, const struct iovec *, int, off_t))                          \
	X(ssize_t, preadv64, (int, const struct iovec *, int, off64_t))                      \
	X(ssize_t, pwritev, (int, const struct iovec *, int, off_t))                         \
	X(ssize_t, pwritev64, (int, const struct iovec *, int, off64_t))                     \
	X(ssize_t, preadv2, (int, const struct iovec *, int, off_t, int))                    \
	X(ssize_t, preadv64v2, (int, const struct iovec *, int, off64_t, int))               \
	X(ssize_t, pwritev2, (int, const struct iovec *, int, off_t, int))                   \
	X(ssize_t, pwritev64v2, (int, const struct iovec *, int, off64_t, int))              \
	X(off_t, lseek, (int, off_t, int))                                                   \
	X(off64_t, lseek64, (int, off64_t, int))                                             \
	/* sizes */                                                                          \
	X(int, stat, (const char *, struct stat *))                                          \
	X(int, stat64, (const char *, struct stat64 *))                                      \
	X(int, fstat, (int, struct stat *))                                                  \
	X(int, fstat64, (int, struct stat64 *))                                              \
	X(int, lstat, (const char *, struct stat *))                                         \
	X(int, lstat64, (const char *, struct stat64 *))                                     \
	X(int, fstatat, (int, const char *, struct stat *, int))                             \
	X(int, fstatat64, (int, const char *, struct stat64 *, int))                         \
	X(int, statx, (int, const char *, int, unsigned, struct statx *))                    \
	X(int, truncate, (const char *, off_t))                                              \
	X(int, truncate64, (const char *, off64_t))                                          \
	X(int, ftruncate, (int, off_t))                                                      \
	X(int, ftruncate64, (int, off64_t))                                                  \
	X(int, fallocate, (int, int, off_t, off_t))                                          \
	X(int, fallocate64, (int, int, off64_t, off64_t))                                    \
	X(int, posix_fallocate, (int, off_t, off_t))                                         \
	X(int, posix_fallocate64, (int, off64_t, off64_t))                                   \
	/* durability */                                                                     \
	X(int, fsync, (int))                                                                 \
	X(int, fdatasync, (int))                                                             \
	X(int, sync_file_range, (int, off64_t, off64_t, unsigned))                           \
	/* page-cache advice, moved to the physical ranges */                                \
	X(int, posix_fadvise, (int, off_t, off_t, int))                                      \
	X(int, posix_fadvise64, (int, off64_t, off64_t, int))                                \
	X(ssize_t, readahead, (int, off64_t, size_t))                                        \
	/* devices */                                                                        \
	X(int, ioctl, (int, unsigned long, ...))                                             \
	/* copies that would bypass verification */                                          \
	X(ssize_t, copy_file_range, (int, off64_t *, int, off64_t *, size_t, unsigned))      \
	X(ssize_t, sendfile, (int, int, off_t *, size_t))                                    \
	X(ssize_t, sendfile64, (int, int, off64_t *, size_t))                                \
	X(ssize_t, splice, (int, off64_t *, int, off64_t *, size_t, unsigned))               \
	/* mappings */                                                                       \
	X(void *, mmap, (void *, size_t, int, int, int, off_t))                              \
	X(void *, mmap64, (void *, size_t, int, int, int, off64_t))                          \
	X(int, munmap, (void *, size_t))                                                     \
	X(void *, mremap, (void *, size_t, size_t, int, ...))                                \
	X(int, mprotect, (void *, size_t, int))                                              \
	X(int, madvise, (void *, size_t, int))                                               \
	/* descriptors that arrive other than by open() */                                   \
	X(ssize_t, recvmsg, (int, struct msghdr *, int))                                     \
	X(int, recvmmsg, (int, struct mmsghdr *, unsigned, int, struct timespec *))          \
	X(int, open_by_handle_at, (int, struct file_handle *, int))                          \
	X(int, pidfd_getfd, (int, int, unsigned))                                            \
	/* stdio */                                                                          \
	X(FILE *, fopen, (const char *, const char *))                                       \
	X(FILE *, fopen64, (const char *, const char *))                                     \
	X(FILE *, freopen, (const char *, const char *, FILE *))                             \
	X(FILE *, freopen64, (const char *, const char *, FILE *))                           \
	X(FILE *, fdopen, (int, const char *))                                               \
	/* POSIX AIO (aio.c): protected descriptors through the engine */                    \
	X(int, aio_read, (struct aiocb *))                                                   \
	X(int, aio_read64, (struct aiocb64 *))                                               \
	X(int, aio_write, (struct aiocb *))                                                  \
	X(int, aio_write64, (struct aiocb64 *))                                              \
	X(int, aio_fsync, (int, struct aiocb *))                                             \
	X(int, aio_fsync64, (int, struct aiocb64 *))                                         \
	X(int, lio_listio, (int, struct aiocb *const[], int, struct sigevent *))             \
	X(int, lio_listio64, (int, struct aiocb64 *const[], int, struct sigevent *))         \
	X(int, aio_suspend, (const struct aiocb *const[], int, const struct timespec *))     \
	X(int, aio_suspend64, (const struct aiocb64 *const[], int, const struct timespec *)) \
	X(int, aio_cancel, (int, struct aiocb *))                                            \
	X(int, aio_cancel64, (int, struct aiocb64 *))                                        \
	/* glibc's syscall(): numbers that move data, open, size, sync, map, copy or         \
	 * close go to the wrappers above (syscall.c) */                                     \
	X(long, syscall, (long, ...))

/* Names the shim serves entirely by itself: there is no real function to
 * resolve (a dlsym that fails allocates, and these libraries may not be
 * loaded at all).  libaio's entry points reach the kernel through syscall()
 * (libaio.c); liburing's ring set-up fails as on a kernel without io_uring
 * (uring.c); glibc's compat stat names (binaries built before glibc 2.33)
 * are the stat calls above with a version argument (compat.c). */
#define CSM_SHIM_OWN_CALLS(X)                                                                   \
	/* Linux AIO, libaio's names */                                                         \
	X(int, io_setup, (int, aio_context_t *))                                                \
	X(int, io_destroy, (aio_context_t))                                                     \
	X(int, io_submit, (aio_context_t, long, struct iocb **))                                \
	X(int, io_getevents, (aio_context_t, long, long, struct io_event *, struct timespec *)) \
	X(int, io_pgetevents,                                                                   \
	  (aio_context_t, long, long, struct io_event *, struct timespec *, sigset_t *))        \
	X(int, io_cancel, (aio_context_t, struct iocb *, struct io_event *))                    \
	/* io_uring, liburing's names */                                                        \
	X(int, io_uring_setup, (unsigned, struct io_uring_params *))                            \
	X(int, io_uring_queue_init, (unsigned, struct io_uring *, unsigned))                    \
	X(int, io_uring_queue_init_params,                                                      \
	  (unsigned, struct io_uring *, struct io_uring_params *))                              \
	/* glibc < 2.33 compat stat */                                                          \
	X(int, __fxstat, (int, int, struct stat *))                                             \
	X(int, __fxstat64, (int, int, struct stat64 *))                                         \
	X(int, __xstat, (int, const char *, struct stat *))                                     \
	X(int, __xstat64, (int, const char *, struct stat64 *))                                 \
	X(int, __lxstat, (int, const char *, struct stat *))                                    \
	X(int, __lxstat64, (int, const char *, struct stat64 *))                                \
	X(int, __fxstatat, (int, int, const char *, struct stat *, int))                        \
	X(int, __fxstatat64, (int, int, const char *, struct stat64 *, int))

#endif
