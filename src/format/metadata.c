/*
 * Metadata blocks ("brothers") and the rule for choosing between them.  Pure.
 *
 * A metadata block is one block_size block:
 *     0  le32 magic          "CMDG"
 *     4  le32 self-checksum  crc32c(uuid || block with this field zeroed)
 *     8  le64 generation     >= 1, +1 on every rewrite of the pair
 *    16  le64 group number
 *    24  le32 flags          bit 0 DIRTY, bit 1 STRICT; others must be 0
 *    28  le32 nblocks        = per_group
 *    32  32 reserved bytes   zero (v2: le64 epoch, then 24 zero bytes)
 *    64  written bitmap      bit i = block i of the group holds data
 *    ..  tuples              csum_size bytes per block, little-endian
 * An all-zero block is "empty": the slot has never been written.
 */
#include "csumshim/format.h"

#include <string.h>

static uint32_t mb_self_csum(const struct csm_geometry *g, const uint8_t uuid[CSM_UUID_SIZE],
                             const uint8_t *blk)
{
	static const uint8_t zero4[4];
	uint32_t c = csm_crc32c(0, uuid, CSM_UUID_SIZE);
	c = csm_crc32c(c, blk, CSM_MB_OFF_CSUM);
	c = csm_crc32c(c, zero4, 4);
	return csm_crc32c(c, blk + CSM_MB_OFF_CSUM + 4, g->block_size - CSM_MB_OFF_CSUM - 4);
}

const char *csm_mb_status_name(enum csm_mb_status s)
{
	switch (s) {
	case CSM_MB_EMPTY:
		return "empty";
	case CSM_MB_VALID:
		return "valid";
	case CSM_MB_BAD_MAGIC:
		return "damaged (bad magic)";
	case CSM_MB_BAD_CSUM:
		return "damaged (checksum mismatch)";
	case CSM_MB_BAD_GROUP:
		return "damaged (belongs to another group)";
	case CSM_MB_BAD_FIELD:
		return "damaged (invalid field)";
	}
	return "unknown";
}

enum csm_mb_status csm_mb_check(const struct csm_geometry *g, const uint8_t uuid[CSM_UUID_SIZE],
                                const uint8_t *blk, uint64_t group, uint64_t *generation)
{
	*generation = 0;
	if (csm_get_le32(blk + CSM_MB_OFF_MAGIC) != CSM_META_MAGIC)
		return csm_is_zero(blk, g->block_size) ? CSM_MB_EMPTY : CSM_MB_BAD_MAGIC;
	if (csm_get_le32(blk + CSM_MB_OFF_CSUM) != mb_self_csum(g, uuid, blk))
		return CSM_MB_BAD_CSUM;
	if (csm_get_le64(blk + CSM_MB_OFF_GROUP) != group)
		return CSM_MB_BAD_GROUP;
	uint64_t gen = csm_get_le64(blk + CSM_MB_OFF_GENERATION);
	size_t reserved = g->version >= 2 ? CSM_MB_OFF_RESERVED_V2 : CSM_MB_OFF_RESERVED;
	if (gen == 0 || (csm_get_le32(blk + CSM_MB_OFF_FLAGS) & ~CSM_MF_KNOWN) ||
	    csm_get_le32(blk + CSM_MB_OFF_NBLOCKS) != g->per_group ||
	    !csm_is_zero(blk + reserved, CSM_META_HDR_SIZE - reserved))
		return CSM_MB_BAD_FIELD;
	/* Bits past the last block of the group must be clear. */
	for (uint32_t i = g->per_group; i < g->bitmap_bytes * 8; i++)
		if (csm_mb_written(g, blk, i))
			return CSM_MB_BAD_FIELD;
	*generation = gen;
	return CSM_MB_VALID;
}

void csm_mb_init(const struct csm_geometry *g, uint8_t *blk, uint64_t group)
{
	memset(blk, 0, g->block_size);
	csm_put_le32(blk + CSM_MB_OFF_MAGIC, CSM_META_MAGIC);
	csm_put_le64(blk + CSM_MB_OFF_GROUP, group);
	csm_put_le32(blk + CSM_MB_OFF_NBLOCKS, g->per_group);
}

