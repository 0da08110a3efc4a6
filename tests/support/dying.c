/* The killable backend (dying.h). */
#include "dying.h"

#include <errno.h>

struct dying dying;

/* May one more storage change land? */
static bool step(void)
{
	if (dying.dead)
		return false;
	if (dying.budget >= 0 && dying.budget-- == 0)
		dying.dead = true;
	return !dying.dead;
}

static ssize_t landed_write(ssize_t r, enum csm_store st, uint64_t off)
{
	if (r >= 0 && dying.after_super && st == CSM_META && off == 0)
		dying.dead = true; /* the superblock is the last write that lands */
	return r;
}

static ssize_t d_pwritev(void *ctx, enum csm_store st, const struct iovec *iov, int cnt,
                         uint64_t off)
{
	if (!step())
		return -EIO;
	return landed_write(dying.inner.ops->pwritev(ctx, st, iov, cnt, off), st, off);
}

static ssize_t d_pwritev_durable(void *ctx, enum csm_store st, const struct iovec *iov, int cnt,
                                 uint64_t off)
{
	if (!step())
		return -EIO;
	return landed_write(dying.inner.ops->pwritev_durable(ctx, st, iov, cnt, off), st, off);
}

static int d_sync(void *ctx, enum csm_store st, bool datasync)
{
	return step() ? dying.inner.ops->sync(ctx, st, datasync) : -EIO;
}

static int d_set_size(void *ctx, enum csm_store st, uint64_t size)
{
	if (!step())
		return -EIO;
	int r = dying.inner.ops->set_size(ctx, st, size);
	if (r == 0 && dying.after_meta_size && st == CSM_META)
		dying.dead = true;
	return r;
}

static int d_zero_range(void *ctx, enum csm_store st, uint64_t off, uint64_t len)
{
	return step() ? dying.inner.ops->zero_range(ctx, st, off, len) : -EIO;
}

struct csm_backend dying_wrap(struct csm_backend inner)
{
	dying.inner = inner;
	dying.ops = *inner.ops;
	dying.ops.pwritev = d_pwritev;
	if (dying.ops.pwritev_durable)
		dying.ops.pwritev_durable = d_pwritev_durable;
	dying.ops.sync = d_sync;
	dying.ops.set_size = d_set_size;
	dying.ops.zero_range = d_zero_range;
	dying.budget = -1;
	dying.after_super = false;
	dying.after_meta_size = false;
	dying.dead = false;
	struct csm_backend wb = inner;
	wb.ops = &dying.ops;
	return wb;
}
