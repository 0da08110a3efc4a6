/*
 * csumshim run [--config FILE] -- CMD ARGS...
 *
 * Validates the configuration, puts libcsumshim.so first in LD_PRELOAD and
 * the configuration in CSUMSHIM_CONFIG, and execs CMD (like faketime or
 * fiu-run).  A config error is reported as FILE:LINE and exits 78 before
 * anything runs.  Warns when CMD is statically linked, setuid or setgid
 * (the loader ignores LD_PRELOAD there), or a Go program (it makes its own
 * system calls, not libc's): it would run unprotected.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"

#ifndef CSUMSHIM_LIBDIR
#define CSUMSHIM_LIBDIR "/usr/local/lib"
#endif

/* The library next to this executable (build tree), in ../lib*, or in the
 * configured install directory; $CSUMSHIM_LIBRARY overrides. */
static char *find_library(void)
{
	const char *env = secure_getenv("CSUMSHIM_LIBRARY");
	if (env && *env)
		return realpath(env, NULL);
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		char *slash = strrchr(exe, '/');
		if (slash)
			*slash = 0;
		const char *rel[] = {"/libcsumshim.so", "/../lib/libcsumshim.so",
		                     "/../lib/x86_64-linux-gnu/libcsumshim.so",
		                     "/../lib64/libcsumshim.so"};
		for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
			char cand[PATH_MAX * 2];
			snprintf(cand, sizeof(cand), "%s%s", exe, rel[i]);
			if (access(cand, R_OK) == 0)
				return realpath(cand, NULL);
		}
	}
	if (access(CSUMSHIM_LIBDIR "/libcsumshim.so", R_OK) == 0)
		return strdup(CSUMSHIM_LIBDIR "/libcsumshim.so");
	return NULL;
}

/* Resolve CMD like execvp would. */
static char *find_command(const char *cmd)
{
	if (strchr(cmd, '/'))
		return strdup(cmd);
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	char *dup = strdup(path), *save = NULL;
	for (char *dir = strtok_r(dup, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		char *cand;
		if (asprintf(&cand, "%s/%s", *dir ? dir : ".", cmd) < 0)
			break;
		if (access(cand, X_OK) == 0) {
			free(dup);
			return cand;
		}
		free(cand);
	}
	free(dup);
	return NULL;
}

/* 1: an ELF without an interpreter (static); 0: dynamic, a script, or unknown. */
static int is_static_elf(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	Elf64_Ehdr eh;
	int result = 0;
	if (pread(fd, &eh, sizeof(eh), 0) == (ssize_t)sizeof(eh) &&
	    !memcmp(eh.e_ident, ELFMAG, SELFMAG) && eh.e_ident[EI_CLASS] == ELFCLASS64 &&
	    eh.e_phentsize == sizeof(Elf64_Phdr)) {
		result = 1;
		for (unsigned i = 0; i < eh.e_phnum; i++) {
			Elf64_Phdr ph;
			if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + i * sizeof(ph))) !=
			    (ssize_t)sizeof(ph))
				break;
			if (ph.p_type == PT_INTERP || ph.p_type == PT_DYNAMIC) {
				result = 0;
				break;
			}
		}
	}
	close(fd);
	return result;
}

/* Section `idx` of an ELF file whose header is `eh`. */
static bool read_shdr(int fd, const Elf64_Ehdr *eh, unsigned idx, Elf64_Shdr *sh)
{
	return pread(fd, sh, sizeof(*sh), (off_t)(eh->e_shoff + (uint64_t)idx * sizeof(*sh))) ==
	       (ssize_t)sizeof(*sh);
}

/* 1: an ELF with a section the Go toolchain writes into every binary it
 * links (.go.buildinfo, .note.go.buildid); 0: anything else, or unknown.
 * Go programs make their system calls themselves, not through libc, so no
 * preloaded library sees their I/O, whether they are static or not (cgo). */
static int is_go_elf(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	Elf64_Ehdr eh;
	Elf64_Shdr sh;
	char *names = NULL;
	uint64_t shnum;
	unsigned strndx;
	size_t nlen;
	int result = 0;
	if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shoff == 0)
		goto out;
	/* Extended numbering: the real count and index are in section 0. */
	shnum = eh.e_shnum;
	strndx = eh.e_shstrndx;
	if ((shnum == 0 || strndx == SHN_XINDEX) && read_shdr(fd, &eh, 0, &sh)) {
		if (shnum == 0)
			shnum = sh.sh_size;
		if (strndx == SHN_XINDEX)
			strndx = sh.sh_link;
	}
	if (strndx == SHN_UNDEF || strndx >= shnum || shnum > 65536 ||
	    !read_shdr(fd, &eh, strndx, &sh) || sh.sh_size == 0 || sh.sh_size > (1u << 20))
		goto out;
	nlen = (size_t)sh.sh_size;
	names = malloc(nlen + 1);
	if (!names || pread(fd, names, nlen, (off_t)sh.sh_offset) != (ssize_t)nlen)
		goto out;
	names[nlen] = 0;
	for (unsigned i = 1; i < shnum && !result; i++) {
		if (!read_shdr(fd, &eh, i, &sh))
			break;
		if (sh.sh_name >= nlen)
			continue;
		const char *name = names + sh.sh_name;
		result = !strcmp(name, ".go.buildinfo") || !strcmp(name, ".note.go.buildid");
	}
