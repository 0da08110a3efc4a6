/*
 * Mappings of protected files.  Every mapping is an anonymous copy filled
 * with verified data (the kernel's page cache holds the stored bytes, not
 * the content):
 * - MAP_PRIVATE, read-only or writable: the copy is what POSIX promises (a
 *   private copy; later changes to the file may or may not show).
 * - MAP_SHARED read-only: a copy is honest only while nobody writes the
 *   file, so such a mapping is treated like a running executable
 *   (maplock.h): allowed while no process has the file open for writing,
 *   refused (ENODEV, logged) otherwise, and while it exists, opening the
 *   file for writing fails ETXTBSY in every process under the shim.
 *   mprotect cannot make it writable (EACCES, logged).  SQLite with
 *   mmap_size (its database is open for writing) falls back to read();
 *   LMDB fails at open, loudly; LevelDB's table files and git's packs,
 *   written before they are mapped, keep working.
 * - MAP_SHARED writable: refused (ENODEV, logged).
 * Each copy is recorded (range, file offset, protection, kind, inode) so
 * that munmap, mremap and MAP_FIXED over it keep the record right: the
 * inode's lock goes when its last shared mapping does, and mremap fills a
 * grown copy from the file.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "maplock.h"
#include "state_int.h"
#include "wrap.h"

struct mapping {
	uintptr_t start, end; /* page-aligned */
	uint64_t off;         /* file offset of start */
	int prot;
	bool shared;
	struct shim_inode *ino; /* held */
};

/* The records, under smu; `nmaps` read without it for the fast path of
 * munmap, which allocators call all the time. */
static struct mapping *maps;
static size_t cap;
static atomic_size_t nmaps;

static size_t page_round(size_t n)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	return (n + pg - 1) & ~(pg - 1);
}

static bool track(const struct mapping *m)
{
	size_t n = atomic_load(&nmaps);
	if (n == cap) {
		size_t c = cap ? cap * 2 : 16;
		struct mapping *nm = realloc(maps, c * sizeof(*nm));
		if (!nm)
			return false;
		maps = nm;
		cap = c;
	}
	maps[n] = *m;
	inode_hold(m->ino);
	atomic_store(&nmaps, n + 1);
	return true;
}

static void drop(size_t i)
{
	struct mapping m = maps[i];
	size_t n = atomic_load(&nmaps) - 1;
	maps[i] = maps[n];
	atomic_store(&nmaps, n);
	if (m.shared)
		shim_mapped_leave(m.ino);
	inode_release(m.ino);
}

/* [a, b) is no longer mapped as recorded (munmap, or a new mapping over
 * it).  smu held. */
static void untrack(uintptr_t a, uintptr_t b)
{
	for (size_t i = 0; i < atomic_load(&nmaps);) {
		struct mapping *m = &maps[i];
		if (b <= m->start || a >= m->end) {
			i++;
			continue;
		}
		if (a <= m->start && b >= m->end) {
			drop(i);
			continue;
		}
		if (a > m->start && b < m->end) { /* a hole in the middle: two records */
			struct mapping tail = *m;
			tail.off += b - m->start;
			tail.start = b;
			m->end = a;
			if (track(&tail) && tail.shared)
				tail.ino->maps++;
		} else if (a <= m->start) {
			m->off += b - m->start;
			m->start = b;
		} else {
			m->end = a;
		}
		i++;
	}
}

static struct mapping *find(uintptr_t a)
{
	for (size_t i = 0; i < atomic_load(&nmaps); i++)
		if (a >= maps[i].start && a < maps[i].end)
			return &maps[i];
	return NULL;
}

/* Fill [p, p+len) (writable) with the file's verified content from off. */
static int fill(struct shim_io *e, void *p, size_t len, uint64_t off)
{
	uint64_t size = io_size(e);
	if (off >= size)
		return 0;
	size_t n = size - off < len ? (size_t)(size - off) : len;
	/* A page fault has no short count: a short read (fault injection)
	 * is read on from where it stopped. */
	for (size_t done = 0; done < n;) {
		ssize_t r = io_pread(e, (char *)p + done, n - done, off + done);
		if (r <= 0) {
			errno = EIO;
			return -1;
		}
		done += (size_t)r;
	}
	return 0;
}

