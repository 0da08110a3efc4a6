/*
 * dm-csum I/O: logical reads and writes on a file or device in the seed's
 * format (dmcsum.h), over the same storage backends as the engine.
 *
 * Callers see a byte array of csm_dmc_size() bytes, a whole number of
 * 512-byte sectors, fixed at format time (the format records no size: it
 * follows from the stores' sizes).  Every sector read is checked against
 * both brothers' tuples; a write follows the seed's protocol — the older
 * brother, rebuilt, is written before the data — with its flaws fixed
 * where that keeps the bytes compatible:
 *
 *   - the rebuilt brother carries the newer one's tuples forward (the seed
 *     updated the older one in place, so it kept tuples from two updates
 *     ago and reads accepted stale data);
 *   - before that, tuples on which the brothers disagree, outside the
 *     write, are settled against the stored data (an update cut short by a
 *     crash must not be carried forward over the only brother that matches
 *     the data, see docs/DESIGN.md "Settle");
 *   - imd header CRCs are checked (the seed left it a TODO; every imd
 *     sector its code wrote has a valid one);
 *   - a partial-sector write reads and verifies the old sector first;
 *   - per-group reader/writer locks instead of one global mutex.
 *
 * No metadata cache: every call reads the brothers it needs.  Several
 * processes: a write holds its group's OFD lock (CSM_LOCK_GROUP on the
 * metadata store, as the engine's), and a read that finds a mismatch reads
 * the group again under the shared lock before reporting it, so another
 * process's write in progress is never taken for corruption.  Functions
 * return -1 and set
 * errno like system calls: EIO for a sector that matches neither brother,
 * a group with no valid brother, or (writes) brothers the wrap rule cannot
 * order; ENOSPC at or past the end; EBADF writing a read-only handle.
 */
#ifndef CSUMSHIM_DMCSUM_IO_H
#define CSUMSHIM_DMCSUM_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "csumshim/backend.h"
#include "csumshim/dmcsum.h"
#include "csumshim/engine.h"

#ifdef __cplusplus
extern "C" {
#endif

struct csm_dmc;

enum csm_dmc_event_kind {
	CSM_DMC_EV_MISMATCH = 1, /* a data sector matches neither brother */
	CSM_DMC_EV_IMD_DAMAGED,  /* an imd sector's header CRC does not match */
	CSM_DMC_EV_UNDECIDABLE,  /* both brothers valid, unordered: writes refused */
	CSM_DMC_EV_GROUP_BROKEN, /* neither brother valid: the group is unreadable */
	CSM_DMC_EV_IO_ERROR,     /* the backend failed */
};

const char *csm_dmc_event_name(enum csm_dmc_event_kind k);

struct csm_dmc_event {
	enum csm_dmc_event_kind kind;
	uint64_t sector; /* MISMATCH: logical sector */
	uint64_t group;
	int slot;      /* IMD_DAMAGED: 0 = M1, 1 = M2 */
	uint8_t lu[2]; /* UNDECIDABLE: both last_updated */
	int err;       /* IO_ERROR: positive errno */
};

/* Called with a group lock held: must not call back into the handle. */
typedef void (*csm_dmc_report_fn)(void *arg, const struct csm_dmc_event *ev);

struct csm_dmc_format_opts {
	unsigned layout;   /* CSM_LAYOUT_INTERLEAVED ("same", 0 too) or _SEPARATE ("diff") */
	uint64_t size;     /* logical bytes, a multiple of 512 */
	bool use_capacity; /* size = what the (fixed) stores hold */
};

/* Format: resizable stores are emptied and sized for opts.size; fixed ones
 * (devices) are zeroed.  Then every pair is written as mk-dm-csum does
 * (last_updated 2 and 1, all else zero) and the stores synced.  Returns 0
 * or a negative errno with a one-line message.  Does not take *be. */
int csm_dmc_format(struct csm_backend *be, const struct csm_dmc_format_opts *fo, char *err,
                   size_t errlen);

struct csm_dmc_opts {
	unsigned layout; /* as for csm_dmc_format */
	bool readonly;
	csm_dmc_report_fn report;
	void *report_arg;
};

/* Open formatted stores; the size follows from theirs.  Takes ownership of
 * *be (also on failure).  Returns 0 or a negative errno with a message. */
int csm_dmc_open(struct csm_backend *be, const struct csm_dmc_opts *o, struct csm_dmc **out,
                 char *err, size_t errlen);
/* Frees the handle (no sync: call csm_dmc_fsync first). */
int csm_dmc_close(struct csm_dmc *d);
/* In a forked child: close the descriptors; free, unlock nothing (the
 * parent's threads may hold the handle's locks). */
void csm_dmc_abandon(struct csm_dmc *d);

uint64_t csm_dmc_size(const struct csm_dmc *d); /* bytes */
unsigned csm_dmc_layout(const struct csm_dmc *d);

/* A read that meets a bad sector returns the verified prefix first (a
 * short count), then -1/EIO; the buffer past the prefix is zeroed. */
ssize_t csm_dmc_pread(struct csm_dmc *d, void *buf, size_t n, uint64_t off);
/* The same, except that a read meeting a bad sector fails whole (-1 and
 * errno, the buffer zeroed), as the engine's csm_pread does: the shim's. */
ssize_t csm_dmc_pread_whole(struct csm_dmc *d, void *buf, size_t n, uint64_t off);
ssize_t csm_dmc_pwrite(struct csm_dmc *d, const void *buf, size_t n, uint64_t off);
int csm_dmc_fsync(struct csm_dmc *d);

/* Scrub: every group's brothers and every data sector, each problem
 * reported as an event. */
struct csm_dmc_check_result {
	uint64_t sectors;
	uint64_t groups;
	uint64_t bad_sectors;
	uint64_t damaged_imd;
	uint64_t undecidable_groups;
	uint64_t broken_groups;
};
int csm_dmc_check(struct csm_dmc *d, csm_progress_fn progress, void *arg,
                  struct csm_dmc_check_result *res);

struct csm_dmc_stats {
	uint64_t mismatches;
	uint64_t imd_damaged;
	uint64_t io_errors;
	struct csm_dmc_event first; /* kind 0 if none */
};
void csm_dmc_stats(struct csm_dmc *d, struct csm_dmc_stats *st);

/* Raw access for dump/corrupt: no checks, no locks. */
ssize_t csm_dmc_raw_pread(struct csm_dmc *d, enum csm_store st, void *buf, size_t n, uint64_t off);
ssize_t csm_dmc_raw_pwrite(struct csm_dmc *d, enum csm_store st, const void *buf, size_t n,
                           uint64_t off);

#ifdef __cplusplus
}
#endif
#endif
