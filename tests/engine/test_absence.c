/*
 * Absence is an error, never zeros (issue 14, part 2; docs/FORMAT.md
 * "Version 2").  Every case runs on a version 2 file in each layout and
 * block size; CSM_VERSION=1 runs the same cases on version 1 files, which
 * fail them (that is what the test is for: it shows v1 hands out zeros).
 *
 *  1. Lost tail: the stored file (or a separate data or metadata file)
 *     truncated behind csumshim's back.  Reads of the lost blocks fail with
 *     EIO, the blocks before it read as written, a scrub names the range
 *     (CSM_EV_MISSING, missing_blocks), and recovery does not turn it into
 *     zeros (the store stays short, the blocks keep failing).
 *  2. Punched data: a range of a written group's data made a hole reads
 *     EIO, not zeros.
 *  3. Stale superblock: the superblock bytes from before the last growth
 *     put back.  The file refuses I/O (EIO), a scrub says so, and
 *     csm_recover rebuilds the size from the newer brothers so that every
 *     byte written reads back.
 *     3b. The same with the superblock put back from while the file was
 *     open for writing (state unclean, as a power cut during a growth
 *     leaves it): an engine that opens it for writing and closes last
 *     refused every I/O, so its close must not touch the file (no cut of
 *     the stores past the stale size, no clean mark): recovery still
 *     rebuilds every byte.
 *  4. Separate layout, another file's metadata file: opts.check_pair
 *     refuses it at open (EIO), not one rotten block.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "csumshim/engine.h"
#include "membackend.h"
#include "testlib.h"

struct cfg {
	uint32_t bs;
	unsigned algo, layout;
};

static const struct cfg cfgs[] = {
        {4096, CSM_ALGO_CRC32C, CSM_LAYOUT_INTERLEAVED},
        {4096, CSM_ALGO_XXH3, CSM_LAYOUT_SEPARATE},
        {512, CSM_ALGO_CRC32C, CSM_LAYOUT_SEPARATE},
        {1024, CSM_ALGO_XXH3, CSM_LAYOUT_INTERLEAVED},
        {2048, CSM_ALGO_CRC32C, CSM_LAYOUT_INTERLEAVED},
};

static unsigned version; /* CSM_VERSION=1: run on v1 files (which fail) */
static uint64_t ev_missing, ev_stale, ev_first_missing;

static void on_event(void *arg, const struct csm_event *ev)
{
	(void)arg;
	if (ev->kind == CSM_EV_MISSING) {
		if (!ev_missing)
			ev_first_missing = ev->lblock;
		ev_missing++;
	} else if (ev->kind == CSM_EV_STALE_SUPER) {
		ev_stale++;
	}
}

static void ev_reset(void)
{
	ev_missing = ev_stale = 0;
	ev_first_missing = UINT64_MAX;
}

static struct csm_engine *open_mem(struct mem_backend *mb)
{
	struct csm_backend be = mem_backend_view(mb);
	struct csm_engine_opts o = {.report = on_event};
	struct csm_engine *e;
	char err[200];
	CHECK(csm_open(&be, &o, &e, err, sizeof(err)) == 0, "open: %s", err);
	return e;
}

/* A file of `len` random bytes (several groups), closed cleanly. */
static uint8_t *make_file(struct mem_backend *mb, const struct cfg *c, uint64_t len,
                          struct csm_geometry *geo)
{
	mem_backend_init(mb, c->layout == CSM_LAYOUT_INTERLEAVED);
	struct csm_backend be = mem_backend_view(mb);
	struct csm_format_opts fo = {
	        .block_size = c->bs, .algo = c->algo, .layout = c->layout, .version = version};
	char err[200];
	CHECK(csm_format(&be, &fo, err, sizeof(err)) == 0, "%s", err);
	uint8_t *data = malloc(len);
	CHECK(data);
	struct rng r = {c->bs * 7 + c->layout};
	rng_fill(&r, data, len);
	struct csm_engine *e = open_mem(mb);
	CHECK(csm_pwrite(e, data, len, 0) == (ssize_t)len);
	*geo = *csm_geometry(e);
	CHECK(csm_close(e) == 0);
	return data;
}

