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
/* Register fd (already open on a configured file) under smu. */
int register_fd(int fd, const char *abspath, const struct csm_rule *r, int flags, bool created);

/* paths.c: the absolute path that the config's globs match. */
int resolve(int dirfd, const char *path, bool nofollow, char out[PATH_MAX]);

/* engines.c: fill the real-call table the engines' backends use (once, at
 * start-up); open the engine of a configured file (see there). */
void sysio_init(void);
int attach(struct shim_inode *ino, const struct csm_rule *r, bool need_write, bool trunc,
           bool created);

/* engines.c: a private descriptor of a configured file, read-write (or
 * read-only where the program only reads and may not write). */
int open_private(const char *path, bool need_write, bool create);
/* Close a data and a metadata descriptor (-1: none; the same fd once). */
void close_private(int dfd, int mfd);

/* dmcsum.c: attach for a `format = dm-csum` rule (same contract; `sys`:
 * the real-call table); the size of such a file not open here (1, 0 if
 * not a usable dm-csum file). */
struct csm_sysio;
int attach_dmcsum(struct shim_inode *ino, const struct csm_rule *r, bool need_write, bool trunc,
                  bool created, const struct csm_sysio *sys);
int dmcsum_path_size(const struct csm_rule *r, const char *abspath, uint64_t *size);

#endif
