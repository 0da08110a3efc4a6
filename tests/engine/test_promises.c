/*
 * Promises of include/csumshim/engine.h and docs/DESIGN.md that the other
 * engine tests do not hold the engine to:
 *
 * 1. Limits: on a store of fixed capacity (a block device) a write at or
 *    past the end fails with ENOSPC, a write across it is short, an append
 *    at the end fails with ENOSPC and a truncate with EINVAL; on any store
 *    a write, append or truncate past 2^60 bytes fails with EFBIG; nothing
 *    of a refused call is stored.
 * 2. Solo mode off: an engine alone on a real file goes solo, but not with
 *    no_solo (config solo = no), not on a store the backend calls remote
 *    (a network file system), not read-only.  The POSIX backend calls a
 *    store remote from its file system's statfs f_type: with an fstatfs
 *    that reports NFS, CIFS, SMB2, FUSE or Ceph the engine stays out of
 *    solo mode, with one that reports ext4 or xfs it goes solo.
 * 3. The 5-second clean timer (tests elsewhere force clean_eagerly): after
 *    an fsync a group stays dirty while it was written in the last 5 s, so
 *    a lost write after a power cut is re-sealed and reported unverified;
 *    once it has been idle 5 s an fsync marks it clean, and the same lost
 *    write is a mismatch after the power cut.  Takes some 6 s of sleeping:
 *    the time is what is tested.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "csumshim/engine.h"
#include "membackend.h"
#include "testlib.h"

static uint64_t n_unverified, n_mismatch;

static void on_event(void *arg, const struct csm_event *ev)
{
	(void)arg;
	if (ev->kind == CSM_EV_UNVERIFIED)
		n_unverified++;
	else if (ev->kind == CSM_EV_DATA_MISMATCH)
		n_mismatch++;
}

static struct csm_engine *open_mem(struct mem_backend *m, bool fixed, bool eager)
{
	struct csm_backend be = mem_backend_view(m);
	be.resizable = !fixed;
	/* Reopens here follow simulated power cuts, which a v1 file cannot
	 * prove (no boot id recorded): as `csumshim recover --after-power-loss`. */
	struct csm_engine_opts o = {
	        .report = on_event, .clean_eagerly = eager, .after_power_loss = true};
	struct csm_engine *e;
	char err[200];
	CHECK(csm_open(&be, &o, &e, err, sizeof(err)) == 0, "%s", err);
	return e;
}

/* ---- 1. limits -------------------------------------------------------- */

static void limits(void)
{
	/* A "device" of 3 MiB (the aligned layout's first data run starts at
	 * 2 MiB): the store exists at its full size first. */
	struct mem_backend m;
	mem_backend_init(&m, true);
	struct csm_backend be = mem_backend_view(&m);
	be.resizable = false;
	static uint8_t zero[3 << 20];
	struct iovec v = {zero, sizeof(zero)};
	CHECK(be.ops->pwritev(be.ctx, CSM_DATA, &v, 1, 0) == (ssize_t)sizeof(zero));
	struct csm_format_opts fo = {.use_capacity = true};
	char err[200];
	CHECK(csm_format(&be, &fo, err, sizeof(err)) == 0, "%s", err);
	struct csm_engine *e = open_mem(&m, true, false);
	uint64_t cap = csm_size(e);
	CHECK(cap > 0 && cap < sizeof(zero) && cap % 4096 == 0, "capacity %llu",
	      (unsigned long long)cap);
	uint8_t buf[8192];
	memset(buf, 'x', sizeof(buf));
	errno = 0;
	CHECK(csm_pwrite(e, buf, 4096, cap) == -1 && errno == ENOSPC, "write at the end: %s",
	      strerror(errno));
	errno = 0;
	CHECK(csm_pwrite(e, buf, 1, cap + (1 << 30)) == -1 && errno == ENOSPC,
	      "write far past the end: %s", strerror(errno));
	CHECK(csm_pwrite(e, buf, 8192, cap - 4096) == 4096, "a write across the end is not short");
	uint64_t at = 0;
	errno = 0;
	CHECK(csm_append(e, buf, 10, &at) == -1 && errno == ENOSPC, "append at the end: %s",
	      strerror(errno));
	errno = 0;
	CHECK(csm_truncate(e, cap / 2) == -1 && errno == EINVAL, "truncate of a device: %s",
	      strerror(errno));
	CHECK(csm_size(e) == cap, "the size changed");
	uint8_t got[4096];
	CHECK(csm_pread(e, got, sizeof(got), cap - 4096) == 4096 && memcmp(got, buf, 4096) == 0);
	CHECK(csm_pread(e, got, sizeof(got), cap) == 0, "a read at the end is not empty");
	CHECK(csm_close(e) == 0);
	/* The device shrank under the file: refused, naming both sizes. */
	CHECK(be.ops->set_size(be.ctx, CSM_DATA, (uint64_t)sizeof(zero) - (1 << 20)) == 0);
	be = mem_backend_view(&m);
	be.resizable = false;
	struct csm_engine_opts o = {0};
	CHECK(csm_open(&be, &o, &e, err, sizeof(err)) == -EUCLEAN &&
	              strstr(err, "was formatted for") != NULL,
	      "a shrunk device: %s", err);
	mem_backend_free(&m);

	/* Past 2^60 on a growable store. */
	mem_backend_init(&m, true);
	be = mem_backend_view(&m);
	struct csm_format_opts fo2 = {.size = 4096};
	CHECK(csm_format(&be, &fo2, err, sizeof(err)) == 0, "%s", err);
	e = open_mem(&m, false, false);
	const uint64_t max = CSM_MAX_LOGICAL_SIZE;
	errno = 0;
	CHECK(csm_pwrite(e, buf, 1, max) == -1 && errno == EFBIG, "write at 2^60: %s",
	      strerror(errno));
	errno = 0;
	CHECK(csm_pwrite(e, buf, 2, max - 1) == -1 && errno == EFBIG, "write across 2^60: %s",
	      strerror(errno));
	errno = 0;
	CHECK(csm_truncate(e, max + 1) == -1 && errno == EFBIG, "truncate past 2^60: %s",
	      strerror(errno));
	CHECK(csm_size(e) == 4096, "a refused call changed the size");
	CHECK(csm_close(e) == 0);
	mem_backend_free(&m);
	printf("limits: ENOSPC at and past a fixed store's end (a write across it is short, "
	       "truncate EINVAL), EFBIG past 2^60\n");
}

