/* Geometry: every block size, algorithm and layout; round trips, group
 * boundaries, alignment, no overlap between data and metadata, sizes up
 * to and beyond 1 TiB. */
#include <string.h>

#include "csumshim/format.h"
#include "testlib.h"

static const uint32_t sizes[] = {512, 1024, 2048, 4096};

static void check_block(const struct csm_geometry *g, uint64_t L)
{
	uint64_t grp = csm_geo_group_of(g, L);
	uint32_t idx = csm_geo_index_of(g, L);
	CHECK_EQ_U64(grp * g->per_group + idx, L);
	uint64_t d = csm_geo_data_offset(g, L);
	CHECK(d % g->block_size == 0, "data block %llu misaligned", (unsigned long long)L);
	CHECK_EQ_U64(csm_geo_group_at_data_offset(g, d), grp);
	CHECK_EQ_U64(csm_geo_group_at_data_offset(g, d + g->block_size - 1), grp);
	for (unsigned s = 0; s < 2; s++) {
		uint64_t m = csm_geo_meta_offset(g, grp, s);
		CHECK(m % g->block_size == 0);
		CHECK(m >= g->header_size);
		CHECK_EQ_U64(csm_geo_group_at_meta_offset(g, m), grp);
		if (g->layout == CSM_LAYOUT_INTERLEAVED) {
			/* brothers precede the group's data, never overlap it */
			CHECK(m + g->block_size <= d);
			CHECK(d + g->block_size <= csm_geo_meta_offset(g, grp + 1, 0));
		}
	}
	if (g->layout == CSM_LAYOUT_SEPARATE)
		CHECK_EQ_U64(d, L * g->block_size);
	else
		CHECK(d >= g->header_size);
	/* Consecutive blocks of a group are physically contiguous. */
	if (idx + 1 < g->per_group)
		CHECK_EQ_U64(csm_geo_data_offset(g, L + 1), d + g->block_size);
	else if (g->layout == CSM_LAYOUT_INTERLEAVED)
		CHECK_EQ_U64(csm_geo_data_offset(g, L + 1), d + 3 * (uint64_t)g->block_size);
}

static void check_size(const struct csm_geometry *g, uint64_t size)
{
	uint64_t blocks = csm_geo_blocks(g, size);
	CHECK(blocks * g->block_size >= size &&
	      (blocks == 0 || (blocks - 1) * g->block_size < size));
	uint64_t groups = csm_geo_groups(g, size);
	CHECK(groups * g->per_group >= blocks &&
	      (groups == 0 || (groups - 1) * g->per_group < blocks));
	uint64_t ds = csm_geo_data_store_size(g, size), ms = csm_geo_meta_store_size(g, size);
	if (blocks) {
		CHECK(ds >= csm_geo_data_offset(g, blocks - 1) +
		                    (g->layout == CSM_LAYOUT_SEPARATE
		                             ? size - (blocks - 1) * g->block_size
		                             : g->block_size));
		CHECK(ms >= csm_geo_meta_offset(g, groups - 1, 1) + g->block_size);
	}
	if (g->layout == CSM_LAYOUT_SEPARATE)
		CHECK_EQ_U64(ds, size);
	else
		CHECK_EQ_U64(ds, ms);
	/* A store of exactly that size can hold the size (rounded to blocks). */
	uint64_t cap = csm_geo_capacity_for(g, ds, ms);
	CHECK(cap >= (size / g->block_size) * g->block_size, "cap %llu size %llu",
	      (unsigned long long)cap, (unsigned long long)size);
	CHECK(csm_geo_data_store_size(g, cap) <= (ds > g->header_size ? ds : g->header_size) ||
	      g->layout == CSM_LAYOUT_SEPARATE);
}

