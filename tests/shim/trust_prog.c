/*
 * Small programs for tests/shim/trust_test.sh, run under the shim:
 *
 *   trust_prog return FILE    write 64 KiB, return from main (no close)
 *   trust_prog exit FILE      write 64 KiB, exit(0) from a function
 *   trust_prog thread FILE    a thread writes 64 KiB; main ends with
 *                             pthread_exit, so the last thread's end exits
 *   trust_prog _exit FILE     write 64 KiB, _exit(0): not a normal exit
 *   trust_prog fork FILE      write, fork a child that writes its own
 *                             block and exits normally, then _exit(0)
 *   trust_prog dsync FILE     write once through an O_DSYNC descriptor and
 *                             once with RWF_DSYNC, then _exit(0)
 *   trust_prog plain FILE     the same writes without either, _exit(0)
 *   trust_prog rwf FILE       pwritev2: RWF_APPEND appends, RWF_NOAPPEND
 *                             on an O_APPEND descriptor writes in place,
 *                             an unknown flag fails with EOPNOTSUPP
 *
 * The 64 KiB written are byte i = (i * 7 + 1) & 0xff.  Exit status 0 when
 * every call did what it should, 1 otherwise (with a line on stderr).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

enum { LEN = 64 << 10 };
static unsigned char data[LEN];
static const char *path;

static void die(const char *what)
{
	fprintf(stderr, "trust_prog: %s: %s\n", what, strerror(errno));
	_exit(1);
}

static int write_all(int flags)
{
	for (int i = 0; i < LEN; i++)
		data[i] = (unsigned char)(i * 7 + 1);
	int fd = open(path, O_RDWR | O_CREAT | flags, 0644);
	if (fd < 0)
		die("open");
	if (write(fd, data, LEN) != LEN)
		die("write");
	return fd;
}

static void leave(void)
{
	exit(0);
}

static void *writer(void *arg)
{
	(void)arg;
	write_all(0);
	return NULL;
}

static int check(int fd, off_t off, const char *want, size_t n, const char *what)
{
	char got[64];
	if (pread(fd, got, n, off) != (ssize_t)n || memcmp(got, want, n) != 0) {
		fprintf(stderr, "trust_prog: %s: wrong content at %lld\n", what, (long long)off);
		return 1;
	}
	return 0;
}

static int rwf(void)
{
	int fd = write_all(O_TRUNC);
	struct iovec v = {(void *)"APPENDED", 8};
	int bad = 0;
	if (pwritev2(fd, &v, 1, 0, RWF_APPEND) != 8)
		die("pwritev2 RWF_APPEND");
	bad |= check(fd, LEN, "APPENDED", 8, "RWF_APPEND");
	bad |= check(fd, 0, (const char *)data, 8, "RWF_APPEND overwrote offset 0");
	errno = 0;
	if (pwritev2(fd, &v, 1, 0, 1 << 30) != -1 || errno != EOPNOTSUPP) {
		fprintf(stderr, "trust_prog: unknown RWF flag not refused (errno %d)\n", errno);
		bad = 1;
	}
	bad |= check(fd, 0, (const char *)data, 8, "a refused write changed the file");
	char rd[8];
	struct iovec r = {rd, sizeof(rd)};
	errno = 0;
	if (preadv2(fd, &r, 1, 0, 1 << 30) != -1 || errno != EOPNOTSUPP) {
		fprintf(stderr, "trust_prog: unknown RWF flag on a read not refused\n");
		bad = 1;
	}
	return bad;
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	const char *mode = argv[1];
	path = argv[2];
	if (!strcmp(mode, "return")) {
		write_all(0);
		return 0;
	}
	if (!strcmp(mode, "exit")) {
		write_all(0);
		leave();
	}
	if (!strcmp(mode, "thread")) {
		pthread_t t;
		if (pthread_create(&t, NULL, writer, NULL) != 0)
			die("pthread_create");
		pthread_exit(NULL);
	}
	if (!strcmp(mode, "_exit")) {
		write_all(0);
		_exit(0);
	}
	if (!strcmp(mode, "fork")) {
		int fd = write_all(0);
		pid_t pid = fork();
		if (pid < 0)
			die("fork");
		if (pid == 0) {
			if (pwrite(fd, "child", 5, 4096) != 5)
				die("child pwrite");
			exit(0);
		}
		int st;
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			die("child");
		_exit(check(fd, 4096, "child", 5, "child's write"));
	}
	if (!strcmp(mode, "dsync") || !strcmp(mode, "plain")) {
		bool sync = !strcmp(mode, "dsync");
		int fd = write_all(sync ? O_DSYNC : 0);
		struct iovec v = {data, 4096};
		if (pwritev2(fd, &v, 1, 8192, sync ? RWF_DSYNC : 0) != 4096)
			die("pwritev2 RWF_DSYNC");
		_exit(0);
	}
	if (!strcmp(mode, "rwf"))
		return rwf();
	return 2;
}
