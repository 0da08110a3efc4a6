/*
 * A process killed at any storage step of an operation while another
 * process holds the file.  Engine B (its own open file of the path, so its
 * locks are another process's) runs one operation and dies at its k-th
 * storage mutation — a write, resize, punch or sync — for k = 1, 2, ...
 * until the operation completes first (and B dies just after it).  The
 * mutation B dies at does not land; a write spanning a 4 KiB file boundary
 * is also tried landing up to such a boundary (a kill stops a write
 * between pages).  B is then closed: its descriptors and locks go, nothing
 * more of it lands.  Engine A, open throughout, must then:
 *
 *   - read every byte, each block as before B's operation or after it
 *     (never other bytes, never EIO: no power was cut, every completed
 *     write is there), the size old or new;
 *   - grow the file past both sizes, by truncate and by a write (which
 *     comes first alternates with k), and read zeros past the size B left;
 *   - scrub clean and close; a fresh open reads the same, scrub clean.
 *
 * Each case is run again with A closing right after the kill (last out,
 * it marks the file clean) and a fresh opener regrowing and reading.
 * Once B is gone A may go solo (docs/DESIGN.md "Solo mode"); for k = 2, 3,
 * 6, 7, ... it may not, as with a third process in the file.
 * Operations: shrinking truncate (into a block in the middle of a group,
 * and to a group boundary), extending truncate, a write growing the file
 * across a group boundary, a write inside the size across two groups,
 * csm_zero_range across groups, csm_fsync after writes, csm_close after
 * writes.  Layouts: aligned and unaligned interleaved, separate; block size
 * 4096, and 512 aligned, once at the file's start and once with the groups
 * at hand straddling segments 1 and 2 ("aligned-seg": segment 2's record
 * is in segment 1's zone, its brothers past the cut).  At 512, aligned
 * and separate files are also run "clean": A closes (the file is marked
 * clean) and reopens before B comes, so B's operation begins with the
 * unclean mark.  CSM_HOLDER_MORE=1 also runs both growth orders for every
 * k and block size 512 for the other layouts.
 * argv[1] runs the cases whose name starts so ("aligned/4096/zero").
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "csumshim/backend.h"
#include "csumshim/engine.h"
#include "enginecheck.h"
#include "testlib.h"

/* ---- B's backend: a process that dies at its k-th mutation ------------ */

static struct csm_backend inner;
static struct {
	bool armed, dead;
	bool tear;     /* the k-th, a write, lands up to a 4 KiB boundary */
	bool tearable; /* the k-th was a write spanning such a boundary */
	unsigned k, n; /* die at mutation k; mutations so far */
	char what[96]; /* the k-th mutation, for messages */
} kb;

static const char *const store_name[] = {"data", "meta"};

/* Whether this mutation kills B (or B is dead already). */
static bool dies(const char *kind, enum csm_store st, uint64_t off, uint64_t len)
{
	if (kb.dead)
		return true;
	if (!kb.armed)
		return false;
	if (++kb.n < kb.k)
		return false;
	kb.dead = true;
	snprintf(kb.what, sizeof(kb.what), "%s %s %llu+%llu", kind, store_name[st],
	         (unsigned long long)off, (unsigned long long)len);
	return true;
}

static ssize_t w_write(bool durable, enum csm_store st, const struct iovec *iov, int cnt,
                       uint64_t off)
{
	size_t total = 0;
	for (int i = 0; i < cnt; i++)
		total += iov[i].iov_len;
	bool was_dead = kb.dead;
	if (!dies(durable ? "durable write" : "write", st, off, total))
		return durable ? inner.ops->pwritev_durable(inner.ctx, st, iov, cnt, off)
		               : inner.ops->pwritev(inner.ctx, st, iov, cnt, off);
	if (was_dead)
		return -EIO;
	/* Killed in this write: a 4 KiB file boundary inside it, near its
	 * middle, is where the copy may have stopped. */
	uint64_t cut = (off + total / 2) / 4096 * 4096;
	if (cut <= off)
		cut = (off / 4096 + 1) * 4096;
	kb.tearable = cut < off + total;
	if (kb.tear && kb.tearable) {
		struct iovec v[3];
		size_t want = (size_t)(cut - off);
		int n = 0;
		for (int i = 0; i < cnt && want > 0; i++) {
			v[n] = iov[i];
			if (v[n].iov_len > want)
				v[n].iov_len = want;
			want -= v[n].iov_len;
			n++;
		}
		ssize_t r = inner.ops->pwritev(inner.ctx, st, v, n, off);
		CHECK(r == (ssize_t)(cut - off), "torn write: %zd", r);
		size_t l = strlen(kb.what);
		snprintf(kb.what + l, sizeof(kb.what) - l, " (torn at %llu)",
		         (unsigned long long)cut);
	}
	return -EIO;
}

