/*
 * csumshim's dm-csum I/O (src/engine/dmcsum_io.c) against the oracle
 * (tests/support/dmcsum_oracle.c: the seed's functions re-implemented):
 *
 *  1. format: byte for byte what mk-dm-csum same writes, for files of every
 *     size over five groups and for devices of every size where the seed's
 *     tool succeeds (prefilled with junk: csumshim wipes it); "diff" where
 *     the seed's target looks for its pairs;
 *  2. random operations (unaligned writes across groups, reads, reopens,
 *     checks) in both arrangements: the stores equal the oracle's, in its
 *     fixed mode, after every operation, and every read equals a model;
 *  3. interop: the oracle in the seed's own mode (stale tuples) and
 *     csumshim writing the same device in turn — each reads and verifies
 *     what the other wrote;
 *  4. a flipped data bit fails exactly when the seed's rule says so (always
 *     when the brothers agree on the sector); a flipped imd bit is named,
 *     reads use the other brother, and the next write replaces it;
 *  5. last_updated wraps past 255 with the seed's rule, 600 writes;
 *  6. an update whose data never landed is settled, not carried forward;
 *     a partial write over a bad sector fails and changes nothing;
 *     unordered or broken brothers refuse writes; sizes and errnos;
 *  7. four threads on shared groups.
 * CSM_OPS scales part 2 (default 30000), CSM_SEED replays.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "csumshim/dmcsum_io.h"
#include "dmcsum_oracle.h"
#include "membackend.h"
#include "testlib.h"

#define SEC ((ssize_t)512) /* signed: compared with ssize_t results */

static const unsigned SAME = CSM_LAYOUT_INTERLEAVED, DIFF = CSM_LAYOUT_SEPARATE;

static uint64_t events;
static struct csm_dmc_event last_ev;

/* Events are counted; tests that expect none say which came first. */
static void on_event(void *arg, const struct csm_dmc_event *ev)
{
	(void)arg;
	if (!events)
		last_ev = *ev;
	events++;
}

#define CHECK_NO_EVENTS()                                                   \
	CHECK(events == 0, "%llu events, first %s group %llu sector %llu",  \
	      (unsigned long long)events, csm_dmc_event_name(last_ev.kind), \
	      (unsigned long long)last_ev.group, (unsigned long long)last_ev.sector)

static struct csm_dmc *dmc_open(struct mem_backend *m, unsigned layout)
{
	struct csm_backend be = mem_backend_view(m);
	struct csm_dmc_opts o = {.layout = layout, .report = on_event};
	struct csm_dmc *d;
	char err[200];
	int rc = csm_dmc_open(&be, &o, &d, err, sizeof(err));
	CHECK(rc == 0, "open: %s", err);
	return d;
}

static void dmc_format(struct mem_backend *m, unsigned layout, uint64_t sectors)
{
	struct csm_backend be = mem_backend_view(m);
	struct csm_dmc_format_opts fo = {.layout = layout, .size = sectors * SEC};
	char err[200];
	int rc = csm_dmc_format(&be, &fo, err, sizeof(err));
	CHECK(rc == 0, "format: %s", err);
}

static bool store_equals(struct mem_backend *m, enum csm_store st, const struct odev *o)
{
	const struct mem_store *s = mem_store_of(m, st);
	return s->size == o->size && memcmp(s->buf, o->buf, s->size) == 0;
}

static void store_to_odev(struct mem_backend *m, enum csm_store st, struct odev *o)
{
	const struct mem_store *s = mem_store_of(m, st);
	odev_free(o);
	odev_init(o, s->size, false);
	memcpy(o->buf, s->buf, s->size);
}

static void odev_to_store(const struct odev *o, struct mem_backend *m, enum csm_store st)
{
	struct csm_backend be = mem_backend_view(m);
	CHECK(be.ops->set_size(be.ctx, st, 0) == 0);
	struct iovec iov = {.iov_base = o->buf, .iov_len = o->size};
	CHECK(be.ops->pwritev(be.ctx, st, &iov, 1, 0) == (ssize_t)o->size);
}

/* ---- 1. format --------------------------------------------------------- */

