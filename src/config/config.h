/*
 * The shim's configuration: an INI file parsed with libinih.
 *
 *   [global]
 *   log = stderr | syslog | /path/to/file
 *   cache = 16M                      metadata cache per open file
 *
 *   [/srv/images/vm*.img]            an absolute path glob (fnmatch, FNM_PATHNAME;
 *                                    "**" matches any depth: see glob.h)
 *   exclude = /srv/images/tmp*.img   paths left to the next matching section
 *                                    (repeatable; "none" empties the list,
 *                                    which starts with SQLite's "-shm" files)
 *   layout = interleaved | separate
 *   block_size = 4096
 *   checksum = crc32c | xxh3
 *   metadata = %p.csum               separate layout: %p path, %d dir, %f name
 *   create = yes | no                format new (or O_TRUNC'ed, or empty) files
 *   on_mismatch = error | log        log: return stored data, but log it
 *   durability = default | strict    strict: checksums durable before data
 *   format = csumshim | dm-csum      dm-csum: the seed's format, fixed size
 *
 *   [faults]                         fault injection (faults.h)
 *   rule = KIND [key=value]...       repeatable
 *   control = yes | no | TEMPLATE    watch a control file per file
 *
 * The first matching section wins.  Any error is reported as
 * "FILE:LINE: what is wrong".
 */
#ifndef CSUMSHIM_CONFIG_H
#define CSUMSHIM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "faults.h"

enum csm_log_kind { CSM_LOG_STDERR = 0, CSM_LOG_SYSLOG, CSM_LOG_FILE };

/* What a rule's files hold: csumshim's own format, or the seed's (never
 * guessed: dm-csum has no magic number). */
enum csm_rule_format { CSM_RULE_CSUMSHIM = 0, CSM_RULE_DMCSUM };

struct csm_rule {
	char *glob;
	int line;
	uint32_t block_size;
	unsigned algo;
	unsigned layout;
	char *metadata; /* template */
	bool create;
	bool log_only;
	unsigned durability; /* enum csm_durability */
	bool solo;           /* may go solo (default yes) */
	unsigned format;     /* enum csm_rule_format */
	char **exclude;      /* globs this section leaves to the next ones */
	size_t nexclude;
	bool exclude_none; /* "exclude = none": not even the default */
};

/* Every section leaves out SQLite's shared-memory index ("-shm"): SQLite
 * maps it shared and writable, which a protected file refuses, and
 * rebuilds it from the WAL; it holds no data.  "exclude = none" takes it
 * back in. */
#define CSM_DEFAULT_EXCLUDE "/**/*-shm"

struct csm_config {
	char *path;
	enum csm_log_kind log;
	char *log_path;
	size_t cache_bytes;
	struct csm_rule *rules;
	size_t nrules;
	struct csm_fault_set faults; /* [faults] rule = ... */
	char *fault_control;         /* [faults] control template, or NULL */
};

/* Where the config is: $CSUMSHIM_CONFIG, $XDG_CONFIG_HOME/csumshim/
 * csumshim.conf (~/.config/...), /etc/csumshim.conf.  Returns a malloc'ed
 * path, or NULL if none exists (*explicit_missing set when
 * CSUMSHIM_CONFIG names a file that does not exist). */
char *csm_config_locate(bool *explicit_missing);

/* 0 on success; -1 with "FILE:LINE: message" (or "FILE: message"). */
int csm_config_load(const char *path, struct csm_config *cfg, char *err, size_t errlen);
void csm_config_free(struct csm_config *cfg);

/* First rule whose glob matches the absolute path and none of whose
 * excludes does, or NULL. */
const struct csm_rule *csm_config_match(const struct csm_config *cfg, const char *path);

/* Expand a metadata template for data file `path`; malloc'ed. */
char *csm_config_meta_path(const struct csm_rule *r, const char *path);

#endif
