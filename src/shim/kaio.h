/*
 * Linux AIO and io_uring as the shim serves them (libaio.c, uring.c), for
 * libaio's entry points and for syscall() alike.  Every function returns
 * what the kernel would: a count or 0, or a negative errno (errno itself is
 * left alone).
 */
#ifndef CSUMSHIM_KAIO_H
#define CSUMSHIM_KAIO_H

#include <linux/aio_abi.h>
#include <signal.h>
#include <stdbool.h>
#include <time.h>

#include "calls.h"

/* The names the shim serves by itself (calls.h), declared from the list. */
// NOLINTBEGIN(bugprone-macro-parentheses): X-macro arguments are types and names
#define CSM_DECLARE_OWN(ret, name, params) __attribute__((visibility("default"))) ret name params;
CSM_SHIM_OWN_CALLS(CSM_DECLARE_OWN)
#undef CSM_DECLARE_OWN
// NOLINTEND(bugprone-macro-parentheses)

long shim_kaio_setup(unsigned nr, aio_context_t *ctxp);
long shim_kaio_destroy(aio_context_t ctx);
long shim_kaio_submit(aio_context_t ctx, long nr, struct iocb **iocbs);
long shim_kaio_cancel(aio_context_t ctx, struct iocb *iocb, struct io_event *result);
/* io_getevents; with `pwait`, io_pgetevents with `mask` (NULL: unchanged). */
long shim_kaio_getevents(aio_context_t ctx, long min_nr, long nr, struct io_event *events,
                         struct timespec *timeout, bool pwait, const sigset_t *mask);

/* io_uring_setup: refused as by a kernel without io_uring (-ENOSYS), logged
 * once per process. */
long shim_uring_refuse(void);

/* The kernel's system call, errno preserved: the result or -errno. */
long shim_ksys(long nr, long a, long b, long c, long d, long e, long f);

#endif
