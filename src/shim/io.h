/*
 * The seam between the shim and what serves a protected file's bytes.
 *
 * The wrappers never call an engine directly: every open file (one per
 * inode, state.h) has a struct shim_io, an ops table and a handle, chosen
 * once when the file is attached (engines.c) by its config rule's
 * `format`:
 *
 *   - csumshim (default): csumshim's engine (engine.h), io.c;
 *   - dm-csum: the seed's format through dmcsum_io.h, dmcsum.c — a fixed
 *     size, like a block device (see there for what each op does).
 *
 * Every op behaves like the engine call it is named after: -1 (or a short
 * count) with errno set, never a negative errno.  Adding a third format is
 * one more table; no wrapper changes.
 */
#ifndef CSUMSHIM_SHIM_IO_H
#define CSUMSHIM_SHIM_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct shim_io_ops {
	ssize_t (*pread)(void *h, void *buf, size_t n, uint64_t off);
	/* flags: CSM_WR_DSYNC or CSM_WR_SYNC (engine.h): the write, then the
	 * matching sync covering it; a write that cannot be made durable fails. */
	ssize_t (*pwrite)(void *h, const void *buf, size_t n, uint64_t off, unsigned flags);
	/* O_APPEND: find the end and write there as one step; *at: where. */
	ssize_t (*append)(void *h, const void *buf, size_t n, uint64_t *at, unsigned flags);
	uint64_t (*size)(void *h);
	uint64_t (*size_refresh)(void *h); /* as stored now (other processes) */
	int (*truncate)(void *h, uint64_t size);
	int (*zero_range)(void *h, uint64_t off, uint64_t len);
	int (*fsync)(void *h, bool datasync);
	void (*advise)(void *h, uint64_t off, uint64_t len, int advice);
	int (*close)(void *h);
	/* A normal exit: leave the file as close() would, free nothing (other
	 * threads may still be running, unless sole: the exiting thread is
	 * the process's only one). */
	int (*exit)(void *h, bool sole);
	/* In a forked child: drop the descriptors, unlock and free nothing. */
	void (*abandon)(void *h);
};

struct shim_io {
	const struct shim_io_ops *ops;
	void *h;
};

/* An implementation's table, from its functions P##pread ... P##abandon
 * (each op filled, in one place). */
#define SHIM_IO_TABLE(name, P)                   \
	const struct shim_io_ops name = {        \
	        .pread = P##pread,               \
	        .pwrite = P##pwrite,             \
	        .append = P##append,             \
	        .size = P##size,                 \
	        .size_refresh = P##size_refresh, \
	        .truncate = P##truncate,         \
	        .zero_range = P##zero_range,     \
	        .fsync = P##fsync,               \
	        .advise = P##advise,             \
	        .close = P##close,               \
	        .exit = P##exit,                 \
	        .abandon = P##abandon,           \
	}

/* The two implementations. */
extern const struct shim_io_ops shim_io_csumshim; /* h: struct csm_engine * */
extern const struct shim_io_ops shim_io_dmcsum;   /* h: dmcsum.c's */

/* A new shim_io for handle h, or NULL (ENOMEM; h is then still the
 * caller's). */
struct shim_io *shim_io_new(const struct shim_io_ops *ops, void *h);
/* Close the handle and free io; 0 or -1 with errno. */
int shim_io_close(struct shim_io *io);
/* Abandon the handle (fork child) and free io. */
void shim_io_abandon(struct shim_io *io);

static inline ssize_t io_pread(struct shim_io *io, void *buf, size_t n, uint64_t off)
{
	return io->ops->pread(io->h, buf, n, off);
}

static inline ssize_t io_pwrite(struct shim_io *io, const void *buf, size_t n, uint64_t off,
                                unsigned flags)
{
	return io->ops->pwrite(io->h, buf, n, off, flags);
}

static inline ssize_t io_append(struct shim_io *io, const void *buf, size_t n, uint64_t *at,
                                unsigned flags)
{
	return io->ops->append(io->h, buf, n, at, flags);
}

static inline uint64_t io_size(struct shim_io *io)
{
	return io->ops->size(io->h);
}

static inline uint64_t io_size_refresh(struct shim_io *io)
{
	return io->ops->size_refresh(io->h);
}

static inline int io_truncate(struct shim_io *io, uint64_t size)
{
	return io->ops->truncate(io->h, size);
}

static inline int io_zero_range(struct shim_io *io, uint64_t off, uint64_t len)
{
	return io->ops->zero_range(io->h, off, len);
}

static inline int io_fsync(struct shim_io *io, bool datasync)
{
	return io->ops->fsync(io->h, datasync);
}

static inline void io_advise(struct shim_io *io, uint64_t off, uint64_t len, int advice)
{
	io->ops->advise(io->h, off, len, advice);
}

static inline int io_exit(struct shim_io *io, bool sole)
{
	return io->ops->exit(io->h, sole);
}

#endif
