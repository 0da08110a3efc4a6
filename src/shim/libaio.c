/*
 * Linux AIO (io_setup, io_submit, io_getevents, io_pgetevents, io_cancel,
 * io_destroy) on protected descriptors.
 *
 * The kernel would read the stored bytes raw and write over the metadata.
 * An iocb that reads, writes or syncs a protected descriptor (PREAD,
 * PWRITE, PREADV, PWRITEV, FSYNC, FDSYNC) is carried out by io_submit
 * through the shim's wrappers, as the kernel itself carries out buffered
 * I/O inside io_submit; its completion waits in the context's own queue,
 * and io_getevents hands it out beside the kernel's (IOCB_FLAG_RESFD
 * signals its eventfd, as the kernel would).  Every other iocb goes to the
 * kernel untouched.
 *
 * Both libaio's names (a program linked with libaio, or libaio's own
 * io_queue_init) and syscall(SYS_io_*) (libaio calls syscall(); MariaDB
 * calls syscall(__NR_io_getevents) itself) land here.  libaio's
 * io_getevents looks at the kernel's ring before making the system call
 * and would miss our completions, so it is replaced whole.  Not served:
 * reading completions from the ring in user space (fio's userspace_reap).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <uthash.h>
#include <unistd.h>

#include "kaio.h"
#include "wrap.h"

long shim_ksys(long nr, long a, long b, long c, long d, long e, long f)
{
	int saved = errno;
	if (!csm_real.syscall)
		csm_real_init();
	long r = csm_real.syscall(nr, a, b, c, d, e, f);
	if (r == -1) {
		r = -errno;
		errno = saved;
	}
	return r;
}

/* One AIO context that has served (or may serve) protected iocbs. */
struct actx {
	aio_context_t id;
	UT_hash_handle hh;
	unsigned refs; /* the table's, and each io_getevents in it (gmu) */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct io_event *ev; /* our completions: a ring of cap */
	size_t cap, head, count;
	bool kernel; /* the kernel may have iocbs of it in flight */
	bool dead;   /* io_destroy'ed */
};

static pthread_mutex_t gmu = PTHREAD_MUTEX_INITIALIZER;
static struct actx *ctxs;

static void kaio_atfork_child(void)
{
	/* AIO contexts are not inherited by a child (the kernel's neither). */
	pthread_mutex_init(&gmu, NULL);
	ctxs = NULL;
}

void shim_kaio_forked(void)
{
	kaio_atfork_child();
}

__attribute__((constructor)) static void kaio_register_fork(void)
{
	pthread_atfork(NULL, NULL, kaio_atfork_child);
}

static void actx_put(struct actx *a)
{
	if (--a->refs)
		return;
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->cv);
	free(a->ev);
	free(a);
}

/* The context's record with a reference, created if `create` (kernel:
 * whether the kernel may already have iocbs of it).  gmu taken here. */
static struct actx *actx_get(aio_context_t id, bool create, bool kernel)
{
	pthread_mutex_lock(&gmu);
	struct actx *a;
	HASH_FIND(hh, ctxs, &id, sizeof(id), a);
	if (!a && create && (a = calloc(1, sizeof(*a)))) {
		a->id = id;
		a->refs = 1;
		a->kernel = kernel;
		pthread_mutex_init(&a->mu, NULL);
		pthread_cond_init(&a->cv, NULL);
		HASH_ADD(hh, ctxs, id, sizeof(a->id), a);
	}
	if (a)
		a->refs++;
	pthread_mutex_unlock(&gmu);
	return a;
}

static void actx_release(struct actx *a)
{
	pthread_mutex_lock(&gmu);
	actx_put(a);
	pthread_mutex_unlock(&gmu);
}

long shim_kaio_setup(unsigned nr, aio_context_t *ctxp)
{
	long r = shim_ksys(SYS_io_setup, (long)nr, (long)ctxp, 0, 0, 0, 0);
	if (r == 0) {
		struct actx *a = actx_get(*ctxp, true, false);
		if (a)
			actx_release(a);
	}
	return r;
}

