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
#include <stdatomic.h>
#include <string.h>
#include <xxhash.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
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
/* What the CPU offers, decided once (hw_decide, after the functions it
 * needs): the SSE4.2 crc32 instruction, the folding below, and whether the
 * crc32 instruction runs beside it (fuse4k). */
enum { HW_UNKNOWN, HW_SW, HW_SSE42, HW_FOLD, HW_FUSE };
static _Atomic int hw_kind;
static pthread_once_t hw_once = PTHREAD_ONCE_INIT;
static void hw_decide(void);

/* Every crc call passes here: one load once decided. */
static int hw(void)
{
	int k = atomic_load_explicit(&hw_kind, memory_order_acquire);
	if (k == HW_UNKNOWN) {
		pthread_once(&hw_once, hw_decide);
		k = atomic_load_explicit(&hw_kind, memory_order_acquire);
	}
	return k;
}

static bool have_sse42(void)
{
	return hw() >= HW_SSE42;
}

/*
 * Three streams.  The crc32 instruction has a latency of three cycles and a
 * throughput of one per cycle on most cores (two on AMD's Zen 5: see the
 * fused path below), so one dependent chain uses a third of it.
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

/* One 64-bit word, little-endian as x86 stores it. */
__attribute__((target("sse4.2"))) static inline uint32_t crc32c_word(uint32_t crc, uint64_t w)
{
	return ~(uint32_t)_mm_crc32_u64(~crc, w);
}
#endif

/* ---- hardware: carry-less multiplication folding (VPCLMULQDQ) --------- *
 *
 * The buffer is read as a polynomial over GF(2); its crc is the remainder
 * modulo P (crc32c's polynomial) of the message times x^32.  A 128-bit
 * chunk X followed by D more bits of message contributes X * x^D to what
 * follows, and only X * x^D mod P matters: splitting X into its earlier and
 * later 64-bit halves H and L, that is H * (x^(D+64) mod P) + L * (x^D mod P),
 * two carry-less products of a 64-bit half by a 32-bit constant, together at
 * most 96 bits, which are XORed into the chunk D bits later.  Sixteen such
 * chunks are carried in four 512-bit registers, each chunk folded 256 bytes
 * forward per round; at the end the registers fold into one another, down
 * to a single 128-bit chunk whose crc the crc32 instruction finishes.
 *
 * In the reflected bit order crc32c uses, bit i of a 64-bit half is the
 * coefficient of x^(63-i), and the carry-less product of two such values
 * comes out as the product times x in the 128-bit reflected order — hence
 * the constants x^(D+63) and x^(D-1) instead of x^(D+64) and x^D.  They are
 * computed once, here, from the polynomial.
 */
#if defined(__x86_64__)
#define VPCLMUL_TARGET __attribute__((target("avx512f,avx512vl,avx512bw,vpclmulqdq,pclmul,sse4.2")))

static bool have_fold(void)
{
	return hw() >= HW_FOLD;
}

/* x^e mod P as a reflected 64-bit operand: coefficient of x^j at bit 63-j. */
static uint64_t xpow_mod_reflected(unsigned e)
{
	uint64_t r = 1; /* coefficient of x^j at bit j */
	for (unsigned i = 0; i < e; i++) {
		r <<= 1;
		if (r & ((uint64_t)1 << 32))
			r ^= 0x11EDC6F41ull; /* P, with its x^32 term */
	}
	uint64_t out = 0;
	for (int j = 0; j < 32; j++)
		if ((r >> j) & 1)
			out |= (uint64_t)1 << (63 - j);
	return out;
}

/* For folding distances of 16, 64 and 256 bytes: {x^(D+63), x^(D-1)} mod P,
 * the multipliers of the earlier and the later half of a chunk.  Built by
 * hw_decide before it publishes a folding kind. */
static uint64_t fold_k[3][2];
/* For moving a crc register 256 x m bytes on (fuse4k), m = 1..8. */
static uint64_t shift_k[9];

