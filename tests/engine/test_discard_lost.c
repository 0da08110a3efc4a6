/*
 * csm_recover with opts.discard_lost (csumshim recover --discard-lost),
 * killed at every step.  An aligned file with the written-group record,
 * groups 0-3 written (the last partial, its size not a whole block), has
 * the brothers of one group punched out (its data left: the discard must
 * zero it).  For the middle group and the last, partial one, and for each
 * k: the discarding process dies at its k-th storage change (a write,
 * resize, punch or sync; it and every later one fail, as after kill -9:
 * what it wrote before stays).  Then
 *   - a plain open (its own recovery, no discard) reads every block of
 *     the other groups as written and every block of the lost group as
 *     zeros or EIO, never anything else;
 *   - recovery with discard_lost again succeeds, the lost group reads as
 *     zeros, the rest as written, and a scrub finds nothing (no lost
 *     group left, no false EIO).
 * Also: a recovery without discard_lost changes nothing of the lost group
 * (still EIO).  And the last group lost with bytes past the size in its
 * last block that are not zero (what recovery would rewrite as zeros, but
 * a lost group cannot be written), the file left unclean by a crash: the
 * open's recovery still succeeds (the other groups read, the lost one
 * fails), and discard_lost then accepts it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "csumshim/backend.h"
#include "csumshim/engine.h"
#include "csumshim/format.h"
#include "dying.h"
#include "enginecheck.h"
#include "testlib.h"

static char path[128], pristine[140];
static uint8_t *data;
static uint64_t len, gb;
static uint32_t bs;

static struct csm_backend backend(void)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	CHECK(fd >= 0);
	struct csm_backend be;
	CHECK(csm_backend_posix(&be, fd, fd, true, NULL) == 0);
	return be;
}

static struct csm_engine *open_engine(struct csm_backend be, bool discard)
{
	struct csm_engine_opts o = {.solo_retry_ms = 1, .discard_lost = discard};
	struct csm_engine *e;
	char err[200];
	CHECK(csm_open(&be, &o, &e, err, sizeof(err)) == 0, "open: %s", err);
	return e;
}

static void copy_file(const char *from, const char *to)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	int out = open(to, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(in >= 0 && out >= 0);
	static uint8_t buf[1 << 16];
	ssize_t n;
	off_t off = 0;
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		if (!csm_is_zero(buf, (size_t)n))
			CHECK(pwrite(out, buf, (size_t)n, off) == n);
		off += n;
	}
	CHECK(n == 0 && ftruncate(out, off) == 0);
	close(in);
	close(out);
}

/* Every block outside group `lost` as written; those inside zeros, or
 * EIO when `eio_ok`. */
static void expect(struct csm_engine *e, uint64_t lost, bool eio_ok, const char *what)
{
	uint8_t *b = malloc(bs);
	CHECK(b);
	for (uint64_t off = 0; off < len; off += bs) {
		size_t n = len - off < bs ? (size_t)(len - off) : bs;
		bool in = off / gb == lost;
		errno = 0;
		ssize_t r = csm_pread(e, b, n, off);
		if (in && r < 0 && eio_ok) {
			CHECK(errno == EIO, "%s: byte %llu: %s", what, (unsigned long long)off,
			      strerror(errno));
			continue;
		}
		CHECK(r == (ssize_t)n, "%s: read at %llu: %zd (%s)", what, (unsigned long long)off,
		      r, strerror(errno));
		if (in)
			CHECK(csm_is_zero(b, n),
			      "%s: the lost group reads other than zeros at %llu", what,
			      (unsigned long long)off);
		else
			CHECK(memcmp(b, data + off, n) == 0, "%s: written data changed at %llu",
			      what, (unsigned long long)off);
	}
	free(b);
}

/* Build the file with group `lost`'s brothers punched, as `pristine`. */
static void make(uint64_t lost)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	close(fd);
	struct csm_backend be = backend();
	struct csm_format_opts fo = {0};
	char err[200];
	CHECK(csm_format(&be, &fo, err, sizeof(err)) == 0, "%s", err);
	be.ops->destroy(be.ctx);
	struct csm_engine *e = open_engine(backend(), false);
	const struct csm_geometry *geo = csm_geometry(e);
	CHECK(geo->aligned && geo->wgrec);
	bs = geo->block_size;
	gb = (uint64_t)geo->per_group * bs;
	len = 3 * gb + gb / 3 + 123;
	free(data);
	data = malloc(len);
	CHECK(data);
	struct rng r = {7 + lost};
	rng_fill(&r, data, len);
	for (uint64_t i = 0; i < len; i += 512)
		data[i] |= 1; /* no block is all zeros */
	CHECK(csm_pwrite(e, data, len, 0) == (ssize_t)len);
	CHECK(csm_fsync(e, false) == 0);
	uint64_t moff = csm_geo_meta_offset(geo, lost, 0);
	CHECK(csm_close(e) == 0);
	fd = open(path, O_RDWR | O_CLOEXEC);
	CHECK(fd >= 0);
	CHECK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)moff,
	                (off_t)(2 * bs)) == 0);
	close(fd);
	copy_file(path, pristine);
}

