/*
 * CLI helpers: messages, number parsing, opening csumshim files, progress.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

void cli_err(const char *fmt, ...)
{
	va_list ap;
	fputs("csumshim: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

bool cli_parse_u64(const char *s, uint64_t *out)
{
	if (!s || !*s || *s == '-' || *s == '+')
		return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

bool cli_parse_size(const char *s, uint64_t *out)
{
	if (!s || !*s || *s == '-' || *s == '+')
		return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return false;
	static const char units[] = "KMGTPE";
	unsigned shift = 0;
	if (*end) {
		const char *u = strchr(units, end[0] & ~0x20);
		if (!u || end[0] == 0)
			return false;
		shift = 10 * (unsigned)(u - units + 1);
		end++;
		if (*end == 'i' && end[1] == 'B')
			end += 2;
		else if (*end == 'B')
			end++;
		if (*end)
			return false;
	}
	if (shift && v > (UINT64_MAX >> shift))
		return false;
	*out = (uint64_t)v << shift;
	return true;
}

char *cli_default_meta_path(const char *path)
{
	char *m;
	if (asprintf(&m, "%s.csum", path) < 0)
		return NULL;
	return m;
}

int cli_open_data(const char *path, bool writable)
{
	int fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0)
		cli_err("%s: %s", path, strerror(errno));
	return fd;
}

int cli_open_meta(const char *meta, int dfd, bool writable)
{
	char why[256];
	bool created;
	int mfd =
	        csm_meta_open(meta, dfd, writable ? O_RDWR : O_RDONLY, &created, why, sizeof(why));
	if (mfd < 0)
		cli_err("%s: %s", meta, why);
	return mfd;
}

int cli_posix_backend(struct csm_backend *be, const char *path, int dfd, int mfd)
{
	int rc = csm_backend_posix(be, dfd, mfd, true, NULL);
	if (rc < 0) {
		cli_err("%s: %s", path, strerror(-rc));
		close(dfd);
		if (mfd != dfd)
			close(mfd);
		return EXIT_ERR;
	}
	return EXIT_OK;
}

/* Decide the layout: a valid interleaved superblock in the file itself, or
 * else a metadata file (named, or PATH.csum). */
int cli_open(struct cli_file *f, const char *path, const struct cli_open_opts *o)
{
	memset(f, 0, sizeof(*f));
	int dfd = cli_open_data(path, o->writable);
	if (dfd < 0)
		return EXIT_ERR;
	int mfd = dfd;
	char *meta = NULL;
	if (o->meta_path) {
		meta = strdup(o->meta_path);
	} else {
		uint8_t raw[CSM_SB_SIZE];
		ssize_t n = pread(dfd, raw, sizeof(raw), 0);
		struct csm_super sb;
		if (n > 0 && csm_sb_has_magic(raw, (size_t)n)) {
			if (csm_sb_decode(raw, (size_t)n, &sb) == CSM_SB_OK &&
			    sb.layout == CSM_LAYOUT_SEPARATE) {
				cli_err("%s: is the metadata file of a separate layout; name the "
				        "data "
				        "file and pass --metadata-file %s",
				        path, path);
				close(dfd);
				return EXIT_ERR;
			}
		} else {
			char *def = cli_default_meta_path(path);
			if (def && access(def, F_OK) == 0) {
				meta = def;
			} else {
				cli_err("%s: not a csumshim file (no superblock), and no metadata "
				        "file %s",
				        path, def ? def : "PATH.csum");
				free(def);
				close(dfd);
				return EXIT_ERR;
			}
		}
	}
	if (meta && (mfd = cli_open_meta(meta, dfd, o->writable)) < 0) {
		free(meta);
		close(dfd);
		return EXIT_ERR;
	}
	struct csm_backend be;
	if (cli_posix_backend(&be, path, dfd, mfd) != EXIT_OK) {
		free(meta);
		return EXIT_ERR;
	}
	struct csm_engine_opts eo = o->engine;
	eo.readonly = o->readonly_engine || !o->writable;
	eo.no_recover = true; /* only 'recover' changes an unclean file, on request */
	char err[256];
	int rc = csm_open(&be, &eo, &f->e, err, sizeof(err));
	if (rc < 0) {
		cli_err("%s: %s", meta ? meta : path, err);
		free(meta);
		return EXIT_ERR;
	}
	const struct csm_super *sb = csm_superblock(f->e);
	if ((sb->layout == CSM_LAYOUT_SEPARATE) != (meta != NULL)) {
		cli_err("%s: is an interleaved csumshim file, not a metadata file", meta);
		csm_close(f->e);
		free(meta);
		return EXIT_ERR;
	}
	f->path = strdup(path);
	f->meta_path = meta;
	return EXIT_OK;
}

