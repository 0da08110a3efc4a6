/*
 * What the files of the shim's state share among themselves (fdtable.c,
 * log.c, paths.c, engines.c, open.c, data.c); the wrappers see state.h.
 */
#ifndef CSUMSHIM_STATE_INT_H
#define CSUMSHIM_STATE_INT_H

#include "state.h"

/* log.c: where shim_log writes (the config's log file, else stderr), and
 * the engine's report and trace callbacks (arg: the struct shim_inode). */
extern int log_fd;
void on_trace(void *arg, const char *line);
void on_event(void *arg, const struct csm_event *ev);

#endif
