/*
 * The fault-injecting backend (include/csumshim/fault.h): wraps another
 * backend, maps each piece of an I/O to a logical block or a brother with
 * the format's geometry, and applies the rules that select it.
 *
 * Decisions (decide()): a rule counts each operation it selects; the n-th
 * one is skipped while n <= after, unless (n - after) is a multiple of
 * every, outside [from, until), when a hash of (seed, n) is above the
 * probability, or once max faults were injected.  The fault's own choices
 * (which bits) come from a hash of (seed, n, block).  Nothing else — no
 * clock, no address — goes in, so a run is reproducible.
 *
 * fsync with lose=yes emulates Linux after a failed writeback: the kernel
 * reports the error once, marks the pages clean and may drop them, so the
 * writes since the last good sync never reach the disk and a later sync
 * succeeds.  The backend keeps the previous content of every range written
 * since the last sync of the store (an undo log, only while such a rule
 * exists) and puts it back when it fails a sync: the stored file is as if
 * those writes were lost.  The page cache would go on showing the new data
 * until evicted; here it is evicted at once.
 *
 * Two kinds act at the engine's logical entry points (program_call), not
 * on stored pieces: short cuts a read or write call of the program to
 * fewer bytes, one operation per call; and fsync's call= selects the syncs
 * made while the engine serves the program's fsync or fdatasync, which
 * csm_fsync announces in its own thread (tl_call).
 */
#define _GNU_SOURCE
#include "csumshim/fault.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "csumshim/format.h"

struct undo {
	enum csm_store st;
	uint64_t off;
	size_t len;
	uint8_t *old;
};

struct fb {
	struct csm_backend in;
	struct csm_backend_ops ops;
	pthread_mutex_t mu;
	struct csm_fault_hooks h;
	const struct csm_fault_rule *rules;
	size_t n;
	bool have_geo;
	struct csm_geometry geo;
	struct undo *undo;
	size_t nundo, capundo;
};

/* What a piece of a physical range is. */
enum piece_kind { P_OTHER, P_DATA, P_META };
struct piece {
	uint64_t off, len;
	enum piece_kind kind;
	uint64_t lblock, group;
	unsigned slot;
	uint64_t boff; /* offset of the piece within its block */
};

