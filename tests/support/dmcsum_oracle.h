/*
 * Test oracle for the dm-csum format: an independent re-implementation of
 * the 2009 seed's mapping, formatting and update functions, written from
 * the RFC (docs/FORMAT.md cites it), in the seed's own arithmetic —
 * imd_sectors_needed(), map_data_sector_*(), get_imd_sector_*(),
 * older_imd(), update_imd_bio(), verify_crc(), the evil-bio split and
 * mk-dm-csum's format_same() — over in-memory devices.  Not shipped; it
 * shares no code with src/ (its CRC is bitwise, not table-driven).
 *
 * Two modes: `fixed` carries the newer brother's tuples forward before the
 * update (what csumshim writes; then bytes must match csumshim's exactly),
 * otherwise the seed's own behaviour (the older brother updated in place,
 * keeping stale tuples).
 */
#ifndef CSM_DMCSUM_ORACLE_H
#define CSM_DMCSUM_ORACLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A device or file: pwrite past the end grows a file, is cut short on a
 * device (like a block device's last sector). */
struct odev {
	uint8_t *buf;
	uint64_t size;
	bool device;
};

void odev_init(struct odev *d, uint64_t size, bool device);
void odev_free(struct odev *d);
/* Bytes written (short on a device at its end). */
uint64_t odev_pwrite(struct odev *d, const void *buf, uint64_t n, uint64_t off);
/* Bytes read (short at the end). */
uint64_t odev_pread(const struct odev *d, void *buf, uint64_t n, uint64_t off);

uint16_t oracle_crc_ccitt(uint16_t crc, const uint8_t *p, size_t len);

uint64_t oracle_imd_sectors_needed(uint64_t sectors);
uint64_t oracle_map_data_sector_same(uint64_t data);
uint64_t oracle_map_data_sector_diff(uint64_t data);
uint64_t oracle_get_imd_sector_same(uint64_t data);
uint64_t oracle_get_imd_sector_diff(uint64_t data);
/* 0: m1 older, 1: m2 older, -1: NULL (cannot tell). */
int oracle_older_imd(uint8_t l1, uint8_t l2);

/* mk-dm-csum same on a device/file of its current size: 0, or -1 where the
 * seed's tool fails (a short pwrite). */
int oracle_mk_dm_csum_same(struct odev *dev);

/* A dm target over one device ("same") or two ("diff"). */
struct oracle {
	bool same;
	bool fixed; /* carry the newer brother's tuples forward */
	struct odev *data, *imd;
};

/* A write of n sectors at dm sector `sector`: split as the seed splits
 * evil bios, each piece updating its pair and writing it back (both imd
 * sectors, 1024 bytes) before its data.  0, or -2 (consistency error: the
 * pair cannot be ordered). */
int oracle_write(struct oracle *o, uint64_t sector, unsigned n, const uint8_t *data);
/* A read: 0, or -5 (EIO) at the first sector whose CRC is in neither
 * brother; *bad receives it. */
int oracle_read(struct oracle *o, uint64_t sector, unsigned n, uint8_t *out, uint64_t *bad);

#endif
