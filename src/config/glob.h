/*
 * Path globs of the configuration: fnmatch(3) with FNM_PATHNAME ('*', '?'
 * and '[...]' stay within one path component), plus "**", which matches
 * any string, '/' included.  So "/srv/" followed by "**" is every file
 * below /srv, and a "**" between two slashes also matches zero
 * directories (the glob /a/ ** /b, without the spaces, matches /a/b).
 * Leading dots are not special.
 */
#ifndef CSUMSHIM_GLOB_H
#define CSUMSHIM_GLOB_H

#include <stdbool.h>

/* Whether the absolute path matches the glob. */
bool csm_glob_match(const char *glob, const char *path);

#endif
