/*
 * csumshim on-disk format, versions 1 and 2 — the pure layer.
 *
 * Everything here is a function of its arguments: no I/O, no globals, no
 * allocation.  The engine, the CLI and the tests all use it, and docs/FORMAT.md
 * describes the same bytes in prose.
 *
 * A csumshim file is a logical byte array of any size, cut into blocks of
 * `block_size` bytes (512, 1024, 2048 or 4096).  Blocks are gathered into
 * groups of `per_group` blocks; every group owns two metadata blocks, the
 * "brothers", each holding one checksum ("tuple") and one written bit per
 * block of the group, plus a 64-bit generation and a self-checksum.
 *
 * Two layouts:
 *   interleaved  one file: [header 4096][A][B][N data]...[A][B][N data]
 *                (v2 with CSM_FEAT_ALIGNED: segments of G groups, each a
 *                2 MiB zone [header or reserved 4096][A B]*G then a data
 *                run of G*N blocks starting on a 2 MiB boundary)
 *   separate     data file = logical content exactly;
 *                metadata file = [header 4096][A][B][A][B]...
 *
 * All integers on disk are little-endian.
 */
#ifndef CSUMSHIM_FORMAT_H
#define CSUMSHIM_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- constants -------------------------------------------------------- */

#define CSM_MAGIC "CSUMSHIM"  /* 8 bytes, no terminator on disk */
#define CSM_VERSION 2u        /* what new files get */
#define CSM_VERSION_1 1u      /* still opened, checked, written, upgraded */
#define CSM_SB_SIZE 512u      /* bytes covered by the superblock */
#define CSM_HEADER_SIZE 4096u /* bytes before group 0 */
#define CSM_UUID_SIZE 16u
#define CSM_META_MAGIC 0x47444d43u /* "CMDG" read as LE32 */
#define CSM_META_HDR_SIZE 64u
#define CSM_MIN_BLOCK 512u
#define CSM_MAX_BLOCK 4096u
/* Largest logical size: physical offsets must stay below 2^62. */
#define CSM_MAX_LOGICAL_SIZE (UINT64_C(1) << 60)

enum csm_algo {
	CSM_ALGO_CRC32C = 1,
	CSM_ALGO_XXH3 = 2,
};

enum csm_layout {
	CSM_LAYOUT_INTERLEAVED = 1,
	CSM_LAYOUT_SEPARATE = 2,
};

enum csm_state {
	CSM_STATE_CLEAN = 1,   /* closed cleanly: every update completed */
	CSM_STATE_UNCLEAN = 2, /* open for writing, or crashed while open */
};

/* Superblock feature bits.  v1 defines none; an unknown incompatible bit
 * makes the file unopenable, an unknown compatible bit is ignored. */
/* ALIGNED (v2, interleaved only): 2 MiB-aligned data runs (docs/FORMAT.md,
 * "Layout"). */
#define CSM_FEAT_ALIGNED 1u
/* WGREC (v2, with ALIGNED only): the written-group record (docs/FORMAT.md,
 * "The written-group record").  Incompatible: a writer that does not know
 * it would shrink without clearing the record, and a group regrown later
 * would read as lost. */
#define CSM_FEAT_WGREC 2u
#define CSM_INCOMPAT_KNOWN (CSM_FEAT_ALIGNED | CSM_FEAT_WGREC)
/* The aligned layout's unit: metadata zones and data runs start on it. */
#define CSM_ALIGN_ZONE (UINT64_C(2) << 20)

/* Metadata block flags. */
/* DIRTY: the group may hold data writes that are not yet durable together
 * with their checksums (docs/DESIGN.md, "Power loss").  Written, and made
 * durable, before the first data write after the group was clean. */
#define CSM_MF_DIRTY 1u
/* STRICT: written under strict durability — each update's metadata was
 * durable before its data, and the previous update's data before the older
 * brother was overwritten.  A block both brothers agree on that matches
 * neither is then a lost write, not a write cut short. */
#define CSM_MF_STRICT 2u
#define CSM_MF_KNOWN (CSM_MF_DIRTY | CSM_MF_STRICT)

/* ---- superblock ------------------------------------------------------- */

