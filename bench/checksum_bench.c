/*
 * Checksum micro-benchmark: GB/s of each algorithm and implementation at
 * 512 B, 4 KiB, 64 KiB and 1 MiB, buffer in cache.  Two modes: "independent"
 * calls (what hashing many blocks looks like: the CPU may overlap one call
 * with the next) and "chained" calls (each seeded with the previous result,
 * so nothing overlaps: the latency-bound figure).  Prints a table and, with
 * --csv, CSV.  Build: cmake --build build --target checksum_bench
 * Run:   build/bench/checksum_bench [--csv]
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "csumshim/format.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static volatile uint64_t sink;

static uint64_t run_sw(const void *p, size_t n, uint64_t seed)
{
	return csm_crc32c_sw((uint32_t)seed, p, n);
}

static uint64_t run_sse42(const void *p, size_t n, uint64_t seed)
{
	return csm_crc32c_sse42((uint32_t)seed, p, n);
}

static uint64_t run_fold(const void *p, size_t n, uint64_t seed)
{
	return csm_crc32c_fold((uint32_t)seed, p, n);
}

static uint64_t run_fuse(const void *p, size_t n, uint64_t seed)
{
	return csm_crc32c_fuse((uint32_t)seed, p, n);
}

static uint64_t run_xxh3(const void *p, size_t n, uint64_t seed)
{
	return XXH3_64bits_withSeed(p, n, seed);
}

static struct csm_hasher h_crc, h_xxh;

/* The block number stands in for the seed. */
static uint64_t run_block_crc(const void *p, size_t n, uint64_t seed)
{
	return csm_block_csum(&h_crc, seed, p, n);
}

static uint64_t run_block_xxh(const void *p, size_t n, uint64_t seed)
{
	return csm_block_csum(&h_xxh, seed, p, n);
}

int main(int argc, char **argv)
{
	bool csv = argc > 1 && !strcmp(argv[1], "--csv");
	static const uint8_t uuid[16] = {1, 2, 3};
	csm_hasher_init(&h_crc, CSM_ALGO_CRC32C, uuid);
	csm_hasher_init(&h_xxh, CSM_ALGO_XXH3, uuid);
	const size_t sizes[] = {512, 4096, 65536, 1 << 20};
	const struct {
		const char *name;
		uint64_t (*fn)(const void *, size_t, uint64_t);
	} impls[] = {
	        {"crc32c slicing-by-8 (portable)", run_sw},
	        {"crc32c sse4.2 (3 streams)", run_sse42},
	        {"crc32c vpclmulqdq folding", run_fold},
	        {"crc32c folding + 8 crc32 streams", run_fuse},
	        {"xxh3-64", run_xxh3},
	        {"block checksum, crc32c", run_block_crc},
	        {"block checksum, xxh3", run_block_xxh},
	};
	uint8_t *buf = aligned_alloc(4096, 1 << 20);
	if (!buf)
		return 1;
	for (size_t i = 0; i < (1 << 20); i++)
		buf[i] = (uint8_t)(i * 2654435761u >> 13);
	if (csv)
		printf("implementation,mode,bytes,gb_per_s\n");
	for (int chained = 0; chained < 2; chained++) {
		const char *mode = chained ? "chained" : "independent";
		if (!csv)
			printf("%-34s %9s %9s %9s %9s   (GB/s, best of 5)\n", mode, "512 B",
			       "4 KiB", "64 KiB", "1 MiB");
		for (size_t k = 0; k < sizeof(impls) / sizeof(impls[0]); k++) {
			if (!csv)
				printf("  %-32s", impls[k].name);
			for (size_t s = 0; s < 4; s++) {
				size_t n = sizes[s];
				size_t iters = (256u << 20) / n; /* 256 MiB per timing */
				if (k == 0)
					iters /= 8; /* the portable code is slow */
				double best = 0;
				for (int rep = 0; rep < 5; rep++) {
					double t0 = now();
					uint64_t acc = 0;
					for (size_t it = 0; it < iters; it++)
						acc = chained ? impls[k].fn(buf, n, acc)
						              : acc + impls[k].fn(buf, n, 0);
					double dt = now() - t0;
					sink = acc;
					double gbs = (double)n * (double)iters / dt / 1e9;
					if (gbs > best)
						best = gbs;
				}
				if (csv)
					printf("%s,%s,%zu,%.2f\n", impls[k].name, mode, n, best);
				else
					printf(" %9.2f", best);
			}
			if (!csv)
				printf("\n");
		}
	}
	printf("%scrc32c implementation: %s\n", csv ? "# " : "", csm_crc32c_impl());
	free(buf);
	return 0;
}
