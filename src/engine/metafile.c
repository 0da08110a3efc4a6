/*
 * Opening a separate layout's metadata file without trusting its name.
 *
 * The name comes from a template beside the data file (FILE.csum), often in
 * a directory other users can write, and the opener is often root.  What
 * such a user could plant there is refused, never followed: a symbolic link
 * (to a root-only file it would overwrite, or dangling, to make root create
 * a file), a hard link, anything but a regular file, a file of another
 * owner (root's checksums would land in a file that user can read).  A new metadata file
 * gets the data file's owner, group and read/write bits: checksums of short
 * secrets give their content away.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csumshim/backend.h"
#include "errmsg.h"

/* Owners a metadata file may have: the data file's, root's, the caller's. */
static bool trusted_owner(uid_t meta, uid_t data)
{
	return meta == data || meta == 0 || meta == geteuid();
}

/* A file this call created: the data file's owner and group where the
 * caller may give them (root; a group it belongs to), then its mode. */
static int adopt_identity(int fd, const struct stat *data, char *err, size_t errlen)
{
	if (fchown(fd, geteuid() == 0 ? data->st_uid : (uid_t)-1, data->st_gid) < 0 &&
	    geteuid() == 0)
		return csm_errf(err, errlen, -errno, "cannot give the metadata file its owner: %m");
	if (fchmod(fd, data->st_mode & 0666) < 0)
		return csm_errf(err, errlen, -errno, "cannot set the metadata file's mode: %m");
	return 0;
}

int csm_meta_open(const char *path, int data_fd, int flags, bool *created, char *err, size_t errlen)
{
	struct stat data, st;
	*created = false;
	if (fstat(data_fd, &data) < 0)
		return csm_errf(err, errlen, -errno, "cannot stat the data file: %m");
	int acc = flags & O_ACCMODE, fd = -1, rc;
	if (flags & O_CREAT) {
		/* 0600 until the owner is right: never readable by others first. */
		fd = open(path, acc | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0) {
			*created = true;
			rc = adopt_identity(fd, &data, err, errlen);
			if (rc < 0) {
				close(fd);
				unlink(path);
				return rc;
			}
			return fd;
		}
		if (errno != EEXIST)
			return csm_errf(err, errlen, -errno, "cannot create the metadata file: %m");
	}
	/* No blocking on a planted FIFO; the flag is dropped once it is known
	 * to be a regular file. */
	fd = open(path, acc | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 && errno == ELOOP)
		return csm_errf(err, errlen, -EPERM, "metadata file is a symbolic link; refused");
	if (fd < 0)
		return csm_errf(err, errlen, -errno, "cannot open the metadata file: %m");
	if (fstat(fd, &st) < 0) {
		rc = csm_errf(err, errlen, -errno, "cannot stat the metadata file: %m");
	} else if (!S_ISREG(st.st_mode)) {
		rc = csm_errf(err, errlen, -EPERM, "metadata file is not a regular file; refused");
	} else if (st.st_nlink != 1) {
		/* A hard link to another file of a trusted owner. */
		rc = csm_errf(err, errlen, -EPERM, "metadata file has %lu names; refused",
		              (unsigned long)st.st_nlink);
	} else if (!trusted_owner(st.st_uid, data.st_uid)) {
		rc = csm_errf(err, errlen, -EPERM,
		              "metadata file belongs to uid %u, its data file to uid %u; refused",
		              (unsigned)st.st_uid, (unsigned)data.st_uid);
	} else if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
		rc = csm_errf(err, errlen, -errno, "cannot open the metadata file: %m");
	} else {
		return fd;
	}
	close(fd);
	return rc;
}
