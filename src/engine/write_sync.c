/*
 * Synchronous writes: O_DSYNC, O_SYNC, RWF_DSYNC, RWF_SYNC.
 *
 * POSIX defines them as the write followed by fdatasync (DSYNC) or fsync
 * (SYNC) covering it.  csm_fsync makes the data, the checksums naming it and
 * the logical size durable — everything a read after a power cut needs —
 * so a synchronous write is exactly that: the write, then csm_fsync.  A
 * write that moved some bytes and then could not make them durable fails:
 * the program was promised durability and must not believe it has it.
 */
#include "csumshim/engine.h"

static ssize_t then_sync(struct csm_engine *e, ssize_t n, unsigned flags)
{
	if (n <= 0 || !(flags & (CSM_WR_DSYNC | CSM_WR_SYNC)))
		return n;
	if (csm_fsync(e, !(flags & CSM_WR_SYNC)) < 0)
		return -1; /* errno from csm_fsync */
	return n;
}

ssize_t csm_pwrite_flags(struct csm_engine *e, const void *buf, size_t n, uint64_t off,
                         unsigned flags)
{
	return then_sync(e, csm_pwrite(e, buf, n, off), flags);
}

ssize_t csm_append_flags(struct csm_engine *e, const void *buf, size_t n, uint64_t *at,
                         unsigned flags)
{
	return then_sync(e, csm_append(e, buf, n, at), flags);
}
