/*
 * The shim's own descriptors, and children that share the parent's memory.
 *
 * Own descriptors (the engines' private descriptors, the anchors that let
 * a forked child reopen the very file, the log) live at high numbers,
 * close-on-exec, out of the program's way: the kernel hands out the
 * lowest free number, so a program only meets one of ours by naming it.
 * A bitmap says which numbers are ours; the descriptor calls consult it
 * (descriptors.c): close() of one of ours is EBADF, as for a number the
 * program never opened; close_range and closefrom skip ours; dup2 or
 * dup3 onto one of ours first moves ours out of the way.
 *
 * Moving one: the engine keeps the number it was given (its "name") and
 * does its system calls through the wrappers below, which translate a
 * name to the descriptor now holding it.  The move dups the descriptor
 * to a free high number, publishes the translation, and waits until no
 * call that may have read the old translation is still in flight (two
 * counters per name, switched by an epoch bit, so calls that start
 * meanwhile cannot keep it waiting); only then does the program's dup2
 * replace the old number.
 *
 * A child created with vfork, posix_spawn or clone(CLONE_VM) runs on the
 * parent's memory until it execs or exits: anything the shim changed
 * there (the fd table, the engines, the standard streams) would be
 * changed for the parent.  The shim cannot see every such child being
 * made (glibc's posix_spawn calls clone directly), so the table-changing
 * calls compare getpid() with the pid that owns the state: a child acts on
 * its kernel descriptors only.  A fork child owns its copy (atfork).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <sched.h>
#include <stdarg.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "real.h"
#include "state.h"

#define OWN_MAX 65536 /* numbers beyond are never ours (we stay below 1024) */
#define LBITS (sizeof(unsigned long) * CHAR_BIT)

static _Atomic unsigned long own_bits[OWN_MAX / LBITS]; /* kernel numbers that are ours */
/* By name (the number an engine was given): the descriptor now holding it
 * plus 1 (0: itself), the epoch bit, and the calls in flight per epoch.
 * By descriptor: the name it holds plus 1 (0: its own). */
static _Atomic int moved_to[OWN_MAX];
static _Atomic unsigned char epoch[OWN_MAX];
static _Atomic unsigned inflight[OWN_MAX][2];
static _Atomic int name_of[OWN_MAX];
static pthread_mutex_t move_mu = PTHREAD_MUTEX_INITIALIZER; /* moves and closes of moved names */
static _Atomic pid_t owner;
static int own_base = -1; /* where our descriptors go; -1: leave them */

void shim_own_init(void)
{
	atomic_store(&owner, getpid());
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	/* Below 1024: a larger number grows the kernel's table (and every
	 * fork's copy of it) to that size. */
	rlim_t lim = rl.rlim_cur < 1024 ? rl.rlim_cur : 1024;
	if (lim >= 128)
		own_base = (int)lim - 64;
	else if (lim >= 16)
		own_base = (int)lim / 2;
}

void shim_own_forked(void)
{
	atomic_store(&owner, getpid());
	pthread_mutex_init(&move_mu, NULL); /* a thread gone in the child may have held it */
}

bool shim_foreign(void)
{
	shim_fork_check(); /* a fork no handler saw owns its copy */
	pid_t o = atomic_load_explicit(&owner, memory_order_relaxed);
	return o && getpid() != o;
}

bool shim_own_is(int fd)
{
	if (fd < 0 || fd >= OWN_MAX)
		return false;
	unsigned long w =
	        atomic_load_explicit(&own_bits[(unsigned)fd / LBITS], memory_order_relaxed);
	return (w >> ((unsigned)fd % LBITS)) & 1;
}

static void own_mark(int fd, bool on)
{
	if (fd < 0 || fd >= OWN_MAX)
		return;
	unsigned long bit = 1UL << ((unsigned)fd % LBITS);
	if (on)
		atomic_fetch_or(&own_bits[(unsigned)fd / LBITS], bit);
	else
		atomic_fetch_and(&own_bits[(unsigned)fd / LBITS], ~bit);
}

int shim_own_take(int fd)
{
	if (fd < 0)
		return fd;
	bool low = own_base >= 0 && fd < own_base;
	bool named = fd < OWN_MAX && atomic_load(&moved_to[fd]);
	int from = low ? own_base : fd + 1;
	while (low || named) {
		int hi = csm_real.fcntl(fd, F_DUPFD_CLOEXEC, from);
		if (hi < 0)
			break; /* the high numbers are all taken: it stays, still ours */
		if (hi < OWN_MAX && atomic_load(&moved_to[hi])) {
			/* A moved descriptor still goes by that name. */
			csm_real.close(hi);
			from = hi + 1;
			continue;
		}
		csm_real.close(fd);
		fd = hi;
		break;
	}
	own_mark(fd, true);
	return fd;
}

/* The descriptor holding name fd now; enter/leave bracket its use. */
static int own_enter(int fd, int *ep)
{
	if (fd < 0 || fd >= OWN_MAX)
		return fd;
	*ep = atomic_load(&epoch[fd]) & 1;
	atomic_fetch_add(&inflight[fd][*ep], 1);
	int m = atomic_load(&moved_to[fd]);
	return m ? m - 1 : fd;
}

static void own_leave(int fd, int ep)
{
	if (fd >= 0 && fd < OWN_MAX)
		atomic_fetch_sub(&inflight[fd][ep], 1);
}

int shim_own_fd(int name)
{
	int m = name >= 0 && name < OWN_MAX ? atomic_load(&moved_to[name]) : 0;
	return m ? m - 1 : name;
}

