/*
 * The engine: logical I/O on a csumshim file, verified block by block.
 *
 * Callers see a plain byte array of csm_size() bytes.  Every block read is
 * checked against its stored checksum before a byte of it is returned;
 * every write stores new checksums (in the older brother, before the data)
 * so a crash at any instant leaves each block verifiable as old or new.
 *
 * Functions return -1 and set errno, like the system calls they stand in
 * for; csm_format/csm_open return a negative errno and fill a one-line
 * message.  Thread-safe: concurrent calls on one engine are fine.
 *
 * Errnos: EIO for a block that fails verification (or a group with no
 * valid metadata); EINVAL, EFBIG, EBADF (write on a read-only engine),
 * ENOSPC (past a fixed-size device); whatever the backend reports.
 * csm_open: EMEDIUMTYPE not a csumshim file, EUCLEAN damaged superblock,
 * ENOTSUP unsupported version or features.
 */
#ifndef CSUMSHIM_ENGINE_H
#define CSUMSHIM_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "csumshim/backend.h"
#include "csumshim/format.h"

#ifdef __cplusplus
extern "C" {
#endif

struct csm_engine;

enum csm_event_kind {
	CSM_EV_DATA_MISMATCH = 1, /* written block, checksum differs */
	CSM_EV_NONZERO_UNWRITTEN, /* never-written block holds non-zero bytes */
	CSM_EV_META_DAMAGED,      /* one brother failed its own checks */
	CSM_EV_GROUP_BROKEN,      /* no valid brother: the group is unreadable */
	CSM_EV_IO_ERROR,          /* the backend failed */
	CSM_EV_UNVERIFIED,        /* recovery: matched no checksum, re-sealed */
	/* v2: written blocks whose stored bytes (data or brothers) are past
	 * the end of their store: a lost tail (lblock, nblocks). */
	CSM_EV_MISSING,
	/* v2: a brother's epoch is newer than the superblock's sequence: the
	 * superblock is older than the metadata it describes (group). */
	CSM_EV_STALE_SUPER,
	/* WGREC: a group recorded written whose brothers read as a hole
	 * (punched out): its blocks are lost (group, lblock, nblocks). */
	CSM_EV_LOST,
	/* WGREC: a segment's written-group record is damaged or foreign
	 * (group: the segment's first; mb_status: enum csm_rec_status). */
	CSM_EV_RECORD_DAMAGED,
	/* v2: the last one out of a file found a writer that never signed
	 * off (a process killed, or a fork child ended by _exit, while this
	 * one held the file) and recovered it before marking it clean
	 * (detail: what the recovery found).  Not an error: the blocks it
	 * could not verify are reported each. */
	CSM_EV_RECOVERED,
};

const char *csm_event_name(enum csm_event_kind k);

struct csm_event {
	enum csm_event_kind kind;
	uint64_t lblock; /* data events */
	uint64_t group;
	int slot;                     /* META_DAMAGED: 0 = A, 1 = B */
	enum csm_mb_status mb_status; /* META_DAMAGED (RECORD_DAMAGED: csm_rec_status) */
	int err;                      /* IO_ERROR: positive errno */
	const char *detail;           /* or NULL: what the engine saw (UNVERIFIED,
	                                 RECOVERED); valid during the report only */
	uint64_t nblocks;             /* MISSING: blocks from lblock on */
};

/* Called with engine locks held: must not call back into the engine. */
typedef void (*csm_report_fn)(void *arg, const struct csm_event *ev);

enum csm_durability {
	/* Checksums reach storage before data, unordered by syncs except one
	 * per group going from clean to dirty (docs/DESIGN.md). */
	CSM_DURABILITY_DEFAULT = 0,
	/* Metadata made durable (fdatasync, shared by concurrent writers)
	 * before every data write. */
	CSM_DURABILITY_STRICT = 1,
};

struct csm_engine_opts {
	size_t cache_bytes; /* metadata cache bound; 0 = CSM_DEFAULT_CACHE */
	bool readonly;
	bool no_recover; /* do not recover an unclean file at open */
	/* Never go solo (skip the cross-process steps while no other process
	 * has the file open; docs/DESIGN.md "Solo mode"). */
	bool no_solo;
	/* How long an engine that stepped out of solo mode waits before trying
	 * again (ms); 0 = 1000.  Tests make it short. */
	unsigned solo_retry_ms;
	/* Mark a sealed group clean at the next fsync, not once it has been
	 * idle for 5 s (tests: makes lost-write detection after a power cut
	 * immediate, at the cost of a sync per group per fsync window). */
	bool clean_eagerly;
	enum csm_durability durability;
	bool log_only; /* report mismatches but return the stored data */
	/* Recovery may re-seal blocks that match neither brother in groups
	 * dirty since the last completed fsync — writes a power cut separated
	 * from their checksums — even where the file cannot prove the machine
	 * restarted since it was marked unclean (v1 files record no boot id).
	 * Off: such blocks are re-sealed only after a recorded restart; with
	 * the same boot (a process crash or exit) or none recorded, they are
	 * corruption and stay failing.  `csumshim recover --after-power-loss`. */
	bool after_power_loss;
	/* WGREC: csm_recover accepts each lost group (recorded written, its
	 * brothers gone): its data is zeroed and its bit cleared, so it reads
	 * as never written (zeros) from then on; each is still reported
	 * (CSM_EV_LOST) and counted in discarded_groups.  `csumshim recover
	 * --discard-lost`. */
	bool discard_lost;
	/* Separate layout, at an open that finds nobody else with the file:
	 * refuse (-EIO) a metadata file that does not describe the data file
	 * (docs/DESIGN.md "Separate layout: the pair"): a clean version 2
	 * data file longer than the stored size, or the first and the last
	 * block both failing verification.  The shim sets it; `check` reports
	 * block by block instead. */
	bool check_pair;
	csm_report_fn report;
	void *report_arg;
	/* Debugging aid, NULL normally: one line per metadata block written,
	 * data run written, size change and settled tuple (called with engine
	 * locks held; must not call back into the engine). */
	void (*trace)(void *arg, const char *line);
	void *trace_arg;
};

#define CSM_DEFAULT_CACHE ((size_t)16 << 20)

struct csm_format_opts {
	uint32_t block_size; /* 0 = 4096 */
	unsigned algo;       /* 0 = crc32c */
	unsigned layout;     /* 0 = interleaved */
	uint64_t size;       /* logical size in bytes */
	bool use_capacity;   /* size = what the (fixed) store can hold */
	const uint8_t *uuid; /* NULL = random */
	unsigned version;    /* 0 = CSM_VERSION (2); CSM_VERSION_1 for old files */
	bool unaligned;      /* v2 interleaved without 2 MiB-aligned data runs
	                        (CSM_FEAT_ALIGNED), as before it: for tests */
};

int csm_format(struct csm_backend *be, const struct csm_format_opts *fo, char *err, size_t errlen);

/* Takes ownership of *be (also on failure). */
int csm_open(struct csm_backend *be, const struct csm_engine_opts *opts, struct csm_engine **out,
             char *err, size_t errlen);
int csm_close(struct csm_engine *e);

ssize_t csm_pread(struct csm_engine *e, void *buf, size_t n, uint64_t off);
ssize_t csm_pwrite(struct csm_engine *e, const void *buf, size_t n, uint64_t off);
/* Per-call durability, as O_DSYNC / RWF_DSYNC (the data and its checksums
 * are on storage when the call returns) and O_SYNC / RWF_SYNC (also the
 * size and state). */
#define CSM_WR_DSYNC 1u
#define CSM_WR_SYNC 2u
ssize_t csm_pwrite_flags(struct csm_engine *e, const void *buf, size_t n, uint64_t off,
                         unsigned flags);
/* Write at the end of the file, as O_APPEND: finding the end and writing
 * there are one step for every thread and process (the superblock lock is
 * held throughout).  *at receives the offset written at. */
ssize_t csm_append(struct csm_engine *e, const void *buf, size_t n, uint64_t *at);
ssize_t csm_append_flags(struct csm_engine *e, const void *buf, size_t n, uint64_t *at,
                         unsigned flags);
uint64_t csm_size(struct csm_engine *e);
int csm_truncate(struct csm_engine *e, uint64_t size);
/* Make [off, off+len) read as zeros (within the current size). */
int csm_zero_range(struct csm_engine *e, uint64_t off, uint64_t len);
int csm_fsync(struct csm_engine *e, bool datasync);
/* Page-cache advice (POSIX_FADV_*) for a logical range (len 0: to the
 * end), applied to the physical ranges that hold it.  A hint only. */
void csm_advise(struct csm_engine *e, uint64_t off, uint64_t len, int advice);

/* Whether the engine is solo now: no other process has the file open, and
 * updates skip the cross-process locks and re-reads (tests, info). */
bool csm_is_solo(struct csm_engine *e);

/* The logical size as stored now (another process may have changed it). */
uint64_t csm_size_refresh(struct csm_engine *e);

/* Recovery after an unclean shutdown: every group marked dirty (or with a
 * damaged brother) is re-checked against its data; blocks matching either
 * brother keep that checksum.  A block matching neither is re-sealed from
 * its data and counted (CSM_EV_UNVERIFIED each) only when the machine
 * restarted since the file was marked unclean (a power cut can separate a
 * write from its checksum) or opts.after_power_loss says so; otherwise it is
 * corruption — every completed write survives a process crash whole — and
 * stays failing (CSM_EV_DATA_MISMATCH, blocks_bad).  A file marked clean
 * never has a block re-sealed: a damaged brother is rewritten from the good
 * one.  Then the file is marked clean.  csm_open does this itself for a
 * writable engine that finds the file unclean and no other process holding
 * it, unless opts.no_recover. */
struct csm_recovery {
	bool ran;
	/* Unclean and no other process had it, but not recovered: a
	 * read-only engine, or opts.no_recover (csumshim recover fixes it). */
	bool skipped;
	uint64_t groups;            /* groups looked at (holes skipped) */
	uint64_t dirty_groups;      /* groups re-checked */
	uint64_t rebuilt_groups;    /* no valid brother: rebuilt from data */
	uint64_t blocks_checked;    /* blocks of dirty groups read */
	uint64_t blocks_older;      /* verified by the older brother */
	uint64_t blocks_unverified; /* matched nothing: re-sealed */
	uint64_t blocks_lost;       /* strict: durable checksum, older data: left
	                               failing (a lost write or corruption) */
	uint64_t blocks_bad;        /* matched nothing, no restart proven: left
	                               failing (corruption) */
	uint64_t broken_groups;     /* no valid brother, no restart proven: left
	                               failing */
	bool restarted;             /* re-sealing allowed: a restart was recorded
	                               or opts.after_power_loss */
	bool boot_differs;          /* v2: the unclean mark's boot id is not this
	                               boot's (a restart since) */
	/* v2: a lost tail found, from this logical byte on (else = size); a
	 * short store is extended (to zeros that then fail verification
	 * where written) only after a restart. */
	uint64_t intact_size;
	/* v2: the superblock was older than its metadata (csm_recover only):
	 * the sequence was raised past every epoch and the size to the end of
	 * the last block a newer brother marks written (stale_size). */
	bool stale_rebuilt;
	uint64_t stale_size;
	/* WGREC: groups recorded written whose brothers are a hole: left
	 * failing, their bits kept. */
	uint64_t lost_groups;
	/* opts.discard_lost: of those, accepted as zeros, their bits cleared. */
	uint64_t discarded_groups;
};
/* -1/EBUSY if another process has the file open. */
int csm_recover(struct csm_engine *e, struct csm_recovery *res);
/* Upgrade a version 1 file to version 2 in place (docs/FORMAT.md
 * "Upgrade"): version 1 brothers are valid version 2 brothers (epoch 0)
 * and the layouts are the same, so what changes is the stores' reach
 * (extended to what the size needs) and then one superblock sector, the
 * only step that commits.  The file must be clean and no other process
 * may have it open (-1/EBUSY); the caller verifies it first (csm_scrub).
 * A version 2 aligned file without the written-group record (WGREC) gets
 * it in place: the records built from the brothers on storage, then the
 * superblock with the bit.  -1/EALREADY if there is nothing to do. */
int csm_upgrade(struct csm_engine *e);

/* Keep other processes from opening the file (on = true; -1/EBUSY if one
 * has it open) until csm_exclusive(e, false) or the close: for a copy
 * that replaces it (upgrade into the aligned layout). */
int csm_exclusive(struct csm_engine *e, bool on);

/* What csm_open's automatic recovery did (ran = false if none). */
const struct csm_recovery *csm_open_recovery(const struct csm_engine *e);
/* One line of what a recovery found ("N of M groups were dirty, …, F fail
 * verification"), as the shim logs it after an open's and
 * CSM_EV_RECOVERED carries after a close's. */
void csm_recovery_summary(const struct csm_recovery *r, char *buf, size_t n);

/* The process is exiting normally (exit(), return from main): leave the
 * file as csm_close would — synced, and clean if no other engine has it
 * open — but free nothing, since other threads may still be inside the
 * engine while exit() runs.  A write after it marks the file unclean. */
int csm_exit(struct csm_engine *e);

/* As csm_exit, for a process whose exiting thread is its only one (no
 * other thread can be inside the engine, the engine's own included): the
 * last one out recovers what a writer that never signed off left (a fork
 * child ended by _exit, a killed one) as csm_close does, where csm_exit
 * leaves the file unclean for the next open. */
int csm_exit_sole(struct csm_engine *e);

/* In a forked child: close the engine's descriptors without syncing,
 * unlocking or freeing anything (the parent still owns all of it). */
void csm_abandon(struct csm_engine *e);

/* In a child made by a fork no atfork handler saw (a raw clone(), glibc's
 * _Fork), before any other engine call: forget the process-wide state the
 * parent's threads own (the solo watcher's list, its mutex, which the
 * parent's watcher thread may have held at the instant of the fork, and
 * the thread itself, which the child does not have).  A fork() runs this
 * through pthread_atfork. */
void csm_forked(void);

const struct csm_super *csm_superblock(const struct csm_engine *e);

/* A superblock read from outside an engine, by anyone who may race a
 * process rewriting it (a page-cache read is not atomic against a write
 * of the same page): rd(arg, buf, n, off) reads bytes of the metadata
 * store (-errno on failure).  A read that fails its checksum is read
 * again, with short pauses, a bounded number of times, before it is
 * believed.  head receives the bytes (zeros past a short read); *io the
 * read's -errno, if one failed (then CSM_SB_SHORT). */
typedef ssize_t (*csm_read_fn)(void *arg, void *buf, size_t n, uint64_t off);
enum csm_sb_err csm_peek_super(csm_read_fn rd, void *arg, uint8_t head[CSM_SB_SIZE],
                               struct csm_super *sb, int *io);
const struct csm_geometry *csm_geometry(const struct csm_engine *e);

struct csm_stats {
	uint64_t mismatches;   /* data events */
	uint64_t meta_damaged; /* brother events */
	uint64_t io_errors;
	uint64_t syncs;         /* storage syncs issued (group commit shares them) */
	struct csm_event first; /* first event, kind 0 if none; detail NULL (an
	                           event's detail lives only for the report) */
};
void csm_stats(struct csm_engine *e, struct csm_stats *st);

/* Scrub: verify every block of the file, reporting each bad one. */
struct csm_scrub_result {
	uint64_t groups;
	uint64_t groups_skipped; /* holes: nothing stored, nothing to read */
	uint64_t blocks;
	uint64_t blocks_written;
	uint64_t bad_blocks;
	uint64_t bad_meta;
	uint64_t broken_groups;
	/* v2: a lost tail — bytes [intact_size, logical size) have no stored
	 * data or brothers (missing_blocks blocks from intact_size / bs) */
	uint64_t intact_size;
	uint64_t missing_blocks;
	bool stale_super; /* a brother is newer than the superblock */
	/* Separate layout, clean v2 file: the data store's length when it
	 * holds data (not zeros) past the size, which csumshim never leaves:
	 * another file's metadata, or data written without csumshim (the
	 * shim refuses such a pair: DESIGN.md "Separate layout: the pair");
	 * else 0. */
	uint64_t data_past_size;
	/* WGREC: groups recorded written whose brothers are a hole (their
	 * blocks are counted in bad_blocks too), and segments whose record
	 * is damaged or foreign (a loss there cannot be told). */
	uint64_t lost_groups;
	uint64_t bad_records;
};
typedef void (*csm_progress_fn)(void *arg, uint64_t done_bytes, uint64_t total_bytes);
int csm_scrub(struct csm_engine *e, csm_progress_fn progress, void *arg,
              struct csm_scrub_result *res);

/* Raw access for dump/corrupt: bypasses checksums and the cache. */
ssize_t csm_raw_pread(struct csm_engine *e, enum csm_store st, void *buf, size_t n, uint64_t off);
ssize_t csm_raw_pwrite(struct csm_engine *e, enum csm_store st, const void *buf, size_t n,
                       uint64_t off);
/* Forget cached metadata (after raw writes). */
void csm_drop_cache(struct csm_engine *e);

#ifdef __cplusplus
}
#endif
#endif