/* ---- 2. solo mode off ------------------------------------------------- */

/* The file system type the fake fstatfs reports (0: the real one). */
static unsigned long fake_ftype;

static int fake_fstatfs(int fd, struct statfs *f)
{
	int r = fstatfs(fd, f);
	if (r == 0 && fake_ftype)
		f->f_type = (__fsword_t)fake_ftype;
	return r;
}

/* remote < 0: as the backend found it (through the fake fstatfs). */
static bool solo_after_open(const char *path, bool no_solo, int remote, bool readonly)
{
	int fd = open(path, readonly ? O_RDONLY : O_RDWR);
	CHECK(fd >= 0);
	struct csm_backend be;
	struct csm_sysio sys;
	csm_sysio_libc(&sys);
	sys.fstatfs = fake_fstatfs;
	CHECK(csm_backend_posix(&be, fd, fd, true, &sys) == 0);
	if (remote >= 0) {
		CHECK(!be.remote, "a file in /tmp taken for a network file system");
		be.remote = remote;
	}
	struct csm_engine_opts o = {.no_solo = no_solo, .readonly = readonly, .solo_retry_ms = 1};
	struct csm_engine *e;
	char err[200];
	CHECK(csm_open(&be, &o, &e, err, sizeof(err)) == 0, "%s", err);
	bool solo = false;
	/* Writes, so an engine that may go solo has every chance to. */
	for (int i = 0; i < 50 && !readonly; i++) {
		uint8_t b[512] = {(uint8_t)i};
		CHECK(csm_pwrite(e, b, sizeof(b), (uint64_t)i * 512) == (ssize_t)sizeof(b));
		solo |= csm_is_solo(e);
		usleep(1000);
	}
	solo |= csm_is_solo(e);
	CHECK(csm_close(e) == 0);
	return solo;
}

