/*
 * The stores, through the backend: block-aligned buffers, vectored reads
 * that zero-fill past a store's end and writes that must be whole,
 * page-cache advice at the physical offsets of a logical range, and the
 * raw access of csm_raw_pread/csm_raw_pwrite.  Relies on the backend's
 * operations, and on events.c for fail().
 */
#define _GNU_SOURCE
#include "engine_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

/* Block-aligned buffers (O_DIRECT needs them); any size. */
void *alloc_aligned(size_t n)
{
	void *p;
	return posix_memalign(&p, ALIGN, n ? n : 1) == 0 ? p : NULL;
}

/* Read the iovecs whole, zero-filling past the end of the store; but the
 * first `need` bytes must exist: -ENODATA if the store ends before them
 * (v2: a lost tail, never zeros). */
int store_readv_need(struct csm_engine *e, enum csm_store st, struct iovec *iov, int cnt,
                     uint64_t off, size_t need)
{
	ssize_t r = e->be.ops->preadv(e->be.ctx, st, iov, cnt, off);
	if (r < 0)
		return (int)r;
	if ((size_t)r < need)
		return -ENODATA;
	size_t got = (size_t)r;
	for (int i = 0; i < cnt; i++) {
		if (got >= iov[i].iov_len) {
			got -= iov[i].iov_len;
			continue;
		}
		memset((char *)iov[i].iov_base + got, 0, iov[i].iov_len - got);
		got = 0;
	}
	return 0;
}

/* Read exactly the iovecs, zero-filling past the end of the store. */
int store_readv(struct csm_engine *e, enum csm_store st, struct iovec *iov, int cnt, uint64_t off)
{
	return store_readv_need(e, st, iov, cnt, off, 0);
}

/* How much of a logical size the stores hold (csm_geo_intact_size); the
 * size itself if they cannot tell. */
uint64_t store_intact_size(struct csm_engine *e, uint64_t size)
{
	uint64_t d = 0, m = 0;
	if (e->be.ops->get_size(e->be.ctx, CSM_DATA, &d) < 0 ||
	    e->be.ops->get_size(e->be.ctx, CSM_META, &m) < 0)
		return size;
	return csm_geo_intact_size(&e->geo, size, d, m);
}

int store_read(struct csm_engine *e, enum csm_store st, void *buf, size_t n, uint64_t off)
{
	struct iovec v = {buf, n};
	return store_readv(e, st, &v, 1, off);
}

int store_writev(struct csm_engine *e, enum csm_store st, const struct iovec *iov, int cnt,
                 uint64_t off)
{
	size_t want = 0;
	for (int i = 0; i < cnt; i++)
		want += iov[i].iov_len;
	ssize_t r = e->be.ops->pwritev(e->be.ctx, st, iov, cnt, off);
	if (r < 0)
		return (int)r;
	return (size_t)r == want ? 0 : -EIO;
}

int store_write(struct csm_engine *e, enum csm_store st, const void *buf, size_t n, uint64_t off)
{
	struct iovec v = {(void *)buf, n};
	return store_writev(e, st, &v, 1, off);
}

/* Page-cache advice on a logical range, passed to the stores at the
 * physical offsets that hold it (the program's own descriptor is not the
 * one the engine reads through). */
void csm_advise(struct csm_engine *e, uint64_t off, uint64_t len, int advice)
{
	const struct csm_backend_ops *ops = e->be.ops;
	const struct csm_geometry *geo = &e->geo;
	bool sep = geo->layout == CSM_LAYOUT_SEPARATE;
	if (!ops->advise)
		return;
	if (advice != POSIX_FADV_WILLNEED && advice != POSIX_FADV_DONTNEED) {
		/* Access-pattern advice: Linux applies it to the whole open file. */
		ops->advise(e->be.ctx, CSM_DATA, 0, 0, advice);
		if (sep)
			ops->advise(e->be.ctx, CSM_META, 0, 0, advice);
		return;
	}
	uint64_t size = csm_size(e);
	if (off >= size)
		return;
	uint64_t end = (len == 0 || len > size - off) ? size : off + len;
	uint64_t b0 = off >> geo->block_shift, b1 = (end - 1) >> geo->block_shift;
	uint64_t g0 = csm_geo_group_of(geo, b0), g1 = csm_geo_group_of(geo, b1);
	/* Interleaved, read-ahead: from the first group's brothers, so they
	 * come along (later groups' brothers lie inside the range). */
	sep = sep || geo->aligned; /* brothers apart from the data */
	uint64_t p0 = !sep && advice == POSIX_FADV_WILLNEED ? csm_geo_meta_offset(geo, g0, 0)
	                                                    : csm_geo_data_offset(geo, b0);
	uint64_t p1 = csm_geo_data_offset(geo, b1) + geo->block_size;
	ops->advise(e->be.ctx, CSM_DATA, p0, p1 - p0, advice);
	if (sep) {
		uint64_t m0 = csm_geo_meta_offset(geo, g0, 0);
		uint64_t m1 = csm_geo_meta_offset(geo, g1, 1) + geo->block_size;
		ops->advise(e->be.ctx, CSM_META, m0, m1 - m0, advice);
	}
}

ssize_t csm_raw_pread(struct csm_engine *e, enum csm_store st, void *buf, size_t n, uint64_t off)
{
	struct iovec v = {buf, n};
	ssize_t r = e->be.ops->preadv(e->be.ctx, st, &v, 1, off);
	return r < 0 ? fail((int)r) : r;
}

ssize_t csm_raw_pwrite(struct csm_engine *e, enum csm_store st, const void *buf, size_t n,
                       uint64_t off)
{
	struct iovec v = {(void *)buf, n};
	ssize_t r = e->be.ops->pwritev(e->be.ctx, st, &v, 1, off);
	return r < 0 ? fail((int)r) : r;
}
