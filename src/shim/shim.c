/*
 * libcsumshim.so — the LD_PRELOAD library.
 *
 * This is the foundation build: the library loads, links the engine, and
 * exports nothing but its version query, so it can be preloaded into any
 * program without changing its behaviour.  The interception surface comes
 * with the shim issue (see README "Status").
 */
#include "csumshim/engine.h"

__attribute__((visibility("default"))) const char *csumshim_version(void);

const char *csumshim_version(void)
{
	return "csumshim " CSUMSHIM_VERSION;
}
