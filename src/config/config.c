/*
 * Config parsing (libinih) and path matching.  See config.h for the syntax.
 */
#define _GNU_SOURCE
#include "config.h"
#include "glob.h"

#include "csumshim/engine.h"

#include <errno.h>
#include <fnmatch.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csumshim/format.h"

struct parse_state {
	struct csm_config *cfg;
	char msg[256];
	char section[4096];
	struct csm_rule *cur; /* rule of the current section, NULL in [global] */
	size_t next;          /* where to look for the next section's rule */
};

static int fail(struct parse_state *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct parse_state *st, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(st->msg, sizeof(st->msg), fmt, ap);
	va_end(ap);
	return 0; /* inih: stop with this line's number */
}

static bool parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "on") || !strcmp(v, "1"))
		*out = true;
	else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "off") || !strcmp(v, "0"))
		*out = false;
	else
		return false;
	return true;
}

/* A key with two values: *out = 0 for the first, 1 for the second. */
_Static_assert(CSM_DURABILITY_DEFAULT == 0 && CSM_DURABILITY_STRICT == 1 &&
                       CSM_RULE_CSUMSHIM == 0 && CSM_RULE_DMCSUM == 1,
               "the values parse_either gives");
static bool parse_either(const char *v, const char *v0, const char *v1, unsigned *out)
{
	if (strcmp(v, v0) != 0 && strcmp(v, v1) != 0)
		return false;
	*out = strcmp(v, v0) == 0 ? 0 : 1;
	return true;
}

static bool parse_bytes(const char *v, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (errno || end == v || *v == '-')
		return false;
	unsigned shift = 0;
	if (*end) {
		const char *u = strchr("KMGT", *end & ~0x20);
		if (!u)
			return false;
		shift = 10 * (unsigned)(u - "KMGT" + 1);
		end++;
		if (*end == 'i' && end[1] == 'B')
			end += 2;
		if (*end)
			return false;
	}
	if (shift && n > (UINT64_MAX >> shift))
		return false;
	*out = (uint64_t)n << shift;
	return true;
}

static struct csm_rule *new_rule(struct parse_state *st, const char *glob, int line)
{
	struct csm_config *c = st->cfg;
	struct csm_rule *v = realloc(c->rules, (c->nrules + 1) * sizeof(*v));
	if (!v)
		return NULL;
	c->rules = v;
	struct csm_rule *r = &v[c->nrules++];
	memset(r, 0, sizeof(*r));
	r->glob = strdup(glob);
	r->line = line;
	r->block_size = 4096;
	r->algo = CSM_ALGO_CRC32C;
	r->layout = CSM_LAYOUT_INTERLEAVED;
	r->create = true;
	r->solo = true;
	return r->glob ? r : NULL;
}

static int on_global(struct parse_state *st, const char *name, const char *value)
{
	struct csm_config *c = st->cfg;
	if (!strcmp(name, "log")) {
		free(c->log_path);
		c->log_path = NULL;
		if (!strcmp(value, "stderr")) {
			c->log = CSM_LOG_STDERR;
		} else if (!strcmp(value, "syslog")) {
			c->log = CSM_LOG_SYSLOG;
		} else if (value[0] == '/') {
			/* Appended to, often by root: never through a link, never
			 * anything but a regular file (the shim checks again when
			 * it opens it). */
			struct stat ls;
			if (lstat(value, &ls) == 0 && S_ISLNK(ls.st_mode))
				return fail(st, "log: %s is a symbolic link; refused", value);
			if (lstat(value, &ls) == 0 && !S_ISREG(ls.st_mode))
				return fail(st, "log: %s is not a regular file; refused", value);
			c->log = CSM_LOG_FILE;
			c->log_path = strdup(value);
		} else {
			return fail(st,
			            "log: expected stderr, syslog or an absolute path, not '%s'",
			            value);
		}
		return 1;
	}
	if (!strcmp(name, "cache")) {
		uint64_t v;
		if (!parse_bytes(value, &v) || v == 0)
			return fail(st, "cache: not a size: '%s'", value);
		c->cache_bytes = (size_t)v;
		return 1;
	}
	return fail(st, "unknown key '%s' in [global] (known: log, cache)", name);
}

/* exclude = GLOB (appended) | none (empties the list, the default too). */
static int on_exclude(struct parse_state *st, struct csm_rule *r, const char *value)
{
	if (!strcmp(value, "none")) {
		for (size_t i = 0; i < r->nexclude; i++)
			free(r->exclude[i]);
		r->nexclude = 0;
		r->exclude_none = true;
		return 1;
	}
	if (value[0] != '/')
		return fail(st, "exclude: expected an absolute path glob or none, not '%s'", value);
	char **v = realloc(r->exclude, (r->nexclude + 1) * sizeof(*v));
	if (!v || !(v[r->nexclude] = strdup(value))) {
		if (v)
			r->exclude = v;
		return fail(st, "out of memory");
	}
	r->exclude = v;
	r->nexclude++;
	return 1;
}

