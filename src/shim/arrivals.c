/*
 * Descriptors that arrive other than by open(): received over a Unix
 * socket (SCM_RIGHTS, with recvmsg or recvmmsg), opened from a file handle
 * (open_by_handle_at) or copied from another process (pidfd_getfd).  Each
 * is identified and adopted as inherited descriptors are at start-up
 * (shim_adopt_fd): a protected file read through it is verified, one that
 * cannot be opened as a csumshim file is replaced by /dev/null.
 */
#define _GNU_SOURCE
#include <string.h>
#include <sys/socket.h>

#include "wrap.h"

/* Every descriptor an SCM_RIGHTS message carried. */
static void adopt_rights(const struct msghdr *m)
{
	if (!m || !m->msg_control || !active())
		return;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR((struct msghdr *)m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
		    c->cmsg_len < CMSG_LEN(0))
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			GUARDED(shim_adopt_fd(fd, "received"));
		}
	}
}

API ssize_t recvmsg(int sock, struct msghdr *m, int flags)
{
	ssize_t r = REAL(recvmsg)(sock, m, flags);
	if (r >= 0)
		adopt_rights(m);
	return r;
}

API int recvmmsg(int sock, struct mmsghdr *v, unsigned n, int flags, struct timespec *timeout)
{
	int r = REAL(recvmmsg)(sock, v, n, flags, timeout);
	for (int i = 0; i < r; i++)
		adopt_rights(&v[i].msg_hdr);
	return r;
}

static int adopted(int fd, const char *how)
{
	if (fd >= 0 && active())
		GUARDED(shim_adopt_fd(fd, how));
	return fd;
}

API int open_by_handle_at(int mount_fd, struct file_handle *h, int flags)
{
	return adopted(REAL(open_by_handle_at)(mount_fd, h, flags), "opened by handle");
}

API int pidfd_getfd(int pidfd, int targetfd, unsigned flags)
{
	return adopted(REAL(pidfd_getfd)(pidfd, targetfd, flags), "taken from another process");
}
