/*
 * POSIX AIO (aio_read, aio_write, aio_fsync, lio_listio and their 64-bit
 * names) on protected descriptors.
 *
 * glibc runs an AIO request on a helper thread with its internal pread and
 * pwrite, which no interposer sees: the stored bytes would be read raw and
 * written over the metadata.  A request on a protected descriptor is
 * carried out here instead, through the shim's own wrappers, before the
 * call returns — as the kernel itself does for buffered files under Linux
 * AIO; the engine's I/O goes through the page cache.  Its result goes
 * where glibc keeps it (the aiocb's __error_code and __return_value), so
 * glibc's own aio_error and aio_return answer for it unchanged, and its
 * notification (SIGEV_NONE, SIGEV_SIGNAL, SIGEV_THREAD, SIGEV_THREAD_ID)
 * is sent as glibc would send it.  aio_suspend and aio_cancel answer for
 * such a request themselves: glibc does not know it.  Requests on other
 * descriptors go to glibc untouched, and lists may mix both.
 */
#define _GNU_SOURCE
#include <aio.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "wrap.h"

/* Requests being carried out now (on the stack of the thread doing it):
 * aio_suspend waits for them, aio_cancel reports them not cancelable and
 * aio_fsync waits for those on its descriptor. */
struct flight {
	const struct aiocb *cb;
	int fd;
	struct flight *next;
};

static pthread_mutex_t amu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t acv = PTHREAD_COND_INITIALIZER;
static struct flight *flying;

static void aio_atfork_child(void)
{
	/* The child has one thread: nothing of ours is in flight there. */
	pthread_mutex_init(&amu, NULL);
	pthread_cond_init(&acv, NULL);
	flying = NULL;
}

void shim_aio_forked(void)
{
	aio_atfork_child();
}

__attribute__((constructor)) static void aio_register_fork(void)
{
	pthread_atfork(NULL, NULL, aio_atfork_child);
}

/* A protected descriptor, or one of the shim's own (EBADF, as glibc gives
 * for a number not open). */
static bool protected_fd(int fd)
{
	return ours(fd) != NULL || hidden_fd(fd);
}

/* A request the shim carries out (NULL goes to glibc, which faults as it
 * always did). */
static bool mine(const struct aiocb *cb)
{
	return cb && protected_fd(cb->aio_fildes);
}

static bool in_flight(const struct aiocb *cb)
{
	for (struct flight *f = flying; f; f = f->next)
		if (f->cb == cb)
			return true;
	return false;
}

/* ---- notification ------------------------------------------------------ */

struct thread_note {
	void (*fn)(union sigval);
	union sigval value;
};

static void *note_thread(void *arg)
{
	struct thread_note n = *(struct thread_note *)arg;
	free(arg);
	n.fn(n.value);
	return NULL;
}

/* What glibc does when a request (or a list) completes. */
static void notify(const struct sigevent *ev)
{
	if (!ev)
		return;
	if (ev->sigev_notify == SIGEV_SIGNAL || ev->sigev_notify == SIGEV_THREAD_ID) {
		siginfo_t si;
		memset(&si, 0, sizeof(si));
		si.si_signo = ev->sigev_signo;
		si.si_code = SI_ASYNCIO;
		si.si_pid = getpid();
		si.si_uid = getuid();
		si.si_value = ev->sigev_value;
		long (*sys)(long, ...) = REAL(syscall);
		if (ev->sigev_notify == SIGEV_SIGNAL)
			sys(SYS_rt_sigqueueinfo, (long)getpid(), (long)ev->sigev_signo, (long)&si);
		else
			sys(SYS_rt_tgsigqueueinfo, (long)getpid(), (long)ev->_sigev_un._tid,
			    (long)ev->sigev_signo, (long)&si);
	} else if (ev->sigev_notify == SIGEV_THREAD && ev->sigev_notify_function) {
		struct thread_note *n = malloc(sizeof(*n));
		if (!n)
			return;
		n->fn = ev->sigev_notify_function;
		n->value = ev->sigev_value;
		pthread_attr_t own, *attr = ev->sigev_notify_attributes;
		if (!attr) {
			attr = &own;
			pthread_attr_init(&own);
			pthread_attr_setdetachstate(&own, PTHREAD_CREATE_DETACHED);
		}
		pthread_t t;
		if (pthread_create(&t, attr, note_thread, n) != 0)
			free(n);
		if (attr == &own)
			pthread_attr_destroy(&own);
	}
}

