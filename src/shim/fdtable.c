/*
 * The descriptor table and adoption: the fd table, the open file
 * descriptions and inodes behind it (one engine per inode), the fork
 * handlers, and start-up (config, log, descriptors inherited across exec).
 * See state.h.
 */
#define _GNU_SOURCE
#include "state_int.h"

#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "maplock.h"
#include "real.h"

struct csm_config csm_cfg;
bool csm_cfg_loaded;

/* Error-checking: madvise (mappings.c) may be called by the program's
 * allocator from inside the shim while this thread holds it. */
pthread_mutex_t smu = PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP; /* tables below */
static struct shim_inode *inodes;

/* ---- fd table: 1024 pages of 1024 slots, allocated on first use -------- */

#define FD_PAGE_BITS 10
#define FD_PAGE (1 << FD_PAGE_BITS)
#define FD_PAGES 1024

static _Atomic(struct shim_file *) *fd_pages[FD_PAGES];

struct shim_file *shim_fd(int fd)
{
	if (fd < 0 || (unsigned)fd >= (unsigned)FD_PAGE * FD_PAGES)
		return NULL;
	_Atomic(struct shim_file *) *page = fd_pages[fd >> FD_PAGE_BITS];
	return page ? atomic_load_explicit(&page[fd & (FD_PAGE - 1)], memory_order_acquire) : NULL;
}

/* Caller holds smu. */
static bool fd_slot_set(int fd, struct shim_file *f)
{
	if (fd < 0 || (unsigned)fd >= (unsigned)FD_PAGE * FD_PAGES)
		return f == NULL;
	_Atomic(struct shim_file *) **pp = &fd_pages[fd >> FD_PAGE_BITS];
	if (!*pp) {
		if (!f)
			return true;
		*pp = calloc(FD_PAGE, sizeof(**pp));
		if (!*pp)
			return false;
	}
	atomic_store_explicit(&(*pp)[fd & (FD_PAGE - 1)], f, memory_order_release);
	return true;
}

/* ---- files and inodes ------------------------------------------------- */

static void anchors_close(struct shim_inode *ino)
{
	for (int i = 0; i < 2; i++)
		if (ino->anchor[i] >= 0)
			shim_own_close(ino->anchor[i]);
	if (ino->lockfd >= 0)
		shim_own_close(ino->lockfd); /* its locks go with it */
}

void inode_hold(struct shim_inode *ino)
{
	ino->refs++;
}

/* Closing an engine syncs what it holds: a failure is logged, and is what
 * the last reference returns (the caller's close() reports it). */
static int engine_close(struct shim_inode *ino, struct shim_io *e)
{
	if (!e || shim_io_close(e) == 0)
		return 0;
	int err = errno;
	shim_log("%s: closing: %s", ino->path, strerror(err));
	return -err;
}

int inode_release(struct shim_inode *ino)
{
	if (--ino->refs)
		return 0;
	// NOLINTNEXTLINE(clang-analyzer-core.NullDereference): see register_fd
	HASH_DEL(inodes, ino);
	int rc = engine_close(ino, ino->retired[0]);
	int rc_r = engine_close(ino, ino->retired[1]);
	int rc_e = engine_close(ino, ino->e);
	if (!rc)
		rc = rc_r;
	anchors_close(ino);
	free(ino->path);
	free(ino);
	return rc < 0 ? rc : rc_e;
}

static int file_release(struct shim_file *f)
{
	if (atomic_fetch_sub(&f->refs, 1) != 1)
		return 0;
	if ((atomic_load(&f->flags) & O_ACCMODE) != O_RDONLY)
		shim_writer_leave(f->ino);
	int rc = inode_release(f->ino);
	pthread_mutex_destroy(&f->pos_mu);
	free(f);
	return rc;
}

/* The inode entry of a file, or NULL.  smu held. */
struct shim_inode *inode_find(const struct stat *st)
{
	uint64_t key[2] = {st->st_dev, st->st_ino};
	struct shim_inode *ino;
	/* The analyzer models uthash's table as unknown memory (the engine's
	 * identical use passes); ASan/UBSan cover this path at run time. */
	// NOLINTNEXTLINE(clang-analyzer-core.UndefinedBinaryOperatorResult)
	HASH_FIND(hh, inodes, key, sizeof(key), ino);
	return ino;
}

