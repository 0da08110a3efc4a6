/*
 * The call families that go round read/write: POSIX AIO, Linux AIO
 * (libaio's names and syscall()), io_uring's set-up, glibc's syscall()
 * itself, the compat stat names, and fileno() of a protected stream.  Run with libcsumshim.so
 * preloaded and a config protecting DIR/p/ (tests/shim/run_async.sh, which then runs `csumshim
 * check` on every file and compares the syscall model's file with its plain copy).  Each case
 * checks the logical view (content, size, errno); raw system calls made with the instruction itself
 * check that the stored file is a csumshim file, so no case passes without the shim. Usage:
 * test_async DIR.  CSM_SEED and CSM_OPS replay and scale the syscall() model.
 */
#define _GNU_SOURCE
#include <aio.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libaio.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "rawsys.h"
#include "shimcase.h"

static char dir[512];

static char *at(const char *name)
{
	static char bufs[8][700];
	static int i;
	char *b = bufs[i++ % 8];
	snprintf(b, sizeof(bufs[0]), "%s/%s", dir, name);
	return b;
}

static void fill(uint8_t *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

/* The stored file starts with the csumshim superblock (read raw). */
static bool stored_formatted(const char *p)
{
	char head[8] = {0};
	int fd = (int)raw_syscall(SYS_openat, AT_FDCWD, p, O_RDONLY | O_CLOEXEC);
	long n = fd < 0 ? -1 : raw_syscall(SYS_pread64, fd, head, 8, 0);
	if (fd >= 0)
		raw_syscall(SYS_close, fd);
	return n == 8 && !memcmp(head, "CSUMSHIM", 8);
}

static bool content(int fd, off_t off, const uint8_t *want, size_t n)
{
	uint8_t *got = malloc(n);
	bool ok = got && pread(fd, got, n, off) == (ssize_t)n && !memcmp(got, want, n);
	free(got);
	return ok;
}

static off_t fsize(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 ? st.st_size : -1;
}

/* ---- POSIX AIO ----------------------------------------------------------- */

static volatile sig_atomic_t sig_count, sig_value, sig_code;

static void on_signal(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	sig_count++;
	sig_value = si->si_value.sival_int;
	sig_code = si->si_code;
}

static sem_t thread_sem;
static volatile int thread_value;

static void on_thread(union sigval v)
{
	thread_value = v.sival_int;
	sem_post(&thread_sem);
}

static bool wait_done(struct aiocb *cb)
{
	const struct aiocb *list[1] = {cb};
	struct timespec ts = {5, 0};
	while (aio_error(cb) == EINPROGRESS)
		if (aio_suspend(list, 1, &ts) < 0 && errno != EINTR)
			return false;
	return true;
}

static bool wait_signals(int n)
{
	for (int i = 0; i < 500 && sig_count < n; i++)
		usleep(10000);
	return sig_count >= n;
}

static void posix_aio(void)
{
	const char *p = at("p/aio.img");
	int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
	CASE("aio open", fd >= 0);
	enum { N = 10000, OFF = 1000 };
	static uint8_t w[N], r[N];
	fill(w, N, 1);

	struct aiocb cb = {.aio_fildes = fd, .aio_buf = w, .aio_nbytes = N, .aio_offset = OFF};
	cb.aio_sigevent.sigev_notify = SIGEV_NONE;
	CASE("aio_write", aio_write(&cb) == 0);
	CASE("aio_write done", wait_done(&cb) && aio_error(&cb) == 0);
	CASE("aio_return", aio_return(&cb) == N);
	CASE("aio_write content", content(fd, OFF, w, N) && fsize(fd) == OFF + N);
	CASE("aio_write stored", stored_formatted(p));

	/* SIGEV_SIGNAL, with si_code SI_ASYNCIO and the value. */
	struct sigaction sa = {.sa_sigaction = on_signal, .sa_flags = SA_SIGINFO};
	sigaction(SIGRTMIN, &sa, NULL);
	struct aiocb rc = {.aio_fildes = fd, .aio_buf = r, .aio_nbytes = N, .aio_offset = OFF};
	rc.aio_sigevent.sigev_notify = SIGEV_SIGNAL;
	rc.aio_sigevent.sigev_signo = SIGRTMIN;
	rc.aio_sigevent.sigev_value.sival_int = 77;
	sig_count = 0;
	CASE("aio_read", aio_read(&rc) == 0);
	CASE("aio_read done", wait_done(&rc) && aio_error(&rc) == 0 && aio_return(&rc) == N);
	CASE("aio_read content", !memcmp(r, w, N));
	CASE("aio SIGEV_SIGNAL", wait_signals(1) && sig_value == 77 && sig_code == SI_ASYNCIO);

	/* SIGEV_THREAD through the 64-bit name. */
	sem_init(&thread_sem, 0, 0);
	memset(r, 0, N);
	struct aiocb64 r64 = {.aio_fildes = fd, .aio_buf = r, .aio_nbytes = 100, .aio_offset = 0};
	r64.aio_sigevent.sigev_notify = SIGEV_THREAD;
	r64.aio_sigevent.sigev_notify_function = on_thread;
	r64.aio_sigevent.sigev_value.sival_int = 99;
	CASE("aio_read64", aio_read64(&r64) == 0);
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 5;
	CASE("aio SIGEV_THREAD", sem_timedwait(&thread_sem, &dl) == 0 && thread_value == 99);
	uint8_t zeros[100] = {0};
	CASE("aio_read64 hole",
	     aio_error64(&r64) == 0 && aio_return64(&r64) == 100 && !memcmp(r, zeros, 100));

	/* Past the end: 0 bytes. */
	struct aiocb eof = {.aio_fildes = fd, .aio_buf = r, .aio_nbytes = 10, .aio_offset = 50000};
	CASE("aio_read eof", aio_read(&eof) == 0 && wait_done(&eof) && aio_return(&eof) == 0);

	/* aio_fsync, aio_cancel. */
	struct aiocb sc = {.aio_fildes = fd};
	CASE("aio_fsync", aio_fsync(O_DSYNC, &sc) == 0 && wait_done(&sc) && aio_error(&sc) == 0);
	CASE("aio_fsync bad op", aio_fsync(12345, &sc) == -1 && errno == EINVAL);
	CASE("aio_cancel all", aio_cancel(fd, NULL) == AIO_ALLDONE);
	CASE("aio_cancel one", aio_cancel(fd, &cb) == AIO_ALLDONE);
	CASE("aio_cancel wrong fd", aio_cancel(fd + 100, &cb) == -1);

	/* A write-only descriptor cannot be read: EBADF from aio_error. */
	int wo = open(p, O_WRONLY);
	struct aiocb bad = {.aio_fildes = wo, .aio_buf = r, .aio_nbytes = 10};
	CASE("aio_read EBADF", aio_read(&bad) == 0 && wait_done(&bad) && aio_error(&bad) == EBADF &&
	                               aio_return(&bad) == -1);
	close(wo);

	/* lio_listio mixing a protected and a plain file, waiting. */
	int pl = open(at("q/plain.bin"), O_RDWR | O_CREAT | O_TRUNC, 0644);
	static uint8_t a[4096], b[4096], ra[4096], rb[4096];
	fill(a, sizeof(a), 2);
	fill(b, sizeof(b), 3);
	struct aiocb l1 = {.aio_fildes = fd,
	                   .aio_lio_opcode = LIO_WRITE,
	                   .aio_buf = a,
	                   .aio_nbytes = 4096,
	                   .aio_offset = 20000};
	struct aiocb l2 = {.aio_fildes = pl,
	                   .aio_lio_opcode = LIO_WRITE,
	                   .aio_buf = b,
	                   .aio_nbytes = 4096,
	                   .aio_offset = 0};
	struct aiocb *list[3] = {&l1, NULL, &l2};
	CASE("lio_listio wait", lio_listio(LIO_WAIT, list, 3, NULL) == 0);
	CASE("lio_listio results", aio_return(&l1) == 4096 && aio_return(&l2) == 4096);
	CASE("lio_listio content", content(fd, 20000, a, 4096) && fsize(fd) == 24096);
	CASE("lio_listio plain", pread(pl, rb, 4096, 0) == 4096 && !memcmp(rb, b, 4096));

	/* ... and not waiting, with the list's signal. */
	struct aiocb m1 = {.aio_fildes = fd,
	                   .aio_lio_opcode = LIO_READ,
	                   .aio_buf = ra,
	                   .aio_nbytes = 4096,
	                   .aio_offset = 20000};
	struct aiocb m2 = {.aio_fildes = pl,
	                   .aio_lio_opcode = LIO_READ,
	                   .aio_buf = rb,
	                   .aio_nbytes = 4096,
	                   .aio_offset = 0};
	struct aiocb *mlist[2] = {&m1, &m2};
	struct sigevent ls = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGRTMIN};
	ls.sigev_value.sival_int = 88;
	sig_count = 0;
	memset(rb, 0, sizeof(rb));
	CASE("lio_listio nowait", lio_listio(LIO_NOWAIT, mlist, 2, &ls) == 0);
	CASE("lio_listio signal", wait_signals(1) && sig_value == 88);
	CASE("lio_listio nowait data", wait_done(&m1) && wait_done(&m2) &&
	                                       aio_return(&m1) == 4096 && aio_return(&m2) == 4096 &&
	                                       !memcmp(ra, a, 4096) && !memcmp(rb, b, 4096));
	close(pl);
	CASE("aio close", close(fd) == 0);
}