static void fold_build(void)
{
	static const unsigned dist[3] = {16, 64, 256};
	for (int i = 0; i < 3; i++) {
		fold_k[i][0] = xpow_mod_reflected(8 * dist[i] + 63);
		fold_k[i][1] = xpow_mod_reflected(8 * dist[i] - 1);
	}
	for (unsigned m = 1; m <= 8; m++)
		shift_k[m] = xpow_mod_reflected(8 * 256 * m - 33) >> 32;
}

VPCLMUL_TARGET static inline __m512i fold512(__m512i v, __m512i k, __m512i next)
{
	__m512i a = _mm512_clmulepi64_epi128(v, k, 0x00);
	__m512i b = _mm512_clmulepi64_epi128(v, k, 0x11);
	return _mm512_ternarylogic_epi64(a, b, next, 0x96); /* a ^ b ^ next */
}

VPCLMUL_TARGET static inline __m128i fold128(__m128i v, __m128i k, __m128i next)
{
	__m128i a = _mm_clmulepi64_si128(v, k, 0x00);
	__m128i b = _mm_clmulepi64_si128(v, k, 0x11);
	return _mm_ternarylogic_epi64(a, b, next, 0x96);
}

VPCLMUL_TARGET static inline __m512i kvec(int i)
{
	return _mm512_broadcast_i32x4(
	        _mm_set_epi64x((long long)fold_k[i][1], (long long)fold_k[i][0]));
}

/* Four registers' worth of chunks folded into the last one, 64 bytes on. */
VPCLMUL_TARGET static inline __m512i join4(__m512i a0, __m512i a1, __m512i a2, __m512i a3,
                                           __m512i k64)
{
	a1 = fold512(a0, k64, a1);
	a2 = fold512(a1, k64, a2);
	return fold512(a2, k64, a3);
}

/* One register's four 128-bit chunks folded into one, 16 bytes on. */
VPCLMUL_TARGET static inline __m128i to128(__m512i a, __m128i k16)
{
	__m128i x = _mm512_extracti32x4_epi32(a, 0);
	x = fold128(x, k16, _mm512_extracti32x4_epi32(a, 1));
	x = fold128(x, k16, _mm512_extracti32x4_epi32(a, 2));
	return fold128(x, k16, _mm512_extracti32x4_epi32(a, 3));
}

/* Below this the setup costs more than the crc32 instruction. */
#define FOLD_MIN ((size_t)512)

/* One 64-byte load, stored to dst as well when copying. */
VPCLMUL_TARGET static inline __attribute__((always_inline)) __m512i ld64(const uint8_t *p,
                                                                         uint8_t *dst, size_t at)
{
	__m512i v = _mm512_loadu_si512(p + at);
	if (dst) {
		/* One load: the empty asm hides where v came from, so the
		 * compiler cannot load p again for the fold or the store (p may
		 * be changing under another thread; the crc must be that of the
		 * bytes stored). */
		__asm__("" : "+v"(v));
		_mm512_storeu_si512(dst + at, v);
	}
	return v;
}

/* The folding loop; with dst, every byte hashed is also stored there, from
 * the same register, so the result is the crc of what dst holds even if p
 * changes meanwhile (a program may change a buffer while writing it).
 * Inlined into both callers, so the NULL case has no stores and no tests. */
