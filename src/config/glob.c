/*
 * "**" globs; see glob.h.  A glob without "**" is one fnmatch call.  With
 * one, the glob is cut at its first "**" into a head (no "**") and a tail:
 * the head must match a prefix of the path, the "**" takes any run of
 * characters after it, and the tail must match the rest (recursively).
 * fnmatch with FNM_PATHNAME never lets a '*' cross a '/', so a piece
 * without "**" matches only strings with exactly as many '/' as it has:
 * only those cuts are tried.
 */
#define _GNU_SOURCE
#include "glob.h"

#include <fnmatch.h>
#include <limits.h>
#include <string.h>

#define MAX_STARS 8 /* "**" per glob; more never match */

static size_t slashes(const char *s, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += s[i] == '/';
	return k;
}

/* fnmatch of pat[0, n) against s[0, m). */
static bool match_n(const char *pat, size_t n, const char *s, size_t m)
{
	char p[PATH_MAX], t[PATH_MAX];
	if (n >= sizeof(p) || m >= sizeof(t))
		return false;
	memcpy(p, pat, n);
	p[n] = 0;
	memcpy(t, s, m);
	t[m] = 0;
	return fnmatch(p, t, FNM_PATHNAME) == 0;
}

static bool match(const char *glob, const char *path, int depth)
{
	const char *star = strstr(glob, "**");
	if (!star)
		return fnmatch(glob, path, FNM_PATHNAME) == 0;
	if (depth >= MAX_STARS)
		return false;
	size_t hn = (size_t)(star - glob);
	const char *tail = star + 2;
	while (*tail == '*')
		tail++;
	/* Slash, stars, slash also stands for one slash: zero directories. */
	bool zero_dirs = hn && glob[hn - 1] == '/' && *tail == '/';
	size_t len = strlen(path);
	size_t head_slashes = slashes(glob, hn);
	bool tail_fixed = !strstr(tail, "**");
	size_t tail_slashes = tail_fixed ? slashes(tail, strlen(tail)) : 0;
	size_t before = 0; /* slashes in path[0, i) */
	for (size_t i = 0; i <= len && before <= head_slashes; i++) {
		if (before == head_slashes && match_n(glob, hn, path, i)) {
			if (zero_dirs && match(tail + 1, path + i, depth + 1))
				return true;
			/* "**" takes path[i, j); the tail matches path[j...]. */
			size_t after = slashes(path + i, len - i); /* slashes in path[j...] */
			for (size_t j = i; j <= len; j++) {
				if (j > i && path[j - 1] == '/')
					after--;
				if (tail_fixed && after != tail_slashes) {
					if (after < tail_slashes)
						break;
					continue;
				}
				if (match(tail, path + j, depth + 1))
					return true;
			}
		}
		if (i < len && path[i] == '/')
			before++;
	}
	return false;
}

bool csm_glob_match(const char *glob, const char *path)
{
	return match(glob, path, 0);
}
