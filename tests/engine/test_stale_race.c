/*
 * A superblock that is merely newer than what an opener read is not a
 * stale superblock.  Engine B opens a file engine A (another open file:
 * its locks are another process's) has open; between B's read of the
 * superblock and its look at the last group's brothers, A shrinks the
 * file, syncs and writes that group: its brother then carries an epoch
 * past the sequence B read.  B must read the superblock again before
 * calling it stale (the churn of tests/shim/procs_test.py hit this: every
 * call of a process that opened at that instant failed with EIO, "group 0:
 * superblock is older than this group's metadata").
 *
 * B's backend is the POSIX one wrapped: the first read of the brothers
 * after the superblock's runs A's steps first, deterministically.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "csumshim/backend.h"
#include "csumshim/engine.h"
#include "testlib.h"

static struct csm_backend inner;
static struct csm_engine *a;
static bool armed, fired;
static uint64_t stale_events;

static void on_event(void *arg, const struct csm_event *ev)
{
	(void)arg;
	if (ev->kind == CSM_EV_STALE_SUPER)
		stale_events++;
}

/* What another process does while B opens: shrink (a new superblock),
 * sync (so it is the newest durable one), write group 0 (its brother
 * sealed with that sequence). */
static void other_process_steps(void)
{
	static uint8_t blk[4096];
	memset(blk, 'A', sizeof(blk));
	CHECK(csm_truncate(a, 8192) == 0);
	CHECK(csm_fsync(a, false) == 0);
	CHECK(csm_pwrite(a, blk, sizeof(blk), 0) == (ssize_t)sizeof(blk));
}

static ssize_t w_preadv(void *ctx, enum csm_store st, const struct iovec *iov, int cnt,
                        uint64_t off)
{
	(void)ctx;
	if (armed && !fired && off > 0) { /* past the superblock: the brothers */
		fired = true;
		other_process_steps();
	}
	return inner.ops->preadv(inner.ctx, st, iov, cnt, off);
}

int main(void)
{
	char path[] = "/tmp/csumshim-stale-race.XXXXXX";
	int fa = mkstemp(path);
	CHECK(fa >= 0);
	struct csm_backend be;
	CHECK(csm_backend_posix(&be, fa, fa, true, NULL) == 0);
	struct csm_format_opts fo = {.size = 0};
	char err[200];
	CHECK(csm_format(&be, &fo, err, sizeof(err)) == 0, "%s", err);
	struct csm_engine_opts o = {.report = on_event, .no_solo = true};
	CHECK(csm_open(&be, &o, &a, err, sizeof(err)) == 0, "open A: %s", err);
	static uint8_t data[16384];
	memset(data, 'x', sizeof(data));
	CHECK(csm_pwrite(a, data, sizeof(data), 0) == (ssize_t)sizeof(data));
	CHECK(csm_fsync(a, false) == 0);

	/* B: another open file of the same path, every call forwarded. */
	int fb = open(path, O_RDWR | O_CLOEXEC);
	CHECK(fb >= 0);
	CHECK(csm_backend_posix(&inner, fb, fb, true, NULL) == 0);
	struct csm_backend_ops ops = *inner.ops;
	ops.preadv = w_preadv;
	struct csm_backend wb = inner;
	wb.ops = &ops;
	armed = true;
	struct csm_engine *b;
	CHECK(csm_open(&wb, &o, &b, err, sizeof(err)) == 0, "open B: %s", err);
	CHECK(fired, "A's steps ran inside B's open");
	armed = false;

	/* B works: no stale superblock, the content as A left it. */
	uint8_t got[8192], want[8192];
	memset(want, 'x', sizeof(want));
	memset(want, 'A', 4096);
	CHECK(csm_pread(b, got, sizeof(got), 0) == (ssize_t)sizeof(got), "B reads: %s",
	      strerror(errno));
	CHECK(!memcmp(got, want, sizeof(got)));
	CHECK(csm_pwrite(b, "B", 1, 100) == 1, "B writes: %s", strerror(errno));
	CHECK(stale_events == 0, "%llu stale-superblock events", (unsigned long long)stale_events);
	CHECK(csm_close(b) == 0);
	CHECK(csm_close(a) == 0);
	unlink(path);
	printf("test_stale_race: a newer superblock is read again, not called stale\n");
	return 0;
}
