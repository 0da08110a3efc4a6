/*
 * Geometry: where each logical block and each metadata block lives.  Pure.
 *
 * Interleaved (one file):
 *     [header: 4096][A0][B0][data 0 .. N-1][A1][B1][data N .. 2N-1] ...
 *   Every piece is a whole block and the header is a multiple of every
 *   supported block size, so every data block is aligned to the block size
 *   (O_DIRECT friendly; the seed's one-sector reserve misaligned them).
 *
 * Interleaved, aligned (v2, CSM_FEAT_ALIGNED): segments of G groups; the
 * segment s starts at s*T with a 2 MiB zone
 *     [header or reserved: 4096][A][B] x G [hole up to 2 MiB]
 *   followed by its data run, on a 2 MiB boundary,
 *     [data of its G groups in order: G*N blocks][hole up to T]
 *   G = (2 MiB - 4096) / (2 * block_size), T = 2 MiB + roundup(G*N*bs, 2 MiB).
 *
 * Separate (two files):
 *     data:     the logical content, byte for byte
 *     metadata: [header: 4096][A0][B0][A1][B1] ...
 */
#include "csumshim/format.h"

uint32_t csm_algo_csum_size(unsigned algo)
{
	switch (algo) {
	case CSM_ALGO_CRC32C:
		return 4;
	case CSM_ALGO_XXH3:
		return 8;
	default:
		return 0;
	}
}

static uint32_t bitmap_bytes_for(uint32_t n)
{
	return ((n + 7) / 8 + 7) & ~7u;
}

uint32_t csm_per_group_for(uint32_t block_size, unsigned algo)
{
	uint32_t cs = csm_algo_csum_size(algo);
	if (cs == 0 || !csm_block_size_valid(block_size))
		return 0;
	uint32_t room = block_size - CSM_META_HDR_SIZE;
	uint32_t n = room * 8 / (cs * 8 + 1); /* upper bound ignoring padding */
	while (n > 0 && bitmap_bytes_for(n) + n * cs > room)
		n--;
	return n;
}

static uint32_t log2u(uint32_t v)
{
	uint32_t s = 0;
	while ((1u << s) < v)
		s++;
	return s;
}

bool csm_geo_init_v(struct csm_geometry *g, unsigned version, uint32_t block_size, unsigned algo,
                    unsigned layout)
{
	return csm_geo_init_f(g, version, 0, block_size, algo, layout);
}

uint32_t csm_default_incompat(unsigned version, unsigned layout)
{
	return version >= 2 && layout == CSM_LAYOUT_INTERLEAVED ? CSM_FEAT_ALIGNED | CSM_FEAT_WGREC
	                                                        : 0;
}

bool csm_geo_init_f(struct csm_geometry *g, unsigned version, uint32_t incompat,
                    uint32_t block_size, unsigned algo, unsigned layout)
{
	if (incompat & ~CSM_INCOMPAT_KNOWN)
		return false;
	if ((incompat & CSM_FEAT_ALIGNED) && (version < 2 || layout != CSM_LAYOUT_INTERLEAVED))
		return false;
	if ((incompat & CSM_FEAT_WGREC) && !(incompat & CSM_FEAT_ALIGNED))
		return false;
	uint32_t n = csm_per_group_for(block_size, algo);
	if (n == 0 || csm_layout_name(layout) == NULL ||
	    (version != CSM_VERSION && version != CSM_VERSION_1))
		return false;
	g->version = (uint8_t)version;
	g->block_size = block_size;
	g->block_shift = log2u(block_size);
	g->per_group = n;
	g->csum_size = csm_algo_csum_size(algo);
	g->bitmap_offset = CSM_META_HDR_SIZE;
	g->bitmap_bytes = bitmap_bytes_for(n);
	g->tuples_offset = g->bitmap_offset + g->bitmap_bytes;
	g->layout = (uint8_t)layout;
	g->algo = (uint8_t)algo;
	g->header_size = CSM_HEADER_SIZE;
	g->aligned = 0;
	g->wgrec = (incompat & CSM_FEAT_WGREC) ? 1 : 0;
	g->seg_groups = g->seg_stride = g->seg_blocks = 0;
	if (incompat & CSM_FEAT_ALIGNED) {
		uint64_t z = CSM_ALIGN_ZONE;
		g->aligned = 1;
		g->group_stride = (uint64_t)2 << g->block_shift;
		g->seg_groups = (z - CSM_HEADER_SIZE) / g->group_stride;
		g->seg_blocks = g->seg_groups * n;
		uint64_t run = g->seg_blocks << g->block_shift;
		g->seg_stride = z + (run + z - 1) / z * z;
	} else if (layout == CSM_LAYOUT_INTERLEAVED) {
		g->group_stride = (uint64_t)(2 + n) << g->block_shift;
	} else {
		g->group_stride = (uint64_t)2 << g->block_shift;
	}
	return true;
}

bool csm_geo_init(struct csm_geometry *g, uint32_t block_size, unsigned algo, unsigned layout)
{
	return csm_geo_init_f(g, CSM_VERSION, csm_default_incompat(CSM_VERSION, layout), block_size,
	                      algo, layout);
}