/* The decoded, host-order superblock. */
struct csm_super {
	uint32_t version;
	uint32_t incompat;
	uint32_t compat;
	uint8_t uuid[CSM_UUID_SIZE]; /* identity and checksum salt */
	uint32_t block_size;
	uint32_t per_group;
	uint8_t algo;   /* enum csm_algo */
	uint8_t layout; /* enum csm_layout */
	uint8_t state;  /* enum csm_state */
	uint32_t header_size;
	uint64_t logical_size;
	uint64_t sequence;    /* bumped on every superblock write */
	uint64_t format_time; /* seconds since the epoch */
	/* v2: boot id of the kernel that wrote the unclean mark; zero when
	 * clean or unknown (v1: always zero). */
	uint8_t boot_id[CSM_UUID_SIZE];
	/* v2: the logical size before the last shrink (a shrink stores the
	 * smaller size before it cuts the stores), kept until the stores are
	 * no longer than the size needs; 0 then. */
	uint64_t shrunk_from;
	/* v2: engines that changed the file since it was last marked clean
	 * and have not signed off (closed, or exited normally) since; 0 when
	 * clean.  Above 0 when the last one out signs off, a writer died:
	 * only a recovery finds and records what it left. */
	uint32_t writers;
};

/* Superblock field offsets (see docs/FORMAT.md). */
enum {
	CSM_SB_OFF_MAGIC = 0,
	CSM_SB_OFF_VERSION = 8,
	CSM_SB_OFF_SBSIZE = 12,
	CSM_SB_OFF_INCOMPAT = 16,
	CSM_SB_OFF_COMPAT = 20,
	CSM_SB_OFF_UUID = 24,
	CSM_SB_OFF_BLOCK_SIZE = 40,
	CSM_SB_OFF_PER_GROUP = 44,
	CSM_SB_OFF_ALGO = 48,
	CSM_SB_OFF_LAYOUT = 49,
	CSM_SB_OFF_STATE = 50,
	CSM_SB_OFF_PAD = 51,
	CSM_SB_OFF_HEADER_SIZE = 52,
	CSM_SB_OFF_LOGICAL_SIZE = 56,
	CSM_SB_OFF_SEQUENCE = 64,
	CSM_SB_OFF_FORMAT_TIME = 72,
	CSM_SB_OFF_RESERVED = 80,    /* v1: reserved from here */
	CSM_SB_OFF_BOOT_ID = 80,     /* v2 */
	CSM_SB_OFF_SHRUNK_FROM = 96, /* v2 */
	CSM_SB_OFF_WRITERS = 104,    /* v2 */
	CSM_SB_OFF_RESERVED_V2 = 108,
	CSM_SB_OFF_CSUM = 508,
};

/* Why a superblock was refused.  csm_sb_strerror() gives the message. */
enum csm_sb_err {
	CSM_SB_OK = 0,
	CSM_SB_SHORT,     /* fewer than CSM_SB_SIZE bytes */
	CSM_SB_BAD_MAGIC, /* not a csumshim file */
	CSM_SB_BAD_CSUM,  /* damaged */
	CSM_SB_BAD_VERSION,
	CSM_SB_BAD_SBSIZE,
	CSM_SB_BAD_INCOMPAT,
	CSM_SB_BAD_BLOCK_SIZE,
	CSM_SB_BAD_ALGO,
	CSM_SB_BAD_LAYOUT,
	CSM_SB_BAD_STATE,
	CSM_SB_BAD_PAD,
	CSM_SB_BAD_HEADER_SIZE,
	CSM_SB_BAD_PER_GROUP,
	CSM_SB_BAD_LOGICAL_SIZE,
	CSM_SB_BAD_RESERVED,
	CSM_SB_BAD_SHRUNK_FROM, /* not above the logical size */
	CSM_SB_ERR_COUNT
};

const char *csm_sb_strerror(enum csm_sb_err e);

/* Encode into exactly CSM_SB_SIZE bytes (computes the checksum). */
void csm_sb_encode(const struct csm_super *sb, uint8_t out[CSM_SB_SIZE]);

/* Decode and validate `len` bytes.  On success fills *sb. */
enum csm_sb_err csm_sb_decode(const uint8_t *buf, size_t len, struct csm_super *sb);

