/*
 * The seam's csumshim side: csumshim's engine (engine.h) as a shim_io
 * table, one line per op; and the shim_io life cycle.  See io.h.
 */
#include "io.h"

#include <errno.h>
#include <stdlib.h>

#include "csumshim/engine.h"

static ssize_t e_pread(void *h, void *buf, size_t n, uint64_t off)
{
	return csm_pread(h, buf, n, off);
}

static ssize_t e_pwrite(void *h, const void *buf, size_t n, uint64_t off, unsigned flags)
{
	return csm_pwrite_flags(h, buf, n, off, flags);
}

static ssize_t e_append(void *h, const void *buf, size_t n, uint64_t *at, unsigned flags)
{
	return csm_append_flags(h, buf, n, at, flags);
}

static uint64_t e_size(void *h)
{
	return csm_size(h);
}

static uint64_t e_size_refresh(void *h)
{
	return csm_size_refresh(h);
}

static int e_truncate(void *h, uint64_t size)
{
	return csm_truncate(h, size);
}

static int e_zero_range(void *h, uint64_t off, uint64_t len)
{
	return csm_zero_range(h, off, len);
}

static int e_fsync(void *h, bool datasync)
{
	return csm_fsync(h, datasync);
}

static void e_advise(void *h, uint64_t off, uint64_t len, int advice)
{
	csm_advise(h, off, len, advice);
}

static int e_close(void *h)
{
	return csm_close(h);
}

static int e_exit(void *h, bool sole)
{
	return sole ? csm_exit_sole(h) : csm_exit(h);
}

static void e_abandon(void *h)
{
	csm_abandon(h);
}

SHIM_IO_TABLE(shim_io_csumshim, e_);

struct shim_io *shim_io_new(const struct shim_io_ops *ops, void *h)
{
	struct shim_io *io = malloc(sizeof(*io));
	if (!io) {
		errno = ENOMEM;
		return NULL;
	}
	io->ops = ops;
	io->h = h;
	return io;
}

int shim_io_close(struct shim_io *io)
{
	int rc = io->ops->close(io->h);
	int err = errno;
	free(io);
	errno = err;
	return rc;
}

void shim_io_abandon(struct shim_io *io)
{
	io->ops->abandon(io->h);
	free(io);
}