static void test_format(struct rng *r)
{
	/* Files: csumshim's format of L sectors = mk-dm-csum same on a zeroed
	 * file just long enough for the seed's mapping of sector L-1. */
	for (uint64_t l = 1; l <= 62 * 5 + 2; l++) {
		struct mem_backend m;
		mem_backend_init(&m, true);
		dmc_format(&m, SAME, l);
		struct odev dev;
		odev_init(&dev, (oracle_map_data_sector_same(l - 1) + 1) * SEC, false);
		CHECK(oracle_mk_dm_csum_same(&dev) == 0);
		CHECK(store_equals(&m, CSM_DATA, &dev), "same, %llu sectors",
		      (unsigned long long)l);
		struct csm_dmc *d = dmc_open(&m, SAME);
		CHECK_EQ_U64(csm_dmc_size(d), l * SEC);
		csm_dmc_close(d);
		odev_free(&dev);
		mem_backend_free(&m);
	}
	/* Devices: the whole device, junk wiped; equal to mk-dm-csum on the
	 * zeroed device wherever the seed's tool succeeds. */
	for (uint64_t p = 1; p <= 64 * 5 + 3; p++) {
		struct mem_backend m;
		mem_backend_init(&m, true);
		struct csm_backend be = mem_backend_view(&m);
		uint8_t *junk = malloc(p * SEC);
		CHECK(junk != NULL);
		rng_fill(r, junk, p * SEC);
		struct iovec iov = {.iov_base = junk, .iov_len = p * SEC};
		CHECK(be.ops->pwritev(be.ctx, CSM_DATA, &iov, 1, 0) == (ssize_t)(p * SEC));
		free(junk);
		be.resizable = false;
		struct csm_dmc_format_opts fo = {.layout = SAME, .use_capacity = true};
		char err[200];
		int rc = csm_dmc_format(&be, &fo, err, sizeof(err));
		struct odev dev;
		odev_init(&dev, p * SEC, true);
		int orc = oracle_mk_dm_csum_same(&dev);
		if (p <= 3) {
			CHECK(rc == -ENOSPC && strstr(err, "device too small"), "p %llu: %s",
			      (unsigned long long)p, err);
		} else {
			CHECK(rc == 0, "device of %llu sectors: %s", (unsigned long long)p, err);
			if (orc == 0)
				CHECK(store_equals(&m, CSM_DATA, &dev), "device of %llu sectors",
				      (unsigned long long)p);
			struct csm_dmc *d = dmc_open(&m, SAME);
			uint64_t full = (p - 1) / 64, rest = (p - 1) % 64;
			CHECK_EQ_U64(csm_dmc_size(d),
			             (full * 62 + (rest > 2 ? rest - 2 : 0)) * SEC);
			csm_dmc_close(d);
		}
		/* --size larger than the device: refused, nothing changed. */
		fo = (struct csm_dmc_format_opts){.layout = SAME, .size = SEC * 64 * 6};
		CHECK(csm_dmc_format(&be, &fo, err, sizeof(err)) == -ENOSPC);
		odev_free(&dev);
		mem_backend_free(&m);
	}
	/* "diff": data from sector 1; pairs where get_imd_sector_diff()
	 * looks, fresh as mk-dm-csum would make them. */
	for (int i = 0; i < 40; i++) {
		uint64_t l = 1 + rng_below(r, (uint64_t)62 * 6);
		struct mem_backend m;
		mem_backend_init(&m, false);
		dmc_format(&m, DIFF, l);
		struct odev data, imd;
		odev_init(&data, (oracle_map_data_sector_diff(l - 1) + 1) * SEC, false);
		odev_init(&imd, (oracle_get_imd_sector_diff(l - 1) + 2) * SEC, false);
		for (uint64_t s = 0; s < l; s += 62) {
			uint64_t at = oracle_get_imd_sector_diff(s) * SEC;
			imd.buf[at] = 2;
			imd.buf[at + SEC] = 1;
		}
		CHECK(store_equals(&m, CSM_DATA, &data) && store_equals(&m, CSM_META, &imd),
		      "diff, %llu sectors", (unsigned long long)l);
		odev_free(&data);
		odev_free(&imd);
		mem_backend_free(&m);
	}
	/* Sizes that are not whole sectors, or nothing. */
	struct mem_backend m;
	mem_backend_init(&m, true);
	struct csm_backend be = mem_backend_view(&m);
	char err[200];
	struct csm_dmc_format_opts fo = {.layout = SAME, .size = 1000};
	CHECK(csm_dmc_format(&be, &fo, err, sizeof(err)) == -EINVAL && strstr(err, "512"));
	fo.size = 0;
	CHECK(csm_dmc_format(&be, &fo, err, sizeof(err)) == -EINVAL);
	CHECK_EQ_U64(mem_store_of(&m, CSM_DATA)->size, 0);
	mem_backend_free(&m);
}

/* ---- 2. random operations against the oracle --------------------------- */

struct fx {
	unsigned layout;
	uint64_t sectors;
	struct mem_backend m;
	struct csm_dmc *d;
	struct odev odata, oimd;
	struct oracle o;
	uint8_t *model;
};

