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

#include "csumshim/dmcsum_io.h"
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

/* A flag of cli_file_args: --name sets *on. */
struct cli_flag {
	const char *name;
	bool *on;
};
/* The arguments of a command taking FILE [--metadata-file PATH] and flags
 * (ended by {NULL}; at most 8): the FILE, or NULL after a one-line error
 * naming cmd and its usage. */
const char *cli_file_args(int argc, char **argv, const char *cmd, const char *usage,
                          const struct cli_flag *flags, const char **meta);
int cli_close(struct cli_file *f);
/* Write the runs of blocks of buf that are not all zero (zero blocks stay
 * never-written); -1 with errno on failure. */
int cli_write_nonzero_runs(struct csm_engine *e, const uint8_t *buf, size_t n, uint64_t off);

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
	uint32_t per_group; /* 0: unknown */
	struct csm_event *ev;
	size_t n, cap;
	bool overflow; /* ran out of memory collecting */
};
void cli_event(void *arg, const struct csm_event *ev);
/* One event as text, e.g. "block 7 (bytes 28672-32767): checksum mismatch". */
void cli_event_text(const struct cli_events *c, const struct csm_event *ev, char *buf, size_t n);

char *cli_default_meta_path(const char *path);
/* Opening stores, each failure reported in one line: a data file (or
 * device) by name; a separate layout's metadata file through
 * csm_meta_open (never a link, never another user's file); the POSIX
 * backend over them (on failure it closes both).  -1 / EXIT_ERR on error. */
int cli_open_data(const char *path, bool writable);
int cli_open_meta(const char *meta, int dfd, bool writable);
int cli_posix_backend(struct csm_backend *be, const char *path, int dfd, int mfd);

/* pread/pwrite of exactly n bytes, looping over short counts and EINTR
 * (*got < n only at the end of the file); 0 or -errno. */
int cli_read_full(int fd, uint8_t *buf, size_t n, uint64_t off, size_t *got);
int cli_write_full(int fd, const uint8_t *buf, size_t n, uint64_t off);
/* A JSON string literal on stdout. */
void cli_json_str(const char *s);

int cmd_format(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_corrupt(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_recover(int argc, char **argv);
int cmd_upgrade(int argc, char **argv);
int cmd_convert(int argc, char **argv);
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
	OPT_TO,
	OPT_SOURCE_LAYOUT,
	OPT_FORMAT_VERSION,
	OPT_UNALIGNED,
};

#define FORMAT_LONGOPTS                                                          \
	{"size", required_argument, NULL, OPT_SIZE},                             \
	        {"block-size", required_argument, NULL, OPT_BS},                 \
	        {"layout", required_argument, NULL, OPT_LAYOUT},                 \
	        {"metadata", required_argument, NULL, OPT_META},                 \
	        {"checksum", required_argument, NULL, OPT_CSUM},                 \
	        {"format-version", required_argument, NULL, OPT_FORMAT_VERSION}, \
	        {"unaligned", no_argument, NULL, OPT_UNALIGNED},                 \
	{                                                                        \
		"force", no_argument, NULL, OPT_FORCE                            \
	}

/* Shared by format and import: parsed format options. */
struct cli_format_args {
	struct csm_format_opts fo;
	const char *meta_path;
	bool have_size;
	bool force;
	/* NULL: csumshim's own format (csm_format); cli_dmc_formatter for
	 * dm-csum. */
	int (*formatter)(struct csm_backend *be, const struct csm_format_opts *fo, char *err,
	                 size_t errlen);
};
/* Handles one format option; returns 1 if consumed, 0 if not a format
 * option, -1 on a bad value (already reported). */
int cli_format_option(struct cli_format_args *a, int opt, const char *arg);
/* Create/validate the target files and format them; fills *created with
 * whether the files were created (for cleanup).  Returns an exit code. */
int cli_do_format(struct cli_format_args *a, const char *path, bool *created);
void cli_remove_created(const char *path, const struct cli_format_args *a);

/* ---- dm-csum, the seed's format (cmd_dmcsum.c, cmd_convert.c) ----------
 * It has no magic number, so it is only ever chosen by name: main()
 * sends a command given `--format dm-csum` to its cmd_dmc_ twin.  A file
 * is interleaved (the seed's "same") unless --layout separate or a
 * metadata file is named. */

struct cli_dmc {
	char *path;
	char *meta_path; /* separate layout: the metadata file, else NULL */
	struct csm_dmc *d;
};

struct cli_dmc_open_opts {
	unsigned layout;       /* 0: separate if meta_path, else interleaved */
	const char *meta_path; /* separate: default PATH.csum */
	bool writable;         /* open the files read-write */
	bool readonly_handle;  /* the handle refuses logical writes */
	csm_dmc_report_fn report;
	void *report_arg;
};

/* Open and print a one-line error on failure.  Returns EXIT_OK or EXIT_ERR. */
int cli_dmc_open(struct cli_dmc *f, const char *path, const struct cli_dmc_open_opts *o);
int cli_dmc_close(struct cli_dmc *f);
/* "sector 7 (bytes 3584-4095): checksum mismatch" and the like. */
void cli_dmc_event_text(const struct csm_dmc_event *ev, char *buf, size_t n);
/* cli_format_args.formatter for dm-csum: layout, size, use_capacity. */
int cli_dmc_formatter(struct csm_backend *be, const struct csm_format_opts *fo, char *err,
                      size_t errlen);
/* Parse --layout for an existing dm-csum file; -1 (reported) if bad. */
int cli_dmc_layout_arg(const char *arg);

int cmd_dmc_format(int argc, char **argv);
int cmd_dmc_info(int argc, char **argv);
int cmd_dmc_check(int argc, char **argv);
int cmd_dmc_dump(int argc, char **argv);
int cmd_dmc_corrupt(int argc, char **argv);
int cmd_dmc_import(int argc, char **argv);
int cmd_dmc_export(int argc, char **argv);

#endif
