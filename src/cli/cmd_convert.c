/*
 * Copies between formats:
 *
 *   import  SRC DST --format dm-csum [--layout L] [--metadata PATH] [--force]
 *   export  SRC DST --format dm-csum [--layout L] [--metadata-file PATH] [--force]
 *   convert SRC DST --to dm-csum   [--layout L] [--metadata PATH]
 *                                  [--metadata-file SRCMETA] [--force]
 *   convert SRC DST --to csumshim  [--block-size N] [--checksum A] [--layout L]
 *                                  [--metadata PATH] [--source-layout L]
 *                                  [--metadata-file SRCMETA] [--force]
 *
 * convert reads every block of SRC through verification and writes DST as
 * new files beside it (DST.csumshim-convert.XXXXXX, and its metadata file's
 * likewise), renamed into place only when everything verified and was
 * synced: a failed convert leaves nothing behind and DST as it was.  As in
 * csumshim's import, zero blocks are not written: they stay never-written
 * (csumshim) or keep the fresh tuple, whose CRC 0 is a zero sector's
 * (dm-csum).  dm-csum stores whole 512-byte sectors: a size that is not a
 * multiple is padded with zeros, and the command says so.
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

#define CHUNK (1u << 20)
#define SEC CSM_DMC_SECTOR

/* One side of a copy. */
enum end_kind { END_PLAIN, END_CSUMSHIM, END_DMCSUM };

struct end {
	enum end_kind kind;
	const char *name;
	int fd;             /* END_PLAIN */
	struct cli_file cf; /* END_CSUMSHIM */
	struct cli_dmc df;  /* END_DMCSUM */
	struct cli_events ev;
};

static uint64_t end_size(const struct end *e)
{
	return e->kind == END_CSUMSHIM ? csm_size(e->cf.e) : csm_dmc_size(e->df.d);
}

/* Zero runs are skipped in whole units of the destination's blocks. */
static size_t end_unit(const struct end *e)
{
	return e->kind == END_CSUMSHIM ? csm_superblock(e->cf.e)->block_size : SEC;
}

static ssize_t end_write(struct end *e, const uint8_t *buf, size_t n, uint64_t off)
{
	return e->kind == END_CSUMSHIM ? csm_pwrite(e->cf.e, buf, n, off)
	                               : csm_dmc_pwrite(e->df.d, buf, n, off);
}

/* What verification found first, as one line's tail. */
static void end_failure(struct end *e, char *text, size_t n)
{
	text[0] = 0;
	if (e->kind == END_CSUMSHIM) {
		struct csm_stats st;
		csm_stats(e->cf.e, &st);
		if (st.first.kind)
			cli_event_text(&e->ev, &st.first, text, n);
	} else if (e->kind == END_DMCSUM) {
		struct csm_dmc_stats st;
		csm_dmc_stats(e->df.d, &st);
		if (st.first.kind)
			cli_dmc_event_text(&st.first, text, n);
	}
}

/* Read [off, off+n) of the source, verified.  Returns an exit code after
 * printing one line on failure. */
static int end_read(struct end *e, uint8_t *buf, size_t n, uint64_t off, const char *verb)
{
	if (e->kind == END_PLAIN) {
		size_t got = 0;
		int r = cli_read_full(e->fd, buf, n, off, &got);
		if (r < 0 || got != n) {
			cli_err("%s: read: %s", e->name,
			        r < 0 ? strerror(-r) : "file shrank while copying");
			return EXIT_ERR;
		}
		return EXIT_OK;
	}
	ssize_t got = e->kind == END_CSUMSHIM ? csm_pread(e->cf.e, buf, n, off)
	                                      : csm_dmc_pread(e->df.d, buf, n, off);
	if (got == (ssize_t)n)
		return EXIT_OK;
	int err = got < 0 ? errno : EIO;
	char text[256];
	end_failure(e, text, sizeof(text));
	if (err == EIO && text[0])
		cli_err("%s: cannot %s: %s", e->name, verb, text);
	else
		cli_err("%s: cannot %s: %s at byte %llu", e->name, verb, strerror(err),
		        (unsigned long long)(off + (got > 0 ? (uint64_t)got : 0)));
	return err == EIO ? EXIT_BAD : EXIT_ERR;
}

