/*
 * Fault injection: a storage backend that wraps another one and makes it
 * misbehave by rules, for test harnesses.
 *
 * The engine uses it like any other backend (backend.h).  It sees physical
 * offsets; it reads the superblock through the wrapped backend to learn the
 * geometry (format.h) and maps every piece of an I/O back to what it is —
 * the header, brother A/B of group g, or data of logical block L — so rules
 * select logical blocks or bytes.  Until the file has a valid superblock
 * (while it is being formatted) nothing is injected.
 *
 * Two families of faults:
 *   under the checksums   flip, byte, stuck, lost, misdirect, torn, meta:
 *                         the stored or returned bytes are wrong, the
 *                         backend says all went well; the engine must
 *                         detect them.
 *   shown to the program  eio, fsync, enospc, eintr, delay: the operation
 *                         fails (or waits), and the engine passes that on;
 *                         short: the engine's csm_pread/csm_pwrite/
 *                         csm_append move fewer bytes than asked
 *                         (csm_backend_ops.program_call).
 *
 * Each rule counts the operations it selects ("ops": one per block touched,
 * per sync call, or, for short, per read or write call of the program)
 * and the faults it injects ("hits"), in counters that may live in memory
 * shared between processes.  A decision depends only on the rule, its seed
 * and its op count, so the same rules, seed and sequence of operations give
 * the same faults.  Every injected fault is reported as one line through
 * the log hook: "injected: bit flip, block 12, bit 3".
 *
 * The backend serialises the operations of one wrapped file with a mutex:
 * it is for tests, not for speed.
 */
#ifndef CSUMSHIM_FAULT_H
#define CSUMSHIM_FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "csumshim/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

enum csm_fault_kind {
	CSM_FK_FLIP,      /* K random bits of a data block flipped */
	CSM_FK_BYTE,      /* one byte of a data block set to a value */
	CSM_FK_STUCK,     /* one bit of a data block always reads as 0 or 1 */
	CSM_FK_LOST,      /* a data block write acknowledged, never stored */
	CSM_FK_MISDIRECT, /* a data block write stored at another block */
	CSM_FK_TORN,      /* only the first sectors of a data block stored */
	CSM_FK_META,      /* K bits of one brother flipped */
	CSM_FK_EIO,       /* read or write fails with EIO */
	CSM_FK_FSYNC,     /* sync fails with EIO (see `lose`) */
	CSM_FK_ENOSPC,    /* writes fail with ENOSPC once `limit` bytes are written */
	CSM_FK_EINTR,     /* read or write fails with EINTR */
	CSM_FK_DELAY,     /* read, write or sync waits `ms` milliseconds */
	CSM_FK_SHORT,     /* the program's read or write moves fewer bytes than asked */
	CSM_FK_COUNT
};

/* Operation kinds a rule applies to (bit mask). */
#define CSM_FOP_READ 1u
#define CSM_FOP_WRITE 2u
#define CSM_FOP_SYNC 4u

/* Counters of one rule.  Updated with atomic builtins: they may be in a
 * file mapped by several processes (the control file's state). */
struct csm_fault_counters {
	uint64_t tag;   /* owner's identity (hash of the rule text) */
	uint64_t ops;   /* operations selected so far */
	uint64_t hits;  /* faults injected */
	uint64_t bytes; /* enospc: data bytes written */
};

/* A selected span: logical blocks [lo, hi), or logical bytes with `bytes`. */
struct csm_fault_range {
	uint64_t lo, hi;
	bool bytes;
};

#define CSM_FAULT_MAX_RANGES 16

struct csm_fault_rule {
	enum csm_fault_kind kind;
	unsigned ops;     /* CSM_FOP_* */
	unsigned nranges; /* selected spans in ranges[]; 0: every block */
	/* Parameters of the fault. */
	uint32_t bits;  /* flip, meta: bits flipped (default 1) */
	int value;      /* byte: the value; stuck: 0 or 1 */
	uint32_t bit;   /* stuck: bit number in that byte */
	unsigned slot;  /* meta: 0 = A, 1 = B */
	uint32_t keep;  /* torn: 512-byte sectors stored (0: half the block) */
	uint32_t ms;    /* delay */
	int store;      /* fsync: only syncs of this enum csm_store (-1: any) */
	int call;       /* fsync: only syncs serving this enum csm_call of the
	                   program (CSM_CALL_FSYNC, CSM_CALL_FDATASYNC; 0: any) */
	uint64_t count; /* short: bytes moved (0: 1..asked-1, from the seed) */
	int line;       /* where it was defined, for log lines */
	bool lose;      /* fsync: emulate the kernel dropping the failed pages */
	int64_t at;     /* byte, stuck: byte offset in the block (-1: random) */
	int64_t shift;  /* misdirect: target block = block + shift */
	uint64_t limit; /* enospc: data bytes before the disk is full */
	/* Selection (all must hold). */
	struct csm_fault_range ranges[CSM_FAULT_MAX_RANGES];
	uint64_t prob; /* probability x 2^32; >= 2^32: always */
	uint64_t seed;
	uint64_t every;    /* only every Nth selected operation (0: all) */
	uint64_t after;    /* skip the first N selected operations */
	uint64_t max;      /* inject at most N times (0: no limit) */
	uint64_t from_ms;  /* active from this many ms after t0_ms ... */
	uint64_t until_ms; /* ... until this many (0: no end) */
	uint64_t t0_ms;    /* CLOCK_MONOTONIC ms when the rule was loaded */
	struct csm_fault_counters *ctr;
};

struct csm_fault_hooks {
	/* One line per injected fault (no newline). */
	void (*log)(void *arg, const struct csm_fault_rule *r, const char *line);
	/* Called under the backend's mutex before every operation; returns the
	 * rules to apply now (the control file may have changed them).  NULL:
	 * the rules passed at creation stay. */
	void (*refresh)(void *arg, const struct csm_fault_rule **rules, size_t *n);
	/* Called by destroy(), after the wrapped backend is destroyed. */
	void (*destroy)(void *arg);
	void *arg;
};

/* Wrap `inner` (taken over: destroying *out destroys it).  `rules` must
 * outlive the backend (or be replaced through refresh).  0 or -errno. */
int csm_backend_fault(struct csm_backend *out, const struct csm_backend *inner,
                      const struct csm_fault_rule *rules, size_t nrules,
                      const struct csm_fault_hooks *hooks);

/* The rule kind's name as written in rules ("flip", "eio"...); NULL. */
const char *csm_fault_kind_name(enum csm_fault_kind k);

/* Parse one rule: "KIND [key=value]..." (the syntax is in README.md,
 * "Fault injection for test harnesses").  `glob`, if not NULL, receives
 * a malloc'ed copy of a path=GLOB selector (NULL if none).  Returns 0, or
 * -1 with a message in err.  r->ctr is left NULL. */
int csm_fault_parse(const char *text, struct csm_fault_rule *r, char **glob, char *err,
                    size_t errlen);

/* Milliseconds of CLOCK_MONOTONIC (for t0_ms). */
uint64_t csm_fault_now_ms(void);

#ifdef __cplusplus
}
#endif
#endif