/* The inode's engine, reopened if a fork abandoned it — through the
 * inode's anchor, so it is the very file even if it was unlinked or its
 * name replaced since.  smu held.  NULL with errno set if it cannot be
 * reopened. */
struct shim_io *inode_engine(struct shim_inode *ino)
{
	if (!ino->e) {
		int rc = attach(ino, ino->rule, !ino->readonly, false, false,
		                shim_own_fd(ino->anchor[0]));
		if (rc < 0 || !ino->e) {
			errno = rc < 0 ? -rc : EIO;
			return NULL;
		}
	}
	return ino->e;
}

/* An engine replaced while calls in flight may still use it.  smu held. */
static void retire(struct shim_inode *ino, struct shim_io *old)
{
	if (!old)
		return;
	int i = ino->retired[0] ? 1 : 0;
	engine_close(ino, ino->retired[i]); /* cannot happen: two at most; logged */
	ino->retired[i] = old;
}

/* The empty image stands for a file that was empty when this process
 * opened it; another process (or a forked child) may have written it
 * since.  Once the file has content, a read-only engine over it takes
 * over, or this process would go on reading an empty file.  smu held. */
int inode_refresh(struct shim_inode *ino)
{
	if (!atomic_load(&ino->empty) || !ino->e || ino->anchor[0] < 0)
		return 0;
	struct stat st;
	if (csm_real.fstat(shim_own_fd(ino->anchor[0]), &st) < 0 || st.st_size == 0)
		return 0;
	struct shim_io *old = ino->e;
	int rc = attach(ino, ino->rule, false, false, false, shim_own_fd(ino->anchor[0]));
	if (rc < 0) {
		/* Reading on from the empty image would show an empty file. */
		shim_log("%s: written by another process since it was opened empty, and "
		         "cannot be opened now: %s",
		         ino->path, strerror(-rc));
		errno = EIO;
		return -1;
	}
	retire(ino, old);
	return 0;
}

/* The first open for writing of a file only read so far in this process:
 * a writable engine takes over (formatting the file if it is empty).  The
 * read-only one may be in use by calls in flight, so it stays open, and
 * holding the file, until the inode goes.  smu held. */
static int upgrade(struct shim_inode *ino, int fd, bool trunc, bool created)
{
	struct shim_io *old = atomic_load(&ino->e);
	int rc = attach(ino, ino->rule, true, false, created, fd);
	if (rc < 0)
		return rc;
	retire(ino, old); /* readonly is now false for good: at most once */
	/* O_TRUNC empties the file as it is, keeping its identity: other
	 * engines (the read-only one, other processes') hold its uuid. */
	if (trunc && !ino->blockdev && io_truncate(ino->e, 0) < 0)
		return -errno;
	return 0;
}

/* Register fd (already open on a configured file) under smu. */
int register_fd(int fd, const char *abspath, const struct csm_rule *r, int flags, bool created)
{
	struct stat st = {0};
	if (csm_real.fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return 1; /* a directory or fifo under the glob: not ours */
	uint64_t key[2] = {st.st_dev, st.st_ino};
	struct shim_inode *ino = inode_find(&st);
	/* O_RDONLY|O_TRUNC still empties the file: a writable engine.  The
	 * mapping lock counts writable descriptors, as file_release does. */
	bool need_write = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
	bool writer = (flags & O_ACCMODE) != O_RDONLY;
	int rc;
	if (!ino) {
		ino = calloc(1, sizeof(*ino));
		if (!ino || !(ino->path = strdup(abspath))) {
			free(ino);
			return -ENOMEM;
		}
		memcpy(ino->key, key, sizeof(key));
		ino->rule = r;
		ino->lockfd = ino->forklock = -1;
		ino->anchor[0] = ino->anchor[1] = -1;
		/* A writer while the file is mapped shared: ETXTBSY, before
		 * anything is formatted or truncated (maplock.h). */
		rc = writer ? shim_writer_enter(ino, fd) : 0;
		if (rc == 0)
			rc = attach(ino, r, need_write, (flags & O_TRUNC) != 0, created, fd);
		if (rc < 0) {
			anchors_close(ino);
			free(ino->path);
			free(ino);
			return rc;
		}
		HASH_ADD(hh, inodes, key, sizeof(ino->key), ino);
	} else {
		rc = writer ? shim_writer_enter(ino, fd) : 0;
		if (rc < 0)
			return rc;
		if (need_write && ino->readonly) {
			rc = upgrade(ino, fd, (flags & O_TRUNC) != 0, created);
		} else if ((flags & O_TRUNC) && need_write && !ino->blockdev) {
			struct shim_io *e = inode_engine(ino);
			if (!e || io_truncate(e, 0) < 0)
				rc = -errno;
		}
		if (rc < 0) {
			if (writer)
				shim_writer_leave(ino);
			return rc;
		}
	}
	struct shim_file *f = calloc(1, sizeof(*f));
	if (!f) {
		if (writer)
			shim_writer_leave(ino);
		ino->refs++;
		inode_release(ino); /* a new inode goes again */
		return -ENOMEM;
	}
	atomic_init(&f->refs, 1);
	atomic_init(&f->flags, flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY));
	pthread_mutex_init(&f->pos_mu, NULL);
	f->ino = ino;
	ino->refs++;
	if (!fd_slot_set(fd, f)) {
		file_release(f);
		return -ENOMEM;
	}
	return 0;
}