long shim_kaio_destroy(aio_context_t ctx)
{
	pthread_mutex_lock(&gmu);
	struct actx *a;
	HASH_FIND(hh, ctxs, &ctx, sizeof(ctx), a);
	if (a)
		HASH_DEL(ctxs, a);
	pthread_mutex_unlock(&gmu);
	if (a) {
		pthread_mutex_lock(&a->mu);
		a->dead = true;
		pthread_cond_broadcast(&a->cv);
		pthread_mutex_unlock(&a->mu);
		actx_release(a);
	}
	return shim_ksys(SYS_io_destroy, (long)ctx, 0, 0, 0, 0, 0);
}

/* Is this iocb one the shim carries out? */
static bool mine(const struct iocb *cb)
{
	switch (cb->aio_lio_opcode) {
	case IOCB_CMD_PREAD:
	case IOCB_CMD_PWRITE:
	case IOCB_CMD_PREADV:
	case IOCB_CMD_PWRITEV:
	case IOCB_CMD_FSYNC:
	case IOCB_CMD_FDSYNC:
		/* and the shim's own descriptors: EBADF (serve) */
		return ours((int)cb->aio_fildes) != NULL || hidden_fd((int)cb->aio_fildes);
	default:
		return false;
	}
}

/* Carry the iocb out through the wrappers: its io_event's res. */
static int64_t run(const struct iocb *cb)
{
	int fd = (int)cb->aio_fildes;
	int fl = (int)cb->aio_rw_flags;
	/* The ABI carries the buffer's address as an integer. */
	// NOLINTNEXTLINE(performance-no-int-to-ptr)
	void *buf = (void *)(uintptr_t)cb->aio_buf;
	struct iovec one = {buf, (size_t)cb->aio_nbytes};
	const struct iovec *iov = &one;
	int cnt = 1;
	if (cb->aio_lio_opcode == IOCB_CMD_PREADV || cb->aio_lio_opcode == IOCB_CMD_PWRITEV) {
		iov = buf;
		cnt = cb->aio_nbytes > INT32_MAX ? -1 : (int)cb->aio_nbytes;
	}
	int saved = errno;
	ssize_t r;
	switch (cb->aio_lio_opcode) {
	case IOCB_CMD_PREAD:
	case IOCB_CMD_PREADV:
		r = preadv64v2(fd, iov, cnt, cb->aio_offset, fl);
		break;
	case IOCB_CMD_PWRITE:
	case IOCB_CMD_PWRITEV:
		r = pwritev64v2(fd, iov, cnt, cb->aio_offset, fl);
		if (r >= 0 && (fl & (RWF_DSYNC | RWF_SYNC)) &&
		    ((fl & RWF_SYNC) ? fsync(fd) : fdatasync(fd)) < 0)
			r = -1;
		break;
	case IOCB_CMD_FSYNC:
		r = fsync(fd);
		break;
	default:
		r = fdatasync(fd);
		break;
	}
	int64_t res = r < 0 ? -(int64_t)errno : (int64_t)r;
	errno = saved;
	return res;
}

/* Queue a completion (a->mu held). */
static bool push(struct actx *a, const struct io_event *ev)
{
	if (a->count == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		struct io_event *n = malloc(cap * sizeof(*n));
		if (!n)
			return false;
		for (size_t i = 0; i < a->count; i++)
			n[i] = a->ev[(a->head + i) % a->cap];
		free(a->ev);
		a->ev = n;
		a->cap = cap;
		a->head = 0;
	}
	a->ev[(a->head + a->count) % a->cap] = *ev;
	a->count++;
	return true;
}

/* IOCB_FLAG_RESFD's descriptor must be an eventfd, as the kernel checks
 * before it accepts the iocb: the completion is an 8-byte write to it,
 * which on a protected file (or one of the shim's own) would go round
 * the checksums, over the superblock.  0, or -EBADF/-EINVAL. */