static void *map_verified(struct shim_file *f, void *addr, size_t len, int prot, int flags,
                          off_t off)
{
	int type = flags & MAP_TYPE;
	bool shared = type == MAP_SHARED || type == MAP_SHARED_VALIDATE;
	if (shared && (prot & PROT_WRITE)) {
		shim_log("%s: shared writable mmap refused (it would bypass checksums)",
		         f->ino->path);
		errno = ENODEV;
		return MAP_FAILED;
	}
	if (off < 0 || (atomic_load(&f->flags) & O_ACCMODE) == O_WRONLY) {
		errno = off < 0 ? EINVAL : EACCES;
		return MAP_FAILED;
	}
	struct shim_io *e = shim_engine(f);
	if (!e)
		return MAP_FAILED;
	if (shared) {
		pthread_mutex_lock(&smu);
		int rc = shim_mapped_enter(f->ino);
		pthread_mutex_unlock(&smu);
		if (rc < 0) {
			errno = -rc;
			return MAP_FAILED;
		}
	}
	int aflags = (flags & ~(MAP_TYPE | MAP_POPULATE)) | MAP_PRIVATE | MAP_ANONYMOUS;
	void *p = csm_real.mmap(addr, len, PROT_READ | PROT_WRITE, aflags, -1, 0);
	int err = errno;
	if (p != MAP_FAILED && (fill(e, p, len, (uint64_t)off) < 0 || mprotect(p, len, prot) < 0)) {
		err = errno;
		csm_real.munmap(p, len);
		p = MAP_FAILED;
	}
	pthread_mutex_lock(&smu);
	if (p != MAP_FAILED) {
		struct mapping m = {.start = (uintptr_t)p,
		                    .end = (uintptr_t)p + page_round(len),
		                    .off = (uint64_t)off,
		                    .prot = prot,
		                    .shared = shared,
		                    .ino = f->ino};
		if (flags & MAP_FIXED)
			untrack(m.start, m.end);
		if (!track(&m)) {
			csm_real.munmap(p, len);
			p = MAP_FAILED;
			err = ENOMEM;
		}
	}
	if (p == MAP_FAILED && shared)
		shim_mapped_leave(f->ino);
	pthread_mutex_unlock(&smu);
	errno = err;
	return p;
}

/* Any other mapping placed with MAP_FIXED replaces what was there. */
static void *map_other(void *p, void *addr, size_t len, int flags)
{
	if (p != MAP_FAILED && (flags & MAP_FIXED) && atomic_load(&nmaps)) {
		int err = errno;
		if (pthread_mutex_lock(&smu) != EDEADLK) { /* held here: the allocator's own */
			untrack((uintptr_t)addr, (uintptr_t)addr + page_round(len));
			pthread_mutex_unlock(&smu);
		}
		errno = err;
	}
	return p;
}

API void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	struct shim_file *f = (flags & MAP_ANONYMOUS) ? NULL : ours(fd);
	return f ? GUARDED(map_verified(f, addr, len, prot, flags, off))
	         : map_other(REAL(mmap)(addr, len, prot, flags, fd, off), addr, len, flags);
}

API void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
	struct shim_file *f = (flags & MAP_ANONYMOUS) ? NULL : ours(fd);
	return f ? GUARDED(map_verified(f, addr, len, prot, flags, (off_t)off))
	         : map_other(REAL(mmap64)(addr, len, prot, flags, fd, off), addr, len, flags);
}

API int munmap(void *addr, size_t len)
{
	int r = REAL(munmap)(addr, len);
	if (r == 0 && atomic_load(&nmaps)) {
		int err = errno;
		if (pthread_mutex_lock(&smu) != EDEADLK) { /* held here: the allocator's own */
			untrack((uintptr_t)addr, (uintptr_t)addr + page_round(len));
			pthread_mutex_unlock(&smu);
		}
		errno = err;
	}
	return r;
}

/* A recorded copy moved or resized: a grown part is filled from the file
 * (a real mapping would show the file there).  Only whole records can be
 * remapped; part of one is refused (ENOMEM, logged), and SQLite, for one,
 * maps anew. */
static void *remap(struct mapping *m, void *old, size_t oldlen, size_t newlen, int flags,
                   void *new_addr)
{
	/* MREMAP_DONTUNMAP would leave the old range mapped as empty
	 * anonymous memory: zeros where a file mapping shows the file.
	 * Refused as kernels before 5.13 refuse it for a file's mapping. */
	if (flags & MREMAP_DONTUNMAP) {
		errno = EINVAL;
		return MAP_FAILED;
	}
	if ((uintptr_t)old != m->start || page_round(oldlen) != m->end - m->start) {
		shim_log("%s: mremap of part of a mapping refused", m->ino->path);
		errno = ENOMEM;
		return MAP_FAILED;
	}
	/* an empty image another process has written since */
	struct shim_io *e = inode_refresh(m->ino) < 0 ? NULL : inode_engine(m->ino);
	if (!e)
		return MAP_FAILED;
	void *p = csm_real.mremap(old, oldlen, newlen, flags, new_addr);
	if (p == MAP_FAILED)
		return p;
	m->start = (uintptr_t)p;
	m->end = (uintptr_t)p + page_round(newlen);
	size_t had = page_round(oldlen);
	if (newlen > had) {
		void *tail = (char *)p + had;
		if (mprotect(tail, newlen - had, PROT_READ | PROT_WRITE) < 0 ||
		    fill(e, tail, newlen - had, m->off + had) < 0 ||
		    mprotect(tail, newlen - had, m->prot) < 0) {
			int err = errno;
			shim_log("%s: mremap: cannot fill the grown mapping: %s", m->ino->path,
			         strerror(err));
			csm_real.munmap(p, newlen);
			untrack(m->start, m->end);
			errno = err;
			return MAP_FAILED;
		}
	}
	return p;
}

