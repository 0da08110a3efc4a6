/*
 * Mappings of a protected file under the shim (run by run_maps.sh with a
 * config protecting DIR/p/): private copies, read-only or writable, hold
 * verified data; a shared mapping is allowed only while nobody has the file
 * open for writing, makes opens for writing fail ETXTBSY in this and other
 * processes while it exists, cannot be made writable, and lets writers in
 * again once the last of it is unmapped; mremap fills what it grows.
 * Usage: test_maps DIR, or test_maps --open-write PATH (a second process:
 * exit 0 if it opened PATH for writing, 3 on ETXTBSY, 4 otherwise), or
 * test_maps --hold-write PATH (keeps PATH open for writing until stdin
 * closes).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "shimcase.h"

static const char *self;

/* Another process (under the shim too: LD_PRELOAD is inherited) opening
 * the file for writing: its exit status. */
static int other_open_write(const char *p)
{
	pid_t pid = fork();
	if (pid == 0) {
		execl(self, self, "--open-write", p, (char *)NULL);
		_exit(5);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int main(int argc, char **argv)
{
	self = argv[0];
	if (argc == 3 && !strcmp(argv[1], "--open-write")) {
		int fd = open(argv[2], O_WRONLY);
		return fd >= 0 ? 0 : errno == ETXTBSY ? 3 : 4;
	}
	if (argc == 3 && !strcmp(argv[1], "--hold-write")) {
		int fd = open(argv[2], O_RDWR);
		if (fd < 0)
			return 4;
		char c;
		write(1, "r", 1);
		while (read(0, &c, 1) > 0)
			;
		return 0;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: test_maps DIR\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	char p[600];
	snprintf(p, sizeof(p), "%s/p/map.img", argv[1]);
	long pg = sysconf(_SC_PAGESIZE);
	size_t size = 3 * (size_t)pg;
	uint8_t *data = malloc(size);
	for (size_t i = 0; i < size; i++)
		data[i] = (uint8_t)(i * 13 + (i >> 12));
	int w = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
	CASE("write", w >= 0 && pwrite(w, data, size, 0) == (ssize_t)size);

	/* Private copies, with a writer present: fine, read-only or writable. */
	uint8_t *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, w, 0);
	CASE("private ro", m != MAP_FAILED && !memcmp(m, data, size));
	munmap(m, size);
	m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, w, 0);
	CASE("private rw", m != MAP_FAILED && !memcmp(m, data, size));
	if (m != MAP_FAILED)
		m[5] = (uint8_t)~data[5];
	uint8_t b = 0;
	CASE("private rw stays private", pread(w, &b, 1, 5) == 1 && b == data[5]);
	/* mremap grows a private copy with the file's content. */
	uint8_t *small = mmap(NULL, (size_t)pg, PROT_READ, MAP_PRIVATE, w, 0);
	uint8_t *grown =
	        small == MAP_FAILED ? MAP_FAILED : mremap(small, (size_t)pg, size, MREMAP_MAYMOVE);
	CASE("mremap grows", grown != MAP_FAILED && !memcmp(grown, data, size));
	/* MREMAP_DONTUNMAP would leave zeros behind: refused. */
	errno = 0;
	CASE("mremap DONTUNMAP refused",
	     grown != MAP_FAILED &&
	             mremap(grown, size, size, MREMAP_MAYMOVE | MREMAP_DONTUNMAP) == MAP_FAILED &&
	             errno == EINVAL && !memcmp(grown, data, size));
	if (grown != MAP_FAILED)
		munmap(grown, size);
	/* Dropping a copy's pages: a file mapping shows the file again
	 * (private changes gone), never zeros; MADV_FREE is refused as the
	 * kernel refuses it on a file's mapping. */
	CASE("private DONTNEED",
	     m != MAP_FAILED && madvise(m, size, MADV_DONTNEED) == 0 && !memcmp(m, data, size));
	CASE("private DONTNEED via syscall",
	     m != MAP_FAILED &&
	             (m[7] = 1, syscall(SYS_madvise, m + pg, (size_t)pg, MADV_DONTNEED) == 0) &&
	             m[7] == 1 && !memcmp(m + pg, data + pg, (size_t)pg));
	errno = 0;
	CASE("private MADV_FREE refused", m != MAP_FAILED && madvise(m, size, MADV_FREE) == -1 &&
	                                          errno == EINVAL && m[8] == data[8]);
	munmap(m, size);

	/* A shared mapping while the file is open for writing: refused. */
	errno = 0;
	m = mmap(NULL, size, PROT_READ, MAP_SHARED, w, 0);
	CASE("shared with a writer here", m == MAP_FAILED && errno == ENODEV);
	close(w);

	/* ... and while another process has it open for writing. */
	int in[2], out[2];
	pipe(in);
	pipe(out);
	pid_t holder = fork();
	if (holder == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execl(self, self, "--hold-write", p, (char *)NULL);
		_exit(5);
	}
	close(in[0]);
	close(out[1]);
	char ready = 0;
	CASE("holder ready", read(out[0], &ready, 1) == 1 && ready == 'r');
	int r = open(p, O_RDONLY);
	errno = 0;
	m = mmap(NULL, size, PROT_READ, MAP_SHARED, r, 0);
	CASE("shared with a writer elsewhere", m == MAP_FAILED && errno == ENODEV);
	close(in[1]);
	waitpid(holder, NULL, 0);
	close(out[0]);

	/* No writer anywhere: a shared read-only mapping, verified. */
	m = mmap(NULL, size, PROT_READ, MAP_SHARED, r, 0);
	CASE("shared, no writer", m != MAP_FAILED && !memcmp(m, data, size));
	close(r); /* the mapping outlives its descriptor */
	errno = 0;
	CASE("write open here: ETXTBSY", open(p, O_RDWR) == -1 && errno == ETXTBSY);
	CASE("write open elsewhere: ETXTBSY", other_open_write(p) == 3);
	errno = 0;
	CASE("mprotect write refused",
	     m != MAP_FAILED && mprotect(m, size, PROT_READ | PROT_WRITE) == -1 && errno == EACCES);
	CASE("read-only open still fine", (r = open(p, O_RDONLY)) >= 0 && close(r) == 0);
	CASE("shared DONTNEED",
	     m != MAP_FAILED && madvise(m, size, MADV_DONTNEED) == 0 && !memcmp(m, data, size));
	/* Part of it unmapped: still mapped. */
	CASE("munmap middle", m != MAP_FAILED && munmap(m + pg, (size_t)pg) == 0);
	CASE("still ETXTBSY", other_open_write(p) == 3);
	CASE("munmap rest", munmap(m, (size_t)pg) == 0 && munmap(m + 2 * pg, (size_t)pg) == 0);
	CASE("write open elsewhere after", other_open_write(p) == 0);
	w = open(p, O_RDWR);
	CASE("write open here after", w >= 0);
	CASE("content unchanged", w >= 0 && pread(w, data + 0, 0, 0) == 0);
	close(w);

	/* A writer a fork child inherited: the parent closing its own must
	 * not release the child's lock byte (they shared one description). */
	w = open(p, O_RDWR);
	int hold[2];
	pipe(hold);
	fflush(stdout);
	pid_t kid = fork();
	if (kid == 0) {
		char x;
		close(hold[1]);
		_exit(read(hold[0], &x, 1) < 0);
	}
	close(hold[0]);
	close(w);
	r = open(p, O_RDONLY);
	errno = 0;
	m = mmap(NULL, size, PROT_READ, MAP_SHARED, r, 0);
	CASE("fork child's writer keeps mappings out", m == MAP_FAILED && errno == ENODEV);
	close(hold[1]);
	CASE("fork child done", waitpid(kid, NULL, 0) == kid);
	m = mmap(NULL, size, PROT_READ, MAP_SHARED, r, 0);
	CASE("mapping once the child is gone", m != MAP_FAILED && !memcmp(m, data, size));
	/* ... and a mapping a child inherited keeps writers out. */
	pipe(hold);
	kid = fork();
	if (kid == 0) {
		char x;
		close(hold[1]);
		_exit(read(hold[0], &x, 1) < 0);
	}
	close(hold[0]);
	CASE("munmap in the parent", m != MAP_FAILED && munmap(m, size) == 0);
	CASE("child's mapping keeps writers out", other_open_write(p) == 3);
	close(hold[1]);
	CASE("second child done", waitpid(kid, NULL, 0) == kid);
	CASE("writers once it is gone", other_open_write(p) == 0);
	close(r);
	printf("maps: %d passed, %d failed\n", cases - failures, failures);
	free(data);
	return failures ? 1 : 0;
}
