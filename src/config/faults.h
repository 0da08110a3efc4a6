/*
 * Fault rules in the configuration and in control files (see README.md,
 * "Fault injection for test harnesses"):
 *
 *   [faults]
 *   rule = flip op=read path=/srv/db/app.db blocks=10-20 probability=1% seed=7
 *   rule = fsync after=100 max=1
 *   control = yes | no | TEMPLATE   watch TEMPLATE (yes: %p.faults) per file
 *
 * A control file holds one rule per line ('#' comments and blank lines
 * ignored); `csumshim fault add|list|clear` edits it, and the library
 * re-reads it when it changes.  Its counters live in CONTROL.state, shared
 * by every process: CSM_FAULT_STATE_SLOTS slots, slot i for line i's rule.
 */
#ifndef CSUMSHIM_CONFIG_FAULTS_H
#define CSUMSHIM_CONFIG_FAULTS_H

#include <stddef.h>
#include <stdint.h>

#include "csumshim/fault.h"

#define CSM_FAULT_STATE_SLOTS 64

struct csm_fault_set {
	struct csm_fault_rule *rules;
	char **globs; /* path=GLOB of each rule, or NULL */
	char **texts; /* each rule as written */
	size_t n;
};

/* Parse and append one rule; `line` is where it was written.  0, or -1
 * with the message (without FILE:LINE) in err. */
int csm_fault_set_add(struct csm_fault_set *s, const char *text, int line, char *err,
                      size_t errlen);
/* Parse a control file's whole text; errors as "NAME:LINE: what". */
int csm_fault_set_parse(struct csm_fault_set *s, const char *name, const char *text, char *err,
                        size_t errlen);
void csm_fault_set_free(struct csm_fault_set *s);

/* Identity of a rule's counters slot: a hash of its text. */
uint64_t csm_fault_tag(const char *text);

/* The control file of data file `path` for a template (%p %d %f %%). */
char *csm_fault_control_path(const char *tmpl, const char *path);

struct csm_config;
/* A key of the [faults] section; 1 if taken, 0 with msg on error. */
int csm_config_fault_key(struct csm_config *c, const char *name, const char *value, int line,
                         char *msg, size_t msglen);

#endif