static int on_rule(struct parse_state *st, struct csm_rule *r, const char *name, const char *value)
{
	if (!strcmp(name, "layout")) {
		int l = csm_layout_from_name(value);
		if (l < 0)
			return fail(st, "layout: expected interleaved or separate, not '%s'",
			            value);
		r->layout = (unsigned)l;
	} else if (!strcmp(name, "block_size")) {
		uint64_t v;
		if (!parse_bytes(value, &v) || !csm_block_size_valid(v))
			return fail(st, "block_size: must be 512, 1024, 2048 or 4096, not '%s'",
			            value);
		r->block_size = (uint32_t)v;
	} else if (!strcmp(name, "checksum")) {
		int a = csm_algo_from_name(value);
		if (a < 0)
			return fail(st, "checksum: expected crc32c or xxh3, not '%s'", value);
		r->algo = (unsigned)a;
	} else if (!strcmp(name, "metadata")) {
		if (!*value)
			return fail(st, "metadata: empty template");
		for (const char *p = value; *p; p++)
			if (*p == '%' && (!p[1] || !strchr("pdf%", p[1])))
				return fail(st,
				            "metadata: unknown escape in '%s' (use %%p, %%d, %%f, "
				            "%%%%)",
				            value);
			else if (*p == '%')
				p++;
		free(r->metadata);
		r->metadata = strdup(value);
	} else if (!strcmp(name, "create")) {
		if (!parse_bool(value, &r->create))
			return fail(st, "create: expected yes or no, not '%s'", value);
	} else if (!strcmp(name, "on_mismatch")) {
		if (!strcmp(value, "error"))
			r->log_only = false;
		else if (!strcmp(value, "log"))
			r->log_only = true;
		else
			return fail(st, "on_mismatch: expected error or log, not '%s'", value);
	} else if (!strcmp(name, "durability")) {
		if (!parse_either(value, "default", "strict", &r->durability))
			return fail(st, "durability: expected default or strict, not '%s'", value);
	} else if (!strcmp(name, "solo")) {
		if (!parse_bool(value, &r->solo))
			return fail(st, "solo: expected yes or no, not '%s'", value);
	} else if (!strcmp(name, "format")) {
		if (!parse_either(value, "csumshim", "dm-csum", &r->format))
			return fail(st, "format: expected csumshim or dm-csum, not '%s'", value);
	} else if (!strcmp(name, "exclude")) {
		return on_exclude(st, r, value);
	} else {
		return fail(
		        st,
		        "unknown key '%s' (known: layout, block_size, checksum, metadata, create, "
		        "on_mismatch, durability, solo, format, exclude)",
		        name);
	}
	/* The seed's format has no way to keep either promise. */
	if (r->format == CSM_RULE_DMCSUM && (r->log_only || r->durability == CSM_DURABILITY_STRICT))
		return fail(st, "format = dm-csum: %s is not available for dm-csum files",
		            r->log_only ? "on_mismatch = log" : "durability = strict");
	return 1;
}

/* inih reports a section only through its keys; a cursor walks the rules
 * (made in file order by scan_sections) as the section name changes. */
#if INI_HANDLER_LINENO
static int handler(void *user, const char *section, const char *name, const char *value, int line)
#else
static int handler(void *user, const char *section, const char *name, const char *value)
#endif
{
	struct parse_state *st = user;
#if !INI_HANDLER_LINENO
	int line = 0;
#endif
	if (!name) /* new-section call, when inih is built to make it */
		return 1;
	if (!*section)
		return fail(st, "key '%s' outside any section", name);
	if (!strcmp(section, "faults"))
		return csm_config_fault_key(st->cfg, name, value, line, st->msg, sizeof(st->msg));
	if (strcmp(section, st->section) != 0) {
		snprintf(st->section, sizeof(st->section), "%s", section);
		st->cur = NULL;
		if (strcmp(section, "global") != 0) {
			struct csm_config *c = st->cfg;
			size_t i = st->next;
			while (i < c->nrules && strcmp(c->rules[i].glob, section) != 0)
				i++;
			if (i == c->nrules)
				return fail(st, "section [%s] not understood", section);
			st->cur = &c->rules[i];
			st->next = i + 1;
		}
	}
	return st->cur ? on_rule(st, st->cur, name, value) : on_global(st, name, value);
}

/* Pass 1: every section header, in file order, becomes a rule with its
 * line (so a section without keys still counts, and order is kept). */
