/*
 * csumshim import SRC DST [format options]   plain -> csumshim
 * csumshim export SRC DST [--force] [--metadata-file PATH]   csumshim -> plain
 *
 * Both stream 1 MiB at a time.  All-zero chunks are not written, so sparse
 * inputs stay sparse (a never-written block reads as verified zeros).
 * export writes to a temporary file beside DST and renames it into place
 * only when every block verified: a failed export leaves nothing behind.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#define CHUNK (1u << 20)

int cli_read_full(int fd, uint8_t *buf, size_t n, uint64_t off, size_t *got)
{
	size_t done = 0;
	while (done < n) {
		ssize_t r = pread(fd, buf + done, n - done, (off_t)(off + done));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		done += (size_t)r;
	}
	*got = done;
	return 0;
}

int cli_write_full(int fd, const uint8_t *buf, size_t n, uint64_t off)
{
	size_t done = 0;
	while (done < n) {
		ssize_t r = pwrite(fd, buf + done, n - done, (off_t)(off + done));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -ENOSPC;
		done += (size_t)r;
	}
	return 0;
}

/* Write the runs of blocks that are not all zero; zero blocks stay
 * never-written (they read back as verified zeros and take no space). */
int cli_write_nonzero_runs(struct csm_engine *e, const uint8_t *buf, size_t n, uint64_t off)
{
	size_t bs = csm_superblock(e)->block_size;
	size_t i = 0;
	while (i < n) {
		size_t len = n - i < bs ? n - i : bs;
		if (csm_is_zero(buf + i, len)) {
			i += len;
			continue;
		}
		size_t j = i + len;
		while (j < n) {
			size_t l2 = n - j < bs ? n - j : bs;
			if (csm_is_zero(buf + j, l2))
				break;
			j += l2;
		}
		if (csm_pwrite(e, buf + i, j - i, off + i) != (ssize_t)(j - i))
			return -1;
		i = j;
	}
	return 0;
}

int cmd_import(int argc, char **argv)
{
	static const struct option longopts[] = {FORMAT_LONGOPTS, {NULL, 0, NULL, 0}};
	struct cli_format_args a;
	memset(&a, 0, sizeof(a));
	int opt;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		int r = cli_format_option(&a, opt, optarg);
		if (r < 0)
			return EXIT_ERR;
		if (r == 0 || opt == OPT_SIZE) {
			cli_err("import: usage: csumshim import SRC DST [--block-size N] "
			        "[--layout interleaved|separate] [--metadata PATH] "
			        "[--checksum crc32c|xxh3] [--force]");
			return EXIT_ERR;
		}
	}
	if (optind != argc - 2) {
		cli_err("import: expected SRC and DST");
		return EXIT_ERR;
	}
	const char *src = argv[optind], *dst = argv[optind + 1];
	int sfd = open(src, O_RDONLY | O_CLOEXEC);
	if (sfd < 0) {
		cli_err("%s: %s", src, strerror(errno));
		return EXIT_ERR;
	}
	uint64_t size = 0;
	int r = csm_fd_size(NULL, sfd, &size, NULL);
	if (r < 0) {
		cli_err("%s: %s", src, strerror(-r));
		close(sfd);
		return EXIT_ERR;
	}
	a.fo.size = size;
	a.have_size = true;
	bool created;
	int rc = cli_do_format(&a, dst, &created);
	if (rc != EXIT_OK) {
		close(sfd);
		return rc;
	}
	struct cli_file f;
	struct cli_open_opts oo = {.meta_path = a.meta_path, .writable = true};
	rc = cli_open(&f, dst, &oo);
	if (rc != EXIT_OK) {
		close(sfd);
		return rc;
	}
	uint8_t *buf = aligned_alloc(4096, CHUNK);
	struct cli_progress prog;
	cli_progress_init(&prog, "importing", size);
	rc = buf ? EXIT_OK : EXIT_ERR;
	if (!buf)
		cli_err("out of memory");
	for (uint64_t off = 0; rc == EXIT_OK && off < size; off += CHUNK) {
		size_t want = size - off < CHUNK ? (size_t)(size - off) : CHUNK, got = 0;
		r = cli_read_full(sfd, buf, want, off, &got);
		if (r < 0 || got != want) {
			cli_err("%s: read: %s", src,
			        r < 0 ? strerror(-r) : "file shrank while importing");
			rc = EXIT_ERR;
		} else if (cli_write_nonzero_runs(f.e, buf, want, off) < 0) {
			cli_err("%s: write: %s", dst, strerror(errno));
			rc = EXIT_ERR;
		}
		cli_progress(&prog, off + want, size);
	}
	cli_progress_end(&prog);
	free(buf);
	close(sfd);
	if (rc == EXIT_OK && csm_fsync(f.e, false) < 0) {
		cli_err("%s: fsync: %s", dst, strerror(errno));
		rc = EXIT_ERR;
	}
	int crc = cli_close(&f);
	if (rc == EXIT_OK)
		rc = crc;
	if (rc != EXIT_OK && created)
		cli_remove_created(dst, &a);
	if (rc == EXIT_OK)
		printf("imported %s into %s: %llu bytes\n", src, dst, (unsigned long long)size);
	return rc;
}