/* ---- Linux AIO ------------------------------------------------------------ */

static void *destroy_waiter(void *arg)
{
	io_context_t ctx = arg;
	struct io_event ev;
	return (void *)(intptr_t)io_getevents(ctx, 1, 1, &ev, NULL);
}

static void linux_aio(void)
{
	const char *p = at("p/kaio.img");
	int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
	int pl = open(at("q/kaio.bin"), O_RDWR | O_CREAT | O_TRUNC, 0644);
	CASE("kaio open", fd >= 0 && pl >= 0);
	io_context_t ctx = 0;
	CASE("io_setup", io_setup(64, &ctx) == 0);
	static uint8_t w[8192], v[8192], r1[3000], r2[5192];
	fill(w, sizeof(w), 4);
	fill(v, sizeof(v), 5);

	/* One submission: a protected write and a plain one. */
	struct iocb c1, c2, *cbs[2] = {&c1, &c2};
	io_prep_pwrite(&c1, fd, w, sizeof(w), 4096);
	c1.data = (void *)1;
	io_prep_pwrite(&c2, pl, v, sizeof(v), 0);
	c2.data = (void *)2;
	CASE("io_submit mixed", io_submit(ctx, 2, cbs) == 2);
	struct io_event ev[8];
	struct timespec five = {5, 0};
	int n = io_getevents(ctx, 2, 8, ev, &five);
	bool both = n == 2;
	for (int i = 0; i < n; i++)
		both &= ev[i].res == 8192 && ((ev[i].obj == &c1 && ev[i].data == (void *)1) ||
		                              (ev[i].obj == &c2 && ev[i].data == (void *)2));
	CASE("io_getevents mixed", both);
	CASE("io pwrite content", content(fd, 4096, w, sizeof(w)) && fsize(fd) == 12288);
	CASE("io pwrite stored", stored_formatted(p));

	/* PREADV with an eventfd; reaped with a zero timeout (libaio would
	 * look only at the kernel's ring). */
	int efd = eventfd(0, EFD_CLOEXEC);
	struct iovec iov[2] = {{r1, sizeof(r1)}, {r2, sizeof(r2)}};
	struct iocb c3, *one[1] = {&c3};
	io_prep_preadv(&c3, fd, iov, 2, 4096);
	io_set_eventfd(&c3, efd);
	CASE("io_submit preadv", io_submit(ctx, 1, one) == 1);
	uint64_t cnt = 0;
	CASE("io eventfd", read(efd, &cnt, 8) == 8 && cnt == 1);
	struct timespec zero = {0, 0};
	n = io_getevents(ctx, 0, 8, ev, &zero);
	CASE("io_getevents zero timeout", n == 1 && ev[0].obj == &c3 && ev[0].res == 8192);
	CASE("io preadv content", !memcmp(r1, w, sizeof(r1)) && !memcmp(r2, w + 3000, sizeof(r2)));
	close(efd);

	/* Syncs, a read past the end, a bad offset. */
	struct iocb c4, c5, c6, c7, *four[4] = {&c4, &c5, &c6, &c7};
	io_prep_fsync(&c4, fd);
	io_prep_fdsync(&c5, fd);
	io_prep_pread(&c6, fd, r1, 100, 1 << 20);
	io_prep_pread(&c7, fd, r1, 100, -4096);
	CASE("io_submit syncs", io_submit(ctx, 4, four) == 4);
	n = io_getevents(ctx, 4, 8, ev, &five);
	bool ok = n == 4;
	for (int i = 0; i < n; i++)
		ok &= ev[i].obj == &c7 ? (long)ev[i].res == -EINVAL : ev[i].res == 0;
	CASE("io syncs, eof, EINVAL", ok);
	CASE("io_cancel done", io_cancel(ctx, &c4, ev) < 0);

	/* MariaDB's way: syscall(__NR_io_submit) and syscall(__NR_io_getevents). */
	struct iocb c8, *s8[1] = {&c8};
	io_prep_pwrite(&c8, fd, v, 4096, 0);
	CASE("syscall io_submit", syscall(SYS_io_submit, ctx, 1L, s8) == 1);
	CASE("syscall io_getevents", syscall(SYS_io_getevents, ctx, 1L, 8L, ev, &five) == 1 &&
	                                     ev[0].obj == &c8 && ev[0].res == 4096);
	CASE("syscall io content", content(fd, 0, v, 4096));

	/* IOCB_FLAG_RESFD naming a protected file (not an eventfd): the
	 * kernel refuses it (EINVAL); its 8-byte completion write must never
	 * land raw on the stored file (it overwrote the superblock). */
	int victim = open(at("p/resfd.img"), O_RDWR | O_CREAT | O_TRUNC, 0644);
	CASE("resfd victim", victim >= 0 && write(victim, w, 100) == 100);
	struct iocb c9, *s9[1] = {&c9};
	io_prep_fsync(&c9, fd);
	io_set_eventfd(&c9, victim);
	errno = 0;
	CASE("resfd not an eventfd", syscall(SYS_io_submit, ctx, 1L, s9) == -1 && errno == EINVAL);
	CASE("resfd victim intact", content(victim, 0, w, 100) && fsize(victim) == 100);
	close(victim);

	/* io_destroy wakes a waiter, which gets EINVAL. */
	pthread_t t;
	pthread_create(&t, NULL, destroy_waiter, (void *)ctx);
	usleep(50000);
	CASE("io_destroy", io_destroy(ctx) == 0);
	void *res = NULL;
	clock_gettime(CLOCK_REALTIME, &five);
	five.tv_sec += 5;
	CASE("io_destroy wakes",
	     pthread_timedjoin_np(t, &res, &five) == 0 && (intptr_t)res == -EINVAL);
	close(pl);
	CASE("kaio close", close(fd) == 0);
}

