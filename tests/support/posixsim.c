/* Power-loss simulation for the POSIX backend; see posixsim.h. */
#define _GNU_SOURCE
#include "posixsim.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "testlib.h"

static struct {
	bool interleaved, failed;
	struct psim_opts o;
	char path[2][256];
	int fd_store[1024]; /* fd -> store + 1; 0: not ours */
	struct mem_backend shadow;
	struct csm_backend sv; /* the shadow's ops */
} sim;
static struct psim_counts counts; /* since the start, across psim_init */

static int store_of(int fd)
{
	CHECK(fd >= 0 && fd < 1024 && sim.fd_store[fd], "fd %d is not a simulated file", fd);
	return sim.fd_store[fd] - 1;
}

static ssize_t s_pwritev_at(int fd, const struct iovec *iov, int cnt, off_t off, bool durable)
{
	if (sim.failed) {
		errno = EIO;
		return -1;
	}
	ssize_t r = pwritev(fd, iov, cnt, off);
	if (r > 0) {
		struct iovec v[8];
		int k = 0;
		size_t left = (size_t)r;
		for (int i = 0; i < cnt && left && k < 8; i++, k++) {
			v[k] = iov[i];
			if (v[k].iov_len > left)
				v[k].iov_len = left;
			left -= v[k].iov_len;
		}
		enum csm_store st = (enum csm_store)store_of(fd);
		ssize_t w =
		        durable ? sim.sv.ops->pwritev_durable(sim.sv.ctx, st, v, k, (uint64_t)off)
		                : sim.sv.ops->pwritev(sim.sv.ctx, st, v, k, (uint64_t)off);
		CHECK(w == r, "shadow write");
	}
	return r;
}

static ssize_t s_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	struct iovec v = {(void *)buf, n};
	return s_pwritev_at(fd, &v, 1, off, false);
}

static ssize_t s_pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	return s_pwritev_at(fd, iov, cnt, off, false);
}

static ssize_t s_pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	if (sim.o.no_dsync && (flags & RWF_DSYNC)) {
		counts.dsync_refused++;
		errno = EOPNOTSUPP;
		return -1;
	}
	CHECK((flags & ~RWF_DSYNC) == 0, "pwritev2 flags %#x", flags);
	if (flags & RWF_DSYNC)
		counts.dsync_writes++;
	/* The real write needs no RWF_DSYNC: durability is simulated. */
	return s_pwritev_at(fd, iov, cnt, off, (flags & RWF_DSYNC) != 0);
}

static int s_sync(int fd)
{
	if (sim.failed) {
		errno = EIO;
		return -1;
	}
	counts.syncs++;
	int rc = sim.sv.ops->sync(sim.sv.ctx, (enum csm_store)store_of(fd), true);
	CHECK(rc == 0);
	return 0;
}

static int s_ftruncate(int fd, off_t size)
{
	if (sim.failed) {
		errno = EIO;
		return -1;
	}
	if (ftruncate(fd, size) < 0)
		return -1;
	CHECK(sim.sv.ops->set_size(sim.sv.ctx, (enum csm_store)store_of(fd), (uint64_t)size) == 0);
	return 0;
}

static int s_fallocate(int fd, int mode, off_t off, off_t len)
{
	if (sim.o.no_punch && (mode & FALLOC_FL_PUNCH_HOLE)) {
		counts.punch_refused++;
		errno = EOPNOTSUPP;
		return -1;
	}
	if (sim.failed) {
		errno = EIO;
		return -1;
	}
	CHECK(mode == (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE), "fallocate mode %#x", mode);
	if (fallocate(fd, mode, off, len) < 0)
		return -1;
	counts.punches++;
	CHECK(sim.sv.ops->zero_range(sim.sv.ctx, (enum csm_store)store_of(fd), (uint64_t)off,
	                             (uint64_t)len) == 0);
	return 0;
}

static off_t s_lseek(int fd, off_t off, int whence)
{
	if (sim.o.no_seek_data && (whence == SEEK_DATA || whence == SEEK_HOLE)) {
		errno = EINVAL;
		return -1;
	}
	return lseek(fd, off, whence);
}

