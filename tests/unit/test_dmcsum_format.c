/*
 * The dm-csum format layer against the oracle (tests/support/dmcsum_oracle.c,
 * the seed's own functions re-implemented): CRC-CCITT vectors and every
 * table entry; imd sector codec; which header bytes the header CRC covers
 * (exactly bytes 8..511: every flip there is caught, none outside);
 * older_imd for all 65,536 counter pairs; brother choice; the two
 * arrangements' mappings for every sector of the first groups and random
 * ones up to 2^51; store sizes, capacities and the pairs a format writes.
 */
#include <string.h>

#include "csumshim/dmcsum.h"
#include "dmcsum_oracle.h"
#include "testlib.h"

static const unsigned S = CSM_LAYOUT_INTERLEAVED, D = CSM_LAYOUT_SEPARATE;

static void test_crc(struct rng *r)
{
	CHECK_EQ_U64(csm_crc_ccitt(0, "123456789", 9), 0x2189);
	CHECK_EQ_U64(oracle_crc_ccitt(0, (const uint8_t *)"123456789", 9), 0x2189);
	uint8_t zero[512] = {0};
	CHECK_EQ_U64(csm_dmc_sector_crc(zero), 0); /* zeroed data verifies against zeroed tuples */
	for (unsigned b = 0; b < 256; b++) {
		uint8_t byte = (uint8_t)b;
		for (unsigned init = 0; init < 65536; init += 257)
			CHECK_EQ_U64(csm_crc_ccitt((uint16_t)init, &byte, 1),
			             oracle_crc_ccitt((uint16_t)init, &byte, 1));
	}
	uint8_t buf[1500];
	for (int i = 0; i < 2000; i++) {
		size_t n = rng_below(r, sizeof(buf) + 1), cut = rng_below(r, n + 1);
		rng_fill(r, buf, n);
		uint16_t whole = csm_crc_ccitt(0, buf, n);
		CHECK_EQ_U64(whole, oracle_crc_ccitt(0, buf, n));
		CHECK_EQ_U64(csm_crc_ccitt(csm_crc_ccitt(0, buf, cut), buf + cut, n - cut), whole);
	}
}