/* ---- io_uring -------------------------------------------------------------- */

static void uring(void)
{
	char params[120] = {0};
	errno = 0;
	CASE("syscall io_uring_setup",
	     syscall(SYS_io_uring_setup, 8L, params) == -1 && errno == ENOSYS);
	int (*init)(unsigned, void *, unsigned) =
	        (int (*)(unsigned, void *, unsigned))dlsym(RTLD_DEFAULT, "io_uring_queue_init");
	char ring[512];
	CASE("io_uring_queue_init", init && init(8, ring, 0) == -ENOSYS);
}

/* ---- compat stat --------------------------------------------------------- */

static void compat_stat(void)
{
	const char *p = at("p/stat.img");
	int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
	CASE("compat write", fd >= 0 && pwrite(fd, "0123456789", 10, 0) == 10);
	typedef int (*fx)(int, int, struct stat *);
	typedef int (*px)(int, const char *, struct stat *);
	typedef int (*ax)(int, int, const char *, struct stat *, int);
	struct stat st;
	const char *fnames[] = {"__fxstat", "__fxstat64"};
	for (int i = 0; i < 2; i++) {
		fx f = (fx)dlsym(RTLD_DEFAULT, fnames[i]);
		st.st_size = -1;
		CASE(fnames[i], f && f(1, fd, &st) == 0 && st.st_size == 10);
	}
	const char *pnames[] = {"__xstat", "__xstat64", "__lxstat", "__lxstat64"};
	for (int i = 0; i < 4; i++) {
		px f = (px)dlsym(RTLD_DEFAULT, pnames[i]);
		st.st_size = -1;
		CASE(pnames[i], f && f(1, p, &st) == 0 && st.st_size == 10);
	}
	const char *anames[] = {"__fxstatat", "__fxstatat64"};
	for (int i = 0; i < 2; i++) {
		ax f = (ax)dlsym(RTLD_DEFAULT, anames[i]);
		st.st_size = -1;
		CASE(anames[i], f && f(1, AT_FDCWD, p, &st, 0) == 0 && st.st_size == 10);
	}
	fx f = (fx)dlsym(RTLD_DEFAULT, "__fxstat");
	CASE("__fxstat bad version", f && f(7, fd, &st) == -1 && errno == EINVAL);
	CASE("compat stored", stored_formatted(p));
	close(fd);
}