/* Write the runs of `unit`-sized pieces that are not all zero. */
static int write_nonzero(struct end *e, const uint8_t *buf, size_t n, uint64_t off)
{
	if (e->kind == END_PLAIN) {
		if (csm_is_zero(buf, n))
			return 0;
		int r = cli_write_full(e->fd, buf, n, off);
		if (r < 0)
			errno = -r;
		return r;
	}
	size_t unit = end_unit(e), i = 0;
	while (i < n) {
		size_t len = n - i < unit ? n - i : unit;
		if (csm_is_zero(buf + i, len)) {
			i += len;
			continue;
		}
		size_t j = i + len;
		while (j < n) {
			size_t l2 = n - j < unit ? n - j : unit;
			if (csm_is_zero(buf + j, l2))
				break;
			j += l2;
		}
		if (end_write(e, buf + i, j - i, off + i) != (ssize_t)(j - i))
			return -1;
		i = j;
	}
	return 0;
}

/* Copy `size` bytes; the destination may be longer (padding: zeros it
 * already reads as). */
static int copy(struct end *src, struct end *dst, uint64_t size, const char *verb)
{
	uint8_t *buf = aligned_alloc(4096, CHUNK);
	if (!buf) {
		cli_err("out of memory");
		return EXIT_ERR;
	}
	struct cli_progress prog;
	cli_progress_init(&prog, verb, size);
	int rc = EXIT_OK;
	for (uint64_t off = 0; rc == EXIT_OK && off < size; off += CHUNK) {
		size_t want = size - off < CHUNK ? (size_t)(size - off) : CHUNK;
		rc = end_read(src, buf, want, off, verb);
		if (rc == EXIT_OK && write_nonzero(dst, buf, want, off) < 0) {
			cli_err("%s: write: %s", dst->name, strerror(errno));
			rc = EXIT_ERR;
		}
		cli_progress(&prog, off + want, size);
	}
	cli_progress_end(&prog);
	free(buf);
	return rc;
}

static int open_csumshim_src(struct end *e, const char *path, const char *meta)
{
	e->kind = END_CSUMSHIM;
	e->name = path;
	struct cli_open_opts oo = {.meta_path = meta};
	int rc = cli_open(&e->cf, path, &oo);
	if (rc == EXIT_OK) {
		e->ev.block_size = csm_superblock(e->cf.e)->block_size;
		e->ev.size = csm_size(e->cf.e);
	}
	return rc;
}

static int open_dmcsum(struct end *e, const char *path, unsigned layout, const char *meta,
                       bool writable)
{
	e->kind = END_DMCSUM;
	e->name = path;
	struct cli_dmc_open_opts oo = {.layout = layout, .meta_path = meta, .writable = writable};
	return cli_dmc_open(&e->df, path, &oo);
}

static int end_sync_close(struct end *e, int rc)
{
	if (e->kind == END_CSUMSHIM) {
		if (rc == EXIT_OK && e->cf.e && csm_fsync(e->cf.e, false) < 0) {
			cli_err("%s: fsync: %s", e->name, strerror(errno));
			rc = EXIT_ERR;
		}
		int c = e->cf.e ? cli_close(&e->cf) : EXIT_OK;
		return rc == EXIT_OK ? c : rc;
	}
	if (e->kind == END_DMCSUM) {
		if (rc == EXIT_OK && e->df.d && csm_dmc_fsync(e->df.d) < 0) {
			cli_err("%s: fsync: %s", e->name, strerror(errno));
			rc = EXIT_ERR;
		}
		int c = e->df.d ? cli_dmc_close(&e->df) : EXIT_OK;
		return rc == EXIT_OK ? c : rc;
	}
	return rc;
}

static uint64_t padded(uint64_t size)
{
	return (size + SEC - 1) / SEC * SEC;
}

static void print_padding(uint64_t size)
{
	if (padded(size) != size)
		printf(" (padded with %llu zero bytes to whole 512-byte sectors)",
		       (unsigned long long)(padded(size) - size));
}

/* Options a dm-csum destination cannot take. */
static bool dmc_dest_option_ok(int opt, const char *arg)
{
	uint64_t v;
	if (opt == OPT_CSUM) {
		cli_err("--checksum: dm-csum's checksum is fixed (16-bit CRC-CCITT)");
		return false;
	}
	if (opt == OPT_BS && (!cli_parse_size(arg, &v) || v != SEC)) {
		cli_err("--block-size: dm-csum uses 512-byte sectors, not '%s'", arg);
		return false;
	}
	if (opt == OPT_SIZE) {
		cli_err("--size: the size is the source's");
		return false;
	}
	return true;
}