static void test_imd(struct rng *r)
{
	uint8_t sec[512], back[512];
	for (int round = 0; round < 200; round++) {
		rng_fill(r, sec, sizeof(sec));
		struct csm_dmc_imd m;
		csm_dmc_imd_decode(sec, &m);
		memset(back, 0xa5, sizeof(back));
		csm_dmc_imd_encode(&m, back);
		CHECK(memcmp(sec, back, 512) == 0, "codec round trip");
		CHECK_EQ_U64(m.last_updated, sec[0]);
		CHECK_EQ_U64(m.crc, sec[2] | sec[3] << 8); /* little-endian, as on x86-64 */
		unsigned i = (unsigned)rng_below(r, 62);
		CHECK_EQ_U64(m.t[i].crc, csm_dmc_tuple_crc(sec, i));
		CHECK_EQ_U64(m.t[i].crc, sec[8 + 8 * i] | sec[9 + 8 * i] << 8);
		CHECK_EQ_U64(m.t[i].tag, csm_get_le32(sec + 12 + (size_t)8 * i));
		csm_dmc_set_tuple_crc(sec, i, 0xbeef);
		CHECK(sec[8 + 8 * i] == 0xef && sec[9 + 8 * i] == 0xbe);
		csm_dmc_imd_seal(sec);
		CHECK(csm_dmc_imd_ok(sec));
		CHECK_EQ_U64(sec[2] | sec[3] << 8, oracle_crc_ccitt(0, sec + 8, 504));
		/* The header CRC covers bytes 8..511 and nothing else. */
		for (unsigned bit = 0; round < 20 && bit < 512 * 8; bit++) {
			sec[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			bool covered = bit / 8 >= 2 && bit / 8 != 4 && bit / 8 != 5 &&
			               bit / 8 != 6 && bit / 8 != 7;
			CHECK(csm_dmc_imd_ok(sec) == !covered, "bit %u", bit);
			sec[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		}
	}
	uint8_t pair[1024];
	csm_dmc_imd_fresh_pair(pair);
	for (unsigned i = 0; i < 1024; i++)
		CHECK_EQ_U64(pair[i], i == 0 ? 2 : i == 512 ? 1 : 0);
	CHECK(csm_dmc_imd_ok(pair) && csm_dmc_imd_ok(pair + 512)); /* CRC of zeros is 0 */
}

static void test_brothers(void)
{
	for (unsigned a = 0; a < 256; a++)
		for (unsigned b = 0; b < 256; b++)
			CHECK(csm_dmc_older((uint8_t)a, (uint8_t)b) ==
			              oracle_older_imd((uint8_t)a, (uint8_t)b),
			      "older(%u, %u)", a, b);
	/* The wrap the seed relies on, and the cases it cannot order. */
	CHECK(csm_dmc_older(2, 1) == 1 && csm_dmc_older(1, 2) == 0);
	CHECK(csm_dmc_older(254, 255) == 0 && csm_dmc_older(0, 255) == 1);
	CHECK(csm_dmc_older(0, 1) == 0 && csm_dmc_older(255, 0) == 0);
	CHECK(csm_dmc_older(5, 5) == -1 && csm_dmc_older(5, 9) == -1 && csm_dmc_older(0, 0) == -1);

	uint8_t pair[1024];
	struct csm_dmc_pair p;
	csm_dmc_imd_fresh_pair(pair);
	csm_dmc_pair_choose(&p, pair, pair + 512);
	CHECK(p.ok[0] && p.ok[1] && p.newer == 0 && p.target == 1 && p.next_lu == 3);
	pair[0] = 254;
	pair[512] = 255;
	csm_dmc_pair_choose(&p, pair, pair + 512);
	CHECK(p.newer == 1 && p.target == 0 && p.next_lu == 0); /* 254 + 2 wraps to 0 */
	pair[0] = 0;
	csm_dmc_pair_choose(&p, pair, pair + 512);
	CHECK(p.newer == 0 && p.target == 1 && p.next_lu == 1);
	pair[512] = 0;
	csm_dmc_pair_choose(&p, pair, pair + 512);
	CHECK(p.undecidable && p.newer == -1 && p.target == -1);
	/* One damaged: the other rules, the update replaces the damaged one
	 * one step ahead. */
	pair[0] = 255;
	pair[512] = 7;
	pair[512 + 100] ^= 1;
	csm_dmc_pair_choose(&p, pair, pair + 512);
	CHECK(!p.ok[1] && p.newer == 0 && p.target == 1 && p.next_lu == 0);
	CHECK(csm_dmc_older(255, p.next_lu) == 0);
	pair[100] ^= 1;
	csm_dmc_pair_choose(&p, pair, pair + 512);
	CHECK(!p.ok[0] && !p.ok[1] && p.target == -1 && !p.undecidable);

	/* Verification: either ok brother; a damaged one vouches for nothing. */
	csm_dmc_imd_fresh_pair(pair);
	csm_dmc_set_tuple_crc(pair, 5, 0x1111);
	csm_dmc_set_tuple_crc(pair + 512, 5, 0x2222);
	csm_dmc_imd_seal(pair);
	csm_dmc_imd_seal(pair + 512);
	csm_dmc_pair_choose(&p, pair, pair + 512);
	CHECK(csm_dmc_verifies(&p, pair, pair + 512, 5, 0x1111));
	CHECK(csm_dmc_verifies(&p, pair, pair + 512, 5, 0x2222));
	CHECK(!csm_dmc_verifies(&p, pair, pair + 512, 5, 0x3333));
	CHECK(csm_dmc_verifies(&p, pair, pair + 512, 6, 0));
	pair[2] ^= 1; /* M1's header CRC */
	csm_dmc_pair_choose(&p, pair, pair + 512);
	CHECK(!csm_dmc_verifies(&p, pair, pair + 512, 5, 0x1111));
	CHECK(csm_dmc_verifies(&p, pair, pair + 512, 5, 0x2222));

	/* The update carries the newer brother's tuples over the older. */
	csm_dmc_imd_fresh_pair(pair);
	csm_dmc_set_tuple_crc(pair, 9, 0xabcd); /* M1 is newer (2 > 1) */
	pair[512 + 1] = 0x77;                   /* M2's unused byte: kept */
	csm_dmc_set_tuple_crc(pair + 512, 9, 0x0bad);
	csm_dmc_imd_seal(pair);
	csm_dmc_imd_seal(pair + 512);
	csm_dmc_pair_choose(&p, pair, pair + 512);
	uint8_t nw[512];
	csm_dmc_update_start(&p, pair, pair + 512, nw);
	CHECK(nw[0] == 3 && nw[1] == 0x77 && csm_dmc_tuple_crc(nw, 9) == 0xabcd);
	CHECK(memcmp(nw + 8, pair + 8, 504) == 0);
}

static void check_sector(uint64_t l)
{
	uint64_t g = csm_dmc_group_of(l);
	CHECK_EQ_U64(csm_dmc_data_sector(S, l), oracle_map_data_sector_same(l));
	CHECK_EQ_U64(csm_dmc_data_sector(D, l), oracle_map_data_sector_diff(l));
	CHECK_EQ_U64(csm_dmc_imd_sector(S, g), oracle_get_imd_sector_same(l));
	CHECK_EQ_U64(csm_dmc_imd_sector(D, g), oracle_get_imd_sector_diff(l));
	/* Store sizes end exactly at the last sector's data / pair. */
	CHECK_EQ_U64(csm_dmc_data_store_sectors(S, l + 1), oracle_map_data_sector_same(l) + 1);
	CHECK_EQ_U64(csm_dmc_data_store_sectors(D, l + 1), oracle_map_data_sector_diff(l) + 1);
	CHECK_EQ_U64(csm_dmc_meta_store_sectors(D, l + 1), oracle_get_imd_sector_diff(l) + 2);
}

static void test_geometry(struct rng *r)
{
	/* The facts, spelled out. */
	CHECK_EQ_U64(csm_dmc_imd_sector(S, 0), 1);
	CHECK_EQ_U64(csm_dmc_data_sector(S, 0), 3);
	CHECK_EQ_U64(csm_dmc_data_sector(S, 61), 64);
	CHECK_EQ_U64(csm_dmc_imd_sector(S, 1), 65);
	CHECK_EQ_U64(csm_dmc_data_sector(S, 62), 67);
	CHECK_EQ_U64(csm_dmc_imd_sector(D, 0), 3); /* not 1: see dmcsum.h */
	CHECK_EQ_U64(csm_dmc_imd_sector(D, 1), 5);
	CHECK_EQ_U64(csm_dmc_data_sector(D, 0), 1);

	for (uint64_t l = 0; l < (uint64_t)62 * 200; l++)
		check_sector(l);
	for (int i = 0; i < 200000; i++)
		check_sector(rng_below(r, CSM_DMC_MAX_SECTORS));
	check_sector(CSM_DMC_MAX_SECTORS - 1);

	/* No data sector lands on an imd sector or the reserved one ("same"). */
	uint8_t *role = calloc(1, 1 + 64 * 40);
	CHECK(role != NULL);
	for (uint64_t g = 0; g < 40; g++) {
		uint64_t m = csm_dmc_imd_sector(S, g);
		CHECK(!role[m] && !role[m + 1]);
		role[m] = role[m + 1] = 1;
	}
	for (uint64_t l = 0; l < (uint64_t)40 * 62; l++) {
		uint64_t s = csm_dmc_data_sector(S, l);
		CHECK(s > 0 && !role[s], "sector %llu", (unsigned long long)l);
		role[s] = 2;
	}
	free(role);

	/* Capacities invert the store sizes, and are the largest that fit. */
	for (uint64_t l = 1; l < 62 * 5 + 3; l++) {
		for (unsigned lay = S; lay <= D; lay++) {
			uint64_t ds = csm_dmc_data_store_sectors(lay, l);
			uint64_t ms = csm_dmc_meta_store_sectors(lay, l);
			CHECK_EQ_U64(csm_dmc_capacity(lay, ds, ms), l);
		}
	}
	for (uint64_t p = 0; p < (uint64_t)64 * 6; p++) {
		uint64_t cap = csm_dmc_capacity(S, p, p);
		CHECK(cap == 0 || csm_dmc_data_store_sectors(S, cap) <= p);
		CHECK(csm_dmc_data_store_sectors(S, cap + 1) > p);
		/* Pairs a format writes: those that fit whole, exactly what
		 * mk-dm-csum writes where it succeeds on a device. */
		struct odev dev;
		odev_init(&dev, p * 512, true);
		int rc = oracle_mk_dm_csum_same(&dev);
		CHECK((rc < 0) == (p >= 2 && (p - 1) % 64 == 1), "mk-dm-csum on %llu sectors",
		      (unsigned long long)p);
		uint64_t pairs = 0;
		for (uint64_t s = 1; s + 1 < p; s += 64)
			pairs += dev.buf[s * 512] == 2 && dev.buf[(s + 1) * 512] == 1;
		if (rc == 0)
			CHECK_EQ_U64(csm_dmc_pairs_for(S, cap, p), pairs);
		CHECK(csm_dmc_groups(cap) <= csm_dmc_pairs_for(S, cap, p));
		odev_free(&dev);
	}
	/* "diff": the metadata store limits the data it can describe. */
	CHECK_EQ_U64(csm_dmc_capacity(D, 1 + 1000, 3 + 2 * 17), 1000);
	CHECK_EQ_U64(csm_dmc_capacity(D, 1 + 1000, 3 + 2 * 16), 16 * 62);
	CHECK_EQ_U64(csm_dmc_capacity(D, 1, 100), 0);
	CHECK_EQ_U64(csm_dmc_capacity(D, 100, 4), 0);
	CHECK_EQ_U64(csm_dmc_pairs_for(D, 63, 0), 2);
}

int main(void)
{
	struct rng r = {test_seed("test_dmcsum_format", 19)};
	test_crc(&r);
	test_imd(&r);
	test_brothers();
	test_geometry(&r);
	printf("test_dmcsum_format: ok\n");
	return 0;
}
