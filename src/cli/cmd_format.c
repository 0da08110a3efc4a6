/*
 * csumshim format FILE|DEVICE [--size BYTES] [--block-size N]
 *     [--layout interleaved|separate] [--metadata PATH]
 *     [--checksum crc32c|xxh3] [--force]
 *
 * Refuses to overwrite a csumshim file or any non-empty file without
 * --force, validates every option before touching the disk, and removes
 * files it created if formatting fails.  A separate layout's metadata file
 * is never opened through a symbolic link and gets the data file's owner,
 * group and mode (csm_meta_open).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

int cli_format_option(struct cli_format_args *a, int opt, const char *arg)
{
	uint64_t v;
	int x;
	switch (opt) {
	case OPT_SIZE:
		if (!cli_parse_size(arg, &v)) {
			cli_err("--size: not a size: '%s' (bytes, or with K/M/G/T/P)", arg);
			return -1;
		}
		a->fo.size = v;
		a->have_size = true;
		return 1;
	case OPT_BS:
		if (!cli_parse_size(arg, &v) || !csm_block_size_valid(v)) {
			cli_err("--block-size: invalid block size '%s' (must be 512, 1024, 2048 or "
			        "4096)",
			        arg);
			return -1;
		}
		a->fo.block_size = (uint32_t)v;
		return 1;
	case OPT_LAYOUT:
		x = csm_layout_from_name(arg);
		if (x < 0) {
			cli_err("--layout: unknown layout '%s' (interleaved or separate)", arg);
			return -1;
		}
		a->fo.layout = (unsigned)x;
		return 1;
	case OPT_META:
		a->meta_path = arg;
		return 1;
	case OPT_CSUM:
		x = csm_algo_from_name(arg);
		if (x < 0) {
			cli_err("--checksum: unknown checksum algorithm '%s' (crc32c or xxh3)",
			        arg);
			return -1;
		}
		a->fo.algo = (unsigned)x;
		return 1;
	case OPT_FORCE:
		a->force = true;
		return 1;
	case OPT_FORMAT_VERSION: /* 1: an old file, for tests of upgrade */
		if (strcmp(arg, "1") != 0 && strcmp(arg, "2") != 0) {
			cli_err("--format-version: must be 1 or 2, not '%s'", arg);
			return -1;
		}
		a->fo.version = (unsigned)(arg[0] - '0');
		return 1;
	case OPT_UNALIGNED: /* v2 without aligned data runs: for tests of upgrade */
		a->fo.unaligned = true;
		return 1;
	default:
		return 0;
	}
}

/* Is this existing target safe to overwrite without --force? */
static bool check_target(const char *path, bool force)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		if (errno == ENOENT)
			return true;
		cli_err("%s: %s", path, strerror(errno));
		return false;
	}
	if (S_ISDIR(st.st_mode)) {
		cli_err("%s: is a directory", path);
		return false;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		cli_err("%s: not a regular file or block device", path);
		return false;
	}
	if (force)
		return true;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		cli_err("%s: %s", path, strerror(errno));
		return false;
	}
	static uint8_t head[65536];
	ssize_t n = pread(fd, head, sizeof(head), 0);
	close(fd);
	if (n < 0) {
		cli_err("%s: %s", path, strerror(errno));
		return false;
	}
	if (csm_sb_has_magic(head, (size_t)n)) {
		cli_err("%s: already a csumshim file; use --force to reformat it", path);
		return false;
	}
	if (S_ISREG(st.st_mode) && st.st_size > 0) {
		cli_err("%s: not empty (%lld bytes); use --force to overwrite it", path,
		        (long long)st.st_size);
		return false;
	}
	if (S_ISBLK(st.st_mode) && !csm_is_zero(head, (size_t)n)) {
		cli_err("%s: device holds data; use --force to overwrite it", path);
		return false;
	}
	return true;
}

static int open_target(const char *path, bool *created)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd >= 0) {
		*created = true;
		return fd;
	}
	if (errno == EEXIST)
		fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		cli_err("%s: %s", path, strerror(errno));
	return fd;
}

void cli_remove_created(const char *path, const struct cli_format_args *a)
{
	unlink(path);
	if (a->meta_path)
		unlink(a->meta_path);
}

int cli_do_format(struct cli_format_args *a, const char *path, bool *created)
{
	bool sep = a->fo.layout == CSM_LAYOUT_SEPARATE;
	*created = false;
	if (a->meta_path && !sep) {
		cli_err("--metadata is only for --layout separate");
		return EXIT_ERR;
	}
	char *defmeta = NULL;
	if (sep && !a->meta_path) {
		defmeta = cli_default_meta_path(path);
		a->meta_path = defmeta;
	}
	if (!check_target(path, a->force) || (sep && !check_target(a->meta_path, a->force)))
		return EXIT_ERR;

	bool c1 = false, c2 = false;
	int dfd = open_target(path, &c1);
	if (dfd < 0)
		return EXIT_ERR;
	int mfd = dfd;
	if (sep) {
		char why[256];
		mfd = csm_meta_open(a->meta_path, dfd, O_RDWR | O_CREAT, &c2, why, sizeof(why));
		if (mfd < 0) {
			cli_err("%s: %s", a->meta_path, why);
			close(dfd);
			if (c1)
				unlink(path);
			return EXIT_ERR;
		}
	}
	struct csm_backend be;
	int rc = csm_backend_posix(&be, dfd, mfd, true, NULL);
	char err[256] = "";
	if (rc < 0) {
		snprintf(err, sizeof(err), "%s", strerror(-rc));
		close(dfd);
		if (mfd != dfd)
			close(mfd);
	} else {
		a->fo.use_capacity = !be.resizable && !a->have_size;
		rc = (a->formatter ? a->formatter : csm_format)(&be, &a->fo, err, sizeof(err));
		csm_backend_destroy(&be);
	}
	if (rc < 0) {
		cli_err("%s: %s", path, err);
		if (c1)
			unlink(path);
		if (c2)
			unlink(a->meta_path);
		return EXIT_ERR;
	}
	*created = c1;
	return EXIT_OK;
}

int cmd_format(int argc, char **argv)
{
	static const struct option longopts[] = {FORMAT_LONGOPTS, {NULL, 0, NULL, 0}};
	struct cli_format_args a;
	memset(&a, 0, sizeof(a));
	int opt;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		int r = cli_format_option(&a, opt, optarg);
		if (r < 0)
			return EXIT_ERR;
		if (r == 0) {
			cli_err("format: usage: csumshim format FILE [--size BYTES] [--block-size "
			        "N] "
			        "[--layout interleaved|separate] [--metadata PATH] "
			        "[--checksum crc32c|xxh3] [--force]");
			return EXIT_ERR;
		}
	}
	if (optind != argc - 1) {
		cli_err("format: expected exactly one FILE or DEVICE");
		return EXIT_ERR;
	}
	const char *path = argv[optind];
	bool created;
	int rc = cli_do_format(&a, path, &created);
	if (rc != EXIT_OK)
		return rc;
	struct cli_file f;
	struct cli_open_opts oo = {.meta_path = a.meta_path};
	rc = cli_open(&f, path, &oo);
	if (rc != EXIT_OK)
		return rc;
	const struct csm_super *sb = csm_superblock(f.e);
	printf("formatted %s: %llu bytes, %u-byte blocks, %s, %s layout%s%s\n", path,
	       (unsigned long long)sb->logical_size, sb->block_size, csm_algo_name(sb->algo),
	       csm_layout_name(sb->layout), f.meta_path ? ", metadata in " : "",
	       f.meta_path ? f.meta_path : "");
	return cli_close(&f);
}