/* ---- stdio: fileno of a protected stream ---------------------------------- */

static void stdio_fileno(void)
{
	const char *p = at("p/stream.img");
	FILE *fp = fopen(p, "w+");
	CASE("fopen", fp != NULL);
	if (!fp)
		return;
	int fd = fileno(fp);
	CASE("fileno", fd > 2 && fileno_unlocked(fp) == fd);
	CASE("fwrite", fwrite("0123456789", 1, 10, fp) == 10 && fflush(fp) == 0);
	CASE("fsync(fileno)", fsync(fd) == 0);
	CASE("fstat(fileno)", fsize(fd) == 10);
	CASE("pread(fileno)", content(fd, 0, (const uint8_t *)"0123456789", 10));
	CASE("fclose", fclose(fp) == 0);
	CASE("fileno stored", stored_formatted(p));
}

/* ---- syscall(): random operations against an in-memory model ------------ */

#define MODEL_MAX (400 * 1024)

static uint64_t rng;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static size_t pick(size_t n)
{
	return n ? (size_t)(next() % n) : 0;
}

struct model {
	uint8_t *d;
	size_t size;
};

static void model_write(struct model *m, size_t off, const uint8_t *b, size_t n)
{
	if (off > m->size)
		memset(m->d + m->size, 0, off - m->size);
	memcpy(m->d + off, b, n);
	if (off + n > m->size)
		m->size = off + n;
}