static uint64_t aligned_group_at(const struct csm_geometry *g, uint64_t off)
{
	uint64_t seg = off / g->seg_stride, r = off % g->seg_stride;
	uint64_t first = seg * g->seg_groups, lastg = first + g->seg_groups - 1;
	uint64_t run = g->seg_blocks << g->block_shift;
	if (r < g->header_size)
		return first;
	if (r < CSM_ALIGN_ZONE) {
		uint64_t i = (r - g->header_size) / g->group_stride;
		return i < g->seg_groups ? first + i : lastg;
	}
	r -= CSM_ALIGN_ZONE;
	if (r >= run)
		return lastg;
	return first + (r >> g->block_shift) / g->per_group;
}

uint64_t csm_geo_group_at_meta_offset(const struct csm_geometry *g, uint64_t off)
{
	if (g->aligned)
		return aligned_group_at(g, off);
	if (off < g->header_size)
		return 0;
	return (off - g->header_size) / g->group_stride;
}

uint64_t csm_geo_group_at_data_offset(const struct csm_geometry *g, uint64_t off)
{
	if (g->layout == CSM_LAYOUT_INTERLEAVED)
		return csm_geo_group_at_meta_offset(g, off);
	return (off >> g->block_shift) / g->per_group;
}

uint64_t csm_geo_data_store_size(const struct csm_geometry *g, uint64_t size)
{
	if (g->layout == CSM_LAYOUT_SEPARATE)
		return size;
	uint64_t blocks = csm_geo_blocks(g, size);
	if (blocks == 0)
		return g->header_size;
	return csm_geo_data_offset(g, blocks - 1) + g->block_size;
}

uint64_t csm_geo_meta_store_size(const struct csm_geometry *g, uint64_t size)
{
	if (g->layout == CSM_LAYOUT_INTERLEAVED)
		return csm_geo_data_store_size(g, size);
	return g->header_size + csm_geo_groups(g, size) * g->group_stride;
}

uint64_t csm_geo_capacity_for(const struct csm_geometry *g, uint64_t data_capacity,
                              uint64_t meta_capacity)
{
	uint64_t bs = g->block_size;
	uint64_t blocks;
	if (g->aligned) {
		if (data_capacity < g->header_size)
			return 0;
		uint64_t segs = data_capacity / g->seg_stride;
		uint64_t r = data_capacity % g->seg_stride;
		uint64_t part = r > CSM_ALIGN_ZONE ? (r - CSM_ALIGN_ZONE) / bs : 0;
		if (part > g->seg_blocks)
			part = g->seg_blocks;
		blocks = segs * g->seg_blocks + part;
	} else if (g->layout == CSM_LAYOUT_INTERLEAVED) {
		if (data_capacity < g->header_size)
			return 0;
		uint64_t avail = data_capacity - g->header_size;
		uint64_t full = avail / g->group_stride;
		uint64_t rem_blocks = (avail % g->group_stride) / bs;
		blocks = full * g->per_group + (rem_blocks > 2 ? rem_blocks - 2 : 0);
	} else {
		if (meta_capacity < g->header_size)
			return 0;
		uint64_t groups = (meta_capacity - g->header_size) / g->group_stride;
		blocks = groups * g->per_group;
		uint64_t data_blocks = data_capacity / bs;
		if (data_blocks < blocks)
			blocks = data_blocks;
	}
	uint64_t max_blocks = CSM_MAX_LOGICAL_SIZE / bs;
	if (blocks > max_blocks)
		blocks = max_blocks;
	return blocks * bs;
}

uint64_t csm_geo_intact_size(const struct csm_geometry *g, uint64_t size, uint64_t data_phys,
                             uint64_t meta_phys)
{
	uint64_t blocks = csm_geo_blocks(g, size);
	uint64_t intact = size;
	if (g->layout == CSM_LAYOUT_INTERLEAVED) {
		/* Block L is intact if its group's brothers and its data are
		 * inside the file; both lie before its data's end. */
		if (blocks > 0 && csm_geo_data_offset(g, blocks - 1) + g->block_size > data_phys) {
			uint64_t lo = 0, hi = blocks - 1; /* first block not inside */
			while (lo < hi) {
				uint64_t mid = lo + (hi - lo) / 2;
				if (csm_geo_data_offset(g, mid) + g->block_size > data_phys)
					hi = mid;
				else
					lo = mid + 1;
			}
			intact = lo << g->block_shift;
		}
		return intact;
	}
	if (data_phys < intact)
		intact = data_phys;
	uint64_t groups = csm_geo_groups(g, size);
	if (groups > 0 && csm_geo_meta_offset(g, groups - 1, 1) + g->block_size > meta_phys) {
		uint64_t have = meta_phys < g->header_size
		                        ? 0
		                        : (meta_phys - g->header_size) / g->group_stride;
		uint64_t lim = (have * g->per_group) << g->block_shift;
		if (lim < intact)
			intact = lim;
	}
	return intact;
}
