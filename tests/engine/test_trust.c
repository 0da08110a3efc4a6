/*
 * Trust (issue 14, part 1): recovery never launders corruption, and writes
 * never claim more than they did.
 *
 *  1. A process that exits or crashes without closing leaves the file
 *     unclean; a bit flipped at rest afterwards must stay a mismatch through
 *     the next open's recovery (same boot: every completed write is whole
 *     in the page cache, so a block matching neither brother is corruption).
 *  2. After a power cut (the boot id changed) a v1 file, which records no
 *     boot id, is still recovered on the safe side; only after_power_loss
 *     re-seals, and then lists each re-sealed block.
 *  3. Recovery of a file marked clean re-seals nothing: a damaged brother is
 *     rewritten from the good one, a block matching neither stays failing.
 *  4. A write failing with ENOSPC leaves the size as before, or as far as
 *     the bytes it reports written.
 *  5. CSM_WR_DSYNC / CSM_WR_SYNC: the data, its checksums (and for SYNC the
 *     size) survive a power cut that keeps no unsynced write.
 *  6. A superblock whose layout disagrees with the stores is refused.
 *  7. A scrub by another engine (another process, as far as locks go) while
 *     one writes the file reports nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
};

/* Events seen since the last reset. */
static uint64_t ev_unverified, ev_mismatch, ev_other;
static uint64_t ev_blocks[64];
static size_t ev_n;

static void on_event(void *arg, const struct csm_event *ev)
{
	(void)arg;
	if (ev->kind == CSM_EV_UNVERIFIED)
		ev_unverified++;
	else if (ev->kind == CSM_EV_DATA_MISMATCH)
		ev_mismatch++;
	else if (ev->kind != CSM_EV_META_DAMAGED)
		ev_other++;
	if ((ev->kind == CSM_EV_UNVERIFIED || ev->kind == CSM_EV_DATA_MISMATCH) && ev_n < 64)
		ev_blocks[ev_n++] = ev->lblock;
}

static void ev_reset(void)
{
	ev_unverified = ev_mismatch = ev_other = 0;
	ev_n = 0;
}

static unsigned fmt_version; /* 0: the current version */

static void format_mem(struct mem_backend *mb, const struct cfg *c, uint64_t size)
{
	mem_backend_init(mb, c->layout == CSM_LAYOUT_INTERLEAVED);
	struct csm_backend be = mem_backend_view(mb);
	struct csm_format_opts fo = {.block_size = c->bs,
	                             .algo = c->algo,
	                             .layout = c->layout,
	                             .size = size,
	                             .version = fmt_version};
	char err[200];
	CHECK(csm_format(&be, &fo, err, sizeof(err)) == 0, "%s", err);
}

static int try_open(struct mem_backend *mb, bool power_loss, struct csm_engine **e)
{
	struct csm_backend be = mem_backend_view(mb);
	struct csm_engine_opts o = {.report = on_event, .after_power_loss = power_loss};
	char err[200];
	return csm_open(&be, &o, e, err, sizeof(err));
}

static struct csm_engine *open_mem(struct mem_backend *mb, bool power_loss)
{
	struct csm_engine *e;
	CHECK(try_open(mb, power_loss, &e) == 0, "open: %s", strerror(errno));
	return e;
}

/* The process dies: nothing more reaches storage, every completed write
 * stays (no power cut, same boot). */
static void process_dies(struct mem_backend *mb, struct csm_engine *e)
{
	mb->failed = true;
	csm_close(e);
	mb->failed = false;
}

/* Flip one bit of the stored data of logical block `lb`. */
static void flip_data(struct mem_backend *mb, const struct csm_geometry *g, uint64_t lb,
                      unsigned bit)
{
	struct mem_store *s = mem_store_of(mb, CSM_DATA);
	uint64_t at = csm_geo_data_offset(g, lb) + bit / 8;
	CHECK(at < s->size);
	s->buf[at] ^= (uint8_t)(1u << (bit % 8));
}

/* Every block of [0, len) reads exactly as `want`, except block `bad`,
 * which fails with EIO (UINT64_MAX: none). */