static void fx_init(struct fx *f, unsigned layout, uint64_t sectors, bool fixed)
{
	memset(f, 0, sizeof(*f));
	events = 0;
	f->layout = layout;
	f->sectors = sectors;
	mem_backend_init(&f->m, layout == SAME);
	dmc_format(&f->m, layout, sectors);
	f->d = dmc_open(&f->m, layout);
	store_to_odev(&f->m, CSM_DATA, &f->odata);
	if (layout == DIFF)
		store_to_odev(&f->m, CSM_META, &f->oimd);
	f->o.same = layout == SAME;
	f->o.fixed = fixed;
	f->o.data = &f->odata;
	f->o.imd = layout == SAME ? &f->odata : &f->oimd;
	f->model = calloc(sectors, SEC);
	CHECK(f->model != NULL);
}

static void fx_free(struct fx *f)
{
	csm_dmc_close(f->d);
	mem_backend_free(&f->m);
	odev_free(&f->odata);
	odev_free(&f->oimd);
	free(f->model);
}

static bool fx_same_bytes(struct fx *f)
{
	return store_equals(&f->m, CSM_DATA, &f->odata) &&
	       (f->layout == SAME || store_equals(&f->m, CSM_META, &f->oimd));
}

/* The oracle writes the sectors covering [off, off+len) with the model's
 * (already updated) content. */
static void oracle_covering_write(struct fx *f, uint64_t off, size_t len)
{
	uint64_t s0 = off / SEC, s1 = (off + len - 1) / SEC;
	// NOLINTNEXTLINE(clang-analyzer-unix.Malloc): fx_free() frees what fx_init() allocated
	int rc = oracle_write(&f->o, s0, (unsigned)(s1 - s0 + 1), f->model + s0 * SEC);
	CHECK(rc == 0, "oracle write %llu+%llu: %d", (unsigned long long)s0,
	      (unsigned long long)(s1 - s0 + 1), rc);
}

static void oracle_check_range(struct fx *f, uint64_t s0, uint64_t n)
{
	CHECK(n > 0);
	// NOLINTNEXTLINE(clang-analyzer-optin.portability.UnixAPI): n > 0, checked above
	uint8_t *buf = malloc(n * SEC);
	uint64_t bad = 0;
	CHECK(buf != NULL);
	int rc = oracle_read(&f->o, s0, (unsigned)n, buf, &bad);
	CHECK(rc == 0, "oracle read fails at sector %llu", (unsigned long long)bad);
	CHECK(memcmp(buf, f->model + s0 * SEC, n * SEC) == 0, "oracle read differs");
	free(buf);
}

static void pick_range(struct rng *r, uint64_t size, uint64_t *off, size_t *len)
{
	uint64_t o, l;
	switch (rng_below(r, 6)) {
	case 0: /* one sector */
		o = rng_below(r, size / SEC) * SEC;
		l = SEC;
		break;
	case 1: /* a few bytes anywhere */
		o = rng_below(r, size);
		l = 1 + rng_below(r, 1500);
		break;
	case 2: /* aligned runs, often across groups */
		o = rng_below(r, size / SEC) * SEC;
		l = (1 + rng_below(r, 150)) * SEC;
		break;
	case 3: /* a whole group */
		o = rng_below(r, size / (62 * SEC) + 1) * 62 * SEC;
		l = 62 * SEC;
		break;
	case 4: /* unaligned, long */
		o = rng_below(r, size);
		l = 1 + rng_below(r, 80 * SEC);
		break;
	default: /* near the end */
		o = size - 1 - rng_below(r, size < 3 * SEC ? size : 3 * SEC);
		l = 1 + rng_below(r, 4 * SEC);
		break;
	}
	if (o >= size)
		o = size - 1;
	if (l > size - o)
		l = size - o;
	*off = o;
	*len = (size_t)l;
}

