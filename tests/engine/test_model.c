/*
 * Model-based engine test: random operations (writes and reads of random
 * offsets, sizes and alignments, truncates, zeroed ranges, fsyncs, reopens)
 * against an in-memory model, for both layouts, every block size and both
 * algorithms.  Every read must return exactly the model's bytes, and the
 * engine must never report a mismatch.  CSM_OPS sets the operations per
 * configuration (default 100000), CSM_SEED the seed.
 */
#include <errno.h>
#include <string.h>

#include "csumshim/engine.h"
#include "membackend.h"
#include "testlib.h"

struct cfg {
	uint32_t bs;
	unsigned algo, layout;
	unsigned variant; /* 0: a new file; 1: v2 without aligned runs; 2: v1 */
	uint64_t max_size;
	size_t cache;
};

static uint64_t events;

static void on_event(void *arg, const struct csm_event *ev)
{
	(void)arg;
	fprintf(stderr, "unexpected event %s block %llu group %llu\n", csm_event_name(ev->kind),
	        (unsigned long long)ev->lblock, (unsigned long long)ev->group);
	events++;
}

static struct csm_engine *open_engine(struct mem_backend *m, size_t cache)
{
	struct csm_backend be = mem_backend_view(m);
	struct csm_engine_opts o = {.cache_bytes = cache, .report = on_event};
	struct csm_engine *e;
	char err[200];
	int rc = csm_open(&be, &o, &e, err, sizeof(err));
	CHECK(rc == 0, "open: %s", err);
	return e;
}

static size_t pick_len(struct rng *r, uint32_t bs, uint64_t group_bytes)
{
	switch (rng_below(r, 20)) {
	case 0:
	case 1:
	case 2:
	case 3:
	case 4:
		return 1 + rng_below(r, 64);
	case 5:
	case 6:
	case 7:
	case 8:
	case 9:
		return bs * (1 + rng_below(r, 8));
	case 10:
	case 11:
	case 12:
	case 13:
	case 14:
		return 1 + rng_below(r, 2 * (uint64_t)bs);
	case 15:
	case 16:
	case 17:
	case 18:
		return 1 + rng_below(r, 65536);
	default:
		return 1 + rng_below(r, 3 * group_bytes);
	}
}

static uint64_t pick_off(struct rng *r, uint64_t limit, uint32_t bs)
{
	uint64_t off = rng_below(r, limit ? limit : 1);
	if (rng_below(r, 3) == 0)
		off &= ~(uint64_t)(bs - 1);
	return off;
}

static void compare_all(struct csm_engine *e, const uint8_t *model, uint64_t msize, uint8_t *tmp)
{
	CHECK_EQ_U64(csm_size(e), msize);
	ssize_t r = csm_pread(e, tmp, msize + 100, 0);
	CHECK(r == (ssize_t)msize, "full read: %zd of %llu (%s)", r, (unsigned long long)msize,
	      strerror(errno));
	CHECK(memcmp(tmp, model, msize) == 0, "full content differs");
}

