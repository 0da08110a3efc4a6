/*
 * Checks on an engine shared by engine tests.
 */
#ifndef CSM_ENGINECHECK_H
#define CSM_ENGINECHECK_H

#include <errno.h>
#include <string.h>

#include "csumshim/engine.h"
#include "testlib.h"

/* A scrub of e finds nothing wrong: no bad block or brother, no lost
 * group, no lost tail.  `what` names the case in a failure. */
static inline void scrub_clean(struct csm_engine *e, const char *what)
{
	struct csm_scrub_result s;
	CHECK(csm_scrub(e, NULL, NULL, &s) == 0, "%s: scrub: %s", what, strerror(errno));
	CHECK(s.bad_blocks == 0 && s.bad_meta == 0 && s.lost_groups == 0 && s.missing_blocks == 0,
	      "%s: scrub: %llu bad blocks, %llu bad meta, %llu lost groups, %llu missing", what,
	      (unsigned long long)s.bad_blocks, (unsigned long long)s.bad_meta,
	      (unsigned long long)s.lost_groups, (unsigned long long)s.missing_blocks);
}

#endif
