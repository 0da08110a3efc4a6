/*
 * csumshim corrupt FILE --offset LOGICAL_BYTE [--bits K] [--seed S]
 *     [--metadata] [--metadata-file PATH]
 *
 * For test harnesses: flips K distinct bits in the stored bytes of the block
 * holding LOGICAL_BYTE, or with --metadata in that block's tuple inside one
 * of its group's brothers (the one with the larger stored generation, or
 * the one --brother names), bypassing every checksum.  The same call flips
 * the same bits back.  Prints what it flipped.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "cli.h"

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* Pick k distinct bit positions out of nbits (k <= nbits). */
static void pick_bits(uint64_t seed, uint64_t nbits, uint64_t k, uint64_t *out)
{
	uint64_t s = seed;
	for (uint64_t i = 0; i < k; i++) {
		for (;;) {
			uint64_t b = splitmix64(&s) % nbits;
			bool dup = false;
			for (uint64_t j = 0; j < i && !dup; j++)
				dup = out[j] == b;
			if (!dup) {
				out[i] = b;
				break;
			}
		}
	}
}

int cmd_corrupt(int argc, char **argv)
{
	static const struct option longopts[] = {
	        {"offset", required_argument, NULL, OPT_OFFSET},
	        {"bits", required_argument, NULL, OPT_BITS},
	        {"seed", required_argument, NULL, OPT_SEED},
	        {"metadata", no_argument, NULL, OPT_META_TARGET},
	        {"brother", required_argument, NULL, OPT_BROTHER},
	        {"metadata-file", required_argument, NULL, OPT_METAFILE},
	        {NULL, 0, NULL, 0},
	};
	static const char usage[] = "corrupt: usage: csumshim corrupt FILE --offset LOGICAL_BYTE "
	                            "[--bits K] [--seed S] [--metadata [--brother A|B]] "
	                            "[--metadata-file PATH]";
	int brother = -1;
	uint64_t offset = 0, bits = 1, seed = 0;
	bool have_off = false, have_seed = false, meta_target = false;
	const char *meta = NULL;
	int opt;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_OFFSET:
			if (!cli_parse_size(optarg, &offset)) {
				cli_err("--offset: not a byte offset: '%s'", optarg);
				return EXIT_ERR;
			}
			have_off = true;
			break;
		case OPT_BITS:
			if (!cli_parse_u64(optarg, &bits) || bits == 0) {
				cli_err("--bits: not a positive count: '%s'", optarg);
				return EXIT_ERR;
			}
			break;
		case OPT_SEED:
			if (!cli_parse_u64(optarg, &seed)) {
				cli_err("--seed: not a number: '%s'", optarg);
				return EXIT_ERR;
			}
			have_seed = true;
			break;
		case OPT_META_TARGET:
			meta_target = true;
			break;
		case OPT_BROTHER:
			if (strcmp(optarg, "A") != 0 && strcmp(optarg, "B") != 0) {
				cli_err("--brother: must be A or B, not '%s'", optarg);
				return EXIT_ERR;
			}
			brother = optarg[0] == 'B';
			meta_target = true;
			break;
		case OPT_METAFILE:
			meta = optarg;
			break;
		default:
			cli_err("%s", usage);
			return EXIT_ERR;
		}
	}
	if (optind != argc - 1 || !have_off) {
		cli_err("%s", usage);
		return EXIT_ERR;
	}
	if (!have_seed && getrandom(&seed, sizeof(seed), 0) != sizeof(seed)) {
		cli_err("getrandom: %s", strerror(errno));
		return EXIT_ERR;
	}
	struct cli_file f;
	struct cli_open_opts oo = {.meta_path = meta, .writable = true, .readonly_engine = true};
	int rc = cli_open(&f, argv[optind], &oo);
	if (rc != EXIT_OK)
		return rc;
	const struct csm_super *sb = csm_superblock(f.e);
	const struct csm_geometry *g = csm_geometry(f.e);
	if (offset >= sb->logical_size) {
		cli_err("%s: offset %llu is past the end (logical size %llu)", f.path,
		        (unsigned long long)offset, (unsigned long long)sb->logical_size);
		cli_close(&f);
		return EXIT_ERR;
	}
	uint64_t lblock = offset / g->block_size;
	uint64_t gno = csm_geo_group_of(g, lblock);
	uint32_t idx = csm_geo_index_of(g, lblock);
	enum csm_store st = CSM_DATA;
	uint64_t region_off, region_len;
	char where[96];
	if (meta_target) {
		/* The tuple of this block in the brother with the larger stored
		 * generation (slot A on a tie or a never-written group), unless
		 * --brother says.  Flipping tuple bits leaves the generation
		 * field alone, so the same call flips the same bits back. */
		unsigned which = 0;
		if (brother >= 0) {
			which = (unsigned)brother;
		} else {
			uint8_t hdr[2][16];
			for (unsigned i = 0; i < 2; i++)
				if (csm_raw_pread(f.e, CSM_META, hdr[i], 16,
				                  csm_geo_meta_offset(g, gno, i)) != 16)
					memset(hdr[i], 0, 16);
			which = csm_mb_generation(hdr[1]) > csm_mb_generation(hdr[0]) ? 1 : 0;
		}
		st = CSM_META;
		region_off = csm_geo_meta_offset(g, gno, which) + g->tuples_offset +
		             (uint64_t)idx * g->csum_size;
		region_len = g->csum_size;
		snprintf(where, sizeof(where),
		         "metadata block %c of group %llu (tuple of block %llu)", which ? 'B' : 'A',
		         (unsigned long long)gno, (unsigned long long)lblock);
	} else {
		region_off = csm_geo_data_offset(g, lblock);
		region_len = g->block_size;
		if (lblock * g->block_size + region_len > sb->logical_size)
			region_len = sb->logical_size - lblock * g->block_size;
		snprintf(where, sizeof(where), "data of block %llu", (unsigned long long)lblock);
	}
	if (bits > region_len * 8) {
		cli_err("--bits %llu: the target holds only %llu bits", (unsigned long long)bits,
		        (unsigned long long)(region_len * 8));
		cli_close(&f);
		return EXIT_ERR;
	}
	uint8_t *buf = calloc(1, region_len);
	uint64_t *pos = calloc(bits, sizeof(*pos));
	if (!buf || !pos) {
		cli_err("out of memory");
		free(buf);
		free(pos);
		cli_close(&f);
		return EXIT_ERR;
	}
	rc = EXIT_OK;
	ssize_t n = csm_raw_pread(f.e, st, buf, region_len, region_off);
	if (n < 0) {
		cli_err("%s: read: %s", f.path, strerror(errno));
		rc = EXIT_ERR;
	} else {
		pick_bits(seed, region_len * 8, bits, pos);
		for (uint64_t i = 0; i < bits; i++)
			buf[pos[i] / 8] ^= (uint8_t)(1u << (pos[i] % 8));
		if (csm_raw_pwrite(f.e, st, buf, region_len, region_off) != (ssize_t)region_len) {
			cli_err("%s: write: %s", f.path, strerror(errno));
			rc = EXIT_ERR;
		} else {
			printf("flipped %llu bit%s in %s (seed %llu):", (unsigned long long)bits,
			       bits == 1 ? "" : "s", where, (unsigned long long)seed);
			for (uint64_t i = 0; i < bits; i++)
				printf(" %llu:%llu", (unsigned long long)(region_off + pos[i] / 8),
				       (unsigned long long)(pos[i] % 8));
			printf("\n");
		}
	}
	free(buf);
	free(pos);
	int crc = cli_close(&f);
	return rc != EXIT_OK ? rc : crc;
}
