/*
 * csumshim recover FILE [--metadata-file PATH] [--after-power-loss]
 *                  [--discard-lost]
 *
 * Recovery after an unclean shutdown (a crash or power cut while the file
 * was open for writing), the same the library runs by itself at the first
 * open: every group marked dirty is re-checked against its data.  A block
 * matching neither of its brothers is corruption unless the machine lost
 * power since the file was marked unclean — a process crash or exit keeps
 * every completed write whole — so it stays failing and is listed as bad.
 * Version 1 files record no boot id and cannot prove a power cut: after
 * one, --after-power-loss says so, and then such blocks in groups written
 * since the last completed fsync are re-sealed from their data and listed
 * ("could not be verified").  A file marked clean never has a block
 * re-sealed; a damaged brother is rewritten from the good one.
 * Version 2 files record the boot id with the unclean mark, so recovery
 * knows a restart happened without being told.  A stale superblock (older
 * than its metadata) is rebuilt: sequence past every epoch, size to the
 * end of the last block a newer brother marks written.  A lost tail is
 * reported and left failing unless a restart is proven.  A lost group
 * (recorded written, its brothers punched out) is left failing, unless
 * --discard-lost accepts the loss: its data is zeroed and its bit
 * cleared, and it reads as never written (zeros) from then on.
 * Exit 0 when every block verified, 1 when some could not be or fail
 * verification, 2 on error (for example another process has the file
 * open: EBUSY).
 *
 * csumshim upgrade FILE [--metadata-file PATH]
 *
 * To version 2.  The file is checked whole first (any bad block, damaged
 * brother or unclean state: exit 1, nothing changed), with every other
 * process kept out.  Separate layout (version 1): in place — the stores
 * are extended to their reach and one superblock sector is rewritten, the
 * single step that commits, atomic on storage.  Interleaved (version 1,
 * or version 2 without aligned data runs): copied through a temporary
 * file in the same directory into the aligned layout (same uuid, size and
 * content, every block read verified), synced, renamed over the file and
 * the directory synced; on any failure the temporary file is removed and
 * the original stays as it was.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

int cmd_recover(int argc, char **argv)
{
	bool power_loss = false, discard = false;
	const char *meta;
	const struct cli_flag flags[] = {
	        {"after-power-loss", &power_loss}, {"discard-lost", &discard}, {NULL, NULL}};
	const char *path = cli_file_args(argc, argv, "recover",
	                                 "csumshim recover FILE [--metadata-file PATH] "
	                                 "[--after-power-loss] [--discard-lost]",
	                                 flags, &meta);
	if (!path)
		return EXIT_ERR;
	struct cli_events ev = {0};
	struct cli_open_opts oo = {.meta_path = meta,
	                           .writable = true,
	                           .engine = {.report = cli_event,
	                                      .report_arg = &ev,
	                                      .after_power_loss = power_loss,
	                                      .discard_lost = discard}};
	struct cli_file f;
	int rc = cli_open(&f, path, &oo);
	if (rc != EXIT_OK)
		return rc;
	const struct csm_super *sb = csm_superblock(f.e);
	ev.block_size = sb->block_size;
	ev.size = sb->logical_size;
	ev.per_group = sb->per_group;
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
	       "verification; %llu groups without valid metadata\n",
	       f.path, was_unclean ? "was not closed cleanly" : "was closed cleanly",
	       (unsigned long long)res.dirty_groups, (unsigned long long)res.groups,
	       (unsigned long long)res.blocks_checked, (unsigned long long)res.blocks_older,
	       (unsigned long long)res.blocks_unverified,
	       (unsigned long long)(res.blocks_lost + res.blocks_bad),
	       (unsigned long long)(res.rebuilt_groups + res.broken_groups));
	if (res.stale_rebuilt)
		printf("%s: the superblock was older than its metadata: rebuilt, size now %llu "
		       "(to the end of the last block written)\n",
		       f.path, (unsigned long long)res.stale_size);
	if (res.intact_size < csm_superblock(f.e)->logical_size)
		printf("%s: lost tail: bytes %llu-%llu are missing from the stored file; left "
		       "failing\n",
		       f.path, (unsigned long long)res.intact_size,
		       (unsigned long long)csm_superblock(f.e)->logical_size - 1);
	if (res.discarded_groups)
		printf("%s: %llu lost group%s discarded (--discard-lost): %s as zeros from now "
		       "on\n",
		       f.path, (unsigned long long)res.discarded_groups,
		       res.discarded_groups == 1 ? "" : "s",
		       res.discarded_groups == 1 ? "it reads" : "they read");
	if (res.lost_groups > res.discarded_groups)
		printf("%s: %llu groups recorded written have their metadata and data punched out "
		       "(lost); left failing (restore the file, or accept the loss with 'csumshim "
		       "recover --discard-lost %s')\n",
		       f.path, (unsigned long long)(res.lost_groups - res.discarded_groups),
		       f.path);
	if (res.boot_differs)
		printf("%s: the machine restarted since the file was marked unclean\n", f.path);
	if (was_unclean && !res.restarted && res.blocks_bad)
		printf("%s: blocks matching neither checksum are left failing; if the machine "
		       "lost power since the file was last closed, run 'csumshim recover "
		       "--after-power-loss %s'\n",
		       f.path, f.path);
	rc = cli_close(&f);
	if (rc != EXIT_OK)
		return rc;
	return res.blocks_unverified || res.blocks_lost || res.blocks_bad || res.rebuilt_groups ||
	                       res.broken_groups || res.stale_rebuilt ||
	                       res.lost_groups > res.discarded_groups || res.intact_size < ev.size
	               ? EXIT_BAD
	               : EXIT_OK;
}

#define UPGRADE_CHUNK (1u << 20)

/* Copy f's content into a new aligned version 2 file beside it and rename
 * it over f.  f is open, exclusive, clean and verified.  Returns EXIT_*;
 * on failure f is untouched and nothing is left behind, unless *renamed
 * (only the directory's sync failed). */
