/*
 * Fault rules as text: "KIND [key=value]...", one rule per line of the
 * config's [faults] section or of a control file.  Pure: no I/O.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csumshim/fault.h"

static const struct {
	const char *name;
	unsigned def_ops, allowed_ops;
} kinds[CSM_FK_COUNT] = {
        [CSM_FK_FLIP] = {"flip", CSM_FOP_WRITE, CSM_FOP_READ | CSM_FOP_WRITE},
        [CSM_FK_BYTE] = {"byte", CSM_FOP_WRITE, CSM_FOP_READ | CSM_FOP_WRITE},
        [CSM_FK_STUCK] = {"stuck", CSM_FOP_READ, CSM_FOP_READ},
        [CSM_FK_LOST] = {"lost", CSM_FOP_WRITE, CSM_FOP_WRITE},
        [CSM_FK_MISDIRECT] = {"misdirect", CSM_FOP_WRITE, CSM_FOP_WRITE},
        [CSM_FK_TORN] = {"torn", CSM_FOP_WRITE, CSM_FOP_WRITE},
        [CSM_FK_META] = {"meta", CSM_FOP_WRITE, CSM_FOP_READ | CSM_FOP_WRITE},
        [CSM_FK_EIO] = {"eio", CSM_FOP_READ | CSM_FOP_WRITE, CSM_FOP_READ | CSM_FOP_WRITE},
        [CSM_FK_FSYNC] = {"fsync", CSM_FOP_SYNC, CSM_FOP_SYNC},
        [CSM_FK_ENOSPC] = {"enospc", CSM_FOP_WRITE, CSM_FOP_WRITE},
        [CSM_FK_EINTR] = {"eintr", CSM_FOP_READ | CSM_FOP_WRITE, CSM_FOP_READ | CSM_FOP_WRITE},
        [CSM_FK_DELAY] = {"delay", CSM_FOP_READ | CSM_FOP_WRITE | CSM_FOP_SYNC,
                          CSM_FOP_READ | CSM_FOP_WRITE | CSM_FOP_SYNC},
        [CSM_FK_SHORT] = {"short", CSM_FOP_READ | CSM_FOP_WRITE, CSM_FOP_READ | CSM_FOP_WRITE},
};

const char *csm_fault_kind_name(enum csm_fault_kind k)
{
	return (unsigned)k < CSM_FK_COUNT ? kinds[k].name : NULL;
}

static int bad(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int bad(char *err, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, n, fmt, ap);
	va_end(ap);
	return -1;
}

/* A decimal or 0x number with an optional K/M/G/T (binary) suffix. */
static bool num(const char *s, const char *end, uint64_t *out)
{
	char *e;
	if (s == end || *s == '-' || *s == '+')
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &e, 0);
	if (errno || e == s)
		return false;
	if (e < end && strchr("KMGT", *e)) {
		unsigned sh = 10 * (unsigned)(strchr("KMGT", *e) - "KMGT" + 1);
		if (v > (UINT64_MAX >> sh))
			return false;
		v <<= sh;
		e++;
	}
	*out = v;
	return e == end;
}

/* "3,7-9": inclusive items, stored as half-open ranges. */
static int ranges(const char *v, bool bytes, struct csm_fault_rule *r, char *err, size_t n)
{
	const char *key = bytes ? "bytes" : "blocks";
	while (*v) {
		const char *comma = strchr(v, ',');
		const char *end = comma ? comma : v + strlen(v);
		const char *dash = memchr(v, '-', (size_t)(end - v));
		uint64_t lo, hi;
		if (!num(v, dash ? dash : end, &lo) || (dash && !num(dash + 1, end, &hi)))
			return bad(err, n, "%s: not a number or range: '%.*s'", key, (int)(end - v),
			           v);
		if (!dash)
			hi = lo;
		if (hi < lo || hi == UINT64_MAX)
			return bad(err, n, "%s: empty range '%.*s'", key, (int)(end - v), v);
		if (r->nranges == CSM_FAULT_MAX_RANGES)
			return bad(err, n, "%s: more than %d ranges", key, CSM_FAULT_MAX_RANGES);
		r->ranges[r->nranges++] = (struct csm_fault_range){lo, hi + 1, bytes};
		v = comma ? comma + 1 : end;
	}
	return 0;
}

static bool ms_value(const char *v, uint64_t *out)
{
	char *e;
	errno = 0;
	double d = strtod(v, &e);
	if (errno || e == v || *e || !(d >= 0) || d > 1e12)
		return false;
	*out = (uint64_t)(d * 1000 + 0.5);
	return true;
}

