/*
 * One small case per intercepted name, run with libcsumshim.so preloaded
 * and a config protecting DIR/p/ and, in the separate layout, DIR/s/*.dat
 * (see tests/CMakeLists.txt).  Each case checks the logical view (sizes,
 * contents, positions) of a configured file; raw syscalls check that the
 * stored file really is different, so a case cannot pass by the shim not
 * being there (made with the instruction itself: the shim serves
 * syscall()).  Usage: test_calls DIR
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "rawsys.h"
#include "shimcase.h"

/* Fortified and compat names are not declared without _FORTIFY_SOURCE. */
int __open_2(const char *, int);
int __open64_2(const char *, int);
int __openat_2(int, const char *, int);
int __openat64_2(int, const char *, int);
ssize_t __read_chk(int, void *, size_t, size_t);
ssize_t __pread_chk(int, void *, size_t, off_t, size_t);
ssize_t __pread64_chk(int, void *, size_t, off64_t, size_t);

static char dir[512], path[600], plain[600];

static const char TEXT[] = "hello world"; /* 11 bytes */

/* The stored file's size, asked of the kernel directly. */
static long long raw_size(const char *p)
{
	struct stat st;
	return raw_syscall(SYS_newfstatat, AT_FDCWD, p, &st, 0) == 0 ? (long long)st.st_size : -1;
}

static void reset(void)
{
	int fd = creat(path, 0644); /* O_TRUNC: logical size 0 */
	if (fd < 0 || write(fd, TEXT, 11) != 11 || close(fd) != 0) {
		printf("cannot prepare %s: %s\n", path, strerror(errno));
		exit(2);
	}
}

static bool reads_text(int fd)
{
	char b[32] = {0};
	return fd >= 0 && pread(fd, b, sizeof(b), 0) == 11 && memcmp(b, TEXT, 11) == 0;
}

static off_t fsize(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 ? st.st_size : -1;
}

/* Is the stored file's page at raw offset `off` in the page cache?  Asked
 * behind the shim's back, on a raw descriptor, with cachestat(2) (Linux
 * 6.5) where the kernel has it, else with mincore(2) on a mapping of that
 * page made and dropped at once (never touched, so it neither faults the
 * page in nor keeps it from being dropped).  Debian 12's own kernel (6.1)
 * has no cachestat: the advice cases run there too, through mincore.
 * -1 if neither can tell. */
struct csm_cachestat_range {
	unsigned long long off, len;
};
struct csm_cachestat {
	unsigned long long nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};
#define CSM_NR_CACHESTAT 451 /* x86-64, arm64 */

enum probe { PROBE_CACHESTAT, PROBE_MINCORE };
static enum probe probe = PROBE_CACHESTAT;

static int resident_cachestat(int rfd, long long off)
{
	struct csm_cachestat_range r = {(unsigned long long)off, 4096};
	struct csm_cachestat cs = {0};
	long rc = raw_syscall(CSM_NR_CACHESTAT, rfd, &r, &cs, 0);
	return rc == 0 ? (cs.nr_cache > 0) : -1;
}

static int resident_mincore(int rfd, long long off)
{
	/* The raw mmap system call: the shim's mmap would hand out a copy. */
	void *m = (void *)raw_syscall(SYS_mmap, NULL, 4096, PROT_READ, MAP_SHARED, rfd, (off_t)off);
	if (m == MAP_FAILED)
		return -1;
	unsigned char v = 0;
	int rc = mincore(m, 4096, &v) == 0 ? (v & 1) : -1;
	raw_syscall(SYS_munmap, m, 4096);
	return rc;
}

static int resident(const char *p, long long off)
{
	int rfd = (int)raw_syscall(SYS_openat, AT_FDCWD, p, O_RDONLY | O_CLOEXEC);
	if (rfd < 0)
		return -1;
	int rc = probe == PROBE_CACHESTAT ? resident_cachestat(rfd, off)
	                                  : resident_mincore(rfd, off);
	raw_syscall(SYS_close, rfd);
	return rc;
}

