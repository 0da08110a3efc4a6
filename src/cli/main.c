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
        {"recover", cmd_recover, "recover FILE"},
        {"corrupt", cmd_corrupt, "corrupt FILE --offset BYTE [--bits K] [--seed S] [--metadata]"},
        {"dump", cmd_dump, "dump FILE --group G"},
        {"import", cmd_import, "import SRC DST [format options]"},
        {"export", cmd_export, "export SRC DST [--force]"},
        {"run", cmd_run, "run [--config FILE] -- CMD [ARGS...]"},
        {"fault", cmd_fault,
         "fault add FILE RULE... | list FILE... | clear FILE... [--control PATH]"},
};

static void usage(FILE *out)
{
	fprintf(out, "usage: csumshim COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %s\n", commands[i].help);
	fprintf(out, "\nSeparate layout: commands find the metadata in FILE.csum, or take "
	             "--metadata-file PATH.\n"
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
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(cmd, commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	cli_err("unknown command '%s' (try 'csumshim --help')", cmd);
	return EXIT_ERR;
}