/* ---- import / export (dm-csum) ---------------------------------------- */

int cmd_dmc_import(int argc, char **argv)
{
	static const struct option longopts[] = {FORMAT_LONGOPTS, {NULL, 0, NULL, 0}};
	struct cli_format_args a;
	memset(&a, 0, sizeof(a));
	a.formatter = cli_dmc_formatter;
	int opt;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (!dmc_dest_option_ok(opt, optarg))
			return EXIT_ERR;
		int r = cli_format_option(&a, opt, optarg);
		if (r < 0)
			return EXIT_ERR;
		if (r == 0) {
			cli_err("import: usage: csumshim import SRC DST --format dm-csum "
			        "[--layout interleaved|separate] [--metadata PATH] [--force]");
			return EXIT_ERR;
		}
	}
	if (optind != argc - 2) {
		cli_err("import: expected SRC and DST");
		return EXIT_ERR;
	}
	const char *srcp = argv[optind], *dstp = argv[optind + 1];
	struct end src = {.kind = END_PLAIN, .name = srcp, .fd = -1}, dst = {0};
	src.fd = open(srcp, O_RDONLY | O_CLOEXEC);
	if (src.fd < 0) {
		cli_err("%s: %s", srcp, strerror(errno));
		return EXIT_ERR;
	}
	uint64_t size = 0;
	int r = csm_fd_size(NULL, src.fd, &size, NULL);
	if (r < 0 || size == 0) {
		cli_err("%s: %s", srcp,
		        r < 0 ? strerror(-r)
		              : "empty (a dm-csum device holds at least one sector)");
		close(src.fd);
		return EXIT_ERR;
	}
	a.fo.size = padded(size);
	a.have_size = true;
	bool created;
	int rc = cli_do_format(&a, dstp, &created);
	if (rc == EXIT_OK) {
		rc = open_dmcsum(&dst, dstp, a.fo.layout, a.meta_path, true);
		if (rc == EXIT_OK)
			rc = copy(&src, &dst, size, "import");
		rc = end_sync_close(&dst, rc);
		if (rc != EXIT_OK && created)
			cli_remove_created(dstp, &a);
	}
	close(src.fd);
	if (rc == EXIT_OK) {
		printf("imported %s into %s: %llu bytes", srcp, dstp, (unsigned long long)size);
		print_padding(size);
		printf("\n");
	}
	return rc;
}

/* A new empty file beside `path`, named path.csumshim-VERB.XXXXXX. */
static int make_temp(const char *path, const char *verb, char **tmp)
{
	if (asprintf(tmp, "%s.csumshim-%s.XXXXXX", path, verb) < 0) {
		*tmp = NULL;
		cli_err("out of memory");
		return -1;
	}
	int fd = mkostemp(*tmp, O_CLOEXEC);
	if (fd < 0) {
		cli_err("%s: %s", path, strerror(errno));
		free(*tmp);
		*tmp = NULL;
	}
	return fd;
}

static bool refuse_existing(const char *path, bool force)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return false;
	if (S_ISBLK(st.st_mode)) {
		cli_err("%s: is a block device; this writes a new file (import writes devices)",
		        path);
		return true;
	}
	if (!force) {
		cli_err("%s: already exists; use --force to replace it", path);
		return true;
	}
	return false;
}