static void expect_content(struct csm_engine *e, const uint8_t *want, uint64_t len, uint32_t bs,
                           uint64_t bad, const char *when)
{
	uint8_t got[4096];
	for (uint64_t b = 0; b * bs < len; b++) {
		errno = 0;
		ssize_t n = csm_pread(e, got, bs, b * bs);
		if (b == bad) {
			CHECK(n == -1 && errno == EIO,
			      "%s: corrupt block %" PRIu64 " read back (%zd, %s)", when, b, n,
			      strerror(errno));
			continue;
		}
		CHECK(n == (ssize_t)bs, "%s: block %" PRIu64 ": %s", when, b, strerror(errno));
		CHECK(memcmp(got, want + b * bs, bs) == 0, "%s: block %" PRIu64 " differs", when,
		      b);
	}
}

static void scrub_expect(struct csm_engine *e, uint64_t bad_blocks, const char *when)
{
	struct csm_scrub_result sr;
	CHECK(csm_scrub(e, NULL, NULL, &sr) == 0);
	CHECK(sr.bad_blocks == bad_blocks && sr.bad_meta == 0 && sr.broken_groups == 0,
	      "%s: scrub found %" PRIu64 " bad blocks, %" PRIu64 " bad metadata (want %" PRIu64 ")",
	      when, sr.bad_blocks, sr.bad_meta, bad_blocks);
}

/* 1 and 2: exit without close, then a bit flips at rest; reopen on the same
 * boot, or after a restart, or with after_power_loss. */
static void rot_after_unclean(const struct cfg *c, int how)
{
	static const char *const name[] = {"same boot", "restart, v1 (no boot id)",
	                                   "restart, after_power_loss", "restart, v2 (boot id)"};
	struct mem_backend mb;
	fmt_version = how == 1 ? CSM_VERSION_1 : 0;
	format_mem(&mb, c, 0);
	fmt_version = 0;
	struct csm_engine *e = open_mem(&mb, false);
	const struct csm_geometry *g = csm_geometry(e);
	struct csm_geometry geo = *g;
	enum { LEN = 64 << 10 };
	uint8_t *data = malloc(LEN);
	CHECK(data);
	struct rng r = {(uint64_t)c->bs * 31 + (uint64_t)how};
	rng_fill(&r, data, LEN);
	CHECK(csm_pwrite(e, data, LEN, 0) == LEN);
	process_dies(&mb, e);
	uint64_t bad = 8192 / c->bs; /* csumshim corrupt FILE --offset 8192 */
	flip_data(&mb, &geo, bad, 77);
	if (how > 0)
		mem_restart(&mb);

	ev_reset();
	e = open_mem(&mb, how == 2);
	const struct csm_recovery *rec = csm_open_recovery(e);
	CHECK(rec->ran, "%s: no recovery at the open of an unclean file", name[how]);
	CHECK(rec->boot_differs == (how >= 2), "%s: boot id %s", name[how],
	      rec->boot_differs ? "differs" : "same");
	if (how >= 2) {
		/* Re-sealed, listed: exactly that block. */
		CHECK(rec->blocks_unverified == 1 && rec->blocks_bad == 0 && ev_n == 1 &&
		              ev_blocks[0] == bad,
		      "%s: %" PRIu64 " unverified, %" PRIu64 " bad", name[how],
		      rec->blocks_unverified, rec->blocks_bad);
		data[bad * c->bs + 77 / 8] ^= 1u << (77 % 8);
		expect_content(e, data, LEN, c->bs, UINT64_MAX, name[how]);
		scrub_expect(e, 0, name[how]);
	} else {
		CHECK(rec->blocks_unverified == 0 && rec->blocks_bad == 1 && ev_unverified == 0 &&
		              ev_mismatch == 1 && ev_blocks[0] == bad,
		      "%s: recovery laundered corruption: %" PRIu64 " unverified, %" PRIu64 " bad",
		      name[how], rec->blocks_unverified, rec->blocks_bad);
		expect_content(e, data, LEN, c->bs, bad, name[how]);
		scrub_expect(e, 1, name[how]);
		CHECK(csm_close(e) == 0);
		/* Still failing after a clean close and reopen. */
		e = open_mem(&mb, false);
		expect_content(e, data, LEN, c->bs, bad, "reopened");
		scrub_expect(e, 1, "reopened");
	}
	CHECK(csm_close(e) == 0);
	CHECK(ev_other == 0);
	free(data);
	mem_backend_free(&mb);
}

