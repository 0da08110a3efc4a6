/*
 * Processes and descriptors as real programs use them, run with
 * libcsumshim.so preloaded and a config protecting DIR/p/ (run_procs.sh):
 *
 * - children sharing the parent's memory (vfork, clone(CLONE_VM),
 *   posix_spawn) that close descriptors leave the parent's protection
 *   exactly as it was;
 * - a forked or exec'ed child reaches the very file its descriptor refers
 *   to, even unlinked or renamed over;
 * - the shim's own descriptors are out of the program's way: closing,
 *   closefrom, close_range and dup2 onto their numbers act on the
 *   program's descriptors only;
 * - a read whose range holds a bad block (DIR/p/bad.img, block 5 flipped
 *   by run_procs.sh) fails as a whole with EIO, through every call.
 *
 * Usage: test_procs prepare DIR | run DIR | child FD EXPECTED
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rawsys.h"
#include "shimcase.h"

extern char **environ;

static char dir[512], self[600];

#define BAD_SIZE 65536
#define BAD_BLOCK_OFF 20480 /* block 5 of 4096 bytes */
#define BIG_SIZE (2 << 20)  /* bigbad.img: bad at 1.5 MiB */

static void pattern(unsigned char *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)(i * 7 + i / 4096 + seed);
}

static void p_path(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/p/%s", dir, name);
}

static bool put(const char *p, const void *buf, size_t n)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	bool ok = fd >= 0 && write(fd, buf, n) == (ssize_t)n;
	return close(fd) == 0 && ok;
}

/* Whether fd reads exactly `want` at 0 and its logical size is n. */
static bool holds(int fd, const void *want, size_t n)
{
	char b[8192];
	struct stat st;
	return n <= sizeof(b) && pread(fd, b, sizeof(b), 0) == (ssize_t)n && !memcmp(b, want, n) &&
	       fstat(fd, &st) == 0 && st.st_size == (off_t)n;
}

/* Whether path reads exactly `want` through a fresh open. */
static bool file_holds(const char *p, const void *want, size_t n)
{
	int fd = open(p, O_RDONLY);
	bool ok = fd >= 0 && holds(fd, want, n);
	if (fd >= 0)
		close(fd);
	return ok;
}

/* The raw kernel view: the stored bytes at 0 (never "CSUM" through the
 * shim) are read with a raw syscall only to prove the shim is there. */
static bool raw_is_csum(const char *p)
{
	char m[4] = {0};
	int fd = (int)raw_syscall(SYS_openat, AT_FDCWD, p, O_RDONLY | O_CLOEXEC);
	bool ok = fd >= 0 && raw_syscall(SYS_pread64, fd, m, 4, 0) == 4 && !memcmp(m, "CSUM", 4);
	raw_syscall(SYS_close, fd);
	return ok;
}

/* Run argv (with the environment, so under the shim too) and wait. */
static int run(char *const argv[])
{
	pid_t pid;
	if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ) != 0)
		return -1;
	int st;
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Another process (under the shim) reads path within 20 s and finds the
 * plain file's content: no presence lock of ours was leaked. */
static bool other_process_reads(const char *p, const char *plain)
{
	char *argv[] = {"/usr/bin/timeout", "20", "/usr/bin/cmp", (char *)p, (char *)plain, NULL};
	return run(argv) == 0;
}

/* The shim's descriptors for path: those whose target is path, other than
 * the program's own `mine`. */
static int shim_fds(const char *p, int mine, int *out, int max)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		int fd = atoi(de->d_name);
		char l[64], t[1024];
		if (de->d_name[0] == '.' || fd == mine || fd == dirfd(d))
			continue;
		snprintf(l, sizeof(l), "/proc/self/fd/%d", fd);
		ssize_t k = readlink(l, t, sizeof(t) - 1);
		if (k <= 0)
			continue;
		t[k] = 0;
		if (!strcmp(t, p) && n < max)
			out[n++] = fd;
	}
	if (d)
		closedir(d);
	return n;
}