uint64_t csm_fault_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t mix(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ull;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

static void load_geo(struct fb *f)
{
	uint8_t sb[CSM_SB_SIZE];
	struct iovec v = {sb, sizeof(sb)};
	struct csm_super s;
	if (f->in.ops->preadv(f->in.ctx, CSM_META, &v, 1, 0) != (ssize_t)sizeof(sb) ||
	    csm_sb_decode(sb, sizeof(sb), &s) != CSM_SB_OK)
		return;
	f->have_geo =
	        csm_geo_init_f(&f->geo, s.version, s.incompat, s.block_size, s.algo, s.layout);
}

/* The piece of [pos, end) of store st that starts at pos. */
static void piece_at(const struct fb *f, enum csm_store st, uint64_t pos, uint64_t end,
                     struct piece *p)
{
	const struct csm_geometry *g = &f->geo;
	memset(p, 0, sizeof(*p));
	p->off = pos;
	p->len = end - pos;
	if (!f->have_geo)
		return;
	uint64_t bs = g->block_size, bstart;
	if (g->layout == CSM_LAYOUT_SEPARATE && st == CSM_DATA) {
		p->kind = P_DATA;
		p->lblock = pos >> g->block_shift;
		bstart = p->lblock << g->block_shift;
	} else if (g->aligned) {
		/* Segments: [header/reserved][A B]*G [hole] | [data run] [hole] */
		uint64_t seg = pos / g->seg_stride, r = pos % g->seg_stride;
		uint64_t base = seg * g->seg_stride;
		uint64_t zb = g->header_size + g->seg_groups * g->group_stride;
		uint64_t run = CSM_ALIGN_ZONE + (g->seg_blocks << g->block_shift);
		uint64_t lim;
		if (r < g->header_size || (r >= zb && r < CSM_ALIGN_ZONE) || r >= run) {
			lim = base + (r < g->header_size   ? g->header_size
			              : r < CSM_ALIGN_ZONE ? CSM_ALIGN_ZONE
			                                   : g->seg_stride);
			if (end > lim)
				p->len = lim - pos;
			return;
		}
		if (r < zb) {
			uint64_t k = (r - g->header_size) >> g->block_shift;
			p->kind = P_META;
			p->group = seg * g->seg_groups + k / 2;
			p->slot = (unsigned)(k % 2);
			bstart = base + g->header_size + (k << g->block_shift);
		} else {
			uint64_t j = (r - CSM_ALIGN_ZONE) >> g->block_shift;
			p->kind = P_DATA;
			p->lblock = seg * g->seg_blocks + j;
			p->group = p->lblock / g->per_group;
			bstart = base + CSM_ALIGN_ZONE + (j << g->block_shift);
		}
	} else if (pos < g->header_size) {
		if (end > g->header_size)
			p->len = g->header_size - pos;
		return;
	} else {
		uint64_t rel = pos - g->header_size;
		p->group = rel / g->group_stride;
		uint64_t idx = (rel % g->group_stride) >> g->block_shift;
		bstart = g->header_size + p->group * g->group_stride + (idx << g->block_shift);
		if (idx < 2) {
			p->kind = P_META;
			p->slot = (unsigned)idx;
		} else {
			p->kind = P_DATA;
			p->lblock = p->group * g->per_group + idx - 2;
		}
	}
	p->boff = pos - bstart;
	if (end > bstart + bs)
		p->len = bstart + bs - pos;
}

/* Does the rule select logical blocks [first, first+count)? */
static bool selects(const struct csm_fault_rule *r, uint64_t first, uint64_t count, uint32_t bs)
{
	if (!r->nranges)
		return true;
	for (unsigned i = 0; i < r->nranges; i++) {
		const struct csm_fault_range *x = &r->ranges[i];
		uint64_t lo = x->lo, hi = x->hi;
		if (x->bytes) {
			lo /= bs;
			hi = hi / bs + (hi % bs != 0);
		}
		if (lo < first + count && first < hi)
			return true;
	}
	return false;
}

static bool piece_selected(const struct fb *f, const struct csm_fault_rule *r,
                           const struct piece *p)
{
	if (p->kind == P_DATA)
		return r->kind != CSM_FK_META && selects(r, p->lblock, 1, f->geo.block_size);
	if (p->kind == P_META)
		return r->kind == CSM_FK_META && p->slot == r->slot &&
		       selects(r, p->group * f->geo.per_group, f->geo.per_group, f->geo.block_size);
	return false;
}

/* Count one selected operation; true if the fault fires.  *n gets its
 * number (for the fault's own choices). */
static bool decide(const struct csm_fault_rule *r, uint64_t *n)
{
	struct csm_fault_counters *c = r->ctr;
	if (r->from_ms || r->until_ms) {
		uint64_t t = csm_fault_now_ms() - r->t0_ms;
		if (t < r->from_ms || (r->until_ms && t >= r->until_ms))
			return false;
	}
	*n = __atomic_add_fetch(&c->ops, 1, __ATOMIC_SEQ_CST);
	if (*n <= r->after)
		return false;
	if (r->every && (*n - r->after) % r->every)
		return false;
	if (r->prob < (UINT64_C(1) << 32) && (mix(r->seed ^ mix(*n)) >> 32) >= r->prob)
		return false;
	uint64_t h = __atomic_load_n(&c->hits, __ATOMIC_SEQ_CST);
	do {
		if (r->max && h >= r->max)
			return false;
	} while (!__atomic_compare_exchange_n(&c->hits, &h, h + 1, false, __ATOMIC_SEQ_CST,
	                                      __ATOMIC_SEQ_CST));
	return true;
}

static void logf_(struct fb *f, const struct csm_fault_rule *r, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void logf_(struct fb *f, const struct csm_fault_rule *r, const char *fmt, ...)
{
	if (!f->h.log)
		return;
	char line[512];
	int k = snprintf(line, sizeof(line), "injected: ");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line + k, sizeof(line) - (size_t)k, fmt, ap);
	va_end(ap);
	f->h.log(f->h.arg, r, line);
}

static const char *op_name(unsigned op)
{
	return op == CSM_FOP_READ ? "read" : op == CSM_FOP_WRITE ? "write" : "sync";
}

/* Byte `pos` of an iovec. */
static uint8_t *iov_at(const struct iovec *iov, int cnt, uint64_t pos)
{
	for (int i = 0; i < cnt; i++) {
		if (pos < iov[i].iov_len)
			return (uint8_t *)iov[i].iov_base + pos;
		pos -= iov[i].iov_len;
	}
	return NULL;
}

static size_t iov_total(const struct iovec *iov, int cnt)
{
	size_t t = 0;
	for (int i = 0; i < cnt; i++)
		t += iov[i].iov_len;
	return t;
}

static void where(const struct piece *p, char *buf, size_t n)
{
	if (p->kind == P_META)
		snprintf(buf, n, "metadata block %c of group %llu", p->slot ? 'B' : 'A',
		         (unsigned long long)p->group);
	else
		snprintf(buf, n, "block %llu", (unsigned long long)p->lblock);
}

/* Flip r->bits distinct bits of the piece's bytes at iov[start...]. */
static void flip_bits(struct fb *f, const struct csm_fault_rule *r, const struct piece *p,
                      const struct iovec *iov, int cnt, uint64_t start, uint64_t n, unsigned op)
{
	uint64_t nbits = p->len * 8, s = r->seed ^ mix(n) ^ mix(p->lblock + (p->group << 1));
	uint32_t k = r->bits ? r->bits : 1;
	if (k > nbits)
		k = (uint32_t)nbits;
	uint64_t picked[64];
	char list[512] = "";
	size_t used = 0;
	for (uint32_t i = 0; i < k; i++) {
		uint64_t b;
		bool dup;
		do {
			s = mix(s);
			b = s % nbits;
			dup = false;
			for (uint32_t j = 0; j < i && j < 64; j++)
				dup |= picked[j] == b;
		} while (dup);
		if (i < 64)
			picked[i] = b;
		*iov_at(iov, cnt, start + b / 8) ^= (uint8_t)(1u << (b % 8));
		uint64_t inblock = (p->boff * 8) + b;
		if (used < sizeof(list) - 32)
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%llu",
			                         i ? ", " : "", (unsigned long long)inblock);
	}
	char w[64];
	where(p, w, sizeof(w));
	logf_(f, r, "bit flip (%s), %s, bit%s %s", op_name(op), w, k > 1 ? "s" : "", list);
}