static void one(uint64_t lost)
{
	char what[96];
	make(lost);

	/* Without discard_lost: the loss stays. */
	struct csm_engine *e = open_engine(backend(), false);
	struct csm_recovery rec;
	CHECK(csm_recover(e, &rec) == 0 && rec.lost_groups == 1 && rec.discarded_groups == 0,
	      "group %llu: plain recovery", (unsigned long long)lost);
	uint8_t b[16];
	errno = 0;
	CHECK(csm_pread(e, b, sizeof(b), lost * gb + bs) == -1 && errno == EIO,
	      "group %llu: a lost group read after a plain recovery", (unsigned long long)lost);
	CHECK(csm_close(e) == 0);

	for (long k = 0;; k++) {
		snprintf(what, sizeof(what), "group %llu, killed at change %ld",
		         (unsigned long long)lost, k);
		copy_file(pristine, path);
		struct csm_engine *d = open_engine(dying_wrap(backend()), true);
		dying.budget = k;
		int rc = csm_recover(d, &rec);
		bool died = dying.dead;
		(void)csm_close(d);
		if (!died) {
			CHECK(rc == 0 && rec.discarded_groups == 1, "%s: discard: %d, %llu", what,
			      rc, (unsigned long long)rec.discarded_groups);
		} else {
			/* What anyone opening it next sees. */
			e = open_engine(backend(), false);
			expect(e, lost, true, what);
			CHECK(csm_close(e) == 0);
			e = open_engine(backend(), true);
			CHECK(csm_recover(e, &rec) == 0, "%s: discard again: %s", what,
			      strerror(errno));
			CHECK(csm_close(e) == 0);
		}
		e = open_engine(backend(), false);
		expect(e, lost, false, what);
		scrub_clean(e, what);
		CHECK(csm_recover(e, &rec) == 0 && rec.lost_groups == 0, "%s: still lost", what);
		CHECK(csm_close(e) == 0);
		if (!died) {
			printf("  group %llu: killed at each of %ld changes: safe, finished by a "
			       "second run\n",
			       (unsigned long long)lost, k);
			break;
		}
	}
}

static void dirty_tail(void)
{
	make(3);
	struct csm_engine *e = open_engine(backend(), false);
	const struct csm_geometry *geo = csm_geometry(e);
	uint64_t lastb = (len - 1) / bs;
	uint64_t junk = csm_geo_data_offset(geo, lastb) + len % bs + 10;
	CHECK(csm_close(e) == 0);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	CHECK(fd >= 0);
	CHECK(pwrite(fd, "junk", 4, (off_t)junk) == 4);
	close(fd);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) { /* a process that dies with the file open, unclean */
		e = open_engine(backend(), false);
		CHECK(csm_pwrite(e, data, 1, 0) == 1);
		_exit(0);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	struct csm_backend be = backend();
	struct csm_engine_opts o = {.solo_retry_ms = 1};
	char err[200];
	CHECK(csm_open(&be, &o, &e, err, sizeof(err)) == 0,
	      "last group lost, junk past the size: the open's recovery: %s", err);
	expect(e, 3, true, "last group lost, junk past the size");
	CHECK(csm_close(e) == 0);
	e = open_engine(backend(), true);
	struct csm_recovery rec;
	CHECK(csm_recover(e, &rec) == 0 && rec.discarded_groups == 1,
	      "last group lost, junk past the size: discard: %s", strerror(errno));
	CHECK(csm_close(e) == 0);
	e = open_engine(backend(), false);
	expect(e, 3, false, "last group lost, junk past the size, discarded");
	scrub_clean(e, "last group lost, junk past the size, discarded");
	CHECK(csm_close(e) == 0);
	printf("  last group lost, junk past the size: opens, then discarded\n");
}

int main(void)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(path, sizeof(path), "%.40s/csm-dl.XXXXXX", tmp);
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	close(fd);
	snprintf(pristine, sizeof(pristine), "%s.orig", path);
	one(1); /* a middle group */
	one(3); /* the last, partial one */
	dirty_tail();
	unlink(path);
	unlink(pristine);
	free(data);
	printf("test_discard_lost: a killed discard is safe and a second run finishes it\n");
	return 0;
}
