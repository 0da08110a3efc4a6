/*
 * A shrink killed after it stored the smaller size and before it cut the
 * stores, while another process holds the file.  On v2 a shrink publishes
 * the size first, then drops the stores' tails (and, aligned, punches the
 * dropped groups' brothers in the zone and clears their record bits): a
 * process killed in between leaves the stores longer than the size, the
 * cut groups' brothers still vouching for their old data.  Whatever
 * happens next, no byte of the cut data may come back:
 *
 *   grow   the holder grows the file back by truncate: every byte past
 *          the cut reads zeros, scrub is clean;
 *   write  the holder grows it back by a write of one byte in the last
 *          cut group: that byte, zeros around it;
 *   close  the holder closes last (the file is marked clean), the stores
 *          are cut to the size by then; a later opener grows it back and
 *          reads zeros, scrub is clean;
 *   other  a third process grows it a little while the holder keeps
 *          its stale size and cached metadata: the holder's reads past
 *          the cut give zeros (or stop short), never EIO or cut data;
 *   settle the holder writes a byte inside the kept part of the new last
 *          group first (taking over the dead shrink's brothers, whose
 *          newer one has the dropped blocks unmarked while the data is
 *          still there), then grows it back by truncate: zeros, scrub
 *          clean (the dropped blocks are not marked written again).
 *
 * Engine B (the killed process) has its own open file of the path, so its
 * locks are another process's; its backend forwards every call until the
 * first superblock write of the shrink (the new size), then fails every
 * write, resize, punch and sync as a dead process would, and B is closed
 * (its descriptor and locks go, as at a kill).  For aligned and unaligned
 * interleaved files and the separate layout.
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
#include "dying.h"
#include "enginecheck.h"
#include "testlib.h"

enum layout { ALIGNED, UNALIGNED, SEPARATE };
static const char *const layout_name[] = {"aligned", "unaligned", "separate"};
enum ending { GROW, WRITE, CLOSE, OTHER, SETTLE };
static const char *const ending_name[] = {"grow", "write", "close", "other", "settle"};

static char dpath[128], mpath[140];
static uint64_t gb; /* bytes of data per group */

static struct csm_backend backend(enum layout l)
{
	return posix_open(dpath, l == SEPARATE ? mpath : NULL);
}

static struct csm_engine *open_engine(struct csm_backend be)
{
	struct csm_engine_opts o = {.solo_retry_ms = 1};
	struct csm_engine *e;
	char err[200];
	CHECK(csm_open(&be, &o, &e, err, sizeof(err)) == 0, "open: %s", err);
	return e;
}

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)(off / 512 * 13 + 1) | 1; /* never zero */
}

/* [off, off+len) reads as zeros except `mark` at `at` (if at < off+len). */
static void expect_zeros(struct csm_engine *e, uint64_t off, uint64_t len, uint64_t at, char mark,
                         const char *what)
{
	uint8_t *b = malloc(len);
	CHECK(b);
	errno = 0;
	ssize_t r = csm_pread(e, b, len, off);
	CHECK(r == (ssize_t)len, "%s: read %llu+%llu: %zd (%s)", what, (unsigned long long)off,
	      (unsigned long long)len, r, strerror(errno));
	for (uint64_t i = 0; i < len; i++) {
		uint8_t want = off + i == at ? (uint8_t)mark : 0;
		CHECK(b[i] == want, "%s: byte %llu is 0x%02x, not 0x%02x (cut data back)", what,
		      (unsigned long long)(off + i), b[i], want);
	}
	free(b);
}

static void empty(const char *p)
{
	int fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	close(fd);
}

/* New empty file(s) of layout l, formatted. */
static void make(enum layout l)
{
	empty(dpath);
	if (l == SEPARATE)
		empty(mpath);
	struct csm_backend be = backend(l);
	struct csm_format_opts fo = {.layout = l == SEPARATE ? CSM_LAYOUT_SEPARATE : 0,
	                             .unaligned = l == UNALIGNED};
	char err[200];
	CHECK(csm_format(&be, &fo, err, sizeof(err)) == 0, "%s", err);
	be.ops->destroy(be.ctx);
}

/* Groups 0-3 of e written whole with pattern() and synced (recorded
 * where the file keeps a record); sets gb.  Returns the bytes (*n). */
