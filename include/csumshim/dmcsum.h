/*
 * dm-csum, the seed's on-disk format (the 2009 RFC) — the pure layer.
 *
 * A second, explicitly chosen format beside csumshim's own (format.h).  It
 * has no magic number: nothing here guesses whether bytes are dm-csum; the
 * caller says so.  Byte-compatible with what the seed's code writes, not
 * with what its comments and declarations say (docs/FORMAT.md, "dm-csum
 * (the seed's format)"):
 *
 *   - 512-byte sectors.  Every group of 62 data sectors has two adjacent
 *     "imd" sectors, M1 and M2 (the brothers).
 *   - imd sector: u8 last_updated, u8 unused, u16 CRC of bytes 8..511,
 *     u32 unused; then 62 tuples of 8 bytes: u16 CRC of the data sector,
 *     u16 flags, u32 tag; then 8 spare bytes (zero), which the header CRC
 *     covers too.  The seed declares the 16- and 32-bit fields
 *     __be16/__be32 but assigns host-order values, so on x86-64 (the only
 *     place it ran) they lie little-endian on disk: so do they here.
 *   - CRC: the kernel's crc_ccitt(0, ...) — reflected polynomial 0x8408,
 *     initial 0, no final xor ("123456789" -> 0x2189).  A zero sector's CRC
 *     is 0, so zeroed data verifies against zeroed tuples.
 *   - "same" device (csumshim's interleaved layout): sector 0 reserved,
 *     group k at sector 1 + 64k: M1, M2, then its 62 data sectors.
 *     "diff" devices (separate): data sector d at sector 1 + d of the data
 *     store; group k's M1 at sector 3 + 2k of the metadata store (the
 *     seed's get_imd_sector_diff adds the reserved sector to
 *     imd_sectors_needed(d + 1) without subtracting 2, as the "same"
 *     variant does, so sectors 0-2 are unused).
 *   - Newer brother: the seed's older_imd() wrap rule on last_updated.
 *
 * Everything here is a function of its arguments: no I/O, no allocation,
 * no state.  The I/O over a storage backend is dmcsum_io.h.
 */
#ifndef CSUMSHIM_DMCSUM_H
#define CSUMSHIM_DMCSUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "csumshim/format.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CSM_DMC_SECTOR 512u
#define CSM_DMC_SECTOR_SHIFT 9u
#define CSM_DMC_PER_GROUP 62u     /* data sectors per group (SECTORS_PER_IMD) */
#define CSM_DMC_GROUP_SECTORS 64u /* "same": M1 + M2 + 62 data */
#define CSM_DMC_HDR_SIZE 8u
#define CSM_DMC_TUPLE_SIZE 8u
#define CSM_DMC_RESERVED 1u       /* reserved sectors before group 0 / data sector 0 */
#define CSM_DMC_DIFF_FIRST_IMD 3u /* "diff": group 0's M1 (see above) */
/* Largest logical size, as for csumshim's own format: every physical
 * offset stays far below 2^62. */
#define CSM_DMC_MAX_SECTORS (CSM_MAX_LOGICAL_SIZE >> CSM_DMC_SECTOR_SHIFT)
/* What mk-dm-csum writes in every pair. */
#define CSM_DMC_FRESH_M1 2u
#define CSM_DMC_FRESH_M2 1u

/* Offsets in an imd sector. */
enum {
	CSM_DMC_OFF_LAST_UPDATED = 0,
	CSM_DMC_OFF_UNUSED1 = 1,
	CSM_DMC_OFF_CRC = 2,
	CSM_DMC_OFF_UNUSED3 = 4,
	CSM_DMC_OFF_TUPLES = 8,
	CSM_DMC_OFF_SPARE = 504, /* 8 bytes after the last tuple */
};
/* Offsets in a tuple. */
enum {
	CSM_DMC_T_CRC = 0,
	CSM_DMC_T_FLAGS = 2,
	CSM_DMC_T_TAG = 4,
};

/* ---- CRC -------------------------------------------------------------- */

/* The kernel's crc_ccitt(): chained, csm_crc_ccitt(csm_crc_ccitt(0, a), b)
 * == csm_crc_ccitt(0, a||b). */
uint16_t csm_crc_ccitt(uint16_t crc, const void *buf, size_t len);

/* The tuple CRC of one 512-byte data sector. */
static inline uint16_t csm_dmc_sector_crc(const void *data)
{
	return csm_crc_ccitt(0, data, CSM_DMC_SECTOR);
}

/* ---- imd sectors ------------------------------------------------------ */

struct csm_dmc_tuple {
	uint16_t crc;
	uint16_t flags; /* never set by the seed */
	uint32_t tag;   /* never set by the seed */
};

/* A decoded imd sector. */
struct csm_dmc_imd {
	uint8_t last_updated;
	uint8_t unused1;
	uint16_t crc; /* as stored */
	uint32_t unused3;
	struct csm_dmc_tuple t[CSM_DMC_PER_GROUP];
	uint8_t spare[CSM_DMC_SECTOR - CSM_DMC_OFF_SPARE];
};

void csm_dmc_imd_decode(const uint8_t sec[CSM_DMC_SECTOR], struct csm_dmc_imd *m);
/* Encodes every field as given, crc included (see csm_dmc_imd_seal). */
void csm_dmc_imd_encode(const struct csm_dmc_imd *m, uint8_t sec[CSM_DMC_SECTOR]);

/* crc_ccitt(0) of bytes 8..511: what the header's crc field should hold. */
uint16_t csm_dmc_imd_body_crc(const uint8_t sec[CSM_DMC_SECTOR]);
/* The header crc matches the body. */
bool csm_dmc_imd_ok(const uint8_t sec[CSM_DMC_SECTOR]);
/* Store the body's crc in the header; call last. */
void csm_dmc_imd_seal(uint8_t sec[CSM_DMC_SECTOR]);

