/*
 * The written-group record (CSM_FEAT_WGREC, docs/FORMAT.md "The
 * written-group record") on a sparse POSIX file with 512-byte blocks
 * (segments of about 58 MiB, so three segments cost little):
 *
 *  1. Groups written in segments 0, 1 and 2 and closed are recorded: the
 *     bits are in the header (segments 0 and 1) and in segment 1's
 *     reserved block (segment 2), in the documented encoding.
 *  2. A recorded group whose brothers and data are punched out reads EIO,
 *     in segment 0 and in segment 2; scrub names exactly those groups
 *     (lost_groups, CSM_EV_LOST); a never-written group between them
 *     still reads zeros; recovery keeps their bits and reports them.
 *  3. A group written by a process that dies before any sync has no bit:
 *     punched out, it reads zeros as before; recovered first, it is
 *     recorded by the recovery (after its sync), and a punch after that
 *     reads EIO.  3c: the same while another engine holds the file: the
 *     writer count on the superblock tells the last one out that a writer
 *     died; closing, it recovers the file (the group recorded); exiting,
 *     it leaves the file unclean for the next open.
 *  4. A shrink clears the bits of the groups it drops before their
 *     brothers go; grown back, those groups read zeros, scrub is clean.
 *     A bit left past the size (a shrink cut short) is cleared by the
 *     recovery at the next open, or by the close that marks it clean.
 *  5. Two engines with their own descriptions of the file (as two
 *     processes) set bits in the same records without losing each
 *     other's, the header's included, while writing superblocks; and an
 *     engine left alone goes solo without losing the other's bits; two
 *     processes recording at the same time lose none.
 *  6. A file with ALIGNED but without WGREC (written before the record)
 *     keeps today's behaviour: nothing recorded, a punched group zeros;
 *     csm_upgrade adds the record in place from the brothers there.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "csumshim/engine.h"
#include "testlib.h"

static char path[256];
static struct csm_geometry geo;
static uint64_t lost_seen[16];
static size_t nlost;

static char recovered[256]; /* the last CSM_EV_RECOVERED's detail */
static unsigned nrecovered;

static void on_event(void *arg, const struct csm_event *ev)
{
	(void)arg;
	if (ev->kind == CSM_EV_LOST && nlost < 16)
		lost_seen[nlost++] = ev->group;
	if (ev->kind == CSM_EV_RECOVERED) {
		snprintf(recovered, sizeof(recovered), "%s", ev->detail);
		nrecovered++;
	}
}

static unsigned solo_retry_ms;

static struct csm_engine *open_file(bool no_recover)
{
	int fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	struct csm_backend be;
	CHECK(csm_backend_posix(&be, fd, fd, true, NULL) == 0);
	struct csm_engine_opts o = {
	        .report = on_event, .no_recover = no_recover, .solo_retry_ms = solo_retry_ms};
	struct csm_engine *e;
	char err[200];
	CHECK(csm_open(&be, &o, &e, err, sizeof(err)) == 0, "open: %s", err);
	return e;
}

static void format(uint32_t incompat_override)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	struct csm_backend be;
	CHECK(csm_backend_posix(&be, fd, fd, true, NULL) == 0);
	struct csm_format_opts fo = {.block_size = 512, .algo = CSM_ALGO_XXH3};
	char err[200];
	CHECK(csm_format(&be, &fo, err, sizeof(err)) == 0, "%s", err);
	be.ops->destroy(be.ctx);
	if (incompat_override) { /* as written before the record existed */
		fd = open(path, O_RDWR);
		uint8_t sb[CSM_SB_SIZE];
		struct csm_super s;
		CHECK(pread(fd, sb, sizeof(sb), 0) == (ssize_t)sizeof(sb));
		CHECK(csm_sb_decode(sb, sizeof(sb), &s) == CSM_SB_OK);
		s.incompat = incompat_override;
		csm_sb_encode(&s, sb);
		CHECK(pwrite(fd, sb, sizeof(sb), 0) == (ssize_t)sizeof(sb));
		close(fd);
	}
}

static uint64_t group_bytes(void)
{
	return (uint64_t)geo.per_group * geo.block_size;
}

/* Fill group gno whole with a pattern of its number. */
static void write_group(struct csm_engine *e, uint64_t gno)
{
	size_t n = (size_t)group_bytes();
	uint8_t *b = malloc(n);
	CHECK(b);
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(gno * 7 + i / 512 + 1);
	CHECK(csm_pwrite(e, b, n, gno * n) == (ssize_t)n, "write group %llu: %s",
	      (unsigned long long)gno, strerror(errno));
	free(b);
}

