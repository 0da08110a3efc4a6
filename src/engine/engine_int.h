/*
 * The engine's private header, included by every file of src/engine/ and
 * installed nowhere: the engine's constants and structures, and the
 * functions its files share.  Those keep their short names: they are
 * hidden (the core library is built with -fvisibility=hidden, and the
 * pragma below says so where they are declared), so nothing outside the
 * library sees them.  Relies on the public headers only.
 *
 * The engine: verified logical I/O over a storage backend.
 *
 * Locking
 *   - Each metadata group has a reader/writer lock.  Reads of a group's
 *     blocks hold it shared from the data read to the end of verification;
 *     writes hold it exclusive from the metadata update to the data write.
 *   - Groups live in a bounded cache split into 64 shards, each a uthash
 *     table with an LRU list under its own mutex, held only to find or
 *     insert an entry.  There is no engine-wide lock on the I/O path.
 *   - resize_mu serialises size changes and superblock writes only; it is
 *     never taken with a group lock held.
 *   - A shrink (csm_truncate) cuts every group from the one holding the new
 *     end on.  It publishes shrink_from, waits until no thread holds one of
 *     those group locks, and takes one cross-process lock over all of them
 *     (CSM_LOCK_TAIL); other threads wanting such a group's exclusive lock
 *     wait for it to finish (shrink_wait).  A writer compares its end with
 *     the size under its group lock, the stored size when other processes
 *     may share the file, so nothing is written past the end of a file
 *     another thread or process has just shortened.
 *
 * Write protocol (per group, under the group lock)
 *   1. Build the new brother from the newer one: all its tuples plus the
 *      new checksums, generation + 1.  Write it over the older slot.
 *   2. Write the data.
 *   A crash between (1) and (2) leaves blocks whose data is old while the
 *   newer brother has new tuples; the older brother, one generation behind
 *   and differing exactly in those blocks, vouches for the old data.
 *
 * Size changes keep one invariant: every byte past the logical size, in the
 * last block and beyond it, is zero and unwritten.  Growing writes the
 * superblock first; shrinking zeroes and unmarks first, truncates the
 * stores, then writes the superblock.
 */
#ifndef CSUMSHIM_ENGINE_INT_H
#define CSUMSHIM_ENGINE_INT_H

#include "csumshim/engine.h"

#include <pthread.h>
#include <stdatomic.h>
#include <uthash.h>

#define NSHARDS 64
#define SCRUB_CHUNK ((size_t)256 << 10)
#define ALIGN 4096
#define NO_SHRINK UINT64_MAX
/* Internal: the size changed under a write; the caller re-checks it.  Never
 * returned to a caller of the engine. */
#define E_SIZE_CHANGED 4096

_Static_assert(CSM_MAX_BLOCK <= ALIGN, "bounce buffers hold one block");

struct group {
	uint64_t gno;
	UT_hash_handle hh;
	struct group *prev, *next; /* LRU, most recent first (shard mutex) */
	_Atomic unsigned refs;     /* taken and tested under the shard mutex;
	                            * given back without it (group_put) */
	pthread_rwlock_t lock;
	bool loaded;          /* group lock */
	bool settled;         /* group lock: newer's tuples match stored data */
	uint64_t epoch;       /* engine epoch when loaded */
	uint64_t drained;     /* shard mutex: the last shrink that waited for it */
	uint64_t win;         /* group lock: fsync window it was last noted in */
	uint64_t data_ticket; /* group lock: a data sync with this ticket covers
	                         the last update's data (sync_ticket) */
	struct csm_pair pair; /* group lock */
	bool solo;            /* group lock: the update under way relies on solo */
	bool stale;           /* group lock: v2, a brother newer than the superblock */
	bool lost;            /* group lock: recorded written, brothers a hole */
	uint8_t *slot[2];     /* raw brothers, block_size each */
};