/* True if the buffer starts with the csumshim magic (damaged or not). */
bool csm_sb_has_magic(const uint8_t *buf, size_t len);

/* ---- names ------------------------------------------------------------ */

const char *csm_algo_name(unsigned algo);     /* "crc32c", "xxh3", NULL */
int csm_algo_from_name(const char *name);     /* enum value or -1 */
const char *csm_layout_name(unsigned layout); /* "interleaved", "separate" */
int csm_layout_from_name(const char *name);
const char *csm_state_name(unsigned state);
bool csm_block_size_valid(uint64_t bs);

/* ---- geometry --------------------------------------------------------- */

struct csm_geometry {
	uint32_t block_size;
	uint32_t block_shift;   /* log2(block_size) */
	uint32_t per_group;     /* N data blocks per group */
	uint32_t csum_size;     /* bytes per tuple */
	uint32_t bitmap_offset; /* within a metadata block */
	uint32_t bitmap_bytes;
	uint32_t tuples_offset;
	uint8_t layout;
	uint8_t algo;
	uint8_t version; /* 1 or 2: v2 brothers carry an epoch */
	uint8_t aligned; /* CSM_FEAT_ALIGNED: 2 MiB-aligned data runs */
	uint8_t wgrec;   /* CSM_FEAT_WGREC: the written-group record */
	uint64_t header_size;
	/* Unaligned: bytes from one group's brothers to the next (interleaved:
	 * brothers and data; separate: the pair).  Aligned: 2 x block_size,
	 * the brothers' stride inside a zone; use the functions below. */
	uint64_t group_stride;
	uint64_t seg_groups; /* aligned: G, groups per segment (else 0) */
	uint64_t seg_stride; /* aligned: T, bytes per segment (else 0) */
	uint64_t seg_blocks; /* aligned: G x N, data blocks per segment */
};

/* Bytes per tuple for an algorithm, 0 if unknown. */
uint32_t csm_algo_csum_size(unsigned algo);

/* Largest N such that header + bitmap + N tuples fit one block; 0 if the
 * block size or algorithm is invalid. */
uint32_t csm_per_group_for(uint32_t block_size, unsigned algo);

/* Fill *g from the parameters that define the geometry, for the current
 * version (csm_geo_init) or a given one.  Returns false on an invalid
 * combination. */
bool csm_geo_init(struct csm_geometry *g, uint32_t block_size, unsigned algo, unsigned layout);
bool csm_geo_init_v(struct csm_geometry *g, unsigned version, uint32_t block_size, unsigned algo,
                    unsigned layout);
/* The same with the superblock's incompatible features (CSM_FEAT_ALIGNED:
 * only with version 2 and the interleaved layout, else false).
 * csm_geo_init gives what new files get: aligned when interleaved;
 * csm_geo_init_v never aligned. */
bool csm_geo_init_f(struct csm_geometry *g, unsigned version, uint32_t incompat,
                    uint32_t block_size, unsigned algo, unsigned layout);
/* The features new files of a version and layout get. */
uint32_t csm_default_incompat(unsigned version, unsigned layout);

/* The longest prefix of a logical size `size` whose stored bytes (data and
 * brothers) lie inside stores of data_phys and meta_phys bytes: `size`
 * when nothing is missing, else where a lost tail begins (a block
 * boundary, or in the separate layout the data file's end). */
uint64_t csm_geo_intact_size(const struct csm_geometry *g, uint64_t size, uint64_t data_phys,
                             uint64_t meta_phys);

static inline uint64_t csm_geo_blocks(const struct csm_geometry *g, uint64_t size)
{
	return (size + g->block_size - 1) >> g->block_shift;
}

static inline uint64_t csm_geo_groups(const struct csm_geometry *g, uint64_t size)
{
	uint64_t b = csm_geo_blocks(g, size);
	return (b + g->per_group - 1) / g->per_group;
}

static inline uint64_t csm_geo_group_of(const struct csm_geometry *g, uint64_t lblock)
{
	return lblock / g->per_group;
}

static inline uint32_t csm_geo_index_of(const struct csm_geometry *g, uint64_t lblock)
{
	return (uint32_t)(lblock % g->per_group);
}

