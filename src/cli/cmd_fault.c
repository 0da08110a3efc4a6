/*
 * csumshim fault add FILE RULE...   append one rule to FILE's control file
 * csumshim fault list FILE...       print each rule with its counters
 * csumshim fault clear FILE...      remove every rule, zero the counters
 *     [--control PATH]              the control file (default FILE.faults)
 *
 * The control file is what the library watches when the config says
 * `[faults] control = yes` (README.md, "Fault injection for test
 * harnesses").  It is replaced by rename, never rewritten in place, so a
 * process re-reading it sees the old rules or the new ones, whole.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "faults.h"

static char *read_all(const char *path, bool *missing)
{
	*missing = false;
	FILE *f = fopen(path, "re");
	if (!f) {
		*missing = errno == ENOENT;
		return *missing ? strdup("") : NULL;
	}
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	char buf[4096];
	size_t n;
	while (m && (n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, m);
	bool err = ferror(f);
	fclose(f);
	if (m)
		fclose(m);
	if (err) {
		free(text);
		return NULL;
	}
	return text;
}

/* Replace `path` with `text` (temporary file, fsync, rename). */
static int replace(const char *path, const char *text)
{
	char *tmp;
	if (asprintf(&tmp, "%s.tmp.%d", path, (int)getpid()) < 0)
		return -1;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t len = strlen(text), done = 0;
	while (fd >= 0 && done < len) {
		ssize_t w = write(fd, text + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		done += (size_t)w;
	}
	int rc = fd >= 0 && done == len && fsync(fd) == 0 ? 0 : -1;
	if (fd >= 0 && close(fd) < 0)
		rc = -1;
	if (rc == 0)
		rc = rename(tmp, path);
	int e = errno;
	if (rc < 0)
		unlink(tmp);
	free(tmp);
	errno = e;
	return rc;
}

static int load(const char *ctl, struct csm_fault_set *set)
{
	bool missing;
	char *text = read_all(ctl, &missing);
	if (!text) {
		cli_err("%s: %s", ctl, strerror(errno));
		return EXIT_ERR;
	}
	char err[400];
	int rc = csm_fault_set_parse(set, ctl, text, err, sizeof(err));
	free(text);
	if (rc < 0) {
		cli_err("%s", err);
		return EXIT_ERR;
	}
	return EXIT_OK;
}

static int add(const char *ctl, int argc, char **argv)
{
	char *rule = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&rule, &len);
	for (int i = 0; m && i < argc; i++)
		fprintf(m, "%s%s", i ? " " : "", argv[i]);
	if (!m || fclose(m) != 0) {
		cli_err("fault add: out of memory");
		return EXIT_ERR;
	}
	struct csm_fault_set set = {0};
	char err[300];
	if (csm_fault_set_add(&set, rule, 0, err, sizeof(err)) < 0) {
		cli_err("fault add: %s", err);
		free(rule);
		return EXIT_ERR;
	}
	csm_fault_set_free(&set);
	int rc = load(ctl, &set);
	size_t n = set.n;
	csm_fault_set_free(&set);
	if (rc != EXIT_OK) {
		free(rule);
		return rc;
	}
	if (n == CSM_FAULT_STATE_SLOTS) {
		cli_err("%s: already %d rules", ctl, CSM_FAULT_STATE_SLOTS);
		free(rule);
		return EXIT_ERR;
	}
	bool missing;
	char *text = read_all(ctl, &missing), *out = NULL;
	size_t tl = text ? strlen(text) : 0;
	if (!text ||
	    asprintf(&out, "%s%s%s\n", text, tl && text[tl - 1] != '\n' ? "\n" : "", rule) < 0) {
		cli_err("%s: %s", ctl, strerror(errno));
		free(text);
		free(rule);
		return EXIT_ERR;
	}
	rc = replace(ctl, out);
	if (rc < 0)
		cli_err("%s: %s", ctl, strerror(errno));
	else
		printf("%s: rule %zu: %s\n", ctl, n + 1, rule);
	free(out);
	free(text);
	free(rule);
	return rc < 0 ? EXIT_ERR : EXIT_OK;
}

static int list(const char *ctl)
{
	struct csm_fault_set set = {0};
	int rc = load(ctl, &set);
	if (rc != EXIT_OK)
		return rc;
	struct csm_fault_counters c[CSM_FAULT_STATE_SLOTS];
	memset(c, 0, sizeof(c));
	char *sp;
	if (asprintf(&sp, "%s.state", ctl) >= 0) {
		int fd = open(sp, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			ssize_t r = pread(fd, c, sizeof(c), 0);
			(void)r; /* short: the rest stays zero */
			close(fd);
		}
		free(sp);
	}
	if (!set.n)
		printf("%s: no rules\n", ctl);
	for (size_t i = 0; i < set.n; i++) {
		bool mine = c[i].tag == csm_fault_tag(set.texts[i]);
		printf("%zu: %s (ops %llu, injected %llu)\n", i + 1, set.texts[i],
		       mine ? (unsigned long long)c[i].ops : 0ull,
		       mine ? (unsigned long long)c[i].hits : 0ull);
	}
	csm_fault_set_free(&set);
	return EXIT_OK;
}

static int clear(const char *ctl)
{
	if (replace(ctl, "") < 0) {
		cli_err("%s: %s", ctl, strerror(errno));
		return EXIT_ERR;
	}
	/* Zeroed in place: processes keep the state file mapped. */
	char *sp;
	if (asprintf(&sp, "%s.state", ctl) < 0)
		return EXIT_ERR;
	int fd = open(sp, O_WRONLY | O_CLOEXEC);
	free(sp);
	if (fd >= 0) {
		static const struct csm_fault_counters zero[CSM_FAULT_STATE_SLOTS];
		ssize_t w = pwrite(fd, zero, sizeof(zero), 0);
		close(fd);
		if (w != (ssize_t)sizeof(zero)) {
			cli_err("%s.state: cannot reset the counters", ctl);
			return EXIT_ERR;
		}
	}
	printf("%s: cleared\n", ctl);
	return EXIT_OK;
}

int cmd_fault(int argc, char **argv)
{
	static const char usage[] =
	        "fault: usage: csumshim fault add FILE RULE... | list FILE... | "
	        "clear FILE...  [--control PATH]";
	const char *control = NULL;
	int n = 0;
	char **args = calloc((size_t)argc + 1, sizeof(*args));
	if (!args)
		return EXIT_ERR;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--control") && i + 1 < argc)
			control = argv[++i];
		else if (!strncmp(argv[i], "--control=", 10))
			control = argv[i] + 10;
		else
			args[n++] = argv[i];
	}
	int rc = EXIT_ERR;
	const char *sub = n ? args[0] : "";
	bool is_add = !strcmp(sub, "add");
	if ((!is_add && strcmp(sub, "list") != 0 && strcmp(sub, "clear") != 0) ||
	    n < (is_add ? 3 : 2) || (control && !is_add && n != 2)) {
		cli_err("%s", usage);
		goto out;
	}
	for (int i = 1; i < (is_add ? 2 : n); i++) {
		char *ctl = control ? strdup(control) : NULL;
		if (!ctl && asprintf(&ctl, "%s.faults", args[i]) < 0)
			ctl = NULL;
		if (!ctl)
			goto out;
		rc = is_add                 ? add(ctl, n - 2, args + 2)
		     : !strcmp(sub, "list") ? list(ctl)
		                            : clear(ctl);
		free(ctl);
		if (rc != EXIT_OK)
			break;
	}
out:
	free(args);
	return rc;
}