void csm_mb_seal(const struct csm_geometry *g, const uint8_t uuid[CSM_UUID_SIZE], uint8_t *blk,
                 uint64_t generation)
{
	csm_put_le64(blk + CSM_MB_OFF_GENERATION, generation);
	csm_put_le32(blk + CSM_MB_OFF_CSUM, mb_self_csum(g, uuid, blk));
}

uint64_t csm_mb_generation(const uint8_t *blk)
{
	return csm_get_le64(blk + CSM_MB_OFF_GENERATION);
}

uint64_t csm_mb_epoch(const uint8_t *blk)
{
	return csm_get_le64(blk + CSM_MB_OFF_EPOCH);
}

void csm_mb_set_epoch(uint8_t *blk, uint64_t epoch)
{
	csm_put_le64(blk + CSM_MB_OFF_EPOCH, epoch);
}

uint32_t csm_mb_flags(const uint8_t *blk)
{
	return csm_get_le32(blk + CSM_MB_OFF_FLAGS);
}

void csm_mb_set_flags(uint8_t *blk, uint32_t flags)
{
	csm_put_le32(blk + CSM_MB_OFF_FLAGS, flags);
}

uint64_t csm_mb_tuple(const struct csm_geometry *g, const uint8_t *blk, uint32_t idx)
{
	const uint8_t *p = blk + g->tuples_offset + (size_t)idx * g->csum_size;
	return g->csum_size == 4 ? csm_get_le32(p) : csm_get_le64(p);
}

void csm_mb_set(const struct csm_geometry *g, uint8_t *blk, uint32_t idx, uint64_t csum)
{
	uint8_t *p = blk + g->tuples_offset + (size_t)idx * g->csum_size;
	if (g->csum_size == 4)
		csm_put_le32(p, (uint32_t)csum);
	else
		csm_put_le64(p, csum);
	blk[g->bitmap_offset + (idx >> 3)] |= (uint8_t)(1u << (idx & 7));
}

void csm_mb_clear(const struct csm_geometry *g, uint8_t *blk, uint32_t idx)
{
	memset(blk + g->tuples_offset + (size_t)idx * g->csum_size, 0, g->csum_size);
	blk[g->bitmap_offset + (idx >> 3)] &= (uint8_t) ~(1u << (idx & 7));
}

bool csm_mb_same(const struct csm_geometry *g, const uint8_t *a, const uint8_t *b, uint32_t idx)
{
	bool wa = csm_mb_written(g, a, idx), wb = csm_mb_written(g, b, idx);
	if (wa != wb)
		return false;
	return !wa || csm_mb_tuple(g, a, idx) == csm_mb_tuple(g, b, idx);
}

static bool usable(enum csm_mb_status s)
{
	return s == CSM_MB_VALID || s == CSM_MB_EMPTY;
}

void csm_pair_choose(struct csm_pair *p, enum csm_mb_status s0, uint64_t gen0,
                     enum csm_mb_status s1, uint64_t gen1)
{
	p->status[0] = s0;
	p->status[1] = s1;
	p->gen[0] = s0 == CSM_MB_VALID ? gen0 : 0;
	p->gen[1] = s1 == CSM_MB_VALID ? gen1 : 0;
	p->newer = -1;
	p->older_ok = false;
	p->broken = false;

	bool v0 = s0 == CSM_MB_VALID, v1 = s1 == CSM_MB_VALID;
	if (!v0 && !v1) {
		/* Fresh if both are empty; otherwise nothing can be trusted. */
		p->broken = !(s0 == CSM_MB_EMPTY && s1 == CSM_MB_EMPTY);
		return;
	}
	int n = (v0 && v1) ? (p->gen[1] > p->gen[0] ? 1 : 0) : (v0 ? 0 : 1);
	int o = 1 - n;
	p->newer = n;
	/* An empty older brother stands for generation 0: it is the state
	 * before the group's first update. */
	p->older_ok = usable(p->status[o]) && p->gen[o] + 1 == p->gen[n];
}