int cmd_dmc_export(int argc, char **argv)
{
	static const struct option longopts[] = {
	        {"force", no_argument, NULL, OPT_FORCE},
	        {"layout", required_argument, NULL, OPT_LAYOUT},
	        {"metadata-file", required_argument, NULL, OPT_METAFILE},
	        {"metadata", required_argument, NULL, OPT_METAFILE},
	        {NULL, 0, NULL, 0},
	};
	bool force = false;
	const char *meta = NULL;
	int layout = 0, opt;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (opt == OPT_FORCE) {
			force = true;
		} else if (opt == OPT_METAFILE) {
			meta = optarg;
		} else if (opt == OPT_LAYOUT) {
			layout = cli_dmc_layout_arg(optarg);
			if (layout < 0)
				return EXIT_ERR;
		} else {
			cli_err("export: usage: csumshim export SRC DST --format dm-csum [--layout "
			        "L] [--metadata-file PATH] [--force]");
			return EXIT_ERR;
		}
	}
	if (optind != argc - 2) {
		cli_err("export: expected SRC and DST");
		return EXIT_ERR;
	}
	const char *srcp = argv[optind], *dstp = argv[optind + 1];
	struct stat st;
	if (lstat(dstp, &st) == 0 && !force) {
		cli_err("%s: already exists; use --force to replace it", dstp);
		return EXIT_ERR;
	}
	struct end src = {0}, dst = {.kind = END_PLAIN, .name = dstp};
	int rc = open_dmcsum(&src, srcp, (unsigned)layout, meta, false);
	if (rc != EXIT_OK)
		return rc;
	uint64_t size = end_size(&src);
	char *tmp = NULL;
	dst.fd = make_temp(dstp, "export", &tmp);
	rc = dst.fd < 0 ? EXIT_ERR : copy(&src, &dst, size, "export");
	if (rc == EXIT_OK &&
	    (ftruncate(dst.fd, (off_t)size) < 0 || fsync(dst.fd) < 0 || fchmod(dst.fd, 0644) < 0)) {
		cli_err("%s: %s", dstp, strerror(errno));
		rc = EXIT_ERR;
	}
	if (dst.fd >= 0)
		close(dst.fd);
	if (rc == EXIT_OK && rename(tmp, dstp) < 0) {
		cli_err("%s: %s", dstp, strerror(errno));
		rc = EXIT_ERR;
	}
	if (rc != EXIT_OK && tmp)
		unlink(tmp);
	free(tmp);
	rc = end_sync_close(&src, rc);
	if (rc == EXIT_OK)
		printf("exported %s to %s: %llu bytes\n", srcp, dstp, (unsigned long long)size);
	return rc;
}

/* ---- convert ---------------------------------------------------------- */

struct convert_args {
	struct cli_format_args fa; /* the destination */
	bool to_dmc, have_to;
	const char *src_meta;
	int src_layout;
};

static int convert_option(struct convert_args *a, int opt, const char *arg)
{
	switch (opt) {
	case OPT_TO:
		if (!strcmp(arg, "dm-csum")) {
			a->to_dmc = true;
		} else if (strcmp(arg, "csumshim") != 0) {
			cli_err("--to: unknown format '%s' (dm-csum or csumshim)", arg);
			return -1;
		}
		a->have_to = true;
		return 1;
	case OPT_METAFILE:
		a->src_meta = arg;
		return 1;
	case OPT_SOURCE_LAYOUT:
		a->src_layout = cli_dmc_layout_arg(arg);
		return a->src_layout < 0 ? -1 : 1;
	case OPT_SIZE:
		cli_err("--size: the size is the source's");
		return -1;
	default:
		return cli_format_option(&a->fa, opt, arg);
	}
}

/* Rename the finished temporary files into place, metadata first. */
static int put_in_place(const char *tmp, const char *dst, const char *tmp_meta, const char *meta)
{
	if ((tmp_meta && rename(tmp_meta, meta) < 0) || rename(tmp, dst) < 0) {
		cli_err("%s: %s", dst, strerror(errno));
		return EXIT_ERR;
	}
	return EXIT_OK;
}

static int convert_into(struct convert_args *a, struct end *src, const char *dstp, const char *meta)
{
	uint64_t size = end_size(src);
	bool sep = a->fa.fo.layout == CSM_LAYOUT_SEPARATE;
	char *tmp = NULL, *tmp_meta = NULL;
	int fd = make_temp(dstp, "convert", &tmp), mfd = -1;
	if (fd >= 0 && sep) {
		mfd = make_temp(meta, "convert", &tmp_meta);
		if (mfd >= 0)
			close(mfd);
	}
	if (fd >= 0)
		close(fd);
	if (fd < 0 || (sep && mfd < 0)) {
		if (tmp)
			unlink(tmp);
		free(tmp);
		return EXIT_ERR;
	}
	a->fa.fo.size = a->to_dmc ? padded(size) : size;
	a->fa.have_size = true;
	a->fa.meta_path = tmp_meta;
	a->fa.formatter = a->to_dmc ? cli_dmc_formatter : NULL;
	bool created;
	struct end dst = {0};
	int rc = cli_do_format(&a->fa, tmp, &created);
	if (rc == EXIT_OK && a->to_dmc) {
		rc = open_dmcsum(&dst, tmp, a->fa.fo.layout, tmp_meta, true);
	} else if (rc == EXIT_OK) {
		struct cli_open_opts oo = {.meta_path = tmp_meta, .writable = true};
		dst.kind = END_CSUMSHIM;
		rc = cli_open(&dst.cf, tmp, &oo);
	}
	dst.name = dstp;
	if (rc == EXIT_OK)
		rc = copy(src, &dst, size, "convert");
	rc = end_sync_close(&dst, rc);
	if (rc == EXIT_OK && (chmod(tmp, 0644) < 0 || (tmp_meta && chmod(tmp_meta, 0644) < 0))) {
		cli_err("%s: %s", dstp, strerror(errno));
		rc = EXIT_ERR;
	}
	if (rc == EXIT_OK)
		rc = put_in_place(tmp, dstp, tmp_meta, meta);
	if (rc != EXIT_OK) {
		unlink(tmp);
		if (tmp_meta)
			unlink(tmp_meta);
	}
	free(tmp);
	free(tmp_meta);
	return rc;
}