static void test_random(struct rng *r, unsigned layout, uint64_t ops)
{
	uint64_t sectors = 1 + rng_below(r, (uint64_t)62 * 9);
	struct fx f;
	fx_init(&f, layout, sectors, true);
	CHECK(fx_same_bytes(&f));
	uint64_t size = sectors * SEC;
	uint8_t *buf = malloc(size), *got = malloc(size);
	CHECK(buf && got);
	uint64_t writes = 0, reads = 0;
	for (uint64_t op = 0; op < ops; op++) {
		snprintf(csm_test_context, sizeof(csm_test_context),
		         "CSM_SEED as printed, layout %u, %llu sectors, op %llu", layout,
		         (unsigned long long)sectors, (unsigned long long)op);
		uint64_t off;
		size_t len;
		pick_range(r, size, &off, &len);
		unsigned kind = (unsigned)rng_below(r, 100);
		if (kind < 60) {
			unsigned fill = (unsigned)rng_below(r, 10);
			if (fill == 0)
				memset(buf, 0, len); /* CRC 0, like a fresh tuple */
			else if (fill == 1)
				memcpy(buf, f.model + off, len); /* the same bytes again */
			else
				rng_fill(r, buf, len);
			CHECK(csm_dmc_pwrite(f.d, buf, len, off) == (ssize_t)len, "write: %s",
			      strerror(errno));
			memcpy(f.model + off, buf, len);
			oracle_covering_write(&f, off, len);
			writes++;
		} else if (kind < 92) {
			memset(got, 0xee, len);
			CHECK(csm_dmc_pread(f.d, got, len, off) == (ssize_t)len, "read: %s",
			      strerror(errno));
			CHECK(memcmp(got, f.model + off, len) == 0, "read differs from the model");
			uint64_t s0 = off / SEC;
			oracle_check_range(&f, s0, (off + len - 1) / SEC - s0 + 1);
			reads++;
		} else if (kind < 96) {
			csm_dmc_close(f.d);
			f.d = dmc_open(&f.m, layout);
			CHECK_EQ_U64(csm_dmc_size(f.d), size);
		} else {
			struct csm_dmc_check_result res;
			CHECK(csm_dmc_check(f.d, NULL, NULL, &res) == 0);
			CHECK(res.sectors == sectors && res.bad_sectors == 0 &&
			      res.damaged_imd == 0 && res.undecidable_groups == 0 &&
			      res.broken_groups == 0);
			CHECK_EQ_U64(res.groups, (sectors + 61) / 62);
		}
		CHECK(fx_same_bytes(&f), "stores differ from the oracle's");
		CHECK_NO_EVENTS();
	}
	CHECK(csm_dmc_pread(f.d, got, size, 0) == (ssize_t)size);
	CHECK(memcmp(got, f.model, size) == 0);
	oracle_check_range(&f, 0, sectors);
	csm_test_context[0] = 0;
	printf("  %s, %llu sectors: %llu writes, %llu reads, identical bytes throughout\n",
	       layout == SAME ? "same" : "diff", (unsigned long long)sectors,
	       (unsigned long long)writes, (unsigned long long)reads);
	free(buf);
	free(got);
	fx_free(&f);
}

/* ---- 3. interop with the seed's own update ----------------------------- */

static void test_interop(struct rng *r, unsigned layout)
{
	uint64_t sectors = (uint64_t)62 * 3 + 1 + rng_below(r, (uint64_t)62 * 3);
	struct fx f;
	fx_init(&f, layout, sectors, false); /* the seed's mode: stale tuples */
	uint64_t size = sectors * SEC;
	uint8_t *buf = malloc(size), *got = malloc(size);
	CHECK(buf && got);
	unsigned by_seed = 0, by_csm = 0;
	for (int op = 0; op < 3000; op++) {
		uint64_t off;
		size_t len;
		pick_range(r, size, &off, &len);
		rng_fill(r, buf, len);
		memcpy(f.model + off, buf, len);
		if (rng_below(r, 2)) {
			/* The seed writes (whole sectors), then csumshim reads. */
			oracle_covering_write(&f, off, len);
			odev_to_store(&f.odata, &f.m, CSM_DATA);
			if (layout == DIFF)
				odev_to_store(&f.oimd, &f.m, CSM_META);
			by_seed++;
		} else {
			/* csumshim writes (any bytes), then the seed reads. */
			CHECK(csm_dmc_pwrite(f.d, buf, len, off) == (ssize_t)len);
			store_to_odev(&f.m, CSM_DATA, &f.odata);
			if (layout == DIFF)
				store_to_odev(&f.m, CSM_META, &f.oimd);
			by_csm++;
		}
		pick_range(r, size, &off, &len);
		CHECK(csm_dmc_pread(f.d, got, len, off) == (ssize_t)len, "csumshim read: %s",
		      strerror(errno));
		CHECK(memcmp(got, f.model + off, len) == 0);
		uint64_t s0 = off / SEC;
		oracle_check_range(&f, s0, (off + len - 1) / SEC - s0 + 1);
	}
	CHECK(csm_dmc_pread(f.d, got, size, 0) == (ssize_t)size);
	CHECK(memcmp(got, f.model, size) == 0);
	oracle_check_range(&f, 0, sectors);
	struct csm_dmc_check_result res;
	CHECK(csm_dmc_check(f.d, NULL, NULL, &res) == 0 && res.bad_sectors == 0 &&
	      res.damaged_imd == 0);
	CHECK_NO_EVENTS();
	printf("  interop %s: %u writes by the seed's rule, %u by csumshim, all verified both "
	       "ways\n",
	       layout == SAME ? "same" : "diff", by_seed, by_csm);
	free(buf);
	free(got);
	fx_free(&f);
}

/* ---- 4. flipped bits -------------------------------------------------- */

static uint8_t *pair_at(struct fx *f, uint64_t g)
{
	return mem_store_of(&f->m, CSM_META)->buf + csm_dmc_imd_sector(f->layout, g) * SEC;
}

static uint8_t *data_at(struct fx *f, uint64_t s)
{
	uint64_t p =
	        f->layout == SAME ? oracle_map_data_sector_same(s) : oracle_map_data_sector_diff(s);
	return mem_store_of(&f->m, CSM_DATA)->buf + p * SEC;
}

