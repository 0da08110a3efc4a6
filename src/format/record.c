/*
 * The written-group record (aligned layout with CSM_FEAT_WGREC): one
 * 512-byte sector per segment saying which of its groups were written
 * with their brothers durable, so that brothers read as a hole under a set
 * bit are a loss, not a never-written group.  Pure.
 *
 *   0   magic "CSMWGREC"        24  segment number (le64)
 *   8   uuid (16 bytes)         32  G, groups per segment (le32)
 *   36  reserved, zero          64  bitmap: bit i (byte i/8, LSB first)
 *   320 zero                    508 crc32c of bytes 0-507
 *
 * Where: segment 0's at 512 and segment 1's at 1024 in the header (after
 * the superblock); segment s >= 2's at the start of segment s - 1's
 * reserved block.  A record never lies in the segment it describes, so a
 * hole punched over a whole segment leaves its record standing.
 */
#include <string.h>

#include "csumshim/format.h"

const char *csm_rec_status_name(enum csm_rec_status s)
{
	switch (s) {
	case CSM_REC_EMPTY:
		return "empty";
	case CSM_REC_VALID:
		return "valid";
	case CSM_REC_BAD_MAGIC:
		return "bad magic";
	case CSM_REC_BAD_CSUM:
		return "checksum mismatch";
	case CSM_REC_BAD_UUID:
		return "belongs to another file";
	case CSM_REC_BAD_SEGMENT:
		return "belongs to another segment";
	case CSM_REC_BAD_FIELD:
		return "field out of range";
	}
	return "unknown";
}

uint64_t csm_rec_offset(const struct csm_geometry *g, uint64_t seg)
{
	if (seg < 2)
		return CSM_SB_SIZE * (seg + 1);
	return (seg - 1) * g->seg_stride;
}

enum csm_rec_status csm_rec_check(const struct csm_geometry *g, const uint8_t uuid[CSM_UUID_SIZE],
                                  const uint8_t *rec, uint64_t seg)
{
	if (csm_is_zero(rec, CSM_REC_SIZE))
		return CSM_REC_EMPTY;
	if (memcmp(rec + CSM_REC_OFF_MAGIC, CSM_REC_MAGIC, 8) != 0)
		return CSM_REC_BAD_MAGIC;
	if (csm_crc32c(0, rec, CSM_REC_OFF_CSUM) != csm_get_le32(rec + CSM_REC_OFF_CSUM))
		return CSM_REC_BAD_CSUM;
	if (memcmp(rec + CSM_REC_OFF_UUID, uuid, CSM_UUID_SIZE) != 0)
		return CSM_REC_BAD_UUID;
	if (csm_get_le64(rec + CSM_REC_OFF_SEGMENT) != seg)
		return CSM_REC_BAD_SEGMENT;
	uint64_t n = g->seg_groups;
	if (csm_get_le32(rec + CSM_REC_OFF_NGROUPS) != n || n > (uint64_t)CSM_REC_BITMAP_BYTES * 8)
		return CSM_REC_BAD_FIELD;
	if (!csm_is_zero(rec + CSM_REC_OFF_RESERVED, CSM_REC_OFF_BITMAP - CSM_REC_OFF_RESERVED) ||
	    !csm_is_zero(rec + CSM_REC_OFF_TAIL, CSM_REC_OFF_CSUM - CSM_REC_OFF_TAIL))
		return CSM_REC_BAD_FIELD;
	for (uint64_t i = n; i < (uint64_t)CSM_REC_BITMAP_BYTES * 8; i++)
		if (csm_rec_bit(rec, i))
			return CSM_REC_BAD_FIELD;
	return CSM_REC_VALID;
}

void csm_rec_seal(uint8_t *rec)
{
	csm_put_le32(rec + CSM_REC_OFF_CSUM, csm_crc32c(0, rec, CSM_REC_OFF_CSUM));
}

void csm_rec_init(const struct csm_geometry *g, const uint8_t uuid[CSM_UUID_SIZE], uint8_t *rec,
                  uint64_t seg)
{
	memset(rec, 0, CSM_REC_SIZE);
	memcpy(rec + CSM_REC_OFF_MAGIC, CSM_REC_MAGIC, 8); // NOLINT: the magic is not terminated
	memcpy(rec + CSM_REC_OFF_UUID, uuid, CSM_UUID_SIZE);
	csm_put_le64(rec + CSM_REC_OFF_SEGMENT, seg);
	csm_put_le32(rec + CSM_REC_OFF_NGROUPS, (uint32_t)g->seg_groups);
	csm_rec_seal(rec);
}
