/*
 * Superblock codec and the names of on-disk enums.  Pure: no I/O.
 *
 * The superblock is 512 bytes (one sector, so a single write of it is never
 * torn on a device with 512-byte sectors) at offset 0 of the file holding
 * the metadata.  Its last four bytes are the crc32c of the 508 before them.
 * Decoding checks the fields in a fixed order and names the first bad one.
 */
#include "csumshim/format.h"

#include <string.h>

static const char *const sb_messages[CSM_SB_ERR_COUNT] = {
        [CSM_SB_OK] = "ok",
        [CSM_SB_SHORT] = "superblock truncated (file shorter than 512 bytes)",
        [CSM_SB_BAD_MAGIC] = "not a csumshim file (no superblock magic)",
        [CSM_SB_BAD_CSUM] = "damaged superblock (checksum mismatch)",
        [CSM_SB_BAD_VERSION] = "unsupported format version",
        [CSM_SB_BAD_SBSIZE] = "damaged superblock (bad superblock size field)",
        [CSM_SB_BAD_INCOMPAT] = "unsupported incompatible feature flags",
        [CSM_SB_BAD_BLOCK_SIZE] = "damaged superblock (invalid block size)",
        [CSM_SB_BAD_ALGO] = "damaged superblock (unknown checksum algorithm)",
        [CSM_SB_BAD_LAYOUT] = "damaged superblock (unknown layout)",
        [CSM_SB_BAD_STATE] = "damaged superblock (invalid state flag)",
        [CSM_SB_BAD_PAD] = "damaged superblock (non-zero padding byte)",
        [CSM_SB_BAD_HEADER_SIZE] = "damaged superblock (bad header size)",
        [CSM_SB_BAD_PER_GROUP] =
                "damaged superblock (blocks per group does not match the geometry)",
        [CSM_SB_BAD_LOGICAL_SIZE] = "damaged superblock (logical size too large)",
        [CSM_SB_BAD_RESERVED] = "damaged superblock (reserved bytes not zero)",
        [CSM_SB_BAD_SHRUNK_FROM] = "damaged superblock (size before a shrink not above the size)",
};

const char *csm_sb_strerror(enum csm_sb_err e)
{
	if ((unsigned)e >= CSM_SB_ERR_COUNT)
		return "unknown superblock error";
	return sb_messages[e];
}

bool csm_block_size_valid(uint64_t bs)
{
	return bs >= CSM_MIN_BLOCK && bs <= CSM_MAX_BLOCK && (bs & (bs - 1)) == 0;
}

void csm_sb_encode(const struct csm_super *sb, uint8_t out[CSM_SB_SIZE])
{
	memset(out, 0, CSM_SB_SIZE);
	memcpy(out + CSM_SB_OFF_MAGIC, CSM_MAGIC, 8); // NOLINT: the magic is not terminated
	csm_put_le32(out + CSM_SB_OFF_VERSION, sb->version);
	csm_put_le32(out + CSM_SB_OFF_SBSIZE, CSM_SB_SIZE);
	csm_put_le32(out + CSM_SB_OFF_INCOMPAT, sb->incompat);
	csm_put_le32(out + CSM_SB_OFF_COMPAT, sb->compat);
	memcpy(out + CSM_SB_OFF_UUID, sb->uuid, CSM_UUID_SIZE);
	csm_put_le32(out + CSM_SB_OFF_BLOCK_SIZE, sb->block_size);
	csm_put_le32(out + CSM_SB_OFF_PER_GROUP, sb->per_group);
	out[CSM_SB_OFF_ALGO] = sb->algo;
	out[CSM_SB_OFF_LAYOUT] = sb->layout;
	out[CSM_SB_OFF_STATE] = sb->state;
	csm_put_le32(out + CSM_SB_OFF_HEADER_SIZE, sb->header_size);
	csm_put_le64(out + CSM_SB_OFF_LOGICAL_SIZE, sb->logical_size);
	csm_put_le64(out + CSM_SB_OFF_SEQUENCE, sb->sequence);
	csm_put_le64(out + CSM_SB_OFF_FORMAT_TIME, sb->format_time);
	if (sb->version >= 2) {
		memcpy(out + CSM_SB_OFF_BOOT_ID, sb->boot_id, CSM_UUID_SIZE);
		csm_put_le64(out + CSM_SB_OFF_SHRUNK_FROM, sb->shrunk_from);
		csm_put_le32(out + CSM_SB_OFF_WRITERS, sb->writers);
	}
	csm_put_le32(out + CSM_SB_OFF_CSUM, csm_crc32c(0, out, CSM_SB_OFF_CSUM));
}

bool csm_sb_has_magic(const uint8_t *buf, size_t len)
{
	return len >= 8 && memcmp(buf, CSM_MAGIC, 8) == 0;
}

enum csm_sb_err csm_sb_decode(const uint8_t *buf, size_t len, struct csm_super *sb)
{
	if (len < CSM_SB_SIZE)
		return csm_sb_has_magic(buf, len) ? CSM_SB_SHORT : CSM_SB_BAD_MAGIC;
	if (!csm_sb_has_magic(buf, len))
		return CSM_SB_BAD_MAGIC;
	if (csm_get_le32(buf + CSM_SB_OFF_CSUM) != csm_crc32c(0, buf, CSM_SB_OFF_CSUM))
		return CSM_SB_BAD_CSUM;