static ssize_t w_pwritev(void *ctx, enum csm_store st, const struct iovec *iov, int cnt,
                         uint64_t off)
{
	(void)ctx;
	return w_write(false, st, iov, cnt, off);
}

static ssize_t w_pwritev_durable(void *ctx, enum csm_store st, const struct iovec *iov, int cnt,
                                 uint64_t off)
{
	(void)ctx;
	return w_write(true, st, iov, cnt, off);
}

static int w_sync(void *ctx, enum csm_store st, bool datasync)
{
	(void)ctx;
	return dies("sync", st, 0, 0) ? -EIO : inner.ops->sync(inner.ctx, st, datasync);
}

static int w_set_size(void *ctx, enum csm_store st, uint64_t size)
{
	(void)ctx;
	return dies("resize", st, size, 0) ? -EIO : inner.ops->set_size(inner.ctx, st, size);
}

static int w_zero_range(void *ctx, enum csm_store st, uint64_t off, uint64_t len)
{
	(void)ctx;
	return dies("punch", st, off, len) ? -EIO : inner.ops->zero_range(inner.ctx, st, off, len);
}

/* ---- files and engines ------------------------------------------------- */

enum layout { ALIGNED, UNALIGNED, SEPARATE };
static const char *const layout_name[] = {"aligned", "unaligned", "separate"};

static char dpath[128], mpath[140];

static struct csm_backend backend(enum layout l)
{
	return posix_open(dpath, l == SEPARATE ? mpath : NULL);
}

/* Events seen by the engines that must see none (all but B). */
static unsigned nevents;
static struct csm_event first_event;

static void on_event(void *arg, const struct csm_event *ev)
{
	(void)arg;
	/* A's recovery at its close after B died is news, not a fault; what
	 * it finds wrong comes as events of their own. */
	if (ev->kind == CSM_EV_RECOVERED)
		return;
	if (nevents++ == 0)
		first_event = *ev;
}

/* A, holding on, never goes solo once B is gone: the cross-process
 * paths, as with a third process in the file (else the solo ones). */
static bool holder_no_solo;

static void no_events(const char *when)
{
	CHECK(nevents == 0, "%s: %u events, the first %s (block %llu, group %llu, err %d)", when,
	      nevents, csm_event_name(first_event.kind), (unsigned long long)first_event.lblock,
	      (unsigned long long)first_event.group, first_event.err);
}

static struct csm_engine *open_engine(struct csm_backend be, bool watched)
{
	struct csm_engine_opts o = {.solo_retry_ms = 1};
	if (watched)
		o.report = on_event;
	else
		o.clean_eagerly = true; /* B: its fsync marks groups clean too */
	o.no_solo = watched && holder_no_solo;
	o.check_pair = watched; /* as the shim opens them */
	struct csm_engine *e;
	char err[200];
	CHECK(csm_open(&be, &o, &e, err, sizeof(err)) == 0, "open: %s", err);
	return e;
}

static void empty(const char *p)
{
	int fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	close(fd);
}

/* ---- the byte model ----------------------------------------------------- */

static uint8_t *oldm, *newm, *got, *buf;
static size_t cap;
static uint64_t osize, nsize;
static uint64_t gb;  /* data bytes per group */
static uint64_t bsz; /* block size (64 bits: offsets are computed with it) */
/* Logical offset of the groups at hand: 0, or (aligned, seg) that of the
 * last group of segment 1, so that they straddle segments 1 and 2 (whose
 * record lies in segment 1's reserved block, not in the header).  The
 * model, and the checks, cover the file from there on: the rest of it is
 * never written. */
static uint64_t base;

static uint8_t pattern(uint64_t off, unsigned salt)
{
	uint64_t x = (off + 1) * 0x9E3779B97F4A7C15ull + salt * 0xBF58476D1CE4E5B9ull;
	return (uint8_t)(x >> 40) | 1; /* never zero */
}

