/* crc32c against published vectors, hardware against portable code,
 * block checksums bound to salt and block number, zero detection, copying
 * checksums of a buffer that changes meanwhile.
 *
 * `test_checksum` runs everything but the folding path's own checks and
 * exits 77 (skipped) after them on a CPU without SSE4.2; `test_checksum
 * fold` runs the folding path and the fused one (folding beside crc32
 * streams, chosen on AMD Zen 5) against the portable code and exits 77 on a CPU
 * without AVX-512 VPCLMULQDQ, where csm_crc32c_fold() and
 * csm_crc32c_fuse() would quietly run the SSE4.2 code instead. */
#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "csumshim/format.h"
#include "testlib.h"

/* A buffer other threads keep changing, as a program may change a buffer
 * while write(2) copies it. */
struct scribbler {
	_Atomic uint8_t *buf;
	size_t len;
	_Atomic bool stop;
};

static void *scribble(void *arg)
{
	struct scribbler *s = arg;
	uint8_t v = 0;
	while (!atomic_load_explicit(&s->stop, memory_order_relaxed))
		for (size_t i = 0; i < s->len; i += 8)
			atomic_store_explicit(&s->buf[i], v++, memory_order_relaxed);
	return NULL;
}

/* Copy-and-hash must return the checksum of what it stored, whatever the
 * source does meanwhile: hashing one content and storing another is a
 * false mismatch on the next read.  gcc 12 folded one of the loop's loads
 * into the fold instruction and loaded the same 64 bytes again for the
 * store; with a source 16 bytes off a cache line this failed within a few
 * thousand copies (test_threads' changing-buffer test failed the same way,
 * now and then). */
static void copy_of_changing_buffer(unsigned long copies)
{
	/* 16 bytes off a cache line, as malloc'ed buffers often are: each
	 * 64-byte load then spans two lines, which widens the window. */
	static _Alignas(64) _Atomic uint8_t area[8192 + 64];
	_Atomic uint8_t *src = area + 16;
	static uint8_t out[8192];
	struct scribbler s = {.buf = area, .len = sizeof(area)};
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		CHECK(pthread_create(&th[i], NULL, scribble, &s) == 0);
	uint8_t u[16] = {9};
	static const size_t lens[] = {4096, 512, 8192, 1000, 4096 + 13, 77};
	unsigned long checked = 0;
	for (unsigned algo = CSM_ALGO_CRC32C; algo <= CSM_ALGO_XXH3; algo++) {
		struct csm_hasher h;
		csm_hasher_init(&h, algo, u);
		for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
			size_t len = lens[k];
			/* Most of the copies on a block of the common size. */
			unsigned long n =
			        len == 4096 && algo == CSM_ALGO_CRC32C ? copies : copies / 20;
			for (unsigned long i = 0; i < n; i++, checked++) {
				uint64_t c =
				        csm_block_csum_copy(&h, 3, out, (const void *)src, len);
				CHECK(c == csm_block_csum(&h, 3, out, len),
				      "algo %u len %zu: checksum of other bytes than those stored "
				      "(copy %lu)",
				      algo, len, i);
				if (algo == CSM_ALGO_CRC32C) {
					uint32_t r =
					        csm_crc32c_copy(5, out, (const void *)src, len);
					CHECK(r == csm_crc32c_sw(5, out, len),
					      "crc32c copy len %zu: crc of other bytes (copy %lu)",
					      len, i);
				}
			}
		}
	}
	atomic_store(&s.stop, true);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	printf("copy-and-hash of a changing buffer: %lu copies, each checksum that of the bytes "
	       "stored\n",
	       checked);
}

static bool cpu_has_sse42(void)
{
#if defined(__x86_64__)
	return __builtin_cpu_supports("sse4.2");
#else
	return false;
#endif
}

/* The folding path (and its copying twin) against the portable code: every
 * length and misalignment past the folding threshold, random runs with
 * seeds, all-ones and all-zero buffers. */
