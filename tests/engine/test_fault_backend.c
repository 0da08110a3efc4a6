/*
 * The fault-injecting backend (fault.h) under the engine, over an
 * in-memory store: every fault kind (short reads and writes, and fsync's
 * call=, at the engine's entry points) and every selector, with exact
 * outcomes — which blocks fail, with which errno, what the log says — and
 * the same faults again for the same seed.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "csumshim/engine.h"
#include "csumshim/fault.h"
#include "membackend.h"
#include "testlib.h"

#define BS 4096u
#define MAXR 4

static char logbuf[64][200];
static int nlog;
static struct csm_fault_rule rules[MAXR];
static struct csm_fault_counters ctrs[MAXR];
static size_t nrules;
static int meta_damaged[2];

static void on_log(void *arg, const struct csm_fault_rule *r, const char *line)
{
	(void)arg;
	(void)r;
	if (nlog < 64)
		snprintf(logbuf[nlog++], sizeof(logbuf[0]), "%s", line);
}

static void on_event(void *arg, const struct csm_event *ev)
{
	(void)arg;
	if (ev->kind == CSM_EV_META_DAMAGED && ev->group == 0)
		meta_damaged[ev->slot]++;
}

static void set_rules(const char *const *texts)
{
	nrules = 0;
	memset(ctrs, 0, sizeof(ctrs));
	for (; *texts; texts++) {
		char err[200];
		struct csm_fault_rule *r = &rules[nrules];
		CHECK(csm_fault_parse(*texts, r, NULL, err, sizeof(err)) == 0, "%s: %s", *texts,
		      err);
		r->ctr = &ctrs[nrules++];
		r->t0_ms = csm_fault_now_ms();
	}
	nlog = 0;
}

static void refresh(void *arg, const struct csm_fault_rule **r, size_t *n)
{
	(void)arg;
	*r = rules;
	*n = nrules;
}

static struct mem_backend mem;
static unsigned cur_layout;

/* A fresh 16-block file whose blocks 0..15 hold byte value 0x10 + L. */
static struct csm_engine *fresh(unsigned layout, const char *const *texts)
{
	mem_backend_free(&mem);
	mem_backend_init(&mem, layout == CSM_LAYOUT_INTERLEAVED);
	cur_layout = layout;
	struct csm_backend be = mem_backend_view(&mem);
	struct csm_format_opts fo = {.block_size = BS, .layout = layout};
	char err[200];
	CHECK(csm_format(&be, &fo, err, sizeof(err)) == 0, "%s", err);
	struct csm_engine *e;
	struct csm_engine_opts o = {.report = on_event};
	be = mem_backend_view(&mem);
	CHECK(csm_open(&be, &o, &e, err, sizeof(err)) == 0, "%s", err);
	static uint8_t buf[16 * BS];
	for (unsigned l = 0; l < 16; l++)
		memset(buf + (size_t)l * BS, 0x10 + (int)l, BS);
	CHECK(csm_pwrite(e, buf, sizeof(buf), 0) == (ssize_t)sizeof(buf));
	CHECK(csm_fsync(e, false) == 0);
	CHECK(csm_close(e) == 0);
	/* Reopen through the fault backend. */
	set_rules(texts);
	struct csm_backend in = mem_backend_view(&mem), fb;
	struct csm_fault_hooks h = {.log = on_log, .refresh = refresh};
	CHECK(csm_backend_fault(&fb, &in, rules, nrules, &h) == 0);
	CHECK(csm_open(&fb, &o, &e, err, sizeof(err)) == 0, "%s", err);
	return e;
}

/* Read block l: 0 if it holds its original or `expect` content, else -errno. */
static int rd(struct csm_engine *e, unsigned l, int expect)
{
	uint8_t b[BS];
	ssize_t n = csm_pread(e, b, BS, (uint64_t)l * BS);
	if (n < 0)
		return -errno;
	CHECK(n == BS, "read of block %u: %zd", l, n);
	int v = expect >= 0 ? expect : 0x10 + (int)l;
	for (unsigned i = 0; i < BS; i++)
		CHECK(b[i] == v, "block %u byte %u: %#x, expected %#x", l, i, b[i], v);
	return 0;
}