/* ---- children sharing the parent's memory ------------------------------ */

static unsigned char text[4096];
static const size_t TEXT_N = 3000;

/* After the child: the parent still sees the logical file, writes through
 * checksums, and another process can open it. */
static void after_child(const char *name, int fd, const char *p, const char *plain)
{
	char n[80];
	snprintf(n, sizeof(n), "%s: content", name);
	CASE(n, holds(fd, text, TEXT_N));
	text[10]++;
	snprintf(n, sizeof(n), "%s: write", name);
	CASE(n, pwrite(fd, text + 10, 1, 10) == 1 && holds(fd, text, TEXT_N) &&
	                put(plain, text, TEXT_N));
	snprintf(n, sizeof(n), "%s: other process", name);
	CASE(n, other_process_reads(p, plain));
}

static int clone_child(void *arg)
{
	(void)arg;
	raw_syscall(SYS_close_range, 3u, ~0u, 0); /* not seen by the shim */
	close_range(3, ~0u, 0);
	_exit(0);
}

enum child_act { CLOSE_RANGE, CLOSEFROM_EXEC, CLOSE_EXEC, DUP2 };

/* A vfork child does `act` on descriptors (then execs /bin/true or exits). */
static void vfork_case(const char *name, enum child_act act, int fd, const char *p,
                       const char *plain)
{
	pid_t pid = vfork();
	if (pid == 0) {
		int nul;
		switch (act) {
		case CLOSE_RANGE:
			close_range(3, ~0u, 0);
			_exit(0);
		case CLOSEFROM_EXEC:
			closefrom(3);
			break;
		case CLOSE_EXEC:
			close(fd);
			break;
		case DUP2:
			nul = open("/dev/null", O_RDWR);
			dup2(nul, fd); /* onto the protected descriptor, in the child only */
			dup2(nul, 1);
			_exit(0);
		}
		char *argv[] = {"/bin/true", NULL};
		execve(argv[0], argv, environ);
		_exit(127);
	}
	char n[80];
	snprintf(n, sizeof(n), "%s: wait", name);
	CASE(n, pid > 0 && waitpid(pid, NULL, 0) == pid);
	after_child(name, fd, p, plain);
}

static void test_shared_memory_children(void)
{
	char p[640], plain[640];
	p_path(p, sizeof(p), "vf.img");
	snprintf(plain, sizeof(plain), "%s/vf.plain", dir);
	pattern(text, sizeof(text), 1);
	CASE("vfork: prepare", put(p, text, TEXT_N) && put(plain, text, TEXT_N) && raw_is_csum(p));
	int fd = open(p, O_RDWR);
	CASE("vfork: open", holds(fd, text, TEXT_N));

	vfork_case("vfork+close_range", CLOSE_RANGE, fd, p, plain);
	vfork_case("vfork+closefrom+exec", CLOSEFROM_EXEC, fd, p, plain);
	vfork_case("vfork+close+exec", CLOSE_EXEC, fd, p, plain);
	vfork_case("vfork+dup2", DUP2, fd, p, plain);

	/* A child made by clone(CLONE_VM | CLONE_VFORK), which glibc's
	 * posix_spawn also makes: no wrapper sees its creation. */
	static char stack[65536];
	pid_t pid =
	        clone(clone_child, stack + sizeof(stack), CLONE_VM | CLONE_VFORK | SIGCHLD, NULL);
	CASE("clone(CLONE_VM): wait", pid > 0 && waitpid(pid, NULL, 0) == pid);
	after_child("clone(CLONE_VM)", fd, p, plain);

	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addclose(&fa, fd);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	char *argv[] = {"/bin/true", NULL};
	int st = -1;
	CASE("posix_spawn", posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) == 0 &&
	                            waitpid(pid, &st, 0) == pid && st == 0);
	posix_spawn_file_actions_destroy(&fa);
	after_child("posix_spawn", fd, p, plain);
	close(fd);
	CASE("vfork: final content", file_holds(p, text, TEXT_N));
}