/* 0: reads back its pattern; 1: zeros; -1: fails with EIO. */
static int read_group(struct csm_engine *e, uint64_t gno)
{
	size_t n = (size_t)group_bytes();
	uint8_t *b = malloc(n);
	CHECK(b);
	errno = 0;
	ssize_t r = csm_pread(e, b, n, gno * n);
	int res;
	if (r < 0) {
		CHECK(errno == EIO, "group %llu: %s", (unsigned long long)gno, strerror(errno));
		res = -1;
	} else {
		CHECK(r == (ssize_t)n);
		res = 0;
		if (csm_is_zero(b, n))
			res = 1;
		else
			for (size_t i = 0; i < n; i++)
				CHECK(b[i] == (uint8_t)(gno * 7 + i / 512 + 1),
				      "group %llu byte %zu", (unsigned long long)gno, i);
	}
	free(b);
	return res;
}

/* The bit of group gno in the stored record (the record must be valid or
 * empty). */
static bool stored_bit(uint64_t gno)
{
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	uint64_t seg = gno / geo.seg_groups;
	uint8_t rec[CSM_REC_SIZE];
	CHECK(pread(fd, rec, sizeof(rec), (off_t)csm_rec_offset(&geo, seg)) ==
	      (ssize_t)sizeof(rec));
	close(fd);
	uint8_t sb[CSM_SB_SIZE];
	fd = open(path, O_RDONLY);
	CHECK(pread(fd, sb, sizeof(sb), 0) == (ssize_t)sizeof(sb));
	close(fd);
	struct csm_super s;
	CHECK(csm_sb_decode(sb, sizeof(sb), &s) == CSM_SB_OK);
	enum csm_rec_status st = csm_rec_check(&geo, s.uuid, rec, seg);
	CHECK(st == CSM_REC_VALID || st == CSM_REC_EMPTY, "segment %llu record: %s",
	      (unsigned long long)seg, csm_rec_status_name(st));
	if (st == CSM_REC_VALID) {
		CHECK_EQ_U64(csm_get_le64(rec + CSM_REC_OFF_SEGMENT), seg);
		CHECK(memcmp(rec, "CSMWGREC", 8) == 0);
	}
	return st == CSM_REC_VALID && csm_rec_bit(rec, gno % geo.seg_groups);
}

static struct csm_super stored_super(void)
{
	uint8_t sb[CSM_SB_SIZE];
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0 && pread(fd, sb, sizeof(sb), 0) == (ssize_t)sizeof(sb));
	close(fd);
	struct csm_super s;
	CHECK(csm_sb_decode(sb, sizeof(sb), &s) == CSM_SB_OK);
	return s;
}

/* Punch group gno's brothers and (if data) its data out of the file. */
static void punch(uint64_t gno, bool data)
{
	int fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	CHECK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
	                (off_t)csm_geo_meta_offset(&geo, gno, 0), 2 * (off_t)geo.block_size) == 0);
	if (data)
		CHECK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		                (off_t)csm_geo_data_offset(&geo, gno * geo.per_group),
		                (off_t)group_bytes()) == 0);
	close(fd);
}

static void scrub_lost(struct csm_engine *e, const uint64_t *want, size_t nwant)
{
	struct csm_scrub_result res;
	nlost = 0;
	CHECK(csm_scrub(e, NULL, NULL, &res) == 0);
	CHECK_EQ_U64(res.lost_groups, nwant);
	CHECK_EQ_U64(res.bad_records, 0);
	CHECK_EQ_U64(res.bad_blocks, nwant * geo.per_group);
	CHECK_EQ_U64(nlost, nwant);
	for (size_t i = 0; i < nwant && i < nlost; i++)
		CHECK_EQ_U64(lost_seen[i], want[i]);
}

