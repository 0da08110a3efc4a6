/*
 * Fault rules from the config's [faults] section and from control files:
 * parsing into rule sets (faults.h).  The rules themselves are parsed by
 * the engine's csm_fault_parse; this file adds lines, names and globs.
 */
#define _GNU_SOURCE
#include "faults.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int csm_fault_set_add(struct csm_fault_set *s, const char *text, int line, char *err, size_t errlen)
{
	struct csm_fault_rule r;
	char *glob;
	if (csm_fault_parse(text, &r, &glob, err, errlen) < 0)
		return -1;
	r.line = line;
	struct csm_fault_rule *nr = realloc(s->rules, (s->n + 1) * sizeof(*nr));
	if (nr)
		s->rules = nr;
	char **ng = nr ? realloc(s->globs, (s->n + 1) * sizeof(*ng)) : NULL;
	if (ng)
		s->globs = ng;
	char **nt = ng ? realloc(s->texts, (s->n + 1) * sizeof(*nt)) : NULL;
	if (nt)
		s->texts = nt;
	char *t = nt ? strdup(text) : NULL;
	if (!t) {
		free(glob);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->rules[s->n] = r;
	s->globs[s->n] = glob;
	s->texts[s->n] = t;
	s->n++;
	return 0;
}

int csm_fault_set_parse(struct csm_fault_set *s, const char *name, const char *text, char *err,
                        size_t errlen)
{
	int line = 0;
	while (*text) {
		line++;
		size_t len = strcspn(text, "\n");
		char *l = strndup(text, len);
		text += len + (text[len] == '\n');
		if (!l) {
			snprintf(err, errlen, "%s: out of memory", name);
			return -1;
		}
		char *p = l + strspn(l, " \t");
		char *end = p + strlen(p);
		while (end > p && strchr(" \t\r", end[-1]))
			*--end = 0;
		char msg[256];
		int rc = 0;
		if (*p && *p != '#' && *p != ';') {
			if (s->n == CSM_FAULT_STATE_SLOTS) {
				snprintf(msg, sizeof(msg), "more than %d rules",
				         CSM_FAULT_STATE_SLOTS);
				rc = -1;
			} else {
				rc = csm_fault_set_add(s, p, line, msg, sizeof(msg));
			}
		}
		free(l);
		if (rc < 0) {
			snprintf(err, errlen, "%s:%d: %s", name, line, msg);
			return -1;
		}
	}
	return 0;
}

void csm_fault_set_free(struct csm_fault_set *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->globs[i]);
		free(s->texts[i]);
	}
	free(s->rules);
	free(s->globs);
	free(s->texts);
	memset(s, 0, sizeof(*s));
}

uint64_t csm_fault_tag(const char *text)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
	for (; *text; text++)
		h = (h ^ (uint8_t)*text) * 0x100000001b3ull;
	return h | 1; /* never 0: a fresh slot */
}

char *csm_fault_control_path(const char *tmpl, const char *path)
{
	struct csm_rule r = {.metadata = (char *)tmpl};
	return csm_config_meta_path(&r, path);
}

int csm_config_fault_key(struct csm_config *c, const char *name, const char *value, int line,
                         char *msg, size_t msglen)
{
	if (!strcmp(name, "rule"))
		return csm_fault_set_add(&c->faults, value, line, msg, msglen) == 0;
	if (!strcmp(name, "control")) {
		const char *t = !strcmp(value, "yes") ? "%p.faults" : value;
		free(c->fault_control);
		c->fault_control = NULL;
		if (!strcmp(value, "no"))
			return 1;
		for (const char *p = t; *p; p++)
			if (*p == '%' && (!p[1] || !strchr("pdf%", p[1]))) {
				snprintf(
				        msg, msglen,
				        "control: unknown escape in '%s' (use %%p, %%d, %%f, %%%%)",
				        value);
				return 0;
			} else if (*p == '%') {
				p++;
			}
		if (t[0] != '/' && strncmp(t, "%p", 2) != 0 && strncmp(t, "%d", 2) != 0) {
			snprintf(msg, msglen,
			         "control: expected yes, no or an absolute template, not '%s'",
			         value);
			return 0;
		}
		c->fault_control = strdup(t);
		return 1;
	}
	snprintf(msg, msglen, "unknown key '%s' in [faults] (known: rule, control)", name);
	return 0;
}