/* ---- carrying a request out -------------------------------------------- */

enum op { OP_READ, OP_WRITE, OP_SYNC, OP_DSYNC };

/* Until every request on fd that another thread is carrying out is done
 * (aio_fsync covers what was queued before it).  amu held. */
static void wait_fd_idle(int fd, const struct flight *self)
{
	for (;;) {
		bool busy = false;
		for (struct flight *f = flying; f; f = f->next)
			busy |= f != self && f->fd == fd;
		if (!busy)
			return;
		pthread_cond_wait(&acv, &amu);
	}
}

/* The request itself, through the wrappers; one of the shim's own
 * descriptors is EBADF, as for a number not open. */
static ssize_t carry_out(struct aiocb *cb, enum op op)
{
	if (hidden_fd(cb->aio_fildes)) {
		errno = EBADF;
		return -1;
	}
	switch (op) {
	case OP_READ:
		return pread64(cb->aio_fildes, (void *)cb->aio_buf, cb->aio_nbytes, cb->aio_offset);
	case OP_WRITE:
		return pwrite64(cb->aio_fildes, (const void *)cb->aio_buf, cb->aio_nbytes,
		                cb->aio_offset);
	case OP_SYNC:
		return fsync(cb->aio_fildes);
	default:
		return fdatasync(cb->aio_fildes);
	}
}

/* Carry out one request on a protected descriptor and record its result in
 * the aiocb where glibc's aio_error/aio_return look.  `note`: send its own
 * notification. */
static void run(struct aiocb *cb, enum op op, bool note)
{
	struct flight self = {.cb = cb, .fd = cb->aio_fildes};
	pthread_mutex_lock(&amu);
	__atomic_store_n(&cb->__error_code, EINPROGRESS, __ATOMIC_RELEASE);
	self.next = flying;
	flying = &self;
	if (op == OP_SYNC || op == OP_DSYNC)
		wait_fd_idle(cb->aio_fildes, &self);
	pthread_mutex_unlock(&amu);

	int saved = errno;
	ssize_t r = carry_out(cb, op);
	int err = r < 0 ? errno : 0;
	errno = saved;

	pthread_mutex_lock(&amu);
	cb->__return_value = r;
	__atomic_store_n(&cb->__error_code, err, __ATOMIC_RELEASE);
	for (struct flight **p = &flying; *p; p = &(*p)->next)
		if (*p == &self) {
			*p = self.next;
			break;
		}
	pthread_cond_broadcast(&acv);
	pthread_mutex_unlock(&amu);
	if (note)
		notify(&cb->aio_sigevent);
}

/* glibc's synchronous checks of a request. */
static bool valid(const struct aiocb *cb)
{
	if (cb->aio_reqprio < 0 || cb->aio_reqprio > AIO_PRIO_DELTA_MAX) {
		errno = EINVAL;
		return false;
	}
	return true;
}

static int submit(struct aiocb *cb, enum op op)
{
	if (!valid(cb))
		return -1;
	run(cb, op, true);
	return 0;
}

API int aio_read(struct aiocb *cb)
{
	return mine((const struct aiocb *)cb) ? submit(cb, OP_READ) : REAL(aio_read)(cb);
}

API int aio_read64(struct aiocb64 *cb)
{
	return mine((const struct aiocb *)cb) ? submit((struct aiocb *)cb, OP_READ)
	                                      : REAL(aio_read64)(cb);
}

API int aio_write(struct aiocb *cb)
{
	return mine((const struct aiocb *)cb) ? submit(cb, OP_WRITE) : REAL(aio_write)(cb);
}

API int aio_write64(struct aiocb64 *cb)
{
	return mine((const struct aiocb *)cb) ? submit((struct aiocb *)cb, OP_WRITE)
	                                      : REAL(aio_write64)(cb);
}

static int fsync_op(int op, struct aiocb *cb)
{
	if (op != O_SYNC && op != O_DSYNC) {
		errno = EINVAL;
		return -1;
	}
	if (hidden_fd(cb->aio_fildes)) {
		errno = EBADF; /* glibc checks the descriptor at once */
		return -1;
	}
	return submit(cb, op == O_SYNC ? OP_SYNC : OP_DSYNC);
}

