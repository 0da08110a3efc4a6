/*
 * Thread stress on one engine over a real file (the POSIX backend): T
 * threads own interleaved 700-byte stripes, so different threads write
 * different bytes of the same blocks and groups (read-modify-write under
 * one group lock) while every thread also reads arbitrary ranges.  No read
 * may fail or return a wrong byte of the reader's own stripes; at the end
 * the whole file equals the model and a scrub is clean.  Built also with
 * TSan.  CSM_THREADS, CSM_TOPS (operations per thread), CSM_SEED.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "csumshim/engine.h"
#include "testlib.h"

#define STRIPE 700

struct shared {
	struct csm_engine *e;
	uint8_t *model;
	uint64_t size;
	unsigned nthreads;
	uint64_t ops;
	uint64_t seed;
	_Atomic uint64_t events;
};

struct worker {
	struct shared *s;
	unsigned id;
};

static void on_event(void *arg, const struct csm_event *ev)
{
	struct shared *s = arg;
	fprintf(stderr, "event: %s block %llu\n", csm_event_name(ev->kind),
	        (unsigned long long)ev->lblock);
	atomic_fetch_add(&s->events, 1);
}

static bool mine(const struct shared *s, unsigned id, uint64_t off)
{
	return (off / STRIPE) % s->nthreads == id;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	struct shared *s = w->s;
	struct rng r = {s->seed * 1000 + w->id};
	uint8_t buf[STRIPE], rd[3 * 4096 + 100];
	uint64_t nstripes = s->size / STRIPE;
	for (uint64_t op = 0; op < s->ops; op++) {
		if (rng_below(&r, 2) == 0) {
			/* write part of one of my stripes */
			uint64_t k = rng_below(&r, nstripes / s->nthreads) * s->nthreads + w->id;
			uint64_t start = k * STRIPE + rng_below(&r, STRIPE / 2);
			size_t len = 1 + rng_below(&r, (k + 1) * STRIPE - start);
			rng_fill(&r, buf, len);
			ssize_t n = csm_pwrite(s->e, buf, len, start);
			CHECK(n == (ssize_t)len, "thread %u: write: %s", w->id, strerror(errno));
			memcpy(s->model + start, buf, len); /* only my bytes */
		} else {
			/* read anything; my own bytes must be exact */
			uint64_t off = rng_below(&r, s->size);
			size_t len = 1 + rng_below(&r, sizeof(rd));
			if (off + len > s->size)
				len = (size_t)(s->size - off);
			ssize_t n = csm_pread(s->e, rd, len, off);
			CHECK(n == (ssize_t)len, "thread %u: read %zu at %llu: %zd (%s)", w->id,
			      len, (unsigned long long)off, n, strerror(errno));
			for (size_t i = 0; i < len; i++)
				if (mine(s, w->id, off + i))
					CHECK(rd[i] == s->model[off + i],
					      "thread %u: byte %llu wrong", w->id,
					      (unsigned long long)(off + i));
		}
	}
	return NULL;
}

static void run(uint32_t bs, unsigned algo, unsigned layout, struct shared *s)
{
	char path[] = "/tmp/csumshim-threads-XXXXXX", meta[64];
	int dfd = mkstemp(path);
	CHECK(dfd >= 0);
	int mfd = dfd;
	if (layout == CSM_LAYOUT_SEPARATE) {
		snprintf(meta, sizeof(meta), "%s.csum", path);
		mfd = open(meta, O_RDWR | O_CREAT | O_TRUNC, 0600);
		CHECK(mfd >= 0);
	}
	struct csm_backend be;
	CHECK(csm_backend_posix(&be, dfd, mfd, true, NULL) == 0);
	struct csm_format_opts fo = {
	        .block_size = bs, .algo = algo, .layout = layout, .size = s->size};
	char err[200];
	CHECK(csm_format(&be, &fo, err, sizeof(err)) == 0, "%s", err);
	struct csm_engine_opts eo = {.cache_bytes = 1, .report = on_event, .report_arg = s};
	CHECK(csm_open(&be, &eo, &s->e, err, sizeof(err)) == 0, "%s", err);
	memset(s->model, 0, s->size);

	pthread_t th[64];
	struct worker w[64];
	for (unsigned i = 0; i < s->nthreads; i++) {
		w[i] = (struct worker){s, i};
		CHECK(pthread_create(&th[i], NULL, work, &w[i]) == 0);
	}
	for (unsigned i = 0; i < s->nthreads; i++)
		pthread_join(th[i], NULL);

	uint8_t *all = malloc(s->size);
	CHECK(all && csm_pread(s->e, all, s->size, 0) == (ssize_t)s->size);
	CHECK(memcmp(all, s->model, s->size) == 0, "final content differs from the model");
	struct csm_scrub_result sr;
	CHECK(csm_scrub(s->e, NULL, NULL, &sr) == 0 && sr.bad_blocks == 0 && sr.bad_meta == 0);
	CHECK(csm_close(s->e) == 0);
	CHECK(atomic_load(&s->events) == 0, "verification events during the run");
	free(all);
	unlink(path);
	if (layout == CSM_LAYOUT_SEPARATE)
		unlink(meta);
	printf("  bs %u %s %s: %u threads x %llu operations, content exact, scrub clean\n", bs,
	       csm_algo_name(algo), csm_layout_name(layout), s->nthreads,
	       (unsigned long long)s->ops);
}

int main(void)
{
	struct shared s = {0};
	s.seed = test_seed("test_threads", 8);
	s.nthreads = (unsigned)env_u64("CSM_THREADS", 8);
	s.ops = env_u64("CSM_TOPS", 20000);
	CHECK(s.nthreads >= 1 && s.nthreads <= 64);
	s.size = 3u << 20;
	s.model = calloc(1, s.size);
	CHECK(s.model);
	run(512, CSM_ALGO_CRC32C, CSM_LAYOUT_INTERLEAVED, &s);
	run(4096, CSM_ALGO_XXH3, CSM_LAYOUT_SEPARATE, &s);
	run(1024, CSM_ALGO_CRC32C, CSM_LAYOUT_SEPARATE, &s);
	free(s.model);
	printf("1 passed, 0 failed\n");
	return 0;
}