static uint8_t *fill(struct csm_engine *e, size_t *n)
{
	const struct csm_geometry *geo = csm_geometry(e);
	gb = (uint64_t)geo->per_group * geo->block_size;
	*n = (size_t)(4 * gb);
	uint8_t *buf = malloc(*n);
	CHECK(buf);
	for (size_t i = 0; i < *n; i++)
		buf[i] = pattern(i);
	CHECK(csm_pwrite(e, buf, *n, 0) == (ssize_t)*n);
	CHECK(csm_fsync(e, false) == 0);
	return buf;
}

static void one(enum layout l, enum ending end)
{
	char what[64];
	snprintf(what, sizeof(what), "%s/%s", layout_name[l], ending_name[end]);
	make(l);
	/* A writes groups 0-3 whole and syncs them (recorded where the file
	 * keeps a record). */
	struct csm_engine *a = open_engine(backend(l));
	const struct csm_geometry geo = *csm_geometry(a); /* outlives a's close */
	size_t n;
	uint8_t *buf = fill(a, &n);

	/* B opens, writes (its own unclean mark is behind it), then shrinks
	 * to a group and a half and dies once the new size is stored. */
	struct csm_engine *b = open_engine(dying_wrap(backend(l)));
	CHECK(csm_pwrite(b, "b", 1, 10) == 1);
	uint64_t cut = gb + gb / 2;
	dying.after_super = true;
	(void)csm_truncate(b, cut);
	CHECK(dying.dead, "%s: the shrink stored its size", what);
	(void)csm_close(b); /* a dead process: nothing more lands */

	if (end == CLOSE) {
		CHECK(csm_close(a) == 0, "%s: A closes", what);
		struct stat st;
		CHECK(stat(dpath, &st) == 0);
		CHECK((uint64_t)st.st_size <= csm_geo_data_store_size(&geo, cut),
		      "%s: the data store is %llu bytes after a clean close, past the %llu the "
		      "size needs",
		      what, (unsigned long long)st.st_size,
		      (unsigned long long)csm_geo_data_store_size(&geo, cut));
		a = open_engine(backend(l));
	}
	if (end == OTHER) {
		/* A holds the old size and metadata cached (it read the
		 * file); C, a third process, grows the file a little. A reads
		 * on with its stale size: never EIO, never the cut data (past
		 * C's end it may still read zeros up to its stale size). */
		struct csm_engine *c = open_engine(backend(l));
		uint64_t grown = cut + gb / 4;
		CHECK(csm_truncate(c, grown) == 0, "%s: C grows: %s", what, strerror(errno));
		CHECK(csm_close(c) == 0);
		uint8_t *r = malloc(gb);
		CHECK(r);
		for (uint64_t off = cut - cut % 4096; off < 4 * gb; off += gb / 2) {
			errno = 0;
			ssize_t got = csm_pread(a, r, gb / 2, off);
			CHECK(got >= 0 && got <= (ssize_t)(gb / 2),
			      "%s: A's read at %llu: %zd (%s)", what, (unsigned long long)off, got,
			      strerror(errno));
			for (ssize_t i = 0; i < got; i++)
				CHECK(off + (uint64_t)i < cut ? r[i] == pattern(off + (uint64_t)i)
				                              : r[i] == 0,
				      "%s: A read byte %llu as 0x%02x (cut data back)", what,
				      (unsigned long long)(off + (uint64_t)i), r[i]);
		}
		free(r);
		CHECK(csm_truncate(a, 4 * gb) == 0, "%s: regrow: %s", what, strerror(errno));
		expect_zeros(a, cut, 4 * gb - cut, UINT64_MAX, 0, what);
	} else if (end == SETTLE) {
		CHECK(csm_pwrite(a, "s", 1, gb + 20) == 1, "%s: a write in the last group: %s",
		      what, strerror(errno));
		CHECK(csm_fsync(a, false) == 0);
		CHECK(csm_truncate(a, 4 * gb) == 0, "%s: regrow: %s", what, strerror(errno));
		expect_zeros(a, cut, 4 * gb - cut, UINT64_MAX, 0, what);
		CHECK(csm_pread(a, buf, 1, gb + 20) == 1 && buf[0] == 's', "%s: the byte", what);
	} else if (end == WRITE) {
		uint64_t at = 3 * gb + 4096 + 100;
		CHECK(csm_pwrite(a, "Z", 1, at) == 1, "%s: regrowing write: %s", what,
		      strerror(errno));
		expect_zeros(a, cut, at + 1 - cut, at, 'Z', what);
	} else {
		CHECK(csm_truncate(a, 4 * gb) == 0, "%s: regrow: %s", what, strerror(errno));
		expect_zeros(a, cut, 4 * gb - cut, UINT64_MAX, 0, what);
	}
	CHECK(csm_pread(a, buf, 10, 0) == 10 && buf[0] == pattern(0) && buf[9] == pattern(9) &&
	              csm_pread(a, buf, 1, 10) == 1 && buf[0] == 'b',
	      "%s: the kept bytes", what);
	scrub_clean(a, what);
	CHECK(csm_close(a) == 0);
	free(buf);
	printf("  %s: nothing of the cut data came back\n", what);
}