out:
	free(names);
	close(fd);
	return result;
}

/* CMD would run without the library: say so (it still runs). */
static void warn_unprotected(const char *cmd)
{
	struct stat st;
	const char *why = NULL;
	if (stat(cmd, &st) == 0 && (st.st_mode & S_ISUID))
		why = "setuid";
	else if (stat(cmd, &st) == 0 && (st.st_mode & S_ISGID) && (st.st_mode & S_IXGRP))
		why = "setgid"; /* without group execute, the bit means something else */
	if (why)
		fprintf(stderr,
		        "csumshim: warning: %s is %s: when it gains privileges the loader "
		        "ignores LD_PRELOAD, and its file I/O is then not intercepted or "
		        "verified\n",
		        cmd, why);
	else if (is_go_elf(cmd))
		fprintf(stderr,
		        "csumshim: warning: %s is a Go program: Go makes its own system calls, "
		        "not through libc, so its file I/O is not intercepted or verified\n",
		        cmd);
	else if (is_static_elf(cmd))
		fprintf(stderr,
		        "csumshim: warning: %s is statically linked; its file I/O cannot be "
		        "intercepted or verified\n",
		        cmd);
}

int cmd_run(int argc, char **argv)
{
	static const struct option longopts[] = {
	        {"config", required_argument, NULL, 'c'},
	        {NULL, 0, NULL, 0},
	};
	const char *config = NULL;
	int opt;
	/* "+": stop at the first non-option (the command). */
	while ((opt = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		if (opt == 'c') {
			config = optarg;
		} else {
			cli_err("run: usage: csumshim run [--config FILE] -- CMD [ARGS...]");
			return EXIT_ERR;
		}
	}
	if (optind >= argc) {
		cli_err("run: usage: csumshim run [--config FILE] -- CMD [ARGS...]");
		return EXIT_ERR;
	}
	char *cfgpath;
	if (config) {
		cfgpath = realpath(config, NULL);
		if (!cfgpath) {
			cli_err("%s: cannot read the config: %s", config, strerror(errno));
			return 78;
		}
	} else {
		bool missing;
		cfgpath = csm_config_locate(&missing);
		if (!cfgpath || missing) {
			cli_err("%s: no configuration: pass --config FILE, set CSUMSHIM_CONFIG, or "
			        "create ~/.config/csumshim/csumshim.conf or /etc/csumshim.conf",
			        cfgpath ? cfgpath : "(none)");
			free(cfgpath);
			return 78;
		}
	}
	struct csm_config cfg;
	char err[512];
	if (csm_config_load(cfgpath, &cfg, err, sizeof(err)) < 0) {
		cli_err("%s", err);
		free(cfgpath);
		return 78;
	}
	csm_config_free(&cfg);
	char *lib = find_library();
	if (!lib) {
		cli_err("cannot find libcsumshim.so (set CSUMSHIM_LIBRARY)");
		free(cfgpath);
		return EXIT_ERR;
	}
	const char *old = getenv("LD_PRELOAD");
	char *preload;
	if (old && *old && !strstr(old, lib)) {
		if (asprintf(&preload, "%s:%s", lib, old) < 0)
			preload = NULL;
	} else {
		preload = strdup(old && *old ? old : lib);
	}
	if (!preload || setenv("LD_PRELOAD", preload, 1) < 0 ||
	    setenv("CSUMSHIM_CONFIG", cfgpath, 1) < 0) {
		cli_err("cannot set the environment: %s", strerror(errno));
		free(preload);
		free(lib);
		free(cfgpath);
		return EXIT_ERR;
	}
	char *cmd = find_command(argv[optind]);
	if (cmd)
		warn_unprotected(cmd);
	free(cmd);
	free(lib);
	free(preload);
	free(cfgpath);
	execvp(argv[optind], argv + optind);
	cli_err("%s: %s", argv[optind], strerror(errno));
	return errno == ENOENT ? 127 : 126;
}
