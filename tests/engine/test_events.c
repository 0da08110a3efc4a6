/*
 * The guarantee after every kind of event, as one model (issue 14, part 3).
 *
 * Each case formats a small file and runs three rounds of: random writes
 * and fsyncs, then one event —
 *   exit     the process closes the file (what the shim does at exit);
 *   crash    the process dies (kill -9): nothing more reaches storage, every
 *            completed write stays;
 *   power    the power goes: a random subset of the writes since the last
 *            completed sync survives, the boot id changes, and the file is
 *            recovered as `csumshim recover --after-power-loss` does;
 * — optionally a bit flips at rest in a written data block, and the file is
 * reopened (recovering it).  Then every block is read:
 *   - after exit or crash it holds exactly the bytes last written, except
 *     the rotten block, which fails with EIO (never re-sealed);
 *   - after a power cut it holds a content written since the last completed
 *     fsync (or synced before); the rotten block fails with EIO, or holds
 *     its rotten bytes only if recovery listed it as unverified.
 * Never other bytes.  CSM_CASES (default 10,000) cases, seed printed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "csumshim/engine.h"
#include "membackend.h"
#include "testlib.h"

enum { BS = 512, NBLK = 256 }; /* 128 KiB, two groups and a bit (crc32c) */
enum event { EV_EXIT, EV_CRASH, EV_POWER, EV_COUNT };
static const char *const ev_name[EV_COUNT] = {"exit", "crash", "power cut"};

/* Per block: every content it may hold after a power cut. */
struct blk {
	uint8_t now[BS];    /* last written */
	uint8_t synced[BS]; /* at the last completed fsync */
	uint8_t (*since)[BS];
	size_t nsince, cap;
	bool bad; /* rotten: reads must fail until rewritten */
};

static struct blk model[NBLK];
static bool touched[NBLK]; /* groups written since the file was last opened */
static uint32_t per_group;
static uint64_t size_now, size_synced;
static uint64_t unverified[NBLK];
static size_t n_unverified;

static void on_event(void *arg, const struct csm_event *ev)
{
	(void)arg;
	if (ev->kind == CSM_EV_UNVERIFIED && n_unverified < NBLK)
		unverified[n_unverified++] = ev->lblock;
}

static bool listed(uint64_t b)
{
	for (size_t i = 0; i < n_unverified; i++)
		if (unverified[i] == b)
			return true;
	return false;
}

static struct csm_engine *open_engine(struct mem_backend *mb, bool power_loss)
{
	struct csm_backend be = mem_backend_view(mb);
	struct csm_engine_opts o = {
	        .report = on_event, .after_power_loss = power_loss, .clean_eagerly = true};
	struct csm_engine *e;
	char err[200];
	CHECK(csm_open(&be, &o, &e, err, sizeof(err)) == 0, "open: %s", err);
	return e;
}

static void synced_now(void)
{
	for (int b = 0; b < NBLK; b++) {
		memcpy(model[b].synced, model[b].now, BS);
		model[b].nsince = 0;
	}
	size_synced = size_now;
}

static void note_write(uint64_t b, const uint8_t *d)
{
	struct blk *m = &model[b];
	memcpy(m->now, d, BS);
	m->bad = false;
	if (m->nsince == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 4;
		m->since = realloc(m->since, m->cap * sizeof(*m->since));
		CHECK(m->since);
	}
	memcpy(m->since[m->nsince++], d, BS);
	touched[b / per_group] = true;
}

static void session(struct csm_engine *e, struct rng *r)
{
	uint8_t buf[8 * BS];
	int ops = 1 + (int)rng_below(r, 12);
	for (int i = 0; i < ops; i++) {
		if (rng_below(r, 5) == 0) {
			CHECK(csm_fsync(e, true) == 0);
			synced_now();
			continue;
		}
		uint64_t b = rng_below(r, NBLK);
		uint64_t n = 1 + rng_below(r, 8);
		if (b + n > NBLK)
			n = NBLK - b;
		rng_fill(r, buf, n * BS);
		CHECK(csm_pwrite(e, buf, n * BS, b * BS) == (ssize_t)(n * BS), "write: %s",
		      strerror(errno));
		for (uint64_t k = 0; k < n; k++)
			note_write(b + k, buf + k * BS);
		if ((b + n) * BS > size_now)
			size_now = (b + n) * BS;
	}
}

static bool is_one_of(const struct blk *m, const uint8_t *got)
{
	if (memcmp(got, m->synced, BS) == 0)
		return true;
	for (size_t i = 0; i < m->nsince; i++)
		if (memcmp(got, m->since[i], BS) == 0)
			return true;
	return false;
}

