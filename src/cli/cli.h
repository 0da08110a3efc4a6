/*
 * Shared pieces of the `csumshim` command line.
 *
 * Exit codes: 0 success, 1 verification found bad blocks or metadata,
 * 2 error (bad usage, bad input, I/O failure).  Every error is one line on
 * stderr starting with "csumshim: ".
 */
#ifndef CSUMSHIM_CLI_H
#define CSUMSHIM_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "csumshim/engine.h"

enum { EXIT_OK = 0, EXIT_BAD = 1, EXIT_ERR = 2 };

void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "4096", "1M", "1GiB", "1T" (binary multiples).  False on junk. */
bool cli_parse_size(const char *s, uint64_t *out);
bool cli_parse_u64(const char *s, uint64_t *out);

/* An opened csumshim file. */
struct cli_file {
	char *path;      /* data file */
	char *meta_path; /* separate layout: metadata file, else NULL */
	struct csm_engine *e;
};

struct cli_open_opts {
	const char *meta_path; /* --metadata-file, or NULL to detect */
	bool writable;         /* open the files read-write */
	bool readonly_engine;  /* engine refuses logical writes */
	struct csm_engine_opts engine;
};

/* Open and print a one-line error on failure.  Returns EXIT_OK or EXIT_ERR. */
int cli_open(struct cli_file *f, const char *path, const struct cli_open_opts *o);
int cli_close(struct cli_file *f);

/* Progress line on a terminal ("\r<what>: 42%"), throttled. */
struct cli_progress {
	const char *what;
	bool enabled;
	double last;
};
void cli_progress_init(struct cli_progress *p, const char *what, uint64_t total);
void cli_progress(void *p, uint64_t done, uint64_t total);
void cli_progress_end(struct cli_progress *p);

/* Engine events: printed as lines on stdout, or collected for JSON. */
struct cli_events {
	bool collect;        /* JSON: keep them instead of printing */
	uint32_t block_size; /* set once the file is open */
	uint64_t size;
	struct csm_event *ev;
	size_t n, cap;
	bool overflow; /* ran out of memory collecting */
};
void cli_event(void *arg, const struct csm_event *ev);
/* One event as text, e.g. "block 7 (bytes 28672-32767): checksum mismatch". */
void cli_event_text(const struct cli_events *c, const struct csm_event *ev, char *buf, size_t n);

char *cli_default_meta_path(const char *path);

int cmd_format(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_corrupt(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_recover(int argc, char **argv);
int cmd_fault(int argc, char **argv);

/* Long options shared by the commands. */
enum {
	OPT_SIZE = 1000,
	OPT_BS,
	OPT_LAYOUT,
	OPT_META,
	OPT_CSUM,
	OPT_FORCE,
	OPT_METAFILE,
	OPT_JSON,
	OPT_GROUP,
	OPT_OFFSET,
	OPT_BITS,
	OPT_SEED,
	OPT_META_TARGET,
	OPT_BROTHER,
};

#define FORMAT_LONGOPTS                                          \
	{"size", required_argument, NULL, OPT_SIZE},             \
	        {"block-size", required_argument, NULL, OPT_BS}, \
	        {"layout", required_argument, NULL, OPT_LAYOUT}, \
	        {"metadata", required_argument, NULL, OPT_META}, \
	        {"checksum", required_argument, NULL, OPT_CSUM}, \
	{                                                        \
		"force", no_argument, NULL, OPT_FORCE            \
	}

/* Shared by format and import: parsed format options. */
struct cli_format_args {
	struct csm_format_opts fo;
	const char *meta_path;
	bool have_size;
	bool force;
};
/* Handles one format option; returns 1 if consumed, 0 if not a format
 * option, -1 on a bad value (already reported). */
int cli_format_option(struct cli_format_args *a, int opt, const char *arg);
/* Create/validate the target files and format them; fills *created with
 * whether the files were created (for cleanup).  Returns an exit code. */
int cli_do_format(struct cli_format_args *a, const char *path, bool *created);
void cli_remove_created(const char *path, const struct cli_format_args *a);

#endif
