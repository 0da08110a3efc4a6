/*
 * errmsg.h - the engines' way of failing with a message.
 *
 * Opening and formatting report a one-line reason in a caller's buffer
 * beside the negative errno they return; both engines (csumshim's and the
 * dm-csum one) do it the same way, through this one helper.
 */
#ifndef CSM_ENGINE_ERRMSG_H
#define CSM_ENGINE_ERRMSG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

/* Writes the message into err (when given) and returns rc. */
static inline int csm_errf(char *err, size_t errlen, int rc, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static inline int csm_errf(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

#endif
