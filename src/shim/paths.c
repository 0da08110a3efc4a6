/*
 * Paths and names: resolving a path the program gave to the absolute one
 * the config's globs match; a path's logical size for the stat calls; and
 * unlink, unlinkat, remove and the rename calls, after which a separate
 * layout's metadata file follows its data file.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state_int.h"
#include "wrap.h"

/* ---- paths ------------------------------------------------------------ */

/* The name of directory `st` in its parent `up`, by device and inode.
 * 0, or -1 if it is not there or `up` cannot be read. */
static int name_in(int up, const struct stat *st, char name[NAME_MAX + 1])
{
	int fd = csm_real.openat(up, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			csm_real.close(fd);
		return -1;
	}
	int rc = -1;
	const struct dirent *de;
	while (rc < 0 && (de = readdir(d))) {
		struct stat s;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN))
			continue;
		/* A mount point's d_ino is the covered directory's: stat it. */
		if (csm_real.fstatat(up, de->d_name, &s, AT_SYMLINK_NOFOLLOW) == 0 &&
		    s.st_dev == st->st_dev && s.st_ino == st->st_ino) {
			snprintf(name, NAME_MAX + 1, "%s", de->d_name);
			rc = 0;
		}
	}
	closedir(d);
	return rc;
}

/* The absolute path of directory dirfd without /proc: up through "..",
 * naming each directory in its parent, as getcwd does (in a chroot, the
 * path inside it).  0; -1 if dirfd is not an open directory; -2 if a
 * directory on the way up cannot be read. */
static int dir_path(int dirfd, char out[PATH_MAX])
{
	char buf[PATH_MAX];
	size_t pos = sizeof(buf) - 1;
	buf[pos] = 0;
	struct stat cur;
	int fd = csm_real.openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || csm_real.fstat(fd, &cur) < 0) {
		if (fd >= 0)
			csm_real.close(fd);
		return -1;
	}
	for (;;) {
		struct stat up_st;
		char name[NAME_MAX + 1];
		int up = csm_real.openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		csm_real.close(fd);
		fd = up;
		if (up < 0 || csm_real.fstat(up, &up_st) < 0)
			break;
		if (up_st.st_dev == cur.st_dev && up_st.st_ino == cur.st_ino) {
			csm_real.close(up); /* the root: its ".." is itself */
			snprintf(out, PATH_MAX, "%s", pos == sizeof(buf) - 1 ? "/" : buf + pos);
			return 0;
		}
		size_t len;
		if (name_in(up, &cur, name) < 0 || (len = strlen(name)) + 1 > pos)
			break;
		pos -= len;
		memcpy(buf + pos, name, len);
		buf[--pos] = '/';
		cur = up_st;
	}
	if (fd >= 0)
		csm_real.close(fd);
	return -2;
}

/* Absolute, normalised, symlinks resolved (the last component only if it
 * exists and !nofollow).  -1 if it cannot be; RESOLVE_UNNAMED if dirfd's
 * directory cannot be named (no /proc, and a directory above it cannot be
 * read): whether the path is protected is then unknown. */
int resolve(int dirfd, const char *path, bool nofollow, char out[PATH_MAX])
{
	char full[PATH_MAX * 2];
	if (path[0] == '/') {
		snprintf(full, sizeof(full), "%s", path);
	} else {
		char base[PATH_MAX];
		if (dirfd == AT_FDCWD) {
			if (!getcwd(base, sizeof(base)))
				return -1;
		} else {
			char link[64];
			snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
			ssize_t n = readlink(link, base, sizeof(base) - 1);
			if (n >= 0)
				base[n] = 0;
			else if ((n = dir_path(dirfd, base)) < 0) /* no /proc */
				return n == -2 ? RESOLVE_UNNAMED : -1;
		}
		snprintf(full, sizeof(full), "%s/%s", base, path);
	}
	if (!nofollow && realpath(full, out))
		return 0;
	/* A new file (or O_NOFOLLOW): resolve the directory, keep the name. */
	char *slash = strrchr(full, '/');
	const char *name = slash + 1;
	if (!*name || !strcmp(name, ".") || !strcmp(name, ".."))
		return -1;
	char dir[PATH_MAX];
	if (slash == full) {
		strcpy(dir, "/");
	} else {
		*slash = 0;
		if (!realpath(full, dir))
			return -1;
	}
	if (snprintf(out, PATH_MAX, "%s/%s", strcmp(dir, "/") ? dir : "", name) >= PATH_MAX)
		return -1;
	return 0;
}

/* ---- names: a separate layout's metadata file follows its data file ---- */