API void *mremap(void *old, size_t oldlen, size_t newlen, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	void *new_addr = (flags & MREMAP_FIXED) ? va_arg(ap, void *) : NULL;
	va_end(ap);
	if (!atomic_load(&nmaps) || csm_guard)
		return REAL(mremap)(old, oldlen, newlen, flags, new_addr);
	if (pthread_mutex_lock(&smu) == EDEADLK) /* held here: the allocator's own */
		return REAL(mremap)(old, oldlen, newlen, flags, new_addr);
	struct mapping *m = find((uintptr_t)old);
	void *p;
	if (m) {
		csm_guard++;
		p = remap(m, old, oldlen, newlen, flags, new_addr);
		csm_guard--;
	} else {
		p = csm_real.mremap(old, oldlen, newlen, flags, new_addr);
		if (p != MAP_FAILED && (flags & MREMAP_FIXED))
			untrack((uintptr_t)p, (uintptr_t)p + page_round(newlen));
	}
	int err = errno;
	pthread_mutex_unlock(&smu);
	errno = err;
	return p;
}

/* A shared mapping made writable would take writes that never reach the
 * file: refused, as the kernel refuses it for a file opened read-only. */
API int mprotect(void *addr, size_t len, int prot)
{
	if ((prot & PROT_WRITE) && atomic_load(&nmaps) && !csm_guard &&
	    pthread_mutex_lock(&smu) != EDEADLK) { /* held here: the allocator's own */
		uintptr_t a = (uintptr_t)addr, b = a + len;
		const struct mapping *hit = NULL;
		for (size_t i = 0; i < atomic_load(&nmaps) && !hit; i++)
			if (maps[i].shared && a < maps[i].end && b > maps[i].start)
				hit = &maps[i];
		if (hit)
			shim_log("%s: mprotect(PROT_WRITE) of a shared mapping refused (its writes "
			         "would never reach the file)",
			         hit->ino->path);
		pthread_mutex_unlock(&smu);
		if (hit) {
			errno = EACCES;
			return -1;
		}
	}
	return REAL(mprotect)(addr, len, prot);
}

/* A copy is anonymous memory: MADV_DONTNEED (and its _LOCKED form) would
 * turn it into zeros, where a mapping of the file shows the file again
 * (a private one losing its changes).  On a copy, a shared one is left as
 * it is (it holds the file: writers are kept out) and a private one is
 * filled from the file anew; the rest of the range gets the real advice.
 * MADV_FREE and MADV_WIPEONFORK, which the kernel refuses on a file's
 * mapping (they would zero it too), are refused there (EINVAL). */
// NOLINTBEGIN(performance-no-int-to-ptr): addresses kept as integers to compare ranges
static int advise_copies(uintptr_t a, uintptr_t b, int advice)
{
	bool refill = advice == MADV_DONTNEED || advice == MADV_DONTNEED_LOCKED;
	uintptr_t at = a;
	while (at < b) {
		/* The first record at or after `at`. */
		const struct mapping *m = NULL;
		for (size_t i = 0; i < atomic_load(&nmaps); i++)
			if (maps[i].end > at && maps[i].start < b &&
			    (!m || maps[i].start < m->start))
				m = &maps[i];
		uintptr_t lo = m ? (m->start > at ? m->start : at) : b;
		if (lo > at && csm_real.madvise((void *)at, lo - at, advice) < 0)
			return -1;
		if (!m)
			break;
		if (!refill) {
			errno = EINVAL;
			return -1;
		}
		uintptr_t hi = m->end < b ? m->end : b;
		if (!m->shared) {
			struct shim_io *e = inode_refresh(m->ino) < 0 ? NULL : inode_engine(m->ino);
			uint64_t off = m->off + (lo - m->start);
			uint64_t size = e ? io_size(e) : 0;
			size_t n = off >= size            ? 0
			           : size - off < hi - lo ? (size_t)(size - off)
			                                  : hi - lo;
			if (!e || mprotect((void *)lo, hi - lo, PROT_READ | PROT_WRITE) < 0)
				return -1;
			int rc = fill(e, (void *)lo, hi - lo, off);
			memset((char *)lo + n, 0, hi - lo - n);
			if (mprotect((void *)lo, hi - lo, m->prot) < 0 || rc < 0)
				return -1;
		}
		at = hi;
	}
	return 0;
}
// NOLINTEND(performance-no-int-to-ptr)

API int madvise(void *addr, size_t len, int advice)
{
	bool zeroes = advice == MADV_DONTNEED || advice == MADV_DONTNEED_LOCKED ||
	              advice == MADV_FREE || advice == MADV_WIPEONFORK;
	if (!zeroes || !atomic_load(&nmaps) || csm_guard || len == 0)
		return REAL(madvise)(addr, len, advice);
	/* This thread holds smu already: the program's allocator, called
	 * from inside the shim, on its own memory (smu is error-checking);
	 * munmap, mremap and mprotect do the same. */
	if (pthread_mutex_lock(&smu) == EDEADLK)
		return REAL(madvise)(addr, len, advice);
	csm_guard++;
	uintptr_t a = (uintptr_t)addr;
	int rc = advise_copies(a, a + page_round(len), advice);
	int err = errno;
	csm_guard--;
	pthread_mutex_unlock(&smu);
	errno = err;
	return rc;
}
