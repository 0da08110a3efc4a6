/*
 * Events and traces: what the engine tells its caller.  An event (a
 * mismatch, damaged metadata, an I/O error) goes to opts.report, is
 * counted for csm_stats and kept if it is the first; a trace line goes to
 * opts.trace.  Also fail(), which turns a negative errno into the -1 and
 * errno of the public calls.  Relies on nothing but the engine structure.
 */
#define _GNU_SOURCE
#include "engine_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

const char *csm_event_name(enum csm_event_kind k)
{
	switch (k) {
	case CSM_EV_DATA_MISMATCH:
		return "checksum mismatch";
	case CSM_EV_NONZERO_UNWRITTEN:
		return "never-written block is not zero";
	case CSM_EV_META_DAMAGED:
		return "metadata block damaged";
	case CSM_EV_GROUP_BROKEN:
		return "no valid metadata for group";
	case CSM_EV_IO_ERROR:
		return "I/O error";
	case CSM_EV_UNVERIFIED:
		return "could not be verified after a crash; checksum recomputed";
	case CSM_EV_MISSING:
		return "missing: stored past the end of the file (lost tail)";
	case CSM_EV_STALE_SUPER:
		return "superblock is older than this group's metadata";
	case CSM_EV_LOST:
		return "lost: written, but its metadata and data are gone (holes)";
	case CSM_EV_RECORD_DAMAGED:
		return "written-group record damaged";
	case CSM_EV_RECOVERED:
		return "recovered at the last close: a process that wrote it ended without "
		       "closing it (killed, or a fork child's _exit)";
	}
	return "unknown event";
}

void report(struct csm_engine *e, const struct csm_event *ev)
{
	switch (ev->kind) {
	case CSM_EV_DATA_MISMATCH:
	case CSM_EV_NONZERO_UNWRITTEN:
		atomic_fetch_add(&e->n_mismatch, 1);
		break;
	case CSM_EV_META_DAMAGED:
	case CSM_EV_GROUP_BROKEN:
	case CSM_EV_MISSING:
	case CSM_EV_STALE_SUPER:
	case CSM_EV_LOST:
	case CSM_EV_RECORD_DAMAGED:
		atomic_fetch_add(&e->n_meta, 1);
		break;
	case CSM_EV_IO_ERROR:
		atomic_fetch_add(&e->n_io, 1);
		break;
	case CSM_EV_UNVERIFIED:
	case CSM_EV_RECOVERED:
		break;
	}
	pthread_mutex_lock(&e->first_mu);
	/* A recovery's summary is news, not a fault: never the first event. */
	if (e->first.kind == 0 && ev->kind != CSM_EV_RECOVERED) {
		e->first = *ev;
		e->first.detail = NULL; /* lives only as long as this call */
	}
	pthread_mutex_unlock(&e->first_mu);
	if (e->opts.report)
		e->opts.report(e->opts.report_arg, ev);
}

void tracef(struct csm_engine *e, const char *fmt, ...)
{
	char line[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	e->opts.trace(e->opts.trace_arg, line);
}

/* The low 32 bits of the first tuples of a brother ("-": unwritten). */
void trace_tuples(struct csm_engine *e, const uint8_t *mb, char *out, size_t len)
{
	const struct csm_geometry *geo = &e->geo;
	size_t at = 0;
	out[0] = 0;
	for (uint32_t i = 0; i < geo->per_group && i < 48 && at + 10 < len; i++) {
		if (csm_mb_written(geo, mb, i))
			at += (size_t)snprintf(out + at, len - at, " %08x",
			                       (unsigned)csm_mb_tuple(geo, mb, i));
		else
			at += (size_t)snprintf(out + at, len - at, " -");
	}
}

void report_io(struct csm_engine *e, uint64_t group, int neg_err)
{
	struct csm_event ev = {.kind = CSM_EV_IO_ERROR, .group = group, .err = -neg_err};
	report(e, &ev);
}

void report_block(struct csm_engine *e, int kind, uint64_t lblock)
{
	struct csm_event ev = {.kind = (enum csm_event_kind)kind,
	                       .lblock = lblock,
	                       .group = csm_geo_group_of(&e->geo, lblock)};
	report(e, &ev);
}

ssize_t fail(int neg)
{
	errno = -neg;
	return -1;
}

void csm_stats(struct csm_engine *e, struct csm_stats *st)
{
	st->mismatches = atomic_load(&e->n_mismatch);
	st->meta_damaged = atomic_load(&e->n_meta);
	st->io_errors = atomic_load(&e->n_io);
	st->syncs = atomic_load(&e->n_syncs);
	pthread_mutex_lock(&e->first_mu);
	st->first = e->first;
	pthread_mutex_unlock(&e->first_mu);
}