int shim_forget_fd(int fd)
{
	if (!shim_fd(fd))
		return 0;
	int rc = 0;
	pthread_mutex_lock(&smu);
	struct shim_file *f = shim_fd(fd);
	if (f) {
		fd_slot_set(fd, NULL);
		rc = file_release(f);
	}
	pthread_mutex_unlock(&smu);
	return rc;
}

void shim_forget_range(unsigned first, unsigned last)
{
	unsigned lim = (unsigned)FD_PAGE * FD_PAGES - 1;
	for (unsigned fd = first; fd <= last && fd <= lim; fd++) {
		if (!fd_pages[fd >> FD_PAGE_BITS]) {
			fd |= FD_PAGE - 1; /* skip the empty page */
			continue;
		}
		shim_forget_fd((int)fd);
	}
}

void shim_share_fd(int oldfd, int newfd)
{
	pthread_mutex_lock(&smu);
	struct shim_file *prev = shim_fd(newfd);
	struct shim_file *f = shim_fd(oldfd);
	if (prev != f) {
		if (f)
			atomic_fetch_add(&f->refs, 1);
		if (fd_slot_set(newfd, f) && prev)
			file_release(prev);
	}
	pthread_mutex_unlock(&smu);
}

/* ---- fork ------------------------------------------------------------- */

/* The child gets lock bytes of its own (shim_locks_copy), made before
 * the fork so that they are never released in between. */
static void atfork_prepare(void)
{
	pthread_mutex_lock(&smu);
	for (struct shim_inode *ino = inodes; ino; ino = ino->hh.next)
		ino->forklock = shim_locks_copy(ino);
}

static void atfork_parent(void)
{
	for (struct shim_inode *ino = inodes; ino; ino = ino->hh.next)
		if (ino->forklock >= 0) {
			shim_own_close(ino->forklock); /* the child's now */
			ino->forklock = -1;
		}
	pthread_mutex_unlock(&smu);
}

/* A normal exit (return from main, exit(), the last thread ending) leaves
 * every file the process has open as close() would: synced, and clean if
 * no other process has it open.  A program that never closes a file must
 * not leave it for recovery.  Not _exit or a signal: those are crashes.  A
 * forked child exiting never touches its parent's engines (abandoned at
 * the fork), only those it opened itself.  Engines are not freed: other
 * threads may still be running while exit() does this. */
/* Whether the calling thread is the process's only one (the engine's own
 * watcher counts too): then no other can be inside an engine, nor start
 * (only this one could start it).  False when it cannot tell. */
static bool only_thread(void)
{
	char buf[4096];
	int fd = csm_real.open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	size_t len = 0;
	for (;;) {
		ssize_t n = csm_real.read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == sizeof(buf) - 1)
			break;
	}
	csm_real.close(fd);
	buf[len] = 0;
	const char *t = strstr(buf, "\nThreads:");
	if (!t)
		return false;
	char *end;
	long n = strtol(t + 9, &end, 10);
	return end != t + 9 && n == 1;
}

static void exit_sign_off(void)
{
	pthread_mutex_lock(&smu);
	/* Alone, the last one out recovers what a writer that never signed
	 * off left (a fork child ended by _exit: multiprocessing's workers), as
	 * a close does, rather than leave the file unclean. */
	bool sole = only_thread();
	for (struct shim_inode *ino = inodes; ino; ino = ino->hh.next) {
		struct shim_io *e = atomic_load(&ino->e);
		if (e && io_exit(e, sole) < 0)
			shim_log("%s: at exit: %s", ino->path, strerror(errno));
	}
	pthread_mutex_unlock(&smu);
}