static void solo_off(void)
{
	char path[] = "/tmp/csumshim-promises-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	struct csm_backend be;
	CHECK(csm_backend_posix(&be, fd, fd, true, NULL) == 0);
	struct csm_format_opts fo = {.size = 1 << 20};
	char err[200];
	CHECK(csm_format(&be, &fo, err, sizeof(err)) == 0, "%s", err);
	csm_backend_destroy(&be);
	CHECK(solo_after_open(path, false, false, false), "an engine alone on a file is not solo");
	CHECK(!solo_after_open(path, true, false, false), "no_solo: the engine went solo");
	CHECK(!solo_after_open(path, false, true, false), "a remote store: the engine went solo");
	CHECK(!solo_after_open(path, false, false, true), "read-only: the engine went solo");
	/* The backend's own detection, from the file system type. */
	static const struct {
		unsigned long ftype;
		const char *name;
		bool remote;
	} fs[] = {
	        {0x6969, "NFS", true},      {0xFF534D42, "CIFS", true}, {0xFE534D42, "SMB2", true},
	        {0x65735546, "FUSE", true}, {0x00C36400, "Ceph", true}, {0xEF53, "ext4", false},
	        {0x58465342, "xfs", false},
	};
	for (size_t i = 0; i < sizeof(fs) / sizeof(fs[0]); i++) {
		fake_ftype = fs[i].ftype;
		bool solo = solo_after_open(path, false, -1, false);
		CHECK(solo == !fs[i].remote, "%s (f_type %#lx): solo mode %s", fs[i].name,
		      fs[i].ftype, solo ? "on" : "off");
	}
	fake_ftype = 0;
	unlink(path);
	printf("solo: on for an engine alone on a local file (ext4, xfs); off with no_solo, on a "
	       "remote store (NFS, CIFS, SMB2, FUSE, Ceph by statfs), read-only\n");
}

/* ---- 3. the 5-second clean timer -------------------------------------- */

/* Write v1 then v2 to a block with an fsync after each, wait `idle_ms`,
 * fsync again, lose the v2 write on the storage, cut the power, reopen.
 * Returns how the lost write showed: 'U' re-sealed as unverified (the
 * group was dirty), 'M' a mismatch (the group was clean). */
static char lost_write_after(unsigned idle_ms)
{
	struct mem_backend mb;
	mem_backend_init(&mb, true);
	struct csm_backend be = mem_backend_view(&mb);
	struct csm_format_opts fo = {.size = 1 << 20};
	char err[200];
	CHECK(csm_format(&be, &fo, err, sizeof(err)) == 0, "%s", err);
	mem_crashsim_start(&mb);
	struct csm_engine *e = open_mem(&mb, false, false); /* the real timer */
	uint8_t v1[4096], v2[4096], got[4096];
	memset(v1, 0x11, sizeof(v1));
	memset(v2, 0x22, sizeof(v2));
	uint64_t blk = 7, phys = csm_geo_data_offset(csm_geometry(e), blk);
	CHECK(csm_pwrite(e, v1, 4096, blk * 4096) == 4096);
	CHECK(csm_fsync(e, true) == 0);
	CHECK(csm_pwrite(e, v2, 4096, blk * 4096) == 4096);
	CHECK(csm_fsync(e, true) == 0);
	usleep(idle_ms * 1000);
	CHECK(csm_fsync(e, true) == 0);
	CHECK(csm_raw_pwrite(e, CSM_DATA, v1, 4096, phys) == 4096); /* the loss */
	CHECK(be.ops->sync(be.ctx, CSM_DATA, true) == 0);
	mb.failed = true; /* power cut: nothing unsynced survives */
	csm_close(e);
	mb.failed = false;
	uint64_t seed = 1;
	mem_crash(&mb, &seed, 0, false);
	n_unverified = n_mismatch = 0;
	e = open_mem(&mb, false, false);
	errno = 0;
	ssize_t n = csm_pread(e, got, sizeof(got), blk * 4096);
	char how = '?';
	if (n == 4096 && memcmp(got, v1, 4096) == 0 && n_unverified == 1 && n_mismatch == 0)
		how = 'U';
	else if (n == -1 && errno == EIO && n_unverified == 0 && n_mismatch == 1)
		how = 'M';
	else
		fprintf(stderr,
		        "lost write after %u ms idle: read %zd (%s), %llu unverified, %llu "
		        "mismatches\n",
		        idle_ms, n, strerror(errno), (unsigned long long)n_unverified,
		        (unsigned long long)n_mismatch);
	csm_close(e);
	mem_backend_free(&mb);
	return how;
}

static void clean_timer(void)
{
	char early = lost_write_after(0), late = lost_write_after(5300);
	CHECK(early == 'U', "a group written within 5 s was cleaned by the fsync (%c)", early);
	CHECK(late == 'M', "a group idle for 5 s was not cleaned by the fsync (%c)", late);
	printf("clean timer: an fsync right after a write leaves the group dirty (a lost write "
	       "is re-sealed after a power cut), one 5.3 s later marks it clean (a mismatch)\n");
}

int main(void)
{
	limits();
	solo_off();
	clean_timer();
	printf("3 passed, 0 failed\n");
	return 0;
}
