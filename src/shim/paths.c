/*
 * Paths and names: unlink, unlinkat, remove and the rename calls, after
 * which a separate layout's metadata file follows its data file.
 */
#define _GNU_SOURCE
#include "wrap.h"

/* A separate-layout file's metadata file is removed and renamed with it:
 * left behind, it would be taken for the metadata of the next file created
 * under the name (SQLite deletes and recreates its journal every
 * transaction).  The data file goes first; a crash in between leaves a
 * stale metadata file, which an open creating the data file replaces. */
static char *unlink_meta(int dirfd, const char *path)
{
	if (!active())
		return NULL;
	csm_guard++;
	char *m = shim_unlink_meta(dirfd, path);
	csm_guard--;
	return m;
}

static int meta_follow(int rc, char *from, char *to, unsigned flags)
{
	csm_guard++;
	shim_meta_follow(rc, from, to, flags);
	csm_guard--;
	return rc;
}

API int unlink(const char *path)
{
	char *m = unlink_meta(AT_FDCWD, path);
	return meta_follow(REAL(unlink)(path), NULL, m, 0);
}

API int unlinkat(int dirfd, const char *path, int flags)
{
	char *m = (flags & AT_REMOVEDIR) ? NULL : unlink_meta(dirfd, path);
	return meta_follow(REAL(unlinkat)(dirfd, path, flags), NULL, m, 0);
}

API int remove(const char *path)
{
	char *m = unlink_meta(AT_FDCWD, path);
	return meta_follow(REAL(remove)(path), NULL, m, 0);
}

static int rename_at(int olddir, const char *oldpath, int newdir, const char *newpath,
                     unsigned flags)
{
	char *from = NULL, *to = NULL;
	if (active()) {
		csm_guard++;
		shim_rename_meta(olddir, oldpath, newdir, newpath, &from, &to);
		csm_guard--;
	}
	int rc = REAL(renameat2)(olddir, oldpath, newdir, newpath, flags);
	return meta_follow(rc, from, to, flags);
}

API int rename(const char *oldpath, const char *newpath)
{
	return rename_at(AT_FDCWD, oldpath, AT_FDCWD, newpath, 0);
}

API int renameat(int olddir, const char *oldpath, int newdir, const char *newpath)
{
	return rename_at(olddir, oldpath, newdir, newpath, 0);
}

API int renameat2(int olddir, const char *oldpath, int newdir, const char *newpath, unsigned flags)
{
	return rename_at(olddir, oldpath, newdir, newpath, flags);
}