/* Write [off, end) of pattern `salt` through e and into the model(s). */
static void put(struct csm_engine *e, uint64_t off, uint64_t end, unsigned salt, uint8_t *m1,
                uint8_t *m2)
{
	size_t n = (size_t)(end - off);
	for (size_t i = 0; i < n; i++)
		buf[i] = pattern(off + i, salt);
	if (e)
		CHECK(csm_pwrite(e, buf, n, base + off) == (ssize_t)n, "write %llu+%zu: %s",
		      (unsigned long long)off, n, strerror(errno));
	if (m1)
		memcpy(m1 + off, buf, n);
	if (m2)
		memcpy(m2 + off, buf, n);
}

/* got[from, to) block by block: B's operation not begun or done. */
static void old_or_new(uint64_t from, uint64_t to, const char *who)
{
	for (uint64_t off = from; off < to;) {
		uint64_t end = (off / bsz + 1) * bsz;
		if (end > to)
			end = to;
		size_t len = (size_t)(end - off);
		CHECK(memcmp(got + off, oldm + off, len) == 0 ||
		              memcmp(got + off, newm + off, len) == 0,
		      "%s: block %llu (bytes %llu-%llu) is neither before nor after B's operation "
		      "(byte %llu: 0x%02x, old 0x%02x, new 0x%02x)",
		      who, (unsigned long long)(off / bsz), (unsigned long long)off,
		      (unsigned long long)end, (unsigned long long)off, got[off], oldm[off],
		      newm[off]);
		off = end;
	}
}

static void read_all(struct csm_engine *e, uint64_t off, uint64_t len, const char *who)
{
	errno = 0;
	ssize_t r = csm_pread(e, got + off, (size_t)len, base + off);
	CHECK(r == (ssize_t)len, "%s: read %llu+%llu: %zd (%s)", who, (unsigned long long)off,
	      (unsigned long long)len, r, strerror(errno));
}

/* What the file must hold after the growth: exp[0, fsize). */
static uint8_t *exp_;
static uint64_t fsize;

static void expect_from(struct csm_engine *e, uint64_t from, const char *who)
{
	CHECK(csm_size_refresh(e) == base + fsize, "%s: size %llu, not %llu", who,
	      (unsigned long long)csm_size_refresh(e), (unsigned long long)(base + fsize));
	read_all(e, from, fsize - from, who);
	bool same = memcmp(got + from, exp_ + from, fsize - from) == 0;
	for (uint64_t i = from; !same && i < fsize; i++)
		CHECK(got[i] == exp_[i], "%s: byte %llu is 0x%02x, not 0x%02x", who,
		      (unsigned long long)i, got[i], exp_[i]);
	no_events(who);
}

static void expect_file(struct csm_engine *e, const char *who)
{
	expect_from(e, 0, who);
}

/* Grow past both sizes from `sk` (the size B left; exp_ holds the bytes
 * below it): by a write of one byte then a truncate, or the other way. */
static void grow_back(struct csm_engine *e, uint64_t sk, bool write_first, const char *who)
{
	uint64_t top = osize > nsize ? osize : nsize;
	uint64_t m1 = top + gb / 2 + 3, m2 = top + gb + bsz / 2 + 5;
	CHECK(m2 + 1 <= cap);
	memset(exp_ + sk, 0, cap - sk);
	if (write_first) {
		CHECK(csm_pwrite(e, "Z", 1, base + m1) == 1, "%s: regrowing write: %s", who,
		      strerror(errno));
		exp_[m1] = 'Z';
		fsize = m1 + 1;
		expect_from(e, sk, who);
		CHECK(csm_truncate(e, base + m2) == 0, "%s: regrowing truncate: %s", who,
		      strerror(errno));
		fsize = m2;
	} else {
		CHECK(csm_truncate(e, base + m1) == 0, "%s: regrowing truncate: %s", who,
		      strerror(errno));
		fsize = m1;
		expect_from(e, sk, who);
		CHECK(csm_pwrite(e, "Z", 1, base + m2) == 1, "%s: regrowing write: %s", who,
		      strerror(errno));
		exp_[m2] = 'Z';
		fsize = m2 + 1;
	}
	expect_from(e, sk, who); /* all of it below, once rewritten */
	scrub_clean(e, who);
	/* And the file goes on working: a few bytes rewritten where B's
	 * operations wrote, zeroed or cut (partial blocks, read, verified
	 * and merged; one across the groups' boundary), then synced. */
	const uint64_t at[] = {90,         gb / 2 - 37,      gb - bsz - 37,
	                       gb - 37,    gb + 3 * bsz + 7, osize - bsz - 20,
	                       2 * gb - 37};
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		CHECK(at[i] + 75 <= fsize);
		put(e, at[i], at[i] + 75, 6, exp_, NULL);
	}
	CHECK(csm_fsync(e, false) == 0, "%s: fsync: %s", who, strerror(errno));
	expect_file(e, who);
	no_events(who);
}