/* Blocks [0, good) read back as written; [good, end) fail with EIO. */
static void expect_reads(struct csm_engine *e, const uint8_t *data, uint64_t len, uint32_t bs,
                         uint64_t good, const char *what)
{
	uint8_t *got = malloc(bs);
	CHECK(got);
	for (uint64_t b = 0; b * bs < len; b++) {
		size_t n = len - b * bs < bs ? (size_t)(len - b * bs) : bs;
		errno = 0;
		ssize_t r = csm_pread(e, got, n, b * bs);
		if (b < good) {
			CHECK(r == (ssize_t)n && memcmp(got, data + b * bs, n) == 0,
			      "%s: block %" PRIu64 " not as written (%zd, %s)", what, b, r,
			      strerror(errno));
		} else {
			CHECK(r == -1 && errno == EIO,
			      "%s: block %" PRIu64 " is lost but read %zd bytes (%s), not EIO",
			      what, b, r, strerror(errno));
		}
	}
	free(got);
}

/* 1. Cut `store` to end inside the data (or brothers) of block `cut`. */
static void lost_tail(const struct cfg *c, enum csm_store st)
{
	struct mem_backend mb;
	struct csm_geometry g;
	uint32_t per = csm_per_group_for(c->bs, c->algo);
	uint64_t blocks = (uint64_t)per * 2 + per / 2; /* two and a half groups */
	uint64_t len = blocks * c->bs - 100;           /* last block partial */
	uint8_t *data = make_file(&mb, c, len, &g);
	uint64_t cut = per + per / 3; /* in the second group */
	struct mem_store *s = mem_store_of(&mb, st);
	uint64_t at;
	if (st == CSM_META && c->layout == CSM_LAYOUT_SEPARATE) {
		/* The separate metadata file loses the pair of group 1 on. */
		at = csm_geo_meta_offset(&g, 1, 1);
		cut = per;
	} else {
		at = csm_geo_data_offset(&g, cut) + c->bs / 2;
	}
	CHECK(at < s->size);
	s->size = at; /* truncate(1) behind csumshim's back */
	char what[120];
	snprintf(what, sizeof(what), "lost tail, bs %u %s, %s store cut in block %" PRIu64, c->bs,
	         csm_layout_name(c->layout), st == CSM_DATA ? "data" : "meta", cut);

	ev_reset();
	struct csm_engine *e = open_mem(&mb);
	expect_reads(e, data, len, c->bs, cut, what);
	CHECK(ev_missing > 0, "%s: no missing event", what);
	struct csm_scrub_result sr;
	ev_reset();
	CHECK(csm_scrub(e, NULL, NULL, &sr) == 0);
	CHECK(sr.missing_blocks == blocks - cut && sr.intact_size == cut * c->bs &&
	              sr.bad_blocks >= blocks - cut && ev_first_missing == cut,
	      "%s: scrub: %" PRIu64 " missing from byte %" PRIu64 " (want %" PRIu64 " from %" PRIu64
	      "), first event block %" PRIu64,
	      what, sr.missing_blocks, sr.intact_size, blocks - cut, cut * c->bs, ev_first_missing);
	/* Recovery (same boot) does not make the lost tail zeros. */
	struct csm_recovery rec;
	CHECK(csm_recover(e, &rec) == 0, "%s: recover: %s", what, strerror(errno));
	CHECK(rec.intact_size < len, "%s: recovery did not see the lost tail", what);
	expect_reads(e, data, len, c->bs, cut, what);
	CHECK(csm_close(e) == 0);
	e = open_mem(&mb);
	expect_reads(e, data, len, c->bs, cut, what);
	CHECK(csm_close(e) == 0);
	free(data);
	mem_backend_free(&mb);
}

/* 2. A range of written data punched out (a hole reads as zeros). */
static void punched(const struct cfg *c)
{
	struct mem_backend mb;
	struct csm_geometry g;
	uint32_t per = csm_per_group_for(c->bs, c->algo);
	uint64_t len = (uint64_t)per * 2 * c->bs;
	uint8_t *data = make_file(&mb, c, len, &g);
	struct mem_store *s = mem_store_of(&mb, CSM_DATA);
	uint64_t first = per + 3, n = 5;
	memset(s->buf + csm_geo_data_offset(&g, first), 0, n * c->bs);
	struct csm_engine *e = open_mem(&mb);
	uint8_t *got = malloc(c->bs);
	CHECK(got);
	for (uint64_t b = first - 1; b <= first + n; b++) {
		errno = 0;
		ssize_t r = csm_pread(e, got, c->bs, b * c->bs);
		bool hole = b >= first && b < first + n;
		CHECK(hole ? (r == -1 && errno == EIO)
		           : (r == (ssize_t)c->bs && memcmp(got, data + b * c->bs, c->bs) == 0),
		      "punched: block %" PRIu64 " read %zd (%s)", b, r, strerror(errno));
	}
	struct csm_scrub_result sr;
	CHECK(csm_scrub(e, NULL, NULL, &sr) == 0 && sr.bad_blocks == n);
	CHECK(csm_close(e) == 0);
	free(got);
	free(data);
	mem_backend_free(&mb);
}