static int wr(struct csm_engine *e, unsigned l, int v)
{
	uint8_t b[BS];
	memset(b, v, BS);
	return csm_pwrite(e, b, BS, (uint64_t)l * BS) == BS ? 0 : -errno;
}

#define R(...) ((const char *const[]){__VA_ARGS__, NULL})

static void expect_log(int i, const char *want)
{
	CHECK(i < nlog, "log line %d missing (want '%s')", i, want);
	CHECK(!strcmp(logbuf[i], want), "log line %d: '%s', want '%s'", i, logbuf[i], want);
}

static void test_flip(unsigned layout)
{
	/* Bits flipped as read: transient; only block 2 fails. */
	struct csm_engine *e = fresh(layout, R("flip op=read blocks=2 seed=7"));
	CHECK(rd(e, 1, -1) == 0);
	CHECK(rd(e, 2, -1) == -EIO);
	CHECK(rd(e, 3, -1) == 0);
	/* The engine re-reads a mismatch before reporting it: two reads, two
	 * flips (the second op of the rule, so another bit). */
	CHECK(nlog == 2, "%d lines", nlog);
	char first[200];
	snprintf(first, sizeof(first), "%s", logbuf[1]);
	CHECK(!strncmp(logbuf[0], "injected: bit flip (read), block 2, bit ", 40), "%s", logbuf[0]);
	CHECK(!strncmp(first, "injected: bit flip (read), block 2, bit ", 40), "%s", first);
	CHECK(strcmp(logbuf[0], first) != 0);
	nrules = 0; /* rule removed: the stored block was never damaged */
	CHECK(rd(e, 2, -1) == 0);
	csm_close(e);
	/* Same seed, same bit; another seed, another bit. */
	e = fresh(layout, R("flip op=read blocks=2 seed=7"));
	CHECK(rd(e, 2, -1) == -EIO);
	expect_log(1, first);
	csm_close(e);
	e = fresh(layout, R("flip op=read blocks=2 seed=8"));
	CHECK(rd(e, 2, -1) == -EIO);
	CHECK(strcmp(logbuf[1], first) != 0, "seed 8 flipped the same bit: %s", first);
	csm_close(e);

	/* Bits flipped as written: stored damage, 3 bits. */
	e = fresh(layout, R("flip blocks=5 bits=3 seed=1"));
	CHECK(wr(e, 5, 0x55) == 0);
	CHECK(wr(e, 6, 0x66) == 0);
	nrules = 0;
	CHECK(rd(e, 5, 0x55) == -EIO);
	CHECK(rd(e, 6, 0x66) == 0);
	CHECK(nlog == 1);
	CHECK(!strncmp(logbuf[0], "injected: bit flip (write), block 5, bits ", 42), "%s",
	      logbuf[0]);
	CHECK_EQ_U64(ctrs[0].hits, 1);
	csm_close(e);
}

static void test_byte_stuck(void)
{
	struct csm_engine *e = fresh(CSM_LAYOUT_INTERLEAVED, R("byte blocks=0 at=10 value=0xaa"));
	CHECK(wr(e, 0, 0x01) == 0);
	nrules = 0;
	CHECK(rd(e, 0, 0x01) == -EIO);
	expect_log(0, "injected: byte (write), block 0, byte 10: 0x01 -> 0xaa");
	csm_close(e);

	e = fresh(CSM_LAYOUT_INTERLEAVED, R("stuck blocks=3 at=100 bit=2 value=1"));
	CHECK(rd(e, 3, -1) == -EIO); /* 0x13 has bit 2 clear */
	expect_log(0, "injected: stuck bit (read), block 3, byte 100 bit 2 = 1");
	CHECK(wr(e, 3, 0x04) == 0); /* bit 2 set: the stuck bit changes nothing */
	CHECK(rd(e, 3, 0x04) == 0);
	CHECK(nlog == 2); /* the read and the engine's re-read of the mismatch */
	expect_log(1, "injected: stuck bit (read), block 3, byte 100 bit 2 = 1");
	CHECK_EQ_U64(ctrs[0].hits, 2);
	csm_close(e);
}