	struct csm_super s;
	memset(&s, 0, sizeof(s));
	s.version = csm_get_le32(buf + CSM_SB_OFF_VERSION);
	if (s.version != CSM_VERSION && s.version != CSM_VERSION_1)
		return CSM_SB_BAD_VERSION;
	if (csm_get_le32(buf + CSM_SB_OFF_SBSIZE) != CSM_SB_SIZE)
		return CSM_SB_BAD_SBSIZE;
	s.incompat = csm_get_le32(buf + CSM_SB_OFF_INCOMPAT);
	if (s.incompat & ~CSM_INCOMPAT_KNOWN)
		return CSM_SB_BAD_INCOMPAT;
	s.compat = csm_get_le32(buf + CSM_SB_OFF_COMPAT);
	memcpy(s.uuid, buf + CSM_SB_OFF_UUID, CSM_UUID_SIZE);
	s.block_size = csm_get_le32(buf + CSM_SB_OFF_BLOCK_SIZE);
	if (!csm_block_size_valid(s.block_size))
		return CSM_SB_BAD_BLOCK_SIZE;
	s.algo = buf[CSM_SB_OFF_ALGO];
	if (csm_algo_name(s.algo) == NULL)
		return CSM_SB_BAD_ALGO;
	s.layout = buf[CSM_SB_OFF_LAYOUT];
	if (csm_layout_name(s.layout) == NULL)
		return CSM_SB_BAD_LAYOUT;
	/* ALIGNED arranges the interleaved layout of version 2 only. */
	if ((s.incompat & CSM_FEAT_ALIGNED) &&
	    (s.version < 2 || s.layout != CSM_LAYOUT_INTERLEAVED))
		return CSM_SB_BAD_INCOMPAT;
	/* The record lives in the aligned layout's reserved blocks. */
	if ((s.incompat & CSM_FEAT_WGREC) && !(s.incompat & CSM_FEAT_ALIGNED))
		return CSM_SB_BAD_INCOMPAT;
	s.state = buf[CSM_SB_OFF_STATE];
	if (csm_state_name(s.state) == NULL)
		return CSM_SB_BAD_STATE;
	if (buf[CSM_SB_OFF_PAD] != 0)
		return CSM_SB_BAD_PAD;
	s.header_size = csm_get_le32(buf + CSM_SB_OFF_HEADER_SIZE);
	if (s.header_size != CSM_HEADER_SIZE)
		return CSM_SB_BAD_HEADER_SIZE;
	s.per_group = csm_get_le32(buf + CSM_SB_OFF_PER_GROUP);
	if (s.per_group != csm_per_group_for(s.block_size, s.algo))
		return CSM_SB_BAD_PER_GROUP;
	s.logical_size = csm_get_le64(buf + CSM_SB_OFF_LOGICAL_SIZE);
	if (s.logical_size > CSM_MAX_LOGICAL_SIZE)
		return CSM_SB_BAD_LOGICAL_SIZE;
	s.sequence = csm_get_le64(buf + CSM_SB_OFF_SEQUENCE);
	s.format_time = csm_get_le64(buf + CSM_SB_OFF_FORMAT_TIME);
	size_t reserved = CSM_SB_OFF_RESERVED;
	if (s.version >= 2) {
		memcpy(s.boot_id, buf + CSM_SB_OFF_BOOT_ID, CSM_UUID_SIZE);
		s.shrunk_from = csm_get_le64(buf + CSM_SB_OFF_SHRUNK_FROM);
		s.writers = csm_get_le32(buf + CSM_SB_OFF_WRITERS);
		reserved = CSM_SB_OFF_RESERVED_V2;
	}
	for (size_t i = reserved; i < CSM_SB_OFF_CSUM; i++)
		if (buf[i] != 0)
			return CSM_SB_BAD_RESERVED;
	if (s.shrunk_from &&
	    (s.shrunk_from <= s.logical_size || s.shrunk_from > CSM_MAX_LOGICAL_SIZE))
		return CSM_SB_BAD_SHRUNK_FROM;
	*sb = s;
	return CSM_SB_OK;
}

const char *csm_algo_name(unsigned algo)
{
	switch (algo) {
	case CSM_ALGO_CRC32C:
		return "crc32c";
	case CSM_ALGO_XXH3:
		return "xxh3";
	default:
		return NULL;
	}
}

int csm_algo_from_name(const char *name)
{
	if (strcmp(name, "crc32c") == 0)
		return CSM_ALGO_CRC32C;
	if (strcmp(name, "xxh3") == 0)
		return CSM_ALGO_XXH3;
	return -1;
}

const char *csm_layout_name(unsigned layout)
{
	switch (layout) {
	case CSM_LAYOUT_INTERLEAVED:
		return "interleaved";
	case CSM_LAYOUT_SEPARATE:
		return "separate";
	default:
		return NULL;
	}
}

int csm_layout_from_name(const char *name)
{
	if (strcmp(name, "interleaved") == 0)
		return CSM_LAYOUT_INTERLEAVED;
	if (strcmp(name, "separate") == 0)
		return CSM_LAYOUT_SEPARATE;
	return -1;
}

const char *csm_state_name(unsigned state)
{
	switch (state) {
	case CSM_STATE_CLEAN:
		return "clean";
	case CSM_STATE_UNCLEAN:
		return "unclean";
	default:
		return NULL;
	}
}