/* After an open that finished a killed shrink to `cut`: the data file is
 * cut, the kept bytes are buf's, a regrowth to `grow` reads zeros past the
 * cut, the file scrubs clean.  Closes e and frees buf. */
static void finished(struct csm_engine *e, uint8_t *buf, uint64_t cut, uint64_t grow,
                     const char *what)
{
	struct stat st;
	CHECK(stat(dpath, &st) == 0 && (uint64_t)st.st_size == cut, "%s: the data file cut", what);
	uint8_t *got = malloc(grow);
	CHECK(got && csm_pread(e, got, cut, 0) == (ssize_t)cut);
	CHECK(memcmp(got, buf, cut) == 0, "%s: the kept bytes", what);
	CHECK(csm_truncate(e, grow) == 0, "%s: regrow: %s", what, strerror(errno));
	CHECK(csm_pread(e, got, grow - cut, cut) == (ssize_t)(grow - cut) &&
	              csm_is_zero(got, grow - cut),
	      "%s: zeros past the cut after a regrowth", what);
	scrub_clean(e, what);
	CHECK(csm_close(e) == 0);
	free(got);
	free(buf);
	printf("  %s: finished at open, the kept bytes exact, zeros past them\n", what);
}

/* Separate layout, alone: a shrink killed after it cut the metadata file
 * and before it cut the data file, nobody else there.  The shrink's
 * superblock names the size it shrank from, so the next open that checks
 * the pair (as the shim's do) knows the data left past the size for the
 * shrink's: it recovers (the data file cut to the size) and reads the kept
 * bytes.  Data past the size beyond what the shrink started from is no
 * shrink's (appended without csumshim since): refused, nothing cut. */
static void separate_alone(bool appended)
{
	const char *what = appended ? "separate/alone, appended since" : "separate/alone";
	make(SEPARATE);
	struct csm_engine *b = open_engine(dying_wrap(backend(SEPARATE)));
	size_t n;
	uint8_t *buf = fill(b, &n);
	char err[300];
	struct csm_backend be;
	uint64_t cut = gb + gb / 2;
	dying.after_meta_size = true;
	(void)csm_truncate(b, cut);
	CHECK(dying.dead, "%s: the metadata file was cut", what);
	(void)csm_close(b);
	struct stat st;
	CHECK(stat(dpath, &st) == 0 && (uint64_t)st.st_size == n, "%s: the data file uncut", what);

	struct csm_engine_opts o = {.check_pair = true};
	struct csm_engine *e;
	be = backend(SEPARATE);
	if (appended) {
		CHECK(truncate(dpath, (off_t)n + 4096) == 0);
		CHECK(csm_open(&be, &o, &e, err, sizeof(err)) == -EIO, "%s: refused", what);
		CHECK(strstr(err, "more than any recorded truncate explains") != NULL,
		      "%s: the message says why: %s", what, err);
		CHECK(stat(dpath, &st) == 0 && (uint64_t)st.st_size == n + 4096, "%s: nothing cut",
		      what);
		/* A read-only look (csumshim check) reports the same data. */
		struct csm_engine_opts ro = {.readonly = true};
		be = backend(SEPARATE);
		CHECK(csm_open(&be, &ro, &e, err, sizeof(err)) == 0, "%s: read-only: %s", what,
		      err);
		struct csm_scrub_result res;
		CHECK(csm_scrub(e, NULL, NULL, &res) == 0);
		CHECK_EQ_U64(res.data_past_size, n + 4096);
		CHECK(csm_close(e) == 0);
		free(buf);
		printf("  %s: refused, nothing cut\n", what);
		return;
	}
	CHECK(csm_open(&be, &o, &e, err, sizeof(err)) == 0, "%s: the pair check takes it: %s", what,
	      err);
	finished(e, buf, cut, 4 * gb, what);
}