struct shard {
	pthread_mutex_t mu;
	struct group *table;
	struct group *head, *tail;
	size_t count;
} __attribute__((aligned(64)));

/* Group commit: a sync that starts after a request covers it, so threads
 * waiting together share one. */
struct syncer {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t wanted, done;
	bool running;
};

/* Groups this engine dirtied, by fsync window (docs/DESIGN.md). */
struct gref {
	uint64_t gno, gen;
	uint64_t when; /* win_prev: when sealed (ms, CLOCK_MONOTONIC) */
};
struct gvec {
	struct gref *v;
	size_t n, cap;
};

struct csm_engine {
	struct csm_backend be;
	bool xproc;  /* the backend locks across processes */
	bool strict; /* durability = strict */
	/* Solo mode (solo.c) */
	_Atomic bool solo;        /* is solo now */
	bool solo_ok;             /* may go solo at all */
	bool sb_solo;             /* resize_mu: sb_begin relied on solo */
	bool w_listed, w_closing; /* watch.mu */
	bool v2;                  /* format version 2: epochs, boot id, no absence as zeros */
	/* v2: found at open, a brother newer than the superblock (every I/O
	 * fails with EIO until csumshim recover; stale_group names it). */
	_Atomic bool stale_super;
	struct csm_engine_opts opts;
	struct csm_super sb; /* resize_mu */
	/* resize_mu: the header as last read or written; with WGREC its
	 * bytes after the superblock hold segments 0 and 1's records, which
	 * write_super writes with it (record.c). */
	uint8_t *hdr;
	struct csm_geometry geo;
	/* Largest superblock sequence seen stored (note_size): the epoch v2
	 * brothers are sealed with. */
	_Atomic uint64_t seq_seen;
	/* Largest sequence a completed sync of the superblock's store has
	 * covered (sync_now): what v2 brothers are sealed with, so a power cut
	 * never leaves a superblock older than a brother's epoch. */
	_Atomic uint64_t seq_durable;
	uint64_t stale_group; /* stale_super */
	struct csm_hasher hasher;
	uint64_t capacity;     /* fixed stores: largest logical size */
	_Atomic uint64_t size; /* stored under size_mu (note_size) */
	uint64_t size_seq;     /* size_mu: superblock sequence of size */
	pthread_mutex_t size_mu;
	_Atomic bool unclean; /* superblock says unclean (written by us) */
	pthread_mutex_t resize_mu;
	size_t max_per_shard;
	_Atomic uint64_t n_mismatch, n_meta, n_io, n_syncs;
	struct syncer syncs[2];
	pthread_mutex_t win_mu;   /* win_cur, win_prev, window */
	pthread_mutex_t fsync_mu; /* one fsync's seal/clean pass at a time */
	struct gvec win_cur;      /* dirtied since the last fsync */
	struct gvec win_prev;     /* sealed at the last fsync, gen = the seal */
	_Atomic uint64_t window;
	struct csm_recovery recovery; /* what csm_open's recovery did */
	_Atomic uint64_t epoch;       /* bumped to invalidate every cached group */
	_Atomic uint64_t shrink_from; /* a shrink is cutting groups >= this */
	uint64_t shrink_seq;          /* resize_mu: shrinks so far */
	pthread_mutex_t first_mu;
	struct csm_event first;
	/* Solo mode: this engine holds the presence lock alone, so no other
	 * process has the file open and the cross-process steps are skipped
	 * (see solo.c and docs/DESIGN.md). */
	_Atomic uint64_t solo_in;           /* threads in a section relying on solo */
	_Atomic uint64_t solo_uses;         /* such sections entered so far */
	_Atomic uint64_t solo_next_try;     /* ms: a writer may try to go solo */
	pthread_mutex_t presence_mu;        /* changes of the presence lock */
	struct csm_engine *w_next, *w_prev; /* watcher's list (watch.mu) */
	uint64_t w_seen, w_idle;            /* watcher thread only */
	struct shard shards[NSHARDS];
};