/* ---- the operations ----------------------------------------------------- */

enum op { SHRINK_MID, SHRINK_EDGE, EXTEND, WRITE_GROW, WRITE_IN, ZERO, FSYNC, CLOSE, NOPS };
static const char *const op_name[] = {"shrink-mid", "shrink-edge", "extend", "write-grow",
                                      "write-in",   "zero",        "fsync",  "close"};
/* After the kill A holds on and grows the file back (truncate first, or
 * a write first), or closes at once and a fresh opener grows it back. */
enum ending { HOLD_TRUNCATE, HOLD_WRITE, CLOSE_TRUNCATE, CLOSE_WRITE };
static const char *const ending_name[] = {"hold-truncate", "hold-write", "close-truncate",
                                          "close-write"};

/* B's part before it is armed, into both models. */
static void prepare(struct csm_engine *b, enum op op)
{
	if (op != FSYNC && op != CLOSE)
		return;
	put(b, 100, 100 + bsz, 3, oldm, newm);
	put(b, gb + 5, gb + 5 + 3 * bsz, 3, oldm, newm);
	CHECK(csm_fsync(b, false) == 0);
	put(b, gb / 2, gb / 2 + 10, 4, oldm, newm);
	put(b, gb - 200, gb + 300, 4, oldm, newm);
}

/* The model after op (newm, nsize); then the operation by B.  Returns
 * whether it succeeded. */
static bool operate(struct csm_engine **bp, enum op op)
{
	struct csm_engine *b = *bp;
	uint64_t t = 0, off = 0, end = 0;
	switch (op) {
	case SHRINK_MID:
	case SHRINK_EDGE:
	case EXTEND:
		t = op == SHRINK_MID ? gb / 2 + 100 : op == SHRINK_EDGE ? gb : 3 * gb + gb / 3;
		if (t < nsize)
			memset(newm + t, 0, cap - t);
		nsize = t;
		return csm_truncate(b, base + t) == 0;
	case WRITE_GROW:
	case WRITE_IN:
		off = op == WRITE_GROW ? osize - bsz - 5 : gb - 2 * bsz - 100;
		end = op == WRITE_GROW ? 2 * gb + 2 * bsz + 9 : gb + bsz + 50;
		put(NULL, off, end, 2, newm, NULL);
		if (end > nsize)
			nsize = end;
		return csm_pwrite(b, newm + off, (size_t)(end - off), base + off) ==
		       (ssize_t)(end - off);
	case ZERO:
		off = gb - 3 * bsz - 300;
		end = gb + 2 * bsz + 200;
		memset(newm + off, 0, (size_t)(end - off));
		return csm_zero_range(b, base + off, end - off) == 0;
	case FSYNC:
		return csm_fsync(b, false) == 0;
	case CLOSE:
		*bp = NULL; /* closed, whatever it returns */
		return csm_close(b) == 0;
	default:
		return false;
	}
}

struct cfg {
	enum layout l;
	uint32_t bs;
	bool seg;   /* aligned: the groups at hand straddle segments 1 and 2 */
	bool clean; /* A closed and reopened: B's operation marks it unclean */
};

static void cfg_name(char *out, size_t len, const struct cfg *c)
{
	snprintf(out, len, "%s%s%s/%u", layout_name[c->l], c->seg ? "-seg" : "",
	         c->clean ? "-clean" : "", c->bs);
}

/* One case: B dies at mutation k (torn if tear).  Returns whether B died
 * inside the operation (else it completed, and B died just after). */
