/*
 * dm-csum, the seed's format: CRC-CCITT, imd sectors, the brothers' wrap
 * rule and the two arrangements' geometry.  Pure; see dmcsum.h and
 * docs/FORMAT.md ("dm-csum (the seed's format)").
 */
#include "csumshim/dmcsum.h"

#include <string.h>

/* Reflected CRC-CCITT (polynomial 0x8408), one byte per step, as the
 * kernel's lib/crc-ccitt.c; tests/unit/test_dmcsum_format.c checks every
 * entry against a bitwise computation. */
static const uint16_t ccitt_table[256] = {
        0x0000, 0x1189, 0x2312, 0x329b, 0x4624, 0x57ad, 0x6536, 0x74bf, 0x8c48, 0x9dc1, 0xaf5a,
        0xbed3, 0xca6c, 0xdbe5, 0xe97e, 0xf8f7, 0x1081, 0x0108, 0x3393, 0x221a, 0x56a5, 0x472c,
        0x75b7, 0x643e, 0x9cc9, 0x8d40, 0xbfdb, 0xae52, 0xdaed, 0xcb64, 0xf9ff, 0xe876, 0x2102,
        0x308b, 0x0210, 0x1399, 0x6726, 0x76af, 0x4434, 0x55bd, 0xad4a, 0xbcc3, 0x8e58, 0x9fd1,
        0xeb6e, 0xfae7, 0xc87c, 0xd9f5, 0x3183, 0x200a, 0x1291, 0x0318, 0x77a7, 0x662e, 0x54b5,
        0x453c, 0xbdcb, 0xac42, 0x9ed9, 0x8f50, 0xfbef, 0xea66, 0xd8fd, 0xc974, 0x4204, 0x538d,
        0x6116, 0x709f, 0x0420, 0x15a9, 0x2732, 0x36bb, 0xce4c, 0xdfc5, 0xed5e, 0xfcd7, 0x8868,
        0x99e1, 0xab7a, 0xbaf3, 0x5285, 0x430c, 0x7197, 0x601e, 0x14a1, 0x0528, 0x37b3, 0x263a,
        0xdecd, 0xcf44, 0xfddf, 0xec56, 0x98e9, 0x8960, 0xbbfb, 0xaa72, 0x6306, 0x728f, 0x4014,
        0x519d, 0x2522, 0x34ab, 0x0630, 0x17b9, 0xef4e, 0xfec7, 0xcc5c, 0xddd5, 0xa96a, 0xb8e3,
        0x8a78, 0x9bf1, 0x7387, 0x620e, 0x5095, 0x411c, 0x35a3, 0x242a, 0x16b1, 0x0738, 0xffcf,
        0xee46, 0xdcdd, 0xcd54, 0xb9eb, 0xa862, 0x9af9, 0x8b70, 0x8408, 0x9581, 0xa71a, 0xb693,
        0xc22c, 0xd3a5, 0xe13e, 0xf0b7, 0x0840, 0x19c9, 0x2b52, 0x3adb, 0x4e64, 0x5fed, 0x6d76,
        0x7cff, 0x9489, 0x8500, 0xb79b, 0xa612, 0xd2ad, 0xc324, 0xf1bf, 0xe036, 0x18c1, 0x0948,
        0x3bd3, 0x2a5a, 0x5ee5, 0x4f6c, 0x7df7, 0x6c7e, 0xa50a, 0xb483, 0x8618, 0x9791, 0xe32e,
        0xf2a7, 0xc03c, 0xd1b5, 0x2942, 0x38cb, 0x0a50, 0x1bd9, 0x6f66, 0x7eef, 0x4c74, 0x5dfd,
        0xb58b, 0xa402, 0x9699, 0x8710, 0xf3af, 0xe226, 0xd0bd, 0xc134, 0x39c3, 0x284a, 0x1ad1,
        0x0b58, 0x7fe7, 0x6e6e, 0x5cf5, 0x4d7c, 0xc60c, 0xd785, 0xe51e, 0xf497, 0x8028, 0x91a1,
        0xa33a, 0xb2b3, 0x4a44, 0x5bcd, 0x6956, 0x78df, 0x0c60, 0x1de9, 0x2f72, 0x3efb, 0xd68d,
        0xc704, 0xf59f, 0xe416, 0x90a9, 0x8120, 0xb3bb, 0xa232, 0x5ac5, 0x4b4c, 0x79d7, 0x685e,
        0x1ce1, 0x0d68, 0x3ff3, 0x2e7a, 0xe70e, 0xf687, 0xc41c, 0xd595, 0xa12a, 0xb0a3, 0x8238,
        0x93b1, 0x6b46, 0x7acf, 0x4854, 0x59dd, 0x2d62, 0x3ceb, 0x0e70, 0x1ff9, 0xf78f, 0xe606,
        0xd49d, 0xc514, 0xb1ab, 0xa022, 0x92b9, 0x8330, 0x7bc7, 0x6a4e, 0x58d5, 0x495c, 0x3de3,
        0x2c6a, 0x1ef1, 0x0f78,
};