static int fold_checks(void)
{
	if (!csm_crc32c_have_fold()) {
		printf("SKIP: this CPU has no AVX-512 VPCLMULQDQ: the folding path cannot run "
		       "(crc32c here: %s)\n",
		       csm_crc32c_impl());
		return 77;
	}
	struct rng r = {test_seed("test_checksum fold", 1)};
	static uint8_t buf[70000], dst[70000];
	rng_fill(&r, buf, sizeof(buf));
	/* Past the folding threshold (512), through several 256-byte rounds. */
	for (size_t len = 0; len <= 3400; len++)
		for (size_t mis = 0; mis < 8; mis++) {
			uint32_t want = csm_crc32c_sw(0, buf + mis, len);
			CHECK(csm_crc32c_fold(0, buf + mis, len) == want, "fold len %zu mis %zu",
			      len, mis);
			CHECK(csm_crc32c_fuse(0, buf + mis, len) == want, "fuse len %zu mis %zu",
			      len, mis);
			memset(dst, 0xa5, len + 16);
			CHECK(csm_crc32c_copy(0, dst + 8 - mis, buf + mis, len) == want &&
			              memcmp(dst + 8 - mis, buf + mis, len) == 0 &&
			              dst[8 - mis + len] == 0xa5 && dst[7 - mis] == 0xa5,
			      "fold copy len %zu mis %zu", len, mis);
		}
	for (int i = 0; i < 2000; i++) {
		size_t off = rng_below(&r, 1000), len = rng_below(&r, sizeof(buf) - 1000);
		uint32_t seed = (uint32_t)rng_next(&r);
		uint32_t want = csm_crc32c_sw(seed, buf + off, len);
		CHECK(csm_crc32c_copy(seed, dst, buf + off, len) == want &&
		              memcmp(dst, buf + off, len) == 0,
		      "fold copy len %zu", len);
		CHECK(csm_crc32c_fold(seed, buf + off, len) == want, "fold len %zu", len);
		CHECK(csm_crc32c_fuse(seed, buf + off, len) == want, "fuse len %zu", len);
	}
	/* The fused path's 4 KiB chunks: whole, several, with every tail kind
	 * after them and every misalignment of 64-byte loads. */
	for (size_t chunks = 1; chunks <= 3; chunks++)
		for (size_t tail = 0; tail <= 1100; tail += tail < 40 ? 1 : 97)
			for (size_t mis = 0; mis < 64; mis += 7) {
				size_t len = chunks * 4096 + tail;
				uint32_t seed = (uint32_t)rng_next(&r);
				CHECK(csm_crc32c_fuse(seed, buf + mis, len) ==
				              csm_crc32c_sw(seed, buf + mis, len),
				      "fuse len %zu mis %zu", len, mis);
			}
	static uint8_t ones[8192], zeros[8192];
	memset(ones, 0xff, sizeof(ones));
	CHECK(csm_crc32c_fold(0, ones, sizeof(ones)) == csm_crc32c_sw(0, ones, sizeof(ones)));
	CHECK(csm_crc32c_fold(7, zeros, sizeof(zeros)) == csm_crc32c_sw(7, zeros, sizeof(zeros)));
	CHECK(csm_crc32c_fuse(0, ones, sizeof(ones)) == csm_crc32c_sw(0, ones, sizeof(ones)));
	CHECK(csm_crc32c_fuse(7, zeros, sizeof(zeros)) == csm_crc32c_sw(7, zeros, sizeof(zeros)));
	/* A stream's word changed alone must change the crc: each of the nine
	 * parts' registers really reaches the result. */
	for (size_t at = 0; at < 4096; at += 8) {
		uint8_t blk[4096];
		memcpy(blk, buf, sizeof(blk));
		uint32_t before = csm_crc32c_fuse(0, blk, sizeof(blk));
		blk[at] ^= 1;
		CHECK(csm_crc32c_fuse(0, blk, sizeof(blk)) != before &&
		              csm_crc32c_fuse(0, blk, sizeof(blk)) ==
		                      csm_crc32c_sw(0, blk, sizeof(blk)),
		      "fuse flip at %zu", at);
	}
	printf("folding and fused paths = portable code for every length and alignment (%s)\n",
	       csm_crc32c_impl());
	printf("1 passed, 0 failed\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "fold") == 0)
		return fold_checks();
	/* Published vectors (RFC 3720 B.4 and the classic check value). */
	CHECK_EQ_U64(csm_crc32c(0, "123456789", 9), 0xE3069283u);
	CHECK_EQ_U64(csm_crc32c_sw(0, "123456789", 9), 0xE3069283u);
	uint8_t v[32];
	memset(v, 0, sizeof(v));
	CHECK_EQ_U64(csm_crc32c(0, v, 32), 0x8A9136AAu);
	memset(v, 0xff, sizeof(v));
	CHECK_EQ_U64(csm_crc32c(0, v, 32), 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		v[i] = (uint8_t)i;
	CHECK_EQ_U64(csm_crc32c(0, v, 32), 0x46DD794Eu);
	for (int i = 0; i < 32; i++)
		v[i] = (uint8_t)(31 - i);
	CHECK_EQ_U64(csm_crc32c(0, v, 32), 0x113FDB5Cu);
	CHECK_EQ_U64(csm_crc32c(0, "", 0), 0);

	/* Each hardware path == portable for every length and misalignment
	 * (lengths reach past the folding threshold, 512, with every tail
	 * length), with seeds, and chaining equals one pass. */
	struct rng r = {test_seed("test_checksum", 1)};
	static uint8_t buf[70000], dst[70000];
	rng_fill(&r, buf, sizeof(buf));
	for (size_t len = 0; len <= 1100; len++)
		for (size_t mis = 0; mis < 8; mis++) {
			uint32_t want = csm_crc32c_sw(0, buf + mis, len);
			CHECK(csm_crc32c_sse42(0, buf + mis, len) == want, "sse4.2 len %zu mis %zu",
			      len, mis);
			CHECK(csm_crc32c_hw(0, buf + mis, len) == want, "hw len %zu mis %zu", len,
			      mis);
			/* Copying: to a differently aligned place, nothing outside touched. */
			memset(dst, 0xa5, len + 16);
			CHECK(csm_crc32c_copy(0, dst + 8 - mis, buf + mis, len) == want &&
			              memcmp(dst + 8 - mis, buf + mis, len) == 0 &&
			              dst[8 - mis + len] == 0xa5 && dst[7 - mis] == 0xa5,
			      "copy len %zu mis %zu", len, mis);
		}
	for (int i = 0; i < 2000; i++) {
		size_t off = rng_below(&r, 1000), len = rng_below(&r, sizeof(buf) - 1000);
		uint32_t seed = (uint32_t)rng_next(&r);
		uint32_t want = csm_crc32c_sw(seed, buf + off, len);
		CHECK(csm_crc32c_sse42(seed, buf + off, len) == want, "sse4.2 len %zu", len);
		CHECK(csm_crc32c_copy(seed, dst, buf + off, len) == want &&
		              memcmp(dst, buf + off, len) == 0,
		      "copy len %zu", len);
		size_t cut = len ? rng_below(&r, len) : 0;
		CHECK(csm_crc32c(csm_crc32c(seed, buf + off, cut), buf + off + cut, len - cut) ==
		      csm_crc32c(seed, buf + off, len));
	}
	printf("crc32c implementation: %s (the folding path's own checks: test_checksum fold)\n",
	       csm_crc32c_impl());

	/* Block checksums: bound to block number, salt and every data bit. */
	uint8_t u1[16] = {1}, u2[16] = {2};
	for (unsigned algo = CSM_ALGO_CRC32C; algo <= CSM_ALGO_XXH3; algo++) {
		struct csm_hasher h1, h2;
		csm_hasher_init(&h1, algo, u1);
		csm_hasher_init(&h2, algo, u2);
		uint64_t c = csm_block_csum(&h1, 7, buf, 4096);
		CHECK(c == csm_block_csum(&h1, 7, buf, 4096), "deterministic");
		CHECK(c != csm_block_csum(&h1, 8, buf, 4096), "block number is hashed");
		CHECK(c != csm_block_csum(&h2, 7, buf, 4096), "salt is hashed");
		uint8_t copy[4096];
		CHECK(csm_block_csum_copy(&h1, 7, copy, buf, 4096) == c &&
		              memcmp(copy, buf, 4096) == 0,
		      "copying checksum");
		if (algo == CSM_ALGO_CRC32C) {
			/* Definition: crc32c(uuid || le64(block) || data). */
			uint8_t pre[24 + 4096];
			memcpy(pre, u1, 16);
			csm_put_le64(pre + 16, 7);
			memcpy(pre + 24, buf, 4096);
			CHECK_EQ_U64(c, csm_crc32c(0, pre, sizeof(pre)));
			CHECK(c <= UINT32_MAX);
			/* The same against the portable crc, every block size,
			 * block numbers using all eight bytes, and the copying
			 * form (the folding path hashes the number inline). */
			static const uint64_t nums[] = {0, 1, 0x0102030405060708ull,
			                                0x0fedcba987654321ull, UINT64_MAX};
			for (size_t n = 0; n < sizeof(nums) / sizeof(nums[0]); n++)
				for (size_t bs = 512; bs <= 4096; bs *= 2) {
					csm_put_le64(pre + 16, nums[n]);
					memcpy(pre + 24, buf, bs);
					uint64_t want = csm_crc32c_sw(0, pre, 24 + bs);
					CHECK_EQ_U64(csm_block_csum(&h1, nums[n], buf, bs), want);
					CHECK_EQ_U64(
					        csm_block_csum_copy(&h1, nums[n], copy, buf, bs),
					        want);
					CHECK(memcmp(copy, buf, bs) == 0);
				}
		}
		for (int bit = 0; bit < 4096 * 8; bit += 97) {
			buf[bit / 8] ^= (uint8_t)(1 << (bit % 8));
			CHECK(c != csm_block_csum(&h1, 7, buf, 4096), "bit %d", bit);
			buf[bit / 8] ^= (uint8_t)(1 << (bit % 8));
		}
	}

	/* Zero detection at every length and position. */
	static uint8_t z[5000];
	for (size_t len = 0; len < 300; len++) {
		CHECK(csm_is_zero(z, len));
		for (size_t i = 0; i < len; i++) {
			z[i] = 1;
			CHECK(!csm_is_zero(z, len), "len %zu i %zu", len, i);
			z[i] = 0;
		}
	}
	z[4999] = 0x80;
	CHECK(!csm_is_zero(z, 5000));
	copy_of_changing_buffer(env_u64("CSM_COPIES", 200000));
	if (!cpu_has_sse42()) {
		/* csm_crc32c_sse42() ran the portable code: nothing compared. */
		printf("SKIP: this CPU has no SSE4.2: the crc32 instruction path was not run\n");
		return 77;
	}
	printf("1 passed, 0 failed\n");
	return 0;
}
