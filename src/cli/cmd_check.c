/*
 * csumshim check FILE [--json] [--metadata-file PATH]
 *
 * Scrubs every block: prints each bad block with its byte range, each
 * damaged metadata block, and a summary.  Exit 0 clean, 1 bad blocks or
 * metadata found, 2 error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

void cli_json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

int cmd_check(int argc, char **argv)
{
	bool json = false;
	const char *meta;
	const struct cli_flag flags[] = {{"json", &json}, {NULL, NULL}};
	const char *path =
	        cli_file_args(argc, argv, "check",
	                      "csumshim check FILE [--json] [--metadata-file PATH]", flags, &meta);
	if (!path)
		return EXIT_ERR;
	struct cli_events ev = {.collect = json};
	struct cli_open_opts oo = {.meta_path = meta,
	                           .engine = {.report = cli_event, .report_arg = &ev}};
	struct cli_file f;
	int rc = cli_open(&f, path, &oo);
	if (rc != EXIT_OK)
		return rc;
	const struct csm_super *sb = csm_superblock(f.e);
	ev.block_size = sb->block_size;
	ev.size = sb->logical_size;
	ev.per_group = sb->per_group;

	struct cli_progress prog;
	cli_progress_init(&prog, "checking", sb->logical_size);
	struct csm_scrub_result res;
	int sr = csm_scrub(f.e, cli_progress, &prog, &res);
	int serr = errno;
	cli_progress_end(&prog);
	if (sr < 0) {
		cli_err("%s: check failed: %s", f.path, strerror(serr));
		free(ev.ev);
		cli_close(&f);
		return EXIT_ERR;
	}
	bool bad = res.bad_blocks || res.bad_meta || res.broken_groups || res.missing_blocks ||
	           res.stale_super || res.data_past_size || res.lost_groups || res.bad_records;
	if (json) {
		printf("{\"file\":");
		cli_json_str(f.path);
		printf(",\"logical_size\":%llu,\"block_size\":%u,\"blocks\":%llu,"
		       "\"blocks_written\":%llu,\"groups\":%llu,\"groups_skipped\":%llu,"
		       "\"bad_blocks\":%llu,\"bad_metadata\":%llu,\"broken_groups\":%llu,"
		       "\"missing_blocks\":%llu,\"intact_size\":%llu,\"stale_superblock\":%s,"
		       "\"lost_groups\":%llu,\"bad_records\":%llu,"
		       "\"state\":\"%s\",\"clean\":%s,\"events\":[",
		       (unsigned long long)sb->logical_size, sb->block_size,
		       (unsigned long long)res.blocks, (unsigned long long)res.blocks_written,
		       (unsigned long long)res.groups, (unsigned long long)res.groups_skipped,
		       (unsigned long long)res.bad_blocks, (unsigned long long)res.bad_meta,
		       (unsigned long long)res.broken_groups,
		       (unsigned long long)res.missing_blocks, (unsigned long long)res.intact_size,
		       res.stale_super ? "true" : "false", (unsigned long long)res.lost_groups,
		       (unsigned long long)res.bad_records, csm_state_name(sb->state),
		       bad ? "false" : "true");
		for (size_t i = 0; i < ev.n; i++) {
			const struct csm_event *e = &ev.ev[i];
			char text[256];
			cli_event_text(&ev, e, text, sizeof(text));
			printf("%s{\"kind\":\"%s\",\"group\":%llu", i ? "," : "",
			       csm_event_name(e->kind), (unsigned long long)e->group);
			if (e->kind == CSM_EV_DATA_MISMATCH ||
			    e->kind == CSM_EV_NONZERO_UNWRITTEN) {
				uint64_t start = e->lblock * sb->block_size;
				uint64_t end = start + sb->block_size;
				if (end > sb->logical_size)
					end = sb->logical_size;
				printf(",\"block\":%llu,\"offset\":%llu,\"length\":%llu",
				       (unsigned long long)e->lblock, (unsigned long long)start,
				       (unsigned long long)(end - start));
			}
			if (e->kind == CSM_EV_MISSING || e->kind == CSM_EV_LOST)
				printf(",\"block\":%llu,\"blocks\":%llu",
				       (unsigned long long)e->lblock,
				       (unsigned long long)e->nblocks);
			if (e->kind == CSM_EV_META_DAMAGED)
				printf(",\"brother\":\"%c\"", e->slot ? 'B' : 'A');
			printf(",\"message\":");
			cli_json_str(text);
			printf("}");
		}
		printf("]}\n");
	} else {
		printf("%s: %llu blocks (%llu written) in %llu groups: %llu bad blocks, %llu "
		       "damaged "
		       "metadata blocks%s\n",
		       f.path, (unsigned long long)res.blocks,
		       (unsigned long long)res.blocks_written, (unsigned long long)res.groups,
		       (unsigned long long)res.bad_blocks, (unsigned long long)res.bad_meta,
		       sb->state == CSM_STATE_UNCLEAN ? " (not closed cleanly)" : "");
		if (res.missing_blocks)
			printf("%s: lost tail: %llu blocks (bytes %llu-%llu) are missing from the "
			       "stored file\n",
			       f.path, (unsigned long long)res.missing_blocks,
			       (unsigned long long)res.intact_size,
			       (unsigned long long)sb->logical_size - 1);
		if (res.lost_groups)
			printf("%s: %llu %s written but %s metadata and data are holes now "
			       "(punched out): lost\n",
			       f.path, (unsigned long long)res.lost_groups,
			       res.lost_groups == 1 ? "group was" : "groups were",
			       res.lost_groups == 1 ? "its" : "their");
		if (res.bad_records)
			printf("%s: %llu written-group records damaged: a group punched out there "
			       "cannot be told from one never written\n",
			       f.path, (unsigned long long)res.bad_records);
		if (res.data_past_size)
			printf("%s: the data file holds %llu bytes but its metadata file describes "
			       "%llu: the metadata of another file, or data written without "
			       "csumshim\n",
			       f.path, (unsigned long long)res.data_past_size,
			       (unsigned long long)sb->logical_size);
		if (res.stale_super)
			printf("%s: the superblock is older than the metadata it describes; run "
			       "'csumshim recover %s'\n",
			       f.path, f.path);
	}
	free(ev.ev);
	rc = cli_close(&f);
	if (rc != EXIT_OK)
		return rc;
	return bad ? EXIT_BAD : EXIT_OK;
}