uint16_t csm_crc_ccitt(uint16_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len--)
		crc = (uint16_t)((crc >> 8) ^ ccitt_table[(crc ^ *p++) & 0xff]);
	return crc;
}

/* ---- imd sectors ------------------------------------------------------ */

_Static_assert(CSM_DMC_OFF_TUPLES + CSM_DMC_PER_GROUP * CSM_DMC_TUPLE_SIZE == CSM_DMC_OFF_SPARE,
               "62 tuples end where the spare bytes begin");
_Static_assert(CSM_DMC_GROUP_SECTORS == CSM_DMC_PER_GROUP + 2, "a group: M1, M2, 62 data");

static uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

void csm_dmc_imd_decode(const uint8_t sec[CSM_DMC_SECTOR], struct csm_dmc_imd *m)
{
	m->last_updated = sec[CSM_DMC_OFF_LAST_UPDATED];
	m->unused1 = sec[CSM_DMC_OFF_UNUSED1];
	m->crc = get_le16(sec + CSM_DMC_OFF_CRC);
	m->unused3 = csm_get_le32(sec + CSM_DMC_OFF_UNUSED3);
	for (unsigned i = 0; i < CSM_DMC_PER_GROUP; i++) {
		const uint8_t *t = sec + CSM_DMC_OFF_TUPLES + (size_t)i * CSM_DMC_TUPLE_SIZE;
		m->t[i].crc = get_le16(t + CSM_DMC_T_CRC);
		m->t[i].flags = get_le16(t + CSM_DMC_T_FLAGS);
		m->t[i].tag = csm_get_le32(t + CSM_DMC_T_TAG);
	}
	memcpy(m->spare, sec + CSM_DMC_OFF_SPARE, sizeof(m->spare));
}

void csm_dmc_imd_encode(const struct csm_dmc_imd *m, uint8_t sec[CSM_DMC_SECTOR])
{
	sec[CSM_DMC_OFF_LAST_UPDATED] = m->last_updated;
	sec[CSM_DMC_OFF_UNUSED1] = m->unused1;
	csm_put_le16(sec + CSM_DMC_OFF_CRC, m->crc);
	csm_put_le32(sec + CSM_DMC_OFF_UNUSED3, m->unused3);
	for (unsigned i = 0; i < CSM_DMC_PER_GROUP; i++) {
		uint8_t *t = sec + CSM_DMC_OFF_TUPLES + (size_t)i * CSM_DMC_TUPLE_SIZE;
		csm_put_le16(t + CSM_DMC_T_CRC, m->t[i].crc);
		csm_put_le16(t + CSM_DMC_T_FLAGS, m->t[i].flags);
		csm_put_le32(t + CSM_DMC_T_TAG, m->t[i].tag);
	}
	memcpy(sec + CSM_DMC_OFF_SPARE, m->spare, sizeof(m->spare));
}

uint16_t csm_dmc_imd_body_crc(const uint8_t sec[CSM_DMC_SECTOR])
{
	return csm_crc_ccitt(0, sec + CSM_DMC_HDR_SIZE, CSM_DMC_SECTOR - CSM_DMC_HDR_SIZE);
}

bool csm_dmc_imd_ok(const uint8_t sec[CSM_DMC_SECTOR])
{
	return get_le16(sec + CSM_DMC_OFF_CRC) == csm_dmc_imd_body_crc(sec);
}

void csm_dmc_imd_seal(uint8_t sec[CSM_DMC_SECTOR])
{
	csm_put_le16(sec + CSM_DMC_OFF_CRC, csm_dmc_imd_body_crc(sec));
}

void csm_dmc_imd_fresh_pair(uint8_t pair[2 * CSM_DMC_SECTOR])
{
	memset(pair, 0, (size_t)2 * CSM_DMC_SECTOR);
	pair[CSM_DMC_OFF_LAST_UPDATED] = CSM_DMC_FRESH_M1;
	pair[CSM_DMC_SECTOR + CSM_DMC_OFF_LAST_UPDATED] = CSM_DMC_FRESH_M2;
}

/* ---- brothers --------------------------------------------------------- */

int csm_dmc_older(uint8_t l1, uint8_t l2)
{
	int d = (int)l1 - (int)l2;
	if (d > 1 || d < -1) {
		/* Only a counter that wrapped to 0 is newer than a distant one. */
		if (l1 == 0)
			return 1;
		if (l2 == 0)
			return 0;
		return -1;
	}
	if (d > 0)
		return 1;
	if (d < 0)
		return 0;
	return -1;
}

