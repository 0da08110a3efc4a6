/*
 * A backend standing for a process that can be killed at a chosen storage
 * step: it forwards every call to the backend it wraps until it "dies";
 * from then on every write, resize, punch and sync fails with EIO and
 * nothing more reaches storage (reads still work, so the engine can be
 * closed, which lets its descriptors and locks go as a kill would).  One
 * at a time (the state is global).  It dies:
 *   - when `budget` (>= 0) storage changes have landed: the next one is
 *     refused (budget < 0: no limit);
 *   - after a superblock write (offset 0 of the metadata store) lands,
 *     while `after_super` is set;
 *   - after a resize of the metadata store lands (the separate layout's
 *     metadata file cut or grown), while `after_meta_size` is set.
 */
#ifndef CSM_DYING_H
#define CSM_DYING_H

#include <stdbool.h>

#include "csumshim/backend.h"

struct dying {
	struct csm_backend inner;
	struct csm_backend_ops ops;
	long budget;
	bool after_super;
	bool after_meta_size;
	bool dead;
};

extern struct dying dying;

/* Wrap `inner` (the returned backend owns it); budget -1, not armed. */
struct csm_backend dying_wrap(struct csm_backend inner);

#endif