/* Close, and open again without the fault backend. */
static struct csm_engine *reopen_plain(struct csm_engine *e)
{
	CHECK(csm_close(e) == 0);
	struct csm_backend be = mem_backend_view(&mem);
	struct csm_engine_opts o = {.report = on_event};
	char err[200];
	CHECK(csm_open(&be, &o, &e, err, sizeof(err)) == 0, "%s", err);
	return e;
}

static void test_lost_misdirect_torn(unsigned layout)
{
	/* Until the group is sealed the older brother still vouches for the
	 * old content (a write cut short by a crash looks the same); after the
	 * fsync and a clean close, the old content is a mismatch. */
	struct csm_engine *e = fresh(layout, R("lost blocks=4"));
	CHECK(wr(e, 4, 0x44) == 0); /* acknowledged */
	CHECK(csm_fsync(e, false) == 0);
	expect_log(0, "injected: lost write, block 4");
	CHECK(nlog == 1);
	e = reopen_plain(e);
	CHECK(rd(e, 4, 0x44) == -EIO);
	CHECK(rd(e, 3, -1) == 0);
	CHECK(rd(e, 5, -1) == 0);
	csm_close(e);

	e = fresh(layout, R("misdirect blocks=4 shift=2"));
	CHECK(wr(e, 4, 0x44) == 0);
	expect_log(0, "injected: misdirected write, block 4 stored at block 6");
	CHECK(csm_fsync(e, false) == 0);
	e = reopen_plain(e);
	CHECK(rd(e, 4, 0x44) == -EIO); /* never arrived */
	CHECK(rd(e, 5, -1) == 0);
	CHECK(rd(e, 6, -1) == -EIO);
	csm_close(e);

	e = fresh(layout, R("torn blocks=7 sectors=3"));
	CHECK(wr(e, 7, 0x77) == 0);
	CHECK(rd(e, 7, 0x77) == -EIO);
	expect_log(0, "injected: torn write, block 7, 3 of 8 sectors stored");
	nrules = 0;
	CHECK(wr(e, 7, 0x78) == 0); /* whole again */
	CHECK(rd(e, 7, 0x78) == 0);
	csm_close(e);
}

static void test_meta(void)
{
	struct csm_engine *e = fresh(CSM_LAYOUT_INTERLEAVED, R("meta brother=B blocks=0 op=read"));
	meta_damaged[0] = meta_damaged[1] = 0;
	CHECK(rd(e, 0, -1) == 0); /* the other brother still vouches */
	CHECK(meta_damaged[1] >= 1 && meta_damaged[0] == 0, "A %d B %d", meta_damaged[0],
	      meta_damaged[1]);
	CHECK(!strncmp(logbuf[0], "injected: bit flip (read), metadata block B of group 0, bit ",
	               60),
	      "%s", logbuf[0]);
	csm_close(e);
}