/* 2b: after a restart proven by the boot id (v2), re-sealing stays within
 * groups not marked clean by an fsync: a bit flipped in a group that was
 * marked clean is still a mismatch after the restart's recovery,
 * while the dirty group's unverifiable block is re-sealed and listed. */
static void restart_clean_group(const struct cfg *c)
{
	struct mem_backend mb;
	format_mem(&mb, c, 0);
	struct csm_backend be = mem_backend_view(&mb);
	struct csm_engine_opts o = {.report = on_event, .clean_eagerly = true};
	struct csm_engine *e;
	char err[200];
	CHECK(csm_open(&be, &o, &e, err, sizeof(err)) == 0, "%s", err);
	struct csm_geometry geo = *csm_geometry(e);
	uint64_t gbytes = (uint64_t)geo.per_group * c->bs, len = 2 * gbytes;
	uint8_t *data = malloc(len);
	CHECK(data);
	struct rng r = {c->bs * 5 + 1};
	rng_fill(&r, data, len);
	CHECK(csm_pwrite(e, data, gbytes, 0) == (ssize_t)gbytes);
	/* The first fsync seals group 0, the next marks it clean (eagerly:
	 * by default once idle for 5 s).  A group sealed but not yet clean
	 * still counts as written since the last fsync. */
	CHECK(csm_fsync(e, false) == 0);
	CHECK(csm_fsync(e, false) == 0);
	CHECK(csm_pwrite(e, data + gbytes, gbytes, gbytes) == (ssize_t)gbytes); /* group 1 dirty */
	process_dies(&mb, e);
	uint64_t in_clean = 3, in_dirty = geo.per_group + 5;
	flip_data(&mb, &geo, in_clean, 9);
	flip_data(&mb, &geo, in_dirty, 9);
	mem_restart(&mb);
	ev_reset();
	e = open_mem(&mb, false);
	const struct csm_recovery *rec = csm_open_recovery(e);
	CHECK(rec->ran && rec->boot_differs && rec->restarted, "restart not seen");
	CHECK(rec->blocks_unverified == 1 && ev_n >= 1 && ev_blocks[0] == in_dirty,
	      "restart, clean group: %" PRIu64 " re-sealed (want only block %" PRIu64 ")",
	      rec->blocks_unverified, in_dirty);
	data[in_dirty * c->bs + 1] ^= 1u << 1;
	expect_content(e, data, len, c->bs, in_clean, "restart, clean group");
	CHECK(csm_close(e) == 0);
	free(data);
	mem_backend_free(&mb);
}

/* 3: recover a clean file with a damaged brother and a rotten block. */
static void recover_clean(const struct cfg *c, unsigned damaged_slot)
{
	struct mem_backend mb;
	format_mem(&mb, c, 0);
	struct csm_engine *e = open_mem(&mb, false);
	struct csm_geometry geo = *csm_geometry(e);
	uint64_t len = (uint64_t)c->bs * 8;
	uint8_t *data = malloc(len);
	CHECK(data);
	struct rng r = {c->bs + damaged_slot};
	rng_fill(&r, data, len);
	CHECK(csm_pwrite(e, data, len, 0) == (ssize_t)len);
	CHECK(csm_close(e) == 0);
	uint64_t bad = 3;
	flip_data(&mb, &geo, bad, 5);
	struct mem_store *ms = mem_store_of(&mb, CSM_META);
	ms->buf[csm_geo_meta_offset(&geo, 0, damaged_slot) + 100] ^= 0x10;

	ev_reset();
	e = open_mem(&mb, true); /* even with after_power_loss: the file is clean */
	CHECK(!csm_open_recovery(e)->ran);
	struct csm_recovery rec;
	CHECK(csm_recover(e, &rec) == 0);
	CHECK(rec.blocks_unverified == 0 && rec.blocks_bad == 1 && ev_unverified == 0 &&
	              ev_mismatch == 1 && ev_blocks[0] == bad,
	      "clean file, brother %u damaged: %" PRIu64 " re-sealed, %" PRIu64 " bad",
	      damaged_slot, rec.blocks_unverified, rec.blocks_bad);
	expect_content(e, data, len, c->bs, bad, "after recover of a clean file");
	scrub_expect(e, 1, "after recover of a clean file");
	CHECK(csm_close(e) == 0);
	/* Both brothers valid again, and equal. */
	uint8_t a[4096], b[4096];
	uint64_t ga, gb;
	memcpy(a, ms->buf + csm_geo_meta_offset(&geo, 0, 0), c->bs);
	memcpy(b, ms->buf + csm_geo_meta_offset(&geo, 0, 1), c->bs);
	uint8_t uuid[CSM_UUID_SIZE];
	memcpy(uuid, ms->buf + CSM_SB_OFF_UUID, CSM_UUID_SIZE);
	CHECK(csm_mb_check(&geo, uuid, a, 0, &ga) == CSM_MB_VALID);
	CHECK(csm_mb_check(&geo, uuid, b, 0, &gb) == CSM_MB_VALID);
	for (uint32_t i = 0; i < geo.per_group; i++)
		CHECK(csm_mb_same(&geo, a, b, i), "brothers differ at %u after recover", i);
	free(data);
	mem_backend_free(&mb);
}