/* Physical offset of logical block `lblock` in the data store. */
static inline uint64_t csm_geo_data_offset(const struct csm_geometry *g, uint64_t lblock)
{
	if (g->layout == CSM_LAYOUT_SEPARATE)
		return lblock << g->block_shift;
	if (g->aligned) {
		uint64_t seg = lblock / g->seg_blocks;
		uint64_t j = lblock % g->seg_blocks;
		return seg * g->seg_stride + CSM_ALIGN_ZONE + (j << g->block_shift);
	}
	uint64_t grp = lblock / g->per_group;
	uint64_t idx = lblock % g->per_group;
	return g->header_size + grp * g->group_stride + ((2 + idx) << g->block_shift);
}

/* Physical offset of brother `slot` (0 = A, 1 = B) of `group` in the
 * metadata store. */
static inline uint64_t csm_geo_meta_offset(const struct csm_geometry *g, uint64_t group,
                                           unsigned slot)
{
	if (g->aligned) {
		uint64_t seg = group / g->seg_groups;
		uint64_t i = group % g->seg_groups;
		return seg * g->seg_stride + g->header_size + ((2 * i + slot) << g->block_shift);
	}
	return g->header_size + group * g->group_stride + ((uint64_t)slot << g->block_shift);
}

/* Group whose brothers or data cover physical offset `off` of the metadata
 * store (interleaved: the single file).  Offsets inside the header map to
 * group 0.  Aligned: the header or a zone's reserved block maps to the
 * segment's first group, the hole after a zone's brothers or after a data
 * run to the segment's last group. */
uint64_t csm_geo_group_at_meta_offset(const struct csm_geometry *g, uint64_t off);

/* Group whose data covers physical offset `off` of the data store. */
uint64_t csm_geo_group_at_data_offset(const struct csm_geometry *g, uint64_t off);

/* Physical size of each store for a given logical size.  Interleaved: both
 * are the same file, ending with the last (whole) data block.  Separate:
 * the data store is exactly `size` bytes. */
uint64_t csm_geo_data_store_size(const struct csm_geometry *g, uint64_t size);
uint64_t csm_geo_meta_store_size(const struct csm_geometry *g, uint64_t size);

/* Largest logical size that fits a store of `capacity` bytes (block
 * devices); 0 if not even the header fits. */
uint64_t csm_geo_capacity_for(const struct csm_geometry *g, uint64_t data_capacity,
                              uint64_t meta_capacity);

/* ---- the written-group record (aligned, CSM_FEAT_WGREC) --------------- */

/* One 512-byte sector per segment: bit i = group i of the segment was
 * written and its brothers were durable.  Segment 0's lies in the header
 * at 512, segment 1's at 1024; segment s >= 2's at the start of segment
 * s - 1's reserved block, (s - 1) x T.  All zero: no group recorded. */
#define CSM_REC_SIZE 512u
#define CSM_REC_MAGIC "CSMWGREC" /* 8 bytes, no terminator on disk */
enum {
	CSM_REC_OFF_MAGIC = 0,
	CSM_REC_OFF_UUID = 8,
	CSM_REC_OFF_SEGMENT = 24,
	CSM_REC_OFF_NGROUPS = 32, /* G */
	CSM_REC_OFF_RESERVED = 36,
	CSM_REC_OFF_BITMAP = 64,
	CSM_REC_BITMAP_BYTES = 256, /* room for the largest G, 2044 */
	CSM_REC_OFF_TAIL = 320,     /* zero up to the checksum */
	CSM_REC_OFF_CSUM = 508,
};

enum csm_rec_status {
	CSM_REC_EMPTY = 0, /* all zero: no group recorded */
	CSM_REC_VALID,
	CSM_REC_BAD_MAGIC,
	CSM_REC_BAD_CSUM,
	CSM_REC_BAD_UUID,    /* another file's */
	CSM_REC_BAD_SEGMENT, /* another segment's */
	CSM_REC_BAD_FIELD,   /* G, reserved bytes or spare bits */
};

const char *csm_rec_status_name(enum csm_rec_status s);