static void test_program_faults(void)
{
	struct csm_engine *e = fresh(CSM_LAYOUT_INTERLEAVED, R("eio op=read bytes=8192-8192"));
	CHECK(rd(e, 1, -1) == 0);
	CHECK(rd(e, 2, -1) == -EIO);
	CHECK(rd(e, 3, -1) == 0);
	CHECK(wr(e, 2, 0x22) == 0); /* writes are not selected */
	expect_log(0, "injected: EIO, read, block 2");
	CHECK(nlog == 1);
	csm_close(e);

	e = fresh(CSM_LAYOUT_INTERLEAVED, R("eio op=write blocks=9-10"));
	CHECK(wr(e, 8, 1) == 0);
	CHECK(wr(e, 9, 1) == -EIO);
	CHECK(wr(e, 10, 1) == -EIO);
	CHECK(wr(e, 11, 1) == 0);
	CHECK(rd(e, 9, -1) == 0);
	expect_log(0, "injected: EIO, write, block 9");
	expect_log(1, "injected: EIO, write, block 10");
	csm_close(e);

	e = fresh(CSM_LAYOUT_INTERLEAVED, R("eintr op=read blocks=0 max=1"));
	CHECK(rd(e, 0, -1) == -EINTR);
	CHECK(rd(e, 0, -1) == 0);
	expect_log(0, "injected: EINTR, read, block 0");
	csm_close(e);

	e = fresh(CSM_LAYOUT_INTERLEAVED, R("enospc limit=8K"));
	CHECK(wr(e, 16, 1) == 0);
	CHECK(wr(e, 17, 1) == 0);
	CHECK(wr(e, 18, 1) == -ENOSPC);
	CHECK(wr(e, 0, 1) == -ENOSPC);
	CHECK(!strncmp(logbuf[0], "injected: ENOSPC, write of 4096 bytes at ", 41), "%s",
	      logbuf[0]);
	csm_close(e);

	e = fresh(CSM_LAYOUT_INTERLEAVED, R("delay op=sync ms=60"));
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	CHECK(wr(e, 0, 3) == 0);
	CHECK(csm_fsync(e, false) == 0);
	clock_gettime(CLOCK_MONOTONIC, &b);
	double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
	CHECK(ms >= 60, "fsync took %.1f ms", ms);
	expect_log(0, "injected: delay 60 ms, sync");
	csm_close(e);
}

static void test_fsync(void)
{
	/* lose=no: the error only. */
	/* The first write of a clean group syncs its dirty mark: the rules
	 * are switched on after it, as a harness does through the control
	 * file. */
	struct csm_engine *e = fresh(CSM_LAYOUT_INTERLEAVED, R("fsync max=1 lose=no"));
	nrules = 0;
	CHECK(wr(e, 0, 0xa0) == 0);
	nrules = 1;
	CHECK(csm_fsync(e, false) == -1 && errno == EIO);
	CHECK(csm_fsync(e, false) == 0);
	CHECK(rd(e, 0, 0xa0) == 0);
	expect_log(0, "injected: fsync EIO");
	csm_close(e);

	/* store=data: the dirty mark's sync (metadata store) passes, the
	 * program's fsync (data first) fails. */
	e = fresh(CSM_LAYOUT_SEPARATE, R("fsync store=data lose=no"));
	CHECK(wr(e, 2, 0xc2) == 0);
	CHECK(csm_fsync(e, false) == -1 && errno == EIO);
	CHECK_EQ_U64(ctrs[0].hits, 1);
	csm_close(e);

	/* lose=yes: the writes since the last good sync are gone from storage;
	 * reopened, the file holds the content of that sync, verified. */
	e = fresh(CSM_LAYOUT_INTERLEAVED, R("fsync max=1"));
	nrules = 0;
	CHECK(wr(e, 0, 0xa1) == 0);
	CHECK(csm_fsync(e, false) == 0);
	nrules = 1;
	CHECK(wr(e, 0, 0xa2) == 0);
	CHECK(wr(e, 1, 0xb2) == 0);
	CHECK(csm_fsync(e, false) == -1 && errno == EIO);
	CHECK(!strncmp(logbuf[0], "injected: fsync EIO, ", 21) &&
	              strstr(logbuf[0], " since the last sync lost"),
	      "%s", logbuf[0]);
	/* The group is still dirty, so the older brother (the last sync's)
	 * vouches for what storage holds again: the old content, verified —
	 * what a program sees on Linux once the failed pages are evicted. */
	CHECK(rd(e, 0, 0xa1) == 0);
	csm_close(e);
	struct csm_backend be = mem_backend_view(&mem);
	struct csm_engine_opts o = {0};
	char err[200];
	CHECK(csm_open(&be, &o, &e, err, sizeof(err)) == 0, "%s", err);
	CHECK(rd(e, 0, 0xa1) == 0);
	CHECK(rd(e, 1, -1) == 0);
	csm_close(e);
}

/* fsync call=: only the syncs serving the program's fsync, or its
 * fdatasync; never the engine's own (dirty marks, the final sync of a
 * close). */