int cmd_export(int argc, char **argv)
{
	static const struct option longopts[] = {
	        {"force", no_argument, NULL, OPT_FORCE},
	        {"metadata-file", required_argument, NULL, OPT_METAFILE},
	        {"metadata", required_argument, NULL, OPT_METAFILE},
	        {NULL, 0, NULL, 0},
	};
	bool force = false;
	const char *meta = NULL;
	int opt;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (opt == OPT_FORCE) {
			force = true;
		} else if (opt == OPT_METAFILE) {
			meta = optarg;
		} else {
			cli_err("export: usage: csumshim export SRC DST [--force] [--metadata-file "
			        "PATH]");
			return EXIT_ERR;
		}
	}
	if (optind != argc - 2) {
		cli_err("export: expected SRC and DST");
		return EXIT_ERR;
	}
	const char *src = argv[optind], *dst = argv[optind + 1];
	struct stat st;
	if (lstat(dst, &st) == 0 && !force) {
		cli_err("%s: already exists; use --force to replace it", dst);
		return EXIT_ERR;
	}
	struct cli_events ev = {0};
	struct cli_file f;
	struct cli_open_opts oo = {.meta_path = meta};
	int rc = cli_open(&f, src, &oo);
	if (rc != EXIT_OK)
		return rc;
	ev.block_size = csm_superblock(f.e)->block_size;
	uint64_t size = csm_size(f.e);
	ev.size = size;

	char *tmp = NULL;
	if (asprintf(&tmp, "%s.csumshim-export.XXXXXX", dst) < 0) {
		cli_err("out of memory");
		cli_close(&f);
		return EXIT_ERR;
	}
	int dfd = mkostemp(tmp, O_CLOEXEC);
	if (dfd < 0) {
		cli_err("%s: %s", dst, strerror(errno));
		free(tmp);
		cli_close(&f);
		return EXIT_ERR;
	}
	uint8_t *buf = aligned_alloc(4096, CHUNK);
	struct cli_progress prog;
	cli_progress_init(&prog, "exporting", size);
	rc = buf ? EXIT_OK : EXIT_ERR;
	if (!buf)
		cli_err("out of memory");
	for (uint64_t off = 0; rc == EXIT_OK && off < size; off += CHUNK) {
		size_t want = size - off < CHUNK ? (size_t)(size - off) : CHUNK;
		ssize_t got = csm_pread(f.e, buf, want, off);
		if (got != (ssize_t)want) {
			int e = got < 0 ? errno : EIO;
			struct csm_stats stats;
			csm_stats(f.e, &stats);
			if (e == EIO && stats.first.kind) {
				char text[256];
				cli_event_text(&ev, &stats.first, text, sizeof(text));
				cli_err("%s: cannot export: %s", src, text);
			} else {
				cli_err("%s: cannot export: %s at byte %llu", src, strerror(e),
				        (unsigned long long)(off + (got > 0 ? (uint64_t)got : 0)));
			}
			rc = e == EIO ? EXIT_BAD : EXIT_ERR;
		} else if (!csm_is_zero(buf, want)) {
			int r = cli_write_full(dfd, buf, want, off);
			if (r < 0) {
				cli_err("%s: write: %s", dst, strerror(-r));
				rc = EXIT_ERR;
			}
		}
		cli_progress(&prog, off + want, size);
	}
	cli_progress_end(&prog);
	free(buf);
	if (rc == EXIT_OK && (ftruncate(dfd, (off_t)size) < 0 || fsync(dfd) < 0)) {
		cli_err("%s: %s", dst, strerror(errno));
		rc = EXIT_ERR;
	}
	/* The copy is as private as its source (less the umask), not 0644:
	 * the source may hold secrets. */
	mode_t mask = umask(0);
	umask(mask);
	if (rc == EXIT_OK && (stat(src, &st) < 0 || fchmod(dfd, st.st_mode & 0777 & ~mask) < 0)) {
		cli_err("%s: %s", dst, strerror(errno));
		rc = EXIT_ERR;
	}
	close(dfd);
	if (rc == EXIT_OK && rename(tmp, dst) < 0) {
		cli_err("%s: %s", dst, strerror(errno));
		rc = EXIT_ERR;
	}
	if (rc != EXIT_OK)
		unlink(tmp);
	free(tmp);
	free(ev.ev);
	int crc = cli_close(&f);
	if (rc == EXIT_OK)
		rc = crc;
	if (rc == EXIT_OK)
		printf("exported %s to %s: %llu bytes\n", src, dst, (unsigned long long)size);
	return rc;
}
