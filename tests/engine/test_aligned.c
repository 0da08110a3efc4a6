/*
 * The aligned layout (CSM_FEAT_ALIGNED, docs/FORMAT.md "Layout") across
 * segments, on a sparse POSIX file: 512-byte blocks make a segment small
 * enough (about 60 MiB) to cross two boundaries without writing much.
 *
 *  1. Writes near and across the segment boundaries land at the geometry's
 *     offsets (data runs on 2 MiB boundaries), read back, survive a reopen,
 *     and a scrub verifies them, skipping the holes between.
 *  2. A shrink into a segment drops the brothers of that segment's later
 *     groups (they lie before the cut, in the zone): grown again, those
 *     groups read as zeros and the scrub is clean.
 *  3. A flipped data bit in a later segment fails the read and the scrub;
 *     a punched data range of a written group reads EIO.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csumshim/engine.h"
#include "testlib.h"

static int fd = -1;

static struct csm_engine *open_file(void)
{
	struct csm_backend be;
	CHECK(csm_backend_posix(&be, fd, fd, false, NULL) == 0);
	struct csm_engine *e;
	char err[200];
	CHECK(csm_open(&be, NULL, &e, err, sizeof(err)) == 0, "open: %s", err);
	return e;
}

static void put(struct csm_engine *e, uint8_t *ref, uint64_t refsz, uint64_t off, size_t n,
                struct rng *r)
{
	CHECK(off + n <= refsz);
	rng_fill(r, ref + off, n);
	CHECK(csm_pwrite(e, ref + off, n, off) == (ssize_t)n, "write at %llu: %s",
	      (unsigned long long)off, strerror(errno));
}

/* The written ranges and a sample of the rest read as the reference. */
static void verify(struct csm_engine *e, const uint8_t *ref, uint64_t size, const uint64_t *offs,
                   size_t noffs)
{
	static uint8_t buf[1 << 16];
	for (size_t i = 0; i < noffs; i++) {
		uint64_t off = offs[i] > 20000 ? offs[i] - 20000 : 0;
		size_t n = off + sizeof(buf) <= size ? sizeof(buf) : (size_t)(size - off);
		CHECK(csm_pread(e, buf, n, off) == (ssize_t)n, "read at %llu: %s",
		      (unsigned long long)off, strerror(errno));
		CHECK(memcmp(buf, ref + off, n) == 0, "content at %llu", (unsigned long long)off);
	}
}

