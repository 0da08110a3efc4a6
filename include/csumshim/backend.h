/*
 * Storage backends: the only way the engine touches storage.
 *
 * A backend exposes two stores, DATA and META.  In the interleaved layout
 * both name the same file; in the separate layout, two files.  The default
 * backend uses POSIX calls through a table of function pointers (the shim
 * passes libc's real functions, so its own wrappers are never re-entered);
 * tests plug in in-memory, fault-injecting or crash-simulating backends.
 *
 * Every op returns a negative errno on failure.
 */
#ifndef CSUMSHIM_BACKEND_H
#define CSUMSHIM_BACKEND_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

enum csm_store {
	CSM_DATA = 0,
	CSM_META = 1,
};

/* The program's calls, as the engine's entry points tell the backend of
 * them (csm_backend_ops.program_call). */
enum csm_call {
	CSM_CALL_READ = 1,  /* csm_pread */
	CSM_CALL_WRITE,     /* csm_pwrite, csm_append */
	CSM_CALL_FSYNC,     /* csm_fsync(e, false) begins */
	CSM_CALL_FDATASYNC, /* csm_fsync(e, true) begins */
	CSM_CALL_SYNC_DONE, /* ... and ends */
};

struct csm_backend_ops {
	/* Transfer the whole iovec at `off`, looping over short counts and
	 * EINTR.  Returns the bytes moved; a read is short only at the end of
	 * the store.  iovcnt <= 3. */
	ssize_t (*preadv)(void *ctx, enum csm_store st, const struct iovec *iov, int iovcnt,
	                  uint64_t off);
	ssize_t (*pwritev)(void *ctx, enum csm_store st, const struct iovec *iov, int iovcnt,
	                   uint64_t off);
	/* pwritev, durable when it returns — this write only, not the other
	 * writes still in the page cache (RWF_DSYNC).  NULL: the engine
	 * writes, then syncs the store. */
	ssize_t (*pwritev_durable)(void *ctx, enum csm_store st, const struct iovec *iov,
	                           int iovcnt, uint64_t off);
	int (*sync)(void *ctx, enum csm_store st, bool datasync);
	int (*get_size)(void *ctx, enum csm_store st, uint64_t *size);
	/* Resize a store (regular files).  Not called when !resizable. */
	int (*set_size)(void *ctx, enum csm_store st, uint64_t size);
	/* Make [off, off+len) read as zeros, deallocating if possible. */
	int (*zero_range)(void *ctx, enum csm_store st, uint64_t off, uint64_t len);
	/* First offset >= off that may hold data (SEEK_DATA); -ENXIO when
	 * there is none; -EOPNOTSUPP when the store cannot tell. */
	int (*next_data)(void *ctx, enum csm_store st, uint64_t off, uint64_t *data_off);
	/* Cross-process lock number `id` (CSM_LOCK_*): type F_RDLCK, F_WRLCK
	 * or F_UNLCK; with !wait, -EAGAIN if another process holds it.  The
	 * lock belongs to the backend's open file, so threads of one process
	 * share it (the engine orders them itself).  NULL: the store is
	 * private to this process (in-memory tests). */
	int (*lock)(void *ctx, uint64_t id, int type, bool wait);
	/* Whether lock `id` could be taken with `type` now, ignoring the
	 * backend's own locks: 0 if so, -EAGAIN if another open file holds
	 * it, or -errno.  Works on read-only descriptors.  NULL: unknown. */
	int (*lock_test)(void *ctx, uint64_t id, int type);
	/* Page-cache advice (POSIX_FADV_*) for [off, off+len) of a store; len 0
	 * means to the end.  Only a hint: errors are ignored.  NULL: none. */
	void (*advise)(void *ctx, enum csm_store st, uint64_t off, uint64_t len, int advice);
	/* The running kernel's boot id (Linux: /proc/sys/kernel/random/boot_id),
	 * 16 bytes.  Recorded with a file's unclean mark, it tells recovery a
	 * process crash (same boot: every completed write is in the page cache)
	 * from a power cut (another boot).  0 or -errno; NULL: unknown. */
	int (*boot_id)(void *ctx, uint8_t out[16]);
	/* Faults shown to the program at the engine's logical entry points.
	 * Only the fault-injecting backend (fault.h) has it; NULL in every
	 * other, so a file without rules runs no fault code.  Before moving
	 * len bytes at logical offset off, csm_pread (CSM_CALL_READ) and
	 * csm_pwrite/csm_append (CSM_CALL_WRITE) ask how many to move: len, or
	 * fewer (a short count, which the program sees).  csm_fsync calls it
	 * with CSM_CALL_FSYNC or CSM_CALL_FDATASYNC before its syncs and
	 * CSM_CALL_SYNC_DONE after them (off, len 0; returns 0), so the
	 * backend knows which of its syncs serve which call of the program. */
	size_t (*program_call)(void *ctx, enum csm_call call, uint64_t off, size_t len);
	void (*destroy)(void *ctx);
};