static int ops_value(const char *v, unsigned *ops, char *err, size_t n)
{
	*ops = 0;
	while (*v) {
		size_t l = strcspn(v, ",");
		if (l == 4 && !strncmp(v, "read", 4))
			*ops |= CSM_FOP_READ;
		else if (l == 5 && !strncmp(v, "write", 5))
			*ops |= CSM_FOP_WRITE;
		else if (l == 4 && !strncmp(v, "sync", 4))
			*ops |= CSM_FOP_SYNC;
		else
			return bad(err, n, "op: expected read, write or sync, not '%.*s'", (int)l,
			           v);
		v += l + (v[l] == ',');
	}
	return 0;
}

static int key_value(struct csm_fault_rule *r, const char *k, const char *v, char **glob, char *err,
                     size_t n)
{
	uint64_t x;
	bool b = !strcmp(k, "bytes");
	if (b || !strcmp(k, "blocks"))
		return ranges(v, b, r, err, n);
	if (!strcmp(k, "op"))
		return ops_value(v, &r->ops, err, n);
	if (!strcmp(k, "path")) {
		if (v[0] != '/')
			return bad(err, n, "path: expected an absolute glob, not '%s'", v);
		if (glob) {
			free(*glob);
			*glob = strdup(v);
		}
		return 0;
	}
	if (!strcmp(k, "probability")) {
		char *e;
		double p = strtod(v, &e);
		if (e == v || !(p >= 0))
			return bad(err, n, "probability: not a number: '%s'", v);
		if (*e == '%')
			p /= 100, e++;
		if (*e || p > 1)
			return bad(err, n, "probability: expected 0..1 or 0..100%%, not '%s'", v);
		r->prob = (uint64_t)(p * 4294967296.0);
		return 0;
	}
	if (!strcmp(k, "from") || !strcmp(k, "until")) {
		if (!ms_value(v, !strcmp(k, "from") ? &r->from_ms : &r->until_ms))
			return bad(err, n, "%s: expected seconds, not '%s'", k, v);
		return 0;
	}
	if (!strcmp(k, "brother")) {
		if (strcmp(v, "A") != 0 && strcmp(v, "B") != 0)
			return bad(err, n, "brother: expected A or B, not '%s'", v);
		r->slot = v[0] == 'B';
		return 0;
	}
	if (!strcmp(k, "store")) {
		if (strcmp(v, "data") != 0 && strcmp(v, "meta") != 0 && strcmp(v, "any") != 0)
			return bad(err, n, "store: expected data, meta or any, not '%s'", v);
		r->store = v[0] == 'd' ? CSM_DATA : v[0] == 'm' ? CSM_META : -1;
		return 0;
	}
	if (!strcmp(k, "lose")) {
		if (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0)
			return bad(err, n, "lose: expected yes or no, not '%s'", v);
		r->lose = v[0] == 'y';
		return 0;
	}
	if (!strcmp(k, "call")) {
		if (strcmp(v, "fsync") != 0 && strcmp(v, "fdatasync") != 0 && strcmp(v, "any") != 0)
			return bad(err, n, "call: expected fsync, fdatasync or any, not '%s'", v);
		r->call = !strcmp(v, "fsync")       ? CSM_CALL_FSYNC
		          : !strcmp(v, "fdatasync") ? CSM_CALL_FDATASYNC
		                                    : 0;
		return 0;
	}
	if (!strcmp(k, "shift")) {
		char *e;
		errno = 0;
		long long s = strtoll(v, &e, 10);
		if (errno || e == v || *e || s == 0)
			return bad(err, n, "shift: expected a non-zero number of blocks, not '%s'",
			           v);
		r->shift = s;
		return 0;
	}
	static const char *const numeric[] = {"seed", "every", "after",   "max",   "bits", "value",
	                                      "at",   "bit",   "sectors", "limit", "ms",   "count"};
	bool known = false;
	for (size_t i = 0; i < sizeof(numeric) / sizeof(numeric[0]); i++)
		known |= !strcmp(k, numeric[i]);
	if (!known)
		return bad(err, n,
		           "unknown key '%s' (known: op, blocks, bytes, path, probability, seed, "
		           "every, after, max, from, until, bits, value, at, bit, brother, shift, "
		           "sectors, limit, ms, lose, store, call, count)",
		           k);
	if (!num(v, v + strlen(v), &x))
		return bad(err, n, "%s: not a number: '%s'", k, v);
	if (!strcmp(k, "seed"))
		r->seed = x;
	else if (!strcmp(k, "every") && x)
		r->every = x;
	else if (!strcmp(k, "after"))
		r->after = x;
	else if (!strcmp(k, "max") && x)
		r->max = x;
	else if (!strcmp(k, "bits") && x >= 1 && x <= 64)
		r->bits = (uint32_t)x;
	else if (!strcmp(k, "value") && x <= 255)
		r->value = (int)x;
	else if (!strcmp(k, "at") && x < 4096)
		r->at = (int64_t)x;
	else if (!strcmp(k, "bit") && x <= 7)
		r->bit = (uint32_t)x;
	else if (!strcmp(k, "sectors") && x <= 8)
		r->keep = (uint32_t)x;
	else if (!strcmp(k, "limit"))
		r->limit = x;
	else if (!strcmp(k, "ms") && x <= 60000)
		r->ms = (uint32_t)x;
	else if (!strcmp(k, "count") && x >= 1)
		r->count = x;
	else
		return bad(err, n, "%s: out of range: '%s'", k, v);
	return 0;
}