static int upgrade_copy(struct cli_file *f, bool *renamed)
{
	const struct csm_super *sb = csm_superblock(f->e);
	uint64_t size = sb->logical_size;
	size_t plen = strlen(f->path);
	char *tmp = malloc(plen + 32);
	char *dcopy = strdup(f->path);
	uint8_t *buf = aligned_alloc(4096, UPGRADE_CHUNK);
	struct csm_engine *t = NULL;
	int rc = EXIT_ERR, fd = -1;
	bool made = false;
	if (!tmp || !dcopy || !buf) {
		cli_err("out of memory");
		goto out;
	}
	snprintf(tmp, plen + 32, "%s.upgrade-XXXXXX", f->path);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		cli_err("%s: cannot create a temporary file beside it: %s", f->path,
		        strerror(errno));
		goto out;
	}
	made = true;
	struct stat st;
	if (stat(f->path, &st) == 0) {
		(void)fchown(fd, st.st_uid, st.st_gid);
		(void)fchmod(fd, st.st_mode & 07777);
	}
	struct csm_backend be;
	int tfd = fd;
	fd = -1; /* the backend owns it */
	if (cli_posix_backend(&be, tmp, tfd, tfd) != EXIT_OK)
		goto out;
	struct csm_format_opts fo = {.block_size = sb->block_size,
	                             .algo = sb->algo,
	                             .layout = CSM_LAYOUT_INTERLEAVED,
	                             .size = size,
	                             .uuid = sb->uuid,
	                             .version = CSM_VERSION};
	char err[256];
	int r = csm_format(&be, &fo, err, sizeof(err));
	if (r == 0)
		r = csm_open(&be, NULL, &t, err, sizeof(err));
	else
		csm_backend_destroy(&be);
	if (r < 0) {
		cli_err("%s: %s", tmp, err);
		t = NULL;
		goto out;
	}
	for (uint64_t off = 0; off < size; off += UPGRADE_CHUNK) {
		size_t want = size - off < UPGRADE_CHUNK ? (size_t)(size - off) : UPGRADE_CHUNK;
		ssize_t n = csm_pread(f->e, buf, want, off);
		if (n != (ssize_t)want) {
			cli_err("%s: read at %llu: %s", f->path, (unsigned long long)off,
			        n < 0 ? strerror(errno) : "short read");
			goto out;
		}
		if (cli_write_nonzero_runs(t, buf, want, off) < 0) {
			cli_err("%s: write: %s", tmp, strerror(errno));
			goto out;
		}
	}
	if (csm_fsync(t, false) < 0) {
		cli_err("%s: fsync: %s", tmp, strerror(errno));
		goto out;
	}
	/* The copy, read back whole before it replaces anything. */
	struct csm_scrub_result res;
	if (csm_scrub(t, NULL, NULL, &res) < 0 || res.bad_blocks || res.bad_meta ||
	    res.broken_groups || res.missing_blocks || res.bad_records) {
		cli_err("%s: the copy does not verify", tmp);
		goto out;
	}
	r = csm_close(t); /* synced and marked clean */
	t = NULL;
	if (r < 0) {
		cli_err("%s: close: %s", tmp, strerror(errno));
		goto out;
	}
	if (rename(tmp, f->path) < 0) {
		cli_err("%s: rename: %s", f->path, strerror(errno));
		goto out;
	}
	made = false;
	*renamed = true;
	int dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0) {
		/* Renamed: the new file is in place, maybe not yet durably. */
		cli_err("%s: fsync of its directory: %s", f->path, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		rc = EXIT_ERR;
		goto out;
	}
	close(dfd);
	rc = EXIT_OK;
out:
	if (t)
		csm_close(t);
	if (fd >= 0)
		close(fd);
	if (made)
		unlink(tmp);
	free(buf);
	free(dcopy);
	free(tmp);
	return rc;
}