/* Storage faults that change bytes in place (read: the returned buffer;
 * write: the copy about to be stored). */
static void corrupt(struct fb *f, const struct csm_fault_rule *r, const struct piece *p,
                    const struct iovec *iov, int cnt, uint64_t start, unsigned op)
{
	uint64_t n;
	if (r->kind == CSM_FK_STUCK) {
		if (r->at < (int64_t)p->boff || (uint64_t)r->at >= p->boff + p->len)
			return;
		uint8_t *b = iov_at(iov, cnt, start + (uint64_t)r->at - p->boff);
		uint8_t m = (uint8_t)(1u << r->bit);
		if (((*b & m) != 0) == (r->value != 0) || !decide(r, &n))
			return; /* a stuck bit that already holds its value changes nothing */
		*b = r->value ? (uint8_t)(*b | m) : (uint8_t)(*b & ~m);
		logf_(f, r, "stuck bit (%s), block %llu, byte %lld bit %u = %d", op_name(op),
		      (unsigned long long)p->lblock, (long long)r->at, r->bit, r->value);
		return;
	}
	if (!decide(r, &n))
		return;
	if (r->kind == CSM_FK_BYTE) {
		uint64_t at =
		        r->at >= 0 ? (uint64_t)r->at : mix(r->seed ^ mix(n)) % p->len + p->boff;
		if (at < p->boff || at >= p->boff + p->len)
			return;
		uint8_t *b = iov_at(iov, cnt, start + at - p->boff);
		uint8_t old = *b;
		*b = (uint8_t)r->value;
		logf_(f, r, "byte (%s), block %llu, byte %llu: 0x%02x -> 0x%02x", op_name(op),
		      (unsigned long long)p->lblock, (unsigned long long)at, old, *b);
		return;
	}
	flip_bits(f, r, p, iov, cnt, start, n, op);
}

static bool is_corrupting(enum csm_fault_kind k)
{
	return k == CSM_FK_FLIP || k == CSM_FK_BYTE || k == CSM_FK_STUCK || k == CSM_FK_META;
}

