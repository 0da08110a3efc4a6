/*
 * Resolution of the real-function table and the shim's start-up: from a
 * constructor, and lazily (pthread_once) if a wrapper runs before it.
 */
#define _GNU_SOURCE
#include "real.h"

#include <dlfcn.h>
#include <pthread.h>

#include "state.h"

struct csm_real csm_real;
__thread int csm_guard;

static pthread_once_t table_once = PTHREAD_ONCE_INIT, state_once = PTHREAD_ONCE_INIT;

/* dlsym of a name that exists allocates nothing; every name in the list is
 * in libc (names of other libraries are served by the shim itself, calls.h).
 * So a wrapper called from inside the program's allocator (jemalloc's
 * start-up maps memory) can reach libc without re-entering it. */
static void resolve_table(void)
{
// NOLINTBEGIN(bugprone-macro-parentheses): X-macro arguments are types and names
#define CSM_RESOLVE(ret, name, params) csm_real.name = (ret(*) params)dlsym(RTLD_NEXT, #name);
	CSM_SHIM_CALLS(CSM_RESOLVE)
#undef CSM_RESOLVE
	// NOLINTEND(bugprone-macro-parentheses)
}

void csm_real_init(void)
{
	pthread_once(&table_once, resolve_table);
}

static void init_state(void)
{
	csm_guard++; /* calls made while starting go straight to libc */
	csm_real_init();
	shim_state_init();
	csm_guard--;
}

void csm_shim_init(void)
{
	pthread_once(&state_once, init_state);
}

__attribute__((constructor)) static void shim_constructor(void)
{
	csm_shim_init();
}