/* 4: a write past the end meets a full file system: the store ends at
 * step k of 12 between where the write starts and where it would end. */
static void enospc(const struct cfg *c, unsigned k)
{
	struct mem_backend mb;
	format_mem(&mb, c, 0);
	struct csm_engine *e = open_mem(&mb, false);
	const struct csm_geometry *geo = csm_geometry(e);
	uint64_t before = 3 * (uint64_t)c->bs + 100;
	uint8_t *buf = malloc(1 << 20), *got = malloc(1 << 20);
	CHECK(buf && got);
	memset(buf, 0x5a, before);
	CHECK(csm_pwrite(e, buf, before, 0) == (ssize_t)before);
	struct rng r = {(uint64_t)k + c->bs};
	size_t len = 300 * 1024 + 7;
	rng_fill(&r, buf, len);
	uint64_t lo = csm_geo_data_offset(geo, before / c->bs);
	uint64_t hi = csm_geo_data_store_size(geo, before + len);
	mb.space = lo + (hi - lo) * k / 12;
	errno = 0;
	ssize_t n = csm_pwrite(e, buf, len, before);
	int err = errno;
	mb.space = 0;
	CHECK(n == -1 ? err == ENOSPC : n >= 0 && (size_t)n < len, "write: %zd %s", n,
	      strerror(err));
	uint64_t want = before + (n > 0 ? (uint64_t)n : 0);
	CHECK(csm_size(e) == want,
	      "after ENOSPC (store full at step %u/12): size %" PRIu64 ", want %" PRIu64, k,
	      csm_size(e), want);
	/* Whatever the write reported is there; the rest does not exist. */
	CHECK(csm_pread(e, got, want + 1, 0) == (ssize_t)want);
	for (uint64_t i = 0; i < before; i++)
		CHECK(got[i] == 0x5a);
	CHECK(memcmp(got + before, buf, want - before) == 0);
	CHECK(csm_close(e) == 0);
	e = open_mem(&mb, false);
	CHECK(csm_size(e) == want, "stored size %" PRIu64 ", want %" PRIu64, csm_size(e), want);
	scrub_expect(e, 0, "after ENOSPC");
	CHECK(csm_close(e) == 0);
	free(buf);
	free(got);
	mem_backend_free(&mb);
}

