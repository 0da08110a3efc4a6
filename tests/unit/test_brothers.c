/* Metadata blocks and the choice between brothers: self-checksum catches
 * every bit flip; generations past 2^8 and 2^32 order correctly (no wrap);
 * the older brother is trusted only one generation behind. */
#include <string.h>

#include "csumshim/format.h"
#include "testlib.h"

static const uint8_t uuid[16] = {9, 8, 7};

static void choose(struct csm_pair *p, enum csm_mb_status a, uint64_t ga, enum csm_mb_status b,
                   uint64_t gb)
{
	csm_pair_choose(p, a, ga, b, gb);
}

int main(void)
{
	struct csm_pair p;
	const enum csm_mb_status V = CSM_MB_VALID, E = CSM_MB_EMPTY, X = CSM_MB_BAD_CSUM;

	choose(&p, E, 0, E, 0); /* never written */
	CHECK(p.newer == -1 && !p.broken);
	choose(&p, V, 1, E, 0); /* first update */
	CHECK(p.newer == 0 && p.older_ok);
	choose(&p, E, 0, V, 1);
	CHECK(p.newer == 1 && p.older_ok);
	choose(&p, V, 5, E, 0); /* twin lost after several updates */
	CHECK(p.newer == 0 && !p.older_ok);
	choose(&p, V, 3, V, 4);
	CHECK(p.newer == 1 && p.older_ok);
	choose(&p, V, 4, V, 3);
	CHECK(p.newer == 0 && p.older_ok);
	choose(&p, V, 2, V, 7); /* stale older brother: not trusted */
	CHECK(p.newer == 1 && !p.older_ok);
	choose(&p, V, 6, V, 6); /* equal: slot A, older not trusted */
	CHECK(p.newer == 0 && !p.older_ok);
	/* Past the seed's 8-bit counter and past 32 bits. */
	choose(&p, V, 255, V, 256);
	CHECK(p.newer == 1 && p.older_ok);
	choose(&p, V, 256, V, 255);
	CHECK(p.newer == 0 && p.older_ok);
	choose(&p, V, 0, V, 1); /* generation 0 is never valid, but be sure */
	CHECK(p.newer == 1);
	choose(&p, V, (1ull << 32), V, (1ull << 32) - 1);
	CHECK(p.newer == 0 && p.older_ok);
	choose(&p, V, (1ull << 32) + 1, V, 1); /* 8- or 32-bit wrap would confuse these */
	CHECK(p.newer == 0 && !p.older_ok);
	choose(&p, V, UINT64_MAX - 1, V, UINT64_MAX);
	CHECK(p.newer == 1 && p.older_ok);
	/* Damage. */
	choose(&p, X, 0, V, 9);
	CHECK(p.newer == 1 && !p.older_ok && !p.broken);
	choose(&p, V, 9, CSM_MB_BAD_MAGIC, 0);
	CHECK(p.newer == 0 && !p.older_ok);
	choose(&p, X, 0, X, 0);
	CHECK(p.newer == -1 && p.broken);
	choose(&p, X, 0, E, 0);
	CHECK(p.newer == -1 && p.broken);

	/* Metadata block codec for every geometry. */
	struct rng r = {test_seed("test_brothers", 3)};
	for (unsigned algo = 1; algo <= 2; algo++) {
		for (uint32_t bs = 512; bs <= 4096; bs *= 2) {
			struct csm_geometry g;
			CHECK(csm_geo_init(&g, bs, algo, CSM_LAYOUT_INTERLEAVED));
			uint8_t a[4096], b[4096];
			uint64_t gen;
			memset(a, 0, sizeof(a));
			CHECK(csm_mb_check(&g, uuid, a, 5, &gen) == CSM_MB_EMPTY);
			csm_mb_init(&g, a, 5);
			uint64_t tuples[1024];
			for (uint32_t i = 0; i < g.per_group; i++) {
				tuples[i] =
				        rng_next(&r) & (g.csum_size == 4 ? 0xffffffffull : ~0ull);
				if (i % 3)
					csm_mb_set(&g, a, i, tuples[i]);
			}
			csm_mb_seal(&g, uuid, a, (1ull << 40) + 3);
			CHECK(csm_mb_check(&g, uuid, a, 5, &gen) == CSM_MB_VALID);
			CHECK_EQ_U64(gen, (1ull << 40) + 3);
			CHECK(csm_mb_check(&g, uuid, a, 6, &gen) == CSM_MB_BAD_GROUP);
			uint8_t other[16] = {1};
			CHECK(csm_mb_check(&g, other, a, 5, &gen) == CSM_MB_BAD_CSUM, "salted");
			for (uint32_t i = 0; i < g.per_group; i++) {
				CHECK(csm_mb_written(&g, a, i) == (i % 3 != 0));
				if (i % 3)
					CHECK_EQ_U64(csm_mb_tuple(&g, a, i), tuples[i]);
			}
			/* every single-bit flip is caught */
			for (uint32_t bit = 0; bit < bs * 8; bit++) {
				memcpy(b, a, bs);
				b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
				enum csm_mb_status st = csm_mb_check(&g, uuid, b, 5, &gen);
				CHECK(st != CSM_MB_VALID && st != CSM_MB_EMPTY, "bs %u bit %u", bs,
				      bit);
			}
			/* same/differs, clear */
			memcpy(b, a, bs);
			csm_mb_set(&g, b, 1, tuples[1] ^ 1);
			csm_mb_clear(&g, b, 2);
			csm_mb_set(&g, b, 3, 0);
			for (uint32_t i = 0; i < g.per_group; i++)
				CHECK(csm_mb_same(&g, a, b, i) == (i > 3 || i == 0), "i %u", i);
			/* a set bit past the group's end is a bad field */
			if (g.per_group % 8) {
				memcpy(b, a, bs);
				b[g.bitmap_offset + g.per_group / 8] |=
				        (uint8_t)(1u << (g.per_group % 8));
				csm_mb_seal(&g, uuid, b, 9);
				CHECK(csm_mb_check(&g, uuid, b, 5, &gen) == CSM_MB_BAD_FIELD);
			}
			memcpy(b, a, bs);
			csm_mb_seal(&g, uuid, b, 0);
			CHECK(csm_mb_check(&g, uuid, b, 5, &gen) == CSM_MB_BAD_FIELD,
			      "generation 0");
		}
	}
	printf("1 passed, 0 failed\n");
	return 0;
}