static int scan_sections(struct parse_state *st, FILE *f)
{
	char line[4096];
	int n = 0;
	while (fgets(line, sizeof(line), f)) {
		n++;
		char *p = line + strspn(line, " \t");
		if (*p != '[')
			continue;
		char *end = strchr(p, ']');
		if (!end) {
			fail(st, "section header without ']'");
			return n;
		}
		*end = 0;
		const char *name = p + 1;
		if (!strcmp(name, "global") || !strcmp(name, "faults"))
			continue;
		if (name[0] != '/') {
			fail(st,
			     "section [%s]: expected [global], [faults] or an absolute path glob",
			     name);
			return n;
		}
		if (!new_rule(st, name, n)) {
			fail(st, "out of memory");
			return n;
		}
	}
	return 0;
}

int csm_config_load(const char *path, struct csm_config *cfg, char *err, size_t errlen)
{
	memset(cfg, 0, sizeof(*cfg));
	FILE *f = fopen(path, "re");
	if (!f) {
		snprintf(err, errlen, "%s: cannot read the config: %s", path, strerror(errno));
		return -1;
	}
	struct parse_state st = {.cfg = cfg};
	int line = scan_sections(&st, f);
	if (line == 0) {
		rewind(f);
		line = ini_parse_file(f, handler, &st);
	}
	fclose(f);
	if (line != 0) {
		if (line < 0)
			snprintf(err, errlen, "%s: cannot read the config", path);
		else
			snprintf(err, errlen, "%s:%d: %s", path, line,
			         st.msg[0] ? st.msg
			                   : "syntax error (expected [section] or key = value)");
		csm_config_free(cfg);
		return -1;
	}
	for (size_t i = 0; i < cfg->nrules; i++)
		if (cfg->rules[i].layout == CSM_LAYOUT_SEPARATE && !cfg->rules[i].metadata)
			cfg->rules[i].metadata = strdup("%p.csum");
	cfg->path = strdup(path);
	return 0;
}

void csm_config_free(struct csm_config *cfg)
{
	for (size_t i = 0; i < cfg->nrules; i++) {
		free(cfg->rules[i].glob);
		free(cfg->rules[i].metadata);
		for (size_t k = 0; k < cfg->rules[i].nexclude; k++)
			free(cfg->rules[i].exclude[k]);
		free(cfg->rules[i].exclude);
	}
	free(cfg->rules);
	csm_fault_set_free(&cfg->faults);
	free(cfg->fault_control);
	free(cfg->log_path);
	free(cfg->path);
	memset(cfg, 0, sizeof(*cfg));
}

const struct csm_rule *csm_config_match(const struct csm_config *cfg, const char *path)
{
	for (size_t i = 0; i < cfg->nrules; i++) {
		const struct csm_rule *r = &cfg->rules[i];
		if (!csm_glob_match(r->glob, path))
			continue;
		bool out = !r->exclude_none && csm_glob_match(CSM_DEFAULT_EXCLUDE, path);
		for (size_t k = 0; k < r->nexclude && !out; k++)
			out = csm_glob_match(r->exclude[k], path);
		if (!out)
			return r;
	}
	return NULL;
}

char *csm_config_meta_path(const struct csm_rule *r, const char *path)
{
	const char *slash = strrchr(path, '/');
	size_t dlen = slash ? (size_t)(slash - path) : 0;
	const char *fname = slash ? slash + 1 : path;
	size_t cap = strlen(r->metadata) * (strlen(path) + 1) + 1;
	char *out = malloc(cap), *o = out;
	if (!out)
		return NULL;
	for (const char *p = r->metadata; *p; p++) {
		if (*p != '%') {
			*o++ = *p;
			continue;
		}
		p++;
		if (*p == 'p')
			o = stpcpy(o, path);
		else if (*p == 'd')
			o = (char *)memcpy(o, path, dlen) + dlen;
		else if (*p == 'f')
			o = stpcpy(o, fname);
		else
			*o++ = '%';
	}
	*o = 0;
	return out;
}

char *csm_config_locate(bool *explicit_missing)
{
	*explicit_missing = false;
	const char *env = secure_getenv("CSUMSHIM_CONFIG");
	if (env && *env) {
		if (access(env, F_OK) != 0)
			*explicit_missing = true;
		return strdup(env);
	}
	char *p = NULL;
	const char *xdg = secure_getenv("XDG_CONFIG_HOME");
	const char *home = secure_getenv("HOME");
	if (xdg && *xdg) {
		if (asprintf(&p, "%s/csumshim/csumshim.conf", xdg) < 0)
			p = NULL;
	} else if (home && *home) {
		if (asprintf(&p, "%s/.config/csumshim/csumshim.conf", home) < 0)
			p = NULL;
	}
	if (p && access(p, F_OK) == 0)
		return p;
	free(p);
	if (access("/etc/csumshim.conf", F_OK) == 0)
		return strdup("/etc/csumshim.conf");
	return NULL;
}