/* In a child process: open the pair (no solo: a forked child has no
 * watcher thread), say so on `ready`, wait for a byte on `go`, then shrink
 * to `size` and die once the metadata file is cut (before the data file
 * is) or, `at_super`, once the smaller size is stored: _exit, no close, as
 * a kill leaves it. */
static pid_t shrinker(uint64_t size, bool at_super, bool early, int ready, int go)
{
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid > 0)
		return pid;
	struct csm_engine_opts o = {.no_solo = true};
	struct csm_engine *e;
	char err[200], c = 0;
	struct csm_backend be = dying_wrap(backend(SEPARATE));
	if (csm_open(&be, &o, &e, err, sizeof(err)) < 0)
		_exit(2);
	/* Its first change (the unclean mark and writer count, a superblock
	 * write) before the kill is armed: byte 0 written back as it is.
	 * early: not, so at_super kills it at that write, before its shrink. */
	uint8_t b0;
	if (!early && (csm_pread(e, &b0, 1, 0) != 1 || csm_pwrite(e, &b0, 1, 0) != 1))
		_exit(5);
	if (write(ready, "r", 1) != 1 || read(go, &c, 1) != 1)
		_exit(3);
	dying.after_meta_size = !at_super;
	dying.after_super = at_super;
	(void)csm_truncate(e, size);
	_exit(dying.dead ? 0 : 4);
}

static void reap(pid_t pid, const char *what)
{
	int st;
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "%s: child %d ended with status 0x%x", what, (int)pid, st);
}

/* Separate layout: a shrink killed before its data cut while another
 * process holds the file, which then shrinks further and is killed once
 * it stored its size.  The second's superblock names only the size it
 * shrank from, so it must not leave the data file longer than that
 * size's store (the first's tail).  The next open finishes the shrink
 * (nothing past the size is anyone's but theirs): no refusal. */
static void separate_twice(bool early)
{
	const char *what = early ? "separate/twice-early" : "separate/twice";
	make(SEPARATE);
	struct csm_engine *a = open_engine(backend(SEPARATE));
	size_t n;
	uint8_t *buf = fill(a, &n);
	CHECK(csm_close(a) == 0);
	uint64_t cut1 = 2 * gb + gb / 2, cut2 = gb / 2 + 1000;
	int p1[2], p2[2], q1[2], q2[2];
	CHECK(pipe(p1) == 0 && pipe(p2) == 0 && pipe(q1) == 0 && pipe(q2) == 0);
	char c;
	/* H, the holder, opens first; B shrinks and dies while H is in. */
	pid_t h = shrinker(cut2, true, early, p1[1], q1[0]);
	CHECK(read(p1[0], &c, 1) == 1, "%s: the holder opened", what);
	pid_t b = shrinker(cut1, false, false, p2[1], q2[0]);
	CHECK(read(p2[0], &c, 1) == 1 && write(q2[1], "g", 1) == 1);
	reap(b, what);
	CHECK(write(q1[1], "g", 1) == 1);
	reap(h, what);
	for (int i = 0; i < 2; i++) {
		close(p1[i]);
		close(p2[i]);
		close(q1[i]);
		close(q2[i]);
	}
	struct stat st;
	CHECK(stat(dpath, &st) == 0 && (uint64_t)st.st_size > cut2, "%s: the data file uncut",
	      what);

	struct csm_engine_opts o = {.check_pair = true};
	struct csm_engine *e;
	char err[300];
	struct csm_backend be = backend(SEPARATE);
	CHECK(csm_open(&be, &o, &e, err, sizeof(err)) == 0, "%s: the pair check takes it: %s", what,
	      err);
	/* early: the holder died at its first change, before its shrink: the
	 * first shrink's intent survived that superblock write. */
	uint64_t cut = early ? cut1 : cut2;
	CHECK(csm_size(e) == cut, "%s: the size", what);
	finished(e, buf, cut, n, what);
}

