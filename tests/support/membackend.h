/*
 * An in-memory storage backend for engine tests.  Its stores outlive the
 * engines opened on them (destroy() is a no-op), so a test can close,
 * "crash" and reopen.  Fault injection: after `writes_left` more writes
 * succeed, the next write applies only a prefix ending on a 4 KiB file
 * boundary (the granularity at which a killed process's write can stop)
 * and fails with EIO, as does every write after it.
 *
 * Power-loss simulation (crashsim): every write, resize and zeroing since a
 * store's last sync is also logged; a sync makes the store's log durable.
 * mem_crash() then keeps a random subset of what was not synced — whole
 * operations, or with `torn` each 512-byte sector of a write on its own —
 * applied in order to the durable image, and the stores become that image.
 * A power cut also restarts the "machine": the boot id changes.  A process
 * crash is closing the engine with `failed` set (nothing more lands; every
 * completed write stays), under the same boot id.
 */
#ifndef CSM_MEMBACKEND_H
#define CSM_MEMBACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "csumshim/backend.h"

struct mem_store {
	uint8_t *buf;
	uint64_t size, cap;
};

struct mem_op {
	int store, kind; /* kind: 0 write, 1 set size, 2 zero range */
	uint64_t off, len;
	uint8_t *data;
};

struct mem_backend {
	struct mem_store st[2];
	bool crashsim;
	struct mem_store durable[2];
	struct mem_op *log;
	size_t nlog, caplog;
	uint64_t syncs;
	bool shared;         /* interleaved: META and DATA are one store */
	int64_t writes_left; /* < 0: no fault armed */
	bool failed;         /* the fault has fired */
	int fail_errno;      /* what the armed fault returns: 0 = EIO */
	/* A full file system: a write needing new space past `space` bytes of
	 * its store (past both `space` and the 4 KiB block of the furthest byte
	 * ever written there: rewrites need none) lands up to there and fails with ENOSPC
	 * (0: no limit). */
	uint64_t space;
	uint64_t written_end[2];
	uint64_t torn_seed;
	uint64_t nwrites;
	uint8_t boot[16]; /* the "kernel's" boot id (boot_id op) */
};

void mem_backend_init(struct mem_backend *m, bool shared);
void mem_backend_free(struct mem_backend *m);
/* A csm_backend view of m (not owning it). */
struct csm_backend mem_backend_view(struct mem_backend *m);
struct mem_store *mem_store_of(struct mem_backend *m, enum csm_store st);

/* Start logging for power-loss simulation (the current stores are taken as
 * durable). */
void mem_crashsim_start(struct mem_backend *m);
/* Lose power: keep each unsynced operation (or sector) with probability
 * keep_permille/1000, drawn from *seed.  Returns how many were kept. */
uint64_t mem_crash(struct mem_backend *m, uint64_t *seed, unsigned keep_permille, bool torn);
/* The machine restarts: a new boot id (mem_crash does it too). */
void mem_restart(struct mem_backend *m);

#endif
