/*
 * The shim's process state: configuration, log, the fd table and the
 * engines behind it.  The wrappers (wrap.h) only translate libc calls into
 * these operations.  Where they are: the fd table, fork and start-up in
 * fdtable.c, engine set-up in engines.c, the log in log.c, paths and
 * names in paths.c, opening in open.c, the data calls in data.c; what
 * those files share among themselves is in state_int.h.
 *
 * - The fd table maps a descriptor to its open file description
 *   (struct shim_file), shared by dup'ed descriptors.  Lookup is two array
 *   reads, no lock: like the kernel's, an fd must not be closed while
 *   another thread is using it.
 * - One engine per inode (device, inode number), shared by every open of
 *   that file in the process, so all of them see one metadata cache and one
 *   set of group locks.  The engine does its I/O on private descriptors.
 * - The logical file position lives in the kernel's offset of the
 *   program's own descriptor, so dup, fork and exec share it exactly as
 *   they share a normal file's position.
 */
#ifndef CSUMSHIM_STATE_H
#define CSUMSHIM_STATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uthash.h>

#include "config.h"
#include "csumshim/engine.h"
#include "io.h"

struct shim_inode {
	uint64_t key[2]; /* device, inode number */
	UT_hash_handle hh;
	unsigned refs;             /* shim_files using it (state mutex) */
	struct shim_io *_Atomic e; /* NULL in a forked child until reopened */
	const struct csm_rule *rule;
	char *path; /* as resolved when first opened */
	bool blockdev;
	/* Shared mappings against writers (maplock.h), under smu: the
	 * writable opens and the shared mappings in this process, and the
	 * descriptor holding the lock bytes (-1: none yet). */
	unsigned writers, maps;
	int lockfd;
	int forklock;  /* across fork(): the child's copy of lockfd's locks, or -1 */
	bool readonly; /* e is read-only: no open of this file wrote yet */
	/* e is an empty image in memory (engines.c, empty_backend): the file
	 * was empty and unformatted when this process opened it read-only.
	 * csumshim format only: dm-csum refuses an empty file (dmcsum.c). */
	atomic_bool empty;
	/* Handles replaced (the empty image by a read-only engine once the
	 * file has content, a read-only one by a writable one): still in use
	 * by calls in flight then, closed with the inode. */
	struct shim_io *retired[2];
	int anchor[2]; /* O_PATH descriptors (ours) of the data and metadata files, or -1:
	                  a forked child reopens the very files through them */
};

struct shim_file {
	atomic_uint refs; /* descriptors sharing this description */
	struct shim_inode *ino;
	atomic_int flags;       /* O_ACCMODE | O_APPEND | O_NONBLOCK... as the program set them */
	pthread_mutex_t pos_mu; /* serialises read/write/lseek on the position */
};

extern struct csm_config csm_cfg;
extern bool csm_cfg_loaded;

/* Is fd one of ours?  O(1), no lock, no allocation. */
struct shim_file *shim_fd(int fd);

/* Open `path` (relative to dirfd) as the program asked.  Returns the fd,
 * or -1 with errno; *handled is false if the path is not configured (the
 * caller then does the real open itself). */
int shim_open(int dirfd, const char *path, int flags, mode_t mode, bool *handled);

/* A descriptor the program got without open() (inherited, received over a
 * socket, opened by handle): adopted if it names a protected file, found
 * by /proc/self/fd or else among the files the process has open; one that
 * cannot be opened as a csumshim file is replaced by /dev/null with a log
 * line (`how` says where it came from).  Returns 1 adopted, 0 not ours, -1
 * replaced. */
int shim_adopt_fd(int fd, const char *how);

/* Bookkeeping around the real close/dup calls.  shim_forget_fd: 0, or
 * -errno when it was the file's last descriptor and closing its engine
 * (the final sync) failed: close() must report it. */
int shim_forget_fd(int fd);
void shim_forget_range(unsigned first, unsigned last);
void shim_share_fd(int oldfd, int newfd); /* newfd now refers to oldfd's file */