static bool one(const struct cfg *c, enum op op, unsigned k, bool tear, enum ending end)
{
	holder_no_solo = (end == HOLD_TRUNCATE || end == HOLD_WRITE) && k / 2 % 2;
	char cn[48];
	cfg_name(cn, sizeof(cn), c);
	snprintf(csm_test_context, sizeof(csm_test_context), "%s/%s/k%u%s/%s%s", cn, op_name[op], k,
	         tear ? "-torn" : "", ending_name[end], holder_no_solo ? "-nosolo" : "");
	const char *who = csm_test_context;
	empty(dpath);
	if (c->l == SEPARATE)
		empty(mpath);
	struct csm_backend be = backend(c->l);
	struct csm_format_opts fo = {.block_size = c->bs,
	                             .layout = c->l == SEPARATE ? CSM_LAYOUT_SEPARATE : 0,
	                             .unaligned = c->l == UNALIGNED};
	char err[200];
	CHECK(csm_format(&be, &fo, err, sizeof(err)) == 0, "%s", err);
	be.ops->destroy(be.ctx);
	nevents = 0;

	/* A writes pieces of groups 0 and 1 (the rest never written, zeros),
	 * syncs them, writes one more piece and reads it all (cached). */
	struct csm_engine *a = open_engine(backend(c->l), true);
	holder_no_solo = false;
	const struct csm_geometry *geo = csm_geometry(a);
	bsz = geo->block_size;
	gb = (uint64_t)geo->per_group * bsz;
	base = c->seg ? (2 * geo->seg_groups - 1) * gb : 0;
	osize = 2 * gb - 2 * bsz - 700;
	memset(oldm, 0, cap);
	put(a, 0, 3 * bsz + 17, 1, oldm, NULL);
	put(a, gb / 2 - 2 * bsz, gb / 2 + 2 * bsz + 100, 1, oldm, NULL);
	put(a, gb - 5 * bsz - 11, gb + 4 * bsz + 3, 1, oldm, NULL);
	put(a, osize - 5 * bsz, osize, 1, oldm, NULL);
	CHECK(csm_fsync(a, false) == 0);
	put(a, gb + 7, gb + 7 + bsz, 5, oldm, NULL);
	if (c->clean) { /* A alone, closing last: clean; then open again */
		CHECK(csm_close(a) == 0);
		a = open_engine(backend(c->l), true);
	}
	/* A has group 0's brothers cached (stale once B changes them), not
	 * group 1's (loaded when it reads them after the kill). */
	csm_drop_cache(a);
	const uint64_t cached[] = {0, gb / 2, gb - bsz};
	for (size_t i = 0; i < sizeof(cached) / sizeof(cached[0]); i++) {
		read_all(a, cached[i], bsz, who);
		CHECK(memcmp(got + cached[i], oldm + cached[i], bsz) == 0, "%s: A's own writes",
		      who);
	}

	/* B opens (another process), does its unarmed part, then the
	 * operation, dying at mutation k. */
	inner = backend(c->l);
	static struct csm_backend_ops ops;
	ops = *inner.ops;
	ops.pwritev = w_pwritev;
	if (ops.pwritev_durable)
		ops.pwritev_durable = w_pwritev_durable;
	ops.sync = w_sync;
	ops.set_size = w_set_size;
	ops.zero_range = w_zero_range;
	struct csm_backend wb = inner;
	wb.ops = &ops;
	memset(&kb, 0, sizeof(kb));
	struct csm_engine *b = open_engine(wb, false);
	memcpy(newm, oldm, cap);
	prepare(b, op);
	nsize = osize;
	kb.k = k;
	kb.tear = tear;
	kb.armed = true;
	bool ok = operate(&b, op);
	bool fired = kb.dead;
	CHECK(fired || ok, "%s: B's operation failed without a fault: %s", who, strerror(errno));
	kb.dead = true; /* nothing more of B lands */
	if (b)
		(void)csm_close(b);
	kb.armed = kb.dead = false;
	no_events(who);

	uint64_t top = osize > nsize ? osize : nsize;
	uint64_t sk;
	if (end == CLOSE_TRUNCATE || end == CLOSE_WRITE) {
		CHECK(csm_close(a) == 0, "%s: A closes: %s", who, strerror(errno));
		a = open_engine(backend(c->l), true);
		sk = csm_size(a) - base;
		CHECK(sk == osize || sk == nsize, "%s: size %llu, neither %llu nor %llu", who,
		      (unsigned long long)sk, (unsigned long long)osize, (unsigned long long)nsize);
		read_all(a, 0, sk, who);
	} else {
		/* As far as A thinks the file goes, then as far as it goes. */
		errno = 0;
		ssize_t r = csm_pread(a, got, (size_t)top, base);
		CHECK(r >= 0, "%s: A reads: %s", who, strerror(errno));
		old_or_new(0, (uint64_t)r, who);
		sk = csm_size_refresh(a) - base;
		CHECK(sk == osize || sk == nsize, "%s: size %llu, neither %llu nor %llu", who,
		      (unsigned long long)sk, (unsigned long long)osize, (unsigned long long)nsize);
		if ((uint64_t)r < sk)
			read_all(a, (uint64_t)r, sk - (uint64_t)r, who);
	}
	old_or_new(0, sk, who);
	no_events(who);
	memcpy(exp_, got, sk);
	grow_back(a, sk, end == HOLD_WRITE || end == CLOSE_WRITE, who);
	CHECK(csm_close(a) == 0, "%s: close: %s", who, strerror(errno));
	struct csm_engine *d = open_engine(backend(c->l), true);
	expect_file(d, who);
	scrub_clean(d, who);
	no_events(who);
	CHECK(csm_close(d) == 0);
	csm_test_context[0] = 0;
	return fired;
}