/* A byte range [pos, pos+len) inside one group, split into an unaligned
 * head block, whole middle blocks (transferred in place) and an unaligned
 * tail block (both through bounce buffers). */
struct run {
	uint64_t gno, first, last;
	size_t head;   /* offset of pos in its block */
	size_t endoff; /* offset of pos+len in its block, 0 = aligned */
	bool head_bounce, tail_bounce;
	uint64_t pos;
	size_t len;
};

#pragma GCC visibility push(hidden)

/* The thread cutting groups >= shrink_from of an engine: it holds the
 * tail lock over them, so takes no per-group cross-process lock (with OFD
 * locks, unlocking one would punch a hole in the tail lock). */
extern __thread const struct csm_engine *tl_shrinker;
extern __thread uint64_t tl_shrink_size; /* its size until the cut is stored */

/* solo.c: the watcher thread and its solo engines */
struct watch {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct csm_engine *head; /* solo engines */
	bool running;            /* the watcher thread exists */
};
extern struct watch watch;
extern pthread_once_t watch_once;

/* events.c */
void report(struct csm_engine *e, const struct csm_event *ev);
void tracef(struct csm_engine *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void trace_tuples(struct csm_engine *e, const uint8_t *mb, char *out, size_t len);
void report_io(struct csm_engine *e, uint64_t group, int neg_err);
void report_block(struct csm_engine *e, int kind, uint64_t lblock);
ssize_t fail(int neg);

/* store.c */
void *alloc_aligned(size_t n);
int store_readv(struct csm_engine *e, enum csm_store st, struct iovec *iov, int cnt, uint64_t off);
int store_read(struct csm_engine *e, enum csm_store st, void *buf, size_t n, uint64_t off);
int store_readv_need(struct csm_engine *e, enum csm_store st, struct iovec *iov, int cnt,
                     uint64_t off, size_t need);
uint64_t store_intact_size(struct csm_engine *e, uint64_t size);
uint64_t stored_size(struct csm_engine *e);
bool group_epoch_stale(struct csm_engine *e, const struct group *g);
int check_stale_super(struct csm_engine *e);
int store_writev(struct csm_engine *e, enum csm_store st, const struct iovec *iov, int cnt,
                 uint64_t off);
int store_write(struct csm_engine *e, enum csm_store st, const void *buf, size_t n, uint64_t off);

/* locks.c */
int sync_now(struct csm_engine *e, enum csm_store st, bool datasync);
int sync_store(struct csm_engine *e, enum csm_store st);
uint64_t sync_ticket(struct csm_engine *e, enum csm_store st);
bool sync_covered(struct csm_engine *e, enum csm_store st, uint64_t ticket);
int sync_all(struct csm_engine *e, bool datasync);
int xlock(struct csm_engine *e, uint64_t id, int type);
void xunlock(struct csm_engine *e, uint64_t id);

/* super.c */
int write_header(struct csm_backend *be, const struct csm_super *sb);
int write_super(struct csm_engine *e);
/* Reads of a superblock that fail their checksum, tried again in case
 * another process was rewriting it (load_super). */
#define TORN_TRIES 64
/* Before read number `attempt` (from 1) of something torn. */
void torn_pause(int attempt);
enum csm_sb_err load_super(struct csm_backend *be, struct csm_super *sb, int *io);
int read_super(struct csm_backend *be, struct csm_super *sb);
void take_super(struct csm_engine *e, const struct csm_super *sb);
int sb_begin(struct csm_engine *e);
void sb_end(struct csm_engine *e);
int current_size(struct csm_engine *e, const struct group *g, uint64_t *size);
int mark_unclean(struct csm_engine *e);

/* solo.c */
bool solo_begin(struct csm_engine *e);
void solo_end(struct csm_engine *e);
void watch_init(void);
void watch_unlink(struct csm_engine *e);
void solo_try(struct csm_engine *e, bool have_excl);
void solo_maybe(struct csm_engine *e);

/* cache.c */
void group_free(struct group *g);
struct group *group_get(struct csm_engine *e, uint64_t gno);
void group_put(struct csm_engine *e, struct group *g);
bool group_dirty(const struct group *g);
int group_load(struct csm_engine *e, struct group *g);
int group_xlock(struct csm_engine *e, uint64_t gno, int type);
void group_xunlock(struct csm_engine *e, uint64_t gno);
void group_wrlock(struct csm_engine *e, struct group *g);
int group_rdlock(struct csm_engine *e, struct group *g);
int group_lock_update(struct csm_engine *e, struct group *g);
void group_unlock_update(struct csm_engine *e, struct group *g);
void cache_invalidate(struct csm_engine *e, uint64_t from);

/* read.c */
bool tuple_matches(struct csm_engine *e, const uint8_t *mb, uint32_t idx, uint64_t lblock,
                   const uint8_t *data, uint64_t *csum, bool *have);
int verify_block(struct csm_engine *e, const struct group *g, uint64_t lblock, const uint8_t *data);

/* write.c */
void run_init(const struct csm_geometry *geo, struct run *r, uint64_t pos, size_t len);
int run_iov(const struct csm_geometry *geo, const struct run *r, struct iovec *iov, uint8_t *user,
            uint8_t *b0, uint8_t *b1);
int settle_group(struct csm_engine *e, struct group *g, uint64_t skip_first, uint64_t skip_last,
                 uint64_t size);
void begin_meta(struct csm_engine *e, struct group *g, uint8_t **mb_out, int *slot_out);
int publish_meta(struct csm_engine *e, struct group *g, int o);
ssize_t write_run(struct csm_engine *e, const uint8_t *buf, uint64_t pos, size_t len,
                  uint64_t past);
int clear_run(struct csm_engine *e, uint64_t first, uint64_t last, bool zero_data);

/* fsync.c */
void note_window(struct csm_engine *e, struct group *g);
int flush_windows(struct csm_engine *e, bool datasync, bool clean_all);

/* size.c */
int set_store_sizes(struct csm_engine *e, uint64_t size);
int extend_stores(struct csm_engine *e, uint64_t size);
int cut_stale_stores(struct csm_engine *e);
int grow_stores(struct csm_engine *e, uint64_t end);
int grow_to(struct csm_engine *e, uint64_t off, uint64_t *end, uint64_t *was);
void ungrow(struct csm_engine *e, uint64_t keep, uint64_t grown);
void ungrow_locked(struct csm_engine *e, uint64_t keep, uint64_t grown);

/* scrub.c */
bool group_is_hole(struct csm_engine *e, uint64_t gno, uint64_t ngroups, uint64_t *next);

/* open.c: whether the data store holds only zeros from `from` to `to`:
 * 1 if so, 0 if not, or -errno.  Holes are skipped where the store can
 * tell. */
int past_size_zero(struct csm_engine *e, uint64_t from, uint64_t to);
bool past_size_must_be_zero(struct csm_engine *e, uint64_t dsize);

/* record.c */
int rec_load_hdr(struct csm_engine *e);
int rec_read(struct csm_engine *e, uint64_t seg, uint8_t *rec, enum csm_rec_status *st);
bool rec_lost(struct csm_engine *e, uint64_t gno);
uint64_t rec_next_lost(struct csm_engine *e, uint64_t from, uint64_t to);
int rec_mark(struct csm_engine *e, uint64_t *gnos, size_t n);
int rec_forget(struct csm_engine *e, const uint64_t *gnos, size_t n);
int rec_clear_from(struct csm_engine *e, uint64_t size);
int rec_upgrade(struct csm_engine *e);

/* recover.c */
int recover_locked(struct csm_engine *e, struct csm_recovery *res);
bool booted_since(struct csm_engine *e, const uint8_t rec[CSM_UUID_SIZE]);

#pragma GCC visibility pop

#endif