static void test_fsync_call(unsigned layout)
{
	struct csm_engine *e = fresh(layout, R("fsync call=fdatasync lose=no"));
	/* The clean group's dirty mark is synced (fdatasync semantics) as the
	 * write starts: not the program's call, so it passes. */
	CHECK(wr(e, 0, 0xd0) == 0, "a write failed: %s", strerror(errno));
	CHECK(csm_fsync(e, false) == 0, "fsync failed under call=fdatasync");
	CHECK(nlog == 0, "%d lines", nlog);
	CHECK(wr(e, 1, 0xd1) == 0);
	CHECK(csm_fsync(e, true) == -1 && errno == EIO, "fdatasync was not failed");
	expect_log(0, "injected: fsync EIO (fdatasync)");
	CHECK_EQ_U64(ctrs[0].hits, 1);
	CHECK(csm_close(e) == 0, "close failed: %s", strerror(errno));
	CHECK(nlog == 1, "%d lines", nlog);

	e = fresh(layout, R("fsync call=fsync lose=no max=1"));
	CHECK(wr(e, 2, 0xd2) == 0, "a write failed: %s", strerror(errno));
	CHECK(csm_fsync(e, true) == 0, "fdatasync failed under call=fsync");
	CHECK(wr(e, 3, 0xd3) == 0);
	CHECK(csm_fsync(e, false) == -1 && errno == EIO, "fsync was not failed");
	expect_log(0, "injected: fsync EIO (fsync)");
	CHECK(csm_fsync(e, false) == 0); /* max=1 */
	CHECK(rd(e, 2, 0xd2) == 0 && rd(e, 3, 0xd3) == 0);
	CHECK(csm_close(e) == 0, "close failed: %s", strerror(errno));
	/* Without call=, the same rule fails the engine's own sync of the
	 * dirty mark: the write itself gets the error. */
	e = fresh(layout, R("fsync lose=no max=1"));
	CHECK(wr(e, 2, 0xd2) == -EIO);
	expect_log(0, "injected: fsync EIO");
	csm_close(e);
}

/* short: read and write calls move fewer bytes than asked, as a kernel
 * may; the bytes moved are the right ones, the rest untouched. */
static void test_short(unsigned layout)
{
	static uint8_t b[4 * BS];
	struct csm_engine *e = fresh(layout, R("short op=read count=1000 blocks=1"));
	CHECK(csm_pread(e, b, BS, 0) == BS); /* block 0: not selected */
	CHECK(csm_pread(e, b, 2 * (size_t)BS, 0) == 1000, "a read over block 1 was not cut");
	for (unsigned i = 0; i < 1000; i++)
		CHECK(b[i] == 0x10, "byte %u: %#x", i, b[i]);
	CHECK(csm_pread(e, b, 500, BS) == 500); /* not above count: whole */
	CHECK(wr(e, 1, 0x41) == 0);             /* writes: not selected */
	expect_log(0, "injected: short read, 1000 of 8192 bytes at 0");
	CHECK(nlog == 1, "%d lines", nlog);
	CHECK_EQ_U64(ctrs[0].ops, 1);
	csm_close(e);

	/* Writes: block 5's write stores its first 100 bytes only. */
	e = fresh(layout, R("short op=write count=100 blocks=5 max=1"));
	memset(b, 0x55, BS);
	CHECK(csm_pwrite(e, b, BS, 5 * (uint64_t)BS) == 100, "the write was not cut");
	CHECK(csm_pread(e, b, BS, 5 * (uint64_t)BS) == BS);
	for (unsigned i = 0; i < BS; i++)
		CHECK(b[i] == (i < 100 ? 0x55 : 0x15), "block 5 byte %u: %#x", i, b[i]);
	expect_log(0, "injected: short write, 100 of 4096 bytes at 20480");
	CHECK(wr(e, 5, 0x56) == 0 && rd(e, 5, 0x56) == 0); /* max=1 */
	CHECK_EQ_U64(csm_size(e), 16 * BS);
	csm_close(e);

	/* Appends: the file grows by what was written. */
	e = fresh(layout, R("short op=write count=10"));
	uint64_t at = 0;
	CHECK(csm_append(e, b, 300, &at) == 10 && at == 16 * (uint64_t)BS);
	CHECK_EQ_U64(csm_size(e), 16 * BS + 10);
	expect_log(0, "injected: short write, 10 of 300 bytes at 65536");
	csm_close(e);

	/* No count: 1..asked-1 from the seed; the same seed, the same counts. */
	ssize_t got[2][6];
	for (int run = 0; run < 2; run++) {
		e = fresh(layout, R("short op=read seed=3"));
		for (int i = 0; i < 6; i++) {
			got[run][i] = csm_pread(e, b, sizeof(b), (uint64_t)i * BS);
			CHECK(got[run][i] >= 1 && got[run][i] < (ssize_t)sizeof(b), "read %d: %zd",
			      i, got[run][i]);
			CHECK(b[0] == 0x10 + i, "read %d: %#x", i, b[0]);
		}
		CHECK(csm_pread(e, b, 1, 0) == 1); /* one byte cannot be shorter */
		CHECK_EQ_U64(ctrs[0].ops, 6);
		csm_close(e);
	}
	CHECK(!memcmp(got[0], got[1], sizeof(got[0])), "seed 3 twice: other counts");
	e = fresh(layout, R("short op=read seed=4"));
	bool differ = false;
	for (int i = 0; i < 6; i++)
		differ |= csm_pread(e, b, sizeof(b), (uint64_t)i * BS) != got[0][i];
	CHECK(differ, "seeds 3 and 4 gave the same counts");
	csm_close(e);
}