int cli_close(struct cli_file *f)
{
	int rc = EXIT_OK;
	if (f->e && csm_close(f->e) < 0) {
		cli_err("%s: close: %s", f->path, strerror(errno));
		rc = EXIT_ERR;
	}
	free(f->path);
	free(f->meta_path);
	memset(f, 0, sizeof(*f));
	return rc;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cli_progress_init(struct cli_progress *p, const char *what, uint64_t total)
{
	p->what = what;
	p->enabled = isatty(STDERR_FILENO) && total >= (64u << 20);
	p->last = 0;
}

void cli_progress(void *arg, uint64_t done, uint64_t total)
{
	struct cli_progress *p = arg;
	if (!p->enabled || total == 0)
		return;
	double t = now_s();
	if (t - p->last < 0.25 && done < total)
		return;
	p->last = t;
	fprintf(stderr, "\r%s: %3u%%", p->what, (unsigned)(done * 100 / total));
	fflush(stderr);
}

void cli_progress_end(struct cli_progress *p)
{
	if (p->enabled)
		fprintf(stderr, "\r%*s\r", 40, "");
}

void cli_event_text(const struct cli_events *c, const struct csm_event *ev, char *buf, size_t n)
{
	switch (ev->kind) {
	case CSM_EV_DATA_MISMATCH:
	case CSM_EV_NONZERO_UNWRITTEN:
	case CSM_EV_UNVERIFIED: {
		uint64_t start = ev->lblock * c->block_size;
		uint64_t end = start + c->block_size;
		if (end > c->size)
			end = c->size;
		snprintf(buf, n, "block %llu (bytes %llu-%llu): %s", (unsigned long long)ev->lblock,
		         (unsigned long long)start, (unsigned long long)(end - 1),
		         csm_event_name(ev->kind));
		break;
	}
	case CSM_EV_META_DAMAGED:
		snprintf(buf, n, "group %llu metadata block %c: %s", (unsigned long long)ev->group,
		         ev->slot ? 'B' : 'A',
		         ev->mb_status == CSM_MB_EMPTY ? "missing (zeroed)"
		                                       : csm_mb_status_name(ev->mb_status));
		break;
	case CSM_EV_GROUP_BROKEN:
		snprintf(buf, n, "group %llu: %s; its blocks cannot be verified",
		         (unsigned long long)ev->group, csm_event_name(ev->kind));
		break;
	case CSM_EV_IO_ERROR:
		snprintf(buf, n, "group %llu: I/O error: %s", (unsigned long long)ev->group,
		         strerror(ev->err));
		break;
	case CSM_EV_MISSING: {
		uint64_t start = ev->lblock * c->block_size;
		uint64_t last = ev->lblock + (ev->nblocks ? ev->nblocks : 1) - 1;
		uint64_t end = (last + 1) * c->block_size;
		if (end > c->size)
			end = c->size;
		uint64_t g1 = c->per_group ? last / c->per_group : ev->group;
		snprintf(buf, n, "blocks %llu-%llu (bytes %llu-%llu, groups %llu-%llu): %s",
		         (unsigned long long)ev->lblock, (unsigned long long)last,
		         (unsigned long long)start, (unsigned long long)(end ? end - 1 : 0),
		         (unsigned long long)ev->group, (unsigned long long)g1,
		         csm_event_name(ev->kind));
		break;
	}
	case CSM_EV_LOST: {
		uint64_t start = ev->lblock * c->block_size;
		uint64_t end = (ev->lblock + ev->nblocks) * c->block_size;
		if (end > c->size)
			end = c->size;
		snprintf(buf, n, "group %llu (blocks %llu-%llu, bytes %llu-%llu): %s",
		         (unsigned long long)ev->group, (unsigned long long)ev->lblock,
		         (unsigned long long)(ev->lblock + ev->nblocks - 1),
		         (unsigned long long)start, (unsigned long long)(end ? end - 1 : 0),
		         csm_event_name(ev->kind));
		break;
	}
	case CSM_EV_RECORD_DAMAGED:
		snprintf(buf, n, "segment of group %llu: %s (%s)", (unsigned long long)ev->group,
		         csm_event_name(ev->kind),
		         csm_rec_status_name((enum csm_rec_status)ev->mb_status));
		break;
	case CSM_EV_STALE_SUPER:
		snprintf(buf, n, "group %llu: %s (run 'csumshim recover')",
		         (unsigned long long)ev->group, csm_event_name(ev->kind));
		break;
	case CSM_EV_RECOVERED:
		snprintf(buf, n, "%s: %s", csm_event_name(ev->kind), ev->detail);
		break;
	default:
		snprintf(buf, n, "%s", csm_event_name(ev->kind));
	}
}

void cli_event(void *arg, const struct csm_event *ev)
{
	struct cli_events *c = arg;
	/* A recovery's summary at the close is news, printed as it comes: its
	 * detail lives only as long as the call. */
	if (!c->collect || ev->kind == CSM_EV_RECOVERED) {
		char line[256];
		cli_event_text(c, ev, line, sizeof(line));
		printf("%s\n", line);
		return;
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct csm_event *v = realloc(c->ev, cap * sizeof(*v));
		if (!v) {
			c->overflow = true;
			return;
		}
		c->ev = v;
		c->cap = cap;
	}
	c->ev[c->n++] = *ev;
}

const char *cli_file_args(int argc, char **argv, const char *cmd, const char *usage,
                          const struct cli_flag *flags, const char **meta)
{
	enum { META = 1, FLAG0 = 2, MAXF = 8 };
	struct option longopts[MAXF + 3] = {
	        {"metadata-file", required_argument, NULL, META},
	        {"metadata", required_argument, NULL, META},
	};
	int nf = 0;
	for (; flags && flags[nf].name && nf < MAXF; nf++)
		longopts[2 + nf] = (struct option){flags[nf].name, no_argument, NULL, FLAG0 + nf};
	*meta = NULL;
	int opt;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (opt == META) {
			*meta = optarg;
		} else if (opt >= FLAG0 && opt < FLAG0 + nf) {
			*flags[opt - FLAG0].on = true;
		} else {
			cli_err("%s: usage: %s", cmd, usage);
			return NULL;
		}
	}
	if (optind != argc - 1) {
		cli_err("%s: expected exactly one FILE", cmd);
		return NULL;
	}
	return argv[optind];
}