int main(void)
{
	const char *dir = getenv("TMPDIR");
	snprintf(path, sizeof(path), "%s/csm-record-XXXXXX", dir ? dir : "/tmp");
	int tfd = mkstemp(path);
	CHECK(tfd >= 0);
	close(tfd);
	format(0);
	struct csm_engine *e = open_file(false);
	geo = *csm_geometry(e);
	CHECK(geo.aligned && geo.wgrec && geo.seg_groups == 2044);
	CHECK(csm_superblock(e)->incompat == (CSM_FEAT_ALIGNED | CSM_FEAT_WGREC));
	const uint64_t G = geo.seg_groups;

	/* 1. Segments 0, 1 and 2. */
	const uint64_t g0a = 3, g0b = 5, g1 = G + 7, g2 = 2 * G + 4, never = 4;
	write_group(e, g0a);
	write_group(e, g0b);
	write_group(e, g1);
	write_group(e, g2);
	CHECK(!stored_bit(g0a) && !stored_bit(g2)); /* nothing before a sync */
	CHECK(csm_close(e) == 0);
	CHECK(stored_bit(g0a) && stored_bit(g0b) && stored_bit(g1) && stored_bit(g2));
	CHECK(!stored_bit(never) && !stored_bit(G + 6) && !stored_bit(2 * G + 5));
	e = open_file(false);
	CHECK(read_group(e, g0a) == 0 && read_group(e, g2) == 0 && read_group(e, never) == 1);
	scrub_lost(e, NULL, 0);
	CHECK(csm_close(e) == 0);

	/* 2. Punched out: lost, in segment 0 and in segment 2. */
	punch(g0b, true);
	punch(g2, true);
	e = open_file(false);
	nlost = 0;
	CHECK(read_group(e, g0b) == -1);
	CHECK(nlost >= 1 && lost_seen[0] == g0b);
	CHECK(read_group(e, g2) == -1);
	CHECK(read_group(e, never) == 1);
	CHECK(read_group(e, g0a) == 0 && read_group(e, g1) == 0);
	const uint64_t want[2] = {g0b, g2};
	scrub_lost(e, want, 2);
	/* Recovery keeps the bits and says so. */
	struct csm_recovery rv;
	nlost = 0;
	CHECK(csm_recover(e, &rv) == 0, "%s", strerror(errno));
	CHECK_EQ_U64(rv.lost_groups, 2);
	CHECK(csm_close(e) == 0);
	CHECK(stored_bit(g0b) && stored_bit(g2));
	e = open_file(false);
	CHECK(read_group(e, g0b) == -1 && read_group(e, g2) == -1);
	/* Brothers alone punched, the data left: lost too. */
	CHECK(csm_close(e) == 0);
	punch(g1, false);
	e = open_file(false);
	CHECK(read_group(e, g1) == -1);
	const uint64_t want3[3] = {g0b, g1, g2};
	scrub_lost(e, want3, 3);
	CHECK(csm_close(e) == 0);

	/* 3. Written, then a crash before any sync: no bit, zeros as before. */
	const uint64_t g9 = 9;
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) { /* a process that dies without closing */
		e = open_file(false);
		write_group(e, g9);
		_exit(0);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(!stored_bit(g9));
	punch(g9, true);
	e = open_file(false); /* recovers */
	CHECK(csm_open_recovery(e)->ran);
	CHECK(read_group(e, g9) == 1);
	CHECK(csm_close(e) == 0);
	/* (Recovery re-sealed its zeros: from here it is a group like any
	 * other, recorded or not as the next case says.) */

	/* 3b. Written, a crash before any sync, then a recovery: the
	 * recovery's sync makes its brothers durable and records it, so a
	 * loss after that is a loss (nobody else would ever record it). */
	const uint64_t g10 = 10;
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		e = open_file(false);
		write_group(e, g10);
		_exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(!stored_bit(g10));
	e = open_file(false); /* recovers */
	CHECK(csm_open_recovery(e)->ran);
	CHECK(stored_bit(g10), "recovery records the groups it leaves with brothers");
	CHECK(read_group(e, g10) == 0);
	CHECK(csm_close(e) == 0);
	punch(g10, true);
	e = open_file(false);
	CHECK(read_group(e, g10) == -1);
	CHECK(csm_close(e) == 0);

	/* 3c. Two engines (as two processes) write and close: each signs off
	 * its count, the last marks the file clean.  Then a process writes a
	 * group and dies before any sync while another holds the file, which
	 * then closes last: a writer never signed off, so the file stays
	 * unclean (before: marked clean, the group in no record for good); the
	 * next open alone recovers and records it, and a loss after that is a
	 * loss. */
	{
		struct csm_engine *a = open_file(false), *b = open_file(false);
		CHECK(csm_pwrite(a, "a", 1, 0) == 1 && csm_pwrite(b, "b", 1, 1) == 1);
		struct csm_super s = stored_super();
		CHECK(s.state == CSM_STATE_UNCLEAN && s.writers == 2, "state %u, writers %u",
		      s.state, s.writers);
		CHECK(csm_close(a) == 0);
		CHECK_EQ_U64(stored_super().writers, 1);
		CHECK(csm_close(b) == 0);
		s = stored_super();
		CHECK(s.state == CSM_STATE_CLEAN && s.writers == 0,
		      "both signed off: state %u, "
		      "writers %u",
		      s.state, s.writers);
	}
	/* The holder closes last: it recovers the file itself (a writer never
	 * signed off), recording the group; the file is clean after it.  The
	 * holder's process exits instead (csm_exit, other threads may run):
	 * the file is left unclean and the next open alone recovers it. */
	for (int how = 0; how < 3; how++) {
		const uint64_t g = 11 + (uint64_t)how;
		/* how 1: the holder in a process of its own that exits; how 2:
		 * a holder told not to recover (csumshim's tools but recover)
		 * leaves the file unclean too. */
		pid_t hp = how == 1 ? fork() : 0;
		CHECK(hp >= 0);
		if (hp == 0) {
			struct csm_engine *holder = open_file(how == 2);
			CHECK(csm_pwrite(holder, "h", 1, 0) == 1);
			pid = fork();
			CHECK(pid >= 0);
			if (pid == 0) { /* the writer that dies */
				e = open_file(false);
				write_group(e, g);
				_exit(0);
			}
			CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
			      WEXITSTATUS(status) == 0);
			CHECK(!stored_bit(g));
			if (how == 1) {
				CHECK(csm_exit(holder) == 0);
				_exit(0);
			}
			nrecovered = 0;
			CHECK(csm_close(holder) == 0);
			/* Told, as an open's recovery is: the dead writer's
			 * group (and the holder's) re-checked, none failing. */
			if (how == 0)
				CHECK(nrecovered == 1 && strstr(recovered, " groups were dirty") &&
				              strncmp(recovered, "0 of", 4) != 0 &&
				              strstr(recovered, "0 could not be verified, 0 fail "
				                                "verification"),
				      "close's recovery reported %u time(s): %s", nrecovered,
				      recovered);
			else
				CHECK(nrecovered == 0, "told not to recover: %s", recovered);
		} else {
			CHECK(waitpid(hp, &status, 0) == hp && WIFEXITED(status) &&
			      WEXITSTATUS(status) == 0);
		}
		struct csm_super left = stored_super();
		if (how == 0) {
			CHECK(left.state == CSM_STATE_CLEAN && left.writers == 0,
			      "the last one out recovered: state %u, writers %u", left.state,
			      left.writers);
			CHECK(stored_bit(g), "the dead writer's group recorded at the close");
			e = open_file(false);
			CHECK(!csm_open_recovery(e)->ran);
		} else {
			CHECK(left.state == CSM_STATE_UNCLEAN && left.writers == 1,
			      "an exit leaves it for recovery: state %u, writers %u", left.state,
			      left.writers);
			e = open_file(false); /* recovers */
			CHECK(csm_open_recovery(e)->ran);
			CHECK(stored_bit(g), "recovered and recorded");
		}
		CHECK(read_group(e, g) == 0);
		CHECK(csm_close(e) == 0);
		CHECK(stored_super().writers == 0);
		punch(g, true);
		e = open_file(false);
		CHECK(read_group(e, g) == -1, "a loss after that is a loss");
		CHECK(csm_close(e) == 0);
	}

	/* 4. Shrink, then grow back. */
	format(0);
	e = open_file(false);
	const uint64_t s0 = 30, s1 = G + 20, s1b = G + 3, s2 = 2 * G + 1;
	write_group(e, 2);
	write_group(e, s0);
	write_group(e, s1b);
	write_group(e, s1);
	write_group(e, s2);
	uint64_t full = csm_size(e);
	CHECK(csm_fsync(e, false) == 0);
	CHECK(stored_bit(s0) && stored_bit(s1) && stored_bit(s2));
	/* Into segment 1 (its zone's later brothers punched). */
	CHECK(csm_truncate(e, (G + 10) * group_bytes() + 100) == 0);
	CHECK(stored_bit(s1b) && !stored_bit(s1) && !stored_bit(s2));
	CHECK(csm_truncate(e, full) == 0);
	CHECK(read_group(e, s1) == 1 && read_group(e, s2) == 1 && read_group(e, s1b) == 0);
	/* Into segment 0. */
	CHECK(csm_truncate(e, 10 * group_bytes()) == 0);
	CHECK(stored_bit(2) && !stored_bit(s0) && !stored_bit(s1b));
	CHECK(csm_truncate(e, full) == 0);
	CHECK(read_group(e, s0) == 1 && read_group(e, s1b) == 1 && read_group(e, 2) == 0);
	scrub_lost(e, NULL, 0);
	CHECK(csm_close(e) == 0);
	e = open_file(false);
	CHECK(read_group(e, s0) == 1 && read_group(e, s1) == 1 && read_group(e, s2) == 1);
	scrub_lost(e, NULL, 0);
	/* Written again after the regrowth: recorded again. */
	write_group(e, s1);
	CHECK(csm_close(e) == 0);
	CHECK(stored_bit(s1) && !stored_bit(s0));

	/* 5. Two engines, each its own open file description. */
	format(0);
	struct csm_engine *a = open_file(false);
	struct csm_engine *b = open_file(false);
	for (uint64_t k = 0; k < 6; k++) {
		/* a: even groups, b: odd ones, in segments 0 and 1; the
		 * growths rewrite the header between the marks. */
		write_group(a, 40 + 2 * k);
		write_group(b, 41 + 2 * k);
		write_group(a, G + 50 + 2 * k);
		write_group(b, G + 51 + 2 * k);
		CHECK(csm_fsync(a, false) == 0);
		CHECK(csm_fsync(b, false) == 0);
	}
	write_group(b, 2 * G + 9); /* b grows the file: a superblock write */
	CHECK(csm_fsync(b, false) == 0);
	CHECK(csm_close(a) == 0);
	CHECK(csm_close(b) == 0);
	for (uint64_t k = 0; k < 12; k++) {
		CHECK(stored_bit(40 + k), "group %llu", (unsigned long long)(40 + k));
		CHECK(stored_bit(G + 50 + k), "group %llu", (unsigned long long)(G + 50 + k));
	}
	CHECK(stored_bit(2 * G + 9));

	/* 4b. A shrink cut short between its size and its clearing leaves a
	 * bit past the size: recovery (the file is unclean) clears it, and
	 * the group grown back reads zeros. */
	format(0);
	e = open_file(false);
	write_group(e, 2);
	CHECK(csm_close(e) == 0);
	{
		int fd = open(path, O_RDWR);
		uint8_t sb[CSM_SB_SIZE], rec[CSM_REC_SIZE];
		struct csm_super su;
		CHECK(pread(fd, sb, sizeof(sb), 0) == (ssize_t)sizeof(sb));
		CHECK(csm_sb_decode(sb, sizeof(sb), &su) == CSM_SB_OK);
		csm_rec_init(&geo, su.uuid, rec, 1);
		csm_rec_set_bit(rec, 100, true);
		csm_rec_seal(rec);
		CHECK(pwrite(fd, rec, sizeof(rec), (off_t)csm_rec_offset(&geo, 1)) ==
		      (ssize_t)sizeof(rec));
		su.state = CSM_STATE_UNCLEAN;
		csm_sb_encode(&su, sb);
		CHECK(pwrite(fd, sb, sizeof(sb), 0) == (ssize_t)sizeof(sb));
		close(fd);
	}
	CHECK(stored_bit(G + 100));
	e = open_file(false);
	CHECK(csm_open_recovery(e)->ran);
	CHECK(!stored_bit(G + 100) && stored_bit(2));
	CHECK(csm_truncate(e, (G + 101) * group_bytes()) == 0);
	CHECK(read_group(e, G + 100) == 1 && read_group(e, 2) == 0);
	scrub_lost(e, NULL, 0);
	CHECK(csm_close(e) == 0);

	/* 5c. Two processes at once, each recording its own groups in the
	 * header's records and in a reserved block, fsync after fsync. */
	format(0);
	pid_t kids[2];
	for (int k = 0; k < 2; k++) {
		kids[k] = fork();
		CHECK(kids[k] >= 0);
		if (kids[k] == 0) {
			struct csm_engine *c = open_file(false);
			for (uint64_t i = 0; i < 30; i++) {
				write_group(c, 100 + 2 * i + (uint64_t)k);
				write_group(c, G + 100 + 2 * i + (uint64_t)k);
				write_group(c, 2 * G + 100 + 2 * i + (uint64_t)k);
				CHECK(csm_fsync(c, false) == 0);
			}
			CHECK(csm_close(c) == 0);
			_exit(0);
		}
	}
	for (int k = 0; k < 2; k++) {
		int st;
		CHECK(waitpid(kids[k], &st, 0) == kids[k] && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	for (uint64_t i = 0; i < 60; i++)
		for (uint64_t s = 0; s < 3; s++)
			CHECK(stored_bit(s * G + 100 + i), "group %llu",
			      (unsigned long long)(s * G + 100 + i));

	/* 5b. b records its groups and leaves; a, alone again, goes solo
	 * and grows the file (superblock writes without the lock): b's bits
	 * in the header survive. */
	solo_retry_ms = 1;
	a = open_file(false);
	b = open_file(false);
	write_group(a, 70);
	write_group(b, 80);
	write_group(b, G + 80);
	CHECK(csm_close(b) == 0);
	CHECK(stored_bit(80) && stored_bit(G + 80));
	for (int i = 0; i < 200 && !csm_is_solo(a); i++) {
		usleep(10000);
		write_group(a, 71 + (uint64_t)i % 5);
	}
	CHECK(csm_is_solo(a));
	write_group(a, 3 * G + 1); /* a growth, solo */
	CHECK(csm_fsync(a, false) == 0);
	CHECK(csm_truncate(a, csm_size(a) + 12345) == 0);
	CHECK(csm_close(a) == 0);
	CHECK(stored_bit(80) && stored_bit(G + 80) && stored_bit(70) && stored_bit(3 * G + 1));
	solo_retry_ms = 0;

	/* 4c. The same bit left while the file is open (a shrink whose
	 * clearing failed): the last one out clears it before the clean
	 * mark, so a clean file holds no bit past its size. */
	format(0);
	e = open_file(false);
	write_group(e, G + 5); /* the store reaches segment 2's record */
	{
		int fd = open(path, O_RDWR);
		uint8_t rec[CSM_REC_SIZE];
		csm_rec_init(&geo, csm_superblock(e)->uuid, rec, 2);
		csm_rec_set_bit(rec, 50, true);
		csm_rec_seal(rec);
		CHECK(pwrite(fd, rec, sizeof(rec), (off_t)csm_rec_offset(&geo, 2)) ==
		      (ssize_t)sizeof(rec));
		close(fd);
	}
	CHECK(stored_bit(2 * G + 50));
	CHECK(csm_close(e) == 0);
	CHECK(!stored_bit(2 * G + 50) && stored_bit(G + 5));
	e = open_file(false);
	CHECK(csm_truncate(e, (2 * G + 51) * group_bytes()) == 0);
	CHECK(read_group(e, 2 * G + 50) == 1);
	CHECK(csm_close(e) == 0);

	/* 6. ALIGNED without WGREC: as before the record. */
	format(CSM_FEAT_ALIGNED);
	e = open_file(false);
	CHECK(!csm_geometry(e)->wgrec);
	write_group(e, 3);
	write_group(e, G + 2);
	CHECK(csm_close(e) == 0);
	CHECK(!stored_bit(3) && !stored_bit(G + 2));
	punch(3, true);
	e = open_file(false);
	CHECK(read_group(e, 3) == 1 && read_group(e, G + 2) == 0);
	scrub_lost(e, NULL, 0);
	/* Upgraded in place: the groups with brothers get their bits (the
	 * punched one cannot be told from a never-written one any more). */
	write_group(e, 2 * G + 7);
	CHECK(csm_close(e) == 0);
	e = open_file(false);
	CHECK(csm_upgrade(e) == 0, "upgrade: %s", strerror(errno));
	CHECK(csm_geometry(e)->wgrec);
	CHECK(csm_superblock(e)->incompat == (CSM_FEAT_ALIGNED | CSM_FEAT_WGREC));
	errno = 0;
	CHECK(csm_upgrade(e) == -1 && errno == EALREADY);
	CHECK(csm_close(e) == 0);
	CHECK(stored_bit(G + 2) && stored_bit(2 * G + 7) && !stored_bit(3) && !stored_bit(G + 1));
	punch(G + 2, true);
	e = open_file(false);
	CHECK(read_group(e, G + 2) == -1 && read_group(e, 3) == 1 && read_group(e, 2 * G + 7) == 0);
	const uint64_t want6[1] = {G + 2};
	scrub_lost(e, want6, 1);
	CHECK(csm_close(e) == 0);

	unlink(path);
	printf("1 passed, 0 failed\n");
	return 0;
}
