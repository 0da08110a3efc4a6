/*
 * shimcase.h - cases of the shim's C test programs (test_calls, test_maps,
 * test_async, test_procs): each CASE is counted and, if its condition is
 * false, printed with the errno the call under test left.  Each program
 * prints its own summary from `failures` and `cases`.
 */
#ifndef CSM_SHIMCASE_H
#define CSM_SHIMCASE_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int failures, cases;

static void __attribute__((unused)) shimcase_record(const char *name, bool ok, const char *what)
{
	int err = errno; /* before printf can change it */
	cases++;
	if (!ok) {
		failures++;
		printf("FAIL %-26s %s (errno %d %s)\n", name, what, err, strerror(err));
	}
}

#define CASE(name, cond) shimcase_record(name, (cond), #cond)

#endif