VPCLMUL_TARGET static inline __attribute__((always_inline)) uint32_t
fold_body(uint32_t crc, uint8_t *dst, const uint8_t *p, size_t len)
{
	const __m512i k256 = kvec(2), k64 = kvec(1);
	const __m128i k16 = _mm512_castsi512_si128(kvec(0));
	/* The running register joins the message: XORed into its first 32 bits. */
	__m512i a0 = _mm512_xor_si512(ld64(p, dst, 0),
	                              _mm512_zextsi128_si512(_mm_cvtsi32_si128((int)~crc)));
	__m512i a1 = ld64(p, dst, 64);
	__m512i a2 = ld64(p, dst, 128);
	__m512i a3 = ld64(p, dst, 192);
	size_t at = 256;
	while (len - at >= 256) {
		a0 = fold512(a0, k256, ld64(p, dst, at));
		a1 = fold512(a1, k256, ld64(p, dst, at + 64));
		a2 = fold512(a2, k256, ld64(p, dst, at + 128));
		a3 = fold512(a3, k256, ld64(p, dst, at + 192));
		at += 256;
	}
	a3 = join4(a0, a1, a2, a3, k64);
	while (len - at >= 64) {
		a3 = fold512(a3, k64, ld64(p, dst, at));
		at += 64;
	}
	__m128i x = to128(a3, k16);
	while (len - at >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + at));
		if (dst) {
			__asm__("" : "+v"(v)); /* one load, as in ld64 */
			_mm_storeu_si128((__m128i *)(void *)(dst + at), v);
		}
		x = fold128(x, k16, v);
		at += 16;
	}
	/* The last bytes: copied first, then hashed from the copy. */
	if (dst) {
		memcpy(dst + at, p + at, len - at);
		p = dst;
	}
	/* x now stands for the whole message so far: its crc from a zero
	 * register is the register after the message. */
	uint64_t c = _mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(x));
	c = _mm_crc32_u64(c, (uint64_t)_mm_extract_epi64(x, 1));
	for (; len - at >= 8; at += 8) {
		uint64_t w;
		memcpy(&w, p + at, 8);
		c = _mm_crc32_u64(c, w);
	}
	for (; at < len; at++)
		c = _mm_crc32_u8((uint32_t)c, p[at]);
	return ~(uint32_t)c;
}

/* ---- hardware: folding with crc32 streams beside it ------------------- *
 *
 * On AMD's Zen 5 the carry-less multiplier folds about 16 bytes a
 * cycle, while the crc32 instruction (three cycles' latency) issues twice a
 * cycle on other ports: eight independent crc32 chains hash about as fast
 * as the folding, and the two run side by side.  A 4 KiB chunk is split in
 * two halves: the first is folded as above; the second is eight 256-byte
 * streams, each its own crc32 chain from a zero register, fed one 8-byte
 * word each between the folding rounds.
 *
 * crc is linear: the register after the chunk is the XOR of what each
 * part alone leaves, each moved to the chunk's end — multiplied by
 * x^(8 x bytes after it) mod P.  A 32-bit register R moves n bytes on as
 * crc32(0, R * (x^(8n-33) mod P)): the carry-less product, 63 bits in the
 * reflected order (one bit off, as above), and the crc32 instruction's
 * own x^32 and reduction.  The products are XORed before that one crc32.
 */
#define FUSE ((size_t)4096)
#define FUSE_HALF (FUSE / 2)
#define FUSE_STREAM (FUSE_HALF / 8)

VPCLMUL_TARGET static inline uint64_t word(const uint8_t *p)
{
	uint64_t w;
	memcpy(&w, p, 8);
	return w;
}

VPCLMUL_TARGET static inline __m128i moved(uint64_t reg, unsigned m)
{
	return _mm_clmulepi64_si128(_mm_cvtsi64_si128((long long)reg),
	                            _mm_cvtsi64_si128((long long)shift_k[m]), 0x00);
}

/* The register after 4 KiB at p from register ~crc; returns its complement,
 * like every crc entry point here. */
