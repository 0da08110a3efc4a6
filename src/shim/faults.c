/*
 * Fault injection in the shim (include/csumshim/fault.h, README "Fault
 * injection for test harnesses").  A file gets the fault backend only if a
 * [faults] rule's path selects it or the config names a control file;
 * every other file keeps the plain POSIX backend, with no fault code on
 * its path.
 *
 * The control file is looked at (one stat) before every operation on the
 * file, and re-read when its inode, size or modification time changed, so
 * `csumshim fault add` takes effect at the next operation.  A control file
 * that does not parse is logged and its previous rules stay.  Its rules'
 * counters live in CONTROL.state, mapped shared, so every process of a
 * harness counts together and `csumshim fault list` reads them; the
 * config's rules count per process and per file.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "real.h"
#include "state_int.h"

struct shim_faults {
	char *path; /* the data file, for log lines */
	size_t ncfg;
	struct csm_fault_rule *cfg; /* copies of the config's rules for this file */
	struct csm_fault_counters *cfg_ctr;
	char *ctl; /* control file, or NULL */
	bool seen;
	struct stat last;
	struct csm_fault_set set; /* the control file's rules */
	struct csm_fault_counters *state;
	struct csm_fault_rule *all; /* cfg + set, what the backend applies */
	size_t nall;
};

static void on_fault_log(void *arg, const struct csm_fault_rule *r, const char *line)
{
	(void)r;
	const struct shim_faults *s = arg;
	shim_log("%s: %s", s->path, line);
}

static struct csm_fault_counters *map_state(const char *ctl)
{
	char *p;
	if (asprintf(&p, "%s.state", ctl) < 0)
		return NULL;
	int fd = csm_real.open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	free(p);
	if (fd < 0)
		return NULL;
	size_t len = CSM_FAULT_STATE_SLOTS * sizeof(struct csm_fault_counters);
	struct stat st;
	void *m = MAP_FAILED;
	if (csm_real.fstat(fd, &st) == 0 &&
	    ((size_t)st.st_size >= len || csm_real.ftruncate(fd, (off_t)len) == 0))
		m = csm_real.mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	csm_real.close(fd);
	return m == MAP_FAILED ? NULL : m;
}

/* Read the control file again; false if it could not be used. */
static bool reload(struct shim_faults *s)
{
	struct csm_fault_set set = {0};
	int fd = csm_real.open(s->ctl, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		char *text = NULL;
		size_t len = 0, cap = 0;
		for (;;) {
			if (len + 4096 + 1 > cap) {
				char *t = realloc(text, cap = 2 * cap + 8192);
				if (!t)
					break;
				text = t;
			}
			ssize_t n = csm_real.read(fd, text + len, cap - len - 1);
			if (n <= 0)
				break;
			len += (size_t)n;
		}
		csm_real.close(fd);
		char err[400];
		if (text) {
			text[len] = 0;
			if (csm_fault_set_parse(&set, s->ctl, text, err, sizeof(err)) < 0) {
				shim_log("%s: %s; keeping the previous fault rules", s->path, err);
				csm_fault_set_free(&set);
				free(text);
				return false;
			}
		}
		free(text);
	}
	if (set.n && !s->state)
		s->state = map_state(s->ctl);
	if (set.n && !s->state) {
		shim_log("%s: %s.state: cannot map the fault counters; fault rules ignored",
		         s->path, s->ctl);
		csm_fault_set_free(&set);
		return false;
	}
	struct csm_fault_rule *all = calloc(s->ncfg + set.n + 1, sizeof(*all));
	if (!all) {
		csm_fault_set_free(&set);
		return false;
	}
	memcpy(all, s->cfg, s->ncfg * sizeof(*all));
	uint64_t now = csm_fault_now_ms();
	for (size_t i = 0; i < set.n; i++) {
		struct csm_fault_rule *r = &all[s->ncfg + i];
		*r = set.rules[i];
		/* A rule that was already there keeps its clock. */
		bool same = i < s->set.n && !strcmp(s->set.texts[i], set.texts[i]);
		r->t0_ms = same ? s->all[s->ncfg + i].t0_ms : now;
		r->ctr = &s->state[i];
		uint64_t tag = csm_fault_tag(set.texts[i]);
		if (__atomic_load_n(&r->ctr->tag, __ATOMIC_SEQ_CST) != tag) {
			__atomic_store_n(&r->ctr->ops, 0, __ATOMIC_SEQ_CST);
			__atomic_store_n(&r->ctr->hits, 0, __ATOMIC_SEQ_CST);
			__atomic_store_n(&r->ctr->bytes, 0, __ATOMIC_SEQ_CST);
			__atomic_store_n(&r->ctr->tag, tag, __ATOMIC_SEQ_CST);
		}
	}
	csm_fault_set_free(&s->set);
	s->set = set;
	free(s->all);
	s->all = all;
	s->nall = s->ncfg + set.n;
	return true;
}

