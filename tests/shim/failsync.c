/*
 * A fault-injection preload for the shim's tests: fsync and fdatasync fail
 * with EIO on descriptors whose path contains $CSM_FAIL_SYNC_PATH, while
 * the file $CSM_FAIL_SYNC_WHEN exists.  Preloaded after libcsumshim.so
 * (LD_PRELOAD="libcsumshim.so failsync.so"), it is what the shim's own
 * dlsym(RTLD_NEXT, "fdatasync") finds: the engine's syncs fail, the
 * program's calls still reach the shim first.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int should_fail(int fd)
{
	const char *sub = getenv("CSM_FAIL_SYNC_PATH"), *when = getenv("CSM_FAIL_SYNC_WHEN");
	if (!sub || !when || access(when, F_OK) != 0)
		return 0;
	char link[64], target[4096];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	if (n <= 0)
		return 0;
	target[n] = 0;
	return strstr(target, sub) != NULL;
}

int fsync(int fd)
{
	static int (*real)(int);
	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	if (should_fail(fd)) {
		errno = EIO;
		return -1;
	}
	return real(fd);
}

int fdatasync(int fd)
{
	static int (*real)(int);
	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	if (should_fail(fd)) {
		errno = EIO;
		return -1;
	}
	return real(fd);
}
