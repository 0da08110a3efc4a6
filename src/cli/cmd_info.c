/*
 * csumshim info FILE [--json] [--metadata-file PATH]
 * csumshim dump FILE --group G [--metadata-file PATH]
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void uuid_str(const uint8_t *u, char out[37])
{
	static const int dash[16] = {[4] = 1, [6] = 1, [8] = 1, [10] = 1};
	char *p = out;
	for (int i = 0; i < 16; i++) {
		if (dash[i])
			*p++ = '-';
		p += sprintf(p, "%02x", u[i]);
	}
}

static const struct option common_longopts[] = {
        {"json", no_argument, NULL, OPT_JSON},
        {"metadata-file", required_argument, NULL, OPT_METAFILE},
        {"metadata", required_argument, NULL, OPT_METAFILE},
        {"group", required_argument, NULL, OPT_GROUP},
        {NULL, 0, NULL, 0},
};

int cmd_info(int argc, char **argv)
{
	bool json = false;
	const char *meta = NULL;
	int opt;
	while ((opt = getopt_long(argc, argv, "", common_longopts, NULL)) != -1) {
		if (opt == OPT_JSON) {
			json = true;
		} else if (opt == OPT_METAFILE) {
			meta = optarg;
		} else {
			cli_err("info: usage: csumshim info FILE [--json] [--metadata-file PATH]");
			return EXIT_ERR;
		}
	}
	if (optind != argc - 1) {
		cli_err("info: expected exactly one FILE");
		return EXIT_ERR;
	}
	struct cli_file f;
	struct cli_open_opts oo = {.meta_path = meta};
	int rc = cli_open(&f, argv[optind], &oo);
	if (rc != EXIT_OK)
		return rc;
	const struct csm_super *sb = csm_superblock(f.e);
	const struct csm_geometry *g = csm_geometry(f.e);
	char uuid[37];
	uuid_str(sb->uuid, uuid);
	uint64_t blocks = csm_geo_blocks(g, sb->logical_size);
	uint64_t groups = csm_geo_groups(g, sb->logical_size);
	if (json) {
		printf("{\"file\":\"%s\",\"metadata_file\":%s%s%s,\"version\":%u,\"uuid\":\"%s\","
		       "\"logical_size\":%llu,\"block_size\":%u,\"checksum\":\"%s\",\"layout\":\"%"
		       "s\",\"aligned\":%s,\"written_group_record\":%s,"
		       "\"state\":\"%s\",\"blocks\":%llu,\"blocks_per_group\":%u,\"groups\":%llu,"
		       "\"data_store_bytes\":%llu,\"metadata_store_bytes\":%llu,\"sequence\":%llu,"
		       "\"format_time\":%llu,\"shrunk_from\":%llu,\"writers\":%u}\n",
		       f.path, f.meta_path ? "\"" : "", f.meta_path ? f.meta_path : "null",
		       f.meta_path ? "\"" : "", sb->version, uuid,
		       (unsigned long long)sb->logical_size, sb->block_size,
		       csm_algo_name(sb->algo), csm_layout_name(sb->layout),
		       g->aligned ? "true" : "false", g->wgrec ? "true" : "false",
		       csm_state_name(sb->state), (unsigned long long)blocks, sb->per_group,
		       (unsigned long long)groups,
		       (unsigned long long)csm_geo_data_store_size(g, sb->logical_size),
		       (unsigned long long)csm_geo_meta_store_size(g, sb->logical_size),
		       (unsigned long long)sb->sequence, (unsigned long long)sb->format_time,
		       (unsigned long long)sb->shrunk_from, sb->writers);
	} else {
		printf("file:             %s\n", f.path);
		if (f.meta_path)
			printf("metadata file:    %s\n", f.meta_path);
		printf("format version:   %u\n", sb->version);
		printf("uuid:             %s\n", uuid);
		printf("logical size:     %llu bytes\n", (unsigned long long)sb->logical_size);
		printf("block size:       %u\n", sb->block_size);
		printf("checksum:         %s\n", csm_algo_name(sb->algo));
		printf("layout:           %s%s\n", csm_layout_name(sb->layout),
		       g->aligned ? " (aligned 2 MiB data runs)" : "");
		if (g->wgrec)
			printf("written groups:   recorded (a group punched out is reported)\n");
		printf("state:            %s\n", csm_state_name(sb->state));
		if (sb->state != CSM_STATE_CLEAN && sb->version >= 2)
			printf("writers:          %u not signed off (a process writing it, or one "
			       "that died)\n",
			       sb->writers);
		if (sb->shrunk_from)
			printf("shrunk from:      %llu bytes (a truncate whose stores are not "
			       "yet cut)\n",
			       (unsigned long long)sb->shrunk_from);
		printf("blocks:           %llu\n", (unsigned long long)blocks);
		printf("blocks per group: %u\n", sb->per_group);
		printf("groups:           %llu\n", (unsigned long long)groups);
		printf("metadata overhead: %.3f%%\n", 200.0 / sb->per_group);
	}
	return cli_close(&f);
}

static void dump_slot(const struct csm_geometry *g, const struct csm_pair *p, uint8_t *const *slot,
                      int i, uint64_t gno)
{
	const uint8_t *m = slot[i];
	printf("brother %c: %s", i ? 'B' : 'A', csm_mb_status_name(p->status[i]));
	if (p->status[i] == CSM_MB_VALID)
		printf(", generation %llu, flags 0x%x", (unsigned long long)csm_mb_generation(m),
		       csm_mb_flags(m));
	if (p->newer == i)
		printf(", newer");
	else if (p->newer >= 0)
		printf(p->older_ok ? ", older (vouches for blocks that differ)"
		                   : ", older (not trusted)");
	printf("\n");
	if (p->status[i] != CSM_MB_VALID)
		return;
	unsigned written = 0;
	for (uint32_t k = 0; k < g->per_group; k++) {
		if (!csm_mb_written(g, m, k))
			continue;
		written++;
		bool same = csm_mb_same(g, slot[0], slot[1], k);
		printf("  block %llu: %0*llx%s\n", (unsigned long long)(gno * g->per_group + k),
		       (int)g->csum_size * 2, (unsigned long long)csm_mb_tuple(g, m, k),
		       same ? "" : "  (differs from brother)");
	}
	printf("  %u of %u blocks written\n", written, g->per_group);
}

int cmd_dump(int argc, char **argv)
{
	const char *meta = NULL;
	uint64_t gno = 0;
	bool have_group = false;
	int opt;
	while ((opt = getopt_long(argc, argv, "", common_longopts, NULL)) != -1) {
		if (opt == OPT_METAFILE) {
			meta = optarg;
		} else if (opt == OPT_GROUP && cli_parse_u64(optarg, &gno)) {
			have_group = true;
		} else {
			cli_err("dump: usage: csumshim dump FILE --group G [--metadata-file PATH]");
			return EXIT_ERR;
		}
	}
	if (optind != argc - 1 || !have_group) {
		cli_err("dump: usage: csumshim dump FILE --group G [--metadata-file PATH]");
		return EXIT_ERR;
	}
	struct cli_file f;
	struct cli_open_opts oo = {.meta_path = meta};
	int rc = cli_open(&f, argv[optind], &oo);
	if (rc != EXIT_OK)
		return rc;
	const struct csm_super *sb = csm_superblock(f.e);
	const struct csm_geometry *g = csm_geometry(f.e);
	uint64_t groups = csm_geo_groups(g, sb->logical_size);
	if (gno >= groups) {
		cli_err("%s: group %llu out of range (the file has %llu groups)", f.path,
		        (unsigned long long)gno, (unsigned long long)groups);
		cli_close(&f);
		return EXIT_ERR;
	}
	uint8_t *slot[2];
	slot[0] = calloc(2, g->block_size);
	if (!slot[0]) {
		cli_err("out of memory");
		cli_close(&f);
		return EXIT_ERR;
	}
	slot[1] = slot[0] + g->block_size;
	enum csm_mb_status st[2];
	uint64_t gen[2];
	for (int i = 0; i < 2; i++) {
		ssize_t n = csm_raw_pread(f.e, CSM_META, slot[i], g->block_size,
		                          csm_geo_meta_offset(g, gno, (unsigned)i));
		if (n < 0) {
			cli_err("%s: %m", f.meta_path ? f.meta_path : f.path);
			free(slot[0]);
			cli_close(&f);
			return EXIT_ERR;
		}
		st[i] = csm_mb_check(g, sb->uuid, slot[i], gno, &gen[i]);
	}
	struct csm_pair p;
	csm_pair_choose(&p, st[0], gen[0], st[1], gen[1]);
	printf("group %llu: blocks %llu-%llu%s\n", (unsigned long long)gno,
	       (unsigned long long)(gno * g->per_group),
	       (unsigned long long)(gno * g->per_group + g->per_group - 1),
	       p.broken      ? ", BROKEN (no valid brother)"
	       : p.newer < 0 ? ", never written"
	                     : "");
	for (int i = 0; i < 2; i++)
		dump_slot(g, &p, slot, i, gno);
	free(slot[0]);
	return cli_close(&f);
}
