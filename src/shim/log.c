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

void shim_log(const char *fmt, ...)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int n = snprintf(line, sizeof(line), "csumshim[%d] %02d:%02d:%02d.%03ld: ", (int)getpid(),
	                 tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (csm_cfg.log == CSM_LOG_SYSLOG) {
		syslog(LOG_ERR, "%s", line + n);
		return;
	}
	size_t len = strlen(line);
	if (len + 1 < sizeof(line))
		line[len++] = '\n';
	ssize_t w = csm_real.write ? csm_real.write(log_fd, line, len) : -1;
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
	/* During csm_open (recovery) the engine is not published yet. */
	struct csm_engine *e = atomic_load(&ino->e);
	uint64_t bs = e ? csm_superblock(e)->block_size : 0;
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
