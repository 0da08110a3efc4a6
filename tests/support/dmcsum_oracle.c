/*
 * The dm-csum oracle: see dmcsum_oracle.h.  Structured like the seed's
 * code on purpose (its helper names, its arithmetic, its bio split), and
 * independent of src/: if csumshim's formulas and these agree, both read
 * the seed the same way.
 */
#include "dmcsum_oracle.h"

#include <stdlib.h>
#include <string.h>

#define SECTORS_PER_IMD 62
#define RESERVED_INITIAL_SECTORS_D 1
#define RESERVED_INITIAL_SECTORS_M 1
#define HDR 8   /* struct imd_sector_header */
#define TUPLE 8 /* struct imd_tuple */

void odev_init(struct odev *d, uint64_t size, bool device)
{
	d->buf = calloc(1, size ? size : 1);
	d->size = size;
	d->device = device;
}

void odev_free(struct odev *d)
{
	free(d->buf);
	memset(d, 0, sizeof(*d));
}

uint64_t odev_pwrite(struct odev *d, const void *buf, uint64_t n, uint64_t off)
{
	if (d->device) {
		if (off >= d->size)
			return 0;
		if (n > d->size - off)
			n = d->size - off;
	} else if (off + n > d->size) {
		uint8_t *b = realloc(d->buf, off + n);
		if (!b)
			abort();
		memset(b + d->size, 0, off + n - d->size);
		d->buf = b;
		d->size = off + n;
	}
	memcpy(d->buf + off, buf, n);
	return n;
}

uint64_t odev_pread(const struct odev *d, void *buf, uint64_t n, uint64_t off)
{
	if (off >= d->size)
		return 0;
	if (n > d->size - off)
		n = d->size - off;
	memcpy(buf, d->buf + off, n);
	return n;
}

/* lib/crc-ccitt.c computes this with a table; bit by bit here. */
uint16_t oracle_crc_ccitt(uint16_t crc, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		crc ^= p[i];
		for (int b = 0; b < 8; b++)
			crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0x8408) : (uint16_t)(crc >> 1);
	}
	return crc;
}

static uint64_t div_up(uint64_t n, uint64_t d)
{
	return (n + d - 1) / d;
}

uint64_t oracle_imd_sectors_needed(uint64_t sectors)
{
	return div_up(sectors, SECTORS_PER_IMD) * 2;
}

/* ti->begin = 0 and offsets 0, as in the RFC's "csum $REALDEVICE 0". */
uint64_t oracle_map_data_sector_diff(uint64_t data)
{
	return RESERVED_INITIAL_SECTORS_D + data;
}

uint64_t oracle_map_data_sector_same(uint64_t data)
{
	return RESERVED_INITIAL_SECTORS_D + data + oracle_imd_sectors_needed(data + 1);
}

uint64_t oracle_get_imd_sector_diff(uint64_t data)
{
	return RESERVED_INITIAL_SECTORS_M + oracle_imd_sectors_needed(data + 1);
}

uint64_t oracle_get_imd_sector_same(uint64_t data)
{
	uint64_t isn = oracle_imd_sectors_needed(data + 1);
	return RESERVED_INITIAL_SECTORS_D + SECTORS_PER_IMD * ((isn - 2) / 2) + (isn - 2);
}

int oracle_older_imd(uint8_t last1, uint8_t last2)
{
	int l1 = last1, l2 = last2;
	if (abs(l1 - l2) > 1) {
		if (l1 == 0)
			return 1;
		else if (l2 == 0)
			return 0;
		return -1;
	}
	if (l1 > l2)
		return 1;
	else if (l1 < l2)
		return 0;
	return -1;
}

int oracle_mk_dm_csum_same(struct odev *dev)
{
	uint8_t buf[1024];
	memset(buf, 0, sizeof(buf));
	buf[0] = 2;   /* m1->last_updated */
	buf[512] = 1; /* m2->last_updated */
	uint64_t total_size = dev->size;
	total_size -= total_size % SECTORS_PER_IMD; /* sic: bytes, as main() does */
	uint64_t off = (uint64_t)RESERVED_INITIAL_SECTORS_D * 512;
	while (off < total_size) {
		if (odev_pwrite(dev, buf, 1024, off) != 1024)
			return -1;
		off += 1024 + (uint64_t)SECTORS_PER_IMD * 512;
	}
	return 0;
}