static void on_refresh(void *arg, const struct csm_fault_rule **rules, size_t *n)
{
	struct shim_faults *s = arg;
	if (s->ctl) {
		struct stat st;
		if (csm_real.stat(s->ctl, &st) < 0)
			memset(&st, 0, sizeof(st));
		if (!s->seen || st.st_ino != s->last.st_ino || st.st_dev != s->last.st_dev ||
		    st.st_size != s->last.st_size || st.st_mtim.tv_sec != s->last.st_mtim.tv_sec ||
		    st.st_mtim.tv_nsec != s->last.st_mtim.tv_nsec) {
			s->seen = true;
			s->last = st;
			reload(s);
		}
	}
	*rules = s->all;
	*n = s->nall;
}

static void on_destroy(void *arg)
{
	struct shim_faults *s = arg;
	if (s->state)
		munmap(s->state, CSM_FAULT_STATE_SLOTS * sizeof(struct csm_fault_counters));
	csm_fault_set_free(&s->set);
	free(s->all);
	free(s->cfg);
	free(s->cfg_ctr);
	free(s->ctl);
	free(s->path);
	free(s);
}

int shim_faults_wrap(struct csm_backend *be, const char *path)
{
	const struct csm_fault_set *cf = &csm_cfg.faults;
	size_t ncfg = 0;
	for (size_t i = 0; i < cf->n; i++)
		ncfg += !cf->globs[i] || fnmatch(cf->globs[i], path, FNM_PATHNAME) == 0;
	if (!ncfg && !csm_cfg.fault_control)
		return 0;
	struct shim_faults *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->path = strdup(path);
	s->cfg = calloc(ncfg + 1, sizeof(*s->cfg));
	s->cfg_ctr = calloc(ncfg + 1, sizeof(*s->cfg_ctr));
	s->ctl = csm_cfg.fault_control ? csm_fault_control_path(csm_cfg.fault_control, path) : NULL;
	if (!s->path || !s->cfg || !s->cfg_ctr || (csm_cfg.fault_control && !s->ctl)) {
		on_destroy(s);
		return -ENOMEM;
	}
	uint64_t now = csm_fault_now_ms();
	for (size_t i = 0; i < cf->n; i++)
		if (!cf->globs[i] || fnmatch(cf->globs[i], path, FNM_PATHNAME) == 0) {
			s->cfg[s->ncfg] = cf->rules[i];
			s->cfg[s->ncfg].t0_ms = now;
			s->cfg[s->ncfg].ctr = &s->cfg_ctr[s->ncfg];
			s->ncfg++;
		}
	s->all = calloc(ncfg + 1, sizeof(*s->all));
	if (!s->all) {
		on_destroy(s);
		return -ENOMEM;
	}
	memcpy(s->all, s->cfg, ncfg * sizeof(*s->all));
	s->nall = ncfg;
	struct csm_fault_hooks h = {
	        .log = on_fault_log, .refresh = on_refresh, .destroy = on_destroy, .arg = s};
	int rc = csm_backend_fault(be, be, s->all, s->nall, &h);
	if (rc < 0)
		on_destroy(s);
	return rc;
}
