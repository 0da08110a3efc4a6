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

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init_once(void)
{
	csm_guard++; /* calls made while starting go straight to libc */
// NOLINTBEGIN(bugprone-macro-parentheses): X-macro arguments are types and names
#define CSM_RESOLVE(ret, name, params) csm_real.name = (ret(*) params)dlsym(RTLD_NEXT, #name);
	CSM_SHIM_CALLS(CSM_RESOLVE)
#undef CSM_RESOLVE
	// NOLINTEND(bugprone-macro-parentheses)
	shim_state_init();
	csm_guard--;
}

void csm_shim_init(void)
{
	pthread_once(&once, init_once);
}

__attribute__((constructor)) static void shim_constructor(void)
{
	csm_shim_init();
}