/* Physical offset of segment seg's record sector (aligned geometries). */
uint64_t csm_rec_offset(const struct csm_geometry *g, uint64_t seg);

/* Check a record sector read for segment seg. */
enum csm_rec_status csm_rec_check(const struct csm_geometry *g, const uint8_t uuid[CSM_UUID_SIZE],
                                  const uint8_t *rec, uint64_t seg);

/* A fresh record for segment seg, no group recorded (sealed). */
void csm_rec_init(const struct csm_geometry *g, const uint8_t uuid[CSM_UUID_SIZE], uint8_t *rec,
                  uint64_t seg);

/* Recompute the checksum after changing bits. */
void csm_rec_seal(uint8_t *rec);

static inline bool csm_rec_bit(const uint8_t *rec, uint64_t i)
{
	return (rec[CSM_REC_OFF_BITMAP + (i >> 3)] >> (i & 7)) & 1;
}

static inline void csm_rec_set_bit(uint8_t *rec, uint64_t i, bool on)
{
	uint8_t m = (uint8_t)(1u << (i & 7));
	if (on)
		rec[CSM_REC_OFF_BITMAP + (i >> 3)] |= m;
	else
		rec[CSM_REC_OFF_BITMAP + (i >> 3)] &= (uint8_t)~m;
}

/* ---- metadata blocks ("brothers") ------------------------------------- */

/* Layout of a metadata block header (offsets). */
enum {
	CSM_MB_OFF_MAGIC = 0,
	CSM_MB_OFF_CSUM = 4,
	CSM_MB_OFF_GENERATION = 8,
	CSM_MB_OFF_GROUP = 16,
	CSM_MB_OFF_FLAGS = 24,
	CSM_MB_OFF_NBLOCKS = 28,
	CSM_MB_OFF_RESERVED = 32, /* v1: reserved from here */
	CSM_MB_OFF_EPOCH = 32,    /* v2: superblock sequence seen by the writer */
	CSM_MB_OFF_RESERVED_V2 = 40,
};

enum csm_mb_status {
	CSM_MB_EMPTY = 0, /* all zero: never written */
	CSM_MB_VALID,
	CSM_MB_BAD_MAGIC,
	CSM_MB_BAD_CSUM,
	CSM_MB_BAD_GROUP, /* valid block, but for another group */
	CSM_MB_BAD_FIELD, /* nblocks/flags/reserved out of range */
};

const char *csm_mb_status_name(enum csm_mb_status s);

/* Check one metadata block read from group `group`'s slot.  On VALID,
 * *generation is set (0 for EMPTY). */
enum csm_mb_status csm_mb_check(const struct csm_geometry *g, const uint8_t uuid[CSM_UUID_SIZE],
                                const uint8_t *blk, uint64_t group, uint64_t *generation);

/* Start a fresh metadata block for `group` (all blocks unwritten). */
void csm_mb_init(const struct csm_geometry *g, uint8_t *blk, uint64_t group);

/* Set the generation and seal the self-checksum; call last. */
void csm_mb_seal(const struct csm_geometry *g, const uint8_t uuid[CSM_UUID_SIZE], uint8_t *blk,
                 uint64_t generation);

uint64_t csm_mb_generation(const uint8_t *blk);
/* v2 only: the epoch (superblock sequence the writer had seen stored). */
uint64_t csm_mb_epoch(const uint8_t *blk);
void csm_mb_set_epoch(uint8_t *blk, uint64_t epoch); /* before csm_mb_seal */
uint32_t csm_mb_flags(const uint8_t *blk);
void csm_mb_set_flags(uint8_t *blk, uint32_t flags); /* before csm_mb_seal */

/* Per-block state inside a metadata block. */
static inline bool csm_mb_written(const struct csm_geometry *g, const uint8_t *blk, uint32_t idx)
{
	return (blk[g->bitmap_offset + (idx >> 3)] >> (idx & 7)) & 1;
}

uint64_t csm_mb_tuple(const struct csm_geometry *g, const uint8_t *blk, uint32_t idx);
void csm_mb_set(const struct csm_geometry *g, uint8_t *blk, uint32_t idx, uint64_t csum);
void csm_mb_clear(const struct csm_geometry *g, uint8_t *blk, uint32_t idx);