/* Logical size of a configured path (following symlinks unless nofollow):
 * 1 and *size if it is a csumshim file under a configured glob, 0 if not
 * ours, -1 on error. */
int shim_path_size(int dirfd, const char *path, bool nofollow, uint64_t *size);

/* unlink, remove, rename: a separate layout's metadata file follows its
 * data file.  Asked before the real call (the name is gone after it):
 * shim_unlink_meta gives the metadata file to remove, shim_rename_meta the
 * one to move (from -> to) or, from NULL, the one to remove (to: a file
 * under a separate-layout glob is being replaced by one that is not).
 * After the real call, shim_meta_follow(rc of that call, from, to, rename
 * flags) moves from to to, or removes to if from is NULL, if the call
 * succeeded; logs a failure other than ENOENT, frees both, keeps errno. */
char *shim_unlink_meta(int dirfd, const char *path);
void shim_rename_meta(int olddir, const char *oldpath, int newdir, const char *newpath, char **from,
                      char **to);
void shim_meta_follow(int rc, char *from, char *to, unsigned flags);

/* The file's engine; a forked child reopens its own on first use (the
 * parent's may hold locks of threads that do not exist in the child).
 * NULL with errno set if it cannot be reopened. */
struct shim_io *shim_engine(struct shim_file *f);

/* Verified I/O on a configured fd: the position-based calls. */
ssize_t shim_read(struct shim_file *f, int fd, void *buf, size_t n);
ssize_t shim_write(struct shim_file *f, int fd, const void *buf, size_t n);
ssize_t shim_pread(struct shim_file *f, void *buf, size_t n, off_t off);
ssize_t shim_pwrite(struct shim_file *f, int fd, const void *buf, size_t n, off_t off);
off_t shim_lseek(struct shim_file *f, int fd, off_t off, int whence);

/* Standard streams follow fd 0-2 (stdio.c): flush before a change to the
 * descriptor, swap after it. */
void shim_std_before(int fd);
void shim_std_after(int fd);

void shim_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ownfds.c: the shim's own descriptors, and children sharing our memory.
 * shim_own_take moves a new descriptor of ours to a high number (and
 * marks it ours); shim_own_close closes one (by the number the engine
 * knows it by); shim_own_is tells whether a kernel number is ours;
 * shim_own_next is the first of ours in [from, last], or -1;
 * shim_own_move moves ours away from fd before the program replaces it
 * (0, or -1 with errno).  shim_foreign: this is a child sharing the
 * parent's memory (vfork, posix_spawn, clone(CLONE_VM)), which must
 * change nothing of the shim's state.  shim_own_sysio: the real calls
 * the engines' backends make, through the numbers they were given. */
/* fdtable.c: a fork no atfork handler saw (raw clone, _Fork) is caught
 * by a MADV_WIPEONFORK page reading zero; shim_unseen_fork then does what
 * the handlers would have (aio.c and libaio.c's included). */
extern volatile unsigned char *csm_fork_mark;
void shim_unseen_fork(void);
static inline void shim_fork_check(void)
{
	if (__builtin_expect(csm_fork_mark && !*csm_fork_mark, 0))
		shim_unseen_fork();
}
void shim_aio_forked(void);
void shim_kaio_forked(void);

void shim_own_init(void);
void shim_own_forked(void);
bool shim_foreign(void);
int shim_own_take(int fd);
int shim_own_close(int fd);
int shim_own_fd(int name); /* the descriptor a name of ours stands for now */
bool shim_own_is(int fd);
int shim_own_next(int from, int last);
int shim_own_move(int fd);
struct csm_sysio;
void shim_own_sysio(struct csm_sysio *s);
ssize_t shim_own_write(int fd, const void *buf, size_t n); /* the log's */

/* One-time setup: config, log, inherited descriptors, fork handlers.
 * A config error prints "csumshim: FILE:LINE: ..." and exits 78. */
void shim_state_init(void);

#endif