VPCLMUL_TARGET static uint32_t fuse4k(uint32_t crc, const uint8_t *p)
{
	const __m512i k256 = kvec(2), k64 = kvec(1);
	const __m128i k16 = _mm512_castsi512_si128(kvec(0));
	const uint8_t *q = p + FUSE_HALF;
	uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
	__m512i a0 = _mm512_xor_si512(_mm512_loadu_si512(p),
	                              _mm512_zextsi128_si512(_mm_cvtsi32_si128((int)~crc)));
	__m512i a1 = _mm512_loadu_si512(p + 64);
	__m512i a2 = _mm512_loadu_si512(p + 128);
	__m512i a3 = _mm512_loadu_si512(p + 192);
	/* Unrolled: every load's offset a constant, no round counter. */
#pragma GCC unroll 8
	for (size_t at = 0; at < FUSE_STREAM; at += 32) {
		if (at) { /* folding round at/32, beside the streams' words */
			const uint8_t *v = p + at * 8;
			a0 = fold512(a0, k256, _mm512_loadu_si512(v));
			a1 = fold512(a1, k256, _mm512_loadu_si512(v + 64));
			a2 = fold512(a2, k256, _mm512_loadu_si512(v + 128));
			a3 = fold512(a3, k256, _mm512_loadu_si512(v + 192));
		}
#pragma GCC unroll 4
		for (size_t w = at; w < at + 32; w += 8) {
			s0 = _mm_crc32_u64(s0, word(q + w));
			s1 = _mm_crc32_u64(s1, word(q + FUSE_STREAM + w));
			s2 = _mm_crc32_u64(s2, word(q + 2 * FUSE_STREAM + w));
			s3 = _mm_crc32_u64(s3, word(q + 3 * FUSE_STREAM + w));
			s4 = _mm_crc32_u64(s4, word(q + 4 * FUSE_STREAM + w));
			s5 = _mm_crc32_u64(s5, word(q + 5 * FUSE_STREAM + w));
			s6 = _mm_crc32_u64(s6, word(q + 6 * FUSE_STREAM + w));
			s7 = _mm_crc32_u64(s7, word(q + 7 * FUSE_STREAM + w));
		}
	}
	__m128i x = to128(join4(a0, a1, a2, a3, k64), k16);
	uint64_t c = _mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(x));
	c = _mm_crc32_u64(c, (uint64_t)_mm_extract_epi64(x, 1));
	/* The folded half moves 2 KiB on, stream i (7 - i) x 256 bytes. */
	__m128i m = _mm_xor_si128(moved(c, 8), moved(s0, 7));
	m = _mm_ternarylogic_epi64(m, moved(s1, 6), moved(s2, 5), 0x96);
	m = _mm_ternarylogic_epi64(m, moved(s3, 4), moved(s4, 3), 0x96);
	m = _mm_ternarylogic_epi64(m, moved(s5, 2), moved(s6, 1), 0x96);
	return ~(uint32_t)(_mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(m)) ^ s7);
}

VPCLMUL_TARGET static uint32_t crc32c_fold(uint32_t crc, const void *buf, size_t len)
{
	if (len < FOLD_MIN)
		return crc32c_sse42(crc, buf, len);
	return fold_body(crc, NULL, buf, len);
}

/* 4 KiB chunks fused, the rest folded (or, short, the crc32 instruction). */
VPCLMUL_TARGET static uint32_t crc32c_fuse(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	for (; len >= FUSE; p += FUSE, len -= FUSE)
		crc = fuse4k(crc, p);
	return len ? crc32c_fold(crc, p, len) : crc;
}

/* The crc32 instruction issuing twice a cycle was measured on AMD's family
 * 1Ah (Zen 5; BENCHMARKS.md); elsewhere — Intel's cores issue it once a
 * cycle, Zen 4 is unmeasured — the streams could slow the folding down, so
 * it runs alone. */
static bool crc32_twice_a_cycle(void)
{
	unsigned a, b, c, d;
	if (!__builtin_cpu_is("amd") || !__get_cpuid(1, &a, &b, &c, &d))
		return false;
	unsigned family = (a >> 8) & 0xf;
	if (family == 0xf)
		family += (a >> 20) & 0xff;
	return family >= 0x1a;
}

/* __builtin_cpu_init first: a crc may be asked for from a constructor that
 * runs before libgcc's own (the shim's, loaded by LD_PRELOAD). */
static void hw_decide(void)
{
	__builtin_cpu_init();
	int k = __builtin_cpu_supports("sse4.2") ? HW_SSE42 : HW_SW;
	if (k == HW_SSE42 && __builtin_cpu_supports("avx512f") &&
	    __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
	    __builtin_cpu_supports("vpclmulqdq") && __builtin_cpu_supports("pclmul")) {
		fold_build();
		k = crc32_twice_a_cycle() ? HW_FUSE : HW_FOLD;
	}
	atomic_store_explicit(&hw_kind, k, memory_order_release);
}