/* Read every block and check it; the model becomes what was read. */
static void verify(struct csm_engine *e, enum event ev, uint64_t rotten)
{
	uint64_t size = csm_size(e);
	if (ev == EV_POWER)
		CHECK(size >= size_synced && size <= size_now, "size %" PRIu64, size);
	else
		CHECK(size == size_now, "size %" PRIu64 " after %s, want %" PRIu64, size,
		      ev_name[ev], size_now);
	uint8_t got[BS];
	for (uint64_t b = 0; b < NBLK; b++) {
		struct blk *m = &model[b];
		errno = 0;
		if (b * BS >= size) { /* past the end: gone, whatever it was */
			memset(m->now, 0, BS);
			m->bad = false;
			continue;
		}
		ssize_t n = csm_pread(e, got, BS, b * BS);
		/* After a power cut, recovery may re-seal blocks of groups written
		 * since the file was opened, and lists each. */
		bool excused = ev == EV_POWER && listed(b) && touched[b / per_group];
		if (n < 0) {
			CHECK(errno == EIO, "block %" PRIu64 ": %s", b, strerror(errno));
			CHECK(b == rotten || m->bad, "block %" PRIu64 " fails after %s", b,
			      ev_name[ev]);
			m->bad = true;
			continue;
		}
		CHECK(n == BS);
		if (excused) {
			m->bad = false;
		} else if (m->bad || b == rotten) {
			CHECK(0, "rotten block %" PRIu64 " read back after %s (listed: %d, %s)", b,
			      ev_name[ev], listed(b), b == rotten ? "just now" : "earlier");
		} else if (ev == EV_POWER) {
			CHECK(is_one_of(m, got),
			      "block %" PRIu64 " holds bytes never written there", b);
		} else {
			CHECK(memcmp(got, m->now, BS) == 0,
			      "block %" PRIu64 " differs from what was last written (%s)", b,
			      ev_name[ev]);
		}
		memcpy(m->now, got, BS);
	}
	size_now = size;
	synced_now(); /* recovery synced; a clean close too */
	memset(touched, 0, sizeof(touched));
}

static void one_case(struct rng *r, bool separate, uint64_t counts[EV_COUNT])
{
	struct mem_backend mb;
	mem_backend_init(&mb, !separate);
	struct csm_backend be = mem_backend_view(&mb);
	struct csm_format_opts fo = {.block_size = BS,
	                             .layout = separate ? CSM_LAYOUT_SEPARATE
	                                                : CSM_LAYOUT_INTERLEAVED};
	char err[200];
	CHECK(csm_format(&be, &fo, err, sizeof(err)) == 0, "%s", err);
	mem_crashsim_start(&mb);
	memset(touched, 0, sizeof(touched));
	for (int b = 0; b < NBLK; b++) {
		memset(model[b].now, 0, BS);
		model[b].bad = false;
	}
	size_now = 0;
	synced_now();
	struct csm_engine *e = open_engine(&mb, false);
	struct csm_geometry geo = *csm_geometry(e);
	per_group = geo.per_group;
	for (int round = 0; round < 3; round++) {
		session(e, r);
		enum event ev = (enum event)rng_below(r, EV_COUNT);
		counts[ev]++;
		if (ev == EV_EXIT) {
			CHECK(csm_close(e) == 0);
			synced_now();
		} else {
			mb.failed = true;
			csm_close(e);
			mb.failed = false;
			if (ev == EV_POWER) {
				uint64_t seed = rng_next(r);
				mem_crash(&mb, &seed, (unsigned)rng_below(r, 1001), false);
			}
		}
		/* Rot at rest (on the medium, after writeback) in a block that
		 * holds written data. */
		struct csm_backend v = mem_backend_view(&mb);
		CHECK(v.ops->sync(v.ctx, CSM_DATA, true) == 0 &&
		      v.ops->sync(v.ctx, CSM_META, true) == 0);
		uint64_t rotten = UINT64_MAX;
		uint64_t b = rng_below(r, NBLK);
		if (rng_below(r, 2) && (b + 1) * BS <= size_now && !model[b].bad &&
		    !csm_is_zero(model[b].now, BS)) {
			struct mem_store *s = mem_store_of(&mb, CSM_DATA);
			uint64_t at = csm_geo_data_offset(&geo, b);
			if (at + BS <= s->size && !csm_is_zero(s->buf + at, BS)) {
				uint64_t byte = at + rng_below(r, BS);
				uint8_t bit = (uint8_t)(1u << rng_below(r, 8));
				s->buf[byte] ^= bit;
				/* at rest: in the durable image too */
				struct mem_store *d = &mb.durable[separate ? CSM_DATA : 0];
				if (byte < d->size)
					d->buf[byte] ^= bit;
				rotten = b;
			}
		}
		n_unverified = 0;
		e = open_engine(&mb, ev == EV_POWER);
		/* The first event kept for csm_stats holds no detail: a
		 * recovery's detail lived on its stack. */
		struct csm_stats st;
		csm_stats(e, &st);
		CHECK(st.first.detail == NULL, "first event (%s) keeps a detail pointer",
		      csm_event_name(st.first.kind));
		verify(e, ev, rotten);
	}
	CHECK(csm_close(e) == 0);
	mem_backend_free(&mb);
}

int main(void)
{
	struct rng r = {test_seed("test_events", 1414)};
	uint64_t cases = env_u64("CSM_CASES", 10000);
	uint64_t counts[EV_COUNT] = {0};
	for (uint64_t i = 0; i < cases; i++) {
		struct rng cr = {rng_next(&r)};
		snprintf(csm_test_context, sizeof(csm_test_context), "case %llu: CSM_SEED=%llu",
		         (unsigned long long)i, (unsigned long long)r.s);
		one_case(&cr, i % 2, counts);
	}
	for (int b = 0; b < NBLK; b++)
		free(model[b].since);
	printf("%" PRIu64 " cases: %" PRIu64 " exits, %" PRIu64 " crashes, %" PRIu64
	       " power cuts; every read the last bytes written or EIO\n",
	       cases, counts[EV_EXIT], counts[EV_CRASH], counts[EV_POWER]);
	printf("1 passed, 0 failed\n");
	return 0;
}