static void sleep_ms(uint32_t ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Faults before an operation (delay, eio, eintr, enospc for writes).
 * Returns 0 or the negative errno to fail it with. */
static int before(struct fb *f, enum csm_store st, uint64_t off, size_t len, unsigned op)
{
	for (size_t i = 0; i < f->n; i++) {
		const struct csm_fault_rule *r = &f->rules[i];
		if (!(r->ops & op))
			continue;
		if (r->kind != CSM_FK_DELAY && r->kind != CSM_FK_EIO && r->kind != CSM_FK_EINTR &&
		    r->kind != CSM_FK_ENOSPC)
			continue;
		if (op == CSM_FOP_SYNC) {
			uint64_t n;
			if (r->kind == CSM_FK_DELAY && decide(r, &n)) {
				logf_(f, r, "delay %u ms, sync", r->ms);
				sleep_ms(r->ms);
			}
			continue;
		}
		/* The data blocks of the range (metadata pieces only count for
		 * enospc, which fails whatever write comes once the disk is full). */
		uint64_t data = 0;
		for (uint64_t pos = off; pos < off + len;) {
			struct piece p;
			piece_at(f, st, pos, off + len, &p);
			pos += p.len;
			if (p.kind == P_DATA)
				data += p.len;
			if (r->kind == CSM_FK_ENOSPC || !piece_selected(f, r, &p))
				continue;
			uint64_t n;
			if (!decide(r, &n))
				continue;
			if (r->kind == CSM_FK_DELAY) {
				logf_(f, r, "delay %u ms, %s, block %llu", r->ms, op_name(op),
				      (unsigned long long)p.lblock);
				sleep_ms(r->ms);
				continue;
			}
			logf_(f, r, "%s, %s, block %llu", r->kind == CSM_FK_EIO ? "EIO" : "EINTR",
			      op_name(op), (unsigned long long)p.lblock);
			return r->kind == CSM_FK_EIO ? -EIO : -EINTR;
		}
		if (r->kind == CSM_FK_ENOSPC && f->have_geo) {
			uint64_t used = __atomic_load_n(&r->ctr->bytes, __ATOMIC_SEQ_CST);
			if (used + data > r->limit || (data == 0 && used >= r->limit)) {
				uint64_t n;
				if (decide(r, &n)) {
					logf_(f, r,
					      "ENOSPC, write of %zu bytes at %llu, %llu of %llu "
					      "bytes used",
					      len, (unsigned long long)off,
					      (unsigned long long)used,
					      (unsigned long long)r->limit);
					return -ENOSPC;
				}
			} else {
				__atomic_add_fetch(&r->ctr->bytes, data, __ATOMIC_SEQ_CST);
			}
		}
	}
	return 0;
}

/* The program's sync call this thread is serving (csm_fsync), or 0. */
static __thread enum csm_call tl_call;

static void refresh(struct fb *f)
{
	if (f->h.refresh)
		f->h.refresh(f->h.arg, &f->rules, &f->n);
	if (!f->have_geo && f->n)
		load_geo(f);
}

static ssize_t fb_preadv(void *ctx, enum csm_store st, const struct iovec *iov, int cnt,
                         uint64_t off)
{
	struct fb *f = ctx;
	pthread_mutex_lock(&f->mu);
	refresh(f);
	size_t len = iov_total(iov, cnt);
	ssize_t rc = before(f, st, off, len, CSM_FOP_READ);
	if (rc == 0)
		rc = f->in.ops->preadv(f->in.ctx, st, iov, cnt, off);
	for (uint64_t pos = off; rc > 0 && pos < off + (uint64_t)rc;) {
		struct piece p;
		piece_at(f, st, pos, off + (uint64_t)rc, &p);
		for (size_t i = 0; i < f->n; i++) {
			const struct csm_fault_rule *r = &f->rules[i];
			if ((r->ops & CSM_FOP_READ) && is_corrupting(r->kind) &&
			    piece_selected(f, r, &p))
				corrupt(f, r, &p, iov, cnt, pos - off, CSM_FOP_READ);
		}
		pos += p.len;
	}
	pthread_mutex_unlock(&f->mu);
	return rc;
}

static bool has_kind(const struct fb *f, enum csm_fault_kind k, unsigned op)
{
	for (size_t i = 0; i < f->n; i++)
		if (f->rules[i].kind == k && (f->rules[i].ops & op) &&
		    (k != CSM_FK_FSYNC || f->rules[i].lose))
			return true;
	return false;
}

/* Remember what [off, off+len) of st holds before it is overwritten. */
static void undo_save(struct fb *f, enum csm_store st, uint64_t off, size_t len)
{
	if (!has_kind(f, CSM_FK_FSYNC, CSM_FOP_SYNC))
		return;
	if (f->nundo == f->capundo) {
		size_t cap = f->capundo ? 2 * f->capundo : 64;
		struct undo *u = realloc(f->undo, cap * sizeof(*u));
		if (!u)
			return;
		f->undo = u;
		f->capundo = cap;
	}
	uint8_t *old = calloc(1, len ? len : 1);
	if (!old)
		return;
	struct iovec v = {old, len};
	ssize_t n = f->in.ops->preadv(f->in.ctx, st, &v, 1, off);
	struct undo *u = &f->undo[f->nundo++];
	u->st = st;
	u->off = off;
	u->len = n > 0 ? (size_t)n : 0;
	u->old = old; /* freed by undo_end or destroy */
}

/* Drop (undo = false) or put back, newest first, the saved ranges of st
 * (interleaved: both stores are one file). */
static size_t undo_end(struct fb *f, enum csm_store st, bool restore)
{
	bool one = f->have_geo && f->geo.layout == CSM_LAYOUT_INTERLEAVED;
	size_t kept = 0, done = 0;
	for (size_t i = f->nundo; i-- > 0;) {
		struct undo *u = &f->undo[i];
		if (!one && u->st != st)
			continue;
		if (restore && u->len) {
			struct iovec v = {u->old, u->len};
			f->in.ops->pwritev(f->in.ctx, u->st, &v, 1, u->off);
		}
		free(u->old);
		u->old = NULL;
		done++;
	}
	for (size_t i = 0; i < f->nundo; i++)
		if (f->undo[i].old)
			f->undo[kept++] = f->undo[i];
	f->nundo = kept;
	return done;
}

static ssize_t put(struct fb *f, enum csm_store st, const uint8_t *buf, uint64_t len, uint64_t off)
{
	undo_save(f, st, off, (size_t)len);
	struct iovec v = {(void *)buf, (size_t)len};
	return f->in.ops->pwritev(f->in.ctx, st, &v, 1, off);
}

/* What happens to one data piece of a write: 0 stored as is, 1 not
 * stored, 2 stored elsewhere (*to), 3 only *keep bytes stored. */
static int write_fate(struct fb *f, enum csm_store st, const struct piece *p, uint64_t *to,
                      uint64_t *keep)
{
	for (size_t i = 0; i < f->n; i++) {
		const struct csm_fault_rule *r = &f->rules[i];
		uint64_t n;
		if (!(r->ops & CSM_FOP_WRITE) || p->kind != P_DATA ||
		    (r->kind != CSM_FK_LOST && r->kind != CSM_FK_MISDIRECT &&
		     r->kind != CSM_FK_TORN) ||
		    !piece_selected(f, r, p) || !decide(r, &n))
			continue;
		if (r->kind == CSM_FK_LOST) {
			logf_(f, r, "lost write, block %llu", (unsigned long long)p->lblock);
			return 1;
		}
		if (r->kind == CSM_FK_MISDIRECT) {
			int64_t t = (int64_t)p->lblock + r->shift;
			uint64_t size = 0;
			*to = t >= 0 ? csm_geo_data_offset(&f->geo, (uint64_t)t) + p->boff : 0;
			f->in.ops->get_size(f->in.ctx, st, &size);
			if (t < 0 || *to + p->len > size) {
				logf_(f, r,
				      "misdirected write, block %llu sent to block %lld, past "
				      "the end: lost",
				      (unsigned long long)p->lblock, (long long)t);
				return 1;
			}
			logf_(f, r, "misdirected write, block %llu stored at block %lld",
			      (unsigned long long)p->lblock, (long long)t);
			return 2;
		}
		uint64_t sectors = f->geo.block_size / 512;
		uint64_t k = r->keep ? r->keep : sectors / 2;
		if (k > sectors)
			k = sectors;
		*keep = k * 512 > p->boff ? k * 512 - p->boff : 0;
		if (*keep >= p->len)
			continue; /* the piece ends before the tear */
		logf_(f, r, "torn write, block %llu, %llu of %llu sectors stored",
		      (unsigned long long)p->lblock, (unsigned long long)k,
		      (unsigned long long)sectors);
		return 3;
	}
	return 0;
}

static ssize_t fb_pwritev(void *ctx, enum csm_store st, const struct iovec *iov, int cnt,
                          uint64_t off)
{
	struct fb *f = ctx;
	pthread_mutex_lock(&f->mu);
	refresh(f);
	size_t len = iov_total(iov, cnt);
	ssize_t rc = before(f, st, off, len, CSM_FOP_WRITE);
	if (rc < 0)
		goto out;
	bool touch = has_kind(f, CSM_FK_FSYNC, CSM_FOP_SYNC);
	for (size_t i = 0; i < f->n && !touch; i++)
		touch = (f->rules[i].ops & CSM_FOP_WRITE) &&
		        (is_corrupting(f->rules[i].kind) || f->rules[i].kind == CSM_FK_LOST ||
		         f->rules[i].kind == CSM_FK_MISDIRECT || f->rules[i].kind == CSM_FK_TORN);
	if (!touch || !f->have_geo) {
		rc = f->in.ops->pwritev(f->in.ctx, st, iov, cnt, off);
		goto out;
	}
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0, at = 0; i < (size_t)cnt; at += iov[i].iov_len, i++)
		memcpy(buf + at, iov[i].iov_base, iov[i].iov_len);
	struct iovec whole = {buf, len};
	uint64_t run = off; /* start of the pending run of pieces stored as they are */
	rc = (ssize_t)len;
	for (uint64_t pos = off; pos < off + len;) {
		struct piece p;
		piece_at(f, st, pos, off + len, &p);
		for (size_t i = 0; i < f->n; i++) {
			const struct csm_fault_rule *r = &f->rules[i];
			if ((r->ops & CSM_FOP_WRITE) && is_corrupting(r->kind) &&
			    piece_selected(f, r, &p))
				corrupt(f, r, &p, &whole, 1, pos - off, CSM_FOP_WRITE);
		}
		uint64_t to = 0, keep = 0;
		int fate = write_fate(f, st, &p, &to, &keep);
		if (fate) {
			ssize_t w = run < pos ? put(f, st, buf + (run - off), pos - run, run) : 0;
			if (w >= 0 && fate == 2)
				w = put(f, st, buf + (pos - off), p.len, to);
			if (w >= 0 && fate == 3 && keep)
				w = put(f, st, buf + (pos - off), keep, pos);
			if (w < 0) {
				rc = w;
				break;
			}
			run = pos + p.len;
		}
		pos += p.len;
	}
	if (rc >= 0 && run < off + len) {
		ssize_t w = put(f, st, buf + (run - off), off + len - run, run);
		if (w < 0)
			rc = w;
	}
	free(buf);
out:
	pthread_mutex_unlock(&f->mu);
	return rc;
}