static int s_close(int fd)
{
	if (fd >= 0 && fd < 1024)
		sim.fd_store[fd] = 0;
	return close(fd);
}

static struct csm_sysio sysio(void)
{
	struct csm_sysio s;
	csm_sysio_libc(&s);
	s.pwrite = s_pwrite;
	s.pwritev = s_pwritev;
	s.pwritev2 = s_pwritev2;
	s.fsync = s_sync;
	s.fdatasync = s_sync;
	s.ftruncate = s_ftruncate;
	s.fallocate = s_fallocate;
	s.lseek = s_lseek;
	s.close = s_close;
	return s;
}

void psim_init(bool interleaved, const struct psim_opts *o)
{
	memset(&sim, 0, sizeof(sim));
	sim.interleaved = interleaved;
	if (o)
		sim.o = *o;
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	for (int i = 0; i < (interleaved ? 1 : 2); i++) {
		snprintf(sim.path[i], sizeof(sim.path[i]), "%s/csumshim-psim-XXXXXX", dir);
		int fd = mkstemp(sim.path[i]);
		CHECK(fd >= 0, "mkstemp in %s", dir);
		close(fd);
	}
	mem_backend_init(&sim.shadow, interleaved);
	sim.sv = mem_backend_view(&sim.shadow);
}

struct csm_backend psim_view(void)
{
	int fd[2];
	for (int i = 0; i < (sim.interleaved ? 1 : 2); i++) {
		fd[i] = open(sim.path[i], O_RDWR | O_CLOEXEC);
		CHECK(fd[i] >= 0 && fd[i] < 1024);
		sim.fd_store[fd[i]] = i + 1;
	}
	if (sim.interleaved)
		fd[1] = fd[0];
	struct csm_sysio s = sysio();
	struct csm_backend be;
	CHECK(csm_backend_posix(&be, fd[0], fd[1], true, &s) == 0);
	return be;
}

/* Read a file whole. */
static uint8_t *slurp(const char *path, uint64_t *size)
{
	struct stat st;
	CHECK(stat(path, &st) == 0);
	*size = (uint64_t)st.st_size;
	uint8_t *b = malloc(*size ? *size : 1);
	CHECK(b);
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0 && pread(fd, b, *size, 0) == (ssize_t)*size);
	close(fd);
	return b;
}

void psim_start(void)
{
	for (int i = 0; i < (sim.interleaved ? 1 : 2); i++) {
		uint64_t size;
		uint8_t *b = slurp(sim.path[i], &size);
		enum csm_store st = (enum csm_store)i;
		CHECK(sim.sv.ops->set_size(sim.sv.ctx, st, 0) == 0);
		struct iovec v = {b, size};
		if (size)
			CHECK(sim.sv.ops->pwritev(sim.sv.ctx, st, &v, 1, 0) == (ssize_t)size);
		free(b);
	}
	mem_crashsim_start(&sim.shadow);
}

void psim_fail(bool failed)
{
	sim.failed = failed;
}

uint64_t psim_crash(uint64_t *seed, unsigned keep_permille, bool torn)
{
	uint64_t kept = mem_crash(&sim.shadow, seed, keep_permille, torn);
	for (int i = 0; i < (sim.interleaved ? 1 : 2); i++) {
		const struct mem_store *s = mem_store_of(&sim.shadow, (enum csm_store)i);
		int fd = open(sim.path[i], O_RDWR | O_TRUNC);
		CHECK(fd >= 0);
		CHECK(ftruncate(fd, (off_t)s->size) == 0);
		CHECK(s->size == 0 || pwrite(fd, s->buf, s->size, 0) == (ssize_t)s->size);
		close(fd);
	}
	return kept; /* the shadow goes on from what survived, as the files do */
}

void psim_free(void)
{
	for (int i = 0; i < (sim.interleaved ? 1 : 2); i++)
		unlink(sim.path[i]);
	mem_backend_free(&sim.shadow);
}

struct psim_counts psim_counts(void)
{
	return counts;
}
