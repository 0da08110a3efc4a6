/*
 * Mappings: mmap of a protected file gives a private anonymous copy
 * filled with verified data; a shared writable mapping is refused.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/mman.h>

#include "wrap.h"

/* A mapping of a configured file is a private anonymous copy filled with
 * verified data; a shared writable mapping cannot be verified and is
 * refused. */
static void *map_verified(struct shim_file *f, void *addr, size_t len, int prot, int flags,
                          off_t off)
{
	if ((flags & (MAP_SHARED | MAP_SHARED_VALIDATE)) && (prot & PROT_WRITE)) {
		shim_log("%s: shared writable mmap refused (it would bypass checksums)",
		         f->ino->path);
		errno = ENODEV;
		return MAP_FAILED;
	}
	if (off < 0 || (atomic_load(&f->flags) & O_ACCMODE) == O_WRONLY) {
		errno = off < 0 ? EINVAL : EACCES;
		return MAP_FAILED;
	}
	int aflags = (flags & ~(MAP_SHARED | MAP_SHARED_VALIDATE | MAP_POPULATE)) | MAP_PRIVATE |
	             MAP_ANONYMOUS;
	void *p = csm_real.mmap(addr, len, PROT_READ | PROT_WRITE, aflags, -1, 0);
	if (p == MAP_FAILED)
		return p;
	struct csm_engine *e = shim_engine(f);
	if (!e) {
		munmap(p, len);
		return MAP_FAILED;
	}
	uint64_t size = csm_size(e);
	if ((uint64_t)off < size) {
		size_t n = size - (uint64_t)off < len ? (size_t)(size - (uint64_t)off) : len;
		ssize_t r = csm_pread(e, p, n, (uint64_t)off);
		if (r != (ssize_t)n) {
			munmap(p, len);
			errno = EIO;
			return MAP_FAILED;
		}
	}
	if (mprotect(p, len, prot) < 0) {
		int err = errno;
		munmap(p, len);
		errno = err;
		return MAP_FAILED;
	}
	return p;
}

API void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	struct shim_file *f = (flags & MAP_ANONYMOUS) ? NULL : ours(fd);
	return f ? GUARDED(map_verified(f, addr, len, prot, flags, off))
	         : REAL(mmap)(addr, len, prot, flags, fd, off);
}

API void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
	struct shim_file *f = (flags & MAP_ANONYMOUS) ? NULL : ours(fd);
	return f ? GUARDED(map_verified(f, addr, len, prot, flags, (off_t)off))
	         : REAL(mmap64)(addr, len, prot, flags, fd, off);
}
