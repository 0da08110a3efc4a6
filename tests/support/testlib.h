/*
 * Minimal test helpers: CHECK aborts the test with file:line and a
 * message; a seeded PRNG whose seed is printed so failures replay.
 */
#ifndef CSM_TESTLIB_H
#define CSM_TESTLIB_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* What a failure should print to be replayed (tests fill it in). */
static char csm_test_context[160] __attribute__((unused));

#define CHECK(cond, ...)                                                                         \
	do {                                                                                     \
		if (!(cond)) {                                                                   \
			fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, " " __VA_ARGS__);                                        \
			fprintf(stderr, "\n");                                                   \
			if (csm_test_context[0])                                                 \
				fprintf(stderr, "replay: %s\n", csm_test_context);               \
			abort();                                                                 \
		}                                                                                \
	} while (0)

#define CHECK_EQ_U64(a, b)                                                           \
	CHECK((uint64_t)(a) == (uint64_t)(b), "%s = %" PRIu64 ", %s = %" PRIu64, #a, \
	      (uint64_t)(a), #b, (uint64_t)(b))

struct rng {
	uint64_t s;
};

static inline uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* Uniform in [0, n); 0 when n is 0. */
static inline uint64_t rng_below(struct rng *r, uint64_t n)
{
	uint64_t v = rng_next(r);
	return n ? v % n : 0;
}

static inline void rng_fill(struct rng *r, void *buf, size_t n)
{
	uint8_t *p = buf;
	while (n >= 8) {
		uint64_t v = rng_next(r);
		for (int i = 0; i < 8; i++)
			p[i] = (uint8_t)(v >> (8 * i));
		p += 8;
		n -= 8;
	}
	uint64_t v = rng_next(r);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Seed from $CSM_SEED or the default, printed for replay. */
static inline uint64_t test_seed(const char *name, uint64_t dflt)
{
	const char *s = getenv("CSM_SEED");
	uint64_t seed = s ? strtoull(s, NULL, 0) : dflt;
	printf("%s: seed %" PRIu64 " (replay with CSM_SEED=%" PRIu64 ")\n", name, seed, seed);
	fflush(stdout);
	return seed;
}

static inline uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *s = getenv(name);
	return s ? strtoull(s, NULL, 0) : dflt;
}

#endif