/* Whether the absolute path names a regular file (not through a symlink). */
static bool regular(const char *abs)
{
	struct stat st;
	return csm_real.fstatat(AT_FDCWD, abs, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISREG(st.st_mode);
}

/* The rule of `path` (its last symlink not followed) if that is a regular
 * file under a separate-layout glob; abs gets its absolute path. */
static const struct csm_rule *sep_rule(int dirfd, const char *path, char abs[PATH_MAX])
{
	if (!csm_cfg.nrules || !path || resolve(dirfd, path, true, abs) < 0)
		return NULL;
	const struct csm_rule *r = csm_config_match(&csm_cfg, abs);
	return r && r->layout == CSM_LAYOUT_SEPARATE && regular(abs) ? r : NULL;
}

char *shim_unlink_meta(int dirfd, const char *path)
{
	char abs[PATH_MAX];
	const struct csm_rule *r = sep_rule(dirfd, path, abs);
	return r ? csm_config_meta_path(r, abs) : NULL;
}

void shim_rename_meta(int olddir, const char *oldpath, int newdir, const char *newpath, char **from,
                      char **to)
{
	char oabs[PATH_MAX], nabs[PATH_MAX];
	*from = *to = NULL;
	const struct csm_rule *ro = sep_rule(olddir, oldpath, oabs);
	if (!csm_cfg.nrules || !newpath || resolve(newdir, newpath, true, nabs) < 0)
		return;
	const struct csm_rule *rn = csm_config_match(&csm_cfg, nabs);
	bool new_sep = rn && rn->layout == CSM_LAYOUT_SEPARATE;
	if (ro) {
		/* Under the new name's rule if it has one; else the pair stays
		 * together by the old rule's template. */
		*from = csm_config_meta_path(ro, oabs);
		*to = csm_config_meta_path(new_sep ? rn : ro, nabs);
	} else if (new_sep) {
		/* Coming back in: the metadata file that left with it (under
		 * the template, beside it) comes too.  Otherwise, if this
		 * replaces a separate-layout file, that file's metadata goes:
		 * it would be taken for the newcomer's. */
		char *m = csm_config_meta_path(rn, oabs);
		if (m && regular(oabs) && regular(m)) {
			*from = m;
			*to = csm_config_meta_path(rn, nabs);
			return;
		}
		free(m);
		if (regular(nabs))
			*to = csm_config_meta_path(rn, nabs);
	}
}

void shim_meta_follow(int rc, char *from, char *to, unsigned flags)
{
	int saved = errno;
	if (rc == 0 && to) {
		int r;
		if (from && (flags & RENAME_EXCHANGE)) {
			/* Swap them; if only one exists, it moves to the other name. */
			r = csm_real.renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_EXCHANGE);
			if (r < 0 && errno == ENOENT)
				r = csm_real.renameat2(AT_FDCWD, from, AT_FDCWD, to, 0);
			if (r < 0 && errno == ENOENT)
				r = csm_real.renameat2(AT_FDCWD, to, AT_FDCWD, from, 0);
		} else if (from) {
			r = csm_real.renameat2(AT_FDCWD, from, AT_FDCWD, to, 0);
		} else {
			r = csm_real.unlink(to);
		}
		if (r < 0 && errno != ENOENT)
			shim_log("%s: metadata file not %s along with its data file: %s",
			         from ? from : to, from ? "renamed" : "removed", strerror(errno));
	}
	free(from);
	free(to);
	errno = saved;
}

int shim_path_size(int dirfd, const char *path, bool nofollow, uint64_t *size)
{
	if (!csm_cfg.nrules || !path)
		return 0;
	char abs[PATH_MAX];
	if (resolve(dirfd, path, nofollow, abs) < 0)
		return 0;
	struct stat st = {0};
	if (kernel_fs_path(abs)) {
		/* Through a /proc magic link that names no file (a deleted
		 * one, /proc/self/fd/N): a file this process has open, by its
		 * device and inode. */
		if (csm_real.fstatat(dirfd, path, &st, nofollow ? AT_SYMLINK_NOFOLLOW : 0) < 0 ||
		    !S_ISREG(st.st_mode))
			return 0;
		pthread_mutex_lock(&smu);
		struct shim_inode *ino = inode_find(&st);
		if (ino)
			inode_refresh(ino);
		bool known = ino && ino->e;
		if (known)
			*size = io_size(ino->e);
		pthread_mutex_unlock(&smu);
		return known ? 1 : 0;
	}
	const struct csm_rule *r = csm_config_match(&csm_cfg, abs);
	if (!r)
		return 0;
	if (csm_real.stat(abs, &st) < 0 || (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)))
		return 0;
	pthread_mutex_lock(&smu);
	struct shim_inode *ino = inode_find(&st);
	if (ino)
		inode_refresh(ino);
	if (ino && ino->e) {
		*size = io_size(ino->e);
		pthread_mutex_unlock(&smu);
		return 1;
	}
	pthread_mutex_unlock(&smu);
	if (r->format == CSM_RULE_DMCSUM)
		return dmcsum_path_size(r, abs, size);
	char *meta = r->layout == CSM_LAYOUT_SEPARATE ? csm_config_meta_path(r, abs) : NULL;
	/* Only a look at the superblock: never through a link, never blocking
	 * on a FIFO planted under the metadata file's name. */
	int fd = csm_real.open(meta ? meta : abs, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	free(meta);
	if (fd < 0)
		return 0;
	uint8_t head[CSM_SB_SIZE];
	struct csm_super sb;
	enum csm_sb_err se = shim_peek_super(csm_real.pread, fd, head, &sb);
	csm_real.close(fd);
	if (se != CSM_SB_OK)
		return 0;
	*size = sb.logical_size;
	return 1;
}

/* ---- the calls: unlink, remove, rename -------------------------------- */

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
