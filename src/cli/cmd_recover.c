/*
 * csumshim recover FILE [--metadata-file PATH]
 *
 * Recovery after an unclean shutdown (a crash or power cut while the file
 * was open for writing), the same the library runs by itself at the first
 * open: every group marked dirty is re-checked against its data.  Prints
 * each block that could not be verified and a summary.  Exit 0 when every
 * block verified, 1 when some could not be (or fail verification), 2 on
 * error (for example another process has the file open: EBUSY).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cmd_recover(int argc, char **argv)
{
	static const struct option longopts[] = {
	        {"metadata-file", required_argument, NULL, OPT_METAFILE},
	        {"metadata", required_argument, NULL, OPT_METAFILE},
	        {NULL, 0, NULL, 0},
	};
	const char *meta = NULL;
	int opt;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (opt != OPT_METAFILE) {
			cli_err("recover: usage: csumshim recover FILE [--metadata-file PATH]");
			return EXIT_ERR;
		}
		meta = optarg;
	}
	if (optind != argc - 1) {
		cli_err("recover: expected exactly one FILE");
		return EXIT_ERR;
	}
	struct cli_events ev = {0};
	struct cli_open_opts oo = {.meta_path = meta,
	                           .writable = true,
	                           .engine = {.report = cli_event, .report_arg = &ev}};
	struct cli_file f;
	int rc = cli_open(&f, argv[optind], &oo);
	if (rc != EXIT_OK)
		return rc;
	const struct csm_super *sb = csm_superblock(f.e);
	ev.block_size = sb->block_size;
	ev.size = sb->logical_size;
	bool was_unclean = sb->state == CSM_STATE_UNCLEAN;
	struct csm_recovery res;
	if (csm_recover(f.e, &res) < 0) {
		int err = errno;
		cli_err("%s: recovery failed: %s", f.path,
		        err == EBUSY ? "another process has the file open" : strerror(err));
		cli_close(&f);
		return EXIT_ERR;
	}
	printf("%s: %s; %llu of %llu groups dirty, %llu blocks re-checked: %llu verified by the "
	       "older brother, %llu could not be verified (checksum recomputed), %llu fail "
	       "verification\n",
	       f.path, was_unclean ? "was not closed cleanly" : "was closed cleanly",
	       (unsigned long long)res.dirty_groups, (unsigned long long)res.groups,
	       (unsigned long long)res.blocks_checked, (unsigned long long)res.blocks_older,
	       (unsigned long long)res.blocks_unverified, (unsigned long long)res.blocks_lost);
	rc = cli_close(&f);
	if (rc != EXIT_OK)
		return rc;
	return res.blocks_unverified || res.blocks_lost || res.rebuilt_groups ? EXIT_BAD : EXIT_OK;
}