/* The fields the seed assigns in host order: x86-64, little-endian. */
static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* update_imd_bio(): pair = M1 and M2 as read. */
static int update_imd(uint8_t *pair, uint64_t bi_sector, unsigned n, const uint8_t *data,
                      bool fixed)
{
	uint8_t *m1 = pair, *m2 = pair + 512;
	int o = oracle_older_imd(m1[0], m2[0]);
	if (o < 0)
		return -2;
	uint8_t *older = o ? m2 : m1, *newer = o ? m1 : m2;
	if (fixed)
		memcpy(older + HDR, newer + HDR, 512 - HDR);
	uint8_t *t = older + HDR + (bi_sector % SECTORS_PER_IMD) * TUPLE;
	for (unsigned i = 0; i < n; i++) {
		put16(t, oracle_crc_ccitt(0, data + (size_t)i * 512, 512));
		t += TUPLE;
	}
	older[0] += 2;
	put16(older + 2, oracle_crc_ccitt(0, older + HDR, 512 - HDR));
	return 0;
}

static uint64_t map_data(const struct oracle *o, uint64_t s)
{
	return o->same ? oracle_map_data_sector_same(s) : oracle_map_data_sector_diff(s);
}

static uint64_t imd_of(const struct oracle *o, uint64_t s)
{
	return o->same ? oracle_get_imd_sector_same(s) : oracle_get_imd_sector_diff(s);
}

/* write_nice_bio() + write_stage1(): read the pair, update, write it
 * back whole, then the data. */
static int write_nice(struct oracle *o, uint64_t sector, unsigned n, const uint8_t *data)
{
	uint8_t pair[1024];
	memset(pair, 0, sizeof(pair));
	uint64_t imd = imd_of(o, sector) * 512;
	odev_pread(o->imd, pair, sizeof(pair), imd);
	int r = update_imd(pair, sector, n, data, o->fixed);
	if (r < 0)
		return r;
	odev_pwrite(o->imd, pair, sizeof(pair), imd);
	odev_pwrite(o->data, data, (uint64_t)n * 512, map_data(o, sector) * 512);
	return 0;
}

/* bio_is_evil(): crossing a group shows as a jump in the "same" mapping,
 * whichever arrangement is in use. */
static int is_evil(uint64_t sector, unsigned n)
{
	uint64_t first = oracle_map_data_sector_same(sector);
	uint64_t last = oracle_map_data_sector_same(sector + n - 1);
	return last - first != n - 1;
}

int oracle_write(struct oracle *o, uint64_t sector, unsigned n, const uint8_t *data)
{
	if (!is_evil(sector, n))
		return write_nice(o, sector, n, data);
	/* handle_evil_bio(): prelude, middle bios, postlude. */
	uint64_t first = sector, last = sector + n;
	uint64_t prelude = div_up(first, SECTORS_PER_IMD) * SECTORS_PER_IMD - first;
	uint64_t postlude = last - (div_up(last, SECTORS_PER_IMD) - 1) * SECTORS_PER_IMD;
	uint64_t nmiddle = ((last - postlude) - (first + prelude)) / SECTORS_PER_IMD;
	int r = 0;
	if (prelude)
		r = write_nice(o, first, (unsigned)prelude, data);
	for (uint64_t i = 0; r == 0 && i < nmiddle; i++) {
		uint64_t s = first + prelude + i * SECTORS_PER_IMD;
		r = write_nice(o, s, SECTORS_PER_IMD, data + (s - first) * 512);
	}
	if (r == 0)
		r = write_nice(o, last - postlude, (unsigned)postlude,
		               data + (last - postlude - first) * 512);
	return r;
}

/* read_nice_bio() + verify_crc(): either brother's CRC will do; the header
 * CRC is not checked (a TODO in the seed). */
static int read_nice(struct oracle *o, uint64_t sector, unsigned n, uint8_t *out, uint64_t *bad)
{
	uint8_t pair[1024];
	memset(pair, 0, sizeof(pair));
	odev_pread(o->imd, pair, sizeof(pair), imd_of(o, sector) * 512);
	memset(out, 0, (size_t)n * 512);
	odev_pread(o->data, out, (uint64_t)n * 512, map_data(o, sector) * 512);
	const uint8_t *m1t = pair + HDR + (sector % SECTORS_PER_IMD) * TUPLE;
	const uint8_t *m2t = pair + 512 + HDR + (sector % SECTORS_PER_IMD) * TUPLE;
	for (unsigned i = 0; i < n; i++) {
		uint16_t crc = oracle_crc_ccitt(0, out + (size_t)i * 512, 512);
		if (get16(m1t) != crc && get16(m2t) != crc) {
			*bad = sector + i;
			return -5;
		}
		m1t += TUPLE;
		m2t += TUPLE;
	}
	return 0;
}

int oracle_read(struct oracle *o, uint64_t sector, unsigned n, uint8_t *out, uint64_t *bad)
{
	/* Group by group, as the evil-bio split does. */
	while (n) {
		unsigned k = SECTORS_PER_IMD - (unsigned)(sector % SECTORS_PER_IMD);
		if (k > n)
			k = n;
		int r = read_nice(o, sector, k, out, bad);
		if (r < 0)
			return r;
		sector += k;
		out += (size_t)k * 512;
		n -= k;
	}
	return 0;
}