static bool becomes_resident(const char *p, long long off)
{
	for (int i = 0; i < 200; i++) {
		if (resident(p, off) == 1)
			return true;
		usleep(10000);
	}
	return false;
}

/* DONTNEED on the whole file through the shim until the page at `off` has
 * left the cache (pages still being read in are skipped by the kernel). */
static bool dropped(int fd, const char *p, long long off)
{
	for (int i = 0; i < 200; i++) {
		if (posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) != 0)
			return false;
		if (resident(p, off) == 0)
			return true;
		usleep(10000);
	}
	return false;
}

/* Page-cache advice reaches the physical page holding the logical range:
 * the last logical block of a 3 MiB file is the stored file's last page,
 * while its logical offset names an earlier page of the stored file that
 * holds data (the aligned layout's data start at 2 MiB, after a zone that
 * is mostly hole).  DONTNEED names the last logical MiB, the stored file's
 * last MiB: the kernel drops only whole folios, and those of a file
 * written in large aligned runs are large.  Run once per way of asking
 * the kernel (cachestat where it exists, mincore always). */
static void test_advice(const char *how)
{
	static char mb[3 << 20];
	memset(mb, 'a', sizeof(mb));
	int fd = open(path, O_RDWR | O_TRUNC);
	bool ok = fd >= 0 && write(fd, mb, sizeof(mb)) == (ssize_t)sizeof(mb) && fsync(fd) == 0;
	long long last = raw_size(path) - 4096;
	off_t lo = (off_t)sizeof(mb) - 4096;
#define ADVICE_CASE(what, cond)                                                            \
	do {                                                                               \
		cases++;                                                                   \
		if (!(cond)) {                                                             \
			failures++;                                                        \
			printf("FAIL %s (%s) %s (errno %d %s)\n", what, how, #cond, errno, \
			       strerror(errno));                                           \
		}                                                                          \
	} while (0)
	ADVICE_CASE("page residency", resident(path, last) >= 0);
	ADVICE_CASE("posix_fadvise DONTNEED",
	            ok && resident(path, last) == 1 && resident(path, lo) == 1 &&
	                    posix_fadvise(fd, 2 << 20, 1 << 20, POSIX_FADV_DONTNEED) == 0 &&
	                    resident(path, last) == 0 && resident(path, lo) == 1);
	ADVICE_CASE("posix_fadvise64 WILLNEED",
	            dropped(fd, path, last) &&
	                    posix_fadvise64(fd, lo, 4096, POSIX_FADV_WILLNEED) == 0 &&
	                    becomes_resident(path, last));
	ADVICE_CASE("readahead", dropped(fd, path, last) && readahead(fd, lo, 4096) == 0 &&
	                                 becomes_resident(path, last));
	ADVICE_CASE("posix_fadvise RANDOM",
	            posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM) == 0 &&
	                    posix_fadvise(fd, 0, 0, POSIX_FADV_NORMAL) == 0);
	ADVICE_CASE("posix_fadvise bad",
	            posix_fadvise(fd, 0, 0, 99) == EINVAL &&
	                    posix_fadvise(fd, -1, 0, POSIX_FADV_NORMAL) == EINVAL);
	ADVICE_CASE("posix_fadvise read", pread(fd, mb, 4096, lo) == 4096 && mb[0] == 'a');
#undef ADVICE_CASE
	close(fd);
}

/* The advice cases with cachestat(2) where this kernel has it, and with
 * mincore(2) in any case: the second is what a kernel before 6.5 gives. */
static void test_advice_all(void)
{
	int rfd = (int)raw_syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
	bool have_cachestat = rfd >= 0 && resident_cachestat(rfd, 0) >= 0;
	if (rfd >= 0)
		raw_syscall(SYS_close, rfd);
	if (have_cachestat) {
		probe = PROBE_CACHESTAT;
		test_advice("cachestat");
	} else {
		printf("note: no cachestat(2) on this kernel; page residency through mincore(2) "
		       "only\n");
	}
	probe = PROBE_MINCORE;
	test_advice("mincore");
}

/* A file of the separate layout under DIR/s/: its content is TEXT. */
static bool make_sep(const char *p)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	return fd >= 0 && write(fd, TEXT, 11) == 11 && close(fd) == 0;
}