VPCLMUL_TARGET static uint32_t crc32c_fold_copy(uint32_t crc, void *dst, const void *src,
                                                size_t len)
{
	if (len < FOLD_MIN) {
		memcpy(dst, src, len);
		return crc32c_sse42(crc, dst, len);
	}
	return fold_body(crc, dst, src, len);
}
#endif

uint32_t csm_crc32c_sse42(uint32_t crc, const void *buf, size_t len)
{
#if defined(__x86_64__)
	if (have_sse42())
		return crc32c_sse42(crc, buf, len);
#endif
	return csm_crc32c_sw(crc, buf, len);
}

bool csm_crc32c_have_fold(void)
{
#if defined(__x86_64__)
	return have_fold();
#else
	return false;
#endif
}

uint32_t csm_crc32c_fold(uint32_t crc, const void *buf, size_t len)
{
#if defined(__x86_64__)
	if (have_fold())
		return crc32c_fold(crc, buf, len);
#endif
	return csm_crc32c_sse42(crc, buf, len);
}

uint32_t csm_crc32c_fuse(uint32_t crc, const void *buf, size_t len)
{
#if defined(__x86_64__)
	if (have_fold())
		return crc32c_fuse(crc, buf, len);
#endif
	return csm_crc32c_sse42(crc, buf, len);
}

uint32_t csm_crc32c_copy(uint32_t crc, void *dst, const void *src, size_t len)
{
#if defined(__x86_64__)
	if (have_fold())
		return crc32c_fold_copy(crc, dst, src, len);
#endif
	memcpy(dst, src, len);
	return csm_crc32c(crc, dst, len);
}

uint32_t csm_crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
#if defined(__x86_64__)
	switch (hw()) {
	case HW_FUSE:
		return crc32c_fuse(crc, buf, len);
	case HW_FOLD:
		return crc32c_fold(crc, buf, len);
	default:
		break;
	}
#endif
	return csm_crc32c_sse42(crc, buf, len);
}

const char *csm_crc32c_impl(void)
{
#if defined(__x86_64__)
	if (hw() == HW_FUSE)
		return "vpclmulqdq (avx-512 folding) beside eight crc32 streams per 4 KiB, "
		       "folding alone from 512 bytes, sse4.2 below";
	if (have_fold())
		return "vpclmulqdq (avx-512 folding) from 512 bytes, sse4.2 below";
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

/* crc32c of the salt then the little-endian block number: one crc32
 * instruction where there is one (every block's checksum starts here). */
static uint32_t crc_after_block(const struct csm_hasher *h, uint64_t lblock)
{
#if defined(__x86_64__)
	if (have_sse42())
		return crc32c_word(h->crc_after_salt, lblock);
#endif
	uint8_t le[8];
	csm_put_le64(le, lblock);
	return csm_crc32c(h->crc_after_salt, le, 8);
}

uint64_t csm_block_csum(const struct csm_hasher *h, uint64_t lblock, const void *data, size_t len)
{
	if (h->algo == CSM_ALGO_XXH3) {
		uint8_t pre[CSM_UUID_SIZE + 8];
		memcpy(pre, h->uuid, CSM_UUID_SIZE);
		csm_put_le64(pre + CSM_UUID_SIZE, lblock);
		return XXH3_64bits_withSeed(data, len, XXH3_64bits(pre, sizeof(pre)));
	}
	return csm_crc32c(crc_after_block(h, lblock), data, len);
}

uint64_t csm_block_csum_copy(const struct csm_hasher *h, uint64_t lblock, void *dst,
                             const void *src, size_t len)
{
	if (h->algo == CSM_ALGO_XXH3) {
		memcpy(dst, src, len);
		return csm_block_csum(h, lblock, dst, len);
	}
	return csm_crc32c_copy(crc_after_block(h, lblock), dst, src, len);
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