static long check_resfd(int fd)
{
	if (ours(fd) || hidden_fd(fd))
		return -EINVAL;
	char link[64], target[64];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	if (n > 0) {
		target[n] = 0;
		return strcmp(target, "anon_inode:[eventfd]") ? -EINVAL : 0;
	}
	/* No /proc: an eventfd is no regular file, directory or device. */
	struct stat st;
	if (csm_real.fstat(fd, &st) < 0)
		return -EBADF;
	return S_ISREG(st.st_mode) || S_ISBLK(st.st_mode) || S_ISDIR(st.st_mode) ? -EINVAL : 0;
}

static long serve(struct actx *a, struct iocb *cb)
{
	if (cb->aio_reserved2 || (cb->aio_flags & ~(unsigned)(IOCB_FLAG_RESFD | IOCB_FLAG_IOPRIO)))
		return -EINVAL;
	if (cb->aio_flags & IOCB_FLAG_RESFD) {
		long rc = check_resfd((int)cb->aio_resfd);
		if (rc < 0)
			return rc;
	}
	if (hidden_fd((int)cb->aio_fildes))
		return -EBADF; /* not the program's: as io_submit answers a number not open */
	struct io_event ev = {.data = cb->aio_data, .obj = (uint64_t)(uintptr_t)cb};
	ev.res = run(cb);
	pthread_mutex_lock(&a->mu);
	bool ok = !a->dead && push(a, &ev);
	if (ok)
		pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
	if (!ok)
		return a->dead ? -EINVAL : -EAGAIN;
	if (cb->aio_flags & IOCB_FLAG_RESFD) {
		uint64_t one = 1;
		ssize_t w = csm_real.write((int)cb->aio_resfd, &one, sizeof(one));
		(void)w;
	}
	return 0;
}

long shim_kaio_submit(aio_context_t ctx, long nr, struct iocb **iocbs)
{
	if (nr < 0)
		return -EINVAL;
	bool any = false;
	for (long i = 0; i < nr && !any; i++)
		any = iocbs[i] && mine(iocbs[i]);
	struct actx *a = actx_get(ctx, any, true);
	if (!any) {
		if (a) {
			pthread_mutex_lock(&a->mu);
			a->kernel = true;
			pthread_mutex_unlock(&a->mu);
			actx_release(a);
		}
		return shim_ksys(SYS_io_submit, (long)ctx, nr, (long)iocbs, 0, 0, 0);
	}
	if (!a)
		return -EAGAIN;
	long done = 0, r = 0;
	while (done < nr) {
		if (!iocbs[done]) {
			r = -EFAULT;
			break;
		}
		if (mine(iocbs[done])) {
			r = serve(a, iocbs[done]);
			if (r < 0)
				break;
			done++;
			continue;
		}
		long end = done;
		while (end < nr && iocbs[end] && !mine(iocbs[end]))
			end++;
		pthread_mutex_lock(&a->mu);
		a->kernel = true;
		pthread_mutex_unlock(&a->mu);
		r = shim_ksys(SYS_io_submit, (long)ctx, end - done, (long)(iocbs + done), 0, 0, 0);
		if (r < 0)
			break;
		done += r;
		if (done < end)
			break;
	}
	actx_release(a);
	return done ? done : r;
}

long shim_kaio_cancel(aio_context_t ctx, struct iocb *iocb, struct io_event *result)
{
	/* Ours are done by the time io_submit returns: the kernel, which
	 * does not know them, answers EINVAL as for any finished iocb. */
	return shim_ksys(SYS_io_cancel, (long)ctx, (long)iocb, (long)result, 0, 0, 0);
}

static long kernel_get(aio_context_t ctx, long min_nr, long nr, struct io_event *ev,
                       struct timespec *ts, bool pwait, const sigset_t *mask)
{
	if (!pwait)
		return shim_ksys(SYS_io_getevents, (long)ctx, min_nr, nr, (long)ev, (long)ts, 0);
	struct {
		const sigset_t *mask;
		size_t size;
	} sig = {mask, _NSIG / 8};
	return shim_ksys(SYS_io_pgetevents, (long)ctx, min_nr, nr, (long)ev, (long)ts,
	                 mask ? (long)&sig : 0);
}