int main(void)
{
	struct rng r = {test_seed("test_aligned", 14)};
	char path[] = "/tmp/csm-aligned-XXXXXX";
	const char *dir = getenv("TMPDIR");
	char *tmpl = path;
	if (dir) {
		tmpl = malloc(strlen(dir) + 32);
		sprintf(tmpl, "%s/csm-aligned-XXXXXX", dir);
	}
	fd = mkstemp(tmpl);
	CHECK(fd >= 0);
	unlink(tmpl);

	struct csm_backend be;
	CHECK(csm_backend_posix(&be, fd, fd, false, NULL) == 0);
	struct csm_format_opts fo = {.block_size = 512, .algo = CSM_ALGO_XXH3};
	char err[200];
	CHECK(csm_format(&be, &fo, err, sizeof(err)) == 0, "%s", err);
	be.ops->destroy(be.ctx);
	struct csm_engine *e = open_file();
	const struct csm_geometry g = *csm_geometry(e);
	CHECK(g.aligned && g.seg_groups == 2044);
	const uint64_t bs = g.block_size, seg = g.seg_blocks * bs; /* logical bytes */
	const uint64_t size = 2 * seg + 5 * (uint64_t)g.per_group * bs + 777;
	uint8_t *ref = calloc(1, size);
	CHECK(ref);

	/* 1. Around and across the boundaries. */
	const uint64_t offs[] = {
	        0,
	        seg - 3 * bs - 100,                           /* across the first boundary */
	        seg + 10 * (uint64_t)g.per_group * bs,        /* a later group of segment 1 */
	        2 * seg - 1000,                               /* across the second */
	        2 * seg + 4 * (uint64_t)g.per_group * bs + 5, /* the last group, partly */
	};
	const size_t lens[] = {70000, 4000, 3 * bs, 9000, g.per_group * bs + 772};
	for (size_t i = 0; i < 5; i++)
		put(e, ref, size, offs[i], lens[i], &r);
	CHECK_EQ_U64(csm_size(e), size);
	/* Where the bytes are: the geometry's offsets, runs on 2 MiB. */
	for (size_t i = 0; i < 5; i++) {
		uint64_t L = offs[i] / bs, p = csm_geo_data_offset(&g, L);
		uint8_t blk[512];
		CHECK(pread(fd, blk, bs, (off_t)p) == (ssize_t)bs);
		CHECK(memcmp(blk, ref + L * bs, bs) == 0, "block %llu not at %llu",
		      (unsigned long long)L, (unsigned long long)p);
	}
	for (uint64_t s = 0; s < 3; s++)
		CHECK_EQ_U64(csm_geo_data_offset(&g, s * g.seg_blocks) % (2u << 20), 0);
	off_t end = lseek(fd, 0, SEEK_END);
	CHECK_EQ_U64((uint64_t)end, csm_geo_data_store_size(&g, size));
	verify(e, ref, size, offs, 5);
	struct csm_scrub_result res;
	CHECK(csm_scrub(e, NULL, NULL, &res) == 0);
	CHECK(res.bad_blocks == 0 && res.bad_meta == 0 && res.missing_blocks == 0);
	/* About 10 groups hold data; all but a few of the rest are skipped. */
	CHECK(res.groups_skipped + 40 > res.groups, "only %llu of %llu groups skipped",
	      (unsigned long long)res.groups_skipped, (unsigned long long)res.groups);
	CHECK(csm_close(e) == 0);
	e = open_file();
	verify(e, ref, size, offs, 5);

	/* 2. Shrink into segment 1 before its group 10, grow again. */
	uint64_t cut = seg + 5 * (uint64_t)g.per_group * bs + 300;
	uint64_t g10 = g.seg_groups + 10;
	uint8_t mb[512];
	CHECK(pread(fd, mb, bs, (off_t)csm_geo_meta_offset(&g, g10, 0)) == (ssize_t)bs);
	CHECK(!csm_is_zero(mb, bs), "group %llu has no brother", (unsigned long long)g10);
	CHECK(csm_truncate(e, cut) == 0);
	memset(ref + cut, 0, size - cut);
	for (unsigned sl = 0; sl < 2; sl++) {
		CHECK(pread(fd, mb, bs, (off_t)csm_geo_meta_offset(&g, g10, sl)) == (ssize_t)bs);
		CHECK(csm_is_zero(mb, bs), "a dropped group's brother survived the shrink");
	}
	CHECK(csm_truncate(e, size) == 0);
	verify(e, ref, size, offs, 5);
	CHECK(csm_scrub(e, NULL, NULL, &res) == 0);
	CHECK(res.bad_blocks == 0 && res.bad_meta == 0 && res.missing_blocks == 0);
	put(e, ref, size, offs[2], lens[2], &r);
	CHECK(csm_close(e) == 0);

	/* 3. A flipped bit in segment 2, then a punched data range. */
	uint64_t L = offs[3] / bs + 4;
	uint64_t p = csm_geo_data_offset(&g, L) + 17;
	uint8_t c;
	CHECK(pread(fd, &c, 1, (off_t)p) == 1);
	c ^= 0x40;
	CHECK(pwrite(fd, &c, 1, (off_t)p) == 1);
	e = open_file();
	uint8_t buf[512];
	errno = 0;
	CHECK(csm_pread(e, buf, bs, L * bs) == -1 && errno == EIO);
	CHECK(csm_scrub(e, NULL, NULL, &res) == 0);
	CHECK_EQ_U64(res.bad_blocks, 1);
	CHECK(csm_close(e) == 0);
	c ^= 0x40;
	CHECK(pwrite(fd, &c, 1, (off_t)p) == 1);
	uint64_t L0 = offs[0] / bs + 8;
	CHECK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
	                (off_t)csm_geo_data_offset(&g, L0), 8 * bs) == 0);
	e = open_file();
	errno = 0;
	CHECK(csm_pread(e, buf, bs, L0 * bs) == -1 && errno == EIO);
	CHECK(csm_pread(e, buf, bs, offs[3]) == (ssize_t)bs && memcmp(buf, ref + offs[3], bs) == 0);
	CHECK(csm_close(e) == 0);
	close(fd);
	free(ref);
	printf("1 passed, 0 failed\n");
	return 0;
}