static int fb_sync(void *ctx, enum csm_store st, bool datasync)
{
	struct fb *f = ctx;
	pthread_mutex_lock(&f->mu);
	refresh(f);
	int rc = (int)before(f, st, 0, 0, CSM_FOP_SYNC);
	for (size_t i = 0; i < f->n && rc == 0; i++) {
		const struct csm_fault_rule *r = &f->rules[i];
		uint64_t n;
		if (r->kind != CSM_FK_FSYNC || !(r->ops & CSM_FOP_SYNC) ||
		    (r->store >= 0 && r->store != (int)st) ||
		    (r->call && r->call != (int)tl_call) || !decide(r, &n))
			continue;
		size_t lost = r->lose ? undo_end(f, st, true) : 0;
		const char *call = !r->call                        ? ""
		                   : tl_call == CSM_CALL_FDATASYNC ? " (fdatasync)"
		                                                   : " (fsync)";
		if (r->lose)
			logf_(f, r, "fsync EIO%s, %zu write%s since the last sync lost", call, lost,
			      lost == 1 ? "" : "s");
		else
			logf_(f, r, "fsync EIO%s", call);
		rc = -EIO;
	}
	if (rc == 0) {
		rc = f->in.ops->sync(f->in.ctx, st, datasync);
		if (rc == 0)
			undo_end(f, st, false);
	}
	pthread_mutex_unlock(&f->mu);
	return rc;
}