/* A backend whose first try at the presence lock lets another process
 * shrink the file and die before it (a kill between an opener's first
 * look at the superblock and its lock). */
static struct csm_backend_ops race_ops;
static const struct csm_backend_ops *race_inner;
static uint64_t race_cut;

static int race_lock(void *ctx, uint64_t id, int type, bool wait)
{
	if (race_cut && id == CSM_LOCK_PRESENCE && type == F_WRLCK) {
		int p[2], q[2];
		char c;
		CHECK(pipe(p) == 0 && pipe(q) == 0);
		pid_t pid = shrinker(race_cut, false, false, p[1], q[0]);
		race_cut = 0;
		CHECK(read(p[0], &c, 1) == 1 && write(q[1], "g", 1) == 1);
		reap(pid, "separate/open-race");
		for (int i = 0; i < 2; i++) {
			close(p[i]);
			close(q[i]);
		}
	}
	return race_inner->lock(ctx, id, type, wait);
}

/* Separate layout: an opener reads the superblock of a clean file, then
 * another process shrinks it and is killed before its data cut, then the
 * opener gets the file to itself.  It must judge the pair by the
 * superblock as it is then (the shrink's, which names the size it shrank
 * from), not by what it first read: the shrink finished, no refusal. */
static void separate_open_race(void)
{
	const char *what = "separate/open-race";
	make(SEPARATE);
	struct csm_engine *a = open_engine(backend(SEPARATE));
	size_t n;
	uint8_t *buf = fill(a, &n);
	CHECK(csm_close(a) == 0);
	uint64_t cut = gb + gb / 2;
	struct csm_backend be = backend(SEPARATE);
	race_inner = be.ops;
	race_ops = *be.ops;
	race_ops.lock = race_lock;
	be.ops = &race_ops;
	race_cut = cut;
	struct csm_engine_opts o = {.check_pair = true};
	struct csm_engine *e;
	char err[300];
	CHECK(csm_open(&be, &o, &e, err, sizeof(err)) == 0, "%s: the pair check takes it: %s", what,
	      err);
	CHECK(race_cut == 0, "%s: the shrink came in between", what);
	CHECK(csm_size(e) == cut, "%s: the size", what);
	struct stat st;
	CHECK(stat(dpath, &st) == 0 && (uint64_t)st.st_size == cut, "%s: the data file cut", what);
	uint8_t *got = malloc(n);
	CHECK(got && csm_pread(e, got, cut, 0) == (ssize_t)cut);
	CHECK(memcmp(got, buf, cut) == 0, "%s: the kept bytes", what);
	scrub_clean(e, what);
	CHECK(csm_close(e) == 0);
	free(got);
	free(buf);
	printf("  %s: judged by the superblock it locked, the shrink finished\n", what);
}

/* argv[1]: run only the case named so ("separate/close"). */
int main(int argc, char **argv)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(dpath, sizeof(dpath), "%.40s/csm-ks.XXXXXX", tmp);
	int fd = mkstemp(dpath);
	CHECK(fd >= 0);
	close(fd);
	snprintf(mpath, sizeof(mpath), "%s.csum", dpath);
	for (int l = ALIGNED; l <= SEPARATE; l++)
		for (int end = GROW; end <= SETTLE; end++) {
			char name[32];
			snprintf(name, sizeof(name), "%s/%s", layout_name[l], ending_name[end]);
			if (argc < 2 || !strcmp(argv[1], name))
				one((enum layout)l, (enum ending)end);
		}
	if (argc < 2 || !strcmp(argv[1], "separate/alone"))
		separate_alone(false);
	if (argc < 2 || !strcmp(argv[1], "separate/alone-appended"))
		separate_alone(true);
	if (argc < 2 || !strcmp(argv[1], "separate/twice"))
		separate_twice(false);
	if (argc < 2 || !strcmp(argv[1], "separate/twice-early"))
		separate_twice(true);
	if (argc < 2 || !strcmp(argv[1], "separate/open-race"))
		separate_open_race();
	unlink(dpath);
	unlink(mpath);
	printf("test_killed_shrink: a shrink killed before its cut never brings cut data back\n");
	return 0;
}
