/*
 * Solo mode: an engine alone with its file skips the cross-process steps.
 * Here are the sections that rely on it (solo_begin, solo_end), going solo
 * (solo_try, solo_maybe), and the process's watcher thread that makes
 * solo engines step aside, for an opener or when idle.  Relies on the
 * backend's presence and knock locks and on super.c for the stored size.
 *
 * While an engine holds the presence lock exclusively, no other process
 * has the file open: updates skip the group's cross-process lock and the
 * re-reads of brothers and size, as with a private store.  An opener that
 * finds the presence lock held exclusively takes the knock lock shared and
 * waits for the presence lock; the process's watcher thread polls the knock
 * lock of every solo engine every SOLO_TICK_MS and steps aside when it is
 * held (solo_leave: wait for the sections relying on solo, then downgrade
 * the presence lock, which lets the opener in).  An engine with no update
 * for SOLO_IDLE_TICKS ticks steps aside too, so a process idling with the
 * file open costs nothing; a writer tries to go solo again at most every
 * SOLO_RETRY_MS.
 */
#define _GNU_SOURCE
#include "engine_int.h"

#include <fcntl.h>
#include <signal.h>
#include <time.h>

/* Enter a section that skips cross-process steps if the engine is solo:
 * true if it is (then pair with solo_end).  A thread leaving solo mode
 * clears e->solo and then waits for solo_in to drop to zero, so a section
 * that saw solo set finishes before another process gets in. */
bool solo_begin(struct csm_engine *e)
{
	if (!e->solo_ok)
		return false;
	atomic_fetch_add(&e->solo_in, 1);
	if (atomic_load(&e->solo)) {
		atomic_fetch_add_explicit(&e->solo_uses, 1, memory_order_relaxed);
		return true;
	}
	atomic_fetch_sub(&e->solo_in, 1);
	return false;
}

void solo_end(struct csm_engine *e)
{
	atomic_fetch_sub_explicit(&e->solo_in, 1, memory_order_release);
}

#define SOLO_TICK_MS 10
#define SOLO_IDLE_TICKS 100
#define SOLO_RETRY_MS 1000

struct watch watch = {.mu = PTHREAD_MUTEX_INITIALIZER};
pthread_once_t watch_once = PTHREAD_ONCE_INIT;

static uint64_t solo_retry(const struct csm_engine *e)
{
	return e->opts.solo_retry_ms ? e->opts.solo_retry_ms : SOLO_RETRY_MS;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void watch_cv_init(void)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&watch.cv, &ca);
	pthread_condattr_destroy(&ca);
}

/* The child has no watcher thread, and abandons (csm_abandon) the engines
 * it inherited: their presence lock belongs to the parent's descriptors.
 * So nothing of the parent's watcher state matters in the child, and it
 * starts afresh — without holding watch.mu across fork, which the shim
 * takes while holding its own table mutex (open, close): a prepare handler
 * taking both in the other order would deadlock. */
void csm_forked(void)
{
	pthread_mutex_init(&watch.mu, NULL);
	watch_cv_init();
	watch.head = NULL;
	watch.running = false;
}

void watch_init(void)
{
	watch_cv_init();
	pthread_atfork(NULL, NULL, csm_forked);
}

/* Whether an opener is waiting: someone holds the knock lock.  An error
 * counts as a knock (stepping aside is always safe). */
static bool knocked(struct csm_engine *e)
{
	int rc = e->be.ops->lock(e->be.ctx, CSM_LOCK_KNOCK, F_WRLCK, false);
	if (rc < 0)
		return true;
	e->be.ops->lock(e->be.ctx, CSM_LOCK_KNOCK, F_UNLCK, false);
	return false;
}

void watch_unlink(struct csm_engine *e)
{
	if (!e->w_listed)
		return;
	if (e->w_prev)
		e->w_prev->w_next = e->w_next;
	else
		watch.head = e->w_next;
	if (e->w_next)
		e->w_next->w_prev = e->w_prev;
	e->w_next = e->w_prev = NULL;
	e->w_listed = false;
}

/* Step out of solo mode.  watch.mu held. */
static void solo_leave(struct csm_engine *e)
{
	pthread_mutex_lock(&e->presence_mu);
	atomic_store(&e->solo, false);
	while (atomic_load(&e->solo_in) != 0) {
		struct timespec ts = {0, 20000};
		nanosleep(&ts, NULL);
	}
	/* Downgrade: cannot fail, and lets a waiting opener in. */
	e->be.ops->lock(e->be.ctx, CSM_LOCK_PRESENCE, F_RDLCK, false);
	atomic_store(&e->solo_next_try, now_ms() + solo_retry(e));
	pthread_mutex_unlock(&e->presence_mu);
	watch_unlink(e);
}