/* A read or write call of the program about to move len bytes at logical
 * offset off: the first short rule that selects it and fires cuts it to
 * `count` bytes, or to 1..len-1 from its seed.  A call that cannot be
 * made shorter (len below 2, or not above count) is not an operation of
 * the rule. */
static size_t fb_program_call(void *ctx, enum csm_call call, uint64_t off, size_t len)
{
	struct fb *f = ctx;
	if (call == CSM_CALL_FSYNC || call == CSM_CALL_FDATASYNC || call == CSM_CALL_SYNC_DONE) {
		tl_call = call == CSM_CALL_SYNC_DONE ? 0 : call;
		return 0;
	}
	unsigned op = call == CSM_CALL_READ ? CSM_FOP_READ : CSM_FOP_WRITE;
	pthread_mutex_lock(&f->mu);
	refresh(f);
	for (size_t i = 0; i < f->n && f->have_geo && len >= 2; i++) {
		const struct csm_fault_rule *r = &f->rules[i];
		uint64_t bs = f->geo.block_size, first = off / bs, n;
		if (r->kind != CSM_FK_SHORT || !(r->ops & op) || (r->count && r->count >= len) ||
		    !selects(r, first, (off + len - 1) / bs - first + 1, f->geo.block_size) ||
		    !decide(r, &n))
			continue;
		size_t moved = r->count ? (size_t)r->count
		                        : 1 + (size_t)(mix(r->seed ^ mix(n)) % (len - 1));
		logf_(f, r, "short %s, %zu of %zu bytes at %llu", op_name(op), moved, len,
		      (unsigned long long)off);
		len = moved;
		break;
	}
	pthread_mutex_unlock(&f->mu);
	return len;
}