/* 3. The superblock from before the last growth, put back. */
static void stale_super(const struct cfg *c)
{
	struct mem_backend mb;
	struct csm_geometry g;
	uint32_t per = csm_per_group_for(c->bs, c->algo);
	uint64_t len1 = (uint64_t)per * c->bs + 1000; /* into group 1 */
	uint8_t *data = make_file(&mb, c, len1, &g);
	uint8_t old[CSM_SB_SIZE];
	memcpy(old, mem_store_of(&mb, CSM_META)->buf, sizeof(old));
	/* Grow by two more groups, fsync, close. */
	uint64_t len = len1 + (uint64_t)per * 2 * c->bs + 77;
	uint8_t *more = malloc(len);
	CHECK(more);
	memcpy(more, data, len1);
	struct rng r = {99};
	rng_fill(&r, more + len1, len - len1);
	struct csm_engine *e = open_mem(&mb);
	CHECK(csm_pwrite(e, more + len1, len - len1, len1) == (ssize_t)(len - len1));
	CHECK(csm_fsync(e, false) == 0);
	CHECK(csm_close(e) == 0);
	memcpy(mem_store_of(&mb, CSM_META)->buf, old, sizeof(old));

	ev_reset();
	e = open_mem(&mb);
	char what[100];
	snprintf(what, sizeof(what), "stale superblock, bs %u %s", c->bs,
	         csm_layout_name(c->layout));
	uint8_t buf[64];
	errno = 0;
	CHECK(csm_pread(e, buf, sizeof(buf), 0) == -1 && errno == EIO,
	      "%s: the file reads (size %" PRIu64 " of %" PRIu64 ")", what, csm_size(e), len);
	CHECK(ev_stale > 0, "%s: not reported", what);
	struct csm_scrub_result sr;
	CHECK(csm_scrub(e, NULL, NULL, &sr) == 0 && sr.stale_super, "%s: scrub", what);
	struct csm_recovery rec;
	CHECK(csm_recover(e, &rec) == 0, "%s: recover: %s", what, strerror(errno));
	uint64_t want = csm_geo_blocks(&g, len) * c->bs; /* whole blocks: all it can prove */
	CHECK(rec.stale_rebuilt && rec.stale_size == want && csm_size(e) == want,
	      "%s: rebuilt size %" PRIu64 ", want %" PRIu64, what, csm_size(e), want);
	uint8_t *got = malloc(want);
	CHECK(got);
	CHECK(csm_pread(e, got, want, 0) == (ssize_t)want && memcmp(got, more, len) == 0 &&
	              csm_is_zero(got + len, want - len),
	      "%s: after recovery", what);
	CHECK(csm_scrub(e, NULL, NULL, &sr) == 0 && sr.bad_blocks == 0 && !sr.stale_super);
	CHECK(csm_close(e) == 0);
	free(got);
	free(more);
	free(data);
	mem_backend_free(&mb);
}

/* 3b. The superblock from before the last growth, taken while the file
 * was open for writing (unclean), put back; an engine opens the file for
 * writing and closes it last.  Its close must leave the file to recovery. */