static bool exists(const char *p)
{
	struct stat st;
	return raw_syscall(SYS_newfstatat, AT_FDCWD, p, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Whether p reads as TEXT through the shim (its metadata file came along)
 * and its metadata file p.csum exists. */
static bool pair_ok(const char *p)
{
	char m[700];
	snprintf(m, sizeof(m), "%s.csum", p);
	int fd = open(p, O_RDONLY);
	bool ok = reads_text(fd) && exists(m);
	if (fd >= 0)
		close(fd);
	return ok;
}

/* unlink, unlinkat, remove, rename, renameat, renameat2: the separate
 * layout's metadata file (DIR/s/NAME.csum) follows its data file. */
static void test_names(void)
{
	char a[640], b[640], am[700], bm[700];
	snprintf(a, sizeof(a), "%s/s/a.dat", dir);
	snprintf(b, sizeof(b), "%s/s/b.dat", dir);
	snprintf(am, sizeof(am), "%s.csum", a);
	snprintf(bm, sizeof(bm), "%s.csum", b);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);

	CASE("unlink", make_sep(a) && exists(am) && unlink(a) == 0 && !exists(am));
	CASE("unlinkat", make_sep(a) && unlinkat(dfd, "s/a.dat", 0) == 0 && !exists(am));
	CASE("remove", make_sep(a) && remove(a) == 0 && !exists(am));
	CASE("rename", make_sep(a) && rename(a, b) == 0 && !exists(am) && pair_ok(b));
	CASE("renameat",
	     renameat(dfd, "s/b.dat", dfd, "s/a.dat") == 0 && !exists(bm) && pair_ok(a));
	CASE("renameat2", renameat2(dfd, "s/a.dat", dfd, "s/b.dat", RENAME_NOREPLACE) == 0 &&
	                          !exists(am) && pair_ok(b));
	/* A failed call moves nothing. */
	CASE("renameat2 fails",
	     make_sep(a) && renameat2(dfd, "s/a.dat", dfd, "s/b.dat", RENAME_NOREPLACE) < 0 &&
	             errno == EEXIST && pair_ok(a) && pair_ok(b));
	CASE("unlink fails", unlink(dir) < 0 && pair_ok(a));
	unlink(a);
	unlink(b);
	close(dfd);
}

/* Paths through /proc reach a file by the kernel's magic links:
 * /proc/self/fd/N (and /dev/fd/N, which leads there), of a file still
 * named or deleted, and /proc/self/cwd/...: the logical file, never the
 * stored bytes, and writes go through the checksums. */
static void test_proc_paths(void)
{
	char l[64], b[64], rel[700], cwd[600];
	reset();
	int op = open(path, O_PATH);
	snprintf(l, sizeof(l), "/proc/self/fd/%d", op);
	int fd = open(l, O_RDWR);
	CASE("proc fd: reads logical", reads_text(fd));
	CASE("proc fd: write", pwrite(fd, "J", 1, 0) == 1);
	struct stat ps;
	CASE("proc fd: stat", stat(l, &ps) == 0 && ps.st_size == 11);
	close(fd);
	FILE *fp = fopen(l, "r");
	CASE("proc fd: fopen", fp && fread(b, 1, sizeof(b), fp) == 11 && !memcmp(b, "Jello", 5));
	if (fp)
		fclose(fp);
	fd = open(l, O_WRONLY | O_TRUNC);
	CASE("proc fd: O_TRUNC logical", fd >= 0 && fsize(fd) == 0 && raw_size(path) > 0);
	close(fd);
	close(op);

	/* Deleted: only the descriptor reaches it. */
	reset();
	op = open(path, O_PATH);
	unlink(path);
	snprintf(l, sizeof(l), "/dev/fd/%d", op);
	fd = open(l, O_RDWR);
	CASE("dev fd deleted: reads logical", reads_text(fd));
	struct stat st;
	CASE("dev fd deleted: stat", stat(l, &st) == 0 && st.st_size == 11);
	CASE("dev fd deleted: write verified",
	     pwrite(fd, "Y", 1, 0) == 1 && pread(fd, b, 11, 0) == 11 && !memcmp(b, "Yello", 5));
	close(fd);
	close(op);

	/* A new file created through /proc/self/cwd is formatted. */
	CASE("proc cwd: getcwd", getcwd(cwd, sizeof(cwd)) != NULL && chdir(dir) == 0);
	snprintf(rel, sizeof(rel), "/proc/self/cwd/p/proc_new.img");
	fd = open(rel, O_RDWR | O_CREAT | O_EXCL, 0644);
	CASE("proc cwd: create", fd >= 0 && write(fd, TEXT, 11) == 11 && reads_text(fd));
	close(fd);
	snprintf(rel, sizeof(rel), "%s/p/proc_new.img", dir);
	CASE("proc cwd: formatted", raw_size(rel) > 11 && raw_size(rel) % 4096 == 0);
	CASE("proc cwd: back", chdir(cwd) == 0);
	reset();

	/* freopen(NULL) would reopen the stream raw through /proc/self/fd
	 * (glibc crashed on the shim's stream): refused, stream kept. */
	fp = fopen(path, "r");
	errno = 0;
	FILE *again = fp ? freopen(NULL, "rb", fp) : NULL;
	CASE("freopen NULL refused", fp && !again && errno == EOPNOTSUPP);
	memset(b, 0, sizeof(b));
	CASE("freopen NULL stream kept",
	     fp && fread(b, 1, sizeof(b), fp) == 11 && !memcmp(b, TEXT, 11) && fclose(fp) == 0);
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	snprintf(dir, sizeof(dir), "%s", argv[1]);
	snprintf(path, sizeof(path), "%s/p/f.img", dir);
	snprintf(plain, sizeof(plain), "%s/plain.bin", dir);
	char b[256];
	int fd, fd2;

	/* creat / creat64 format the file; the stored file is larger. */
	unlink(path);
	fd = creat64(path, 0644);
	CASE("creat64", fd >= 0 && write(fd, TEXT, 11) == 11 && close(fd) == 0);
	reset();
	CASE("creat", raw_size(path) > 11 && raw_size(path) % 4096 == 0);

	/* Every open name sees the logical file. */
	CASE("open", reads_text(fd = open(path, O_RDONLY)) && fsize(fd) == 11);
	close(fd);
	CASE("open64", reads_text(fd = open64(path, O_RDONLY)) && fsize(fd) == 11);
	close(fd);
	CASE("__open_2", reads_text(fd = __open_2(path, O_RDONLY)));
	close(fd);
	CASE("__open64_2", reads_text(fd = __open64_2(path, O_RDONLY)));
	close(fd);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	CASE("openat", reads_text(fd = openat(dfd, "p/f.img", O_RDONLY)));
	close(fd);
	CASE("openat64", reads_text(fd = openat64(dfd, "p/../p/f.img", O_RDONLY)));
	close(fd);
	CASE("__openat_2", reads_text(fd = __openat_2(dfd, "p/f.img", O_RDONLY)));
	close(fd);
	CASE("__openat64_2", reads_text(fd = __openat64_2(AT_FDCWD, path, O_RDONLY)));
	close(fd);

	/* A symlink from outside the glob to a configured file is resolved. */
	char link[700];
	snprintf(link, sizeof(link), "%s/link-to-f", dir);
	unlink(link);
	CASE("symlink",
	     symlink(path, link) == 0 && reads_text(fd = open(link, O_RDONLY)) && fsize(fd) == 11);
	close(fd);
	/* Access modes are honoured. */
	fd = open(path, O_RDONLY);
	CASE("O_RDONLY", write(fd, "x", 1) == -1 && errno == EBADF && pwrite(fd, "x", 1, 0) == -1);
	close(fd);
	fd = open(path, O_WRONLY);
	CASE("O_WRONLY", read(fd, b, 1) == -1 && errno == EBADF);
	close(fd);

	/* Positions: read, __read_chk, write, lseek, lseek64; O_APPEND. */
	fd = open(path, O_RDWR);
	CASE("read", read(fd, b, 5) == 5 && !memcmp(b, "hello", 5));
	CASE("__read_chk", __read_chk(fd, b, 3, sizeof(b)) == 3 && !memcmp(b, " wo", 3));
	CASE("lseek", lseek(fd, 0, SEEK_CUR) == 8 && lseek(fd, 0, SEEK_END) == 11);
	CASE("write", write(fd, "!", 1) == 1 && fsize(fd) == 12);
	CASE("lseek64", lseek64(fd, -12, SEEK_END) == 0 && lseek64(fd, 3, SEEK_DATA) == 3 &&
	                        lseek64(fd, 3, SEEK_HOLE) == 12);
	close(fd);
	fd = open(path, O_WRONLY | O_APPEND);
	CASE("O_APPEND", write(fd, "?", 1) == 1 && fsize(fd) == 13);
	close(fd);

	/* Positioned and vectored I/O, each name round trip at odd offsets. */
	reset();
	fd = open(path, O_RDWR);
	CASE("pwrite", pwrite(fd, "AB", 2, 5000) == 2 && fsize(fd) == 5002);
	CASE("pwrite64", pwrite64(fd, "CD", 2, 9000) == 2);
	CASE("pread", pread(fd, b, 2, 5000) == 2 && !memcmp(b, "AB", 2));
	CASE("pread64", pread64(fd, b, 4, 8999) == 3 && !memcmp(b, "\0CD", 3));
	CASE("__pread_chk", __pread_chk(fd, b, 5, 0, sizeof(b)) == 5 && !memcmp(b, "hello", 5));
	CASE("__pread64_chk", __pread64_chk(fd, b, 2, 5000, sizeof(b)) == 2 && !memcmp(b, "AB", 2));
	char v1[3] = "xyz", v2[4] = "1234", r1[3], r2[4];
	struct iovec wv[2] = {{v1, 3}, {v2, 4}}, rv[2] = {{r1, 3}, {r2, 4}};
	CASE("pwritev", pwritev(fd, wv, 2, 100) == 7);
	CASE("preadv",
	     preadv(fd, rv, 2, 100) == 7 && !memcmp(r1, "xyz", 3) && !memcmp(r2, "1234", 4));
	CASE("pwritev64", pwritev64(fd, wv, 2, 200) == 7);
	CASE("preadv64",
	     preadv64(fd, rv, 2, 203) == 7 && !memcmp(r1, "123", 3) && !memcmp(r2, "4\0\0\0", 4));
	CASE("pwritev2", pwritev2(fd, wv, 2, 300, 0) == 7);
	CASE("preadv2", preadv2(fd, rv, 2, 300, 0) == 7 && !memcmp(r1, "xyz", 3));
	CASE("pwritev64v2", pwritev64v2(fd, wv, 2, 400, 0) == 7);
	CASE("preadv64v2", preadv64v2(fd, rv, 2, 401, 0) == 7 && !memcmp(r1, "yz1", 3) &&
	                           !memcmp(r2, "234\0", 4));
	lseek(fd, 50, SEEK_SET);
	CASE("writev", writev(fd, wv, 2) == 7 && lseek(fd, 0, SEEK_CUR) == 57);
	lseek(fd, 50, SEEK_SET);
	memset(r1, 0, 3);
	CASE("readv",
	     readv(fd, rv, 2) == 7 && !memcmp(r1, "xyz", 3) && lseek(fd, 0, SEEK_CUR) == 57);
	CASE("preadv2(-1)", preadv2(fd, rv, 1, -1, 0) == 3 && lseek(fd, 0, SEEK_CUR) == 60);
	close(fd);

	/* dup family and fcntl: one shared position. */
	fd = open(path, O_RDONLY);
	fd2 = dup(fd);
	CASE("dup", read(fd, b, 2) == 2 && read(fd2, b, 3) == 3 && !memcmp(b, "llo", 3));
	close(fd2);
	CASE("dup2", dup2(fd, 40) == 40 && read(40, b, 1) == 1 && b[0] == ' ');
	CASE("dup3", dup3(fd, 41, O_CLOEXEC) == 41 && fsize(41) == 9002);
	fd2 = fcntl(fd, F_DUPFD, 50);
	CASE("fcntl", fd2 >= 50 && read(fd2, b, 1) == 1 && b[0] == 'w');
	close(fd2);
	fd2 = fcntl64(fd, F_DUPFD_CLOEXEC, 60);
	CASE("fcntl64", fd2 >= 60 && fsize(fd2) == 9002);
	close(fd2);
	close(40);
	close(41);
	close(fd);
	/* close_range forgets: the number, reused by a plain file, reads plain. */
	fd = open(path, O_RDONLY);
	CASE("close_range", close_range((unsigned)fd, (unsigned)fd, 0) == 0);
	int pfd = open(plain, O_RDWR | O_CREAT | O_TRUNC, 0644);
	CASE("close_range/reuse", pfd == fd && write(pfd, "plain", 5) == 5 && fsize(pfd) == 5);
	close(pfd);
	/* close: likewise. */
	fd = open(path, O_RDONLY);
	close(fd);
	pfd = open(plain, O_RDONLY);
	CASE("close", pfd == fd && fsize(pfd) == 5 && pread(pfd, b, 10, 0) == 5);
	close(pfd);

	/* stat family. */
	struct stat st;
	struct stat64 st64;
	struct statx sx;
	CASE("stat", stat(path, &st) == 0 && st.st_size == 9002);
	CASE("stat64", stat64(path, &st64) == 0 && st64.st_size == 9002);
	CASE("lstat", lstat(path, &st) == 0 && st.st_size == 9002);
	CASE("lstat64", lstat64(path, &st64) == 0 && st64.st_size == 9002);
	CASE("fstatat", fstatat(dfd, "p/f.img", &st, 0) == 0 && st.st_size == 9002);
	CASE("fstatat64", fstatat64(dfd, "p/f.img", &st64, 0) == 0 && st64.st_size == 9002);
	CASE("statx", statx(dfd, "p/f.img", 0, STATX_SIZE, &sx) == 0 && sx.stx_size == 9002);
	fd = open(path, O_RDONLY);
	CASE("fstat", fstat(fd, &st) == 0 && st.st_size == 9002);
	CASE("fstat64", fstat64(fd, &st64) == 0 && st64.st_size == 9002);
	CASE("statx(fd)",
	     statx(fd, "", AT_EMPTY_PATH, STATX_SIZE, &sx) == 0 && sx.stx_size == 9002);
	close(fd);
	CASE("raw size", raw_size(path) > 9002);

	/* Sizes: truncate, ftruncate, fallocate, posix_fallocate. */
	CASE("truncate", truncate(path, 7) == 0 && stat(path, &st) == 0 && st.st_size == 7);
	CASE("truncate64",
	     truncate64(path, 20000) == 0 && stat(path, &st) == 0 && st.st_size == 20000);
	fd = open(path, O_RDWR);
	CASE("ftruncate", ftruncate(fd, 5) == 0 && fsize(fd) == 5);
	CASE("ftruncate64", ftruncate64(fd, 10) == 0 && fsize(fd) == 10 &&
	                            pread(fd, b, 10, 0) == 10 && !memcmp(b, "hello\0\0\0\0\0", 10));
	CASE("fallocate", fallocate(fd, 0, 0, 30000) == 0 && fsize(fd) == 30000);
	CASE("fallocate64",
	     fallocate64(fd, FALLOC_FL_KEEP_SIZE, 0, 90000) == 0 && fsize(fd) == 30000);
	CASE("posix_fallocate", posix_fallocate(fd, 0, 40000) == 0 && fsize(fd) == 40000);
	CASE("posix_fallocate64", posix_fallocate64(fd, 100, 50000) == 0 && fsize(fd) == 50100);
	CASE("punch hole",
	     pwrite(fd, "zz", 2, 8192) == 2 &&
	             fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 8192) == 0 &&
	             pread(fd, b, 2, 8192) == 2 && !memcmp(b, "\0\0", 2));
	CASE("fsync", fsync(fd) == 0);
	CASE("fdatasync", fdatasync(fd) == 0);
	CASE("sync_file_range", sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE) == 0);
	CASE("ioctl FICLONE",
	     ioctl(open(plain, O_WRONLY), FICLONE, fd) == -1 && errno == EOPNOTSUPP);
	close(fd);

	/* Copies out of and into the configured file. */
	reset();
	fd = open(path, O_RDONLY);
	pfd = open(plain, O_RDWR | O_TRUNC);
	off64_t io = 6;
	CASE("copy_file_range", copy_file_range(fd, &io, pfd, NULL, 100, 0) == 5 && io == 11 &&
	                                pread(pfd, b, 10, 0) == 5 && !memcmp(b, "world", 5));
	off_t so = 0;
	CASE("sendfile", sendfile(pfd, fd, &so, 5) == 5 && so == 5 && fsize(pfd) == 10);
	off64_t so64 = 6;
	CASE("sendfile64", sendfile64(pfd, fd, &so64, 2) == 2 && fsize(pfd) == 12);
	int pp[2];
	CASE("splice", pipe(pp) == 0 && splice(fd, &(off64_t){0}, pp[1], NULL, 11, 0) == 11 &&
	                       read(pp[0], b, 11) == 11 && !memcmp(b, TEXT, 11));
	close(pfd);
	pfd = open(plain, O_RDONLY);
	fd2 = open(path, O_WRONLY | O_APPEND);
	CASE("copy_file_range in",
	     copy_file_range(pfd, NULL, fd2, NULL, 100, 0) == 12 && fsize(fd2) == 23);
	close(fd2);
	close(pfd);

	/* mmap: a verified private copy; shared writable refused. */
	void *m = mmap(NULL, 11, PROT_READ, MAP_PRIVATE, fd, 0);
	CASE("mmap", m != MAP_FAILED && !memcmp(m, TEXT, 11));
	if (m != MAP_FAILED)
		munmap(m, 11);
	m = mmap64(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	CASE("mmap64", m != MAP_FAILED && !memcmp(m, TEXT, 11));
	if (m != MAP_FAILED)
		munmap(m, 4096);
	fd2 = open(path, O_RDWR);
	m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, 0);
	CASE("mmap shared rw", m == MAP_FAILED && errno == ENODEV);
	close(fd2);
	close(fd);

	/* stdio. */
	FILE *fp = fopen(path, "r");
	CASE("fopen", fp && fread(b, 1, 100, fp) == 23 && !memcmp(b, TEXT, 11) && fclose(fp) == 0);
	// cppcheck-suppress resourceLeak ; a failed case leaves its stream open
	fp = fopen64(path, "a");
	CASE("fopen64", fp && fputs("+stdio", fp) >= 0 && fclose(fp) == 0 && stat(path, &st) == 0 &&
	                        st.st_size == 29);
	fd = open(path, O_RDONLY);
	fp = fdopen(fd, "r");
	CASE("fdopen", fp && fseek(fp, -6, SEEK_END) == 0 && fgets(b, 10, fp) &&
	                       !strcmp(b, "+stdio") && fclose(fp) == 0);
	fp = fopen(plain, "r");
	FILE *rf = fp ? freopen(path, "r", fp) : NULL;
	CASE("freopen", fp && !rf && errno == EOPNOTSUPP);
	// cppcheck-suppress resourceLeak ; a failed freopen closed the stream
	fp = fopen(plain, "r");
	rf = fp ? freopen64(path, "r", fp) : NULL;
	CASE("freopen64", fp && !rf && errno == EOPNOTSUPP);
	// cppcheck-suppress resourceLeak ; a failed case leaves its stream open
	fp = fopen(plain, "r");
	CASE("freopen plain", fp && (fp = freopen(plain, "r", fp)) && fclose(fp) == 0);

	test_advice_all();
	test_names();
	test_proc_paths();

	/* Plain files are untouched. */
	CASE("plain", stat(plain, &st) == 0 && st.st_size == raw_size(plain));
	close(dfd);
	printf("calls: %d passed, %d failed\n", cases - failures, failures);
	// cppcheck-suppress resourceLeak ; a failed case leaves its stream open
	return failures ? 1 : 0;
}
