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
struct csm_engine *inode_engine(struct shim_inode *ino);
void inode_refresh(struct shim_inode *ino); /* an empty image, once the file has content */
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

#endif