/* Which of 30 reads of block 0 fail. */
static uint64_t pattern(const char *rule)
{
	struct csm_engine *e = fresh(CSM_LAYOUT_INTERLEAVED, R(rule));
	uint64_t m = 0;
	for (int i = 0; i < 30; i++)
		if (rd(e, 0, -1) == -EIO)
			m |= UINT64_C(1) << i;
	csm_close(e);
	return m;
}

static void test_selectors(void)
{
	CHECK_EQ_U64(pattern("eio op=read blocks=0 every=3"), 0x24924924); /* 3rd, 6th... */
	CHECK_EQ_U64(pattern("eio op=read blocks=0 after=2 max=2"), 0xc);
	CHECK_EQ_U64(pattern("eio op=read blocks=0 after=4 every=5 max=3"), 0x42100);
	uint64_t a = pattern("eio op=read blocks=0 probability=50% seed=11");
	CHECK_EQ_U64(pattern("eio op=read blocks=0 probability=0.5 seed=11"), a);
	uint64_t b = pattern("eio op=read blocks=0 probability=0.5 seed=12");
	CHECK(a != b, "seeds 11 and 12 gave the same faults %#llx", (unsigned long long)a);
	int ones = __builtin_popcountll(a);
	CHECK(ones >= 6 && ones <= 24, "%d of 30", ones);
	CHECK_EQ_U64(pattern("eio op=read blocks=1"), 0); /* another block */
	CHECK_EQ_U64(ctrs[0].ops, 0);

	/* Time window: only between 150 and 300 ms after loading. */
	struct csm_engine *e = fresh(CSM_LAYOUT_INTERLEAVED, R("eio op=read from=0.15 until=0.3"));
	CHECK(rd(e, 0, -1) == 0);
	struct timespec ts = {0, 200L * 1000000};
	nanosleep(&ts, NULL);
	CHECK(rd(e, 0, -1) == -EIO);
	nanosleep(&ts, NULL);
	CHECK(rd(e, 0, -1) == 0);
	csm_close(e);
}