/* Same state (written bit and, if written, tuple) for block idx? */
bool csm_mb_same(const struct csm_geometry *g, const uint8_t *a, const uint8_t *b, uint32_t idx);

/* ---- choosing between brothers ---------------------------------------- */

struct csm_pair {
	enum csm_mb_status status[2];
	uint64_t gen[2];
	int newer;     /* slot holding the authority; -1: both empty (fresh)
	                  or both unusable (see broken) */
	bool older_ok; /* older brother may vouch for blocks that differ */
	bool broken;   /* no valid brother although one was written */
};

/* Decide which brother rules, given both slots' check results.  Pure.
 * Rules (docs/FORMAT.md "Choosing a brother"):
 *  - the newer is the valid brother with the larger generation;
 *  - the older counts only if valid (or empty standing for generation 0)
 *    and exactly one generation behind the newer;
 *  - equal generations in two valid brothers: the newer is slot A and the
 *    older is not trusted;
 *  - no valid brother but at least one damaged: broken. */
void csm_pair_choose(struct csm_pair *p, enum csm_mb_status s0, uint64_t gen0,
                     enum csm_mb_status s1, uint64_t gen1);

/* ---- checksums -------------------------------------------------------- */

/* crc32c (Castagnoli), chained: csm_crc32c(csm_crc32c(0, a), b) ==
 * csm_crc32c(0, a||b). */
uint32_t csm_crc32c(uint32_t crc, const void *buf, size_t len);
uint32_t csm_crc32c_sw(uint32_t crc, const void *buf, size_t len);
/* The fastest the CPU offers (the one csm_crc32c uses): carry-less
 * multiplication folding with AVX-512 VPCLMULQDQ for 512 bytes and more
 * (on AMD Zen 5, each 4 KiB half folded, half in crc32 instruction streams
 * beside it: csm_crc32c_fuse), else the SSE4.2 crc32 instruction, else
 * the portable code.
 * csm_crc32c_impl() names what runs.  The narrower entry points force one
 * path (each falls back to the next one down when the CPU lacks it), so
 * tests can compare them all. */
uint32_t csm_crc32c_hw(uint32_t crc, const void *buf, size_t len);
uint32_t csm_crc32c_fold(uint32_t crc, const void *buf, size_t len);
uint32_t csm_crc32c_fuse(uint32_t crc, const void *buf, size_t len);
uint32_t csm_crc32c_sse42(uint32_t crc, const void *buf, size_t len);
bool csm_crc32c_have_fold(void);
/* Copy len bytes from src to dst (not overlapping) and return the crc of
 * what dst now holds, in one pass where the CPU allows. */
uint32_t csm_crc32c_copy(uint32_t crc, void *dst, const void *src, size_t len);
const char *csm_crc32c_impl(void);

/* The per-file hashing context: algorithm plus salt. */
struct csm_hasher {
	uint8_t algo;
	uint32_t crc_after_salt; /* crc32c of the uuid, precomputed */
	uint8_t uuid[CSM_UUID_SIZE];
};

void csm_hasher_init(struct csm_hasher *h, unsigned algo, const uint8_t uuid[CSM_UUID_SIZE]);

/* Checksum of one data block: covers the salt, the little-endian logical
 * block number and the `len` bytes of data (len = block size). */
uint64_t csm_block_csum(const struct csm_hasher *h, uint64_t lblock, const void *data, size_t len);
/* The same, of the block copied from src to dst on the way (one pass for
 * crc32c): the checksum is of dst, whatever happens to src meanwhile. */
uint64_t csm_block_csum_copy(const struct csm_hasher *h, uint64_t lblock, void *dst,
                             const void *src, size_t len);

/* True if `len` bytes are all zero. */
bool csm_is_zero(const void *buf, size_t len);

/* ---- little-endian helpers -------------------------------------------- */

static inline void csm_put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}
static inline void csm_put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline void csm_put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint32_t csm_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t csm_get_le64(const uint8_t *p)
{
	return (uint64_t)csm_get_le32(p) | (uint64_t)csm_get_le32(p + 4) << 32;
}

#ifdef __cplusplus
}
#endif
#endif
