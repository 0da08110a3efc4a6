/*
 * Configuration globs: fnmatch with FNM_PATHNAME, plus "**" for any depth.
 */
#include <stdio.h>

#include "glob.h"

static int failures, cases;

static void expect(const char *glob, const char *path, bool want)
{
	cases++;
	if (csm_glob_match(glob, path) != want) {
		failures++;
		printf("FAIL: '%s' %s '%s'\n", glob, want ? "should match" : "should not match",
		       path);
	}
}

int main(void)
{
	/* Plain globs: one component per '*'. */
	expect("/srv/*.img", "/srv/a.img", true);
	expect("/srv/*.img", "/srv/d/a.img", false);
	expect("/srv/*", "/srv/.hidden", true);
	expect("/srv/?.[ab]", "/srv/x.b", true);
	expect("/srv/?.[ab]", "/srv/x.c", false);
	/* "**": any depth, zero included. */
	expect("/srv/**", "/srv/a", true);
	expect("/srv/**", "/srv/a/b/c/d", true);
	expect("/srv/**", "/srv", false);
	expect("/srv/**", "/srvx/a", false);
	expect("/srv/**/*.img", "/srv/a.img", true);
	expect("/srv/**/*.img", "/srv/a/b/c.img", true);
	expect("/srv/**/*.img", "/srv/a/b/c.txt", false);
	expect("/srv/**/x", "/srv/x", true);
	expect("/srv/**/x", "/srv/ax", false);
	expect("/srv/**x", "/srv/a/bx", true);
	expect("/srv/**/objects/**", "/srv/r/.git/objects/ab/cdef", true);
	expect("/srv/**/objects/**", "/srv/r/.git/refs/heads/main", false);
	expect("/**/*-shm", "/a/b/t.db-shm", true);
	expect("/**/*-shm", "/t.db-shm", true);
	expect("/**/*-shm", "/a/b/t.db-wal", false);
	expect("/a/*/**/z", "/a/b/z", true);
	expect("/a/*/**/z", "/a/z", false);
	expect("/a/***", "/a/b/c", true);
	printf("test_glob: %d cases, %d failed\n", cases, failures);
	return failures != 0;
}
