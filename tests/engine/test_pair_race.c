/*
 * check_pair at a read-only open is not protected: a read-only engine
 * holds the presence lock shared, so a writer opening after it tested
 * that it was alone is not kept out, and may write while it checks.
 * Here engine B opens the clean separate pair read-only; between its read
 * of the superblock and its look at the data file's size, writer A opens
 * the pair (another open file: its locks are another process's) and
 * appends.  B saw a clean file of the old size and a longer data file, and
 * refused the pair as another file's (EIO): a reader opening while a
 * writer appends got a false alarm.  B must take the file as changed under
 * it (the superblock's sequence moved) rather than refuse it.
 *
 * B's backend is the POSIX one wrapped: its first get_size of the data
 * store runs A's steps first, deterministically.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "csumshim/backend.h"
#include "csumshim/engine.h"
#include "testlib.h"

static char dpath[] = "/tmp/csumshim-pair-race.XXXXXX";
static char mpath[sizeof(dpath) + 5];
static struct csm_backend inner;
static struct csm_engine *a;
static bool armed, fired;
static uint8_t data[16384], more[8192];

static void open_pair(struct csm_backend *be, int flags)
{
	int fd = open(dpath, flags | O_CLOEXEC), fm = open(mpath, flags | O_CLOEXEC);
	CHECK(fd >= 0 && fm >= 0);
	CHECK(csm_backend_posix(be, fd, fm, true, NULL) == 0);
}

/* What another process does while B opens: open the pair and append. */
static void other_process_steps(void)
{
	struct csm_backend be;
	open_pair(&be, O_RDWR);
	struct csm_engine_opts o = {.no_solo = true, .check_pair = true};
	char err[200];
	CHECK(csm_open(&be, &o, &a, err, sizeof(err)) == 0, "open A: %s", err);
	uint64_t at = 0;
	CHECK(csm_append(a, more, sizeof(more), &at) == (ssize_t)sizeof(more));
	CHECK(at == sizeof(data));
}

static int w_get_size(void *ctx, enum csm_store st, uint64_t *size)
{
	(void)ctx;
	if (armed && !fired && st == CSM_DATA) {
		fired = true;
		other_process_steps();
	}
	return inner.ops->get_size(inner.ctx, st, size);
}

int main(void)
{
	int fd = mkstemp(dpath);
	CHECK(fd >= 0);
	close(fd);
	snprintf(mpath, sizeof(mpath), "%s.csum", dpath);
	fd = open(mpath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	close(fd);
	struct csm_backend be;
	open_pair(&be, O_RDWR);
	struct csm_format_opts fo = {.size = 0, .layout = CSM_LAYOUT_SEPARATE};
	char err[200];
	CHECK(csm_format(&be, &fo, err, sizeof(err)) == 0, "%s", err);
	struct csm_engine_opts o = {.no_solo = true, .check_pair = true};
	struct csm_engine *w;
	CHECK(csm_open(&be, &o, &w, err, sizeof(err)) == 0, "open: %s", err);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 1);
	memset(more, 'm', sizeof(more));
	CHECK(csm_pwrite(w, data, sizeof(data), 0) == (ssize_t)sizeof(data));
	CHECK(csm_close(w) == 0); /* clean, 16384 bytes */

	/* B: read-only, alone when it looks; A comes in during its check. */
	open_pair(&inner, O_RDONLY);
	struct csm_backend_ops ops = *inner.ops;
	ops.get_size = w_get_size;
	struct csm_backend wb = inner;
	wb.ops = &ops;
	struct csm_engine_opts ro = {.no_solo = true, .check_pair = true, .readonly = true};
	struct csm_engine *b;
	armed = true;
	int rc = csm_open(&wb, &ro, &b, err, sizeof(err));
	CHECK(fired, "A's steps ran inside B's open");
	armed = false;
	CHECK(rc == 0, "open B (read-only) while A appends: %s", err);

	/* B reads what the file holds: the first 16384 bytes as written. */
	uint8_t got[sizeof(data)];
	CHECK(csm_pread(b, got, sizeof(got), 0) == (ssize_t)sizeof(got), "B reads: %s",
	      strerror(errno));
	CHECK(!memcmp(got, data, sizeof(got)));
	CHECK(csm_close(b) == 0);
	CHECK(csm_close(a) == 0);
	unlink(dpath);
	unlink(mpath);
	printf("test_pair_race: a read-only open during a writer's append is not refused\n");
	return 0;
}
