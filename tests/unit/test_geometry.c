/* Geometry: every block size, algorithm and layout; round trips, group
 * boundaries, alignment, no overlap between data and metadata, sizes up
 * to and beyond 1 TiB. */
#include <stdlib.h>
#include <string.h>

#include "csumshim/format.h"
#include "testlib.h"

static const uint32_t sizes[] = {512, 1024, 2048, 4096};

/* The aligned layout (CSM_FEAT_ALIGNED): every piece inside its segment,
 * data runs on 2 MiB boundaries, brothers in the zone, the inverses. */
static void check_block_aligned(const struct csm_geometry *g, uint64_t L)
{
	const uint64_t Z = CSM_ALIGN_ZONE, bs = g->block_size;
	uint64_t grp = csm_geo_group_of(g, L);
	uint32_t idx = csm_geo_index_of(g, L);
	uint64_t seg = grp / g->seg_groups, base = seg * g->seg_stride;
	uint64_t d = csm_geo_data_offset(g, L);
	CHECK(d % bs == 0);
	/* inside the segment's data run */
	CHECK(d >= base + Z && d + bs <= base + Z + (g->seg_blocks << g->block_shift),
	      "block %llu at %llu outside its run", (unsigned long long)L, (unsigned long long)d);
	CHECK(d + bs <= base + g->seg_stride);
	CHECK_EQ_U64(csm_geo_data_offset(g, seg * g->seg_blocks) % Z, 0);
	CHECK_EQ_U64(csm_geo_data_offset(g, seg * g->seg_blocks), base + Z);
	CHECK_EQ_U64(csm_geo_group_at_data_offset(g, d), grp);
	CHECK_EQ_U64(csm_geo_group_at_data_offset(g, d + bs - 1), grp);
	CHECK_EQ_U64(csm_geo_group_at_meta_offset(g, d), grp);
	for (unsigned s = 0; s < 2; s++) {
		uint64_t m = csm_geo_meta_offset(g, grp, s);
		CHECK(m % bs == 0);
		/* in the zone, after its header or reserved block */
		CHECK(m >= base + CSM_HEADER_SIZE && m + bs <= base + Z);
		CHECK_EQ_U64(m, base + CSM_HEADER_SIZE + (2 * (grp % g->seg_groups) + s) * bs);
		CHECK_EQ_U64(csm_geo_group_at_meta_offset(g, m), grp);
		CHECK_EQ_U64(csm_geo_group_at_meta_offset(g, m + bs - 1), grp);
		CHECK(m + bs <= d);
	}
	/* Contiguous within a segment's run, the next run after it. */
	uint64_t n = csm_geo_data_offset(g, L + 1);
	if ((L + 1) % g->seg_blocks != 0)
		CHECK_EQ_U64(n, d + bs);
	else
		CHECK_EQ_U64(n, base + g->seg_stride + Z);
	(void)idx;
}