/* 5: a synchronous write survives a power cut that keeps nothing else. */
static void sync_write(const struct cfg *c, unsigned flags, bool append)
{
	struct mem_backend mb;
	format_mem(&mb, c, 0);
	mem_crashsim_start(&mb);
	struct csm_engine *e = open_mem(&mb, false);
	uint64_t first = 5 * (uint64_t)c->bs;
	uint8_t *buf = malloc(first + 70000), *got = malloc(first + 70000);
	CHECK(buf && got);
	struct rng r = {flags * 7 + append};
	rng_fill(&r, buf, first + 70000);
	CHECK(csm_pwrite(e, buf, first, 0) == (ssize_t)first);
	CHECK(csm_fsync(e, false) == 0);
	/* an overwrite within the size, then one that grows the file */
	size_t two = 2 * (size_t)c->bs;
	rng_fill(&r, buf + c->bs, two);
	CHECK(csm_pwrite_flags(e, buf + c->bs, two, c->bs, flags) == (ssize_t)two);
	uint64_t at = 0;
	if (append)
		CHECK(csm_append_flags(e, buf + first, 70000, &at, flags) == 70000 && at == first);
	else
		CHECK(csm_pwrite_flags(e, buf + first, 70000, first, flags) == 70000);
	mb.failed = true; /* power cut now */
	csm_close(e);
	mb.failed = false;
	uint64_t seed = 1;
	mem_crash(&mb, &seed, 0, false); /* nothing unsynced survives */
	ev_reset();
	e = open_mem(&mb, false);
	CHECK(ev_unverified == 0 && ev_mismatch == 0 && csm_open_recovery(e)->blocks_bad == 0);
	uint64_t want = first + 70000;
	if (flags & CSM_WR_SYNC)
		CHECK(csm_size(e) == want, "O_SYNC: size %" PRIu64 " after a power cut",
		      csm_size(e));
	uint64_t size = csm_size(e);
	CHECK(size == first || size == want, "size %" PRIu64, size);
	CHECK(csm_pread(e, got, size, 0) == (ssize_t)size);
	CHECK(memcmp(got, buf, size) == 0, "%s write lost by a power cut",
	      flags & CSM_WR_SYNC ? "O_SYNC" : "O_DSYNC");
	scrub_expect(e, 0, "after a power cut");
	CHECK(csm_close(e) == 0);
	free(buf);
	free(got);
	mem_backend_free(&mb);
}

/* 6: a superblock of one layout in the stores of the other. */
static void layout_mismatch(unsigned layout)
{
	struct cfg c = {4096, CSM_ALGO_CRC32C, layout};
	struct mem_backend mb;
	format_mem(&mb, &c, 1 << 20);
	struct mem_backend other;
	mem_backend_init(&other, layout != CSM_LAYOUT_INTERLEAVED);
	struct mem_store *from = mem_store_of(&mb, CSM_META);
	struct csm_backend be = mem_backend_view(&other);
	struct iovec v = {from->buf, from->size};
	CHECK(be.ops->pwritev(be.ctx, CSM_META, &v, 1, 0) == (ssize_t)from->size);
	struct csm_engine *e = NULL;
	errno = 0;
	int rc = try_open(&other, false, &e);
	CHECK(rc < 0 && e == NULL,
	      "a %s superblock was taken for a file of the other layout (rc %d)",
	      csm_layout_name(layout), rc);
	CHECK(rc == -EUCLEAN, "rc %d", rc);
	mem_backend_free(&other);
	mem_backend_free(&mb);
}

/* 7: scrub on one engine while another writes (two descriptors: their
 * locks conflict as two processes' do). */
struct scribbler {
	struct csm_engine *e;
	uint64_t size;
	_Atomic bool stop;
	uint64_t writes;
};

static void *scribble(void *arg)
{
	struct scribbler *w = arg;
	struct rng r = {99};
	uint8_t buf[8192];
	while (!atomic_load(&w->stop)) {
		uint64_t off = rng_below(&r, w->size / 4096) * 4096;
		rng_fill(&r, buf, sizeof(buf));
		size_t len = off + sizeof(buf) <= w->size ? sizeof(buf) : 4096;
		CHECK(csm_pwrite(w->e, buf, len, off) == (ssize_t)len);
		w->writes++;
	}
	return NULL;
}

static struct csm_engine *open_posix(const char *path, const char *meta, bool ro)
{
	int dfd = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	int mfd = meta ? open(meta, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC) : dfd;
	CHECK(dfd >= 0 && mfd >= 0);
	struct csm_backend be;
	CHECK(csm_backend_posix(&be, dfd, mfd, true, NULL) == 0);
	struct csm_engine_opts o = {.report = on_event, .readonly = ro, .no_recover = ro};
	struct csm_engine *e;
	char err[200];
	CHECK(csm_open(&be, &o, &e, err, sizeof(err)) == 0, "%s", err);
	return e;
}