/* ---- fork and exec reach the very file ---------------------------------- */

static bool child_writes(int fd, const char *data, size_t n)
{
	pid_t pid = fork();
	if (pid == 0) {
		char b[64] = {0};
		bool ok = pwrite(fd, data, n, 0) == (ssize_t)n &&
		          pread(fd, b, n, 0) == (ssize_t)n && !memcmp(b, data, n);
		_exit(ok ? 0 : 1);
	}
	int st;
	return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* An exec'ed child inherits fd and must read `want` from it. */
static bool exec_child_reads(int fd, const char *want)
{
	char fds[16];
	snprintf(fds, sizeof(fds), "%d", fd);
	char *argv[] = {self, "child", fds, (char *)want, NULL};
	return run(argv) == 0;
}

static void test_fork_reaches_file(void)
{
	char p[640], q[640];
	/* Unlinked while open. */
	p_path(p, sizeof(p), "unlinked.img");
	int fd = -1;
	CASE("fork unlinked: prepare",
	     put(p, "parent data", 11) && (fd = open(p, O_RDWR)) >= 0 && unlink(p) == 0);
	CASE("fork unlinked: child writes", child_writes(fd, "child data!", 11));
	CASE("fork unlinked: parent reads", holds(fd, "child data!", 11));
	CASE("exec unlinked: child reads", exec_child_reads(fd, "child data!"));
	close(fd);

	/* Its name replaced by rename(): the child writes the old file. */
	p_path(p, sizeof(p), "renamed.img");
	p_path(q, sizeof(q), "renamed.new");
	CASE("fork renamed: prepare", put(p, "old content", 11) && (fd = open(p, O_RDWR)) >= 0 &&
	                                      put(q, "new content", 11) && rename(q, p) == 0);
	CASE("fork renamed: child writes", child_writes(fd, "child wrote", 11));
	CASE("fork renamed: parent reads", holds(fd, "child wrote", 11));
	CASE("fork renamed: new file kept", file_holds(p, "new content", 11));
	CASE("exec renamed: child reads", exec_child_reads(fd, "child wrote"));
	close(fd);
}

/* A file empty and unformatted when this process opened it read-only is
 * an empty image in memory; another process writing it afterwards must
 * show through, as for any file (the image stayed empty for good). */
static void test_empty_then_written(void)
{
	char p[640];
	p_path(p, sizeof(p), "empty_ro.img");
	int fd = open(p, O_RDONLY | O_CREAT, 0644);
	char b[32] = {0};
	CASE("empty ro: open", fd >= 0 && read(fd, b, sizeof(b)) == 0);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		int w = open(p, O_WRONLY);
		bool ok = w >= 0 && write(w, "written later", 13) == 13 && close(w) == 0;
		exit(ok ? 0 : 1);
	}
	int st;
	CASE("empty ro: other writes",
	     pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	struct stat sb, sp;
	CASE("empty ro: fstat", fstat(fd, &sb) == 0 && sb.st_size == 13);
	CASE("empty ro: stat", stat(p, &sp) == 0 && sp.st_size == 13);
	CASE("empty ro: reads it", holds(fd, "written later", 13));
	close(fd);

	/* Written since by something that is not csumshim (raw calls): the
	 * file cannot be opened as a csumshim file, and reads fail rather
	 * than go on showing an empty file. */
	p_path(p, sizeof(p), "empty_raw.img");
	fd = open(p, O_RDONLY | O_CREAT, 0644);
	CASE("empty raw: open", fd >= 0 && read(fd, b, sizeof(b)) == 0);
	int w = (int)raw_syscall(SYS_openat, AT_FDCWD, p, O_WRONLY);
	CASE("empty raw: raw write",
	     w >= 0 && raw_syscall(SYS_pwrite64, w, "plain text", 10, 0) == 10);
	raw_syscall(SYS_close, w);
	errno = 0;
	CASE("empty raw: read fails", pread(fd, b, sizeof(b), 0) == -1 && errno == EIO);
	close(fd);

	/* A private mapping of the empty file, refilled by MADV_DONTNEED (or
	 * grown by mremap) after another process wrote it: the kernel shows
	 * the file as it is now, and so must the copy. */
	p_path(p, sizeof(p), "empty_map.img");
	fd = open(p, O_RDONLY | O_CREAT, 0644);
	long pg = sysconf(_SC_PAGESIZE);
	char *m = fd >= 0 ? mmap(NULL, (size_t)pg, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
	CASE("empty map: mmap", m != MAP_FAILED);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		int w = open(p, O_WRONLY);
		bool ok = w >= 0 && write(w, "mapped later", 12) == 12 && close(w) == 0;
		exit(ok ? 0 : 1);
	}
	CASE("empty map: other writes",
	     pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	if (m != MAP_FAILED) {
		CASE("empty map: madvise", madvise(m, (size_t)pg, MADV_DONTNEED) == 0);
		CASE("empty map: shows it", !memcmp(m, "mapped later", 12));
		char *m2 = mremap(m, (size_t)pg, 2 * (size_t)pg, MREMAP_MAYMOVE);
		CASE("empty map: mremap", m2 != MAP_FAILED && !memcmp(m2, "mapped later", 12));
		munmap(m2 != MAP_FAILED ? m2 : m, m2 != MAP_FAILED ? 2 * (size_t)pg : (size_t)pg);
	}
	close(fd);
}

/* Forks no atfork handler sees (a raw clone without CLONE_VM, glibc's
 * _Fork): the child must not write through copies of the parent's
 * engines (its growth of the file was lost when the parent wrote its
 * cached size back). */
static bool unseen_fork_writes(int fd, bool use_fork_)
{
	fflush(stdout);
	pid_t pid = use_fork_ ? _Fork() : (pid_t)syscall(SYS_clone, (long)SIGCHLD, 0L, 0L, 0L, 0L);
	if (pid == 0) {
		alarm(10); /* a child hung on a lock fails the case, not the test */
		bool ok = pwrite(fd, "CHILD", 5, 100) == 5 && pwrite(fd, "TAIL", 4, 4096) == 4;
		_exit(ok ? 0 : 1);
	}
	int st;
	return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* The parent's solo watcher thread holds its mutex while it looks at its
 * engines: a child made by a raw clone or _Fork at that instant inherited
 * the mutex locked and hung in its first write (reopening the file).  A
 * window of microseconds every 10 ms, so many forks; a hung child is
 * killed by its alarm and the case fails instead of the test hanging. */
static void test_unseen_fork_storm(void)
{
	char p[640];
	p_path(p, sizeof(p), "ustorm.img");
	int fd = -1;
	CASE("fork storm: prepare", put(p, "parent", 6) && (fd = open(p, O_RDWR)) >= 0);
	int bad = 0;
	for (int i = 0; i < 400 && !bad; i++)
		if (!unseen_fork_writes(fd, i & 1) || pwrite(fd, "p", 1, 0) != 1)
			bad = i + 1;
	if (bad)
		printf("fork storm: fork %d failed\n", bad - 1);
	CASE("fork storm: every child wrote", bad == 0);
	close(fd);
}

static void test_unseen_forks(void)
{
	static char big[4096];
	memset(big, 'P', sizeof(big));
	for (int k = 0; k < 2; k++) {
		char p[640], n[64], b[16] = {0};
		const char *how = k ? "_Fork" : "raw clone";
		p_path(p, sizeof(p), k ? "ufork.img" : "uclone.img");
		int fd = -1;
		snprintf(n, sizeof(n), "%s: prepare", how);
		CASE(n, put(p, big, sizeof(big)) && (fd = open(p, O_RDWR)) >= 0 &&
		                pwrite(fd, "parent", 6, 0) == 6);
		snprintf(n, sizeof(n), "%s: child writes", how);
		CASE(n, unseen_fork_writes(fd, k));
		snprintf(n, sizeof(n), "%s: parent sees growth", how);
		CASE(n, pread(fd, b, 5, 100) == 5 && !memcmp(b, "CHILD", 5) &&
		                pread(fd, b, 8, 4096) == 4 && !memcmp(b, "TAIL", 4));
		snprintf(n, sizeof(n), "%s: parent writes on", how);
		CASE(n, pwrite(fd, "more", 4, 200) == 4 && close(fd) == 0);
		memcpy(big, "parent", 6);
		memcpy(big + 100, "CHILD", 5);
		memcpy(big + 200, "more", 4);
		char all[4100];
		memcpy(all, big, sizeof(big));
		memcpy(all + 4096, "TAIL", 4);
		snprintf(n, sizeof(n), "%s: final content", how);
		CASE(n, file_holds(p, all, sizeof(all)));
		memset(big, 'P', sizeof(big));
	}
}

/* A child appending 16 bytes 40,000 times to p (many small growths:
 * many superblock writes), from its own open. */
static pid_t appender(const char *p, const unsigned char *blk)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		alarm(60);
		int fd = open(p, O_WRONLY | O_APPEND);
		bool ok = fd >= 0;
		for (int i = 0; ok && i < 40000; i++)
			ok = write(fd, blk, 16) == 16;
		_exit(ok ? 0 : 1);
	}
	return pid;
}

static bool exited_ok(pid_t pid)
{
	int st;
	return waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* Another process opens the file while its writer grows it: every growth
 * rewrites the superblock, and the opener read it without a lock, so it
 * could catch a write half done (a torn read) and fail the open ("damaged
 * superblock"; PostgreSQL's autovacuum workers and backends open relation
 * files while others extend them), and a stat by path took it for a plain
 * file and reported the stored size.  A torn read is read again, never
 * believed. */
static void test_open_while_growing(void)
{
	char p[640];
	p_path(p, sizeof(p), "growing.img");
	static unsigned char blk[512];
	memset(blk, 'G', sizeof(blk));
	CASE("open while growing: prepare", put(p, blk, sizeof(blk)));
	pid_t pid = appender(p, blk);
	if (pid < 0)
		return;
	int bad_open = 0, bad_read = 0, bad_stat = 0, opens = 0, err = 0;
	unsigned char b[512];
	for (; opens < 3000; opens++) {
		/* Not open here: stat looks at the superblock itself.  The
		 * logical size is 512 + 16 k; the stored one is megabytes. */
		struct stat st;
		if (stat(p, &st) < 0 || st.st_size < 512 || (st.st_size - 512) % 16 ||
		    st.st_size > 512 + 16 * 40000)
			bad_stat++;
		int fd = open(p, O_RDONLY);
		if (fd < 0) {
			bad_open++;
			err = errno;
			continue;
		}
		if (pread(fd, b, sizeof(b), 0) != (ssize_t)sizeof(b) || memcmp(b, blk, sizeof(b))) {
			bad_read++;
			err = errno;
		}
		close(fd);
	}
	bool child_ok = exited_ok(pid);
	if (bad_open || bad_read || bad_stat)
		printf("open while growing: %d of %d opens failed, %d reads, %d stats (last "
		       "errno %d %s)\n",
		       bad_open, opens, bad_read, bad_stat, err, strerror(err));
	CASE("open while growing: every open and read", bad_open == 0 && bad_read == 0);
	CASE("open while growing: every stat the logical size", bad_stat == 0);
	CASE("open while growing: the writer", child_ok);

	/* O_TRUNC empties a csumshim file as it is, keeping its identity
	 * for the other process's engine; a torn read taken for "not a
	 * csumshim file" formatted it anew under the writer. */
	pid = appender(p, blk);
	if (pid < 0)
		return;
	int bad_trunc = 0;
	for (int i = 0; i < 1000; i++) {
		int fd = open(p, O_WRONLY | O_TRUNC);
		if (fd < 0 || close(fd) < 0)
			bad_trunc++;
	}
	child_ok = exited_ok(pid);
	CASE("truncate while growing: every open", bad_trunc == 0);
	CASE("truncate while growing: the writer", child_ok);
	/* What is left: whole appends of 'G' (the shim's stores are checked
	 * by run_procs.sh afterwards). */
	static unsigned char all[16 * 40000 + 512];
	int fd = open(p, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, all, sizeof(all)) : -1;
	bool same = n >= 0 && n % 16 == 0;
	for (ssize_t i = 0; same && i < n; i++)
		same = all[i] == 'G';
	CASE("truncate while growing: content", same);
	if (fd >= 0)
		close(fd);
}

/* O_APPEND lives in the open file description: set or cleared with
 * F_SETFL by one process, it holds for another sharing it (a fork child
 * that wrote at its position overwrote data instead of appending). */
static void test_append_shared(void)
{
	char p[640];
	p_path(p, sizeof(p), "append_shared.img");
	int fd = -1, pp[2];
	CASE("shared append: prepare",
	     put(p, "0123456789", 10) && (fd = open(p, O_RDWR)) >= 0 && pipe(pp) == 0);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		char x;
		bool ok = read(pp[0], &x, 1) == 1 && write(fd, "CH", 2) == 2 &&
		          pwrite(fd, "pw", 2, 0) == 2;
		_exit(ok ? 0 : 1);
	}
	CASE("shared append: F_SETFL",
	     fcntl(fd, F_SETFL, O_APPEND) == 0 && write(pp[1], "x", 1) == 1);
	int st;
	CASE("shared append: child",
	     waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CASE("shared append: appended", holds(fd, "0123456789CHpw", 14));
	close(fd);
	close(pp[0]);
	close(pp[1]);
}

/* posix_spawn's file actions open in the child with glibc's internal
 * open: O_TRUNC there would cut the stored file raw.  Refused on a
 * protected path; an appending action is adopted by the program. */
static void test_spawn_actions(void)
{
	char p[640];
	p_path(p, sizeof(p), "spawn_trunc.img");
	CASE("spawn: prepare", put(p, "kept content", 12));
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	CASE("spawn: O_TRUNC refused",
	     posix_spawn_file_actions_addopen(&fa, 1, p, O_WRONLY | O_TRUNC, 0644) == EINVAL);
	CASE("spawn: O_APPEND allowed",
	     posix_spawn_file_actions_addopen(&fa, 1, p, O_WRONLY | O_APPEND, 0644) == 0);
	char *argv[] = {"/bin/sh", "-c", "printf more", NULL};
	pid_t pid;
	int st;
	CASE("spawn: runs", posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, environ) == 0 &&
	                            waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
	                            WEXITSTATUS(st) == 0);
	CASE("spawn: appended", file_holds(p, "kept contentmore", 16));
	posix_spawn_file_actions_destroy(&fa);
}

static int child_main(int fd, const char *want)
{
	size_t n = strlen(want);
	return holds(fd, want, n) ? 0 : 1;
}

/* ---- the shim's own descriptors ------------------------------------------ */

static void test_own_descriptors(void)
{
	char p[640], u[640];
	unsigned char data[8192], check[8192];
	p_path(p, sizeof(p), "own.img");
	snprintf(u, sizeof(u), "%s/unrelated.bin", dir);
	pattern(data, sizeof(data), 3);
	memset(check, 'u', sizeof(check));
	int fd = -1;
	CASE("own: prepare", put(p, data, sizeof(data)) && (fd = open(p, O_RDWR)) >= 0);

	/* Out of the way: high numbers, close-on-exec. */
	int sfd[4];
	int ns = shim_fds(p, fd, sfd, 4);
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	CASE("own: engine descriptors seen", ns >= 1);
	for (int i = 0; i < ns; i++)
		CASE("own: high and cloexec",
		     sfd[i] >= 512 && (fcntl(sfd[i], F_GETFD) & FD_CLOEXEC));

	/* close() on the shim's number: the program has no such descriptor. */
	for (int i = 0; i < ns; i++)
		CASE("own: close theirs", close(sfd[i]) == -1 && errno == EBADF);
	CASE("own: after close", holds(fd, data, sizeof(data)));

	/* dup2 onto the shim's number: the program's descriptor gets it. */
	int ufd = open(u, O_RDWR | O_CREAT | O_TRUNC, 0644);
	for (int i = 0; i < ns; i++) {
		CASE("own: dup2 onto",
		     dup2(ufd, sfd[i]) == sfd[i] && pwrite(sfd[i], "dup2", 4, 0) == 4);
	}
	data[0]++;
	CASE("own: after dup2", pwrite(fd, data, 1, 0) == 1 && holds(fd, data, sizeof(data)));
	char b[8] = {0};
	CASE("own: dup2 target", ns < 1 || (pread(ufd, b, 8, 0) == 4 && !memcmp(b, "dup2", 4)));
	/* A forked child reopens through the moved anchor. */
	memcpy(data, "forked", 6);
	CASE("own: fork after dup2",
	     child_writes(fd, "forked", 6) && holds(fd, data, sizeof(data)));
	for (int i = 0; i < ns; i++)
		close(sfd[i]); /* the program's own now */
	close(ufd);

	/* closefrom above the program's own descriptor, then a new file takes
	 * the lowest free number: writes still land in the protected file. */
	CASE("own: closefrom", (closefrom(fd + 1), fcntl(fd, F_GETFD) >= 0));
	ufd = open(u, O_RDWR | O_CREAT | O_TRUNC, 0644);
	CASE("own: unrelated", ufd >= 0 && pwrite(ufd, check, sizeof(check), 0) == sizeof(check));
	data[1]++;
	data[5000]++;
	CASE("own: pwrite after closefrom",
	     pwrite(fd, data, sizeof(data), 0) == sizeof(data) && holds(fd, data, sizeof(data)));
	memset(b, 0, sizeof(b));
	unsigned char got[8192];
	CASE("own: unrelated untouched",
	     pread(ufd, got, sizeof(got), 0) == sizeof(got) && !memcmp(got, check, sizeof(got)));
	close(ufd);

	/* close_range, and close_range(CLOSE_RANGE_CLOEXEC) of everything. */
	CASE("own: close_range", close_range((unsigned)fd + 1, ~0u, 0) == 0);
	ufd = open(u, O_RDWR | O_TRUNC);
	CASE("own: unrelated again",
	     ufd >= 0 && pwrite(ufd, check, sizeof(check), 0) == sizeof(check));
	data[2]++;
	CASE("own: pwrite after close_range",
	     pwrite(fd, data, sizeof(data), 0) == sizeof(data) && holds(fd, data, sizeof(data)));
	CASE("own: cloexec range",
	     close_range(3, ~0u, CLOSE_RANGE_CLOEXEC) == 0 && (fcntl(ufd, F_GETFD) & FD_CLOEXEC));
	CASE("own: unrelated still untouched",
	     pread(ufd, got, sizeof(got), 0) == sizeof(got) && !memcmp(got, check, sizeof(got)));
	close(ufd);
	close(fd);
	CASE("own: final content", file_holds(p, data, sizeof(data)));
}

/* ---- a read that meets a bad block fails as a whole ---------------------- */

static void test_whole_read_eio(void)
{
	char p[640], u[640];
	p_path(p, sizeof(p), "bad.img");
	snprintf(u, sizeof(u), "%s/copy.bin", dir);
	static unsigned char want[BAD_SIZE], b[BAD_SIZE];
	pattern(want, sizeof(want), 7);
	int fd = open(p, O_RDONLY);
	CASE("eio: open", fd >= 0);
	CASE("eio: prefix reads",
	     pread(fd, b, BAD_BLOCK_OFF, 0) == BAD_BLOCK_OFF && !memcmp(b, want, BAD_BLOCK_OFF));
	CASE("eio: after the block", pread(fd, b, 4096, BAD_BLOCK_OFF + 4096) == 4096 &&
	                                     !memcmp(b, want + BAD_BLOCK_OFF + 4096, 4096));
	CASE("eio: pread", pread(fd, b, BAD_SIZE, 0) == -1 && errno == EIO);
	CASE("eio: pread64 across", pread64(fd, b, 8192, 16384) == -1 && errno == EIO);
	CASE("eio: read", read(fd, b, BAD_SIZE) == -1 && errno == EIO);
	CASE("eio: read kept position", lseek(fd, 0, SEEK_CUR) == 0);
	struct iovec iov[2] = {{b, 16384}, {b + 16384, BAD_SIZE - 16384}};
	CASE("eio: readv", readv(fd, iov, 2) == -1 && errno == EIO);
	CASE("eio: readv kept position", lseek(fd, 0, SEEK_CUR) == 0);
	CASE("eio: preadv", preadv(fd, iov, 2, 0) == -1 && errno == EIO);
	CASE("eio: preadv2", preadv2(fd, iov, 2, 0, 0) == -1 && errno == EIO);

	int out = open(u, O_RDWR | O_CREAT | O_TRUNC, 0644);
	struct stat st;
	CASE("eio: copy_file_range",
	     copy_file_range(fd, NULL, out, NULL, BAD_SIZE, 0) == -1 && errno == EIO);
	off_t off = 0;
	CASE("eio: sendfile", sendfile(out, fd, &off, BAD_SIZE) == -1 && errno == EIO && off == 0);
	CASE("eio: nothing copied", fstat(out, &st) == 0 && st.st_size == 0);
	close(out);
	close(fd);
	/* Copies go in 1 MiB pieces: a bad block in a later one fails the
	 * call too, rather than returning the pieces before it. */
	p_path(p, sizeof(p), "bigbad.img");
	fd = open(p, O_RDONLY);
	out = open(u, O_RDWR | O_TRUNC);
	CASE("eio: copy_file_range 2 MiB",
	     copy_file_range(fd, NULL, out, NULL, BIG_SIZE, 0) == -1 && errno == EIO);
	off = 0;
	CASE("eio: sendfile 2 MiB", sendfile(out, fd, &off, BIG_SIZE) == -1 && errno == EIO);
	close(out);
	close(fd);

	p_path(p, sizeof(p), "bad.img");
	FILE *f = fopen(p, "r");
	CASE("eio: fopen", f != NULL);
	if (f) {
		/* stdio reads in buffers (8 KiB): those before the one holding
		 * the bad block are returned, with the error flag, never a
		 * short count without it (which means the end of the file). */
		size_t n = fread(b, 1, BAD_SIZE, f);
		CASE("eio: fread", n < BAD_BLOCK_OFF && ferror(f) && !feof(f) && errno == EIO &&
		                           !memcmp(b, want, n));
		fclose(f);
	}
}

static int prepare(void)
{
	static unsigned char want[BIG_SIZE];
	char p[640], q[640];
	pattern(want, sizeof(want), 7);
	p_path(p, sizeof(p), "bad.img");
	p_path(q, sizeof(q), "bigbad.img");
	return put(p, want, BAD_SIZE) && raw_is_csum(p) && put(q, want, BIG_SIZE) ? 0 : 2;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "child"))
		return child_main(atoi(argv[2]), argv[3]);
	if (argc != 3)
		return 2;
	snprintf(dir, sizeof(dir), "%s", argv[2]);
	if (!strcmp(argv[1], "prepare"))
		return prepare();
	if (!realpath("/proc/self/exe", self))
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_shared_memory_children();
	test_fork_reaches_file();
	test_empty_then_written();
	test_spawn_actions();
	test_unseen_forks();
	test_unseen_fork_storm();
	test_open_while_growing();
	test_append_shared();
	test_own_descriptors();
	test_whole_read_eio();
	printf("test_procs: %d cases, %d failed\n", cases, failures);
	return failures ? 1 : 0;
}