static void check_block(const struct csm_geometry *g, uint64_t L)
{
	if (g->aligned) {
		check_block_aligned(g, L);
		return;
	}
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

/* Segment parameters, the pieces of a whole segment, the holes' groups. */
static void check_aligned(const struct csm_geometry *g, struct rng *r)
{
	const uint64_t Z = CSM_ALIGN_ZONE, bs = g->block_size;
	uint64_t G = (Z - 4096) / (2 * bs);
	CHECK_EQ_U64(g->seg_groups, G);
	CHECK(4096 + G * 2 * bs <= Z && 4096 + (G + 1) * 2 * bs > Z);
	uint64_t run = G * g->per_group * bs;
	CHECK_EQ_U64(g->seg_stride, Z + (run + Z - 1) / Z * Z);
	CHECK_EQ_U64(g->seg_stride % Z, 0);
	CHECK(g->seg_stride - Z - run < Z);
	/* Every block and brother of segments 0 and 1 and one far away: no two
	 * pieces overlap (a byte map of the segment). */
	uint64_t segs[] = {0, 1, (CSM_MAX_LOGICAL_SIZE / bs) / g->seg_blocks - 1};
	uint64_t nsb = g->seg_stride / bs;
	uint8_t *map = calloc(nsb, 1);
	CHECK(map != NULL);
	for (int si = 0; si < 3; si++) {
		memset(map, 0, nsb);
		uint64_t seg = segs[si], base = seg * g->seg_stride;
		for (uint64_t i = 0; i < G; i++) {
			uint64_t grp = seg * G + i;
			for (unsigned sl = 0; sl < 2; sl++) {
				uint64_t m = csm_geo_meta_offset(g, grp, sl) - base;
				CHECK(map[m / bs]++ == 0, "brother overlap");
			}
		}
		for (uint64_t j = 0; j < g->seg_blocks; j++) {
			uint64_t L = seg * g->seg_blocks + j;
			uint64_t d = csm_geo_data_offset(g, L) - base;
			CHECK(map[d / bs]++ == 0, "data overlap at block %llu",
			      (unsigned long long)L);
			if (j % 997 == 0)
				check_block(g, L);
		}
		CHECK(map[0] == 0); /* header or reserved block */
		/* Holes map to the segment's first or last group. */
		CHECK_EQ_U64(csm_geo_group_at_meta_offset(g, base), seg * G);
		CHECK_EQ_U64(csm_geo_group_at_meta_offset(g, base + Z - 1), seg * G + G - 1);
		CHECK_EQ_U64(csm_geo_group_at_meta_offset(g, base + g->seg_stride - 1),
		             seg * G + G - 1);
		CHECK_EQ_U64(csm_geo_group_at_meta_offset(g, base + g->seg_stride), seg * G + G);
	}
	free(map);
	/* Random offsets: the group found holds a piece there (or the hole's
	 * rule). */
	for (int i = 0; i < 20000; i++) {
		uint64_t off = rng_below(r, 1ull << 61);
		uint64_t grp = csm_geo_group_at_meta_offset(g, off);
		uint64_t seg = off / g->seg_stride, rel = off % g->seg_stride;
		CHECK_EQ_U64(grp / G, seg);
		if (rel >= 4096 && rel < 4096 + G * 2 * bs) {
			CHECK(csm_geo_meta_offset(g, grp, 0) <= off &&
			      off < csm_geo_meta_offset(g, grp, 1) + bs);
		} else if (rel >= Z && rel < Z + run) {
			uint64_t L0 = grp * g->per_group;
			CHECK(csm_geo_data_offset(g, L0) <= off &&
			      off < csm_geo_data_offset(g, L0 + g->per_group - 1) + bs);
		}
	}
	/* Stores and capacities. */
	CHECK_EQ_U64(csm_geo_data_store_size(g, 0), 4096);
	CHECK_EQ_U64(csm_geo_data_store_size(g, 1), Z + bs);
	CHECK_EQ_U64(csm_geo_data_store_size(g, run), Z + run);
	CHECK_EQ_U64(csm_geo_data_store_size(g, run + 1), g->seg_stride + Z + bs);
	CHECK_EQ_U64(csm_geo_capacity_for(g, 4095, 0), 0);
	CHECK_EQ_U64(csm_geo_capacity_for(g, Z, 0), 0);
	CHECK_EQ_U64(csm_geo_capacity_for(g, Z + bs, 0), bs);
	CHECK_EQ_U64(csm_geo_capacity_for(g, g->seg_stride, 0), run);
	CHECK_EQ_U64(csm_geo_capacity_for(g, g->seg_stride + Z, 0), run);
	CHECK_EQ_U64(csm_geo_capacity_for(g, 3 * g->seg_stride + Z + 5 * bs + 1, 0),
	             3 * run + 5 * bs);
	/* The largest size: no overflow, under 2^62, a modest overhead. */
	uint64_t mx = csm_geo_data_store_size(g, CSM_MAX_LOGICAL_SIZE);
	CHECK(mx > CSM_MAX_LOGICAL_SIZE && mx < CSM_MAX_LOGICAL_SIZE + CSM_MAX_LOGICAL_SIZE / 8);
	CHECK_EQ_U64(csm_geo_capacity_for(g, mx, 0), CSM_MAX_LOGICAL_SIZE);
	CHECK_EQ_U64(csm_geo_capacity_for(g, UINT64_MAX, 0), CSM_MAX_LOGICAL_SIZE);
	CHECK_EQ_U64(csm_geo_intact_size(g, CSM_MAX_LOGICAL_SIZE, mx, mx), CSM_MAX_LOGICAL_SIZE);
	CHECK_EQ_U64(csm_geo_intact_size(g, 3 * run, 2 * g->seg_stride + Z + 7 * bs + 3, 0),
	             2 * run + 7 * bs);
	CHECK_EQ_U64(csm_geo_intact_size(g, 3 * run, 2 * g->seg_stride + Z - 1, 0), 2 * run);
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
			/* 1, 2: unaligned interleaved and separate; 3: aligned. */
			for (unsigned lay = 1; lay <= 3; lay++) {
				if (lay == 3) {
					CHECK(csm_geo_init(&g, sizes[si], algo,
					                   CSM_LAYOUT_INTERLEAVED));
					CHECK(g.aligned);
					check_aligned(&g, &r);
				} else {
					CHECK(csm_geo_init_v(&g, CSM_VERSION, sizes[si], algo,
					                     lay));
					CHECK(!g.aligned);
				}
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
	/* The feature's rules: version 2 and interleaved only. */
	CHECK(!csm_geo_init_f(&g, 1, CSM_FEAT_ALIGNED, 4096, CSM_ALGO_CRC32C,
	                      CSM_LAYOUT_INTERLEAVED));
	CHECK(!csm_geo_init_f(&g, 2, CSM_FEAT_ALIGNED, 4096, CSM_ALGO_CRC32C, CSM_LAYOUT_SEPARATE));
	CHECK(!csm_geo_init_f(&g, 2, 2, 4096, CSM_ALGO_CRC32C, CSM_LAYOUT_INTERLEAVED));
	CHECK(csm_geo_init(&g, 4096, CSM_ALGO_CRC32C, CSM_LAYOUT_SEPARATE) && !g.aligned);
	CHECK(!csm_geo_init_f(&g, 2, CSM_FEAT_WGREC, 4096, CSM_ALGO_CRC32C,
	                      CSM_LAYOUT_INTERLEAVED));
	/* The written-group record: each segment's sector lies in the header
	 * (segments 0 and 1) or in the reserved block of the segment before,
	 * never in its own segment or over a brother. */
	for (uint32_t bs = 512; bs <= 4096; bs *= 2) {
		for (unsigned algo = CSM_ALGO_CRC32C; algo <= CSM_ALGO_XXH3; algo++) {
			CHECK(csm_geo_init_f(&g, 2, CSM_FEAT_ALIGNED | CSM_FEAT_WGREC, bs, algo,
			                     CSM_LAYOUT_INTERLEAVED) &&
			      g.wgrec);
			CHECK(g.seg_groups <= (uint64_t)CSM_REC_BITMAP_BYTES * 8);
			CHECK_EQ_U64(csm_rec_offset(&g, 0), 512);
			CHECK_EQ_U64(csm_rec_offset(&g, 1), 1024);
			for (uint64_t seg = 2; seg < 5; seg++) {
				uint64_t o = csm_rec_offset(&g, seg);
				CHECK_EQ_U64(o, (seg - 1) * g.seg_stride);
				CHECK(o + CSM_REC_SIZE <=
				      csm_geo_meta_offset(&g, (seg - 1) * g.seg_groups, 0));
			}
			uint8_t uuid[CSM_UUID_SIZE] = {1, 2, 3};
			uint8_t other[CSM_UUID_SIZE] = {9};
			uint8_t rec[CSM_REC_SIZE] = {0};
			CHECK(csm_rec_check(&g, uuid, rec, 3) == CSM_REC_EMPTY);
			csm_rec_init(&g, uuid, rec, 3);
			CHECK(csm_rec_check(&g, uuid, rec, 3) == CSM_REC_VALID);
			CHECK(csm_rec_check(&g, other, rec, 3) == CSM_REC_BAD_UUID);
			CHECK(csm_rec_check(&g, uuid, rec, 4) == CSM_REC_BAD_SEGMENT);
			csm_rec_set_bit(rec, g.seg_groups - 1, true);
			CHECK(csm_rec_check(&g, uuid, rec, 3) == CSM_REC_BAD_CSUM);
			csm_rec_seal(rec);
			CHECK(csm_rec_check(&g, uuid, rec, 3) == CSM_REC_VALID);
			CHECK(csm_rec_bit(rec, g.seg_groups - 1) && !csm_rec_bit(rec, 0));
			csm_rec_set_bit(rec, g.seg_groups, true); /* a spare bit */
			csm_rec_seal(rec);
			CHECK(csm_rec_check(&g, uuid, rec, 3) == CSM_REC_BAD_FIELD);
			rec[0] ^= 1;
			CHECK(csm_rec_check(&g, uuid, rec, 3) == CSM_REC_BAD_MAGIC);
		}
	}
	CHECK(csm_geo_init_f(&g, 2, CSM_FEAT_ALIGNED, 4096, CSM_ALGO_CRC32C,
	                     CSM_LAYOUT_INTERLEAVED) &&
	      !g.wgrec);
	/* New interleaved files get it. */
	CHECK(csm_geo_init(&g, 4096, CSM_ALGO_CRC32C, CSM_LAYOUT_INTERLEAVED) && g.wgrec);
	CHECK(csm_geo_init(&g, 4096, CSM_ALGO_CRC32C, CSM_LAYOUT_SEPARATE) && !g.wgrec);
	/* The table in docs/FORMAT.md. */
	CHECK(csm_geo_init(&g, 4096, CSM_ALGO_CRC32C, CSM_LAYOUT_INTERLEAVED));
	CHECK_EQ_U64(g.seg_groups, 255);
	CHECK_EQ_U64(g.seg_stride, 976ull * 1024 * 1024); /* 2 MiB + 974 MiB */
	CHECK(csm_geo_init(&g, 512, CSM_ALGO_CRC32C, CSM_LAYOUT_INTERLEAVED));
	CHECK_EQ_U64(g.seg_groups, 2044);
	/* Interleaved 1 TiB with 4 KiB blocks: exact physical size. */
	csm_geo_init_v(&g, CSM_VERSION, 4096, CSM_ALGO_CRC32C, CSM_LAYOUT_INTERLEAVED);
	uint64_t tb = 1ull << 40, blocks = tb / 4096, groups = (blocks + 975) / 976;
	CHECK_EQ_U64(csm_geo_data_store_size(&g, tb), 4096 + blocks * 4096 + groups * 2 * 4096);
	/* Devices: capacity too small for header + one group + one block. */
	CHECK_EQ_U64(csm_geo_capacity_for(&g, 4096 + 2 * 4096, 0), 0);
	CHECK_EQ_U64(csm_geo_capacity_for(&g, 4096 + 3 * 4096, 0), 4096);
	printf("1 passed, 0 failed\n");
	return 0;
}