int shim_own_close(int name)
{
	if (name < 0 || name >= OWN_MAX || !atomic_load(&moved_to[name])) {
		own_mark(name, false);
		return csm_real.close(name);
	}
	pthread_mutex_lock(&move_mu);
	int fd = atomic_load(&moved_to[name]) - 1;
	atomic_store(&moved_to[name], 0);
	if (fd >= 0 && fd < OWN_MAX)
		atomic_store(&name_of[fd], 0);
	own_mark(fd, false);
	pthread_mutex_unlock(&move_mu);
	return csm_real.close(fd);
}

static int own_move(int fd);

int shim_own_move(int fd)
{
	if (!shim_own_is(fd))
		return 0;
	pthread_mutex_lock(&move_mu);
	int rc = own_move(fd);
	pthread_mutex_unlock(&move_mu);
	return rc;
}

static int own_move(int fd)
{
	int n = atomic_load(&name_of[fd]);
	int name = n ? n - 1 : fd;
	int hi = csm_real.fcntl(fd, F_DUPFD_CLOEXEC, own_base >= 0 ? own_base : 0);
	while (hi >= 0 && hi < OWN_MAX && atomic_load(&moved_to[hi])) {
		int next = csm_real.fcntl(fd, F_DUPFD_CLOEXEC, hi + 1);
		csm_real.close(hi);
		hi = next;
	}
	if (hi < 0 || hi >= OWN_MAX) {
		if (hi >= 0)
			csm_real.close(hi);
		errno = EMFILE;
		return -1;
	}
	own_mark(hi, true);
	atomic_store(&name_of[hi], name + 1);
	atomic_store(&moved_to[name], hi == name ? 0 : hi + 1);
	/* Calls that may have read the old translation finish first. */
	int old = atomic_fetch_xor(&epoch[name], 1) & 1;
	while (atomic_load(&inflight[name][old]))
		sched_yield();
	own_mark(fd, false);
	atomic_store(&name_of[fd], 0);
	return 0;
}

/* ---- the engines' system calls, by name ------------------------------- */

#define BY_NAME(fd, call)                               \
	({                                              \
		int _ep = 0, _fd = own_enter(fd, &_ep); \
		__typeof__(call) _r = (call);           \
		int _e = errno;                         \
		own_leave(fd, _ep);                     \
		errno = _e;                             \
		_r;                                     \
	})

static ssize_t n_pread(int fd, void *b, size_t n, off_t o)
{
	return BY_NAME(fd, csm_real.pread(_fd, b, n, o));
}
static ssize_t n_pwrite(int fd, const void *b, size_t n, off_t o)
{
	return BY_NAME(fd, csm_real.pwrite(_fd, b, n, o));
}
static ssize_t n_preadv(int fd, const struct iovec *v, int c, off_t o)
{
	return BY_NAME(fd, csm_real.preadv(_fd, v, c, o));
}
static ssize_t n_pwritev(int fd, const struct iovec *v, int c, off_t o)
{
	return BY_NAME(fd, csm_real.pwritev(_fd, v, c, o));
}
static ssize_t n_pwritev2(int fd, const struct iovec *v, int c, off_t o, int fl)
{
	return BY_NAME(fd, csm_real.pwritev2(_fd, v, c, o, fl));
}
static int n_fsync(int fd)
{
	return BY_NAME(fd, csm_real.fsync(_fd));
}
static int n_fdatasync(int fd)
{
	return BY_NAME(fd, csm_real.fdatasync(_fd));
}
static int n_ftruncate(int fd, off_t len)
{
	return BY_NAME(fd, csm_real.ftruncate(_fd, len));
}
static int n_fstat(int fd, struct stat *st)
{
	return BY_NAME(fd, csm_real.fstat(_fd, st));
}
static int n_fallocate(int fd, int mode, off_t o, off_t len)
{
	return BY_NAME(fd, csm_real.fallocate(_fd, mode, o, len));
}
static int n_ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	return BY_NAME(fd, csm_real.ioctl(_fd, req, arg));
}
static off_t n_lseek(int fd, off_t o, int whence)
{
	return BY_NAME(fd, csm_real.lseek(_fd, o, whence));
}
static int n_fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	return BY_NAME(fd, csm_real.fcntl(_fd, cmd, arg));
}
static int n_fadvise(int fd, off_t o, off_t len, int advice)
{
	return BY_NAME(fd, csm_real.posix_fadvise(_fd, o, len, advice));
}

ssize_t shim_own_write(int fd, const void *b, size_t n)
{
	return BY_NAME(fd, csm_real.write(_fd, b, n));
}

void shim_own_sysio(struct csm_sysio *s)
{
	*s = (struct csm_sysio){.pread = n_pread,
	                        .pwrite = n_pwrite,
	                        .preadv = n_preadv,
	                        .pwritev = n_pwritev,
	                        .pwritev2 = n_pwritev2,
	                        .fsync = n_fsync,
	                        .fdatasync = n_fdatasync,
	                        .ftruncate = n_ftruncate,
	                        .fstat = n_fstat,
	                        .fallocate = n_fallocate,
	                        .ioctl = n_ioctl,
	                        .lseek = n_lseek,
	                        .close = shim_own_close,
	                        .fcntl = n_fcntl,
	                        .fadvise = n_fadvise};
}

int shim_own_next(int from, int last)
{
	if (from < 0)
		from = 0;
	for (int fd = from; fd <= last && fd < OWN_MAX; fd++) {
		unsigned long w = atomic_load_explicit(&own_bits[(unsigned)fd / LBITS],
		                                       memory_order_relaxed) >>
		                  ((unsigned)fd % LBITS);
		if (!w) {
			fd |= (int)LBITS - 1; /* the rest of this word is not ours */
			continue;
		}
		if (w & 1)
			return fd;
	}
	return -1;
}