static void model_truncate(struct model *m, size_t size)
{
	if (size > m->size)
		memset(m->d + m->size, 0, size - m->size);
	m->size = size;
}

static bool model_check(int fd, const struct model *m, const char *what)
{
	struct stat st;
	if (syscall(SYS_fstat, fd, &st) != 0 || (size_t)st.st_size != m->size) {
		printf("  %s: size %lld, model %zu\n", what, (long long)st.st_size, m->size);
		return false;
	}
	uint8_t *b = malloc(m->size + 1);
	long n = syscall(SYS_pread64, fd, b, m->size + 1, 0L);
	bool ok = n == (long)m->size && !memcmp(b, m->d, m->size);
	if (!ok)
		printf("  %s: read %ld bytes, differ from the model\n", what, n);
	free(b);
	return ok;
}

static void syscall_model(void)
{
	unsigned long long seed = getenv("CSM_SEED") ? strtoull(getenv("CSM_SEED"), NULL, 0)
	                                             : (unsigned long long)time(NULL);
	long ops = getenv("CSM_OPS") ? atol(getenv("CSM_OPS")) : 3000;
	printf("syscall model: seed %llu (CSM_SEED=%llu replays), %ld operations\n", seed, seed,
	       ops);
	rng = seed * 2654435761u + 1;
	const char *pa = at("p/model.img"), *pb = at("p/model2.img"), *src = at("q/src.bin");
	int a = (int)syscall(SYS_openat, AT_FDCWD, pa, O_RDWR | O_CREAT | O_TRUNC, 0644);
	int b = (int)syscall(SYS_open, pb, O_RDWR | O_CREAT | O_TRUNC, 0644);
	int s = (int)syscall(SYS_openat, AT_FDCWD, src, O_RDWR | O_CREAT | O_TRUNC, 0644);
	CASE("model open", a >= 0 && b >= 0 && s >= 0);
	struct model ma = {calloc(1, MODEL_MAX * 2), 0}, mb = {calloc(1, MODEL_MAX * 2), 0};
	static uint8_t plain[65536], buf[65536 + 1];
	fill(plain, sizeof(plain), 9);
	CASE("model plain source", syscall(SYS_pwrite64, s, plain, sizeof(plain), 0L) == 65536);
	bool ok = true;
	long i;
	for (i = 0; i < ops && ok; i++) {
		struct model *m = pick(4) ? &ma : &mb;
		int fd = m == &ma ? a : b;
		size_t off = pick(MODEL_MAX - 70000), n = 1 + pick(20000);
		switch (pick(9)) {
		case 0: /* pwrite64 */
			fill(buf, n, (unsigned)next());
			ok = syscall(SYS_pwrite64, fd, buf, n, (long)off) == (long)n;
			model_write(m, off, buf, n);
			break;
		case 1: { /* pread64 */
			long r = syscall(SYS_pread64, fd, buf, n, (long)off);
			size_t want = off >= m->size ? 0 : (m->size - off < n ? m->size - off : n);
			ok = r == (long)want && !memcmp(buf, m->d + off, want);
			break;
		}
		case 2: /* lseek + write */
			fill(buf, n, (unsigned)next());
			ok = syscall(SYS_lseek, fd, (long)off, SEEK_SET) == (long)off &&
			     syscall(SYS_write, fd, buf, n) == (long)n &&
			     syscall(SYS_lseek, fd, 0L, SEEK_CUR) == (long)(off + n);
			model_write(m, off, buf, n);
			break;
		case 3: { /* lseek + readv */
			size_t want = off >= m->size ? 0 : (m->size - off < n ? m->size - off : n);
			struct iovec iov[2] = {{buf, n / 2}, {buf + n / 2, n - n / 2}};
			ok = syscall(SYS_lseek, fd, (long)off, SEEK_SET) == (long)off &&
			     syscall(SYS_readv, fd, iov, 2L) == (long)want &&
			     !memcmp(buf, m->d + off, want);
			break;
		}
		case 4: { /* pwritev */
			fill(buf, n, (unsigned)next());
			struct iovec iov[2] = {{buf, n / 3}, {buf + n / 3, n - n / 3}};
			ok = syscall(SYS_pwritev, fd, iov, 2L, (long)off, 0L) == (long)n;
			model_write(m, off, buf, n);
			break;
		}
		case 5: { /* copy_file_range from the plain file */
			size_t len = n / 4 + 1;
			loff_t so = (loff_t)pick(65536 - len), d = (loff_t)off;
			ok = syscall(SYS_copy_file_range, s, &so, fd, &d, len, 0L) == (long)len;
			model_write(m, off, plain + so - len, len);
			break;
		}
		case 6: { /* copy_file_range between the two protected files */
			struct model *o = m == &ma ? &mb : &ma;
			int ofd = m == &ma ? b : a;
			if (!o->size)
				break;
			loff_t so = (loff_t)pick(o->size), d = (loff_t)off;
			size_t len = o->size - (size_t)so < n ? o->size - (size_t)so : n;
			ok = syscall(SYS_copy_file_range, ofd, &so, fd, &d, len, 0L) == (long)len;
			model_write(m, off, o->d + so - len, len);
			break;
		}
		case 7: { /* ftruncate, or truncate by name */
			size_t size = pick(MODEL_MAX);
			ok = pick(2) ? syscall(SYS_ftruncate, fd, (long)size) == 0
			             : syscall(SYS_truncate, m == &ma ? pa : pb, (long)size) == 0;
			model_truncate(m, size);
			break;
		}
		default: { /* the whole file, and its size */
			ok = model_check(fd, m, "check");
			break;
		}
		}
		if (!ok)
			printf("  operation %ld failed (errno %d %s)\n", i, errno, strerror(errno));
	}
	CASE("model operations", ok);
	CASE("model final a", model_check(a, &ma, "final a"));
	CASE("model final b", model_check(b, &mb, "final b"));
	CASE("model stored", stored_formatted(pa) && stored_formatted(pb));
	CASE("model close", syscall(SYS_close, a) == 0 && syscall(SYS_close, b) == 0 &&
	                            syscall(SYS_close, s) == 0);
	/* The model, plain, for the runner to compare with `csumshim export`. */
	int e = open(at("q/model.expect"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CASE("model expect", e >= 0 && write(e, ma.d, ma.size) == (ssize_t)ma.size && !close(e));
	free(ma.d);
	free(mb.d);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: test_async DIR\n");
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s", argv[1]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	posix_aio();
	linux_aio();
	uring();
	compat_stat();
	stdio_fileno();
	syscall_model();
	printf("async: %d passed, %d failed\n", cases - failures, failures);
	return failures ? 1 : 0;
}