/* Fill a pair (two sectors) as mk-dm-csum does: last_updated 2 and 1,
 * everything else zero (header CRCs included: the CRC of zeros is 0). */
void csm_dmc_imd_fresh_pair(uint8_t pair[2 * CSM_DMC_SECTOR]);

static inline uint16_t csm_dmc_tuple_crc(const uint8_t *sec, unsigned idx)
{
	const uint8_t *p =
	        sec + CSM_DMC_OFF_TUPLES + (size_t)idx * CSM_DMC_TUPLE_SIZE + CSM_DMC_T_CRC;
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline void csm_dmc_set_tuple_crc(uint8_t *sec, unsigned idx, uint16_t crc)
{
	csm_put_le16(sec + CSM_DMC_OFF_TUPLES + (size_t)idx * CSM_DMC_TUPLE_SIZE + CSM_DMC_T_CRC,
	             crc);
}

/* ---- brothers --------------------------------------------------------- */

/* The seed's older_imd(): which of two last_updated counters is older.
 * 0: M1 (l1) is older; 1: M2 is older; -1: cannot tell (equal, or more
 * than one apart with neither 0).  Wrap-around: 0 counts as newer than
 * anything more than one away from it (255 -> 0 after 254 -> 255). */
int csm_dmc_older(uint8_t l1, uint8_t l2);

/* What a pair of brothers allows.  A brother counts ("ok") when its header
 * crc matches its body; every imd sector the seed's code writes does
 * (mk-dm-csum's are all zeros apart from last_updated, and crc_ccitt of
 * zeros is 0; every update recomputes it). */
struct csm_dmc_pair {
	bool ok[2];
	uint8_t lu[2]; /* last_updated as stored */
	int newer;     /* slot whose tuples an update carries forward; -1: none */
	int target;    /* slot an update overwrites; -1: updates refused */
	uint8_t next_lu;
	bool undecidable; /* both ok, and the wrap rule cannot order them */
};

/* Classify a pair (m[0] = M1, m[1] = M2).  Rules:
 *  - both ok and ordered: newer by the wrap rule; the update goes over the
 *    older with last_updated + 2 (the seed's rule);
 *  - both ok, not ordered: undecidable, updates refused (the seed fails
 *    them with "consistency error"); reads still accept either brother;
 *  - one ok: it is the newer; the update replaces the damaged one with the
 *    ok one's last_updated + 1, which the wrap rule orders after it;
 *  - none ok: the group is broken. */
void csm_dmc_pair_choose(struct csm_dmc_pair *p, const uint8_t *m1, const uint8_t *m2);

/* Does a data sector with this CRC verify: does an ok brother hold it? */
bool csm_dmc_verifies(const struct csm_dmc_pair *p, const uint8_t *m1, const uint8_t *m2,
                      unsigned idx, uint16_t crc);

/* Start the sector an update writes over p->target: the target's header
 * (its unused fields), the newer brother's tuples — all of them, carried
 * forward so the overwritten brother never keeps stale ones (the seed kept
 * the older's) — and last_updated = p->next_lu.  The caller then sets the
 * written sectors' CRCs and seals.  p->target must be >= 0. */
void csm_dmc_update_start(const struct csm_dmc_pair *p, const uint8_t *m1, const uint8_t *m2,
                          uint8_t out[CSM_DMC_SECTOR]);

/* ---- geometry --------------------------------------------------------- */
/* `layout` is CSM_LAYOUT_INTERLEAVED ("same") or CSM_LAYOUT_SEPARATE
 * ("diff").  Sectors are 512 bytes; "logical" sectors are the dm device's. */

static inline uint64_t csm_dmc_groups(uint64_t sectors)
{
	return (sectors + CSM_DMC_PER_GROUP - 1) / CSM_DMC_PER_GROUP;
}

static inline uint64_t csm_dmc_group_of(uint64_t lsector)
{
	return lsector / CSM_DMC_PER_GROUP;
}

static inline unsigned csm_dmc_index_of(uint64_t lsector)
{
	return (unsigned)(lsector % CSM_DMC_PER_GROUP);
}

/* Physical sector of logical sector `lsector` in the data store. */
uint64_t csm_dmc_data_sector(unsigned layout, uint64_t lsector);

/* Physical sector of group `group`'s M1 in the metadata store (M2 is the
 * next one). */
uint64_t csm_dmc_imd_sector(unsigned layout, uint64_t group);

/* Sizes, in sectors, of the stores holding `sectors` logical sectors.
 * "same": one store, ending with the last data sector.  "diff": the data
 * store holds the reserved sector and the data; the metadata store ends
 * with the last pair. */
uint64_t csm_dmc_data_store_sectors(unsigned layout, uint64_t sectors);
uint64_t csm_dmc_meta_store_sectors(unsigned layout, uint64_t sectors);

/* Logical sectors that stores of the given sizes (in whole sectors) hold:
 * "same": every data sector whose group's pair fits before it; "diff": the
 * data store's sectors after the reserved one, or fewer if the metadata
 * store cannot hold their pairs. */
uint64_t csm_dmc_capacity(unsigned layout, uint64_t data_store_sectors,
                          uint64_t meta_store_sectors);

/* How many pairs a format writes (groups 0..n-1).  "same": every pair that
 * fits whole in a store of `meta_store_sectors`, as mk-dm-csum would
 * (which also writes one that does not fit, failing on a device, when a
 * single sector is left after the last group); "diff" (no formatter in
 * the seed): one per group of `sectors`. */
uint64_t csm_dmc_pairs_for(unsigned layout, uint64_t sectors, uint64_t meta_store_sectors);

#ifdef __cplusplus
}
#endif
#endif