API int aio_fsync(int op, struct aiocb *cb)
{
	return mine((const struct aiocb *)cb) ? fsync_op(op, cb) : REAL(aio_fsync)(op, cb);
}

API int aio_fsync64(int op, struct aiocb64 *cb)
{
	return mine((const struct aiocb *)cb) ? fsync_op(op, (struct aiocb *)cb)
	                                      : REAL(aio_fsync64)(op, cb);
}

/* ---- lio_listio ---------------------------------------------------------- */

static bool pending(const struct aiocb *cb)
{
	return __atomic_load_n(&cb->__error_code, __ATOMIC_ACQUIRE) == EINPROGRESS;
}

/* Until every request of the list (glibc's ones) is done. */
static void wait_all(struct aiocb *const list[], int n)
{
	for (int i = 0; i < n; i++)
		while (list[i] && pending(list[i])) {
			const struct aiocb *one[1] = {list[i]};
			REAL(aio_suspend)(one, 1, NULL);
		}
}

typedef struct aiocb *cbp; /* an element of a request list */

struct list_note {
	struct sigevent ev;
	int n;
	struct aiocb *list[];
};

static void *list_waiter(void *arg)
{
	struct list_note *ln = arg;
	wait_all(ln->list, ln->n);
	notify(&ln->ev);
	free(ln);
	return NULL;
}

static int listio(int mode, struct aiocb *const list[], int n, struct sigevent *sig)
{
	if ((mode != LIO_WAIT && mode != LIO_NOWAIT) || n < 0) {
		errno = EINVAL;
		return -1;
	}
	bool mine = false;
	for (int i = 0; i < n && !mine; i++)
		mine = list[i] && list[i]->aio_lio_opcode != LIO_NOP &&
		       protected_fd(list[i]->aio_fildes);
	if (!mine)
		return REAL(lio_listio)(mode, list, n, sig);
	/* glibc's requests first, so they run while ours are carried out. */
	bool failed = false;
	struct aiocb **theirs = calloc((size_t)n + 1, sizeof(cbp));
	if (!theirs) {
		errno = EAGAIN;
		return -1;
	}
	int nt = 0;
	for (int i = 0; i < n; i++) {
		struct aiocb *cb = list[i];
		if (!cb || cb->aio_lio_opcode == LIO_NOP || protected_fd(cb->aio_fildes))
			continue;
		int r = cb->aio_lio_opcode == LIO_READ    ? REAL(aio_read)(cb)
		        : cb->aio_lio_opcode == LIO_WRITE ? REAL(aio_write)(cb)
		                                          : (errno = EINVAL, -1);
		if (r < 0) {
			cb->__error_code = errno;
			cb->__return_value = -1;
			failed = true;
		} else {
			theirs[nt++] = cb;
		}
	}
	for (int i = 0; i < n; i++) {
		struct aiocb *cb = list[i];
		if (!cb || cb->aio_lio_opcode == LIO_NOP || !protected_fd(cb->aio_fildes))
			continue;
		if (cb->aio_lio_opcode != LIO_READ && cb->aio_lio_opcode != LIO_WRITE) {
			cb->__error_code = EINVAL;
			cb->__return_value = -1;
			failed = true;
			continue;
		}
		if (!valid(cb)) {
			cb->__error_code = errno;
			cb->__return_value = -1;
			failed = true;
			continue;
		}
		run(cb, cb->aio_lio_opcode == LIO_READ ? OP_READ : OP_WRITE, true);
	}
	if (mode == LIO_WAIT) {
		wait_all(theirs, nt);
		free(theirs);
		for (int i = 0; i < n; i++)
			failed |= list[i] && list[i]->aio_lio_opcode != LIO_NOP &&
			          list[i]->__error_code != 0;
		if (failed) {
			errno = EIO;
			return -1;
		}
		return 0;
	}
	/* LIO_NOWAIT: the list's notification once glibc's requests are done. */
	if (sig && sig->sigev_notify != SIGEV_NONE) {
		struct list_note *ln = malloc(sizeof(*ln) + (size_t)nt * sizeof(cbp));
		pthread_t t;
		pthread_attr_t at;
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		if (ln) {
			ln->ev = *sig;
			ln->n = nt;
			memcpy(ln->list, theirs, (size_t)nt * sizeof(cbp));
		}
		if (!ln) {
			failed = true;
		} else if (!nt) {
			notify(&ln->ev);
			free(ln);
		} else if (pthread_create(&t, &at, list_waiter, ln) != 0) {
			free(ln);
			failed = true;
		}
		pthread_attr_destroy(&at);
	}
	free(theirs);
	if (failed) {
		errno = EIO;
		return -1;
	}
	return 0;
}

