/*
 * An in-memory storage backend for engine tests.  Its stores outlive the
 * engines opened on them (destroy() is a no-op), so a test can close,
 * "crash" and reopen.  Fault injection: after `writes_left` more writes
 * succeed, the next write applies only a prefix ending on a 4 KiB file
 * boundary (the granularity at which a killed process's write can stop)
 * and fails with EIO, as does every write after it.
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

struct mem_backend {
	struct mem_store st[2];
	bool shared;         /* interleaved: META and DATA are one store */
	int64_t writes_left; /* < 0: no fault armed */
	bool failed;         /* the fault has fired */
	uint64_t torn_seed;
	uint64_t nwrites;
};

void mem_backend_init(struct mem_backend *m, bool shared);
void mem_backend_free(struct mem_backend *m);
/* A csm_backend view of m (not owning it). */
struct csm_backend mem_backend_view(struct mem_backend *m);
struct mem_store *mem_store_of(struct mem_backend *m, enum csm_store st);

#endif
