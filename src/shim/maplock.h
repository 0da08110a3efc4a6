/*
 * Shared mappings of a protected file, treated like a running executable
 * (maplock.c): a shared mapping is a verified copy made at map time, which
 * stays true only while nobody writes the file.  So a shared mapping is
 * allowed only while no process has the file open for writing, and while
 * one exists in any process, opening the file for writing fails ETXTBSY.
 *
 * Across processes the shim's processes honour two lock bytes on the data
 * file, beyond any data and just below the engine's own lock numbers
 * (CSM_LOCK_* in backend.h), held as shared OFD locks on a descriptor of
 * the inode's own: SHIM_LOCK_WRITER by every process with the file open
 * for writing, SHIM_LOCK_MAPPED by every process with a shared mapping of
 * it.  Each side takes its own byte, then asks whether the other byte is
 * held elsewhere, so of two that race at least one sees the other.  Within
 * a process the inode's counters answer (a lock never conflicts with its
 * own description).
 */
#ifndef CSUMSHIM_MAPLOCK_H
#define CSUMSHIM_MAPLOCK_H

#include <stdint.h>

#include "csumshim/backend.h"
#include "state.h"

/* Byte offsets, just below the engine's (its tail locks reach from a
 * group's byte to the end of the file); the program's own byte-range
 * locks are kept below SHIM_LOCK_FLOOR (descriptors.c). */
#define SHIM_LOCK_MAPPED (CSM_LOCK_BASE - 2)
#define SHIM_LOCK_WRITER (CSM_LOCK_BASE - 1)
#define SHIM_LOCK_FLOOR SHIM_LOCK_MAPPED

/* smu held.  A descriptor `fd` opened for writing joins the writers, or
 * -ETXTBSY (logged) if the file is mapped shared here or elsewhere. */
int shim_writer_enter(struct shim_inode *ino, int fd);
void shim_writer_leave(struct shim_inode *ino);
/* smu held.  A shared mapping joins the mappers, or -ENODEV (logged) if the
 * file is open for writing here or elsewhere. */
int shim_mapped_enter(struct shim_inode *ino);
void shim_mapped_leave(struct shim_inode *ino);
/* smu held.  A fork child shares the lock descriptor's open file
 * description, and with it the locks: the parent releasing its bytes
 * released the child's too (a writer or a mapping it inherited went
 * unprotected).  A new descriptor holding the bytes this process holds,
 * for the child to keep, or -1 if none are held (or it cannot be made). */
int shim_locks_copy(struct shim_inode *ino);

#endif
