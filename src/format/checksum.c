/*
 * Checksums: crc32c (hardware and portable), xxh3-64 via libxxhash, and the
 * per-block checksum that binds data to its file and its place.
 *
 *   block checksum = H(uuid[16] || le64(logical block number) || data)
 *
 * crc32c hashes that byte string directly.  xxh3 hashes the data with a
 * seed derived from the first 24 bytes: XXH3_64bits_withSeed(data,
 * XXH3_64bits(uuid || le64(block))).  Either way a block written at the
 * wrong offset, or copied in from another csumshim file, does not verify.
 */
#include "csumshim/format.h"

#include <pthread.h>
#include <string.h>
#include <xxhash.h>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#define CRC32C_POLY_REFLECTED 0x82F63B78u

/* ---- portable: slicing-by-8 ------------------------------------------- */

static uint32_t crc_table[8][256];
static pthread_once_t crc_table_once = PTHREAD_ONCE_INIT;

static void crc_table_build(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (CRC32C_POLY_REFLECTED & (0u - (c & 1)));
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^
			                  crc_table[0][crc_table[t - 1][i] & 0xff];
}

uint32_t csm_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&crc_table_once, crc_table_build);
	const uint8_t *p = buf;
	uint32_t c = ~crc;
	while (len && ((uintptr_t)p & 7)) {
		c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xff];
		len--;
	}
	while (len >= 8) {
		uint32_t lo = c ^ csm_get_le32(p);
		uint32_t hi = csm_get_le32(p + 4);
		c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		    crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		    crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
		    crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xff];
	return ~c;
}

/* ---- hardware: SSE4.2 crc32 instruction ------------------------------- */

#if defined(__x86_64__)
static bool have_sse42(void)
{
	return __builtin_cpu_supports("sse4.2");
}

/*
 * Three streams.  The crc32 instruction has a latency of three cycles and a
 * throughput of one per cycle, so one dependent chain uses a third of it.
 * A round feeds three interleaved chains with 256 bytes each (A, B, C),
 * then joins them: the register after A then B is shift(A) ^ B, where
 * shift() is the (linear) effect of 256 zero bytes on the register,
 * applied with four precomputed 256-entry tables.
 */
#define CRC_STRIDE ((size_t)256)
static uint32_t shift_tab[4][256];
static pthread_once_t shift_once = PTHREAD_ONCE_INIT;

static void shift_tab_build(void)
{
	pthread_once(&crc_table_once, crc_table_build);
	for (int k = 0; k < 4; k++) {
		for (uint32_t b = 0; b < 256; b++) {
			uint32_t c = b << (8 * k);
			for (size_t i = 0; i < CRC_STRIDE; i++)
				c = (c >> 8) ^ crc_table[0][c & 0xff];
			shift_tab[k][b] = c;
		}
	}
}

static inline uint64_t crc_shift(uint64_t c)
{
	return shift_tab[0][c & 0xff] ^ shift_tab[1][(c >> 8) & 0xff] ^
	       shift_tab[2][(c >> 16) & 0xff] ^ shift_tab[3][(c >> 24) & 0xff];
}

__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(uint32_t crc, const void *buf,
                                                               size_t len)
{
	const uint8_t *p = buf;
	uint64_t c = ~crc;
	while (len && ((uintptr_t)p & 7)) {
		c = _mm_crc32_u8((uint32_t)c, *p++);
		len--;
	}
	if (len >= 3 * CRC_STRIDE)
		pthread_once(&shift_once, shift_tab_build);
	while (len >= 3 * CRC_STRIDE) {
		uint64_t c1 = 0, c2 = 0;
		for (size_t i = 0; i < CRC_STRIDE; i += 8) {
			uint64_t w0, w1, w2;
			memcpy(&w0, p + i, 8);
			memcpy(&w1, p + CRC_STRIDE + i, 8);
			memcpy(&w2, p + 2 * CRC_STRIDE + i, 8);
			c = _mm_crc32_u64(c, w0);
			c1 = _mm_crc32_u64(c1, w1);
			c2 = _mm_crc32_u64(c2, w2);
		}
		c = crc_shift(crc_shift(c) ^ c1) ^ c2;
		p += 3 * CRC_STRIDE;
		len -= 3 * CRC_STRIDE;
	}
	while (len >= 32) {
		uint64_t w0, w1, w2, w3;
		memcpy(&w0, p, 8);
		memcpy(&w1, p + 8, 8);
		memcpy(&w2, p + 16, 8);
		memcpy(&w3, p + 24, 8);
		c = _mm_crc32_u64(c, w0);
		c = _mm_crc32_u64(c, w1);
		c = _mm_crc32_u64(c, w2);
		c = _mm_crc32_u64(c, w3);
		p += 32;
		len -= 32;
	}
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		c = _mm_crc32_u64(c, w);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = _mm_crc32_u8((uint32_t)c, *p++);
	return ~(uint32_t)c;
}
#endif

uint32_t csm_crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
#if defined(__x86_64__)
	if (have_sse42())
		return crc32c_sse42(crc, buf, len);
#endif
	return csm_crc32c_sw(crc, buf, len);
}

const char *csm_crc32c_impl(void)
{
#if defined(__x86_64__)
	if (have_sse42())
		return "sse4.2";
#endif
	return "slicing-by-8";
}

uint32_t csm_crc32c(uint32_t crc, const void *buf, size_t len)
{
	return csm_crc32c_hw(crc, buf, len);
}

/* ---- per-block checksums ---------------------------------------------- */

void csm_hasher_init(struct csm_hasher *h, unsigned algo, const uint8_t uuid[CSM_UUID_SIZE])
{
	h->algo = (uint8_t)algo;
	memcpy(h->uuid, uuid, CSM_UUID_SIZE);
	h->crc_after_salt = csm_crc32c(0, uuid, CSM_UUID_SIZE);
}

uint64_t csm_block_csum(const struct csm_hasher *h, uint64_t lblock, const void *data, size_t len)
{
	uint8_t le[8];
	csm_put_le64(le, lblock);
	if (h->algo == CSM_ALGO_XXH3) {
		uint8_t pre[CSM_UUID_SIZE + 8];
		memcpy(pre, h->uuid, CSM_UUID_SIZE);
		memcpy(pre + CSM_UUID_SIZE, le, 8);
		return XXH3_64bits_withSeed(data, len, XXH3_64bits(pre, sizeof(pre)));
	}
	uint32_t c = csm_crc32c(h->crc_after_salt, le, 8);
	return csm_crc32c(c, data, len);
}

bool csm_is_zero(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	if (len < 16) {
		for (size_t i = 0; i < len; i++)
			if (p[i])
				return false;
		return true;
	}
	static const uint8_t zero16[16];
	/* The first 16 bytes are zero, and every byte equals the one 16 before
	 * it: then all are zero.  memcmp runs at memory speed. */
	return memcmp(p, zero16, 16) == 0 && memcmp(p, p + 16, len - 16) == 0;
}