int csm_fault_parse(const char *text, struct csm_fault_rule *r, char **glob, char *err,
                    size_t errlen)
{
	memset(r, 0, sizeof(*r));
	if (glob)
		*glob = NULL;
	r->prob = UINT64_C(1) << 32;
	r->at = -1;
	r->value = -1;
	r->shift = 1;
	r->lose = true;
	r->store = -1;
	char *copy = strdup(text), *save = NULL;
	if (!copy)
		return bad(err, errlen, "out of memory");
	int rc = 0;
	char *w = strtok_r(copy, " \t", &save);
	int kind = -1;
	for (int k = 0; w && k < CSM_FK_COUNT; k++)
		if (!strcmp(w, kinds[k].name))
			kind = k;
	if (kind < 0) {
		rc = bad(err, errlen,
		         "fault: unknown kind '%s' (known: flip, byte, stuck, lost, misdirect, "
		         "torn, meta, eio, fsync, enospc, eintr, delay, short)",
		         w ? w : "");
		goto out;
	}
	r->kind = (enum csm_fault_kind)kind;
	r->ops = kinds[kind].def_ops;
	bool have_value = false, have_limit = false, have_ms = false, have_call = false,
	     have_count = false;
	while (rc == 0 && (w = strtok_r(NULL, " \t", &save))) {
		char *eq = strchr(w, '=');
		if (!eq || eq == w || !eq[1]) {
			rc = bad(err, errlen, "%s: expected key=value, not '%s'", kinds[kind].name,
			         w);
			break;
		}
		*eq = 0;
		have_value |= !strcmp(w, "value");
		have_limit |= !strcmp(w, "limit");
		have_ms |= !strcmp(w, "ms");
		have_call |= !strcmp(w, "call");
		have_count |= !strcmp(w, "count");
		rc = key_value(r, w, eq + 1, glob, err, errlen);
	}
	if (rc)
		goto out;
	if (r->ops & ~kinds[kind].allowed_ops)
		rc = bad(err, errlen, "%s: op must be within %s%s%s", kinds[kind].name,
		         kinds[kind].allowed_ops & CSM_FOP_READ ? "read " : "",
		         kinds[kind].allowed_ops & CSM_FOP_WRITE ? "write " : "",
		         kinds[kind].allowed_ops & CSM_FOP_SYNC ? "sync" : "");
	else if (!r->ops)
		rc = bad(err, errlen, "%s: op is empty", kinds[kind].name);
	else if (r->kind == CSM_FK_BYTE && !have_value)
		rc = bad(err, errlen, "byte: needs value=0..255");
	else if (r->kind == CSM_FK_STUCK && (r->at < 0 || r->value < 0 || r->value > 1))
		rc = bad(err, errlen, "stuck: needs at=BYTE, bit=0..7 and value=0|1");
	else if (r->kind == CSM_FK_ENOSPC && !have_limit)
		rc = bad(err, errlen, "enospc: needs limit=BYTES");
	else if (r->kind == CSM_FK_DELAY && !have_ms)
		rc = bad(err, errlen, "delay: needs ms=MILLISECONDS");
	else if (have_call && r->kind != CSM_FK_FSYNC)
		rc = bad(err, errlen, "%s: call= is for fsync rules", kinds[kind].name);
	else if (have_count && r->kind != CSM_FK_SHORT)
		rc = bad(err, errlen, "%s: count= is for short rules", kinds[kind].name);
	else if (r->until_ms && r->until_ms <= r->from_ms)
		rc = bad(err, errlen, "until must be after from");
out:
	free(copy);
	if (rc && glob) {
		free(*glob);
		*glob = NULL;
	}
	return rc;
}
