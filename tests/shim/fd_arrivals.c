/*
 * Descriptors that reach a program by ways other than open(): the helper
 * of tests/shim/security_test.sh.  Each mode prints what the program read
 * through the descriptor (up to 4 KiB) on stdout, or a one-line error on
 * stderr and exits 1.
 *
 *   fd_arrivals scm FILE      a child without LD_PRELOAD opens FILE and
 *                             sends the descriptor over SCM_RIGHTS (recvmsg)
 *   fd_arrivals scmm FILE     the same, received with recvmmsg
 *   fd_arrivals handle FILE   name_to_handle_at + open_by_handle_at
 *   fd_arrivals handle-path FILE   the same with O_PATH (the read must fail EBADF)
 *   fd_arrivals pidfd FILE    a child without LD_PRELOAD opens FILE; this
 *                             process takes the descriptor with pidfd_getfd
 *   fd_arrivals at DIR NAME   openat(open(DIR, O_DIRECTORY), NAME)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int die(const char *what)
{
	fprintf(stderr, "fd_arrivals: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void send_fd(int sock, int fd)
{
	char byte = 'x';
	struct iovec iov = {&byte, 1};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	memset(&u, 0, sizeof(u));
	struct msghdr m = {.msg_iov = &iov,
	                   .msg_iovlen = 1,
	                   .msg_control = u.buf,
	                   .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	if (sendmsg(sock, &m, 0) != 1)
		die("sendmsg");
}

/* Modes ending in "-sys" make the arriving call through glibc's syscall(),
 * as older programs do: the shim must serve that door too. */
static bool via_syscall;

/* The received descriptor, through recvmsg or recvmmsg. */
static int recv_fd(int sock, bool many)
{
	char byte;
	struct iovec iov = {&byte, 1};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr m = {.msg_iov = &iov,
	                   .msg_iovlen = 1,
	                   .msg_control = u.buf,
	                   .msg_controllen = sizeof(u.buf)};
	if (many) {
		struct mmsghdr mm = {.msg_hdr = m};
		int n = via_syscall ? (int)syscall(SYS_recvmmsg, sock, &mm, 1, 0, NULL)
		                    : recvmmsg(sock, &mm, 1, 0, NULL);
		if (n != 1)
			die("recvmmsg");
		m = mm.msg_hdr;
	} else if ((via_syscall ? syscall(SYS_recvmsg, sock, &m, 0) : recvmsg(sock, &m, 0)) != 1) {
		die("recvmsg");
	}
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	if (!c || c->cmsg_type != SCM_RIGHTS) {
		errno = EPROTO;
		die("no SCM_RIGHTS message");
	}
	int fd;
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

/* `self MODE SOCK FILE` in a child without the shim (so the descriptor it
 * opens is a plain one), connected to us by the socket *sock. */
static pid_t spawn_plain(const char *self, const char *mode, const char *file, int *sock)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		die("socketpair");
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		close(sv[0]);
		char num[16];
		snprintf(num, sizeof(num), "%d", sv[1]);
		unsetenv("LD_PRELOAD");
		execl(self, self, mode, num, file, (char *)NULL);
		die("exec");
	}
	close(sv[1]);
	*sock = sv[0];
	return pid;
}

static int received(const char *self, const char *file, bool many)
{
	int sock;
	pid_t pid = spawn_plain(self, "send", file, &sock);
	int fd = recv_fd(sock, many);
	int st;
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		errno = ECHILD;
		die("sender failed");
	}
	return fd;
}

/* The child holds the file open until we have taken a copy of its
 * descriptor. */
static int taken(const char *self, const char *file)
{
	int sock;
	pid_t pid = spawn_plain(self, "hold", file, &sock);
	int theirs;
	if (read(sock, &theirs, sizeof(theirs)) != (ssize_t)sizeof(theirs))
		die("read the child's descriptor number");
	int pidfd = pidfd_open(pid, 0);
	if (pidfd < 0)
		die("pidfd_open");
	int fd = via_syscall ? (int)syscall(SYS_pidfd_getfd, pidfd, theirs, 0)
	                     : pidfd_getfd(pidfd, theirs, 0);
	if (fd < 0)
		die("pidfd_getfd");
	close(sock); /* the child exits */
	waitpid(pid, NULL, 0);
	return fd;
}

/* "handle-path": the handle opened O_PATH, which moves no data. */
static int handle_flags = O_RDONLY;

static int by_handle(const char *file)
{
	struct file_handle *h = malloc(sizeof(*h) + MAX_HANDLE_SZ);
	if (!h)
		die("malloc");
	h->handle_bytes = MAX_HANDLE_SZ;
	int mount_id;
	if (name_to_handle_at(AT_FDCWD, file, h, &mount_id, 0) < 0)
		die("name_to_handle_at");
	char *dir = strdup(file), *slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	int mfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* same mount */
	if (mfd < 0)
		die("open the directory");
	free(dir);
	int fd = via_syscall ? (int)syscall(SYS_open_by_handle_at, mfd, h, handle_flags)
	                     : open_by_handle_at(mfd, h, handle_flags);
	if (fd < 0)
		die("open_by_handle_at");
	close(mfd);
	free(h);
	return fd;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "send")) {
		int fd = open(argv[3], O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			die(argv[3]);
		send_fd(atoi(argv[2]), fd);
		return 0;
	}
	if (argc == 4 && !strcmp(argv[1], "hold")) {
		int sock = atoi(argv[2]), fd = open(argv[3], O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			die(argv[3]);
		char byte;
		if (write(sock, &fd, sizeof(fd)) != (ssize_t)sizeof(fd) || read(sock, &byte, 1) < 0)
			die("hold");
		return 0;
	}
	int fd;
	size_t ml = argc > 1 ? strlen(argv[1]) : 0;
	if (ml > 4 && !strcmp(argv[1] + ml - 4, "-sys")) {
		via_syscall = true;
		argv[1][ml - 4] = 0;
	}
	if (argc == 3 && !strcmp(argv[1], "scm"))
		fd = received(argv[0], argv[2], false);
	else if (argc == 3 && !strcmp(argv[1], "scmm"))
		fd = received(argv[0], argv[2], true);
	else if (argc == 3 && !strcmp(argv[1], "pidfd"))
		fd = taken(argv[0], argv[2]);
	else if (argc == 3 && !strcmp(argv[1], "handle"))
		fd = by_handle(argv[2]);
	else if (argc == 3 && !strcmp(argv[1], "handle-path")) {
		handle_flags = O_PATH;
		fd = by_handle(argv[2]);
	} else if (argc == 4 && !strcmp(argv[1], "at")) {
		int dfd = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			die(argv[2]);
		fd = openat(dfd, argv[3], O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			die(argv[3]);
	} else {
		fprintf(stderr, "usage: fd_arrivals scm|scmm|pidfd|handle|handle-path FILE | at "
		                "DIR NAME\n");
		return 2;
	}
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n < 0)
		die("read");
	fwrite(buf, 1, (size_t)n, stdout);
	return 0;
}