API int lio_listio(int mode, struct aiocb *const list[], int n, struct sigevent *sig)
{
	return listio(mode, list, n, sig);
}

API int lio_listio64(int mode, struct aiocb64 *const list[], int n, struct sigevent *sig)
{
	return listio(mode, (struct aiocb *const *)list, n, sig);
}

/* ---- aio_suspend, aio_cancel -------------------------------------------- */

static long long now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int suspend(const struct aiocb *const list[], int n, const struct timespec *timeout)
{
	pthread_mutex_lock(&amu);
	bool mine = false;
	for (int i = 0; i < n && !mine; i++)
		mine = list[i] && in_flight(list[i]);
	pthread_mutex_unlock(&amu);
	if (!mine)
		return REAL(aio_suspend)(list, n, timeout);
	long long end = timeout ? now_ns() + timeout->tv_sec * 1000000000LL + timeout->tv_nsec : 0;
	pthread_mutex_lock(&amu);
	for (;;) {
		bool theirs = false, any = false;
		for (int i = 0; i < n; i++) {
			if (!list[i])
				continue;
			if (!pending(list[i])) {
				pthread_mutex_unlock(&amu);
				return 0;
			}
			bool m = in_flight(list[i]);
			any |= m;
			theirs |= !m;
		}
		long long left = timeout ? end - now_ns() : 1000000000LL;
		if (left <= 0) {
			pthread_mutex_unlock(&amu);
			errno = EAGAIN;
			return -1;
		}
		if (!any) { /* ours are done with errors already seen, or gone */
			pthread_mutex_unlock(&amu);
			struct timespec ts = {left / 1000000000LL, left % 1000000000LL};
			return REAL(aio_suspend)(list, n, timeout ? &ts : NULL);
		}
		/* Ours wake the condition; glibc's are looked at every 1 ms. */
		if (theirs && left > 1000000)
			left = 1000000;
		struct timespec dl;
		clock_gettime(CLOCK_REALTIME, &dl);
		long long ns = dl.tv_nsec + left;
		dl.tv_sec += ns / 1000000000LL;
		dl.tv_nsec = ns % 1000000000LL;
		pthread_cond_timedwait(&acv, &amu, &dl);
	}
}

API int aio_suspend(const struct aiocb *const list[], int n, const struct timespec *timeout)
{
	return suspend(list, n, timeout);
}

API int aio_suspend64(const struct aiocb64 *const list[], int n, const struct timespec *timeout)
{
	return suspend((const struct aiocb *const *)list, n, timeout);
}

/* A request of ours is never queued: it is either being carried out
 * (AIO_NOTCANCELED) or done (AIO_ALLDONE). */
static int cancel(int fd, struct aiocb *cb)
{
	if (!protected_fd(fd))
		return -2;
	if (hidden_fd(fd)) {
		errno = EBADF;
		return -1;
	}
	if (cb && cb->aio_fildes != fd) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&amu);
	bool busy = false;
	for (struct flight *f = flying; f; f = f->next)
		busy |= cb ? f->cb == cb : f->fd == fd;
	pthread_mutex_unlock(&amu);
	return busy ? AIO_NOTCANCELED : AIO_ALLDONE;
}

API int aio_cancel(int fd, struct aiocb *cb)
{
	int r = cancel(fd, cb);
	return r != -2 ? r : REAL(aio_cancel)(fd, cb);
}

API int aio_cancel64(int fd, struct aiocb64 *cb)
{
	int r = cancel(fd, (struct aiocb *)cb);
	return r != -2 ? r : REAL(aio_cancel64)(fd, cb);
}