static void stale_unclean_close(const struct cfg *c)
{
	struct mem_backend mb;
	struct csm_geometry g;
	uint32_t per = csm_per_group_for(c->bs, c->algo);
	uint64_t len1 = (uint64_t)per * c->bs + 1000; /* into group 1 */
	uint8_t *data = make_file(&mb, c, len1, &g);
	uint64_t len = len1 + (uint64_t)per * 2 * c->bs + 77;
	uint8_t *more = malloc(len);
	CHECK(more);
	memcpy(more, data, len1);
	struct rng r = {98};
	rng_fill(&r, more + len1, len - len1);
	struct csm_engine *e = open_mem(&mb);
	CHECK(csm_pwrite(e, data, 1, 0) == 1); /* the unclean mark */
	uint8_t old[CSM_SB_SIZE];
	memcpy(old, mem_store_of(&mb, CSM_META)->buf, sizeof(old));
	CHECK(csm_pwrite(e, more + len1, len - len1, len1) == (ssize_t)(len - len1));
	CHECK(csm_fsync(e, false) == 0);
	CHECK(csm_close(e) == 0);
	memcpy(mem_store_of(&mb, CSM_META)->buf, old, sizeof(old));

	char what[100];
	snprintf(what, sizeof(what), "stale unclean superblock, closed, bs %u %s", c->bs,
	         csm_layout_name(c->layout));
	uint64_t dsz = mem_store_of(&mb, CSM_DATA)->size;
	uint64_t msz = mem_store_of(&mb, CSM_META)->size;
	ev_reset();
	e = open_mem(&mb); /* alone, unclean, stale: no recovery */
	uint8_t buf[64];
	errno = 0;
	CHECK(csm_pread(e, buf, sizeof(buf), 0) == -1 && errno == EIO, "%s: the file reads", what);
	CHECK(csm_close(e) == 0, "%s: close: %s", what, strerror(errno));
	CHECK(mem_store_of(&mb, CSM_DATA)->size == dsz && mem_store_of(&mb, CSM_META)->size == msz,
	      "%s: the close cut the stores (data %" PRIu64 " of %" PRIu64 ", metadata %" PRIu64
	      " of %" PRIu64 ")",
	      what, mem_store_of(&mb, CSM_DATA)->size, dsz, mem_store_of(&mb, CSM_META)->size, msz);
	CHECK(memcmp(mem_store_of(&mb, CSM_META)->buf, old, sizeof(old)) == 0,
	      "%s: the close rewrote the stale superblock", what);

	e = open_mem(&mb);
	errno = 0;
	CHECK(csm_pread(e, buf, sizeof(buf), 0) == -1 && errno == EIO,
	      "%s: reads after the close (size %" PRIu64 " of %" PRIu64 ")", what, csm_size(e),
	      len);
	struct csm_recovery rec;
	CHECK(csm_recover(e, &rec) == 0, "%s: recover: %s", what, strerror(errno));
	uint64_t want = csm_geo_blocks(&g, len) * c->bs;
	CHECK(rec.stale_rebuilt && csm_size(e) == want,
	      "%s: rebuilt size %" PRIu64 ", want %" PRIu64, what, csm_size(e), want);
	uint8_t *got = malloc(want);
	CHECK(got);
	CHECK(csm_pread(e, got, want, 0) == (ssize_t)want && memcmp(got, more, len) == 0,
	      "%s: after recovery, not every byte written reads back", what);
	CHECK(csm_close(e) == 0);
	free(got);
	free(more);
	free(data);
	mem_backend_free(&mb);
}

/* 4. Separate layout: another file's metadata file (opts.check_pair;
 * docs/DESIGN.md "Separate layout: the pair").  Refused at open where the
 * first and last blocks both fail, or a clean v2 data file is longer than
 * the size; a pair that belongs together, or one rotten block, opens. */
static int open_pair(struct mem_backend *mb, bool check, char *err, size_t errlen)
{
	struct csm_backend be = mem_backend_view(mb);
	struct csm_engine_opts o = {.report = on_event, .check_pair = check};
	struct csm_engine *e;
	int rc = csm_open(&be, &o, &e, err, errlen);
	if (rc == 0)
		CHECK(csm_close(e) == 0);
	return rc;
}

static void swap_meta(struct mem_backend *a, struct mem_backend *b)
{
	struct mem_store t = *mem_store_of(a, CSM_META);
	*mem_store_of(a, CSM_META) = *mem_store_of(b, CSM_META);
	*mem_store_of(b, CSM_META) = t;
}

/* A separate file of `len` bytes: `data` with every byte XOR `x`. */
static void make_other(struct mem_backend *mb, const struct cfg *c, const uint8_t *data,
                       uint64_t len, uint8_t x)
{
	mem_backend_init(mb, false);
	struct csm_backend be = mem_backend_view(mb);
	struct csm_format_opts fo = {
	        .block_size = c->bs, .algo = c->algo, .layout = c->layout, .version = version};
	char err[200];
	CHECK(csm_format(&be, &fo, err, sizeof(err)) == 0, "%s", err);
	uint8_t *d = malloc(len ? len : 1);
	CHECK(d);
	for (uint64_t i = 0; i < len; i++)
		d[i] = data[i] ^ x;
	struct csm_engine *e = open_mem(mb);
	CHECK(csm_pwrite(e, d, len, 0) == (ssize_t)len);
	CHECK(csm_close(e) == 0);
	free(d);
}

