/*
 * What the files of the shim's state share among themselves (fdtable.c,
 * log.c, paths.c, engines.c, open.c, data.c); the wrappers see state.h.
 */
#ifndef CSUMSHIM_STATE_INT_H
#define CSUMSHIM_STATE_INT_H

#include <limits.h>

#include "state.h"

struct stat;

/* log.c: where shim_log writes (the config's log file, else stderr), and
 * the engine's report and trace callbacks (arg: the struct shim_inode). */
extern int log_fd;
void on_trace(void *arg, const char *line);
void on_event(void *arg, const struct csm_event *ev);

/* fdtable.c: smu guards the inode table and fd-table changes; the inode
 * entry of a file, or NULL (smu held). */
extern pthread_mutex_t smu;
struct shim_inode *inode_find(const struct stat *st);
/* The inode's engine, reopened if a fork abandoned it (smu held). */
struct shim_io *inode_engine(struct shim_inode *ino);
/* An empty image, once the file has content: 0, or -1 (EIO, logged) when
 * the file cannot be opened now. */
int inode_refresh(struct shim_inode *ino);
/* A reference to the inode (a mapping keeps its file's engine), and its
 * release: the last closes the engine (smu held); 0, or -errno if that
 * close (its final sync) failed, already logged. */
void inode_hold(struct shim_inode *ino);
int inode_release(struct shim_inode *ino);
/* Register fd (already open on a configured file) under smu. */
int register_fd(int fd, const char *abspath, const struct csm_rule *r, int flags, bool created);

/* paths.c: the absolute path that the config's globs match; -1 if there
 * is none, RESOLVE_UNNAMED if dirfd's directory cannot be named. */
#define RESOLVE_UNNAMED (-2)
int resolve(int dirfd, const char *path, bool nofollow, char out[PATH_MAX]);

/* engines.c: fill the real-call table the engines' backends use (once, at
 * start-up); open the engine of a configured file (see there). */
void sysio_init(void);
int attach(struct shim_inode *ino, const struct csm_rule *r, bool writable, bool trunc,
           bool created, int via);

/* faults.c: put the fault backend over *be when [faults] selects `path`
 * (a rule's path glob, or a control file); else leave it.  0 or -errno. */
struct csm_backend;
int shim_faults_wrap(struct csm_backend *be, const char *path);

/* engines.c: attach()'s shared half, what every format's stores start
 * from: the data descriptor (ours, at a high number, checked to be the
 * inode's file, opened through the program's descriptor, read-write only
 * when `writable`; the inode's anchor set), its size and whether it is a
 * block device, and the open's intent (trunc is false for a device).
 * Each format's half publishes ino->e, ino->readonly (!writable) and
 * ino->blockdev. */
struct shim_stores {
	int dfd;
	uint64_t dsize;
	bool blk;
	bool writable, trunc, created;
};
/* The metadata store `meta` of ino (data descriptor dfd), opened the same
 * way for every format: through its anchor when it has one (sets it), else
 * through csm_meta_open's checks (a refusal logged).  Ours, or -errno
 * (-ENOENT, not logged: missing and not created). */
int open_meta_store(struct shim_inode *ino, const char *meta, int dfd, bool writable, bool create);
/* Close descriptors of ours (-1: none; the same fd once). */
void close_private(int dfd, int mfd);
/* The superblock at the start of fd, read with `rd`, a torn read (another
 * process rewriting it) read again: the decoder's verdict, the bytes in
 * head (zeros past what could be read) and the fields in *sb. */
enum csm_sb_err shim_peek_super(ssize_t (*rd)(int, void *, size_t, off_t), int fd,
                                uint8_t head[CSM_SB_SIZE], struct csm_super *sb);

/* dmcsum.c: attach's half for a `format = dm-csum` rule (same contract;
 * takes st->dfd; `sys`: the real-call table); the size of such a file not
 * open here (1, 0 if not a usable dm-csum file). */
struct csm_sysio;
int attach_dmcsum(struct shim_inode *ino, const struct csm_rule *r, const struct shim_stores *st,
                  const struct csm_sysio *sys);
int dmcsum_path_size(const struct csm_rule *r, const char *abspath, uint64_t *size);

#endif
