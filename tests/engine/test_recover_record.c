/*
 * Recovery records the written groups it leaves with brothers (docs/
 * FORMAT.md "The written-group record"): only once those brothers are
 * durable, so that a power cut can never leave a bit over brothers that
 * are a hole (a false loss: EIO where the data was fine, or zeros).
 *
 * An aligned file with the record on the simulated storage of
 * membackend: process A writes groups 0-1 and syncs them (recorded),
 * writes groups 2-3 and dies before any sync (nothing recorded, its
 * writes in the page cache).  Process R opens it alone and recovers; the
 * power fails at R's k-th storage write (torn), or right after its
 * recovery, keeping a random part of what was not synced (and, in a
 * second round, group 2's brothers are punched before R comes, its data
 * left, so R writes that group's first brothers).  At the next
 * open (recovery after a power loss):
 *   - no group is lost (scrub lost_groups 0, no CSM_EV_LOST event);
 *   - groups 0-1 read exactly as written;
 *   - every block of groups 2-3 reads as written, as zeros (each
 *     512-byte sector one or the other: the writes are torn), or fails
 *     with EIO: never other bytes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "csumshim/engine.h"
#include "membackend.h"
#include "testlib.h"

static uint64_t n_lost;

static void on_event(void *arg, const struct csm_event *ev)
{
	(void)arg;
	if (ev->kind == CSM_EV_LOST)
		n_lost++;
}

static int try_open(struct mem_backend *mb, struct csm_engine **e)
{
	struct csm_backend be = mem_backend_view(mb);
	struct csm_engine_opts o = {.report = on_event, .solo_retry_ms = 1};
	char err[200];
	return csm_open(&be, &o, e, err, sizeof(err));
}

static bool one(long k, unsigned keep, uint64_t seed, bool punch)
{
	struct mem_backend mb;
	mem_backend_init(&mb, true);
	struct csm_backend be = mem_backend_view(&mb);
	struct csm_format_opts fo = {.block_size = 512}; /* small groups: quick */
	char err[200];
	CHECK(csm_format(&be, &fo, err, sizeof(err)) == 0, "%s", err);
	mem_crashsim_start(&mb);
	struct csm_engine *e;
	CHECK(try_open(&mb, &e) == 0);
	const struct csm_geometry *geo = csm_geometry(e);
	CHECK(geo->aligned && geo->wgrec);
	uint64_t gb = (uint64_t)geo->per_group * geo->block_size;
	uint32_t bs = geo->block_size;
	size_t len = (size_t)(4 * gb);
	uint8_t *data = malloc(len);
	CHECK(data);
	struct rng r = {seed};
	rng_fill(&r, data, len);
	for (size_t i = 0; i < len; i += 512)
		data[i] |= 1;
	CHECK(csm_pwrite(e, data, (size_t)(2 * gb), 0) == (ssize_t)(2 * gb));
	CHECK(csm_fsync(e, false) == 0);
	CHECK(csm_pwrite(e, data + 2 * gb, (size_t)(2 * gb), 2 * gb) == (ssize_t)(2 * gb));
	uint64_t m2 = csm_geo_meta_offset(geo, 2, 0);
	mb.failed = true; /* A dies: nothing more of it lands */
	(void)csm_close(e);
	mb.failed = false;
	if (punch) {
		/* Group 2's brothers punched, its data left (and all of it
		 * durable): R re-seals it from scratch, its first brothers. */
		CHECK(be.ops->zero_range(be.ctx, CSM_META, m2, 2 * (uint64_t)bs) == 0);
		CHECK(be.ops->sync(be.ctx, CSM_META, false) == 0);
	}

	/* R recovers; the power fails at its k-th write, or after it. */
	mb.writes_left = k;
	bool done = try_open(&mb, &e) == 0;
	bool fired = mb.failed;
	mb.failed = true;
	if (done)
		(void)csm_close(e);
	mb.failed = false;
	mb.writes_left = -1;
	uint64_t s = seed;
	mem_crash(&mb, &s, keep, true);

	char what[160];
	snprintf(what, sizeof(what), "%spower cut at R's write %ld (keep %u, seed %llu)",
	         punch ? "group 2 punched, " : "", k, keep, (unsigned long long)seed);
	n_lost = 0;
	CHECK(try_open(&mb, &e) == 0, "%s: reopen", what);
	uint8_t *b = malloc(bs);
	CHECK(b);
	for (uint64_t off = 0; off < len; off += bs) {
		errno = 0;
		ssize_t got = csm_pread(e, b, bs, off);
		if (off < 2 * gb) {
			CHECK(got == (ssize_t)bs && memcmp(b, data + off, bs) == 0,
			      "%s: synced block at %llu: %zd (%s)", what, (unsigned long long)off,
			      got, strerror(errno));
		} else if (got >= 0) {
			CHECK(got == 0 || got == (ssize_t)bs, "%s: short read", what);
			for (uint32_t s0 = 0; got && s0 < bs; s0 += 512) /* torn: by sector */
				CHECK(memcmp(b + s0, data + off + s0, 512) == 0 ||
				              csm_is_zero(b + s0, 512),
				      "%s: block at %llu reads other bytes", what,
				      (unsigned long long)off);
		} else {
			CHECK(errno == EIO, "%s: %s", what, strerror(errno));
		}
	}
	struct csm_scrub_result sr;
	CHECK(csm_scrub(e, NULL, NULL, &sr) == 0);
	CHECK(sr.lost_groups == 0 && n_lost == 0,
	      "%s: %llu groups lost (%llu events): a bit over brothers that did not survive", what,
	      (unsigned long long)sr.lost_groups, (unsigned long long)n_lost);
	CHECK(csm_close(e) == 0);
	free(b);
	free(data);
	mem_backend_free(&mb);
	return fired;
}

int main(void)
{
	unsigned runs = 0;
	for (int punch = 0; punch < 2; punch++)
		for (unsigned keep = 0; keep <= 1000; keep += 500)
			for (uint64_t seed = 1; seed <= 10; seed++)
				for (long k = 0;; k++) {
					runs++;
					if (!one(k, keep, seed * 1000 + (uint64_t)k, punch))
						break; /* R finished before its k-th write */
				}
	printf("test_recover_record: %u power cuts during or after recovery, no false loss\n",
	       runs);
	return 0;
}