static void foreign_pair(const struct cfg *c)
{
	struct mem_backend ma, mb, ms;
	struct csm_geometry g;
	uint32_t per = csm_per_group_for(c->bs, c->algo);
	uint64_t len = (uint64_t)per * c->bs * 2 + 300; /* three groups */
	uint8_t *data = make_file(&ma, c, len, &g);
	char err[300], what[80];
	snprintf(what, sizeof(what), "foreign pair, bs %u", c->bs);
	CHECK(open_pair(&ma, true, err, sizeof(err)) == 0, "%s: own pair refused: %s", what, err);

	make_other(&mb, c, data, len, 0x5a); /* same size, other content */
	swap_meta(&ma, &mb);
	CHECK(open_pair(&ma, true, err, sizeof(err)) == -EIO &&
	              strstr(err, "does not describe this data file"),
	      "%s: same size: %s", what, err);
	CHECK(open_pair(&ma, false, err, sizeof(err)) == 0, "%s: unchecked: %s", what, err);
	swap_meta(&ma, &mb);

	make_other(&ms, c, data, len / 3, 0x33); /* smaller */
	swap_meta(&ma, &ms);
	int rc = open_pair(&ma, true, err, sizeof(err));
	if (version != 1)
		CHECK(rc == -EIO && strstr(err, "the data file holds"), "%s: smaller: %d %s", what,
		      rc, err);
	else
		CHECK(rc == -EIO, "%s: smaller, v1: %d %s", what, rc, err);
	swap_meta(&ma, &ms);

	/* A growth that extended the stores and failed to store the size:
	 * the close cuts the data store back, so the pair opens again. */
	{
		struct csm_engine *e = open_mem(&ma);
		CHECK(csm_pwrite(e, data, 10, 0) == 10); /* marks it unclean */
		struct csm_backend be = mem_backend_view(&ma);
		CHECK(be.ops->set_size(be.ctx, CSM_DATA, len + 5000) == 0);
		CHECK(csm_close(e) == 0);
		CHECK(mem_store_of(&ma, CSM_DATA)->size == len || version == 1,
		      "%s: data store left at %" PRIu64, what, mem_store_of(&ma, CSM_DATA)->size);
		CHECK(open_pair(&ma, true, err, sizeof(err)) == 0, "%s: after a failed growth: %s",
		      what, err);
	}
	/* Rot in block 0 alone opens; in the first and the last, refused. */
	struct mem_store *d = mem_store_of(&ma, CSM_DATA);
	uint64_t last = csm_geo_data_offset(&g, csm_geo_blocks(&g, len) - 1);
	d->buf[csm_geo_data_offset(&g, 0) + 5] ^= 1;
	CHECK(open_pair(&ma, true, err, sizeof(err)) == 0, "%s: one bad block: %s", what, err);
	d->buf[last + 7] ^= 1;
	CHECK(open_pair(&ma, true, err, sizeof(err)) == -EIO, "%s: first and last bad", what);
	free(data);
	mem_backend_free(&ma);
	mem_backend_free(&mb);
	mem_backend_free(&ms);
}

int main(void)
{
	const char *v = getenv("CSM_VERSION");
	version = v ? (unsigned)strtoul(v, NULL, 10) : 0;
	for (size_t i = 0; i < sizeof(cfgs) / sizeof(cfgs[0]); i++) {
		const struct cfg *c = &cfgs[i];
		lost_tail(c, CSM_DATA);
		if (c->layout == CSM_LAYOUT_SEPARATE)
			lost_tail(c, CSM_META);
		punched(c);
		stale_super(c);
		if (version != 1)
			stale_unclean_close(c);
		if (c->layout == CSM_LAYOUT_SEPARATE)
			foreign_pair(c);
		printf("  bs %u %s %s: lost tail, punched data, stale superblock\n", c->bs,
		       csm_algo_name(c->algo), csm_layout_name(c->layout));
	}
	printf("%zu configurations passed\n", sizeof(cfgs) / sizeof(cfgs[0]));
	return 0;
}