void csm_dmc_pair_choose(struct csm_dmc_pair *p, const uint8_t *m1, const uint8_t *m2)
{
	const uint8_t *m[2] = {m1, m2};
	memset(p, 0, sizeof(*p));
	p->newer = p->target = -1;
	for (int i = 0; i < 2; i++) {
		p->ok[i] = csm_dmc_imd_ok(m[i]);
		p->lu[i] = m[i][CSM_DMC_OFF_LAST_UPDATED];
	}
	if (p->ok[0] && p->ok[1]) {
		int older = csm_dmc_older(p->lu[0], p->lu[1]);
		if (older < 0) {
			p->undecidable = true;
			return;
		}
		p->target = older;
		p->newer = 1 - older;
		p->next_lu = (uint8_t)(p->lu[older] + 2);
	} else if (p->ok[0] || p->ok[1]) {
		p->newer = p->ok[0] ? 0 : 1;
		p->target = 1 - p->newer;
		p->next_lu = (uint8_t)(p->lu[p->newer] + 1);
	}
}

bool csm_dmc_verifies(const struct csm_dmc_pair *p, const uint8_t *m1, const uint8_t *m2,
                      unsigned idx, uint16_t crc)
{
	return (p->ok[0] && csm_dmc_tuple_crc(m1, idx) == crc) ||
	       (p->ok[1] && csm_dmc_tuple_crc(m2, idx) == crc);
}

void csm_dmc_update_start(const struct csm_dmc_pair *p, const uint8_t *m1, const uint8_t *m2,
                          uint8_t out[CSM_DMC_SECTOR])
{
	const uint8_t *m[2] = {m1, m2};
	const uint8_t *hdr = p->ok[p->target] ? m[p->target] : m[p->newer];
	memcpy(out, hdr, CSM_DMC_HDR_SIZE);
	memcpy(out + CSM_DMC_HDR_SIZE, m[p->newer] + CSM_DMC_HDR_SIZE,
	       CSM_DMC_SECTOR - CSM_DMC_HDR_SIZE);
	out[CSM_DMC_OFF_LAST_UPDATED] = p->next_lu;
}

/* ---- geometry --------------------------------------------------------- */

uint64_t csm_dmc_data_sector(unsigned layout, uint64_t lsector)
{
	if (layout == CSM_LAYOUT_SEPARATE)
		return CSM_DMC_RESERVED + lsector;
	return CSM_DMC_RESERVED + csm_dmc_group_of(lsector) * CSM_DMC_GROUP_SECTORS + 2 +
	       csm_dmc_index_of(lsector);
}

uint64_t csm_dmc_imd_sector(unsigned layout, uint64_t group)
{
	if (layout == CSM_LAYOUT_SEPARATE)
		return CSM_DMC_DIFF_FIRST_IMD + 2 * group;
	return CSM_DMC_RESERVED + group * CSM_DMC_GROUP_SECTORS;
}

uint64_t csm_dmc_data_store_sectors(unsigned layout, uint64_t sectors)
{
	if (layout == CSM_LAYOUT_SEPARATE)
		return CSM_DMC_RESERVED + sectors;
	uint64_t rest = sectors % CSM_DMC_PER_GROUP;
	return CSM_DMC_RESERVED + sectors / CSM_DMC_PER_GROUP * CSM_DMC_GROUP_SECTORS +
	       (rest ? 2 + rest : 0);
}

uint64_t csm_dmc_meta_store_sectors(unsigned layout, uint64_t sectors)
{
	if (layout == CSM_LAYOUT_SEPARATE)
		return CSM_DMC_DIFF_FIRST_IMD + 2 * csm_dmc_groups(sectors);
	return csm_dmc_data_store_sectors(layout, sectors);
}

uint64_t csm_dmc_capacity(unsigned layout, uint64_t data_store_sectors, uint64_t meta_store_sectors)
{
	if (layout == CSM_LAYOUT_SEPARATE) {
		if (data_store_sectors <= CSM_DMC_RESERVED ||
		    meta_store_sectors < CSM_DMC_DIFF_FIRST_IMD + 2)
			return 0;
		uint64_t data = data_store_sectors - CSM_DMC_RESERVED;
		uint64_t pairs = (meta_store_sectors - CSM_DMC_DIFF_FIRST_IMD) / 2;
		if (pairs < csm_dmc_groups(data))
			data = pairs * CSM_DMC_PER_GROUP;
		return data;
	}
	if (data_store_sectors <= CSM_DMC_RESERVED)
		return 0;
	uint64_t after = data_store_sectors - CSM_DMC_RESERVED;
	uint64_t rest = after % CSM_DMC_GROUP_SECTORS;
	return after / CSM_DMC_GROUP_SECTORS * CSM_DMC_PER_GROUP + (rest > 2 ? rest - 2 : 0);
}

uint64_t csm_dmc_pairs_for(unsigned layout, uint64_t sectors, uint64_t meta_store_sectors)
{
	if (layout == CSM_LAYOUT_SEPARATE)
		return csm_dmc_groups(sectors);
	if (meta_store_sectors < CSM_DMC_RESERVED + 2)
		return 0;
	return (meta_store_sectors - CSM_DMC_RESERVED - 2) / CSM_DMC_GROUP_SECTORS + 1;
}
