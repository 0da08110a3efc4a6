/*
 * The log: shim_log's lines (to stderr, syslog or the configured file)
 * and the engine's reports of mismatches, damage and recovery, which it
 * turns into log lines.
 */
#define _GNU_SOURCE
#include "state_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "real.h"

int log_fd = 2;

/* Length of the printable UTF-8 character at p (2 to 4 bytes), or 0 for
 * anything else: a malformed or overlong sequence, a surrogate, a C1
 * control, a line or paragraph separator, a bidirectional override or
 * isolate (they break or reorder what a terminal or viewer shows). */
static size_t utf8_printable(const unsigned char *p)
{
	unsigned c = p[0];
	size_t n = c >= 0xc2 && c <= 0xdf   ? 2
	           : c >= 0xe0 && c <= 0xef ? 3
	           : c >= 0xf0 && c <= 0xf4 ? 4
	                                    : 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0; /* stops at the terminating NUL too */
	if ((c == 0xc2 && p[1] < 0xa0) || (c == 0xe0 && p[1] < 0xa0) ||
	    (c == 0xed && p[1] >= 0xa0) || (c == 0xf0 && p[1] < 0x90) ||
	    (c == 0xf4 && p[1] >= 0x90))
		return 0;
	if (c == 0xe2 && ((p[1] == 0x80 && p[2] >= 0xa8 && p[2] <= 0xae) ||
	                  (p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9)))
		return 0; /* U+2028-202E, U+2066-2069 */
	return n;
}

/* Copy `in` into out (cap bytes, NUL-terminated, cut at a whole character)
 * with everything that could forge or hide a line escaped: control
 * characters and DEL as \n, \t, \r or \xHH, a backslash as \\, bytes
 * that are not printable UTF-8 as \xHH.  A file name can then never start a
 * line of its own, whatever the sink. */
static void escape(char *out, size_t cap, const char *in)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)in; *p;) {
		size_t n = *p >= 0x80 ? utf8_printable(p) : *p >= 0x20 && *p < 0x7f && *p != '\\';
		char e[4] = {'\\', (char)*p, 0, 0};
		size_t len = n ? n : 2;
		if (n == 0 && (*p == '\n' || *p == '\t' || *p == '\r'))
			e[1] = *p == '\n' ? 'n' : *p == '\t' ? 't' : 'r';
		else if (n == 0 && *p != '\\')
			e[1] = 'x', e[2] = hex[*p >> 4], e[3] = hex[*p & 15], len = 4;
		if (o + len >= cap)
			break;
		memcpy(out + o, n ? (const char *)p : e, len);
		o += len;
		p += n ? n : 1;
	}
	out[o] = 0;
}

void shim_log(const char *fmt, ...)
{
	char line[1024], msg[768];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int n = snprintf(line, sizeof(line), "csumshim[%d] %02d:%02d:%02d.%03ld: ", (int)getpid(),
	                 tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	escape(line + n, sizeof(line) - (size_t)n, msg);
	if (csm_cfg.log == CSM_LOG_SYSLOG) {
		syslog(LOG_ERR, "%s", line + n);
		return;
	}
	size_t len = strlen(line);
	if (len + 1 < sizeof(line))
		line[len++] = '\n';
	ssize_t w = csm_real.write ? shim_own_write(log_fd, line, len) : -1;
	(void)w;
}

void on_trace(void *arg, const char *line)
{
	const struct shim_inode *ino = arg;
	shim_log("%s: trace: %s", ino->path, line);
}

void on_event(void *arg, const struct csm_event *ev)
{
	struct shim_inode *ino = arg;
	/* During csm_open (recovery) the engine is not published yet.  Only
	 * csumshim's engine reports here (dm-csum: dmcsum.c). */
	struct shim_io *io = atomic_load(&ino->e);
	uint64_t bs = io ? csm_superblock(io->h)->block_size : 0;
	switch (ev->kind) {
	case CSM_EV_DATA_MISMATCH:
	case CSM_EV_NONZERO_UNWRITTEN:
	case CSM_EV_UNVERIFIED:
		if (bs)
			shim_log("%s: %s in block %llu (bytes %llu-%llu)%s%s", ino->path,
			         csm_event_name(ev->kind), (unsigned long long)ev->lblock,
			         (unsigned long long)(ev->lblock * bs),
			         (unsigned long long)((ev->lblock + 1) * bs - 1),
			         ev->detail ? ": " : "", ev->detail ? ev->detail : "");
		else
			shim_log("%s: recovery: block %llu: %s%s%s%s", ino->path,
			         (unsigned long long)ev->lblock, csm_event_name(ev->kind),
			         ev->detail ? " (" : "", ev->detail ? ev->detail : "",
			         ev->detail ? ")" : "");
		break;
	case CSM_EV_RECOVERED:
		shim_log("%s: %s: %s", ino->path, csm_event_name(ev->kind), ev->detail);
		break;
	case CSM_EV_META_DAMAGED:
		shim_log("%s: metadata block %c of group %llu: %s", ino->path, ev->slot ? 'B' : 'A',
		         (unsigned long long)ev->group, csm_mb_status_name(ev->mb_status));
		break;
	default:
		shim_log("%s: group %llu: %s%s%s", ino->path, (unsigned long long)ev->group,
		         csm_event_name(ev->kind), ev->err ? ": " : "",
		         ev->err ? strerror(ev->err) : "");
	}
}