static void test_parse_errors(void)
{
	static const struct {
		const char *text, *msg;
	} cases[] = {
	        {"zap", "fault: unknown kind 'zap' (known: flip, byte, stuck, lost, misdirect, "
	                "torn, meta, eio, fsync, enospc, eintr, delay, short)"},
	        {"lost op=read", "lost: op must be within write "},
	        {"eio blocks=5-3", "blocks: empty range '5-3'"},
	        {"flip probability=2", "probability: expected 0..1 or 0..100%, not '2'"},
	        {"byte at=3", "byte: needs value=0..255"},
	        {"stuck at=3 bit=9 value=1", "bit: out of range: '9'"},
	        {"eio colour=red",
	         "unknown key 'colour' (known: op, blocks, bytes, path, "
	         "probability, seed, every, after, max, from, until, bits, "
	         "value, at, bit, brother, shift, sectors, limit, ms, lose, store, call, "
	         "count)"},
	        {"eio call=fsync", "eio: call= is for fsync rules"},
	        {"fsync call=sometimes", "call: expected fsync, fdatasync or any, not 'sometimes'"},
	        {"eio count=3", "eio: count= is for short rules"},
	        {"short count=0", "count: out of range: '0'"},
	        {"short op=sync", "short: op must be within read write "},
	        {"eio path=rel/*", "path: expected an absolute glob, not 'rel/*'"},
	        {"eio from=2 until=1", "until must be after from"},
	        {"eio seed", "eio: expected key=value, not 'seed'"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct csm_fault_rule r;
		char err[300] = "";
		CHECK(csm_fault_parse(cases[i].text, &r, NULL, err, sizeof(err)) == -1, "%s",
		      cases[i].text);
		CHECK(!strcmp(err, cases[i].msg), "'%s': '%s'", cases[i].text, err);
	}
	struct csm_fault_rule r;
	char *glob, err[200];
	CHECK(csm_fault_parse("flip path=/d/*.db blocks=1,4-6 bits=2", &r, &glob, err,
	                      sizeof(err)) == 0);
	CHECK(!strcmp(glob, "/d/*.db") && r.nranges == 2 && r.ranges[1].lo == 4 &&
	      r.ranges[1].hi == 7 && r.bits == 2);
	free(glob);
}

/* What is not storage passes through the fault backend untouched: the
 * lock probe (else a reader would take itself for alone) and the boot id
 * (else every crash would be a power cut of unknown kind). */
static int probe_lock_test(void *ctx, uint64_t id, int type)
{
	(void)ctx;
	return id == 7 && type == 1 ? -EAGAIN : -EINVAL;
}

static void test_passthrough(void)
{
	struct csm_backend in = mem_backend_view(&mem), fb;
	struct csm_backend_ops ops = *in.ops;
	ops.lock_test = probe_lock_test;
	memset(mem.boot, 0x5a, sizeof(mem.boot));
	in.ops = &ops;
	set_rules(R("flip op=read"));
	CHECK(csm_backend_fault(&fb, &in, rules, nrules, NULL) == 0);
	CHECK(fb.ops->lock_test, "lock_test not passed through");
	CHECK(fb.ops->lock_test(fb.ctx, 7, 1) == -EAGAIN);
	uint8_t id[16] = {0}, want[16];
	memset(want, 0x5a, sizeof(want));
	CHECK(fb.ops->boot_id, "boot_id not passed through");
	CHECK(fb.ops->boot_id(fb.ctx, id) == 0 && !memcmp(id, want, 16));
	csm_backend_destroy(&fb);
	/* An inner backend without them: none in the wrapper either. */
	ops.lock_test = NULL;
	ops.boot_id = NULL;
	CHECK(csm_backend_fault(&fb, &in, rules, nrules, NULL) == 0);
	CHECK(!fb.ops->lock_test && !fb.ops->boot_id);
	csm_backend_destroy(&fb);
}

int main(void)
{
	test_parse_errors();
	test_flip(CSM_LAYOUT_INTERLEAVED);
	test_flip(CSM_LAYOUT_SEPARATE);
	test_byte_stuck();
	test_lost_misdirect_torn(CSM_LAYOUT_INTERLEAVED);
	test_lost_misdirect_torn(CSM_LAYOUT_SEPARATE);
	test_meta();
	test_program_faults();
	test_fsync();
	test_fsync_call(CSM_LAYOUT_INTERLEAVED);
	test_fsync_call(CSM_LAYOUT_SEPARATE);
	test_short(CSM_LAYOUT_INTERLEAVED);
	test_short(CSM_LAYOUT_SEPARATE);
	test_selectors();
	test_passthrough();
	mem_backend_free(&mem);
	printf("test_fault_backend: ok\n");
	return 0;
}
