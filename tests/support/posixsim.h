/*
 * Power-loss simulation for the POSIX backend.  csm_backend_posix() runs
 * over real temporary files through a table of system calls (struct
 * csm_sysio) that performs each call and also hands every change to a
 * shadow in-memory backend with crash simulation on (membackend.h): a
 * write, pwritev2(RWF_DSYNC), ftruncate, fallocate(PUNCH_HOLE) or
 * fsync/fdatasync of a descriptor becomes the same operation of the
 * shadow's store.  Syncs are simulated, not issued (the files are rewritten
 * after a crash anyway).  psim_crash() keeps a random subset of what was
 * not synced, exactly as mem_crash() does, and writes the surviving image
 * back into the files.  So the engine's own durability path through the
 * POSIX backend — which calls it makes, RWF_DSYNC or write-then-sync —
 * is what gets cut.
 *
 * Kernel and file-system fallbacks: with no_dsync, pwritev2 fails with
 * EOPNOTSUPP (an old kernel or file system: the backend writes, then
 * syncs); with no_punch, fallocate(PUNCH_HOLE) fails with EOPNOTSUPP (the
 * backend writes zeros); with no_seek_data, lseek(SEEK_DATA) fails.
 *
 * One simulation at a time (the system-call table has no context).
 */
#ifndef CSM_POSIXSIM_H
#define CSM_POSIXSIM_H

#include <stdbool.h>
#include <stdint.h>

#include "csumshim/backend.h"
#include "membackend.h"

struct psim_opts {
	bool no_dsync, no_punch, no_seek_data;
};

/* Create the files (one for the interleaved layout, data + metadata for
 * the separate one) in $TMPDIR or /tmp. */
void psim_init(bool interleaved, const struct psim_opts *o);
/* A POSIX backend on fresh descriptors of the files (the engine owns them). */
struct csm_backend psim_view(void);
/* Take the files' current content as durable and start logging changes. */
void psim_start(void);
/* The process dies: every later system call that changes a file fails. */
void psim_fail(bool failed);
/* Lose power (see mem_crash); returns how many operations or sectors were
 * kept.  The files then hold what survived. */
uint64_t psim_crash(uint64_t *seed, unsigned keep_permille, bool torn);
/* Remove the files. */
void psim_free(void);
/* How often each path was taken since the program started (tests check
 * that a variant really ran the path it names). */
struct psim_counts {
	uint64_t dsync_writes, dsync_refused, punches, punch_refused, syncs;
};
struct psim_counts psim_counts(void);

#endif
