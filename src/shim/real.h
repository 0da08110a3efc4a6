/*
 * The real libc functions behind the shim's wrappers, generated from the
 * list in calls.h and resolved once with dlsym(RTLD_NEXT).  A thread-local
 * guard sends calls made while the shim is working (config parsing, path
 * resolution, logging) straight to libc.
 */
#ifndef CSUMSHIM_REAL_H
#define CSUMSHIM_REAL_H

#include "calls.h"

/* X-macro arguments are types and names: they cannot be parenthesised. */
// NOLINTBEGIN(bugprone-macro-parentheses)
struct csm_real {
#define CSM_REAL_FIELD(ret, name, params) ret(*name) params;
	CSM_SHIM_CALLS(CSM_REAL_FIELD)
#undef CSM_REAL_FIELD
};

/* Every wrapper, declared from the list (exported: the version script
 * generated from the same list keeps only these). */
#define CSM_DECLARE_WRAPPER(ret, name, params) \
	__attribute__((visibility("default"))) ret name params;
CSM_SHIM_CALLS(CSM_DECLARE_WRAPPER)
#undef CSM_DECLARE_WRAPPER
// NOLINTEND(bugprone-macro-parentheses)

extern struct csm_real csm_real;
extern __thread int csm_guard;

/* Resolve the table (idempotent, thread-safe, allocates nothing). */
void csm_real_init(void);
/* The table, then the shim's state (configuration, log, inherited
 * descriptors): allocates through the program's allocator, so only from
 * the constructor or a wrapper that needs the configuration. */
void csm_shim_init(void);

#endif
