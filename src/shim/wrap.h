/*
 * The libc surface: one wrapper per name in calls.h, in files by subject
 * (open.c, descriptors.c, data.c, sizes.c, durability.c, copies.c,
 * mappings.c, paths.c, stdio.c).  A wrapper whose descriptor or path is
 * not under a configured glob calls the real function and nothing else;
 * otherwise it translates the call into verified engine I/O (state.h).
 * Paths that could bypass verification — copy_file_range, sendfile,
 * splice, reflink ioctls, mmap, stdio — are carried out through verified
 * reads and checksummed writes, or refused with a log line.
 *
 * What the wrapper files share: the export attribute, the real function
 * (resolved first if needed), the guard around the shim's own work, and
 * whether a descriptor or the process is ours to handle.
 */
#ifndef CSUMSHIM_WRAP_H
#define CSUMSHIM_WRAP_H

#include <string.h>

#include "real.h"
#include "state.h"

#define API __attribute__((visibility("default")))

/* The real function, resolving the table first if a wrapper runs before
 * the constructor (from another library's constructor, or from inside the
 * program's allocator starting up: nothing here may allocate). */
#define REAL(name) (csm_real.name ? csm_real.name : (csm_real_init(), csm_real.name))

/* A call that would bypass verification is carried out by the guard's
 * owner; everything below runs with the guard up. */
#define GUARDED(expr)                         \
	({                                    \
		csm_guard++;                  \
		__typeof__(expr) _r = (expr); \
		csm_guard--;                  \
		_r;                           \
	})

/* Our descriptor, unless the shim itself is the caller. */
static inline struct shim_file *ours(int fd)
{
	if (csm_guard)
		return NULL;
	shim_fork_check();
	return shim_fd(fd);
}

/* One of the shim's own descriptors (ownfds.c), which the program never
 * opened: EBADF to it, as for any number not open. */
static inline bool hidden_fd(int fd)
{
	return !csm_guard && shim_own_is(fd);
}

/* A path in /proc or /sys: never a csumshim file (their files are the
 * kernel's), so a wrapper can pass it through without loading the
 * configuration — which allocates, and allocators read such files while
 * they start. */
static inline bool kernel_fs_path(const char *p)
{
	return p && (!strncmp(p, "/proc/", 6) || !strncmp(p, "/sys/", 5));
}

static inline bool active(void)
{
	if (csm_guard)
		return false;
	shim_fork_check();
	csm_shim_init();
	return csm_cfg.nrules > 0;
}

/* Open through the shim if the path is configured (open.c): *handled is
 * false if not, and the caller does the real open itself. */
int open_at(int dirfd, const char *path, int flags, mode_t mode, bool *handled);

#endif