/* Forks the shim does not see: a raw clone() without CLONE_VM, glibc's
 * _Fork, run no atfork handler, and the child would go on with copies of
 * its parent's engines (their caches, their solo state, the parent's
 * descriptors and locks): its writes past the parent's cached size were
 * lost, silently, when the parent wrote its size back.  A page advised
 * MADV_WIPEONFORK reads zero in any child with a memory of its own, and
 * only there (a vfork or CLONE_VM child shares it): the first call that
 * looks at a descriptor in such a child does what atfork would have. */
volatile unsigned char *csm_fork_mark;
static void atfork_child(void);

static void fork_mark_init(void)
{
	void *p = csm_real.mmap(NULL, (size_t)sysconf(_SC_PAGESIZE), PROT_READ | PROT_WRITE,
	                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return;
	if (csm_real.madvise(p, (size_t)sysconf(_SC_PAGESIZE), MADV_WIPEONFORK) < 0) {
		csm_real.munmap(p, (size_t)sysconf(_SC_PAGESIZE));
		return; /* before Linux 4.14: such forks stay unseen */
	}
	*(volatile unsigned char *)p = 1;
	csm_fork_mark = p;
}

void shim_unseen_fork(void)
{
	unsigned char zero = 0;
	if (__atomic_compare_exchange_n(csm_fork_mark, &zero, 2, false, __ATOMIC_ACQ_REL,
	                                __ATOMIC_ACQUIRE)) {
		csm_forked(); /* the engine's own, first */
		atfork_child();
		shim_aio_forked();
		shim_kaio_forked();
		__atomic_store_n(csm_fork_mark, 1, __ATOMIC_RELEASE);
		return;
	}
	while (__atomic_load_n(csm_fork_mark, __ATOMIC_ACQUIRE) == 2)
		sched_yield(); /* another thread of the child is doing it */
}

/* The child has one thread; locks other threads held stay held in its
 * copies.  Re-initialise every mutex we own. */
static void atfork_child(void)
{
	if (csm_fork_mark)
		*csm_fork_mark = 1; /* wiped by the fork: this one was seen */
	shim_own_forked();          /* this copy of the state is the child's own */
	pthread_mutexattr_t ma;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ERRORCHECK);
	pthread_mutex_init(&smu, &ma);
	pthread_mutexattr_destroy(&ma);
	/* Abandon the parent's engines (their group and cache locks may be
	 * held by threads that are gone); each reopens on first use. */
	for (struct shim_inode *ino = inodes; ino; ino = ino->hh.next) {
		/* Lock bytes of the child's own (made by atfork_prepare, or now
		 * for a fork no handler saw); the shared description is the
		 * parent's to release. */
		int mine = ino->forklock >= 0 ? ino->forklock : shim_locks_copy(ino);
		ino->forklock = -1;
		if (mine >= 0) {
			shim_own_close(ino->lockfd);
			ino->lockfd = mine;
		}
		/* Close the inherited copies of its descriptors: they share the
		 * parent's open file and its locks, and would keep them alive. */
		if (ino->e)
			shim_io_abandon(ino->e);
		for (int i = 0; i < 2; i++) {
			if (ino->retired[i])
				shim_io_abandon(ino->retired[i]);
			ino->retired[i] = NULL;
		}
		ino->e = NULL;
	}
	for (int p = 0; p < FD_PAGES; p++) {
		if (!fd_pages[p])
			continue;
		for (int i = 0; i < FD_PAGE; i++) {
			struct shim_file *f = atomic_load(&fd_pages[p][i]);
			if (f)
				pthread_mutex_init(&f->pos_mu, NULL);
		}
	}
}

/* ---- start-up --------------------------------------------------------- */

/* The absolute path of what fd refers to: from /proc/self/fd, else (no
 * /proc) a file this process already has open, by device and inode.
 * 0, or -1 if it has none (a pipe, a socket, a file not known). */