static void run(const struct cfg *c, uint64_t seed, uint64_t ops)
{
	struct mem_backend m;
	mem_backend_init(&m, c->layout == CSM_LAYOUT_INTERLEAVED);
	struct csm_backend be = mem_backend_view(&m);
	struct csm_format_opts fo = {.block_size = c->bs,
	                             .algo = c->algo,
	                             .layout = c->layout,
	                             .unaligned = c->variant == 1,
	                             .version = c->variant == 2 ? CSM_VERSION_1 : 0};
	char err[200];
	CHECK(csm_format(&be, &fo, err, sizeof(err)) == 0, "format: %s", err);
	struct csm_engine *e = open_engine(&m, c->cache);
	const struct csm_geometry *geo = csm_geometry(e);
	CHECK(geo->aligned == (c->layout == CSM_LAYOUT_INTERLEAVED && c->variant == 0));
	CHECK(geo->version == (c->variant == 2 ? 1 : 2));
	uint64_t group_bytes = (uint64_t)geo->per_group * c->bs;

	size_t cap = c->max_size + 8 * group_bytes;
	uint8_t *model = calloc(1, cap), *buf = malloc(cap), *tmp = malloc(cap);
	CHECK(model && buf && tmp);
	uint64_t msize = 0;
	struct rng r = {seed};
	uint64_t nw = 0, nr = 0, nt = 0, nz = 0, nreopen = 0;

	for (uint64_t op = 0; op < ops; op++) {
		unsigned k = (unsigned)rng_below(&r, 100);
		if (k < 40) { /* write */
			uint64_t off = pick_off(&r, msize + 3 * (uint64_t)c->bs, c->bs);
			size_t len = pick_len(&r, c->bs, group_bytes);
			if (off >= c->max_size)
				off = rng_below(&r, c->max_size);
			if (off + len > c->max_size)
				len = (size_t)(c->max_size - off);
			if (len == 0)
				continue;
			rng_fill(&r, buf, len);
			ssize_t w = csm_pwrite(e, buf, len, off);
			CHECK(w == (ssize_t)len, "op %llu write %zu at %llu: %zd (%s)",
			      (unsigned long long)op, len, (unsigned long long)off, w,
			      strerror(errno));
			memcpy(model + off, buf, len);
			if (off + len > msize)
				msize = off + len;
			nw++;
		} else if (k < 82) { /* read */
			uint64_t off = pick_off(&r, msize + c->bs, c->bs);
			size_t len = pick_len(&r, c->bs, group_bytes);
			ssize_t want =
			        off >= msize ? 0 : (ssize_t)(len < msize - off ? len : msize - off);
			memset(tmp, 0xAA, len);
			ssize_t got = csm_pread(e, tmp, len, off);
			CHECK(got == want, "op %llu read %zu at %llu: %zd want %zd (%s)",
			      (unsigned long long)op, len, (unsigned long long)off, got, want,
			      strerror(errno));
			CHECK(memcmp(tmp, model + off, (size_t)want) == 0,
			      "op %llu read %zu at %llu differs", (unsigned long long)op, len,
			      (unsigned long long)off);
			nr++;
		} else if (k < 88) { /* truncate */
			uint64_t ns;
			if (rng_below(&r, 2))
				ns = rng_below(&r, c->max_size + 1);
			else {
				int64_t d = (int64_t)rng_below(&r, 4 * (uint64_t)c->bs) -
				            2 * (int64_t)c->bs;
				ns = (int64_t)msize + d < 0 ? 0 : (uint64_t)((int64_t)msize + d);
				if (ns > c->max_size)
					ns = c->max_size;
			}
			CHECK(csm_truncate(e, ns) == 0, "op %llu truncate %llu: %s",
			      (unsigned long long)op, (unsigned long long)ns, strerror(errno));
			if (ns < msize)
				memset(model + ns, 0, msize - ns);
			msize = ns;
			CHECK_EQ_U64(csm_size(e), msize);
			nt++;
		} else if (k < 93) { /* zero a range */
			uint64_t off = pick_off(&r, msize + 1, c->bs);
			size_t len = pick_len(&r, c->bs, group_bytes);
			CHECK(csm_zero_range(e, off, len) == 0, "zero_range: %s", strerror(errno));
			if (off < msize)
				memset(model + off, 0,
				       (size_t)(len < msize - off ? len : msize - off));
			nz++;
		} else if (k < 95) {
			CHECK(csm_fsync(e, rng_below(&r, 2)) == 0);
		} else if (k < 96) { /* reopen */
			CHECK(csm_close(e) == 0);
			e = open_engine(&m, c->cache);
			CHECK(csm_superblock(e)->state == CSM_STATE_CLEAN);
			nreopen++;
		} else if (k < 97) {
			compare_all(e, model, msize, tmp);
		} else { /* a zero-length and a past-the-end read */
			CHECK(csm_pread(e, tmp, 0, 0) == 0);
			CHECK(csm_pread(e, tmp, 10, msize + rng_below(&r, 10000)) == 0);
		}
		CHECK(events == 0, "op %llu: the engine reported a mismatch",
		      (unsigned long long)op);
	}
	compare_all(e, model, msize, tmp);
	struct csm_scrub_result sr;
	CHECK(csm_scrub(e, NULL, NULL, &sr) == 0);
	CHECK(sr.bad_blocks == 0 && sr.bad_meta == 0 && sr.broken_groups == 0);
	CHECK(csm_close(e) == 0);
	e = open_engine(&m, c->cache);
	compare_all(e, model, msize, tmp);
	CHECK(csm_close(e) == 0);
	CHECK(events == 0);
	printf("  bs %u %s %s cache %zu: %llu writes, %llu reads, %llu truncates, %llu zeroes, "
	       "%llu "
	       "reopens, final size %llu\n",
	       c->bs, csm_algo_name(c->algo), csm_layout_name(c->layout), c->cache,
	       (unsigned long long)nw, (unsigned long long)nr, (unsigned long long)nt,
	       (unsigned long long)nz, (unsigned long long)nreopen, (unsigned long long)msize);
	free(model);
	free(buf);
	free(tmp);
	mem_backend_free(&m);
}

int main(void)
{
	uint64_t seed = test_seed("test_model", 20261123);
	uint64_t ops = env_u64("CSM_OPS", 100000);
	const struct cfg cfgs[] = {
	        {4096, CSM_ALGO_CRC32C, CSM_LAYOUT_INTERLEAVED, 0, 12u << 20, 0},
	        {4096, CSM_ALGO_XXH3, CSM_LAYOUT_SEPARATE, 0, 6u << 20, 1},
	        {512, CSM_ALGO_XXH3, CSM_LAYOUT_INTERLEAVED, 0, 4u << 20, 1},
	        {512, CSM_ALGO_CRC32C, CSM_LAYOUT_SEPARATE, 0, 4u << 20, 0},
	        {1024, CSM_ALGO_CRC32C, CSM_LAYOUT_INTERLEAVED, 0, 3u << 20, 1},
	        {2048, CSM_ALGO_XXH3, CSM_LAYOUT_SEPARATE, 0, 3u << 20, 1},
	        /* Files from before the aligned layout keep working. */
	        {1024, CSM_ALGO_XXH3, CSM_LAYOUT_INTERLEAVED, 1, 2u << 20, 1},
	        {4096, CSM_ALGO_CRC32C, CSM_LAYOUT_INTERLEAVED, 2, 3u << 20, 0},
	};
	for (size_t i = 0; i < sizeof(cfgs) / sizeof(cfgs[0]); i++)
		run(&cfgs[i], seed + i, ops);
	printf("1 passed, 0 failed\n");
	return 0;
}