int main(void)
{
	struct rng r = {test_seed("test_geometry", 2)};
	CHECK_EQ_U64(csm_per_group_for(4096, CSM_ALGO_CRC32C), 976);
	CHECK_EQ_U64(csm_per_group_for(4096, CSM_ALGO_XXH3), 496);
	CHECK_EQ_U64(csm_per_group_for(3000, CSM_ALGO_CRC32C), 0);
	CHECK_EQ_U64(csm_per_group_for(8192, CSM_ALGO_CRC32C), 0);
	CHECK_EQ_U64(csm_per_group_for(4096, 9), 0);
	struct csm_geometry g;
	CHECK(!csm_geo_init(&g, 4096, CSM_ALGO_CRC32C, 7));
	for (size_t si = 0; si < 4; si++) {
		for (unsigned algo = 1; algo <= 2; algo++) {
			uint32_t n = csm_per_group_for(sizes[si], algo);
			uint32_t cs = csm_algo_csum_size(algo);
			/* N fills the block: N+1 would not fit. */
			uint32_t bm = ((n + 7) / 8 + 7) & ~7u, bm1 = ((n + 8) / 8 + 7) & ~7u;
			CHECK(CSM_META_HDR_SIZE + bm + n * cs <= sizes[si]);
			CHECK(CSM_META_HDR_SIZE + bm1 + (n + 1) * cs > sizes[si]);
			for (unsigned lay = 1; lay <= 2; lay++) {
				CHECK(csm_geo_init(&g, sizes[si], algo, lay));
				CHECK(g.tuples_offset + g.per_group * g.csum_size <= g.block_size);
				CHECK_EQ_U64(1u << g.block_shift, g.block_size);
				/* Exhaustive over the first groups. */
				for (uint64_t L = 0; L < 4ull * g.per_group + 3; L++)
					check_block(&g, L);
				/* Boundaries around 1 TiB, 16 TiB and the maximum. */
				const uint64_t marks[] = {1ull << 40, 1ull << 44,
				                          CSM_MAX_LOGICAL_SIZE};
				for (int mi = 0; mi < 3; mi++) {
					uint64_t B = marks[mi] / g.block_size;
					uint64_t gb = (B / g.per_group) * g.per_group;
					for (int64_t dlt = -3; dlt <= 3; dlt++) {
						check_block(&g, B + (uint64_t)dlt - 4);
						check_block(&g, gb + (uint64_t)dlt);
					}
					CHECK(csm_geo_data_offset(&g, B) < (1ull << 62));
				}
				for (int i = 0; i < 20000; i++)
					check_block(&g, rng_below(&r, CSM_MAX_LOGICAL_SIZE /
					                                      g.block_size));
				/* Sizes: small, group edges, around 1 TiB, random. */
				for (uint64_t s = 0; s < 3 * (uint64_t)g.block_size; s += 97)
					check_size(&g, s);
				for (uint64_t k = 1; k < 5; k++) {
					uint64_t e = k * g.per_group * (uint64_t)g.block_size;
					for (int64_t d = -2; d <= 2; d++)
						check_size(&g, e + (uint64_t)d);
				}
				check_size(&g, 1ull << 40);
				check_size(&g, (1ull << 40) + 1);
				check_size(&g, CSM_MAX_LOGICAL_SIZE);
				for (int i = 0; i < 5000; i++)
					check_size(&g, rng_below(&r, 1ull << 41));
			}
		}
	}
	/* Interleaved 1 TiB with 4 KiB blocks: exact physical size. */
	csm_geo_init(&g, 4096, CSM_ALGO_CRC32C, CSM_LAYOUT_INTERLEAVED);
	uint64_t tb = 1ull << 40, blocks = tb / 4096, groups = (blocks + 975) / 976;
	CHECK_EQ_U64(csm_geo_data_store_size(&g, tb), 4096 + blocks * 4096 + groups * 2 * 4096);
	/* Devices: capacity too small for header + one group + one block. */
	CHECK_EQ_U64(csm_geo_capacity_for(&g, 4096 + 2 * 4096, 0), 0);
	CHECK_EQ_U64(csm_geo_capacity_for(&g, 4096 + 3 * 4096, 0), 4096);
	printf("1 passed, 0 failed\n");
	return 0;
}