int cmd_convert(int argc, char **argv)
{
	static const struct option longopts[] = {
	        FORMAT_LONGOPTS,
	        {"to", required_argument, NULL, OPT_TO},
	        {"metadata-file", required_argument, NULL, OPT_METAFILE},
	        {"source-layout", required_argument, NULL, OPT_SOURCE_LAYOUT},
	        {NULL, 0, NULL, 0},
	};
	static const char usage[] =
	        "convert: usage: csumshim convert SRC DST --to dm-csum|csumshim [--layout L] "
	        "[--metadata PATH] [--block-size N] [--checksum A] [--source-layout L] "
	        "[--metadata-file SRCMETA] [--force]";
	struct convert_args a;
	memset(&a, 0, sizeof(a));
	int opt;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		int r = convert_option(&a, opt, optarg);
		if (r < 0)
			return EXIT_ERR;
		if (r == 0) {
			cli_err("%s", usage);
			return EXIT_ERR;
		}
	}
	if (optind != argc - 2 || !a.have_to) {
		cli_err("%s", optind != argc - 2 ? "convert: expected SRC and DST" : usage);
		return EXIT_ERR;
	}
	if (a.to_dmc && a.fa.fo.algo) {
		cli_err("--checksum: dm-csum's checksum is fixed (16-bit CRC-CCITT)");
		return EXIT_ERR;
	}
	if (a.to_dmc && a.fa.fo.block_size && a.fa.fo.block_size != SEC) {
		cli_err("--block-size: dm-csum uses 512-byte sectors, not %u", a.fa.fo.block_size);
		return EXIT_ERR;
	}
	if (a.to_dmc && a.src_layout) {
		cli_err("--source-layout: a csumshim source describes its own layout");
		return EXIT_ERR;
	}
	const char *srcp = argv[optind], *dstp = argv[optind + 1];
	if (a.fa.meta_path && a.fa.fo.layout != CSM_LAYOUT_SEPARATE) {
		cli_err("--metadata is only for --layout separate");
		return EXIT_ERR;
	}
	char *defmeta = NULL;
	const char *meta = a.fa.meta_path;
	if (a.fa.fo.layout == CSM_LAYOUT_SEPARATE && !meta)
		meta = defmeta = cli_default_meta_path(dstp);
	if (refuse_existing(dstp, a.fa.force) || (meta && refuse_existing(meta, a.fa.force))) {
		free(defmeta);
		return EXIT_ERR;
	}
	struct end src = {0};
	int rc = a.to_dmc ? open_csumshim_src(&src, srcp, a.src_meta)
	                  : open_dmcsum(&src, srcp, (unsigned)a.src_layout, a.src_meta, false);
	if (rc == EXIT_OK)
		rc = convert_into(&a, &src, dstp, meta);
	uint64_t size = rc == EXIT_OK ? end_size(&src) : 0;
	rc = end_sync_close(&src, rc);
	if (rc == EXIT_OK) {
		printf("converted %s (%s) to %s (%s, %s layout%s%s): %llu bytes", srcp,
		       a.to_dmc ? "csumshim" : "dm-csum", dstp, a.to_dmc ? "dm-csum" : "csumshim",
		       csm_layout_name(a.fa.fo.layout ? a.fa.fo.layout : CSM_LAYOUT_INTERLEAVED),
		       meta ? ", metadata in " : "", meta ? meta : "", (unsigned long long)size);
		if (a.to_dmc)
			print_padding(size);
		printf("\n");
	}
	free(defmeta);
	return rc;
}
