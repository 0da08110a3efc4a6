/*
 * csumshim — command line entry point: dispatches to one command.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *help;
} commands[] = {
        {"format", cmd_format,
         "format FILE|DEVICE [--size BYTES] [--block-size N] [--layout L] "
         "[--metadata PATH] [--checksum crc32c|xxh3] [--force]"},
        {"info", cmd_info, "info FILE [--json]"},
        {"check", cmd_check, "check FILE [--json]"},
        {"recover", cmd_recover, "recover FILE [--after-power-loss] [--discard-lost]"},
        {"upgrade", cmd_upgrade, "upgrade FILE [--metadata-file PATH]"},
        {"corrupt", cmd_corrupt, "corrupt FILE --offset BYTE [--bits K] [--seed S] [--metadata]"},
        {"dump", cmd_dump, "dump FILE --group G"},
        {"import", cmd_import, "import SRC DST [format options]"},
        {"export", cmd_export, "export SRC DST [--force]"},
        {"convert", cmd_convert,
         "convert SRC DST --to dm-csum|csumshim [format options of DST] "
         "[--source-layout L] [--metadata-file SRCMETA] [--force]"},
        {"run", cmd_run, "run [--config FILE] -- CMD [ARGS...]"},
        {"fault", cmd_fault,
         "fault add FILE RULE... | list FILE... | clear FILE... [--control PATH]"},
};

/* The commands that work on dm-csum files, given --format dm-csum. */
static const struct {
	const char *name;
	int (*fn)(int, char **);
} dmc_commands[] = {
        {"format", cmd_dmc_format}, {"info", cmd_dmc_info},       {"check", cmd_dmc_check},
        {"dump", cmd_dmc_dump},     {"corrupt", cmd_dmc_corrupt}, {"import", cmd_dmc_import},
        {"export", cmd_dmc_export},
};

/* Take `--format NAME` / `--format=NAME` out of the arguments (up to a
 * "--").  1: dm-csum, 0: csumshim or none, -1: bad (reported).  The
 * seed's format has no magic number, so it is only ever chosen here. */
static int take_format_option(int *argc, char **argv)
{
	int which = -1, out = 1;
	for (int i = 1; i < *argc; i++) {
		const char *v = NULL;
		if (!strcmp(argv[i], "--")) {
			while (i < *argc)
				argv[out++] = argv[i++];
			break;
		}
		if (!strcmp(argv[i], "--format")) {
			if (i + 1 >= *argc) {
				cli_err("--format: needs a format (csumshim or dm-csum)");
				return -1;
			}
			v = argv[++i];
		} else if (!strncmp(argv[i], "--format=", 9)) {
			v = argv[i] + 9;
		} else {
			argv[out++] = argv[i];
			continue;
		}
		int w = !strcmp(v, "dm-csum") ? 1 : !strcmp(v, "csumshim") ? 0 : -1;
		if (w < 0 || (which >= 0 && w != which)) {
			cli_err(w < 0 ? "--format: unknown format '%s' (csumshim or dm-csum)"
			              : "--format: given twice, differently ('%s')",
			        v);
			return -1;
		}
		which = w;
	}
	argv[out] = NULL;
	*argc = out;
	return which > 0;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: csumshim COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %s\n", commands[i].help);
	fprintf(out, "\nSeparate layout: commands find the metadata in FILE.csum, or take "
	             "--metadata-file PATH.\n"
	             "dm-csum (the 2009 seed's format, no superblock): format, info, check, dump,\n"
	             "corrupt, import and export take --format dm-csum; never guessed.\n"
	             "Exit status: 0 ok, 1 bad blocks or metadata found, 2 error; run: 78 for a\n"
	             "configuration error, else the command's own status.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_ERR;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
		printf("csumshim %s (crc32c: %s)\n", CSUMSHIM_VERSION, csm_crc32c_impl());
		return EXIT_OK;
	}
	if (strcmp(cmd, "run") != 0) {
		int n = argc - 1;
		int dmc = take_format_option(&n, argv + 1);
		if (dmc < 0)
			return EXIT_ERR;
		argc = n + 1;
		for (size_t i = 0; dmc && i < sizeof(dmc_commands) / sizeof(dmc_commands[0]); i++)
			if (!strcmp(cmd, dmc_commands[i].name))
				return dmc_commands[i].fn(argc - 1, argv + 1);
		if (dmc) {
			cli_err("%s: not available for dm-csum files%s", cmd,
			        strcmp(cmd, "convert") ? "" : " (convert takes --to)");
			return EXIT_ERR;
		}
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(cmd, commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	cli_err("unknown command '%s' (try 'csumshim --help')", cmd);
	return EXIT_ERR;
}