static void test_flips(struct rng *r, unsigned layout)
{
	uint64_t sectors = (uint64_t)62 * 4;
	struct fx f;
	fx_init(&f, layout, sectors, true);
	uint64_t size = sectors * SEC;
	uint8_t *buf = malloc(size);
	CHECK(buf != NULL);
	rng_fill(r, buf, size);
	CHECK(csm_dmc_pwrite(f.d, buf, size, 0) == (ssize_t)size);
	memcpy(f.model, buf, size);
	for (int i = 0; i < 300; i++) { /* leave recent updates behind */
		uint64_t off;
		size_t len;
		pick_range(r, size, &off, &len);
		rng_fill(r, buf, len);
		CHECK(csm_dmc_pwrite(f.d, buf, len, off) == (ssize_t)len);
		memcpy(f.model + off, buf, len);
	}
	unsigned detected = 0, certain = 0;
	for (int t = 0; t < 400; t++) {
		uint64_t s = rng_below(r, sectors), bit = rng_below(r, SEC * 8);
		uint8_t *p = data_at(&f, s);
		p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		/* What the seed's rule says: the flipped sector's CRC in
		 * neither brother. */
		const uint8_t *pr = pair_at(&f, s / 62);
		uint16_t crc = oracle_crc_ccitt(0, p, SEC);
		uint16_t t1 = (uint16_t)(pr[8 + 8 * (s % 62)] | pr[9 + 8 * (s % 62)] << 8);
		uint16_t t2 =
		        (uint16_t)(pr[SEC + 8 + 8 * (s % 62)] | pr[SEC + 9 + 8 * (s % 62)] << 8);
		bool expect = crc != t1 && crc != t2;
		if (t1 == t2) { /* one CRC-16 catches every single-bit error */
			CHECK(expect);
			certain++;
		}
		uint8_t got[SEC];
		events = 0;
		ssize_t n = csm_dmc_pread(f.d, got, SEC, s * SEC);
		CHECK(expect ? (n == -1 && errno == EIO) : n == SEC, "sector %llu bit %llu",
		      (unsigned long long)s, (unsigned long long)bit);
		struct csm_dmc_check_result res;
		CHECK(csm_dmc_check(f.d, NULL, NULL, &res) == 0);
		CHECK_EQ_U64(res.bad_sectors, expect ? 1 : 0);
		if (expect) {
			CHECK(last_ev.kind == CSM_DMC_EV_MISMATCH && last_ev.sector == s);
			detected++;
		}
		p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	CHECK(detected >= certain && certain > 100, "%u detected, %u certain", detected, certain);

	/* A flip in an imd sector: named; reads fall back on the other
	 * brother exactly where it vouches; the next write replaces it. */
	for (int t = 0; t < 60; t++) {
		uint64_t g = rng_below(r, 4);
		int slot = (int)rng_below(r, 2);
		uint64_t bit = 64 + rng_below(r, (SEC - 8) * 8); /* bytes 8..511 */
		uint8_t *pr = pair_at(&f, g), *m = pr + slot * SEC, *other = pr + (1 - slot) * SEC;
		m[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		uint8_t other_lu = other[0];
		events = 0;
		struct csm_dmc_check_result res;
		CHECK(csm_dmc_check(f.d, NULL, NULL, &res) == 0);
		CHECK(res.damaged_imd == 1);
		uint64_t expect_bad = 0;
		for (uint64_t s = g * 62; s < g * 62 + 62; s++) {
			uint16_t crc = oracle_crc_ccitt(0, data_at(&f, s), SEC);
			bool ok = csm_dmc_tuple_crc(other, (unsigned)(s % 62)) == crc;
			uint8_t got[SEC];
			ssize_t n = csm_dmc_pread(f.d, got, SEC, s * SEC);
			CHECK(ok ? n == SEC : (n == -1 && errno == EIO));
			expect_bad += !ok;
		}
		CHECK_EQ_U64(res.bad_sectors, expect_bad);
		/* Rewrite the group's sectors that no longer verify, plus one:
		 * the damaged brother is replaced, one step after the other. */
		uint64_t s = g * 62 + rng_below(r, 62);
		CHECK(csm_dmc_pwrite(f.d, f.model + s * SEC, SEC, s * SEC) == SEC);
		CHECK(csm_dmc_imd_ok(m) && csm_dmc_imd_ok(other));
		CHECK_EQ_U64(m[0], (uint8_t)(other_lu + 1));
		CHECK_EQ_U64(csm_dmc_older(pr[0], pr[SEC]), 1 - slot);
		for (uint64_t k = g * 62; k < g * 62 + 62; k++) {
			if (csm_dmc_tuple_crc(m, (unsigned)(k % 62)) !=
			    oracle_crc_ccitt(0, data_at(&f, k), SEC))
				CHECK(csm_dmc_pwrite(f.d, f.model + k * SEC, SEC, k * SEC) == SEC);
		}
		CHECK(csm_dmc_check(f.d, NULL, NULL, &res) == 0 && res.bad_sectors == 0 &&
		      res.damaged_imd == 0);
	}
	printf("  flips %s: %u of 400 data flips failed verification (%u certain), 60 imd "
	       "flips named and repaired\n",
	       layout == SAME ? "same" : "diff", detected, certain);
	free(buf);
	fx_free(&f);
}

/* ---- 5. last_updated wraps -------------------------------------------- */

static void test_wrap(struct rng *r, unsigned layout)
{
	struct fx f;
	fx_init(&f, layout, (uint64_t)62 * 2, true);
	uint8_t *pr = pair_at(&f, 1);
	bool wrapped = false;
	for (unsigned k = 1; k <= 600; k++) {
		uint64_t s = 62 + rng_below(r, 62);
		uint8_t buf[SEC], got[SEC];
		rng_fill(r, buf, SEC);
		CHECK(csm_dmc_pwrite(f.d, buf, SEC, s * SEC) == SEC);
		memcpy(f.model + s * SEC, buf, SEC);
		oracle_covering_write(&f, s * SEC, SEC);
		CHECK(fx_same_bytes(&f), "write %u", k);
		/* Write k goes to M2 when odd, M1 when even, with k + 2. */
		unsigned slot = k % 2 ? 1 : 0;
		CHECK_EQ_U64(pr[slot * SEC], (k + 2) & 255);
		CHECK_EQ_U64(pr[(1 - slot) * SEC], (k + 1) & 255);
		CHECK(csm_dmc_older(pr[0], pr[SEC]) == (int)(1 - slot), "write %u", k);
		wrapped |= pr[slot * SEC] == 0;
		CHECK(csm_dmc_pread(f.d, got, SEC, s * SEC) == SEC && !memcmp(got, buf, SEC));
	}
	CHECK(wrapped);
	uint8_t *all = malloc(SEC * 62 * 2);
	CHECK(all != NULL);
	CHECK(csm_dmc_pread(f.d, all, SEC * 62 * 2, 0) == SEC * 62 * 2);
	CHECK(memcmp(all, f.model, SEC * 62 * 2) == 0);
	free(all);
	fx_free(&f);
}

/* ---- 6. settling, refusals, edges ------------------------------------- */

static void test_settle(struct rng *r, unsigned layout)
{
	struct fx f;
	fx_init(&f, layout, 62, true);
	uint8_t a_old[SEC], a_new[SEC], b[SEC], got[SEC];
	rng_fill(r, a_old, SEC);
	rng_fill(r, a_new, SEC);
	rng_fill(r, b, SEC);
	CHECK(csm_dmc_pwrite(f.d, a_old, SEC, 7 * SEC) == SEC);
	/* The next update of sector 7: its imd sector lands, its data not. */
	f.m.writes_left = 1;
	CHECK(csm_dmc_pwrite(f.d, a_new, SEC, 7 * SEC) == -1 && errno == EIO);
	CHECK(memcmp(data_at(&f, 7), a_old, SEC) == 0);
	f.m.writes_left = -1;
	f.m.failed = false;
	events = 0;
	CHECK(csm_dmc_pread(f.d, got, SEC, 7 * SEC) == SEC && !memcmp(got, a_old, SEC));
	/* An update of another sector must not carry the unlanded CRC over
	 * the brother that vouches for what is stored. */
	for (int i = 0; i < 5; i++) {
		CHECK(csm_dmc_pwrite(f.d, b, SEC, (20 + (unsigned)i) * SEC) == SEC);
		CHECK(csm_dmc_pread(f.d, got, SEC, 7 * SEC) == SEC && !memcmp(got, a_old, SEC),
		      "after update %d", i);
	}
	const uint8_t *pr = pair_at(&f, 0);
	uint16_t crc = oracle_crc_ccitt(0, a_old, SEC);
	CHECK(csm_dmc_tuple_crc(pr, 7) == crc && csm_dmc_tuple_crc(pr + SEC, 7) == crc);
	CHECK_NO_EVENTS();
	fx_free(&f);
}

static void test_refusals(struct rng *r, unsigned layout)
{
	struct fx f;
	fx_init(&f, layout, 62 * 2 + 10, true);
	uint64_t size = f.sectors * SEC;
	uint8_t buf[3 * SEC], got[3 * SEC];
	rng_fill(r, buf, sizeof(buf));
	CHECK(csm_dmc_pwrite(f.d, buf, sizeof(buf), 5 * SEC) == sizeof(buf));

	/* A partial write over a bad sector: EIO, nothing written. */
	uint8_t *p = data_at(&f, 6);
	p[100] ^= 4;
	struct mem_store *ds = mem_store_of(&f.m, CSM_DATA);
	uint8_t *before = malloc(ds->size);
	CHECK(before != NULL);
	memcpy(before, ds->buf, ds->size);
	uint64_t before_size = ds->size;
	events = 0;
	CHECK(csm_dmc_pwrite(f.d, "xyz", 3, 6 * SEC + 10) == -1 && errno == EIO);
	CHECK(last_ev.kind == CSM_DMC_EV_MISMATCH && last_ev.sector == 6);
	CHECK(ds->size == before_size && memcmp(before, ds->buf, ds->size) == 0);
	/* Reads: the verified prefix, then EIO; the rest zeroed. */
	memset(got, 0xee, sizeof(got));
	CHECK(csm_dmc_pread(f.d, got, sizeof(got), 5 * SEC) == SEC);
	CHECK(csm_dmc_pread(f.d, got, sizeof(got), 6 * SEC) == -1 && errno == EIO);
	memset(got, 0xee, sizeof(got));
	CHECK(csm_dmc_pread(f.d, got, sizeof(got), 5 * SEC + 3) == SEC - 3);
	CHECK(memcmp(got, buf + 3, SEC - 3) == 0 && csm_is_zero(got + SEC - 3, 2 * SEC + 3));
	/* A whole-sector write replaces a bad sector (as on a disk). */
	CHECK(csm_dmc_pwrite(f.d, buf + SEC, SEC, 6 * SEC) == SEC);
	CHECK(csm_dmc_pread(f.d, got, sizeof(got), 5 * SEC) == sizeof(got));
	CHECK(memcmp(got, buf, sizeof(got)) == 0);

	/* Brothers the wrap rule cannot order: writes refused, reads fine. */
	uint8_t *pr = pair_at(&f, 0);
	uint8_t lu0 = pr[0], lu1 = pr[SEC];
	pr[0] = 9;
	pr[SEC] = 9;
	events = 0;
	CHECK(csm_dmc_pwrite(f.d, buf, SEC, 0) == -1 && errno == EIO);
	CHECK(last_ev.kind == CSM_DMC_EV_UNDECIDABLE && last_ev.lu[0] == 9 && last_ev.lu[1] == 9);
	CHECK(csm_dmc_pread(f.d, got, sizeof(got), 5 * SEC) == sizeof(got));
	struct csm_dmc_check_result res;
	CHECK(csm_dmc_check(f.d, NULL, NULL, &res) == 0 && res.undecidable_groups == 1);
	pr[0] = 5; /* 5 and 9: too far apart, neither 0 */
	CHECK(csm_dmc_pwrite(f.d, buf, SEC, 0) == -1 && errno == EIO);
	pr[0] = lu0;
	pr[SEC] = lu1;
	/* Neither brother valid: reads fail too. */
	pr[2] ^= 1;
	pr[SEC + 2] ^= 1;
	events = 0;
	CHECK(csm_dmc_pread(f.d, got, SEC, 5 * SEC) == -1 && errno == EIO);
	CHECK(last_ev.kind == CSM_DMC_EV_GROUP_BROKEN && last_ev.group == 0);
	CHECK(csm_dmc_pwrite(f.d, buf, SEC, 0) == -1 && errno == EIO);
	CHECK(csm_dmc_check(f.d, NULL, NULL, &res) == 0 && res.broken_groups == 1 &&
	      res.damaged_imd == 2);
	pr[2] ^= 1;
	pr[SEC + 2] ^= 1;

	/* The end: short writes, ENOSPC past it, reads stop at it. */
	CHECK(csm_dmc_pwrite(f.d, buf, sizeof(buf), size - SEC) == SEC);
	CHECK(csm_dmc_pwrite(f.d, buf, 1, size) == -1 && errno == ENOSPC);
	CHECK(csm_dmc_pread(f.d, got, sizeof(got), size - 10) == 10);
	CHECK(csm_dmc_pread(f.d, got, 1, size) == 0);
	CHECK(csm_dmc_pwrite(f.d, buf, 0, 0) == 0);
	csm_dmc_close(f.d);
	struct csm_backend be = mem_backend_view(&f.m);
	struct csm_dmc_opts o = {.layout = layout, .readonly = true};
	char err[200];
	CHECK(csm_dmc_open(&be, &o, &f.d, err, sizeof(err)) == 0);
	CHECK(csm_dmc_pwrite(f.d, buf, 1, 0) == -1 && errno == EBADF);
	free(before);
	fx_free(&f);
}

static void test_open_errors(void)
{
	char err[200];
	struct csm_dmc *d;
	struct csm_dmc_opts o = {.layout = SAME};
	struct mem_backend m;
	mem_backend_init(&m, true);
	struct csm_backend be = mem_backend_view(&m);
	CHECK(be.ops->set_size(be.ctx, CSM_DATA, 3 * SEC) == 0);
	CHECK(csm_dmc_open(&be, &o, &d, err, sizeof(err)) == -EINVAL && strstr(err, "too small"));
	be = mem_backend_view(&m);
	CHECK(be.ops->set_size(be.ctx, CSM_DATA, 100 * SEC + 1) == 0);
	CHECK(csm_dmc_open(&be, &o, &d, err, sizeof(err)) == -EINVAL &&
	      strstr(err, "not a whole number of sectors"));
	mem_backend_free(&m);

	mem_backend_init(&m, false);
	dmc_format(&m, DIFF, 200);
	be = mem_backend_view(&m);
	CHECK(be.ops->set_size(be.ctx, CSM_META, (3 + 2 * 3) * SEC) == 0); /* 3 of 4 pairs */
	o.layout = DIFF;
	CHECK(csm_dmc_open(&be, &o, &d, err, sizeof(err)) == -EINVAL &&
	              strstr(err, "metadata file too short"),
	      "%s", err);
	be = mem_backend_view(&m);
	CHECK(be.ops->set_size(be.ctx, CSM_META, (3 + 2 * 4) * SEC) == 0);
	CHECK(csm_dmc_open(&be, &o, &d, err, sizeof(err)) == 0);
	CHECK_EQ_U64(csm_dmc_size(d), 200 * SEC);
	csm_dmc_close(d);
	mem_backend_free(&m);
}

/* ---- 7. threads ------------------------------------------------------- */

struct worker {
	struct csm_dmc *d;
	unsigned id;
	uint64_t seed;
	uint8_t *mine; /* this thread's sectors' last content */
};

#define THREADS 4
#define TSECTORS (62 * 3)

static void *work(void *arg)
{
	struct worker *w = arg;
	struct rng r = {w->seed};
	uint8_t buf[SEC];
	for (int i = 0; i < 3000; i++) {
		/* Sector k belongs to thread k % THREADS: every group shared. */
		uint64_t s = rng_below(&r, TSECTORS / THREADS) * THREADS + w->id;
		if (rng_below(&r, 2)) {
			rng_fill(&r, buf, SEC);
			CHECK(csm_dmc_pwrite(w->d, buf, SEC, s * SEC) == SEC);
			memcpy(w->mine + s * SEC, buf, SEC);
		} else {
			CHECK(csm_dmc_pread(w->d, buf, SEC, s * SEC) == SEC, "thread read: %s",
			      strerror(errno));
			CHECK(memcmp(buf, w->mine + s * SEC, SEC) == 0);
		}
	}
	return NULL;
}

static void test_threads(uint64_t seed)
{
	struct mem_backend m;
	mem_backend_init(&m, true);
	events = 0;
	dmc_format(&m, SAME, TSECTORS + 2);
	struct csm_dmc *d = dmc_open(&m, SAME);
	uint8_t *content = calloc(TSECTORS + 2, SEC);
	CHECK(content != NULL);
	pthread_t th[THREADS];
	struct worker w[THREADS];
	for (unsigned i = 0; i < THREADS; i++) {
		w[i] = (struct worker){.d = d, .id = i, .seed = seed + i, .mine = content};
		CHECK(pthread_create(&th[i], NULL, work, &w[i]) == 0);
	}
	for (unsigned i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	uint8_t *all = malloc((TSECTORS + 2) * SEC);
	CHECK(all != NULL);
	CHECK(csm_dmc_pread(d, all, (TSECTORS + 2) * SEC, 0) == (TSECTORS + 2) * SEC);
	CHECK(memcmp(all, content, (TSECTORS + 2) * SEC) == 0);
	struct csm_dmc_check_result res;
	CHECK(csm_dmc_check(d, NULL, NULL, &res) == 0 && res.bad_sectors == 0);
	CHECK_NO_EVENTS();
	free(all);
	free(content);
	csm_dmc_close(d);
	mem_backend_free(&m);
}

int main(void)
{
	uint64_t seed = test_seed("test_dmcsum", 2009);
	struct rng r = {seed};
	uint64_t ops = env_u64("CSM_OPS", 30000);
	test_format(&r);
	printf("  format: equal to mk-dm-csum same for files of 1-312 sectors and devices of "
	       "1-323\n");
	for (int round = 0; round < 4; round++)
		for (unsigned layout = SAME; layout <= DIFF; layout++)
			test_random(&r, layout, ops / 8);
	for (unsigned layout = SAME; layout <= DIFF; layout++) {
		test_interop(&r, layout);
		test_flips(&r, layout);
		test_wrap(&r, layout);
		test_settle(&r, layout);
		test_refusals(&r, layout);
	}
	test_open_errors();
	test_threads(seed);
	printf("test_dmcsum: ok\n");
	return 0;
}