int main(int argc, char **argv)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(dpath, sizeof(dpath), "%.40s/csm-hk.XXXXXX", tmp);
	int fd = mkstemp(dpath);
	CHECK(fd >= 0);
	close(fd);
	snprintf(mpath, sizeof(mpath), "%s.csum", dpath);
	/* Largest: 3 groups and a third (extend) and the regrowth, at 4096. */
	cap = (size_t)5 << 22;
	oldm = malloc(cap);
	newm = malloc(cap);
	got = malloc(cap);
	buf = malloc(cap);
	exp_ = malloc(cap);
	CHECK(oldm && newm && got && buf && exp_);
	bool more = env_u64("CSM_HOLDER_MORE", 0) != 0;
	const struct cfg cfgs[] = {
	        {ALIGNED, 4096, false, false},  {UNALIGNED, 4096, false, false},
	        {SEPARATE, 4096, false, false}, {ALIGNED, 512, false, false},
	        {ALIGNED, 512, true, false},    {ALIGNED, 512, false, true},
	        {SEPARATE, 512, false, true},   {UNALIGNED, 512, false, false},
	        {SEPARATE, 512, false, false},  {UNALIGNED, 512, false, true},
	};
	size_t ncfg = more ? 10 : 7;
	unsigned long long cases = 0;
	for (size_t i = 0; i < ncfg; i++) {
		for (int op = 0; op < NOPS; op++) {
			char name[64];
			char cn[48];
			cfg_name(cn, sizeof(cn), &cfgs[i]);
			snprintf(name, sizeof(name), "%s/%s", cn, op_name[op]);
			if (argc > 1 && strncmp(name, argv[1], strlen(argv[1])) != 0)
				continue;
			unsigned k = 1, torn = 0;
			for (;; k++) {
				/* Every k with A holding on and with A closing
				 * first, the growth's order alternating (all four
				 * with CSM_HOLDER_MORE). */
				enum ending ends[4] = {k % 2 ? HOLD_WRITE : HOLD_TRUNCATE,
				                       k % 2 ? CLOSE_TRUNCATE : CLOSE_WRITE,
				                       k % 2 ? HOLD_TRUNCATE : HOLD_WRITE,
				                       k % 2 ? CLOSE_WRITE : CLOSE_TRUNCATE};
				int nend = more ? 4 : 2;
				bool fired = false, tearable = false;
				for (int x = 0; x < nend; x++) {
					fired = one(&cfgs[i], (enum op)op, k, false, ends[x]);
					tearable = kb.tearable;
					cases++;
				}
				for (int x = 0; tearable && x < nend; x++) {
					one(&cfgs[i], (enum op)op, k, true, ends[x]);
					cases++;
					torn += x == 0;
				}
				if (!fired)
					break;
			}
			printf("  %s: killed at each of %u mutations (%u writes also torn), then "
			       "after it\n",
			       name, k - 1, torn);
			fflush(stdout);
		}
	}
	unlink(dpath);
	unlink(mpath);
	free(oldm);
	free(newm);
	free(got);
	free(buf);
	free(exp_);
	printf("test_holder_kill: %llu cases, every block old or new, no EIO, no cut data back\n",
	       cases);
	return 0;
}