static int fd_path(int fd, char out[PATH_MAX])
{
	char link[64];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, out, PATH_MAX - 1);
	if (n > 0) {
		out[n] = 0;
		if (out[0] != '/')
			return -1;
		/* An unlinked file (or one whose name was replaced) reads
		 * "PATH (deleted)": matched by its old name, reopened through
		 * the descriptor itself. */
		static const char del[] = " (deleted)";
		size_t dl = sizeof(del) - 1;
		struct stat st;
		if ((size_t)n > dl && !strcmp(out + n - dl, del) && csm_real.fstat(fd, &st) == 0 &&
		    st.st_nlink == 0)
			out[n - dl] = 0;
		return 0;
	}
	struct stat st;
	if (csm_real.fstat(fd, &st) < 0)
		return -1;
	pthread_mutex_lock(&smu);
	const struct shim_inode *ino = inode_find(&st);
	if (ino)
		snprintf(out, PATH_MAX, "%s", ino->path);
	pthread_mutex_unlock(&smu);
	return ino ? 0 : -1;
}

int shim_adopt_fd(int fd, const char *how)
{
	char path[PATH_MAX];
	if (shim_fd(fd) || shim_own_is(fd) || fd_path(fd, path) < 0)
		return 0;
	const struct csm_rule *r = csm_config_match(&csm_cfg, path);
	int fl = r ? csm_real.fcntl(fd, F_GETFL) : -1;
	/* An O_PATH descriptor moves no data (the kernel answers EBADF to
	 * reads and writes): left to the kernel, and reopening it through
	 * /proc/self/fd is an open like any other. */
	if (fl < 0 || (fl & O_PATH))
		return 0;
	pthread_mutex_lock(&smu);
	int rc = register_fd(fd, path, r, fl & ~O_TRUNC, false);
	pthread_mutex_unlock(&smu);
	shim_std_after(fd);
	if (rc >= 0)
		return rc == 0;
	/* Never let I/O on it go unverified: make the fd unusable. */
	shim_log("%s: %s descriptor %d refused: %s", path, how, fd, strerror(-rc));
	int cloexec = csm_real.fcntl(fd, F_GETFD) & FD_CLOEXEC;
	int nul = csm_real.open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (nul >= 0) {
		csm_real.dup3(nul, fd, cloexec ? O_CLOEXEC : 0);
		csm_real.close(nul);
	}
	return -1;
}

/* Descriptors inherited across exec (a shell's "> file", dd's stdin) are
 * recognised by path, so no I/O on a configured file escapes. */
static void adopt_inherited(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return;
	int dfd = dirfd(d);
	struct dirent *de;
	while ((de = readdir(d))) {
		char *end;
		long fd = strtol(de->d_name, &end, 10);
		if (!*end && fd != dfd && fd >= 0 && fd <= INT_MAX)
			shim_adopt_fd((int)fd, "inherited");
	}
	closedir(d);
}

/* The log file: appended to, never through a link, never anything but a
 * regular file (a FIFO planted there must not hang the program either).
 * The config parser checked the name; this checks what was opened. */
static void open_log(void)
{
	const char *why = NULL;
	int fd = csm_real.open(csm_cfg.log_path,
	                       O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
	                       0644);
	struct stat st;
	bool regular = fd >= 0 && csm_real.fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
	if (fd < 0 && errno == ELOOP)
		why = "is a symbolic link";
	else if ((fd < 0 && errno == ENXIO) || (fd >= 0 && !regular)) /* ENXIO: a FIFO */
		why = "is not a regular file";
	else if (fd < 0 || csm_real.fcntl(fd, F_SETFL, O_APPEND) < 0)
		why = strerror(errno);
	if (!why) {
		log_fd = shim_own_take(fd); /* ours: at a high number */
		return;
	}
	fprintf(stderr, "csumshim: %s: log: %s %s; refused\n", csm_cfg.path, csm_cfg.log_path, why);
	_exit(78);
}

void shim_state_init(void)
{
	shim_own_init();
	sysio_init();
	bool missing;
	char *path = csm_config_locate(&missing);
	if (!path || missing) {
		fprintf(stderr,
		        "csumshim: %s: no configuration: set CSUMSHIM_CONFIG or create "
		        "~/.config/csumshim/csumshim.conf or /etc/csumshim.conf\n",
		        path ? path : "(none)");
		_exit(78);
	}
	char err[512];
	if (csm_config_load(path, &csm_cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "csumshim: %s\n", err);
		_exit(78);
	}
	free(path);
	if (csm_cfg.log == CSM_LOG_FILE)
		open_log();
	else if (csm_cfg.log == CSM_LOG_SYSLOG)
		openlog("csumshim", LOG_PID, LOG_USER);
	csm_cfg_loaded = true;
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
	fork_mark_init();
	atexit(exit_sign_off);
	adopt_inherited();
}
