/*
 * io_uring: a ring moves data with no call the shim could see, so none is
 * created while the library is loaded.  io_uring_setup fails as on a kernel
 * without io_uring (ENOSYS), through syscall() and through liburing's
 * set-up names (liburing makes the system call itself); the first refusal
 * in a process is logged.  Programs then fall back: InnoDB to libaio or its
 * own threads, fio's io_uring engine fails loudly.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>

#include "kaio.h"
#include "wrap.h"

long shim_uring_refuse(void)
{
	static atomic_bool logged;
	if (!atomic_exchange(&logged, true)) {
		csm_shim_init();
		shim_log("io_uring_setup refused (ENOSYS): the shim cannot serve an io_uring; "
		         "the program must fall back to calls it serves");
	}
	return -ENOSYS;
}

API int io_uring_setup(unsigned entries, struct io_uring_params *p)
{
	(void)entries;
	(void)p;
	return (int)shim_uring_refuse();
}

API int io_uring_queue_init(unsigned entries, struct io_uring *ring, unsigned flags)
{
	(void)entries;
	(void)ring;
	(void)flags;
	return (int)shim_uring_refuse();
}

API int io_uring_queue_init_params(unsigned entries, struct io_uring *ring,
                                   struct io_uring_params *p)
{
	(void)entries;
	(void)ring;
	(void)p;
	return (int)shim_uring_refuse();
}