static void scrub_while_writing(unsigned layout, unsigned scrubs)
{
	char path[] = "/tmp/csumshim-trust-XXXXXX", meta[64];
	int dfd = mkstemp(path);
	CHECK(dfd >= 0);
	int mfd = dfd;
	snprintf(meta, sizeof(meta), "%s.csum", path);
	if (layout == CSM_LAYOUT_SEPARATE) {
		mfd = open(meta, O_RDWR | O_CREAT | O_TRUNC, 0600);
		CHECK(mfd >= 0);
	}
	struct csm_backend be;
	CHECK(csm_backend_posix(&be, dfd, mfd, true, NULL) == 0);
	struct scribbler w = {.size = 4 << 20};
	struct csm_format_opts fo = {.block_size = 512, .layout = layout, .size = w.size};
	char err[200];
	CHECK(csm_format(&be, &fo, err, sizeof(err)) == 0, "%s", err);
	csm_backend_destroy(&be);
	const char *mp = layout == CSM_LAYOUT_SEPARATE ? meta : NULL;
	w.e = open_posix(path, mp, false);
	pthread_t th;
	CHECK(pthread_create(&th, NULL, scribble, &w) == 0);
	ev_reset();
	uint64_t bad = 0;
	for (unsigned i = 0; i < scrubs; i++) {
		struct csm_engine *c = open_posix(path, mp, true);
		struct csm_scrub_result sr;
		CHECK(csm_scrub(c, NULL, NULL, &sr) == 0);
		bad += sr.bad_blocks + sr.bad_meta;
		CHECK(csm_close(c) == 0);
	}
	atomic_store(&w.stop, true);
	pthread_join(th, NULL);
	CHECK(bad == 0 && ev_mismatch == 0 && ev_other == 0,
	      "%s: %" PRIu64 " false reports from %u scrubs during %" PRIu64 " writes",
	      csm_layout_name(layout), bad, scrubs, w.writes);
	CHECK(csm_close(w.e) == 0);
	unlink(path);
	if (mp)
		unlink(meta);
	printf("  %s: %u scrubs during %" PRIu64 " writes by another engine: no false report\n",
	       csm_layout_name(layout), scrubs, w.writes);
}

/* CSM_CASE=rot|clean|enospc|sync|scrub|layout runs one kind of case. */
static bool want(const char *kind)
{
	const char *only = getenv("CSM_CASE");
	return !only || strcmp(only, kind) == 0;
}

int main(void)
{
	unsigned n = 0;
	for (size_t i = 0; i < sizeof(cfgs) / sizeof(cfgs[0]); i++) {
		const struct cfg *c = &cfgs[i];
		for (int how = 0; how < 4 && want("rot"); how++, n++)
			rot_after_unclean(c, how);
		if (want("rot"))
			restart_clean_group(c), n++;
		for (unsigned s = 0; s < 2 && want("clean"); s++, n++)
			recover_clean(c, s);
		for (unsigned k = 0; k < 12 && want("enospc"); k++, n++)
			enospc(c, k);
		for (unsigned f = CSM_WR_DSYNC; f <= CSM_WR_SYNC && want("sync"); f++)
			for (int a = 0; a < 2; a++, n++)
				sync_write(c, f, a);
		printf("  bs %u %s %s: rot after exit, power cut, clean recover, ENOSPC, "
		       "O_DSYNC/O_SYNC\n",
		       c->bs, csm_algo_name(c->algo), csm_layout_name(c->layout));
	}
	if (want("scrub")) {
		scrub_while_writing(CSM_LAYOUT_INTERLEAVED, 100);
		scrub_while_writing(CSM_LAYOUT_SEPARATE, 100);
		n += 200;
	}
	if (want("layout")) {
		layout_mismatch(CSM_LAYOUT_INTERLEAVED);
		layout_mismatch(CSM_LAYOUT_SEPARATE);
		n += 2;
	}
	printf("%u cases, 1 passed, 0 failed\n", n);
	return 0;
}