static void *watcher(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&watch.mu);
	for (;;) {
		/* Nothing to watch: end, so that a program whose own threads
		 * have all ended exits (glibc exits when the last thread ends,
		 * ours included); watch_start starts another when needed. */
		if (!watch.head) {
			watch.running = false;
			pthread_mutex_unlock(&watch.mu);
			return NULL;
		}
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += SOLO_TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&watch.cv, &watch.mu, &ts);
		for (struct csm_engine *e = watch.head, *next; e; e = next) {
			next = e->w_next;
			uint64_t uses = atomic_load_explicit(&e->solo_uses, memory_order_relaxed);
			if (uses != e->w_seen) {
				e->w_seen = uses;
				e->w_idle = 0;
			} else {
				e->w_idle++;
			}
			if (e->w_idle >= SOLO_IDLE_TICKS || knocked(e))
				solo_leave(e);
		}
	}
}

/* Start the watcher thread, with every signal blocked (the program's
 * handlers must never run on it).  watch.mu held. */
static bool watch_start(void)
{
	if (watch.running)
		return true;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&at, 64 << 10);
	pthread_t t;
	watch.running = pthread_create(&t, &at, watcher, NULL) == 0;
	pthread_attr_destroy(&at);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return watch.running;
}

/* Go solo if no other process holds the file.  have_excl: the caller holds
 * the presence lock exclusively already (csm_open, alone); otherwise it
 * holds it shared and tries to upgrade.  Leaves the presence lock shared
 * when it does not go solo.  No engine lock held. */
void solo_try(struct csm_engine *e, bool have_excl)
{
	pthread_once(&watch_once, watch_init);
	pthread_mutex_lock(&watch.mu);
	pthread_mutex_lock(&e->presence_mu);
	if (atomic_load(&e->solo) || e->w_closing)
		goto out;
	if (!have_excl && e->be.ops->lock(e->be.ctx, CSM_LOCK_PRESENCE, F_WRLCK, false) < 0)
		goto out; /* another process has it open */
	if (knocked(e) || !watch_start()) {
		e->be.ops->lock(e->be.ctx, CSM_LOCK_PRESENCE, F_RDLCK, false);
		goto out;
	}
	/* Others may have changed brothers and size while we were not alone:
	 * forget every cached group, take the stored size. */
	pthread_mutex_lock(&e->resize_mu);
	if (!have_excl) { /* (have_excl: csm_open has just read it) */
		struct csm_super sb;
		/* The header's records too (record.c): sb_begin does not
		 * re-read them while solo. */
		if (read_super(&e->be, &sb) < 0 || rec_load_hdr(e) < 0) {
			pthread_mutex_unlock(&e->resize_mu);
			e->be.ops->lock(e->be.ctx, CSM_LOCK_PRESENCE, F_RDLCK, false);
			goto out;
		}
		take_super(e, &sb);
	}
	atomic_fetch_add(&e->epoch, 1);
	e->w_seen = atomic_load(&e->solo_uses);
	e->w_idle = 0;
	atomic_store(&e->solo, true);
	pthread_mutex_unlock(&e->resize_mu);
	e->w_prev = NULL;
	e->w_next = watch.head;
	if (watch.head)
		watch.head->w_prev = e;
	watch.head = e;
	e->w_listed = true;
	pthread_cond_signal(&watch.cv);
out:
	pthread_mutex_unlock(&e->presence_mu);
	pthread_mutex_unlock(&watch.mu);
}

/* Before an update: try to go solo if it is time to. */
void solo_maybe(struct csm_engine *e)
{
	if (!e->solo_ok || atomic_load_explicit(&e->solo, memory_order_relaxed))
		return;
	uint64_t next = atomic_load_explicit(&e->solo_next_try, memory_order_relaxed);
	uint64_t now = now_ms();
	if (now < next ||
	    !atomic_compare_exchange_strong(&e->solo_next_try, &next, now + solo_retry(e)))
		return; /* not yet, or another thread is trying */
	solo_try(e, false);
}

bool csm_is_solo(struct csm_engine *e)
{
	return atomic_load(&e->solo);
}