/* Lock numbers.  The POSIX backend locks byte CSM_LOCK_BASE + id of the
 * metadata store with open-file-description locks; offsets that high never
 * hold data (physical offsets stay below 2^62), and the shim clamps a
 * program's own byte-range locks below CSM_LOCK_BASE. */
#define CSM_LOCK_BASE (UINT64_C(1) << 62)
#define CSM_LOCK_PRESENCE 0u /* shared by every open engine; one alone: solo */
#define CSM_LOCK_SUPER 1u    /* superblock read-modify-write */
#define CSM_LOCK_KNOCK 2u    /* held shared by an opener waiting for a solo one */
#define CSM_LOCK_GROUP(g) (3u + (uint64_t)(g))
/* Every group lock from group g on, in one lock (a shrinking truncate). */
#define CSM_LOCK_TAIL_FLAG (UINT64_C(1) << 61)
#define CSM_LOCK_TAIL(g) (CSM_LOCK_TAIL_FLAG | CSM_LOCK_GROUP(g))

struct csm_backend {
	const struct csm_backend_ops *ops;
	void *ctx;
	bool resizable; /* false for block devices: fixed capacity */
	/* The metadata store is on a network or cluster file system, where a
	 * lock is a round trip to a server: no solo mode (src/engine/). */
	bool remote;
	/* DATA and META are two files (the separate layout); false: one file
	 * holds both (interleaved).  The engine refuses a superblock whose
	 * layout says otherwise. */
	bool two_stores;
};

struct statfs;

/* The system calls the POSIX backend uses.  csm_sysio_libc() fills the
 * table with libc's own functions. */
struct csm_sysio {
	/* pread/pwrite carry one-piece transfers: on Linux 6.x a preadv of
	 * one iovec costs some 80 ns more than a pread (iovec import, the
	 * vectored path), a tenth of a cached 4 KiB read. */
	ssize_t (*pread)(int, void *, size_t, off_t);
	ssize_t (*pwrite)(int, const void *, size_t, off_t);
	ssize_t (*preadv)(int, const struct iovec *, int, off_t);
	ssize_t (*pwritev)(int, const struct iovec *, int, off_t);
	ssize_t (*pwritev2)(int, const struct iovec *, int, off_t, int);
	int (*fsync)(int);
	int (*fdatasync)(int);
	int (*ftruncate)(int, off_t);
	int (*fstat)(int, struct stat *);
	int (*fallocate)(int, int, off_t, off_t);
	int (*ioctl)(int, unsigned long, ...);
	off_t (*lseek)(int, off_t, int);
	int (*close)(int);
	int (*fcntl)(int, int, ...);
	int (*fadvise)(int, off_t, off_t, int);
	/* The file system under the metadata store (its f_type says whether
	 * it is a network one: csm_backend.remote).  NULL: libc's fstatfs. */
	int (*fstatfs)(int, struct statfs *);
};

void csm_sysio_libc(struct csm_sysio *sys);

/* Size of a regular file (fstat) or block device (BLKGETSIZE64) through
 * `sys` (NULL: libc).  *is_blk, if not NULL, tells which.  0 or -errno. */
int csm_fd_size(const struct csm_sysio *sys, int fd, uint64_t *size, bool *is_blk);

/* Open the metadata file `path` of the data file open on data_fd, refusing
 * what another user could have planted under that name: a symbolic link
 * (never followed), a hard link, anything but a regular file, a file owned
 * by someone other than the data file's owner, root or the caller.  flags:
 * O_RDONLY or O_RDWR, with O_CREAT to create it if missing (O_EXCL: never
 * through a link); a new file gets the data file's owner and group (as
 * root; the group where the caller may) and its read/write bits.  Returns
 * an O_CLOEXEC descriptor, or -errno with a one-line reason in err (EPERM
 * for a refusal; ENOENT: missing, without O_CREAT).  Uses libc directly:
 * the shim calls it with its guard up. */
int csm_meta_open(const char *path, int data_fd, int flags, bool *created, char *err,
                  size_t errlen);

/* A backend over file descriptors.  For the interleaved layout pass the
 * same fd twice.  With own_fds, destroy() closes them.  `sys` is copied;
 * NULL means libc.  Returns 0 or -errno. */
int csm_backend_posix(struct csm_backend *out, int data_fd, int meta_fd, bool own_fds,
                      const struct csm_sysio *sys);

static inline void csm_backend_destroy(struct csm_backend *be)
{
	if (be->ops && be->ops->destroy)
		be->ops->destroy(be->ctx);
	be->ops = 0;
	be->ctx = 0;
}

#ifdef __cplusplus
}
#endif
#endif