static long long mono_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

long shim_kaio_getevents(aio_context_t ctx, long min_nr, long nr, struct io_event *events,
                         struct timespec *timeout, bool pwait, const sigset_t *mask)
{
	struct actx *a = actx_get(ctx, false, false);
	if (!a)
		return kernel_get(ctx, min_nr, nr, events, timeout, pwait, mask);
	if (min_nr < 0 || nr < 0 || min_nr > nr) {
		actx_release(a);
		return -EINVAL;
	}
	long long end = timeout ? mono_ns() + timeout->tv_sec * 1000000000LL + timeout->tv_nsec : 0;
	sigset_t old;
	if (pwait && mask)
		pthread_sigmask(SIG_SETMASK, mask, &old);
	long got = 0, r = 0;
	pthread_mutex_lock(&a->mu);
	for (;;) {
		if (a->dead) {
			r = -EINVAL;
			break;
		}
		while (got < nr && a->count) {
			events[got++] = a->ev[a->head];
			a->head = (a->head + 1) % a->cap;
			a->count--;
		}
		bool kernel = a->kernel;
		if (kernel && got < nr) {
			pthread_mutex_unlock(&a->mu);
			struct timespec zero = {0, 0};
			long k = kernel_get(ctx, 0, nr - got, events + got, &zero, false, NULL);
			pthread_mutex_lock(&a->mu);
			if (k > 0)
				got += k;
			else if (k < 0 && k != -EINTR) {
				r = k;
				break;
			}
		}
		if (got >= min_nr || got == nr)
			break;
		long long left = timeout ? end - mono_ns() : INT64_MAX;
		if (left <= 0)
			break;
		if (!kernel) {
			struct timespec dl;
			clock_gettime(CLOCK_REALTIME, &dl);
			if (left > 3600 * 1000000000LL)
				left = 3600 * 1000000000LL;
			long long ns = dl.tv_nsec + left;
			dl.tv_sec += ns / 1000000000LL;
			dl.tv_nsec = ns % 1000000000LL;
			pthread_cond_timedwait(&a->cv, &a->mu, &dl);
			continue;
		}
		/* Both kinds may come: wait in the kernel for a slice (ours may
		 * be queued by another thread meanwhile). */
		if (left > 1000000)
			left = 1000000;
		pthread_mutex_unlock(&a->mu);
		struct timespec slice = {0, left};
		long k = kernel_get(ctx, 1, nr - got, events + got, &slice, false, NULL);
		pthread_mutex_lock(&a->mu);
		if (k > 0)
			got += k;
		else if (k < 0 && k != -EINTR) {
			r = k;
			break;
		}
	}
	pthread_mutex_unlock(&a->mu);
	if (pwait && mask)
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	actx_release(a);
	return got ? got : r;
}

/* ---- libaio's names (each returns a negative errno on failure) --------- */

API int io_setup(int nr, aio_context_t *ctxp)
{
	return (int)shim_kaio_setup((unsigned)nr, ctxp);
}

API int io_destroy(aio_context_t ctx)
{
	return (int)shim_kaio_destroy(ctx);
}

API int io_submit(aio_context_t ctx, long nr, struct iocb **iocbs)
{
	return (int)shim_kaio_submit(ctx, nr, iocbs);
}

API int io_cancel(aio_context_t ctx, struct iocb *iocb, struct io_event *result)
{
	return (int)shim_kaio_cancel(ctx, iocb, result);
}

API int io_getevents(aio_context_t ctx, long min_nr, long nr, struct io_event *events,
                     struct timespec *timeout)
{
	return (int)shim_kaio_getevents(ctx, min_nr, nr, events, timeout, false, NULL);
}

API int io_pgetevents(aio_context_t ctx, long min_nr, long nr, struct io_event *events,
                      struct timespec *timeout, sigset_t *mask)
{
	return (int)shim_kaio_getevents(ctx, min_nr, nr, events, timeout, true, mask);
}