static int fb_get_size(void *ctx, enum csm_store st, uint64_t *size)
{
	struct fb *f = ctx;
	return f->in.ops->get_size(f->in.ctx, st, size);
}

static int fb_set_size(void *ctx, enum csm_store st, uint64_t size)
{
	struct fb *f = ctx;
	return f->in.ops->set_size(f->in.ctx, st, size);
}

static int fb_zero_range(void *ctx, enum csm_store st, uint64_t off, uint64_t len)
{
	struct fb *f = ctx;
	return f->in.ops->zero_range(f->in.ctx, st, off, len);
}

static int fb_next_data(void *ctx, enum csm_store st, uint64_t off, uint64_t *data_off)
{
	struct fb *f = ctx;
	return f->in.ops->next_data(f->in.ctx, st, off, data_off);
}

static int fb_lock(void *ctx, uint64_t id, int type, bool wait)
{
	struct fb *f = ctx;
	return f->in.ops->lock(f->in.ctx, id, type, wait);
}

/* Lock probes and the boot id are not storage: no rule applies to them,
 * and without them the engine would take every reader for alone and
 * every crash for a power cut of unknown kind. */
static int fb_lock_test(void *ctx, uint64_t id, int type)
{
	struct fb *f = ctx;
	return f->in.ops->lock_test(f->in.ctx, id, type);
}

static int fb_boot_id(void *ctx, uint8_t out[16])
{
	struct fb *f = ctx;
	return f->in.ops->boot_id(f->in.ctx, out);
}

static void fb_advise(void *ctx, enum csm_store st, uint64_t off, uint64_t len, int advice)
{
	struct fb *f = ctx;
	f->in.ops->advise(f->in.ctx, st, off, len, advice);
}

static void fb_destroy(void *ctx)
{
	struct fb *f = ctx;
	csm_backend_destroy(&f->in);
	for (size_t i = 0; i < f->nundo; i++)
		free(f->undo[i].old);
	free(f->undo);
	if (f->h.destroy)
		f->h.destroy(f->h.arg);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

int csm_backend_fault(struct csm_backend *out, const struct csm_backend *inner,
                      const struct csm_fault_rule *rules, size_t nrules,
                      const struct csm_fault_hooks *hooks)
{
	struct fb *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->in = *inner;
	f->rules = rules;
	f->n = nrules;
	if (hooks)
		f->h = *hooks;
	pthread_mutex_init(&f->mu, NULL);
	f->ops = (struct csm_backend_ops){
	        .preadv = fb_preadv,
	        .pwritev = fb_pwritev,
	        .pwritev_durable = NULL, /* write, then sync: both see the rules */
	        .sync = fb_sync,
	        .get_size = fb_get_size,
	        .set_size = inner->ops->set_size ? fb_set_size : NULL,
	        .zero_range = fb_zero_range,
	        .next_data = fb_next_data,
	        .lock = inner->ops->lock ? fb_lock : NULL,
	        .lock_test = inner->ops->lock_test ? fb_lock_test : NULL,
	        .boot_id = inner->ops->boot_id ? fb_boot_id : NULL,
	        .advise = inner->ops->advise ? fb_advise : NULL,
	        .program_call = fb_program_call,
	        .destroy = fb_destroy,
	};
	*out = *inner;
	out->ops = &f->ops;
	out->ctx = f;
	return 0;
}