int cmd_upgrade(int argc, char **argv)
{
	const char *meta;
	const char *path = cli_file_args(
	        argc, argv, "upgrade", "csumshim upgrade FILE [--metadata-file PATH]", NULL, &meta);
	if (!path)
		return EXIT_ERR;
	struct cli_events ev = {0};
	struct cli_open_opts oo = {
	        .meta_path = meta,
	        .writable = true,
	        .engine = {.report = cli_event, .report_arg = &ev, .no_recover = true}};
	struct cli_file f;
	int rc = cli_open(&f, path, &oo);
	if (rc != EXIT_OK)
		return rc;
	const struct csm_super *sb = csm_superblock(f.e);
	ev.block_size = sb->block_size;
	ev.size = sb->logical_size;
	bool copy = sb->layout == CSM_LAYOUT_INTERLEAVED && !(sb->incompat & CSM_FEAT_ALIGNED);
	unsigned from = sb->version;
	/* An aligned file from before the written-group record gets it. */
	bool rec = sb->version >= CSM_VERSION && (sb->incompat & CSM_FEAT_ALIGNED) &&
	           !(sb->incompat & CSM_FEAT_WGREC);
	if (sb->version >= CSM_VERSION && !copy && !rec) {
		printf("%s: already format version %u\n", f.path, sb->version);
		return cli_close(&f);
	}
	if (copy && csm_exclusive(f.e, true) < 0) {
		cli_err("%s: %s; not upgraded", f.path,
		        errno == EBUSY ? "another process has the file open" : strerror(errno));
		cli_close(&f);
		return EXIT_ERR;
	}
	if (sb->state != CSM_STATE_CLEAN) {
		cli_err("%s: not closed cleanly: run 'csumshim recover %s' first; not upgraded",
		        f.path, f.path);
		cli_close(&f);
		return EXIT_BAD;
	}
	struct csm_scrub_result res;
	if (csm_scrub(f.e, NULL, NULL, &res) < 0) {
		cli_err("%s: check failed: %s; not upgraded", f.path, strerror(errno));
		cli_close(&f);
		return EXIT_ERR;
	}
	if (res.bad_blocks || res.bad_meta || res.broken_groups || res.bad_records) {
		cli_err("%s: %llu bad blocks, %llu damaged metadata blocks: not upgraded (nothing "
		        "changed)",
		        f.path, (unsigned long long)res.bad_blocks,
		        (unsigned long long)res.bad_meta);
		cli_close(&f);
		return EXIT_BAD;
	}
	if (copy) {
		bool renamed = false;
		rc = upgrade_copy(&f, &renamed);
		if (rc != EXIT_OK) {
			if (renamed)
				cli_err("%s: upgraded, but its directory could not be synced: the "
				        "rename may not survive a power cut",
				        f.path);
			else
				cli_err("%s: not upgraded: the file is as it was", f.path);
			cli_close(&f);
			return rc;
		}
		printf("%s: upgraded from format version %u%s to %u with aligned data runs (%llu "
		       "blocks verified)\n",
		       f.path, from, from >= CSM_VERSION ? " (unaligned)" : "", CSM_VERSION,
		       (unsigned long long)res.blocks);
		return cli_close(&f);
	}
	if (csm_upgrade(f.e) < 0) {
		int err = errno;
		cli_err("%s: upgrade failed: %s; the file is as it was", f.path,
		        err == EBUSY ? "another process has the file open" : strerror(err));
		cli_close(&f);
		return EXIT_ERR;
	}
	if (rec) {
		printf("%s: upgraded: written groups are recorded (%llu blocks verified)\n", f.path,
		       (unsigned long long)res.blocks);
		return cli_close(&f);
	}
	printf("%s: upgraded from format version 1 to %u (%llu blocks verified)\n", f.path,
	       csm_superblock(f.e)->version, (unsigned long long)res.blocks);
	return cli_close(&f);
}
