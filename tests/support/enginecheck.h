/*
 * Checks on an engine, and its opening, shared by engine tests.
 */
#ifndef CSM_ENGINECHECK_H
#define CSM_ENGINECHECK_H

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "csumshim/engine.h"
#include "testlib.h"

/* A scrub of e finds nothing wrong: no bad block or brother, no broken
 * or lost group, no lost tail, no damaged record.  `what` names the case
 * in a failure. */
static inline void scrub_clean(struct csm_engine *e, const char *what)
{
	struct csm_scrub_result s;
	CHECK(csm_scrub(e, NULL, NULL, &s) == 0, "%s: scrub: %s", what, strerror(errno));
	CHECK(s.bad_blocks == 0 && s.bad_meta == 0 && s.lost_groups == 0 && s.missing_blocks == 0 &&
	              s.broken_groups == 0 && s.bad_records == 0,
	      "%s: scrub: %llu bad blocks, %llu bad meta, %llu broken, %llu lost groups, %llu "
	      "missing, %llu bad records",
	      what, (unsigned long long)s.bad_blocks, (unsigned long long)s.bad_meta,
	      (unsigned long long)s.broken_groups, (unsigned long long)s.lost_groups,
	      (unsigned long long)s.missing_blocks, (unsigned long long)s.bad_records);
}

/* A POSIX backend on its own open file descriptions of dpath and (the
 * separate layout) mpath; mpath NULL: interleaved.  Two of these on one
 * file lock each other out like two processes. */
static inline struct csm_backend posix_open(const char *dpath, const char *mpath)
{
	int fd = open(dpath, O_RDWR | O_CLOEXEC);
	CHECK(fd >= 0, "open %s: %s", dpath, strerror(errno));
	int mfd = fd;
	if (mpath) {
		mfd = open(mpath, O_RDWR | O_CLOEXEC);
		CHECK(mfd >= 0, "open %s: %s", mpath, strerror(errno));
	}
	struct csm_backend be;
	CHECK(csm_backend_posix(&be, fd, mfd, true, NULL) == 0);
	return be;
}

#endif
