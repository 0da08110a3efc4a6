/*
 * The lock bytes that keep shared mappings and writers of a protected file
 * apart, in this process and across processes; see maplock.h.
 */
#define _GNU_SOURCE
#include "maplock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "state_int.h"
#include "wrap.h"

/* The inode's lock descriptor: a read-only open of the same file, so that
 * a write-only program descriptor still gets shared locks. */
static int lock_fd(struct shim_inode *ino, int fd)
{
	if (ino->lockfd >= 0)
		return shim_own_fd(ino->lockfd);
	int l = -1;
	if (fd >= 0) {
		char p[64];
		snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
		l = csm_real.open(p, O_RDONLY | O_CLOEXEC);
	}
	if (l < 0)
		l = csm_real.open(ino->path, O_RDONLY | O_CLOEXEC);
	l = shim_own_take(l); /* ours: high, and not the program's to close */
	if (l >= 0)
		ino->lockfd = l;
	return l;
}

static int lock_byte(int l, uint64_t id, short type)
{
	struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = (off_t)id, .l_len = 1};
	return csm_real.fcntl(l, F_OFD_SETLK, &fl);
}

/* Is the byte held by another open file description (another process, or
 * this process's other descriptors — the shim keeps one per inode)? */
static bool held_elsewhere(int l, uint64_t id)
{
	struct flock fl = {
	        .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = (off_t)id, .l_len = 1};
	return csm_real.fcntl(l, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
}

/* Take `mine` shared (when the first of its kind here), then see whether
 * `theirs` is held: by this process (`local`) or another. */
static int enter(struct shim_inode *ino, int fd, unsigned *count, unsigned local, uint64_t mine,
                 uint64_t theirs)
{
	int l = lock_fd(ino, fd);
	if (l < 0)
		return -errno;
	if (local)
		return -EBUSY;
	if (!*count && lock_byte(l, mine, F_RDLCK) < 0)
		return -errno;
	if (held_elsewhere(l, theirs)) {
		if (!*count)
			lock_byte(l, mine, F_UNLCK);
		return -EBUSY;
	}
	++*count;
	return 0;
}

static void leave(struct shim_inode *ino, unsigned *count, uint64_t mine)
{
	if (*count && !--*count && ino->lockfd >= 0)
		lock_byte(shim_own_fd(ino->lockfd), mine, F_UNLCK);
}

int shim_writer_enter(struct shim_inode *ino, int fd)
{
	int rc = enter(ino, fd, &ino->writers, ino->maps, SHIM_LOCK_WRITER, SHIM_LOCK_MAPPED);
	if (rc == -EBUSY) {
		shim_log("%s: open for writing refused (ETXTBSY): the file is mapped shared by "
		         "this or another process",
		         ino->path);
		rc = -ETXTBSY;
	}
	return rc;
}

void shim_writer_leave(struct shim_inode *ino)
{
	leave(ino, &ino->writers, SHIM_LOCK_WRITER);
}

int shim_mapped_enter(struct shim_inode *ino)
{
	int rc = enter(ino, -1, &ino->maps, ino->writers, SHIM_LOCK_MAPPED, SHIM_LOCK_WRITER);
	if (rc == -EBUSY) {
		shim_log(
		        "%s: shared mmap refused (ENODEV): the file is open for writing in this or "
		        "another process, and the mapping would not see its writes",
		        ino->path);
		rc = -ENODEV;
	}
	return rc;
}

void shim_mapped_leave(struct shim_inode *ino)
{
	leave(ino, &ino->maps, SHIM_LOCK_MAPPED);
}

int shim_locks_copy(struct shim_inode *ino)
{
	if (ino->lockfd < 0 || (!ino->writers && !ino->maps))
		return -1;
	char p[64];
	snprintf(p, sizeof(p), "/proc/self/fd/%d", shim_own_fd(ino->lockfd));
	int l = csm_real.open(p, O_RDONLY | O_CLOEXEC);
	if (l < 0)
		l = csm_real.open(ino->path, O_RDONLY | O_CLOEXEC);
	l = shim_own_take(l);
	if (l < 0)
		return -1;
	if ((ino->writers && lock_byte(shim_own_fd(l), SHIM_LOCK_WRITER, F_RDLCK) < 0) ||
	    (ino->maps && lock_byte(shim_own_fd(l), SHIM_LOCK_MAPPED, F_RDLCK) < 0)) {
		shim_own_close(l);
		return -1;
	}
	return l;
}
